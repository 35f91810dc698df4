/* hl-ranking.c — ordering and flagging the findings of one image. */
#include "hl-ranking.h"

#include <math.h>
#include <stdlib.h>

static int
compare_findings (const void *a, const void *b)
{
  const HlRankedFinding *x = a, *y = b;
  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  return (x->label > y->label) - (x->label < y->label);
}

void
hl_rank_findings (const float *scores, const float *thresholds, const float *val_auroc, int n,
                  double weak_auroc, HlRankedFinding *out)
{
  g_return_if_fail (n >= 0);
  g_return_if_fail (n == 0 || (scores != NULL && thresholds != NULL && out != NULL));

  for (int i = 0; i < n; i++)
    {
      HlRankedFinding *f = &out[i];
      f->label = i;
      f->score = isnan (scores[i]) ? 0.0f : scores[i];
      f->threshold = thresholds[i];
      f->auroc = val_auroc != NULL ? val_auroc[i] : NAN;
      f->positive = f->score >= f->threshold;
      /* in float, as the model file gives it: an AUROC of exactly 0.7 is not below 0.7 */
      f->weak = !isnan (f->auroc) && f->auroc < (float)weak_auroc;
    }
  qsort (out, n, sizeof *out, compare_findings);
}
