/* hl-overlay.c — gray image and heatmap surfaces, the overlay and the colorbar. */
#include "hl-overlay.h"

#include <math.h>

#include "hl-render-private.h"

void
hl_overlay_style_init (HlOverlayStyle *style)
{
  g_return_if_fail (style != NULL);
  style->cmap = HL_COLORMAP_INFERNO;
  style->opacity = 0.5;
  style->threshold = 0.2;
  style->vmin = 0.0;
  style->vmax = 1.0;
}

static gboolean
style_is_valid (const HlOverlayStyle *style)
{
  return style != NULL && style->cmap >= 0 && style->cmap < HL_N_COLORMAPS && style->opacity >= 0
         && style->opacity <= 1 && style->threshold >= 0 && style->threshold <= 1
         && style->vmax > style->vmin;
}

/* hl_overlay_normalize() without the check, for the per-pixel loops of callers that made it. */
static double
normalize (const HlOverlayStyle *style, double value)
{
  double t = (value - style->vmin) / (style->vmax - style->vmin);
  if (!(t > 0.0)) /* also NaN */
    return 0.0;
  return t < 1.0 ? t : 1.0;
}

double
hl_overlay_normalize (const HlOverlayStyle *style, double value)
{
  g_return_val_if_fail (style_is_valid (style), 0.0);
  return normalize (style, value);
}

void
hl_overlay_blend_pixel (const HlOverlayStyle *style, double gray, double value, double *rgb)
{
  g_return_if_fail (style_is_valid (style) && rgb != NULL);
  double t = hl_overlay_normalize (style, value);
  if (t < style->threshold)
    {
      rgb[0] = rgb[1] = rgb[2] = gray;
      return;
    }
  double c[3];
  hl_colormap_lookup (style->cmap, t, c);
  for (int i = 0; i < 3; i++)
    rgb[i] = (1.0 - style->opacity) * gray + style->opacity * c[i];
}

double
hl_overlay_map_max (const float *map, gsize n)
{
  g_return_val_if_fail (map != NULL || n == 0, 0.0);
  double best = 0.0;
  gboolean any = FALSE;
  for (gsize i = 0; i < n; i++)
    if (isfinite (map[i]) && (!any || map[i] > best))
      {
        best = map[i];
        any = TRUE;
      }
  return best;
}

static guint8
to_byte (double v)
{
  if (!(v > 0.0))
    return 0;
  if (v >= 1.0)
    return 255;
  return (guint8)lround (v * 255.0);
}

cairo_surface_t *
hl_render_gray_surface_new (const float *pixels, int width, int height, double low, double high)
{
  g_return_val_if_fail (pixels != NULL && width > 0 && height > 0, NULL);
  g_return_val_if_fail (high > low, NULL);
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, width, height);
  if (cairo_surface_status (surface) != CAIRO_STATUS_SUCCESS)
    return surface;
  cairo_surface_flush (surface);
  guint8 *data = cairo_image_surface_get_data (surface);
  int stride = cairo_image_surface_get_stride (surface);
  double scale = 1.0 / (high - low);
  for (int y = 0; y < height; y++)
    {
      guint32 *row = (guint32 *)(data + (gsize)y * stride);
      const float *src = pixels + (gsize)y * width;
      for (int x = 0; x < width; x++)
        {
          guint32 v = to_byte ((src[x] - low) * scale);
          row[x] = 0xff000000u | (v << 16) | (v << 8) | v;
        }
    }
  cairo_surface_mark_dirty (surface);
  return surface;
}

cairo_surface_t *
hl_render_heatmap_surface_new (const float *map, int width, int height, const HlOverlayStyle *style)
{
  g_return_val_if_fail (map != NULL && width > 0 && height > 0, NULL);
  g_return_val_if_fail (style_is_valid (style), NULL);
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
  if (cairo_surface_status (surface) != CAIRO_STATUS_SUCCESS)
    return surface;
  cairo_surface_flush (surface);
  guint8 *data = cairo_image_surface_get_data (surface);
  int stride = cairo_image_surface_get_stride (surface);
  guint32 alpha = to_byte (style->opacity);
  /* The 256 premultiplied pixels the colormap can produce. */
  guint32 lut[HL_COLORMAP_SIZE];
  for (int i = 0; i < HL_COLORMAP_SIZE; i++)
    {
      const double *c = hl_colormap_get_entry (style->cmap, i);
      guint32 r = (guint32)lround (c[0] * alpha), g = (guint32)lround (c[1] * alpha),
              b = (guint32)lround (c[2] * alpha);
      lut[i] = (alpha << 24) | (r << 16) | (g << 8) | b;
    }
  for (int y = 0; y < height; y++)
    {
      guint32 *row = (guint32 *)(data + (gsize)y * stride);
      const float *src = map + (gsize)y * width;
      for (int x = 0; x < width; x++)
        {
          double t = normalize (style, src[x]);
          int index = t >= 1.0 ? HL_COLORMAP_SIZE - 1 : (int)floor (t * HL_COLORMAP_SIZE);
          row[x] = t < style->threshold ? 0u : lut[index];
        }
    }
  cairo_surface_mark_dirty (surface);
  return surface;
}

void
hl_render_draw_surface (cairo_t *cr, cairo_surface_t *surface, double x, double y, double width,
                        double height, cairo_filter_t filter)
{
  g_return_if_fail (cr != NULL && surface != NULL);
  int sw = cairo_image_surface_get_width (surface);
  int sh = cairo_image_surface_get_height (surface);
  if (sw <= 0 || sh <= 0 || !(width > 0) || !(height > 0))
    return;
  cairo_save (cr);
  cairo_rectangle (cr, x, y, width, height);
  cairo_clip (cr);
  cairo_translate (cr, x, y);
  cairo_scale (cr, width / sw, height / sh);
  cairo_set_source_surface (cr, surface, 0, 0);
  cairo_pattern_t *pattern = cairo_get_source (cr);
  cairo_pattern_set_filter (pattern, filter);
  cairo_pattern_set_extend (pattern, CAIRO_EXTEND_PAD);
  cairo_paint (cr);
  cairo_restore (cr);
}

void
hl_render_overlay (cairo_t *cr, const float *map, int map_w, int map_h, double image_w,
                   double image_h, const HlOverlayStyle *style)
{
  g_return_if_fail (cr != NULL && map != NULL && map_w > 0 && map_h > 0);
  g_return_if_fail (style_is_valid (style));
  cairo_surface_t *heat = hl_render_heatmap_surface_new (map, map_w, map_h, style);
  if (cairo_surface_status (heat) == CAIRO_STATUS_SUCCESS)
    hl_render_draw_surface (cr, heat, 0, 0, image_w, image_h,
                            map_w < image_w || map_h < image_h ? CAIRO_FILTER_BILINEAR
                                                               : CAIRO_FILTER_GOOD);
  cairo_surface_destroy (heat);
}

/* Gray diagonal hatching over a rectangle: the "transparent" part of the ramp. */
static void
hatch (cairo_t *cr, double x, double y, double w, double h)
{
  cairo_save (cr);
  cairo_rectangle (cr, x, y, w, h);
  cairo_clip (cr);
  cairo_set_source_rgb (cr, 0.85, 0.85, 0.85);
  cairo_paint (cr);
  double step = 4.0;
  cairo_set_source_rgb (cr, 0.55, 0.55, 0.55);
  cairo_set_line_width (cr, 0.8);
  for (double d = -h; d < w + h; d += step)
    {
      cairo_move_to (cr, x + d, y + h);
      cairo_line_to (cr, x + d + h, y);
    }
  cairo_stroke (cr);
  cairo_restore (cr);
}

void
hl_render_colorbar (cairo_t *cr, double x, double y, double width, double height,
                    const HlOverlayStyle *style, const char *title)
{
  g_return_if_fail (cr != NULL && style_is_valid (style));
  if (!(width > 0) || !(height > 0))
    return;
  gboolean vertical = height >= width;

  /* The ramp as a 256-pixel strip, position 0 at vmin. */
  cairo_surface_t *ramp
      = cairo_image_surface_create (CAIRO_FORMAT_RGB24, vertical ? 1 : 256, vertical ? 256 : 1);
  if (cairo_surface_status (ramp) != CAIRO_STATUS_SUCCESS)
    {
      cairo_surface_destroy (ramp);
      return;
    }
  cairo_surface_flush (ramp);
  guint8 *data = cairo_image_surface_get_data (ramp);
  int stride = cairo_image_surface_get_stride (ramp);
  for (int i = 0; i < HL_COLORMAP_SIZE; i++)
    {
      const double *c = hl_colormap_get_entry (style->cmap, i);
      guint32 px = 0xff000000u | ((guint32)to_byte (c[0]) << 16) | ((guint32)to_byte (c[1]) << 8)
                   | to_byte (c[2]);
      if (vertical)
        *(guint32 *)(data + (gsize)(HL_COLORMAP_SIZE - 1 - i) * stride) = px;
      else
        ((guint32 *)data)[i] = px;
    }
  cairo_surface_mark_dirty (ramp);
  hl_render_draw_surface (cr, ramp, x, y, width, height, CAIRO_FILTER_NEAREST);
  cairo_surface_destroy (ramp);

  double thr = style->threshold;
  if (thr > 0)
    {
      if (vertical)
        hatch (cr, x, y + height * (1 - thr), width, height * thr);
      else
        hatch (cr, x, y, width * thr, height);
    }

  cairo_save (cr);
  cairo_set_source_rgb (cr, 0.2, 0.2, 0.2);
  cairo_set_line_width (cr, 0.8);
  cairo_rectangle (cr, x, y, width, height);
  cairo_stroke (cr);

  cairo_font_extents_t fe;
  cairo_font_extents (cr, &fe);
  double tick = MAX (3.0, fe.height * 0.3);
  double positions[3] = { 0.0, thr, 1.0 };
  char labels[3][32];
  for (int k = 0; k < 3; k++)
    hl_render_format_number (style->vmin + positions[k] * (style->vmax - style->vmin), 2, labels[k],
                             sizeof labels[k]);
  /* The threshold's label only where it does not collide with an end's. */
  gboolean thr_label;
  if (vertical)
    thr_label = thr * height >= fe.height * 1.1 && (1 - thr) * height >= fe.height * 1.1;
  else
    {
      double gap = fe.height * 0.3, half = hl_render_text_width (cr, labels[1]) / 2;
      thr_label = thr * width >= hl_render_text_width (cr, labels[0]) + half + gap
                  && (1 - thr) * width >= hl_render_text_width (cr, labels[2]) + half + gap;
    }
  for (int k = 0; k < 3; k++)
    {
      double p = positions[k];
      if (k == 1 && !(thr > 0 && thr < 1))
        continue;
      const char *text = k == 1 && !thr_label ? NULL : labels[k];
      if (vertical)
        {
          double ty = y + height * (1 - p);
          cairo_move_to (cr, x + width, ty);
          cairo_line_to (cr, x + width + tick, ty);
          cairo_stroke (cr);
          if (text != NULL)
            hl_render_text (cr, x + width + tick * 1.5, ty, 0.0, 0.5, text);
        }
      else
        {
          double tx = x + width * p;
          cairo_move_to (cr, tx, y + height);
          cairo_line_to (cr, tx, y + height + tick);
          cairo_stroke (cr);
          if (text != NULL)
            hl_render_text (cr, tx, y + height + tick * 1.3,
                            k == 0   ? 0.0
                            : k == 2 ? 1.0
                                     : 0.5,
                            0.0, text);
        }
    }
  if (title != NULL)
    hl_render_text (cr, vertical ? x : x + width / 2, y - fe.height * 0.3, vertical ? 0.0 : 0.5,
                    1.0, title);
  cairo_restore (cr);
}
