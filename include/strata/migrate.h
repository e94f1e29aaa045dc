/*
 * strata/migrate.h - migrations: a repository of revision files, the
 * revision graph, upgrade / downgrade with a version table and a lock,
 * offline SQL, autogenerate and check.
 *
 * A repository is a folder (by default `migrations/`) holding strata.yaml
 * (the configuration), a README and versions/, with one YAML file per
 * revision.  The operations in a revision are engine-neutral, so the same
 * files run on SQLite and PostgreSQL.  docs/migrations.md has the format
 * and the workflow.
 *
 * Every call that can fail returns STRATA_OK or a STRATA_E_* code; the
 * message is strata_migrations_errmsg(m) (for calls that run SQL it names
 * the revision file and the operation, and the connection's own message
 * stays on the strata_db).
 */
#ifndef STRATA_MIGRATE_H
#define STRATA_MIGRATE_H

#include "common.h"
#include "db.h"
#include "schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A migrations repository, loaded. */
typedef struct strata_migrations strata_migrations;

/** Receives one line of progress output, without the newline
 *  ("Running upgrade  -> e517276bb1c2, users table"). */
typedef void (*strata_print_fn)(void *ud, const char *line);

/** One file of a repository compiled into a program: `name` is its path
 *  inside the repository ("strata.yaml", "versions/e517276bb1c2_users_table.yaml"),
 *  `text` its contents.  An array ends with a {NULL, NULL} entry. */
typedef struct strata_embedded_file {
    const char *name;
    const char *text;
} strata_embedded_file;

/** Create a repository in folder `dir` (made if missing): strata.yaml,
 *  README and versions/.  STRATA_E_MIGRATION when `dir` already holds one
 *  (nothing is overwritten).  *out is set even on failure, for the
 *  message; free it with strata_migrations_free(). */
STRATA_API int strata_migrations_init(strata_migrations **out, const char *dir);

/** Load the repository in `dir`.  A file that is not valid gives
 *  STRATA_E_MIGRATION with "file:line:column: what" in the message, and
 *  nothing is loaded.  *out is set even on failure, for the message. */
STRATA_API int strata_migrations_open(strata_migrations **out, const char *dir);

/** Load a repository from files compiled into the program (see
 *  strata_migrations_write_embedded()).  Revisions written through it
 *  (revision, merge, autogenerate) are refused. */
STRATA_API int strata_migrations_open_embedded(strata_migrations **out,
                                               const strata_embedded_file *files);

/** Write a C source file defining `const strata_embedded_file
 *  <symbol>[]` with the repository's files. */
STRATA_API int strata_migrations_write_embedded(strata_migrations *m, const char *path,
                                                const char *symbol);

/** Free the repository.  Accepts NULL. */
STRATA_API void strata_migrations_free(strata_migrations *m);

/** Why the last call on `m` failed; "" after success.  Borrowed until
 *  the next call. */
STRATA_API const char *strata_migrations_errmsg(const strata_migrations *m);

/** Send progress lines to `fn` (NULL: nowhere, the default). */
STRATA_API void strata_migrations_set_output(strata_migrations *m, strata_print_fn fn, void *ud);

/** How long an upgrade, downgrade or stamp waits for the migration lock
 *  when another process holds it (SQLite's write lock, PostgreSQL's
 *  advisory lock), in milliseconds, before it fails with STRATA_E_BUSY;
 *  the default is STRATA_MIGRATION_LOCK_WAIT_MS (10 minutes).  On
 *  PostgreSQL the revisions' own lock waits keep the connection's
 *  lock_timeout. */
#define STRATA_MIGRATION_LOCK_WAIT_MS 600000
STRATA_API void strata_migrations_set_lock_wait(strata_migrations *m, int ms);

/** Run all revisions of an upgrade or downgrade in one transaction
 *  instead of one each (the default, from strata.yaml). */
STRATA_API void strata_migrations_set_single_transaction(strata_migrations *m, int on);

/** The configured default database URL (strata.yaml's database_url), or
 *  NULL.  Borrowed. */
STRATA_API const char *strata_migrations_default_url(const strata_migrations *m);
/** The version table's name (strata.yaml's version_table, by default
 *  strata_version).  Borrowed. */
STRATA_API const char *strata_migrations_version_table(const strata_migrations *m);

/** Number of revisions, and the id, message and file of revision i (in
 *  dependency order, the first revision first).  Borrowed. */
STRATA_API int strata_migrations_count(const strata_migrations *m);
STRATA_API const char *strata_migrations_revision_id(const strata_migrations *m, int i);
STRATA_API const char *strata_migrations_revision_message(const strata_migrations *m, int i);
STRATA_API const char *strata_migrations_revision_file(const strata_migrations *m, int i);

/* ---- writing revisions ------------------------------------------------- */

/** Write an empty revision on top of the current head(s), to fill in by
 *  hand.  *id (may be NULL) receives its id; caller frees with
 *  strata_free(). */
STRATA_API int strata_migrations_revision(strata_migrations *m, const char *message, char **id);

/** Write a revision merging revisions `revs` (ids or unique prefixes,
 *  NULL-terminated; NULL for every head). */
STRATA_API int strata_migrations_merge(strata_migrations *m, const char *const *revs,
                                       const char *message, char **id);

/** Compare the models (`target`) with the database, which must be at head
 *  (else STRATA_E_OUTDATED, "Target database is not up to date."), and
 *  write a revision with the upgrade and the downgrade.  Prints one
 *  "Detected ..." line per change.  With no change, prints "No changes in
 *  schema detected.", writes nothing, returns STRATA_OK and sets *id to
 *  NULL. */
STRATA_API int strata_migrations_autogenerate(strata_migrations *m, strata_db *db,
                                              const strata_metadata *target, const char *message,
                                              char **id);

/** STRATA_OK when the database is at head and its schema equals the
 *  models; else STRATA_E_OUTDATED, printing what differs. */
STRATA_API int strata_migrations_check(strata_migrations *m, strata_db *db,
                                       const strata_metadata *target);

/* ---- running ----------------------------------------------------------- */

/**
 * Upgrade the database to `target`: "head" (the one head; an error naming
 * them when there are several), "heads", a revision id or unique prefix,
 * "+N" (N revisions up from the current one) or "REV+N".  Each revision
 * runs in a transaction with its version-table update, so after a failure
 * the database is at the revision before, and the error names the file
 * and the operation.  A lock (PostgreSQL advisory lock, SQLite write
 * lock) makes a second process running at the same time wait, then find
 * nothing left to do.  Prints "Running upgrade A -> B, message".
 */
STRATA_API int strata_migrations_upgrade(strata_migrations *m, strata_db *db, const char *target);

/** Downgrade to `target`: "base", a revision, "-N" or "REV-N". */
STRATA_API int strata_migrations_downgrade(strata_migrations *m, strata_db *db, const char *target);

/** The SQL an upgrade (or downgrade) over `range` ("[FROM:]TO", FROM
 *  defaulting to base for upgrades) would run on `dialect`, without a
 *  database: version table, BEGIN / COMMIT per revision, the SQLite table
 *  rebuilds.  Caller frees *out with strata_free(). */
STRATA_API int strata_migrations_upgrade_sql(strata_migrations *m, const strata_driver *dialect,
                                             const char *range, char **out);
STRATA_API int strata_migrations_downgrade_sql(strata_migrations *m, const strata_driver *dialect,
                                               const char *range, char **out);

/** Set the version table to `target` without running anything. */
STRATA_API int strata_migrations_stamp(strata_migrations *m, strata_db *db, const char *target);

/** The database's current revision(s), one line each, "(head)" marking
 *  heads; "" when at base.  Caller frees *out with strata_free(). */
STRATA_API int strata_migrations_current(strata_migrations *m, strata_db *db, char **out);

/** The ids of the database's current revisions, NULL-terminated (at base:
 *  an empty array).  Caller frees with strata_migrations_ids_free(). */
STRATA_API int strata_migrations_current_ids(strata_migrations *m, strata_db *db, char ***out);
STRATA_API void strata_migrations_ids_free(char **ids);

/* ---- inspecting -------------------------------------------------------- */

/** The revisions, newest first, as "A -> B (head), message" lines;
 *  `range` "A:B" (either side may be empty) or NULL for all; `verbose`
 *  adds file, parents and date.  Caller frees *out with strata_free(). */
STRATA_API int strata_migrations_history(strata_migrations *m, const char *range, int verbose,
                                         char **out);
/** The heads, one per line ("e517276bb1c2 (head)"). */
STRATA_API int strata_migrations_heads(strata_migrations *m, char **out);
/** The branch points, one per line ("a1 (branchpoint) -> b1, b2"). */
STRATA_API int strata_migrations_branches(strata_migrations *m, char **out);

/* ---- copying a database ---------------------------------------------- */

/** Progress of a copy: `done` of `total` rows of `table` so far (total
 *  counted before the table's rows are read; done == total at its end). */
typedef void (*strata_copy_progress_fn)(void *ud, const char *table, int64_t done, int64_t total);

typedef struct strata_copy_options {
    int version;                /* STRATA_COPY_OPTIONS_VERSION */
    const char *version_table;  /* the migrations' table; NULL: "strata_version" */
    int batch_rows;             /* rows per INSERT; 0: 500 (fewer for wide tables) */
    int into_non_empty;         /* non-zero: copy into tables that already have rows */
    const char *const *exclude; /* tables to leave out, NULL-terminated; or NULL */
    strata_copy_progress_fn progress; /* or NULL */
    strata_print_fn print;            /* the verification table, line by line; or NULL */
    void *ud;                         /* for progress and print */
} strata_copy_options;

#define STRATA_COPY_OPTIONS_VERSION 1

/**
 * Copy every table of `source` into `target`, which may be another engine
 * (SQLite to PostgreSQL the day an application outgrows SQLite, or back,
 * for a local copy of production).
 *
 * - The source is read in one snapshot (STRATA_TX_SNAPSHOT), its schema by
 *   introspection.  The target gets that schema when it has no tables;
 *   otherwise its schema and migration revision must be the source's
 *   (STRATA_E_OUTDATED, saying what differs: run db upgrade on it first).
 * - Tables go referenced first, rows in primary-key order, in batches,
 *   streamed.  Rows may refer to rows copied after them: into empty
 *   tables the references are checked once every row is in (SQLite's
 *   enforcement paused for the copy and its own check run before the
 *   commit; PostgreSQL's foreign keys between the copied tables dropped
 *   and made again after the rows, from the server's own definitions),
 *   and a row referring to nothing is named (STRATA_E_FOREIGN_KEY).
 *   With `into_non_empty`, or for a PostgreSQL role that cannot drop and
 *   make the keys (not the tables' owner), the target checks each
 *   statement: a row it refuses for a foreign key is held in memory and
 *   goes in once
 *   every table's rows are in, in the order of the references; rows in a
 *   ring go in with their nullable references NULL, set by key at the
 *   end (a ring whose references may not be NULL cannot, and the message
 *   says so).  Memory does not grow with the table, but for the held
 *   rows.  The version table's
 *   rows go too, so `db current` agrees afterwards.  Every portable type
 *   is converted through strata's values; autoincrement counters are
 *   moved past the copied keys, so the next insert works.
 * - All or nothing: everything happens in one transaction on the target
 *   (both engines have transactional DDL), which commits only when every
 *   table's row count and checksum match the source's; otherwise it is
 *   rolled back and the target is as it was (STRATA_E_DATA, naming for a
 *   table with a key the first row and column that differ).
 * - A table that already has rows on the target is refused
 *   (STRATA_E_EXISTS) unless `into_non_empty`; then it is checksummed
 *   before the copy too, and what the copy added must be the source's
 *   rows (as many, with the same checksum).
 *
 * Neither handle may have a transaction open, and the two may not reach
 * one database (STRATA_E_MISUSE): a SQLite file by any of its paths, or
 * one PostgreSQL database and schema on one server by any address or
 * pooler (where the engine can tell: not a private in-memory database,
 * nor a role refused pg_control_system()).  Errors,
 * from either side, are reported on `target` (strata_db_errmsg), naming
 * the table and, for a row the target refused, its key.
 */
STRATA_API int strata_copy_database(strata_db *source, strata_db *target,
                                    const strata_copy_options *opts);

#ifdef __cplusplus
}
#endif
#endif
