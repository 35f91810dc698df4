/* hl-labels.h — the 14 ChestX-ray14 findings and label CSV files.
 *
 * Two layouts are read, detected from the header row:
 * - the notebook layout (../shared/data/nih/train.csv): `Image`, then 0/1 columns named after the
 *   labels, any subset of the 14 in any order, and an optional `PatientId`;
 * - NIH's Data_Entry_2017 layout: `Image Index`, `Finding Labels` (names joined by `|`, or
 *   `No Finding`), optional `Patient ID`, `Follow-up #`, `View Position`; other columns ignored.
 * Files may be gzip-compressed (detected from the content; every member of a multi-member file
 * such as `cat a.gz b.gz` or pigz write), start with a UTF-8 BOM, use CRLF or LF, and quote fields
 * RFC 4180-style ("" inside quotes is a quote; quoted fields may hold commas and newlines).
 *
 * Memory is bounded whatever the file claims: the file (at most HL_LABELS_MAX_BYTES, read only if
 * regular), its decompressed text (at most HL_LABELS_MAX_BYTES), and per record at most 1024
 * fields and 1 MiB of field text, beyond which nothing is kept.
 *
 * Fatal (NULL with a GError in HL_STUDY_ERROR naming the file): cannot read or not a regular file
 * (_IO), a NUL byte (binary, not a CSV), no usable header (or one of more than 1024 columns or
 * more than 1 MiB), unterminated quote, not valid gzip, or over HL_LABELS_MAX_BYTES (_CSV), an
 * image name that leaves the folder: absolute, `..` component, backslash, drive letter
 * (_UNSAFE_PATH).
 * Not fatal, reported in `warnings` as "FILE:LINE: ...": duplicate rows (the first is kept),
 * unknown label names or columns (ignored), rows with the wrong number of fields, a value other
 * than 0/1 or more than 1 MiB of text (skipped).
 */
#pragma once

#include <gio/gio.h>

#include "hl-image.h"

G_BEGIN_DECLS

#define HL_N_LABELS 14

/* The 14 findings in canonical order (the notebook's, alphabetical; NIH spells
 * "Pleural_Thickening" the same way). Every label array in the project uses this order. */
extern const char *const hl_label_names[HL_N_LABELS];

/* Index of @name in hl_label_names, ignoring ASCII case and treating ' ' as '_'; -1 if unknown. */
int hl_label_index (const char *name);

/* The largest label file read, and the most text a compressed one may inflate to, in bytes. */
#define HL_LABELS_MAX_BYTES ((gsize) 256 << 20)

typedef enum
{
  HL_LABEL_LAYOUT_NOTEBOOK,
  HL_LABEL_LAYOUT_NIH,
} HlLabelLayout;

typedef struct
{
  char *image;       /* file name as written, relative to the CSV's folder; checked safe */
  char *patient_id;  /* never NULL: the patient column, else the NIH name <patient>_<follow-up>.png,
                      * else the image name itself; all-digit ids lose their leading zeros */
  int follow_up;     /* NIH `Follow-up #` or from the name; -1 if unknown */
  guint8 labels[HL_N_LABELS]; /* 0/1 in hl_label_names order; 0 where the file lacks the label */
  guint line;        /* 1-based line of the row in the file */
} HlLabelRow;

typedef struct
{
  char *path;                        /* the file read (or the name given for data) */
  HlLabelLayout layout;
  gboolean has_label[HL_N_LABELS];   /* which labels the file carries (NIH: all 14) */
  GPtrArray *rows;                   /* (HlLabelRow *), file order, duplicates dropped */
  GPtrArray *warnings;               /* (char *) "FILE:LINE: message": the first 1000, then
                                      * one saying that more were not listed */
  guint n_warnings;                  /* all warnings, including those not kept */
  GHashTable *by_image;              /* image -> HlLabelRow * (borrowed); use hl_label_set_lookup */
} HlLabelSet;

/* Reads the label file @path (plain or gzip). Returns a new set, or NULL with @error set as
 * described at the top of this file. */
HlLabelSet *hl_label_set_load (const char *path, GError **error);

/* Same as hl_label_set_load() on @length bytes at @data (not retained); @name is used in messages
 * and as the set's path. */
HlLabelSet *hl_label_set_load_from_data (const char *data, gsize length, const char *name,
                                         GError **error);

/* The row for @image (exact name as written in the file), or NULL. The row is borrowed. */
const HlLabelRow *hl_label_set_lookup (const HlLabelSet *set, const char *image);

/* Writes the rows of @set in the notebook layout to @path, atomically (temporary file then rename):
 * `Image`, the labels @set carries in canonical order with `PatientId` after Nodule (where the
 * notebook puts it). With @assignment (one entry per row of @set) only rows whose entry equals
 * @which are written; with NULL, all rows. */
gboolean hl_label_set_write (const HlLabelSet *set, const guint *assignment, guint which,
                             const char *path, GError **error);

/* Frees @set; NULL is allowed. */
void hl_label_set_free (HlLabelSet *set);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlLabelSet, hl_label_set_free)

/* TRUE when @name, used as a path relative to a folder, stays inside it: not empty, not absolute,
 * no backslash, no drive letter, no `..` component. */
gboolean hl_image_name_is_safe (const char *name);

/* Parses an NIH image name "<patient>_<follow-up>.png" (digits, any case of ".png", an optional
 * leading folder is ignored). On success sets @patient_id (newly allocated, leading zeros removed)
 * and @follow_up and returns TRUE; @patient_id and @follow_up may be NULL. */
gboolean hl_nih_name_parse (const char *name, char **patient_id, int *follow_up);

/* Returns a new copy of @id with surrounding spaces removed and, if it is all ASCII digits, its
 * leading zeros (so "00000005" and "5" name the same patient). */
char *hl_patient_id_normalize (const char *id);

G_END_DECLS
