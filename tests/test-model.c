/* test-model.c — tests of the engine's model objects: seeded random models, the layout of
 * torchvision DenseNet tensors, BatchNorm derivation and reference counting. */
#include "engine/hl-model-private.h"

#include <math.h>
#include <string.h>

/* The tiny architecture most tests use: 2 blocks of 2 and 1 layers, growth 2, bn_size 2. */
static void
tiny_info (HlModelInfo *info)
{
  memset (info, 0, sizeof *info);
  info->arch.growth_rate = 2;
  info->arch.n_blocks = 2;
  info->arch.block_config[0] = 2;
  info->arch.block_config[1] = 1;
  info->arch.num_init_features = 4;
  info->arch.bn_size = 2;
  info->arch.bn_eps = 1e-5f;
  info->input_size = 32;
  info->input_channels = 1;
  info->n_labels = 3;
  info->preprocess.resize = HL_RESIZE_BILINEAR;
  info->preprocess.mode = HL_NORM_IMAGE;
}

static void
densenet121_info (HlModelInfo *info, int n_labels)
{
  memset (info, 0, sizeof *info);
  info->arch.growth_rate = 32;
  info->arch.n_blocks = 4;
  info->arch.block_config[0] = 6;
  info->arch.block_config[1] = 12;
  info->arch.block_config[2] = 24;
  info->arch.block_config[3] = 16;
  info->arch.num_init_features = 64;
  info->arch.bn_size = 4;
  info->arch.bn_eps = 1e-5f;
  info->input_size = 224;
  info->input_channels = 3;
  info->n_labels = n_labels;
}

static gboolean
is_running_stat (const char *name)
{
  return g_str_has_suffix (name, ".running_mean") || g_str_has_suffix (name, ".running_var");
}

/* torchvision.models.densenet121() has 7,978,856 parameters (1000 classes); the running
 * statistics are buffers, not parameters. */
static void
test_random_densenet121_params (void)
{
  HlModelInfo info;
  g_autoptr (HlModel) model = NULL;
  gsize n_params = 0;

  densenet121_info (&info, 1000);
  model = hl_model_new_random (&info, 1);
  for (guint i = 0; i < model->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (model->tensors, i);

      if (!is_running_stat (t->name))
        n_params += t->numel;
    }
  g_assert_cmpuint (n_params, ==, 7978856);
  g_assert_cmpint (model->info.n_features, ==, 1024);
  g_assert_cmpuint (model->tensors->len, ==, 1 + 4 + 58 * 10 + 3 * 5 + 4 + 2);
  g_assert_cmpuint (hl_model_input_size (model), ==, 3 * 224 * 224);
  g_assert_cmpint (model->blocks[3].c_in, ==, 512);
  g_assert_cmpint (model->transitions[2].conv.c_out, ==, 512);
  g_assert_cmpint (model->transitions[2].conv.c_in, ==, 1024);
}

typedef struct
{
  const char *name;
  int n_dims;
  gint64 shape[4];
} ExpectedTensor;

/* Every tensor of the tiny architecture, in state_dict order, written out by hand from
 * torchvision's DenseNet. */
static const ExpectedTensor tiny_tensors[] = {
  { "features.conv0.weight", 4, { 4, 1, 7, 7 } },
  { "features.norm0.weight", 1, { 4 } },
  { "features.norm0.bias", 1, { 4 } },
  { "features.norm0.running_mean", 1, { 4 } },
  { "features.norm0.running_var", 1, { 4 } },
  { "features.denseblock1.denselayer1.norm1.weight", 1, { 4 } },
  { "features.denseblock1.denselayer1.norm1.bias", 1, { 4 } },
  { "features.denseblock1.denselayer1.norm1.running_mean", 1, { 4 } },
  { "features.denseblock1.denselayer1.norm1.running_var", 1, { 4 } },
  { "features.denseblock1.denselayer1.conv1.weight", 4, { 4, 4, 1, 1 } },
  { "features.denseblock1.denselayer1.norm2.weight", 1, { 4 } },
  { "features.denseblock1.denselayer1.norm2.bias", 1, { 4 } },
  { "features.denseblock1.denselayer1.norm2.running_mean", 1, { 4 } },
  { "features.denseblock1.denselayer1.norm2.running_var", 1, { 4 } },
  { "features.denseblock1.denselayer1.conv2.weight", 4, { 2, 4, 3, 3 } },
  { "features.denseblock1.denselayer2.norm1.weight", 1, { 6 } },
  { "features.denseblock1.denselayer2.norm1.bias", 1, { 6 } },
  { "features.denseblock1.denselayer2.norm1.running_mean", 1, { 6 } },
  { "features.denseblock1.denselayer2.norm1.running_var", 1, { 6 } },
  { "features.denseblock1.denselayer2.conv1.weight", 4, { 4, 6, 1, 1 } },
  { "features.denseblock1.denselayer2.norm2.weight", 1, { 4 } },
  { "features.denseblock1.denselayer2.norm2.bias", 1, { 4 } },
  { "features.denseblock1.denselayer2.norm2.running_mean", 1, { 4 } },
  { "features.denseblock1.denselayer2.norm2.running_var", 1, { 4 } },
  { "features.denseblock1.denselayer2.conv2.weight", 4, { 2, 4, 3, 3 } },
  { "features.transition1.norm.weight", 1, { 8 } },
  { "features.transition1.norm.bias", 1, { 8 } },
  { "features.transition1.norm.running_mean", 1, { 8 } },
  { "features.transition1.norm.running_var", 1, { 8 } },
  { "features.transition1.conv.weight", 4, { 4, 8, 1, 1 } },
  { "features.denseblock2.denselayer1.norm1.weight", 1, { 4 } },
  { "features.denseblock2.denselayer1.norm1.bias", 1, { 4 } },
  { "features.denseblock2.denselayer1.norm1.running_mean", 1, { 4 } },
  { "features.denseblock2.denselayer1.norm1.running_var", 1, { 4 } },
  { "features.denseblock2.denselayer1.conv1.weight", 4, { 4, 4, 1, 1 } },
  { "features.denseblock2.denselayer1.norm2.weight", 1, { 4 } },
  { "features.denseblock2.denselayer1.norm2.bias", 1, { 4 } },
  { "features.denseblock2.denselayer1.norm2.running_mean", 1, { 4 } },
  { "features.denseblock2.denselayer1.norm2.running_var", 1, { 4 } },
  { "features.denseblock2.denselayer1.conv2.weight", 4, { 2, 4, 3, 3 } },
  { "features.norm5.weight", 1, { 6 } },
  { "features.norm5.bias", 1, { 6 } },
  { "features.norm5.running_mean", 1, { 6 } },
  { "features.norm5.running_var", 1, { 6 } },
  { "classifier.weight", 2, { 3, 6 } },
  { "classifier.bias", 1, { 3 } },
};

static void
test_random_tiny_layout (void)
{
  HlModelInfo info;
  g_autoptr (HlModel) model = NULL;

  tiny_info (&info);
  model = hl_model_new_random (&info, 7);
  g_assert_cmpuint (model->tensors->len, ==, G_N_ELEMENTS (tiny_tensors));
  for (guint i = 0; i < G_N_ELEMENTS (tiny_tensors); i++)
    {
      HlTensor *t = g_ptr_array_index (model->tensors, i);

      g_assert_cmpstr (t->name, ==, tiny_tensors[i].name);
      g_assert_true (hl_model_get_tensor (model, tiny_tensors[i].name) == t);
      g_assert_cmpint (t->n_dims, ==, tiny_tensors[i].n_dims);
      for (int d = 0; d < t->n_dims; d++)
        g_assert_cmpint (t->shape[d], ==, tiny_tensors[i].shape[d]);
      g_assert_true (((guintptr) t->data) % 64 == 0);
    }
  g_assert_null (hl_model_get_tensor (model, "features.norm0.num_batches_tracked"));

  g_assert_cmpint (model->info.n_features, ==, 6);
  g_assert_cmpstr (model->info.labels[2], ==, "label-2");
  g_assert_null (model->info.labels[3]);
  g_assert_cmpfloat (model->info.thresholds[0], ==, 0.5f);
  g_assert_true (isnan (model->info.val_auroc[1]));

  /* the structure points at the tensors with torchvision's strides and pads */
  g_assert_true (model->conv0.weight == hl_model_get_tensor (model, "features.conv0.weight")->data);
  g_assert_cmpint (model->conv0.stride, ==, 2);
  g_assert_cmpint (model->conv0.pad, ==, 3);
  g_assert_cmpint (model->conv0.k_h, ==, 7);
  g_assert_cmpint (model->blocks[0].c_in, ==, 4);
  g_assert_cmpint (model->blocks[0].n_layers, ==, 2);
  g_assert_cmpint (model->blocks[0].layers[1].norm1.c, ==, 6);
  g_assert_cmpint (model->blocks[0].layers[1].conv1.pad, ==, 0);
  g_assert_cmpint (model->blocks[0].layers[1].conv2.k_w, ==, 3);
  g_assert_cmpint (model->blocks[0].layers[1].conv2.pad, ==, 1);
  g_assert_cmpint (model->blocks[0].layers[1].conv2.stride, ==, 1);
  g_assert_true (model->blocks[0].layers[1].conv2.weight
                 == hl_model_get_tensor (model,
                                         "features.denseblock1.denselayer2.conv2.weight")->data);
  g_assert_cmpint (model->transitions[0].conv.c_out, ==, 4);
  g_assert_cmpint (model->blocks[1].c_in, ==, 4);
  g_assert_cmpint (model->norm5.c, ==, 6);
  g_assert_true (model->classifier_weight == hl_model_get_tensor (model,
                                                                  "classifier.weight")->data);
  g_assert_true (model->classifier_bias == hl_model_get_tensor (model, "classifier.bias")->data);
}

static void
assert_bn_derived (const HlBatchNorm *bn, float eps)
{
  for (int i = 0; i < bn->c; i++)
    {
      double scale = bn->weight[i] / sqrt ((double) bn->running_var[i] + eps);

      g_assert_cmpfloat_with_epsilon (bn->scale[i], scale, 1e-6 * fabs (scale));
      g_assert_cmpfloat_with_epsilon (bn->shift[i], bn->bias[i] - bn->running_mean[i] * scale,
                                      1e-6);
    }
  g_assert_true (((guintptr) bn->scale) % 64 == 0);
  g_assert_true (((guintptr) bn->shift) % 64 == 0);
}

static void
test_random_bn_derived (void)
{
  HlModelInfo info;
  g_autoptr (HlModel) model = NULL;

  tiny_info (&info);
  info.arch.bn_eps = 0.05f;
  model = hl_model_new_random (&info, 3);
  assert_bn_derived (&model->norm0, 0.05f);
  assert_bn_derived (&model->blocks[0].layers[0].norm1, 0.05f);
  assert_bn_derived (&model->blocks[0].layers[1].norm2, 0.05f);
  assert_bn_derived (&model->transitions[0].norm, 0.05f);
  assert_bn_derived (&model->blocks[1].layers[0].norm2, 0.05f);
  assert_bn_derived (&model->norm5, 0.05f);
}

/* The documented distributions: BN weight and variance in [0.5, 1.5), convolutions He-normal. */
static void
test_random_distributions (void)
{
  HlModelInfo info;
  g_autoptr (HlModel) model = NULL;
  HlTensor *conv, *var;
  double sum2 = 0.0;

  densenet121_info (&info, 14);
  info.arch.n_blocks = 1;
  info.arch.block_config[0] = 1;
  model = hl_model_new_random (&info, 11);
  var = hl_model_get_tensor (model, "features.denseblock1.denselayer1.norm1.running_var");
  for (gsize i = 0; i < var->numel; i++)
    g_assert_true (var->data[i] >= 0.5f && var->data[i] < 1.5f);
  conv = hl_model_get_tensor (model, "features.denseblock1.denselayer1.conv2.weight");
  for (gsize i = 0; i < conv->numel; i++)
    sum2 += (double) conv->data[i] * conv->data[i];
  /* 36,864 draws of N(0, 2 / 1152): the sample variance is within 3 % */
  g_assert_cmpfloat_with_epsilon (sum2 / conv->numel, 2.0 / 1152, 0.03 * 2.0 / 1152);
}

static void
test_random_deterministic (void)
{
  HlModelInfo info;
  g_autoptr (HlModel) a = NULL;
  g_autoptr (HlModel) b = NULL;
  g_autoptr (HlModel) c = NULL;
  gboolean differs = FALSE;

  tiny_info (&info);
  a = hl_model_new_random (&info, 42);
  b = hl_model_new_random (&info, 42);
  c = hl_model_new_random (&info, 43);
  g_assert_cmpuint (a->arena_floats, ==, b->arena_floats);
  for (guint i = 0; i < a->tensors->len; i++)
    {
      HlTensor *ta = g_ptr_array_index (a->tensors, i);
      HlTensor *tb = g_ptr_array_index (b->tensors, i);
      HlTensor *tc = g_ptr_array_index (c->tensors, i);

      g_assert_cmpmem (ta->data, ta->numel * sizeof (float), tb->data, tb->numel * sizeof (float));
      differs |= memcmp (ta->data, tc->data, ta->numel * sizeof (float)) != 0;
    }
  g_assert_true (differs);
}

static void
test_random_info_copied (void)
{
  HlModelInfo info;
  char *labels[] = { "a", "b", "c", NULL };
  float thresholds[] = { 0.1f, 0.2f, 0.3f };
  g_autoptr (HlModel) model = NULL;
  const HlModelInfo *mi;

  tiny_info (&info);
  info.labels = labels;
  info.thresholds = thresholds;
  info.name = "tiny";
  model = hl_model_new_random (&info, 1);
  mi = hl_model_get_info (model);
  g_assert_true (mi->labels != labels);
  g_assert_cmpstr (mi->labels[1], ==, "b");
  g_assert_cmpstr (mi->name, ==, "tiny");
  g_assert_cmpstr (mi->version, ==, "0");
  g_assert_cmpstr (mi->intended_use, ==, "");
  g_assert_cmpfloat (mi->thresholds[2], ==, 0.3f);
  g_assert_true (mi->thresholds != thresholds);
}

static void
test_refcount (void)
{
  HlModelInfo info;
  HlModel *model;

  tiny_info (&info);
  model = hl_model_new_random (&info, 1);
  g_assert_true (hl_model_ref (model) == model);
  g_assert_cmpint (model->ref_count, ==, 2);
  hl_model_unref (model);
  g_assert_cmpint (model->ref_count, ==, 1);
  g_assert_cmpstr (hl_model_get_info (model)->labels[0], ==, "label-0");
  hl_model_unref (model);
  hl_model_unref (NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/engine/model/random/densenet121-params", test_random_densenet121_params);
  g_test_add_func ("/engine/model/random/tiny-layout", test_random_tiny_layout);
  g_test_add_func ("/engine/model/random/bn-derived", test_random_bn_derived);
  g_test_add_func ("/engine/model/random/distributions", test_random_distributions);
  g_test_add_func ("/engine/model/random/deterministic", test_random_deterministic);
  g_test_add_func ("/engine/model/random/info-copied", test_random_info_copied);
  g_test_add_func ("/engine/model/refcount", test_refcount);

  return g_test_run ();
}
