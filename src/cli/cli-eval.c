/* cli-eval.c — `hilum-cli eval`: scores a model against a label CSV, either by running it on the
 * labelled images (--images, with --model or else the default model) or from its saved
 * predictions CSV (--predictions). Prints the per-label AUROC table (DeLong 95% intervals,
 * optionally bootstrap ones), the mean AUROC and the operating points; with --reference, compares
 * against a second predictions CSV per label (DeLong's paired test); with --out, writes the same
 * as eval.csv, the ROC grid as roc-grid.png and, when a model ran, the predictions as
 * predictions.csv (to evaluate again with --predictions), each through the atomic writer
 * (hl-file-write.h), which never replaces a file of those names that Hilum did not write. */
#include "cli-commands.h"

#include "hl-engine.h"
#include "hl-file-write.h"
#include "hl-image.h"
#include "hl-predictions.h"
#include "hl-roc-chart.h"
#include "hl-summary.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct
{
  char *labels;
  char *images;
  char *model;
  char *predictions;
  char *reference;
  char *out;
  char *ci;
  int bootstrap;
  int seed;
  gboolean unstratified;
  double target_sensitivity;
} EvalArgs;

static void
eval_args_clear (EvalArgs *args)
{
  g_free (args->labels);
  g_free (args->images);
  g_free (args->model);
  g_free (args->predictions);
  g_free (args->reference);
  g_free (args->out);
  g_free (args->ci);
}

/* Loads @path's predictions and lines them up with @labels. */
static HlScoredSet *
load_scored (const char *path, const HlLabelSet *labels, GError **error)
{
  g_autoptr (HlPredictions) predictions = hl_predictions_load (path, error);

  if (predictions == NULL)
    return NULL;
  return hl_predictions_match (predictions, labels, error);
}

/* Runs the model at @model_path on every image of @labels, read from @images_dir. Returns the
 * probabilities as predictions in the model's label order, and the model's "name version" in
 * @model_name. Every model label must be one of the 14. */
static HlPredictions *
predict_with_model (const char *model_path, const char *images_dir, const HlLabelSet *labels,
                    char **model_name, GError **error)
{
  g_autoptr (HlModel) model = hl_model_new_from_file (model_path, error);
  g_autofree int *label_index = NULL;
  g_autofree float *scores = NULL;
  g_autofree const char **images = NULL;
  const HlModelInfo *info;
  gsize n_labels, n_images = labels->rows->len;
  gboolean seen[HL_N_LABELS] = { FALSE };

  if (model == NULL)
    return NULL;
  if (n_images == 0)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV, "%s lists no images", labels->path);
      return NULL;
    }
  info = hl_model_get_info (model);
  n_labels = (gsize) info->n_labels;
  label_index = g_new (int, n_labels);
  for (gsize l = 0; l < n_labels; l++)
    {
      label_index[l] = hl_label_index (info->labels[l]);
      if (label_index[l] < 0 || seen[label_index[l]])
        {
          g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_METADATA,
                       "%s: model label `%s` is not one of the %d findings, or repeats one",
                       model_path, info->labels[l], HL_N_LABELS);
          return NULL;
        }
      seen[label_index[l]] = TRUE;
    }

  fprintf (stderr, "hilum-cli eval: scoring %" G_GSIZE_FORMAT " images with %s %s\n", n_images,
           info->name, info->version);
  scores = g_new (float, n_images * n_labels);
  images = g_new (const char *, n_images);
  for (gsize i = 0; i < n_images; i++)
    {
      const HlLabelRow *row = labels->rows->pdata[i];
      g_autofree char *path = g_build_filename (images_dir, row->image, NULL);
      g_autoptr (HlImage) image = hl_image_load (path, error);
      g_autoptr (HlAnalysis) inference = NULL;

      if (image == NULL)
        return NULL;
      HlGrayPlane plane = { image->pixels, image->width, image->height };
      inference = hl_model_analyze (model, &plane, 1, FALSE, NULL, NULL, NULL, error);
      if (inference == NULL)
        {
          g_prefix_error (error, "%s: ", path);
          return NULL;
        }
      memcpy (scores + i * n_labels, inference->probs, n_labels * sizeof (float));
      images[i] = row->image;
    }
  *model_name = g_strdup_printf ("%s %s", info->name, info->version);
  return hl_predictions_new (model_path, images, n_images, label_index, n_labels, scores);
}

/* "0.1234" or "n/a" for NaN, into @buf. */
static const char *
fmt4 (char *buf, gsize size, double value)
{
  if (isnan (value))
    g_strlcpy (buf, "n/a", size);
  else
    g_snprintf (buf, size, "%.4f", value);
  return buf;
}

static const char *
fmt_interval (char *buf, gsize size, double low, double high)
{
  if (isnan (low) || isnan (high))
    g_strlcpy (buf, "n/a", size);
  else
    g_snprintf (buf, size, "[%.4f, %.4f]", low, high);
  return buf;
}

static void
print_table (const HlSummary *summary)
{
  const HlSummaryOptions *o = &summary->options;
  gboolean boot = o->bootstrap_resamples > 0;
  char a[32], b[48], c[48], t1[32], s1[32], p1[32], t2[32], p2[32];

  printf ("AUROC with DeLong 95%% CI (%s)", o->ci_method == HL_CI_LOGIT ? "logit" : "plain");
  if (boot)
    printf ("; bootstrap 95%% CI (percentile, %u %s resamples, seed %u)", o->bootstrap_resamples,
            o->bootstrap_stratified ? "stratified" : "unstratified", o->bootstrap_seed);
  printf ("\nOperating points: Youden's J, and the highest threshold with sensitivity >= %.2f\n\n",
          o->target_sensitivity);

  printf ("%-19s %4s %4s %7s  %-17s", "Label", "Pos", "Neg", "AUROC", "DeLong 95% CI");
  if (boot)
    printf ("  %-17s", "Bootstrap 95% CI");
  printf ("  %9s %6s %6s  %9s %6s %6s\n", "Youden>=", "Sens", "Spec", "Sens-op>=", "Sens",
          "Spec");
  for (gsize l = 0; l < summary->n_labels; l++)
    {
      const HlLabelSummary *s = &summary->labels[l];

      printf ("%-19s %4" G_GSIZE_FORMAT " %4" G_GSIZE_FORMAT " %7s  %-17s", s->name,
              s->n_positive, s->n_negative, fmt4 (a, sizeof a, s->auroc),
              fmt_interval (b, sizeof b, s->ci_low, s->ci_high));
      if (boot)
        printf ("  %-17s", fmt_interval (c, sizeof c, s->bootstrap.low, s->bootstrap.high));
      if (!s->defined)
        {
          printf ("  (one class only: AUROC undefined)\n");
          continue;
        }
      printf ("  %9s %6s %6s  %9s %6s %6s\n", fmt4 (t1, sizeof t1, s->youden.threshold),
              fmt4 (s1, sizeof s1, s->youden.sensitivity),
              fmt4 (p1, sizeof p1, s->youden.specificity),
              fmt4 (t2, sizeof t2, s->at_sensitivity.threshold),
              fmt4 (c, sizeof c, s->at_sensitivity.sensitivity),
              fmt4 (p2, sizeof p2, s->at_sensitivity.specificity));
    }
  printf ("\nMean AUROC over %" G_GSIZE_FORMAT " labels: %s\n", summary->n_defined,
          fmt4 (a, sizeof a, summary->mean_auroc));
}

static void
print_comparison (const HlComparison *comparison, const HlSummary *reference,
                  const char *reference_path)
{
  char a[32], b[32], c[48], d[32];

  printf ("\nComparison with %s (DeLong's paired test, two-sided)\n\n", reference_path);
  printf ("%-19s %7s %9s  %-17s %8s %7s %9s\n", "Label", "AUROC", "Ref AUROC", "Ref DeLong 95% CI",
          "Diff", "z", "p");
  for (gsize l = 0; l < comparison->n_labels; l++)
    {
      const HlLabelComparison *cl = &comparison->labels[l];
      const HlLabelSummary *rl = &reference->labels[l];

      if (!cl->defined)
        {
          printf ("%-19s (one class only: no test)\n", cl->name);
          continue;
        }
      printf ("%-19s %7s %9s  %-17s %+8.4f %+7.3f %9.3g\n", cl->name,
              fmt4 (a, sizeof a, cl->test.auroc_a), fmt4 (b, sizeof b, cl->test.auroc_b),
              fmt_interval (c, sizeof c, rl->ci_low, rl->ci_high), cl->test.difference,
              cl->test.z, cl->test.p_value);
    }
  printf ("\nReference mean AUROC over %" G_GSIZE_FORMAT " labels: %s\n", reference->n_defined,
          fmt4 (d, sizeof d, reference->mean_auroc));
}

/* Appends @value to @csv as ",%.10g", or "," for NaN. */
static void
csv_number (GString *csv, double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append_c (csv, ',');
  if (!isnan (value))
    g_string_append (csv, g_ascii_formatd (buf, sizeof buf, "%.10g", value));
}

static gboolean
write_csv (const char *path, const HlSummary *summary, const HlComparison *comparison,
           const HlSummary *reference, GError **error)
{
  g_autoptr (GString) csv = g_string_new (
      "label,n_positive,n_negative,auroc,delong_variance,ci_low,ci_high,bootstrap_low,"
      "bootstrap_high,youden_threshold,youden_sensitivity,youden_specificity,youden_ppv,"
      "youden_npv,sens_op_threshold,sens_op_sensitivity,sens_op_specificity,sens_op_ppv,"
      "sens_op_npv,brier");
  gboolean boot = summary->options.bootstrap_resamples > 0;

  if (comparison != NULL)
    g_string_append (csv, ",ref_auroc,ref_ci_low,ref_ci_high,difference,z,p_value");
  g_string_append_c (csv, '\n');
  for (gsize l = 0; l < summary->n_labels; l++)
    {
      const HlLabelSummary *s = &summary->labels[l];
      const HlConfusion *ops[2] = { &s->youden, &s->at_sensitivity };

      g_string_append_printf (csv, "%s,%" G_GSIZE_FORMAT ",%" G_GSIZE_FORMAT, s->name,
                              s->n_positive, s->n_negative);
      csv_number (csv, s->auroc);
      csv_number (csv, s->variance);
      csv_number (csv, s->ci_low);
      csv_number (csv, s->ci_high);
      csv_number (csv, boot ? s->bootstrap.low : NAN);
      csv_number (csv, boot ? s->bootstrap.high : NAN);
      for (int k = 0; k < 2; k++)
        {
          csv_number (csv, s->defined ? ops[k]->threshold : NAN);
          csv_number (csv, s->defined ? ops[k]->sensitivity : NAN);
          csv_number (csv, s->defined ? ops[k]->specificity : NAN);
          csv_number (csv, s->defined ? ops[k]->ppv : NAN);
          csv_number (csv, s->defined ? ops[k]->npv : NAN);
        }
      csv_number (csv, s->calibration != NULL ? s->calibration->brier : NAN);
      if (comparison != NULL)
        {
          const HlLabelComparison *cl = &comparison->labels[l];

          csv_number (csv, reference->labels[l].auroc);
          csv_number (csv, reference->labels[l].ci_low);
          csv_number (csv, reference->labels[l].ci_high);
          csv_number (csv, cl->test.difference);
          csv_number (csv, cl->test.z);
          csv_number (csv, cl->test.p_value);
        }
      g_string_append_c (csv, '\n');
    }
  return hl_file_write_contents (path, csv->str, csv->len, NULL, error);
}

static gboolean
write_roc_grid (const char *path, const HlSummary *summary, const HlSummary *reference,
                const char *model_name, const char *reference_name, GError **error)
{
  g_autofree HlRocSeries *a = g_new (HlRocSeries, summary->n_labels);
  g_autofree HlRocSeries *b = reference != NULL ? g_new (HlRocSeries, summary->n_labels) : NULL;

  for (gsize l = 0; l < summary->n_labels; l++)
    {
      hl_roc_series_init_from_label (&a[l], &summary->labels[l], &summary->labels[l].youden,
                                     model_name);
      if (b != NULL)
        hl_roc_series_init_from_label (&b[l], &reference->labels[l],
                                       &reference->labels[l].youden, reference_name);
    }
  return hl_roc_grid_write_png (path, a, b, summary->n_labels, 0, 1600, 1300, error);
}

static gboolean
run_eval (const EvalArgs *args, GError **error)
{
  g_autoptr (HlLabelSet) labels = NULL;
  g_autoptr (HlPredictions) model_predictions = NULL;
  g_autoptr (HlScoredSet) set = NULL;
  g_autoptr (HlScoredSet) ref_set = NULL;
  g_autoptr (HlSummary) summary = NULL;
  g_autoptr (HlSummary) reference = NULL;
  g_autoptr (HlComparison) comparison = NULL;
  g_autofree char *model_name = NULL;
  g_autofree char *reference_name = NULL;
  HlSummaryOptions options;

  hl_summary_options_init (&options);
  options.ci_method = strcmp (args->ci, "plain") == 0 ? HL_CI_PLAIN : HL_CI_LOGIT;
  options.bootstrap_resamples = (guint) args->bootstrap;
  options.bootstrap_seed = (guint32) args->seed;
  options.bootstrap_stratified = !args->unstratified;
  options.target_sensitivity = args->target_sensitivity;

  labels = hl_label_set_load (args->labels, error);
  if (labels == NULL)
    return FALSE;
  if (labels->n_warnings > 0)
    fprintf (stderr, "hilum-cli eval: %u warning(s) reading %s, the first: %s\n",
             labels->n_warnings, args->labels, (const char *) labels->warnings->pdata[0]);

  if (args->model != NULL)
    {
      model_predictions = predict_with_model (args->model, args->images, labels, &model_name,
                                              error);
      if (model_predictions == NULL)
        return FALSE;
      set = hl_predictions_match (model_predictions, labels, error);
    }
  else
    {
      set = load_scored (args->predictions, labels, error);
      model_name = g_path_get_basename (args->predictions);
    }
  if (set == NULL)
    return FALSE;
  summary = hl_summary_new (set->labels, set->n_labels, set->scores, set->truth, set->n_images,
                            &options, error);
  if (summary == NULL)
    return FALSE;

  if (args->reference != NULL)
    {
      ref_set = load_scored (args->reference, labels, error);
      if (ref_set == NULL)
        return FALSE;
      if (ref_set->n_labels != set->n_labels
          || memcmp (ref_set->label_index, set->label_index, set->n_labels * sizeof (int)) != 0)
        {
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                       "%s and %s do not predict the same labels in the same order",
                       args->model != NULL ? args->model : args->predictions, args->reference);
          return FALSE;
        }
      reference = hl_summary_new (ref_set->labels, ref_set->n_labels, ref_set->scores,
                                  ref_set->truth, ref_set->n_images, &options, error);
      if (reference == NULL)
        return FALSE;
      comparison = hl_comparison_new (set->labels, set->n_labels, set->scores, ref_set->scores,
                                      set->truth, set->n_images, error);
      if (comparison == NULL)
        return FALSE;
      reference_name = g_path_get_basename (args->reference);
    }

  printf ("%s against %s: %" G_GSIZE_FORMAT " images, %" G_GSIZE_FORMAT " labels\n",
          args->model != NULL ? model_name : args->predictions, args->labels, set->n_images,
          set->n_labels);
  print_table (summary);
  if (comparison != NULL)
    print_comparison (comparison, reference, args->reference);

  if (args->out != NULL)
    {
      g_autofree char *csv_path = g_build_filename (args->out, "eval.csv", NULL);
      g_autofree char *png_path = g_build_filename (args->out, "roc-grid.png", NULL);

      if (g_mkdir_with_parents (args->out, 0755) != 0)
        {
          int saved = errno;

          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                       "cannot create %s: %s", args->out, g_strerror (saved));
          return FALSE;
        }
      if (!write_csv (csv_path, summary, comparison, reference, error)
          || !write_roc_grid (png_path, summary, reference, model_name, reference_name, error))
        return FALSE;
      printf ("\nWrote %s and %s\n", csv_path, png_path);
      if (model_predictions != NULL)
        {
          g_autofree char *preds_path = g_build_filename (args->out, "predictions.csv", NULL);
          g_autofree float *scores = g_new (float, model_predictions->n_images
                                                       * model_predictions->n_labels);

          for (gsize i = 0; i < model_predictions->n_images * model_predictions->n_labels; i++)
            scores[i] = (float) model_predictions->scores[i];
          if (!hl_predictions_write (preds_path, (const char *const *) model_predictions->images,
                                     model_predictions->n_images, model_predictions->label_index,
                                     model_predictions->n_labels, scores, error))
            return FALSE;
          printf ("Wrote %s\n", preds_path);
        }
    }
  return TRUE;
}

int
hl_cli_eval (int argc, char **argv)
{
  EvalArgs args = { .ci = NULL, .bootstrap = 0, .seed = 1, .target_sensitivity = 0.9 };
  GOptionEntry entries[] = {
    { "labels", 0, 0, G_OPTION_ARG_FILENAME, &args.labels, "Label CSV (required)", "CSV" },
    { "images", 0, 0, G_OPTION_ARG_FILENAME, &args.images,
      "Run the model on the labelled images in DIR", "DIR" },
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &args.model,
      "Model file to run with --images (default: HILUM_MODEL, then the default model)", "FILE" },
    { "predictions", 0, 0, G_OPTION_ARG_FILENAME, &args.predictions,
      "Saved predictions CSV to score instead of running a model (Image + one column per label)",
      "PREDS.csv" },
    { "reference", 0, 0, G_OPTION_ARG_FILENAME, &args.reference,
      "Reference predictions CSV to compare against (DeLong's paired test)", "PREDS.csv" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &args.out,
      "Write eval.csv, roc-grid.png and, with --images, predictions.csv into DIR", "DIR" },
    { "ci", 0, 0, G_OPTION_ARG_STRING, &args.ci, "DeLong interval: logit (default) or plain",
      "METHOD" },
    { "bootstrap", 0, 0, G_OPTION_ARG_INT, &args.bootstrap,
      "Also a bootstrap percentile interval from N resamples (default 0: none)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT, &args.seed, "Bootstrap seed (default 1)", "SEED" },
    { "unstratified", 0, 0, G_OPTION_ARG_NONE, &args.unstratified,
      "Resample all cases together instead of per class", NULL },
    { "target-sensitivity", 0, 0, G_OPTION_ARG_DOUBLE, &args.target_sensitivity,
      "Sensitivity of the second operating point (default 0.9)", "S" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- score a model against a label CSV");
  g_autoptr (GError) error = NULL;
  int status = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "hilum-cli eval: %s\n", error->message);
      status = 2;
    }
  else if (argc > 1 || args.labels == NULL || (args.images == NULL) == (args.predictions == NULL)
           || (args.model != NULL && args.images == NULL))
    {
      fprintf (stderr, "hilum-cli eval: give --labels and either --images (with --model, or the "
                       "default model) or --predictions (see --help)\n");
      status = 2;
    }
  else if (args.ci != NULL && strcmp (args.ci, "logit") != 0 && strcmp (args.ci, "plain") != 0)
    {
      fprintf (stderr, "hilum-cli eval: --ci must be logit or plain\n");
      status = 2;
    }
  else if (args.bootstrap < 0 || args.seed < 0 || !(args.target_sensitivity >= 0.0)
           || args.target_sensitivity > 1.0)
    {
      fprintf (stderr, "hilum-cli eval: --bootstrap and --seed must be >= 0, "
                       "--target-sensitivity in [0, 1]\n");
      status = 2;
    }
  if (status == 0 && args.images != NULL && !hl_cli_model_path ("eval", &args.model))
    status = 1;
  if (status == 0)
    {
      if (args.ci == NULL)
        args.ci = g_strdup ("logit");
      if (!run_eval (&args, &error))
        {
          fprintf (stderr, "hilum-cli eval: %s\n", error->message);
          status = 1;
        }
    }
  eval_args_clear (&args);
  return status;
}
