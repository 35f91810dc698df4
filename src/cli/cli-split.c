/* cli-split.c — `hilum-cli split CSV --out DIR --seed N --fractions 0.7,0.1,0.2`: a seeded,
 * patient-level, label-stratified split of a label file (hl_splits_make), written as one CSV per
 * split in the notebook layout (train.csv, valid.csv, test.csv for three fractions), each file
 * written atomically. Existing files are never replaced without --force, nor the input ever. */
#include "cli-commands.h"
#include "cli-study.h"

#include "hl-splits.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

/* Parses "0.7,0.1,0.2" into @fractions; FALSE unless 2..HL_SPLITS_MAX numbers > 0 summing to 1
 * (within 1e-6; they are then rescaled to sum exactly to 1). */
static gboolean
parse_fractions (const char *text, double *fractions, guint *n)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  double sum = 0;

  *n = g_strv_length (parts);
  if (*n < 2 || *n > HL_SPLITS_MAX)
    return FALSE;
  for (guint i = 0; i < *n; i++)
    {
      char *end;
      fractions[i] = g_ascii_strtod (g_strstrip (parts[i]), &end);
      if (end == parts[i] || *end != '\0' || !(fractions[i] > 0) || !isfinite (fractions[i]))
        return FALSE;
      sum += fractions[i];
    }
  if (fabs (sum - 1.0) > 1e-6)
    return FALSE;
  for (guint i = 0; i < *n; i++)
    fractions[i] /= sum;
  return TRUE;
}

static char *
split_name (guint n, guint s)
{
  static const char *const three[] = { "train", "valid", "test" };
  static const char *const two[] = { "train", "test" };

  if (n == 3)
    return g_strdup (three[s]);
  if (n == 2)
    return g_strdup (two[s]);
  return g_strdup_printf ("split-%u", s + 1);
}

static gboolean
run_split (const char *input, const char *out, const double *fractions, guint n, guint64 seed,
           gboolean force, GError **error)
{
  g_autoptr (HlLabelSet) set = hl_label_set_load (input, error);
  g_autofree guint *assignment = NULL;
  g_autofree char *input_real = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  HlClassCounts counts[HL_SPLITS_MAX];

  if (set == NULL)
    return FALSE;
  for (guint i = 0; i < set->warnings->len; i++)
    fprintf (stderr, "hilum-cli split: warning: %s\n", (const char *) set->warnings->pdata[i]);
  if (g_mkdir_with_parents (out, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "%s: cannot create: %s",
                   out, g_strerror (saved));
      return FALSE;
    }
  input_real = realpath (input, NULL);
  for (guint s = 0; s < n; s++)
    {
      g_autofree char *base = split_name (n, s);
      char *path = g_strdup_printf ("%s/%s.csv", out, base);
      g_autofree char *path_real = realpath (path, NULL);

      g_ptr_array_add (names, path);
      if (input_real != NULL && path_real != NULL && strcmp (input_real, path_real) == 0)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                       "%s: would overwrite the input; choose another --out", path);
          return FALSE;
        }
      if (!force && g_file_test (path, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                       "%s: exists; pass --force to replace it (label files are data)", path);
          return FALSE;
        }
    }

  assignment = hl_splits_make (set, fractions, n, seed);
  for (guint s = 0; s < n; s++)
    {
      if (!hl_label_set_write (set, assignment, s, names->pdata[s], error))
        return FALSE;
      hl_splits_count (set, assignment, s, &counts[s]);
    }
  printf ("%s: %u images split by patient with seed %" G_GUINT64_FORMAT " into %s:\n", input,
          set->rows->len, seed, out);
  {
    const char *columns[HL_SPLITS_MAX];
    for (guint s = 0; s < n; s++)
      {
        const char *slash = strrchr (names->pdata[s], '/');
        columns[s] = slash + 1; /* every path is "out/NAME.csv" */
      }
    hl_cli_print_class_table (columns, counts, n);
  }
  return TRUE;
}

int
hl_cli_split (int argc, char **argv)
{
  g_autofree char *out = NULL;
  g_autofree char *fractions_text = NULL;
  gint64 seed = 1;
  gboolean force = FALSE;
  GOptionEntry entries[] = {
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out, "Folder to write the split CSVs into (required)",
      "DIR" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed of the patient shuffle (default 1)", "N" },
    { "fractions", 0, 0, G_OPTION_ARG_STRING, &fractions_text,
      "Share of images per split, summing to 1 (default 0.7,0.1,0.2 = train,valid,test; two "
      "give train,test; more give split-1...)",
      "F,F,..." },
    { "force", 0, 0, G_OPTION_ARG_NONE, &force, "Replace split files that already exist", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context
      = g_option_context_new ("CSV - patient-level, label-stratified split of a label file");
  g_autoptr (GError) error = NULL;
  double fractions[HL_SPLITS_MAX];
  guint n = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "hilum-cli split: %s\n", error->message);
      return 2;
    }
  if (argc != 2 || out == NULL)
    {
      fprintf (stderr, "hilum-cli split: give one label CSV and --out DIR (see --help)\n");
      return 2;
    }
  if (seed < 0)
    {
      fprintf (stderr, "hilum-cli split: --seed must be >= 0\n");
      return 2;
    }
  if (!parse_fractions (fractions_text != NULL ? fractions_text : "0.7,0.1,0.2", fractions, &n))
    {
      fprintf (stderr, "hilum-cli split: --fractions must be 2 to %d numbers > 0 summing to 1\n",
               HL_SPLITS_MAX);
      return 2;
    }
  if (!run_split (argv[1], out, fractions, n, (guint64) seed, force, &error))
    {
      fprintf (stderr, "hilum-cli split: %s\n", error->message);
      return 1;
    }
  return 0;
}
