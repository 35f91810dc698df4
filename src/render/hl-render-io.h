/* hl-render-io.h — writing rendered pages to files: the render error domain, atomic writes
 * (the engine's hl-file-write.h: temporary file in the target's folder, fsync, rename; never over
 * a file Hilum did not write) and PNG/PDF output of any drawing, signed as Hilum's. */
#pragma once

#include <cairo.h>
#include <glib.h>

G_BEGIN_DECLS

#define HL_RENDER_ERROR (hl_render_error_quark ())

typedef enum
{
  HL_RENDER_ERROR_IO,             /* cannot create, write or rename the file */
  HL_RENDER_ERROR_SAME_AS_SOURCE, /* the output would overwrite the image it was made from */
  HL_RENDER_ERROR_CAIRO,          /* cairo failed (out of memory, surface too large, ...) */
  HL_RENDER_ERROR_NOT_OURS,       /* the output exists and Hilum did not write it */
} HlRenderError;

GQuark hl_render_error_quark (void);

/* Produces the bytes of a file by calling @write (cairo's stream callback, with @closure) as
 * often as it likes. Returns FALSE and sets @error on failure; a CAIRO_STATUS_WRITE_ERROR from
 * @write means the sink failed and the writer should stop and return FALSE. */
typedef gboolean (*HlRenderWriter) (cairo_write_func_t write, void *closure, gpointer user_data,
                                    GError **error);

/* Writes @path atomically with hl_file_writer_new() and _commit(): @writer's bytes go to a new
 * temporary file ".NAME.XXXXXX" in @path's folder, which is flushed to disk and renamed over @path
 * only when everything succeeded. On any failure the temporary file is removed, @path is left as
 * it was, and @error is set (HL_RENDER_ERROR, naming @path). Refuses, before @writer runs,
 * when @protect_path (may be NULL) names the same file as @path, by name or by device and inode
 * (HL_RENDER_ERROR_SAME_AS_SOURCE), and when @path exists and is not a file Hilum wrote
 * (HL_RENDER_ERROR_NOT_OURS). The new file has mode 0644 (less the umask). */
gboolean hl_render_write_atomic (const char *path, const char *protect_path, HlRenderWriter writer,
                                 gpointer user_data, GError **error);

/* Draws one page on @cr, whose user space is @width x @height units with the origin at the top
 * left. */
typedef void (*HlRenderDrawFunc) (cairo_t *cr, double width, double height, gpointer user_data);

/* Renders @draw on a white @width x @height user-unit page at @scale device pixels per unit
 * (the PNG is ceil (width * scale) x ceil (height * scale) pixels, RGB, with the tEXt chunk
 * "Software" = "Hilum" after IHDR) and writes it atomically with hl_render_write_atomic(). */
gboolean hl_render_write_png (const char *path, const char *protect_path, double width,
                              double height, double scale, HlRenderDrawFunc draw,
                              gpointer user_data, GError **error);

/* The same as a one-page PDF of @width x @height points (vector output), creator "Hilum". */
gboolean hl_render_write_pdf (const char *path, const char *protect_path, double width,
                              double height, HlRenderDrawFunc draw, gpointer user_data,
                              GError **error);

G_END_DECLS
