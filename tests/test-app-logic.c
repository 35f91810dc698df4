/* test-app-logic.c — the viewer's logic that needs no display: image <-> widget transforms (fit,
 * zoom about a point, clamping), window/level (range, drag, presets), ranking of findings and
 * their display names, the inference pipeline on a random model, and exports (files,
 * atomicity, refusing to overwrite a source image). */
#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "hl-export.h"
#include "hl-file-write.h"
#include "hl-finding-name.h"
#include "hl-inference.h"
#include "hl-labels.h"
#include "hl-ranking.h"
#include "hl-report.h"
#include "hl-roc-view.h"
#include "hl-test-app-model.h"
#include "hl-test-png.h"
#include "hl-test-bound.h"
#include "hl-train.h"
#include "hl-view-transform.h"
#include "hl-window-level.h"

/* ---- transforms ----------------------------------------------------------------------------- */

static void
test_fit (void)
{
  HlViewTransform t;
  /* Exact: the scales are dyadic (600 / 1024, 200 / 400), so image size times scale, the
   * difference from the view and the halving are exact in double. */
  /* A square image in a wide view: height-bound, centred horizontally. */
  hl_view_transform_fit (&t, 1024, 1024, 800, 600);
  g_assert_cmpfloat (t.scale, ==, 600.0 / 1024);
  g_assert_cmpfloat (t.offset_x, ==, 100.0);
  g_assert_cmpfloat (t.offset_y, ==, 0.0);
  /* A wide image in a tall view: width-bound, centred vertically. */
  hl_view_transform_fit (&t, 400, 100, 200, 300);
  g_assert_cmpfloat (t.scale, ==, 0.5);
  g_assert_cmpfloat (t.offset_x, ==, 0.0);
  g_assert_cmpfloat (t.offset_y, ==, 125.0);
}

static void
test_round_trip (void)
{
  HlViewTransform t = { 1.7, -33.25, 12.5 };
  double ix, iy, wx, wy;
  hl_view_transform_to_image (&t, 100.0, 200.0, &ix, &iy);
  hl_view_transform_to_widget (&t, ix, iy, &wx, &wy);
  /* ix = (100 + 33.25) / 1.7: the same exact sum and one division, equal. Back, ix's rounding
   * and the product's carry gamma_2 of ix s (= 100 - offset), the sum 2^-53 of its inexact
   * result (within gamma_2 ix s of 100). */
  g_assert_cmpfloat (ix, ==, (100.0 + 33.25) / 1.7);
  hl_test_assert_close ("round trip x", wx, 100.0,
                        hl_test_gamma_double (2) * (100.0 + 33.25)
                            + HL_TEST_U_DOUBLE * (100.0 + hl_test_gamma_double (2) * 133.25));
  hl_test_assert_close ("round trip y", wy, 200.0,
                        hl_test_gamma_double (2) * (200.0 - 12.5)
                            + HL_TEST_U_DOUBLE * (200.0 + hl_test_gamma_double (2) * 187.5));
}

static void
test_zoom_keeps_point (void)
{
  HlViewTransform t;
  hl_view_transform_fit (&t, 512, 512, 700, 500);
  double before_x, before_y, after_x, after_y;
  hl_view_transform_to_image (&t, 321.0, 123.0, &before_x, &before_y);
  hl_view_transform_zoom_at (&t, 2.5, 321.0, 123.0);
  hl_view_transform_to_image (&t, 321.0, 123.0, &after_x, &after_y);
  /* The fit is exact (scale 500 / 512, offsets 100 and 0) and so is 2.5 times it. offset = p -
   * i s rounds twice (i s, then the difference); p - offset once more and the division once:
   * gamma_3 of |i| and 2^-53 |offset| / s, itself carried through two roundings. */
  g_assert_cmpfloat (t.scale, ==, 2.5 * 500.0 / 512);
  hl_test_assert_close ("zoom keeps x", after_x, before_x,
                        hl_test_gamma_double (3) * fabs (before_x)
                            + HL_TEST_U_DOUBLE * (1 + hl_test_gamma_double (3)) * fabs (t.offset_x)
                                  / t.scale);
  hl_test_assert_close ("zoom keeps y", after_y, before_y,
                        hl_test_gamma_double (3) * fabs (before_y)
                            + HL_TEST_U_DOUBLE * (1 + hl_test_gamma_double (3)) * fabs (t.offset_y)
                                  / t.scale);

  /* 1:1 about a point, and the scale limits. */
  hl_view_transform_set_scale_at (&t, 1.0, 50, 60);
  g_assert_cmpfloat (t.scale, ==, 1.0);
  hl_view_transform_zoom_at (&t, 1e6, 0, 0);
  g_assert_cmpfloat (t.scale, ==, HL_VIEW_MAX_SCALE);
  hl_view_transform_zoom_at (&t, 1e-9, 0, 0);
  g_assert_cmpfloat (t.scale, ==, HL_VIEW_MIN_SCALE);
}

static void
test_clamp (void)
{
  /* Larger than the view: no gap at either edge. */
  HlViewTransform t = { 2.0, 50.0, -5000.0 };
  hl_view_transform_clamp (&t, 1000, 1000, 800, 600);
  g_assert_cmpfloat (t.offset_x, ==, 0.0);
  g_assert_cmpfloat (t.offset_y, ==, 600.0 - 2000.0);
  /* Smaller than the view: centred whatever the pan. */
  t = (HlViewTransform){ 0.25, 999.0, -999.0 };
  hl_view_transform_clamp (&t, 1000, 400, 800, 600);
  g_assert_cmpfloat (t.offset_x, ==, (800.0 - 250.0) / 2);
  g_assert_cmpfloat (t.offset_y, ==, (600.0 - 100.0) / 2);
}

static void
test_link (void)
{
  /* Zoomed 2x on the upper-left quarter of a 1024 x 1024 image in an 800 x 600 view... */
  HlViewTransform a;
  hl_view_transform_fit (&a, 1024, 1024, 800, 600);
  hl_view_transform_zoom_at (&a, 2.0, 400 - 100, 300 - 75);
  HlViewLink link;
  hl_view_transform_get_link (&a, 1024, 1024, 800, 600, &link);
  /* Scales and zooms are dyadic here (600 / 1024, 640 / 2048 and twice them): their products and
   * quotients are exact. The centres pass through at most 8 double operations on each side,
   * on values that are at most 2 in units of the image's extent (points and offsets lie within
   * twice the image), each rounding by at most 2^-53 of that: 8 2^-53 2 per side. */
  const double centre_bound = 2 * 8 * HL_TEST_U_DOUBLE * 2;
  g_assert_cmpfloat (link.zoom, ==, 2.0);

  /* ...shows the same place of a 2048 x 1536 image in a 640 x 640 view. */
  HlViewTransform b;
  hl_view_transform_set_link (&b, &link, 2048, 1536, 640, 640);
  HlViewTransform fit_b;
  hl_view_transform_fit (&fit_b, 2048, 1536, 640, 640);
  g_assert_cmpfloat (b.scale, ==, 2.0 * fit_b.scale);
  double ax, ay, bx, by;
  hl_view_transform_to_image (&a, 400, 300, &ax, &ay);
  hl_view_transform_to_image (&b, 320, 320, &bx, &by);
  hl_test_assert_close ("linked centre x", ax / 1024, bx / 2048, centre_bound);
  hl_test_assert_close ("linked centre y", ay / 1024, by / 1536, centre_bound);

  /* And back. */
  HlViewLink back;
  hl_view_transform_get_link (&b, 2048, 1536, 640, 640, &back);
  g_assert_cmpfloat (back.zoom, ==, link.zoom);
  hl_test_assert_close ("linked back x", back.cx, link.cx, centre_bound);
  hl_test_assert_close ("linked back y", back.cy, link.cy, centre_bound);
}

/* ---- window/level --------------------------------------------------------------------------- */

static void
test_wl_range (void)
{
  HlWindowLevel wl = { 0.4, 0.2, FALSE };
  double lo, hi;
  hl_window_level_get_range (&wl, &lo, &hi);
  /* the literals 0.4, 0.2 (halved exactly) and the one they are compared with each round by 2^-53
   * of their size, and so does the sum */
  hl_test_assert_close ("window low", lo, 0.3, HL_TEST_U_DOUBLE * (0.4 + 0.1 + 2 * 0.3));
  hl_test_assert_close ("window high", hi, 0.5, HL_TEST_U_DOUBLE * (0.4 + 0.1 + 2 * 0.5));
}

static void
test_wl_drag (void)
{
  HlWindowLevel wl = { 0.5, 1.0, FALSE };
  /* Right widens, down lowers the centre (brighter). */
  /* 100 times the literal 0.001 (its rounding and the product's: 2^-53 0.1 each), one sum and
   * the literal compared with (2^-53 of the result each); 0 times it leaves 0.5 exact */
  hl_window_level_drag (&wl, 100, 0, 0.001);
  hl_test_assert_close ("drag right", wl.width, 1.1, HL_TEST_U_DOUBLE * (0.2 + 2 * 1.1));
  g_assert_cmpfloat (wl.center, ==, 0.5);
  hl_window_level_drag (&wl, 0, 100, 0.001);
  hl_test_assert_close ("drag down", wl.center, 0.4, HL_TEST_U_DOUBLE * (0.2 + 2 * 0.4));
  /* Clamped: never narrower than the minimum, centre within [0, 1]. */
  hl_window_level_drag (&wl, -1e6, -1e6, 0.001);
  g_assert_cmpfloat (wl.width, ==, HL_WL_MIN_WIDTH);
  g_assert_cmpfloat (wl.center, ==, 1.0);
  g_assert_false (wl.invert);
}

/* Value @i of test_wl_presets's ramp of @n floats over [0.2, 0.6], rounded to float as stored. */
static float
ramp_value (gsize i, gsize n)
{
  return 0.2f + 0.4f * i / (n - 1);
}

static void
test_wl_presets (void)
{
  HlWindowLevel wl = { 0.1, 0.1, TRUE };
  hl_window_level_set_preset (&wl, HL_WL_PRESET_FULL, NULL, 0);
  g_assert_cmpfloat (wl.center, ==, 0.5);
  g_assert_cmpfloat (wl.width, ==, 1.0);
  g_assert_true (wl.invert); /* presets keep the inversion */

  /* Automatic: the 1st..99th percentiles of a ramp over [0.2, 0.6]. */
  gsize n = 10001;
  g_autofree float *px = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    px[(i * 7919) % n] = ramp_value (i, n);
  hl_window_level_set_preset (&wl, HL_WL_PRESET_AUTO, px, n);
  double lo, hi;
  hl_window_level_get_range (&wl, &lo, &hi);
  /* Exact order statistics (no histogram: 10001 values are sampled with stride 1): the sorted
   * values 100 and 9900, the ramp being increasing. Centre and width are (lo + hi) / 2 and hi -
   * lo of two floats, exact in double, and so is centre -+ width / 2. */
  g_assert_cmpfloat (lo, ==, ramp_value (100, n));
  g_assert_cmpfloat (hi, ==, ramp_value (n - 1 - 100, n));

  for (int p = 0; p < HL_WL_N_PRESETS; p++)
    {
      hl_window_level_set_preset (&wl, p, px, n);
      g_assert_cmpfloat (wl.width, >=, HL_WL_MIN_WIDTH);
    }
}

/* ---- ranking -------------------------------------------------------------------------------- */

/* Untranslated (the tests run in the C locale): ChestX-ray14 labels and any other label are shown
 * with spaces for underscores. */
static void
test_finding_name (void)
{
  g_autofree char *edema = hl_finding_name_dup ("Edema");
  g_assert_cmpstr (edema, ==, "Edema");
  g_autofree char *thickening = hl_finding_name_dup ("Pleural_Thickening");
  g_assert_cmpstr (thickening, ==, "Pleural Thickening");
  g_autofree char *other = hl_finding_name_dup ("Lung_Lesion");
  g_assert_cmpstr (other, ==, "Lung Lesion");
}

static void
test_ranking (void)
{
  float scores[] = { 0.10f, 0.80f, 0.35f, 0.80f, NAN };
  float thresholds[] = { 0.05f, 0.9f, 0.3f, 0.5f, 0.5f };
  float auroc[] = { 0.9f, 0.65f, NAN, 0.7f, 0.5f };
  HlRankedFinding out[5];
  hl_rank_findings (scores, thresholds, auroc, 5, HL_REPORT_WEAK_AUROC, out);
  /* Highest first; ties in label order; NaN counts as 0. */
  int expected[] = { 1, 3, 2, 0, 4 };
  for (int i = 0; i < 5; i++)
    g_assert_cmpint (out[i].label, ==, expected[i]);
  g_assert_false (out[0].positive); /* 0.80 < 0.9 */
  g_assert_true (out[1].positive);
  g_assert_true (out[2].positive);
  g_assert_true (out[3].positive);
  g_assert_false (out[4].positive);
  g_assert_true (out[0].weak);  /* 0.65 */
  g_assert_false (out[1].weak); /* 0.7 is not below the limit */
  g_assert_false (out[2].weak); /* unknown is not weak */
  g_assert_true (out[4].weak);
  g_assert_cmpfloat (out[4].score, ==, 0.0f);

  /* Without AUROCs nothing is weak. */
  hl_rank_findings (scores, thresholds, NULL, 5, HL_REPORT_WEAK_AUROC, out);
  for (int i = 0; i < 5; i++)
    g_assert_false (out[i].weak);
}

/* ---- inference and export ------------------------------------------------------------------- */

typedef struct
{
  char *dir;
  char *model_path;
  HlModel *model;
  char *image;
} Files;

static void
files_set_up (Files *f, gconstpointer data)
{
  f->dir = hl_test_make_tmp_dir ("hilum-app-XXXXXX");
  f->model_path = g_build_filename (f->dir, "model.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (hl_test_app_model_write (f->model_path, &error));
  g_assert_no_error (error);
  f->model = hl_model_new_from_file (f->model_path, &error);
  g_assert_no_error (error);
  f->image = g_build_filename (f->dir, "00000042_000.png", NULL);
  hl_test_png_write_gray8 (f->image, 200, 160, 1);
}

static void
files_tear_down (Files *f, gconstpointer data)
{
  hl_test_remove_tree (f->dir);
  hl_model_unref (f->model);
  g_free (f->dir);
  g_free (f->model_path);
  g_free (f->image);
}

static void
test_result_compute (Files *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlResult) r = hl_result_compute (f->model, f->image, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (r->n_labels, ==, 14);
  g_assert_cmpint (r->map_h, >, 0);
  for (int l = 0; l < 14; l++)
    g_assert_true (r->probs[l] > 0.0f && r->probs[l] < 1.0f);
  for (int i = 0; i < 14 * r->map_h * r->map_w; i++)
    g_assert_cmpfloat (r->maps[i], >=, 0.0f); /* Grad-CAM is ReLU'd */

  /* Cancelled before it starts: a cancellation error, no result. */
  g_autoptr (GCancellable) c = g_cancellable_new ();
  g_cancellable_cancel (c);
  g_autoptr (GError) cancel_error = NULL;
  g_assert_null (hl_result_compute (f->model, f->image, NULL, NULL, c, &cancel_error));
  g_assert_nonnull (cancel_error);

  /* A file that is not an image. */
  g_autoptr (GError) bad_error = NULL;
  g_assert_null (hl_result_compute (f->model, f->model_path, NULL, NULL, NULL, &bad_error));
  g_assert_nonnull (bad_error);
}

static void
count_finished (HlInference *inference, const char *path, GPtrArray *seen)
{
  g_ptr_array_add (seen, g_strdup (path));
}

static void
test_inference_queue (Files *f, gconstpointer data)
{
  g_autofree char *second = g_build_filename (f->dir, "00000042_001.png", NULL);
  hl_test_png_write_gray8 (second, 200, 160, 2);
  g_autofree char *missing = g_build_filename (f->dir, "missing.png", NULL);
  g_autoptr (HlInference) inference = hl_inference_new (f->model);
  g_autoptr (GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (inference, "finished", G_CALLBACK (count_finished), seen);

  const char *queue[] = { f->image, missing, second, NULL };
  hl_inference_set_queue (inference, queue);
  /* The image on screen jumps the queue. */
  hl_inference_prioritize (inference, second);
  while (hl_inference_is_busy (inference))
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (seen->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (seen, 0), ==, f->image); /* already running */
  g_assert_cmpstr (g_ptr_array_index (seen, 1), ==, second);
  g_assert_cmpstr (g_ptr_array_index (seen, 2), ==, missing);
  g_assert_nonnull (hl_inference_lookup (inference, f->image));
  g_assert_nonnull (hl_inference_lookup (inference, second));
  g_assert_null (hl_inference_lookup (inference, missing));
  g_assert_nonnull (hl_inference_lookup_error (inference, missing));

  /* Cached: queueing again runs nothing. */
  hl_inference_set_queue (inference, queue);
  while (hl_inference_is_busy (inference))
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (seen->len, ==, 3);

  /* Cancelled: nothing more finishes. */
  g_autofree char *third = g_build_filename (f->dir, "00000042_002.png", NULL);
  hl_test_png_write_gray8 (third, 200, 160, 3);
  const char *queue2[] = { third, NULL };
  hl_inference_set_queue (inference, queue2);
  hl_inference_cancel (inference);
  g_assert_false (hl_inference_is_busy (inference));
  for (int i = 0; i < 50; i++)
    {
      g_usleep (2000);
      g_main_context_iteration (NULL, FALSE);
    }
  g_assert_cmpuint (seen->len, ==, 3);
  g_assert_null (hl_inference_lookup (inference, third));
}

static void
count_layer_ready (HlInference *inference, const char *path, int layer, int *n)
{
  (*n)++;
}

/* Layer maps: computed on request in a worker thread, equal to the engine's
 * hl_model_gradcam_layer of the preprocessed image, cached; a failure is cached as no maps; a
 * cancelled request reports nothing. */
static void
test_inference_layer (Files *f, gconstpointer data)
{
  g_autoptr (HlInference) inference = hl_inference_new (f->model);
  int n_ready = 0;
  g_signal_connect (inference, "layer-ready", G_CALLBACK (count_layer_ready), &n_ready);
  int layer = hl_model_gradcam_layer_find (f->model, "denseblock1");
  g_assert_cmpint (layer, ==, 1);

  g_assert_null (hl_inference_request_layer (inference, f->image, layer));
  /* Asking again while it runs starts nothing more. */
  g_assert_null (hl_inference_request_layer (inference, f->image, layer));
  while (n_ready < 1)
    g_main_context_iteration (NULL, TRUE);
  const HlLayerMaps *lm = hl_inference_request_layer (inference, f->image, layer);
  g_assert_nonnull (lm);
  g_assert_nonnull (lm->maps);
  g_assert_cmpint (lm->layer, ==, layer);
  g_assert_cmpint (lm->n_labels, ==, 14);

  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = hl_image_load (f->image, &error);
  g_assert_no_error (error);
  g_autofree float *input = g_new (float, hl_model_input_size (f->model));
  hl_model_preprocess (f->model, image->pixels, image->height, image->width, input);
  int h, w;
  g_autofree float *want = hl_model_gradcam_layer (f->model, input, layer, &h, &w, &error);
  g_assert_no_error (error);
  g_assert_cmpint (lm->map_h, ==, h);
  g_assert_cmpint (lm->map_w, ==, w);
  g_assert_cmpmem (lm->maps, (gsize)14 * h * w * sizeof (float), want,
                   (gsize)14 * h * w * sizeof (float));
  /* Finer than the last feature map. */
  g_autoptr (HlResult) r = hl_result_compute (f->model, f->image, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (h, ==, 2 * r->map_h);
  /* Cached: the same maps, no new work. */
  g_assert_true (hl_inference_request_layer (inference, f->image, layer) == lm);

  /* A file that is not an image: cached as no maps. */
  g_assert_null (hl_inference_request_layer (inference, f->model_path, layer));
  while (n_ready < 2)
    g_main_context_iteration (NULL, TRUE);
  lm = hl_inference_request_layer (inference, f->model_path, layer);
  g_assert_nonnull (lm);
  g_assert_null (lm->maps);

  /* Cancelled: nothing is reported or cached. */
  g_assert_null (hl_inference_request_layer (inference, f->image, 0));
  hl_inference_cancel (inference);
  for (int i = 0; i < 100; i++)
    {
      g_usleep (2000);
      g_main_context_iteration (NULL, FALSE);
    }
  g_assert_cmpint (n_ready, ==, 2);
}

static void
test_export (Files *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *out = g_build_filename (f->dir, "out", NULL);
  g_assert_cmpint (g_mkdir (out, 0755), ==, 0);
  const char *paths[] = { f->image, NULL };
  HlResult *results[] = { NULL };
  HlExportJob job = { 0 };
  job.model = f->model;
  job.paths = paths;
  job.results = results;
  job.n = 1;
  job.label = 3;
  hl_overlay_style_init (&job.style);
  job.folder = out;
  g_auto (GStrv) written = hl_export_run (&job, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (written), ==, 3);
  g_assert_true (g_str_has_suffix (written[0], "/00000042_000-report.png"));
  g_assert_true (g_str_has_suffix (written[1], "/" HL_EXPORT_CSV_NAME));
  g_assert_true (g_str_has_suffix (written[2], "/" HL_EXPORT_JSON_NAME));
  cairo_surface_t *page = cairo_image_surface_create_from_png (written[0]);
  g_assert_cmpint (cairo_surface_status (page), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (page), ==, 1190);
  /* The test model has weak labels (validation AUROC 0.62): the page carries the orange footnote
   * saying what weak means (hl-report.c), as the sidebar marks them. */
  int orange = 0;
  const guint8 *px = cairo_image_surface_get_data (page);
  int stride = cairo_image_surface_get_stride (page);
  for (int y = 2 * ((int)HL_REPORT_HEIGHT - 78 + 44); y < 1684; y++)
    for (int x = 0; x < 1190; x++)
      {
        guint32 v = *(const guint32 *)(px + (gsize)y * stride + 4 * x);
        int red = (v >> 16) & 0xff, green = (v >> 8) & 0xff, blue = v & 0xff;
        orange += red > green + 51 && green > blue + 38; /* orange, not red, gray or blue */
      }
  g_test_message ("orange footnote pixels: %d", orange);
  g_assert_cmpint (orange, >, 100);
  cairo_surface_destroy (page);
  /* The CSV and JSON are the ones `hilum-cli predict` writes, with the scores of the pipeline. */
  g_autoptr (HlResult) r = hl_result_compute (f->model, f->image, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  const HlModelInfo *info = hl_model_get_info (f->model);
  g_autofree char *csv = NULL;
  g_assert_true (g_file_get_contents (written[1], &csv, NULL, NULL));
  g_assert_true (g_str_has_prefix (csv, "Image,Atelectasis,"));
  g_assert_nonnull (strstr (csv, "\n00000042_000.png,"));
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (parser, written[2], &error));
  g_assert_no_error (error);
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  g_assert_false (json_object_has_member (root, "notice"));
  g_assert_true (json_object_get_boolean_member (root, "not_for_diagnostic_use"));
  g_assert_true (g_str_has_prefix (json_object_get_string_member (root, "note"),
                                   "Not for diagnostic use"));
  JsonObject *model = json_object_get_object_member (root, "model");
  g_assert_cmpstr (json_object_get_string_member (model, "name"), ==, info->name);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (model, "labels")), ==,
                    (guint)info->n_labels);
  JsonArray *images = json_object_get_array_member (root, "images");
  g_assert_cmpuint (json_array_get_length (images), ==, 1);
  JsonObject *image = json_array_get_object_element (images, 0);
  g_assert_cmpstr (json_object_get_string_member (image, "image"), ==, "00000042_000.png");
  g_assert_cmpstr (json_object_get_string_member (image, "path"), ==, f->image);
  JsonObject *scores = json_object_get_object_member (image, "scores");
  g_assert_cmpuint (json_object_get_size (scores), ==, (guint)info->n_labels);
  for (int l = 0; l < info->n_labels; l++)
    g_assert_cmpfloat (json_object_get_double_member (scores, info->labels[l]), ==, r->probs[l]);
  /* No temporary files are left behind. */
  g_autoptr (GDir) dir = g_dir_open (out, 0, NULL);
  int n = 0;
  while (g_dir_read_name (dir) != NULL)
    n++;
  g_assert_cmpint (n, ==, 4); /* and the manifest that vouches for the CSV (hl-file-write.h) */
  for (int i = 0; written[i] != NULL; i++)
    g_unlink (written[i]);
  g_autofree char *manifest = g_build_filename (out, HL_FILE_MANIFEST_NAME, NULL);
  g_unlink (manifest);
  g_rmdir (out);
}

/* A study whose every image failed to decode leaves the export nothing: an error, not NULL
 * without one (the window showed error->message). */
static void
test_export_nothing (Files *f, gconstpointer data)
{
  const char *paths[] = { NULL };
  HlExportJob job = { 0 };
  job.model = f->model;
  job.paths = paths;
  job.n = 0;
  job.label = -1;
  hl_overlay_style_init (&job.style);
  job.folder = f->dir;
  g_autoptr (GError) error = NULL;
  g_assert_null (hl_export_run (&job, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (error->message);
}

/* The export under SQLite-style fault injection: the k-th write, flush or rename fails for
 * k = 1, 2, ... until an export passes them all. Each failed export names the failure, leaves no
 * temporary file, and every file is whole and Hilum's: the one that failed kept its old bytes (a
 * user's file of one of the names is refused and kept). */
static void
test_export_faults (Files *f, gconstpointer data)
{
  g_autofree char *out = g_build_filename (f->dir, "faults", NULL);
  g_assert_cmpint (g_mkdir (out, 0755), ==, 0);
  const char *paths[] = { f->image, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (HlResult) r = hl_result_compute (f->model, f->image, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  HlResult *results[] = { r };
  HlExportJob job = { 0 };
  job.model = f->model;
  job.paths = paths;
  job.results = results;
  job.n = 1;
  job.label = 3;
  hl_overlay_style_init (&job.style);
  job.folder = out;
  g_auto (GStrv) first = hl_export_run (&job, NULL, &error);
  g_assert_no_error (error);
  guint k = 1;
  for (;; k++)
    {
      hl_file_write_fault_set (k, k % 2 ? EIO : ENOSPC);
      g_auto (GStrv) written = hl_export_run (&job, NULL, &error);
      gboolean fired = hl_file_write_fault_fired ();
      hl_file_write_fault_set (0, 0);
      g_assert_true (written != NULL || fired);
      if (written == NULL)
        {
          g_assert_nonnull (strstr (error->message, g_strerror (k % 2 ? EIO : ENOSPC)));
          g_clear_error (&error);
        }
      g_autoptr (GDir) dir = g_dir_open (out, 0, NULL);
      for (const char *name; (name = g_dir_read_name (dir)) != NULL;)
        g_assert_true (name[0] != '.' || strcmp (name, HL_FILE_MANIFEST_NAME) == 0);
      /* every file is whole: the page decodes, the tables are Hilum's */
      for (int i = 0; first[i] != NULL; i++)
        g_assert_true (hl_file_is_ours (first[i]));
      cairo_surface_t *page = cairo_image_surface_create_from_png (first[0]);
      g_assert_cmpint (cairo_surface_status (page), ==, CAIRO_STATUS_SUCCESS);
      cairo_surface_destroy (page);
      if (!fired)
        break;
    }
  g_test_message ("export: %u fault points", k - 1);
  g_assert_cmpuint (k - 1, >=, 6 + 12 + 6);
  /* A user's CSV of the export's name is refused and kept. */
  g_assert_true (g_file_set_contents (first[1], "Image,Edema\nmine.png,1\n", -1, NULL));
  g_assert_null (hl_export_run (&job, NULL, &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "not written by Hilum"));
  g_autofree char *kept = NULL;
  g_assert_true (g_file_get_contents (first[1], &kept, NULL, NULL));
  g_assert_cmpstr (kept, ==, "Image,Edema\nmine.png,1\n");
  hl_test_remove_tree (out);
}

static void
test_export_refuses_source (Files *f, gconstpointer data)
{
  /* A source named like the report of another: exporting next to the sources must not overwrite
   * it. */
  g_autofree char *victim = g_build_filename (f->dir, "00000042_000-report.png", NULL);
  hl_test_png_write_gray8 (victim, 200, 160, 4);
  g_autofree char *before = NULL;
  gsize before_len;
  g_assert_true (g_file_get_contents (victim, &before, &before_len, NULL));

  const char *paths[] = { f->image, victim, NULL };
  HlResult *results[] = { NULL, NULL };
  HlExportJob job = { 0 };
  job.model = f->model;
  job.paths = paths;
  job.results = results;
  job.n = 2;
  job.label = -1;
  hl_overlay_style_init (&job.style);
  job.folder = f->dir;
  g_autoptr (GError) error = NULL;
  g_assert_null (hl_export_run (&job, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_autofree char *after = NULL;
  gsize after_len;
  g_assert_true (g_file_get_contents (victim, &after, &after_len, NULL));
  g_assert_cmpmem (before, before_len, after, after_len);
  g_unlink (victim);
}

/* Two sources of the same name in different folders get two report pages, neither overwritten. */
static void
test_export_same_name (Files *f, gconstpointer data)
{
  g_autofree char *sub = g_build_filename (f->dir, "other", NULL);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  g_autofree char *twin = g_build_filename (sub, "00000042_000.png", NULL);
  hl_test_png_write_gray8 (twin, 200, 160, 3);
  g_autofree char *out = g_build_filename (f->dir, "out", NULL);
  g_assert_cmpint (g_mkdir (out, 0755), ==, 0);

  const char *paths[] = { f->image, twin, NULL };
  HlResult *results[] = { NULL, NULL };
  HlExportJob job = { 0 };
  job.model = f->model;
  job.paths = paths;
  job.results = results;
  job.n = 2;
  job.label = -1;
  hl_overlay_style_init (&job.style);
  job.folder = out;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) written = hl_export_run (&job, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (written), ==, 4);
  g_assert_true (g_str_has_suffix (written[0], "/00000042_000-report.png"));
  g_assert_true (g_str_has_suffix (written[1], "/00000042_000-2-report.png"));
  for (int i = 0; written[i] != NULL; i++)
    {
      g_assert_true (g_file_test (written[i], G_FILE_TEST_IS_REGULAR));
      g_unlink (written[i]);
    }
  g_rmdir (out);
  g_unlink (twin);
  g_rmdir (sub);
}

static void
test_roc_data (Files *f, gconstpointer data)
{
  /* Four images: Atelectasis (label 0) perfectly separated by the scores, Pneumothorax (13) not
   * labelled in one file, so left out. */
  const float p0[] = { 0.9f, 0.8f, 0.2f, 0.1f };
  const guint8 t0[] = { 1, 1, 0, 0 };
  HlResult results[4];
  float probs[4][14];
  guint8 truth[4][HL_N_LABELS];
  gboolean has[4][HL_N_LABELS];
  HlLabelledResult cases[4];
  for (int i = 0; i < 4; i++)
    {
      for (int l = 0; l < 14; l++)
        {
          probs[i][l] = l == 0 ? p0[i] : 0.1f * (l % 7) + 0.05f * i;
          truth[i][l] = l == 0 ? t0[i] : (guint8)((i + l) % 2);
          has[i][l] = !(l == 13 && i == 2);
        }
      results[i] = (HlResult){ .n_labels = 14, .probs = probs[i] };
      cases[i] = (HlLabelledResult){ &results[i], truth[i], has[i] };
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (HlRocData) roc = hl_roc_data_new (f->model, cases, 4, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (roc->summary->n_labels, ==, 13);
  g_assert_cmpuint (roc->summary->n_cases, ==, 4);
  g_assert_cmpstr (roc->summary->labels[0].name, ==, "Atelectasis");
  g_assert_cmpfloat (roc->summary->labels[0].auroc, ==, 1.0);
  /* At the model's operating point for Atelectasis (0.3): both positives above, both negatives
   * below. */
  g_assert_cmpfloat (roc->ops[0].threshold, ==, 0.3f);
  g_assert_cmpuint (roc->ops[0].tp, ==, 2);
  g_assert_cmpuint (roc->ops[0].fp, ==, 0);
  g_assert_true (g_str_has_prefix (roc->model, "hilum-test-random"));
  for (gsize i = 0; i < roc->summary->n_labels; i++)
    g_assert_cmpstr (roc->summary->labels[i].name, !=, "Pneumothorax");
  /* The charts name the findings as the sidebar does. */
  g_assert_cmpstr (roc->summary->labels[11].name, ==, "Pleural Thickening");

  /* No label carried by every file: nothing to draw. */
  for (int i = 0; i < 4; i++)
    for (int l = 0; l < HL_N_LABELS; l++)
      has[i][l] = i != 1;
  g_autoptr (GError) none_error = NULL;
  g_assert_null (hl_roc_data_new (f->model, cases, 4, &none_error));
  g_assert_error (none_error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_UNDEFINED);
}

static void
test_report_name (void)
{
  g_autofree char *a = hl_export_report_name ("/x/y/00003140_017.png", 0);
  g_assert_cmpstr (a, ==, "00003140_017-report.png");
  g_autofree char *b = hl_export_report_name ("/x/IM0001", 0);
  g_assert_cmpstr (b, ==, "IM0001-report.png");
  g_autofree char *c = hl_export_report_name ("/x/.hidden", 0);
  g_assert_cmpstr (c, ==, ".hidden-report.png");
  g_autofree char *d = hl_export_report_name ("/x/y/00003140_017.png", 1);
  g_assert_cmpstr (d, ==, "00003140_017-2-report.png");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/transform/fit", test_fit);
  g_test_add_func ("/app/transform/round-trip", test_round_trip);
  g_test_add_func ("/app/transform/zoom-keeps-point", test_zoom_keeps_point);
  g_test_add_func ("/app/transform/clamp", test_clamp);
  g_test_add_func ("/app/transform/link", test_link);
  g_test_add_func ("/app/window-level/range", test_wl_range);
  g_test_add_func ("/app/window-level/drag", test_wl_drag);
  g_test_add_func ("/app/window-level/presets", test_wl_presets);
  g_test_add_func ("/app/ranking/order-and-flags", test_ranking);
  g_test_add_func ("/app/finding-name", test_finding_name);
  g_test_add_func ("/app/export/report-name", test_report_name);
  g_test_add ("/app/inference/compute", Files, NULL, files_set_up, test_result_compute,
              files_tear_down);
  g_test_add ("/app/inference/queue", Files, NULL, files_set_up, test_inference_queue,
              files_tear_down);
  g_test_add ("/app/roc/data", Files, NULL, files_set_up, test_roc_data, files_tear_down);
  g_test_add ("/app/inference/layer", Files, NULL, files_set_up, test_inference_layer,
              files_tear_down);
  g_test_add ("/app/export/files", Files, NULL, files_set_up, test_export, files_tear_down);
  g_test_add ("/app/export/same-name", Files, NULL, files_set_up, test_export_same_name,
              files_tear_down);
  g_test_add ("/app/export/nothing", Files, NULL, files_set_up, test_export_nothing,
              files_tear_down);
  g_test_add ("/app/export/faults", Files, NULL, files_set_up, test_export_faults,
              files_tear_down);
  g_test_add ("/app/export/refuses-source", Files, NULL, files_set_up, test_export_refuses_source,
              files_tear_down);
  return g_test_run ();
}
