/* hl-model.c — DenseNet model objects: loading and validating model files, laying the tensors out
 * into the HlModel structure the forward pass walks, and building seeded random models for tests
 * and benchmarks.
 *
 * One layout walk (model_bind) visits the architecture in torchvision's state_dict order and binds
 * every tensor it needs. It runs in three modes: LOOKUP finds the tensors of a loaded file by name
 * and checks their shapes; COUNT and CREATE size and then fill the arena of a random model. Both
 * kinds of model therefore go through the same layout code.
 */
#include "hl-model-private.h"

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

/* ---- seeded pseudo-random numbers (splitmix64 + Box-Muller) ---- */

typedef struct
{
  guint64 state;
} HlRng;

static guint64
rng_next (HlRng *rng)
{
  guint64 z = (rng->state += G_GUINT64_CONSTANT (0x9E3779B97F4A7C15));

  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double
rng_uniform (HlRng *rng)
{
  return (double) (rng_next (rng) >> 11) * 0x1.0p-53;
}

/* Normal with mean 0 and standard deviation @std. */
static double
rng_normal (HlRng *rng, double std)
{
  double u1 = 1.0 - rng_uniform (rng); /* (0, 1]: log stays finite */
  double u2 = rng_uniform (rng);

  return std * sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2);
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
          v = rng_normal (rng, sqrt (2.0 / fan_in));
          break;
        case ROLE_BN_WEIGHT:
        case ROLE_BN_VAR:
          v = 0.5 + rng_uniform (rng);
          break;
        case ROLE_BN_BIAS:
        case ROLE_BN_MEAN:
          v = rng_normal (rng, 0.1);
          break;
        case ROLE_FC_WEIGHT:
        case ROLE_FC_BIAS:
          v = rng_normal (rng, 0.01);
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
  model->classifier_weight = bind_tensor (b, "classifier.weight", ROLE_FC_WEIGHT, 2,
                                          info->n_labels, c, 0, 0);
  model->classifier_bias = bind_tensor (b, "classifier.bias", ROLE_FC_BIAS, 1, info->n_labels,
                                        0, 0, 0);
}

static void
derive_bn (HlBatchNorm *bn, float eps, float **cursor)
{
  bn->scale = *cursor;
  bn->shift = *cursor + align_floats (bn->c);
  *cursor += 2 * align_floats (bn->c);
  for (int i = 0; i < bn->c; i++)
    {
      bn->scale[i] = bn->weight[i] / sqrtf (bn->running_var[i] + eps);
      bn->shift[i] = bn->bias[i] - bn->running_mean[i] * bn->scale[i];
    }
}

/* Allocates model->bn_arena (@n_bn_floats, as counted by model_bind) and derives every
 * BatchNorm's scale and shift with the model's bn_eps. */
static void
model_derive_bn (HlModel *model, gsize n_bn_floats)
{
  const float eps = model->info.arch.bn_eps;
  float *cursor;

  model->bn_arena = g_aligned_alloc (MAX (n_bn_floats, 1), sizeof (float), HL_ALIGN_BYTES);
  cursor = model->bn_arena;
  derive_bn (&model->norm0, eps, &cursor);
  for (int bi = 0; bi < model->info.arch.n_blocks; bi++)
    {
      for (int l = 0; l < model->blocks[bi].n_layers; l++)
        {
          derive_bn (&model->blocks[bi].layers[l].norm1, eps, &cursor);
          derive_bn (&model->blocks[bi].layers[l].norm2, eps, &cursor);
        }
      if (bi < model->info.arch.n_blocks - 1)
        derive_bn (&model->transitions[bi].norm, eps, &cursor);
    }
  derive_bn (&model->norm5, eps, &cursor);
  g_assert (cursor == model->bn_arena + n_bn_floats);
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
  mi->training_data = g_strdup (info->training_data != NULL ? info->training_data : "");
  mi->intended_use = g_strdup (info->intended_use != NULL ? info->intended_use : "");
  mi->n_features = arch_n_features (arch);

  b.mode = BIND_COUNT;
  model_bind (model, &b);
  model->arena_floats = b.n_floats;
  model->arena = g_aligned_alloc (MAX (b.n_floats, 1), sizeof (float), HL_ALIGN_BYTES);

  b.mode = BIND_CREATE;
  b.n_floats = 0;
  b.rng.state = seed;
  model_bind (model, &b);
  model_derive_bn (model, b.n_bn_floats);
  return model;
}
