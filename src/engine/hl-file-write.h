/* hl-file-write.h — the one way Hilum writes a file: atomically, never over a file it did not
 * write, and with fault injection for tests.
 *
 * A write goes to a new temporary file ".NAME.XXXXXX" in the target's folder (created with
 * O_EXCL), is flushed with fsync, and is renamed over the target only when every byte is on disk;
 * the folder is then fsynced so the rename itself is durable. On any failure the temporary file is
 * removed and the target is left exactly as it was.
 *
 * Ownership rule: an existing target is replaced only when Hilum wrote it, which the file itself
 * shows where its format has room for a signature:
 *   - PNG: a tEXt chunk "Software" whose text begins with "Hilum" (before the first IDAT);
 *   - PDF: an info dictionary entry "/Creator (Hilum" (cairo's CREATOR metadata);
 *   - JSON: an object whose first member is "generator" with a string beginning with "Hilum";
 *   - safetensors: "__metadata__" with a "format" beginning with "hilum-" (Hilum's model files);
 * and, for every other file (CSV: the reference predictions layout has no room for one), the
 * folder's manifest HL_FILE_MANIFEST_NAME lists the file's name with the SHA-256 of its current
 * content (the sha256sum layout, "HEX  NAME" per line; files up to 1 GiB; it is hashed only when
 * the manifest names it), which the writer keeps up to date. Any
 * other existing file, and anything that is not a regular file, is refused
 * (HL_FILE_WRITE_ERROR_NOT_OURS). The manifest itself is always Hilum's.
 *
 * Fault injection, in the style of SQLite's test hooks: every operation that can fail with the disk
 * (creating the temporary file, each write() of up to 64 KiB, fsync, close, rename, the folder's
 * fsync) is a
 * numbered fault point; hl_file_write_fault_set (K, E) makes the K-th one from then on fail with
 * errno E, once. A program that spawns hilum-cli sets HILUM_FAULT_WRITE=K (or K:ENOSPC, K:EIO;
 * default EIO) instead; the process then says on stderr which operation it failed. A failed
 * folder fsync after the rename is not reported as a failure: the target is complete (old or new)
 * either way.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HL_FILE_WRITE_ERROR (hl_file_write_error_quark ())

typedef enum
{
  HL_FILE_WRITE_ERROR_IO,             /* cannot create, write, flush or rename: errno named */
  HL_FILE_WRITE_ERROR_NOT_OURS,       /* the target exists and Hilum did not write it */
  HL_FILE_WRITE_ERROR_SAME_AS_SOURCE, /* the target is one of the protected source files */
} HlFileWriteError;

GQuark hl_file_write_error_quark (void);

/* The name of the manifest a folder's unsigned outputs are listed in. */
#define HL_FILE_MANIFEST_NAME ".hilum-written"

/* The signature text: the PNG "Software" chunk's, the PDF creator's, the JSON "generator". */
#define HL_FILE_SIGNATURE "Hilum"

typedef struct _HlFileWriter HlFileWriter;

/* Starts writing @path: checks that it may be written (not one of @protect, NULL-terminated or
 * NULL, by name or by device and inode: HL_FILE_WRITE_ERROR_SAME_AS_SOURCE; absent or written
 * by Hilum: else HL_FILE_WRITE_ERROR_NOT_OURS) and creates the temporary file. Returns a writer
 * to finish with hl_file_writer_commit() or hl_file_writer_abort(), or NULL with @error set
 * (naming @path). */
HlFileWriter *hl_file_writer_new (const char *path, const char *const *protect, GError **error);

/* Appends @length bytes to the temporary file (buffered: they go to write() 64 KiB at a time and
 * at commit). On failure (HL_FILE_WRITE_ERROR_IO) the writer must still be aborted. */
gboolean hl_file_writer_write (HlFileWriter *writer, const void *data, gsize length,
                               GError **error);

/* Flushes and closes the temporary file, checks the target again as hl_file_writer_new() did,
 * records the new content in the folder's manifest when it carries no signature, and renames it
 * over the target. Frees @writer whatever happens; on failure the target is as it was and no
 * temporary file is left. */
gboolean hl_file_writer_commit (HlFileWriter *writer, GError **error);

/* Removes the temporary file and frees @writer (NULL-safe). */
void hl_file_writer_abort (HlFileWriter *writer);

/* @length bytes at @data written to @path through a writer (new, write, commit). */
gboolean hl_file_write_contents (const char *path, const void *data, gsize length,
                                 const char *const *protect, GError **error);

/* Whether the existing regular file @path was written by Hilum, by the ownership rule above.
 * FALSE when it is absent, unreadable or not a regular file. */
gboolean hl_file_is_ours (const char *path);

/* The PNG tEXt chunk "Software" = HL_FILE_SIGNATURE, complete with length and CRC: insert it
 * after IHDR. Returns static bytes, their count in @length. */
const guint8 *hl_file_png_signature_chunk (gsize *length);

/* Makes the @k-th fault point from now (1 = the next) fail with @errno_value (e.g. EIO, ENOSPC),
 * once; @k = 0 turns injection off. Resets the count of fault points passed and the fired flag,
 * and takes precedence over HILUM_FAULT_WRITE. */
void hl_file_write_fault_set (guint k, int errno_value);

/* Whether the fault set last has fired. */
gboolean hl_file_write_fault_fired (void);

/* The fault points passed since the last hl_file_write_fault_set(). */
guint hl_file_write_fault_count (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlFileWriter, hl_file_writer_abort)

G_END_DECLS
