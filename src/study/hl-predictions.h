/* hl-predictions.h — prediction CSV files: one row per image, the model's score per label, in the
 * layout of ../shared/data/nih/reference/chexnet-test-preds.csv:
 *
 *     Image,Atelectasis,Cardiomegaly,...,Pneumothorax
 *     00000075_000.png,0.15922733,0.3176258,...
 *
 * `Image` first, then one column per label named as in hl_label_names (any subset, any order, each
 * at most once; matched as hl_label_index() does). Predictions are written by programs, so the
 * reader is strict: no quoted fields, every row has every column, every score is a finite number
 * written in C locale, every image appears once. A UTF-8 BOM and CRLF line ends are accepted.
 * Failures are HL_STUDY_ERROR_CSV (HL_STUDY_ERROR_IO when unreadable) with "FILE:LINE: problem".
 *
 * hl_predictions_match() lines predictions up with a label file (hl-labels.h) for evaluation;
 * hl_predictions_json_*() write the JSON twin of a predictions file, with the model's identity.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "hl-engine.h"
#include "hl-labels.h"

G_BEGIN_DECLS

/* The largest predictions file read, in bytes. */
#define HL_PREDICTIONS_MAX_BYTES ((gsize) 256 << 20)

typedef struct
{
  char *path;          /* the file read (or the name given for data) */
  gsize n_images;
  gsize n_labels;
  char **images;       /* (n_images + 1) image names in file order, NULL-terminated */
  int *label_index;    /* (n_labels) each column's index in hl_label_names */
  double *scores;      /* (n_images, n_labels) row-major, columns in file order */
  GHashTable *by_image; /* image -> GSIZE_TO_POINTER (row + 1); use hl_predictions_lookup */
} HlPredictions;

/* Reads the predictions file @path. Returns a new HlPredictions or NULL with @error set. */
HlPredictions *hl_predictions_load (const char *path, GError **error);

/* The same on @length bytes at @data (not retained); @name is used in messages and as the path. */
HlPredictions *hl_predictions_load_from_data (const char *data, gsize length, const char *name,
                                              GError **error);

/* Predictions made in memory: @n_images rows of @scores (n_images, n_labels) for the distinct
 * names @images and the distinct labels @label_index (n_labels, indices into hl_label_names);
 * @name stands for the path. The scores are taken as doubles exactly as the floats are. */
HlPredictions *hl_predictions_new (const char *name, const char *const *images, gsize n_images,
                                   const int *label_index, gsize n_labels, const float *scores);

void hl_predictions_free (HlPredictions *predictions);

/* The row of @image in @predictions, or -1 when absent. */
gssize hl_predictions_lookup (const HlPredictions *predictions, const char *image);

/* Whether @s can be a field of a predictions CSV, which has no quoting: no comma, quote or line
 * break. */
gboolean hl_predictions_field_is_safe (const char *s);

/* The predictions CSV text for @n_images rows of @scores (n_images, n_labels): `Image` and the
 * column names @labels (n_labels, any strings), one row per @images[i], each score as the
 * shortest C-locale decimal that reads back as the same float. Returns a new string, or NULL with
 * HL_STUDY_ERROR_CSV when an image name or label is not hl_predictions_field_is_safe(). */
GString *hl_predictions_format (const char *const *images, gsize n_images,
                                const char *const *labels, gsize n_labels, const float *scores,
                                GError **error);

/* hl_predictions_format() written to @path atomically by hl_file_write_contents() (a temporary
 * file renamed over it, listed in the folder's manifest so that a later write may replace it).
 * Failures: HL_STUDY_ERROR_CSV as there, HL_STUDY_ERROR_IO when the file cannot be written or
 * exists and was not written by Hilum. */
gboolean hl_predictions_write_labels (const char *path, const char *const *images,
                                      gsize n_images, const char *const *labels, gsize n_labels,
                                      const float *scores, GError **error);

/* The same with the columns named by @label_index (n_labels, indices into hl_label_names). */
gboolean hl_predictions_write (const char *path, const char *const *images, gsize n_images,
                               const int *label_index, gsize n_labels, const float *scores,
                               GError **error);

/* The names that tell the images at @paths (n) apart in a predictions file: each one's base name
 * when no other file has it (the reference layout, which label files join on), else the shortest
 * end of its canonical path ("a/x.png", "b/x.png") that no other file's path ends with. Paths
 * that name the same file (the same canonical path) get the same name. Returns (n + 1) new
 * strings, NULL-terminated; they hold no ".." and do not start with '/'. */
char **hl_predictions_unique_names (const char *const *paths, gsize n);

/* --- scores JSON: what `hilum-cli predict --json`, `hilum-cli report` and the viewer's export
 * write. -------------------------------------------------------------------------------------- */

/* Begins @builder's root object with the members every scores JSON opens with: "generator":
 * "Hilum" (first: the signature hl-file-write.h recognises), "model"
 * ({"name", "version", "labels": [...], "thresholds": [...]} of @info, labels in output order),
 * "not_for_diagnostic_use": true and "note" (the research-software notice). The caller adds its
 * own members (e.g. "images") and ends with hl_predictions_json_end(). */
void hl_predictions_json_begin (JsonBuilder *builder, const HlModelInfo *info);

/* Adds the member "scores": {label: probability} for @probs (n_labels), in @info's label order. */
void hl_predictions_json_add_scores (JsonBuilder *builder, const HlModelInfo *info,
                                     const float *probs);

/* Ends the root object begun by hl_predictions_json_begin() and returns the document as indented
 * text (its byte length in @length, may be NULL). */
char *hl_predictions_json_end (JsonBuilder *builder, gsize *length);

/* Predictions lined up with labels, ready for the analysis module. */
typedef struct
{
  gsize n_images;
  gsize n_labels;
  char **images;       /* (n_images + 1) NULL-terminated, in the label file's order */
  const char **labels; /* (n_labels) names from hl_label_names (static strings) */
  int *label_index;    /* (n_labels) indices into hl_label_names, in the predictions' order */
  double *scores;      /* (n_images, n_labels) */
  guint8 *truth;       /* (n_images, n_labels) 0/1 */
} HlScoredSet;

/* Lines @predictions up with @labels: one row per row of @labels, in its order, and one column per
 * predicted label that @labels carries (has_label), in the predictions' order. Predictions for
 * images that @labels does not list are ignored. Fails (HL_STUDY_ERROR_CSV) when an image of
 * @labels has no prediction — the message counts them and names the first — or when no predicted
 * label is in @labels. Returns a new set to free with hl_scored_set_free(). */
HlScoredSet *hl_predictions_match (const HlPredictions *predictions, const HlLabelSet *labels,
                                   GError **error);
void hl_scored_set_free (HlScoredSet *set);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlPredictions, hl_predictions_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlScoredSet, hl_scored_set_free)

G_END_DECLS
