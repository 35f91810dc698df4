/* hl-image.c — the study module's error domain, format sniffing by content, and the one entry
 * point that decodes any supported image file (hl_image_load). */
#include "hl-image.h"

#include "hl-png.h"
#include "hl-study-private.h"
#ifdef HL_HAVE_DICOM
#include "hl-dicom.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

G_DEFINE_QUARK (hl-study-error-quark, hl_study_error)

static const guint8 png_signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

gboolean
hl_image_sniff_data (const guint8 *head, gsize length, HlImageFormat *format)
{
  g_return_val_if_fail (head != NULL || length == 0, FALSE);
  g_return_val_if_fail (format != NULL, FALSE);

  if (length >= sizeof png_signature && memcmp (head, png_signature, sizeof png_signature) == 0)
    {
      *format = HL_IMAGE_PNG;
      return TRUE;
    }
  if (length >= HL_IMAGE_SNIFF_BYTES && memcmp (head + 128, "DICM", 4) == 0)
    {
      *format = HL_IMAGE_DICOM;
      return TRUE;
    }
  return FALSE;
}

const char *
hl_file_kind (guint mode)
{
  if (S_ISREG (mode))
    return "a regular file";
  if (S_ISDIR (mode))
    return "a folder";
  if (S_ISFIFO (mode))
    return "a FIFO";
  if (S_ISCHR (mode))
    return "a character device";
  if (S_ISBLK (mode))
    return "a block device";
  if (S_ISSOCK (mode))
    return "a socket";
  return "not a regular file";
}

int
hl_open_regular (const char *path, GError **error)
{
  GStatBuf st;
  int fd, saved;

  g_return_val_if_fail (path != NULL, -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  /* stat first, so that a device is never opened; then O_NONBLOCK, so that a FIFO swapped in
   * meanwhile cannot block the open, and fstat on what was really opened */
  if (g_stat (path, &st) == 0 && !S_ISREG (st.st_mode))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: not a regular file (%s)", path,
                   hl_file_kind (st.st_mode));
      return -1;
    }
  fd = g_open (path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
  if (fd < 0)
    {
      saved = errno;
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: cannot open: %s", path,
                   g_strerror (saved));
      return -1;
    }
  if (fstat (fd, &st) != 0)
    {
      saved = errno;
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: cannot read: %s", path,
                   g_strerror (saved));
      close (fd);
      return -1;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: not a regular file (%s)", path,
                   hl_file_kind (st.st_mode));
      close (fd);
      return -1;
    }
  /* a regular file never blocks; reads from here on are ordinary */
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

gboolean
hl_read_all (int fd, const char *path, void *buffer, gsize size, gsize *got, GError **error)
{
  *got = 0;
  while (*got < size)
    {
      gssize n = read (fd, (guint8 *) buffer + *got, size - *got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: cannot read: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        break;
      *got += (gsize) n;
    }
  return TRUE;
}

gboolean
hl_image_sniff (const char *path, HlImageFormat *format, GError **error)
{
  guint8 head[HL_IMAGE_SNIFF_BYTES];
  gsize length;
  gboolean ok;
  int fd;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (format != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  fd = hl_open_regular (path, error);
  if (fd < 0)
    return FALSE;
  ok = hl_read_all (fd, path, head, sizeof head, &length, error);
  close (fd);
  if (!ok)
    return FALSE;
  if (!hl_image_sniff_data (head, length, format))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
                   "%s: not an image Hilum reads (neither PNG nor DICOM)", path);
      return FALSE;
    }
  return TRUE;
}

HlImage *
hl_image_load (const char *path, GError **error)
{
  HlImageFormat format;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!hl_image_sniff (path, &format, error))
    return NULL;
  if (format == HL_IMAGE_PNG)
    return hl_png_load (path, error);
#ifdef HL_HAVE_DICOM
  return hl_dicom_load (path, error);
#else
  g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSUPPORTED,
               "%s: a DICOM file, but Hilum was built without DICOM support", path);
  return NULL;
#endif
}

void
hl_image_free (HlImage *image)
{
  if (image == NULL)
    return;
  g_free (image->path);
  g_free (image->pixels);
  g_free (image->patient_id);
  g_free (image->study_date);
  g_free (image->view_position);
  g_free (image);
}
