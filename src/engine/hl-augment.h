/* hl-augment.h — training-time augmentation of grayscale X-ray planes, drawn from the engine's
 * seeded random numbers (hl-rng.h).
 *
 * Augmentation works on the float plane (values in [0, 1]) BEFORE hl_model_preprocess(), so the
 * model file's preprocessing stays the one path from a plane to the network's input. It is what
 * suits chest X-rays: a small rotation, translation and scale about the image centre (no flips: the
 * heart is on the left), then a brightness/contrast change and a gamma, clamped to [0, 1].
 */
#pragma once

#include "hl-rng.h"

G_BEGIN_DECLS

/* How strong the augmentation is; every field >= 0, 0 turns that part off. */
typedef struct
{
  double rotation_deg;  /* angle uniform in [-rotation_deg, rotation_deg] degrees */
  double translation;   /* shift uniform in +-translation of the side, per axis */
  double scale;         /* zoom factor uniform in [1 - scale, 1 + scale] */
  double brightness;    /* added offset uniform in +-brightness */
  double contrast;      /* factor about the plane's mean uniform in [1 - contrast, 1 + contrast] */
  double gamma;         /* exponent exp (u), u uniform in +-gamma (survives per-image
                         * normalisation, unlike brightness and contrast) */
} HlAugmentOptions;

/* The defaults hilum-cli train uses: 7 degrees, 6% shift, 10% zoom, brightness 0.1, contrast 0.15,
 * gamma 0.2. */
void hl_augment_options_init (HlAugmentOptions *options);

/* One draw of the random parameters: what is applied to one image. */
typedef struct
{
  double angle;       /* radians, counter-clockwise */
  double shift_x;     /* fractions of the width / height */
  double shift_y;
  double zoom;        /* > 1 magnifies */
  double brightness;
  double contrast;
  double gamma;
} HlAugmentDraw;

/* Draws the parameters for one image from @rng, always consuming the same number of values. */
void hl_augment_draw (const HlAugmentOptions *options, HlRng *rng, HlAugmentDraw *draw);

/* Applies @draw to @src (h, w) into @dst (h, w) (not aliasing @src): output pixel p samples the
 * input bilinearly at the inverse affine image of p (rotation and zoom about the centre, then the
 * shift), 0 (black) outside the image; then v = clamp ((v - mean) * contrast + mean + brightness),
 * v = v ^ gamma, with mean the mean of @src. */
void hl_augment_apply (const HlAugmentDraw *draw, const float *src, int h, int w, float *dst);

/* The working plane a trainer keeps per image so that augmentation stays cheap: @src (h, w)
 * resized to @dst (side, side) with the antialiased bilinear filter of preprocessing
 * (hl_resize_bilinear). */
void hl_augment_working_plane (const float *src, int h, int w, float *dst, int side);

G_END_DECLS
