/* cli-infer.h — the one inference path of hilum-cli's commands: a decoded image, preprocessed
 * as the model file says, through the forward pass, to per-label probabilities and (optionally)
 * the Grad-CAM maps of every label from that same pass. */
#pragma once

#include "hl-engine.h"
#include "hl-image.h"

G_BEGIN_DECLS

typedef struct
{
  int n_labels;
  float *probs;     /* (n_labels) sigmoid outputs, in the model's label order */
  int map_h, map_w; /* size of the last feature map */
  float *maps;      /* (n_labels, map_h, map_w) Grad-CAM maps, or NULL when not asked for */
} HlCliInference;

/* Runs @model on @image (its float plane, as decoded). With @gradcam, also computes every label's
 * Grad-CAM map from the same forward pass. Returns a new result to free with
 * hl_cli_inference_free(), or NULL with @error (HL_ENGINE_ERROR) set. */
HlCliInference *hl_cli_infer (HlModel *model, const HlImage *image, gboolean gradcam,
                              GCancellable *cancellable, GError **error);

void hl_cli_inference_free (HlCliInference *result);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlCliInference, hl_cli_inference_free)

G_END_DECLS
