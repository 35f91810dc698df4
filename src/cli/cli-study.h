/* cli-study.h — output shared by the study commands of hilum-cli (check, split). */
#pragma once

#include "hl-splits.h"

/* Prints a table to stdout: one row per label (positives and their share of images), one column
 * per entry of @names / @counts (@n of each), headed by images / patients. */
void hl_cli_print_class_table (const char *const *names, const HlClassCounts *counts, guint n);
