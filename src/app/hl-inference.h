/* hl-inference.h — the inference worker: runs the model over a study's images in a background
 * thread (one GTask at a time, so the forward pass gets every OpenBLAS thread), newest image first,
 * reports progress through the main loop, caches every result so that returning to an image is
 * instant, and stops when cancelled (study or window closed). Grad-CAM maps at an earlier layer
 * than the last feature map are computed on request, one image at a time, in a second worker
 * thread, and cached too.
 *
 * All functions are called from the main thread; signals are emitted there.
 */
#pragma once

#include <gio/gio.h>

#include "hl-engine.h"

G_BEGIN_DECLS

/* What the model said about one image. Immutable, reference-counted. */
typedef struct
{
  gint ref_count;
  char *path; /* the image file */
  int n_labels;
  float *probs;     /* (n_labels) */
  int map_h, map_w; /* Grad-CAM resolution: the last feature map's */
  float *maps;      /* (n_labels, map_h, map_w) Grad-CAM, ReLU'd, unnormalised */
} HlResult;

HlResult *hl_result_ref (HlResult *result);
void hl_result_unref (HlResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlResult, hl_result_unref)

/* Runs the whole pipeline for one file synchronously (decode, preprocess, forward, Grad-CAM).
 * For the worker thread and for the export of images not yet analysed. */
HlResult *hl_result_compute (HlModel *model, const char *path, HlProgressFunc progress,
                             gpointer user_data, GCancellable *cancellable, GError **error);

/* Grad-CAM maps of one image at an earlier layer, through the backward pass
 * (hl_model_gradcam_layer). */
typedef struct
{
  int layer; /* the engine's layer index (hl-train.h) */
  int n_labels;
  int map_h, map_w; /* the layer's size */
  float *maps;      /* (n_labels, map_h, map_w) ReLU'd, unnormalised; NULL when computing failed */
} HlLayerMaps;

/* Computes the maps of the image file @path at @layer (0 <= layer < hl_model_gradcam_n_layers)
 * synchronously: decode, preprocess, hl_model_gradcam_layer. For the layer worker and for the
 * export of images whose maps at that layer are not cached. Returns new maps (maps set) or NULL
 * with @error set (HL_STUDY_ERROR, HL_ENGINE_ERROR or G_IO_ERROR_CANCELLED). */
HlLayerMaps *hl_layer_maps_compute (HlModel *model, const char *path, int layer,
                                    GCancellable *cancellable, GError **error);

/* A copy of @maps (maps NULL stays NULL). */
HlLayerMaps *hl_layer_maps_dup (const HlLayerMaps *maps);

void hl_layer_maps_free (HlLayerMaps *maps);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlLayerMaps, hl_layer_maps_free)

#define HL_TYPE_INFERENCE (hl_inference_get_type ())
G_DECLARE_FINAL_TYPE (HlInference, hl_inference, HL, INFERENCE, GObject)

/* A worker for @model (referenced). */
HlInference *hl_inference_new (HlModel *model);

HlModel *hl_inference_get_model (HlInference *self);

/* Replaces the pending work with @paths (NULL-terminated), analysed in that order; images already
 * cached are skipped. Starts at once if idle. */
void hl_inference_set_queue (HlInference *self, const char *const *paths);

/* Moves @path to the front of the queue (the image on screen goes next). */
void hl_inference_prioritize (HlInference *self, const char *path);

/* The Grad-CAM maps of @path at @layer (0 <= layer < hl_model_gradcam_n_layers) when they are
 * cached (maps NULL when computing them failed; lent, valid while @self lives). Otherwise NULL,
 * and the maps are computed in a worker thread: at once when no layer maps are being computed,
 * else after the running ones, in place of any earlier request still waiting. "layer-ready"
 * follows. */
const HlLayerMaps *hl_inference_request_layer (HlInference *self, const char *path, int layer);

/* The Grad-CAM maps of @path at @layer when they are cached (maps NULL when computing them
 * failed; lent, valid while @self lives), else NULL; starts nothing. */
const HlLayerMaps *hl_inference_lookup_layer (HlInference *self, const char *path, int layer);

/* Cancels the running pass and empties the queue, layer maps included; the caches are kept. */
void hl_inference_cancel (HlInference *self);

/* The cached result for @path, or NULL (lent). */
HlResult *hl_inference_lookup (HlInference *self, const char *path);

/* The error @path failed with, or NULL (lent). */
const GError *hl_inference_lookup_error (HlInference *self, const char *path);

/* Whether work is running or queued. */
gboolean hl_inference_is_busy (HlInference *self);

/* Signals:
 *   "finished" (const char *path): a result (or an error) for @path is now in the cache.
 *   "progress" (guint done, guint total, double fraction): @done of @total queued images finished
 *              since the last set_queue, the running one @fraction through its pass; emitted
 *              at most every 100 ms and once with done == total when the queue drains.
 *   "layer-ready" (const char *path, int layer): the maps of @path at @layer are now cached. */

G_END_DECLS
