/* hl-augment.c — geometric + intensity augmentation of grayscale planes for training (see
 * hl-augment.h). */
#include "hl-augment.h"

#include "hl-kernels.h"

#include <math.h>

void
hl_augment_options_init (HlAugmentOptions *options)
{
  g_return_if_fail (options != NULL);
  options->rotation_deg = 7.0;
  options->translation = 0.06;
  options->scale = 0.10;
  options->brightness = 0.10;
  options->contrast = 0.15;
  options->gamma = 0.2;
}

void
hl_augment_draw (const HlAugmentOptions *options, HlRng *rng, HlAugmentDraw *draw)
{
  g_return_if_fail (options != NULL && rng != NULL && draw != NULL);

  draw->angle = hl_rng_symmetric (rng, options->rotation_deg) * G_PI / 180.0;
  draw->shift_x = hl_rng_symmetric (rng, options->translation);
  draw->shift_y = hl_rng_symmetric (rng, options->translation);
  draw->zoom = 1.0 + hl_rng_symmetric (rng, options->scale);
  draw->brightness = hl_rng_symmetric (rng, options->brightness);
  draw->contrast = 1.0 + hl_rng_symmetric (rng, options->contrast);
  draw->gamma = exp (hl_rng_symmetric (rng, options->gamma));
}

void
hl_augment_apply (const HlAugmentDraw *draw, const float *src, int h, int w, float *dst)
{
  g_return_if_fail (draw != NULL && src != NULL && dst != NULL && src != dst);
  g_return_if_fail (h > 0 && w > 0 && draw->zoom > 0.0);

  gsize plane = (gsize) h * w;
  double sum = 0.0;
  for (gsize i = 0; i < plane; i++)
    sum += src[i];
  float mean = (float) (sum / (double) plane);

  /* Output pixel centre (x, y), relative to the image centre and shift, maps back through the
   * inverse rotation and zoom to the source pixel it samples. */
  double cx = 0.5 * w, cy = 0.5 * h;
  double ca = cos (draw->angle) / draw->zoom, sa = sin (draw->angle) / draw->zoom;
  double dx = draw->shift_x * w, dy = draw->shift_y * h;
  /* (v - mean) * contrast + mean + brightness, as v * contrast + offset: exact for the identity */
  float contrast = (float) draw->contrast;
  float offset = (float) ((double) mean * (1.0 - draw->contrast) + draw->brightness);
  float gamma = (float) draw->gamma;

  for (int y = 0; y < h; y++)
    {
      double ry = y + 0.5 - cy - dy;
      for (int x = 0; x < w; x++)
        {
          double rx = x + 0.5 - cx - dx;
          /* Inverse of a counter-clockwise rotation (in image coordinates, y down). */
          double sx = ca * rx - sa * ry + cx - 0.5;
          double sy = sa * rx + ca * ry + cy - 0.5;
          float v = 0.0f;

          if (sx > -1.0 && sy > -1.0 && sx < w && sy < h)
            {
              int x0 = (int) floor (sx), y0 = (int) floor (sy);
              float fx = (float) (sx - x0), fy = (float) (sy - y0);
              float p00 = 0.0f, p01 = 0.0f, p10 = 0.0f, p11 = 0.0f;
              if (y0 >= 0 && x0 >= 0)
                p00 = src[(gsize) y0 * w + x0];
              if (y0 >= 0 && x0 + 1 < w)
                p01 = src[(gsize) y0 * w + x0 + 1];
              if (y0 + 1 < h && x0 >= 0)
                p10 = src[(gsize) (y0 + 1) * w + x0];
              if (y0 + 1 < h && x0 + 1 < w)
                p11 = src[(gsize) (y0 + 1) * w + x0 + 1];
              v = (1.0f - fy) * ((1.0f - fx) * p00 + fx * p01)
                  + fy * ((1.0f - fx) * p10 + fx * p11);
            }
          v = v * contrast + offset;
          v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
          dst[(gsize) y * w + x] = gamma == 1.0f ? v : powf (v, gamma);
        }
    }
}

void
hl_augment_working_plane (const float *src, int h, int w, float *dst, int side)
{
  g_return_if_fail (src != NULL && dst != NULL && h > 0 && w > 0 && side > 0);
  hl_resize_bilinear (src, h, w, dst, side, side, TRUE);
}
