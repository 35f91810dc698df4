/* hl-augment.c — geometric + intensity augmentation and random erasing of grayscale planes for
 * training (see hl-augment.h). */
#include "hl-augment.h"

#include "hl-kernels.h"

#include <math.h>
#include <string.h>

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
  options->crop_scale = 0.0;
  options->erase_p = 0.0;
  options->erase_edge_p = 0.0;
}

/* torchvision RandomErasing's aspect range (height / width), log-uniform, and this module's area
 * range; the largest side, sqrt (0.2 * 3.3) < 1, always fits in the plane. */
#define ERASE_AREA_MIN 0.02
#define ERASE_AREA_MAX 0.2
#define ERASE_ASPECT_MIN 0.3
#define ERASE_ASPECT_MAX 3.3

/* Draws one erasure with probability @p from exactly 7 values of @rng: on, area, aspect, the two
 * coordinates of the position (@edge: which edge, then the place along it), fill, seed. */
static void
draw_erase (HlRng *rng, double p, gboolean edge, HlAugmentErase *erase)
{
  double u_on = hl_rng_uniform (rng);
  double area = ERASE_AREA_MIN + (ERASE_AREA_MAX - ERASE_AREA_MIN) * hl_rng_uniform (rng);
  double log_lo = log (ERASE_ASPECT_MIN), log_hi = log (ERASE_ASPECT_MAX);
  double aspect = exp (log_lo + (log_hi - log_lo) * hl_rng_uniform (rng));
  double u_a = hl_rng_uniform (rng), u_b = hl_rng_uniform (rng);

  erase->on = u_on < p;
  erase->h = sqrt (area * aspect);
  erase->w = sqrt (area / aspect);
  if (edge)
    {
      int side = MIN ((int) (u_a * 4.0), 3); /* 0 top, 1 bottom, 2 left, 3 right */
      double along = u_b;
      erase->x = side == 2 ? 0.0 : side == 3 ? 1.0 - erase->w : along * (1.0 - erase->w);
      erase->y = side == 0 ? 0.0 : side == 1 ? 1.0 - erase->h : along * (1.0 - erase->h);
    }
  else
    {
      erase->x = u_a * (1.0 - erase->w);
      erase->y = u_b * (1.0 - erase->h);
    }
  erase->noise = hl_rng_uniform (rng) < 0.5;
  erase->seed = hl_rng_next (rng);
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

  draw->crop_x = draw->crop_y = 0.0;
  draw->crop_w = draw->crop_h = 1.0;
  if (options->crop_scale > 0.0)
    {
      double area = options->crop_scale + (1.0 - options->crop_scale) * hl_rng_uniform (rng);
      double log_r = log (3.0 / 4.0) + (log (4.0 / 3.0) - log (3.0 / 4.0)) * hl_rng_uniform (rng);
      draw->crop_w = MIN (1.0, sqrt (area * exp (log_r)));
      draw->crop_h = MIN (1.0, sqrt (area / exp (log_r)));
      draw->crop_x = (1.0 - draw->crop_w) * hl_rng_uniform (rng);
      draw->crop_y = (1.0 - draw->crop_h) * hl_rng_uniform (rng);
    }
  memset (draw->erase, 0, sizeof draw->erase);
  if (options->erase_p > 0.0)
    draw_erase (rng, options->erase_p, FALSE, &draw->erase[0]);
  if (options->erase_edge_p > 0.0)
    draw_erase (rng, options->erase_edge_p, TRUE, &draw->erase[1]);
}

/* The pixel range [*lo, *hi) whose centres lie in [from, from + size) of a side of @n pixels. */
static void
erase_span (double from, double size, int n, int *lo, int *hi)
{
  *lo = CLAMP ((int) ceil (from * n - 0.5), 0, n);
  *hi = CLAMP ((int) ceil ((from + size) * n - 0.5), *lo, n);
}

/* Fills @erase's rectangle of @dst (h, w) with its noise or @mean. */
static void
apply_erase (const HlAugmentErase *erase, float mean, int h, int w, float *dst)
{
  int x0, x1, y0, y1;
  HlRng noise;

  erase_span (erase->x, erase->w, w, &x0, &x1);
  erase_span (erase->y, erase->h, h, &y0, &y1);
  hl_rng_init (&noise, erase->seed);
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++)
      dst[(gsize) y * w + x] = erase->noise ? (float) hl_rng_uniform (&noise) : mean;
}

void
hl_augment_apply (const HlAugmentDraw *draw, const float *src, int h, int w, float *dst)
{
  g_return_if_fail (draw != NULL && src != NULL && dst != NULL && src != dst);
  g_return_if_fail (h > 0 && w > 0 && draw->zoom > 0.0);
  g_return_if_fail (draw->crop_w > 0.0 && draw->crop_h > 0.0);

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
  /* the crop: output pixel centre x + 0.5 is crop_x w + (x + 0.5) crop_w of the rotated image */
  double ox = draw->crop_x * w, oy = draw->crop_y * h, kx = draw->crop_w, ky = draw->crop_h;
  /* (v - mean) * contrast + mean + brightness, as v * contrast + offset: exact for the identity */
  float contrast = (float) draw->contrast;
  float offset = (float) ((double) mean * (1.0 - draw->contrast) + draw->brightness);
  float gamma = (float) draw->gamma;

  for (int y = 0; y < h; y++)
    {
      double ry = oy + (y + 0.5) * ky - cy - dy;
      for (int x = 0; x < w; x++)
        {
          double rx = ox + (x + 0.5) * kx - cx - dx;
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

  if (draw->erase[0].on || draw->erase[1].on)
    {
      double out_sum = 0.0;
      for (gsize i = 0; i < plane; i++)
        out_sum += dst[i];
      float out_mean = (float) (out_sum / (double) plane);
      for (int e = 0; e < HL_AUGMENT_N_ERASE; e++)
        if (draw->erase[e].on)
          apply_erase (&draw->erase[e], out_mean, h, w, dst);
    }
}

void
hl_augment_working_plane (const float *src, int h, int w, float *dst, int side)
{
  g_return_if_fail (src != NULL && dst != NULL && h > 0 && w > 0 && side > 0);
  hl_resize_bilinear (src, h, w, dst, side, side, TRUE);
}
