/* hl-image.h — a decoded X-ray: one float grayscale plane that feeds both the display and the
 * model, plus the facts needed to show it faithfully and to identify it.
 *
 * hl_image_load() finds the format by content (PNG signature, DICOM "DICM" preamble), never by the
 * file's extension, and refuses with a GError naming the file and the problem.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define HL_STUDY_ERROR (hl_study_error_quark ())

typedef enum
{
  HL_STUDY_ERROR_IO,          /* cannot open or read */
  HL_STUDY_ERROR_FORMAT,      /* not an image we know, or corrupt */
  HL_STUDY_ERROR_UNSUPPORTED, /* a valid file we do not handle (e.g. multi-frame, no pixel data) */
  HL_STUDY_ERROR_TOO_LARGE,   /* dimensions beyond HL_IMAGE_MAX_SIDE / HL_IMAGE_MAX_PIXELS */
  HL_STUDY_ERROR_CSV,         /* a label file we cannot use */
  HL_STUDY_ERROR_UNSAFE_PATH, /* a name that leaves the folder */
} HlStudyError;

GQuark hl_study_error_quark (void);

#define HL_IMAGE_MAX_SIDE 16384
#define HL_IMAGE_MAX_PIXELS (8192 * 8192)

typedef enum
{
  HL_IMAGE_PNG,
  HL_IMAGE_DICOM,
} HlImageFormat;

typedef struct
{
  char *path;            /* the file it came from */
  HlImageFormat format;
  int width, height;
  float *pixels;         /* (height, width), row-major, in [0, 1], 0 = black as displayed:
                          * PNG: value / (2^bit_depth - 1); DICOM: after rescale slope/intercept and
                          * the file's default VOI window or LUT, MONOCHROME1 already inverted */
  int bit_depth;         /* bits per sample in the file (8, 16; DICOM bits stored) */
  gboolean was_color;    /* converted from RGB(A)/colour palette: probably not an X-ray */
  char *patient_id;      /* NULL if unknown */
  char *study_date;      /* YYYYMMDD, NULL if unknown */
  char *view_position;   /* "PA", "AP", ... NULL if unknown */
  double pixel_spacing[2]; /* row, column spacing in mm; 0 if unknown */
} HlImage;

/* How many leading bytes hl_image_sniff_data() needs to recognise every format. */
#define HL_IMAGE_SNIFF_BYTES 132

/* Says which decoder takes a file whose first @length bytes are @head (PNG: the 8-byte signature;
 * DICOM: "DICM" at offset 128). Returns FALSE, leaving @format alone, when neither matches. */
gboolean hl_image_sniff_data (const guint8 *head, gsize length, HlImageFormat *format);

/* Reads the first bytes of @path and says which decoder takes it, without decoding. Returns FALSE
 * with HL_STUDY_ERROR_IO (cannot open or read) or HL_STUDY_ERROR_FORMAT (not PNG nor DICOM). */
gboolean hl_image_sniff (const char *path, HlImageFormat *format, GError **error);

/* Decodes @path (PNG or DICOM, by content). Returns a new image, or NULL with @error set in
 * HL_STUDY_ERROR naming the file: _IO, _FORMAT (not an image we know, or corrupt), _TOO_LARGE,
 * _UNSUPPORTED (DICOM in a build without DCMTK, or a DICOM variant we do not handle). */
HlImage *hl_image_load (const char *path, GError **error);

/* Frees @image and everything it owns; NULL is allowed. */
void hl_image_free (HlImage *image);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlImage, hl_image_free)

G_END_DECLS
