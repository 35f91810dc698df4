/* hl-resize.c — the resize filters of other libraries' preprocessing, reproduced so that an
 * imported model sees the input its authors' pipeline gives it:
 *
 *   PIL's Image.resize (BILINEAR) on 8-bit images, in PIL's own fixed-point arithmetic (two
 *   passes, horizontal then vertical, each rounded to 8 bits), as torchvision's Resize uses it;
 *   PIL's Image.resize (NEAREST), what Keras' load_img (target_size) does by default;
 *   skimage.transform.resize (order 1, anti_aliasing, mode 'constant', preserve_range): a
 *   Gaussian prefilter of sigma (scale - 1) / 2 then bilinear sampling, clipped to the input's
 *   range, each pass rounded to float32 as scipy.ndimage does for a float32 image.
 *
 * PyTorch's F.interpolate is hl_resize_bilinear (hl-kernels.c).
 */
#include "hl-kernels.h"

#include <math.h>
#include <string.h>

/* PIL's Resample.c: fixed-point precision of the 8-bit passes. */
#define PIL_PRECISION_BITS (32 - 8 - 2)

/* PIL's precompute_coeffs for the bilinear (triangle) filter of support 1, scaled by the
 * downscale factor, from @in_size to @out_size, then normalize_coeffs_8bpc, for the @count
 * outputs from @first on. Fills @bounds (count, 2) with each output's first input and count and
 * returns the coefficients (count, *ksize) as PIL's rounded integers. */
static gint32 *
pil_coeffs (int in_size, int out_size, int first, int count, int *bounds, int *ksize)
{
  double scale = (double) in_size / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 1.0 * filterscale;
  int k = (int) ceil (support) * 2 + 1;
  gint32 *kk = g_new0 (gint32, (gsize) count * k);
  double *w = g_new (double, k);

  for (int i = 0; i < count; i++)
    {
      int xx = first + i;
      double center = (xx + 0.5) * scale;
      double ww = 0.0, ss = 1.0 / filterscale;
      int xmin = (int) (center - support + 0.5);
      int xmax = (int) (center + support + 0.5);

      if (xmin < 0)
        xmin = 0;
      if (xmax > in_size)
        xmax = in_size;
      xmax -= xmin;
      for (int x = 0; x < xmax; x++)
        {
          double t = fabs ((x + xmin - center + 0.5) * ss);
          w[x] = t < 1.0 ? 1.0 - t : 0.0;
          ww += w[x];
        }
      for (int x = 0; x < xmax; x++)
        {
          double v = ww != 0.0 ? w[x] / ww : w[x];
          kk[(gsize) i * k + x] = (gint32) (v < 0 ? -0.5 + v * (1 << PIL_PRECISION_BITS)
                                                  : 0.5 + v * (1 << PIL_PRECISION_BITS));
        }
      bounds[2 * i] = xmin;
      bounds[2 * i + 1] = xmax;
    }
  g_free (w);
  *ksize = k;
  return kk;
}

static inline guint8
pil_clip8 (gint64 v)
{
  if (v >= ((gint64) 1 << PIL_PRECISION_BITS << 8))
    return 255;
  if (v <= 0)
    return 0;
  return (guint8) (v >> PIL_PRECISION_BITS);
}

void
hl_resize_pil_bilinear (const guint8 *src, int h, int w, guint8 *dst, int out_h, int out_w)
{
  hl_resize_pil_bilinear_window (src, h, w, out_h, out_w, 0, 0, out_h, out_w, dst);
}

void
hl_resize_pil_bilinear_window (const guint8 *src, int h, int w, int out_h, int out_w, int top,
                               int left, int win_h, int win_w, guint8 *dst)
{
  g_return_if_fail (src != NULL && dst != NULL);
  g_return_if_fail (h > 0 && w > 0 && out_h > 0 && out_w > 0);
  g_return_if_fail (top >= 0 && left >= 0 && win_h > 0 && win_w > 0);
  g_return_if_fail (top + win_h <= out_h && left + win_w <= out_w);

  /* PIL's coefficients and two passes for the window's pixels only, which are what PIL
   * computes for them: each output pixel depends only on its own coefficients */
  int kh, kv;
  g_autofree int *bh = g_new (int, 2 * (gsize) win_w);
  g_autofree int *bv = g_new (int, 2 * (gsize) win_h);
  g_autofree gint32 *ch = pil_coeffs (w, out_w, left, win_w, bh, &kh);
  g_autofree gint32 *cv = pil_coeffs (h, out_h, top, win_h, bv, &kv);
  gboolean horizontal = out_w != w, vertical = out_h != h;
  int first = 0, rows = h;
  g_autofree guint8 *tmp = NULL;

  if (vertical)
    {
      /* PIL's horizontal pass covers only the input rows the vertical pass reads (here: for
       * the window's rows) */
      first = bv[0];
      rows = bv[2 * (win_h - 1)] + bv[2 * (win_h - 1) + 1] - first;
    }
  else
    {
      first = top;
      rows = win_h;
    }
  /* (rows, win_w): the horizontal pass, or the input's columns when there is none */
  tmp = g_new (guint8, (gsize) rows * win_w);
  for (int y = 0; y < rows; y++)
    {
      const guint8 *in = src + (gsize) (y + first) * w;
      for (int xx = 0; xx < win_w; xx++)
        {
          int ox = xx + left;
          if (!horizontal)
            {
              tmp[(gsize) y * win_w + xx] = in[ox];
              continue;
            }
          const gint32 *k = ch + (gsize) xx * kh;
          gint64 ss = 1 << (PIL_PRECISION_BITS - 1);
          for (int x = 0; x < bh[2 * xx + 1]; x++)
            ss += (gint64) in[x + bh[2 * xx]] * k[x];
          tmp[(gsize) y * win_w + xx] = pil_clip8 (ss);
        }
    }
  if (!vertical)
    {
      memcpy (dst, tmp, (gsize) win_h * win_w);
      return;
    }
  for (int yy = 0; yy < win_h; yy++)
    {
      const gint32 *k = cv + (gsize) yy * kv;
      int ymin = bv[2 * yy] - first;
      for (int xx = 0; xx < win_w; xx++)
        {
          gint64 ss = 1 << (PIL_PRECISION_BITS - 1);
          for (int y = 0; y < bv[2 * yy + 1]; y++)
            ss += (gint64) tmp[(gsize) (y + ymin) * win_w + xx] * k[y];
          dst[(gsize) yy * win_w + xx] = pil_clip8 (ss);
        }
    }
}

/* PIL's ImagingScaleAffine source indices: x advances by the scale from (0.5 * scale), summed
 * step by step in double as PIL does, and truncated. */
static void
pil_nearest_table (int in_size, int out_size, int *index)
{
  double a = (double) in_size / out_size;
  double xo = a * 0.5;

  for (int x = 0; x < out_size; x++)
    {
      int xin = xo < 0.0 ? -1 : (int) xo;
      index[x] = CLAMP (xin, 0, in_size - 1);
      xo += a;
    }
}

void
hl_resize_nearest (const float *src, int h, int w, float *dst, int out_h, int out_w)
{
  g_return_if_fail (src != NULL && dst != NULL);
  g_return_if_fail (h > 0 && w > 0 && out_h > 0 && out_w > 0);

  g_autofree int *xi = g_new (int, out_w);
  g_autofree int *yi = g_new (int, out_h);

  pil_nearest_table (w, out_w, xi);
  pil_nearest_table (h, out_h, yi);
  for (int y = 0; y < out_h; y++)
    for (int x = 0; x < out_w; x++)
      dst[(gsize) y * out_w + x] = src[(gsize) yi[y] * w + xi[x]];
}

/* scipy.ndimage.gaussian_filter1d's kernel: radius int (4 sigma + 0.5), exp (-x^2 / 2 sigma^2)
 * normalised; returns the radius and fills @k (2 radius + 1). */
static int
gaussian_kernel (double sigma, double **k)
{
  int radius = (int) (4.0 * sigma + 0.5);
  double sum = 0.0;

  *k = g_new (double, 2 * (gsize) radius + 1);
  for (int i = -radius; i <= radius; i++)
    sum += (*k)[i + radius] = exp (-0.5 / (sigma * sigma) * i * i);
  for (int i = 0; i <= 2 * radius; i++)
    (*k)[i] /= sum;
  return radius;
}

/* One axis of scipy's correlate1d with mode 'constant' (cval 0), in double, rounded to float:
 * @n lines of @len values, @stride apart within a line and @line_step between lines. */
static void
gaussian_axis (const float *src, float *dst, int n, int len, gsize stride, gsize line_step,
               double sigma)
{
  double *k;
  int r;

  if (sigma <= 0.0)
    {
      for (int l = 0; l < n; l++)
        for (int i = 0; i < len; i++)
          dst[l * line_step + i * stride] = src[l * line_step + i * stride];
      return;
    }
  r = gaussian_kernel (sigma, &k);
  for (int l = 0; l < n; l++)
    for (int i = 0; i < len; i++)
      {
        double s = 0.0;
        for (int j = MAX (-r, -i); j <= MIN (r, len - 1 - i); j++)
          s += k[j + r] * src[l * line_step + (gsize) (i + j) * stride];
        dst[l * line_step + i * stride] = (float) s;
      }
  g_free (k);
}

/* scipy.ndimage.zoom (order 1, grid_mode) along one axis: output i samples the input at
 * (i + 0.5) * in / out - 0.5, linearly, the outside being 0. */
static inline void
zoom_weights (int i, int in_size, int out_size, int *i0, double *f)
{
  double x = (i + 0.5) * ((double) in_size / out_size) - 0.5;
  double fl = floor (x);

  *i0 = (int) fl;
  *f = x - fl;
}

static inline double
at_or_zero (const float *p, int h, int w, int y, int x)
{
  return y < 0 || y >= h || x < 0 || x >= w ? 0.0 : p[(gsize) y * w + x];
}

void
hl_resize_skimage (const float *src, int h, int w, float *dst, int out_h, int out_w)
{
  g_return_if_fail (src != NULL && dst != NULL);
  g_return_if_fail (h > 0 && w > 0 && out_h > 0 && out_w > 0);

  gsize n = (gsize) h * w;
  g_autofree float *a = g_new (float, n);
  g_autofree float *b = g_new (float, n);
  float lo = src[0], hi = src[0];
  double sy = MAX (0.0, ((double) h / out_h - 1.0) / 2.0);
  double sx = MAX (0.0, ((double) w / out_w - 1.0) / 2.0);
  gboolean anti_alias = out_h < h || out_w < w;

  for (gsize i = 1; i < n; i++)
    {
      lo = MIN (lo, src[i]);
      hi = MAX (hi, src[i]);
    }
  if (anti_alias)
    {
      /* scipy filters axis 0 (rows) first, then axis 1. */
      gaussian_axis (src, a, w, h, w, 1, sy);
      gaussian_axis (a, b, h, w, 1, w, sx);
    }
  else
    memcpy (b, src, n * sizeof (float));
  for (int y = 0; y < out_h; y++)
    {
      int y0;
      double fy;
      zoom_weights (y, h, out_h, &y0, &fy);
      for (int x = 0; x < out_w; x++)
        {
          int x0;
          double fx;
          zoom_weights (x, w, out_w, &x0, &fx);
          double v = (1 - fy) * ((1 - fx) * at_or_zero (b, h, w, y0, x0)
                                 + fx * at_or_zero (b, h, w, y0, x0 + 1))
                     + fy * ((1 - fx) * at_or_zero (b, h, w, y0 + 1, x0)
                             + fx * at_or_zero (b, h, w, y0 + 1, x0 + 1));
          dst[(gsize) y * out_w + x] = (float) v;
        }
    }
  /* skimage's _clip_warp_output: clip to the input's range, widened to the constant 0 of the
   * outside when the input's range excludes it and the output's includes it. */
  float out_lo = dst[0], out_hi = dst[0];
  gsize n_out = (gsize) out_h * out_w;
  for (gsize i = 1; i < n_out; i++)
    {
      out_lo = MIN (out_lo, dst[i]);
      out_hi = MAX (out_hi, dst[i]);
    }
  if (!(lo <= 0.0f && 0.0f <= hi) && out_lo <= 0.0f && 0.0f <= out_hi)
    {
      lo = MIN (lo, 0.0f);
      hi = MAX (hi, 0.0f);
    }
  for (gsize i = 0; i < n_out; i++)
    dst[i] = CLAMP (dst[i], lo, hi);
}
