/*
 * internal.h - declarations shared by the core's source files: the handle
 * structs, the growable string buffer, the dispatch layer (the only code
 * that calls through a driver vtable), the placeholder lexer and the echo.
 * Nothing here is exported; every name is strata__* or a struct body.
 */
#ifndef STRATA_INTERNAL_H
#define STRATA_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/common.h"
#include "strata/db.h"
#include "strata/error.h"
#include "strata/stmt.h"
#include "strata/url.h"
#include "strata/value.h"
#include "strata/pool.h"
#include "strata/sys/driver.h"

/* ---- growable string buffer (strbuf.c) -------------------------------- */

/* Text built piece by piece.  The put and printf calls never fail to the
 * caller: when memory runs out they set `failed` and do nothing more, so a
 * builder writes all its pieces and checks once, at strata__sb_take (which
 * then gives NULL and frees the buffer).  The buffer owns `data`;
 * strata__sb_free releases it (safe twice, and on an initialised buffer
 * that was never written). */
typedef struct strata__sb {
    char *data; /* NUL-terminated while ok */
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed: contents are unreliable */
} strata__sb;

void strata__sb_init(strata__sb *sb);
void strata__sb_free(strata__sb *sb);
void strata__sb_putn(strata__sb *sb, const char *s, size_t n);
void strata__sb_puts(strata__sb *sb, const char *s);
void strata__sb_putc(strata__sb *sb, char c);
/* The strings after sb, up to a NULL, one after the other: what the SQL
 * builders use on paths run per query, where a printf costs ten times
 * as much. */
void strata__sb_cat(strata__sb *sb, ...) __attribute__((sentinel));
void strata__sb_printf(strata__sb *sb, const char *fmt, ...) STRATA_PRINTF(2, 3);
void strata__sb_vprintf(strata__sb *sb, const char *fmt, va_list ap);
/* vprintf into new memory (caller frees); NULL when out of memory. */
char *strata__vformat(const char *fmt, va_list ap);
/* Hand the text over (caller frees); NULL if an allocation failed. */
char *strata__sb_take(strata__sb *sb);

/* Copies the caller frees (s must not be NULL); NULL when out of memory. */
char *strata__strdup(const char *s);
char *strata__strndup(const char *s, size_t n);

/* ---- values (value.c) -------------------------------------------------- */

/* A value as an integer or a double, converting as the column getters do
 * (an integral double, decimal text): STRATA_OK, STRATA_NULL (*out 0), or
 * STRATA_E_TYPE (no message set). */
int strata__value_int64(const strata_value *v, int64_t *out);
int strata__value_double(const strata_value *v, double *out);

/* text_types.c */
/* Decimal text `v` as PostgreSQL's numeric(prec, scale) keeps it: rounded
 * to `scale` decimals half away from zero and written with exactly that
 * many ("12.345" -> "12.35", "7" -> "7.00"), no '+', no leading zeros, no
 * sign on zero; scale -1 (plain numeric) keeps the decimals as they are.
 * *out is the caller's.  STRATA_E_DATA for text that is no decimal
 * number, STRATA_E_RANGE when more than prec - scale digits would stand
 * before the point (prec 0: any), STRATA_E_NOMEM. */
int strata__numeric_round(const char *v, int prec, int scale, char **out);

/* Whether the n bytes at v are a UUID's text: 8-4-4-4-12 hex digits of
 * either case (text_types.c). */
bool strata__uuid_text(const char *v, size_t n);
/* A UUID's text in any of PostgreSQL's common forms (8-4-4-4-12 or 32 hex
 * digits, in braces or not, either case) written into out as PostgreSQL
 * prints it (8-4-4-4-12, lower case); false when it is none. */
bool strata__uuid_canonical(const char *v, size_t n, char out[37]);
/* Whether `v` is one JSON value (RFC 8259) with nothing after it; *at is
 * where reading stopped (the first byte at fault when not; at may be
 * NULL) (text_types.c). */
bool strata__json_valid(const char *v, size_t *at);

/* ---- URLs (url.c) ------------------------------------------------------ */

/* Every secret of a parsed URL (the password and the values of secret
 * parameters, each raw and percent-decoded), so messages can be scrubbed
 * of them: sets *out to an array borrowed from the URL and returns its
 * length (0 after a failed parse). */
size_t strata__url_secrets(const strata_url *url, const char *const **out);
/* The driver the URL's scheme named, found while parsing (borrowed; NULL
 * after a failed parse). */
const strata_driver *strata__url_driver(const strata_url *url);

/* Replace every occurrence of each of the `n` non-empty `secrets` in `text`
 * that is not part of a longer word by ***, longest match first.  Returns a new string (caller
 * frees), NULL when out of memory. */
char *strata__scrub(const char *text, char *const *secrets, size_t n);
/* Offset of the first byte that breaks UTF-8, or -1 when `s` is valid
 * (stmt.c). */
ptrdiff_t strata__utf8_invalid_at(const unsigned char *s, size_t n);
/* SQL with the string literal after each PASSWORD keyword (CREATE / ALTER
 * ROLE ... PASSWORD '...', E'...' or $$...$$) replaced by '***', for an
 * echo line or a message (echo.c). */
void strata__put_redacted_sql(strata__sb *sb, const char *sql);
/* echo.c: after a statement of `sql` failed, the content of each of its
 * PASSWORD literals is taken out of db's message (the engine may quote
 * the text: an unclosed literal, a syntax error near it). */
void strata__db_hide_password_literals(strata_db *db, const char *sql);
/* The quoting rules of the two engines strata has, for reading SQL text
 * that may be for either. */
#define STRATA__PG_LEXER \
    (STRATA_LEX_NESTED_COMMENTS | STRATA_LEX_DOLLAR_QUOTES | STRATA_LEX_E_STRINGS)
#define STRATA__SQLITE_LEXER (STRATA_LEX_BACKTICKS | STRATA_LEX_BRACKETS)
/* Where the first statement of sql, read with the lexer's STRATA_LEX_*
 * `flags`, that begins or ends a transaction starts (BEGIN, START
 * TRANSACTION, COMMIT, END, ABORT, ROLLBACK other than ROLLBACK TO,
 * PREPARE TRANSACTION), or NULL.  The END of a trigger's body (CREATE
 * TRIGGER ... BEGIN ...; END) or of a BEGIN ATOMIC one is not one
 * (db.c). */
const char *strata__sql_transaction_statement(const char *sql, unsigned flags);
/* STRATA_E_MISUSE, said: SQL whose statement at `ends` (from the above)
 * would end the transaction strata began, refused before it runs. */
int strata__db_tx_statement_refused(strata_db *db, const char *ends);
/* "sql <the first 60 characters of it, redacted>", naming an SQL
 * operation in a message (operations.c). */
void strata__sql_describe(strata__sb *sb, const char *sql);

/* ---- the SQL lexer (sql_lexer.c) --------------------------------------- */

/* One lexical token of SQL text, by the quoting rules of a dialect's
 * STRATA_LEX_* flags.  The one lexer strata has: the placeholder rewriter
 * and the SQLite dialect's CREATE TABLE reader both read through it. */
typedef enum strata__token_kind {
    STRATA__TOK_SPACE,   /* white space */
    STRATA__TOK_COMMENT, /* -- to the line's end, or a block comment */
    STRATA__TOK_STRING,  /* '...', E'...' (E_STRINGS), $tag$...$tag$ (DOLLAR_QUOTES) */
    STRATA__TOK_QUOTED,  /* "...", `...` (BACKTICKS), [...] (BRACKETS): an identifier */
    STRATA__TOK_WORD,    /* a keyword, name or number */
    STRATA__TOK_OTHER    /* one other character: ( ) , ; ? ... */
} strata__token_kind;

typedef struct strata__token {
    strata__token_kind kind;
    size_t len;        /* bytes from the token's start */
    bool unterminated; /* a string, quoted name or comment the text ends in */
} strata__token;

/* The token starting at `p`, a position in `text` before its end (the
 * text before p decides E'...' and $tag$). */
void strata__sql_token_at(const char *text, const char *p, unsigned lexer_flags,
                          strata__token *out);

/* The name inside a STRATA__TOK_QUOTED token of `len` bytes at p, its
 * doubled quotes undone (a ] inside [...] is not doubled).  Caller frees;
 * NULL when out of memory. */
char *strata__sql_unquote(const char *p, size_t len);

typedef struct strata__sql_rewrite {
    char *sql;     /* rewritten text, caller frees */
    int nparams;   /* number of `?` placeholders */
    bool multiple; /* text goes on after a ; (the engine decides if it is one statement) */
    const char *numbered; /* with `$` placeholders: a $N of the text's own, or NULL */
} strata__sql_rewrite;

/* Rewrite `?` placeholders for `style`, honouring `lexer_flags`; `??`
 * becomes a literal `?`.  Returns STRATA_OK or STRATA_E_NOMEM. */
int strata__sql_rewrite_placeholders(strata__sql_rewrite *out, const char *sql,
                                     strata_placeholder_style style, unsigned lexer_flags);

/* ---- handles ----------------------------------------------------------- */

typedef struct strata_stmt_cache {
    strata_stmt **buckets;
    size_t nbuckets;
    size_t count;
    size_t capacity;
    strata_stmt *lru_head; /* most recently used idle statement */
    strata_stmt *lru_tail;
} strata_stmt_cache;

/* A session that committed inside a transaction the program began (not
 * its own): told how that transaction ends, to count its objects
 * committed or put them back (session.c). */
typedef struct strata__joined {
    struct strata__joined *next;
    uint64_t serial; /* the transaction joined */
    void (*ended)(struct strata__joined *j, bool committed);
} strata__joined;

struct strata_db {
    /* The thread inside a call on this handle (0: none), and how deeply
     * it is nested (only that thread touches `depth`).  See confine.c. */
    _Atomic uintptr_t owner;
    int depth;
    _Atomic bool refused; /* some thread was refused on it */
    uint64_t serial;      /* this handle among every one opened (confine.c) */
    /* The ORM's models resolved for this connection, shared by its
     * sessions (model.c), and how to free them with the handle. */
    void *orm_cache;
    void (*orm_cache_free)(void *cache);

    const strata_driver *driver;
    strata_conn *conn;
    char *url;    /* redacted */
    char **secrets; /* the URL's secrets, to scrub from messages */
    size_t nsecrets;

    int errcode;
    uint64_t nerrors; /* errors set on the handle so far: a call can tell it failed */
    char *errmsg;
    char sqlstate[6];
    int native;

    bool closed; /* strata_db_close() ran; waiting for live statements */
    bool broken; /* the connection was lost: only rollback and close work */
    bool tx_stuck; /* broken because a ROLLBACK could not run: strata_db_rollback tries again */
    bool in_tx;
    bool in_unit; /* a unit of strata_pool_run runs: its transaction is the pool's to end */
    bool tx_failed;         /* a statement failed in the transaction: only rollback works */
    bool raw_tx_failed;     /* the same in a transaction begun by raw SQL (db.c) */
    bool raw_tx_ended;      /* ...which the engine rolled back by itself (SQLite) */
    bool raw_tx_before;     /* a raw transaction was open when the last statement began */
    bool engine_ended_tx;   /* ...and the engine rolled it back by itself (SQLite) */
    bool tx_from_savepoint; /* the transaction was begun by the first savepoint */
    uint64_t tx_serial;     /* counts transactions begun: names the one open now */
    uint64_t tx_wrote;      /* the last transaction in which a statement changed rows */
    bool closing;           /* strata_db_close under way: sessions told read nothing */
    int sp_depth;
    int sessions; /* ORM sessions using the handle: savepoints go through them */
    strata__joined *joined; /* sessions waiting for the open transaction's end */

    int64_t changes;
    int64_t counters[4];

    strata_echo_fn echo;
    void *echo_ud;
    strata_notice_fn notice;
    void *notice_ud;
    int timeout_ms; /* strata_db_set_statement_timeout, 0: none */

    strata_stmt_cache cache;
    uint64_t stmt_gen;      /* bumped whenever a statement is destroyed */
    strata_stmt *live;      /* every statement handed out and not finalized */
    strata_stmt *streaming; /* a streamed execution in progress: nothing else may run */
};

enum strata__stmt_state { STMT_READY, STMT_ROWS, STMT_DONE };

struct strata_stmt {
    strata_db *db;
    char *sql; /* the caller's text: cache key */
    uint64_t hash;
    strata_backend_stmt *bst;
    int nparams;
    strata_value *params;
    char **owned;   /* per parameter: copy of text/blob, or NULL */
    char **scratch; /* per column: text made for a non-text value this row */
    int nscratch;
    enum strata__stmt_state state;
    int ncols; /* the result's columns in this execution, once asked (-1 before) */
    int64_t changes;
    bool cached; /* belongs to the cache (returns there on finalize) */
    bool stream; /* executions deliver rows one at a time */
    bool may_write; /* its first word is not one that only reads (strata__text_may_write) */
    bool ends_tx;   /* it begins or ends a transaction (strata__sql_transaction_statement) */
    struct strata__kept *kept; /* column names and types given out, kept until destroyed */
    const char **kept_at;      /* [2 * col + (0 name, 1 type)]: the last given */
    int nkept_at;
    bool in_use;
    strata_stmt *hnext; /* hash chain */
    strata_stmt *lru_prev, *lru_next;
    strata_stmt *live_prev, *live_next;
};

/* ---- thread confinement (confine.c) ------------------------------------ */

/* A strata_db, its statements and its sessions are used by one thread at
 * a time.  Each public call that touches them is a confined region:
 *
 *     STRATA__CONFINE(db, STRATA_E_MISUSE);
 *
 * at the top of the function enters the region (nested calls by the same
 * thread are fine) and leaves it on every return.  A second thread gets
 * the fail value at once: it touches nothing, not even the handle's
 * error, which belongs to the thread inside; strata_db_errcode() and
 * strata_db_errmsg() tell that thread what happened. */
typedef struct strata__confinement {
    strata_db *db;
    bool entered; /* leave on exit */
    bool refused; /* another thread is inside */
} strata__confinement;

/* Enter db's region (a NULL db enters nothing); never blocks.  Pair with
 * strata__confine_end, which the macros below arrange by `cleanup`. */
strata__confinement strata__confine(strata_db *db);
void strata__confine_end(strata__confinement *c);
/* The misuse of `db` this thread met last, or NULL; cleared when this
 * thread next enters db. */
const char *strata__confine_refusal(const strata_db *db);
/* Number a new handle, so that a refusal kept for one closed since is not
 * taken for another at the same address. */
void strata__confine_init(strata_db *db);

#define STRATA__CONFINE_VOID(db)                                                      \
    strata__confinement strata__conf_ __attribute__((cleanup(strata__confine_end))) = \
        strata__confine(db);                                                          \
    if (strata__conf_.refused)                                                        \
    return
#define STRATA__CONFINE(db, fail)                                                     \
    strata__confinement strata__conf_ __attribute__((cleanup(strata__confine_end))) = \
        strata__confine(db);                                                          \
    if (strata__conf_.refused)                                                        \
    return (fail)

/* error.c.  Every failing call leaves its code and one-line message on
 * the handle it failed on and returns the code; a call that succeeds
 * clears the handle's error first (strata__db_usable does).  Messages are
 * scrubbed of the URL's secrets as they are set; when the message itself
 * cannot be allocated the code stays and strata_db_errmsg() gives the
 * code's generic text. */
void strata__db_clear_error(strata_db *db);
/* Set `code` and the formatted message (no SQLSTATE); returns code.  A
 * lost connection's codes (CONNECTION_LOST, COMMIT_UNKNOWN) also mark
 * the handle broken. */
int strata__db_error(strata_db *db, int code, const char *fmt, ...) STRATA_PRINTF(3, 4);
/* The code of the error set on the handle since `mark` (its nerrors
 * then) and still there, or else `code`, set now with the code's own
 * words: a failure that left no error of its own (an allocation's NULL)
 * is never reported with an earlier call's code or message. */
int strata__db_error_since(strata_db *db, uint64_t mark, int code);
/* STRATA_E_MISUSE for a commit inside a unit of strata_pool_run, said. */
int strata__db_unit_commit_refused(strata_db *db);
/* The same for a rollback inside a unit (strata_db_rollback,
 * strata_session_rollback). */
int strata__db_unit_rollback_refused(strata_db *db);
/* A call failed with `code` (STRATA_E_NOMEM, say): the message set since
 * `mark` stays when it is of that code, else "<what>: <code's words>" is
 * set.  Returns code. */
int strata__db_said_since(strata_db *db, uint64_t mark, int code, const char *what);
/* Set an error on db that was met elsewhere (another handle, or an earlier
 * call whose error was kept): its words and codes, without the state an
 * error of db's own would change (a lost connection breaking db). */
int strata__db_error_words(strata_db *db, int code, const char *sqlstate, int native,
                           const char *fmt, ...) STRATA_PRINTF(5, 6);
/* Put "<context>: " in front of the handle's current message, keeping its
 * code, SQLSTATE and native code; returns the code. */
int strata__db_error_context(strata_db *db, const char *fmt, ...) STRATA_PRINTF(2, 3);
/* A handle's error (code, SQLSTATE, native code, message), kept across
 * the clean-up statements that would clear or replace it (a rollback, a
 * savepoint's, a setting put back). */
typedef struct strata__kept_error {
    int code, native;
    char sqlstate[6];
    char *msg;
} strata__kept_error;
void strata__error_keep(strata__kept_error *e, strata_db *db);
/* Set the kept error on db again (nothing when there was none), with
 * "<context>: " before its message when context is not NULL, and let go
 * of the copy; returns its code (through strata__db_error_words: the
 * handle's broken state stays as the clean-up left it). */
int strata__error_put_back(strata__kept_error *e, strata_db *db, const char *context);

/* The echo setting a new handle gets (STRATA_ECHO). */
void strata__db_reset_echo(strata_db *db);

/* pool.c: record the calling thread's failure on `pool`; returns `code`. */
int strata__pool_fail(const strata_pool *pool, int code, const char *fmt, ...) STRATA_PRINTF(3, 4);
/* A retry of strata_pool_run: counted in the pool's statistics, then a
 * wait of `ms` that the pool's close cuts short.  False when the pool is
 * closing (no retry then).  Any thread. */
bool strata__pool_back_off(strata_pool *pool, int ms);
/* A unit of strata_pool_run begins (false: the pool is closing) and ends:
 * strata_pool_close waits for those running. */
bool strata__pool_run_enter(strata_pool *pool);
void strata__pool_run_leave(strata_pool *pool);

/* echo.c: hand one line to db's echo callback when it has one, the URL's
 * secrets and the literal after a PASSWORD keyword shown as ***.  An
 * allocation failure drops the line (the echo is best effort; the
 * statement runs all the same). */
void strata__echo_stmt(strata_db *db, const char *sql, const strata_value *params, int n);
void strata__echo_line(strata_db *db, const char *fmt, ...) STRATA_PRINTF(2, 3);

/* db.c */
/* Start of every call that runs something on db: STRATA_OK (and the
 * handle's error cleared) when the handle is open, not broken and not
 * busy streaming; otherwise the error set on the handle (MISUSE for a
 * closed handle or a stream in progress, CONNECTION_LOST once broken). */
int strata__db_usable(strata_db *db);
/* strata__db_usable_by's checks and errors (db.c). */
int strata__db_usable_checked(strata_db *db, const strata_stmt *st);
/* As strata__db_usable, allowing `st` to be the streaming statement.  The
 * common case (each row of a result: open, not lost, nothing else
 * streaming, no error to clear) is decided here, without a call. */
static inline int strata__db_usable_by(strata_db *db, const strata_stmt *st)
{
    if (db && db->conn && !db->closed && !db->broken && (!db->streaming || db->streaming == st) &&
        db->errcode == STRATA_OK && !db->errmsg && !db->sqlstate[0] && !db->native)
        return STRATA_OK;
    return strata__db_usable_checked(db, st);
}
/* STRATA_OK, or STRATA_E_TX_ABORTED (set on the handle) while a failed
 * statement has left the open transaction good only for a rollback. */
int strata__db_check_tx(strata_db *db);
/* The number of the transaction open on db, or 0 when none is: values
 * read in transaction n are current only while strata__db_tx_serial() is
 * n.  This function can't fail. */
uint64_t strata__db_tx_serial(const strata_db *db);
/* Whether a statement has changed rows in the transaction open now (or
 * may have: strata_db_exec text not made only of reads).  Values read after that
 * may be the transaction's own, which a rollback takes back.  Can't fail. */
static inline bool strata__db_tx_wrote(const strata_db *db)
{
    return db->in_tx && db->tx_wrote == db->tx_serial;
}
/* Whether a statement of `sql` may change rows, by each statement's first
 * word (db.c).  Can't fail. */
bool strata__text_may_write(const strata_db *db, const char *sql);
/* Note that the statement just run changed rows, when a transaction is open. */
static inline void strata__db_note_write(strata_db *db)
{
    if (db->in_tx)
        db->tx_wrote = db->tx_serial;
}
/* j (its serial set) is told when the transaction open now ends; once,
 * however often joined.  Unjoined, it is not told. */
void strata__db_join(strata_db *db, strata__joined *j);
void strata__db_unjoin(strata_db *db, strata__joined *j);
/* Whether j waits for the end of the transaction open now. */
bool strata__db_joined(const strata_db *db, const strata__joined *j);
/* Call after any statement failed on db (its error already set): marks
 * the open transaction failed, and notes when the engine rolled it back
 * by itself.  Keeps the handle's error. */
void strata__db_note_failure(strata_db *db);
/* Begin a transaction with the engine's own statement for it. */
int strata__db_begin_sql(strata_db *db, const char *sql);
/* strata_db_savepoint and its release (keep) or rollback, without the
 * refusal under a session: for the session's own savepoints. */
int strata__db_savepoint(strata_db *db);
/* The same, for a savepoint the caller's next statement follows at once
 * (a flush's): where the driver can, the SAVEPOINT goes
 * in that statement's round trip, and its failure is that statement's. */
int strata__db_savepoint_with_next(strata_db *db);
int strata__db_savepoint_end(strata_db *db, bool keep);
/* Keep the innermost savepoint's work when the transaction commits next,
 * with nothing in between: no RELEASE is sent (the COMMIT releases it),
 * one round trip fewer. */
int strata__db_savepoint_keep_to_commit(strata_db *db);
/* After `code` failed inside the innermost savepoint: roll back to it,
 * keeping the failure's message on the handle; returns `code` (or the
 * handle's error code when `code` is STRATA_OK). */
int strata__db_savepoint_undo(strata_db *db, int code);
/* Give up the innermost savepoint, whose release failed after the caller
 * brought objects in line with what it holds: it is no longer counted,
 * and the transaction is failed, for a rollback of it or to a savepoint
 * made before (which takes this one with it). */
void strata__db_savepoint_abandon(strata_db *db);
/* Roll the open transaction back, keeping the handle's error. */
void strata__db_abort_tx(strata_db *db);
/* Free a closed handle once its last live statement is finalized (a
 * statement outliving strata_db_close keeps the handle's memory). */
void strata__db_release_zombie(strata_db *db);

/* Put `ident`, quoted for `driver` when it needs quoting, into sb. */
void strata__sb_ident(strata__sb *sb, const strata_driver *driver, const char *ident);
/* `text` as an SQL string literal, its quotes doubled (both engines read
 * it so: PostgreSQL's standard_conforming_strings is on since 9.1). */
void strata__sb_literal(strata__sb *sb, const char *text);

/* stmt.c: column `col` of st's current row, text and blob bytes copied
 * into new memory (NUL-terminated) that out->u.buf.ptr owns: the caller
 * frees it.  On failure out is NULL-typed and owns nothing; the getter's
 * error, or STRATA_E_NOMEM (no message set). */
int strata__stmt_column_copy(strata_stmt *st, int col, strata_value *out);
/* Where a statement the library builds the same way every time was last
 * found in the cache, so the next prepare of it skips the lookup. */
typedef struct strata__stmt_hint {
    strata_stmt *st;
    uint64_t gen; /* the handle's stmt_gen then: st is alive while it holds */
} strata__stmt_hint;
/* strata_stmt_prepare(), taking the cached statement the hint names when
 * it is still there and idle (no hashing of the text), and updating the
 * hint otherwise. */
int strata__stmt_prepare_hinted(strata_stmt **out, strata_db *db, const char *sql,
                                strata__stmt_hint *hint);
/* Bind text (checked as strata_stmt_bind_text checks it) or a blob
 * without copying: the bytes must stay as they are until the statement is
 * reset or the parameter bound again.  For the ORM's flush, which binds
 * the fields of objects the program cannot touch meanwhile. */
int strata__stmt_bind_text_ref(strata_stmt *st, int index, const char *text, size_t len);
int strata__stmt_bind_blob_ref(strata_stmt *st, int index, const void *data, size_t len);
/* strata_stmt_bind_int64() and strata_stmt_finalize() without the thread
 * check, for the ORM's calls that made it; the handle is not closed
 * meanwhile (the caller holds it), so no zombie is left to free. */
int strata__stmt_bind_int64(strata_stmt *st, int index, int64_t value);
void strata__stmt_release(strata_stmt *st);
/* strata_stmt_step() without the thread check, for the ORM's loops,
 * whose public callers made it (once per call, not once per row). */
int strata__stmt_step(strata_stmt *st);
/* The current row's value of column col as the driver gives it (text and
 * blob bytes borrowed until the next step), without the thread check of
 * the public getters: for the ORM, whose callers made it. */
int strata__stmt_value(strata_stmt *st, int col, strata_value *out);
/* Columns col0 to col0 + n - 1 of the current row as cells for fields of
 * the C types want[0 .. n - 1] (strata_cell, <strata/sys/driver.h>).  The
 * common case (a row, columns known to exist, a driver with row_cells)
 * calls the driver here, without a call into stmt.c: the ORM asks once a
 * row. */
int strata__stmt_cells_checked(strata_stmt *st, int col0, int n, const unsigned char *want,
                               strata_cell *out);
static inline int strata__stmt_cells(strata_stmt *st, int col0, int n, const unsigned char *want,
                                     strata_cell *out)
{
    if (n > 0 && st && st->bst && st->state == STMT_ROWS && col0 >= 0 && n <= st->ncols - col0) {
        const strata_driver *d = st->bst->conn->driver;
        if (d->version >= 8 && d->row_cells)
            return d->row_cells(st->bst, col0, n, want, out);
    }
    return strata__stmt_cells_checked(st, col0, n, want, out);
}

/* stmt.c: finalize every idle cached statement; statements still handed
 * out leave the cache and are destroyed at their own finalize.  Can't
 * fail. */
void strata__cache_clear(strata_db *db);

/* ---- dispatch (dispatch.c): the only calls through a vtable ------------ */

/* The strata__drv_* calls are the driver slots of <strata/sys/driver.h>
 * with the same contracts, plus what the core adds around them: a slot
 * the driver left NULL takes its documented fallback (begin/commit/
 * rollback as SQL through exec, no streaming, executions one by one), and
 * errors are the ones the driver reported on the handle. */

/* The built-in or registered driver for `scheme` (a name or an alias, any
 * case); NULL when none.  Any thread. */
const strata_driver *strata__driver_lookup(const char *scheme);
/* Names of the built-in schemes, for messages: "sqlite, postgresql (alias postgres)". */
const char *strata__driver_schemes(void);

int strata__drv_open(strata_db *db, const strata_url *url);
void strata__drv_close(strata_db *db);
int strata__drv_exec(strata_db *db, const char *sql);
int strata__drv_exec_with_next(strata_db *db, const char *sql);
int strata__drv_begin(strata_db *db);
/* Begin in a strata_tx_mode: the driver's begin_mode, else begin. */
int strata__drv_begin_mode(strata_db *db, int mode);
int strata__drv_commit(strata_db *db);
/* Whether the engine has a transaction open: 1, 0, or -1 (cannot tell). */
int strata__drv_in_transaction(strata_db *db);
/* A statement lost (rc STRATA_E_CONNECTION_LOST) that may write and ran
 * outside any transaction (`in_a_tx` false), with the engine unable to
 * say that none is open: it committed itself, or not, as a COMMIT lost
 * may have; STRATA_E_COMMIT_UNKNOWN, reported.  Else rc. */
int strata__db_lost_own_commit(strata_db *db, int rc, bool in_a_tx, bool may_write);
/* The STRATA_LEX_* flags the connection reads SQL with now. */
unsigned strata__drv_lexer_flags(const strata_db *db);
/* The driver's cancel (from any thread) and statement timeout. */
int strata__drv_cancel(strata_db *db);
int strata__drv_set_timeout(strata_db *db, int ms);
int strata__drv_rollback(strata_db *db);
int strata__drv_prepare(strata_db *db, strata_backend_stmt **out, const char *sql, int nparams);
/* Stepping, resetting and counting columns are every execution's calls:
 * straight to the driver, inline. */
static inline int strata__drv_step(strata_backend_stmt *bst)
{
    return bst->conn->driver->step(bst);
}
static inline int strata__drv_reset(strata_backend_stmt *bst)
{
    return bst->conn->driver->reset(bst);
}
static inline int strata__drv_column_count(strata_backend_stmt *bst)
{
    return bst->conn->driver->column_count(bst);
}
void strata__drv_finalize(strata_backend_stmt *bst);
int64_t strata__drv_changes(strata_backend_stmt *bst);
int strata__drv_set_streaming(strata_backend_stmt *bst, int on);
bool strata__drv_can_execute_many(strata_backend_stmt *bst);
int strata__drv_execute_many(strata_backend_stmt *bst, size_t n, int (*bind)(void *, size_t),
                             int (*row)(void *, size_t), void *ctx);
const char *strata__drv_column_name(strata_backend_stmt *bst, int col);
const char *strata__drv_column_decltype(strata_backend_stmt *bst, int col);
int strata__drv_column_value(strata_backend_stmt *bst, int col, strata_value *out);
int strata__drv_row_values(strata_backend_stmt *bst, int col0, int n, strata_value *out);
/* The driver's row_cells, or the cells made from row_values by
 * strata__value_to_cell where the driver has no such slot. */
int strata__drv_row_cells(strata_backend_stmt *bst, int col0, int n, const unsigned char *want,
                          strata_cell *out);
/* The cell a field of C type `want` takes from the value v: the value, NULL,
 * or STRATA_CELL_OTHER where a conversion is needed.  The one mapping from
 * a strata_value to a field's form; row_cells slots agree with it. */
void strata__value_to_cell(int want, const strata_value *v, strata_cell *out);
int strata__drv_is_reserved(const strata_driver *drv, const char *word);
/* Does every connection to `url` get a database of its own? */
bool strata__drv_url_is_private(const strata_driver *drv, const strata_url *url);
/* The driver's identifier quotes (open, close), or standard SQL's "". */
const char *strata__drv_identifier_quote(const strata_driver *drv);
/* Is `key` a URL query parameter of `drv`?  From the url_param_known slot
 * where the driver has one, else from its url_params list (none: yes). */
bool strata__drv_url_param_known(const strata_driver *drv, const char *key);

#endif
