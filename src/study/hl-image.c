/* hl-image.c — the study module's error domain, format sniffing by content, and the one entry
 * point that decodes any supported image file (hl_image_load). */
#include "hl-image.h"

#include "hl-png.h"
#ifdef HL_HAVE_DICOM
#include "hl-dicom.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>

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

gboolean
hl_image_sniff (const char *path, HlImageFormat *format, GError **error)
{
  guint8 head[HL_IMAGE_SNIFF_BYTES];
  gsize length;
  FILE *file;
  int saved;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (format != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  file = g_fopen (path, "rb");
  if (file == NULL)
    {
      saved = errno;
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: cannot open: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  length = fread (head, 1, sizeof head, file);
  saved = errno;
  if (ferror (file))
    {
      fclose (file);
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: cannot read: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  fclose (file);
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
