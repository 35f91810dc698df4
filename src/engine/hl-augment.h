/* hl-augment.h — training-time augmentation of grayscale X-ray planes, drawn from the engine's
 * seeded random numbers (hl-rng.h).
 *
 * Augmentation works on the float plane (values in [0, 1]) BEFORE hl_model_preprocess(), so the
 * model file's preprocessing stays the one path from a plane to the network's input. It is what
 * suits chest X-rays: a small rotation, translation and scale about the image centre (no flips: the
 * heart is on the left), optionally composed with a random resized crop (torchvision's
 * RandomResizedCrop) into one affine map and so one bilinear resample, then a brightness/contrast
 * change and a gamma, clamped to [0, 1]; last, optionally, random erasing of rectangles
 * (torchvision's RandomErasing), one anywhere and one touching an edge of the image, where
 * markers and burned-in text ("PORTABLE AP", "L") live: shortcuts a model should not learn.
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
  double crop_scale;    /* random resized crop: area fraction uniform in [crop_scale, 1], aspect
                         * (width / height) log-uniform in [3/4, 4/3], each side clamped to the
                         * image (the aspect stays in range, the area may fall to
                         * sqrt (3/4 area)), position uniform; the crop fills the plane;
                         * in [0, 1] */
  double erase_p;       /* probability of erasing a rectangle anywhere: area fraction uniform in
                         * [0.02, 0.2], aspect (height / width) log-uniform in [0.3, 3.3], filled
                         * with uniform noise in [0, 1] or the plane's mean, even odds; in [0, 1] */
  double erase_edge_p;  /* probability of a second such rectangle touching one of the four edges
                         * (even odds), position along the edge uniform; in [0, 1] */
} HlAugmentOptions;

/* The defaults hilum-cli train uses: 7 degrees, 6% shift, 10% zoom, brightness 0.1, contrast 0.15,
 * gamma 0.2; no crop and no erasing (the recipe of the shipped model, whose random stream they keep
 * byte for byte). */
void hl_augment_options_init (HlAugmentOptions *options);

/* The erasures hl_augment_draw can draw: the one anywhere and the one touching an edge. */
#define HL_AUGMENT_N_ERASE 2

/* One erased rectangle, in fractions of the width and height of the plane: pixels whose centre
 * lies in [x, x + w) by [y, y + h). */
typedef struct
{
  gboolean on;
  double x, y, w, h;
  gboolean noise; /* TRUE: uniform noise in [0, 1] from an HlRng seeded with @seed; FALSE: mean */
  guint64 seed;
} HlAugmentErase;

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
  double crop_x;      /* the crop of the rotated, zoomed, shifted image that fills the plane: */
  double crop_y;      /* top-left corner and size in fractions of the width / height; */
  double crop_w;      /* (0, 0, 1, 1) is no crop */
  double crop_h;
  HlAugmentErase erase[HL_AUGMENT_N_ERASE];
} HlAugmentDraw;

/* Draws the parameters for one image from @rng, always consuming the same number of values for
 * the same @options: 7, plus 4 with a crop, plus 7 per kind of erasure turned on (so the defaults
 * draw what they drew before crops and erasing existed). */
void hl_augment_draw (const HlAugmentOptions *options, HlRng *rng, HlAugmentDraw *draw);

/* Applies @draw to @src (h, w) into @dst (h, w) (not aliasing @src): output pixel centre p first
 * goes to the crop, q = (crop_x w, crop_y h) + p * (crop_w, crop_h), which samples the input
 * bilinearly at the inverse affine image of q (rotation and zoom about the centre, then the
 * shift), 0 (black) outside the image; then v = clamp ((v - mean) * contrast + mean + brightness),
 * v = v ^ gamma, with mean the mean of @src; last, each erasure that is on replaces its pixels,
 * in row-major order, with successive hl_rng_uniform values of its seed or with the mean of the
 * plane as it was before erasing. */
void hl_augment_apply (const HlAugmentDraw *draw, const float *src, int h, int w, float *dst);

/* The working plane a trainer keeps per image so that augmentation stays cheap: @src (h, w)
 * resized to @dst (side, side) with the antialiased bilinear filter of preprocessing
 * (hl_resize_bilinear). */
void hl_augment_working_plane (const float *src, int h, int w, float *dst, int side);

G_END_DECLS
