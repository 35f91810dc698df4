/* hl-dicom.cpp — the thin C++ shim over DCMTK behind hl-dicom.h: walk a DICOM file's element
 * stream before DCMTK parses it (nesting bound, deflated data inflated here with a cap), parse it
 * (dcmdata), check its header before any pixel allocation, decode one frame through DicomImage
 * (dcmimgle, dcmimage for colour, with the dcmjpeg / dcmjpls / RLE codecs), apply the modality and VOI
 * transformations, and hand back an HlImage. No C++ exception crosses into C. */
#include "dcmtk/config/osconfig.h"

#include "dcmtk/dcmdata/dccodec.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmf.h"
#include "dcmtk/dcmdata/dcistrmz.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcstack.h"
#include "dcmtk/dcmdata/dcvr.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmimage/diregist.h" /* colour images (RGB, YBR_*, PALETTE COLOR) in DicomImage */
#include "dcmtk/dcmimgle/dcmimage.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/oflog/oflog.h"

#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <new>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <zlib.h>

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

/* FALSE when the LUT in @item holds fewer entries in its LUT Data than its LUT Descriptor
 * announces (0 meaning 65536; 8-bit entries may be packed two to a 16-bit word): DCMTK would use
 * the entries there are and clamp the rest, flattening the image. Gives both counts. A LUT whose
 * descriptor cannot be read is left to DCMTK. */
static gboolean
lut_complete (DcmItem *item, unsigned long *announced, unsigned long *held)
{
  Uint16 count = 0, bits = 16;
  DcmElement *data = NULL;

  if (item->findAndGetUint16 (DCM_LUTDescriptor, count, 0).bad ()
      || item->findAndGetUint16 (DCM_LUTDescriptor, bits, 2).bad ())
    return TRUE;
  *announced = count == 0 ? 65536 : count;
  *held = 0;
  if (item->findAndGetElement (DCM_LUTData, data).good () && data != NULL)
    *held = data->getLength () / 2 * (bits <= 8 ? 2 : 1);
  return *held >= *announced;
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
  /* Native pixels must all be there: DCMTK renders missing rows black. YBR_*_422 stores two
   * samples per pixel (the chroma of two pixels shared). */
  OFString photometric;
  ds->findAndGetOFString (DCM_PhotometricInterpretation, photometric);
  guint64 samples = spp == 3 && photometric.length () > 4
                            && photometric.compare (photometric.length () - 4, 4, "_422") == 0
                        ? 2 : spp;
  guint64 need = (guint64) rows * cols * samples * (bits_allocated / 8);
  Uint32 have = pixel_data->getLengthField ();
  if (have != DCM_UndefinedLength && have < need)
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
                   "%s: DICOM Pixel Data holds %lu bytes, the image needs %" G_GUINT64_FORMAT
                   " (%u x %u pixels of %u x %u bits)",
                   name, (unsigned long) have, need, (unsigned) cols, (unsigned) rows,
                   (unsigned) spp, (unsigned) bits_allocated);
      return FALSE;
    }
  for (const DcmTagKey &tag : { DCM_RescaleSlope, DCM_RescaleIntercept })
    {
      Float64 value;
      if (ds->findAndGetFloat64 (tag, value).good ()
          && (!std::isfinite (value) || (tag == DCM_RescaleSlope && value == 0)))
        {
          g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
                       "%s: DICOM Rescale %s %g is not usable (it must be finite%s)", name,
                       tag == DCM_RescaleSlope ? "Slope" : "Intercept", value,
                       tag == DCM_RescaleSlope ? " and not 0" : "");
          return FALSE;
        }
    }
  DcmItem *lut = NULL;
  unsigned long announced, held;
  if (ds->findAndGetSequenceItem (DCM_ModalityLUTSequence, lut, 0).good () && lut != NULL
      && !lut_complete (lut, &announced, &held))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
                   "%s: DICOM Modality LUT announces %lu entries, its LUT Data holds %lu", name,
                   announced, held);
      return FALSE;
    }
  *rows_out = rows;
  *cols_out = cols;
  *bits_stored_out = bits_stored;
  return TRUE;
}

/* Chooses the default display window of a monochrome @image (from @ds): the file's first usable
 * window (a finite center and a finite, positive width; a NaN or infinite one would blank the
 * image), else its first VOI LUT with all the entries its descriptor announces, else the min-max
 * of the pixels. */
static void
set_default_voi (DicomImage &image, DcmDataset *ds)
{
  for (unsigned long i = 0; i < image.getWindowCount (); i++)
    {
      Float64 center, width;
      if (ds->findAndGetFloat64 (DCM_WindowCenter, center, i).bad ()
          || ds->findAndGetFloat64 (DCM_WindowWidth, width, i).bad () || !std::isfinite (center)
          || !std::isfinite (width) || width <= 0)
        continue;
      if (image.setWindow (i))
        return;
    }
  for (unsigned long i = 0; i < image.getVoiLutCount (); i++)
    {
      DcmItem *lut = NULL;
      unsigned long announced, held;
      if (ds->findAndGetSequenceItem (DCM_VOILUTSequence, lut, (int) i).good () && lut != NULL
          && lut_complete (lut, &announced, &held) && image.setVoiLut (i))
        return;
    }
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

/* ---- The element walk ----
 *
 * DCMTK's parser recurses once per sequence level, and inflates a deflated dataset into memory
 * with nothing bounding it. So before DCMTK sees a file, its element stream is walked here, without
 * recursion deeper than HL_DICOM_MAX_DEPTH and without keeping any value in memory: the meta group
 * (explicit VR little endian) for the transfer syntax, then the dataset in that syntax (implicit or
 * explicit VR, little or big endian), following defined and undefined lengths, items and their
 * delimiters, and encapsulated pixel fragments. What DCMTK would parse as a sequence is walked as
 * one: an explicit SQ, an element of undefined length (an explicit UN one in implicit VR little
 * endian, PS3.5 6.2.2), and, tried and abandoned if it does not parse, a defined-length implicit or
 * UN value that starts with an item tag (a sequence known to the dictionary or a private one).
 * Refused with HL_STUDY_ERROR_FORMAT: an item nested deeper than HL_DICOM_MAX_DEPTH, more than
 * HL_DICOM_MAX_ELEMENTS elements, an element whose value runs past the end of the data, a
 * sequence holding something other than items. When the transfer syntax is unknown (no meta
 * header, or an unknown UID) DCMTK guesses it: the walk then tries implicit little endian and
 * explicit little and big endian and refuses only what would be too deep or too many in any of
 * them.
 *
 * A deflated dataset (1.2.840.10008.1.2.1.99) is inflated here as the walk reads it (DCMTK's
 * zlib filter, raw deflate after the meta group) into an anonymous in-memory file, and at most
 * HL_DICOM_INFLATE_MARGIN bytes beyond the pixels that the dataset's own Rows, Columns, Samples
 * per Pixel, Bits Allocated and Number of Frames describe (at most the largest image Hilum reads);
 * DCMTK then parses that file as an explicit VR little endian dataset. */

/* Sequence levels: real files nest fewer than 10 (structured reports a few more); DCMTK's
 * recursive reader overflows an 8 MiB stack a few thousand levels down. */
#define HL_DICOM_MAX_DEPTH 64
/* Elements (items and fragments included) in one file: DCMTK keeps about 275 bytes per element
 * (measured on empty items), so this bounds its tree to about 140 MB; real images hold a few
 * thousand. */
#define HL_DICOM_MAX_ELEMENTS 500000
/* What a deflated dataset may hold besides its pixels (overlays, icons, private blobs). */
#define HL_DICOM_INFLATE_MARGIN (16u << 20)
#define HL_DICOM_UNDEFINED G_MAXUINT64

#define HL_DICOM_WINDOW 65536

typedef struct
{
  gboolean explicit_vr, big_endian;
} Syntax;

/* Where the walk reads: @fd, through a window of HL_DICOM_WINDOW bytes; for a deflated dataset
 * @fd is the in-memory file that @inflater fills on demand, up to @cap bytes. */
typedef struct
{
  int fd;
  guint64 size; /* bytes at @fd now */
  guint8 *window;
  guint64 window_offset;
  gsize window_len;
  DcmInputFilter *inflater; /* NULL: @fd is the whole data */
  gboolean inflated_all;
  guint64 cap;
} Stream;

/* What the walk learns of the top-level dataset: the pixels it describes, for the inflation cap. */
typedef struct
{
  guint16 rows, cols, samples, bits_allocated;
  long frames;
} Geometry;

typedef struct
{
  Stream *stream;
  const char *name;
  Geometry geometry;
  guint64 elements;
  gboolean fatal; /* the error is a refusal even inside a tentative sequence */
  GError **error;
} Walk;

/* The pixel bytes @g describes (0 before Rows and Columns are known), at most the largest image
 * Hilum reads. */
static guint64
geometry_bytes (const Geometry *g)
{
  guint64 bytes = (guint64) g->rows * g->cols * MAX (g->samples, 1) * ((g->bits_allocated + 7) / 8)
                  * CLAMP (g->frames, 1, 65536);

  return MIN (bytes, (guint64) HL_IMAGE_MAX_PIXELS * 3 * 2);
}

static gboolean
walk_fail (Walk *w, gboolean fatal, const char *format, ...) G_GNUC_PRINTF (3, 4);

/* Sets the walk's error, "NAME: MESSAGE"; returns FALSE. */
static gboolean
walk_fail (Walk *w, gboolean fatal, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_clear_error (w->error);
  g_set_error (w->error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT, "%s: %s", w->name, message);
  w->fatal = fatal;
  return FALSE;
}

/* Inflates until @s holds @end bytes or the deflated data ends. FALSE, reported, when the data
 * would pass the cap, does not inflate or cannot be staged. */
static gboolean
stream_inflate (Walk *w, guint64 end)
{
  Stream *s = w->stream;
  g_autofree guint8 *chunk = NULL;

  while (s->size < end && !s->inflated_all)
    {
      guint64 cap = HL_DICOM_INFLATE_MARGIN + geometry_bytes (&w->geometry);
      offile_off_t n;

      if (chunk == NULL)
        chunk = (guint8 *) g_malloc (HL_DICOM_WINDOW);
      n = s->inflater->read (chunk, HL_DICOM_WINDOW);
      if (!s->inflater->good ())
        return walk_fail (w, TRUE, "corrupt deflated DICOM data: %s",
                          s->inflater->status ().text ());
      if (n <= 0)
        {
          s->inflated_all = TRUE;
          break;
        }
      if (s->size + (guint64) n > cap)
        return walk_fail (w, TRUE,
                          "deflated DICOM data inflates to more than %" G_GUINT64_FORMAT
                          " bytes, more than its header describes (%u x %u pixels of %u x %u "
                          "bits, %ld frame(s), and %u MiB for the other elements)",
                          cap, (unsigned) w->geometry.cols, (unsigned) w->geometry.rows,
                          (unsigned) MAX (w->geometry.samples, 1),
                          (unsigned) w->geometry.bits_allocated, MAX (w->geometry.frames, 1L),
                          HL_DICOM_INFLATE_MARGIN >> 20);
      if (pwrite (s->fd, chunk, (size_t) n, (off_t) s->size) != (ssize_t) n)
        {
          int saved = errno;
          return walk_fail (w, TRUE, "cannot stage the inflated DICOM data: %s",
                            g_strerror (saved));
        }
      s->size += (guint64) n;
    }
  return TRUE;
}

/* Reads @n (<= HL_DICOM_WINDOW) bytes at @offset into @out. Returns 1, 0 when the data ends
 * first, -1 with the walk's error set. */
static int
stream_read (Walk *w, guint64 offset, void *out, gsize n)
{
  Stream *s = w->stream;

  if (offset > G_MAXUINT64 - n)
    return 0;
  if (s->inflater != NULL && !stream_inflate (w, offset + n))
    return -1;
  if (offset + n > s->size)
    return 0;
  if (offset < s->window_offset || offset + n > s->window_offset + s->window_len)
    {
      gsize want = (gsize) MIN ((guint64) HL_DICOM_WINDOW, s->size - offset);
      gssize got;

      do
        got = pread (s->fd, s->window, want, (off_t) offset);
      while (got < 0 && errno == EINTR);
      if (got < (gssize) n)
        {
          int saved = got < 0 ? errno : EIO;
          walk_fail (w, TRUE, "cannot read: %s", g_strerror (saved));
          return -1;
        }
      s->window_offset = offset;
      s->window_len = (gsize) got;
    }
  memcpy (out, s->window + (offset - s->window_offset), n);
  return 1;
}

/* TRUE when the data holds at least @end bytes (inflating up to there). */
static gboolean
stream_has (Walk *w, guint64 end, gboolean *has)
{
  if (w->stream->inflater != NULL && !stream_inflate (w, end))
    return FALSE;
  *has = end <= w->stream->size;
  return TRUE;
}

static guint16
get16 (const guint8 *p, Syntax syntax)
{
  return syntax.big_endian ? (guint16) (p[0] << 8 | p[1]) : (guint16) (p[1] << 8 | p[0]);
}

static guint32
get32 (const guint8 *p, Syntax syntax)
{
  return syntax.big_endian
             ? (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3]
             : (guint32) p[3] << 24 | (guint32) p[2] << 16 | (guint32) p[1] << 8 | p[0];
}

/* One element's header at some offset: tag, VR (explicit syntaxes) and length. */
typedef struct
{
  guint16 group, element;
  char vr[3];
  guint32 length;
  guint64 value; /* offset of the value */
} Header;

/* Reads the element header at @offset. Returns 1, 0 at the end of the data, -1 on error (a
 * header cut by the end of the data is an error). */
static int
read_header (Walk *w, guint64 offset, Syntax syntax, Header *h)
{
  guint8 b[12];
  int r = stream_read (w, offset, b, 8);
  gboolean has;

  if (r < 0)
    return -1;
  if (r == 0)
    {
      if (!stream_has (w, offset + 1, &has))
        return -1;
      if (!has)
        return 0;
      walk_fail (w, FALSE, "DICOM data ends inside the element header at offset %" G_GUINT64_FORMAT,
                 offset);
      return -1;
    }
  h->group = get16 (b, syntax);
  h->element = get16 (b + 2, syntax);
  h->vr[0] = '\0';
  h->length = get32 (b + 4, syntax);
  h->value = offset + 8;
  if (syntax.explicit_vr && h->group != 0xfffe)
    {
      h->vr[0] = (char) b[4];
      h->vr[1] = (char) b[5];
      h->vr[2] = '\0';
      h->length = get16 (b + 6, syntax);
      if (DcmVR (h->vr).usesExtendedLengthEncoding ())
        {
          r = stream_read (w, offset + 8, b + 8, 4);
          if (r == 0)
            walk_fail (w, FALSE, "DICOM data ends inside the header of element (%04x,%04x)",
                       h->group, h->element);
          if (r <= 0)
            return -1;
          h->length = get32 (b + 8, syntax);
          h->value = offset + 12;
        }
    }
  if (++w->elements > HL_DICOM_MAX_ELEMENTS)
    {
      walk_fail (w, TRUE, "DICOM file with more than %d elements", HL_DICOM_MAX_ELEMENTS);
      return -1;
    }
  return 1;
}

/* Reads the next element header, at @offset, of a @container that ends at @end (undefined: at a
 * delimiter or the end of the data). Returns 1, 0 when the end of the data closes the container,
 * -1 on error (the data ending inside a container of defined length is one). */
static int
next_header (Walk *w, guint64 offset, guint64 end, Syntax syntax, const char *container,
             Header *h)
{
  int r = read_header (w, offset, syntax, h);

  if (r == 0 && end != HL_DICOM_UNDEFINED)
    {
      walk_fail (w, FALSE, "DICOM data ends inside %s", container);
      return -1;
    }
  return r;
}

static gboolean walk_sequence (Walk *w, guint64 offset, guint64 end, Syntax syntax, int depth,
                               guint64 *after);

/* Walks the elements of a dataset or item at @depth from @offset: to @end when defined, else to an
 * item delimitation or the end of the data. Gives the offset after them in @after. */
static gboolean
walk_elements (Walk *w, guint64 offset, guint64 end, Syntax syntax, int depth, guint64 *after)
{
  const Syntax implicit_le = { FALSE, FALSE }; /* the inside of an explicit UN sequence */
  Header h;

  while (end == HL_DICOM_UNDEFINED || offset < end)
    {
      int r = next_header (w, offset, end, syntax, "an item", &h);
      gboolean has = FALSE;

      if (r < 0)
        return FALSE;
      if (r == 0)
        break; /* the end of the data closes every open item */
      if (h.group == 0xfffe)
        {
          offset = h.value;
          if (h.element == 0xe00d && end == HL_DICOM_UNDEFINED && depth > 0)
            break;
          if (h.element == 0xe00d || h.element == 0xe0dd)
            continue; /* a stray delimiter, as DCMTK skips it */
          return walk_fail (w, FALSE, "DICOM item (fffe,%04x) outside a sequence", h.element);
        }
      if (depth == 0 && h.group == 0x0028 && h.length == 2
          && (h.element == 0x0002 || h.element == 0x0010 || h.element == 0x0011
              || h.element == 0x0100))
        {
          guint8 v[2];
          if ((r = stream_read (w, h.value, v, 2)) < 0)
            return FALSE;
          guint16 value = r > 0 ? get16 (v, syntax) : 0;
          if (h.element == 0x0002)
            w->geometry.samples = value;
          else if (h.element == 0x0010)
            w->geometry.rows = value;
          else if (h.element == 0x0011)
            w->geometry.cols = value;
          else
            w->geometry.bits_allocated = value;
        }
      else if (depth == 0 && h.group == 0x0028 && h.element == 0x0008 && h.length > 0
               && h.length <= 12)
        {
          char v[13] = { 0 };
          if ((r = stream_read (w, h.value, v, h.length)) < 0)
            return FALSE;
          w->geometry.frames = r > 0 ? strtol (v, NULL, 10) : 0;
        }
      if (h.length == DCM_UndefinedLength)
        {
          Syntax inner = syntax;
          if (h.group == 0x7fe0 && h.element == 0x0010)
            {
              if (!walk_sequence (w, h.value, HL_DICOM_UNDEFINED, syntax, -1, &offset))
                return FALSE;
              continue;
            }
          if (syntax.explicit_vr && strcmp (h.vr, "UN") == 0)
            inner = implicit_le;
          if (!walk_sequence (w, h.value, HL_DICOM_UNDEFINED, inner, depth, &offset))
            return FALSE;
          continue;
        }
      if (!stream_has (w, h.value + h.length, &has))
        return FALSE;
      if (!has || (end != HL_DICOM_UNDEFINED && h.value + h.length > end))
        return walk_fail (w, FALSE,
                          "DICOM element (%04x,%04x) claims %lu bytes, more than the %s holds",
                          h.group, h.element, (unsigned long) h.length,
                          has ? "item around it" : "file");
      if (syntax.explicit_vr && strcmp (h.vr, "SQ") == 0)
        {
          if (!walk_sequence (w, h.value, h.value + h.length, syntax, depth, &offset))
            return FALSE;
        }
      else if ((!syntax.explicit_vr || strcmp (h.vr, "UN") == 0) && h.length >= 8)
        {
          guint8 first[4];
          Syntax inner = syntax.explicit_vr ? implicit_le : syntax;
          if ((r = stream_read (w, h.value, first, 4)) < 0)
            return FALSE;
          if (get16 (first, inner) == 0xfffe && get16 (first + 2, inner) == 0xe000
              && !walk_sequence (w, h.value, h.value + h.length, inner, depth, &offset))
            {
              if (w->fatal)
                return FALSE;
              g_clear_error (w->error); /* not a sequence after all: DCMTK keeps the bytes */
            }
        }
      offset = h.value + h.length;
    }
  *after = offset;
  return TRUE;
}

/* Walks the items of a sequence in an item or dataset at @depth (-1: the fragments of
 * encapsulated pixel data, which cannot nest), from @offset to @end when defined, else to a
 * sequence delimitation or the end of the data. */
static gboolean
walk_sequence (Walk *w, guint64 offset, guint64 end, Syntax syntax, int depth, guint64 *after)
{
  Syntax items = { FALSE, syntax.big_endian }; /* item tags carry no VR */
  Header h;

  if (depth + 1 > HL_DICOM_MAX_DEPTH)
    return walk_fail (w, TRUE, "DICOM sequences nest more than %d levels deep (at offset %"
                      G_GUINT64_FORMAT ")", HL_DICOM_MAX_DEPTH, offset);
  while (end == HL_DICOM_UNDEFINED || offset < end)
    {
      int r = next_header (w, offset, end, items, "a sequence", &h);
      gboolean has = FALSE;

      if (r < 0)
        return FALSE;
      if (r == 0)
        break;
      offset = h.value;
      if (h.group == 0xfffe && h.element == 0xe0dd)
        {
          if (end == HL_DICOM_UNDEFINED)
            break;
          continue;
        }
      if (h.group == 0xfffe && h.element == 0xe00d)
        continue;
      if (h.group != 0xfffe || h.element != 0xe000)
        return walk_fail (w, FALSE, "DICOM sequence holds (%04x,%04x) where an item belongs",
                          h.group, h.element);
      if (h.length == DCM_UndefinedLength)
        {
          if (depth < 0)
            return walk_fail (w, FALSE, "DICOM pixel fragment of undefined length");
          if (!walk_elements (w, h.value, HL_DICOM_UNDEFINED, syntax, depth + 1, &offset))
            return FALSE;
          continue;
        }
      if (!stream_has (w, h.value + h.length, &has))
        return FALSE;
      if (!has || (end != HL_DICOM_UNDEFINED && h.value + h.length > end))
        return walk_fail (w, FALSE, "DICOM item claims %lu bytes, more than the %s holds",
                          (unsigned long) h.length, has ? "sequence around it" : "file");
      if (depth >= 0 && !walk_elements (w, h.value, h.value + h.length, syntax, depth + 1, &offset))
        return FALSE;
      offset = h.value + h.length;
    }
  *after = offset;
  return TRUE;
}

/* Creates an anonymous in-memory file (memfd; a temporary file where memfd is missing) and gives
 * a path DCMTK can open it by in @path_out. Returns its descriptor, or -1 with errno set. */
static int
stage_open (char **path_out)
{
  int fd = -1;

  *path_out = NULL;
#ifdef __linux__
  fd = memfd_create ("hl-dicom", MFD_CLOEXEC);
  if (fd >= 0)
    *path_out = g_strdup_printf ("/proc/self/fd/%d", fd);
#endif
  if (fd < 0)
    fd = g_file_open_tmp ("hl-dicom-XXXXXX", path_out, NULL);
  return fd;
}

/* Closes what stage_open() made; @path is freed. */
static void
stage_close (int fd, char *path)
{
  if (fd >= 0)
    close (fd);
  if (path != NULL && !g_str_has_prefix (path, "/proc/"))
    g_unlink (path);
  g_free (path);
}

/* Walks the meta group of @w's stream from @offset (after the preamble): gives the transfer
 * syntax UID (empty when absent) and the offset of the dataset. */
static gboolean
walk_meta (Walk *w, guint64 offset, char uid[65], guint64 *dataset, guint64 *other)
{
  const Syntax meta = { TRUE, FALSE };
  Header h;
  guint8 group[2];
  int r;

  guint64 group_end = 0; /* where (0002,0000) says the group ends; 0: no group length */

  uid[0] = '\0';
  /* DCMTK reads meta elements while its group length lasts, whatever their group (a fuzzed
   * file hid the deflated syntax's UID behind a (000d,0001) element; DCMTK then inflated what
   * this walk had not), and group 0002 elements where there is none */
  while ((r = stream_read (w, offset, group, 2)) > 0
         && (get16 (group, meta) == 0x0002 || (group_end != 0 && offset < group_end)))
    {
      gboolean has = FALSE;
      if (read_header (w, offset, meta, &h) <= 0)
        return walk_fail (w, FALSE, "DICOM meta header cut short");
      if (h.length == DCM_UndefinedLength || !stream_has (w, h.value + h.length, &has) || !has)
        return w->fatal ? FALSE : walk_fail (w, FALSE, "DICOM meta element (0002,%04x) claims "
                                             "more bytes than the file holds", h.element);
      if (h.element == 0x0010 && h.length < 65)
        {
          if (stream_read (w, h.value, uid, h.length) < 0)
            return FALSE;
          uid[h.length] = '\0';
          for (int i = (int) h.length - 1; i >= 0 && (uid[i] == '\0' || uid[i] == ' '); i--)
            uid[i] = '\0';
        }
      if (h.element == 0x0000 && h.length == 4 && group_end == 0)
        {
          guint8 v[4];
          if (stream_read (w, h.value, v, 4) < 0)
            return FALSE;
          group_end = h.value + 4 + ((guint64) v[0] | (guint64) v[1] << 8 | (guint64) v[2] << 16
                                     | (guint64) v[3] << 24);
        }
      offset = h.value + h.length;
    }
  /* DCMTK may end the meta group where its group length says and read on in the dataset's
   * syntax: when that disagrees with where the elements end, the caller walks the dataset from
   * there too, so that no reading of the file escapes the limits (a sequence nested 300,000 deep
   * hidden in a meta element's value overflowed DCMTK's stack) */
  *dataset = offset;
  *other = group_end != 0 && group_end != offset ? group_end : 0;
  return r >= 0;
}

/* Whether the deflated data at @offset of @fd (to the end of the file, @file_size) is one whole
 * deflate stream (raw, as DICOM says, or zlib-wrapped, which DCMTK also reads) that ends with its
 * final block and inflates to exactly @inflated bytes. DCMTK's filter cannot tell a stream cut
 * short from one that ended, and a file cut a few bytes before its end can still hold the whole
 * dataset; such a file is truncated all the same. The output is counted, not kept, and the pass
 * stops past @inflated, so it costs what the walk's inflation did. */
static gboolean
deflate_complete (int fd, guint64 offset, guint64 file_size, guint64 inflated)
{
  const int window_bits[2] = { -15, 15 };
  g_autofree guint8 *in = (guint8 *) g_malloc (HL_DICOM_WINDOW);
  g_autofree guint8 *out = (guint8 *) g_malloc (HL_DICOM_WINDOW);

  for (int attempt = 0; attempt < 2; attempt++)
    {
      z_stream z = {};
      guint64 at = offset;
      int rc = Z_OK;

      if (inflateInit2 (&z, window_bits[attempt]) != Z_OK)
        return FALSE;
      while (rc == Z_OK && z.total_out <= inflated)
        {
          if (z.avail_in == 0)
            {
              ssize_t n = at < file_size
                              ? pread (fd, in, (size_t) MIN ((guint64) HL_DICOM_WINDOW,
                                                             file_size - at), (off_t) at)
                              : 0;
              if (n <= 0)
                break;
              at += (guint64) n;
              z.next_in = in;
              z.avail_in = (uInt) n;
            }
          z.next_out = out;
          z.avail_out = HL_DICOM_WINDOW;
          rc = inflate (&z, Z_NO_FLUSH);
          if (rc == Z_BUF_ERROR)
            rc = Z_OK; /* no progress this round: more input is read above */
        }
      gboolean whole = rc == Z_STREAM_END && z.total_out == inflated;
      inflateEnd (&z);
      if (whole)
        return TRUE;
    }
  return FALSE;
}

/* Walks the DICOM file @file_path (open as @fd, @size bytes) before DCMTK parses it, as the top of
 * this section says. A deflated dataset comes back inflated in a new in-memory file, open as
 * *@inflated_fd with its path in *@inflated_path (free both with stage_close()) and its size in
 * *@inflated_size; otherwise *@inflated_fd is -1. */
static gboolean
prewalk (int fd, guint64 size, const char *file_path, const char *name, int *inflated_fd,
         char **inflated_path, guint64 *inflated_size, GError **error)
{
  g_autofree guint8 *window = (guint8 *) g_malloc (HL_DICOM_WINDOW);
  Stream file = { fd, size, window, 0, 0, NULL, FALSE, 0 };
  Walk w = { &file, name, { 0, 0, 0, 0, 0 }, 0, FALSE, error };
  char uid[65], magic[4];
  guint64 offset = 0, other = 0, end;

  *inflated_fd = -1;
  *inflated_path = NULL;
  if (stream_read (&w, 128, magic, 4) > 0 && memcmp (magic, "DICM", 4) == 0)
    offset = 132;
  if (!walk_meta (&w, offset, uid, &offset, &other))
    return FALSE;

  DcmXfer xfer (uid);
  const Syntax guesses[3] = { { FALSE, FALSE }, { TRUE, FALSE }, { TRUE, TRUE } };
  Syntax syntax = { xfer.isExplicitVR (), xfer.isBigEndian () };
  gboolean unknown = uid[0] == '\0' || xfer.getXfer () == EXS_Unknown;
  /* Readings DCMTK might take besides the main one, each held to the limits but allowed to fail
   * to parse (DCMTK would not read the file that way then): every plausible syntax when the
   * file names none, and the dataset from where the meta group length says it starts (with the
   * bytes between read as meta elements, explicit VR little endian) when that differs. */
  for (int i = 0; i < 5; i++)
    {
      guint64 start = i < 3 ? offset : other;
      if ((i < 3 && !unknown) || (i >= 3 && other == 0))
        continue;
      Syntax how = i < 3 ? guesses[i] : i == 3 ? syntax : guesses[1];
      guint64 length = HL_DICOM_UNDEFINED;
      if (i == 4)
        {
          if (other < offset)
            continue;
          start = offset;
          length = other - offset;
        }
      w.elements = 0;
      if (!walk_elements (&w, start, length, how, 0, &end))
        {
          if (w.fatal)
            return FALSE;
          g_clear_error (error);
        }
    }
  w.elements = 0;
  if (unknown)
    return TRUE;
  if (xfer.getStreamCompression () != ESC_zlib)
    return walk_elements (&w, offset, HL_DICOM_UNDEFINED, syntax, 0, &end);
  if (other != 0)
    return walk_fail (&w, TRUE, "deflated DICOM file whose meta group length disagrees with "
                      "where its elements end");

  DcmFileProducer producer (file_path, (offile_off_t) offset);
  DcmZLibInputFilter inflater;
  g_autofree guint8 *inflated_window = (guint8 *) g_malloc (HL_DICOM_WINDOW);
  Stream inflated = { -1, 0, inflated_window, 0, 0, &inflater, FALSE, 0 };

  if (!producer.good ())
    return walk_fail (&w, TRUE, "cannot read: %s", producer.status ().text ());
  inflater.append (producer);
  inflated.fd = stage_open (inflated_path);
  if (inflated.fd < 0)
    {
      int saved = errno;
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO,
                   "%s: cannot stage the inflated DICOM data: %s", name, g_strerror (saved));
      stage_close (-1, *inflated_path);
      *inflated_path = NULL;
      return FALSE;
    }
  w.stream = &inflated;
  if (!walk_elements (&w, 0, HL_DICOM_UNDEFINED, syntax, 0, &end))
    {
      stage_close (inflated.fd, *inflated_path);
      *inflated_path = NULL;
      return FALSE;
    }
  if (!deflate_complete (fd, offset, size, inflated.size))
    {
      stage_close (inflated.fd, *inflated_path);
      *inflated_path = NULL;
      return walk_fail (&w, TRUE, "truncated deflated DICOM data: the deflate stream does not "
                                  "end where the file does");
    }
  *inflated_fd = inflated.fd;
  *inflated_size = inflated.size;
  return TRUE;
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
    set_default_voi (decoded, ds);
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

/* Walks the DICOM file at @file_path (@file_size bytes), parses it (large values stay in the file
 * until needed; a deflated dataset is parsed from its inflated copy) and decodes it; @name is what
 * messages and the image call it. */
static HlImage *
load_file (const char *file_path, guint64 file_size, const char *name, GError **error)
{
  /* never blocking: a FIFO swapped in after the sniff is refused below, not waited on */
  int fd = open (file_path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  int inflated_fd = -1;
  char *inflated_path = NULL;
  guint64 inflated_size = 0;
  HlImage *image = NULL;

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: cannot open: %s", name,
                   g_strerror (saved));
      return NULL;
    }
  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO, "%s: not a regular file", name);
      close (fd);
      return NULL;
    }
  try
    {
      if (prewalk (fd, file_size, file_path, name, &inflated_fd, &inflated_path, &inflated_size,
                   error))
        {
          DcmFileFormat file;
          OFCondition cond = inflated_fd < 0
                                 ? file.loadFile (file_path)
                                 : file.loadFile (inflated_path, EXS_LittleEndianExplicit,
                                                  EGL_noChange, DCM_MaxReadLength, ERM_dataset);
          if (cond.bad ())
            g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
                         "%s: not a readable DICOM file: %s", name, cond.text ());
          else
            image = decode_guarded (file, inflated_fd < 0 ? file_size : inflated_size, name,
                                    error);
        }
    }
  catch (...)
    {
      g_clear_error (error);
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_FORMAT,
                   "%s: DCMTK failed while reading the DICOM file", name);
      image = NULL;
    }
  close (fd);
  if (inflated_fd >= 0)
    stage_close (inflated_fd, inflated_path);
  return image;
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
  char *tmp_path = NULL;
  HlImage *image;
  int fd, saved;

  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  codecs_init ();
  /* DCMTK allocates an element's declared length before reading it from a memory stream; from a
   * file it defers large values and the walk bounds them by the file size. So the buffer becomes
   * an anonymous in-memory file. */
  fd = stage_open (&tmp_path);
  if (fd < 0 || !write_all (fd, data, size))
    {
      saved = errno;
      stage_close (fd, tmp_path);
      g_set_error (error, HL_STUDY_ERROR, HL_STUDY_ERROR_IO,
                   "%s: cannot stage the DICOM data for reading: %s", name, g_strerror (saved));
      return NULL;
    }
  image = load_file (tmp_path, size, name, error);
  stage_close (fd, tmp_path);
  return image;
}
