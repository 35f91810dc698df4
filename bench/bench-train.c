/* bench-train.c — times one configuration of Hilum's training step: hl_train_net_forward,
 * hl_loss_weighted_bce, hl_train_net_zero_grad + hl_train_net_backward, hl_optim_step (Adam),
 * exactly the per-batch work hilum-cli train does after augmentation and preprocessing.
 *
 * One process measures one configuration (architecture, input side, batch, threads), so that the
 * peak resident memory it reports (getrusage) belongs to that configuration alone;
 * bench/bench-train.sh runs it once per configuration next to `bench/bench_torch.py train` and
 * tabulates both with bench_torch.py's table. Prints one JSON line:
 *   {"impl": "hilum", "step": "train", "arch": A, "size": S, "batch": N, "threads": T, "runs": R,
 *    "median_ms": ..., "min_ms": ..., "images_per_s": ..., "loss": ..., "rss_base_mib": ...,
 *    "peak_rss_mib": ...}
 * median_ms is the median wall time of one whole step over the batch, after the warm-up steps;
 * images_per_s = batch / median; loss is the weighted loss of the last step (a sanity value, not
 * compared). rss_base_mib is the resident size before the model is built. Timings are reported,
 * never asserted.
 *
 * The model is what hilum-cli train starts from: the architecture (densenet121 or tiny, as
 * `hilum-cli train --arch`), one input channel, 14 labels, torchvision's initialisation
 * (hl_model_new_initialized, seed 1). Adam with lr 1e-4, betas 0.9 / 0.999, eps 1e-8, no weight
 * decay. The same values bench_torch.py train feeds PyTorch:
 *   input   x[i] = ((i * 7919) mod 4001) / 1000 - 2 over the flat (batch, 1, size, size) buffer
 *   targets y[i] = 1 if (i * 7) mod 5 == 0 else 0 over the flat (batch, 14) buffer
 *   loss weights from those targets (hl_loss_class_weights: w_pos = fraction of negatives).
 */
#include "hl-train.h"
#include "hl-init.h"

#include "bench-common.h"

#include <stdio.h>

#define N_LABELS 14

/* The freshly initialised model hilum-cli train builds for @arch ("densenet121" or "tiny") at
 * input side @size; NULL for an unknown @arch. */
static HlModel *
train_start_model (const char *arch, int size)
{
  static const HlDenseNetConfig densenet121 = { 32, 4, { 6, 12, 24, 16 }, 64, 4, 1e-5f };
  static const HlDenseNetConfig tiny = { 4, 2, { 2, 2 }, 8, 2, 1e-5f };
  HlModelInfo info = { 0 };

  if (g_strcmp0 (arch, "densenet121") == 0)
    info.arch = densenet121;
  else if (g_strcmp0 (arch, "tiny") == 0)
    info.arch = tiny;
  else
    return NULL;
  info.name = (char *) "bench-train";
  info.version = (char *) "0";
  info.input_size = size;
  info.input_channels = 1;
  info.n_labels = N_LABELS;
  info.preprocess.resize = HL_RESIZE_BILINEAR_ANTIALIAS;
  info.preprocess.mode = HL_NORM_IMAGE;
  return hl_model_new_initialized (&info, 1);
}

int
main (int argc, char **argv)
{
  int size = 224, batch = 16, threads = 1, runs = 5, warmup = 2;
  g_autofree char *arch = NULL;
  GOptionEntry entries[] = {
    { "arch", 'a', 0, G_OPTION_ARG_STRING, &arch, "densenet121 (default) or tiny", "ARCH" },
    { "size", 's', 0, G_OPTION_ARG_INT, &size, "Input side (default 224)", "S" },
    { "batch", 'b', 0, G_OPTION_ARG_INT, &batch, "Images per step (default 16)", "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "Engine threads (default 1)", "T" },
    { "runs", 'r', 0, G_OPTION_ARG_INT, &runs, "Timed steps (default 5)", "R" },
    { "warmup", 'w', 0, G_OPTION_ARG_INT, &warmup, "Untimed steps first (default 2)", "W" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- time Hilum's training step");
  g_autoptr (GError) error = NULL;
  g_autoptr (HlModel) model = NULL;
  g_autoptr (HlTrainNet) net = NULL;
  g_autoptr (HlOptim) opt = NULL;
  HlOptimConfig adam = { .kind = HL_OPTIM_ADAM, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f };
  g_autofree float *input = NULL;    /* (batch, 1, size, size) */
  g_autofree float *targets = NULL;  /* (batch, N_LABELS) */
  g_autofree float *dlogits = NULL;  /* (batch, N_LABELS) */
  g_autofree double *times = NULL;   /* (runs) */
  g_autofree char *extra = NULL;
  float w_pos[N_LABELS], w_neg[N_LABELS], loss = 0;
  double rss_base;
  gsize per_image;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "bench-train: %s\n", error->message);
      return 2;
    }
  if (arch == NULL)
    arch = g_strdup ("densenet121");
  if (size < 32 || size > 1024 || batch < 2 || batch > 256 || threads < 1 || runs < 1
      || warmup < 0)
    {
      fprintf (stderr, "bench-train: need 32 <= size <= 1024, 2 <= batch <= 256, threads >= 1, "
                       "runs >= 1, warmup >= 0\n");
      return 2;
    }

  rss_base = bench_current_rss_mib ();
  hl_engine_set_threads (threads);
  model = train_start_model (arch, size);
  if (model == NULL)
    {
      fprintf (stderr, "bench-train: --arch must be densenet121 or tiny\n");
      return 2;
    }
  net = hl_train_net_new (model, batch, &error);
  if (net == NULL)
    {
      fprintf (stderr, "bench-train: %s\n", error->message);
      return 1;
    }
  opt = hl_optim_new (net, &adam);

  per_image = hl_model_input_size (model);
  input = g_new (float, per_image * batch);
  for (gsize i = 0; i < per_image * batch; i++)
    input[i] = (float) ((i * 7919u) % 4001u) / 1000.0f - 2.0f;
  targets = g_new (float, (gsize) batch * N_LABELS);
  for (gsize i = 0; i < (gsize) batch * N_LABELS; i++)
    targets[i] = (i * 7u) % 5u == 0 ? 1.0f : 0.0f;
  hl_loss_class_weights (targets, batch, N_LABELS, w_pos, w_neg);
  dlogits = g_new (float, (gsize) batch * N_LABELS);

  times = g_new (double, runs);
  for (int r = -warmup; r < runs; r++)
    {
      gint64 start = g_get_monotonic_time ();
      const float *logits = hl_train_net_forward (net, input, batch, NULL, &error);

      if (logits == NULL)
        {
          fprintf (stderr, "bench-train: %s\n", error->message);
          return 1;
        }
      loss = hl_loss_weighted_bce (logits, targets, batch, N_LABELS, w_pos, w_neg, dlogits);
      hl_train_net_zero_grad (net);
      hl_train_net_backward (net, dlogits, NULL);
      hl_optim_step (opt, 1e-4f);
      if (r >= 0)
        times[r] = (g_get_monotonic_time () - start) / 1000.0;
    }
  extra = g_strdup_printf ("\"step\": \"train\", \"arch\": \"%s\", \"loss\": %.6f, ", arch,
                           loss);
  bench_print_result ("hilum", extra, size, batch, hl_engine_get_threads (), times, runs,
                      rss_base);
  return 0;
}
