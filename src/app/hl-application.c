/* hl-application.c — the GtkApplication: option parsing, settings, model loading, app actions,
 * accelerators, CSS and the About dialog. */
#include "hl-application.h"

#include <glib/gi18n.h>

#include "hl-app-resources.h"
#include "hl-preferences.h"
#include "hl-window.h"

struct _HlApplication
{
  GtkApplication parent_instance;

  GSettings *settings;
  char *model_option; /* --model FILE, kept only by the primary instance */
  HlModel *model;
  char *model_path; /* the file @model was loaded from */
  char *model_problem;
  gint64 launch_time;
};

G_DEFINE_TYPE (HlApplication, hl_application, GTK_TYPE_APPLICATION)

enum
{
  PROP_0,
  PROP_MODEL,
  N_PROPS
};
static GParamSpec *props[N_PROPS];

static const GOptionEntry option_entries[]
    = { { "model", 'm', 0, G_OPTION_ARG_FILENAME, NULL,
          N_ ("Model file to use (overrides the preferences and HILUM_MODEL)"), N_ ("FILE") },
        { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_ ("Show the version and exit"), NULL },
        { NULL } };

/* The schema from the installed set, else from the build tree (running uninstalled). */
static GSettings *
new_settings (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = NULL;
  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, HL_APPLICATION_ID, TRUE);
  if (schema == NULL)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GSettingsSchemaSource) build_source = g_settings_schema_source_new_from_directory (
          HL_BUILD_SCHEMA_DIR, source, FALSE, &error);
      if (build_source != NULL)
        schema = g_settings_schema_source_lookup (build_source, HL_APPLICATION_ID, TRUE);
    }
  if (schema == NULL)
    return NULL;
  return g_settings_new_full (schema, NULL, NULL);
}

static void
apply_threads (HlApplication *self)
{
  int n = g_settings_get_int (self->settings, "threads");
  hl_engine_set_threads (n > 0 ? n : (int)g_get_num_processors ());
}

/* Loads @path as the model and notifies "model"; NULL or "" loads the default model
 * (hl_model_find_default). Without a model, model_problem says why: the file was refused, or no
 * default model is in the places searched. */
static void
load_model (HlApplication *app, const char *path)
{
  g_clear_pointer (&app->model, hl_model_unref);
  g_clear_pointer (&app->model_path, g_free);
  g_clear_pointer (&app->model_problem, g_free);
  g_autoptr (GError) not_found = NULL;
  g_autofree char *default_path = NULL;
  if (path == NULL || *path == '\0')
    path = default_path = hl_model_find_default (&not_found);
  if (path == NULL)
    app->model_problem = g_strdup_printf (_ ("No model is configured and the default model was "
                                             "not found. Choose a model file in the preferences, "
                                             "or start Hilum with --model FILE.\n\n%s"),
                                          not_found->message);
  else
    {
      g_autoptr (GError) error = NULL;
      app->model = hl_model_new_from_file (path, &error);
      if (app->model != NULL)
        app->model_path = g_strdup (path);
      else
        app->model_problem
            = g_strdup_printf (_ ("The model could not be loaded: %s"), error->message);
    }
  g_object_notify_by_pspec (G_OBJECT (app), props[PROP_MODEL]);
}

/* --model, then HILUM_MODEL, then the preferences, then the default model. */
static void
load_configured_model (HlApplication *self)
{
  const char *path = self->model_option;
  if (path == NULL)
    path = g_getenv ("HILUM_MODEL");
  g_autofree char *setting = NULL;
  if (path == NULL || *path == '\0')
    path = setting = g_settings_get_string (self->settings, "model-file");
  load_model (self, path);
}

static void
model_setting_changed (GSettings *settings, const char *key, HlApplication *self)
{
  /* The preference wins from now on: the user chose it in this session. */
  g_clear_pointer (&self->model_option, g_free);
  g_autofree char *path = g_settings_get_string (settings, "model-file");
  load_model (self, path);
}

static void
about_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  HlApplication *self = data;
  const char *authors[] = { _ ("The Hilum authors"), NULL };
  g_autofree char *comments = g_strdup_printf (
      "%s\n\n%s",
      _ ("A second reader for chest X-rays: ranked findings and Grad-CAM heatmaps from a "
         "DenseNet-121 run on your computer."),
      _ ("Not for diagnostic use."));
  gtk_show_about_dialog (gtk_application_get_active_window (GTK_APPLICATION (self)), "program-name",
                         _ ("Hilum"), "version", PACKAGE_VERSION, "comments", comments,
                         "logo-icon-name", HL_APPLICATION_ID, "license-type", GTK_LICENSE_GPL_3_0,
                         "authors", authors, "translator-credits", _ ("translator-credits"), NULL);
}

static void
preferences_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  HlApplication *self = data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  GtkWidget *dialog = hl_preferences_new (parent, self->settings);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
quit_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  /* Closing each window cancels its work first. */
  GList *windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (data)));
  for (GList *l = windows; l != NULL; l = l->next)
    gtk_widget_destroy (l->data);
  g_list_free (windows);
}

static const GActionEntry app_entries[] = {
  { "about", about_activated },
  { "preferences", preferences_activated },
  { "quit", quit_activated },
};

static void
set_accels (GtkApplication *app)
{
  static const struct
  {
    const char *action;
    const char *accels[5];
  } accels[] = {
    { "app.quit", { "<Control>q", NULL } },
    { "app.preferences", { "<Control>comma", NULL } },
    { "app.about", { "F1", NULL } },
    { "win.open-folder", { "<Control>o", NULL } },
    { "win.close-study", { "<Control>w", NULL } },
    { "win.choose-model", { "<Control><Shift>o", NULL } },
    { "win.model-info", { "<Control>i", NULL } },
    { "win.show-roc", { "<Control>r", NULL } },
    { "win.export-image", { "<Control>e", NULL } },
    { "win.export-study", { "<Control><Shift>e", NULL } },
    { "win.next-image", { "Page_Down", "<Alt>Right", NULL } },
    { "win.previous-image", { "Page_Up", "<Alt>Left", NULL } },
    { "win.next-patient", { "<Control>Page_Down", "<Alt>Down", NULL } },
    { "win.previous-patient", { "<Control>Page_Up", "<Alt>Up", NULL } },
    { "win.next-finding", { "j", NULL } },
    { "win.previous-finding", { "k", NULL } },
    { "win.show-overlay", { "h", NULL } },
    { "win.cycle-colormap", { "c", NULL } },
    { "win.zoom-in", { "plus", "equal", "<Control>plus", "KP_Add" } },
    { "win.zoom-out", { "minus", "<Control>minus", "KP_Subtract", NULL } },
    { "win.zoom-1to1", { "1", "<Control>0", NULL } },
    { "win.zoom-fit", { "f", "0", NULL } },
    { "win.invert", { "i", NULL } },
    { "win.reset-view", { "r", NULL } },
    { "win.wl-preset::full", { "<Control>1", NULL } },
    { "win.wl-preset::auto", { "<Control>2", NULL } },
    { "win.wl-preset::lung", { "<Control>3", NULL } },
    { "win.wl-preset::dense", { "<Control>4", NULL } },
    { "win.fullscreen", { "F11", NULL } },
    { "win.compare", { "p", NULL } },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (app, accels[i].action, accels[i].accels);
}

static void
hl_application_startup (GApplication *app)
{
  HlApplication *self = HL_APPLICATION (app);
  G_APPLICATION_CLASS (hl_application_parent_class)->startup (app);

  /* Process-wide settings, made once even when a test runs several application instances. */
  static gsize once = 0;
  if (g_once_init_enter (&once))
    {
      g_set_application_name (_ ("Hilum"));
      g_autoptr (GtkCssProvider) css = gtk_css_provider_new ();
      gtk_css_provider_load_from_resource (css, "/org/hilum/Hilum/style.css");
      gtk_style_context_add_provider_for_screen (gdk_screen_get_default (),
                                                 GTK_STYLE_PROVIDER (css),
                                                 GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
      g_once_init_leave (&once, 1);
    }
  /* gtk/help-overlay.ui builds a GThemedIcon for its mouse entries. */
  g_type_ensure (G_TYPE_THEMED_ICON);
  gtk_window_set_default_icon_name (HL_APPLICATION_ID);
  g_action_map_add_action_entries (G_ACTION_MAP (self), app_entries, G_N_ELEMENTS (app_entries),
                                   self);
  set_accels (GTK_APPLICATION (self));
  /* Running uninstalled, the icons are found in the source tree. */
  gtk_icon_theme_append_search_path (gtk_icon_theme_get_default (), HL_SOURCE_ICON_DIR);

  self->settings = new_settings ();
  if (self->settings == NULL)
    g_error ("The GSettings schema %s is neither installed nor in the build tree (%s)",
             HL_APPLICATION_ID, HL_BUILD_SCHEMA_DIR);
  apply_threads (self);
  g_signal_connect_swapped (self->settings, "changed::threads", G_CALLBACK (apply_threads), self);
  g_signal_connect (self->settings, "changed::model-file", G_CALLBACK (model_setting_changed),
                    self);
  load_configured_model (self);
}

static HlWindow *
get_window (HlApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));
  if (window == NULL)
    window = GTK_WINDOW (hl_window_new (self));
  return HL_WINDOW (window);
}

static void
hl_application_activate (GApplication *app)
{
  gtk_window_present (GTK_WINDOW (get_window (HL_APPLICATION (app))));
}

static void
hl_application_open (GApplication *app, GFile **files, int n_files, const char *hint)
{
  HlWindow *window = get_window (HL_APPLICATION (app));
  hl_window_open_files (window, files, n_files);
  gtk_window_present (GTK_WINDOW (window));
}

static int
hl_application_handle_local_options (GApplication *app, GVariantDict *options)
{
  HlApplication *self = HL_APPLICATION (app);
  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("hilum %s\n", PACKAGE_VERSION);
      return 0;
    }
  g_autofree char *model = NULL;
  if (g_variant_dict_lookup (options, "model", "^ay", &model))
    {
      g_free (self->model_option);
      self->model_option = g_canonicalize_filename (model, NULL);
    }
  return -1;
}

static void
hl_application_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  HlApplication *self = HL_APPLICATION (object);
  switch (prop_id)
    {
    case PROP_MODEL:
      g_value_set_pointer (value, self->model);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hl_application_finalize (GObject *object)
{
  HlApplication *self = HL_APPLICATION (object);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->model, hl_model_unref);
  g_free (self->model_path);
  g_free (self->model_problem);
  g_free (self->model_option);
  G_OBJECT_CLASS (hl_application_parent_class)->finalize (object);
}

static void
hl_application_class_init (HlApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->get_property = hl_application_get_property;
  object_class->finalize = hl_application_finalize;
  app_class->startup = hl_application_startup;
  app_class->activate = hl_application_activate;
  app_class->open = hl_application_open;
  app_class->handle_local_options = hl_application_handle_local_options;

  props[PROP_MODEL]
      = g_param_spec_pointer ("model", NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
hl_application_init (HlApplication *self)
{
  self->launch_time = g_get_monotonic_time ();
  g_application_add_main_option_entries (G_APPLICATION (self), option_entries);
  g_application_set_option_context_parameter_string (G_APPLICATION (self), _ ("[FOLDER|FILE…]"));
}

HlApplication *
hl_application_new (void)
{
  static gsize registered = 0;
  if (g_once_init_enter (&registered))
    {
      hl_app_register_resource ();
      g_once_init_leave (&registered, 1);
    }
  return g_object_new (HL_TYPE_APPLICATION, "application-id", HL_APPLICATION_ID, "flags",
                       G_APPLICATION_HANDLES_OPEN, "resource-base-path", "/org/hilum/Hilum", NULL);
}

HlModel *
hl_application_get_model (HlApplication *app)
{
  g_return_val_if_fail (HL_IS_APPLICATION (app), NULL);
  return app->model;
}

const char *
hl_application_get_model_path (HlApplication *app)
{
  g_return_val_if_fail (HL_IS_APPLICATION (app), NULL);

  return app->model_path;
}

const char *
hl_application_get_model_problem (HlApplication *app)
{
  g_return_val_if_fail (HL_IS_APPLICATION (app), NULL);
  return app->model_problem;
}

GSettings *
hl_application_get_settings (HlApplication *app)
{
  g_return_val_if_fail (HL_IS_APPLICATION (app), NULL);
  return app->settings;
}

gint64
hl_application_get_launch_time (HlApplication *app)
{
  g_return_val_if_fail (HL_IS_APPLICATION (app), 0);
  return app->launch_time;
}
