/* hl-test-nih.h — helpers for the tests that read the shared reference CheXNet predictions
 * (../shared/data/nih/reference/chexnet-test-preds.csv) against nih/test.csv. */
#pragma once

#include "hl-predictions.h"

G_BEGIN_DECLS

/* Sets newly allocated paths of the reference predictions and test.csv under HL_SHARED_DATA and
 * returns TRUE; when either is absent, calls g_test_skip() with the reason and returns FALSE. */
gboolean hl_test_nih_reference_paths (char **predictions, char **labels);

/* Loads @predictions_path and @labels_path and lines them up, asserting that each step works.
 * With @predictions not NULL the loaded predictions are handed over there too. */
HlScoredSet *hl_test_load_scored (const char *predictions_path, const char *labels_path,
                                  HlPredictions **predictions);

G_END_DECLS
