/* make-model-seeds.c — writes the seed corpus of fuzz-model (fuzz/corpus/model/) from the tests'
 * model file writer: the tiny architecture in every dtype, with every optional metadata key, with
 * torchvision's num_batches_tracked buffers, and the regressions of the loader's limits (keys
 * named twice, an architecture over the cost cap, an unexpected tensor, a metadata array of too
 * many values). Run by hand after a format change:
 *   BUILD/fuzz/make-model-seeds fuzz/corpus/model */
#include "hl-test-model-file.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>

static gboolean
write_seed (const char *dir, const char *name, HlTestModelFile *file, GError **error)
{
  g_autoptr (GBytes) bytes = hl_test_model_file_build (file);
  g_autofree char *path = g_build_filename (dir, name, NULL);

  return g_file_set_contents (path, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                              error);
}

/* The regressions of the loader's limits: the tiny model in BF16 with one change. */
typedef struct
{
  const char *name;
  const char *member;     /* appended to the header */
  const char *key, *value; /* metadata set */
  const char *key2, *value2;
  gboolean extra_tensor;  /* adds a tensor the architecture has no place for */
} LimitSeed;

static const LimitSeed limit_seeds[] = {
  /* the same tensor twice, the second spelt with an escape */
  { "duplicate-tensor.safetensors", "\"features.norm0.bi\\u0061s\": {\"dtype\": \"BF16\", "
    "\"shape\": [4], \"data_offsets\": [0, 8]}", NULL, NULL, NULL, NULL, FALSE },
  /* __metadata__ twice, the second naming a key twice */
  { "duplicate-metadata.safetensors", "\"__metadata__\": {\"bn_size\": \"2\", "
    "\"bn\\u005fsize\": \"3\"}", NULL, NULL, NULL, NULL, FALSE },
  /* over HL_MODEL_MAX_BYTES: 1024 initial features at 1024 x 1024 */
  { "architecture-too-large.safetensors", NULL, "num_init_features", "1024", "input_size",
    "1024", FALSE },
  { "unexpected-tensor.safetensors", NULL, NULL, NULL, NULL, NULL, TRUE },
  /* more JSON values than any array of the labels' length needs */
  { "thresholds-values.safetensors", NULL, "thresholds", "[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, "
    "0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]", NULL,
    NULL, FALSE },
};

int
main (int argc, char **argv)
{
  static const char *const dtypes[] = { "F32", "F16", "BF16" };
  char *labels[] = { "Effusion", "Mass", NULL };
  float thresholds[] = { 0.2f, 0.6f };
  float val_auroc[] = { 0.75f, NAN };
  const gint64 count[] = { 100 };
  const gint64 four[] = { 4 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HlModel) model = NULL;
  g_autoptr (HlTestModelFile) file = NULL;
  HlModelInfo info;

  if (argc != 2)
    {
      fprintf (stderr, "usage: %s CORPUS_DIR\n", argv[0]);
      return 2;
    }
  g_mkdir_with_parents (argv[1], 0755);

  hl_test_tiny_info (&info);
  model = hl_model_new_random (&info, 1);
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    {
      g_autofree char *name = g_strdup_printf ("tiny-%s.safetensors", dtypes[i]);
      g_autoptr (HlTestModelFile) f = hl_test_model_file_new_from_model (model, dtypes[i]);

      if (!write_seed (argv[1], name, f, &error))
        goto fail;
    }

  file = hl_test_model_file_new_from_model (model, "F16");
  hl_test_model_file_add_raw (file, "features.norm0.num_batches_tracked", "I64", 0, NULL, count,
                              sizeof count);
  if (!write_seed (argv[1], "num-batches-tracked.safetensors", file, &error))
    goto fail;
  g_clear_pointer (&file, hl_test_model_file_free);

  for (guint i = 0; i < G_N_ELEMENTS (limit_seeds); i++)
    {
      const LimitSeed *seed = &limit_seeds[i];
      g_autoptr (HlTestModelFile) f = hl_test_model_file_new_from_model (model, "BF16");

      if (seed->member != NULL)
        hl_test_model_file_add_raw_member (f, seed->member);
      if (seed->key != NULL)
        hl_test_model_file_set_meta (f, seed->key, seed->value);
      if (seed->key2 != NULL)
        hl_test_model_file_set_meta (f, seed->key2, seed->value2);
      if (seed->extra_tensor)
        hl_test_model_file_add_raw (f, "features.extra.weight", "F16", 1, four, count,
                                    sizeof count);
      if (!write_seed (argv[1], seed->name, f, &error))
        goto fail;
    }
  g_clear_pointer (&model, hl_model_unref);

  info.input_channels = 3;
  info.n_labels = 2;
  info.labels = labels;
  info.thresholds = thresholds;
  info.val_auroc = val_auroc;
  info.preprocess.resize = HL_RESIZE_BILINEAR_ANTIALIAS;
  info.preprocess.mode = HL_NORM_CHANNEL;
  for (int c = 0; c < 3; c++)
    {
      info.preprocess.mean[c] = 0.45f;
      info.preprocess.std[c] = 0.225f;
    }
  info.training_data = "synthetic";
  info.intended_use = "fuzzing";
  model = hl_model_new_random (&info, 2);
  file = hl_test_model_file_new_from_model (model, "BF16");
  if (!write_seed (argv[1], "channel-mode-rgb.safetensors", file, &error))
    goto fail;
  return 0;

fail:
  fprintf (stderr, "%s\n", error->message);
  return 1;
}
