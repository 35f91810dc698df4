/* bench-common.c — the resident size, median and JSON result line shared by the benchmark
 * programs (see bench-common.h). */
#include "bench-common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

double
bench_current_rss_mib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return -1;
  line = strstr (status, "VmRSS:");
  if (line == NULL)
    return -1;
  return g_ascii_strtod (line + strlen ("VmRSS:"), NULL) / 1024.0;
}

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

double
bench_print_result (const char *impl, const char *extra, int size, int batch, int threads,
                    double *times, int runs, double rss_base_mib)
{
  struct rusage usage;
  double median;

  g_return_val_if_fail (impl != NULL && extra != NULL && times != NULL && runs >= 1, 0);
  qsort (times, runs, sizeof (double), compare_double);
  median = runs % 2 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
  getrusage (RUSAGE_SELF, &usage);
  printf ("{\"impl\": \"%s\", %s\"size\": %d, \"batch\": %d, \"threads\": %d, \"runs\": %d, "
          "\"median_ms\": %.3f, \"min_ms\": %.3f, \"images_per_s\": %.3f, "
          "\"rss_base_mib\": %.1f, \"peak_rss_mib\": %.1f}\n",
          impl, extra, size, batch, threads, runs, median, times[0], batch * 1000.0 / median,
          rss_base_mib, usage.ru_maxrss / 1024.0);
  return median;
}
