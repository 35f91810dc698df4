/* hl-rng.h — the engine's seeded random numbers: they drive augmentation, the shuffling of a
 * training run and the weights of new models (hl-init.c, hl_model_new_random).
 *
 * The generator is SplitMix64: one 64-bit word of state, so a checkpoint stores it exactly and a
 * resumed run draws the same numbers as an uninterrupted one. Pure computation, no globals.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  guint64 state;
} HlRng;

/* Seeds @rng; the same @seed always gives the same sequence. */
void hl_rng_init (HlRng *rng, guint64 seed);

/* The next 64 random bits. */
guint64 hl_rng_next (HlRng *rng);

/* Uniform in [0, 1), 53 bits. */
double hl_rng_uniform (HlRng *rng);

/* Uniform in [-@amplitude, @amplitude). */
double hl_rng_symmetric (HlRng *rng, double amplitude);

/* Normal with mean 0 and standard deviation @std (Box-Muller, one of the pair: every value
 * consumes exactly two draws). */
double hl_rng_normal (HlRng *rng, double std);

/* Puts @items (n) in a uniformly random order (Fisher-Yates). */
void hl_rng_shuffle (HlRng *rng, guint *items, gsize n);

G_END_DECLS
