/* hl-roc-chart.c — ROC panels and grids. */
#include "hl-roc-chart.h"

#include <math.h>

#include "hl-render-io.h"
#include "hl-render-private.h"

static const double series_colors[2][3] = {
  { 0.122, 0.467, 0.706 }, /* blue */
  { 1.000, 0.498, 0.055 }, /* orange */
};

void
hl_roc_series_init (HlRocSeries *series)
{
  g_return_if_fail (series != NULL);
  *series = (HlRocSeries){ 0 };
  series->auroc = series->ci_low = series->ci_high = NAN;
  series->op_fpr = series->op_tpr = series->op_threshold = NAN;
}

void
hl_roc_series_init_from_label (HlRocSeries *series, const HlLabelSummary *label,
                               const HlConfusion *op, const char *model)
{
  g_return_if_fail (series != NULL && label != NULL);
  hl_roc_series_init (series);
  series->label = label->name;
  series->model = model;
  series->n_positive = label->n_positive;
  series->n_negative = label->n_negative;
  if (!label->defined || label->curve == NULL)
    return;
  series->n_points = label->curve->n_points;
  series->fpr = label->curve->fpr;
  series->tpr = label->curve->tpr;
  series->auroc = label->auroc;
  series->ci_low = label->ci_low;
  series->ci_high = label->ci_high;
  if (op != NULL)
    {
      series->op_fpr = 1.0 - op->specificity;
      series->op_tpr = op->sensitivity;
      series->op_threshold = op->threshold;
    }
}

static void
set_color (cairo_t *cr, int k)
{
  cairo_set_source_rgb (cr, series_colors[k][0], series_colors[k][1], series_colors[k][2]);
}

/* "name AUROC 0.842 (0.801–0.880)" */
static char *
legend_text (const HlRocSeries *s, int k)
{
  char a[32], lo[32], hi[32];
  GString *str = g_string_new (s->model != NULL ? s->model : k == 0 ? "A" : "B");
  g_string_append_printf (str, "  AUC %s", hl_render_format_number (s->auroc, 3, a, sizeof a));
  if (!isnan (s->ci_low) && !isnan (s->ci_high))
    g_string_append_printf (str, " (%s\u2013%s)",
                            hl_render_format_number (s->ci_low, 3, lo, sizeof lo),
                            hl_render_format_number (s->ci_high, 3, hi, sizeof hi));
  return g_string_free (str, FALSE);
}

static gboolean
has_op (const HlRocSeries *s)
{
  return !isnan (s->op_fpr) && !isnan (s->op_tpr);
}

static void
draw_op_marker (cairo_t *cr, double px, double py, double r, int k)
{
  cairo_arc (cr, px, py, r, 0, 2 * G_PI);
  set_color (cr, k);
  cairo_fill_preserve (cr);
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_set_line_width (cr, r * 0.35);
  cairo_stroke (cr);
}

#define MAX_LEGEND_LINES 4

/* The legend's lines for @a and @b (may be NULL): per series its AUROC line and, when it has one,
 * its operating point line. @kinds[i] is the series index, or 2 + the series index for an
 * operating point line. Returns the number of lines; free the strings with g_free. */
static int
legend_lines (const HlRocSeries *a, const HlRocSeries *b, char **lines, int *kinds)
{
  const HlRocSeries *series[2] = { a, b };
  int n = 0;
  for (int k = 0; k < 2; k++)
    {
      const HlRocSeries *s = series[k];
      if (s == NULL)
        continue;
      if (s->n_points >= 2 || !isnan (s->auroc))
        {
          lines[n] = legend_text (s, k);
          kinds[n++] = k;
        }
      if (has_op (s))
        {
          char t[32], se[32], sp[32];
          hl_render_format_number (s->op_tpr, 2, se, sizeof se);
          hl_render_format_number (1.0 - s->op_fpr, 2, sp, sizeof sp);
          if (!isnan (s->op_threshold))
            lines[n] = g_strdup_printf (
                "operating point %s: sens %s, spec %s",
                hl_render_format_threshold (s->op_threshold, 2, t, sizeof t), se, sp);
          else
            lines[n] = g_strdup_printf ("operating point: sens %s, spec %s", se, sp);
          kinds[n++] = 2 + k;
        }
    }
  return n;
}

/* The layout of one panel in the current font: the title's top, the counts line's top (NaN when
 * there is none), the plot square and the legend's top (the legend sits under the axis title,
 * @n_legend lines). Returns FALSE when the square would be too small. */
static gboolean
plot_layout (cairo_t *cr, double x, double y, double width, double height, const HlRocSeries *a,
             int n_legend, double *title_y, double *counts_y, double *plot_x, double *plot_y,
             double *side, double *legend_y)
{
  double fs = hl_render_get_font_size (cr);
  double top = y + fs * 0.3;
  *title_y = top;
  top += fs * 1.25;
  *counts_y = NAN;
  if (a->n_positive + a->n_negative > 0)
    {
      *counts_y = top;
      top += fs * 1.15;
    }
  /* Room for tick labels and axis titles on the left, below them the legend. */
  double left = x + hl_render_text_width (cr, "0.0") + fs * 1.9;
  double right = x + width - fs * 0.8;
  double bottom = y + height - fs * 2.7 - n_legend * fs * 1.15 - fs * 0.3;
  *side = MIN (right - left, bottom - top - fs * 0.4);
  *plot_x = left + (right - left - *side) / 2;
  *plot_y = bottom - *side;
  *legend_y = bottom + fs * 2.7;
  return *side >= fs * 3;
}

gboolean
hl_render_roc_plot_area (cairo_t *cr, double x, double y, double width, double height,
                         const HlRocSeries *a, const HlRocSeries *b, double *plot_x, double *plot_y,
                         double *side)
{
  g_return_val_if_fail (cr != NULL && a != NULL && plot_x != NULL && plot_y != NULL && side != NULL,
                        FALSE);
  char *lines[MAX_LEGEND_LINES];
  int kinds[MAX_LEGEND_LINES];
  int n = legend_lines (a, b, lines, kinds);
  for (int i = 0; i < n; i++)
    g_free (lines[i]);
  double title_y, counts_y, legend_y;
  return width > 0 && height > 0
         && plot_layout (cr, x, y, width, height, a, n, &title_y, &counts_y, plot_x, plot_y, side,
                         &legend_y);
}

void
hl_render_roc (cairo_t *cr, double x, double y, double width, double height, const HlRocSeries *a,
               const HlRocSeries *b)
{
  g_return_if_fail (cr != NULL && a != NULL);
  g_return_if_fail (a->n_points == 0 || (a->fpr != NULL && a->tpr != NULL));
  g_return_if_fail (b == NULL || b->n_points == 0 || (b->fpr != NULL && b->tpr != NULL));
  if (!(width > 0) || !(height > 0))
    return;

  cairo_save (cr);
  cairo_rectangle (cr, x, y, width, height);
  cairo_clip (cr);
  double fs = hl_render_get_font_size (cr);

  char *lines[MAX_LEGEND_LINES];
  int kinds[MAX_LEGEND_LINES];
  int n_lines = legend_lines (a, b, lines, kinds);
  double title_y, counts_y, px0, py0, side, legend_y;
  gboolean fits = plot_layout (cr, x, y, width, height, a, n_lines, &title_y, &counts_y, &px0, &py0,
                               &side, &legend_y);
  cairo_save (cr);
  hl_render_set_font (cr, fs * 1.1, TRUE);
  cairo_set_source_rgb (cr, 0, 0, 0);
  hl_render_text (cr, x + width / 2, title_y, 0.5, 0.0, a->label != NULL ? a->label : "ROC");
  cairo_restore (cr);
  if (!isnan (counts_y))
    {
      char *counts = g_strdup_printf ("%" G_GSIZE_FORMAT " positive, %" G_GSIZE_FORMAT " negative",
                                      a->n_positive, a->n_negative);
      cairo_set_source_rgb (cr, 0.3, 0.3, 0.3);
      hl_render_text (cr, x + width / 2, counts_y, 0.5, 0.0, counts);
      g_free (counts);
    }
  if (!fits)
    {
      for (int i = 0; i < n_lines; i++)
        g_free (lines[i]);
      cairo_restore (cr);
      return;
    }
  double py1 = py0 + side; /* y of tpr = 0; py0 is y of tpr = 1 */
#define MAP_X(v) (px0 + (v)*side)
#define MAP_Y(v) (py1 - (v)*side)

  /* Grid, ticks, frame. */
  cairo_set_line_width (cr, MAX (0.5, fs * 0.05));
  for (int i = 0; i <= 5; i++)
    {
      double v = i / 5.0;
      char buf[16];
      hl_render_format_number (v, 1, buf, sizeof buf);
      cairo_set_source_rgb (cr, 0.9, 0.9, 0.9);
      cairo_move_to (cr, MAP_X (v), py0);
      cairo_line_to (cr, MAP_X (v), py1);
      cairo_move_to (cr, px0, MAP_Y (v));
      cairo_line_to (cr, px0 + side, MAP_Y (v));
      cairo_stroke (cr);
      cairo_set_source_rgb (cr, 0.2, 0.2, 0.2);
      cairo_move_to (cr, MAP_X (v), py1);
      cairo_line_to (cr, MAP_X (v), py1 + fs * 0.3);
      cairo_move_to (cr, px0, MAP_Y (v));
      cairo_line_to (cr, px0 - fs * 0.3, MAP_Y (v));
      cairo_stroke (cr);
      hl_render_text (cr, MAP_X (v), py1 + fs * 0.4, 0.5, 0.0, buf);
      hl_render_text (cr, px0 - fs * 0.45, MAP_Y (v), 1.0, i == 0 ? 0.85 : 0.5, buf);
    }
  cairo_set_source_rgb (cr, 0.2, 0.2, 0.2);
  cairo_rectangle (cr, px0, py0, side, side);
  cairo_stroke (cr);
  hl_render_text (cr, px0 + side / 2, py1 + fs * 1.45, 0.5, 0.0,
                  "False positive rate (1 \u2212 specificity)");
  cairo_save (cr);
  cairo_translate (cr, px0 - hl_render_text_width (cr, "0.0") - fs * 0.8, py1 - side / 2);
  cairo_rotate (cr, -G_PI / 2);
  hl_render_text (cr, 0, 0, 0.5, 1.0, "True positive rate (sensitivity)");
  cairo_restore (cr);

  /* Chance diagonal. */
  double dash[] = { fs * 0.4, fs * 0.3 };
  cairo_save (cr);
  cairo_set_dash (cr, dash, 2, 0);
  cairo_set_source_rgb (cr, 0.55, 0.55, 0.55);
  cairo_move_to (cr, MAP_X (0), MAP_Y (0));
  cairo_line_to (cr, MAP_X (1), MAP_Y (1));
  cairo_stroke (cr);
  cairo_restore (cr);

  /* Curves (b under a) and operating points. */
  const HlRocSeries *series[2] = { a, b };
  for (int k = 1; k >= 0; k--)
    {
      const HlRocSeries *s = series[k];
      if (s == NULL || s->n_points < 2)
        continue;
      cairo_save (cr);
      cairo_rectangle (cr, px0 - fs * 0.2, py0 - fs * 0.2, side + fs * 0.4, side + fs * 0.4);
      cairo_clip (cr);
      set_color (cr, k);
      cairo_set_line_width (cr, MAX (1.0, fs * 0.16));
      cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
      for (gsize i = 0; i < s->n_points; i++)
        cairo_line_to (cr, MAP_X (CLAMP (s->fpr[i], 0, 1)), MAP_Y (CLAMP (s->tpr[i], 0, 1)));
      cairo_stroke (cr);
      cairo_restore (cr);
    }
  for (int k = 1; k >= 0; k--)
    if (series[k] != NULL && has_op (series[k]))
      draw_op_marker (cr, MAP_X (CLAMP (series[k]->op_fpr, 0, 1)),
                      MAP_Y (CLAMP (series[k]->op_tpr, 0, 1)), fs * 0.32, k);

  if (a->n_points < 2 && isnan (a->auroc))
    {
      cairo_set_source_rgb (cr, 0.4, 0.4, 0.4);
      hl_render_text (cr, px0 + side / 2, py0 + side / 2, 0.5, 0.5, "no curve (one class)");
    }

  /* Legend, under the axis title, left-aligned with the plot. */
  double swatch = fs * 1.6, lx = MIN (px0, x + fs * 0.5 + hl_render_text_width (cr, "0.0"));
  for (int i = 0; i < n_lines; i++)
    {
      double ly = legend_y + (i + 0.5) * fs * 1.15;
      int k = kinds[i] % 2;
      if (kinds[i] < 2)
        {
          set_color (cr, k);
          cairo_set_line_width (cr, MAX (1.0, fs * 0.16));
          cairo_move_to (cr, lx, ly);
          cairo_line_to (cr, lx + swatch * 0.8, ly);
          cairo_stroke (cr);
        }
      else
        draw_op_marker (cr, lx + swatch * 0.4, ly, fs * 0.28, k);
      cairo_set_source_rgb (cr, 0, 0, 0);
      hl_render_text_fitted (cr, lx + swatch, ly, 0.0, 0.5, lines[i], x + width - lx - swatch);
      g_free (lines[i]);
    }
#undef MAP_X
#undef MAP_Y
  cairo_restore (cr);
}

void
hl_render_roc_grid (cairo_t *cr, double x, double y, double width, double height,
                    const HlRocSeries *a, const HlRocSeries *b, gsize n, int n_cols)
{
  g_return_if_fail (cr != NULL && (a != NULL || n == 0) && n_cols >= 0);
  if (n == 0)
    return;
  int cols = n_cols > 0 ? n_cols : (int)ceil (sqrt ((double)n));
  int rows = (int)((n + cols - 1) / cols);
  double cw = width / cols, ch = height / rows;
  double size = hl_render_get_font_size (cr);
  double wanted = MIN (cw, ch) / 24.0;
  cairo_save (cr);
  cairo_set_font_size (cr, MIN (size, MAX (4.0, wanted)));
  for (gsize i = 0; i < n; i++)
    {
      int r = (int)(i / cols), c = (int)(i % cols);
      hl_render_roc (cr, x + c * cw, y + r * ch, cw, ch, &a[i], b != NULL ? &b[i] : NULL);
    }
  cairo_restore (cr);
}

typedef struct
{
  const HlRocSeries *a, *b;
  gsize n;
  int n_cols;
} GridJob;

static void
draw_grid_page (cairo_t *cr, double width, double height, gpointer user_data)
{
  const GridJob *job = user_data;
  hl_render_set_font (cr, MAX (8.0, MIN (width, height) / 60.0), FALSE);
  hl_render_roc_grid (cr, 0, 0, width, height, job->a, job->b, job->n, job->n_cols);
}

gboolean
hl_roc_grid_write_png (const char *path, const HlRocSeries *a, const HlRocSeries *b, gsize n,
                       int n_cols, int width, int height, GError **error)
{
  g_return_val_if_fail (a != NULL && n > 0 && width > 0 && height > 0, FALSE);
  GridJob job = { a, b, n, n_cols };
  return hl_render_write_png (path, NULL, width, height, 1.0, draw_grid_page, &job, error);
}
