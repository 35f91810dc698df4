/* test-app-gui.c — runs the real application under a display (Xvfb through xvfb-run) and drives it
 * through the window's public entry points, the ones its actions call after their dialogs:
 * opens ../shared/data/studies/patient-00003140, waits for the findings, checks that the status
 * bar says "Not for diagnostic use" and names the model, that the weak labels carry their badge
 * and that the current thumbnail is in sight, selects a finding and checks that the heatmap
 * changed the rendered pixels, that an earlier heatmap layer changes them again and that hiding
 * it restores the original, exports the report and checks the files; with an earlier Layer
 * chosen, the exported page's heatmap and caption are the ones render draws from that layer's map
 * (whether the export computes it or takes the view's), not the last feature map's; a study with
 * a corrupt file shows the error on that thumbnail and analyses the rest, and a folder without
 * images then empties the strip; without a model the window says so, naming the places the
 * default model was looked for, and the default model is used when one is there; the model
 * dialog shows the model card beside the model file.
 *
 * Times from launch to the first image on screen and to its first findings are printed as TAP
 * comments (the model is a tiny random one: the numbers show the mechanism, not DenseNet-121).
 *
 * `test-app-gui --write-model FILE` only writes that random model, for trying the viewer.
 * HL_SCREENSHOT_DIR=DIR saves a screenshot of the window at each step there.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "hl-colormap.h"
#include "hl-image.h"
#include "hl-model-dialog.h"
#include "hl-report.h"
#include "hl-test-app-model.h"
#include "hl-test-png.h"
#include "hl-roc-view.h"
#include "hl-test-bound.h"
#include "hl-train.h"
#include "hl-window.h"

#define STUDY "patient-00003140"
#define WAIT_SECONDS 120

typedef struct
{
  HlApplication *app;
  HlWindow *window;
  GMainLoop *loop;
  gint64 t0;
  double first_image_s, first_findings_s;
  char *tmp;
  char *study;
  char **exported;
  GError *export_error;
  gboolean export_done;
  cairo_surface_t *last_overlay; /* the view with the last feature map's heatmap */
} Fixture;

static char *model_path;

/* The sanitizers read these when the test is built with -Db_sanitize=address. GLib's first quark
 * table, allocated by its library constructor before main, is dropped on purpose when GTK's
 * quarks outgrow it (readers are lock-free); the full unwinder lets the suppression see _dl_init
 * in that allocation's stack. */
const char *__asan_default_options (void);
const char *
__asan_default_options (void)
{
  return "fast_unwind_on_malloc=0";
}

const char *__lsan_default_suppressions (void);
const char *
__lsan_default_suppressions (void)
{
  return "leak:_dl_init\n";
}

/* ---- helpers -------------------------------------------------------------------------------- */

static gboolean
wait_timeout (gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the main loop until @cond (@data) holds or WAIT_SECONDS pass. */
static gboolean
wait_for (gboolean (*cond) (Fixture *), Fixture *f)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add_seconds (WAIT_SECONDS, wait_timeout, &expired);
  while (!cond (f) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return cond (f);
}

static void
settle (void)
{
  /* Let pending resizes and redraws happen. */
  for (int i = 0; i < 5; i++)
    {
      gboolean done = FALSE;
      g_timeout_add (40, wait_timeout, &done);
      while (!done)
        g_main_context_iteration (NULL, TRUE);
    }
}

/* Renders @widget as it appears into a new image surface. */
static cairo_surface_t *
render_widget (GtkWidget *widget)
{
  int w = gtk_widget_get_allocated_width (widget), h = gtk_widget_get_allocated_height (widget);
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, w, h);
  cairo_t *cr = cairo_create (s);
  gtk_widget_draw (widget, cr);
  cairo_destroy (cr);
  cairo_surface_flush (s);
  return s;
}

/* Fraction of pixels that differ between two same-sized surfaces. */
static double
fraction_changed (cairo_surface_t *a, cairo_surface_t *b)
{
  int w = cairo_image_surface_get_width (a), h = cairo_image_surface_get_height (a);
  g_assert_cmpint (w, ==, cairo_image_surface_get_width (b));
  g_assert_cmpint (h, ==, cairo_image_surface_get_height (b));
  int sa = cairo_image_surface_get_stride (a), sb = cairo_image_surface_get_stride (b);
  const guint8 *da = cairo_image_surface_get_data (a), *db = cairo_image_surface_get_data (b);
  gsize changed = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      changed += memcmp (da + y * sa + 4 * x, db + y * sb + 4 * x, 4) != 0;
  return (double)changed / ((double)w * h);
}

/* Saves @widget as HL_SCREENSHOT_DIR/@name.png when that variable is set. */
static void
screenshot_widget (GtkWidget *widget, const char *name)
{
  const char *dir = g_getenv ("HL_SCREENSHOT_DIR");
  if (dir == NULL)
    return;
  settle ();
  cairo_surface_t *s = render_widget (widget);
  g_autofree char *file = g_strdup_printf ("%s/%s.png", dir, name);
  g_assert_cmpint (cairo_surface_write_to_png (s, file), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy (s);
  g_test_message ("screenshot %s", file);
}

static void
screenshot (Fixture *f, const char *name)
{
  screenshot_widget (GTK_WIDGET (f->window), name);
}

/* Activates action @action of @group and returns the new window of @type it opened (lent). */
static GtkWidget *
open_dialog (GActionGroup *group, const char *action, GType type)
{
  g_action_group_activate_action (group, action, NULL);
  settle ();
  GtkWidget *dialog = NULL;
  g_autoptr (GList) toplevels = gtk_window_list_toplevels ();
  for (GList *l = toplevels; l != NULL; l = l->next)
    if (G_TYPE_CHECK_INSTANCE_TYPE (l->data, type) && gtk_widget_get_visible (l->data))
      dialog = l->data;
  g_assert_nonnull (dialog);
  return dialog;
}

/* Activates window action @action, checks that it opened a new window of @type, screenshots and
 * closes it. */
static void
check_dialog (Fixture *f, GActionGroup *group, const char *action, GType type, const char *name)
{
  GtkWidget *dialog = open_dialog (group, action, type);
  screenshot_widget (dialog, name);
  gtk_widget_destroy (dialog);
}

/* How many visible widgets under @widget (itself included) carry style class @class; the first
 * in @first when it is not NULL. */
static guint
count_styled (GtkWidget *widget, const char *class, GtkWidget **first)
{
  if (!gtk_widget_get_visible (widget))
    return 0;
  guint n = 0;
  if (gtk_style_context_has_class (gtk_widget_get_style_context (widget), class))
    {
      if (first != NULL && *first == NULL)
        *first = widget;
      n++;
    }
  if (GTK_IS_CONTAINER (widget))
    {
      g_autoptr (GList) children = gtk_container_get_children (GTK_CONTAINER (widget));
      for (GList *l = children; l != NULL; l = l->next)
        n += count_styled (l->data, class, first);
    }
  return n;
}

/* The first visible widget under @widget (itself included) with style class @class, or NULL. */
static GtkWidget *
find_styled (GtkWidget *widget, const char *class)
{
  GtkWidget *first = NULL;
  count_styled (widget, class, &first);
  return first;
}

/* The first visible label under @widget whose text starts with @prefix, or NULL. */
static GtkLabel *
find_label (GtkWidget *widget, const char *prefix)
{
  if (!gtk_widget_get_visible (widget))
    return NULL;
  if (GTK_IS_LABEL (widget) && g_str_has_prefix (gtk_label_get_text (GTK_LABEL (widget)), prefix))
    return GTK_LABEL (widget);
  if (!GTK_IS_CONTAINER (widget))
    return NULL;
  g_autoptr (GList) children = gtk_container_get_children (GTK_CONTAINER (widget));
  GtkLabel *found = NULL;
  for (GList *l = children; l != NULL && found == NULL; l = l->next)
    found = find_label (l->data, prefix);
  return found;
}

static gboolean
image_shown (Fixture *f)
{
  if (f->first_image_s < 0 && hl_window_get_image_shown (f->window))
    f->first_image_s = (g_get_monotonic_time () - f->t0) / 1e6;
  return hl_window_get_image_shown (f->window);
}

static gboolean
findings_known (Fixture *f)
{
  image_shown (f);
  gboolean known = hl_window_get_current_result (f->window) != NULL;
  if (known && f->first_findings_s < 0)
    f->first_findings_s = (g_get_monotonic_time () - f->t0) / 1e6;
  return known && image_shown (f);
}

/* Starts the application the way `hilum ARGS` does, but without a D-Bus name (so tests can run
 * side by side), and returns once its window exists. */
static void
launch (Fixture *f, const char *const *files)
{
  f->t0 = g_get_monotonic_time ();
  f->first_image_s = f->first_findings_s = -1;
  f->app = hl_application_new ();
  g_application_set_flags (G_APPLICATION (f->app),
                           G_APPLICATION_HANDLES_OPEN | G_APPLICATION_NON_UNIQUE);
  g_autoptr (GError) error = NULL;
  g_assert_true (g_application_register (G_APPLICATION (f->app), NULL, &error));
  g_assert_no_error (error);
  if (files == NULL)
    g_application_activate (G_APPLICATION (f->app));
  else
    {
      guint n = g_strv_length ((char **)files);
      g_autoptr (GPtrArray) gfiles = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint i = 0; i < n; i++)
        g_ptr_array_add (gfiles, g_file_new_for_path (files[i]));
      g_application_open (G_APPLICATION (f->app), (GFile **)gfiles->pdata, n, "");
    }
  f->window = HL_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (f->app)));
  g_assert_nonnull (f->window);
}

static void
quit (Fixture *f)
{
  g_action_group_activate_action (G_ACTION_GROUP (f->app), "quit", NULL);
  settle ();
  g_assert_null (gtk_application_get_active_window (GTK_APPLICATION (f->app)));
  g_clear_object (&f->app);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->tmp = hl_test_make_tmp_dir ("hilum-gui-XXXXXX");
  f->study = g_build_filename (g_getenv ("HL_SHARED_DATA"), "studies", STUDY, NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  hl_test_remove_tree (f->tmp);
  g_free (f->tmp);
  g_free (f->study);
  g_strfreev (f->exported);
  g_clear_error (&f->export_error);
}

/* ---- the study ------------------------------------------------------------------------------ */

static void
export_done (GObject *source, GAsyncResult *res, gpointer data)
{
  Fixture *f = data;
  f->exported = hl_window_export_finish (HL_WINDOW (source), res, &f->export_error);
  f->export_done = TRUE;
}

static gboolean
export_finished (Fixture *f)
{
  return f->export_done;
}

static gboolean
prior_shown (Fixture *f)
{
  return hl_image_view_get_image (hl_window_get_prior_view (f->window)) != NULL;
}

static int
top_label (const HlResult *r)
{
  int best = 0;
  for (int l = 1; l < r->n_labels; l++)
    if (r->probs[l] > r->probs[best])
      best = l;
  return best;
}

/* Launches the application on the shared study with the random model; FALSE (the test skipped)
 * when the study is absent. */
static gboolean
launch_shared_study (Fixture *f)
{
  if (!g_file_test (f->study, G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("the shared study " STUDY " is absent (set HL_SHARED_DATA)");
      return FALSE;
    }
  g_setenv ("HILUM_MODEL", model_path, TRUE);
  const char *files[] = { f->study, NULL };
  launch (f, files);
  return TRUE;
}

static void
test_study (Fixture *f, gconstpointer data)
{
  if (!launch_shared_study (f))
    return;
  gtk_window_resize (GTK_WINDOW (f->window), 1400, 900);

  g_assert_true (wait_for (findings_known, f));
  g_test_message ("launch -> first image on screen: %.3f s; -> its first findings: %.3f s "
                  "(tiny random model)",
                  f->first_image_s, f->first_findings_s);
  g_assert_cmpuint (hl_window_get_n_images (f->window), ==, 12);
  HlResult *r = hl_window_get_current_result (f->window);
  g_assert_cmpint (r->n_labels, ==, 14);
  /* The newest image of the patient is shown first. */
  g_assert_true (g_str_has_suffix (r->path, "00003140_017.png"));
  settle ();
  screenshot (f, "study");
  /* Every score on screen says which model made it and that it is not a diagnosis; the two
   * labels with a validation AUROC below 0.7 carry the weak badge. */
  g_assert_nonnull (find_label (GTK_WIDGET (f->window), "Not for diagnostic use"));
  g_assert_nonnull (find_label (GTK_WIDGET (f->window), "Model: hilum-test-random 0"));
  g_assert_cmpuint (count_styled (GTK_WIDGET (f->window), "weak-badge", NULL), ==, 2);
  /* Its thumbnail, the last of twelve in a strip too narrow for all, is scrolled into sight. */
  GtkWidget *strip = find_styled (GTK_WIDGET (f->window), "thumb-strip");
  g_assert_nonnull (strip);
  GtkWidget *current = find_styled (strip, "current");
  g_assert_nonnull (current);
  GtkAdjustment *hadj = gtk_scrolled_window_get_hadjustment (GTK_SCROLLED_WINDOW (strip));
  double left = gtk_adjustment_get_value (hadj);
  double right = left + gtk_adjustment_get_page_size (hadj);
  GtkAllocation thumb;
  gtk_widget_get_allocation (current, &thumb);
  g_assert_cmpfloat (gtk_adjustment_get_upper (hadj), >, right - left);
  g_assert_cmpfloat (thumb.x, >=, left);
  g_assert_cmpfloat (thumb.x + thumb.width, <=, right);

  HlImageView *view = hl_window_get_image_view (f->window);
  cairo_surface_t *before = render_widget (GTK_WIDGET (view));
  hl_window_select_finding (f->window, top_label (r));
  settle ();
  cairo_surface_t *with_overlay = render_widget (GTK_WIDGET (view));
  double changed = fraction_changed (before, with_overlay);
  g_test_message ("the heatmap changed %.1f%% of the view's pixels", changed * 100);
  g_assert_cmpfloat (changed, >, 0.02);
  screenshot (f, "heatmap");

  /* An earlier layer (the setting behind the Layer choice): a finer map, computed in the
   * background, replaces the heatmap; back at the last feature map the view is as before. */
  GSettings *settings = hl_application_get_settings (f->app);
  g_settings_set_string (settings, "heatmap-layer", "denseblock1");
  double layer_changed = 0.0;
  for (gint64 end = g_get_monotonic_time () + WAIT_SECONDS * G_USEC_PER_SEC;
       layer_changed == 0.0 && g_get_monotonic_time () < end;)
    {
      settle ();
      cairo_surface_t *layer_overlay = render_widget (GTK_WIDGET (view));
      layer_changed = fraction_changed (with_overlay, layer_overlay);
      cairo_surface_destroy (layer_overlay);
    }
  g_test_message ("the denseblock1 heatmap changed %.1f%% of the view's pixels",
                  layer_changed * 100);
  g_assert_cmpfloat (layer_changed, >, 0.0);
  screenshot (f, "heatmap-denseblock1");
  g_settings_reset (settings, "heatmap-layer");
  settle ();
  cairo_surface_t *last_again = render_widget (GTK_WIDGET (view));
  g_assert_cmpfloat (fraction_changed (with_overlay, last_again), ==, 0.0);
  cairo_surface_destroy (last_again);

  /* One key hides it: the view is back to the original. */
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "show-overlay", NULL);
  g_assert_false (hl_image_view_get_overlay_visible (view));
  settle ();
  cairo_surface_t *hidden = render_widget (GTK_WIDGET (view));
  g_assert_cmpfloat (fraction_changed (before, hidden), ==, 0.0);
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "show-overlay", NULL);
  hl_window_select_finding (f->window, -1);
  cairo_surface_destroy (with_overlay);
  cairo_surface_destroy (hidden);

  /* The view's keyboard actions. Zooming in multiplies the scale by 1.25 in double, the same
   * one rounding as here; fitting again is the same division for the same sizes: bit for bit. */
  HlViewTransform fit, t;
  hl_image_view_get_transform (view, &fit);
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "zoom-in", NULL);
  hl_image_view_get_transform (view, &t);
  g_assert_cmpfloat (t.scale, ==, fit.scale * 1.25);
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "zoom-1to1", NULL);
  hl_image_view_get_transform (view, &t);
  g_assert_cmpfloat (t.scale, ==, 1.0);
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "zoom-fit", NULL);
  hl_image_view_get_transform (view, &t);
  g_assert_cmpfloat (t.scale, ==, fit.scale);

  /* The wheel zooms about the pointer: the image point under it stays there (from 1:1, where
   * the image overflows the view and no edge needs clamping). */
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "zoom-1to1", NULL);
  hl_image_view_get_transform (view, &t);
  double ix, iy, jx, jy;
  hl_view_transform_to_image (&t, 200, 150, &ix, &iy);
  GdkEvent *scroll = gdk_event_new (GDK_SCROLL);
  scroll->scroll.window = g_object_ref (gtk_widget_get_window (GTK_WIDGET (view)));
  scroll->scroll.direction = GDK_SCROLL_UP;
  scroll->scroll.x = 200;
  scroll->scroll.y = 150;
  gdk_event_set_device (
      scroll, gdk_seat_get_pointer (gdk_display_get_default_seat (gdk_display_get_default ())));
  gtk_widget_event (GTK_WIDGET (view), scroll);
  gdk_event_free (scroll);
  hl_image_view_get_transform (view, &t);
  /* pow (1.25, 1) is 1.25 in any libm within an ulp, times 1.0: exact */
  g_assert_cmpfloat (t.scale, ==, 1.25);
  hl_view_transform_to_image (&t, 200, 150, &jx, &jy);
  /* The view computed the same (ix, iy) from the same transform, then offset = 200 - ix s
   * (two double roundings), and to_image gives (200 - offset) / s (two more): |jx - ix| <=
   * 2^-53 (3 |ix| + |offset| / s) to first order, within 4 2^-53 (|ix| + |offset| / s). */
  hl_test_assert_close ("wheel zoom: x under the pointer", jx, ix,
                        4 * HL_TEST_U_DOUBLE * (fabs (ix) + fabs (t.offset_x) / t.scale));
  hl_test_assert_close ("wheel zoom: y under the pointer", jy, iy,
                        4 * HL_TEST_U_DOUBLE * (fabs (iy) + fabs (t.offset_y) / t.scale));
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "zoom-fit", NULL);
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "invert", NULL);
  g_assert_true (hl_image_view_get_invert (view));
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "wl-preset",
                                  g_variant_new_string ("lung"));
  HlWindowLevel wl;
  hl_image_view_get_window_level (view, &wl);
  g_assert_cmpfloat (wl.width, <, 1.0);
  g_assert_true (wl.invert);
  settle ();
  screenshot (f, "inverted");
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "reset-view", NULL);
  hl_image_view_get_window_level (view, &wl);
  g_assert_false (wl.invert);
  g_assert_cmpfloat (wl.width, ==, 1.0);
  settle ();
  cairo_surface_t *reset = render_widget (GTK_WIDGET (view));
  g_assert_cmpfloat (fraction_changed (before, reset), ==, 0.0);
  cairo_surface_destroy (reset);
  cairo_surface_destroy (before);

  /* Previous image: the queue works through the study, so its findings arrive too. */
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "previous-image", NULL);
  g_assert_true (wait_for (findings_known, f));
  g_assert_true (
      g_str_has_suffix (hl_window_get_current_result (f->window)->path, "00003140_016.png"));

  /* Export the report of the image on screen. */
  g_autoptr (GFile) folder = g_file_new_for_path (f->tmp);
  hl_window_export_async (f->window, HL_EXPORT_CURRENT_IMAGE, folder, NULL, export_done, f);
  g_assert_true (wait_for (export_finished, f));
  g_assert_no_error (f->export_error);
  g_assert_cmpuint (g_strv_length (f->exported), ==, 3);
  g_autofree char *png = g_build_filename (f->tmp, "00003140_016-report.png", NULL);
  g_assert_cmpstr (f->exported[0], ==, png);
  cairo_surface_t *page = cairo_image_surface_create_from_png (png);
  g_assert_cmpint (cairo_surface_status (page), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (page), ==, 1190);
  g_assert_cmpint (cairo_image_surface_get_height (page), ==, 1684);
  /* A page with an X-ray on it, not a blank one: many distinct grey levels. */
  cairo_surface_flush (page);
  gboolean seen[256] = { FALSE };
  int levels = 0;
  const guint8 *d = cairo_image_surface_get_data (page);
  int stride = cairo_image_surface_get_stride (page);
  for (int y = 0; y < 1684; y += 3)
    for (int x = 0; x < 1190; x += 3)
      {
        guint8 g = d[y * stride + 4 * x + 1];
        levels += !seen[g];
        seen[g] = TRUE;
      }
  g_assert_cmpint (levels, >, 100);
  cairo_surface_destroy (page);
  g_autofree char *csv = NULL;
  g_autofree char *csv_path = g_build_filename (f->tmp, "hilum-scores.csv", NULL);
  g_assert_true (g_file_get_contents (csv_path, &csv, NULL, NULL));
  g_assert_true (g_str_has_prefix (csv, "Image,Atelectasis,"));
  g_assert_nonnull (strstr (csv, "\n00003140_016.png,"));
  g_autofree char *json_path = g_build_filename (f->tmp, "hilum-scores.json", NULL);
  g_assert_true (g_file_test (json_path, G_FILE_TEST_IS_REGULAR));
  screenshot (f, "exported");

  /* Compare with prior: the image before it of the same patient, beside it and in step. */
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "compare", NULL);
  g_assert_true (wait_for (prior_shown, f));
  HlImageView *prior = hl_window_get_prior_view (f->window);
  g_assert_true (g_str_has_suffix (hl_image_view_get_image (prior)->path, "00003140_015.png"));
  settle ();
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "zoom-in", NULL);
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "invert", NULL);
  HlViewLink a, b;
  HlViewTransform tb;
  g_assert_true (hl_image_view_get_link (view, &a));
  g_assert_true (hl_image_view_get_link (prior, &b));
  hl_image_view_get_transform (prior, &tb);
  /* The zoom is fl (fl (fit 1.25) / fit): two double roundings, gamma_2 (double) of 1.25; the
   * prior's is fl (fl (a.zoom fit') / fit'), gamma_2 of a.zoom. Its centre: set_link puts the
   * offset at vw / 2 - cx w s (three roundings, two of them on cx w s), get_link reads
   * ((vw / 2 - offset) / s) / w back (three more): |b.cx - a.cx| <= 2^-53 (5 |cx| +
   * |offset| / (s w)) to first order, within 6 2^-53 (|cx| + |offset| / (s w)). */
  double gamma2 = 2 * HL_TEST_U_DOUBLE / (1 - 2 * HL_TEST_U_DOUBLE);
  double prior_w = tb.scale * hl_image_view_get_image (prior)->width;
  double prior_h = tb.scale * hl_image_view_get_image (prior)->height;
  hl_test_assert_close ("linked zoom", a.zoom, 1.25, gamma2 * 1.25);
  hl_test_assert_close ("prior's zoom", b.zoom, a.zoom, gamma2 * a.zoom);
  hl_test_assert_close ("prior's centre x", b.cx, a.cx,
                        6 * HL_TEST_U_DOUBLE * (fabs (a.cx) + fabs (tb.offset_x) / prior_w));
  hl_test_assert_close ("prior's centre y", b.cy, a.cy,
                        6 * HL_TEST_U_DOUBLE * (fabs (a.cy) + fabs (tb.offset_y) / prior_h));
  g_assert_true (hl_image_view_get_invert (prior));
  screenshot (f, "compare");
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "reset-view", NULL);
  g_assert_false (hl_image_view_get_invert (prior));
  g_assert_true (hl_image_view_get_fitting (prior));
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "compare", NULL);
  g_assert_false (gtk_widget_get_visible (gtk_widget_get_parent (GTK_WIDGET (prior))));

  quit (f);
}

/* ---- the exported heatmap's layer ---------------------------------------------------------- */

/* The page's main image and its heatmap caption, in pixels of a page written at scale 2. */
#define BOX_X0 (2 * (int)HL_REPORT_IMAGE_X)
#define BOX_X1 (2 * (int)(HL_REPORT_IMAGE_X + HL_REPORT_IMAGE_SIDE))
#define BOX_Y0 (2 * (int)HL_REPORT_IMAGE_Y)
#define BOX_Y1 (2 * (int)(HL_REPORT_IMAGE_Y + HL_REPORT_IMAGE_SIDE + 18))

/* Fraction of the pixels of the image box and caption where two pages differ by more than 2 in
 * a channel (the maps of two computations may differ in their last bits). */
static double
box_changed (cairo_surface_t *a, cairo_surface_t *b)
{
  cairo_surface_flush (a);
  cairo_surface_flush (b);
  int sa = cairo_image_surface_get_stride (a), sb = cairo_image_surface_get_stride (b);
  const guint8 *da = cairo_image_surface_get_data (a), *db = cairo_image_surface_get_data (b);
  gsize changed = 0;
  for (int y = BOX_Y0; y < BOX_Y1; y++)
    for (int x = BOX_X0; x < BOX_X1; x++)
      {
        gboolean differs = FALSE;
        for (int c = 0; c < 3; c++)
          differs |= ABS (da[y * sa + 4 * x + c] - db[y * sb + 4 * x + c]) > 2;
        changed += differs;
      }
  return (double)changed / ((double)(BOX_X1 - BOX_X0) * (BOX_Y1 - BOX_Y0));
}

static cairo_surface_t *
load_page (const char *path)
{
  cairo_surface_t *page = cairo_image_surface_create_from_png (path);
  g_assert_cmpint (cairo_surface_status (page), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (page), ==, 1190);
  g_assert_cmpint (cairo_image_surface_get_height (page), ==, 1684);
  return page;
}

/* Exports the report of the image on screen into the new folder @name under f->tmp and loads
 * its page. */
static cairo_surface_t *
export_page (Fixture *f, const char *name)
{
  g_autofree char *out = g_build_filename (f->tmp, name, NULL);
  g_assert_cmpint (g_mkdir (out, 0755), ==, 0);
  g_autoptr (GFile) folder = g_file_new_for_path (out);
  g_clear_pointer (&f->exported, g_strfreev);
  f->export_done = FALSE;
  hl_window_export_async (f->window, HL_EXPORT_CURRENT_IMAGE, folder, NULL, export_done, f);
  g_assert_true (wait_for (export_finished, f));
  g_assert_no_error (f->export_error);
  return load_page (f->exported[0]);
}

/* Writes with render's report page, independently of the viewer, the page of @r's image with
 * @label's heatmap from @maps (n_labels, map_h, map_w) captioned at @layer, in the style of the
 * settings, and loads it. */
static cairo_surface_t *
reference_page (Fixture *f, const HlResult *r, int label, const float *maps, int map_h, int map_w,
                const char *layer)
{
  HlModel *model = hl_application_get_model (f->app);
  const HlModelInfo *info = hl_model_get_info (model);
  GSettings *settings = hl_application_get_settings (f->app);
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = hl_image_load (r->path, &error);
  g_assert_no_error (error);
  g_autofree HlReportFinding *findings = g_new0 (HlReportFinding, r->n_labels);
  for (int l = 0; l < r->n_labels; l++)
    {
      findings[l].label = info->labels[l];
      findings[l].score = r->probs[l];
      findings[l].threshold = info->thresholds[l];
      findings[l].map = maps + (gsize)l * map_h * map_w;
      findings[l].map_h = map_h;
      findings[l].map_w = map_w;
      findings[l].show_map = l == label;
    }
  HlReport report;
  hl_report_init (&report);
  report.pixels = image->pixels;
  report.width = image->width;
  report.height = image->height;
  report.source_path = r->path;
  report.n_findings = r->n_labels;
  report.findings = findings;
  g_autofree char *cmap = g_settings_get_string (settings, "colormap");
  g_assert_true (hl_colormap_from_name (cmap, &report.overlay.cmap));
  report.overlay.opacity = g_settings_get_double (settings, "opacity");
  report.overlay.threshold = g_settings_get_double (settings, "threshold");
  report.heatmap_layer = layer;
  g_autofree char *path = g_build_filename (f->tmp, "reference.png", NULL);
  g_assert_true (hl_report_write_png (&report, path, 2.0, &error));
  g_assert_no_error (error);
  return load_page (path);
}

static gboolean
layer_on_screen (Fixture *f)
{
  settle ();
  cairo_surface_t *now = render_widget (GTK_WIDGET (hl_window_get_image_view (f->window)));
  double changed = fraction_changed (f->last_overlay, now);
  cairo_surface_destroy (now);
  return changed > 0.0;
}

/* The Layer chosen in the viewer is the layer of the exported heatmap: the page's image and
 * caption are the ones render draws from hl_model_gradcam_layer's map at that layer, whether the
 * export computes the map itself or takes the one the view computed, and differ from the page of
 * the last feature map. */
static void
test_export_layer (Fixture *f, gconstpointer data)
{
  if (!launch_shared_study (f))
    return;
  g_assert_true (wait_for (findings_known, f));
  HlResult *r = hl_window_get_current_result (f->window);
  int label = top_label (r);
  hl_window_select_finding (f->window, label);
  settle ();
  HlModel *model = hl_application_get_model (f->app);
  const char *layer = "denseblock1";
  int layer_index = hl_model_gradcam_layer_find (model, layer);
  g_assert_cmpint (layer_index, >=, 0);
  g_assert_cmpint (layer_index, <, hl_model_gradcam_n_layers (model) - 1);

  /* The last feature map's page: the maps of the pass that gave the scores. */
  cairo_surface_t *last = export_page (f, "last");
  cairo_surface_t *last_ref
      = reference_page (f, r, label, r->maps, r->map_h, r->map_w, "last feature map");
  g_assert_cmpfloat (box_changed (last, last_ref), ==, 0.0);

  /* The layer's map, computed here by the engine. */
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = hl_image_load (r->path, &error);
  g_assert_no_error (error);
  g_autofree float *input = g_new (float, hl_model_input_size (model));
  hl_model_preprocess (model, image->pixels, image->height, image->width, input);
  int map_h, map_w;
  g_autofree float *maps
      = hl_model_gradcam_layer (model, input, layer_index, &map_h, &map_w, &error);
  g_assert_no_error (error);
  g_assert_cmpint (map_h, >, r->map_h);
  cairo_surface_t *layer_ref = reference_page (f, r, label, maps, map_h, map_w, layer);
  double vs_last = box_changed (last_ref, layer_ref);
  g_test_message ("the %s page differs from the last feature map's in %.1f%% of the image box",
                  layer, vs_last * 100);
  g_assert_cmpfloat (vs_last, >, 0.01);

  /* Chosen, exported at once: the export computes the map in its thread. */
  f->last_overlay = render_widget (GTK_WIDGET (hl_window_get_image_view (f->window)));
  g_settings_set_string (hl_application_get_settings (f->app), "heatmap-layer", layer);
  cairo_surface_t *computed = export_page (f, "computed");
  g_assert_cmpfloat (box_changed (computed, layer_ref), ==, 0.0);

  /* Once the view shows it, the export takes the view's map. */
  g_assert_true (wait_for (layer_on_screen, f));
  cairo_surface_t *cached = export_page (f, "cached");
  g_assert_cmpfloat (box_changed (cached, layer_ref), ==, 0.0);
  g_settings_reset (hl_application_get_settings (f->app), "heatmap-layer");

  cairo_surface_destroy (f->last_overlay);
  f->last_overlay = NULL;
  cairo_surface_destroy (last);
  cairo_surface_destroy (last_ref);
  cairo_surface_destroy (layer_ref);
  cairo_surface_destroy (computed);
  cairo_surface_destroy (cached);
  quit (f);
}

/* ---- a corrupt file ------------------------------------------------------------------------- */

static gboolean
broken_study_analysed (Fixture *f)
{
  return hl_window_get_n_images (f->window) == 3 && hl_window_get_image_error (f->window, 0) != NULL
         && hl_window_get_current_result (f->window) != NULL;
}

static gboolean
two_files_analysed (Fixture *f)
{
  return hl_window_get_n_images (f->window) == 2
         && hl_window_get_current_result (f->window) != NULL;
}

static gboolean
no_images (Fixture *f)
{
  return hl_window_get_n_images (f->window) == 0;
}

static void
test_broken_file (Fixture *f, gconstpointer data)
{
  g_setenv ("HILUM_MODEL", model_path, TRUE);
  g_autofree char *study = g_build_filename (f->tmp, "study", NULL);
  g_assert_cmpint (g_mkdir (study, 0755), ==, 0);
  g_autofree char *bad = g_build_filename (study, "00000001_000.png", NULL);
  g_autofree char *a = g_build_filename (study, "00000001_001.png", NULL);
  g_autofree char *b = g_build_filename (study, "00000001_002.png", NULL);
  hl_test_png_write_gray8 (a, 256, 256, 1);
  hl_test_png_write_gray8 (b, 256, 256, 2);
  /* a PNG signature, then garbage */
  g_assert_true (g_file_set_contents (bad, "\x89PNG\r\n\x1a\nthis is not a PNG", 24, NULL));

  const char *files[] = { study, NULL };
  launch (f, files);
  g_assert_true (wait_for (broken_study_analysed, f));
  /* The broken file's error is on its thumbnail; the others are fine and analysed. */
  g_assert_nonnull (hl_window_get_image_error (f->window, 0));
  g_assert_null (hl_window_get_image_error (f->window, 1));
  g_assert_null (hl_window_get_image_error (f->window, 2));
  g_assert_true (
      g_str_has_suffix (hl_window_get_current_result (f->window)->path, "00000001_002.png"));
  screenshot (f, "broken");

  /* The whole study exports the images that decode, and nothing over them. */
  g_autofree char *out = g_build_filename (f->tmp, "out", NULL);
  g_assert_cmpint (g_mkdir (out, 0755), ==, 0);
  g_autoptr (GFile) folder = g_file_new_for_path (out);
  hl_window_export_async (f->window, HL_EXPORT_WHOLE_STUDY, folder, NULL, export_done, f);
  g_assert_true (wait_for (export_finished, f));
  g_assert_no_error (f->export_error);
  g_assert_cmpuint (g_strv_length (f->exported), ==, 4);
  g_assert_true (g_str_has_suffix (f->exported[0], "/00000001_001-report.png"));
  g_assert_true (g_str_has_suffix (f->exported[1], "/00000001_002-report.png"));

  /* Closing the study stops everything and shows the welcome page again. */
  g_action_group_activate_action (G_ACTION_GROUP (f->window), "close-study", NULL);
  g_assert_cmpuint (hl_window_get_n_images (f->window), ==, 0);
  g_assert_null (hl_window_get_current_result (f->window));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (f->window), "export-study"));

  /* Files given one by one make a study of just those files. */
  GFile *two[] = { g_file_new_for_path (a), g_file_new_for_path (bad) };
  hl_window_open_files (f->window, two, 2);
  g_object_unref (two[0]);
  g_object_unref (two[1]);
  g_assert_true (wait_for (two_files_analysed, f));
  g_assert_true (
      g_str_has_suffix (hl_window_get_current_result (f->window)->path, "00000001_001.png"));

  /* A folder without images: the strip of the files before is gone. */
  g_autofree char *empty = g_build_filename (f->tmp, "empty", NULL);
  g_assert_cmpint (g_mkdir (empty, 0755), ==, 0);
  g_autoptr (GFile) empty_folder = g_file_new_for_path (empty);
  hl_window_open_files (f->window, &empty_folder, 1);
  g_assert_true (wait_for (no_images, f));
  settle ();
  GtkWidget *strip = find_styled (GTK_WIDGET (f->window), "thumb-strip");
  g_assert_nonnull (strip);
  g_assert_null (find_styled (strip, "thumbnail"));
  quit (f);
}

/* ---- a labelled study ---------------------------------------------------------------------- */

static gboolean
study_analysed (Fixture *f)
{
  return hl_window_get_n_images (f->window) == 4 && hl_window_get_current_result (f->window) != NULL
         && !hl_window_is_analysing (f->window);
}

static void
test_roc (Fixture *f, gconstpointer data)
{
  g_setenv ("HILUM_MODEL", model_path, TRUE);
  g_autofree char *study = g_build_filename (f->tmp, "labelled", NULL);
  g_assert_cmpint (g_mkdir (study, 0755), ==, 0);
  GString *csv = g_string_new ("Image,Atelectasis,Cardiomegaly,Consolidation,Edema,Effusion,"
                               "Emphysema,Fibrosis,Hernia,Infiltration,Mass,Nodule,PatientId,"
                               "Pleural_Thickening,Pneumonia,Pneumothorax\n");
  for (int i = 0; i < 4; i++)
    {
      g_autofree char *name = g_strdup_printf ("0000002%d_000.png", i);
      g_autofree char *path = g_build_filename (study, name, NULL);
      hl_test_png_write_gray8 (path, 128, 128, 10 + i);
      /* every label positive for two of the four images */
      g_string_append_printf (csv, "%s", name);
      for (int l = 0; l < 14; l++)
        g_string_append_printf (csv, l == 10 ? ",%d,2%d" : ",%d", (i + l) % 2, i);
      g_string_append (csv, "\n");
    }
  g_autofree char *csv_path = g_build_filename (study, "labels.csv", NULL);
  g_assert_true (g_file_set_contents (csv_path, csv->str, -1, NULL));
  g_string_free (csv, TRUE);

  const char *files[] = { study, NULL };
  launch (f, files);
  g_assert_true (wait_for (study_analysed, f));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (f->window), "show-roc"));
  check_dialog (f, G_ACTION_GROUP (f->window), "show-roc", HL_TYPE_ROC_WINDOW, "roc");
  quit (f);
}

/* ---- no model ------------------------------------------------------------------------------- */

/* Opens the model dialog and returns the card it shows (NULL: none), closing it again; with a
 * card, screenshots it as model-card. */
static char *
model_dialog_card (Fixture *f)
{
  GtkWidget *dialog = open_dialog (G_ACTION_GROUP (f->window), "model-info", HL_TYPE_MODEL_DIALOG);
  char *card = g_strdup (hl_model_dialog_get_card (HL_MODEL_DIALOG (dialog)));
  if (card != NULL)
    screenshot_widget (dialog, "model-card");
  gtk_widget_destroy (dialog);
  return card;
}

static void
test_no_model (Fixture *f, gconstpointer data)
{
  g_unsetenv ("HILUM_MODEL");
  g_autofree char *defaults = g_build_filename (f->tmp, "defaults", NULL);
  g_autofree char *default_model = g_build_filename (defaults, HL_DEFAULT_MODEL_FILE, NULL);
  g_setenv ("HILUM_MODEL_DIRS", defaults, TRUE);
  launch (f, NULL);
  g_assert_null (hl_application_get_model (f->app));
  g_assert_null (hl_application_get_model_path (f->app));
  g_assert_nonnull (strstr (hl_application_get_model_problem (f->app), default_model));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (f->window), "export-image"));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (f->window), "model-info"));
  screenshot (f, "welcome");

  /* A model chosen in the preferences is loaded at once. */
  GSettings *settings = hl_application_get_settings (f->app);
  g_settings_set_string (settings, "model-file", model_path);
  g_assert_nonnull (hl_application_get_model (f->app));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (f->window), "model-info"));
  check_dialog (f, G_ACTION_GROUP (f->window), "model-info", GTK_TYPE_DIALOG, "model-info");
  g_assert_cmpstr (hl_application_get_model_path (f->app), ==, model_path);
  g_autofree char *no_card = model_dialog_card (f);
  g_assert_null (no_card);
  g_autofree char *card_path = hl_model_card_path (model_path);
  const char *card_text = "# random 1.0\n\nNot for diagnostic use.\n";
  g_assert_true (g_file_set_contents (card_path, card_text, -1, NULL));
  g_autofree char *card = model_dialog_card (f);
  g_assert_cmpstr (card, ==, card_text);
  g_assert_cmpint (g_unlink (card_path), ==, 0);
  check_dialog (f, G_ACTION_GROUP (f->window), "show-help-overlay", GTK_TYPE_SHORTCUTS_WINDOW,
                "shortcuts");
  check_dialog (f, G_ACTION_GROUP (f->app), "preferences", GTK_TYPE_DIALOG, "preferences");
  check_dialog (f, G_ACTION_GROUP (f->app), "about", GTK_TYPE_ABOUT_DIALOG, "about");
  g_settings_set_string (settings, "model-file", "/nonexistent/model.safetensors");
  g_assert_null (hl_application_get_model (f->app));
  g_assert_nonnull (strstr (hl_application_get_model_problem (f->app), "nonexistent"));

  /* No preference: the default model, found where HILUM_MODEL_DIRS says. */
  g_autofree char *contents = NULL;
  gsize size = 0;
  g_assert_true (g_file_get_contents (model_path, &contents, &size, NULL));
  g_assert_cmpint (g_mkdir (defaults, 0755), ==, 0);
  g_assert_true (g_file_set_contents (default_model, contents, (gssize) size, NULL));
  g_settings_reset (settings, "model-file");
  g_assert_nonnull (hl_application_get_model (f->app));
  g_assert_cmpstr (hl_application_get_model_path (f->app), ==, default_model);
  g_unsetenv ("HILUM_MODEL_DIRS");
  quit (f);
}

static void
no_display (void)
{
  g_test_skip ("no display: run under xvfb-run");
}

int
main (int argc, char **argv)
{
  if (argc == 3 && strcmp (argv[1], "--write-model") == 0)
    {
      g_autoptr (GError) error = NULL;
      if (!hl_test_app_model_write (argv[2], &error))
        {
          g_printerr ("%s\n", error->message);
          return 1;
        }
      return 0;
    }

  g_test_init (&argc, &argv, NULL);
  /* Settings in memory, the schema from the build tree: nothing touches the user's own. */
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  /* No accessibility bus in a test session (its bridge also leaks under LeakSanitizer). */
  g_setenv ("NO_AT_BRIDGE", "1", TRUE);
  g_autofree char *schemas = g_build_filename (g_getenv ("HL_BUILD_DIR"), "data", NULL);
  g_setenv ("GSETTINGS_SCHEMA_DIR", schemas, TRUE);
  if (!gtk_init_check (&argc, &argv))
    {
      g_test_add_func ("/app/gui/display", no_display);
      return g_test_run ();
    }

  g_autofree char *dir = g_dir_make_tmp ("hilum-model-XXXXXX", NULL);
  model_path = g_build_filename (dir, "random.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  if (!hl_test_app_model_write (model_path, &error))
    g_error ("%s", error->message);

  g_test_add ("/app/gui/study", Fixture, NULL, fixture_set_up, test_study, fixture_tear_down);
  g_test_add ("/app/gui/export-layer", Fixture, NULL, fixture_set_up, test_export_layer,
              fixture_tear_down);
  g_test_add ("/app/gui/broken-file", Fixture, NULL, fixture_set_up, test_broken_file,
              fixture_tear_down);
  g_test_add ("/app/gui/roc", Fixture, NULL, fixture_set_up, test_roc, fixture_tear_down);
  g_test_add ("/app/gui/no-model", Fixture, NULL, fixture_set_up, test_no_model, fixture_tear_down);
  int status = g_test_run ();
  g_unlink (model_path);
  g_rmdir (dir);
  g_free (model_path);
  return status;
}
