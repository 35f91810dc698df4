/* fuzz-checkpoint.c — libFuzzer target for the training checkpoint's state reader
 * (hl_checkpoint_new_from_data, format in hl-checkpoint.h): any input must end in a checkpoint or a
 * GError naming it, never a crash, a leak, an out-of-bounds read or undefined behaviour, and
 * never an allocation larger than the input.
 *
 * Every input is read twice: as it is, which almost always stops at the SHA-256 check, and with
 * its last 32 bytes replaced by the SHA-256 of the bytes before them, so that the field parser and
 * validation behind the checksum see every mutation too. A checkpoint that loads must be in range
 * and must write back to exactly the bytes it was read from. */
#include "engine/hl-checkpoint.h"

#include <math.h>
#include <string.h>

#define ORIGIN "fuzz-state.bin"
#define MAX_MOMENTS (1 << 20)

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
check_checkpoint (const HlCheckpoint *ckpt, const guint8 *data, size_t size)
{
  const HlCheckpointState *s = &ckpt->state;
  gboolean adam = ckpt->optimizer != HL_OPTIM_SGD;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;

  g_assert (s->epoch >= 1 && s->best_epoch >= 1 && s->best_epoch <= s->epoch && s->step >= 0);
  g_assert (isnan (s->best_mean) || (s->best_mean >= 0.0 && s->best_mean <= 1.0));
  g_assert (ckpt->fingerprint != NULL && ckpt->fingerprint[0] != '\0');
  g_assert (ckpt->n_moments <= MAX_MOMENTS && ckpt->n_moments * sizeof (float) < size);
  g_assert (!adam || ckpt->n_moments % 2 == 0);
  for (gsize i = 0; i < ckpt->n_moments; i++)
    g_assert (isfinite (ckpt->moments[i])
              && (!adam || i < ckpt->n_moments / 2 || ckpt->moments[i] >= 0.0f));

  bytes = hl_checkpoint_to_bytes (ckpt, &error);
  g_assert (bytes != NULL && error == NULL);
  g_assert (g_bytes_get_size (bytes) == size
            && memcmp (g_bytes_get_data (bytes, NULL), data, size) == 0);
}

static void
read_state (const guint8 *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HlCheckpoint) ckpt = hl_checkpoint_new_from_data (data, size, ORIGIN, MAX_MOMENTS,
                                                               &error);

  g_assert ((ckpt == NULL) != (error == NULL));
  if (ckpt != NULL)
    check_checkpoint (ckpt, data, size);
  else
    g_assert (error->domain == HL_ENGINE_ERROR && error->code == HL_ENGINE_ERROR_FORMAT
              && g_str_has_prefix (error->message, ORIGIN));
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  read_state (data, size);
  if (size >= HL_CHECKPOINT_SHA256_LEN)
    {
      g_autofree guint8 *signed_copy = g_memdup2 (data, size);
      g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
      gsize body = size - HL_CHECKPOINT_SHA256_LEN, len = HL_CHECKPOINT_SHA256_LEN;

      g_checksum_update (sum, signed_copy, (gssize) body);
      g_checksum_get_digest (sum, signed_copy + body, &len);
      read_state (signed_copy, size);
    }
  return 0;
}
