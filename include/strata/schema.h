/*
 * strata/schema.h - schema metadata, DDL per dialect, create_all / drop_all,
 * live introspection and schema diff.
 *
 * A strata_metadata holds tables; a table holds columns, a primary key,
 * indexes, unique constraints, foreign keys and check constraints.  Every
 * constraint and index has a name: when the caller gives none, the naming
 * convention makes one (ix_user_email, fk_post_user_id_user, pk_user ...).
 *
 * Column types are portable and written as short text, the same text the
 * migration files use:
 *
 *   integer  bigint  smallint  boolean  float  numeric(p,s)  string(n)
 *   text  blob  date  datetime  datetime_tz  json  uuid  sql:<raw type>
 *
 * `string` and `numeric` may omit their arguments.  `datetime` is a naive
 * UTC timestamp, `float` a double.  `sql:` types are rendered verbatim on
 * every engine.  docs/schema.md has the table of what each becomes on
 * SQLite and PostgreSQL.
 *
 * String and text columns compare, sort and match prefix LIKE bytewise on
 * every engine (COLLATE "C" on PostgreSQL, SQLite's BINARY), so ORDER BY
 * gives the same rows in development and production and a plain index
 * serves LIKE 'abc%'.  STRATA_COLLATE_LOCALE opts a column into the
 * database's locale instead (PostgreSQL's; SQLite has none and stays
 * bytewise).
 *
 * Server defaults are portable text too: `now` (the current UTC time, for
 * date / datetime / datetime_tz columns), a SQL string literal ('it''s'),
 * a number (42, -1.5), `true` / `false`, or `sql:<expression>` rendered
 * verbatim.
 *
 * introspect() reads a live database into the same structures; diff()
 * compares two metadata and returns the operations that turn one into the
 * other, each of which knows its inverse; a diff renders to SQL for a
 * dialect or applies itself to a connection.
 */
#ifndef STRATA_SCHEMA_H
#define STRATA_SCHEMA_H

#include "common.h"
#include "db.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strata_metadata strata_metadata;
typedef struct strata_table strata_table;
typedef struct strata_column strata_column;
typedef struct strata_diff strata_diff;

/* Portable column types. */
typedef enum strata_sqltype {
    STRATA_SQL_INTEGER = 1,
    STRATA_SQL_BIGINT,
    STRATA_SQL_SMALLINT,
    STRATA_SQL_BOOLEAN,
    STRATA_SQL_FLOAT,
    STRATA_SQL_NUMERIC,
    STRATA_SQL_STRING,
    STRATA_SQL_TEXT,
    STRATA_SQL_BLOB,
    STRATA_SQL_DATE,
    STRATA_SQL_DATETIME,
    STRATA_SQL_DATETIME_TZ,
    STRATA_SQL_JSON,
    STRATA_SQL_UUID,
    STRATA_SQL_RAW /* "sql:<type>", or a type introspection does not know */
} strata_sqltype;

/* Column flags for strata_table_add_column(). */
#define STRATA_PRIMARY_KEY (1u << 0)   /* part of the primary key (in column order) */
#define STRATA_AUTOINCREMENT (1u << 1) /* integer key the database numbers */
#define STRATA_NULLABLE (1u << 2)      /* NULL allowed (columns are NOT NULL otherwise) */
#define STRATA_UNIQUE (1u << 3)        /* with STRATA_INDEX: a unique index ix_...; alone: uq_... */
#define STRATA_INDEX (1u << 4)         /* an index ix_<table>_<column> */
/* string and text columns: compare and sort by the database's locale
 * instead of bytewise (see "String comparison" in docs/schema.md) */
#define STRATA_COLLATE_LOCALE (1u << 5)

/* Foreign key actions (ON DELETE / ON UPDATE). */
typedef enum strata_fk_action {
    STRATA_FK_NO_ACTION = 0,
    STRATA_FK_RESTRICT,
    STRATA_FK_CASCADE,
    STRATA_FK_SET_NULL,
    STRATA_FK_SET_DEFAULT
} strata_fk_action;

/**
 * Templates for the names strata gives constraints and indexes.  Tokens:
 * {table}, {columns} (the column names joined by '_'), {column0} (the
 * first), {referred_table} (foreign keys) and {name} (the name given to a
 * check constraint).  A NULL member keeps the default shown.  Names longer
 * than 63 bytes (PostgreSQL's limit) are shortened the same way on every
 * engine: 54 bytes, '_', 8 hex digits of a hash of the full name.
 */
typedef struct strata_naming {
    int version;        /* STRATA_NAMING_VERSION */
    const char *index;  /* "ix_{table}_{columns}" */
    const char *unique; /* "uq_{table}_{columns}" */
    const char *fk;     /* "fk_{table}_{columns}_{referred_table}" */
    const char *pk;     /* "pk_{table}" */
    const char *check;  /* "ck_{table}_{name}" */
} strata_naming;

#define STRATA_NAMING_VERSION 1

/* ---- building metadata ------------------------------------------------- */

/** A new, empty metadata with the default naming convention.  Caller frees
 *  with strata_metadata_free().  STRATA_OK or STRATA_E_NOMEM. */
STRATA_API int strata_metadata_new(strata_metadata **out);
/** Free the metadata and every table in it.  Accepts NULL. */
STRATA_API void strata_metadata_free(strata_metadata *md);
/** A deep copy.  Caller frees with strata_metadata_free(). */
STRATA_API int strata_metadata_copy(strata_metadata **out, const strata_metadata *md);

/** Use `naming` for names made from now on (set it before adding tables).
 *  The strings are copied.  STRATA_E_SCHEMA when a template has an
 *  unknown token. */
STRATA_API int strata_metadata_set_naming(strata_metadata *md, const strata_naming *naming);

/** Why the last call on `md` or one of its tables or columns failed, naming
 *  the table and column; "" after success.  Borrowed until the next call. */
STRATA_API const char *strata_metadata_errmsg(const strata_metadata *md);

/**
 * Add a table.  `*out` (may be NULL) is borrowed until the metadata is
 * freed.  STRATA_E_EXISTS when a table of that name is already there,
 * STRATA_E_SCHEMA for an empty name.
 */
STRATA_API int strata_metadata_add_table(strata_metadata *md, const char *name, strata_table **out);

/**
 * Add a column.
 *
 * @param type   portable type text ("string(64)", see above).
 * @param flags  STRATA_PRIMARY_KEY, STRATA_AUTOINCREMENT, STRATA_NULLABLE,
 *               STRATA_UNIQUE, STRATA_INDEX, STRATA_COLLATE_LOCALE.
 *               Primary key columns are never nullable;
 *               STRATA_AUTOINCREMENT needs a one-column integer primary
 *               key; STRATA_COLLATE_LOCALE a string or text column.
 * @param out    receives the column (borrowed like the table), may be NULL.
 * @return STRATA_OK, STRATA_E_SCHEMA (bad type, flags or name; see
 *         strata_metadata_errmsg()), STRATA_E_EXISTS, STRATA_E_NOMEM.
 */
STRATA_API int strata_table_add_column(strata_table *t, const char *name, const char *type,
                                       unsigned flags, strata_column **out);

/** Set the server default (portable text, see above; NULL removes it).
 *  STRATA_E_SCHEMA when the text is not a portable default or does not
 *  suit the column's type. */
STRATA_API int strata_column_set_server_default(strata_column *c, const char *value);

/** Set the primary key to `columns` ("a, b"), replacing flags given on
 *  columns.  `name` NULL: the naming convention's. */
STRATA_API int strata_table_set_primary_key(strata_table *t, const char *name, const char *columns);

/** Add an index on `columns` ("a" or "a, b").  `name` NULL: the naming
 *  convention's. */
STRATA_API int strata_table_add_index(strata_table *t, const char *name, const char *columns,
                                      int unique);

/** Add a partial index: on the rows where `where` (a boolean expression
 *  both engines understand, as in CREATE INDEX ... WHERE) holds.  Both
 *  engines have them.  Autogenerate sees one added, dropped, or turned
 *  from partial to full; engines rewrite the condition's text, so a
 *  changed condition under the same name is not seen (rename the index to
 *  change it, as with check constraints). */
STRATA_API int strata_table_add_partial_index(strata_table *t, const char *name,
                                              const char *columns, int unique, const char *where);

/** Add a unique constraint on `columns`.  `name` NULL: the convention's. */
STRATA_API int strata_table_add_unique(strata_table *t, const char *name, const char *columns);

/** Add a foreign key from `columns` to `ref_columns` of `ref_table` (the
 *  same number of columns).  `name` NULL: the convention's. */
STRATA_API int strata_table_add_foreign_key(strata_table *t, const char *name, const char *columns,
                                            const char *ref_table, const char *ref_columns,
                                            strata_fk_action on_delete, strata_fk_action on_update);

/** Add a check constraint.  `name` (required) fills the convention's
 *  {name}: "positive" on table item becomes ck_item_positive.  `sql` is a
 *  boolean expression both engines understand. */
STRATA_API int strata_table_add_check(strata_table *t, const char *name, const char *sql);

/* ---- reading metadata -------------------------------------------------- */

STRATA_API int strata_metadata_table_count(const strata_metadata *md);
/** The i-th table (in the order added; introspection adds them by name).
 *  Borrowed.  NULL when out of range. */
STRATA_API strata_table *strata_metadata_table(const strata_metadata *md, int i);
/** The table called `name`, or NULL.  Borrowed. */
STRATA_API strata_table *strata_metadata_find_table(const strata_metadata *md, const char *name);

STRATA_API const char *strata_table_name(const strata_table *t);
STRATA_API int strata_table_column_count(const strata_table *t);
STRATA_API strata_column *strata_table_column(const strata_table *t, int i);
STRATA_API strata_column *strata_table_find_column(const strata_table *t, const char *name);

STRATA_API const char *strata_column_name(const strata_column *c);
STRATA_API strata_sqltype strata_column_type(const strata_column *c);
/** String length, or numeric precision; 0 when not given. */
STRATA_API int strata_column_length(const strata_column *c);
/** Numeric scale; 0 when not given. */
STRATA_API int strata_column_scale(const strata_column *c);
/** STRATA_PRIMARY_KEY, STRATA_AUTOINCREMENT, STRATA_NULLABLE and
 *  STRATA_COLLATE_LOCALE as they apply to the column (index and unique
 *  flags are table constraints). */
STRATA_API unsigned strata_column_flags(const strata_column *c);
/** Portable server default text, or NULL.  Borrowed. */
STRATA_API const char *strata_column_server_default(const strata_column *c);

/**
 * Describe the whole schema as text, one line per item, tables and
 * constraints sorted by name, columns in order:
 *
 *   table user
 *     column id integer not null autoincrement
 *     column email string(120) not null
 *     primary key pk_user (id)
 *     index ix_user_email unique (email)
 *
 * Two metadata describe alike exactly when diff() between them is empty
 * with no dialect, except that check expressions are printed as written.
 * Caller frees with strata_free().
 */
STRATA_API int strata_metadata_describe(const strata_metadata *md, char **out);

/* ---- DDL --------------------------------------------------------------- */

/**
 * The SQL that creates every table of `md` (and its indexes) on an empty
 * database of `dialect`'s engine, in foreign-key order, one statement per
 * line ending in ';'.  Caller frees with strata_free().
 */
STRATA_API int strata_metadata_render_create(const strata_metadata *md,
                                             const strata_driver *dialect, char **out);

/**
 * Create the tables of `md` that do not exist yet, with their indexes, in
 * foreign-key order, in one transaction (or inside the caller's).
 * Foreign keys between mutually referencing tables are added once both
 * exist.  Errors name the table; nothing is created then.
 */
STRATA_API int strata_metadata_create_all(const strata_metadata *md, strata_db *db);

/** Drop the tables of `md` that exist, dependants first, in one
 *  transaction. */
STRATA_API int strata_metadata_drop_all(const strata_metadata *md, strata_db *db);

/* ---- introspection ----------------------------------------------------- */

/**
 * Read the live schema of `db` (SQLite: the main database; PostgreSQL: the
 * current schema) into a new metadata: tables, columns with portable types,
 * nullability, primary key, autoincrement, server defaults, indexes, unique
 * constraints, foreign keys and check constraints.  Engine tables
 * (sqlite_*, catalogs), strata's version table `strata_version`, and the
 * tables named in `exclude` (NULL-terminated, may be NULL) are left out.
 * A partitioned PostgreSQL table is one table: its partitions are left
 * out (but for those of a table in another schema), and a key to it is
 * one key; a key to one of its partitions is refused
 * (STRATA_E_UNSUPPORTED).
 * Caller frees *out with strata_metadata_free().
 */
STRATA_API int strata_schema_introspect(strata_metadata **out, strata_db *db,
                                        const char *const *exclude);

/* ---- diff -------------------------------------------------------------- */

typedef enum strata_op_kind {
    STRATA_OP_CREATE_TABLE = 1,
    STRATA_OP_DROP_TABLE,
    STRATA_OP_ADD_COLUMN,
    STRATA_OP_DROP_COLUMN,
    STRATA_OP_ALTER_COLUMN,
    STRATA_OP_CREATE_INDEX,
    STRATA_OP_DROP_INDEX,
    STRATA_OP_ADD_UNIQUE,
    STRATA_OP_DROP_UNIQUE,
    STRATA_OP_ADD_FOREIGN_KEY,
    STRATA_OP_DROP_FOREIGN_KEY,
    STRATA_OP_ADD_CHECK,
    STRATA_OP_DROP_CHECK,
    STRATA_OP_RENAME_TABLE, /* from migration files; the diff does not detect renames */
    STRATA_OP_SQL           /* a statement of the migration file's own */
} strata_op_kind;

/**
 * The operations that turn schema `from` into schema `to`, in an order
 * that respects foreign keys: constraints and tables that go are dropped
 * first (a foreign key before the table it points to), then tables are
 * created (referenced before referencing), columns added, altered and
 * dropped, and indexes and constraints added.
 *
 * `dialect` (may be NULL) makes the comparison forgive what that engine
 * cannot tell apart (on SQLite an autoincrement key is INTEGER whatever
 * its declared width, and a locale collation is the bytewise one).
 * Check constraints are compared by name, and
 * `sql:` server defaults are not compared, because engines rewrite
 * expressions; other defaults compare by meaning (numbers as numbers).  A dropped and an added column of the same type in one
 * table give a warning that it may be a rename.
 *
 * Caller frees *out with strata_diff_free().
 */
STRATA_API int strata_schema_diff(strata_diff **out, const strata_metadata *from,
                                  const strata_metadata *to, const strata_driver *dialect);
STRATA_API void strata_diff_free(strata_diff *d);

STRATA_API int strata_diff_count(const strata_diff *d);
STRATA_API strata_op_kind strata_diff_op_kind(const strata_diff *d, int i);
/** The table the i-th operation applies to.  Borrowed. */
STRATA_API const char *strata_diff_op_table(const strata_diff *d, int i);
/** One line describing the i-th operation ("add column post.language
 *  string(5) null").  Borrowed until the diff is freed. */
STRATA_API const char *strata_diff_op_describe(const strata_diff *d, int i);
STRATA_API int strata_diff_warning_count(const strata_diff *d);
STRATA_API const char *strata_diff_warning(const strata_diff *d, int i);

/** The diff that undoes `d`: its inverse operations in reverse order,
 *  starting from `d`'s target schema.  Caller frees. */
STRATA_API int strata_diff_invert(strata_diff **out, const strata_diff *d);

/** The schema `d` starts from / leads to.  Borrowed. */
STRATA_API const strata_metadata *strata_diff_from(const strata_diff *d);
STRATA_API const strata_metadata *strata_diff_to(const strata_diff *d);

/**
 * The SQL that carries the diff out on `dialect`, statements ending in ';'
 * one per line.  On SQLite, changes it cannot ALTER (column types,
 * nullability and defaults, constraints) become a table rebuild: create
 * the new table, copy the rows, drop the old one, rename, recreate the
 * indexes.  Caller frees with strata_free().
 */
STRATA_API int strata_diff_render(const strata_diff *d, const strata_driver *dialect, char **out);

/**
 * Carry the diff out on `db`.  Outside a transaction it runs in one of its
 * own; on SQLite, when a table is rebuilt or dropped, foreign-key
 * enforcement is off for that transaction (so no child row is cascaded
 * away) and PRAGMA foreign_key_check runs before the commit.  Inside the
 * caller's transaction, a SQLite rebuild of a table other tables reference
 * needs foreign keys off (PRAGMA foreign_keys=OFF before BEGIN), else
 * STRATA_E_MISUSE.  On error nothing is changed and the message names the
 * operation.
 */
STRATA_API int strata_diff_apply(const strata_diff *d, strata_db *db);

#ifdef __cplusplus
}
#endif
#endif
