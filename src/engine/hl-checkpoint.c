/* hl-checkpoint.c — the training checkpoint's state file (format in hl-checkpoint.h): writing it,
 * reading it back with every field validated behind a SHA-256 of the whole content, and checking
 * the model files it records before they are loaded. */
#include "hl-checkpoint.h"
#include "hl-file-write.h"
#include "hl-model-private.h"

#include <math.h>
#include <string.h>

#define MAGIC "\x89HLCKPT\n"
#define MAGIC_V1 "HLTRAIN1"
#define MAGIC_LEN 8
#define HEADER_LEN 144
#define SHA_LEN HL_CHECKPOINT_SHA256_LEN

enum
{
  FILE_SGD = 1,
  FILE_ADAM = 2,
  FILE_ADAMW = 3,
};

void
hl_checkpoint_free (HlCheckpoint *ckpt)
{
  if (ckpt == NULL)
    return;
  g_free (ckpt->fingerprint);
  g_free (ckpt->moments);
  g_free (ckpt);
}

/* ---- little-endian fields ---- */

static void
put_u32 (GByteArray *out, guint32 v)
{
  guint32 le = GUINT32_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &le, 4);
}

static void
put_u64 (GByteArray *out, guint64 v)
{
  guint64 le = GUINT64_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &le, 8);
}

static void
put_f64 (GByteArray *out, double v)
{
  guint64 bits;
  memcpy (&bits, &v, 8);
  put_u64 (out, bits);
}

static guint32
get_u32 (const guint8 *p)
{
  guint32 le;
  memcpy (&le, p, 4);
  return GUINT32_FROM_LE (le);
}

static guint64
get_u64 (const guint8 *p)
{
  guint64 le;
  memcpy (&le, p, 8);
  return GUINT64_FROM_LE (le);
}

static double
get_f64 (const guint8 *p)
{
  guint64 bits = get_u64 (p);
  double v;
  memcpy (&v, &bits, 8);
  return v;
}

static void
sha256 (const guint8 *data, gsize size, guint8 digest[SHA_LEN])
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize len = SHA_LEN;

  /* g_checksum_update takes a gssize: feed it in pieces below G_MAXSSIZE */
  for (gsize off = 0; off < size; off += MIN (size - off, (gsize) G_MAXINT32))
    g_checksum_update (sum, data + off, (gssize) MIN (size - off, (gsize) G_MAXINT32));
  g_checksum_get_digest (sum, digest, &len);
  g_assert (len == SHA_LEN);
}

/* ---- validation shared by the writer and the reader ---- */

/* The problem with @state and the moments, or NULL when they can be a checkpoint's. */
static char *
state_problem (const HlCheckpointState *state, HlOptimKind kind, const float *moments,
               gsize n_moments)
{
  gboolean adam = kind == HL_OPTIM_ADAM || kind == HL_OPTIM_ADAMW;

  if (state->epoch < 1)
    return g_strdup ("no finished epoch (epoch 0)");
  if (state->best_epoch < 1 || state->best_epoch > state->epoch)
    return g_strdup_printf ("best epoch %u outside 1 .. %u", state->best_epoch, state->epoch);
  if (state->step < 0)
    return g_strdup_printf ("negative step count %" G_GINT64_FORMAT, state->step);
  if (!isnan (state->best_mean) && !(state->best_mean >= 0.0 && state->best_mean <= 1.0))
    return g_strdup_printf ("best mean AUROC %g outside [0, 1]", state->best_mean);
  if (adam && n_moments % 2 != 0)
    return g_strdup_printf ("an odd number (%" G_GSIZE_FORMAT ") of Adam moments", n_moments);
  for (gsize i = 0; i < n_moments; i++)
    {
      gboolean second = adam && i >= n_moments / 2;
      gsize index = second ? i - n_moments / 2 : i;
      const char *what = !adam ? "momentum" : second ? "second moment" : "first moment";

      if (!isfinite (moments[i]))
        return g_strdup_printf ("optimiser %s %" G_GSIZE_FORMAT " is not finite (%g)", what,
                                index, moments[i]);
      if (second && moments[i] < 0.0f)
        return g_strdup_printf ("optimiser %s %" G_GSIZE_FORMAT " is negative (%g)", what, index,
                                moments[i]);
    }
  return NULL;
}

/* ---- writing ---- */

GBytes *
hl_checkpoint_to_bytes (const HlCheckpoint *ckpt, GError **error)
{
  g_autoptr (GByteArray) out = NULL;
  g_autofree char *problem = NULL;
  guint32 kind;
  gsize fp_len;
  guint8 digest[SHA_LEN];

  g_return_val_if_fail (ckpt != NULL && ckpt->fingerprint != NULL, NULL);
  g_return_val_if_fail (ckpt->moments != NULL || ckpt->n_moments == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  switch (ckpt->optimizer)
    {
    case HL_OPTIM_SGD:
      kind = FILE_SGD;
      break;
    case HL_OPTIM_ADAM:
      kind = FILE_ADAM;
      break;
    case HL_OPTIM_ADAMW:
      kind = FILE_ADAMW;
      break;
    default:
      g_return_val_if_reached (NULL);
    }
  fp_len = strlen (ckpt->fingerprint);
  if (fp_len < 1 || fp_len > HL_CHECKPOINT_MAX_FINGERPRINT
      || !g_utf8_validate (ckpt->fingerprint, -1, NULL))
    problem = g_strdup_printf ("a settings fingerprint of %" G_GSIZE_FORMAT " bytes (1 .. %d of "
                               "UTF-8)", fp_len, HL_CHECKPOINT_MAX_FINGERPRINT);
  else if (ckpt->n_moments > (G_MAXUINT - HEADER_LEN - SHA_LEN - fp_len) / sizeof (float))
    problem = g_strdup_printf ("%" G_GSIZE_FORMAT " floats of optimiser state", ckpt->n_moments);
  else
    problem = state_problem (&ckpt->state, ckpt->optimizer, ckpt->moments, ckpt->n_moments);
  if (problem != NULL)
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT,
                   "Cannot write a checkpoint with %s", problem);
      return NULL;
    }

  out = g_byte_array_sized_new ((guint) (HEADER_LEN + fp_len + ckpt->n_moments * 4 + SHA_LEN));
  g_byte_array_append (out, (const guint8 *) MAGIC, MAGIC_LEN);
  put_u32 (out, HL_CHECKPOINT_VERSION);
  put_u32 (out, kind);
  put_u32 (out, ckpt->state.epoch);
  put_u32 (out, ckpt->state.best_epoch);
  put_u64 (out, (guint64) ckpt->state.step);
  put_u64 (out, ckpt->state.rng);
  put_f64 (out, ckpt->state.best_mean);
  put_u64 (out, ckpt->state.epoch_file.size);
  g_byte_array_append (out, ckpt->state.epoch_file.sha256, SHA_LEN);
  put_u64 (out, ckpt->state.best_file.size);
  g_byte_array_append (out, ckpt->state.best_file.sha256, SHA_LEN);
  put_u64 (out, fp_len);
  put_u64 (out, ckpt->n_moments);
  g_assert (out->len == HEADER_LEN);
  g_byte_array_append (out, (const guint8 *) ckpt->fingerprint, (guint) fp_len);
  for (gsize i = 0; i < ckpt->n_moments; i++)
    {
      guint32 bits;
      memcpy (&bits, &ckpt->moments[i], 4);
      put_u32 (out, bits);
    }
  sha256 (out->data, out->len, digest);
  g_byte_array_append (out, digest, SHA_LEN);
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

gboolean
hl_checkpoint_save (const HlCheckpoint *ckpt, const char *path, GError **error)
{
  g_autoptr (GBytes) bytes = NULL;
  gsize size;
  const char *data;

  g_return_val_if_fail (ckpt != NULL && path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  bytes = hl_checkpoint_to_bytes (ckpt, error);
  if (bytes == NULL)
    return FALSE;
  data = g_bytes_get_data (bytes, &size);
  return hl_file_write_contents (path, data, size, NULL, error);
}

/* ---- reading ---- */

/* Sets @error to HL_ENGINE_ERROR_FORMAT: @origin is not a valid state file, for the reason given. */
static void
corrupt (GError **error, const char *origin, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
corrupt (GError **error, const char *origin, const char *format, ...)
{
  va_list args;
  g_autofree char *problem = NULL;

  va_start (args, format);
  problem = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT,
               "%s: not a valid checkpoint state (truncated or corrupt): %s", origin, problem);
}

HlCheckpoint *
hl_checkpoint_new_from_data (const guint8 *data, gsize size, const char *origin,
                             gsize max_moments, GError **error)
{
  g_autoptr (HlCheckpoint) ckpt = NULL;
  g_autofree char *problem = NULL;
  guint8 digest[SHA_LEN];
  guint32 version, kind;
  guint64 fp_len, n_moments;
  const guint8 *p;

  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (origin != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (size >= MAGIC_LEN && memcmp (data, MAGIC_V1, MAGIC_LEN) == 0)
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT,
                   "%s was written by an older Hilum (checkpoint format 1, without checksums): "
                   "it cannot be verified, so it is not read; start the run again, or finish it "
                   "with the Hilum that began it", origin);
      return NULL;
    }
  if (size < MAGIC_LEN || memcmp (data, MAGIC, MAGIC_LEN) != 0)
    {
      corrupt (error, origin, "no checkpoint magic at its start");
      return NULL;
    }
  if (size < HEADER_LEN + SHA_LEN)
    {
      corrupt (error, origin, "%" G_GSIZE_FORMAT " bytes, a checkpoint has at least %d", size,
               HEADER_LEN + SHA_LEN);
      return NULL;
    }
  version = get_u32 (data + 8);
  sha256 (data, size - SHA_LEN, digest);
  if (memcmp (digest, data + size - SHA_LEN, SHA_LEN) != 0)
    {
      if (version != HL_CHECKPOINT_VERSION)
        corrupt (error, origin, "its SHA-256 does not match its content, and it says format "
                 "version %u (this Hilum reads version %d)", version, HL_CHECKPOINT_VERSION);
      else
        corrupt (error, origin, "its SHA-256 does not match its content (a changed or missing "
                 "byte)");
      return NULL;
    }
  if (version != HL_CHECKPOINT_VERSION)
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT,
                   "%s is checkpoint format version %u, written by %s Hilum: this one reads "
                   "version %d; start the run again, or finish it with the Hilum that began it",
                   origin, version, version > HL_CHECKPOINT_VERSION ? "a newer" : "an older",
                   HL_CHECKPOINT_VERSION);
      return NULL;
    }

  ckpt = g_new0 (HlCheckpoint, 1);
  kind = get_u32 (data + 12);
  switch (kind)
    {
    case FILE_SGD:
      ckpt->optimizer = HL_OPTIM_SGD;
      break;
    case FILE_ADAM:
      ckpt->optimizer = HL_OPTIM_ADAM;
      break;
    case FILE_ADAMW:
      ckpt->optimizer = HL_OPTIM_ADAMW;
      break;
    default:
      corrupt (error, origin, "unknown optimiser %u", kind);
      return NULL;
    }
  ckpt->state.epoch = get_u32 (data + 16);
  ckpt->state.best_epoch = get_u32 (data + 20);
  ckpt->state.step = (gint64) get_u64 (data + 24);
  ckpt->state.rng = get_u64 (data + 32);
  ckpt->state.best_mean = get_f64 (data + 40);
  ckpt->state.epoch_file.size = get_u64 (data + 48);
  memcpy (ckpt->state.epoch_file.sha256, data + 56, SHA_LEN);
  ckpt->state.best_file.size = get_u64 (data + 88);
  memcpy (ckpt->state.best_file.sha256, data + 96, SHA_LEN);
  fp_len = get_u64 (data + 128);
  n_moments = get_u64 (data + 136);

  /* sizes before anything is allocated: size >= HEADER_LEN + SHA_LEN here */
  gsize body = size - HEADER_LEN - SHA_LEN;
  if (fp_len < 1 || fp_len > HL_CHECKPOINT_MAX_FINGERPRINT || fp_len > body)
    {
      corrupt (error, origin, "a settings fingerprint of %" G_GUINT64_FORMAT " bytes (1 .. %d, "
               "within the file)", fp_len, HL_CHECKPOINT_MAX_FINGERPRINT);
      return NULL;
    }
  if (n_moments > max_moments || n_moments != (body - fp_len) / sizeof (float)
      || (body - fp_len) % sizeof (float) != 0)
    {
      corrupt (error, origin, "%" G_GUINT64_FORMAT " floats of optimiser state in %" G_GSIZE_FORMAT
               " bytes (at most %" G_GSIZE_FORMAT " floats for this model)", n_moments,
               body - fp_len, max_moments);
      return NULL;
    }

  p = data + HEADER_LEN;
  if (memchr (p, '\0', fp_len) != NULL || !g_utf8_validate ((const char *) p, (gssize) fp_len,
                                                            NULL))
    {
      corrupt (error, origin, "its settings fingerprint is not UTF-8 text");
      return NULL;
    }
  ckpt->fingerprint = g_strndup ((const char *) p, fp_len);
  p += fp_len;
  ckpt->n_moments = n_moments;
  ckpt->moments = g_new (float, MAX (n_moments, 1));
  for (gsize i = 0; i < n_moments; i++)
    {
      guint32 bits = get_u32 (p + 4 * i);
      memcpy (&ckpt->moments[i], &bits, 4);
    }
  problem = state_problem (&ckpt->state, ckpt->optimizer, ckpt->moments, ckpt->n_moments);
  if (problem != NULL)
    {
      corrupt (error, origin, "%s", problem);
      return NULL;
    }
  return g_steal_pointer (&ckpt);
}

HlCheckpoint *
hl_checkpoint_load (const char *path, gsize max_moments, GError **error)
{
  g_autoptr (GMappedFile) file = NULL;
  g_autoptr (GError) local_error = NULL;
  gsize size, cap;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  file = g_mapped_file_new (path, FALSE, &local_error);
  if (file == NULL)
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_IO, "%s: cannot read the checkpoint "
                   "state: %s", path, local_error->message);
      return NULL;
    }
  size = g_mapped_file_get_length (file);
  /* the largest valid file: refused unread (and unhashed) beyond it */
  cap = HEADER_LEN + HL_CHECKPOINT_MAX_FINGERPRINT + SHA_LEN;
  cap = max_moments > (G_MAXSIZE - cap) / sizeof (float) ? G_MAXSIZE
                                                           : cap + max_moments * sizeof (float);
  if (size > cap)
    {
      corrupt (error, path, "%" G_GSIZE_FORMAT " bytes, more than a checkpoint of this model can "
               "have (%" G_GSIZE_FORMAT ")", size, cap);
      return NULL;
    }
  return hl_checkpoint_new_from_data ((const guint8 *) g_mapped_file_get_contents (file), size,
                                      path, max_moments, error);
}

gsize
hl_checkpoint_max_moments (HlModel *model)
{
  g_return_val_if_fail (model != NULL, 0);

  return model->arena_floats > G_MAXSIZE / 2 ? G_MAXSIZE : 2 * model->arena_floats;
}

/* Maps @path for reading; HL_ENGINE_ERROR_IO naming it when it cannot be. */
static GMappedFile *
map_file (const char *path, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  GMappedFile *file = g_mapped_file_new (path, FALSE, &local_error);

  if (file == NULL)
    g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_IO, "%s: cannot read: %s", path,
                 local_error->message);
  return file;
}

gboolean
hl_checkpoint_file_digest (const char *path, HlCheckpointFile *file, GError **error)
{
  g_autoptr (GMappedFile) mapped = NULL;

  g_return_val_if_fail (path != NULL && file != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  mapped = map_file (path, error);
  if (mapped == NULL)
    return FALSE;
  file->size = g_mapped_file_get_length (mapped);
  sha256 ((const guint8 *) g_mapped_file_get_contents (mapped), file->size, file->sha256);
  return TRUE;
}

HlModel *
hl_checkpoint_load_model (const char *path, const HlCheckpointFile *expected,
                          const char *checkpoint, GError **error)
{
  g_autoptr (GMappedFile) mapped = NULL;
  const guint8 *data;
  guint8 digest[SHA_LEN];
  gsize size;

  g_return_val_if_fail (path != NULL && expected != NULL && checkpoint != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  mapped = map_file (path, error);
  if (mapped == NULL)
    return NULL;
  data = (const guint8 *) g_mapped_file_get_contents (mapped);
  size = g_mapped_file_get_length (mapped);
  /* the size first: a file of another size is refused without reading it */
  if (size != expected->size)
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT,
                   "%s is not the model file %s recorded: %" G_GSIZE_FORMAT " bytes instead of %"
                   G_GUINT64_FORMAT " (changed or damaged since it was written)", path,
                   checkpoint, size, expected->size);
      return NULL;
    }
  sha256 (data, size, digest);
  if (memcmp (digest, expected->sha256, SHA_LEN) != 0)
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT,
                   "%s is not the model file %s recorded: its SHA-256 differs (changed or "
                   "damaged since it was written)", path, checkpoint);
      return NULL;
    }
  return hl_model_new_from_data (data, size, path, error);
}
