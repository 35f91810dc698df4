/* test-cli-eval.c — runs the built `hilum-cli eval` (HL_BUILD_DIR) on the shared reference CheXNet
 * predictions and on small made-up files: the table, the mean AUROC the data README states, the
 * files written by --out, the paired comparison, running a (random, tiny) model on images the test
 * draws, and the usage and data errors. */
#include "hl-summary.h"
#include "hl-test-model-file.h"
#include "hl-test-nih.h"
#include "hl-test-png.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* @field, written with "%.10g", is @value rounded to 10 significant digits: within half a unit in
 * the 10th digit, 0.5 10^(floor (log10 |value|) - 9), plus the parse's rounding (2^-53
 * relative). */
static void
assert_printed_10g (const char *field, double value)
{
  double bound = value == 0 ? 0 : 0.5 * pow (10, floor (log10 (fabs (value))) - 9);

  g_assert_cmpfloat_with_epsilon (g_ascii_strtod (field, NULL), value,
                                  bound + fabs (value) / 9007199254740992.0);
}

static void
test_reference (void)
{
  g_autofree char *preds = NULL;
  g_autofree char *labels_path = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *csv = NULL;
  g_autofree char *png = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HlScoredSet) set = NULL;
  g_autoptr (HlSummary) summary = NULL;
  g_auto (GStrv) lines = NULL;
  g_auto (HlTestRun) run = { 0 };
  const char *mean_line;
  double mean;

  if (!hl_test_nih_reference_paths (&preds, &labels_path))
    return;
  dir = hl_test_make_tmp_dir ("hl-eval-XXXXXX");
  {
    const char *args[] = { "eval", "--labels", labels_path, "--predictions", preds,
                           "--reference", preds, "--out", dir, NULL };

    hl_test_run (&run, args);
  }
  if (run.status != 0)
    g_error ("eval failed: %s", run.err);

  /* the mean the data README states for the reference */
  mean_line = strstr (run.out, "Mean AUROC over 14 labels: ");
  g_assert_nonnull (mean_line);
  mean = g_ascii_strtod (mean_line + strlen ("Mean AUROC over 14 labels: "), NULL);
  /* the README's 0.795 is rounded to 3 decimals (5e-4) and the printed mean to 4 (5e-5) */
  g_assert_cmpfloat_with_epsilon (mean, 0.795, 5e-4 + 5e-5);
  g_assert_nonnull (strstr (run.out, "DeLong 95% CI (logit)"));
  g_assert_nonnull (strstr (run.out, "Pleural_Thickening"));
  g_assert_nonnull (strstr (run.out, "Comparison with"));

  /* eval.csv holds what the analysis module computes, to its 10 printed digits */
  set = hl_test_load_scored (preds, labels_path, NULL);
  summary = hl_summary_new (set->labels, set->n_labels, set->scores, set->truth, set->n_images,
                            NULL, &error);
  g_assert_no_error (error);
  csv = g_build_filename (dir, "eval.csv", NULL);
  g_file_get_contents (csv, &text, NULL, &error);
  g_assert_no_error (error);
  lines = g_strsplit (text, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 1 + HL_N_LABELS + 1); /* header, rows, "" */
  g_assert_true (g_str_has_prefix (lines[0], "label,n_positive,n_negative,auroc,"));
  g_assert_true (g_str_has_suffix (lines[0], ",difference,z,p_value"));
  for (gsize l = 0; l < HL_N_LABELS; l++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[1 + l], ",", -1);
      guint n_fields = g_strv_length (fields);
      const HlLabelSummary *s = &summary->labels[l];

      g_assert_cmpstr (fields[0], ==, s->name);
      assert_printed_10g (fields[3], s->auroc);
      assert_printed_10g (fields[5], s->ci_low);
      assert_printed_10g (fields[6], s->ci_high);
      /* against itself: no difference, p = 1 */
      g_assert_cmpfloat (g_ascii_strtod (fields[n_fields - 3], NULL), ==, 0.0);
      g_assert_cmpfloat (g_ascii_strtod (fields[n_fields - 1], NULL), ==, 1.0);
    }

  png = g_build_filename (dir, "roc-grid.png", NULL);
  {
    g_autofree char *bytes = NULL;
    gsize length;

    g_file_get_contents (png, &bytes, &length, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (length, >, 24);
    g_assert_cmpmem (bytes, 8, "\x89PNG\r\n\x1a\n", 8);
  }
  hl_test_remove_tree (dir);
}

static void
test_errors (void)
{
  g_autofree char *dir = hl_test_make_tmp_dir ("hl-eval-XXXXXX");
  g_autofree char *labels = hl_test_add_text (
      dir, "labels.csv", "Image,Edema,Hernia\na.png,1,0\nb.png,0,1\nc.png,0,0\n");
  g_autofree char *short_preds
      = hl_test_add_text (dir, "short.csv", "Image,Edema,Hernia\na.png,0.5,0.5\nb.png,0.1,0.2\n");
  g_autofree char *nan_preds = hl_test_add_text (
      dir, "nan.csv", "Image,Edema,Hernia\na.png,0.5,0.5\nb.png,nan,0.2\nc.png,0.1,0.1\n");
  g_autofree char *other_preds = hl_test_add_text (
      dir, "other.csv", "Image,Hernia,Edema\na.png,0.5,0.5\nb.png,0.1,0.2\nc.png,0.1,0.1\n");
  g_autofree char *good_preds = hl_test_add_text (
      dir, "good.csv", "Image,Edema,Hernia\na.png,0.9,0.1\nb.png,0.1,0.8\nc.png,0.2,0.3\n");

  {
    const char *args[] = { "eval", "--labels", labels, NULL };
    g_auto (HlTestRun) run = { 0 };

    hl_test_run (&run, args);
    g_assert_cmpint (run.status, ==, 2);
    g_assert_nonnull (strstr (run.err, "either --images (with --model, or the default model) or "
                                       "--predictions"));
  }
  {
    /* --images without --model: the default model, and with none anywhere a runtime failure
     * that names the places searched. */
    const char *args[] = { "eval", "--labels", labels, "--images", dir, NULL };
    g_auto (HlTestRun) run = { 0 };

    g_unsetenv ("HILUM_MODEL");
    g_setenv ("HILUM_MODEL_DIRS", dir, TRUE);
    hl_test_run (&run, args);
    g_unsetenv ("HILUM_MODEL_DIRS");
    g_autofree char *looked_for = g_build_filename (dir, HL_DEFAULT_MODEL_FILE, NULL);
    g_assert_cmpint (run.status, ==, 1);
    g_assert_nonnull (strstr (run.err, looked_for));
  }
  {
    /* --model needs --images */
    const char *args[] = { "eval", "--labels", labels, "--predictions", good_preds, "--model",
                           labels, NULL };
    g_auto (HlTestRun) run = { 0 };

    hl_test_run (&run, args);
    g_assert_cmpint (run.status, ==, 2);
  }
  {
    const char *args[] = { "eval", "--labels", labels, "--predictions", good_preds, "--ci",
                           "wald", NULL };
    g_auto (HlTestRun) run = { 0 };

    hl_test_run (&run, args);
    g_assert_cmpint (run.status, ==, 2);
  }
  {
    /* a labelled image without a prediction */
    const char *args[] = { "eval", "--labels", labels, "--predictions", short_preds, NULL };
    g_auto (HlTestRun) run = { 0 };

    hl_test_run (&run, args);
    g_assert_cmpint (run.status, ==, 1);
    g_assert_nonnull (strstr (run.err, "no prediction for 1 of the 3 images"));
  }
  {
    const char *args[] = { "eval", "--labels", labels, "--predictions", nan_preds, NULL };
    g_auto (HlTestRun) run = { 0 };

    hl_test_run (&run, args);
    g_assert_cmpint (run.status, ==, 1);
    g_assert_nonnull (strstr (run.err, "nan.csv:3"));
  }
  {
    const char *args[] = { "eval", "--labels", labels, "--predictions", good_preds,
                           "--reference", other_preds, NULL };
    g_auto (HlTestRun) run = { 0 };

    hl_test_run (&run, args);
    g_assert_cmpint (run.status, ==, 1);
    g_assert_nonnull (strstr (run.err, "same labels"));
  }
  {
    /* one positive each: AUROC 1 for both; DeLong's variance needs 2 of a class: n/a */
    const char *args[] = { "eval", "--labels", labels, "--predictions", good_preds, NULL };
    g_auto (HlTestRun) run = { 0 };

    hl_test_run (&run, args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_nonnull (strstr (run.out, "Mean AUROC over 2 labels: 1.0000"));
    g_assert_nonnull (strstr (run.out, "1.0000  n/a"));
  }
  hl_test_remove_tree (dir);
}

/* --model runs the model on each labelled image: predictions.csv holds the engine's own
 * probabilities row by row, and evaluating that file again gives the same table. */
static void
test_model (void)
{
  static char *names[] = { "Hernia", "Atelectasis", "Edema", NULL };
  const char *images[] = { "p1_000.png", "p2_000.png", "p3_000.png", "p4_000.png",
                           "p5_000.png", "p6_000.png" };
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = hl_test_make_tmp_dir ("hl-eval-XXXXXX");
  g_autofree char *model_path = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree char *labels = NULL;
  g_autofree char *out = g_build_filename (dir, "out", NULL);
  g_autofree char *preds = g_build_filename (out, "predictions.csv", NULL);
  g_autoptr (HlModel) model = NULL;
  g_autoptr (HlPredictions) saved = NULL;
  HlModelInfo info;

  hl_test_tiny_info (&info);
  info.labels = names;
  info.n_labels = 3;
  model = hl_model_new_random (&info, 5);
  {
    g_autoptr (HlTestModelFile) file = hl_test_model_file_new_from_model (model, "F32");
    g_autoptr (GBytes) bytes = hl_test_model_file_build (file);
    gsize size;
    const char *data = g_bytes_get_data (bytes, &size);

    g_file_set_contents (model_path, data, (gssize) size, &error);
    g_assert_no_error (error);
  }
  for (gsize i = 0; i < G_N_ELEMENTS (images); i++)
    {
      g_autofree char *path = g_build_filename (dir, images[i], NULL);

      hl_test_png_write_gray8 (path, 48, 40, (guint32) (i + 1));
    }
  labels = hl_test_add_text (dir, "labels.csv",
                            "Image,Atelectasis,Edema,Hernia\n"
                            "p1_000.png,1,0,0\np2_000.png,0,1,0\np3_000.png,1,0,1\n"
                            "p4_000.png,0,0,0\np5_000.png,1,1,0\np6_000.png,0,0,1\n");

  {
    const char *args[] = { "eval", "--labels", labels, "--model", model_path, "--images", dir,
                           "--out", out, NULL };
    const char *again[] = { "eval", "--labels", labels, "--predictions", preds, NULL };
    g_auto (HlTestRun) run = { 0 };
    g_auto (HlTestRun) run_again = { 0 };

    hl_test_run (&run, args);
    if (run.status != 0)
      g_error ("eval --model failed: %s", run.err);
    g_assert_nonnull (strstr (run.out, "tiny 1 against"));
    g_assert_nonnull (strstr (run.out, "Mean AUROC over 3 labels: "));

    hl_test_run (&run_again, again);
    g_assert_cmpint (run_again.status, ==, 0);
    /* the same table: everything after the first line (which names the source) up to the
     * "Wrote" lines of --out */
    g_assert_nonnull (strstr (run.out, "\nWrote "));
    *strstr (run.out, "\nWrote ") = '\0';
    g_assert_cmpstr (strchr (run.out, '\n') + 1, ==, strchr (run_again.out, '\n') + 1);
  }

  saved = hl_predictions_load (preds, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (saved->n_images, ==, G_N_ELEMENTS (images));
  g_assert_cmpuint (saved->n_labels, ==, 3);
  for (gsize l = 0; l < 3; l++)
    g_assert_cmpstr (hl_label_names[saved->label_index[l]], ==, names[l]);
  for (gsize i = 0; i < G_N_ELEMENTS (images); i++)
    {
      g_autofree char *path = g_build_filename (dir, images[i], NULL);
      g_autoptr (HlImage) image = hl_image_load (path, &error);
      g_autofree float *input = g_new (float, hl_model_input_size (model));
      g_autoptr (HlForward) fwd = NULL;

      g_assert_no_error (error);
      hl_model_preprocess (model, image->pixels, image->height, image->width, input);
      fwd = hl_model_forward (model, input, 1, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (saved->images[i], ==, images[i]);
      for (gsize l = 0; l < 3; l++)
        g_assert_cmpfloat ((float) saved->scores[i * 3 + l], ==, fwd->probs[l]);
    }

  {
    /* a reference whose columns are in another order than the model's labels: refused, naming
     * the model file and the reference */
    g_autofree char *reordered = hl_test_add_text (dir, "reordered.csv",
                                                   "Image,Edema,Atelectasis,Hernia\n"
                                                   "p1_000.png,0.1,0.2,0.3\np2_000.png,0.4,0.5,0.6\n"
                                                   "p3_000.png,0.1,0.2,0.3\np4_000.png,0.4,0.5,0.6\n"
                                                   "p5_000.png,0.1,0.2,0.3\np6_000.png,0.4,0.5,0.6\n");
    const char *args[] = { "eval", "--labels", labels, "--model", model_path, "--images", dir,
                           "--reference", reordered, NULL };
    g_auto (HlTestRun) run = { 0 };
    g_autofree char *expected = g_strdup_printf ("%s and %s do not predict the same labels",
                                                 model_path, reordered);

    hl_test_run (&run, args);
    g_assert_cmpint (run.status, ==, 1);
    g_assert_nonnull (strstr (run.err, expected));
  }
  {
    /* a missing image names the file */
    g_autofree char *gone = g_build_filename (dir, "p4_000.png", NULL);
    const char *args[] = { "eval", "--labels", labels, "--model", model_path, "--images", dir,
                           NULL };
    g_auto (HlTestRun) run = { 0 };

    g_assert_cmpint (g_unlink (gone), ==, 0);
    hl_test_run (&run, args);
    g_assert_cmpint (run.status, ==, 1);
    g_assert_nonnull (strstr (run.err, gone));
  }
  hl_test_remove_tree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/cli/eval/reference", test_reference);
  g_test_add_func ("/cli/eval/errors", test_errors);
  g_test_add_func ("/cli/eval/model", test_model);

  return g_test_run ();
}
