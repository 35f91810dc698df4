/* hl-init.c — torchvision's DenseNet initialisation for a model trained from scratch, and the
 * starting model of a transfer (see hl-init.h). The architecture is laid out by
 * hl_model_new_random(); every tensor is then overwritten here, so nothing of its test-oriented
 * random values remains. */
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

HlModel *
hl_model_new_transfer (const char *path, const char *const *labels, int n_labels, guint64 seed,
                       gboolean *kept, GError **error)
{
  g_autoptr (HlModel) source = NULL;
  const HlModelInfo *si;
  HlModelInfo info;
  HlModel *model;
  int n_features;

  g_return_val_if_fail (path != NULL && labels != NULL, NULL);
  g_return_val_if_fail (n_labels >= 1 && n_labels <= HL_MODEL_MAX_LABELS, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  source = hl_model_new_features_from_file (path, error);
  if (source == NULL)
    return NULL;
  si = &source->info;
  info = *si;
  info.labels = (char **) labels;
  info.n_labels = n_labels;
  info.thresholds = NULL;
  info.val_auroc = NULL;
  info.calibration = HL_OUTPUT_SIGMOID;
  info.op_thresholds = NULL;
  model = hl_model_new_initialized (&info, seed);

  /* the features: every tensor but the classifier's, same architecture hence same shapes */
  for (guint t = 0; t < model->tensors->len; t++)
    {
      HlTensor *dst = model->tensors->pdata[t];
      HlTensor *src = hl_model_get_tensor (source, dst->name);

      if (g_str_has_prefix (dst->name, "classifier."))
        continue;
      g_assert (src != NULL && src->numel == dst->numel);
      memcpy (dst->data, src->data, dst->numel * sizeof (float));
    }
  /* the classifier rows of the labels both models name */
  n_features = info.n_features;
  for (int l = 0; l < n_labels; l++)
    {
      int from = -1;

      for (int k = 0; k < si->n_labels && from < 0; k++)
        if (strcmp (si->labels[k], labels[l]) == 0)
          from = k;
      if (kept != NULL)
        kept[l] = from >= 0;
      if (from < 0)
        continue;
      memcpy (model->classifier_weight + (gsize) l * n_features,
              source->classifier_weight + (gsize) from * n_features, n_features * sizeof (float));
      model->classifier_bias[l] = source->classifier_bias[from];
    }
  /* the source's BatchNorms folded at its load: finite */
  hl_model_fold_bn (model);
  return model;
}
