/* hl-kernels.c — the engine's compute kernels (see hl-kernels.h): a small parallel-for, matrix
 * products split over it (single-threaded OpenBLAS calls), convolution (a register-tiled AVX-512
 * kernel, or im2col + sgemm) with BatchNorm + ReLU fused into the input preparation, pooling, and
 * PyTorch-exact bilinear resizing.
 */
#include "hl-kernels.h"
#include "hl-backward.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* --- a small parallel-for ----------------------------------------------------------------------
 * The kernels split their work over hl_engine_get_threads() threads: the caller plus helper
 * threads that live for the rest of the process. A call posts a job on a shared queue; work is
 * cut into chunks claimed through an atomic counter, so any number of helpers (none, when all
 * are busy with other callers' jobs) can join. A forward pass runs a few hundred short parallel
 * sections in a row, so an idle helper spins for a moment (HELPER_SPIN_US) before it sleeps:
 * waking a sleeping thread costs more than most sections. When the caller has claimed the last
 * chunk it withdraws the job from the queue and waits only for the helpers that joined. */

#define HELPER_SPIN_US 300

typedef struct
{
  HlChunkFunc func;
  gpointer data;
  int n_chunks;
  gint next;   /* next unclaimed chunk */
  int wanted;  /* helpers that may still join; the job leaves the queue at 0 */
  gint active; /* helpers that joined and have not finished */
} HlJob;

static GMutex queue_lock;
static GCond queue_cond;
static GQueue queue = G_QUEUE_INIT; /* HlJob *, jobs that want helpers */
static gint queue_len;              /* queue.length, readable without the lock */
static int n_helpers_started;

static void
job_run (HlJob *job)
{
  int i;

  while ((i = g_atomic_int_add (&job->next, 1)) < job->n_chunks)
    job->func (job->data, i);
}

/* Takes a helper's place in the first queued job; called with queue_lock held. */
static HlJob *
queue_take (void)
{
  HlJob *job = g_queue_peek_head (&queue);

  if (job == NULL)
    return NULL;
  g_atomic_int_inc (&job->active);
  if (--job->wanted == 0)
    {
      g_queue_pop_head (&queue);
      g_atomic_int_set (&queue_len, (gint) queue.length);
    }
  return job;
}

static gpointer
helper_main (gpointer unused)
{
  for (;;)
    {
      HlJob *job = NULL;
      gint64 spin_end = g_get_monotonic_time () + HELPER_SPIN_US;

      while (job == NULL && g_get_monotonic_time () < spin_end)
        for (int k = 0; k < 64 && job == NULL; k++)
          if (g_atomic_int_get (&queue_len) > 0)
            {
              g_mutex_lock (&queue_lock);
              job = queue_take ();
              g_mutex_unlock (&queue_lock);
            }
      if (job == NULL)
        {
          g_mutex_lock (&queue_lock);
          while ((job = queue_take ()) == NULL)
            g_cond_wait (&queue_cond, &queue_lock);
          g_mutex_unlock (&queue_lock);
        }
      job_run (job);
      g_atomic_int_dec_and_test (&job->active);
    }
  return NULL;
}

void
hl_parallel_for (int n_chunks, HlChunkFunc func, gpointer data)
{
  g_return_if_fail (func != NULL && n_chunks >= 0);

  int n_helpers = MIN (hl_engine_get_threads (), n_chunks) - 1;
  if (n_helpers <= 0)
    {
      for (int i = 0; i < n_chunks; i++)
        func (data, i);
      return;
    }

  HlJob job = { func, data, n_chunks, 0, n_helpers, 0 };
  g_mutex_lock (&queue_lock);
  for (; n_helpers_started < n_helpers; n_helpers_started++)
    g_thread_unref (g_thread_new ("hl-engine", helper_main, NULL));
  g_queue_push_tail (&queue, &job);
  g_atomic_int_set (&queue_len, (gint) queue.length);
  g_cond_broadcast (&queue_cond);
  g_mutex_unlock (&queue_lock);

  job_run (&job);

  g_mutex_lock (&queue_lock);
  if (job.wanted > 0)
    {
      g_queue_remove (&queue, &job);
      g_atomic_int_set (&queue_len, (gint) queue.length);
    }
  g_mutex_unlock (&queue_lock);
  /* The helpers are finishing their last chunk: spin, yielding if one was preempted. */
  for (int spins = 0; g_atomic_int_get (&job.active) > 0; spins++)
    if (spins > 1000)
      g_thread_yield ();
}

/* --- matrix products --------------------------------------------------------------------------
 * hl_sgemm() cuts C along its longer side into at most SGEMM_MAX_BLOCKS blocks of a multiple of
 * SGEMM_ALIGN columns (rows), at least SGEMM_MIN_BLOCK wide; products under SGEMM_MIN_FLOPS
 * multiply-adds stay in one call. */

#define SGEMM_MAX_BLOCKS 8
#define SGEMM_MIN_BLOCK 32
#define SGEMM_ALIGN 16
#define SGEMM_MIN_FLOPS (1 << 18)

typedef struct
{
  gboolean trans_a, trans_b, by_cols;
  int m, n, k, lda, ldb, ldc, per_block;
  float alpha, beta;
  const float *a, *b;
  float *c;
} SgemmJob;

static void
sgemm_block (gpointer data, int i)
{
  const SgemmJob *job = data;
  int start = i * job->per_block;
  int len = MIN (job->per_block, (job->by_cols ? job->n : job->m) - start);
  const float *a = job->a, *b = job->b;
  float *c = job->c;
  int m = job->m, n = job->n;

  if (job->by_cols)
    {
      /* columns [start, start + len) of op (B) and C */
      b += job->trans_b ? (gsize) start * job->ldb : (gsize) start;
      c += start;
      n = len;
    }
  else
    {
      /* rows [start, start + len) of op (A) and C */
      a += job->trans_a ? (gsize) start : (gsize) start * job->lda;
      c += (gsize) start * job->ldc;
      m = len;
    }
  cblas_sgemm (CblasRowMajor, job->trans_a ? CblasTrans : CblasNoTrans,
               job->trans_b ? CblasTrans : CblasNoTrans, m, n, job->k, job->alpha, a, job->lda,
               b, job->ldb, job->beta, c, job->ldc);
}

void
hl_sgemm (gboolean trans_a, gboolean trans_b, int m, int n, int k, float alpha, const float *a,
          int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
  g_return_if_fail (a != NULL && b != NULL && c != NULL && m >= 0 && n >= 0 && k >= 0);

  SgemmJob job = { trans_a, trans_b, n >= m, m, n, k, lda, ldb, ldc, 0, alpha, beta, a, b, c };
  int len = job.by_cols ? n : m;
  int n_blocks = CLAMP (len / SGEMM_MIN_BLOCK, 1, SGEMM_MAX_BLOCKS);

  if (m == 0 || n == 0)
    return;
  if ((double) m * n * k < SGEMM_MIN_FLOPS)
    n_blocks = 1;
  job.per_block = (len + n_blocks - 1) / n_blocks;
  if (n_blocks > 1)
    job.per_block = (job.per_block + SGEMM_ALIGN - 1) / SGEMM_ALIGN * SGEMM_ALIGN;
  hl_parallel_for ((len + job.per_block - 1) / job.per_block, sgemm_block, &job);
}

static inline float
act (float v, float s, float b)
{
  float y = v * s + b;
  return y > 0.0f ? y : 0.0f;
}

typedef struct
{
  const float *x;
  gsize hw;
  const float *scale, *shift;
  float *y;
  int c, per_chunk;
} BnReluJob;

HL_VECTOR_CLONES static void
bn_relu_chunk (gpointer data, int i)
{
  const BnReluJob *job = data;
  int end = MIN ((i + 1) * job->per_chunk, job->c);

  for (int ch = i * job->per_chunk; ch < end; ch++)
    {
      const float *xc = job->x + (gsize) ch * job->hw;
      float *yc = job->y + (gsize) ch * job->hw;
      float s = job->scale[ch], b = job->shift[ch];
      for (gsize k = 0; k < job->hw; k++)
        {
          float v = xc[k] * s + b;
          yc[k] = v > 0.0f ? v : 0.0f;
        }
    }
}

void
hl_bn_relu (const float *x, int c, gsize hw, const float *scale, const float *shift, float *y)
{
  g_return_if_fail (x != NULL && y != NULL && scale != NULL && shift != NULL);

  BnReluJob job = { x, hw, scale, shift, y, c, 1 };
  int n = hl_channel_chunks (c, hw, &job.per_chunk);
  hl_parallel_for (n, bn_relu_chunk, &job);
}

/* One im2col row segment: dst[ox] for ox in [lo, hi) from src[ox * stride] (src already offset
 * to the first valid input column). */
static inline void
gather_row (const float *src, int stride, float *dst, int n, gboolean activate, float s, float b)
{
  if (stride == 1)
    {
      if (activate)
        for (int i = 0; i < n; i++)
          {
            float v = src[i] * s + b;
            dst[i] = v > 0.0f ? v : 0.0f;
          }
      else
        memcpy (dst, src, (gsize) n * sizeof (float));
    }
  else
    {
      if (activate)
        for (int i = 0; i < n; i++)
          dst[i] = act (src[(gsize) i * stride], s, b);
      else
        for (int i = 0; i < n; i++)
          dst[i] = src[(gsize) i * stride];
    }
}

typedef struct
{
  const float *x;
  int h, w, k_h, k_w, stride, pad, h_out, w_out;
  const float *scale, *shift;
  float *col;
} Im2colJob;

/* Row @r = (ch * k_h + ki) * k_w + kj of the im2col matrix. */
HL_VECTOR_CLONES static void
im2col_row (gpointer data, int r)
{
  const Im2colJob *job = data;
  int h = job->h, w = job->w, stride = job->stride, pad = job->pad, w_out = job->w_out;
  int ch = r / (job->k_h * job->k_w), ki = r / job->k_w % job->k_h, kj = r % job->k_w;
  const float *plane = job->x + (gsize) ch * h * w;
  gboolean activate = job->scale != NULL;
  float s = activate ? job->scale[ch] : 1.0f;
  float b = activate ? job->shift[ch] : 0.0f;
  float *row = job->col + (gsize) r * job->h_out * w_out;
  /* Output columns whose input column ox * stride - pad + kj lies in [0, w). */
  int lo = pad > kj ? (pad - kj + stride - 1) / stride : 0;
  int last = w - 1 + pad - kj;
  int hi = last < 0 ? 0 : MIN (last / stride + 1, w_out);

  lo = MIN (lo, hi);
  for (int oy = 0; oy < job->h_out; oy++)
    {
      int iy = oy * stride - pad + ki;
      float *dst = row + (gsize) oy * w_out;
      if (iy < 0 || iy >= h)
        {
          memset (dst, 0, (gsize) w_out * sizeof (float));
          continue;
        }
      if (lo > 0)
        memset (dst, 0, (gsize) lo * sizeof (float));
      gather_row (plane + (gsize) iy * w + (lo * stride - pad + kj), stride, dst + lo, hi - lo,
                  activate, s, b);
      if (hi < w_out)
        memset (dst + hi, 0, (gsize) (w_out - hi) * sizeof (float));
    }
}

void
hl_im2col (const float *x, int c, int h, int w, int k_h, int k_w, int stride, int pad,
           const float *scale, const float *shift, float *col)
{
  g_return_if_fail (x != NULL && col != NULL && stride >= 1 && pad >= 0);
  g_return_if_fail ((scale == NULL) == (shift == NULL));

  Im2colJob job = { x, h, w, k_h, k_w, stride, pad, hl_out_size (h, k_h, stride, pad),
                    hl_out_size (w, k_w, stride, pad), scale, shift, col };
  hl_parallel_for (c * k_h * k_w, im2col_row, &job);
}

typedef struct
{
  const float *x;
  int c, h, w;
  const float *scale, *shift;
  float *xp;
  gsize plane;
  int per_chunk;
} PadJob;

/* Channels [i * per_chunk, (i + 1) * per_chunk) of hl_pad1(). */
HL_VECTOR_CLONES static void
pad_chunk (gpointer data, int i)
{
  const PadJob *job = data;
  int h = job->h, w = job->w, wp = w + 2;
  int end = MIN ((i + 1) * job->per_chunk, job->c);

  for (int c = i * job->per_chunk; c < end; c++)
    {
      const float *xc = job->x + (gsize) c * h * w;
      float *pc = job->xp + (gsize) c * job->plane;
      gboolean activate = job->scale != NULL;
      float s = activate ? job->scale[c] : 1.0f, b = activate ? job->shift[c] : 0.0f;
      memset (pc, 0, (gsize) wp * sizeof (float));
      for (int r = 0; r < h; r++)
        {
          float *row = pc + (gsize) (r + 1) * wp;
          const float *src = xc + (gsize) r * w;
          row[0] = 0.0f;
          if (activate)
            for (int k = 0; k < w; k++)
              {
                float v = src[k] * s + b;
                row[k + 1] = v > 0.0f ? v : 0.0f;
              }
          else
            memcpy (row + 1, src, (gsize) w * sizeof (float));
          row[w + 1] = 0.0f;
        }
      memset (pc + (gsize) (h + 1) * wp, 0, (gsize) wp * sizeof (float));
    }
}

void
hl_pad1 (const float *x, int c, int h, int w, const float *scale, const float *shift,
         float *xp)
{
  g_return_if_fail (x != NULL && xp != NULL && (scale == NULL) == (shift == NULL));

  PadJob job = { x, c, h, w, scale, shift, xp, (gsize) (h + 2) * (w + 2), 1 };
  hl_parallel_for (hl_channel_chunks (c, job.plane, &job.per_chunk), pad_chunk, &job);
}

static gboolean
is_pointwise (const HlConv *conv)
{
  return conv->k_h == 1 && conv->k_w == 1 && conv->stride == 1 && conv->pad == 0;
}

/* --- direct convolution -----------------------------------------------------------------------
 * On x86-64 CPUs with AVX-512 every convolution runs through one register-tiled kernel instead of
 * OpenBLAS:
 *
 *   y[o][p] = sum_c sum_t w[o][c * n_taps + t] * src[c * plane + p + offs[t]],   p < n_pos
 *
 * - 1x1: src = act (x) (or x itself), one tap;
 * - 3x3 stride 1 pad 1 (a dense layer's conv2: 32 outputs from 128 channels): im2col would copy
 *   the input 9 times and the GEMM re-pack it, for only c_out multiply-adds per copied element.
 *   Instead act (x) is written once into a zero-bordered buffer xp (c_in, h + 2, w + 2) and the
 *   output is computed on "wide" rows of w + 2 columns: position p = y * (w + 2) + x reads
 *   xp[c][p + i * (w + 2) + j] for tap (i, j), a contiguous shifted vector. The two extra columns
 *   per row are dropped when the result is compacted;
 * - anything else (the 7x7 stride-2 stem): im2col, then the im2col rows as channels of one tap.
 * A tile is 8 outputs x 48 positions held in 24 zmm accumulators; the last tile of a row of
 * positions is masked. Tiles are spread over the engine's threads. */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HL_DIRECT 1
#include <immintrin.h>
#endif

#define TILE_VECS 3
#define TILE_PX (16 * TILE_VECS) /* output positions per tile */
#define TILE_SLACK 64            /* floats readable past the last plane of xp */

gboolean
hl_conv_direct_available (void)
{
#ifdef HL_DIRECT
  static gsize answer; /* 0 until decided, then 1 (no) or 2 (yes) */

  if (g_once_init_enter (&answer))
    {
      gboolean portable = g_strcmp0 (g_getenv ("HILUM_ENGINE_PORTABLE"), "1") == 0;
      g_once_init_leave (&answer, !portable && __builtin_cpu_supports ("avx512f") ? 2 : 1);
    }
  return answer == 2;
#else
  return FALSE;
#endif
}

static gboolean
is_3x3_same (const HlConv *conv)
{
  return conv->k_h == 3 && conv->k_w == 3 && conv->stride == 1 && conv->pad == 1;
}

/* Layout of the 3x3 workspace: xp, then the wide output (c_out, n_wide). */
static void
wide_layout (const HlConv *conv, int h, int w, gsize *xp_floats, gsize *n_wide)
{
  *xp_floats = hl_align_floats ((gsize) conv->c_in * (h + 2) * (w + 2) + TILE_SLACK);
  *n_wide = (gsize) h * (w + 2);
}

#ifdef HL_DIRECT
#define ACC_DECL(o) __m512 a##o##0 = _mm512_setzero_ps (), a##o##1 = a##o##0, a##o##2 = a##o##0
#define ACC_FMA(o)                                                                                \
  do                                                                                              \
    {                                                                                             \
      __m512 b = _mm512_set1_ps (wc[o * w_stride + t]);                                           \
      a##o##0 = _mm512_fmadd_ps (b, x0, a##o##0);                                                 \
      if (n_vecs > 1)                                                                             \
        a##o##1 = _mm512_fmadd_ps (b, x1, a##o##1);                                               \
      if (n_vecs > 2)                                                                             \
        a##o##2 = _mm512_fmadd_ps (b, x2, a##o##2);                                               \
    }                                                                                             \
  while (0)
#define ACC_STORE(o)                                                                              \
  do                                                                                              \
    {                                                                                             \
      STORE (out + o * out_stride, m0, a##o##0);                                                  \
      if (n_vecs > 1)                                                                             \
        STORE (out + o * out_stride + 16, m1, a##o##1);                                           \
      if (n_vecs > 2)                                                                             \
        STORE (out + o * out_stride + 32, m2, a##o##2);                                           \
    }                                                                                             \
  while (0)
/* Full tiles use plain loads and stores, the last one of a row masked ones over only the vectors
 * it needs (n_vecs); n_taps and n_vecs are constants in the specialised copies below, so the tap
 * loop unrolls and unused vectors vanish. */
#define LOAD(mask, p) (masked ? _mm512_maskz_loadu_ps (mask, p) : _mm512_loadu_ps (p))
#define STORE(p, mask, v)                                                                         \
  (masked ? _mm512_mask_storeu_ps (p, mask, v) : _mm512_storeu_ps (p, v))
#define TILE_LOOP(FMAS)                                                                           \
  for (int c = 0; c < c_in; c++)                                                                  \
    {                                                                                             \
      const float *xc = src + (gsize) c * plane;                                                  \
      const float *wc = w + (gsize) c * n_taps;                                                   \
      for (int t = 0; t < n_taps; t++)                                                            \
        {                                                                                         \
          __m512 x0 = LOAD (m0, xc + offs[t]);                                                    \
          __m512 x1 = n_vecs > 1 ? LOAD (m1, xc + offs[t] + 16) : x0;                             \
          __m512 x2 = n_vecs > 2 ? LOAD (m2, xc + offs[t] + 32) : x0;                             \
          FMAS;                                                                                   \
        }                                                                                         \
    }

static inline __mmask16
lane_mask (int n)
{
  return n >= 16 ? (__mmask16) 0xffff : n <= 0 ? (__mmask16) 0 : (__mmask16) ((1u << n) - 1);
}

/* One tile of 8 outputs: out[o][0 .. n_valid) for o < 8, with @src at the tile's first position
 * in channel 0, @w at row o0 of the weights (rows of c_in * n_taps), @out at the tile in output
 * row o0 (rows of @out_stride). With @masked, loads and stores beyond @n_valid are masked off
 * and only the first @n_vecs vectors (16 positions each) are computed; without, n_valid must be
 * TILE_PX and n_vecs TILE_VECS. */
__attribute__ ((target ("avx512f"), always_inline)) static inline void
tile_8_body (const float *src, gsize plane, const int *offs, int n_taps, const float *w,
             int c_in, float *out, gsize out_stride, int n_valid, gboolean masked, int n_vecs)
{
  gsize w_stride = (gsize) c_in * n_taps;
  __mmask16 m0 = lane_mask (n_valid), m1 = lane_mask (n_valid - 16), m2 = lane_mask (n_valid - 32);
  ACC_DECL (0); ACC_DECL (1); ACC_DECL (2); ACC_DECL (3);
  ACC_DECL (4); ACC_DECL (5); ACC_DECL (6); ACC_DECL (7);

  TILE_LOOP (ACC_FMA (0); ACC_FMA (1); ACC_FMA (2); ACC_FMA (3);
             ACC_FMA (4); ACC_FMA (5); ACC_FMA (6); ACC_FMA (7));
  ACC_STORE (0); ACC_STORE (1); ACC_STORE (2); ACC_STORE (3);
  ACC_STORE (4); ACC_STORE (5); ACC_STORE (6); ACC_STORE (7);
}

#define DEFINE_TILE_8(NAME, N_TAPS, MASKED, N_VECS)                                               \
  __attribute__ ((target ("avx512f"))) static void                                               \
  NAME (const float *src, gsize plane, const int *offs, int n_taps, const float *w, int c_in,    \
        float *out, gsize out_stride, int n_valid)                                                \
  {                                                                                               \
    tile_8_body (src, plane, offs, N_TAPS, w, c_in, out, out_stride, n_valid, MASKED, N_VECS);   \
  }

typedef void (*HlTileFunc) (const float *src, gsize plane, const int *offs, int n_taps,
                            const float *w, int c_in, float *out, gsize out_stride, int n_valid);

DEFINE_TILE_8 (tile_8_1x1, 1, FALSE, 3)
DEFINE_TILE_8 (tile_8_1x1_tail1, 1, TRUE, 1)
DEFINE_TILE_8 (tile_8_1x1_tail2, 1, TRUE, 2)
DEFINE_TILE_8 (tile_8_1x1_tail3, 1, TRUE, 3)
DEFINE_TILE_8 (tile_8_3x3, 9, FALSE, 3)
DEFINE_TILE_8 (tile_8_3x3_tail1, 9, TRUE, 1)
DEFINE_TILE_8 (tile_8_3x3_tail2, 9, TRUE, 2)
DEFINE_TILE_8 (tile_8_3x3_tail3, 9, TRUE, 3)
DEFINE_TILE_8 (tile_8_any, n_taps, TRUE, 3)

/* The tile kernel for @n_taps taps and @n_valid positions. */
static HlTileFunc
tile_8_for (int n_taps, int n_valid)
{
  static const HlTileFunc by_taps[2][4] = {
    { tile_8_1x1_tail1, tile_8_1x1_tail2, tile_8_1x1_tail3, tile_8_1x1 },
    { tile_8_3x3_tail1, tile_8_3x3_tail2, tile_8_3x3_tail3, tile_8_3x3 },
  };
  int k = n_valid == TILE_PX ? 3 : (n_valid + 15) / 16 - 1;

  if (n_taps != 1 && n_taps != 9)
    return tile_8_any;
  return by_taps[n_taps == 9][k];
}

/* One output (when c_out is not a multiple of 8), any tile, any taps. */
__attribute__ ((target ("avx512f"))) static void
tile_1 (const float *src, gsize plane, const int *offs, int n_taps, const float *w, int c_in,
        float *out, gsize out_stride, int n_valid)
{
  const gboolean masked = TRUE;
  const int n_vecs = TILE_VECS;
  gsize w_stride = 0;
  __mmask16 m0 = lane_mask (n_valid), m1 = lane_mask (n_valid - 16), m2 = lane_mask (n_valid - 32);
  ACC_DECL (0);

  TILE_LOOP (ACC_FMA (0));
  ACC_STORE (0);
}

typedef struct
{
  const float *src;
  gsize plane;
  const int *offs;
  int n_taps;
  const float *w;
  int c_in, c_out;
  gsize n_pos;
  float *out;
  gsize out_stride;
  int n_groups;   /* groups of up to 8 outputs */
  int per_chunk;  /* groups per chunk */
  int tile_parts; /* chunks per tile of positions */
} DirectJob;

/* Groups [g0, g1) of outputs on the tile of positions starting at @p0. */
static void
direct_tile (const DirectJob *job, gsize p0, int g0, int g1)
{
  int n_valid = (int) MIN ((gsize) TILE_PX, job->n_pos - p0);
  gsize w_row = (gsize) job->c_in * job->n_taps;
  HlTileFunc tile = tile_8_for (job->n_taps, n_valid);

  for (int g = g0; g < g1; g++)
    {
      int o = g * 8, o_end = MIN (o + 8, job->c_out);
      if (o_end - o == 8)
        tile (job->src + p0, job->plane, job->offs, job->n_taps, job->w + o * w_row, job->c_in,
              job->out + o * job->out_stride + p0, job->out_stride, n_valid);
      else
        for (; o < o_end; o++)
          tile_1 (job->src + p0, job->plane, job->offs, job->n_taps, job->w + o * w_row,
                  job->c_in, job->out + o * job->out_stride + p0, job->out_stride, n_valid);
    }
}

/* Chunk @i: part i % tile_parts (per_chunk output groups) of tile i / tile_parts. One thread
 * computes several groups of a tile in a row, so its input stays in that core's cache instead
 * of being fetched by every core. */
static void
direct_chunk (gpointer data, int i)
{
  const DirectJob *job = data;
  int g0 = (i % job->tile_parts) * job->per_chunk;

  direct_tile (job, (gsize) (i / job->tile_parts) * TILE_PX, g0,
               MIN (g0 + job->per_chunk, job->n_groups));
}

/* Chunks of at least DIRECT_CHUNKS in all where the layer has that many tiles x groups, each as
 * many groups of one tile as that allows. */
#define DIRECT_CHUNKS 64

static void
direct_run (DirectJob *job)
{
  int n_tiles = (int) ((job->n_pos + TILE_PX - 1) / TILE_PX);

  job->n_groups = (job->c_out + 7) / 8;
  job->per_chunk = CLAMP (n_tiles * job->n_groups / DIRECT_CHUNKS, 1, job->n_groups);
  job->tile_parts = (job->n_groups + job->per_chunk - 1) / job->per_chunk;
  hl_parallel_for (n_tiles * job->tile_parts, direct_chunk, job);
}

typedef struct
{
  const float *wide;
  gsize n_wide;
  int h, w;
  float *y;
} CompactJob;

/* Output channel @o: y[o] (h, w) from its wide rows (h, w + 2). */
static void
compact_chunk (gpointer data, int o)
{
  const CompactJob *job = data;

  for (int r = 0; r < job->h; r++)
    memcpy (job->y + ((gsize) o * job->h + r) * job->w,
            job->wide + (gsize) o * job->n_wide + (gsize) r * (job->w + 2),
            (gsize) job->w * sizeof (float));
}

static void
conv_direct (const HlConv *conv, const float *x, int h, int w, const float *scale,
             const float *shift, float *work, float *y)
{
  static const int no_offset[1] = { 0 };
  int h_out = hl_out_size (h, conv->k_h, conv->stride, conv->pad);
  int w_out = hl_out_size (w, conv->k_w, conv->stride, conv->pad);
  gsize n_out = (gsize) h_out * w_out;
  DirectJob job = { x, n_out, no_offset, 1, conv->weight, conv->c_in * conv->k_h * conv->k_w,
                    conv->c_out, n_out, y, n_out, 0 };

  if (is_pointwise (conv))
    {
      if (scale != NULL)
        {
          hl_bn_relu (x, conv->c_in, n_out, scale, shift, work);
          job.src = work;
        }
      direct_run (&job);
      return;
    }
  if (!is_3x3_same (conv))
    {
      hl_im2col (x, conv->c_in, h, w, conv->k_h, conv->k_w, conv->stride, conv->pad, scale, shift,
                 work);
      job.src = work;
      direct_run (&job);
      return;
    }

  int wp = w + 2;
  int offs[9];
  gsize xp_floats, n_wide;
  wide_layout (conv, h, w, &xp_floats, &n_wide);
  float *xp = work;               /* (c_in, h + 2, w + 2) + slack */
  float *wide = work + xp_floats; /* (c_out, h, w + 2) */

  gsize plane = (gsize) (h + 2) * wp;
  hl_pad1 (x, conv->c_in, h, w, scale, shift, xp);
  memset (xp + (gsize) conv->c_in * plane, 0,
          (xp_floats - (gsize) conv->c_in * plane) * sizeof (float));
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      offs[i * 3 + j] = i * wp + j;
  job = (DirectJob) { xp, plane, offs, 9, conv->weight, conv->c_in, conv->c_out, n_wide,
                      wide, n_wide, 0 };
  direct_run (&job);

  /* Compact the wide rows: (c_out, h, w + 2) -> (c_out, h, w). */
  CompactJob compact = { wide, n_wide, h, w, y };
  hl_parallel_for (conv->c_out, compact_chunk, &compact);
}
#endif

gsize
hl_conv2d_work_size (const HlConv *conv, int h, int w, gboolean bn_relu)
{
  g_return_val_if_fail (conv != NULL, 0);

  int h_out = hl_out_size (h, conv->k_h, conv->stride, conv->pad);
  int w_out = hl_out_size (w, conv->k_w, conv->stride, conv->pad);
  gsize im2col = (gsize) conv->c_in * conv->k_h * conv->k_w * h_out * w_out;

  if (is_pointwise (conv))
    return bn_relu ? (gsize) conv->c_in * h * w : 0;
  if (is_3x3_same (conv) && hl_conv_direct_available ())
    {
      gsize xp_floats, n_wide;
      wide_layout (conv, h, w, &xp_floats, &n_wide);
      return xp_floats + (gsize) conv->c_out * n_wide;
    }
  return im2col;
}

void
hl_conv2d_im2col (const HlConv *conv, const float *x, int h, int w, const float *scale,
                  const float *shift, float *work, float *y)
{
  g_return_if_fail (conv != NULL && x != NULL && y != NULL);
  g_return_if_fail ((scale == NULL) == (shift == NULL));

  int h_out = hl_out_size (h, conv->k_h, conv->stride, conv->pad);
  int w_out = hl_out_size (w, conv->k_w, conv->stride, conv->pad);
  int n = h_out * w_out;
  int k = conv->c_in * conv->k_h * conv->k_w;
  const float *b;

  if (is_pointwise (conv))
    {
      if (scale != NULL)
        {
          g_return_if_fail (work != NULL);
          hl_bn_relu (x, conv->c_in, (gsize) n, scale, shift, work);
          b = work;
        }
      else
        b = x;
    }
  else
    {
      g_return_if_fail (work != NULL);
      hl_im2col (x, conv->c_in, h, w, conv->k_h, conv->k_w, conv->stride, conv->pad, scale, shift,
                 work);
      b = work;
    }
  /* (c_out, k) x (k, n) -> (c_out, n) */
  hl_sgemm (FALSE, FALSE, conv->c_out, n, k, 1.0f, conv->weight, k, b, n, 0.0f, y, n);
}

void
hl_conv2d (const HlConv *conv, const float *x, int h, int w, const float *scale,
           const float *shift, float *work, float *y)
{
  g_return_if_fail (conv != NULL && x != NULL && y != NULL);
  g_return_if_fail ((scale == NULL) == (shift == NULL));

#ifdef HL_DIRECT
  if (hl_conv_direct_available ())
    {
      g_return_if_fail (work != NULL || (is_pointwise (conv) && scale == NULL));
      conv_direct (conv, x, h, w, scale, shift, work, y);
      return;
    }
#endif
  hl_conv2d_im2col (conv, x, h, w, scale, shift, work, y);
}

/* One max-pool window: output (@oy, @ox) of a k x k window with @stride and @pad over @plane
 * (h, w), each value first taken through BatchNorm + ReLU (max (0, v * s + b)) when @activate.
 * Returns the window's largest value (-INFINITY for an empty window) and stores in @arg the
 * offset (iy * w + ix) in @plane of its first occurrence (the window's first cell when every
 * value is NaN). */
static inline float
maxpool_window (const float *plane, int h, int w, int k, int stride, int pad, int oy, int ox,
                gboolean activate, float s, float b, gsize *arg)
{
  int y0 = MAX (oy * stride - pad, 0), y1 = MIN (oy * stride - pad + k, h);
  int x0 = MAX (ox * stride - pad, 0), x1 = MIN (ox * stride - pad + k, w);
  float m = -INFINITY;

  *arg = (gsize) y0 * w + x0;
  for (int iy = y0; iy < y1; iy++)
    for (int ix = x0; ix < x1; ix++)
      {
        float v = plane[(gsize) iy * w + ix];
        if (activate)
          {
            v = v * s + b;
            v = v > 0.0f ? v : 0.0f;
          }
        if (v > m)
          {
            m = v;
            *arg = (gsize) iy * w + ix;
          }
      }
  return m;
}

/* Max pooling, forward (y) or backward (dy -> dx): one loop over the windows, so both passes
 * pick the same cell of each window. */
typedef struct
{
  const float *x;
  int c, h, w, k, stride, pad;
  const float *scale, *shift;
  float *y;        /* forward: (c, h_out, w_out), or NULL for the backward pass */
  const float *dy; /* backward: (c, h_out, w_out) */
  float *dx;       /* backward: (c, h, w), accumulated into */
  int per_chunk;
} MaxPoolJob;

static void
maxpool_chunk (gpointer data, int i)
{
  const MaxPoolJob *job = data;
  int h = job->h, w = job->w, k = job->k, stride = job->stride, pad = job->pad;
  int h_out = hl_out_size (h, k, stride, pad);
  int w_out = hl_out_size (w, k, stride, pad);
  int end = MIN ((i + 1) * job->per_chunk, job->c);

  for (int ch = i * job->per_chunk; ch < end; ch++)
    {
      const float *plane = job->x + (gsize) ch * h * w;
      gsize out = (gsize) ch * h_out * w_out; /* this channel's first output */
      gboolean activate = job->scale != NULL;
      float s = activate ? job->scale[ch] : 1.0f;
      float b = activate ? job->shift[ch] : 0.0f;
      for (int oy = 0; oy < h_out; oy++)
        for (int ox = 0; ox < w_out; ox++, out++)
          {
            gsize arg;
            float m = maxpool_window (plane, h, w, k, stride, pad, oy, ox, activate, s, b, &arg);
            if (job->y != NULL)
              job->y[out] = m;
            else
              job->dx[(gsize) ch * h * w + arg] += job->dy[out];
          }
    }
}

void
hl_maxpool2d (const float *x, int c, int h, int w, int k, int stride, int pad, const float *scale,
              const float *shift, float *y)
{
  g_return_if_fail (x != NULL && y != NULL && k >= 1 && stride >= 1 && pad >= 0 && pad < k);
  g_return_if_fail ((scale == NULL) == (shift == NULL));

  MaxPoolJob job = { x, c, h, w, k, stride, pad, scale, shift, y, NULL, NULL, 1 };
  int n = hl_channel_chunks (c, (gsize) h * w, &job.per_chunk);
  hl_parallel_for (n, maxpool_chunk, &job);
}

void
hl_maxpool2d_backward (const float *x, int c, int h, int w, int k, int stride, int pad,
                       const float *scale, const float *shift, const float *dy, float *dx)
{
  g_return_if_fail (x != NULL && dy != NULL && dx != NULL && k >= 1 && stride >= 1);
  g_return_if_fail (pad >= 0 && pad < k && (scale == NULL) == (shift == NULL));

  MaxPoolJob job = { x, c, h, w, k, stride, pad, scale, shift, NULL, dy, dx, 1 };
  int n = hl_channel_chunks (c, (gsize) h * w, &job.per_chunk);
  hl_parallel_for (n, maxpool_chunk, &job);
}

typedef struct
{
  const float *x;
  int c, h, w;
  const float *scale, *shift;
  float *y;
  int per_chunk;
} AvgPoolJob;

HL_VECTOR_CLONES static void
avgpool_chunk (gpointer data, int i)
{
  const AvgPoolJob *job = data;
  int h = job->h, w = job->w, h_out = h / 2, w_out = w / 2;
  int end = MIN ((i + 1) * job->per_chunk, job->c);

  for (int ch = i * job->per_chunk; ch < end; ch++)
    {
      const float *plane = job->x + (gsize) ch * h * w;
      float *out = job->y + (gsize) ch * h_out * w_out;
      gboolean activate = job->scale != NULL;
      float s = activate ? job->scale[ch] : 1.0f;
      float b = activate ? job->shift[ch] : 0.0f;
      for (int oy = 0; oy < h_out; oy++)
        {
          const float *r0 = plane + (gsize) (2 * oy) * w;
          const float *r1 = r0 + w;
          float *o = out + (gsize) oy * w_out;
          if (activate)
            for (int ox = 0; ox < w_out; ox++)
              o[ox] = (act (r0[2 * ox], s, b) + act (r0[2 * ox + 1], s, b) + act (r1[2 * ox], s, b)
                       + act (r1[2 * ox + 1], s, b)) * 0.25f;
          else
            for (int ox = 0; ox < w_out; ox++)
              o[ox] = (r0[2 * ox] + r0[2 * ox + 1] + r1[2 * ox] + r1[2 * ox + 1]) * 0.25f;
        }
    }
}

void
hl_avgpool2x2 (const float *x, int c, int h, int w, const float *scale, const float *shift,
               float *y)
{
  g_return_if_fail (x != NULL && y != NULL);
  g_return_if_fail ((scale == NULL) == (shift == NULL));

  AvgPoolJob job = { x, c, h, w, scale, shift, y, 1 };
  int n = hl_channel_chunks (c, (gsize) h * w, &job.per_chunk);
  hl_parallel_for (n, avgpool_chunk, &job);
}

void
hl_global_avgpool (const float *x, int c, gsize hw, float *y)
{
  g_return_if_fail (x != NULL && y != NULL && hw > 0);

  for (int ch = 0; ch < c; ch++)
    {
      const float *xc = x + (gsize) ch * hw;
      double sum = 0.0;
      for (gsize i = 0; i < hw; i++)
        sum += xc[i];
      y[ch] = (float) (sum / (double) hw);
    }
}

/* --- resizing --------------------------------------------------------------------------------
 * Follows ATen's CPU kernels for float32 (UpSample.h, cpu/UpSampleKernel.cpp). The antialiased
 * path transcribes them operation by operation (float weights, float accumulation). The plain
 * bilinear path keeps the source coordinate in double and combines the four taps in double with
 * one final rounding: that is what PyTorch's vectorised build computes in effect (checked against
 * torch 1.13: within 1 ulp, ~85% bit-exact), whereas rounding the coordinate to float, as the
 * source reads, drifts by up to 4e-5 at 1024 px. */

/* antialias=True taps along one axis, per output position: the first input index, the number of
 * taps and their weights (n_out, max_taps). */
typedef struct
{
  int max_taps;
  int *first;
  int *count;
  float *weights;
} HlTaps;

static void
taps_clear (HlTaps *t)
{
  g_free (t->first);
  g_free (t->count);
  g_free (t->weights);
}

/* antialias=False: the classic 2-tap linear interpolation along one axis
 * (compute_source_index_and_lambda): source index scale * (o + 0.5) - 0.5 clamped at 0 with the
 * scale rounded to float, taps i0 and i1 = i0 + 1 (i0 again on the last pixel), weights 1 - l1
 * and l1. */
typedef struct
{
  int *i0, *i1;
  float *l0, *l1;
} HlLinearTaps;

static void
linear_taps_init (int in, int out, HlLinearTaps *t)
{
  float scale = (float) in / (float) out;

  t->i0 = g_new (int, out);
  t->i1 = g_new (int, out);
  t->l0 = g_new (float, out);
  t->l1 = g_new (float, out);
  for (int o = 0; o < out; o++)
    {
      if (in == out)
        {
          t->i0[o] = t->i1[o] = o;
          t->l0[o] = 1.0f;
          t->l1[o] = 0.0f;
          continue;
        }
      double real = (double) scale * (o + 0.5) - 0.5;
      if (real < 0.0)
        real = 0.0;
      t->i0[o] = (int) real;
      t->i1[o] = t->i0[o] + (t->i0[o] < in - 1 ? 1 : 0);
      t->l1[o] = (float) (real - t->i0[o]);
      t->l0[o] = 1.0f - t->l1[o];
    }
}

static void
linear_taps_clear (HlLinearTaps *t)
{
  g_free (t->i0);
  g_free (t->i1);
  g_free (t->l0);
  g_free (t->l1);
}

static inline float
triangle (float x)
{
  x = fabsf (x);
  return x < 1.0f ? 1.0f - x : 0.0f;
}

/* antialias=True: PIL-style triangle filter, support scaled by the downscale factor
 * (_compute_indices_min_size_weights_aa). */
static void
taps_antialias (int in, int out, HlTaps *t)
{
  float scale = (float) in / (float) out;
  float support = scale >= 1.0f ? 1.0f * scale : 1.0f;
  float invscale = scale >= 1.0f ? (float) (1.0 / scale) : 1.0f;

  t->max_taps = (int) ceilf (support) * 2 + 1;
  t->first = g_new (int, out);
  t->count = g_new (int, out);
  t->weights = g_new0 (float, (gsize) out * t->max_taps);
  for (int o = 0; o < out; o++)
    {
      float center = (float) ((double) scale * (o + 0.5));
      gint64 xmin = MAX ((gint64) ((double) (center - support) + 0.5), 0);
      gint64 xsize = MIN ((gint64) ((double) (center + support) + 0.5), (gint64) in) - xmin;
      xsize = CLAMP (xsize, 0, t->max_taps);
      float *wt = t->weights + (gsize) o * t->max_taps;
      float total = 0.0f;
      for (gint64 j = 0; j < xsize; j++)
        {
          float arg = (float) (((double) ((float) (j + xmin) - center) + 0.5) * (double) invscale);
          wt[j] = triangle (arg);
          total += wt[j];
        }
      if (total != 0.0f)
        for (gint64 j = 0; j < xsize; j++)
          wt[j] /= total;
      t->first[o] = (int) xmin;
      t->count[o] = (int) xsize;
    }
}

/* Applies taps along one axis: dst[o] = sum_j w[o][j] * src[(first[o] + j) * stride],
 * accumulated in float from j = 0 like ATen. */
static inline float
apply_taps (const HlTaps *t, int o, const float *src, gsize stride)
{
  const float *wt = t->weights + (gsize) o * t->max_taps;
  const float *p = src + (gsize) t->first[o] * stride;
  int count = t->count[o];
  if (count == 0)
    return 0.0f;
  float acc = p[0] * wt[0];
  for (int j = 1; j < count; j++)
    acc += p[(gsize) j * stride] * wt[j];
  return acc;
}

static void
resize_separable (const float *src, int h, int w, float *dst, int out_h, int out_w)
{
  float *tmp = NULL;
  const float *rows = src;

  /* Horizontal pass (h, w) -> (h, out_w), skipped when the width does not change. */
  if (out_w != w)
    {
      HlTaps tx;
      float *target = out_h != h ? (tmp = g_new (float, (gsize) h * out_w)) : dst;
      taps_antialias (w, out_w, &tx);
      for (int y = 0; y < h; y++)
        for (int o = 0; o < out_w; o++)
          target[(gsize) y * out_w + o] = apply_taps (&tx, o, src + (gsize) y * w, 1);
      taps_clear (&tx);
      rows = target;
    }
  /* Vertical pass (h, out_w) -> (out_h, out_w). */
  if (out_h != h)
    {
      HlTaps ty;
      taps_antialias (h, out_h, &ty);
      for (int o = 0; o < out_h; o++)
        for (int x = 0; x < out_w; x++)
          dst[(gsize) o * out_w + x] = apply_taps (&ty, o, rows + x, (gsize) out_w);
      taps_clear (&ty);
    }
  else if (out_w == w)
    memcpy (dst, src, (gsize) h * w * sizeof (float));
  g_free (tmp);
}

/* (x[y0][x0] * w0 + x[y0][x1] * w1) * h0 + (x[y1][x0] * w0 + x[y1][x1] * w1) * h1, the order of
 * ATen's generic bilinear kernel, in double with weights rounded to float. */
static void
resize_linear (const float *src, int h, int w, float *dst, int out_h, int out_w)
{
  HlLinearTaps ty, tx;

  linear_taps_init (h, out_h, &ty);
  linear_taps_init (w, out_w, &tx);
  for (int oy = 0; oy < out_h; oy++)
    {
      const float *r0 = src + (gsize) ty.i0[oy] * w;
      const float *r1 = src + (gsize) ty.i1[oy] * w;
      float h0 = ty.l0[oy], h1 = ty.l1[oy];
      for (int ox = 0; ox < out_w; ox++)
        {
          int x0 = tx.i0[ox], x1 = tx.i1[ox];
          float w0 = tx.l0[ox], w1 = tx.l1[ox];
          double t0 = (double) r0[x0] * w0 + (double) r0[x1] * w1;
          double t1 = (double) r1[x0] * w0 + (double) r1[x1] * w1;
          dst[(gsize) oy * out_w + ox] = (float) (t0 * h0 + t1 * h1);
        }
    }
  linear_taps_clear (&ty);
  linear_taps_clear (&tx);
}

void
hl_resize_bilinear (const float *src, int h, int w, float *dst, int out_h, int out_w,
                    gboolean antialias)
{
  g_return_if_fail (src != NULL && dst != NULL && h > 0 && w > 0 && out_h > 0 && out_w > 0);

  if (antialias)
    resize_separable (src, h, w, dst, out_h, out_w);
  else
    resize_linear (src, h, w, dst, out_h, out_w);
}
