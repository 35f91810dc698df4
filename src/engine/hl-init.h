/* hl-init.h — a freshly initialised DenseNet to train from scratch, initialised as torchvision's
 * DenseNet constructor does, from a seed. */
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

G_END_DECLS
