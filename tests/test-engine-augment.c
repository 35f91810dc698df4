/* test-engine-augment.c — the trainer's helpers in the engine: the SplitMix64 generator (published
 * reference values, uniform range, shuffles that are permutations and reproducible), augmentation
 * against hand-computed cases (the identity draw, whole-pixel shifts, a quarter turn, the intensity
 * formula, zoom about the centre) and against the PyTorch trainer's copy in tools/torch_train.py,
 * and torchvision's initialisation (hl_model_new_initialized). */
#include "hl-augment.h"
#include "hl-init.h"
#include "hl-model-private.h"

#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include <glib/gstdio.h>

static void
test_rng_reference (void)
{
  /* SplitMix64 from seed 0: the first outputs of Vigna's reference implementation */
  HlRng rng;
  hl_rng_init (&rng, 0);
  g_assert_cmpuint (hl_rng_next (&rng), ==, G_GUINT64_CONSTANT (0xe220a8397b1dcdaf));
  g_assert_cmpuint (hl_rng_next (&rng), ==, G_GUINT64_CONSTANT (0x6e789e6aa1b965f4));
  g_assert_cmpuint (hl_rng_next (&rng), ==, G_GUINT64_CONSTANT (0x06c45d188009454f));

  double lo = 1.0, hi = 0.0;
  for (int i = 0; i < 10000; i++)
    {
      double u = hl_rng_uniform (&rng);
      lo = MIN (lo, u);
      hi = MAX (hi, u);
      g_assert_cmpfloat (fabs (hl_rng_symmetric (&rng, 3.0)), <=, 3.0);
    }
  g_assert_cmpfloat (lo, >=, 0.0);
  g_assert_cmpfloat (lo, <, 0.001);
  g_assert_cmpfloat (hi, <, 1.0);
  g_assert_cmpfloat (hi, >, 0.999);
}

static void
test_rng_shuffle (void)
{
  guint a[50], b[50];
  gboolean seen[50] = { FALSE };
  HlRng r1, r2;

  for (guint i = 0; i < 50; i++)
    a[i] = b[i] = i;
  hl_rng_init (&r1, 42);
  hl_rng_init (&r2, 42);
  hl_rng_shuffle (&r1, a, 50);
  hl_rng_shuffle (&r2, b, 50);
  g_assert_cmpmem (a, sizeof a, b, sizeof b);
  g_assert_cmpuint (r1.state, ==, r2.state);
  guint fixed = 0;
  for (guint i = 0; i < 50; i++)
    {
      g_assert_cmpuint (a[i], <, 50);
      g_assert_false (seen[a[i]]);
      seen[a[i]] = TRUE;
      fixed += a[i] == i;
    }
  g_assert_cmpuint (fixed, <, 10);
}

static const HlAugmentDraw identity = { .angle = 0.0, .shift_x = 0.0, .shift_y = 0.0, .zoom = 1.0,
                                        .brightness = 0.0, .contrast = 1.0, .gamma = 1.0 };

/* A plane (h, w) with distinct values in (0, 1). */
static float *
ramp (int h, int w)
{
  float *p = g_new (float, (gsize) h * w);
  for (int i = 0; i < h * w; i++)
    p[i] = (float) (i + 1) / (float) (h * w + 2);
  return p;
}

static void
test_identity_and_shift (void)
{
  const int h = 6, w = 8;
  g_autofree float *src = ramp (h, w);
  g_autofree float *dst = g_new (float, h * w);
  HlAugmentDraw draw = identity;

  hl_augment_apply (&draw, src, h, w, dst);
  g_assert_cmpmem (dst, sizeof (float) * h * w, src, sizeof (float) * h * w);

  /* one pixel right and two down: dst (y, x) = src (y - 2, x - 1), black where that is outside */
  draw.shift_x = 1.0 / w;
  draw.shift_y = 2.0 / h;
  hl_augment_apply (&draw, src, h, w, dst);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        float want = (y >= 2 && x >= 1) ? src[(y - 2) * w + x - 1] : 0.0f;
        g_assert_cmpfloat_with_epsilon (dst[y * w + x], want, 1e-6);
      }
}

static void
test_quarter_turn (void)
{
  const int n = 5;
  g_autofree float *src = ramp (n, n);
  g_autofree float *dst = g_new (float, n * n);
  HlAugmentDraw draw = identity;

  /* counter-clockwise as displayed (y down): dst (y, x) = src (x, n - 1 - y) */
  draw.angle = G_PI / 2;
  hl_augment_apply (&draw, src, n, n, dst);
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++)
      g_assert_cmpfloat_with_epsilon (dst[y * n + x], src[x * n + (n - 1 - y)], 1e-5);
}

static void
test_zoom (void)
{
  const int n = 8;
  g_autofree float *src = ramp (n, n);
  g_autofree float *dst = g_new (float, n * n);
  HlAugmentDraw draw = identity;

  /* zoom 2 about the centre: dst pixel centre x + 0.5 samples source x' + 0.5 = (x + 0.5 - 4) / 2
   * + 4, so dst (3, 3) and (4, 4) are bilinear blends at source 3.25 and 3.75 */
  draw.zoom = 2.0;
  hl_augment_apply (&draw, src, n, n, dst);
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++)
      {
        double sx = (x + 0.5 - 4) / 2 + 4 - 0.5, sy = (y + 0.5 - 4) / 2 + 4 - 0.5;
        int x0 = (int) floor (sx), y0 = (int) floor (sy);
        double fx = sx - x0, fy = sy - y0;
        double want = (1 - fy) * ((1 - fx) * src[y0 * n + x0] + fx * src[y0 * n + x0 + 1])
                      + fy * ((1 - fx) * src[(y0 + 1) * n + x0] + fx * src[(y0 + 1) * n + x0 + 1]);
        g_assert_cmpfloat_with_epsilon (dst[y * n + x], want, 1e-6);
      }
}

static void
test_intensity (void)
{
  const int h = 4, w = 4;
  g_autofree float *src = ramp (h, w);
  g_autofree float *dst = g_new (float, h * w);
  HlAugmentDraw draw = identity;
  double mean = 0.0;

  for (int i = 0; i < h * w; i++)
    mean += src[i];
  mean /= h * w;
  draw.brightness = 0.3;
  draw.contrast = 1.5;
  draw.gamma = 0.8;
  hl_augment_apply (&draw, src, h, w, dst);
  for (int i = 0; i < h * w; i++)
    {
      double v = CLAMP ((src[i] - mean) * 1.5 + mean + 0.3, 0.0, 1.0);
      g_assert_cmpfloat_with_epsilon (dst[i], pow (v, 0.8), 1e-5);
      g_assert_cmpfloat (dst[i], >=, 0.0f);
      g_assert_cmpfloat (dst[i], <=, 1.0f);
    }
  /* the last values saturate: the clamp is there */
  g_assert_cmpfloat (dst[h * w - 1], ==, 1.0f);
}

static void
test_draw (void)
{
  HlAugmentOptions options;
  HlAugmentDraw draw;
  HlRng rng;
  gboolean varied = FALSE;

  hl_augment_options_init (&options);
  hl_rng_init (&rng, 7);
  for (int i = 0; i < 1000; i++)
    {
      guint64 before = rng.state;
      hl_augment_draw (&options, &rng, &draw);
      /* always seven values: the state moves by seven SplitMix64 increments */
      g_assert_cmpuint (rng.state - before, ==, 7 * G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
      g_assert_cmpfloat (fabs (draw.angle), <=, options.rotation_deg * G_PI / 180.0);
      g_assert_cmpfloat (fabs (draw.shift_x), <=, options.translation);
      g_assert_cmpfloat (fabs (draw.zoom - 1.0), <=, options.scale);
      g_assert_cmpfloat (fabs (draw.brightness), <=, options.brightness);
      g_assert_cmpfloat (fabs (draw.contrast - 1.0), <=, options.contrast);
      g_assert_cmpfloat (fabs (log (draw.gamma)), <=, options.gamma + 1e-12);
      varied |= draw.angle != 0.0;
    }
  g_assert_true (varied);
}

/* The PyTorch trainer (tools/torch_train.py) augments as the engine does: its augment_apply on the
 * same plane and draw matches hl_augment_apply. Skipped without Debian's python3 with torch. */
static void
test_matches_torch (void)
{
  const int h = 37, w = 53;
  const char *script
      = "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "try:\n"
        "    import numpy as np, torch, torch_train\n"
        "except ImportError:\n"
        "    sys.exit(77)\n"
        "h, w = int(sys.argv[3]), int(sys.argv[4])\n"
        "src = torch.from_numpy(np.fromfile(sys.argv[2], dtype='<f4').reshape(h, w))\n"
        "out = torch_train.augment_apply(src, *[float(v) for v in sys.argv[6:13]])\n"
        "out.numpy().astype('<f4').tofile(sys.argv[5])\n";
  const char *tools = g_getenv ("HL_TOOLS");
  g_autofree float *src = ramp (h, w);
  g_autofree float *dst = g_new (float, h * w);
  g_autofree char *dir = g_dir_make_tmp ("hilum-augment-XXXXXX", NULL);
  g_autofree char *in_path = g_build_filename (dir, "in.f32", NULL);
  g_autofree char *out_path = g_build_filename (dir, "out.f32", NULL);
  g_autofree char *torch_out = NULL;
  g_autoptr (GError) error = NULL;
  const HlAugmentDraw draw = { .angle = 0.11, .shift_x = 0.05, .shift_y = -0.04, .zoom = 1.08,
                               .brightness = 0.07, .contrast = 0.9, .gamma = 1.15 };
  char dims[2][16], params[7][32];
  gsize length = 0;
  int wait_status;

  if (tools == NULL || !g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("HL_TOOLS or /usr/bin/python3 is absent");
      return;
    }
  for (int i = 0; i < h * w; i++)
    src[i] = (float) ((i * 7919) % 1000) / 1000.0f;
  g_assert_true (g_file_set_contents (in_path, (const char *) src, sizeof (float) * h * w, NULL));
  g_snprintf (dims[0], sizeof dims[0], "%d", h);
  g_snprintf (dims[1], sizeof dims[1], "%d", w);
  double values[7] = { draw.angle, draw.shift_x, draw.shift_y, draw.zoom, draw.brightness,
                       draw.contrast, draw.gamma };
  for (int i = 0; i < 7; i++)
    g_ascii_dtostr (params[i], sizeof params[i], values[i]);
  const char *argv[] = { "/usr/bin/python3", "-c", script, tools, in_path, dims[0], dims[1],
                         out_path, params[0], params[1], params[2], params[3], params[4],
                         params[5], params[6], NULL };
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &wait_status,
                &error);
  g_assert_no_error (error);
  g_unlink (in_path);
  if (WIFEXITED (wait_status) && WEXITSTATUS (wait_status) == 77)
    {
      g_rmdir (dir);
      g_test_skip ("/usr/bin/python3 has no torch");
      return;
    }
  g_assert_true (WIFEXITED (wait_status) && WEXITSTATUS (wait_status) == 0);
  g_assert_true (g_file_get_contents (out_path, &torch_out, &length, NULL));
  g_unlink (out_path);
  g_rmdir (dir);
  g_assert_cmpuint (length, ==, sizeof (float) * h * w);

  hl_augment_apply (&draw, src, h, w, dst);
  float max_diff = 0.0f;
  for (int i = 0; i < h * w; i++)
    max_diff = MAX (max_diff, fabsf (dst[i] - ((const float *) torch_out)[i]));
  g_test_message ("largest difference from torch_train.augment_apply: %g", max_diff);
  g_assert_cmpfloat (max_diff, <, 1e-5f);
}

static void
test_initialized (void)
{
  HlModelInfo info = { 0 };
  info.arch = (HlDenseNetConfig) { 8, 2, { 3, 2 }, 16, 2, 1e-5f };
  info.input_size = 32;
  info.input_channels = 1;
  info.n_labels = 4;
  info.preprocess.mode = HL_NORM_IMAGE;
  g_autoptr (HlModel) a = hl_model_new_initialized (&info, 3);
  g_autoptr (HlModel) b = hl_model_new_initialized (&info, 3);
  g_autoptr (HlModel) c = hl_model_new_initialized (&info, 4);

  g_assert_cmpmem (a->arena, a->arena_floats * sizeof (float), b->arena,
                   b->arena_floats * sizeof (float));
  g_assert_true (memcmp (a->arena, c->arena, a->arena_floats * sizeof (float)) != 0);

  for (guint t = 0; t < a->tensors->len; t++)
    {
      HlTensor *tensor = a->tensors->pdata[t];
      double sum = 0.0, sum_sq = 0.0, max_abs = 0.0;
      for (gsize i = 0; i < tensor->numel; i++)
        {
          sum += tensor->data[i];
          sum_sq += (double) tensor->data[i] * tensor->data[i];
          max_abs = MAX (max_abs, fabs (tensor->data[i]));
        }
      double mean = sum / tensor->numel, rms = sqrt (sum_sq / tensor->numel);
      if (tensor->n_dims == 4)
        {
          double fan_in = (double) (tensor->shape[1] * tensor->shape[2] * tensor->shape[3]);
          if (tensor->numel >= 500)
            g_assert_cmpfloat_with_epsilon (rms, sqrt (2.0 / fan_in), 0.15 * sqrt (2.0 / fan_in));
        }
      else if (strcmp (tensor->name, "classifier.weight") == 0)
        {
          double bound = 1.0 / sqrt ((double) tensor->shape[1]);
          g_assert_cmpfloat (max_abs, <=, bound);
          g_assert_cmpfloat (max_abs, >, 0.8 * bound);
        }
      else if (g_str_has_suffix (tensor->name, ".running_var")
               || g_str_has_suffix (tensor->name, ".weight"))
        g_assert_cmpfloat (mean, ==, 1.0);
      else
        g_assert_cmpfloat (max_abs, ==, 0.0);
    }

  /* folded for inference: a constant-free forward pass gives finite, bias-free logits */
  g_autofree float *input = g_new0 (float, hl_model_input_size (a));
  for (gsize i = 0; i < hl_model_input_size (a); i++)
    input[i] = (float) sin (0.37 * i);
  g_autoptr (GError) error = NULL;
  g_autoptr (HlForward) fwd = hl_model_forward (a, input, 1, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  for (int l = 0; l < 4; l++)
    g_assert_true (isfinite (fwd->logits[l]));
  g_assert_cmpfloat (a->norm5.scale[0], ==, 1.0f / sqrtf (1.0f + 1e-5f));
  g_assert_cmpfloat (a->blocks[1].layers[1].norm2.shift[3], ==, 0.0f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/engine/augment/rng-reference", test_rng_reference);
  g_test_add_func ("/engine/augment/rng-shuffle", test_rng_shuffle);
  g_test_add_func ("/engine/augment/identity-shift", test_identity_and_shift);
  g_test_add_func ("/engine/augment/quarter-turn", test_quarter_turn);
  g_test_add_func ("/engine/augment/zoom", test_zoom);
  g_test_add_func ("/engine/augment/intensity", test_intensity);
  g_test_add_func ("/engine/augment/draw", test_draw);
  g_test_add_func ("/engine/augment/matches-torch", test_matches_torch);
  g_test_add_func ("/engine/init/torchvision", test_initialized);
  return g_test_run ();
}
