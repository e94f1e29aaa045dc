/*
 * strata/sys/driver.h - the driver ABI: what a backend implements.
 *
 * A backend is one `const strata_driver` (this vtable) plus a connection
 * struct whose first member is `strata_conn` and a statement struct whose
 * first member is `strata_backend_stmt`.  The core finds a driver by URL
 * scheme in its built-in table (src/dispatch.c), and only that file calls
 * through the vtable.  Slots marked optional may be NULL; the core checks.
 * New slots are only ever appended, and `version` says which exist.
 *
 * What the core does for every backend, so a backend need not: parse the
 * URL, rewrite `?` placeholders (see `placeholder`), copy and keep bound
 * values, cache prepared statements by SQL text, echo SQL, redact
 * passwords, track transactions and savepoints, convert values for the
 * typed getters.  docs/architecture.md walks through adding a backend.
 */
#ifndef STRATA_SYS_DRIVER_H
#define STRATA_SYS_DRIVER_H

#include "../common.h"
#include "../db.h"
#include "../orm.h"
#include "../url.h"
#include "../value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2: set_streaming; 3: execute_many; 4: url_param_known, begin_mode, cancel, set_timeout,
 * in_transaction; 5: url_is_private, identifier_quote; 6: row_values; 7: exec_with_next;
 * 8: row_cells */
#define STRATA_DRIVER_VERSION 9

/* The words a driver ends a STRATA_E_STALE_STATEMENT's message with when
 * the failure aborted a transaction under way.  Where that transaction was
 * the core's own (strata_stmt_execute_many's, rolled back already), the
 * core puts its own words in their place. */
#define STRATA_DRIVER_SAY_ROLL_BACK "roll back and run the transaction again (strata_pool_run does)"

/* Capability bits (strata_driver.capabilities). */
#define STRATA_CAP_RETURNING (1u << 0)          /* INSERT/UPDATE ... RETURNING */
#define STRATA_CAP_TRANSACTIONAL_DDL (1u << 1)  /* DDL rolls back with the transaction */
#define STRATA_CAP_ALTER_COLUMN (1u << 2)       /* ALTER TABLE alters columns and adds and
                                                   drops constraints; without it the schema
                                                   layer rebuilds the table instead */
#define STRATA_CAP_ADVISORY_LOCKS (1u << 3)     /* pg_advisory_lock and friends */
#define STRATA_CAP_PIPELINE (1u << 4)           /* many statements per round trip */
#define STRATA_CAP_CONCURRENT_WRITERS (1u << 5) /* row-level locking */
#define STRATA_CAP_FILE_URL (1u << 6) /* the URL's path names a file (scheme:///path):
                                         no user, password, host or port */

/* How the engine spells parameters after the core's rewriting. */
typedef enum strata_placeholder_style {
    STRATA_PLACEHOLDER_QMARK = 0, /* ?  (SQLite) */
    STRATA_PLACEHOLDER_DOLLAR = 1 /* $1 (PostgreSQL) */
} strata_placeholder_style;

/* Lexical features of the dialect, for the placeholder lexer. */
#define STRATA_LEX_NESTED_COMMENTS (1u << 0) /* block comments nest (PostgreSQL) */
#define STRATA_LEX_DOLLAR_QUOTES (1u << 1)   /* $tag$ ... $tag$ strings */
#define STRATA_LEX_E_STRINGS (1u << 2)       /* E'...' with backslash escapes */
#define STRATA_LEX_BACKTICKS (1u << 3)       /* `identifier` (SQLite, MySQL) */
#define STRATA_LEX_BRACKETS (1u << 4)        /* [identifier] (SQLite) */
#define STRATA_LEX_BACKSLASH_STRINGS (1u << 5) /* every '...' with backslash escapes */

/* Values crossing the ABI are strata_value (<strata/value.h>).  Text and
 * blob memory belongs to whoever made the value: bound parameters to the
 * core until the next bind/reset, column values to the backend until the
 * next step/reset/finalize.  Text need not be NUL-terminated when handed to
 * the backend; text handed back must be. */

/* A column of the current row in the form a model's field holds it, for
 * the ORM's loader (the row_cells slot).  `state` says what the backend
 * made of it:
 *   STRATA_CELL_VALUE: the value is in `u` as the field's strata_ctype
 *     wants it: u.i for STRATA_C_INT64, STRATA_C_BOOL (0 or 1) and
 *     STRATA_C_TIMESTAMP, u.d for STRATA_C_DOUBLE, u.p and len for
 *     STRATA_C_TEXT and STRATA_C_BLOB (the backend's bytes, as
 *     column_value lends them);
 *   STRATA_CELL_NULL: the column is NULL;
 *   STRATA_CELL_OTHER: anything else; the core reads that column through
 *     column_value and converts it itself, as for the typed getters.
 * A backend gives VALUE only where column_value followed by the core's
 * conversion would give the same value, and may answer OTHER for any
 * case it has no quick way with. */
enum { STRATA_CELL_OTHER = 0, STRATA_CELL_VALUE = 1, STRATA_CELL_NULL = 2 };
typedef struct strata_cell {
    union {
        int64_t i;
        double d;
        const void *p;
    } u;
    size_t len;
    int state;
} strata_cell;

/* Generic part of a connection: the first member of a backend's own. */
typedef struct strata_conn {
    const struct strata_driver *driver;
    strata_db *db; /* owning handle: pass to strata_driver_error() */
} strata_conn;

/* Generic part of a prepared statement: first member of a backend's own.
 * The core sets `params` before each execution (the first step after
 * prepare or reset); it holds `nparams` values. */
typedef struct strata_backend_stmt {
    strata_conn *conn;
    int nparams;
    const strata_value *params;
} strata_backend_stmt;

struct strata_driver {
    int version;                     /* STRATA_DRIVER_VERSION */
    const char *name;                /* canonical URL scheme: "sqlite" */
    const char *const *aliases;      /* other schemes, NULL-terminated, or NULL */
    const char *const *driver_names; /* accepted "+driver" suffixes, NULL-terminated */
    unsigned capabilities;           /* STRATA_CAP_* */
    strata_placeholder_style placeholder;
    unsigned lexer_flags; /* STRATA_LEX_* */
    /* URL query parameters the backend understands, NULL-terminated; the
     * core rejects others.  NULL: the backend validates them itself. */
    const char *const *url_params;

    /* Open a connection for `url` (already parsed and known to name this
     * driver).  On failure report with strata_driver_error(db, ...) and
     * return its code; *out must then be NULL. */
    int (*open)(strata_conn **out, strata_db *db, const strata_url *url);
    /* Close and free; the core has finalized every statement first. */
    void (*close)(strata_conn *conn);

    /* Run a script of zero or more statements without parameters. */
    int (*exec)(strata_conn *conn, const char *sql);

    /* Prepare one statement, already rewritten to `placeholder` style and
     * holding `nparams` parameters. */
    int (*prepare)(strata_backend_stmt **out, strata_conn *conn, const char *sql, int nparams);
    /* Execute (first call after prepare/reset, with st->params) or advance.
     * STRATA_ROW, STRATA_DONE, or an error reported on the connection. */
    int (*step)(strata_backend_stmt *st);
    /* Forget the current execution so the next step runs it again. */
    int (*reset)(strata_backend_stmt *st);
    void (*finalize)(strata_backend_stmt *st);
    /* Rows changed by the finished execution. */
    int64_t (*changes)(strata_backend_stmt *st);

    /* Result shape; valid after prepare (SQLite) or the first step.  The
     * core asks column_count at each execution's first row, where it must
     * be cheap and cannot fail (the row is in hand), and again where a
     * getter reads a column. */
    int (*column_count)(strata_backend_stmt *st);
    /* A column's name and declared type, valid until the next call on the
     * statement: the core keeps a copy for the program. */
    const char *(*column_name)(strata_backend_stmt *st, int col);
    const char *(*column_decltype)(strata_backend_stmt *st, int col);
    /* The current row's value of `col`, decoded into the portable types.
     * The contract with the engine's dialect: a column the dialect
     * declared for a portable type comes back as that type's value:
     * boolean as STRATA_TYPE_BOOL, datetime (with or without time zone) as
     * STRATA_TYPE_TIMESTAMP, integers as STRATA_TYPE_INT64, float as
     * STRATA_TYPE_DOUBLE, blob as STRATA_TYPE_BLOB, the other types as
     * text.  An engine without typed storage (SQLite) decides by the
     * declared type's text, so its dialect must spell the types the way
     * its driver reads them (SQLite: a declared type containing BOOL is a
     * boolean, one containing DATETIME or TIMESTAMP a timestamp). */
    int (*column_value)(strata_backend_stmt *st, int col, strata_value *out);

    /* Transactions.  Optional: when NULL the core runs BEGIN / COMMIT /
     * ROLLBACK / SAVEPOINT name / RELEASE SAVEPOINT name / ROLLBACK TO
     * SAVEPOINT name through exec.  A commit that fails with
     * STRATA_E_CONNECTION_LOST is taken as of unknown outcome
     * (STRATA_E_COMMIT_UNKNOWN) unless in_transaction then says 0: the
     * engine knows the transaction ended without committing. */
    int (*begin)(strata_conn *conn);
    int (*commit)(strata_conn *conn);
    int (*rollback)(strata_conn *conn);

    /* Dialect: non-zero when lower-case `word` is reserved and must be
     * quoted as an identifier. */
    int (*is_reserved_word)(const char *word);
    /* The portable STRATA_E_* code for an engine error: its SQLSTATE (or
     * NULL), the engine's own code (or 0) and its message.  Must be
     * provided; the core calls it for every error reported with code 0
     * (strata_driver_error), so the mapping lives in one place. */
    int (*classify_error)(const char *sqlstate, int native_code, const char *message);

    /* ---- version 2 ---- */
    /* Optional: make the next execution of `st` deliver rows one at a time
     * (constant memory) instead of all at once.  NULL when the engine always
     * streams (SQLite).  The core runs nothing else on the connection until
     * that execution ends. */
    int (*set_streaming)(strata_backend_stmt *st, int on);

    /* ---- version 3 ---- */
    /* Optional: run `st` n times without waiting for each result before
     * sending the next (PostgreSQL's pipeline mode).  Before execution i
     * call bind(ctx, i), which sets st->params; for each row execution i
     * returns call row(ctx, i) with that row current, so column_value reads
     * it.  The first non-OK return of a callback or of an execution stops
     * the sending; the driver reads what was sent, leaves the connection
     * idle and returns that code (errors of executions reported on the
     * connection).  NULL: the core runs the executions one by one. */
    int (*execute_many)(strata_backend_stmt *st, size_t n, int (*bind)(void *ctx, size_t i),
                        int (*row)(void *ctx, size_t i), void *ctx);

    /* ---- version 4 ---- */
    /* Optional: non-zero when `key` (percent-decoded) is a URL query
     * parameter the driver understands, for drivers whose list is only
     * known at run time (libpq's).  The core refuses other keys while
     * parsing the URL, so the engine's library never quotes a URL it
     * refuses.  NULL: `url_params` decides (NULL there: any key). */
    int (*url_param_known)(const char *key);
    /* Optional: begin a transaction in `mode` (a strata_tx_mode).  NULL:
     * the core begins every mode as `begin` does. */
    int (*begin_mode)(strata_conn *conn, int mode);
    /* Optional: stop the statement running on `conn` now.  Called from any
     * thread, while another may be inside a call on the connection: it may
     * only use what the engine makes safe for that (PQcancel,
     * sqlite3_interrupt).  The statement then fails with STRATA_E_TIMEOUT. */
    int (*cancel)(strata_conn *conn);
    /* Optional: fail each statement that runs longer than `ms` (0: no
     * limit) with STRATA_E_TIMEOUT. */
    int (*set_timeout)(strata_conn *conn, int ms);
    /* Optional: 1 when the engine has a transaction open on `conn`, 0 when
     * not (SQLite ends one by itself when a statement runs out of memory
     * or disk), -1 when it cannot tell.  The core uses it to keep its own
     * idea of the transaction true after failures. */
    int (*in_transaction)(strata_conn *conn);

    /* ---- version 5 ---- */
    /* Optional: non-zero when every connection to `url` sees a database of
     * its own (SQLite's in-memory databases), which a pool refuses.  NULL:
     * connections to one URL share its database. */
    int (*url_is_private)(const strata_url *url);
    /* Optional: the two characters that open and close a quoted identifier
     * ("``" for MySQL's backticks), a quote inside doubled.  NULL: standard
     * SQL's double quotes. */
    const char *identifier_quote;

    /* ---- version 6 ---- */
    /* Optional: the current row's values of columns col0 to col0 + n - 1
     * into out[0] to out[n - 1], each as column_value gives it, in one
     * call (the ORM's rows, when the driver has no row_cells).  The core checks
     * that the columns exist.  On an error nothing in `out` is to be used.
     * NULL: the core calls column_value for each. */
    int (*row_values)(strata_backend_stmt *st, int col0, int n, strata_value *out);

    /* ---- version 7 ---- */
    /* Optional: run `sql`, a command without rows or parameters (the core
     * passes a SAVEPOINT), together with the next command sent on the
     * connection, in its round trip and before it.  When it fails, that
     * next command reports its error and is not run.  A commit or a
     * rollback of the transaction drops it unsent: only a command that
     * the transaction's end makes moot is passed.  NULL: the core runs it
     * at once through exec. */
    int (*exec_with_next)(strata_conn *conn, const char *sql);

    /* ---- version 8 ---- */
    /* Optional: the current row's columns col0 to col0 + n - 1 into
     * out[0] to out[n - 1] as strata_cell says, column col0 + i for a field
     * of C type want[i] (a strata_ctype): the ORM's load of a row, without
     * a strata_value between the engine and the struct.  The core checks
     * that the columns exist.  On an error nothing in `out` is to be used.
     * NULL: the core makes the cells from row_values. */
    int (*row_cells)(strata_backend_stmt *st, int col0, int n, const unsigned char *want,
                     strata_cell *out);

    /* ---- version 9 ---- */
    /* Optional: the STRATA_LEX_* flags `conn` reads SQL with now, where a
     * setting of the session changes them (PostgreSQL's
     * standard_conforming_strings = off: backslash escapes in every
     * string).  The core asks before it reads a statement's text for its
     * placeholders or its transaction commands.  NULL: lexer_flags. */
    unsigned (*lexer_flags_now)(strata_conn *conn);
};

/* ---- helpers the core gives backends ----------------------------------- */

/**
 * Record an error on `db` and return its code.  `sqlstate` (5 chars) may
 * be NULL; `native` is the engine's own code or 0.  The message is
 * formatted and passwords found in it are redacted.  `code` is a
 * STRATA_E_* code, or 0 to let the driver's classify_error slot choose it
 * from sqlstate, native and the formatted message (the usual way to
 * report what the engine said; STRATA_E_ERROR when the slot is NULL or
 * gives no error code).  A lost connection's codes mark the handle
 * broken: only rollback and close work on it afterwards.
 */
STRATA_API int strata_driver_error(strata_db *db, int code, const char *sqlstate, int native,
                                   const char *fmt, ...) STRATA_PRINTF(5, 6);

/** The decimal text a NUMERIC column with `scale` decimals shows for the
 *  double `d`, for engines that keep numerics as doubles (SQLite): the
 *  shortest digits that read back as d, in plain notation, rounded half
 *  away from zero to `scale` as PostgreSQL rounds decimal text ("0.125" at
 *  scale 2 is "0.13"), no sign on zero; scale -1 keeps every digit.  Into
 *  buf; STRATA_OK, or STRATA_E_RANGE when it needs more than `cap` bytes. */
STRATA_API int strata_driver_format_decimal(double d, int scale, char *buf, size_t cap);

/** Hand a notice or warning the server sent (severity such as "WARNING",
 *  SQLSTATE, message) to the handle's notice handler and echo. */
STRATA_API void strata_driver_notice(strata_db *db, const char *severity, const char *sqlstate,
                                     const char *message);

/** SQL text from `p` on, past white space and comments (-- to the line's
 *  end, and block comments). */
STRATA_API const char *strata_driver_sql_skip_space(const char *p);

/** Whether the last statement of `sql` (read by PostgreSQL's quoting
 *  rules) begins with COMMIT or END: what a driver checks when the engine
 *  answers a command with "ROLLBACK" (PostgreSQL's answer to the COMMIT of
 *  a failed transaction; to a ROLLBACK, the answer is a success). */
STRATA_API int strata_driver_sql_is_commit(const char *sql);

/** Milliseconds left before the connection this thread is opening must
 *  be given up (a pool's acquire timeout), or -1 when nothing bounds it.
 *  An engine whose own connect has no time limit waits no longer than
 *  this, and fails the open as STRATA_E_CONNECT when it passes. */
STRATA_API int strata_driver_open_time_left_ms(void);

/** The URL text to hand to the engine's own library: the URL as given,
 *  with any "+driver" suffix removed from its scheme.  Borrowed. */
STRATA_API const char *strata_driver_url_target(const strata_url *url);

/** Write a timestamp as "YYYY-MM-DD HH:MM:SS.ffffff" (see value.h). */
#define strata_driver_format_timestamp strata_timestamp_format

#ifdef __cplusplus
}
#endif
#endif
