/* test-cli-main.c — runs the built `hilum-cli` (HL_BUILD_DIR) without a command, with an unknown
 * one, with --help and --version, and every command with --help and with an unknown option: the
 * exit statuses (0, 2) and that usage and errors name the program and the command. */
#include <string.h>

#include "hl-test-png.h"

static const char *const commands[] = { "predict", "check", "split", "train",
                                        "eval",    "report", "convert" };

static void
test_no_command (void)
{
  g_auto (HlTestRun) run = { 0 };
  const char *none[] = { NULL };
  const char *bogus[] = { "bogus", NULL };

  hl_test_run (&run, none);
  g_assert_cmpint (run.status, ==, 2);
  g_assert_cmpstr (run.out, ==, "");
  g_assert_true (g_str_has_prefix (run.err, "Usage: hilum-cli COMMAND"));

  hl_test_run (&run, bogus);
  g_assert_cmpint (run.status, ==, 2);
  g_assert_true (g_str_has_prefix (run.err, "hilum-cli: unknown command 'bogus'"));
  g_assert_nonnull (strstr (run.err, "Usage: hilum-cli COMMAND"));
}

static void
test_help_and_version (void)
{
  g_auto (HlTestRun) run = { 0 };
  const char *help[] = { "--help", NULL };
  const char *version[] = { "--version", NULL };

  hl_test_run (&run, help);
  g_assert_cmpint (run.status, ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *line = g_strdup_printf ("\n  %-10s ", commands[i]);
      g_assert_nonnull (strstr (run.out, line));
    }

  hl_test_run (&run, version);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_true (g_str_has_prefix (run.out, "hilum-cli "));
}

/* Each command's --help says "hilum-cli COMMAND" and exits 0; an unknown option is a usage error
 * (2) whose message starts with "hilum-cli COMMAND: ". */
static void
test_commands (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_auto (HlTestRun) run = { 0 };
      const char *help[] = { commands[i], "--help", NULL };
      const char *unknown[] = { commands[i], "--no-such-option", NULL };
      g_autofree char *usage = g_strdup_printf ("hilum-cli %s [OPTION", commands[i]);
      g_autofree char *prefix = g_strdup_printf ("hilum-cli %s: ", commands[i]);

      hl_test_run (&run, help);
      g_assert_cmpint (run.status, ==, 0);
      g_assert_nonnull (strstr (run.out, usage));

      hl_test_run (&run, unknown);
      g_assert_cmpint (run.status, ==, 2);
      g_assert_true (g_str_has_prefix (run.err, prefix));
      g_assert_nonnull (strstr (run.err, "--no-such-option"));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/cli/main/no-command", test_no_command);
  g_test_add_func ("/cli/main/help-and-version", test_help_and_version);
  g_test_add_func ("/cli/main/commands", test_commands);

  return g_test_run ();
}
