/* hl-image-view.c — the image view widget: grey plane -> window/level -> cached cairo surface
 * (with half-size mip levels so large images downscale smoothly) -> transform -> overlay. */
#include "hl-image-view.h"

#include <math.h>

#include "hl-overlay.h"

#define ZOOM_STEP 1.25
#define MAX_MIPS 6
/* After an interaction, redraw at full quality once the pointer has rested this long. */
#define QUALITY_DELAY_MS 120

struct _HlImageView
{
  GtkDrawingArea parent_instance;

  HlImage *image;
  HlWindowLevel wl;
  HlViewTransform t;
  gboolean fitting; /* refit on every resize until the user zooms or pans */

  /* mips[0] is the windowed image (RGB24, image size); mips[k] is mips[k-1] halved. */
  cairo_surface_t *mips[MAX_MIPS];
  int n_mips;

  cairo_surface_t *overlay;
  gboolean overlay_visible;

  GtkGesture *pan_gesture;
  GtkGesture *wl_gesture;
  double drag_last_x, drag_last_y;
  gboolean interacting; /* draw with a fast filter */
  guint quality_source;
};

G_DEFINE_TYPE (HlImageView, hl_image_view, GTK_TYPE_DRAWING_AREA)

enum
{
  SIGNAL_PIXEL_INFO,
  SIGNAL_VIEW_CHANGED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static void
clear_mips (HlImageView *self)
{
  for (int k = 0; k < self->n_mips; k++)
    g_clear_pointer (&self->mips[k], cairo_surface_destroy);
  self->n_mips = 0;
}

/* Builds mips[0] from the image through the window/level (render's gray surface), then halves it
 * while it stays larger than 256 pixels on its long side. */
static void
build_mips (HlImageView *self)
{
  clear_mips (self);
  if (self->image == NULL)
    return;

  int w = self->image->width, h = self->image->height;
  double low, high;
  hl_window_level_get_range (&self->wl, &low, &high);
  cairo_surface_t *s = hl_render_gray_surface_new (self->image->pixels, w, h, low, high);
  if (cairo_surface_status (s) != CAIRO_STATUS_SUCCESS)
    {
      cairo_surface_destroy (s);
      return;
    }
  if (self->wl.invert)
    {
      /* white - x, exactly, on every channel */
      cairo_t *cr = cairo_create (s);
      cairo_set_operator (cr, CAIRO_OPERATOR_DIFFERENCE);
      cairo_set_source_rgb (cr, 1, 1, 1);
      cairo_paint (cr);
      cairo_destroy (cr);
    }
  self->mips[0] = s;
  self->n_mips = 1;

  while (self->n_mips < MAX_MIPS && MAX (w, h) > 256)
    {
      int hw = MAX (w / 2, 1), hh = MAX (h / 2, 1);
      cairo_surface_t *half = cairo_image_surface_create (CAIRO_FORMAT_RGB24, hw, hh);
      cairo_t *cr = cairo_create (half);
      cairo_scale (cr, (double)hw / w, (double)hh / h);
      cairo_set_source_surface (cr, self->mips[self->n_mips - 1], 0, 0);
      cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_GOOD);
      cairo_paint (cr);
      cairo_destroy (cr);
      self->mips[self->n_mips++] = half;
      w = hw, h = hh;
    }
}

static void
view_size (HlImageView *self, int *w, int *h)
{
  *w = MAX (gtk_widget_get_allocated_width (GTK_WIDGET (self)), 1);
  *h = MAX (gtk_widget_get_allocated_height (GTK_WIDGET (self)), 1);
}

/* Fits the image to the widget's size when fitting, else keeps it in view. */
static void
place_image (HlImageView *self)
{
  if (self->image == NULL)
    return;
  int vw, vh;
  view_size (self, &vw, &vh);
  if (self->fitting)
    hl_view_transform_fit (&self->t, self->image->width, self->image->height, vw, vh);
  else
    hl_view_transform_clamp (&self->t, self->image->width, self->image->height, vw, vh);
}

static void
changed (HlImageView *self)
{
  place_image (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_signal_emit (self, signals[SIGNAL_VIEW_CHANGED], 0);
}

static gboolean
quality_timeout (gpointer data)
{
  HlImageView *self = data;
  self->quality_source = 0;
  self->interacting = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  return G_SOURCE_REMOVE;
}

/* Marks an interaction: draw fast now, at full quality once it settles. */
static void
interaction (HlImageView *self)
{
  self->interacting = TRUE;
  g_clear_handle_id (&self->quality_source, g_source_remove);
  self->quality_source = g_timeout_add (QUALITY_DELAY_MS, quality_timeout, self);
}

static gboolean
hl_image_view_draw (GtkWidget *widget, cairo_t *cr)
{
  HlImageView *self = HL_IMAGE_VIEW (widget);
  int vw, vh;
  view_size (self, &vw, &vh);

  cairo_set_source_rgb (cr, 0.08, 0.08, 0.09);
  cairo_paint (cr);
  if (self->image == NULL || self->n_mips == 0)
    return FALSE;

  /* The smallest mip level still at least as large as what is shown keeps downscaling within a
   * factor of two, which both filters handle smoothly. */
  int k = 0;
  while (k + 1 < self->n_mips && self->t.scale * (1 << (k + 1)) <= 1.0)
    k++;
  cairo_surface_t *src = self->mips[k];
  cairo_filter_t filter;
  if (self->t.scale >= 3.0)
    filter = CAIRO_FILTER_NEAREST; /* show pixels as pixels when zoomed in */
  else if (self->interacting)
    filter = CAIRO_FILTER_BILINEAR;
  else
    filter = CAIRO_FILTER_GOOD;

  int iw = self->image->width, ih = self->image->height;
  cairo_save (cr);
  cairo_translate (cr, self->t.offset_x, self->t.offset_y);
  cairo_scale (cr, self->t.scale, self->t.scale);
  hl_render_draw_surface (cr, src, 0, 0, iw, ih, filter);
  if (self->overlay != NULL && self->overlay_visible)
    hl_render_draw_surface (cr, self->overlay, 0, 0, iw, ih, CAIRO_FILTER_BILINEAR);
  cairo_restore (cr);
  return FALSE;
}

static void
hl_image_view_size_allocate (GtkWidget *widget, GtkAllocation *allocation)
{
  GTK_WIDGET_CLASS (hl_image_view_parent_class)->size_allocate (widget, allocation);
  HlImageView *self = HL_IMAGE_VIEW (widget);
  double old_scale = self->t.scale;
  place_image (self);
  if (self->t.scale != old_scale)
    g_signal_emit (self, signals[SIGNAL_VIEW_CHANGED], 0);
}

static void
zoom_at (HlImageView *self, double factor, double x, double y)
{
  if (self->image == NULL)
    return;
  self->fitting = FALSE;
  hl_view_transform_zoom_at (&self->t, factor, x, y);
  interaction (self);
  changed (self);
}

static gboolean
hl_image_view_scroll_event (GtkWidget *widget, GdkEventScroll *event)
{
  HlImageView *self = HL_IMAGE_VIEW (widget);
  double dy = 0;
  switch (event->direction)
    {
    case GDK_SCROLL_UP:
      dy = -1;
      break;
    case GDK_SCROLL_DOWN:
      dy = 1;
      break;
    case GDK_SCROLL_SMOOTH:
      dy = event->delta_y;
      break;
    default:
      return FALSE;
    }
  if (dy == 0)
    return FALSE;
  zoom_at (self, pow (ZOOM_STEP, -dy), event->x, event->y);
  return TRUE;
}

static void
emit_pixel_info (HlImageView *self, double wx, double wy)
{
  int x = -1, y = -1;
  double value = 0;
  if (self->image != NULL)
    {
      double ix, iy;
      hl_view_transform_to_image (&self->t, wx, wy, &ix, &iy);
      if (ix >= 0 && iy >= 0 && ix < self->image->width && iy < self->image->height)
        {
          x = (int)ix, y = (int)iy;
          value = self->image->pixels[(gsize)y * self->image->width + x];
        }
    }
  g_signal_emit (self, signals[SIGNAL_PIXEL_INFO], 0, x, y, value);
}

static gboolean
hl_image_view_motion_notify_event (GtkWidget *widget, GdkEventMotion *event)
{
  emit_pixel_info (HL_IMAGE_VIEW (widget), event->x, event->y);
  return FALSE;
}

static gboolean
hl_image_view_leave_notify_event (GtkWidget *widget, GdkEventCrossing *event)
{
  g_signal_emit (widget, signals[SIGNAL_PIXEL_INFO], 0, -1, -1, 0.0);
  return FALSE;
}

static gboolean
hl_image_view_button_press_event (GtkWidget *widget, GdkEventButton *event)
{
  if (event->type == GDK_2BUTTON_PRESS && event->button == GDK_BUTTON_PRIMARY)
    {
      hl_image_view_fit (HL_IMAGE_VIEW (widget));
      return TRUE;
    }
  gtk_widget_grab_focus (widget);
  return FALSE;
}

static void
drag_begin (GtkGestureDrag *gesture, double x, double y, HlImageView *self)
{
  self->drag_last_x = 0;
  self->drag_last_y = 0;
}

static void
pan_update (GtkGestureDrag *gesture, double ox, double oy, HlImageView *self)
{
  hl_image_view_pan (self, ox - self->drag_last_x, oy - self->drag_last_y);
  self->drag_last_x = ox;
  self->drag_last_y = oy;
}

static void
wl_update (GtkGestureDrag *gesture, double ox, double oy, HlImageView *self)
{
  if (self->image == NULL)
    return;
  HlWindowLevel wl = self->wl;
  hl_window_level_drag (&wl, ox - self->drag_last_x, oy - self->drag_last_y, 1.0 / 512.0);
  self->drag_last_x = ox;
  self->drag_last_y = oy;
  hl_image_view_set_window_level (self, &wl);
}

static void
hl_image_view_dispose (GObject *object)
{
  HlImageView *self = HL_IMAGE_VIEW (object);
  g_clear_handle_id (&self->quality_source, g_source_remove);
  g_clear_object (&self->pan_gesture);
  g_clear_object (&self->wl_gesture);
  G_OBJECT_CLASS (hl_image_view_parent_class)->dispose (object);
}

static void
hl_image_view_finalize (GObject *object)
{
  HlImageView *self = HL_IMAGE_VIEW (object);
  clear_mips (self);
  g_clear_pointer (&self->overlay, cairo_surface_destroy);
  g_clear_pointer (&self->image, hl_image_free);
  G_OBJECT_CLASS (hl_image_view_parent_class)->finalize (object);
}

static void
hl_image_view_class_init (HlImageViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = hl_image_view_dispose;
  object_class->finalize = hl_image_view_finalize;
  widget_class->draw = hl_image_view_draw;
  widget_class->size_allocate = hl_image_view_size_allocate;
  widget_class->scroll_event = hl_image_view_scroll_event;
  widget_class->motion_notify_event = hl_image_view_motion_notify_event;
  widget_class->leave_notify_event = hl_image_view_leave_notify_event;
  widget_class->button_press_event = hl_image_view_button_press_event;

  signals[SIGNAL_PIXEL_INFO]
      = g_signal_new ("pixel-info", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                      NULL, G_TYPE_NONE, 3, G_TYPE_INT, G_TYPE_INT, G_TYPE_DOUBLE);
  signals[SIGNAL_VIEW_CHANGED]
      = g_signal_new ("view-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                      NULL, G_TYPE_NONE, 0);
  gtk_widget_class_set_css_name (widget_class, "hl-image-view");
}

static void
hl_image_view_init (HlImageView *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  gtk_widget_set_can_focus (widget, TRUE);
  gtk_widget_set_hexpand (widget, TRUE);
  gtk_widget_set_vexpand (widget, TRUE);
  gtk_widget_add_events (widget, GDK_SCROLL_MASK | GDK_SMOOTH_SCROLL_MASK | GDK_POINTER_MOTION_MASK
                                     | GDK_LEAVE_NOTIFY_MASK | GDK_BUTTON_PRESS_MASK
                                     | GDK_BUTTON_RELEASE_MASK);
  self->wl.center = 0.5;
  self->wl.width = 1.0;
  self->fitting = TRUE;
  self->overlay_visible = TRUE;
  self->t.scale = 1.0;

  self->pan_gesture = gtk_gesture_drag_new (widget);
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (self->pan_gesture), GDK_BUTTON_PRIMARY);
  g_signal_connect (self->pan_gesture, "drag-begin", G_CALLBACK (drag_begin), self);
  g_signal_connect (self->pan_gesture, "drag-update", G_CALLBACK (pan_update), self);

  self->wl_gesture = gtk_gesture_drag_new (widget);
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (self->wl_gesture), GDK_BUTTON_SECONDARY);
  g_signal_connect (self->wl_gesture, "drag-begin", G_CALLBACK (drag_begin), self);
  g_signal_connect (self->wl_gesture, "drag-update", G_CALLBACK (wl_update), self);
}

GtkWidget *
hl_image_view_new (void)
{
  return g_object_new (HL_TYPE_IMAGE_VIEW, NULL);
}

void
hl_image_view_set_image (HlImageView *view, HlImage *image)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));

  g_clear_pointer (&view->image, hl_image_free);
  g_clear_pointer (&view->overlay, cairo_surface_destroy);
  view->image = image;
  hl_window_level_set_preset (&view->wl, HL_WL_PRESET_FULL, NULL, 0);
  view->fitting = TRUE;
  build_mips (view);
  changed (view);
}

const HlImage *
hl_image_view_get_image (HlImageView *view)
{
  g_return_val_if_fail (HL_IS_IMAGE_VIEW (view), NULL);
  return view->image;
}

void
hl_image_view_set_heatmap (HlImageView *view, const float *map, int width, int height,
                           const HlOverlayStyle *style)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  g_return_if_fail (map == NULL || (width > 0 && height > 0 && style != NULL));

  g_clear_pointer (&view->overlay, cairo_surface_destroy);
  if (map != NULL)
    {
      view->overlay = hl_render_heatmap_surface_new (map, width, height, style);
      if (cairo_surface_status (view->overlay) != CAIRO_STATUS_SUCCESS)
        g_clear_pointer (&view->overlay, cairo_surface_destroy);
    }
  gtk_widget_queue_draw (GTK_WIDGET (view));
}

void
hl_image_view_set_overlay_visible (HlImageView *view, gboolean visible)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  view->overlay_visible = !!visible;
  gtk_widget_queue_draw (GTK_WIDGET (view));
}

gboolean
hl_image_view_get_overlay_visible (HlImageView *view)
{
  g_return_val_if_fail (HL_IS_IMAGE_VIEW (view), FALSE);
  return view->overlay_visible;
}

static void
zoom_about_centre (HlImageView *view, double factor)
{
  int vw, vh;
  view_size (view, &vw, &vh);
  zoom_at (view, factor, vw / 2.0, vh / 2.0);
}

void
hl_image_view_zoom_in (HlImageView *view)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  zoom_about_centre (view, ZOOM_STEP);
}

void
hl_image_view_zoom_out (HlImageView *view)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  zoom_about_centre (view, 1.0 / ZOOM_STEP);
}

void
hl_image_view_zoom_1to1 (HlImageView *view)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  if (view->image == NULL)
    return;
  zoom_about_centre (view, 1.0 / view->t.scale);
}

void
hl_image_view_fit (HlImageView *view)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  view->fitting = TRUE;
  changed (view);
}

void
hl_image_view_reset (HlImageView *view)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  view->wl.invert = FALSE;
  hl_window_level_set_preset (&view->wl, HL_WL_PRESET_FULL, NULL, 0);
  build_mips (view);
  hl_image_view_fit (view);
}

void
hl_image_view_pan (HlImageView *view, double dx, double dy)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  if (view->image == NULL)
    return;
  view->fitting = FALSE;
  view->t.offset_x += dx;
  view->t.offset_y += dy;
  interaction (view);
  changed (view);
}

void
hl_image_view_set_window_level (HlImageView *view, const HlWindowLevel *wl)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  g_return_if_fail (wl != NULL && wl->width > 0);
  view->wl = *wl;
  build_mips (view);
  changed (view);
}

void
hl_image_view_get_window_level (HlImageView *view, HlWindowLevel *wl)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  *wl = view->wl;
}

void
hl_image_view_apply_preset (HlImageView *view, HlWindowLevelPreset preset)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  HlWindowLevel wl = view->wl;
  if (view->image != NULL)
    hl_window_level_set_preset (&wl, preset, view->image->pixels,
                                (gsize)view->image->width * view->image->height);
  else
    hl_window_level_set_preset (&wl, preset, NULL, 0);
  hl_image_view_set_window_level (view, &wl);
}

void
hl_image_view_set_invert (HlImageView *view, gboolean invert)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  HlWindowLevel wl = view->wl;
  wl.invert = !!invert;
  hl_image_view_set_window_level (view, &wl);
}

gboolean
hl_image_view_get_invert (HlImageView *view)
{
  g_return_val_if_fail (HL_IS_IMAGE_VIEW (view), FALSE);
  return view->wl.invert;
}

void
hl_image_view_get_transform (HlImageView *view, HlViewTransform *t)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  *t = view->t;
}

gboolean
hl_image_view_get_fitting (HlImageView *view)
{
  g_return_val_if_fail (HL_IS_IMAGE_VIEW (view), FALSE);
  return view->fitting;
}

gboolean
hl_image_view_get_link (HlImageView *view, HlViewLink *link)
{
  g_return_val_if_fail (HL_IS_IMAGE_VIEW (view), FALSE);
  g_return_val_if_fail (link != NULL, FALSE);

  if (view->image == NULL)
    return FALSE;
  int vw, vh;
  view_size (view, &vw, &vh);
  hl_view_transform_get_link (&view->t, view->image->width, view->image->height, vw, vh, link);
  return TRUE;
}

void
hl_image_view_set_link (HlImageView *view, const HlViewLink *link)
{
  g_return_if_fail (HL_IS_IMAGE_VIEW (view));
  g_return_if_fail (link != NULL && link->zoom > 0);

  if (view->image == NULL)
    return;
  int vw, vh;
  view_size (view, &vw, &vh);
  view->fitting = FALSE;
  hl_view_transform_set_link (&view->t, link, view->image->width, view->image->height, vw, vh);
  interaction (view);
  changed (view);
}
