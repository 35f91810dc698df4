/* test-engine-resize.c — hl-resize.c's filters against the libraries they reproduce.
 *
 * tests/fixtures/resize/resize.json is written by tools/resize_reference.py with PIL and skimage
 * (versions in its "generator" member): seeded inputs and what each library made of them.
 *
 *   /engine/resize/pil-bilinear  PIL's 8-bit fixed-point arithmetic: equal, byte for byte; a
 *                                window of the result equal to the crop of the whole
 *   /engine/resize/nearest       PIL's NEAREST: equal (it only picks pixels)
 *   /engine/resize/skimage       skimage.transform.resize: within 3 float32 ulps of the largest
 *                                magnitude. Both sides sum in double and round to float32 after
 *                                each of the three passes (rows, columns, bilinear zoom). The
 *                                double sums differ only in order, by at most 2 gamma_29 (double)
 *                                of the largest magnitude for these <= 29-term sums of weights
 *                                summing to at most 1; two doubles that close round to float32
 *                                values at most that plus one ulp, 2^-23 of the largest value,
 *                                apart (each rounding moves by half an ulp, possibly in opposite
 *                                directions); the weights are non-negative and sum to at most 1,
 *                                so a pass carries its input's difference through unscaled and
 *                                the three add up: 3 (2^-23 + 2 gamma_29) max |x|. The zoom's
 *                                sample coordinates, a few double operations on values < 2^11
 *                                on each side, differ by < 2^-40 pixels, which moves a blend of
 *                                taps at most 2 max |x| apart by < 2^-39 max |x|. The final clip
 *                                to the input's range is 1-Lipschitz.
 */
#include "engine/hl-kernels.h"
#include "hl-test-bound.h"

#include <json-glib/json-glib.h>
#include <math.h>

static JsonArray *
load_cases (JsonParser **parser)
{
  g_autofree char *path = g_build_filename (g_getenv ("HL_FIXTURES"), "resize", "resize.json", NULL);
  g_autoptr (GError) error = NULL;

  *parser = json_parser_new ();
  json_parser_load_from_file (*parser, path, &error);
  g_assert_no_error (error);
  return json_object_get_array_member (json_node_get_object (json_parser_get_root (*parser)),
                                       "cases");
}

static float *
floats (JsonArray *a, guint expect)
{
  float *v = g_new (float, expect);

  g_assert_cmpuint (json_array_get_length (a), ==, expect);
  for (guint i = 0; i < expect; i++)
    v[i] = (float) json_array_get_double_element (a, i);
  return v;
}

/* Runs every case of @kind; returns how many there were. */
static int
run_kind (const char *kind)
{
  g_autoptr (JsonParser) parser = NULL;
  JsonArray *cases = load_cases (&parser);
  int n = 0;

  for (guint c = 0; c < json_array_get_length (cases); c++)
    {
      JsonObject *o = json_array_get_object_element (cases, c);
      if (g_strcmp0 (json_object_get_string_member (o, "kind"), kind) != 0)
        continue;
      int h = json_object_get_int_member (o, "h"), w = json_object_get_int_member (o, "w");
      int oh = json_object_get_int_member (o, "out_h"), ow = json_object_get_int_member (o, "out_w");
      gsize n_in = (gsize) h * w, n_out = (gsize) oh * ow;
      g_autofree float *src = floats (json_object_get_array_member (o, "src"), n_in);
      g_autofree float *want = floats (json_object_get_array_member (o, "dst"), n_out);
      g_autofree float *got = g_new (float, n_out);
      double worst = 0.0, bound = 0.0;

      if (g_str_equal (kind, "pil-bilinear"))
        {
          g_autofree guint8 *s8 = g_new (guint8, n_in);
          g_autofree guint8 *d8 = g_new (guint8, n_out);
          for (gsize i = 0; i < n_in; i++)
            s8[i] = (guint8) src[i];
          hl_resize_pil_bilinear (s8, h, w, d8, oh, ow);
          for (gsize i = 0; i < n_out; i++)
            got[i] = d8[i];
          /* a window is the crop of the whole result, byte for byte */
          int wh = MAX (oh / 2, 1), ww = MAX (ow / 3, 1), top = oh - wh, left = ow / 3;
          g_autofree guint8 *win = g_new (guint8, (gsize) wh * ww);
          hl_resize_pil_bilinear_window (s8, h, w, oh, ow, top, left, wh, ww, win);
          for (int y = 0; y < wh; y++)
            g_assert_cmpmem (win + (gsize) y * ww, ww, d8 + (gsize) (y + top) * ow + left, ww);
        }
      else if (g_str_equal (kind, "nearest"))
        hl_resize_nearest (src, h, w, got, oh, ow);
      else
        {
          double max_abs = 0.0;
          hl_resize_skimage (src, h, w, got, oh, ow);
          for (gsize i = 0; i < n_in; i++)
            max_abs = MAX (max_abs, fabs (src[i]));
          bound = (3.0 * (ldexp (1.0, -23) + 2 * hl_test_gamma_double (29)) + ldexp (1.0, -39))
                  * max_abs;
        }
      for (gsize i = 0; i < n_out; i++)
        {
          double d = fabs ((double) got[i] - want[i]);
          if (d > bound)
            g_error ("%s case %u (%dx%d -> %dx%d): value %" G_GSIZE_FORMAT " is %.9g, the "
                     "library gives %.9g (bound %.3g)", kind, c, h, w, oh, ow, i, got[i], want[i],
                     bound);
          worst = MAX (worst, d);
        }
      g_test_message ("%s %dx%d -> %dx%d: largest difference %.3g (bound %.3g)", kind, h, w, oh,
                      ow, worst, bound);
      n++;
    }
  return n;
}

static void
test_pil_bilinear (void)
{
  g_assert_cmpint (run_kind ("pil-bilinear"), >=, 5);
}

static void
test_nearest (void)
{
  g_assert_cmpint (run_kind ("nearest"), >=, 3);
}

static void
test_skimage (void)
{
  g_assert_cmpint (run_kind ("skimage"), >=, 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/engine/resize/pil-bilinear", test_pil_bilinear);
  g_test_add_func ("/engine/resize/nearest", test_nearest);
  g_test_add_func ("/engine/resize/skimage", test_skimage);
  return g_test_run ();
}
