/* test-render.c — tests of src/render: colormap tables against the published values (and against
 * matplotlib when Debian's python3-matplotlib is present), the overlay's threshold/opacity math on
 * single pixels and on surfaces at any transform, pinned surface hashes, ROC chart pixels, score
 * bars, the report page as PNG and PDF, and atomic writes that leave nothing behind on failure. */
#include <cairo.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "hl-colormap-private.h"
#include "hl-render.h"
#include "hl-test-bound.h"

/* ---- helpers ---- */

/* r, g, b in [0, 1] of pixel (x, y) of an RGB24/ARGB32 image surface (alpha ignored). */
static void
pixel_rgb (cairo_surface_t *s, int x, int y, double *rgb)
{
  cairo_surface_flush (s);
  const guint8 *data = cairo_image_surface_get_data (s);
  guint32 px = ((const guint32 *)(data + (gsize)y * cairo_image_surface_get_stride (s)))[x];
  rgb[0] = ((px >> 16) & 0xff) / 255.0;
  rgb[1] = ((px >> 8) & 0xff) / 255.0;
  rgb[2] = (px & 0xff) / 255.0;
}

/* SHA-256 of the pixels as bytes A, R, G, B row by row (independent of endianness and stride). */
static char *
surface_sha256 (cairo_surface_t *s)
{
  cairo_surface_flush (s);
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  const guint8 *data = cairo_image_surface_get_data (s);
  int w = cairo_image_surface_get_width (s), h = cairo_image_surface_get_height (s);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guint32 px = ((const guint32 *)(data + (gsize)y * cairo_image_surface_get_stride (s)))[x];
        guint8 b[4] = { px >> 24, (px >> 16) & 0xff, (px >> 8) & 0xff, px & 0xff };
        g_checksum_update (sum, b, 4);
      }
  char *hex = g_strdup (g_checksum_get_string (sum));
  g_checksum_free (sum);
  return hex;
}

static int
count_dir_entries (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  int n = 0;
  while (g_dir_read_name (d) != NULL)
    n++;
  g_dir_close (d);
  return n;
}

static void
remove_dir (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      g_unlink (p);
    }
  if (d != NULL)
    g_dir_close (d);
  g_rmdir (dir);
}

/* A smooth synthetic "X-ray" (h, w): a vertical gradient with a bright disc. */
static float *
make_image (int w, int h)
{
  float *p = g_new (float, (gsize)w *h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double dx = x - w * 0.4, dy = y - h * 0.5;
        double disc = dx * dx + dy * dy < (w * 0.2) * (w * 0.2) ? 0.35 : 0.0;
        p[(gsize)y * w + x] = (float)(0.1 + 0.5 * y / (double)h + disc);
      }
  return p;
}

/* A Gaussian bump (h, w) peaking at 2.0 at (cx, cy) (fractions of the size). */
static float *
make_map (int w, int h, double cx, double cy)
{
  float *m = g_new (float, (gsize)w *h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double dx = (x + 0.5) / w - cx, dy = (y + 0.5) / h - cy;
        m[(gsize)y * w + x] = (float)(2.0 * exp (-(dx * dx + dy * dy) / 0.02));
      }
  return m;
}

/* ---- colormaps ---- */

static void
test_colormap_published (void)
{
  /* Entries of the published tables (BIDS/colormap, _viridis_data / _inferno_data). */
  static const struct
  {
    HlColormap cmap;
    int index;
    double rgb[3];
  } known[] = {
    { HL_COLORMAP_VIRIDIS, 0, { 0.267004, 0.004874, 0.329415 } },
    { HL_COLORMAP_VIRIDIS, 128, { 0.127568, 0.566949, 0.550556 } },
    { HL_COLORMAP_VIRIDIS, 255, { 0.993248, 0.906157, 0.143936 } },
    { HL_COLORMAP_INFERNO, 0, { 0.001462, 0.000466, 0.013866 } },
    { HL_COLORMAP_INFERNO, 128, { 0.735683, 0.215906, 0.330245 } },
    { HL_COLORMAP_INFERNO, 255, { 0.988362, 0.998364, 0.644924 } },
    { HL_COLORMAP_JET, 0, { 0.0, 0.0, 0.5 } },
    { HL_COLORMAP_JET, 255, { 0.5, 0.0, 0.0 } },
    { HL_COLORMAP_GRAY, 51, { 0.2, 0.2, 0.2 } },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (known); i++)
    {
      /* the same decimal literals as the tables', read into the same doubles: equal */
      const double *e = hl_colormap_get_entry (known[i].cmap, known[i].index);
      for (int c = 0; c < 3; c++)
        g_assert_cmpfloat (e[c], ==, known[i].rgb[c]);
    }
  /* jet is green in the middle, as everyone knows it. */
  double mid[3];
  hl_colormap_lookup (HL_COLORMAP_JET, 0.5, mid);
  g_assert_cmpfloat (mid[1], >, 0.9);

  /* floor (t * 256), clamped; NaN and negatives at 0. */
  double rgb[3];
  hl_colormap_lookup (HL_COLORMAP_VIRIDIS, 0.5, rgb);
  g_assert_cmpfloat (rgb[0], ==, hl_colormap_viridis_data[128][0]);
  hl_colormap_lookup (HL_COLORMAP_VIRIDIS, 0.5 - 1e-9, rgb);
  g_assert_cmpfloat (rgb[0], ==, hl_colormap_viridis_data[127][0]);
  hl_colormap_lookup (HL_COLORMAP_VIRIDIS, 1.0, rgb);
  g_assert_cmpfloat (rgb[2], ==, hl_colormap_viridis_data[255][2]);
  hl_colormap_lookup (HL_COLORMAP_VIRIDIS, 7.0, rgb);
  g_assert_cmpfloat (rgb[2], ==, hl_colormap_viridis_data[255][2]);
  hl_colormap_lookup (HL_COLORMAP_INFERNO, NAN, rgb);
  g_assert_cmpfloat (rgb[2], ==, hl_colormap_inferno_data[0][2]);
  hl_colormap_lookup (HL_COLORMAP_INFERNO, -3.0, rgb);
  g_assert_cmpfloat (rgb[2], ==, hl_colormap_inferno_data[0][2]);
}

/* Perceptual uniformity is what viridis and inferno are for: their lightness rises monotonically
 * (checked on the Rec. 709 luma of the linearised table, a proxy for CIE L*). */
static void
test_colormap_monotone (void)
{
  HlColormap maps[2] = { HL_COLORMAP_VIRIDIS, HL_COLORMAP_INFERNO };
  for (int m = 0; m < 2; m++)
    {
      double prev = -1;
      for (int i = 0; i < HL_COLORMAP_SIZE; i++)
        {
          const double *e = hl_colormap_get_entry (maps[m], i);
          double lin[3];
          for (int c = 0; c < 3; c++)
            lin[c] = e[c] <= 0.04045 ? e[c] / 12.92 : pow ((e[c] + 0.055) / 1.055, 2.4);
          double y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
          g_assert_cmpfloat (y, >, prev);
          prev = y;
        }
    }
}

static void
test_colormap_matplotlib (void)
{
  const char *tools = g_getenv ("HL_TOOLS");
  if (tools == NULL || !g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("HL_TOOLS or /usr/bin/python3 missing: cannot compare with matplotlib");
      return;
    }
  g_autofree char *script = g_build_filename (tools, "gen-colormaps.py", NULL);
  for (int m = 0; m < HL_N_COLORMAPS; m++)
    {
      const char *argv[] = { "/usr/bin/python3", script, "--dump", hl_colormap_get_name (m), NULL };
      g_autofree char *out = NULL, *err = NULL;
      int status = 0;
      g_autoptr (GError) error = NULL;
      gboolean ok = g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                                  &err, &status, &error);
      g_assert_no_error (error);
      g_assert_true (ok);
      if (!g_spawn_check_wait_status (status, NULL))
        {
          g_test_skip_printf ("matplotlib not usable (install python3-matplotlib): %s", err);
          return;
        }
      g_auto (GStrv) lines = g_strsplit (g_strstrip (out), "\n", -1);
      g_assert_cmpuint (g_strv_length (lines), ==, HL_COLORMAP_SIZE);
      for (int i = 0; i < HL_COLORMAP_SIZE; i++)
        {
          g_auto (GStrv) f = g_strsplit (lines[i], " ", -1);
          g_assert_cmpuint (g_strv_length (f), ==, 3);
          const double *e = hl_colormap_get_entry (m, i);
          for (int c = 0; c < 3; c++)
            g_assert_cmpfloat (e[c], ==, g_ascii_strtod (f[c], NULL));
        }
    }
}

static void
test_colormap_names (void)
{
  HlColormap c = HL_COLORMAP_GRAY;
  g_assert_true (hl_colormap_from_name ("Viridis", &c));
  g_assert_cmpint (c, ==, HL_COLORMAP_VIRIDIS);
  g_assert_true (hl_colormap_from_name ("jet", &c));
  g_assert_cmpint (c, ==, HL_COLORMAP_JET);
  g_assert_false (hl_colormap_from_name ("rainbow", &c));
  g_assert_cmpint (c, ==, HL_COLORMAP_JET);
  for (int m = 0; m < HL_N_COLORMAPS; m++)
    {
      g_assert_true (hl_colormap_from_name (hl_colormap_get_name (m), &c));
      g_assert_cmpint (c, ==, m);
    }
}

/* ---- overlay ---- */

static void
test_overlay_pixel (void)
{
  HlOverlayStyle st;
  hl_overlay_style_init (&st);
  st.cmap = HL_COLORMAP_VIRIDIS;
  st.opacity = 0.25;
  st.threshold = 0.3;
  st.vmin = 1.0;
  st.vmax = 3.0;
  double rgb[3];

  /* t = (1.5 - 1) / 2 = 0.25 < 0.3: the gray shows through untouched. */
  hl_overlay_blend_pixel (&st, 0.4, 1.5, rgb);
  for (int c = 0; c < 3; c++)
    g_assert_cmpfloat (rgb[c], ==, 0.4);
  /* t = 0.5: entry 128 at a quarter. Both sides are two products and a sum in double (gamma_2
   * of the terms each, FMA contraction or not); 1 - 0.25 is exact. */
  hl_overlay_blend_pixel (&st, 0.4, 2.0, rgb);
  const double entry[3] = { 0.127568, 0.566949, 0.550556 };
  for (int c = 0; c < 3; c++)
    hl_test_assert_close ("blend of entry 128", rgb[c], 0.75 * 0.4 + 0.25 * entry[c],
                          2 * hl_test_gamma_double (2) * (0.75 * 0.4 + 0.25 * entry[c]));
  /* Exactly at the threshold (t = 0.3): shown. */
  g_assert_cmpfloat (hl_overlay_normalize (&st, 1.6), ==, (1.6 - 1.0) / 2.0);
  hl_overlay_blend_pixel (&st, 0.0, 1.6, rgb);
  g_assert_cmpfloat (rgb[0], >, 0.0);
  /* Beyond vmax clamps to the last entry; opacity 1 hides the gray. */
  st.opacity = 1.0;
  hl_overlay_blend_pixel (&st, 0.9, 100.0, rgb);
  g_assert_cmpfloat (rgb[2], ==, 0.143936);
  /* Opacity 0 never changes the image. */
  st.opacity = 0.0;
  hl_overlay_blend_pixel (&st, 0.7, 2.5, rgb);
  g_assert_cmpfloat (rgb[1], ==, 0.7);
  /* NaN and values below vmin normalise to 0. */
  g_assert_cmpfloat (hl_overlay_normalize (&st, NAN), ==, 0.0);
  g_assert_cmpfloat (hl_overlay_normalize (&st, -5.0), ==, 0.0);
  float map[4] = { 0.5f, NAN, 3.0f, INFINITY };
  g_assert_cmpfloat (hl_overlay_map_max (map, 4), ==, 3.0);
}

/* The bound of an 8-bit OVER of the heatmap's entry @c at @style's opacity onto the 8-bit gray
 * @g8 against hl_overlay_blend_pixel(), in units of 1/255: the alpha A = to_byte (opacity) is off
 * 255 opacity by d <= 0.5, which moves c A + g8 (255 - A) by |c - g8| d; the premultiplied
 * lround (c A) by 0.5; pixman's correctly rounded g8 (255 - A) / 255 by 0.5; then the double
 * reference's three operations. */
static double
overlay_pixel_bound (const HlOverlayStyle *style, double c, double g8)
{
  double a = style->opacity >= 1.0 ? 255.0 : (double) lround (style->opacity * 255.0);
  return (1.0 + fabs (c - g8) * fabs (a - 255.0 * style->opacity)) / 255.0
         + 3 * HL_TEST_U_DOUBLE;
}

/* The gray surface, the heatmap surface painted OVER it at 1:1 with NEAREST, and under a 3x
 * zoom with a translation, all match hl_overlay_blend_pixel() within overlay_pixel_bound. */
static void
test_overlay_surface (void)
{
  const int w = 9, h = 7;
  float gray[9 * 7], map[9 * 7];
  for (int i = 0; i < w * h; i++)
    {
      gray[i] = (float)((i * 37 % 101) / 100.0);
      map[i] = (float)((i * 53 % 97) / 96.0 * 1.2 - 0.1); /* spans below 0 and above 1 */
    }
  HlColormap cmaps[3] = { HL_COLORMAP_INFERNO, HL_COLORMAP_JET, HL_COLORMAP_VIRIDIS };
  double opacities[3] = { 0.5, 1.0, 0.3 }, thresholds[3] = { 0.2, 0.0, 0.7 };
  HlTestBounded b = HL_TEST_BOUNDED_INIT ("overlay surface against hl_overlay_blend_pixel");
  for (int k = 0; k < 3; k++)
    for (int zoom = 1; zoom <= 3; zoom += 2)
      {
        HlOverlayStyle st = { cmaps[k], opacities[k], thresholds[k], 0.0, 1.0 };
        const int off = 5;
        cairo_surface_t *out
            = cairo_image_surface_create (CAIRO_FORMAT_RGB24, off + w * zoom, off + h * zoom);
        cairo_t *cr = cairo_create (out);
        cairo_translate (cr, off, off);
        cairo_scale (cr, zoom, zoom);
        cairo_surface_t *g = hl_render_gray_surface_new (gray, w, h, 0.0, 1.0);
        hl_render_draw_surface (cr, g, 0, 0, w, h, CAIRO_FILTER_NEAREST);
        cairo_surface_t *heat = hl_render_heatmap_surface_new (map, w, h, &st);
        hl_render_draw_surface (cr, heat, 0, 0, w, h, CAIRO_FILTER_NEAREST);
        g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
        cairo_destroy (cr);
        for (int y = 0; y < h; y++)
          for (int x = 0; x < w; x++)
            {
              double want[3], got[3], entry[3];
              /* The gray is quantised to 8 bits before blending, as on screen. */
              double g8 = round (gray[y * w + x] * 255.0) / 255.0;
              hl_overlay_blend_pixel (&st, g8, map[y * w + x], want);
              hl_colormap_lookup (st.cmap, hl_overlay_normalize (&st, map[y * w + x]), entry);
              pixel_rgb (out, off + x * zoom + zoom / 2, off + y * zoom + zoom / 2, got);
              for (int c = 0; c < 3; c++)
                hl_test_bounded_check (&b, got[c], want[c],
                                       overlay_pixel_bound (&st, entry[c], g8));
            }
        cairo_surface_destroy (g);
        cairo_surface_destroy (heat);
        cairo_surface_destroy (out);
      }
  hl_test_bounded_end (&b);
}

/* Below the threshold the heatmap surface is fully transparent (alpha 0), elsewhere its alpha is
 * the opacity; the bytes are pinned by hash so any change to the colour math is noticed. */
static void
test_overlay_pinned (void)
{
  const int w = 32, h = 24;
  g_autofree float *map = make_map (w, h, 0.6, 0.4);
  g_autofree float *img = make_image (w, h);
  HlOverlayStyle st = { HL_COLORMAP_INFERNO, 0.6, 0.25, 0.0, 2.0 };
  cairo_surface_t *heat = hl_render_heatmap_surface_new (map, w, h, &st);
  cairo_surface_flush (heat);
  const guint8 *data = cairo_image_surface_get_data (heat);
  int stride = cairo_image_surface_get_stride (heat);
  int shown = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guint32 px = ((const guint32 *)(data + (gsize)y * stride))[x];
        gboolean visible = hl_overlay_normalize (&st, map[y * w + x]) >= st.threshold;
        g_assert_cmpuint (px >> 24, ==, visible ? 153 : 0); /* round (0.6 * 255) */
        if (!visible)
          g_assert_cmpuint (px, ==, 0);
        shown += visible;
      }
  g_assert_cmpint (shown, >, 0);
  g_assert_cmpint (shown, <, w * h);
  g_autofree char *heat_hash = surface_sha256 (heat);
  cairo_surface_t *gray = hl_render_gray_surface_new (img, w, h, 0.1, 0.9);
  g_autofree char *gray_hash = surface_sha256 (gray);
  g_test_message ("heatmap %s gray %s", heat_hash, gray_hash);
  g_assert_cmpstr (heat_hash, ==,
                   "9090d0ed4716bae2131ad1ef99c05dc5339fc8ca36a1282655af2e82694e6179");
  g_assert_cmpstr (gray_hash, ==,
                   "6105801c153e6c7e1180e83dd1ba79e2360e74c92618b4ca54a6a82b7cefb2fe");
  cairo_surface_destroy (heat);
  cairo_surface_destroy (gray);
}

/* Window/level: low maps to black, high to white, values outside clamp. */
static void
test_overlay_gray_window (void)
{
  float px[4] = { 0.2f, 0.6f, 1.0f, -0.5f };
  cairo_surface_t *s = hl_render_gray_surface_new (px, 4, 1, 0.2, 0.6);
  double rgb[3];
  pixel_rgb (s, 0, 0, rgb);
  g_assert_cmpfloat (rgb[0], ==, 0.0);
  pixel_rgb (s, 1, 0, rgb);
  g_assert_cmpfloat (rgb[0], ==, 1.0);
  pixel_rgb (s, 2, 0, rgb);
  g_assert_cmpfloat (rgb[1], ==, 1.0);
  pixel_rgb (s, 3, 0, rgb);
  g_assert_cmpfloat (rgb[2], ==, 0.0);
  cairo_surface_destroy (s);
}

/* A coarse 7x7 map under hl_render_overlay at an arbitrary transform: where the map is zero the
 * image is untouched, at its peak the colour is the colormap's top blended at the opacity. */
static void
test_overlay_transform (void)
{
  const int iw = 70, ih = 70;
  float gray[70 * 70], map[7 * 7] = { 0 };
  for (int i = 0; i < iw * ih; i++)
    gray[i] = 0.5f;
  map[3 * 7 + 3] = 1.0f; /* peak in the centre cell */
  HlOverlayStyle st = { HL_COLORMAP_JET, 0.5, 0.5, 0.0, 1.0 };
  cairo_surface_t *out = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 200, 200);
  cairo_t *cr = cairo_create (out);
  cairo_translate (cr, 100, 100);
  cairo_rotate (cr, G_PI / 2);
  cairo_scale (cr, 2.0, 2.0);
  cairo_translate (cr, -iw / 2.0, -ih / 2.0);
  cairo_surface_t *g = hl_render_gray_surface_new (gray, iw, ih, 0.0, 1.0);
  hl_render_draw_surface (cr, g, 0, 0, iw, ih, CAIRO_FILTER_GOOD);
  hl_render_overlay (cr, map, 7, 7, iw, ih, &st);
  cairo_destroy (cr);
  double rgb[3], want[3];
  /* Image centre = map peak; the pixel centre is half a device pixel (1/40 of a map cell) off
   * the peak, so bilinear interpolation mixes in 2.5% of the transparent neighbour. */
  pixel_rgb (out, 100, 100, rgb);
  hl_overlay_blend_pixel (&st, 128 / 255.0, 1.0, want);
  for (int c = 0; c < 3; c++)
    g_assert_cmpfloat (fabs (rgb[c] - want[c]), <=, 4.0 / 255.0);
  pixel_rgb (out, 100 + 60, 100 - 55, rgb); /* a corner cell of the map: zero there */
  for (int c = 0; c < 3; c++)
    g_assert_cmpfloat (fabs (rgb[c] - 128 / 255.0), <=, 1.0 / 255.0);
  pixel_rgb (out, 10, 10, rgb); /* outside the rotated image: nothing drawn */
  g_assert_cmpfloat (rgb[0], ==, 0.0);
  cairo_surface_destroy (g);
  cairo_surface_destroy (out);
}

static void
test_overlay_colorbar (void)
{
  HlOverlayStyle st = { HL_COLORMAP_VIRIDIS, 0.5, 0.25, 0.0, 1.0 };
  cairo_surface_t *out = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 120, 300);
  cairo_t *cr = cairo_create (out);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  hl_render_colorbar (cr, 20, 22, 20, 256, &st, "Grad-CAM");
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  /* Top of a vertical bar is vmax (last entry), 3/4 down is 0.25 (entry 64), opaque colours. */
  double rgb[3];
  pixel_rgb (out, 30, 24, rgb);
  for (int c = 0; c < 3; c++)
    g_assert_cmpfloat (fabs (rgb[c] - hl_colormap_viridis_data[254][c]), <=, 0.02);
  pixel_rgb (out, 30, 22 + 256 - 70, rgb);
  for (int c = 0; c < 3; c++)
    g_assert_cmpfloat (fabs (rgb[c] - hl_colormap_viridis_data[70][c]), <=, 0.02);
  /* Below the threshold: hatched gray, i.e. r == g == b. */
  pixel_rgb (out, 30, 22 + 256 - 20, rgb);
  g_assert_cmpfloat (rgb[0], ==, rgb[1]);
  g_assert_cmpfloat (rgb[1], ==, rgb[2]);
  cairo_surface_destroy (out);
}

/* ---- ROC chart ---- */

static gboolean
is_close_rgb (const double *rgb, double r, double g, double b, double tol)
{
  return fabs (rgb[0] - r) <= tol && fabs (rgb[1] - g) <= tol && fabs (rgb[2] - b) <= tol;
}

static void
test_roc_chart (void)
{
  static const double fa[] = { 0.0, 0.25, 1.0 }, ta[] = { 0.0, 0.75, 1.0 };
  static const double fb[] = { 0.0, 0.5, 1.0 }, tb[] = { 0.0, 0.95, 1.0 };
  HlRocSeries a, b;
  hl_roc_series_init (&a);
  hl_roc_series_init (&b);
  a.label = "Cardiomegaly";
  a.model = "model A";
  a.n_points = 3, a.fpr = fa, a.tpr = ta;
  a.auroc = 0.75, a.ci_low = 0.70, a.ci_high = 0.80;
  a.op_fpr = 0.25, a.op_tpr = 0.75, a.op_threshold = 0.4;
  a.n_positive = 10, a.n_negative = 30;
  b.model = "model B";
  b.n_points = 3, b.fpr = fb, b.tpr = tb;
  b.auroc = 0.725;

  cairo_surface_t *out = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 400, 420);
  cairo_t *cr = cairo_create (out);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  cairo_set_font_size (cr, 12);
  double px, py, side;
  g_assert_true (hl_render_roc_plot_area (cr, 0, 0, 400, 420, &a, &b, &px, &py, &side));
  g_assert_cmpfloat (side, >, 250);
  g_assert_cmpfloat (px, >=, 0);
  g_assert_cmpfloat (px + side, <=, 400);
  hl_render_roc (cr, 0, 0, 400, 420, &a, &b);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
#define AT(f, t, rgb) pixel_rgb (out, (int)(px + (f)*side), (int)(py + (1 - (t)) * side), rgb)
  double rgb[3];
  AT (0.125, 0.375, rgb); /* on curve A's first segment: blue */
  g_assert_true (is_close_rgb (rgb, 0.122, 0.467, 0.706, 0.08));
  AT (0.25 + 0.75 * 0.3, 0.75 + 0.25 * 0.3, rgb); /* on curve A's second segment */
  g_assert_true (is_close_rgb (rgb, 0.122, 0.467, 0.706, 0.08));
  AT (0.15, 0.285, rgb); /* on curve B's first segment (0.3 of the way): orange */
  g_assert_true (is_close_rgb (rgb, 1.0, 0.498, 0.055, 0.08));
  AT (0.25, 0.75, rgb); /* the operating point's filled marker */
  g_assert_true (is_close_rgb (rgb, 0.122, 0.467, 0.706, 0.08));
  AT (0.6, 0.6, rgb); /* the dashed diagonal, or the gap between dashes */
  g_assert_true (rgb[0] == rgb[1] && rgb[1] == rgb[2] && rgb[0] < 0.98 + 0.02);
  AT (0.3, 0.05, rgb); /* below both curves, outside the legend: background or grid */
  g_assert_true (rgb[0] == rgb[1] && rgb[1] == rgb[2]);
  pixel_rgb (out, (int)(px + side) + 2, 2, rgb); /* top right margin: white */
  g_assert_true (is_close_rgb (rgb, 1, 1, 1, 0));
#undef AT
  cairo_surface_destroy (out);
}

static void
test_roc_grid_png (void)
{
  g_autofree char *dir = g_dir_make_tmp ("hl-render-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "roc.png", NULL);
  static const double f[] = { 0.0, 0.1, 0.4, 1.0 }, t[] = { 0.0, 0.5, 0.9, 1.0 };
  static const double chance[] = { 0.0, 1.0 };
  HlRocSeries a[14], b[14];
  char *names[14];
  for (int i = 0; i < 14; i++)
    {
      hl_roc_series_init (&a[i]);
      hl_roc_series_init (&b[i]);
      names[i] = g_strdup_printf ("Finding %d", i + 1);
      a[i].label = names[i];
      a[i].n_points = i == 13 ? 0 : 4; /* the last label has one class only */
      a[i].fpr = f, a[i].tpr = t;
      a[i].auroc = i == 13 ? NAN : 0.8;
      a[i].op_fpr = 0.1, a[i].op_tpr = 0.5;
      b[i].n_points = 2;
      b[i].fpr = chance;
      b[i].tpr = chance;
      b[i].auroc = 0.5;
    }
  g_autoptr (GError) error = NULL;
  g_assert_true (hl_roc_grid_write_png (path, a, b, 14, 0, 1200, 900, &error));
  g_assert_no_error (error);
  cairo_surface_t *png = cairo_image_surface_create_from_png (path);
  g_assert_cmpint (cairo_surface_status (png), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (png), ==, 1200);
  g_assert_cmpint (cairo_image_surface_get_height (png), ==, 900);
  cairo_surface_destroy (png);
  g_assert_cmpint (count_dir_entries (dir), ==, 1);
  for (int i = 0; i < 14; i++)
    g_free (names[i]);
  remove_dir (dir);
}

/* ---- report ---- */

/* A score bar on a 100x20 white surface: track, bar (coloured by the operating point), tick. */
static void
test_score_bar (void)
{
  static const HlScoreBarStyle style = {
    { 0.8, 0.8, 0.8, 1 }, { 0, 0, 1, 1 }, { 1, 0, 0, 1 }, { 0, 1, 0, 1 }, 2,
  };
  struct
  {
    double score, threshold;
    double bar_rgb[3]; /* the colour at x = 30 */
    gboolean tick;     /* a tick is drawn */
  } cases[] = {
    { 0.5, 0.6, { 0, 0, 1 }, TRUE },
    { 0.5, 0.4, { 1, 0, 0 }, TRUE },
    { 0.5, 0.5, { 1, 0, 0 }, TRUE },
    { 0.5, NAN, { 0, 0, 1 }, FALSE },
    { NAN, 0.5, { 0.8, 0.8, 0.8 }, TRUE },
    { 7.0, 0.5, { 1, 0, 0 }, TRUE },
  };
  for (gsize k = 0; k < G_N_ELEMENTS (cases); k++)
    {
      cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 100, 20);
      cairo_t *cr = cairo_create (s);
      cairo_set_source_rgb (cr, 1, 1, 1);
      cairo_paint (cr);
      hl_render_score_bar (cr, 0, 5, 80, 10, cases[k].score, cases[k].threshold, &style);
      /* @cr's source is as it was. */
      cairo_pattern_t *source = cairo_get_source (cr);
      double r, g, b, a;
      g_assert_cmpint (cairo_pattern_get_rgba (source, &r, &g, &b, &a), ==, CAIRO_STATUS_SUCCESS);
      g_assert_true (r == 1 && g == 1 && b == 1);
      cairo_destroy (cr);
      double rgb[3];
      pixel_rgb (s, 20, 10, rgb); /* inside the bar for a score of 0.5 (40 px) */
      g_assert_true (is_close_rgb (rgb, cases[k].bar_rgb[0], cases[k].bar_rgb[1],
                                   cases[k].bar_rgb[2], 0.01));
      /* The track beyond the score, or the bar of a score clamped to 1. */
      pixel_rgb (s, 70, 10, rgb);
      if (cases[k].score > 1)
        g_assert_true (is_close_rgb (rgb, 1, 0, 0, 0.01));
      else
        g_assert_true (is_close_rgb (rgb, 0.8, 0.8, 0.8, 0.01));
      /* The tick at the threshold (x = 40 for 0.5, 48 for 0.6), 2 px above and below the bar. */
      int tx = isnan (cases[k].threshold) ? 40 : (int) (80 * cases[k].threshold);
      for (int y = 3; y < 17; y += 13)
        {
          pixel_rgb (s, tx, y, rgb);
          g_assert_true (is_close_rgb (rgb, 0, 1, 0, 0.01) == cases[k].tick);
        }
      pixel_rgb (s, 50, 1, rgb); /* nothing outside */
      g_assert_true (is_close_rgb (rgb, 1, 1, 1, 0.0));
      cairo_surface_destroy (s);
    }
}

typedef struct
{
  float *pixels;
  float *maps[3];
  HlReportFinding findings[3];
  HlReport report;
} ReportFixture;

static void
report_fixture_init (ReportFixture *fx, int w, int h)
{
  fx->pixels = make_image (w, h);
  /* Peaks at map cell centres, (i + 0.5) / 7. */
  double centres[3][2] = { { 3.5 / 7, 3.5 / 7 }, { 1.5 / 7, 5.5 / 7 }, { 5.5 / 7, 1.5 / 7 } };
  const char *labels[3] = { "Effusion", "Cardiomegaly", "Nodule" };
  double scores[3] = { 0.31, 0.82, 0.05 }, thresholds[3] = { 0.25, 0.5, NAN };
  for (int i = 0; i < 3; i++)
    {
      fx->maps[i] = make_map (7, 7, centres[i][0], centres[i][1]);
      fx->findings[i]
          = (HlReportFinding){ labels[i], scores[i], thresholds[i], fx->maps[i], 7, 7, i < 2 };
    }
  hl_report_init (&fx->report);
  fx->report.pixels = fx->pixels;
  fx->report.width = w;
  fx->report.height = h;
  fx->report.patient_id = "00003140";
  fx->report.study_date = "20170102";
  fx->report.view_position = "PA";
  fx->report.model_name = "hilum-test";
  fx->report.model_version = "0.0.1";
  fx->report.intended_use = "Research on public data only.";
  fx->report.created = "2026-01-02 03:04";
  fx->report.n_findings = 3;
  fx->report.findings = fx->findings;
  fx->report.overlay.cmap = HL_COLORMAP_JET;
  fx->report.overlay.threshold = 0.5;
}

static void
report_fixture_clear (ReportFixture *fx)
{
  g_free (fx->pixels);
  for (int i = 0; i < 3; i++)
    g_free (fx->maps[i]);
}

static void
test_report_png (void)
{
  ReportFixture fx;
  report_fixture_init (&fx, 64, 64);
  g_autofree char *dir = g_dir_make_tmp ("hl-render-XXXXXX", NULL);
  g_autofree char *src = g_build_filename (dir, "image.png", NULL);
  g_autofree char *p1 = g_build_filename (dir, "report.png", NULL);
  g_autofree char *p2 = g_build_filename (dir, "report2.png", NULL);
  g_assert_true (g_file_set_contents (src, "not really a png", -1, NULL));
  fx.report.source_path = src;
  g_autoptr (GError) error = NULL;
  g_assert_true (hl_report_write_png (&fx.report, p1, 2.0, &error));
  g_assert_no_error (error);
  g_assert_true (hl_report_write_png (&fx.report, p2, 2.0, &error));
  g_assert_no_error (error);

  /* Deterministic: the same report gives the same bytes. */
  g_autofree char *c1 = NULL, *c2 = NULL;
  gsize n1, n2;
  g_assert_true (g_file_get_contents (p1, &c1, &n1, NULL));
  g_assert_true (g_file_get_contents (p2, &c2, &n2, NULL));
  g_assert_cmpmem (c1, n1, c2, n2);

  cairo_surface_t *png = cairo_image_surface_create_from_png (p1);
  g_assert_cmpint (cairo_surface_status (png), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (png), ==, 1190);
  g_assert_cmpint (cairo_image_surface_get_height (png), ==, 1684);
  double rgb[3];
  pixel_rgb (png, 4, 4, rgb); /* margin: white */
  g_assert_true (is_close_rgb (rgb, 1, 1, 1, 0));
  pixel_rgb (png, 2 * 40, 2 * 64, rgb); /* inside the warning band, left of its text: pink */
  g_assert_true (is_close_rgb (rgb, 1.0, 0.92, 0.92, 0.01));
  /* The main image shows the top-ranked selected map (Cardiomegaly, peak at the centre of map
   * cell (1, 5)): there the jet top colour blended at opacity 0.5; in the opposite corner, where
   * the map is below the threshold, plain gray. */
  double s = 2.0 * HL_REPORT_IMAGE_SIDE / 64;
  double fx_peak = 1.5 / 7 * 64, fy_peak = 5.5 / 7 * 64; /* image pixel coordinates */
  pixel_rgb (png, (int)(2.0 * HL_REPORT_IMAGE_X + s * fx_peak),
             (int)(2.0 * HL_REPORT_IMAGE_Y + s * fy_peak), rgb);
  double want[3];
  HlOverlayStyle st = fx.report.overlay;
  st.vmax = hl_overlay_map_max (fx.maps[1], 49);
  double g = round (fx.pixels[(int)fy_peak * 64 + (int)fx_peak] * 255) / 255.0;
  hl_overlay_blend_pixel (&st, g, st.vmax, want);
  g_assert_true (is_close_rgb (rgb, want[0], want[1], want[2], 0.06));
  int ix, iy;
  ix = (int)(2.0 * HL_REPORT_IMAGE_X + s * (0.9 * 64));
  iy = (int)(2.0 * HL_REPORT_IMAGE_Y + s * (0.1 * 64));
  pixel_rgb (png, ix, iy, rgb);
  g = fx.pixels[(int)(0.1 * 64) * 64 + (int)(0.9 * 64)];
  g_assert_true (is_close_rgb (rgb, g, g, g, 0.02));
  cairo_surface_destroy (png);

  /* Nothing but the source and the two reports in the folder. */
  g_assert_cmpint (count_dir_entries (dir), ==, 3);
  report_fixture_clear (&fx);
  remove_dir (dir);
}

static void
test_report_pdf (void)
{
  ReportFixture fx;
  report_fixture_init (&fx, 40, 50);
  g_autofree char *dir = g_dir_make_tmp ("hl-render-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "report.pdf", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (hl_report_write_pdf (&fx.report, path, &error));
  g_assert_no_error (error);
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_cmpuint (len, >, 1000);
  g_assert_true (g_str_has_prefix (data, "%PDF-"));
  g_assert_nonnull (memmem (data + len - 16, 16, "%%EOF", 5)); /* a complete file */
  g_assert_cmpint (count_dir_entries (dir), ==, 1);
  report_fixture_clear (&fx);
  remove_dir (dir);
}

/* Pixels of the "weak" orange in rows @y0..@y1 of @s. */
static int
count_weak_orange (cairo_surface_t *s, int y0, int y1)
{
  int n = 0;
  for (int y = y0; y < y1; y++)
    for (int x = 0; x < cairo_image_surface_get_width (s); x++)
      {
        double rgb[3];
        pixel_rgb (s, x, y, rgb);
        n += rgb[0] > rgb[1] + 0.2 && rgb[1] > rgb[2] + 0.15; /* orange, not red, gray or blue */
      }
  return n;
}

/* A finding marked weak gets an orange "weak" tag in its table row and the page a footnote saying
 * what weak means; without one, neither is drawn. */
static void
test_report_weak (void)
{
  int table_y = 2 * 520, footnote_y = 2 * ((int) HL_REPORT_HEIGHT - 78 + 44); /* at scale 2 */
  int counts[2][2]; /* [weak][table rows, footnote] */

  for (int weak = 0; weak < 2; weak++)
    {
      ReportFixture fx;
      report_fixture_init (&fx, 64, 64);
      fx.findings[2].weak = weak;
      cairo_surface_t *out = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 1190, 1684);
      cairo_t *cr = cairo_create (out);
      cairo_scale (cr, 2, 2);
      hl_report_draw (cr, &fx.report);
      g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
      cairo_destroy (cr);
      counts[weak][0] = count_weak_orange (out, table_y, footnote_y);
      counts[weak][1] = count_weak_orange (out, footnote_y, 1684);
      cairo_surface_destroy (out);
      report_fixture_clear (&fx);
    }
  g_test_message ("orange pixels: table %d / %d, footnote %d / %d (without / with weak)",
                  counts[0][0], counts[1][0], counts[0][1], counts[1][1]);
  g_assert_cmpint (counts[0][0], ==, 0);
  g_assert_cmpint (counts[0][1], ==, 0);
  g_assert_cmpint (counts[1][0], >, 20);
  g_assert_cmpint (counts[1][1], >, 100);
}

/* The report of @fx with the heatmaps' layer named @layer (NULL: none), drawn at scale 2. */
static cairo_surface_t *
draw_report_at_layer (ReportFixture *fx, const char *layer)
{
  fx->report.heatmap_layer = layer;
  cairo_surface_t *out = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 1190, 1684);
  cairo_t *cr = cairo_create (out);
  cairo_scale (cr, 2, 2);
  hl_report_draw (cr, &fx->report);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  cairo_surface_flush (out);
  return out;
}

/* Counts the rows of @a and @b that differ, inside and outside rows @y0..@y1. */
static void
count_changed_rows (cairo_surface_t *a, cairo_surface_t *b, int y0, int y1, int *inside,
                    int *outside)
{
  int stride = cairo_image_surface_get_stride (a);
  const guint8 *da = cairo_image_surface_get_data (a), *db = cairo_image_surface_get_data (b);
  *inside = *outside = 0;
  for (int y = 0; y < cairo_image_surface_get_height (a); y++)
    if (memcmp (da + (gsize)y * stride, db + (gsize)y * stride, (gsize)stride) != 0)
      {
        if (y >= y0 && y < y1)
          (*inside)++;
        else
          (*outside)++;
      }
}

/* The heatmap's caption names the layer its maps come from, and nothing else on the page
 * changes with it. */
static void
test_report_layer (void)
{
  ReportFixture fx;
  report_fixture_init (&fx, 64, 64);
  cairo_surface_t *none = draw_report_at_layer (&fx, NULL);
  cairo_surface_t *block = draw_report_at_layer (&fx, "denseblock3");
  cairo_surface_t *transition = draw_report_at_layer (&fx, "transition2");
  /* The caption's line, below the main image, at scale 2. */
  int y0 = 2 * (int)(HL_REPORT_IMAGE_Y + HL_REPORT_IMAGE_SIDE + 2);
  int y1 = 2 * (int)(HL_REPORT_IMAGE_Y + HL_REPORT_IMAGE_SIDE + 18);
  int inside, outside;
  count_changed_rows (none, block, y0, y1, &inside, &outside);
  g_test_message ("named layer vs none: %d caption rows changed, %d others", inside, outside);
  g_assert_cmpint (inside, >, 5);
  g_assert_cmpint (outside, ==, 0);
  count_changed_rows (block, transition, y0, y1, &inside, &outside);
  g_assert_cmpint (inside, >, 5);
  g_assert_cmpint (outside, ==, 0);
  cairo_surface_destroy (none);
  cairo_surface_destroy (block);
  cairo_surface_destroy (transition);
  report_fixture_clear (&fx);
}

/* A report of many findings, no heatmap selected, unknown identifiers and long names: drawing
 * stays within the page and cairo reports no error. */
static void
test_report_edge (void)
{
  float px[6] = { 0, 0.2f, 0.4f, 0.6f, 0.8f, 1.0f };
  HlReportFinding f[40];
  char *names[40];
  for (int i = 0; i < 40; i++)
    {
      names[i] = g_strdup_printf ("A finding with a very long name number %d that must be cut", i);
      f[i] = (HlReportFinding){ names[i], i / 40.0, 0.5, NULL, 0, 0, TRUE };
    }
  HlReport r;
  hl_report_init (&r);
  r.pixels = px;
  r.width = 6;
  r.height = 1;
  r.n_findings = 40;
  r.findings = f;
  cairo_surface_t *out = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 595, 842);
  cairo_t *cr = cairo_create (out);
  hl_report_draw (cr, &r);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  cairo_surface_destroy (out);
  for (int i = 0; i < 40; i++)
    g_free (names[i]);
}

/* ---- atomic writes ---- */

static gboolean
failing_writer (cairo_write_func_t write, void *closure, gpointer user_data, GError **error)
{
  static const unsigned char junk[] = "partial";
  g_assert_cmpint (write (closure, junk, sizeof junk - 1), ==, CAIRO_STATUS_SUCCESS);
  g_set_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_CAIRO, "simulated failure");
  return FALSE;
}

static gboolean
text_writer (cairo_write_func_t write, void *closure, gpointer user_data, GError **error)
{
  const char *text = user_data;
  return write (closure, (const unsigned char *)text, (unsigned int)strlen (text))
         == CAIRO_STATUS_SUCCESS;
}

static void
assert_file_is (const char *path, const char *want)
{
  g_autofree char *got = NULL;
  g_assert_true (g_file_get_contents (path, &got, NULL, NULL));
  g_assert_cmpstr (got, ==, want);
}

static void
test_io_atomic (void)
{
  g_autofree char *dir = g_dir_make_tmp ("hl-render-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "out.png", NULL);
  g_autoptr (GError) error = NULL;
  /* Written by Hilum (listed in the folder's manifest), so it may be replaced. */
  g_assert_true (hl_render_write_atomic (path, NULL, text_writer, (gpointer) "old", &error));

  /* A writer that fails half-way: the old file stays, no temporary file is left. */
  g_assert_false (hl_render_write_atomic (path, NULL, failing_writer, NULL, &error));
  g_assert_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_CAIRO);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  assert_file_is (path, "old");
  g_assert_cmpint (count_dir_entries (dir), ==, 2); /* and the manifest */

  /* A good writer replaces it, again leaving no temporary file. */
  g_assert_true (hl_render_write_atomic (path, NULL, text_writer, (gpointer) "new", &error));
  g_assert_no_error (error);
  assert_file_is (path, "new");
  g_assert_cmpint (count_dir_entries (dir), ==, 2);

  /* A file Hilum did not write is refused before the writer runs. */
  g_autofree char *theirs = g_build_filename (dir, "theirs.png", NULL);
  g_assert_true (g_file_set_contents (theirs, "user's", -1, NULL));
  g_assert_false (hl_render_write_atomic (theirs, NULL, text_writer, (gpointer) "x", &error));
  g_assert_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_NOT_OURS);
  g_clear_error (&error);
  assert_file_is (theirs, "user's");
  g_unlink (theirs);

  /* A folder that does not exist. */
  g_autofree char *missing = g_build_filename (dir, "no-such-dir", "out.png", NULL);
  g_assert_false (hl_render_write_atomic (missing, NULL, text_writer, (gpointer) "x", &error));
  g_assert_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_IO);
  g_clear_error (&error);

  /* A folder is not a file Hilum wrote: refused, nothing is left behind. */
  g_autofree char *sub = g_build_filename (dir, "sub", NULL);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  g_assert_false (hl_render_write_atomic (sub, NULL, text_writer, (gpointer) "x", &error));
  g_assert_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_NOT_OURS);
  g_clear_error (&error);
  g_assert_cmpint (count_dir_entries (dir), ==, 3);
  g_rmdir (sub);
  remove_dir (dir);
}

static void
test_io_refuse_source (void)
{
  g_autofree char *dir = g_dir_make_tmp ("hl-render-XXXXXX", NULL);
  g_autofree char *src = g_build_filename (dir, "xray.png", NULL);
  g_autofree char *dotted = g_build_filename (dir, ".", "xray.png", NULL);
  g_autofree char *linked = g_build_filename (dir, "link.png", NULL);
  g_assert_true (g_file_set_contents (src, "pixels", -1, NULL));
  g_assert_cmpint (link (src, linked), ==, 0);
  ReportFixture fx;
  report_fixture_init (&fx, 16, 16);
  fx.report.source_path = src;
  const char *targets[3] = { src, dotted, linked };
  for (int i = 0; i < 3; i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (hl_report_write_png (&fx.report, targets[i], 1.0, &error));
      g_assert_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_SAME_AS_SOURCE);
      g_clear_error (&error);
      g_assert_false (hl_report_write_pdf (&fx.report, targets[i], &error));
      g_assert_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_SAME_AS_SOURCE);
    }
  assert_file_is (src, "pixels");
  g_assert_cmpint (count_dir_entries (dir), ==, 2);
  report_fixture_clear (&fx);
  remove_dir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/render/colormap/published", test_colormap_published);
  g_test_add_func ("/render/colormap/monotone", test_colormap_monotone);
  g_test_add_func ("/render/colormap/matplotlib", test_colormap_matplotlib);
  g_test_add_func ("/render/colormap/names", test_colormap_names);
  g_test_add_func ("/render/overlay/pixel", test_overlay_pixel);
  g_test_add_func ("/render/overlay/surface", test_overlay_surface);
  g_test_add_func ("/render/overlay/pinned", test_overlay_pinned);
  g_test_add_func ("/render/overlay/gray-window", test_overlay_gray_window);
  g_test_add_func ("/render/overlay/transform", test_overlay_transform);
  g_test_add_func ("/render/overlay/colorbar", test_overlay_colorbar);
  g_test_add_func ("/render/roc/chart", test_roc_chart);
  g_test_add_func ("/render/roc/grid-png", test_roc_grid_png);
  g_test_add_func ("/render/report/score-bar", test_score_bar);
  g_test_add_func ("/render/report/png", test_report_png);
  g_test_add_func ("/render/report/pdf", test_report_pdf);
  g_test_add_func ("/render/report/weak", test_report_weak);
  g_test_add_func ("/render/report/layer", test_report_layer);
  g_test_add_func ("/render/report/edge", test_report_edge);
  g_test_add_func ("/render/io/atomic", test_io_atomic);
  g_test_add_func ("/render/io/refuse-source", test_io_refuse_source);
  return g_test_run ();
}
