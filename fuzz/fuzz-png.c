/* fuzz-png.c — libFuzzer target for the PNG decoder (hl_png_load_from_data): any input must end
 * in an image or a GError naming it, never a crash, a leak or undefined behaviour.
 *
 * Every input is read twice: as it is, which almost always stops at a chunk's CRC once mutated,
 * and with the CRC of every complete chunk after the signature rewritten to match its type and
 * data, so that the chunk parsers, inflate and the row reader behind the CRC see every mutation
 * too. A decoded image must have a size and every pixel in [0, 1], as hl-image.h says. */
#include "hl-png.h"

#include <string.h>
#include <zlib.h>

#define ORIGIN "fuzz.png"
#define PNG_SIGNATURE_LEN 8

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
decode (const guint8 *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlImage) image = hl_png_load_from_data (data, size, ORIGIN, &error);

  g_assert ((image == NULL) != (error == NULL));
  if (image != NULL)
    {
      g_assert (image->width >= 1 && image->height >= 1 && image->pixels != NULL);
      for (gsize i = 0; i < (gsize) image->width * (gsize) image->height; i++)
        g_assert (image->pixels[i] >= 0.0f && image->pixels[i] <= 1.0f);
    }
  else
    g_assert (g_str_has_prefix (error->message, ORIGIN));
}

/* Rewrites, in place, the CRC of every chunk that lies whole inside data[0, size). */
static void
fix_crcs (guint8 *data, size_t size)
{
  size_t pos = PNG_SIGNATURE_LEN;

  while (size - pos >= 12)
    {
      guint32 len = (guint32) data[pos] << 24 | (guint32) data[pos + 1] << 16
                    | (guint32) data[pos + 2] << 8 | data[pos + 3];
      guint32 crc;

      if (len > size - pos - 12)
        break;
      crc = (guint32) crc32 (0, data + pos + 4, len + 4);
      data[pos + 8 + len] = crc >> 24;
      data[pos + 9 + len] = crc >> 16;
      data[pos + 10 + len] = crc >> 8;
      data[pos + 11 + len] = crc;
      pos += 12 + (size_t) len;
    }
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  decode (data, size);
  if (size > PNG_SIGNATURE_LEN)
    {
      g_autofree guint8 *fixed = g_memdup2 (data, size);

      fix_crcs (fixed, size);
      if (memcmp (fixed, data, size) != 0)
        decode (fixed, size);
    }
  return 0;
}
