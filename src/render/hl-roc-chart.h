/* hl-roc-chart.h — ROC charts on any cairo_t: one label's curve (axes, ticks, grid, the chance
 * diagonal, the operating point, AUROC with its 95% interval in the legend), optionally a second
 * model's curve on the same axes, or a grid of panels, one per label.
 *
 * A chart takes plain arrays (HlRocSeries) so it can draw anything; hl_roc_series_init_from_label()
 * fills one from the analysis module's per-label summary. Text is sized from the cairo_t's current
 * font size (cairo_set_font_size), sans-serif.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "hl-summary.h"

G_BEGIN_DECLS

/* One model's ROC curve for one label. Borrowed pointers: the series owns nothing. */
typedef struct
{
  const char *label;      /* finding name: the panel title; may be NULL */
  const char *model;      /* model name for the legend; may be NULL */
  gsize n_points;         /* >= 2 to draw a curve; 0 draws an empty panel saying "no curve" */
  const double *fpr;      /* (n_points) false positive rate in [0, 1], non-decreasing */
  const double *tpr;      /* (n_points) true positive rate in [0, 1] */
  double auroc;           /* NaN when unknown */
  double ci_low, ci_high; /* 95% interval, NaN when unknown */
  double op_fpr, op_tpr;  /* the operating point (1 - specificity, sensitivity); NaN when none */
  double op_threshold; /* score threshold of the operating point, shown in the legend; NaN: none */
  gsize n_positive, n_negative; /* shown under the title when n_positive + n_negative > 0 */
} HlRocSeries;

/* Clears @series to an empty curve with every number NaN and every count 0. */
void hl_roc_series_init (HlRocSeries *series);

/* Fills @series from the analysis summary of one label: its curve, AUROC, DeLong interval and
 * class counts; the operating point from @op (e.g. &label->youden or &label->at_sensitivity;
 * NULL for none). An undefined label gives an empty curve. @series borrows @label's arrays and
 * @model: keep them alive while drawing. */
void hl_roc_series_init_from_label (HlRocSeries *series, const HlLabelSummary *label,
                                    const HlConfusion *op, const char *model);

/* Draws one ROC panel in the rectangle (x, y, width, height) of @cr's user space: @a in blue and,
 * when @b is not NULL, @b in orange on the same axes (the title is @a's label, the class counts
 * @a's), each operating point as a dot, and under the plot a legend with each series' AUROC and
 * 95% interval and its operating point (threshold, sensitivity, specificity). Leaves @cr's state
 * as it was. */
void hl_render_roc (cairo_t *cr, double x, double y, double width, double height,
                    const HlRocSeries *a, const HlRocSeries *b);

/* Where hl_render_roc() with the same arguments and font size puts the plot: the square
 * (*plot_x, *plot_y, *side) of @cr's user space, fpr 0..1 left to right and tpr 0..1 bottom to
 * top. Returns FALSE when the rectangle is too small for a plot (nothing is drawn then). For
 * mapping pointer positions to the curve. */
gboolean hl_render_roc_plot_area (cairo_t *cr, double x, double y, double width, double height,
                                  const HlRocSeries *a, const HlRocSeries *b, double *plot_x,
                                  double *plot_y, double *side);

/* Draws @n panels in a grid filling (x, y, width, height): @n_cols columns (0 picks
 * ceil (sqrt (n))), rows as needed, panel i from @a[i] and, when @b is not NULL, @b[i] (both
 * arrays of @n). The text size shrinks with the panels, never above the current font size. */
void hl_render_roc_grid (cairo_t *cr, double x, double y, double width, double height,
                         const HlRocSeries *a, const HlRocSeries *b, gsize n, int n_cols);

/* Writes the grid of hl_render_roc_grid() as a @width x @height pixel PNG atomically (see
 * hl_render_write_png(); @b may be NULL). */
gboolean hl_roc_grid_write_png (const char *path, const HlRocSeries *a, const HlRocSeries *b,
                                gsize n, int n_cols, int width, int height, GError **error);

G_END_DECLS
