/* hl-png.c — PNG decoding through libpng (see hl-png.h for what is accepted and how colour becomes
 * gray). Every libpng call runs inside decode_guarded(), whose setjmp turns libpng's errors into a
 * GError; the state that must survive the longjmp lives in the caller's HlPngDecode. */
#include "hl-png.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

typedef struct
{
  /* input: exactly one of file or data */
  FILE *file;
  const guint8 *data;
  gsize size;
  gsize pos;

  const char *name;
  char message[256]; /* libpng's error, copied by on_png_error() */
  GError *error;     /* our own refusal (too large, out of memory); set before png_error() */

  png_structp png;
  png_infop info;
  guint8 *rows; /* (height, rowbytes) for interlaced files, else (1, rowbytes) */
  HlImage *image;
} HlPngDecode;

static void
on_png_error (png_structp png, png_const_charp message)
{
  HlPngDecode *d = png_get_error_ptr (png);

  g_strlcpy (d->message, message, sizeof d->message);
  png_longjmp (png, 1);
}

static void
on_png_warning (png_structp png, png_const_charp message)
{
  /* Warnings (bad gamma, unknown ancillary chunks, ...) do not stop decoding: the pixels we use
   * do not depend on them. */
}

static void
read_from_file (png_structp png, png_bytep out, png_size_t length)
{
  HlPngDecode *d = png_get_io_ptr (png);

  if (fread (out, 1, length, d->file) != length)
    {
      char message[128];

      if (!ferror (d->file))
        png_error (png, "unexpected end of file (truncated)");
      g_snprintf (message, sizeof message, "read error: %s", g_strerror (errno));
      png_error (png, message); /* on_png_error() copies it before this frame goes */
    }
}

static void
read_from_data (png_structp png, png_bytep out, png_size_t length)
{
  HlPngDecode *d = png_get_io_ptr (png);

  if (length > d->size - d->pos)
    png_error (png, "unexpected end of file (truncated)");
  memcpy (out, d->data + d->pos, length);
  d->pos += length;
}

static float
clamp01 (float v)
{
  return v < 0.f ? 0.f : v > 1.f ? 1.f : v;
}

/* @row: (width, channels) samples, 8-bit or big-endian 16-bit; @out: (width) floats. */
static void
convert_row (const guint8 *row, int width, int channels, gboolean sixteen, float *out)
{
  const float scale = sixteen ? 1.f / 65535.f : 1.f / 255.f;

  for (int x = 0; x < width; x++)
    {
      float s[3];
      int n = channels >= 3 ? 3 : 1; /* gray(+alpha): the gray sample; RGB(A): three samples */

      for (int k = 0; k < n; k++)
        {
          gsize i = (gsize) x * channels + k;
          s[k] = sixteen ? (float) ((row[2 * i] << 8) | row[2 * i + 1]) : (float) row[i];
        }
      if (n == 1)
        out[x] = s[0] * scale;
      else
        out[x] = clamp01 ((0.2126f * s[0] + 0.7152f * s[1] + 0.0722f * s[2]) * scale);
    }
}

static gboolean
palette_is_colored (png_structp png, png_infop info)
{
  png_colorp palette = NULL;
  int n = 0;

  if (png_get_PLTE (png, info, &palette, &n) == 0)
    return FALSE;
  for (int i = 0; i < n; i++)
    if (palette[i].red != palette[i].green || palette[i].green != palette[i].blue)
      return TRUE;
  return FALSE;
}

/* Refuses the dimensions before anything the size of the image is allocated. */
static gboolean
check_dimensions (const char *name, png_uint_32 width, png_uint_32 height, GError **error)
{
  if (width == 0 || height == 0 || width > HL_IMAGE_MAX_SIDE || height > HL_IMAGE_MAX_SIDE
      || (guint64) width * height > HL_IMAGE_MAX_PIXELS)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_TOO_LARGE,
                   "%s: PNG claims %" G_GUINT32_FORMAT "x%" G_GUINT32_FORMAT
                   " pixels, beyond the limit of %d per side and %d in all",
                   name, (guint32) width, (guint32) height, HL_IMAGE_MAX_SIDE, HL_IMAGE_MAX_PIXELS);
      return FALSE;
    }
  return TRUE;
}

/* Runs every libpng call. Returns FALSE after a libpng error (d->message) or a refusal of ours
 * (d->error); the caller frees what d holds either way. */
static gboolean
decode_guarded (HlPngDecode *d)
{
  png_uint_32 width, height;
  int file_depth, color_type, interlace, passes, channels, depth;
  gsize rowbytes;
  png_uint_32 res_x, res_y;
  int unit;

  if (setjmp (png_jmpbuf (d->png)))
    return FALSE;

  if (d->file != NULL)
    png_set_read_fn (d->png, d, read_from_file);
  else
    png_set_read_fn (d->png, d, read_from_data);
  /* libpng's own limit (1e6 per side) would refuse some sizes with a vaguer message than
   * check_dimensions() gives: lift it to PNG's maximum and check ourselves */
  png_set_user_limits (d->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);

  png_read_info (d->png, d->info);
  png_get_IHDR (d->png, d->info, &width, &height, &file_depth, &color_type, &interlace, NULL, NULL);
  if (!check_dimensions (d->name, width, height, &d->error))
    png_error (d->png, "too large");

  d->image = g_new0 (HlImage, 1);
  d->image->path = g_strdup (d->name);
  d->image->format = HL_IMAGE_PNG;
  d->image->width = (int) width;
  d->image->height = (int) height;
  d->image->bit_depth = color_type == PNG_COLOR_TYPE_PALETTE ? 8 : file_depth;
  d->image->was_color = (color_type == PNG_COLOR_TYPE_RGB || color_type == PNG_COLOR_TYPE_RGB_ALPHA
                         || (color_type == PNG_COLOR_TYPE_PALETTE
                             && palette_is_colored (d->png, d->info)));
  if (png_get_pHYs (d->png, d->info, &res_x, &res_y, &unit) && unit == PNG_RESOLUTION_METER
      && res_x > 0 && res_y > 0)
    {
      d->image->pixel_spacing[0] = 1000.0 / res_y; /* mm between rows */
      d->image->pixel_spacing[1] = 1000.0 / res_x; /* mm between columns */
    }

  if (color_type == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb (d->png);
  else if (color_type == PNG_COLOR_TYPE_GRAY && file_depth < 8)
    png_set_expand_gray_1_2_4_to_8 (d->png); /* v * 255 / (2^depth - 1): same value after / 255 */
  passes = png_set_interlace_handling (d->png);
  png_read_update_info (d->png, d->info);

  channels = png_get_channels (d->png, d->info);
  depth = png_get_bit_depth (d->png, d->info);
  rowbytes = png_get_rowbytes (d->png, d->info);
  if (channels < 1 || channels > 4 || (depth != 8 && depth != 16)
      || rowbytes != (gsize) width * channels * (depth / 8))
    png_error (d->png, "unexpected row layout after transformations");

  d->image->pixels = g_try_malloc_n ((gsize) width * height, sizeof (float));
  d->rows = g_try_malloc_n (passes > 1 ? height : 1, rowbytes);
  if (d->image->pixels == NULL || d->rows == NULL)
    {
      g_set_error (&d->error, HL_STUDY_ERROR, HL_STUDY_ERROR_TOO_LARGE,
                   "%s: not enough memory for %" G_GUINT32_FORMAT "x%" G_GUINT32_FORMAT " pixels",
                   d->name, (guint32) width, (guint32) height);
      png_error (d->png, "out of memory");
    }

  if (passes > 1)
    {
      for (int pass = 0; pass < passes; pass++)
        for (png_uint_32 y = 0; y < height; y++)
          png_read_row (d->png, d->rows + (gsize) y * rowbytes, NULL);
      for (png_uint_32 y = 0; y < height; y++)
        convert_row (d->rows + (gsize) y * rowbytes, (int) width, channels, depth == 16,
                     d->image->pixels + (gsize) y * width);
    }
  else
    {
      for (png_uint_32 y = 0; y < height; y++)
        {
          png_read_row (d->png, d->rows, NULL);
          convert_row (d->rows, (int) width, channels, depth == 16,
                       d->image->pixels + (gsize) y * width);
        }
    }

  /* reads the remaining chunks up to IEND, so truncation and CRC errors after the pixels count */
  png_read_end (d->png, NULL);
  return TRUE;
}

static HlImage *
decode (HlPngDecode *d, GError **error)
{
  HlImage *image = NULL;

  d->png = png_create_read_struct (PNG_LIBPNG_VER_STRING, d, on_png_error, on_png_warning);
  if (d->png != NULL)
    d->info = png_create_info_struct (d->png);
  if (d->png == NULL || d->info == NULL)
    g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: cannot start libpng", d->name);
  else if (decode_guarded (d))
    image = g_steal_pointer (&d->image);
  else if (d->error != NULL)
    g_propagate_error (error, g_steal_pointer (&d->error));
  else
    g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT, "%s: not a valid PNG: %s", d->name,
                 d->message);

  if (d->png != NULL)
    png_destroy_read_struct (&d->png, d->info != NULL ? &d->info : NULL, NULL);
  g_free (d->rows);
  hl_image_free (d->image);
  g_clear_error (&d->error);
  return image;
}

HlImage *
hl_png_load (const char *path, GError **error)
{
  HlPngDecode d = { 0 };
  HlImage *image;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  d.file = g_fopen (path, "rb");
  if (d.file == NULL)
    {
      int saved = errno;
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: cannot open: %s", path,
                   g_strerror (saved));
      return NULL;
    }
  d.name = path;
  image = decode (&d, error);
  fclose (d.file);
  return image;
}

HlImage *
hl_png_load_from_data (const guint8 *data, gsize size, const char *name, GError **error)
{
  HlPngDecode d = { 0 };

  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  d.data = data;
  d.size = size;
  d.name = name;
  return decode (&d, error);
}
