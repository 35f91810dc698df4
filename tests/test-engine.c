/* test-engine.c — tests of the engine's compute side: every optimised kernel (convolution,
 * pooling, BatchNorm + ReLU, PyTorch-style resizing) against a plain reference written here on
 * seeded random inputs plus tiny hand-computed cases; preprocessing; the whole DenseNet forward
 * pass of small random models against a naive reference forward (dense blocks by explicit
 * concatenation, transitions in PyTorch's order: conv then pool); batching, threads sharing one
 * model, cancellation and progress; Grad-CAM against its definition by finite differences; the
 * portable convolution path (HILUM_ENGINE_PORTABLE=1) that AVX-512 CPUs otherwise skip; and the
 * thread-split matrix product (hl_sgemm).
 *
 * Tolerances: every comparison asserts |engine - reference| <= bound elementwise (assert_bounded)
 * with a bound derived, next to each test, from the operations the engine performs in float32
 * against a reference in double: u = 2^-24, gamma_n = n u / (1 - n u) bounds the relative error of
 * any float32 sum or dot product of n terms in any order, blocking or FMA (Higham, Accuracy and
 * Stability of Numerical Algorithms, 3.1), and BatchNorm + ReLU x s + t rounds at most twice, so
 * |fl (act) - act| <= 2u (|x s| + |t|) (ReLU is 1-Lipschitz). These worst-case bounds hold for
 * any summation order, so for any OpenBLAS kernel and the portable path. The whole network, where
 * the worst case is useless, is bounded by the reference's own float32 rounding (check_network).
 */
#include "engine/hl-kernels.h"
#include "hl-test-bound.h"

#include <math.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------------------- */

static float *
random_floats (GRand *rand, gsize n, double lo, double hi)
{
  float *v = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rand, lo, hi);
  return v;
}

/* A bound array of @n copies of @b. */
static double *
bound_fill (gsize n, double b)
{
  double *v = g_new (double, n);

  for (gsize i = 0; i < n; i++)
    v[i] = b;
  return v;
}

static double
max_abs (const float *x, gsize n)
{
  double m = 0;

  for (gsize i = 0; i < n; i++)
    m = MAX (m, fabs (x[i]));
  return m;
}

/* ---- reference kernels (plain, in double) --------------------------------------------------- */

/* When set, the reference kernels round every operation's result to float, as a float32
 * implementation with float accumulation in the naive loop order would (see check_network). */
static gboolean ref_in_float;

static double
rnd (double v)
{
  return ref_in_float ? (double) (float) v : v;
}

static double
ref_act (double v, const float *scale, const float *shift, int c)
{
  if (scale == NULL)
    return v;
  v = v * scale[c] + shift[c];
  return v > 0.0 ? v : 0.0;
}

/* What the rounding of act (v) is proportional to: |v s| + |t| after BN + ReLU, |v| without. */
static double
ref_act_magnitude (double v, const float *scale, const float *shift, int c)
{
  if (scale == NULL)
    return fabs (v);
  return fabs (v * scale[c]) + fabs (shift[c]);
}

/* y (c_out, h_out, w_out) = conv (act (x)) by the definition; with @mag, also the magnitude
 * sum |w| ref_act_magnitude (x) of each output, newly allocated. */
static double *
ref_conv_core (const HlConv *conv, const float *x, const double *xd, int h, int w,
               const float *scale, const float *shift, int *h_out_ret, int *w_out_ret,
               double **mag)
{
  int h_out = (h + 2 * conv->pad - conv->k_h) / conv->stride + 1;
  int w_out = (w + 2 * conv->pad - conv->k_w) / conv->stride + 1;
  double *y = g_new0 (double, (gsize) conv->c_out * h_out * w_out);
  double *m = mag != NULL ? g_new0 (double, (gsize) conv->c_out * h_out * w_out) : NULL;

  for (int o = 0; o < conv->c_out; o++)
    for (int oy = 0; oy < h_out; oy++)
      for (int ox = 0; ox < w_out; ox++)
        {
          double sum = 0.0, magnitude = 0.0;
          for (int c = 0; c < conv->c_in; c++)
            for (int i = 0; i < conv->k_h; i++)
              for (int j = 0; j < conv->k_w; j++)
                {
                  int iy = oy * conv->stride - conv->pad + i;
                  int ix = ox * conv->stride - conv->pad + j;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                    continue;
                  gsize at = ((gsize) c * h + iy) * w + ix;
                  double v = x != NULL ? x[at] : xd[at];
                  double wt = conv->weight[(((gsize) o * conv->c_in + c) * conv->k_h + i)
                                           * conv->k_w + j];
                  sum = rnd (sum + rnd (ref_act (v, scale, shift, c) * wt));
                  magnitude += ref_act_magnitude (v, scale, shift, c) * fabs (wt);
                }
          y[((gsize) o * h_out + oy) * w_out + ox] = sum;
          if (m != NULL)
            m[((gsize) o * h_out + oy) * w_out + ox] = magnitude;
        }
  *h_out_ret = h_out;
  *w_out_ret = w_out;
  if (mag != NULL)
    *mag = m;
  return y;
}

static double *
ref_conv (const HlConv *conv, const float *x, int h, int w, const float *scale, const float *shift,
          int *h_out_ret, int *w_out_ret, double **mag)
{
  return ref_conv_core (conv, x, NULL, h, w, scale, shift, h_out_ret, w_out_ret, mag);
}

static double *
ref_maxpool_core (const float *x, const double *xd, int c, int h, int w, int k, int stride,
                  int pad, const float *scale, const float *shift, int *h_out_ret,
                  int *w_out_ret)
{
  int h_out = (h + 2 * pad - k) / stride + 1;
  int w_out = (w + 2 * pad - k) / stride + 1;
  double *y = g_new (double, (gsize) c * h_out * w_out);

  for (int ch = 0; ch < c; ch++)
    for (int oy = 0; oy < h_out; oy++)
      for (int ox = 0; ox < w_out; ox++)
        {
          double m = -INFINITY;
          for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
              {
                int iy = oy * stride - pad + i, ix = ox * stride - pad + j;
                gsize at = ((gsize) ch * h + iy) * w + ix;
                if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                  m = MAX (m, ref_act (x != NULL ? x[at] : xd[at], scale, shift, ch));
              }
          y[((gsize) ch * h_out + oy) * w_out + ox] = m;
        }
  *h_out_ret = h_out;
  *w_out_ret = w_out;
  return y;
}

static double *
ref_maxpool (const float *x, int c, int h, int w, int k, int stride, int pad, const float *scale,
             const float *shift, int *h_out_ret, int *w_out_ret)
{
  return ref_maxpool_core (x, NULL, c, h, w, k, stride, pad, scale, shift, h_out_ret, w_out_ret);
}

/* 2x2 average pool, stride 2, of a double tensor (c, h, w). */
static double *
ref_avgpool2 (const double *x, int c, int h, int w)
{
  int h_out = h / 2, w_out = w / 2;
  double *y = g_new (double, (gsize) c * h_out * w_out);

  for (int ch = 0; ch < c; ch++)
    for (int oy = 0; oy < h_out; oy++)
      for (int ox = 0; ox < w_out; ox++)
        {
          const double *p = x + ((gsize) ch * h + 2 * oy) * w + 2 * ox;
          y[((gsize) ch * h_out + oy) * w_out + ox]
              = rnd (rnd (rnd (p[0] + p[1]) + p[w]) + p[w + 1]) / 4.0;
        }
  return y;
}

/* The scale in / out as PyTorch computes it for float32 tensors: rounded to float (which moves
 * source coordinates by up to 1e-5 px at 512 px, so the references must do the same). */
static double
torch_scale (int in, int out)
{
  return (float) in / (float) out;
}

/* PyTorch bilinear, align_corners=False, antialias=False, by its definition: source coordinate
 * (o + 0.5) * scale - 0.5, clamped at 0, linear between floor and floor + 1 (clamped). */
static void
ref_linear_weights (int in, int out, int o, int *i0, int *i1, double *l1)
{
  double src = (o + 0.5) * torch_scale (in, out) - 0.5;

  if (src < 0.0)
    src = 0.0;
  *i0 = (int) floor (src);
  *i1 = MIN (*i0 + 1, in - 1);
  *l1 = src - *i0;
}

static double *
ref_resize_linear (const float *src, int h, int w, int out_h, int out_w)
{
  double *dst = g_new (double, (gsize) out_h * out_w);

  for (int oy = 0; oy < out_h; oy++)
    for (int ox = 0; ox < out_w; ox++)
      {
        int y0, y1, x0, x1;
        double ly, lx;
        ref_linear_weights (h, out_h, oy, &y0, &y1, &ly);
        ref_linear_weights (w, out_w, ox, &x0, &x1, &lx);
        dst[(gsize) oy * out_w + ox] =
          (1 - ly) * ((1 - lx) * src[y0 * w + x0] + lx * src[y0 * w + x1])
          + ly * ((1 - lx) * src[y1 * w + x0] + lx * src[y1 * w + x1]);
      }
  return dst;
}

/* Antialiased (PIL / PyTorch antialias=True) weight of input pixel @i for output @o along one
 * axis, unnormalised: triangle ((i + 0.5 - center) / max (scale, 1)) over the window
 * [center - support, center + support) rounded to pixels, center = (o + 0.5) * scale. */
static double
ref_aa_weight (int in, int out, int o, int i)
{
  double scale = torch_scale (in, out);
  double support = scale >= 1.0 ? scale : 1.0;
  double center = (float) ((o + 0.5) * scale); /* a float in ATen's antialias kernel */
  int lo = MAX ((int) floor (center - support + 0.5), 0);
  int hi = MIN ((int) floor (center + support + 0.5), in);

  if (i < lo || i >= hi)
    return 0.0;
  double t = fabs ((i + 0.5 - center) / (scale >= 1.0 ? scale : 1.0));
  return t < 1.0 ? 1.0 - t : 0.0;
}

/* Direct 2-D antialiased resize: each output is the normalised sum of input pixels weighted by
 * the product of the two axes' weights (no separable passes, no intermediate rounding). */
static double *
ref_resize_aa (const float *src, int h, int w, int out_h, int out_w)
{
  double *dst = g_new (double, (gsize) out_h * out_w);
  g_autofree double *wy = g_new (double, h);
  g_autofree double *wx = g_new (double, (gsize) out_w * w);

  for (int ox = 0; ox < out_w; ox++)
    for (int ix = 0; ix < w; ix++)
      wx[(gsize) ox * w + ix] = ref_aa_weight (w, out_w, ox, ix);
  for (int oy = 0; oy < out_h; oy++)
    {
      double sum_wy = 0.0;
      for (int iy = 0; iy < h; iy++)
        sum_wy += wy[iy] = ref_aa_weight (h, out_h, oy, iy);
      for (int ox = 0; ox < out_w; ox++)
        {
          const double *wxo = wx + (gsize) ox * w;
          double sum_wx = 0.0, acc = 0.0;
          for (int ix = 0; ix < w; ix++)
            sum_wx += wxo[ix];
          for (int iy = 0; iy < h; iy++)
            if (wy[iy] != 0.0)
              for (int ix = 0; ix < w; ix++)
                acc += wy[iy] * wxo[ix] * src[(gsize) iy * w + ix];
          dst[(gsize) oy * out_w + ox] = acc / (sum_wy * sum_wx);
        }
    }
  return dst;
}

/* Taps along one axis of the antialiased resize, 2 ceil (support) + 1; none when the size does
 * not change (the engine copies that axis). */
static int
aa_taps (int in, int out)
{
  float scale = (float) in / (float) out;

  return in == out ? 0 : 2 * (int) ceilf (scale >= 1.0f ? scale : 1.0f) + 1;
}

/* The bound of hl_resize_bilinear against ref_resize_linear / ref_resize_aa, as a multiple of
 * u max |src| (the weights are >= 0 and sum to 1, so every partial result is within max |src|).
 * Both sides use the same float scale and (antialias) the same float centre.
 *   bilinear   l1 rounds to float (u) and l0 = 1 - l1 once more (2u in all), so each of the four
 *              products w_y w_x is off by 2u (w_y + w_x), 8u max |src| over the taps; the taps
 *              are combined in double (products exact) and rounded once: 9u, 10u with the
 *              double sums.
 *   antialias  per axis of T taps: the filter argument (|arg| < 1) rounds through the float
 *              1 / scale and to float (2u) and 1 - |arg| once more, so each raw weight is off by
 *              3u; their float total (>= 1/2: at least half a triangle of unit area lies inside
 *              the image) by 3u T + gamma_T total; each normalised weight w / total by 6u + (6u T
 *              + gamma_T + u) w, 13u T + u over the taps; the T-term float dot product adds
 *              gamma_T: (14 T + 1) u per axis; the second axis sums the first's results with
 *              weights summing to 1, so the two add: (14 (T_x + T_y) + 2) u. */
static double
resize_bound (int h, int w, int out_h, int out_w, gboolean aa, double max_src)
{
  if (!aa)
    return 10 * HL_TEST_U * max_src;
  return (14.0 * (aa_taps (h, out_h) + aa_taps (w, out_w)) + 2) * HL_TEST_U * max_src;
}

/* ---- kernel tests -------------------------------------------------------------------------- */

typedef struct
{
  int c_in, c_out, h, w, k, stride, pad;
  gboolean bn;
} ConvCase;

static void
check_conv_case (GRand *rand, const ConvCase *cc)
{
  HlConv conv = { cc->c_out, cc->c_in, cc->k, cc->k, cc->stride, cc->pad, NULL };
  g_autofree float *x = random_floats (rand, (gsize) cc->c_in * cc->h * cc->w, -2, 2);
  g_autofree float *weight = random_floats (rand, (gsize) cc->c_out * cc->c_in * cc->k * cc->k,
                                            -1, 1);
  g_autofree float *scale = cc->bn ? random_floats (rand, cc->c_in, -1.5, 1.5) : NULL;
  g_autofree float *shift = cc->bn ? random_floats (rand, cc->c_in, -1, 1) : NULL;
  int h_out, w_out;

  conv.weight = weight;
  g_autofree double *mag = NULL;
  g_autofree double *want = ref_conv (&conv, x, cc->h, cc->w, scale, shift, &h_out, &w_out, &mag);
  gsize n_out = (gsize) cc->c_out * h_out * w_out;
  gsize work_n = hl_conv2d_work_size (&conv, cc->h, cc->w, cc->bn);
  g_autofree float *work = work_n > 0 ? g_new (float, work_n) : NULL;
  g_autofree float *y = g_new (float, n_out);

  hl_conv2d (&conv, x, cc->h, cc->w, scale, shift, work, y);
  g_autofree char *what = g_strdup_printf ("conv %dx%d s%d p%d %d->%d on %dx%d%s", cc->k, cc->k,
                                           cc->stride, cc->pad, cc->c_in, cc->c_out, cc->h,
                                           cc->w, cc->bn ? " with BN+ReLU" : "");
  /* A dot product of K = c_in k k terms: gamma_K sum |w| |act (x)|; its inputs act (x) each carry
   * the 2u (|x s| + |t|) of BN + ReLU, which adds 2 to K (to first order). */
  int terms = cc->c_in * cc->k * cc->k + (cc->bn ? 2 : 0);
  g_autofree double *bound = g_new (double, n_out);
  for (gsize i = 0; i < n_out; i++)
    bound[i] = hl_test_gamma (terms) * mag[i];
  hl_test_assert_bounded (what, y, want, bound, n_out);

  /* The im2col + sgemm path, which the 3x3 case bypasses on AVX-512 machines. */
  g_autofree float *col = g_new (float, (gsize) cc->c_in * cc->k * cc->k * h_out * w_out);
  g_autofree char *what2 = g_strconcat (what, " (im2col)", NULL);
  hl_conv2d_im2col (&conv, x, cc->h, cc->w, scale, shift, col, y);
  hl_test_assert_bounded (what2, y, want, bound, n_out);
}

static void
test_conv_1x1 (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);
  const ConvCase cases[] = {
    { 37, 19, 9, 11, 1, 1, 0, FALSE },
    { 37, 19, 9, 11, 1, 1, 0, TRUE },
    { 64, 128, 7, 7, 1, 1, 0, TRUE },
    { 1, 3, 1, 1, 1, 1, 0, TRUE },
    { 12, 8, 8, 5, 1, 1, 0, TRUE },  /* 40 positions: one partial tile of three vectors */
    { 12, 16, 5, 5, 1, 1, 0, TRUE }, /* 25: two vectors */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    check_conv_case (rand, &cases[i]);

  /* By hand: weights (2, -1); channel 0 = (1, 2), channel 1 = (3, 5). */
  float x[] = { 1, 2, 3, 5 };
  float weight[] = { 2, -1 };
  HlConv conv = { 1, 2, 1, 1, 1, 0, weight };
  float y[2], work[4];
  hl_conv2d (&conv, x, 1, 2, NULL, NULL, NULL, y);
  g_assert_cmpfloat (y[0], ==, -1.0f);
  g_assert_cmpfloat (y[1], ==, -1.0f);
  /* BN+ReLU first: scale 1, shift (0, -4) turns channel 1 into (0, 1). */
  float scale[] = { 1, 1 }, shift[] = { 0, -4 };
  hl_conv2d (&conv, x, 1, 2, scale, shift, work, y);
  g_assert_cmpfloat (y[0], ==, 2.0f);
  g_assert_cmpfloat (y[1], ==, 3.0f);
}

static void
test_conv_3x3 (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (12);
  const ConvCase cases[] = {
    { 5, 7, 9, 11, 3, 1, 1, FALSE },
    { 5, 7, 9, 11, 3, 1, 1, TRUE },
    { 16, 4, 8, 8, 3, 1, 1, TRUE },
    { 4, 6, 10, 9, 3, 2, 0, TRUE },
    { 2, 3, 1, 1, 3, 1, 1, TRUE },
    { 24, 19, 13, 29, 3, 1, 1, TRUE }, /* two groups of 8 outputs, 3 left; tiles span rows */
    { 16, 8, 5, 7, 3, 1, 1, TRUE },     /* 45 wide positions: a partial tile of three vectors */
    { 16, 8, 3, 3, 3, 1, 1, TRUE },     /* 15: one vector */
    { 128, 32, 14, 14, 3, 1, 1, TRUE }, /* a DenseNet-121 conv2 in block 3 */
  };

  g_test_message ("direct kernel: %s", hl_conv_direct_available () ? "yes" : "no");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    check_conv_case (rand, &cases[i]);
  /* Split over threads, the result is the same. */
  int before = hl_engine_get_threads ();
  hl_engine_set_threads (2);
  check_conv_case (rand, &cases[G_N_ELEMENTS (cases) - 1]);
  hl_engine_set_threads (before);

  /* By hand: a 3x3 box of ones over a 3x3 plane of ones, zero padding: 4 6 4 / 6 9 6 / 4 6 4. */
  float x[9], weight[9], y[9];
  const float want[9] = { 4, 6, 4, 6, 9, 6, 4, 6, 4 };
  for (int i = 0; i < 9; i++)
    x[i] = weight[i] = 1.0f;
  HlConv conv = { 1, 1, 3, 3, 1, 1, weight };
  g_autofree float *work = g_new (float, hl_conv2d_work_size (&conv, 3, 3, TRUE));
  hl_conv2d (&conv, x, 3, 3, NULL, NULL, work, y);
  for (int i = 0; i < 9; i++)
    g_assert_cmpfloat (y[i], ==, want[i]);
  /* Padding is applied after BN+ReLU: shift -2 makes every input 0 after ReLU, while a padding
   * of act(0) = ReLU (0 * 1 + 5) would leak 5s in through the border with shift +5 below. */
  float scale[] = { 1 }, shift_neg[] = { -2 }, shift_pos[] = { 5 };
  hl_conv2d (&conv, x, 3, 3, scale, shift_neg, work, y);
  for (int i = 0; i < 9; i++)
    g_assert_cmpfloat (y[i], ==, 0.0f);
  hl_conv2d (&conv, x, 3, 3, scale, shift_pos, work, y);
  for (int i = 0; i < 9; i++)
    g_assert_cmpfloat (y[i], ==, 6.0f * want[i]);
}

static void
test_conv_7x7 (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (13);
  const ConvCase cases[] = {
    { 3, 8, 20, 17, 7, 2, 3, FALSE },
    { 1, 5, 33, 33, 7, 2, 3, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    check_conv_case (rand, &cases[i]);
}

static void
test_bn_relu (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (14);
  int c = 6;
  gsize hw = 35;
  g_autofree float *x = random_floats (rand, c * hw, -3, 3);
  g_autofree float *scale = random_floats (rand, c, -2, 2);
  g_autofree float *shift = random_floats (rand, c, -1, 1);
  g_autofree float *y = g_new (float, c * hw);
  g_autofree double *want = g_new (double, c * hw);
  g_autofree double *bound = g_new (double, c * hw);

  /* Two roundings (or one fused multiply-add) of x s + t. */
  for (int ch = 0; ch < c; ch++)
    for (gsize i = 0; i < hw; i++)
      {
        want[ch * hw + i] = ref_act (x[ch * hw + i], scale, shift, ch);
        bound[ch * hw + i] = 2 * HL_TEST_U * ref_act_magnitude (x[ch * hw + i], scale, shift, ch);
      }
  hl_bn_relu (x, c, hw, scale, shift, y);
  hl_test_assert_bounded ("bn+relu", y, want, bound, c * hw);
  /* In place. */
  hl_bn_relu (x, c, hw, scale, shift, x);
  hl_test_assert_bounded ("bn+relu in place", x, want, bound, c * hw);
}

static void
test_pad1 (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (15);
  int c = 3, h = 4, w = 5, hp = h + 2, wp = w + 2;
  g_autofree float *x = random_floats (rand, (gsize) c * h * w, -2, 2);
  g_autofree float *scale = random_floats (rand, c, -1.5, 1.5);
  g_autofree float *shift = random_floats (rand, c, -1, 1);
  g_autofree float *xp = g_new (float, (gsize) c * hp * wp);
  g_autofree double *want = g_new (double, (gsize) c * hp * wp);
  g_autofree double *bound = g_new (double, (gsize) c * hp * wp);

  /* A copy is exact; BN + ReLU rounds as in test_bn_relu; the border is an exact 0. */
  for (int bn = 0; bn < 2; bn++)
    {
      for (int ch = 0; ch < c; ch++)
        for (int r = 0; r < hp; r++)
          for (int q = 0; q < wp; q++)
            {
              gboolean inside = r >= 1 && r <= h && q >= 1 && q <= w;
              double v = inside ? x[((gsize) ch * h + r - 1) * w + q - 1] : 0.0;
              want[((gsize) ch * hp + r) * wp + q] = inside ? ref_act (v, bn ? scale : NULL,
                                                                         shift, ch) : 0.0;
              bound[((gsize) ch * hp + r) * wp + q]
                  = inside && bn ? 2 * HL_TEST_U * ref_act_magnitude (v, scale, shift, ch) : 0.0;
            }
      hl_pad1 (x, c, h, w, bn ? scale : NULL, bn ? shift : NULL, xp);
      hl_test_assert_bounded (bn ? "pad1 with BN+ReLU" : "pad1", xp, want, bound,
                              (gsize) c * hp * wp);
    }
}

static void
test_pool_max (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (21);
  const int sizes[][3] = { { 4, 16, 16 }, { 3, 15, 13 }, { 2, 1, 2 } };

  for (gsize t = 0; t < G_N_ELEMENTS (sizes); t++)
    for (int bn = 0; bn < 2; bn++)
      {
        int c = sizes[t][0], h = sizes[t][1], w = sizes[t][2], h_out, w_out;
        g_autofree float *x = random_floats (rand, (gsize) c * h * w, -2, 2);
        g_autofree float *scale = bn ? random_floats (rand, c, -1.5, 1.5) : NULL;
        g_autofree float *shift = bn ? random_floats (rand, c, -1, 1) : NULL;
        g_autofree double *want = ref_maxpool (x, c, h, w, 3, 2, 1, scale, shift, &h_out, &w_out);
        g_autofree float *y = g_new (float, (gsize) c * h_out * w_out);
        gsize plane_out = (gsize) h_out * w_out;
        g_autofree double *bound = g_new (double, c * plane_out);
        /* The max of exact values is exact; of BN + ReLU values, off by at most the largest
         * rounding in the window, 2u (max |x| |s| + |t|) over the channel. */
        for (int ch = 0; ch < c; ch++)
          for (gsize i = 0; i < plane_out; i++)
            bound[ch * plane_out + i]
                = bn ? 2 * HL_TEST_U
                           * (max_abs (x + (gsize) ch * h * w, (gsize) h * w) * fabs (scale[ch])
                              + fabs (shift[ch]))
                     : 0.0;
        hl_maxpool2d (x, c, h, w, 3, 2, 1, scale, shift, y);
        hl_test_assert_bounded ("maxpool 3x3/2 pad 1", y, want, bound, (gsize) c * h_out * w_out);
      }

  /* By hand: padding counts as -inf, so an all-negative plane keeps its negative maxima. */
  float x[16], y[4];
  const float want[4] = { -1, -2, -5, -6 };
  for (int i = 0; i < 16; i++)
    x[i] = -(float) (i + 1);
  hl_maxpool2d (x, 1, 4, 4, 3, 2, 1, NULL, NULL, y);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat (y[i], ==, want[i]);
}

static void
test_pool_avg (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (22);
  const int sizes[][3] = { { 4, 16, 16 }, { 3, 15, 13 }, { 2, 2, 3 } };

  for (gsize t = 0; t < G_N_ELEMENTS (sizes); t++)
    for (int bn = 0; bn < 2; bn++)
      {
        int c = sizes[t][0], h = sizes[t][1], w = sizes[t][2];
        gsize n_in = (gsize) c * h * w, n_out = (gsize) c * (h / 2) * (w / 2);
        g_autofree float *x = random_floats (rand, n_in, -2, 2);
        g_autofree float *scale = bn ? random_floats (rand, c, -1.5, 1.5) : NULL;
        g_autofree float *shift = bn ? random_floats (rand, c, -1, 1) : NULL;
        g_autofree double *act = g_new (double, n_in), *mag = g_new (double, n_in);
        for (gsize i = 0; i < n_in; i++)
          {
            act[i] = ref_act (x[i], scale, shift, (int) (i / ((gsize) h * w)));
            mag[i] = ref_act_magnitude (x[i], scale, shift, (int) (i / ((gsize) h * w)));
          }
        g_autofree double *want = ref_avgpool2 (act, c, h, w);
        g_autofree double *bound = ref_avgpool2 (mag, c, h, w);
        g_autofree float *y = g_new (float, n_out);
        /* A 4-term sum (gamma_3) times 1/4 (exact) of values carrying BN + ReLU's 2u: gamma_5 of
         * the mean magnitude (gamma_3 without BN). */
        for (gsize i = 0; i < n_out; i++)
          bound[i] *= hl_test_gamma (bn ? 5 : 3);
        hl_avgpool2x2 (x, c, h, w, scale, shift, y);
        hl_test_assert_bounded ("avgpool 2x2/2", y, want, bound, n_out);
      }

  /* By hand: a 3x3 plane pools to the mean of its top-left 2x2. */
  float x[9] = { 1, 2, 100, 3, 6, 100, 100, 100, 100 }, y[1];
  hl_avgpool2x2 (x, 1, 3, 3, NULL, NULL, y);
  g_assert_cmpfloat (y[0], ==, 3.0f);
}

static void
test_pool_global (void)
{
  float x[] = { 1, 2, 3, 4, -1, -1, -1, 5 }, y[2];

  hl_global_avgpool (x, 2, 4, y);
  g_assert_cmpfloat (y[0], ==, 2.5f);
  g_assert_cmpfloat (y[1], ==, 0.5f);
}

/* ---- resizing and preprocessing -------------------------------------------------------------- */

static void
check_resize (GRand *rand, int h, int w, int out_h, int out_w, gboolean aa)
{
  g_autofree float *src = random_floats (rand, (gsize) h * w, 0, 1);
  g_autofree float *dst = g_new (float, (gsize) out_h * out_w);
  g_autofree double *want = aa ? ref_resize_aa (src, h, w, out_h, out_w)
                               : ref_resize_linear (src, h, w, out_h, out_w);
  g_autofree char *what = g_strdup_printf ("%s %dx%d -> %dx%d", aa ? "antialias" : "bilinear", h,
                                           w, out_h, out_w);

  g_autofree double *bound = bound_fill ((gsize) out_h * out_w,
                                         resize_bound (h, w, out_h, out_w, aa,
                                                       max_abs (src, (gsize) h * w)));

  hl_resize_bilinear (src, h, w, dst, out_h, out_w, aa);
  hl_test_assert_bounded (what, dst, want, bound, (gsize) out_h * out_w);
}

static const int resize_cases[][4] = {
  { 64, 48, 32, 32 }, { 100, 100, 32, 32 }, { 31, 45, 32, 32 }, { 7, 7, 40, 33 },
  { 17, 5, 17, 5 }, { 1, 9, 4, 4 }, { 512, 512, 224, 224 }, { 33, 20, 32, 32 },
};

static void
test_preprocess_bilinear (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (31);

  for (gsize i = 0; i < G_N_ELEMENTS (resize_cases); i++)
    check_resize (rand, resize_cases[i][0], resize_cases[i][1], resize_cases[i][2],
                  resize_cases[i][3], FALSE);

  /* By hand (and PyTorch): [[0, 1], [2, 3]] upsampled to 4x4. */
  float src[] = { 0, 1, 2, 3 }, dst[16];
  const float want[16] = { 0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5,
                           1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3 };
  hl_resize_bilinear (src, 2, 2, dst, 4, 4, FALSE);
  for (int i = 0; i < 16; i++)
    g_assert_cmpfloat_with_epsilon (dst[i], want[i], resize_bound (2, 2, 4, 4, FALSE, 3));
}

static void
test_preprocess_antialias (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (32);

  for (gsize i = 0; i < G_N_ELEMENTS (resize_cases); i++)
    check_resize (rand, resize_cases[i][0], resize_cases[i][1], resize_cases[i][2],
                  resize_cases[i][3], TRUE);

  /* By hand: halving the row (0, 1, 2, 3) with support 2: output 0 is centred at 1.0 and weighs
   * pixels 0..2 by (0.75, 0.75, 0.25) / 1.75, output 1 at 3.0 weighs 1..3 by (0.25, 0.75, 0.75). */
  float src[] = { 0, 1, 2, 3 }, dst[2];
  hl_resize_bilinear (src, 1, 4, dst, 1, 2, TRUE);
  g_assert_cmpfloat_with_epsilon (dst[0], 5.0 / 7.0, resize_bound (1, 4, 1, 2, TRUE, 3));
  g_assert_cmpfloat_with_epsilon (dst[1], 16.0 / 7.0, resize_bound (1, 4, 1, 2, TRUE, 3));

  /* A constant image stays constant whatever the scale (weights are normalised). */
  float flat[300], out[49];
  for (int i = 0; i < 300; i++)
    flat[i] = 0.375f;
  hl_resize_bilinear (flat, 15, 20, out, 7, 7, TRUE);
  for (int i = 0; i < 49; i++)
    g_assert_cmpfloat_with_epsilon (out[i], 0.375f, resize_bound (15, 20, 7, 7, TRUE, 0.375));
}

static void
tiny_info (HlModelInfo *info, int input_size, int input_channels)
{
  memset (info, 0, sizeof *info);
  info->arch.growth_rate = 4;
  info->arch.n_blocks = 2;
  info->arch.block_config[0] = 2;
  info->arch.block_config[1] = 3;
  info->arch.num_init_features = 8;
  info->arch.bn_size = 2;
  info->arch.bn_eps = 1e-5f;
  info->input_size = input_size;
  info->input_channels = input_channels;
  info->n_labels = 3;
  info->preprocess.resize = HL_RESIZE_BILINEAR;
  info->preprocess.mode = HL_NORM_CHANNEL;
  for (int c = 0; c < 3; c++)
    {
      info->preprocess.mean[c] = 0.4f + 0.05f * c;
      info->preprocess.std[c] = 0.2f + 0.03f * c;
    }
}

static void
test_preprocess_channel (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (33);
  HlModelInfo info;

  for (int aa = 0; aa < 2; aa++)
    {
      tiny_info (&info, 40, 3);
      info.preprocess.resize = aa ? HL_RESIZE_BILINEAR_ANTIALIAS : HL_RESIZE_BILINEAR;
      g_autoptr (HlModel) model = hl_model_new_random (&info, 1);
      g_autofree float *gray = random_floats (rand, 90 * 70, 0, 1);
      g_autofree float *out = g_new (float, hl_model_input_size (model));
      g_autofree double *resized = aa ? ref_resize_aa (gray, 90, 70, 40, 40)
                                      : ref_resize_linear (gray, 90, 70, 40, 40);
      g_autofree double *want = g_new (double, 3 * 40 * 40);

      g_assert_cmpuint (hl_model_input_size (model), ==, 3 * 40 * 40);
      for (int c = 0; c < 3; c++)
        for (int i = 0; i < 40 * 40; i++)
          want[c * 1600 + i] = (resized[i] - info.preprocess.mean[c]) / info.preprocess.std[c];
      /* (r - m) / s in float: the resize's error over s, and two roundings of the result. */
      g_autofree double *bound = g_new (double, 3 * 40 * 40);
      double br = resize_bound (90, 70, 40, 40, aa, max_abs (gray, 90 * 70));
      for (int c = 0; c < 3; c++)
        for (int i = 0; i < 40 * 40; i++)
          bound[c * 1600 + i]
              = br / info.preprocess.std[c] + hl_test_gamma (2) * fabs (want[c * 1600 + i]);
      hl_model_preprocess (model, gray, 90, 70, out);
      hl_test_assert_bounded ("channel normalisation", out, want, bound, 3 * 40 * 40);
    }
}

static void
test_preprocess_image (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (34);
  HlModelInfo info;

  tiny_info (&info, 32, 3);
  info.preprocess.mode = HL_NORM_IMAGE;
  info.preprocess.resize = HL_RESIZE_BILINEAR_ANTIALIAS;
  g_autoptr (HlModel) model = hl_model_new_random (&info, 1);
  g_autofree float *gray = random_floats (rand, 50 * 61, 0.2, 0.9);
  g_autofree float *out = g_new (float, 3 * 32 * 32);
  g_autofree double *resized = ref_resize_aa (gray, 50, 61, 32, 32);
  g_autofree double *want = g_new (double, 3 * 32 * 32);
  double mean = 0.0, var = 0.0;

  for (int i = 0; i < 1024; i++)
    mean += resized[i] / 1024.0;
  for (int i = 0; i < 1024; i++)
    var += (resized[i] - mean) * (resized[i] - mean) / 1024.0;
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 1024; i++)
      want[c * 1024 + i] = (resized[i] - mean) / (sqrt (var) + 1e-7);
  /* With the resize's error br: the engine's mean (in double) moves by br and rounds to float
   * (u |mean|), its standard deviation moves by at most br (it is 1-Lipschitz in the values) and
   * rounds to float (u), the subtraction and the division round once each: (2 br + u |mean| +
   * |out| br) / sd + 4u |out|. */
  g_autofree double *bound = g_new (double, 3 * 32 * 32);
  double br = resize_bound (50, 61, 32, 32, TRUE, max_abs (gray, 50 * 61));
  double sd = sqrt (var) + 1e-7;
  for (int i = 0; i < 3 * 1024; i++)
    bound[i] = (2 * br + HL_TEST_U * fabs (mean) + fabs (want[i]) * br) / sd
               + 4 * HL_TEST_U * fabs (want[i]);
  hl_model_preprocess (model, gray, 50, 61, out);
  hl_test_assert_bounded ("image normalisation", out, want, bound, 3 * 32 * 32);
}

/* ---- the whole network against a naive reference forward ------------------------------------ */

/* BatchNorm + ReLU from the raw parameters (not the derived scale/shift), in double. */
static double *
ref_bn_relu (const HlBatchNorm *bn, float eps, const double *x, gsize hw)
{
  double *y = g_new (double, (gsize) bn->c * hw);

  for (int c = 0; c < bn->c; c++)
    {
      double inv = rnd (1.0 / rnd (sqrt (rnd ((double) bn->running_var[c] + eps))));
      for (gsize i = 0; i < hw; i++)
        {
          double v = rnd (rnd (rnd (rnd (x[c * hw + i] - bn->running_mean[c]) * inv)
                               * bn->weight[c]) + bn->bias[c]);
          y[c * hw + i] = v > 0.0 ? v : 0.0;
        }
    }
  return y;
}

/* conv of a double tensor, with no activation. */
static double *
ref_conv_d (const HlConv *conv, const double *x, int h, int w, int *h_out, int *w_out)
{
  return ref_conv_core (conv, NULL, x, h, w, NULL, NULL, h_out, w_out, NULL);
}

/* The textbook DenseNet forward of one image: logits (n_labels) and features (c, h, w). */
static void
ref_forward (HlModel *model, const float *input, double *logits, double **features_ret,
             int *c_ret, int *h_ret, int *w_ret)
{
  const HlModelInfo *info = &model->info;
  float eps = info->arch.bn_eps;
  int h, w, h2, w2;
  double *x, *t;

  x = ref_conv (&model->conv0, input, info->input_size, info->input_size, NULL, NULL, &h, &w,
                NULL);
  t = ref_bn_relu (&model->norm0, eps, x, (gsize) h * w);
  g_free (x);
  x = ref_maxpool_core (NULL, t, model->norm0.c, h, w, 3, 2, 1, NULL, NULL, &h2, &w2);
  h = h2;
  w = w2;
  g_free (t);

  int c = model->conv0.c_out;
  for (int b = 0; b < info->arch.n_blocks; b++)
    {
      const HlDenseBlock *blk = &model->blocks[b];
      gsize hw = (gsize) h * w;
      for (int l = 0; l < blk->n_layers; l++)
        {
          const HlDenseLayer *layer = &blk->layers[l];
          g_autofree double *a1 = ref_bn_relu (&layer->norm1, eps, x, hw);
          g_autofree double *m = ref_conv_d (&layer->conv1, a1, h, w, &h2, &w2);
          g_autofree double *a2 = ref_bn_relu (&layer->norm2, eps, m, hw);
          g_autofree double *nw = ref_conv_d (&layer->conv2, a2, h, w, &h2, &w2);
          /* torch.cat ([x, new], 1) */
          int g = layer->conv2.c_out;
          x = g_renew (double, x, (gsize) (c + g) * hw);
          memcpy (x + (gsize) c * hw, nw, (gsize) g * hw * sizeof (double));
          c += g;
        }
      if (b < info->arch.n_blocks - 1)
        {
          const HlTransition *tr = &model->transitions[b];
          g_autofree double *a = ref_bn_relu (&tr->norm, eps, x, hw);
          g_autofree double *cv = ref_conv_d (&tr->conv, a, h, w, &h2, &w2);
          g_free (x);
          c = tr->conv.c_out;
          x = ref_avgpool2 (cv, c, h, w);
          h /= 2;
          w /= 2;
        }
    }
  double *feat = ref_bn_relu (&model->norm5, eps, x, (gsize) h * w);
  g_free (x);
  for (int l = 0; l < info->n_labels; l++)
    {
      double sum = model->classifier_bias[l];
      for (int k = 0; k < c; k++)
        {
          double mean = 0.0;
          for (int i = 0; i < h * w; i++)
            mean = rnd (mean + feat[(gsize) k * h * w + i]);
          double wt = model->classifier_weight[(gsize) l * c + k];
          sum = rnd (sum + rnd (wt * rnd (mean / (h * w))));
        }
      logits[l] = sum;
    }
  *features_ret = feat;
  *c_ret = c;
  *h_ret = h;
  *w_ret = w;
}

/* Against the naive reference, in double and again rounded to float at every operation. A
 * worst-case bound through the network (gamma_K |W| |x| per convolution, compounded through every
 * layer by |W| and the BatchNorm scales) is 1e3 to 1e5 times the values here, so the bound is
 * the float32 reference's own distance to the double one:
 *   |engine - ref64| <= HL_TEST_ROUNDING_FACTOR max |ref32 - ref64| + 4u |ref64|
 * (hl-test-bound.h, which says why 8 and why the floor): the engine and ref32 do the same
 * operations in float32, and ref32 accumulates every K-term sum in one sequential chain, the
 * longest there is, so the engine's shorter chains make no larger errors but for sampling. The
 * probabilities: the sigmoid is 1/4-Lipschitz and the engine's rounds within 4u p. */
static double *
network_bound (const char *what, const double *ref32, const double *ref64, gsize n)
{
  g_autofree float *f32 = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    f32[i] = (float) ref32[i]; /* exact: ref32 holds floats */
  return hl_test_deep_bound (what, f32, ref64, n);
}

static void
check_network (const HlModelInfo *info, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  g_autoptr (HlModel) model = hl_model_new_random (info, seed);
  g_autoptr (GError) error = NULL;
  gsize in_n = hl_model_input_size (model);
  g_autofree float *input = random_floats (rand, in_n, -2, 2);
  g_autoptr (HlForward) fwd = hl_model_forward (model, input, 1, NULL, NULL, NULL, &error);
  g_autofree double *logits = g_new (double, info->n_labels);
  g_autofree double *logits32 = g_new (double, info->n_labels);
  g_autofree double *probs = g_new (double, info->n_labels);
  g_autofree double *probs_bound = g_new (double, info->n_labels);
  g_autofree double *features = NULL, *features32 = NULL;
  g_autofree double *features_bound = NULL, *logits_bound = NULL;
  int c, h, w;

  g_assert_no_error (error);
  g_assert_nonnull (fwd);
  ref_forward (model, input, logits, &features, &c, &h, &w);
  ref_in_float = TRUE;
  ref_forward (model, input, logits32, &features32, &c, &h, &w);
  ref_in_float = FALSE;
  g_assert_cmpint (fwd->n, ==, 1);
  g_assert_cmpint (fwd->n_labels, ==, info->n_labels);
  g_assert_cmpint (fwd->c_feat, ==, c);
  g_assert_cmpint (fwd->c_feat, ==, model->info.n_features);
  g_assert_cmpint (fwd->h_feat, ==, h);
  g_assert_cmpint (fwd->w_feat, ==, w);
  g_assert_true ((guintptr) fwd->features % HL_ALIGN == 0);
  features_bound = network_bound ("network features", features32, features, (gsize) c * h * w);
  logits_bound = network_bound ("network logits", logits32, logits, info->n_labels);
  for (int l = 0; l < info->n_labels; l++)
    {
      probs[l] = 1.0 / (1.0 + exp (-logits[l]));
      probs_bound[l] = logits_bound[l] / 4 + 4 * HL_TEST_U * probs[l];
    }
  hl_test_assert_bounded ("network features", fwd->features, features, features_bound,
                          (gsize) c * h * w);
  hl_test_assert_bounded ("network logits", fwd->logits, logits, logits_bound, info->n_labels);
  hl_test_assert_bounded ("network probabilities", fwd->probs, probs, probs_bound, info->n_labels);
}

static void
test_densenet_reference (void)
{
  HlModelInfo info;

  tiny_info (&info, 32, 3);
  check_network (&info, 41);

  /* Odd sizes everywhere: 50 -> conv0 25 -> max pool 13 -> 6 -> 3; one input channel; three
   * blocks; bn_size 4. */
  tiny_info (&info, 50, 1);
  info.arch.growth_rate = 6;
  info.arch.n_blocks = 3;
  info.arch.block_config[0] = 3;
  info.arch.block_config[1] = 2;
  info.arch.block_config[2] = 2;
  info.arch.num_init_features = 10;
  info.arch.bn_size = 4;
  info.n_labels = 5;
  check_network (&info, 42);
}

static void
test_densenet_batch (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (43);
  HlModelInfo info;
  g_autoptr (GError) error = NULL;

  tiny_info (&info, 36, 3);
  g_autoptr (HlModel) model = hl_model_new_random (&info, 43);
  gsize in_n = hl_model_input_size (model);
  g_autofree float *input = random_floats (rand, 3 * in_n, -2, 2);
  g_autoptr (HlForward) all = hl_model_forward (model, input, 3, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (all->n, ==, 3);
  gsize feat_n = (gsize) all->c_feat * all->h_feat * all->w_feat;
  for (int i = 0; i < 3; i++)
    {
      g_autoptr (HlForward) one = hl_model_forward (model, input + i * in_n, 1, NULL, NULL, NULL,
                                                    &error);
      g_assert_no_error (error);
      g_assert_cmpmem (one->logits, 3 * sizeof (float), all->logits + 3 * i, 3 * sizeof (float));
      g_assert_cmpmem (one->probs, 3 * sizeof (float), all->probs + 3 * i, 3 * sizeof (float));
      g_assert_cmpmem (one->features, feat_n * sizeof (float), all->features + i * feat_n,
                       feat_n * sizeof (float));
    }
}

typedef struct
{
  HlModel *model;
  const float *input;
  HlForward *fwd;
} ThreadJob;

static gpointer
run_job (gpointer data)
{
  ThreadJob *job = data;

  for (int rep = 0; rep < 3; rep++)
    {
      g_clear_pointer (&job->fwd, hl_forward_free);
      job->fwd = hl_model_forward (job->model, job->input, 2, NULL, NULL, NULL, NULL);
    }
  return NULL;
}

/* Four threads running on one shared model, each with two engine threads, give exactly what
 * one thread alone gives. Growth 16 and 64x64 input make the kernels split their work. */
static void
test_densenet_threads (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (44);
  HlModelInfo info;
  ThreadJob jobs[4];
  GThread *threads[4];
  HlForward *alone[4];
  int before = hl_engine_get_threads ();

  tiny_info (&info, 64, 3);
  info.arch.block_config[0] = 4;
  info.arch.growth_rate = 16;
  info.arch.num_init_features = 32;
  g_autoptr (HlModel) model = hl_model_new_random (&info, 44);
  gsize in_n = hl_model_input_size (model);
  g_autofree float *inputs = random_floats (rand, 4 * 2 * in_n, -2, 2);

  hl_engine_set_threads (1);
  for (int t = 0; t < 4; t++)
    alone[t] = hl_model_forward (model, inputs + (gsize) t * 2 * in_n, 2, NULL, NULL, NULL, NULL);
  hl_engine_set_threads (2);
  for (int t = 0; t < 4; t++)
    {
      jobs[t] = (ThreadJob) { model, inputs + (gsize) t * 2 * in_n, NULL };
      threads[t] = g_thread_new ("forward", run_job, &jobs[t]);
    }
  for (int t = 0; t < 4; t++)
    g_thread_join (threads[t]);
  hl_engine_set_threads (before);
  for (int t = 0; t < 4; t++)
    {
      g_autoptr (HlForward) one = alone[t];
      gsize feat_n = (gsize) 2 * one->c_feat * one->h_feat * one->w_feat;
      g_assert_nonnull (jobs[t].fwd);
      g_assert_cmpmem (jobs[t].fwd->logits, 2 * 3 * sizeof (float), one->logits,
                       2 * 3 * sizeof (float));
      g_assert_cmpmem (jobs[t].fwd->features, feat_n * sizeof (float), one->features,
                       feat_n * sizeof (float));
      hl_forward_free (jobs[t].fwd);
    }
}

typedef struct
{
  GArray *fractions;
  GCancellable *cancel_at_first; /* cancelled on the first report when set */
} ProgressLog;

static void
log_progress (double fraction, gpointer user_data)
{
  ProgressLog *log = user_data;

  g_array_append_val (log->fractions, fraction);
  if (log->cancel_at_first != NULL)
    g_cancellable_cancel (log->cancel_at_first);
}

static void
test_densenet_progress (void)
{
  HlModelInfo info;
  g_autoptr (GError) error = NULL;
  ProgressLog log = { g_array_new (FALSE, FALSE, sizeof (double)), NULL };

  tiny_info (&info, 32, 1);
  g_autoptr (HlModel) model = hl_model_new_random (&info, 45);
  g_autofree float *input = g_new0 (float, 2 * hl_model_input_size (model));
  g_autoptr (HlForward) fwd = hl_model_forward (model, input, 2, log_progress, &log, NULL, &error);
  g_assert_no_error (error);
  /* Per image: stem, 2 + 3 dense layers, 1 transition, head. */
  g_assert_cmpuint (log.fractions->len, ==, 2 * (1 + 5 + 1 + 1));
  for (guint i = 0; i < log.fractions->len; i++)
    {
      double f = g_array_index (log.fractions, double, i);
      g_assert_cmpfloat (f, >, 0.0);
      g_assert_cmpfloat (f, <=, 1.0);
      if (i > 0)
        g_assert_cmpfloat (f, >, g_array_index (log.fractions, double, i - 1));
    }
  g_assert_cmpfloat (g_array_index (log.fractions, double, log.fractions->len - 1), ==, 1.0);
  g_array_unref (log.fractions);
}

static void
test_densenet_cancel (void)
{
  HlModelInfo info;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();

  tiny_info (&info, 32, 1);
  g_autoptr (HlModel) model = hl_model_new_random (&info, 46);
  g_autofree float *input = g_new0 (float, 3 * hl_model_input_size (model));

  /* Already cancelled: nothing runs. */
  g_cancellable_cancel (cancellable);
  HlForward *fwd = hl_model_forward (model, input, 3, NULL, NULL, cancellable, &error);
  g_assert_null (fwd);
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_CANCELLED);
  g_clear_error (&error);

  /* Cancelled during the first layer: the run stops at the next layer boundary. */
  ProgressLog log = { g_array_new (FALSE, FALSE, sizeof (double)), NULL };
  g_cancellable_reset (cancellable);
  log.cancel_at_first = cancellable;
  fwd = hl_model_forward (model, input, 3, log_progress, &log, cancellable, &error);
  g_assert_null (fwd);
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_CANCELLED);
  g_assert_cmpuint (log.fractions->len, ==, 1);
  g_array_unref (log.fractions);
}

static void
test_densenet_too_small (void)
{
  HlModelInfo info;
  g_autoptr (GError) error = NULL;

  /* 32 -> 16 -> 8, then blocks at 8, 4, 2, 1 and nothing left for a fifth. */
  tiny_info (&info, 32, 1);
  info.arch.n_blocks = 5;
  for (int b = 0; b < 5; b++)
    info.arch.block_config[b] = 1;
  g_autoptr (HlModel) model = hl_model_new_random (&info, 47);
  g_autofree float *input = g_new0 (float, hl_model_input_size (model));
  HlForward *fwd = hl_model_forward (model, input, 1, NULL, NULL, NULL, &error);
  g_assert_null (fwd);
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT);
}

/* ---- Grad-CAM -------------------------------------------------------------------------------- */

/* sum_k |W[l, k]| mean (A_k) + |b_l|, what the head's rounding is proportional to (A >= 0). */
static double
head_magnitude (HlModel *model, const double *a, int c, int hw, int l)
{
  double sum = fabs (model->classifier_bias[l]);

  for (int k = 0; k < c; k++)
    {
      double mean = 0.0;
      for (int i = 0; i < hw; i++)
        mean += a[(gsize) k * hw + i];
      sum += fabs (model->classifier_weight[(gsize) l * c + k]) * mean / hw;
    }
  return sum;
}

/* The head as a function of the feature map: logit_l (A) = W[l] . mean (A) + b[l], in double. */
static double
head_logit (HlModel *model, const double *a, int c, int hw, int l)
{
  double sum = model->classifier_bias[l];

  for (int k = 0; k < c; k++)
    {
      double mean = 0.0;
      for (int i = 0; i < hw; i++)
        mean += a[(gsize) k * hw + i];
      sum += model->classifier_weight[(gsize) l * c + k] * mean / hw;
    }
  return sum;
}

static void
test_gradcam_definition (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (51);
  HlModelInfo info;
  g_autoptr (GError) error = NULL;

  tiny_info (&info, 40, 3);
  g_autoptr (HlModel) model = hl_model_new_random (&info, 51);
  gsize in_n = hl_model_input_size (model);
  g_autofree float *input = random_floats (rand, 2 * in_n, -2, 2);
  g_autoptr (HlForward) fwd = hl_model_forward (model, input, 2, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  int c = fwd->c_feat, hw = fwd->h_feat * fwd->w_feat, n_labels = fwd->n_labels;
  g_autofree float *maps = g_new (float, (gsize) n_labels * hw);
  g_autofree double *a = g_new (double, (gsize) c * hw);
  g_autofree double *want = g_new (double, (gsize) n_labels * hw);
  g_autofree double *logits = g_new (double, n_labels);
  g_autofree double *logits_bound = g_new (double, n_labels);
  g_autofree double *maps_bound = g_new (double, (gsize) n_labels * hw);
  const double eps = 1e-3;
  const double u53 = HL_TEST_U / (1 << 29); /* double's unit roundoff, 2^-53 */

  for (int image = 0; image < 2; image++)
    {
      const float *feat = fwd->features + (gsize) image * c * hw;
      for (gsize i = 0; i < (gsize) c * hw; i++)
        a[i] = feat[i];
      /* The features are the ones that produced the scores. */
      /* The engine's global mean (hw-term sum, 1 / hw and the product) and (c+1)-term dot. */
      for (int l = 0; l < n_labels; l++)
        {
          logits[l] = head_logit (model, a, c, hw, l);
          logits_bound[l] = (hl_test_gamma (c + 1) + hl_test_gamma (hw) + 2 * HL_TEST_U)
                            * head_magnitude (model, a, c, hw, l);
        }
      hl_test_assert_bounded ("head on features", fwd->logits + image * n_labels, logits,
                              logits_bound, n_labels);

      /* The head is linear in A, so the central difference has no truncation error; what is
       * left is double rounding: each head_logit within e_l = (c hw + c + 2) 2^-53 (its
       * magnitude + max |W| eps), so alpha within e_l / eps, plus the rounding of keep +- eps
       * (2^-52 (max A + eps) relative to the step) times |W[l, k]|. The engine's map is one
       * c-term sgemm with 1 / hw rounded and multiplied in: (gamma_c + 2u) sum_k |W| A_k / hw. */
      double max_a = 0, max_w = 0;
      for (gsize i = 0; i < (gsize) c * hw; i++)
        max_a = MAX (max_a, a[i]);
      for (gsize i = 0; i < (gsize) n_labels * c; i++)
        max_w = MAX (max_w, fabs (model->classifier_weight[i]));
      for (int l = 0; l < n_labels; l++)
        {
          double e_l = (c * hw + c + 2) * u53 * (head_magnitude (model, a, c, hw, l) + max_w * eps);
          for (int i = 0; i < hw; i++)
            {
              double fd = 0, engine = 0;
              for (int k = 0; k < c; k++)
                {
                  double wk = fabs (model->classifier_weight[(gsize) l * c + k]);
                  double ak = a[(gsize) k * hw + i];
                  fd += (e_l / eps + wk * 2 * u53 * (max_a + eps) / eps) * ak;
                  engine += wk * ak / hw;
                }
              maps_bound[(gsize) l * hw + i] = fd + (hl_test_gamma (c) + 2 * HL_TEST_U) * engine;
            }
        }

      /* alpha_lk = mean_ij d logit_l / d A_k(i, j) by central differences; map = ReLU (sum_k
       * alpha_lk A_k). */
      for (int l = 0; l < n_labels; l++)
        {
          for (int i = 0; i < hw; i++)
            want[(gsize) l * hw + i] = 0.0;
          for (int k = 0; k < c; k++)
            {
              double alpha = 0.0;
              for (int i = 0; i < hw; i++)
                {
                  double keep = a[(gsize) k * hw + i];
                  a[(gsize) k * hw + i] = keep + eps;
                  double up = head_logit (model, a, c, hw, l);
                  a[(gsize) k * hw + i] = keep - eps;
                  double down = head_logit (model, a, c, hw, l);
                  a[(gsize) k * hw + i] = keep;
                  alpha += (up - down) / (2 * eps) / hw;
                }
              for (int i = 0; i < hw; i++)
                want[(gsize) l * hw + i] += alpha * a[(gsize) k * hw + i];
            }
          for (int i = 0; i < hw; i++)
            want[(gsize) l * hw + i] = MAX (want[(gsize) l * hw + i], 0.0);
        }
      hl_forward_gradcam (model, fwd, image, maps);
      hl_test_assert_bounded ("grad-cam vs finite differences", maps, want, maps_bound,
                              (gsize) n_labels * hw);
    }
}

static void
test_gradcam_upsample (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (52);
  g_autofree float *map = random_floats (rand, 7 * 7, 0, 3);
  g_autofree float *out = g_new (float, 224 * 200);
  g_autofree double *want = ref_resize_linear (map, 7, 7, 224, 200);

  g_autofree double *bound = bound_fill (224 * 200, resize_bound (7, 7, 224, 200, FALSE,
                                                                  max_abs (map, 7 * 7)));

  hl_gradcam_upsample (map, 7, 7, out, 224, 200);
  hl_test_assert_bounded ("upsample 7x7 -> 224x200", out, want, bound, 224 * 200);

  float src[] = { 0, 1, 2, 3 }, dst[16];
  const float hand[16] = { 0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5,
                           1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3 };
  hl_gradcam_upsample (src, 2, 2, dst, 4, 4);
  for (int i = 0; i < 16; i++)
    g_assert_cmpfloat_with_epsilon (dst[i], hand[i], resize_bound (2, 2, 4, 4, FALSE, 3));
}

/* The portable path (OpenBLAS sgemm on the im2col), which an AVX-512 CPU never takes by itself:
 * in a subprocess with HILUM_ENGINE_PORTABLE=1, the convolutions through hl_conv2d() and the
 * whole network (one and two engine threads) against the references, and Grad-CAM. */
static void
test_portable (void)
{
  if (g_test_subprocess ())
    {
      /* Set before this process's first engine call, which decides the path once. */
      g_setenv ("HILUM_ENGINE_PORTABLE", "1", TRUE);
      g_assert_false (hl_conv_direct_available ());
      test_conv_1x1 ();
      test_conv_3x3 ();
      test_conv_7x7 ();
      test_densenet_reference ();
      test_densenet_threads ();
      test_gradcam_definition ();
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* hl_sgemm() against a double reference for every transpose combination, on shapes it splits
 * by columns (n >= m), by rows, and not at all (too small), with padded leading dimensions and
 * beta != 0; and the same bits on 1 and 3 threads. */
static void
test_sgemm (void)
{
  static const int shapes[][3] = {
    { 40, 300, 70 }, { 300, 40, 70 }, { 5, 7, 3 }, { 33, 33, 257 },
  };
  g_autoptr (GRand) rand = g_rand_new_with_seed (17);
  int before = hl_engine_get_threads ();

  for (gsize s = 0; s < G_N_ELEMENTS (shapes); s++)
    for (int combo = 0; combo < 4; combo++)
      {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        gboolean ta = (combo & 1) != 0, tb = (combo & 2) != 0;
        int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2;
        g_autofree float *a = random_floats (rand, (gsize) (ta ? k : m) * lda, -1.0, 1.0);
        g_autofree float *b = random_floats (rand, (gsize) (tb ? n : k) * ldb, -1.0, 1.0);
        g_autofree float *c0 = random_floats (rand, (gsize) m * ldc, -1.0, 1.0);
        g_autofree float *c1 = g_memdup2 (c0, (gsize) m * ldc * sizeof (float));
        g_autofree float *c3 = g_memdup2 (c0, (gsize) m * ldc * sizeof (float));
        g_autofree double *want = g_new (double, (gsize) m * ldc);
        g_autofree double *bound = g_new0 (double, (gsize) m * ldc);
        g_autofree char *what = g_strdup_printf ("sgemm %dx%dx%d trans %d%d", m, n, k, ta, tb);

        for (int i = 0; i < m; i++)
          for (int j = 0; j < ldc; j++)
            {
              double sum = 0.0, magnitude = 0.0;
              if (j >= n)
                {
                  want[(gsize) i * ldc + j] = c0[(gsize) i * ldc + j]; /* untouched */
                  continue;
                }
              for (int p = 0; p < k; p++)
                {
                  double x = ta ? a[(gsize) p * lda + i] : a[(gsize) i * lda + p];
                  double y = tb ? b[(gsize) j * ldb + p] : b[(gsize) p * ldb + j];
                  sum += x * y;
                  magnitude += fabs (x * y);
                }
              want[(gsize) i * ldc + j] = 0.75 * sum + 0.5 * c0[(gsize) i * ldc + j];
              /* alpha A B + beta C: a k-term dot product, the two scalings and the sum. */
              bound[(gsize) i * ldc + j]
                  = hl_test_gamma (k + 2)
                    * (0.75 * magnitude + 0.5 * fabs (c0[(gsize) i * ldc + j]));
            }
        hl_engine_set_threads (1);
        hl_sgemm (ta, tb, m, n, k, 0.75f, a, lda, b, ldb, 0.5f, c1, ldc);
        hl_engine_set_threads (3);
        hl_sgemm (ta, tb, m, n, k, 0.75f, a, lda, b, ldb, 0.5f, c3, ldc);
        hl_test_assert_bounded (what, c1, want, bound, (gsize) m * ldc);
        g_assert_cmpmem (c1, (gsize) m * ldc * sizeof (float), c3,
                         (gsize) m * ldc * sizeof (float));
      }
  hl_engine_set_threads (MAX (before, 1));
}

static void
test_threads_setting (void)
{
  int before = hl_engine_get_threads ();

  hl_engine_set_threads (1);
  g_assert_cmpint (hl_engine_get_threads (), ==, 1);
  hl_engine_set_threads (2);
  g_assert_cmpint (hl_engine_get_threads (), ==, 2);
  hl_engine_set_threads (MAX (before, 1));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/engine/conv/1x1", test_conv_1x1);
  g_test_add_func ("/engine/conv/3x3", test_conv_3x3);
  g_test_add_func ("/engine/conv/7x7", test_conv_7x7);
  g_test_add_func ("/engine/bn-relu", test_bn_relu);
  g_test_add_func ("/engine/pad1", test_pad1);
  g_test_add_func ("/engine/pool/max", test_pool_max);
  g_test_add_func ("/engine/pool/avg", test_pool_avg);
  g_test_add_func ("/engine/pool/global", test_pool_global);
  g_test_add_func ("/engine/preprocess/bilinear", test_preprocess_bilinear);
  g_test_add_func ("/engine/preprocess/antialias", test_preprocess_antialias);
  g_test_add_func ("/engine/preprocess/channel", test_preprocess_channel);
  g_test_add_func ("/engine/preprocess/image", test_preprocess_image);
  g_test_add_func ("/engine/densenet/reference", test_densenet_reference);
  g_test_add_func ("/engine/densenet/batch", test_densenet_batch);
  g_test_add_func ("/engine/densenet/threads", test_densenet_threads);
  g_test_add_func ("/engine/densenet/progress", test_densenet_progress);
  g_test_add_func ("/engine/densenet/cancel", test_densenet_cancel);
  g_test_add_func ("/engine/densenet/too-small", test_densenet_too_small);
  g_test_add_func ("/engine/gradcam/definition", test_gradcam_definition);
  g_test_add_func ("/engine/gradcam/upsample", test_gradcam_upsample);
  g_test_add_func ("/engine/portable", test_portable);
  g_test_add_func ("/engine/threads", test_threads_setting);
  g_test_add_func ("/engine/sgemm", test_sgemm);
  return g_test_run ();
}
