/* bench-common.h — what the benchmark programs (bench-engine, bench-train) share: the resident
 * size, the median of the timed runs and the one JSON line each configuration prints for
 * bench/bench_torch.py's table. */
#pragma once

#include <glib.h>

/* Resident set size of this process now, in MiB, from /proc/self/status; -1 if unknown. */
double bench_current_rss_mib (void);

/* Prints one JSON line for a timed configuration and returns the median in ms:
 *   {"impl": IMPL, EXTRA "size": S, "batch": N, "threads": T, "runs": R, "median_ms": ...,
 *    "min_ms": ..., "images_per_s": ..., "rss_base_mib": ..., "peak_rss_mib": ...}
 * @times (@runs >= 1 wall times in ms) is sorted in place; images_per_s = batch / median;
 * peak_rss_mib comes from getrusage. @extra is "" or further members, each followed by ", "
 * (e.g. "\"step\": \"train\", "). */
double bench_print_result (const char *impl, const char *extra, int size, int batch, int threads,
                           double *times, int runs, double rss_base_mib);
