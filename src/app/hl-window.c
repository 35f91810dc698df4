/* hl-window.c — the main window (template ui/hl-window.ui). */
#include "hl-window.h"

#include <glib/gi18n.h>
#include <math.h>

#include "hl-colormap.h"
#include "hl-export.h"
#include "hl-finding-name.h"
#include "hl-model-dialog.h"
#include "hl-ranking.h"
#include "hl-report.h"
#include "hl-roc-view.h"
#include "hl-study.h"
#include "hl-train.h"

#define THUMB_SIZE 96
#define MAX_RECENT 8
#define HEATMAP_MAX_SIDE 512

/* One image of the open study, in strip order. */
typedef struct
{
  char *path;
  char *patient;     /* the patient group it is shown in */
  char *caption;     /* short name under the thumbnail */
  GtkWidget *button; /* the thumbnail */
  GtkWidget *image;
  GtkWidget *label;
  GtkWidget *badge;                /* how many findings are above their operating point */
  char *error;                     /* decode failure, shown on the thumbnail */
  gboolean labelled;               /* a label file of the folder has its row: */
  guint8 truth[HL_N_LABELS];       /* 0/1 in hl_label_names order */
  gboolean has_label[HL_N_LABELS]; /* which labels that file carries */
} StudyItem;

static void
study_item_free (StudyItem *item)
{
  g_free (item->path);
  g_free (item->patient);
  g_free (item->caption);
  g_free (item->error);
  g_free (item);
}

struct _HlWindow
{
  GtkApplicationWindow parent_instance;

  /* template children */
  GtkHeaderBar *header_bar;
  GtkStack *stack;
  GtkListBox *recent_list;
  GtkWidget *recent_heading;
  GtkWidget *study_page;
  GtkBox *view_box;
  GtkLabel *image_caption;
  GtkLabel *image_message;
  GtkScrolledWindow *thumb_scroll;
  GtkBox *thumb_box;
  GtkStack *findings_stack;
  GtkListBox *findings_list;
  GtkLabel *findings_heading;
  GtkSpinner *findings_spinner;
  GtkLabel *findings_message;
  GtkWidget *choose_model_button;
  GtkAdjustment *opacity_adjustment;
  GtkAdjustment *threshold_adjustment;
  GtkComboBoxText *colormap_combo;
  GtkComboBoxText *layer_combo;
  GtkWidget *colorbar;
  GtkWidget *overlay_controls;
  GtkLabel *model_label;
  GtkLabel *pixel_label;
  GtkLabel *view_label;
  GtkLabel *progress_label;
  GtkProgressBar *progress_bar;

  HlApplication *app;
  GSettings *settings;
  HlImageView *view;
  HlImageView *prior_view; /* the prior image, side by side, when comparing */
  GtkWidget *prior_pane;
  GtkLabel *prior_caption;
  GtkLabel *prior_message;
  char *prior_path;       /* the image prior_view shows or is decoding; NULL for none */
  gboolean syncing;       /* copying one view's state to the other */
  HlInference *inference; /* NULL without a model */

  GPtrArray *items; /* StudyItem*, strip order */
  char *study_title;
  guint current;                   /* index in items; valid when items is non-empty */
  GCancellable *study_cancellable; /* decoding and thumbnails of the open study */
  gboolean reveal_pending;         /* the current thumbnail is to be scrolled into sight */
  guint reveal_source;             /* reveal_idle, once laid out */
  gboolean image_shown;
  gint64 open_time; /* monotonic time the study was opened */
  gboolean first_findings_logged;

  int selected_label; /* in model order, -1 none; kept across images */
  gboolean filling_findings;
  HlOverlayStyle style;
  int gradcam_layer;       /* the heatmap's engine layer (hl-train.h); -1: the last feature map,
                            * the result's own maps */
  gboolean filling_layers; /* layer_combo is being refilled */
  GCancellable *export_cancellable;
};

G_DEFINE_TYPE (HlWindow, hl_window, GTK_TYPE_APPLICATION_WINDOW)

static void update_actions (HlWindow *self);
static void show_findings (HlWindow *self);
static void update_overlay (HlWindow *self);
static void sync_view (HlWindow *self, HlImageView *from, HlImageView *to);

static void
destroy_child (GtkWidget *child, gpointer data)
{
  gtk_widget_destroy (child);
}

static StudyItem *
current_item (HlWindow *self)
{
  if (self->items == NULL || self->items->len == 0)
    return NULL;
  return g_ptr_array_index (self->items, self->current);
}

static HlModel *
window_model (HlWindow *self)
{
  return self->inference != NULL ? hl_inference_get_model (self->inference) : NULL;
}

/* ---- status bar ---------------------------------------------------------------------------- */

static void
update_model_label (HlWindow *self)
{
  HlModel *model = window_model (self);
  if (model != NULL)
    {
      const HlModelInfo *info = hl_model_get_info (model);
      g_autofree char *text = g_strdup_printf (_ ("Model: %s %s"), info->name, info->version);
      gtk_label_set_text (self->model_label, text);
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->model_label),
                                   *info->intended_use != '\0' ? info->intended_use : NULL);
    }
  else
    {
      gtk_label_set_text (self->model_label, _ ("No model loaded"));
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->model_label),
                                   hl_application_get_model_problem (self->app));
    }
}

static void
pixel_info (HlImageView *view, int x, int y, double value, HlWindow *self)
{
  const HlImage *image = hl_image_view_get_image (view);
  if (x < 0 || image == NULL)
    {
      gtk_label_set_text (self->pixel_label, "");
      return;
    }
  double max_value = (double)((1u << CLAMP (image->bit_depth, 1, 16)) - 1);
  g_autofree char *text
      = g_strdup_printf (_ ("x %d  y %d  value %.0f (%.3f)"), x, y, value * max_value, value);
  gtk_label_set_text (self->pixel_label, text);
}

/* Zoom and window/level of the view, as a radiologist reads them. */
static void
view_changed (HlImageView *view, HlWindow *self)
{
  if (hl_image_view_get_image (view) == NULL)
    {
      gtk_label_set_text (self->view_label, "");
      return;
    }
  HlViewTransform t;
  HlWindowLevel wl;
  hl_image_view_get_transform (view, &t);
  hl_image_view_get_window_level (view, &wl);
  g_autofree char *text = g_strdup_printf (_ ("Zoom %.0f%%  W %.2f  L %.2f%s"), t.scale * 100,
                                           wl.width, wl.center, wl.invert ? _ ("  inverted") : "");
  gtk_label_set_text (self->view_label, text);
}

static void
inference_progress (HlInference *inference, guint done, guint total, double fraction,
                    HlWindow *self)
{
  gboolean busy = done < total;
  gtk_widget_set_visible (GTK_WIDGET (self->progress_bar), busy);
  if (!busy)
    {
      gtk_label_set_text (self->progress_label, total > 0 ? _ ("Analysis complete") : "");
      return;
    }
  g_autofree char *text = g_strdup_printf (_ ("Analysing image %u of %u"), done + 1, total);
  gtk_label_set_text (self->progress_label, text);
  gtk_progress_bar_set_fraction (self->progress_bar, (done + CLAMP (fraction, 0.0, 1.0)) / total);
}

/* ---- findings sidebar ---------------------------------------------------------------------- */

/* The score bar of one finding (render's hl_render_score_bar) in the theme's colours, a score at
 * or above its operating point in orange. */
typedef struct
{
  float score, threshold;
} BarData;

static void
bar_data_free (gpointer data, GClosure *closure)
{
  g_free (data);
}

static gboolean
bar_draw (GtkWidget *widget, cairo_t *cr, BarData *bar)
{
  GtkStyleContext *style = gtk_widget_get_style_context (widget);
  int w = gtk_widget_get_allocated_width (widget), h = gtk_widget_get_allocated_height (widget);
  GdkRGBA fg;
  gtk_style_context_get_color (style, gtk_style_context_get_state (style), &fg);
  HlScoreBarStyle bar_style = {
    { fg.red, fg.green, fg.blue, 0.12 },
    { fg.red, fg.green, fg.blue, 0.55 },
    { 0.90, 0.38, 0.0, 1 },
    { fg.red, fg.green, fg.blue, 0.9 },
    2,
  };
  /* The tick (2 px) stays inside the widget. */
  hl_render_score_bar (cr, 1, 2, w - 2, h - 4, bar->score, bar->threshold, &bar_style);
  return FALSE;
}

static GtkWidget *
finding_row_new (const HlModelInfo *info, const HlRankedFinding *f)
{
  GtkWidget *grid = gtk_grid_new ();
  gtk_grid_set_column_spacing (GTK_GRID (grid), 6);
  gtk_grid_set_row_spacing (GTK_GRID (grid), 3);
  g_object_set (grid, "margin-start", 12, "margin-end", 12, "margin-top", 5, "margin-bottom", 5,
                NULL);

  g_autofree char *display_name = hl_finding_name_dup (info->labels[f->label]);
  GtkWidget *name = gtk_label_new (display_name);
  gtk_label_set_xalign (GTK_LABEL (name), 0);
  gtk_widget_set_hexpand (name, TRUE);
  gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_END);
  if (f->positive)
    gtk_style_context_add_class (gtk_widget_get_style_context (name), "positive");
  gtk_grid_attach (GTK_GRID (grid), name, 0, 0, 1, 1);

  if (f->weak)
    {
      GtkWidget *weak = gtk_label_new (_ ("weak"));
      gtk_style_context_add_class (gtk_widget_get_style_context (weak), "weak-badge");
      g_autofree char *tip = g_strdup_printf (
          _ ("The model is unreliable for this finding: validation AUROC %.2f"), f->auroc);
      gtk_widget_set_tooltip_text (weak, tip);
      gtk_grid_attach (GTK_GRID (grid), weak, 1, 0, 1, 1);
    }

  g_autofree char *score_text = g_strdup_printf ("%.0f%%", f->score * 100.0);
  GtkWidget *score = gtk_label_new (score_text);
  gtk_label_set_xalign (GTK_LABEL (score), 1);
  gtk_label_set_width_chars (GTK_LABEL (score), 5);
  gtk_style_context_add_class (gtk_widget_get_style_context (score), "numeric");
  if (f->positive)
    gtk_style_context_add_class (gtk_widget_get_style_context (score), "positive");
  gtk_grid_attach (GTK_GRID (grid), score, 2, 0, 1, 1);

  BarData *bar = g_new (BarData, 1);
  bar->score = f->score;
  bar->threshold = f->threshold;
  GtkWidget *area = gtk_drawing_area_new ();
  gtk_widget_set_size_request (area, -1, 10);
  g_signal_connect_data (area, "draw", G_CALLBACK (bar_draw), bar, bar_data_free, 0);
  gtk_grid_attach (GTK_GRID (grid), area, 0, 1, 3, 1);

  g_autofree char *tip = NULL;
  if (isnan (f->auroc))
    tip = g_strdup_printf (_ ("Score %.3f, operating point %.3f"), f->score, f->threshold);
  else
    tip = g_strdup_printf (_ ("Score %.3f, operating point %.3f, validation AUROC %.2f"), f->score,
                           f->threshold, f->auroc);
  gtk_widget_set_tooltip_text (grid, tip);

  GtkWidget *row = gtk_list_box_row_new ();
  gtk_container_add (GTK_CONTAINER (row), grid);
  g_object_set_data (G_OBJECT (row), "label", GINT_TO_POINTER (f->label));
  gtk_widget_show_all (row);
  return row;
}

static void
show_findings_message (HlWindow *self, const char *message, gboolean busy, gboolean offer_model)
{
  gtk_label_set_text (self->findings_message, message);
  gtk_widget_set_visible (GTK_WIDGET (self->findings_spinner), busy);
  if (busy)
    gtk_spinner_start (self->findings_spinner);
  else
    gtk_spinner_stop (self->findings_spinner);
  gtk_widget_set_visible (self->choose_model_button, offer_model);
  gtk_stack_set_visible_child_name (self->findings_stack, "message");
}

/* Fills the sidebar for the image on screen: findings, a waiting state, an error or "no model". */
static void
show_findings (HlWindow *self)
{
  StudyItem *item = current_item (self);
  self->filling_findings = TRUE;
  gtk_container_foreach (GTK_CONTAINER (self->findings_list), (GtkCallback)destroy_child, NULL);
  self->filling_findings = FALSE;

  if (self->inference == NULL)
    {
      show_findings_message (self, hl_application_get_model_problem (self->app), FALSE, TRUE);
      update_overlay (self);
      return;
    }
  if (item == NULL)
    return;
  HlResult *r = hl_inference_lookup (self->inference, item->path);
  const GError *error = hl_inference_lookup_error (self->inference, item->path);
  if (r == NULL)
    {
      if (error != NULL)
        show_findings_message (self, error->message, FALSE, FALSE);
      else
        show_findings_message (self, _ ("Analysing this image…"), TRUE, FALSE);
      update_overlay (self);
      return;
    }

  const HlModelInfo *info = hl_model_get_info (window_model (self));
  g_autofree HlRankedFinding *ranked = g_new (HlRankedFinding, r->n_labels); /* (n_labels) */
  hl_rank_findings (r->probs, info->thresholds, info->val_auroc, r->n_labels,
                    HL_REPORT_WEAK_AUROC, ranked);
  int n_positive = 0;
  self->filling_findings = TRUE;
  for (int i = 0; i < r->n_labels; i++)
    {
      GtkWidget *row = finding_row_new (info, &ranked[i]);
      gtk_list_box_insert (self->findings_list, row, -1);
      if (ranked[i].label == self->selected_label)
        gtk_list_box_select_row (self->findings_list, GTK_LIST_BOX_ROW (row));
      n_positive += ranked[i].positive;
    }
  self->filling_findings = FALSE;
  g_autofree char *heading
      = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Findings · %d above operating point",
                                      "Findings · %d above operating point", n_positive),
                         n_positive);
  gtk_label_set_text (self->findings_heading, heading);
  gtk_stack_set_visible_child_name (self->findings_stack, "findings");
  update_overlay (self);

  if (!self->first_findings_logged)
    {
      self->first_findings_logged = TRUE;
      gint64 now = g_get_monotonic_time ();
      g_debug ("first findings %.3f s after launch, %.3f s after the study was opened",
               (now - hl_application_get_launch_time (self->app)) / 1e6,
               (now - self->open_time) / 1e6);
    }
}

static void
finding_row_selected (GtkListBox *list, GtkListBoxRow *row, HlWindow *self)
{
  if (self->filling_findings)
    return;
  self->selected_label
      = row != NULL ? GPOINTER_TO_INT (g_object_get_data (G_OBJECT (row), "label")) : -1;
  update_overlay (self);
}

/* ---- heatmap overlay ----------------------------------------------------------------------- */

static void
read_style (HlWindow *self)
{
  g_autofree char *name = g_settings_get_string (self->settings, "colormap");
  if (!hl_colormap_from_name (name, &self->style.cmap))
    self->style.cmap = HL_COLORMAP_INFERNO;
  self->style.opacity = g_settings_get_double (self->settings, "opacity");
  self->style.threshold = g_settings_get_double (self->settings, "threshold");
}

/* Lays the selected finding's heatmap (upsampled, scaled to its own maximum) over the image. */
static void
update_overlay (HlWindow *self)
{
  StudyItem *item = current_item (self);
  const HlImage *image = hl_image_view_get_image (self->view);
  HlResult *r = (self->inference != NULL && item != NULL)
                    ? hl_inference_lookup (self->inference, item->path)
                    : NULL;
  gtk_widget_queue_draw (self->colorbar);
  if (r == NULL || image == NULL || self->selected_label < 0 || self->selected_label >= r->n_labels)
    {
      hl_image_view_set_heatmap (self->view, NULL, 0, 0, NULL);
      return;
    }
  /* (n_labels, map_h, map_w) */
  const float *maps = r->maps;
  int map_h = r->map_h, map_w = r->map_w;
  if (self->gradcam_layer >= 0)
    {
      /* An earlier layer: none until its maps are computed ("layer-ready" comes back here). */
      const HlLayerMaps *lm
          = hl_inference_request_layer (self->inference, item->path, self->gradcam_layer);
      if (lm == NULL || lm->maps == NULL)
        {
          hl_image_view_set_heatmap (self->view, NULL, 0, 0, NULL);
          return;
        }
      maps = lm->maps;
      map_h = lm->map_h;
      map_w = lm->map_w;
    }
  const float *map = maps + (gsize)self->selected_label * map_h * map_w;
  int w = MIN (image->width, HEATMAP_MAX_SIDE), h = MIN (image->height, HEATMAP_MAX_SIDE);
  gsize n_up = (gsize)w * h;
  g_autofree float *up = g_new (float, n_up); /* (h, w) */
  hl_gradcam_upsample (map, map_h, map_w, up, h, w);
  HlOverlayStyle style = self->style;
  style.vmin = 0;
  style.vmax = hl_overlay_map_max (map, (gsize)map_h * map_w);
  if (!(style.vmax > style.vmin))
    style.vmax = 1;
  hl_image_view_set_heatmap (self->view, up, w, h, &style);
}

static gboolean
colorbar_draw (GtkWidget *widget, cairo_t *cr, HlWindow *self)
{
  int w = gtk_widget_get_allocated_width (widget);
  HlModel *model = window_model (self);
  const char *title = _ ("No finding selected");
  g_autofree char *relative = NULL;
  if (model != NULL && self->selected_label >= 0
      && self->selected_label < hl_model_get_info (model)->n_labels)
    {
      /* Each map is scaled to its own maximum (update_overlay): the colours compare places, not
       * findings. */
      g_autofree char *name
          = hl_finding_name_dup (hl_model_get_info (model)->labels[self->selected_label]);
      relative = g_strdup_printf (_ ("%s · relative to its peak"), name);
      title = relative;
    }
  HlOverlayStyle style = self->style;
  style.vmin = 0;
  style.vmax = 1;
  GtkStyleContext *sc = gtk_widget_get_style_context (widget);
  GdkRGBA fg;
  gtk_style_context_get_color (sc, gtk_style_context_get_state (sc), &fg);
  gdk_cairo_set_source_rgba (cr, &fg);
  cairo_set_font_size (cr, 11);
  hl_render_colorbar (cr, 4, 18, w - 8, 12, &style, title);
  return FALSE;
}

static void
style_setting_changed (GSettings *settings, const char *key, HlWindow *self)
{
  read_style (self);
  update_overlay (self);
}

/* Resolves the "heatmap-layer" setting against the model (a layer it lacks is the last feature
 * map) and shows the layer used in layer_combo. */
static void
read_layer (HlWindow *self)
{
  HlModel *model = window_model (self);
  g_autofree char *id = g_settings_get_string (self->settings, "heatmap-layer");
  int layer = model != NULL ? hl_model_gradcam_layer_find (model, id) : -1;
  if (model == NULL || layer == hl_model_gradcam_n_layers (model) - 1)
    layer = -1;
  self->gradcam_layer = layer;
  self->filling_layers = TRUE;
  if (model != NULL)
    {
      g_autofree char *shown = hl_model_gradcam_layer_id (
          model, layer >= 0 ? layer : hl_model_gradcam_n_layers (model) - 1);
      gtk_combo_box_set_active_id (GTK_COMBO_BOX (self->layer_combo), shown);
    }
  self->filling_layers = FALSE;
}

/* Lists the model's layers in layer_combo, the last feature map first, then from the last block
 * down to the first. */
static void
fill_layers (HlWindow *self)
{
  HlModel *model = window_model (self);
  self->filling_layers = TRUE;
  gtk_combo_box_text_remove_all (self->layer_combo);
  for (int layer = model != NULL ? hl_model_gradcam_n_layers (model) - 1 : -1; layer >= 0; layer--)
    {
      g_autofree char *id = hl_model_gradcam_layer_id (model, layer);
      gboolean last = layer == hl_model_gradcam_n_layers (model) - 1;
      gtk_combo_box_text_append (self->layer_combo, id, last ? _ ("Last feature map") : id);
    }
  self->filling_layers = FALSE;
  gtk_widget_set_sensitive (GTK_WIDGET (self->layer_combo), model != NULL);
  read_layer (self);
}

static void
layer_combo_changed (GtkComboBox *combo, HlWindow *self)
{
  const char *id = gtk_combo_box_get_active_id (combo);
  if (!self->filling_layers && id != NULL)
    g_settings_set_string (self->settings, "heatmap-layer", id);
}

static void
layer_setting_changed (GSettings *settings, const char *key, HlWindow *self)
{
  read_layer (self);
  update_overlay (self);
}

static void
layer_ready (HlInference *inference, const char *path, int layer, HlWindow *self)
{
  StudyItem *item = current_item (self);
  if (item != NULL && g_strcmp0 (item->path, path) == 0 && layer == self->gradcam_layer)
    update_overlay (self);
}

/* ---- image on screen ----------------------------------------------------------------------- */

static void
decode_thread (GTask *task, gpointer source, gpointer path, GCancellable *cancellable)
{
  GError *error = NULL;
  HlImage *image = hl_image_load (path, &error);
  if (image != NULL)
    g_task_return_pointer (task, image, (GDestroyNotify)hl_image_free);
  else
    g_task_return_error (task, error);
}

/* Puts the image decoded by @res into @view when it is still the one wanted (@wanted), or its
 * error into @message. Returns FALSE when the result was dropped: cancelled or no longer wanted. */
static gboolean
show_decoded (GAsyncResult *res, const char *wanted, HlImageView *view, GtkLabel *message)
{
  g_autoptr (GError) error = NULL;
  HlImage *image = g_task_propagate_pointer (G_TASK (res), &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return FALSE;
  /* A slow decode of an image the user already left. */
  if (g_strcmp0 (wanted, g_task_get_task_data (G_TASK (res))) != 0)
    {
      g_clear_pointer (&image, hl_image_free);
      return FALSE;
    }
  hl_image_view_set_image (view, image);
  if (image == NULL)
    {
      gtk_label_set_text (message, error->message);
      gtk_widget_show (GTK_WIDGET (message));
    }
  return TRUE;
}

static void
decode_done (GObject *source, GAsyncResult *res, gpointer data)
{
  HlWindow *self = HL_WINDOW (source);
  StudyItem *item = current_item (self);
  if (!show_decoded (res, item != NULL ? item->path : NULL, self->view, self->image_message))
    return;
  sync_view (self, self->view, self->prior_view);
  update_overlay (self);
}

static gboolean
view_drawn (GtkWidget *widget, cairo_t *cr, HlWindow *self)
{
  if (!self->image_shown && hl_image_view_get_image (self->view) != NULL)
    {
      self->image_shown = TRUE;
      gint64 now = g_get_monotonic_time ();
      g_debug ("first image on screen %.3f s after launch, %.3f s after the study was opened",
               (now - hl_application_get_launch_time (self->app)) / 1e6,
               (now - self->open_time) / 1e6);
    }
  return FALSE;
}

/* ---- current against prior ----------------------------------------------------------------- */

static gboolean
comparing (HlWindow *self)
{
  GVariant *state = g_action_group_get_action_state (G_ACTION_GROUP (self), "compare");
  gboolean on = state != NULL && g_variant_get_boolean (state);
  g_clear_pointer (&state, g_variant_unref);
  return on;
}

/* Shows @to the way @from is shown: the same place at the same relative zoom, the same
 * window/level and inversion. */
static void
sync_view (HlWindow *self, HlImageView *from, HlImageView *to)
{
  if (self->syncing || !comparing (self) || hl_image_view_get_image (from) == NULL
      || hl_image_view_get_image (to) == NULL)
    return;
  self->syncing = TRUE;
  HlWindowLevel a, b;
  hl_image_view_get_window_level (from, &a);
  hl_image_view_get_window_level (to, &b);
  if (a.center != b.center || a.width != b.width || a.invert != b.invert)
    hl_image_view_set_window_level (to, &a);
  HlViewLink link;
  if (hl_image_view_get_fitting (from))
    hl_image_view_fit (to);
  else if (hl_image_view_get_link (from, &link))
    hl_image_view_set_link (to, &link);
  self->syncing = FALSE;
}

static void
views_changed (HlImageView *view, HlWindow *self)
{
  sync_view (self, view, view == self->view ? self->prior_view : self->view);
}

static void
prior_decode_done (GObject *source, GAsyncResult *res, gpointer data)
{
  HlWindow *self = HL_WINDOW (source);
  if (show_decoded (res, self->prior_path, self->prior_view, self->prior_message))
    sync_view (self, self->view, self->prior_view);
}

/* Shows, beside the current image, the image before it of the same patient (when comparing). */
static void
update_prior (HlWindow *self)
{
  gboolean on = comparing (self) && self->items != NULL && self->items->len > 0;
  gtk_widget_set_visible (self->prior_pane, on);
  StudyItem *cur = on ? g_ptr_array_index (self->items, self->current) : NULL;
  StudyItem *prior = NULL;
  if (cur != NULL && self->current > 0)
    {
      StudyItem *before = g_ptr_array_index (self->items, self->current - 1);
      if (g_strcmp0 (before->patient, cur->patient) == 0)
        prior = before;
    }
  if (prior != NULL && g_strcmp0 (prior->path, self->prior_path) == 0)
    return; /* already there */
  g_clear_pointer (&self->prior_path, g_free);
  hl_image_view_set_image (self->prior_view, NULL);
  gtk_widget_hide (GTK_WIDGET (self->prior_message));
  if (prior == NULL)
    {
      gtk_widget_hide (GTK_WIDGET (self->prior_caption));
      if (on)
        {
          gtk_label_set_text (self->prior_message, _ ("No earlier image of this patient"));
          gtk_widget_show (GTK_WIDGET (self->prior_message));
        }
      return;
    }
  g_autofree char *base = g_path_get_basename (prior->path);
  g_autofree char *caption = g_strdup_printf (_ ("Prior · %s"), base);
  gtk_label_set_text (self->prior_caption, caption);
  gtk_widget_show (GTK_WIDGET (self->prior_caption));
  self->prior_path = g_strdup (prior->path);
  GTask *task = g_task_new (self, self->study_cancellable, prior_decode_done, NULL);
  g_task_set_task_data (task, g_strdup (prior->path), g_free);
  g_task_run_in_thread (task, decode_thread);
  g_object_unref (task);
}

static void
compare_changed (GSimpleAction *action, GVariant *value, gpointer data)
{
  g_simple_action_set_state (action, value);
  update_prior (data);
}

HlImageView *
hl_window_get_prior_view (HlWindow *self)
{
  g_return_val_if_fail (HL_IS_WINDOW (self), NULL);
  return self->prior_view;
}

/* Scrolls the strip to the current thumbnail, or, when the strip has not been laid out yet (a new
 * study), once it is (thumb_box_allocated). */
static void
reveal_current_thumbnail (HlWindow *self)
{
  StudyItem *item = current_item (self);
  GtkAllocation a;
  self->reveal_pending = FALSE;
  if (item == NULL)
    return;
  gtk_widget_get_allocation (item->button, &a);
  if (a.x < 0)
    {
      self->reveal_pending = TRUE;
      return;
    }
  gtk_adjustment_clamp_page (gtk_scrolled_window_get_hadjustment (self->thumb_scroll), a.x,
                             a.x + a.width);
}

static gboolean
reveal_idle (gpointer data)
{
  HlWindow *self = data;
  self->reveal_source = 0;
  reveal_current_thumbnail (self);
  return G_SOURCE_REMOVE;
}

/* Scrolling inside a size allocation would leave the scrollbar's own allocation pending: it waits
 * for the main loop. */
static void
thumb_box_allocated (GtkWidget *box, GdkRectangle *allocation, HlWindow *self)
{
  if (self->reveal_pending && self->reveal_source == 0)
    self->reveal_source = g_idle_add (reveal_idle, self);
}

void
hl_window_show_image (HlWindow *self, guint index)
{
  g_return_if_fail (HL_IS_WINDOW (self));
  g_return_if_fail (self->items != NULL && index < self->items->len);

  StudyItem *old = current_item (self);
  if (old != NULL)
    gtk_style_context_remove_class (gtk_widget_get_style_context (old->button), "current");
  self->current = index;
  StudyItem *item = current_item (self);
  gtk_style_context_add_class (gtk_widget_get_style_context (item->button), "current");

  g_autofree char *base = g_path_get_basename (item->path);
  g_autofree char *caption = g_strdup_printf (_ ("Patient %s · %s · image %u of %u"), item->patient,
                                              base, index + 1, self->items->len);
  gtk_label_set_text (self->image_caption, caption);
  gtk_widget_show (GTK_WIDGET (self->image_caption));
  gtk_widget_hide (GTK_WIDGET (self->image_message));
  hl_image_view_set_image (self->view, NULL);

  reveal_current_thumbnail (self);

  GTask *task = g_task_new (self, self->study_cancellable, decode_done, NULL);
  g_task_set_task_data (task, g_strdup (item->path), g_free);
  g_task_run_in_thread (task, decode_thread);
  g_object_unref (task);

  if (self->inference != NULL)
    hl_inference_prioritize (self->inference, item->path);
  show_findings (self);
  update_prior (self);
  update_actions (self);
}

/* ---- thumbnails ---------------------------------------------------------------------------- */

/* Decodes an image and shrinks it to a THUMB_SIZE square-bounded surface, in a worker thread. */
static void
thumbnail_thread (GTask *task, gpointer source, gpointer path, GCancellable *cancellable)
{
  GError *error = NULL;
  g_autoptr (HlImage) image = hl_image_load (path, &error);
  if (image == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  cairo_surface_t *full
      = hl_render_gray_surface_new (image->pixels, image->width, image->height, 0.0, 1.0);
  double s = (double)THUMB_SIZE / MAX (image->width, image->height);
  int tw = MAX ((int)round (image->width * s), 1), th = MAX ((int)round (image->height * s), 1);
  cairo_surface_t *thumb = cairo_image_surface_create (CAIRO_FORMAT_RGB24, tw, th);
  cairo_t *cr = cairo_create (thumb);
  hl_render_draw_surface (cr, full, 0, 0, tw, th, CAIRO_FILTER_GOOD);
  cairo_destroy (cr);
  cairo_surface_destroy (full);
  g_task_return_pointer (task, thumb, (GDestroyNotify)cairo_surface_destroy);
}

static void start_thumbnail (HlWindow *self, guint index);

static void
thumbnail_done (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  cairo_surface_t *thumb = g_task_propagate_pointer (G_TASK (res), &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  HlWindow *self = HL_WINDOW (source);
  guint index = GPOINTER_TO_UINT (data);
  StudyItem *item = g_ptr_array_index (self->items, index);
  if (thumb != NULL)
    {
      gtk_image_set_from_surface (GTK_IMAGE (item->image), thumb);
      cairo_surface_destroy (thumb);
    }
  else
    {
      g_free (item->error);
      item->error = g_strdup (error->message);
      gtk_image_set_from_icon_name (GTK_IMAGE (item->image), "image-missing-symbolic",
                                    GTK_ICON_SIZE_DIALOG);
      gtk_label_set_text (GTK_LABEL (item->label), _ ("Cannot read"));
      gtk_style_context_add_class (gtk_widget_get_style_context (item->button), "failed");
      gtk_widget_set_tooltip_text (item->button, error->message);
    }
  if (index + 1 < self->items->len)
    start_thumbnail (self, index + 1);
}

static void
start_thumbnail (HlWindow *self, guint index)
{
  StudyItem *item = g_ptr_array_index (self->items, index);
  GTask *task
      = g_task_new (self, self->study_cancellable, thumbnail_done, GUINT_TO_POINTER (index));
  g_task_set_task_data (task, g_strdup (item->path), g_free);
  g_task_run_in_thread (task, thumbnail_thread);
  g_object_unref (task);
}

static void
thumb_clicked (GtkButton *button, HlWindow *self)
{
  hl_window_show_image (self, GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (button), "index")));
}

/* Shows on the thumbnail how many findings are above their operating point. */
static void
mark_thumbnail (HlWindow *self, StudyItem *item)
{
  HlResult *r = hl_inference_lookup (self->inference, item->path);
  if (r == NULL || item->error != NULL)
    return;
  const HlModelInfo *info = hl_model_get_info (window_model (self));
  int n = 0;
  for (int l = 0; l < r->n_labels; l++)
    n += r->probs[l] >= info->thresholds[l];
  g_autofree char *text = g_strdup_printf ("%d", n);
  gtk_label_set_text (GTK_LABEL (item->badge), text);
  g_autofree char *tip
      = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d finding above its operating point",
                                      "%d findings above their operating points", n),
                         n);
  gtk_widget_set_tooltip_text (item->badge, tip);
  gtk_widget_set_visible (item->badge, n > 0);
}

static void
build_strip (HlWindow *self)
{
  gtk_container_foreach (GTK_CONTAINER (self->thumb_box), (GtkCallback)destroy_child, NULL);
  GtkWidget *group_row = NULL;
  const char *group = NULL;
  for (guint i = 0; i < self->items->len; i++)
    {
      StudyItem *item = g_ptr_array_index (self->items, i);
      if (group == NULL || g_strcmp0 (group, item->patient) != 0)
        {
          group = item->patient;
          GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
          g_autofree char *title = g_strdup_printf (_ ("Patient %s"), item->patient);
          GtkWidget *label = gtk_label_new (title);
          gtk_label_set_xalign (GTK_LABEL (label), 0);
          gtk_style_context_add_class (gtk_widget_get_style_context (label), "patient-heading");
          gtk_container_add (GTK_CONTAINER (box), label);
          group_row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 4);
          gtk_container_add (GTK_CONTAINER (box), group_row);
          gtk_style_context_add_class (gtk_widget_get_style_context (box), "patient-group");
          gtk_container_add (GTK_CONTAINER (self->thumb_box), box);
        }
      GtkWidget *button = gtk_button_new ();
      gtk_button_set_relief (GTK_BUTTON (button), GTK_RELIEF_NONE);
      gtk_style_context_add_class (gtk_widget_get_style_context (button), "thumbnail");
      GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
      item->image = gtk_image_new_from_icon_name ("image-loading-symbolic", GTK_ICON_SIZE_DIALOG);
      gtk_widget_set_size_request (item->image, THUMB_SIZE, THUMB_SIZE);
      item->label = gtk_label_new (item->caption);
      gtk_label_set_ellipsize (GTK_LABEL (item->label), PANGO_ELLIPSIZE_END);
      gtk_label_set_max_width_chars (GTK_LABEL (item->label), 14);
      item->badge = gtk_label_new (NULL);
      gtk_style_context_add_class (gtk_widget_get_style_context (item->badge), "finding-badge");
      gtk_widget_set_no_show_all (item->badge, TRUE);
      GtkWidget *caption = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 4);
      gtk_widget_set_halign (caption, GTK_ALIGN_CENTER);
      gtk_container_add (GTK_CONTAINER (caption), item->label);
      gtk_container_add (GTK_CONTAINER (caption), item->badge);
      gtk_container_add (GTK_CONTAINER (box), item->image);
      gtk_container_add (GTK_CONTAINER (box), caption);
      gtk_container_add (GTK_CONTAINER (button), box);
      gtk_widget_set_tooltip_text (button, item->error != NULL ? item->error : item->path);
      if (item->error != NULL)
        gtk_style_context_add_class (gtk_widget_get_style_context (button), "failed");
      g_object_set_data (G_OBJECT (button), "index", GUINT_TO_POINTER (i));
      g_signal_connect (button, "clicked", G_CALLBACK (thumb_clicked), self);
      item->button = button;
      gtk_container_add (GTK_CONTAINER (group_row), button);
    }
  gtk_widget_show_all (GTK_WIDGET (self->thumb_box));
}

/* ---- the study ----------------------------------------------------------------------------- */

/* Inference order: the image on screen, then its patient's other images newest first, then the
 * other patients' images, each newest first. */
static void
queue_inference (HlWindow *self)
{
  if (self->inference == NULL || self->items == NULL || self->items->len == 0)
    return;
  g_autoptr (GPtrArray) order = g_ptr_array_new ();
  StudyItem *cur = current_item (self);
  g_ptr_array_add (order, cur->path);
  for (int pass = 0; pass < 2; pass++)
    for (int i = (int)self->items->len - 1; i >= 0; i--)
      {
        StudyItem *item = g_ptr_array_index (self->items, i);
        gboolean same_patient = g_strcmp0 (item->patient, cur->patient) == 0;
        if (item != cur && same_patient == (pass == 0))
          g_ptr_array_add (order, item->path);
      }
  g_ptr_array_add (order, NULL);
  hl_inference_set_queue (self->inference, (const char *const *)order->pdata);
}

static void
inference_finished (HlInference *inference, const char *path, HlWindow *self)
{
  StudyItem *cur = current_item (self);
  if (self->items != NULL)
    for (guint i = 0; i < self->items->len; i++)
      {
        StudyItem *item = g_ptr_array_index (self->items, i);
        if (g_strcmp0 (item->path, path) == 0)
          mark_thumbnail (self, item);
      }
  if (cur != NULL && g_strcmp0 (cur->path, path) == 0)
    show_findings (self);
  update_actions (self);
}

static void
add_recent (HlWindow *self, const char *folder)
{
  g_auto (GStrv) old = g_settings_get_strv (self->settings, "recent-studies");
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_strv_builder_add (b, folder);
  guint n = 1;
  for (guint i = 0; old[i] != NULL && n < MAX_RECENT; i++)
    if (g_strcmp0 (old[i], folder) != 0)
      {
        g_strv_builder_add (b, old[i]);
        n++;
      }
  g_auto (GStrv) list = g_strv_builder_end (b);
  g_settings_set_strv (self->settings, "recent-studies", (const char *const *)list);
}

static void
cancel_study_work (HlWindow *self)
{
  if (self->study_cancellable != NULL)
    g_cancellable_cancel (self->study_cancellable);
  g_clear_object (&self->study_cancellable);
  if (self->inference != NULL)
    hl_inference_cancel (self->inference);
}

/* Shows the study @items (StudyItem*, taken): patient by patient, each oldest first. */
static void
set_study (HlWindow *self, GPtrArray *items, const char *title, gboolean folder)
{
  cancel_study_work (self);
  self->study_cancellable = g_cancellable_new ();
  g_clear_pointer (&self->items, g_ptr_array_unref);
  self->items = items;
  g_free (self->study_title);
  self->study_title = g_strdup (title);
  gtk_header_bar_set_subtitle (self->header_bar, title);
  self->image_shown = FALSE;
  self->first_findings_logged = FALSE;
  build_strip (self);

  if (self->items->len == 0)
    {
      gtk_stack_set_visible_child_name (self->stack, "study");
      hl_image_view_set_image (self->view, NULL);
      gtk_label_set_text (self->image_message,
                          folder ? _ ("This folder holds no PNG or DICOM images.")
                                 : _ ("None of these files is a PNG or DICOM image."));
      gtk_widget_show (GTK_WIDGET (self->image_message));
      gtk_widget_hide (GTK_WIDGET (self->image_caption));
      show_findings_message (self, _ ("Nothing to analyse."), FALSE, FALSE);
      update_actions (self);
      return;
    }
  gtk_stack_set_visible_child_name (self->stack, "study");
  /* The newest image of the first patient: the current study, which the radiologist reads. */
  StudyItem *first = g_ptr_array_index (self->items, 0);
  guint newest = 0;
  for (guint i = 0; i < self->items->len; i++)
    if (g_strcmp0 (((StudyItem *)g_ptr_array_index (self->items, i))->patient, first->patient) == 0)
      newest = i;
  self->current = newest;
  hl_window_show_image (self, newest);
  queue_inference (self);
  start_thumbnail (self, 0);
}

static StudyItem *
study_item_new (const HlStudy *study, const HlStudyImage *si)
{
  StudyItem *item = g_new0 (StudyItem, 1);
  item->path = g_strdup (si->path);
  item->patient = g_strdup (si->patient_id);
  if (si->follow_up >= 0)
    item->caption = g_strdup_printf (_ ("Follow-up %d"), si->follow_up);
  else
    {
      item->caption = g_path_get_basename (si->path);
      char *dot = strrchr (item->caption, '.');
      if (dot != NULL && dot != item->caption)
        *dot = '\0';
    }
  item->error = si->error != NULL ? g_strdup (si->error->message) : NULL;
  for (guint s = 0; si->labels != NULL && s < study->label_sets->len && !item->labelled; s++)
    {
      const HlLabelSet *set = g_ptr_array_index (study->label_sets, s);
      if (!g_ptr_array_find (set->rows, si->labels, NULL))
        continue;
      item->labelled = TRUE;
      memcpy (item->truth, si->labels->labels, sizeof item->truth);
      memcpy (item->has_label, set->has_label, sizeof item->has_label);
    }
  return item;
}

/* Scans the folder (one path) or the folders of the files given, keeping only those files, into
 * a GPtrArray of StudyItem in study order. */
static void
scan_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GPtrArray *paths = data;
  GPtrArray *items = g_ptr_array_new_with_free_func ((GDestroyNotify)study_item_free);
  const char *first = g_ptr_array_index (paths, 0);
  gboolean folder = paths->len == 1 && g_file_test (first, G_FILE_TEST_IS_DIR);
  g_autoptr (GHashTable) wanted = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  if (folder)
    g_ptr_array_add (dirs, g_strdup (first));
  else
    for (guint i = 0; i < paths->len; i++)
      {
        const char *path = g_ptr_array_index (paths, i);
        g_hash_table_add (wanted, (gpointer)path);
        char *dir = g_path_get_dirname (path);
        if (g_ptr_array_find_with_equal_func (dirs, dir, g_str_equal, NULL))
          g_free (dir);
        else
          g_ptr_array_add (dirs, dir);
      }
  for (guint d = 0; d < dirs->len; d++)
    {
      GError *error = NULL;
      g_autoptr (HlStudy) study
          = hl_study_open (g_ptr_array_index (dirs, d), folder ? HL_STUDY_DEFAULT_MAX_DEPTH : 0,
                           HL_STUDY_OPEN_NONE, cancellable, &error);
      if (study == NULL)
        {
          g_ptr_array_unref (items);
          g_task_return_error (task, error);
          return;
        }
      for (guint i = 0; i < study->images->len; i++)
        {
          const HlStudyImage *si = g_ptr_array_index (study->images, i);
          if (folder || g_hash_table_contains (wanted, si->path))
            g_ptr_array_add (items, study_item_new (study, si));
        }
    }
  g_task_return_pointer (task, items, (GDestroyNotify)g_ptr_array_unref);
}

static void
scan_done (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  GPtrArray *items = g_task_propagate_pointer (G_TASK (res), &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  HlWindow *self = HL_WINDOW (source);
  GPtrArray *paths = g_task_get_task_data (G_TASK (res));
  if (items == NULL)
    {
      GtkWidget *dialog
          = gtk_message_dialog_new (GTK_WINDOW (self), GTK_DIALOG_MODAL, GTK_MESSAGE_ERROR,
                                    GTK_BUTTONS_CLOSE, _ ("The study could not be opened"));
      gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s", error->message);
      g_signal_connect (dialog, "response", G_CALLBACK (gtk_widget_destroy), NULL);
      gtk_widget_show (dialog);
      return;
    }
  g_autofree char *title = NULL;
  const char *first = g_ptr_array_index (paths, 0);
  gboolean folder = paths->len == 1 && g_file_test (first, G_FILE_TEST_IS_DIR);
  if (folder)
    {
      title = g_path_get_basename (first);
      add_recent (self, first);
    }
  else
    title = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u image", "%u images", items->len),
                             items->len);
  set_study (self, items, title, folder);
}

void
hl_window_open_files (HlWindow *self, GFile **files, int n_files)
{
  g_return_if_fail (HL_IS_WINDOW (self));
  g_return_if_fail (files != NULL && n_files >= 1);

  cancel_study_work (self);
  self->study_cancellable = g_cancellable_new ();
  self->open_time = g_get_monotonic_time ();
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < n_files; i++)
    {
      char *path = g_file_get_path (files[i]);
      if (path != NULL)
        g_ptr_array_add (paths, path);
    }
  if (paths->len == 0)
    {
      g_ptr_array_unref (paths);
      return;
    }
  GTask *task = g_task_new (self, self->study_cancellable, scan_done, NULL);
  g_task_set_task_data (task, paths, (GDestroyNotify)g_ptr_array_unref);
  g_task_run_in_thread (task, scan_thread);
  g_object_unref (task);
}

void
hl_window_close_study (HlWindow *self)
{
  g_return_if_fail (HL_IS_WINDOW (self));

  cancel_study_work (self);
  g_clear_pointer (&self->items, g_ptr_array_unref);
  gtk_container_foreach (GTK_CONTAINER (self->thumb_box), (GtkCallback)destroy_child, NULL);
  hl_image_view_set_image (self->view, NULL);
  update_prior (self);
  gtk_header_bar_set_subtitle (self->header_bar, NULL);
  gtk_label_set_text (self->progress_label, "");
  gtk_widget_hide (GTK_WIDGET (self->progress_bar));
  gtk_stack_set_visible_child_name (self->stack, "welcome");
  update_actions (self);
}

/* ---- welcome page -------------------------------------------------------------------------- */

static void
fill_recent (HlWindow *self)
{
  gtk_container_foreach (GTK_CONTAINER (self->recent_list), (GtkCallback)destroy_child, NULL);
  g_auto (GStrv) recent = g_settings_get_strv (self->settings, "recent-studies");
  guint shown = 0;
  for (guint i = 0; recent[i] != NULL; i++)
    {
      if (!g_file_test (recent[i], G_FILE_TEST_IS_DIR))
        continue;
      GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
      g_object_set (box, "margin", 8, NULL);
      g_autofree char *base = g_path_get_basename (recent[i]);
      GtkWidget *name = gtk_label_new (base);
      gtk_label_set_xalign (GTK_LABEL (name), 0);
      GtkWidget *where = gtk_label_new (recent[i]);
      gtk_label_set_xalign (GTK_LABEL (where), 0);
      gtk_label_set_ellipsize (GTK_LABEL (where), PANGO_ELLIPSIZE_START);
      gtk_style_context_add_class (gtk_widget_get_style_context (where), "dim-label");
      gtk_container_add (GTK_CONTAINER (box), name);
      gtk_container_add (GTK_CONTAINER (box), where);
      GtkWidget *row = gtk_list_box_row_new ();
      gtk_container_add (GTK_CONTAINER (row), box);
      g_object_set_data_full (G_OBJECT (row), "path", g_strdup (recent[i]), g_free);
      gtk_widget_show_all (row);
      gtk_list_box_insert (self->recent_list, row, -1);
      shown++;
    }
  gtk_widget_set_visible (self->recent_heading, shown > 0);
  gtk_widget_set_visible (GTK_WIDGET (self->recent_list), shown > 0);
}

static void
recent_row_activated (GtkListBox *list, GtkListBoxRow *row, HlWindow *self)
{
  g_autoptr (GFile) file = g_file_new_for_path (g_object_get_data (G_OBJECT (row), "path"));
  hl_window_open_files (self, &file, 1);
}

/* ---- model --------------------------------------------------------------------------------- */

static void
model_changed (HlWindow *self)
{
  if (self->inference != NULL)
    {
      hl_inference_cancel (self->inference);
      g_signal_handlers_disconnect_by_data (self->inference, self);
      g_clear_object (&self->inference);
    }
  HlModel *model = hl_application_get_model (self->app);
  if (model != NULL)
    {
      self->inference = hl_inference_new (model);
      g_signal_connect (self->inference, "finished", G_CALLBACK (inference_finished), self);
      g_signal_connect (self->inference, "progress", G_CALLBACK (inference_progress), self);
      g_signal_connect (self->inference, "layer-ready", G_CALLBACK (layer_ready), self);
      if (self->selected_label >= hl_model_get_info (model)->n_labels)
        self->selected_label = -1;
    }
  update_model_label (self);
  fill_layers (self);
  if (self->items != NULL && self->items->len > 0)
    {
      show_findings (self);
      queue_inference (self);
    }
  update_actions (self);
}

/* ---- actions ------------------------------------------------------------------------------- */

static void
open_folder_response (GtkNativeDialog *dialog, int response, HlWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      hl_window_open_files (self, &file, 1);
    }
  g_object_unref (dialog);
}

static void
open_folder_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  HlWindow *self = data;
  GtkFileChooserNative *dialog = gtk_file_chooser_native_new (
      _ ("Open Study Folder"), GTK_WINDOW (self), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
      _ ("_Open"), _ ("_Cancel"));
  g_signal_connect (dialog, "response", G_CALLBACK (open_folder_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
close_study_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  hl_window_close_study (data);
}

static void
choose_model_response (GtkNativeDialog *dialog, int response, HlWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autofree char *path = gtk_file_chooser_get_filename (GTK_FILE_CHOOSER (dialog));
      if (path != NULL)
        g_settings_set_string (self->settings, "model-file", path);
    }
  g_object_unref (dialog);
}

static void
choose_model_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  HlWindow *self = data;
  GtkFileChooserNative *dialog
      = gtk_file_chooser_native_new (_ ("Choose a Model File"), GTK_WINDOW (self),
                                     GTK_FILE_CHOOSER_ACTION_OPEN, _ ("_Open"), _ ("_Cancel"));
  GtkFileFilter *filter = gtk_file_filter_new ();
  gtk_file_filter_set_name (filter, _ ("Hilum models (*.safetensors)"));
  gtk_file_filter_add_pattern (filter, "*.safetensors");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), filter);
  g_signal_connect (dialog, "response", G_CALLBACK (choose_model_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
model_info_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  HlWindow *self = data;
  HlModel *model = window_model (self);
  if (model == NULL)
    return;
  GtkWidget *dialog
      = hl_model_dialog_new (GTK_WINDOW (self), model, hl_application_get_model_path (self->app));
  gtk_window_present (GTK_WINDOW (dialog));
}

/* The labelled images of the study that have been analysed, as ROC cases (borrowed). */
static GArray *
labelled_results (HlWindow *self)
{
  GArray *cases = g_array_new (FALSE, FALSE, sizeof (HlLabelledResult));
  for (guint i = 0; self->inference != NULL && self->items != NULL && i < self->items->len; i++)
    {
      StudyItem *item = g_ptr_array_index (self->items, i);
      HlResult *r = hl_inference_lookup (self->inference, item->path);
      if (item->labelled && r != NULL)
        {
          HlLabelledResult c = { r, item->truth, item->has_label };
          g_array_append_val (cases, c);
        }
    }
  return cases;
}

static void
show_roc_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  HlWindow *self = data;
  g_autoptr (GArray) cases = labelled_results (self);
  if (cases->len == 0)
    return;
  guint n_labelled = 0;
  for (guint i = 0; i < self->items->len; i++)
    n_labelled += ((StudyItem *)g_ptr_array_index (self->items, i))->labelled;
  g_autoptr (GError) error = NULL;
  HlRocData *roc
      = hl_roc_data_new (window_model (self), (HlLabelledResult *)cases->data, cases->len, &error);
  if (roc == NULL)
    {
      GtkWidget *dialog
          = gtk_message_dialog_new (GTK_WINDOW (self), GTK_DIALOG_MODAL, GTK_MESSAGE_ERROR,
                                    GTK_BUTTONS_CLOSE, _ ("No ROC curve can be drawn"));
      gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s", error->message);
      g_signal_connect (dialog, "response", G_CALLBACK (gtk_widget_destroy), NULL);
      gtk_widget_show (dialog);
      return;
    }
  g_autofree char *subtitle = g_strdup_printf (_ ("%s · %u of %u labelled images analysed"),
                                               self->study_title, cases->len, n_labelled);
  GtkWidget *window = hl_roc_window_new (GTK_WINDOW (self), roc, subtitle);
  gtk_window_present (GTK_WINDOW (window));
}

static void
step_image (HlWindow *self, int delta)
{
  if (self->items == NULL || self->items->len == 0)
    return;
  int next = (int)self->current + delta;
  if (next >= 0 && next < (int)self->items->len)
    hl_window_show_image (self, next);
}

static void
next_image_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  step_image (data, 1);
}

static void
previous_image_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  step_image (data, -1);
}

/* Jumps to the newest image of the next (@delta = 1) or previous (-1) patient group. */
static void
step_patient (HlWindow *self, int delta)
{
  StudyItem *cur = current_item (self);
  if (cur == NULL)
    return;
  int i = (int)self->current;
  while (i >= 0 && i < (int)self->items->len
         && g_strcmp0 (((StudyItem *)g_ptr_array_index (self->items, i))->patient, cur->patient)
                == 0)
    i += delta;
  if (i < 0 || i >= (int)self->items->len)
    return;
  const char *patient = ((StudyItem *)g_ptr_array_index (self->items, i))->patient;
  /* For the previous group i is already its newest (last) image; for the next, walk to its end. */
  while (delta > 0 && i + 1 < (int)self->items->len
         && g_strcmp0 (((StudyItem *)g_ptr_array_index (self->items, i + 1))->patient, patient)
                == 0)
    i++;
  hl_window_show_image (self, i);
}

static void
next_patient_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  step_patient (data, 1);
}

static void
previous_patient_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  step_patient (data, -1);
}

static void
step_finding (HlWindow *self, int delta)
{
  GtkListBoxRow *row = gtk_list_box_get_selected_row (self->findings_list);
  int index = row != NULL ? gtk_list_box_row_get_index (row) + delta : 0;
  GtkListBoxRow *next = gtk_list_box_get_row_at_index (self->findings_list, MAX (index, 0));
  if (next != NULL)
    gtk_list_box_select_row (self->findings_list, next);
}

static void
next_finding_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  step_finding (data, 1);
}

static void
previous_finding_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  step_finding (data, -1);
}

static void
show_overlay_changed (GSimpleAction *action, GVariant *value, gpointer data)
{
  HlWindow *self = data;
  g_simple_action_set_state (action, value);
  hl_image_view_set_overlay_visible (self->view, g_variant_get_boolean (value));
  g_settings_set_boolean (self->settings, "show-overlay", g_variant_get_boolean (value));
}

static void
cycle_colormap_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  HlWindow *self = data;
  HlColormap next = (self->style.cmap + 1) % HL_N_COLORMAPS;
  g_settings_set_string (self->settings, "colormap", hl_colormap_get_name (next));
}

static void
zoom_in_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  hl_image_view_zoom_in (HL_WINDOW (data)->view);
}

static void
zoom_out_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  hl_image_view_zoom_out (HL_WINDOW (data)->view);
}

static void
zoom_1to1_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  hl_image_view_zoom_1to1 (HL_WINDOW (data)->view);
}

static void
zoom_fit_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  hl_image_view_fit (HL_WINDOW (data)->view);
}

static void
invert_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  HlImageView *view = HL_WINDOW (data)->view;
  hl_image_view_set_invert (view, !hl_image_view_get_invert (view));
}

static void
reset_view_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  hl_image_view_reset (HL_WINDOW (data)->view);
}

static void
wl_preset_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  static const struct
  {
    const char *name;
    HlWindowLevelPreset preset;
  } presets[] = {
    { "full", HL_WL_PRESET_FULL },
    { "auto", HL_WL_PRESET_AUTO },
    { "lung", HL_WL_PRESET_LUNG },
    { "dense", HL_WL_PRESET_DENSE },
  };
  const char *name = g_variant_get_string (parameter, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (presets); i++)
    if (g_strcmp0 (name, presets[i].name) == 0)
      hl_image_view_apply_preset (HL_WINDOW (data)->view, presets[i].preset);
}

static void
fullscreen_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  GtkWindow *window = data;
  GdkWindow *gdk_window = gtk_widget_get_window (GTK_WIDGET (window));
  if (gdk_window != NULL && (gdk_window_get_state (gdk_window) & GDK_WINDOW_STATE_FULLSCREEN))
    gtk_window_unfullscreen (window);
  else
    gtk_window_fullscreen (window);
}

/* ---- export -------------------------------------------------------------------------------- */

typedef struct
{
  HlExportJob job;
  GPtrArray *paths;      /* char*, NULL-terminated */
  GPtrArray *results;    /* HlResult* or NULL */
  GPtrArray *layer_maps; /* HlLayerMaps* (copies of the cached ones) or NULL */
  HlModel *model;
  char *folder;
  char *gradcam_layer; /* the heatmap layer's id; NULL: the last feature map */
} ExportData;

static void
export_data_free (ExportData *d)
{
  g_ptr_array_unref (d->paths);
  g_ptr_array_unref (d->results);
  g_ptr_array_unref (d->layer_maps);
  g_free (d->gradcam_layer);
  hl_model_unref (d->model);
  g_free (d->folder);
  g_free (d);
}

static void
export_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ExportData *d = data;
  GError *error = NULL;
  char **written = hl_export_run (&d->job, cancellable, &error);
  if (written != NULL)
    g_task_return_pointer (task, written, (GDestroyNotify)g_strfreev);
  else
    g_task_return_error (task, error);
}

void
hl_window_export_async (HlWindow *self, HlExportScope scope, GFile *folder,
                        GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (HL_IS_WINDOW (self));
  g_return_if_fail (G_IS_FILE (folder));

  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, hl_window_export_async);
  HlModel *model = window_model (self);
  g_autofree char *folder_path = g_file_get_path (folder);
  if (model == NULL || current_item (self) == NULL || folder_path == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "%s",
                               model == NULL ? _ ("There is no model to score the images with.")
                               : folder_path == NULL
                                   ? _ ("Reports can only be written to local folders.")
                                   : _ ("No study is open."));
      g_object_unref (task);
      return;
    }
  ExportData *d = g_new0 (ExportData, 1);
  d->paths = g_ptr_array_new ();
  d->results = g_ptr_array_new_with_free_func ((GDestroyNotify)hl_result_unref);
  d->layer_maps = g_ptr_array_new_with_free_func ((GDestroyNotify)hl_layer_maps_free);
  d->model = hl_model_ref (model);
  /* The heatmaps at the layer on screen: copies of the maps cached so far, the rest are computed
   * in the export's thread. */
  if (self->gradcam_layer >= 0)
    d->gradcam_layer = hl_model_gradcam_layer_id (model, self->gradcam_layer);
  d->folder = g_steal_pointer (&folder_path);
  guint first = scope == HL_EXPORT_CURRENT_IMAGE ? self->current : 0;
  guint end = scope == HL_EXPORT_CURRENT_IMAGE ? self->current + 1 : self->items->len;
  g_ptr_array_set_free_func (d->paths, g_free);
  for (guint i = first; i < end; i++)
    {
      StudyItem *item = g_ptr_array_index (self->items, i);
      if (item->error != NULL && scope == HL_EXPORT_WHOLE_STUDY)
        continue; /* a file that does not decode has nothing to report */
      HlResult *r = hl_inference_lookup (self->inference, item->path);
      g_ptr_array_add (d->paths, g_strdup (item->path));
      g_ptr_array_add (d->results, r != NULL ? hl_result_ref (r) : NULL);
      const HlLayerMaps *lm
          = self->gradcam_layer >= 0
                ? hl_inference_lookup_layer (self->inference, item->path, self->gradcam_layer)
                : NULL;
      g_ptr_array_add (d->layer_maps, lm != NULL ? hl_layer_maps_dup (lm) : NULL);
    }
  d->job.model = d->model;
  d->job.n = d->paths->len;
  g_ptr_array_add (d->paths, NULL);
  d->job.paths = (const char *const *)d->paths->pdata;
  d->job.results = (HlResult **)d->results->pdata;
  d->job.layer_maps = (HlLayerMaps **)d->layer_maps->pdata;
  d->job.gradcam_layer = d->gradcam_layer;
  d->job.label = self->selected_label;
  d->job.style = self->style;
  d->job.folder = d->folder;
  g_task_set_task_data (task, d, (GDestroyNotify)export_data_free);
  g_task_run_in_thread (task, export_thread);
  g_object_unref (task);
}

char **
hl_window_export_finish (HlWindow *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
export_done (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) written = hl_window_export_finish (HL_WINDOW (source), res, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  HlWindow *self = HL_WINDOW (source);
  g_clear_object (&self->export_cancellable);
  if (written == NULL)
    {
      GtkWidget *dialog
          = gtk_message_dialog_new (GTK_WINDOW (self), GTK_DIALOG_MODAL, GTK_MESSAGE_ERROR,
                                    GTK_BUTTONS_CLOSE, _ ("The report could not be exported"));
      gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s", error->message);
      g_signal_connect (dialog, "response", G_CALLBACK (gtk_widget_destroy), NULL);
      gtk_widget_show (dialog);
      return;
    }
  guint n = g_strv_length (written);
  g_autofree char *folder = g_path_get_dirname (written[0]);
  g_autofree char *text = g_strdup_printf (
      g_dngettext (GETTEXT_PACKAGE, "Exported %u file to %s", "Exported %u files to %s", n), n,
      folder);
  gtk_label_set_text (self->progress_label, text);
}

static void
export_folder_response (GtkNativeDialog *dialog, int response, HlWindow *self)
{
  HlExportScope scope = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (dialog), "scope"));
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      if (self->export_cancellable != NULL)
        g_cancellable_cancel (self->export_cancellable);
      g_clear_object (&self->export_cancellable);
      self->export_cancellable = g_cancellable_new ();
      gtk_label_set_text (self->progress_label, _ ("Exporting…"));
      hl_window_export_async (self, scope, folder, self->export_cancellable, export_done, NULL);
    }
  g_object_unref (dialog);
}

static void
choose_export_folder (HlWindow *self, HlExportScope scope)
{
  GtkFileChooserNative *dialog = gtk_file_chooser_native_new (
      scope == HL_EXPORT_CURRENT_IMAGE ? _ ("Export Report of This Image")
                                       : _ ("Export Reports of the Whole Study"),
      GTK_WINDOW (self), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _ ("_Export"), _ ("_Cancel"));
  gtk_file_chooser_set_create_folders (GTK_FILE_CHOOSER (dialog), TRUE);
  g_object_set_data (G_OBJECT (dialog), "scope", GINT_TO_POINTER (scope));
  g_signal_connect (dialog, "response", G_CALLBACK (export_folder_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
export_image_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  choose_export_folder (data, HL_EXPORT_CURRENT_IMAGE);
}

static void
export_study_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  choose_export_folder (data, HL_EXPORT_WHOLE_STUDY);
}

static const GActionEntry win_entries[] = {
  { "open-folder", open_folder_activated },
  { "close-study", close_study_activated },
  { "choose-model", choose_model_activated },
  { "model-info", model_info_activated },
  { "show-roc", show_roc_activated },
  { "export-image", export_image_activated },
  { "export-study", export_study_activated },
  { "next-image", next_image_activated },
  { "previous-image", previous_image_activated },
  { "next-patient", next_patient_activated },
  { "previous-patient", previous_patient_activated },
  { "next-finding", next_finding_activated },
  { "previous-finding", previous_finding_activated },
  { "show-overlay", NULL, NULL, "true", show_overlay_changed },
  { "cycle-colormap", cycle_colormap_activated },
  { "zoom-in", zoom_in_activated },
  { "zoom-out", zoom_out_activated },
  { "zoom-1to1", zoom_1to1_activated },
  { "zoom-fit", zoom_fit_activated },
  { "invert", invert_activated },
  { "reset-view", reset_view_activated },
  { "wl-preset", wl_preset_activated, "s" },
  { "fullscreen", fullscreen_activated },
  { "compare", NULL, NULL, "false", compare_changed },
};

static void
enable (HlWindow *self, const char *name, gboolean enabled)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), name);
  g_simple_action_set_enabled (G_SIMPLE_ACTION (action), enabled);
}

static void
update_actions (HlWindow *self)
{
  gboolean open = self->items != NULL && self->items->len > 0;
  gboolean model = self->inference != NULL;
  enable (self, "close-study", self->items != NULL);
  enable (self, "model-info", model);
  g_autoptr (GArray) cases = labelled_results (self);
  enable (self, "show-roc", cases->len > 0);
  enable (self, "export-image", open && model);
  enable (self, "export-study", open && model);
  enable (self, "next-image", open && self->current + 1 < self->items->len);
  enable (self, "previous-image", open && self->current > 0);
  enable (self, "next-patient", open);
  enable (self, "previous-patient", open);
  gtk_widget_set_sensitive (self->overlay_controls, model);
  static const char *const finding_actions[]
      = { "next-finding", "previous-finding", "show-overlay", "cycle-colormap" };
  for (gsize i = 0; i < G_N_ELEMENTS (finding_actions); i++)
    enable (self, finding_actions[i], open && model);
  static const char *const view_actions[] = { "zoom-in", "zoom-out",   "zoom-1to1", "zoom-fit",
                                              "invert",  "reset-view", "wl-preset", "compare" };
  for (gsize i = 0; i < G_N_ELEMENTS (view_actions); i++)
    enable (self, view_actions[i], open);
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static void
save_window_state (HlWindow *self)
{
  GdkWindow *gdk_window = gtk_widget_get_window (GTK_WIDGET (self));
  gboolean maximized
      = gdk_window != NULL && (gdk_window_get_state (gdk_window) & GDK_WINDOW_STATE_MAXIMIZED);
  g_settings_set_boolean (self->settings, "window-maximized", maximized);
  if (!maximized)
    {
      int w, h;
      gtk_window_get_size (GTK_WINDOW (self), &w, &h);
      g_settings_set_int (self->settings, "window-width", w);
      g_settings_set_int (self->settings, "window-height", h);
    }
}

static void
hl_window_destroy (GtkWidget *widget)
{
  HlWindow *self = HL_WINDOW (widget);
  if (self->settings != NULL)
    {
      save_window_state (self);
      g_signal_handlers_disconnect_by_data (self->settings, self);
    }
  if (self->app != NULL)
    g_signal_handlers_disconnect_by_data (self->app, self);
  /* Closing the window cancels everything it started. */
  g_clear_handle_id (&self->reveal_source, g_source_remove);
  cancel_study_work (self);
  if (self->export_cancellable != NULL)
    g_cancellable_cancel (self->export_cancellable);
  if (self->inference != NULL)
    g_signal_handlers_disconnect_by_data (self->inference, self);
  GTK_WIDGET_CLASS (hl_window_parent_class)->destroy (widget);
}

static void
hl_window_finalize (GObject *object)
{
  HlWindow *self = HL_WINDOW (object);
  g_clear_pointer (&self->items, g_ptr_array_unref);
  g_clear_object (&self->inference);
  g_clear_object (&self->settings);
  g_clear_object (&self->export_cancellable);
  g_free (self->study_title);
  g_free (self->prior_path);
  G_OBJECT_CLASS (hl_window_parent_class)->finalize (object);
}

static void
hl_window_class_init (HlWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  G_OBJECT_CLASS (klass)->finalize = hl_window_finalize;
  widget_class->destroy = hl_window_destroy;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/hilum/Hilum/hl-window.ui");
#define CHILD(name) gtk_widget_class_bind_template_child (widget_class, HlWindow, name)
  CHILD (header_bar);
  CHILD (stack);
  CHILD (recent_list);
  CHILD (recent_heading);
  CHILD (study_page);
  CHILD (view_box);
  CHILD (image_caption);
  CHILD (image_message);
  CHILD (thumb_scroll);
  CHILD (thumb_box);
  CHILD (findings_stack);
  CHILD (findings_list);
  CHILD (findings_heading);
  CHILD (findings_spinner);
  CHILD (findings_message);
  CHILD (choose_model_button);
  CHILD (opacity_adjustment);
  CHILD (threshold_adjustment);
  CHILD (colormap_combo);
  CHILD (layer_combo);
  CHILD (colorbar);
  CHILD (overlay_controls);
  CHILD (model_label);
  CHILD (pixel_label);
  CHILD (view_label);
  CHILD (progress_label);
  CHILD (progress_bar);
#undef CHILD
  gtk_widget_class_bind_template_callback (widget_class, recent_row_activated);
  gtk_widget_class_bind_template_callback (widget_class, finding_row_selected);
  gtk_widget_class_bind_template_callback (widget_class, colorbar_draw);
  gtk_widget_class_bind_template_callback (widget_class, layer_combo_changed);
}

static void
hl_window_init (HlWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->selected_label = -1;
  self->gradcam_layer = -1;
  hl_overlay_style_init (&self->style);

  self->view = HL_IMAGE_VIEW (hl_image_view_new ());
  gtk_container_add (GTK_CONTAINER (self->view_box), GTK_WIDGET (self->view));
  gtk_widget_show (GTK_WIDGET (self->view));
  g_signal_connect (self->view, "pixel-info", G_CALLBACK (pixel_info), self);
  g_signal_connect (self->view, "view-changed", G_CALLBACK (view_changed), self);
  g_signal_connect (self->view, "view-changed", G_CALLBACK (views_changed), self);

  /* The prior pane: a second view with its own caption, shown when comparing. */
  self->prior_view = HL_IMAGE_VIEW (hl_image_view_new ());
  g_signal_connect (self->prior_view, "view-changed", G_CALLBACK (views_changed), self);
  GtkWidget *overlay = gtk_overlay_new ();
  gtk_container_add (GTK_CONTAINER (overlay), GTK_WIDGET (self->prior_view));
  self->prior_caption = GTK_LABEL (gtk_label_new (NULL));
  g_object_set (self->prior_caption, "halign", GTK_ALIGN_START, "valign", GTK_ALIGN_START, "margin",
                8, NULL);
  gtk_style_context_add_class (gtk_widget_get_style_context (GTK_WIDGET (self->prior_caption)),
                               "osd-caption");
  gtk_overlay_add_overlay (GTK_OVERLAY (overlay), GTK_WIDGET (self->prior_caption));
  self->prior_message = GTK_LABEL (gtk_label_new (NULL));
  g_object_set (self->prior_message, "halign", GTK_ALIGN_CENTER, "valign", GTK_ALIGN_CENTER, "wrap",
                TRUE, NULL);
  gtk_style_context_add_class (gtk_widget_get_style_context (GTK_WIDGET (self->prior_message)),
                               "osd-caption");
  gtk_overlay_add_overlay (GTK_OVERLAY (overlay), GTK_WIDGET (self->prior_message));
  gtk_widget_show (GTK_WIDGET (self->prior_view));
  gtk_widget_show (overlay);
  gtk_widget_set_no_show_all (overlay, TRUE);
  self->prior_pane = overlay;
  gtk_container_add (GTK_CONTAINER (self->view_box), overlay);
  gtk_widget_hide (overlay);
  g_signal_connect_after (self->view, "draw", G_CALLBACK (view_drawn), self);
  g_signal_connect_after (self->thumb_box, "size-allocate", G_CALLBACK (thumb_box_allocated), self);

  g_action_map_add_action_entries (G_ACTION_MAP (self), win_entries, G_N_ELEMENTS (win_entries),
                                   self);
}

HlWindow *
hl_window_new (HlApplication *app)
{
  g_return_val_if_fail (HL_IS_APPLICATION (app), NULL);

  HlWindow *self = g_object_new (HL_TYPE_WINDOW, "application", app, NULL);
  self->app = app;
  self->settings = g_object_ref (hl_application_get_settings (app));
  self->open_time = g_get_monotonic_time ();

  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  g_settings_bind (self->settings, "opacity", self->opacity_adjustment, "value",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "threshold", self->threshold_adjustment, "value",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "colormap", self->colormap_combo, "active-id",
                   G_SETTINGS_BIND_DEFAULT);
  read_style (self);
  g_signal_connect (self->settings, "changed::colormap", G_CALLBACK (style_setting_changed), self);
  g_signal_connect (self->settings, "changed::opacity", G_CALLBACK (style_setting_changed), self);
  g_signal_connect (self->settings, "changed::threshold", G_CALLBACK (style_setting_changed), self);
  g_signal_connect (self->settings, "changed::heatmap-layer", G_CALLBACK (layer_setting_changed),
                    self);
  g_signal_connect_swapped (self->settings, "changed::recent-studies", G_CALLBACK (fill_recent),
                            self);

  gboolean show = g_settings_get_boolean (self->settings, "show-overlay");
  g_action_group_change_action_state (G_ACTION_GROUP (self), "show-overlay",
                                      g_variant_new_boolean (show));

  g_signal_connect_swapped (app, "notify::model", G_CALLBACK (model_changed), self);
  model_changed (self);
  fill_recent (self);
  gtk_stack_set_visible_child_name (self->stack, "welcome");
  return self;
}

HlImageView *
hl_window_get_image_view (HlWindow *self)
{
  g_return_val_if_fail (HL_IS_WINDOW (self), NULL);
  return self->view;
}

HlResult *
hl_window_get_current_result (HlWindow *self)
{
  g_return_val_if_fail (HL_IS_WINDOW (self), NULL);
  StudyItem *item = current_item (self);
  if (item == NULL || self->inference == NULL)
    return NULL;
  return hl_inference_lookup (self->inference, item->path);
}

gboolean
hl_window_get_image_shown (HlWindow *self)
{
  g_return_val_if_fail (HL_IS_WINDOW (self), FALSE);
  return self->image_shown;
}

void
hl_window_select_finding (HlWindow *self, int label)
{
  g_return_if_fail (HL_IS_WINDOW (self));

  if (label < 0)
    {
      gtk_list_box_unselect_all (self->findings_list);
      self->selected_label = -1;
      update_overlay (self);
      return;
    }
  self->selected_label = label;
  g_autoptr (GList) rows = gtk_container_get_children (GTK_CONTAINER (self->findings_list));
  for (GList *l = rows; l != NULL; l = l->next)
    if (GPOINTER_TO_INT (g_object_get_data (l->data, "label")) == label)
      gtk_list_box_select_row (self->findings_list, l->data);
  update_overlay (self);
}

gboolean
hl_window_is_analysing (HlWindow *self)
{
  g_return_val_if_fail (HL_IS_WINDOW (self), FALSE);
  return self->inference != NULL && hl_inference_is_busy (self->inference);
}

const char *
hl_window_get_image_error (HlWindow *self, guint index)
{
  g_return_val_if_fail (HL_IS_WINDOW (self), NULL);
  g_return_val_if_fail (self->items != NULL && index < self->items->len, NULL);
  return ((StudyItem *)g_ptr_array_index (self->items, index))->error;
}

guint
hl_window_get_n_images (HlWindow *self)
{
  g_return_val_if_fail (HL_IS_WINDOW (self), 0);
  return self->items != NULL ? self->items->len : 0;
}
