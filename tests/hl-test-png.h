/* hl-test-png.h — test-only: writes PNG files with libpng from known samples, so that the study
 * tests make their inputs instead of shipping binary files. */
#pragma once

#include <glib.h>
#include <png.h>

G_BEGIN_DECLS

/* What to write: @samples holds (height, width, channels) values in 0..2^depth-1 (palette: the
 * indices), packed into PNG's row layout by hl_test_png_write(). */
typedef struct
{
  int width, height, color_type, depth; /* color_type: PNG_COLOR_TYPE_* */
  gboolean interlaced;
  const guint16 *samples;
  const png_color *palette;
  int n_palette;
  double phys_mm; /* pixel size for a pHYs chunk in metres, 0 for none */
} HlTestPngSpec;

/* Samples per pixel of @spec's colour type. */
int hl_test_png_channels (const HlTestPngSpec *spec);

/* Writes @spec to @path (with a gAMA chunk the decoder must ignore); aborts the test on failure. */
void hl_test_png_write (const char *path, const HlTestPngSpec *spec);

/* Writes a @width x @height 8-bit gray PNG of seeded random samples. */
void hl_test_png_write_gray8 (const char *path, int width, int height, guint32 seed);

G_END_DECLS
