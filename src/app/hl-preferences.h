/* hl-preferences.h — the preferences dialog: heatmap colormap, opacity and threshold, the model
 * file and the inference thread count, each bound to its GSettings key. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define HL_TYPE_PREFERENCES (hl_preferences_get_type ())
G_DECLARE_FINAL_TYPE (HlPreferences, hl_preferences, HL, PREFERENCES, GtkDialog)

/* A new dialog for @settings (org.hilum.Hilum), transient for @parent (may be NULL). */
GtkWidget *hl_preferences_new (GtkWindow *parent, GSettings *settings);

G_END_DECLS
