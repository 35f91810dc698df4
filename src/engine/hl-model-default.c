/* hl-model-default.c — where Hilum and hilum-cli find a model file when none is given
 * (hl_model_find_default), and where a model's card lies beside it (hl_model_card_path).
 *
 * The search list is compiled in: the source tree's data/models (HL_UNINSTALLED_MODEL_DIR, for
 * runs from the build tree) and the installed $datadir/hilum/models (HL_INSTALLED_MODEL_DIR),
 * both passed by src/engine/meson.build. HILUM_MODEL_DIRS replaces that list for tests and
 * packagers. */
#include "hl-engine.h"

#include <string.h>

#ifndef HL_UNINSTALLED_MODEL_DIR
#error "HL_UNINSTALLED_MODEL_DIR must be defined by the build"
#endif
#ifndef HL_INSTALLED_MODEL_DIR
#error "HL_INSTALLED_MODEL_DIR must be defined by the build"
#endif

char **
hl_model_default_candidates (void)
{
  const char *dirs_env = g_getenv ("HILUM_MODEL_DIRS");
  g_auto (GStrv) dirs = NULL;
  if (dirs_env != NULL && *dirs_env != '\0')
    dirs = g_strsplit (dirs_env, G_SEARCHPATH_SEPARATOR_S, -1);
  else
    dirs = g_strdupv ((char *[]){ HL_UNINSTALLED_MODEL_DIR, HL_INSTALLED_MODEL_DIR, NULL });

  GPtrArray *candidates = g_ptr_array_new ();
  for (guint i = 0; dirs[i] != NULL; i++)
    if (*dirs[i] != '\0')
      g_ptr_array_add (candidates, g_build_filename (dirs[i], HL_DEFAULT_MODEL_FILE, NULL));
  g_ptr_array_add (candidates, NULL);
  return (char **) g_ptr_array_free (candidates, FALSE);
}

char *
hl_model_find_in (const char *const *candidates, GError **error)
{
  g_return_val_if_fail (candidates != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  for (guint i = 0; candidates[i] != NULL; i++)
    if (g_file_test (candidates[i], G_FILE_TEST_IS_REGULAR))
      return g_strdup (candidates[i]);

  g_autoptr (GString) looked = g_string_new (NULL);
  for (guint i = 0; candidates[i] != NULL; i++)
    g_string_append_printf (looked, "%s%s", i > 0 ? ", " : "", candidates[i]);
  g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_NOT_FOUND,
               "no model file: none was given, HILUM_MODEL is not set and no default model was "
               "found (looked for %s). Give one with --model FILE or the HILUM_MODEL environment "
               "variable, or train one with `hilum-cli train` (README, \"The default model\")",
               looked->len > 0 ? looked->str : "nothing: the search list is empty");
  return NULL;
}

char *
hl_model_find_default (GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  const char *env = g_getenv ("HILUM_MODEL");
  if (env != NULL && *env != '\0')
    return g_strdup (env);
  g_auto (GStrv) candidates = hl_model_default_candidates ();
  return hl_model_find_in ((const char *const *) candidates, error);
}

char *
hl_model_card_path (const char *model_path)
{
  g_return_val_if_fail (model_path != NULL, NULL);

  gsize stem = strlen (model_path);
  if (g_str_has_suffix (model_path, ".safetensors"))
    stem -= strlen (".safetensors");
  return g_strdup_printf ("%.*s.md", (int) stem, model_path);
}
