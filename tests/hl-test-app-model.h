/* hl-test-app-model.h — a small random model with the 14 ChestX-ray14 labels, operating points and
 * validation AUROCs (some below the weak limit), written to a file, for the app's tests and for
 * trying the viewer before a trained model exists. Its scores mean nothing. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Writes the model (growth 4, blocks 2,2, 8 initial features, input 64 x 64 x 1) to @path.
 * Returns FALSE with @error set when the file cannot be written. */
gboolean hl_test_app_model_write (const char *path, GError **error);

G_END_DECLS
