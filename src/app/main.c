/* main.c — the `hilum` executable: sets up gettext and runs HlApplication. Everything else lives in
 * the hl-app library so that the GUI tests can drive the same code. */
#include <glib/gi18n.h>
#include <locale.h>

#include "hl-application.h"

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, HL_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  g_autoptr (HlApplication) app = hl_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
