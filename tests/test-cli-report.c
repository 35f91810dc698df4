/* test-cli-report.c — runs `hilum-cli report` on a tiny pseudo-random model
 * (tests/fixtures/tiny/tiny.model.safetensors) over images the test draws itself, and checks the
 * annotated PNG/PDF pages, the CSV and JSON sidecars (against scores computed here with the
 * engine directly), the heatmap selection, and the failure paths: usage errors, a missing model,
 * a corrupt image among good ones, an output folder that is the input folder (run twice: the
 * second run skips the first run's pages), and one holding the user's own scores.csv, scores.json
 * or page-named PNG (kept, refused). */
#include <cairo.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "hl-engine.h"
#include "hl-image.h"
#include "hl-test-png.h"

typedef struct
{
  char *dir;   /* temporary folder, removed at teardown */
  char *in;    /* dir/in: the images */
  char *out;   /* dir/out */
  char *model; /* the tiny model */
} Fixture;

/* Writes a @w x @h gray PNG with a gradient and a bright disc whose position depends on @seed. */
static void
write_png (const char *path, int w, int h, int seed)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, w, h);
  cairo_t *cr = cairo_create (s);
  cairo_pattern_t *grad = cairo_pattern_create_linear (0, 0, 0, h);
  cairo_pattern_add_color_stop_rgb (grad, 0, 0.1, 0.1, 0.1);
  cairo_pattern_add_color_stop_rgb (grad, 1, 0.7, 0.7, 0.7);
  cairo_set_source (cr, grad);
  cairo_paint (cr);
  cairo_pattern_destroy (grad);
  cairo_set_source_rgb (cr, 0.95, 0.95, 0.95);
  cairo_arc (cr, w * (0.3 + 0.1 * seed), h * 0.5, w * 0.2, 0, 2 * G_PI);
  cairo_fill (cr);
  cairo_destroy (cr);
  g_assert_cmpint (cairo_surface_write_to_png (s, path), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy (s);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->dir = g_dir_make_tmp ("hl-cli-report-XXXXXX", NULL);
  g_assert_nonnull (fx->dir);
  fx->in = g_build_filename (fx->dir, "in", NULL);
  fx->out = g_build_filename (fx->dir, "out", NULL);
  g_autofree char *sub = g_build_filename (fx->in, "sub", NULL);
  g_assert_cmpint (g_mkdir_with_parents (sub, 0755), ==, 0);
  g_autofree char *a = g_build_filename (fx->in, "a.png", NULL);
  g_autofree char *b = g_build_filename (sub, "b.png", NULL);
  write_png (a, 48, 40, 0);
  write_png (b, 64, 64, 2);
  fx->model = g_build_filename (g_getenv ("HL_FIXTURES"), "tiny", "tiny.model.safetensors", NULL);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  hl_test_remove_tree (fx->dir);
  g_free (fx->dir);
  g_free (fx->in);
  g_free (fx->out);
  g_free (fx->model);
}

/* The tiny model's probabilities for the image at @path, from the engine directly. */
static float *
engine_probs (Fixture *fx, const char *path, int *n_labels)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlModel) model = hl_model_new_from_file (fx->model, &error);
  g_assert_no_error (error);
  g_autoptr (HlImage) image = hl_image_load (path, &error);
  g_assert_no_error (error);
  g_autofree float *input = g_new (float, hl_model_input_size (model));
  hl_model_preprocess (model, image->pixels, image->height, image->width, input);
  g_autoptr (HlForward) fwd = hl_model_forward (model, input, 1, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  *n_labels = fwd->n_labels;
  return g_memdup2 (fwd->probs, sizeof (float) * fwd->n_labels);
}

static void
assert_png_size (const char *path, int w, int h)
{
  cairo_surface_t *s = cairo_image_surface_create_from_png (path);
  g_assert_cmpint (cairo_surface_status (s), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, w);
  g_assert_cmpint (cairo_image_surface_get_height (s), ==, h);
  cairo_surface_destroy (s);
}

static JsonObject *
image_object (JsonNode *root, const char *name)
{
  JsonArray *images = json_object_get_array_member (json_node_get_object (root), "images");
  for (guint i = 0; i < json_array_get_length (images); i++)
    {
      JsonObject *o = json_array_get_object_element (images, i);
      if (strcmp (json_object_get_string_member (o, "image"), name) == 0)
        return o;
    }
  g_assert_not_reached ();
}

static void
test_folder (Fixture *fx, gconstpointer data)
{
  g_autofree char *notes = g_build_filename (fx->in, "notes.txt", NULL);
  g_assert_true (g_file_set_contents (notes, "not an image", -1, NULL));
  const char *args[] = { "report",  fx->in, "--out",   fx->out, "--model", fx->model,
                         "--label", "Beta", "--label", "Delta", NULL };
  g_assert_cmpint (hl_test_run_cli (args, NULL, NULL), ==, 0);

  g_autofree char *ra = g_build_filename (fx->out, "a.report.png", NULL);
  g_autofree char *rb = g_build_filename (fx->out, "sub_b.report.png", NULL);
  assert_png_size (ra, 1190, 1684);
  assert_png_size (rb, 1190, 1684);

  /* scores.csv: the header and one row per image, equal to the engine's own numbers. */
  g_autofree char *csv_path = g_build_filename (fx->out, "scores.csv", NULL);
  g_autofree char *csv = NULL;
  g_assert_true (g_file_get_contents (csv_path, &csv, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (g_strstrip (csv), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  g_assert_cmpstr (lines[0], ==, "Image,Alpha,Beta,Gamma,Delta,Epsilon");
  g_autofree char *json_path = g_build_filename (fx->out, "scores.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (json_parser_load_from_file (parser, json_path, &error));
  g_assert_no_error (error);
  JsonNode *root = json_parser_get_root (parser);
  JsonObject *model = json_object_get_object_member (json_node_get_object (root), "model");
  g_assert_cmpstr (json_object_get_string_member (model, "name"), ==, "torch-reference-tiny");
  g_assert_cmpstr (json_object_get_string_member (model, "version"), ==, "seed-1");

  const char *names[2] = { "a.png", "sub/b.png" };
  const char *files[2] = { "a.png", "sub/b.png" };
  gboolean seen[2] = { FALSE, FALSE };
  for (int r = 1; r <= 2; r++)
    {
      g_auto (GStrv) f = g_strsplit (lines[r], ",", -1);
      g_assert_cmpuint (g_strv_length (f), ==, 6);
      int k = strcmp (f[0], names[0]) == 0 ? 0 : 1;
      g_assert_cmpstr (f[0], ==, names[k]);
      seen[k] = TRUE;
      g_autofree char *path = g_build_filename (fx->in, files[k], NULL);
      int n = 0;
      g_autofree float *want = engine_probs (fx, path, &n);
      g_assert_cmpint (n, ==, 5);
      JsonObject *o = image_object (root, names[k]);
      JsonObject *scores = json_object_get_object_member (o, "scores");
      JsonArray *labels = json_object_get_array_member (model, "labels");
      for (int l = 0; l < n; l++)
        {
          /* The engine's floats to the bit: the CSV prints the shortest decimal that reads back
           * as the same float, the JSON the double it widens to (json-glib's %.17g), and the
           * engine gives the same bits whatever the batch and thread count. */
          double v = g_ascii_strtod (f[1 + l], NULL);
          g_assert_cmpfloat ((float) v, ==, want[l]);
          const char *label = json_array_get_string_element (labels, l);
          g_assert_cmpfloat (json_object_get_double_member (scores, label), ==, want[l]);
        }
      JsonArray *maps = json_object_get_array_member (o, "heatmaps");
      g_assert_cmpuint (json_array_get_length (maps), ==, 2);
      g_assert_cmpstr (json_array_get_string_element (maps, 0), ==, "Beta");
      g_assert_cmpstr (json_array_get_string_element (maps, 1), ==, "Delta");
      g_assert_true (json_object_has_member (o, "report"));
      g_assert_false (json_object_has_member (o, "error"));
    }
  g_assert_true (seen[0] && seen[1]);
  g_assert_true (
      json_object_get_boolean_member (json_node_get_object (root), "not_for_diagnostic_use"));
}

static void
test_single_pdf (Fixture *fx, gconstpointer data)
{
  g_autofree char *a = g_build_filename (fx->in, "a.png", NULL);
  const char *args[] = { "report", a,         "--out", fx->out,      "--model", fx->model,
                         "--pdf",  "--scale", "1",     "--colormap", "viridis", NULL };
  g_assert_cmpint (hl_test_run_cli (args, NULL, NULL), ==, 0);
  g_autofree char *png = g_build_filename (fx->out, "a.report.png", NULL);
  g_autofree char *pdf = g_build_filename (fx->out, "a.report.pdf", NULL);
  assert_png_size (png, 595, 842);
  g_autofree char *data_pdf = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (pdf, &data_pdf, &len, NULL));
  g_assert_true (len > 1000 && g_str_has_prefix (data_pdf, "%PDF-"));

  /* Default selection: the findings at or above their operating point, else the top one. */
  g_autofree char *json_path = g_build_filename (fx->out, "scores.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (parser, json_path, NULL));
  JsonObject *o = image_object (json_parser_get_root (parser), "a.png");
  JsonArray *above = json_object_get_array_member (o, "at_or_above_operating_point");
  JsonArray *maps = json_object_get_array_member (o, "heatmaps");
  if (json_array_get_length (above) > 0)
    g_assert_cmpuint (json_array_get_length (maps), ==, MIN (json_array_get_length (above), 5));
  else
    g_assert_cmpuint (json_array_get_length (maps), ==, 1);
}

static void
test_failures (Fixture *fx, gconstpointer data)
{
  g_autofree char *err = NULL;
  const char *no_out[] = { "report", fx->in, "--model", fx->model, NULL };
  g_assert_cmpint (hl_test_run_cli (no_out, NULL, NULL), ==, 2);
  const char *bad_label[] = { "report",  fx->in,    "--out",        fx->out, "--model",
                              fx->model, "--label", "Cardiomegaly", NULL };
  g_assert_cmpint (hl_test_run_cli (bad_label, NULL, NULL), ==, 2);
  g_autofree char *missing = g_build_filename (fx->dir, "missing.safetensors", NULL);
  const char *no_model[] = { "report", fx->in, "--out", fx->out, "--model", missing, NULL };
  g_assert_cmpint (hl_test_run_cli (no_model, NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "missing.safetensors"));

  /* A corrupt PNG among good images: exit 3 (some inputs failed), the good ones reported. */
  g_autofree char *bad = g_build_filename (fx->in, "bad.png", NULL);
  g_assert_true (g_file_set_contents (bad, "\x89PNG\r\n\x1a\n truncated", -1, NULL));
  const char *args[] = { "report", fx->in, "--out", fx->out, "--model", fx->model, NULL };
  g_assert_cmpint (hl_test_run_cli (args, NULL, NULL), ==, 3);
  g_autofree char *ra = g_build_filename (fx->out, "a.report.png", NULL);
  assert_png_size (ra, 1190, 1684);
  g_autofree char *rbad = g_build_filename (fx->out, "bad.report.png", NULL);
  g_assert_false (g_file_test (rbad, G_FILE_TEST_EXISTS));
  g_autofree char *json_path = g_build_filename (fx->out, "scores.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (parser, json_path, NULL));
  JsonObject *o = image_object (json_parser_get_root (parser), "bad.png");
  g_assert_true (json_object_has_member (o, "error"));
  g_autofree char *csv_path = g_build_filename (fx->out, "scores.csv", NULL);
  g_autofree char *csv = NULL;
  g_assert_true (g_file_get_contents (csv_path, &csv, NULL, NULL));
  g_assert_null (strstr (csv, "bad.png"));
}

/* Reports written into the input folder: a second run reports on the images again, not on the
 * first run's pages (skipped, and said so), and rewrites the same pages. */
static void
test_out_is_input (Fixture *fx, gconstpointer data)
{
  const char *args[]
      = { "report", fx->in, "--out", fx->in, "--model", fx->model, "--scale", "0.5", NULL };
  g_autofree char *ra = g_build_filename (fx->in, "a.report.png", NULL);
  g_autofree char *rb = g_build_filename (fx->in, "sub_b.report.png", NULL);
  g_autofree char *csv_path = g_build_filename (fx->in, "scores.csv", NULL);
  for (int run = 0; run < 2; run++)
    {
      g_autofree char *err = NULL;
      g_assert_cmpint (hl_test_run_cli (args, NULL, &err), ==, 0);
      assert_png_size (ra, 298, 421);
      assert_png_size (rb, 298, 421);
      g_autofree char *csv = NULL;
      g_assert_true (g_file_get_contents (csv_path, &csv, NULL, NULL));
      g_auto (GStrv) lines = g_strsplit (g_strstrip (csv), "\n", -1);
      g_assert_cmpuint (g_strv_length (lines), ==, 3);
      g_assert_null (strstr (csv, ".report.png"));
      g_assert_true ((strstr (err, "skipping 2 files named *.report.png") != NULL) == (run == 1));
    }
  g_autofree char *extra = g_build_filename (fx->in, "a.report.report.png", NULL);
  g_assert_false (g_file_test (extra, G_FILE_TEST_EXISTS));
}

/* `report STUDY --out STUDY` where the user keeps a scores.csv / scores.json of their own (and a
 * page-named PNG): refused before any work, every one of them kept byte for byte, and no page
 * written; once they are moved away the run works, and runs again over its own files. */
static void
test_keeps_users_files (Fixture *fx, gconstpointer data)
{
  const char *args[]
      = { "report", fx->in, "--out", fx->in, "--model", fx->model, "--scale", "0.5", NULL };
  const char *names[] = { "scores.csv", "scores.json" };
  const char *texts[] = { "Image,Edema\nmine.png,1\n", "{\"mine\": true}\n" };
  for (int i = 0; i < 2; i++)
    {
      g_autofree char *path = g_build_filename (fx->in, names[i], NULL);
      g_assert_true (g_file_set_contents (path, texts[i], -1, NULL));
      g_autofree char *err = NULL;
      g_assert_cmpint (hl_test_run_cli (args, NULL, &err), ==, 1);
      g_assert_nonnull (strstr (err, path));
      g_assert_nonnull (strstr (err, "not written by Hilum"));
      g_autofree char *kept = NULL;
      g_assert_true (g_file_get_contents (path, &kept, NULL, NULL));
      g_assert_cmpstr (kept, ==, texts[i]);
      g_autofree char *page = g_build_filename (fx->in, "a.report.png", NULL);
      g_assert_false (g_file_test (page, G_FILE_TEST_EXISTS));
      g_assert_cmpint (g_unlink (path), ==, 0);
    }
  /* A user's PNG named like a page: that image fails, the rest is written. */
  g_autofree char *page = g_build_filename (fx->in, "a.report.png", NULL);
  write_png (page, 16, 16, 1);
  g_autofree char *before = NULL;
  gsize before_len;
  g_assert_true (g_file_get_contents (page, &before, &before_len, NULL));
  g_autofree char *err = NULL;
  g_assert_cmpint (hl_test_run_cli (args, NULL, &err), ==, 3);
  g_assert_nonnull (strstr (err, "not written by Hilum"));
  g_autofree char *after = NULL;
  gsize after_len;
  g_assert_true (g_file_get_contents (page, &after, &after_len, NULL));
  g_assert_cmpmem (before, before_len, after, after_len);
  g_assert_cmpint (g_unlink (page), ==, 0);
  for (int run = 0; run < 2; run++)
    g_assert_cmpint (hl_test_run_cli (args, NULL, NULL), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (g_getenv ("HL_BUILD_DIR") == NULL || g_getenv ("HL_FIXTURES") == NULL)
    {
      g_printerr ("run through meson test (HL_BUILD_DIR, HL_FIXTURES)\n");
      return 1;
    }
  g_test_add ("/cli/report/folder", Fixture, NULL, fixture_setup, test_folder, fixture_teardown);
  g_test_add ("/cli/report/single-pdf", Fixture, NULL, fixture_setup, test_single_pdf,
              fixture_teardown);
  g_test_add ("/cli/report/failures", Fixture, NULL, fixture_setup, test_failures,
              fixture_teardown);
  g_test_add ("/cli/report/keeps-users-files", Fixture, NULL, fixture_setup,
              test_keeps_users_files, fixture_teardown);
  g_test_add ("/cli/report/out-is-input", Fixture, NULL, fixture_setup, test_out_is_input,
              fixture_teardown);
  return g_test_run ();
}
