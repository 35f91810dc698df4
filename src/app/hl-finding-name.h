/* hl-finding-name.h — the name a finding is shown under in the viewer: the ChestX-ray14 labels
 * translated, any other label as the model file spells it with '_' shown as a space. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Returns @label's display name (free it): its translation when it is one of the 14
 * ChestX-ray14 labels (hl_label_names), else @label with every '_' replaced by a space. */
char *hl_finding_name_dup (const char *label);

G_END_DECLS
