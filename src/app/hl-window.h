/* hl-window.h — the main window: welcome page, study (thumbnail strip grouped by patient, image
 * view, findings sidebar, heatmap controls), status bar, and every window action (win.*).
 *
 * The functions below are what the actions run after their dialogs, public so that the GUI tests
 * drive the real code paths without clicking through file choosers.
 */
#pragma once

#include <gtk/gtk.h>

#include "hl-application.h"
#include "hl-image-view.h"
#include "hl-inference.h"

G_BEGIN_DECLS

#define HL_TYPE_WINDOW (hl_window_get_type ())
G_DECLARE_FINAL_TYPE (HlWindow, hl_window, HL, WINDOW, GtkApplicationWindow)

HlWindow *hl_window_new (HlApplication *app);

/* Opens @files (n_files >= 1): one folder is opened as a study; image files form a study of their
 * own. Replaces the open study, cancelling its work. */
void hl_window_open_files (HlWindow *self, GFile **files, int n_files);

/* Closes the study (cancelling its inference) and shows the welcome page. */
void hl_window_close_study (HlWindow *self);

/* The image view (lent). */
HlImageView *hl_window_get_image_view (HlWindow *self);

/* The view of the prior image shown beside the current one while comparing (lent). */
HlImageView *hl_window_get_prior_view (HlWindow *self);

/* The model's result for the image on screen (lent), or NULL while it is not known. */
HlResult *hl_window_get_current_result (HlWindow *self);

/* Whether the image on screen has been decoded and drawn at least once. */
gboolean hl_window_get_image_shown (HlWindow *self);

/* Selects finding @label (index in the model's output order; -1 for none) in the sidebar, which
 * lays its heatmap over the image. */
void hl_window_select_finding (HlWindow *self, int label);

/* Shows image @index of the study (in strip order). */
void hl_window_show_image (HlWindow *self, guint index);
guint hl_window_get_n_images (HlWindow *self);

/* Whether images of the study are still being analysed. */
gboolean hl_window_is_analysing (HlWindow *self);

/* Why image @index did not decode (lent), or NULL when it did or is not known yet. */
const char *hl_window_get_image_error (HlWindow *self, guint index);

typedef enum
{
  HL_EXPORT_CURRENT_IMAGE,
  HL_EXPORT_WHOLE_STUDY,
} HlExportScope;

/* Exports reports of @scope into @folder in a worker thread: per image `<name>-report.png`
 * (render's report page with the selected finding's heatmap, else the top-ranked one), and
 * `hilum-scores.csv` + `hilum-scores.json` with every score. Images not yet analysed are analysed
 * first. Never overwrites a source image; every file is written atomically. */
void hl_window_export_async (HlWindow *self, HlExportScope scope, GFile *folder,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data);
/* Returns the paths written (NULL-terminated, free with g_strfreev), or NULL with @error set. */
char **hl_window_export_finish (HlWindow *self, GAsyncResult *result, GError **error);

G_END_DECLS
