/* cli-infer.c — decode-to-scores inference shared by hilum-cli's commands. */
#include "cli-infer.h"

#include <string.h>

HlCliInference *
hl_cli_infer (HlModel *model, const HlImage *image, gboolean gradcam, GCancellable *cancellable,
              GError **error)
{
  g_return_val_if_fail (model != NULL && image != NULL && image->pixels != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autofree float *input = g_new (float, hl_model_input_size (model));
  hl_model_preprocess (model, image->pixels, image->height, image->width, input);
  g_autoptr (HlForward) fwd = hl_model_forward (model, input, 1, NULL, NULL, cancellable, error);
  if (fwd == NULL)
    return NULL;

  HlCliInference *r = g_new0 (HlCliInference, 1);
  r->n_labels = fwd->n_labels;
  r->probs = g_memdup2 (fwd->probs, (gsize)fwd->n_labels * sizeof (float));
  r->map_h = fwd->h_feat;
  r->map_w = fwd->w_feat;
  if (gradcam)
    {
      r->maps = g_new (float, (gsize)fwd->n_labels * fwd->h_feat * fwd->w_feat);
      hl_forward_gradcam (model, fwd, 0, r->maps);
    }
  return r;
}

void
hl_cli_inference_free (HlCliInference *result)
{
  if (result == NULL)
    return;
  g_free (result->probs);
  g_free (result->maps);
  g_free (result);
}
