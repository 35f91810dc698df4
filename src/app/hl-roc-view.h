/* hl-roc-view.h — the ROC window: when the open study carries labels (a label CSV in the folder),
 * the model's ROC curve for each finding over the study's labelled, analysed images, with AUROC,
 * its DeLong interval and the model's operating point (analysis' summary, render's ROC grid).
 *
 * hl_roc_data_new() lines the results up with the labels and needs no display. */
#pragma once

#include <gtk/gtk.h>

#include "hl-inference.h"
#include "hl-summary.h"

G_BEGIN_DECLS

/* One labelled image: the model's result and the truth from its label file. Borrowed. */
typedef struct
{
  const HlResult *result;
  const guint8 *truth;       /* (HL_N_LABELS) 0/1 in hl_label_names order */
  const gboolean *has_label; /* (HL_N_LABELS) which labels its file carries */
} HlLabelledResult;

/* What the ROC window shows. */
typedef struct
{
  HlSummary *summary; /* one label per model label that every case's file carries */
  HlConfusion *ops;   /* (summary->n_labels) at the model's operating point */
  char *model;        /* "name version" */
} HlRocData;

/* Evaluates @model's results on @n >= 1 labelled images. Fails (HL_ANALYSIS_ERROR) when no model
 * label is carried by every case's label file, or when the analysis refuses the data. */
HlRocData *hl_roc_data_new (HlModel *model, const HlLabelledResult *cases, gsize n, GError **error);
void hl_roc_data_free (HlRocData *data);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlRocData, hl_roc_data_free)

#define HL_TYPE_ROC_WINDOW (hl_roc_window_get_type ())
G_DECLARE_FINAL_TYPE (HlRocWindow, hl_roc_window, HL, ROC_WINDOW, GtkWindow)

/* A window showing @data (taken), transient for @parent (may be NULL), @subtitle under the title
 * (e.g. the study and how many of its images are in the curves). */
GtkWidget *hl_roc_window_new (GtkWindow *parent, HlRocData *data, const char *subtitle);

G_END_DECLS
