/* hl-application.h — Hilum's GtkApplication ("org.hilum.Hilum"): single instance, opens the
 * folders and files it is given (G_APPLICATION_HANDLES_OPEN), owns the settings and the model and
 * the application-wide actions (about, preferences, quit). */
#pragma once

#include <gtk/gtk.h>

#include "hl-engine.h"

G_BEGIN_DECLS

#define HL_APPLICATION_ID "org.hilum.Hilum"

#define HL_TYPE_APPLICATION (hl_application_get_type ())
G_DECLARE_FINAL_TYPE (HlApplication, hl_application, HL, APPLICATION, GtkApplication)

HlApplication *hl_application_new (void);

/* The model in use (lent), or NULL when none is configured or it failed to load. The
 * "notify::model" signal says when it changes. */
HlModel *hl_application_get_model (HlApplication *app);

/* Why there is no model: a translated sentence (lent); NULL while a model is loaded. */
const char *hl_application_get_model_problem (HlApplication *app);

/* The application's settings (lent). Found in the installed schemas, else in the build tree. */
GSettings *hl_application_get_settings (HlApplication *app);

/* The file the current model was loaded from (lent); NULL while no model is loaded. */
const char *hl_application_get_model_path (HlApplication *app);


/* When the application object was made (g_get_monotonic_time), for launch timings. */
gint64 hl_application_get_launch_time (HlApplication *app);

G_END_DECLS
