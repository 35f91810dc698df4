/* hl-window-level.h — grey-level windowing for display: which range of the image's float values
 * in [0, 1] spans black..white on screen (centre, width), optionally inverted, how a right-drag
 * moves it and the presets. Pure arithmetic, no GTK, unit-tested without a display. The pixels are
 * mapped by render's hl_render_gray_surface_new(); the model never sees this window.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The narrowest window allowed, a 10-bit grey step: narrower shows little but black and white. */
#define HL_WL_MIN_WIDTH (1.0 / 1024.0)

typedef struct
{
  double center; /* value shown as mid-grey, in [0, 1] */
  double width;  /* values in [center - width/2, center + width/2] span black..white; in
                  * [HL_WL_MIN_WIDTH, 2] */
  gboolean invert;
} HlWindowLevel;

typedef enum
{
  HL_WL_PRESET_FULL,  /* the whole [0, 1] range, as the file says to show it */
  HL_WL_PRESET_AUTO,  /* 1st..99th percentile of the image */
  HL_WL_PRESET_LUNG,  /* the dark half spread out: lung parenchyma */
  HL_WL_PRESET_DENSE, /* the bright half spread out: mediastinum, bone, lines and tubes */
  HL_WL_N_PRESETS,
} HlWindowLevelPreset;

/* The values shown black (@low) and white (@high) before inversion: centre -/+ width / 2. */
void hl_window_level_get_range (const HlWindowLevel *wl, double *low, double *high);

/* Adjusts the window by a pointer drag of (@dx, @dy) widget pixels, radiology style: right makes
 * the window wider (less contrast), down makes it brighter (lower centre). @sensitivity is the
 * change in value per pixel. The result is clamped to the ranges above. */
void hl_window_level_drag (HlWindowLevel *wl, double dx, double dy, double sensitivity);

/* Sets @wl to @preset; HL_WL_PRESET_AUTO reads @pixels (n), the others ignore them. Keeps the
 * invert flag. */
void hl_window_level_set_preset (HlWindowLevel *wl, HlWindowLevelPreset preset, const float *pixels,
                                 gsize n);

G_END_DECLS
