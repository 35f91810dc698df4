/* hl-gradcam.c — Grad-CAM maps for every label from one forward pass, and their bilinear
 * upsampling to the image.
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
