/* hl-summary.h — per-label evaluation of a model over a labelled set of cases: for each label its
 * class counts, AUROC with DeLong (and optionally bootstrap) 95% intervals, ROC curve, operating
 * points (Youden's J and a target sensitivity) and calibration, plus the mean AUROC over the labels
 * where it exists; and the per-label DeLong paired comparison of two models on the same cases.
 *
 * Matrices are row-major with one row per case and one column per label, the layout of the label
 * and prediction CSVs: scores (n_cases, n_labels), truth (n_cases, n_labels) with 0/1 entries.
 * A label with only one class present is kept but marked undefined (its numbers are NaN, its
 * curve NULL) and left out of the mean; invalid data (NaN score, truth not 0/1) fails the whole
 * call with a GError naming the label.
 */
#pragma once

#include "hl-bootstrap.h"
#include "hl-calibration.h"
#include "hl-delong.h"
#include "hl-roc.h"

G_BEGIN_DECLS

typedef struct
{
  HlCiMethod ci_method;        /* DeLong interval; default HL_CI_LOGIT */
  guint bootstrap_resamples;   /* 0 = no bootstrap interval (default 0) */
  guint32 bootstrap_seed;      /* default 1 */
  gboolean bootstrap_stratified; /* default TRUE */
  double target_sensitivity;   /* operating point at this sensitivity; default 0.9 */
  guint calibration_bins;      /* 0 = no calibration; default 10 (needs scores in [0, 1]) */
} HlSummaryOptions;

/* Fills @options with the defaults above. */
void hl_summary_options_init (HlSummaryOptions *options);

typedef struct
{
  char *name;
  gsize n_positive, n_negative;
  gboolean defined;          /* both classes present: everything below exists (otherwise
                              * the numbers are NaN, the counts 0, the pointers NULL) */
  double auroc;
  double variance;           /* DeLong; NaN with fewer than 2 of a class */
  double ci_low, ci_high;    /* DeLong 95%, by options->ci_method */
  HlBootstrapCi bootstrap;   /* all zero when not asked for */
  HlConfusion youden;        /* operating point maximising Youden's J (full curve) */
  HlConfusion at_sensitivity; /* operating point at options->target_sensitivity (full curve) */
  HlRocCurve *curve;         /* drop_intermediate curve, for drawing; NULL when undefined */
  HlCalibration *calibration; /* NULL when not asked for or undefined */
} HlLabelSummary;

typedef struct
{
  gsize n_cases;
  gsize n_labels;
  HlLabelSummary *labels;    /* (n_labels) in input order */
  gsize n_defined;           /* labels with both classes */
  double mean_auroc;         /* mean over the defined labels; NaN when none */
  HlSummaryOptions options;  /* the options it was made with */
} HlSummary;

/* Evaluates @scores against @truth for @n_labels labels named @names over @n_cases (>= 1) cases.
 * @options may be NULL for the defaults. Returns a new summary to free with hl_summary_free(). */
HlSummary *hl_summary_new (const char *const *names, gsize n_labels, const double *scores,
                           const guint8 *truth, gsize n_cases, const HlSummaryOptions *options,
                           GError **error);
void hl_summary_free (HlSummary *summary);

/* Looks a label up by name; NULL when absent. */
const HlLabelSummary *hl_summary_get_label (const HlSummary *summary, const char *name);

typedef struct
{
  char *name;
  gboolean defined;          /* both classes present */
  HlDelongTest test;         /* model A against model B; NaN fields when undefined */
} HlLabelComparison;

typedef struct
{
  gsize n_cases;
  gsize n_labels;
  HlLabelComparison *labels; /* (n_labels) */
} HlComparison;

/* DeLong's paired test per label of model A's @scores_a against model B's @scores_b, both
 * (n_cases, n_labels), on the same cases in the same order with the same @truth. Returns a new
 * comparison to free with hl_comparison_free(). */
HlComparison *hl_comparison_new (const char *const *names, gsize n_labels, const double *scores_a,
                                 const double *scores_b, const guint8 *truth, gsize n_cases,
                                 GError **error);
void hl_comparison_free (HlComparison *comparison);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlSummary, hl_summary_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlComparison, hl_comparison_free)

G_END_DECLS
