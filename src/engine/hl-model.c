/* hl-model.c — DenseNet model objects: loading and validating model files, laying the tensors out
 * into the HlModel structure the forward pass walks, and building seeded random models for tests
 * and benchmarks.
 *
 * One layout walk (model_bind) visits the architecture in torchvision's state_dict order and binds
 * every tensor it needs. It runs in three modes: LOOKUP finds the tensors of a loaded file by name
 * and checks their shapes; COUNT and CREATE size and then fill the arena of a random model. Both
 * kinds of model therefore go through the same layout code.
 */
#include "hl-kernels.h"
#include "hl-model-private.h"
#include "hl-rng.h"
#include "hl-safetensors.h"

#include <math.h>
#include <string.h>

G_DEFINE_QUARK (hl-engine-error-quark, hl_engine_error)

/* Tensors and BatchNorm vectors start on 64-byte boundaries: 16 floats. */
#define HL_ALIGN_FLOATS 16
#define HL_ALIGN_BYTES 64

static gsize
align_floats (gsize n)
{
  return (n + HL_ALIGN_FLOATS - 1) / HL_ALIGN_FLOATS * HL_ALIGN_FLOATS;
}

static void
tensor_free (gpointer p)
{
  HlTensor *t = p;

  g_free (t->name);
  g_free (t);
}

static void
info_clear (HlModelInfo *info)
{
  g_clear_pointer (&info->name, g_free);
  g_clear_pointer (&info->version, g_free);
  g_clear_pointer (&info->labels, g_strfreev);
  g_clear_pointer (&info->thresholds, g_free);
  g_clear_pointer (&info->val_auroc, g_free);
  g_clear_pointer (&info->op_thresholds, g_free);
  g_clear_pointer (&info->training_data, g_free);
  g_clear_pointer (&info->intended_use, g_free);
}

/* Channels of the last feature map: each block adds n_layers * growth channels, each transition
 * halves them (integer division, as torchvision). */
static int
arch_n_features (const HlDenseNetConfig *arch)
{
  int c = arch->num_init_features;

  for (int b = 0; b < arch->n_blocks; b++)
    {
      c += arch->block_config[b] * arch->growth_rate;
      if (b < arch->n_blocks - 1)
        c /= 2;
    }
  return c;
}

static HlModel *
model_alloc (void)
{
  HlModel *model = g_new0 (HlModel, 1);

  model->ref_count = 1;
  model->tensors = g_ptr_array_new_with_free_func (tensor_free);
  model->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  return model;
}

HlModel *
hl_model_ref (HlModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);

  g_atomic_int_inc (&model->ref_count);
  return model;
}

void
hl_model_unref (HlModel *model)
{
  if (model == NULL || !g_atomic_int_dec_and_test (&model->ref_count))
    return;

  for (int b = 0; b < HL_MAX_BLOCKS; b++)
    g_free (model->blocks[b].layers);
  g_hash_table_unref (model->by_name);
  g_ptr_array_unref (model->tensors);
  g_aligned_free (model->arena);
  g_aligned_free (model->bn_arena);
  info_clear (&model->info);
  g_free (model);
}

const HlModelInfo *
hl_model_get_info (HlModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);

  return &model->info;
}

gsize
hl_model_input_size (HlModel *model)
{
  g_return_val_if_fail (model != NULL, 0);

  return (gsize) model->info.input_channels * model->info.input_size * model->info.input_size;
}

HlTensor *
hl_model_get_tensor (HlModel *model, const char *name)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  return g_hash_table_lookup (model->by_name, name);
}

/* ---- the layout walk ---- */

typedef enum
{
  BIND_LOOKUP, /* find each tensor of a loaded file by name, check its shape */
  BIND_COUNT,  /* only add up the arena a random model needs */
  BIND_CREATE, /* create each tensor in the arena with seeded random values */
} BindMode;

/* What a tensor is, for random initialisation. */
typedef enum
{
  ROLE_CONV,
  ROLE_BN_WEIGHT,
  ROLE_BN_BIAS,
  ROLE_BN_MEAN,
  ROLE_BN_VAR,
  ROLE_FC_WEIGHT,
  ROLE_FC_BIAS,
} TensorRole;

typedef struct
{
  HlModel *model;
  BindMode mode;
  const char *origin;  /* LOOKUP: names the file in errors */
  GError *error;       /* LOOKUP: the first mismatch; later calls then do nothing */
  GHashTable *bound;   /* LOOKUP: names found so far (set, keys lent) */
  gsize n_floats;      /* COUNT: arena floats needed; CREATE: arena floats handed out */
  gsize n_bn_floats;   /* floats of all BatchNorm scale/shift pairs, aligned */
  gsize n_tensors;     /* tensors the walk visited */
  gsize n_bns;         /* BatchNorms the walk visited */
  HlRng rng;           /* CREATE */
} Binder;

static char *
shape_to_string (int n_dims, const gint64 *shape)
{
  GString *s = g_string_new ("[");

  for (int i = 0; i < n_dims; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static void
fill_random (HlRng *rng, TensorRole role, const HlTensor *t)
{
  double fan_in = t->n_dims == 4 ? (double) t->shape[1] * t->shape[2] * t->shape[3] : 1.0;

  for (gsize i = 0; i < t->numel; i++)
    {
      double v = 0.0;

      switch (role)
        {
        case ROLE_CONV:
          v = hl_rng_normal (rng, sqrt (2.0 / fan_in));
          break;
        case ROLE_BN_WEIGHT:
        case ROLE_BN_VAR:
          v = 0.5 + hl_rng_uniform (rng);
          break;
        case ROLE_BN_BIAS:
        case ROLE_BN_MEAN:
          v = hl_rng_normal (rng, 0.1);
          break;
        case ROLE_FC_WEIGHT:
        case ROLE_FC_BIAS:
          v = hl_rng_normal (rng, 0.01);
          break;
        }
      t->data[i] = (float) v;
    }
}

/* Binds tensor @name of shape (@n_dims: @d0, @d1, @d2, @d3) and returns its data, or NULL in
 * COUNT mode and after a LOOKUP failure. */
static float *
bind_tensor (Binder *b, const char *name, TensorRole role, int n_dims, gint64 d0, gint64 d1,
             gint64 d2, gint64 d3)
{
  const gint64 shape[4] = { d0, d1, d2, d3 };
  gsize numel = 1;
  HlTensor *t;

  for (int i = 0; i < n_dims; i++)
    numel *= (gsize) shape[i];
  b->n_tensors++;

  switch (b->mode)
    {
    case BIND_COUNT:
      b->n_floats += align_floats (numel);
      return NULL;

    case BIND_CREATE:
      t = g_new0 (HlTensor, 1);
      t->name = g_strdup (name);
      t->n_dims = n_dims;
      memcpy (t->shape, shape, sizeof shape);
      t->numel = numel;
      t->data = b->model->arena + b->n_floats;
      b->n_floats += align_floats (numel);
      g_assert (b->n_floats <= b->model->arena_floats);
      fill_random (&b->rng, role, t);
      g_ptr_array_add (b->model->tensors, t);
      g_hash_table_insert (b->model->by_name, t->name, t);
      return t->data;

    case BIND_LOOKUP:
      if (b->error != NULL)
        return NULL;
      t = g_hash_table_lookup (b->model->by_name, name);
      if (t == NULL)
        {
          g_set_error (&b->error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_SHAPE,
                       "%s: tensor %s is missing", b->origin, name);
          return NULL;
        }
      if (t->n_dims != n_dims || memcmp (t->shape, shape, n_dims * sizeof (gint64)) != 0)
        {
          g_autofree char *has = shape_to_string (t->n_dims, t->shape);
          g_autofree char *needs = shape_to_string (n_dims, shape);

          g_set_error (&b->error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_SHAPE,
                       "%s: tensor %s has shape %s but the architecture needs %s", b->origin,
                       name, has, needs);
          return NULL;
        }
      g_hash_table_add (b->bound, t->name);
      return t->data;
    }
  g_return_val_if_reached (NULL);
}

static void
bind_bn (Binder *b, HlBatchNorm *bn, const char *prefix, int c)
{
  char name[256];

  bn->c = c;
  g_snprintf (name, sizeof name, "%s.weight", prefix);
  bn->weight = bind_tensor (b, name, ROLE_BN_WEIGHT, 1, c, 0, 0, 0);
  g_snprintf (name, sizeof name, "%s.bias", prefix);
  bn->bias = bind_tensor (b, name, ROLE_BN_BIAS, 1, c, 0, 0, 0);
  g_snprintf (name, sizeof name, "%s.running_mean", prefix);
  bn->running_mean = bind_tensor (b, name, ROLE_BN_MEAN, 1, c, 0, 0, 0);
  g_snprintf (name, sizeof name, "%s.running_var", prefix);
  bn->running_var = bind_tensor (b, name, ROLE_BN_VAR, 1, c, 0, 0, 0);
  bn->scale = NULL;
  bn->shift = NULL;
  b->n_bn_floats += 2 * align_floats (c);
  b->n_bns++;
}

static void
bind_conv (Binder *b, HlConv *conv, const char *name, int c_out, int c_in, int k, int stride,
           int pad)
{
  conv->c_out = c_out;
  conv->c_in = c_in;
  conv->k_h = k;
  conv->k_w = k;
  conv->stride = stride;
  conv->pad = pad;
  conv->weight = bind_tensor (b, name, ROLE_CONV, 4, c_out, c_in, k, k);
}

/* Walks the architecture of model->info in state_dict order, filling every layer of @model. */
static void
model_bind (HlModel *model, Binder *b)
{
  const HlModelInfo *info = &model->info;
  const HlDenseNetConfig *arch = &info->arch;
  const int growth = arch->growth_rate;
  const int c_mid = arch->bn_size * growth;
  char prefix[256], name[256];
  int c = arch->num_init_features;

  b->model = model;
  b->n_bn_floats = 0;
  b->n_tensors = 0;
  b->n_bns = 0;
  bind_conv (b, &model->conv0, "features.conv0.weight", c, info->input_channels, 7, 2, 3);
  bind_bn (b, &model->norm0, "features.norm0", c);

  for (int bi = 0; bi < arch->n_blocks; bi++)
    {
      HlDenseBlock *block = &model->blocks[bi];

      block->c_in = c;
      block->n_layers = arch->block_config[bi];
      g_free (block->layers);
      block->layers = g_new0 (HlDenseLayer, block->n_layers);
      for (int l = 0; l < block->n_layers; l++)
        {
          HlDenseLayer *layer = &block->layers[l];
          int c_in = c + l * growth;

          g_snprintf (prefix, sizeof prefix, "features.denseblock%d.denselayer%d", bi + 1, l + 1);
          g_snprintf (name, sizeof name, "%s.norm1", prefix);
          bind_bn (b, &layer->norm1, name, c_in);
          g_snprintf (name, sizeof name, "%s.conv1.weight", prefix);
          bind_conv (b, &layer->conv1, name, c_mid, c_in, 1, 1, 0);
          g_snprintf (name, sizeof name, "%s.norm2", prefix);
          bind_bn (b, &layer->norm2, name, c_mid);
          g_snprintf (name, sizeof name, "%s.conv2.weight", prefix);
          bind_conv (b, &layer->conv2, name, growth, c_mid, 3, 1, 1);
        }
      c += block->n_layers * growth;

      if (bi < arch->n_blocks - 1)
        {
          HlTransition *tr = &model->transitions[bi];

          g_snprintf (prefix, sizeof prefix, "features.transition%d.norm", bi + 1);
          bind_bn (b, &tr->norm, prefix, c);
          g_snprintf (name, sizeof name, "features.transition%d.conv.weight", bi + 1);
          bind_conv (b, &tr->conv, name, c / 2, c, 1, 1, 0);
          c /= 2;
        }
    }

  bind_bn (b, &model->norm5, "features.norm5", c);
  /* a features-only model (no labels) has no classifier */
  model->classifier_weight = NULL;
  model->classifier_bias = NULL;
  if (info->n_labels == 0)
    return;
  model->classifier_weight = bind_tensor (b, "classifier.weight", ROLE_FC_WEIGHT, 2,
                                          info->n_labels, c, 0, 0);
  model->classifier_bias = bind_tensor (b, "classifier.bias", ROLE_FC_BIAS, 1, info->n_labels,
                                        0, 0, 0);
}

/* Calls @func (bn, data) on every BatchNorm of @model in state_dict order. */
static void
model_foreach_bn (HlModel *model, void (*func) (HlBatchNorm *bn, gpointer data), gpointer data)
{
  func (&model->norm0, data);
  for (int bi = 0; bi < model->info.arch.n_blocks; bi++)
    {
      for (int l = 0; l < model->blocks[bi].n_layers; l++)
        {
          func (&model->blocks[bi].layers[l].norm1, data);
          func (&model->blocks[bi].layers[l].norm2, data);
        }
      if (bi < model->info.arch.n_blocks - 1)
        func (&model->transitions[bi].norm, data);
    }
  func (&model->norm5, data);
}

/* Gives @bn its scale and shift slots at *@cursor (a float ** into bn_arena) and advances it. */
static void
place_bn (HlBatchNorm *bn, gpointer cursor)
{
  float **next = cursor;

  bn->scale = *next;
  bn->shift = *next + align_floats (bn->c);
  *next += 2 * align_floats (bn->c);
}

typedef struct
{
  float eps;
  gboolean finite;
} FoldJob;

static void
fold_bn (HlBatchNorm *bn, gpointer data)
{
  FoldJob *job = data;

  for (int i = 0; i < bn->c; i++)
    {
      bn->scale[i] = bn->weight[i] / sqrtf (bn->running_var[i] + job->eps);
      bn->shift[i] = bn->bias[i] - bn->running_mean[i] * bn->scale[i];
      job->finite &= isfinite (bn->scale[i]) && isfinite (bn->shift[i]);
    }
}

gboolean
hl_model_fold_bn (HlModel *model)
{
  FoldJob job = { model->info.arch.bn_eps, TRUE };

  g_return_val_if_fail (model != NULL && model->bn_arena != NULL, FALSE);

  model_foreach_bn (model, fold_bn, &job);
  return job.finite;
}

/* Allocates model->bn_arena (@n_bn_floats, as counted by model_bind), places every BatchNorm's
 * scale and shift in it and derives them (hl_model_fold_bn). Returns FALSE if any of them is not
 * finite. */
static gboolean
model_derive_bn (HlModel *model, gsize n_bn_floats)
{
  float *cursor;

  model->bn_arena = g_aligned_alloc (MAX (n_bn_floats, 1), sizeof (float), HL_ALIGN_BYTES);
  cursor = model->bn_arena;
  model_foreach_bn (model, place_bn, &cursor);
  g_assert (cursor == model->bn_arena + n_bn_floats);
  return hl_model_fold_bn (model);
}

/* ---- random models ---- */

HlModel *
hl_model_new_random (const HlModelInfo *info, guint32 seed)
{
  const HlDenseNetConfig *arch;
  HlModel *model;
  HlModelInfo *mi;
  Binder b = { 0 };

  g_return_val_if_fail (info != NULL, NULL);
  arch = &info->arch;
  g_return_val_if_fail (arch->growth_rate >= 1 && arch->growth_rate <= 256, NULL);
  g_return_val_if_fail (arch->n_blocks >= 1 && arch->n_blocks <= HL_MAX_BLOCKS, NULL);
  for (int i = 0; i < arch->n_blocks; i++)
    g_return_val_if_fail (arch->block_config[i] >= 1 && arch->block_config[i] <= 128, NULL);
  g_return_val_if_fail (arch->num_init_features >= 1 && arch->num_init_features <= 1024, NULL);
  g_return_val_if_fail (arch->bn_size >= 1 && arch->bn_size <= 16, NULL);
  g_return_val_if_fail (arch->bn_eps > 0.0f && arch->bn_eps <= 0.1f, NULL);
  g_return_val_if_fail (info->input_size >= 32 && info->input_size <= 1024, NULL);
  g_return_val_if_fail (info->input_channels == 1 || info->input_channels == 3, NULL);
  g_return_val_if_fail (info->n_labels >= 1 && info->n_labels <= 1000, NULL);
  g_return_val_if_fail (info->labels == NULL
                        || g_strv_length (info->labels) == (guint) info->n_labels, NULL);

  model = model_alloc ();
  mi = &model->info;
  *mi = *info;
  mi->name = g_strdup (info->name != NULL ? info->name : "random");
  mi->version = g_strdup (info->version != NULL ? info->version : "0");
  if (info->labels != NULL)
    mi->labels = g_strdupv (info->labels);
  else
    {
      mi->labels = g_new0 (char *, info->n_labels + 1);
      for (int l = 0; l < info->n_labels; l++)
        mi->labels[l] = g_strdup_printf ("label-%d", l);
    }
  mi->thresholds = g_new (float, info->n_labels);
  mi->val_auroc = g_new (float, info->n_labels);
  for (int l = 0; l < info->n_labels; l++)
    {
      mi->thresholds[l] = info->thresholds != NULL ? info->thresholds[l] : 0.5f;
      mi->val_auroc[l] = info->val_auroc != NULL ? info->val_auroc[l] : NAN;
    }
  mi->op_thresholds = info->calibration == HL_OUTPUT_OP_NORM && info->op_thresholds != NULL
                        ? g_memdup2 (info->op_thresholds, info->n_labels * sizeof (float))
                        : NULL;
  if (mi->op_thresholds == NULL)
    mi->calibration = HL_OUTPUT_SIGMOID;
  mi->training_data = g_strdup (info->training_data != NULL ? info->training_data : "");
  mi->intended_use = g_strdup (info->intended_use != NULL ? info->intended_use : "");
  mi->n_features = arch_n_features (arch);

  b.mode = BIND_COUNT;
  model_bind (model, &b);
  model->arena_floats = b.n_floats;
  model->arena = g_aligned_alloc (MAX (b.n_floats, 1), sizeof (float), HL_ALIGN_BYTES);

  b.mode = BIND_CREATE;
  b.n_floats = 0;
  hl_rng_init (&b.rng, seed);
  model_bind (model, &b);
  /* random BN weights and variances lie in [0.5, 1.5): every scale and shift is finite */
  model_derive_bn (model, b.n_bn_floats);
  return model;
}

/* ---- what an architecture costs ---- */

/* hl-kernels.c reads up to 64 floats (TILE_SLACK) past the padded input of its direct 3x3
 * kernel and aligns it to 16 floats: this covers both. */
#define WORK_SLACK_FLOATS 128

/* Floats of a 3x3 / stride 1 / pad 1 convolution's workspace on (@c_in, @h, @w): the larger of
 * im2col's (c_in * 9, h * w) and the direct kernel's padded input (c_in, h + 2, w + 2) with its
 * wide output (c_out, h, w + 2), whichever the CPU uses. */
static gsize
conv3x3_work_bound (const HlConv *conv, gsize h, gsize w)
{
  gsize im2col = (gsize) conv->c_in * 9 * h * w;
  gsize direct = (gsize) conv->c_in * (h + 2) * (w + 2) + WORK_SLACK_FLOATS
                 + (gsize) conv->c_out * h * (w + 2);

  return MAX (im2col, direct);
}

/* An upper bound of the floats hl_model_analyze() allocates for one image of @model (laid out by
 * model_bind, in any mode), following hl-densenet.c's plan: two alternating block buffers (the
 * stem's output in the second), the conv1 input / pooled transition input, conv1's output, the
 * im2col or padded input of conv0 and conv2, then the results. */
static gsize
forward_work_bound (const HlModel *model)
{
  const HlModelInfo *info = &model->info;
  gsize h1 = (gsize) MAX (hl_out_size (info->input_size, 7, 2, 3), 0);
  gsize h = (gsize) MAX (hl_out_size ((int) h1, 3, 2, 1), 0);
  gsize cat[2] = { 0, (gsize) model->conv0.c_out * h1 * h1 };
  gsize col = (gsize) info->input_channels * 49 * h1 * h1;
  gsize tmp = 0, mid = 0, c = 0, hw = 0;

  for (int bi = 0; bi < info->arch.n_blocks; bi++)
    {
      const HlDenseBlock *block = &model->blocks[bi];

      hw = h * h;
      for (int l = 0; l < block->n_layers; l++)
        {
          const HlDenseLayer *layer = &block->layers[l];

          tmp = MAX (tmp, (gsize) layer->conv1.c_in * hw);
          mid = MAX (mid, (gsize) layer->conv1.c_out * hw);
          col = MAX (col, conv3x3_work_bound (&layer->conv2, h, h));
        }
      c = (gsize) block->c_in + (gsize) block->n_layers * info->arch.growth_rate;
      cat[bi % 2] = MAX (cat[bi % 2], c * hw);
      if (bi < info->arch.n_blocks - 1)
        {
          h /= 2;
          tmp = MAX (tmp, c * h * h);
        }
    }
  /* + input, pooled features, the last feature map, logits and probabilities, Grad-CAM maps,
   * and the alignment of each of the workspace's six parts */
  return cat[0] + cat[1] + tmp + mid + col + c + 6 * HL_ALIGN_FLOATS
         + (gsize) info->input_channels * info->input_size * info->input_size + c * hw
         + 2 * (gsize) info->n_labels + (gsize) info->n_labels * hw;
}

void
hl_model_cost (const HlModelInfo *info, HlModelCost *cost)
{
  g_autoptr (HlModel) scratch = model_alloc ();
  Binder b = { 0 };

  g_return_if_fail (info != NULL && cost != NULL);
  g_return_if_fail (info->arch.n_blocks >= 1 && info->arch.n_blocks <= HL_MAX_BLOCKS);

  scratch->info.arch = info->arch;
  scratch->info.input_size = info->input_size;
  scratch->info.input_channels = info->input_channels;
  scratch->info.n_labels = info->n_labels;
  b.mode = BIND_COUNT;
  model_bind (scratch, &b);
  cost->n_tensors = b.n_tensors;
  cost->n_batchnorms = b.n_bns;
  cost->weight_floats = b.n_floats + b.n_bn_floats;
  cost->work_floats = forward_work_bound (scratch);
}

/* ---- metadata ---- */

typedef struct
{
  JsonObject *meta;
  const char *origin;
  GError **error;
} MetaReader;

#define META_ERROR(r, ...) \
  g_set_error ((r)->error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_METADATA, __VA_ARGS__)

/* The string value of @key (all values are strings, hl_safetensors_parse checked), or NULL when
 * absent; an absent @required key sets the error. */
static const char *
meta_string (MetaReader *r, const char *key, gboolean required)
{
  const char *s = json_object_has_member (r->meta, key)
                  ? json_object_get_string_member (r->meta, key) : NULL;

  if (s == NULL && required)
    META_ERROR (r, "%s: metadata %s is missing", r->origin, key);
  return s;
}

static gboolean
meta_int (MetaReader *r, const char *key, int min, int max, int *out)
{
  const char *s = meta_string (r, key, TRUE);
  gint64 v;

  if (s == NULL)
    return FALSE;
  if (!g_ascii_string_to_signed (s, 10, min, max, &v, NULL))
    {
      META_ERROR (r, "%s: metadata %s is \"%.40s\", not an integer in %d..%d", r->origin, key, s,
                  min, max);
      return FALSE;
    }
  *out = (int) v;
  return TRUE;
}

/* @key must be one of the NULL-terminated @choices; stores its index in @out. */
static gboolean
meta_choice (MetaReader *r, const char *key, const char *const *choices, int *out)
{
  const char *s = meta_string (r, key, TRUE);
  g_autofree char *list = NULL;

  if (s == NULL)
    return FALSE;
  for (int i = 0; choices[i] != NULL; i++)
    if (strcmp (s, choices[i]) == 0)
      {
        *out = i;
        return TRUE;
      }
  list = g_strjoinv (", ", (char **) choices);
  META_ERROR (r, "%s: metadata %s is \"%.40s\", not one of %s", r->origin, key, s, list);
  return FALSE;
}

static gboolean
meta_block_config (MetaReader *r, HlDenseNetConfig *arch)
{
  const char *s = meta_string (r, "block_config", TRUE);
  g_auto (GStrv) parts = NULL;
  guint n;

  if (s == NULL)
    return FALSE;
  parts = g_strsplit (s, ",", -1);
  n = g_strv_length (parts);
  if (n < 1 || n > HL_MAX_BLOCKS)
    goto bad;
  for (guint i = 0; i < n; i++)
    {
      gint64 v;

      if (!g_ascii_string_to_signed (g_strstrip (parts[i]), 10, 1, 128, &v, NULL))
        goto bad;
      arch->block_config[i] = (int) v;
    }
  arch->n_blocks = (int) n;
  return TRUE;

bad:
  META_ERROR (r, "%s: metadata block_config is \"%.40s\", not 1..%d comma-separated layer counts "
              "in 1..128", r->origin, s, HL_MAX_BLOCKS);
  return FALSE;
}

static gboolean
meta_bn_eps (MetaReader *r, float *out)
{
  const char *s = meta_string (r, "bn_eps", TRUE);
  char *end;
  double v;

  if (s == NULL)
    return FALSE;
  v = g_ascii_strtod (s, &end);
  if (end == s || *end != '\0' || !(v > 0.0 && v <= 0.1) || (float) v == 0.0f)
    {
      META_ERROR (r, "%s: metadata bn_eps is \"%.40s\", not a number in (0, 0.1]", r->origin, s);
      return FALSE;
    }
  *out = (float) v;
  return TRUE;
}

/* Parses @key's JSON text, an array of about @n elements, into an array node; NULL with the
 * error set if it is not an array. Text of more than 2 n + 16 values is refused unparsed (the
 * caller's check of the length then names the right length for any shorter array). */
static JsonNode *
meta_json_array (MetaReader *r, const char *key, gsize n)
{
  const char *s = meta_string (r, key, FALSE);
  g_autofree char *problem = NULL;
  JsonNode *node;

  g_assert (s != NULL);
  node = hl_json_parse_bounded (s, strlen (s), 2 * n + 16, &problem);
  if (node == NULL)
    {
      META_ERROR (r, "%s: metadata %s %s", r->origin, key, problem);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      META_ERROR (r, "%s: metadata %s is not a JSON array", r->origin, key);
      json_node_unref (node);
      return NULL;
    }
  return node;
}

static gboolean
meta_labels (MetaReader *r, HlModelInfo *info)
{
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (GHashTable) seen = NULL;
  JsonArray *array;
  guint n;

  if (meta_string (r, "labels", TRUE) == NULL
      || (node = meta_json_array (r, "labels", HL_MODEL_MAX_LABELS)) == NULL)
    return FALSE;
  array = json_node_get_array (node);
  n = json_array_get_length (array);
  if (n > HL_MODEL_MAX_LABELS)
    {
      META_ERROR (r, "%s: metadata labels has %u names, not 1..%d", r->origin, n,
                  HL_MODEL_MAX_LABELS);
      return FALSE;
    }
  info->labels = g_new0 (char *, n + 1);
  seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (array, i);
      const char *label;

      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING
          || *(label = json_node_get_string (e)) == '\0')
        {
          META_ERROR (r, "%s: metadata labels[%u] is not a non-empty string", r->origin, i);
          return FALSE;
        }
      if (!g_hash_table_add (seen, (gpointer) label))
        {
          META_ERROR (r, "%s: metadata labels names \"%s\" twice", r->origin, label);
          return FALSE;
        }
      info->labels[i] = g_strdup (label);
    }
  info->n_labels = (int) n;
  return TRUE;
}

typedef enum
{
  RANGE_FINITE,      /* any finite number */
  RANGE_POSITIVE,    /* > 0 */
  RANGE_OPEN_UNIT,   /* (0, 1) */
  RANGE_CLOSED_UNIT, /* [0, 1] */
} NumberRange;

static const char *const range_text[] = {
  [RANGE_FINITE] = "finite numbers",
  [RANGE_POSITIVE] = "numbers > 0",
  [RANGE_OPEN_UNIT] = "numbers in (0, 1)",
  [RANGE_CLOSED_UNIT] = "numbers in [0, 1]",
};

static gboolean
in_range (double v, NumberRange range)
{
  switch (range)
    {
    case RANGE_FINITE:
      return isfinite (v);
    case RANGE_POSITIVE:
      return isfinite (v) && v > 0.0;
    case RANGE_OPEN_UNIT:
      return v > 0.0 && v < 1.0;
    case RANGE_CLOSED_UNIT:
      return v >= 0.0 && v <= 1.0;
    }
  g_return_val_if_reached (FALSE);
}

/* Reads @key, a JSON array of exactly @n numbers in @range, into @out (n); with @allow_null, a
 * null element becomes NAN. */
static gboolean
meta_numbers (MetaReader *r, const char *key, int n, NumberRange range, gboolean allow_null,
              float *out)
{
  g_autoptr (JsonNode) node = meta_json_array (r, key, n);
  JsonArray *array;

  if (node == NULL)
    return FALSE;
  array = json_node_get_array (node);
  if (json_array_get_length (array) != (guint) n)
    goto bad;
  for (int i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (array, i);
      GType type = JSON_NODE_HOLDS_VALUE (e) ? json_node_get_value_type (e) : G_TYPE_INVALID;

      if (allow_null && JSON_NODE_HOLDS_NULL (e))
        out[i] = NAN;
      else if ((type == G_TYPE_INT64 || type == G_TYPE_DOUBLE)
               && in_range (json_node_get_double (e), range))
        out[i] = (float) json_node_get_double (e);
      else
        goto bad;
    }
  return TRUE;

bad:
  META_ERROR (r, "%s: metadata %s is not a JSON array of %d %s%s", r->origin, key, n,
              range_text[range], allow_null ? " or null" : "");
  return FALSE;
}

static char *
meta_text (MetaReader *r, const char *key)
{
  const char *s = meta_string (r, key, FALSE);

  return g_strdup (s != NULL ? s : "");
}

/* The metadata names of HlResizeFilter, HlNormMode, HlCrop and HlOutputCalibration, in enum
 * order: read here, written by hl_model_save. */
static const char *const resize_names[] = { "bilinear", "bilinear-antialias", "pil-bilinear",
                                            "nearest", "skimage", NULL };
static const char *const mode_names[] = { "channel", "image", "none", NULL };
static const char *const crop_names[] = { "none", "center", NULL };
static const char *const calibration_names[] = { "sigmoid", "op-norm", NULL };
static const char *const range_names[] = { "[0, 1]", "[0, 255]", "[-1024, 1024]", NULL };

const char *
hl_preprocess_resize_name (HlResizeFilter filter)
{
  g_return_val_if_fail ((guint) filter < G_N_ELEMENTS (resize_names) - 1, NULL);
  return resize_names[filter];
}

const char *
hl_preprocess_mode_name (HlNormMode mode)
{
  g_return_val_if_fail ((guint) mode < G_N_ELEMENTS (mode_names) - 1, NULL);
  return mode_names[mode];
}

const char *
hl_preprocess_crop_name (HlCrop crop)
{
  g_return_val_if_fail ((guint) crop < G_N_ELEMENTS (crop_names) - 1, NULL);
  return crop_names[crop];
}

const char *
hl_preprocess_range_name (HlValueRange range)
{
  g_return_val_if_fail ((guint) range < G_N_ELEMENTS (range_names) - 1, NULL);
  return range_names[range];
}

const char *
hl_output_calibration_name (HlOutputCalibration calibration)
{
  g_return_val_if_fail ((guint) calibration < G_N_ELEMENTS (calibration_names) - 1, NULL);
  return calibration_names[calibration];
}

/* The optional preprocessing keys of imported models: preprocess_quantize ("8"),
 * preprocess_crop ("none", "center") and preprocess_range ([0, 1], [0, 255] or [-1024, 1024]);
 * "pil-bilinear" works on 8-bit values and so needs preprocess_quantize. */
static gboolean
meta_preprocess_extra (MetaReader *r, HlModelInfo *info)
{
  static const char *const quantize_choices[] = { "8", NULL };
  static const float ranges[][2] = { [HL_RANGE_UNIT] = { 0, 1 }, [HL_RANGE_BYTE] = { 0, 255 },
                                     [HL_RANGE_XRV] = { -1024, 1024 } };
  HlPreprocess *pp = &info->preprocess;
  int choice;

  pp->quantize8 = FALSE;
  pp->crop = HL_CROP_NONE;
  pp->range = HL_RANGE_UNIT;
  if (meta_string (r, "preprocess_quantize", FALSE) != NULL)
    {
      if (!meta_choice (r, "preprocess_quantize", quantize_choices, &choice))
        return FALSE;
      pp->quantize8 = TRUE;
    }
  if (meta_string (r, "preprocess_crop", FALSE) != NULL)
    {
      if (!meta_choice (r, "preprocess_crop", crop_names, &choice))
        return FALSE;
      pp->crop = (HlCrop) choice;
    }
  if (meta_string (r, "preprocess_range", FALSE) != NULL)
    {
      float pair[2];
      gboolean known = FALSE;

      if (!meta_numbers (r, "preprocess_range", 2, RANGE_FINITE, FALSE, pair))
        return FALSE;
      for (guint i = 0; i < G_N_ELEMENTS (ranges); i++)
        if (pair[0] == ranges[i][0] && pair[1] == ranges[i][1])
          {
            pp->range = (HlValueRange) i;
            known = TRUE;
          }
      if (!known)
        {
          META_ERROR (r, "%s: metadata preprocess_range is [%g, %g], not one of [0, 1], "
                      "[0, 255], [-1024, 1024]", r->origin, pair[0], pair[1]);
          return FALSE;
        }
    }
  if (pp->resize == HL_RESIZE_PIL_BILINEAR && !pp->quantize8)
    {
      META_ERROR (r, "%s: metadata preprocess_resize pil-bilinear works on 8-bit values and "
                  "needs preprocess_quantize \"8\"", r->origin);
      return FALSE;
    }
  return TRUE;
}

/* output_calibration ("sigmoid", the default, or "op-norm" with op_thresholds: one operating
 * point in (0, 1) per label). */
static gboolean
meta_output_calibration (MetaReader *r, HlModelInfo *info)
{
  int choice = 0;

  info->calibration = HL_OUTPUT_SIGMOID;
  info->op_thresholds = NULL;
  if (meta_string (r, "output_calibration", FALSE) != NULL
      && !meta_choice (r, "output_calibration", calibration_names, &choice))
    return FALSE;
  if (choice == 0)
    {
      if (meta_string (r, "op_thresholds", FALSE) != NULL)
        {
          META_ERROR (r, "%s: metadata op_thresholds is given but output_calibration is not "
                      "op-norm", r->origin);
          return FALSE;
        }
      return TRUE;
    }
  info->calibration = HL_OUTPUT_OP_NORM;
  info->op_thresholds = g_new (float, info->n_labels);
  return meta_string (r, "op_thresholds", TRUE) != NULL
         && meta_numbers (r, "op_thresholds", info->n_labels, RANGE_OPEN_UNIT, FALSE,
                          info->op_thresholds);
}

/* Fills @info from @meta as the README table "Model file format" says; labels "[]" (a
 * features-only model) only with @features_only_ok. */
static gboolean
parse_model_metadata (JsonObject *meta, const char *origin, gboolean features_only_ok,
                      HlModelInfo *info, GError **error)
{
  static const char *const channel_choices[] = { "1", "3", NULL };
  MetaReader reader = { meta, origin, error };
  MetaReader *r = &reader;
  const char *s;
  int choice;

  if (meta == NULL)
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_METADATA,
                   "%s: __metadata__ is missing", origin);
      return FALSE;
    }

  if ((s = meta_string (r, "format", TRUE)) == NULL)
    return FALSE;
  if (strcmp (s, "hilum-densenet/1") != 0)
    {
      META_ERROR (r, "%s: metadata format is \"%.40s\", not hilum-densenet/1", origin, s);
      return FALSE;
    }
  for (int i = 0; i < 2; i++)
    {
      const char *key = i == 0 ? "name" : "version";

      if ((s = meta_string (r, key, TRUE)) == NULL)
        return FALSE;
      if (*s == '\0')
        {
          META_ERROR (r, "%s: metadata %s is empty", origin, key);
          return FALSE;
        }
      if (i == 0)
        info->name = g_strdup (s);
      else
        info->version = g_strdup (s);
    }

  if (!meta_int (r, "growth_rate", 1, 256, &info->arch.growth_rate)
      || !meta_block_config (r, &info->arch)
      || !meta_int (r, "num_init_features", 1, 1024, &info->arch.num_init_features)
      || !meta_int (r, "bn_size", 1, 16, &info->arch.bn_size)
      || !meta_bn_eps (r, &info->arch.bn_eps)
      || !meta_int (r, "input_size", 32, 1024, &info->input_size)
      || !meta_choice (r, "input_channels", channel_choices, &choice))
    return FALSE;
  info->input_channels = choice == 0 ? 1 : 3;
  info->n_features = arch_n_features (&info->arch);
  if (!meta_labels (r, info))
    return FALSE;
  if (info->n_labels == 0 && !features_only_ok)
    {
      META_ERROR (r, "%s: metadata labels has 0 names, not 1..%d (a features-only model: train "
                  "it with --init first: hilum-cli train --init MODEL)", origin,
                  HL_MODEL_MAX_LABELS);
      return FALSE;
    }

  if (!meta_choice (r, "preprocess_resize", resize_names, &choice))
    return FALSE;
  info->preprocess.resize = (HlResizeFilter) choice;
  if (!meta_choice (r, "preprocess_mode", mode_names, &choice))
    return FALSE;
  info->preprocess.mode = (HlNormMode) choice;
  if (!meta_preprocess_extra (r, info))
    return FALSE;
  /* channel mode needs the constants; image mode ignores them but still refuses bad ones */
  for (int c = 0; c < 3; c++)
    {
      info->preprocess.mean[c] = 0.0f;
      info->preprocess.std[c] = 1.0f;
    }
  if (info->preprocess.mode == HL_NORM_CHANNEL
      && (meta_string (r, "preprocess_mean", TRUE) == NULL
          || meta_string (r, "preprocess_std", TRUE) == NULL))
    return FALSE;
  if ((meta_string (r, "preprocess_mean", FALSE) != NULL
       && !meta_numbers (r, "preprocess_mean", info->input_channels, RANGE_FINITE, FALSE,
                         info->preprocess.mean))
      || (meta_string (r, "preprocess_std", FALSE) != NULL
          && !meta_numbers (r, "preprocess_std", info->input_channels, RANGE_POSITIVE, FALSE,
                            info->preprocess.std)))
    return FALSE;

  info->thresholds = g_new (float, info->n_labels);
  info->val_auroc = g_new (float, info->n_labels);
  for (int l = 0; l < info->n_labels; l++)
    {
      info->thresholds[l] = 0.5f;
      info->val_auroc[l] = NAN;
    }
  if ((meta_string (r, "thresholds", FALSE) != NULL
       && !meta_numbers (r, "thresholds", info->n_labels, RANGE_OPEN_UNIT, FALSE,
                         info->thresholds))
      || (meta_string (r, "val_auroc", FALSE) != NULL
          && !meta_numbers (r, "val_auroc", info->n_labels, RANGE_CLOSED_UNIT, TRUE,
                            info->val_auroc)))
    return FALSE;

  if (!meta_output_calibration (r, info))
    return FALSE;
  info->training_data = meta_text (r, "training_data");
  info->intended_use = meta_text (r, "intended_use");
  return TRUE;
}

/* ---- loading ---- */

static gboolean
is_ignored_tensor (const char *name)
{
  return g_str_has_suffix (name, ".num_batches_tracked");
}

/* Creates an HlTensor, without data yet, for every float tensor of @st that is not ignored, sets
 * model->arena_floats to what they need, and returns in @sources the entry each one converts
 * from (same order as model->tensors). */
static gboolean
model_add_tensors (HlModel *model, HlSafetensors *st, const char *origin, GPtrArray *sources,
                   GError **error)
{
  gsize offset = 0;

  for (guint i = 0; i < st->entries->len; i++)
    {
      HlSafetensorsEntry *e = g_ptr_array_index (st->entries, i);
      HlTensor *t;

      if (is_ignored_tensor (e->name))
        continue;
      if (!hl_dtype_is_float (e->dtype))
        {
          g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT,
                       "%s: tensor %s: dtype %s is not supported (F32, F16 or BF16)", origin,
                       e->name, hl_dtype_name (e->dtype));
          return FALSE;
        }
      if (e->n_dims > 4)
        {
          g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_SHAPE,
                       "%s: tensor %s has %d dimensions; the architecture has none above 4",
                       origin, e->name, e->n_dims);
          return FALSE;
        }
      t = g_new0 (HlTensor, 1);
      t->name = g_strdup (e->name);
      t->n_dims = e->n_dims;
      memcpy (t->shape, e->shape, e->n_dims * sizeof (gint64));
      t->numel = e->numel;
      g_ptr_array_add (model->tensors, t);
      g_hash_table_insert (model->by_name, t->name, t);
      g_ptr_array_add (sources, e);
      /* numel * 2 <= the file's size for every float dtype: these sums cannot wrap, but check */
      if (!g_size_checked_add (&offset, offset, align_floats (e->numel))
          || offset > G_MAXSIZE / sizeof (float))
        {
          g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT,
                       "%s: tensors too large", origin);
          return FALSE;
        }
    }

  model->arena_floats = offset;
  return TRUE;
}

/* Allocates the arena of model->arena_floats and gives every tensor its place in it. */
static void
model_place_tensors (HlModel *model)
{
  gsize offset = 0;

  model->arena = g_aligned_alloc (MAX (model->arena_floats, 1), sizeof (float), HL_ALIGN_BYTES);
  for (guint i = 0; i < model->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (model->tensors, i);

      t->data = model->arena + offset;
      offset += align_floats (t->numel);
    }
}

/* Binds every layer of @model to the file's tensors (LOOKUP), refusing a missing tensor, a shape
 * the architecture does not give and a tensor it has no place for. Stores in @n_bn_floats the
 * floats the BatchNorms' scale and shift need. */
static gboolean
model_bind_file (HlModel *model, const char *origin, gsize *n_bn_floats, GError **error)
{
  g_autoptr (GHashTable) bound = g_hash_table_new (g_str_hash, g_str_equal);
  Binder b = { 0 };

  b.mode = BIND_LOOKUP;
  b.origin = origin;
  b.bound = bound;
  model_bind (model, &b);
  if (b.error != NULL)
    {
      g_propagate_error (error, b.error);
      return FALSE;
    }
  for (guint i = 0; i < model->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (model->tensors, i);

      if (!g_hash_table_contains (bound, t->name))
        {
          g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_SHAPE,
                       "%s: unexpected tensor %s (not part of the architecture)", origin, t->name);
          return FALSE;
        }
    }
  *n_bn_floats = b.n_bn_floats;
  return TRUE;
}

/* Refuses an architecture whose weights and one forward pass need more than HL_MODEL_MAX_BYTES. */
static gboolean
check_cost (const HlModelInfo *info, const char *origin, GError **error)
{
  HlModelCost cost;
  guint64 bytes;

  hl_model_cost (info, &cost);
  bytes = (guint64) (cost.weight_floats + cost.work_floats) * sizeof (float);
  if (bytes > HL_MODEL_MAX_BYTES)
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_METADATA,
                   "%s: the architecture needs %" G_GUINT64_FORMAT " MiB for its weights and one "
                   "image's forward pass at input_size %d, more than the limit of %"
                   G_GSIZE_FORMAT " MiB", origin, bytes >> 20, info->input_size,
                   HL_MODEL_MAX_BYTES >> 20);
      return FALSE;
    }
  return TRUE;
}

/* Converts every tensor to float32, refusing NaN, infinities and negative running variances. */
static gboolean
model_convert (HlModel *model, GPtrArray *sources, const char *origin, GError **error)
{
  for (guint i = 0; i < model->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (model->tensors, i);
      gboolean is_var = g_str_has_suffix (t->name, ".running_var");

      hl_safetensors_entry_to_float (g_ptr_array_index (sources, i), t->data);
      for (gsize j = 0; j < t->numel; j++)
        {
          if (!isfinite (t->data[j]))
            {
              g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT,
                           "%s: tensor %s holds a non-finite value (NaN or infinity) at element "
                           "%" G_GSIZE_FORMAT, origin, t->name, j);
              return FALSE;
            }
          if (is_var && t->data[j] < 0.0f)
            {
              g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT,
                           "%s: tensor %s holds a negative variance at element %" G_GSIZE_FORMAT,
                           origin, t->name, j);
              return FALSE;
            }
        }
    }
  return TRUE;
}

/* hl_model_new_from_data() with @features_only_ok: a file with labels "[]" and no classifier
 * loads (n_labels 0) instead of being refused. */
static HlModel *
model_new_from_data (const guint8 *data, gsize size, const char *origin,
                     gboolean features_only_ok, GError **error)
{
  g_autoptr (HlSafetensors) st = NULL;
  g_autoptr (HlModel) model = NULL;
  g_autoptr (GPtrArray) sources = NULL;
  gsize n_bn_floats;

  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (origin != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  st = hl_safetensors_parse (data, size, origin, error);
  if (st == NULL)
    return NULL;
  model = model_alloc ();
  if (!parse_model_metadata (st->metadata, origin, features_only_ok, &model->info, error)
      || !check_cost (&model->info, origin, error))
    return NULL;
  sources = g_ptr_array_new ();
  if (!model_add_tensors (model, st, origin, sources, error))
    return NULL;
  /* the layout is checked before the arena is allocated: its size is then the architecture's,
   * under HL_MODEL_MAX_BYTES, whatever else the file holds; the second walk binds the data */
  if (!model_bind_file (model, origin, &n_bn_floats, error))
    return NULL;
  model_place_tensors (model);
  if (!model_bind_file (model, origin, &n_bn_floats, error)
      || !model_convert (model, sources, origin, error))
    return NULL;
  if (!model_derive_bn (model, n_bn_floats))
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT,
                   "%s: a BatchNorm's weight / sqrt (running_var + bn_eps) overflows float",
                   origin);
      return NULL;
    }
  return g_steal_pointer (&model);
}

HlModel *
hl_model_new_from_data (const guint8 *data, gsize size, const char *origin, GError **error)
{
  return model_new_from_data (data, size, origin, FALSE, error);
}

/* hl_model_new_from_file() and hl_model_new_features_from_file() */
static HlModel *
model_new_from_file (const char *path, gboolean features_only_ok, GError **error)
{
  g_autoptr (GMappedFile) file = NULL;
  g_autoptr (GError) local_error = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  file = g_mapped_file_new (path, FALSE, &local_error);
  if (file == NULL)
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_IO, "%s: cannot map the model file: %s",
                   path, local_error->message);
      return NULL;
    }
  /* the arena holds converted copies: the mapping goes when this returns */
  return model_new_from_data ((const guint8 *) g_mapped_file_get_contents (file),
                              g_mapped_file_get_length (file), path, features_only_ok, error);
}

HlModel *
hl_model_new_from_file (const char *path, GError **error)
{
  return model_new_from_file (path, FALSE, error);
}

HlModel *
hl_model_new_features_from_file (const char *path, GError **error)
{
  return model_new_from_file (path, TRUE, error);
}
