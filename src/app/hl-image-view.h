/* hl-image-view.h — the image view: a self-contained widget that shows one grayscale image with its
 * own transform (fit, zoom, pan), window/level and an optional overlay drawn in image coordinates.
 * The window places one or more; it never reaches inside.
 *
 * Mouse: wheel zooms about the pointer, left-drag pans, right-drag adjusts window/level,
 * double-click fits. Keys are bound by the window to the functions below.
 */
#pragma once

#include <gtk/gtk.h>

#include "hl-image.h"
#include "hl-overlay.h"
#include "hl-window-level.h"
#include "hl-view-transform.h"

G_BEGIN_DECLS

#define HL_TYPE_IMAGE_VIEW (hl_image_view_get_type ())
G_DECLARE_FINAL_TYPE (HlImageView, hl_image_view, HL, IMAGE_VIEW, GtkDrawingArea)

GtkWidget *hl_image_view_new (void);

/* Shows @image (transfer full; NULL clears the view), fitted, with the window/level reset to the
 * full range (the invert flag is kept). Drops the overlay. */
void hl_image_view_set_image (HlImageView *view, HlImage *image);

/* Lends the image shown, or NULL. */
const HlImage *hl_image_view_get_image (HlImageView *view);

/* Lays heatmap @map (height, width), any size, stretched over the whole image, drawn by render's
 * hl_render_heatmap_surface_new() under @style; NULL removes it. The map is read, not kept. */
void hl_image_view_set_heatmap (HlImageView *view, const float *map, int width, int height,
                                const HlOverlayStyle *style);
void hl_image_view_set_overlay_visible (HlImageView *view, gboolean visible);
gboolean hl_image_view_get_overlay_visible (HlImageView *view);

void hl_image_view_zoom_in (HlImageView *view);
void hl_image_view_zoom_out (HlImageView *view);
/* One image pixel per screen pixel, about the view's centre. */
void hl_image_view_zoom_1to1 (HlImageView *view);
/* Fits the whole image and keeps fitting when the widget is resized, until the next zoom. */
void hl_image_view_fit (HlImageView *view);
/* Fit, full-range window/level, not inverted. */
void hl_image_view_reset (HlImageView *view);
/* Moves the image by (@dx, @dy) widget pixels. */
void hl_image_view_pan (HlImageView *view, double dx, double dy);

void hl_image_view_set_window_level (HlImageView *view, const HlWindowLevel *wl);
void hl_image_view_get_window_level (HlImageView *view, HlWindowLevel *wl);
void hl_image_view_apply_preset (HlImageView *view, HlWindowLevelPreset preset);
void hl_image_view_set_invert (HlImageView *view, gboolean invert);
gboolean hl_image_view_get_invert (HlImageView *view);

void hl_image_view_get_transform (HlImageView *view, HlViewTransform *t);

/* Whether the view keeps the whole image fitted (until the next zoom or pan). */
gboolean hl_image_view_get_fitting (HlImageView *view);

/* Where the view looks, independent of the image's size (see HlViewLink): FALSE without an
 * image. */
gboolean hl_image_view_get_link (HlImageView *view, HlViewLink *link);

/* Looks at the place @link describes, so that two views of a current and a prior image stay in
 * step; does nothing without an image. */
void hl_image_view_set_link (HlImageView *view, const HlViewLink *link);

/* Signals:
 *   "pixel-info" (int x, int y, double value): the pointer moved over image pixel (x, y) whose
 *                raw value is @value; x = y = -1 when it left the image.
 *   "view-changed": zoom, pan or window/level changed. */

G_END_DECLS
