/* cli-report.c — `hilum-cli report IMAGE_OR_FOLDER --out DIR [--model FILE] [--label L]...`:
 * one annotated report page (PNG, optionally PDF) per image, plus scores.csv (Image, then one
 * column per model label, the reference-predictions layout) and scores.json (model, every
 * image's scores, operating-point calls, report file or error) for all images. Every file goes
 * through the atomic writer (hl-file-write.h): an existing file of those names that Hilum did not
 * write is never replaced (scores.* are checked before any work), nor is an input image. */
#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli-commands.h"
#include "cli-study.h"
#include "hl-file-write.h"
#include "hl-predictions.h"
#include "hl-render.h"
#include "hl-study.h"

/* Largest side of the Grad-CAM maps handed to the report (upsampled from the feature map). */
#define MAP_MAX_SIDE 512
/* Heatmaps shown by default: the findings at or above their operating point, at most this many. */
#define DEFAULT_MAX_MAPS (1 + HL_REPORT_MAX_THUMBNAILS)
/* Report pages are NAME.report.png (and .pdf); a folder scan skips such files. */
#define REPORT_SUFFIX ".report"

typedef struct
{
  char *path; /* file to decode */
  char *name; /* as listed in the sidecars: path relative to the folder, or the file name */
  const HlStudyImage *entry; /* the study's entry for folder inputs, else NULL */
} ReportInput;

typedef struct
{
  HlModel *model;
  const HlModelInfo *info;
  char **labels; /* --label values, NULL-terminated, or NULL for the default selection */
  gboolean pdf;
  double scale;
  HlOverlayStyle overlay;
  char *out_dir;
  char *created;
} ReportJob;

static void
report_input_clear (gpointer data)
{
  ReportInput *in = data;
  g_free (in->path);
  g_free (in->name);
}

/* A file name for @name's report, unique within @used: folders flattened with '_', extension
 * dropped, ".report" added. */
static char *
report_stem (const char *name, GHashTable *used)
{
  g_autofree char *flat = g_strdup (name);
  g_strdelimit (flat, "/\\", '_');
  char *dot = strrchr (flat, '.');
  if (dot != NULL && dot != flat)
    *dot = '\0';
  char *stem = g_strconcat (flat, REPORT_SUFFIX, NULL);
  for (int k = 2; g_hash_table_contains (used, stem); k++)
    {
      g_free (stem);
      stem = g_strdup_printf ("%s-%d" REPORT_SUFFIX, flat, k);
    }
  g_hash_table_add (used, g_strdup (stem));
  return stem;
}

/* Which labels get a heatmap on the page: those named by --label, or by default the findings at or
 * above their operating point (highest first, at most DEFAULT_MAX_MAPS), or the top one when none
 * is. Fills @show (n_labels). */
static void
select_maps (const ReportJob *job, const float *probs, gboolean *show)
{
  int n = job->info->n_labels;
  if (job->labels != NULL)
    {
      for (int l = 0; l < n; l++)
        show[l] = g_strv_contains ((const char *const *)job->labels, job->info->labels[l]);
      return;
    }
  int picked = 0;
  for (int l = 0; l < n; l++)
    show[l] = FALSE;
  while (picked < DEFAULT_MAX_MAPS)
    {
      int best = -1;
      for (int l = 0; l < n; l++)
        if (!show[l] && probs[l] >= job->info->thresholds[l]
            && (best < 0 || probs[l] > probs[best]))
          best = l;
      if (best < 0)
        break;
      show[best] = TRUE;
      picked++;
    }
  if (picked == 0)
    {
      int best = 0;
      for (int l = 1; l < n; l++)
        if (probs[l] > probs[best])
          best = l;
      show[best] = TRUE;
    }
}

/* Scores, decodes and writes the report(s) of one image. Adds the image's JSON object to
 * @builder (inside the "images" array) whatever happens; returns FALSE with @error on failure. */
static gboolean
report_one (const ReportJob *job, const ReportInput *in, const char *stem, float *probs_out,
            JsonBuilder *builder, GError **error)
{
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "image");
  json_builder_add_string_value (builder, in->name);
  json_builder_set_member_name (builder, "path");
  json_builder_add_string_value (builder, in->path);

  g_autoptr (GError) local = NULL;
  g_autoptr (HlImage) image = NULL;
  if (!hl_predictions_field_is_safe (in->name))
    g_set_error (&local, HL_STUDY_ERROR, HL_STUDY_ERROR_CSV,
                 "%s: a name with a comma, quote or line break cannot be written to scores.csv",
                 in->path);
  else
    image = in->entry != NULL ? hl_study_image_load (in->entry, &local)
                              : hl_image_load (in->path, &local);
  g_autoptr (HlAnalysis) inf = NULL;
  if (image != NULL)
    {
      HlGrayPlane plane = { image->pixels, image->width, image->height };
      inf = hl_model_analyze (job->model, &plane, 1, TRUE, NULL, NULL, NULL, &local);
    }
  if (inf == NULL)
    {
      json_builder_set_member_name (builder, "error");
      json_builder_add_string_value (builder, local->message);
      json_builder_end_object (builder);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }

  const HlModelInfo *info = job->info;
  int n = info->n_labels;
  memcpy (probs_out, inf->probs, (gsize)n * sizeof (float));

  /* Upsample the maps to at most MAP_MAX_SIDE, aspect kept, for the page. */
  double s = MIN (1.0, (double)MAP_MAX_SIDE / MAX (image->width, image->height));
  int mw = MAX (1, (int)lround (image->width * s)), mh = MAX (1, (int)lround (image->height * s));
  g_autofree gboolean *show = g_new (gboolean, n);
  select_maps (job, inf->probs, show);
  g_autofree float *maps = g_new0 (float, (gsize)n *mw *mh);
  g_autofree HlReportFinding *findings = g_new0 (HlReportFinding, n);
  for (int l = 0; l < n; l++)
    {
      float *map = NULL;
      if (show[l])
        {
          map = maps + (gsize)l * mw * mh;
          hl_gradcam_upsample (inf->maps + (gsize)l * inf->map_h * inf->map_w, inf->map_h,
                               inf->map_w, map, mh, mw);
        }
      findings[l] = (HlReportFinding){
        info->labels[l], inf->probs[l], info->thresholds[l], map, mw, mh, show[l],
        !isnan (info->val_auroc[l]) && info->val_auroc[l] < HL_REPORT_WEAK_AUROC,
      };
    }

  HlReport report;
  hl_report_init (&report);
  report.pixels = image->pixels;
  report.width = image->width;
  report.height = image->height;
  report.source_path = in->path;
  report.patient_id = image->patient_id;
  report.study_date = image->study_date;
  report.view_position = image->view_position;
  report.model_name = info->name;
  report.model_version = info->version;
  report.intended_use = info->intended_use;
  report.created = job->created;
  report.n_findings = (gsize)n;
  report.findings = findings;
  report.overlay = job->overlay;
  report.heatmap_layer = "last feature map"; /* the CLI reports at the last map, as the app by default */

  g_autofree char *png_name = g_strdup_printf ("%s.png", stem);
  g_autofree char *png_path = g_build_filename (job->out_dir, png_name, NULL);
  gboolean ok = hl_report_write_png (&report, png_path, job->scale, &local);
  g_autofree char *pdf_name = g_strdup_printf ("%s.pdf", stem);
  if (ok && job->pdf)
    {
      g_autofree char *pdf_path = g_build_filename (job->out_dir, pdf_name, NULL);
      ok = hl_report_write_pdf (&report, pdf_path, &local);
    }

  json_builder_set_member_name (builder, "patient_id");
  if (image->patient_id != NULL)
    json_builder_add_string_value (builder, image->patient_id);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "width");
  json_builder_add_int_value (builder, image->width);
  json_builder_set_member_name (builder, "height");
  json_builder_add_int_value (builder, image->height);
  hl_predictions_json_add_scores (builder, info, inf->probs);
  json_builder_set_member_name (builder, "at_or_above_operating_point");
  json_builder_begin_array (builder);
  for (int l = 0; l < n; l++)
    if (inf->probs[l] >= info->thresholds[l])
      json_builder_add_string_value (builder, info->labels[l]);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "heatmaps");
  json_builder_begin_array (builder);
  for (int l = 0; l < n; l++)
    if (show[l])
      json_builder_add_string_value (builder, info->labels[l]);
  json_builder_end_array (builder);
  if (ok)
    {
      json_builder_set_member_name (builder, "report");
      json_builder_add_string_value (builder, png_name);
      if (job->pdf)
        {
          json_builder_set_member_name (builder, "report_pdf");
          json_builder_add_string_value (builder, pdf_name);
        }
    }
  else
    {
      json_builder_set_member_name (builder, "error");
      json_builder_add_string_value (builder, local->message);
      g_propagate_error (error, g_steal_pointer (&local));
    }
  json_builder_end_object (builder);
  return ok;
}

/* The images to report on: a single file, or every image a study scan of the folder finds except
 * files named *.report.png, the pages of an earlier run (--out inside the folder), which are
 * counted on stderr. */
static GArray *
collect_inputs (const char *arg, HlStudy **study_out, GError **error)
{
  GArray *inputs = g_array_new (FALSE, TRUE, sizeof (ReportInput));
  g_array_set_clear_func (inputs, report_input_clear);
  if (!g_file_test (arg, G_FILE_TEST_IS_DIR))
    {
      ReportInput in = { g_strdup (arg), g_path_get_basename (arg), NULL };
      g_array_append_val (inputs, in);
      return inputs;
    }
  HlStudy *study = hl_study_open (arg, HL_STUDY_DEFAULT_MAX_DEPTH, HL_STUDY_OPEN_NONE, NULL, error);
  if (study == NULL)
    {
      g_array_unref (inputs);
      return NULL;
    }
  guint n_pages = 0;
  for (guint i = 0; i < study->images->len; i++)
    {
      const HlStudyImage *e = g_ptr_array_index (study->images, i);
      if (g_str_has_suffix (e->relative_path, REPORT_SUFFIX ".png"))
        {
          n_pages++;
          continue;
        }
      ReportInput in = { g_strdup (e->path), g_strdup (e->relative_path), e };
      g_array_append_val (inputs, in);
    }
  if (n_pages > 0)
    fprintf (stderr, "hilum-cli report: %s: skipping %u file%s named *" REPORT_SUFFIX ".png "
             "(report pages)\n", arg, n_pages, n_pages == 1 ? "" : "s");
  for (guint i = 0; i < study->warnings->len; i++)
    fprintf (stderr, "hilum-cli report: %s\n",
             (const char *)g_ptr_array_index (study->warnings, i));
  *study_out = study;
  return inputs;
}

/* Writes scores.csv (the images in @done, rows of @probs (inputs->len, n_labels)) and
 * scores.json (the document @builder holds, ended here) into the output folder. */
static gboolean
write_sidecars (const ReportJob *job, GArray *inputs, const gboolean *done, const float *probs,
                JsonBuilder *builder, GError **error)
{
  const HlModelInfo *info = job->info;
  gsize n_labels = (gsize) info->n_labels, n_done = 0;
  g_autofree const char **names = g_new (const char *, MAX (inputs->len, 1));
  g_autofree float *scores = g_new (float, MAX (inputs->len, 1) * n_labels);
  for (guint i = 0; i < inputs->len; i++)
    if (done[i])
      {
        names[n_done] = g_array_index (inputs, ReportInput, i).name;
        memcpy (scores + n_done * n_labels, probs + i * n_labels, n_labels * sizeof (float));
        n_done++;
      }
  g_autofree char *csv_path = g_build_filename (job->out_dir, "scores.csv", NULL);
  if (!hl_predictions_write_labels (csv_path, names, n_done, (const char *const *) info->labels,
                                    n_labels, scores, error))
    return FALSE;

  gsize len = 0;
  g_autofree char *json = hl_predictions_json_end (builder, &len);
  g_autofree char *json_path = g_build_filename (job->out_dir, "scores.json", NULL);
  return hl_file_write_contents (json_path, json, len, NULL, error);
}

/* Refuses, before any work, an output folder whose scores.csv or scores.json exists and was not
 * written by Hilum (the writer would refuse it at the end). */
static gboolean
check_sidecars (const char *out_dir, GError **error)
{
  const char *names[] = { "scores.csv", "scores.json" };
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (out_dir, names[i], NULL);
      if (g_file_test (path, G_FILE_TEST_EXISTS) && !hl_file_is_ours (path))
        {
          g_set_error (error, HL_FILE_WRITE_ERROR, HL_FILE_WRITE_ERROR_NOT_OURS,
                       "%s: exists and was not written by Hilum: refusing to replace it; move it "
                       "away or choose another --out",
                       path);
          return FALSE;
        }
    }
  return TRUE;
}

int
hl_cli_report (int argc, char **argv)
{
  g_autofree char *out_dir = NULL, *model_path = NULL, *colormap = NULL;
  g_auto (GStrv) labels = NULL;
  gboolean pdf = FALSE;
  double scale = 2.0, opacity = -1, threshold = -1;
  int threads = 0;
  GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir, "Folder for the reports (created)", "DIR" },
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
      "Model file (safetensors; default: HILUM_MODEL, then the default model)", "FILE" },
    { "label", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &labels,
      "Show this finding's heatmap (repeat; default: the findings at or above their operating "
      "point, else the top one)",
      "L" },
    { "pdf", 0, 0, G_OPTION_ARG_NONE, &pdf, "Also write each report as PDF", NULL },
    { "scale", 0, 0, G_OPTION_ARG_DOUBLE, &scale,
      "PNG pixels per point of the A4 page (default 2: 1190x1684)", "S" },
    { "colormap", 0, 0, G_OPTION_ARG_STRING, &colormap,
      "Heatmap colormap: inferno (default), viridis, jet, gray", "NAME" },
    { "opacity", 0, 0, G_OPTION_ARG_DOUBLE, &opacity, "Heatmap opacity in [0, 1] (default 0.5)",
      "X" },
    { "threshold", 0, 0, G_OPTION_ARG_DOUBLE, &threshold,
      "Hide heatmap values below this fraction of the map's maximum (default 0.2)", "X" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "OpenBLAS threads (default: OpenBLAS' own)",
      "N" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("IMAGE_OR_FOLDER");
  g_option_context_set_summary (ctx,
                                "Writes one annotated report page per image (PNG; PDF with --pdf)\n"
                                "and scores.csv / scores.json with every image's scores.\n"
                                "Not for diagnostic use.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "hilum-cli report: %s\n", error->message);
      return 2;
    }
  ReportJob job = { 0 };
  hl_overlay_style_init (&job.overlay);
  const char *usage_error = NULL;
  if (argc != 2)
    usage_error = "give exactly one IMAGE_OR_FOLDER";
  else if (out_dir == NULL)
    usage_error = "--out DIR is required";
  else if (colormap != NULL && !hl_colormap_from_name (colormap, &job.overlay.cmap))
    usage_error = "--colormap must be inferno, viridis, jet or gray";
  else if (!(scale > 0 && scale <= 8))
    usage_error = "--scale must be in (0, 8]";
  else if (opacity != -1 && !(opacity >= 0 && opacity <= 1))
    usage_error = "--opacity must be in [0, 1]";
  else if (threshold != -1 && !(threshold >= 0 && threshold <= 1))
    usage_error = "--threshold must be in [0, 1]";
  else if (threads < 0)
    usage_error = "--threads must be 0 (the default) or more";
  if (usage_error != NULL)
    {
      fprintf (stderr, "hilum-cli report: %s (see --help)\n", usage_error);
      return 2;
    }
  if (opacity != -1)
    job.overlay.opacity = opacity;
  if (threshold != -1)
    job.overlay.threshold = threshold;
  if (threads > 0)
    hl_engine_set_threads (threads);

  g_autoptr (HlModel) model = hl_cli_load_model ("report", &model_path);
  if (model == NULL)
    return 1;
  job.model = model;
  job.info = hl_model_get_info (model);
  for (guint i = 0; labels != NULL && labels[i] != NULL; i++)
    if (!g_strv_contains ((const char *const *)job.info->labels, labels[i]))
      {
        fprintf (stderr, "hilum-cli report: --label %s: model %s has no such label\n", labels[i],
                 job.info->name);
        return 2;
      }
  job.labels = labels;
  job.pdf = pdf;
  job.scale = scale;
  job.out_dir = out_dir;
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *created = g_date_time_format (now, "%Y-%m-%d %H:%M");
  job.created = created;

  if (g_mkdir_with_parents (out_dir, 0755) != 0)
    {
      fprintf (stderr, "hilum-cli report: %s: cannot create the folder: %s\n", out_dir,
               g_strerror (errno));
      return 1;
    }
  if (!check_sidecars (out_dir, &error))
    {
      fprintf (stderr, "hilum-cli report: %s\n", error->message);
      return 1;
    }
  HlStudy *study = NULL;
  GArray *inputs = collect_inputs (argv[1], &study, &error);
  if (inputs == NULL)
    {
      fprintf (stderr, "hilum-cli report: %s\n", error->message);
      return 1;
    }
  if (inputs->len == 0)
    fprintf (stderr, "hilum-cli report: %s: no images found\n", argv[1]);

  int n = job.info->n_labels;
  g_autofree float *probs = g_new0 (float, (gsize)MAX (inputs->len, 1) * n);
  g_autofree gboolean *done = g_new0 (gboolean, MAX (inputs->len, 1));
  g_autoptr (GHashTable) used = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  hl_predictions_json_begin (builder, job.info);
  json_builder_set_member_name (builder, "created");
  json_builder_add_string_value (builder, job.created);
  json_builder_set_member_name (builder, "images");
  json_builder_begin_array (builder);
  guint n_failed = 0;
  for (guint i = 0; i < inputs->len; i++)
    {
      const ReportInput *in = &g_array_index (inputs, ReportInput, i);
      g_autofree char *stem = report_stem (in->name, used);
      g_autoptr (GError) local = NULL;
      done[i] = report_one (&job, in, stem, probs + (gsize)i * n, builder, &local);
      if (!done[i])
        {
          fprintf (stderr, "hilum-cli report: %s\n", local->message);
          n_failed++;
        }
      else
        printf ("%s -> %s.png\n", in->name, stem);
    }
  json_builder_end_array (builder);

  gboolean ok = write_sidecars (&job, inputs, done, probs, builder, &error);
  if (!ok)
    fprintf (stderr, "hilum-cli report: %s\n", error->message);
  guint n_inputs = inputs->len;
  g_array_unref (inputs);
  hl_study_free (study);
  return ok ? hl_cli_inputs_status (n_inputs - n_failed, n_failed) : HL_CLI_EXIT_FAILED;
}
