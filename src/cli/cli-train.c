/* cli-train.c — `hilum-cli train`: trains a DenseNet on notebook-layout label CSVs with the engine's
 * training API (hl-train.h) and writes a Hilum model file with complete metadata.
 *
 * What it does, in order: reads the training and validation CSVs, refuses patients present in
 * both (unless --allow-leakage); decodes every image once (training images kept at a working
 * side a little above the input side, validation images preprocessed once from the full plane, as
 * inference does), reporting and leaving out each image that cannot be read; prints the class
 * frequencies of the images used and the class-balanced loss weights derived from them; then per
 * epoch: shuffles, augments each image (hl-augment.h) and preprocesses it
 * with hl_model_preprocess(), steps the optimiser over mini-batches, evaluates the validation
 * AUROC per label, and checkpoints (parameters, running statistics, optimiser state, random state,
 * epoch), each file written atomically. A run killed at any point and started again with --resume
 * continues from the last finished epoch and ends with the same bytes as an uninterrupted run. The
 * state file (hl-checkpoint.h) carries a SHA-256 of its content and of the model files it goes
 * with: a resumed run refuses a changed byte in any of them, and a state that does not fit it.
 * The epoch with the best mean validation AUROC is kept (the last one with --keep-last, for a final
 * fit whose training CSV includes the validation images); its operating thresholds are chosen on
 * the validation split by Youden's J.
 *
 * With --init MODEL the run starts from any Hilum model file (hl_model_new_transfer: its
 * architecture, input, whole preprocessing and features, its classifier rows for the labels it
 * names); --freeze trains only what is above a module (hl_train_net_new_frozen) and
 * --backbone-lr-scale steps the rest with a scaled rate. Training images then keep the geometry of
 * the model's crop in their working plane, and without augmentation are preprocessed from the
 * full plane exactly as inference does. All of it enters the resume check and the model's
 * training description.
 *
 * Deterministic for a given seed, whatever --threads (the engine's results do not depend on the
 * thread count): nothing in any written file depends on time, the machine or the order threads
 * finish in; so a run may also be resumed with another --threads.
 */
#include "cli-commands.h"
#include "cli-study.h"

#include "hl-augment.h"
#include "hl-checkpoint.h"
#include "hl-init.h"
#include "hl-splits.h"
#include "hl-summary.h"
#include "hl-train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#define MAX_LISTED 20
#define STATE_FILE "state.bin"
#define BEST_FILE "best.safetensors"
#define INTENDED_USE \
  "Research only, not for diagnostic use: a second reader's suggestions for a radiologist to " \
  "check, never a diagnosis."

typedef struct
{
  char *train_csv;
  char *valid_csv;
  char *images;
  char *out;
  char *arch;
  char *optimizer;
  char *checkpoint_dir;
  char *name;
  char *version;
  int input_size;
  int epochs;
  int batch;
  int threads;
  int stop_after;
  double lr;
  double weight_decay;
  gint64 seed;
  gboolean resume;
  gboolean allow_leakage;
  gboolean keep_last;
  gboolean no_augment;
  double crop_scale;   /* HlAugmentOptions' crop_scale, erase_p, erase_edge_p; 0 = off */
  double erase_p;
  double erase_edge_p;
  char *init;               /* --init MODEL, or NULL: from scratch */
  char *freeze;             /* --freeze MODULE, or NULL */
  double backbone_lr_scale; /* --backbone-lr-scale, 1 when not given */
  char *init_sha256;        /* with --init: the SHA-256 of its file, hex */
} Options;

/* A split's images in memory. */
typedef struct
{
  int n;
  int side;        /* training: working side of @planes; validation: 0 */
  float *planes;   /* training: (n, side, side) working planes in [0, 1]; else NULL */
  gsize in_floats; /* floats of one preprocessed input */
  float *inputs;   /* validation: (n, in_floats) preprocessed inputs; else NULL */
  guint8 *truth;   /* (n, HL_N_LABELS) 0/1 */
  float *targets;  /* (n, HL_N_LABELS) the same as floats */
} Split;

static void
split_clear (Split *split)
{
  g_free (split->planes);
  g_free (split->inputs);
  g_free (split->truth);
  g_free (split->targets);
}

static HlLabelSet *
load_labels (const char *path)
{
  g_autoptr (GError) error = NULL;
  HlLabelSet *set = hl_label_set_load (path, &error);

  if (set == NULL)
    {
      fprintf (stderr, "hilum-cli train: %s\n", error->message);
      return NULL;
    }
  for (guint i = 0; i < set->warnings->len; i++)
    fprintf (stderr, "hilum-cli train: warning: %s\n", (const char *) set->warnings->pdata[i]);
  for (int k = 0; k < HL_N_LABELS; k++)
    if (!set->has_label[k])
      fprintf (stderr, "hilum-cli train: warning: %s has no %s column; counted negative\n", path,
               hl_label_names[k]);
  if (set->rows->len < 2)
    {
      fprintf (stderr, "hilum-cli train: %s: needs at least 2 images, has %u\n", path,
               set->rows->len);
      g_clear_pointer (&set, hl_label_set_free);
    }
  return set;
}

/* The working plane of @pixels (h, w) at @side: the part of the image @model's preprocessing
 * resizes (the centred square of the short side with HL_CROP_CENTER, and with PIL's Resize +
 * CenterCrop, which keep that square to within a pixel; else the whole plane, squeezed as
 * inference squeezes it) resized to @side x @side, so that an augmented plane has the geometry of
 * the model's input. */
static void
working_plane (HlModel *model, const float *pixels, int h, int w, float *dst, int side)
{
  const HlPreprocess *pp = &hl_model_get_info (model)->preprocess;
  int s = MIN (h, w);

  if ((pp->crop != HL_CROP_CENTER && pp->resize != HL_RESIZE_PIL_BILINEAR) || h == w)
    {
      hl_augment_working_plane (pixels, h, w, dst, side);
      return;
    }
  g_autofree float *square = g_new (float, (gsize) s * s);
  int y0 = h / 2 - s / 2, x0 = w / 2 - s / 2;
  for (int y = 0; y < s; y++)
    memcpy (square + (gsize) y * s, pixels + (gsize) (y0 + y) * w + x0, s * sizeof (float));
  hl_augment_working_plane (square, s, s, dst, side);
}

/* Decodes every image of @set, the @which split ("training" or "validation"), from @images. With
 * @work_side > 0 keeps the working plane (working_plane; training); otherwise keeps the input
 * @model preprocesses from the full plane (validation, and training without augmentation from
 * --init: exactly what inference computes). An image that cannot be read (missing, corrupt)
 * is reported on stderr with the decoder's error and left out, the others still load; @used (one
 * entry per row of @set) receives 1 for each row decoded into @split, 0 for each left out. Fails,
 * reported, when fewer than @min_used images could be read. */
static gboolean
load_split (const HlLabelSet *set, const char *which, const char *images, HlModel *model,
            int work_side, int min_used, guint *used, Split *split)
{
  guint n_rows = set->rows->len, skipped = 0;

  split->n = 0;
  split->side = work_side;
  split->in_floats = hl_model_input_size (model);
  if (work_side > 0)
    split->planes = g_new (float, (gsize) n_rows * work_side * work_side);
  else
    split->inputs = g_new (float, (gsize) n_rows * split->in_floats);
  split->truth = g_new (guint8, (gsize) n_rows * HL_N_LABELS);
  split->targets = g_new (float, (gsize) n_rows * HL_N_LABELS);

  for (guint r = 0; r < n_rows; r++)
    {
      const HlLabelRow *row = set->rows->pdata[r];
      g_autofree char *path = g_build_filename (images, row->image, NULL);
      g_autoptr (GError) error = NULL;
      g_autoptr (HlImage) image = hl_image_load (path, &error);
      gsize i = (gsize) split->n;

      used[r] = image != NULL;
      if (image == NULL)
        {
          /* the decoder's message names the file first; it is already on the line */
          const char *why = error->message;
          gsize len = strlen (path);
          if (strncmp (why, path, len) == 0 && strncmp (why + len, ": ", 2) == 0)
            why += len + 2;
          fprintf (stderr, "hilum-cli train: skipping %s image %s (row %u of %s): %s\n", which,
                   path, row->line, set->path, why);
          skipped++;
          continue;
        }
      if (work_side > 0)
        working_plane (model, image->pixels, image->height, image->width,
                       split->planes + i * work_side * work_side, work_side);
      else
        hl_model_preprocess (model, image->pixels, image->height, image->width,
                             split->inputs + i * split->in_floats);
      for (int k = 0; k < HL_N_LABELS; k++)
        {
          split->truth[i * HL_N_LABELS + k] = row->labels[k];
          split->targets[i * HL_N_LABELS + k] = row->labels[k];
        }
      split->n++;
    }
  if (skipped > 0)
    fprintf (stderr, "hilum-cli train: skipped %u of the %u %s images of %s (unreadable); using "
             "the other %d\n", skipped, n_rows, which, set->path, split->n);
  if (split->n < min_used)
    {
      fprintf (stderr, "hilum-cli train: %s: %d of its %u %s images could be read; %s\n",
               set->path, split->n, n_rows, which,
               min_used > 1 ? "training needs at least 2 (training-mode BatchNorm)"
                            : "validation needs at least one");
      return FALSE;
    }
  return TRUE;
}

/* ---- evaluation ---- */

/* Validation probabilities of @model on @valid, evaluated in chunks of @batch: a new
 * (valid->n, HL_N_LABELS) array of doubles. */
static double *
predict (HlModel *model, const Split *valid, int batch, GError **error)
{
  g_autofree double *scores = g_new (double, (gsize) valid->n * HL_N_LABELS);

  for (int i = 0; i < valid->n; i += batch)
    {
      int n = MIN (batch, valid->n - i);
      const float *input = valid->inputs + (gsize) i * valid->in_floats;
      g_autoptr (HlForward) fwd = hl_model_forward (model, input, n, NULL, NULL, NULL, error);
      if (fwd == NULL)
        return NULL;
      for (gsize j = 0; j < (gsize) n * HL_N_LABELS; j++)
        scores[(gsize) i * HL_N_LABELS + j] = fwd->probs[j];
    }
  return g_steal_pointer (&scores);
}

static HlSummary *
evaluate (HlModel *model, const Split *valid, int batch, GError **error)
{
  g_autofree double *scores = predict (model, valid, batch, error);
  HlSummaryOptions options;

  if (scores == NULL)
    return NULL;
  hl_summary_options_init (&options);
  options.calibration_bins = 0;
  return hl_summary_new ((const char *const *) hl_label_names, HL_N_LABELS, scores, valid->truth,
                         (gsize) valid->n, &options, error);
}

/* The metadata a written model carries: @base's architecture and preprocessing with the
 * thresholds (Youden's J on the validation split; 0.5 where a label is undefined there) and
 * validation AUROCs of @summary, and the descriptions. Strings and arrays are owned by the
 * caller's @thresholds/@aurocs buffers and the Options. */
static void
model_info_for (const HlModelInfo *base, const HlSummary *summary, const Options *opt,
                const char *training_data, float *thresholds, float *aurocs, HlModelInfo *info)
{
  *info = *base;
  info->name = opt->name;
  info->version = opt->version;
  for (int k = 0; k < HL_N_LABELS; k++)
    {
      const HlLabelSummary *label = &summary->labels[k];
      double t = label->defined ? label->youden.threshold : NAN;
      thresholds[k] = isfinite (t) ? (float) CLAMP (t, 1e-7, 1.0 - 1e-7) : 0.5f;
      aurocs[k] = label->defined ? (float) label->auroc : NAN;
    }
  info->thresholds = thresholds;
  info->val_auroc = aurocs;
  info->training_data = (char *) training_data;
  info->intended_use = (char *) INTENDED_USE;
}

static gboolean parse_arch (const char *name, HlDenseNetConfig *arch);

/* ---- checkpoints ---- */

/* The settings a checkpoint must share with the run that resumes it (not --threads: results do not
 * depend on it). */
static char *
settings_fingerprint (const Options *opt, int n_train, int n_valid)
{
  return g_strdup_printf ("arch=%s input=%d epochs=%d batch=%d lr=%.9g optimizer=%s "
                          "weight_decay=%.9g seed=%" G_GINT64_FORMAT " augment=%d "
                          "keep=%s train=%s (%d) valid=%s (%d)",
                          opt->arch, opt->input_size, opt->epochs, opt->batch, opt->lr,
                          opt->optimizer, opt->weight_decay, opt->seed, !opt->no_augment,
                          opt->keep_last ? "last" : "best", opt->train_csv, n_train,
                          opt->valid_csv, n_valid);
}

/* The transfer settings for the fingerprint, "" without --init (so that the checkpoints of runs
 * from before these options still resume). */
static char *
transfer_fingerprint (const Options *opt)
{
  if (opt->init == NULL)
    return g_strdup ("");
  return g_strdup_printf (" init=%s init_sha256=%s freeze=%s backbone_lr_scale=%.9g", opt->init,
                          opt->init_sha256, opt->freeze != NULL ? opt->freeze : "none",
                          opt->backbone_lr_scale);
}

/* A name for @arch: "densenet121", "tiny" or its numbers. */
static char *
arch_name (const HlDenseNetConfig *arch)
{
  static const char *const names[] = { "densenet121", "tiny" };
  GString *text;

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      HlDenseNetConfig known;
      gboolean same;

      parse_arch (names[i], &known);
      same = known.growth_rate == arch->growth_rate && known.n_blocks == arch->n_blocks
             && known.num_init_features == arch->num_init_features
             && known.bn_size == arch->bn_size && known.bn_eps == arch->bn_eps;
      for (int b = 0; same && b < arch->n_blocks; b++)
        same = known.block_config[b] == arch->block_config[b];
      if (same)
        return g_strdup (names[i]);
    }
  text = g_string_new ("densenet-");
  for (int b = 0; b < arch->n_blocks; b++)
    g_string_append_printf (text, "%s%d", b ? "-" : "", arch->block_config[b]);
  g_string_append_printf (text, "-g%d-i%d-b%d-eps%g", arch->growth_rate,
                          arch->num_init_features, arch->bn_size, arch->bn_eps);
  return g_string_free (text, FALSE);
}

static char *
epoch_file (const char *dir, guint32 epoch)
{
  g_autofree char *name = g_strdup_printf ("epoch-%04u.safetensors", epoch);
  return g_build_filename (dir, name, NULL);
}

/* The checkpoint in @opt's folder, validated (hl_checkpoint_load, at most the optimiser state a
 * run of @initial can have) and checked against this run: its settings @fingerprint, optimiser
 * @kind, epoch count and @batches steps per finished epoch. @state_path names the state file.
 * NULL with @error naming the file and what is wrong. */
static HlCheckpoint *
load_checkpoint (const Options *opt, const char *state_path, HlModel *initial,
                 const char *fingerprint, HlOptimKind kind, int batches, GError **error)
{
  g_autoptr (HlCheckpoint) ckpt = hl_checkpoint_load (state_path,
                                                      hl_checkpoint_max_moments (initial), error);
  const HlCheckpointState *s;

  if (ckpt == NULL)
    return NULL;
  s = &ckpt->state;
  if (strcmp (ckpt->fingerprint, fingerprint) != 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s was written by a run with other settings:\n  it:  %s\n  now: %s",
                   state_path, ckpt->fingerprint, fingerprint);
      return NULL;
    }
  if (ckpt->optimizer != kind)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s does not fit this run: it holds the state of another optimiser",
                   state_path);
      return NULL;
    }
  if (s->epoch > (guint32) opt->epochs || s->step != (gint64) s->epoch * batches)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s does not fit this run: epoch %u of %d after %" G_GINT64_FORMAT " steps, "
                   "where this run takes %d per epoch", state_path, s->epoch, opt->epochs,
                   s->step, batches);
      return NULL;
    }
  return g_steal_pointer (&ckpt);
}

/* ---- the run ---- */

static gboolean
parse_arch (const char *name, HlDenseNetConfig *arch)
{
  static const HlDenseNetConfig densenet121 = { 32, 4, { 6, 12, 24, 16 }, 64, 4, 1e-5f };
  static const HlDenseNetConfig tiny = { 4, 2, { 2, 2 }, 8, 2, 1e-5f };

  if (g_strcmp0 (name, "densenet121") == 0)
    *arch = densenet121;
  else if (g_strcmp0 (name, "tiny") == 0)
    *arch = tiny;
  else
    return FALSE;
  return TRUE;
}

static void
print_leakage (GPtrArray *shared, const Options *opt)
{
  fprintf (stderr, "hilum-cli train: %u patient%s in both %s and %s:", shared->len,
           shared->len == 1 ? " is" : "s are", opt->train_csv, opt->valid_csv);
  for (guint i = 0; i < MIN (shared->len, MAX_LISTED); i++)
    fprintf (stderr, " %s", (const char *) shared->pdata[i]);
  if (shared->len > MAX_LISTED)
    fprintf (stderr, " ... (%u more)", shared->len - MAX_LISTED);
  fprintf (stderr, "\n%s", opt->allow_leakage
                               ? "hilum-cli train: going on because of --allow-leakage: the "
                                 "validation AUROCs will be optimistic\n"
                               : "hilum-cli train: validation would be optimistic; fix the "
                                 "split or pass --allow-leakage\n");
}

/* One line per epoch: loss, learning rate, throughput, validation AUROC mean and per label;
 * @kept marks the epoch that is now the one the run will keep. */
static void
print_epoch (guint32 epoch, const Options *opt, double loss, float lr, double rate,
             const HlSummary *summary, gboolean kept)
{
  /* hl_label_names, shortened for the progress line */
  static const char *const short_names[HL_N_LABELS] = {
    "Atel", "Card", "Cons", "Edem", "Effu", "Emph", "Fibr",
    "Hern", "Infi", "Mass", "Nodu", "PlTh", "Pnia", "Ptx",
  };

  printf ("epoch %u/%d  loss %.4f  lr %.2e  %.2f images/s  val AUROC mean %.4f%s |", epoch,
          opt->epochs, loss, lr, rate, summary->mean_auroc,
          !kept ? "" : opt->keep_last ? " (kept)" : " (best)");
  for (int k = 0; k < HL_N_LABELS; k++)
    {
      if (summary->labels[k].defined)
        printf (" %s %.3f", short_names[k], summary->labels[k].auroc);
      else
        printf (" %s -", short_names[k]);
    }
  printf ("\n");
  fflush (stdout);
}

static int
train (Options *opt)
{
  g_autoptr (HlLabelSet) train_set = NULL;
  g_autoptr (HlLabelSet) valid_set = NULL;
  g_autoptr (GPtrArray) shared = NULL;
  g_autoptr (HlModel) initial = NULL;
  g_autoptr (HlTrainNet) net = NULL;
  g_autoptr (HlOptim) optim = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *fingerprint = NULL;
  g_autofree char *training_data = NULL;
  g_autofree char *augment_text = NULL;
  g_autofree char *leakage = NULL;
  g_autofree char *init_name = NULL; /* with --init: "NAME VERSION" of its model */
  g_autofree char *started = NULL;   /* how training_data begins */
  gboolean kept[HL_N_LABELS];        /* with --init: the classifier rows copied */
  g_autofree char *best_path = NULL;
  g_autofree char *state_path = NULL;
  g_autofree guint *order = NULL;
  g_autofree float *batch_input = NULL;
  g_autofree float *batch_targets = NULL;
  g_autofree float *dlogits = NULL;
  g_autofree float *aug_plane = NULL;
  g_autofree guint *train_used = NULL; /* (train_set rows) 1 where decoded, 0 where skipped */
  g_autofree guint *valid_used = NULL; /* (valid_set rows) likewise */
  Split train_split = { 0 }, valid_split = { 0 };
  HlClassCounts counts[2];
  const char *split_names[2] = { "train", "valid" };
  float w_pos[HL_N_LABELS], w_neg[HL_N_LABELS];
  float thresholds[HL_N_LABELS], aurocs[HL_N_LABELS];
  char *labels[HL_N_LABELS + 1];
  HlModelInfo info = { 0 };
  HlOptimConfig optim_config = { 0 };
  HlLrSchedule schedule = { 0 };
  HlAugmentOptions augment;
  HlCheckpointState state = { 0 };
  HlRng rng;
  int status = 1;

  train_set = load_labels (opt->train_csv);
  valid_set = train_set != NULL ? load_labels (opt->valid_csv) : NULL;
  if (valid_set == NULL)
    return 1;

  shared = hl_splits_shared_patients (train_set, valid_set);
  if (shared->len > 0)
    {
      print_leakage (shared, opt);
      if (!opt->allow_leakage)
        return 1;
    }

  for (int k = 0; k < HL_N_LABELS; k++)
    labels[k] = (char *) hl_label_names[k];
  labels[HL_N_LABELS] = NULL;
  if (opt->init != NULL)
    {
      /* Everything but the labels comes from the model: architecture, input, preprocessing. */
      HlCheckpointFile digest;
      const HlModelInfo *mi;
      GString *hex;

      initial = hl_model_new_transfer (opt->init, (const char *const *) labels, HL_N_LABELS,
                                       (guint64) opt->seed, kept, &error);
      if (initial == NULL || !hl_checkpoint_file_digest (opt->init, &digest, &error))
        {
          fprintf (stderr, "hilum-cli train: --init: %s\n", error->message);
          return 1;
        }
      hex = g_string_new (NULL);
      for (gsize i = 0; i < sizeof digest.sha256; i++)
        g_string_append_printf (hex, "%02x", digest.sha256[i]);
      opt->init_sha256 = g_string_free (hex, FALSE);
      mi = hl_model_get_info (initial);
      g_autofree char *model_arch = arch_name (&mi->arch);
      if (opt->arch != NULL && strcmp (opt->arch, model_arch) != 0)
        {
          fprintf (stderr, "hilum-cli train: --arch %s, but %s is a %s: the architecture comes "
                   "from the --init model (leave --arch out)\n", opt->arch, opt->init, model_arch);
          return 2;
        }
      if (opt->input_size != 0 && opt->input_size != mi->input_size)
        {
          fprintf (stderr, "hilum-cli train: --input-size %d, but %s takes %d: the input comes "
                   "from the --init model (leave --input-size out)\n", opt->input_size,
                   opt->init, mi->input_size);
          return 2;
        }
      if (hl_model_freeze_stage (initial, opt->freeze) < -1)
        {
          int n_blocks = mi->arch.n_blocks;
          fprintf (stderr, "hilum-cli train: --freeze %s: %s has no such module; give features, "
                   "denseblock1..%d", opt->freeze, opt->init, n_blocks);
          if (n_blocks > 1)
            fprintf (stderr, " or transition1..%d", n_blocks - 1);
          fprintf (stderr, "\n");
          return 2;
        }
      g_free (opt->arch);
      opt->arch = g_steal_pointer (&model_arch);
      opt->input_size = mi->input_size;
      init_name = g_strdup_printf ("%s %s", mi->name, mi->version);
    }
  else
    {
      /* architecture, one gray input channel, the notebook's per-image normalisation */
      if (opt->input_size == 0)
        opt->input_size = 224;
      parse_arch (opt->arch, &info.arch);
      info.name = opt->name;
      info.version = opt->version;
      info.input_size = opt->input_size;
      info.input_channels = 1;
      info.n_labels = HL_N_LABELS;
      info.labels = labels;
      info.preprocess.resize = HL_RESIZE_BILINEAR_ANTIALIAS;
      info.preprocess.mode = HL_NORM_IMAGE;
      initial = hl_model_new_initialized (&info, (guint64) opt->seed);
    }
  if (opt->name == NULL)
    opt->name = g_strdup_printf ("hilum-%s-nih", opt->arch);

  hl_engine_set_threads (opt->threads);
  /* From --init without augmentation every training input is what inference computes from the
   * full plane; otherwise a working plane (load_split) feeds augmentation. */
  gboolean exact = opt->init != NULL && opt->no_augment;
  int work_side = exact ? 0 : (int) lround (opt->input_size * 8.0 / 7.0);
  gint64 t0 = g_get_monotonic_time ();
  train_used = g_new (guint, train_set->rows->len);
  valid_used = g_new (guint, valid_set->rows->len);
  if (!load_split (train_set, "training", opt->images, initial, work_side, 2, train_used,
                   &train_split)
      || !load_split (valid_set, "validation", opt->images, initial, 0, 1, valid_used,
                      &valid_split))
    goto out;
  if (exact)
    printf ("Decoded %d training images (preprocessed as inference does) and %d validation "
            "images in %.1f s\n", train_split.n, valid_split.n,
            (g_get_monotonic_time () - t0) / 1e6);
  else
    printf ("Decoded %d training images (kept at %dx%d) and %d validation images in %.1f s\n",
            train_split.n, work_side, work_side, valid_split.n,
            (g_get_monotonic_time () - t0) / 1e6);

  /* The frequencies, the loss weights and the model's description count the images decoded. */
  hl_splits_count (train_set, train_used, 1, &counts[0]);
  hl_splits_count (valid_set, valid_used, 1, &counts[1]);
  printf ("Class frequencies:\n");
  hl_cli_print_class_table (split_names, counts, 2);

  hl_loss_class_weights (train_split.targets, train_split.n, HL_N_LABELS, w_pos, w_neg);
  printf ("Loss weights (positive / negative = fraction of negatives / of positives):\n");
  for (int k = 0; k < HL_N_LABELS; k++)
    printf ("  %-20s %.4f / %.4f\n", hl_label_names[k], w_pos[k], w_neg[k]);

  /* The optimiser and the schedule. A last mini-batch of one image is dropped (training-mode
   * BatchNorm needs two). */
  optim_config.kind = g_strcmp0 (opt->optimizer, "sgd") == 0 ? HL_OPTIM_SGD : HL_OPTIM_ADAM;
  optim_config.weight_decay = (float) opt->weight_decay;
  optim_config.momentum = 0.9f;
  optim_config.beta1 = 0.9f;
  optim_config.beta2 = 0.999f;
  optim_config.eps = 1e-8f;
  int batches = train_split.n / opt->batch + (train_split.n % opt->batch >= 2);
  schedule.kind = HL_LR_COSINE;
  schedule.base_lr = (float) opt->lr;
  schedule.total_steps = batches * opt->epochs;
  schedule.min_lr = 0.0f;

  fingerprint = settings_fingerprint (opt, train_split.n, valid_split.n);
  {
    g_autofree char *transfer = transfer_fingerprint (opt);
    char *with = g_strconcat (fingerprint, transfer, NULL);
    g_free (fingerprint);
    fingerprint = with;
  }
  if (opt->crop_scale > 0.0 || opt->erase_p > 0.0 || opt->erase_edge_p > 0.0)
    {
      /* only when on, so that the checkpoints of runs from before these options still resume */
      char *with = g_strdup_printf ("%s crop_scale=%.9g erase=%.9g erase_edge=%.9g", fingerprint,
                                    opt->crop_scale, opt->erase_p, opt->erase_edge_p);
      g_free (fingerprint);
      fingerprint = with;
    }
  {
    GString *text = g_string_new ("augmentation (rotation, shift, zoom, brightness, contrast, "
                                  "gamma");
    if (opt->crop_scale > 0.0)
      g_string_append_printf (text, ", random resized crop (area >= %g)", opt->crop_scale);
    if (opt->erase_p > 0.0)
      g_string_append_printf (text, ", random erasing (p %g)", opt->erase_p);
    if (opt->erase_edge_p > 0.0)
      g_string_append_printf (text, ", random erasing at an edge (p %g)", opt->erase_edge_p);
    g_string_append_c (text, ')');
    augment_text = g_string_free (text, FALSE);
  }
  /* Not in the fingerprint: only --allow-leakage lets a run with shared patients this far. */
  leakage = shared->len > 0 ? g_strdup_printf ("; patients in both splits: %u (allowed by "
                                               "--allow-leakage)", shared->len)
                            : g_strdup ("");
  if (opt->init != NULL)
    {
      GString *text = g_string_new (NULL);
      int n_kept = 0;

      for (int k = 0; k < HL_N_LABELS; k++)
        n_kept += kept[k];
      g_string_append_printf (text, "Fine-tuned by hilum-cli train, started from %s (source "
                              "sha256 %s, %s); classifier rows kept for %d of the %d labels",
                              init_name, opt->init_sha256, opt->init, n_kept, HL_N_LABELS);
      for (int k = 0, first = 1; k < HL_N_LABELS; k++)
        if (kept[k])
          {
            g_string_append_printf (text, "%s%s", first ? " (" : ", ", hl_label_names[k]);
            first = 0;
          }
      g_string_append_printf (text, "%s, the others initialised; frozen: %s; backbone lr x %g; "
                              "outputs plain sigmoid (an operating-point calibration of the "
                              "source does not carry over)", n_kept > 0 ? ")" : "",
                              opt->freeze != NULL ? opt->freeze : "nothing",
                              opt->backbone_lr_scale);
      started = g_string_free (text, FALSE);
    }
  else
    started = g_strdup ("Trained by hilum-cli train from scratch (no pretrained weights)");
  training_data = g_strdup_printf (
      "%s on %d images (%u patients) "
      "of %s, validated on %d images (%u patients) of %s; %s, input %d, batch %d, %d epochs, %s "
      "lr %g cosine, weight decay "
      "%g, class-balanced weighted loss, %s, seed %" G_GINT64_FORMAT ", kept epoch: %s%s",
      started, train_split.n, counts[0].n_patients, opt->train_csv, valid_split.n, counts[1].n_patients,
      opt->valid_csv, opt->arch, opt->input_size, opt->batch, opt->epochs, opt->optimizer,
      opt->lr, opt->weight_decay,
      opt->no_augment ? "no augmentation" : augment_text,
      opt->seed, opt->keep_last ? "the last" : "the best by validation mean AUROC", leakage);

  if (g_mkdir_with_parents (opt->checkpoint_dir, 0755) != 0)
    {
      fprintf (stderr, "hilum-cli train: cannot create %s: %s\n", opt->checkpoint_dir,
               g_strerror (errno));
      goto out;
    }
  best_path = g_build_filename (opt->checkpoint_dir, BEST_FILE, NULL);
  state_path = g_build_filename (opt->checkpoint_dir, STATE_FILE, NULL);
  hl_rng_init (&rng, (guint64) opt->seed ^ G_GUINT64_CONSTANT (0x6a09e667f3bcc909));
  state.rng = rng.state;
  state.best_mean = NAN;

  if (opt->resume)
    {
      g_autoptr (HlCheckpoint) ckpt = NULL;
      g_autoptr (HlModel) resumed = NULL;
      g_autofree char *path = NULL;
      gsize n_floats = 0;
      float *optim_state;

      ckpt = load_checkpoint (opt, state_path, initial, fingerprint, optim_config.kind, batches,
                              &error);
      if (ckpt != NULL)
        {
          path = epoch_file (opt->checkpoint_dir, ckpt->state.epoch);
          resumed = hl_checkpoint_load_model (path, &ckpt->state.epoch_file, state_path, &error);
        }
      if (resumed == NULL)
        {
          fprintf (stderr, "hilum-cli train: cannot resume: %s\n", error->message);
          goto out;
        }
      net = hl_train_net_new_frozen (resumed, opt->batch, opt->freeze, &error);
      if (net == NULL)
        {
          fprintf (stderr, "hilum-cli train: %s\n", error->message);
          goto out;
        }
      optim = hl_optim_new (net, &optim_config);
      hl_optim_set_backbone_lr_scale (optim, (float) opt->backbone_lr_scale);
      optim_state = hl_optim_get_state (optim, &n_floats);
      if (n_floats != ckpt->n_moments)
        {
          fprintf (stderr, "hilum-cli train: cannot resume: the optimiser state in %s has %"
                   G_GSIZE_FORMAT " values, this optimiser needs %" G_GSIZE_FORMAT "\n",
                   state_path, ckpt->n_moments, n_floats);
          goto out;
        }
      if (n_floats > 0)
        memcpy (optim_state, ckpt->moments, n_floats * sizeof (float));
      state = ckpt->state;
      hl_optim_set_step (optim, state.step);
      rng.state = state.rng;
      printf ("Resuming after epoch %u of %d from %s\n", state.epoch, opt->epochs,
              opt->checkpoint_dir);
    }
  else
    {
      net = hl_train_net_new_frozen (initial, opt->batch, opt->freeze, &error);
      if (net == NULL)
        {
          fprintf (stderr, "hilum-cli train: %s\n", error->message);
          goto out;
        }
      optim = hl_optim_new (net, &optim_config);
      hl_optim_set_backbone_lr_scale (optim, (float) opt->backbone_lr_scale);
    }

  hl_augment_options_init (&augment);
  augment.crop_scale = opt->crop_scale;
  augment.erase_p = opt->erase_p;
  augment.erase_edge_p = opt->erase_edge_p;
  order = g_new (guint, train_split.n);
  batch_input = g_new (float, (gsize) opt->batch * train_split.in_floats);
  batch_targets = g_new (float, (gsize) opt->batch * HL_N_LABELS);
  dlogits = g_new (float, (gsize) opt->batch * HL_N_LABELS);
  aug_plane = g_new (float, (gsize) MAX (work_side, 1) * MAX (work_side, 1));

  for (guint32 epoch = state.epoch + 1; epoch <= (guint32) opt->epochs; epoch++)
    {
      HlModel *model = hl_train_net_get_model (net);
      g_autoptr (HlSummary) summary = NULL;
      double loss_sum = 0.0;
      int seen = 0;
      float lr = 0.0f;

      for (int i = 0; i < train_split.n; i++)
        order[i] = (guint) i;
      hl_rng_shuffle (&rng, order, train_split.n);

      t0 = g_get_monotonic_time ();
      for (int b = 0; b < batches; b++)
        {
          int n = MIN (opt->batch, train_split.n - b * opt->batch);
          for (int j = 0; j < n; j++)
            {
              guint idx = order[b * opt->batch + j];
              float *input = batch_input + (gsize) j * train_split.in_floats;
              if (exact)
                memcpy (input, train_split.inputs + (gsize) idx * train_split.in_floats,
                        train_split.in_floats * sizeof (float));
              else
                {
                  const float *plane = train_split.planes + (gsize) idx * work_side * work_side;
                  if (!opt->no_augment)
                    {
                      HlAugmentDraw draw;
                      hl_augment_draw (&augment, &rng, &draw);
                      hl_augment_apply (&draw, plane, work_side, work_side, aug_plane);
                      plane = aug_plane;
                    }
                  hl_model_preprocess (model, plane, work_side, work_side, input);
                }
              memcpy (batch_targets + (gsize) j * HL_N_LABELS,
                      train_split.targets + (gsize) idx * HL_N_LABELS,
                      HL_N_LABELS * sizeof (float));
            }
          const float *logits = hl_train_net_forward (net, batch_input, n, NULL, &error);
          if (logits == NULL)
            {
              fprintf (stderr, "hilum-cli train: %s\n", error->message);
              goto out;
            }
          float loss = hl_loss_weighted_bce (logits, batch_targets, n, HL_N_LABELS, w_pos, w_neg,
                                             dlogits);
          hl_train_net_zero_grad (net);
          hl_train_net_backward (net, dlogits, NULL);
          lr = hl_lr_schedule_at (&schedule, state.step);
          hl_optim_step (optim, lr);
          state.step++;
          loss_sum += (double) loss * n;
          seen += n;
        }
      double seconds = (g_get_monotonic_time () - t0) / 1e6;

      if (!isfinite (loss_sum))
        {
          fprintf (stderr, "hilum-cli train: the loss diverged in epoch %u (not finite); try a "
                           "smaller --lr\n", epoch);
          goto out;
        }

      model = hl_train_net_get_model (net);
      summary = evaluate (model, &valid_split, opt->batch, &error);
      if (summary == NULL)
        {
          fprintf (stderr, "hilum-cli train: validation: %s\n", error->message);
          goto out;
        }
      gboolean best = opt->keep_last || state.best_epoch == 0
                      || summary->mean_auroc > state.best_mean;
      print_epoch (epoch, opt, loss_sum / seen, lr, seen / seconds, summary, best);

      /* Checkpoint: the best model (if this epoch is), this epoch's parameters, then the state
       * that names the epoch, each atomically; the previous epoch's file goes last. A kill at any
       * point leaves a consistent checkpoint of this epoch or of the previous one. */
      HlModelInfo saved;
      g_autofree char *description = g_strdup_printf (
          "%s; this is epoch %u (validation mean AUROC %.4f)", training_data, epoch,
          summary->mean_auroc);
      model_info_for (hl_model_get_info (model), summary, opt, description, thresholds, aurocs,
                      &saved);
      if (best)
        {
          if (!hl_model_save (model, &saved, best_path, HL_SAVE_F32, &error)
              || !hl_checkpoint_file_digest (best_path, &state.best_file, &error))
            goto write_failed;
          state.best_epoch = epoch;
          state.best_mean = summary->mean_auroc;
        }
      g_autofree char *path = epoch_file (opt->checkpoint_dir, epoch);
      g_autofree char *previous = epoch_file (opt->checkpoint_dir, epoch - 1);
      if (!hl_model_save (model, &saved, path, HL_SAVE_F32, &error)
          || !hl_checkpoint_file_digest (path, &state.epoch_file, &error))
        goto write_failed;
      state.epoch = epoch;
      state.rng = rng.state;
      HlCheckpoint ckpt = { state, optim_config.kind, fingerprint, NULL, 0 };
      ckpt.moments = hl_optim_get_state (optim, &ckpt.n_moments);
      if (!hl_checkpoint_save (&ckpt, state_path, &error))
        goto write_failed;
      g_unlink (previous);

      if (opt->stop_after > 0 && epoch == (guint32) opt->stop_after
          && epoch < (guint32) opt->epochs)
        {
          printf ("Stopped after epoch %u as asked; continue with --resume\n", epoch);
          status = 0;
          goto out;
        }
    }

  {
    /* the kept epoch's file as it was written (by this run or by the one it resumes) */
    g_autoptr (HlModel) best_model = hl_checkpoint_load_model (best_path, &state.best_file,
                                                               state_path, &error);
    if (best_model == NULL || !hl_model_save (best_model, NULL, opt->out, HL_SAVE_F32, &error))
      goto write_failed;
    printf ("%s epoch %u (validation mean AUROC %.4f) written to %s\n",
            opt->keep_last ? "Last" : "Best", state.best_epoch, state.best_mean, opt->out);
  }
  status = 0;
  goto out;

write_failed:
  fprintf (stderr, "hilum-cli train: %s\n", error->message);
out:
  split_clear (&train_split);
  split_clear (&valid_split);
  return status;
}

int
hl_cli_train (int argc, char **argv)
{
  Options opt = { .epochs = 10, .backbone_lr_scale = 1.0, .batch = 16, .lr = 1e-4, .seed = 1,
                  .threads = (int) g_get_num_processors () };
  g_autofree char *default_ckpt = NULL;
  GOptionEntry entries[] = {
    { "train", 0, 0, G_OPTION_ARG_FILENAME, &opt.train_csv, "Training label CSV (required)",
      "CSV" },
    { "valid", 0, 0, G_OPTION_ARG_FILENAME, &opt.valid_csv,
      "Validation label CSV: epoch selection and operating thresholds (required)", "CSV" },
    { "images", 0, 0, G_OPTION_ARG_FILENAME, &opt.images,
      "Folder the CSVs' image names are relative to (required)", "DIR" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &opt.out, "Model file to write (required)",
      "MODEL.safetensors" },
    { "arch", 0, 0, G_OPTION_ARG_STRING, &opt.arch,
      "densenet121 (default) or tiny; with --init the model's", "ARCH" },
    { "input-size", 0, 0, G_OPTION_ARG_INT, &opt.input_size,
      "Input side (default 224; with --init the model's)", "N" },
    { "init", 0, 0, G_OPTION_ARG_FILENAME, &opt.init,
      "Start from this model file (any Hilum model, a features-only import included): its "
      "architecture, input and preprocessing, its features, its classifier rows for the labels "
      "it names", "MODEL" },
    { "freeze", 0, 0, G_OPTION_ARG_STRING, &opt.freeze,
      "With --init: train only what is above this module (features, denseblockN, transitionN); "
      "frozen BatchNorm uses its running statistics", "MODULE" },
    { "backbone-lr-scale", 0, 0, G_OPTION_ARG_DOUBLE, &opt.backbone_lr_scale,
      "With --init: learning rate x F for everything below the classifier (default 1)", "F" },
    { "epochs", 0, 0, G_OPTION_ARG_INT, &opt.epochs, "Epochs (default 10)", "N" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &opt.batch, "Mini-batch size (default 16)", "N" },
    { "lr", 0, 0, G_OPTION_ARG_DOUBLE, &opt.lr,
      "Peak learning rate, cosine schedule to 0 (default 1e-4)", "LR" },
    { "optimizer", 0, 0, G_OPTION_ARG_STRING, &opt.optimizer,
      "adam (default) or sgd (momentum 0.9)", "NAME" },
    { "weight-decay", 0, 0, G_OPTION_ARG_DOUBLE, &opt.weight_decay,
      "L2 weight decay (default 0)", "W" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &opt.seed, "Seed of initialisation, shuffling and "
      "augmentation (default 1)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &opt.threads,
      "Threads (default: all cores); results do not depend on the count", "N" },
    { "checkpoint-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt.checkpoint_dir,
      "Where each epoch's checkpoint goes (default OUT.checkpoints)", "DIR" },
    { "resume", 0, 0, G_OPTION_ARG_NONE, &opt.resume,
      "Continue from the checkpoint in the checkpoint folder", NULL },
    { "stop-after", 0, 0, G_OPTION_ARG_INT, &opt.stop_after,
      "Stop after epoch N, checkpointed (a long run split across sessions)", "N" },
    { "allow-leakage", 0, 0, G_OPTION_ARG_NONE, &opt.allow_leakage,
      "Train even when a patient is in both CSVs", NULL },
    { "keep-last", 0, 0, G_OPTION_ARG_NONE, &opt.keep_last,
      "Keep the last epoch instead of the best by validation AUROC (a final fit on train+valid)",
      NULL },
    { "no-augment", 0, 0, G_OPTION_ARG_NONE, &opt.no_augment, "Turn augmentation off", NULL },
    { "crop-scale", 0, 0, G_OPTION_ARG_DOUBLE, &opt.crop_scale,
      "Random resized crop: area fraction uniform in [S, 1], aspect 3/4..4/3, resized to the "
      "plane (default 0: off)", "S" },
    { "erase", 0, 0, G_OPTION_ARG_DOUBLE, &opt.erase_p,
      "Probability of erasing a random rectangle (2-20% of the area, aspect 0.3..3.3) with noise "
      "or the mean (default 0: off)", "P" },
    { "erase-edge", 0, 0, G_OPTION_ARG_DOUBLE, &opt.erase_edge_p,
      "Probability of erasing a second such rectangle touching an edge, where markers and "
      "burned-in text are (default 0: off)", "P" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &opt.name,
      "Model name in the file (default hilum-ARCH-nih)", "NAME" },
    { "version", 0, 0, G_OPTION_ARG_STRING, &opt.version, "Model version (default 1.0)", "V" },
    { NULL },
  };
  g_autoptr (GOptionContext) context
      = g_option_context_new ("- train a DenseNet on labelled X-rays (see README \"Training\")");
  g_autoptr (GError) error = NULL;
  HlDenseNetConfig arch;
  int status;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "hilum-cli train: %s\n", error->message);
      return 2;
    }
  if (opt.arch == NULL && opt.init == NULL)
    opt.arch = g_strdup ("densenet121");
  if (opt.optimizer == NULL)
    opt.optimizer = g_strdup ("adam");
  if (argc != 1 || opt.train_csv == NULL || opt.valid_csv == NULL || opt.images == NULL
      || opt.out == NULL)
    {
      fprintf (stderr, "hilum-cli train: give --train, --valid, --images and --out (see --help)\n");
      status = 2;
    }
  else if (opt.arch != NULL && !parse_arch (opt.arch, &arch))
    {
      fprintf (stderr, "hilum-cli train: --arch must be densenet121 or tiny\n");
      status = 2;
    }
  else if (g_strcmp0 (opt.optimizer, "adam") != 0 && g_strcmp0 (opt.optimizer, "sgd") != 0)
    {
      fprintf (stderr, "hilum-cli train: --optimizer must be adam or sgd\n");
      status = 2;
    }
  else if (opt.init == NULL && (opt.freeze != NULL || opt.backbone_lr_scale != 1.0))
    {
      fprintf (stderr, "hilum-cli train: --freeze and --backbone-lr-scale need --init MODEL\n");
      status = 2;
    }
  else if ((opt.input_size != 0 && (opt.input_size < 32 || opt.input_size > 1024))
           || !(opt.backbone_lr_scale > 0.0 && opt.backbone_lr_scale <= 1e3) || opt.epochs < 1 || opt.epochs > 100000
           || opt.batch < 2 || opt.batch > 4096 || opt.threads < 1 || opt.threads > 1024
           || opt.stop_after < 0 || !(opt.lr > 0.0) || !(opt.weight_decay >= 0.0)
           || opt.seed < 0 || !(opt.crop_scale >= 0.0 && opt.crop_scale <= 1.0)
           || !(opt.erase_p >= 0.0 && opt.erase_p <= 1.0)
           || !(opt.erase_edge_p >= 0.0 && opt.erase_edge_p <= 1.0))
    {
      fprintf (stderr, "hilum-cli train: out of range: --input-size 32..1024, "
                       "--backbone-lr-scale (0, 1000], --epochs >= 1, "
                       "--batch >= 2, --threads >= 1, --lr > 0, --weight-decay >= 0, --seed >= 0, "
                       "--stop-after >= 0, --crop-scale, --erase, --erase-edge 0..1\n");
      status = 2;
    }
  else if (opt.no_augment && (opt.crop_scale > 0.0 || opt.erase_p > 0.0 || opt.erase_edge_p > 0.0))
    {
      fprintf (stderr, "hilum-cli train: --no-augment turns off --crop-scale, --erase and "
                       "--erase-edge: give one or the other\n");
      status = 2;
    }
  else
    {
      if (opt.version == NULL)
        opt.version = g_strdup ("1.0");
      if (opt.checkpoint_dir == NULL)
        opt.checkpoint_dir = default_ckpt = g_strconcat (opt.out, ".checkpoints", NULL);
      status = train (&opt);
    }

  g_free (opt.train_csv);
  g_free (opt.valid_csv);
  g_free (opt.images);
  g_free (opt.out);
  g_free (opt.arch);
  g_free (opt.optimizer);
  if (opt.checkpoint_dir != default_ckpt)
    g_free (opt.checkpoint_dir);
  g_free (opt.name);
  g_free (opt.version);
  g_free (opt.init);
  g_free (opt.freeze);
  g_free (opt.init_sha256);
  return status;
}
