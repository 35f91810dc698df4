/* cli-check.c — `hilum-cli check FOLDER_CSV_OR_IMAGE...`: says what study folders, label files
 * and images hold before anyone trains or scores on them: images, patients, decode failures,
 * label coverage, class frequencies per label file, and patients shared between the label files
 * given (leakage). A file argument is told by its content: an image (PNG, DICOM) is decoded and
 * its header shown, anything else is read as a label CSV (a binary file is refused as not a CSV).
 * Exit status (cli-study.h): 0 when everything read and decoded and no patient is in two label
 * files; 4 leakage; 3 when some inputs failed and others read; 1 when nothing could be read. Also
 * hl_cli_inputs_status, shared with predict and report. */
#include "cli-commands.h"
#include "cli-study.h"

#include "hl-splits.h"
#include "hl-study.h"

#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#define MAX_LISTED 20

HlCliExit
hl_cli_inputs_status (guint n_used, guint n_failed)
{
  if (n_used == 0)
    return HL_CLI_EXIT_FAILED;
  return n_failed > 0 ? HL_CLI_EXIT_PARTIAL : HL_CLI_EXIT_OK;
}

void
hl_cli_print_class_table (const char *const *names, const HlClassCounts *counts, guint n)
{
  printf ("  %-20s", "");
  for (guint s = 0; s < n; s++)
    printf (" %18.18s", names[s]);
  printf ("\n  %-20s", "images / patients");
  for (guint s = 0; s < n; s++)
    {
      char cell[32];
      g_snprintf (cell, sizeof cell, "%u / %u", counts[s].n_images, counts[s].n_patients);
      printf (" %18s", cell);
    }
  printf ("\n");
  for (int k = 0; k < HL_N_LABELS; k++)
    {
      printf ("  %-20s", hl_label_names[k]);
      for (guint s = 0; s < n; s++)
        {
          char cell[32];
          double share = counts[s].n_images > 0
                             ? 100.0 * counts[s].positives[k] / counts[s].n_images
                             : 0.0;
          g_snprintf (cell, sizeof cell, "%u (%.1f%%)", counts[s].positives[k], share);
          printf (" %18s", cell);
        }
      printf ("\n");
    }
}

static void
print_warnings (GPtrArray *warnings, guint total)
{
  for (guint i = 0; i < warnings->len; i++)
    printf ("  warning: %s\n", (const char *) warnings->pdata[i]);
  if (total > warnings->len)
    printf ("  (%u warnings in all)\n", total);
}

/* Rows of @set that name an image of @study, by relative path or file name. */
static guint
count_rows_found (const HlStudy *study, const HlLabelSet *set)
{
  g_autoptr (GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
  guint found = 0;

  for (guint i = 0; i < study->images->len; i++)
    {
      const HlStudyImage *entry = study->images->pdata[i];
      const char *base = strrchr (entry->relative_path, '/');
      g_hash_table_add (names, entry->relative_path);
      g_hash_table_add (names, (gpointer) (base != NULL ? base + 1 : entry->relative_path));
    }
  for (guint r = 0; r < set->rows->len; r++)
    found += g_hash_table_contains (names, ((HlLabelRow *) set->rows->pdata[r])->image);
  return found;
}

/* Adds to *@n_used the images that decode and the label files read (or 1 for a folder that holds
 * nothing and read well), to *@n_failed the images that fail, the folder itself when it cannot be
 * read, and 1 when the scan stopped at its cap. */
static void
check_folder (const char *path, guint *n_used, guint *n_failed)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlStudy) study = NULL;
  guint n_png = 0, n_dicom = 0, n_labelled = 0, listed = 0;

  study = hl_study_open (path, HL_STUDY_DEFAULT_MAX_DEPTH, HL_STUDY_OPEN_VERIFY, NULL, &error);
  if (study == NULL)
    {
      fprintf (stderr, "hilum-cli check: %s\n", error->message);
      (*n_failed)++;
      return;
    }
  for (guint i = 0; i < study->images->len; i++)
    {
      const HlStudyImage *entry = study->images->pdata[i];
      if (entry->error == NULL)
        {
          n_png += entry->format == HL_IMAGE_PNG;
          n_dicom += entry->format == HL_IMAGE_DICOM;
        }
      n_labelled += entry->labels != NULL;
    }
  printf ("%s: study folder\n", path);
  printf ("  %u images (%u PNG, %u DICOM, %u failed) of %u patients; %u other files\n",
          study->images->len, n_png, n_dicom, study->n_failed, study->patients->len,
          study->n_other_files);
  for (guint p = 0; p < study->patients->len && p < MAX_LISTED; p++)
    {
      const HlStudyPatient *patient = study->patients->pdata[p];
      printf ("  patient %s: %u images\n", patient->patient_id, patient->images->len);
    }
  if (study->patients->len > MAX_LISTED)
    printf ("  ... and %u more patients\n", study->patients->len - MAX_LISTED);
  for (guint i = 0; i < study->images->len; i++)
    {
      const HlStudyImage *entry = study->images->pdata[i];
      if (entry->error != NULL && listed++ < MAX_LISTED)
        printf ("  FAILED %s\n", entry->error->message);
    }
  if (listed > MAX_LISTED)
    printf ("  ... and %u more failures\n", listed - MAX_LISTED);
  if (study->label_sets->len == 0)
    printf ("  no label file at the top of the folder\n");
  else
    {
      printf ("  %u of %u images have labels\n", n_labelled, study->images->len);
      for (guint l = 0; l < study->label_sets->len; l++)
        {
          const HlLabelSet *set = study->label_sets->pdata[l];
          printf ("  label file %s: %u rows, %u of them name an image here\n", set->path,
                  set->rows->len, count_rows_found (study, set));
        }
    }
  print_warnings (study->warnings, study->warnings->len);
  if (study->incomplete)
    printf ("  INCOMPLETE: the scan stopped at %u entries (see the warning above)\n",
            (guint) HL_STUDY_MAX_ENTRIES);
  guint used = study->images->len - study->n_failed + study->label_sets->len;
  guint failed = study->n_failed + (study->incomplete ? 1 : 0);
  *n_used += used == 0 && failed == 0 ? 1 : used; /* an empty folder read well is no failure */
  *n_failed += failed;
}

/* Decodes the image @path and prints its format, size and header fields; FALSE (said on stderr)
 * when it does not decode. */
static gboolean
check_image (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = hl_image_load (path, &error);

  if (image == NULL)
    {
      fprintf (stderr, "hilum-cli check: %s\n", error->message);
      printf ("%s: FAILED: an image that does not decode\n", path);
      return FALSE;
    }
  printf ("%s: %s image, %d x %d, %d bits%s\n", path,
          image->format == HL_IMAGE_PNG ? "PNG" : "DICOM", image->width, image->height,
          image->bit_depth,
          image->was_color ? ", converted from colour (probably not an X-ray)" : "");
  printf ("  patient %s, study date %s, view %s\n",
          image->patient_id != NULL ? image->patient_id : "unknown",
          image->study_date != NULL ? image->study_date : "unknown",
          image->view_position != NULL ? image->view_position : "unknown");
  if (image->pixel_spacing[0] > 0 && image->pixel_spacing[1] > 0)
    printf ("  pixel spacing %g x %g mm\n", image->pixel_spacing[0], image->pixel_spacing[1]);
  return TRUE;
}

/* Listed images that exist beside the label file, or in an images/ folder beside it. */
static guint
count_images_present (const HlLabelSet *set)
{
  g_autofree char *dir = g_path_get_dirname (set->path);
  guint present = 0;

  for (guint r = 0; r < set->rows->len; r++)
    {
      const char *image = ((HlLabelRow *) set->rows->pdata[r])->image;
      g_autofree char *beside = g_build_filename (dir, image, NULL);
      g_autofree char *in_images = g_build_filename (dir, "images", image, NULL);
      present += g_file_test (beside, G_FILE_TEST_IS_REGULAR)
                 || g_file_test (in_images, G_FILE_TEST_IS_REGULAR);
    }
  return present;
}

static HlLabelSet *
check_labels (const char *path, HlClassCounts *counts)
{
  g_autoptr (GError) error = NULL;
  HlLabelSet *set = hl_label_set_load (path, &error);
  g_autoptr (GString) carried = g_string_new (NULL);
  guint n_carried = 0;

  if (set == NULL)
    {
      fprintf (stderr, "hilum-cli check: %s\n", error->message);
      return NULL;
    }
  hl_splits_count (set, NULL, 0, counts);
  for (int k = 0; k < HL_N_LABELS; k++)
    if (set->has_label[k])
      {
        g_string_append_printf (carried, "%s%s", n_carried > 0 ? ", " : "", hl_label_names[k]);
        n_carried++;
      }
  printf ("%s: label file, %s layout\n", path,
          set->layout == HL_LABEL_LAYOUT_NIH ? "NIH Data_Entry" : "notebook");
  printf ("  %u images of %u patients; %u of %u labels%s%s\n", counts->n_images,
          counts->n_patients, n_carried, HL_N_LABELS, n_carried < HL_N_LABELS ? ": " : "",
          n_carried < HL_N_LABELS ? carried->str : "");
  printf ("  %u of the listed images are present beside it (or in images/)\n",
          count_images_present (set));
  print_warnings (set->warnings, set->n_warnings);
  return set;
}

/* Prints the patients shared by every pair of label files; returns the number of pairs that
 * share any. */
static guint
check_leakage (HlLabelSet **sets, guint n)
{
  guint leaking = 0;

  for (guint a = 0; a < n; a++)
    for (guint b = a + 1; b < n; b++)
      {
        g_autoptr (GPtrArray) shared = hl_splits_shared_patients (sets[a], sets[b]);

        if (shared->len == 0)
          {
            printf ("no leakage: %s and %s share no patient\n", sets[a]->path, sets[b]->path);
            continue;
          }
        leaking++;
        printf ("LEAKAGE: %s and %s share %u patients:", sets[a]->path, sets[b]->path,
                shared->len);
        for (guint i = 0; i < shared->len && i < MAX_LISTED; i++)
          printf (" %s", (const char *) shared->pdata[i]);
        printf (shared->len > MAX_LISTED ? " ...\n" : "\n");
      }
  return leaking;
}

int
hl_cli_check (int argc, char **argv)
{
  g_autoptr (GOptionContext) context
      = g_option_context_new ("FOLDER_CSV_OR_IMAGE... - what study folders, label files and "
                              "images hold");
  g_autoptr (GError) error = NULL;
  g_autofree HlLabelSet **sets = NULL;
  g_autofree HlClassCounts *counts = NULL;
  g_autofree const char **names = NULL;
  guint n_sets = 0, n_used = 0, n_failed = 0;
  HlCliExit status;

  g_option_context_set_description (
      context, "A file is told by its content: an image (PNG, DICOM) is decoded and described, "
               "anything else is read as a label CSV.\n"
               "Exit status: 0 when everything reads and decodes and no patient is in two of the "
               "label files given; 4 when some are (leakage); 3 when some inputs failed and the "
               "others read; 1 when nothing could be read; 2 for a usage error.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "hilum-cli check: %s\n", error->message);
      return 2;
    }
  if (argc < 2)
    {
      fprintf (stderr, "hilum-cli check: give at least one folder or label CSV (see --help)\n");
      return 2;
    }

  sets = g_new0 (HlLabelSet *, argc);
  counts = g_new0 (HlClassCounts, argc);
  names = g_new0 (const char *, argc);
  for (int i = 1; i < argc; i++)
    {
      g_autoptr (GError) local = NULL;
      HlImageFormat format;

      if (g_file_test (argv[i], G_FILE_TEST_IS_DIR))
        check_folder (argv[i], &n_used, &n_failed);
      else if (hl_image_sniff (argv[i], &format, &local))
        {
          if (check_image (argv[i]))
            n_used++;
          else
            n_failed++;
        }
      else if (!g_error_matches (local, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT))
        {
          fprintf (stderr, "hilum-cli check: %s\n", local->message);
          n_failed++;
        }
      else if ((sets[n_sets] = check_labels (argv[i], &counts[n_sets])) != NULL)
        {
          names[n_sets] = argv[i];
          n_sets++;
          n_used++;
        }
      else
        n_failed++;
    }
  if (n_sets > 0)
    {
      g_autofree const char **bases = g_new0 (const char *, n_sets);
      g_autoptr (GPtrArray) owned = g_ptr_array_new_with_free_func (g_free);

      for (guint s = 0; s < n_sets; s++)
        {
          char *base = g_path_get_basename (names[s]);
          g_ptr_array_add (owned, base);
          bases[s] = base;
        }
      printf ("class frequencies (positives, share of images):\n");
      hl_cli_print_class_table (bases, counts, n_sets);
    }
  status = hl_cli_inputs_status (n_used, n_failed);
  if (check_leakage (sets, n_sets) > 0 && status != HL_CLI_EXIT_FAILED)
    status = HL_CLI_EXIT_LEAKAGE;
  for (guint s = 0; s < n_sets; s++)
    hl_label_set_free (sets[s]);
  printf ("%s\n", status == HL_CLI_EXIT_OK ? "OK" : "PROBLEMS FOUND");
  return status;
}
