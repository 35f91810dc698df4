/* hl-checkpoint.h — a training run's checkpoint state file (state.bin): what a resumed run needs
 * besides the epoch's model file to continue exactly, in a format that refuses any change.
 *
 * Format 2, every number little-endian:
 *
 *   offset  size  field
 *        0     8  magic "\x89HLCKPT\n"
 *        8     4  u32 format version, 2
 *       12     4  u32 optimiser: 1 SGD, 2 Adam, 3 AdamW
 *       16     4  u32 epochs finished, >= 1
 *       20     4  u32 best epoch, 1 .. epochs finished
 *       24     8  i64 optimiser steps taken, >= 0
 *       32     8  u64 HlRng state after the last finished epoch (every value is a valid state)
 *       40     8  f64 best validation mean AUROC: NaN (undefined) or in [0, 1]
 *       48     8  u64 size of the epoch's model file
 *       56    32  SHA-256 of the epoch's model file
 *       88     8  u64 size of the best epoch's model file
 *       96    32  SHA-256 of the best epoch's model file
 *      128     8  u64 L: bytes of the settings fingerprint, 1 .. HL_CHECKPOINT_MAX_FINGERPRINT
 *      136     8  u64 N: floats of optimiser state
 *      144     L  the settings fingerprint, UTF-8 without NUL
 *    144+L    4N  f32 optimiser state (hl_optim_get_state): SGD, the momentum buffer (N may be 0);
 *                 Adam(W), N even, m then v: every value finite, every v >= 0
 *   144+L+4N  32  SHA-256 of every byte before it
 *
 * Format 1 (magic "HLTRAIN1", before checksums) is refused, never read: it records neither a
 * checksum nor the model file it goes with, so nothing could tell a damaged one from a good one.
 * Errors are HL_ENGINE_ERROR: _IO when a file cannot be read, _FORMAT when it is not a valid
 * checkpoint (the message names the file and the problem), _INPUT for state that cannot be saved.
 */
#pragma once

#include "hl-engine.h"
#include "hl-train.h"

G_BEGIN_DECLS

#define HL_CHECKPOINT_VERSION 2
#define HL_CHECKPOINT_SHA256_LEN 32
/* Bytes of a settings fingerprint at most; hilum-cli train's are about 300. */
#define HL_CHECKPOINT_MAX_FINGERPRINT 65536

/* A file a checkpoint goes with, as it was when written. */
typedef struct
{
  guint64 size;
  guint8 sha256[HL_CHECKPOINT_SHA256_LEN];
} HlCheckpointFile;

/* What training has reached, besides parameters and optimiser moments. */
typedef struct
{
  guint32 epoch;      /* epochs finished */
  guint32 best_epoch; /* the kept epoch so far; 0 before the first */
  gint64 step;        /* optimiser steps taken */
  guint64 rng;        /* HlRng state after the last finished epoch */
  double best_mean;   /* the best epoch's validation mean AUROC (NaN when undefined) */
  HlCheckpointFile epoch_file; /* the epoch's model file (epoch-NNNN.safetensors) */
  HlCheckpointFile best_file;  /* the best epoch's model file (best.safetensors) */
} HlCheckpointState;

/* A whole state file. Loaded ones own @fingerprint and @moments (hl_checkpoint_free); one built
 * by a caller to save lends them and is not freed. */
typedef struct
{
  HlCheckpointState state;
  HlOptimKind optimizer;
  char *fingerprint; /* the settings the run was started with, compared by the caller */
  float *moments;    /* (n_moments) the optimiser state, as hl_optim_get_state */
  gsize n_moments;
} HlCheckpoint;

void hl_checkpoint_free (HlCheckpoint *ckpt);

/* The state file's bytes for @ckpt (format above). NULL with HL_ENGINE_ERROR_INPUT when a field is
 * out of range or a moment not finite (an Adam second moment negative): a checkpoint that could
 * not be read back is never written. */
GBytes *hl_checkpoint_to_bytes (const HlCheckpoint *ckpt, GError **error);

/* Writes hl_checkpoint_to_bytes() to @path atomically (hl_file_write_contents: a temporary file
 * renamed over @path, never over a file Hilum did not write). FALSE with @error
 * (HL_ENGINE_ERROR_INPUT, or HL_FILE_WRITE_ERROR from the write). */
gboolean hl_checkpoint_save (const HlCheckpoint *ckpt, const char *path, GError **error);

/* Parses and validates a state file held in memory, @origin naming it in messages: the checksum
 * first, then every field (ranges above; at most @max_moments floats of optimiser state, checked
 * before allocating). Returns a new checkpoint, or NULL with @error (HL_ENGINE_ERROR_FORMAT). */
HlCheckpoint *hl_checkpoint_new_from_data (const guint8 *data, gsize size, const char *origin,
                                           gsize max_moments, GError **error);

/* hl_checkpoint_new_from_data() on the file @path; a file larger than a checkpoint with
 * @max_moments floats can be is refused before it is read. */
HlCheckpoint *hl_checkpoint_load (const char *path, gsize max_moments, GError **error);

/* A bound on the optimiser state a checkpoint of a run training @model can hold: two floats (Adam's
 * m and v) for every float of the model's tensors, parameters or not. */
gsize hl_checkpoint_max_moments (HlModel *model);

/* The size and SHA-256 of the file @path, into @file. FALSE with @error (HL_ENGINE_ERROR_IO). */
gboolean hl_checkpoint_file_digest (const char *path, HlCheckpointFile *file, GError **error);

/* Loads the model file @path after checking that it is the file @expected describes: its size,
 * then the SHA-256 of the very bytes the model is then read from. A mismatch is
 * HL_ENGINE_ERROR_FORMAT naming @path and @checkpoint (the state file that recorded it). Returns
 * a new model or NULL with @error. */
HlModel *hl_checkpoint_load_model (const char *path, const HlCheckpointFile *expected,
                                   const char *checkpoint, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlCheckpoint, hl_checkpoint_free)

G_END_DECLS
