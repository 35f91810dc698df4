/* cli-convert.c — `hilum-cli convert IN.safetensors OUT.safetensors [--dtype f16|f32]`: rewrites
 * a model file with its tensors in another precision (hl_model_save), keeping its metadata. Used
 * to ship the default model in half precision (README "The default model"). Exit status 0, 1 when
 * the model cannot be read or written (or a value does not fit F16), 2 for usage errors. */
#include "cli-commands.h"

#include <stdio.h>
#include <string.h>

#include "hl-engine.h"
#include "hl-train.h"

int
hl_cli_convert (int argc, char **argv)
{
  g_autofree char *dtype = NULL;
  GOptionEntry entries[] = {
    { "dtype", 0, 0, G_OPTION_ARG_STRING, &dtype, "Tensor type to write: f16 (default) or f32",
      "TYPE" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("IN.safetensors OUT.safetensors");
  g_option_context_set_summary (ctx, "Rewrites a model file with its tensors in another "
                                     "precision, keeping its metadata (written atomically).");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "hilum-cli convert: %s\n", error->message);
      return 2;
    }
  if (argc != 3 || (dtype != NULL && strcmp (dtype, "f16") != 0 && strcmp (dtype, "f32") != 0))
    {
      fprintf (stderr, "hilum-cli convert: give IN and OUT, and --dtype f16 or f32 (see --help)\n");
      return 2;
    }
  HlSaveDtype save = dtype != NULL && strcmp (dtype, "f32") == 0 ? HL_SAVE_F32 : HL_SAVE_F16;

  g_autoptr (HlModel) model = hl_model_new_from_file (argv[1], &error);
  if (model == NULL || !hl_model_save (model, NULL, argv[2], save, &error))
    {
      fprintf (stderr, "hilum-cli convert: %s\n", error->message);
      return 1;
    }
  printf ("Wrote %s (%s)\n", argv[2], save == HL_SAVE_F16 ? "F16" : "F32");
  return 0;
}
