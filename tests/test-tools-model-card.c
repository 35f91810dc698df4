/* test-tools-model-card.c — tools/make-model-card.py on a tiny model that `hilum-cli train`
 * trains here for one epoch on a few NIH images (HL_SHARED_DATA), evaluated on the first twelve
 * test images: the card names the model and its file's SHA-256, counts the splits, carries every
 * label's test AUROC as hilum-cli eval computed it and their mean, and says "Not for diagnostic
 * use"; it states the split hygiene and the thresholds' origin the model file records (a model
 * trained with --allow-leakage says its splits share patients) and names the reference column
 * after the reference file (CheXNet for the shared one); --compare-with the same model reports no
 * change; a missing model file fails with its name. Skips without the shared data or
 * /usr/bin/python3. */
#include "hl-test-nih.h"
#include "hl-test-png.h"

#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

/* Writes the first @n lines of @src to @dir/@name; returns the new path. */
static char *
head_lines (const char *src, int n, const char *dir, const char *name)
{
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (src, &text, NULL, NULL));
  char *end = text;
  for (int i = 0; i < n && end != NULL; i++)
    {
      end = strchr (end, '\n');
      if (end != NULL)
        end++;
    }
  g_assert_nonnull (end);
  char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, text, end - text, NULL));
  return path;
}

/* Runs the tool with @args (NULL-terminated, after the script); returns its exit status and
 * hands over its stdout and stderr. */
static int
run_tool_out (const char *const *args, char **out, char **err)
{
  g_autofree char *tool = g_build_filename (g_getenv ("HL_TOOLS"), "make-model-card.py", NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, "/usr/bin/python3");
  g_ptr_array_add (argv, tool);
  for (const char *const *a = args; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  g_ptr_array_add (argv, NULL);
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               out, err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("make-model-card: %s%s", *out, *err);
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

/* run_tool_out() for the exit status and stderr only. */
static int
run_tool (const char *const *args, char **err)
{
  g_autofree char *out = NULL;
  return run_tool_out (args, &out, err);
}

static void
test_card (HlTestDir *f, gconstpointer data)
{
  g_autofree char *reference = NULL, *test_csv = NULL;
  if (!hl_test_nih_reference_paths (&reference, &test_csv))
    return;
  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("/usr/bin/python3 absent");
      return;
    }
  const char *shared = g_getenv ("HL_SHARED_DATA");
  g_autofree char *images = g_build_filename (shared, "nih", "images", NULL);
  g_autofree char *train_src = g_build_filename (shared, "nih", "train.csv", NULL);
  g_autofree char *valid_src = g_build_filename (shared, "nih", "valid.csv", NULL);
  g_autofree char *train = head_lines (train_src, 9, f->dir, "train.csv");
  g_autofree char *valid = head_lines (valid_src, 5, f->dir, "valid.csv");
  g_autofree char *test = head_lines (test_csv, 13, f->dir, "test.csv");
  g_autofree char *model = g_build_filename (f->dir, "tiny.safetensors", NULL);
  g_autofree char *eval_dir = g_build_filename (f->dir, "eval", NULL);
  g_autofree char *cli = g_build_filename (g_getenv ("HL_BUILD_DIR"), "src", "cli", "hilum-cli",
                                           NULL);

  const char *train_args[] = { "train", "--train", train, "--valid", valid, "--images", images,
                               "--out", model, "--arch", "tiny", "--input-size", "32",
                               "--epochs", "1", "--batch", "4", "--threads", "1", NULL };
  g_auto (HlTestRun) run = { 0 };
  hl_test_run (&run, train_args);
  g_assert_cmpint (run.status, ==, 0);

  g_autofree char *err = NULL;
  const char *args[] = { model, "--labels", test, "--images", images, "--reference", reference,
                         "--cli", cli, "--eval-dir", eval_dir, NULL };
  g_assert_cmpint (run_tool (args, &err), ==, 0);

  g_autofree char *card_path = hl_model_card_path (model);
  g_autofree char *card = NULL;
  g_assert_true (g_file_get_contents (card_path, &card, NULL, NULL));
  g_assert_true (g_str_has_prefix (card, "# Model card: hilum-tiny-nih 1.0\n"));
  g_assert_nonnull (strstr (card, "**Not for diagnostic use.**"));
  g_assert_nonnull (strstr (card, "| train | 8 | "));
  g_assert_nonnull (strstr (card, "| validation (epoch and threshold selection) | 4 | "));
  g_assert_nonnull (strstr (card, "| test (this card's numbers) | 12 | "));
  g_assert_nonnull (strstr (card, "ChestX-ray8"));
  /* Split hygiene and the thresholds' origin as the model file records them; the shared
   * reference is CheXNet's. */
  g_assert_nonnull (strstr (card, "no patient is in both"));
  g_assert_nonnull (strstr (card, "Youden's J on the validation split"));
  g_assert_nonnull (strstr (card, "| CheXNet AUROC (95% CI) |"));

  g_autofree char *bytes = NULL;
  gsize size = 0;
  g_assert_true (g_file_get_contents (model, &bytes, &size, NULL));
  g_autofree char *sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) bytes,
                                                      size);
  g_assert_nonnull (strstr (card, sha));

  /* Every label's row carries eval.csv's positives and AUROC; the mean is theirs. */
  g_autofree char *eval_csv_path = g_build_filename (eval_dir, "eval.csv", NULL);
  g_autofree char *eval_csv = NULL;
  g_assert_true (g_file_get_contents (eval_csv_path, &eval_csv, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (eval_csv, "\n", -1);
  double sum = 0;
  int n_rows = 0, n_defined = 0;
  for (guint i = 1; lines[i] != NULL && lines[i][0] != '\0'; i++)
    {
      g_auto (GStrv) cells = g_strsplit (lines[i], ",", -1);
      double auroc = g_ascii_strtod (cells[3], NULL);
      g_autofree char *row = NULL;
      if (cells[3][0] != '\0' && isfinite (auroc))
        {
          row = g_strdup_printf ("| %s | %s | %.3f (", cells[0], cells[1], auroc);
          sum += auroc;
          n_defined++;
        }
      else
        row = g_strdup_printf ("| %s | %s | — (", cells[0], cells[1]);
      g_assert_nonnull (strstr (card, row));
      n_rows++;
    }
  g_assert_cmpint (n_rows, ==, 14);
  g_assert_cmpint (n_defined, >, 0);
  g_autofree char *mean = g_strdup_printf ("over the %d findings with positives and negatives: "
                                           "**%.3f**", n_defined, sum / n_defined);
  g_assert_nonnull (strstr (card, mean));

  /* --compare-with prints the largest change of each number: none against the same model. */
  g_autofree char *other_card = g_build_filename (f->dir, "other.md", NULL);
  g_autofree char *out = NULL, *err3 = NULL;
  const char *args_compare[] = { model, "--labels", test, "--images", images, "--reference",
                                 reference, "--cli", cli, "--compare-with", model, "--output",
                                 other_card, NULL };
  g_assert_cmpint (run_tool_out (args_compare, &out, &err3), ==, 0);
  g_assert_nonnull (strstr (out, "Largest differences from "));
  g_assert_nonnull (strstr (out, "  auroc      0.000000 (-)\n"));
  g_assert_nonnull (strstr (out, "  p_value    0.000000 (-)\n"));
  g_assert_nonnull (strstr (out, "  mean AUROC 0.000000\n"));

  /* A model trained with --allow-leakage and --keep-last (a final fit whose validation images are
   * training images) says so; another reference is named by its file. */
  g_autofree char *leaky = head_lines (train_src, 5, f->dir, "leaky.csv");
  g_autofree char *leaky_model = g_build_filename (f->dir, "leaky.safetensors", NULL);
  const char *leaky_args[] = { "train", "--train", train, "--valid", leaky, "--images", images,
                               "--out", leaky_model, "--arch", "tiny", "--input-size", "32",
                               "--epochs", "1", "--batch", "4", "--threads", "1",
                               "--allow-leakage", "--keep-last", NULL };
  g_auto (HlTestRun) leaky_run = { 0 };
  hl_test_run (&leaky_run, leaky_args);
  g_assert_cmpint (leaky_run.status, ==, 0);
  g_autofree char *ref_text = NULL;
  gsize ref_len = 0;
  g_assert_true (g_file_get_contents (reference, &ref_text, &ref_len, NULL));
  g_autofree char *other_ref = g_build_filename (f->dir, "other-preds.csv", NULL);
  g_assert_true (g_file_set_contents (other_ref, ref_text, ref_len, NULL));
  g_autofree char *leaky_card_path = g_build_filename (f->dir, "leaky.md", NULL);
  g_autofree char *err4 = NULL;
  const char *args_leaky[] = { leaky_model, "--labels", test, "--images", images, "--reference",
                               other_ref, "--cli", cli, "--output", leaky_card_path, NULL };
  g_assert_cmpint (run_tool (args_leaky, &err4), ==, 0);
  g_autofree char *leaky_card = NULL;
  g_assert_true (g_file_get_contents (leaky_card_path, &leaky_card, NULL, NULL));
  g_assert_nonnull (strstr (leaky_card, "patients are in both the training and the validation "
                                        "split** (allowed by `hilum-cli train --allow-leakage`)"));
  g_assert_null (strstr (leaky_card, "no patient is in both"));
  g_assert_nonnull (strstr (leaky_card, "thresholds chosen there are in-sample and optimistic"));
  g_assert_nonnull (strstr (leaky_card, "The file holds epoch 1, the last of the run"));
  g_assert_nonnull (strstr (leaky_card, "| validation (operating thresholds) | 4 | "));
  g_assert_nonnull (strstr (leaky_card, "- The operating thresholds and validation AUROCs come "));
  g_assert_nonnull (strstr (leaky_card, "| other-preds AUROC (95% CI) |"));
  g_assert_null (strstr (leaky_card, "CheXNet AUROC"));

  /* A missing model is named. */
  g_autofree char *missing = g_build_filename (f->dir, "none.safetensors", NULL);
  g_autofree char *err2 = NULL;
  const char *args_missing[] = { missing, "--labels", test, "--cli", cli, NULL };
  g_assert_cmpint (run_tool (args_missing, &err2), !=, 0);
  g_assert_nonnull (strstr (err2, "none.safetensors"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/tools/model-card/tiny", HlTestDir, NULL, hl_test_dir_set_up, test_card,
              hl_test_dir_tear_down);
  return g_test_run ();
}
