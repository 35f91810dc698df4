/* test-cli-study.c — runs the built `hilum-cli check` and `hilum-cli split` (HL_BUILD_DIR) on
 * folders and label files made here, and `check` on the real shared splits when present: the
 * report lines, the exit statuses, images and non-CSV files given to check, links leaving a
 * folder, FIFOs and devices refused, and that split writes patient-disjoint, reproducible files and
 * never replaces a file it was not told to. */
#include "study/hl-splits.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hl-test-png.h"

typedef struct
{
  char *dir;
  HlTestRun run; /* the last run */
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = hl_test_make_tmp_dir ("hl-cli-study-XXXXXX");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  hl_test_remove_tree (f->dir);
  g_free (f->dir);
  hl_test_run_clear (&f->run);
}

/* Runs hilum-cli with the NULL-terminated arguments after "hilum-cli". */
static void
run_cli (Fixture *f, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  const char *arg;
  va_list ap;

  va_start (ap, f);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (args, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  hl_test_run (&f->run, (const char *const *) args->pdata);
}

static char *
write_text (Fixture *f, const char *name, const char *text)
{
  return hl_test_add_text (f->dir, name, text);
}

static char *
write_png (Fixture *f, const char *name)
{
  return hl_test_add_png (f->dir, name);
}

/* A folder with one image that does not decode: listed, counted, exit status 3 (some inputs
 * failed, the others read). */
static void
test_check_folder (Fixture *f, gconstpointer data)
{
  g_autofree char *good = write_png (f, "study/00000004_000.png");
  g_autofree char *bad = write_png (f, "study/00000004_001.png");
  g_autofree char *folder = g_build_filename (f->dir, "study", NULL);
  g_autofree char *labels = write_text (f, "study/labels.csv",
                                        "Image,Mass\n00000004_000.png,1\n00000009_000.png,0\n");
  g_autofree char *contents = NULL;
  gsize length;

  run_cli (f, "check", folder, NULL);
  g_assert_cmpint (f->run.status, ==, 0);
  g_assert_nonnull (strstr (f->run.out, "2 images (2 PNG, 0 DICOM, 0 failed) of 1 patients"));
  g_assert_nonnull (strstr (f->run.out, "patient 4: 2 images"));
  g_assert_nonnull (strstr (f->run.out, "1 of 2 images have labels"));
  g_assert_nonnull (strstr (f->run.out, "2 rows, 1 of them name an image here"));
  g_assert_nonnull (strstr (f->run.out, "\nOK\n"));

  g_assert_true (g_file_get_contents (bad, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (bad, contents, length / 2, NULL));
  run_cli (f, "check", folder, NULL);
  g_assert_cmpint (f->run.status, ==, 3);
  g_assert_nonnull (strstr (f->run.out, "(1 PNG, 0 DICOM, 1 failed)"));
  g_assert_nonnull (strstr (f->run.out, "FAILED"));
  g_assert_nonnull (strstr (f->run.out, bad));
  g_assert_nonnull (strstr (f->run.out, "PROBLEMS FOUND"));
}

/* Two label files sharing patients 3 and 10 (written differently): named, exit status 4; a
 * missing file alone: nothing read, exit status 1. */
static void
test_check_leakage (Fixture *f, gconstpointer data)
{
  g_autofree char *a = write_text (f, "a.csv", "Image,Mass,Hernia,PatientId\n"
                                               "x.png,1,0,10\n"
                                               "y.png,0,1,3\n"
                                               "z.png,0,0,4\n");
  g_autofree char *b = write_text (f, "b.csv", "Image,Mass,Hernia\n"
                                               "00000010_001.png,1,0\n"
                                               "00000003_000.png,1,1\n"
                                               "00000007_000.png,0,0\n");
  g_autofree char *c = write_text (f, "c.csv", "Image,Mass\n00000008_000.png,1\n");
  g_autofree char *missing = g_build_filename (f->dir, "missing.csv", NULL);

  run_cli (f, "check", a, b, c, NULL);
  g_assert_cmpint (f->run.status, ==, 4);
  g_assert_nonnull (strstr (f->run.out, "3 images of 3 patients; 2 of 14 labels: Hernia, Mass"));
  g_assert_nonnull (strstr (f->run.out, "share 2 patients: 3 10\n"));
  g_assert_nonnull (strstr (f->run.out, "share no patient"));
  g_assert_nonnull (strstr (f->run.out, "PROBLEMS FOUND"));

  run_cli (f, "check", a, c, NULL);
  g_assert_cmpint (f->run.status, ==, 0);

  run_cli (f, "check", missing, NULL);
  g_assert_cmpint (f->run.status, ==, 1);
  g_assert_nonnull (strstr (f->run.err, missing));

  run_cli (f, "check", NULL);
  g_assert_cmpint (f->run.status, ==, 2);
}

/* An image given to check is decoded and described (by content, whatever its name); a corrupt
 * one fails; a binary file that is no image is "not a CSV"; a FIFO and a device are refused
 * without blocking; an image and a missing file: exit 3; only failures: exit 1. */
static void
test_check_inputs (Fixture *f, gconstpointer data)
{
  g_autofree char *png = write_png (f, "scan.csv");
  g_autofree char *bad = write_png (f, "bad.png");
  g_autofree char *binary = g_build_filename (f->dir, "blob.csv", NULL);
  g_autofree char *fifo = g_build_filename (f->dir, "fifo.png", NULL);
  g_autofree char *missing = g_build_filename (f->dir, "missing.png", NULL);
  g_autofree char *contents = NULL;
  gsize length;

  run_cli (f, "check", png, NULL);
  g_assert_cmpint (f->run.status, ==, 0);
  g_assert_nonnull (strstr (f->run.out, "scan.csv: PNG image, 16 x 16, 8 bits\n"));
  g_assert_nonnull (strstr (f->run.out, "patient unknown, study date unknown, view unknown"));

  g_assert_true (g_file_get_contents (bad, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (bad, contents, length / 2, NULL));
  g_assert_true (g_file_set_contents (binary, "\x7f" "ELF\x02\x01\x01\0\0\0", 10, NULL));
  run_cli (f, "check", bad, binary, NULL);
  g_assert_cmpint (f->run.status, ==, 1);
  g_assert_nonnull (strstr (f->run.out, "bad.png: FAILED: an image that does not decode"));
  g_assert_nonnull (strstr (f->run.err, bad));
  g_assert_nonnull (strstr (f->run.err, "blob.csv: not a CSV: a NUL byte at offset 7"));

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  run_cli (f, "check", fifo, "/dev/zero", NULL);
  g_assert_cmpint (f->run.status, ==, 1);
  g_assert_nonnull (strstr (f->run.err, "fifo.png: not a regular file (a FIFO)"));
  g_assert_nonnull (strstr (f->run.err, "/dev/zero: not a regular file (a character device)"));

  run_cli (f, "check", png, missing, NULL);
  g_assert_cmpint (f->run.status, ==, 3);
  g_assert_nonnull (strstr (f->run.err, missing));
}

/* A study holding a link to `/` and one to its parent: check neither follows them (it would scan
 * the machine) and says so; an all-corrupt folder is exit 1. */
static void
test_check_links (Fixture *f, gconstpointer data)
{
  g_autofree char *good = write_png (f, "study/00000004_000.png");
  g_autofree char *folder = g_build_filename (f->dir, "study", NULL);
  g_autofree char *root = g_build_filename (folder, "root", NULL);
  g_autofree char *up = g_build_filename (folder, "up", NULL);
  g_autofree char *contents = NULL;
  gsize length;

  g_assert_cmpint (symlink ("/", root), ==, 0);
  g_assert_cmpint (symlink ("..", up), ==, 0);
  run_cli (f, "check", folder, NULL);
  g_assert_cmpint (f->run.status, ==, 0);
  g_assert_nonnull (strstr (f->run.out, "1 images (1 PNG, 0 DICOM, 0 failed) of 1 patients"));
  g_assert_nonnull (
      strstr (f->run.out, "root: a link to /, outside the study folder: not followed"));
  g_assert_nonnull (strstr (f->run.out, "up: a link to "));

  g_assert_true (g_file_get_contents (good, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (good, contents, length - 10, NULL));
  run_cli (f, "check", folder, NULL);
  g_assert_cmpint (f->run.status, ==, 1);
  g_assert_nonnull (strstr (f->run.out, "FAILED"));
}

static void
test_check_real (Fixture *f, gconstpointer data)
{
  const char *shared = g_getenv ("HL_SHARED_DATA");
  g_autofree char *train = NULL;
  g_autofree char *valid = NULL;
  g_autofree char *test = NULL;
  const char *p;
  int n_clean = 0;

  if (shared == NULL
      || !g_file_test ((train = g_build_filename (shared, "nih", "train.csv", NULL)),
                       G_FILE_TEST_EXISTS))
    {
      g_test_skip ("HL_SHARED_DATA/nih not available: real splits not checked");
      return;
    }
  valid = g_build_filename (shared, "nih", "valid.csv", NULL);
  test = g_build_filename (shared, "nih", "test.csv", NULL);
  run_cli (f, "check", train, valid, test, NULL);
  g_assert_cmpint (f->run.status, ==, 0);
  g_assert_nonnull (strstr (f->run.out, "895 images of 658 patients"));
  g_assert_nonnull (strstr (f->run.out, "895 of the listed images are present"));
  for (p = f->run.out; (p = strstr (p, "share no patient")) != NULL; p++)
    n_clean++;
  g_assert_cmpint (n_clean, ==, 3);
}

static HlLabelSet *
load_ok (const char *path)
{
  GError *error = NULL;
  HlLabelSet *set = hl_label_set_load (path, &error);

  g_assert_no_error (error);
  return set;
}

/* Split writes three patient-disjoint files holding every row once, the same bytes for the same
 * seed, and refuses to replace files (the input above all) unless told. */
static void
test_split (Fixture *f, gconstpointer data)
{
  g_autoptr (GString) text = g_string_new ("Image,Hernia,Mass,PatientId\n");
  g_autofree char *input = NULL;
  g_autofree char *out1 = g_build_filename (f->dir, "one", NULL);
  g_autofree char *out2 = g_build_filename (f->dir, "two", NULL);
  g_autofree char *out3 = g_build_filename (f->dir, "three", NULL);
  const char *names[3] = { "train.csv", "valid.csv", "test.csv" };
  HlLabelSet *parts[3];
  g_autoptr (HlLabelSet) all = NULL;
  guint total = 0;

  for (int p = 1; p <= 120; p++)
    for (int k = 0; k <= p % 3; k++)
      g_string_append_printf (text, "%08d_%03d.png,%d,%d,%d\n", p, k, p % 30 == 0, p % 4 == 0, p);
  input = write_text (f, "all.csv", text->str);
  all = load_ok (input);

  run_cli (f, "split", input, "--out", out1, "--seed", "5", "--fractions", "0.6,0.2,0.2", NULL);
  g_assert_cmpint (f->run.status, ==, 0);
  for (int s = 0; s < 3; s++)
    {
      g_autofree char *path = g_build_filename (out1, names[s], NULL);
      HlClassCounts counts;

      parts[s] = load_ok (path);
      hl_splits_count (parts[s], NULL, 0, &counts);
      g_assert_cmpuint (counts.positives[hl_label_index ("Hernia")], >, 0);
      total += parts[s]->rows->len;
      for (guint i = 0; i < parts[s]->rows->len; i++)
        {
          const HlLabelRow *row = parts[s]->rows->pdata[i];
          const HlLabelRow *truth = hl_label_set_lookup (all, row->image);
          g_assert_nonnull (truth);
          g_assert_cmpmem (row->labels, HL_N_LABELS, truth->labels, HL_N_LABELS);
          g_assert_cmpstr (row->patient_id, ==, truth->patient_id);
        }
    }
  g_assert_cmpuint (total, ==, all->rows->len);
  for (int s = 0; s < 3; s++)
    for (int t = s + 1; t < 3; t++)
      {
        g_autoptr (GPtrArray) shared = hl_splits_shared_patients (parts[s], parts[t]);
        g_assert_cmpuint (shared->len, ==, 0);
      }
  for (int s = 0; s < 3; s++)
    hl_label_set_free (parts[s]);

  /* same seed: same bytes; another seed: another split */
  run_cli (f, "split", input, "--out", out2, "--seed", "5", "--fractions", "0.6,0.2,0.2", NULL);
  g_assert_cmpint (f->run.status, ==, 0);
  run_cli (f, "split", input, "--out", out3, "--seed", "6", "--fractions", "0.6,0.2,0.2", NULL);
  g_assert_cmpint (f->run.status, ==, 0);
  {
    g_autofree char *p1 = g_build_filename (out1, "train.csv", NULL);
    g_autofree char *p2 = g_build_filename (out2, "train.csv", NULL);
    g_autofree char *p3 = g_build_filename (out3, "train.csv", NULL);
    g_autofree char *c1 = NULL, *c2 = NULL, *c3 = NULL;
    g_assert_true (g_file_get_contents (p1, &c1, NULL, NULL));
    g_assert_true (g_file_get_contents (p2, &c2, NULL, NULL));
    g_assert_true (g_file_get_contents (p3, &c3, NULL, NULL));
    g_assert_cmpstr (c1, ==, c2);
    g_assert_cmpstr (c1, !=, c3);
  }

  /* existing files are kept without --force, replaced with it */
  run_cli (f, "split", input, "--out", out1, "--seed", "6", "--fractions", "0.6,0.2,0.2", NULL);
  g_assert_cmpint (f->run.status, ==, 1);
  g_assert_nonnull (strstr (f->run.err, "--force"));
  run_cli (f, "split", input, "--out", out1, "--seed", "6", "--fractions", "0.6,0.2,0.2",
           "--force", NULL);
  g_assert_cmpint (f->run.status, ==, 0);

  /* the input is never replaced, even with --force */
  {
    g_autofree char *renamed = g_build_filename (f->dir, "train.csv", NULL);
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;

    g_assert_cmpint (g_rename (input, renamed), ==, 0);
    g_assert_true (g_file_get_contents (renamed, &before, NULL, NULL));
    run_cli (f, "split", renamed, "--out", f->dir, "--force", NULL);
    g_assert_cmpint (f->run.status, ==, 1);
    g_assert_nonnull (strstr (f->run.err, "overwrite the input"));
    g_assert_true (g_file_get_contents (renamed, &after, NULL, NULL));
    g_assert_cmpstr (before, ==, after);
    g_assert_cmpint (g_rename (renamed, input), ==, 0);
  }

  /* usage errors */
  run_cli (f, "split", input, "--out", out3, "--fractions", "0.5,0.6", NULL);
  g_assert_cmpint (f->run.status, ==, 2);
  run_cli (f, "split", input, "--out", out3, "--fractions", "1", NULL);
  g_assert_cmpint (f->run.status, ==, 2);
  run_cli (f, "split", input, NULL);
  g_assert_cmpint (f->run.status, ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/cli/check/folder", test_check_folder);
  ADD ("/cli/check/leakage", test_check_leakage);
  ADD ("/cli/check/inputs", test_check_inputs);
  ADD ("/cli/check/links", test_check_links);
  ADD ("/cli/check/real", test_check_real);
  ADD ("/cli/split/split", test_split);
#undef ADD

  return g_test_run ();
}
