/* hl-export.c — annotated report pages and score tables for one image or a whole study. */
#include "hl-export.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "hl-file-write.h"
#include "hl-image.h"
#include "hl-predictions.h"
#include "hl-ranking.h"
#include "hl-report.h"
#include "hl-train.h"

char *
hl_export_report_name (const char *source_path, guint copy)
{
  g_return_val_if_fail (source_path != NULL, NULL);

  g_autofree char *base = g_path_get_basename (source_path);
  char *dot = strrchr (base, '.');
  if (dot != NULL && dot != base)
    *dot = '\0';
  if (copy == 0)
    return g_strconcat (base, "-report.png", NULL);
  return g_strdup_printf ("%s-%u-report.png", base, copy + 1);
}

/* Refuses an output path that names one of the sources, by name or by file identity. */
static gboolean
check_not_source (const HlExportJob *job, const char *out, GError **error)
{
  g_autoptr (GFile) out_file = g_file_new_for_path (out);
  g_autoptr (GFileInfo) out_info
      = g_file_query_info (out_file, G_FILE_ATTRIBUTE_ID_FILE, G_FILE_QUERY_INFO_NONE, NULL, NULL);
  for (gsize i = 0; i < job->n; i++)
    {
      g_autoptr (GFile) src = g_file_new_for_path (job->paths[i]);
      gboolean same = g_file_equal (src, out_file);
      if (!same && out_info != NULL)
        {
          g_autoptr (GFileInfo) src_info = g_file_query_info (src, G_FILE_ATTRIBUTE_ID_FILE,
                                                              G_FILE_QUERY_INFO_NONE, NULL, NULL);
          same
              = src_info != NULL
                && g_strcmp0 (g_file_info_get_attribute_string (src_info, G_FILE_ATTRIBUTE_ID_FILE),
                              g_file_info_get_attribute_string (out_info, G_FILE_ATTRIBUTE_ID_FILE))
                       == 0;
        }
      if (same)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                       "%s: refusing to overwrite the source image %s", out, job->paths[i]);
          return FALSE;
        }
    }
  return TRUE;
}

/* Writes the report page of the image @path to @out: scores from @r, heatmaps from @lm (at an
 * earlier layer) or, when @lm is NULL, from @r (the last feature map). */
static gboolean
write_report (const HlExportJob *job, const char *path, const HlResult *r, const HlLayerMaps *lm,
              const char *out, GError **error)
{
  g_autoptr (HlImage) image = hl_image_load (path, error);
  if (image == NULL)
    return FALSE;
  const HlModelInfo *info = hl_model_get_info (job->model);

  g_autofree HlRankedFinding *ranked = g_new (HlRankedFinding, r->n_labels); /* (n_labels) */
  hl_rank_findings (r->probs, info->thresholds, info->val_auroc, r->n_labels,
                    HL_REPORT_WEAK_AUROC, ranked);
  int shown = job->label >= 0 && job->label < r->n_labels ? job->label : ranked[0].label;

  /* (n_labels, map_h, map_w) */
  const float *maps = lm != NULL ? lm->maps : r->maps;
  int map_h = lm != NULL ? lm->map_h : r->map_h, map_w = lm != NULL ? lm->map_w : r->map_w;
  gsize map_size = (gsize)map_h * map_w;
  g_autofree HlReportFinding *findings = g_new0 (HlReportFinding, r->n_labels);
  for (int l = 0; l < r->n_labels; l++)
    {
      findings[l].label = info->labels[l];
      findings[l].score = r->probs[l];
      findings[l].threshold = info->thresholds[l];
      findings[l].map = maps + l * map_size;
      findings[l].map_w = map_w;
      findings[l].map_h = map_h;
      findings[l].show_map = l == shown;
    }
  /* Weak as the sidebar marks it (hl_rank_findings). */
  for (int i = 0; i < r->n_labels; i++)
    findings[ranked[i].label].weak = ranked[i].weak;

  HlReport report;
  hl_report_init (&report);
  report.pixels = image->pixels;
  report.width = image->width;
  report.height = image->height;
  report.source_path = path;
  report.patient_id = image->patient_id;
  report.study_date = image->study_date;
  report.view_position = image->view_position;
  report.model_name = info->name;
  report.model_version = info->version;
  report.intended_use = *info->intended_use != '\0' ? info->intended_use : NULL;
  report.n_findings = r->n_labels;
  report.findings = findings;
  report.overlay = job->style;
  report.scale_each_map = TRUE;
  report.heatmap_layer = lm != NULL ? job->gradcam_layer : "last feature map";
  return hl_report_write_png (&report, out, 2.0, error);
}

/* The scores JSON, as `hilum-cli predict --json` writes it: the model (hl_predictions_json_begin),
 * then each image's name (@names), path and scores. */
static gboolean
write_json (const HlExportJob *job, HlResult *const *results, const char *const *names,
            const char *out, GError **error)
{
  const HlModelInfo *info = hl_model_get_info (job->model);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  hl_predictions_json_begin (b, info);
  json_builder_set_member_name (b, "images");
  json_builder_begin_array (b);
  for (gsize i = 0; i < job->n; i++)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "image");
      json_builder_add_string_value (b, names[i]);
      json_builder_set_member_name (b, "path");
      json_builder_add_string_value (b, job->paths[i]);
      hl_predictions_json_add_scores (b, info, results[i]->probs);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  gsize length;
  g_autofree char *text = hl_predictions_json_end (b, &length);
  return hl_file_write_contents (out, text, length, job->paths, error);
}

/* The scores CSV (hl-predictions.h): one row per image named by @names, the model's labels as
 * columns. */
static gboolean
write_csv (const HlExportJob *job, HlResult *const *results, const char *const *names,
           const char *out, GError **error)
{
  const HlModelInfo *info = hl_model_get_info (job->model);
  gsize n_labels = (gsize)info->n_labels;
  g_autofree float *scores = g_new (float, job->n * n_labels); /* (n images, n_labels) */
  for (gsize i = 0; i < job->n; i++)
    memcpy (scores + i * n_labels, results[i]->probs, sizeof (float) * n_labels);
  return hl_predictions_write_labels (out, names, job->n, (const char *const *)info->labels,
                                      n_labels, scores, error);
}

char **
hl_export_run (const HlExportJob *job, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (job != NULL && job->model != NULL && job->folder != NULL, NULL);
  g_return_val_if_fail (job->n == 0 || (job->paths != NULL && job->results != NULL), NULL);
  if (job->n == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                           _ ("None of the images could be read: there is nothing to export."));
      return NULL;
    }
  /* The heatmaps' layer; -1: the last feature map, the results' own maps. */
  int layer = job->gradcam_layer != NULL
                  ? hl_model_gradcam_layer_find (job->model, job->gradcam_layer)
                  : -1;
  g_return_val_if_fail (job->gradcam_layer == NULL || layer >= 0, NULL);
  if (layer == hl_model_gradcam_n_layers (job->model) - 1)
    layer = -1;

  g_autoptr (GPtrArray) written = g_ptr_array_new_with_free_func (g_free);
  /* Report names taken so far: images of the same name from different folders get -2, -3... */
  g_autoptr (GHashTable) taken = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) results = g_ptr_array_new_with_free_func ((GDestroyNotify)hl_result_unref);
  for (gsize i = 0; i < job->n; i++)
    {
      HlResult *r = job->results[i] != NULL ? hl_result_ref (job->results[i])
                                            : hl_result_compute (job->model, job->paths[i], NULL,
                                                                 NULL, cancellable, error);
      if (r == NULL)
        return NULL;
      g_ptr_array_add (results, r);

      char *name = hl_export_report_name (job->paths[i], 0);
      for (guint copy = 1; g_hash_table_contains (taken, name); copy++)
        {
          g_free (name);
          name = hl_export_report_name (job->paths[i], copy);
        }
      g_hash_table_add (taken, name);
      g_autofree char *out = g_build_filename (job->folder, name, NULL);
      g_autoptr (HlLayerMaps) computed = NULL;
      const HlLayerMaps *lm = NULL;
      if (layer >= 0)
        {
          lm = job->layer_maps != NULL ? job->layer_maps[i] : NULL;
          if (lm == NULL || lm->maps == NULL || lm->layer != layer)
            {
              lm = computed
                  = hl_layer_maps_compute (job->model, job->paths[i], layer, cancellable, error);
              if (lm == NULL)
                return NULL;
            }
        }
      if (!check_not_source (job, out, error)
          || !write_report (job, job->paths[i], r, lm, out, error))
        return NULL;
      g_ptr_array_add (written, g_steal_pointer (&out));
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
    }

  HlResult *const *rs = (HlResult *const *)results->pdata;
  g_auto (GStrv) names = hl_predictions_unique_names (job->paths, job->n);
  const char *const *cnames = (const char *const *)names;
  g_autofree char *csv = g_build_filename (job->folder, HL_EXPORT_CSV_NAME, NULL);
  g_autofree char *json = g_build_filename (job->folder, HL_EXPORT_JSON_NAME, NULL);
  if (!check_not_source (job, csv, error) || !write_csv (job, rs, cnames, csv, error))
    return NULL;
  g_ptr_array_add (written, g_steal_pointer (&csv));
  if (!check_not_source (job, json, error) || !write_json (job, rs, cnames, json, error))
    return NULL;
  g_ptr_array_add (written, g_steal_pointer (&json));
  g_ptr_array_add (written, NULL);
  return (char **)g_ptr_array_free (g_steal_pointer (&written), FALSE);
}
