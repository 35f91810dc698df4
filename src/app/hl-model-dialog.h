/* hl-model-dialog.h — the model-information dialog: the model card read from the model file's
 * metadata (name, version, architecture, input and preprocessing, training data, intended use)
 * and, per label, its operating point and validation AUROC with the weak ones marked. */
#pragma once

#include <gtk/gtk.h>

#include "hl-engine.h"

G_BEGIN_DECLS

#define HL_TYPE_MODEL_DIALOG (hl_model_dialog_get_type ())
G_DECLARE_FINAL_TYPE (HlModelDialog, hl_model_dialog, HL, MODEL_DIALOG, GtkDialog)

/* A new dialog describing @model (referenced), transient for @parent (may be NULL). */
GtkWidget *hl_model_dialog_new (GtkWindow *parent, HlModel *model);

G_END_DECLS
