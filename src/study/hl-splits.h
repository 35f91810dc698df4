/* hl-splits.h — patient-level splits of a label set: the leakage check between two label files
 * (which patients are in both), class frequencies, and a seeded, stratified, patient-level split
 * maker. Patients are compared by HlLabelRow.patient_id, so "00000005" and "5" are one patient. */
#pragma once

#include "hl-labels.h"

G_BEGIN_DECLS

/* Patient ids present in both @a and @b, sorted in natural order ("2" before "10"). Returns a new
 * array of strings (free with g_ptr_array_unref); empty when the sets share no patient. */
GPtrArray *hl_splits_shared_patients (const HlLabelSet *a, const HlLabelSet *b);

typedef struct
{
  guint n_images;
  guint n_patients;
  guint positives[HL_N_LABELS]; /* images positive for each label (0 where the set lacks it) */
} HlClassCounts;

/* Counts the images, distinct patients and positives per label of @set, restricted to the rows
 * whose @assignment entry equals @which when @assignment (one entry per row) is not NULL. */
void hl_splits_count (const HlLabelSet *set, const guint *assignment, guint which,
                      HlClassCounts *counts);

#define HL_SPLITS_MAX 16

/* Assigns every patient of @set, with all of their images, to one of @n_splits splits (2 to
 * HL_SPLITS_MAX) in proportions @fractions (each > 0, summing to 1 within 1e-6), deterministically
 * for a given @seed. Stratified: labels are placed rarest first, each patient positive for the
 * label going to the split furthest below its share of that label, except that a split with no
 * positive for the label yet comes first: a label lands in every split whenever at least
 * @n_splits of its positive patients are still unplaced when its turn comes (rarer labels place
 * theirs first). The remaining patients fill the splits furthest below their share of images.
 * Returns a new (rows->len) array of split indices in row order (g_free). */
guint *hl_splits_make (const HlLabelSet *set, const double *fractions, guint n_splits,
                       guint64 seed);

G_END_DECLS
