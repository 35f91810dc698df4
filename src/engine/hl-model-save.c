/* hl-model-save.c — hl_model_save(): writing an HlModel as a Hilum model file (safetensors with
 * the metadata the README "Model file format" table lists), in F32 or F16, atomically through
 * hl-file-write.h (its "format" metadata is the signature that lets a later save replace it).
 */
#include "hl-train.h"
#include "hl-file-write.h"
#include "hl-model-private.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

/* IEEE binary16 bits of @f, rounded to nearest even; *ok is cleared when @f is not finite or
 * rounds to infinity. */
static guint16
float_to_half (float f, gboolean *ok)
{
  guint32 x;
  memcpy (&x, &f, sizeof x);
  guint32 sign = (x >> 16) & 0x8000u;
  guint32 absx = x & 0x7fffffffu;

  if (absx >= 0x7f800000u)
    {
      *ok = FALSE;
      return (guint16) (sign | 0x7e00u);
    }
  if (absx >= 0x477ff000u) /* >= 65520: rounds to infinity */
    {
      *ok = FALSE;
      return (guint16) (sign | 0x7c00u);
    }
  if (absx < 0x38800000u) /* below the smallest normal half: subnormal or zero */
    {
      if (absx < 0x33000000u) /* < 2^-25: rounds to 0 */
        return (guint16) sign;
      guint32 mant = (absx & 0x7fffffu) | 0x800000u;
      int shift = 126 - (int) (absx >> 23); /* 14 .. 24 */
      guint32 h = mant >> shift;
      guint32 rem = mant & ((1u << shift) - 1);
      guint32 half = 1u << (shift - 1);
      if (rem > half || (rem == half && (h & 1u)))
        h++;
      return (guint16) (sign | h);
    }
  guint32 h = ((absx - 0x38000000u) >> 13); /* rebias exponent 127 -> 15 */
  guint32 rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
    h++;
  return (guint16) (sign | h);
}

/* The shortest decimal text that reads back as the same float. */
static void
append_float (GString *s, float v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  for (int digits = 6; digits <= 9; digits++)
    {
      char fmt[8];
      g_snprintf (fmt, sizeof fmt, "%%.%dg", digits);
      g_ascii_formatd (buf, sizeof buf, fmt, v);
      if ((float) g_ascii_strtod (buf, NULL) == v)
        break;
    }
  g_string_append (s, buf);
}

/* A JSON array of @n floats; NAN becomes null. */
static char *
float_array (const float *v, int n)
{
  GString *s = g_string_new ("[");

  for (int i = 0; i < n; i++)
    {
      if (i > 0)
        g_string_append_c (s, ',');
      if (isnan (v[i]))
        g_string_append (s, "null");
      else
        append_float (s, v[i]);
    }
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static void
add_meta (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, value);
}

static void
add_meta_int (JsonBuilder *b, const char *key, int value)
{
  g_autofree char *s = g_strdup_printf ("%d", value);
  add_meta (b, key, s);
}

static void
add_metadata (JsonBuilder *b, const HlModelInfo *info)
{
  const HlDenseNetConfig *arch = &info->arch;
  g_autoptr (GString) blocks = g_string_new (NULL);
  g_autoptr (GString) eps = g_string_new (NULL);
  g_autoptr (JsonBuilder) lb = json_builder_new ();
  gboolean any_auroc = FALSE;

  for (int i = 0; i < arch->n_blocks; i++)
    g_string_append_printf (blocks, "%s%d", i ? "," : "", arch->block_config[i]);
  append_float (eps, arch->bn_eps);
  json_builder_begin_array (lb);
  for (int l = 0; l < info->n_labels; l++)
    json_builder_add_string_value (lb, info->labels[l]);
  json_builder_end_array (lb);
  g_autoptr (JsonNode) labels_node = json_builder_get_root (lb);
  g_autofree char *labels = json_to_string (labels_node, FALSE);

  json_builder_set_member_name (b, "__metadata__");
  json_builder_begin_object (b);
  add_meta (b, "format", "hilum-densenet/1");
  add_meta (b, "name", info->name);
  add_meta (b, "version", info->version);
  add_meta_int (b, "growth_rate", arch->growth_rate);
  add_meta (b, "block_config", blocks->str);
  add_meta_int (b, "num_init_features", arch->num_init_features);
  add_meta_int (b, "bn_size", arch->bn_size);
  add_meta (b, "bn_eps", eps->str);
  add_meta_int (b, "input_size", info->input_size);
  add_meta_int (b, "input_channels", info->input_channels);
  add_meta (b, "labels", labels);
  add_meta (b, "preprocess_resize", hl_preprocess_resize_name (info->preprocess.resize));
  add_meta (b, "preprocess_mode", hl_preprocess_mode_name (info->preprocess.mode));
  if (info->preprocess.quantize8)
    add_meta (b, "preprocess_quantize", "8");
  if (info->preprocess.crop != HL_CROP_NONE)
    add_meta (b, "preprocess_crop", hl_preprocess_crop_name (info->preprocess.crop));
  if (info->preprocess.range != HL_RANGE_UNIT)
    add_meta (b, "preprocess_range", hl_preprocess_range_name (info->preprocess.range));
  if (info->calibration == HL_OUTPUT_OP_NORM && info->op_thresholds != NULL)
    {
      g_autofree char *t = float_array (info->op_thresholds, info->n_labels);
      add_meta (b, "output_calibration", hl_output_calibration_name (info->calibration));
      add_meta (b, "op_thresholds", t);
    }
  if (info->preprocess.mode == HL_NORM_CHANNEL)
    {
      g_autofree char *mean = float_array (info->preprocess.mean, info->input_channels);
      g_autofree char *std = float_array (info->preprocess.std, info->input_channels);
      add_meta (b, "preprocess_mean", mean);
      add_meta (b, "preprocess_std", std);
    }
  if (info->thresholds != NULL)
    {
      g_autofree char *t = float_array (info->thresholds, info->n_labels);
      add_meta (b, "thresholds", t);
    }
  for (int l = 0; info->val_auroc != NULL && l < info->n_labels; l++)
    any_auroc |= !isnan (info->val_auroc[l]);
  if (any_auroc)
    {
      g_autofree char *a = float_array (info->val_auroc, info->n_labels);
      add_meta (b, "val_auroc", a);
    }
  if (info->training_data != NULL && info->training_data[0] != '\0')
    add_meta (b, "training_data", info->training_data);
  if (info->intended_use != NULL && info->intended_use[0] != '\0')
    add_meta (b, "intended_use", info->intended_use);
  json_builder_end_object (b);
}

static gboolean
same_arch (const HlModelInfo *a, const HlModelInfo *b)
{
  if (a->arch.growth_rate != b->arch.growth_rate || a->arch.n_blocks != b->arch.n_blocks
      || a->arch.num_init_features != b->arch.num_init_features
      || a->arch.bn_size != b->arch.bn_size || a->arch.bn_eps != b->arch.bn_eps
      || a->input_channels != b->input_channels || a->n_labels != b->n_labels)
    return FALSE;
  for (int i = 0; i < a->arch.n_blocks; i++)
    if (a->arch.block_config[i] != b->arch.block_config[i])
      return FALSE;
  return TRUE;
}

gboolean
hl_model_save (HlModel *model, const HlModelInfo *info, const char *path, HlSaveDtype dtype,
               GError **error)
{
  g_return_val_if_fail (model != NULL && path != NULL, FALSE);
  g_return_val_if_fail (dtype == HL_SAVE_F32 || dtype == HL_SAVE_F16, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (info == NULL)
    info = &model->info;
  g_return_val_if_fail (same_arch (info, &model->info), FALSE);
  g_return_val_if_fail (info->name != NULL && info->version != NULL && info->labels != NULL,
                        FALSE);

  gsize elem = dtype == HL_SAVE_F32 ? 4 : 2;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  gsize offset = 0;

  json_builder_begin_object (b);
  add_metadata (b, info);
  for (guint i = 0; i < model->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (model->tensors, i);
      json_builder_set_member_name (b, t->name);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "dtype");
      json_builder_add_string_value (b, dtype == HL_SAVE_F32 ? "F32" : "F16");
      json_builder_set_member_name (b, "shape");
      json_builder_begin_array (b);
      for (int d = 0; d < t->n_dims; d++)
        json_builder_add_int_value (b, t->shape[d]);
      json_builder_end_array (b);
      json_builder_set_member_name (b, "data_offsets");
      json_builder_begin_array (b);
      json_builder_add_int_value (b, (gint64) offset);
      json_builder_add_int_value (b, (gint64) (offset + t->numel * elem));
      json_builder_end_array (b);
      json_builder_end_object (b);
      offset += t->numel * elem;
    }
  json_builder_end_object (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *header = json_to_string (root, FALSE);
  gsize head_len = strlen (header);
  gsize padded = (head_len + 7) / 8 * 8;
  gsize total = 8 + padded + offset;
  g_autofree guint8 *buf = g_malloc (total);
  guint64 len_le = GUINT64_TO_LE ((guint64) padded);
  guint8 *p = buf + 8 + padded;

  memcpy (buf, &len_le, 8);
  memcpy (buf + 8, header, head_len);
  memset (buf + 8 + head_len, ' ', padded - head_len);
  for (guint i = 0; i < model->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (model->tensors, i);
      for (gsize k = 0; k < t->numel; k++)
        {
          gboolean ok = isfinite (t->data[k]);
          if (dtype == HL_SAVE_F32)
            {
              guint32 bits;
              memcpy (&bits, &t->data[k], 4);
              bits = GUINT32_TO_LE (bits);
              memcpy (p, &bits, 4);
            }
          else
            {
              guint16 h = GUINT16_TO_LE (float_to_half (t->data[k], &ok));
              memcpy (p, &h, 2);
            }
          if (!ok)
            {
              g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_INPUT,
                           "Cannot save %s: tensor %s holds %g, which is not finite%s", path,
                           t->name, t->data[k], dtype == HL_SAVE_F16 ? " in F16" : "");
              return FALSE;
            }
          p += elem;
        }
    }

  g_autoptr (GError) local = NULL;
  if (!hl_file_write_contents (path, buf, total, NULL, &local))
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_IO, "Cannot save the model: %s",
                   local->message);
      return FALSE;
    }
  return TRUE;
}
