/* hl-summary.c — per-label evaluation of a score matrix against a truth matrix, and the per-label
 * paired comparison of two models, built from the single-label functions of this module. */
#include "hl-summary.h"

#include <math.h>

void
hl_summary_options_init (HlSummaryOptions *options)
{
  g_return_if_fail (options != NULL);

  *options = (HlSummaryOptions){
    .ci_method = HL_CI_LOGIT,
    .bootstrap_resamples = 0,
    .bootstrap_seed = 1,
    .bootstrap_stratified = TRUE,
    .target_sensitivity = 0.9,
    .calibration_bins = 10,
  };
}

/* Copies column @column of the row-major (n_rows, n_columns) matrices into @scores and @truth. */
static void
copy_column (const double *matrix, const guint8 *truth_matrix, gsize n_rows, gsize n_columns,
             gsize column, double *scores, guint8 *truth)
{
  for (gsize r = 0; r < n_rows; r++)
    {
      scores[r] = matrix[r * n_columns + column];
      truth[r] = truth_matrix[r * n_columns + column];
    }
}

/* Prefixes the message of @error with the label's name. */
static gboolean
fail_for_label (GError **error, const char *name)
{
  g_prefix_error (error, "label %s: ", name);
  return FALSE;
}

static void
label_summary_clear (HlLabelSummary *label)
{
  g_free (label->name);
  hl_roc_curve_free (label->curve);
  hl_calibration_free (label->calibration);
}

/* Fills @label for one label's column (@scores, @truth) (n). */
static gboolean
summarize_label (HlLabelSummary *label, const double *scores, const guint8 *truth, gsize n,
                 const HlSummaryOptions *options, GError **error)
{
  g_autoptr (HlRocCurve) full = NULL;

  if (!hl_roc_check (scores, truth, n, &label->n_positive, &label->n_negative, error))
    return fail_for_label (error, label->name);

  label->defined = label->n_positive > 0 && label->n_negative > 0;
  if (!label->defined)
    {
      const HlConfusion none = { NAN, 0, 0, 0, 0, NAN, NAN, NAN, NAN, NAN };

      label->auroc = label->variance = label->ci_low = label->ci_high = NAN;
      label->bootstrap.low = label->bootstrap.high = NAN;
      label->youden = label->at_sensitivity = none;
      return TRUE;
    }

  if (!hl_delong_variance (scores, truth, n, &label->auroc, &label->variance, error))
    return fail_for_label (error, label->name);
  hl_delong_ci (label->auroc, label->variance, options->ci_method, &label->ci_low,
                &label->ci_high);

  if (options->bootstrap_resamples > 0
      && !hl_bootstrap_auroc_ci (scores, truth, n, options->bootstrap_resamples,
                                 options->bootstrap_seed, options->bootstrap_stratified,
                                 &label->bootstrap, error))
    return fail_for_label (error, label->name);

  label->curve = hl_roc_curve_new (scores, truth, n, TRUE, error);
  full = hl_roc_curve_new (scores, truth, n, FALSE, error);
  if (label->curve == NULL || full == NULL)
    return fail_for_label (error, label->name);
  hl_roc_curve_confusion (full, hl_roc_curve_youden (full), &label->youden);
  hl_roc_curve_confusion (full, hl_roc_curve_at_sensitivity (full, options->target_sensitivity),
                          &label->at_sensitivity);

  if (options->calibration_bins > 0)
    {
      label->calibration = hl_calibration_new (scores, truth, n, options->calibration_bins, error);
      if (label->calibration == NULL)
        return fail_for_label (error, label->name);
    }
  return TRUE;
}

HlSummary *
hl_summary_new (const char *const *names, gsize n_labels, const double *scores,
                const guint8 *truth, gsize n_cases, const HlSummaryOptions *options,
                GError **error)
{
  g_autoptr (HlSummary) summary = NULL;
  g_autofree double *column = NULL;
  g_autofree guint8 *column_truth = NULL;
  double sum = 0.0;

  g_return_val_if_fail (names != NULL, NULL);
  g_return_val_if_fail (n_labels >= 1, NULL);
  g_return_val_if_fail (scores != NULL && truth != NULL, NULL);
  g_return_val_if_fail (n_cases >= 1, NULL);
  g_return_val_if_fail (n_cases <= G_MAXSIZE / n_labels, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  summary = g_new0 (HlSummary, 1);
  if (options != NULL)
    summary->options = *options;
  else
    hl_summary_options_init (&summary->options);
  g_return_val_if_fail (summary->options.target_sensitivity >= 0.0
                          && summary->options.target_sensitivity <= 1.0, NULL);

  summary->n_cases = n_cases;
  summary->n_labels = n_labels;
  summary->labels = g_new0 (HlLabelSummary, n_labels);
  for (gsize l = 0; l < n_labels; l++)
    summary->labels[l].name = g_strdup (names[l]);

  column = g_new (double, n_cases);
  column_truth = g_new (guint8, n_cases);
  for (gsize l = 0; l < n_labels; l++)
    {
      HlLabelSummary *label = &summary->labels[l];

      copy_column (scores, truth, n_cases, n_labels, l, column, column_truth);
      if (!summarize_label (label, column, column_truth, n_cases, &summary->options, error))
        return NULL;
      if (label->defined)
        {
          summary->n_defined++;
          sum += label->auroc;
        }
    }
  summary->mean_auroc = summary->n_defined > 0 ? sum / (double) summary->n_defined : NAN;
  return g_steal_pointer (&summary);
}

void
hl_summary_free (HlSummary *summary)
{
  if (summary == NULL)
    return;
  for (gsize l = 0; summary->labels != NULL && l < summary->n_labels; l++)
    label_summary_clear (&summary->labels[l]);
  g_free (summary->labels);
  g_free (summary);
}

const HlLabelSummary *
hl_summary_get_label (const HlSummary *summary, const char *name)
{
  g_return_val_if_fail (summary != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  for (gsize l = 0; l < summary->n_labels; l++)
    if (g_strcmp0 (summary->labels[l].name, name) == 0)
      return &summary->labels[l];
  return NULL;
}

HlComparison *
hl_comparison_new (const char *const *names, gsize n_labels, const double *scores_a,
                   const double *scores_b, const guint8 *truth, gsize n_cases, GError **error)
{
  g_autoptr (HlComparison) comparison = NULL;
  g_autofree double *column_a = NULL;
  g_autofree double *column_b = NULL;
  g_autofree guint8 *column_truth = NULL;

  g_return_val_if_fail (names != NULL, NULL);
  g_return_val_if_fail (n_labels >= 1, NULL);
  g_return_val_if_fail (scores_a != NULL && scores_b != NULL && truth != NULL, NULL);
  g_return_val_if_fail (n_cases >= 1, NULL);
  g_return_val_if_fail (n_cases <= G_MAXSIZE / n_labels, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  comparison = g_new0 (HlComparison, 1);
  comparison->n_cases = n_cases;
  comparison->n_labels = n_labels;
  comparison->labels = g_new0 (HlLabelComparison, n_labels);
  for (gsize l = 0; l < n_labels; l++)
    comparison->labels[l].name = g_strdup (names[l]);

  column_a = g_new (double, n_cases);
  column_b = g_new (double, n_cases);
  column_truth = g_new (guint8, n_cases);
  for (gsize l = 0; l < n_labels; l++)
    {
      HlLabelComparison *label = &comparison->labels[l];
      gsize n_positive, n_negative;

      copy_column (scores_a, truth, n_cases, n_labels, l, column_a, column_truth);
      copy_column (scores_b, truth, n_cases, n_labels, l, column_b, column_truth);
      if (!hl_roc_check (column_a, column_truth, n_cases, &n_positive, &n_negative, error)
          || !hl_roc_check (column_b, column_truth, n_cases, NULL, NULL, error))
        {
          fail_for_label (error, label->name);
          return NULL;
        }
      label->defined = n_positive > 0 && n_negative > 0;
      if (!label->defined)
        {
          label->test = (HlDelongTest){ NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN };
          continue;
        }
      if (!hl_delong_test (column_a, column_b, column_truth, n_cases, &label->test, error))
        {
          fail_for_label (error, label->name);
          return NULL;
        }
    }
  return g_steal_pointer (&comparison);
}

void
hl_comparison_free (HlComparison *comparison)
{
  if (comparison == NULL)
    return;
  for (gsize l = 0; comparison->labels != NULL && l < comparison->n_labels; l++)
    g_free (comparison->labels[l].name);
  g_free (comparison->labels);
  g_free (comparison);
}
