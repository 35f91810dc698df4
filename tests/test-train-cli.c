/* test-train-cli.c — runs the built `hilum-cli train` (HL_BUILD_DIR) on the tiny architecture
 * over small generated image sets: usage errors, the patient-leakage stop and its override,
 * byte-identical model files from two runs with one seed, a stopped-and-resumed run and a
 * SIGKILLed-and-resumed run equal to an uninterrupted one, a checkpoint refused by a run with other
 * settings or when truncated, damaged checkpoints (a flipped bit in the state, epoch or best
 * file, corrupt moments and counters behind a valid checksum, the older format) refused at load
 * naming the file, the checkpoint reader on every truncation and many bit flips, the metadata of the written model, a synthetic finding that training
 * must learn, unreadable images reported and left out (and a split with none readable refused),
 * and (when HL_SHARED_DATA has it) one short epoch on real NIH images. */
#include "hl-checkpoint.h"
#include "hl-engine.h"
#include "hl-labels.h"
#include "hl-test-png.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define SIDE 40
#define MASS 9 /* hl_label_names index of "Mass": the synthetic finding */

/* "train", then @args (NULL-terminated), then NULL; the strings stay @args'. */
static GPtrArray *
train_args (const char *const *args)
{
  GPtrArray *full = g_ptr_array_new ();

  g_ptr_array_add (full, "train");
  for (const char *const *a = args; *a != NULL; a++)
    g_ptr_array_add (full, (gpointer) *a);
  g_ptr_array_add (full, NULL);
  return full;
}

static void
run_train (HlTestRun *run, const char *const *args)
{
  g_autoptr (GPtrArray) full = train_args (args);

  hl_test_run (run, (const char *const *) full->pdata);
}

/* A SIDE x SIDE 8-bit image: seeded noise over a soft gradient, plus a bright disc (the synthetic
 * finding) when @finding. */
static void
write_image (const char *path, guint32 seed, gboolean finding)
{
  g_autofree guint16 *samples = g_new (guint16, SIDE * SIDE);
  HlTestPngSpec spec = { .width = SIDE, .height = SIDE, .color_type = PNG_COLOR_TYPE_GRAY,
                         .depth = 8, .samples = samples };
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  double cx = g_rand_double_range (rand, 14, 26), cy = g_rand_double_range (rand, 14, 26);

  for (int y = 0; y < SIDE; y++)
    for (int x = 0; x < SIDE; x++)
      {
        double v = 60 + 2.0 * y + g_rand_double_range (rand, 0, 40);
        if (finding && (x - cx) * (x - cx) + (y - cy) * (y - cy) < 36)
          v += 100;
        samples[y * SIDE + x] = (guint16) CLAMP (v, 0, 255);
      }
  hl_test_png_write (path, &spec);
}

/* Writes @n images img-<first + i>.png into @dir/images and a notebook-layout CSV @dir/@csv for
 * them: patient id @patient_base + i / 2 (two images per patient), "Mass" positive for every third
 * image (with its disc), "Pneumonia" for every second, the other labels 0. */
static char *
write_split (const char *dir, const char *csv, int first, int n, int patient_base)
{
  g_autoptr (GString) text = g_string_new ("Image");
  g_autofree char *images = g_build_filename (dir, "images", NULL);
  char *path = g_build_filename (dir, csv, NULL);

  g_assert_cmpint (g_mkdir_with_parents (images, 0755), ==, 0);
  for (int k = 0; k < HL_N_LABELS; k++)
    {
      g_string_append_printf (text, ",%s", hl_label_names[k]);
      if (g_strcmp0 (hl_label_names[k], "Nodule") == 0)
        g_string_append (text, ",PatientId");
    }
  g_string_append (text, "\n");
  for (int i = 0; i < n; i++)
    {
      int id = first + i;
      gboolean mass = id % 3 == 0;
      g_autofree char *name = g_strdup_printf ("img-%03d.png", id);
      g_autofree char *png = g_build_filename (images, name, NULL);

      write_image (png, (guint32) id * 7919u + 1u, mass);
      g_string_append (text, name);
      for (int k = 0; k < HL_N_LABELS; k++)
        {
          int v = k == MASS ? mass : (g_strcmp0 (hl_label_names[k], "Pneumonia") == 0 ? id % 2 : 0);
          g_string_append_printf (text, ",%d", v);
          if (g_strcmp0 (hl_label_names[k], "Nodule") == 0)
            g_string_append_printf (text, ",%d", patient_base + i / 2);
        }
      g_string_append (text, "\n");
    }
  g_assert_true (g_file_set_contents (path, text->str, -1, NULL));
  return path;
}

typedef struct
{
  HlTestDir tmp;
  char *train;
  char *valid;
  char *images;
} Data;

static void
data_set_up (Data *d, gconstpointer user_data)
{
  hl_test_dir_set_up (&d->tmp, user_data);
  d->train = write_split (d->tmp.dir, "train.csv", 0, 24, 1000);
  d->valid = write_split (d->tmp.dir, "valid.csv", 100, 12, 2000);
  d->images = g_build_filename (d->tmp.dir, "images", NULL);
}

static void
data_tear_down (Data *d, gconstpointer user_data)
{
  g_free (d->train);
  g_free (d->valid);
  g_free (d->images);
  hl_test_dir_tear_down (&d->tmp, user_data);
}

/* The tiny run every test uses, writing @out (relative to the temporary folder) with @extra
 * options appended; returns the argument vector (NULL-terminated) to free with g_strfreev. */
static char **
tiny_args (const Data *d, const char *out, const char *const *extra)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_autofree char *out_path = g_build_filename (d->tmp.dir, out, NULL);
  const char *fixed[] = { "--arch", "tiny", "--input-size", "32", "--epochs", "3", "--batch", "8",
                          "--lr", "3e-3", "--threads", "1", "--seed", "5", NULL };

  g_strv_builder_add_many (b, "--train", d->train, "--valid", d->valid, "--images", d->images,
                           "--out", out_path, NULL);
  g_strv_builder_addv (b, fixed);
  if (extra != NULL)
    g_strv_builder_addv (b, (const char **) extra);
  return g_strv_builder_end (b);
}

static GBytes *
read_bytes (const Data *d, const char *relative)
{
  g_autofree char *path = g_build_filename (d->tmp.dir, relative, NULL);
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_autoptr (GError) error = NULL;

  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (g_steal_pointer (&contents), length);
}

static void
assert_same_file (const Data *d, const char *a, const char *b)
{
  g_autoptr (GBytes) x = read_bytes (d, a);
  g_autoptr (GBytes) y = read_bytes (d, b);

  g_assert_cmpuint (g_bytes_get_size (x), >, 1000);
  if (!g_bytes_equal (x, y))
    g_error ("%s and %s differ", a, b);
}

static void
test_usage (Data *d, gconstpointer user_data)
{
  const char *none[] = { NULL };
  const char *bad_arch[] = { "--arch", "resnet", NULL };
  const char *bad_batch[] = { "--batch", "1", NULL };
  g_auto (GStrv) args_arch = tiny_args (d, "m.safetensors", bad_arch);
  g_auto (GStrv) args_batch = tiny_args (d, "m.safetensors", bad_batch);
  g_auto (HlTestRun) r1 = { 0 };
  g_auto (HlTestRun) r2 = { 0 };
  g_auto (HlTestRun) r3 = { 0 };

  run_train (&r1, none);
  g_assert_cmpint (r1.status, ==, 2);
  g_assert_nonnull (strstr (r1.err, "--train"));
  run_train (&r2, (const char *const *) args_arch);
  g_assert_cmpint (r2.status, ==, 2);
  g_assert_nonnull (strstr (r2.err, "--arch"));
  run_train (&r3, (const char *const *) args_batch);
  g_assert_cmpint (r3.status, ==, 2);
}

static void
test_leakage (Data *d, gconstpointer user_data)
{
  /* valid2 reuses patients 1000 and 1001 of the training split */
  g_autofree char *leaky = write_split (d->tmp.dir, "leaky.csv", 200, 6, 1000);
  const char *allow[] = { "--allow-leakage", "--epochs", "1", NULL };
  g_auto (GStrv) args = tiny_args (d, "m.safetensors", NULL);
  g_auto (GStrv) args_allow = tiny_args (d, "m.safetensors", allow);
  g_auto (HlTestRun) stopped = { 0 };
  g_auto (HlTestRun) allowed = { 0 };

  g_free (args[3]);
  args[3] = g_strdup (leaky);
  g_free (args_allow[3]);
  args_allow[3] = g_strdup (leaky);

  run_train (&stopped, (const char *const *) args);
  g_assert_cmpint (stopped.status, ==, 1);
  g_assert_nonnull (strstr (stopped.err, "3 patients are in both"));
  g_assert_nonnull (strstr (stopped.err, " 1000 1001 1002\n"));
  g_assert_nonnull (strstr (stopped.err, "--allow-leakage"));
  g_assert_false (g_file_test (args[7], G_FILE_TEST_EXISTS));

  run_train (&allowed, (const char *const *) args_allow);
  g_assert_cmpint (allowed.status, ==, 0);
  g_assert_nonnull (strstr (allowed.err, "optimistic"));
  g_assert_true (g_file_test (args_allow[7], G_FILE_TEST_EXISTS));
  /* The model file says so, for its card. */
  g_autoptr (GError) error = NULL;
  g_autoptr (HlModel) model = hl_model_new_from_file (args_allow[7], &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (hl_model_get_info (model)->training_data,
                            "; patients in both splits: 3 (allowed by --allow-leakage); this is "
                            "epoch 1"));
}

/* Loads @relative and checks the metadata a trained model must carry. Returns the model. */
static HlModel *
check_model (const Data *d, const char *relative)
{
  g_autofree char *path = g_build_filename (d->tmp.dir, relative, NULL);
  g_autoptr (GError) error = NULL;
  HlModel *model = hl_model_new_from_file (path, &error);
  const HlModelInfo *info;

  g_assert_no_error (error);
  info = hl_model_get_info (model);
  g_assert_cmpstr (info->name, ==, "hilum-tiny-nih");
  g_assert_cmpint (info->n_labels, ==, HL_N_LABELS);
  for (int k = 0; k < HL_N_LABELS; k++)
    g_assert_cmpstr (info->labels[k], ==, hl_label_names[k]);
  g_assert_cmpint (info->input_size, ==, 32);
  g_assert_cmpint (info->input_channels, ==, 1);
  g_assert_cmpint (info->preprocess.mode, ==, HL_NORM_IMAGE);
  g_assert_nonnull (strstr (info->intended_use, "not for diagnostic use"));
  g_assert_nonnull (strstr (info->training_data, "24 images (12 patients)"));
  g_assert_nonnull (strstr (info->training_data, "this is epoch"));
  for (int k = 0; k < HL_N_LABELS; k++)
    {
      gboolean defined = k == MASS || g_strcmp0 (hl_label_names[k], "Pneumonia") == 0;
      g_assert_cmpfloat (info->thresholds[k], >, 0.0f);
      g_assert_cmpfloat (info->thresholds[k], <, 1.0f);
      /* labels without positives in validation have no AUROC and the default threshold */
      g_assert_true (defined ? !isnan (info->val_auroc[k]) : isnan (info->val_auroc[k]));
      if (!defined)
        g_assert_cmpfloat (info->thresholds[k], ==, 0.5f);
    }
  return model;
}

static void
test_deterministic (Data *d, gconstpointer user_data)
{
  g_auto (GStrv) a = tiny_args (d, "a.safetensors", NULL);
  g_auto (GStrv) b = tiny_args (d, "b.safetensors", NULL);
  g_auto (HlTestRun) ra = { 0 };
  g_auto (HlTestRun) rb = { 0 };

  run_train (&ra, (const char *const *) a);
  g_assert_cmpint (ra.status, ==, 0);
  run_train (&rb, (const char *const *) b);
  g_assert_cmpint (rb.status, ==, 0);
  g_assert_nonnull (strstr (ra.out, "Class frequencies"));
  g_assert_nonnull (strstr (ra.out, "Loss weights"));
  g_assert_nonnull (strstr (ra.out, "epoch 3/3"));
  g_assert_nonnull (strstr (ra.out, "images/s"));
  assert_same_file (d, "a.safetensors", "b.safetensors");
  assert_same_file (d, "a.safetensors.checkpoints/epoch-0003.safetensors",
                    "b.safetensors.checkpoints/epoch-0003.safetensors");
  g_autoptr (HlModel) model = check_model (d, "a.safetensors");
}

/* --keep-last writes the last epoch whatever its validation AUROC, and says so. */
static void
test_keep_last (Data *d, gconstpointer user_data)
{
  const char *keep[] = { "--keep-last", NULL };
  g_auto (GStrv) args = tiny_args (d, "last.safetensors", keep);
  g_auto (HlTestRun) run = { 0 };
  g_auto (GStrv) kept = NULL;

  run_train (&run, (const char *const *) args);
  g_assert_cmpint (run.status, ==, 0);
  kept = g_strsplit (run.out, "(kept)", -1);
  g_assert_cmpuint (g_strv_length (kept), ==, 4); /* every one of the 3 epochs */
  g_assert_nonnull (strstr (run.out, "epoch 1/3"));
  g_assert_nonnull (strstr (run.out, "epoch 3/3"));
  g_assert_nonnull (strstr (run.out, "Last epoch 3 "));
  assert_same_file (d, "last.safetensors", "last.safetensors.checkpoints/epoch-0003.safetensors");
  g_autoptr (HlModel) model = check_model (d, "last.safetensors");
  g_assert_nonnull (strstr (hl_model_get_info (model)->training_data, "kept epoch: the last"));
}

/* --init: a run from a trained tiny model with --freeze features keeps its 14 classifier rows
 * and says where it started; the options it refuses; and a stopped run from --init resumed
 * equal to an uninterrupted one (the init file enters the fingerprint: a changed one is
 * refused). */
static void
test_init (Data *d, gconstpointer user_data)
{
  const char *one[] = { "--epochs", "1", NULL };
  g_autofree char *base = g_build_filename (d->tmp.dir, "base.safetensors", NULL);
  const char *init[] = { "--init", base, "--freeze", "features", "--epochs", "2", NULL };
  const char *stop[] = { "--init", base, "--freeze", "denseblock2", "--backbone-lr-scale",
                         "0.5", "--stop-after", "1", NULL };
  const char *resume[] = { "--init", base, "--freeze", "denseblock2", "--backbone-lr-scale",
                           "0.5", "--resume", NULL };
  const char *full[] = { "--init", base, "--freeze", "denseblock2", "--backbone-lr-scale",
                         "0.5", NULL };
  const char *bad_arch[] = { "--init", base, "--arch", "densenet121", NULL };
  const char *bad_size[] = { "--init", base, "--input-size", "64", NULL };
  const char *bad_freeze[] = { "--init", base, "--freeze", "denseblock3", NULL };
  const char *no_init[] = { "--freeze", "features", NULL };
  const char *const *refused[] = { bad_arch, bad_size, bad_freeze, no_init };
  const char *needles[] = { "--arch densenet121", "--input-size 64", "denseblock3",
                            "need --init" };
  g_auto (GStrv) args_base = tiny_args (d, "base.safetensors", one);
  g_auto (GStrv) args_init = tiny_args (d, "init.safetensors", init);
  g_auto (HlTestRun) r1 = { 0 };
  g_auto (HlTestRun) r2 = { 0 };
  g_autoptr (GError) error = NULL;

  run_train (&r1, (const char *const *) args_base);
  g_assert_cmpint (r1.status, ==, 0);
  run_train (&r2, (const char *const *) args_init);
  g_assert_cmpint (r2.status, ==, 0);
  g_autofree char *init_path = g_build_filename (d->tmp.dir, "init.safetensors", NULL);
  g_autoptr (HlModel) model = hl_model_new_from_file (init_path, &error);
  g_assert_no_error (error);
  const char *text = hl_model_get_info (model)->training_data;
  g_assert_nonnull (strstr (text, "started from hilum-tiny-nih 1.0 (source sha256 "));
  g_assert_nonnull (strstr (text, "classifier rows kept for 14 of the 14 labels"));
  g_assert_nonnull (strstr (text, "frozen: features"));
  g_assert_cmpint (hl_model_get_info (model)->calibration, ==, HL_OUTPUT_SIGMOID);

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_auto (GStrv) args = tiny_args (d, "refused.safetensors", refused[i]);
      g_auto (HlTestRun) r = { 0 };
      run_train (&r, (const char *const *) args);
      g_assert_cmpint (r.status, ==, 2);
      g_assert_nonnull (strstr (r.err, needles[i]));
    }

  g_auto (GStrv) args_full = tiny_args (d, "full.safetensors", full);
  g_auto (GStrv) args_stop = tiny_args (d, "part.safetensors", stop);
  g_auto (GStrv) args_resume = tiny_args (d, "part.safetensors", resume);
  g_auto (HlTestRun) r3 = { 0 };
  g_auto (HlTestRun) r4 = { 0 };
  g_auto (HlTestRun) r5 = { 0 };
  g_auto (HlTestRun) r6 = { 0 };
  run_train (&r3, (const char *const *) args_full);
  g_assert_cmpint (r3.status, ==, 0);
  run_train (&r4, (const char *const *) args_stop);
  g_assert_cmpint (r4.status, ==, 0);
  g_assert_nonnull (strstr (r4.out, "Stopped after epoch 1"));
  run_train (&r5, (const char *const *) args_resume);
  g_assert_cmpint (r5.status, ==, 0);
  g_assert_nonnull (strstr (r5.out, "Resuming after epoch 1"));
  assert_same_file (d, "full.safetensors", "part.safetensors");

  /* another init file (the fine-tuned one in its place) does not resume that run */
  g_autofree char *part = g_build_filename (d->tmp.dir, "part.safetensors", NULL);
  g_assert_cmpint (g_unlink (part), ==, 0);
  g_assert_cmpint (g_rename (init_path, base), ==, 0);
  run_train (&r6, (const char *const *) args_resume);
  g_assert_cmpint (r6.status, ==, 1);
  g_assert_nonnull (strstr (r6.err, "other settings"));
}

static void
test_stop_resume (Data *d, gconstpointer user_data)
{
  const char *stop[] = { "--stop-after", "1", NULL };
  /* resumed with another thread count: results do not depend on it */
  const char *resume[] = { "--resume", "--threads", "2", NULL };
  const char *other[] = { "--resume", "--lr", "1e-3", NULL };
  g_auto (GStrv) full = tiny_args (d, "full.safetensors", NULL);
  g_auto (GStrv) first = tiny_args (d, "part.safetensors", stop);
  g_auto (GStrv) rest = tiny_args (d, "part.safetensors", resume);
  g_auto (GStrv) mismatch = tiny_args (d, "part.safetensors", other);
  g_auto (HlTestRun) r1 = { 0 };
  g_auto (HlTestRun) r2 = { 0 };
  g_auto (HlTestRun) r3 = { 0 };
  g_auto (HlTestRun) r4 = { 0 };
  g_auto (HlTestRun) r5 = { 0 };

  run_train (&r1, (const char *const *) full);
  g_assert_cmpint (r1.status, ==, 0);
  run_train (&r2, (const char *const *) first);
  g_assert_cmpint (r2.status, ==, 0);
  g_assert_nonnull (strstr (r2.out, "Stopped after epoch 1"));
  g_assert_null (strstr (r2.out, "epoch 2/3"));

  run_train (&r4, (const char *const *) mismatch);
  g_assert_cmpint (r4.status, ==, 1);
  g_assert_nonnull (strstr (r4.err, "other settings"));

  /* a truncated state file is refused; the intact one is then put back */
  g_autofree char *state = g_build_filename (d->tmp.dir, "part.safetensors.checkpoints",
                                             "state.bin", NULL);
  g_autofree char *saved = NULL;
  gsize saved_len = 0;
  g_assert_true (g_file_get_contents (state, &saved, &saved_len, NULL));
  g_assert_true (g_file_set_contents (state, saved, (gssize) saved_len - 1, NULL));
  run_train (&r5, (const char *const *) rest);
  g_assert_cmpint (r5.status, ==, 1);
  g_assert_nonnull (strstr (r5.err, "truncated or corrupt"));
  g_assert_true (g_file_set_contents (state, saved, (gssize) saved_len, NULL));

  run_train (&r3, (const char *const *) rest);
  g_assert_cmpint (r3.status, ==, 0);
  g_assert_nonnull (strstr (r3.out, "Resuming after epoch 1"));
  g_assert_null (strstr (r3.out, "epoch 1/3"));
  assert_same_file (d, "full.safetensors", "part.safetensors");
  assert_same_file (d, "full.safetensors.checkpoints/epoch-0003.safetensors",
                    "part.safetensors.checkpoints/epoch-0003.safetensors");
}

/* Kills a run with SIGKILL as soon as its first checkpoint exists, resumes it, and compares with
 * an uninterrupted run. */
static void
test_kill_resume (Data *d, gconstpointer user_data)
{
  const char *longer[] = { "--epochs", "8", NULL };
  const char *longer_resume[] = { "--epochs", "8", "--resume", NULL };
  g_auto (GStrv) full = tiny_args (d, "full.safetensors", longer);
  g_auto (GStrv) killed = tiny_args (d, "killed.safetensors", longer);
  g_auto (GStrv) resumed = tiny_args (d, "killed.safetensors", longer_resume);
  g_autoptr (GPtrArray) killed_args = train_args ((const char *const *) killed);
  g_autoptr (GPtrArray) argv = hl_test_cli_argv ((const char *const *) killed_args->pdata);
  g_autofree char *state = g_build_filename (d->tmp.dir, "killed.safetensors.checkpoints",
                                             "state.bin", NULL);
  g_autoptr (GError) error = NULL;
  g_auto (HlTestRun) r1 = { 0 };
  g_auto (HlTestRun) r2 = { 0 };
  GPid pid;
  int wait_status;
  int fd_null = g_open ("/dev/null", O_WRONLY, 0);

  run_train (&r1, (const char *const *) full);
  g_assert_cmpint (r1.status, ==, 0);

  g_spawn_async_with_fds (NULL, (char **) argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                          NULL, &pid, -1, fd_null, fd_null, &error);
  g_assert_no_error (error);
  while (!g_file_test (state, G_FILE_TEST_EXISTS) && waitpid (pid, &wait_status, WNOHANG) == 0)
    g_usleep (200);
  kill (pid, SIGKILL);
  waitpid (pid, &wait_status, 0);
  g_spawn_close_pid (pid);
  close (fd_null);
  g_test_message ("run killed %s", WIFSIGNALED (wait_status) ? "by SIGKILL" : "after it ended");

  run_train (&r2, (const char *const *) resumed);
  g_assert_cmpint (r2.status, ==, 0);
  g_assert_nonnull (strstr (r2.out, "Resuming after epoch"));
  assert_same_file (d, "full.safetensors", "killed.safetensors");
  assert_same_file (d, "full.safetensors.checkpoints/epoch-0008.safetensors",
                    "killed.safetensors.checkpoints/epoch-0008.safetensors");
}

/* ---- damaged checkpoints ---- */

/* Offsets in the state file (format 2, hl-checkpoint.h). */
#define STATE_STEP 24
#define STATE_BEST_EPOCH 20
#define STATE_FP_LEN 128
#define STATE_N_MOMENTS 136
#define STATE_HEADER 144
#define SHA256_LEN 32

static guint64
read_u64_le (const char *p)
{
  guint64 v;

  memcpy (&v, p, 8);
  return GUINT64_FROM_LE (v);
}

/* @v's bits as the state file stores them. */
static guint32
float_le (float v)
{
  guint32 bits;

  memcpy (&bits, &v, 4);
  return GUINT32_TO_LE (bits);
}

/* The offset of Adam's second moment @index in the state file @data (v follows m). */
static gsize
second_moment_offset (const char *data, gsize index)
{
  return STATE_HEADER + read_u64_le (data + STATE_FP_LEN)
         + 4 * (read_u64_le (data + STATE_N_MOMENTS) / 2 + index);
}

/* Writes @data (@size bytes) to @path with @len bytes at @offset replaced by @bytes and the
 * trailing SHA-256 recomputed: a damaged field behind a valid checksum. */
static void
write_resigned (const char *path, const char *data, gsize size, gsize offset, const void *bytes,
                gsize len)
{
  g_autofree char *copy = g_memdup2 (data, size);
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize digest_len = SHA256_LEN;

  g_assert_cmpuint (offset + len, <=, size - SHA256_LEN);
  memcpy (copy + offset, bytes, len);
  g_checksum_update (sum, (const guint8 *) copy, (gssize) (size - SHA256_LEN));
  g_checksum_get_digest (sum, (guint8 *) copy + size - SHA256_LEN, &digest_len);
  g_assert_true (g_file_set_contents (path, copy, (gssize) size, NULL));
}

/* Writes @data with bit @bit of byte @offset flipped to @path. */
static void
write_flipped (const char *path, const char *data, gsize size, gsize offset, int bit)
{
  g_autofree char *copy = g_memdup2 (data, size);

  copy[offset] ^= (char) (1 << bit);
  g_assert_true (g_file_set_contents (path, copy, (gssize) size, NULL));
}

/* Runs @args (a --resume) and checks it is refused before any epoch runs, on stderr with every
 * one of @expected (NULL-terminated). */
static void
assert_refused (char **args, const char *const *expected)
{
  g_auto (HlTestRun) run = { 0 };

  run_train (&run, (const char *const *) args);
  g_test_message ("refused: %s", run.err);
  g_assert_cmpint (run.status, ==, 1);
  g_assert_nonnull (strstr (run.err, "cannot resume: "));
  for (const char *const *e = expected; *e != NULL; e++)
    if (strstr (run.err, *e) == NULL)
      g_error ("stderr lacks \"%s\":\n%s", *e, run.err);
  g_assert_null (strstr (run.out, "Resuming"));
  g_assert_null (strstr (run.out, "epoch 2/3"));
}

/* A stopped run's checkpoint, damaged one way at a time, is refused at load naming the damaged
 * file: a flipped bit in state.bin (the settings, a moment, the checksum) or in the epoch's model
 * file, a shortened epoch file, and fields damaged behind a recomputed checksum (a negative or a
 * NaN Adam moment, a step count or best epoch that does not fit, the older format). Each intact
 * file is put back after, and the run then resumes to the uninterrupted run's bytes. */
static void
test_checkpoint_damaged (Data *d, gconstpointer user_data)
{
  const char *stop[] = { "--stop-after", "1", NULL };
  const char *resume[] = { "--resume", NULL };
  g_auto (GStrv) full = tiny_args (d, "full.safetensors", NULL);
  g_auto (GStrv) first = tiny_args (d, "part.safetensors", stop);
  g_auto (GStrv) rest = tiny_args (d, "part.safetensors", resume);
  g_autofree char *dir = g_build_filename (d->tmp.dir, "part.safetensors.checkpoints", NULL);
  g_autofree char *state = g_build_filename (dir, "state.bin", NULL);
  g_autofree char *epoch = g_build_filename (dir, "epoch-0001.safetensors", NULL);
  g_autofree char *st = NULL;
  g_autofree char *ep = NULL;
  gsize st_len = 0, ep_len = 0;
  g_auto (HlTestRun) r1 = { 0 };
  g_auto (HlTestRun) r2 = { 0 };
  g_auto (HlTestRun) r3 = { 0 };
  const char *state_corrupt[] = { state, "not a valid checkpoint state",
                                  "SHA-256 does not match its content", NULL };
  const char *epoch_changed[] = { epoch, "is not the model file", state, "SHA-256 differs",
                                  NULL };
  const char *epoch_short[] = { epoch, "bytes instead of", NULL };
  const char *negative[] = { state, "optimiser second moment 7 is negative (-0.25)", NULL };
  const char *not_finite[] = { state, "optimiser first moment 3 is not finite (nan)", NULL };
  const char *bad_step[] = { state, "does not fit this run: epoch 1 of 3 after 4 steps, where "
                             "this run takes 3 per epoch", NULL };
  const char *bad_best[] = { state, "best epoch 2 outside 1 .. 1", NULL };
  const char *older[] = { state, "written by an older Hilum", "start the run again", NULL };

  run_train (&r1, (const char *const *) full);
  g_assert_cmpint (r1.status, ==, 0);
  run_train (&r2, (const char *const *) first);
  g_assert_cmpint (r2.status, ==, 0);
  g_assert_true (g_file_get_contents (state, &st, &st_len, NULL));
  g_assert_true (g_file_get_contents (epoch, &ep, &ep_len, NULL));
  g_assert_cmpuint (st_len, >, STATE_HEADER + SHA256_LEN + 1000);

  /* one bit anywhere in the state file: the settings, a moment, the checksum itself */
  gsize offsets[] = { STATE_HEADER + 5, second_moment_offset (st, 0) + 1, st_len - 1 };
  for (gsize i = 0; i < G_N_ELEMENTS (offsets); i++)
    {
      write_flipped (state, st, st_len, offsets[i], (int) i + 2);
      assert_refused (rest, state_corrupt);
    }
  g_assert_true (g_file_set_contents (state, st, (gssize) st_len, NULL));

  /* one bit in the middle of the epoch's model file (a weight), or its last byte cut */
  write_flipped (epoch, ep, ep_len, ep_len / 2, 0);
  assert_refused (rest, epoch_changed);
  g_assert_true (g_file_set_contents (epoch, ep, (gssize) ep_len - 1, NULL));
  assert_refused (rest, epoch_short);
  g_assert_true (g_file_set_contents (epoch, ep, (gssize) ep_len, NULL));

  /* fields a checksum cannot vouch for: written so by a bug, or on purpose */
  guint32 minus = float_le (-0.25f), nan = float_le (NAN);
  guint64 step = GUINT64_TO_LE (4);
  guint32 best = GUINT32_TO_LE (2);
  write_resigned (state, st, st_len, second_moment_offset (st, 7), &minus, 4);
  assert_refused (rest, negative);
  write_resigned (state, st, st_len, STATE_HEADER + read_u64_le (st + STATE_FP_LEN) + 12, &nan,
                  4);
  assert_refused (rest, not_finite);
  write_resigned (state, st, st_len, STATE_STEP, &step, 8);
  assert_refused (rest, bad_step);
  write_resigned (state, st, st_len, STATE_BEST_EPOCH, &best, 4);
  assert_refused (rest, bad_best);
  g_assert_true (g_file_set_contents (state, "HLTRAIN1", 8, NULL));
  assert_refused (rest, older);
  g_assert_true (g_file_set_contents (state, st, (gssize) st_len, NULL));

  run_train (&r3, (const char *const *) rest);
  g_assert_cmpint (r3.status, ==, 0);
  g_assert_nonnull (strstr (r3.out, "Resuming after epoch 1"));
  assert_same_file (d, "full.safetensors", "part.safetensors");
}

/* A finished run resumed writes --out again from best.safetensors, which it checks first against
 * the state file: with a bit flipped there it refuses, naming it. */
static void
test_checkpoint_best_damaged (Data *d, gconstpointer user_data)
{
  const char *resume[] = { "--resume", NULL };
  g_auto (GStrv) args = tiny_args (d, "m.safetensors", NULL);
  g_auto (GStrv) again = tiny_args (d, "m.safetensors", resume);
  g_autofree char *best = g_build_filename (d->tmp.dir, "m.safetensors.checkpoints",
                                            "best.safetensors", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  g_auto (HlTestRun) r1 = { 0 };
  g_auto (HlTestRun) r2 = { 0 };
  g_auto (HlTestRun) r3 = { 0 };

  run_train (&r1, (const char *const *) args);
  g_assert_cmpint (r1.status, ==, 0);
  g_assert_true (g_file_get_contents (best, &data, &len, NULL));
  write_flipped (best, data, len, len - 3, 6);
  run_train (&r2, (const char *const *) again);
  g_test_message ("refused: %s", r2.err);
  g_assert_cmpint (r2.status, ==, 1);
  g_assert_nonnull (strstr (r2.err, best));
  g_assert_nonnull (strstr (r2.err, "SHA-256 differs"));

  g_assert_true (g_file_set_contents (best, data, (gssize) len, NULL));
  run_train (&r3, (const char *const *) again);
  g_assert_cmpint (r3.status, ==, 0);
  g_assert_nonnull (strstr (r3.out, "Resuming after epoch 3 of 3"));
  g_assert_null (strstr (r3.out, "epoch 3/3"));
}

/* The reader itself on a real state file: it reads back to the same bytes; it refuses
 * truncations (every one in the header, the settings and the checksum, one in 61 in the moments),
 * every single flipped bit of the header, the settings and the checksum and one in every float of
 * the moments, and more moments than the model can have; the writer refuses a negative second
 * moment instead of writing a file that could not be read. */
static void
test_checkpoint_reader (Data *d, gconstpointer user_data)
{
  const char *one[] = { "--epochs", "1", NULL };
  g_auto (GStrv) args = tiny_args (d, "m.safetensors", one);
  g_autofree char *state = g_build_filename (d->tmp.dir, "m.safetensors.checkpoints", "state.bin",
                                             NULL);
  g_autofree char *data = NULL;
  g_autoptr (HlCheckpoint) ckpt = NULL;
  g_autoptr (GBytes) written = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (HlTestRun) run = { 0 };
  gsize len = 0, header, n_checked = 0;

  run_train (&run, (const char *const *) args);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_true (g_file_get_contents (state, &data, &len, NULL));
  ckpt = hl_checkpoint_new_from_data ((const guint8 *) data, len, "s", G_MAXSIZE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ckpt->state.epoch, ==, 1);
  g_assert_cmpuint (ckpt->state.best_epoch, ==, 1);
  g_assert_cmpint (ckpt->state.step, ==, 3);
  g_assert_cmpint (ckpt->optimizer, ==, HL_OPTIM_ADAM);
  g_assert_cmpuint (ckpt->n_moments, >, 1000);
  written = hl_checkpoint_to_bytes (ckpt, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_get_size (written) == len
                 && memcmp (g_bytes_get_data (written, NULL), data, len) == 0);

  /* one moment fewer than the file holds */
  g_assert_null (hl_checkpoint_new_from_data ((const guint8 *) data, len, "s",
                                              ckpt->n_moments - 1, &error));
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "floats of optimiser state"));
  g_clear_error (&error);

  header = STATE_HEADER + read_u64_le (data + STATE_FP_LEN);
  /* every cut in the header, the settings and the last 64 bytes; one in 61 in the moments */
  for (gsize cut = 0; cut < len; cut += cut < header || cut + 64 >= len ? 1 : 61)
    {
      g_autoptr (HlCheckpoint) c = hl_checkpoint_new_from_data ((const guint8 *) data, cut, "s",
                                                                G_MAXSIZE, &error);
      g_assert_null (c);
      g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT);
      g_assert_true (g_str_has_prefix (error->message, "s: "));
      g_clear_error (&error);
    }

  for (gsize off = 0; off < len; off++)
    for (int bit = 0; bit < 8; bit++)
      {
        g_autoptr (HlCheckpoint) c = NULL;

        /* in the moments one bit per float, its byte and bit rotating from float to float */
        gsize in = off - header;
        if (off >= header && off < len - SHA256_LEN
            && (in % 4 != in / 4 % 4 || (gsize) bit != in / 16 % 8))
          continue;
        data[off] ^= (char) (1 << bit);
        c = hl_checkpoint_new_from_data ((const guint8 *) data, len, "s", G_MAXSIZE, &error);
        data[off] ^= (char) (1 << bit);
        g_assert_null (c);
        g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT);
        g_clear_error (&error);
        n_checked++;
      }
  g_test_message ("%" G_GSIZE_FORMAT " single-bit flips of a %" G_GSIZE_FORMAT "-byte state "
                  "file refused", n_checked, len);

  ckpt->moments[ckpt->n_moments / 2 + 1] = -1e-30f;
  g_assert_null (hl_checkpoint_to_bytes (ckpt, &error));
  g_assert_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "second moment 1 is negative"));
}

/* Replaces @name in @d's images with its first half: a truncated PNG. */
static void
truncate_image (const Data *d, const char *name)
{
  g_autofree char *path = g_build_filename (d->images, name, NULL);
  g_autofree char *contents = NULL;
  gsize length = 0;

  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (path, contents, (gssize) (length / 2), NULL));
}

static void
remove_image (const Data *d, const char *name)
{
  g_autofree char *path = g_build_filename (d->images, name, NULL);

  g_assert_cmpint (g_unlink (path), ==, 0);
}

/* A truncated training PNG and missing validation images are reported, each with its path and the
 * decoder's error, and left out: the run trains on the others, the class table, the loss and the
 * model's description count the images used (both images of validation patient 2005 go, so 5
 * patients remain), and a stopped run resumes to the same bytes (the same images left out). */
static void
test_unreadable (Data *d, gconstpointer user_data)
{
  const char *two[] = { "--epochs", "2", NULL };
  const char *stop[] = { "--epochs", "2", "--stop-after", "1", NULL };
  const char *resume[] = { "--epochs", "2", "--resume", NULL };
  g_auto (GStrv) full = tiny_args (d, "full.safetensors", two);
  g_auto (GStrv) first = tiny_args (d, "part.safetensors", stop);
  g_auto (GStrv) rest = tiny_args (d, "part.safetensors", resume);
  g_autofree char *corrupt = g_build_filename (d->images, "img-005.png", NULL);
  g_autofree char *missing1 = g_build_filename (d->images, "img-110.png", NULL);
  g_autofree char *missing2 = g_build_filename (d->images, "img-111.png", NULL);
  g_autofree char *corrupt_line = g_strdup_printf ("skipping training image %s (row 7 of %s): "
                                                   "not a valid PNG", corrupt, d->train);
  g_autofree char *missing_line = g_strdup_printf ("skipping validation image %s (row 12 of %s): "
                                                   "cannot open", missing1, d->valid);
  g_auto (HlTestRun) r1 = { 0 };
  g_auto (HlTestRun) r2 = { 0 };
  g_auto (HlTestRun) r3 = { 0 };

  truncate_image (d, "img-005.png");
  remove_image (d, "img-110.png");
  remove_image (d, "img-111.png");

  run_train (&r1, (const char *const *) full);
  g_test_message ("stderr:\n%s", r1.err);
  g_assert_cmpint (r1.status, ==, 0);
  g_assert_nonnull (strstr (r1.err, corrupt_line));
  g_assert_nonnull (strstr (r1.err, missing_line));
  g_assert_nonnull (strstr (r1.err, missing2));
  g_assert_nonnull (strstr (r1.err, "skipped 1 of the 24 training images"));
  g_assert_nonnull (strstr (r1.err, "skipped 2 of the 12 validation images"));
  g_assert_nonnull (strstr (r1.out, "Decoded 23 training images (kept at 37x37) and 10 "
                                    "validation images"));
  /* the class table's images / patients row, training then validation */
  g_assert_true (g_regex_match_simple ("images / patients +23 / 12 +10 / 5\n", r1.out, 0, 0));
  g_assert_nonnull (strstr (r1.out, "epoch 2/2"));

  g_autofree char *path = g_build_filename (d->tmp.dir, "full.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (HlModel) model = hl_model_new_from_file (path, &error);
  g_assert_no_error (error);
  const char *training_data = hl_model_get_info (model)->training_data;
  g_test_message ("training data: %s", training_data);
  g_assert_nonnull (strstr (training_data, "on 23 images (12 patients) of "));
  g_assert_nonnull (strstr (training_data, "validated on 10 images (5 patients) of "));

  run_train (&r2, (const char *const *) first);
  g_assert_cmpint (r2.status, ==, 0);
  run_train (&r3, (const char *const *) rest);
  g_assert_cmpint (r3.status, ==, 0);
  g_assert_nonnull (strstr (r3.out, "Resuming after epoch 1"));
  g_assert_nonnull (strstr (r3.err, corrupt));
  assert_same_file (d, "full.safetensors", "part.safetensors");
}

/* A validation split none of whose images can be read stops the run before training. */
static void
test_no_readable_valid (Data *d, gconstpointer user_data)
{
  g_auto (GStrv) args = tiny_args (d, "m.safetensors", NULL);
  g_auto (HlTestRun) run = { 0 };
  g_autofree char *expected = g_strdup_printf ("hilum-cli train: %s: 0 of its 12 validation "
                                               "images could be read", d->valid);

  for (int id = 100; id < 112; id++)
    {
      g_autofree char *name = g_strdup_printf ("img-%03d.png", id);
      remove_image (d, name);
    }
  run_train (&run, (const char *const *) args);
  g_assert_cmpint (run.status, ==, 1);
  g_assert_nonnull (strstr (run.err, expected));
  g_assert_null (strstr (run.out, "epoch 1/"));
  g_assert_false (g_file_test (args[7], G_FILE_TEST_EXISTS));
}

/* The training loss of each epoch, in order, from the progress lines of @out. */
static GArray *
epoch_losses (const char *out)
{
  GArray *losses = g_array_new (FALSE, FALSE, sizeof (double));
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);

  for (char **l = lines; *l != NULL; l++)
    {
      const char *at = g_str_has_prefix (*l, "epoch ") ? strstr (*l, "  loss ") : NULL;
      if (at != NULL)
        {
          double v = g_ascii_strtod (at + 7, NULL);
          g_array_append_val (losses, v);
        }
    }
  return losses;
}

/* Training learns: over 12 epochs at learning rate 3e-2 the class-balanced loss on the training
 * images falls below 3/4 of the first epoch's (0.66 -> 0.38 here; at a learning rate of 1e-9 it
 * stays at 0.67), and the synthetic finding (a bright disc on every "Mass" image) is ranked right
 * on the validation images. */
static void
test_learns (Data *d, gconstpointer user_data)
{
  const char *longer[] = { "--epochs", "12", "--lr", "3e-2", NULL };
  g_auto (GStrv) args = tiny_args (d, "learnt.safetensors", longer);
  g_auto (HlTestRun) run = { 0 };

  run_train (&run, (const char *const *) args);
  g_assert_cmpint (run.status, ==, 0);
  g_autoptr (GArray) losses = epoch_losses (run.out);
  g_assert_cmpuint (losses->len, ==, 12);
  g_test_message ("loss of epoch 1: %.4f, of epoch 12: %.4f", g_array_index (losses, double, 0),
                  g_array_index (losses, double, 11));
  g_assert_cmpfloat (g_array_index (losses, double, 11), <,
                     0.75 * g_array_index (losses, double, 0));
  g_autoptr (HlModel) model = check_model (d, "learnt.safetensors");
  g_test_message ("validation AUROC of the synthetic finding: %.3f",
                  hl_model_get_info (model)->val_auroc[MASS]);
  g_assert_cmpfloat (hl_model_get_info (model)->val_auroc[MASS], >=, 0.9f);
}

/* One epoch on the first images of the shared NIH splits: real PNGs decode and train. */
static void
test_shared_data (void)
{
  const char *data = g_getenv ("HL_SHARED_DATA");
  g_autofree char *nih = data != NULL ? g_build_filename (data, "nih", NULL) : NULL;
  g_autofree char *train_csv = NULL;
  g_autofree char *valid_csv = NULL;
  g_autofree char *images = NULL;
  g_autofree char *train_text = NULL;
  g_autofree char *valid_text = NULL;
  g_autofree char *tmp = NULL;

  if (nih == NULL || !g_file_test (nih, G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("HL_SHARED_DATA/nih is absent: the NIH images are not on this machine");
      return;
    }
  train_csv = g_build_filename (nih, "train.csv", NULL);
  valid_csv = g_build_filename (nih, "valid.csv", NULL);
  images = g_build_filename (nih, "images", NULL);
  g_assert_true (g_file_get_contents (train_csv, &train_text, NULL, NULL));
  g_assert_true (g_file_get_contents (valid_csv, &valid_text, NULL, NULL));

  /* the header and the first 24 / 16 rows */
  tmp = hl_test_make_tmp_dir ("hilum-train-nih-XXXXXX");
  char *lines[2] = { train_text, valid_text };
  int keep[2] = { 25, 17 };
  const char *names[2] = { "train.csv", "valid.csv" };
  for (int s = 0; s < 2; s++)
    {
      char *p = lines[s];
      for (int i = 0; i < keep[s] && p != NULL; i++)
        p = strchr (p, '\n') != NULL ? strchr (p, '\n') + 1 : NULL;
      g_assert_nonnull (p);
      *p = '\0';
      g_free (hl_test_add_text (tmp, names[s], lines[s]));
    }
  g_autofree char *train_small = g_build_filename (tmp, "train.csv", NULL);
  g_autofree char *valid_small = g_build_filename (tmp, "valid.csv", NULL);
  g_autofree char *out = g_build_filename (tmp, "nih.safetensors", NULL);
  const char *args[] = { "--train", train_small, "--valid", valid_small, "--images", images,
                         "--out", out, "--arch", "tiny", "--input-size", "32", "--epochs", "1",
                         "--batch", "8", "--threads", "1", NULL };
  g_auto (HlTestRun) run = { 0 };

  run_train (&run, args);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_nonnull (strstr (run.out, "24 / "));
  g_assert_nonnull (strstr (run.out, "epoch 1/1"));
  g_assert_true (g_file_test (out, G_FILE_TEST_EXISTS));
  hl_test_remove_tree (tmp);
}

/* The regular files of @dir by name (name -> GBytes). */
static GHashTable *
snapshot_dir (const char *dir)
{
  GHashTable *files = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify) g_bytes_unref);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);

  g_assert_nonnull (d);
  for (const char *name; (name = g_dir_read_name (d)) != NULL;)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      char *text;
      gsize len;
      g_assert_true (g_file_get_contents (path, &text, &len, NULL));
      g_hash_table_insert (files, g_strdup (name), g_bytes_new_take (text, len));
    }
  return files;
}

/* Makes @dir hold exactly @snap's files. */
static void
restore_dir (const char *dir, GHashTable *snap)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  GHashTableIter it;
  gpointer name, bytes;

  for (const char *n; (n = g_dir_read_name (d)) != NULL;)
    {
      g_autofree char *path = g_build_filename (dir, n, NULL);
      g_assert_cmpint (g_unlink (path), ==, 0);
    }
  g_hash_table_iter_init (&it, snap);
  while (g_hash_table_iter_next (&it, &name, &bytes))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      gsize len;
      const char *data = g_bytes_get_data (bytes, &len);
      g_assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
    }
}

/* No writer's temporary file (".NAME.XXXXXX") is left in @dir. */
static void
assert_no_temporaries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);

  for (const char *n; (n = g_dir_read_name (d)) != NULL;)
    if (n[0] == '.' && g_strcmp0 (n, ".hilum-written") != 0)
      g_error ("%s: a temporary file %s was left", dir, n);
}

/* SQLite-style fault injection on the checkpoint writes: a run resumed after epoch 1 has its k-th
 * write operation (create, write, fsync, close, rename, folder fsync: HILUM_FAULT_WRITE) fail, for
 * every k until a run passes them all. After each failure the run exits 1, leaves no temporary
 * file, and the checkpoint it leaves resumes to the uninterrupted run's bytes. */
static void
test_checkpoint_faults (Data *d, gconstpointer user_data)
{
  const char *stop[] = { "--stop-after", "1", NULL };
  const char *second[] = { "--resume", "--stop-after", "2", NULL };
  const char *rest[] = { "--resume", NULL };
  g_auto (GStrv) full = tiny_args (d, "full.safetensors", NULL);
  g_auto (GStrv) first = tiny_args (d, "part.safetensors", stop);
  g_auto (GStrv) faulty = tiny_args (d, "part.safetensors", second);
  g_auto (GStrv) finish = tiny_args (d, "part.safetensors", rest);
  g_autofree char *ckpt = g_build_filename (d->tmp.dir, "part.safetensors.checkpoints", NULL);
  g_autofree char *part = g_build_filename (d->tmp.dir, "part.safetensors", NULL);
  g_auto (HlTestRun) run = { 0 };
  guint k;

  run_train (&run, (const char *const *) full);
  g_assert_cmpint (run.status, ==, 0);
  run_train (&run, (const char *const *) first);
  g_assert_cmpint (run.status, ==, 0);
  g_autoptr (GHashTable) after_one = snapshot_dir (ckpt);
  for (k = 1; k < 1000; k++)
    {
      g_autofree char *spec = g_strdup_printf (k % 2 ? "%u" : "%u:ENOSPC", k);
      restore_dir (ckpt, after_one);
      g_unlink (part);
      g_setenv ("HILUM_FAULT_WRITE", spec, TRUE);
      run_train (&run, (const char *const *) faulty);
      g_unsetenv ("HILUM_FAULT_WRITE");
      if (strstr (run.err, "HILUM_FAULT_WRITE: fault point ") == NULL)
        {
          g_assert_cmpint (run.status, ==, 0);
          break;
        }
      gboolean folder_sync = strstr (run.err, "(flush the folder") != NULL;
      g_assert_cmpint (run.status, ==, folder_sync ? 0 : 1);
      assert_no_temporaries (ckpt);
      assert_no_temporaries (d->tmp.dir);
      run_train (&run, (const char *const *) finish);
      if (run.status != 0)
        g_error ("fault point %u: the checkpoint left behind does not resume: %s", k, run.err);
      assert_same_file (d, "full.safetensors", "part.safetensors");
    }
  g_test_message ("%u fault points of epoch 2's checkpoint and model writes", k - 1);
  g_assert_cmpuint (k - 1, >=, 3 * 6);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/train-cli/usage", Data, NULL, data_set_up, test_usage, data_tear_down);
  g_test_add ("/train-cli/leakage", Data, NULL, data_set_up, test_leakage, data_tear_down);
  g_test_add ("/train-cli/deterministic", Data, NULL, data_set_up, test_deterministic,
              data_tear_down);
  g_test_add ("/train-cli/keep-last", Data, NULL, data_set_up, test_keep_last, data_tear_down);
  g_test_add ("/train-cli/init", Data, NULL, data_set_up, test_init, data_tear_down);
  g_test_add ("/train-cli/stop-resume", Data, NULL, data_set_up, test_stop_resume,
              data_tear_down);
  g_test_add ("/train-cli/kill-resume", Data, NULL, data_set_up, test_kill_resume,
              data_tear_down);
  g_test_add ("/train-cli/checkpoint/damaged", Data, NULL, data_set_up, test_checkpoint_damaged,
              data_tear_down);
  g_test_add ("/train-cli/checkpoint/best-damaged", Data, NULL, data_set_up,
              test_checkpoint_best_damaged, data_tear_down);
  g_test_add ("/train-cli/checkpoint/reader", Data, NULL, data_set_up, test_checkpoint_reader,
              data_tear_down);
  g_test_add ("/train-cli/checkpoint/faults", Data, NULL, data_set_up, test_checkpoint_faults,
              data_tear_down);
  g_test_add ("/train-cli/learns", Data, NULL, data_set_up, test_learns, data_tear_down);
  g_test_add ("/train-cli/unreadable", Data, NULL, data_set_up, test_unreadable, data_tear_down);
  g_test_add ("/train-cli/no-readable-valid", Data, NULL, data_set_up, test_no_readable_valid,
              data_tear_down);
  g_test_add_func ("/train-cli/shared-data", test_shared_data);
  return g_test_run ();
}
