/*
 * migrate_internal.h - the migration engine's structures, shared by
 * script.c (revision files: YAML in and out), repo.c (repositories: init,
 * config, loading, new revisions, embedding), graph.c (the revision graph
 * and targets), runner.c (version table, lock, upgrade / downgrade, stamp,
 * offline SQL) and autogen.c (autogenerate and check).
 *
 * Conventions for what follows, unless a comment says otherwise: an int
 * result is STRATA_OK or a STRATA_E_* code with the message on the
 * repository (strata__mig_error; strata_migrations_errmsg reads it),
 * naming the file and line when a file is at fault; an output pointer is
 * NULL after a failure, and what it receives is the caller's to free.
 */
#ifndef STRATA_MIGRATE_INTERNAL_H
#define STRATA_MIGRATE_INTERNAL_H

#include <stdbool.h>

#include "../src/schema_internal.h"
#include "strata/migrate.h"

/* What an alter_column in a file sets; the rest comes from the live
 * column when the operation runs. */
#define MOP_TYPE (1u << 0)
#define MOP_NULLABLE (1u << 1)
#define MOP_DEFAULT (1u << 2)
#define MOP_RENAME (1u << 3)
#define MOP_COLLATION (1u << 4)

/* An operation as a file gives it.  Drops and alters name what they act on;
 * strata__mop_resolve() fills in the rest from the schema they start from. */
typedef struct strata__mop {
    strata__op op;
    int line, column; /* where it is in its file, from 1 */
    unsigned set;     /* alter_column: MOP_* */
    char *type;       /* alter_column: portable type text */
    bool nullable;
    char *server_default; /* alter_column: NULL with MOP_DEFAULT drops it */
    strata__collation collation; /* alter_column, with MOP_COLLATION */
} strata__mop;

typedef struct strata__revision {
    char *id;    /* 12 lowercase hex digits */
    char **down; /* down revisions (none: the first revision) */
    int ndown;
    char *message;
    char *created;
    char *file;          /* the file's name, for messages */
    strata__mop *ops[2]; /* [0] upgrade, [1] downgrade */
    int nops[2];
    int *children; /* indexes of revisions whose down includes this one */
    int nchildren;
} strata__revision;

struct strata_migrations {
    char *dir; /* the repository's folder; NULL when embedded */
    char *version_table;
    char *database_url; /* the config's default, or NULL */
    bool per_revision;  /* a transaction per revision (else one for the run) */
    int lock_wait_ms;   /* how long to wait for the migration lock in all */
    strata__revision **revs;
    int nrevs;
    char *errmsg;
    const char *errmsg_static; /* when errmsg could not be made */
    strata_print_fn print;
    void *print_ud;
};

/* ---- repo.c ------------------------------------------------------------ */

/* Set m's message (kept when out of memory: a fixed one) and return code. */
int strata__mig_error(strata_migrations *m, int code, const char *fmt, ...) STRATA_PRINTF(3, 4);
/* One line of progress to m's print function (INFO lines). */
void strata__mig_print(strata_migrations *m, const char *fmt, ...) STRATA_PRINTF(2, 3);
/* Free a revision and everything it owns; NULL is fine. */
void strata__revision_free(strata__revision *r);
/* Index of the revision with id `id` (exact), or -1. */
int strata__mig_find(const strata_migrations *m, const char *id);
/* A new revision id (12 hex digits, random, not in use). */
void strata__mig_new_id(const strata_migrations *m, char id[13]);
/* Write revision r (whose ops are full operations) as a file in versions/
 * and add it to m.  Takes r in every case: on failure it is freed. */
int strata__mig_write_revision(strata_migrations *m, strata__revision *r,
                               const char *const *warnings, int nwarnings);

/* ---- script.c ---------------------------------------------------------- */

/* Parse one revision file's text; `file` names it in messages. */
int strata__script_parse(strata_migrations *m, const char *file, const char *text, size_t len,
                         strata__revision **out);
/* Parse the repository config (strata.yaml). */
int strata__config_parse(strata_migrations *m, const char *file, const char *text, size_t len);
/* The YAML text of a revision. */
char *strata__script_render(const strata__revision *r, const char *const *warnings, int nwarnings);
/* Fill `out` with the full operation `mop` stands for in schema `state`;
 * errors name the file and line. */
int strata__mop_resolve(strata_migrations *m, const strata__revision *r, const strata__mop *mop,
                        const strata_metadata *state, strata__op *out);
void strata__mop_clear(strata__mop *mop);
/* A file's operation made from a full one (deep copy). */
int strata__mop_from_op(strata__mop *out, const strata__op *op);

/* ---- runner.c ---------------------------------------------------------- */

/* CREATE TABLE IF NOT EXISTS for a version table called `table`. */
void strata__mig_vt_create_sql(strata__sb *sb, const strata_driver *drv, const char *table);
/* The revisions the database records, as a set (m->nrevs bools); none
 * when it has no version table. */
int strata__mig_db_heads(strata_migrations *m, strata_db *db, bool *heads);

/* ---- graph.c ----------------------------------------------------------- */

/* Link children to parents; check every down revision exists and there is
 * no cycle. */
int strata__graph_build(strata_migrations *m);
/* Indexes of the heads (revisions without children), in file order. */
int strata__graph_heads(const strata_migrations *m, int **out, int *n);
/* Resolve a revision id or unique prefix; -1 with the error set. */
int strata__graph_lookup(strata_migrations *m, const char *id);
/* Mark in `set` (m->nrevs bools) revision i and all its ancestors. */
void strata__graph_ancestors(const strata_migrations *m, int i, bool *set);
/* runner.c: the schema every revision makes, replayed from nothing as
 * `db upgrade --sql` does (no database read), for dialect drv. */
int strata__mig_replay(strata_migrations *m, const strata_driver *drv, strata_metadata **out);
/* autogen.c: each column of `live` takes the collation the same column
 * has in `from`, where `from` has it (for engines that cannot tell a
 * column's collation).  Can't fail. */
void strata__take_collations(strata_metadata *live, const strata_metadata *from);
/* Revisions in `set` in dependency order (parents first); caller frees. */
int *strata__graph_order(const strata_migrations *m, const bool *set, int *n);

#endif
