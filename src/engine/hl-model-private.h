/* hl-model-private.h — the in-memory layout of a loaded DenseNet, shared by the loader
 * (hl-model.c) and the compute code (forward, Grad-CAM, training). Not installed, not for callers
 * outside src/engine and its tests. */
#pragma once

#include "hl-engine.h"

G_BEGIN_DECLS

/* A BatchNorm layer. Raw parameters point into the model's arena; scale/shift are derived at load:
 * scale = weight / sqrt (running_var + eps), shift = bias - running_mean * scale, so that inference
 * is y = x * scale + shift. All (c). */
typedef struct
{
  int c;
  float *weight;
  float *bias;
  float *running_mean;
  float *running_var;
  float *scale;
  float *shift;
} HlBatchNorm;

/* A bias-free convolution; weight (c_out, c_in, k_h, k_w). */
typedef struct
{
  int c_out, c_in, k_h, k_w;
  int stride, pad;
  float *weight;
} HlConv;

/* norm1 -> relu -> conv1 (1x1, bn_size * growth) -> norm2 -> relu -> conv2 (3x3, growth). */
typedef struct
{
  HlBatchNorm norm1;
  HlConv conv1;
  HlBatchNorm norm2;
  HlConv conv2;
} HlDenseLayer;

typedef struct
{
  int c_in;            /* channels entering the block */
  int n_layers;
  HlDenseLayer *layers; /* (n_layers) */
} HlDenseBlock;

/* norm -> relu -> conv (1x1, c_in / 2) -> avgpool 2x2 stride 2. */
typedef struct
{
  HlBatchNorm norm;
  HlConv conv;
} HlTransition;

/* One tensor of the file, converted to float32 in the arena. Shape as stored. */
typedef struct
{
  char *name;
  int n_dims;
  gint64 shape[4];
  gsize numel;
  float *data;
} HlTensor;

struct _HlModel
{
  gint ref_count;
  HlModelInfo info;

  float *arena;          /* every tensor as float32, each 64-byte aligned; owned */
  gsize arena_floats;
  float *bn_arena;       /* every HlBatchNorm's scale and shift, each 64-byte aligned; owned */
  GPtrArray *tensors;    /* HlTensor*, in file order (hl_model_new_random: architecture order) */
  GHashTable *by_name;   /* name -> HlTensor*, lent */

  HlConv conv0;          /* 7x7 stride 2 pad 3, c_in -> num_init_features */
  HlBatchNorm norm0;     /* followed by relu and maxpool 3x3 stride 2 pad 1 */
  HlDenseBlock blocks[HL_MAX_BLOCKS];        /* (arch.n_blocks) */
  HlTransition transitions[HL_MAX_BLOCKS];   /* (arch.n_blocks - 1) */
  HlBatchNorm norm5;     /* final BN, followed by relu */
  float *classifier_weight; /* (n_labels, n_features) */
  float *classifier_bias;   /* (n_labels) */
};

/* Labels a model may have (metadata "labels"). */
#define HL_MODEL_MAX_LABELS 1000

/* The most that a model's weights and one image's forward pass may need together, in bytes: a
 * file whose architecture needs more is refused before anything is allocated for it. By
 * hl_model_cost(), with 3 input channels and 1000 labels, DenseNet-161 at 1024 x 1024 needs 892
 * MiB, -121, -169 and -201 at 1024 need 555, 582 and 606 MiB (-121 at 224: 56 MiB), so every
 * published DenseNet loads at every input size the format allows, with room for a wider one.
 * 1.5 GiB is also under 2^31 floats: every buffer's element count fits in an int. */
#define HL_MODEL_MAX_BYTES ((gsize) 1536 * 1024 * 1024)

/* The most a training net (hl-train.c: activations of a batch, their gradients, the model's copy
 * and its gradient) may need: by hl-train.c's count DenseNet-121 at 224 in batches of 16
 * needs 650 MiB, at 512 in batches of 32 6.0 GiB. */
#define HL_TRAIN_MAX_BYTES ((gsize) 16 * 1024 * 1024 * 1024)

/* What a model of some architecture and input size costs, from the metadata alone. */
typedef struct
{
  gsize n_tensors;     /* tensors of the layout (num_batches_tracked buffers not counted) */
  gsize n_batchnorms;  /* BatchNorm layers, each of which may add a num_batches_tracked */
  gsize weight_floats; /* the arenas: every tensor and BatchNorm scale/shift, float32, aligned */
  gsize work_floats;   /* an upper bound, on any CPU, of what hl_model_analyze() allocates for
                        * one image: preprocessed input, hl_model_forward()'s workspace, the
                        * last feature map, logits, probabilities, every label's Grad-CAM map */
} HlModelCost;

/* Fills @cost for @info's architecture (arch, input_size, input_channels, n_labels, which must be
 * in the ranges the README's metadata table gives) without allocating anything sized by it. */
void hl_model_cost (const HlModelInfo *info, HlModelCost *cost);

/* Looks up a tensor by its torchvision name; NULL if absent. */
HlTensor *hl_model_get_tensor (HlModel *model, const char *name);

/* Re-derives every BatchNorm's scale and shift from its current weight, bias and running
 * statistics with the model's bn_eps: scale = weight / sqrt (running_var + eps), shift = bias -
 * running_mean * scale. Returns FALSE if any of them is not finite (huge weights over a tiny
 * variance). For the loader and for code that changes a model's BatchNorm tensors. */
gboolean hl_model_fold_bn (HlModel *model);

/* hl_model_new_from_file() that also loads a features-only file (metadata labels "[]" and no
 * classifier tensors, as tools/hilum-import writes ImageNet backbones): the model then has
 * n_labels 0 and NULL classifier_weight / classifier_bias, and is only a source of features
 * for hl_model_new_transfer(), never to be run (hl_model_forward needs a classifier). A file
 * with labels loads as by hl_model_new_from_file(). */
HlModel *hl_model_new_features_from_file (const char *path, GError **error);

/* Builds a model with the given architecture and deterministic pseudo-random weights (He-normal
 * convolutions, BN weight ~ U(0.5, 1.5), bias, mean ~ N(0, 0.1), var ~ U(0.5, 1.5), classifier
 * ~ N(0, 0.01)), through the same code that lays out a loaded file. For tests and benchmarks. */
HlModel *hl_model_new_random (const HlModelInfo *info, guint32 seed);

G_END_DECLS
