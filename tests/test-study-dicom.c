/* test-study-dicom.c — DICOM decoding (src/study/hl-dicom.cpp): every input is written at test
 * time with DCMTK (dicom-writer.cpp) into a temporary folder, then decoded and compared against
 * values computed here from the DICOM standard's formulas (rescale, linear VOI window, VOI LUT,
 * MONOCHROME1 inversion), against the uncompressed decode (lossless syntaxes) or within a bound
 * (JPEG baseline). Refusals (multi-frame, no pixel data, bomb header, garbage, truncation) check the
 * error code. With HL_SHARED_DATA, one NIH PNG converted to DICOM must decode to the PNG's pixels. */
#include "dicom-writer.h"
#include "hl-dicom.h"
#include "hl-test-bound.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static char *tmp_dir;

/* The bound of a monochrome pixel of exact value @v (a fraction of the output range). DCMTK
 * renders a window (and the min-max window) to 16 bits as (Uint16) (offset + value * gradient)
 * in double (dimoopxt.h, VOI LINEAR without a display function): a truncation, so it lies below
 * the exact 65535 v by less than one quantum, plus the double arithmetic's error, under 2^-30
 * quantum for terms below 2^21. hl_dicom_load() then divides by 65535.0f, one float rounding:
 * u (|v| + 1 / 65535). The float64 reference's own few 2^-53 |v| fit in a second u |v|. */
static double
out_bound (double v)
{
  return (1 + 2 * HL_TEST_U) / 65535 + 2 * HL_TEST_U * fabs (v);
}

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

static HlTestDicomSpec
spec_default (int width, int height, int bits_stored, const guint16 *pixels)
{
  HlTestDicomSpec spec = { 0 };

  spec.width = width;
  spec.height = height;
  spec.frames = 1;
  spec.samples = 1;
  spec.bits_stored = bits_stored;
  spec.pixels = pixels;
  spec.syntax = HL_TEST_DICOM_EXPLICIT_LE;
  return spec;
}

/* (height, width) seeded values in [0, max]: a diagonal ramp plus noise, with the first pixel at
 * 0 and the last at @max so that min-max windows are known. */
static guint16 *
make_pixels (int width, int height, int samples, guint max, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  gsize n = (gsize) width * height * samples;
  guint16 *p = g_new (guint16, n);

  for (gsize i = 0; i < n; i++)
    {
      gsize pixel = i / samples;
      double ramp = (double) (pixel % width + pixel / width) / (width + height - 2);
      double v = ramp * max * 0.9 + g_rand_double_range (rand, 0, 0.1 * max);
      p[i] = (guint16) CLAMP (lround (v), 0, (long) max);
    }
  for (int s = 0; s < samples; s++)
    {
      p[s] = 0;
      p[n - samples + s] = (guint16) max;
    }
  g_rand_free (rand);
  return p;
}

static void
write_spec (const HlTestDicomSpec *spec, const char *path)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (hl_test_dicom_write (spec, path, &error));
  g_assert_no_error (error);
}

static HlImage *
load_ok (const char *path)
{
  g_autoptr (GError) error = NULL;
  HlImage *image = hl_dicom_load (path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (image);
  g_assert_cmpint (image->format, ==, HL_IMAGE_DICOM);
  g_assert_cmpstr (image->path, ==, path);
  return image;
}

static void
assert_refused (const char *path, int code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = hl_dicom_load (path, &error);

  g_assert_null (image);
  g_assert_error (error, HL_STUDY_ERROR, code);
  g_assert_nonnull (strstr (error->message, path));
}

/* PS3.3 C.11.2.1.2.1, VOI LUT Function LINEAR, as a fraction of the output range. */
static double
window_linear (double x, double c, double w)
{
  if (x <= c - 0.5 - (w - 1) / 2)
    return 0;
  if (x > c - 0.5 + (w - 1) / 2)
    return 1;
  return (x - (c - 0.5)) / (w - 1) + 0.5;
}

/* @a and @b have the same size and pixels, bit for bit. */
static void
assert_same_pixels (const HlImage *a, const HlImage *b)
{
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  g_assert_cmpmem (a->pixels, (gsize) a->width * a->height * sizeof (float), b->pixels,
                   (gsize) b->width * b->height * sizeof (float));
}

/* @dicom holds the 8-bit PNG @png's pixels, written with the window that maps v to v / 255, which
 * DCMTK renders exactly as 257 v (test_8bit_and_colour): its decode 257 v / 65535.0f is within
 * u |v| of v / 255, hl_png_load's v * (1 / 255.f) within gamma_2 |v| (the reciprocal and the
 * product): gamma_3 |v| apart at most. */
static void
assert_png_pixels (const HlImage *png, const HlImage *dicom, const char *what)
{
  HlTestBounded check = HL_TEST_BOUNDED_INIT (what);

  g_assert_cmpint (png->width, ==, dicom->width);
  g_assert_cmpint (png->height, ==, dicom->height);
  for (gsize i = 0; i < (gsize) png->width * png->height; i++)
    hl_test_bounded_check (&check, dicom->pixels[i], png->pixels[i],
                           hl_test_gamma (3) * png->pixels[i]);
  hl_test_bounded_end (&check);
}

static gboolean
file_contains (const char *path, const char *needle)
{
  g_autofree char *data = NULL;
  gsize size;

  g_assert_true (g_file_get_contents (path, &data, &size, NULL));
  return memmem (data, size, needle, strlen (needle)) != NULL;
}

/* The bytes of @path, which must exist. */
static guint8 *
read_bytes (const char *path, gsize *size)
{
  char *data = NULL;

  g_assert_true (g_file_get_contents (path, &data, size, NULL));
  return (guint8 *) data;
}

/* The offset of the first Pixel Data tag (7fe0,0010) in explicit or implicit VR little endian. */
static gsize
pixel_data_offset (const guint8 *data, gsize size)
{
  const guint8 tag[4] = { 0xe0, 0x7f, 0x10, 0x00 };
  const guint8 *at = memmem (data, size, tag, sizeof tag);

  g_assert_nonnull (at);
  return (gsize) (at - data);
}

static void
test_rescale_window (void)
{
  const int w = 37, h = 23;
  g_autofree guint16 *pixels = make_pixels (w, h, 1, 65535, 1);
  HlTestDicomSpec spec = spec_default (w, h, 16, pixels);
  g_autofree char *path = tmp_path ("rescale-window.dcm");
  g_autoptr (HlImage) image = NULL;

  spec.has_rescale = TRUE;
  spec.slope = 2;
  spec.intercept = -1000;
  spec.has_window = TRUE;
  spec.window_center = 60000;
  spec.window_width = 80000;
  write_spec (&spec, path);
  image = load_ok (path);
  g_assert_cmpint (image->width, ==, w);
  g_assert_cmpint (image->height, ==, h);
  g_assert_cmpint (image->bit_depth, ==, 16);
  g_assert_false (image->was_color);
  HlTestBounded check = HL_TEST_BOUNDED_INIT ("rescaled and windowed");
  for (int i = 0; i < w * h; i++)
    {
      double want = window_linear (2.0 * pixels[i] - 1000, 60000, 80000);
      hl_test_bounded_check (&check, image->pixels[i], want, out_bound (want));
    }
  hl_test_bounded_end (&check);
}

static void
test_min_max (void)
{
  const int w = 16, h = 9;
  g_autofree guint16 *pixels = make_pixels (w, h, 1, 4000, 2);
  HlTestDicomSpec spec = spec_default (w, h, 12, pixels);
  g_autofree char *path = tmp_path ("min-max.dcm");
  g_autoptr (HlImage) image = NULL;

  for (int i = 0; i < w * h; i++)
    pixels[i] += 50; /* min 50, max 4050: a window from the data, not from the bit depth */
  write_spec (&spec, path);
  image = load_ok (path);
  g_assert_cmpint (image->bit_depth, ==, 12);
  g_assert_cmpfloat (image->pixels[0], ==, 0.0f);
  g_assert_cmpfloat (image->pixels[w * h - 1], ==, 1.0f);
  /* DCMTK's min-max window: center (min + max + 1) / 2, width max - min + 1 (dimopxt.h), which
   * the linear function maps to (x - min) / (max - min), rendered like any window. */
  HlTestBounded check = HL_TEST_BOUNDED_INIT ("min-max window");
  for (int i = 0; i < w * h; i++)
    {
      double want = (pixels[i] - 50) / 4000.0;
      hl_test_bounded_check (&check, image->pixels[i], want, out_bound (want));
    }
  hl_test_bounded_end (&check);
}

static void
test_monochrome1 (void)
{
  const int w = 20, h = 11;
  g_autofree guint16 *pixels = make_pixels (w, h, 1, 1023, 3);
  HlTestDicomSpec spec = spec_default (w, h, 10, pixels);
  g_autofree char *windowed = tmp_path ("mono1-window.dcm");
  g_autofree char *plain = tmp_path ("mono1.dcm");
  g_autoptr (HlImage) a = NULL;
  g_autoptr (HlImage) b = NULL;

  spec.photometric = "MONOCHROME1";
  write_spec (&spec, plain);
  spec.has_window = TRUE;
  spec.window_center = 400;
  spec.window_width = 500;
  write_spec (&spec, windowed);

  a = load_ok (plain);
  g_assert_cmpfloat (a->pixels[0], ==, 1.0f); /* stored 0 is white in MONOCHROME1 */
  g_assert_cmpfloat (a->pixels[w * h - 1], ==, 0.0f);
  b = load_ok (windowed);
  HlTestBounded check = HL_TEST_BOUNDED_INIT ("MONOCHROME1 window");
  for (int i = 0; i < w * h; i++)
    {
      double want = 1.0 - window_linear (pixels[i], 400, 500);
      hl_test_bounded_check (&check, b->pixels[i], want, out_bound (want));
    }
  hl_test_bounded_end (&check);
}

static void
test_voi_lut (void)
{
  const int w = 12, h = 10, entries = 256, first = 100;
  g_autofree guint16 *pixels = make_pixels (w, h, 1, 511, 4);
  guint16 lut[256];
  HlTestDicomSpec spec = spec_default (w, h, 12, pixels);
  g_autofree char *path = tmp_path ("voi-lut.dcm");
  g_autoptr (HlImage) image = NULL;

  for (int i = 0; i < entries; i++)
    lut[i] = (guint16) (4095 - (i * i) / 16); /* decreasing, non-linear, 12-bit */
  spec.voi_lut = lut;
  spec.voi_lut_entries = entries;
  spec.voi_lut_first = first;
  spec.voi_lut_bits = 12;
  write_spec (&spec, path);
  image = load_ok (path);
  /* PS3.3 C.11.2.1.1 maps an entry L of a 12-bit LUT to L / 4095 of the output range; DCMTK maps
   * it to L 65536 / 2^12 = 16 L of 65535 (dimoopxt.h: its output range is high - low + 1 and
   * its LUT range 2^bits), so its top entry 4095 comes out as 65520, L / 4095 - 16 L / 65535 =
   * 15 L / (4095 65535) below the standard's value (at most 15 quanta), then rendered like a
   * window (out_bound). */
  HlTestBounded check = HL_TEST_BOUNDED_INIT ("VOI LUT");
  for (int i = 0; i < w * h; i++)
    {
      int index = CLAMP ((int) pixels[i] - first, 0, entries - 1);
      double expected = (double) lut[index] / 4095;
      hl_test_bounded_check (&check, image->pixels[i], expected,
                             15.0 * lut[index] / (4095.0 * 65535) + out_bound (expected));
    }
  hl_test_bounded_end (&check);
}

static void
test_8bit_and_colour (void)
{
  const int w = 9, h = 7;
  g_autofree guint16 *gray = make_pixels (w, h, 1, 255, 5);
  g_autofree guint16 *rgb = make_pixels (w, h, 3, 255, 6);
  HlTestDicomSpec spec = spec_default (w, h, 8, gray);
  g_autofree char *gray_path = tmp_path ("gray8.dcm");
  g_autofree char *rgb_path = tmp_path ("rgb8.dcm");
  g_autoptr (HlImage) a = NULL;
  g_autoptr (HlImage) b = NULL;

  spec.has_window = TRUE;
  spec.window_center = 128;
  spec.window_width = 256; /* the linear window that maps v to v / 255 */
  write_spec (&spec, gray_path);
  a = load_ok (gray_path);
  g_assert_cmpint (a->bit_depth, ==, 8);
  /* This window's DCMTK offset is 0 and gradient 65535 / 255 = 257: 257 v exactly, no
   * truncation; the division by 65535.0f rounds once (u |v|), the reference v / 255.0 once in
   * double (2^-53 |v|): 2u |v|. */
  HlTestBounded gray_check = HL_TEST_BOUNDED_INIT ("8-bit window");
  for (int i = 0; i < w * h; i++)
    hl_test_bounded_check (&gray_check, a->pixels[i], gray[i] / 255.0,
                           2 * HL_TEST_U * gray[i] / 255.0);
  hl_test_bounded_end (&gray_check);

  spec = spec_default (w, h, 8, rgb);
  spec.samples = 3;
  write_spec (&spec, rgb_path);
  b = load_ok (rgb_path);
  g_assert_true (b->was_color);
  /* DCMTK widens 8-bit colour to 16 bits by the integer factor 65535 / 255 = 257 (dicoopxt.h),
   * exactly; hl_dicom_load's luma then rounds the three float coefficients, the three products,
   * the two sums and the division by 65535, five roundings on each non-negative term at most:
   * gamma_5 |y|; the float64 reference's own seven roundings (7 2^-53) fit in gamma_6. */
  HlTestBounded rgb_check = HL_TEST_BOUNDED_INIT ("8-bit colour luma");
  for (int i = 0; i < w * h; i++)
    {
      double y = (0.2126 * rgb[3 * i] + 0.7152 * rgb[3 * i + 1] + 0.0722 * rgb[3 * i + 2]) / 255;
      hl_test_bounded_check (&rgb_check, b->pixels[i], y, hl_test_gamma (6) * y);
    }
  hl_test_bounded_end (&rgb_check);
}

static void
test_metadata (void)
{
  guint16 pixels[4] = { 0, 10, 20, 30 };
  HlTestDicomSpec spec = spec_default (2, 2, 8, pixels);
  g_autofree char *path = tmp_path ("meta.dcm");
  g_autofree char *imager = tmp_path ("meta-imager.dcm");
  g_autofree char *bare = tmp_path ("meta-none.dcm");
  g_autoptr (HlImage) a = NULL;
  g_autoptr (HlImage) b = NULL;
  g_autoptr (HlImage) c = NULL;

  spec.patient_id = "00003140";
  spec.study_date = "20170412";
  spec.view_position = "PA";
  spec.pixel_spacing[0] = 0.143;
  spec.pixel_spacing[1] = 0.139;
  write_spec (&spec, path);
  a = load_ok (path);
  g_assert_cmpstr (a->patient_id, ==, "00003140");
  g_assert_cmpstr (a->study_date, ==, "20170412");
  g_assert_cmpstr (a->view_position, ==, "PA");
  /* Pixel Spacing "0.143\\0.139" read as Float64: a correctly rounded reading and the literal are
   * each within 2^-53 |v| of the decimal, so within 2^-52 |v| of each other (equal when DCMTK's
   * reading is correctly rounded, as glibc's strtod is). */
  hl_test_assert_close ("row spacing", a->pixel_spacing[0], 0.143, 2 * HL_TEST_U_DOUBLE * 0.143);
  hl_test_assert_close ("column spacing", a->pixel_spacing[1], 0.139,
                        2 * HL_TEST_U_DOUBLE * 0.139);

  spec.imager_spacing = TRUE;
  spec.study_date = "2017.04.12";
  spec.view_position = "AP";
  write_spec (&spec, imager);
  b = load_ok (imager);
  g_assert_cmpstr (b->study_date, ==, "20170412");
  g_assert_cmpstr (b->view_position, ==, "AP");
  hl_test_assert_close ("imager row spacing", b->pixel_spacing[0], 0.143,
                        2 * HL_TEST_U_DOUBLE * 0.143);

  write_spec (&(HlTestDicomSpec){ .width = 2, .height = 2, .frames = 1, .samples = 1,
                                  .bits_stored = 8, .pixels = pixels },
              bare);
  c = load_ok (bare);
  g_assert_null (c->patient_id);
  g_assert_null (c->study_date);
  g_assert_null (c->view_position);
  g_assert_cmpfloat (c->pixel_spacing[0], ==, 0);
  g_assert_cmpfloat (c->pixel_spacing[1], ==, 0);
}

/* Writes @pixels uncompressed and in @syntax; returns both decodes after checking that the
 * compressed file really carries @uid. */
static void
write_pair (HlTestDicomSpec *spec, HlTestDicomSyntax syntax, const char *uid, const char *name,
            HlImage **raw, HlImage **coded)
{
  g_autofree char *raw_name = g_strconcat (name, "-raw.dcm", NULL);
  g_autofree char *coded_name = g_strconcat (name, ".dcm", NULL);
  g_autofree char *raw_path = tmp_path (raw_name);
  g_autofree char *coded_path = tmp_path (coded_name);

  spec->syntax = HL_TEST_DICOM_EXPLICIT_LE;
  write_spec (spec, raw_path);
  spec->syntax = syntax;
  write_spec (spec, coded_path);
  g_assert_true (file_contains (coded_path, uid));
  *raw = load_ok (raw_path);
  *coded = load_ok (coded_path);
}

static void
test_lossless (gconstpointer data)
{
  HlTestDicomSyntax syntax = GPOINTER_TO_INT (data);
  const char *uid = syntax == HL_TEST_DICOM_RLE ? "1.2.840.10008.1.2.5" : "1.2.840.10008.1.2.4.70";
  const int w = 64, h = 48;
  g_autofree guint16 *pixels = make_pixels (w, h, 1, 4095, 7);
  HlTestDicomSpec spec = spec_default (w, h, 12, pixels);
  g_autoptr (HlImage) raw = NULL;
  g_autoptr (HlImage) coded = NULL;

  spec.has_window = TRUE;
  spec.window_center = 2048;
  spec.window_width = 4096;
  spec.photometric = syntax == HL_TEST_DICOM_RLE ? "MONOCHROME1" : NULL;
  write_pair (&spec, syntax, uid, syntax == HL_TEST_DICOM_RLE ? "rle" : "jpeg-lossless", &raw,
              &coded);
  assert_same_pixels (raw, coded);
  g_assert_cmpint (coded->bit_depth, ==, 12);
}

static void
test_jpeg_baseline (void)
{
  const int w = 64, h = 64;
  g_autofree guint16 *pixels = g_new (guint16, w * h);
  HlTestDicomSpec spec = spec_default (w, h, 8, pixels);
  g_autoptr (HlImage) raw = NULL;
  g_autoptr (HlImage) coded = NULL;

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      pixels[y * w + x] = (guint16) (40 + 2 * x + y); /* smooth: what JPEG keeps well */
  spec.has_window = TRUE;
  spec.window_center = 128;
  spec.window_width = 256;
  write_pair (&spec, HL_TEST_DICOM_JPEG_BASELINE, "1.2.840.10008.1.2.4.50", "jpeg-baseline", &raw,
              &coded);
  /* The ramp is linear within each 8 x 8 block, so its DCT is zero but for the DC term and the
   * odd horizontal (u, 0) and vertical (0, v) ones. dicom-writer.cpp encodes at IJG quality 95,
   * the Annex K luminance table scaled to 10 % ((q 10 + 50) / 100, at least 1), so each of those
   * nine comes back within Q / 2 and weighs at most C(u) C(v) / 4 in a pixel: Q00 / 16 +
   * sum Q / (8 sqrt 2); libjpeg's integer IDCT adds at most 1 (IEEE 1180's peak error) and the
   * rounding to 8 bits 1/2. Both decodes then go through the same exact window (257 v). */
  static const int k1_row0[8] = { 16, 11, 10, 16, 24, 40, 51, 61 }; /* (u, 0), u = 0 .. 7 */
  static const int k1_col0[8] = { 16, 12, 14, 14, 18, 24, 49, 72 }; /* (0, v), v = 0 .. 7 */
  double levels = MAX (1, (k1_row0[0] * 10 + 50) / 100) / 16.0 + 1.5;
  for (int k = 1; k < 8; k += 2)
    levels += (MAX (1, (k1_row0[k] * 10 + 50) / 100) + MAX (1, (k1_col0[k] * 10 + 50) / 100))
              / (8 * G_SQRT2);
  HlTestBounded check = HL_TEST_BOUNDED_INIT ("JPEG baseline of a ramp");
  for (int i = 0; i < w * h; i++)
    hl_test_bounded_check (&check, coded->pixels[i], raw->pixels[i], levels / 255);
  hl_test_bounded_end (&check);
}

static void
test_multi_frame (void)
{
  const int w = 8, h = 8;
  g_autofree guint16 *pixels = make_pixels (w, h * 3, 1, 4095, 8);
  HlTestDicomSpec spec = spec_default (w, h, 12, pixels);
  g_autofree char *path = tmp_path ("multi-frame.dcm");
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = NULL;

  spec.frames = 3;
  write_spec (&spec, path);
  image = hl_dicom_load (path, &error);
  g_assert_null (image);
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "multi-frame"));
}

static void
test_no_pixel_data (void)
{
  HlTestDicomSpec spec = spec_default (16, 16, 8, NULL);
  g_autofree char *path = tmp_path ("no-pixels.dcm");

  write_spec (&spec, path);
  assert_refused (path, HL_STUDY_ERROR_UNSUPPORTED);
}

/* Overwrites the value of the explicit-VR-little-endian US attribute (0028,@element) in @data. */
static void
patch_us (guint8 *data, gsize size, guint8 element, guint16 value)
{
  const guint8 tag[8] = { 0x28, 0x00, element, 0x00, 'U', 'S', 0x02, 0x00 };
  guint8 *at = memmem (data, size, tag, sizeof tag);

  g_assert_nonnull (at);
  at[8] = value & 0xff;
  at[9] = value >> 8;
}

/* Writes @size bytes at @data to @path; both hl_dicom_load() and hl_dicom_load_from_data() must
 * refuse them with @code. */
static void
assert_bytes_refused (const char *path, const guint8 *data, gsize size, int code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = NULL;

  g_assert_true (g_file_set_contents (path, (const char *) data, size, NULL));
  assert_refused (path, code);
  image = hl_dicom_load_from_data (data, size, path, &error);
  g_assert_null (image);
  g_assert_error (error, HL_STUDY_ERROR, code);
}

static void
test_bomb (void)
{
  const struct
  {
    HlTestDicomSyntax syntax;
    guint16 rows, cols;
  } cases[] = {
    { HL_TEST_DICOM_EXPLICIT_LE, 65535, 65535 },
    { HL_TEST_DICOM_EXPLICIT_LE, 1, 20000 },    /* one side too long */
    { HL_TEST_DICOM_RLE, 16384, 16384 },        /* each side allowed, the area is not */
    { HL_TEST_DICOM_JPEG_LOSSLESS, 65535, 65535 },
  };
  guint16 pixels[64] = { 0 };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      HlTestDicomSpec spec = spec_default (8, 8, 16, pixels);
      g_autofree char *name = g_strdup_printf ("bomb-%zu.dcm", i);
      g_autofree char *path = tmp_path (name);
      g_autofree guint8 *data = NULL;
      gsize size;

      spec.syntax = cases[i].syntax;
      write_spec (&spec, path);
      g_assert_true (g_file_get_contents (path, (char **) &data, &size, NULL));
      patch_us (data, size, 0x10, cases[i].rows);
      patch_us (data, size, 0x11, cases[i].cols);
      assert_bytes_refused (path, data, size, HL_STUDY_ERROR_TOO_LARGE);
    }
}

/* Pixel Data whose length field claims nearly 4 GiB in a file of a few hundred bytes: refused from
 * the header, nothing that size is allocated (the fuzz build would report it). */
static void
test_length_lie (void)
{
  guint16 pixels[64] = { 0 };
  HlTestDicomSpec spec = spec_default (8, 8, 16, pixels);
  g_autofree char *path = tmp_path ("length-lie.dcm");
  g_autofree guint8 *data = NULL;
  const guint8 tag[8] = { 0xe0, 0x7f, 0x10, 0x00, 'O', 'W', 0x00, 0x00 };
  guint8 *at;
  gsize size;

  write_spec (&spec, path);
  g_assert_true (g_file_get_contents (path, (char **) &data, &size, NULL));
  at = memmem (data, size, tag, sizeof tag);
  g_assert_nonnull (at);
  memcpy (at + 8, "\xf0\xff\xff\xff", 4);
  assert_bytes_refused (path, data, size, HL_STUDY_ERROR_FORMAT);
}

/* A 128-byte preamble and "DICM" followed by seeded random bytes, of several lengths. */
static void
test_garbage (void)
{
  GRand *rand = g_rand_new_with_seed (9);

  for (int round = 0; round < 200; round++)
    {
      gsize size = 132 + g_rand_int_range (rand, 0, 4096);
      g_autofree guint8 *data = g_malloc0 (size);
      g_autoptr (GError) error = NULL;
      g_autoptr (HlImage) image = NULL;

      memcpy (data + 128, "DICM", 4);
      for (gsize i = 132; i < size; i++)
        data[i] = (guint8) g_rand_int (rand);
      if (round % 2 == 1 && size > 140)
        memcpy (data + 132, "\x02\x00\x00\x00UL\x04\x00", 8); /* a plausible first element */
      image = hl_dicom_load_from_data (data, size, "garbage", &error);
      g_assert_null (image);
      g_assert_true (error != NULL && error->domain == HL_STUDY_ERROR);
    }
  g_rand_free (rand);
}

/* A valid file (uncompressed or deflated) cut at every 7th length: always an error, never an
 * image (a cut in the pixels leaves Pixel Data shorter than the image), never a crash. */
static void
test_truncated (gconstpointer syntax)
{
  const int w = 10, h = 10;
  g_autofree guint16 *pixels = make_pixels (w, h, 1, 4095, 10);
  HlTestDicomSpec spec = spec_default (w, h, 12, pixels);
  g_autofree char *path = tmp_path ("truncated.dcm");
  g_autofree char *cut_path = tmp_path ("truncated-cut.dcm");
  g_autofree guint8 *data = NULL;
  gsize size;

  spec.patient_id = "P1";
  spec.syntax = GPOINTER_TO_INT (syntax);
  write_spec (&spec, path);
  data = read_bytes (path, &size);
  for (gsize cut = 0; cut < size; cut += 7)
    {
      g_autoptr (GError) e1 = NULL;
      g_autoptr (GError) e2 = NULL;
      g_autoptr (HlImage) from_data = hl_dicom_load_from_data (data, cut, "cut", &e1);
      g_autoptr (HlImage) from_file = NULL;

      g_assert_null (from_data);
      g_assert_true (e1 != NULL && e1->domain == HL_STUDY_ERROR);
      g_assert_true (g_file_set_contents (cut_path, (char *) data, cut, NULL));
      from_file = hl_dicom_load (cut_path, &e2);
      g_assert_null (from_file);
      g_assert_true (e2 != NULL && e2->domain == HL_STUDY_ERROR);
    }
}

static void
test_missing (void)
{
  g_autofree char *path = tmp_path ("does-not-exist.dcm");

  assert_refused (path, HL_STUDY_ERROR_IO);
  assert_refused (tmp_dir, HL_STUDY_ERROR_IO);
}

/* hl_dicom_load_from_data() gives what hl_dicom_load() gives; hl_image_load() finds DICOM by
 * content even under a .png name. */
static void
test_from_data_and_sniffing (void)
{
  const int w = 13, h = 17;
  g_autofree guint16 *pixels = make_pixels (w, h, 1, 65535, 11);
  HlTestDicomSpec spec = spec_default (w, h, 16, pixels);
  g_autofree char *path = tmp_path ("looks-like.png");
  g_autofree guint8 *data = NULL;
  gsize size;
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) a = NULL;
  g_autoptr (HlImage) b = NULL;
  g_autoptr (HlImage) c = NULL;

  spec.patient_id = "X";
  write_spec (&spec, path);
  a = load_ok (path);
  g_assert_true (g_file_get_contents (path, (char **) &data, &size, NULL));
  b = hl_dicom_load_from_data (data, size, "memory", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (b->path, ==, "memory");
  g_assert_cmpstr (b->patient_id, ==, "X");
  assert_same_pixels (a, b);
  c = hl_image_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (c->format, ==, HL_IMAGE_DICOM);
  assert_same_pixels (a, c);
}

typedef struct
{
  const char *paths[2];
  const HlImage *expected[2];
} ThreadJob;

static gpointer
load_many (gpointer data)
{
  const ThreadJob *job = data;

  for (int round = 0; round < 20; round++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (HlImage) image = hl_dicom_load (job->paths[round % 2], &error);

      g_assert_no_error (error);
      assert_same_pixels (job->expected[round % 2], image);
    }
  return NULL;
}

/* Four threads decode JPEG lossless and RLE files at once (DCMTK's codec list and decoders shared
 * between them), and every result equals the single-thread one. */
static void
test_threads (void)
{
  const int w = 48, h = 40;
  g_autofree guint16 *pixels = make_pixels (w, h, 1, 4095, 12);
  HlTestDicomSpec spec = spec_default (w, h, 12, pixels);
  g_autofree char *jpeg = tmp_path ("threads-jpeg.dcm");
  g_autofree char *rle = tmp_path ("threads-rle.dcm");
  g_autoptr (HlImage) a = NULL;
  g_autoptr (HlImage) b = NULL;
  ThreadJob job;
  GThread *threads[4];

  spec.syntax = HL_TEST_DICOM_JPEG_LOSSLESS;
  write_spec (&spec, jpeg);
  spec.syntax = HL_TEST_DICOM_RLE;
  write_spec (&spec, rle);
  a = load_ok (jpeg);
  b = load_ok (rle);
  job = (ThreadJob){ { jpeg, rle }, { a, b } };
  for (int i = 0; i < 4; i++)
    threads[i] = g_thread_new ("dicom", load_many, &job);
  for (int i = 0; i < 4; i++)
    g_thread_join (threads[i]);
}

/* One NIH PNG (the first by name) written as 8-bit DICOM, uncompressed and JPEG lossless, with the
 * window that maps v to v / 255: both must decode to the PNG's own pixels. */
static void
test_nih_png (void)
{
  const char *shared = g_getenv ("HL_SHARED_DATA");
  g_autofree char *dir = NULL;
  g_autoptr (GDir) listing = NULL;
  g_autofree char *first = NULL;
  g_autofree char *png_path = NULL;
  g_autofree guint16 *pixels = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) png = NULL;
  g_autoptr (HlImage) raw = NULL;
  g_autoptr (HlImage) coded = NULL;
  HlTestDicomSpec spec;
  gsize n;

  dir = shared != NULL ? g_build_filename (shared, "nih", "images", NULL) : NULL;
  if (dir == NULL || !g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("HL_SHARED_DATA/nih/images is absent: no NIH image to convert to DICOM");
      return;
    }
  listing = g_dir_open (dir, 0, &error);
  g_assert_no_error (error);
  for (const char *name; (name = g_dir_read_name (listing)) != NULL;)
    if (g_str_has_suffix (name, ".png") && (first == NULL || strcmp (name, first) < 0))
      {
        g_free (first);
        first = g_strdup (name);
      }
  g_assert_nonnull (first);
  png_path = g_build_filename (dir, first, NULL);
  png = hl_image_load (png_path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (png->bit_depth, ==, 8);

  n = (gsize) png->width * png->height;
  pixels = g_new (guint16, n);
  for (gsize i = 0; i < n; i++)
    pixels[i] = (guint16) lroundf (png->pixels[i] * 255);
  spec = spec_default (png->width, png->height, 8, pixels);
  spec.has_window = TRUE;
  spec.window_center = 128;
  spec.window_width = 256;
  write_pair (&spec, HL_TEST_DICOM_JPEG_LOSSLESS, "1.2.840.10008.1.2.4.70", "nih", &raw, &coded);
  assert_png_pixels (png, raw, "NIH PNG as DICOM");
  assert_png_pixels (png, coded, "NIH PNG as JPEG lossless DICOM");
}

/* Sequences nested HL_DICOM_MAX_DEPTH (64) deep decode; 65 deep are refused before DCMTK parses
 * them, whether the lengths are defined or undefined, in explicit or implicit VR, plain or
 * deflated. */
static void
test_nesting_limit (void)
{
  const HlTestDicomSyntax syntaxes[] = { HL_TEST_DICOM_EXPLICIT_LE, HL_TEST_DICOM_IMPLICIT_LE,
                                         HL_TEST_DICOM_DEFLATED };
  guint16 pixels[64];

  for (int i = 0; i < 64; i++)
    pixels[i] = (guint16) (i * 60);
  for (gsize s = 0; s < G_N_ELEMENTS (syntaxes); s++)
    for (int undefined = 0; undefined < 2; undefined++)
      for (int levels = 64; levels <= 65; levels++)
        {
          HlTestDicomSpec spec = spec_default (8, 8, 12, pixels);
          g_autofree char *name = g_strdup_printf ("nest-%zu-%d-%d.dcm", s, undefined, levels);
          g_autofree char *path = tmp_path (name);
          g_autoptr (GError) error = NULL;
          g_autoptr (HlImage) image = NULL;

          spec.syntax = syntaxes[s];
          spec.nesting = levels;
          spec.undefined_lengths = undefined;
          write_spec (&spec, path);
          image = hl_dicom_load (path, &error);
          if (levels == 64)
            {
              g_assert_no_error (error);
              g_assert_cmpfloat (image->pixels[63], ==, 1.0f);
            }
          else
            {
              g_assert_null (image);
              g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT);
              g_assert_nonnull (strstr (error->message, path));
              g_assert_nonnull (strstr (error->message, "nest more than 64 levels"));
            }
        }
}

/* fuzz/corpus/dicom/deep-nesting.dcm's shape at the depth that crashed DCMTK 3.6.7 (its recursive
 * reader overflowed the stack a few thousand levels down; 50000 crash an 8 MiB main thread):
 * sequences of undefined length 50000 deep, spliced before the Pixel Data of a valid file. */
static void
test_deep_nesting (void)
{
  const int levels = 50000;
  const guint8 open_level[20] = { 0x40, 0x00, 0x30, 0xa7, 'S', 'Q', 0, 0, 0xff, 0xff,
                                  0xff, 0xff, 0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff };
  const guint8 close_level[16] = { 0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0,
                                   0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0 };
  guint16 pixels[64] = { 0 };
  HlTestDicomSpec spec = spec_default (8, 8, 12, pixels);
  g_autofree char *path = tmp_path ("deep-nesting.dcm");
  g_autofree guint8 *data = NULL;
  GByteArray *deep = g_byte_array_new ();
  gsize size, at;

  write_spec (&spec, path);
  data = read_bytes (path, &size);
  at = pixel_data_offset (data, size);
  g_byte_array_append (deep, data, (guint) at);
  for (int i = 0; i < levels; i++)
    g_byte_array_append (deep, open_level, sizeof open_level);
  for (int i = 0; i < levels; i++)
    g_byte_array_append (deep, close_level, sizeof close_level);
  g_byte_array_append (deep, data + at, (guint) (size - at));
  assert_bytes_refused (path, deep->data, deep->len, HL_STUDY_ERROR_FORMAT);
  g_byte_array_unref (deep);
}

/* 600000 empty items in one sequence (4.8 MB): DCMTK keeps about 275 bytes an element, so such a
 * file cost 223 MB and 3.7 s and was scored (96 MB of them: 3 GB, 90 s). More than 500000 elements
 * are refused by the walk, before DCMTK parses them. */
static void
test_element_limit (void)
{
  const int items = 600000;
  const guint8 item[8] = { 0xfe, 0xff, 0x00, 0xe0, 0, 0, 0, 0 };
  guint8 sequence[12] = { 0x40, 0x00, 0x30, 0xa7, 'S', 'Q', 0, 0 };
  guint16 pixels[64] = { 0 };
  HlTestDicomSpec spec = spec_default (8, 8, 12, pixels);
  g_autofree char *path = tmp_path ("many-elements.dcm");
  g_autofree guint8 *data = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = NULL;
  GByteArray *many = g_byte_array_new ();
  guint32 length = GUINT32_TO_LE ((guint32) (items * sizeof item));
  gsize size, at;

  write_spec (&spec, path);
  data = read_bytes (path, &size);
  at = pixel_data_offset (data, size);
  memcpy (sequence + 8, &length, 4);
  g_byte_array_append (many, data, (guint) at);
  g_byte_array_append (many, sequence, sizeof sequence);
  for (int i = 0; i < items; i++)
    g_byte_array_append (many, item, sizeof item);
  g_byte_array_append (many, data + at, (guint) (size - at));
  assert_bytes_refused (path, many->data, many->len, HL_STUDY_ERROR_FORMAT);
  image = hl_dicom_load (path, &error);
  g_assert_nonnull (strstr (error->message, "more than 500000 elements"));
  g_byte_array_unref (many);
}

/* A deflated file decodes to the pixels and identification of its uncompressed twin (DCMTK's
 * inflated lengths were checked against the compressed file's size and refused). */
static void
test_deflated (void)
{
  const int w = 128, h = 96;
  g_autofree guint16 *pixels = g_new (guint16, w * h);
  HlTestDicomSpec spec = spec_default (w, h, 12, pixels);
  g_autoptr (HlImage) raw = NULL;
  g_autoptr (HlImage) coded = NULL;

  for (int i = 0; i < w * h; i++)
    pixels[i] = (guint16) ((i % w) * 31 + (i / w) * 17); /* smooth: deflates to less than the
                                                          * Pixel Data's length */
  spec.patient_id = "DFL";
  spec.has_window = TRUE;
  spec.window_center = 1500;
  spec.window_width = 3000;
  spec.nesting = 3;
  write_pair (&spec, HL_TEST_DICOM_DEFLATED, "1.2.840.10008.1.2.1.99", "deflated", &raw, &coded);
  assert_same_pixels (raw, coded);
  g_assert_cmpstr (coded->patient_id, ==, "DFL");
  g_assert_cmpint (coded->bit_depth, ==, 12);
}

/* The path of fuzz/corpus/dicom/@name in the source tree. */
static char *
corpus_path (const char *name)
{
  g_autofree char *root = g_path_get_dirname (g_getenv ("HL_TOOLS"));

  return g_build_filename (root, "fuzz", "corpus", "dicom", name, NULL);
}

/* Real-world deflated files: pydicom's image_dfl.dcm and dcmconv +td's rewrite of pydicom's
 * MR_small.dcm (both in the fuzz corpus; DCMTK refused them as "claims N bytes, more than the file
 * holds") decode to what DCMTK's own inflating reader gives, rewritten uncompressed. */
static void
test_deflated_real (void)
{
  const char *names[] = { "pydicom-image_dfl.dcm", "dcmconv-td-MR_small.dcm" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = corpus_path (names[i]);
      g_autofree char *twin_name = g_strconcat (names[i], "-twin.dcm", NULL);
      g_autofree char *twin = tmp_path (twin_name);
      g_autoptr (GError) error = NULL;
      g_autoptr (HlImage) a = NULL;
      g_autoptr (HlImage) b = NULL;

      g_assert_true (file_contains (path, "1.2.840.10008.1.2.1.99"));
      g_assert_true (hl_test_dicom_convert (path, twin, &error));
      g_assert_no_error (error);
      a = load_ok (path);
      b = load_ok (twin);
      assert_same_pixels (a, b);
      g_assert_cmpstr (a->patient_id, ==, b->patient_id);
    }
}

/* Where the dataset of the DICOM file @data starts: after the 128-byte preamble, "DICM" and the
 * meta group, whose (0002,0000) group length DCMTK writes first. */
static gsize
dataset_offset (const guint8 *data)
{
  guint32 group_length;

  memcpy (&group_length, data + 140, 4);
  return 144 + GUINT32_FROM_LE (group_length);
}

/* An 8 x 8 deflated image whose Pixel Data claims nearly 4 GiB and inflates from 40 KB to 40 MiB
 * of zeros is refused when the inflated data passes what the header describes plus the 16 MiB
 * margin, before DCMTK sees it (DCMTK 3.6.7 allocated over 1 GB for a 1 MB bomb). */
static void
test_deflate_bomb (void)
{
  guint16 pixels[64] = { 0 };
  HlTestDicomSpec spec = spec_default (8, 8, 16, pixels);
  g_autofree char *plain_path = tmp_path ("bomb-plain.dcm");
  g_autofree char *deflated_path = tmp_path ("bomb-deflated.dcm");
  g_autofree char *path = tmp_path ("deflate-bomb.dcm");
  g_autofree guint8 *plain = NULL;
  g_autofree guint8 *deflated = NULL;
  g_autofree guint8 *zeros = g_malloc0 (1 << 20);
  g_autoptr (GZlibCompressor) zlib = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_RAW, 9);
  g_autoptr (GOutputStream) sink = g_memory_output_stream_new_resizable ();
  g_autoptr (GOutputStream) out = g_converter_output_stream_new (sink, G_CONVERTER (zlib));
  GMemoryOutputStream *compressed = G_MEMORY_OUTPUT_STREAM (sink);
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = NULL;
  GByteArray *bomb = g_byte_array_new ();
  gsize plain_size, deflated_size, start, at;
  guint32 claim = GUINT32_TO_LE (0xfffffff0u);

  write_spec (&spec, plain_path);
  spec.syntax = HL_TEST_DICOM_DEFLATED;
  write_spec (&spec, deflated_path);
  plain = read_bytes (plain_path, &plain_size);
  deflated = read_bytes (deflated_path, &deflated_size);
  start = dataset_offset (plain);
  at = pixel_data_offset (plain + start, plain_size - start) + start;
  memcpy (plain + at + 8, &claim, 4);
  g_assert_true (g_output_stream_write_all (out, plain + start, at + 12 - start, NULL, NULL,
                                            &error));
  for (int i = 0; i < 40; i++)
    g_assert_true (g_output_stream_write_all (out, zeros, 1 << 20, NULL, NULL, &error));
  g_assert_true (g_output_stream_close (out, NULL, &error));
  g_assert_no_error (error);
  g_byte_array_append (bomb, deflated, (guint) dataset_offset (deflated));
  g_byte_array_append (bomb, g_memory_output_stream_get_data (compressed),
                       (guint) g_memory_output_stream_get_data_size (compressed));
  g_assert_cmpuint (bomb->len, <, 100000);

  assert_bytes_refused (path, bomb->data, bomb->len, HL_STUDY_ERROR_FORMAT);
  image = hl_dicom_load (path, &error);
  g_assert_null (image);
  g_assert_nonnull (strstr (error->message, "inflates to more than"));
  g_byte_array_unref (bomb);
}

/* Native Pixel Data shorter than Rows x Columns x samples x bytes is refused, naming both sizes
 * (DCMTK rendered the missing rows black and the image was scored); an odd 8-bit image padded to
 * an even length, and YBR_FULL_422's two samples per pixel, are not short. */
static void
test_short_pixel_data (void)
{
  guint16 pixels[256] = { 0 };
  HlTestDicomSpec spec = spec_default (16, 16, 16, pixels);
  g_autofree char *path = tmp_path ("short.dcm");
  g_autofree char *odd_path = tmp_path ("odd.dcm");
  g_autofree guint8 *data = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = NULL;
  g_autoptr (HlImage) odd = NULL;
  guint32 half = GUINT32_TO_LE (256);
  gsize size, at;

  for (int i = 0; i < 256; i++)
    pixels[i] = (guint16) (i * 200);
  write_spec (&spec, path);
  data = read_bytes (path, &size);
  at = pixel_data_offset (data, size);
  g_assert_cmpuint (size, ==, at + 12 + 512);
  memcpy (data + at + 8, &half, 4);
  g_assert_true (g_file_set_contents (path, (char *) data, at + 12 + 256, NULL));
  image = hl_dicom_load (path, &error);
  g_assert_null (image);
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "Pixel Data holds 256 bytes, the image needs 512"));

  spec = spec_default (3, 5, 8, pixels);
  write_spec (&spec, odd_path);
  odd = load_ok (odd_path);
  g_assert_cmpint (odd->width, ==, 3);
}

/* A NaN or infinite Rescale Slope or Intercept, or a zero slope, would blank the image (or make it
 * NaN) and it would still be scored: refused, naming the attribute. */
static void
test_rescale_unusable (void)
{
  const struct
  {
    double slope, intercept;
  } cases[] = { { NAN, 0 }, { INFINITY, 0 }, { 0, 0 }, { 1, INFINITY }, { 1, NAN } };
  g_autofree guint16 *pixels = make_pixels (8, 8, 1, 4095, 14);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      HlTestDicomSpec spec = spec_default (8, 8, 12, pixels);
      g_autofree char *name = g_strdup_printf ("rescale-%zu.dcm", i);
      g_autofree char *path = tmp_path (name);
      g_autoptr (GError) error = NULL;
      g_autoptr (HlImage) image = NULL;

      spec.has_rescale = TRUE;
      spec.slope = cases[i].slope;
      spec.intercept = cases[i].intercept;
      write_spec (&spec, path);
      image = hl_dicom_load (path, &error);
      g_assert_null (image);
      g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT);
      g_assert_nonnull (strstr (error->message, path));
      g_assert_nonnull (strstr (error->message, i < 3 ? "Rescale Slope" : "Rescale Intercept"));
    }
}

/* A window whose center or width is NaN or infinite, or whose width is zero or negative, is not
 * used: the image is the min-max one, as if the file had no window. */
static void
test_window_unusable (void)
{
  const struct
  {
    double center, width;
  } cases[] = { { NAN, 100 }, { 100, NAN }, { 100, INFINITY }, { -INFINITY, 100 }, { 100, 0 },
                { 100, -50 } };
  g_autofree guint16 *pixels = make_pixels (12, 9, 1, 4095, 15);
  HlTestDicomSpec spec = spec_default (12, 9, 12, pixels);
  g_autofree char *plain_path = tmp_path ("window-none.dcm");
  g_autoptr (HlImage) plain = NULL;

  write_spec (&spec, plain_path);
  plain = load_ok (plain_path);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("window-%zu.dcm", i);
      g_autofree char *path = tmp_path (name);
      g_autoptr (HlImage) image = NULL;

      spec.has_window = TRUE;
      spec.window_center = cases[i].center;
      spec.window_width = cases[i].width;
      write_spec (&spec, path);
      image = load_ok (path);
      assert_same_pixels (plain, image);
    }
}

/* A LUT whose LUT Data holds fewer entries than its LUT Descriptor announces: DCMTK used the
 * entries there were and clamped the rest, flattening the image (one entry: a constant image, still
 * scored). Such a VOI LUT is not used (the image is the min-max one); such a Modality LUT is
 * refused. A complete modality LUT (decreasing) still decodes: stored 0 maps to its largest output,
 * the image's white. */
static void
test_lut_short (void)
{
  const int w = 12, h = 10;
  g_autofree guint16 *pixels = make_pixels (w, h, 1, 511, 16);
  guint16 lut[256];
  HlTestDicomSpec spec = spec_default (w, h, 12, pixels);
  g_autofree char *plain_path = tmp_path ("lut-none.dcm");
  g_autofree char *voi_path = tmp_path ("lut-voi-short.dcm");
  g_autofree char *modality_path = tmp_path ("lut-modality-short.dcm");
  g_autofree char *complete_path = tmp_path ("lut-modality.dcm");
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) plain = NULL;
  g_autoptr (HlImage) voi = NULL;
  g_autoptr (HlImage) modality = NULL;
  g_autoptr (HlImage) complete = NULL;

  for (int i = 0; i < 256; i++)
    lut[i] = (guint16) (4095 - (i * i) / 16);
  write_spec (&spec, plain_path);
  plain = load_ok (plain_path);

  spec.voi_lut = lut;
  spec.voi_lut_entries = 256;
  spec.voi_lut_first = 100;
  spec.voi_lut_bits = 12;
  spec.voi_lut_data_entries = 16;
  write_spec (&spec, voi_path);
  voi = load_ok (voi_path);
  assert_same_pixels (plain, voi);

  spec.modality_lut = TRUE;
  write_spec (&spec, modality_path);
  modality = hl_dicom_load (modality_path, &error);
  g_assert_null (modality);
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, modality_path));
  g_assert_nonnull (strstr (error->message, "Modality LUT announces 256 entries, its LUT Data "
                                            "holds 16"));

  spec.voi_lut_data_entries = 0;
  write_spec (&spec, complete_path);
  complete = load_ok (complete_path);
  g_assert_cmpfloat (complete->pixels[0], ==, 1.0f);
  g_assert_cmpfloat (complete->pixels[w * h - 1], ==, 0.0f);
}

static void
remove_tmp_dir (void)
{
  g_autoptr (GDir) dir = g_dir_open (tmp_dir, 0, NULL);

  for (const char *name; dir != NULL && (name = g_dir_read_name (dir)) != NULL;)
    {
      g_autofree char *path = tmp_path (name);
      g_unlink (path);
    }
  g_rmdir (tmp_dir);
}

/* Loads fuzz/corpus/dicom/@seed, which must be refused with a message naming it and saying
 * @phrase; returns the error for further checks. */
static GError *
assert_seed_refused (const char *seed, const char *phrase)
{
  g_autofree char *root = g_path_get_dirname (g_getenv ("HL_TOOLS"));
  g_autofree char *path = g_build_filename (root, "fuzz", "corpus", "dicom", seed, NULL);
  GError *error = NULL;
  g_autoptr (HlImage) image = hl_dicom_load (path, &error);

  g_assert_null (image);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, seed));
  g_assert_nonnull (strstr (error->message, phrase));
  return error;
}

/* fuzz-dicom's regression seed jpeg-marker-loop.dcm: a JPEG baseline file whose first fragment
 * starts SOI then fill bytes. DCMTK's precision scan looped on it for minutes; it is now refused,
 * with a message naming the file, before DCMTK sees it. */
static void
test_jpeg_marker_loop (void)
{
  g_autoptr (GError) error = assert_seed_refused ("jpeg-marker-loop.dcm",
                                                  "corrupt JPEG pixel data");

  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT);
}

/* A meta group length that ends the group before its last element: DCMTK ends the meta there
 * and reads on as the dataset's (implicit) syntax, taking an OB element's value bytes for a
 * sequence 65 deep (300,000 deep overflowed its stack); the walk reads the file that way too and
 * refuses it. meta-group-length-lies.dcm, made as a reviewer's proof did. */
static void
test_meta_group_length_lies (void)
{
  g_autoptr (GError) error = assert_seed_refused ("meta-group-length-lies.dcm",
                                                  "nest more than 64 levels");
}

/* Found by CI's fuzzing: a meta group length that covers a (000d,0001) element and then the
 * deflated syntax's UID. DCMTK reads meta elements while the group length lasts, so it inflated
 * the data and allocated the 4 GiB a Pixel Data element claims; the walk reads the meta the same
 * way, inflates, and refuses the claim. meta-group-other-group.dcm. */
static void
test_meta_group_other_group (void)
{
  g_autoptr (GError) error = assert_seed_refused ("meta-group-other-group.dcm",
                                                  "claims 4294967280 bytes");
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  tmp_dir = g_dir_make_tmp ("hl-dicom-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/study/dicom/jpeg-marker-loop", test_jpeg_marker_loop);
  g_test_add_func ("/study/dicom/meta-group-length-lies", test_meta_group_length_lies);
  g_test_add_func ("/study/dicom/meta-group-other-group", test_meta_group_other_group);
  g_test_add_func ("/study/dicom/rescale-window", test_rescale_window);
  g_test_add_func ("/study/dicom/min-max", test_min_max);
  g_test_add_func ("/study/dicom/monochrome1", test_monochrome1);
  g_test_add_func ("/study/dicom/voi-lut", test_voi_lut);
  g_test_add_func ("/study/dicom/8bit-and-colour", test_8bit_and_colour);
  g_test_add_func ("/study/dicom/metadata", test_metadata);
  g_test_add_data_func ("/study/dicom/jpeg-lossless", GINT_TO_POINTER (HL_TEST_DICOM_JPEG_LOSSLESS),
                        test_lossless);
  g_test_add_data_func ("/study/dicom/rle", GINT_TO_POINTER (HL_TEST_DICOM_RLE), test_lossless);
  g_test_add_func ("/study/dicom/jpeg-baseline", test_jpeg_baseline);
  g_test_add_func ("/study/dicom/multi-frame", test_multi_frame);
  g_test_add_func ("/study/dicom/no-pixel-data", test_no_pixel_data);
  g_test_add_func ("/study/dicom/bomb", test_bomb);
  g_test_add_func ("/study/dicom/length-lie", test_length_lie);
  g_test_add_func ("/study/dicom/garbage", test_garbage);
  g_test_add_data_func ("/study/dicom/truncated", GINT_TO_POINTER (HL_TEST_DICOM_EXPLICIT_LE),
                        test_truncated);
  g_test_add_data_func ("/study/dicom/truncated-deflated",
                        GINT_TO_POINTER (HL_TEST_DICOM_DEFLATED), test_truncated);
  g_test_add_func ("/study/dicom/missing", test_missing);
  g_test_add_func ("/study/dicom/from-data-and-sniffing", test_from_data_and_sniffing);
  g_test_add_func ("/study/dicom/threads", test_threads);
  g_test_add_func ("/study/dicom/nih-png", test_nih_png);
  g_test_add_func ("/study/dicom/nesting-limit", test_nesting_limit);
  g_test_add_func ("/study/dicom/deep-nesting", test_deep_nesting);
  g_test_add_func ("/study/dicom/element-limit", test_element_limit);
  g_test_add_func ("/study/dicom/deflated", test_deflated);
  g_test_add_func ("/study/dicom/deflated-real", test_deflated_real);
  g_test_add_func ("/study/dicom/deflate-bomb", test_deflate_bomb);
  g_test_add_func ("/study/dicom/short-pixel-data", test_short_pixel_data);
  g_test_add_func ("/study/dicom/rescale-unusable", test_rescale_unusable);
  g_test_add_func ("/study/dicom/window-unusable", test_window_unusable);
  g_test_add_func ("/study/dicom/lut-short", test_lut_short);

  status = g_test_run ();
  remove_tmp_dir ();
  return status;
}
