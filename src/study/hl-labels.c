/* hl-labels.c — the label names, a small RFC 4180 CSV reader, and the two label-file layouts
 * (notebook and NIH Data_Entry_2017) described in hl-labels.h. */
#include "hl-labels.h"
#include "hl-file-write.h"
#include "hl-study-private.h"

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

const char *const hl_label_names[HL_N_LABELS] = {
  "Atelectasis", "Cardiomegaly", "Consolidation", "Edema",
  "Effusion",    "Emphysema",    "Fibrosis",      "Hernia",
  "Infiltration", "Mass",        "Nodule",        "Pleural_Thickening",
  "Pneumonia",   "Pneumothorax",
};

#define MAX_KEPT_WARNINGS 1000
#define NOTEBOOK_PATIENT_AFTER 10 /* PatientId follows hl_label_names[10], Nodule */

int
hl_label_index (const char *name)
{
  g_return_val_if_fail (name != NULL, -1);

  for (int i = 0; i < HL_N_LABELS; i++)
    {
      const char *a = name, *b = hl_label_names[i];
      while (*a != '\0' && *b != '\0'
             && (g_ascii_tolower (*a) == g_ascii_tolower (*b) || (*a == ' ' && *b == '_')))
        a++, b++;
      if (*a == '\0' && *b == '\0')
        return i;
    }
  return -1;
}

gboolean
hl_image_name_is_safe (const char *name)
{
  g_auto (GStrv) parts = NULL;

  g_return_val_if_fail (name != NULL, FALSE);

  if (name[0] == '\0' || name[0] == '/' || strchr (name, '\\') != NULL)
    return FALSE;
  if (g_ascii_isalpha (name[0]) && name[1] == ':')
    return FALSE;
  parts = g_strsplit (name, "/", -1);
  for (int i = 0; parts[i] != NULL; i++)
    if (strcmp (parts[i], "..") == 0)
      return FALSE;
  return TRUE;
}

char *
hl_patient_id_normalize (const char *id)
{
  char *copy;
  const char *p;

  g_return_val_if_fail (id != NULL, NULL);

  copy = g_strstrip (g_strdup (id));
  for (p = copy; *p != '\0' && g_ascii_isdigit (*p); p++)
    ;
  if (*p == '\0' && copy[0] != '\0')
    {
      p = copy;
      while (p[0] == '0' && p[1] != '\0')
        p++;
      memmove (copy, p, strlen (p) + 1);
    }
  return copy;
}

gboolean
hl_nih_name_parse (const char *name, char **patient_id, int *follow_up)
{
  const char *base, *p, *underscore;
  char digits[32];
  gsize n;

  g_return_val_if_fail (name != NULL, FALSE);

  base = strrchr (name, '/');
  base = base != NULL ? base + 1 : name;
  for (p = base; g_ascii_isdigit (*p); p++)
    ;
  n = (gsize) (p - base);
  if (n == 0 || n >= sizeof digits || *p != '_')
    return FALSE;
  underscore = p;
  for (p = underscore + 1; g_ascii_isdigit (*p); p++)
    ;
  if (p == underscore + 1 || p - underscore - 1 > 6 || g_ascii_strcasecmp (p, ".png") != 0)
    return FALSE;
  if (patient_id != NULL)
    {
      memcpy (digits, base, n);
      digits[n] = '\0';
      *patient_id = hl_patient_id_normalize (digits);
    }
  if (follow_up != NULL)
    *follow_up = (int) g_ascii_strtoll (underscore + 1, NULL, 10);
  return TRUE;
}

/* ---- CSV records ---- */

/* The most fields of one record that are kept (a header that needs more is refused), so that a
 * line of commas costs no memory per comma. */
#define CSV_MAX_FIELDS 1024
/* The most bytes of one record's fields that are kept (a record that needs more is skipped, a
 * header refused), so that a line of gigabytes costs no memory beyond the file's own: a header
 * of 1024 columns of 64-byte names is 64 KiB, an NIH row about 100 bytes. */
#define CSV_MAX_RECORD_BYTES ((gsize) 1 << 20)

typedef struct
{
  const char *p, *end;
  guint line;      /* line of the next character */
  guint start;     /* line where the last record started */
  GPtrArray *fields; /* (char *) of the last record: its first CSV_MAX_FIELDS */
  guint n_fields;  /* fields of the last record, kept or not */
  gsize n_bytes;   /* bytes of the last record's fields, kept or not */
} CsvReader;

/* Appends @c to @field unless the record is already over CSV_MAX_RECORD_BYTES. */
static inline void
csv_add (CsvReader *r, GString *field, char c)
{
  if (r->n_bytes++ < CSV_MAX_RECORD_BYTES)
    g_string_append_c (field, c);
}

/* Reads the next record into r->fields. Returns 1, 0 at the end, -1 (error set) for an
 * unterminated quote. */
static int
csv_next (CsvReader *r, const char *name, GError **error)
{
  g_autoptr (GString) field = g_string_new (NULL);

  g_ptr_array_set_size (r->fields, 0);
  r->n_fields = 0;
  r->n_bytes = 0;
  if (r->p >= r->end)
    return 0;
  r->start = r->line;
  for (;;)
    {
      g_string_truncate (field, 0);
      if (r->p < r->end && *r->p == '"')
        {
          guint quote_line = r->line;
          r->p++;
          for (;;)
            {
              if (r->p >= r->end)
                {
                  g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                               "%s:%u: quote opened here is never closed", name, quote_line);
                  return -1;
                }
              if (*r->p == '"')
                {
                  if (r->p + 1 < r->end && r->p[1] == '"')
                    {
                      csv_add (r, field, '"');
                      r->p += 2;
                      continue;
                    }
                  r->p++;
                  break;
                }
              if (*r->p == '\n')
                r->line++;
              csv_add (r, field, *r->p++);
            }
        }
      /* unquoted text, or what follows a closing quote, up to the delimiter */
      while (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r')
        csv_add (r, field, *r->p++);
      if (r->n_fields++ < CSV_MAX_FIELDS)
        g_ptr_array_add (r->fields, g_strdup (field->str));
      if (r->p >= r->end)
        return 1;
      if (*r->p == ',')
        {
          r->p++;
          continue;
        }
      if (*r->p == '\r')
        r->p++;
      if (r->p < r->end && *r->p == '\n')
        r->p++;
      r->line++;
      return 1;
    }
}

/* ---- label sets ---- */

typedef struct
{
  int image, patient, follow_up, findings; /* column indices, -1 if absent */
  int *label_of_column;                    /* (n_columns) label index per column, -1 if none */
  guint n_columns;
} Columns;

static void
row_free (HlLabelRow *row)
{
  g_free (row->image);
  g_free (row->patient_id);
  g_free (row);
}

static void G_GNUC_PRINTF (3, 4)
warn (HlLabelSet *set, guint line, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  set->n_warnings++;
  if (set->warnings->len > MAX_KEPT_WARNINGS)
    return;
  if (set->warnings->len == MAX_KEPT_WARNINGS)
    {
      g_ptr_array_add (set->warnings,
                       g_strdup_printf ("%s: more warnings not listed", set->path));
      return;
    }
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_ptr_array_add (set->warnings, g_strdup_printf ("%s:%u: %s", set->path, line, message));
}

static gboolean
read_header (HlLabelSet *set, GPtrArray *fields, guint line, Columns *c, GError **error)
{
  int nih_image = -1, notebook_image = -1, patient = -1;
  int n_labels = 0;

  c->image = c->patient = c->follow_up = c->findings = -1;
  c->n_columns = fields->len;
  c->label_of_column = g_new (int, fields->len);
  for (guint i = 0; i < fields->len; i++)
    {
      const char *name = g_strstrip ((char *) fields->pdata[i]);
      c->label_of_column[i] = -1;
      if (g_ascii_strcasecmp (name, "Image") == 0)
        notebook_image = (int) i;
      else if (g_ascii_strcasecmp (name, "Image Index") == 0)
        nih_image = (int) i;
      else if (g_ascii_strcasecmp (name, "Finding Labels") == 0)
        c->findings = (int) i;
      else if (g_ascii_strcasecmp (name, "PatientId") == 0
               || g_ascii_strcasecmp (name, "Patient ID") == 0)
        patient = (int) i;
      else if (g_ascii_strcasecmp (name, "Follow-up #") == 0)
        c->follow_up = (int) i;
      else if (hl_label_index (name) >= 0)
        c->label_of_column[i] = hl_label_index (name);
    }
  c->patient = patient;

  if (nih_image >= 0 && c->findings >= 0)
    {
      set->layout = HL_LABEL_LAYOUT_NIH;
      c->image = nih_image;
      for (int k = 0; k < HL_N_LABELS; k++)
        set->has_label[k] = TRUE;
      for (guint i = 0; i < fields->len; i++)
        c->label_of_column[i] = -1;
      return TRUE;
    }
  if (notebook_image < 0)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                   "%s:%u: not a label file: the header has neither `Image` (notebook layout) nor "
                   "`Image Index` and `Finding Labels` (NIH layout)",
                   set->path, line);
      return FALSE;
    }
  set->layout = HL_LABEL_LAYOUT_NOTEBOOK;
  c->image = notebook_image;
  c->findings = -1;
  for (guint i = 0; i < fields->len; i++)
    {
      int k = c->label_of_column[i];
      if (k >= 0)
        {
          if (set->has_label[k])
            {
              g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                           "%s:%u: label `%s` has two columns", set->path, line, hl_label_names[k]);
              return FALSE;
            }
          set->has_label[k] = TRUE;
          n_labels++;
        }
      else if ((int) i != c->image && (int) i != c->patient && (int) i != c->follow_up)
        warn (set, line, "unknown column `%s` ignored", (const char *) fields->pdata[i]);
    }
  if (n_labels == 0)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                   "%s:%u: the header names none of the 14 labels", set->path, line);
      return FALSE;
    }
  return TRUE;
}

/* Fills @row's labels from NIH's `Finding Labels`. */
static void
parse_findings (HlLabelSet *set, guint line, const char *findings, HlLabelRow *row)
{
  g_auto (GStrv) names = g_strsplit (findings, "|", -1);
  gboolean no_finding = FALSE, any = FALSE;

  for (int i = 0; names[i] != NULL; i++)
    {
      const char *name = g_strstrip (names[i]);
      int k;

      if (name[0] == '\0')
        continue;
      if (g_ascii_strcasecmp (name, "No Finding") == 0)
        {
          no_finding = TRUE;
          continue;
        }
      k = hl_label_index (name);
      if (k < 0)
        warn (set, line, "unknown label `%s` ignored", name);
      else
        {
          row->labels[k] = 1;
          any = TRUE;
        }
    }
  if (no_finding && any)
    warn (set, line, "`No Finding` together with findings: the findings are kept");
}

/* Parses the record @fields (@n_fields in all; only read when that is the header's count).
 * Returns FALSE with @error only for fatal problems; a bad row is a warning and *row stays NULL. */
static gboolean
parse_row (HlLabelSet *set, const Columns *c, GPtrArray *fields, guint n_fields, guint line,
           HlLabelRow **out, GError **error)
{
  HlLabelRow *row;
  char *name_patient = NULL;
  int name_follow_up = -1;
  const char *image;

  *out = NULL;
  if (n_fields != c->n_columns)
    {
      warn (set, line, "%u fields where the header has %u: row skipped", n_fields, c->n_columns);
      return TRUE;
    }
  image = g_strstrip ((char *) fields->pdata[c->image]);
  if (!hl_image_name_is_safe (image))
    {
      if (image[0] == '\0')
        {
          warn (set, line, "empty image name: row skipped");
          return TRUE;
        }
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSAFE_PATH,
                   "%s:%u: image name `%s` leaves the folder (absolute, `..`, backslash or drive)",
                   set->path, line, image);
      return FALSE;
    }

  row = g_new0 (HlLabelRow, 1);
  row->line = line;
  row->follow_up = -1;
  row->image = g_strdup (image);
  if (c->findings >= 0)
    parse_findings (set, line, fields->pdata[c->findings], row);
  for (guint i = 0; i < c->n_columns; i++)
    {
      int k = c->label_of_column[i];
      const char *value;
      char *end;
      double v;

      if (k < 0)
        continue;
      value = g_strstrip ((char *) fields->pdata[i]);
      v = g_ascii_strtod (value, &end);
      if (value[0] == '\0' || *end != '\0' || (v != 0.0 && v != 1.0))
        {
          warn (set, line, "`%s` is `%s`, not 0 or 1: row skipped", hl_label_names[k], value);
          row_free (row);
          return TRUE;
        }
      row->labels[k] = v == 1.0;
    }
  if (c->follow_up >= 0)
    {
      const char *value = g_strstrip ((char *) fields->pdata[c->follow_up]);
      guint64 n;
      if (g_ascii_string_to_unsigned (value, 10, 0, G_MAXINT, &n, NULL))
        row->follow_up = (int) n;
    }
  if (c->patient >= 0 && *g_strstrip ((char *) fields->pdata[c->patient]) != '\0')
    row->patient_id = hl_patient_id_normalize (fields->pdata[c->patient]);
  if (hl_nih_name_parse (row->image, &name_patient, &name_follow_up))
    {
      if (row->patient_id == NULL)
        row->patient_id = g_steal_pointer (&name_patient);
      if (row->follow_up < 0)
        row->follow_up = name_follow_up;
      g_free (name_patient);
    }
  if (row->patient_id == NULL)
    row->patient_id = g_strdup (row->image);
  *out = row;
  return TRUE;
}

static gboolean
parse_text (HlLabelSet *set, const char *text, gsize length, GError **error)
{
  g_autoptr (GPtrArray) fields = g_ptr_array_new_with_free_func (g_free);
  CsvReader r;
  const char *nul;
  gboolean have_header = FALSE, patient_from_name = FALSE;
  Columns c = { 0 };
  int got;
  gboolean ok = FALSE;

  if (text == NULL) /* an empty file, e.g. a gzip stream that inflates to nothing */
    text = "";
  r = (CsvReader) { text, text + length, 1, 1, fields, 0, 0 };

  nul = memchr (text, '\0', length);
  if (nul != NULL)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                   "%s: not a CSV: a NUL byte at offset %zu (binary data, or UTF-16 text)",
                   set->path, (gsize) (nul - text));
      return FALSE;
    }
  if (length >= 3 && memcmp (text, "\xEF\xBB\xBF", 3) == 0)
    r.p += 3;
  while ((got = csv_next (&r, set->path, error)) == 1)
    {
      HlLabelRow *row, *first;

      if (fields->len == 1 && *g_strstrip ((char *) fields->pdata[0]) == '\0')
        continue; /* blank line */
      if (!have_header)
        {
          if (r.n_fields > fields->len)
            {
              g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                           "%s:%u: the header has %u columns, more than %d", set->path, r.start,
                           r.n_fields, CSV_MAX_FIELDS);
              goto out;
            }
          if (r.n_bytes > CSV_MAX_RECORD_BYTES)
            {
              g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                           "%s:%u: the header is longer than %zu KiB", set->path, r.start,
                           CSV_MAX_RECORD_BYTES >> 10);
              goto out;
            }
          if (!read_header (set, fields, r.start, &c, error))
            goto out;
          have_header = TRUE;
          continue;
        }
      if (r.n_bytes > CSV_MAX_RECORD_BYTES)
        {
          warn (set, r.start, "a row longer than %zu KiB: row skipped",
                CSV_MAX_RECORD_BYTES >> 10);
          continue;
        }
      if (!parse_row (set, &c, fields, r.n_fields, r.start, &row, error))
        goto out;
      if (row == NULL)
        continue;
      first = g_hash_table_lookup (set->by_image, row->image);
      if (first != NULL)
        {
          gboolean same = memcmp (first->labels, row->labels, sizeof row->labels) == 0
                          && strcmp (first->patient_id, row->patient_id) == 0;
          warn (set, row->line, "`%s` already listed on line %u%s", row->image, first->line,
                same ? ": duplicate ignored" : " with other labels: the first is kept");
          row_free (row);
          continue;
        }
      if (strcmp (row->patient_id, row->image) == 0)
        patient_from_name = TRUE;
      g_ptr_array_add (set->rows, row);
      g_hash_table_insert (set->by_image, row->image, row);
    }
  if (got < 0)
    goto out;
  if (!have_header)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV, "%s: empty, no header", set->path);
      goto out;
    }
  if (patient_from_name)
    warn (set, 1, "no patient id for some images (no patient column, names not "
                  "<patient>_<follow-up>.png): each such image counts as its own patient");
  ok = TRUE;
out:
  g_free (c.label_of_column);
  return ok;
}

static gboolean
is_gzip (const char *data, gsize length)
{
  return length >= 2 && (guint8) data[0] == 0x1f && (guint8) data[1] == 0x8b;
}

/* Decompresses gzip @data, every member of it (what `cat a.gz b.gz`, pigz or bgzip write: a
 * member that ends with input left starts the next); NULL with @error if corrupt or larger than
 * HL_LABELS_MAX_BYTES, which is checked before anything past it is kept. */
static GByteArray *
gunzip (const char *data, gsize length, const char *name, GError **error)
{
  g_autoptr (GConverter) converter
      = G_CONVERTER (g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP));
  g_autoptr (GByteArray) out = g_byte_array_new ();
  const guint8 *in = (const guint8 *) data;
  gsize left = length;
  guint member = 1;
  guint8 chunk[65536];

  for (;;)
    {
      g_autoptr (GError) local = NULL;
      gsize n_read = 0, n_written = 0;
      GConverterResult result
          = g_converter_convert (converter, in, left, chunk, sizeof chunk,
                                 G_CONVERTER_INPUT_AT_END, &n_read, &n_written, &local);

      if (result == G_CONVERTER_ERROR)
        {
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                       "%s: not valid gzip (member %u, at byte %zu): %s", name, member,
                       length - left, local->message);
          return NULL;
        }
      if (out->len + n_written > HL_LABELS_MAX_BYTES)
        {
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                       "%s: decompresses to more than %zu MiB", name, HL_LABELS_MAX_BYTES >> 20);
          return NULL;
        }
      g_byte_array_append (out, chunk, (guint) n_written);
      in += n_read;
      left -= n_read;
      if (result == G_CONVERTER_FINISHED)
        {
          if (left == 0)
            break;
          g_converter_reset (converter);
          member++;
        }
    }
  return g_steal_pointer (&out);
}

HlLabelSet *
hl_label_set_load_from_data (const char *data, gsize length, const char *name, GError **error)
{
  g_autoptr (HlLabelSet) set = NULL;
  g_autoptr (GByteArray) inflated = NULL;

  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (length > HL_LABELS_MAX_BYTES)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV, "%s: larger than %zu MiB", name,
                   HL_LABELS_MAX_BYTES >> 20);
      return NULL;
    }
  if (is_gzip (data, length))
    {
      inflated = gunzip (data, length, name, error);
      if (inflated == NULL)
        return NULL;
      data = (const char *) inflated->data;
      length = inflated->len;
    }

  set = g_new0 (HlLabelSet, 1);
  set->path = g_strdup (name);
  set->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) row_free);
  set->warnings = g_ptr_array_new_with_free_func (g_free);
  set->by_image = g_hash_table_new (g_str_hash, g_str_equal);
  if (!parse_text (set, data, length, error))
    return NULL;
  return g_steal_pointer (&set);
}

gboolean
hl_study_read_file (const char *path, gsize max_bytes, char **contents, gsize *length,
                    GError **error)
{
  g_autofree char *buffer = NULL;
  GStatBuf st;
  gsize size = 0, capacity;
  int fd = hl_open_regular (path, error);

  if (fd < 0)
    return FALSE;
  if (fstat (fd, &st) != 0)
    st.st_size = 0; /* read it all the same, to the cap */
  if ((guint64) st.st_size > max_bytes)
    {
      close (fd);
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV, "%s: larger than %zu MiB", path,
                   max_bytes >> 20);
      return FALSE;
    }
  /* the size said, plus one byte to see the end (or growth past @max_bytes) */
  capacity = MIN ((gsize) MAX (st.st_size, 0), max_bytes) + 1;
  buffer = g_malloc (capacity + 1);
  for (;;)
    {
      gsize n;

      if (!hl_read_all (fd, path, buffer + size, capacity - size, &n, error))
        {
          close (fd);
          return FALSE;
        }
      size += n;
      if (size < capacity) /* the end of the file */
        break;
      if (capacity > max_bytes)
        {
          close (fd);
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV, "%s: larger than %zu MiB", path,
                       max_bytes >> 20);
          return FALSE;
        }
      capacity = MIN (capacity * 2, max_bytes + 1);
      buffer = g_realloc (buffer, capacity + 1);
    }
  close (fd);
  buffer[size] = '\0';
  *contents = g_steal_pointer (&buffer);
  *length = size;
  return TRUE;
}

HlLabelSet *
hl_label_set_load (const char *path, GError **error)
{
  g_autofree char *contents = NULL;
  gsize length;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!hl_study_read_file (path, HL_LABELS_MAX_BYTES, &contents, &length, error))
    return NULL;
  return hl_label_set_load_from_data (contents, length, path, error);
}

const HlLabelRow *
hl_label_set_lookup (const HlLabelSet *set, const char *image)
{
  g_return_val_if_fail (set != NULL, NULL);
  g_return_val_if_fail (image != NULL, NULL);

  return g_hash_table_lookup (set->by_image, image);
}

static void
append_field (GString *out, const char *value)
{
  if (strpbrk (value, ",\"\r\n") == NULL && value[0] != ' ' && value[0] != '\0'
      && value[strlen (value) - 1] != ' ')
    {
      g_string_append (out, value);
      return;
    }
  g_string_append_c (out, '"');
  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

gboolean
hl_label_set_write (const HlLabelSet *set, const guint *assignment, guint which, const char *path,
                    GError **error)
{
  g_autoptr (GString) out = g_string_new ("Image");
  g_autoptr (GError) local = NULL;

  g_return_val_if_fail (set != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  for (int k = 0; k < HL_N_LABELS; k++)
    {
      if (set->has_label[k])
        g_string_append_printf (out, ",%s", hl_label_names[k]);
      if (k == NOTEBOOK_PATIENT_AFTER)
        g_string_append (out, ",PatientId");
    }
  g_string_append_c (out, '\n');
  for (guint i = 0; i < set->rows->len; i++)
    {
      const HlLabelRow *row = set->rows->pdata[i];

      if (assignment != NULL && assignment[i] != which)
        continue;
      append_field (out, row->image);
      for (int k = 0; k < HL_N_LABELS; k++)
        {
          if (set->has_label[k])
            g_string_append_printf (out, ",%d", row->labels[k]);
          if (k == NOTEBOOK_PATIENT_AFTER)
            {
              g_string_append_c (out, ',');
              append_field (out, row->patient_id);
            }
        }
      g_string_append_c (out, '\n');
    }
  if (!hl_file_write_contents (path, out->str, out->len, NULL, &local))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  return TRUE;
}

void
hl_label_set_free (HlLabelSet *set)
{
  if (set == NULL)
    return;
  g_free (set->path);
  g_clear_pointer (&set->rows, g_ptr_array_unref);
  g_clear_pointer (&set->warnings, g_ptr_array_unref);
  g_clear_pointer (&set->by_image, g_hash_table_unref);
  g_free (set);
}
