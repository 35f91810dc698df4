/* hl-preferences.c — the preferences dialog (template ui/hl-preferences.ui). */
#include "hl-preferences.h"

#include <glib/gi18n.h>

struct _HlPreferences
{
  GtkDialog parent_instance;

  GSettings *settings;
  GtkComboBoxText *colormap_combo;
  GtkAdjustment *opacity_adjustment;
  GtkAdjustment *threshold_adjustment;
  GtkAdjustment *threads_adjustment;
  GtkFileChooserButton *model_button;
  GtkLabel *model_label;
};

G_DEFINE_TYPE (HlPreferences, hl_preferences, GTK_TYPE_DIALOG)

static void
update_model_label (HlPreferences *self)
{
  g_autofree char *path = g_settings_get_string (self->settings, "model-file");
  gtk_label_set_text (self->model_label, *path != '\0' ? path : _ ("Default model"));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->model_label), *path != '\0' ? path : NULL);
  if (*path != '\0')
    gtk_file_chooser_set_filename (GTK_FILE_CHOOSER (self->model_button), path);
  else
    gtk_file_chooser_unselect_all (GTK_FILE_CHOOSER (self->model_button));
}

static void
model_file_set (GtkFileChooserButton *button, HlPreferences *self)
{
  g_autofree char *path = gtk_file_chooser_get_filename (GTK_FILE_CHOOSER (button));
  if (path != NULL)
    g_settings_set_string (self->settings, "model-file", path);
}

static void
model_clear_clicked (GtkButton *button, HlPreferences *self)
{
  g_settings_set_string (self->settings, "model-file", "");
}

static void
hl_preferences_dispose (GObject *object)
{
  HlPreferences *self = HL_PREFERENCES (object);
  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (hl_preferences_parent_class)->dispose (object);
}

static void
hl_preferences_class_init (HlPreferencesClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  G_OBJECT_CLASS (klass)->dispose = hl_preferences_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/hilum/Hilum/hl-preferences.ui");
  gtk_widget_class_bind_template_child (widget_class, HlPreferences, colormap_combo);
  gtk_widget_class_bind_template_child (widget_class, HlPreferences, opacity_adjustment);
  gtk_widget_class_bind_template_child (widget_class, HlPreferences, threshold_adjustment);
  gtk_widget_class_bind_template_child (widget_class, HlPreferences, threads_adjustment);
  gtk_widget_class_bind_template_child (widget_class, HlPreferences, model_button);
  gtk_widget_class_bind_template_child (widget_class, HlPreferences, model_label);
  gtk_widget_class_bind_template_callback (widget_class, model_file_set);
  gtk_widget_class_bind_template_callback (widget_class, model_clear_clicked);
}

static void
hl_preferences_init (HlPreferences *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
hl_preferences_new (GtkWindow *parent, GSettings *settings)
{
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  HlPreferences *self
      = g_object_new (HL_TYPE_PREFERENCES, "transient-for", parent, "use-header-bar", TRUE, NULL);
  self->settings = g_object_ref (settings);
  g_settings_bind (settings, "colormap", self->colormap_combo, "active-id",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "opacity", self->opacity_adjustment, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "threshold", self->threshold_adjustment, "value",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "threads", self->threads_adjustment, "value", G_SETTINGS_BIND_DEFAULT);
  g_signal_connect_swapped (settings, "changed::model-file", G_CALLBACK (update_model_label), self);
  update_model_label (self);
  return GTK_WIDGET (self);
}
