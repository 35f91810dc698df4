/* test-analysis.c — tests of src/analysis: ROC points, AUROC, DeLong and calibration against
 * scikit-learn / numpy numbers (tools/sklearn_reference.py: committed fixtures for fixed vectors,
 * and a live run on the shared reference CheXNet predictions), plus hand-checked cases, cross
 * checks between independent code paths, bootstrap determinism and the failure paths. */
#include "analysis/hl-analysis-private.h"
#include "hl-summary.h"
#include "hl-test-nih.h"

#include <math.h>
#include <string.h>

/* The tolerance of every comparison with scikit-learn / numpy, for @n images: both sides compute
 * in double every number compared (ROC points, thresholds, AUROC, DeLong variances, calibration
 * bins, Brier score) from at most n^2 pairwise terms or n per-image terms, each of magnitude <= 1
 * (scores, rates, indicator counts over n), so each side is within gamma (n^2 + 2) = (n^2 + 2)
 * 2^-53 of the exact value, absolute, and the two within twice that (sklearn_reference.py prints
 * with repr, which reads back exactly). */
static double
ref_tol (gsize n)
{
  double m = (double) n * n + 2, u53 = 1.0 / 9007199254740992.0;

  return 2 * m * u53 / (1 - m * u53);
}

/* ---- reading tools/sklearn_reference.py output ------------------------------------------- */

typedef struct
{
  char *name;
  GHashTable *values; /* key -> GArray of double */
  gboolean undefined; /* roc_auc_score raised: one class absent */
} RefCase;

static void
ref_case_free (RefCase *ref)
{
  g_free (ref->name);
  g_hash_table_unref (ref->values);
  g_free (ref);
}

static void
array_free (gpointer array)
{
  g_array_unref (array);
}

/* Parses the tool's blocks into a list of RefCase; a `mean_auroc` line outside a block goes to
 * *@mean_auroc when not NULL. */
static GPtrArray *
parse_reference (const char *text, double *mean_auroc)
{
  GPtrArray *cases = g_ptr_array_new_with_free_func ((GDestroyNotify) ref_case_free);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  RefCase *current = NULL;

  for (char **line = lines; *line != NULL; line++)
    {
      g_auto (GStrv) tokens = NULL;
      GArray *values;

      if (**line == '\0' || **line == '#')
        continue;
      tokens = g_strsplit (*line, " ", -1);
      if (strcmp (tokens[0], "case") == 0)
        {
          g_assert_null (current);
          current = g_new0 (RefCase, 1);
          current->name = g_strdup (tokens[1]);
          current->values = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, array_free);
          continue;
        }
      if (strcmp (tokens[0], "end") == 0)
        {
          g_assert_nonnull (current);
          g_ptr_array_add (cases, current);
          current = NULL;
          continue;
        }
      if (strcmp (tokens[0], "undefined") == 0)
        {
          g_assert_nonnull (current);
          current->undefined = TRUE;
          continue;
        }
      values = g_array_new (FALSE, FALSE, sizeof (double));
      for (char **t = tokens + 1; *t != NULL; t++)
        {
          char *end;
          double v = g_ascii_strtod (*t, &end);

          g_assert_true (end != *t && *end == '\0');
          g_array_append_val (values, v);
        }
      if (current == NULL)
        {
          g_assert_cmpstr (tokens[0], ==, "mean_auroc");
          g_assert_cmpuint (values->len, ==, 1);
          if (mean_auroc != NULL)
            *mean_auroc = g_array_index (values, double, 0);
          g_array_unref (values);
          continue;
        }
      g_hash_table_insert (current->values, g_strdup (tokens[0]), values);
    }
  g_assert_null (current);
  return cases;
}

static GArray *
ref_get (const RefCase *ref, const char *key)
{
  return g_hash_table_lookup (ref->values, key);
}

static guint8 *
ref_truth (const RefCase *ref, gsize *n)
{
  GArray *values = ref_get (ref, "truth");
  guint8 *truth = g_new (guint8, values->len);

  for (guint i = 0; i < values->len; i++)
    truth[i] = (guint8) g_array_index (values, double, i);
  *n = values->len;
  return truth;
}

/* Largest |a - b| over two arrays of the same length; both NaN or equal infinities count as 0. */
static double
max_abs_diff (const double *a, const double *b, gsize n)
{
  double worst = 0.0;

  for (gsize i = 0; i < n; i++)
    {
      if ((isnan (a[i]) && isnan (b[i])) || a[i] == b[i])
        continue;
      worst = MAX (worst, isnan (a[i]) || isnan (b[i]) ? INFINITY : fabs (a[i] - b[i]));
    }
  return worst;
}

static double
compare_array (const RefCase *ref, const char *key, const double *values, gsize n)
{
  GArray *expected = ref_get (ref, key);

  g_assert_nonnull (expected);
  g_assert_cmpuint (expected->len, ==, n);
  return max_abs_diff ((const double *) expected->data, values, n);
}

static double
compare_value (const RefCase *ref, const char *key, guint index, double value)
{
  GArray *expected = ref_get (ref, key);

  g_assert_nonnull (expected);
  g_assert_cmpuint (index, <, expected->len);
  return max_abs_diff (&g_array_index (expected, double, index), &value, 1);
}

/* Checks one reference case against the C implementation; returns the largest difference seen. */
static double
check_reference_case (const RefCase *ref)
{
  GArray *scores = ref_get (ref, "scores");
  GArray *scores_b = ref_get (ref, "scores_b");
  GArray *bins = ref_get (ref, "calib_bins");
  g_autofree guint8 *truth = NULL;
  g_autoptr (GError) error = NULL;
  const double *s;
  double worst = 0.0;
  gsize n;

  truth = ref_truth (ref, &n);
  g_assert_nonnull (scores);
  g_assert_cmpuint (scores->len, ==, n);
  s = (const double *) scores->data;

  if (ref->undefined)
    {
      double auroc = 0.0;
      HlRocCurve *curve = hl_roc_curve_new (s, truth, n, TRUE, &error);

      g_assert_null (curve);
      g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_UNDEFINED);
      g_clear_error (&error);
      g_assert_false (hl_roc_auroc (s, truth, n, &auroc, &error));
      g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_UNDEFINED);
      g_clear_error (&error);
    }
  else
    {
      for (int all = 0; all < 2; all++)
        {
          g_autoptr (HlRocCurve) curve = hl_roc_curve_new (s, truth, n, !all, &error);

          g_assert_no_error (error);
          worst = MAX (worst, compare_array (ref, all ? "fpr_all" : "fpr", curve->fpr,
                                             curve->n_points));
          worst = MAX (worst, compare_array (ref, all ? "tpr_all" : "tpr", curve->tpr,
                                             curve->n_points));
          worst = MAX (worst, compare_array (ref, all ? "thresholds_all" : "thresholds",
                                             curve->thresholds, curve->n_points));
        }
      {
        double auroc, auroc_d, variance;

        g_assert_true (hl_roc_auroc (s, truth, n, &auroc, &error));
        g_assert_no_error (error);
        worst = MAX (worst, compare_value (ref, "auroc", 0, auroc));
        g_assert_true (hl_delong_variance (s, truth, n, &auroc_d, &variance, &error));
        g_assert_no_error (error);
        g_assert_cmpfloat (auroc_d, ==, auroc);
        worst = MAX (worst, compare_value (ref, "delong_var", 0, variance));
      }
      if (scores_b != NULL)
        {
          HlDelongTest test;
          double got[7];

          g_assert_cmpuint (scores_b->len, ==, n);
          g_assert_true (hl_delong_test (s, (const double *) scores_b->data, truth, n, &test,
                                         &error));
          g_assert_no_error (error);
          got[0] = test.auroc_a;
          got[1] = test.auroc_b;
          got[2] = test.var_a;
          got[3] = test.var_b;
          got[4] = test.covariance;
          got[5] = test.z;
          got[6] = test.p_value;
          worst = MAX (worst, compare_array (ref, "paired", got, 7));
          g_assert_cmpfloat (test.difference, ==, test.auroc_a - test.auroc_b);
        }
    }

  if (bins != NULL)
    {
      g_autoptr (HlCalibration) calibration = NULL;
      g_autofree double *prob_true = NULL;
      g_autofree double *prob_pred = NULL;
      gsize k = 0;

      calibration = hl_calibration_new (s, truth, n, (guint) g_array_index (bins, double, 0),
                                        &error);
      g_assert_no_error (error);
      prob_true = g_new (double, calibration->n_bins);
      prob_pred = g_new (double, calibration->n_bins);
      /* sklearn lists the non-empty bins only */
      for (guint b = 0; b < calibration->n_bins; b++)
        if (calibration->count[b] > 0)
          {
            prob_true[k] = calibration->fraction_positive[b];
            prob_pred[k++] = calibration->mean_score[b];
          }
      worst = MAX (worst, compare_array (ref, "prob_true", prob_true, k));
      worst = MAX (worst, compare_array (ref, "prob_pred", prob_pred, k));
      worst = MAX (worst, compare_value (ref, "brier", 0, calibration->brier));
    }
  return worst;
}

static void
test_sklearn_fixed (void)
{
  const char *fixtures = g_getenv ("HL_FIXTURES");
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GPtrArray) cases = NULL;
  g_autoptr (GError) error = NULL;
  const char *expected[] = { "ties", "all-equal", "single-positive", "separated", "reversed",
                             "one-class" };
  double worst = 0.0;

  g_assert_nonnull (fixtures);
  path = g_build_filename (fixtures, "analysis", "sklearn-fixed.txt", NULL);
  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  cases = parse_reference (text, NULL);

  /* the cases the contract names are all there */
  for (gsize e = 0; e < G_N_ELEMENTS (expected); e++)
    {
      gboolean found = FALSE;

      for (guint i = 0; i < cases->len; i++)
        found |= strcmp (((RefCase *) cases->pdata[i])->name, expected[e]) == 0;
      g_assert_true (found);
    }

  for (guint i = 0; i < cases->len; i++)
    {
      const RefCase *ref = cases->pdata[i];
      double diff = check_reference_case (ref);
      gsize n;
      g_autofree guint8 *truth = ref_truth (ref, &n);

      g_test_message ("%s: largest difference from scikit-learn/numpy %.3g (bound %.3g)",
                      ref->name, diff, ref_tol (n));
      g_assert_cmpfloat (diff, <=, ref_tol (n));
      worst = MAX (worst, diff);
    }
  g_test_message ("%u fixed cases, largest difference %.3g", cases->len, worst);
}

/* ---- the shared reference CheXNet predictions, live through scikit-learn ------------------ */

static void
test_sklearn_nih (void)
{
  const char *tools = g_getenv ("HL_TOOLS");
  g_autofree char *preds_path = NULL;
  g_autofree char *labels_path = NULL;
  g_autofree char *tool = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) cases = NULL;
  g_autoptr (HlScoredSet) set = NULL;
  g_autoptr (HlSummary) summary = NULL;
  double ref_mean = NAN, worst = 0.0;
  int status;

  if (!hl_test_nih_reference_paths (&preds_path, &labels_path))
    return;
  if (tools == NULL)
    {
      g_test_skip ("HL_TOOLS not set");
      return;
    }
  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("/usr/bin/python3 absent: no scikit-learn reference");
      return;
    }
  tool = g_build_filename (tools, "sklearn_reference.py", NULL);
  {
    const char *argv[] = { "/usr/bin/python3", tool, "nih", preds_path, labels_path, NULL };

    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                  &error);
    g_assert_no_error (error);
  }
  if (!g_spawn_check_wait_status (status, NULL))
    {
      if (strstr (err, "ModuleNotFoundError") != NULL)
        {
          g_test_skip ("scikit-learn/numpy/scipy not installed for /usr/bin/python3");
          return;
        }
      g_error ("sklearn_reference.py nih failed: %s", err);
    }
  cases = parse_reference (out, &ref_mean);

  set = hl_test_load_scored (preds_path, labels_path, NULL);
  g_assert_cmpuint (cases->len, ==, set->n_labels);

  summary = hl_summary_new (set->labels, set->n_labels, set->scores, set->truth, set->n_images,
                            NULL, &error);
  g_assert_no_error (error);

  for (guint l = 0; l < cases->len; l++)
    {
      const RefCase *ref = cases->pdata[l];
      const HlLabelSummary *label = &summary->labels[l];
      g_autofree guint8 *ref_truth_column = NULL;
      GArray *ref_scores = ref_get (ref, "scores");
      gsize n;
      double diff;

      g_assert_cmpstr (ref->name, ==, label->name);
      /* the C readers see exactly the numbers Python read */
      ref_truth_column = ref_truth (ref, &n);
      g_assert_cmpuint (n, ==, set->n_images);
      for (gsize i = 0; i < n; i++)
        {
          g_assert_cmpfloat (g_array_index (ref_scores, double, i), ==,
                             set->scores[i * set->n_labels + l]);
          g_assert_cmpuint (ref_truth_column[i], ==, set->truth[i * set->n_labels + l]);
        }
      diff = check_reference_case (ref);
      diff = MAX (diff, compare_value (ref, "auroc", 0, label->auroc));
      diff = MAX (diff, compare_value (ref, "delong_var", 0, label->variance));
      g_test_message ("%s: AUROC %.4f, largest difference from scikit-learn/numpy %.3g "
                      "(bound %.3g)", label->name, label->auroc, diff, ref_tol (set->n_images));
      g_assert_cmpfloat (diff, <=, ref_tol (set->n_images));
      worst = MAX (worst, diff);
    }
  g_assert_cmpfloat_with_epsilon (summary->mean_auroc, ref_mean, ref_tol (set->n_images));
  /* the data README's published number, rounded to 3 decimals */
  g_assert_cmpfloat_with_epsilon (summary->mean_auroc, 0.795, 5e-4);
  g_test_message ("mean AUROC %.6f (scikit-learn %.6f), largest difference %.3g",
                  summary->mean_auroc, ref_mean, worst);
}

/* ---- hand-checked cases and cross checks -------------------------------------------------- */

static void
test_roc_hand (void)
{
  /* scores 0.9(+) 0.8(-) 0.8(+) 0.4(-) 0.1(+): pairs (+,-) = 6; wins: 0.9 beats both (2), 0.8+
   * ties 0.8- (0.5) beats 0.4 (1), 0.1 beats none: 3.5 / 6 */
  const double scores[] = { 0.9, 0.8, 0.8, 0.4, 0.1 };
  const guint8 truth[] = { 1, 0, 1, 0, 1 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HlRocCurve) curve = NULL;
  double auroc;

  g_assert_true (hl_roc_auroc (scores, truth, 5, &auroc, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (auroc, 3.5 / 6.0, 1e-15);

  curve = hl_roc_curve_new (scores, truth, 5, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (curve->n_points, ==, 5);
  g_assert_cmpuint (curve->n_positive, ==, 3);
  g_assert_cmpuint (curve->n_negative, ==, 2);
  g_assert_true (isinf (curve->thresholds[0]) && curve->thresholds[0] > 0);
  g_assert_cmpfloat (curve->thresholds[2], ==, 0.8);
  g_assert_cmpuint (curve->tp[2], ==, 2);
  g_assert_cmpuint (curve->fp[2], ==, 1);
  g_assert_cmpfloat (curve->fpr[4], ==, 1.0);
  g_assert_cmpfloat (curve->tpr[4], ==, 1.0);
  g_assert_cmpfloat_with_epsilon (hl_roc_curve_area (curve), 3.5 / 6.0, 1e-15);
}

/* The confusion at every threshold of the full curve equals the one counted directly. */
static void
test_roc_confusion (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autoptr (GError) error = NULL;
  g_autoptr (HlRocCurve) curve = NULL;
  double scores[120];
  guint8 truth[120];
  HlConfusion direct, at_point;

  for (gsize i = 0; i < G_N_ELEMENTS (scores); i++)
    {
      truth[i] = g_rand_double (rand) < 0.3;
      scores[i] = round ((g_rand_double (rand) + 0.3 * truth[i]) * 20.0) / 20.0;
    }
  curve = hl_roc_curve_new (scores, truth, G_N_ELEMENTS (scores), FALSE, &error);
  g_assert_no_error (error);
  for (gsize p = 0; p < curve->n_points; p++)
    {
      hl_roc_curve_confusion (curve, p, &at_point);
      g_assert_true (hl_roc_confusion (scores, truth, G_N_ELEMENTS (scores),
                                       curve->thresholds[p], &direct, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (direct.tp, ==, at_point.tp);
      g_assert_cmpuint (direct.fp, ==, at_point.fp);
      g_assert_cmpuint (direct.tn, ==, at_point.tn);
      g_assert_cmpuint (direct.fn, ==, at_point.fn);
      g_assert_cmpfloat (direct.sensitivity, ==, curve->tpr[p]);
      g_assert_cmpfloat_with_epsilon (1.0 - direct.specificity, curve->fpr[p], 1e-15);
    }

  /* a hand-counted threshold: scores >= 0.5 */
  {
    const double s[] = { 0.9, 0.6, 0.5, 0.4, 0.2, 0.1 };
    const guint8 t[] = { 1, 0, 1, 1, 0, 0 };

    g_assert_true (hl_roc_confusion (s, t, 6, 0.5, &direct, &error));
    g_assert_cmpuint (direct.tp, ==, 2);
    g_assert_cmpuint (direct.fp, ==, 1);
    g_assert_cmpuint (direct.tn, ==, 2);
    g_assert_cmpuint (direct.fn, ==, 1);
    g_assert_cmpfloat_with_epsilon (direct.sensitivity, 2.0 / 3.0, 1e-15);
    g_assert_cmpfloat_with_epsilon (direct.specificity, 2.0 / 3.0, 1e-15);
    g_assert_cmpfloat_with_epsilon (direct.ppv, 2.0 / 3.0, 1e-15);
    g_assert_cmpfloat_with_epsilon (direct.npv, 2.0 / 3.0, 1e-15);
    g_assert_cmpfloat_with_epsilon (direct.youden_j, 1.0 / 3.0, 1e-15);

    /* above every score: nothing called positive, PPV undefined */
    g_assert_true (hl_roc_confusion (s, t, 6, INFINITY, &direct, &error));
    g_assert_cmpuint (direct.tp + direct.fp, ==, 0);
    g_assert_true (isnan (direct.ppv));
    g_assert_cmpfloat (direct.specificity, ==, 1.0);
  }
}

static void
test_roc_operating_points (void)
{
  /* J = tpr - fpr is 2/3 at 0.8 (2/3 - 0) and at 0.6 (1 - 1/3): the tie goes to the higher
   * threshold, although in doubles 1 - 1/3 is the larger */
  const double scores[] = { 0.9, 0.8, 0.7, 0.6, 0.5, 0.4 };
  const guint8 truth[] = { 1, 1, 0, 1, 0, 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HlRocCurve) curve = hl_roc_curve_new (scores, truth, 6, FALSE, &error);
  HlConfusion op;
  gsize best, i;

  g_assert_no_error (error);
  best = hl_roc_curve_youden (curve);
  hl_roc_curve_confusion (curve, best, &op);
  g_assert_cmpfloat (op.threshold, ==, 0.8);
  g_assert_cmpfloat_with_epsilon (op.youden_j, 2.0 / 3.0, 1e-15);
  /* no point has a larger J */
  for (i = 0; i < curve->n_points; i++)
    g_assert_cmpfloat (curve->tpr[i] - curve->fpr[i], <=, op.youden_j + 1e-15);

  /* sensitivity 1 first reached at 0.6 (fpr 1/3); 0.5 at 0.8; 0 at the +inf point */
  i = hl_roc_curve_at_sensitivity (curve, 1.0);
  g_assert_cmpfloat (curve->thresholds[i], ==, 0.6);
  g_assert_cmpfloat_with_epsilon (curve->fpr[i], 1.0 / 3.0, 1e-15);
  i = hl_roc_curve_at_sensitivity (curve, 0.5);
  g_assert_cmpfloat (curve->thresholds[i], ==, 0.8);
  g_assert_cmpuint (hl_roc_curve_at_sensitivity (curve, 0.0), ==, 0);
}

/* DeLong variance against a direct O(m·n) computation of the placement values. */
static void
test_delong_brute_force (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);
  g_autoptr (GError) error = NULL;
  enum { N = 90 };
  double scores[N], v[N], mean[2] = { 0, 0 }, ss[2] = { 0, 0 }, auroc, variance, expected;
  guint8 truth[N];
  gsize count[2] = { 0, 0 };

  for (gsize i = 0; i < N; i++)
    {
      truth[i] = i % 3 == 0;
      scores[i] = floor ((g_rand_double (rand) + 0.4 * truth[i]) * 10.0) / 10.0;
      count[truth[i]]++;
    }
  for (gsize i = 0; i < N; i++)
    {
      double sum = 0.0;

      for (gsize j = 0; j < N; j++)
        if (truth[j] != truth[i])
          {
            double win = truth[i] ? scores[i] - scores[j] : scores[j] - scores[i];

            sum += win > 0 ? 1.0 : win == 0 ? 0.5 : 0.0;
          }
      v[i] = sum / (double) count[!truth[i]];
      mean[truth[i]] += v[i];
    }
  mean[0] /= (double) count[0];
  mean[1] /= (double) count[1];
  for (gsize i = 0; i < N; i++)
    ss[truth[i]] += (v[i] - mean[truth[i]]) * (v[i] - mean[truth[i]]);
  expected = ss[1] / (double) (count[1] - 1) / (double) count[1]
             + ss[0] / (double) (count[0] - 1) / (double) count[0];

  g_assert_true (hl_delong_variance (scores, truth, N, &auroc, &variance, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (auroc, mean[1], 1e-12);
  g_assert_cmpfloat_with_epsilon (variance, expected, 1e-15);
}

static void
test_delong_ci (void)
{
  double low, high;
  double se = sqrt (0.0025); /* 0.05 */

  hl_delong_ci (0.8, 0.0025, HL_CI_PLAIN, &low, &high);
  g_assert_cmpfloat_with_epsilon (low, 0.8 - HL_Z_95 * se, 1e-15);
  g_assert_cmpfloat_with_epsilon (high, 0.8 + HL_Z_95 * se, 1e-15);

  /* plain clips at 1; logit stays inside and is asymmetric towards 0.5 */
  hl_delong_ci (0.97, 0.0025, HL_CI_PLAIN, &low, &high);
  g_assert_cmpfloat (high, ==, 1.0);
  hl_delong_ci (0.97, 0.0025, HL_CI_LOGIT, &low, &high);
  g_assert_cmpfloat (high, <, 1.0);
  g_assert_cmpfloat (0.97 - low, >, high - 0.97);
  /* logit bounds map back to logit(A) ± z·se/(A(1-A)) */
  {
    double l = log (0.97 / 0.03), h = HL_Z_95 * se / (0.97 * 0.03);

    g_assert_cmpfloat_with_epsilon (log (low / (1 - low)), l - h, 1e-12);
    g_assert_cmpfloat_with_epsilon (log (high / (1 - high)), l + h, 1e-12);
  }

  hl_delong_ci (1.0, 0.0, HL_CI_LOGIT, &low, &high);
  g_assert_cmpfloat (low, ==, 1.0);
  g_assert_cmpfloat (high, ==, 1.0);
  hl_delong_ci (0.8, NAN, HL_CI_PLAIN, &low, &high);
  g_assert_true (isnan (low) && isnan (high));

  g_assert_cmpfloat_with_epsilon (hl_normal_two_sided_p (HL_Z_95), 0.05, 1e-15);
  g_assert_cmpfloat_with_epsilon (hl_normal_two_sided_p (-HL_Z_95), 0.05, 1e-15);
  g_assert_cmpfloat (hl_normal_two_sided_p (0.0), ==, 1.0);
}

/* ---- bootstrap ---------------------------------------------------------------------------- */

static void
make_two_class_set (double *scores, guint8 *truth, gsize n, double prevalence, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);

  for (gsize i = 0; i < n; i++)
    {
      truth[i] = g_rand_double (rand) < prevalence;
      scores[i] = 1.0 / (1.0 + exp (-(1.5 * truth[i] + g_rand_double (rand) * 3.0 - 2.0)));
    }
  truth[0] = 1;
  truth[1] = 0;
}

static void
test_bootstrap_determinism (void)
{
  enum { N = 400 };
  double scores[N], auroc, variance, low, high;
  guint8 truth[N];
  HlBootstrapCi a, b, c;
  g_autoptr (GError) error = NULL;

  make_two_class_set (scores, truth, N, 0.3, 3);
  g_assert_true (hl_bootstrap_auroc_ci (scores, truth, N, 500, 42, TRUE, &a, &error));
  g_assert_no_error (error);
  g_assert_true (hl_bootstrap_auroc_ci (scores, truth, N, 500, 42, TRUE, &b, &error));
  g_assert_true (hl_bootstrap_auroc_ci (scores, truth, N, 500, 43, TRUE, &c, &error));
  /* the same seed gives the same interval to the bit; another seed another one */
  g_assert_cmpmem (&a, sizeof a, &b, sizeof b);
  g_assert_true (a.low != c.low || a.high != c.high);
  g_assert_cmpuint (a.n_used, ==, 500);
  g_assert_cmpuint (a.n_skipped, ==, 0);

  /* for 400 cases the bootstrap and DeLong intervals agree closely */
  g_assert_true (hl_delong_variance (scores, truth, N, &auroc, &variance, &error));
  hl_delong_ci (auroc, variance, HL_CI_PLAIN, &low, &high);
  g_assert_cmpfloat (a.low, <, auroc);
  g_assert_cmpfloat (a.high, >, auroc);
  g_assert_cmpfloat (fabs (a.low - low), <, 0.015);
  g_assert_cmpfloat (fabs (a.high - high), <, 0.015);
  g_test_message ("AUROC %.4f DeLong [%.4f, %.4f] bootstrap [%.4f, %.4f]", auroc, low, high,
                  a.low, a.high);
}

/* The interval's percentiles as numpy.percentile computes them (values from numpy 1.24). */
static void
test_bootstrap_percentile (void)
{
  const double four[] = { 1.0, 2.0, 3.0, 4.0 };
  const double two[] = { 0.0, 10.0 };
  const double one[] = { 0.7 };

  g_assert_cmpfloat_with_epsilon (hl_percentile_linear (four, 4, 2.5), 1.075, 1e-12);
  g_assert_cmpfloat_with_epsilon (hl_percentile_linear (four, 4, 97.5), 3.925, 1e-12);
  g_assert_cmpfloat (hl_percentile_linear (four, 4, 0.0), ==, 1.0);
  g_assert_cmpfloat (hl_percentile_linear (four, 4, 100.0), ==, 4.0);
  g_assert_cmpfloat_with_epsilon (hl_percentile_linear (two, 2, 25.0), 2.5, 1e-12);
  g_assert_cmpfloat (hl_percentile_linear (one, 1, 2.5), ==, 0.7);
  g_assert_cmpfloat (hl_percentile_linear (one, 1, 97.5), ==, 0.7);
}

static void
test_bootstrap_skips (void)
{
  /* 2 positives among 12: an unstratified resample lacks them with probability (10/12)^12 = 11% */
  const double scores[] = { 0.9, 0.2, 0.1, 0.3, 0.4, 0.8, 0.5, 0.2, 0.6, 0.1, 0.7, 0.3 };
  const guint8 truth[] = { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
  g_autoptr (GError) error = NULL;
  HlBootstrapCi ci;

  g_assert_true (hl_bootstrap_auroc_ci (scores, truth, 12, 1000, 5, FALSE, &ci, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ci.n_used + ci.n_skipped, ==, 1000);
  g_assert_cmpuint (ci.n_skipped, >, 60);
  g_assert_cmpuint (ci.n_skipped, <, 170);
  g_assert_cmpfloat (ci.low, <=, ci.high);

  g_assert_true (hl_bootstrap_auroc_ci (scores, truth, 12, 1000, 5, TRUE, &ci, &error));
  g_assert_cmpuint (ci.n_skipped, ==, 0);
  g_assert_cmpuint (ci.n_used, ==, 1000);
}

/* ---- failure paths ------------------------------------------------------------------------ */

static void
test_failures (void)
{
  const double scores[] = { 0.1, 0.4, 0.35, 0.8 };
  const guint8 truth[] = { 0, 0, 1, 1 };
  const guint8 one_class[] = { 1, 1, 1, 1 };
  const guint8 bad_truth[] = { 0, 2, 1, 1 };
  const double with_nan[] = { 0.1, NAN, 0.35, 0.8 };
  const double with_inf[] = { 0.1, 0.4, INFINITY, 0.8 };
  const double not_probability[] = { 0.1, 0.4, 1.5, 0.8 };
  g_autoptr (GError) error = NULL;
  HlBootstrapCi ci;
  HlDelongTest test;
  HlConfusion confusion;
  double auroc = -1.0, variance;

  /* one class absent: AUROC, curve, variance, bootstrap and the paired test are undefined */
  g_assert_false (hl_roc_auroc (scores, one_class, 4, &auroc, &error));
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_UNDEFINED);
  g_assert_cmpfloat (auroc, ==, -1.0);
  g_clear_error (&error);
  g_assert_false (hl_delong_variance (scores, one_class, 4, &auroc, &variance, &error));
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_UNDEFINED);
  g_clear_error (&error);
  g_assert_false (hl_bootstrap_auroc_ci (scores, one_class, 4, 10, 1, FALSE, &ci, &error));
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_UNDEFINED);
  g_clear_error (&error);
  g_assert_false (hl_delong_test (scores, scores, one_class, 4, &test, &error));
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_UNDEFINED);
  g_clear_error (&error);
  /* ... but the confusion exists, with the rates that need negatives NaN */
  g_assert_true (hl_roc_confusion (scores, one_class, 4, 0.3, &confusion, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (confusion.sensitivity, ==, 0.75);
  g_assert_true (isnan (confusion.specificity));

  /* NaN / infinite scores and truth values other than 0/1 are refused everywhere */
  g_assert_false (hl_roc_auroc (with_nan, truth, 4, &auroc, &error));
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "case 1"));
  g_clear_error (&error);
  g_assert_null (hl_roc_curve_new (with_inf, truth, 4, TRUE, &error));
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (hl_roc_confusion (with_nan, truth, 4, 0.5, &confusion, &error));
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (hl_delong_test (scores, with_nan, truth, 4, &test, &error));
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (hl_delong_variance (scores, bad_truth, 4, NULL, &variance, &error));
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (hl_calibration_new (with_nan, truth, 4, 10, &error));
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (hl_calibration_new (not_probability, truth, 4, 10, &error));
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID);
  g_clear_error (&error);

  /* no cases at all */
  g_assert_false (hl_roc_check (NULL, NULL, 0, NULL, NULL, &error));
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID);
}

/* ---- summaries ---------------------------------------------------------------------------- */

static void
test_summary (void)
{
  enum { N = 60, L = 3 };
  const char *names[L] = { "Alpha", "Beta", "Gamma" };
  double scores[N * L], column[N];
  guint8 truth[N * L], column_truth[N];
  g_autoptr (GError) error = NULL;
  g_autoptr (HlSummary) summary = NULL;
  HlSummaryOptions options;
  double auroc;

  make_two_class_set (column, column_truth, N, 0.4, 21);
  for (gsize i = 0; i < N; i++)
    {
      scores[i * L + 0] = column[i];
      truth[i * L + 0] = column_truth[i];
      scores[i * L + 1] = 1.0 - column[i]; /* reversed */
      truth[i * L + 1] = column_truth[i];
      scores[i * L + 2] = column[i];
      truth[i * L + 2] = 0; /* no positive: undefined */
    }

  hl_summary_options_init (&options);
  options.bootstrap_resamples = 200;
  summary = hl_summary_new (names, L, scores, truth, N, &options, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (summary->n_defined, ==, 2);
  g_assert_true (hl_roc_auroc (column, column_truth, N, &auroc, &error));
  g_assert_cmpfloat (summary->labels[0].auroc, ==, auroc);
  g_assert_cmpfloat_with_epsilon (summary->labels[1].auroc, 1.0 - auroc, 1e-12);
  g_assert_cmpfloat_with_epsilon (summary->mean_auroc, 0.5, 1e-12);
  g_assert_cmpfloat (summary->labels[0].ci_low, <, auroc);
  g_assert_cmpfloat (summary->labels[0].ci_high, >, auroc);
  g_assert_cmpuint (summary->labels[0].bootstrap.n_used, ==, 200);
  g_assert_nonnull (summary->labels[0].curve);
  g_assert_nonnull (summary->labels[0].calibration);
  g_assert_cmpfloat (summary->labels[0].at_sensitivity.sensitivity, >=, 0.9);
  g_assert_false (summary->labels[2].defined);
  g_assert_null (summary->labels[2].curve);
  g_assert_true (isnan (summary->labels[2].auroc));
  g_assert_true (isnan (summary->labels[2].youden.sensitivity));
  g_assert_true (isnan (summary->labels[2].at_sensitivity.threshold));
  g_assert_null (summary->labels[2].calibration);
  g_assert_cmpuint (summary->labels[2].n_positive, ==, 0);
  g_assert_true (hl_summary_get_label (summary, "Beta") == &summary->labels[1]);
  g_assert_null (hl_summary_get_label (summary, "Delta"));

  /* a NaN score fails the whole summary and names the label */
  scores[5 * L + 1] = NAN;
  g_clear_pointer (&summary, hl_summary_free);
  summary = hl_summary_new (names, L, scores, truth, N, NULL, &error);
  g_assert_null (summary);
  g_assert_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "Beta"));
}

static void
test_comparison (void)
{
  enum { N = 80, L = 2 };
  const char *names[L] = { "Alpha", "Beta" };
  double a[N * L], b[N * L], column[N];
  guint8 truth[N * L], column_truth[N];
  g_autoptr (GError) error = NULL;
  g_autoptr (HlComparison) comparison = NULL;
  HlDelongTest direct;

  make_two_class_set (column, column_truth, N, 0.4, 8);
  for (gsize i = 0; i < N; i++)
    {
      a[i * L + 0] = column[i];
      b[i * L + 0] = column[i] * column[i] + 0.1 * sin ((double) i);
      truth[i * L + 0] = column_truth[i];
      a[i * L + 1] = b[i * L + 1] = column[i];
      truth[i * L + 1] = 1;
    }
  comparison = hl_comparison_new (names, L, a, b, truth, N, &error);
  g_assert_no_error (error);
  g_assert_true (comparison->labels[0].defined);
  g_assert_false (comparison->labels[1].defined);
  g_assert_true (isnan (comparison->labels[1].test.p_value));
  {
    double ca[N], cb[N];

    for (gsize i = 0; i < N; i++)
      {
        ca[i] = a[i * L];
        cb[i] = b[i * L];
      }
    g_assert_true (hl_delong_test (ca, cb, column_truth, N, &direct, &error));
  }
  g_assert_cmpmem (&direct, sizeof direct, &comparison->labels[0].test, sizeof direct);
  g_assert_cmpfloat (direct.p_value, >, 0.0);
  g_assert_cmpfloat (direct.p_value, <, 1.0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/analysis/sklearn/fixed", test_sklearn_fixed);
  g_test_add_func ("/analysis/sklearn/nih-reference", test_sklearn_nih);
  g_test_add_func ("/analysis/roc/hand", test_roc_hand);
  g_test_add_func ("/analysis/roc/confusion", test_roc_confusion);
  g_test_add_func ("/analysis/roc/operating-points", test_roc_operating_points);
  g_test_add_func ("/analysis/delong/brute-force", test_delong_brute_force);
  g_test_add_func ("/analysis/delong/ci", test_delong_ci);
  g_test_add_func ("/analysis/bootstrap/determinism", test_bootstrap_determinism);
  g_test_add_func ("/analysis/bootstrap/percentile", test_bootstrap_percentile);
  g_test_add_func ("/analysis/bootstrap/skips", test_bootstrap_skips);
  g_test_add_func ("/analysis/failures", test_failures);
  g_test_add_func ("/analysis/summary", test_summary);
  g_test_add_func ("/analysis/comparison", test_comparison);

  return g_test_run ();
}
