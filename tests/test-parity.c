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
 * Tolerances: preprocessed input, logits and probabilities within 1e-4 absolute; the feature map
 * and each Grad-CAM map within 1e-4 times their largest torch value. The forward pass is checked on
 * torch's own preprocessed tensor so that resize and network errors are told apart; the end-to-end
 * logits (engine preprocessing, then engine forward) must agree within 1e-3.
 */
#include "engine/hl-kernels.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define PARITY_TOL 1e-4
#define END_TO_END_TOL 1e-3
#define DENSENET121_IMAGES 3

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

/* The F32 tensor @name of @st, copied out (so it is aligned); its shape goes to @shape (n_dims
 * entries). Fails the test when the tensor is absent, of another dtype or rank, or out of
 * bounds. */
static float *
st_file_get_f32 (StFile *st, const char *name, int n_dims, gint64 *shape)
{
  JsonObject *t;
  JsonArray *dims, *offsets;
  guint64 begin, end, numel = 1;

  g_assert_true (st_file_has (st, name));
  t = json_object_get_object_member (st->header, name);
  g_assert_cmpstr (json_object_get_string_member (t, "dtype"), ==, "F32");
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
  g_assert_cmpuint (end - begin, ==, numel * sizeof (float));
  return g_memdup2 (st->data + begin, end - begin);
}

/* Compares @got (engine) with @want (torch), @n floats. Reports the largest absolute difference
 * and, with @detail, the three largest with their flat index and values. Returns the largest. */
static double
report_diff (const char *what, const float *got, const float *want, gsize n, gboolean detail)
{
  gsize top[3] = { G_MAXSIZE, G_MAXSIZE, G_MAXSIZE };
  double top_diff[3] = { -1, -1, -1 };
  double max_want = 0;

  for (gsize i = 0; i < n; i++)
    {
      double d = fabs ((double) got[i] - (double) want[i]);

      if (isnan (got[i]))
        d = INFINITY;
      max_want = MAX (max_want, fabs (want[i]));
      for (int k = 0; k < 3; k++)
        if (d > top_diff[k])
          {
            for (int j = 2; j > k; j--)
              {
                top_diff[j] = top_diff[j - 1];
                top[j] = top[j - 1];
              }
            top_diff[k] = d;
            top[k] = i;
            break;
          }
    }
  g_test_message ("%s: %" G_GSIZE_FORMAT " values, max |torch| %.6g, max |diff| %.3g", what, n,
                  max_want, top_diff[0]);
  for (int k = 0; detail && k < 3 && top[k] != G_MAXSIZE && top_diff[k] > 0; k++)
    g_test_message ("  [%" G_GSIZE_FORMAT "] engine %.9g torch %.9g diff %.3g", top[k], got[top[k]],
                    want[top[k]], top_diff[k]);
  return top_diff[0];
}

static double
max_abs (const float *x, gsize n)
{
  double m = 0;

  for (gsize i = 0; i < n; i++)
    m = MAX (m, fabs (x[i]));
  return m;
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
  g_autofree float *input = NULL, *logits = NULL, *probs = NULL, *features = NULL;
  g_autofree float *gradcam = NULL, *ours = NULL, *maps = NULL;
  gint64 in_shape[4], logit_shape[2], feat_shape[4], cam_shape[4], probs_shape[2];
  gsize per_image, n_scores, n_feat, map_size;
  int n;

  g_test_message ("case %s: torch %s, images %s", name, st_file_get_meta (expected, "torch"),
                  st_file_get_meta (expected, "images"));
  model = hl_model_new_from_file (model_path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model);

  input = st_file_get_f32 (expected, "input", 4, in_shape);
  logits = st_file_get_f32 (expected, "logits", 2, logit_shape);
  probs = st_file_get_f32 (expected, "probs", 2, probs_shape);
  features = st_file_get_f32 (expected, "features", 4, feat_shape);
  gradcam = st_file_get_f32 (expected, "gradcam", 4, cam_shape);
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
      gint64 gray_shape[2];
      double d;

      gray = st_file_get_f32 (expected, key, 2, gray_shape);
      hl_model_preprocess (model, gray, (int) gray_shape[0], (int) gray_shape[1],
                           ours + per_image * i);
      what = g_strdup_printf ("preprocess image %d (%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT ")", i,
                              gray_shape[0], gray_shape[1]);
      d = report_diff (what, ours + per_image * i, input + per_image * i, per_image, TRUE);
      g_assert_cmpfloat (d, <=, PARITY_TOL);
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
  g_assert_cmpfloat (report_diff ("logits", fwd->logits, logits, n_scores, TRUE), <=, PARITY_TOL);
  g_assert_cmpfloat (report_diff ("probs", fwd->probs, probs, n_scores, TRUE), <=, PARITY_TOL);
  n_feat = (gsize) n * fwd->c_feat * fwd->h_feat * fwd->w_feat;
  g_assert_cmpfloat (report_diff ("features", fwd->features, features, n_feat, TRUE), <=,
                     PARITY_TOL * max_abs (features, n_feat));

  /* Grad-CAM: each map within 1e-4 of its own maximum, with a floor at 1e-2 of the image's largest
   * map so that an all-zero torch map does not demand an exact zero. */
  map_size = (gsize) fwd->h_feat * fwd->w_feat;
  maps = g_new (float, map_size * fwd->n_labels);
  for (int i = 0; i < n; i++)
    {
      const float *want = gradcam + map_size * fwd->n_labels * i;
      double image_max = max_abs (want, map_size * fwd->n_labels);

      hl_forward_gradcam (model, fwd, i, maps);
      for (int l = 0; l < fwd->n_labels; l++)
        {
          g_autofree char *what = g_strdup_printf ("gradcam image %d label %d", i, l);
          double scale = MAX (max_abs (want + map_size * l, map_size), 1e-2 * image_max);
          double d = report_diff (what, maps + map_size * l, want + map_size * l, map_size,
                                  FALSE);

          g_assert_cmpfloat (d, <=, PARITY_TOL * scale);
        }
    }

  /* Upsampling of torch's maps to each plane, where the dump has it. */
  for (int i = 0; i < n; i++)
    {
      g_autofree char *key = g_strdup_printf ("gradcam_up.%d", i);
      g_autofree float *up = NULL, *got = NULL;
      gint64 up_shape[3];
      gsize plane;

      if (!st_file_has (expected, key))
        continue;
      up = st_file_get_f32 (expected, key, 3, up_shape);
      g_assert_cmpint (up_shape[0], ==, fwd->n_labels);
      plane = (gsize) up_shape[1] * up_shape[2];
      got = g_new (float, plane);
      for (int l = 0; l < fwd->n_labels; l++)
        {
          const float *src = gradcam + map_size * (fwd->n_labels * i + l);
          g_autofree char *what = g_strdup_printf ("upsample image %d label %d", i, l);

          hl_gradcam_upsample (src, fwd->h_feat, fwd->w_feat, got, (int) up_shape[1],
                               (int) up_shape[2]);
          g_assert_cmpfloat (report_diff (what, got, up + plane * l, plane, FALSE), <=,
                             PARITY_TOL * MAX (max_abs (src, map_size), 1e-6));
        }
    }

  /* End to end: the engine's preprocessing feeding the engine's network. */
  fwd_e2e = hl_model_forward (model, ours, n, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (report_diff ("end-to-end logits", fwd_e2e->logits, logits, n_scores, TRUE),
                     <=, END_TO_END_TOL);
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
