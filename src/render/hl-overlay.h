/* hl-overlay.h — X-ray and heatmap drawing on any cairo_t: the grayscale image as a cairo
 * surface, a Grad-CAM heatmap laid over it through a colormap with an opacity and a threshold
 * below which it is transparent, and the matching colorbar legend.
 *
 * The overlay of one pixel, exactly (hl_overlay_blend_pixel; the surfaces reproduce it to within
 * one 8-bit step at a 1:1 scale):
 *   t   = clamp ((value - vmin) / (vmax - vmin), 0, 1)
 *   out = gray                                    if t < threshold
 *   out = (1 - opacity) * gray + opacity * cmap(t) otherwise
 *
 * Text is drawn in the cairo_t's current font size (cairo_set_font_size), sans-serif.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "hl-colormap.h"

G_BEGIN_DECLS

typedef struct
{
  HlColormap cmap;
  double opacity;   /* [0, 1]: weight of the colour where the heatmap is shown */
  double threshold; /* [0, 1] on the normalised value: below it the heatmap is transparent */
  double vmin;      /* map value drawn as colormap position 0 */
  double vmax;      /* map value drawn as colormap position 1; > vmin */
} HlOverlayStyle;

/* Fills @style with the defaults: inferno, opacity 0.5, threshold 0.2, vmin 0, vmax 1. */
void hl_overlay_style_init (HlOverlayStyle *style);

/* The normalised value t of @value under @style, in [0, 1] (NaN gives 0). */
double hl_overlay_normalize (const HlOverlayStyle *style, double value);

/* The displayed colour of one pixel: gray level @gray in [0, 1] under heatmap value @value.
 * Writes r, g, b in [0, 1] to @rgb (3). */
void hl_overlay_blend_pixel (const HlOverlayStyle *style, double gray, double value, double *rgb);

/* The largest finite value of @map (n), or 0 when it has none; for scaling each map to its own
 * maximum (style.vmax = hl_overlay_map_max (...)). */
double hl_overlay_map_max (const float *map, gsize n);

/* A new CAIRO_FORMAT_RGB24 surface of the grayscale image @pixels (height, width), row-major:
 * value p is shown as clamp ((p - low) / (high - low), 0, 1) (window/level; low = 0, high = 1
 * shows the image as decoded), rounded to 8 bits. high > low. Free with
 * cairo_surface_destroy(); check cairo_surface_status() for allocation failure. */
cairo_surface_t *hl_render_gray_surface_new (const float *pixels, int width, int height, double low,
                                             double high);

/* A new CAIRO_FORMAT_ARGB32 (premultiplied) surface of the heatmap @map (height, width) under
 * @style: pixels below the threshold are fully transparent, the others have the colormap colour
 * with alpha = opacity. Painted OVER the gray surface it gives hl_overlay_blend_pixel(). */
cairo_surface_t *hl_render_heatmap_surface_new (const float *map, int width, int height,
                                                const HlOverlayStyle *style);

/* Paints @surface stretched over the rectangle (x, y, width, height) of @cr's user space with
 * @filter (CAIRO_FILTER_GOOD for images, _BILINEAR for smooth low-resolution heatmaps,
 * _NEAREST for exact pixels); edges are padded, not faded. Leaves @cr's state as it was. */
void hl_render_draw_surface (cairo_t *cr, cairo_surface_t *surface, double x, double y,
                             double width, double height, cairo_filter_t filter);

/* Draws heatmap @map (map_h, map_w) over the image rectangle (0, 0, image_w, image_h) of @cr's
 * user space, whatever transform @cr carries (zoom, pan, rotation), so a view draws the gray
 * surface and then this with the same transform. A map coarser than the image (a 7x7 Grad-CAM)
 * is interpolated bilinearly; pass a map upsampled to the image size (hl_gradcam_upsample) for
 * exact threshold edges. */
void hl_render_overlay (cairo_t *cr, const float *map, int map_w, int map_h, double image_w,
                        double image_h, const HlOverlayStyle *style);

/* A colorbar legend for @style in the rectangle (x, y, width, height): the colour ramp from vmin
 * to vmax (vertical, vmax at the top, when height >= width; else horizontal, vmax at the right),
 * the range below the threshold drawn hatched gray as "transparent", tick labels at vmin, the
 * threshold and vmax, and @title (may be NULL) above the bar. The labels are drawn outside the
 * rectangle (right of a vertical bar, below a horizontal one). */
void hl_render_colorbar (cairo_t *cr, double x, double y, double width, double height,
                         const HlOverlayStyle *style, const char *title);

G_END_DECLS
