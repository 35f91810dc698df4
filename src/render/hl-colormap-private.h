/* hl-colormap-private.h — the generated colormap tables (hl-colormap-data.c), for hl-colormap.c
 * and the tests only. */
#pragma once

extern const double hl_colormap_viridis_data[256][3]; /* (256, 3) r, g, b in [0, 1] */
extern const double hl_colormap_inferno_data[256][3];
extern const double hl_colormap_jet_data[256][3];
extern const double hl_colormap_gray_data[256][3];
