/* test-tools-import.c — tools/hilum-import against the pipelines of the checkpoints' authors.
 *
 * tools/import_reference.py builds a checkpoint in every layout the importer reads (torchvision
 * state dicts plain and wrapped, arnoweng's and jrzech's CheXNet checkpoints, a torchxrayvision
 * release file, the notebook's Keras HDF5 in both layouts), with seeded random weights, imports
 * each with hilum-import, and records what the source computes on a few 8-bit images: its own
 * preprocessing (PIL, skimage, Keras' nearest resize and featurewise statistics) and network
 * (PyTorch; for Keras an independent numpy implementation of its layers), its probabilities
 * (torchxrayvision's op_norm included). Generated at test time into $HL_BUILD_DIR/import; skipped
 * without Debian's torch, torchvision, h5py, skimage and PIL.
 *
 *   /tools/import/network   the imported model on the source's own preprocessed input: logits
 *                           within test-parity's bound (hl_test_deep_bound: 8 x the largest
 *                           |source32 - source64| + 4u |source64|), the source's pass being run
 *                           in float32 and in float64 (PyTorch's model and its double() copy;
 *                           the numpy Keras layers with float32 and float64 arrays). What this
 *                           checks is the conversion: a transposed kernel, a misplaced
 *                           BatchNorm or a shuffled label moves logits by their own size.
 *   /tools/import/pipeline  hilum-cli predict on the image files, Hilum's preprocessing against
 *                           the source's: probabilities within 1e-3, the acceptance,
 *                           also a limit: PIL's and Keras' resizes are reproduced to the bit and
 *                           the CSV prints each float exactly (the shortest decimal that reads
 *                           back as it), but skimage's resize is only within 3 float32 ulps
 *                           (test-engine-resize), and how far the network carries that has no a
 *                           priori bound; nor, as above, has its float32 error. The largest
 *                           difference seen is 2.2e-6 (torchvision-plain), 0.0022 of the
 *                           limit.
 *   /tools/import/refused   a pickle that would run code is refused without running it, an
 *                           unknown architecture and an unplaceable label set are refused.
 */
#include "engine/hl-engine.h"
#include "hl-test-bound.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

static const char *const cases[] = { "torchvision-plain", "torchvision-wrapped",
                                     "chexnet-state-dict", "chexnet-pickled-model", "xrv-nih",
                                     "keras-weights", "keras-model" };

static char *reference_dir;

/* Runs tools/import_reference.py once; FALSE (and the test skipped) when it cannot run here. */
static gboolean
have_reference (void)
{
  static int state = 0; /* 0 not tried, 1 ok, 2 cannot */
  const char *tools = g_getenv ("HL_TOOLS"), *build = g_getenv ("HL_BUILD_DIR");

  if (state == 0)
    {
      const char *probe[] = { "/usr/bin/python3", "-c",
                              "import torch, torchvision, h5py, skimage, PIL, numpy", NULL };
      int status = -1;

      state = 2;
      if (tools != NULL && build != NULL
          && g_spawn_sync (NULL, (char **) probe, NULL, G_SPAWN_STDOUT_TO_DEV_NULL
                                                        | G_SPAWN_STDERR_TO_DEV_NULL,
                           NULL, NULL, NULL, NULL, &status, NULL)
          && g_spawn_check_wait_status (status, NULL))
        {
          g_autofree char *script = g_build_filename (tools, "import_reference.py", NULL);
          g_autoptr (GError) error = NULL;
          const char *data = g_getenv ("HL_SHARED_DATA");
          reference_dir = g_build_filename (build, "import", NULL);
          const char *argv[] = { "/usr/bin/python3", script, reference_dir, "--data",
                                 data != NULL ? data : "", NULL };
          g_autofree char *err = NULL;

          g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                                       NULL, NULL, NULL, &err, &status, &error));
          if (!g_spawn_check_wait_status (status, &error))
            g_error ("import_reference.py failed: %s\n%s", error->message, err);
          state = 1;
        }
    }
  if (state == 2)
    g_test_skip ("/usr/bin/python3 cannot import torch, torchvision, h5py, skimage and PIL, or "
                 "HL_TOOLS / HL_BUILD_DIR is not set (run through meson test)");
  return state == 1;
}

static JsonObject *
case_json (const char *name, JsonParser **parser)
{
  g_autofree char *file = g_strconcat (name, ".json", NULL);
  g_autofree char *path = g_build_filename (reference_dir, file, NULL);
  g_autoptr (GError) error = NULL;

  *parser = json_parser_new ();
  json_parser_load_from_file (*parser, path, &error);
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (*parser));
}

/* The reference's raw little-endian file NAME.EXT, which must hold @expect values of @size
 * bytes; newly allocated. */
static gpointer
read_raw (const char *name, const char *ext, gsize expect, gsize size)
{
  g_autofree char *file = g_strconcat (name, ext, NULL);
  g_autofree char *path = g_build_filename (reference_dir, file, NULL);
  g_autofree char *bytes = NULL;
  gsize length = 0;
  g_autoptr (GError) error = NULL;

  g_file_get_contents (path, &bytes, &length, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (length, ==, expect * size);
  return g_memdup2 (bytes, length);
}

static float *
read_f32 (const char *name, const char *ext, gsize expect)
{
  return read_raw (name, ext, expect, sizeof (float));
}

static double *
read_f64 (const char *name, const char *ext, gsize expect)
{
  return read_raw (name, ext, expect, sizeof (double));
}

static HlModel *
load_case (const char *name)
{
  g_autofree char *file = g_strconcat (name, ".safetensors", NULL);
  g_autofree char *path = g_build_filename (reference_dir, file, NULL);
  g_autoptr (GError) error = NULL;
  HlModel *model = hl_model_new_from_file (path, &error);

  g_assert_no_error (error);
  return model;
}

static void
test_network (void)
{
  if (!have_reference ())
    return;
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr (JsonParser) parser = NULL;
      JsonObject *o = case_json (cases[c], &parser);
      g_autoptr (HlModel) model = load_case (cases[c]);
      const HlModelInfo *info = hl_model_get_info (model);
      JsonArray *shape = json_object_get_array_member (o, "input_shape");
      JsonArray *labels = json_object_get_array_member (o, "labels");
      int n = json_array_get_int_element (shape, 0);
      gsize in_floats = hl_model_input_size (model);
      g_autofree float *input = read_f32 (cases[c], ".input.f32", n * in_floats);
      gsize n_logits = (gsize) n * info->n_labels;
      g_autofree float *want32 = read_f32 (cases[c], ".logits.f32", n_logits);
      g_autofree double *want64 = read_f64 (cases[c], ".logits.f64", n_logits);
      g_autoptr (GError) error = NULL;

      g_assert_cmpint (info->n_labels, ==, json_array_get_length (labels));
      for (int l = 0; l < info->n_labels; l++)
        g_assert_cmpstr (info->labels[l], ==, json_array_get_string_element (labels, l));
      g_autoptr (HlForward) fwd = hl_model_forward (model, input, n, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      g_autofree double *bound = hl_test_deep_bound (cases[c], want32, want64, n_logits);
      hl_test_assert_bounded (cases[c], fwd->logits, want64, bound, n_logits);
    }
}

static void
test_pipeline (void)
{
  g_autofree char *cli = NULL;

  if (!have_reference ())
    return;
  cli = g_build_filename (g_getenv ("HL_BUILD_DIR"), "src", "cli", "hilum-cli", NULL);
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr (JsonParser) parser = NULL;
      JsonObject *o = case_json (cases[c], &parser);
      JsonArray *images = json_object_get_array_member (o, "images");
      JsonArray *probs = json_object_get_array_member (o, "probs");
      JsonArray *labels = json_object_get_array_member (o, "labels");
      g_autofree char *file = g_strconcat (cases[c], ".safetensors", NULL);
      g_autofree char *model = g_build_filename (reference_dir, file, NULL);
      g_autoptr (GPtrArray) argv = g_ptr_array_new ();
      g_autofree char *out = NULL, *err = NULL;
      g_autoptr (GError) error = NULL;
      int status;
      double worst = 0.0;

      g_ptr_array_add (argv, cli);
      g_ptr_array_add (argv, (char *) "predict");
      g_ptr_array_add (argv, (char *) "--model");
      g_ptr_array_add (argv, model);
      for (guint i = 0; i < json_array_get_length (images); i++)
        g_ptr_array_add (argv, (char *) json_array_get_string_element (images, i));
      g_ptr_array_add (argv, NULL);
      g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                   &out, &err, &status, &error));
      if (!g_spawn_check_wait_status (status, NULL))
        g_error ("%s: hilum-cli predict failed: %s", cases[c], err);
      g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
      g_auto (GStrv) header = g_strsplit (lines[0], ",", -1);
      g_assert_cmpuint (g_strv_length (header), ==, json_array_get_length (labels) + 1);
      for (guint i = 0; i < json_array_get_length (images); i++)
        {
          g_auto (GStrv) row = g_strsplit (lines[i + 1], ",", -1);
          JsonArray *want = json_array_get_array_element (probs, i);
          g_assert_cmpuint (g_strv_length (row), ==, g_strv_length (header));
          for (guint k = 1; header[k] != NULL; k++)
            {
              guint l = 0;
              while (g_strcmp0 (json_array_get_string_element (labels, l), header[k]) != 0)
                l++;
              double d = fabs (g_ascii_strtod (row[k], NULL) - json_array_get_double_element (want, l));
              if (d > 1e-3)
                g_error ("%s: image %u %s scored %s, the source gives %.6f", cases[c], i,
                         header[k], row[k], json_array_get_double_element (want, l));
              worst = MAX (worst, d);
            }
        }
      g_test_message ("%s: %u images, largest probability difference %.3g", cases[c],
                      json_array_get_length (images), worst);
    }
}

/* Runs hilum-import on @source; returns its exit status and stores its stderr in @err. */
static int
run_import (const char *source, const char *out, char **err)
{
  g_autofree char *tool = g_build_filename (g_getenv ("HL_TOOLS"), "hilum-import", NULL);
  const char *argv[] = { "/usr/bin/python3", tool, source, out, NULL };
  int status = -1;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                               NULL, err, &status, NULL));
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
test_refused (void)
{
  if (!have_reference ())
    return;
  g_autofree char *evil = g_build_filename (reference_dir, "evil.pth", NULL);
  g_autofree char *marker = g_build_filename (reference_dir, "evil-ran", NULL);
  g_autofree char *out = g_build_filename (reference_dir, "refused.safetensors", NULL);
  g_autofree char *script = g_strdup_printf (
      "import os, pickle, torch, collections, zipfile\n"
      "class Evil:\n"
      "    def __reduce__(self): return (os.system, ('touch %s',))\n"
      "torch.save({'state_dict': collections.OrderedDict(x=Evil())}, '%s')\n", marker, evil);
  const char *argv[] = { "/usr/bin/python3", "-c", script, NULL };
  g_autofree char *err = NULL;
  int status;

  g_unlink (marker);
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL,
                               &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpint (run_import (evil, out, &err), ==, 1);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_assert_nonnull (strstr (err, "evil.pth"));
  g_clear_pointer (&err, g_free);

  /* a torchvision state dict whose 14 outputs are not named: refused, not guessed */
  g_autofree char *plain = g_build_filename (reference_dir, "plain.pth", NULL);
  g_assert_cmpint (run_import (plain, out, &err), ==, 1);
  g_assert_nonnull (strstr (err, "--labels"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tools/import/network", test_network);
  g_test_add_func ("/tools/import/pipeline", test_pipeline);
  g_test_add_func ("/tools/import/refused", test_refused);
  return g_test_run ();
}
