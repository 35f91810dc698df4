/* cli-model.c — the model file of the commands that run one (predict, report, eval): the
 * --model option, else the default model (hl_model_find_default), and loading it. */
#include "cli-commands.h"

#include <stdio.h>

#include "hl-engine.h"
#include "hl-predictions.h"

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

HlModel *
hl_cli_load_model (const char *command, char **model_path)
{
  g_return_val_if_fail (command != NULL && model_path != NULL, NULL);

  if (!hl_cli_model_path (command, model_path))
    return NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HlModel) model = hl_model_new_from_file (*model_path, &error);
  if (model == NULL)
    {
      fprintf (stderr, "hilum-cli %s: %s\n", command, error->message);
      return NULL;
    }
  const HlModelInfo *info = hl_model_get_info (model);
  for (int l = 0; l < info->n_labels; l++)
    if (!hl_predictions_field_is_safe (info->labels[l]))
      {
        fprintf (stderr, "hilum-cli %s: %s: label `%s` cannot be a CSV column\n", command,
                 *model_path, info->labels[l]);
        return NULL;
      }
  return g_steal_pointer (&model);
}
