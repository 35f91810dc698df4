/* test-study-predictions.c — tests of src/study/hl-predictions: reading prediction CSVs (and
 * refusing the malformed ones with the line at fault), writing them back, and lining them up with
 * a label file, including the images a label file lists that have no prediction. */
#include "hl-test-nih.h"
#include "hl-test-png.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static HlPredictions *
load_text (const char *text, GError **error)
{
  return hl_predictions_load_from_data (text, strlen (text), "preds.csv", error);
}

static void
test_read (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlPredictions) p = NULL;

  p = load_text ("\xEF\xBB\xBFImage,Hernia,atelectasis\r\n"
                 "a_000.png,0.25,1e-3\r\n"
                 "\r\n"
                 "b_000.png,1,0\r\n",
                 &error);
  g_assert_no_error (error);
  g_assert_cmpuint (p->n_images, ==, 2);
  g_assert_cmpuint (p->n_labels, ==, 2);
  g_assert_cmpstr (hl_label_names[p->label_index[0]], ==, "Hernia");
  g_assert_cmpstr (hl_label_names[p->label_index[1]], ==, "Atelectasis");
  g_assert_cmpstr (p->images[1], ==, "b_000.png");
  g_assert_null (p->images[2]);
  g_assert_cmpfloat (p->scores[0], ==, 0.25);
  g_assert_cmpfloat (p->scores[1], ==, 1e-3);
  g_assert_cmpfloat (p->scores[2], ==, 1.0);
  g_assert_cmpint (hl_predictions_lookup (p, "b_000.png"), ==, 1);
  g_assert_cmpint (hl_predictions_lookup (p, "c_000.png"), ==, -1);
}

static void
test_refused (void)
{
  const struct
  {
    const char *text;
    const char *message; /* a part of the error message */
  } cases[] = {
    { "", "no header" },
    { "Image,Hernia\n", "no rows" },
    { "Name,Hernia\na.png,0.5\n", "header must be" },
    { "Image\na.png\n", "header must be" },
    { "Image,Hernia,Flu\na.png,0.5,0.1\n", "`Flu` is not one of" },
    { "Image,Hernia,hernia\na.png,0.5,0.1\n", "appears twice" },
    { "Image,a,b,c,d,e,f,g,h,i,j,k,l,m,n,o\na.png\n", "preds.csv:1: the header has 16 columns" },
    { "Image,Hernia\na.png,0.5\nb.png\n", "preds.csv:3: 1 fields" },
    { "Image,Hernia\na.png,0.5,0.7\n", "preds.csv:2: 3 fields" },
    { "Image,Hernia\na.png,nan\n", "preds.csv:2: score `nan`" },
    { "Image,Hernia\na.png,inf\n", "not a finite number" },
    { "Image,Hernia\na.png,0.5x\n", "not a finite number" },
    { "Image,Hernia\na.png,\n", "not a finite number" },
    { "Image,Hernia\na.png,1e999\n", "not a finite number" },
    { "Image,Hernia\na.png,0.5\na.png,0.6\n", "preds.csv:3: `a.png` is listed twice" },
    { "Image,Hernia\n\"a.png\",0.5\n", "quotes" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (HlPredictions) p = load_text (cases[i].text, &error);

      g_assert_null (p);
      g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV);
      if (strstr (error->message, cases[i].message) == NULL)
        g_error ("case %" G_GSIZE_FORMAT ": `%s` lacks `%s`", i, error->message,
                 cases[i].message);
    }

  {
    g_autoptr (GError) error = NULL;
    g_autoptr (HlPredictions) p = load_text ("Image,Hernia\n../a.png,0.5\n", &error);

    g_assert_null (p);
    g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSAFE_PATH);
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (HlPredictions) p = hl_predictions_load ("/nonexistent/preds.csv", &error);

    g_assert_null (p);
    g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO);
  }
}

/* 64 MiB of line breaks around one row, and a row of 64 Mi commas: the first loads and the second
 * is refused, both in a child whose address space is capped at 512 MiB (a reader that allocates
 * per line or per field would need gigabytes). */
static void
test_many_lines (void)
{
  const gsize n = (gsize) 64 << 20;
  g_autoptr (GString) text = NULL;
  g_autoptr (GError) error = NULL;

  if (!hl_test_in_capped_child (512))
    return;
  text = g_string_sized_new (n + 64);
  g_string_append (text, "Image,Hernia\n");
  for (gsize i = 0; i < n; i++)
    g_string_append_c (text, '\n');
  g_string_append (text, "a.png,0.5\n");
  {
    g_autoptr (HlPredictions) p = load_text (text->str, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (p->n_images, ==, 1);
  }
  g_string_truncate (text, 0);
  g_string_append (text, "Image,Hernia\na.png");
  for (gsize i = 0; i < n; i++)
    g_string_append_c (text, ',');
  {
    g_autoptr (HlPredictions) p = load_text (text->str, &error);

    g_assert_null (p);
    g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV);
    g_assert_nonnull (strstr (error->message, "preds.csv:2: 67108865 fields"));
  }
}

static void
test_write_round_trip (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlPredictions) p = NULL;
  g_autofree char *dir = g_dir_make_tmp ("hl-preds-XXXXXX", &error);
  g_autofree char *path = NULL;
  const char *images[] = { "x_000.png", "y_001.png", "z_002.png" };
  const int label_index[] = { 7, 0 }; /* Hernia, Atelectasis */
  const float scores[] = { 0.1f, 0.2f, 1.0f / 3.0f, 2e-7f, 0.999999f, 0.0f };

  g_assert_no_error (error);
  path = g_build_filename (dir, "preds.csv", NULL);
  g_assert_true (hl_predictions_write (path, images, 3, label_index, 2, scores, &error));
  g_assert_no_error (error);
  p = hl_predictions_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (p->n_images, ==, 3);
  g_assert_cmpint (p->label_index[0], ==, 7);
  g_assert_cmpint (p->label_index[1], ==, 0);
  for (gsize i = 0; i < 6; i++)
    g_assert_cmpfloat ((float) p->scores[i], ==, scores[i]); /* 9 digits: floats exactly */
  g_assert_cmpstr (p->images[2], ==, "z_002.png");

  /* a name the reader would split is refused */
  {
    const char *bad[] = { "a,b.png" };

    g_assert_false (hl_predictions_write (path, bad, 1, label_index, 2, scores, &error));
    g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV);
  }
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_match (void)
{
  const char *labels_csv = "Image,Cardiomegaly,Hernia,PatientId\n"
                           "b.png,1,0,2\n"
                           "a.png,0,1,1\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (HlLabelSet) labels
      = hl_label_set_load_from_data (labels_csv, strlen (labels_csv), "labels.csv", &error);
  g_autoptr (HlPredictions) p = NULL;
  g_autoptr (HlScoredSet) set = NULL;

  g_assert_no_error (error);
  /* predictions in another order, with an extra image and a label the labels lack */
  p = load_text ("Image,Hernia,Edema,Cardiomegaly\n"
                 "a.png,0.9,0.5,0.2\n"
                 "c.png,0.1,0.1,0.1\n"
                 "b.png,0.3,0.4,0.8\n",
                 &error);
  g_assert_no_error (error);
  set = hl_predictions_match (p, labels, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (set->n_images, ==, 2);
  g_assert_cmpuint (set->n_labels, ==, 2);
  g_assert_cmpstr (set->labels[0], ==, "Hernia");
  g_assert_cmpstr (set->labels[1], ==, "Cardiomegaly");
  g_assert_cmpstr (set->images[0], ==, "b.png");
  g_assert_cmpfloat (set->scores[0], ==, 0.3);
  g_assert_cmpfloat (set->scores[1], ==, 0.8);
  g_assert_cmpuint (set->truth[0], ==, 0);
  g_assert_cmpuint (set->truth[1], ==, 1);
  g_assert_cmpfloat (set->scores[2], ==, 0.9);
  g_assert_cmpuint (set->truth[2], ==, 1);
  g_assert_cmpuint (set->truth[3], ==, 0);
  g_clear_pointer (&set, hl_scored_set_free);
  g_clear_pointer (&p, hl_predictions_free);

  /* fewer predictions than labelled images: refused, counting and naming the missing */
  p = load_text ("Image,Hernia\nb.png,0.5\n", &error);
  g_assert_no_error (error);
  set = hl_predictions_match (p, labels, &error);
  g_assert_null (set);
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV);
  g_assert_nonnull (strstr (error->message, "no prediction for 1 of the 2 images"));
  g_assert_nonnull (strstr (error->message, "`a.png`"));
  g_clear_error (&error);
  g_clear_pointer (&p, hl_predictions_free);

  /* no label in common */
  p = load_text ("Image,Edema\na.png,0.5\nb.png,0.5\n", &error);
  g_assert_no_error (error);
  set = hl_predictions_match (p, labels, &error);
  g_assert_null (set);
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV);
}

/* The shared reference predictions line up with test.csv: every image, all 14 labels. */
static void
test_shared_reference (void)
{
  g_autofree char *preds = NULL;
  g_autofree char *labels_path = NULL;
  g_autoptr (HlPredictions) p = NULL;
  g_autoptr (HlScoredSet) set = NULL;

  if (!hl_test_nih_reference_paths (&preds, &labels_path))
    return;
  set = hl_test_load_scored (preds, labels_path, &p);
  g_assert_cmpuint (p->n_images, ==, 251);
  g_assert_cmpuint (set->n_images, ==, 251);
  g_assert_cmpuint (set->n_labels, ==, HL_N_LABELS);
  for (gsize l = 0; l < HL_N_LABELS; l++)
    g_assert_cmpstr (set->labels[l], ==, hl_label_names[l]);
  /* the first row of the file, as written there */
  g_assert_cmpfloat (p->scores[0], ==, 0.15922733);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/study/predictions/read", test_read);
  g_test_add_func ("/study/predictions/refused", test_refused);
  g_test_add_func ("/study/predictions/many-lines", test_many_lines);
  g_test_add_func ("/study/predictions/write", test_write_round_trip);
  g_test_add_func ("/study/predictions/match", test_match);
  g_test_add_func ("/study/predictions/shared-reference", test_shared_reference);

  return g_test_run ();
}
