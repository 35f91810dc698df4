/* hl-backward.h — the engine's training kernels: BatchNorm batch statistics and the backward
 * passes of BatchNorm + ReLU, convolution (col2im), max and average pooling. Used by the
 * training network (hl-train.c) and earlier-layer Grad-CAM; not part of the public API.
 *
 * Conventions as hl-kernels.h: float32, NCHW, row-major. Batched buffers are n images of
 * (c, hw) planes each, image i starting at base + i * stride (stride >= c * hw), so a kernel can
 * work on the first c channels of a dense block's concatenation.
 */
#pragma once

#include "hl-kernels.h"

G_BEGIN_DECLS

/* A batched (n, c, hw) view: image i is data + i * stride. */
typedef struct
{
  float *data;
  gsize stride;
} HlBatchView;

/* Per-channel batch statistics of x (n images, c channels, hw positions), in double:
 * mean[ch] and the biased variance var[ch] over the n * hw values. Deterministic. */
void hl_bn_batch_stats (HlBatchView x, int n, int c, gsize hw, double *mean, double *var);

/* Backward of y = ReLU (x * scale + shift) where scale/shift come from BatchNorm.
 * x, dy: (n, c, hw) views; dy is the gradient w.r.t. y.
 * Training mode (@mean and @invstd non-NULL, the batch statistics that gave scale/shift,
 * scale = gamma * invstd): with dz = dy * [x * scale + shift > 0] and xhat = (x - mean) invstd,
 *   dgamma[ch] += sum dz xhat, dbeta[ch] += sum dz,
 *   dx = scale (dz - mean (dz) - xhat mean (dz xhat)).
 * Evaluation mode (@mean == @invstd == NULL, running statistics): dx = scale dz; @dgamma and
 * @dbeta must then be NULL.
 * @dgamma/@dbeta may be NULL (not wanted). dx is written, or added to with @accumulate; dx may be
 * dy itself (same view). */
void hl_bn_relu_backward (HlBatchView x, HlBatchView dy, HlBatchView dx, int n, int c, gsize hw,
                          const float *scale, const float *shift, const float *mean,
                          const float *invstd, float *dgamma, float *dbeta, gboolean accumulate);

/* The adjoint of hl_im2col() without activation: x (c, h, w) += col2im (col), col
 * (c * k_h * k_w, h_out * w_out). Padded positions are dropped. */
void hl_col2im (const float *col, int c, int h, int w, int k_h, int k_w, int stride, int pad,
                float *x);

/* Backward of hl_maxpool2d() with activation act (see hl_conv2d()): each output's gradient
 * dy (c, h_out, w_out) is added to dx (c, h, w) at the window's first maximum of act (x) in
 * row-major order (PyTorch's tie rule). dx is the gradient w.r.t. act (x). */
void hl_maxpool2d_backward (const float *x, int c, int h, int w, int k, int stride, int pad,
                            const float *scale, const float *shift, const float *dy, float *dx);

/* Backward of hl_avgpool2x2(): dx (c, h, w) = dy (c, h / 2, w / 2) / 4 spread over each 2x2
 * window; odd trailing rows and columns get 0. Written, not added. */
void hl_avgpool2x2_backward (const float *dy, int c, int h, int w, float *dx);

G_END_DECLS
