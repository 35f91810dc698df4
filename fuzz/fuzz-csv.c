/* fuzz-csv.c — libFuzzer target for the label CSV reader (hl_label_set_load_from_data, both
 * layouts, quoting, gzip of one or several members): any input must end in a label set or a
 * GError, never a crash, a leak or undefined behaviour; a loaded set must find its own first
 * row. */
#include "hl-labels.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlLabelSet) set = hl_label_set_load_from_data ((const char *) data, size, "fuzz.csv",
                                                           &error);

  g_assert ((set == NULL) != (error == NULL));
  if (set != NULL && set->rows->len > 0)
    {
      const HlLabelRow *row = g_ptr_array_index (set->rows, 0);
      g_assert (hl_label_set_lookup (set, row->image) == row);
    }
  return 0;
}
