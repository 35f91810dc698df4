/* hl-export.h — writing what the viewer shows to a folder: per image the annotated PNG report page
 * (render's hl_report_write_png) with the heatmap at the layer the viewer shows, and for the set
 * the scores CSV and JSON that `hilum-cli predict` writes (study's hl_predictions_write_labels and
 * hl_predictions_json_*). No GTK: it runs in a worker thread. Every file is written atomically
 * (hl-file-write.h), none may be one of the source images, and none replaces a file of that name
 * that Hilum did not write. */
#pragma once

#include <gio/gio.h>

#include "hl-engine.h"
#include "hl-inference.h"
#include "hl-overlay.h"

G_BEGIN_DECLS

#define HL_EXPORT_CSV_NAME "hilum-scores.csv"
#define HL_EXPORT_JSON_NAME "hilum-scores.json"

typedef struct
{
  HlModel *model;           /* lent */
  const char *const *paths; /* (n) source images */
  HlResult **results;       /* (n) cached results, NULL entries are computed here */
  gsize n;
  int label;            /* finding whose heatmap the page shows; -1: the top-ranked one */
  HlOverlayStyle style; /* colormap, opacity and threshold (vmin/vmax set per map) */
  const char *folder;   /* where the files go; must exist */
  /* The heatmaps' layer (a hl_model_gradcam_layer_id of @model), named on the page; NULL or the
   * last feature map's: @results' maps. */
  const char *gradcam_layer;
  /* (n) or NULL: maps cached at an earlier @gradcam_layer; NULL entries, and ones without maps,
   * are computed here. */
  HlLayerMaps **layer_maps;
} HlExportJob;

/* The report file name for @source_path: its base name without extension + "-report.png", or,
 * for @copy > 0 (another image of that base name in the same export), base +
 * "-<copy + 1>-report.png". */
char *hl_export_report_name (const char *source_path, guint copy);

/* Writes @job's reports, CSV and JSON. Each page shows the Grad-CAM heatmap at @job's
 * gradcam_layer, as the viewer does, and its caption names that layer ("last feature map" or the
 * layer's id). Returns the written paths (NULL-terminated, report pages
 * in @job's order, each named by hl_export_report_name with the first copy number not yet taken
 * in this export, then the CSV and the JSON, whose rows name the images as
 * hl_predictions_unique_names() does) or NULL with @error set (HL_RENDER_ERROR, HL_STUDY_ERROR,
 * HL_ENGINE_ERROR, HL_FILE_WRITE_ERROR, G_IO_ERROR_CANCELLED, or G_IO_ERROR_NOT_FOUND when @job
 * has no image: a study whose every image failed to decode); files written before a failure
 * stay. */
char **hl_export_run (const HlExportJob *job, GCancellable *cancellable, GError **error);

G_END_DECLS
