/* hl-test-model-file.h — an in-memory safetensors writer for tests and fuzz seeds.
 *
 * Tests build model files (valid ones and ones broken in exactly one way) without touching disk:
 * add tensors and metadata, optionally replace the JSON of one header field, then build the bytes.
 * hl_test_model_file_new_from_model() serialises a model (e.g. hl_model_new_random()) with all of
 * its metadata, so the loader's round trip can be checked.
 */
#pragma once

#include "engine/hl-model-private.h"

G_BEGIN_DECLS

typedef struct _HlTestModelFile HlTestModelFile;

HlTestModelFile *hl_test_model_file_new (void);
void hl_test_model_file_free (HlTestModelFile *file);

/* Sets __metadata__[@key] to the string @value; a NULL @value removes the key. */
void hl_test_model_file_set_meta (HlTestModelFile *file, const char *key, const char *value);

/* Adds (or replaces) tensor @name with raw little-endian @bytes (@n_bytes) of dtype @dtype
 * (written as is, e.g. "F16") and shape (@n_dims: @shape). Tensors are laid out in the data
 * section one after another, in the order they were first added. */
void hl_test_model_file_add_raw (HlTestModelFile *file, const char *name, const char *dtype,
                                 int n_dims, const gint64 *shape, const void *bytes,
                                 gsize n_bytes);

/* Adds tensor @name from float @values (product of @shape) written as @dtype: "F32", "F16" or
 * "BF16" (round to nearest even). */
void hl_test_model_file_add_floats (HlTestModelFile *file, const char *name, const char *dtype,
                                    int n_dims, const gint64 *shape, const float *values);

/* Removes tensor @name; returns FALSE if there was none. */
gboolean hl_test_model_file_remove (HlTestModelFile *file, const char *name);

/* Replaces the JSON text of @field ("dtype", "shape" or "data_offsets") in tensor @name's header
 * entry with @json, or, with a NULL @field, the whole entry. */
void hl_test_model_file_set_field (HlTestModelFile *file, const char *name, const char *field,
                                   const char *json);

/* Replaces the whole "__metadata__" value with the JSON text @json (NULL: leave it out). */
void hl_test_model_file_set_raw_metadata (HlTestModelFile *file, const char *json);

/* Appends the JSON text @member ("\"key\": value") to the header after every tensor entry, as
 * given: e.g. a second entry under a name already used, spelt with escapes. */
void hl_test_model_file_add_raw_member (HlTestModelFile *file, const char *member);

/* The file: 8-byte little-endian header length, JSON header, data. */
GBytes *hl_test_model_file_build (HlTestModelFile *file);

/* Every tensor of @model as @dtype, in model->tensors order, and every metadata key of its info
 * (format hilum-densenet/1). */
HlTestModelFile *hl_test_model_file_new_from_model (HlModel *model, const char *dtype);

/* The tiny architecture tests and seeds use: growth 2, blocks 2,1, 4 initial features, bn_size 2,
 * input 32 x 32 x 1, three labels ("a", "b", "c"), image-mode preprocessing. */
void hl_test_tiny_info (HlModelInfo *info);

/* Float to IEEE half / bfloat16 bits, round to nearest even (NaN stays NaN). */
guint16 hl_test_float_to_f16 (float f);
guint16 hl_test_float_to_bf16 (float f);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HlTestModelFile, hl_test_model_file_free)

G_END_DECLS
