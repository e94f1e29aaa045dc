/*
 * strata.c - the standalone `strata` tool: every `db` command that needs
 * no models.  An application gets the rest (migrate, check) by calling
 * strata_cli_main() with its models from its own main().
 */
#include <strata.h>

int main(int argc, char **argv) { return strata_cli_main(argc, argv, NULL); }
