/* hl-ranking.h — how the findings sidebar orders and flags the model's labels for one image:
 * ranked by score, each compared with the model's operating point, labels with a low validation
 * AUROC marked as weak (below the limit given, HL_REPORT_WEAK_AUROC in the viewer and its reports).
 * Pure arithmetic, no GTK, unit-tested without a display. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  int label;         /* index in the model's output order */
  float score;       /* probability in [0, 1] */
  float threshold;   /* the model's operating point for this label */
  float auroc;       /* validation AUROC, NaN when the model card has none */
  gboolean positive; /* score >= threshold: shown emphasised */
  gboolean weak;     /* auroc known and below the weak limit */
} HlRankedFinding;

/* Ranks @n labels: @scores (n), @thresholds (n), @val_auroc (n, NaN = unknown; may be NULL) into
 * @out (n), highest score first, equal scores in label order. A label is weak when its AUROC is
 * known and below @weak_auroc. */
void hl_rank_findings (const float *scores, const float *thresholds, const float *val_auroc, int n,
                       double weak_auroc, HlRankedFinding *out);

G_END_DECLS
