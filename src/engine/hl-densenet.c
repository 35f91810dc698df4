/* hl-densenet.c — the DenseNet forward pass (hl_model_forward), its per-run workspace, the
 * HlForward result and the engine's thread setting.
 *
 * One image at a time, the network runs in a workspace allocated once per call and sized for
 * the largest layer:
 *   stem:        conv0 (im2col + GEMM) -> norm0 + ReLU fused into the 3x3/2 max pool
 *   dense block: ONE buffer holds the block's whole concatenation (c_out, h, w); dense layer l
 *                reads its first c_in channels and writes its growth new channels into the next
 *                slice, so concatenation is free. norm1 + ReLU are applied while preparing
 *                conv1's GEMM input, norm2 + ReLU while writing conv2's padded input (or its
 *                im2col on CPUs without the direct kernel, see hl-kernels.h).
 *   transition:  norm + ReLU fused into the 2x2 average pool, then the 1x1 conv: pooling and
 *                the 1x1 convolution are both linear and commute, so pooling first is exact and
 *                makes the GEMM 4x smaller. It writes straight into the next block's buffer.
 *   head:        norm5 + ReLU -> features (returned), global average pool, classifier, sigmoid.
 * Consecutive blocks alternate between two block buffers; the conv0 output lives in the second
 * one before block 1 needs it. Nothing else is kept, so memory stays a few times the largest
 * activation whatever the depth.
 */
#include "hl-kernels.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#ifdef G_OS_UNIX
#include <sys/mman.h>
#endif

/* OpenBLAS extensions; declared here as well because a generic cblas.h lacks them. */
void openblas_set_num_threads (int num_threads);
int openblas_get_num_threads (void);

/* Spatial sizes and workspace layout of one model at its input size. */
typedef struct
{
  int h1, w1;                  /* conv0 output */
  int hb[HL_MAX_BLOCKS];       /* spatial size of each dense block */
  int wb[HL_MAX_BLOCKS];
  int c_feat;                  /* channels of the last block's concatenation */
  int n_steps;                 /* progress steps per image */
  gsize cat_floats[2];         /* the two alternating block buffers */
  gsize tmp_floats;            /* conv1 GEMM input / pooled transition input */
  gsize mid_floats;            /* conv1 output */
  gsize col_floats;            /* im2col of conv0 and conv2 */
} HlPlan;

typedef struct
{
  float *cat[2];
  float *tmp;
  float *mid;
  float *col;
  float *pooled; /* (c_feat) */
} HlWorkspace;

/* Fills @plan for @model; FALSE with HL_ENGINE_ERROR_INPUT when the input is too small for the
 * number of blocks (a spatial size would reach 0). */
static gboolean
plan_network (HlModel *model, HlPlan *plan, GError **error)
{
  const HlModelInfo *info = &model->info;
  const HlConv *conv0 = &model->conv0;
  int side = info->input_size;
  int h, w;

  memset (plan, 0, sizeof *plan);
  plan->h1 = hl_out_size (side, conv0->k_h, conv0->stride, conv0->pad);
  plan->w1 = hl_out_size (side, conv0->k_w, conv0->stride, conv0->pad);
  h = hl_out_size (plan->h1, 3, 2, 1);
  w = hl_out_size (plan->w1, 3, 2, 1);
  plan->cat_floats[1] = (gsize) conv0->c_out * plan->h1 * plan->w1;
  plan->col_floats = hl_conv2d_work_size (conv0, side, side, FALSE);
  plan->n_steps = 2;

  for (int b = 0; b < info->arch.n_blocks; b++)
    {
      const HlDenseBlock *blk = &model->blocks[b];
      int c = blk->c_in;
      gsize hw;

      if (h < 1 || w < 1)
        {
          g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT,
                       "Input size %d is too small for a network of %d dense blocks", side,
                       info->arch.n_blocks);
          return FALSE;
        }
      plan->hb[b] = h;
      plan->wb[b] = w;
      hw = (gsize) h * w;
      for (int l = 0; l < blk->n_layers; l++)
        {
          const HlDenseLayer *layer = &blk->layers[l];
          plan->tmp_floats = MAX (plan->tmp_floats,
                                  hl_conv2d_work_size (&layer->conv1, h, w, TRUE));
          plan->mid_floats = MAX (plan->mid_floats, (gsize) layer->conv1.c_out * hw);
          plan->col_floats = MAX (plan->col_floats,
                                  hl_conv2d_work_size (&layer->conv2, h, w, TRUE));
          c += layer->conv2.c_out;
        }
      plan->cat_floats[b % 2] = MAX (plan->cat_floats[b % 2], (gsize) c * hw);
      plan->n_steps += blk->n_layers;
      if (b < info->arch.n_blocks - 1)
        {
          h /= 2;
          w /= 2;
          plan->tmp_floats = MAX (plan->tmp_floats, (gsize) c * h * w);
          plan->n_steps++;
        }
      plan->c_feat = c;
    }
  return TRUE;
}

/* Workspaces are mapped, not malloc'ed: tens of MiB freed to malloc raise glibc's mmap threshold
 * and stay in the heap, so the resident size would creep up run after run. Mapping afresh for
 * every run costs page faults and zeroing, though, so the last few finished workspaces are kept
 * for the next runs (each run still has one to itself) and the rest unmapped. Huge pages where
 * the kernel offers them cut the faults of touching a new one. */
#define WORKSPACE_CACHE 2

typedef struct
{
  float *base;
  gsize bytes;
} HlSpace;

static GMutex cache_lock;
static HlSpace cache[WORKSPACE_CACHE];

static void
space_unmap (HlSpace space)
{
#ifdef G_OS_UNIX
  munmap (space.base, space.bytes);
#else
  g_aligned_free (space.base);
#endif
}

static gboolean
space_acquire (gsize bytes, HlSpace *space, GError **error)
{
  g_mutex_lock (&cache_lock);
  for (int i = 0; i < WORKSPACE_CACHE; i++)
    if (cache[i].base != NULL && cache[i].bytes >= bytes)
      {
        *space = cache[i];
        cache[i].base = NULL;
        g_mutex_unlock (&cache_lock);
        return TRUE;
      }
  g_mutex_unlock (&cache_lock);

  space->bytes = bytes;
#ifdef G_OS_UNIX
  void *p = mmap (NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    {
      int saved = errno;
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT,
                   "Cannot map a %" G_GSIZE_FORMAT "-byte workspace for the forward pass: %s",
                   bytes, g_strerror (saved));
      return FALSE;
    }
#ifdef MADV_HUGEPAGE
  madvise (p, bytes, MADV_HUGEPAGE);
#endif
  space->base = p;
#else
  space->base = g_aligned_alloc (bytes, 1, HL_ALIGN);
#endif
  return TRUE;
}

/* Returns @space to the cache, replacing the smallest cached one if it is larger. */
static void
space_release (HlSpace space)
{
  g_mutex_lock (&cache_lock);
  int slot = 0;
  for (int i = 1; i < WORKSPACE_CACHE; i++)
    if (cache[i].base == NULL || (cache[slot].base != NULL && cache[i].bytes < cache[slot].bytes))
      slot = i;
  if (cache[slot].base == NULL || cache[slot].bytes < space.bytes)
    {
      HlSpace evicted = cache[slot];
      cache[slot] = space;
      space = evicted;
    }
  g_mutex_unlock (&cache_lock);
  if (space.base != NULL)
    space_unmap (space);
}

/* Lays the workspace out (each part HL_ALIGN-aligned) in a space from space_acquire(); FALSE
 * with @error set when there is none. */
static gboolean
workspace_new (const HlPlan *plan, HlWorkspace *ws, HlSpace *space, GError **error)
{
  gsize sizes[] = { plan->cat_floats[0], plan->cat_floats[1], plan->tmp_floats,
                    plan->mid_floats, plan->col_floats, (gsize) plan->c_feat };
  float **slots[] = { &ws->cat[0], &ws->cat[1], &ws->tmp, &ws->mid, &ws->col, &ws->pooled };
  gsize total = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    total += hl_align_floats (MAX (sizes[i], 1));
  if (!space_acquire (total * sizeof (float), space, error))
    return FALSE;
  total = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      *slots[i] = space->base + total;
      total += hl_align_floats (MAX (sizes[i], 1));
    }
  return TRUE;
}

typedef struct
{
  HlProgressFunc func;
  gpointer user_data;
  GCancellable *cancellable;
  int done, total;
} HlSteps;

/* Reports one finished step; FALSE with HL_ENGINE_ERROR_CANCELLED if the run must stop. */
static gboolean
step_done (HlSteps *steps, GError **error)
{
  steps->done++;
  if (steps->func != NULL)
    steps->func (steps->done == steps->total ? 1.0 : (double) steps->done / steps->total,
                 steps->user_data);
  if (steps->done < steps->total && g_cancellable_is_cancelled (steps->cancellable))
    {
      g_set_error_literal (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_CANCELLED,
                           "The forward pass was cancelled");
      return FALSE;
    }
  return TRUE;
}

static inline float
sigmoid (float x)
{
  if (x >= 0.0f)
    return 1.0f / (1.0f + expf (-x));
  float e = expf (x);
  return e / (1.0f + e);
}

/* One image: @input (input_channels, side, side) -> @features (c_feat, h_feat, w_feat) and
 * @logits (n_labels). */
static gboolean
forward_image (HlModel *model, const HlPlan *plan, HlWorkspace *ws, const float *input,
               float *features, float *logits, HlSteps *steps, GError **error)
{
  const HlModelInfo *info = &model->info;
  int side = info->input_size;
  int n_blocks = info->arch.n_blocks;
  float *cat = ws->cat[0];
  int c = 0;

  /* Stem: conv0 into the second block buffer, then norm0 + ReLU + max pool into the first. */
  hl_conv2d (&model->conv0, input, side, side, NULL, NULL, ws->col, ws->cat[1]);
  hl_maxpool2d (ws->cat[1], model->conv0.c_out, plan->h1, plan->w1, 3, 2, 1, model->norm0.scale,
                model->norm0.shift, ws->cat[0]);
  if (!step_done (steps, error))
    return FALSE;

  for (int b = 0; b < n_blocks; b++)
    {
      const HlDenseBlock *blk = &model->blocks[b];
      int h = plan->hb[b], w = plan->wb[b];
      gsize hw = (gsize) h * w;

      cat = ws->cat[b % 2]; /* (c_out of the block, h, w); its first blk->c_in channels are set */
      c = blk->c_in;
      for (int l = 0; l < blk->n_layers; l++)
        {
          const HlDenseLayer *layer = &blk->layers[l];

          /* conv1 (1x1) on norm1 + ReLU of cat[0:c] -> mid (bn_size * growth, h, w) */
          hl_conv2d (&layer->conv1, cat, h, w, layer->norm1.scale, layer->norm1.shift, ws->tmp,
                     ws->mid);
          /* conv2 (3x3) on norm2 + ReLU of mid -> cat[c:c + growth] */
          hl_conv2d (&layer->conv2, ws->mid, h, w, layer->norm2.scale, layer->norm2.shift,
                     ws->col, cat + (gsize) c * hw);
          c += layer->conv2.c_out;
          if (!step_done (steps, error))
            return FALSE;
        }
      if (b < n_blocks - 1)
        {
          const HlTransition *tr = &model->transitions[b];
          /* avgpool (norm + ReLU (cat)) -> tmp (c, h / 2, w / 2); 1x1 conv -> next block buffer */
          hl_avgpool2x2 (cat, c, h, w, tr->norm.scale, tr->norm.shift, ws->tmp);
          hl_conv2d (&tr->conv, ws->tmp, h / 2, w / 2, NULL, NULL, NULL, ws->cat[(b + 1) % 2]);
          if (!step_done (steps, error))
            return FALSE;
        }
    }

  /* Head: features = ReLU (norm5 (cat)); logits = classifier (mean over the map). */
  gsize hw_feat = (gsize) plan->hb[n_blocks - 1] * plan->wb[n_blocks - 1];
  hl_bn_relu (cat, c, hw_feat, model->norm5.scale, model->norm5.shift, features);
  hl_global_avgpool (features, c, hw_feat, ws->pooled);
  memcpy (logits, model->classifier_bias, (gsize) info->n_labels * sizeof (float));
  cblas_sgemv (CblasRowMajor, CblasNoTrans, info->n_labels, c, 1.0f, model->classifier_weight, c,
               ws->pooled, 1, 1.0f, logits, 1);
  return step_done (steps, error);
}

HlForward *
hl_model_forward (HlModel *model, const float *input, int n, HlProgressFunc progress,
                  gpointer user_data, GCancellable *cancellable, GError **error)
{
  g_autoptr (HlForward) fwd = NULL;
  HlWorkspace ws;
  HlPlan plan;
  HlSpace space;
  gboolean ok = TRUE;

  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (input != NULL, NULL);
  g_return_val_if_fail (n >= 1, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_cancellable_is_cancelled (cancellable))
    {
      g_set_error_literal (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_CANCELLED,
                           "The forward pass was cancelled");
      return NULL;
    }
  if (!plan_network (model, &plan, error))
    return NULL;

  const HlModelInfo *info = &model->info;
  int n_blocks = info->arch.n_blocks;
  gsize in_floats = hl_model_input_size (model);

  fwd = g_new0 (HlForward, 1);
  fwd->n = n;
  fwd->n_labels = info->n_labels;
  fwd->c_feat = plan.c_feat;
  fwd->h_feat = plan.hb[n_blocks - 1];
  fwd->w_feat = plan.wb[n_blocks - 1];
  gsize feat_floats = (gsize) fwd->c_feat * fwd->h_feat * fwd->w_feat;
  fwd->logits = g_new (float, (gsize) n * fwd->n_labels);
  fwd->probs = g_new (float, (gsize) n * fwd->n_labels);
  fwd->features = g_aligned_alloc ((gsize) n * feat_floats, sizeof (float), HL_ALIGN);

  HlSteps steps = { progress, user_data, cancellable, 0, plan.n_steps * n };
  if (!workspace_new (&plan, &ws, &space, error))
    return NULL;
  for (int i = 0; i < n && ok; i++)
    ok = forward_image (model, &plan, &ws, input + (gsize) i * in_floats,
                        fwd->features + (gsize) i * feat_floats,
                        fwd->logits + (gsize) i * fwd->n_labels, &steps, error);
  space_release (space);
  if (!ok)
    return NULL;

  for (gsize i = 0; i < (gsize) n * fwd->n_labels; i++)
    {
      float p = sigmoid (fwd->logits[i]);
      if (model->info.calibration == HL_OUTPUT_OP_NORM)
        {
          /* torchxrayvision's op_norm: the label's operating point t maps to 0.5. */
          float t = model->info.op_thresholds[i % fwd->n_labels];
          p = p < t ? p / (t * 2.0f) : 1.0f - (1.0f - p) / ((1.0f - t) * 2.0f);
        }
      fwd->probs[i] = p;
    }
  return g_steal_pointer (&fwd);
}

void
hl_forward_free (HlForward *fwd)
{
  if (fwd == NULL)
    return;
  g_free (fwd->logits);
  g_free (fwd->probs);
  g_aligned_free (fwd->features);
  g_free (fwd);
}

/* The number of threads the engine's own kernels split their work over (hl_parallel_for), matrix
 * products included (hl_sgemm). OpenBLAS itself runs on one thread: its own worker threads spin
 * after every call and, on top of the engine's, would leave more busy threads than cores. Until
 * the first set, the count is the one OpenBLAS chose at start-up (OPENBLAS_NUM_THREADS, else the
 * number of cores). */
static gint engine_threads; /* 0 until decided */

void
hl_engine_set_threads (int n)
{
  g_return_if_fail (n >= 1);

  openblas_set_num_threads (1);
  g_atomic_int_set (&engine_threads, n);
}

int
hl_engine_get_threads (void)
{
  int n = g_atomic_int_get (&engine_threads);

  if (n == 0)
    {
      n = MAX (openblas_get_num_threads (), 1);
      openblas_set_num_threads (1);
      /* a concurrent hl_engine_set_threads() wins */
      if (!g_atomic_int_compare_and_exchange (&engine_threads, 0, n))
        n = g_atomic_int_get (&engine_threads);
    }
  return n;
}
