/* hl-colormap.c — lookups in the colormap tables of hl-colormap-data.c. */
#include "hl-colormap.h"

#include <math.h>

#include "hl-colormap-private.h"

static const char *const colormap_names[HL_N_COLORMAPS] = {
  "viridis",
  "inferno",
  "jet",
  "gray",
};

static const double (*const colormap_tables[HL_N_COLORMAPS])[3] = {
  hl_colormap_viridis_data,
  hl_colormap_inferno_data,
  hl_colormap_jet_data,
  hl_colormap_gray_data,
};

const char *
hl_colormap_get_name (HlColormap cmap)
{
  g_return_val_if_fail (cmap >= 0 && cmap < HL_N_COLORMAPS, NULL);
  return colormap_names[cmap];
}

gboolean
hl_colormap_from_name (const char *name, HlColormap *out)
{
  g_return_val_if_fail (name != NULL && out != NULL, FALSE);
  for (int i = 0; i < HL_N_COLORMAPS; i++)
    if (g_ascii_strcasecmp (name, colormap_names[i]) == 0)
      {
        *out = (HlColormap)i;
        return TRUE;
      }
  return FALSE;
}

const double *
hl_colormap_get_entry (HlColormap cmap, int index)
{
  g_return_val_if_fail (cmap >= 0 && cmap < HL_N_COLORMAPS, NULL);
  g_return_val_if_fail (index >= 0 && index < HL_COLORMAP_SIZE, NULL);
  return colormap_tables[cmap][index];
}

void
hl_colormap_lookup (HlColormap cmap, double t, double *rgb)
{
  g_return_if_fail (cmap >= 0 && cmap < HL_N_COLORMAPS);
  g_return_if_fail (rgb != NULL);
  int index = 0;
  if (t >= 1.0)
    index = HL_COLORMAP_SIZE - 1;
  else if (t > 0.0) /* false for NaN */
    index = (int)floor (t * HL_COLORMAP_SIZE);
  const double *e = colormap_tables[cmap][index];
  rgb[0] = e[0];
  rgb[1] = e[1];
  rgb[2] = e[2];
}
