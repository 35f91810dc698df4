/* test-study-folder.c — study folders (hl-study.h) built in temporary folders: nesting and the
 * depth limit, symbolic-link loops, links leaving the folder not followed, the entry cap, FIFOs
 * never opened, corrupt files listed with their error while the rest load,
 * read-only folders left untouched, grouping and ordering on a folder shaped like
 * ../shared/data/studies, label files found beside the images; and the real studies when present. */
#include "study/hl-study.h"
#include "study/hl-study-private.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hl-test-png.h"
#ifdef HL_HAVE_DICOM
#include "dicom-writer.h"
#endif

typedef HlTestDir Fixture; /* a fresh temporary folder per test */

static char *
add_png (Fixture *f, const char *relative)
{
  return hl_test_add_png (f->dir, relative);
}

static void
add_text (Fixture *f, const char *relative, const char *text)
{
  g_free (hl_test_add_text (f->dir, relative, text));
}

static HlStudy *
open_ok (const char *folder, guint max_depth, HlStudyOpenFlags flags)
{
  GError *error = NULL;
  HlStudy *study = hl_study_open (folder, max_depth, flags, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (study);
  for (guint i = 0; i < study->warnings->len; i++)
    g_test_message ("warning: %s", (const char *) study->warnings->pdata[i]);
  return study;
}

static const HlStudyImage *
find_image (const HlStudy *study, const char *relative)
{
  for (guint i = 0; i < study->images->len; i++)
    {
      const HlStudyImage *entry = study->images->pdata[i];
      if (strcmp (entry->relative_path, relative) == 0)
        return entry;
    }
  return NULL;
}

static gboolean
has_warning (const HlStudy *study, const char *needle)
{
  for (guint i = 0; i < study->warnings->len; i++)
    if (strstr (study->warnings->pdata[i], needle) != NULL)
      return TRUE;
  return FALSE;
}

/* Images found by content at any level; names do not matter; other files are counted. */
static void
test_nested (Fixture *f, gconstpointer data)
{
  g_autofree char *a = add_png (f, "a.png");
  g_autofree char *b = add_png (f, "sub/scan-without-extension");
  g_autofree char *c = add_png (f, "sub/deeper/c.dcm.png.old");
  g_autoptr (HlStudy) study = NULL;
  g_autofree char *top_name = g_path_get_basename (f->dir);
  const HlStudyImage *entry;

  add_text (f, "notes.txt", "not an image");
  add_text (f, "sub/readme", "nor this");
  add_text (f, ".hidden.png", "hidden files are not looked at");
  study = open_ok (f->dir, HL_STUDY_DEFAULT_MAX_DEPTH, HL_STUDY_OPEN_NONE);
  g_assert_cmpuint (study->images->len, ==, 3);
  g_assert_cmpuint (study->n_other_files, ==, 2);
  g_assert_cmpuint (study->n_failed, ==, 0);
  g_assert_cmpuint (study->warnings->len, ==, 0);

  entry = find_image (study, "a.png");
  g_assert_nonnull (entry);
  g_assert_cmpstr (entry->path, ==, a);
  g_assert_cmpint (entry->format, ==, HL_IMAGE_PNG);
  g_assert_cmpstr (entry->patient_id, ==, top_name); /* no better id: the folder's name */
  g_assert_cmpint (entry->follow_up, ==, -1);
  g_assert_null (entry->error);
  entry = find_image (study, "sub/scan-without-extension");
  g_assert_nonnull (entry);
  g_assert_cmpstr (entry->patient_id, ==, "sub");
  entry = find_image (study, "sub/deeper/c.dcm.png.old");
  g_assert_nonnull (entry);
  g_assert_cmpstr (entry->patient_id, ==, "deeper");
  g_assert_cmpuint (study->patients->len, ==, 3);
}

static void
test_depth_limit (Fixture *f, gconstpointer data)
{
  g_autofree char *p0 = add_png (f, "0.png");
  g_autofree char *p1 = add_png (f, "l1/1.png");
  g_autofree char *p2 = add_png (f, "l1/l2/2.png");
  g_autofree char *p3 = add_png (f, "l1/l2/l3/3.png");

  for (guint depth = 0; depth <= 3; depth++)
    {
      g_autoptr (HlStudy) study = open_ok (f->dir, depth, HL_STUDY_OPEN_NONE);
      g_assert_cmpuint (study->images->len, ==, depth + 1);
      g_assert_cmpint (has_warning (study, "deeper than"), ==, depth < 3);
    }
}

/* A link to an ancestor, a link to itself and two links to one folder: every folder is entered
 * once, every image listed once, and the scan ends. */
static void
test_symlink_loop (Fixture *f, gconstpointer data)
{
  g_autofree char *p = add_png (f, "patient/00000009_000.png");
  g_autofree char *up = g_build_filename (f->dir, "patient", "up", NULL);
  g_autofree char *self = g_build_filename (f->dir, "patient", "self", NULL);
  g_autofree char *again = g_build_filename (f->dir, "again", NULL);
  g_autofree char *file_link = g_build_filename (f->dir, "link.png", NULL);
  g_autofree char *dangling = g_build_filename (f->dir, "dangling.png", NULL);
  g_autoptr (HlStudy) study = NULL;

  g_assert_cmpint (symlink ("..", up), ==, 0);
  g_assert_cmpint (symlink (".", self), ==, 0);
  g_assert_cmpint (symlink ("patient", again), ==, 0);
  g_assert_cmpint (symlink ("patient/00000009_000.png", file_link), ==, 0);
  g_assert_cmpint (symlink ("nowhere.png", dangling), ==, 0);
  study = open_ok (f->dir, 50, HL_STUDY_OPEN_NONE);
  g_assert_cmpuint (study->images->len, ==, 1);
  g_assert_cmpuint (study->patients->len, ==, 1);
  g_assert_cmpstr (((HlStudyPatient *) study->patients->pdata[0])->patient_id, ==, "9");
  g_assert_true (has_warning (study, "not scanned again"));
  g_assert_true (has_warning (study, "dangling.png: skipped"));
}

/* Links that leave the folder (to `/`, to the folder's parent, to an image beside the folder)
 * are not followed, each said in a warning and counted; a link inside it still is. */
static void
test_symlink_outside (Fixture *f, gconstpointer data)
{
  g_autofree char *study = g_build_filename (f->dir, "study", NULL);
  g_autofree char *p = add_png (f, "study/patient/00000009_000.png");
  g_autofree char *beside = add_png (f, "elsewhere/00000010_000.png");
  g_autofree char *root = g_build_filename (study, "root", NULL);
  g_autofree char *parent = g_build_filename (study, "patient", "parent", NULL);
  g_autofree char *file = g_build_filename (study, "00000010_000.png", NULL);
  g_autofree char *inside = g_build_filename (study, "again", NULL);
  g_autofree char *via = g_build_filename (f->dir, "via-link", NULL);
  g_autoptr (HlStudy) s = NULL;

  g_assert_cmpint (symlink ("/", root), ==, 0);
  g_assert_cmpint (symlink ("../..", parent), ==, 0);
  g_assert_cmpint (symlink (beside, file), ==, 0);
  g_assert_cmpint (symlink ("patient", inside), ==, 0);
  s = open_ok (study, 50, HL_STUDY_OPEN_NONE);
  g_assert_cmpuint (s->images->len, ==, 1);
  g_assert_cmpstr (((HlStudyImage *) s->images->pdata[0])->relative_path, ==,
                   "again/00000009_000.png");
  g_assert_cmpuint (s->n_links_outside, ==, 3);
  g_assert_false (s->incomplete);
  g_assert_true (has_warning (s, "root: a link to /, outside the study folder: not followed"));
  g_assert_true (has_warning (s, "parent: a link to "));
  g_assert_true (has_warning (s, "00000010_000.png: a link to "));

  /* the folder given may itself be a link: its real path is the root */
  g_assert_cmpint (symlink ("study", via), ==, 0);
  g_clear_pointer (&s, hl_study_free);
  s = open_ok (via, 50, HL_STUDY_OPEN_NONE);
  g_assert_cmpuint (s->images->len, ==, 1);
  g_assert_cmpuint (s->n_links_outside, ==, 3);
}

/* Opens @folder reading at most @cap entries. */
static HlStudy *
open_capped (const char *folder, guint cap)
{
  GError *error = NULL;
  HlStudy *study = hl_study_open_capped (folder, 8, cap, HL_STUDY_OPEN_NONE, NULL, &error);

  g_assert_no_error (error);
  return study;
}

/* More entries than the cap (hidden ones count: they are read, if never looked at), here about
 * 100 (hl_study_open_capped; HL_STUDY_MAX_ENTRIES takes minutes to make on a slow disk): the scan
 * stops, sets incomplete and says how much it left unread, naming the folder cut short and
 * counting those reached after it; exactly the cap is scanned whole. The folder holds a/ (100
 * hidden files) and b/ (one image), taken in name order: 103 entries in all. */
static void
test_entry_cap (Fixture *f, gconstpointer data)
{
  g_autofree char *many = g_build_filename (f->dir, "many", NULL);
  g_autofree char *a = g_build_filename (many, "a", NULL);
  g_autofree char *b = g_build_filename (many, "b", NULL);
  g_autofree char *image = add_png (f, "many/b/00000003_000.png");

  for (guint i = 0; i < 100; i++)
    {
      char name[32];
      g_snprintf (name, sizeof name, "many/a/.%03u", i);
      add_text (f, name, "");
    }
  {
    g_autoptr (HlStudy) s = open_capped (many, 50);
    g_autofree char *want = g_strdup_printf ("%s: scan stopped after 50 entries (the cap): the "
                                             "rest of %s and 1 more folders were not read; the "
                                             "study is incomplete",
                                             many, a);
    g_assert_true (s->incomplete);
    g_assert_true (has_warning (s, want));
    g_assert_cmpuint (s->images->len, ==, 0);
  }
  {
    g_autoptr (HlStudy) s = open_capped (many, 102);
    g_autofree char *want = g_strdup_printf ("the rest of %s and 0 more folders", b);
    g_assert_true (s->incomplete);
    g_assert_true (has_warning (s, want));
    g_assert_cmpuint (s->images->len, ==, 0);
  }
  {
    g_autoptr (HlStudy) s = open_capped (many, 103);
    g_assert_false (s->incomplete);
    g_assert_cmpuint (s->images->len, ==, 1);
    g_assert_cmpuint (s->warnings->len, ==, 0);
  }
}

/* A FIFO, named like an image, in a folder does not block the scan: it is no regular file. */
static void
test_fifo (Fixture *f, gconstpointer data)
{
  g_autofree char *good = add_png (f, "00000001_000.png");
  g_autofree char *fifo = g_build_filename (f->dir, "00000001_001.png", NULL);
  g_autoptr (HlStudy) s = NULL;
  g_autoptr (GError) error = NULL;
  HlImageFormat format;

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  s = open_ok (f->dir, 8, HL_STUDY_OPEN_VERIFY);
  g_assert_cmpuint (s->images->len, ==, 1);
  g_assert_cmpuint (s->n_other_files, ==, 1);
  g_assert_false (hl_image_sniff (fifo, &format, &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO);
  g_assert_cmpstr (strstr (error->message, ": not"), ==, ": not a regular file (a FIFO)");
  g_clear_error (&error);
  g_assert_null (hl_image_load ("/dev/null", &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO);
  g_assert_cmpstr (error->message, ==, "/dev/null: not a regular file (a character device)");
}

/* A truncated PNG, a text file named .png and an unreadable-by-content file: listed with their
 * error; the good images still load. */
static void
test_corrupt (Fixture *f, gconstpointer data)
{
  g_autofree char *good = add_png (f, "00000001_000.png");
  g_autofree char *cut = add_png (f, "00000001_001.png");
  g_autofree char *contents = NULL;
  gsize length;
  GError *error = NULL;

  add_text (f, "00000001_002.png", "this is text");
  g_assert_true (g_file_get_contents (cut, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (cut, contents, length - 20, NULL));

  /* fast scan: the text file is known bad, the truncated PNG only when decoded */
  {
    g_autoptr (HlStudy) study = open_ok (f->dir, 8, HL_STUDY_OPEN_NONE);
    const HlStudyImage *text = find_image (study, "00000001_002.png");
    const HlStudyImage *truncated = find_image (study, "00000001_001.png");
    g_autoptr (HlImage) image = NULL;

    g_assert_cmpuint (study->images->len, ==, 3);
    g_assert_cmpuint (study->n_failed, ==, 1);
    g_assert_error (text->error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT);
    g_assert_null (truncated->error);
    g_assert_null (hl_study_image_load (truncated, &error));
    g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT);
    g_clear_error (&error);
    g_assert_null (hl_study_image_load (text, &error));
    g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT);
    g_clear_error (&error);
    image = hl_study_image_load (find_image (study, "00000001_000.png"), &error);
    g_assert_no_error (error);
    g_assert_cmpint (image->width, ==, 16);
    g_assert_cmpstr (image->patient_id, ==, "1");
  }
  /* verified scan: both failures are listed up front */
  {
    g_autoptr (HlStudy) study = open_ok (f->dir, 8, HL_STUDY_OPEN_VERIFY);
    const HlStudyImage *truncated = find_image (study, "00000001_001.png");

    g_assert_cmpuint (study->images->len, ==, 3);
    g_assert_cmpuint (study->n_failed, ==, 2);
    g_assert_error (truncated->error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT);
    g_assert_nonnull (strstr (truncated->error->message, cut));
    g_assert_null (find_image (study, "00000001_000.png")->error);
  }
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Names, sizes, times and modes of everything under @path, in name order. */
static char *
snapshot (const char *path)
{
  GString *out = g_string_new (NULL);
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  if (dir != NULL)
    g_dir_close (dir);
  g_ptr_array_sort (names, compare_strings);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *child = g_build_filename (path, names->pdata[i], NULL);
      GStatBuf st;
      g_assert_cmpint (g_lstat (child, &st), ==, 0);
      g_string_append_printf (out, "%s %ld %ld %o\n", (char *) names->pdata[i], (long) st.st_size,
                              (long) st.st_mtime, st.st_mode);
      if (S_ISDIR (st.st_mode))
        {
          g_autofree char *sub = snapshot (child);
          g_string_append (out, sub);
        }
    }
  return g_string_free (out, FALSE);
}

/* A read-only folder opens and decodes, and nothing in it changes. */
static void
test_read_only (Fixture *f, gconstpointer data)
{
  g_autofree char *a = add_png (f, "p/00000002_000.png");
  g_autofree char *b = add_png (f, "p/00000002_001.png");
  g_autofree char *p = g_build_filename (f->dir, "p", NULL);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  add_text (f, "labels.csv", "Image,Mass\n00000002_000.png,1\n");
  g_chmod (a, 0444);
  g_chmod (b, 0444);
  g_chmod (p, 0555);
  g_chmod (f->dir, 0555);
  before = snapshot (f->dir);
  {
    g_autoptr (HlStudy) study = open_ok (f->dir, 8, HL_STUDY_OPEN_VERIFY);
    g_assert_cmpuint (study->images->len, ==, 2);
    g_assert_cmpuint (study->n_failed, ==, 0);
    g_assert_cmpuint (study->label_sets->len, ==, 1);
  }
  after = snapshot (f->dir);
  g_assert_cmpstr (before, ==, after);
}

/* Shaped like ../shared/data/studies: one folder per patient, NIH names, a Data_Entry-style label
 * file at the top. Patients in natural order, images by follow-up, labels matched by file name. */
static void
test_studies_shape (Fixture *f, gconstpointer data)
{
  const char *files[] = { "patient-00001543/00001543_010.png", "patient-00001543/00001543_002.png",
                          "patient-00000005/00000005_001.png", "patient-00000005/00000005_000.png",
                          "patient-00001543/00001543_000.png" };
  g_autoptr (HlStudy) study = NULL;
  const HlStudyPatient *patient;
  const HlStudyImage *entry;

  for (gsize i = 0; i < G_N_ELEMENTS (files); i++)
    g_free (add_png (f, files[i]));
  add_text (f, "Data_Entry.csv",
            "Image Index,Finding Labels,Follow-up #,Patient ID\n"
            "00000005_000.png,No Finding,0,5\n"
            "00001543_010.png,Hernia|Mass,10,1543\n");
  add_text (f, "predictions.csv", "Image,score\nx.png,0.5\n");
  study = open_ok (f->dir, 8, HL_STUDY_OPEN_NONE);

  g_assert_cmpuint (study->patients->len, ==, 2);
  patient = study->patients->pdata[0];
  g_assert_cmpstr (patient->patient_id, ==, "5");
  g_assert_cmpuint (patient->images->len, ==, 2);
  g_assert_cmpint (((HlStudyImage *) patient->images->pdata[0])->follow_up, ==, 0);
  g_assert_cmpint (((HlStudyImage *) patient->images->pdata[1])->follow_up, ==, 1);
  patient = study->patients->pdata[1];
  g_assert_cmpstr (patient->patient_id, ==, "1543");
  g_assert_true (patient == hl_study_find_patient (study, "1543"));
  g_assert_null (hl_study_find_patient (study, "00001543"));
  g_assert_cmpuint (patient->images->len, ==, 3);
  g_assert_cmpint (((HlStudyImage *) patient->images->pdata[0])->follow_up, ==, 0);
  g_assert_cmpint (((HlStudyImage *) patient->images->pdata[1])->follow_up, ==, 2);
  g_assert_cmpint (((HlStudyImage *) patient->images->pdata[2])->follow_up, ==, 10);
  /* study->images is patient by patient in the same order */
  g_assert_true (study->images->pdata[2] == patient->images->pdata[0]);

  g_assert_cmpuint (study->label_sets->len, ==, 1);
  g_assert_true (has_warning (study, "predictions.csv"));
  entry = find_image (study, "patient-00001543/00001543_010.png");
  g_assert_nonnull (entry->labels);
  g_assert_cmpint (entry->labels->labels[hl_label_index ("Hernia")], ==, 1);
  g_assert_cmpint (entry->labels->labels[hl_label_index ("Mass")], ==, 1);
  g_assert_nonnull (find_image (study, "patient-00000005/00000005_000.png")->labels);
  g_assert_null (find_image (study, "patient-00000005/00000005_001.png")->labels);
}

#ifdef HL_HAVE_DICOM
/* DICOM files group by their Patient ID and order by Study Date, whatever their names. */
static void
test_dicom_dates (Fixture *f, gconstpointer data)
{
  guint16 pixels[16] = { 0, 100, 200, 300 };
  HlTestDicomSpec spec = { .width = 4, .height = 4, .frames = 1, .samples = 1, .bits_stored = 12,
                           .pixels = pixels, .patient_id = "JD-77" };
  const struct { const char *name, *date; } files[] = {
    { "a-latest.dcm", "20240301" }, { "b-first.dcm", "20190105" }, { "c-middle.dcm", "20211231" },
  };
  GError *error = NULL;
  g_autoptr (HlStudy) study = NULL;
  const HlStudyPatient *patient;

  for (gsize i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (f->dir, "scans", files[i].name, NULL);
      g_autofree char *parent = g_path_get_dirname (path);
      g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
      spec.study_date = files[i].date;
      g_assert_true (hl_test_dicom_write (&spec, path, &error));
      g_assert_no_error (error);
    }
  g_free (add_png (f, "scans/00000003_000.png"));
  study = open_ok (f->dir, 8, HL_STUDY_OPEN_NONE);
  g_assert_cmpuint (study->images->len, ==, 4);
  patient = hl_study_find_patient (study, "JD-77");
  g_assert_nonnull (patient);
  g_assert_cmpuint (patient->images->len, ==, 3);
  g_assert_cmpstr (((HlStudyImage *) patient->images->pdata[0])->study_date, ==, "20190105");
  g_assert_cmpstr (((HlStudyImage *) patient->images->pdata[1])->study_date, ==, "20211231");
  g_assert_cmpstr (((HlStudyImage *) patient->images->pdata[2])->study_date, ==, "20240301");
  g_assert_cmpint (((HlStudyImage *) patient->images->pdata[0])->format, ==, HL_IMAGE_DICOM);
  g_assert_nonnull (hl_study_find_patient (study, "3"));
}
#endif

static void
test_refused (Fixture *f, gconstpointer data)
{
  g_autofree char *missing = g_build_filename (f->dir, "missing", NULL);
  g_autofree char *file = add_png (f, "file.png");
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  GError *error = NULL;

  g_assert_null (hl_study_open (missing, 8, HL_STUDY_OPEN_NONE, NULL, &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);
  g_assert_null (hl_study_open (file, 8, HL_STUDY_OPEN_NONE, NULL, &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO);
  g_clear_error (&error);
  g_cancellable_cancel (cancellable);
  g_assert_null (hl_study_open (f->dir, 8, HL_STUDY_OPEN_NONE, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
}

/* The real studies: 39 images of four patients (data/README.md), each in follow-up order. */
static void
test_real (Fixture *f, gconstpointer data)
{
  const char *shared = g_getenv ("HL_SHARED_DATA");
  g_autofree char *path = NULL;
  g_autoptr (HlStudy) study = NULL;
  const char *ids[] = { "5", "1543", "1684", "3140" };

  if (shared == NULL
      || !g_file_test ((path = g_build_filename (shared, "studies", NULL)), G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("HL_SHARED_DATA/studies not available: real studies not scanned");
      return;
    }
  study = open_ok (path, HL_STUDY_DEFAULT_MAX_DEPTH, HL_STUDY_OPEN_NONE);
  g_assert_cmpuint (study->images->len, ==, 39);
  g_assert_cmpuint (study->n_failed, ==, 0);
  g_assert_cmpuint (study->patients->len, ==, 4);
  for (guint p = 0; p < 4; p++)
    {
      const HlStudyPatient *patient = study->patients->pdata[p];
      g_assert_cmpstr (patient->patient_id, ==, ids[p]);
      for (guint i = 0; i < patient->images->len; i++)
        {
          const HlStudyImage *entry = patient->images->pdata[i];
          g_autofree char *folder = g_strdup_printf ("patient-%08d/", atoi (ids[p]));
          g_assert_true (g_str_has_prefix (entry->relative_path, folder));
          if (i > 0)
            g_assert_cmpint (entry->follow_up, >,
                             ((HlStudyImage *) patient->images->pdata[i - 1])->follow_up);
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, hl_test_dir_set_up, func, hl_test_dir_tear_down)
  ADD ("/study/folder/nested", test_nested);
  ADD ("/study/folder/depth-limit", test_depth_limit);
  ADD ("/study/folder/symlink-loop", test_symlink_loop);
  ADD ("/study/folder/symlink-outside", test_symlink_outside);
  ADD ("/study/folder/entry-cap", test_entry_cap);
  ADD ("/study/folder/fifo", test_fifo);
  ADD ("/study/folder/corrupt", test_corrupt);
  ADD ("/study/folder/read-only", test_read_only);
  ADD ("/study/folder/studies-shape", test_studies_shape);
#ifdef HL_HAVE_DICOM
  ADD ("/study/folder/dicom-dates", test_dicom_dates);
#endif
  ADD ("/study/folder/refused", test_refused);
  ADD ("/study/folder/real", test_real);
#undef ADD

  return g_test_run ();
}
