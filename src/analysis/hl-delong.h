/* hl-delong.h — uncertainty of an AUROC by DeLong's method (DeLong, DeLong & Clarke-Pearson,
 * Biometrics 1988): the variance of one AUROC, its 95% confidence interval, and the paired test of
 * two models scored on the same cases ("model A beats model B on Cardiomegaly, p = ...").
 *
 * The variance comes from the structural components (placement values) of the Mann-Whitney
 * statistic: V10(x_i) = P(negative < x_i) + ½ P(negative = x_i) over the negatives, V01(y_j)
 * likewise over the positives, var = S10 / m + S01 / n with S the sample variances (divisor m-1,
 * n-1) for m positives and n negatives. It needs at least 2 cases of each class; with fewer the
 * variance is NaN (as numpy.cov gives) and so is the interval.
 *
 * Data arrays follow hl-roc.h's rules (scores finite, truth 0/1, same length n).
 */
#pragma once

#include "hl-roc.h"

G_BEGIN_DECLS

typedef enum
{
  HL_CI_LOGIT, /* logit(A) ± z·√var / (A(1-A)), mapped back: stays inside (0, 1), better near 1 */
  HL_CI_PLAIN, /* A ± z·√var, clipped to [0, 1] (pROC's "delong" interval) */
} HlCiMethod;

typedef struct
{
  double auroc_a, auroc_b; /* each model's AUROC, as hl_roc_auroc */
  double var_a, var_b;     /* DeLong variances */
  double covariance;       /* DeLong covariance of the two AUROCs */
  double difference;       /* auroc_a - auroc_b */
  double z;                /* difference / √(var_a + var_b - 2 cov) */
  double p_value;          /* two-sided, 2·(1 - Φ(|z|)) */
} HlDelongTest;

/* AUROC of (@scores, @truth) and its DeLong variance. @auroc may be NULL. Needs both classes
 * (HL_ANALYSIS_ERROR_UNDEFINED otherwise); *@variance is NaN with fewer than 2 of either. */
gboolean hl_delong_variance (const double *scores, const guint8 *truth, gsize n, double *auroc,
                             double *variance, GError **error);

/* The 95% confidence interval for @auroc given its @variance, by @method. A variance of 0 gives
 * [auroc, auroc]; a NaN variance gives NaN bounds. */
void hl_delong_ci (double auroc, double variance, HlCiMethod method, double *low, double *high);

/* DeLong's paired test of two models' scores (@scores_a, @scores_b, both (n)) on the same cases
 * with the same @truth. When the difference and its variance are both 0 (e.g. identical scores),
 * z = 0 and p = 1; a zero variance with a non-zero difference (a perfect model against a
 * constant one) gives z = ±inf, p = 0. Needs both classes; NaN z and p with fewer than 2 of
 * either. */
gboolean hl_delong_test (const double *scores_a, const double *scores_b, const guint8 *truth,
                         gsize n, HlDelongTest *out, GError **error);

/* Two-sided p-value of a standard normal statistic: 2·(1 - Φ(|z|)) = erfc(|z|/√2). */
double hl_normal_two_sided_p (double z);

G_END_DECLS
