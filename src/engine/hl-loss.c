/* hl-loss.c — training losses on logits (see hl-train.h): PyTorch's binary cross-entropy with
 * logits, the notebook's class-balanced weighted loss and its weights.
 *
 * Both are computed in double from the logits z: -log sigmoid (z) = softplus (-z) and
 * -log (1 - sigmoid (z)) = softplus (z), with softplus (x) = max (x, 0) + log1p (exp (-|x|)),
 * so no probability is ever rounded to 0 or 1 before its logarithm.
 */
#include "hl-train.h"

#include <math.h>

static inline double
softplus (double x)
{
  return (x > 0.0 ? x : 0.0) + log1p (exp (-fabs (x)));
}

/* sum over the batch of each label's weighted term, scaled by @scale; gradients likewise. */
static double
bce_sum (const float *logits, const float *targets, int n, int n_labels, const float *w_pos,
         const float *w_neg, double scale, float *dlogits)
{
  double total = 0.0;

  for (int i = 0; i < n; i++)
    for (int l = 0; l < n_labels; l++)
      {
        gsize k = (gsize) i * n_labels + l;
        double z = logits[k], y = targets[k];
        double wp = w_pos != NULL ? w_pos[l] : 1.0, wn = w_neg != NULL ? w_neg[l] : 1.0;
        double sp_neg = softplus (-z), sp_pos = softplus (z); /* -log p, -log (1 - p) */
        total += wp * y * sp_neg + wn * (1.0 - y) * sp_pos;
        /* d / dz = wp y (p - 1) + wn (1 - y) p, with p = exp (-sp_neg), 1 - p = exp (-sp_pos) */
        if (dlogits != NULL)
          dlogits[k] = (float) (scale * (wn * (1.0 - y) * exp (-sp_neg) - wp * y * exp (-sp_pos)));
      }
  return total * scale;
}

float
hl_loss_bce (const float *logits, const float *targets, int n, int n_labels, float *dlogits)
{
  g_return_val_if_fail (logits != NULL && targets != NULL && n >= 1 && n_labels >= 1, NAN);

  return (float) bce_sum (logits, targets, n, n_labels, NULL, NULL,
                          1.0 / ((double) n * n_labels), dlogits);
}

float
hl_loss_weighted_bce (const float *logits, const float *targets, int n, int n_labels,
                      const float *w_pos, const float *w_neg, float *dlogits)
{
  g_return_val_if_fail (logits != NULL && targets != NULL && n >= 1 && n_labels >= 1, NAN);
  g_return_val_if_fail (w_pos != NULL && w_neg != NULL, NAN);

  /* sum over labels of the mean over the batch = (1 / n) * sum of all weighted terms */
  return (float) bce_sum (logits, targets, n, n_labels, w_pos, w_neg, 1.0 / n, dlogits);
}

void
hl_loss_class_weights (const float *targets, int n, int n_labels, float *w_pos, float *w_neg)
{
  g_return_if_fail (targets != NULL && w_pos != NULL && w_neg != NULL);
  g_return_if_fail (n >= 1 && n_labels >= 1);

  for (int l = 0; l < n_labels; l++)
    {
      double pos = 0.0;
      for (int i = 0; i < n; i++)
        pos += targets[(gsize) i * n_labels + l];
      w_neg[l] = (float) (pos / n);
      w_pos[l] = (float) (1.0 - pos / n);
    }
}
