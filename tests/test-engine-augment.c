/* test-engine-augment.c — the trainer's helpers in the engine: the SplitMix64 generator (published
 * reference values, uniform range, shuffles that are permutations and reproducible), augmentation
 * against hand-computed cases (the identity draw, whole-pixel shifts, a quarter turn, the intensity
 * formula, zoom about the centre), the random resized crop against a plain reference (alone and
 * composed with rotation, zoom and shift), the distributions of crops and erasures over many
 * seeded draws, erasing's pixels, determinism, and all of it against the PyTorch trainer's copy in
 * tools/torch_train.py; and torchvision's initialisation (hl_model_new_initialized). */
#include "hl-augment.h"
#include "hl-init.h"
#include "hl-model-private.h"
#include "hl-test-bound.h"

#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include <glib/gstdio.h>

static void
test_rng_reference (void)
{
  /* SplitMix64 from seed 0: the first outputs of Vigna's reference implementation */
  HlRng rng;
  hl_rng_init (&rng, 0);
  g_assert_cmpuint (hl_rng_next (&rng), ==, G_GUINT64_CONSTANT (0xe220a8397b1dcdaf));
  g_assert_cmpuint (hl_rng_next (&rng), ==, G_GUINT64_CONSTANT (0x6e789e6aa1b965f4));
  g_assert_cmpuint (hl_rng_next (&rng), ==, G_GUINT64_CONSTANT (0x06c45d188009454f));

  double lo = 1.0, hi = 0.0;
  for (int i = 0; i < 10000; i++)
    {
      double u = hl_rng_uniform (&rng);
      lo = MIN (lo, u);
      hi = MAX (hi, u);
      g_assert_cmpfloat (fabs (hl_rng_symmetric (&rng, 3.0)), <=, 3.0);
    }
  g_assert_cmpfloat (lo, >=, 0.0);
  g_assert_cmpfloat (lo, <, 0.001);
  g_assert_cmpfloat (hi, <, 1.0);
  g_assert_cmpfloat (hi, >, 0.999);
}

static void
test_rng_shuffle (void)
{
  guint a[50], b[50];
  gboolean seen[50] = { FALSE };
  HlRng r1, r2;

  for (guint i = 0; i < 50; i++)
    a[i] = b[i] = i;
  hl_rng_init (&r1, 42);
  hl_rng_init (&r2, 42);
  hl_rng_shuffle (&r1, a, 50);
  hl_rng_shuffle (&r2, b, 50);
  g_assert_cmpmem (a, sizeof a, b, sizeof b);
  g_assert_cmpuint (r1.state, ==, r2.state);
  guint fixed = 0;
  for (guint i = 0; i < 50; i++)
    {
      g_assert_cmpuint (a[i], <, 50);
      g_assert_false (seen[a[i]]);
      seen[a[i]] = TRUE;
      fixed += a[i] == i;
    }
  g_assert_cmpuint (fixed, <, 10);
}

static const HlAugmentDraw identity = { .angle = 0.0, .shift_x = 0.0, .shift_y = 0.0, .zoom = 1.0,
                                        .brightness = 0.0, .contrast = 1.0, .gamma = 1.0,
                                        .crop_w = 1.0, .crop_h = 1.0 };

/* The SplitMix64 increment: hl_rng_next moves the state by it once per value. */
#define GOLDEN G_GUINT64_CONSTANT (0x9e3779b97f4a7c15)

/* A plane (h, w) with distinct values in (0, 1). */
static float *
ramp (int h, int w)
{
  float *p = g_new (float, (gsize) h * w);
  for (int i = 0; i < h * w; i++)
    p[i] = (float) (i + 1) / (float) (h * w + 2);
  return p;
}

static void
test_identity_and_shift (void)
{
  const int h = 6, w = 8;
  g_autofree float *src = ramp (h, w);
  g_autofree float *dst = g_new (float, h * w);
  HlAugmentDraw draw = identity;

  hl_augment_apply (&draw, src, h, w, dst);
  g_assert_cmpmem (dst, sizeof (float) * h * w, src, sizeof (float) * h * w);

  /* one pixel right and two down: dst (y, x) = src (y - 2, x - 1), black where that is outside.
   * Exact: every source coordinate is an integer computed exactly in double (dy = 2/6 * 6 rounds
   * to 2), so fx = fy = 0 and the blend is 1 * (1 * p + 0 * q) + 0 * (...), no rounding. */
  draw.shift_x = 1.0 / w;
  draw.shift_y = 2.0 / h;
  hl_augment_apply (&draw, src, h, w, dst);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        float want = (y >= 2 && x >= 1) ? src[(y - 2) * w + x - 1] : 0.0f;
        g_assert_cmpfloat (dst[y * w + x], ==, want);
      }
}

static void
test_quarter_turn (void)
{
  const int n = 5;
  g_autofree float *src = ramp (n, n);
  g_autofree float *dst = g_new (float, n * n);
  HlAugmentDraw draw = identity;

  /* counter-clockwise as displayed (y down): dst (y, x) = src (x, n - 1 - y), exactly: a quarter
   * turn is a permutation. cos (G_PI / 2) is 6e-17, not 0, so each source coordinate is an
   * integer k within 1e-15; the blend's weights, rounded to float32, are then 1 and either 0 or
   * at most 1e-15, and p + 1e-15 q rounds to p for taps p >= 1 / 27 (half an ulp: 2^-29). */
  draw.angle = G_PI / 2;
  hl_augment_apply (&draw, src, n, n, dst);
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++)
      g_assert_cmpfloat (dst[y * n + x], ==, src[x * n + (n - 1 - y)]);
}

static void
test_zoom (void)
{
  const int n = 8;
  g_autofree float *src = ramp (n, n);
  g_autofree float *dst = g_new (float, n * n);
  HlAugmentDraw draw = identity;

  /* zoom 2 about the centre: dst pixel centre x + 0.5 samples source x' + 0.5 = (x + 0.5 - 4) / 2
   * + 4, so dst (3, 3) and (4, 4) are bilinear blends at source 3.25 and 3.75. The coordinates
   * are exact in both; the engine blends in float32 (hl_test_bilinear_bound of taps < 1), the
   * reference in double (3 roundings of 2^-53 of the blend). */
  HlTestBounded b = HL_TEST_BOUNDED_INIT ("zoom 2 against the double blend");
  draw.zoom = 2.0;
  hl_augment_apply (&draw, src, n, n, dst);
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++)
      {
        double sx = (x + 0.5 - 4) / 2 + 4 - 0.5, sy = (y + 0.5 - 4) / 2 + 4 - 0.5;
        int x0 = (int) floor (sx), y0 = (int) floor (sy);
        double fx = sx - x0, fy = sy - y0;
        double want = (1 - fy) * ((1 - fx) * src[y0 * n + x0] + fx * src[y0 * n + x0 + 1])
                      + fy * ((1 - fx) * src[(y0 + 1) * n + x0] + fx * src[(y0 + 1) * n + x0 + 1]);
        hl_test_bounded_check (&b, dst[y * n + x], want,
                               hl_test_bilinear_bound (1.0) + hl_test_gamma_double (3));
      }
  hl_test_bounded_end (&b);
}

static void
test_intensity (void)
{
  const int h = 4, w = 4;
  g_autofree float *src = ramp (h, w);
  g_autofree float *dst = g_new (float, h * w);
  HlAugmentDraw draw = identity;
  double mean = 0.0;

  for (int i = 0; i < h * w; i++)
    mean += src[i];
  mean /= h * w;
  draw.brightness = 0.3;
  draw.contrast = 1.5;
  draw.gamma = 0.8;
  hl_augment_apply (&draw, src, h, w, dst);
  /* The engine: the mean rounded to float32 (u mean), offset = mean (1 - 1.5) + 0.3 rounded to
   * float32 (0.5 u mean + u |offset|), src 1.5 + offset in float32 (u 1.5 src + u |the sum|,
   * times 1 + u for the products of two roundings), against the double reference (16 2^-53 for
   * its four operations and the offset's). The clamp is 1-Lipschitz; the gamma, rounded to
   * float32, moves v^0.8 by |ln v| v^0.8 |(float) 0.8 - 0.8|, and powf is within 1 ulp (2u of
   * its result). */
  HlTestBounded b = HL_TEST_BOUNDED_INIT ("intensity against the double formula");
  double offset = mean * (1 - 1.5) + 0.3, dgamma = fabs ((double) (float) 0.8 - 0.8);
  for (int i = 0; i < h * w; i++)
    {
      double raw = (src[i] - mean) * 1.5 + mean + 0.3, v = CLAMP (raw, 0.0, 1.0);
      double pre = HL_TEST_U * (0.5 * mean + fabs (offset) + 1.5 * src[i] + fabs (raw))
                       * (1 + HL_TEST_U)
                   + 16 * HL_TEST_U_DOUBLE;
      double want = pow (v, 0.8);
      hl_test_bounded_check (&b, dst[i], want,
                             0.8 * pow (v - pre, -0.2) * pre + fabs (log (v)) * want * dgamma
                                 + 2 * HL_TEST_U * want);
      g_assert_cmpfloat (dst[i], >=, 0.0f);
      g_assert_cmpfloat (dst[i], <=, 1.0f);
    }
  hl_test_bounded_end (&b);
  /* the last values saturate: the clamp is there */
  g_assert_cmpfloat (dst[h * w - 1], ==, 1.0f);
}

static void
test_draw (void)
{
  HlAugmentOptions options;
  HlAugmentDraw draw;
  HlRng rng;
  gboolean varied = FALSE;

  hl_augment_options_init (&options);
  hl_rng_init (&rng, 7);
  for (int i = 0; i < 1000; i++)
    {
      guint64 before = rng.state;
      hl_augment_draw (&options, &rng, &draw);
      /* always seven values: the state moves by seven SplitMix64 increments */
      g_assert_cmpuint (rng.state - before, ==, 7 * GOLDEN);
      g_assert_cmpfloat (fabs (draw.angle), <=, options.rotation_deg * G_PI / 180.0);
      g_assert_cmpfloat (fabs (draw.shift_x), <=, options.translation);
      g_assert_cmpfloat (fabs (draw.zoom - 1.0), <=, options.scale);
      g_assert_cmpfloat (fabs (draw.brightness), <=, options.brightness);
      g_assert_cmpfloat (fabs (draw.contrast - 1.0), <=, options.contrast);
      /* exp and log within 1 ulp each: 2 2^-53 (1 + |x|) on log (exp (x)) */
      g_assert_cmpfloat (fabs (log (draw.gamma)), <=,
                         options.gamma + 2 * HL_TEST_U_DOUBLE * (1 + options.gamma));
      varied |= draw.angle != 0.0;
      /* the defaults neither crop nor erase */
      g_assert_cmpfloat (draw.crop_w, ==, 1.0);
      g_assert_cmpfloat (draw.crop_x, ==, 0.0);
      g_assert_false (draw.erase[0].on || draw.erase[1].on);
    }
  g_assert_true (varied);
}

/* The bilinear sample of @src (h, w) at pixel coordinates (sx, sy) (pixel centres at integers), 0
 * outside, in double. */
static double
sample_ref (const float *src, int h, int w, double sx, double sy)
{
  int x0 = (int) floor (sx), y0 = (int) floor (sy);
  double fx = sx - x0, fy = sy - y0, sum = 0.0;

  for (int j = 0; j < 2; j++)
    for (int i = 0; i < 2; i++)
      {
        int x = x0 + i, y = y0 + j;
        if (x >= 0 && y >= 0 && x < w && y < h)
          sum += (i ? fx : 1 - fx) * (j ? fy : 1 - fy) * src[y * w + x];
      }
  return sum;
}

static void
test_crop (void)
{
  const int h = 8, w = 12;
  g_autofree float *src = ramp (h, w);
  g_autofree float *dst = g_new (float, h * w);
  HlAugmentDraw draw = identity;

  /* the crop (3, 1) .. (9, 7) filling the plane: dst centre x + 0.5 is source 3 + (x + 0.5) / 2 */
  draw.crop_x = 0.25;
  draw.crop_y = 0.125;
  draw.crop_w = 0.5;
  draw.crop_h = 0.75;
  hl_augment_apply (&draw, src, h, w, dst);
  /* The coordinates are dyadic, exact in both; the engine blends in float32, sample_ref in
   * double (four terms of two products each: gamma_5 in double of taps < 1). */
  HlTestBounded b = HL_TEST_BOUNDED_INIT ("crop against sample_ref");
  double bound = hl_test_bilinear_bound (1.0) + hl_test_gamma_double (5);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double sx = 3 + (x + 0.5) * 0.5 - 0.5, sy = 1 + (y + 0.5) * 0.75 - 0.5;
        hl_test_bounded_check (&b, dst[y * w + x], sample_ref (src, h, w, sx, sy), bound);
      }
  hl_test_bounded_end (&b);
}

/* The crop composed with rotation, zoom and shift is one affine map: the reference builds the
 * FORWARD map (source point s to crop-plane point q = c + d + zoom R (s - c), then to output
 * p = (q - o) / k per axis), inverts its 2x2 matrix numerically and samples once. */
static void
test_crop_composed (void)
{
  const int h = 29, w = 41;
  g_autofree float *src = g_new (float, h * w);
  g_autofree float *dst = g_new (float, h * w);
  HlAugmentDraw draw = identity;
  HlTestBounded check = HL_TEST_BOUNDED_INIT ("composed crop against the forward-map reference");

  for (int i = 0; i < h * w; i++)
    src[i] = (float) ((i * 7919) % 1000) / 1000.0f;
  draw.angle = 0.2;
  draw.zoom = 1.1;
  draw.shift_x = 0.05;
  draw.shift_y = -0.07;
  draw.crop_x = 0.1;
  draw.crop_y = 0.2;
  draw.crop_w = 0.7;
  draw.crop_h = 0.6;
  hl_augment_apply (&draw, src, h, w, dst);

  /* p = A s + b in centre-based pixel coordinates (pixel x covers [x, x + 1)) */
  double c = cos (draw.angle), s = sin (draw.angle);
  double a[2][2] = { { draw.zoom * c / draw.crop_w, draw.zoom * s / draw.crop_w },
                     { -draw.zoom * s / draw.crop_h, draw.zoom * c / draw.crop_h } };
  double b[2] = { (0.5 * w + draw.shift_x * w - draw.crop_x * w) / draw.crop_w,
                  (0.5 * h + draw.shift_y * h - draw.crop_y * h) / draw.crop_h };
  b[0] -= a[0][0] * 0.5 * w + a[0][1] * 0.5 * h;
  b[1] -= a[1][0] * 0.5 * w + a[1][1] * 0.5 * h;
  double det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
  /* Both compute the source point in double, the engine in 8 operations, the reference in < 56,
   * on values of magnitude < 128 (coordinates, b, A times them), through maps of gain < 2 (A^-1
   * and the division by det): they differ by < 64 * 2^-53 * 128 * 2 = 2^-39 pixels per axis.
   * The blend is Lipschitz with constant max |p_i - p_j| < 1 per pixel and axis, so that moves
   * it by < 2^-38; then the engine's float32 blend and sample_ref's double one. */
  double bound = ldexp (1.0, -38) + hl_test_bilinear_bound (1.0) + hl_test_gamma_double (5);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double px = x + 0.5 - b[0], py = y + 0.5 - b[1];
        double sx = (a[1][1] * px - a[0][1] * py) / det, sy = (-a[1][0] * px + a[0][0] * py) / det;
        double want = sample_ref (src, h, w, sx - 0.5, sy - 0.5);
        hl_test_bounded_check (&check, dst[y * w + x], want, bound);
      }
  hl_test_bounded_end (&check);
  /* the map is not the identity: rows and columns of the source are not where they were */
  g_assert_true (memcmp (src, dst, sizeof (float) * h * w) != 0);
}

/* How many values one draw consumes: 7, + 4 with a crop, + 7 per kind of erasure on. */
static void
test_draw_count (void)
{
  const struct
  {
    double crop, erase, edge;
    guint values;
  } cases[] = { { 0, 0, 0, 7 }, { 0.5, 0, 0, 11 }, { 0, 0.3, 0, 14 }, { 0, 0, 1, 14 },
                { 0.6, 0.5, 0.5, 25 }, { 1, 1, 0, 18 } };

  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      HlAugmentOptions options;
      HlAugmentDraw draw;
      HlRng rng;

      hl_augment_options_init (&options);
      options.crop_scale = cases[c].crop;
      options.erase_p = cases[c].erase;
      options.erase_edge_p = cases[c].edge;
      hl_rng_init (&rng, 11 + c);
      for (int i = 0; i < 100; i++)
        {
          guint64 before = rng.state;
          hl_augment_draw (&options, &rng, &draw);
          g_assert_cmpuint (rng.state - before, ==, cases[c].values * GOLDEN);
        }
    }
}

/* The crop's expected area fraction for crop_scale @s_min by the midpoint rule over the area drawn
 * (uniform in [s_min, 1]) and log r (uniform in [log 3/4, log 4/3]): E min (1, sqrt (a r))
 * min (1, sqrt (a / r)). The integrand is Lipschitz, with constant < 1 in a and < 1/2 in log r,
 * so over the unit square of the two uniforms (1 - s_min) and 0.58 times those: n x n midpoints
 * err by < CROP_QUADRATURE_ERROR for n = 400. */
#define CROP_QUADRATURE_ERROR ((0.4 + 0.29) / (4.0 * 400))
static double
crop_mean_area (double s_min)
{
  const int n = 400; /* CROP_QUADRATURE_ERROR */
  double lo = log (0.75), hi = log (4.0 / 3.0), sum = 0.0;

  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      {
        double a = s_min + (1.0 - s_min) * (i + 0.5) / n, r = exp (lo + (hi - lo) * (j + 0.5) / n);
        sum += MIN (1.0, sqrt (a * r)) * MIN (1.0, sqrt (a / r));
      }
  return sum / ((double) n * n);
}

/* The crop over many draws: inside the plane, aspect in [3/4, 4/3] (clamping a side to the image
 * keeps it there: the clamped aspect is sqrt (r / a) < r), area in [s, 1] (for s = 0.6 clamping
 * leaves at least sqrt (3/4 * 3/4) = 0.75), the mean area that of crop_mean_area. */
static void
test_draw_crop (void)
{
  const int n = 20000;
  const double s_min = 0.6;
  HlAugmentOptions options;
  HlAugmentDraw draw;
  HlRng rng;
  double area_sum = 0.0, area_lo = 1.0;
  int clamped = 0;

  hl_augment_options_init (&options);
  options.crop_scale = s_min;
  hl_rng_init (&rng, 5);
  for (int i = 0; i < n; i++)
    {
      hl_augment_draw (&options, &rng, &draw);
      double area = draw.crop_w * draw.crop_h, aspect = draw.crop_w / draw.crop_h;
      g_assert_cmpfloat (draw.crop_x, >=, 0.0);
      g_assert_cmpfloat (draw.crop_y, >=, 0.0);
      /* x = (1 - w) U, x + w: 3 roundings of values <= 1; w h and w / h: the area times e^r and
       * divided by it, two square roots and a product or quotient, exp and log within 1 ulp:
       * 8 roundings of 2^-53, relative */
      g_assert_cmpfloat (draw.crop_x + draw.crop_w, <=, 1.0 + 3 * HL_TEST_U_DOUBLE);
      g_assert_cmpfloat (draw.crop_y + draw.crop_h, <=, 1.0 + 3 * HL_TEST_U_DOUBLE);
      g_assert_cmpfloat (area, >=, s_min * (1 - 8 * HL_TEST_U_DOUBLE));
      g_assert_cmpfloat (area, <=, 1.0 + 8 * HL_TEST_U_DOUBLE);
      g_assert_cmpfloat (aspect, >=, 0.75 * (1 - 8 * HL_TEST_U_DOUBLE));
      g_assert_cmpfloat (aspect, <=, 4.0 / 3.0 * (1 + 8 * HL_TEST_U_DOUBLE));
      clamped += draw.crop_w == 1.0 || draw.crop_h == 1.0;
      area_sum += area;
      area_lo = MIN (area_lo, area);
    }
  /* the area lies in [0.6, 1]: its standard deviation is at most 0.2, so the mean's standard
   * error at most 0.2 / sqrt (n); 5 of them, and the quadrature's error */
  double want = crop_mean_area (s_min);
  g_test_message ("crop mean area %g (expected %g), smallest %g, clamped %d of %d", area_sum / n,
                  want, area_lo, clamped, n);
  g_assert_cmpfloat (fabs (area_sum / n - want), <, 5 * 0.2 / sqrt (n) + CROP_QUADRATURE_ERROR);
  g_assert_cmpfloat (area_lo, <, s_min + 0.001);
  g_assert_cmpint (clamped, >, 0);
}

/* Erasures over many draws: how often, their area and aspect distributions, where they sit. With
 * n draws a frequency's standard error is at most 0.5 / sqrt (n), a uniform's mean's is
 * (range / sqrt 12) / sqrt (n_on); every bound below is 5 of them. */
static void
test_draw_erase (void)
{
  const int n = 20000;
  HlAugmentOptions options;
  HlAugmentDraw draw;
  HlRng rng;
  int on[2] = { 0 }, noise = 0, edges[4] = { 0 };
  double area_sum[2] = { 0 }, log_aspect_sum[2] = { 0 }, area_lo = 1, area_hi = 0;
  const double log_lo = log (0.3), log_hi = log (3.3);

  hl_augment_options_init (&options);
  options.erase_p = 0.3;
  options.erase_edge_p = 0.6;
  hl_rng_init (&rng, 9);
  for (int i = 0; i < n; i++)
    {
      hl_augment_draw (&options, &rng, &draw);
      for (int e = 0; e < 2; e++)
        {
          const HlAugmentErase *r = &draw.erase[e];
          if (!r->on)
            continue;
          double area = r->w * r->h, log_aspect = log (r->h / r->w);
          on[e]++;
          noise += r->noise;
          area_sum[e] += area;
          log_aspect_sum[e] += log_aspect;
          area_lo = MIN (area_lo, area);
          area_hi = MAX (area_hi, area);
          /* w h = sqrt (a r) sqrt (a / r): the area's own 2 roundings, 2 for a r and a / r, 2
           * for the roots, 1 for the product: 8 2^-53 relative; log (h / w) = log r + 6 2^-53
           * relative error inside the log, the exp and the log within 1 ulp: 16 2^-53; the
           * position (1 - w) U and the sum x + w: 3 roundings of values <= 1 */
          g_assert_cmpfloat (area, >=, 0.02 * (1 - 8 * HL_TEST_U_DOUBLE));
          g_assert_cmpfloat (area, <=, 0.2 * (1 + 8 * HL_TEST_U_DOUBLE));
          g_assert_cmpfloat (log_aspect, >=, log_lo - 16 * HL_TEST_U_DOUBLE);
          g_assert_cmpfloat (log_aspect, <=, log_hi + 16 * HL_TEST_U_DOUBLE);
          g_assert_cmpfloat (r->x, >=, 0.0);
          g_assert_cmpfloat (r->y, >=, 0.0);
          g_assert_cmpfloat (r->x + r->w, <=, 1.0 + 3 * HL_TEST_U_DOUBLE);
          g_assert_cmpfloat (r->y + r->h, <=, 1.0 + 3 * HL_TEST_U_DOUBLE);
          if (e == 1)
            {
              /* touching an edge: exactly one of them unless it also reaches a corner (never:
               * a side is at most sqrt (0.2 3.3) < 1); y = 1 - h and y + h round twice */
              gboolean top = r->y == 0.0, bottom = fabs (r->y + r->h - 1.0) <= 2 * HL_TEST_U_DOUBLE;
              gboolean left = r->x == 0.0, right = fabs (r->x + r->w - 1.0) <= 2 * HL_TEST_U_DOUBLE;
              g_assert_true (top || bottom || left || right);
              edges[0] += top;
              edges[1] += bottom;
              edges[2] += left;
              edges[3] += right;
            }
        }
    }
  double f0 = (double) on[0] / n, f1 = (double) on[1] / n;
  g_test_message ("erase on %g, edge erase on %g, areas %g..%g", f0, f1, area_lo, area_hi);
  g_assert_cmpfloat (fabs (f0 - 0.3), <, 5 * 0.5 / sqrt (n));
  g_assert_cmpfloat (fabs (f1 - 0.6), <, 5 * 0.5 / sqrt (n));
  g_assert_cmpfloat (fabs ((double) noise / (on[0] + on[1]) - 0.5), <,
                     5 * 0.5 / sqrt (on[0] + on[1]));
  for (int e = 0; e < 2; e++)
    {
      g_assert_cmpfloat (fabs (area_sum[e] / on[e] - 0.11), <, 5 * 0.18 / sqrt (12.0 * on[e]));
      g_assert_cmpfloat (fabs (log_aspect_sum[e] / on[e] - 0.5 * (log_lo + log_hi)), <,
                         5 * (log_hi - log_lo) / sqrt (12.0 * on[e]));
    }
  g_assert_cmpfloat (area_lo, <, 0.021);
  g_assert_cmpfloat (area_hi, >, 0.199);
  /* each edge a quarter of the time (the side is floor (4 U)): a frequency */
  for (int k = 0; k < 4; k++)
    g_assert_cmpfloat (fabs ((double) edges[k] / on[1] - 0.25), <, 5 * 0.5 / sqrt (on[1]));
}

/* Erasing's pixels: inside the rectangle the mean of the unerased plane or the noise of its seed,
 * outside untouched; as many pixels as the rectangle covers, within a pixel of each side. */
static void
test_erase_apply (void)
{
  const int h = 20, w = 30;
  g_autofree float *src = ramp (h, w);
  g_autofree float *plain = g_new (float, h * w);
  g_autofree float *dst = g_new (float, h * w);
  HlAugmentDraw draw = identity;
  double mean = 0.0;

  draw.contrast = 1.2;
  hl_augment_apply (&draw, src, h, w, plain);
  for (int i = 0; i < h * w; i++)
    mean += plain[i];
  mean /= h * w;

  for (int fill = 0; fill < 2; fill++)
    {
      HlRng noise, corner;
      int count = 0;

      draw.erase[0] = (HlAugmentErase) { .on = TRUE, .x = 0.21, .y = 0.33, .w = 0.4, .h = 0.25,
                                         .noise = fill, .seed = 77 };
      draw.erase[1] = (HlAugmentErase) { .on = TRUE, .x = 0.0, .y = 0.0, .w = 0.1, .h = 0.2,
                                         .noise = !fill, .seed = 78 };
      hl_augment_apply (&draw, src, h, w, dst);
      hl_rng_init (&noise, 77);
      hl_rng_init (&corner, 78);
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          {
            double px = (x + 0.5) / w, py = (y + 0.5) / h;
            gboolean in0 = px >= 0.21 && px < 0.61 && py >= 0.33 && py < 0.58;
            gboolean in1 = px < 0.1 && py < 0.2;
            float v = dst[y * w + x];
            count += in0;
            if (in0)
              g_assert_cmpfloat (v, ==, fill ? (float) hl_rng_uniform (&noise) : (float) mean);
            else if (in1 && fill)
              /* the engine's mean: the same double sum of the same floats, rounded to float */
              g_assert_cmpfloat (v, ==, (float) mean);
            else if (in1)
              g_assert_cmpfloat (v, ==, (float) hl_rng_uniform (&corner));
            else if (!in1)
              g_assert_cmpfloat (v, ==, plain[y * w + x]);
          }
      g_assert_cmpfloat (fabs (count - 0.4 * 0.25 * h * w), <, 0.4 * w + 0.25 * h + 1);
      if (!fill)
        {
          /* the corner's 3 by 4 pixels of noise took 12 values of its seed, in row-major order */
          HlRng twelve;
          hl_rng_init (&twelve, 78);
          for (int i = 0; i < 12; i++)
            hl_rng_next (&twelve);
          g_assert_cmpuint (corner.state, ==, twelve.state);
        }
    }
}

/* The same seed gives the same draws and the same planes; another seed does not. */
static void
test_determinism (void)
{
  const int n = 32;
  g_autofree float *src = ramp (n, n);
  g_autofree float *a = g_new (float, n * n);
  g_autofree float *b = g_new (float, n * n);
  HlAugmentOptions options;
  HlAugmentDraw da, db;
  HlRng r1, r2, r3;
  int differ = 0;

  hl_augment_options_init (&options);
  options.crop_scale = 0.6;
  options.erase_p = 0.5;
  options.erase_edge_p = 0.5;
  hl_rng_init (&r1, 123);
  hl_rng_init (&r2, 123);
  hl_rng_init (&r3, 124);
  for (int i = 0; i < 50; i++)
    {
      hl_augment_draw (&options, &r1, &da);
      hl_augment_draw (&options, &r2, &db);
      g_assert_cmpmem (&da, sizeof da, &db, sizeof db);
      hl_augment_apply (&da, src, n, n, a);
      hl_augment_apply (&db, src, n, n, b);
      g_assert_cmpmem (a, sizeof (float) * n * n, b, sizeof (float) * n * n);
      hl_augment_draw (&options, &r3, &db);
      hl_augment_apply (&db, src, n, n, b);
      differ += memcmp (a, b, sizeof (float) * n * n) != 0;
    }
  g_assert_cmpuint (r1.state, ==, r2.state);
  g_assert_cmpint (differ, ==, 50);
}

/* The PyTorch trainer (tools/torch_train.py) augments as the engine does: its augment_apply on the
 * same plane and draw (a crop and both erasures, one of noise, one of the mean, included) matches
 * hl_augment_apply. Skipped without Debian's python3 with torch. */
static void
test_matches_torch (void)
{
  const int h = 37, w = 53;
  const char *script
      = "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "try:\n"
        "    import numpy as np, torch, torch_train\n"
        "except ImportError:\n"
        "    sys.exit(77)\n"
        "h, w = int(sys.argv[3]), int(sys.argv[4])\n"
        "src = torch.from_numpy(np.fromfile(sys.argv[2], dtype='<f4').reshape(h, w))\n"
        "v = [float(a) for a in sys.argv[6:17]]\n"
        "erase = [(float(e[0]), float(e[1]), float(e[2]), float(e[3]), e[4] == '1', int(e[5]))\n"
        "         for e in (sys.argv[17:23], sys.argv[23:29])]\n"
        "out = torch_train.augment_apply(src, *v[:7], crop=tuple(v[7:11]), erase=erase)\n"
        "out.numpy().astype('<f4').tofile(sys.argv[5])\n";
  const char *tools = g_getenv ("HL_TOOLS");
  g_autofree float *src = ramp (h, w);
  g_autofree float *dst = g_new (float, h * w);
  g_autofree char *dir = g_dir_make_tmp ("hilum-augment-XXXXXX", NULL);
  g_autofree char *in_path = g_build_filename (dir, "in.f32", NULL);
  g_autofree char *out_path = g_build_filename (dir, "out.f32", NULL);
  g_autofree char *torch_out = NULL;
  g_autoptr (GError) error = NULL;
  const HlAugmentDraw draw
      = { .angle = 0.11, .shift_x = 0.05, .shift_y = -0.04, .zoom = 1.08, .brightness = 0.07,
          .contrast = 0.9, .gamma = 1.15, .crop_x = 0.12, .crop_y = 0.05, .crop_w = 0.77,
          .crop_h = 0.81,
          .erase = { { TRUE, 0.3, 0.4, 0.2, 0.35, TRUE, G_GUINT64_CONSTANT (0xfedcba9876543210) },
                     { TRUE, 0.0, 0.61, 0.25, 0.39, FALSE, 0 } } };
  char dims[2][16], params[11 + 6 * HL_AUGMENT_N_ERASE][32];
  gsize length = 0;
  int wait_status;

  if (tools == NULL || !g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("HL_TOOLS or /usr/bin/python3 is absent");
      return;
    }
  for (int i = 0; i < h * w; i++)
    src[i] = (float) ((i * 7919) % 1000) / 1000.0f;
  g_assert_true (g_file_set_contents (in_path, (const char *) src, sizeof (float) * h * w, NULL));
  g_snprintf (dims[0], sizeof dims[0], "%d", h);
  g_snprintf (dims[1], sizeof dims[1], "%d", w);
  double values[11] = { draw.angle, draw.shift_x, draw.shift_y, draw.zoom, draw.brightness,
                        draw.contrast, draw.gamma, draw.crop_x, draw.crop_y, draw.crop_w,
                        draw.crop_h };
  for (int i = 0; i < 11; i++)
    g_ascii_dtostr (params[i], sizeof params[i], values[i]);
  for (int e = 0; e < HL_AUGMENT_N_ERASE; e++)
    {
      const HlAugmentErase *r = &draw.erase[e];
      char(*p)[32] = params + 11 + 6 * e;
      g_ascii_dtostr (p[0], sizeof p[0], r->x);
      g_ascii_dtostr (p[1], sizeof p[1], r->y);
      g_ascii_dtostr (p[2], sizeof p[2], r->w);
      g_ascii_dtostr (p[3], sizeof p[3], r->h);
      g_snprintf (p[4], sizeof p[4], "%d", r->noise ? 1 : 0);
      g_snprintf (p[5], sizeof p[5], "%" G_GUINT64_FORMAT, r->seed);
    }
  const char *argv[G_N_ELEMENTS (params) + 9] = { "/usr/bin/python3", "-c", script, tools,
                                                  in_path, dims[0], dims[1], out_path };
  for (gsize i = 0; i < G_N_ELEMENTS (params); i++)
    argv[8 + i] = params[i];
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &wait_status,
                &error);
  g_assert_no_error (error);
  g_unlink (in_path);
  if (WIFEXITED (wait_status) && WEXITSTATUS (wait_status) == 77)
    {
      g_rmdir (dir);
      g_test_skip ("/usr/bin/python3 has no torch");
      return;
    }
  g_assert_true (WIFEXITED (wait_status) && WEXITSTATUS (wait_status) == 0);
  g_assert_true (g_file_get_contents (out_path, &torch_out, &length, NULL));
  g_unlink (out_path);
  g_rmdir (dir);
  g_assert_cmpuint (length, ==, sizeof (float) * h * w);

  hl_augment_apply (&draw, src, h, w, dst);
  /* Worst case, every value of the plane in [0, 1]. torch samples at float32 grid points
   * (sx / w 2 - 1 rounded, then grid_sample's ((g + 1) W - 1) / 2 in float32, |g| < 1.25): 4.125u
   * W pixels per axis, the blend's Lipschitz constant < 1 per pixel and axis; each side's float32
   * blend (hl_test_bilinear_bound). The contrast 0.9 scales those; its (1 - 0.9) mean term
   * differs by the engine's rounding of its mean (u) and torch's float32 sum of the plane
   * (gamma_n, whatever its order). Each side's four intensity operations on values < 1.5: 12u
   * together. pow (1.15) has slope < 1.15 on [0, 1], each powf is within 1 ulp (2u), and if
   * torch raises to 1.15 in double rather than to (float) 1.15, |ln v| v^1.15 < 1 / (1.15 e)
   * times the difference. A mean-filled erasure adds the difference of the two output means:
   * the largest of the above, u and gamma_n again. Noise fills are the same float32 values. */
  double n_px = (double) h * w, u = HL_TEST_U;
  double dgamma = fabs ((double) (float) draw.gamma - draw.gamma);
  double pixel = 1.15 * (0.9 * (4.125 * u * (w + h) + 2 * hl_test_bilinear_bound (1.0))
                         + 0.1 * (u + hl_test_gamma (n_px)) + 12 * u)
                 + 4 * u + dgamma / (1.15 * G_E);
  g_autofree double *want = g_new (double, h * w);
  g_autofree double *bound = g_new (double, h * w);
  for (int i = 0; i < h * w; i++)
    {
      want[i] = ((const float *) torch_out)[i];
      bound[i] = pixel + u + hl_test_gamma (n_px);
    }
  hl_test_assert_bounded ("hl_augment_apply against torch_train.augment_apply", dst, want, bound,
                          (gsize) h * w);
}

static void
test_initialized (void)
{
  HlModelInfo info = { 0 };
  info.arch = (HlDenseNetConfig) { 8, 2, { 3, 2 }, 16, 2, 1e-5f };
  info.input_size = 32;
  info.input_channels = 1;
  info.n_labels = 4;
  info.preprocess.mode = HL_NORM_IMAGE;
  g_autoptr (HlModel) a = hl_model_new_initialized (&info, 3);
  g_autoptr (HlModel) b = hl_model_new_initialized (&info, 3);
  g_autoptr (HlModel) c = hl_model_new_initialized (&info, 4);

  /* tensor by tensor: the arena's alignment padding between tensors is never written */
  g_assert_cmpuint (a->tensors->len, ==, b->tensors->len);
  gboolean differ = FALSE;
  for (guint t = 0; t < a->tensors->len; t++)
    {
      HlTensor *ta = a->tensors->pdata[t], *tb = b->tensors->pdata[t], *tc = c->tensors->pdata[t];
      g_assert_cmpmem (ta->data, ta->numel * sizeof (float), tb->data, tb->numel * sizeof (float));
      differ |= memcmp (ta->data, tc->data, ta->numel * sizeof (float)) != 0;
    }
  g_assert_true (differ);

  for (guint t = 0; t < a->tensors->len; t++)
    {
      HlTensor *tensor = a->tensors->pdata[t];
      double sum = 0.0, sum_sq = 0.0, max_abs = 0.0;
      for (gsize i = 0; i < tensor->numel; i++)
        {
          sum += tensor->data[i];
          sum_sq += (double) tensor->data[i] * tensor->data[i];
          max_abs = MAX (max_abs, fabs (tensor->data[i]));
        }
      double mean = sum / tensor->numel, rms = sqrt (sum_sq / tensor->numel);
      if (tensor->n_dims == 4)
        {
          double fan_in = (double) (tensor->shape[1] * tensor->shape[2] * tensor->shape[3]);
          /* numel normal draws of variance s^2 = 2 / fan_in: their mean square has standard
           * deviation s^2 sqrt (2 / numel), so the rms s / sqrt (2 numel); 5 of them */
          double sd = sqrt (2.0 / fan_in);
          if (tensor->numel >= 500)
            g_assert_cmpfloat_with_epsilon (rms, sd, 5 * sd / sqrt (2.0 * tensor->numel));
        }
      else if (strcmp (tensor->name, "classifier.weight") == 0)
        {
          double bound = 1.0 / sqrt ((double) tensor->shape[1]);
          g_assert_cmpfloat (max_abs, <=, bound);
          g_assert_cmpfloat (max_abs, >, 0.8 * bound);
        }
      else if (g_str_has_suffix (tensor->name, ".running_var")
               || g_str_has_suffix (tensor->name, ".weight"))
        g_assert_cmpfloat (mean, ==, 1.0);
      else
        g_assert_cmpfloat (max_abs, ==, 0.0);
    }

  /* folded for inference: a constant-free forward pass gives finite, bias-free logits */
  g_autofree float *input = g_new0 (float, hl_model_input_size (a));
  for (gsize i = 0; i < hl_model_input_size (a); i++)
    input[i] = (float) sin (0.37 * i);
  g_autoptr (GError) error = NULL;
  g_autoptr (HlForward) fwd = hl_model_forward (a, input, 1, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  for (int l = 0; l < 4; l++)
    g_assert_true (isfinite (fwd->logits[l]));
  g_assert_cmpfloat (a->norm5.scale[0], ==, 1.0f / sqrtf (1.0f + 1e-5f));
  g_assert_cmpfloat (a->blocks[1].layers[1].norm2.shift[3], ==, 0.0f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/engine/augment/rng-reference", test_rng_reference);
  g_test_add_func ("/engine/augment/rng-shuffle", test_rng_shuffle);
  g_test_add_func ("/engine/augment/identity-shift", test_identity_and_shift);
  g_test_add_func ("/engine/augment/quarter-turn", test_quarter_turn);
  g_test_add_func ("/engine/augment/zoom", test_zoom);
  g_test_add_func ("/engine/augment/intensity", test_intensity);
  g_test_add_func ("/engine/augment/draw", test_draw);
  g_test_add_func ("/engine/augment/crop", test_crop);
  g_test_add_func ("/engine/augment/crop-composed", test_crop_composed);
  g_test_add_func ("/engine/augment/draw-count", test_draw_count);
  g_test_add_func ("/engine/augment/draw-crop", test_draw_crop);
  g_test_add_func ("/engine/augment/draw-erase", test_draw_erase);
  g_test_add_func ("/engine/augment/erase-apply", test_erase_apply);
  g_test_add_func ("/engine/augment/determinism", test_determinism);
  g_test_add_func ("/engine/augment/matches-torch", test_matches_torch);
  g_test_add_func ("/engine/init/torchvision", test_initialized);
  return g_test_run ();
}
