/* dicom-writer.h — test-only: writes small DICOM files with DCMTK (explicit or implicit VR,
 * deflated, JPEG lossless, JPEG baseline, RLE; one or several frames; with or without rescale,
 * window, VOI or modality LUT, nested sequences, pixel data) so that the DICOM tests and the fuzz
 * seeds make their inputs instead of shipping binary files. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  HL_TEST_DICOM_EXPLICIT_LE,   /* 1.2.840.10008.1.2.1 */
  HL_TEST_DICOM_JPEG_LOSSLESS, /* 1.2.840.10008.1.2.4.70, process 14 selection value 1 */
  HL_TEST_DICOM_JPEG_BASELINE, /* 1.2.840.10008.1.2.4.50, 8 bits stored only */
  HL_TEST_DICOM_RLE,           /* 1.2.840.10008.1.2.5 */
  HL_TEST_DICOM_IMPLICIT_LE,   /* 1.2.840.10008.1.2 */
  HL_TEST_DICOM_DEFLATED,      /* 1.2.840.10008.1.2.1.99, explicit VR little endian deflated */
} HlTestDicomSyntax;

typedef struct
{
  int width, height;
  int frames;              /* 1, or more to write Number of Frames */
  int samples;             /* 1 (gray) or 3 (RGB, interleaved) */
  int bits_stored;         /* 8 (in 8 bits allocated) to 16 (in 16) */
  const char *photometric; /* NULL: MONOCHROME2 for 1 sample, RGB for 3 */
  const guint16 *pixels;   /* (frames, height, width, samples) stored values; NULL: no Pixel Data */
  gboolean has_rescale;
  double slope, intercept;
  gboolean has_window;
  double window_center, window_width;
  const guint16 *voi_lut;  /* (voi_lut_data_entries,) LUT data; NULL: none */
  int voi_lut_entries, voi_lut_first, voi_lut_bits; /* the LUT Descriptor */
  int voi_lut_data_entries; /* 0: voi_lut_entries; else the LUT Data's length, true or not */
  gboolean modality_lut;    /* write the LUT as a Modality LUT instead of a VOI LUT */
  int nesting;              /* > 0: that many Content Sequences nested, one item each */
  gboolean undefined_lengths; /* sequences and items with undefined length and delimiters */
  const char *patient_id, *study_date, *view_position; /* NULL: absent */
  double pixel_spacing[2]; /* 0: absent */
  gboolean imager_spacing; /* write the spacing as Imager Pixel Spacing instead */
  HlTestDicomSyntax syntax;
} HlTestDicomSpec;

/* Writes @spec to @path as a DICOM file with meta header. Returns FALSE with @error set
 * (G_IO_ERROR_FAILED, DCMTK's message) when DCMTK cannot encode or save it. */
gboolean hl_test_dicom_write (const HlTestDicomSpec *spec, const char *path, GError **error);

/* Reads @src with DCMTK (whatever its transfer syntax) and saves it to @dst in explicit VR little
 * endian, as `dcmconv +te` does: the uncompressed twin of a deflated file. FALSE with @error set
 * (G_IO_ERROR_FAILED) when DCMTK cannot. */
gboolean hl_test_dicom_convert (const char *src, const char *dst, GError **error);

G_END_DECLS
