/* hl-bootstrap.c — seeded bootstrap percentile interval of an AUROC. The cases are sorted once;
 * a resample is a multiplicity per sorted case, expanded in that order, so it needs no sort of
 * its own and its AUROC comes from the same curve code as hl_roc_auroc(). */
#include "hl-bootstrap.h"

#include "hl-analysis-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

double
hl_percentile_linear (const double *sorted, gsize n, double q)
{
  double position = q / 100.0 * (double) (n - 1);
  gsize below = (gsize) floor (position);
  double fraction = position - (double) below;

  if (below + 1 >= n)
    return sorted[n - 1];
  return sorted[below] + (sorted[below + 1] - sorted[below]) * fraction;
}

gboolean
hl_bootstrap_auroc_ci (const double *scores, const guint8 *truth, gsize n, guint n_resamples,
                       guint32 seed, gboolean stratified, HlBootstrapCi *out, GError **error)
{
  g_autofree HlCase *cases = NULL;
  g_autofree HlCase *resample = NULL;
  g_autofree gsize *multiplicity = NULL;
  g_autofree gsize *positive_at = NULL; /* (n_positive) positions of the positives in cases */
  g_autofree gsize *negative_at = NULL; /* (n_negative) positions of the negatives in cases */
  g_autofree gsize *fp = NULL;
  g_autofree gsize *tp = NULL;
  g_autofree double *aurocs = NULL;
  g_autoptr (GRand) rand = NULL;
  gsize n_positive, n_negative, n_pos_seen = 0, n_neg_seen = 0;

  g_return_val_if_fail (n_resamples >= 1, FALSE);
  g_return_val_if_fail (n <= G_MAXINT32, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  if (!hl_roc_check_both_classes (scores, truth, n, &n_positive, &n_negative, error))
    return FALSE;

  cases = hl_cases_sorted_new (scores, truth, n);
  positive_at = g_new (gsize, n_positive);
  negative_at = g_new (gsize, n_negative);
  for (gsize i = 0; i < n; i++)
    {
      if (cases[i].truth)
        positive_at[n_pos_seen++] = i;
      else
        negative_at[n_neg_seen++] = i;
    }

  resample = g_new (HlCase, n);
  multiplicity = g_new (gsize, n);
  fp = g_new (gsize, n + 1);
  tp = g_new (gsize, n + 1);
  aurocs = g_new (double, n_resamples);
  rand = g_rand_new_with_seed (seed);
  *out = (HlBootstrapCi){ .n_resamples = n_resamples };

  for (guint r = 0; r < n_resamples; r++)
    {
      gsize drawn_positives = 0, k = 0, n_points;

      memset (multiplicity, 0, n * sizeof *multiplicity);
      if (stratified)
        {
          for (gsize i = 0; i < n_positive; i++)
            multiplicity[positive_at[g_rand_int_range (rand, 0, (gint32) n_positive)]]++;
          for (gsize i = 0; i < n_negative; i++)
            multiplicity[negative_at[g_rand_int_range (rand, 0, (gint32) n_negative)]]++;
        }
      else
        {
          for (gsize i = 0; i < n; i++)
            multiplicity[g_rand_int_range (rand, 0, (gint32) n)]++;
        }

      for (gsize i = 0; i < n; i++)
        for (gsize c = 0; c < multiplicity[i]; c++)
          {
            resample[k++] = cases[i];
            drawn_positives += cases[i].truth;
          }

      if (drawn_positives == 0 || drawn_positives == n)
        {
          out->n_skipped++;
          continue;
        }
      n_points = hl_cases_roc_points (resample, n, TRUE, fp, tp, NULL);
      aurocs[out->n_used++] = hl_roc_points_area (fp, tp, n_points, drawn_positives,
                                                  n - drawn_positives);
    }

  if (out->n_used == 0)
    {
      g_set_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_UNDEFINED,
                   "all %u bootstrap resamples lacked a class", n_resamples);
      return FALSE;
    }
  qsort (aurocs, out->n_used, sizeof *aurocs, compare_doubles);
  out->low = hl_percentile_linear (aurocs, out->n_used, 2.5);
  out->high = hl_percentile_linear (aurocs, out->n_used, 97.5);
  return TRUE;
}
