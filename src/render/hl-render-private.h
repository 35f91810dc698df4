/* hl-render-private.h — text and layout helpers shared by the render module's drawings. */
#pragma once

#include <cairo.h>
#include <glib.h>

/* Where the anchor point sits on the text's box: 0 = left/top, 0.5 = centre, 1 = right/bottom
 * (vertical alignment uses the font's ascent and descent, so lines of one size line up). */
void hl_render_text (cairo_t *cr, double x, double y, double halign, double valign,
                     const char *text);

/* A new copy of @text cut to fit @max_width user units in the current font, with an ellipsis
 * when cut. */
char *hl_render_text_fit (cairo_t *cr, const char *text, double max_width);

/* hl_render_text() of @text cut to fit @max_width. */
void hl_render_text_fitted (cairo_t *cr, double x, double y, double halign, double valign,
                            const char *text, double max_width);

/* Width of @text in the current font, in user units. */
double hl_render_text_width (cairo_t *cr, const char *text);

/* Selects the sans-serif face, normal or bold, at @size user units. */
void hl_render_set_font (cairo_t *cr, double size, gboolean bold);

/* The nominal size of the current font (what cairo_set_font_size() set), in user units. */
double hl_render_get_font_size (cairo_t *cr);

/* Formats a probability or rate for display with @digits decimals; "–" for NaN. Returns a
 * pointer into @buf (size @len). */
const char *hl_render_format_number (double v, int digits, char *buf, gsize len);

/* Formats a score threshold: as hl_render_format_number() with @digits decimals, but with two
 * significant digits below 0.1 (operating points like 0.0023 stay readable). */
const char *hl_render_format_threshold (double v, int digits, char *buf, gsize len);
