/* fuzz-model.c — libFuzzer target for the model file loader (hl_model_new_from_data: safetensors
 * container, JSON header, metadata, layout, dtype conversion): any input must end in a model or a
 * GError, never a crash, a leak, an out-of-bounds read or undefined behaviour. A loaded model must
 * be consistent: every tensor inside the arena, every layer bound, every BatchNorm finite. */
#include "engine/hl-model-private.h"

#include <math.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
check_bn (const HlBatchNorm *bn)
{
  g_assert (bn->c >= 1 && bn->weight != NULL && bn->running_var != NULL);
  for (int i = 0; i < bn->c; i++)
    g_assert (isfinite (bn->scale[i]) && isfinite (bn->shift[i]));
}

static void
check_model (HlModel *model)
{
  const HlModelInfo *info = hl_model_get_info (model);

  g_assert (info->n_labels >= 1 && info->labels[info->n_labels - 1] != NULL
            && info->labels[info->n_labels] == NULL);
  g_assert (hl_model_input_size (model) >= 32 * 32);
  for (guint i = 0; i < model->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (model->tensors, i);

      g_assert (t->data >= model->arena
                && t->data + t->numel <= model->arena + model->arena_floats);
      g_assert (hl_model_get_tensor (model, t->name) == t);
    }
  g_assert (model->conv0.weight != NULL && model->classifier_bias != NULL);
  check_bn (&model->norm0);
  for (int b = 0; b < info->arch.n_blocks; b++)
    for (int l = 0; l < model->blocks[b].n_layers; l++)
      {
        check_bn (&model->blocks[b].layers[l].norm1);
        check_bn (&model->blocks[b].layers[l].norm2);
        g_assert (model->blocks[b].layers[l].conv2.weight != NULL);
      }
  check_bn (&model->norm5);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlModel) model = hl_model_new_from_data (data, size, "fuzz.safetensors", &error);

  g_assert ((model == NULL) != (error == NULL));
  if (model != NULL)
    check_model (model);
  else
    g_assert (error->domain == HL_ENGINE_ERROR && g_str_has_prefix (error->message,
                                                                    "fuzz.safetensors: "));
  return 0;
}
