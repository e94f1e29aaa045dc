/*
 * strata/cli.h - the `db` commands (init, migrate, upgrade, ...) as one
 * call, for the `strata` tool and for applications that carry their own
 * models: `myapp db migrate -m "posts table"` runs strata_cli_main() with
 * the application's models, as `flask db` runs inside the Flask app.
 */
#ifndef STRATA_CLI_H
#define STRATA_CLI_H

#include "common.h"
#include "orm.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Exit codes of strata_cli_main(), for scripts. */
#define STRATA_CLI_OK 0       /* done */
#define STRATA_CLI_FAILED 1   /* the command failed: database, repository or file error */
#define STRATA_CLI_USAGE 2    /* bad arguments: unknown command or option, missing value */
#define STRATA_CLI_OUTDATED 3 /* check found differences; migrate on a database not at head */

/**
 * Run a command line: argv[1] is "db" followed by a command and its
 * options ("db upgrade head --url sqlite:///app.db"), or "--version" /
 * "--help".  `models` (NULL-terminated, may be NULL) are what `migrate`
 * and `check` compare the database with; without them those two commands
 * say that the application's own binary is needed.  Output goes to
 * stdout, errors to stderr.  Returns an exit code, STRATA_CLI_*.
 */
STRATA_API int strata_cli_main(int argc, char **argv, const strata_model *const *models);

#ifdef __cplusplus
}
#endif
#endif
