/* hl-model-dialog.h — the model-information dialog: the model card beside the model file
 * (hl_model_card_path: hilum-densenet121-nih.md beside hilum-densenet121-nih.safetensors) as
 * plain text when there is one, and the details read from the model file's metadata (name,
 * version, architecture, input and preprocessing, training data, intended use) with, per label,
 * its operating point and validation AUROC, the weak ones marked. */
#pragma once

#include <gtk/gtk.h>

#include "hl-engine.h"

G_BEGIN_DECLS

#define HL_TYPE_MODEL_DIALOG (hl_model_dialog_get_type ())
G_DECLARE_FINAL_TYPE (HlModelDialog, hl_model_dialog, HL, MODEL_DIALOG, GtkDialog)

/* A new dialog describing @model (referenced), loaded from @model_path (may be NULL: no card is
 * looked for), transient for @parent (may be NULL). */
GtkWidget *hl_model_dialog_new (GtkWindow *parent, HlModel *model, const char *model_path);

/* The model card's text the dialog shows (lent), or NULL when it shows the metadata only. */
const char *hl_model_dialog_get_card (HlModelDialog *self);

G_END_DECLS
