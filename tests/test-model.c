/* test-model.c — tests of the engine's model objects: seeded random models, the layout of
 * torchvision DenseNet tensors, BatchNorm derivation, reference counting, and the model file
 * loader: every way a file can be refused, dtype conversion, metadata and round trips; the
 * default-model lookup (hl_model_find_default) and the model card's path. */
#include "engine/hl-model-private.h"
#include "engine/hl-safetensors.h"
#include "hl-test-bound.h"
#include "hl-test-model-file.h"

#include <glib/gstdio.h>

#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

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

  hl_test_tiny_info (&info);
  info.labels = NULL;
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

/* hl-model.c folds each BatchNorm in float: scale = weight / sqrtf (running_var + eps), then
 * shift = bias - running_mean * scale with that rounded scale. The scale takes three float
 * roundings: the sum (whose relative error the square root halves), sqrtf and the division, so
 * |scale - s| <= ((1 + u) / (1 - u)^(3/2) - 1) |s| < gamma_3 |s|, where the float64 reference's
 * own <= 3 2^-53 relative error fits in the gap between gamma_3 and 2.5 u. The shift's product
 * carries the scale's gamma_3 and one rounding more (none if contracted into an FMA):
 * gamma_4 |m s|; the subtraction rounds once more, u |b - m s| plus u gamma_4 |m s|, and the
 * reference's own subtraction 2^-53 |b - m s|: gamma_5 |m s| + (u + 2^-53) |b - m s| in all. */
static void
assert_bn_derived (const HlBatchNorm *bn, float eps)
{
  HlTestBounded scale_check = HL_TEST_BOUNDED_INIT ("BatchNorm scale");
  HlTestBounded shift_check = HL_TEST_BOUNDED_INIT ("BatchNorm shift");

  for (int i = 0; i < bn->c; i++)
    {
      double scale = bn->weight[i] / sqrt ((double) bn->running_var[i] + eps);
      double ms = bn->running_mean[i] * scale;
      double shift = bn->bias[i] - ms;

      hl_test_bounded_check (&scale_check, bn->scale[i], scale, hl_test_gamma (3) * fabs (scale));
      hl_test_bounded_check (&shift_check, bn->shift[i], shift,
                             hl_test_gamma (5) * fabs (ms)
                                 + (HL_TEST_U + HL_TEST_U_DOUBLE) * fabs (shift));
    }
  hl_test_bounded_end (&scale_check);
  hl_test_bounded_end (&shift_check);
  g_assert_true (((guintptr) bn->scale) % 64 == 0);
  g_assert_true (((guintptr) bn->shift) % 64 == 0);
}

static void
test_random_bn_derived (void)
{
  HlModelInfo info;
  g_autoptr (HlModel) model = NULL;

  hl_test_tiny_info (&info);
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
  /* numel draws of N(0, 2 / 1152): sum2 / numel is sigma^2 chi^2_numel / numel, whose mean is
   * sigma^2 and relative standard deviation sqrt (2 / numel) (0.74 % for 36,864 draws). Five of
   * them: a correct He-normal initialiser fails with probability 6e-7 for a seed (the normal
   * approximation of a chi-square of 36,864 degrees of freedom; its skewness, sqrt (8 / numel) =
   * 1.5 %, moves that tail little), while LeCun's 1 / fan_in or a fan_out of 288 are 100 and
   * more of them away. Storing the draws as float (2u on each square) and Box-Muller's double
   * arithmetic move the mean by under 1e-7, nothing against 3.7 %. The seed is fixed, so the
   * value is the same on any machine up to libm's last bit in log and cos. */
  double var_rel_sd = sqrt (2.0 / conv->numel);
  hl_test_assert_close ("He-normal variance", sum2 / conv->numel, 2.0 / 1152,
                        5 * var_rel_sd * 2.0 / 1152);
}

static void
test_random_deterministic (void)
{
  HlModelInfo info;
  g_autoptr (HlModel) a = NULL;
  g_autoptr (HlModel) b = NULL;
  g_autoptr (HlModel) c = NULL;
  gboolean differs = FALSE;

  hl_test_tiny_info (&info);
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

  hl_test_tiny_info (&info);
  info.labels = labels;
  info.thresholds = thresholds;
  info.name = "copied";
  info.version = NULL;
  model = hl_model_new_random (&info, 1);
  mi = hl_model_get_info (model);
  g_assert_true (mi->labels != labels);
  g_assert_cmpstr (mi->labels[1], ==, "b");
  g_assert_cmpstr (mi->name, ==, "copied");
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

  hl_test_tiny_info (&info);
  info.labels = NULL;
  model = hl_model_new_random (&info, 1);
  g_assert_true (hl_model_ref (model) == model);
  g_assert_cmpint (model->ref_count, ==, 2);
  hl_model_unref (model);
  g_assert_cmpint (model->ref_count, ==, 1);
  g_assert_cmpstr (hl_model_get_info (model)->labels[0], ==, "label-0");
  hl_model_unref (model);
  hl_model_unref (NULL);
}

/* ---- loading ---- */

#define ORIGIN "mem.safetensors"

static HlModel *
tiny_random (guint32 seed)
{
  HlModelInfo info;

  hl_test_tiny_info (&info);
  return hl_model_new_random (&info, seed);
}

/* The tiny random model (seed 5) as a model file of @dtype. */
static HlTestModelFile *
tiny_file (const char *dtype)
{
  g_autoptr (HlModel) model = tiny_random (5);

  return hl_test_model_file_new_from_model (model, dtype);
}

/* Writes @bytes to a fresh temporary file; returns its path. */
static char *
write_temp (GBytes *bytes)
{
  g_autoptr (GError) error = NULL;
  char *path = NULL;
  int fd = g_file_open_tmp ("hl-test-model-XXXXXX.safetensors", &path, &error);

  g_assert_no_error (error);
  g_close (fd, NULL);
  g_file_set_contents (path, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
  g_assert_no_error (error);
  return path;
}

/* Loads @bytes through hl_model_new_from_data and through a temporary file with
 * hl_model_new_from_file: both must refuse it with @code and the same message, starting with the
 * origin and containing @needle. */
static void
assert_refused_bytes (GBytes *bytes, HlEngineError code, const char *needle)
{
  g_autofree char *path = write_temp (bytes);
  g_autofree char *prefix = g_strdup_printf ("%s: ", path);
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) file_error = NULL;
  g_autoptr (HlModel) model = NULL;
  g_autoptr (HlModel) file_model = NULL;

  model = hl_model_new_from_data (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                  ORIGIN, &error);
  g_assert_null (model);
  g_assert_error (error, HL_ENGINE_ERROR, (int) code);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, ORIGIN ": "));
  g_assert_nonnull (strstr (error->message, needle));

  file_model = hl_model_new_from_file (path, &file_error);
  g_unlink (path);
  g_assert_null (file_model);
  g_assert_error (file_error, HL_ENGINE_ERROR, (int) code);
  g_assert_true (g_str_has_prefix (file_error->message, prefix));
  g_assert_cmpstr (file_error->message + strlen (prefix), ==,
                   error->message + strlen (ORIGIN ": "));
}

static void
assert_refused (HlTestModelFile *file, HlEngineError code, const char *needle)
{
  g_autoptr (GBytes) bytes = hl_test_model_file_build (file);

  assert_refused_bytes (bytes, code, needle);
}

/* Loads @file from memory and from a temporary file; both must succeed with the same tensors.
 * Returns the model loaded from memory. */
static HlModel *
load_both (HlTestModelFile *file)
{
  g_autoptr (GBytes) bytes = hl_test_model_file_build (file);
  g_autofree char *path = write_temp (bytes);
  g_autoptr (GError) error = NULL;
  g_autoptr (HlModel) from_file = NULL;
  HlModel *model;

  model = hl_model_new_from_data (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                  ORIGIN, &error);
  g_assert_no_error (error);
  from_file = hl_model_new_from_file (path, &error);
  g_unlink (path);
  g_assert_no_error (error);
  g_assert_cmpuint (from_file->tensors->len, ==, model->tensors->len);
  for (guint i = 0; i < model->tensors->len; i++)
    {
      HlTensor *a = g_ptr_array_index (model->tensors, i);
      HlTensor *b = g_ptr_array_index (from_file->tensors, i);

      g_assert_cmpstr (a->name, ==, b->name);
      g_assert_cmpmem (a->data, a->numel * sizeof (float), b->data, b->numel * sizeof (float));
    }
  return model;
}

/* 8-byte header length, @json, @data_len zero bytes. */
static GBytes *
raw_file (const char *json, gsize data_len)
{
  GByteArray *out = g_byte_array_new ();
  guint64 n = strlen (json);
  guint8 len_bytes[8];

  for (int k = 0; k < 8; k++)
    len_bytes[k] = (guint8) (n >> (8 * k));
  g_byte_array_append (out, len_bytes, 8);
  g_byte_array_append (out, (const guint8 *) json, n);
  g_byte_array_set_size (out, out->len + data_len);
  memset (out->data + 8 + n, 0, data_len);
  return g_byte_array_free_to_bytes (out);
}

/* Same tensors in @a and @b (found by name), @b being @a stored in a format of unit roundoff
 * @unit and smallest subnormal step @tiny_step and read back: round to nearest even puts each value
 * within @unit |a| of @a where it is normal and within @tiny_step / 2 where it is subnormal (the
 * conversion back to float is exact), so |b - a| <= unit |a| + tiny_step / 2. Zero for both: bit
 * for bit. */
static void
assert_models_equal (HlModel *a, HlModel *b, double unit, double tiny_step)
{
  HlTestBounded check = HL_TEST_BOUNDED_INIT ("stored and read back");

  g_assert_cmpuint (a->tensors->len, ==, b->tensors->len);
  for (guint i = 0; i < a->tensors->len; i++)
    {
      HlTensor *ta = g_ptr_array_index (a->tensors, i);
      HlTensor *tb = hl_model_get_tensor (b, ta->name);

      g_assert_nonnull (tb);
      g_assert_cmpint (ta->n_dims, ==, tb->n_dims);
      g_assert_cmpmem (ta->shape, ta->n_dims * sizeof (gint64), tb->shape,
                       tb->n_dims * sizeof (gint64));
      for (gsize j = 0; j < ta->numel; j++)
        hl_test_bounded_check (&check, tb->data[j], ta->data[j],
                               unit * fabsf (ta->data[j]) + tiny_step / 2);
    }
  hl_test_bounded_end (&check);
}

static void
test_load_round_trip_f32 (void)
{
  g_autoptr (HlModel) random = tiny_random (5);
  g_autoptr (HlTestModelFile) file = hl_test_model_file_new_from_model (random, "F32");
  g_autoptr (HlModel) model = load_both (file);
  const HlModelInfo *info = hl_model_get_info (model);

  assert_models_equal (random, model, 0, 0);
  /* file order is kept, every tensor is aligned inside the arena */
  for (guint i = 0; i < model->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (model->tensors, i);

      g_assert_cmpstr (t->name, ==, ((HlTensor *) g_ptr_array_index (random->tensors, i))->name);
      g_assert_true (((guintptr) t->data) % 64 == 0);
      g_assert_true (t->data >= model->arena
                     && t->data + t->numel <= model->arena + model->arena_floats);
    }
  /* the layout points at the file's tensors; BatchNorm derived as for the random model */
  g_assert_true (model->blocks[1].layers[0].conv2.weight
                 == hl_model_get_tensor (model,
                                         "features.denseblock2.denselayer1.conv2.weight")->data);
  g_assert_true (model->transitions[0].conv.weight
                 == hl_model_get_tensor (model, "features.transition1.conv.weight")->data);
  g_assert_true (model->norm0.running_var
                 == hl_model_get_tensor (model, "features.norm0.running_var")->data);
  g_assert_cmpint (model->transitions[0].conv.k_h, ==, 1);
  g_assert_cmpint (model->conv0.stride, ==, 2);
  g_assert_cmpint (model->blocks[0].layers[0].conv2.pad, ==, 1);
  g_assert_cmpmem (model->norm5.scale, 6 * sizeof (float), random->norm5.scale,
                   6 * sizeof (float));
  g_assert_cmpmem (model->blocks[0].layers[1].norm1.shift, 6 * sizeof (float),
                   random->blocks[0].layers[1].norm1.shift, 6 * sizeof (float));

  g_assert_cmpstr (info->name, ==, "tiny");
  g_assert_cmpstr (info->version, ==, "1");
  g_assert_cmpint (info->arch.growth_rate, ==, 2);
  g_assert_cmpint (info->arch.n_blocks, ==, 2);
  g_assert_cmpint (info->arch.block_config[0], ==, 2);
  g_assert_cmpint (info->arch.block_config[1], ==, 1);
  g_assert_cmpint (info->arch.num_init_features, ==, 4);
  g_assert_cmpint (info->arch.bn_size, ==, 2);
  g_assert_cmpfloat (info->arch.bn_eps, ==, 1e-5f);
  g_assert_cmpint (info->input_size, ==, 32);
  g_assert_cmpint (info->input_channels, ==, 1);
  g_assert_cmpint (info->n_labels, ==, 3);
  g_assert_cmpstr (info->labels[2], ==, "c");
  g_assert_null (info->labels[3]);
  g_assert_cmpint (info->n_features, ==, 6);
  g_assert_cmpuint (hl_model_input_size (model), ==, 32 * 32);
}

static void
test_load_round_trip_f16 (void)
{
  g_autoptr (HlModel) random = tiny_random (5);
  g_autoptr (HlTestModelFile) file = hl_test_model_file_new_from_model (random, "F16");
  g_autoptr (HlModel) model = load_both (file);

  /* half precision: 11 significant bits, u = 2^-11; subnormals in steps of 2^-24 */
  assert_models_equal (random, model, 0x1p-11, 0x1p-24);
}

static void
test_load_round_trip_bf16 (void)
{
  g_autoptr (HlModel) random = tiny_random (5);
  g_autoptr (HlTestModelFile) file = hl_test_model_file_new_from_model (random, "BF16");
  g_autoptr (HlModel) model = load_both (file);

  /* bfloat16: 8 significant bits, u = 2^-8; float's exponent range, subnormals in steps of
   * 2^-133 */
  assert_models_equal (random, model, 0x1p-8, 0x1p-133);
}

/* Tensors in any order and of mixed dtypes; unknown metadata keys are ignored. */
static void
test_load_mixed_order (void)
{
  g_autoptr (HlModel) random = tiny_random (9);
  g_autoptr (HlTestModelFile) file = hl_test_model_file_new_from_model (random, "F32");
  g_autoptr (HlModel) model = NULL;
  guint n = random->tensors->len;

  for (guint i = n; i-- > 0;)
    {
      HlTensor *t = g_ptr_array_index (random->tensors, i);

      /* moves it to the end: the file ends up in reverse order */
      g_assert_true (hl_test_model_file_remove (file, t->name));
      hl_test_model_file_add_floats (file, t->name, i % 2 ? "F32" : "BF16", t->n_dims, t->shape,
                                     t->data);
    }
  hl_test_model_file_set_meta (file, "source", "converted by hand");
  model = load_both (file);
  assert_models_equal (random, model, 0x1p-8, 0x1p-133); /* BF16's bound; F32 comes back exact */
  g_assert_cmpstr (((HlTensor *) g_ptr_array_index (model->tensors, 0))->name, ==,
                   "classifier.bias");
  g_assert_cmpstr (((HlTensor *) g_ptr_array_index (model->tensors, n - 1))->name, ==,
                   "features.conv0.weight");
}

/* Known F16 / BF16 bit patterns and their exact values, subnormals included. */
typedef struct
{
  guint16 bits;
  float value;
} KnownHalf;

static const KnownHalf f16_known[] = {
  { 0x0000, 0.0f },       { 0x8000, -0.0f },       { 0x3c00, 1.0f },
  { 0xc000, -2.0f },      { 0x3555, 0x1.554p-2f }, { 0x7bff, 65504.0f },
  { 0x0400, 0x1p-14f },   { 0x0001, 0x1p-24f },    { 0x03ff, 0x1.ff8p-15f },
  { 0x8001, -0x1p-24f },  { 0x3bff, 0x1.ffcp-1f }, { 0x5640, 100.0f },
};

static const KnownHalf bf16_known[] = {
  { 0x0000, 0.0f },        { 0x3f80, 1.0f },        { 0xc040, -3.0f },
  { 0x7f7f, 0x1.fep127f }, { 0x0080, 0x1p-126f },   { 0x0001, 0x1p-133f },
  { 0x007f, 0x1.fcp-127f }, { 0x3eab, 0x1.56p-2f }, { 0x8001, -0x1p-133f },
};

static void
test_convert_f16 (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (f16_known); i++)
    {
      float v = hl_f16_to_float (f16_known[i].bits);

      g_assert_cmpfloat (v, ==, f16_known[i].value);
      g_assert_cmpint (!!signbit (v), ==, !!signbit (f16_known[i].value));
      g_assert_cmphex (hl_test_float_to_f16 (f16_known[i].value), ==, f16_known[i].bits);
    }
  g_assert_true (isinf (hl_f16_to_float (0x7c00)) && hl_f16_to_float (0x7c00) > 0);
  g_assert_true (isinf (hl_f16_to_float (0xfc00)) && hl_f16_to_float (0xfc00) < 0);
  g_assert_true (isnan (hl_f16_to_float (0x7e00)));
  g_assert_true (isnan (hl_f16_to_float (0xfc01)));
}

static void
test_convert_bf16 (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bf16_known); i++)
    {
      g_assert_cmpfloat (hl_bf16_to_float (bf16_known[i].bits), ==, bf16_known[i].value);
      g_assert_cmphex (hl_test_float_to_bf16 (bf16_known[i].value), ==, bf16_known[i].bits);
    }
  g_assert_true (isinf (hl_bf16_to_float (0xff80)) && hl_bf16_to_float (0xff80) < 0);
  g_assert_true (isnan (hl_bf16_to_float (0x7fc0)));
}

/* Writes @known (@n bit patterns) into conv0 as @dtype and checks the loaded values are exact. */
static void
check_known_in_file (const char *dtype, const KnownHalf *known, guint n)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  const gint64 shape[] = { 4, 1, 7, 7 };
  guint8 bytes[196 * 2] = { 0 };
  g_autoptr (HlModel) model = NULL;
  HlTensor *t;

  for (guint i = 0; i < n; i++)
    {
      bytes[2 * i] = (guint8) known[i].bits;
      bytes[2 * i + 1] = (guint8) (known[i].bits >> 8);
    }
  hl_test_model_file_add_raw (file, "features.conv0.weight", dtype, 4, shape, bytes,
                              sizeof bytes);
  model = load_both (file);
  t = hl_model_get_tensor (model, "features.conv0.weight");
  for (guint i = 0; i < 196; i++)
    g_assert_cmpfloat (t->data[i], ==, i < n ? known[i].value : 0.0f);
  g_assert_true (model->conv0.weight == t->data);
}

static void
test_load_f16_exact (void)
{
  check_known_in_file ("F16", f16_known, G_N_ELEMENTS (f16_known));
}

static void
test_load_bf16_exact (void)
{
  check_known_in_file ("BF16", bf16_known, G_N_ELEMENTS (bf16_known));
}

/* Every optional metadata key, channel-mode preprocessing with three channels. */
static void
test_load_metadata_full (void)
{
  HlModelInfo in;
  char *labels[] = { "Atelectasis", "Cardiomegaly", NULL };
  float thresholds[] = { 0.25f, 0.75f };
  float val_auroc[] = { NAN, 0.8125f };
  g_autoptr (HlModel) random = NULL;
  g_autoptr (HlTestModelFile) file = NULL;
  g_autoptr (HlModel) model = NULL;
  const HlModelInfo *info;

  hl_test_tiny_info (&in);
  in.input_channels = 3;
  in.input_size = 1024;
  in.n_labels = 2;
  in.labels = labels;
  in.thresholds = thresholds;
  in.val_auroc = val_auroc;
  in.arch.bn_eps = 0.001f;
  in.preprocess.resize = HL_RESIZE_BILINEAR_ANTIALIAS;
  in.preprocess.mode = HL_NORM_CHANNEL;
  in.preprocess.mean[0] = 0.485f;
  in.preprocess.mean[1] = 0.456f;
  in.preprocess.mean[2] = 0.406f;
  in.preprocess.std[0] = 0.229f;
  in.preprocess.std[1] = 0.224f;
  in.preprocess.std[2] = 0.225f;
  in.training_data = "NIH ChestX-ray14, 1 % sample";
  in.intended_use = "tests \"only\"";
  random = hl_model_new_random (&in, 2);
  file = hl_test_model_file_new_from_model (random, "F32");
  hl_test_model_file_set_meta (file, "block_config", " 2 , 1");
  model = load_both (file);
  info = hl_model_get_info (model);

  g_assert_cmpint (info->input_channels, ==, 3);
  g_assert_cmpint (info->input_size, ==, 1024);
  g_assert_cmpuint (hl_model_input_size (model), ==, 3 * 1024 * 1024);
  g_assert_cmpint (model->conv0.c_in, ==, 3);
  g_assert_cmpint (info->arch.block_config[0], ==, 2);
  g_assert_cmpfloat (info->arch.bn_eps, ==, 0.001f);
  g_assert_cmpstr (info->labels[1], ==, "Cardiomegaly");
  g_assert_cmpint (info->preprocess.resize, ==, HL_RESIZE_BILINEAR_ANTIALIAS);
  g_assert_cmpint (info->preprocess.mode, ==, HL_NORM_CHANNEL);
  g_assert_cmpfloat (info->preprocess.mean[2], ==, 0.406f);
  g_assert_cmpfloat (info->preprocess.std[0], ==, 0.229f);
  g_assert_cmpfloat (info->thresholds[0], ==, 0.25f);
  g_assert_cmpfloat (info->thresholds[1], ==, 0.75f);
  g_assert_true (isnan (info->val_auroc[0]));
  g_assert_cmpfloat (info->val_auroc[1], ==, 0.8125f);
  g_assert_cmpstr (info->training_data, ==, "NIH ChestX-ray14, 1 % sample");
  g_assert_cmpstr (info->intended_use, ==, "tests \"only\"");
}

/* Optional keys left out take their documented defaults. */
static void
test_load_metadata_defaults (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  g_autoptr (HlModel) model = NULL;
  const HlModelInfo *info;
  const char *optional[] = { "preprocess_mean", "preprocess_std", "thresholds", "val_auroc",
                             "training_data", "intended_use" };

  for (guint i = 0; i < G_N_ELEMENTS (optional); i++)
    hl_test_model_file_set_meta (file, optional[i], NULL);
  model = load_both (file);
  info = hl_model_get_info (model);
  g_assert_cmpint (info->preprocess.mode, ==, HL_NORM_IMAGE);
  g_assert_cmpfloat (info->preprocess.mean[0], ==, 0.0f);
  g_assert_cmpfloat (info->preprocess.std[0], ==, 1.0f);
  for (int l = 0; l < 3; l++)
    {
      g_assert_cmpfloat (info->thresholds[l], ==, 0.5f);
      g_assert_true (isnan (info->val_auroc[l]));
    }
  g_assert_cmpstr (info->training_data, ==, "");
  g_assert_cmpstr (info->intended_use, ==, "");
}

/* torchvision's num_batches_tracked buffers (I64 scalars) are allowed and ignored. */
static void
test_load_num_batches_tracked (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  g_autoptr (HlModel) model = NULL;
  const gint64 count[] = { 1234 };

  hl_test_model_file_add_raw (file, "features.norm0.num_batches_tracked", "I64", 0, NULL, count,
                              sizeof count);
  hl_test_model_file_add_raw (file, "features.norm5.num_batches_tracked", "I64", 0, NULL, count,
                              sizeof count);
  model = load_both (file);
  g_assert_null (hl_model_get_tensor (model, "features.norm0.num_batches_tracked"));
  g_assert_cmpuint (model->tensors->len, ==, G_N_ELEMENTS (tiny_tensors));
}

static void
test_refuse_missing_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlModel) model = hl_model_new_from_file ("/nonexistent/model.safetensors", &error);

  g_assert_null (model);
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_IO);
  g_assert_true (g_str_has_prefix (error->message, "/nonexistent/model.safetensors: "));
}

static void
test_refuse_empty (void)
{
  g_autoptr (GBytes) bytes = g_bytes_new_static ("", 0);

  assert_refused_bytes (bytes, HL_ENGINE_ERROR_FORMAT, "too short");
}

static void
test_refuse_too_short (void)
{
  g_autoptr (GBytes) bytes = g_bytes_new_static ("\x02\0\0\0\0", 5);

  assert_refused_bytes (bytes, HL_ENGINE_ERROR_FORMAT, "5 bytes is too short");
}

static void
test_refuse_header_past_end (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  g_autoptr (GBytes) valid = hl_test_model_file_build (file);
  gsize size = g_bytes_get_size (valid);
  g_autofree guint8 *data = g_memdup2 (g_bytes_get_data (valid, NULL), size);
  g_autoptr (GBytes) bytes = NULL;

  /* header length = file size: 8 bytes too long */
  for (int k = 0; k < 8; k++)
    data[k] = (guint8) ((guint64) size >> (8 * k));
  bytes = g_bytes_new (data, size);
  assert_refused_bytes (bytes, HL_ENGINE_ERROR_FORMAT, "runs past the end of the file");
}

static void
test_refuse_header_absurd (void)
{
  /* 2^56 */
  g_autoptr (GBytes) bytes = g_bytes_new_static ("\0\0\0\0\0\0\0\x01{}", 10);

  assert_refused_bytes (bytes, HL_ENGINE_ERROR_FORMAT, "is absurd");
}

static void
test_refuse_header_truncated_data (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  g_autoptr (GBytes) valid = hl_test_model_file_build (file);
  g_autoptr (GBytes) bytes = g_bytes_new_from_bytes (valid, 0, g_bytes_get_size (valid) - 1);

  assert_refused_bytes (bytes, HL_ENGINE_ERROR_FORMAT, "run past the data");
}

static void
test_refuse_json_invalid (void)
{
  g_autoptr (GBytes) bytes = raw_file ("{\"__metadata__\": {\"format\": ", 0);

  assert_refused_bytes (bytes, HL_ENGINE_ERROR_FORMAT, "header is not valid JSON");
}

static void
test_refuse_json_not_object (void)
{
  g_autoptr (GBytes) bytes = raw_file ("[1, 2, 3]", 0);

  assert_refused_bytes (bytes, HL_ENGINE_ERROR_FORMAT, "header is not a JSON object");
}

static void
test_refuse_json_too_deep (void)
{
  g_autoptr (GString) json = g_string_new ("{\"x\": ");
  g_autoptr (GBytes) bytes = NULL;

  for (int i = 0; i < 100000; i++)
    g_string_append_c (json, '[');
  for (int i = 0; i < 100000; i++)
    g_string_append_c (json, ']');
  g_string_append_c (json, '}');
  bytes = raw_file (json->str, 0);
  assert_refused_bytes (bytes, HL_ENGINE_ERROR_FORMAT, "nested deeper than");
}

static void
test_refuse_metadata_missing (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");

  hl_test_model_file_set_raw_metadata (file, NULL);
  assert_refused (file, HL_ENGINE_ERROR_METADATA, "__metadata__ is missing");
}

static void
test_refuse_metadata_not_object (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");

  hl_test_model_file_set_raw_metadata (file, "[\"format\", \"hilum-densenet/1\"]");
  assert_refused (file, HL_ENGINE_ERROR_METADATA, "__metadata__ is not an object");
}

static void
test_refuse_metadata_not_string (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");

  hl_test_model_file_set_raw_metadata (file, "{\"format\": \"hilum-densenet/1\", "
                                             "\"growth_rate\": 2}");
  assert_refused (file, HL_ENGINE_ERROR_METADATA, "metadata growth_rate is not a string");
}

/* One broken header field of one tensor. */
typedef struct
{
  const char *id;
  const char *tensor;
  const char *field; /* NULL: the whole entry */
  const char *json;
  HlEngineError code;
  const char *needle;
} FieldCase;

/* In the tiny F32 file conv0 holds bytes [0, 784) and norm0.weight [784, 800). */
static const FieldCase field_cases[] = {
  { "entry-not-object", "classifier.bias", NULL, "[0, 12]", HL_ENGINE_ERROR_FORMAT,
    "classifier.bias: header entry is not an object" },
  { "dtype-missing", "classifier.bias", NULL, "{\"shape\": [3], \"data_offsets\": [0, 12]}",
    HL_ENGINE_ERROR_FORMAT, "dtype is missing or not a string" },
  { "dtype-not-string", "features.conv0.weight", "dtype", "32", HL_ENGINE_ERROR_FORMAT,
    "dtype is missing or not a string" },
  { "dtype-unknown", "features.conv0.weight", "dtype", "\"F31\"", HL_ENGINE_ERROR_FORMAT,
    "unknown dtype \"F31\"" },
  { "dtype-unsupported", "features.conv0.weight", "dtype", "\"I32\"", HL_ENGINE_ERROR_FORMAT,
    "features.conv0.weight: dtype I32 is not supported" },
  { "dtype-size-mismatch", "features.conv0.weight", "dtype", "\"F64\"", HL_ENGINE_ERROR_FORMAT,
    "data_offsets hold 784 bytes, not the size of 196 F64 values" },
  { "shape-missing", "classifier.bias", NULL, "{\"dtype\": \"F32\", \"data_offsets\": [0, 0]}",
    HL_ENGINE_ERROR_FORMAT, "shape is missing or not an array" },
  { "shape-not-array", "classifier.bias", "shape", "3", HL_ENGINE_ERROR_FORMAT,
    "shape is missing or not an array" },
  { "shape-negative", "classifier.bias", "shape", "[-3]", HL_ENGINE_ERROR_FORMAT,
    "shape is not an array of non-negative integers" },
  { "shape-float", "classifier.bias", "shape", "[3.0]", HL_ENGINE_ERROR_FORMAT,
    "shape is not an array of non-negative integers" },
  { "shape-overflow", "classifier.bias", "shape", "[4294967296, 4294967296, 4294967296]",
    HL_ENGINE_ERROR_FORMAT, "classifier.bias: shape overflows" },
  { "shape-rank", "classifier.bias", "shape", "[1, 1, 1, 1, 1, 1, 1, 1, 3]",
    HL_ENGINE_ERROR_FORMAT, "shape has 9 dimensions, more than 8" },
  { "offsets-missing", "classifier.bias", NULL, "{\"dtype\": \"F32\", \"shape\": [3]}",
    HL_ENGINE_ERROR_FORMAT, "data_offsets is not [begin, end]" },
  { "offsets-one", "features.conv0.weight", "data_offsets", "[784]", HL_ENGINE_ERROR_FORMAT,
    "data_offsets is not [begin, end]" },
  { "offsets-three", "features.conv0.weight", "data_offsets", "[0, 392, 784]",
    HL_ENGINE_ERROR_FORMAT, "data_offsets is not [begin, end]" },
  { "offsets-float", "features.conv0.weight", "data_offsets", "[0, 784.0]",
    HL_ENGINE_ERROR_FORMAT, "data_offsets is not [begin, end]" },
  { "offsets-negative", "features.conv0.weight", "data_offsets", "[-4, 780]",
    HL_ENGINE_ERROR_FORMAT, "data_offsets is not [begin, end]" },
  { "offsets-string", "features.conv0.weight", "data_offsets", "\"0-784\"",
    HL_ENGINE_ERROR_FORMAT, "data_offsets is not [begin, end]" },
  { "offsets-backwards", "features.conv0.weight", "data_offsets", "[784, 0]",
    HL_ENGINE_ERROR_FORMAT, "data_offsets [784, 0] run backwards" },
  { "offsets-past-data", "features.conv0.weight", "data_offsets", "[0, 9999999]",
    HL_ENGINE_ERROR_FORMAT, "data_offsets [0, 9999999] run past the data" },
  { "offsets-past-data-huge", "features.conv0.weight", "data_offsets",
    "[9223372036854775000, 9223372036854775807]", HL_ENGINE_ERROR_FORMAT, "run past the data" },
  { "offsets-size-mismatch", "features.conv0.weight", "data_offsets", "[0, 780]",
    HL_ENGINE_ERROR_FORMAT, "data_offsets hold 780 bytes, not the size of 196 F32 values" },
  { "offsets-overlap", "features.norm0.weight", "data_offsets", "[768, 784]",
    HL_ENGINE_ERROR_FORMAT, "tensors features.conv0.weight and features.norm0.weight overlap" },
  { "shape-wrong", "features.conv0.weight", "shape", "[1, 4, 7, 7]", HL_ENGINE_ERROR_SHAPE,
    "tensor features.conv0.weight has shape [1, 4, 7, 7] but the architecture needs "
    "[4, 1, 7, 7]" },
  { "shape-wrong-rank", "classifier.weight", "shape", "[18]", HL_ENGINE_ERROR_SHAPE,
    "tensor classifier.weight has shape [18] but the architecture needs [3, 6]" },
  { "shape-rank-5", "classifier.bias", "shape", "[3, 1, 1, 1, 1]", HL_ENGINE_ERROR_SHAPE,
    "classifier.bias has 5 dimensions" },
};

static void
test_refuse_field (gconstpointer data)
{
  const FieldCase *c = data;
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");

  hl_test_model_file_set_field (file, c->tensor, c->field, c->json);
  assert_refused (file, c->code, c->needle);
}

static void
test_refuse_tensor_missing (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");

  g_assert_true (hl_test_model_file_remove (file,
                                            "features.denseblock1.denselayer2.norm2.running_mean"));
  assert_refused (file, HL_ENGINE_ERROR_SHAPE,
                  "tensor features.denseblock1.denselayer2.norm2.running_mean is missing");
}

static void
test_refuse_tensor_unexpected (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  const gint64 shape[] = { 2 };
  const float values[] = { 1.0f, 2.0f };

  hl_test_model_file_add_floats (file, "features.denseblock1.denselayer3.norm1.weight", "F32", 1,
                                 shape, values);
  assert_refused (file, HL_ENGINE_ERROR_SHAPE,
                  "unexpected tensor features.denseblock1.denselayer3.norm1.weight");
}

/* An unexpected tensor named like a buffer but not num_batches_tracked is still refused. */
static void
test_refuse_tensor_unexpected_int (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  const gint64 count[] = { 1 };

  hl_test_model_file_add_raw (file, "features.norm0.num_batches", "I64", 0, NULL, count,
                              sizeof count);
  assert_refused (file, HL_ENGINE_ERROR_FORMAT,
                  "features.norm0.num_batches: dtype I64 is not supported");
}

/* Metadata that disagrees with the tensors: the layout follows the metadata. */
static void
test_refuse_labels_vs_classifier (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");

  hl_test_model_file_set_meta (file, "labels", "[\"a\", \"b\", \"c\", \"d\"]");
  hl_test_model_file_set_meta (file, "thresholds", NULL);
  hl_test_model_file_set_meta (file, "val_auroc", NULL);
  assert_refused (file, HL_ENGINE_ERROR_SHAPE,
                  "tensor classifier.weight has shape [3, 6] but the architecture needs [4, 6]");
}

static void
test_refuse_growth_vs_tensors (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");

  hl_test_model_file_set_meta (file, "growth_rate", "3");
  assert_refused (file, HL_ENGINE_ERROR_SHAPE,
                  "tensor features.denseblock1.denselayer1.conv1.weight has shape [4, 4, 1, 1] "
                  "but the architecture needs [6, 4, 1, 1]");
}

static void
test_refuse_blocks_vs_tensors (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");

  hl_test_model_file_set_meta (file, "block_config", "2");
  assert_refused (file, HL_ENGINE_ERROR_SHAPE, "tensor features.norm5.weight has shape [6]");
}

/* Sets element @index of tensor @name (written as @dtype) to @bits. */
static void
poke_half (HlTestModelFile *file, HlModel *model, const char *name, const char *dtype,
           guint index, guint16 bits)
{
  HlTensor *t = hl_model_get_tensor (model, name);
  g_autofree guint8 *bytes = g_malloc (t->numel * 2);

  for (gsize i = 0; i < t->numel; i++)
    {
      guint16 v = i == index ? bits
                  : strcmp (dtype, "F16") == 0 ? hl_test_float_to_f16 (t->data[i])
                                               : hl_test_float_to_bf16 (t->data[i]);

      bytes[2 * i] = (guint8) v;
      bytes[2 * i + 1] = (guint8) (v >> 8);
    }
  hl_test_model_file_add_raw (file, name, dtype, t->n_dims, t->shape, bytes, t->numel * 2);
}

static void
test_refuse_nan_f32 (void)
{
  g_autoptr (HlModel) random = tiny_random (5);
  g_autoptr (HlTestModelFile) file = NULL;
  HlTensor *t = hl_model_get_tensor (random, "features.transition1.conv.weight");

  t->data[7] = NAN;
  file = hl_test_model_file_new_from_model (random, "F32");
  assert_refused (file, HL_ENGINE_ERROR_FORMAT,
                  "tensor features.transition1.conv.weight holds a non-finite value (NaN or "
                  "infinity) at element 7");
}

static void
test_refuse_inf_f32 (void)
{
  g_autoptr (HlModel) random = tiny_random (5);
  g_autoptr (HlTestModelFile) file = NULL;

  hl_model_get_tensor (random, "classifier.bias")->data[2] = -INFINITY;
  file = hl_test_model_file_new_from_model (random, "F32");
  assert_refused (file, HL_ENGINE_ERROR_FORMAT,
                  "tensor classifier.bias holds a non-finite value (NaN or infinity) at element 2");
}

static void
test_refuse_inf_f16 (void)
{
  g_autoptr (HlModel) random = tiny_random (5);
  g_autoptr (HlTestModelFile) file = hl_test_model_file_new_from_model (random, "F16");

  poke_half (file, random, "features.norm5.bias", "F16", 4, 0x7c00);
  assert_refused (file, HL_ENGINE_ERROR_FORMAT,
                  "tensor features.norm5.bias holds a non-finite value (NaN or infinity) at "
                  "element 4");
}

static void
test_refuse_nan_bf16 (void)
{
  g_autoptr (HlModel) random = tiny_random (5);
  g_autoptr (HlTestModelFile) file = hl_test_model_file_new_from_model (random, "BF16");

  poke_half (file, random, "features.conv0.weight", "BF16", 195, 0xffc1);
  assert_refused (file, HL_ENGINE_ERROR_FORMAT,
                  "tensor features.conv0.weight holds a non-finite value (NaN or infinity) at "
                  "element 195");
}

static void
test_refuse_negative_variance (void)
{
  g_autoptr (HlModel) random = tiny_random (5);
  g_autoptr (HlTestModelFile) file = NULL;

  hl_model_get_tensor (random, "features.transition1.norm.running_var")->data[3] = -0.25f;
  file = hl_test_model_file_new_from_model (random, "F32");
  assert_refused (file, HL_ENGINE_ERROR_FORMAT,
                  "tensor features.transition1.norm.running_var holds a negative variance at "
                  "element 3");
}

/* weight / sqrt (0 + 1e-30) = 1e45 overflows float. */
static void
test_refuse_bn_overflow (void)
{
  g_autoptr (HlModel) random = tiny_random (5);
  g_autoptr (HlTestModelFile) file = NULL;

  hl_model_get_tensor (random, "features.norm0.weight")->data[0] = 1e30f;
  hl_model_get_tensor (random, "features.norm0.running_var")->data[0] = 0.0f;
  file = hl_test_model_file_new_from_model (random, "F32");
  hl_test_model_file_set_meta (file, "bn_eps", "1e-30");
  assert_refused (file, HL_ENGINE_ERROR_FORMAT, "overflows float");
}

/* One metadata key set to a bad value (NULL: removed), optionally with a second change. */
typedef struct
{
  const char *id;
  const char *key, *value;
  const char *key2, *value2;
  const char *needle;
} MetaCase;

static const MetaCase meta_cases[] = {
  { "format-missing", "format", NULL, NULL, NULL, "metadata format is missing" },
  { "format-wrong", "format", "hilum-densenet/2", NULL, NULL,
    "metadata format is \"hilum-densenet/2\", not hilum-densenet/1" },
  { "name-missing", "name", NULL, NULL, NULL, "metadata name is missing" },
  { "name-empty", "name", "", NULL, NULL, "metadata name is empty" },
  { "version-missing", "version", NULL, NULL, NULL, "metadata version is missing" },
  { "version-empty", "version", "", NULL, NULL, "metadata version is empty" },
  { "growth-rate-missing", "growth_rate", NULL, NULL, NULL, "metadata growth_rate is missing" },
  { "growth-rate-zero", "growth_rate", "0", NULL, NULL,
    "metadata growth_rate is \"0\", not an integer in 1..256" },
  { "growth-rate-high", "growth_rate", "257", NULL, NULL, "not an integer in 1..256" },
  { "growth-rate-float", "growth_rate", "2.0", NULL, NULL, "not an integer in 1..256" },
  { "growth-rate-space", "growth_rate", " 2", NULL, NULL, "not an integer in 1..256" },
  { "growth-rate-huge", "growth_rate", "99999999999999999999999", NULL, NULL,
    "not an integer in 1..256" },
  { "block-config-missing", "block_config", NULL, NULL, NULL,
    "metadata block_config is missing" },
  { "block-config-empty", "block_config", "", NULL, NULL,
    "metadata block_config is \"\", not 1..8 comma-separated layer counts in 1..128" },
  { "block-config-nine", "block_config", "1,1,1,1,1,1,1,1,1", NULL, NULL,
    "not 1..8 comma-separated" },
  { "block-config-zero", "block_config", "2,0", NULL, NULL, "not 1..8 comma-separated" },
  { "block-config-high", "block_config", "2,129", NULL, NULL, "not 1..8 comma-separated" },
  { "block-config-gap", "block_config", "2,,1", NULL, NULL, "not 1..8 comma-separated" },
  { "block-config-json", "block_config", "[2, 1]", NULL, NULL, "not 1..8 comma-separated" },
  { "num-init-features-missing", "num_init_features", NULL, NULL, NULL,
    "metadata num_init_features is missing" },
  { "num-init-features-zero", "num_init_features", "0", NULL, NULL,
    "num_init_features is \"0\", not an integer in 1..1024" },
  { "num-init-features-high", "num_init_features", "1025", NULL, NULL,
    "not an integer in 1..1024" },
  { "bn-size-missing", "bn_size", NULL, NULL, NULL, "metadata bn_size is missing" },
  { "bn-size-zero", "bn_size", "0", NULL, NULL, "bn_size is \"0\", not an integer in 1..16" },
  { "bn-size-high", "bn_size", "17", NULL, NULL, "not an integer in 1..16" },
  { "bn-eps-missing", "bn_eps", NULL, NULL, NULL, "metadata bn_eps is missing" },
  { "bn-eps-zero", "bn_eps", "0", NULL, NULL, "bn_eps is \"0\", not a number in (0, 0.1]" },
  { "bn-eps-negative", "bn_eps", "-1e-05", NULL, NULL, "not a number in (0, 0.1]" },
  { "bn-eps-high", "bn_eps", "0.2", NULL, NULL, "not a number in (0, 0.1]" },
  { "bn-eps-underflow", "bn_eps", "1e-50", NULL, NULL, "not a number in (0, 0.1]" },
  { "bn-eps-nan", "bn_eps", "nan", NULL, NULL, "not a number in (0, 0.1]" },
  { "bn-eps-junk", "bn_eps", "1e-5x", NULL, NULL, "not a number in (0, 0.1]" },
  { "bn-eps-empty", "bn_eps", "", NULL, NULL, "not a number in (0, 0.1]" },
  { "input-size-missing", "input_size", NULL, NULL, NULL, "metadata input_size is missing" },
  { "input-size-low", "input_size", "31", NULL, NULL,
    "input_size is \"31\", not an integer in 32..1024" },
  { "input-size-high", "input_size", "1025", NULL, NULL, "not an integer in 32..1024" },
  { "input-channels-missing", "input_channels", NULL, NULL, NULL,
    "metadata input_channels is missing" },
  { "input-channels-two", "input_channels", "2", NULL, NULL,
    "metadata input_channels is \"2\", not one of 1, 3" },
  { "input-channels-word", "input_channels", "gray", NULL, NULL,
    "metadata input_channels is \"gray\", not one of 1, 3" },
  { "labels-missing", "labels", NULL, NULL, NULL, "metadata labels is missing" },
  { "labels-not-json", "labels", "a, b, c", NULL, NULL, "metadata labels is not valid JSON" },
  { "labels-not-array", "labels", "{\"a\": 1}", NULL, NULL,
    "metadata labels is not a JSON array" },
  { "labels-empty", "labels", "[]", NULL, NULL, "metadata labels has 0 names, not 1..1000" },
  { "labels-number", "labels", "[\"a\", 2, \"c\"]", NULL, NULL,
    "metadata labels[1] is not a non-empty string" },
  { "labels-empty-name", "labels", "[\"a\", \"b\", \"\"]", NULL, NULL,
    "metadata labels[2] is not a non-empty string" },
  { "labels-duplicate", "labels", "[\"a\", \"b\", \"a\"]", NULL, NULL,
    "metadata labels names \"a\" twice" },
  { "labels-too-deep", "labels", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                                 "[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                                 "]]]]]]]]]]]]]]]]", NULL, NULL, "nested deeper than 64" },
  { "resize-missing", "preprocess_resize", NULL, NULL, NULL,
    "metadata preprocess_resize is missing" },
  { "resize-unknown", "preprocess_resize", "lanczos", NULL, NULL,
    "metadata preprocess_resize is \"lanczos\", not one of bilinear, bilinear-antialias, "
    "pil-bilinear, nearest, skimage" },
  { "resize-pil-without-quantize", "preprocess_resize", "pil-bilinear", NULL, NULL,
    "pil-bilinear works on 8-bit values and needs preprocess_quantize" },
  { "quantize-unknown", "preprocess_quantize", "16", NULL, NULL,
    "metadata preprocess_quantize is \"16\", not one of 8" },
  { "crop-unknown", "preprocess_crop", "random", NULL, NULL,
    "metadata preprocess_crop is \"random\", not one of none, center" },
  { "range-unknown", "preprocess_range", "[0, 100]", NULL, NULL,
    "metadata preprocess_range is [0, 100], not one of [0, 1], [0, 255], [-1024, 1024]" },
  { "range-not-pair", "preprocess_range", "[0]", NULL, NULL, "preprocess_range" },
  { "calibration-unknown", "output_calibration", "softmax", NULL, NULL,
    "metadata output_calibration is \"softmax\", not one of sigmoid, op-norm" },
  { "op-norm-without-thresholds", "output_calibration", "op-norm", NULL, NULL,
    "metadata op_thresholds is missing" },
  { "op-thresholds-without-op-norm", "op_thresholds", "[0.5, 0.5, 0.5]", NULL, NULL,
    "op_thresholds is given but output_calibration is not op-norm" },
  { "mode-missing", "preprocess_mode", NULL, NULL, NULL, "metadata preprocess_mode is missing" },
  { "mode-unknown", "preprocess_mode", "zscore", NULL, NULL,
    "preprocess_mode is \"zscore\", not one of channel, image, none" },
  { "mean-missing-channel-mode", "preprocess_mode", "channel", "preprocess_mean", NULL,
    "metadata preprocess_mean is missing" },
  { "std-missing-channel-mode", "preprocess_mode", "channel", "preprocess_std", NULL,
    "metadata preprocess_std is missing" },
  { "mean-length", "preprocess_mean", "[0.5, 0.5, 0.5]", NULL, NULL,
    "metadata preprocess_mean is not a JSON array of 1 finite numbers" },
  { "mean-string", "preprocess_mean", "[\"0.5\"]", NULL, NULL,
    "preprocess_mean is not a JSON array of 1 finite numbers" },
  { "mean-infinite", "preprocess_mean", "[1e999]", NULL, NULL,
    "preprocess_mean is not a JSON array of 1 finite numbers" },
  { "std-zero", "preprocess_std", "[0]", NULL, NULL,
    "metadata preprocess_std is not a JSON array of 1 numbers > 0" },
  { "std-negative-channel-mode", "preprocess_mode", "channel", "preprocess_std", "[-0.2]",
    "preprocess_std is not a JSON array of 1 numbers > 0" },
  { "thresholds-length", "thresholds", "[0.5, 0.5]", NULL, NULL,
    "metadata thresholds is not a JSON array of 3 numbers in (0, 1)" },
  { "thresholds-zero", "thresholds", "[0.5, 0, 0.5]", NULL, NULL,
    "thresholds is not a JSON array of 3 numbers in (0, 1)" },
  { "thresholds-one", "thresholds", "[0.5, 1, 0.5]", NULL, NULL,
    "thresholds is not a JSON array of 3 numbers in (0, 1)" },
  { "thresholds-null", "thresholds", "[0.5, null, 0.5]", NULL, NULL,
    "thresholds is not a JSON array of 3 numbers in (0, 1)" },
  { "thresholds-not-json", "thresholds", "0.5", NULL, NULL,
    "metadata thresholds is not a JSON array" },
  { "val-auroc-high", "val_auroc", "[0.5, 1.01, null]", NULL, NULL,
    "metadata val_auroc is not a JSON array of 3 numbers in [0, 1] or null" },
  { "val-auroc-negative", "val_auroc", "[-0.1, 0.5, 0.5]", NULL, NULL,
    "val_auroc is not a JSON array of 3 numbers in [0, 1] or null" },
  { "val-auroc-length", "val_auroc", "[null]", NULL, NULL,
    "val_auroc is not a JSON array of 3 numbers in [0, 1] or null" },
};

static void
test_refuse_meta (gconstpointer data)
{
  const MetaCase *c = data;
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");

  hl_test_model_file_set_meta (file, c->key, c->value);
  if (c->key2 != NULL)
    hl_test_model_file_set_meta (file, c->key2, c->value2);
  assert_refused (file, HL_ENGINE_ERROR_METADATA, c->needle);
}

/* More than 1000 labels. */
static void
test_refuse_meta_labels_many (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  g_autoptr (GString) labels = g_string_new ("[");

  for (int l = 0; l < 1001; l++)
    g_string_append_printf (labels, "%s\"l%d\"", l ? ", " : "", l);
  g_string_append_c (labels, ']');
  hl_test_model_file_set_meta (file, "labels", labels->str);
  assert_refused (file, HL_ENGINE_ERROR_METADATA, "metadata labels has 1001 names, not 1..1000");
}

/* Metadata and the README limits: the largest values in range are accepted. */
static void
test_load_metadata_limits (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  g_autoptr (HlModel) model = NULL;

  hl_test_model_file_set_meta (file, "bn_eps", "0.1");
  hl_test_model_file_set_meta (file, "input_size", "1024");
  hl_test_model_file_set_meta (file, "val_auroc", "[0, 1, null]");
  hl_test_model_file_set_meta (file, "thresholds", "[1e-9, 0.999999, 0.5]");
  model = load_both (file);
  g_assert_cmpfloat (hl_model_get_info (model)->arch.bn_eps, ==, 0.1f);
  g_assert_cmpfloat (hl_model_get_info (model)->val_auroc[1], ==, 1.0f);
  g_assert_cmpint (hl_model_get_info (model)->input_size, ==, 1024);
}

/* hl_model_analyze on a batch of two planes of different sizes gives, image by image, exactly
 * (bit for bit) what preprocess + a forward pass of one + hl_forward_gradcam give; without
 * Grad-CAM, no maps. */
static void
test_analyze_batch (void)
{
  g_autoptr (HlModel) model = tiny_random (9);
  g_autoptr (GError) error = NULL;
  const int sizes[2][2] = { { 40, 29 }, { 17, 52 } }; /* height, width */
  g_autofree float *pixels0 = NULL, *pixels1 = NULL;
  float **pixels[2] = { &pixels0, &pixels1 };
  HlGrayPlane planes[2];
  GRand *rand = g_rand_new_with_seed (3);

  for (int i = 0; i < 2; i++)
    {
      gsize n_px = (gsize) sizes[i][0] * sizes[i][1];
      float *plane = *pixels[i] = g_new (float, n_px); /* (height, width) */
      for (gsize p = 0; p < n_px; p++)
        plane[p] = (float) g_rand_double (rand);
      planes[i] = (HlGrayPlane){ plane, sizes[i][1], sizes[i][0] };
    }
  g_rand_free (rand);

  g_autoptr (HlAnalysis) a = hl_model_analyze (model, planes, 2, TRUE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (a->n, ==, 2);
  int n_labels = a->n_labels;
  gsize per_image = (gsize) n_labels * a->map_h * a->map_w;
  for (int i = 0; i < 2; i++)
    {
      g_autofree float *input = g_new (float, hl_model_input_size (model));
      hl_model_preprocess (model, planes[i].pixels, planes[i].height, planes[i].width, input);
      g_autoptr (HlForward) fwd = hl_model_forward (model, input, 1, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (fwd->n_labels, ==, n_labels);
      g_assert_cmpint (fwd->h_feat, ==, a->map_h);
      g_assert_cmpint (fwd->w_feat, ==, a->map_w);
      g_autofree float *maps = g_new (float, per_image); /* (n_labels, h_feat, w_feat) */
      hl_forward_gradcam (model, fwd, 0, maps);
      /* Bit for bit: hl_model_forward() runs forward_image() on each image of a batch in turn,
       * with the same workspace layout and kernels, and every kernel's split of its work
       * (hl_sgemm's blocks, hl_parallel_for's chunks, OpenBLAS's packing) depends on the layer's
       * shape and the thread count only, never on the batch or on where the image lies, and no
       * chunk sums into another's output: each value is the same sequence of roundings. */
      g_assert_cmpmem (a->probs + (gsize) i * n_labels, n_labels * sizeof (float), fwd->probs,
                       n_labels * sizeof (float));
      g_assert_cmpmem (a->maps + per_image * i, per_image * sizeof (float), maps,
                       per_image * sizeof (float));
    }

  g_autoptr (HlAnalysis) scores_only
      = hl_model_analyze (model, planes, 1, FALSE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (scores_only->maps);
  g_assert_cmpmem (scores_only->probs, n_labels * sizeof (float), a->probs,
                   n_labels * sizeof (float));

  g_autoptr (GCancellable) cancelled = g_cancellable_new ();
  g_cancellable_cancel (cancelled);
  g_autoptr (HlAnalysis) none
      = hl_model_analyze (model, planes, 2, TRUE, NULL, NULL, cancelled, &error);
  g_assert_null (none);
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_CANCELLED);
}

/* ---- limits: header size, duplicate keys, architecture cost ---- */

/* Sets @info to a DenseNet of @growth, @init features and blocks @blocks (0-terminated) at
 * @size x @size x 3 with 1000 labels, torchvision's bn_size 4. */
static void
densenet_info (HlModelInfo *info, int growth, int init, const int *blocks, int size)
{
  densenet121_info (info, 1000);
  info->arch.growth_rate = growth;
  info->arch.num_init_features = init;
  for (info->arch.n_blocks = 0; blocks[info->arch.n_blocks] != 0; info->arch.n_blocks++)
    info->arch.block_config[info->arch.n_blocks] = blocks[info->arch.n_blocks];
  info->input_size = size;
}

static double
cost_mib (const HlModelInfo *info)
{
  HlModelCost cost;

  hl_model_cost (info, &cost);
  return (double) (cost.weight_floats + cost.work_floats) * sizeof (float) / (1 << 20);
}

/* The cost's counts are the layout's: a random model has as many tensors and an arena of that
 * size (plus its BatchNorm scale/shift pairs: 2 aligned vectors per BatchNorm). */
static void
test_cost_matches_layout (void)
{
  HlModelInfo infos[2];
  HlModelCost cost;

  hl_test_tiny_info (&infos[0]);
  densenet121_info (&infos[1], 14);
  for (guint i = 0; i < G_N_ELEMENTS (infos); i++)
    {
      g_autoptr (HlModel) model = hl_model_new_random (&infos[i], 1);
      gsize bn_floats = 0;

      hl_model_cost (&infos[i], &cost);
      g_assert_cmpuint (cost.n_tensors, ==, model->tensors->len);
      for (guint t = 0; t < model->tensors->len; t++)
        {
          HlTensor *tensor = g_ptr_array_index (model->tensors, t);

          if (g_str_has_suffix (tensor->name, ".running_var"))
            bn_floats += 2 * ((tensor->numel + 15) / 16 * 16);
        }
      g_assert_cmpuint (cost.n_batchnorms * 4, ==, cost.n_tensors - 3 - (gsize) 2
                        * (infos[i].arch.block_config[0] + infos[i].arch.block_config[1]
                           + infos[i].arch.block_config[2] + infos[i].arch.block_config[3])
                        - (gsize) (infos[i].arch.n_blocks - 1));
      g_assert_cmpuint (cost.weight_floats, ==, model->arena_floats + bn_floats);
      /* at least the two largest activations: the stem's output and block 1's concatenation */
      g_assert_cmpuint (cost.work_floats, >, (gsize) model->conv0.c_out * 4
                        * (infos[i].input_size / 4) * (infos[i].input_size / 4));
    }
}

/* The largest architecture the metadata table allows fits the header limits: every tensor and
 * num_batches_tracked entry, at 14 JSON values each, and 64 metadata keys. */
static void
test_cost_largest_header (void)
{
  static const int blocks[] = { 128, 128, 128, 128, 128, 128, 128, 128, 0 };
  HlModelInfo info;
  HlModelCost cost;

  densenet_info (&info, 256, 1024, blocks, 1024);
  info.arch.bn_size = 16;
  hl_model_cost (&info, &cost);
  g_test_message ("largest architecture: %" G_GSIZE_FORMAT " tensors, %" G_GSIZE_FORMAT
                  " BatchNorms, %.0f MiB", cost.n_tensors, cost.n_batchnorms, cost_mib (&info));
  g_assert_cmpuint (cost.n_tensors, ==, 1 + 4 + 8 * 128 * 10 + 7 * 5 + 4 + 2);
  g_assert_cmpuint (cost.n_batchnorms, ==, 1 + 8 * 128 * 2 + 7 + 1);
  g_assert_cmpuint (cost.n_tensors + cost.n_batchnorms, <=, HL_SAFETENSORS_MAX_ENTRIES);
  g_assert_cmpuint ((cost.n_tensors + cost.n_batchnorms) * 14 + 1 + 2 * 64, <=,
                    HL_SAFETENSORS_MAX_VALUES);
  g_assert_cmpfloat (cost_mib (&info), >, HL_MODEL_MAX_BYTES >> 20);
}

/* Every published DenseNet loads at every input size up to 1024; the cap refuses an
 * architecture with a few thousand parameters whose activations alone take 1.7 GiB. */
static void
test_cost_published (void)
{
  static const struct
  {
    const char *name;
    int growth, init, blocks[5];
  } nets[] = {
    { "densenet121", 32, 64, { 6, 12, 24, 16, 0 } },
    { "densenet161", 48, 96, { 6, 12, 36, 24, 0 } },
    { "densenet169", 32, 64, { 6, 12, 32, 32, 0 } },
    { "densenet201", 32, 64, { 6, 12, 48, 32, 0 } },
  };
  static const int wide_blocks[] = { 1, 0 };
  HlModelInfo info;

  for (guint i = 0; i < G_N_ELEMENTS (nets); i++)
    for (int size = 224; size <= 1024; size *= 2)
      {
        densenet_info (&info, nets[i].growth, nets[i].init, nets[i].blocks, size == 896 ? 1024
                                                                                       : size);
        g_test_message ("%s at %d: %.1f MiB", nets[i].name, info.input_size, cost_mib (&info));
        g_assert_cmpfloat (cost_mib (&info), <=, HL_MODEL_MAX_BYTES >> 20);
      }
  densenet_info (&info, 1, 1024, wide_blocks, 1024);
  info.arch.bn_size = 1;
  g_test_message ("growth 1, blocks 1, 1024 features at 1024: %.1f MiB", cost_mib (&info));
  g_assert_cmpfloat (cost_mib (&info), >, HL_MODEL_MAX_BYTES >> 20);
}

/* A small file whose architecture needs more than the cap is refused from its metadata, before
 * its tensors are looked at. */
static void
test_refuse_architecture_too_large (void)
{
  HlModelInfo info;
  g_autoptr (HlModel) wide = NULL;
  g_autoptr (HlTestModelFile) file = NULL;
  g_autoptr (HlTestModelFile) huge = tiny_file ("F32");

  hl_test_tiny_info (&info);
  info.arch.growth_rate = 1;
  info.arch.n_blocks = 1;
  info.arch.block_config[0] = 1;
  info.arch.num_init_features = 1024;
  info.arch.bn_size = 1;
  info.input_size = 1024;
  info.input_channels = 3;
  for (int c = 0; c < 3; c++)
    info.preprocess.std[c] = 1.0f;
  wide = hl_model_new_random (&info, 3);
  file = hl_test_model_file_new_from_model (wide, "F16");
  assert_refused (file, HL_ENGINE_ERROR_METADATA, "more than the limit of 1536 MiB");

  /* growth 256, 8 blocks of 128: the tiny file's tensors never get looked at */
  hl_test_model_file_set_meta (huge, "growth_rate", "256");
  hl_test_model_file_set_meta (huge, "block_config", "128,128,128,128,128,128,128,128");
  hl_test_model_file_set_meta (huge, "input_size", "1024");
  assert_refused (huge, HL_ENGINE_ERROR_METADATA, "at input_size 1024, more than the limit");
}

/* A header padded with spaces to exactly HL_SAFETENSORS_MAX_HEADER bytes loads; one byte more is
 * refused before the JSON is read. */
static void
test_header_length_limit (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  g_autoptr (GBytes) valid = hl_test_model_file_build (file);
  gsize size = g_bytes_get_size (valid);
  const guint8 *p = g_bytes_get_data (valid, NULL);
  guint64 header_len = 0;

  for (int i = 7; i >= 0; i--)
    header_len = header_len << 8 | p[i];
  for (gsize pad = 0; pad <= 1; pad++)
    {
      gsize new_len = HL_SAFETENSORS_MAX_HEADER + pad;
      g_autoptr (GByteArray) out = g_byte_array_sized_new (size + new_len);
      g_autoptr (GBytes) bytes = NULL;
      guint8 len_bytes[8];

      for (int k = 0; k < 8; k++)
        len_bytes[k] = (guint8) ((guint64) new_len >> (8 * k));
      g_byte_array_append (out, len_bytes, 8);
      g_byte_array_append (out, p + 8, header_len);
      g_byte_array_set_size (out, 8 + new_len);
      memset (out->data + 8 + header_len, ' ', new_len - header_len);
      g_byte_array_append (out, p + 8 + header_len, size - 8 - header_len);
      bytes = g_byte_array_free_to_bytes (g_steal_pointer (&out));
      if (pad == 0)
        {
          g_autoptr (GError) error = NULL;
          g_autoptr (HlModel) model = hl_model_new_from_data (g_bytes_get_data (bytes, NULL),
                                                              g_bytes_get_size (bytes), ORIGIN,
                                                              &error);
          g_assert_no_error (error);
        }
      else
        assert_refused_bytes (bytes, HL_ENGINE_ERROR_FORMAT, "is absurd (limit 8388608 bytes)");
    }
}

/* More top-level entries than the largest architecture can have: counted on the text. */
static void
test_refuse_header_entries (void)
{
  g_autoptr (GString) json = g_string_new ("{");
  g_autoptr (GBytes) bytes = NULL;

  for (int i = 0; i < HL_SAFETENSORS_MAX_ENTRIES + 2; i++)
    g_string_append_printf (json, "%s\"t%d\": {}", i ? ", " : "", i);
  g_string_append_c (json, '}');
  bytes = raw_file (json->str, 0);
  assert_refused_bytes (bytes, HL_ENGINE_ERROR_FORMAT, "header has 16386 entries, more than 16385");
}

/* Few entries but more JSON values than any header needs (a shape of 300,000 dimensions, escaped
 * quotes in a string are not values). */
static void
test_refuse_header_values (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  g_autoptr (GString) shape = g_string_new ("[");

  for (int i = 0; i < 300000; i++)
    g_string_append (shape, i ? ",1" : "1");
  g_string_append_c (shape, ']');
  hl_test_model_file_set_field (file, "features.conv0.weight", "shape", shape->str);
  hl_test_model_file_set_meta (file, "training_data", "\"quoted\" [not, values]");
  assert_refused (file, HL_ENGINE_ERROR_FORMAT, "JSON values, more than 262144");
}

typedef struct
{
  const char *id;
  const char *member;   /* appended to the header, NULL: none */
  const char *metadata; /* replaces __metadata__, NULL: the tiny file's */
  const char *entry;    /* replaces conv0's entry, NULL: the real one */
  HlEngineError code;
  const char *needle;
} DuplicateCase;

#define TINY_META "\"format\": \"hilum-densenet/1\", \"name\": \"tiny\", \"version\": \"1\", " \
  "\"growth_rate\": \"2\", \"block_config\": \"2,1\", \"num_init_features\": \"4\", " \
  "\"bn_size\": \"2\", \"bn_eps\": \"1e-05\", \"input_size\": \"32\", \"input_channels\": \"1\", " \
  "\"labels\": \"[\\\"a\\\", \\\"b\\\", \\\"c\\\"]\", \"preprocess_resize\": \"bilinear\", " \
  "\"preprocess_mode\": \"image\""

static const DuplicateCase duplicate_cases[] = {
  { "tensor", "\"features.conv0.weight\": {\"dtype\": \"F32\", \"shape\": [4, 1, 7, 7], "
              "\"data_offsets\": [0, 784]}", NULL, NULL, HL_ENGINE_ERROR_FORMAT,
    "header names \"features.conv0.weight\" twice" },
  { "tensor-escaped", "\"features.conv0.w\\u0065ight\": {\"dtype\": \"F32\", \"shape\": [4, 1, 7, "
                      "7], \"data_offsets\": [0, 784]}", NULL, NULL, HL_ENGINE_ERROR_FORMAT,
    "header names \"features.conv0.weight\" twice" },
  { "metadata", "\"__metadata__\": {" TINY_META "}", NULL, NULL, HL_ENGINE_ERROR_FORMAT,
    "header names \"__metadata__\" twice" },
  { "metadata-key", NULL, "{" TINY_META ", \"growth_rate\": \"2\"}", NULL,
    HL_ENGINE_ERROR_METADATA, "__metadata__ names \"growth_rate\" twice" },
  { "metadata-key-escaped", NULL, "{" TINY_META ", \"ab\": \"1\", \"a\\u0062\": \"2\"}", NULL,
    HL_ENGINE_ERROR_METADATA, "__metadata__ names \"ab\" twice" },
  { "entry-field", NULL, NULL, "{\"dtype\": \"F32\", \"shape\": [4, 1, 7, 7], \"dtype\": \"F16\", "
                               "\"data_offsets\": [0, 784]}", HL_ENGINE_ERROR_FORMAT,
    "tensor features.conv0.weight: header entry names \"dtype\" twice" },
  { "nested", NULL, NULL, "{\"dtype\": \"F32\", \"shape\": [4, 1, 7, 7], \"x\": [{\"k\": 1, "
                          "\"\\u006b\": 2}], \"data_offsets\": [0, 784]}", HL_ENGINE_ERROR_FORMAT,
    "header names \"k\" twice in a nested object" },
  { "metadata-json", NULL, "{" TINY_META ", \"thresholds\": \"[0.5, {\\\"k\\\": 1, \\\"k\\\": 2}]\"}",
    NULL, HL_ENGINE_ERROR_METADATA, "metadata thresholds names key \"k\" twice in one object" },
};

static void
test_refuse_duplicate (gconstpointer data)
{
  const DuplicateCase *c = data;
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");

  if (c->member != NULL)
    hl_test_model_file_add_raw_member (file, c->member);
  if (c->metadata != NULL)
    hl_test_model_file_set_raw_metadata (file, c->metadata);
  if (c->entry != NULL)
    hl_test_model_file_set_field (file, "features.conv0.weight", NULL, c->entry);
  assert_refused (file, c->code, c->needle);
}

/* Keys that only look alike are distinct: "ab", "aB", "a\u0063", "a\\u0062" (a backslash). */
static void
test_load_similar_keys (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  g_autoptr (HlModel) model = NULL;

  hl_test_model_file_set_raw_metadata (file, "{" TINY_META ", \"ab\": \"1\", \"aB\": \"2\", "
                                       "\"a\\u0063\": \"3\", \"a\\\\u0062\": \"4\"}");
  model = load_both (file);
  g_assert_cmpstr (hl_model_get_info (model)->name, ==, "tiny");
}

/* An unexpected tensor claiming 2^39 F16 values (a 1 TiB hole in a sparse file) is refused
 * without allocating its 2 TiB float32 copy (which used to abort in g_aligned_alloc). */
static void
test_refuse_unexpected_huge_tensor (void)
{
  g_autoptr (HlTestModelFile) file = tiny_file ("F32");
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HlModel) model = NULL;
  g_autofree char *path = NULL;
  g_autofree char *member = NULL;
  const guint64 n = G_GUINT64_CONSTANT (1) << 39;
  gsize data_size = 0;
  int fd;

  if (sizeof (gsize) < 8)
    {
      g_test_skip ("needs a 64-bit address space to map the file");
      return;
    }
  bytes = hl_test_model_file_build (file);
  /* the tiny file's data section: every tensor's bytes, F32 */
  for (guint i = 0; i < G_N_ELEMENTS (tiny_tensors); i++)
    {
      gsize numel = 1;

      for (int d = 0; d < tiny_tensors[i].n_dims; d++)
        numel *= (gsize) tiny_tensors[i].shape[d];
      data_size += 4 * numel;
    }
  member = g_strdup_printf ("\"zz\": {\"dtype\": \"F16\", \"shape\": [%" G_GUINT64_FORMAT "], "
                            "\"data_offsets\": [%" G_GSIZE_FORMAT ", %" G_GUINT64_FORMAT "]}", n,
                            data_size, data_size + 2 * n);
  hl_test_model_file_add_raw_member (file, member);
  g_clear_pointer (&bytes, g_bytes_unref);
  bytes = hl_test_model_file_build (file);
  path = write_temp (bytes);
  fd = g_open (path, O_RDWR, 0);
  g_assert_cmpint (fd, >=, 0);
  if (ftruncate (fd, (off_t) (g_bytes_get_size (bytes) + 2 * n)) != 0)
    {
      g_close (fd, NULL);
      g_unlink (path);
      g_test_skip ("the temporary folder cannot hold a 1 TiB sparse file");
      return;
    }
  g_close (fd, NULL);
  model = hl_model_new_from_file (path, &error);
  g_unlink (path);
  g_assert_null (model);
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_SHAPE);
  g_assert_nonnull (strstr (error->message, "unexpected tensor zz"));
}

/* ---- the default model ---------------------------------------------------------------------- */

/* hl_model_find_in() takes the first regular file; folders and missing paths are passed over,
 * and when nothing is found the error names every candidate. */
static void
test_default_find_in (void)
{
  g_autofree char *dir = g_dir_make_tmp ("hl-model-default-XXXXXX", NULL);
  g_assert_nonnull (dir);
  g_autofree char *missing = g_build_filename (dir, "missing.safetensors", NULL);
  g_autofree char *folder = g_build_filename (dir, "folder.safetensors", NULL);
  g_autofree char *file = g_build_filename (dir, "model.safetensors", NULL);
  g_assert_cmpint (g_mkdir (folder, 0755), ==, 0);
  g_assert_true (g_file_set_contents (file, "x", 1, NULL));

  const char *const list[] = { missing, folder, file, NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *found = hl_model_find_in (list, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (found, ==, file);

  const char *const none[] = { missing, folder, NULL };
  g_autofree char *not_found = hl_model_find_in (none, &error);
  g_assert_null (not_found);
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_assert_nonnull (strstr (error->message, folder));
  g_assert_nonnull (strstr (error->message, "--model"));
  g_assert_nonnull (strstr (error->message, "HILUM_MODEL"));

  g_assert_cmpint (g_remove (file), ==, 0);
  g_assert_cmpint (g_rmdir (folder), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* HILUM_MODEL wins, as given; else the folders of HILUM_MODEL_DIRS in order; else the compiled
 * list (the source tree's data/models, then the installed one). */
static void
test_default_lookup_order (void)
{
  g_autofree char *first = g_dir_make_tmp ("hl-model-dirs-XXXXXX", NULL);
  g_autofree char *second = g_dir_make_tmp ("hl-model-dirs-XXXXXX", NULL);
  g_autofree char *model = g_build_filename (second, HL_DEFAULT_MODEL_FILE, NULL);
  g_assert_true (g_file_set_contents (model, "x", 1, NULL));
  g_autoptr (GError) error = NULL;

  g_setenv ("HILUM_MODEL", "/no/such/model.safetensors", TRUE);
  g_autofree char *from_env = hl_model_find_default (&error);
  g_assert_no_error (error);
  g_assert_cmpstr (from_env, ==, "/no/such/model.safetensors");

  g_setenv ("HILUM_MODEL", "", TRUE);
  g_autofree char *dirs = g_strjoin (G_SEARCHPATH_SEPARATOR_S, first, second, NULL);
  g_setenv ("HILUM_MODEL_DIRS", dirs, TRUE);
  g_auto (GStrv) candidates = hl_model_default_candidates ();
  g_assert_cmpuint (g_strv_length (candidates), ==, 2);
  g_autofree char *in_first = g_build_filename (first, HL_DEFAULT_MODEL_FILE, NULL);
  g_assert_cmpstr (candidates[0], ==, in_first);
  g_assert_cmpstr (candidates[1], ==, model);
  g_autofree char *found = hl_model_find_default (&error);
  g_assert_no_error (error);
  g_assert_cmpstr (found, ==, model);

  g_assert_cmpint (g_remove (model), ==, 0);
  g_autofree char *none = hl_model_find_default (&error);
  g_assert_null (none);
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, in_first));
  g_assert_nonnull (strstr (error->message, model));
  g_clear_error (&error);

  g_unsetenv ("HILUM_MODEL_DIRS");
  g_unsetenv ("HILUM_MODEL");
  g_auto (GStrv) compiled = hl_model_default_candidates ();
  g_assert_cmpuint (g_strv_length (compiled), ==, 2);
  g_assert_true (g_str_has_suffix (compiled[0], G_DIR_SEPARATOR_S "data" G_DIR_SEPARATOR_S
                                   "models" G_DIR_SEPARATOR_S HL_DEFAULT_MODEL_FILE));
  g_assert_true (g_str_has_suffix (compiled[1], G_DIR_SEPARATOR_S "hilum" G_DIR_SEPARATOR_S
                                   "models" G_DIR_SEPARATOR_S HL_DEFAULT_MODEL_FILE));

  g_assert_cmpint (g_rmdir (first), ==, 0);
  g_assert_cmpint (g_rmdir (second), ==, 0);
}

static void
test_default_card_path (void)
{
  g_autofree char *card = hl_model_card_path ("/m/hilum-densenet121-nih.safetensors");
  g_assert_cmpstr (card, ==, "/m/hilum-densenet121-nih.md");
  g_autofree char *other = hl_model_card_path ("model.bin");
  g_assert_cmpstr (other, ==, "model.bin.md");
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

  g_test_add_func ("/engine/model/convert/f16", test_convert_f16);
  g_test_add_func ("/engine/model/convert/bf16", test_convert_bf16);
  g_test_add_func ("/engine/model/load/round-trip-f32", test_load_round_trip_f32);
  g_test_add_func ("/engine/model/load/round-trip-f16", test_load_round_trip_f16);
  g_test_add_func ("/engine/model/load/round-trip-bf16", test_load_round_trip_bf16);
  g_test_add_func ("/engine/model/load/mixed-order", test_load_mixed_order);
  g_test_add_func ("/engine/model/load/f16-exact", test_load_f16_exact);
  g_test_add_func ("/engine/model/load/bf16-exact", test_load_bf16_exact);
  g_test_add_func ("/engine/model/load/metadata-full", test_load_metadata_full);
  g_test_add_func ("/engine/model/load/metadata-defaults", test_load_metadata_defaults);
  g_test_add_func ("/engine/model/load/metadata-limits", test_load_metadata_limits);
  g_test_add_func ("/engine/model/load/num-batches-tracked", test_load_num_batches_tracked);

  g_test_add_func ("/engine/model/refuse/missing-file", test_refuse_missing_file);
  g_test_add_func ("/engine/model/refuse/empty", test_refuse_empty);
  g_test_add_func ("/engine/model/refuse/too-short", test_refuse_too_short);
  g_test_add_func ("/engine/model/refuse/header-past-end", test_refuse_header_past_end);
  g_test_add_func ("/engine/model/refuse/header-absurd", test_refuse_header_absurd);
  g_test_add_func ("/engine/model/refuse/truncated-data", test_refuse_header_truncated_data);
  g_test_add_func ("/engine/model/refuse/json-invalid", test_refuse_json_invalid);
  g_test_add_func ("/engine/model/refuse/json-not-object", test_refuse_json_not_object);
  g_test_add_func ("/engine/model/refuse/json-too-deep", test_refuse_json_too_deep);
  g_test_add_func ("/engine/model/refuse/metadata-missing", test_refuse_metadata_missing);
  g_test_add_func ("/engine/model/refuse/metadata-not-object", test_refuse_metadata_not_object);
  g_test_add_func ("/engine/model/refuse/metadata-not-string", test_refuse_metadata_not_string);
  for (guint i = 0; i < G_N_ELEMENTS (field_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/model/refuse/%s", field_cases[i].id);

      g_test_add_data_func (path, &field_cases[i], test_refuse_field);
    }
  g_test_add_func ("/engine/model/refuse/tensor-missing", test_refuse_tensor_missing);
  g_test_add_func ("/engine/model/refuse/tensor-unexpected", test_refuse_tensor_unexpected);
  g_test_add_func ("/engine/model/refuse/tensor-unexpected-int",
                   test_refuse_tensor_unexpected_int);
  g_test_add_func ("/engine/model/refuse/labels-vs-classifier", test_refuse_labels_vs_classifier);
  g_test_add_func ("/engine/model/refuse/growth-vs-tensors", test_refuse_growth_vs_tensors);
  g_test_add_func ("/engine/model/refuse/blocks-vs-tensors", test_refuse_blocks_vs_tensors);
  g_test_add_func ("/engine/model/analyze/batch", test_analyze_batch);
  g_test_add_func ("/engine/model/refuse/nan-f32", test_refuse_nan_f32);
  g_test_add_func ("/engine/model/refuse/inf-f32", test_refuse_inf_f32);
  g_test_add_func ("/engine/model/default/find-in", test_default_find_in);
  g_test_add_func ("/engine/model/default/lookup-order", test_default_lookup_order);
  g_test_add_func ("/engine/model/default/card-path", test_default_card_path);
  g_test_add_func ("/engine/model/refuse/inf-f16", test_refuse_inf_f16);
  g_test_add_func ("/engine/model/refuse/nan-bf16", test_refuse_nan_bf16);
  g_test_add_func ("/engine/model/refuse/negative-variance", test_refuse_negative_variance);
  g_test_add_func ("/engine/model/refuse/bn-overflow", test_refuse_bn_overflow);
  for (guint i = 0; i < G_N_ELEMENTS (meta_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/model/refuse/metadata/%s",
                                               meta_cases[i].id);

      g_test_add_data_func (path, &meta_cases[i], test_refuse_meta);
    }
  g_test_add_func ("/engine/model/refuse/metadata/labels-many", test_refuse_meta_labels_many);
  g_test_add_func ("/engine/model/limits/cost-matches-layout", test_cost_matches_layout);
  g_test_add_func ("/engine/model/limits/largest-header", test_cost_largest_header);
  g_test_add_func ("/engine/model/limits/published-densenets", test_cost_published);
  g_test_add_func ("/engine/model/limits/header-length", test_header_length_limit);
  g_test_add_func ("/engine/model/refuse/architecture-too-large",
                   test_refuse_architecture_too_large);
  g_test_add_func ("/engine/model/refuse/header-entries", test_refuse_header_entries);
  g_test_add_func ("/engine/model/refuse/header-values", test_refuse_header_values);
  g_test_add_func ("/engine/model/refuse/unexpected-huge-tensor",
                   test_refuse_unexpected_huge_tensor);
  for (guint i = 0; i < G_N_ELEMENTS (duplicate_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/model/refuse/duplicate/%s",
                                               duplicate_cases[i].id);

      g_test_add_data_func (path, &duplicate_cases[i], test_refuse_duplicate);
    }
  g_test_add_func ("/engine/model/load/similar-keys", test_load_similar_keys);

  return g_test_run ();
}
