/* hl-init.c — torchvision's DenseNet initialisation for a model trained from scratch
 * (see hl-init.h). The architecture is laid out by hl_model_new_random(); every tensor is then
 * overwritten here, so nothing of its test-oriented random values remains. */
#include "hl-init.h"

#include "hl-augment.h"
#include "hl-model-private.h"

#include <math.h>
#include <string.h>

/* A standard normal deviate by Box-Muller (one of the pair; the other is discarded so that every
 * value consumes exactly two draws). */
static double
normal (HlRng *rng)
{
  double u1 = 1.0 - hl_rng_uniform (rng); /* (0, 1] */
  double u2 = hl_rng_uniform (rng);
  return sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2);
}

static void
set_folding (HlBatchNorm *bn, float scale)
{
  for (int c = 0; c < bn->c; c++)
    {
      bn->scale[c] = scale;
      bn->shift[c] = 0.0f;
    }
}

HlModel *
hl_model_new_initialized (const HlModelInfo *info, guint64 seed)
{
  HlModel *model;
  HlRng rng;

  g_return_val_if_fail (info != NULL, NULL);
  model = hl_model_new_random (info, (guint32) seed);
  g_return_val_if_fail (model != NULL, NULL);
  hl_rng_init (&rng, seed);

  for (guint t = 0; t < model->tensors->len; t++)
    {
      HlTensor *tensor = model->tensors->pdata[t];
      const char *name = tensor->name;

      if (tensor->n_dims == 4)
        {
          /* (c_out, c_in, k_h, k_w): fan_in = c_in * k_h * k_w */
          double fan_in = (double) (tensor->shape[1] * tensor->shape[2] * tensor->shape[3]);
          double std = sqrt (2.0 / fan_in);
          for (gsize i = 0; i < tensor->numel; i++)
            tensor->data[i] = (float) (std * normal (&rng));
        }
      else if (strcmp (name, "classifier.weight") == 0)
        {
          /* (n_labels, n_features) */
          double bound = 1.0 / sqrt ((double) tensor->shape[1]);
          for (gsize i = 0; i < tensor->numel; i++)
            tensor->data[i] = (float) hl_rng_symmetric (&rng, bound);
        }
      else
        {
          float value = g_str_has_suffix (name, ".running_var")
                                || (g_str_has_suffix (name, ".weight")
                                    && strcmp (name, "classifier.weight") != 0)
                            ? 1.0f
                            : 0.0f;
          for (gsize i = 0; i < tensor->numel; i++)
            tensor->data[i] = value;
        }
    }
  /* Every BatchNorm is now the identity on normalised values: fold it for inference as the
   * loader does, scale = 1 / sqrt (1 + eps), shift = 0. */
  float scale = 1.0f / sqrtf (1.0f + info->arch.bn_eps);
  set_folding (&model->norm0, scale);
  for (int b = 0; b < info->arch.n_blocks; b++)
    {
      for (int l = 0; l < model->blocks[b].n_layers; l++)
        {
          set_folding (&model->blocks[b].layers[l].norm1, scale);
          set_folding (&model->blocks[b].layers[l].norm2, scale);
        }
      if (b < info->arch.n_blocks - 1)
        set_folding (&model->transitions[b].norm, scale);
    }
  set_folding (&model->norm5, scale);
  return model;
}
