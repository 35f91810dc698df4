/* fuzz-dicom.c — libFuzzer target for the DICOM decoder (hl_dicom_load_from_data, the same code as
 * hl_dicom_load after parsing, reading from memory instead of a file): any input must end in an
 * image or a GError, never a crash, a leak or undefined behaviour. */
#include "hl-dicom.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = hl_dicom_load_from_data (data, size, "fuzz.dcm", &error);

  g_assert ((image == NULL) != (error == NULL));
  return 0;
}
