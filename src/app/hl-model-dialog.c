/* hl-model-dialog.c — the model card dialog (template ui/hl-model-dialog.ui): the card file
 * beside the model (hl_model_card_path), as plain text, when there is one, and the details from
 * the model file's metadata. */
#include "hl-model-dialog.h"

#include <glib/gi18n.h>
#include <math.h>

#include "hl-finding-name.h"
#include "hl-report.h"

enum
{
  COL_LABEL,
  COL_THRESHOLD,
  COL_AUROC,
  COL_NOTE,
  N_COLS
};

struct _HlModelDialog
{
  GtkDialog parent_instance;

  HlModel *model;
  char *card; /* the model card's text, NULL when the model has none */
  GtkNotebook *notebook;
  GtkWidget *card_page;
  GtkTextView *card_view;
  GtkLabel *name_label;
  GtkLabel *architecture_label;
  GtkLabel *input_label;
  GtkLabel *training_label;
  GtkLabel *intended_label;
  GtkListStore *label_store;
};

G_DEFINE_TYPE (HlModelDialog, hl_model_dialog, GTK_TYPE_DIALOG)

static void
hl_model_dialog_finalize (GObject *object)
{
  g_clear_pointer (&HL_MODEL_DIALOG (object)->model, hl_model_unref);
  g_clear_pointer (&HL_MODEL_DIALOG (object)->card, g_free);
  G_OBJECT_CLASS (hl_model_dialog_parent_class)->finalize (object);
}

static void
hl_model_dialog_class_init (HlModelDialogClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  G_OBJECT_CLASS (klass)->finalize = hl_model_dialog_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/hilum/Hilum/hl-model-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, HlModelDialog, notebook);
  gtk_widget_class_bind_template_child (widget_class, HlModelDialog, card_page);
  gtk_widget_class_bind_template_child (widget_class, HlModelDialog, card_view);
  gtk_widget_class_bind_template_child (widget_class, HlModelDialog, name_label);
  gtk_widget_class_bind_template_child (widget_class, HlModelDialog, architecture_label);
  gtk_widget_class_bind_template_child (widget_class, HlModelDialog, input_label);
  gtk_widget_class_bind_template_child (widget_class, HlModelDialog, training_label);
  gtk_widget_class_bind_template_child (widget_class, HlModelDialog, intended_label);
  gtk_widget_class_bind_template_child (widget_class, HlModelDialog, label_store);
}

static void
hl_model_dialog_init (HlModelDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

static void
fill (HlModelDialog *self)
{
  const HlModelInfo *info = hl_model_get_info (self->model);

  g_autofree char *name = g_strdup_printf ("%s %s", info->name, info->version);
  gtk_label_set_text (self->name_label, name);

  g_autoptr (GString) blocks = g_string_new (NULL);
  int layers = 0;
  for (int b = 0; b < info->arch.n_blocks; b++)
    {
      g_string_append_printf (blocks, b > 0 ? ", %d" : "%d", info->arch.block_config[b]);
      layers += info->arch.block_config[b];
    }
  /* conv0 + 2 convolutions per dense layer + the transitions + the classifier */
  int depth = 1 + 2 * layers + (info->arch.n_blocks - 1) + 1;
  g_autofree char *arch = g_strdup_printf (_ ("DenseNet-%d: blocks of %s layers, growth rate %d, "
                                              "%d initial features, %d output features"),
                                           depth, blocks->str, info->arch.growth_rate,
                                           info->arch.num_init_features, info->n_features);
  gtk_label_set_text (self->architecture_label, arch);

  const char *resize = info->preprocess.resize == HL_RESIZE_BILINEAR_ANTIALIAS
                           ? _ ("bilinear with antialiasing")
                           : info->preprocess.resize == HL_RESIZE_BILINEAR
                               ? _ ("bilinear")
                               : hl_preprocess_resize_name (info->preprocess.resize);
  g_autofree char *norm = NULL;
  if (info->preprocess.mode == HL_NORM_IMAGE)
    norm = g_strdup (_ ("each image normalised to zero mean and unit variance"));
  else if (info->preprocess.mode == HL_NORM_NONE)
    norm = g_strdup_printf (_ ("values in %s, not normalised"),
                            hl_preprocess_range_name (info->preprocess.range));
  else
    norm = g_strdup_printf (_ ("normalised with mean %.3f and standard deviation %.3f"),
                            info->preprocess.mean[0], info->preprocess.std[0]);
  g_autofree char *input = g_strdup_printf (
      g_dngettext (GETTEXT_PACKAGE, "%d × %d pixels, %d channel, resized %s, %s",
                   "%d × %d pixels, %d channels, resized %s, %s", info->input_channels),
      info->input_size, info->input_size, info->input_channels, resize, norm);
  gtk_label_set_text (self->input_label, input);

  gtk_label_set_text (self->training_label,
                      *info->training_data != '\0' ? info->training_data : _ ("Not stated"));
  gtk_label_set_text (self->intended_label,
                      *info->intended_use != '\0' ? info->intended_use : _ ("Not stated"));

  for (int l = 0; l < info->n_labels; l++)
    {
      g_autofree char *threshold = g_strdup_printf ("%.3f", info->thresholds[l]);
      g_autofree char *auroc = isnan (info->val_auroc[l])
                                   ? g_strdup ("—")
                                   : g_strdup_printf ("%.3f", info->val_auroc[l]);
      g_autofree char *finding = hl_finding_name_dup (info->labels[l]);
      const char *note = "";
      if (isnan (info->val_auroc[l]))
        note = _ ("not validated");
      else if (info->val_auroc[l] < HL_REPORT_WEAK_AUROC)
        note = _ ("weak: do not rely on it");
      gtk_list_store_insert_with_values (self->label_store, NULL, -1, COL_LABEL, finding,
                                         COL_THRESHOLD, threshold, COL_AUROC, auroc, COL_NOTE, note,
                                         -1);
    }
}

/* The card beside @model_path (NULL: none): its text when it can be read, is at most
 * MAX_CARD_BYTES and is UTF-8; NULL otherwise. */
#define MAX_CARD_BYTES (1 << 20)

static char *
read_card (const char *model_path)
{
  if (model_path == NULL)
    return NULL;
  g_autofree char *path = hl_model_card_path (model_path);
  g_autofree char *text = NULL;
  gsize length = 0;
  if (!g_file_get_contents (path, &text, &length, NULL) || length > MAX_CARD_BYTES
      || !g_utf8_validate (text, (gssize)length, NULL))
    return NULL;
  return g_steal_pointer (&text);
}

GtkWidget *
hl_model_dialog_new (GtkWindow *parent, HlModel *model, const char *model_path)
{
  g_return_val_if_fail (model != NULL, NULL);

  HlModelDialog *self
      = g_object_new (HL_TYPE_MODEL_DIALOG, "transient-for", parent, "use-header-bar", TRUE, NULL);
  self->model = hl_model_ref (model);
  fill (self);
  self->card = read_card (model_path);
  if (self->card != NULL)
    {
      gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->card_view), self->card, -1);
      gtk_widget_show (self->card_page);
      gtk_notebook_set_current_page (self->notebook, 0);
      /* The card's tables are about 150 characters wide. */
      gtk_window_set_default_size (GTK_WINDOW (self), 960, 720);
    }
  gtk_notebook_set_show_tabs (self->notebook, self->card != NULL);
  return GTK_WIDGET (self);
}

const char *
hl_model_dialog_get_card (HlModelDialog *self)
{
  g_return_val_if_fail (HL_IS_MODEL_DIALOG (self), NULL);

  return self->card;
}
