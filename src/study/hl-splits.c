/* hl-splits.c — patient-level leakage check, class counts and the stratified split maker
 * (see hl-splits.h for the placement rule). */
#include "hl-splits.h"
#include "hl-study-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int
compare_natural (gconstpointer a, gconstpointer b)
{
  return hl_study_compare_natural (*(const char *const *) a, *(const char *const *) b);
}

GPtrArray *
hl_splits_shared_patients (const HlLabelSet *a, const HlLabelSet *b)
{
  g_autoptr (GHashTable) in_a = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) shared = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;

  g_return_val_if_fail (a != NULL && b != NULL, out);

  for (guint i = 0; i < a->rows->len; i++)
    g_hash_table_add (in_a, ((HlLabelRow *) a->rows->pdata[i])->patient_id);
  for (guint i = 0; i < b->rows->len; i++)
    {
      char *patient = ((HlLabelRow *) b->rows->pdata[i])->patient_id;
      if (g_hash_table_contains (in_a, patient))
        g_hash_table_add (shared, patient);
    }
  g_hash_table_iter_init (&iter, shared);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (out, g_strdup (key));
  g_ptr_array_sort (out, compare_natural);
  return out;
}

void
hl_splits_count (const HlLabelSet *set, const guint *assignment, guint which,
                 HlClassCounts *counts)
{
  g_autoptr (GHashTable) patients = g_hash_table_new (g_str_hash, g_str_equal);

  g_return_if_fail (set != NULL);
  g_return_if_fail (counts != NULL);

  memset (counts, 0, sizeof *counts);
  for (guint i = 0; i < set->rows->len; i++)
    {
      const HlLabelRow *row = set->rows->pdata[i];

      if (assignment != NULL && assignment[i] != which)
        continue;
      counts->n_images++;
      g_hash_table_add (patients, row->patient_id);
      for (int k = 0; k < HL_N_LABELS; k++)
        counts->positives[k] += row->labels[k];
    }
  counts->n_patients = g_hash_table_size (patients);
}

typedef struct
{
  const char *id;
  guint n_images;
  guint positives[HL_N_LABELS]; /* images of this patient positive for each label */
  int split;                    /* -1 until placed */
} Patient;

static int
compare_patient_id (gconstpointer a, gconstpointer b)
{
  return strcmp (((const Patient *) a)->id, ((const Patient *) b)->id);
}

typedef struct
{
  guint n_splits;
  double want_images[HL_SPLITS_MAX];               /* fraction x all images */
  double want_label[HL_N_LABELS][HL_SPLITS_MAX];   /* fraction x all positives of the label */
  guint have_images[HL_SPLITS_MAX];
  guint have_label[HL_N_LABELS][HL_SPLITS_MAX];
} Quota;

static void
place (Quota *q, Patient *p, guint split)
{
  p->split = (int) split;
  q->have_images[split] += p->n_images;
  for (int k = 0; k < HL_N_LABELS; k++)
    q->have_label[k][split] += p->positives[k];
}

/* The split for a patient positive for @label (or, with @label = -1, for any patient). */
static guint
choose (const Quota *q, int label)
{
  guint best = 0;

  for (guint s = 1; s < q->n_splits; s++)
    {
      double d_best = q->want_images[best] - q->have_images[best];
      double d_s = q->want_images[s] - q->have_images[s];

      if (label >= 0)
        {
          gboolean empty_best = q->have_label[label][best] == 0;
          gboolean empty_s = q->have_label[label][s] == 0;
          double l_best = q->want_label[label][best] - q->have_label[label][best];
          double l_s = q->want_label[label][s] - q->have_label[label][s];

          if (empty_s != empty_best)
            {
              if (empty_s)
                best = s;
              continue;
            }
          if (l_s != l_best)
            {
              if (l_s > l_best)
                best = s;
              continue;
            }
        }
      if (d_s > d_best)
        best = s;
    }
  return best;
}

guint *
hl_splits_make (const HlLabelSet *set, const double *fractions, guint n_splits, guint64 seed)
{
  g_autoptr (GHashTable) index = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GArray) patients = g_array_new (FALSE, TRUE, sizeof (Patient));
  g_autofree guint *row_patient = NULL;
  guint32 seed_words[2] = { (guint32) seed, (guint32) (seed >> 32) };
  GRand *rand;
  Quota q = { .n_splits = n_splits };
  guint totals[HL_N_LABELS] = { 0 };
  int order[HL_N_LABELS];
  double sum = 0;
  guint *assignment;

  g_return_val_if_fail (set != NULL, NULL);
  g_return_val_if_fail (fractions != NULL, NULL);
  g_return_val_if_fail (n_splits >= 2 && n_splits <= HL_SPLITS_MAX, NULL);
  for (guint s = 0; s < n_splits; s++)
    {
      g_return_val_if_fail (fractions[s] > 0 && isfinite (fractions[s]), NULL);
      sum += fractions[s];
    }
  g_return_val_if_fail (fabs (sum - 1.0) <= 1e-6, NULL);

  /* patients in id order, so that the shuffle below alone decides the order */
  for (guint i = 0; i < set->rows->len; i++)
    {
      const HlLabelRow *row = set->rows->pdata[i];
      if (!g_hash_table_contains (index, row->patient_id))
        {
          Patient p = { .id = row->patient_id, .split = -1 };
          g_hash_table_insert (index, row->patient_id, NULL);
          g_array_append_val (patients, p);
        }
    }
  g_array_sort (patients, compare_patient_id);
  rand = g_rand_new_with_seed_array (seed_words, 2);
  for (guint i = patients->len; i > 1; i--)
    {
      guint j = (guint) g_rand_int_range (rand, 0, (gint32) i);
      Patient tmp = g_array_index (patients, Patient, i - 1);
      g_array_index (patients, Patient, i - 1) = g_array_index (patients, Patient, j);
      g_array_index (patients, Patient, j) = tmp;
    }
  g_rand_free (rand);
  for (guint i = 0; i < patients->len; i++)
    g_hash_table_insert (index, (gpointer) g_array_index (patients, Patient, i).id,
                         GUINT_TO_POINTER (i));

  row_patient = g_new (guint, set->rows->len);
  for (guint i = 0; i < set->rows->len; i++)
    {
      const HlLabelRow *row = set->rows->pdata[i];
      Patient *p;

      row_patient[i] = GPOINTER_TO_UINT (g_hash_table_lookup (index, row->patient_id));
      p = &g_array_index (patients, Patient, row_patient[i]);
      p->n_images++;
      for (int k = 0; k < HL_N_LABELS; k++)
        {
          p->positives[k] += row->labels[k];
          totals[k] += row->labels[k];
        }
    }

  for (guint s = 0; s < n_splits; s++)
    {
      q.want_images[s] = fractions[s] * set->rows->len;
      for (int k = 0; k < HL_N_LABELS; k++)
        q.want_label[k][s] = fractions[s] * totals[k];
    }

  /* labels rarest first (ties in canonical order) */
  for (int k = 0; k < HL_N_LABELS; k++)
    order[k] = k;
  for (int a = 1; a < HL_N_LABELS; a++)
    for (int b = a; b > 0 && totals[order[b]] < totals[order[b - 1]]; b--)
      {
        int tmp = order[b];
        order[b] = order[b - 1];
        order[b - 1] = tmp;
      }

  for (int o = 0; o < HL_N_LABELS; o++)
    {
      int k = order[o];
      for (guint i = 0; i < patients->len; i++)
        {
          Patient *p = &g_array_index (patients, Patient, i);
          if (p->split < 0 && p->positives[k] > 0)
            place (&q, p, choose (&q, k));
        }
    }
  for (guint i = 0; i < patients->len; i++)
    {
      Patient *p = &g_array_index (patients, Patient, i);
      if (p->split < 0)
        place (&q, p, choose (&q, -1));
    }

  assignment = g_new (guint, MAX (set->rows->len, 1)); /* never NULL, even for no rows */
  for (guint i = 0; i < set->rows->len; i++)
    assignment[i] = (guint) g_array_index (patients, Patient, row_patient[i]).split;
  return assignment;
}
