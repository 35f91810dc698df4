/* hl-inference.c — the background inference worker and its result cache. */
#include "hl-inference.h"

#include "hl-image.h"
#include "hl-train.h"

#define PROGRESS_INTERVAL_MS 100

HlResult *
hl_result_ref (HlResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);
  g_atomic_int_inc (&result->ref_count);
  return result;
}

void
hl_result_unref (HlResult *result)
{
  if (result == NULL || !g_atomic_int_dec_and_test (&result->ref_count))
    return;
  g_free (result->path);
  g_free (result->probs);
  g_free (result->maps);
  g_free (result);
}

HlResult *
hl_result_compute (HlModel *model, const char *path, HlProgressFunc progress, gpointer user_data,
                   GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (path != NULL, NULL);

  g_autoptr (HlImage) image = hl_image_load (path, error);
  if (image == NULL)
    return NULL;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  HlGrayPlane plane = { image->pixels, image->width, image->height };
  g_autoptr (HlAnalysis) analysis
      = hl_model_analyze (model, &plane, 1, TRUE, progress, user_data, cancellable, error);
  if (analysis == NULL)
    return NULL;

  HlResult *r = g_new0 (HlResult, 1);
  r->ref_count = 1;
  r->path = g_strdup (path);
  r->n_labels = analysis->n_labels;
  r->probs = g_steal_pointer (&analysis->probs);
  r->map_h = analysis->map_h;
  r->map_w = analysis->map_w;
  r->maps = g_steal_pointer (&analysis->maps);
  return r;
}

HlLayerMaps *
hl_layer_maps_compute (HlModel *model, const char *path, int layer, GCancellable *cancellable,
                       GError **error)
{
  g_return_val_if_fail (model != NULL && path != NULL, NULL);
  g_return_val_if_fail (layer >= 0 && layer < hl_model_gradcam_n_layers (model), NULL);

  g_autoptr (HlImage) image = hl_image_load (path, error);
  if (image == NULL || g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  /* (input_channels, input_size, input_size) */
  g_autofree float *input = g_new (float, hl_model_input_size (model));
  hl_model_preprocess (model, image->pixels, image->height, image->width, input);
  g_autoptr (HlLayerMaps) maps = g_new0 (HlLayerMaps, 1);
  maps->layer = layer;
  maps->n_labels = hl_model_get_info (model)->n_labels;
  maps->maps = hl_model_gradcam_layer (model, input, layer, &maps->map_h, &maps->map_w, error);
  if (maps->maps == NULL)
    return NULL;
  return g_steal_pointer (&maps);
}

HlLayerMaps *
hl_layer_maps_dup (const HlLayerMaps *maps)
{
  g_return_val_if_fail (maps != NULL, NULL);

  HlLayerMaps *copy = g_memdup2 (maps, sizeof *maps);
  if (maps->maps != NULL)
    copy->maps
        = g_memdup2 (maps->maps, sizeof (float) * maps->n_labels * maps->map_h * maps->map_w);
  return copy;
}

void
hl_layer_maps_free (HlLayerMaps *maps)
{
  if (maps == NULL)
    return;
  g_free (maps->maps);
  g_free (maps);
}

/* One request for layer maps. */
typedef struct
{
  char *path;
  int layer;
} LayerJob;

static void
layer_job_free (LayerJob *job)
{
  if (job == NULL)
    return;
  g_free (job->path);
  g_free (job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LayerJob, layer_job_free)

static char *
layer_key (const char *path, int layer)
{
  return g_strdup_printf ("%d:%s", layer, path);
}

struct _HlInference
{
  GObject parent_instance;

  HlModel *model;
  GQueue queue;              /* char*, paths still to analyse */
  GHashTable *cache;         /* path -> HlResult* */
  GHashTable *errors;        /* path -> GError* */
  GCancellable *cancellable; /* of the running pass; NULL when idle */
  char *running;             /* path being analysed */
  guint done, total;
  gint progress_permille; /* written by the worker thread, read by the timer */
  guint progress_source;

  GHashTable *layer_cache;         /* layer_key () -> HlLayerMaps* */
  const LayerJob *layer_running;   /* the running task's (it owns it); NULL when idle */
  LayerJob *layer_wanted;          /* the request waiting for the running one; NULL for none */
  GCancellable *layer_cancellable; /* of the running layer job */
};

G_DEFINE_TYPE (HlInference, hl_inference, G_TYPE_OBJECT)

enum
{
  SIGNAL_FINISHED,
  SIGNAL_PROGRESS,
  SIGNAL_LAYER_READY,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static void run_next (HlInference *self);

static void
emit_progress (HlInference *self)
{
  double fraction = g_atomic_int_get (&self->progress_permille) / 1000.0;
  g_signal_emit (self, signals[SIGNAL_PROGRESS], 0, self->done, self->total,
                 self->running != NULL ? fraction : 0.0);
}

static gboolean
progress_tick (gpointer data)
{
  emit_progress (data);
  return G_SOURCE_CONTINUE;
}

/* Called by the engine in the worker thread. */
static void
worker_progress (double fraction, gpointer data)
{
  HlInference *self = data;
  g_atomic_int_set (&self->progress_permille, (gint)(fraction * 1000.0));
}

static void
worker (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  HlInference *self = source;
  GError *error = NULL;
  HlResult *r
      = hl_result_compute (self->model, task_data, worker_progress, self, cancellable, &error);
  if (r != NULL)
    g_task_return_pointer (task, r, (GDestroyNotify)hl_result_unref);
  else
    g_task_return_error (task, error);
}

static void
worker_done (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (HlInference) self = HL_INFERENCE (source);
  g_autofree char *path = g_strdup (g_task_get_task_data (G_TASK (res)));
  g_autoptr (GError) error = NULL;
  HlResult *r = g_task_propagate_pointer (G_TASK (res), &error);
  gboolean cancelled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                       || g_error_matches (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_CANCELLED);

  /* A cancelled pass belongs to a queue that is gone: record nothing, start nothing. */
  if (g_task_get_cancellable (G_TASK (res)) != self->cancellable)
    {
      g_clear_pointer (&r, hl_result_unref);
      return;
    }
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->running, g_free);
  if (cancelled)
    {
      g_clear_pointer (&r, hl_result_unref);
      return;
    }
  if (r != NULL)
    g_hash_table_replace (self->cache, g_strdup (path), r);
  else
    g_hash_table_replace (self->errors, g_strdup (path), g_steal_pointer (&error));
  self->done++;
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0, path);
  run_next (self);
}

static void
run_next (HlInference *self)
{
  if (self->running != NULL)
    return;
  char *path;
  while ((path = g_queue_pop_head (&self->queue)) != NULL)
    {
      if (!g_hash_table_contains (self->cache, path) && !g_hash_table_contains (self->errors, path))
        break;
      g_free (path);
      self->done++;
    }
  if (path == NULL)
    {
      g_clear_handle_id (&self->progress_source, g_source_remove);
      emit_progress (self);
      return;
    }
  self->running = path;
  self->cancellable = g_cancellable_new ();
  g_atomic_int_set (&self->progress_permille, 0);
  if (self->progress_source == 0)
    self->progress_source = g_timeout_add (PROGRESS_INTERVAL_MS, progress_tick, self);

  GTask *task = g_task_new (g_object_ref (self), self->cancellable, worker_done, NULL);
  g_task_set_source_tag (task, run_next);
  g_task_set_task_data (task, g_strdup (path), g_free);
  g_task_run_in_thread (task, worker);
  g_object_unref (task);
  emit_progress (self);
}

/* Decodes the image, preprocesses it and runs hl_model_gradcam_layer, in a worker thread. */
static void
layer_worker (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  HlInference *self = source;
  const LayerJob *job = task_data;
  GError *error = NULL;
  HlLayerMaps *maps
      = hl_layer_maps_compute (self->model, job->path, job->layer, cancellable, &error);
  if (maps != NULL)
    g_task_return_pointer (task, maps, (GDestroyNotify)hl_layer_maps_free);
  else
    g_task_return_error (task, error);
}

static void layer_start (HlInference *self, LayerJob *job);

static void
layer_done (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (HlInference) self = HL_INFERENCE (source);
  g_autoptr (GError) error = NULL;
  g_autoptr (HlLayerMaps) maps = g_task_propagate_pointer (G_TASK (res), &error);

  /* Cancelled: its request is gone. */
  if (g_task_get_cancellable (G_TASK (res)) != self->layer_cancellable)
    return;
  g_clear_object (&self->layer_cancellable);
  const LayerJob *job = g_task_get_task_data (G_TASK (res));
  self->layer_running = NULL;
  if (maps == NULL)
    {
      g_debug ("Grad-CAM of %s at layer %d: %s", job->path, job->layer, error->message);
      maps = g_new0 (HlLayerMaps, 1);
      maps->layer = job->layer;
    }
  g_hash_table_replace (self->layer_cache, layer_key (job->path, job->layer),
                        g_steal_pointer (&maps));
  g_signal_emit (self, signals[SIGNAL_LAYER_READY], 0, job->path, job->layer);
  if (self->layer_wanted != NULL)
    layer_start (self, g_steal_pointer (&self->layer_wanted));
}

/* Runs @job (taken: the task owns it) in a worker thread; nothing may be running. */
static void
layer_start (HlInference *self, LayerJob *job)
{
  self->layer_running = job;
  self->layer_cancellable = g_cancellable_new ();
  GTask *task = g_task_new (g_object_ref (self), self->layer_cancellable, layer_done, NULL);
  g_task_set_source_tag (task, layer_start);
  g_task_set_task_data (task, job, (GDestroyNotify)layer_job_free);
  g_task_run_in_thread (task, layer_worker);
  g_object_unref (task);
}

const HlLayerMaps *
hl_inference_lookup_layer (HlInference *self, const char *path, int layer)
{
  g_return_val_if_fail (HL_IS_INFERENCE (self), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  g_autofree char *key = layer_key (path, layer);
  return g_hash_table_lookup (self->layer_cache, key);
}

const HlLayerMaps *
hl_inference_request_layer (HlInference *self, const char *path, int layer)
{
  g_return_val_if_fail (HL_IS_INFERENCE (self), NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (layer >= 0 && layer < hl_model_gradcam_n_layers (self->model), NULL);

  const HlLayerMaps *maps = hl_inference_lookup_layer (self, path, layer);
  if (maps != NULL)
    return maps;
  if (self->layer_running != NULL && self->layer_running->layer == layer
      && strcmp (self->layer_running->path, path) == 0)
    {
      g_clear_pointer (&self->layer_wanted, layer_job_free);
      return NULL;
    }
  LayerJob *job = g_new0 (LayerJob, 1);
  job->path = g_strdup (path);
  job->layer = layer;
  if (self->layer_running != NULL)
    {
      layer_job_free (self->layer_wanted);
      self->layer_wanted = job;
    }
  else
    layer_start (self, job);
  return NULL;
}

static void
hl_inference_dispose (GObject *object)
{
  HlInference *self = HL_INFERENCE (object);
  hl_inference_cancel (self);
  G_OBJECT_CLASS (hl_inference_parent_class)->dispose (object);
}

static void
hl_inference_finalize (GObject *object)
{
  HlInference *self = HL_INFERENCE (object);
  g_clear_pointer (&self->model, hl_model_unref);
  g_hash_table_unref (self->cache);
  g_hash_table_unref (self->errors);
  g_hash_table_unref (self->layer_cache);
  G_OBJECT_CLASS (hl_inference_parent_class)->finalize (object);
}

static void
hl_inference_class_init (HlInferenceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = hl_inference_dispose;
  object_class->finalize = hl_inference_finalize;

  signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_PROGRESS]
      = g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                      G_TYPE_NONE, 3, G_TYPE_UINT, G_TYPE_UINT, G_TYPE_DOUBLE);
  signals[SIGNAL_LAYER_READY]
      = g_signal_new ("layer-ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                      NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_INT);
}

static void
hl_inference_init (HlInference *self)
{
  g_queue_init (&self->queue);
  self->cache
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)hl_result_unref);
  self->errors
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_error_free);
  self->layer_cache
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)hl_layer_maps_free);
}

HlInference *
hl_inference_new (HlModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  HlInference *self = g_object_new (HL_TYPE_INFERENCE, NULL);
  self->model = hl_model_ref (model);
  return self;
}

HlModel *
hl_inference_get_model (HlInference *self)
{
  g_return_val_if_fail (HL_IS_INFERENCE (self), NULL);
  return self->model;
}

void
hl_inference_set_queue (HlInference *self, const char *const *paths)
{
  g_return_if_fail (HL_IS_INFERENCE (self));
  g_return_if_fail (paths != NULL);

  g_queue_clear_full (&self->queue, g_free);
  self->done = 0;
  self->total = 0;
  for (gsize i = 0; paths[i] != NULL; i++, self->total++)
    g_queue_push_tail (&self->queue, g_strdup (paths[i]));
  /* The pass already running counts when it is part of the new queue. */
  if (self->running != NULL)
    {
      GList *l = g_queue_find_custom (&self->queue, self->running, (GCompareFunc)g_strcmp0);
      if (l != NULL)
        {
          g_free (l->data);
          g_queue_delete_link (&self->queue, l);
        }
      else
        self->total++;
    }
  run_next (self);
}

void
hl_inference_prioritize (HlInference *self, const char *path)
{
  g_return_if_fail (HL_IS_INFERENCE (self));
  g_return_if_fail (path != NULL);

  GList *l = g_queue_find_custom (&self->queue, path, (GCompareFunc)g_strcmp0);
  if (l == NULL)
    return;
  gpointer data = l->data;
  g_queue_delete_link (&self->queue, l);
  g_queue_push_head (&self->queue, data);
}

void
hl_inference_cancel (HlInference *self)
{
  g_return_if_fail (HL_IS_INFERENCE (self));

  g_queue_clear_full (&self->queue, g_free);
  if (self->cancellable != NULL)
    {
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
    }
  g_clear_pointer (&self->running, g_free);
  g_clear_handle_id (&self->progress_source, g_source_remove);
  self->done = self->total = 0;

  g_clear_pointer (&self->layer_wanted, layer_job_free);
  if (self->layer_cancellable != NULL)
    {
      g_cancellable_cancel (self->layer_cancellable);
      g_clear_object (&self->layer_cancellable);
    }
  self->layer_running = NULL; /* the task owns it */
}

HlResult *
hl_inference_lookup (HlInference *self, const char *path)
{
  g_return_val_if_fail (HL_IS_INFERENCE (self), NULL);
  return g_hash_table_lookup (self->cache, path);
}

const GError *
hl_inference_lookup_error (HlInference *self, const char *path)
{
  g_return_val_if_fail (HL_IS_INFERENCE (self), NULL);
  return g_hash_table_lookup (self->errors, path);
}

gboolean
hl_inference_is_busy (HlInference *self)
{
  g_return_val_if_fail (HL_IS_INFERENCE (self), FALSE);
  return self->running != NULL || !g_queue_is_empty (&self->queue);
}
