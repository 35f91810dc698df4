/* hl-render-text.c — text helpers over cairo's toy text API (no Pango, no GTK). */
#include <glib.h>
#include <math.h>

#include "hl-render-private.h"

void
hl_render_text (cairo_t *cr, double x, double y, double halign, double valign, const char *text)
{
  cairo_text_extents_t te;
  cairo_font_extents_t fe;
  cairo_text_extents (cr, text, &te);
  cairo_font_extents (cr, &fe);
  double baseline = y + fe.ascent - valign * (fe.ascent + fe.descent);
  cairo_move_to (cr, x - halign * te.x_advance, baseline);
  cairo_show_text (cr, text);
  cairo_new_path (cr);
}

char *
hl_render_text_fit (cairo_t *cr, const char *text, double max_width)
{
  if (hl_render_text_width (cr, text) <= max_width)
    return g_strdup (text);
  glong n = g_utf8_strlen (text, -1);
  while (n > 0)
    {
      n--;
      const char *end = g_utf8_offset_to_pointer (text, n);
      char *s = g_strdup_printf ("%.*s\u2026", (int)(end - text), text);
      if (hl_render_text_width (cr, s) <= max_width)
        return s;
      g_free (s);
    }
  return g_strdup ("\u2026");
}

void
hl_render_text_fitted (cairo_t *cr, double x, double y, double halign, double valign,
                       const char *text, double max_width)
{
  char *s = hl_render_text_fit (cr, text, max_width);
  hl_render_text (cr, x, y, halign, valign, s);
  g_free (s);
}

double
hl_render_text_width (cairo_t *cr, const char *text)
{
  cairo_text_extents_t te;
  cairo_text_extents (cr, text, &te);
  return te.x_advance;
}

void
hl_render_set_font (cairo_t *cr, double size, gboolean bold)
{
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL,
                          bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
}

double
hl_render_get_font_size (cairo_t *cr)
{
  cairo_matrix_t fm;
  cairo_get_font_matrix (cr, &fm);
  return hypot (fm.xy, fm.yy);
}

const char *
hl_render_format_number (double v, int digits, char *buf, gsize len)
{
  if (isnan (v))
    g_strlcpy (buf, "\u2013", len);
  else
    {
      char format[8];
      g_snprintf (format, sizeof format, "%%.%df", CLAMP (digits, 0, 9));
      g_ascii_formatd (buf, len, format, v);
    }
  return buf;
}

const char *
hl_render_format_threshold (double v, int digits, char *buf, gsize len)
{
  if (!isnan (v) && v != 0.0 && fabs (v) < 0.1)
    return g_ascii_formatd (buf, len, "%.2g", v);
  return hl_render_format_number (v, digits, buf, len);
}
