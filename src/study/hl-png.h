/* hl-png.h — PNG decoding through libpng into an HlImage (one float grayscale plane).
 *
 * What is accepted and how it becomes gray, in [0, 1]:
 * - gray, 1/2/4/8/16 bits: value / (2^bit_depth - 1);
 * - gray + alpha: the gray sample, alpha discarded (not composited);
 * - RGB / RGBA, 8 or 16 bits: Rec. 709 luma of the stored (gamma-encoded) samples,
 *   Y = 0.2126 R + 0.7152 G + 0.0722 B, divided by 2^bit_depth - 1; alpha discarded;
 *   was_color = TRUE;
 * - palette (1..8-bit indices): each entry's RGB through the same formula divided by 255;
 *   was_color = TRUE unless every palette entry is gray (R = G = B); bit_depth reported as 8;
 * - interlaced (Adam7) files of any of the above.
 * gAMA, cHRM, sRGB, iCCP and sBIT are ignored: the stored samples are used as they are. A pHYs
 * chunk in metres sets pixel_spacing. Width and height are checked against HL_IMAGE_MAX_SIDE and
 * HL_IMAGE_MAX_PIXELS right after IHDR, before anything the size of the image is allocated.
 * Truncated files, CRC errors and missing IEND are errors. Every libpng call sits behind a setjmp
 * guard; every failure is a GError in HL_STUDY_ERROR naming the file.
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
