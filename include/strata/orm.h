/*
 * strata/orm.h - models, the session (unit of work), queries and
 * relationships.
 *
 * A model is a plain C struct whose first member is a strata_object, plus
 * a static descriptor tying fields to columns:
 *
 *   typedef struct User {
 *       strata_object base;
 *       int64_t id;
 *       char *username;
 *       char *password_hash;          NULL is SQL NULL
 *   } User;
 *
 *   static const strata_field user_fields[] = {
 *       STRATA_PK(User, id),
 *       STRATA_STRING(User, username, 64, STRATA_UNIQUE | STRATA_INDEX),
 *       STRATA_STRING(User, password_hash, 256, STRATA_NULLABLE),
 *       STRATA_FIELDS_END};
 *   const strata_model user_model = {STRATA_MODEL_VERSION, "User",
 *       .size = sizeof(User), .fields = user_fields, .repr = "username"};
 *
 * Objects are made by and belong to a session: strata_new() gives one,
 * strata_session_free() frees them all.  Strings in an object are owned by
 * it; set them with strata_set_text(&u->username, "susan"), never free
 * them or change their bytes in place.  Lists returned by queries are the caller's (strata_list_free());
 * the objects in them stay the session's.  docs/orm.md walks through the
 * microblog.
 */
#ifndef STRATA_ORM_H
#define STRATA_ORM_H

#include <stddef.h>

#include "common.h"
#include "db.h"
#include "schema.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strata_session strata_session;
typedef struct strata_query strata_query;
typedef struct strata_cond strata_cond;
typedef struct strata_model strata_model;
struct strata__object;

/** The first member of every model struct.  Its contents are the
 *  library's; read `model` if you need it. */
typedef struct strata_object {
    const strata_model *model;
    struct strata__object *priv;
} strata_object;

/* How a field is held in the C struct. */
typedef enum strata_ctype {
    STRATA_C_INT64 = 1, /* int64_t */
    STRATA_C_BOOL,      /* bool */
    STRATA_C_DOUBLE,    /* double */
    STRATA_C_TEXT,      /* char *, owned by the object; NULL is SQL NULL */
    STRATA_C_TIMESTAMP, /* strata_timestamp (UTC microseconds) */
    STRATA_C_BLOB       /* strata_blob, owned by the object */
} strata_ctype;

typedef struct strata_blob {
    void *data;
    size_t len;
} strata_blob;

/** A client-side default or on-update function: write the value into the
 *  field (a pointer to the struct member). */
typedef void (*strata_field_fn)(void *field);

/** Default function for timestamp fields: the current UTC time. */
STRATA_API void strata_default_now(void *field);

/** One column of a model.  Use the STRATA_* field macros below. */
typedef struct strata_field {
    const char *name;           /* column name = struct member name */
    size_t offset;              /* offsetof(struct, member) */
    strata_ctype ctype;         /* how the C struct holds it */
    const char *type;           /* portable SQL type text ("string(64)") */
    unsigned flags;             /* STRATA_PRIMARY_KEY, _AUTOINCREMENT, _NULLABLE, _UNIQUE, _INDEX,
                                   _COLLATE_LOCALE (strings sorted by the database's locale) */
    const char *server_default; /* portable default text ("now", "0"), or NULL; a
                                   field zero or NULL at insert gets it */
    strata_field_fn default_fn; /* run at insert when the field holds zero / NULL */
    strata_field_fn onupdate;   /* run at every UPDATE of the object */
    const char *foreign_key;    /* "user.id": a foreign key to that table's column */
    strata_fk_action on_delete; /* of the foreign key */
} strata_field;

/* Field macros.  The last argument is the flags, optionally followed by
 * more designated initialisers: STRATA_DATETIME(Post, timestamp,
 * STRATA_INDEX, .default_fn = strata_default_now). */
#define STRATA__XSTR(x) #x
#define STRATA__STR(x) STRATA__XSTR(x) /* a macro argument's value as text */
#define STRATA__FIELD(T, m, ct, sqltype, ...)                                                    \
    {                                                                                            \
        .name = #m, .offset = offsetof(T, m), .ctype = ct, .type = sqltype, .flags = __VA_ARGS__ \
    }
#define STRATA_PK(T, m) \
    STRATA__FIELD(T, m, STRATA_C_INT64, "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT)
#define STRATA_INTEGER(T, m, ...) STRATA__FIELD(T, m, STRATA_C_INT64, "integer", __VA_ARGS__)
#define STRATA_BIGINT(T, m, ...) STRATA__FIELD(T, m, STRATA_C_INT64, "bigint", __VA_ARGS__)
#define STRATA_BOOLEAN(T, m, ...) STRATA__FIELD(T, m, STRATA_C_BOOL, "boolean", __VA_ARGS__)
#define STRATA_FLOAT(T, m, ...) STRATA__FIELD(T, m, STRATA_C_DOUBLE, "float", __VA_ARGS__)
#define STRATA_STRING(T, m, n, ...) \
    STRATA__FIELD(T, m, STRATA_C_TEXT, "string(" STRATA__STR(n) ")", __VA_ARGS__)
#define STRATA_TEXT(T, m, ...) STRATA__FIELD(T, m, STRATA_C_TEXT, "text", __VA_ARGS__)
#define STRATA_DATETIME(T, m, ...) STRATA__FIELD(T, m, STRATA_C_TIMESTAMP, "datetime", __VA_ARGS__)
/* A day: midnight UTC in C.  A time of day set on it is dropped at flush
 * (the field set to its day's midnight), as PostgreSQL drops it. */
#define STRATA_DATE(T, m, ...) STRATA__FIELD(T, m, STRATA_C_TIMESTAMP, "date", __VA_ARGS__)
#define STRATA_BLOB(T, m, ...) STRATA__FIELD(T, m, STRATA_C_BLOB, "blob", __VA_ARGS__)
/* A 64-bit key numbered by the database (bigint). */
#define STRATA_BIG_PK(T, m) \
    STRATA__FIELD(T, m, STRATA_C_INT64, "bigint", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT)
/* Exact decimals as text ("12.30"): rounded to `s` decimals (half away
 * from zero) and refused past `p - s` digits before the point
 * (STRATA_E_RANGE) at flush, the same on both engines; read back with
 * exactly `s` decimals. */
#define STRATA_NUMERIC(T, m, p, s, ...) \
    STRATA__FIELD(T, m, STRATA_C_TEXT, "numeric(" STRATA__STR(p) "," STRATA__STR(s) ")", \
                  __VA_ARGS__)
/* Text checked at flush: a UUID (kept in lower case), JSON (jsonb on
 * PostgreSQL, which may rewrite its spacing and key order). */
#define STRATA_UUID(T, m, ...) STRATA__FIELD(T, m, STRATA_C_TEXT, "uuid", __VA_ARGS__)
#define STRATA_JSON(T, m, ...) STRATA__FIELD(T, m, STRATA_C_TEXT, "json", __VA_ARGS__)
/* A point in time (UTC microseconds in C) in a time-zone-aware column
 * (timestamptz on PostgreSQL). */
#define STRATA_DATETIME_TZ(T, m, ...) \
    STRATA__FIELD(T, m, STRATA_C_TIMESTAMP, "datetime_tz", __VA_ARGS__)
/* An integer foreign key to `ref` ("user.id"). */
#define STRATA_FOREIGN_KEY(T, m, ref, ...) \
    STRATA__FIELD(T, m, STRATA_C_INT64, "integer", __VA_ARGS__, .foreign_key = ref)
#define STRATA_FIELDS_END \
    {                     \
        0                 \
    }

/* Relationship kinds. */
typedef enum strata_rel_kind {
    STRATA_MANY_TO_ONE = 1, /* Post.author: `fk` is this model's field */
    STRATA_ONE_TO_MANY,     /* User.posts: `fk` is the target's field */
    STRATA_ONE_TO_ONE,      /* like one-to-many, with at most one target */
    STRATA_MANY_TO_MANY     /* through `secondary`, an association table */
} strata_rel_kind;

/* Relationship cascade flags. */
#define STRATA_CASCADE_DELETE (1u << 0) /* deleting the parent deletes its children */
#define STRATA_CASCADE_DELETE_ORPHAN                                       \
    (1u << 1) /* a child removed from the collection, and without a parent \
                 at the next flush, is deleted */

typedef struct strata_relation {
    const char *name; /* "posts", "author" */
    strata_rel_kind kind;
    const strata_model *target;    /* the related model */
    const char *fk;                /* the foreign-key field (see the kinds) */
    const char *back_populates;    /* the target's relationship that mirrors this one */
    const strata_model *secondary; /* MANY_TO_MANY: the association table's model */
    const char *local_key;         /* MANY_TO_MANY: secondary's column pointing here */
    const char *remote_key;        /* MANY_TO_MANY: secondary's column pointing at target */
    unsigned cascade;              /* STRATA_CASCADE_* */
    const char *order_by;          /* collections: a target field, "-field" descending */
} strata_relation;

#define STRATA_RELATIONS_END \
    {                        \
        0                    \
    }

/* Table-level constraints and indexes of a model (SQLAlchemy's
 * __table_args__), for what one field's flags cannot say: a unique
 * constraint or index over several fields, a check constraint, a partial
 * index.  `columns` lists field names ("user_id, url"); `name` NULL takes
 * the naming convention's (a check needs one: it fills the convention's
 * {name}).  Use the macros below. */
typedef enum strata_table_arg_kind {
    STRATA_ARG_UNIQUE = 1,   /* UNIQUE (columns) */
    STRATA_ARG_CHECK,        /* CHECK (sql) */
    STRATA_ARG_INDEX,        /* CREATE INDEX ... (columns) [WHERE sql] */
    STRATA_ARG_UNIQUE_INDEX  /* CREATE UNIQUE INDEX ... (columns) [WHERE sql] */
} strata_table_arg_kind;

typedef struct strata_table_arg {
    strata_table_arg_kind kind;
    const char *name;
    const char *columns; /* unique constraints and indexes */
    const char *sql;     /* a check's condition; a partial index's WHERE, or NULL */
} strata_table_arg;

#define STRATA_UNIQUE_CONSTRAINT(name, columns) {STRATA_ARG_UNIQUE, name, columns, NULL}
#define STRATA_CHECK_CONSTRAINT(name, sql) {STRATA_ARG_CHECK, name, NULL, sql}
/* An enum: the values a string field may hold, as a check both engines
 * enforce: STRATA_ENUM_CHECK("status_values", "status", "'draft', 'published'").
 * The field's name is quoted (a lower-case name, as every field's is). */
#define STRATA_ENUM_CHECK(name, field, values) \
    {STRATA_ARG_CHECK, name, NULL, "\"" field "\" IN (" values ")"}
#define STRATA_INDEX_ON(name, columns) {STRATA_ARG_INDEX, name, columns, NULL}
#define STRATA_UNIQUE_INDEX_ON(name, columns) {STRATA_ARG_UNIQUE_INDEX, name, columns, NULL}
/* An index on the rows where `where` holds ("deleted_at IS NULL"). */
#define STRATA_PARTIAL_INDEX(name, columns, where) {STRATA_ARG_INDEX, name, columns, where}
#define STRATA_PARTIAL_UNIQUE_INDEX(name, columns, where) \
    {STRATA_ARG_UNIQUE_INDEX, name, columns, where}
#define STRATA_TABLE_ARGS_END \
    {                         \
        0                     \
    }

struct strata_model {
    int version;                      /* STRATA_MODEL_VERSION */
    const char *name;                 /* "User": repr, and snake_case gives the table */
    const char *table;                /* NULL: snake_case of name ("AddressAndPhone" ->
                                         "address_and_phone") */
    size_t size;                      /* sizeof the struct; 0 for an association table */
    const strata_field *fields;       /* ended by STRATA_FIELDS_END */
    const strata_relation *relations; /* ended by STRATA_RELATIONS_END, or NULL */
    const char *repr;                 /* field shown by repr ("<User susan>"); NULL: the key */
    /* ---- version 2 ---- */
    const strata_table_arg *table_args; /* ended by STRATA_TABLE_ARGS_END, or NULL */
};

/* The version this header describes; models of version 1 (without
 * table_args) are still read. */
#define STRATA_MODEL_VERSION 2

/** Add the tables of `models` (a NULL-terminated array) to `md`, with
 *  their foreign keys and indexes.  Errors name model and field. */
STRATA_API int strata_metadata_add_models(strata_metadata *md, const strata_model *const *models);

/** The table name of a model.  Static storage or the model's own. */
STRATA_API const char *strata_model_table(const strata_model *m, char *buf, size_t size);

/* ---- sessions ---------------------------------------------------------- */

/**
 * A unit of work on `db`.  Free the session before closing the handle;
 * closed first, the handle rolls back its transaction (objects a session
 * committed into the program's transaction go back at once; a session's
 * own flushed objects at its strata_session_rollback), the session
 * refuses other work with STRATA_E_MISUSE, and the handle's memory goes
 * with the last session freed.  The session begins a
 * transaction on its first statement when none is open; commit and
 * rollback end it.  Caller frees with strata_session_free(), which rolls
 * back what was not committed and frees every object.
 *
 * The session's transaction is begun for writing (STRATA_TX_WRITE): on
 * SQLite it takes the write lock up front and waits for it up to the busy
 * timeout, so a session that reads and then writes never fails at once
 * with STRATA_E_BUSY.  Sessions that only read should say so with
 * strata_session_set_read_only(): on SQLite they then run beside each
 * other and beside one writer (WAL).
 *
 * Objects are current within the transaction that loaded them: there the
 * identity map answers without SQL.  After a commit or rollback they are
 * expired: the next strata_get, query or relationship access that meets
 * their row reads it again and refreshes the same object in place (fields
 * the program changed and has not flushed keep the program's value).
 */
STRATA_API int strata_session_new(strata_session **out, strata_db *db);
/** Make the session's next transactions read-only (`on` non-zero) or
 *  writing (0, the default).  A read-only session begins with
 *  STRATA_TX_READ_ONLY and refuses to flush changes (STRATA_E_READONLY,
 *  before any SQL).  STRATA_E_MISUSE while its transaction is open and has
 *  run a statement, unless the setting stays as it is; before its first
 *  statement the transaction is begun again in the mode asked for. */
STRATA_API int strata_session_set_read_only(strata_session *s, int on);
STRATA_API void strata_session_free(strata_session *s);
STRATA_API strata_db *strata_session_db(const strata_session *s);
/** Message of the session's last failure (validation or database). */
STRATA_API const char *strata_session_errmsg(const strata_session *s);

/** A new, zeroed object of `model`, owned by the session, not yet added.
 *  `out` is the address of a typed pointer: User *u; strata_new(s, &user_model, &u). */
STRATA_API int strata_new(strata_session *s, const strata_model *model, void *out);

/** Mark a new object for insertion (or a loaded one as wanted). */
STRATA_API int strata_add(void *obj);
/** Mark an object for deletion at the next flush. */
STRATA_API int strata_delete(void *obj);

/**
 * Send pending changes: validate, insert new objects (multi-row INSERT ...
 * RETURNING, parents first), update changed columns of loaded objects,
 * delete (children first).  Ids assigned by the database appear on the
 * objects.  Validation runs before any SQL: NULL in a NOT NULL column
 * (STRATA_E_NOT_NULL), a string longer than its string(n)
 * (STRATA_E_TOO_LONG), naming model, field and length.
 */
STRATA_API int strata_session_flush(strata_session *s);
/** Flush and commit: all or nothing.  When the COMMIT itself fails, the
 *  transaction is rolled back, and the session refuses other work with
 *  STRATA_E_TX_ABORTED until strata_session_rollback() puts its objects
 *  back.  In a transaction the program began, only the flush: the objects
 *  count as committed when the program commits it, and are put back when
 *  it rolls it back. */
STRATA_API int strata_session_commit(strata_session *s);
/** Roll back: the database, and the objects, return to the last commit.
 *  Objects added since are no longer pending (their ids are cleared).
 *  Objects read after the transaction changed rows are read again (one
 *  SELECT each, in a transaction that then ends); one whose row the
 *  transaction made is detached. */
STRATA_API int strata_session_rollback(strata_session *s);

/**
 * A savepoint: a transaction nested in the session's (SQLAlchemy's
 * begin_nested).  Opening one flushes the session, then begins its
 * transaction if none is open.  strata_session_savepoint_release() flushes
 * and keeps the work inside it, which the enclosing transaction then
 * commits or rolls back; strata_session_savepoint_rollback() undoes it in
 * the database and in the objects: each object is as it was when the
 * savepoint opened (objects added inside it are transient again, their
 * database ids cleared; deleted ones are back; changes made inside it,
 * flushed or not, are gone), and relationships load again on next access.
 * Objects refreshed inside it get their values from before it; objects
 * first loaded inside it are read again (detached when their row was made
 * there).  Savepoints nest (64 deep at most); release and rollback apply
 * to the innermost.  A commit or rollback of the session's own
 * transaction ends them all.
 *
 * Under a session, strata_db_savepoint() and its release and rollback are
 * refused (STRATA_E_MISUSE) on the session's connection: the objects would
 * not follow them.
 */
STRATA_API int strata_session_savepoint(strata_session *s);
STRATA_API int strata_session_savepoint_release(strata_session *s);
STRATA_API int strata_session_savepoint_rollback(strata_session *s);
/** Number of savepoints open through the session.  Can't fail. */
STRATA_API int strata_session_savepoint_depth(const strata_session *s);
/**
 * Insert `obj` (a new object from strata_new) or, when a row with the same
 * values in the unique `on` fields ("username" or "a, b") exists, update
 * that row's other columns: INSERT ... ON CONFLICT (...) DO UPDATE on both
 * engines, at once (after flushing pending work).  A field with a server
 * default that is zero or NULL is left out of both, as at any insert: the
 * server's default goes into a new row, and an existing row keeps its
 * value.  `*out` receives the
 * session's object for the row: `obj`, now persistent with its id, or the
 * object already loaded for that row, refreshed.
 */
STRATA_API int strata_upsert(void *obj, const char *on, void *out);
/** Reload an object's columns from the database.  STRATA_E_NOT_FOUND
 *  when its row is gone; a column that will not convert to its field
 *  fails as a get does, and the object keeps the values it had. */
STRATA_API int strata_refresh(void *obj);

/** The object of `model` with primary key `id`: from the identity map
 *  without SQL when it is there.  STRATA_E_NOT_FOUND (and *out NULL)
 *  when there is no such row. */
STRATA_API int strata_get(strata_session *s, const strata_model *model, int64_t id, void *out);
/** The same for any primary key: `key` holds one value per primary-key
 *  field, in the order the fields are declared (a composite key, a text or
 *  UUID key).  STRATA_E_MISUSE naming the field when a value's type does
 *  not fit it or the count is wrong. */
STRATA_API int strata_get_key(strata_session *s, const strata_model *model,
                              const strata_value *key, size_t nkey, void *out);

/** Set a text field of an object (copies `text`; NULL stores SQL NULL).
 *  The only way to change a string field: never assign, free or change
 *  its bytes in place (a loaded object's string may share its bytes with
 *  the session's record of the row; a flush refuses a change in place
 *  with STRATA_E_MISUSE). */
STRATA_API int strata_set_text(char **field, const char *text);
/** Set a blob field (copies). */
STRATA_API int strata_set_blob(strata_blob *field, const void *data, size_t len);
/** Mark a non-pointer field NULL (or not).  Text fields are NULL when the
 *  pointer is. */
STRATA_API int strata_set_null(void *obj, const char *field, int is_null);
STRATA_API int strata_is_null(const void *obj, const char *field);

/** "<User susan>".  Caller frees with strata_free(). */
STRATA_API char *strata_repr(const void *obj);

/* ---- lists ------------------------------------------------------------- */

/** Objects a query returned.  Read `count` and `items`; the objects are
 *  the session's, the list is the caller's (strata_list_free). */
typedef struct strata_list {
    size_t count;
    void **items;
    size_t cap_;
} strata_list;

STRATA_API void strata_list_free(strata_list *list);
/** "[<User john>, <User susan>]".  Caller frees with strata_free(). */
STRATA_API char *strata_list_repr(const strata_list *list);

/* ---- queries ----------------------------------------------------------- */

typedef enum strata_op {
    STRATA_EQ = 1,
    STRATA_NE,
    STRATA_LT,
    STRATA_LE,
    STRATA_GT,
    STRATA_GE,
    STRATA_LIKE,
    STRATA_ILIKE, /* case-insensitive on both engines */
    STRATA_IS_NULL,
    STRATA_IS_NOT_NULL
} strata_op;

typedef enum strata_order { STRATA_ASC = 0, STRATA_DESC = 1 } strata_order;

/** A query of `model`'s objects.  Caller frees with strata_query_free().
 *  NULL when it cannot be made (out of memory, or a model the session
 *  refuses), with the session's message saying why. */
STRATA_API strata_query *strata_query_new(strata_session *s, const strata_model *model);
STRATA_API void strata_query_free(strata_query *q);

/* Conditions.  A field is "name" or a path of relationships to one
 * ("author.username", "posts.tags.name"): a many-to-one on the way is
 * joined; through a collection (one-to-many, many-to-many) the condition
 * becomes "key IN (subquery)", so each object matches once.
 * Constructors return a new condition; strata_and / or / not and
 * strata_query_filter take ownership (NULL in, NULL out: the error shows
 * at execution). */
STRATA_API strata_cond *strata_c(const char *field, strata_op op, strata_value value);
STRATA_API strata_cond *strata_c_in(const char *field, const strata_value *values, size_t n);
STRATA_API strata_cond *strata_c_not_in(const char *field, const strata_value *values, size_t n);
STRATA_API strata_cond *strata_c_between(const char *field, strata_value lo, strata_value hi);
/** A raw SQL fragment with `?` placeholders and its n values. */
STRATA_API strata_cond *strata_c_raw(const char *sql, const strata_value *values, size_t n);
STRATA_API strata_cond *strata_and(strata_cond *a, strata_cond *b);
STRATA_API strata_cond *strata_or(strata_cond *a, strata_cond *b);
STRATA_API strata_cond *strata_not(strata_cond *a);
STRATA_API void strata_cond_free(strata_cond *c);
/**
 * Subqueries.  `sub` is another query of the same session (of any model),
 * taken by the condition.  strata_c_in_query: `field` IN the values of
 * sub's one column (strata_query_columns), or of its key when it names
 * none.  strata_c_exists: some row of sub exists.  A subquery may be tied
 * to the query it stands in with strata_query_correlate():
 *
 *     // users with a post in 2024: EXISTS (SELECT 1 FROM post AS s1
 *     //   WHERE s1.timestamp >= ? AND s1.user_id = user.id)
 *     strata_query *sub = strata_query_new(s, &post_model);
 *     strata_query_filter(sub, strata_c("timestamp", STRATA_GE, strata_time(t2024)));
 *     strata_query_correlate(sub, "user_id", "id");
 *     strata_query_filter(q, strata_c_exists(sub));
 */
STRATA_API strata_cond *strata_c_in_query(const char *field, strata_query *sub);
STRATA_API strata_cond *strata_c_exists(strata_query *sub);
/** In a subquery: its `field` equals `outer_field` of the query it stands
 *  in (both paths as in conditions, through many-to-one relationships). */
STRATA_API int strata_query_correlate(strata_query *sub, const char *field,
                                      const char *outer_field);

/** AND a condition into the query (takes ownership). */
STRATA_API int strata_query_filter(strata_query *q, strata_cond *c);
/** Equality on a field: filter_by(username="susan"). */
STRATA_API int strata_query_filter_by(strata_query *q, const char *field, strata_value value);
STRATA_API int strata_query_order_by(strata_query *q, const char *field, strata_order order);
STRATA_API int strata_query_limit(strata_query *q, int64_t limit);
STRATA_API int strata_query_offset(strata_query *q, int64_t offset);

/* Flags of strata_query_for_update(). */
#define STRATA_LOCK_NOWAIT (1u << 0)      /* a row locked by another transaction: STRATA_E_BUSY at once */
#define STRATA_LOCK_SKIP_LOCKED (1u << 1) /* leave out rows other transactions hold */
/**
 * Lock the rows the query returns until the transaction ends, so a
 * read-modify-write cannot lose another transaction's update: SELECT ...
 * FOR UPDATE on PostgreSQL (with NOWAIT or SKIP LOCKED from `flags`).  On
 * SQLite the session's writing transaction already holds the database's
 * write lock, so no other writer can change the rows: the query runs as
 * it is, and both flags hold trivially.  Objects the rows meet are
 * refreshed from them, even those loaded earlier in the transaction.
 * The rows locked are the query's table's, and, for a query of tuples or
 * of values, those of its joins (strata_query_join).  STRATA_E_MISUSE for
 * both flags at once, or in a read-only session; and, when the query
 * runs, on every engine, for what has no rows of its own to lock (a
 * count, an existence test, aggregates, DISTINCT, GROUP BY) and for an
 * outer join of a query of tuples or values.
 */
STRATA_API int strata_query_for_update(strata_query *q, unsigned flags);
/** strata_get() with the row locked for update (see
 *  strata_query_for_update()); the object is read from the row even when
 *  the identity map holds it.  STRATA_E_NOT_FOUND when there is no row. */
STRATA_API int strata_get_for_update(strata_session *s, const strata_model *model, int64_t id,
                                     unsigned flags, void *out);
/** Load relationship `rel` of every result in batches (at most 500 keys
 *  per IN list): 1 + ceil(N/500) queries for N results.  A query without
 *  conditions, joins, limit or offset reads every row of its table: a
 *  collection's children then come in one query (2 in all).  A result
 *  whose relationship is loaded already keeps it as it is (as SQLAlchemy
 *  does without populate_existing). */
STRATA_API int strata_query_load(strata_query *q, const char *rel);
/**
 * Join a path of relationships ("author", "posts", "posts.tags") into the
 * query's FROM: an inner join, or with strata_query_outer_join a LEFT JOIN
 * that keeps rows with nothing at the other end.  Conditions, columns and
 * order on the path ("posts.title") then name the joined row, and
 * strata_query_tuples() returns its object beside the query's.  Joining a
 * collection gives one row per pair, so strata_query_all() and
 * strata_query_count() then see an object once per match; a condition
 * through a collection that is not joined matches each object once.
 */
STRATA_API int strata_query_join(strata_query *q, const char *path);
STRATA_API int strata_query_outer_join(strata_query *q, const char *path);

/** Every matching object, in a new list (caller frees). */
STRATA_API int strata_query_all(strata_query *q, strata_list **out);
/** The first object (LIMIT 1), or *out NULL when there is none. */
STRATA_API int strata_query_first(strata_query *q, void *out);
/** Exactly one object: STRATA_E_NOT_FOUND when none, STRATA_E_MULTIPLE
 *  when several. */
STRATA_API int strata_query_one(strata_query *q, void *out);
/** One object or *out NULL; STRATA_E_MULTIPLE when several. */
STRATA_API int strata_query_one_or_none(strata_query *q, void *out);
STRATA_API int strata_query_count(strata_query *q, int64_t *out);
STRATA_API int strata_query_exists(strata_query *q, int *out);

/*
 * Values instead of objects: columns and aggregates, grouped.
 *
 *     strata_query *q = strata_query_new(s, &post_model);
 *     strata_query_columns(q, "author.username, count(*)");
 *     strata_query_group_by(q, "author.username");
 *     strata_query_having(q, strata_c("count(*)", STRATA_GE, strata_int(2)));
 *     strata_query_order_by(q, "count(*)", STRATA_DESC);
 *     strata_rows *rows;
 *     strata_query_rows(q, &rows);    // ("susan", 2), ...
 *
 * An item is a field ("user_id"), a field through a many-to-one
 * relationship ("author.username", joined), or an aggregate of one:
 * count(*), count(f), sum(f), avg(f), min(f), max(f).  Aggregates may
 * also stand in strata_query_having() conditions and in order_by.  Both
 * engines give the same types: count an integer, avg a double, sum of an
 * integer field an integer, of a float field a double.  Filters, order,
 * limit and offset apply as for objects.  Bad names are
 * STRATA_E_UNDEFINED_COLUMN at execution, naming the item.
 */
typedef struct strata_rows strata_rows;
/** The items to select, comma-separated; adds to those given before. */
STRATA_API int strata_query_columns(strata_query *q, const char *items);
STRATA_API int strata_query_group_by(strata_query *q, const char *fields);
/** A condition on the groups (HAVING); takes `c`. */
STRATA_API int strata_query_having(strata_query *q, strata_cond *c);
/** Only distinct rows of values (SELECT DISTINCT). */
STRATA_API int strata_query_distinct(strata_query *q);
/** Run a query of values; *out is the caller's (strata_rows_free). */
STRATA_API int strata_query_rows(strata_query *q, strata_rows **out);
STRATA_API size_t strata_rows_count(const strata_rows *r);
STRATA_API int strata_rows_width(const strata_rows *r);
/** The item column `col` selects, as given. */
STRATA_API const char *strata_rows_name(const strata_rows *r, int col);
/** A value, owned by the rows; NULL out of range. */
STRATA_API const strata_value *strata_rows_value(const strata_rows *r, size_t row, int col);
/** A value converted as the column getters do: STRATA_OK, STRATA_NULL,
 *  STRATA_E_TYPE, STRATA_E_RANGE (no such row or column). */
STRATA_API int strata_rows_int64(const strata_rows *r, size_t row, int col, int64_t *out);
STRATA_API int strata_rows_double(const strata_rows *r, size_t row, int col, double *out);
/** A text value, or NULL (SQL NULL, not text, out of range). */
STRATA_API const char *strata_rows_text(const strata_rows *r, size_t row, int col);
STRATA_API void strata_rows_free(strata_rows *r);
/** One aggregate over the query's rows ("sum(amount)", "max(id)"), as an
 *  integer or a double; STRATA_NULL when it is SQL NULL (no rows for
 *  sum, min, max, avg). The query's own columns are left as they were. */
STRATA_API int strata_query_scalar_int64(strata_query *q, const char *expr, int64_t *out);
STRATA_API int strata_query_scalar_double(strata_query *q, const char *expr, double *out);

/**
 * Rows of objects: the query's object, then one per strata_query_join()
 * in the order they were made (NULL where an outer join met no row).
 *
 *     strata_query_join(q, "author");          // q: posts
 *     strata_tuples *t;
 *     strata_query_tuples(q, &t);
 *     Post *p = strata_tuples_get(t, 0, 0);
 *     User *u = strata_tuples_get(t, 0, 1);
 *
 * The objects are the session's (the identity map's), as with
 * strata_query_all(); the tuples only point at them.
 */
typedef struct strata_tuples strata_tuples;
STRATA_API int strata_query_tuples(strata_query *q, strata_tuples **out);
STRATA_API size_t strata_tuples_count(const strata_tuples *t);
STRATA_API int strata_tuples_width(const strata_tuples *t);
/** Object k of row `row`, or NULL (outer join, or out of range). */
STRATA_API void *strata_tuples_get(const strata_tuples *t, size_t row, int k);
STRATA_API void strata_tuples_free(strata_tuples *t);

/**
 * Bulk changes: an UPDATE or DELETE of every row the query's conditions
 * match (through relationships too), without loading them.  The session
 * is flushed first, and everything runs inside a savepoint: when it
 * fails, the transaction is as it was.  For a model keyed by one field
 * the matching keys are read (and locked, where the engine locks rows)
 * first, then the rows are changed by key, so every statement meets the
 * same rows.  The session stays consistent:
 *  - after an update, the matching objects it holds are read again from
 *    their rows (their values at the last commit kept for a rollback);
 *  - after a delete, the matching objects it holds are detached (out of
 *    the identity map; a rollback brings them back), and objects whose
 *    rows the database's ON DELETE rules reach are read again;
 *  - relationships loaded in the session are forgotten and load again on
 *    next access, since rows may have moved between them.
 * ORM cascades do not run (the database's ON DELETE rules do); the
 * association rows of the model's many-to-many relationships go with the
 * deleted rows, as with strata_delete().  Values are checked as a flush
 * checks them, and onupdate functions run.  Limit, offset, order, columns
 * and groups are refused (STRATA_E_MISUSE), as is a change of the primary
 * key.  *count (may be NULL) gets the rows changed.
 */
typedef struct strata_assign {
    const char *field;
    strata_value value;
} strata_assign;
STRATA_API int strata_query_update(strata_query *q, const strata_assign *set, size_t n,
                                   int64_t *count);
STRATA_API int strata_query_delete(strata_query *q, int64_t *count);

/**
 * Stream the results in constant memory: each strata_iter_next() fills one
 * object the iterator owns (valid until the next call, not tracked by the
 * session, so changes to it are not saved).  While the iteration is open
 * nothing else may run on the session's connection (STRATA_E_MISUSE on
 * both engines).  Caller frees with strata_iter_free().  The query may be
 * freed before the iterator; its eager loads (strata_query_load) do not
 * apply to a stream.
 */
typedef struct strata_iter strata_iter;
STRATA_API int strata_query_iter(strata_query *q, strata_iter **out);
/** STRATA_ROW with *out set, STRATA_DONE at the end, or an error. */
STRATA_API int strata_iter_next(strata_iter *it, void *out);
STRATA_API void strata_iter_free(strata_iter *it);

/** One page of results, as Flask-SQLAlchemy's paginate(). */
typedef struct strata_page {
    strata_list *items; /* caller frees with strata_page_clear() */
    int64_t page, per_page, total, pages;
    int has_prev, has_next;
    int64_t prev_num, next_num; /* 0 when there is none */
} strata_page;

/** Fill `out` with page `page` (1-based) of `per_page` results; the total
 *  comes from a count without ORDER BY.  Page < 1 or per_page < 1 is
 *  STRATA_E_RANGE. */
STRATA_API int strata_query_paginate(strata_query *q, int64_t page, int64_t per_page,
                                     strata_page *out);
STRATA_API void strata_page_clear(strata_page *p);

/* ---- relationships ----------------------------------------------------- */

/** The object a many-to-one / one-to-one relationship points at (loaded
 *  on first access), or *out NULL. */
STRATA_API int strata_related(void *obj, const char *rel, void *out);
/** The collection of a one-to-many / many-to-many relationship, loaded on
 *  first access.  Borrowed: the session owns it.  It holds the current
 *  transaction's view: after a commit or rollback it is emptied, and the
 *  next strata_related_list() loads it again. */
STRATA_API int strata_related_list(void *obj, const char *rel, const strata_list **out);
/** A query over a collection, to filter and order (a write-only view).
 *  It names obj's key as it runs: after a rollback took that key it is
 *  refused (STRATA_E_MISUSE) until obj is added again. */
STRATA_API strata_query *strata_related_query(void *obj, const char *rel);
/** Point a many-to-one relationship at `target` (NULL clears it): the
 *  foreign key is set at flush, and the target's mirror collection gains
 *  `obj` when loaded. */
STRATA_API int strata_set_related(void *obj, const char *rel, void *target);
/** Add to / remove from a collection.  Many-to-many: the association row
 *  is inserted / deleted at flush.  One-to-many: the child's key is set /
 *  cleared (with STRATA_CASCADE_DELETE_ORPHAN, a child removed is deleted
 *  at the next flush unless it has a parent again by then). */
STRATA_API int strata_collection_add(void *obj, const char *rel, void *target);
STRATA_API int strata_collection_remove(void *obj, const char *rel, void *target);
/** Whether the collection holds `target` (asks the database when the
 *  collection is not loaded). */
STRATA_API int strata_collection_contains(void *obj, const char *rel, void *target, int *out);

/* ---- typed calls ------------------------------------------------------- */

/**
 * Calls whose object pointers the compiler checks, for one model:
 *
 *   STRATA_TYPED_MODEL(User, user_model)   // after the struct and the model
 *   User *u;
 *   User_new(s, &u);                       // Post *p; User_new(s, &p): a compile error
 *   User_get(s, 1, &u);
 *   User_first(q, &u);                     // q: a query of users
 *   User_related(post, "author", &u);
 *
 * T_new, T_get, T_first, T_one, T_one_or_none and T_related call strata_new,
 * strata_get, strata_query_first / _one / _one_or_none and strata_related;
 * an object that comes back of another model (a query or relationship of
 * another model) is refused with STRATA_E_MISUSE and *out set to NULL.
 * The void * calls stay for generic code.  T's first member must be its
 * strata_object.
 */
#define STRATA_TYPED_MODEL(T, M)                                                             \
    static inline int T##_checked_(int rc_, void *o_, T **out_)                             \
    {                                                                                        \
        if (o_ && ((strata_object *)o_)->model != &(M)) {                               \
            *out_ = NULL;                                                                    \
            return STRATA_E_MISUSE;                                                          \
        }                                                                                    \
        *out_ = (T *)o_;                                                                     \
        return rc_;                                                                          \
    }                                                                                        \
    static inline int T##_new(strata_session *s_, T **out_)                                 \
    {                                                                                        \
        return strata_new(s_, &(M), out_);                                              \
    }                                                                                        \
    static inline int T##_get(strata_session *s_, int64_t id_, T **out_)                    \
    {                                                                                        \
        return strata_get(s_, &(M), id_, out_);                                         \
    }                                                                                        \
    static inline int T##_first(strata_query *q_, T **out_)                                 \
    {                                                                                        \
        void *o_ = NULL;                                                                     \
        int rc_ = strata_query_first(q_, &o_);                                               \
        return T##_checked_(rc_, o_, out_);                                                  \
    }                                                                                        \
    static inline int T##_one(strata_query *q_, T **out_)                                   \
    {                                                                                        \
        void *o_ = NULL;                                                                     \
        int rc_ = strata_query_one(q_, &o_);                                                 \
        return T##_checked_(rc_, o_, out_);                                                  \
    }                                                                                        \
    static inline int T##_one_or_none(strata_query *q_, T **out_)                           \
    {                                                                                        \
        void *o_ = NULL;                                                                     \
        int rc_ = strata_query_one_or_none(q_, &o_);                                         \
        return T##_checked_(rc_, o_, out_);                                                  \
    }                                                                                        \
    static inline int T##_related(void *obj_, const char *rel_, T **out_)                   \
    {                                                                                        \
        void *o_ = NULL;                                                                     \
        int rc_ = strata_related(obj_, rel_, &o_);                                           \
        return T##_checked_(rc_, o_, out_);                                                  \
    }

#ifdef __cplusplus
}
#endif
#endif
