/* hl-gradcam.c — Grad-CAM maps for every label from one forward pass, their bilinear
 * upsampling to the image, and hl_model_analyze(): grayscale planes -> preprocess -> forward ->
 * scores and maps, the one inference path of hilum-cli and the viewer.
 *
 * At the last feature map A (after the final BatchNorm + ReLU, before global average pooling),
 * logit_l = sum_k W[l, k] mean_ij A_k(i, j) + b_l, so d logit_l / d A_k(i, j) = W[l, k] / (h w)
 * at every position: the Grad-CAM weights need no backward pass and all maps are one GEMM,
 * maps = ReLU (W A / (h w)).
 */
#include "hl-kernels.h"

#include <cblas.h>

void
hl_forward_gradcam (HlModel *model, const HlForward *fwd, int image, float *maps)
{
  g_return_if_fail (model != NULL && fwd != NULL && maps != NULL);
  g_return_if_fail (image >= 0 && image < fwd->n);
  g_return_if_fail (fwd->n_labels == model->info.n_labels);
  g_return_if_fail (fwd->c_feat == model->info.n_features);

  int hw = fwd->h_feat * fwd->w_feat;
  const float *a = fwd->features + (gsize) image * fwd->c_feat * hw; /* (c_feat, hw) */
  gsize n = (gsize) fwd->n_labels * hw;

  /* (n_labels, c_feat) x (c_feat, hw) / hw -> (n_labels, hw) */
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, fwd->n_labels, hw, fwd->c_feat,
               1.0f / (float) hw, model->classifier_weight, fwd->c_feat, a, hw, 0.0f, maps, hw);
  for (gsize i = 0; i < n; i++)
    maps[i] = maps[i] > 0.0f ? maps[i] : 0.0f;
}

void
hl_gradcam_upsample (const float *map, int h, int w, float *out, int out_h, int out_w)
{
  g_return_if_fail (map != NULL && out != NULL);
  g_return_if_fail (h > 0 && w > 0 && out_h > 0 && out_w > 0);

  hl_resize_bilinear (map, h, w, out, out_h, out_w, FALSE);
}

HlAnalysis *
hl_model_analyze (HlModel *model, const HlGrayPlane *planes, int n, gboolean gradcam,
                  HlProgressFunc progress, gpointer user_data, GCancellable *cancellable,
                  GError **error)
{
  g_return_val_if_fail (model != NULL && planes != NULL && n >= 1, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  gsize in_size = hl_model_input_size (model);
  g_return_val_if_fail ((gsize) n <= G_MAXSIZE / sizeof (float) / in_size, NULL);
  for (int i = 0; i < n; i++)
    g_return_val_if_fail (planes[i].pixels != NULL && planes[i].width > 0
                              && planes[i].height > 0,
                          NULL);

  g_autofree float *input = g_new (float, in_size * n); /* (n, input_channels, side, side) */
  for (int i = 0; i < n; i++)
    hl_model_preprocess (model, planes[i].pixels, planes[i].height, planes[i].width,
                         input + in_size * i);
  g_autoptr (HlForward) fwd
      = hl_model_forward (model, input, n, progress, user_data, cancellable, error);
  if (fwd == NULL)
    return NULL;

  HlAnalysis *a = g_new0 (HlAnalysis, 1);
  a->n = n;
  a->n_labels = fwd->n_labels;
  a->probs = g_memdup2 (fwd->probs, (gsize) n * fwd->n_labels * sizeof (float));
  a->map_h = fwd->h_feat;
  a->map_w = fwd->w_feat;
  if (gradcam)
    {
      gsize per_image = (gsize) fwd->n_labels * fwd->h_feat * fwd->w_feat;
      a->maps = g_new (float, per_image * n);
      for (int i = 0; i < n; i++)
        hl_forward_gradcam (model, fwd, i, a->maps + per_image * i);
    }
  return a;
}

void
hl_analysis_free (HlAnalysis *analysis)
{
  if (analysis == NULL)
    return;
  g_free (analysis->probs);
  g_free (analysis->maps);
  g_free (analysis);
}
