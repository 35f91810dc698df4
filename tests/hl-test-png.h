/* hl-test-png.h — test-only helpers for the study and CLI tests: PNG files written with
 * libpng from known samples (so that the tests make their inputs instead of shipping binary
 * files), temporary folders, running the hilum-cli binary, and a memory-capped child process. */
#pragma once

#include <glib.h>
#include <png.h>

G_BEGIN_DECLS

/* What to write: @samples holds (height, width, channels) values in 0..2^depth-1 (palette: the
 * indices), packed into PNG's row layout by hl_test_png_write(). */
typedef struct
{
  int width, height, color_type, depth; /* color_type: PNG_COLOR_TYPE_* */
  gboolean interlaced;
  const guint16 *samples;
  const png_color *palette;
  int n_palette;
  double phys_mm; /* pixel size for a pHYs chunk in metres, 0 for none */
} HlTestPngSpec;

/* Samples per pixel of @spec's colour type. */
int hl_test_png_channels (const HlTestPngSpec *spec);

/* Writes @spec to @path (with a gAMA chunk the decoder must ignore); aborts the test on failure. */
void hl_test_png_write (const char *path, const HlTestPngSpec *spec);

/* Writes a @width x @height 8-bit gray PNG of seeded random samples. */
void hl_test_png_write_gray8 (const char *path, int width, int height, guint32 seed);

/* Writes a 16 x 16 gray PNG at @relative below @dir, creating its folders; returns its path. */
char *hl_test_add_png (const char *dir, const char *relative);

/* Writes @text at @relative below @dir, creating its folders; returns its path. */
char *hl_test_add_text (const char *dir, const char *relative, const char *text);

/* Creates a new temporary folder from @tmpl ("name-XXXXXX"); aborts the test on failure. */
char *hl_test_make_tmp_dir (const char *tmpl);

/* Removes @path and everything below it, without following links and making read-only folders
 * writable first. */
void hl_test_remove_tree (const char *path);

/* argv for the hilum-cli built in $HL_BUILD_DIR: the binary, then @args (NULL-terminated), then
 * NULL; the array owns its strings. For g_spawn_*(). */
GPtrArray *hl_test_cli_argv (const char *const *args);

/* Runs hilum-cli with @args (NULL-terminated, after "hilum-cli"), logs its stdout and stderr
 * (g_test_message) and returns its exit status; hands its stdout / stderr over in @out / @err
 * when not NULL. Aborts the test when it cannot start or does not exit normally. */
int hl_test_run_cli (const char *const *args, char **out, char **err);

/* One finished hilum-cli run: its exit status and output. */
typedef struct
{
  int status;
  char *out; /* stdout */
  char *err; /* stderr */
} HlTestRun;

/* hl_test_run_cli() into @run, whose earlier output is freed first. */
void hl_test_run (HlTestRun *run, const char *const *args);
void hl_test_run_clear (HlTestRun *run);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HlTestRun, hl_test_run_clear)

/* For a test that must not allocate memory in proportion to a hostile input: in the parent,
 * runs the calling test again in a child process and asserts that it passes, then returns FALSE;
 * in that child, caps the address space at @mib MiB (RLIMIT_AS) and returns TRUE, so the test
 * runs its capped part and returns:
 *
 *   if (hl_test_in_capped_child (512)) { ...load the hostile input...; return; }
 *
 * Under AddressSanitizer, which reserves terabytes of address space, it says so and returns
 * FALSE without a child. */
gboolean hl_test_in_capped_child (guint mib);

/* A g_test fixture holding a fresh temporary folder, removed with its contents afterwards. */
typedef struct
{
  char *dir;
} HlTestDir;

void hl_test_dir_set_up (HlTestDir *f, gconstpointer data);
void hl_test_dir_tear_down (HlTestDir *f, gconstpointer data);

G_END_DECLS
