/* fuzz-png.c — libFuzzer target for the PNG decoder (hl_png_load_from_data): any input must end
 * in an image or a GError, never a crash, a leak or undefined behaviour. */
#include "hl-png.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = hl_png_load_from_data (data, size, "fuzz.png", &error);

  g_assert ((image == NULL) != (error == NULL));
  return 0;
}
