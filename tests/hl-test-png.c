/* hl-test-png.c — test-only helpers for the study and CLI tests (see hl-test-png.h). */
#include "hl-test-png.h"

#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <glib/gstdio.h>

int
hl_test_png_channels (const HlTestPngSpec *s)
{
  switch (s->color_type)
    {
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 1;
    }
}

void
hl_test_png_write (const char *path, const HlTestPngSpec *s)
{
  FILE *file = g_fopen (path, "wb");
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct (png);
  int channels = hl_test_png_channels (s);
  gsize rowbytes = ((gsize) s->width * channels * s->depth + 7) / 8;
  g_autofree guint8 *rows = g_malloc0 (rowbytes * s->height);
  g_autofree png_bytep *row_pointers = g_new (png_bytep, s->height);

  g_assert_nonnull (file);
  g_assert_nonnull (info);
  g_assert_cmpint (setjmp (png_jmpbuf (png)), ==, 0);
  for (int y = 0; y < s->height; y++)
    {
      guint8 *row = rows + y * rowbytes;
      for (int i = 0; i < s->width * channels; i++)
        {
          guint16 v = s->samples[y * s->width * channels + i];
          if (s->depth == 16)
            {
              row[2 * i] = v >> 8;
              row[2 * i + 1] = v & 0xff;
            }
          else if (s->depth == 8)
            row[i] = (guint8) v;
          else
            {
              int per_byte = 8 / s->depth;
              int shift = 8 - s->depth * (i % per_byte + 1);
              row[i / per_byte] |= (guint8) (v << shift);
            }
        }
      row_pointers[y] = row;
    }
  png_init_io (png, file);
  png_set_IHDR (png, info, s->width, s->height, s->depth, s->color_type,
                s->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (s->palette != NULL)
    png_set_PLTE (png, info, s->palette, s->n_palette);
  if (s->phys_mm > 0)
    {
      png_uint_32 ppm = (png_uint_32) (1000.0 / s->phys_mm + 0.5);
      png_set_pHYs (png, info, ppm, ppm, PNG_RESOLUTION_METER);
    }
  png_set_gAMA (png, info, 1.0); /* must be ignored by the decoder */
  png_set_rows (png, info, row_pointers);
  png_write_png (png, info, PNG_TRANSFORM_IDENTITY, NULL);
  png_destroy_write_struct (&png, &info);
  fclose (file);
}

void
hl_test_png_write_gray8 (const char *path, int width, int height, guint32 seed)
{
  g_autofree guint16 *samples = g_new (guint16, (gsize) width * height);
  HlTestPngSpec spec = { .width = width, .height = height, .color_type = PNG_COLOR_TYPE_GRAY,
                         .depth = 8, .samples = samples };
  GRand *rand = g_rand_new_with_seed (seed);

  for (gsize i = 0; i < (gsize) width * height; i++)
    samples[i] = (guint16) g_rand_int_range (rand, 0, 256);
  g_rand_free (rand);
  hl_test_png_write (path, &spec);
}

static char *
prepare (const char *dir, const char *relative)
{
  char *path = g_build_filename (dir, relative, NULL);
  g_autofree char *parent = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  return path;
}

char *
hl_test_add_png (const char *dir, const char *relative)
{
  char *path = prepare (dir, relative);

  hl_test_png_write_gray8 (path, 16, 16, g_str_hash (relative));
  return path;
}

char *
hl_test_add_text (const char *dir, const char *relative, const char *text)
{
  char *path = prepare (dir, relative);

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  return path;
}

char *
hl_test_make_tmp_dir (const char *tmpl)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp (tmpl, &error);

  g_assert_no_error (error);
  return dir;
}

void
hl_test_remove_tree (const char *path)
{
  GStatBuf st;

  if (g_lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode))
    {
      GDir *dir;
      const char *name;

      g_chmod (path, 0755);
      dir = g_dir_open (path, 0, NULL);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          hl_test_remove_tree (child);
        }
      if (dir != NULL)
        g_dir_close (dir);
      g_rmdir (path);
    }
  else
    g_remove (path);
}

GPtrArray *
hl_test_cli_argv (const char *const *args)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_build_filename (g_getenv ("HL_BUILD_DIR"), "src", "cli", "hilum-cli",
                                           NULL));
  for (const char *const *a = args; *a != NULL; a++)
    g_ptr_array_add (argv, g_strdup (*a));
  g_ptr_array_add (argv, NULL);
  return argv;
}

int
hl_test_run_cli (const char *const *args, char **out, char **err)
{
  g_autoptr (GPtrArray) argv = hl_test_cli_argv (args);
  g_autofree char *stdout_text = NULL, *stderr_text = NULL;
  g_autoptr (GError) error = NULL;
  int wait_status = 0;

  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &stdout_text,
                &stderr_text, &wait_status, &error);
  g_assert_no_error (error);
  g_test_message ("stdout:\n%s\nstderr:\n%s", stdout_text, stderr_text);
  g_assert_true (WIFEXITED (wait_status));
  if (out != NULL)
    *out = g_steal_pointer (&stdout_text);
  if (err != NULL)
    *err = g_steal_pointer (&stderr_text);
  return WEXITSTATUS (wait_status);
}

void
hl_test_run (HlTestRun *run, const char *const *args)
{
  hl_test_run_clear (run);
  run->status = hl_test_run_cli (args, &run->out, &run->err);
}

void
hl_test_run_clear (HlTestRun *run)
{
  g_clear_pointer (&run->out, g_free);
  g_clear_pointer (&run->err, g_free);
}

gboolean
hl_test_in_capped_child (guint mib)
{
#if defined(__SANITIZE_ADDRESS__)
#define HL_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HL_TEST_UNDER_ASAN 1
#endif
#endif
#ifdef HL_TEST_UNDER_ASAN
  g_test_message ("address-space cap of %u MiB skipped under AddressSanitizer (it reserves "
                  "terabytes)", mib);
  return FALSE;
#else
  if (g_test_subprocess ())
    {
      struct rlimit limit = { (rlim_t) mib << 20, (rlim_t) mib << 20 };

      g_assert_cmpint (setrlimit (RLIMIT_AS, &limit), ==, 0);
      return TRUE;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  return FALSE;
#endif
}

void
hl_test_dir_set_up (HlTestDir *f, gconstpointer data)
{
  f->dir = hl_test_make_tmp_dir ("hl-test-XXXXXX");
}

void
hl_test_dir_tear_down (HlTestDir *f, gconstpointer data)
{
  hl_test_remove_tree (f->dir);
  g_free (f->dir);
}
