/* hl-engine.h — the public API of Hilum's neural-network engine.
 *
 * The engine loads a DenseNet model file (safetensors, see README "Model file format"),
 * preprocesses grayscale X-ray planes exactly as the file says, runs the forward pass on the CPU
 * (the engine's own AVX-512 convolution kernel where the CPU has one, OpenBLAS sgemm elsewhere)
 * and derives Grad-CAM maps for every label from the same pass.
 *
 * Threading: an HlModel is immutable after load and may be shared by any number of threads; each
 * call to hl_model_forward() uses its own workspace. The thread count of the engine's kernels is
 * process-wide and set with hl_engine_set_threads().
 *
 * Depends on GLib, GIO (GCancellable), json-glib and cblas only.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define HL_ENGINE_ERROR (hl_engine_error_quark ())

typedef enum
{
  HL_ENGINE_ERROR_IO,        /* the file cannot be opened or mapped */
  HL_ENGINE_ERROR_FORMAT,    /* not safetensors: truncated, bad JSON, offsets, unknown dtype */
  HL_ENGINE_ERROR_SHAPE,     /* a tensor is missing or its shape does not fit the architecture */
  HL_ENGINE_ERROR_METADATA,  /* a metadata field is missing, malformed or out of range */
  HL_ENGINE_ERROR_INPUT,     /* run-time input that does not fit the model */
  HL_ENGINE_ERROR_CANCELLED, /* the GCancellable fired */
  HL_ENGINE_ERROR_NOT_FOUND, /* no model was given and no default model exists */
} HlEngineError;

GQuark hl_engine_error_quark (void);

/* How an image is resized to the model's input.
 * HL_RESIZE_BILINEAR, HL_RESIZE_BILINEAR_ANTIALIAS: PyTorch's torch.nn.functional.interpolate
 *   (mode='bilinear', align_corners=False) with antialias=False / True.
 * HL_RESIZE_PIL_BILINEAR: torchvision's Resize(s) + CenterCrop(s) on an 8-bit PIL image: the
 *   short side to s and the long side to int (s * long / short) by PIL's BILINEAR, then the
 *   centred s x s (CheXNet reproductions). Needs the plane quantised to 8 bits.
 * HL_RESIZE_NEAREST: PIL's NEAREST to s x s, what Keras' load_img (target_size) does.
 * HL_RESIZE_SKIMAGE: skimage.transform.resize (order 1, anti-aliased, mode 'constant'), as
 *   torchxrayvision's XRayResizer. */
typedef enum
{
  HL_RESIZE_BILINEAR,
  HL_RESIZE_BILINEAR_ANTIALIAS,
  HL_RESIZE_PIL_BILINEAR,
  HL_RESIZE_NEAREST,
  HL_RESIZE_SKIMAGE,
} HlResizeFilter;

/* How pixel values are normalised after resizing.
 * HL_NORM_CHANNEL: out[c] = (x - mean[c]) / std[c] with the file's constants (ImageNet style).
 * HL_NORM_IMAGE: out = (x - mean(x)) / std(x) over the resized image (population std, + 1e-7),
 *                the notebook's per-sample normalisation; mean/std constants unused.
 * HL_NORM_NONE: out = x (the range mapping already gave the model's scale). */
typedef enum
{
  HL_NORM_CHANNEL,
  HL_NORM_IMAGE,
  HL_NORM_NONE,
} HlNormMode;

/* What part of the image is resized. HL_CROP_CENTER: the centred square of the short side's
 * length, starting at (long / 2 - short / 2) in integer division (torchxrayvision's
 * XRayCenterCrop). */
typedef enum
{
  HL_CROP_NONE,
  HL_CROP_CENTER,
} HlCrop;

/* The value range the plane's [0, 1] is mapped onto before resizing: [0, 1] (PyTorch's
 * ToTensor), [0, 255] (Keras' 8-bit pixels), [-1024, 1024] (torchxrayvision's normalize). */
typedef enum
{
  HL_RANGE_UNIT,
  HL_RANGE_BYTE,
  HL_RANGE_XRV,
} HlValueRange;

/* How a logit becomes the score shown. HL_OUTPUT_SIGMOID: sigmoid (z). HL_OUTPUT_OP_NORM:
 * torchxrayvision's op_norm of p = sigmoid (z) with the label's operating point t:
 * p / (2 t) below t, 1 - (1 - p) / (2 (1 - t)) from t on, so that t maps to 0.5. */
typedef enum
{
  HL_OUTPUT_SIGMOID,
  HL_OUTPUT_OP_NORM,
} HlOutputCalibration;

#define HL_MAX_BLOCKS 8

typedef struct
{
  int growth_rate;                  /* 32 for DenseNet-121 */
  int n_blocks;                     /* 4 */
  int block_config[HL_MAX_BLOCKS];  /* 6, 12, 24, 16 */
  int num_init_features;            /* 64 */
  int bn_size;                      /* 4 */
  float bn_eps;                     /* 1e-5 */
} HlDenseNetConfig;

/* The whole path from a grayscale plane in [0, 1] to the network's input, in this order:
 * optional rounding to 8 bits (v = round (255 v) / 255: the source pipeline read 8-bit images),
 * the crop, the mapping of [0, 1] onto the range, the resize, the normalisation,
 * and replication to the input channels. (HL_RESIZE_PIL_BILINEAR resizes the 8-bit values
 * before the range mapping, as PIL does before ToTensor.) */
typedef struct
{
  gboolean quantize8;
  HlCrop crop;
  HlValueRange range;
  HlResizeFilter resize;
  HlNormMode mode;
  float mean[3];
  float std[3];
} HlPreprocess;

/* Everything the model file's __metadata__ says, validated. Owned by the HlModel. */
typedef struct
{
  char *name;            /* e.g. "hilum-densenet121-nih" */
  char *version;         /* e.g. "1.0" */
  HlDenseNetConfig arch;
  int input_size;        /* square input side, e.g. 224 */
  int input_channels;    /* 1 or 3 (gray replicated) */
  int n_labels;
  char **labels;         /* (n_labels), NULL-terminated */
  HlPreprocess preprocess;
  float *thresholds;     /* (n_labels) operating points on the probability; 0.5 if none given */
  float *val_auroc;      /* (n_labels) validation AUROC; NAN where the file has none */
  HlOutputCalibration calibration;
  float *op_thresholds;  /* (n_labels) HL_OUTPUT_OP_NORM's operating points, else NULL */
  char *training_data;   /* free text, "" if absent */
  char *intended_use;    /* free text, "" if absent */
  int n_features;        /* channels of the last feature map (derived from arch), 1024 for -121 */
} HlModelInfo;

typedef struct _HlModel HlModel;

/* Loads and validates a model file. Returns NULL and sets @error (HL_ENGINE_ERROR, message naming
 * @path and the problem) on any failure; never reads out of bounds. */
HlModel *hl_model_new_from_file (const char *path, GError **error);

/* The same from memory; @origin names the data in error messages. Used by tests and fuzzers. */
HlModel *hl_model_new_from_data (const guint8 *data, gsize size, const char *origin,
                                 GError **error);

HlModel *hl_model_ref (HlModel *model);
void hl_model_unref (HlModel *model);

/* Lends the model's metadata; valid while the model lives. */
const HlModelInfo *hl_model_get_info (HlModel *model);

/* Sets / gets the thread count for the whole process (n >= 1): the number of threads the
 * engine's kernels, matrix products included, split their work over (OpenBLAS itself is kept
 * on one thread). Before the first set it is OpenBLAS' default (OPENBLAS_NUM_THREADS, else the
 * number of cores). */
void hl_engine_set_threads (int n);
int hl_engine_get_threads (void);

/* The metadata names (README "Model file format") of the preprocessing and output choices, e.g.
 * "bilinear-antialias", "channel", "center", "[0, 255]", "op-norm". Static strings. */
const char *hl_preprocess_resize_name (HlResizeFilter filter);
const char *hl_preprocess_mode_name (HlNormMode mode);
const char *hl_preprocess_crop_name (HlCrop crop);
const char *hl_preprocess_range_name (HlValueRange range);
const char *hl_output_calibration_name (HlOutputCalibration calibration);

/* Number of floats of one preprocessed input: input_channels * input_size * input_size. */
gsize hl_model_input_size (HlModel *model);

/* Preprocesses one grayscale plane @gray (h, w), values in [0, 1], into @out
 * (input_channels, input_size, input_size) exactly as the model's metadata says.
 * The same function serves training and inference. */
void hl_model_preprocess (HlModel *model, const float *gray, int h, int w, float *out);

typedef void (*HlProgressFunc) (double fraction, gpointer user_data);

/* The result of one forward pass over a batch. */
typedef struct
{
  int n;          /* images in the batch */
  int n_labels;
  float *logits;  /* (n, n_labels) */
  float *probs;   /* (n, n_labels), sigmoid of logits */
  int c_feat, h_feat, w_feat;
  float *features; /* (n, c_feat, h_feat, w_feat): the last feature map, after the final
                    * BatchNorm + ReLU and before global average pooling */
} HlForward;

/* Runs the network on @input (n, input_channels, input_size, input_size), already preprocessed.
 * Thread-safe on a shared model. Checks @cancellable between layers (HL_ENGINE_ERROR_CANCELLED)
 * and calls @progress (may be NULL) with a fraction in [0, 1] from the calling thread. */
HlForward *hl_model_forward (HlModel *model, const float *input, int n, HlProgressFunc progress,
                             gpointer user_data, GCancellable *cancellable, GError **error);
void hl_forward_free (HlForward *fwd);

/* Grad-CAM of image @image for every label, from the pass that produced the scores:
 * maps[l] = ReLU (sum_k a_lk A_k), a_lk = d logit_l / d A_k averaged over the map
 * = classifier.weight[l, k] / (h_feat * w_feat). Fills @maps (n_labels, h_feat, w_feat). */
void hl_forward_gradcam (HlModel *model, const HlForward *fwd, int image, float *maps);

/* Upsamples a map (h, w) to (out_h, out_w) bilinearly (align_corners=False, as PyTorch). */
void hl_gradcam_upsample (const float *map, int h, int w, float *out, int out_h, int out_w);

/* One decoded grayscale image: @pixels (height, width), values in [0, 1]. Lent by the caller. */
typedef struct
{
  const float *pixels;
  int width, height;
} HlGrayPlane;

/* What the model says about a batch of images, from one forward pass. */
typedef struct
{
  int n;            /* images */
  int n_labels;
  float *probs;     /* (n, n_labels) sigmoid outputs, in the model's label order */
  int map_h, map_w; /* the last feature map's size: the Grad-CAM resolution */
  float *maps;      /* (n, n_labels, map_h, map_w) Grad-CAM maps (ReLU'd, unnormalised, as
                     * hl_forward_gradcam), or NULL when not asked for */
} HlAnalysis;

/* The whole inference path for @n >= 1 images @planes: each preprocessed as the model file says
 * (hl_model_preprocess), all run as one batch (hl_model_forward, with @progress, @cancellable),
 * and with @gradcam every label's Grad-CAM map of every image from that same pass. The maps stay
 * at the feature map's size; hl_gradcam_upsample() takes them to any display size. Returns a new
 * result to free with hl_analysis_free(), or NULL with @error (HL_ENGINE_ERROR) set. */
HlAnalysis *hl_model_analyze (HlModel *model, const HlGrayPlane *planes, int n, gboolean gradcam,
                              HlProgressFunc progress, gpointer user_data,
                              GCancellable *cancellable, GError **error);
void hl_analysis_free (HlAnalysis *analysis);

/* The default model: the file name Hilum ships its trained model under (data/models/). */
#define HL_DEFAULT_MODEL_FILE "hilum-densenet121-nih.safetensors"

/* The files hl_model_find_default() tries after HILUM_MODEL, in order: HL_DEFAULT_MODEL_FILE in
 * the source tree's data/models (runs from the build tree), then in the installed
 * $datadir/hilum/models. The environment variable HILUM_MODEL_DIRS (folders separated by
 * G_SEARCHPATH_SEPARATOR) replaces those two folders. Returns a new NULL-terminated array
 * (g_strfreev). */
char **hl_model_default_candidates (void);

/* The first of @candidates (NULL-terminated) that is a regular file, as a new string; else NULL
 * and @error (HL_ENGINE_ERROR_NOT_FOUND) naming every candidate and how to get a model. */
char *hl_model_find_in (const char *const *candidates, GError **error);

/* The model file to use when none was given: $HILUM_MODEL when set and non-empty (returned as
 * given: a missing file is reported by hl_model_new_from_file, never skipped), else
 * hl_model_find_in (hl_model_default_candidates ()). Returns a new path or NULL with @error. */
char *hl_model_find_default (GError **error);

/* The model card beside @model_path: the same path with ".safetensors" replaced by ".md" (or
 * ".md" appended when the name has no such suffix). Returns a new string; the file may not
 * exist. */
char *hl_model_card_path (const char *model_path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlModel, hl_model_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlForward, hl_forward_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlAnalysis, hl_analysis_free)

G_END_DECLS
