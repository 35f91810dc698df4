/* hl-bootstrap.h — a bootstrap percentile confidence interval for one label's AUROC, reproducible
 * from a seed.
 *
 * Each of n_resamples resamples draws n cases with replacement (GRand, Mersenne Twister, seeded
 * with the given seed, so the same seed gives the same interval on every platform). Stratified
 * resampling draws the positives among the positives and the negatives among the negatives, so
 * every resample keeps the class sizes; unstratified resampling draws among all cases and skips
 * the resamples in which one class is absent (their AUROC does not exist), as is common practice,
 * reporting how many. The interval is the 2.5th and 97.5th percentiles of the resampled AUROCs,
 * interpolated linearly between order statistics (numpy.percentile's default).
 *
 * Data arrays follow hl-roc.h's rules (scores finite, truth 0/1, same length n).
 */
#pragma once

#include "hl-roc.h"

G_BEGIN_DECLS

typedef struct
{
  double low, high;   /* 95% percentile interval */
  guint n_resamples;  /* resamples drawn */
  guint n_used;       /* resamples with both classes, whose AUROC entered the percentiles */
  guint n_skipped;    /* resamples with one class absent (always 0 when stratified) */
} HlBootstrapCi;

/* The bootstrap interval of the AUROC of (@scores, @truth) from @n_resamples (>= 1) resamples
 * drawn with @seed, stratified by class or not. Needs both classes in the data; fails with
 * HL_ANALYSIS_ERROR_UNDEFINED if every resample was skipped. */
gboolean hl_bootstrap_auroc_ci (const double *scores, const guint8 *truth, gsize n,
                                guint n_resamples, guint32 seed, gboolean stratified,
                                HlBootstrapCi *out, GError **error);

G_END_DECLS
