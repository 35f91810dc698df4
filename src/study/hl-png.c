/* hl-png.c — PNG decoding through libpng (see hl-png.h for what is accepted, how colour becomes
 * gray and the limits on memory and reading). Every libpng call runs inside decode_guarded(), whose
 * setjmp turns libpng's errors (and its warnings, which are refusals here) into a GError; the state
 * that must survive the longjmp lives in the caller's HlPngDecode. Rows, interlaced or not, are
 * read one at a time straight into the float plane; take_input() holds every read to the budget of
 * the part of the file it is in. */
#include "hl-png.h"
#include "hl-study-private.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* Largest chunk other than IDAT: longer ones are refused from their header (libpng's default,
 * set explicitly; the chunks Hilum skips are read through a 1 KiB buffer whatever their length). */
#define HL_PNG_MAX_CHUNK (8u << 20)
/* Reading budgets, in bytes of file, for each part (HlPngPart). */
#define HL_PNG_MAX_HEAD (32u << 20) /* signature, IHDR, chunks before the first IDAT */
#define HL_PNG_ROWS_SLACK (4u << 20) /* IDAT to the last row: twice the filtered rows plus this */
#define HL_PNG_MAX_IDAT_TAIL (9u << 10) /* after the last row: one 8 KiB IDAT read and framing */
#define HL_PNG_MAX_END (1u << 20)        /* chunks after the image data, up to IEND */

typedef enum
{
  HL_PNG_PART_HEAD,
  HL_PNG_PART_ROWS,
  HL_PNG_PART_IDAT_TAIL,
  HL_PNG_PART_END,
} HlPngPart;

typedef struct
{
  /* input: exactly one of file or data */
  FILE *file;
  const guint8 *data;
  gsize size;
  gsize pos;

  /* what has been read and what the current part may still read (take_input()) */
  HlPngPart part;
  guint64 consumed;
  guint64 limit; /* consumed may not pass it */
  gboolean interlaced;

  const char *name;
  char message[256]; /* libpng's error, copied by on_png_error() */
  char warning[256]; /* libpng's first warning, copied by on_png_warning(): a refusal too */
  GError *error;     /* our own refusal (too large, out of memory); set before png_error() */

  png_structp png;
  png_infop info;
  guint8 *row; /* (rowbytes): one row of any pass after transformations */
  HlImage *image;
} HlPngDecode;

static void
on_png_error (png_structp png, png_const_charp message)
{
  HlPngDecode *d = png_get_error_ptr (png);

  g_strlcpy (d->message, message, sizeof d->message);
  png_longjmp (png, 1);
}

/* A warning is libpng going on past something wrong in the file: the first one is kept and refuses
 * the file once libpng returns (decode_guarded()), rather than by a longjmp from where libpng
 * expects to continue. */
static void
on_png_warning (png_structp png, png_const_charp message)
{
  HlPngDecode *d = png_get_error_ptr (png);

  if (d->warning[0] == '\0')
    g_strlcpy (d->warning, message, sizeof d->warning);
}

static gboolean
image_complete (HlPngDecode *d)
{
  /* libpng counts rows before it finishes the zlib stream: the pass is past the last (7) for
   * Adam7, the row number at the height otherwise */
  if (d->interlaced)
    return png_get_current_pass_number (d->png) >= 7;
  return png_get_current_row_number (d->png) >= png_get_image_height (d->png, d->info);
}

/* Accounts for @length more bytes of file, or refuses them when the current part's budget is
 * spent. After the last row, the rest of the zlib stream gets HL_PNG_MAX_IDAT_TAIL: this is what
 * stops extra IDAT data and decompression bombs from being inflated. */
static void
take_input (HlPngDecode *d, png_size_t length)
{
  if (d->part == HL_PNG_PART_ROWS && image_complete (d))
    {
      d->part = HL_PNG_PART_IDAT_TAIL;
      d->limit = d->consumed + HL_PNG_MAX_IDAT_TAIL;
    }
  if (length > d->limit - d->consumed)
    switch (d->part)
      {
      case HL_PNG_PART_HEAD:
        png_error (d->png, "more than 32 MiB of chunks before the image data");
        break;
      case HL_PNG_PART_ROWS:
        png_error (d->png, "the image data is more than twice the size of its rows plus 4 MiB "
                           "(a compressed stream that stalls)");
        break;
      case HL_PNG_PART_IDAT_TAIL:
        png_error (d->png, "the compressed image data goes on after the last row (extra data "
                           "or a decompression bomb)");
        break;
      case HL_PNG_PART_END:
        png_error (d->png, "more than 1 MiB of chunks after the image data");
        break;
      }
  d->consumed += length;
}

static void
read_from_file (png_structp png, png_bytep out, png_size_t length)
{
  HlPngDecode *d = png_get_io_ptr (png);

  take_input (d, length);
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

  take_input (d, length);
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

/* @row: (width, channels) samples, 8-bit or big-endian 16-bit; @out: (width) floats @step apart. */
static void
convert_row (const guint8 *row, int width, int channels, gboolean sixteen, float *out, int step)
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
        out[(gsize) x * step] = s[0] * scale;
      else
        out[(gsize) x * step]
          = clamp01 ((0.2126f * s[0] + 0.7152f * s[1] + 0.0722f * s[2]) * scale);
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

/* Bytes of filtered rows (a filter byte each) the file's IDAT stream inflates to. */
static guint64
filtered_size (png_uint_32 width, png_uint_32 height, int bits_per_pixel, gboolean interlaced)
{
  guint64 total = 0;

  for (int pass = 0; pass < (interlaced ? 7 : 1); pass++)
    {
      guint64 cols = interlaced ? PNG_PASS_COLS (width, pass) : width;
      guint64 rows = interlaced ? PNG_PASS_ROWS (height, pass) : height;

      if (cols > 0)
        total += rows * (1 + (cols * bits_per_pixel + 7) / 8);
    }
  return total;
}

/* Tells libpng to skip every ancillary chunk but pHYs (read through a 1 KiB buffer, nothing
 * kept), to refuse chunks longer than HL_PNG_MAX_CHUNK, and to treat a CRC error in any chunk and
 * every benign error as an error. */
static void
set_strict (png_structp png)
{
  static const png_byte keep[] = "pHYs";

  /* libpng's own limit (1e6 per side) would refuse some sizes with a vaguer message than
   * check_dimensions() gives: lift it to PNG's maximum and check ourselves */
  png_set_user_limits (png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_set_chunk_malloc_max (png, HL_PNG_MAX_CHUNK);
  png_set_chunk_cache_max (png, 1); /* 1: no text, sPLT or unknown chunk kept (0 is unlimited) */
  /* -1: every ancillary chunk libpng knows (gAMA, cHRM, sRGB, iCCP, sBIT, tEXt, zTXt, iTXt,
   * sPLT, eXIf, ...) as well as unknown ones; tRNS stays (it only adds an alpha we discard) */
  png_set_keep_unknown_chunks (png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
  png_set_keep_unknown_chunks (png, PNG_HANDLE_CHUNK_AS_DEFAULT, keep, 1);
  png_set_crc_action (png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);
  png_set_benign_errors (png, 0);
}

/* Runs every libpng call. Returns FALSE after a libpng error or warning (d->message) or a refusal
 * of ours (d->error); the caller frees what d holds either way. */
static gboolean
decode_guarded (HlPngDecode *d)
{
  png_uint_32 width, height;
  int file_depth, color_type, interlace, channels, depth;
  gsize rowbytes;
  png_uint_32 res_x, res_y;
  int unit;

  if (setjmp (png_jmpbuf (d->png)))
    return FALSE;

  if (d->file != NULL)
    png_set_read_fn (d->png, d, read_from_file);
  else
    png_set_read_fn (d->png, d, read_from_data);
  set_strict (d->png);

  d->part = HL_PNG_PART_HEAD;
  d->limit = HL_PNG_MAX_HEAD;
  png_read_info (d->png, d->info);
  png_get_IHDR (d->png, d->info, &width, &height, &file_depth, &color_type, &interlace, NULL, NULL);
  if (!check_dimensions (d->name, width, height, &d->error))
    png_error (d->png, "too large");
  d->interlaced = interlace != PNG_INTERLACE_NONE;
  d->part = HL_PNG_PART_ROWS;
  d->limit = d->consumed + HL_PNG_ROWS_SLACK
             + 2 * filtered_size (width, height, png_get_channels (d->png, d->info) * file_depth,
                                  d->interlaced);

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
  /* no png_set_interlace_handling(): each Adam7 pass comes as its own narrower rows */
  png_read_update_info (d->png, d->info);
  if (d->warning[0] != '\0')
    png_error (d->png, d->warning);

  channels = png_get_channels (d->png, d->info);
  depth = png_get_bit_depth (d->png, d->info);
  rowbytes = png_get_rowbytes (d->png, d->info);
  if (channels < 1 || channels > 4 || (depth != 8 && depth != 16)
      || rowbytes != (gsize) width * channels * (depth / 8))
    png_error (d->png, "unexpected row layout after transformations");

  d->image->pixels = g_try_malloc_n ((gsize) width * height, sizeof (float));
  d->row = g_try_malloc (rowbytes);
  if (d->image->pixels == NULL || d->row == NULL)
    {
      g_set_error (&d->error, HL_STUDY_ERROR, HL_STUDY_ERROR_TOO_LARGE,
                   "%s: not enough memory for %" G_GUINT32_FORMAT "x%" G_GUINT32_FORMAT " pixels",
                   d->name, (guint32) width, (guint32) height);
      png_error (d->png, "out of memory");
    }

  for (int pass = 0; pass < (d->interlaced ? 7 : 1); pass++)
    {
      /* the pass's pixels: columns x0, x0 + dx, ... of rows y0, y0 + dy, ... */
      png_uint_32 cols = d->interlaced ? PNG_PASS_COLS (width, pass) : width;
      png_uint_32 rows = d->interlaced ? PNG_PASS_ROWS (height, pass) : height;
      int x0 = d->interlaced ? PNG_PASS_START_COL (pass) : 0;
      int dx = d->interlaced ? PNG_PASS_COL_OFFSET (pass) : 1;
      int y0 = d->interlaced ? PNG_PASS_START_ROW (pass) : 0;
      int dy = d->interlaced ? PNG_PASS_ROW_OFFSET (pass) : 1;

      if (cols == 0)
        continue; /* libpng skips a pass without columns (or rows) */
      for (png_uint_32 r = 0; r < rows; r++)
        {
          png_read_row (d->png, d->row, NULL);
          convert_row (d->row, (int) cols, channels, depth == 16,
                       d->image->pixels + (gsize) (y0 + r * dy) * width + x0, dx);
        }
    }

  /* reads the remaining chunks up to IEND, so truncation and CRC errors after the pixels count */
  d->part = HL_PNG_PART_END;
  d->limit = d->consumed + HL_PNG_MAX_END;
  png_read_end (d->png, NULL);
  if (d->warning[0] != '\0')
    png_error (d->png, d->warning);
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
  g_free (d->row);
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

  /* only a regular file, opened without blocking (a FIFO swapped in after the sniff) */
  int fd = hl_open_regular (path, error);
  if (fd < 0)
    return NULL;
  d.file = fdopen (fd, "rb");
  if (d.file == NULL)
    {
      int saved = errno;
      close (fd);
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
