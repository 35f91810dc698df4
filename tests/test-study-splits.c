/* test-study-splits.c — patient-level leakage check, class counts and the split maker
 * (hl-splits.h), on label sets built here and on the real shared splits when present. */
#include "study/hl-splits.h"

#include <string.h>

static HlLabelSet *
parse_ok (const char *text, const char *name)
{
  GError *error = NULL;
  HlLabelSet *set = hl_label_set_load_from_data (text, strlen (text), name, &error);

  g_assert_no_error (error);
  return set;
}

/* Patient 10 is in both (by PatientId in one, by NIH name in the other), and so is 3. */
static void
test_leakage (void)
{
  g_autoptr (HlLabelSet) a = parse_ok ("Image,Mass,PatientId\n"
                                       "x.png,1,10\n"
                                       "y.png,0,3\n"
                                       "z.png,0,4\n"
                                       "w.png,1,0003\n",
                                       "a.csv");
  g_autoptr (HlLabelSet) b = parse_ok ("Image,Mass\n"
                                       "00000010_002.png,1\n"
                                       "00000003_001.png,1\n"
                                       "00000005_000.png,0\n",
                                       "b.csv");
  g_autoptr (HlLabelSet) c = parse_ok ("Image,Mass\n00000005_001.png,1\n", "c.csv");
  g_autoptr (GPtrArray) ab = hl_splits_shared_patients (a, b);
  g_autoptr (GPtrArray) ba = hl_splits_shared_patients (b, a);
  g_autoptr (GPtrArray) ac = hl_splits_shared_patients (a, c);

  g_assert_cmpuint (ab->len, ==, 2);
  g_assert_cmpstr (ab->pdata[0], ==, "3");
  g_assert_cmpstr (ab->pdata[1], ==, "10");
  g_assert_cmpuint (ba->len, ==, 2);
  g_assert_cmpstr (ba->pdata[0], ==, "3");
  g_assert_cmpuint (ac->len, ==, 0);
}

static void
test_count (void)
{
  g_autoptr (HlLabelSet) set = parse_ok ("Image,Mass,Hernia,PatientId\n"
                                         "a.png,1,0,1\n"
                                         "b.png,1,1,1\n"
                                         "c.png,0,1,2\n"
                                         "d.png,1,0,3\n",
                                         "s.csv");
  const guint assignment[4] = { 0, 1, 1, 0 };
  HlClassCounts counts;
  int mass = hl_label_index ("Mass"), hernia = hl_label_index ("Hernia");

  hl_splits_count (set, NULL, 0, &counts);
  g_assert_cmpuint (counts.n_images, ==, 4);
  g_assert_cmpuint (counts.n_patients, ==, 3);
  g_assert_cmpuint (counts.positives[mass], ==, 3);
  g_assert_cmpuint (counts.positives[hernia], ==, 2);
  g_assert_cmpuint (counts.positives[hl_label_index ("Edema")], ==, 0);
  hl_splits_count (set, assignment, 1, &counts);
  g_assert_cmpuint (counts.n_images, ==, 2);
  g_assert_cmpuint (counts.n_patients, ==, 2);
  g_assert_cmpuint (counts.positives[mass], ==, 1);
  g_assert_cmpuint (counts.positives[hernia], ==, 2);
}

/* Counts computed here from the raw text, independently of hl-labels' parser: images, distinct
 * PatientId values, and the sum of each label column. The shared files are plain (no quotes). */
static void
count_raw (const char *path, HlClassCounts *counts)
{
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  g_auto (GStrv) header = NULL;
  g_autoptr (GHashTable) patients = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  int column_label[32];
  int patient_column = -1;

  memset (counts, 0, sizeof *counts);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  lines = g_strsplit (contents, "\n", -1);
  header = g_strsplit (lines[0], ",", -1);
  g_assert_cmpuint (g_strv_length (header), ==, 16);
  for (int i = 0; header[i] != NULL; i++)
    {
      column_label[i] = -1;
      for (int k = 0; k < HL_N_LABELS; k++)
        if (strcmp (g_strstrip (header[i]), hl_label_names[k]) == 0)
          column_label[i] = k;
      if (strcmp (header[i], "PatientId") == 0)
        patient_column = i;
    }
  for (int l = 1; lines[l] != NULL; l++)
    {
      g_auto (GStrv) fields = g_strsplit (g_strstrip (lines[l]), ",", -1);
      if (fields[0] == NULL || fields[0][0] == '\0')
        continue;
      g_assert_cmpuint (g_strv_length (fields), ==, 16);
      counts->n_images++;
      g_hash_table_add (patients, g_strdup (fields[patient_column]));
      for (int i = 0; fields[i] != NULL; i++)
        if (column_label[i] >= 0)
          counts->positives[column_label[i]] += (guint) atoi (fields[i]);
    }
  counts->n_patients = g_hash_table_size (patients);
}

static void
test_real (void)
{
  const char *shared = g_getenv ("HL_SHARED_DATA");
  const char *names[] = { "train.csv", "valid.csv", "test.csv" };
  HlLabelSet *sets[3] = { NULL };
  g_autofree char *probe = NULL;
  GError *error = NULL;

  if (shared == NULL
      || !g_file_test ((probe = g_build_filename (shared, "nih", "train.csv", NULL)),
                       G_FILE_TEST_EXISTS))
    {
      g_test_skip ("HL_SHARED_DATA/nih not available: real splits not checked");
      return;
    }
  for (int s = 0; s < 3; s++)
    {
      g_autofree char *path = g_build_filename (shared, "nih", names[s], NULL);
      HlClassCounts counts, raw;

      sets[s] = hl_label_set_load (path, &error);
      g_assert_no_error (error);
      hl_splits_count (sets[s], NULL, 0, &counts);
      count_raw (path, &raw);
      g_assert_cmpmem (&counts, sizeof counts, &raw, sizeof raw);
      g_test_message ("%s: %u images, %u patients, Hernia %u, Pneumonia %u", names[s],
                      counts.n_images, counts.n_patients,
                      counts.positives[hl_label_index ("Hernia")],
                      counts.positives[hl_label_index ("Pneumonia")]);
    }
  for (int s = 0; s < 3; s++)
    for (int t = s + 1; t < 3; t++)
      {
        g_autoptr (GPtrArray) shared_patients = hl_splits_shared_patients (sets[s], sets[t]);
        g_assert_cmpuint (shared_patients->len, ==, 0);
      }
  for (int s = 0; s < 3; s++)
    hl_label_set_free (sets[s]);
}

/* A synthetic set: 300 patients with 1..4 images, common labels at random, Hernia in 4 patients. */
static HlLabelSet *
make_synthetic (void)
{
  g_autoptr (GString) text = g_string_new ("Image,Hernia,Mass,Pneumonia,Edema,PatientId\n");
  GRand *rand = g_rand_new_with_seed (42);
  HlLabelSet *set;

  for (int p = 1; p <= 300; p++)
    {
      int n = g_rand_int_range (rand, 1, 5);
      for (int f = 0; f < n; f++)
        g_string_append_printf (text, "%08d_%03d.png,%d,%d,%d,%d,%d\n", p, f,
                                p % 75 == 0, g_rand_double (rand) < 0.2,
                                g_rand_double (rand) < 0.3, g_rand_double (rand) < 0.05, p);
    }
  g_rand_free (rand);
  set = parse_ok (text->str, "synthetic.csv");
  g_assert_cmpuint (set->warnings->len, ==, 0);
  return set;
}

static void
check_split (const HlLabelSet *set, const guint *assignment, const double *fractions, guint n)
{
  g_autoptr (GHashTable) patient_split = g_hash_table_new (g_str_hash, g_str_equal);
  HlClassCounts all;
  int hernia = hl_label_index ("Hernia");

  hl_splits_count (set, NULL, 0, &all);
  /* patient-disjoint: all of a patient's images in one split */
  for (guint i = 0; i < set->rows->len; i++)
    {
      const HlLabelRow *row = set->rows->pdata[i];
      gpointer seen;

      g_assert_cmpuint (assignment[i], <, n);
      if (g_hash_table_lookup_extended (patient_split, row->patient_id, NULL, &seen))
        g_assert_cmpuint (GPOINTER_TO_UINT (seen), ==, assignment[i]);
      else
        g_hash_table_insert (patient_split, row->patient_id, GUINT_TO_POINTER (assignment[i]));
    }
  for (guint s = 0; s < n; s++)
    {
      HlClassCounts counts;
      hl_splits_count (set, assignment, s, &counts);
      g_test_message ("split %u: %u images (want %.1f), %u patients, Hernia %u", s,
                      counts.n_images, fractions[s] * all.n_images, counts.n_patients,
                      counts.positives[hernia]);
      /* the rare label lands in every split */
      g_assert_cmpuint (counts.positives[hernia], >, 0);
      /* sizes near the fractions: within 4 % of all images */
      g_assert_cmpfloat (ABS ((double) counts.n_images - fractions[s] * all.n_images), <=,
                         0.04 * all.n_images);
      /* every label near its share where it has enough positives */
      for (int k = 0; k < HL_N_LABELS; k++)
        if (all.positives[k] >= 40)
          g_assert_cmpfloat (ABS ((double) counts.positives[k] - fractions[s] * all.positives[k]),
                             <=, 0.1 * all.positives[k] + 2);
    }
}

static void
test_maker (void)
{
  g_autoptr (HlLabelSet) set = make_synthetic ();
  const double fractions[3] = { 0.7, 0.1, 0.2 };
  g_autofree guint *a = hl_splits_make (set, fractions, 3, 7);
  g_autofree guint *b = hl_splits_make (set, fractions, 3, 7);
  g_autofree guint *c = hl_splits_make (set, fractions, 3, 8);
  const double halves[2] = { 0.5, 0.5 };
  g_autofree guint *d = hl_splits_make (set, halves, 2, G_GUINT64_CONSTANT (1) << 40);

  check_split (set, a, fractions, 3);
  check_split (set, c, fractions, 3);
  check_split (set, d, halves, 2);
  /* deterministic for a seed, different for another */
  g_assert_cmpmem (a, sizeof (guint) * set->rows->len, b, sizeof (guint) * set->rows->len);
  g_assert_true (memcmp (a, c, sizeof (guint) * set->rows->len) != 0);
}

/* The real training split re-split: Hernia (rare) lands in every part. */
static void
test_maker_real (void)
{
  const char *shared = g_getenv ("HL_SHARED_DATA");
  g_autofree char *path = NULL;
  g_autoptr (HlLabelSet) set = NULL;
  g_autofree guint *assignment = NULL;
  const double fractions[3] = { 0.7, 0.1, 0.2 };
  GError *error = NULL;

  if (shared == NULL
      || !g_file_test ((path = g_build_filename (shared, "nih", "train.csv", NULL)),
                       G_FILE_TEST_EXISTS))
    {
      g_test_skip ("HL_SHARED_DATA/nih not available: real re-split not checked");
      return;
    }
  set = hl_label_set_load (path, &error);
  g_assert_no_error (error);
  assignment = hl_splits_make (set, fractions, 3, 1);
  check_split (set, assignment, fractions, 3);
}

static void
test_empty (void)
{
  g_autoptr (HlLabelSet) set = parse_ok ("Image,Mass\n", "empty.csv");
  const double fractions[2] = { 0.5, 0.5 };
  g_autofree guint *assignment = hl_splits_make (set, fractions, 2, 1);
  HlClassCounts counts;

  g_assert_nonnull (assignment);
  hl_splits_count (set, assignment, 0, &counts);
  g_assert_cmpuint (counts.n_images, ==, 0);
  g_assert_cmpuint (counts.n_patients, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/study/splits/leakage", test_leakage);
  g_test_add_func ("/study/splits/count", test_count);
  g_test_add_func ("/study/splits/real", test_real);
  g_test_add_func ("/study/splits/maker", test_maker);
  g_test_add_func ("/study/splits/maker-real", test_maker_real);
  g_test_add_func ("/study/splits/empty", test_empty);

  return g_test_run ();
}
