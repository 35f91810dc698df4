/* hl-test-model-file.c — an in-memory safetensors writer for tests and fuzz seeds (see
 * hl-test-model-file.h). JSON is written by hand so that any field can be replaced by broken
 * text. */
#include "hl-test-model-file.h"

#include <math.h>
#include <string.h>

typedef struct
{
  char *name;
  char *dtype_json;   /* "\"F32\"" */
  char *shape_json;   /* "[4, 1, 7, 7]" */
  char *offsets_json; /* NULL: the real offsets */
  char *entry_json;   /* NULL: built from the fields */
  GBytes *bytes;
} TestTensor;

struct _HlTestModelFile
{
  GPtrArray *tensors;  /* TestTensor*, in data order */
  GPtrArray *meta;     /* alternating key, value (char*) */
  char *raw_metadata;  /* replaces the metadata object when set */
  GPtrArray *raw_members; /* char*, appended to the header as given */
  gboolean no_metadata;
};

static void
test_tensor_free (gpointer p)
{
  TestTensor *t = p;

  g_free (t->name);
  g_free (t->dtype_json);
  g_free (t->shape_json);
  g_free (t->offsets_json);
  g_free (t->entry_json);
  g_bytes_unref (t->bytes);
  g_free (t);
}

HlTestModelFile *
hl_test_model_file_new (void)
{
  HlTestModelFile *file = g_new0 (HlTestModelFile, 1);

  file->tensors = g_ptr_array_new_with_free_func (test_tensor_free);
  file->meta = g_ptr_array_new_with_free_func (g_free);
  file->raw_members = g_ptr_array_new_with_free_func (g_free);
  return file;
}

void
hl_test_model_file_free (HlTestModelFile *file)
{
  if (file == NULL)
    return;
  g_ptr_array_unref (file->tensors);
  g_ptr_array_unref (file->meta);
  g_ptr_array_unref (file->raw_members);
  g_free (file->raw_metadata);
  g_free (file);
}

static void
append_json_string (GString *s, const char *text)
{
  g_string_append_c (s, '"');
  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_printf (s, "\\%c", *p);
      else if ((guchar) *p < 0x20)
        g_string_append_printf (s, "\\u%04x", (guchar) *p);
      else
        g_string_append_c (s, *p);
    }
  g_string_append_c (s, '"');
}

void
hl_test_model_file_set_meta (HlTestModelFile *file, const char *key, const char *value)
{
  for (guint i = 0; i < file->meta->len; i += 2)
    if (strcmp (g_ptr_array_index (file->meta, i), key) == 0)
      {
        if (value != NULL)
          {
            g_free (g_ptr_array_index (file->meta, i + 1));
            g_ptr_array_index (file->meta, i + 1) = g_strdup (value);
          }
        else
          g_ptr_array_remove_range (file->meta, i, 2);
        return;
      }
  if (value != NULL)
    {
      g_ptr_array_add (file->meta, g_strdup (key));
      g_ptr_array_add (file->meta, g_strdup (value));
    }
}

void
hl_test_model_file_set_raw_metadata (HlTestModelFile *file, const char *json)
{
  g_free (file->raw_metadata);
  file->raw_metadata = g_strdup (json);
  file->no_metadata = json == NULL;
}

static TestTensor *
find_tensor (HlTestModelFile *file, const char *name, guint *index)
{
  for (guint i = 0; i < file->tensors->len; i++)
    {
      TestTensor *t = g_ptr_array_index (file->tensors, i);

      if (strcmp (t->name, name) == 0)
        {
          if (index != NULL)
            *index = i;
          return t;
        }
    }
  return NULL;
}

void
hl_test_model_file_add_raw (HlTestModelFile *file, const char *name, const char *dtype,
                            int n_dims, const gint64 *shape, const void *bytes, gsize n_bytes)
{
  TestTensor *t = find_tensor (file, name, NULL);
  GString *s = g_string_new ("[");

  if (t == NULL)
    {
      t = g_new0 (TestTensor, 1);
      t->name = g_strdup (name);
      g_ptr_array_add (file->tensors, t);
    }
  for (int i = 0; i < n_dims; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  g_free (t->shape_json);
  t->shape_json = g_string_free (s, FALSE);
  g_free (t->dtype_json);
  t->dtype_json = g_strdup_printf ("\"%s\"", dtype);
  g_clear_pointer (&t->offsets_json, g_free);
  g_clear_pointer (&t->entry_json, g_free);
  g_clear_pointer (&t->bytes, g_bytes_unref);
  t->bytes = g_bytes_new (bytes, n_bytes);
}

guint16
hl_test_float_to_f16 (float f)
{
  guint32 x, sign, mantissa, rest;
  int exponent;
  guint32 h;

  memcpy (&x, &f, sizeof x);
  sign = (x >> 16) & 0x8000;
  x &= 0x7fffffff;
  if (x > 0x7f800000)
    return (guint16) (sign | 0x7e00);
  if (x >= 0x477ff000) /* 65520 and above round to infinity */
    return (guint16) (sign | 0x7c00);
  if (x < 0x38800000) /* below 2^-14: zero or subnormal, in steps of 2^-24 */
    return (guint16) (sign | (guint32) nearbyintf (fabsf (f) * 0x1p24f));
  exponent = (int) (x >> 23) - 127 + 15;
  mantissa = x & 0x7fffff;
  h = ((guint32) exponent << 10) | (mantissa >> 13);
  rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
    h++;
  return (guint16) (sign | h);
}

guint16
hl_test_float_to_bf16 (float f)
{
  guint32 x;

  memcpy (&x, &f, sizeof x);
  if ((x & 0x7fffffff) > 0x7f800000)
    return (guint16) ((x >> 16) | 0x40);
  return (guint16) ((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

void
hl_test_model_file_add_floats (HlTestModelFile *file, const char *name, const char *dtype,
                               int n_dims, const gint64 *shape, const float *values)
{
  gsize numel = 1;
  g_autoptr (GByteArray) bytes = g_byte_array_new ();

  for (int i = 0; i < n_dims; i++)
    numel *= (gsize) shape[i];
  for (gsize i = 0; i < numel; i++)
    {
      guint8 b[4];
      guint32 bits;

      if (strcmp (dtype, "F32") == 0)
        {
          memcpy (&bits, &values[i], sizeof bits);
          for (int k = 0; k < 4; k++)
            b[k] = (guint8) (bits >> (8 * k));
          g_byte_array_append (bytes, b, 4);
          continue;
        }
      g_assert_true (strcmp (dtype, "F16") == 0 || strcmp (dtype, "BF16") == 0);
      bits = strcmp (dtype, "F16") == 0 ? hl_test_float_to_f16 (values[i])
                                        : hl_test_float_to_bf16 (values[i]);
      b[0] = (guint8) bits;
      b[1] = (guint8) (bits >> 8);
      g_byte_array_append (bytes, b, 2);
    }
  hl_test_model_file_add_raw (file, name, dtype, n_dims, shape, bytes->data, bytes->len);
}

gboolean
hl_test_model_file_remove (HlTestModelFile *file, const char *name)
{
  guint index;

  if (find_tensor (file, name, &index) == NULL)
    return FALSE;
  g_ptr_array_remove_index (file->tensors, index);
  return TRUE;
}

void
hl_test_model_file_set_field (HlTestModelFile *file, const char *name, const char *field,
                              const char *json)
{
  TestTensor *t = find_tensor (file, name, NULL);
  char **slot;

  g_assert_nonnull (t);
  if (field == NULL)
    slot = &t->entry_json;
  else if (strcmp (field, "dtype") == 0)
    slot = &t->dtype_json;
  else if (strcmp (field, "shape") == 0)
    slot = &t->shape_json;
  else
    {
      g_assert_cmpstr (field, ==, "data_offsets");
      slot = &t->offsets_json;
    }
  g_free (*slot);
  *slot = g_strdup (json);
}

void
hl_test_model_file_add_raw_member (HlTestModelFile *file, const char *member)
{
  g_ptr_array_add (file->raw_members, g_strdup (member));
}

GBytes *
hl_test_model_file_build (HlTestModelFile *file)
{
  GString *header = g_string_new ("{");
  g_autoptr (GByteArray) out = g_byte_array_new ();
  gsize offset = 0;
  guint8 len_bytes[8];
  gboolean first = TRUE;

  if (file->raw_metadata != NULL)
    {
      g_string_append_printf (header, "\"__metadata__\": %s", file->raw_metadata);
      first = FALSE;
    }
  else if (!file->no_metadata)
    {
      g_string_append (header, "\"__metadata__\": {");
      for (guint i = 0; i < file->meta->len; i += 2)
        {
          if (i > 0)
            g_string_append (header, ", ");
          append_json_string (header, g_ptr_array_index (file->meta, i));
          g_string_append (header, ": ");
          append_json_string (header, g_ptr_array_index (file->meta, i + 1));
        }
      g_string_append_c (header, '}');
      first = FALSE;
    }

  for (guint i = 0; i < file->tensors->len; i++)
    {
      TestTensor *t = g_ptr_array_index (file->tensors, i);
      gsize n = g_bytes_get_size (t->bytes);

      g_string_append (header, first ? "" : ", ");
      first = FALSE;
      append_json_string (header, t->name);
      g_string_append (header, ": ");
      if (t->entry_json != NULL)
        g_string_append (header, t->entry_json);
      else if (t->offsets_json != NULL)
        g_string_append_printf (header, "{\"dtype\": %s, \"shape\": %s, \"data_offsets\": %s}",
                                t->dtype_json, t->shape_json, t->offsets_json);
      else
        g_string_append_printf (header, "{\"dtype\": %s, \"shape\": %s, \"data_offsets\": [%"
                                G_GSIZE_FORMAT ", %" G_GSIZE_FORMAT "]}", t->dtype_json,
                                t->shape_json, offset, offset + n);
      offset += n;
    }
  for (guint i = 0; i < file->raw_members->len; i++)
    {
      g_string_append (header, first ? "" : ", ");
      first = FALSE;
      g_string_append (header, g_ptr_array_index (file->raw_members, i));
    }
  g_string_append_c (header, '}');

  for (int k = 0; k < 8; k++)
    len_bytes[k] = (guint8) ((guint64) header->len >> (8 * k));
  g_byte_array_append (out, len_bytes, 8);
  g_byte_array_append (out, (const guint8 *) header->str, header->len);
  g_string_free (header, TRUE);
  for (guint i = 0; i < file->tensors->len; i++)
    {
      TestTensor *t = g_ptr_array_index (file->tensors, i);
      gsize n;
      const guint8 *p = g_bytes_get_data (t->bytes, &n);

      g_byte_array_append (out, p, n);
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

static char *
floats_json (const float *values, int n, gboolean nan_as_null)
{
  GString *s = g_string_new ("[");

  for (int i = 0; i < n; i++)
    {
      char buf[G_ASCII_DTOSTR_BUF_SIZE];

      g_string_append (s, i ? ", " : "");
      if (nan_as_null && isnan (values[i]))
        g_string_append (s, "null");
      else
        g_string_append (s, g_ascii_formatd (buf, sizeof buf, "%.9g", values[i]));
    }
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

HlTestModelFile *
hl_test_model_file_new_from_model (HlModel *model, const char *dtype)
{
  const HlModelInfo *info = hl_model_get_info (model);
  HlTestModelFile *file = hl_test_model_file_new ();
  GString *s = g_string_new ("");
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_autofree char *text = NULL;

#define SET_INT(key, v) \
  G_STMT_START { \
    g_autofree char *str_ = g_strdup_printf ("%d", (v)); \
    hl_test_model_file_set_meta (file, key, str_); \
  } G_STMT_END

  hl_test_model_file_set_meta (file, "format", "hilum-densenet/1");
  hl_test_model_file_set_meta (file, "name", info->name);
  hl_test_model_file_set_meta (file, "version", info->version);
  SET_INT ("growth_rate", info->arch.growth_rate);
  for (int b = 0; b < info->arch.n_blocks; b++)
    g_string_append_printf (s, "%s%d", b ? "," : "", info->arch.block_config[b]);
  hl_test_model_file_set_meta (file, "block_config", s->str);
  SET_INT ("num_init_features", info->arch.num_init_features);
  SET_INT ("bn_size", info->arch.bn_size);
  hl_test_model_file_set_meta (file, "bn_eps",
                               g_ascii_formatd (buf, sizeof buf, "%.9g", info->arch.bn_eps));
  SET_INT ("input_size", info->input_size);
  SET_INT ("input_channels", info->input_channels);
#undef SET_INT

  g_string_assign (s, "[");
  for (int l = 0; l < info->n_labels; l++)
    {
      g_string_append (s, l ? ", " : "");
      append_json_string (s, info->labels[l]);
    }
  g_string_append_c (s, ']');
  hl_test_model_file_set_meta (file, "labels", s->str);
  g_string_free (s, TRUE);

  hl_test_model_file_set_meta (file, "preprocess_resize",
                               info->preprocess.resize == HL_RESIZE_BILINEAR
                               ? "bilinear" : "bilinear-antialias");
  hl_test_model_file_set_meta (file, "preprocess_mode",
                               info->preprocess.mode == HL_NORM_CHANNEL ? "channel" : "image");
  text = floats_json (info->preprocess.mean, info->input_channels, FALSE);
  hl_test_model_file_set_meta (file, "preprocess_mean", text);
  g_free (text);
  text = floats_json (info->preprocess.std, info->input_channels, FALSE);
  hl_test_model_file_set_meta (file, "preprocess_std", text);
  g_free (text);
  text = floats_json (info->thresholds, info->n_labels, FALSE);
  hl_test_model_file_set_meta (file, "thresholds", text);
  g_free (text);
  text = floats_json (info->val_auroc, info->n_labels, TRUE);
  hl_test_model_file_set_meta (file, "val_auroc", text);
  hl_test_model_file_set_meta (file, "training_data", info->training_data);
  hl_test_model_file_set_meta (file, "intended_use", info->intended_use);

  for (guint i = 0; i < model->tensors->len; i++)
    {
      HlTensor *t = g_ptr_array_index (model->tensors, i);

      hl_test_model_file_add_floats (file, t->name, dtype, t->n_dims, t->shape, t->data);
    }
  return file;
}

void
hl_test_tiny_info (HlModelInfo *info)
{
  static char *labels[] = { "a", "b", "c", NULL };

  memset (info, 0, sizeof *info);
  info->name = "tiny";
  info->version = "1";
  info->arch.growth_rate = 2;
  info->arch.n_blocks = 2;
  info->arch.block_config[0] = 2;
  info->arch.block_config[1] = 1;
  info->arch.num_init_features = 4;
  info->arch.bn_size = 2;
  info->arch.bn_eps = 1e-5f;
  info->input_size = 32;
  info->input_channels = 1;
  info->n_labels = 3;
  info->labels = labels;
  info->preprocess.resize = HL_RESIZE_BILINEAR;
  info->preprocess.mode = HL_NORM_IMAGE;
  info->preprocess.mean[0] = 0.0f;
  info->preprocess.std[0] = 1.0f;
}
