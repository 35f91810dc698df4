/* hl-delong.c — DeLong variance, confidence interval and paired test of AUROCs, from the
 * placement values of each case computed in one pass over the cases sorted by score. */
#include "hl-delong.h"

#include "hl-analysis-private.h"

#include <math.h>

/* The placement value of every case of (@scores, @truth) (n, both classes, n_positive
 * positives), written to @placement (n) at the case's own index: for a positive, the fraction of
 * negatives scored below it plus half those tied with it; for a negative, the fraction of
 * positives scored above it plus half those tied with it. */
static void
compute_placements (const double *scores, const guint8 *truth, gsize n, gsize n_positive,
                    double *placement)
{
  g_autofree HlCase *cases = hl_cases_sorted_new (scores, truth, n);
  gsize n_negative = n - n_positive;
  gsize positives_above = 0, negatives_above = 0;

  /* cases run from the highest score down; walk one group of equal scores at a time */
  for (gsize i = 0; i < n;)
    {
      gsize j = i, group_positives = 0, group_negatives;
      double positive_value, negative_value;

      while (j < n && cases[j].score == cases[i].score)
        group_positives += cases[j++].truth;
      group_negatives = j - i - group_positives;

      positive_value = ((double) (n_negative - negatives_above - group_negatives)
                        + 0.5 * (double) group_negatives) / (double) n_negative;
      negative_value = ((double) positives_above + 0.5 * (double) group_positives)
                       / (double) n_positive;
      for (gsize k = i; k < j; k++)
        placement[cases[k].index] = cases[k].truth ? positive_value : negative_value;

      positives_above += group_positives;
      negatives_above += group_negatives;
      i = j;
    }
}

/* The DeLong covariance of the AUROCs whose placements are @pa and @pb (n, the same cases and
 * @truth): S10(a, b) / m + S01(a, b) / n with sample covariances over the m positives and the n
 * negatives. NaN with fewer than 2 of either class. */
static double
delong_covariance (const double *pa, const double *pb, const guint8 *truth, gsize n,
                   gsize n_positive)
{
  gsize n_negative = n - n_positive;
  double mean_a[2] = { 0.0, 0.0 }, mean_b[2] = { 0.0, 0.0 }, sum[2] = { 0.0, 0.0 };
  double count[2] = { (double) n_negative, (double) n_positive };

  if (n_positive < 2 || n_negative < 2)
    return NAN;

  for (gsize i = 0; i < n; i++)
    {
      mean_a[truth[i]] += pa[i];
      mean_b[truth[i]] += pb[i];
    }
  for (int c = 0; c < 2; c++)
    {
      mean_a[c] /= count[c];
      mean_b[c] /= count[c];
    }
  for (gsize i = 0; i < n; i++)
    sum[truth[i]] += (pa[i] - mean_a[truth[i]]) * (pb[i] - mean_b[truth[i]]);

  return sum[1] / (count[1] - 1.0) / count[1] + sum[0] / (count[0] - 1.0) / count[0];
}

gboolean
hl_delong_variance (const double *scores, const guint8 *truth, gsize n, double *auroc,
                    double *variance, GError **error)
{
  g_autofree double *placement = NULL;
  gsize n_positive, n_negative;
  double area;

  g_return_val_if_fail (variance != NULL, FALSE);

  if (!hl_roc_auroc (scores, truth, n, &area, error))
    return FALSE;
  if (!hl_roc_check (scores, truth, n, &n_positive, &n_negative, error))
    return FALSE;

  placement = g_new (double, n);
  compute_placements (scores, truth, n, n_positive, placement);
  *variance = delong_covariance (placement, placement, truth, n, n_positive);
  if (auroc != NULL)
    *auroc = area;
  return TRUE;
}

void
hl_delong_ci (double auroc, double variance, HlCiMethod method, double *low, double *high)
{
  double half;

  g_return_if_fail (low != NULL && high != NULL);
  g_return_if_fail (auroc >= 0.0 && auroc <= 1.0);

  if (isnan (variance))
    {
      *low = *high = NAN;
      return;
    }
  if (variance <= 0.0)
    {
      *low = *high = auroc;
      return;
    }
  switch (method)
    {
    case HL_CI_PLAIN:
      half = HL_Z_95 * sqrt (variance);
      *low = MAX (0.0, auroc - half);
      *high = MIN (1.0, auroc + half);
      return;
    case HL_CI_LOGIT:
      {
        /* a positive variance means the placements differ, so 0 < auroc < 1 */
        double logit = log (auroc / (1.0 - auroc));

        half = HL_Z_95 * sqrt (variance) / (auroc * (1.0 - auroc));
        *low = 1.0 / (1.0 + exp (-(logit - half)));
        *high = 1.0 / (1.0 + exp (-(logit + half)));
        return;
      }
    }
  g_return_if_reached ();
}

double
hl_normal_two_sided_p (double z)
{
  return erfc (fabs (z) / G_SQRT2);
}

gboolean
hl_delong_test (const double *scores_a, const double *scores_b, const guint8 *truth, gsize n,
                HlDelongTest *out, GError **error)
{
  g_autofree double *pa = NULL;
  g_autofree double *pb = NULL;
  gsize n_positive, n_negative;
  double var_difference;

  g_return_val_if_fail (out != NULL, FALSE);

  if (!hl_roc_check_both_classes (scores_a, truth, n, &n_positive, &n_negative, error)
      || !hl_roc_check (scores_b, truth, n, NULL, NULL, error)
      || !hl_roc_auroc (scores_a, truth, n, &out->auroc_a, error)
      || !hl_roc_auroc (scores_b, truth, n, &out->auroc_b, error))
    return FALSE;

  pa = g_new (double, n);
  pb = g_new (double, n);
  compute_placements (scores_a, truth, n, n_positive, pa);
  compute_placements (scores_b, truth, n, n_positive, pb);
  out->var_a = delong_covariance (pa, pa, truth, n, n_positive);
  out->var_b = delong_covariance (pb, pb, truth, n, n_positive);
  out->covariance = delong_covariance (pa, pb, truth, n, n_positive);
  out->difference = out->auroc_a - out->auroc_b;

  var_difference = out->var_a + out->var_b - 2.0 * out->covariance;
  if (isnan (var_difference))
    out->z = NAN;
  else if (var_difference > 0.0)
    out->z = out->difference / sqrt (var_difference);
  else if (out->difference == 0.0)
    out->z = 0.0;
  else
    out->z = copysign (INFINITY, out->difference);
  out->p_value = hl_normal_two_sided_p (out->z);
  return TRUE;
}
