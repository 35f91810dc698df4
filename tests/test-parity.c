/* test-parity.c — the whole C engine against PyTorch.
 *
 * tools/torch_reference.py builds torchvision's DenseNet with seeded weights, writes it as a Hilum
 * model file and dumps, for a few grayscale planes, what PyTorch computes: the preprocessed input,
 * the last feature map, logits, probabilities and Grad-CAM maps (by autograd). Each case here loads
 * that model file with hl_model_new_from_file() and checks the engine against the dump, reporting
 * the largest differences with g_test_message():
 *
 *   /engine/parity/tiny           committed fixture (tests/fixtures/tiny): 3 channels, F32 weights,
 *                                 bilinear-antialias resize, channel normalisation
 *   /engine/parity/tiny-gray-f16  committed fixture: 1 channel, F16 weights, plain bilinear,
 *                                 per-image normalisation
 *   /engine/parity/densenet121    DenseNet-121 on real NIH X-rays, generated at test time into
 *                                 $HL_BUILD_DIR/parity; skipped without torch or without the data
 *   /engine/parity/portable       the three again with HILUM_ENGINE_PORTABLE=1: the OpenBLAS
 *                                 convolution path that AVX-512 CPUs otherwise never take
 *
 * Tolerances. Every comparison asserts |engine - exact| <= bound elementwise and reports the
 * largest ratio of the two; "exact" is the same computation in float64 (tools/torch_reference.py
 * dumps it, and this file computes it in double where it is a single formula). u = 2^-24 is the
 * unit roundoff of float32, gamma_n = n u / (1 - n u) Higham's bound on the relative error of any
 * float32 sum or dot product of n terms in any order, blocking or FMA use (Accuracy and Stability
 * of Numerical Algorithms, 2nd ed., 3.1). Two kinds of bound:
 *
 *   The head (logits from the feature map, probabilities from the logits, Grad-CAM from the feature
 *   map) is one or two sums: its bound is the worst case, propagated from the engine's own
 *   features, derived next to logits_bound(), PROBS_ROUNDING and gradcam_bound() below.
 *
 *   The deep parts (preprocessing through a resize of up to 1024 taps per axis, the 121-layer
 *   network to the feature map, the two chained, and the upsampling of torch's maps) have
 *   worst-case bounds that are true but astronomically loose (gamma_K |W| |x| compounded over
 *   every layer). For them the reference runs the identical pass in float32 and in float64, and
 *   the bound is HL_TEST_ROUNDING_FACTOR (8) x max |torch32 - torch64| + 4 u |torch64|
 *   (hl_test_deep_bound(), whose comment says why 8). torch32 rounds the resize's scale and centres
 *   to float where torch64 does not (a relative u, moving a 1024 px coordinate by 6e-5 px); the
 *   engine follows torch32, so that rounding is part of both float32 errors alike.
 */
#include "engine/hl-kernels.h"
#include "hl-test-bound.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define DENSENET121_IMAGES 3

/* The engine's sigmoid, 1 / (1 + expf (-x)) or e / (1 + e) with e = expf (x): glibc's expf is
 * within 1 ulp (2u relative), the sum and the division round once each, and the relative error of
 * e reaches p through e / (1 + e) <= 1; so |p - sigmoid (logit)| <= 4 u p. */
#define PROBS_ROUNDING (4 * HL_TEST_U)

/* A safetensors file read whole: its header and data section. Only what the dumps need. */
typedef struct
{
  char *path;
  char *contents;
  gsize length;
  JsonParser *parser;
  JsonObject *header;
  const guint8 *data;
  gsize data_size;
} StFile;

static void
st_file_free (StFile *st)
{
  if (st == NULL)
    return;
  g_free (st->path);
  g_free (st->contents);
  g_clear_object (&st->parser);
  g_free (st);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StFile, st_file_free)

static StFile *
st_file_load (const char *path)
{
  g_autoptr (GError) error = NULL;
  StFile *st = g_new0 (StFile, 1);
  guint64 header_len;

  st->path = g_strdup (path);
  g_file_get_contents (path, &st->contents, &st->length, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (st->length, >=, 8);
  memcpy (&header_len, st->contents, 8);
  header_len = GUINT64_FROM_LE (header_len);
  g_assert_cmpuint (header_len, <=, st->length - 8);

  st->parser = json_parser_new ();
  json_parser_load_from_data (st->parser, st->contents + 8, (gssize) header_len, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (st->parser)));
  st->header = json_node_get_object (json_parser_get_root (st->parser));
  st->data = (const guint8 *) st->contents + 8 + header_len;
  st->data_size = st->length - 8 - header_len;
  return st;
}

/* A metadata string of @st, or NULL when absent. Lent. */
static const char *
st_file_get_meta (StFile *st, const char *key)
{
  JsonObject *meta = json_object_get_object_member (st->header, "__metadata__");

  if (meta == NULL || !json_object_has_member (meta, key))
    return NULL;
  return json_object_get_string_member (meta, key);
}

static gboolean
st_file_has (StFile *st, const char *name)
{
  return json_object_has_member (st->header, name);
}

/* The @dtype tensor @name of @st (@size bytes per value), copied out (so it is aligned); its shape
 * goes to @shape (n_dims entries). Fails the test when the tensor is absent, of another dtype or
 * rank, or out of bounds. */
static gpointer
st_file_get (StFile *st, const char *name, const char *dtype, gsize size, int n_dims,
             gint64 *shape)
{
  JsonObject *t;
  JsonArray *dims, *offsets;
  guint64 begin, end, numel = 1;

  g_assert_true (st_file_has (st, name));
  t = json_object_get_object_member (st->header, name);
  g_assert_cmpstr (json_object_get_string_member (t, "dtype"), ==, dtype);
  dims = json_object_get_array_member (t, "shape");
  offsets = json_object_get_array_member (t, "data_offsets");
  g_assert_cmpuint (json_array_get_length (dims), ==, n_dims);
  g_assert_cmpuint (json_array_get_length (offsets), ==, 2);
  for (int d = 0; d < n_dims; d++)
    {
      shape[d] = json_array_get_int_element (dims, d);
      g_assert_cmpint (shape[d], >, 0);
      g_assert_cmpint (shape[d], <=, 1 << 24);
      numel *= (guint64) shape[d];
      g_assert_cmpuint (numel, <=, 1 << 28);
    }
  begin = json_array_get_int_element (offsets, 0);
  end = json_array_get_int_element (offsets, 1);
  g_assert_cmpuint (begin, <=, end);
  g_assert_cmpuint (end, <=, st->data_size);
  g_assert_cmpuint (end - begin, ==, numel * size);
  return g_memdup2 (st->data + begin, end - begin);
}

static float *
st_file_get_f32 (StFile *st, const char *name, int n_dims, gint64 *shape)
{
  return st_file_get (st, name, "F32", sizeof (float), n_dims, shape);
}

static double *
st_file_get_f64 (StFile *st, const char *name, int n_dims, gint64 *shape)
{
  return st_file_get (st, name, "F64", sizeof (double), n_dims, shape);
}

/* The head, logits = b + W mean (A), in double from the engine's features @a (n, c, hw) and from
 * the float64 ones @a64, with the bound of |engine logit - b - W mean (a64)|:
 *   sum_k |W[l, k]| |mean (a)_k - mean (a64)_k|       the engine's features' own error, carried
 *                                                     exactly through the (linear) head
 *   + (gamma_{c+1} + gamma_hw + 2u) (sum_k |W[l, k]| mean (a)_k + |b_l|)
 *                                                     the engine's rounding of the mean (an hw-term
 *                                                     sum, 1 / hw and the product) and of the
 *                                                     (c+1)-term dot product with the bias; a >= 0.
 * Fills @bound (n, n_labels). */
static void
logits_bound (HlModel *model, const float *a, const double *a64, int n, int c, int hw,
              double *bound)
{
  int n_labels = model->info.n_labels;
  g_autofree double *m = g_new (double, c), *m64 = g_new (double, c);
  double rounding = hl_test_gamma (c + 1) + hl_test_gamma (hw) + 2 * HL_TEST_U;

  for (int i = 0; i < n; i++)
    {
      for (int k = 0; k < c; k++)
        {
          const float *ak = a + ((gsize) i * c + k) * hw;
          const double *a64k = a64 + ((gsize) i * c + k) * hw;
          double s = 0, s64 = 0;

          for (int j = 0; j < hw; j++)
            {
              s += ak[j];
              s64 += a64k[j];
            }
          m[k] = s / hw;
          m64[k] = s64 / hw;
        }
      for (int l = 0; l < n_labels; l++)
        {
          const float *w = model->classifier_weight + (gsize) l * c;
          double carried = 0, magnitude = fabs (model->classifier_bias[l]);

          for (int k = 0; k < c; k++)
            {
              carried += fabs (w[k]) * fabs (m[k] - m64[k]);
              magnitude += fabs (w[k]) * m[k];
            }
          bound[(gsize) i * n_labels + l] = carried + rounding * magnitude;
        }
    }
}

/* Grad-CAM of image @i at the last feature map by its closed form in double from the float64
 * features @a64 (n, c, hw): want (n_labels, hw) = ReLU (sum_k W[l, k] a64_k / hw). @bound gets the
 * bound of |engine map - want| given the engine's features @a:
 *   sum_k |W[l, k]| |a_k - a64_k| / hw      the engine's features' error through the weighting
 *   + (gamma_c + 2u) sum_k |W[l, k]| a_k / hw   the engine's c-term dot product, the rounding of
 *                                               1 / hw and the product by it (one sgemm)
 * (ReLU is 1-Lipschitz, a >= 0). */
static void
gradcam_bound (HlModel *model, const float *a, const double *a64, int i, int c, int hw,
               double *want, double *bound)
{
  int n_labels = model->info.n_labels;
  double rounding = hl_test_gamma (c) + 2 * HL_TEST_U;

  for (int l = 0; l < n_labels; l++)
    {
      const float *w = model->classifier_weight + (gsize) l * c;

      for (int j = 0; j < hw; j++)
        {
          double s = 0, carried = 0, magnitude = 0;

          for (int k = 0; k < c; k++)
            {
              gsize at = ((gsize) i * c + k) * hw + j;

              s += w[k] * a64[at];
              carried += fabs (w[k]) * fabs (a[at] - a64[at]);
              magnitude += fabs (w[k]) * a[at];
            }
          want[(gsize) l * hw + j] = MAX (s / hw, 0.0);
          bound[(gsize) l * hw + j] = (carried + rounding * magnitude) / hw;
        }
    }
}

/* The model file's metadata as the loader reports it must be what the reference wrote. */
static void
check_info (HlModel *model, StFile *model_file, int n_labels, int channels, int size)
{
  const HlModelInfo *info = hl_model_get_info (model);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonArray *labels;

  g_assert_cmpint (info->n_labels, ==, n_labels);
  g_assert_cmpint (info->input_channels, ==, channels);
  g_assert_cmpint (info->input_size, ==, size);
  g_assert_cmpuint (hl_model_input_size (model), ==, (gsize) channels * size * size);
  g_assert_cmpstr (info->name, ==, st_file_get_meta (model_file, "name"));

  json_parser_load_from_data (parser, st_file_get_meta (model_file, "labels"), -1, &error);
  g_assert_no_error (error);
  labels = json_node_get_array (json_parser_get_root (parser));
  g_assert_cmpuint (json_array_get_length (labels), ==, n_labels);
  for (int l = 0; l < n_labels; l++)
    g_assert_cmpstr (info->labels[l], ==, json_array_get_string_element (labels, l));
  g_assert_null (info->labels[n_labels]);
}

/* Runs one case: @dir/<case>.model.safetensors against @dir/<case>.expected.safetensors. */
static void
check_case (const char *dir, const char *name)
{
  g_autofree char *model_path = g_strdup_printf ("%s/%s.model.safetensors", dir, name);
  g_autofree char *expected_path = g_strdup_printf ("%s/%s.expected.safetensors", dir, name);
  g_autoptr (StFile) expected = st_file_load (expected_path);
  g_autoptr (StFile) model_file = st_file_load (model_path);
  g_autoptr (GError) error = NULL;
  g_autoptr (HlModel) model = NULL;
  g_autoptr (HlForward) fwd = NULL;
  g_autoptr (HlForward) fwd_e2e = NULL;
  g_autofree float *input = NULL, *logits = NULL, *features = NULL, *gradcam = NULL;
  g_autofree float *ours = NULL, *maps = NULL;
  g_autofree double *input64 = NULL, *features64 = NULL, *logits64 = NULL, *e2e64 = NULL;
  g_autofree double *bound = NULL, *probs_want = NULL, *probs_bound = NULL;
  g_autofree double *maps_want = NULL, *maps_bound = NULL;
  gint64 in_shape[4], logit_shape[2], feat_shape[4], cam_shape[4], shape[4];
  gsize per_image, n_scores, n_feat, map_size;
  int n, hw;

  g_test_message ("case %s: torch %s, images %s", name, st_file_get_meta (expected, "torch"),
                  st_file_get_meta (expected, "images"));
  model = hl_model_new_from_file (model_path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model);

  input = st_file_get_f32 (expected, "input", 4, in_shape);
  logits = st_file_get_f32 (expected, "logits", 2, logit_shape);
  features = st_file_get_f32 (expected, "features", 4, feat_shape);
  gradcam = st_file_get_f32 (expected, "gradcam", 4, cam_shape);
  g_assert_cmpint (cam_shape[1], ==, logit_shape[1]);
  input64 = st_file_get_f64 (expected, "input.f64", 4, shape);
  g_assert_cmpmem (shape, sizeof in_shape, in_shape, sizeof in_shape);
  features64 = st_file_get_f64 (expected, "features.f64", 4, shape);
  g_assert_cmpmem (shape, sizeof feat_shape, feat_shape, sizeof feat_shape);
  logits64 = st_file_get_f64 (expected, "logits.f64", 2, shape);
  g_assert_cmpmem (shape, sizeof logit_shape, logit_shape, sizeof logit_shape);
  e2e64 = st_file_get_f64 (expected, "logits_e2e.f64", 2, shape);
  g_assert_cmpmem (shape, sizeof logit_shape, logit_shape, sizeof logit_shape);
  n = (int) in_shape[0];
  g_assert_cmpint (in_shape[2], ==, in_shape[3]);
  g_assert_cmpint (logit_shape[0], ==, n);
  check_info (model, model_file, (int) logit_shape[1], (int) in_shape[1], (int) in_shape[2]);
  per_image = hl_model_input_size (model);

  /* Preprocessing, image by image, from the stored gray planes. */
  ours = g_new (float, per_image * n);
  for (int i = 0; i < n; i++)
    {
      g_autofree char *key = g_strdup_printf ("gray.%d", i);
      g_autofree char *what = NULL;
      g_autofree float *gray = NULL;
      g_autofree double *b = NULL;
      gint64 gray_shape[2];

      gray = st_file_get_f32 (expected, key, 2, gray_shape);
      hl_model_preprocess (model, gray, (int) gray_shape[0], (int) gray_shape[1],
                           ours + per_image * i);
      what = g_strdup_printf ("preprocess image %d (%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT ")", i,
                              gray_shape[0], gray_shape[1]);
      b = hl_test_deep_bound (what, input + per_image * i, input64 + per_image * i, per_image);
      hl_test_assert_bounded (what, ours + per_image * i, input64 + per_image * i, b, per_image);
    }

  /* The network, on torch's own preprocessed input. */
  fwd = hl_model_forward (model, input, n, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fwd);
  g_assert_cmpint (fwd->n, ==, n);
  g_assert_cmpint (fwd->n_labels, ==, logit_shape[1]);
  g_assert_cmpint (fwd->c_feat, ==, feat_shape[1]);
  g_assert_cmpint (fwd->h_feat, ==, feat_shape[2]);
  g_assert_cmpint (fwd->w_feat, ==, feat_shape[3]);
  n_scores = (gsize) n * fwd->n_labels;
  hw = fwd->h_feat * fwd->w_feat;
  n_feat = (gsize) n * fwd->c_feat * hw;
  bound = hl_test_deep_bound ("features", features, features64, n_feat);
  hl_test_assert_bounded ("features", fwd->features, features64, bound, n_feat);
  g_free (bound);

  bound = g_new (double, n_scores);
  logits_bound (model, fwd->features, features64, n, fwd->c_feat, hw, bound);
  hl_test_assert_bounded ("logits", fwd->logits, logits64, bound, n_scores);

  /* The probabilities against the sigmoid, in double, of the engine's own logits. */
  probs_want = g_new (double, n_scores);
  probs_bound = g_new (double, n_scores);
  for (gsize i = 0; i < n_scores; i++)
    {
      probs_want[i] = 1 / (1 + exp (-(double) fwd->logits[i]));
      probs_bound[i] = PROBS_ROUNDING * probs_want[i];
    }
  hl_test_assert_bounded ("probs", fwd->probs, probs_want, probs_bound, n_scores);

  /* Grad-CAM, against its closed form on the float64 features. */
  map_size = (gsize) fwd->n_labels * hw;
  maps = g_new (float, map_size);
  maps_want = g_new (double, map_size);
  maps_bound = g_new (double, map_size);
  for (int i = 0; i < n; i++)
    {
      g_autofree char *what = g_strdup_printf ("gradcam image %d", i);

      hl_forward_gradcam (model, fwd, i, maps);
      gradcam_bound (model, fwd->features, features64, i, fwd->c_feat, hw, maps_want,
                     maps_bound);
      hl_test_assert_bounded (what, maps, maps_want, maps_bound, map_size);
    }

  /* Upsampling of torch's maps to each plane, where the dump has it. */
  for (int i = 0; i < n; i++)
    {
      g_autofree char *key = g_strdup_printf ("gradcam_up.%d", i);
      g_autofree char *key64 = g_strdup_printf ("gradcam_up.f64.%d", i);
      g_autofree float *up = NULL, *got = NULL;
      g_autofree double *up64 = NULL;
      gint64 up_shape[3];
      gsize plane;

      if (!st_file_has (expected, key))
        continue;
      up = st_file_get_f32 (expected, key, 3, up_shape);
      up64 = st_file_get_f64 (expected, key64, 3, shape);
      g_assert_cmpmem (shape, 3 * sizeof *shape, up_shape, sizeof up_shape);
      g_assert_cmpint (up_shape[0], ==, fwd->n_labels);
      plane = (gsize) up_shape[1] * up_shape[2];
      got = g_new (float, plane);
      for (int l = 0; l < fwd->n_labels; l++)
        {
          const float *src = gradcam + (gsize) hw * (fwd->n_labels * i + l);
          g_autofree char *what = g_strdup_printf ("upsample image %d label %d", i, l);
          g_autofree double *b = NULL;

          b = hl_test_deep_bound (what, up + plane * l, up64 + plane * l, plane);

          hl_gradcam_upsample (src, fwd->h_feat, fwd->w_feat, got, (int) up_shape[1],
                               (int) up_shape[2]);
          hl_test_assert_bounded (what, got, up64 + plane * l, b, plane);
        }
    }

  /* End to end: the engine's preprocessing feeding the engine's network, against float64
   * preprocessing feeding the float64 network; torch32's own end-to-end logits are @logits. */
  fwd_e2e = hl_model_forward (model, ours, n, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_free (bound);
  bound = hl_test_deep_bound ("end-to-end logits", logits, e2e64, n_scores);
  hl_test_assert_bounded ("end-to-end logits", fwd_e2e->logits, e2e64, bound, n_scores);
}

static void
test_parity_tiny (void)
{
  g_autofree char *dir = g_build_filename (g_getenv ("HL_FIXTURES"), "tiny", NULL);

  check_case (dir, "tiny");
}

static void
test_parity_tiny_gray_f16 (void)
{
  g_autofree char *dir = g_build_filename (g_getenv ("HL_FIXTURES"), "tiny", NULL);

  check_case (dir, "tiny-gray-f16");
}

/* TRUE when Debian's python has what tools/torch_reference.py imports. */
static gboolean
have_torch (void)
{
  const char *argv[] = { "/usr/bin/python3", "-c", "import torch, torchvision, numpy, PIL", NULL };
  int status = -1;

  if (!g_file_test (argv[0], G_FILE_TEST_IS_EXECUTABLE))
    return FALSE;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL
                     | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, NULL))
    return FALSE;
  return g_spawn_check_wait_status (status, NULL);
}

/* Modification time of @path, or -1 when it does not exist. */
static gint64
mtime_of (const char *path)
{
  GStatBuf st;

  if (g_stat (path, &st) != 0)
    return -1;
  return (gint64) st.st_mtime;
}

static void
test_parity_densenet121 (void)
{
  const char *data = g_getenv ("HL_SHARED_DATA");
  const char *tools = g_getenv ("HL_TOOLS");
  const char *build = g_getenv ("HL_BUILD_DIR");
  g_autofree char *images = NULL, *script = NULL, *out = NULL, *model_path = NULL;
  g_autofree char *expected_path = NULL;
  g_autofree char *std_out = NULL, *std_err = NULL;
  g_autoptr (GError) error = NULL;
  gint64 script_time;
  int status;

  if (data == NULL || tools == NULL || build == NULL)
    {
      g_test_skip ("HL_SHARED_DATA, HL_TOOLS or HL_BUILD_DIR is not set (run through meson test)");
      return;
    }
  images = g_build_filename (data, "nih", "images", NULL);
  if (!g_file_test (images, G_FILE_TEST_IS_DIR))
    {
      g_autofree char *why = g_strdup_printf ("no NIH images at %s", images);

      g_test_skip (why);
      return;
    }
  if (!have_torch ())
    {
      g_test_skip ("/usr/bin/python3 cannot import torch, torchvision, numpy and PIL");
      return;
    }

  script = g_build_filename (tools, "torch_reference.py", NULL);
  out = g_build_filename (build, "parity", NULL);
  model_path = g_build_filename (out, "densenet121.model.safetensors", NULL);
  expected_path = g_build_filename (out, "densenet121.expected.safetensors", NULL);
  script_time = mtime_of (script);
  g_assert_cmpint (script_time, >=, 0);
  if (mtime_of (model_path) < script_time || mtime_of (expected_path) < script_time)
    {
      g_autofree char *count = g_strdup_printf ("%d", DENSENET121_IMAGES);
      const char *argv[] = { "/usr/bin/python3", script, "densenet121", "--images", count,
                             "--out", out, "--data", data, NULL };

      g_test_message ("generating the reference into %s", out);
      g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &std_out, &std_err,
                    &status, &error);
      g_assert_no_error (error);
      g_test_message ("%s%s", std_out, std_err);
      g_spawn_check_wait_status (status, &error);
      g_assert_no_error (error);
    }
  else
    g_test_message ("reusing the reference in %s", out);

  check_case (out, "densenet121");
}

/* The same cases on the portable convolution path (OpenBLAS sgemm on the im2col), which an
 * AVX-512 CPU never takes by itself: in a subprocess with HILUM_ENGINE_PORTABLE=1. */
static void
test_parity_portable (void)
{
  if (g_test_subprocess ())
    {
      /* Set before this process's first engine call, which decides the path once. */
      g_setenv ("HILUM_ENGINE_PORTABLE", "1", TRUE);
      g_assert_false (hl_conv_direct_available ());
      test_parity_tiny ();
      test_parity_tiny_gray_f16 ();
      test_parity_densenet121 ();
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/engine/parity/tiny", test_parity_tiny);
  g_test_add_func ("/engine/parity/tiny-gray-f16", test_parity_tiny_gray_f16);
  g_test_add_func ("/engine/parity/densenet121", test_parity_densenet121);
  g_test_add_func ("/engine/parity/portable", test_parity_portable);
  return g_test_run ();
}
