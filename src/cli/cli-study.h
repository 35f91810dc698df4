/* cli-study.h — what the commands of hilum-cli that read study inputs (check, predict, report)
 * share: their exit statuses, and output shared by the study commands (check, split). */
#pragma once

#include "hl-splits.h"

/* Exit statuses of check, predict and report (usage errors are 2 for every command). An input is
 * an argument or a file found in a folder argument; a file that is not an image by its content
 * (neither PNG nor DICOM) found in a folder is skipped, said on stderr, and is no input. */
typedef enum
{
  HL_CLI_EXIT_OK = 0,      /* every input was read (and scored) */
  HL_CLI_EXIT_FAILED = 1,  /* nothing usable came out: no input could be used (none found, every
                            * one failed), or the model or the output could not be */
  HL_CLI_EXIT_USAGE = 2,   /* bad options or arguments */
  HL_CLI_EXIT_PARTIAL = 3, /* some inputs failed (each named on stderr or in the report with the
                            * reason), the others were used and their output written */
  HL_CLI_EXIT_LEAKAGE = 4, /* check: label files given share patients (whatever else happened,
                            * unless nothing could be read) */
} HlCliExit;

/* The status for a run that used @n_used inputs and saw @n_failed fail: HL_CLI_EXIT_FAILED when
 * @n_used is 0, HL_CLI_EXIT_PARTIAL when @n_failed is not, else HL_CLI_EXIT_OK. */
HlCliExit hl_cli_inputs_status (guint n_used, guint n_failed);

/* Prints a table to stdout: one row per label (positives and their share of images), one column
 * per entry of @names / @counts (@n of each), headed by images / patients. */
void hl_cli_print_class_table (const char *const *names, const HlClassCounts *counts, guint n);
