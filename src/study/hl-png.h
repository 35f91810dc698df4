/* hl-png.h — PNG decoding through libpng into an HlImage (one float grayscale plane).
 *
 * What is accepted and how it becomes gray, in [0, 1]:
 * - gray, 1/2/4/8/16 bits: value / (2^bit_depth - 1);
 * - gray + alpha: the gray sample, alpha discarded (not composited);
 * - RGB / RGBA, 8 or 16 bits: Rec. 709 luma of the stored (gamma-encoded) samples,
 *   Y = 0.2126 R + 0.7152 G + 0.0722 B, divided by 2^bit_depth - 1; alpha discarded;
 *   was_color = TRUE;
 * - palette (1..8-bit indices): each entry's RGB through the same formula divided by 255;
 *   was_color = TRUE unless every palette entry is gray (R = G = B); bit_depth reported as 8; an
 *   index just past the palette reads as black (libpng 1.6 refuses only those further out);
 * - interlaced (Adam7) files of any of the above.
 * Only IHDR, PLTE, tRNS, pHYs, IDAT and IEND are read. gAMA, cHRM, sRGB, iCCP and sBIT are skipped
 * (the stored samples are used as they are), so are tEXt, zTXt, iTXt, sPLT, eXIf and unknown
 * chunks: all through a 1 KiB buffer, none kept. A pHYs chunk in metres sets pixel_spacing. Width
 * and height are checked against HL_IMAGE_MAX_SIDE and HL_IMAGE_MAX_PIXELS right after IHDR,
 * before anything the size of the image is allocated.
 *
 * Memory is set by the image: rows, Adam7 passes included, are read one at a time straight into
 * the float plane, so the peak is the plane (4 W H bytes, 256 MiB at the 8192 x 8192 cap) plus
 * about 24 W bytes of rows and libpng's and zlib's fixed ~64 KiB. Time is set by the image too,
 * through what may be read of the file: at most 32 MiB before the first IDAT (a chunk other than
 * IDAT may not be longer than 8 MiB); IDAT up to the last row at most twice the filtered rows plus
 * 4 MiB; after the last row at most 9 KiB to end the zlib stream (so a stream that carries more
 * than the image, a decompression bomb, is inflated by at most ~9 MiB before it is refused), then
 * at most 1 MiB of chunks up to IEND. Nothing after IEND is read.
 *
 * Refused: truncated files, a CRC error in any chunk, a missing IEND, data in the zlib stream past
 * the last row, and anything libpng reports, errors and warnings alike. Every libpng call sits
 * behind a setjmp guard; every failure is a GError in HL_STUDY_ERROR naming the file.
 */
#pragma once

#include "hl-image.h"

G_BEGIN_DECLS

/* Decodes the PNG file @path. Returns a new image (free with hl_image_free) whose format is
 * HL_IMAGE_PNG and whose patient_id, study_date and view_position are NULL; or NULL with @error
 * set (HL_STUDY_ERROR_IO, _FORMAT, _TOO_LARGE). */
HlImage *hl_png_load (const char *path, GError **error);

/* Same as hl_png_load() on @size bytes at @data (the whole file, not retained); @name is used in
 * error messages and as the image's path. */
HlImage *hl_png_load_from_data (const guint8 *data, gsize size, const char *name, GError **error);

G_END_DECLS
