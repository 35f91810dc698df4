/* hl-preprocess.c — turns a grayscale plane into the model's input tensor exactly as the model
 * file's metadata says (HlPreprocess: 8-bit rounding, crop, value range, resize like the source
 * library, replicate to the input channels, normalise). The same function serves training and
 * inference.
 */
#include "hl-kernels.h"

#include <math.h>
#include <string.h>

static inline float
to_byte (float v)
{
  return nearbyintf (CLAMP (v, 0.0f, 1.0f) * 255.0f);
}

/* @v in [0, 1] on @range, in the arithmetic of the library that range comes from: PyTorch's
 * ToTensor (byte / 255), Keras' pixels (the byte itself when the plane was rounded to 8 bits),
 * torchxrayvision's normalize ((2 (x / 255) - 1) * 1024). */
static inline float
map_range (HlValueRange range, float v, gboolean is_byte)
{
  switch (range)
    {
    case HL_RANGE_BYTE:
      return is_byte ? v : v * 255.0f;
    case HL_RANGE_XRV:
      return (2.0f * (is_byte ? v / 255.0f : v) - 1.0f) * 1024.0f;
    default:
      return is_byte ? v / 255.0f : v;
    }
}

/* The crop box of @pp on an (h, w) plane: its first row and column and its size. */
static void
crop_box (const HlPreprocess *pp, int h, int w, int *y0, int *x0, int *ch, int *cw)
{
  *y0 = *x0 = 0;
  *ch = h;
  *cw = w;
  if (pp->crop == HL_CROP_CENTER)
    {
      int side = MIN (h, w);
      *y0 = h / 2 - side / 2;
      *x0 = w / 2 - side / 2;
      *ch = *cw = side;
    }
}

/* torchvision's Resize (side) + CenterCrop (side) with PIL's BILINEAR on the 8-bit values of
 * @src (h, w); @dst (side, side) gets the bytes. */
static void
pil_resize_center_crop (const float *src, int h, int w, int side, float *dst)
{
  int oh, ow;
  gsize n = (gsize) h * w;
  g_autofree guint8 *bytes = g_new (guint8, n);

  /* torchvision: the short side becomes side, the long one int (side * long / short). */
  if (w <= h)
    {
      ow = side;
      oh = (int) ((gint64) side * h / w);
    }
  else
    {
      oh = side;
      ow = (int) ((gint64) side * w / h);
    }
  g_autofree guint8 *window = g_new (guint8, (gsize) side * side);
  for (gsize i = 0; i < n; i++)
    bytes[i] = (guint8) to_byte (src[i]);
  /* CenterCrop: int (round ((oh - side) / 2.0)), Python's round half to even; only the crop is
   * computed (a 1 x 16384 image would otherwise resize to 224 x 3.7 million first) */
  int top = (int) nearbyint ((oh - side) / 2.0), left = (int) nearbyint ((ow - side) / 2.0);
  hl_resize_pil_bilinear_window (bytes, h, w, oh, ow, top, left, side, side, window);
  for (gsize i = 0; i < (gsize) side * side; i++)
    dst[i] = window[i];
}

void
hl_model_preprocess (HlModel *model, const float *gray, int h, int w, float *out)
{
  g_return_if_fail (model != NULL);
  g_return_if_fail (gray != NULL && out != NULL);
  g_return_if_fail (h > 0 && w > 0);

  const HlModelInfo *info = &model->info;
  const HlPreprocess *pp = &info->preprocess;
  int side = info->input_size;
  gsize plane = (gsize) side * side;
  float *resized = out; /* (side, side): channel 0 of @out until the channels are written */
  int y0, x0, ch, cw;
  g_autofree float *prepared = NULL; /* (ch, cw): the cropped, rounded, mapped plane */
  const float *src = gray;

  crop_box (pp, h, w, &y0, &x0, &ch, &cw);
  if (pp->resize == HL_RESIZE_PIL_BILINEAR)
    {
      /* The crop first (when asked), then PIL on the bytes, then the range as ToTensor gives
       * it (byte / 255) mapped onto the model's range. */
      prepared = g_new (float, (gsize) ch * cw);
      for (int y = 0; y < ch; y++)
        memcpy (prepared + (gsize) y * cw, gray + (gsize) (y + y0) * w + x0, cw * sizeof (float));
      pil_resize_center_crop (prepared, ch, cw, side, resized);
      for (gsize i = 0; i < plane; i++)
        resized[i] = map_range (pp->range, resized[i], TRUE);
    }
  else
    {
      gboolean identity = !pp->quantize8 && pp->crop == HL_CROP_NONE
                          && pp->range == HL_RANGE_UNIT;
      if (!identity)
        {
          prepared = g_new (float, (gsize) ch * cw);
          for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++)
              {
                float v = gray[(gsize) (y + y0) * w + x + x0];
                prepared[(gsize) y * cw + x] = pp->quantize8
                                                 ? map_range (pp->range, to_byte (v), TRUE)
                                                 : map_range (pp->range, v, FALSE);
              }
          src = prepared;
        }
      switch (pp->resize)
        {
        case HL_RESIZE_NEAREST:
          hl_resize_nearest (src, ch, cw, resized, side, side);
          break;
        case HL_RESIZE_SKIMAGE:
          hl_resize_skimage (src, ch, cw, resized, side, side);
          break;
        default:
          hl_resize_bilinear (src, ch, cw, resized, side, side,
                              pp->resize == HL_RESIZE_BILINEAR_ANTIALIAS);
          break;
        }
    }

  if (pp->mode == HL_NORM_IMAGE)
    {
      /* (x - mean (x)) / (std (x) + 1e-7), population std, statistics in double. */
      double sum = 0.0, sum_sq = 0.0;
      for (gsize i = 0; i < plane; i++)
        sum += resized[i];
      double mean = sum / (double) plane;
      for (gsize i = 0; i < plane; i++)
        {
          double d = resized[i] - mean;
          sum_sq += d * d;
        }
      float fmean = (float) mean;
      float denom = (float) (sqrt (sum_sq / (double) plane) + 1e-7);
      for (gsize i = 0; i < plane; i++)
        resized[i] = (resized[i] - fmean) / denom;
      for (int c = 1; c < info->input_channels; c++)
        memcpy (out + (gsize) c * plane, resized, plane * sizeof (float));
    }
  else if (pp->mode == HL_NORM_NONE)
    {
      for (int c = 1; c < info->input_channels; c++)
        memcpy (out + (gsize) c * plane, resized, plane * sizeof (float));
    }
  else
    {
      /* (x - mean[c]) / std[c]; channel 0 last since it holds the resized plane. */
      for (int c = info->input_channels - 1; c >= 0; c--)
        {
          float *dst = out + (gsize) c * plane;
          float m = pp->mean[c], s = pp->std[c];
          for (gsize i = 0; i < plane; i++)
            dst[i] = (resized[i] - m) / s;
        }
    }
}
