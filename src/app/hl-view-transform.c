/* hl-view-transform.c — image <-> widget coordinate arithmetic for the image view. */
#include "hl-view-transform.h"

void
hl_view_transform_fit (HlViewTransform *t, int img_w, int img_h, int view_w, int view_h)
{
  g_return_if_fail (t != NULL);
  g_return_if_fail (img_w > 0 && img_h > 0 && view_w > 0 && view_h > 0);

  double s = MIN ((double)view_w / img_w, (double)view_h / img_h);
  t->scale = CLAMP (s, HL_VIEW_MIN_SCALE, HL_VIEW_MAX_SCALE);
  t->offset_x = (view_w - img_w * t->scale) / 2.0;
  t->offset_y = (view_h - img_h * t->scale) / 2.0;
}

void
hl_view_transform_set_scale_at (HlViewTransform *t, double scale, double x, double y)
{
  g_return_if_fail (t != NULL && t->scale > 0);

  double ix, iy;
  hl_view_transform_to_image (t, x, y, &ix, &iy);
  t->scale = CLAMP (scale, HL_VIEW_MIN_SCALE, HL_VIEW_MAX_SCALE);
  t->offset_x = x - ix * t->scale;
  t->offset_y = y - iy * t->scale;
}

void
hl_view_transform_zoom_at (HlViewTransform *t, double factor, double x, double y)
{
  g_return_if_fail (t != NULL);
  g_return_if_fail (factor > 0);

  hl_view_transform_set_scale_at (t, t->scale * factor, x, y);
}

void
hl_view_transform_to_image (const HlViewTransform *t, double wx, double wy, double *ix, double *iy)
{
  g_return_if_fail (t != NULL && t->scale > 0);

  *ix = (wx - t->offset_x) / t->scale;
  *iy = (wy - t->offset_y) / t->scale;
}

void
hl_view_transform_to_widget (const HlViewTransform *t, double ix, double iy, double *wx, double *wy)
{
  g_return_if_fail (t != NULL);

  *wx = ix * t->scale + t->offset_x;
  *wy = iy * t->scale + t->offset_y;
}

static double
clamp_axis (double offset, double extent, int view)
{
  if (extent <= view)
    return (view - extent) / 2.0;
  /* The image is larger: its left edge may not come right of 0, its right edge not left of view. */
  return CLAMP (offset, view - extent, 0.0);
}

void
hl_view_transform_clamp (HlViewTransform *t, int img_w, int img_h, int view_w, int view_h)
{
  g_return_if_fail (t != NULL);

  t->offset_x = clamp_axis (t->offset_x, img_w * t->scale, view_w);
  t->offset_y = clamp_axis (t->offset_y, img_h * t->scale, view_h);
}

static double
fit_scale (int img_w, int img_h, int view_w, int view_h)
{
  HlViewTransform fit;
  hl_view_transform_fit (&fit, img_w, img_h, view_w, view_h);
  return fit.scale;
}

void
hl_view_transform_get_link (const HlViewTransform *t, int img_w, int img_h, int view_w, int view_h,
                            HlViewLink *link)
{
  g_return_if_fail (t != NULL && link != NULL);
  g_return_if_fail (img_w > 0 && img_h > 0 && view_w > 0 && view_h > 0);

  double ix, iy;
  hl_view_transform_to_image (t, view_w / 2.0, view_h / 2.0, &ix, &iy);
  link->zoom = t->scale / fit_scale (img_w, img_h, view_w, view_h);
  link->cx = ix / img_w;
  link->cy = iy / img_h;
}

void
hl_view_transform_set_link (HlViewTransform *t, const HlViewLink *link, int img_w, int img_h,
                            int view_w, int view_h)
{
  g_return_if_fail (t != NULL && link != NULL && link->zoom > 0);
  g_return_if_fail (img_w > 0 && img_h > 0 && view_w > 0 && view_h > 0);

  double scale = link->zoom * fit_scale (img_w, img_h, view_w, view_h);
  t->scale = CLAMP (scale, HL_VIEW_MIN_SCALE, HL_VIEW_MAX_SCALE);
  t->offset_x = view_w / 2.0 - link->cx * img_w * t->scale;
  t->offset_y = view_h / 2.0 - link->cy * img_h * t->scale;
}
