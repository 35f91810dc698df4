/* hl-roc.h — ROC curves and AUROC for one label: the curve points exactly as scikit-learn's
 * roc_curve computes them, the area as roc_auc_score does (ties give half credit), the confusion
 * counts at a threshold, and operating points chosen on the curve.
 *
 * Every function here takes one label's data as two arrays of the same length n:
 *   scores (n): the model's score per case, higher = more likely positive; must be finite;
 *   truth  (n): 1 for a positive case, 0 for a negative one, nothing else.
 * A NaN or infinite score or a truth value other than 0/1 is refused with
 * HL_ANALYSIS_ERROR_INVALID (data comes from files, so this is a runtime failure). A curve or area
 * that needs both classes is refused with HL_ANALYSIS_ERROR_UNDEFINED when one is absent
 * (scikit-learn warns and returns NaN there; Hilum says so instead).
 *
 * A case is called positive at threshold t when score >= t. Pure computation: no I/O, no globals,
 * safe to call from any thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HL_ANALYSIS_ERROR (hl_analysis_error_quark ())

typedef enum
{
  HL_ANALYSIS_ERROR_INVALID,   /* a NaN/infinite score, a truth value not 0/1, no cases, or a
                                * score outside [0, 1] where a probability is needed */
  HL_ANALYSIS_ERROR_UNDEFINED, /* the quantity does not exist for these data: one class absent */
} HlAnalysisError;

GQuark hl_analysis_error_quark (void);

/* The z quantile of a two-sided 95% interval: Φ⁻¹(0.975). */
#define HL_Z_95 1.959963984540054

typedef struct
{
  gsize n_points;
  double *fpr;        /* (n_points) false positive rate, non-decreasing, 0 first, 1 last */
  double *tpr;        /* (n_points) true positive rate, non-decreasing, 0 first, 1 last */
  double *thresholds; /* (n_points) strictly decreasing; [0] is +inf (nothing called positive),
                       * then the distinct scores, as scikit-learn >= 1.3 */
  gsize *tp;          /* (n_points) positives with score >= thresholds[i] */
  gsize *fp;          /* (n_points) negatives with score >= thresholds[i] */
  gsize n_positive;
  gsize n_negative;
} HlRocCurve;

/* Counts and rates at one threshold. Rates whose denominator is 0 are NaN. */
typedef struct
{
  double threshold;   /* a case is called positive when score >= threshold */
  gsize tp, fp, tn, fn;
  double sensitivity; /* tp / (tp + fn) */
  double specificity; /* tn / (tn + fp) */
  double ppv;         /* tp / (tp + fp) */
  double npv;         /* tn / (tn + fn) */
  double youden_j;    /* sensitivity + specificity - 1 */
} HlConfusion;

/* Validates one label's data (the rules at the top of this file) and counts its classes.
 * @n_positive/@n_negative may be NULL. Does not require both classes. */
gboolean hl_roc_check (const double *scores, const guint8 *truth, gsize n, gsize *n_positive,
                       gsize *n_negative, GError **error);

/* The ROC curve of (@scores, @truth), as sklearn.metrics.roc_curve: one point per distinct score
 * (sorted descending) after a leading (0, 0) point at threshold +inf. With @drop_intermediate,
 * points collinear with their neighbours are dropped by sklearn's rule (a point is kept where the
 * second difference of fp or of tp is non-zero, and the first and last are always kept).
 * Needs both classes. Returns a new curve to free with hl_roc_curve_free(). */
HlRocCurve *hl_roc_curve_new (const double *scores, const guint8 *truth, gsize n,
                              gboolean drop_intermediate, GError **error);
void hl_roc_curve_free (HlRocCurve *curve);

/* The trapezoidal area under @curve, summed left to right like numpy.trapz. On a curve made with
 * drop_intermediate this is exactly sklearn's roc_auc_score; on a full curve it differs from it
 * only by rounding. */
double hl_roc_curve_area (const HlRocCurve *curve);

/* AUROC of (@scores, @truth) as sklearn.metrics.roc_auc_score: the area under the
 * drop_intermediate curve; tied scores across classes count one half. Needs both classes. */
gboolean hl_roc_auroc (const double *scores, const guint8 *truth, gsize n, double *auroc,
                       GError **error);

/* Confusion counts and rates of (@scores, @truth) at @threshold (any double, ±inf allowed).
 * Does not need both classes: the rates that do not exist are NaN. */
gboolean hl_roc_confusion (const double *scores, const guint8 *truth, gsize n, double threshold,
                           HlConfusion *out, GError **error);

/* The confusion at point @index of @curve (0 <= @index < n_points). */
void hl_roc_curve_confusion (const HlRocCurve *curve, gsize index, HlConfusion *out);

/* The point of @curve with the largest Youden J = tpr - fpr, compared exactly (in integer counts,
 * valid for fewer than 2^31 cases); among equal J the first, i.e. the highest threshold. Returns
 * its index. On a full curve (drop_intermediate FALSE)
 * this is the optimum over all thresholds; a drop_intermediate curve keeps it too. */
gsize hl_roc_curve_youden (const HlRocCurve *curve);

/* The first point of @curve (highest threshold, hence best specificity) whose tpr >=
 * @target_sensitivity, 0 <= @target_sensitivity <= 1. Returns its index. Use a full curve: a
 * drop_intermediate curve may lack the exact point on a vertical segment. */
gsize hl_roc_curve_at_sensitivity (const HlRocCurve *curve, double target_sensitivity);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlRocCurve, hl_roc_curve_free)

G_END_DECLS
