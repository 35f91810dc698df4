/* hl-finding-name.c — translated display names of the findings. */
#include "hl-finding-name.h"

#include <glib/gi18n.h>
#include <string.h>

/* The ChestX-ray14 labels as model files spell them, and as shown. */
static const struct
{
  const char *label;
  const char *name;
} names[] = {
  { "Atelectasis", NC_ ("finding", "Atelectasis") },
  { "Cardiomegaly", NC_ ("finding", "Cardiomegaly") },
  { "Effusion", NC_ ("finding", "Effusion") },
  { "Infiltration", NC_ ("finding", "Infiltration") },
  { "Mass", NC_ ("finding", "Mass") },
  { "Nodule", NC_ ("finding", "Nodule") },
  { "Pneumonia", NC_ ("finding", "Pneumonia") },
  { "Pneumothorax", NC_ ("finding", "Pneumothorax") },
  { "Consolidation", NC_ ("finding", "Consolidation") },
  { "Edema", NC_ ("finding", "Edema") },
  { "Emphysema", NC_ ("finding", "Emphysema") },
  { "Fibrosis", NC_ ("finding", "Fibrosis") },
  { "Pleural_Thickening", NC_ ("finding", "Pleural Thickening") },
  { "Hernia", NC_ ("finding", "Hernia") },
};

char *
hl_finding_name_dup (const char *label)
{
  g_return_val_if_fail (label != NULL, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    if (strcmp (label, names[i].label) == 0)
      return g_strdup (g_dpgettext2 (GETTEXT_PACKAGE, "finding", names[i].name));
  return g_strdelimit (g_strdup (label), "_", ' ');
}
