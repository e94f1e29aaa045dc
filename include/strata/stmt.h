/*
 * strata/stmt.h - prepared statements with `?` placeholders.
 *
 * The same SQL text runs on both engines: `?` is rewritten to $1, $2 ... for
 * PostgreSQL by a lexer that leaves string literals, quoted identifiers,
 * comments and dollar-quoted strings alone; `??` stands for a literal `?`
 * (jsonb operators).  Parameters are numbered from 1, result columns from 0.
 *
 * Statements are cached per connection by SQL text: preparing the same text
 * again reuses the engine's prepared statement, and strata_stmt_finalize()
 * hands a statement back to the cache rather than destroying it.
 *
 *   strata_stmt *st;
 *   if (strata_stmt_prepare(&st, db, "SELECT id, name FROM t WHERE id > ?") == STRATA_OK) {
 *       strata_stmt_bind_int64(st, 1, 10);
 *       while ((rc = strata_stmt_step(st)) == STRATA_ROW) { ... }
 *   }
 *   strata_stmt_finalize(st);
 */
#ifndef STRATA_STMT_H
#define STRATA_STMT_H

#include "common.h"
#include "db.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strata_stmt strata_stmt;

/**
 * Prepare one SQL statement.
 *
 * @param out  receives the statement (NULL on failure; details on db).
 *             Release with strata_stmt_finalize().
 * @return STRATA_OK, STRATA_E_SYNTAX and the other engine errors,
 *         STRATA_E_MISUSE (NULL argument, or more than one statement in
 *         `sql`: use strata_db_exec() for scripts), STRATA_E_NOMEM.
 */
STRATA_API int strata_stmt_prepare(strata_stmt **out, strata_db *db, const char *sql);

/** Release a statement (back to the connection's cache when it came from
 *  there).  Accepts NULL. */
STRATA_API void strata_stmt_finalize(strata_stmt *st);

/** Make the statement ready to run again; bindings are kept. */
STRATA_API int strata_stmt_reset(strata_stmt *st);
/** Set every parameter back to NULL. */
STRATA_API int strata_stmt_clear_bindings(strata_stmt *st);

/** Number of `?` parameters. */
STRATA_API int strata_stmt_param_count(const strata_stmt *st);

/* Bind parameter `index` (1-based).  Text and blobs are copied.  Binding
 * while rows are being stepped resets the statement first.  Return
 * STRATA_OK, STRATA_E_RANGE (no such parameter), STRATA_E_MISUSE,
 * STRATA_E_NOMEM. */
STRATA_API int strata_stmt_bind_null(strata_stmt *st, int index);
STRATA_API int strata_stmt_bind_bool(strata_stmt *st, int index, int value);
STRATA_API int strata_stmt_bind_int64(strata_stmt *st, int index, int64_t value);
STRATA_API int strata_stmt_bind_double(strata_stmt *st, int index, double value);
/** `len` < 0 means the text is NUL-terminated.  The text must be UTF-8;
 *  a NUL byte inside it is STRATA_E_DATA (PostgreSQL cannot store it). */
STRATA_API int strata_stmt_bind_text(strata_stmt *st, int index, const char *text, ptrdiff_t len);
STRATA_API int strata_stmt_bind_blob(strata_stmt *st, int index, const void *data, size_t len);
STRATA_API int strata_stmt_bind_timestamp(strata_stmt *st, int index, strata_timestamp ts);
/** Bind a strata_value of any type (text and blobs are copied). */
STRATA_API int strata_stmt_bind_value(strata_stmt *st, int index, const strata_value *v);

/**
 * Run the statement or advance to its next row.  Inside a transaction
 * strata began (strata_db_begin, a session's, a unit's), a statement that
 * would end it (COMMIT, ROLLBACK, END, BEGIN ...) is refused before it
 * runs with STRATA_E_MISUSE, as strata_db_exec refuses it.
 * @return STRATA_ROW (a row is ready for the column getters), STRATA_DONE
 *         (finished; strata_stmt_changes() tells the rows changed), or an
 *         error code with details on the connection.
 */
STRATA_API int strata_stmt_step(strata_stmt *st);

/**
 * Deliver this statement's rows one at a time, in constant memory, instead
 * of all at once (PostgreSQL's single-row mode; SQLite always steps).
 * Call before the first step.  While its rows are being stepped, nothing
 * else may run on the connection: other calls get STRATA_E_MISUSE, on
 * both engines, until it returns STRATA_DONE or is reset or finalized.
 */
STRATA_API int strata_stmt_stream(strata_stmt *st);

/** Rows inserted, updated or deleted when the statement finished. */
STRATA_API int64_t strata_stmt_changes(const strata_stmt *st);

/* ---- result columns (0-based) ----------------------------------------- */

/** Number of result columns (0 for statements that return no rows). */
STRATA_API int strata_stmt_column_count(const strata_stmt *st);
/** Column name; borrowed until finalize.  NULL when out of range. */
STRATA_API const char *strata_stmt_column_name(const strata_stmt *st, int col);
/** Declared type as the engine reports it ("VARCHAR(64)", "bigint",
 *  "timestamp without time zone"), "" for expressions without one.
 *  Borrowed until finalize.  NULL when out of range. */
STRATA_API const char *strata_stmt_column_decltype(const strata_stmt *st, int col);
/** Type of the value in the current row, decoded the same way on both
 *  engines (declared BOOLEAN -> BOOL, DATETIME/TIMESTAMP -> TIMESTAMP,
 *  numeric -> TEXT to keep its precision, NULL -> STRATA_TYPE_NULL).
 *  STRATA_TYPE_NULL too when the value cannot be read (no current row, a
 *  column out of range, out of memory): strata_db_errcode() then says
 *  why; read the value with its strata_stmt_column_* call to tell. */
STRATA_API strata_type strata_stmt_column_type(strata_stmt *st, int col);
/** Non-zero when the current row's value is SQL NULL. */
STRATA_API int strata_stmt_column_is_null(strata_stmt *st, int col);

/*
 * Typed getters.  Each returns STRATA_OK with *out set, STRATA_NULL when
 * the value is SQL NULL (*out set to 0 / NULL), STRATA_E_TYPE when the
 * value cannot be converted (text "abc" as an integer), STRATA_E_RANGE
 * for a column out of range, STRATA_E_MISUSE when no row is current.
 * Text and blob pointers are borrowed until the next step, reset or
 * finalize; text is NUL-terminated.
 */
STRATA_API int strata_stmt_column_int64(strata_stmt *st, int col, int64_t *out);
STRATA_API int strata_stmt_column_double(strata_stmt *st, int col, double *out);
STRATA_API int strata_stmt_column_bool(strata_stmt *st, int col, int *out);
STRATA_API int strata_stmt_column_text(strata_stmt *st, int col, const char **out, size_t *len);
STRATA_API int strata_stmt_column_blob(strata_stmt *st, int col, const void **out, size_t *len);
STRATA_API int strata_stmt_column_timestamp(strata_stmt *st, int col, strata_timestamp *out);

/*
 * Many executions of one statement.  `i` counts executions from 0.  The
 * bind callback binds execution i's parameters with strata_stmt_bind_*;
 * the row callback reads one row of execution i's result with the column
 * getters (it may be NULL when no rows are wanted).  A callback returning
 * anything but STRATA_OK stops the run with that code.
 */
typedef int (*strata_exec_bind_fn)(strata_stmt *st, size_t i, void *ctx);
typedef int (*strata_exec_row_fn)(strata_stmt *st, size_t i, void *ctx);

/** Run `st` n times.  On PostgreSQL the executions are pipelined (libpq
 *  pipeline mode): sent without waiting for each result, so n executions
 *  cost about one round trip instead of n.  SQLite runs them one after
 *  another.  All or nothing on both engines: without an open transaction
 *  the run has its own (made once more, `bind` called again from 0,
 *  when PostgreSQL refused a stale statement before any row reached
 *  `row`: the echo hook and the counters then see both runs); inside one, a failure leaves the
 * transaction failed, to be rolled back, as any failed statement does.  Returns STRATA_OK, or the
 * first error (the echo hook and the statement counter see each execution). */
STRATA_API int strata_stmt_execute_many(strata_stmt *st, size_t n, strata_exec_bind_fn bind,
                                        strata_exec_row_fn row, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
