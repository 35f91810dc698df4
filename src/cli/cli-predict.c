/* cli-predict.c — `hilum-cli predict IMAGE_OR_FOLDER... [--model FILE] [--json] [--csv FILE]
 * [--gradcam-dir DIR [--gradcam-layer NAME]] [--threads N] [--batch N]`: scores images with the
 * model.
 *
 * Images are decoded by content (hl_image_load), preprocessed as the model file says and run in
 * batches. The scores go to stdout as CSV in the layout of the reference predictions
 * (`Image` = file name, or as much of the path as tells two files of one name apart, then one
 * column per label in the model's order), or as JSON with the model's name and version; --csv
 * writes the CSV to a file instead (atomically, never over an input or a file Hilum did not
 * write, hl-file-write.h). --gradcam-dir
 * writes one 8-bit gray PNG per image and label: the Grad-CAM map upsampled to the image and
 * divided by its maximum. By default the map is the exact one-pass Grad-CAM of the last feature
 * map (hl_forward_gradcam, from the pass that gave the scores); --gradcam-layer NAME targets an
 * earlier layer instead (`denseblock3` gives DenseNet-121 a 14x14 map instead of 7x7) through the
 * backward pass (hl_model_gradcam_layer), one extra forward and backward per image. A folder
 * contributes its regular files (not recursively, at most HL_STUDY_MAX_ENTRIES entries), in name
 * order; files in it that are not images by their content, and entries that are not regular
 * files, are reported as skipped. Only regular files are opened, never blocking (a FIFO, device,
 * socket or folder given as an image is refused naming it). An image that fails to decode (or
 * whose name the unquoted CSV layout cannot hold), or a file given by name that is not an image,
 * is reported on stderr as failed and the others go on. Exit status (cli-study.h): 0 every input
 * scored, 3 some failed and the others scored, 1 nothing scored, 2 usage error.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-commands.h"
#include "cli-study.h"
#include "hl-engine.h"
#include "hl-file-write.h"
#include "hl-image.h"
#include "hl-study.h"
#include "hl-predictions.h"
#include "hl-train.h"

#define DEFAULT_BATCH 4
#define MAX_BATCH 256

typedef struct
{
  char *path;
  gboolean in_folder; /* listed from a folder: a file that is no image is skipped, not a failure */
} PredictInput;

typedef struct
{
  char *name;   /* the CSV's Image column: the base name, or more of the path when base names
                   collide (hl_predictions_unique_names) */
  char *path;
  float *probs; /* (n_labels) */
} PredictRow;

typedef struct
{
  HlModel *model;
  const HlModelInfo *info;
  const char *gradcam_dir;
  int gradcam_layer; /* hl_model_gradcam_layer's index; the last one: the one-pass Grad-CAM */
  gboolean gradcam_last;
  GArray *rows; /* PredictRow, in input order */
  int n_failed;
  GHashTable *names;  /* input path -> its row name (hl_predictions_unique_names) */
  GHashTable *stems;  /* Grad-CAM file stems taken so far */
  GPtrArray *protect; /* the input paths, NULL-terminated: never written */
  GHashTable *written; /* row names scored so far (lent from names) */
} PredictJob;

static void
predict_input_clear (gpointer data)
{
  PredictInput *in = data;
  g_free (in->path);
}

static void
predict_row_clear (gpointer data)
{
  PredictRow *row = data;
  g_free (row->name);
  g_free (row->path);
  g_free (row->probs);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Appends @arg, or the regular files directly inside it when it is a folder (sorted by name;
 * other entries but folders said on stderr as skipped). A folder of more than
 * HL_STUDY_MAX_ENTRIES entries contributes its first ones and returns FALSE with @error saying
 * the rest was not read. */
static gboolean
collect_inputs (const char *arg, GArray *inputs, GError **error)
{
  if (!g_file_test (arg, G_FILE_TEST_IS_DIR))
    {
      PredictInput in = { g_strdup (arg), FALSE };
      g_array_append_val (inputs, in);
      return TRUE;
    }
  g_autoptr (GDir) dir = g_dir_open (arg, 0, error);
  if (dir == NULL)
    return FALSE;
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  guint n_entries = 0;
  gboolean stopped = FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      if ((stopped = n_entries++ >= HL_STUDY_MAX_ENTRIES))
        break;
      char *path = g_build_filename (arg, name, NULL);
      GStatBuf st;
      int got = g_stat (path, &st);
      if (got == 0 && S_ISREG (st.st_mode))
        {
          g_ptr_array_add (paths, path);
          continue;
        }
      if (got != 0 || !S_ISDIR (st.st_mode))
        fprintf (stderr, "hilum-cli predict: skipped: %s: not a regular file\n", path);
      g_free (path);
    }
  if (stopped)
    g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO,
                 "%s: stopped listing after %u entries (the cap): the rest of the folder was not "
                 "read",
                 arg, (guint) HL_STUDY_MAX_ENTRIES);
  g_ptr_array_sort (paths, compare_strings);
  for (guint i = 0; i < paths->len; i++)
    {
      PredictInput in = { g_strdup (g_ptr_array_index (paths, i)), TRUE };
      g_array_append_val (inputs, in);
    }
  return !stopped;
}

/* --- Grad-CAM PNGs ------------------------------------------------------------------------- */

static void
png_append (png_structp png, png_bytep data, png_size_t length)
{
  g_byte_array_append (png_get_io_ptr (png), data, (guint) length);
}

static void
png_flush_nothing (png_structp png)
{
}

static void
png_error_to_gerror (png_structp png, png_const_charp message)
{
  GError **error = png_get_error_ptr (png);
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "libpng: %s", message);
  png_longjmp (png, 1);
}

static void
png_warning_ignore (png_structp png, png_const_charp message)
{
}

/* Encodes @pixels (height, width) as an 8-bit gray PNG, signed with tEXt "Software" (the
 * atomic writer's signature, hl-file-write.h), into @out; FALSE with @error on failure. */
static gboolean
encode_gray8 (const guint8 *pixels, int width, int height, GByteArray *out, GError **error)
{
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, error, png_error_to_gerror,
                                             png_warning_ignore);
  png_infop info = png != NULL ? png_create_info_struct (png) : NULL;
  if (info == NULL)
    {
      png_destroy_write_struct (&png, NULL);
      g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_NOMEM, "libpng: out of memory");
      return FALSE;
    }
  if (setjmp (png_jmpbuf (png)))
    {
      png_destroy_write_struct (&png, &info);
      return FALSE;
    }
  png_set_write_fn (png, out, png_append, png_flush_nothing);
  png_set_IHDR (png, info, (png_uint_32) width, (png_uint_32) height, 8, PNG_COLOR_TYPE_GRAY,
                PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_text text = { PNG_TEXT_COMPRESSION_NONE, (char *) "Software", (char *) HL_FILE_SIGNATURE,
                    strlen (HL_FILE_SIGNATURE) };
  png_set_text (png, info, &text, 1);
  png_write_info (png, info);
  for (int y = 0; y < height; y++)
    png_write_row (png, (png_const_bytep) (pixels + (gsize) y * width));
  png_write_end (png, info);
  png_destroy_write_struct (&png, &info);
  return TRUE;
}

/* @name without its extension and with folders flattened to '_', for the PNG names; "-2", "-3"...
 * added until it is not in job->stems, where it is then added. */
static char *
file_stem (const PredictJob *job, const char *name)
{
  g_autofree char *flat = g_strdelimit (g_strdup (name), "/\\", '_');
  char *dot = strrchr (flat, '.');
  if (dot != NULL && dot != flat)
    *dot = '\0';
  char *stem = g_strdup (flat);
  for (int k = 2; g_hash_table_contains (job->stems, stem); k++)
    {
      g_free (stem);
      stem = g_strdup_printf ("%s-%d", flat, k);
    }
  g_hash_table_add (job->stems, g_strdup (stem));
  return stem;
}

/* The names hl_model_gradcam_layer_find() accepts, comma-separated; free with g_free. */
static char *
gradcam_layer_names (HlModel *model)
{
  GString *names = g_string_new (NULL);
  for (int layer = 0; layer < hl_model_gradcam_n_layers (model); layer++)
    {
      g_autofree char *id = hl_model_gradcam_layer_id (model, layer);
      g_string_append_printf (names, "%s%s", layer > 0 ? ", " : "", id);
    }
  return g_string_free (names, FALSE);
}

/* Grad-CAM of @image at job->gradcam_layer through the backward pass: (n_labels, *h, *w), free
 * with g_free; NULL with @error set. */
static float *
layer_gradcam (const PredictJob *job, const HlImage *image, int *h, int *w, GError **error)
{
  /* (input_channels, input_size, input_size) */
  g_autofree float *input = g_new (float, hl_model_input_size (job->model));
  hl_model_preprocess (job->model, image->pixels, image->height, image->width, input);
  return hl_model_gradcam_layer (job->model, input, job->gradcam_layer, h, w, error);
}

/* Writes DIR/<stem>_<Label>.png for every label of @maps (n_labels, map_h, map_w), the Grad-CAM
 * of @image, each through the atomic writer (never over an input or a file Hilum did not
 * write). */
static gboolean
write_gradcams (const PredictJob *job, const float *maps, int map_h, int map_w,
                const HlImage *image, const char *name, GError **error)
{
  int n_labels = job->info->n_labels;
  gsize map_n = (gsize) map_h * map_w;
  gsize n_px = (gsize) image->width * image->height;
  g_autofree float *up = g_new (float, n_px);      /* (height, width) */
  g_autofree guint8 *gray = g_new (guint8, n_px);  /* (height, width) */
  g_autofree char *stem = file_stem (job, name);

  for (int l = 0; l < n_labels; l++)
    {
      hl_gradcam_upsample (maps + l * map_n, map_h, map_w, up, image->height, image->width);
      float max = 0.0f;
      for (gsize i = 0; i < n_px; i++)
        max = MAX (max, up[i]);
      for (gsize i = 0; i < n_px; i++)
        gray[i] = max > 0.0f ? (guint8) lrintf (CLAMP (up[i] / max, 0.0f, 1.0f) * 255.0f) : 0;

      g_autoptr (GByteArray) png = g_byte_array_new ();
      g_autoptr (GError) local = NULL;
      g_autofree char *label = g_strdelimit (g_strdup (job->info->labels[l]), "/\\", '_');
      g_autofree char *file = g_strdup_printf ("%s_%s.png", stem, label);
      g_autofree char *path = g_build_filename (job->gradcam_dir, file, NULL);
      if (!encode_gray8 (gray, image->width, image->height, png, &local)
          || !hl_file_write_contents (path, png->data, png->len,
                                      (const char *const *) job->protect->pdata, &local))
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", path, local->message);
          return FALSE;
        }
    }
  return TRUE;
}

/* --- scoring ------------------------------------------------------------------------------- */

/* Decodes and scores @n inputs as one batch (hl_model_analyze); appends a row per scored image
 * to job->rows and reports every failure on stderr. */
static void
predict_batch (PredictJob *job, const PredictInput *inputs, int n)
{
  g_autofree HlGrayPlane *planes = g_new (HlGrayPlane, n);
  g_autoptr (GPtrArray) images = g_ptr_array_new_with_free_func ((GDestroyNotify) hl_image_free);
  g_autoptr (GPtrArray) batch_inputs = g_ptr_array_new ();

  for (int i = 0; i < n; i++)
    {
      g_autoptr (GError) error = NULL;
      const char *name = g_hash_table_lookup (job->names, inputs[i].path);
      HlImageFormat format;
      /* not an image by its content (skipped in a folder) is kept apart from an image that fails */
      if (!hl_image_sniff (inputs[i].path, &format, &error))
        {
          gboolean skip = inputs[i].in_folder
                          && g_error_matches (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT);
          fprintf (stderr, "hilum-cli predict: %s%s\n", skip ? "skipped: " : "failed: ",
                   error->message);
          job->n_failed += !skip;
          continue;
        }
      if (!hl_predictions_field_is_safe (name))
        {
          fprintf (stderr, "hilum-cli predict: %s: a file name with a comma, quote or line break "
                           "cannot be written to the predictions CSV\n", inputs[i].path);
          job->n_failed++;
          continue;
        }
      HlImage *image = hl_image_load (inputs[i].path, &error);
      if (image == NULL)
        {
          fprintf (stderr, "hilum-cli predict: failed: %s\n", error->message);
          job->n_failed++;
          continue;
        }
      planes[images->len] = (HlGrayPlane){ image->pixels, image->width, image->height };
      g_ptr_array_add (images, image);
      g_ptr_array_add (batch_inputs, (gpointer) &inputs[i]);
    }
  if (images->len == 0)
    return;

  g_autoptr (GError) error = NULL;
  g_autoptr (HlAnalysis) analysis
      = hl_model_analyze (job->model, planes, (int) images->len,
                          job->gradcam_dir != NULL && job->gradcam_last, NULL, NULL, NULL, &error);
  if (analysis == NULL)
    {
      for (guint i = 0; i < images->len; i++)
        fprintf (stderr, "hilum-cli predict: %s: %s\n",
                 ((const PredictInput *) g_ptr_array_index (batch_inputs, i))->path,
                 error->message);
      job->n_failed += (int) images->len;
      return;
    }
  for (guint i = 0; i < images->len; i++)
    {
      const PredictInput *in = g_ptr_array_index (batch_inputs, i);
      const char *name = g_hash_table_lookup (job->names, in->path);
      if (!g_hash_table_add (job->written, (gpointer) name))
        {
          fprintf (stderr, "hilum-cli predict: %s: the same file as an earlier input: one row\n",
                   in->path);
          continue;
        }
      PredictRow row = { g_strdup (name), g_strdup (in->path),
                         g_memdup2 (analysis->probs + (gsize) i * analysis->n_labels,
                                    (gsize) analysis->n_labels * sizeof (float)) };
      g_autoptr (GError) local = NULL;
      if (job->gradcam_dir != NULL)
        {
          const HlImage *image = g_ptr_array_index (images, i);
          int map_h = analysis->map_h, map_w = analysis->map_w;
          g_autofree float *layer_maps = NULL; /* (n_labels, map_h, map_w) */
          const float *maps = analysis->maps;
          if (maps != NULL)
            maps += (gsize) i * analysis->n_labels * map_h * map_w;
          else
            maps = layer_maps = layer_gradcam (job, image, &map_h, &map_w, &local);
          if (maps == NULL
              || !write_gradcams (job, maps, map_h, map_w, image, row.name, &local))
            {
              fprintf (stderr, "hilum-cli predict: %s: %s\n", in->path, local->message);
              job->n_failed++;
            }
        }
      g_array_append_val (job->rows, row);
    }
}

/* --- output -------------------------------------------------------------------------------- */

/* Names every input for the rows and Grad-CAM files (hl_predictions_unique_names) and lists the
 * inputs as files never to write. */
static void
name_inputs (PredictJob *job, GArray *inputs)
{
  job->protect = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < inputs->len; i++)
    g_ptr_array_add (job->protect, g_strdup (g_array_index (inputs, PredictInput, i).path));
  g_ptr_array_add (job->protect, NULL);
  g_auto (GStrv) names
      = hl_predictions_unique_names ((const char *const *) job->protect->pdata, inputs->len);
  job->names = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  for (guint i = 0; i < inputs->len; i++)
    g_hash_table_replace (job->names, g_ptr_array_index (job->protect, i),
                          g_steal_pointer (&names[i]));
  job->stems = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  job->written = g_hash_table_new (g_str_hash, g_str_equal);
}

static void
job_clear_names (PredictJob *job)
{
  g_hash_table_unref (job->written);
  g_hash_table_unref (job->stems);
  g_hash_table_unref (job->names);
  g_ptr_array_unref (job->protect);
}

/* The scores as predictions CSV text (hl-predictions.h). */
static GString *
build_csv (const PredictJob *job, GError **error)
{
  const HlModelInfo *info = job->info;
  guint n = job->rows->len;
  g_autofree const char **names = g_new (const char *, MAX (n, 1));
  g_autofree float *scores = g_new (float, (gsize) MAX (n, 1) * info->n_labels);

  for (guint i = 0; i < n; i++)
    {
      const PredictRow *row = &g_array_index (job->rows, PredictRow, i);
      names[i] = row->name;
      memcpy (scores + (gsize) i * info->n_labels, row->probs, info->n_labels * sizeof (float));
    }
  return hl_predictions_format (names, n, (const char *const *) info->labels,
                                (gsize) info->n_labels, scores, error);
}

/* The scores JSON: the model (hl_predictions_json_begin), then every image's scores. */
static char *
build_json (const PredictJob *job)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  hl_predictions_json_begin (b, job->info);
  json_builder_set_member_name (b, "images");
  json_builder_begin_array (b);
  for (guint i = 0; i < job->rows->len; i++)
    {
      const PredictRow *row = &g_array_index (job->rows, PredictRow, i);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "image");
      json_builder_add_string_value (b, row->name);
      json_builder_set_member_name (b, "path");
      json_builder_add_string_value (b, row->path);
      hl_predictions_json_add_scores (b, job->info, row->probs);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  return hl_predictions_json_end (b, NULL);
}

int
hl_cli_predict (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *csv_path = NULL, *gradcam_dir = NULL;
  g_autofree char *gradcam_layer = NULL;
  gboolean json = FALSE;
  int threads = 0, batch = DEFAULT_BATCH;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
      "Model file (safetensors; default: HILUM_MODEL, then the default model)", "FILE" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON (model, scores) instead of CSV", NULL },
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &csv_path, "Write the CSV to FILE instead of stdout",
      "FILE" },
    { "gradcam-dir", 0, 0, G_OPTION_ARG_FILENAME, &gradcam_dir,
      "Write a Grad-CAM PNG per image and label (<image>_<Label>.png) into DIR", "DIR" },
    { "gradcam-layer", 0, 0, G_OPTION_ARG_STRING, &gradcam_layer,
      "Grad-CAM target layer: features (default: the last feature map, one pass), denseblockN, "
      "transitionN or pool0 (through the backward pass)",
      "NAME" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Engine threads (default: OpenBLAS' own)",
      "N" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "Images per forward pass (default 4)", "N" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("IMAGE_OR_FOLDER...");
  g_option_context_set_summary (ctx, "Scores chest X-rays (PNG, DICOM) with the model: one CSV "
                                     "row per image, or JSON.\nNot for diagnostic use.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "hilum-cli predict: %s\n", error->message);
      return 2;
    }
  const char *usage_error = NULL;
  if (argc < 2)
    usage_error = "give at least one IMAGE_OR_FOLDER";
  else if (threads < 0)
    usage_error = "--threads must be 0 (the default) or more";
  else if (batch < 1 || batch > MAX_BATCH)
    usage_error = "--batch must be in 1..256";
  else if (gradcam_layer != NULL && gradcam_dir == NULL)
    usage_error = "--gradcam-layer needs --gradcam-dir";
  if (usage_error != NULL)
    {
      fprintf (stderr, "hilum-cli predict: %s (see --help)\n", usage_error);
      return 2;
    }
  if (threads > 0)
    hl_engine_set_threads (threads);

  g_autoptr (HlModel) model = hl_cli_load_model ("predict", &model_path);
  if (model == NULL)
    return 1;
  const HlModelInfo *info = hl_model_get_info (model);
  int layer = hl_model_gradcam_n_layers (model) - 1;
  if (gradcam_layer != NULL && (layer = hl_model_gradcam_layer_find (model, gradcam_layer)) < 0)
    {
      g_autofree char *names = gradcam_layer_names (model);
      fprintf (stderr, "hilum-cli predict: --gradcam-layer: %s has no layer `%s` (it has: %s)\n",
               model_path, gradcam_layer, names);
      return 2;
    }
  if (gradcam_dir != NULL && g_mkdir_with_parents (gradcam_dir, 0755) != 0)
    {
      fprintf (stderr, "hilum-cli predict: %s: cannot create the folder: %s\n", gradcam_dir,
               g_strerror (errno));
      return 1;
    }

  g_autoptr (GArray) inputs = g_array_new (FALSE, TRUE, sizeof (PredictInput));
  g_array_set_clear_func (inputs, predict_input_clear);
  int n_failed = 0;
  gboolean output_failed = FALSE;
  for (int i = 1; i < argc; i++)
    {
      g_autoptr (GError) local = NULL;
      if (!collect_inputs (argv[i], inputs, &local))
        {
          fprintf (stderr, "hilum-cli predict: %s\n", local->message);
          n_failed++;
        }
    }

  PredictJob job = { model,
                     info,
                     gradcam_dir,
                     layer,
                     layer == hl_model_gradcam_n_layers (model) - 1,
                     g_array_new (FALSE, TRUE, sizeof (PredictRow)),
                     0 };
  g_array_set_clear_func (job.rows, predict_row_clear);
  name_inputs (&job, inputs);
  for (guint start = 0; start < inputs->len; start += (guint) batch)
    predict_batch (&job, &g_array_index (inputs, PredictInput, start),
                   (int) MIN ((guint) batch, inputs->len - start));
  n_failed += job.n_failed;

  /* The model's labels and every row's name were checked: formatting cannot fail. */
  g_autoptr (GString) csv = build_csv (&job, NULL);
  if (csv_path != NULL)
    {
      if (!hl_file_write_contents (csv_path, csv->str, csv->len,
                                   (const char *const *) job.protect->pdata, &error))
        {
          fprintf (stderr, "hilum-cli predict: %s\n", error->message);
          output_failed = TRUE;
        }
    }
  if (json)
    {
      g_autofree char *text = build_json (&job);
      printf ("%s\n", text);
    }
  else if (csv_path == NULL)
    fputs (csv->str, stdout);
  guint n_scored = job.rows->len;
  g_array_unref (job.rows);
  job_clear_names (&job);
  if (n_scored == 0)
    fprintf (stderr, "hilum-cli predict: no image scored (%d input%s failed)\n", n_failed,
             n_failed == 1 ? "" : "s");
  return output_failed ? HL_CLI_EXIT_FAILED : hl_cli_inputs_status (n_scored, (guint) n_failed);
}
