/*
 * schema_internal.h - the schema layer's structures, shared by schema.c
 * (building, copying, describing), diff.c, ddl.c (rendering and applying),
 * introspect.c, the two dialect files and, later, the migration engine.
 *
 * A dialect (engines/<engine>/dialect.c) is the SQL-level
 * knowledge of one engine the schema layer needs: how to spell each
 * portable type and `now`, whether ALTER can do a change, and how to read
 * the live schema back.  It runs through the public connection API, so it
 * needs nothing from the engine's C library.
 *
 * Conventions for what follows, unless a comment says otherwise:
 *  - a table, column, index, constraint or operation belongs to the one
 *    structure it was pushed into; _copy gives a deep copy the caller owns
 *    (NULL when out of memory); _free and _clear take NULL and free
 *    everything the item owns;
 *  - _find gives a borrowed pointer (NULL) or an index (-1) when absent;
 *  - an int result is STRATA_OK or a STRATA_E_* code; functions with a
 *    metadata, diff or connection argument put the message there, the
 *    others (parsers, copies) leave the wording to their caller.
 */
#ifndef STRATA_SCHEMA_INTERNAL_H
#define STRATA_SCHEMA_INTERNAL_H

#include <stdbool.h>

#include "internal.h"
#include "strata/schema.h"

/* A list of names (columns of an index or constraint). */
typedef struct strata__names {
    char **v;
    int n;
} strata__names;

typedef struct strata__type {
    strata_sqltype kind;
    int length; /* string(n), numeric(p, s): n or p; 0 when not given */
    int scale;
    char *raw; /* STRATA_SQL_RAW: the type text */
} strata__type;

/* Portable server default, parsed. */
typedef enum strata__default_kind {
    DEF_NONE = 0,
    DEF_NOW,
    DEF_STRING, /* text holds the SQL literal, quotes included */
    DEF_NUMBER,
    DEF_BOOL, /* text "true" / "false" */
    DEF_SQL   /* text holds the expression */
} strata__default_kind;

/* How a string or text column compares and sorts; other types are always
 * COLL_BINARY (they have no collation to choose). */
typedef enum strata__collation {
    COLL_BINARY = 0, /* bytewise: the default, the same on every engine */
    COLL_LOCALE      /* the database's own collation (STRATA_COLLATE_LOCALE) */
} strata__collation;

struct strata_column {
    strata_table *table;
    char *name;
    strata__type type;
    bool nullable;
    bool autoincrement;
    strata__collation collation;
    strata__default_kind def;
    char *def_text;
    char *def_portable; /* the portable text, for describe and the API */
};

typedef struct strata__index {
    char *name;
    strata__names cols;
    bool unique;
    char *where; /* a partial index's condition, or NULL */
} strata__index;

typedef enum strata__cons_kind { CONS_PK, CONS_UNIQUE, CONS_FK, CONS_CHECK } strata__cons_kind;

typedef struct strata__cons {
    strata__cons_kind kind;
    char *name;
    strata__names cols;
    char *ref_table;        /* CONS_FK */
    strata__names ref_cols; /* CONS_FK */
    strata_fk_action on_delete, on_update;
    char *sql; /* CONS_CHECK */
} strata__cons;

struct strata_table {
    strata_metadata *md; /* owner, NULL for a copy held by an operation */
    char *name;
    strata_column **cols;
    int ncols;
    strata__cons *pk; /* NULL when the table has no primary key */
    strata__index **idx;
    int nidx;
    strata__cons **cons; /* unique, foreign key and check constraints */
    int ncons;
    /* Introspected, in the engine's SQL: a condition on the table's rows
     * (for a WHERE) that leaves out those a plain SELECT of it reads but
     * that belong to other tables of the description.  PostgreSQL: the
     * rows of the tables below it (INHERITS) that are tables of the
     * description themselves, and of every table below those, by their
     * tableoid.  db copy reads and counts the table with it.  NULL: every
     * row a SELECT reads is the table's. */
    char *own_rows;
};

typedef struct strata__naming {
    char *index, *unique, *fk, *pk, *check;
} strata__naming;

struct strata_metadata {
    strata_table **tables;
    int ntables;
    strata__naming naming;
    char *errmsg;
    /* Introspection: the first thing of the database read that the
     * schema cannot say and that changes what the database does (an
     * index on an expression, a deferrable foreign key), described; NULL
     * when there is none.  Not copied by strata_metadata_copy. */
    char *left_out;
};

/* ---- schema.c ---------------------------------------------------------- */

/* Set md's message (strata_metadata_errmsg) and return code. */
int strata__md_error(strata_metadata *md, int code, const char *fmt, ...) STRATA_PRINTF(3, 4);
void strata__md_clear_error(strata_metadata *md);
/* Note what introspection left out (md->left_out), unless something is
 * noted already; out of memory, nothing is noted. */
void strata__md_left_out(strata_metadata *md, const char *fmt, ...) STRATA_PRINTF(2, 3);

/* Parse a portable type ("string(64)", "sql:CITEXT") into *out, which
 * then owns a raw type's text (free(out->raw)).  STRATA_E_SCHEMA for
 * text that is no type, STRATA_E_NOMEM. */
int strata__type_parse(strata__type *out, const char *text);
/* A decimal count at *pp (spaces around it skipped; at most 100000000),
 * moving *pp past it. */
bool strata__parse_uint(const char **pp, int *out);
/* Text that is a plain decimal number: -1, 2.5. */
bool strata__is_number(const char *s);
/* Canonical portable text of a type ("string(64)"); into sb. */
void strata__type_print(strata__sb *sb, const strata__type *t);
/* The SQL-standard spelling of a type (VARCHAR(n), DOUBLE PRECISION,
 * TIMESTAMP WITHOUT TIME ZONE ...), which dialects override where their
 * engine differs. */
void strata__type_sql(strata__sb *sb, const strata__type *t);
bool strata__type_equal(const strata__type *a, const strata__type *b);
bool strata__type_is_integer(const strata__type *t);
/* A type that holds a collation: string(n) and text. */
bool strata__type_is_collatable(const strata__type *t);
/* The portable name of a collation ("binary", "locale"), and back: false
 * for a name that is neither. */
const char *strata__collation_name(strata__collation c);
bool strata__collation_parse(const char *name, strata__collation *out);

/* Same server default by meaning: the same kind, and numbers equal as
 * numbers ("1.50" is "1.5"), other text equal. */
bool strata__defaults_equal(const strata_column *a, const strata_column *b);
/* Parse portable default text for a column of type `t`. */
int strata__default_parse(strata__default_kind *kind, char **text, const char *value,
                          const strata__type *t, char *why, size_t whylen);

/* "a, b" into *out (each name trimmed); STRATA_E_SCHEMA for an empty name
 * or list, STRATA_E_NOMEM; *out is empty after a failure. */
int strata__names_split(strata__names *out, const char *list);
int strata__names_copy(strata__names *out, const strata__names *in);
void strata__names_free(strata__names *n);
bool strata__names_equal(const strata__names *a, const strata__names *b);
bool strata__names_has(const strata__names *n, const char *name);
int strata__names_push(strata__names *n, const char *name); /* a copy; NULL as "" */
/* A text column of the current row, or NULL: SQL NULL, or a getter that
 * failed (out of memory).  The two differ on the handle: */
const char *strata__stmt_text(strata_stmt *st, int col);
/* STRATA_OK, or the code of a getter that failed on the current row (each
 * step clears it).  Introspection checks it after reading a row, so a value
 * that could not be read is an error, never taken for NULL. */
int strata__row_error(strata_stmt *st);
void strata__names_print(strata__sb *sb, const strata__names *n); /* "(a, b)" */

strata_table *strata__table_new(const char *name);
strata_table *strata__table_copy(const strata_table *t);
void strata__table_free(strata_table *t);
strata_column *strata__column_copy(const strata_column *c);
void strata__column_free(strata_column *c);
strata__index *strata__index_copy(const strata__index *ix);
void strata__index_free(strata__index *ix);
strata__cons *strata__cons_copy(const strata__cons *c);
void strata__cons_free(strata__cons *c);

/* Append an owned item to a table (no naming, no checks); false on ENOMEM. */
bool strata__table_push_column(strata_table *t, strata_column *c);
bool strata__table_push_index(strata_table *t, strata__index *ix);
bool strata__table_push_cons(strata_table *t, strata__cons *c);
/* Add an owned table to metadata; false on ENOMEM. */
bool strata__md_push_table(strata_metadata *md, strata_table *t);

int strata__table_find_column_index(const strata_table *t, const char *name);
strata__index *strata__table_find_index(const strata_table *t, const char *name);
strata__cons *strata__table_find_cons(const strata_table *t, const char *name);
int strata__md_find_table_index(const strata_metadata *md, const char *name);
/* Remove and free. */
void strata__md_remove_table(strata_metadata *md, const char *name);
void strata__table_remove_column(strata_table *t, const char *name);
void strata__table_remove_index(strata_table *t, const char *name);
void strata__table_remove_cons(strata_table *t, const char *name);

/* One table's describe lines into sb. */
void strata__table_describe(strata__sb *sb, const strata_table *t);
/* "column x string(5) not null default 'a'" (no indentation, no newline). */
void strata__column_describe(strata__sb *sb, const strata_column *c);
void strata__index_describe(strata__sb *sb, const strata__index *ix);
void strata__cons_describe(strata__sb *sb, const strata__cons *c);
const char *strata__fk_action_sql(strata_fk_action a);

/* Tables of md in foreign-key order (referenced first, ties by name).
 * Returns a malloc'd array of md->ntables indices; NULL on ENOMEM. */
int *strata__md_sorted(const strata_metadata *md);

/* ---- operations (diff.c) ----------------------------------------------- */

/* The text of an SQL operation for one dialect (NULL: for every dialect
 * without a variant of its own). */
typedef struct strata__sql_variant {
    char *dialect;
    char *text;
} strata__sql_variant;

typedef struct strata__op {
    strata_op_kind kind;
    char *table;
    strata_table *tdef;     /* CREATE / DROP TABLE: the whole table */
    strata_column *col;     /* ADD / DROP COLUMN; ALTER: the new column */
    strata_column *old_col; /* ALTER: the column before */
    strata__index *index;   /* CREATE / DROP INDEX */
    strata__cons *cons;     /* ADD / DROP UNIQUE, FOREIGN KEY, CHECK */
    char *new_name;         /* RENAME TABLE */
    strata__sql_variant *sql; /* SQL */
    int nsql;
    char *text;             /* describe line, made on demand */
} strata__op;

/* Whether SQL text (a check, a partial index's condition) names column
 * `name` (operations.c; out of memory, it is taken to). */
bool strata__text_names_column(const char *text, const char *name);

/* The SQL operation's text for a dialect, or NULL when it has none. */
const char *strata__op_sql_for(const strata__op *op, const char *dialect);

/* ddl.c: whether applying d on db rebuilds a table other tables
 * reference, which needs the dialect's foreign-key pause (set before the
 * transaction begins).  False on engines without the pause. */
int strata__diff_needs_fk_pause(const strata_diff *d, strata_db *db, bool *out);


struct strata_diff {
    strata_metadata *from; /* the state the operations start from */
    strata_metadata *to;   /* the state they lead to */
    strata__op *ops;
    int nops, capops;
    char **warnings;
    int nwarnings;
};

void strata__op_clear(strata__op *op);
/* Same type, nullability, autoincrement, default and collation (names
 * aside). */
bool strata__column_same_definition(const strata_column *a, const strata_column *b);
/* The inverse of `op` into *out (deep copies); STRATA_E_UNSUPPORTED for
 * an SQL operation, which has none. */
int strata__op_invert(strata__op *out, const strata__op *op);
/* A deep copy. */
int strata__op_copy(strata__op *out, const strata__op *op);
void strata__op_describe(strata__sb *sb, const strata__op *op);
/* Apply `op` to the metadata `md` (the state) in place. */
int strata__op_apply_md(strata_metadata *md, const strata__op *op);

strata_diff *strata__diff_new(void);
bool strata__diff_push(strata_diff *d, strata__op *op); /* takes the op's contents */

/* ---- dialects ---------------------------------------------------------- */

/* An engine's spelling of a portable type, as its catalog gives it back
 * (lower case, arguments taken out: "character varying"). */
typedef struct strata__type_name {
    const char *name;
    strata_sqltype kind;
} strata__type_name;

typedef struct strata__dialect {
    const char *name; /* the driver's name */
    /* The engine's spelling of a column's type; `t` is its table (may be
     * NULL), for rules that depend on the primary key. */
    void (*render_type)(strata__sb *sb, const strata_table *t, const strata_column *c);
    /* The engine's spelling of a column's default (def != DEF_NONE). */
    void (*render_default)(strata__sb *sb, const strata_column *c);
    /* Text after the type for an autoincrement column ("" on SQLite). */
    const char *autoincrement_sql;
    /* The clause after a string or text column's type that makes it
     * compare, sort and match LIKE bytewise, as the portable default
     * wants (PostgreSQL: COLLATE "C"); a COLL_LOCALE column gets no
     * clause, so the database's own collation.  NULL: the engine's own
     * collation is bytewise already (SQLite's BINARY), so the two
     * collations are one there and the diff does not tell them apart.
     * The dialect's introspect reads a column's collation back. */
    const char *binary_collation;
    int (*introspect)(strata_metadata *md, strata_db *db, const char *const *exclude);
    /* The engine's own type spellings beyond standard SQL's, {NULL} ended,
     * and its spellings of "the current time" beyond CURRENT_TIMESTAMP /
     * CURRENT_DATE / LOCALTIMESTAMP, squeezed (lower case; no spaces,
     * parentheses or ::text casts), NULL ended: how introspection reads
     * types and defaults back. */
    const strata__type_name *type_names;
    const char *const *now_forms;
    /* The engine's cast operator ("::"), which its catalog writes after
     * a default's literal ('abc'::character varying); NULL: none. */
    const char *cast_operator;
    /* Compare types as this engine stores them. */
    bool (*same_type)(const strata_column *a, const strata_column *b);
    /* How a migration step makes other runs on the same version table
     * wait for it: a BEGIN that takes the lock (migration_begin), or a
     * statement right after BEGIN (migration_lock, which waits up to
     * wait_ms for it); either may be NULL. */
    const char *migration_begin;
    void (*migration_lock)(strata__sb *sb, const char *table, int wait_ms);
    /* A query of one row whose first column is 1 when a table named by
     * the parameter (its name as written, unquoted) is where an
     * unqualified CREATE TABLE would make it, 0 when not: so that a
     * role that may not create tables need not try. */
    const char *table_here;

    /* Foreign-key enforcement paused around table rebuilds (engines whose
     * DROP TABLE would otherwise cascade into child rows), and around a
     * copy into empty tables (migrations/copy.c); all NULL when the engine
     * needs no pause (a copy then makes the foreign keys after the rows
     * where foreign_keys, below, is there).  fk_enabled_sql gives one row, non-zero
     * when enforcement is on; fk_pause_sql / fk_resume_sql switch it (they
     * work outside a transaction only); fk_verify checks the references
     * of `table` (NULL: of every table) after changes made while paused:
     * STRATA_OK, or STRATA_E_FOREIGN_KEY naming the first dangling row.
     * fk_verify_touching checks only the references from or to one of
     * `tables`: after a change of the schema alone (no statement of a
     * migration file's own), which can leave a row dangling only there. */
    const char *fk_enabled_sql;
    const char *fk_pause_sql;
    const char *fk_resume_sql;
    int (*fk_verify)(strata_db *db, const char *table);
    int (*fk_verify_touching)(strata_db *db, char *const *tables, int n);
    /* Around a table rebuild (engines that rebuild tables): rebuild_keep
     * saves in *kept what dropping `table` takes with it and the rebuild
     * does not make again from the schema (its triggers, indexes the
     * schema cannot describe), or refuses the rebuild, naming what it
     * would lose that cannot be made again; rebuild_restore makes the
     * saved objects again when `remake` (each one the rebuild left
     * missing) and frees *kept.  Both NULL: nothing is kept. */
    int (*rebuild_keep)(strata_db *db, const char *table, void **kept);
    int (*rebuild_restore)(strata_db *db, void *kept, bool remake);

    /* Whether a column keeps values its declared type cannot hold: an
     * INTEGER or SMALLINT one any 64-bit integer, a float one a NaN as
     * NULL (SQLite).  The session then refuses those values itself, as
     * the other engines refuse them. */
    bool loose_columns;

    /* ---- SQL the ORM writes ---- */
    /* The case-insensitive LIKE operator ("ILIKE"); NULL: the core writes
     * lower(x) LIKE lower(?). */
    const char *ilike;
    /* Whether the engine sorts NULL before every value (SQLite); the core
     * then writes NULLS LAST / NULLS FIRST where a column may be NULL, so
     * that NULL sorts as the largest value, as on PostgreSQL. */
    bool nulls_first;
    /* What follows a LIKE's pattern so that a backslash escapes the next
     * character, as in PostgreSQL's LIKE and ILIKE (" ESCAPE '\'"); NULL:
     * the engine's LIKE does so already. */
    const char *like_escape;
    /* What a query with an OFFSET but no LIMIT needs before the OFFSET
     * (" LIMIT -1"); NULL: OFFSET may stand alone. */
    const char *limit_all;
    /* A statement whose one row is the key the connection's last INSERT
     * numbered, for a driver without STRATA_CAP_RETURNING (the core then
     * inserts row by row and reads the rest back by key); NULL: none, and
     * such inserts fail with STRATA_E_UNSUPPORTED. */
    const char *last_insert_id;
    /* Append to "INSERT INTO t (...) VALUES (...)" what makes it update
     * the row whose `keys` (quoted column names) already exist, setting
     * each of `set` from the values given (nset >= 1).  NULL: the engine
     * has no upsert; strata_upsert() fails with STRATA_E_UNSUPPORTED. */
    void (*upsert)(strata__sb *sb, const char *const *keys, int nkeys, const char *const *set,
                   int nset);

    /* ---- copying data (strata_copy_database) ---- */
    /* After rows were inserted with their keys given: a statement that
     * moves the counter of autoincrement column `col` of `table` past the
     * largest key in it, so the next insert gets a new key (`qtable`,
     * `qcol`: the names quoted).  NULL: the engine numbers from the
     * largest key by itself (SQLite's rowid). */
    void (*autoincrement_resync)(strata__sb *sb, const char *qtable, const char *col,
                                 const char *qcol);
    /* What names the storage behind a connection, so that two connections
     * to one database can be told apart from two databases: *out gets a
     * string (the caller frees it) or NULL when the engine cannot tell
     * (a private in-memory database).  NULL hook: never known. */
    int (*database_identity)(strata_db *db, char **out);
    /* The foreign keys of `table` (unquoted, in the schema strata works
     * on) that this connection could make again, as the engine would,
     * exactly: *out gets 3 * *n strings, each key's name, its definition
     * ("FOREIGN KEY (a) REFERENCES t(id) ON DELETE CASCADE DEFERRABLE",
     * for ALTER TABLE ... ADD CONSTRAINT name definition) and the table it
     * refers to ("" when in another schema); the caller frees each and
     * the array.  A copy into empty tables on an engine without the
     * foreign-key pause drops the keys between its tables and makes them
     * again once every row is in.  NULL: it does not. */
    int (*foreign_keys)(strata_db *db, const char *table, char ***out, int *n);
    /* A check's (or a partial index's) condition as this engine gives it
     * back, in SQL another engine reads too, for a copy to one: a new
     * string the caller frees, NULL when out of memory.  NULL hook: the
     * engine's text is already portable. */
    char *(*portable_check)(const char *sql);
} strata__dialect;

/* The upsert SQLite and PostgreSQL share (ON CONFLICT (keys) DO UPDATE SET
 * c = excluded.c), for a dialect's `upsert` (engines/common.c). */
void strata__upsert_on_conflict(strata__sb *sb, const char *const *keys, int nkeys,
                                const char *const *set, int nset);

/* The first column of the first row `sql` gives, copied into *out (the
 * caller frees it); NULL when there is no row or the value is NULL. */
int strata__first_text(strata_db *db, const char *sql, char **out);

/* The dialect of a driver (its engine row's, engines/registry.c); NULL
 * when no engine holds the driver. */
const strata__dialect *strata__dialect_of(const strata_driver *drv);
/* strata_schema_diff(), saying whether collations are compared (it
 * compares them where the dialect has a bytewise one to give). */
int strata__schema_diff(strata_diff **out, const strata_metadata *from, const strata_metadata *to,
                        const strata_driver *dialect, bool collations);

/* The portable type of an engine's type text ("character varying(64)",
 * "DATETIME"): standard SQL's names and the dialect's type_names; unknown
 * types become STRATA_SQL_RAW. */
int strata__type_from_engine(const strata__dialect *dl, strata__type *out, const char *text);

/* Normalise an engine's default expression into the portable kind/text
 * (for the dialects' introspectors), with the dialect's now_forms.
 * `expr` as the engine reports it. */
int strata__default_from_engine(const strata__dialect *dl, strata_column *c, const char *expr);
/* Set a column's parsed default (takes `text`). */
int strata__column_set_default(strata_column *c, strata__default_kind kind, char *text);
/* A constraint / index name made by md's convention ({name} = given). */
char *strata__md_make_name(const strata_metadata *md, strata__cons_kind kind, bool index,
                           const char *table, const strata__names *cols, const char *referred,
                           const char *given);

/* A copy of expression text without the parentheses an engine put around
 * the whole of it ("(a > 0)" -> "a > 0"); NULL when out of memory. */
char *strata__strip_parens(const char *s);

/* True when `name` is excluded from introspection. */
bool strata__introspect_excluded(const char *name, const char *const *exclude);

#endif
