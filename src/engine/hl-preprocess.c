/* hl-preprocess.c — turns a grayscale plane into the model's input tensor exactly as the model
 * file's metadata says (resize like PyTorch's F.interpolate, replicate to the input channels,
 * normalise). The same function serves training and inference.
 */
#include "hl-kernels.h"

#include <math.h>
#include <string.h>

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

  hl_resize_bilinear (gray, h, w, resized, side, side,
                      pp->resize == HL_RESIZE_BILINEAR_ANTIALIAS);

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
