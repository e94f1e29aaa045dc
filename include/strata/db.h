/*
 * strata/db.h - connections: open by URL, execute, transactions and
 * savepoints, identifier quoting, SQL echo, error details.
 *
 * A strata_db is one connection.  It is not thread-safe: use one per thread
 * (a pool comes later).  Every call that can fail returns a strata_result
 * code; the message and the engine's own codes stay on the handle until the
 * next call that fails or succeeds on it.
 */
#ifndef STRATA_DB_H
#define STRATA_DB_H

#include "common.h"
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strata_db strata_db;
typedef struct strata_driver strata_driver;

/**
 * Open a connection.
 *
 * @param out  receives the handle.  It is set even on failure when there is
 *             a message to read with strata_db_errmsg(); the caller always
 *             calls strata_db_close(*out).
 * @param url  a database URL (see <strata/url.h>), or NULL for the
 *             DATABASE_URL environment variable, or STRATA_DEFAULT_URL when
 *             that is unset or empty.
 *
 * SQLite connections get foreign keys on, a busy timeout (5000 ms unless
 * the URL says busy_timeout=N), WAL for files opened read-write (unless the
 * URL says journal_mode=...), and case-sensitive LIKE, so that they behave
 * as PostgreSQL does.  STRATA_ECHO=1 in the environment turns echo on.
 *
 * @return STRATA_OK, STRATA_E_URL, STRATA_E_CONNECT, STRATA_E_UNSUPPORTED
 *         (backend not built in), STRATA_E_NOMEM, STRATA_E_MISUSE.
 */
STRATA_API int strata_db_open(strata_db **out, const char *url);

/** Close the connection, finalizing cached statements and rolling back an
 *  open transaction.  Statements not yet finalized must not be used after
 *  this.  Accepts NULL. */
STRATA_API void strata_db_close(strata_db *db);

/** The backend in use: "sqlite" or "postgresql".  Static storage. */
STRATA_API const char *strata_db_backend(const strata_db *db);

/** The connection's driver (for dialect calls such as
 *  strata_driver_quote_ident()).  Static storage. */
STRATA_API const strata_driver *strata_db_driver(const strata_db *db);

/** The URL of the connection with the password redacted.  Borrowed until
 *  strata_db_close(). */
STRATA_API const char *strata_db_url(const strata_db *db);

/** Run one or more SQL statements separated by ';' without parameters and
 *  discard any rows (DDL, scripts).  Returns STRATA_OK or an error code. */
STRATA_API int strata_db_exec(strata_db *db, const char *sql);

/** Rows inserted, updated or deleted by the most recent prepared statement
 *  (strata_stmt_step) that finished on this connection; strata_db_exec()
 *  does not change it. */
STRATA_API int64_t strata_db_changes(const strata_db *db);

/* ---- transactions ------------------------------------------------------ */

/** Begin a transaction.  STRATA_E_MISUSE when one is already open (use a
 *  savepoint to nest). */
STRATA_API int strata_db_begin(strata_db *db);

/** What a transaction will do, for strata_db_begin_mode(). */
typedef enum strata_tx_mode {
    STRATA_TX_DEFAULT = 0,   /* the engine's plain BEGIN (strata_db_begin) */
    STRATA_TX_WRITE = 1,     /* it will write: SQLite takes the write lock at
                                BEGIN (BEGIN IMMEDIATE), waiting up to the
                                busy timeout, so no later statement meets an
                                immediate STRATA_E_BUSY; PostgreSQL: BEGIN */
    STRATA_TX_READ_ONLY = 2, /* it will only read, and writes are refused
                               (STRATA_E_READONLY): PostgreSQL BEGIN READ
                               ONLY; SQLite begins deferred, so readers stay
                               concurrent, and refuses each statement that
                               would write before it runs */
    STRATA_TX_SNAPSHOT = 3   /* it will only read, every statement seeing the
                                same state of the database: PostgreSQL BEGIN
                                ISOLATION LEVEL REPEATABLE READ, READ ONLY;
                                SQLite as READ_ONLY (a read transaction sees
                                one snapshot from its first read) */
} strata_tx_mode;

/** Begin a transaction in `mode`.  As strata_db_begin() otherwise; on
 *  SQLite a STRATA_TX_WRITE begin that cannot get the write lock within
 *  the busy timeout fails with STRATA_E_BUSY and leaves no transaction. */
STRATA_API int strata_db_begin_mode(strata_db *db, strata_tx_mode mode);
/** Commit the open transaction (and every savepoint inside it).  When
 *  the connection is lost while COMMIT is under way the result is
 *  STRATA_E_COMMIT_UNKNOWN: the server may have committed or not (check
 *  the data before doing the work again); the handle is then broken.  A
 *  COMMIT the engine refused before it ran, rolling back (on SQLite, a
 *  database file moved or deleted under the connection), is
 *  STRATA_E_CONNECTION_LOST with the handle broken: not committed. */
STRATA_API int strata_db_commit(strata_db *db);
/** Roll back the open transaction (and every savepoint inside it).  Also
 *  succeeds on a transaction the server has already aborted.  A ROLLBACK
 *  that cannot run (out of memory) while the engine still holds the
 *  transaction fails, and the handle refuses every other call
 *  (strata_db_is_broken()) until a rollback succeeds or it is closed,
 *  which ends the transaction: reused, it would run the next statements,
 *  and commit them, inside it. */
STRATA_API int strata_db_rollback(strata_db *db);
/** Non-zero while a transaction is open. */
STRATA_API int strata_db_in_transaction(const strata_db *db);

/** Non-zero when the connection is lost (or closed, or waiting for a
 *  ROLLBACK that could not run): every call but strata_db_rollback()
 *  (which then succeeds at once, the server having rolled back, or runs
 *  the ROLLBACK again) and strata_db_close() fails with
 *  STRATA_E_CONNECTION_LOST.
 *  A lost connection is seen by the first call after the loss; a pool
 *  discards such handles.  This function can't fail. */
STRATA_API int strata_db_is_broken(const strata_db *db);

/** Check the connection with a trivial statement (SELECT 1).  STRATA_OK,
 *  or STRATA_E_CONNECTION_LOST and the handle is broken.  Inside a failed
 *  transaction: STRATA_E_TX_ABORTED. */
STRATA_API int strata_db_ping(strata_db *db);

/** Open a savepoint inside the current transaction (beginning one first if
 *  none is open; that transaction then ends with the outermost savepoint's
 *  release or rollback).  Savepoints nest; release and rollback apply to
 *  the innermost.  Rolling a savepoint back leaves the enclosing
 *  transaction usable, on PostgreSQL too after an error.  While an ORM
 *  session uses the connection these three are refused (STRATA_E_MISUSE):
 *  use strata_session_savepoint() and its release and rollback, which
 *  take the session's objects back with the rows. */
STRATA_API int strata_db_savepoint(strata_db *db);
/** Keep the innermost savepoint's work and close it. */
STRATA_API int strata_db_savepoint_release(strata_db *db);
/** Undo the innermost savepoint's work and close it. */
STRATA_API int strata_db_savepoint_rollback(strata_db *db);
/** Number of savepoints open. */
STRATA_API int strata_db_savepoint_depth(const strata_db *db);

/* ---- notices, cancel and timeouts --------------------------------------- */

/** A notice or warning from the server (PostgreSQL's NOTICE, WARNING ...;
 *  SQLite sends none).  The strings are borrowed for the call. */
typedef struct strata_notice {
    const char *severity; /* "NOTICE", "WARNING", "INFO" ... */
    const char *sqlstate; /* five characters, or "" */
    const char *message;  /* with the detail in parentheses when there is one;
                             passwords of the URL redacted */
} strata_notice;
typedef void (*strata_notice_fn)(void *userdata, const strata_notice *notice);

/** Send the server's notices and warnings to `fn` (NULL: drop them, the
 *  default; they also go to the echo when it is on).  A COMMIT that the
 *  server could not replicate in time returns STRATA_OK with a WARNING
 *  here: "... has already committed locally, but might not have been
 *  replicated". */
STRATA_API void strata_db_set_notice_handler(strata_db *db, strata_notice_fn fn, void *userdata);

/** Stop the statement running on `db` now: it fails with STRATA_E_TIMEOUT
 *  ("canceling statement due to user request").  The one call that may
 *  come from another thread while a call on `db` is under way; the handle
 *  must stay open meanwhile.  STRATA_OK when the request was sent (a
 *  statement that finished first is not affected). */
STRATA_API int strata_db_cancel(strata_db *db);

/** Fail every statement on `db` that runs longer than `ms` milliseconds
 *  with STRATA_E_TIMEOUT ("canceling statement due to statement timeout
 *  (ms)"); 0 removes the limit.  The limit is the handle's alone.  On
 *  PostgreSQL strata keeps the deadline and sends a cancel when it passes
 *  (no session setting, so it holds behind a connection pooler); a server
 *  that answers neither within 5 s more is given up: STRATA_E_CONNECTION_LOST,
 *  or STRATA_E_COMMIT_UNKNOWN for a COMMIT.  On SQLite a progress handler.
 *  STRATA_E_UNSUPPORTED where the engine has neither. */
STRATA_API int strata_db_set_statement_timeout(strata_db *db, int ms);

/* ---- errors ------------------------------------------------------------ */

/** Portable code of the last failed call on this handle, STRATA_OK if the
 *  last call succeeded.  Accepts NULL (returns STRATA_E_NOMEM, the only way
 *  an open leaves no handle). */
STRATA_API int strata_db_errcode(const strata_db *db);
/** Message of the last failure: what strata was doing and the engine's own
 *  message.  Passwords are redacted.  Borrowed until the next call on db. */
STRATA_API const char *strata_db_errmsg(const strata_db *db);
/** Five-character SQLSTATE of the last failure.  PostgreSQL's own; for
 *  SQLite the standard SQLSTATE of the same class (e.g. "23505" for a
 *  unique violation) or "HY000".  "" when there is none.  Borrowed. */
STRATA_API const char *strata_db_sqlstate(const strata_db *db);
/** The engine's native code: SQLite's extended result code; 0 on
 *  PostgreSQL (use the SQLSTATE). */
STRATA_API int strata_db_native_code(const strata_db *db);

/* ---- statistics -------------------------------------------------------- */

typedef enum strata_counter {
    STRATA_COUNTER_STATEMENTS = 0, /* statements executed (step to first result) */
    STRATA_COUNTER_PREPARES = 1,   /* statements strata prepared, its cache not holding them;
                                      the engine preparing one again (after a schema change, or
                                      a blob's typed twin on PostgreSQL) is not counted */
    STRATA_COUNTER_CACHE_HITS = 2, /* prepares answered from the statement cache */
    STRATA_COUNTER_PIPELINED = 3   /* executions sent in a pipeline (PostgreSQL) */
} strata_counter;

/** A running counter of this connection, for tests and benchmarks. */
STRATA_API int64_t strata_db_counter(const strata_db *db, strata_counter which);

/* ---- SQL echo ---------------------------------------------------------- */

/** Receives one line (no trailing newline) per statement with its
 *  parameters, and one per connect; passwords are redacted. */
typedef void (*strata_echo_fn)(void *userdata, const char *line);

/** The echo function that writes lines to stderr. */
STRATA_API void strata_echo_stderr(void *userdata, const char *line);

/** Send echo lines to fn (NULL turns echo off). */
STRATA_API void strata_db_set_echo(strata_db *db, strata_echo_fn fn, void *userdata);

/* ---- dialect ----------------------------------------------------------- */

/** Find a built-in driver by URL scheme or alias ("sqlite", "postgresql",
 *  "postgres").  NULL when not built in.  Static storage. */
STRATA_API const strata_driver *strata_driver_find(const char *scheme);

/** The driver's canonical name.  Static storage. */
STRATA_API const char *strata_driver_name(const strata_driver *driver);

/**
 * Quote an identifier for the driver's dialect when it needs quoting
 * (reserved word, upper case or other characters, leading digit); embedded
 * double quotes are doubled.  `user` becomes "user" on PostgreSQL.
 *
 * @param out  receives the text; caller frees with strata_free().
 * @return STRATA_OK, STRATA_E_MISUSE (NULL or empty name), STRATA_E_NOMEM.
 */
STRATA_API int strata_driver_quote_ident(const strata_driver *driver, const char *ident,
                                         char **out);

#ifdef __cplusplus
}
#endif
#endif
