/* hl-study-private.h — helpers shared by the study module's sources; not installed, not for
 * other modules. */
#pragma once

#include "hl-study.h"

G_BEGIN_DECLS

/* What the st_mode @mode is, for messages: "a regular file", "a folder", "a FIFO", "a character
 * device", "a block device", "a socket". */
const char *hl_file_kind (guint mode);

/* Opens @path for reading only when it is a regular file: stat first (a device is never opened),
 * then open with O_NONBLOCK (a FIFO swapped in meanwhile cannot block) and fstat what was opened.
 * Returns a blocking read-only descriptor to close, or -1 with HL_STUDY_ERROR_IO ("PATH: not a
 * regular file (a FIFO)", "PATH: cannot open: ..."). Never blocks. */
int hl_open_regular (const char *path, GError **error);

/* Reads from @fd into @buffer until @size bytes or the end of the file, retrying when
 * interrupted; *@got is how many were read. FALSE with HL_STUDY_ERROR_IO naming @path on a read
 * error. */
gboolean hl_read_all (int fd, const char *path, void *buffer, gsize size, gsize *got,
                      GError **error);

/* Reads the whole file @path into @contents (NUL-terminated, to g_free) and @length. Only a
 * regular file is read (hl_open_regular: a FIFO, device, socket or folder is HL_STUDY_ERROR_IO);
 * one larger than @max_bytes is refused before it is read, and one that grows past it while being
 * read is refused too (HL_STUDY_ERROR_CSV, "PATH: larger than N MiB"), so at most @max_bytes + 1
 * bytes are ever held; a file that cannot be read is HL_STUDY_ERROR_IO. */
gboolean hl_study_read_file (const char *path, gsize max_bytes, char **contents, gsize *length,
                             GError **error);

/* hl_study_open() reading at most @max_entries folder entries instead of HL_STUDY_MAX_ENTRIES
 * (for the tests: a folder of 200,000 entries takes minutes to make on a slow disk). */
HlStudy *hl_study_open_capped (const char *folder, guint max_depth, guint max_entries,
                               HlStudyOpenFlags flags, GCancellable *cancellable,
                               GError **error);

/* strcmp-style comparison of two file names or patient ids in natural order ("2" before "10"),
 * by g_utf8_collate_key_for_filename. */
int hl_study_compare_natural (const char *a, const char *b);

G_END_DECLS
