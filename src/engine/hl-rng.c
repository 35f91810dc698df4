/* hl-rng.c — SplitMix64 and the distributions the engine draws from (see hl-rng.h). */
#include "hl-rng.h"

#include <math.h>

void
hl_rng_init (HlRng *rng, guint64 seed)
{
  g_return_if_fail (rng != NULL);
  rng->state = seed;
}

guint64
hl_rng_next (HlRng *rng)
{
  guint64 z = (rng->state += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

double
hl_rng_uniform (HlRng *rng)
{
  return (double) (hl_rng_next (rng) >> 11) * (1.0 / 9007199254740992.0);
}

double
hl_rng_symmetric (HlRng *rng, double amplitude)
{
  return (2.0 * hl_rng_uniform (rng) - 1.0) * amplitude;
}

double
hl_rng_normal (HlRng *rng, double std)
{
  double u1 = 1.0 - hl_rng_uniform (rng); /* (0, 1]: log stays finite */
  double u2 = hl_rng_uniform (rng);

  return std * sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2);
}

void
hl_rng_shuffle (HlRng *rng, guint *items, gsize n)
{
  g_return_if_fail (rng != NULL);
  g_return_if_fail (items != NULL || n == 0);

  for (gsize i = n; i > 1; i--)
    {
      /* 64 random bits modulo i (< 2^32): the modulo bias is below 2^-32. */
      gsize j = (gsize) (hl_rng_next (rng) % i);
      guint t = items[i - 1];
      items[i - 1] = items[j];
      items[j] = t;
    }
}
