/* hl-view-transform.h — the mapping between image pixels and widget pixels used by the image
 * view: a uniform scale plus an offset. Pure arithmetic, no GTK, so it is unit-tested without a
 * display.
 *
 * widget = image * scale + offset; image coordinates are in pixels with (0, 0) at the top-left
 * corner of the first pixel, so pixel (i, j) covers [i, i + 1) x [j, j + 1).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HL_VIEW_MIN_SCALE 0.02
#define HL_VIEW_MAX_SCALE 32.0

typedef struct
{
  double scale;    /* widget pixels per image pixel, in [HL_VIEW_MIN_SCALE, HL_VIEW_MAX_SCALE] */
  double offset_x; /* widget position of the image's top-left corner */
  double offset_y;
} HlViewTransform;

/* Sets @t so that an @img_w x @img_h image fits a @view_w x @view_h area whole, centred, keeping
 * its aspect ratio. All sizes must be positive. */
void hl_view_transform_fit (HlViewTransform *t, int img_w, int img_h, int view_w, int view_h);

/* Sets the scale to @scale (clamped) keeping the image point under widget point (@x, @y) there. */
void hl_view_transform_set_scale_at (HlViewTransform *t, double scale, double x, double y);

/* Multiplies the scale by @factor (> 0), keeping the point under (@x, @y) fixed. */
void hl_view_transform_zoom_at (HlViewTransform *t, double factor, double x, double y);

/* Widget -> image and image -> widget coordinates. */
void hl_view_transform_to_image (const HlViewTransform *t, double wx, double wy, double *ix,
                                 double *iy);
void hl_view_transform_to_widget (const HlViewTransform *t, double ix, double iy, double *wx,
                                  double *wy);

/* Keeps the image on screen after a pan or zoom: along each axis an image smaller than the view is
 * centred; a larger one may not leave a gap at either edge. */
void hl_view_transform_clamp (HlViewTransform *t, int img_w, int img_h, int view_w, int view_h);

/* How two views of different images show "the same place": zoom relative to each one's fit, and
 * the image point at the view's centre in normalised coordinates ([0, 1] across the image). */
typedef struct
{
  double zoom;   /* scale / fit scale */
  double cx, cy; /* image point at the view's centre, divided by the image's width and height */
} HlViewLink;

/* The link state of @t for an @img_w x @img_h image in a @view_w x @view_h view. */
void hl_view_transform_get_link (const HlViewTransform *t, int img_w, int img_h, int view_w,
                                 int view_h, HlViewLink *link);

/* Sets @t from @link for an @img_w x @img_h image in a @view_w x @view_h view (not clamped). */
void hl_view_transform_set_link (HlViewTransform *t, const HlViewLink *link, int img_w, int img_h,
                                 int view_w, int view_h);

G_END_DECLS
