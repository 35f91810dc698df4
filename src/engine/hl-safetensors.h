/* hl-safetensors.h — generic parsing of safetensors containers for the engine's model loader.
 *
 * A safetensors buffer is an 8-byte little-endian header length N, N bytes of JSON header (an
 * object mapping tensor names to {dtype, shape, data_offsets}, plus an optional "__metadata__"
 * object of strings) and the tensor data. hl_safetensors_parse() checks the container, not what
 * the tensors mean: lengths, JSON, dtypes, shapes, offsets within the data and no two tensors
 * overlapping. Errors are HL_ENGINE_ERROR_FORMAT (HL_ENGINE_ERROR_METADATA for a malformed
 * "__metadata__"), with messages that start with the @origin given.
 * Not installed; for src/engine and its tests.
 */
#pragma once

#include "hl-engine.h"

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* What a header may hold, checked on its text before json-glib builds anything. The largest
 * architecture a model file may declare (README "Model file format": 8 blocks of 128 layers) has
 * 10,286 tensors and 2,057 BatchNorms, each of which may add a num_batches_tracked entry: 12,343
 * entries. An entry is at most 14 JSON values (its key, the object, three member names, dtype,
 * shape with up to 4 dimensions, two offsets) and under 160 bytes, so these limits leave room
 * for 16,384 entries of 256 bytes plus 4 MiB of metadata, while json-glib's tree of a header
 * within them stays under about 60 MiB (it takes up to ~200 bytes a value). */
#define HL_SAFETENSORS_MAX_HEADER (8 * 1024 * 1024)
#define HL_SAFETENSORS_MAX_ENTRIES 16384
#define HL_SAFETENSORS_MAX_VALUES (1 << 18)
/* Tensors of higher rank are refused. */
#define HL_SAFETENSORS_MAX_DIMS 8
/* JSON nested deeper than this is refused before parsing (json-glib recurses). */
#define HL_JSON_MAX_DEPTH 64

/* The safetensors dtypes; only F32, F16 and BF16 convert to float. */
typedef enum
{
  HL_DTYPE_BOOL,
  HL_DTYPE_U8,
  HL_DTYPE_I8,
  HL_DTYPE_F8_E5M2,
  HL_DTYPE_F8_E4M3,
  HL_DTYPE_I16,
  HL_DTYPE_U16,
  HL_DTYPE_F16,
  HL_DTYPE_BF16,
  HL_DTYPE_I32,
  HL_DTYPE_U32,
  HL_DTYPE_F32,
  HL_DTYPE_F64,
  HL_DTYPE_I64,
  HL_DTYPE_U64,
} HlDtype;

typedef struct
{
  char *name;
  HlDtype dtype;
  int n_dims;
  gint64 shape[HL_SAFETENSORS_MAX_DIMS]; /* (n_dims), each >= 0 */
  gsize numel;                           /* product of shape, overflow-checked */
  gsize begin, end;                      /* byte range in the data section */
  const guint8 *data;                    /* (end - begin) bytes, lent from the parsed buffer */
} HlSafetensorsEntry;

typedef struct
{
  JsonObject *metadata; /* "__metadata__", every value a string; NULL when absent */
  GPtrArray *entries;   /* HlSafetensorsEntry*, in header order */
  JsonNode *root;       /* owns the parsed header */
} HlSafetensors;

/* Parses and checks the container in @data (@size bytes); entries point into @data, which must
 * outlive the result. Returns NULL and sets @error on any problem, a key named twice in one
 * object included (json-glib would keep the last); never reads out of bounds, and refuses a
 * header over the limits above before building its tree. */
HlSafetensors *hl_safetensors_parse (const guint8 *data, gsize size, const char *origin,
                                     GError **error);
void hl_safetensors_free (HlSafetensors *st);

/* The dtype's name as written in headers ("F32") and its element size in bytes. */
const char *hl_dtype_name (HlDtype dtype);
gsize hl_dtype_size (HlDtype dtype);

/* TRUE for F32, F16 and BF16, the dtypes hl_safetensors_entry_to_float() converts. */
gboolean hl_dtype_is_float (HlDtype dtype);

/* Converts a float entry's numel values (little-endian in the file) to float32 in @out (numel).
 * Exact: every F16 and BF16 value, subnormals, infinities and NaN included, is representable. */
void hl_safetensors_entry_to_float (const HlSafetensorsEntry *entry, float *out);

/* IEEE half and bfloat16 bit patterns to float. */
float hl_f16_to_float (guint16 h);
float hl_bf16_to_float (guint16 b);

/* Parses JSON text (@len bytes, not necessarily NUL-terminated) after checking on the text that
 * it nests at most HL_JSON_MAX_DEPTH deep and holds at most @max_values values (object keys
 * count as values), so that the tree built stays small; refuses an object that names a key
 * twice (keys compared as json-glib decodes them: "a\u0062" is "ab"). Returns the root node
 * (free with json_node_unref), or NULL with @problem (free with g_free) set to a phrase that
 * follows the text's name in a message: "is not valid JSON: ...", "is nested deeper than 64
 * levels", "holds N JSON values, more than M", "names key \"k\" twice in one object". */
JsonNode *hl_json_parse_bounded (const char *text, gsize len, gsize max_values, char **problem);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlSafetensors, hl_safetensors_free)

G_END_DECLS
