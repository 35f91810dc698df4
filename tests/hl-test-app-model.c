/* hl-test-app-model.c — the app tests' random model file. */
#include "hl-test-app-model.h"

#include "hl-test-model-file.h"
#include "study/hl-labels.h"

gboolean
hl_test_app_model_write (const char *path, GError **error)
{
  HlModelInfo info = { 0 };
  float thresholds[HL_N_LABELS], auroc[HL_N_LABELS];
  char *labels[HL_N_LABELS + 1] = { NULL };
  for (int l = 0; l < HL_N_LABELS; l++)
    {
      labels[l] = (char *)hl_label_names[l];
      thresholds[l] = 0.3f + 0.03f * l;
      auroc[l] = l % 5 == 4 ? 0.62f : 0.78f + 0.01f * l;
    }
  info.name = "hilum-test-random";
  info.version = "0";
  info.arch.growth_rate = 4;
  info.arch.n_blocks = 2;
  info.arch.block_config[0] = 2;
  info.arch.block_config[1] = 2;
  info.arch.num_init_features = 8;
  info.arch.bn_size = 2;
  info.arch.bn_eps = 1e-5f;
  info.input_size = 64;
  info.input_channels = 1;
  info.n_labels = HL_N_LABELS;
  info.labels = labels;
  info.preprocess.resize = HL_RESIZE_BILINEAR_ANTIALIAS;
  info.preprocess.mode = HL_NORM_IMAGE;
  info.preprocess.mean[0] = 0.0f;
  info.preprocess.std[0] = 1.0f;
  info.thresholds = thresholds;
  info.val_auroc = auroc;
  info.training_data = "none: random weights for testing the viewer";
  info.intended_use = "Testing Hilum's user interface. Its scores mean nothing.";

  g_autoptr (HlModel) model = hl_model_new_random (&info, 7);
  if (model == NULL)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "cannot build the random model");
      return FALSE;
    }
  g_autoptr (HlTestModelFile) file = hl_test_model_file_new_from_model (model, "F32");
  g_autoptr (GBytes) bytes = hl_test_model_file_build (file);
  gsize size;
  const char *data = g_bytes_get_data (bytes, &size);
  return g_file_set_contents (path, data, size, error);
}
