/* hl-study.h — a study folder: the images found in it (by content, recursively), grouped by
 * patient and ordered for current-versus-prior reading, with the label files found at its top.
 *
 * Scanning is fast and read-only: a PNG is only sniffed (its first bytes) and decoded later on
 * demand with hl_study_image_load(); a DICOM file is decoded once during the scan, because its
 * patient id and study date are inside it (the pixels are dropped at once). With
 * HL_STUDY_OPEN_VERIFY every image is decoded during the scan so that decode failures are known
 * up front (what `hilum-cli check` does). Nothing is ever written to the folder.
 */
#pragma once

#include "hl-image.h"
#include "hl-labels.h"

G_BEGIN_DECLS

/* Folders nested deeper than this below the study folder are not scanned by default. */
#define HL_STUDY_DEFAULT_MAX_DEPTH 8

/* The most folder entries (files, folders, links, hidden or not) a scan reads, whatever the depth:
 * past it the scan stops, says so in the warnings and sets HlStudy.incomplete. NIH's whole
 * ChestX-ray14 release (112,120 images in 12 folders) fits. */
#define HL_STUDY_MAX_ENTRIES 200000

typedef enum
{
  HL_STUDY_OPEN_NONE = 0,
  HL_STUDY_OPEN_VERIFY = 1 << 0, /* decode every image during the scan, recording failures */
} HlStudyOpenFlags;

typedef struct
{
  char *path;           /* the file: the study folder joined with relative_path */
  char *relative_path;  /* '/'-separated, relative to the study folder */
  HlImageFormat format; /* by content; meaningless when the content is not an image (error set) */
  char *patient_id;     /* never NULL: DICOM Patient ID, else NIH <patient>_<follow-up>.png (leading
                         * zeros dropped), else the name of the folder holding the file */
  char *study_date;     /* YYYYMMDD from DICOM; NULL if unknown */
  int follow_up;        /* from the NIH name; -1 if unknown */
  GError *error;        /* why it cannot be decoded, when known: a file named like an image
                         * (.png, .dcm, .dicom) whose content is not one, a DICOM file that failed,
                         * or with HL_STUDY_OPEN_VERIFY any failure; NULL otherwise */
  const HlLabelRow *labels; /* its row in a label file of the folder, or NULL (borrowed) */
} HlStudyImage;

typedef struct
{
  char *patient_id;
  GPtrArray *images; /* (HlStudyImage *, borrowed from HlStudy.images): by study date (unknown
                      * last), then follow-up (unknown last), then relative path — oldest first,
                      * so the last image is the current one */
} HlStudyPatient;

typedef struct
{
  char *folder;           /* as given */
  GPtrArray *images;      /* (HlStudyImage *, owned): patient by patient, each in reading order */
  GPtrArray *patients;    /* (HlStudyPatient *, owned), patient ids in natural order */
  GPtrArray *label_sets;  /* (HlLabelSet *, owned): *.csv / *.csv.gz at the top of the folder
                           * that read as label files */
  GPtrArray *warnings;    /* (char *): folders skipped (too deep, loop, unreadable), label files
                           * refused, label-file warnings */
  guint n_failed;         /* images whose error is set */
  guint n_other_files;    /* files that are neither images nor label files */
  guint n_links_outside;  /* symbolic links resolving outside the folder, not followed */
  gboolean incomplete;    /* the scan stopped at HL_STUDY_MAX_ENTRIES (a warning says how much
                           * was left unread) */
} HlStudy;

/* Scans @folder, descending at most @max_depth folders below it (0: only its own files) and
 * reading at most HL_STUDY_MAX_ENTRIES entries in all. Symbolic links are followed only when
 * their real path (realpath) is @folder's real path or below it; a link that leaves it (to `/`,
 * `..` of the folder, another disk) is warned about and counted in n_links_outside. No folder is
 * entered twice (folders are identified by device and inode, so link loops end) and a file reached
 * twice is listed once. Only regular files are opened, never blocking (hl_image_sniff). Images
 * are matched to label rows by relative path, then by file name. Returns a new study, or NULL
 * with @error (HL_STUDY_ERROR_IO: @folder cannot be read or is not a folder;
 * G_IO_ERROR_CANCELLED). Unreadable files and subfolders are listed (error) or warned about, and
 * a scan stopped at the cap sets incomplete, never fatal. */
HlStudy *hl_study_open (const char *folder, guint max_depth, HlStudyOpenFlags flags,
                        GCancellable *cancellable, GError **error);

/* Decodes @entry (thread-safe: @entry is only read). The image's patient_id is filled from
 * @entry when the file carries none. Returns a new image or NULL with @error; an entry whose error
 * is already known returns a copy of it. */
HlImage *hl_study_image_load (const HlStudyImage *entry, GError **error);

/* The patient @patient_id of @study, or NULL (borrowed). */
const HlStudyPatient *hl_study_find_patient (const HlStudy *study, const char *patient_id);

/* Frees @study and everything it owns; NULL is allowed. */
void hl_study_free (HlStudy *study);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlStudy, hl_study_free)

G_END_DECLS
