/* test-train.c — the training engine (hl-train.h): losses, backward pass, optimisers, schedules,
 * earlier-layer Grad-CAM and hl_model_save().
 *
 * The PyTorch references come from tools/torch_train_reference.py, committed in
 * tests/fixtures/train: a tiny torchvision DenseNet (growth 4, blocks 2,2, 8 initial features,
 * 5 labels, input 32, randomised BatchNorm) in training mode on a batch of 4, with autograd
 * gradients, running statistics after one step and the parameters after 3 steps of
 * torch.optim.Adam, AdamW and SGD with momentum; and "train-odd" (1 channel, 3 blocks, input 36:
 * odd map sides, pooling that drops a row and a column), gradients and Grad-CAM at 7 layers.
 * Tolerances: every comparison is elementwise, |engine - exact| <= bound, where "exact" is the
 * same computation in float64 (the fixture's <name>.f64, written by the same torch code) and u =
 * 2^-24:
 *   class weights, losses and d loss / d logits (computed by the engine in double from float32
 *   logits and weights, rounded once)          2u |exact|: the engine's rounding to float and
 *                                              the float32 rounding of the class weights it is
 *                                              given, u / 2 each, with room for the double sums
 *   everything downstream of the network (logits, the loss of a training pass, every parameter
 *   and input gradient, running statistics, tensors after 3 optimiser steps, Grad-CAM at every
 *   layer)                                     HL_TEST_ROUNDING_FACTOR (8) x the tensor's
 *                                              max |torch32 - torch64| + 4u |exact|, see
 *                                              hl-test-bound.h
 *   the last map by the backward pass against hl_forward_gradcam: the float32 bound of the two
 *   forms, (2 gamma_K + gamma_hw + 3u) sum_k |W[l, k]| A_k / hw, as in tools/torch_reference.py
 * Finite differences (central, h = 1e-3, float32 network) check 8 entries of every parameter type
 * and of the input: over the 8, ||fd - analytic|| <= 0.1 ||analytic|| + 3e-4 (the float32 loss
 * quantises each difference to ~6e-5, and steps can cross ReLU / max-pool kinks).
 */
#include "hl-train.h"
#include "hl-backward.h"
#include "hl-init.h"
#include "hl-model-private.h"
#include "hl-safetensors.h"
#include "hl-test-bound.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* Central differences in float32: the loss (~2) is quantised to 1.2e-7, i.e. 6e-5 per
 * difference at h = 1e-3, and a step can cross a ReLU or max-pool kink; hence a sample norm. */
#define FD_STEP 1e-3f
#define FD_REL_TOL 0.1
#define FD_ABS_TOL 3e-4

typedef struct
{
  GMappedFile *file;
  HlSafetensors *st;
} Expected;

static void
expected_free (Expected *e)
{
  if (e == NULL)
    return;
  hl_safetensors_free (e->st);
  g_mapped_file_unref (e->file);
  g_free (e);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Expected, expected_free)

static char *
fixture_path (const char *name)
{
  const char *dir = g_getenv ("HL_FIXTURES");

  g_assert_nonnull (dir);
  return g_build_filename (dir, "train", name, NULL);
}

static Expected *
expected_load (const char *test_case)
{
  g_autofree char *file = g_strconcat (test_case, ".expected.safetensors", NULL);
  g_autofree char *path = fixture_path (file);
  g_autoptr (GError) error = NULL;
  Expected *e = g_new0 (Expected, 1);

  e->file = g_mapped_file_new (path, FALSE, &error);
  g_assert_no_error (error);
  e->st = hl_safetensors_parse ((const guint8 *) g_mapped_file_get_contents (e->file),
                                g_mapped_file_get_length (e->file), path, &error);
  g_assert_no_error (error);
  return e;
}

static const HlSafetensorsEntry *
expected_entry (Expected *e, const char *name)
{
  for (guint i = 0; i < e->st->entries->len; i++)
    {
      HlSafetensorsEntry *en = g_ptr_array_index (e->st->entries, i);
      if (strcmp (en->name, name) == 0)
        return en;
    }
  g_error ("expected tensor %s missing from the fixture", name);
  return NULL;
}

/* The tensor @name as float32 (numel), free with g_free. */
static float *
expected_get (Expected *e, const char *name, gsize *numel)
{
  const HlSafetensorsEntry *en = expected_entry (e, name);
  float *out = g_new (float, MAX (en->numel, 1));

  hl_safetensors_entry_to_float (en, out);
  if (numel != NULL)
    *numel = en->numel;
  return out;
}

static HlModel *
fixture_model (const char *test_case)
{
  g_autofree char *file = g_strconcat (test_case, ".model.safetensors", NULL);
  g_autofree char *path = fixture_path (file);
  g_autoptr (GError) error = NULL;
  HlModel *model = hl_model_new_from_file (path, &error);

  g_assert_no_error (error);
  return model;
}

/* The F64 tensor @name (numel), free with g_free. */
static double *
expected_get_f64 (Expected *e, const char *name, gsize *numel)
{
  const HlSafetensorsEntry *en = expected_entry (e, name);
  double *out = g_new (double, MAX (en->numel, 1));

  g_assert_cmpint (en->dtype, ==, HL_DTYPE_F64);
  g_assert_cmpuint (en->end - en->begin, ==, en->numel * sizeof (double));
  memcpy (out, en->data, en->numel * sizeof (double));
  for (gsize i = 0; i < en->numel; i++)
    {
      guint64 bits;
      memcpy (&bits, out + i, 8);
      bits = GUINT64_FROM_LE (bits);
      memcpy (out + i, &bits, 8);
    }
  if (numel != NULL)
    *numel = en->numel;
  return out;
}

/* The engine's @got (n) against the fixture's @name: within 2u |exact| of <name>.f64 (a value
 * the engine computes in double and rounds once, see the top). */
static double
assert_rounded_once (Expected *e, const char *name, const float *got, gsize n)
{
  g_autofree char *name64 = g_strconcat (name, ".f64", NULL);
  gsize n64;
  g_autofree double *want = expected_get_f64 (e, name64, &n64);
  g_autofree double *bound = g_new (double, n);

  g_assert_cmpuint (n64, ==, n);
  for (gsize i = 0; i < n; i++)
    bound[i] = 2 * HL_TEST_U * fabs (want[i]);
  return hl_test_assert_bounded (name, got, want, bound, n);
}

/* The engine's @got (n) against the fixture's @name (torch32) and <name>.f64 (torch64) within
 * HL_TEST_ROUNDING_FACTOR max |torch32 - torch64| + 4u |torch64|. */
static double
assert_deep (Expected *e, const char *name, const float *got, gsize n)
{
  g_autofree char *name64 = g_strconcat (name, ".f64", NULL);
  gsize n32, n64;
  g_autofree float *t32 = expected_get (e, name, &n32);
  g_autofree double *t64 = expected_get_f64 (e, name64, &n64);
  g_autofree double *bound = NULL;

  g_assert_cmpuint (n32, ==, n);
  g_assert_cmpuint (n64, ==, n);
  bound = hl_test_deep_bound (name, t32, t64, n);
  return hl_test_assert_bounded (name, got, t64, bound, n);
}

typedef struct
{
  Expected *e;
  HlModel *model;
  float *input, *targets, *w_pos, *w_neg;
  int n, n_labels;
} Batch;

/* Loads fixture @test_case ("train" unless given by batch_load_case()). */
static void
batch_load_case (Batch *b, const char *test_case)
{
  gsize n_in, n_t;

  b->e = expected_load (test_case);
  b->model = fixture_model (test_case);
  b->input = expected_get (b->e, "input", &n_in);
  b->targets = expected_get (b->e, "targets", &n_t);
  b->w_pos = expected_get (b->e, "w_pos", NULL);
  b->w_neg = expected_get (b->e, "w_neg", NULL);
  b->n_labels = hl_model_get_info (b->model)->n_labels;
  b->n = (int) (n_t / b->n_labels);
  g_assert_cmpuint (n_in, ==, b->n * hl_model_input_size (b->model));
}

static void
batch_clear (Batch *b)
{
  g_free (b->input);
  g_free (b->targets);
  g_free (b->w_pos);
  g_free (b->w_neg);
  hl_model_unref (b->model);
  expected_free (b->e);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Batch, batch_clear)

static void
batch_load (Batch *b)
{
  batch_load_case (b, "train");
}

/* batch_load_case() and a training net for the batch's model. */
static HlTrainNet *
batch_load_case_net (Batch *b, const char *test_case)
{
  g_autoptr (GError) error = NULL;
  HlTrainNet *net;

  batch_load_case (b, test_case);
  net = hl_train_net_new (b->model, b->n, &error);
  g_assert_no_error (error);
  return net;
}

static HlTrainNet *
batch_load_net (Batch *b)
{
  return batch_load_case_net (b, "train");
}

/* One training step's forward + weighted loss + backward on a fresh gradient; returns the loss. */
static float
train_step (HlTrainNet *net, const Batch *b, float *dinput)
{
  g_autoptr (GError) error = NULL;
  g_autofree float *dlogits = g_new (float, b->n * b->n_labels);
  const float *logits = hl_train_net_forward (net, b->input, b->n, NULL, &error);
  float loss;

  g_assert_no_error (error);
  loss = hl_loss_weighted_bce (logits, b->targets, b->n, b->n_labels, b->w_pos, b->w_neg,
                               dlogits);
  hl_train_net_zero_grad (net);
  hl_train_net_backward (net, dlogits, dinput);
  return loss;
}

static void
test_loss (void)
{
  g_auto (Batch) b = { 0 };
  batch_load (&b);
  gsize n = (gsize) b.n * b.n_labels, n_train;
  g_autofree float *logits = expected_get (b.e, "logits", NULL);
  g_autofree float *train_labels = expected_get (b.e, "train_labels", &n_train);
  g_autofree float *dl = g_new (float, n);
  float wp[16], wn[16];

  float l = hl_loss_bce (logits, b.targets, b.n, b.n_labels, dl);
  assert_rounded_once (b.e, "loss_bce", &l, 1);
  assert_rounded_once (b.e, "dlogits_bce", dl, n);
  l = hl_loss_bce (logits, b.targets, b.n, b.n_labels, NULL);
  assert_rounded_once (b.e, "loss_bce", &l, 1);
  l = hl_loss_weighted_bce (logits, b.targets, b.n, b.n_labels, b.w_pos, b.w_neg, dl);
  assert_rounded_once (b.e, "loss_weighted", &l, 1);
  assert_rounded_once (b.e, "dlogits_weighted", dl, n);

  hl_loss_class_weights (train_labels, (int) (n_train / b.n_labels), b.n_labels, wp, wn);
  assert_rounded_once (b.e, "w_pos", wp, b.n_labels);
  assert_rounded_once (b.e, "w_neg", wn, b.n_labels);

  /* stable at extreme logits: no infinities, and the exact asymptotes: softplus (200) = 200 +
   * log1p (e^-200) and sigmoid (200) = 1 - e^-200 both round to 200 and 1 in double */
  float z[2] = { 200.0f, -200.0f }, y[2] = { 0.0f, 1.0f }, d[2];
  l = hl_loss_bce (z, y, 1, 2, d);
  g_assert_cmpfloat (l, ==, 200.0f);
  g_assert_cmpfloat (d[0], ==, 0.5f);
  g_assert_cmpfloat (d[1], ==, -0.5f);
}

static void
test_torch_gradients (gconstpointer test_case)
{
  g_auto (Batch) b = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HlTrainNet) net = batch_load_case_net (&b, test_case);
  gsize n_in = (gsize) b.n * hl_model_input_size (b.model);
  g_autofree float *dinput = g_new (float, n_in);
  int n_params;
  const HlParam *params = hl_train_net_get_params (net, &n_params);
  double worst = 0.0;

  float loss = train_step (net, &b, dinput);
  /* the network's loss: torch32's is loss_weighted, torch64's loss_net.f64 */
  {
    g_autofree float *t32 = expected_get (b.e, "loss_weighted", NULL);
    g_autofree double *t64 = expected_get_f64 (b.e, "loss_net.f64", NULL);
    g_autofree double *bound = hl_test_deep_bound ("loss", t32, t64, 1);
    hl_test_assert_bounded ("loss", &loss, t64, bound, 1);
  }
  /* a second forward pass on the same batch gives torch's training-mode logits again */
  const float *logits = hl_train_net_forward (net, b.input, b.n, NULL, &error);
  g_assert_no_error (error);
  assert_deep (b.e, "logits", logits, (gsize) b.n * b.n_labels);

  /* torch dumped one gradient per parameter: the net has exactly those */
  int n_grads = 0;
  for (guint i = 0; i < b.e->st->entries->len; i++)
    {
      const char *entry = ((HlSafetensorsEntry *) g_ptr_array_index (b.e->st->entries, i))->name;
      n_grads += g_str_has_prefix (entry, "grad.") && !g_str_has_suffix (entry, ".f64");
    }
  g_assert_cmpint (n_params, ==, n_grads);
  for (int i = 0; i < n_params; i++)
    {
      g_autofree char *name = g_strconcat ("grad.", params[i].name, NULL);
      worst = MAX (worst, assert_deep (b.e, name, params[i].grad, params[i].numel));
    }
  worst = MAX (worst, assert_deep (b.e, "grad_input", dinput, n_in));
  g_test_message ("gradients: largest |engine - exact| / bound %.3g", worst);

  /* running statistics after exactly one training forward pass: a fresh net */
  g_autoptr (HlTrainNet) net1 = hl_train_net_new (b.model, b.n, &error);
  g_test_message ("%s", (const char *) test_case);
  g_assert_no_error (error);
  train_step (net1, &b, NULL);
  HlModel *m1 = hl_train_net_get_model (net1);
  for (guint i = 0; i < m1->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (m1->tensors, i);
      if (!g_str_has_suffix (t->name, "running_mean") && !g_str_has_suffix (t->name, "running_var"))
        continue;
      g_autofree char *name = g_strconcat ("step1.", t->name, NULL);
      assert_deep (b.e, name, t->data, t->numel);
    }
  /* the source model is untouched */
  HlTensor *src = hl_model_get_tensor (b.model, "features.norm0.running_mean");
  HlTensor *trained = hl_model_get_tensor (m1, "features.norm0.running_mean");
  g_assert_true (memcmp (src->data, trained->data, src->numel * 4) != 0);
}

static void
run_optimiser (const char *tag, const HlOptimConfig *config, float lr)
{
  g_auto (Batch) b = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HlTrainNet) net = batch_load_net (&b);
  g_autoptr (HlOptim) opt = hl_optim_new (net, config);

  for (int s = 0; s < 3; s++)
    {
      train_step (net, &b, NULL);
      hl_optim_step (opt, lr);
    }
  g_assert_cmpint (hl_optim_get_step (opt), ==, 3);

  HlModel *m = hl_train_net_get_model (net);
  double worst = 0.0;
  for (guint i = 0; i < m->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (m->tensors, i);
      g_autofree char *name = g_strdup_printf ("%s.%s", tag, t->name);
      worst = MAX (worst, assert_deep (b.e, name, t->data, t->numel));
    }
  g_test_message ("%s: largest |engine - exact| / bound after 3 steps %.3g", tag, worst);
}

static void
test_torch_adam (void)
{
  HlOptimConfig c = { .kind = HL_OPTIM_ADAM, .weight_decay = 1e-2f, .beta1 = 0.9f,
                      .beta2 = 0.999f, .eps = 1e-8f };
  run_optimiser ("adam", &c, 1e-2f);
}

static void
test_torch_adamw (void)
{
  /* eps 1e-3: see tools/torch_train_reference.py */
  HlOptimConfig c = { .kind = HL_OPTIM_ADAMW, .weight_decay = 0.1f, .beta1 = 0.9f,
                      .beta2 = 0.999f, .eps = 1e-3f };
  run_optimiser ("adamw", &c, 1e-2f);
}

/* "train-freeze": 3 Adam steps with the layers at and below @freeze frozen and the backbone at
 * lr x @scale, against torch (the same bound as the other optimiser runs); every frozen tensor,
 * running statistics included, must come out bit for bit as it went in. */
static void
run_frozen (const char *tag, const char *freeze, float scale)
{
  g_auto (Batch) b = { 0 };
  g_autoptr (GError) error = NULL;
  HlOptimConfig c = { .kind = HL_OPTIM_ADAM, .weight_decay = 1e-2f, .beta1 = 0.9f,
                      .beta2 = 0.999f, .eps = 1e-8f };
  int n_params;

  batch_load_case (&b, "train-freeze");
  g_autoptr (HlTrainNet) net = hl_train_net_new_frozen (b.model, b.n, freeze, &error);
  g_assert_no_error (error);
  g_autoptr (HlOptim) opt = hl_optim_new (net, &c);
  hl_optim_set_backbone_lr_scale (opt, scale);
  const HlParam *params = hl_train_net_get_params (net, &n_params);
  for (int i = 0; i < n_params; i++)
    g_assert_false (g_str_has_prefix (params[i].name, "features.conv0.")
                    || g_str_has_prefix (params[i].name, "features.denseblock1."));
  g_assert_cmpstr (params[n_params - 1].name, ==, "classifier.bias");
  for (int s = 0; s < 3; s++)
    {
      train_step (net, &b, NULL);
      hl_optim_step (opt, 1e-2f);
    }

  HlModel *m = hl_train_net_get_model (net);
  int stage = hl_model_freeze_stage (m, freeze), n_frozen = 0;
  double worst = 0.0;
  for (guint i = 0; i < m->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (m->tensors, i);
      HlTensor *before = hl_model_get_tensor (b.model, t->name);
      g_autofree char *name = g_strdup_printf ("%s.%s", tag, t->name);
      gboolean frozen = g_str_has_prefix (t->name, "features.conv0.")
                        || g_str_has_prefix (t->name, "features.norm0.")
                        || g_str_has_prefix (t->name, "features.denseblock1.")
                        || (stage == 4 && !g_str_has_prefix (t->name, "classifier."));
      worst = MAX (worst, assert_deep (b.e, name, t->data, t->numel));
      if (frozen)
        {
          g_assert_cmpmem (t->data, t->numel * sizeof (float), before->data,
                           before->numel * sizeof (float));
          n_frozen++;
        }
    }
  g_assert_cmpint (n_frozen, >, 0);
  g_test_message ("%s: largest |engine - exact| / bound after 3 steps %.3g, %d tensors frozen",
                  tag, worst, n_frozen);
}

static void
test_torch_freeze_features (void)
{
  run_frozen ("freeze_features", "features", 1.0f);
}

static void
test_torch_freeze_denseblock1 (void)
{
  run_frozen ("freeze_denseblock1", "denseblock1", 0.1f);
}

/* The freeze names of a two-block network, and a name it has not refused. */
static void
test_freeze_names (void)
{
  g_autoptr (HlModel) model = fixture_model ("train");
  g_autoptr (GError) error = NULL;
  const char *bad[] = { "denseblock3", "transition2", "denseblock0", "denseblock1x", "norm5",
                        "classifier" };

  g_assert_cmpint (hl_model_freeze_stage (model, NULL), ==, -1);
  g_assert_cmpint (hl_model_freeze_stage (model, ""), ==, -1);
  g_assert_cmpint (hl_model_freeze_stage (model, "denseblock1"), ==, 1);
  g_assert_cmpint (hl_model_freeze_stage (model, "transition1"), ==, 2);
  g_assert_cmpint (hl_model_freeze_stage (model, "denseblock2"), ==, 3);
  g_assert_cmpint (hl_model_freeze_stage (model, "features"), ==, 4);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_cmpint (hl_model_freeze_stage (model, bad[i]), ==, -2);
      g_autoptr (HlTrainNet) net = hl_train_net_new_frozen (model, 2, bad[i], &error);
      g_assert_null (net);
      g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT);
      g_assert_nonnull (strstr (error->message, bad[i]));
      g_assert_nonnull (strstr (error->message, "denseblock1..2, transition1..1"));
      g_clear_error (&error);
    }
}

/* hl_model_new_transfer: features copied, classifier rows kept by label name, new rows
 * initialised (|w| <= 1 / sqrt (fan_in), bias 0), op-norm dropped; a features-only file loads
 * only through it (and hl_model_new_features_from_file), and is refused by the plain loader. */
static void
test_transfer (void)
{
  g_autoptr (HlModel) source = fixture_model ("train");
  const HlModelInfo *si = hl_model_get_info (source);
  g_autofree char *dir = g_dir_make_tmp ("hl-test-transfer-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "source.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  const char *labels[] = { si->labels[2], "Brand new", si->labels[0], NULL };
  gboolean kept[3];
  int nf = si->n_features;

  g_assert_true (hl_model_save (source, NULL, path, HL_SAVE_F32, &error));
  g_autoptr (HlModel) model = hl_model_new_transfer (path, labels, 3, 7, kept, &error);
  g_assert_no_error (error);
  const HlModelInfo *mi = hl_model_get_info (model);
  g_assert_cmpint (mi->n_labels, ==, 3);
  g_assert_cmpint (mi->input_channels, ==, si->input_channels);
  g_assert_cmpint (mi->preprocess.mode, ==, si->preprocess.mode);
  g_assert_cmpint (mi->calibration, ==, HL_OUTPUT_SIGMOID);
  g_assert_true (kept[0] && !kept[1] && kept[2]);
  g_assert_cmpmem (model->classifier_weight, nf * sizeof (float),
                   source->classifier_weight + 2 * nf, nf * sizeof (float));
  g_assert_cmpmem (model->classifier_weight + 2 * nf, nf * sizeof (float),
                   source->classifier_weight, nf * sizeof (float));
  g_assert_cmpfloat (model->classifier_bias[0], ==, source->classifier_bias[2]);
  g_assert_cmpfloat (model->classifier_bias[2], ==, source->classifier_bias[0]);
  g_assert_cmpfloat (model->classifier_bias[1], ==, 0.0f);
  for (int k = 0; k < nf; k++)
    g_assert_cmpfloat (fabsf (model->classifier_weight[nf + k]), <=, 1.0 / sqrt (nf));
  for (guint i = 0; i < model->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (model->tensors, i);
      HlTensor *src = hl_model_get_tensor (source, t->name);
      if (!g_str_has_prefix (t->name, "classifier."))
        g_assert_cmpmem (t->data, t->numel * sizeof (float), src->data,
                         src->numel * sizeof (float));
    }
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_torch_sgd (void)
{
  HlOptimConfig c = { .kind = HL_OPTIM_SGD, .weight_decay = 1e-3f, .momentum = 0.9f };
  run_optimiser ("sgd", &c, 0.05f);
}

static void
test_gradcam (gconstpointer test_case)
{
  g_auto (Batch) b = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HlTrainNet) net = batch_load_case_net (&b, test_case);
  /* torch computed Grad-CAM after its one training forward pass (running statistics updated) */
  train_step (net, &b, NULL);
  HlModel *m = hl_train_net_get_model (net);
  int n_layers = hl_model_gradcam_n_layers (m);
  gsize in = hl_model_input_size (m);
  double worst = 0.0;

  int n_blocks = hl_model_get_info (m)->arch.n_blocks;
  g_assert_cmpint (n_layers, ==, 2 * n_blocks + 1);
  g_autofree char *name0 = hl_model_gradcam_layer_name (m, 0);
  g_autofree char *name1 = hl_model_gradcam_layer_name (m, 1);
  g_autofree char *name2 = hl_model_gradcam_layer_name (m, 2);
  g_assert_cmpstr (name0, ==, "pool0");
  g_assert_cmpstr (name1, ==, "denseblock1");
  g_assert_cmpstr (name2, ==, "transition1");
  g_autofree char *id_last = hl_model_gradcam_layer_id (m, n_layers - 1);
  g_assert_cmpstr (id_last, ==, "features");
  g_assert_cmpint (hl_model_gradcam_layer_find (m, "transition1"), ==, 2);
  g_assert_cmpint (hl_model_gradcam_layer_find (m, "features"), ==, n_layers - 1);
  g_assert_cmpint (hl_model_gradcam_layer_find (m, "transition"), ==, -1);
  for (int k = 0; k < n_layers; k++)
    {
      g_autofree char *name = g_strdup_printf ("gradcam.%d", k);
      g_autofree char *name64 = g_strconcat (name, ".f64", NULL);
      gsize numel;
      g_autofree float *ref = expected_get (b.e, name, &numel);
      g_autofree double *ref64 = expected_get_f64 (b.e, name64, NULL);
      g_autofree double *bound = hl_test_deep_bound (name, ref, ref64, numel);
      const HlSafetensorsEntry *en = expected_entry (b.e, name); /* (n, n_labels, h, w) */
      for (int i = 0; i < b.n; i++)
        {
          int h = 0, w = 0;
          g_autofree float *all = hl_model_gradcam_layer (m, b.input + i * in, k, &h, &w,
                                                          &error);
          g_assert_no_error (error);
          gsize hw = (gsize) h * w;
          g_assert_cmpint (h, ==, en->shape[2]);
          g_assert_cmpint (w, ==, en->shape[3]);
          gsize at = (gsize) i * b.n_labels * hw;
          g_autofree char *what = g_strdup_printf ("%s image %d", name, i);
          worst = MAX (worst, hl_test_assert_bounded (what, all, ref64 + at, bound + at,
                                              b.n_labels * hw));
          if (k == n_layers - 1)
            {
              /* the last map through the backward pass equals the closed form within the
               * float32 bound of the two forms (tools/torch_reference.py, gradcam_forms_bound) */
              g_autoptr (HlForward) fwd = hl_model_forward (m, b.input + i * in, 1, NULL, NULL,
                                                            NULL, &error);
              g_assert_no_error (error);
              g_autofree float *closed = g_new (float, b.n_labels * hw);
              g_autofree double *closed_d = g_new (double, b.n_labels * hw);
              g_autofree double *forms = g_new (double, b.n_labels * hw);
              int c = fwd->c_feat;
              double g = 2 * hl_test_gamma (c) + hl_test_gamma (hw) + 3 * HL_TEST_U;
              hl_forward_gradcam (m, fwd, 0, closed);
              for (int l = 0; l < b.n_labels; l++)
                for (gsize j = 0; j < hw; j++)
                  {
                    double magnitude = 0;
                    for (int q = 0; q < c; q++)
                      magnitude += fabs (m->classifier_weight[(gsize) l * c + q])
                                   * fwd->features[(gsize) q * hw + j];
                    closed_d[l * hw + j] = closed[l * hw + j];
                    forms[l * hw + j] = g * magnitude / hw;
                  }
              hl_test_assert_bounded ("last map: backward pass vs closed form", all, closed_d,
                                      forms, b.n_labels * hw);
            }
        }
    }
  g_test_message ("Grad-CAM: largest |engine - exact| / bound %.3g", worst);
}

/* Central differences of the weighted loss w.r.t. @x[idx]. */
static double
finite_difference (HlTrainNet *net, Batch *b, float *x, gsize idx, float h)
{
  g_autoptr (GError) error = NULL;
  float saved = x[idx];
  double lp, lm;

  x[idx] = saved + h;
  const float *lg = hl_train_net_forward (net, b->input, b->n, NULL, &error);
  g_assert_no_error (error);
  lp = hl_loss_weighted_bce (lg, b->targets, b->n, b->n_labels, b->w_pos, b->w_neg, NULL);
  x[idx] = saved - h;
  lg = hl_train_net_forward (net, b->input, b->n, NULL, &error);
  g_assert_no_error (error);
  lm = hl_loss_weighted_bce (lg, b->targets, b->n, b->n_labels, b->w_pos, b->w_neg, NULL);
  x[idx] = saved;
  return (lp - lm) / (2.0 * h);
}

/* Compares the analytic gradient with central differences at 8 sampled entries of @x:
 * ||fd - analytic|| <= FD_REL_TOL ||analytic|| + FD_ABS_TOL over the sample (vector norms).
 * Returns ||fd - analytic|| / ||analytic||. */
static double
check_fd (const char *what, HlTrainNet *net, Batch *b, float *x, const float *grad, gsize numel)
{
  double err2 = 0.0, ref2 = 0.0;

  for (guint s = 0; s < 8; s++)
    {
      gsize idx = (gsize) ((s * 2654435761u + 12345u) % numel);
      double an = grad[idx];
      double fd = finite_difference (net, b, x, idx, FD_STEP);
      err2 += (fd - an) * (fd - an);
      ref2 += an * an;
    }
  if (sqrt (err2) > FD_REL_TOL * sqrt (ref2) + FD_ABS_TOL)
    g_error ("%s: finite differences differ by %.3g (norm over 8 samples), gradient norm %.3g",
             what, sqrt (err2), sqrt (ref2));
  return sqrt (err2) / MAX (sqrt (ref2), 1e-30);
}

static void
test_finite_differences (void)
{
  g_auto (Batch) b = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HlTrainNet) net = batch_load_net (&b);
  gsize n_in = (gsize) b.n * hl_model_input_size (b.model);
  g_autofree float *dinput = g_new (float, n_in);
  int n_params, checked = 0;
  const HlParam *params = hl_train_net_get_params (net, &n_params);
  double worst = 0.0;
  const char *sample[] = {
    "features.conv0.weight", "features.norm0.weight", "features.norm0.bias",
    "features.denseblock1.denselayer1.norm1.weight", "features.denseblock1.denselayer1.conv1.weight",
    "features.denseblock1.denselayer2.norm2.bias", "features.denseblock1.denselayer2.conv2.weight",
    "features.transition1.norm.weight", "features.transition1.conv.weight",
    "features.denseblock2.denselayer2.norm1.bias", "features.denseblock2.denselayer1.conv2.weight",
    "features.norm5.weight", "features.norm5.bias", "classifier.weight", "classifier.bias",
  };

  train_step (net, &b, dinput);
  for (int i = 0; i < n_params; i++)
    for (gsize s = 0; s < G_N_ELEMENTS (sample); s++)
      if (strcmp (params[i].name, sample[s]) == 0)
        {
          /* forward passes leave the gradients alone */
          worst = MAX (worst, check_fd (params[i].name, net, &b, params[i].data, params[i].grad,
                                        params[i].numel));
          checked++;
        }
  g_assert_cmpint (checked, ==, G_N_ELEMENTS (sample));
  worst = MAX (worst, check_fd ("input", net, &b, b.input, dinput, n_in));
  g_test_message ("finite differences: largest relative difference (norm over a sample) %.3g",
                  worst);
}

static void
test_determinism (void)
{
  g_auto (Batch) b = { 0 };
  g_autoptr (GError) error = NULL;
  batch_load (&b);
  g_autoptr (GPtrArray) first = NULL; /* run 0's tensors */

  /* runs 0 and 1 on two threads (the matrix products and the channel-parallel kernels split
   * their work), run 2 on one: every split depends on shapes only, so all three agree */
  for (int run = 0; run < 3; run++)
    {
      hl_engine_set_threads (run < 2 ? 2 : 1);
      g_autoptr (HlTrainNet) net = hl_train_net_new (b.model, b.n, &error);
      g_assert_no_error (error);
      HlOptimConfig c = { .kind = HL_OPTIM_ADAM, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f };
      g_autoptr (HlOptim) opt = hl_optim_new (net, &c);
      for (int s = 0; s < 2; s++)
        {
          train_step (net, &b, NULL);
          hl_optim_step (opt, 1e-2f);
        }
      HlModel *m = hl_train_net_get_model (net);
      if (run == 0)
        first = g_ptr_array_new_with_free_func (g_free);
      for (guint i = 0; i < m->tensors->len; i++)
        {
          HlTensor *t = g_ptr_array_index (m->tensors, i);
          if (run == 0)
            g_ptr_array_add (first, g_memdup2 (t->data, t->numel * sizeof (float)));
          else
            g_assert_cmpmem (t->data, t->numel * sizeof (float), g_ptr_array_index (first, i),
                             t->numel * sizeof (float));
        }
    }
  hl_engine_set_threads (1);
}

/* hl_lr_schedule_at (@s, @step) within 6u of @want: the float literals' representations (u / 2
 * each, in @s and in @want), powf (within 1 ulp, 2u) and up to two products and a division (u
 * each) bound the relative difference; the cosine is evaluated in double and rounded once. */
static void
assert_lr (const HlLrSchedule *s, gint64 step, double want)
{
  g_assert_cmpfloat_with_epsilon (hl_lr_schedule_at (s, step), want, 6 * HL_TEST_U * fabs (want));
}

static void
test_lr_schedule (void)
{
  HlLrSchedule cos = { .kind = HL_LR_COSINE, .base_lr = 1e-3f, .warmup_steps = 10,
                       .total_steps = 110, .min_lr = 1e-5f };
  HlLrSchedule step = { .kind = HL_LR_STEP, .base_lr = 0.1f, .step_size = 30, .gamma = 0.1f };
  HlLrSchedule cst = { .kind = HL_LR_CONSTANT, .base_lr = 0.5f };

  assert_lr (&cos, 0, 1e-4f);
  assert_lr (&cos, 9, 1e-3f);
  assert_lr (&cos, 10, 1e-3f);
  assert_lr (&cos, 60, (1e-3f + 1e-5f) / 2);
  assert_lr (&cos, 110, 1e-5f);
  assert_lr (&cos, 500, 1e-5f);
  assert_lr (&step, 29, 0.1f);
  assert_lr (&step, 30, 0.01f);
  assert_lr (&step, 65, 0.001f);
  g_assert_cmpfloat (hl_lr_schedule_at (&cst, 1000), ==, 0.5f);
  /* the step decay counts from the end of the warm-up */
  step.warmup_steps = 5;
  assert_lr (&step, 4, 0.1f);
  assert_lr (&step, 34, 0.1f);
  assert_lr (&step, 35, 0.01f);
}

static void
test_kernels (void)
{
  /* col2im is the adjoint of im2col: <im2col (x), c> == <x, col2im (c)> */
  int c = 3, h = 9, w = 7, k = 3, stride = 2, pad = 1;
  int h_out = hl_out_size (h, k, stride, pad), w_out = hl_out_size (w, k, stride, pad);
  gsize nx = (gsize) c * h * w, nc = (gsize) c * k * k * h_out * w_out;
  g_autofree float *x = g_new (float, nx), *col = g_new (float, nc);
  g_autofree float *cv = g_new (float, nc), *xc = g_new0 (float, nx);
  GRand *rand = g_rand_new_with_seed (7);
  double lhs = 0.0, rhs = 0.0;

  for (gsize i = 0; i < nx; i++)
    x[i] = (float) g_rand_double_range (rand, -1, 1);
  for (gsize i = 0; i < nc; i++)
    cv[i] = (float) g_rand_double_range (rand, -1, 1);
  hl_im2col (x, c, h, w, k, k, stride, pad, NULL, NULL, col);
  hl_col2im (cv, c, h, w, k, k, stride, pad, xc);
  double magnitude = 0.0;
  for (gsize i = 0; i < nc; i++)
    {
      lhs += (double) col[i] * cv[i];
      magnitude += fabs ((double) col[i] * cv[i]);
    }
  for (gsize i = 0; i < nx; i++)
    rhs += (double) x[i] * xc[i];
  /* im2col copies exactly; col2im sums at most k k = 9 float terms into each x (gamma_9 of
   * their magnitudes), and each side's double sum of nc products rounds within nc 2^-53 */
  double g9 = hl_test_gamma (9), gd = 2 * (double) nc * (HL_TEST_U / (1 << 29));
  g_assert_cmpfloat (fabs (lhs - rhs), <=, (g9 + gd) * magnitude);

  /* max pool ties go to the first maximum, as PyTorch */
  float plane[16] = { 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, dy[4] = { 1, 2, 3, 4 };
  float dx[16] = { 0 };
  hl_maxpool2d_backward (plane, 1, 4, 4, 2, 2, 0, NULL, NULL, dy, dx);
  g_assert_cmpfloat (dx[0], ==, 1.0f);
  g_assert_cmpfloat (dx[1] + dx[4] + dx[5], ==, 0.0f);
  g_assert_cmpfloat (dx[2], ==, 2.0f);
  g_assert_cmpfloat (dx[8], ==, 3.0f);
  g_assert_cmpfloat (dx[10], ==, 4.0f);
  g_rand_free (rand);
}

static void
check_roundtrip (HlModel *model, HlSaveDtype dtype)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("hl-train-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "saved.safetensors", NULL);
  const HlModelInfo *src = hl_model_get_info (model);
  HlModelInfo info = *src;
  float thresholds[5] = { 0.1f, 0.2f, 0.3f, 0.4f, 0.55f };
  float auroc[5] = { 0.5f, NAN, 0.75f, 0.8125f, 1.0f };
  char name[] = "trained \"tiny\" \xc3\xa9";

  info.name = name;
  info.thresholds = thresholds;
  info.val_auroc = auroc;
  info.training_data = (char *) "4 synthetic images";
  info.intended_use = (char *) "tests only";
  g_assert_true (hl_model_save (model, &info, path, dtype, &error));
  g_assert_no_error (error);

  g_autoptr (HlModel) back = hl_model_new_from_file (path, &error);
  g_assert_no_error (error);
  const HlModelInfo *bi = hl_model_get_info (back);
  g_assert_cmpstr (bi->name, ==, name);
  g_assert_cmpstr (bi->version, ==, src->version);
  g_assert_cmpint (bi->arch.growth_rate, ==, src->arch.growth_rate);
  g_assert_cmpint (bi->arch.n_blocks, ==, src->arch.n_blocks);
  g_assert_cmpfloat (bi->arch.bn_eps, ==, src->arch.bn_eps);
  g_assert_cmpint (bi->input_size, ==, src->input_size);
  g_assert_cmpint (bi->preprocess.resize, ==, src->preprocess.resize);
  g_assert_cmpint (bi->preprocess.mode, ==, src->preprocess.mode);
  g_assert_cmpmem (bi->preprocess.mean, sizeof (float) * 3, src->preprocess.mean, sizeof (float) * 3);
  g_assert_cmpmem (bi->preprocess.std, sizeof (float) * 3, src->preprocess.std, sizeof (float) * 3);
  g_assert_cmpstr (bi->training_data, ==, "4 synthetic images");
  g_assert_cmpstr (bi->intended_use, ==, "tests only");
  for (int l = 0; l < src->n_labels; l++)
    {
      g_assert_cmpstr (bi->labels[l], ==, src->labels[l]);
      g_assert_cmpfloat (bi->thresholds[l], ==, thresholds[l]);
      g_assert_true (isnan (auroc[l]) ? isnan (bi->val_auroc[l]) : bi->val_auroc[l] == auroc[l]);
    }
  for (guint i = 0; i < model->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (model->tensors, i);
      HlTensor *u = hl_model_get_tensor (back, t->name);
      g_assert_nonnull (u);
      g_assert_cmpuint (u->numel, ==, t->numel);
      for (gsize k = 0; k < t->numel; k++)
        if (dtype == HL_SAVE_F32)
          g_assert_cmpfloat (u->data[k], ==, t->data[k]);
        else /* half: 11 significant bits, round to nearest */
          g_assert_cmpfloat (fabsf (u->data[k] - t->data[k]), <=,
                             fabsf (t->data[k]) * (1.0f / 2048) + 6e-8f);
    }
  g_assert_cmpint (g_remove (path), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_save (void)
{
  g_auto (Batch) b = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HlTrainNet) net = batch_load_net (&b);
  train_step (net, &b, NULL);
  HlModel *m = hl_train_net_get_model (net);

  check_roundtrip (m, HL_SAVE_F32);
  check_roundtrip (m, HL_SAVE_F16);

  /* the saved F32 model predicts exactly as the trained one */
  g_autofree char *dir = g_dir_make_tmp ("hl-train-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "m.safetensors", NULL);
  g_assert_true (hl_model_save (m, NULL, path, HL_SAVE_F32, &error));
  g_autoptr (HlModel) back = hl_model_new_from_file (path, &error);
  g_assert_no_error (error);
  g_autoptr (HlForward) f1 = hl_model_forward (m, b.input, b.n, NULL, NULL, NULL, &error);
  g_autoptr (HlForward) f2 = hl_model_forward (back, b.input, b.n, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (f1->logits, b.n * b.n_labels * 4, f2->logits, b.n * b.n_labels * 4);

  /* failures: F16 overflow, non-finite values, unwritable place */
  HlTensor *t = hl_model_get_tensor (m, "classifier.bias");
  float saved = t->data[0];
  t->data[0] = 1e6f;
  g_assert_false (hl_model_save (m, NULL, path, HL_SAVE_F16, &error));
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT);
  g_clear_error (&error);
  t->data[0] = NAN;
  g_assert_false (hl_model_save (m, NULL, path, HL_SAVE_F32, &error));
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT);
  g_clear_error (&error);
  t->data[0] = saved;
  g_autofree char *bad = g_build_filename (dir, "missing", "m.safetensors", NULL);
  g_assert_false (hl_model_save (m, NULL, bad, HL_SAVE_F32, &error));
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_IO);
  /* the earlier file was not damaged by the failed writes */
  g_autoptr (HlModel) again = hl_model_new_from_file (path, NULL);
  g_assert_nonnull (again);
  g_assert_cmpint (g_remove (path), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_overfit (void)
{
  g_auto (Batch) b = { 0 };
  g_autoptr (GError) error = NULL;
  batch_load (&b);
  HlModelInfo info = *hl_model_get_info (b.model);
  g_autoptr (HlModel) m = hl_model_new_initialized (&info, 11);

  /* a freshly initialised net learns one batch: 30 Adam steps cut the weighted loss by half */
  g_autoptr (HlTrainNet) net = hl_train_net_new (m, b.n, &error);
  g_assert_no_error (error);
  HlOptimConfig c = { .kind = HL_OPTIM_ADAM, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f };
  g_autoptr (HlOptim) opt = hl_optim_new (net, &c);
  float first = 0.0f, last = 0.0f;
  for (int s = 0; s < 30; s++)
    {
      last = train_step (net, &b, NULL);
      if (s == 0)
        first = last;
      hl_optim_step (opt, 1e-2f);
    }
  g_test_message ("weighted loss %.4f -> %.4f after 30 Adam steps", first, last);
  g_assert_cmpfloat (last, <, 0.5f * first);
}

static void
test_cancel (void)
{
  g_auto (Batch) b = { 0 };
  g_autoptr (GError) error = NULL;
  batch_load (&b);
  g_autoptr (HlTrainNet) net = hl_train_net_new (b.model, b.n, &error);
  g_autoptr (GCancellable) cancel = g_cancellable_new ();

  g_cancellable_cancel (cancel);
  g_assert_null (hl_train_net_forward (net, b.input, b.n, cancel, &error));
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_CANCELLED);
}

/* A legal architecture whose earlier-layer Grad-CAM or training needs more memory than the
 * engine allows is refused before anything the size of its activations is allocated: growth 4,
 * one block of 128 layers, bn_size 16, 1024 px (its weights are 17 MB, its 128 x 64 x 256 x 256
 * bottlenecks 2 GiB). Issue 10: such a file of 1.6 MB took 1.16 GB for one Grad-CAM. */
static void
test_memory_cap (void)
{
  static char *labels[] = { "a", "b", NULL };
  HlModelInfo info = { 0 };
  g_autoptr (GError) error = NULL;

  info.arch = (HlDenseNetConfig){ .growth_rate = 4, .n_blocks = 1, .block_config = { 128 },
                                  .num_init_features = 8, .bn_size = 16, .bn_eps = 1e-5f };
  info.input_size = 1024;
  info.input_channels = 1;
  info.n_labels = 2;
  info.labels = labels;
  info.preprocess.resize = HL_RESIZE_BILINEAR;
  info.preprocess.mode = HL_NORM_IMAGE;
  g_autoptr (HlModel) model = hl_model_new_initialized (&info, 3);
  g_autofree float *input = g_new0 (float, hl_model_input_size (model));
  int h, w;

  g_assert_null (hl_model_gradcam_layer (model, input, 1, &h, &w, &error));
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "more than the limit of 1536 MiB"));
  g_clear_error (&error);
  g_assert_null (hl_train_net_new (model, 16, &error));
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "more than the limit of 16384 MiB"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  hl_engine_set_threads (1);
  g_test_add_func ("/engine/train/kernels", test_kernels);
  g_test_add_func ("/engine/train/memory-cap", test_memory_cap);
  g_test_add_func ("/engine/train/loss", test_loss);
  g_test_add_data_func ("/engine/train/torch-gradients", "train", test_torch_gradients);
  g_test_add_data_func ("/engine/train/torch-gradients-odd", "train-odd", test_torch_gradients);
  g_test_add_func ("/engine/train/torch-adam", test_torch_adam);
  g_test_add_func ("/engine/train/torch-adamw", test_torch_adamw);
  g_test_add_func ("/engine/train/torch-sgd", test_torch_sgd);
  g_test_add_func ("/engine/train/torch-freeze-features", test_torch_freeze_features);
  g_test_add_func ("/engine/train/torch-freeze-denseblock1", test_torch_freeze_denseblock1);
  g_test_add_func ("/engine/train/freeze-names", test_freeze_names);
  g_test_add_func ("/engine/train/transfer", test_transfer);
  g_test_add_data_func ("/engine/train/gradcam", "train", test_gradcam);
  g_test_add_data_func ("/engine/train/gradcam-odd", "train-odd", test_gradcam);
  g_test_add_func ("/engine/train/finite-differences", test_finite_differences);
  g_test_add_func ("/engine/train/determinism", test_determinism);
  g_test_add_func ("/engine/train/lr-schedule", test_lr_schedule);
  g_test_add_func ("/engine/train/save", test_save);
  g_test_add_func ("/engine/train/overfit", test_overfit);
  g_test_add_func ("/engine/train/cancel", test_cancel);
  return g_test_run ();
}
