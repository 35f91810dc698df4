/* hilum-cli.c — the headless twin of Hilum: dispatches `hilum-cli COMMAND ARGS...` to one
 * cli-<command>.c file per command. */
#include "cli-commands.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

static const HlCliCommand commands[] = {
  { "predict", "Score images with the model (CSV, JSON, Grad-CAM PNGs)", hl_cli_predict },
  { "check", "What study folders and label CSVs hold: images, patients, failures, leakage",
    hl_cli_check },
  { "split", "Patient-level, label-stratified train/valid/test split of a label CSV",
    hl_cli_split },
  { "train", "Train a DenseNet on labelled X-rays: checkpoints, resume, validation thresholds",
    hl_cli_train },
  { "eval", "Score predictions against labels: AUROC with CIs, ROC grid", hl_cli_eval },
  { "report", "Annotated report page per image (PNG/PDF) plus CSV/JSON of all scores",
    hl_cli_report },
  { "convert", "Rewrite a model file in half (F16) or single (F32) precision", hl_cli_convert },
};

static void
print_usage (FILE *out)
{
  fprintf (out, "Usage: hilum-cli COMMAND [OPTION...]\n       hilum-cli --version\n\n"
                "Commands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nRun `hilum-cli COMMAND --help` for a command's options.\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      print_usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      printf ("hilum-cli %s\n", PACKAGE_VERSION);
      return 0;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      {
        /* GOptionContext's --help and messages say "hilum-cli predict", not "predict" */
        g_autofree char *prgname = g_strdup_printf ("hilum-cli %s", commands[i].name);
        g_set_prgname (prgname);
        return commands[i].run (argc - 1, argv + 1);
      }
  fprintf (stderr, "hilum-cli: unknown command '%s'\n\n", argv[1]);
  print_usage (stderr);
  return 2;
}
