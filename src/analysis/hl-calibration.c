/* hl-calibration.c — reliability bins, Brier score and expected calibration error of one label's
 * probabilities, binned exactly as sklearn's calibration_curve(strategy="uniform"). */
#include "hl-calibration.h"

#include <math.h>

/* The bin of @p among @n_bins whose inner edges are @edges[1..n_bins-1]: the number of inner
 * edges strictly below @p (numpy.searchsorted, side="left"). */
static guint
bin_of (const double *edges, guint n_bins, double p)
{
  guint lo = 0, hi = n_bins - 1; /* answer in [lo, hi] */

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;

      if (edges[mid + 1] < p)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

HlCalibration *
hl_calibration_new (const double *scores, const guint8 *truth, gsize n, guint n_bins,
                    GError **error)
{
  g_autoptr (HlCalibration) calibration = NULL;
  g_autofree double *positives = NULL;
  double squared_error = 0.0;

  g_return_val_if_fail (n_bins >= 1 && n_bins <= 1000, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!hl_roc_check (scores, truth, n, NULL, NULL, error))
    return NULL;
  for (gsize i = 0; i < n; i++)
    if (scores[i] < 0.0 || scores[i] > 1.0)
      {
        g_set_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID,
                     "score of case %" G_GSIZE_FORMAT " is %g, not a probability in [0, 1]", i,
                     scores[i]);
        return NULL;
      }

  calibration = g_new0 (HlCalibration, 1);
  calibration->n_bins = n_bins;
  calibration->n = n;
  calibration->edges = g_new (double, n_bins + 1);
  calibration->count = g_new0 (gsize, n_bins);
  calibration->mean_score = g_new0 (double, n_bins);
  calibration->fraction_positive = g_new0 (double, n_bins);
  positives = g_new0 (double, n_bins);

  /* numpy.linspace(0, 1, n_bins + 1): i * (1 / n_bins), the last edge exactly 1 */
  for (guint b = 0; b < n_bins; b++)
    calibration->edges[b] = (double) b * (1.0 / (double) n_bins);
  calibration->edges[n_bins] = 1.0;

  for (gsize i = 0; i < n; i++)
    {
      guint b = bin_of (calibration->edges, n_bins, scores[i]);
      double diff = (double) truth[i] - scores[i];

      calibration->count[b]++;
      calibration->mean_score[b] += scores[i];
      positives[b] += truth[i];
      squared_error += diff * diff;
    }

  calibration->brier = squared_error / (double) n;
  calibration->ece = 0.0;
  for (guint b = 0; b < n_bins; b++)
    {
      if (calibration->count[b] == 0)
        {
          calibration->mean_score[b] = NAN;
          calibration->fraction_positive[b] = NAN;
          continue;
        }
      calibration->mean_score[b] /= (double) calibration->count[b];
      calibration->fraction_positive[b] = positives[b] / (double) calibration->count[b];
      calibration->ece += (double) calibration->count[b] / (double) n
                          * fabs (calibration->fraction_positive[b] - calibration->mean_score[b]);
    }
  return g_steal_pointer (&calibration);
}

void
hl_calibration_free (HlCalibration *calibration)
{
  if (calibration == NULL)
    return;
  g_free (calibration->edges);
  g_free (calibration->count);
  g_free (calibration->mean_score);
  g_free (calibration->fraction_positive);
  g_free (calibration);
}
