/* hl-train.h — the public training API of Hilum's engine: a DenseNet in training mode
 * (parameters, gradients, the activations of one mini-batch), the losses, the optimisers, a
 * learning-rate schedule, earlier-layer Grad-CAM through the backward pass, and writing models.
 *
 * One training step, as hilum-cli train does it:
 *
 *   HlTrainNet *net = hl_train_net_new (model, batch, error);       copies the weights
 *   HlOptim *opt = hl_optim_new (net, &optim_config);
 *   for each mini-batch (input (n, c, s, s) preprocessed with hl_model_preprocess, targets (n, L)):
 *     const float *logits = hl_train_net_forward (net, input, n, cancellable, error);
 *     loss = hl_loss_weighted_bce (logits, targets, n, L, w_pos, w_neg, dlogits);
 *     hl_train_net_zero_grad (net);
 *     hl_train_net_backward (net, dlogits, NULL);
 *     hl_optim_step (opt, hl_lr_schedule_at (&schedule, step));
 *   HlModel *trained = hl_train_net_get_model (net);                 evaluation-ready
 *   hl_model_save (trained, &info_with_thresholds, path, HL_SAVE_F32, error);
 *
 * Semantics follow PyTorch exactly (checked against torch autograd and torch.optim in
 * tests/test-train.c): BatchNorm in training mode normalises with the batch's biased variance and
 * updates running_mean / running_var with momentum 0.1 and the unbiased variance; the optimisers
 * are torch.optim.SGD, torch.optim.Adam (L2 weight decay added to the gradient) and
 * torch.optim.AdamW (decoupled weight decay), with weight decay on every parameter.
 *
 * Determinism: for a given input and seed every result is bitwise reproducible, whatever
 * hl_engine_get_threads() is (per-channel reductions run in a fixed order on one thread each;
 * matrix products are split by their shapes only, see hl_sgemm()).
 *
 * Threading: an HlTrainNet and an HlOptim are used by one thread at a time.
 */
#pragma once

#include "hl-engine.h"

G_BEGIN_DECLS

typedef struct _HlTrainNet HlTrainNet;

/* One trainable tensor: a convolution weight, a BatchNorm weight or bias, the classifier's
 * weight or bias (BatchNorm running statistics are buffers, not parameters). @data and @grad
 * (numel floats each) are lent by the net. */
typedef struct
{
  const char *name;  /* torchvision state_dict name, e.g. "features.conv0.weight" */
  float *data;
  float *grad;
  gsize numel;
} HlParam;

/* Creates a training network with a private copy of @model's tensors (parameters and running
 * statistics; @model itself is never modified) and activation memory for mini-batches of up to
 * @max_batch images. Every gradient starts at 0. Returns NULL with HL_ENGINE_ERROR_INPUT if the
 * model's input size is too small for its blocks, or @max_batch is too large to allocate. */
HlTrainNet *hl_train_net_new (HlModel *model, int max_batch, GError **error);

/* The stage of @model a freeze name stands for, bottom up: "features" (everything below the
 * classifier, norm5 included), "denseblockK" (K = 1..n_blocks: the stem and everything up to
 * that block's output), "transitionK" (K = 1..n_blocks - 1: up to that transition's output).
 * -1 for NULL or "" (nothing frozen), -2 for a name the network has not. */
int hl_model_freeze_stage (HlModel *model, const char *name);

/* hl_train_net_new() with the layers at and below the module @freeze (see
 * hl_model_freeze_stage; NULL or "": none) frozen, as Keras' trainable = False and PyTorch's
 * requires_grad_(False) + eval () on those modules: their tensors are not HlParams (no
 * gradient, no optimiser update, no weight decay), their BatchNorms normalise with their
 * running statistics, which stay unchanged, and the backward pass stops at them when no input
 * gradient is asked for. NULL with HL_ENGINE_ERROR_INPUT naming @freeze and the names the
 * network has, when it has no such module. */
HlTrainNet *hl_train_net_new_frozen (HlModel *model, int max_batch, const char *freeze,
                                     GError **error);
void hl_train_net_free (HlTrainNet *net);

/* The trainable parameters (all but the frozen ones) in state_dict order; @n_params receives
 * their number. Lent. */
const HlParam *hl_train_net_get_params (HlTrainNet *net, int *n_params);

/* Training-mode forward pass of @input (n, input_channels, input_size, input_size), already
 * preprocessed, 2 <= n <= max_batch (BatchNorm needs two samples): BatchNorm normalises with the
 * batch statistics and updates every running_mean / running_var. Keeps what the backward pass
 * needs (including a copy of @input). Returns the logits (n, n_labels), lent until the next call;
 * NULL with HL_ENGINE_ERROR_CANCELLED if @cancellable fired (checked between layers; the running
 * statistics may then be partly updated). */
const float *hl_train_net_forward (HlTrainNet *net, const float *input, int n,
                                   GCancellable *cancellable, GError **error);

/* Sets every parameter gradient to 0. */
void hl_train_net_zero_grad (HlTrainNet *net);

/* Backward pass of the last hl_train_net_forward(): with @dlogits (n, n_labels) = d loss / d
 * logits, ADDS d loss / d parameter to every HlParam.grad (call hl_train_net_zero_grad() first
 * for a fresh step). If @dinput is non-NULL it receives d loss / d input (n, input_channels,
 * input_size, input_size). */
void hl_train_net_backward (HlTrainNet *net, const float *dlogits, float *dinput);

/* The network as an evaluation-ready HlModel (current parameters and running statistics, the
 * inference BatchNorm folding refreshed), lent: valid while @net lives, and changed by later
 * training steps. Use it with hl_model_forward() for validation, or hl_model_save(). Metadata
 * (name, thresholds, ...) are those of the model the net was made from. */
HlModel *hl_train_net_get_model (HlTrainNet *net);

/* --- losses (hl-loss.c) ---------------------------------------------------------------------
 * logits, targets (n, n_labels); targets in [0, 1]. Computed stably from the logits in double:
 * -log p = softplus (-z), -log (1 - p) = softplus (z). @dlogits (n, n_labels), may be NULL,
 * receives d loss / d logits. */

/* PyTorch's F.binary_cross_entropy_with_logits (reduction='mean'): the mean over all
 * n * n_labels terms of -(y log p + (1 - y) log (1 - p)). */
float hl_loss_bce (const float *logits, const float *targets, int n, int n_labels,
                   float *dlogits);

/* The notebook's class-balanced loss: sum over labels l of the mean over the batch of
 * -(w_pos[l] y log p + w_neg[l] (1 - y) log (1 - p)). @w_pos, @w_neg (n_labels). */
float hl_loss_weighted_bce (const float *logits, const float *targets, int n, int n_labels,
                            const float *w_pos, const float *w_neg, float *dlogits);

/* The notebook's weights from a training set's labels @targets (n, n_labels) of 0/1:
 * w_pos[l] = fraction of negatives, w_neg[l] = fraction of positives of label l. */
void hl_loss_class_weights (const float *targets, int n, int n_labels, float *w_pos,
                            float *w_neg);

/* --- optimisers and learning rate (hl-optim.c) --------------------------------------------- */

typedef enum
{
  HL_OPTIM_SGD,   /* torch.optim.SGD: momentum, dampening, nesterov, L2 weight decay */
  HL_OPTIM_ADAM,  /* torch.optim.Adam: L2 weight decay added to the gradient */
  HL_OPTIM_ADAMW, /* torch.optim.AdamW: decoupled weight decay, p *= 1 - lr * weight_decay */
} HlOptimKind;

typedef struct
{
  HlOptimKind kind;
  float weight_decay;   /* >= 0 */
  float momentum;       /* SGD, >= 0 */
  float dampening;      /* SGD, >= 0 */
  gboolean nesterov;    /* SGD; needs momentum > 0 and dampening 0 */
  float beta1, beta2;   /* Adam(W), in [0, 1) */
  float eps;            /* Adam(W), > 0 (torch's default 1e-8) */
} HlOptimConfig;

typedef struct _HlOptim HlOptim;

/* An optimiser for every parameter of @net (which must outlive it); state starts at zero. */
HlOptim *hl_optim_new (HlTrainNet *net, const HlOptimConfig *config);

/* Steps every parameter below the classifier (all but "classifier.*") with the learning rate
 * times @scale (> 0; 1 until set), as a second torch.optim parameter group with lr x @scale:
 * SGD's step, Adam's step size and AdamW's decoupled decay all take the scaled rate. */
void hl_optim_set_backbone_lr_scale (HlOptim *opt, float scale);
void hl_optim_free (HlOptim *opt);

/* One step with learning rate @lr from the gradients in the net's HlParams. */
void hl_optim_step (HlOptim *opt, float lr);

/* Steps taken so far (Adam's bias correction; SGD's first momentum step copies the gradient). */
gint64 hl_optim_get_step (HlOptim *opt);

/* The optimiser's state for checkpoints: @n_floats receives its length (0 for plain SGD;
 * SGD with momentum: one buffer per parameter value; Adam(W): two), lent and writable. Restore a
 * checkpoint by writing the saved floats here and calling hl_optim_set_step(). */
float *hl_optim_get_state (HlOptim *opt, gsize *n_floats);
void hl_optim_set_step (HlOptim *opt, gint64 step);

typedef enum
{
  HL_LR_CONSTANT,
  HL_LR_COSINE, /* cosine from base_lr down to min_lr over total_steps (after the warm-up) */
  HL_LR_STEP,   /* base_lr * gamma ^ floor ((step - warmup_steps) / step_size) */
} HlLrKind;

typedef struct
{
  HlLrKind kind;
  float base_lr;
  int warmup_steps;  /* linear warm-up: step s < warmup_steps uses base_lr * (s + 1) / warmup */
  int total_steps;   /* COSINE: steps including the warm-up; later steps stay at min_lr */
  float min_lr;      /* COSINE */
  int step_size;     /* STEP, >= 1 */
  float gamma;       /* STEP */
} HlLrSchedule;

/* The learning rate of step @step (0-based). */
float hl_lr_schedule_at (const HlLrSchedule *schedule, gint64 step);

/* --- earlier-layer Grad-CAM (hl-train.c) --------------------------------------------------- */

/* Number of Grad-CAM target layers of @model: 2 * n_blocks + 1, in forward order:
 *   2b      the input of dense block b (b = 0: the stem's max-pool output "pool0"; b >= 1: the
 *           output of transition b, after its average pool)
 *   2b + 1  the output of dense block b (its whole concatenation, before the next transition, or
 *           before norm5 for the last block)
 *   2 n_blocks  the last feature map (after norm5 + ReLU), the one hl_forward_gradcam() uses.
 * For DenseNet-121 at 224: layer 5 is denseblock3's output (1024, 14, 14), twice the side of the
 * last map (1024, 7, 7, layer 8); layer 4 is transition2's output (256, 14, 14); layer 6 is
 * transition3's output (512, 7, 7). */
int hl_model_gradcam_n_layers (HlModel *model);

/* The torchvision module whose output @layer is ("pool0", "transition2", "denseblock3",
 * "features (after norm5 + ReLU)"); free with g_free. */
char *hl_model_gradcam_layer_name (HlModel *model, int layer);

/* The short name of @layer, for options and settings: hl_model_gradcam_layer_name() up to its
 * first space ("pool0", "denseblock3", ..., "features" for the last feature map); free with
 * g_free. */
char *hl_model_gradcam_layer_id (HlModel *model, int layer);

/* The layer whose short name (hl_model_gradcam_layer_id) is @id; -1 when there is none. */
int hl_model_gradcam_layer_find (HlModel *model, const char *id);

/* Grad-CAM of one image @input (input_channels, input_size, input_size), preprocessed, for every
 * label at target layer @layer, through the real backward pass of the evaluation-mode network
 * (one forward pass, then one backward pass per label down to the layer only):
 * map_l = ReLU (sum_k a_lk A_k), a_lk = mean over (i, j) of d logit_l / d A_k (i, j).
 * Returns the maps (n_labels, h, w), free with g_free; @h and @w receive the layer's size. NULL
 * with HL_ENGINE_ERROR_INPUT if the input size is too small for the network. Thread-safe on a
 * shared model. At layer n_blocks it equals hl_forward_gradcam(); upsample with
 * hl_gradcam_upsample(). */
float *hl_model_gradcam_layer (HlModel *model, const float *input, int layer, int *h, int *w,
                               GError **error);

/* --- writing models (hl-model-save.c) ------------------------------------------------------ */

typedef enum
{
  HL_SAVE_F32,
  HL_SAVE_F16, /* round to nearest even; values beyond the half range are refused */
} HlSaveDtype;

/* Writes @model as a Hilum model file (README "Model file format"): every tensor under its
 * torchvision name in @dtype, and __metadata__ from @info (NULL: the model's own), which must
 * describe the same architecture, input channels and label count as the model. thresholds and
 * val_auroc are written when set (NAN val_auroc entries become null). The file is written
 * atomically (a temporary file renamed over @path). FALSE with HL_ENGINE_ERROR_IO if it cannot
 * be written, HL_ENGINE_ERROR_INPUT if a value is not finite or does not fit F16. */
gboolean hl_model_save (HlModel *model, const HlModelInfo *info, const char *path,
                        HlSaveDtype dtype, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlTrainNet, hl_train_net_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlOptim, hl_optim_free)

G_END_DECLS
