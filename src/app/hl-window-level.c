/* hl-window-level.c — grey-level windowing for display. */
#include "hl-window-level.h"

#include <stdlib.h>

void
hl_window_level_get_range (const HlWindowLevel *wl, double *low, double *high)
{
  g_return_if_fail (wl != NULL && wl->width > 0);

  *low = wl->center - wl->width / 2.0;
  *high = wl->center + wl->width / 2.0;
}

static void
clamp_window (HlWindowLevel *wl)
{
  wl->width = CLAMP (wl->width, HL_WL_MIN_WIDTH, 2.0);
  wl->center = CLAMP (wl->center, 0.0, 1.0);
}

void
hl_window_level_drag (HlWindowLevel *wl, double dx, double dy, double sensitivity)
{
  g_return_if_fail (wl != NULL);

  wl->width += dx * sensitivity;
  wl->center -= dy * sensitivity;
  clamp_window (wl);
}

static int
compare_float (gconstpointer a, gconstpointer b)
{
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

void
hl_window_level_set_preset (HlWindowLevel *wl, HlWindowLevelPreset preset, const float *pixels,
                            gsize n)
{
  g_return_if_fail (wl != NULL);
  g_return_if_fail (preset < HL_WL_N_PRESETS);

  switch (preset)
    {
    case HL_WL_PRESET_FULL:
      wl->center = 0.5, wl->width = 1.0;
      break;
    case HL_WL_PRESET_LUNG:
      wl->center = 0.35, wl->width = 0.6;
      break;
    case HL_WL_PRESET_DENSE:
      wl->center = 0.7, wl->width = 0.5;
      break;
    case HL_WL_PRESET_AUTO:
      {
        if (n == 0 || pixels == NULL)
          {
            wl->center = 0.5, wl->width = 1.0;
            break;
          }
        /* Percentiles from a strided sample of at most 65536 values: exact enough for a window. */
        gsize stride = MAX (n / 65536, 1);
        gsize m = (n + stride - 1) / stride;
        g_autofree float *sample = g_new (float, m); /* (m) */
        for (gsize i = 0; i < m; i++)
          sample[i] = pixels[i * stride];
        qsort (sample, m, sizeof (float), compare_float);
        double lo = sample[m / 100], hi = sample[m - 1 - m / 100];
        wl->center = (lo + hi) / 2.0;
        wl->width = hi - lo;
        break;
      }
    default:
      g_assert_not_reached ();
    }
  clamp_window (wl);
}
