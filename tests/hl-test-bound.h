/* hl-test-bound.h — the elementwise error-bound checks shared by the numeric tests (test-engine,
 * test-train, test-parity): u and Higham's gamma_n, |got - want| <= bound with the worst ratio
 * reported, and the bound of a pass too deep for a useful worst case, from a float32 reference's
 * own distance to the same pass in float64. Header-only (static functions): each test program
 * is one file.
 */
#pragma once

#include <glib.h>
#include <math.h>

/* float32's unit roundoff, 2^-24. */
#define HL_TEST_U (1.0 / 16777216.0)

/* How far the engine's float32 rounding may exceed a float32 reference's on a pass through the
 * network (forward, backward or both), see hl_test_deep_bound(). Both do the same operations in
 * float32 with float32 accumulation (the same convolutions of the same K and their adjoints, one
 * BatchNorm scale and shift per channel or the same batch statistics, the same resize taps, the
 * same optimiser updates), so their worst-case bounds are one expression and their realised
 * errors are sums of as many roundings of the same sizes, in other orders. The realised error of
 * a K-term sum grows like the square root of the length of its longest sequential chain; the
 * engine's kernels accumulate chains of 1 to K terms, OpenBLAS, oneDNN and ATen block K by 64 to
 * 512, and K <= 1152 (conv2 of DenseNet-121's last block, 128 x 3 x 3), so the chains differ by at
 * most 1152 / 64 = 18 in length and the realised errors by sqrt (18) < 4.3 in scale. Applied to
 * the largest error over a whole tensor (a maximum over many values, which extreme-value
 * statistics keep stable), 8 covers that factor and a further 2 for the sampling of the
 * maximum. */
#define HL_TEST_ROUNDING_FACTOR 8.0

/* Higham's gamma_n = n u / (1 - n u): the relative error bound of any float32 sum or dot product
 * of n terms, whatever order, blocking or FMA use (Accuracy and Stability of Numerical
 * Algorithms, 2nd ed., 3.1). */
static inline double
hl_test_gamma (double n)
{
  return n * HL_TEST_U / (1 - n * HL_TEST_U);
}

/* Asserts |got[i] - want[i]| <= bound[i] for the @n values (a zero bound asks for equality; NaN
 * fails) and reports, as a test message, the largest ratio |got - want| / bound with its index
 * and values. Returns that ratio. */
static inline double
hl_test_assert_bounded (const char *what, const float *got, const double *want,
                        const double *bound, gsize n)
{
  double worst = 0;
  gsize at = 0;

  for (gsize i = 0; i < n; i++)
    {
      double d = fabs ((double) got[i] - want[i]);
      double r = d == 0 ? 0 : d / bound[i];

      if (!(r <= worst))
        {
          worst = isnan (r) ? INFINITY : r;
          at = i;
        }
    }
  g_test_message ("%s: %" G_GSIZE_FORMAT " values, largest |engine - reference| / bound %.3g at [%"
                  G_GSIZE_FORMAT "] (engine %.9g, reference %.9g, bound %.3g)", what, n, worst, at,
                  n > 0 ? got[at] : 0.0, n > 0 ? want[at] : 0.0, n > 0 ? bound[at] : 0.0);
  if (!(worst <= 1.0))
    g_error ("%s: |engine - reference| exceeds its bound %.3g times at [%" G_GSIZE_FORMAT "]",
             what, worst, at);
  return worst;
}

/* The bound of the engine against @ref64 (@n values: a pass in float64, the exact value to ~1e-16)
 * given @ref32, the same pass by a float32 implementation: HL_TEST_ROUNDING_FACTOR x the largest
 * |ref32 - ref64| over the @n values + 4u |ref64|, the floor being the rounding of the value's last
 * two operations, below which no float32 result can be asked to agree. Newly allocated. */
static inline double *
hl_test_deep_bound (const char *what, const float *ref32, const double *ref64, gsize n)
{
  double *bound = g_new (double, MAX (n, 1));
  double e32 = 0;

  for (gsize i = 0; i < n; i++)
    e32 = MAX (e32, fabs ((double) ref32[i] - ref64[i]));
  for (gsize i = 0; i < n; i++)
    bound[i] = HL_TEST_ROUNDING_FACTOR * e32 + 4 * HL_TEST_U * fabs (ref64[i]);
  g_test_message ("%s: largest |float32 reference - float64| %.3g", what, e32);
  return bound;
}

/* float64's unit roundoff, 2^-53: the relative error of one correctly rounded double operation
 * (or of a decimal literal read into a double). */
#define HL_TEST_U_DOUBLE (1.0 / 9007199254740992.0)

/* A running check of |got - want| <= bound, one value at a time, for values computed on the fly
 * (planes too large to copy into arrays, scalars, doubles): hl_test_bounded_check() per value,
 * then hl_test_bounded_end(), which reports the largest ratio as hl_test_assert_bounded() does
 * and asserts that it is at most 1. A zero bound asks for equality; NaN fails. */
typedef struct
{
  const char *what;
  gsize n, at;
  double worst, got, want, bound;
} HlTestBounded;

#define HL_TEST_BOUNDED_INIT(what) { (what), 0, 0, 0.0, 0.0, 0.0, 0.0 }

static inline void
hl_test_bounded_check (HlTestBounded *b, double got, double want, double bound)
{
  double d = fabs (got - want);
  double r = d == 0 ? 0 : d / bound;

  if (!(r <= b->worst) || b->n == 0)
    {
      b->worst = isnan (r) ? INFINITY : MAX (r, b->worst);
      b->at = b->n;
      b->got = got;
      b->want = want;
      b->bound = bound;
    }
  b->n++;
}

/* Reports and asserts @b's largest ratio; returns it. */
static inline double
hl_test_bounded_end (HlTestBounded *b)
{
  g_test_message ("%s: %" G_GSIZE_FORMAT " values, largest |got - want| / bound %.3g at [%"
                  G_GSIZE_FORMAT "] (got %.17g, want %.17g, bound %.3g)", b->what, b->n,
                  b->worst, b->at, b->got, b->want, b->bound);
  if (!(b->worst <= 1.0))
    g_error ("%s: |got - want| exceeds its bound %.3g times at [%" G_GSIZE_FORMAT "]", b->what,
             b->worst, b->at);
  return b->worst;
}

/* One value: asserts |@got - @want| <= @bound (reported as above); returns the ratio. */
static inline double
hl_test_assert_close (const char *what, double got, double want, double bound)
{
  HlTestBounded b = HL_TEST_BOUNDED_INIT (what);

  hl_test_bounded_check (&b, got, want, bound);
  return hl_test_bounded_end (&b);
}

/* Higham's gamma_n in float64, n 2^-53 / (1 - n 2^-53): the relative error bound of any double
 * sum or dot product of n terms (or of a chain of n correctly rounded double operations on
 * values of one sign, relative to the largest of them). */
static inline double
hl_test_gamma_double (double n)
{
  return n * HL_TEST_U_DOUBLE / (1 - n * HL_TEST_U_DOUBLE);
}

/* The bound of a float32 bilinear blend (1 - fy) ((1 - fx) p00 + fx p01) + fy ((1 - fx) p10 +
 * fx p11) against the same blend in exact arithmetic, taps of magnitude at most @max_abs: the
 * weights are rounded to float32 (fx and fy once each, 1 - fx and 1 - fy once more: 3u of
 * absolute weight error per axis, the weights summing to 1), then two products and two sums
 * (gamma_4 of the blend of |p|): (gamma_4 + 6u + 9u^2) max_abs <= gamma_11 max_abs. */
static inline double
hl_test_bilinear_bound (double max_abs)
{
  return hl_test_gamma (11) * max_abs;
}
