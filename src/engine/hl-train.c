/* hl-train.c — the DenseNet in training mode (HlTrainNet): a private copy of the model's tensors,
 * a gradient for every parameter, the forward pass with batch-statistics BatchNorm that keeps what
 * the backward pass needs, the backward pass, and earlier-layer Grad-CAM through it.
 *
 * Memory per mini-batch of n images (NCHW, float32):
 *   input   (n, c_in, s, s)           a copy, for conv0's weight gradient
 *   stem    (n, c0, h1, w1)           conv0's output (before norm0)
 *   cat[b]  (n, c_tot_b, h_b, w_b)    dense block b's whole concatenation: its first c_in_b
 *                                     channels are the block input, layer l writes its growth
 *                                     channels after them (concatenation is free)
 *   mid     (n, bn_size * growth, h_b, w_b) per dense layer: conv1's output (before norm2)
 * BatchNorm + ReLU outputs, im2col matrices and pooled transition inputs are recomputed in the
 * backward pass instead of being stored. Backward keeps ONE gradient buffer per block (two
 * alternating, gcat): layer l adds its input gradient into the first c_in channels of its
 * block's buffer, so the concatenation's backward costs nothing either.
 *
 * The transition computes conv (avgpool (act (x))) like the inference pass (pooling and the 1x1
 * convolution commute), and its backward is the adjoint of that order.
 *
 * In evaluation mode (hl_model_gradcam_layer) the same code runs with the model's folded
 * BatchNorm (running statistics), n = 1 and no parameter gradients.
 *
 * Frozen layers (hl_train_net_new_frozen): every tensor at and below the named module is a
 * prefix of the arena (state_dict order), so "frozen" is an arena offset: those tensors get no
 * gradient (grad_of gives NULL) and are not HlParams, and their BatchNorms run as in evaluation
 * mode on their running statistics, which stay as they are (Keras' trainable = False, PyTorch's
 * frozen module in eval ()). Without an input gradient the backward pass stops at the freeze.
 */
#include "hl-train.h"
#include "hl-backward.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define BN_MOMENTUM 0.1f
/* floats readable past xpad's last plane: the last tap's view runs 2 beyond it */
#define PAD_SLACK 16

/* A BatchNorm's state for the current batch. Training: the batch statistics and the folded
 * scale/shift they give (all (c), owned); evaluation: scale/shift lent from the model. */
typedef struct
{
  HlBatchNorm *bn;
  float *mean, *invstd; /* (c), training only */
  float *scale, *shift; /* (c) */
  gboolean frozen;      /* training: normalise with the running statistics, leave them */
} BnState;

typedef struct
{
  BnState norm1, norm2;
  float *mid; /* (n, c_mid, h, w) */
} LayerState;

typedef struct
{
  int c_tot, h, w;
  float *cat;         /* (n, c_tot, h, w) */
  double *cat_mean, *cat_var; /* (c_tot), training: each channel's batch statistics, computed
                               * once when the channel is written (every BatchNorm over cat
                               * reads its channels' statistics from here) */
  LayerState *layers; /* (n_layers) */
  BnState trans;      /* the transition after this block (not for the last block) */
} BlockState;

struct _HlTrainNet
{
  HlModel *model;    /* owned: a private copy (training) or a reference (evaluation) */
  gboolean training;
  int max_batch;
  int n;             /* images of the last forward pass, 0 before the first */

  int side, c_in, h1, w1, c_feat, hw_feat, n_labels;
  BnState norm0, norm5;
  BlockState blocks[HL_MAX_BLOCKS];

  HlParam *params;   /* (n_params), the trainable tensors */
  int n_params;
  float *grad;       /* (model->arena_floats), parallel to model->arena; training only */
  int freeze_stage;  /* the last frozen stage (see tensor_stage), -1 when none */
  gsize frozen_floats; /* the arena's frozen prefix */

  /* activations (max_batch images each) */
  float *input, *stem, *pooled, *logits;
  /* backward and scratch */
  float *gcat[2], *dmid, *dact, *dpooled;
  float *col, *tmp; /* one image */
  float *wt;        /* a dense layer's conv2 kernel flipped and transposed (c_mid, growth, 3, 3) */
  float *xpad;      /* conv3x3_weight_grad: (c_mid, h + 2, w + 2) + PAD_SLACK */
  float *dyw;       /* conv3x3_weight_grad: (growth, h, w + 2) */
  float *taps;      /* conv2's weight gradient per tap (9, growth, c_mid) */
  double *stat_mean, *stat_var; /* (max channels) */
  gsize in_floats, cat_max, act_max;

  GPtrArray *buffers; /* every aligned buffer above, for freeing */
};

static float *
buffer_new (HlTrainNet *net, gsize n_floats)
{
  float *p = g_aligned_alloc0 (MAX (n_floats, 1), sizeof (float), HL_ALIGN);

  g_ptr_array_add (net->buffers, p);
  return p;
}

static void
bn_state_init (HlTrainNet *net, BnState *st, HlBatchNorm *bn)
{
  st->bn = bn;
  if (net->training)
    {
      st->mean = buffer_new (net, bn->c);
      st->invstd = buffer_new (net, bn->c);
      st->scale = buffer_new (net, bn->c);
      st->shift = buffer_new (net, bn->c);
    }
  else
    {
      st->scale = bn->scale;
      st->shift = bn->shift;
    }
}

static float *
grad_of (HlTrainNet *net, const float *param)
{
  gsize offset = (gsize) (param - net->model->arena);

  if (net->grad == NULL || offset < net->frozen_floats)
    return NULL;
  return net->grad + offset;
}

/* Where a tensor sits, bottom up, for freezing: the stem (conv0, norm0) 0, denseblock k 2k - 1,
 * transition k 2k, norm5 2 n_blocks, the classifier 2 n_blocks + 1. */
static int
tensor_stage (const char *name, int n_blocks)
{
  int k;

  if (sscanf (name, "features.denseblock%d.", &k) == 1)
    return 2 * k - 1;
  if (sscanf (name, "features.transition%d.", &k) == 1)
    return 2 * k;
  if (g_str_has_prefix (name, "features.norm5."))
    return 2 * n_blocks;
  if (g_str_has_prefix (name, "classifier."))
    return 2 * n_blocks + 1;
  return 0;
}

int
hl_model_freeze_stage (HlModel *model, const char *name)
{
  int n_blocks;

  g_return_val_if_fail (model != NULL, -2);
  if (name == NULL || *name == '\0')
    return -1;
  n_blocks = model->info.arch.n_blocks;
  if (strcmp (name, "features") == 0)
    return 2 * n_blocks;
  for (int k = 1; k <= n_blocks; k++)
    {
      char want[32];

      g_snprintf (want, sizeof want, "denseblock%d", k);
      if (strcmp (name, want) == 0)
        return 2 * k - 1;
      g_snprintf (want, sizeof want, "transition%d", k);
      if (k < n_blocks && strcmp (name, want) == 0)
        return 2 * k;
    }
  return -2;
}

static gboolean
is_parameter (const char *name)
{
  return !g_str_has_suffix (name, ".running_mean") && !g_str_has_suffix (name, ".running_var");
}

/* A copy of @model's tensors in a fresh model laid out in state_dict order. */
static HlModel *
model_copy (HlModel *model)
{
  HlModel *copy = hl_model_new_random (&model->info, 0);

  for (guint i = 0; i < copy->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (copy->tensors, i);
      HlTensor *src = hl_model_get_tensor (model, t->name);

      g_assert (src != NULL && src->numel == t->numel);
      memcpy (t->data, src->data, t->numel * sizeof (float));
    }
  return copy;
}

static HlTrainNet *
net_create (HlModel *model, int max_batch, gboolean training, int freeze_stage, GError **error)
{
  const HlModelInfo *info = &model->info;
  g_autoptr (HlTrainNet) net = g_new0 (HlTrainNet, 1);
  int n_blocks = info->arch.n_blocks;
  int c_mid = info->arch.bn_size * info->arch.growth_rate;
  gsize col_max, tmp_max, dmid_max = 0;
  int c_max;
  int h, w;

  net->buffers = g_ptr_array_new_with_free_func (g_aligned_free);
  net->training = training;
  net->freeze_stage = freeze_stage;
  net->model = training ? model_copy (model) : hl_model_ref (model);
  model = net->model;
  net->max_batch = max_batch;
  net->side = info->input_size;
  net->c_in = info->input_channels;
  net->n_labels = info->n_labels;
  net->in_floats = hl_model_input_size (model);
  net->h1 = hl_out_size (net->side, 7, 2, 3);
  net->w1 = net->h1;
  h = w = hl_out_size (net->h1, 3, 2, 1);

  /* sizes */
  col_max = (gsize) net->c_in * 49 * net->h1 * net->w1;
  net->act_max = (gsize) model->conv0.c_out * net->h1 * net->w1;
  tmp_max = 0;
  c_max = model->conv0.c_out;
  for (int b = 0; b < n_blocks; b++)
    {
      BlockState *bs = &net->blocks[b];
      HlDenseBlock *blk = &model->blocks[b];
      gsize hw;

      if (h < 2 || w < 2)
        {
          g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT,
                       "Input size %d is too small to train a network of %d dense blocks",
                       net->side, n_blocks);
          return NULL;
        }
      bs->h = h;
      bs->w = w;
      hw = (gsize) h * w;
      bs->c_tot = blk->c_in + blk->n_layers * info->arch.growth_rate;
      c_max = MAX (c_max, bs->c_tot);
      for (int l = 0; l < blk->n_layers; l++)
        {
          HlDenseLayer *layer = &blk->layers[l];
          tmp_max = MAX (tmp_max, MAX (hl_conv2d_work_size (&layer->conv1, h, w, TRUE),
                                       (gsize) layer->conv1.c_in * hw));
          /* conv2's transposed convolution in the backward pass (backward_block) */
          HlConv transposed = { .c_out = c_mid, .c_in = layer->conv2.c_out, .k_h = 3, .k_w = 3,
                                .stride = 1, .pad = 1 };
          col_max = MAX (col_max, MAX (hl_conv2d_work_size (&layer->conv2, h, w, TRUE),
                                       (gsize) MAX (c_mid, layer->conv2.c_out) * 9 * hw));
          col_max = MAX (col_max, hl_conv2d_work_size (&transposed, h, w, FALSE));
        }
      dmid_max = MAX (dmid_max, (gsize) c_mid * hw);
      net->cat_max = MAX (net->cat_max, (gsize) bs->c_tot * hw);
      net->act_max = MAX (net->act_max, (gsize) bs->c_tot * hw);
      if (b < n_blocks - 1)
        {
          h /= 2;
          w /= 2;
          tmp_max = MAX (tmp_max, (gsize) bs->c_tot * h * w);
          col_max = MAX (col_max, (gsize) bs->c_tot * h * w);
        }
      else
        {
          net->c_feat = bs->c_tot;
          net->hw_feat = (int) hw;
          tmp_max = MAX (tmp_max, (gsize) bs->c_tot * hw);
        }
    }

  /* refuse absurd batches before allocating: everything below is at most ~ 8 x this */
  gsize per_image = net->in_floats + net->act_max * 4 + dmid_max * 64;
  if ((gsize) max_batch > G_MAXSIZE / 64 / MAX (per_image, 1))
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT,
                   "A batch of %d images is too large", max_batch);
      return NULL;
    }

  gsize nb = (gsize) max_batch;
  /* Everything allocated below, counted before any of it is: the per-image buffers times the
   * batch, the per-layer ones, the BatchNorm states, and in training the model's copy and its
   * gradient. A Grad-CAM pass (one image, no training) is held to the inference bound, a
   * training net to HL_TRAIN_MAX_BYTES, so that no model file sets the memory a run takes. */
  gsize n_bn = 2; /* norm0, norm5 */
  gsize mids = 0, cats = 0;
  for (int b = 0; b < n_blocks; b++)
    {
      gsize hw = (gsize) net->blocks[b].h * net->blocks[b].w;
      n_bn += 2 * (gsize) model->blocks[b].n_layers + (b < n_blocks - 1);
      cats += (gsize) net->blocks[b].c_tot * hw;
      mids += (gsize) model->blocks[b].n_layers * c_mid * hw;
    }
  double floats = (double) nb * (net->in_floats + (gsize) model->conv0.c_out * net->h1 * net->w1
                                 + cats + mids + 2 * (gsize) net->c_feat + net->n_labels
                                 + 2 * net->cat_max + dmid_max + net->act_max)
                  + (double) col_max + tmp_max
                  + 2.0 * c_mid * info->arch.growth_rate * 9
                  + (double) c_mid * (net->blocks[0].h + 2) * (net->blocks[0].w + 2) + PAD_SLACK
                  + (double) info->arch.growth_rate * net->blocks[0].h * (net->blocks[0].w + 2)
                  + (training ? 2.0 * model->arena_floats + 4.0 * c_max * n_bn : 0.0);
  double bytes = floats * sizeof (float) + 2.0 * c_max * sizeof (double);
  double cap = training ? (double) HL_TRAIN_MAX_BYTES : (double) HL_MODEL_MAX_BYTES;
  if (bytes > cap)
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT,
                   "%s of this network at %d x %d %s %.0f MiB, more than the limit of %.0f MiB",
                   training ? "Training" : "Grad-CAM at an earlier layer", net->side, net->side,
                   training ? "in batches of that size needs" : "needs", bytes / 1048576.0,
                   cap / 1048576.0);
      return NULL;
    }
  net->input = buffer_new (net, nb * net->in_floats);
  net->stem = buffer_new (net, nb * model->conv0.c_out * net->h1 * net->w1);
  bn_state_init (net, &net->norm0, &model->norm0);
  for (int b = 0; b < n_blocks; b++)
    {
      BlockState *bs = &net->blocks[b];
      HlDenseBlock *blk = &model->blocks[b];
      gsize hw = (gsize) bs->h * bs->w;

      bs->cat = buffer_new (net, nb * bs->c_tot * hw);
      bs->cat_mean = g_new (double, bs->c_tot);
      bs->cat_var = g_new (double, bs->c_tot);
      bs->layers = g_new0 (LayerState, blk->n_layers);
      for (int l = 0; l < blk->n_layers; l++)
        {
          bn_state_init (net, &bs->layers[l].norm1, &blk->layers[l].norm1);
          bn_state_init (net, &bs->layers[l].norm2, &blk->layers[l].norm2);
          bs->layers[l].mid = buffer_new (net, nb * c_mid * hw);
        }
      if (b < n_blocks - 1)
        bn_state_init (net, &bs->trans, &model->transitions[b].norm);
    }
  bn_state_init (net, &net->norm5, &model->norm5);
  net->pooled = buffer_new (net, nb * net->c_feat);
  net->logits = buffer_new (net, nb * net->n_labels);
  net->gcat[0] = buffer_new (net, nb * net->cat_max);
  net->gcat[1] = buffer_new (net, nb * net->cat_max);
  net->dmid = buffer_new (net, nb * dmid_max);
  net->dact = buffer_new (net, nb * net->act_max);
  net->dpooled = buffer_new (net, nb * net->c_feat);
  net->col = buffer_new (net, col_max);
  net->tmp = buffer_new (net, tmp_max);
  net->wt = buffer_new (net, (gsize) c_mid * info->arch.growth_rate * 9);
  net->taps = buffer_new (net, (gsize) c_mid * info->arch.growth_rate * 9);
  net->xpad = buffer_new (net, (gsize) c_mid * (net->blocks[0].h + 2) * (net->blocks[0].w + 2)
                               + PAD_SLACK);
  net->dyw = buffer_new (net, (gsize) info->arch.growth_rate * net->blocks[0].h
                              * (net->blocks[0].w + 2));
  net->stat_mean = g_new (double, c_max);
  net->stat_var = g_new (double, c_max);

  if (training)
    {
      net->grad = buffer_new (net, model->arena_floats);
      net->params = g_new0 (HlParam, model->tensors->len);
      /* the frozen tensors come first in the arena (state_dict order) */
      for (guint i = 0; i < model->tensors->len; i++)
        {
          HlTensor *t = g_ptr_array_index (model->tensors, i);
          if (tensor_stage (t->name, n_blocks) > freeze_stage)
            break;
          net->frozen_floats = (gsize) (t->data - model->arena) + t->numel;
        }
      net->norm0.frozen = freeze_stage >= 0;
      for (int b = 0; b < n_blocks; b++)
        {
          for (int l = 0; l < model->blocks[b].n_layers; l++)
            {
              net->blocks[b].layers[l].norm1.frozen = 2 * b + 1 <= freeze_stage;
              net->blocks[b].layers[l].norm2.frozen = 2 * b + 1 <= freeze_stage;
            }
          net->blocks[b].trans.frozen = 2 * b + 2 <= freeze_stage;
        }
      net->norm5.frozen = 2 * n_blocks <= freeze_stage;
      for (guint i = 0; i < model->tensors->len; i++)
        {
          HlTensor *t = g_ptr_array_index (model->tensors, i);
          if (!is_parameter (t->name) || grad_of (net, t->data) == NULL)
            continue;
          net->params[net->n_params++] = (HlParam) { t->name, t->data, grad_of (net, t->data),
                                                     t->numel };
        }
    }
  return g_steal_pointer (&net);
}

HlTrainNet *
hl_train_net_new (HlModel *model, int max_batch, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (max_batch >= 2, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return net_create (model, max_batch, TRUE, -1, error);
}

HlTrainNet *
hl_train_net_new_frozen (HlModel *model, int max_batch, const char *freeze, GError **error)
{
  int stage;

  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (max_batch >= 2, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stage = hl_model_freeze_stage (model, freeze);
  if (stage < -1)
    {
      int n_blocks = model->info.arch.n_blocks;
      g_autofree char *transitions = n_blocks > 1
                                       ? g_strdup_printf (", transition1..%d", n_blocks - 1)
                                       : g_strdup ("");
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT,
                   "Cannot freeze \"%s\": this network's modules are features, "
                   "denseblock1..%d%s", freeze, n_blocks, transitions);
      return NULL;
    }
  return net_create (model, max_batch, TRUE, stage, error);
}

void
hl_train_net_free (HlTrainNet *net)
{
  if (net == NULL)
    return;
  for (int b = 0; b < HL_MAX_BLOCKS; b++)
    {
      g_free (net->blocks[b].layers);
      g_free (net->blocks[b].cat_mean);
      g_free (net->blocks[b].cat_var);
    }
  g_clear_pointer (&net->buffers, g_ptr_array_unref);
  g_free (net->params);
  g_free (net->stat_mean);
  g_free (net->stat_var);
  hl_model_unref (net->model);
  g_free (net);
}

const HlParam *
hl_train_net_get_params (HlTrainNet *net, int *n_params)
{
  g_return_val_if_fail (net != NULL && net->training, NULL);

  if (n_params != NULL)
    *n_params = net->n_params;
  return net->params;
}

void
hl_train_net_zero_grad (HlTrainNet *net)
{
  g_return_if_fail (net != NULL && net->training);

  memset (net->grad, 0, net->model->arena_floats * sizeof (float));
}

HlModel *
hl_train_net_get_model (HlTrainNet *net)
{
  g_return_val_if_fail (net != NULL && net->training, NULL);

  hl_model_fold_bn (net->model);
  return net->model;
}

/* --- forward --------------------------------------------------------------------------------- */

/* Training: the state's mean, invstd, scale and shift from the batch statistics @mean, @var
 * (bn->c) over @count values per channel, and the running statistics updated as
 * torch.nn.BatchNorm2d does. Evaluation: nothing to do. */
static void
bn_forward_stats (HlTrainNet *net, BnState *st, const double *mean, const double *var,
                  double count)
{
  HlBatchNorm *bn = st->bn;
  double eps = net->model->info.arch.bn_eps;

  if (!net->training)
    return;
  if (st->frozen)
    {
      /* evaluation mode: the running statistics, as the model folds them */
      for (int i = 0; i < bn->c; i++)
        {
          st->scale[i] = bn->weight[i] / sqrtf (bn->running_var[i] + (float) eps);
          st->shift[i] = bn->bias[i] - bn->running_mean[i] * st->scale[i];
        }
      return;
    }
  for (int i = 0; i < bn->c; i++)
    {
      st->mean[i] = (float) mean[i];
      st->invstd[i] = (float) (1.0 / sqrt (var[i] + eps));
      st->scale[i] = bn->weight[i] * st->invstd[i];
      st->shift[i] = bn->bias[i] - st->mean[i] * st->scale[i];
      bn->running_mean[i] = (1.0f - BN_MOMENTUM) * bn->running_mean[i]
                            + BN_MOMENTUM * (float) mean[i];
      bn->running_var[i] = (1.0f - BN_MOMENTUM) * bn->running_var[i]
                           + BN_MOMENTUM * (float) (var[i] * count / MAX (count - 1.0, 1.0));
    }
}

/* bn_forward_stats() with the batch statistics of x (n, c, hw). */
static void
bn_forward (HlTrainNet *net, BnState *st, HlBatchView x, int n, gsize hw)
{
  if (!net->training)
    return;
  if (st->frozen)
    {
      bn_forward_stats (net, st, NULL, NULL, 0.0);
      return;
    }
  hl_bn_batch_stats (x, n, st->bn->c, hw, net->stat_mean, net->stat_var);
  bn_forward_stats (net, st, net->stat_mean, net->stat_var, (double) n * (double) hw);
}

/* Training: the batch statistics of channels [c0, c1) of block @bs's concatenation, just
 * written, into its cat_mean / cat_var. */
static void
cat_stats (HlTrainNet *net, BlockState *bs, int c0, int c1, int n)
{
  gsize hw = (gsize) bs->h * bs->w;

  if (!net->training)
    return;
  hl_bn_batch_stats ((HlBatchView) { bs->cat + (gsize) c0 * hw, (gsize) bs->c_tot * hw }, n,
                     c1 - c0, hw, bs->cat_mean + c0, bs->cat_var + c0);
}

static gboolean
check_cancel (GCancellable *cancellable, GError **error)
{
  if (g_cancellable_is_cancelled (cancellable))
    {
      g_set_error_literal (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_CANCELLED,
                           "The training step was cancelled");
      return FALSE;
    }
  return TRUE;
}

static gboolean
net_forward (HlTrainNet *net, const float *input, int n, GCancellable *cancellable,
             GError **error)
{
  HlModel *m = net->model;
  int n_blocks = m->info.arch.n_blocks;
  int c0 = m->conv0.c_out;
  gsize hw1 = (gsize) net->h1 * net->w1;

  net->n = n;
  memcpy (net->input, input, (gsize) n * net->in_floats * sizeof (float));

  /* stem: conv0 -> norm0 + ReLU + max pool into block 0's first channels */
  for (int i = 0; i < n; i++)
    hl_conv2d (&m->conv0, net->input + i * net->in_floats, net->side, net->side, NULL, NULL,
               net->col, net->stem + i * c0 * hw1);
  bn_forward (net, &net->norm0, (HlBatchView) { net->stem, c0 * hw1 }, n, hw1);
  {
    BlockState *b0 = &net->blocks[0];
    for (int i = 0; i < n; i++)
      hl_maxpool2d (net->stem + i * c0 * hw1, c0, net->h1, net->w1, 3, 2, 1, net->norm0.scale,
                    net->norm0.shift, b0->cat + (gsize) i * b0->c_tot * b0->h * b0->w);
    cat_stats (net, b0, 0, c0, n);
  }

  for (int b = 0; b < n_blocks; b++)
    {
      BlockState *bs = &net->blocks[b];
      HlDenseBlock *blk = &m->blocks[b];
      int h = bs->h, w = bs->w;
      gsize hw = (gsize) h * w, cstride = (gsize) bs->c_tot * hw;
      int c = blk->c_in;

      for (int l = 0; l < blk->n_layers; l++)
        {
          HlDenseLayer *layer = &blk->layers[l];
          LayerState *ls = &bs->layers[l];
          gsize mstride = (gsize) layer->conv1.c_out * hw;

          if (!check_cancel (cancellable, error))
            return FALSE;
          bn_forward_stats (net, &ls->norm1, bs->cat_mean, bs->cat_var, (double) n * hw);
          for (int i = 0; i < n; i++)
            hl_conv2d (&layer->conv1, bs->cat + i * cstride, h, w, ls->norm1.scale,
                       ls->norm1.shift, net->tmp, ls->mid + i * mstride);
          bn_forward (net, &ls->norm2, (HlBatchView) { ls->mid, mstride }, n, hw);
          for (int i = 0; i < n; i++)
            hl_conv2d (&layer->conv2, ls->mid + i * mstride, h, w, ls->norm2.scale,
                       ls->norm2.shift, net->col, bs->cat + i * cstride + (gsize) c * hw);
          cat_stats (net, bs, c, c + layer->conv2.c_out, n);
          c += layer->conv2.c_out;
        }
      if (b < n_blocks - 1)
        {
          HlTransition *tr = &m->transitions[b];
          BlockState *next = &net->blocks[b + 1];
          gsize nstride = (gsize) next->c_tot * next->h * next->w;

          bn_forward_stats (net, &bs->trans, bs->cat_mean, bs->cat_var, (double) n * hw);
          for (int i = 0; i < n; i++)
            {
              hl_avgpool2x2 (bs->cat + i * cstride, c, h, w, bs->trans.scale, bs->trans.shift,
                             net->tmp);
              hl_conv2d (&tr->conv, net->tmp, h / 2, w / 2, NULL, NULL, NULL,
                         next->cat + i * nstride);
            }
          cat_stats (net, next, 0, tr->conv.c_out, n);
        }
    }

  /* head: features = ReLU (norm5 (cat)), global average pool, classifier */
  BlockState *last = &net->blocks[n_blocks - 1];
  gsize cstride = (gsize) net->c_feat * net->hw_feat;
  bn_forward_stats (net, &net->norm5, last->cat_mean, last->cat_var,
                    (double) n * net->hw_feat);
  for (int i = 0; i < n; i++)
    {
      hl_bn_relu (last->cat + i * cstride, net->c_feat, net->hw_feat, net->norm5.scale,
                  net->norm5.shift, net->tmp);
      hl_global_avgpool (net->tmp, net->c_feat, net->hw_feat, net->pooled + i * net->c_feat);
      memcpy (net->logits + i * net->n_labels, m->classifier_bias,
              net->n_labels * sizeof (float));
    }
  /* (n, c_feat) x (n_labels, c_feat)^T -> (n, n_labels) */
  hl_sgemm (FALSE, TRUE, n, net->n_labels, net->c_feat, 1.0f, net->pooled, net->c_feat,
            m->classifier_weight, net->c_feat, 1.0f, net->logits, net->n_labels);
  return TRUE;
}

const float *
hl_train_net_forward (HlTrainNet *net, const float *input, int n, GCancellable *cancellable,
                      GError **error)
{
  g_return_val_if_fail (net != NULL && net->training, NULL);
  g_return_val_if_fail (input != NULL, NULL);
  g_return_val_if_fail (n >= 2 && n <= net->max_batch, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_cancel (cancellable, error) || !net_forward (net, input, n, cancellable, error))
    {
      net->n = 0;
      return NULL;
    }
  return net->logits;
}

/* --- backward -------------------------------------------------------------------------------- */

/* BatchNorm + ReLU backward of a state (training or evaluation), with parameter gradients when
 * the net has them. */
static void
bn_backward (HlTrainNet *net, BnState *st, HlBatchView x, HlBatchView dy, HlBatchView dx, int n,
             gsize hw, gboolean accumulate)
{
  gboolean batch = net->training && !st->frozen;

  hl_bn_relu_backward (x, dy, dx, n, st->bn->c, hw, st->scale, st->shift,
                       batch ? st->mean : NULL, batch ? st->invstd : NULL,
                       grad_of (net, st->bn->weight), grad_of (net, st->bn->bias), accumulate);
}

/* Backward of the head from @dlogits (n, n_labels) to gcat of the last block
 * (d loss / d the last block's concatenation). With @stop_at_features, stops at d loss / d
 * features (n, c_feat, hw_feat), left in that buffer. */
static float *
backward_head (HlTrainNet *net, const float *dlogits, gboolean stop_at_features)
{
  HlModel *m = net->model;
  int n = net->n, n_blocks = m->info.arch.n_blocks;
  BlockState *last = &net->blocks[n_blocks - 1];
  float *g = net->gcat[(n_blocks - 1) % 2];
  gsize cstride = (gsize) net->c_feat * net->hw_feat;
  float *gw = grad_of (net, m->classifier_weight);

  if (gw != NULL)
    {
      float *gb = grad_of (net, m->classifier_bias);
      /* (n, n_labels)^T x (n, c_feat) -> (n_labels, c_feat) */
      hl_sgemm (TRUE, FALSE, net->n_labels, net->c_feat, n, 1.0f, dlogits, net->n_labels,
                net->pooled, net->c_feat, 1.0f, gw, net->c_feat);
      for (int i = 0; i < n; i++)
        for (int l = 0; l < net->n_labels; l++)
          gb[l] += dlogits[i * net->n_labels + l];
    }
  /* (n, n_labels) x (n_labels, c_feat) -> (n, c_feat) */
  hl_sgemm (FALSE, FALSE, n, net->c_feat, net->n_labels, 1.0f, dlogits, net->n_labels,
            m->classifier_weight, net->c_feat, 0.0f, net->dpooled, net->c_feat);
  float inv_hw = 1.0f / (float) net->hw_feat;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < net->c_feat; c++)
      {
        float v = net->dpooled[i * net->c_feat + c] * inv_hw;
        float *p = g + i * cstride + (gsize) c * net->hw_feat;
        for (int k = 0; k < net->hw_feat; k++)
          p[k] = v;
      }
  if (stop_at_features)
    return g;
  HlBatchView gv = { g, cstride };
  bn_backward (net, &net->norm5, (HlBatchView) { last->cat, cstride }, gv, gv, n, net->hw_feat,
               FALSE);
  return g;
}

/* conv3x3_weight_grad's products, one chunk per tap and block of TAP_BLOCK input channels */
#define TAP_BLOCK 64

typedef struct
{
  const float *dyw, *xpad;
  float *taps;
  int growth, c_mid, wp, n_blocks;
  gsize plane, k;
} TapJob;

static void
tap_chunk (gpointer data, int i)
{
  const TapJob *job = data;
  int t = i / job->n_blocks, c0 = (i % job->n_blocks) * TAP_BLOCK;
  int len = MIN (TAP_BLOCK, job->c_mid - c0);

  /* (growth, k) x (len, k)^T -> taps[t][:, c0 : c0 + len], xpad rows of stride plane */
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, job->growth, len, (int) job->k, 1.0f,
               job->dyw, (int) job->k,
               job->xpad + (gsize) c0 * job->plane + (t / 3) * job->wp + t % 3,
               (int) job->plane, 1.0f, job->taps + (gsize) t * job->growth * job->c_mid + c0,
               job->c_mid);
}

/* The weight gradient of a 3x3 stride-1 pad-1 convolution without im2col, for one image:
 * taps[t] (growth, c_mid) += dY (growth, hw) x act (x)^T shifted by tap t. act (x) is written
 * once with a zero border into xpad (c_mid, h + 2, w + 2), dY into dyw (growth, h, w + 2) with
 * two zero columns per row; then output position p = y (w + 2) + x reads xpad[p + i (w + 2) + j]
 * for tap (i, j), so each tap is one GEMM over K = h (w + 2) on a shifted view of xpad (the zero
 * columns of dyw cancel the positions that wrap around a row). */
static void
conv3x3_weight_grad (HlTrainNet *net, const float *x, int c_mid, int h, int w,
                     const float *scale, const float *shift, const float *dy, int growth)
{
  int wp = w + 2;
  gsize plane = (gsize) (h + 2) * wp, k = (gsize) h * wp;

  hl_pad1 (x, c_mid, h, w, scale, shift, net->xpad);
  memset (net->xpad + c_mid * plane, 0, PAD_SLACK * sizeof (float));
  for (int co = 0; co < growth; co++)
    for (int r = 0; r < h; r++)
      {
        float *row = net->dyw + co * k + (gsize) r * wp;
        memcpy (row, dy + (gsize) co * h * w + (gsize) r * w, w * sizeof (float));
        row[w] = row[w + 1] = 0.0f;
      }
  TapJob job = { .dyw = net->dyw, .xpad = net->xpad, .taps = net->taps, .growth = growth,
                 .c_mid = c_mid, .wp = wp, .n_blocks = (c_mid + TAP_BLOCK - 1) / TAP_BLOCK,
                 .plane = plane, .k = k };
  hl_parallel_for (9 * job.n_blocks, tap_chunk, &job);
}

/* Backward through dense block @b: on entry gcat[b % 2] holds d loss / d the block's output
 * (all c_tot channels); on return its first c_in channels hold d loss / d the block input. */
static void
backward_block (HlTrainNet *net, int b)
{
  HlModel *m = net->model;
  BlockState *bs = &net->blocks[b];
  HlDenseBlock *blk = &m->blocks[b];
  int n = net->n, h = bs->h, w = bs->w;
  gsize hw = (gsize) h * w, cstride = (gsize) bs->c_tot * hw;
  float *g = net->gcat[b % 2];

  for (int l = blk->n_layers - 1; l >= 0; l--)
    {
      HlDenseLayer *layer = &blk->layers[l];
      LayerState *ls = &bs->layers[l];
      int c = layer->conv1.c_in, c_mid = layer->conv1.c_out, growth = layer->conv2.c_out;
      gsize mstride = (gsize) c_mid * hw;
      float *gw2 = grad_of (net, layer->conv2.weight);
      float *gw1 = grad_of (net, layer->conv1.weight);

      HlConv transposed = { .c_out = c_mid, .c_in = growth, .k_h = 3, .k_w = 3, .stride = 1,
                            .pad = 1, .weight = net->wt };

      /* wt[ci][co][ki][kj] = w2[co][ci][2 - ki][2 - kj] */
      for (int co = 0; co < growth; co++)
        for (int ci = 0; ci < c_mid; ci++)
          for (int t = 0; t < 9; t++)
            net->wt[((gsize) ci * growth + co) * 9 + t] =
              layer->conv2.weight[((gsize) co * c_mid + ci) * 9 + 8 - t];

      if (gw2 != NULL)
        memset (net->taps, 0, (gsize) 9 * growth * c_mid * sizeof (float));

      /* conv2 (3x3): dY (growth, hw) is the block gradient's slice [c, c + growth) */
      for (int i = 0; i < n; i++)
        {
          const float *dy = g + i * cstride + (gsize) c * hw;
          float *dm = net->dmid + i * mstride;
          if (gw2 != NULL)
            conv3x3_weight_grad (net, ls->mid + i * mstride, c_mid, h, w, ls->norm2.scale,
                                 ls->norm2.shift, dy, growth);
          /* d act2 = the transposed convolution of dY: a 3x3 stride-1 pad-1 convolution of dY
           * with the flipped, transposed kernel wt, run like a forward one (no col2im) */
          hl_conv2d (&transposed, dy, h, w, NULL, NULL, net->col, dm);
        }
      if (gw2 != NULL)
        {
          /* gw2[co][ci][t] += taps[t][co][ci] */
          for (int co = 0; co < growth; co++)
            for (int ci = 0; ci < c_mid; ci++)
              for (int t = 0; t < 9; t++)
                gw2[((gsize) co * c_mid + ci) * 9 + t] +=
                  net->taps[((gsize) t * growth + co) * c_mid + ci];
        }
      HlBatchView dmv = { net->dmid, mstride };
      bn_backward (net, &ls->norm2, (HlBatchView) { ls->mid, mstride }, dmv, dmv, n, hw, FALSE);

      /* conv1 (1x1) on act1 (cat[0:c]) */
      gsize astride = (gsize) c * hw;
      for (int i = 0; i < n; i++)
        {
          const float *dm = net->dmid + i * mstride;
          if (gw1 != NULL)
            {
              hl_bn_relu (bs->cat + i * cstride, c, hw, ls->norm1.scale, ls->norm1.shift,
                          net->tmp);
              /* (c_mid, hw) x (c, hw)^T -> (c_mid, c) */
              hl_sgemm (FALSE, TRUE, c_mid, c, (int) hw, 1.0f, dm, (int) hw, net->tmp,
                        (int) hw, 1.0f, gw1, c);
            }
          /* (c_mid, c)^T x (c_mid, hw) -> (c, hw) */
          hl_sgemm (TRUE, FALSE, c, (int) hw, c_mid, 1.0f, layer->conv1.weight, c, dm,
                    (int) hw, 0.0f, net->dact + i * astride, (int) hw);
        }
      bn_backward (net, &ls->norm1, (HlBatchView) { bs->cat, cstride },
                   (HlBatchView) { net->dact, astride }, (HlBatchView) { g, cstride }, n, hw,
                   TRUE);
    }
}

/* Backward through transition @b (between blocks b and b + 1): from the first channels of
 * gcat[(b + 1) % 2] into the whole of gcat[b % 2] (written). */
static void
backward_transition (HlTrainNet *net, int b)
{
  HlModel *m = net->model;
  BlockState *bs = &net->blocks[b], *next = &net->blocks[b + 1];
  HlConv *conv = &m->transitions[b].conv;
  int n = net->n, c = bs->c_tot, c_out = conv->c_out;
  gsize hw = (gsize) bs->h * bs->w, hw2 = (gsize) next->h * next->w;
  gsize cstride = (gsize) c * hw, nstride = (gsize) next->c_tot * hw2;
  float *gnext = net->gcat[(b + 1) % 2], *g = net->gcat[b % 2];
  float *gw = grad_of (net, conv->weight);

  for (int i = 0; i < n; i++)
    {
      const float *dy = gnext + i * nstride; /* (c_out, hw2) */
      if (gw != NULL)
        {
          hl_avgpool2x2 (bs->cat + i * cstride, c, bs->h, bs->w, bs->trans.scale,
                         bs->trans.shift, net->tmp);
          /* (c_out, hw2) x (c, hw2)^T -> (c_out, c) */
          hl_sgemm (FALSE, TRUE, c_out, c, (int) hw2, 1.0f, dy, (int) hw2, net->tmp,
                    (int) hw2, 1.0f, gw, c);
        }
      /* (c_out, c)^T x (c_out, hw2) -> (c, hw2) */
      hl_sgemm (TRUE, FALSE, c, (int) hw2, c_out, 1.0f, conv->weight, c, dy, (int) hw2, 0.0f,
                net->col, (int) hw2);
      hl_avgpool2x2_backward (net->col, c, bs->h, bs->w, net->dact + i * cstride);
    }
  bn_backward (net, &bs->trans, (HlBatchView) { bs->cat, cstride },
               (HlBatchView) { net->dact, cstride }, (HlBatchView) { g, cstride }, n, hw, FALSE);
}

/* Backward through the stem from the first c0 channels of gcat[0]; @dinput may be NULL. */
static void
backward_stem (HlTrainNet *net, float *dinput)
{
  HlModel *m = net->model;
  BlockState *b0 = &net->blocks[0];
  int n = net->n, c0 = m->conv0.c_out;
  gsize hw1 = (gsize) net->h1 * net->w1, sstride = (gsize) c0 * hw1;
  gsize bstride = (gsize) b0->c_tot * b0->h * b0->w;
  int k0 = net->c_in * 49;
  float *gw = grad_of (net, m->conv0.weight);

  for (int i = 0; i < n; i++)
    {
      memset (net->dact + i * sstride, 0, sstride * sizeof (float));
      hl_maxpool2d_backward (net->stem + i * sstride, c0, net->h1, net->w1, 3, 2, 1,
                             net->norm0.scale, net->norm0.shift, net->gcat[0] + i * bstride,
                             net->dact + i * sstride);
    }
  HlBatchView dv = { net->dact, sstride };
  bn_backward (net, &net->norm0, (HlBatchView) { net->stem, sstride }, dv, dv, n, hw1, FALSE);
  for (int i = 0; i < n; i++)
    {
      const float *dy = net->dact + i * sstride; /* (c0, hw1) */
      if (gw != NULL)
        {
          hl_im2col (net->input + i * net->in_floats, net->c_in, net->side, net->side, 7, 7, 2,
                     3, NULL, NULL, net->col);
          /* (c0, hw1) x (k0, hw1)^T -> (c0, k0) */
          hl_sgemm (FALSE, TRUE, c0, k0, (int) hw1, 1.0f, dy, (int) hw1, net->col, (int) hw1,
                    1.0f, gw, k0);
        }
      if (dinput != NULL)
        {
          float *dx = dinput + i * net->in_floats;
          /* (c0, k0)^T x (c0, hw1) -> (k0, hw1) */
          hl_sgemm (TRUE, FALSE, k0, (int) hw1, c0, 1.0f, m->conv0.weight, k0, dy, (int) hw1,
                    0.0f, net->col, (int) hw1);
          memset (dx, 0, net->in_floats * sizeof (float));
          hl_col2im (net->col, net->c_in, net->side, net->side, 7, 7, 2, 3, dx);
        }
    }
}

void
hl_train_net_backward (HlTrainNet *net, const float *dlogits, float *dinput)
{
  g_return_if_fail (net != NULL && net->training);
  g_return_if_fail (net->n >= 2);
  g_return_if_fail (dlogits != NULL);

  int n_blocks = net->model->info.arch.n_blocks;
  /* with no input gradient asked for, nothing below the frozen stage needs one */
  int stop = dinput == NULL ? net->freeze_stage : -1;
  if (stop >= 2 * n_blocks)
    {
      backward_head (net, dlogits, TRUE);
      return;
    }
  backward_head (net, dlogits, FALSE);
  for (int b = n_blocks - 1; b >= 0; b--)
    {
      if (2 * b + 1 <= stop)
        return;
      backward_block (net, b);
      if (b > 0)
        {
          if (2 * b <= stop)
            return;
          backward_transition (net, b - 1);
        }
    }
  if (stop >= 0)
    return;
  backward_stem (net, dinput);
}

/* --- Grad-CAM at any block input ------------------------------------------------------------ */

int
hl_model_gradcam_n_layers (HlModel *model)
{
  g_return_val_if_fail (model != NULL, 0);

  return 2 * model->info.arch.n_blocks + 1;
}

char *
hl_model_gradcam_layer_name (HlModel *model, int layer)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (layer >= 0 && layer <= 2 * model->info.arch.n_blocks, NULL);

  int b = layer / 2;
  if (layer == 2 * model->info.arch.n_blocks)
    return g_strdup ("features (after norm5 + ReLU)");
  if (layer % 2 == 1)
    return g_strdup_printf ("denseblock%d", b + 1);
  if (b == 0)
    return g_strdup ("pool0");
  return g_strdup_printf ("transition%d", b);
}

char *
hl_model_gradcam_layer_id (HlModel *model, int layer)
{
  char *name = hl_model_gradcam_layer_name (model, layer);
  if (name != NULL)
    name[strcspn (name, " ")] = '\0';
  return name;
}

int
hl_model_gradcam_layer_find (HlModel *model, const char *id)
{
  g_return_val_if_fail (model != NULL && id != NULL, -1);

  for (int layer = 0; layer < hl_model_gradcam_n_layers (model); layer++)
    {
      g_autofree char *layer_id = hl_model_gradcam_layer_id (model, layer);
      if (strcmp (layer_id, id) == 0)
        return layer;
    }
  return -1;
}

float *
hl_model_gradcam_layer (HlModel *model, const float *input, int layer, int *h, int *w,
                        GError **error)
{
  g_return_val_if_fail (model != NULL && input != NULL && h != NULL && w != NULL, NULL);
  g_return_val_if_fail (layer >= 0 && layer <= 2 * model->info.arch.n_blocks, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (HlTrainNet) net = net_create (model, 1, FALSE, -1, error);
  int n_blocks = model->info.arch.n_blocks, n_labels = model->info.n_labels;
  int target = layer / 2;                 /* the block whose input or output is the target */
  gboolean last = layer == 2 * n_blocks;  /* the last feature map */
  gboolean block_out = !last && layer % 2 == 1;
  const float *a;
  int c, mh, mw;

  if (net == NULL || !net_forward (net, input, 1, NULL, error))
    return NULL;
  if (last)
    {
      /* A = ReLU (norm5 (cat)) in tmp, which the head's backward leaves alone */
      hl_bn_relu (net->blocks[n_blocks - 1].cat, net->c_feat, net->hw_feat, net->norm5.scale,
                  net->norm5.shift, net->tmp);
      a = net->tmp;
      c = net->c_feat;
      target = n_blocks - 1;
    }
  else
    {
      a = net->blocks[target].cat;
      c = block_out ? net->blocks[target].c_tot : model->blocks[target].c_in;
    }
  mh = net->blocks[target].h;
  mw = net->blocks[target].w;

  gsize hw = (gsize) mh * mw;
  g_autofree float *dlogits = g_new0 (float, n_labels);
  float *maps = g_new0 (float, (gsize) n_labels * hw);
  for (int label = 0; label < n_labels; label++)
    {
      const float *da; /* d logit_label / d A (c, hw) */
      float *map = maps + (gsize) label * hw;

      memset (dlogits, 0, n_labels * sizeof (float));
      dlogits[label] = 1.0f;
      if (last)
        da = backward_head (net, dlogits, TRUE);
      else
        {
          /* a block's output feeds only its transition (or norm5), so its gradient is complete
           * before the block's own backward pass; its input's is complete after it */
          backward_head (net, dlogits, FALSE);
          for (int b = n_blocks - 1; b >= target; b--)
            {
              if (b == target && block_out)
                break;
              backward_block (net, b);
              if (b > target)
                backward_transition (net, b - 1);
            }
          da = net->gcat[target % 2];
        }
      for (int k = 0; k < c; k++)
        {
          double sum = 0.0;
          for (gsize p = 0; p < hw; p++)
            sum += da[(gsize) k * hw + p];
          float alpha = (float) (sum / (double) hw);
          for (gsize p = 0; p < hw; p++)
            map[p] += alpha * a[(gsize) k * hw + p];
        }
      for (gsize p = 0; p < hw; p++)
        map[p] = map[p] > 0.0f ? map[p] : 0.0f;
    }
  *h = mh;
  *w = mw;
  return maps;
}
