/* dicom-writer.cpp — test-only DICOM writer over DCMTK, see dicom-writer.h. Builds a dataset
 * attribute by attribute, encodes the pixels in the requested transfer syntax with DCMTK's
 * encoders (registered once) and saves it. */
#include "dcmtk/config/osconfig.h"

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcrleerg.h"
#include "dcmtk/dcmdata/dcrlerp.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmjpeg/djencode.h"
#include "dcmtk/dcmjpeg/djrplol.h"
#include "dcmtk/dcmjpeg/djrploss.h"

#include <gio/gio.h>

extern "C" {
#include "dicom-writer.h"
}

static void
encoders_init (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      DJEncoderRegistration::registerCodecs ();
      DcmRLEEncoderRegistration::registerCodecs ();
      g_once_init_leave (&done, 1);
    }
}

static gboolean
check (OFCondition cond, const char *what, GError **error)
{
  if (cond.good ())
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "DICOM test writer: %s: %s", what,
               cond.text ());
  return FALSE;
}

static OFCondition
put_pixels (DcmDataset *ds, const HlTestDicomSpec *spec)
{
  gsize n = (gsize) spec->width * spec->height * spec->samples * spec->frames;

  if (spec->bits_stored <= 8)
    {
      g_autofree Uint8 *bytes = g_new (Uint8, n);
      for (gsize i = 0; i < n; i++)
        bytes[i] = (Uint8) spec->pixels[i];
      return ds->putAndInsertUint8Array (DCM_PixelData, bytes, (unsigned long) n);
    }
  return ds->putAndInsertUint16Array (DCM_PixelData, spec->pixels, (unsigned long) n);
}

static OFCondition
put_lut (DcmDataset *ds, const HlTestDicomSpec *spec)
{
  DcmItem *item = NULL;
  Uint16 descriptor[3] = { (Uint16) spec->voi_lut_entries, (Uint16) spec->voi_lut_first,
                           (Uint16) spec->voi_lut_bits };
  int data_entries = spec->voi_lut_data_entries > 0 ? spec->voi_lut_data_entries
                                                    : spec->voi_lut_entries;
  OFCondition cond = ds->findOrCreateSequenceItem (spec->modality_lut ? DCM_ModalityLUTSequence
                                                                      : DCM_VOILUTSequence,
                                                   item, -2);

  if (cond.good ())
    cond = item->putAndInsertUint16Array (DCM_LUTDescriptor, descriptor, 3);
  if (cond.good () && spec->modality_lut)
    cond = item->putAndInsertString (DCM_ModalityLUTType, "US");
  if (cond.good ())
    cond = item->putAndInsertUint16Array (DCM_LUTData, spec->voi_lut, (unsigned long) data_entries);
  return cond;
}

/* @levels Content Sequences, each the only element of the item of the one above it; the innermost
 * item holds a Value Type. */
static OFCondition
put_nesting (DcmDataset *ds, int levels)
{
  DcmItem *parent = ds;
  OFCondition cond = EC_Normal;

  for (int i = 0; i < levels && cond.good (); i++)
    {
      DcmItem *item = NULL;
      cond = parent->findOrCreateSequenceItem (DCM_ContentSequence, item, -2);
      parent = item;
    }
  if (cond.good ())
    cond = parent->putAndInsertString (DCM_ValueType, "TEXT");
  return cond;
}

static OFCondition
build (DcmDataset *ds, const HlTestDicomSpec *spec)
{
  char uid[100];
  int allocated = spec->bits_stored <= 8 ? 8 : 16;
  const char *photometric = spec->photometric != NULL ? spec->photometric
                            : spec->samples == 3    ? "RGB"
                                                    : "MONOCHROME2";
  OFCondition cond = EC_Normal;

  cond = ds->putAndInsertString (DCM_SOPClassUID, UID_DigitalXRayImageStorageForPresentation);
  if (cond.good ())
    cond = ds->putAndInsertString (DCM_SOPInstanceUID,
                                   dcmGenerateUniqueIdentifier (uid, SITE_INSTANCE_UID_ROOT));
  if (cond.good ())
    cond = ds->putAndInsertString (DCM_Modality, "DX");
  if (cond.good () && spec->patient_id != NULL)
    cond = ds->putAndInsertString (DCM_PatientID, spec->patient_id);
  if (cond.good () && spec->study_date != NULL)
    cond = ds->putAndInsertString (DCM_StudyDate, spec->study_date);
  if (cond.good () && spec->view_position != NULL)
    cond = ds->putAndInsertString (DCM_ViewPosition, spec->view_position);
  if (cond.good () && spec->pixel_spacing[0] > 0)
    {
      g_autofree char *s = g_strdup_printf ("%g\\%g", spec->pixel_spacing[0],
                                            spec->pixel_spacing[1]);
      cond = ds->putAndInsertString (spec->imager_spacing ? DCM_ImagerPixelSpacing
                                                          : DCM_PixelSpacing, s);
    }
  if (cond.good ())
    cond = ds->putAndInsertUint16 (DCM_SamplesPerPixel, (Uint16) spec->samples);
  if (cond.good ())
    cond = ds->putAndInsertString (DCM_PhotometricInterpretation, photometric);
  if (cond.good () && spec->samples == 3)
    cond = ds->putAndInsertUint16 (DCM_PlanarConfiguration, 0);
  if (cond.good () && spec->frames > 1)
    {
      g_autofree char *s = g_strdup_printf ("%d", spec->frames);
      cond = ds->putAndInsertString (DCM_NumberOfFrames, s);
    }
  if (cond.good ())
    cond = ds->putAndInsertUint16 (DCM_Rows, (Uint16) spec->height);
  if (cond.good ())
    cond = ds->putAndInsertUint16 (DCM_Columns, (Uint16) spec->width);
  if (cond.good ())
    cond = ds->putAndInsertUint16 (DCM_BitsAllocated, (Uint16) allocated);
  if (cond.good ())
    cond = ds->putAndInsertUint16 (DCM_BitsStored, (Uint16) spec->bits_stored);
  if (cond.good ())
    cond = ds->putAndInsertUint16 (DCM_HighBit, (Uint16) (spec->bits_stored - 1));
  if (cond.good ())
    cond = ds->putAndInsertUint16 (DCM_PixelRepresentation, 0);
  if (cond.good () && spec->has_rescale)
    {
      g_autofree char *slope = g_strdup_printf ("%g", spec->slope);
      g_autofree char *intercept = g_strdup_printf ("%g", spec->intercept);
      cond = ds->putAndInsertString (DCM_RescaleSlope, slope);
      if (cond.good ())
        cond = ds->putAndInsertString (DCM_RescaleIntercept, intercept);
    }
  if (cond.good () && spec->has_window)
    {
      g_autofree char *center = g_strdup_printf ("%g", spec->window_center);
      g_autofree char *width = g_strdup_printf ("%g", spec->window_width);
      cond = ds->putAndInsertString (DCM_WindowCenter, center);
      if (cond.good ())
        cond = ds->putAndInsertString (DCM_WindowWidth, width);
    }
  if (cond.good () && spec->voi_lut != NULL)
    cond = put_lut (ds, spec);
  if (cond.good () && spec->nesting > 0)
    cond = put_nesting (ds, spec->nesting);
  if (cond.good () && spec->pixels != NULL)
    cond = put_pixels (ds, spec);
  return cond;
}

gboolean
hl_test_dicom_write (const HlTestDicomSpec *spec, const char *path, GError **error)
{
  DcmFileFormat file;
  DcmDataset *ds = file.getDataset ();
  E_TransferSyntax xfer = EXS_LittleEndianExplicit;
  DJ_RPLossless lossless;
  DJ_RPLossy lossy (95);
  DcmRLERepresentationParameter rle;
  const DcmRepresentationParameter *params = NULL;

  g_return_val_if_fail (spec != NULL && path != NULL, FALSE);
  g_return_val_if_fail (spec->samples == 1 || spec->samples == 3, FALSE);
  g_return_val_if_fail (spec->bits_stored >= 8 && spec->bits_stored <= 16, FALSE);
  g_return_val_if_fail (spec->frames >= 1, FALSE);

  encoders_init ();
  if (!check (build (ds, spec), "building the dataset", error))
    return FALSE;
  switch (spec->syntax)
    {
    case HL_TEST_DICOM_EXPLICIT_LE:
      break;
    case HL_TEST_DICOM_JPEG_LOSSLESS:
      xfer = EXS_JPEGProcess14SV1;
      params = &lossless;
      break;
    case HL_TEST_DICOM_JPEG_BASELINE:
      xfer = EXS_JPEGProcess1;
      params = &lossy;
      break;
    case HL_TEST_DICOM_RLE:
      xfer = EXS_RLELossless;
      params = &rle;
      break;
    case HL_TEST_DICOM_IMPLICIT_LE:
      xfer = EXS_LittleEndianImplicit;
      break;
    case HL_TEST_DICOM_DEFLATED:
      xfer = EXS_DeflatedLittleEndianExplicit;
      break;
    }
  if (params != NULL && spec->pixels != NULL)
    {
      if (!check (ds->chooseRepresentation (xfer, params), "encoding the pixels", error))
        return FALSE;
      if (!ds->canWriteXfer (xfer))
        return check (EC_CannotChangeRepresentation, "encoding the pixels", error);
    }
  return check (file.saveFile (path, xfer,
                               spec->undefined_lengths ? EET_UndefinedLength : EET_ExplicitLength),
                "saving", error);
}

gboolean
hl_test_dicom_convert (const char *src, const char *dst, GError **error)
{
  DcmFileFormat file;

  g_return_val_if_fail (src != NULL && dst != NULL, FALSE);

  return check (file.loadFile (src), "reading", error)
         && check (file.getDataset ()->chooseRepresentation (EXS_LittleEndianExplicit, NULL),
                   "decoding", error)
         && check (file.saveFile (dst, EXS_LittleEndianExplicit), "saving", error);
}
