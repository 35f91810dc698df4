/* hl-dicom.cpp — the thin C++ shim over DCMTK behind hl-dicom.h: parse a DICOM file or buffer
 * (dcmdata), check its header before any pixel allocation, decode one frame through DicomImage
 * (dcmimgle, dcmimage for colour, with the dcmjpeg / dcmjpls / RLE codecs), apply the modality and VOI
 * transformations, and hand back an HlImage. No C++ exception crosses into C. */
#include "dcmtk/config/osconfig.h"

#include "dcmtk/dcmdata/dccodec.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcstack.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmimage/diregist.h" /* colour images (RGB, YBR_*, PALETTE COLOR) in DicomImage */
#include "dcmtk/dcmimgle/dcmimage.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/oflog/oflog.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <new>

#include <sys/mman.h>
#include <unistd.h>

#include <glib/gstdio.h>

extern "C" {
#include "hl-dicom.h"
}

/* Registers the decompression codecs and quiets DCMTK's logger once per process; deregisters the
 * codecs at exit. DCMTK's registration calls are not thread-safe, g_once_init_enter makes them so. */
static void
codecs_cleanup (void)
{
  DJLSDecoderRegistration::cleanup ();
  DcmRLEDecoderRegistration::cleanup ();
  DJDecoderRegistration::cleanup ();
}

static void
codecs_init (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      OFLog::configure (OFLogger::FATAL_LOG_LEVEL);
      DJDecoderRegistration::registerCodecs ();
      DcmRLEDecoderRegistration::registerCodecs ();
      DJLSDecoderRegistration::registerCodecs ();
      atexit (codecs_cleanup);
      g_once_init_leave (&done, 1);
    }
}

/* A string attribute of @ds, trimmed and valid UTF-8, or NULL when absent or empty. */
static char *
dup_string (DcmDataset *ds, const DcmTagKey &tag)
{
  OFString value;
  char *s;

  if (ds->findAndGetOFStringArray (tag, value).bad ())
    return NULL;
  s = g_utf8_make_valid (value.c_str (), (gssize) value.length ());
  g_strstrip (s);
  if (*s == '\0')
    {
      g_free (s);
      return NULL;
    }
  return s;
}

/* Study Date as YYYYMMDD (also from the retired "YYYY.MM.DD" form), or NULL. */
static char *
dup_date (DcmDataset *ds)
{
  g_autofree char *raw = dup_string (ds, DCM_StudyDate);
  GString *digits;

  if (raw == NULL)
    return NULL;
  digits = g_string_new (NULL);
  for (const char *p = raw; *p != '\0'; p++)
    {
      if (g_ascii_isdigit (*p))
        g_string_append_c (digits, *p);
      else if (*p != '.' || raw[4] != '.')
        {
          g_string_free (digits, TRUE);
          return NULL;
        }
    }
  if (digits->len != 8)
    {
      g_string_free (digits, TRUE);
      return NULL;
    }
  return g_string_free (digits, FALSE);
}

/* Fills @spacing (row, column in mm) from @tag's two values when both are finite and positive. */
static gboolean
read_spacing (DcmDataset *ds, const DcmTagKey &tag, double spacing[2])
{
  Float64 row, col;

  if (ds->findAndGetFloat64 (tag, row, 0).bad () || ds->findAndGetFloat64 (tag, col, 1).bad ())
    return FALSE;
  if (!std::isfinite (row) || !std::isfinite (col) || row <= 0 || col <= 0)
    return FALSE;
  spacing[0] = row;
  spacing[1] = col;
  return TRUE;
}

/* Refuses a file any of whose elements (at any depth, meta header included) claims more bytes
 * than the whole file holds: DCMTK allocates an element's declared length when it loads the value,
 * so such a lie would otherwise cost up to 4 GiB before the read fails. */
static gboolean
check_lengths (DcmFileFormat *file, guint64 file_size, const char *name, GError **error)
{
  DcmStack stack;

  while (file->nextObject (stack, OFTrue).good ())
    {
      DcmObject *object = stack.top ();
      Uint32 length = object->getLengthField ();

      if (length != DCM_UndefinedLength && length > file_size)
        {
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
                       "%s: DICOM element (%04x,%04x) claims %lu bytes, more than the file holds",
                       name, (unsigned) object->getGTag (), (unsigned) object->getETag (),
                       (unsigned long) length);
          return FALSE;
        }
    }
  return TRUE;
}

/* The header checks made before any pixel is touched: what the image claims to be. On success
 * gives its @rows, @cols and @bits_stored. */
static gboolean
check_header (DcmDataset *ds, const char *name, Uint16 *rows_out, Uint16 *cols_out,
              Uint16 *bits_stored_out, GError **error)
{
  Uint16 rows = 0, cols = 0, spp = 1, bits_allocated = 0, bits_stored = 0;
  Sint32 frames = 1;
  DcmElement *pixel_data = NULL;

  if (ds->tagExists (DCM_FloatPixelData) || ds->tagExists (DCM_DoubleFloatPixelData))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSUPPORTED,
                   "%s: DICOM with floating-point pixel data is not supported", name);
      return FALSE;
    }
  if (ds->findAndGetElement (DCM_PixelData, pixel_data).bad () || pixel_data == NULL
      || pixel_data->getLengthField () == 0)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSUPPORTED,
                   "%s: DICOM file without pixel data (not an image)", name);
      return FALSE;
    }
  if (ds->findAndGetUint16 (DCM_Rows, rows).bad ()
      || ds->findAndGetUint16 (DCM_Columns, cols).bad () || rows == 0 || cols == 0)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
                   "%s: DICOM image without valid Rows and Columns", name);
      return FALSE;
    }
  if (cols > HL_IMAGE_MAX_SIDE || rows > HL_IMAGE_MAX_SIDE
      || (guint64) rows * cols > HL_IMAGE_MAX_PIXELS)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_TOO_LARGE,
                   "%s: DICOM image of %u x %u pixels is larger than Hilum reads (%d per side, "
                   "%d in all)",
                   name, (unsigned) cols, (unsigned) rows, HL_IMAGE_MAX_SIDE, HL_IMAGE_MAX_PIXELS);
      return FALSE;
    }
  if (ds->tagExists (DCM_NumberOfFrames)
      && (ds->findAndGetSint32 (DCM_NumberOfFrames, frames).bad () || frames != 1))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSUPPORTED,
                   "%s: multi-frame DICOM (Number of Frames %ld) is not supported; Hilum reads "
                   "single images",
                   name, (long) frames);
      return FALSE;
    }
  ds->findAndGetUint16 (DCM_SamplesPerPixel, spp);
  ds->findAndGetUint16 (DCM_BitsAllocated, bits_allocated);
  ds->findAndGetUint16 (DCM_BitsStored, bits_stored);
  if (spp != 1 && spp != 3)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSUPPORTED,
                   "%s: DICOM with %u samples per pixel is not supported", name, (unsigned) spp);
      return FALSE;
    }
  if (bits_stored < 8 || bits_stored > 16 || (bits_allocated != 8 && bits_allocated != 16)
      || bits_stored > bits_allocated)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSUPPORTED,
                   "%s: DICOM with %u bits stored in %u allocated is not supported (8 to 16 "
                   "stored in 8 or 16)",
                   name, (unsigned) bits_stored, (unsigned) bits_allocated);
      return FALSE;
    }
  *rows_out = rows;
  *cols_out = cols;
  *bits_stored_out = bits_stored;
  return TRUE;
}

/* Chooses the default display window of a monochrome @image: the file's first usable window,
 * else its first VOI LUT, else the min-max of the pixels. */
static void
set_default_voi (DicomImage &image)
{
  for (unsigned long i = 0; i < image.getWindowCount (); i++)
    if (image.setWindow (i))
      return;
  for (unsigned long i = 0; i < image.getVoiLutCount (); i++)
    if (image.setVoiLut (i))
      return;
  image.setMinMaxWindow (0);
}

/* DCMTK 3.6.7's JPEG decoder (DJCodecDecoder::scanJpegDataForBitDepth) walks the markers of a
 * frame's first fragment to find the sample precision and can loop for minutes on a corrupt chain
 * (found by fuzz-dicom). So the chain is walked here first, strictly: SOI, then marker segments
 * (0xFF, a known marker code, a length >= 2 that stays inside the fragment) and the standalone TEM
 * and RSTn, up to a start of frame with its precision byte. Reserved markers and fill bytes are
 * refused, so that on every accepted chain DCMTK's walk takes the same steps and stops at the
 * frame header. TRUE when the chain reaches a start of frame. */
static gboolean
jpeg_header_ok (const Uint8 *d, Uint32 len)
{
  Uint32 off = 2;

  if (d == NULL || len < 4 || d[0] != 0xff || d[1] != 0xd8)
    return FALSE;
  while (off + 4 <= len)
    {
      Uint8 m = d[off + 1];
      if (d[off] != 0xff)
        return FALSE;
      if (m == 0x01 || (m >= 0xd0 && m <= 0xd7))
        {
          off += 2;
          continue;
        }
      if (m < 0xc0 || m == 0xd8 || m == 0xd9 || m == 0xff)
        return FALSE;
      Uint32 seg = ((Uint32) d[off + 2] << 8) | d[off + 3];
      if (seg < 2 || seg > len - off - 2)
        return FALSE;
      if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc)
        return seg >= 3; /* the precision is the byte after the length */
      off += 2 + seg;
    }
  return FALSE;
}

/* For the JPEG transfer syntaxes DCMTK's dcmjpeg decodes: FALSE, reported, when the first
 * fragment of the first frame is not a JPEG header jpeg_header_ok() accepts. */
static gboolean
check_jpeg (DcmDataset *ds, E_TransferSyntax xfer, const char *name, GError **error)
{
  DcmElement *element = NULL;
  DcmPixelSequence *seq = NULL;
  DcmPixelItem *item = NULL;
  Uint8 *data = NULL;

  if (!((xfer >= EXS_JPEGProcess1 && xfer <= EXS_JPEGProcess29) || xfer == EXS_JPEGProcess14SV1))
    return TRUE;
  if (ds->findAndGetElement (DCM_PixelData, element).bad () || element == NULL)
    return TRUE; /* check_header has reported it */
  DcmPixelData *pixels = OFstatic_cast (DcmPixelData *, element);
  if (pixels->getEncapsulatedRepresentation (xfer, NULL, seq).good () && seq != NULL
      && seq->getItem (item, 1).good () && item != NULL && item->getUint8Array (data).good ()
      && jpeg_header_ok (data, item->getLength ()))
    return TRUE;
  g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
               "%s: corrupt JPEG pixel data: no valid JPEG header in the first fragment", name);
  return FALSE;
}

/* The decoding proper, on a parsed @file. */
static HlImage *
decode (DcmFileFormat &file, guint64 file_size, const char *name, GError **error)
{
  DcmDataset *ds = file.getDataset ();
  E_TransferSyntax xfer = ds->getOriginalXfer ();
  DcmXfer xfer_info (xfer);
  int samples;
  const Uint16 *out;
  Uint16 rows, cols, bits_stored;
  HlImage *image;
  gsize n;

  if (!check_lengths (&file, file_size, name, error)
      || !check_header (ds, name, &rows, &cols, &bits_stored, error))
    return NULL;
  if (xfer_info.isEncapsulated ()
      && !DcmCodecList::canChangeCoding (xfer, EXS_LittleEndianExplicit))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_UNSUPPORTED,
                   "%s: DICOM transfer syntax \"%s\" (%s) cannot be decoded", name,
                   xfer_info.getXferName (), xfer_info.getXferID ());
      return NULL;
    }

  if (!check_jpeg (ds, xfer, name, error))
    return NULL;

  DicomImage decoded (ds, xfer, CIF_MayDetachPixelData, 0, 1);
  if (decoded.getStatus () != EIS_Normal)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT, "%s: cannot decode DICOM pixels: %s",
                   name, DicomImage::getString (decoded.getStatus ()));
      return NULL;
    }
  samples = decoded.isMonochrome () ? 1 : 3;
  if (samples == 1)
    set_default_voi (decoded);
  /* (rows, cols, samples) interleaved, 16 bits: monochrome after the modality and VOI
   * transformations; colour as RGB scaled from bits stored to 16 bits. */
  if (decoded.getWidth () != cols || decoded.getHeight () != rows
      || decoded.getOutputDataSize (16) != (unsigned long) cols * rows * samples * 2
      || (out = (const Uint16 *) decoded.getOutputData (16, 0, 0)) == NULL)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
                   "%s: cannot render the DICOM pixels", name);
      return NULL;
    }

  image = g_new0 (HlImage, 1);
  image->path = g_strdup (name);
  image->format = HL_IMAGE_DICOM;
  image->width = cols;
  image->height = rows;
  image->bit_depth = bits_stored;
  image->was_color = samples == 3;
  n = (gsize) cols * rows;
  image->pixels = g_new (float, n);
  if (samples == 1)
    for (gsize i = 0; i < n; i++)
      image->pixels[i] = out[i] / 65535.0f;
  else
    for (gsize i = 0; i < n; i++)
      {
        const Uint16 *rgb = out + 3 * i;
        float y = (0.2126f * rgb[0] + 0.7152f * rgb[1] + 0.0722f * rgb[2]) / 65535.0f;
        image->pixels[i] = CLAMP (y, 0.0f, 1.0f);
      }

  image->patient_id = dup_string (ds, DCM_PatientID);
  image->study_date = dup_date (ds);
  image->view_position = dup_string (ds, DCM_ViewPosition);
  if (!read_spacing (ds, DCM_PixelSpacing, image->pixel_spacing))
    read_spacing (ds, DCM_ImagerPixelSpacing, image->pixel_spacing);
  return image;
}

/* Runs decode() with C++ exceptions turned into a GError. */
static HlImage *
decode_guarded (DcmFileFormat &file, guint64 file_size, const char *name, GError **error)
{
  try
    {
      return decode (file, file_size, name, error);
    }
  catch (const std::bad_alloc &)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_TOO_LARGE,
                   "%s: out of memory while decoding the DICOM image", name);
    }
  catch (...)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
                   "%s: DCMTK failed while decoding the DICOM image", name);
    }
  return NULL;
}

/* Parses the DICOM file at @file_path (@file_size bytes; large values stay in the file until
 * needed) and decodes it; @name is what messages and the image call it. */
static HlImage *
load_file (const char *file_path, guint64 file_size, const char *name, GError **error)
{
  try
    {
      DcmFileFormat file;
      OFCondition cond = file.loadFile (file_path);
      if (cond.bad ())
        {
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
                       "%s: not a readable DICOM file: %s", name, cond.text ());
          return NULL;
        }
      return decode_guarded (file, file_size, name, error);
    }
  catch (...)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
                   "%s: DCMTK failed while reading the DICOM file", name);
      return NULL;
    }
}

HlImage *
hl_dicom_load (const char *path, GError **error)
{
  GStatBuf st;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  codecs_init ();
  if (g_stat (path, &st) != 0 || g_access (path, R_OK) != 0)
    {
      int saved = errno;
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: cannot open: %s", path,
                   g_strerror (saved));
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: cannot open: not a regular file",
                   path);
      return NULL;
    }
  return load_file (path, (guint64) st.st_size, path, error);
}

/* Writes @size bytes at @data to @fd; FALSE with errno set on failure. */
static gboolean
write_all (int fd, const guint8 *data, gsize size)
{
  while (size > 0)
    {
      gssize n = write (fd, data, size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      size -= (gsize) n;
    }
  return TRUE;
}

HlImage *
hl_dicom_load_from_data (const guint8 *data, gsize size, const char *name, GError **error)
{
  g_autofree char *tmp_path = NULL;
  HlImage *image;
  int fd, saved;

  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  codecs_init ();
  /* DCMTK allocates an element's declared length before reading it from a memory stream; from a
   * file it defers large values and the length checks in decode() bound them by the file size. So
   * the buffer becomes an anonymous in-memory file (a temporary file where memfd is missing). */
#ifdef __linux__
  fd = memfd_create ("hl-dicom", MFD_CLOEXEC);
  if (fd >= 0)
    tmp_path = g_strdup_printf ("/proc/self/fd/%d", fd);
#else
  fd = -1;
#endif
  if (fd < 0)
    fd = g_file_open_tmp ("hl-dicom-XXXXXX", &tmp_path, NULL);
  if (fd < 0 || !write_all (fd, data, size))
    {
      saved = errno;
      if (fd >= 0)
        close (fd);
      if (tmp_path != NULL && !g_str_has_prefix (tmp_path, "/proc/"))
        g_unlink (tmp_path);
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO,
                   "%s: cannot stage the DICOM data for reading: %s", name, g_strerror (saved));
      return NULL;
    }
  image = load_file (tmp_path, size, name, error);
  close (fd);
  if (!g_str_has_prefix (tmp_path, "/proc/"))
    g_unlink (tmp_path);
  return image;
}
