/* hl-kernels.h — the engine's internal compute kernels: the thread pool and matrix products
 * split over it, convolution (an AVX-512 kernel, or im2col + OpenBLAS sgemm, with the preceding
 * BatchNorm + ReLU fused into the input preparation), pooling, BatchNorm + ReLU, and
 * PyTorch-exact bilinear resizing. Used by the forward pass,
 * Grad-CAM, training and preprocessing; not part of the public API.
 *
 * All tensors are float32, NCHW, row-major, one image at a time: a (c, h, w) plane stack is
 * c * h * w consecutive floats. "scale"/"shift" pairs are a BatchNorm folded for inference
 * (y = x * scale[c] + shift[c], see HlBatchNorm); passing NULL for both means identity (no BN and
 * no ReLU).
 */
#pragma once

#include "hl-model-private.h"

G_BEGIN_DECLS

/* Runs func (data, i) for i in [0, n_chunks) on up to hl_engine_get_threads() threads (the
 * caller and pool helpers) and returns when all are done. Chunks must be independent. */
typedef void (*HlChunkFunc) (gpointer data, int i);
void hl_parallel_for (int n_chunks, HlChunkFunc func, gpointer data);

/* C (m, n) = alpha op (A) op (B) + beta C, row-major, op (X) = X or X^T as @trans_a/@trans_b
 * say: A is (m, k) (or (k, m) transposed) with row stride @lda, B (k, n) (or (n, k)) with @ldb,
 * C with @ldc. The engine's products go through it (bar a few tiny ones): OpenBLAS runs
 * single-threaded (see hl_engine_set_threads()), and this splits C into blocks of whole columns
 * (or rows, whichever side is longer) over hl_parallel_for(), one OpenBLAS call each. The split
 * depends only on the shape, so results do not depend on the thread count. */
void hl_sgemm (gboolean trans_a, gboolean trans_b, int m, int n, int k, float alpha,
               const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* Put before an element-wise kernel (a BatchNorm, pooling or padding loop): GCC and Clang then
 * compile it for AVX-512 and AVX2 as well as for the baseline x86-64 instruction set, and the
 * loader picks the best the CPU has (function multiversioning; a plain function elsewhere). The
 * loops neither reassociate nor, in GCC's ISO C mode, contract into FMA, so each clone computes
 * the same values, only more of them per instruction. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define HL_VECTOR_CLONES __attribute__ ((target_clones ("avx512f", "avx2", "default")))
#endif
#endif
#ifndef HL_VECTOR_CLONES
#define HL_VECTOR_CLONES
#endif

/* Alignment of every buffer the engine allocates, in bytes. */
#define HL_ALIGN 64

/* Output length of a convolution or pooling window along one axis. */
static inline int
hl_out_size (int in, int k, int stride, int pad)
{
  return (in + 2 * pad - k) / stride + 1;
}

/* Channel-wise kernels are split into chunks of whole channels worth at least this many floats,
 * so that small layers stay on one thread. */
#define HL_CHUNK_FLOATS 32768

/* How to split @c channels of @per_channel floats each for hl_parallel_for(): returns the number
 * of chunks and stores the channels per chunk (the last may have fewer) in @per_chunk. */
static inline int
hl_channel_chunks (int c, gsize per_channel, int *per_chunk)
{
  *per_chunk = (int) MIN ((gsize) c, MAX (HL_CHUNK_FLOATS / MAX (per_channel, 1), 1));
  return (c + *per_chunk - 1) / *per_chunk;
}

/* Rounds a float count up so that consecutive sub-buffers stay HL_ALIGN-aligned. */
static inline gsize
hl_align_floats (gsize n)
{
  gsize per = HL_ALIGN / sizeof (float);
  return (n + per - 1) / per * per;
}

/* y (c, hw) = max (0, x (c, hw) * scale[c] + shift[c]). @y may equal @x. */
void hl_bn_relu (const float *x, int c, gsize hw, const float *scale, const float *shift,
                 float *y);

/* im2col of x (c, h, w) for a k_h x k_w window: col (c * k_h * k_w, h_out * w_out), rows ordered
 * (c, i, j) like a (c_out, c_in, k_h, k_w) weight. With @scale/@shift, the values are
 * max (0, x * scale + shift) (BatchNorm + ReLU applied while gathering); padded positions are 0,
 * i.e. padding applies to the activated input, as in PyTorch. */
void hl_im2col (const float *x, int c, int h, int w, int k_h, int k_w, int stride, int pad,
                const float *scale, const float *shift, float *col);

/* xp (c, h + 2, w + 2) = act (x (c, h, w)) inside a one-pixel zero border, act as in
 * hl_conv2d(): a 3x3 stride-1 pad-1 convolution's input, padded once. */
void hl_pad1 (const float *x, int c, int h, int w, const float *scale, const float *shift,
              float *xp);

/* Floats of workspace hl_conv2d() needs for @conv on an (h, w) input; @bn_relu says whether a
 * BatchNorm + ReLU is fused in front. 0 when the convolution reads its input in place. Also
 * enough for hl_conv2d_im2col() except for 3x3 stride-1 pad-1 convolutions when
 * hl_conv_direct_available(). */
gsize hl_conv2d_work_size (const HlConv *conv, int h, int w, gboolean bn_relu);

/* y (c_out, h_out, w_out) = conv (act (x)), x (c_in, h, w), act = BatchNorm + ReLU with
 * @scale/@shift or identity with NULL. Where hl_conv_direct_available() (AVX-512)
 * every shape runs through the engine's own register-tiled kernel, split over
 * hl_engine_get_threads() threads (3x3 stride-1 pad-1 directly on a padded copy of the input,
 * others on the activated input or its im2col); elsewhere as hl_conv2d_im2col(). @work holds
 * hl_conv2d_work_size() floats (may be NULL when that is 0). @y must not overlap @x or @work. */
void hl_conv2d (const HlConv *conv, const float *x, int h, int w, const float *scale,
                const float *shift, float *work, float *y);

/* The portable path: OpenBLAS sgemm on the activated input (1x1) or its im2col. Its workspace
 * is c_in * k_h * k_w * h_out * w_out floats (c_in * h * w for a 1x1 with BN, 0 without). */
void hl_conv2d_im2col (const HlConv *conv, const float *x, int h, int w, const float *scale,
                       const float *shift, float *work, float *y);

/* Whether hl_conv2d() runs the direct kernel: on x86-64 CPUs with AVX-512F, unless the
 * environment sets HILUM_ENGINE_PORTABLE=1 (then every CPU takes the portable path, so that
 * AVX-512 machines can test it). Decided once per process, at the first call, so workspace
 * sizes and convolutions always agree. */
gboolean hl_conv_direct_available (void);

/* Max pooling of act (x (c, h, w)) with a k x k window, padding counted as -inf:
 * y (c, h_out, w_out). act as in hl_conv2d(). */
void hl_maxpool2d (const float *x, int c, int h, int w, int k, int stride, int pad,
                   const float *scale, const float *shift, float *y);

/* 2x2 average pooling, stride 2, no padding (odd trailing rows/columns dropped, as PyTorch) of
 * act (x (c, h, w)): y (c, h / 2, w / 2). act as in hl_conv2d(). */
void hl_avgpool2x2 (const float *x, int c, int h, int w, const float *scale, const float *shift,
                    float *y);

/* y (c) = mean over the hw positions of x (c, hw). */
void hl_global_avgpool (const float *x, int c, gsize hw, float *y);

/* Resizes one plane src (h, w) to dst (out_h, out_w) exactly as PyTorch's
 * F.interpolate (mode='bilinear', align_corners=False, antialias=@antialias) does on float32:
 * without antialias a 2x2 bilinear tap; with it a separable triangle filter whose support grows
 * with the downscale factor, weights normalised per output pixel, the horizontal pass first,
 * then the vertical one. */
void hl_resize_bilinear (const float *src, int h, int w, float *dst, int out_h, int out_w,
                         gboolean antialias);

/* hl-resize.c: other libraries' resize filters, each reproducing its library (see there).
 * PIL's Image.resize (BILINEAR) on 8-bit @src (h, w) into @dst (out_h, out_w). */
void hl_resize_pil_bilinear (const guint8 *src, int h, int w, guint8 *dst, int out_h, int out_w);

/* The same for the window (top, left, win_h, win_w) of the (out_h, out_w) result only, into @dst
 * (win_h, win_w): equal to cropping hl_resize_pil_bilinear's output, at the window's cost. */
void hl_resize_pil_bilinear_window (const guint8 *src, int h, int w, int out_h, int out_w, int top,
                                    int left, int win_h, int win_w, guint8 *dst);

/* PIL's Image.resize (NEAREST), Keras' load_img default: @src (h, w) into @dst (out_h, out_w). */
void hl_resize_nearest (const float *src, int h, int w, float *dst, int out_h, int out_w);

/* skimage.transform.resize (order 1, anti_aliasing when shrinking, mode 'constant', cval 0,
 * preserve_range, clip) of a float32 image: @src (h, w) into @dst (out_h, out_w). */
void hl_resize_skimage (const float *src, int h, int w, float *dst, int out_h, int out_w);

G_END_DECLS
