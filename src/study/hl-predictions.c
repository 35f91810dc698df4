/* hl-predictions.c — reading, writing and matching prediction CSV files (Image + one score column
 * per label), the format `hilum-cli predict --csv` and `hilum-cli report` write and
 * `hilum-cli eval` reads, and the scores JSON that goes with them. */
#include "hl-predictions.h"
#include "hl-file-write.h"
#include "hl-study-private.h"

#include <errno.h>
#include <math.h>
#include <string.h>

void
hl_predictions_free (HlPredictions *predictions)
{
  if (predictions == NULL)
    return;
  g_free (predictions->path);
  g_strfreev (predictions->images);
  g_free (predictions->label_index);
  g_free (predictions->scores);
  if (predictions->by_image != NULL)
    g_hash_table_unref (predictions->by_image);
  g_free (predictions);
}

HlPredictions *
hl_predictions_new (const char *name, const char *const *images, gsize n_images,
                    const int *label_index, gsize n_labels, const float *scores)
{
  HlPredictions *predictions;
  gboolean seen[HL_N_LABELS] = { FALSE };

  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (images != NULL && label_index != NULL && scores != NULL, NULL);
  g_return_val_if_fail (n_images >= 1 && n_labels >= 1, NULL);
  g_return_val_if_fail (n_images <= G_MAXSIZE / sizeof (double) / n_labels, NULL);
  for (gsize l = 0; l < n_labels; l++)
    {
      g_return_val_if_fail (label_index[l] >= 0 && label_index[l] < HL_N_LABELS, NULL);
      g_return_val_if_fail (!seen[label_index[l]], NULL);
      seen[label_index[l]] = TRUE;
    }

  predictions = g_new0 (HlPredictions, 1);
  predictions->path = g_strdup (name);
  predictions->n_images = n_images;
  predictions->n_labels = n_labels;
  predictions->images = g_new0 (char *, n_images + 1);
  predictions->label_index = g_memdup2 (label_index, n_labels * sizeof *label_index);
  predictions->scores = g_new (double, n_images * n_labels);
  predictions->by_image = g_hash_table_new (g_str_hash, g_str_equal);
  for (gsize i = 0; i < n_images * n_labels; i++)
    predictions->scores[i] = scores[i];
  for (gsize i = 0; i < n_images; i++)
    {
      if (g_hash_table_contains (predictions->by_image, images[i]))
        {
          g_critical ("%s: image `%s` listed twice", G_STRFUNC, images[i]);
          hl_predictions_free (predictions);
          return NULL;
        }
      predictions->images[i] = g_strdup (images[i]);
      g_hash_table_insert (predictions->by_image, predictions->images[i],
                           GSIZE_TO_POINTER (i + 1));
    }
  return predictions;
}

/* The most fields a line can usefully have: `Image` and each label once. */
#define MAX_FIELDS (HL_N_LABELS + 1)

/* Parses the header fields @fields (n_fields; only read when n_fields <= MAX_FIELDS) on @line into
 * @predictions' label columns. */
static gboolean
parse_header (HlPredictions *predictions, char **fields, gsize n_fields, gsize line,
              GError **error)
{
  gboolean seen[HL_N_LABELS] = { FALSE };

  if (n_fields > MAX_FIELDS)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                   "%s:%" G_GSIZE_FORMAT ": the header has %" G_GSIZE_FORMAT " columns, more "
                   "than `Image` and the %d labels",
                   predictions->path, line, n_fields, HL_N_LABELS);
      return FALSE;
    }
  if (n_fields < 2 || strcmp (fields[0], "Image") != 0)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                   "%s:%" G_GSIZE_FORMAT ": the header must be `Image` then one column per label",
                   predictions->path, line);
      return FALSE;
    }
  predictions->n_labels = n_fields - 1;
  predictions->label_index = g_new (int, predictions->n_labels);
  for (gsize c = 1; c < n_fields; c++)
    {
      int index = hl_label_index (fields[c]);

      if (index < 0)
        {
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                       "%s:%" G_GSIZE_FORMAT ": column `%s` is not one of the %d labels",
                       predictions->path, line, fields[c], HL_N_LABELS);
          return FALSE;
        }
      if (seen[index])
        {
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                       "%s:%" G_GSIZE_FORMAT ": label `%s` appears twice", predictions->path, line,
                       hl_label_names[index]);
          return FALSE;
        }
      seen[index] = TRUE;
      predictions->label_index[c - 1] = index;
    }
  return TRUE;
}

/* Parses data row @fields (n_fields; only read when it is the header's count) on @line of
 * @predictions; on success appends its image name to @images and its scores to @scores
 * (n_labels doubles). */
static gboolean
parse_row (HlPredictions *predictions, char **fields, gsize n_fields, gsize line,
           GPtrArray *images, GArray *scores, GError **error)
{
  const char *path = predictions->path;
  double values[HL_N_LABELS]; /* (n_labels) */

  if (n_fields != predictions->n_labels + 1)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                   "%s:%" G_GSIZE_FORMAT ": %" G_GSIZE_FORMAT " fields, the header has "
                   "%" G_GSIZE_FORMAT,
                   path, line, n_fields, predictions->n_labels + 1);
      return FALSE;
    }
  if (!hl_image_name_is_safe (fields[0]))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSAFE_PATH,
                   "%s:%" G_GSIZE_FORMAT ": image name `%s` leaves the folder", path, line,
                   fields[0]);
      return FALSE;
    }
  if (g_hash_table_contains (predictions->by_image, fields[0]))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                   "%s:%" G_GSIZE_FORMAT ": `%s` is listed twice", path, line, fields[0]);
      return FALSE;
    }
  for (gsize c = 1; c < n_fields; c++)
    {
      char *end;

      errno = 0;
      values[c - 1] = g_ascii_strtod (fields[c], &end);
      if (end == fields[c] || *end != '\0' || !isfinite (values[c - 1]) || errno == ERANGE)
        {
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                       "%s:%" G_GSIZE_FORMAT ": score `%s` for %s is not a finite number", path,
                       line, fields[c], hl_label_names[predictions->label_index[c - 1]]);
          return FALSE;
        }
    }
  g_array_append_vals (scores, values, predictions->n_labels);
  g_ptr_array_add (images, g_strdup (fields[0]));
  g_hash_table_insert (predictions->by_image, g_ptr_array_index (images, images->len - 1),
                       GSIZE_TO_POINTER (images->len));
  return TRUE;
}

HlPredictions *
hl_predictions_load_from_data (const char *data, gsize length, const char *name, GError **error)
{
  g_autoptr (HlPredictions) predictions = NULL;
  g_autofree char *text = NULL;
  /* grown row by row, so memory follows the rows accepted, not the line count */
  g_autoptr (GPtrArray) images = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) scores = g_array_new (FALSE, FALSE, sizeof (double));

  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (length > HL_PREDICTIONS_MAX_BYTES)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV, "%s: larger than %zu MiB", name,
                   HL_PREDICTIONS_MAX_BYTES >> 20);
      return NULL;
    }
  if (length >= 3 && memcmp (data, "\xEF\xBB\xBF", 3) == 0)
    {
      data += 3;
      length -= 3;
    }
  if (memchr (data, '"', length) != NULL || memchr (data, '\0', length) != NULL)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                   "%s: quotes or NUL bytes: not a predictions file", name);
      return NULL;
    }
  text = g_strndup (data, length);

  predictions = g_new0 (HlPredictions, 1);
  predictions->path = g_strdup (name);
  predictions->by_image = g_hash_table_new (g_str_hash, g_str_equal);

  /* Lines and fields are cut in place, and a line is split only when it has no more fields than
   * any valid line: no allocation grows with the number of line breaks or commas. */
  gsize line = 0;
  for (char *start = text, *next; start != NULL; start = next)
    {
      char *end = strchr (start, '\n');
      char *fields[MAX_FIELDS];
      gsize n_fields = 1;

      next = end != NULL ? end + 1 : NULL;
      if (end == NULL)
        end = start + strlen (start);
      line++;
      if (end > start && end[-1] == '\r')
        end--;
      *end = '\0';
      if (end == start)
        continue;
      for (const char *p = start; *p != '\0'; p++)
        n_fields += *p == ',';
      if (n_fields <= MAX_FIELDS)
        {
          fields[0] = start;
          for (gsize f = 1; f < n_fields; f++)
            {
              char *comma = strchr (fields[f - 1], ',');
              *comma = '\0';
              fields[f] = comma + 1;
            }
        }
      if (predictions->label_index == NULL)
        {
          if (!parse_header (predictions, fields, n_fields, line, error))
            return NULL;
          continue;
        }
      if (!parse_row (predictions, fields, n_fields, line, images, scores, error))
        return NULL;
    }
  if (predictions->label_index == NULL)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV, "%s: empty, no header", name);
      return NULL;
    }
  if (images->len == 0)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV, "%s: a header but no rows", name);
      return NULL;
    }
  predictions->n_images = images->len;
  g_ptr_array_add (images, NULL);
  predictions->images = (char **) g_ptr_array_steal (images, NULL);
  predictions->scores = (double *) g_array_steal (scores, NULL);
  return g_steal_pointer (&predictions);
}

HlPredictions *
hl_predictions_load (const char *path, GError **error)
{
  g_autofree char *contents = NULL;
  gsize length;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!hl_study_read_file (path, HL_PREDICTIONS_MAX_BYTES, &contents, &length, error))
    return NULL;
  return hl_predictions_load_from_data (contents, length, path, error);
}

gssize
hl_predictions_lookup (const HlPredictions *predictions, const char *image)
{
  g_return_val_if_fail (predictions != NULL, -1);
  g_return_val_if_fail (image != NULL, -1);

  return (gssize) GPOINTER_TO_SIZE (g_hash_table_lookup (predictions->by_image, image)) - 1;
}

gboolean
hl_predictions_field_is_safe (const char *s)
{
  g_return_val_if_fail (s != NULL, FALSE);
  return strpbrk (s, ",\"\r\n") == NULL;
}

/* Appends the shortest decimal (C locale) that reads back as the same float. */
static void
append_float (GString *out, float v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE], format[8];

  for (int digits = 6; digits <= 9; digits++)
    {
      g_snprintf (format, sizeof format, "%%.%dg", digits);
      g_ascii_formatd (buf, sizeof buf, format, v);
      if ((float) g_ascii_strtod (buf, NULL) == v)
        break;
    }
  g_string_append (out, buf);
}

GString *
hl_predictions_format (const char *const *images, gsize n_images, const char *const *labels,
                       gsize n_labels, const float *scores, GError **error)
{
  g_return_val_if_fail (images != NULL || n_images == 0, NULL);
  g_return_val_if_fail (labels != NULL && n_labels >= 1, NULL);
  g_return_val_if_fail (scores != NULL || n_images == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (GString) out = g_string_new ("Image");
  for (gsize l = 0; l < n_labels; l++)
    {
      if (!hl_predictions_field_is_safe (labels[l]))
        {
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                       "label `%s` holds a comma, quote or line break", labels[l]);
          return NULL;
        }
      g_string_append_c (out, ',');
      g_string_append (out, labels[l]);
    }
  g_string_append_c (out, '\n');
  for (gsize i = 0; i < n_images; i++)
    {
      if (!hl_predictions_field_is_safe (images[i]))
        {
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                       "image name `%s` holds a comma, quote or line break", images[i]);
          return NULL;
        }
      g_string_append (out, images[i]);
      for (gsize l = 0; l < n_labels; l++)
        {
          g_string_append_c (out, ',');
          append_float (out, scores[i * n_labels + l]);
        }
      g_string_append_c (out, '\n');
    }
  return g_steal_pointer (&out);
}

gboolean
hl_predictions_write_labels (const char *path, const char *const *images, gsize n_images,
                             const char *const *labels, gsize n_labels, const float *scores,
                             GError **error)
{
  g_autoptr (GError) local = NULL;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_autoptr (GString) out
      = hl_predictions_format (images, n_images, labels, n_labels, scores, &local);
  if (out == NULL)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV, "%s: %s", path, local->message);
      return FALSE;
    }
  if (!hl_file_write_contents (path, out->str, out->len, NULL, &local))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  return TRUE;
}

/* The last @k components of @parts (n_parts), joined with '/'. */
static char *
path_tail (char **parts, guint n_parts, guint k)
{
  guint from = k < n_parts ? n_parts - k : 0;
  return g_strjoinv ("/", parts + from);
}

char **
hl_predictions_unique_names (const char *const *paths, gsize n)
{
  g_return_val_if_fail (paths != NULL || n == 0, NULL);

  char **names = g_new0 (char *, n + 1);
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  g_autoptr (GHashTable) distinct = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) canonical = g_ptr_array_new_with_free_func (g_free);
  guint depth = 0;
  for (gsize i = 0; i < n; i++)
    {
      char *c = g_canonicalize_filename (paths[i], NULL);
      g_ptr_array_add (canonical, c);
      g_hash_table_add (distinct, c);
      /* the components, without the empty one before the root's '/' */
      char **split = g_strsplit (*c == '/' ? c + 1 : c, "/", -1);
      g_ptr_array_add (parts, split);
      depth = MAX (depth, g_strv_length (split));
    }
  for (guint k = 1; k <= MAX (depth, 1); k++)
    {
      /* tail -> number of distinct files ending so */
      g_autoptr (GHashTable) count = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_autoptr (GHashTable) counted = g_hash_table_new (g_str_hash, g_str_equal);
      g_autoptr (GPtrArray) tails = g_ptr_array_new_with_free_func (g_free);
      for (gsize i = 0; i < n; i++)
        {
          char **p = g_ptr_array_index (parts, i);
          char *tail = path_tail (p, g_strv_length (p), k);
          g_ptr_array_add (tails, tail);
          const char *c = g_ptr_array_index (canonical, i);
          if (g_hash_table_contains (counted, c))
            continue;
          g_hash_table_add (counted, (gpointer) c);
          gpointer old = g_hash_table_lookup (count, tail);
          g_hash_table_insert (count, g_strdup (tail), GSIZE_TO_POINTER (GPOINTER_TO_SIZE (old) + 1));
        }
      for (gsize i = 0; i < n; i++)
        {
          const char *tail = g_ptr_array_index (tails, i);
          if (names[i] == NULL
              && (GPOINTER_TO_SIZE (g_hash_table_lookup (count, tail)) == 1 || k >= depth))
            names[i] = g_strdup (tail);
        }
    }
  return names;
}

gboolean
hl_predictions_write (const char *path, const char *const *images, gsize n_images,
                      const int *label_index, gsize n_labels, const float *scores, GError **error)
{
  g_return_val_if_fail (label_index != NULL && n_labels >= 1 && n_labels <= HL_N_LABELS, FALSE);

  const char *names[HL_N_LABELS];
  for (gsize l = 0; l < n_labels; l++)
    {
      g_return_val_if_fail (label_index[l] >= 0 && label_index[l] < HL_N_LABELS, FALSE);
      names[l] = hl_label_names[label_index[l]];
    }
  return hl_predictions_write_labels (path, images, n_images, names, n_labels, scores, error);
}

void
hl_predictions_json_begin (JsonBuilder *builder, const HlModelInfo *info)
{
  g_return_if_fail (JSON_IS_BUILDER (builder) && info != NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "generator");
  json_builder_add_string_value (builder, HL_FILE_SIGNATURE);
  json_builder_set_member_name (builder, "model");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, info->name);
  json_builder_set_member_name (builder, "version");
  json_builder_add_string_value (builder, info->version);
  json_builder_set_member_name (builder, "labels");
  json_builder_begin_array (builder);
  for (int l = 0; l < info->n_labels; l++)
    json_builder_add_string_value (builder, info->labels[l]);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "thresholds");
  json_builder_begin_array (builder);
  for (int l = 0; l < info->n_labels; l++)
    json_builder_add_double_value (builder, info->thresholds[l]);
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "not_for_diagnostic_use");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_set_member_name (builder, "note");
  json_builder_add_string_value (builder, "Not for diagnostic use: research software; the scores "
                                          "come from a model trained on a small public data set.");
}

void
hl_predictions_json_add_scores (JsonBuilder *builder, const HlModelInfo *info, const float *probs)
{
  g_return_if_fail (JSON_IS_BUILDER (builder) && info != NULL && probs != NULL);

  json_builder_set_member_name (builder, "scores");
  json_builder_begin_object (builder);
  for (int l = 0; l < info->n_labels; l++)
    {
      json_builder_set_member_name (builder, info->labels[l]);
      json_builder_add_double_value (builder, probs[l]);
    }
  json_builder_end_object (builder);
}

char *
hl_predictions_json_end (JsonBuilder *builder, gsize *length)
{
  g_return_val_if_fail (JSON_IS_BUILDER (builder), NULL);

  json_builder_end_object (builder);
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, length);
}

void
hl_scored_set_free (HlScoredSet *set)
{
  if (set == NULL)
    return;
  g_strfreev (set->images);
  g_free (set->labels);
  g_free (set->label_index);
  g_free (set->scores);
  g_free (set->truth);
  g_free (set);
}

HlScoredSet *
hl_predictions_match (const HlPredictions *predictions, const HlLabelSet *labels, GError **error)
{
  g_autoptr (HlScoredSet) set = NULL;
  g_autofree gsize *columns = NULL; /* (n_labels) the predictions' column of each set column */
  const char *first_missing = NULL;
  gsize n_missing = 0;

  g_return_val_if_fail (predictions != NULL, NULL);
  g_return_val_if_fail (labels != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  columns = g_new (gsize, predictions->n_labels);
  set = g_new0 (HlScoredSet, 1);
  set->labels = g_new (const char *, predictions->n_labels);
  set->label_index = g_new (int, predictions->n_labels);
  for (gsize c = 0; c < predictions->n_labels; c++)
    if (labels->has_label[predictions->label_index[c]])
      {
        columns[set->n_labels] = c;
        set->label_index[set->n_labels] = predictions->label_index[c];
        set->labels[set->n_labels] = hl_label_names[predictions->label_index[c]];
        set->n_labels++;
      }
  if (set->n_labels == 0)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                   "%s and %s have no label in common", predictions->path, labels->path);
      return NULL;
    }

  for (guint r = 0; r < labels->rows->len; r++)
    {
      const HlLabelRow *row = labels->rows->pdata[r];

      if (hl_predictions_lookup (predictions, row->image) < 0)
        {
          if (n_missing++ == 0)
            first_missing = row->image;
        }
    }
  if (n_missing > 0)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                   "%s has no prediction for %" G_GSIZE_FORMAT " of the %u images of %s, "
                   "the first `%s`",
                   predictions->path, n_missing, labels->rows->len, labels->path, first_missing);
      return NULL;
    }
  if (labels->rows->len == 0)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV, "%s lists no images", labels->path);
      return NULL;
    }

  set->n_images = labels->rows->len;
  set->images = g_new0 (char *, set->n_images + 1);
  set->scores = g_new (double, set->n_images * set->n_labels);
  set->truth = g_new (guint8, set->n_images * set->n_labels);
  for (gsize i = 0; i < set->n_images; i++)
    {
      const HlLabelRow *row = labels->rows->pdata[i];
      gsize p = (gsize) hl_predictions_lookup (predictions, row->image);

      set->images[i] = g_strdup (row->image);
      for (gsize l = 0; l < set->n_labels; l++)
        {
          set->scores[i * set->n_labels + l]
              = predictions->scores[p * predictions->n_labels + columns[l]];
          set->truth[i * set->n_labels + l] = row->labels[set->label_index[l]];
        }
    }
  return g_steal_pointer (&set);
}
