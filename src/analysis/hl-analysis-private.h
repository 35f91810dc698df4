/* hl-analysis-private.h — helpers shared by the analysis sources (and checked by its tests), not
 * part of the API: one label's cases sorted by score, and the ROC points of a sorted set, which the
 * curve, the AUROC and the bootstrap all build on; the bootstrap's percentile. */
#pragma once

#include "hl-roc.h"

G_BEGIN_DECLS

typedef struct
{
  double score;
  gsize index; /* position in the caller's arrays */
  guint8 truth;
} HlCase;

/* hl_roc_check() that also requires both classes (HL_ANALYSIS_ERROR_UNDEFINED otherwise). */
gboolean hl_roc_check_both_classes (const double *scores, const guint8 *truth, gsize n,
                                    gsize *n_positive, gsize *n_negative, GError **error);

/* Copies (@scores, @truth) (n) into a new array of cases sorted by descending score; the order
 * among equal scores is unspecified (only groups of equal scores matter). Free with g_free. */
HlCase *hl_cases_sorted_new (const double *scores, const guint8 *truth, gsize n);

/* The ROC points of @cases (n, sorted by descending score, both classes present), written into
 * @fp, @tp and @thresholds, each with room for n + 1 entries (@thresholds may be NULL): point 0 is
 * (0, 0) at +inf, then one point per distinct score, thinned by sklearn's drop_intermediate rule
 * when @drop_intermediate. Returns the number of points. */
gsize hl_cases_roc_points (const HlCase *cases, gsize n, gboolean drop_intermediate, gsize *fp,
                           gsize *tp, double *thresholds);

/* The trapezoidal area under the points (@fp, @tp) (n_points), rates taken as fp / n_negative and
 * tp / n_positive, summed left to right as numpy.trapz. */
double hl_roc_points_area (const gsize *fp, const gsize *tp, gsize n_points, gsize n_positive,
                           gsize n_negative);

/* numpy.percentile's default (linear interpolation between order statistics) of @sorted (n >= 1,
 * ascending) at @q, 0 <= q <= 100. */
double hl_percentile_linear (const double *sorted, gsize n, double q);

G_END_DECLS
