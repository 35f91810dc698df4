/* hl-test-nih.c — finding and loading the shared reference predictions for the tests. */
#include "hl-test-nih.h"

gboolean
hl_test_nih_reference_paths (char **predictions, char **labels)
{
  const char *data = g_getenv ("HL_SHARED_DATA");

  *predictions = *labels = NULL;
  if (data == NULL)
    {
      g_test_skip ("HL_SHARED_DATA not set");
      return FALSE;
    }
  *predictions = g_build_filename (data, "nih", "reference", "chexnet-test-preds.csv", NULL);
  *labels = g_build_filename (data, "nih", "test.csv", NULL);
  if (!g_file_test (*predictions, G_FILE_TEST_EXISTS) || !g_file_test (*labels, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("shared NIH data (nih/reference/chexnet-test-preds.csv, nih/test.csv) absent");
      return FALSE;
    }
  return TRUE;
}

HlScoredSet *
hl_test_load_scored (const char *predictions_path, const char *labels_path,
                     HlPredictions **predictions)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlPredictions) p = hl_predictions_load (predictions_path, &error);
  g_autoptr (HlLabelSet) labels = NULL;
  HlScoredSet *set;

  g_assert_no_error (error);
  labels = hl_label_set_load (labels_path, &error);
  g_assert_no_error (error);
  set = hl_predictions_match (p, labels, &error);
  g_assert_no_error (error);
  if (predictions != NULL)
    *predictions = g_steal_pointer (&p);
  return set;
}
