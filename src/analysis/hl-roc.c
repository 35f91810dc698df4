/* hl-roc.c — ROC curve points, AUROC, confusion counts and operating points for one label,
 * following scikit-learn's roc_curve / roc_auc_score step by step so the numbers agree with it. */
#include "hl-roc.h"

#include "hl-analysis-private.h"

#include <math.h>
#include <stdlib.h>

G_DEFINE_QUARK (hl-analysis-error-quark, hl_analysis_error)

gboolean
hl_roc_check (const double *scores, const guint8 *truth, gsize n, gsize *n_positive,
              gsize *n_negative, GError **error)
{
  gsize positives = 0;

  g_return_val_if_fail (n == 0 || scores != NULL, FALSE);
  g_return_val_if_fail (n == 0 || truth != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (n == 0)
    {
      g_set_error_literal (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID, "no cases");
      return FALSE;
    }
  for (gsize i = 0; i < n; i++)
    {
      if (!isfinite (scores[i]))
        {
          g_set_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID,
                       "score of case %" G_GSIZE_FORMAT " is not a finite number (%g)", i,
                       scores[i]);
          return FALSE;
        }
      if (truth[i] > 1)
        {
          g_set_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID,
                       "truth of case %" G_GSIZE_FORMAT " is %u, not 0 or 1", i, truth[i]);
          return FALSE;
        }
      positives += truth[i];
    }
  if (n_positive != NULL)
    *n_positive = positives;
  if (n_negative != NULL)
    *n_negative = n - positives;
  return TRUE;
}

gboolean
hl_roc_check_both_classes (const double *scores, const guint8 *truth, gsize n,
                           gsize *n_positive, gsize *n_negative, GError **error)
{
  if (!hl_roc_check (scores, truth, n, n_positive, n_negative, error))
    return FALSE;
  if (*n_positive == 0 || *n_negative == 0)
    {
      g_set_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_UNDEFINED,
                   "only %s cases (%" G_GSIZE_FORMAT "): the ROC curve needs both classes",
                   *n_positive == 0 ? "negative" : "positive", n);
      return FALSE;
    }
  return TRUE;
}

static int
compare_cases_descending (const void *a, const void *b)
{
  double sa = ((const HlCase *) a)->score;
  double sb = ((const HlCase *) b)->score;

  return (sa < sb) - (sa > sb);
}

HlCase *
hl_cases_sorted_new (const double *scores, const guint8 *truth, gsize n)
{
  HlCase *cases = g_new (HlCase, n);

  for (gsize i = 0; i < n; i++)
    {
      cases[i].score = scores[i];
      cases[i].index = i;
      cases[i].truth = truth[i];
    }
  qsort (cases, n, sizeof *cases, compare_cases_descending);
  return cases;
}

gsize
hl_cases_roc_points (const HlCase *cases, gsize n, gboolean drop_intermediate, gsize *fp,
                     gsize *tp, double *thresholds)
{
  gsize k = 0, tp_sum = 0, kept;

  /* sklearn's _binary_clf_curve: the cumulative counts at the last case of each group of equal
   * scores, written from index 1 on to leave room for the leading (0, 0) point. */
  for (gsize i = 0; i < n; i++)
    {
      tp_sum += cases[i].truth;
      if (i + 1 == n || cases[i + 1].score != cases[i].score)
        {
          k++;
          tp[k] = tp_sum;
          fp[k] = i + 1 - tp_sum;
          if (thresholds != NULL)
            thresholds[k] = cases[i].score;
        }
    }

  /* drop_intermediate: keep the first and last point and every point where the second
   * difference of fp or of tp is non-zero. The test reads the original neighbours, so the
   * decision for point i is made before point i - 1 is overwritten: compact in place with the
   * previous original values saved. */
  if (drop_intermediate && k > 2)
    {
      gsize prev_fp = fp[1], prev_tp = tp[1];

      kept = 1;
      for (gsize i = 2; i < k; i++)
        {
          gsize cur_fp = fp[i], cur_tp = tp[i];
          gboolean corner = (prev_fp + fp[i + 1] != 2 * cur_fp)
                            || (prev_tp + tp[i + 1] != 2 * cur_tp);

          if (corner)
            {
              kept++;
              fp[kept] = cur_fp;
              tp[kept] = cur_tp;
              if (thresholds != NULL)
                thresholds[kept] = thresholds[i];
            }
          prev_fp = cur_fp;
          prev_tp = cur_tp;
        }
      kept++;
      fp[kept] = fp[k];
      tp[kept] = tp[k];
      if (thresholds != NULL)
        thresholds[kept] = thresholds[k];
      k = kept;
    }

  fp[0] = 0;
  tp[0] = 0;
  if (thresholds != NULL)
    thresholds[0] = INFINITY;
  return k + 1;
}

double
hl_roc_points_area (const gsize *fp, const gsize *tp, gsize n_points, gsize n_positive,
                    gsize n_negative)
{
  double area = 0.0;

  for (gsize i = 0; i + 1 < n_points; i++)
    {
      double dx = (double) fp[i + 1] / (double) n_negative - (double) fp[i] / (double) n_negative;
      double y1 = (double) tp[i + 1] / (double) n_positive;
      double y0 = (double) tp[i] / (double) n_positive;

      area += dx * (y1 + y0) / 2.0;
    }
  return area;
}

HlRocCurve *
hl_roc_curve_new (const double *scores, const guint8 *truth, gsize n, gboolean drop_intermediate,
                  GError **error)
{
  g_autofree HlCase *cases = NULL;
  HlRocCurve *curve;
  gsize n_positive, n_negative;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!hl_roc_check_both_classes (scores, truth, n, &n_positive, &n_negative, error))
    return NULL;

  cases = hl_cases_sorted_new (scores, truth, n);
  curve = g_new0 (HlRocCurve, 1);
  curve->n_positive = n_positive;
  curve->n_negative = n_negative;
  curve->fp = g_new (gsize, n + 1);
  curve->tp = g_new (gsize, n + 1);
  curve->thresholds = g_new (double, n + 1);
  curve->n_points = hl_cases_roc_points (cases, n, drop_intermediate, curve->fp, curve->tp,
                                         curve->thresholds);
  curve->fpr = g_new (double, curve->n_points);
  curve->tpr = g_new (double, curve->n_points);
  for (gsize i = 0; i < curve->n_points; i++)
    {
      curve->fpr[i] = (double) curve->fp[i] / (double) n_negative;
      curve->tpr[i] = (double) curve->tp[i] / (double) n_positive;
    }
  return curve;
}

void
hl_roc_curve_free (HlRocCurve *curve)
{
  if (curve == NULL)
    return;
  g_free (curve->fpr);
  g_free (curve->tpr);
  g_free (curve->thresholds);
  g_free (curve->tp);
  g_free (curve->fp);
  g_free (curve);
}

double
hl_roc_curve_area (const HlRocCurve *curve)
{
  g_return_val_if_fail (curve != NULL, NAN);

  return hl_roc_points_area (curve->fp, curve->tp, curve->n_points, curve->n_positive,
                             curve->n_negative);
}

gboolean
hl_roc_auroc (const double *scores, const guint8 *truth, gsize n, double *auroc, GError **error)
{
  g_autoptr (HlRocCurve) curve = NULL;

  g_return_val_if_fail (auroc != NULL, FALSE);

  curve = hl_roc_curve_new (scores, truth, n, TRUE, error);
  if (curve == NULL)
    return FALSE;
  *auroc = hl_roc_curve_area (curve);
  return TRUE;
}

static double
ratio (gsize num, gsize den)
{
  return den == 0 ? NAN : (double) num / (double) den;
}

/* Fills the rates of @out from its counts. */
static void
confusion_rates (HlConfusion *out)
{
  out->sensitivity = ratio (out->tp, out->tp + out->fn);
  out->specificity = ratio (out->tn, out->tn + out->fp);
  out->ppv = ratio (out->tp, out->tp + out->fp);
  out->npv = ratio (out->tn, out->tn + out->fn);
  out->youden_j = out->sensitivity + out->specificity - 1.0;
}

gboolean
hl_roc_confusion (const double *scores, const guint8 *truth, gsize n, double threshold,
                  HlConfusion *out, GError **error)
{
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (!isnan (threshold), FALSE);

  if (!hl_roc_check (scores, truth, n, NULL, NULL, error))
    return FALSE;

  *out = (HlConfusion){ .threshold = threshold };
  for (gsize i = 0; i < n; i++)
    {
      gboolean called = scores[i] >= threshold;

      if (truth[i])
        called ? out->tp++ : out->fn++;
      else
        called ? out->fp++ : out->tn++;
    }
  confusion_rates (out);
  return TRUE;
}

void
hl_roc_curve_confusion (const HlRocCurve *curve, gsize index, HlConfusion *out)
{
  g_return_if_fail (curve != NULL);
  g_return_if_fail (index < curve->n_points);
  g_return_if_fail (out != NULL);

  *out = (HlConfusion){
    .threshold = curve->thresholds[index],
    .tp = curve->tp[index],
    .fp = curve->fp[index],
    .fn = curve->n_positive - curve->tp[index],
    .tn = curve->n_negative - curve->fp[index],
  };
  confusion_rates (out);
}

gsize
hl_roc_curve_youden (const HlRocCurve *curve)
{
  gsize best = 0;

  g_return_val_if_fail (curve != NULL, 0);

  /* J_i > J_best  <=>  tp_i·N + fp_best·P > tp_best·N + fp_i·P, compared in integers so that
   * equal J are equal (in doubles 2/3 - 0 and 1 - 1/3 differ in the last bit) */
  for (gsize i = 1; i < curve->n_points; i++)
    {
      guint64 lhs = (guint64) curve->tp[i] * curve->n_negative
                    + (guint64) curve->fp[best] * curve->n_positive;
      guint64 rhs = (guint64) curve->tp[best] * curve->n_negative
                    + (guint64) curve->fp[i] * curve->n_positive;

      if (lhs > rhs)
        best = i;
    }
  return best;
}

gsize
hl_roc_curve_at_sensitivity (const HlRocCurve *curve, double target_sensitivity)
{
  g_return_val_if_fail (curve != NULL, 0);
  g_return_val_if_fail (target_sensitivity >= 0.0 && target_sensitivity <= 1.0, 0);

  for (gsize i = 0; i < curve->n_points; i++)
    if (curve->tpr[i] >= target_sensitivity)
      return i;
  /* tpr ends at exactly 1.0 >= any valid target */
  g_return_val_if_reached (curve->n_points - 1);
}
