/* test-file-write.c — the atomic writer (engine/hl-file-write.h): replacing, the ownership rule for
 * every format, the unique row names of hl_predictions_unique_names(), and SQLite-style fault
 * sweeps: for each writer, the k-th fault point fails (EIO, ENOSPC in turn) for k = 1, 2, ...
 * until a run passes them all, and after every run no temporary file is left and a failed file
 * holds its old bytes. In-process for the writer itself, hl_model_save, the predictions CSV and
 * render's PNG and PDF pages;
 * through HILUM_FAULT_WRITE for `hilum-cli predict` (CSV, Grad-CAM PNGs), `report` (PNG, PDF,
 * CSV, JSON) and `eval` (CSV, PNG). Each sweep reports its number of fault points. */
#include <cairo.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "hl-file-write.h"
#include "hl-predictions.h"
#include "hl-render-io.h"
#include "hl-test-model-file.h"
#include "hl-test-png.h"
#include "hl-train.h"

/* ---- folder snapshots ------------------------------------------------------------------------ */

/* The regular files directly in @dir: name -> GBytes. */
static GHashTable *
snapshot (const char *dir)
{
  GHashTable *files
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_bytes_unref);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  for (const char *name; (name = g_dir_read_name (d)) != NULL;)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      char *text;
      gsize len;
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR)
          && g_file_get_contents (path, &text, &len, NULL))
        g_hash_table_insert (files, g_strdup (name), g_bytes_new_take (text, len));
    }
  return files;
}

/* Puts @dir's regular files back as @snap holds them (test-side writes, not the writer's). */
static void
restore (const char *dir, GHashTable *snap)
{
  g_autoptr (GHashTable) now = snapshot (dir);
  GHashTableIter it;
  gpointer name, bytes;
  g_hash_table_iter_init (&it, now);
  while (g_hash_table_iter_next (&it, &name, NULL))
    if (!g_hash_table_contains (snap, name))
      {
        g_autofree char *path = g_build_filename (dir, name, NULL);
        g_assert_cmpint (g_unlink (path), ==, 0);
      }
  g_hash_table_iter_init (&it, snap);
  while (g_hash_table_iter_next (&it, &name, &bytes))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      gsize len;
      const char *data = g_bytes_get_data (bytes, &len);
      g_assert_true (g_file_set_contents (path, data, (gssize)len, NULL));
    }
}

/* No ".NAME.XXXXXX" left in @dir: the only dot file allowed is the manifest. */
static void
assert_no_temporaries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  for (const char *name; (name = g_dir_read_name (d)) != NULL;)
    if (name[0] == '.' && strcmp (name, HL_FILE_MANIFEST_NAME) != 0)
      g_error ("%s: temporary file %s left behind", dir, name);
}

static gboolean
bytes_equal_file (GBytes *want, const char *path)
{
  g_autofree char *text = NULL;
  gsize len;
  if (want == NULL || !g_file_get_contents (path, &text, &len, NULL))
    return FALSE;
  g_autoptr (GBytes) got = g_bytes_new_static (text, len);
  return g_bytes_equal (want, got);
}

/* ---- in-process sweeps ------------------------------------------------------------------------ */

typedef gboolean (*WriteFunc) (gpointer data, GError **error);

static gboolean complete (const char *name, GBytes *bytes);

/* The k-th fault point of @write fails, for k = 1, 2, ... until a run passes no failing one.
 * @dir/@target holds a file Hilum wrote before each run; a failed run leaves it byte-identical
 * and still Hilum's, and the rest of @dir as it was (the manifest may list one more content); a
 * run that succeeded (no fault, or the folder's fsync failed) leaves @want there (when NULL: a
 * complete file other than the old one). Returns the number of fault points. */
static guint
fault_sweep (const char *dir, const char *target, GBytes *want, WriteFunc write, gpointer data)
{
  g_autofree char *path = g_build_filename (dir, target, NULL);
  g_assert_true (hl_file_is_ours (path));
  g_autoptr (GHashTable) before = snapshot (dir);
  GBytes *old = g_hash_table_lookup (before, target);
  for (guint k = 1; k < 10000; k++)
    {
      g_autoptr (GError) error = NULL;
      int e = k % 2 ? EIO : ENOSPC;
      hl_file_write_fault_set (k, e);
      gboolean ok = write (data, &error);
      gboolean fired = hl_file_write_fault_fired ();
      hl_file_write_fault_set (0, 0);
      assert_no_temporaries (dir);
      if (ok && want != NULL)
        g_assert_true (bytes_equal_file (want, path));
      else if (ok)
        {
          g_autoptr (GHashTable) after = snapshot (dir);
          GBytes *now = g_hash_table_lookup (after, target);
          g_assert_true (complete (target, now) && !g_bytes_equal (now, old));
        }
      else
        {
          g_assert_true (fired);
          g_assert_nonnull (error);
          g_assert_nonnull (strstr (error->message, g_strerror (e)));
          g_assert_true (bytes_equal_file (old, path));
          g_assert_true (hl_file_is_ours (path));
          g_autoptr (GHashTable) after = snapshot (dir);
          g_hash_table_remove (after, HL_FILE_MANIFEST_NAME);
          g_assert_cmpuint (g_hash_table_size (after), ==,
                            g_hash_table_size (before)
                                - g_hash_table_contains (before, HL_FILE_MANIFEST_NAME));
        }
      if (!fired)
        {
          g_assert_true (ok);
          g_test_message ("%s: %u fault points", target, k - 1);
          return k - 1;
        }
      restore (dir, before);
    }
  g_assert_not_reached ();
}

typedef struct
{
  const char *path;
  const char *text;
} Contents;

static gboolean
write_contents (gpointer data, GError **error)
{
  const Contents *c = data;
  return hl_file_write_contents (c->path, c->text, strlen (c->text), NULL, error);
}

static void
test_fault_contents (void)
{
  g_autofree char *dir = hl_test_make_tmp_dir ("hl-file-write-XXXXXX");
  /* An unsigned file (CSV: through the manifest) and a signed one (JSON). */
  const char *names[] = { "scores.csv", "scores.json" };
  const char *olds[] = { "Image,Edema\na.png,0.5\n", "{\"generator\": \"Hilum\", \"v\": 1}\n" };
  const char *news[] = { "Image,Edema\na.png,0.25\nb.png,1\n", "{\"generator\": \"Hilum\"}\n" };
  guint points[2];
  for (int i = 0; i < 2; i++)
    {
      g_autofree char *path = g_build_filename (dir, names[i], NULL);
      Contents old = { path, olds[i] }, c = { path, news[i] };
      g_assert_true (write_contents (&old, NULL));
      g_autoptr (GBytes) want = g_bytes_new_static (news[i], strlen (news[i]));
      points[i] = fault_sweep (dir, names[i], want, write_contents, &c);
    }
  /* create, write, flush, close, rename, folder; the CSV's manifest adds its own six. */
  g_assert_cmpuint (points[1], ==, 6);
  g_assert_cmpuint (points[0], ==, 12);
  hl_test_remove_tree (dir);
}

typedef struct
{
  HlModel *model;
  const char *path;
} Save;

static gboolean
save_model (gpointer data, GError **error)
{
  const Save *s = data;
  return hl_model_save (s->model, NULL, s->path, HL_SAVE_F16, error);
}

static void
test_fault_model_save (void)
{
  g_autofree char *dir = hl_test_make_tmp_dir ("hl-file-write-XXXXXX");
  g_autofree char *path = g_build_filename (dir, "m.safetensors", NULL);
  g_autofree char *ref = g_build_filename (dir, "ref", NULL);
  g_assert_cmpint (g_mkdir (ref, 0755), ==, 0);
  g_autofree char *ref_path = g_build_filename (ref, "m.safetensors", NULL);
  HlModelInfo info;
  hl_test_tiny_info (&info);
  g_autoptr (HlModel) old_model = hl_model_new_random (&info, 1);
  g_autoptr (HlModel) new_model = hl_model_new_random (&info, 2);
  g_autoptr (GError) error = NULL;
  Save old = { old_model, path }, s = { new_model, path }, r = { new_model, ref_path };
  g_assert_true (save_model (&old, &error));
  g_assert_true (save_model (&r, &error));
  g_assert_no_error (error);
  g_autofree char *want_text = NULL;
  gsize want_len;
  g_assert_true (g_file_get_contents (ref_path, &want_text, &want_len, NULL));
  g_autoptr (GBytes) want = g_bytes_new_static (want_text, want_len);
  guint points = fault_sweep (dir, "m.safetensors", want, save_model, &s);
  g_assert_cmpuint (points, >=, 6);
  /* The saved file loads. */
  g_autoptr (HlModel) back = hl_model_new_from_file (path, &error);
  g_assert_no_error (error);
  hl_test_remove_tree (dir);
}

typedef struct
{
  const char *path;
  const float *scores;
} Preds;

static gboolean
write_predictions (gpointer data, GError **error)
{
  const Preds *p = data;
  const char *images[] = { "a.png", "b/a.png" };
  const char *labels[] = { "Edema", "Hernia" };
  return hl_predictions_write_labels (p->path, images, 2, labels, 2, p->scores, error);
}

static void
test_fault_predictions (void)
{
  g_autofree char *dir = hl_test_make_tmp_dir ("hl-file-write-XXXXXX");
  g_autofree char *path = g_build_filename (dir, "predictions.csv", NULL);
  const float a[] = { 0.5f, 0.25f, 0.125f, 1.0f }, b[] = { 0.75f, 0.5f, 0.0f, 0.375f };
  Preds old = { path, a }, p = { path, b };
  g_assert_true (write_predictions (&old, NULL));
  const char *want_text = "Image,Edema,Hernia\na.png,0.75,0.5\nb/a.png,0,0.375\n";
  g_autoptr (GBytes) want = g_bytes_new_static (want_text, strlen (want_text));
  g_assert_cmpuint (fault_sweep (dir, "predictions.csv", want, write_predictions, &p), ==, 12);
  /* What was written reads back, the two rows apart. */
  g_autoptr (GError) error = NULL;
  g_autoptr (HlPredictions) back = hl_predictions_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (back->n_images, ==, 2);
  hl_test_remove_tree (dir);
}

typedef struct
{
  const char *path;
  double shade; /* the page's gray */
  gboolean pdf;
} Page;

static void
draw_page (cairo_t *cr, double width, double height, gpointer data)
{
  const Page *p = data;
  cairo_set_source_rgb (cr, p->shade, p->shade, p->shade);
  cairo_rectangle (cr, 10, 10, width - 20, height - 20);
  cairo_fill (cr);
}

static gboolean
write_page (gpointer data, GError **error)
{
  const Page *p = data;
  return p->pdf ? hl_render_write_pdf (p->path, NULL, 120, 80, draw_page, (gpointer)p, error)
                : hl_render_write_png (p->path, NULL, 120, 80, 1.0, draw_page, (gpointer)p, error);
}

static void
test_fault_render (void)
{
  g_autofree char *dir = hl_test_make_tmp_dir ("hl-file-write-XXXXXX");
  g_autofree char *ref = g_build_filename (dir, "ref", NULL);
  g_assert_cmpint (g_mkdir (ref, 0755), ==, 0);
  for (int pdf = 0; pdf < 2; pdf++)
    {
      const char *name = pdf ? "page.pdf" : "page.png";
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *ref_path = g_build_filename (ref, name, NULL);
      Page old = { path, 0.2, pdf }, page = { path, 0.7, pdf }, r = { ref_path, 0.7, pdf };
      g_assert_true (write_page (&old, NULL));
      /* signed: Hilum's without the manifest */
      g_assert_true (write_page (&r, NULL));
      g_autofree char *manifest = g_build_filename (ref, HL_FILE_MANIFEST_NAME, NULL);
      g_assert_false (g_file_test (manifest, G_FILE_TEST_EXISTS));
      g_assert_true (hl_file_is_ours (ref_path));
      g_autofree char *want_text = NULL;
      gsize want_len;
      g_assert_true (g_file_get_contents (ref_path, &want_text, &want_len, NULL));
      /* A PDF carries its creation time: its new content is checked for completeness only. */
      g_autoptr (GBytes) want = pdf ? NULL : g_bytes_new_static (want_text, want_len);
      g_assert_cmpuint (fault_sweep (dir, name, want, write_page, &page), >=, 6);
    }
  hl_test_remove_tree (dir);
}

/* ---- the writer's rules ------------------------------------------------------------------------ */

static void
assert_write (const char *path, const void *data, gsize len, GQuark domain, int code)
{
  g_autoptr (GError) error = NULL;
  gboolean ok = hl_file_write_contents (path, data, len, NULL, &error);
  if (domain == 0)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
    }
  else
    {
      g_assert_error (error, domain, code);
      g_assert_nonnull (strstr (error->message, path));
      g_assert_false (ok);
    }
}

static void
test_atomic (void)
{
  g_autofree char *dir = hl_test_make_tmp_dir ("hl-file-write-XXXXXX");
  g_autofree char *path = g_build_filename (dir, "out.json", NULL);
  const char *a = "{\"generator\": \"Hilum\", \"n\": 1}", *b = "{\"generator\": \"Hilum\"}";
  assert_write (path, a, strlen (a), 0, 0);
  assert_write (path, b, strlen (b), 0, 0);
  g_autofree char *got = NULL;
  g_assert_true (g_file_get_contents (path, &got, NULL, NULL));
  g_assert_cmpstr (got, ==, b);
  assert_no_temporaries (dir);

  /* An aborted writer leaves nothing. */
  g_autoptr (GError) error = NULL;
  HlFileWriter *w = hl_file_writer_new (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (hl_file_writer_write (w, "{", 1, &error));
  hl_file_writer_abort (w);
  assert_no_temporaries (dir);
  /* A full disk at the buffered bytes' write(), at commit, leaves the old file. */
  w = hl_file_writer_new (path, NULL, &error);
  g_assert_true (hl_file_writer_write (w, "{}", 2, &error));
  hl_file_write_fault_set (1, ENOSPC);
  g_assert_false (hl_file_writer_commit (w, &error));
  g_assert_true (hl_file_write_fault_fired ());
  hl_file_write_fault_set (0, 0);
  g_assert_error (error, HL_FILE_WRITE_ERROR, HL_FILE_WRITE_ERROR_IO);
  g_assert_nonnull (strstr (error->message, g_strerror (ENOSPC)));
  g_clear_pointer (&got, g_free);
  g_assert_true (g_file_get_contents (path, &got, NULL, NULL));
  g_assert_cmpstr (got, ==, b);
  assert_no_temporaries (dir);

  /* A folder that does not exist. */
  g_autofree char *missing = g_build_filename (dir, "no-such-dir", "x.json", NULL);
  assert_write (missing, b, strlen (b), HL_FILE_WRITE_ERROR, HL_FILE_WRITE_ERROR_IO);
  hl_test_remove_tree (dir);
}

/* @png with the writer's tEXt chunk inserted after IHDR. */
static GBytes *
sign_png (const char *png, gsize len)
{
  gsize chunk_len;
  const guint8 *chunk = hl_file_png_signature_chunk (&chunk_len);
  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, (const guint8 *)png, 33);
  g_byte_array_append (out, chunk, (guint)chunk_len);
  g_byte_array_append (out, (const guint8 *)png + 33, (guint)(len - 33));
  return g_byte_array_free_to_bytes (out);
}

static void
test_ownership (void)
{
  g_autofree char *dir = hl_test_make_tmp_dir ("hl-file-write-XXXXXX");
  const GQuark D = HL_FILE_WRITE_ERROR;
  const int NOT_OURS = HL_FILE_WRITE_ERROR_NOT_OURS;

  /* PNG: a plain one is the user's; the same with the chunk is Hilum's, and it still decodes. */
  g_autofree char *png = g_build_filename (dir, "page.png", NULL);
  hl_test_png_write_gray8 (png, 8, 8, 1);
  g_autofree char *plain = NULL;
  gsize plain_len;
  g_assert_true (g_file_get_contents (png, &plain, &plain_len, NULL));
  assert_write (png, "x", 1, D, NOT_OURS);
  g_autoptr (GBytes) signed_png = sign_png (plain, plain_len);
  gsize signed_len;
  const char *signed_data = g_bytes_get_data (signed_png, &signed_len);
  g_assert_true (g_file_set_contents (png, signed_data, (gssize)signed_len, NULL));
  cairo_surface_t *s = cairo_image_surface_create_from_png (png);
  g_assert_cmpint (cairo_surface_status (s), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy (s);
  g_assert_true (hl_file_is_ours (png));
  assert_write (png, plain, plain_len, 0, 0);
  /* what the writer wrote without a signature, the manifest vouches for */
  g_assert_true (hl_file_is_ours (png));

  /* PDF: by its creator. */
  g_autofree char *pdf = g_build_filename (dir, "page.pdf", NULL);
  const char *theirs = "%PDF-1.5\n1 0 obj << /Creator (LibreOffice) >> endobj\n%%EOF\n";
  const char *ours = "%PDF-1.5\n1 0 obj << /Creator (Hilum) >> endobj\n%%EOF\n";
  g_assert_true (g_file_set_contents (pdf, theirs, -1, NULL));
  assert_write (pdf, ours, strlen (ours), D, NOT_OURS);
  g_assert_true (g_file_set_contents (pdf, ours, -1, NULL));
  assert_write (pdf, ours, strlen (ours), 0, 0);

  /* JSON: "generator" first, nowhere else. */
  g_autofree char *json = g_build_filename (dir, "scores.json", NULL);
  g_assert_true (g_file_set_contents (json, "{\"a\": 1, \"generator\": \"Hilum\"}", -1, NULL));
  assert_write (json, "{}", 2, D, NOT_OURS);
  g_assert_true (g_file_set_contents (json, " {\n \"generator\" : \"Hilum 0.1\"}", -1, NULL));
  assert_write (json, "{}", 2, 0, 0);

  /* safetensors: a Hilum model file is replaced, another safetensors file is not. */
  g_autofree char *model = g_build_filename (dir, "m.safetensors", NULL);
  HlModelInfo info;
  hl_test_tiny_info (&info);
  g_autoptr (HlModel) m = hl_model_new_random (&info, 3);
  g_autoptr (GError) error = NULL;
  g_assert_true (hl_model_save (m, NULL, model, HL_SAVE_F32, &error));
  g_assert_true (hl_model_save (m, NULL, model, HL_SAVE_F16, &error));
  g_assert_no_error (error);
  static const char other[] = "\x18\0\0\0\0\0\0\0{\"__metadata__\":{\"a\":\"b\"}}";
  g_assert_true (g_file_set_contents (model, other, sizeof other - 1, NULL));
  g_assert_false (hl_model_save (m, NULL, model, HL_SAVE_F32, &error));
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "not written by Hilum"));
  g_clear_error (&error);

  /* CSV: the manifest vouches for what the writer wrote, and only while it is unchanged. */
  g_autofree char *csv = g_build_filename (dir, "scores.csv", NULL);
  g_assert_true (g_file_set_contents (csv, "Image,Edema\nmine.png,1\n", -1, NULL));
  assert_write (csv, "Image\n", 6, D, NOT_OURS);
  g_assert_cmpint (g_unlink (csv), ==, 0);
  assert_write (csv, "Image,Edema\na.png,0.5\n", 22, 0, 0);
  assert_write (csv, "Image,Edema\na.png,0.25\n", 23, 0, 0);
  assert_write (csv, "Image,Edema\na.png,0.125\n", 24, 0, 0);
  g_autofree char *manifest_path = g_build_filename (dir, HL_FILE_MANIFEST_NAME, NULL);
  g_autofree char *manifest = NULL;
  g_assert_true (g_file_get_contents (manifest_path, &manifest, NULL, NULL));
  g_autofree char *hex = g_compute_checksum_for_string (G_CHECKSUM_SHA256,
                                                       "Image,Edema\na.png,0.125\n", -1);
  g_autofree char *want_line = g_strconcat (hex, "  scores.csv\n", NULL);
  /* two lines for the file: its content and the one it replaced (kept in case the rename failed);
   * the first one's is gone */
  g_assert_nonnull (strstr (manifest, want_line));
  int n_lines = 0;
  for (const char *p = manifest; (p = strstr (p, "  scores.csv\n")) != NULL; p++)
    n_lines++;
  g_assert_cmpint (n_lines, ==, 2);
  g_autofree char *first = g_compute_checksum_for_string (G_CHECKSUM_SHA256,
                                                         "Image,Edema\na.png,0.5\n", -1);
  g_assert_null (strstr (manifest, first));
  g_assert_true (g_file_set_contents (csv, "Image,Edema\na.png,0.9\n", -1, NULL));
  assert_write (csv, "Image\n", 6, D, NOT_OURS);

  /* Not regular files: a folder, a symbolic link (even to a file of Hilum's). */
  g_autofree char *sub = g_build_filename (dir, "sub", NULL);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  assert_write (sub, "{}", 2, D, NOT_OURS);
  g_autofree char *sym = g_build_filename (dir, "link.json", NULL);
  g_assert_cmpint (symlink (json, sym), ==, 0);
  assert_write (sym, "{}", 2, D, NOT_OURS);

  /* A protected source, by another name for the same file. */
  g_autofree char *hard = g_build_filename (dir, "hard.json", NULL);
  g_assert_cmpint (link (json, hard), ==, 0);
  const char *protect[] = { json, NULL };
  g_assert_false (hl_file_write_contents (hard, "{}", 2, protect, &error));
  g_assert_error (error, D, HL_FILE_WRITE_ERROR_SAME_AS_SOURCE);
  assert_no_temporaries (dir);
  hl_test_remove_tree (dir);
}

static void
test_unique_names (void)
{
  const char *paths[] = { "a/x.png", "b/x.png", "y.png", "c/a/z.png", "d/a/z.png", "a/../a/x.png",
                          "/r/w.png", NULL };
  g_auto (GStrv) names = hl_predictions_unique_names (paths, 7);
  g_assert_cmpstr (names[0], ==, "a/x.png");
  g_assert_cmpstr (names[1], ==, "b/x.png");
  g_assert_cmpstr (names[2], ==, "y.png");
  g_assert_cmpstr (names[3], ==, "c/a/z.png");
  g_assert_cmpstr (names[4], ==, "d/a/z.png");
  g_assert_cmpstr (names[5], ==, "a/x.png"); /* the same file as the first */
  g_assert_cmpstr (names[6], ==, "w.png");
  g_assert_null (names[7]);
  /* A file at the root and one below it of the same name. */
  const char *nested[] = { "/x.png", "/a/x.png" };
  g_auto (GStrv) n2 = hl_predictions_unique_names (nested, 2);
  g_assert_cmpstr (n2[0], !=, n2[1]);
  g_assert_cmpstr (n2[1], ==, "a/x.png");
}

/* ---- hilum-cli sweeps ------------------------------------------------------------------------ */

/* Whether @bytes is a complete file of its kind (by @name's extension). */
static gboolean
complete (const char *name, GBytes *bytes)
{
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  if (g_str_has_suffix (name, ".png"))
    {
      g_autofree char *tmp = NULL;
      int fd = g_file_open_tmp ("hl-check-XXXXXX.png", &tmp, NULL);
      g_assert_cmpint (fd, >=, 0);
      close (fd);
      g_assert_true (g_file_set_contents (tmp, data, (gssize)len, NULL));
      cairo_surface_t *s = cairo_image_surface_create_from_png (tmp);
      gboolean ok = cairo_surface_status (s) == CAIRO_STATUS_SUCCESS;
      cairo_surface_destroy (s);
      g_unlink (tmp);
      return ok;
    }
  if (g_str_has_suffix (name, ".pdf"))
    return len > 6 && memcmp (data + len - 6, "%%EOF\n", 6) == 0;
  if (g_str_has_suffix (name, ".json"))
    {
      g_autoptr (JsonParser) p = json_parser_new ();
      return json_parser_load_from_data (p, data, (gssize)len, NULL);
    }
  /* CSV and the manifest: whole lines; a CSV's with as many fields as its first */
  if (len == 0 || data[len - 1] != '\n')
    return FALSE;
  if (strcmp (name, HL_FILE_MANIFEST_NAME) == 0)
    return TRUE;
  int first = -1, commas = 0;
  for (gsize i = 0; i < len; i++)
    if (data[i] == ',')
      commas++;
    else if (data[i] == '\n')
      {
        if (first >= 0 && commas != first)
          return FALSE;
        first = first < 0 ? commas : first;
        commas = 0;
      }
  return TRUE;
}

/* Runs hilum-cli @args with HILUM_FAULT_WRITE=k for k = 1, 2, ... until a run passes no failing
 * fault point, each time from the files @dirs (NULL-terminated) held at the start, which a first
 * run without faults has written. Checks after each run: no temporary file, every file either
 * its old bytes or complete, the file whose operation failed its old bytes (unless the failure
 * was the folder's fsync) and the exit status: 0 with no failure, @per_image_status when the
 * failed file is one image's output (its name ends in @per_image_suffix, NULL for none: 3 when
 * the run still used its inputs, README "hilum-cli"), 1 for the run's own outputs. Returns the
 * fault points. */
static guint
cli_fault_sweep (const char *const *args, const char *const *dirs, const char *per_image_suffix,
                 int per_image_status)
{
  g_assert_cmpint (hl_test_run_cli (args, NULL, NULL), ==, 0);
  guint n_dirs = g_strv_length ((char **)dirs);
  g_autoptr (GPtrArray) before = g_ptr_array_new_with_free_func ((GDestroyNotify)g_hash_table_unref);
  for (guint d = 0; d < n_dirs; d++)
    g_ptr_array_add (before, snapshot (dirs[d]));
  for (guint k = 1; k < 10000; k++)
    {
      g_autofree char *spec = g_strdup_printf (k % 2 ? "%u" : "%u:ENOSPC", k);
      g_setenv ("HILUM_FAULT_WRITE", spec, TRUE);
      g_auto (HlTestRun) run = { 0 };
      hl_test_run (&run, args);
      g_unsetenv ("HILUM_FAULT_WRITE");
      const char *fired = strstr (run.err, "HILUM_FAULT_WRITE: fault point ");
      g_autofree char *failed_path = NULL;
      gboolean folder_sync = FALSE;
      if (fired != NULL)
        {
          const char *comma = strstr (fired, ", ");
          const char *end = comma != NULL ? strstr (comma, ") fails with") : NULL;
          g_assert_nonnull (end);
          failed_path = g_strndup (comma + 2, end - comma - 2);
          folder_sync = g_str_has_prefix (strchr (fired, '(') + 1, "flush the folder");
        }
      int want = 0;
      if (fired != NULL && !folder_sync)
        want = per_image_suffix != NULL && g_str_has_suffix (failed_path, per_image_suffix)
                   ? per_image_status
                   : 1;
      g_assert_cmpint (run.status, ==, want);
      for (guint d = 0; d < n_dirs; d++)
        {
          assert_no_temporaries (dirs[d]);
          GHashTable *old = g_ptr_array_index (before, d);
          g_autoptr (GHashTable) now = snapshot (dirs[d]);
          GHashTableIter it;
          gpointer name, bytes;
          g_hash_table_iter_init (&it, now);
          while (g_hash_table_iter_next (&it, &name, &bytes))
            {
              g_autofree char *path = g_build_filename (dirs[d], name, NULL);
              GBytes *was = g_hash_table_lookup (old, name);
              gboolean same = was != NULL && g_bytes_equal (was, bytes);
              if (!same && !complete (name, bytes))
                g_error ("%s: incomplete after fault %u", path, k);
              if (failed_path != NULL && !folder_sync && strcmp (path, failed_path) == 0)
                g_assert_true (same);
            }
        }
      if (fired == NULL)
        {
          g_test_message ("hilum-cli %s: %u fault points", args[0], k - 1);
          return k - 1;
        }
      for (guint d = 0; d < n_dirs; d++)
        restore (dirs[d], g_ptr_array_index (before, d));
    }
  g_assert_not_reached ();
}

static char *
tiny_model (void)
{
  return g_build_filename (g_getenv ("HL_FIXTURES"), "tiny", "tiny.model.safetensors", NULL);
}

static void
test_cli_predict (void)
{
  g_autofree char *dir = hl_test_make_tmp_dir ("hl-file-write-XXXXXX");
  g_autofree char *model = tiny_model ();
  g_autofree char *a = g_build_filename (dir, "a", "x.png", NULL);
  g_autofree char *b = g_build_filename (dir, "b", "x.png", NULL);
  g_autofree char *out = g_build_filename (dir, "out", NULL);
  g_autofree char *cams = g_build_filename (out, "cams", NULL);
  g_autofree char *csv = g_build_filename (out, "p.csv", NULL);
  g_assert_cmpint (g_mkdir_with_parents (cams, 0755), ==, 0);
  g_free (hl_test_add_png (dir, "a/x.png"));
  g_autofree char *b_dir = g_path_get_dirname (b);
  g_assert_cmpint (g_mkdir (b_dir, 0755), ==, 0);
  hl_test_png_write_gray8 (b, 20, 24, 7);

  /* The sweep: one image, its CSV row and five heatmaps. */
  const char *one[] = { "predict", a, "--model", model, "--csv", csv, "--gradcam-dir", cams,
                        NULL };
  const char *dirs[] = { out, cams, NULL };
  g_assert_cmpuint (cli_fault_sweep (one, dirs, ".png", 3), >=, 5 * 6 + 12);

  /* Two files of one name: two rows that tell them apart, two sets of heatmaps. */
  const char *two[] = { "predict", a, b, "--model", model, "--csv", csv, "--gradcam-dir", cams,
                        NULL };
  g_assert_cmpint (hl_test_run_cli (two, NULL, NULL), ==, 0);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (csv, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "\na/x.png,"));
  g_assert_nonnull (strstr (text, "\nb/x.png,"));
  g_assert_null (strstr (text, "\nx.png,"));
  g_autoptr (GHashTable) files = snapshot (cams);
  g_assert_true (g_hash_table_contains (files, "a_x_Alpha.png"));
  g_assert_true (g_hash_table_contains (files, "b_x_Alpha.png"));
  g_assert_true (g_hash_table_contains (files, "x_Alpha.png")); /* the sweep's, replaced never */
  g_assert_cmpuint (g_hash_table_size (files), ==, 3 * 5);
  GBytes *pa = g_hash_table_lookup (files, "a_x_Alpha.png");
  GBytes *pb = g_hash_table_lookup (files, "b_x_Alpha.png");
  g_assert_false (g_bytes_equal (pa, pb));
  hl_test_remove_tree (dir);
}

static void
test_cli_report (void)
{
  g_autofree char *dir = hl_test_make_tmp_dir ("hl-file-write-XXXXXX");
  g_autofree char *model = tiny_model ();
  g_autofree char *in = g_build_filename (dir, "in", NULL);
  g_autofree char *out = g_build_filename (dir, "out", NULL);
  g_free (hl_test_add_png (in, "x.png"));
  const char *args[] = { "report", in, "--out", out, "--model", model, "--scale", "0.25", NULL };
  g_assert_cmpint (g_mkdir (out, 0755), ==, 0);
  const char *dirs[] = { out, NULL };
  g_assert_cmpuint (cli_fault_sweep (args, dirs, ".report.png", 1), >=, 6 + 12 + 6);
  hl_test_remove_tree (dir);
}

static void
test_cli_eval (void)
{
  g_autofree char *dir = hl_test_make_tmp_dir ("hl-file-write-XXXXXX");
  g_autofree char *labels = hl_test_add_text (
      dir, "labels.csv", "Image,Edema,Hernia\na.png,1,0\nb.png,0,1\nc.png,0,0\nd.png,1,1\n");
  g_autofree char *preds = hl_test_add_text (
      dir, "p.csv", "Image,Edema,Hernia\na.png,0.9,0.1\nb.png,0.1,0.8\nc.png,0.2,0.3\n"
                    "d.png,0.3,0.6\n");
  g_autofree char *out = g_build_filename (dir, "out", NULL);
  g_assert_cmpint (g_mkdir (out, 0755), ==, 0);
  const char *args[] = { "eval", "--labels", labels, "--predictions", preds, "--out", out, NULL };
  const char *dirs[] = { out, NULL };
  g_assert_cmpuint (cli_fault_sweep (args, dirs, NULL, 0), >=, 12 + 6);
  hl_test_remove_tree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The spawned hilum-cli gets HILUM_FAULT_WRITE; this process's faults are set by call. */
  g_unsetenv ("HILUM_FAULT_WRITE");
  hl_file_write_fault_set (0, 0);
  g_test_add_func ("/file-write/atomic", test_atomic);
  g_test_add_func ("/file-write/ownership", test_ownership);
  g_test_add_func ("/file-write/unique-names", test_unique_names);
  g_test_add_func ("/file-write/fault/contents", test_fault_contents);
  g_test_add_func ("/file-write/fault/model-save", test_fault_model_save);
  g_test_add_func ("/file-write/fault/predictions", test_fault_predictions);
  g_test_add_func ("/file-write/fault/render", test_fault_render);
  g_test_add_func ("/file-write/fault/cli-predict", test_cli_predict);
  g_test_add_func ("/file-write/fault/cli-report", test_cli_report);
  g_test_add_func ("/file-write/fault/cli-eval", test_cli_eval);
  return g_test_run ();
}
