/* hl-calibration.h — how well one label's scores work as probabilities: a reliability diagram
 * (equal-width bins over [0, 1], the mean score and the observed fraction of positives in each, as
 * sklearn.calibration.calibration_curve with strategy="uniform"), the Brier score (as
 * sklearn.metrics.brier_score_loss) and the expected calibration error.
 *
 * Data arrays follow hl-roc.h's rules, and the scores must be probabilities in [0, 1]
 * (HL_ANALYSIS_ERROR_INVALID otherwise). Both classes are not needed.
 */
#pragma once

#include "hl-roc.h"

G_BEGIN_DECLS

typedef struct
{
  guint n_bins;
  gsize n;                    /* cases */
  double *edges;              /* (n_bins + 1) bin edges i / n_bins; bin b is (edges[b],
                               * edges[b+1]], bin 0 also holds 0 (sklearn's searchsorted rule) */
  gsize *count;               /* (n_bins) cases per bin */
  double *mean_score;         /* (n_bins) mean score in the bin, NaN when empty */
  double *fraction_positive;  /* (n_bins) observed fraction of positives, NaN when empty */
  double brier;               /* mean of (score - truth)² */
  double ece;                 /* Σ count/n · |fraction_positive - mean_score| over non-empty bins */
} HlCalibration;

/* The calibration of (@scores, @truth) in @n_bins (1..1000) equal-width bins. Returns a new
 * HlCalibration to free with hl_calibration_free(). */
HlCalibration *hl_calibration_new (const double *scores, const guint8 *truth, gsize n,
                                   guint n_bins, GError **error);
void hl_calibration_free (HlCalibration *calibration);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlCalibration, hl_calibration_free)

G_END_DECLS
