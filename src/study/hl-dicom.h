/* hl-dicom.h — DICOM decoding through DCMTK into an HlImage (one float grayscale plane), behind a C
 * API; the implementation is the C++ shim hl-dicom.cpp. Only built with -Ddicom=true, where
 * HL_HAVE_DICOM is defined.
 *
 * What is accepted:
 * - transfer syntaxes: implicit/explicit VR little endian, explicit VR big endian, deflated, and the
 *   encapsulated ones DCMTK decodes: JPEG baseline, extended and lossless (dcmjpeg), JPEG-LS
 *   (dcmjpls) and RLE lossless (dcmdata). Anything else (JPEG 2000, MPEG, ...) is
 *   HL_STUDY_ERROR_UNSUPPORTED naming the transfer syntax;
 * - one frame, 1 or 3 samples per pixel, 8 to 16 bits stored in 8 or 16 bits allocated, signed or
 *   unsigned;
 * - a deflated dataset is inflated by Hilum, at most 16 MiB beyond the pixels its own header
 *   describes, into an anonymous in-memory file that DCMTK then parses;
 * - monochrome pixels go through the modality transformation (rescale slope/intercept or modality
 *   LUT), then the file's first usable VOI window (Window Center/Width, with its VOI LUT Function;
 *   a window whose center or width is NaN or infinite, or whose width is not positive, is not
 *   used); if the file has no usable window, its first VOI LUT that holds all the entries its
 *   descriptor announces; if it has neither, the min-max of the image; a MONOCHROME1 image is
 *   inverted so that 0 is black as displayed. The result, scaled to [0, 1], is the image's pixels:
 *   the same plane feeds display and model;
 * - colour pixels (RGB, YBR_*, PALETTE COLOR) become gray with the same Rec. 709 luma as PNG,
 *   Y = 0.2126 R + 0.7152 G + 0.0722 B, divided by 2^bits_stored - 1, and set was_color.
 *
 * What is refused, always with a GError in HL_STUDY_ERROR naming the file:
 * - no Pixel Data (a structured report, a presentation state, ...), float or double pixel data,
 *   multi-frame images (Number of Frames > 1: choosing one frame of a tomosynthesis or cine series
 *   for a second read would be a silent guess) and bits stored outside 8..16: _UNSUPPORTED;
 * - Rows or Columns beyond HL_IMAGE_MAX_SIDE, or Rows x Columns beyond HL_IMAGE_MAX_PIXELS:
 *   _TOO_LARGE, decided from the header before any pixel buffer is allocated or decompressed;
 * - before DCMTK parses anything, from a walk of the element stream: sequences nested more than
 *   64 levels deep (DCMTK's recursive reader overflowed the stack a few thousand levels down), more
 *   than 500000 elements, an element whose length runs past the end of the file or of the item
 *   around it, a sequence holding something other than items, a deflated dataset that inflates
 *   to more than the pixels its header describes plus 16 MiB: _FORMAT;
 * - native Pixel Data shorter than Rows x Columns x Samples per Pixel x Bits Allocated / 8 (two
 *   samples per pixel for YBR_*_422), a NaN or infinite Rescale Slope or Intercept, a zero
 *   slope, a Modality LUT whose LUT Data holds fewer entries than its descriptor announces:
 *   _FORMAT;
 * - anything DCMTK cannot parse or decode: _FORMAT; a file that cannot be opened: _IO.
 *
 * Identification: patient_id (0010,0020), study_date (0008,0020, YYYYMMDD; the old "YYYY.MM.DD"
 * form is accepted), view_position (0018,5101), pixel_spacing from Pixel Spacing (0028,0030) or, when
 * absent, Imager Pixel Spacing (0018,1164) as projection radiographs carry it. Strings that are not
 * valid UTF-8 are repaired with U+FFFD.
 *
 * DCMTK's decompression codecs are registered once per process, thread-safely, on the first load,
 * and deregistered at exit. DCMTK's own log output is limited to fatal messages: every failure
 * reaches the caller as a GError instead. Loads may run in several threads at once.
 */
#pragma once

#include "hl-image.h"

G_BEGIN_DECLS

/* Decodes the DICOM file @path. Returns a new image (free with hl_image_free) whose format is
 * HL_IMAGE_DICOM, or NULL with @error set in HL_STUDY_ERROR (_IO, _FORMAT, _UNSUPPORTED,
 * _TOO_LARGE) naming @path. Large elements are read from the file only when needed, so a header
 * that claims a huge image is refused without reading its pixel data. */
HlImage *hl_dicom_load (const char *path, GError **error);

/* Same as hl_dicom_load() on @size bytes at @data (a whole DICOM file, with or without the
 * 128-byte preamble and "DICM"; not retained); @name is used in error messages and as the image's
 * path. The bytes are staged in an anonymous in-memory file (memfd; a temporary file elsewhere) so
 * that DCMTK reads them exactly as it reads a file, large values only on demand; failing to stage
 * them is HL_STUDY_ERROR_IO. */
HlImage *hl_dicom_load_from_data (const guint8 *data, gsize size, const char *name,
                                  GError **error);

G_END_DECLS
