/* cli-commands.h — the table of hilum-cli commands. Each command lives in its own
 * cli-<name>.c, parses its own options (GOptionContext) and returns the process exit status:
 * 0 success, 1 runtime failure (message on stderr naming the file), 2 usage error; check,
 * predict and report also 3 and 4 (HlCliExit in cli-study.h: some inputs failed, leakage). */
#pragma once

#include <glib.h>

#include "hl-engine.h"

typedef struct
{
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv); /* argv[0] is the command name */
} HlCliCommand;

int hl_cli_predict (int argc, char **argv);
int hl_cli_eval (int argc, char **argv);
int hl_cli_report (int argc, char **argv);
int hl_cli_check (int argc, char **argv);
int hl_cli_split (int argc, char **argv);
int hl_cli_train (int argc, char **argv);
int hl_cli_convert (int argc, char **argv);

/* Resolves the model file of @command (its name, for messages): *@model_path is the --model
 * option (owned, may be NULL); when NULL it becomes hl_model_find_default()'s answer. Returns
 * FALSE, after printing why on stderr (every place searched), when no model can be found. */
gboolean hl_cli_model_path (const char *command, char **model_path);

/* hl_cli_model_path(), then loads the model, refusing one whose label names cannot be CSV column
 * names (the scores CSV has no quoting). Returns a new model, or NULL after printing why on
 * stderr. */
HlModel *hl_cli_load_model (const char *command, char **model_path);
