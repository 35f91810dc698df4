/* hl-render-io.c — PNG/PDF output of cairo drawings through the atomic writer (hl-file-write.h),
 * PNGs signed with its "Software" tEXt chunk. */
#include "hl-render-io.h"

#include <cairo-pdf.h>
#include <math.h>
#include <string.h>

#include "hl-file-write.h"

G_DEFINE_QUARK (hl-render-error-quark, hl_render_error)

/* What the writer's cairo stream callback writes into. */
typedef struct
{
  HlFileWriter *file;
  GError *error; /* the first write error, NULL if none */
} FileSink;

static cairo_status_t
file_sink_write (void *closure, const unsigned char *data, unsigned int length)
{
  FileSink *sink = closure;
  if (sink->error != NULL || !hl_file_writer_write (sink->file, data, length, &sink->error))
    return CAIRO_STATUS_WRITE_ERROR;
  return CAIRO_STATUS_SUCCESS;
}

/* @local (HL_FILE_WRITE_ERROR) in the render domain. */
static void
propagate_file_error (GError **error, GError *local)
{
  int code = g_error_matches (local, HL_FILE_WRITE_ERROR, HL_FILE_WRITE_ERROR_SAME_AS_SOURCE)
                 ? HL_RENDER_ERROR_SAME_AS_SOURCE
             : g_error_matches (local, HL_FILE_WRITE_ERROR, HL_FILE_WRITE_ERROR_NOT_OURS)
                 ? HL_RENDER_ERROR_NOT_OURS
                 : HL_RENDER_ERROR_IO;
  g_set_error_literal (error, HL_RENDER_ERROR, code, local->message);
  g_error_free (local);
}

gboolean
hl_render_write_atomic (const char *path, const char *protect_path, HlRenderWriter writer,
                        gpointer user_data, GError **error)
{
  g_return_val_if_fail (path != NULL && *path != '\0', FALSE);
  g_return_val_if_fail (writer != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  const char *protect[] = { protect_path, NULL };
  GError *local = NULL;
  FileSink sink = { hl_file_writer_new (path, protect, &local), NULL };
  if (sink.file == NULL)
    {
      propagate_file_error (error, local);
      return FALSE;
    }
  gboolean ok = writer (file_sink_write, &sink, user_data, &local);
  if (sink.error != NULL)
    {
      g_clear_error (&local);
      hl_file_writer_abort (sink.file);
      propagate_file_error (error, sink.error);
      return FALSE;
    }
  if (!ok)
    {
      hl_file_writer_abort (sink.file);
      if (local != NULL)
        g_propagate_prefixed_error (error, local, "%s: ", path);
      else
        g_set_error (error, HL_RENDER_ERROR, HL_RENDER_ERROR_IO, "%s: writing failed", path);
      return FALSE;
    }
  if (!hl_file_writer_commit (sink.file, &local))
    {
      propagate_file_error (error, local);
      return FALSE;
    }
  return TRUE;
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

/* Passes a PNG stream on to @write, inserting the writer's "Software" tEXt chunk after the
 * signature and IHDR (the stream's first PNG_IHDR_END bytes). */
#define PNG_IHDR_END (8 + 4 + 4 + 13 + 4)
typedef struct
{
  cairo_write_func_t write;
  void *closure;
  gsize passed; /* bytes of the stream seen so far */
} PngSigner;

static cairo_status_t
png_signer_write (void *closure, const unsigned char *data, unsigned int length)
{
  PngSigner *s = closure;
  cairo_status_t status = CAIRO_STATUS_SUCCESS;
  if (s->passed < PNG_IHDR_END && s->passed + length >= PNG_IHDR_END)
    {
      unsigned int head = (unsigned int)(PNG_IHDR_END - s->passed);
      gsize chunk_len;
      const guint8 *chunk = hl_file_png_signature_chunk (&chunk_len);
      status = s->write (s->closure, data, head);
      if (status == CAIRO_STATUS_SUCCESS)
        status = s->write (s->closure, chunk, (unsigned int)chunk_len);
      s->passed += head;
      data += head;
      length -= head;
    }
  if (status == CAIRO_STATUS_SUCCESS && length > 0)
    status = s->write (s->closure, data, length);
  s->passed += length;
  return status;
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
    {
      PngSigner signer = { write, closure, 0 };
      status = cairo_surface_write_to_png_stream (surface, png_signer_write, &signer);
    }
  cairo_surface_destroy (surface);
  return set_cairo_error (status, error);
}

static gboolean
pdf_writer (cairo_write_func_t write, void *closure, gpointer user_data, GError **error)
{
  const PageJob *job = user_data;
  cairo_surface_t *surface
      = cairo_pdf_surface_create_for_stream (write, closure, job->width, job->height);
  cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_CREATOR, HL_FILE_SIGNATURE);
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
