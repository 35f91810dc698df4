/* hl-safetensors.c — generic parsing of safetensors containers (see hl-safetensors.h): header
 * length, JSON header, per-tensor dtype/shape/offset checks and float conversion. Knows nothing
 * about DenseNets; hl-model.c gives the tensors their meaning. */
#include "hl-safetensors.h"

#include <math.h>
#include <string.h>

static const struct
{
  const char *name;
  gsize size;
} dtypes[] = {
  [HL_DTYPE_BOOL] = { "BOOL", 1 },       [HL_DTYPE_U8] = { "U8", 1 },
  [HL_DTYPE_I8] = { "I8", 1 },           [HL_DTYPE_F8_E5M2] = { "F8_E5M2", 1 },
  [HL_DTYPE_F8_E4M3] = { "F8_E4M3", 1 }, [HL_DTYPE_I16] = { "I16", 2 },
  [HL_DTYPE_U16] = { "U16", 2 },         [HL_DTYPE_F16] = { "F16", 2 },
  [HL_DTYPE_BF16] = { "BF16", 2 },       [HL_DTYPE_I32] = { "I32", 4 },
  [HL_DTYPE_U32] = { "U32", 4 },         [HL_DTYPE_F32] = { "F32", 4 },
  [HL_DTYPE_F64] = { "F64", 8 },         [HL_DTYPE_I64] = { "I64", 8 },
  [HL_DTYPE_U64] = { "U64", 8 },
};

const char *
hl_dtype_name (HlDtype dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtypes), NULL);

  return dtypes[dtype].name;
}

gsize
hl_dtype_size (HlDtype dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtypes), 0);

  return dtypes[dtype].size;
}

gboolean
hl_dtype_is_float (HlDtype dtype)
{
  return dtype == HL_DTYPE_F32 || dtype == HL_DTYPE_F16 || dtype == HL_DTYPE_BF16;
}

static float
float_from_bits (guint32 bits)
{
  float f;

  memcpy (&f, &bits, sizeof f);
  return f;
}

float
hl_f16_to_float (guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000) << 16;
  guint32 exponent = (h >> 10) & 0x1f;
  guint32 mantissa = h & 0x3ff;
  float magnitude;

  if (exponent == 0)
    magnitude = ldexpf ((float) mantissa, -24); /* zero and subnormals: mantissa * 2^-24 */
  else if (exponent == 31)
    magnitude = mantissa != 0 ? NAN : INFINITY;
  else
    return float_from_bits (sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
  return sign ? -magnitude : magnitude;
}

float
hl_bf16_to_float (guint16 b)
{
  return float_from_bits ((guint32) b << 16);
}

void
hl_safetensors_entry_to_float (const HlSafetensorsEntry *entry, float *out)
{
  const guint8 *p = entry->data;

  g_return_if_fail (hl_dtype_is_float (entry->dtype));

  for (gsize i = 0; i < entry->numel; i++)
    {
      switch (entry->dtype)
        {
        case HL_DTYPE_F32:
          out[i] = float_from_bits ((guint32) p[4 * i] | (guint32) p[4 * i + 1] << 8
                                    | (guint32) p[4 * i + 2] << 16 | (guint32) p[4 * i + 3] << 24);
          break;
        case HL_DTYPE_F16:
          out[i] = hl_f16_to_float ((guint16) (p[2 * i] | p[2 * i + 1] << 8));
          break;
        case HL_DTYPE_BF16:
          out[i] = hl_bf16_to_float ((guint16) (p[2 * i] | p[2 * i + 1] << 8));
          break;
        default:
          g_return_if_reached ();
        }
    }
}

/* What a light pass over JSON text finds, outside strings: how deep brackets and braces nest,
 * how many values it holds (strings, keys included, containers and scalars) and how many
 * members or elements the outermost container has (at most; commas at depth 1, plus one). */
typedef struct
{
  int max_depth;
  gsize n_values;
  gsize n_top;
} JsonScan;

static gboolean
is_json_delimiter (char c)
{
  return c == '"' || c == '{' || c == '[' || c == ']' || c == '}' || c == ',' || c == ':'
         || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
json_scan (const char *text, gsize len, JsonScan *scan)
{
  gboolean in_string = FALSE, in_scalar = FALSE, top_nonempty = FALSE;
  gsize top_commas = 0;
  int depth = 0;

  memset (scan, 0, sizeof *scan);
  for (gsize i = 0; i < len; i++)
    {
      char c = text[i];
      gboolean starts_value;

      if (in_string)
        {
          if (c == '\\')
            i++;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }
      starts_value = c == '"' || c == '{' || c == '[' || (!is_json_delimiter (c) && !in_scalar);
      in_scalar = !is_json_delimiter (c);
      if (starts_value)
        {
          scan->n_values++;
          top_nonempty |= depth == 1;
        }
      if (c == '"')
        in_string = TRUE;
      else if (c == '[' || c == '{')
        {
          depth++;
          scan->max_depth = MAX (scan->max_depth, depth);
        }
      else if (c == ']' || c == '}')
        depth--;
      else if (c == ',' && depth == 1)
        top_commas++;
    }
  scan->n_top = top_commas + (top_nonempty ? 1 : 0);
}

/* The first object json-glib's parser saw a key twice in. Until then no member has been
 * replaced, so no object has been freed and the pointers counted are all distinct. */
typedef struct
{
  GHashTable *counts;     /* JsonObject* -> members parsed into it so far */
  JsonObject *dup_object; /* a reference, or NULL */
  char *dup_key;
} DupCheck;

static void
on_object_member (JsonParser *parser, JsonObject *object, const char *name, gpointer data)
{
  DupCheck *dc = data;
  guint n;

  if (dc->dup_object != NULL)
    return;
  n = GPOINTER_TO_UINT (g_hash_table_lookup (dc->counts, object)) + 1;
  /* a member set over an existing one leaves the object's size as it was */
  if (n > json_object_get_size (object))
    {
      dc->dup_object = json_object_ref (object);
      dc->dup_key = g_strescape (name, NULL);
      return;
    }
  g_hash_table_insert (dc->counts, object, GUINT_TO_POINTER (n));
}

static void
dup_check_clear (DupCheck *dc)
{
  g_clear_pointer (&dc->counts, g_hash_table_unref);
  g_clear_pointer (&dc->dup_object, json_object_unref);
  g_clear_pointer (&dc->dup_key, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DupCheck, dup_check_clear)

/* hl_json_parse_bounded, except that a key named twice is left in @dc (with the root returned)
 * and that, with @max_top > 0, an outermost container with more members is refused. */
static JsonNode *
json_parse_checked (const char *text, gsize len, gsize max_values, gsize max_top, DupCheck *dc,
                    char **problem)
{
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GError) local_error = NULL;
  JsonNode *root;
  JsonScan scan;

  if (len > G_MAXSSIZE)
    {
      *problem = g_strdup ("is too long");
      return NULL;
    }
  json_scan (text, len, &scan);
  if (scan.max_depth > HL_JSON_MAX_DEPTH)
    {
      *problem = g_strdup_printf ("is nested deeper than %d levels", HL_JSON_MAX_DEPTH);
      return NULL;
    }
  if (max_top > 0 && scan.n_top > max_top)
    {
      *problem = g_strdup_printf ("has %" G_GSIZE_FORMAT " entries, more than %" G_GSIZE_FORMAT,
                                  scan.n_top, max_top);
      return NULL;
    }
  if (scan.n_values > max_values)
    {
      *problem = g_strdup_printf ("holds %" G_GSIZE_FORMAT " JSON values, more than %"
                                  G_GSIZE_FORMAT, scan.n_values, max_values);
      return NULL;
    }
  parser = json_parser_new_immutable ();
  dc->counts = g_hash_table_new (NULL, NULL);
  g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), dc);
  if (!json_parser_load_from_data (parser, text, (gssize) len, &local_error))
    {
      *problem = g_strdup_printf ("is not valid JSON: %s", local_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL)
    {
      *problem = g_strdup ("is empty");
      return NULL;
    }
  return json_node_ref (root);
}

JsonNode *
hl_json_parse_bounded (const char *text, gsize len, gsize max_values, char **problem)
{
  g_auto (DupCheck) dc = { 0 };
  JsonNode *root;

  g_return_val_if_fail (problem != NULL && *problem == NULL, NULL);

  root = json_parse_checked (text, len, max_values, 0, &dc, problem);
  if (root != NULL && dc.dup_key != NULL)
    {
      *problem = g_strdup_printf ("names key \"%.200s\" twice in one object", dc.dup_key);
      g_clear_pointer (&root, json_node_unref);
    }
  return root;
}

static void
entry_free (HlSafetensorsEntry *e)
{
  g_free (e->name);
  g_free (e);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlSafetensorsEntry, entry_free)

void
hl_safetensors_free (HlSafetensors *st)
{
  if (st == NULL)
    return;
  g_ptr_array_unref (st->entries);
  g_clear_pointer (&st->root, json_node_unref);
  g_free (st);
}

/* TRUE if @node is a JSON integer >= 0; stores it in @value. */
static gboolean
node_get_count (JsonNode *node, gint64 *value)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (node);
  return *value >= 0;
}

static gboolean
parse_dtype (const char *s, HlDtype *dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (strcmp (s, dtypes[i].name) == 0)
      {
        *dtype = (HlDtype) i;
        return TRUE;
      }
  return FALSE;
}

#define FORMAT_ERROR(...) g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_FORMAT, __VA_ARGS__)

/* Checks the header entry @node of tensor @name against a data section of @data_size bytes. */
static HlSafetensorsEntry *
parse_entry (const char *name, JsonNode *node, const guint8 *data, gsize data_size,
             const char *origin, GError **error)
{
  g_autoptr (HlSafetensorsEntry) e = g_new0 (HlSafetensorsEntry, 1);
  JsonObject *obj;
  JsonNode *member;
  JsonArray *shape, *offsets;
  const char *dtype_name;
  gint64 begin, end;
  gsize n_bytes;

  e->name = g_strdup (name);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      FORMAT_ERROR ("%s: tensor %s: header entry is not an object", origin, name);
      return NULL;
    }
  obj = json_node_get_object (node);

  member = json_object_get_member (obj, "dtype");
  if (member == NULL || !JSON_NODE_HOLDS_VALUE (member)
      || json_node_get_value_type (member) != G_TYPE_STRING)
    {
      FORMAT_ERROR ("%s: tensor %s: dtype is missing or not a string", origin, name);
      return NULL;
    }
  dtype_name = json_node_get_string (member);
  if (!parse_dtype (dtype_name, &e->dtype))
    {
      FORMAT_ERROR ("%s: tensor %s: unknown dtype \"%.32s\"", origin, name, dtype_name);
      return NULL;
    }

  member = json_object_get_member (obj, "shape");
  if (member == NULL || !JSON_NODE_HOLDS_ARRAY (member))
    {
      FORMAT_ERROR ("%s: tensor %s: shape is missing or not an array", origin, name);
      return NULL;
    }
  shape = json_node_get_array (member);
  if (json_array_get_length (shape) > HL_SAFETENSORS_MAX_DIMS)
    {
      FORMAT_ERROR ("%s: tensor %s: shape has %u dimensions, more than %d", origin, name,
                    json_array_get_length (shape), HL_SAFETENSORS_MAX_DIMS);
      return NULL;
    }
  e->n_dims = (int) json_array_get_length (shape);
  e->numel = 1;
  for (int i = 0; i < e->n_dims; i++)
    {
      if (!node_get_count (json_array_get_element (shape, i), &e->shape[i]))
        {
          FORMAT_ERROR ("%s: tensor %s: shape is not an array of non-negative integers", origin,
                        name);
          return NULL;
        }
      if (!g_size_checked_mul (&e->numel, e->numel, (gsize) e->shape[i]))
        {
          FORMAT_ERROR ("%s: tensor %s: shape overflows", origin, name);
          return NULL;
        }
    }

  member = json_object_get_member (obj, "data_offsets");
  if (member == NULL || !JSON_NODE_HOLDS_ARRAY (member)
      || json_array_get_length (offsets = json_node_get_array (member)) != 2
      || !node_get_count (json_array_get_element (offsets, 0), &begin)
      || !node_get_count (json_array_get_element (offsets, 1), &end))
    {
      FORMAT_ERROR ("%s: tensor %s: data_offsets is not [begin, end] with non-negative integers",
                    origin, name);
      return NULL;
    }
  if (begin > end)
    {
      FORMAT_ERROR ("%s: tensor %s: data_offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                    "] run backwards", origin, name, begin, end);
      return NULL;
    }
  if ((guint64) end > data_size)
    {
      FORMAT_ERROR ("%s: tensor %s: data_offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                    "] run past the data (%" G_GSIZE_FORMAT " bytes)", origin, name, begin, end,
                    data_size);
      return NULL;
    }
  if (!g_size_checked_mul (&n_bytes, e->numel, hl_dtype_size (e->dtype))
      || n_bytes != (gsize) (end - begin))
    {
      FORMAT_ERROR ("%s: tensor %s: data_offsets hold %" G_GINT64_FORMAT " bytes, not the size of "
                    "%" G_GSIZE_FORMAT " %s values", origin, name, end - begin, e->numel,
                    dtypes[e->dtype].name);
      return NULL;
    }
  e->begin = (gsize) begin;
  e->end = (gsize) end;
  e->data = data + begin;
  return g_steal_pointer (&e);
}

static gboolean
parse_metadata (JsonNode *node, const char *origin, JsonObject **metadata, GError **error)
{
  g_autoptr (GList) keys = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_METADATA,
                   "%s: __metadata__ is not an object", origin);
      return FALSE;
    }
  *metadata = json_node_get_object (node);
  keys = json_object_get_members (*metadata);
  for (GList *l = keys; l != NULL; l = l->next)
    {
      JsonNode *value = json_object_get_member (*metadata, l->data);

      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        {
          g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_METADATA,
                       "%s: metadata %s is not a string", origin, (const char *) l->data);
          return FALSE;
        }
    }
  return TRUE;
}

static int
compare_begin (gconstpointer a, gconstpointer b)
{
  const HlSafetensorsEntry *ea = *(HlSafetensorsEntry *const *) a;
  const HlSafetensorsEntry *eb = *(HlSafetensorsEntry *const *) b;

  return ea->begin < eb->begin ? -1 : ea->begin > eb->begin;
}

/* Refuses two non-empty tensors sharing bytes. */
static gboolean
check_overlaps (GPtrArray *entries, const char *origin, GError **error)
{
  g_autoptr (GPtrArray) sorted = g_ptr_array_new ();

  for (guint i = 0; i < entries->len; i++)
    {
      HlSafetensorsEntry *e = g_ptr_array_index (entries, i);

      if (e->end > e->begin)
        g_ptr_array_add (sorted, e);
    }
  g_ptr_array_sort (sorted, compare_begin);
  for (guint i = 1; i < sorted->len; i++)
    {
      HlSafetensorsEntry *prev = g_ptr_array_index (sorted, i - 1);
      HlSafetensorsEntry *e = g_ptr_array_index (sorted, i);

      if (e->begin < prev->end)
        {
          FORMAT_ERROR ("%s: tensors %s and %s overlap in the data", origin, prev->name, e->name);
          return FALSE;
        }
    }
  return TRUE;
}

/* Names the key @dc found twice and where: in the header itself, in __metadata__, in a tensor's
 * entry or deeper. */
static void
report_duplicate (JsonObject *header, const DupCheck *dc, const char *origin, GError **error)
{
  g_autoptr (GList) names = NULL;

  if (dc->dup_object == header)
    {
      FORMAT_ERROR ("%s: header names \"%.200s\" twice", origin, dc->dup_key);
      return;
    }
  names = json_object_get_members (header);
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (header, l->data);

      if (!JSON_NODE_HOLDS_OBJECT (node) || json_node_get_object (node) != dc->dup_object)
        continue;
      if (strcmp (l->data, "__metadata__") == 0)
        g_set_error (error, HL_ENGINE_ERROR, HL_ENGINE_ERROR_METADATA,
                     "%s: __metadata__ names \"%.200s\" twice", origin, dc->dup_key);
      else
        FORMAT_ERROR ("%s: tensor %s: header entry names \"%.200s\" twice", origin,
                      (const char *) l->data, dc->dup_key);
      return;
    }
  FORMAT_ERROR ("%s: header names \"%.200s\" twice in a nested object", origin, dc->dup_key);
}

HlSafetensors *
hl_safetensors_parse (const guint8 *data, gsize size, const char *origin, GError **error)
{
  g_autoptr (HlSafetensors) st = NULL;
  g_autoptr (GList) names = NULL;
  g_autofree char *problem = NULL;
  g_auto (DupCheck) dc = { 0 };
  JsonObject *header;
  guint64 header_len = 0;
  const guint8 *tensor_data;
  gsize data_size;

  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (origin != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (size < 8)
    {
      FORMAT_ERROR ("%s: %" G_GSIZE_FORMAT " bytes is too short for a safetensors file", origin,
                    size);
      return NULL;
    }
  for (int i = 7; i >= 0; i--)
    header_len = header_len << 8 | data[i];
  if (header_len > HL_SAFETENSORS_MAX_HEADER)
    {
      FORMAT_ERROR ("%s: header length %" G_GUINT64_FORMAT " is absurd (limit %d bytes)", origin,
                    header_len, HL_SAFETENSORS_MAX_HEADER);
      return NULL;
    }
  if (header_len > size - 8)
    {
      FORMAT_ERROR ("%s: header length %" G_GUINT64_FORMAT " runs past the end of the file "
                    "(%" G_GSIZE_FORMAT " bytes)", origin, header_len, size);
      return NULL;
    }

  st = g_new0 (HlSafetensors, 1);
  st->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_free);
  st->root = json_parse_checked ((const char *) data + 8, header_len, HL_SAFETENSORS_MAX_VALUES,
                                 HL_SAFETENSORS_MAX_ENTRIES + 1, &dc, &problem);
  if (st->root == NULL)
    {
      FORMAT_ERROR ("%s: header %s", origin, problem);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (st->root))
    {
      FORMAT_ERROR ("%s: header is not a JSON object", origin);
      return NULL;
    }

  header = json_node_get_object (st->root);
  if (dc.dup_key != NULL)
    {
      report_duplicate (header, &dc, origin, error);
      return NULL;
    }
  tensor_data = data + 8 + header_len;
  data_size = size - 8 - header_len;
  names = json_object_get_members (header);
  for (GList *l = names; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *node = json_object_get_member (header, name);
      HlSafetensorsEntry *e;

      if (strcmp (name, "__metadata__") == 0)
        {
          if (!parse_metadata (node, origin, &st->metadata, error))
            return NULL;
          continue;
        }
      e = parse_entry (name, node, tensor_data, data_size, origin, error);
      if (e == NULL)
        return NULL;
      g_ptr_array_add (st->entries, e);
    }

  if (!check_overlaps (st->entries, origin, error))
    return NULL;
  return g_steal_pointer (&st);
}
