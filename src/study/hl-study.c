/* hl-study.c — scanning a study folder (see hl-study.h): a read-only recursive walk that sniffs
 * every file, groups the images by patient and orders them, and reads the label files at the top. */
#include "hl-study.h"
#include "hl-study-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

typedef struct
{
  HlStudy *study;
  guint max_depth;
  HlStudyOpenFlags flags;
  GCancellable *cancellable;
  char *folder_name;      /* basename of the canonical folder: patient of files at its top */
  char *root_real;        /* realpath of the study folder: links must resolve inside it */
  GHashTable *seen;       /* "dev:inode" of every folder entered and file listed */
  GPtrArray *label_paths; /* (char *) candidate label files at the top */
  guint max_entries;      /* HL_STUDY_MAX_ENTRIES, or a test's smaller cap */
  guint n_entries;        /* names read from folders so far, at most max_entries */
  char *stopped_in;       /* the folder whose listing hit max_entries, or NULL */
  guint n_unread_folders; /* folders reached after that, not read at all */
} Scan;

static void G_GNUC_PRINTF (2, 3)
warn (HlStudy *study, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_ptr_array_add (study->warnings, g_strdup_vprintf (format, args));
  va_end (args);
}

/* TRUE the first time this device/inode is seen. */
static gboolean
first_visit (Scan *s, const GStatBuf *st)
{
  char *key = g_strdup_printf ("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, (guint64) st->st_dev,
                               (guint64) st->st_ino);

  return g_hash_table_add (s->seen, key);
}

/* TRUE when the real path @real is the study folder or below it. */
static gboolean
inside_root (const Scan *s, const char *real)
{
  gsize n = strlen (s->root_real);

  if (strcmp (s->root_real, "/") == 0)
    return TRUE;
  return strncmp (real, s->root_real, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

/* For a symbolic link @child: TRUE when it resolves inside the study folder; otherwise warns
 * (dangling, or leaving the folder) and returns FALSE, so that it is not followed. */
static gboolean
link_stays_inside (Scan *s, const char *child)
{
  char *real = realpath (child, NULL);
  gboolean inside;

  if (real == NULL)
    {
      int saved = errno;
      warn (s->study, "%s: skipped: %s", child, g_strerror (saved));
      return FALSE;
    }
  inside = inside_root (s, real);
  if (!inside)
    {
      s->study->n_links_outside++;
      warn (s->study, "%s: a link to %s, outside the study folder: not followed", child, real);
    }
  free (real);
  return inside;
}

static gboolean
has_suffix_ci (const char *name, const char *suffix)
{
  gsize n = strlen (name), m = strlen (suffix);

  return n >= m && g_ascii_strcasecmp (name + n - m, suffix) == 0;
}

static gboolean
named_like_image (const char *name)
{
  return has_suffix_ci (name, ".png") || has_suffix_ci (name, ".dcm")
         || has_suffix_ci (name, ".dicom");
}

static void
image_free (HlStudyImage *entry)
{
  g_free (entry->path);
  g_free (entry->relative_path);
  g_free (entry->patient_id);
  g_free (entry->study_date);
  g_clear_error (&entry->error);
  g_free (entry);
}

static void
patient_free (HlStudyPatient *patient)
{
  g_free (patient->patient_id);
  g_ptr_array_unref (patient->images);
  g_free (patient);
}

/* @folder_name: the folder holding the file, used as the patient when nothing better is known. */
static void
add_file (Scan *s, const char *path, const char *relative, const char *name,
          const char *folder_name, guint depth)
{
  HlStudyImage *entry;
  HlImageFormat format = HL_IMAGE_PNG;
  GError *error = NULL;

  if (!hl_image_sniff (path, &format, &error))
    {
      /* a label file that cannot be read is reported by read_label_files(), not as an image */
      if (depth == 0 && (has_suffix_ci (name, ".csv") || has_suffix_ci (name, ".csv.gz")))
        {
          g_ptr_array_add (s->label_paths, g_strdup (path));
          g_error_free (error);
          return;
        }
      if (error->code == HL_STUDY_ERROR_FORMAT && !named_like_image (name))
        {
          s->study->n_other_files++;
          g_error_free (error);
          return;
        }
    }

  entry = g_new0 (HlStudyImage, 1);
  entry->path = g_strdup (path);
  entry->relative_path = g_strdup (relative);
  entry->format = format;
  entry->follow_up = -1;
  entry->error = error;
  if (!hl_nih_name_parse (name, &entry->patient_id, &entry->follow_up))
    entry->patient_id = g_strdup (folder_name);

  if (entry->error == NULL && (format == HL_IMAGE_DICOM || (s->flags & HL_STUDY_OPEN_VERIFY)))
    {
      g_autoptr (HlImage) image = hl_image_load (path, &entry->error);

      if (image != NULL && image->patient_id != NULL && *g_strstrip (image->patient_id) != '\0')
        {
          g_free (entry->patient_id);
          entry->patient_id = g_strdup (image->patient_id);
        }
      if (image != NULL && image->study_date != NULL)
        entry->study_date = g_strdup (image->study_date);
    }
  if (entry->error != NULL)
    s->study->n_failed++;
  g_ptr_array_add (s->study->images, entry);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Scans the folder @path (@relative to the study folder, NULL for the study folder itself).
 * Returns FALSE only when cancelled, or when the study folder itself cannot be read. */
static gboolean
scan_folder (Scan *s, const char *path, const char *relative, const char *folder_name,
             guint depth, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GDir *dir = g_dir_open (path, 0, &local);
  const char *name;

  if (dir == NULL)
    {
      if (depth == 0)
        {
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s", local->message);
          return FALSE;
        }
      warn (s->study, "%s: folder not scanned: %s", path, local->message);
      return TRUE;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      if (s->n_entries >= s->max_entries)
        {
          if (s->stopped_in == NULL)
            s->stopped_in = g_strdup (path);
          else
            s->n_unread_folders++;
          break;
        }
      s->n_entries++;
      if (name[0] != '.') /* hidden files and folders (.DS_Store, ._x.png, .git) are not studies */
        g_ptr_array_add (names, g_strdup (name));
    }
  g_dir_close (dir);
  g_ptr_array_sort (names, compare_names);

  for (guint i = 0; i < names->len; i++)
    {
      const char *child_name = names->pdata[i];
      g_autofree char *child = g_build_filename (path, child_name, NULL);
      g_autofree char *child_relative
          = relative != NULL ? g_strconcat (relative, "/", child_name, NULL) : g_strdup (child_name);
      GStatBuf st;

      if (g_cancellable_set_error_if_cancelled (s->cancellable, error))
        return FALSE;
      if (g_lstat (child, &st) == 0 && S_ISLNK (st.st_mode) && !link_stays_inside (s, child))
        continue;
      if (g_stat (child, &st) != 0)
        {
          int saved = errno;
          warn (s->study, "%s: skipped: %s", child, g_strerror (saved));
          continue;
        }
      if (S_ISDIR (st.st_mode))
        {
          if (depth + 1 > s->max_depth)
            warn (s->study, "%s: folder not scanned: deeper than %u levels", child, s->max_depth);
          else if (!first_visit (s, &st))
            warn (s->study, "%s: folder not scanned again (a link back to a folder already seen)",
                  child);
          else if (!scan_folder (s, child, child_relative, child_name, depth + 1, error))
            return FALSE;
        }
      else if (S_ISREG (st.st_mode))
        {
          if (first_visit (s, &st))
            add_file (s, child, child_relative, child_name, folder_name, depth);
        }
      else
        s->study->n_other_files++;
    }
  return TRUE;
}

static void
read_label_files (Scan *s)
{
  g_ptr_array_sort (s->label_paths, compare_names);
  for (guint i = 0; i < s->label_paths->len; i++)
    {
      g_autoptr (GError) error = NULL;
      HlLabelSet *set = hl_label_set_load (s->label_paths->pdata[i], &error);

      if (set == NULL)
        {
          warn (s->study, "%s", error->message);
          s->study->n_other_files++;
          continue;
        }
      for (guint w = 0; w < set->warnings->len; w++)
        warn (s->study, "%s", (const char *) set->warnings->pdata[w]);
      g_ptr_array_add (s->study->label_sets, set);
    }
  for (guint i = 0; i < s->study->images->len; i++)
    {
      HlStudyImage *entry = s->study->images->pdata[i];
      const char *base = strrchr (entry->relative_path, '/');

      base = base != NULL ? base + 1 : entry->relative_path;
      for (guint l = 0; l < s->study->label_sets->len && entry->labels == NULL; l++)
        {
          const HlLabelSet *set = s->study->label_sets->pdata[l];
          entry->labels = hl_label_set_lookup (set, entry->relative_path);
          if (entry->labels == NULL)
            entry->labels = hl_label_set_lookup (set, base);
        }
    }
}

int
hl_study_compare_natural (const char *a, const char *b)
{
  g_autofree char *ka = g_utf8_collate_key_for_filename (a, -1);
  g_autofree char *kb = g_utf8_collate_key_for_filename (b, -1);

  return strcmp (ka, kb);
}

/* Reading order within a patient: study date, follow-up (unknown last for both), path. */
static int
compare_images (gconstpointer pa, gconstpointer pb)
{
  const HlStudyImage *a = *(const HlStudyImage *const *) pa;
  const HlStudyImage *b = *(const HlStudyImage *const *) pb;

  if ((a->study_date == NULL) != (b->study_date == NULL))
    return a->study_date == NULL ? 1 : -1;
  if (a->study_date != NULL && strcmp (a->study_date, b->study_date) != 0)
    return strcmp (a->study_date, b->study_date);
  if ((a->follow_up < 0) != (b->follow_up < 0))
    return a->follow_up < 0 ? 1 : -1;
  if (a->follow_up != b->follow_up)
    return a->follow_up < b->follow_up ? -1 : 1;
  return hl_study_compare_natural (a->relative_path, b->relative_path);
}

static int
compare_patients (gconstpointer pa, gconstpointer pb)
{
  const HlStudyPatient *a = *(const HlStudyPatient *const *) pa;
  const HlStudyPatient *b = *(const HlStudyPatient *const *) pb;

  return hl_study_compare_natural (a->patient_id, b->patient_id);
}

static void
group_by_patient (HlStudy *study)
{
  g_autoptr (GHashTable) by_id = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *ordered;

  for (guint i = 0; i < study->images->len; i++)
    {
      HlStudyImage *entry = study->images->pdata[i];
      HlStudyPatient *patient = g_hash_table_lookup (by_id, entry->patient_id);

      if (patient == NULL)
        {
          patient = g_new0 (HlStudyPatient, 1);
          patient->patient_id = g_strdup (entry->patient_id);
          patient->images = g_ptr_array_new ();
          g_hash_table_insert (by_id, patient->patient_id, patient);
          g_ptr_array_add (study->patients, patient);
        }
      g_ptr_array_add (patient->images, entry);
    }
  g_ptr_array_sort (study->patients, compare_patients);

  ordered = g_ptr_array_new_full (study->images->len, (GDestroyNotify) image_free);
  for (guint p = 0; p < study->patients->len; p++)
    {
      HlStudyPatient *patient = study->patients->pdata[p];
      g_ptr_array_sort (patient->images, compare_images);
      for (guint i = 0; i < patient->images->len; i++)
        g_ptr_array_add (ordered, patient->images->pdata[i]);
    }
  g_ptr_array_set_free_func (study->images, NULL);
  g_ptr_array_unref (study->images);
  study->images = ordered;
}

HlStudy *
hl_study_open (const char *folder, guint max_depth, HlStudyOpenFlags flags,
               GCancellable *cancellable, GError **error)
{
  return hl_study_open_capped (folder, max_depth, HL_STUDY_MAX_ENTRIES, flags, cancellable, error);
}

HlStudy *
hl_study_open_capped (const char *folder, guint max_depth, guint max_entries,
                      HlStudyOpenFlags flags, GCancellable *cancellable, GError **error)
{
  g_autoptr (HlStudy) study = NULL;
  g_autofree char *canonical = NULL;
  GStatBuf st;
  Scan s = { 0 };
  gboolean ok;

  g_return_val_if_fail (folder != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_stat (folder, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: cannot open: %s", folder,
                   g_strerror (saved));
      return NULL;
    }
  if (!S_ISDIR (st.st_mode))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: not a folder", folder);
      return NULL;
    }

  study = g_new0 (HlStudy, 1);
  study->folder = g_strdup (folder);
  study->images = g_ptr_array_new_with_free_func ((GDestroyNotify) image_free);
  study->patients = g_ptr_array_new_with_free_func ((GDestroyNotify) patient_free);
  study->label_sets = g_ptr_array_new_with_free_func ((GDestroyNotify) hl_label_set_free);
  study->warnings = g_ptr_array_new_with_free_func (g_free);

  canonical = g_canonicalize_filename (folder, NULL);
  s.root_real = realpath (folder, NULL);
  if (s.root_real == NULL)
    {
      int saved = errno;
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: cannot open: %s", folder,
                   g_strerror (saved));
      return NULL;
    }
  s.study = study;
  s.max_depth = max_depth;
  s.max_entries = max_entries;
  s.flags = flags;
  s.cancellable = cancellable;
  s.folder_name = g_path_get_basename (canonical);
  s.seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  s.label_paths = g_ptr_array_new_with_free_func (g_free);
  first_visit (&s, &st);

  ok = scan_folder (&s, folder, NULL, s.folder_name, 0, error);
  if (ok && s.stopped_in != NULL)
    {
      study->incomplete = TRUE;
      warn (study,
            "%s: scan stopped after %u entries (the cap): the rest of %s and %u more folders "
            "were not read; the study is incomplete",
            folder, max_entries, s.stopped_in, s.n_unread_folders);
    }
  if (ok)
    {
      read_label_files (&s);
      group_by_patient (study);
    }
  g_free (s.folder_name);
  free (s.root_real);
  g_free (s.stopped_in);
  g_hash_table_unref (s.seen);
  g_ptr_array_unref (s.label_paths);
  return ok ? g_steal_pointer (&study) : NULL;
}

HlImage *
hl_study_image_load (const HlStudyImage *entry, GError **error)
{
  HlImage *image;

  g_return_val_if_fail (entry != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (entry->error != NULL)
    {
      g_propagate_error (error, g_error_copy (entry->error));
      return NULL;
    }
  image = hl_image_load (entry->path, error);
  if (image != NULL && image->patient_id == NULL)
    image->patient_id = g_strdup (entry->patient_id);
  return image;
}

const HlStudyPatient *
hl_study_find_patient (const HlStudy *study, const char *patient_id)
{
  g_return_val_if_fail (study != NULL, NULL);
  g_return_val_if_fail (patient_id != NULL, NULL);

  for (guint i = 0; i < study->patients->len; i++)
    {
      const HlStudyPatient *patient = study->patients->pdata[i];
      if (strcmp (patient->patient_id, patient_id) == 0)
        return patient;
    }
  return NULL;
}

void
hl_study_free (HlStudy *study)
{
  if (study == NULL)
    return;
  g_free (study->folder);
  g_clear_pointer (&study->patients, g_ptr_array_unref);
  g_clear_pointer (&study->images, g_ptr_array_unref);
  g_clear_pointer (&study->label_sets, g_ptr_array_unref);
  g_clear_pointer (&study->warnings, g_ptr_array_unref);
  g_free (study);
}
