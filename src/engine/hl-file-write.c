/* hl-file-write.c — atomic, ownership-checked file writes with fault injection (see
 * hl-file-write.h for the rule and the fault points). */
#include "hl-file-write.h"
#include "hl-safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK (hl-file-write-error-quark, hl_file_write_error)

/* Bytes gathered before they go to one write(), each a fault point (cairo and libpng hand over
 * a few KiB at a time). */
#define WRITE_BUFFER ((gsize)64 << 10)
/* The largest manifest read; a longer one vouches for nothing and is started afresh. */
#define MANIFEST_MAX_BYTES ((gsize)1 << 20)
/* The largest file the manifest can vouch for (hashing it is the cost of the check). */
#define MANIFEST_MAX_FILE ((goffset)1 << 30)
/* Bytes at a PDF's start and at its end searched for the creator entry. */
#define PDF_SCAN_BYTES ((gsize)64 << 10)
/* Bytes at a JSON file's start searched for the generator member. */
#define JSON_SCAN_BYTES 4096
/* PNG chunks looked at before giving up on a tEXt "Software" chunk; the largest one read. */
#define PNG_MAX_CHUNKS 64
#define PNG_MAX_TEXT 4096
/* The largest safetensors header parsed to find its format. */
#define SAFETENSORS_MAX_HEADER ((guint64)HL_SAFETENSORS_MAX_HEADER)

/* ---- fault injection ---------------------------------------------------------------------- */

static gint fault_countdown; /* fault points left until the failure; <= 0: off */
static gint fault_errno;
static gint fault_fired;
static gint fault_count;
static gint fault_from_env; /* HILUM_FAULT_WRITE set it: say so on stderr when it fires */
static gsize fault_env_once;

static void
fault_read_env (void)
{
  if (!g_once_init_enter (&fault_env_once))
    return;
  const char *spec = g_getenv ("HILUM_FAULT_WRITE");
  if (spec != NULL && *spec != '\0')
    {
      char *end;
      guint64 k = g_ascii_strtoull (spec, &end, 10);
      int e = EIO;
      if (strcmp (end, ":ENOSPC") == 0)
        e = ENOSPC;
      else if (*end != '\0' && strcmp (end, ":EIO") != 0)
        k = 0;
      if (k == 0 || k > G_MAXINT)
        g_printerr ("hilum: HILUM_FAULT_WRITE=%s is not K, K:EIO or K:ENOSPC (K >= 1): "
                    "ignored\n", spec);
      else
        {
          g_atomic_int_set (&fault_errno, e);
          g_atomic_int_set (&fault_countdown, (gint)k);
          g_atomic_int_set (&fault_from_env, 1);
        }
    }
  g_once_init_leave (&fault_env_once, 1);
}

void
hl_file_write_fault_set (guint k, int errno_value)
{
  g_return_if_fail (k <= G_MAXINT);
  g_return_if_fail (k == 0 || errno_value > 0);

  fault_read_env ();
  g_atomic_int_set (&fault_from_env, 0);
  g_atomic_int_set (&fault_fired, 0);
  g_atomic_int_set (&fault_count, 0);
  g_atomic_int_set (&fault_errno, errno_value);
  g_atomic_int_set (&fault_countdown, (gint)k);
}

gboolean
hl_file_write_fault_fired (void)
{
  return g_atomic_int_get (&fault_fired) != 0;
}

guint
hl_file_write_fault_count (void)
{
  return (guint)g_atomic_int_get (&fault_count);
}

/* Passes one fault point, the operation @what on @path: 0, or the errno of the injected
 * failure. */
static int
fault_point (const char *what, const char *path)
{
  fault_read_env ();
  int n = g_atomic_int_add (&fault_count, 1) + 1;
  if (g_atomic_int_get (&fault_countdown) <= 0 || !g_atomic_int_dec_and_test (&fault_countdown))
    return 0;
  g_atomic_int_set (&fault_fired, 1);
  int e = g_atomic_int_get (&fault_errno);
  if (g_atomic_int_get (&fault_from_env))
    g_printerr ("hilum: HILUM_FAULT_WRITE: fault point %d (%s, %s) fails with %s\n", n, what,
                path, g_strerror (e));
  return e;
}

static void
set_io_error (GError **error, const char *path, const char *what, int e)
{
  g_set_error (error, HL_FILE_WRITE_ERROR, HL_FILE_WRITE_ERROR_IO, "%s: cannot %s: %s", path, what,
               g_strerror (e));
}

/* ---- signatures --------------------------------------------------------------------------- */

/* Reads exactly @n bytes at @offset of @fd. */
static gboolean
read_at (int fd, void *buf, gsize n, goffset offset)
{
  guint8 *p = buf;
  while (n > 0)
    {
      ssize_t got = pread (fd, p, n, (off_t)offset);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        return FALSE;
      p += got;
      n -= (gsize)got;
      offset += got;
    }
  return TRUE;
}

static gboolean
contains (const guint8 *hay, gsize n, const char *needle)
{
  gsize m = strlen (needle);
  for (gsize i = 0; i + m <= n; i++)
    if (hay[i] == (guint8)needle[0] && memcmp (hay + i, needle, m) == 0)
      return TRUE;
  return FALSE;
}

static guint32
crc32_update (guint32 crc, const guint8 *p, gsize n)
{
  crc = ~crc;
  for (gsize i = 0; i < n; i++)
    {
      crc ^= p[i];
      for (int k = 0; k < 8; k++)
        crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
  return ~crc;
}

#define PNG_TEXT_DATA "Software\0" HL_FILE_SIGNATURE
#define PNG_TEXT_LEN (sizeof PNG_TEXT_DATA - 1)

const guint8 *
hl_file_png_signature_chunk (gsize *length)
{
  static guint8 chunk[12 + PNG_TEXT_LEN];
  static gsize once;

  g_return_val_if_fail (length != NULL, NULL);
  if (g_once_init_enter (&once))
    {
      guint32 len_be = GUINT32_TO_BE ((guint32)PNG_TEXT_LEN);
      memcpy (chunk, &len_be, 4);
      memcpy (chunk + 4, "tEXt", 4);
      memcpy (chunk + 8, PNG_TEXT_DATA, PNG_TEXT_LEN);
      guint32 crc_be = GUINT32_TO_BE (crc32_update (0, chunk + 4, 4 + PNG_TEXT_LEN));
      memcpy (chunk + 8 + PNG_TEXT_LEN, &crc_be, 4);
      g_once_init_leave (&once, 1);
    }
  *length = sizeof chunk;
  return chunk;
}

/* A tEXt "Software" chunk beginning with the signature among the chunks before the first IDAT. */
static gboolean
png_signed (int fd, goffset size)
{
  goffset offset = 8;
  for (int i = 0; i < PNG_MAX_CHUNKS && offset + 12 <= size; i++)
    {
      guint8 head[8];
      if (!read_at (fd, head, 8, offset))
        return FALSE;
      guint32 len = ((guint32)head[0] << 24) | ((guint32)head[1] << 16) | ((guint32)head[2] << 8)
                    | head[3];
      if (memcmp (head + 4, "IDAT", 4) == 0 || memcmp (head + 4, "IEND", 4) == 0)
        return FALSE;
      if (memcmp (head + 4, "tEXt", 4) == 0 && len >= PNG_TEXT_LEN && len <= PNG_MAX_TEXT)
        {
          guint8 text[PNG_TEXT_LEN];
          if (read_at (fd, text, PNG_TEXT_LEN, offset + 8)
              && memcmp (text, PNG_TEXT_DATA, PNG_TEXT_LEN) == 0)
            return TRUE;
        }
      offset += 12 + (goffset)len;
    }
  return FALSE;
}

/* "/Creator (Hilum" in the first or last PDF_SCAN_BYTES (cairo writes the info dictionary near
 * the end). */
static gboolean
pdf_signed (int fd, goffset size)
{
  gsize n = (gsize)MIN (size, (goffset)PDF_SCAN_BYTES);
  g_autofree guint8 *buf = g_malloc (n);
  const char *needle = "/Creator (" HL_FILE_SIGNATURE;
  return (read_at (fd, buf, n, size - (goffset)n) && contains (buf, n, needle))
         || (read_at (fd, buf, n, 0) && contains (buf, n, needle));
}

/* The text at @p (of @end) after blanks. */
static const guint8 *
skip_blanks (const guint8 *p, const guint8 *end)
{
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

static const guint8 *
expect (const guint8 *p, const guint8 *end, const char *text)
{
  gsize n = strlen (text);
  p = skip_blanks (p, end);
  return p != NULL && (gsize)(end - p) >= n && memcmp (p, text, n) == 0 ? p + n : NULL;
}

/* {"generator": "Hilum... as the first member. */
static gboolean
json_signed (const guint8 *head, gsize n)
{
  const guint8 *end = head + n, *p = expect (head, end, "{");
  p = p != NULL ? expect (p, end, "\"generator\"") : NULL;
  p = p != NULL ? expect (p, end, ":") : NULL;
  return p != NULL && expect (p, end, "\"" HL_FILE_SIGNATURE) != NULL;
}

/* A safetensors header whose __metadata__ "format" begins with "hilum-". */
static gboolean
safetensors_signed (int fd, goffset size)
{
  guint64 len_le, len;
  if (!read_at (fd, &len_le, 8, 0))
    return FALSE;
  len = GUINT64_FROM_LE (len_le);
  if (len < 2 || len > SAFETENSORS_MAX_HEADER || (goffset)len > size - 8)
    return FALSE;
  g_autofree char *header = g_malloc (len);
  if (!read_at (fd, header, len, 8) || header[0] != '{')
    return FALSE;
  /* the model loader's own bounded parse: depth and values counted on the text first, so that
   * a hostile header (100,000 nested arrays, a 16 MiB object) costs little and cannot recurse */
  g_autofree char *problem = NULL;
  g_autoptr (JsonNode) root = hl_json_parse_bounded (header, (gsize)len, HL_SAFETENSORS_MAX_VALUES,
                                                     &problem);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return FALSE;
  JsonNode *meta = json_object_get_member (json_node_get_object (root), "__metadata__");
  if (meta == NULL || !JSON_NODE_HOLDS_OBJECT (meta))
    return FALSE;
  JsonNode *format = json_object_get_member (json_node_get_object (meta), "format");
  return format != NULL && JSON_NODE_HOLDS_VALUE (format)
         && json_node_get_value_type (format) == G_TYPE_STRING
         && g_str_has_prefix (json_node_get_string (format), "hilum-");
}

/* Whether the @size bytes of @fd carry an embedded signature. */
static gboolean
content_signed (int fd, goffset size)
{
  static const guint8 png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  guint8 head[JSON_SCAN_BYTES];
  gsize n = (gsize)MIN (size, (goffset)sizeof head);

  if (!read_at (fd, head, n, 0))
    return FALSE;
  if (n >= 8 && memcmp (head, png_magic, 8) == 0)
    return png_signed (fd, size);
  if (n >= 5 && memcmp (head, "%PDF-", 5) == 0)
    return pdf_signed (fd, size);
  if (json_signed (head, n))
    return TRUE;
  return n >= 9 && head[8] == '{' && safetensors_signed (fd, size);
}

/* ---- the manifest ------------------------------------------------------------------------- */

/* Serialises read-modify-write of manifests within the process. */
static GMutex manifest_lock;

/* SHA-256 (hex) of the @size bytes of @fd; NULL when unreadable. */
static char *
hash_fd (int fd, goffset size)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *buf = g_malloc (64 << 10);
  for (goffset offset = 0; offset < size;)
    {
      gsize n = (gsize)MIN (size - offset, (goffset)(64 << 10));
      if (!read_at (fd, buf, n, offset))
        return NULL;
      g_checksum_update (sum, buf, (gssize)n);
      offset += (goffset)n;
    }
  return g_strdup (g_checksum_get_string (sum));
}

/* The lines of @dir's manifest; NULL when it is absent, unreadable, not a regular file or larger
 * than MANIFEST_MAX_BYTES. */
static char **
manifest_read (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, HL_FILE_MANIFEST_NAME, NULL);
  int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
  if (fd < 0)
    return NULL;
  GStatBuf st;
  g_autofree char *text = NULL;
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && (guint64)st.st_size <= MANIFEST_MAX_BYTES)
    {
      text = g_malloc ((gsize)st.st_size + 1);
      if (!read_at (fd, text, (gsize)st.st_size, 0))
        g_clear_pointer (&text, g_free);
      else
        text[st.st_size] = '\0';
    }
  close (fd);
  return text != NULL ? g_strsplit (text, "\n", -1) : NULL;
}

/* The manifest line for @name with content hash @hex. */
static char *
manifest_line (const char *hex, const char *name)
{
  return g_strconcat (hex, "  ", name, NULL);
}

/* Whether @dir's manifest lists @name (the @size bytes of @fd) with its content's hash, which
 * then goes to *hex. The file is hashed only when the manifest has a line for @name and it is at
 * most MANIFEST_MAX_FILE bytes. */
static gboolean
manifest_lists (const char *dir, const char *name, int fd, goffset size, char **hex)
{
  g_mutex_lock (&manifest_lock);
  g_auto (GStrv) lines = manifest_read (dir);
  g_mutex_unlock (&manifest_lock);
  g_autofree char *suffix = g_strconcat ("  ", name, NULL);
  gboolean named = FALSE;
  for (guint i = 0; lines != NULL && lines[i] != NULL && !named; i++)
    named = strlen (lines[i]) == 64 + strlen (suffix) && g_str_has_suffix (lines[i], suffix);
  if (!named || size > MANIFEST_MAX_FILE)
    return FALSE;
  g_autofree char *h = hash_fd (fd, size);
  g_autofree char *want = h != NULL ? manifest_line (h, name) : NULL;
  if (want == NULL || !g_strv_contains ((const char *const *)lines, want))
    return FALSE;
  *hex = g_steal_pointer (&h);
  return TRUE;
}

/* Records in @dir's manifest that @name is about to hold content @new_hex: drops @name's lines
 * except the one for its present content @old_hex (kept in case the rename fails), and adds
 * one. Names with a line break cannot be listed: nothing is recorded for them. */
static gboolean
manifest_record (const char *dir, const char *name, const char *new_hex, const char *old_hex,
                 GError **error)
{
  if (strpbrk (name, "\r\n") != NULL)
    return TRUE;
  g_autofree char *path = g_build_filename (dir, HL_FILE_MANIFEST_NAME, NULL);
  g_autofree char *suffix = g_strconcat ("  ", name, NULL);
  g_autofree char *old_line = old_hex != NULL ? manifest_line (old_hex, name) : NULL;
  g_autofree char *new_line = manifest_line (new_hex, name);
  g_autoptr (GString) text = g_string_new (NULL);

  g_mutex_lock (&manifest_lock);
  g_auto (GStrv) lines = manifest_read (dir);
  for (guint i = 0; lines != NULL && lines[i] != NULL; i++)
    {
      const char *l = lines[i];
      /* a line of this name is 64 hex digits, then the suffix: "a  NAME" is another file */
      gboolean this_name = strlen (l) == 64 + strlen (suffix) && g_str_has_suffix (l, suffix);
      if (*l == '\0' || strcmp (l, new_line) == 0 || (this_name && g_strcmp0 (l, old_line) != 0))
        continue;
      g_string_append (text, l);
      g_string_append_c (text, '\n');
    }
  g_string_append (text, new_line);
  g_string_append_c (text, '\n');
  /* Too long: start afresh with this file only (the others are refused until written again). */
  if (text->len > MANIFEST_MAX_BYTES)
    {
      g_string_truncate (text, 0);
      if (old_line != NULL)
        g_string_append_printf (text, "%s\n", old_line);
      g_string_append_printf (text, "%s\n", new_line);
    }
  gboolean ok = hl_file_write_contents (path, text->str, text->len, NULL, error);
  g_mutex_unlock (&manifest_lock);
  return ok;
}

/* ---- ownership ------------------------------------------------------------------------------ */

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

/* Whether the regular file open as @fd (@size bytes), @name in @dir, is Hilum's. When the answer
 * comes from the manifest, *hex gets its content hash. */
static gboolean
fd_is_ours (int fd, goffset size, const char *dir, const char *name, char **hex)
{
  if (strcmp (name, HL_FILE_MANIFEST_NAME) == 0 || content_signed (fd, size))
    return TRUE;
  g_autofree char *h = NULL;
  if (!manifest_lists (dir, name, fd, size, &h))
    return FALSE;
  if (hex != NULL)
    *hex = g_steal_pointer (&h);
  return TRUE;
}

/* Whether @path may be written: none of @protect, and absent or a regular file of Hilum's.
 * *old_hex (may be NULL) gets the present file's hash when the manifest vouched for it. */
static gboolean
check_target (const char *path, const char *dir, const char *name, const char *const *protect,
              char **old_hex, GError **error)
{
  for (gsize i = 0; protect != NULL && protect[i] != NULL; i++)
    if (same_file (path, protect[i]))
      {
        g_set_error (error, HL_FILE_WRITE_ERROR, HL_FILE_WRITE_ERROR_SAME_AS_SOURCE,
                     "%s: refusing to overwrite the source file %s", path, protect[i]);
        return FALSE;
      }
  GStatBuf st;
  if (g_lstat (path, &st) != 0)
    {
      int e = errno;
      if (e == ENOENT)
        return TRUE;
      set_io_error (error, path, "look at the file there", e);
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, HL_FILE_WRITE_ERROR, HL_FILE_WRITE_ERROR_NOT_OURS,
                   "%s: exists and is not a regular file: refusing to replace it", path);
      return FALSE;
    }
  int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
  if (fd < 0)
    {
      int e = errno;
      set_io_error (error, path, "read the file there to check who wrote it", e);
      return FALSE;
    }
  /* what was opened, not what was looked at: a FIFO swapped in meanwhile opened without blocking
   * and is refused here */
  gboolean ours = fstat (fd, &st) == 0 && S_ISREG (st.st_mode)
                  && fd_is_ours (fd, (goffset)st.st_size, dir, name, old_hex);
  close (fd);
  if (!ours)
    g_set_error (error, HL_FILE_WRITE_ERROR, HL_FILE_WRITE_ERROR_NOT_OURS,
                 "%s: exists and was not written by Hilum (no Hilum signature, and not listed "
                 "with its content in " HL_FILE_MANIFEST_NAME "): refusing to replace it; move "
                 "it away or write elsewhere",
                 path);
  return ours;
}

gboolean
hl_file_is_ours (const char *path)
{
  g_return_val_if_fail (path != NULL, FALSE);

  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *name = g_path_get_basename (path);
  GStatBuf st;
  if (g_lstat (path, &st) != 0 || !S_ISREG (st.st_mode))
    return FALSE;
  int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
  if (fd < 0)
    return FALSE;
  gboolean ours = fstat (fd, &st) == 0 && S_ISREG (st.st_mode)
                  && fd_is_ours (fd, (goffset)st.st_size, dir, name, NULL);
  close (fd);
  return ours;
}

/* ---- the writer ----------------------------------------------------------------------------- */

struct _HlFileWriter
{
  char *path, *dir, *name;
  char *tmp_path;
  char **protect; /* NULL-terminated or NULL */
  int fd;         /* the temporary file, -1 once closed */
  goffset size;   /* bytes written */
  GChecksum *sum; /* SHA-256 of the bytes written */
  guint8 *buf;    /* (WRITE_BUFFER) bytes not yet handed to write() */
  gsize buffered;
};

static void
writer_free (HlFileWriter *w)
{
  if (w->fd >= 0)
    close (w->fd);
  g_free (w->path);
  g_free (w->dir);
  g_free (w->name);
  g_free (w->tmp_path);
  g_strfreev (w->protect);
  g_checksum_free (w->sum);
  g_free (w->buf);
  g_free (w);
}

HlFileWriter *
hl_file_writer_new (const char *path, const char *const *protect, GError **error)
{
  g_return_val_if_fail (path != NULL && *path != '\0', NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *name = g_path_get_basename (path);
  if (!check_target (path, dir, name, protect, NULL, error))
    return NULL;
  g_autofree char *tmp_name = g_strdup_printf (".%s.XXXXXX", name);
  g_autofree char *tmp_path = g_build_filename (dir, tmp_name, NULL);
  int e = fault_point ("create a temporary file", path);
  int fd = e != 0 ? -1 : g_mkstemp_full (tmp_path, O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      if (e == 0)
        e = errno;
      g_set_error (error, HL_FILE_WRITE_ERROR, HL_FILE_WRITE_ERROR_IO,
                   "%s: cannot create a file in %s: %s", path, dir, g_strerror (e));
      return NULL;
    }
  HlFileWriter *w = g_new0 (HlFileWriter, 1);
  w->path = g_strdup (path);
  w->dir = g_steal_pointer (&dir);
  w->name = g_steal_pointer (&name);
  w->tmp_path = g_steal_pointer (&tmp_path);
  w->protect = protect != NULL ? g_strdupv ((char **)protect) : NULL;
  w->fd = fd;
  w->sum = g_checksum_new (G_CHECKSUM_SHA256);
  w->buf = g_malloc (WRITE_BUFFER);
  return w;
}

/* Hands the buffered bytes to write(). */
static gboolean
writer_flush (HlFileWriter *w, GError **error)
{
  const guint8 *p = w->buf;
  gsize length = w->buffered;
  while (length > 0)
    {
      int e = fault_point ("write", w->path);
      ssize_t n = e != 0 ? -1 : write (w->fd, p, length);
      if (n < 0 && e == 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          set_io_error (error, w->path, "write", e != 0 ? e : n < 0 ? errno : EIO);
          return FALSE;
        }
      p += n;
      length -= (gsize)n;
    }
  w->buffered = 0;
  return TRUE;
}

gboolean
hl_file_writer_write (HlFileWriter *w, const void *data, gsize length, GError **error)
{
  g_return_val_if_fail (w != NULL && w->fd >= 0, FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  const guint8 *p = data;
  g_checksum_update (w->sum, p, (gssize)length);
  w->size += (goffset)length;
  while (length > 0)
    {
      gsize n = MIN (length, WRITE_BUFFER - w->buffered);
      memcpy (w->buf + w->buffered, p, n);
      w->buffered += n;
      p += n;
      length -= n;
      if (w->buffered == WRITE_BUFFER && !writer_flush (w, error))
        return FALSE;
    }
  return TRUE;
}

void
hl_file_writer_abort (HlFileWriter *w)
{
  if (w == NULL)
    return;
  g_unlink (w->tmp_path);
  writer_free (w);
}

/* fsync of @w's folder: a failure is not reported (the target is complete either way). */
static void
sync_folder (const HlFileWriter *w)
{
  if (fault_point ("flush the folder", w->path) != 0)
    return;
  int fd = g_open (w->dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY, 0);
  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
}

gboolean
hl_file_writer_commit (HlFileWriter *w, GError **error)
{
  g_return_val_if_fail (w != NULL && w->fd >= 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!writer_flush (w, error))
    {
      hl_file_writer_abort (w);
      return FALSE;
    }
  int e = fault_point ("flush", w->path);
  if (e == 0 && fsync (w->fd) != 0)
    e = errno;
  if (e != 0)
    {
      set_io_error (error, w->path, "flush the data to disk", e);
      hl_file_writer_abort (w);
      return FALSE;
    }
  gboolean is_signed = content_signed (w->fd, w->size);
  e = fault_point ("close", w->path);
  if (close (w->fd) != 0 && e == 0)
    e = errno;
  w->fd = -1;
  if (e != 0)
    {
      set_io_error (error, w->path, "close the data", e);
      hl_file_writer_abort (w);
      return FALSE;
    }

  g_autofree char *old_hex = NULL;
  if (!check_target (w->path, w->dir, w->name, (const char *const *)w->protect, &old_hex, error)
      || (!is_signed && strcmp (w->name, HL_FILE_MANIFEST_NAME) != 0
          && !manifest_record (w->dir, w->name, g_checksum_get_string (w->sum), old_hex, error)))
    {
      hl_file_writer_abort (w);
      return FALSE;
    }
  e = fault_point ("rename", w->path);
  if (e == 0 && g_rename (w->tmp_path, w->path) != 0)
    e = errno;
  if (e != 0)
    {
      g_set_error (error, HL_FILE_WRITE_ERROR, HL_FILE_WRITE_ERROR_IO,
                   "%s: cannot rename %s into place: %s", w->path, w->tmp_path, g_strerror (e));
      hl_file_writer_abort (w);
      return FALSE;
    }
  sync_folder (w);
  writer_free (w);
  return TRUE;
}

gboolean
hl_file_write_contents (const char *path, const void *data, gsize length,
                        const char *const *protect, GError **error)
{
  g_return_val_if_fail (data != NULL || length == 0, FALSE);

  g_autoptr (HlFileWriter) w = hl_file_writer_new (path, protect, error);
  if (w == NULL || !hl_file_writer_write (w, data, length, error))
    return FALSE;
  return hl_file_writer_commit (g_steal_pointer (&w), error);
}
