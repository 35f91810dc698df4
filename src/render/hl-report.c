/* hl-report.c — the report page: layout, drawing, PNG/PDF output. */
#include "hl-report.h"

#include <math.h>
#include <string.h>

#include "hl-render-io.h"
#include "hl-render-private.h"

#define MARGIN HL_REPORT_IMAGE_X
#define CONTENT_W (HL_REPORT_WIDTH - 2 * MARGIN)
#define IMAGE_Y HL_REPORT_IMAGE_Y
#define IMAGE_SIDE HL_REPORT_IMAGE_SIDE
#define THUMB_X 352.0
#define THUMB_SIDE 98.0
#define THUMB_GAP 9.0
#define TABLE_Y 532.0
#define ROW_H 14.0
#define FOOTER_Y (HL_REPORT_HEIGHT - 78)

static const char disclaimer[]
    = "Not for diagnostic use: machine-learning scores, to be reviewed by a qualified reader.";

void
hl_report_init (HlReport *report)
{
  g_return_if_fail (report != NULL);
  *report = (HlReport){ 0 };
  hl_overlay_style_init (&report->overlay);
  report->scale_each_map = TRUE;
}

static const char *
or_unknown (const char *s)
{
  return s != NULL && *s != '\0' ? s : "unknown";
}

/* The style for one finding's map: per-map range when the report asks for it. */
static HlOverlayStyle
style_for (const HlReport *report, const HlReportFinding *f)
{
  HlOverlayStyle style = report->overlay;
  if (report->scale_each_map)
    {
      double max = hl_overlay_map_max (f->map, (gsize)f->map_w * f->map_h);
      style.vmax = max > style.vmin ? max : style.vmin + 1.0;
    }
  return style;
}

/* Draws the gray image fitted (aspect kept) into the square (x, y, side), with @f's heatmap over
 * it when @f is not NULL. */
static void
draw_image_box (cairo_t *cr, const HlReport *report, cairo_surface_t *gray, double x, double y,
                double side, const HlReportFinding *f)
{
  cairo_save (cr);
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_rectangle (cr, x, y, side, side);
  cairo_fill (cr);
  double s = side / MAX (report->width, report->height);
  double w = report->width * s, h = report->height * s;
  double ix = x + (side - w) / 2, iy = y + (side - h) / 2;
  hl_render_draw_surface (cr, gray, ix, iy, w, h, CAIRO_FILTER_GOOD);
  if (f != NULL)
    {
      HlOverlayStyle style = style_for (report, f);
      cairo_translate (cr, ix, iy);
      cairo_scale (cr, s, s);
      hl_render_overlay (cr, f->map, f->map_w, f->map_h, report->width, report->height, &style);
    }
  cairo_restore (cr);
}

static int
compare_rank (gconstpointer pa, gconstpointer pb, gpointer user_data)
{
  const HlReportFinding *findings = user_data;
  gsize a = *(const gsize *)pa, b = *(const gsize *)pb;
  double sa = findings[a].score, sb = findings[b].score;
  if (sa != sb)
    return sa > sb || isnan (sb) ? -1 : 1;
  return a < b ? -1 : a > b;
}

static void
draw_header (cairo_t *cr, const HlReport *report)
{
  cairo_set_source_rgb (cr, 0, 0, 0);
  hl_render_set_font (cr, 16, TRUE);
  hl_render_text (cr, MARGIN, MARGIN, 0, 0, "Hilum \u2014 chest X-ray findings");
  hl_render_set_font (cr, 8, FALSE);
  g_autofree char *now = NULL;
  if (report->created == NULL)
    {
      g_autoptr (GDateTime) dt = g_date_time_new_now_local ();
      now = g_date_time_format (dt, "%Y-%m-%d %H:%M");
    }
  g_autofree char *created
      = g_strdup_printf ("Created %s", report->created != NULL ? report->created : now);
  hl_render_text (cr, HL_REPORT_WIDTH - MARGIN, MARGIN + 4, 1, 0, created);

  /* The warning band. */
  cairo_set_source_rgb (cr, 1.0, 0.92, 0.92);
  cairo_rectangle (cr, MARGIN, 62, CONTENT_W, 20);
  cairo_fill_preserve (cr);
  cairo_set_source_rgb (cr, 0.75, 0.0, 0.0);
  cairo_set_line_width (cr, 1.0);
  cairo_stroke (cr);
  hl_render_set_font (cr, 10, TRUE);
  hl_render_text (cr, HL_REPORT_WIDTH / 2, 72, 0.5, 0.5,
                  "NOT FOR DIAGNOSTIC USE \u2014 research software, not a medical device");

  /* Identifiers. */
  g_autofree char *image_name
      = report->source_path != NULL ? g_path_get_basename (report->source_path) : NULL;
  g_autofree char *date = NULL;
  if (report->study_date != NULL && strlen (report->study_date) == 8)
    date = g_strdup_printf ("%.4s-%.2s-%.2s", report->study_date, report->study_date + 4,
                            report->study_date + 6);
  g_autofree char *size = g_strdup_printf ("%d \u00d7 %d px", report->width, report->height);
  g_autofree char *model
      = g_strdup_printf ("%s %s", or_unknown (report->model_name),
                         report->model_version != NULL ? report->model_version : "");
  const char *keys[6] = { "Image", "Patient", "Study date", "View", "Size", "Model" };
  const char *values[6] = { or_unknown (image_name),
                            or_unknown (report->patient_id),
                            date != NULL ? date : or_unknown (report->study_date),
                            or_unknown (report->view_position),
                            size,
                            model };
  for (int i = 0; i < 6; i++)
    {
      double x = i < 3 ? MARGIN : 300.0, y = 94 + (i % 3) * 12.5;
      cairo_set_source_rgb (cr, 0.35, 0.35, 0.35);
      hl_render_set_font (cr, 9, FALSE);
      hl_render_text (cr, x, y, 0, 0, keys[i]);
      cairo_set_source_rgb (cr, 0, 0, 0);
      hl_render_set_font (cr, 9, TRUE);
      double right = i < 3 ? 292.0 : HL_REPORT_WIDTH - MARGIN;
      hl_render_text_fitted (cr, x + 62, y, 0, 0, values[i], right - (x + 62));
    }
}

static void
draw_heatmaps (cairo_t *cr, const HlReport *report, cairo_surface_t *gray, const gsize *order)
{
  const HlReportFinding *shown[1 + HL_REPORT_MAX_THUMBNAILS];
  int n_shown = 0;
  for (gsize i = 0; i < report->n_findings && n_shown < 1 + HL_REPORT_MAX_THUMBNAILS; i++)
    {
      const HlReportFinding *f = &report->findings[order[i]];
      if (f->show_map && f->map != NULL && f->map_w > 0 && f->map_h > 0)
        shown[n_shown++] = f;
    }

  draw_image_box (cr, report, gray, HL_REPORT_IMAGE_X, IMAGE_Y, IMAGE_SIDE,
                  n_shown > 0 ? shown[0] : NULL);
  char score[32];
  hl_render_set_font (cr, 9, FALSE);
  cairo_set_source_rgb (cr, 0, 0, 0);
  if (n_shown > 0)
    {
      g_autofree char *at = report->heatmap_layer != NULL
                                ? g_strdup_printf (" at %s", report->heatmap_layer)
                                : NULL;
      g_autofree char *caption
          = g_strdup_printf ("Grad-CAM%s: %s (score %s)", at != NULL ? at : "", shown[0]->label,
                             hl_render_format_number (shown[0]->score, 3, score, sizeof score));
      hl_render_text_fitted (cr, MARGIN, IMAGE_Y + IMAGE_SIDE + 5, 0, 0, caption, IMAGE_SIDE);

      HlOverlayStyle bar = report->overlay;
      const char *bar_title = "heatmap value";
      if (report->scale_each_map)
        {
          bar.vmin = 0;
          bar.vmax = 1;
          bar_title = "heatmap, fraction of each map's maximum";
        }
      hl_render_set_font (cr, 7, FALSE);
      hl_render_colorbar (cr, MARGIN, IMAGE_Y + IMAGE_SIDE + 30, 180, 8, &bar, bar_title);
    }
  else
    hl_render_text_fitted (cr, MARGIN, IMAGE_Y + IMAGE_SIDE + 5, 0, 0, "No heatmap selected",
                           IMAGE_SIDE);

  for (int k = 1; k < n_shown; k++)
    {
      double x = THUMB_X + ((k - 1) % 2) * (THUMB_SIDE + THUMB_GAP);
      double y = IMAGE_Y + ((k - 1) / 2) * (THUMB_SIDE + 26);
      draw_image_box (cr, report, gray, x, y, THUMB_SIDE, shown[k]);
      g_autofree char *caption
          = g_strdup_printf ("%s %s", shown[k]->label,
                             hl_render_format_number (shown[k]->score, 3, score, sizeof score));
      hl_render_set_font (cr, 7.5, FALSE);
      cairo_set_source_rgb (cr, 0, 0, 0);
      hl_render_text_fitted (cr, x, y + THUMB_SIDE + 3, 0, 0, caption, THUMB_SIDE);
    }
}

void
hl_render_score_bar (cairo_t *cr, double x, double y, double width, double height, double score,
                     double threshold, const HlScoreBarStyle *style)
{
  g_return_if_fail (cr != NULL && style != NULL);

  const double *t = style->track;
  const double *bar = !isnan (threshold) && score >= threshold ? style->above : style->below;
  cairo_save (cr);
  cairo_set_source_rgba (cr, t[0], t[1], t[2], t[3]);
  cairo_rectangle (cr, x, y, width, height);
  cairo_fill (cr);
  cairo_set_source_rgba (cr, bar[0], bar[1], bar[2], bar[3]);
  cairo_rectangle (cr, x, y, width * (isnan (score) ? 0 : CLAMP (score, 0, 1)), height);
  cairo_fill (cr);
  if (!isnan (threshold))
    {
      double tx = x + width * CLAMP (threshold, 0, 1);
      cairo_set_source_rgba (cr, style->tick[0], style->tick[1], style->tick[2], style->tick[3]);
      cairo_set_line_width (cr, style->tick_width);
      cairo_move_to (cr, tx, y - 2);
      cairo_line_to (cr, tx, y + height + 2);
      cairo_stroke (cr);
    }
  cairo_restore (cr);
}

/* Draws the findings table; returns whether a row drawn is marked weak. */
static gboolean
draw_findings (cairo_t *cr, const HlReport *report, const gsize *order)
{
  static const HlScoreBarStyle score_bar_style = {
    { 0.88, 0.88, 0.88, 1 }, { 0.30, 0.45, 0.70, 1 }, { 0.78, 0.16, 0.16, 1 }, { 0, 0, 0, 1 }, 1.2,
  };
  const double x_rank = MARGIN, x_label = MARGIN + 20, x_score = 228, x_bar = 240, w_bar = 170,
               x_op = 460, x_call = 475, w_weak = 24;
  gboolean any_weak = FALSE;
  cairo_set_source_rgb (cr, 0, 0, 0);
  hl_render_set_font (cr, 11, TRUE);
  hl_render_text (cr, MARGIN, TABLE_Y - 18, 0, 0, "Findings, ranked by score");
  hl_render_set_font (cr, 8, TRUE);
  double y = TABLE_Y;
  hl_render_text (cr, x_rank, y, 0, 0, "#");
  hl_render_text (cr, x_label, y, 0, 0, "Finding");
  hl_render_text (cr, x_score, y, 1, 0, "Score");
  hl_render_text (cr, x_bar, y, 0, 0, "0");
  hl_render_text (cr, x_bar + w_bar, y, 1, 0, "1");
  hl_render_text (cr, x_op, y, 1, 0, "Op. point");
  hl_render_text (cr, x_call, y, 0, 0, "Score vs. op. point");
  y += ROW_H;
  cairo_set_line_width (cr, 0.6);
  cairo_move_to (cr, MARGIN, y - 3);
  cairo_line_to (cr, HL_REPORT_WIDTH - MARGIN, y - 3);
  cairo_stroke (cr);

  /* Rows down to the footer's rule, one row kept for the "and N more" line when needed. */
  gsize max_rows = (gsize)((FOOTER_Y - 4 - y) / ROW_H);
  if (report->n_findings > max_rows && max_rows > 0)
    max_rows--;
  for (gsize i = 0; i < report->n_findings && i < max_rows; i++, y += ROW_H)
    {
      const HlReportFinding *f = &report->findings[order[i]];
      gboolean has_op = !isnan (f->threshold);
      gboolean above = has_op && f->score >= f->threshold;
      if (i % 2 == 1)
        {
          cairo_set_source_rgb (cr, 0.95, 0.95, 0.95);
          cairo_rectangle (cr, MARGIN, y - 2, CONTENT_W, ROW_H);
          cairo_fill (cr);
        }
      char num[32];
      g_snprintf (num, sizeof num, "%" G_GSIZE_FORMAT, i + 1);
      cairo_set_source_rgb (cr, 0, 0, 0);
      hl_render_set_font (cr, 8.5, above);
      hl_render_text (cr, x_rank, y, 0, 0, num);
      double w_label = x_score - x_label - 40;
      if (f->weak)
        {
          w_label -= w_weak;
          cairo_save (cr);
          cairo_set_source_rgb (cr, 0.75, 0.4, 0.0);
          hl_render_set_font (cr, 7, TRUE);
          hl_render_text (cr, x_label + w_label + 2, y + 1, 0, 0, "weak");
          cairo_restore (cr);
          any_weak = TRUE;
        }
      hl_render_text_fitted (cr, x_label, y, 0, 0, f->label != NULL ? f->label : "?", w_label);
      hl_render_text (cr, x_score, y, 1, 0, hl_render_format_number (f->score, 3, num, sizeof num));

      hl_render_score_bar (cr, x_bar, y + 1, w_bar, ROW_H - 6, f->score, f->threshold,
                           &score_bar_style);
      cairo_set_source_rgb (cr, 0, 0, 0);
      hl_render_text (cr, x_op, y, 1, 0,
                      hl_render_format_threshold (f->threshold, 3, num, sizeof num));
      if (above)
        cairo_set_source_rgb (cr, 0.65, 0.0, 0.0);
      else
        cairo_set_source_rgb (cr, 0.4, 0.4, 0.4);
      hl_render_text (cr, x_call, y, 0, 0, !has_op ? "no op. point" : above ? "above" : "below");
    }
  if (report->n_findings > max_rows)
    {
      g_autofree char *more
          = g_strdup_printf ("\u2026 and %" G_GSIZE_FORMAT " more", report->n_findings - max_rows);
      cairo_set_source_rgb (cr, 0.3, 0.3, 0.3);
      hl_render_set_font (cr, 8, FALSE);
      hl_render_text (cr, x_label, y, 0, 0, more);
    }
  return any_weak;
}

static void
draw_footer (cairo_t *cr, const HlReport *report, gboolean any_weak)
{
  double y = FOOTER_Y;
  cairo_set_source_rgb (cr, 0.6, 0.6, 0.6);
  cairo_set_line_width (cr, 0.6);
  cairo_move_to (cr, MARGIN, y);
  cairo_line_to (cr, HL_REPORT_WIDTH - MARGIN, y);
  cairo_stroke (cr);
  cairo_set_source_rgb (cr, 0.25, 0.25, 0.25);
  hl_render_set_font (cr, 7.5, FALSE);
  g_autofree char *model = g_strdup_printf (
      "Model %s, version %s. Bars: score from 0 to 1; black tick: the model's operating point "
      "for that finding.",
      or_unknown (report->model_name), or_unknown (report->model_version));
  hl_render_text_fitted (cr, MARGIN, y + 6, 0, 0, model, CONTENT_W);
  if (report->intended_use != NULL && *report->intended_use != '\0')
    {
      g_autofree char *use = g_strdup_printf ("Intended use: %s", report->intended_use);
      hl_render_text_fitted (cr, MARGIN, y + 17, 0, 0, use, CONTENT_W);
    }
  cairo_set_source_rgb (cr, 0.75, 0.0, 0.0);
  hl_render_set_font (cr, 8.5, TRUE);
  hl_render_text_fitted (cr, MARGIN, y + 32, 0, 0, disclaimer, CONTENT_W);
  if (any_weak)
    {
      g_autofree char *weak = g_strdup_printf (
          "weak: the model's validation AUROC for that finding is below %g; do not rely on it.",
          HL_REPORT_WEAK_AUROC);
      cairo_set_source_rgb (cr, 0.75, 0.4, 0.0);
      hl_render_set_font (cr, 7.5, FALSE);
      hl_render_text_fitted (cr, MARGIN, y + 46, 0, 0, weak, CONTENT_W);
    }
}

void
hl_report_draw (cairo_t *cr, const HlReport *report)
{
  g_return_if_fail (cr != NULL && report != NULL);
  g_return_if_fail (report->pixels != NULL && report->width > 0 && report->height > 0);
  g_return_if_fail (report->findings != NULL || report->n_findings == 0);

  cairo_surface_t *gray
      = hl_render_gray_surface_new (report->pixels, report->width, report->height, 0.0, 1.0);
  if (cairo_surface_status (gray) != CAIRO_STATUS_SUCCESS)
    {
      cairo_surface_destroy (gray);
      return;
    }
  g_autofree gsize *order = g_new (gsize, MAX (report->n_findings, 1));
  for (gsize i = 0; i < report->n_findings; i++)
    order[i] = i;
  g_qsort_with_data (order, (gint)report->n_findings, sizeof *order, compare_rank,
                     (gpointer)report->findings);

  cairo_save (cr);
  cairo_rectangle (cr, 0, 0, HL_REPORT_WIDTH, HL_REPORT_HEIGHT);
  cairo_clip (cr);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  draw_header (cr, report);
  draw_heatmaps (cr, report, gray, order);
  draw_footer (cr, report, draw_findings (cr, report, order));
  cairo_restore (cr);
  cairo_surface_destroy (gray);
}

static void
draw_report_page (cairo_t *cr, double width, double height, gpointer user_data)
{
  hl_report_draw (cr, user_data);
}

gboolean
hl_report_write_png (const HlReport *report, const char *path, double scale, GError **error)
{
  g_return_val_if_fail (report != NULL && report->pixels != NULL, FALSE);
  return hl_render_write_png (path, report->source_path, HL_REPORT_WIDTH, HL_REPORT_HEIGHT, scale,
                              draw_report_page, (gpointer)report, error);
}

gboolean
hl_report_write_pdf (const HlReport *report, const char *path, GError **error)
{
  g_return_val_if_fail (report != NULL && report->pixels != NULL, FALSE);
  return hl_render_write_pdf (path, report->source_path, HL_REPORT_WIDTH, HL_REPORT_HEIGHT,
                              draw_report_page, (gpointer)report, error);
}
