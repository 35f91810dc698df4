/* hl-render-io.c — atomic PNG/PDF output of cairo drawings. */
#include "hl-render-io.h"

#include <cairo-pdf.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK (hl-render-error-quark, hl_render_error)

typedef struct
{
  int fd;
  int saved_errno; /* first write error, 0 if none */
} FdSink;

static cairo_status_t
fd_sink_write (void *closure, const unsigned char *data, unsigned int length)
{
  FdSink *sink = closure;
  if (sink->saved_errno != 0)
    return CAIRO_STATUS_WRITE_ERROR;
  while (length > 0)
    {
      ssize_t n = write (sink->fd, data, length);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          sink->saved_errno = errno;
          return CAIRO_STATUS_WRITE_ERROR;
        }
      data += n;
      length -= (unsigned int)n;
    }
  return CAIRO_STATUS_SUCCESS;
}

static gboolean
same_file (const char *a, const char *b)
{
  g_autofree char *ca = g_canonicalize_filename (a, NULL);
  g_autofree char *cb = g_canonicalize_filename (b, NULL);
  if (strcmp (ca, cb) == 0)
    return TRUE;
  GStatBuf sa, sb;
  return g_stat (a, &sa) == 0 && g_stat (b, &sb) == 0 && sa.st_dev == sb.st_dev
         && sa.st_ino == sb.st_ino;
}

gboolean
hl_render_write_atomic (const char *path, const char *protect_path, HlRenderWriter writer,
                        gpointer user_data, GError **error)
{
  g_return_val_if_fail (path != NULL && *path != '\0', FALSE);
  g_return_val_if_fail (writer != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (protect_path != NULL && same_file (path, protect_path))
    {
      g_set_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_SAME_AS_SOURCE,
                   "%s: refusing to overwrite the source image", path);
      return FALSE;
    }

  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp_name = g_strdup_printf (".%s.XXXXXX", base);
  g_autofree char *tmp_path = g_build_filename (dir, tmp_name, NULL);
  FdSink sink = { g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0644), 0 };
  if (sink.fd < 0)
    {
      int e = errno;
      g_set_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_IO, "%s: cannot create a file in %s: %s",
                   path, dir, g_strerror (e));
      return FALSE;
    }

  GError *local = NULL;
  gboolean ok = writer (fd_sink_write, &sink, user_data, &local);
  if (ok && sink.saved_errno == 0 && fsync (sink.fd) != 0)
    sink.saved_errno = errno;
  if (close (sink.fd) != 0 && sink.saved_errno == 0)
    sink.saved_errno = errno;
  if (sink.saved_errno != 0)
    {
      g_clear_error (&local);
      g_set_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_IO, "%s: write failed: %s", path,
                   g_strerror (sink.saved_errno));
      ok = FALSE;
    }
  else if (!ok)
    {
      if (local != NULL)
        g_propagate_prefixed_error (error, local, "%s: ", path);
      else
        g_set_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_IO, "%s: writing failed", path);
    }
  if (ok && g_rename (tmp_path, path) != 0)
    {
      int e = errno;
      g_set_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_IO,
                   "%s: cannot rename %s into place: %s", path, tmp_path, g_strerror (e));
      ok = FALSE;
    }
  if (!ok)
    g_unlink (tmp_path);
  return ok;
}

static gboolean
set_cairo_error (cairo_status_t status, GError **error)
{
  if (status == CAIRO_STATUS_SUCCESS)
    return TRUE;
  /* A write error means the sink failed; hl_render_write_atomic reports its errno. */
  g_set_error (error, HL_RENDER_ERROR,
               status == CAIRO_STATUS_WRITE_ERROR ? HL_RENDER_ERROR_IO : HL_RENDER_ERROR_CAIRO,
               "cairo: %s", cairo_status_to_string (status));
  return FALSE;
}

typedef struct
{
  double width, height, scale;
  HlRenderDrawFunc draw;
  gpointer user_data;
} PageJob;

static void
draw_page (cairo_t *cr, const PageJob *job)
{
  cairo_save (cr);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  cairo_restore (cr);
  cairo_save (cr);
  job->draw (cr, job->width, job->height, job->user_data);
  cairo_restore (cr);
}

static gboolean
png_writer (cairo_write_func_t write, void *closure, gpointer user_data, GError **error)
{
  const PageJob *job = user_data;
  double pw = ceil (job->width * job->scale), ph = ceil (job->height * job->scale);
  if (!(pw >= 1 && ph >= 1 && pw <= 32767 && ph <= 32767))
    {
      g_set_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_CAIRO,
                   "page of %.0f x %.0f pixels is out of range", pw, ph);
      return FALSE;
    }
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, (int)pw, (int)ph);
  cairo_t *cr = cairo_create (surface);
  cairo_scale (cr, job->scale, job->scale);
  draw_page (cr, job);
  cairo_status_t status = cairo_status (cr);
  cairo_destroy (cr);
  if (status == CAIRO_STATUS_SUCCESS)
    status = cairo_surface_write_to_png_stream (surface, write, closure);
  cairo_surface_destroy (surface);
  return set_cairo_error (status, error);
}

static gboolean
pdf_writer (cairo_write_func_t write, void *closure, gpointer user_data, GError **error)
{
  const PageJob *job = user_data;
  cairo_surface_t *surface
      = cairo_pdf_surface_create_for_stream (write, closure, job->width, job->height);
  cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_CREATOR, "Hilum");
  cairo_t *cr = cairo_create (surface);
  draw_page (cr, job);
  cairo_status_t status = cairo_status (cr);
  cairo_destroy (cr);
  cairo_surface_finish (surface);
  if (status == CAIRO_STATUS_SUCCESS)
    status = cairo_surface_status (surface);
  cairo_surface_destroy (surface);
  return set_cairo_error (status, error);
}

gboolean
hl_render_write_png (const char *path, const char *protect_path, double width, double height,
                     double scale, HlRenderDrawFunc draw, gpointer user_data, GError **error)
{
  g_return_val_if_fail (width > 0 && height > 0 && scale > 0, FALSE);
  g_return_val_if_fail (draw != NULL, FALSE);
  PageJob job = { width, height, scale, draw, user_data };
  return hl_render_write_atomic (path, protect_path, png_writer, &job, error);
}

gboolean
hl_render_write_pdf (const char *path, const char *protect_path, double width, double height,
                     HlRenderDrawFunc draw, gpointer user_data, GError **error)
{
  g_return_val_if_fail (width > 0 && height > 0, FALSE);
  g_return_val_if_fail (draw != NULL, FALSE);
  PageJob job = { width, height, 1.0, draw, user_data };
  return hl_render_write_atomic (path, protect_path, pdf_writer, &job, error);
}
