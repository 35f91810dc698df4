/* hl-backward.c — training kernels (see hl-backward.h): BatchNorm batch statistics, the
 * BatchNorm + ReLU backward pass, col2im and the average-pooling backward pass (the max-pooling
 * one shares hl_maxpool2d()'s loop in hl-kernels.c).
 *
 * The per-channel kernels (all but col2im) split their channels over hl_parallel_for(); every
 * channel is reduced by one thread in a fixed order (double accumulators), so results do not
 * depend on the thread count.
 */
#include "hl-backward.h"

#include <math.h>
#include <string.h>

typedef struct
{
  HlBatchView x, dy, dx;
  int n, c;
  gsize hw;
  const float *scale, *shift, *mean, *invstd;
  double *mean_out, *var_out;
  float *dgamma, *dbeta;
  gboolean accumulate;
  int per_chunk;
} BnJob;

/* Sums over one row of @n floats in LANES float partial sums (a fixed, vectorisable order),
 * returned in double: sum of (v - c) and of (v - c)^2. Always inlined (as row_dz_sums()), so
 * each HL_VECTOR_CLONES caller compiles it for its own instruction set. */
#define LANES 16

static inline __attribute__ ((always_inline)) void
row_sums (const float *v, gsize n, float c, double *sum, double *sq)
{
  float s[LANES] = { 0 }, q[LANES] = { 0 };
  gsize k = 0;

  for (; k + LANES <= n; k += LANES)
    for (int j = 0; j < LANES; j++)
      {
        float d = v[k + j] - c;
        s[j] += d;
        q[j] += d * d;
      }
  for (int j = 0; k < n; k++, j++)
    {
      float d = v[k] - c;
      s[j] += d;
      q[j] += d * d;
    }
  for (int j = 0; j < LANES; j++)
    {
      *sum += s[j];
      *sq += q[j];
    }
}

HL_VECTOR_CLONES static void
stats_chunk (gpointer data, int i)
{
  const BnJob *job = data;
  int end = MIN ((i + 1) * job->per_chunk, job->c);
  double count = (double) job->n * (double) job->hw;

  for (int ch = i * job->per_chunk; ch < end; ch++)
    {
      /* one pass of sums shifted by the channel's first value k, which keeps the
       * sum-of-squares formula accurate: var = mean ((x - k)^2) - mean (x - k)^2 */
      const float *first = job->x.data + (gsize) ch * job->hw;
      float k = first[0];
      double sum = 0.0, sq = 0.0;
      for (int b = 0; b < job->n; b++)
        row_sums (job->x.data + b * job->x.stride + (gsize) ch * job->hw, job->hw, k, &sum, &sq);
      double dm = sum / count;
      job->mean_out[ch] = k + dm;
      job->var_out[ch] = MAX (sq / count - dm * dm, 0.0);
    }
}

void
hl_bn_batch_stats (HlBatchView x, int n, int c, gsize hw, double *mean, double *var)
{
  g_return_if_fail (x.data != NULL && mean != NULL && var != NULL && n >= 1 && hw > 0);

  BnJob job = { .x = x, .n = n, .c = c, .hw = hw, .mean_out = mean, .var_out = var };
  hl_parallel_for (hl_channel_chunks (c, (gsize) n * hw, &job.per_chunk), stats_chunk, &job);
}

/* One row of the BatchNorm backward's reductions: sum of dz and of dz (x - mu), dz = dy where
 * x * scale + shift > 0, else 0; LANES float partial sums, returned in double. */
static inline __attribute__ ((always_inline)) void
row_dz_sums (const float *x, const float *dy, gsize n, float s, float t, float mu, double *sum_dz,
             double *sum_dzx)
{
  float a[LANES] = { 0 }, b[LANES] = { 0 };
  gsize k = 0;

  for (; k + LANES <= n; k += LANES)
    for (int j = 0; j < LANES; j++)
      {
        float xv = x[k + j], d = dy[k + j];
        float dz = xv * s + t > 0.0f ? d : 0.0f;
        a[j] += dz;
        b[j] += dz * (xv - mu);
      }
  for (int j = 0; k < n; k++, j++)
    {
      float dz = x[k] * s + t > 0.0f ? dy[k] : 0.0f;
      a[j] += dz;
      b[j] += dz * (x[k] - mu);
    }
  for (int j = 0; j < LANES; j++)
    {
      *sum_dz += a[j];
      *sum_dzx += b[j];
    }
}

HL_VECTOR_CLONES static void
bn_backward_chunk (gpointer data, int i)
{
  const BnJob *job = data;
  int end = MIN ((i + 1) * job->per_chunk, job->c);
  gboolean train = job->mean != NULL;
  double count = (double) job->n * (double) job->hw;

  for (int ch = i * job->per_chunk; ch < end; ch++)
    {
      float s = job->scale[ch], t = job->shift[ch];
      gsize off = (gsize) ch * job->hw;
      double sum_dz = 0.0, sum_dzx = 0.0; /* sum_dzx: of dz (x - mu), times invstd below */
      float mu = train ? job->mean[ch] : 0.0f, is = train ? job->invstd[ch] : 0.0f;

      if (train)
        for (int b = 0; b < job->n; b++)
          row_dz_sums (job->x.data + b * job->x.stride + off,
                       job->dy.data + b * job->dy.stride + off, job->hw, s, t, mu, &sum_dz,
                       &sum_dzx);
      if (job->dgamma != NULL)
        job->dgamma[ch] += (float) (sum_dzx * is);
      if (job->dbeta != NULL)
        job->dbeta[ch] += (float) sum_dz;

      /* dx = s (dz - mean (dz) - xhat mean (dz xhat)) = s dz - s a - (x - mu) s bq */
      float a = train ? (float) (sum_dz / count) : 0.0f;
      float bq = train ? (float) (sum_dzx * is * is / count) : 0.0f;
      float sa = s * a, sb = s * bq;
      for (int b = 0; b < job->n; b++)
        {
          const float *x = job->x.data + b * job->x.stride + off;
          const float *dy = job->dy.data + b * job->dy.stride + off;
          float *dx = job->dx.data + b * job->dx.stride + off;
          if (job->accumulate)
            for (gsize k = 0; k < job->hw; k++)
              {
                float xv = x[k], d = dy[k];
                float dz = xv * s + t > 0.0f ? d : 0.0f;
                dx[k] += s * dz - sa - (xv - mu) * sb;
              }
          else
            for (gsize k = 0; k < job->hw; k++)
              {
                float xv = x[k], d = dy[k];
                float dz = xv * s + t > 0.0f ? d : 0.0f;
                dx[k] = s * dz - sa - (xv - mu) * sb;
              }
        }
    }
}

void
hl_bn_relu_backward (HlBatchView x, HlBatchView dy, HlBatchView dx, int n, int c, gsize hw,
                     const float *scale, const float *shift, const float *mean,
                     const float *invstd, float *dgamma, float *dbeta, gboolean accumulate)
{
  g_return_if_fail (x.data != NULL && dy.data != NULL && dx.data != NULL);
  g_return_if_fail (scale != NULL && shift != NULL && (mean == NULL) == (invstd == NULL));
  g_return_if_fail (mean != NULL || (dgamma == NULL && dbeta == NULL));

  BnJob job = { .x = x, .dy = dy, .dx = dx, .n = n, .c = c, .hw = hw, .scale = scale,
                .shift = shift, .mean = mean, .invstd = invstd, .dgamma = dgamma,
                .dbeta = dbeta, .accumulate = accumulate };
  hl_parallel_for (hl_channel_chunks (c, (gsize) n * hw, &job.per_chunk), bn_backward_chunk,
                   &job);
}

void
hl_col2im (const float *col, int c, int h, int w, int k_h, int k_w, int stride, int pad,
           float *x)
{
  g_return_if_fail (col != NULL && x != NULL && stride >= 1 && pad >= 0);

  int h_out = hl_out_size (h, k_h, stride, pad);
  int w_out = hl_out_size (w, k_w, stride, pad);
  gsize n_out = (gsize) h_out * w_out;

  for (int ch = 0; ch < c; ch++)
    {
      float *plane = x + (gsize) ch * h * w;
      for (int ki = 0; ki < k_h; ki++)
        for (int kj = 0; kj < k_w; kj++)
          {
            const float *row = col + ((gsize) (ch * k_h + ki) * k_w + kj) * n_out;
            /* output columns whose input column ox * stride - pad + kj lies in [0, w) */
            int lo = pad > kj ? (pad - kj + stride - 1) / stride : 0;
            int last = w - 1 + pad - kj;
            int hi = last < 0 ? 0 : MIN (last / stride + 1, w_out);
            for (int oy = 0; oy < h_out; oy++)
              {
                int iy = oy * stride - pad + ki;
                if (iy < 0 || iy >= h)
                  continue;
                const float *src = row + (gsize) oy * w_out;
                float *dst = plane + (gsize) iy * w - pad + kj;
                if (stride == 1)
                  for (int ox = lo; ox < hi; ox++)
                    dst[ox] += src[ox];
                else
                  for (int ox = lo; ox < hi; ox++)
                    dst[(gsize) ox * stride] += src[ox];
              }
          }
    }
}

typedef struct
{
  const float *dy;
  int c, h, w, per_chunk;
  float *dx;
} AvgPoolBackJob;

HL_VECTOR_CLONES static void
avgpool_backward_chunk (gpointer data, int i)
{
  const AvgPoolBackJob *job = data;
  int h = job->h, w = job->w, h_out = h / 2, w_out = w / 2;
  int end = MIN ((i + 1) * job->per_chunk, job->c);

  for (int ch = i * job->per_chunk; ch < end; ch++)
    {
      const float *g = job->dy + (gsize) ch * h_out * w_out;
      float *d = job->dx + (gsize) ch * h * w;
      memset (d, 0, (gsize) h * w * sizeof (float));
      for (int oy = 0; oy < h_out; oy++)
        {
          float *r0 = d + (gsize) (2 * oy) * w;
          float *r1 = r0 + w;
          for (int ox = 0; ox < w_out; ox++)
            {
              float v = g[(gsize) oy * w_out + ox] * 0.25f;
              r0[2 * ox] = r0[2 * ox + 1] = r1[2 * ox] = r1[2 * ox + 1] = v;
            }
        }
    }
}

void
hl_avgpool2x2_backward (const float *dy, int c, int h, int w, float *dx)
{
  g_return_if_fail (dy != NULL && dx != NULL);

  AvgPoolBackJob job = { dy, c, h, w, 1, dx };
  hl_parallel_for (hl_channel_chunks (c, (gsize) h * w, &job.per_chunk), avgpool_backward_chunk,
                   &job);
}
