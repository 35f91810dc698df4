/* hl-report.h — the one-page report of one image: the X-ray with the selected Grad-CAM heatmaps
 * over it and a colorbar, the findings ranked by score against their operating points, the
 * patient and image identifiers, the model's name and version, the date, and a visible "Not for
 * diagnostic use" line. Drawn on any cairo_t (an A4 page of HL_REPORT_WIDTH x HL_REPORT_HEIGHT
 * user units, i.e. points) and written as PNG or PDF atomically.
 *
 * Layout: the top-ranked selected heatmap over the large image; up to four further selected
 * heatmaps as thumbnails beside it; the table of all findings below, weak ones marked, with a
 * footnote saying what weak means when any is.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "hl-overlay.h"

G_BEGIN_DECLS

#define HL_REPORT_WIDTH 595.0 /* A4 portrait, points */
#define HL_REPORT_HEIGHT 842.0
#define HL_REPORT_MAX_THUMBNAILS 4
/* A finding whose validation AUROC is below this is weak: marked so on the page. */
#define HL_REPORT_WEAK_AUROC 0.7
/* The square the main image is fitted into (aspect kept, centred, black around it). */
#define HL_REPORT_IMAGE_X 36.0
#define HL_REPORT_IMAGE_Y 140.0
#define HL_REPORT_IMAGE_SIDE 300.0

/* One finding. Borrowed pointers. */
typedef struct
{
  const char *label; /* finding name */
  double score;      /* model probability in [0, 1] */
  double threshold;  /* its operating point on the probability; NaN when none */
  const float *map;  /* (map_h, map_w) Grad-CAM map, any non-negative units; NULL for none */
  int map_w, map_h;
  gboolean show_map; /* lay this finding's map over the image (needs @map) */
  gboolean weak;     /* the model is unreliable for it (validation AUROC below
                      * HL_REPORT_WEAK_AUROC): the page marks its row "weak" */
} HlReportFinding;

/* The colours of a score bar, RGBA in [0, 1]. */
typedef struct
{
  double track[4]; /* the whole 0..1 range behind the bar */
  double below[4]; /* the bar of a score below its operating point, or without one */
  double above[4]; /* the bar of a score at or above its operating point */
  double tick[4];  /* the operating point's tick */
  double tick_width;
} HlScoreBarStyle;

/* Draws one finding's score bar in the rectangle (x, y, width, height): the track, a bar from 0
 * to @score (clamped to [0, 1]; none when NaN) in style->above when @score >= @threshold and
 * style->below otherwise, and, unless @threshold is NaN, a vertical tick at @threshold (clamped)
 * that reaches 2 units above and below the rectangle. The report's findings table and the
 * viewer's sidebar draw their bars with it. */
void hl_render_score_bar (cairo_t *cr, double x, double y, double width, double height,
                          double score, double threshold, const HlScoreBarStyle *style);

/* Everything on the page. Borrowed pointers; NULL strings print as "unknown". */
typedef struct
{
  const float *pixels; /* (height, width) grayscale in [0, 1], as decoded */
  int width, height;
  const char *source_path; /* the image file: named on the page and never overwritten */
  const char *patient_id;
  const char *study_date; /* YYYYMMDD as in the file, printed YYYY-MM-DD */
  const char *view_position;
  const char *model_name;
  const char *model_version;
  const char *intended_use; /* the model card's line; may be NULL */
  const char *created;      /* date printed on the page; NULL prints the current local time */
  gsize n_findings;
  const HlReportFinding *findings; /* (n_findings), any order: the page ranks them by score */
  HlOverlayStyle overlay;          /* colormap, opacity, threshold, value range of the heatmaps */
  gboolean scale_each_map;         /* TRUE: each map's range is [overlay.vmin, its own maximum] */
  /* The network layer the maps were computed at, named in the main heatmap's caption ("Grad-CAM
   * at denseblock3: ..."); NULL names none. */
  const char *heatmap_layer;
} HlReport;

/* Fills @report with no image, no findings, the default overlay style, per-map scaling and no
 * heatmap layer named. */
void hl_report_init (HlReport *report);

/* Draws the page on @cr: white background and content in (0, 0, HL_REPORT_WIDTH,
 * HL_REPORT_HEIGHT) of @cr's user space (scale @cr to fit a widget). Leaves @cr's state as it
 * was. @report needs pixels, width and height. */
void hl_report_draw (cairo_t *cr, const HlReport *report);

/* Writes the page as a PNG of ceil (HL_REPORT_WIDTH * scale) x ceil (HL_REPORT_HEIGHT * scale)
 * pixels (scale 2 gives 1190 x 1684, 144 dpi), atomically (hl_render_write_atomic); refuses
 * (HL_RENDER_ERROR_SAME_AS_SOURCE) to write over @report's source_path. */
gboolean hl_report_write_png (const HlReport *report, const char *path, double scale,
                              GError **error);

/* The same as a one-page A4 PDF (vector text and charts, the image embedded). */
gboolean hl_report_write_pdf (const HlReport *report, const char *path, GError **error);

G_END_DECLS
