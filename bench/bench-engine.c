/* bench-engine.c — times one configuration of Hilum's DenseNet-121 forward pass.
 *
 * One process measures one configuration (input side, batch, threads), so that the peak resident
 * memory it reports (getrusage) belongs to that configuration alone; bench/run-bench.sh runs it
 * once per configuration next to bench/bench_torch.py and tabulates both. Prints one JSON line:
 *   {"impl": "hilum", "size": S, "batch": N, "threads": T, "runs": R, "median_ms": ...,
 *    "min_ms": ..., "images_per_s": ..., "rss_base_mib": ..., "peak_rss_mib": ...}
 * median_ms is the median wall time of one hl_model_forward() call over the batch, after the
 * warm-up calls; images_per_s = batch / median. rss_base_mib is the resident size before the model
 * is built. Timings are reported, never asserted.
 *
 * The model is DenseNet-121 (growth 32, blocks 6,12,24,16, 64 initial features, bn_size 4,
 * 14 labels, 3 input channels) with seeded random weights (hl_model_new_random), or a model file
 * given with --model, whose input side must then equal --size.
 * The input is the same deterministic pattern bench_torch.py feeds PyTorch:
 *   x[i] = ((i * 7919) mod 4001) / 1000 - 2 over the flat (batch, 3, size, size) buffer.
 */
#include "hl-model-private.h"

#include "bench-common.h"

#include <stdio.h>
#include <string.h>

/* DenseNet-121 at @size with seeded weights. */
static HlModel *
densenet121_random (int size, guint32 seed)
{
  HlModelInfo info = { 0 };
  const int blocks[] = { 6, 12, 24, 16 };

  info.name = (char *) "bench-densenet121-random";
  info.version = (char *) "0";
  info.arch.growth_rate = 32;
  info.arch.n_blocks = G_N_ELEMENTS (blocks);
  memcpy (info.arch.block_config, blocks, sizeof blocks);
  info.arch.num_init_features = 64;
  info.arch.bn_size = 4;
  info.arch.bn_eps = 1e-5f;
  info.input_size = size;
  info.input_channels = 3;
  info.n_labels = 14;
  info.preprocess.resize = HL_RESIZE_BILINEAR_ANTIALIAS;
  info.preprocess.mode = HL_NORM_CHANNEL;
  for (int c = 0; c < 3; c++)
    {
      info.preprocess.mean[c] = 0.5f;
      info.preprocess.std[c] = 0.25f;
    }
  return hl_model_new_random (&info, seed);
}

int
main (int argc, char **argv)
{
  int size = 224, batch = 1, threads = 1, runs = 10, warmup = 3;
  g_autofree char *model_path = NULL;
  GOptionEntry entries[] = {
    { "size", 's', 0, G_OPTION_ARG_INT, &size, "Input side (default 224)", "S" },
    { "batch", 'b', 0, G_OPTION_ARG_INT, &batch, "Images per forward pass (default 1)", "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "Engine threads (default 1)", "T" },
    { "runs", 'r', 0, G_OPTION_ARG_INT, &runs, "Timed runs (default 10)", "R" },
    { "warmup", 'w', 0, G_OPTION_ARG_INT, &warmup, "Untimed runs first (default 3)", "W" },
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "Model file instead of random weights",
      "FILE" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- time Hilum's forward pass");
  g_autoptr (GError) error = NULL;
  g_autoptr (HlModel) model = NULL;
  g_autofree float *input = NULL;
  g_autofree double *times = NULL;
  double rss_base;
  gsize per_image;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "bench-engine: %s\n", error->message);
      return 2;
    }
  if (size < 32 || size > 1024 || batch < 1 || batch > 256 || threads < 1 || runs < 1
      || warmup < 0)
    {
      fprintf (stderr, "bench-engine: need 32 <= size <= 1024, 1 <= batch <= 256, threads >= 1, "
                       "runs >= 1, warmup >= 0\n");
      return 2;
    }

  rss_base = bench_current_rss_mib ();
  hl_engine_set_threads (threads);
  if (model_path != NULL)
    {
      model = hl_model_new_from_file (model_path, &error);
      if (model == NULL)
        {
          fprintf (stderr, "bench-engine: %s\n", error->message);
          return 1;
        }
      if (hl_model_get_info (model)->input_size != size)
        {
          fprintf (stderr, "bench-engine: %s has input size %d, not %d\n", model_path,
                   hl_model_get_info (model)->input_size, size);
          return 2;
        }
    }
  else
    model = densenet121_random (size, 121);

  per_image = hl_model_input_size (model);
  input = g_new (float, per_image * batch);
  for (gsize i = 0; i < per_image * batch; i++)
    input[i] = (float) ((i * 7919u) % 4001u) / 1000.0f - 2.0f;

  times = g_new (double, runs);
  for (int r = -warmup; r < runs; r++)
    {
      gint64 start = g_get_monotonic_time ();
      g_autoptr (HlForward) fwd = hl_model_forward (model, input, batch, NULL, NULL, NULL, &error);

      if (fwd == NULL)
        {
          fprintf (stderr, "bench-engine: %s\n", error->message);
          return 1;
        }
      if (r >= 0)
        times[r] = (g_get_monotonic_time () - start) / 1000.0;
    }
  bench_print_result ("hilum", "", size, batch, hl_engine_get_threads (), times, runs, rss_base);
  return 0;
}
