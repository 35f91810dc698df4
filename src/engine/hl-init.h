/* hl-init.h — the models training starts from: a freshly initialised DenseNet, initialised as
 * torchvision's DenseNet constructor does, from a seed; or one made from an existing model file
 * (transfer learning), its features kept and its classifier rows kept per label name. */
#pragma once

#include "hl-engine.h"

G_BEGIN_DECLS

/* A new model with the architecture, labels and preprocessing of @info (validated as by the
 * loader's rules for those fields; programmer errors otherwise) and torchvision's initialisation:
 * convolution weights ~ N(0, 2 / fan_in) (kaiming_normal_), BatchNorm weight 1 and bias 0,
 * running mean 0 and variance 1, classifier weight ~ U(-1/sqrt (fan_in), 1/sqrt (fan_in))
 * (nn.Linear's default), classifier bias 0. The same @seed gives the same weights, bit for bit.
 * thresholds default to 0.5 and val_auroc to NaN when @info has none. */
HlModel *hl_model_new_initialized (const HlModelInfo *info, guint64 seed);

/* A new model to fine-tune from the model file @path (any Hilum model, a features-only one
 * included: labels "[]" and no classifier) for the @n_labels labels @labels (NULL-terminated,
 * distinct, non-empty): @path's architecture, input size and channels and its whole
 * preprocessing; every tensor below the classifier copied from it; classifier row l (weight and
 * bias) copied from @path's row of the same label name (exact match), and every other row
 * initialised as hl_model_new_initialized() does (nn.Linear's uniform weight with seed @seed,
 * bias 0). The output calibration is plain sigmoid (an op-norm model's operating points belong
 * to its own classifier and training: they are dropped), thresholds 0.5 and val_auroc NaN until
 * training sets them; name, version, training_data and intended_use are @path's (the trainer
 * replaces them). @kept (may be NULL, n_labels entries) receives TRUE for each row copied, FALSE
 * for each initialised. NULL with @error (HL_ENGINE_ERROR, naming @path) when the file does not
 * load. */
HlModel *hl_model_new_transfer (const char *path, const char *const *labels, int n_labels,
                                guint64 seed, gboolean *kept, GError **error);

G_END_DECLS
