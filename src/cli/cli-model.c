/* cli-model.c — the model file of the commands that run one (predict, report, eval): the
 * --model option, else the default model (hl_model_find_default). */
#include "cli-commands.h"

#include <stdio.h>

#include "hl-engine.h"

gboolean
hl_cli_model_path (const char *command, char **model_path)
{
  g_return_val_if_fail (command != NULL && model_path != NULL, FALSE);

  if (*model_path != NULL)
    return TRUE;
  g_autoptr (GError) error = NULL;
  *model_path = hl_model_find_default (&error);
  if (*model_path == NULL)
    {
      fprintf (stderr, "hilum-cli %s: %s\n", command, error->message);
      return FALSE;
    }
  return TRUE;
}
