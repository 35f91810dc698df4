/* fuzz-predictions.c — libFuzzer target for the predictions CSV reader
 * (hl_predictions_load_from_data, what `hilum-cli eval --predictions/--reference` reads): any
 * input must end in predictions or a GError, never a crash, a leak or undefined behaviour; loaded
 * predictions must be consistent: every image found at its own row, every score finite. */
#include "hl-predictions.h"

#include <math.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlPredictions) p
      = hl_predictions_load_from_data ((const char *) data, size, "fuzz.csv", &error);

  g_assert ((p == NULL) != (error == NULL));
  if (p == NULL)
    return 0;
  g_assert (p->n_images >= 1 && p->n_labels >= 1 && p->n_labels <= HL_N_LABELS);
  g_assert (p->images[p->n_images] == NULL);
  for (gsize i = 0; i < p->n_images; i++)
    g_assert (hl_predictions_lookup (p, p->images[i]) == (gssize) i);
  for (gsize i = 0; i < p->n_images * p->n_labels; i++)
    g_assert (isfinite (p->scores[i]));
  return 0;
}
