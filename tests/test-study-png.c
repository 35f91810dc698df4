/* test-study-png.c — PNG decoding (hl_png_load, hl_image_load, hl_image_sniff): every PNG layout we
 * accept, written here with libpng from known samples, and every refusal (truncated, bad CRC,
 * decompression bomb, not an image, missing file). */
#include "study/hl-image.h"
#include "study/hl-png.h"

#include "hl-test-bound.h"
#include "hl-test-png.h"

#include <png.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <zlib.h>

#include <glib/gstdio.h>

typedef HlTestDir Fixture; /* a fresh temporary folder per test */

static void
fill_random (guint16 *samples, gsize n, int depth, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < n; i++)
    samples[i] = (guint16) g_rand_int_range (rand, 0, 1 << depth);
  g_rand_free (rand);
}

/* The bound of a gray sample decoded to @v: hl-png.c multiplies it (expanded to 8 bits from 1, 2
 * or 4 exactly, v 255 / (2^depth - 1)) by 1.f / 255.f or 1.f / 65535.f, two float roundings (the
 * reciprocal and the product), gamma_2 |v|; the float64 reference sample / max rounds once more,
 * 2^-53 |v|. */
static double
gray_bound (double v)
{
  return (hl_test_gamma (2) + HL_TEST_U_DOUBLE) * fabs (v);
}

/* The bound of Rec. 709 luma @v of three samples: hl-png.c rounds the three float
 * coefficients, the three products, the two sums, the reciprocal and the product by it, six
 * roundings at most on each non-negative term, gamma_6 |v|; the float64 reference (the
 * coefficients, products, sums and the division) seven more of 2^-53 |v|. */
static double
luma_bound (double v)
{
  return (hl_test_gamma (6) + 7 * HL_TEST_U_DOUBLE) * fabs (v);
}

static HlImage *
load_ok (const char *path)
{
  GError *error = NULL;
  HlImage *image = hl_image_load (path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (image);
  g_assert_cmpstr (image->path, ==, path);
  g_assert_cmpint (image->format, ==, HL_IMAGE_PNG);
  g_assert_null (image->patient_id);
  g_assert_null (image->study_date);
  g_assert_null (image->view_position);
  return image;
}

/* Writes a gray file of every bit depth and checks value / (2^depth - 1) within gray_bound(). */
static void
test_gray (Fixture *f, gconstpointer data)
{
  const int depths[] = { 1, 2, 4, 8, 16 };

  for (gsize d = 0; d < G_N_ELEMENTS (depths); d++)
    {
      int depth = depths[d];
      HlTestPngSpec s = { .width = 13, .height = 7, .color_type = PNG_COLOR_TYPE_GRAY, .depth = depth };
      g_autofree guint16 *samples = g_new (guint16, s.width * s.height);
      g_autofree char *path = g_strdup_printf ("%s/gray%d.png", f->dir, depth);
      g_autoptr (HlImage) image = NULL;
      double max = (1 << depth) - 1;

      fill_random (samples, s.width * s.height, depth, 17 + depth);
      samples[0] = 0;
      samples[1] = (guint16) max;
      s.samples = samples;
      hl_test_png_write (path, &s);
      image = load_ok (path);
      g_assert_cmpint (image->width, ==, 13);
      g_assert_cmpint (image->height, ==, 7);
      g_assert_cmpint (image->bit_depth, ==, depth);
      g_assert_false (image->was_color);
      g_assert_cmpfloat (image->pixel_spacing[0], ==, 0);
      HlTestBounded check = HL_TEST_BOUNDED_INIT ("gray");
      for (int i = 0; i < s.width * s.height; i++)
        hl_test_bounded_check (&check, image->pixels[i], samples[i] / max,
                               gray_bound (samples[i] / max));
      hl_test_bounded_end (&check);
    }
}

static double
luma (double r, double g, double b)
{
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/* Gray+alpha keeps gray; RGB and RGBA (8 and 16 bits) go through Rec. 709 luma, flagged as colour. */
static void
test_color (Fixture *f, gconstpointer data)
{
  const int types[] = { PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA };

  for (gsize t = 0; t < G_N_ELEMENTS (types); t++)
    for (int depth = 8; depth <= 16; depth += 8)
      {
        HlTestPngSpec s = { .width = 9, .height = 5, .color_type = types[t], .depth = depth };
        int channels = hl_test_png_channels (&s);
        g_autofree guint16 *samples = g_new (guint16, s.width * s.height * channels);
        g_autofree char *path = g_strdup_printf ("%s/color%d-%d.png", f->dir, types[t], depth);
        g_autoptr (HlImage) image = NULL;
        double max = (1 << depth) - 1;

        fill_random (samples, s.width * s.height * channels, depth, 100 + t * 16 + depth);
        s.samples = samples;
        hl_test_png_write (path, &s);
        image = load_ok (path);
        g_assert_cmpint (image->bit_depth, ==, depth);
        g_assert_cmpint (image->was_color, ==, channels >= 3);
        HlTestBounded check = HL_TEST_BOUNDED_INIT (channels >= 3 ? "luma" : "gray of gray+alpha");
        for (int i = 0; i < s.width * s.height; i++)
          {
            const guint16 *p = samples + i * channels;
            double want = channels >= 3 ? luma (p[0], p[1], p[2]) / max : p[0] / max;
            hl_test_bounded_check (&check, image->pixels[i], want,
                                   channels >= 3 ? luma_bound (want) : gray_bound (want));
          }
        hl_test_bounded_end (&check);
      }
}

/* Palettes of every index depth; a gray palette is not colour, a coloured one is. */
static void
test_palette (Fixture *f, gconstpointer data)
{
  png_color palette[16];

  for (int colored = 0; colored <= 1; colored++)
    for (int depth = 1; depth <= 8; depth *= 2)
      {
        int n = MIN (16, 1 << depth);
        HlTestPngSpec s = { .width = 11, .height = 3, .color_type = PNG_COLOR_TYPE_PALETTE,
                      .depth = depth, .palette = palette, .n_palette = n };
        g_autofree guint16 *samples = g_new (guint16, s.width * s.height);
        g_autofree char *path = g_strdup_printf ("%s/palette%d-%d.png", f->dir, colored, depth);
        g_autoptr (HlImage) image = NULL;

        for (int i = 0; i < n; i++)
          {
            guint8 v = (guint8) (i * 255 / (n - 1));
            palette[i].red = v;
            palette[i].green = colored ? 255 - v : v;
            palette[i].blue = colored ? (guint8) (i * 7) : v;
          }
        fill_random (samples, s.width * s.height, depth, 300 + depth);
        for (int i = 0; i < s.width * s.height; i++)
          samples[i] %= n;
        s.samples = samples;
        hl_test_png_write (path, &s);
        image = load_ok (path);
        g_assert_cmpint (image->bit_depth, ==, 8);
        g_assert_cmpint (image->was_color, ==, colored);
        /* libpng expands the palette to 8-bit RGB exactly: luma like any RGB file */
        HlTestBounded check = HL_TEST_BOUNDED_INIT ("palette luma");
        for (int i = 0; i < s.width * s.height; i++)
          {
            const png_color *c = &palette[samples[i]];
            double want = luma (c->red, c->green, c->blue) / 255;
            hl_test_bounded_check (&check, image->pixels[i], want, luma_bound (want));
          }
        hl_test_bounded_end (&check);
      }
}

/* An Adam7 file decodes to exactly the pixels of the same image written without interlacing. */
static void
test_interlaced (Fixture *f, gconstpointer data)
{
  const struct { int color_type, depth; } cases[] = {
    { PNG_COLOR_TYPE_GRAY, 8 }, { PNG_COLOR_TYPE_GRAY, 16 }, { PNG_COLOR_TYPE_GRAY, 2 },
    { PNG_COLOR_TYPE_RGB, 8 },  { PNG_COLOR_TYPE_RGB_ALPHA, 16 },
  };

  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      HlTestPngSpec s = { .width = 37, .height = 23, .color_type = cases[c].color_type,
                    .depth = cases[c].depth };
      int channels = hl_test_png_channels (&s);
      g_autofree guint16 *samples = g_new (guint16, s.width * s.height * channels);
      g_autofree char *plain_path = g_strdup_printf ("%s/plain%zu.png", f->dir, c);
      g_autofree char *adam7_path = g_strdup_printf ("%s/adam7%zu.png", f->dir, c);
      g_autoptr (HlImage) plain = NULL;
      g_autoptr (HlImage) adam7 = NULL;

      fill_random (samples, s.width * s.height * channels, s.depth, 500 + c);
      s.samples = samples;
      hl_test_png_write (plain_path, &s);
      s.interlaced = TRUE;
      hl_test_png_write (adam7_path, &s);
      plain = load_ok (plain_path);
      adam7 = load_ok (adam7_path);
      g_assert_cmpint (adam7->width, ==, s.width);
      g_assert_cmpint (adam7->height, ==, s.height);
      g_assert_cmpmem (adam7->pixels, sizeof (float) * s.width * s.height, plain->pixels,
                       sizeof (float) * s.width * s.height);
    }
}

/* pHYs in metres becomes pixel_spacing in mm; decoding from memory equals decoding the file. */
static void
test_phys_and_memory (Fixture *f, gconstpointer data)
{
  guint16 samples[6] = { 0, 50, 100, 150, 200, 250 };
  HlTestPngSpec s = { .width = 3, .height = 2, .color_type = PNG_COLOR_TYPE_GRAY, .depth = 8,
                .samples = samples, .phys_mm = 0.143 };
  g_autofree char *path = g_build_filename (f->dir, "phys.png", NULL);
  g_autofree char *contents = NULL;
  gsize length;
  GError *error = NULL;
  g_autoptr (HlImage) image = NULL;
  g_autoptr (HlImage) from_data = NULL;

  hl_test_png_write (path, &s);
  image = load_ok (path);
  /* pHYs holds whole pixels per metre: the writer's round (1000 / 0.143) = 6993, which is within
   * 1/2 of 1000 / 0.143, so 1000 / ppm mm is within 0.5 / ppm relative of 0.143 (plus the
   * division's and the literal's 2^-53 each); and the decoder's 1000.0 / ppm is that same
   * correctly rounded double division, bit for bit. */
  double ppm = floor (1000.0 / s.phys_mm + 0.5);
  for (int k = 0; k < 2; k++)
    {
      hl_test_assert_close ("pHYs spacing", image->pixel_spacing[k], 0.143,
                            (0.5 / ppm + 2 * HL_TEST_U_DOUBLE) * 0.143);
      g_assert_cmpfloat (image->pixel_spacing[k], ==, 1000.0 / ppm);
    }

  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  from_data = hl_png_load_from_data ((const guint8 *) contents, length, "memory.png", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (from_data->path, ==, "memory.png");
  g_assert_cmpint (from_data->width, ==, 3);
  g_assert_cmpmem (from_data->pixels, sizeof (float) * 6, image->pixels, sizeof (float) * 6);
}

static char *
write_valid (Fixture *f, const char *name)
{
  char *path = g_build_filename (f->dir, name, NULL);

  hl_test_png_write_gray8 (path, 64, 64, 7);
  return path;
}

static void
assert_refused (const char *path, int code)
{
  GError *error = NULL;
  HlImage *image = hl_image_load (path, &error);

  g_assert_null (image);
  g_assert_error (error, HL_STUDY_ERROR, code);
  g_assert_nonnull (strstr (error->message, path));
  g_test_message ("%s", error->message);
  g_error_free (error);
}

/* A file cut anywhere (inside IDAT, before IEND, inside IEND) is an error, never a partial image. */
static void
test_truncated (Fixture *f, gconstpointer data)
{
  g_autofree char *path = write_valid (f, "valid.png");
  g_autofree char *contents = NULL;
  gsize length;

  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  g_assert_cmpuint (length, >, 100);
  const gsize cuts[] = { 40, length / 2, length - 12, length - 4, length - 1 };
  for (gsize i = 0; i < G_N_ELEMENTS (cuts); i++)
    {
      g_autofree char *cut_path = g_strdup_printf ("%s/cut%zu.png", f->dir, cuts[i]);
      g_assert_true (g_file_set_contents (cut_path, contents, cuts[i], NULL));
      assert_refused (cut_path, HL_STUDY_ERROR_FORMAT);
    }
}

/* A flipped bit in IDAT's stored CRC, or in its data (which zlib or the CRC catches): refused. */
static void
test_bad_crc (Fixture *f, gconstpointer data)
{
  g_autofree char *path = write_valid (f, "valid.png");
  g_autofree char *contents = NULL;
  gsize length;
  guint8 *idat;
  guint32 chunk_length;

  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  idat = memmem (contents, length, "IDAT", 4);
  g_assert_nonnull (idat);
  chunk_length = (guint32) idat[-4] << 24 | idat[-3] << 16 | idat[-2] << 8 | idat[-1];
  g_assert_cmpuint (idat + 4 + chunk_length + 4 - (guint8 *) contents, <=, length);
  for (int where = 0; where < 2; where++)
    {
      g_autofree char *bad_path = g_strdup_printf ("%s/bad-crc%d.png", f->dir, where);
      guint8 *byte = where == 0 ? idat + 4 + chunk_length + 1 : idat + 4 + 10;
      g_autoptr (GError) error = NULL;

      *byte ^= 0x10;
      g_assert_true (g_file_set_contents (bad_path, contents, length, NULL));
      *byte ^= 0x10;
      assert_refused (bad_path, HL_STUDY_ERROR_FORMAT);
      if (where == 0)
        {
          HlImage *image = hl_image_load (bad_path, &error);
          g_assert_null (image);
          g_assert_nonnull (strstr (error->message, "CRC"));
        }
    }
}

static void
append_chunk (GByteArray *out, const char *type, const guint8 *payload, guint32 length)
{
  guint8 be[4] = { length >> 24, length >> 16, length >> 8, length };
  uLong crc = crc32 (0, (const Bytef *) type, 4);

  crc = crc32 (crc, payload, length);
  g_byte_array_append (out, be, 4);
  g_byte_array_append (out, (const guint8 *) type, 4);
  g_byte_array_append (out, payload, length);
  be[0] = crc >> 24, be[1] = crc >> 16, be[2] = crc >> 8, be[3] = crc;
  g_byte_array_append (out, be, 4);
}

/* A well-formed PNG (valid CRCs, real deflate stream of zero rows) claiming @side x @side. */
static char *
write_bomb (Fixture *f, guint32 side)
{
  static const guint8 signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  guint8 ihdr[13] = { side >> 24, side >> 16, side >> 8, side, side >> 24, side >> 16, side >> 8,
                      side, 8, 0, 0, 0, 0 };
  gsize raw_length = (gsize) (side + 1) * 64; /* 64 rows of filter byte + zeros */
  g_autofree guint8 *raw = g_malloc0 (raw_length);
  uLongf packed_length = compressBound (raw_length);
  g_autofree guint8 *packed = g_malloc (packed_length);
  g_autoptr (GByteArray) file = g_byte_array_new ();
  char *path = g_strdup_printf ("%s/bomb%u.png", f->dir, side);

  g_assert_cmpint (compress (packed, &packed_length, raw, raw_length), ==, Z_OK);
  g_byte_array_append (file, signature, 8);
  append_chunk (file, "IHDR", ihdr, 13);
  append_chunk (file, "IDAT", packed, (guint32) packed_length);
  append_chunk (file, "IEND", NULL, 0);
  g_assert_true (g_file_set_contents (path, (const char *) file->data, file->len, NULL));
  return path;
}

static void
check_bomb_refused (const char *path)
{
  GError *error = NULL;
  gint64 start = g_get_monotonic_time ();
  HlImage *image = hl_image_load (path, &error);
  gint64 elapsed = g_get_monotonic_time () - start;

  g_assert_null (image);
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_TOO_LARGE);
  g_assert_nonnull (strstr (error->message, path));
  /* refused on the header's claim, not because an allocation failed */
  g_assert_nonnull (strstr (error->message, "beyond the limit"));
  g_error_free (error);
  g_test_message ("refused in %" G_GINT64_FORMAT " us", elapsed);
  g_assert_cmpint (elapsed, <, G_USEC_PER_SEC);
}

/* 100000x100000 (and just over the per-side and total limits) refused before allocating: in a
 * child whose address space is capped at 512 MiB, so that a 40 GB allocation attempt would fail
 * differently; and fast. */
static void
test_bomb (Fixture *f, gconstpointer data)
{
  if (hl_test_in_capped_child (512))
    {
      g_autofree char *capped = write_bomb (f, 100000);

      check_bomb_refused (capped);
      return;
    }

  g_autofree char *big = write_bomb (f, 100000);
  g_autofree char *side = write_bomb (f, HL_IMAGE_MAX_SIDE + 1);
  g_autofree char *area = write_bomb (f, 8193); /* 8193^2 > HL_IMAGE_MAX_PIXELS */

  check_bomb_refused (big);
  check_bomb_refused (side);
  check_bomb_refused (area);
}

/* The signature and IHDR of a @width x @height file (no filter, no compression options). */
static GByteArray *
png_head (guint32 width, guint32 height, int depth, int color_type, gboolean interlaced)
{
  static const guint8 signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  guint8 ihdr[13] = { width >> 24, width >> 16, width >> 8, width, height >> 24, height >> 16,
                      height >> 8, height, depth, color_type, 0, 0, interlaced };
  GByteArray *file = g_byte_array_new ();

  g_byte_array_append (file, signature, 8);
  append_chunk (file, "IHDR", ihdr, 13);
  return file;
}

/* (16, 1 + 16): the filtered rows of a 16 x 16 8-bit gray image whose pixel (x, y) is 7 x + y. */
static void
gray16_rows (guint8 raw[16 * 17])
{
  for (int y = 0; y < 16; y++)
    {
      raw[y * 17] = 0;
      for (int x = 0; x < 16; x++)
        raw[y * 17 + 1 + x] = (guint8) (7 * x + y);
    }
}

static void
assert_gray16_pixels (const HlImage *image)
{
  g_assert_cmpint (image->width, ==, 16);
  g_assert_cmpint (image->height, ==, 16);
  HlTestBounded check = HL_TEST_BOUNDED_INIT ("8-bit gray");
  for (int y = 0; y < 16; y++)
    for (int x = 0; x < 16; x++)
      hl_test_bounded_check (&check, image->pixels[y * 16 + x], (7 * x + y) / 255.0,
                             gray_bound ((7 * x + y) / 255.0));
  hl_test_bounded_end (&check);
}

/* A zlib stream of @raw, then @extra zero bytes (level 1, run-length: quick to make). */
static GByteArray *
deflate_with_extra (const guint8 *raw, gsize raw_length, gsize extra)
{
  g_autofree guint8 *zeros = g_malloc0 (1 << 20);
  GByteArray *out = g_byte_array_new ();
  guint8 buffer[1 << 16];
  z_stream z = { 0 };
  int status;

  g_assert_cmpint (deflateInit2 (&z, 1, Z_DEFLATED, 15, 8, Z_RLE), ==, Z_OK);
  z.next_in = (Bytef *) raw;
  z.avail_in = (uInt) raw_length;
  do
    {
      int flush = Z_NO_FLUSH;

      if (z.avail_in == 0 && extra > 0)
        {
          gsize n = MIN (extra, (gsize) 1 << 20);
          z.next_in = zeros;
          z.avail_in = (uInt) n;
          extra -= n;
        }
      if (z.avail_in == 0 && extra == 0)
        flush = Z_FINISH;
      z.next_out = buffer;
      z.avail_out = sizeof buffer;
      status = deflate (&z, flush);
      g_assert_cmpint (status, !=, Z_STREAM_ERROR);
      g_byte_array_append (out, buffer, sizeof buffer - z.avail_out);
    }
  while (status != Z_STREAM_END);
  deflateEnd (&z);
  return out;
}

/* Appends @data as IDAT chunks of at most @chunk bytes. */
static void
append_idat (GByteArray *file, const guint8 *data, gsize length, gsize chunk)
{
  for (gsize at = 0; at < length; at += chunk)
    append_chunk (file, "IDAT", data + at, (guint32) MIN (chunk, length - at));
}

static HlImage *
load_bytes (GByteArray *file, const char *name, GError **error)
{
  return hl_png_load_from_data (file->data, file->len, name, error);
}

static void
assert_bytes_refused (GByteArray *file, const char *name, const char *why)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = load_bytes (file, name, &error);

  g_assert_null (image);
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, name));
  if (why != NULL)
    g_assert_nonnull (strstr (error->message, why));
}

static gsize
peak_rss_kib (void)
{
  struct rusage usage;

  g_assert_cmpint (getrusage (RUSAGE_SELF, &usage), ==, 0);
  return (gsize) usage.ru_maxrss; /* KiB on Linux */
}

/* An ancillary chunk (text, profile, palette, Exif, unknown) whose header claims 2 GiB in an
 * 85-byte file: refused from the header, in a child whose peak RSS stays small (libpng used to
 * allocate and touch the 2 GiB). */
static void
test_ancillary_claims (Fixture *f, gconstpointer data)
{
  const char *types[] = { "tEXt", "zTXt", "iTXt", "iCCP", "sPLT", "eXIf", "prVt" };

  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  for (gsize t = 0; t < G_N_ELEMENTS (types); t++)
    {
      g_autoptr (GByteArray) file = png_head (16, 16, 8, PNG_COLOR_TYPE_GRAY, FALSE);
      const guint8 claim[4] = { 0x7f, 0xff, 0xff, 0xff };
      g_autofree char *name = g_strdup_printf ("claim-%s.png", types[t]);

      g_byte_array_append (file, claim, 4);
      g_byte_array_append (file, (const guint8 *) types[t], 4);
      g_byte_array_append (file, (const guint8 *) "key\0value that stops here", 26);
      assert_bytes_refused (file, name, "too large");
    }
  g_test_message ("peak RSS %zu KiB", peak_rss_kib ());
  g_assert_cmpuint (peak_rss_kib (), <, 128 << 10);
}

/* Every ancillary chunk but pHYs is skipped: a file carrying gAMA, sBIT, cHRM, a broken iCCP, a
 * zTXt that inflates to 16 MiB, tEXt, iTXt, sPLT and a private chunk decodes to its pixels with its
 * pHYs; a CRC error in a skipped chunk still refuses it, and so does any chunk over 8 MiB. */
static void
test_ancillary_skipped (Fixture *f, gconstpointer data)
{
  static const guint8 gama[4] = { 0, 0, 0xb1, 0x8f }, sbit[1] = { 5 };
  static const guint8 phys[9] = { 0, 0, 27, 88, 0, 0, 27, 88, 1 }; /* 7000 per metre */
  guint8 chrm[32] = { 0 }, raw[16 * 17];
  g_autoptr (GByteArray) file = png_head (16, 16, 8, PNG_COLOR_TYPE_GRAY, FALSE);
  g_autoptr (GByteArray) bomb_text = deflate_with_extra ((const guint8 *) "", 0, 16 << 20);
  g_autoptr (GByteArray) ztxt = g_byte_array_new ();
  g_autoptr (GByteArray) idat = NULL;
  g_autoptr (GByteArray) bad_crc = NULL;
  g_autoptr (GByteArray) big = png_head (16, 16, 8, PNG_COLOR_TYPE_GRAY, FALSE);
  g_autofree guint8 *nine_mib = g_malloc0 (9 << 20);
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = NULL;

  gray16_rows (raw);
  idat = deflate_with_extra (raw, sizeof raw, 0);
  g_byte_array_append (ztxt, (const guint8 *) "Comment\0\0", 9);
  g_byte_array_append (ztxt, bomb_text->data, bomb_text->len);
  append_chunk (file, "gAMA", gama, 4);
  append_chunk (file, "sBIT", sbit, 1);
  append_chunk (file, "cHRM", chrm, 32);
  append_chunk (file, "iCCP", (const guint8 *) "icc\0\0not a zlib stream", 22);
  append_chunk (file, "pHYs", phys, 9);
  append_chunk (file, "zTXt", ztxt->data, ztxt->len);
  append_chunk (file, "iTXt", (const guint8 *) "Title\0\0\0\0x-ray", 14);
  append_chunk (file, "sPLT", (const guint8 *) "p\0\x09garbage", 11);
  append_chunk (file, "prVt", (const guint8 *) "private", 7);
  append_idat (file, idat->data, idat->len, 1 << 16);
  append_chunk (file, "tEXt", (const guint8 *) "Software\0after IDAT", 19);
  append_chunk (file, "IEND", (const guint8 *) "", 0);
  image = load_bytes (file, "ancillary.png", &error);
  g_assert_no_error (error);
  assert_gray16_pixels (image);
  g_assert_cmpfloat (image->pixel_spacing[0], ==, 1000.0 / 7000); /* the same double division */

  /* the CRC of the tEXt after IDAT, 12 + 19 bytes before the end */
  bad_crc = g_byte_array_new ();
  g_byte_array_append (bad_crc, file->data, file->len);
  bad_crc->data[bad_crc->len - 12 - 1] ^= 0x01;
  assert_bytes_refused (bad_crc, "ancillary-crc.png", "CRC");

  append_chunk (big, "prVt", nine_mib, 9 << 20);
  append_idat (big, idat->data, idat->len, 1 << 16);
  append_chunk (big, "IEND", (const guint8 *) "", 0);
  assert_bytes_refused (big, "big-chunk.png", "too large");
}

/* What follows the last row is read only as far as the end of the zlib stream and IEND: a stream
 * that goes on inflating (64 MiB of zeros past the image) or never ends, extra bytes in the last
 * IDAT, megabytes of extra IDAT chunks are refused without reading them through; junk after IEND
 * is never read. */
static void
test_after_last_row (Fixture *f, gconstpointer data)
{
  guint8 raw[16 * 17];
  g_autoptr (GByteArray) stream = NULL;
  g_autoptr (GByteArray) bomb = NULL;

  gray16_rows (raw);
  stream = deflate_with_extra (raw, sizeof raw, 0);
  bomb = deflate_with_extra (raw, sizeof raw, 64 << 20);
  g_assert_cmpuint (bomb->len, >, 32 << 10);
  {
    g_autoptr (GByteArray) file = png_head (16, 16, 8, PNG_COLOR_TYPE_GRAY, FALSE);

    append_idat (file, bomb->data, bomb->len, 8192);
    append_chunk (file, "IEND", (const guint8 *) "", 0);
    assert_bytes_refused (file, "bomb.png", "after the last row");
  }
  {
    /* rows, then empty stored blocks up to the end of the file: no Adler-32, no IEND */
    g_autoptr (GByteArray) file = png_head (16, 16, 8, PNG_COLOR_TYPE_GRAY, FALSE);
    g_autoptr (GByteArray) endless = g_byte_array_new ();
    static const guint8 empty_stored[5] = { 0, 0, 0, 0xff, 0xff };

    /* the rows, synced to a byte boundary, without a final block or Adler-32 */
    {
      z_stream z = { 0 };
      guint8 buffer[1024];

      g_assert_cmpint (deflateInit (&z, 9), ==, Z_OK);
      z.next_in = raw;
      z.avail_in = sizeof raw;
      z.next_out = buffer;
      z.avail_out = sizeof buffer;
      g_assert_cmpint (deflate (&z, Z_SYNC_FLUSH), ==, Z_OK);
      g_byte_array_append (endless, buffer, sizeof buffer - z.avail_out);
      deflateEnd (&z);
    }
    for (int i = 0; i < (1 << 20) / 5; i++)
      g_byte_array_append (endless, empty_stored, 5);
    append_idat (file, endless->data, endless->len, 1 << 16);
    assert_bytes_refused (file, "endless.png", "after the last row");
  }
  {
    g_autoptr (GByteArray) file = png_head (16, 16, 8, PNG_COLOR_TYPE_GRAY, FALSE);
    g_autoptr (GByteArray) padded = g_byte_array_new ();

    g_byte_array_append (padded, stream->data, stream->len);
    g_byte_array_append (padded, (const guint8 *) "junk", 4);
    append_idat (file, padded->data, padded->len, padded->len);
    append_chunk (file, "IEND", (const guint8 *) "", 0);
    assert_bytes_refused (file, "extra-in-idat.png", "Extra compressed data");
  }
  {
    g_autoptr (GByteArray) file = png_head (16, 16, 8, PNG_COLOR_TYPE_GRAY, FALSE);
    g_autofree guint8 *junk = g_malloc0 (1 << 16);

    append_idat (file, stream->data, stream->len, stream->len);
    for (int i = 0; i < 32; i++)
      append_chunk (file, "IDAT", junk, 1 << 16);
    append_chunk (file, "IEND", (const guint8 *) "", 0);
    assert_bytes_refused (file, "extra-idat.png", "after the image data");
  }
  {
    g_autoptr (GByteArray) file = png_head (16, 16, 8, PNG_COLOR_TYPE_GRAY, FALSE);
    g_autoptr (GError) error = NULL;
    g_autoptr (HlImage) image = NULL;
    gsize end;

    append_idat (file, stream->data, stream->len, stream->len);
    append_chunk (file, "IEND", (const guint8 *) "", 0);
    end = file->len;
    g_byte_array_set_size (file, end + (1 << 20));
    memset (file->data + end, 0xa5, 1 << 20);
    image = load_bytes (file, "junk-after-iend.png", &error);
    g_assert_no_error (error);
    assert_gray16_pixels (image);
  }
}

/* Before the rows are complete: a stream that stalls (8 MiB of empty stored blocks, no output) and
 * more than 32 MiB of chunks before the first IDAT are refused, not read through. */
static void
test_stalled (Fixture *f, gconstpointer data)
{
  static const guint8 empty_stored[5] = { 0, 0, 0, 0xff, 0xff };
  guint8 raw[16 * 17];
  g_autoptr (GByteArray) file = png_head (16, 16, 8, PNG_COLOR_TYPE_GRAY, FALSE);
  g_autoptr (GByteArray) stalled = g_byte_array_new ();
  g_autoptr (GByteArray) rows = NULL;
  g_autoptr (GByteArray) head = png_head (16, 16, 8, PNG_COLOR_TYPE_GRAY, FALSE);
  g_autofree guint8 *text = g_malloc0 (7 << 20);
  z_stream z = { 0 };
  guint8 buffer[1024];

  gray16_rows (raw);
  /* zlib header and an empty synced block, then empty stored blocks, then the rows */
  g_assert_cmpint (deflateInit (&z, 9), ==, Z_OK);
  z.next_out = buffer;
  z.avail_out = sizeof buffer;
  g_assert_cmpint (deflate (&z, Z_SYNC_FLUSH), ==, Z_OK);
  g_byte_array_append (stalled, buffer, sizeof buffer - z.avail_out);
  for (int i = 0; i < (8 << 20) / 5; i++)
    g_byte_array_append (stalled, empty_stored, 5);
  z.next_in = raw;
  z.avail_in = sizeof raw;
  z.next_out = buffer;
  z.avail_out = sizeof buffer;
  g_assert_cmpint (deflate (&z, Z_FINISH), ==, Z_STREAM_END);
  g_byte_array_append (stalled, buffer, sizeof buffer - z.avail_out);
  deflateEnd (&z);
  append_idat (file, stalled->data, stalled->len, 1 << 20);
  append_chunk (file, "IEND", (const guint8 *) "", 0);
  assert_bytes_refused (file, "stalled.png", "stalls");

  memcpy (text, "Comment", 8);
  for (int i = 0; i < 5; i++)
    append_chunk (head, "tEXt", text, 7 << 20);
  rows = deflate_with_extra (raw, sizeof raw, 0);
  append_idat (head, rows->data, rows->len, rows->len);
  append_chunk (head, "IEND", (const guint8 *) "", 0);
  assert_bytes_refused (head, "long-head.png", "before the image data");
}

/* The pass (0..6) of Adam7 that carries pixel (x, y). */
static int
adam7_pass (int x, int y)
{
  static const guint8 pattern[8][8] = {
    { 0, 5, 3, 5, 1, 5, 3, 5 }, { 6, 6, 6, 6, 6, 6, 6, 6 }, { 4, 5, 4, 5, 4, 5, 4, 5 },
    { 6, 6, 6, 6, 6, 6, 6, 6 }, { 2, 5, 3, 5, 2, 5, 3, 5 }, { 6, 6, 6, 6, 6, 6, 6, 6 },
    { 4, 5, 4, 5, 4, 5, 4, 5 }, { 6, 6, 6, 6, 6, 6, 6, 6 },
  };

  return pattern[y % 8][x % 8];
}

/* A 4096 x 2048 RGBA 16-bit Adam7 file (8 bytes a pixel: twice the float plane) decodes with a
 * peak of the plane plus a little (it used to hold every row at 16 bits as well), in a child whose
 * peak RSS is measured; every pixel carries its pass's value, so the passes land where they
 * should. */
static void
test_interlaced_memory (Fixture *f, gconstpointer data)
{
  const int width = 4096, height = 2048;
  gsize plane_kib = (gsize) width * height * sizeof (float) / 1024;
  g_autoptr (GByteArray) file = NULL;
  g_autoptr (GByteArray) packed = g_byte_array_new ();
  g_autofree guint8 *row = g_malloc (1 + (gsize) width * 8);
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = NULL;
  z_stream z = { 0 };
  g_autofree guint8 *buffer = g_malloc (1 << 16);
  gsize before, after;

  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  file = png_head (width, height, 16, PNG_COLOR_TYPE_RGB_ALPHA, TRUE);
  g_assert_cmpint (deflateInit2 (&z, 1, Z_DEFLATED, 15, 8, Z_RLE), ==, Z_OK);
  for (int pass = 0; pass < 7; pass++)
    {
      gsize cols = PNG_PASS_COLS (width, pass), rows = PNG_PASS_ROWS (height, pass);

      row[0] = 0;
      memset (row + 1, 0x10 * (pass + 1), cols * 8); /* every sample 0x1010 * (pass + 1) */
      for (gsize r = 0; r < rows; r++)
        {
          z.next_in = row;
          z.avail_in = (uInt) (1 + cols * 8);
          while (z.avail_in > 0)
            {
              z.next_out = buffer;
              z.avail_out = 1 << 16;
              g_assert_cmpint (deflate (&z, Z_NO_FLUSH), ==, Z_OK);
              g_byte_array_append (packed, buffer, (1 << 16) - z.avail_out);
            }
        }
    }
  do
    {
      z.next_out = buffer;
      z.avail_out = 1 << 16;
      g_assert_cmpint (deflate (&z, Z_FINISH), !=, Z_STREAM_ERROR);
      g_byte_array_append (packed, buffer, (1 << 16) - z.avail_out);
    }
  while (z.avail_out == 0);
  deflateEnd (&z);
  append_idat (file, packed->data, packed->len, 1 << 16);
  append_chunk (file, "IEND", (const guint8 *) "", 0);

  before = peak_rss_kib ();
  image = load_bytes (file, "adam7-rgba16.png", &error);
  after = peak_rss_kib ();
  g_assert_no_error (error);
  g_test_message ("plane %zu KiB, peak RSS %zu -> %zu KiB", plane_kib, before, after);
  /* the plane, AddressSanitizer's shadow of it (1/8), and 16 MiB for rows and allocators */
  g_assert_cmpuint (after - before, <=, plane_kib + plane_kib / 8 + (16 << 10));
  /* R = G = B = v: the luma of three equal samples is v (the coefficients sum to 1) */
  HlTestBounded check = HL_TEST_BOUNDED_INIT ("Adam7 passes");
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        double want = 0x1010 * (adam7_pass (x, y) + 1) / 65535.0;
        hl_test_bounded_check (&check, image->pixels[(gsize) y * width + x], want,
                               luma_bound (want));
      }
  hl_test_bounded_end (&check);
}

/* Rewrites the CRC of the chunk whose type starts at @type in @file. */
static void
fix_crc (GByteArray *file, gsize type)
{
  guint32 length = (guint32) file->data[type - 4] << 24 | file->data[type - 3] << 16
                   | file->data[type - 2] << 8 | file->data[type - 1];
  uLong crc = crc32 (0, file->data + type, 4 + length);
  guint8 *at = file->data + type + 4 + length;

  at[0] = crc >> 24, at[1] = crc >> 16, at[2] = crc >> 8, at[3] = crc;
}

/* PngSuite's x*.png damage, made from a valid file: a bad signature byte, an added CR or LF, an
 * impossible colour type or bit depth (with a valid CRC), a bad IHDR CRC, no IDAT, a bad IDAT CRC;
 * each refused. (Debian's copy of PngSuite in Go's sources leaves the x files out.) */
static void
test_suite_damage (Fixture *f, gconstpointer data)
{
  g_autofree char *path = write_valid (f, "valid.png");
  g_autofree char *contents = NULL;
  gsize length;
  enum { SET, INSERT, DROP_IDAT, FLIP_IDAT_CRC };
  const struct
  {
    const char *name;
    int how;
    gsize at;  /* the byte to set, or where to insert one */
    guint8 value;
    gboolean fix_ihdr_crc;
  } cases[] = {
    { "xs1n0g01", SET, 0, 0x88, FALSE },    { "xs2n0g01", SET, 1, 'p', FALSE },
    { "xs4n0g01", SET, 4, '\n', FALSE },    { "xs7n0g01", SET, 7, 0x0b, FALSE },
    { "xcrn0g04", INSERT, 4, '\r', FALSE }, { "xlfn0g04", INSERT, 6, '\n', FALSE },
    { "xc1n0g08", SET, 25, 1, TRUE },       { "xc9n2c08", SET, 25, 9, TRUE },
    { "xd0n2c08", SET, 24, 0, TRUE },       { "xd3n2c08", SET, 24, 3, TRUE },
    { "xd9n2c08", SET, 24, 99, TRUE },      { "xhdn0g08", SET, 29, 0x55, FALSE },
    { "xdtn0g01", DROP_IDAT, 0, 0, FALSE }, { "xcsn0g01", FLIP_IDAT_CRC, 0, 0, FALSE },
  };

  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr (GByteArray) file = g_byte_array_new ();
      g_autofree char *name = g_strdup_printf ("%s.png", cases[c].name);
      guint8 *idat = memmem (contents, length, "IDAT", 4);
      gsize idat_at = idat - (guint8 *) contents;
      guint32 idat_length = (guint32) idat[-4] << 24 | idat[-3] << 16 | idat[-2] << 8 | idat[-1];
      gsize keep = cases[c].how == INSERT ? cases[c].at : length;

      g_byte_array_append (file, (const guint8 *) contents, keep);
      switch (cases[c].how)
        {
        case SET:
          file->data[cases[c].at] = cases[c].value;
          break;
        case INSERT:
          g_byte_array_append (file, &cases[c].value, 1);
          g_byte_array_append (file, (const guint8 *) contents + keep, length - keep);
          break;
        case DROP_IDAT:
          g_byte_array_remove_range (file, idat_at - 4, 12 + idat_length);
          break;
        case FLIP_IDAT_CRC:
          file->data[idat_at + 4 + idat_length] ^= 0x80;
          break;
        }
      if (cases[c].fix_ihdr_crc)
        fix_crc (file, 12);
      assert_bytes_refused (file, name, NULL);
    }
}

/* Debian's PngSuite (Go's sources, when installed): every file decodes, to the size its IHDR
 * states and values in [0, 1]; Go's invalid-*.png that libpng can tell are refused (invalid-palette
 * is a legal file with an index past the palette). The pixel values were compared with PIL's
 * decoder when this was written (every file within 2e-7, 16-bit colour within 1/255). */
static void
test_suite (Fixture *f, gconstpointer data)
{
  const char *root = "/usr/share/go-1.19/src/image/png/testdata";
  g_autofree char *suite = g_build_filename (root, "pngsuite", NULL);
  const char *invalid[] = { "invalid-crc32.png", "invalid-noend.png", "invalid-trunc.png",
                            "invalid-zlib.png" };
  GDir *dir = g_dir_open (suite, 0, NULL);
  const char *name;
  int decoded = 0;

  if (dir == NULL)
    {
      g_test_skip ("PngSuite (golang-1.19-src) not installed");
      return;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (suite, name, NULL);
      g_autofree char *contents = NULL;
      gsize length;
      g_autoptr (HlImage) image = NULL;

      if (!g_str_has_suffix (name, ".png"))
        continue;
      g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
      g_assert_cmpuint (length, >=, 24);
      image = load_ok (path);
      g_assert_cmpint (image->width, ==, GUINT32_FROM_BE (*(guint32 *) (contents + 16)));
      g_assert_cmpint (image->height, ==, GUINT32_FROM_BE (*(guint32 *) (contents + 20)));
      for (gsize i = 0; i < (gsize) image->width * image->height; i++)
        g_assert_true (image->pixels[i] >= 0.f && image->pixels[i] <= 1.f);
      decoded++;
    }
  g_dir_close (dir);
  g_assert_cmpint (decoded, >, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (invalid); i++)
    {
      g_autofree char *path = g_build_filename (root, invalid[i], NULL);

      if (g_file_test (path, G_FILE_TEST_EXISTS))
        assert_refused (path, HL_STUDY_ERROR_FORMAT);
    }
}

static void
test_not_image (Fixture *f, gconstpointer data)
{
  g_autofree char *text = g_build_filename (f->dir, "notes.png", NULL);
  g_autofree char *empty = g_build_filename (f->dir, "empty.png", NULL);
  g_autofree char *contents = g_strnfill (200, 'x');
  GError *error = NULL;

  g_assert_true (g_file_set_contents (text, contents, -1, NULL));
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  assert_refused (text, HL_STUDY_ERROR_FORMAT);
  assert_refused (empty, HL_STUDY_ERROR_FORMAT);
  /* the PNG decoder alone refuses it as well */
  g_assert_null (hl_png_load (text, &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT);
  g_clear_error (&error);
  /* a directory is not an image either */
  assert_refused (f->dir, HL_STUDY_ERROR_IO);
}

static void
test_missing (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "nowhere.png", NULL);
  GError *error = NULL;

  assert_refused (path, HL_STUDY_ERROR_IO);
  g_assert_null (hl_png_load (path, &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO);
  g_clear_error (&error);
}

/* "DICM" at offset 128 is sniffed as DICOM whatever the name; without DCMTK it is refused as
 * unsupported, with DCMTK this garbage file is refused by the DICOM decoder. */
static void
test_sniff (Fixture *f, gconstpointer data)
{
  g_autofree char *png = write_valid (f, "looks-like.dcm");
  g_autofree char *dicom = g_build_filename (f->dir, "image.png", NULL);
  char head[140] = { 0 };
  HlImageFormat format = HL_IMAGE_PNG;
  GError *error = NULL;
  HlImage *image;

  memcpy (head + 128, "DICM", 4);
  g_assert_true (g_file_set_contents (dicom, head, sizeof head, NULL));
  g_assert_true (hl_image_sniff (dicom, &format, &error));
  g_assert_no_error (error);
  g_assert_cmpint (format, ==, HL_IMAGE_DICOM);
  g_assert_true (hl_image_sniff (png, &format, &error));
  g_assert_cmpint (format, ==, HL_IMAGE_PNG);
  g_assert_false (hl_image_sniff_data ((const guint8 *) head, 131, &format));

  image = hl_image_load (dicom, &error);
  g_assert_null (image);
  g_assert_nonnull (error);
  g_assert_true (error->domain == HL_STUDY_ERROR);
  g_assert_nonnull (strstr (error->message, dicom));
#ifndef HL_HAVE_DICOM
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSUPPORTED);
#endif
  g_error_free (error);
}

/* A real NIH study image (8-bit gray, 1024x1024 per data/README.md). */
static void
test_real (Fixture *f, gconstpointer data)
{
  const char *shared = g_getenv ("HL_SHARED_DATA");
  g_autofree char *path = NULL;
  g_autoptr (HlImage) image = NULL;
  double sum = 0;

  if (shared == NULL
      || !g_file_test ((path = g_build_filename (shared, "studies", "patient-00000005",
                                                  "00000005_000.png", NULL)),
                       G_FILE_TEST_EXISTS))
    {
      g_test_skip ("HL_SHARED_DATA/studies not available: real-image check skipped");
      return;
    }
  image = load_ok (path);
  g_assert_cmpint (image->width, ==, 1024);
  g_assert_cmpint (image->height, ==, 1024);
  g_assert_cmpint (image->bit_depth, ==, 8);
  g_assert_false (image->was_color);
  for (int i = 0; i < 1024 * 1024; i++)
    {
      g_assert_cmpfloat (image->pixels[i], >=, 0.f);
      g_assert_cmpfloat (image->pixels[i], <=, 1.f);
      sum += image->pixels[i];
    }
  /* an X-ray is neither blank nor saturated */
  g_assert_cmpfloat (sum / (1024 * 1024), >, 0.1);
  g_assert_cmpfloat (sum / (1024 * 1024), <, 0.9);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, hl_test_dir_set_up, func, hl_test_dir_tear_down)
  ADD ("/study/png/gray", test_gray);
  ADD ("/study/png/color", test_color);
  ADD ("/study/png/palette", test_palette);
  ADD ("/study/png/interlaced", test_interlaced);
  ADD ("/study/png/phys-and-memory", test_phys_and_memory);
  ADD ("/study/png/truncated", test_truncated);
  ADD ("/study/png/bad-crc", test_bad_crc);
  ADD ("/study/png/bomb", test_bomb);
  ADD ("/study/png/ancillary-claims", test_ancillary_claims);
  ADD ("/study/png/ancillary-skipped", test_ancillary_skipped);
  ADD ("/study/png/after-last-row", test_after_last_row);
  ADD ("/study/png/stalled", test_stalled);
  ADD ("/study/png/interlaced-memory", test_interlaced_memory);
  ADD ("/study/png/suite-damage", test_suite_damage);
  ADD ("/study/png/suite", test_suite);
  ADD ("/study/png/not-image", test_not_image);
  ADD ("/study/png/missing", test_missing);
  ADD ("/study/image/sniff", test_sniff);
  ADD ("/study/png/real", test_real);
#undef ADD

  return g_test_run ();
}
