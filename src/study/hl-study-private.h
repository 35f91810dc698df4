/* hl-study-private.h — helpers shared by the study module's sources; not installed, not for
 * other modules. */
#pragma once

#include "hl-image.h"

G_BEGIN_DECLS

/* Reads the whole file @path into @contents (NUL-terminated, to g_free) and @length. A regular
 * file larger than @max_bytes is refused before it is read (HL_STUDY_ERROR_CSV, "PATH: larger
 * than N MiB"); a file that cannot be read is HL_STUDY_ERROR_IO. The parser that follows checks
 * @length against its own cap again (a file that is not regular has no size to check). */
gboolean hl_study_read_file (const char *path, gsize max_bytes, char **contents, gsize *length,
                             GError **error);

/* strcmp-style comparison of two file names or patient ids in natural order ("2" before "10"),
 * by g_utf8_collate_key_for_filename. */
int hl_study_compare_natural (const char *a, const char *b);

G_END_DECLS
