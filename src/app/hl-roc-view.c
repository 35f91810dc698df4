/* hl-roc-view.c — ROC curves of the model over the study's labelled images (template
 * ui/hl-roc-window.ui). */
#include "hl-roc-view.h"

#include <glib/gi18n.h>
#include <math.h>

#include "hl-finding-name.h"
#include "hl-labels.h"
#include "hl-roc-chart.h"

void
hl_roc_data_free (HlRocData *data)
{
  if (data == NULL)
    return;
  hl_summary_free (data->summary);
  g_free (data->ops);
  g_free (data->model);
  g_free (data);
}

HlRocData *
hl_roc_data_new (HlModel *model, const HlLabelledResult *cases, gsize n, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (cases != NULL && n >= 1, NULL);

  const HlModelInfo *info = hl_model_get_info (model);
  /* The model labels every case's file carries: (n_cols) model indices, file indices. */
  g_autofree int *model_index = g_new (int, info->n_labels);
  g_autofree int *file_index = g_new (int, info->n_labels);
  g_auto (GStrv) names = g_new0 (char *, info->n_labels + 1); /* display names */
  gsize n_cols = 0;
  for (int l = 0; l < info->n_labels; l++)
    {
      int li = hl_label_index (info->labels[l]);
      gboolean everywhere = li >= 0;
      for (gsize i = 0; i < n && everywhere; i++)
        everywhere = cases[i].has_label[li] && cases[i].result->n_labels == info->n_labels;
      if (!everywhere)
        continue;
      model_index[n_cols] = l;
      file_index[n_cols] = li;
      names[n_cols] = hl_finding_name_dup (info->labels[l]);
      n_cols++;
    }
  if (n_cols == 0)
    {
      g_set_error (error, HL_ANALYSIS_ERROR, HL_ANALYSIS_ERROR_UNDEFINED,
                   "no finding of the model is labelled for every analysed image");
      return NULL;
    }

  gsize n_cells = n * n_cols;
  g_autofree double *scores = g_new (double, n_cells); /* (n, n_cols) */
  g_autofree guint8 *truth = g_new (guint8, n_cells);  /* (n, n_cols) */
  for (gsize i = 0; i < n; i++)
    for (gsize c = 0; c < n_cols; c++)
      {
        scores[i * n_cols + c] = cases[i].result->probs[model_index[c]];
        truth[i * n_cols + c] = cases[i].truth[file_index[c]];
      }
  g_autoptr (HlSummary) summary
      = hl_summary_new ((const char *const *)names, n_cols, scores, truth, n, NULL, error);
  if (summary == NULL)
    return NULL;

  HlConfusion *ops = g_new0 (HlConfusion, n_cols);
  g_autofree double *column = g_new (double, n);       /* (n) */
  g_autofree guint8 *column_truth = g_new (guint8, n); /* (n) */
  for (gsize c = 0; c < n_cols; c++)
    {
      for (gsize i = 0; i < n; i++)
        {
          column[i] = scores[i * n_cols + c];
          column_truth[i] = truth[i * n_cols + c];
        }
      if (!hl_roc_confusion (column, column_truth, n, info->thresholds[model_index[c]], &ops[c],
                             error))
        {
          g_free (ops);
          return NULL;
        }
    }

  HlRocData *data = g_new0 (HlRocData, 1);
  data->summary = g_steal_pointer (&summary);
  data->ops = ops;
  data->model = g_strdup_printf ("%s %s", info->name, info->version);
  return data;
}

struct _HlRocWindow
{
  GtkWindow parent_instance;

  HlRocData *data;
  GtkHeaderBar *header_bar;
  GtkLabel *mean_label;
};

G_DEFINE_TYPE (HlRocWindow, hl_roc_window, GTK_TYPE_WINDOW)

static gboolean
chart_draw (GtkWidget *widget, cairo_t *cr, HlRocWindow *self)
{
  int w = gtk_widget_get_allocated_width (widget), h = gtk_widget_get_allocated_height (widget);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  if (self->data == NULL)
    return FALSE;
  const HlSummary *s = self->data->summary;
  g_autofree HlRocSeries *series = g_new (HlRocSeries, s->n_labels); /* (n_labels) */
  /* The operating point drawn is the model's own, not one chosen on these images. */
  for (gsize i = 0; i < s->n_labels; i++)
    hl_roc_series_init_from_label (&series[i], &s->labels[i], &self->data->ops[i],
                                   self->data->model);
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_set_font_size (cr, 12);
  hl_render_roc_grid (cr, 8, 8, w - 16, h - 16, series, NULL, s->n_labels, 0);
  return FALSE;
}

static void
hl_roc_window_finalize (GObject *object)
{
  g_clear_pointer (&HL_ROC_WINDOW (object)->data, hl_roc_data_free);
  G_OBJECT_CLASS (hl_roc_window_parent_class)->finalize (object);
}

static void
hl_roc_window_class_init (HlRocWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  G_OBJECT_CLASS (klass)->finalize = hl_roc_window_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/hilum/Hilum/hl-roc-window.ui");
  gtk_widget_class_bind_template_child (widget_class, HlRocWindow, header_bar);
  gtk_widget_class_bind_template_child (widget_class, HlRocWindow, mean_label);
  gtk_widget_class_bind_template_callback (widget_class, chart_draw);
}

static void
hl_roc_window_init (HlRocWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
hl_roc_window_new (GtkWindow *parent, HlRocData *data, const char *subtitle)
{
  g_return_val_if_fail (data != NULL, NULL);

  HlRocWindow *self = g_object_new (HL_TYPE_ROC_WINDOW, "transient-for", parent, NULL);
  self->data = data;
  gtk_header_bar_set_subtitle (self->header_bar, subtitle);
  const HlSummary *s = data->summary;
  g_autofree char *mean = NULL;
  if (isnan (s->mean_auroc))
    mean = g_strdup_printf (_ ("Model %s · no finding has both positive and negative images here"),
                            data->model);
  else
    mean = g_strdup_printf (_ ("Model %s · mean AUROC %.3f over %zu findings and %zu images"),
                            data->model, s->mean_auroc, s->n_defined, s->n_cases);
  gtk_label_set_text (self->mean_label, mean);
  return GTK_WIDGET (self);
}
