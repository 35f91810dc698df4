/* test-study-png.c — PNG decoding (hl_png_load, hl_image_load, hl_image_sniff): every PNG layout we
 * accept, written here with libpng from known samples, and every refusal (truncated, bad CRC,
 * decompression bomb, not an image, missing file). */
#include "study/hl-image.h"
#include "study/hl-png.h"

#include "hl-test-png.h"

#include <png.h>
#include <stdio.h>
#include <string.h>
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

/* Writes a gray file of every bit depth and checks value / (2^depth - 1) exactly. */
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
      for (int i = 0; i < s.width * s.height; i++)
        g_assert_cmpfloat_with_epsilon (image->pixels[i], samples[i] / max, 1e-6);
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
        for (int i = 0; i < s.width * s.height; i++)
          {
            const guint16 *p = samples + i * channels;
            double want = channels >= 3 ? luma (p[0], p[1], p[2]) / max : p[0] / max;
            g_assert_cmpfloat_with_epsilon (image->pixels[i], want, 1e-5);
          }
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
        for (int i = 0; i < s.width * s.height; i++)
          {
            const png_color *c = &palette[samples[i]];
            g_assert_cmpfloat_with_epsilon (image->pixels[i], luma (c->red, c->green, c->blue) / 255,
                                            1e-5);
          }
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
  g_assert_cmpfloat_with_epsilon (image->pixel_spacing[0], 0.143, 1e-4);
  g_assert_cmpfloat_with_epsilon (image->pixel_spacing[1], 0.143, 1e-4);

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
  ADD ("/study/png/not-image", test_not_image);
  ADD ("/study/png/missing", test_missing);
  ADD ("/study/image/sniff", test_sniff);
  ADD ("/study/png/real", test_real);
#undef ADD

  return g_test_run ();
}
