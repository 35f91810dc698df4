/* hl-init.c — torchvision's DenseNet initialisation for a model trained from scratch
 * (see hl-init.h). The architecture is laid out by hl_model_new_random(); every tensor is then
 * overwritten here, so nothing of its test-oriented random values remains. */
#include "hl-init.h"

#include "hl-rng.h"
#include "hl-model-private.h"

#include <math.h>
#include <string.h>

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
            tensor->data[i] = (float) hl_rng_normal (&rng, std);
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
          /* BatchNorm: weight and running_var 1, bias and running_mean 0; classifier.bias 0 */
          gboolean one = g_str_has_suffix (name, ".running_var")
                         || g_str_has_suffix (name, ".weight");
          for (gsize i = 0; i < tensor->numel; i++)
            tensor->data[i] = one ? 1.0f : 0.0f;
        }
    }
  /* Every BatchNorm is now the identity on normalised values: fold it for inference as the
   * loader does (scale = 1 / sqrt (1 + eps), shift = 0). */
  hl_model_fold_bn (model);
  return model;
}
