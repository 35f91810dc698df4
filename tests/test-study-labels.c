/* test-study-labels.c — label CSVs (hl-labels.h): both layouts detected from the header, label
 * subsets, quoting, CRLF, BOM, gzip (several members too), unsafe image names, duplicates and
 * unknown labels reported, lines and headers too long, binary files and FIFOs refused,
 * writing back in the notebook layout; and the real shared label files when present. */
#include "study/hl-labels.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "hl-test-png.h"

static const char notebook_header[]
    = "Image,Atelectasis,Cardiomegaly,Consolidation,Edema,Effusion,Emphysema,Fibrosis,Hernia,"
      "Infiltration,Mass,Nodule,PatientId,Pleural_Thickening,Pneumonia,Pneumothorax\n";

static HlLabelSet *
parse_ok (const char *text)
{
  GError *error = NULL;
  HlLabelSet *set = hl_label_set_load_from_data (text, strlen (text), "labels.csv", &error);

  g_assert_no_error (error);
  g_assert_nonnull (set);
  return set;
}

static void
assert_labels (const HlLabelRow *row, const char *expected_names)
{
  g_auto (GStrv) names = g_strsplit (expected_names, "|", -1);
  guint8 want[HL_N_LABELS] = { 0 };

  for (int i = 0; names[i] != NULL; i++)
    if (names[i][0] != '\0')
      {
        int k = hl_label_index (names[i]);
        g_assert_cmpint (k, >=, 0);
        want[k] = 1;
      }
  g_assert_cmpmem (row->labels, HL_N_LABELS, want, HL_N_LABELS);
}

static gboolean
has_warning (const HlLabelSet *set, const char *needle)
{
  for (guint i = 0; i < set->warnings->len; i++)
    if (strstr (set->warnings->pdata[i], needle) != NULL)
      return TRUE;
  return FALSE;
}

static void
test_names (void)
{
  g_assert_cmpstr (hl_label_names[0], ==, "Atelectasis");
  g_assert_cmpstr (hl_label_names[11], ==, "Pleural_Thickening");
  g_assert_cmpstr (hl_label_names[13], ==, "Pneumothorax");
  for (int k = 0; k < HL_N_LABELS; k++)
    {
      g_assert_cmpint (hl_label_index (hl_label_names[k]), ==, k);
      if (k > 0)
        g_assert_cmpint (strcmp (hl_label_names[k - 1], hl_label_names[k]), <, 0);
    }
  g_assert_cmpint (hl_label_index ("pleural thickening"), ==, 11);
  g_assert_cmpint (hl_label_index ("No Finding"), ==, -1);
  g_assert_cmpint (hl_label_index ("Mass "), ==, -1);

  g_assert_true (hl_image_name_is_safe ("00000001_000.png"));
  g_assert_true (hl_image_name_is_safe ("images/a..b.png"));
  g_assert_false (hl_image_name_is_safe ("../secret.png"));
  g_assert_false (hl_image_name_is_safe ("images/../../x.png"));
  g_assert_false (hl_image_name_is_safe ("images/.."));
  g_assert_false (hl_image_name_is_safe ("/etc/passwd"));
  g_assert_false (hl_image_name_is_safe ("..\\x.png"));
  g_assert_false (hl_image_name_is_safe ("C:/x.png"));
  g_assert_false (hl_image_name_is_safe (""));

  char *patient = NULL;
  int follow_up = -1;
  g_assert_true (hl_nih_name_parse ("images/00000005_012.PNG", &patient, &follow_up));
  g_assert_cmpstr (patient, ==, "5");
  g_assert_cmpint (follow_up, ==, 12);
  g_free (patient);
  g_assert_false (hl_nih_name_parse ("00000005-012.png", NULL, NULL));
  g_assert_false (hl_nih_name_parse ("00000005_012.png.bak", NULL, NULL));
  g_assert_false (hl_nih_name_parse ("_012.png", NULL, NULL));

  g_autofree char *a = hl_patient_id_normalize ("  000120 ");
  g_autofree char *b = hl_patient_id_normalize ("000");
  g_autofree char *c = hl_patient_id_normalize ("A-0012");
  g_assert_cmpstr (a, ==, "120");
  g_assert_cmpstr (b, ==, "0");
  g_assert_cmpstr (c, ==, "A-0012");
}

static void
test_notebook (void)
{
  g_autofree char *text = g_strconcat (notebook_header,
                                       "00000001_001.png,0,1,0,0,0,1,0,0,0,0,0,1,0,0,0\n"
                                       "00000002_000.png,0,0,0,0,0,0,0,0,0,0,0,2,0,0,0\n"
                                       "00000003_004.png,1,0,0,0,0,0,0,1,0,0,0,3,1,0,1\n",
                                       NULL);
  g_autoptr (HlLabelSet) set = parse_ok (text);
  const HlLabelRow *row;

  g_assert_cmpint (set->layout, ==, HL_LABEL_LAYOUT_NOTEBOOK);
  g_assert_cmpuint (set->rows->len, ==, 3);
  g_assert_cmpuint (set->warnings->len, ==, 0);
  for (int k = 0; k < HL_N_LABELS; k++)
    g_assert_true (set->has_label[k]);
  row = hl_label_set_lookup (set, "00000001_001.png");
  g_assert_nonnull (row);
  assert_labels (row, "Cardiomegaly|Emphysema");
  g_assert_cmpstr (row->patient_id, ==, "1");
  g_assert_cmpint (row->follow_up, ==, 1);
  g_assert_cmpuint (row->line, ==, 2);
  assert_labels (hl_label_set_lookup (set, "00000002_000.png"), "");
  row = hl_label_set_lookup (set, "00000003_004.png");
  assert_labels (row, "Atelectasis|Hernia|Pleural_Thickening|Pneumothorax");
  g_assert_cmpint (row->follow_up, ==, 4);
  g_assert_null (hl_label_set_lookup (set, "00000004_000.png"));
}

/* A subset of labels in another order, no PatientId: patients come from the NIH names. */
static void
test_subset (void)
{
  g_autoptr (HlLabelSet) set = parse_ok ("Pneumonia,Image,Hernia\n"
                                         "1,00000010_000.png,0\n"
                                         "0,00000010_001.png,1\n"
                                         "1,scan.png,1\n");
  const HlLabelRow *row;

  g_assert_cmpuint (set->rows->len, ==, 3);
  for (int k = 0; k < HL_N_LABELS; k++)
    g_assert_cmpint (set->has_label[k], ==,
                     k == hl_label_index ("Pneumonia") || k == hl_label_index ("Hernia"));
  row = hl_label_set_lookup (set, "00000010_001.png");
  assert_labels (row, "Hernia");
  g_assert_cmpstr (row->patient_id, ==, "10");
  row = hl_label_set_lookup (set, "scan.png");
  assert_labels (row, "Pneumonia|Hernia");
  g_assert_cmpstr (row->patient_id, ==, "scan.png");
  g_assert_cmpint (row->follow_up, ==, -1);
  g_assert_true (has_warning (set, "its own patient"));
}

static void
test_nih (void)
{
  g_autoptr (HlLabelSet) set
      = parse_ok ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
                  "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
                  "00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.143,0.143\n"
                  "00000001_001.png,Cardiomegaly|Emphysema,1,1,58,M,PA,2894,2729,0.143,0.143\n"
                  "00000002_000.png,No Finding,0,2,80,M,PA,2500,2048,0.171,0.171\n"
                  "00000003_000.png,Hernia|Pleural_Thickening|Bogus,0,3,81,F,PA,2582,2991,0.143,"
                  "0.143\n");
  const HlLabelRow *row;

  g_assert_cmpint (set->layout, ==, HL_LABEL_LAYOUT_NIH);
  g_assert_cmpuint (set->rows->len, ==, 4);
  for (int k = 0; k < HL_N_LABELS; k++)
    g_assert_true (set->has_label[k]);
  row = hl_label_set_lookup (set, "00000001_001.png");
  assert_labels (row, "Cardiomegaly|Emphysema");
  g_assert_cmpstr (row->patient_id, ==, "1");
  g_assert_cmpint (row->follow_up, ==, 1);
  assert_labels (hl_label_set_lookup (set, "00000002_000.png"), "");
  assert_labels (hl_label_set_lookup (set, "00000003_000.png"), "Hernia|Pleural_Thickening");
  g_assert_cmpuint (set->n_warnings, ==, 1);
  g_assert_true (has_warning (set, "labels.csv:5: unknown label `Bogus`"));
}

/* Quotes (with commas, escaped quotes and a newline inside), CRLF, a BOM, blank lines. */
static void
test_quoting (void)
{
  g_autoptr (HlLabelSet) set
      = parse_ok ("\xEF\xBB\xBF\"Image\",Mass,\"PatientId\"\r\n"
                  "\"a,b.png\",1,7\r\n"
                  "\r\n"
                  "\"say \"\"hi\"\".png\",\"0\",\"8\"\r\n"
                  "\"two\nlines.png\",1,9\r\n"
                  "plain.png,0,10");
  const HlLabelRow *row;

  g_assert_cmpuint (set->rows->len, ==, 4);
  g_assert_cmpuint (set->warnings->len, ==, 0);
  row = hl_label_set_lookup (set, "a,b.png");
  g_assert_nonnull (row);
  assert_labels (row, "Mass");
  g_assert_cmpstr (row->patient_id, ==, "7");
  row = hl_label_set_lookup (set, "say \"hi\".png");
  g_assert_nonnull (row);
  g_assert_cmpuint (row->line, ==, 4);
  row = hl_label_set_lookup (set, "two\nlines.png");
  g_assert_nonnull (row);
  g_assert_cmpuint (row->line, ==, 5);
  row = hl_label_set_lookup (set, "plain.png");
  g_assert_nonnull (row);
  g_assert_cmpuint (row->line, ==, 7);
  g_assert_cmpstr (row->patient_id, ==, "10");
}

static void
test_unsafe (void)
{
  const char *names[] = { "../outside.png", "/etc/passwd", "images/../../x.png",
                          "..\\\\x.png", "C:/x.png" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *text = g_strdup_printf ("Image,Mass\nok.png,0\n\"%s\",1\n", names[i]);
      GError *error = NULL;
      HlLabelSet *set = hl_label_set_load_from_data (text, strlen (text), "labels.csv", &error);

      g_assert_null (set);
      g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSAFE_PATH);
      g_assert_nonnull (strstr (error->message, "labels.csv:3"));
      g_error_free (error);
    }
}

/* Duplicates, unknown columns, bad values and short rows are warnings; the rest loads. */
static void
test_warnings (void)
{
  g_autoptr (HlLabelSet) set = parse_ok ("Image,Mass,Nodule,Fracture\n"
                                         "a.png,1,0,1\n"
                                         "a.png,1,0,1\n"
                                         "a.png,0,1,0\n"
                                         "b.png,2,0,0\n"
                                         "c.png,1\n"
                                         "d.png,0,1,0\n");

  g_assert_cmpuint (set->rows->len, ==, 2);
  assert_labels (hl_label_set_lookup (set, "a.png"), "Mass");
  assert_labels (hl_label_set_lookup (set, "d.png"), "Nodule");
  g_assert_null (hl_label_set_lookup (set, "b.png"));
  g_assert_true (has_warning (set, "labels.csv:1: unknown column `Fracture`"));
  g_assert_true (has_warning (set, "labels.csv:3: `a.png` already listed on line 2: duplicate"));
  g_assert_true (has_warning (set, "labels.csv:4: `a.png` already listed on line 2 with other"));
  g_assert_true (has_warning (set, "labels.csv:5: `Mass` is `2`"));
  g_assert_true (has_warning (set, "labels.csv:6: 2 fields where the header has 4"));
  g_assert_true (has_warning (set, "its own patient"));
  g_assert_cmpuint (set->n_warnings, ==, 6);
}

/* A text of @prefix, @n commas, then @suffix. */
static GString *
with_commas (const char *prefix, gsize n, const char *suffix)
{
  GString *text = g_string_new (prefix);

  for (gsize i = 0; i < n; i++)
    g_string_append_c (text, ',');
  g_string_append (text, suffix);
  return text;
}

/* A row of many fields is skipped with its true count and the rest loads; a header of more than
 * 1024 columns is refused; and a row of 64 Mi commas loads in a child whose address space is
 * capped at 512 MiB (fields past the header's count are counted, not kept). */
static void
test_many_fields (void)
{
  if (hl_test_in_capped_child (512))
    {
      g_autoptr (GString) text = with_commas ("Image,Mass\na.png", (gsize) 64 << 20, "\nb.png,1\n");
      g_autoptr (HlLabelSet) set = parse_ok (text->str);

      g_assert_cmpuint (set->rows->len, ==, 1);
      g_assert_true (has_warning (set, "labels.csv:2: 67108865 fields where the header has 2"));
      return;
    }
  {
    g_autoptr (GString) text = with_commas ("Image,Mass\na.png", 5000, "\nb.png,1\n");
    g_autoptr (HlLabelSet) set = parse_ok (text->str);

    g_assert_cmpuint (set->rows->len, ==, 1);
    g_assert_true (has_warning (set, "labels.csv:2: 5001 fields where the header has 2"));
  }
  {
    g_autoptr (GString) text = with_commas ("Image,Mass", 1023, "\na.png,1\n");
    g_autoptr (GError) error = NULL;
    g_autoptr (HlLabelSet) set
        = hl_label_set_load_from_data (text->str, text->len, "labels.csv", &error);

    g_assert_null (set);
    g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV);
    g_assert_cmpstr (error->message, ==, "labels.csv:1: the header has 1025 columns, more than 1024");
  }
}

static void
test_refused (void)
{
  const char *texts[] = { "", "Name,Mass\na.png,1\n", "Image,Age\na.png,3\n",
                          "Image,Mass,Mass\na.png,1,1\n", "Image,Mass\n\"a.png,1\n" };

  for (gsize i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      GError *error = NULL;
      g_assert_null (hl_label_set_load_from_data (texts[i], strlen (texts[i]), "x.csv", &error));
      g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV);
      g_assert_nonnull (strstr (error->message, "x.csv"));
      g_test_message ("%s", error->message);
      g_error_free (error);
    }
}

/* gzip by content (GZlibCompressor here); a corrupt gzip stream is refused. */
static void
test_gzip (void)
{
  const char *text = "Image,Mass\na.png,1\nb.png,0\n";
  g_autoptr (GConverter) compressor
      = G_CONVERTER (g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, 9));
  guint8 packed[256];
  gsize read, written;
  GError *error = NULL;
  g_autoptr (HlLabelSet) set = NULL;

  g_assert_cmpint (g_converter_convert (compressor, text, strlen (text), packed, sizeof packed,
                                        G_CONVERTER_INPUT_AT_END, &read, &written, &error),
                   ==, G_CONVERTER_FINISHED);
  g_assert_no_error (error);
  set = hl_label_set_load_from_data ((const char *) packed, written, "l.csv.gz", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (set->rows->len, ==, 2);
  assert_labels (hl_label_set_lookup (set, "a.png"), "Mass");

  g_assert_null (hl_label_set_load_from_data ((const char *) packed, written / 2, "l.csv.gz",
                                              &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV);
  g_clear_error (&error);
}

/* gzip @text into @out (one complete member); returns its length. */
static gsize
gzip_member (const char *text, guint8 *out, gsize size)
{
  g_autoptr (GConverter) compressor
      = G_CONVERTER (g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, 9));
  gsize read, written;
  GError *error = NULL;

  g_assert_cmpint (g_converter_convert (compressor, text, strlen (text), out, size,
                                        G_CONVERTER_INPUT_AT_END, &read, &written, &error),
                   ==, G_CONVERTER_FINISHED);
  g_assert_no_error (error);
  g_assert_cmpuint (read, ==, strlen (text));
  return written;
}

/* Two gzip members one after the other (`cat a.gz b.gz`, pigz): both are read, rows of the
 * second included; an empty member in between changes nothing; garbage after a member, or a
 * second member cut short, is refused naming the member. Also the fuzz seed
 * fuzz/corpus/csv/two-members.csv.gz. */
static void
test_gzip_members (void)
{
  guint8 packed[1024];
  gsize a = gzip_member ("Image,Mass\na.png,1\n", packed, sizeof packed);
  gsize e = gzip_member ("", packed + a, sizeof packed - a);
  gsize b = gzip_member ("b.png,0\nc.png,1\n", packed + a + e, sizeof packed - a - e);
  GError *error = NULL;

  {
    g_autoptr (HlLabelSet) set
        = hl_label_set_load_from_data ((const char *) packed, a + e + b, "two.csv.gz", &error);
    g_assert_no_error (error);
    g_assert_cmpuint (set->rows->len, ==, 3);
    assert_labels (hl_label_set_lookup (set, "c.png"), "Mass");
    assert_labels (hl_label_set_lookup (set, "b.png"), "");
  }
  g_assert_null (hl_label_set_load_from_data ((const char *) packed, a + e + b - 3, "two.csv.gz",
                                              &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV);
  g_assert_nonnull (strstr (error->message, "two.csv.gz: not valid gzip (member 3"));
  g_clear_error (&error);
  memcpy (packed + a, "junk", 4);
  g_assert_null (hl_label_set_load_from_data ((const char *) packed, a + 4, "two.csv.gz", &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV);
  g_assert_nonnull (strstr (error->message, "(member 2, at byte"));
  g_clear_error (&error);

  {
    g_autofree char *root = g_path_get_dirname (g_getenv ("HL_TOOLS"));
    g_autofree char *seed = g_build_filename (root, "fuzz", "corpus", "csv", "two-members.csv.gz",
                                              NULL);
    g_autoptr (HlLabelSet) set = hl_label_set_load (seed, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (set->rows->len, ==, 3);
  }
}

/* A row longer than 1 MiB is skipped with a warning, a header longer than that refused, and a
 * 200 MiB field loads in a child whose address space is capped at 512 MiB (the field is read,
 * not kept). */
static void
test_long_line (void)
{
  if (hl_test_in_capped_child (512))
    {
      gsize n = (gsize) 200 << 20;
      g_autoptr (GString) text = g_string_sized_new (n + 64);
      g_string_append (text, "Image,Mass\n");
      memset (text->str + text->len, 'x', n);
      g_string_set_size (text, text->len + n);
      g_string_append (text, ".png,1\nb.png,1\n");
      g_autoptr (HlLabelSet) set = parse_ok (text->str);

      g_assert_cmpuint (set->rows->len, ==, 1);
      g_assert_true (has_warning (set, "labels.csv:2: a row longer than 1024 KiB: row skipped"));
      return;
    }
  {
    g_autoptr (GString) text = g_string_new ("Image,Mass,\"");
    g_autoptr (GError) error = NULL;
    g_autoptr (HlLabelSet) set = NULL;

    for (int i = 0; i < 17000; i++) /* 64 bytes at a time: 1.04 MiB */
      g_string_append (text, "a column name, quoted, repeated until it is longer than the cap ");
    g_string_append (text, "\"\na.png,1,\n");
    set = hl_label_set_load_from_data (text->str, text->len, "labels.csv", &error);
    g_assert_null (set);
    g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV);
    g_assert_cmpstr (error->message, ==, "labels.csv:1: the header is longer than 1024 KiB");
  }
}

/* Binary content (a NUL byte: an image, a UTF-16 file) is refused as not a CSV; a FIFO is refused
 * without blocking, naming it, and so is a folder. */
static void
test_not_csv (void)
{
  static const char png_head[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
  g_autofree char *dir = hl_test_make_tmp_dir ("hl-labels-XXXXXX");
  g_autofree char *fifo = g_build_filename (dir, "labels.csv", NULL);
  GError *error = NULL;

  g_assert_null (hl_label_set_load_from_data (png_head, sizeof png_head - 1, "x.csv", &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV);
  g_assert_cmpstr (error->message, ==,
                   "x.csv: not a CSV: a NUL byte at offset 8 (binary data, or UTF-16 text)");
  g_clear_error (&error);

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_null (hl_label_set_load (fifo, &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO);
  g_assert_nonnull (strstr (error->message, fifo));
  g_assert_nonnull (strstr (error->message, "not a regular file (a FIFO)"));
  g_clear_error (&error);
  g_assert_null (hl_label_set_load (dir, &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "not a regular file (a folder)"));
  g_clear_error (&error);
  hl_test_remove_tree (dir);
}

static void
test_files (void)
{
  g_autofree char *dir = g_dir_make_tmp ("hl-labels-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "in.csv", NULL);
  g_autofree char *out = g_build_filename (dir, "out.csv", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.csv", NULL);
  g_autofree char *written = NULL;
  g_autoptr (HlLabelSet) set = NULL;
  g_autoptr (HlLabelSet) again = NULL;
  GError *error = NULL;
  guint assignment[3] = { 1, 0, 1 };

  g_assert_true (g_file_set_contents (path,
                                      "Image,Pneumonia,Mass,PatientId\n"
                                      "\"x,1.png\",1,0,4\n"
                                      "00000005_000.png,0,1,5\n"
                                      "00000006_000.png,1,1,6\n",
                                      -1, NULL));
  set = hl_label_set_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (set->path, ==, path);
  g_assert_true (hl_label_set_write (set, assignment, 1, out, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (out, &written, NULL, NULL));
  g_assert_cmpstr (written, ==,
                   "Image,Mass,PatientId,Pneumonia\n"
                   "\"x,1.png\",0,4,1\n"
                   "00000006_000.png,1,6,1\n");
  again = hl_label_set_load (out, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (again->rows->len, ==, 2);
  assert_labels (hl_label_set_lookup (again, "x,1.png"), "Pneumonia");

  g_assert_null (hl_label_set_load (missing, &error));
  g_assert_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);

  g_remove (path);
  g_remove (out);
  g_rmdir (dir);
}

/* The real files: the notebook splits, and NIH's full table (gzip) agreeing with them. */
static void
test_real (void)
{
  const char *shared = g_getenv ("HL_SHARED_DATA");
  const char *splits[] = { "train.csv", "valid.csv", "test.csv" };
  const guint images[] = { 895, 150, 251 };
  g_autofree char *nih_path = NULL;
  g_autoptr (HlLabelSet) nih = NULL;
  GError *error = NULL;

  if (shared == NULL
      || !g_file_test ((nih_path = g_build_filename (shared, "nih",
                                                      "Data_Entry_2017_v2020.csv.gz", NULL)),
                       G_FILE_TEST_EXISTS))
    {
      g_test_skip ("HL_SHARED_DATA/nih not available: real label files not checked");
      return;
    }
  nih = hl_label_set_load (nih_path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (nih->layout, ==, HL_LABEL_LAYOUT_NIH);
  g_assert_cmpuint (nih->rows->len, ==, 112120);
  for (gsize s = 0; s < G_N_ELEMENTS (splits); s++)
    {
      g_autofree char *path = g_build_filename (shared, "nih", splits[s], NULL);
      g_autoptr (HlLabelSet) set = hl_label_set_load (path, &error);

      g_assert_no_error (error);
      g_assert_cmpint (set->layout, ==, HL_LABEL_LAYOUT_NOTEBOOK);
      g_assert_cmpuint (set->rows->len, ==, images[s]);
      g_assert_cmpuint (set->n_warnings, ==, 0);
      for (guint i = 0; i < set->rows->len; i++)
        {
          const HlLabelRow *row = set->rows->pdata[i];
          const HlLabelRow *truth = hl_label_set_lookup (nih, row->image);

          g_assert_nonnull (truth);
          g_assert_cmpstr (row->patient_id, ==, truth->patient_id);
          g_assert_cmpmem (row->labels, HL_N_LABELS, truth->labels, HL_N_LABELS);
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/study/labels/names", test_names);
  g_test_add_func ("/study/labels/notebook", test_notebook);
  g_test_add_func ("/study/labels/subset", test_subset);
  g_test_add_func ("/study/labels/nih", test_nih);
  g_test_add_func ("/study/labels/quoting", test_quoting);
  g_test_add_func ("/study/labels/unsafe", test_unsafe);
  g_test_add_func ("/study/labels/warnings", test_warnings);
  g_test_add_func ("/study/labels/many-fields", test_many_fields);
  g_test_add_func ("/study/labels/refused", test_refused);
  g_test_add_func ("/study/labels/gzip", test_gzip);
  g_test_add_func ("/study/labels/gzip-members", test_gzip_members);
  g_test_add_func ("/study/labels/long-line", test_long_line);
  g_test_add_func ("/study/labels/not-csv", test_not_csv);
  g_test_add_func ("/study/labels/files", test_files);
  g_test_add_func ("/study/labels/real", test_real);

  return g_test_run ();
}
