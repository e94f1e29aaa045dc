/*
 * backends/sqlite.c - the SQLite driver.
 *
 * Connections are opened so they behave like PostgreSQL's: foreign keys
 * enforced, a busy timeout instead of an immediate SQLITE_BUSY, WAL for
 * files opened read-write, and case-sensitive LIKE.  Values are decoded by
 * storage class refined by the declared type (BOOLEAN -> bool, DATETIME /
 * TIMESTAMP text -> timestamp) so the portable types come back as they went
 * in.  Errors are classified from extended result codes, and for the
 * generic SQLITE_ERROR from the message, into the portable codes with the
 * SQLSTATE PostgreSQL would give.
 *
 * Layout: error mapping, open/close/exec, statements, value decoding, the
 * vtable.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "strata/sys/driver.h"

#define DEFAULT_BUSY_TIMEOUT_MS 5000

typedef struct sqlite_conn {
    strata_conn base;
    sqlite3 *h;
    int timeout_ms;      /* strata_db_set_statement_timeout; 0: none */
    int64_t deadline_ns; /* when the running statement must stop */
    bool timed_out;      /* the progress handler stopped it (not a cancel) */
    int busy_ms;         /* how long a statement waits for a lock (busy_timeout=) */
    int64_t busy_from_ns; /* when the wait for the lock under way began */
    bool busy_stopped;   /* the wait was given up for the timeout or a cancel */
    int cancel;          /* strata_db_cancel asked, from any thread (atomic) */
    bool read_only_tx;   /* in a read-only transaction: statements that write are refused */
} sqlite_conn;

/* What a column's declared type makes of its values. */
/* A declared NUMERIC/DECIMAL is DECL_NUMERIC without a scale, or
 * DECL_NUMERIC + 1 + s with scale s (0 to 200). */
enum decl_class { DECL_UNKNOWN = 0, DECL_PLAIN, DECL_BOOL, DECL_TIMESTAMP, DECL_NUMERIC };
#define NUMERIC_TEXT 400 /* a number's text, per column */

typedef struct sqlite_stmt {
    strata_backend_stmt base;
    sqlite3_stmt *h; /* NULL for text with no statement (only comments) */
    bool running;    /* parameters bound, stepping */
    bool commits;    /* a COMMIT, END or RELEASE (may_commit) */
    int64_t changes;
    unsigned char *decl; /* per column enum decl_class, computed once per preparation */
    unsigned char *how;  /* per column sq_row_cells's way with it; in decl's block */
    char (*num)[NUMERIC_TEXT]; /* per column: a numeric value as text, this row */
    int reprepared;            /* SQLite's count of preparing the text again, when they were made */
} sqlite_stmt;

/* ---- errors ------------------------------------------------------------------ */

static int classify(const char *sqlstate, int ext, const char *msg)
{
    (void)sqlstate;
    switch (ext) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY: return STRATA_E_UNIQUE;
    case SQLITE_CONSTRAINT_FOREIGNKEY: return STRATA_E_FOREIGN_KEY;
    case SQLITE_CONSTRAINT_NOTNULL: return STRATA_E_NOT_NULL;
    case SQLITE_CONSTRAINT_CHECK: return STRATA_E_CHECK;
    case SQLITE_BUSY_SNAPSHOT: return STRATA_E_SERIALIZATION;
    }
    switch (ext & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return STRATA_E_BUSY;
    case SQLITE_NOMEM: return STRATA_E_NOMEM;
    case SQLITE_FULL: return STRATA_E_DISK_FULL;
    case SQLITE_READONLY: return STRATA_E_READONLY;
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB: return STRATA_E_CONNECT;
    case SQLITE_TOOBIG: return STRATA_E_TOO_LONG;
    case SQLITE_MISMATCH: return STRATA_E_DATA;
    case SQLITE_RANGE: return STRATA_E_RANGE;
    case SQLITE_MISUSE: return STRATA_E_MISUSE;
    case SQLITE_PERM:
    case SQLITE_AUTH: return STRATA_E_PERMISSION;
    case SQLITE_INTERRUPT: return STRATA_E_TIMEOUT;
    case SQLITE_CONSTRAINT: return STRATA_E_CHECK;
    case SQLITE_ERROR: break;
    default: return STRATA_E_ERROR;
    }
    if (!msg)
        return STRATA_E_ERROR;
    if (strstr(msg, "no such table") || strstr(msg, "no such view"))
        return STRATA_E_UNDEFINED_TABLE;
    if (strstr(msg, "no such column") || strstr(msg, "has no column named"))
        return STRATA_E_UNDEFINED_COLUMN;
    if (strstr(msg, "syntax error") || strstr(msg, "incomplete input") ||
        strstr(msg, "unrecognized token"))
        return STRATA_E_SYNTAX;
    if (strstr(msg, "already exists"))
        return STRATA_E_EXISTS;
    if (!strcmp(msg, "integer overflow")) /* sum() past 64 bits: PostgreSQL's "out of range" */
        return STRATA_E_RANGE;
    return STRATA_E_ERROR;
}

/* The SQLSTATE PostgreSQL would report for the same class of error. */
static const char *sqlstate_for(int code)
{
    switch (code) {
    case STRATA_E_UNIQUE: return "23505";
    case STRATA_E_FOREIGN_KEY: return "23503";
    case STRATA_E_NOT_NULL: return "23502";
    case STRATA_E_CHECK: return "23514";
    case STRATA_E_TOO_LONG: return "22001";
    case STRATA_E_BUSY: return "55P03";
    case STRATA_E_SERIALIZATION: return "40001";
    case STRATA_E_NOMEM: return "53200";
    case STRATA_E_DISK_FULL: return "53100";
    case STRATA_E_READONLY: return "25006";
    case STRATA_E_CONNECT: return "08001";
    case STRATA_E_DATA: return "22000";
    case STRATA_E_RANGE: return "22003";
    case STRATA_E_PERMISSION: return "42501";
    case STRATA_E_TIMEOUT: return "57014";
    case STRATA_E_SYNTAX: return "42601";
    case STRATA_E_UNDEFINED_TABLE: return "42P01";
    case STRATA_E_UNDEFINED_COLUMN: return "42703";
    case STRATA_E_EXISTS: return "42P07";
    }
    return "HY000";
}

static int report(sqlite_conn *c)
{
    int sys_errno = errno; /* the failed call's, before anything here may change it */
    int ext = sqlite3_extended_errcode(c->h);
    const char *msg = sqlite3_errmsg(c->h);
    if (((ext & 0xff) == SQLITE_BUSY || (ext & 0xff) == SQLITE_LOCKED) && c->busy_stopped)
        ext = SQLITE_INTERRUPT; /* a wait for a lock, stopped as a statement is */
    if ((ext & 0xff) == SQLITE_INTERRUPT) /* PostgreSQL's words, on both engines */
        msg = c->timed_out ? "canceling statement due to statement timeout"
                           : "canceling statement due to user request";
    if (ext == SQLITE_READONLY_ROLLBACK) /* SQLite's words say nothing of the journal */
        msg = "the file has a hot journal (a write transaction cut off by a crash), which "
              "only a connection that may write rolls it back: open the file once read-write "
              "(any connection without mode=ro, or the sqlite3 shell), then try again";
    /* A failure of the file itself (full, unreadable, read-only, not a
     * database, damaged) names it: a program may have several open.  An
     * I/O error the system gave as a full disk (WAL's -shm growing, a
     * journal's truncation at COMMIT) is the full disk.  SQLite keeps the
     * system's code for some of its I/O errors and not for others (not
     * for a COMMIT's), so the thread's errno, as the failed call left it,
     * stands in where it kept none. */
    int code = 0; /* the core classifies through the classify_error slot */
    int primary = ext & 0xff;
    int sys = sqlite3_system_errno(c->h);
    if (primary == SQLITE_IOERR && (sys ? sys : sys_errno) == ENOSPC)
        code = STRATA_E_DISK_FULL;
    bool of_file = primary == SQLITE_FULL || primary == SQLITE_IOERR ||
                   primary == SQLITE_CANTOPEN || primary == SQLITE_NOTADB ||
                   primary == SQLITE_READONLY || primary == SQLITE_CORRUPT;
    const char *file = of_file ? sqlite3_db_filename(c->h, "main") : NULL;
    bool named = file && *file;
    return strata_driver_error(
        c->base.db, code, sqlstate_for(code ? code : classify(NULL, ext, msg)), ext, "%s%s%s%s%s",
        msg, code ? ": no space left on the device" : "", named ? " (database file " : "",
        named ? file : "", named ? ")" : "");
}

/* ---- open / close / exec --------------------------------------------------------- */

static int bad_param(strata_db *db, const strata_url *url, const char *name, const char *value,
                     const char *expected)
{
    return strata_driver_error(db, STRATA_E_URL, NULL, 0,
                               "invalid database URL \"%s\": parameter %s=%s, expected %s",
                               strata_url_redacted(url), name, value, expected);
}

static bool parse_ms(const char *s, double scale, int *out)
{
    /* Decimal digits with at most one point: not strtod's " 12", "0x10",
     * "inf" or "nan" (which would make every wait end at once). */
    size_t digits = strspn(s, "0123456789");
    if (!digits ||
        (s[digits] && (s[digits] != '.' || s[digits + 1 + strspn(s + digits + 1, "0123456789")])))
        return false;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0) || v * scale > 2147483647.0)
        return false;
    *out = (int)(v * scale);
    return true;
}

static bool one_of(const char *v, const char *const *choices)
{
    for (; *choices; choices++)
        if (strcasecmp(v, *choices) == 0)
            return true;
    return false;
}

static int sq_exec(strata_conn *conn, const char *sql);

static int64_t monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Called by SQLite every few thousand instructions of a statement. */
static int past_deadline(void *arg)
{
    sqlite_conn *c = arg;
    if (c->timeout_ms && monotonic_ns() > c->deadline_ns) {
        c->timed_out = true;
        return 1;
    }
    return 0;
}

/* A statement starts running: its time starts now, and a cancel asked
 * before it does not stop it (as sqlite3_interrupt with no statement
 * running does nothing). */
static void start_clock(sqlite_conn *c)
{
    /* A read-only transaction's refusal of writes goes with it, however
     * it ended (a COMMIT, a ROLLBACK, the engine's own end). */
    if (c->read_only_tx && sqlite3_get_autocommit(c->h))
        c->read_only_tx = false;
    c->timed_out = c->busy_stopped = false;
    __atomic_store_n(&c->cancel, 0, __ATOMIC_RELAXED);
    if (c->timeout_ms)
        c->deadline_ns = monotonic_ns() + (int64_t)c->timeout_ms * 1000000;
}

static int busy_wait(void *arg, int count);

/* SQLite calls no busy handler for a lock between the connections of one
 * shared cache (cache=shared): SQLITE_LOCKED_SHAREDCACHE comes at once.
 * True when the last failure is that, after a wait as busy_wait's within
 * the busy timeout: the caller tries again what changed nothing. */
static bool shared_lock_wait(sqlite_conn *c, int *count)
{
    return sqlite3_extended_errcode(c->h) == SQLITE_LOCKED_SHAREDCACHE && busy_wait(c, (*count)++);
}

/* One statement: no ';' but at its end.  (A ';' inside a literal counts
 * as two: the safe mistake where it decides whether to run it again.) */
static bool one_statement(const char *sql)
{
    const char *semi = strchr(sql, ';');
    return !semi || !*strata_driver_sql_skip_space(semi + 1);
}

/* SQLite's busy handler: another connection holds the lock a statement
 * needs.  Wait for it up to busy_ms in short sleeps, as SQLite's own
 * handler does, but give up when the statement's time is out or the
 * statement was cancelled, which SQLite's own handler does not look at
 * (its progress handler and sqlite3_interrupt act only between the
 * statement's instructions, never during the wait). */
static int busy_wait(void *arg, int count)
{
    static const int delays_ms[] = {1, 2, 5, 10, 10, 10};
    sqlite_conn *c = arg;
    int64_t now = monotonic_ns();
    if (count == 0)
        c->busy_from_ns = now;
    if (__atomic_load_n(&c->cancel, __ATOMIC_RELAXED)) {
        c->busy_stopped = true;
        return 0;
    }
    if (c->timeout_ms && now >= c->deadline_ns) {
        c->busy_stopped = c->timed_out = true;
        return 0;
    }
    int64_t left = (int64_t)c->busy_ms * 1000000 - (now - c->busy_from_ns);
    if (left <= 0)
        return 0; /* SQLITE_BUSY: the busy timeout */
    int64_t ns = (int64_t)delays_ms[count < 6 ? count : 5] * 1000000; /* short: a cancel is seen */
    if (ns > left)
        ns = left;
    if (c->timeout_ms && ns > c->deadline_ns - now)
        ns = c->deadline_ns - now;
    struct timespec t = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&t, NULL);
    return 1;
}

/* A pragma at open, tried again while another connection holds a lock it
 * needs, up to the busy timeout: SQLite calls no busy handler for the
 * switch of journal_mode, which fails at once while a new file is being
 * set up by another connection, or a transaction is open on it. */
static int open_pragma(sqlite_conn *c, const char *sql)
{
    int64_t until = monotonic_ns() + (int64_t)c->busy_ms * 1000000;
    for (int n = 0;; n++) {
        int rc = sqlite3_exec(c->h, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return STRATA_OK;
        if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) ||
            monotonic_ns() >= until)
            return report(c);
        struct timespec t = {0, (n < 5 ? 1 + 2 * n : 10) * 1000000L};
        nanosleep(&t, NULL);
    }
}

static int sq_set_timeout(strata_conn *conn, int ms)
{
    sqlite_conn *c = (sqlite_conn *)conn;
    c->timeout_ms = ms;
    sqlite3_progress_handler(c->h, ms ? 1000 : 0, ms ? past_deadline : NULL, c);
    return STRATA_OK;
}

static int sq_in_transaction(strata_conn *conn)
{
    return !sqlite3_get_autocommit(((sqlite_conn *)conn)->h);
}

static int sq_cancel(strata_conn *conn)
{
    sqlite_conn *c = (sqlite_conn *)conn;
    __atomic_store_n(&c->cancel, 1, __ATOMIC_RELAXED); /* for busy_wait */
    sqlite3_interrupt(c->h); /* safe from any thread */
    return STRATA_OK;
}

/* A database file moved, replaced or deleted since the connection opened
 * it (SQLite's SQLITE_FCNTL_HAS_MOVED: one stat() of its path, none for a
 * database in memory): what the connection wrote would go to the old
 * file, lost to every later open of the path, while each COMMIT said it
 * succeeded.  The connection is lost to strata then (a pool replaces it,
 * and a unit of work runs again on a connection to the file the path
 * names now). */
static int refuse_moved(sqlite_conn *c)
{
    int moved = 0;
    if (sqlite3_file_control(c->h, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK || !moved)
        return STRATA_OK;
    /* A transaction under way (its COMMIT or RELEASE refused) is rolled
     * back: known not to be committed. */
    if (!sqlite3_get_autocommit(c->h))
        sqlite3_exec(c->h, "ROLLBACK", NULL, NULL, NULL);
    return strata_driver_error(c->base.db, STRATA_E_CONNECTION_LOST, "08006", 0,
                               "the database file %s was moved, replaced or deleted while this "
                               "connection had it open: what it wrote would be lost with the "
                               "old file (open the database again)",
                               sqlite3_db_filename(c->h, "main"));
}

/* Whether sql may end the transaction: a COMMIT or END, or a RELEASE
 * (of a savepoint begun outside a transaction, it commits). */
static bool may_commit(const char *sql)
{
    const char *p = strata_driver_sql_skip_space(sql);
    return strata_driver_sql_is_commit(sql) ||
           (!strncasecmp(p, "release", 7) && !isalnum((unsigned char)p[7]) && p[7] != '_');
}

/* A transaction that will write takes the write lock at BEGIN, where the
 * busy handler waits for it; a deferred one that reads first and writes
 * later gets SQLITE_BUSY at once when another connection wrote meanwhile
 * (SQLite cannot wait there without risking a deadlock). */
static int sq_begin_mode(strata_conn *conn, int mode)
{
    sqlite_conn *c = (sqlite_conn *)conn;
    int rc = sq_exec(conn, mode == STRATA_TX_WRITE ? "BEGIN IMMEDIATE" : "BEGIN");
    if (rc != STRATA_OK || (mode != STRATA_TX_READ_ONLY && mode != STRATA_TX_SNAPSHOT))
        return rc;
    /* Only reads, as PostgreSQL's READ ONLY: a statement that writes is
     * refused before it runs (sqlite3_stmt_readonly; PRAGMA query_only
     * would expire every prepared statement at each switch). */
    c->read_only_tx = true;
    return STRATA_OK;
}

static int refuse_write(sqlite_conn *c)
{
    return strata_driver_error(c->base.db, STRATA_E_READONLY, "25006", SQLITE_READONLY,
                               "cannot run a statement that writes in a read-only transaction");
}

/* sq_exec's text in a read-only transaction: each statement checked
 * before it runs. */
static int exec_reading(sqlite_conn *c, const char *sql)
{
    while (sql && *sql) {
        sqlite3_stmt *h = NULL;
        const char *tail = NULL;
        if (sqlite3_prepare_v2(c->h, sql, -1, &h, &tail) != SQLITE_OK)
            return report(c);
        if (h && !sqlite3_stmt_readonly(h)) {
            sqlite3_finalize(h);
            return refuse_write(c);
        }
        int rc = SQLITE_DONE;
        while (h && (rc = sqlite3_step(h)) == SQLITE_ROW)
            ;
        sqlite3_finalize(h);
        if (rc != SQLITE_DONE)
            return report(c);
        sql = tail;
    }
    return STRATA_OK;
}

/* An in-memory database is private to the connection that opened it. */
static int sq_url_is_private(const strata_url *url)
{
    /* An in-memory database is the connection's own: mode=memory opens
     * one as :memory: does, whatever the cache. */
    const char *path = strata_url_database(url);
    const char *mode = strata_url_param(url, "mode");
    return (path && strcmp(path, ":memory:") == 0) || (mode && strcasecmp(mode, "memory") == 0);
}

static int sq_open(strata_conn **out, strata_db *db, const strata_url *url)
{
    /* Not "off": without a journal SQLite's ROLLBACK is undefined (a
     * rolled-back change to rows already on disk leaves the file
     * malformed), and strata rolls back every unit of work that fails. */
    static const char *const journal_modes[] = {"delete", "truncate", "persist",
                                                "memory", "wal",      NULL};
    static const char *const sync_modes[] = {"off", "normal", "full", "extra", NULL};
    const char *path = strata_url_database(url);
    const char *mode = strata_url_param(url, "mode");
    const char *journal = strata_url_param(url, "journal_mode");
    const char *sync = strata_url_param(url, "synchronous");
    const char *cache = strata_url_param(url, "cache");
    const char *v;
    int busy_ms = DEFAULT_BUSY_TIMEOUT_MS;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    bool memory = strcmp(path, ":memory:") == 0;

    *out = NULL;
    if (mode) {
        if (!strcmp(mode, "ro"))
            flags = SQLITE_OPEN_READONLY;
        else if (!strcmp(mode, "rw"))
            flags = SQLITE_OPEN_READWRITE;
        else if (!strcmp(mode, "rwc"))
            ;
        else if (!strcmp(mode, "memory"))
            memory = true;
        else
            return bad_param(db, url, "mode", mode, "ro, rw, rwc or memory");
        flags |= SQLITE_OPEN_NOMUTEX;
    }
    if ((v = strata_url_param(url, "busy_timeout")) && !parse_ms(v, 1, &busy_ms))
        return bad_param(db, url, "busy_timeout", v, "milliseconds (a number >= 0)");
    if ((v = strata_url_param(url, "timeout")) && !parse_ms(v, 1000, &busy_ms))
        return bad_param(db, url, "timeout", v, "seconds (a number >= 0)");
    if (journal && !strcasecmp(journal, "off"))
        return bad_param(db, url, "journal_mode", journal,
                         "a journal: without one SQLite cannot roll back, and a failed unit "
                         "of work would leave the file malformed (delete, truncate, persist, "
                         "memory or wal)");
    if (journal && !one_of(journal, journal_modes))
        return bad_param(db, url, "journal_mode", journal,
                         "delete, truncate, persist, memory or wal");
    if (sync && !one_of(sync, sync_modes))
        return bad_param(db, url, "synchronous", sync, "off, normal, full or extra");
    if (cache) {
        if (!strcmp(cache, "shared"))
            flags |= SQLITE_OPEN_SHAREDCACHE;
        else if (!strcmp(cache, "private"))
            flags |= SQLITE_OPEN_PRIVATECACHE;
        else
            return bad_param(db, url, "cache", cache, "shared or private");
    }

    sqlite_conn *c = calloc(1, sizeof *c);
    if (!c)
        return strata_driver_error(db, STRATA_E_NOMEM, "53200", 0, "out of memory");
    c->base.db = db;
    /* A path beginning "file:" names that file, as it does for every
     * other program reading the URL: not a SQLite URI, which the system's
     * library may be built to read in any name. */
    char *plain = NULL;
    if (!memory && !strncmp(path, "file:", 5) && !(plain = malloc(strlen(path) + 3))) {
        free(c);
        return strata_driver_error(db, STRATA_E_NOMEM, "53200", 0, "out of memory");
    }
    if (plain)
        sprintf(plain, "./%s", path);
    int rc = sqlite3_open_v2(memory ? ":memory:" : plain ? plain : path, &c->h, flags, NULL);
    free(plain);
    if (rc != SQLITE_OK) {
        const char *why = c->h ? sqlite3_errmsg(c->h) : "out of memory";
        const char *hint = "";
        if ((rc & 0xff) == SQLITE_CANTOPEN)
            hint = (flags & SQLITE_OPEN_CREATE) ? " (does its directory exist and allow writing?)"
                                                : " (mode=ro/rw needs an existing file)";
        rc = strata_driver_error(db, STRATA_E_CONNECT, "08001", rc,
                                 "cannot open SQLite database \"%s\": %s%s", path, why, hint);
        sqlite3_close(c->h);
        free(c);
        return rc;
    }
    sqlite3_extended_result_codes(c->h, 1);
    c->busy_ms = busy_ms;
    sqlite3_busy_handler(c->h, busy_wait, c);

    char sql[256];
    snprintf(sql, sizeof sql, "PRAGMA foreign_keys = ON; PRAGMA case_sensitive_like = ON;");
    rc = open_pragma(c, sql);
    if (rc == STRATA_OK && sync) {
        snprintf(sql, sizeof sql, "PRAGMA synchronous = %s", sync);
        rc = open_pragma(c, sql);
    }
    /* WAL lets readers and a writer work at once, as on PostgreSQL.  A file
     * SQLite could only open for reading (mode 0444, a read-only mount)
     * keeps its journal mode: switching needs a write. */
    bool read_only = (flags & SQLITE_OPEN_READONLY) || sqlite3_db_readonly(c->h, "main") == 1;
    if (rc == STRATA_OK && !journal && !memory && !read_only)
        journal = "wal";
    if (rc == STRATA_OK && journal) {
        snprintf(sql, sizeof sql, "PRAGMA journal_mode = %s", journal);
        rc = open_pragma(c, sql);
    }
    if (rc != STRATA_OK) {
        /* A file that is not a database fails here, not at open.  A lock
         * held elsewhere and a full disk keep their codes: waiting, or
         * making room, lets the same open succeed. */
        int code = strata_db_errcode(db);
        if (code != STRATA_E_BUSY && code != STRATA_E_DISK_FULL)
            code = STRATA_E_CONNECT;
        const char *hint = code == STRATA_E_DISK_FULL ? ": no space left on the device"
                           : read_only && journal
                               ? " (the file can only be read: leave journal_mode out, "
                                 "or open it with ?mode=ro)"
                               : "";
        rc = strata_driver_error(db, code, sqlstate_for(code), sqlite3_extended_errcode(c->h),
                                 "cannot open SQLite database \"%s\": %s%s", path,
                                 sqlite3_errmsg(c->h), hint);
        sqlite3_close(c->h);
        free(c);
        return rc;
    }
    *out = &c->base;
    return STRATA_OK;
}

static void sq_close(strata_conn *conn)
{
    sqlite_conn *c = (sqlite_conn *)conn;
    sqlite3_close_v2(c->h);
    free(c);
}

/* Whether the statement at p (past its leading space) may run inside a
 * transaction another statement began: not transaction control, and not
 * a PRAGMA, VACUUM, ATTACH or DETACH, which act (or refuse) outside one. */
static bool plain_statement(const char *p)
{
    static const char *const words[] = {"begin",  "commit", "end",    "rollback", "savepoint",
                                        "release", "pragma", "vacuum", "attach",   "detach"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t n = strlen(words[i]);
        if (!strncasecmp(p, words[i], n) && !(isalnum((unsigned char)p[n]) || p[n] == '_'))
            return false;
    }
    return true;
}

/* Whether (1) sql holds several statements, all plain: run outside a
 * transaction, they go in one (BEGIN IMMEDIATE ... COMMIT), as
 * PostgreSQL runs the statements of one query, so that a failure in the
 * third keeps none (sqlite3_exec alone commits each as it goes).
 * Statements end where SQLite says one is complete, looked at only at a
 * ; outside quotes and comments (a trigger's body holds more).  -1: out
 * of memory. */
static int several_statements(const char *sql)
{
    const char *semi = strchr(sql, ';');
    if (!semi || !*strata_driver_sql_skip_space(semi + 1))
        return 0; /* one statement (the common case) */
    size_t len = strlen(sql);
    char *buf = malloc(len + 1);
    if (!buf)
        return -1;
    int n = 0;
    bool plain = true;
    size_t start = 0;
    char quote = 0; /* inside '...', "...", `...` or [...]: no ; ends there */
    for (size_t i = 0; i < len && plain; i++) {
        char ch = sql[i];
        if (quote) {
            quote = ch == quote ? 0 : quote;
            continue;
        }
        if (ch == '\'' || ch == '"' || ch == '`' || ch == '[') {
            quote = ch == '[' ? ']' : ch;
            continue;
        }
        if (ch == '-' && sql[i + 1] == '-') { /* to the line's end */
            while (i + 1 < len && sql[i + 1] != '\n')
                i++;
            continue;
        }
        if (ch == '/' && sql[i + 1] == '*') {
            const char *end = strstr(sql + i + 2, "*/");
            i = end ? (size_t)(end - sql) + 1 : len;
            continue;
        }
        if (ch != ';')
            continue;
        memcpy(buf, sql + start, i + 1 - start);
        buf[i + 1 - start] = '\0';
        if (!sqlite3_complete(buf))
            continue;
        const char *first = strata_driver_sql_skip_space(buf);
        if (*first != ';') {
            plain = plain_statement(first);
            n++;
        }
        start = i + 1;
    }
    const char *rest = strata_driver_sql_skip_space(sql + start);
    if (plain && *rest) {
        plain = plain_statement(rest);
        n++;
    }
    free(buf);
    return plain && n > 1;
}

static int sq_exec(strata_conn *conn, const char *sql)
{
    sqlite_conn *c = (sqlite_conn *)conn;
    start_clock(c);
    bool autocommit = sqlite3_get_autocommit(c->h);
    int rc = autocommit || may_commit(sql) ? refuse_moved(c) : STRATA_OK;
    if (rc != STRATA_OK)
        return rc;
    if (c->read_only_tx)
        return exec_reading(c, sql);
    int several = autocommit ? several_statements(sql) : 0;
    if (several < 0)
        return strata_driver_error(c->base.db, STRATA_E_NOMEM, "53200", 0, "out of memory");
    /* For writing at once, as strata's own transactions begin: a read
     * that later needs the write lock would fail at once, unheard by the
     * busy handler.  A connection that cannot write needs no wrapping. */
    bool wrap = several > 0 && sqlite3_db_readonly(c->h, "main") == 0;
    for (int waits = 0;;) {
        if (wrap && sqlite3_exec(c->h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            if (shared_lock_wait(c, &waits))
                continue;
            return report(c);
        }
        if (sqlite3_exec(c->h, sql, NULL, NULL, NULL) == SQLITE_OK &&
            (!wrap || sqlite3_exec(c->h, "COMMIT", NULL, NULL, NULL) == SQLITE_OK))
            return STRATA_OK;
        /* Again when nothing of it is left (the whole text rolled back
         * below, or one statement, which failed), after a wait. */
        bool again = (wrap || one_statement(sql)) && shared_lock_wait(c, &waits);
        rc = again ? STRATA_OK : report(c);
        if (wrap && !sqlite3_get_autocommit(c->h)) /* SQLite may have rolled back itself */
            sqlite3_exec(c->h, "ROLLBACK", NULL, NULL, NULL);
        if (!again)
            return rc;
    }
}

/* ---- statements -------------------------------------------------------------------- */

static int sq_prepare(strata_backend_stmt **out, strata_conn *conn, const char *sql, int nparams)
{
    sqlite_conn *c = (sqlite_conn *)conn;
    sqlite_stmt *st = calloc(1, sizeof *st);
    *out = NULL;
    if (!st)
        return strata_driver_error(conn->db, STRATA_E_NOMEM, "53200", 0, "out of memory");
    const char *tail = NULL;
    start_clock(c); /* reading the schema may wait for a lock too */
    if (sqlite3_prepare_v3(c->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->h, &tail) != SQLITE_OK) {
        free(st);
        return report(c);
    }
    st->commits = may_commit(sql);
    /* What follows the first statement must compile to nothing (';',
     * spaces, comments); else the text holds several statements. */
    while (tail && *tail) {
        sqlite3_stmt *next = NULL;
        const char *after = NULL;
        int rc = sqlite3_prepare_v3(c->h, tail, -1, 0, &next, &after);
        sqlite3_finalize(next);
        if (rc != SQLITE_OK || next) {
            sqlite3_finalize(st->h);
            free(st);
            return strata_driver_error(conn->db, STRATA_E_SYNTAX, "42601", 0,
                                       "SQLite compiles one statement and finds more after it");
        }
        if (after == tail)
            break;
        tail = after;
    }
    /* SQLite's own placeholders (:name, @name, $name, ?NNN) are not
     * strata's: left unbound they would run as NULL. */
    int theirs = sqlite3_bind_parameter_count(st->h);
    if (theirs != nparams) {
        const char *name = NULL;
        for (int i = 1; i <= theirs && !name; i++)
            name = sqlite3_bind_parameter_name(st->h, i);
        char what[80];
        snprintf(what, sizeof what, "%.60s", name ? name : "?NNN");
        sqlite3_finalize(st->h);
        free(st);
        return strata_driver_error(conn->db, STRATA_E_MISUSE, "42P02", 0,
                                   "the placeholder %s is not one strata binds: write ? for each "
                                   "parameter, in order",
                                   what);
    }
    st->base.conn = conn;
    st->base.nparams = nparams;
    *out = &st->base;
    return STRATA_OK;
}

static int bind_all(sqlite_stmt *st)
{
    sqlite_conn *c = (sqlite_conn *)st->base.conn;
    char ts[STRATA_TIMESTAMP_BUFSIZE];
    for (int i = 0; i < st->base.nparams; i++) {
        const strata_value *v = &st->base.params[i];
        int rc = SQLITE_OK;
        switch (v->type) {
        case STRATA_TYPE_NULL: rc = sqlite3_bind_null(st->h, i + 1); break;
        case STRATA_TYPE_INT64:
        case STRATA_TYPE_BOOL: rc = sqlite3_bind_int64(st->h, i + 1, v->u.i); break;
        case STRATA_TYPE_DOUBLE:
            /* SQLite stores a NaN as NULL: refused, not lost. */
            if (v->u.d != v->u.d)
                return strata_driver_error(c->base.db, STRATA_E_DATA, "22000", 0,
                                           "parameter %d: a float NaN, which SQLite cannot store "
                                           "(it would become NULL)",
                                           i + 1);
            rc = sqlite3_bind_double(st->h, i + 1, v->u.d);
            break;
        case STRATA_TYPE_TEXT:
            rc = sqlite3_bind_text(st->h, i + 1, v->u.buf.ptr, (int)v->u.buf.len, SQLITE_STATIC);
            break;
        case STRATA_TYPE_BLOB:
            rc = sqlite3_bind_blob(st->h, i + 1, v->u.buf.ptr, (int)v->u.buf.len, SQLITE_STATIC);
            break;
        case STRATA_TYPE_TIMESTAMP:
            strata_driver_format_timestamp(v->u.ts, ts, sizeof ts);
            rc = sqlite3_bind_text(st->h, i + 1, ts, -1, SQLITE_TRANSIENT);
            break;
        }
        if (rc != SQLITE_OK)
            return report(c);
    }
    return STRATA_OK;
}

/* What a step that gave no row, or the first step of an execution, says
 * and leaves behind. */
static int step_result(sqlite_stmt *st, int rc, bool starting)
{
    /* SQLite prepares the text again, inside an execution's first step,
     * when the schema changed (a column added to a table read with
     * SELECT *, one's type changed by a rebuild): what was made per
     * column then is stale. */
    int again = starting ? sqlite3_stmt_status(st->h, SQLITE_STMTSTATUS_REPREPARE, 0)
                         : st->reprepared;
    if (again != st->reprepared) {
        st->reprepared = again;
        free(st->decl);
        free(st->num);
        st->decl = NULL;
        st->how = NULL;
        st->num = NULL;
    }
    if (rc == SQLITE_ROW)
        return STRATA_ROW;
    if (rc == SQLITE_DONE) {
        sqlite3 *h = ((sqlite_conn *)st->base.conn)->h;
        st->changes = sqlite3_stmt_readonly(st->h) ? 0 : sqlite3_changes64(h);
        return STRATA_DONE;
    }
    return report((sqlite_conn *)st->base.conn);
}

static __attribute__((noinline)) int step_first(sqlite_stmt *st)
{
    int rc = bind_all(st);
    if (rc != STRATA_OK)
        return rc;
    sqlite_conn *c = (sqlite_conn *)st->base.conn;
    start_clock(c);
    if (c->read_only_tx && !sqlite3_stmt_readonly(st->h))
        return refuse_write(c);
    /* A write outside a transaction commits at once (a COMMIT prepared
     * and stepped too): not into a file the path no longer names. */
    if ((sqlite3_get_autocommit(c->h) ? !sqlite3_stmt_readonly(st->h) : st->commits) &&
        (rc = refuse_moved(c)) != STRATA_OK)
        return rc;
    st->running = true;
    st->changes = 0;
    int src = sqlite3_step(st->h);
    /* A first step that met a shared cache's lock changed nothing: again,
     * within the busy timeout. */
    for (int waits = 0; (src & 0xff) == SQLITE_LOCKED && shared_lock_wait(c, &waits);) {
        sqlite3_reset(st->h);
        src = sqlite3_step(st->h);
    }
    return step_result(st, src, true);
}

/* The next row of an execution under way is the common call (every row
 * of a result): decided here, the rest apart. */
static int sq_step(strata_backend_stmt *bst)
{
    sqlite_stmt *st = (sqlite_stmt *)bst;
    if (!st->h)
        return STRATA_DONE;
    if (!st->running)
        return step_first(st);
    int rc = sqlite3_step(st->h);
    return rc == SQLITE_ROW ? STRATA_ROW : step_result(st, rc, false);
}

static int sq_reset(strata_backend_stmt *bst)
{
    sqlite_stmt *st = (sqlite_stmt *)bst;
    if (st->h)
        sqlite3_reset(st->h); /* repeats the last error, already reported */
    st->running = false;
    return STRATA_OK;
}

static void sq_finalize(strata_backend_stmt *bst)
{
    sqlite_stmt *st = (sqlite_stmt *)bst;
    sqlite3_finalize(st->h);
    free(st->decl);
    free(st->num);
    free(st);
}

static int64_t sq_changes(strata_backend_stmt *bst) { return ((sqlite_stmt *)bst)->changes; }

static int sq_column_count(strata_backend_stmt *bst)
{
    sqlite_stmt *st = (sqlite_stmt *)bst;
    return st->h ? sqlite3_column_count(st->h) : 0;
}

static const char *sq_column_name(strata_backend_stmt *bst, int col)
{
    return sqlite3_column_name(((sqlite_stmt *)bst)->h, col);
}

static const char *sq_column_decltype(strata_backend_stmt *bst, int col)
{
    const char *t = sqlite3_column_decltype(((sqlite_stmt *)bst)->h, col);
    return t ? t : "";
}

/* Whether hay holds needle (an upper-case word) in any case.  A position
 * is passed on its first letter: SQLite prepares a statement whose plan
 * depends on a bound value (`LIKE ?`) again at each execution, and each
 * column read then is classified again. */
static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if ((*hay & ~0x20) == needle[0] && strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

static int classify_decl(const char *t)
{
    if (!t)
        return DECL_PLAIN;
    /* SQLite keeps 12.30 in a NUMERIC(10, 2) column as the REAL 12.3 (or
     * 5.00 as the INTEGER 5): they come back as the text PostgreSQL gives,
     * with the declared scale. */
    if (contains_ci(t, "NUMERIC") || contains_ci(t, "DECIMAL")) {
        const char *open = strchr(t, '('), *comma = open ? strchr(open, ',') : NULL;
        if (!open)
            return DECL_NUMERIC;
        long scale = comma ? strtol(comma + 1, NULL, 10) : 0; /* DECIMAL(p) is DECIMAL(p, 0) */
        return DECL_NUMERIC + 1 + (int)(scale < 0 ? 0 : scale > 200 ? 200 : scale);
    }
    /* The other half of the contract in driver.h (column_value): the
     * dialect (dialect.c) declares booleans BOOLEAN and datetimes DATETIME
     * or TIMESTAMP WITH TIME ZONE. */
    if (contains_ci(t, "BOOL"))
        return DECL_BOOL;
    if (contains_ci(t, "DATETIME") || contains_ci(t, "TIMESTAMP"))
        return DECL_TIMESTAMP;
    return DECL_PLAIN;
}

/* A number in a NUMERIC column as decimal text, with the declared scale
 * when there is one (else the shortest text that reads back the same). */
static int numeric_text(sqlite_stmt *st, int col, sqlite3_value *v, int type, strata_value *out)
{
    if (!st->num) {
        st->num = calloc((size_t)sqlite3_column_count(st->h) + 1, sizeof *st->num);
        if (!st->num)
            return strata_driver_error(st->base.conn->db, STRATA_E_NOMEM, "53200", 0,
                                       "out of memory");
    }
    char *buf = st->num[col];
    int scale = st->decl[col] - DECL_NUMERIC - 1; /* -1: none declared */
    int n;
    if (type == SQLITE_INTEGER) {
        n = snprintf(buf, NUMERIC_TEXT, "%lld", (long long)sqlite3_value_int64(v));
        if (scale > 0 && n + 1 + scale < NUMERIC_TEXT) {
            buf[n++] = '.';
            memset(buf + n, '0', (size_t)scale);
            n += scale;
            buf[n] = '\0';
        }
    } else {
        double d = sqlite3_value_double(v);
        if (strata_driver_format_decimal(d, scale, buf, NUMERIC_TEXT) != STRATA_OK)
            snprintf(buf, NUMERIC_TEXT, "%.17g", d); /* past the buffer: a float's text */
        n = (int)strlen(buf);
    }
    out->type = STRATA_TYPE_TEXT;
    out->u.buf.ptr = buf;
    out->u.buf.len = (size_t)(n < NUMERIC_TEXT ? n : (int)strlen(buf));
    return STRATA_OK;
}

/* The declared types of the result's columns, each classified when first
 * read.  Lazily: SQLite prepares a statement again when a parameter it
 * planned with changes (LIKE ?), which forgets them (sq_step), and a read
 * that finds its object in the identity map reads only the key. */
static int decl_ready(sqlite_stmt *st)
{
    if (st->decl)
        return STRATA_OK;
    size_t ncols = (size_t)sqlite3_column_count(st->h) + 1;
    st->decl = calloc(ncols, 2);
    st->how = st->decl ? st->decl + ncols : NULL;
    return st->decl ? STRATA_OK
                    : strata_driver_error(st->base.conn->db, STRATA_E_NOMEM, "53200", 0,
                                          "out of memory");
}

static int decl_of(sqlite_stmt *st, int col)
{
    if (st->decl[col] == DECL_UNKNOWN)
        st->decl[col] = (unsigned char)classify_decl(sqlite3_column_decltype(st->h, col));
    return st->decl[col];
}

/* One column of the current row.  The value is read through
 * sqlite3_column_value and the sqlite3_value_* getters: one call into the
 * statement per column instead of one per question (its type, its bytes,
 * its length), each taking the connection's lock and checking for a
 * failed allocation.  Those getters on a column's value are not guarded
 * by the connection's lock; nothing else uses the connection meanwhile,
 * which strata opens without one (SQLITE_OPEN_NOMUTEX) and confines to
 * one thread at a time.  A text or blob that cannot be had for lack of
 * memory comes back NULL, reported here as SQLite's getters would. */
static int decode(sqlite_stmt *st, int col, strata_value *out)
{
    int decl = decl_of(st, col);
    sqlite3_value *v = sqlite3_column_value(st->h, col);
    int type = sqlite3_value_type(v);
    if (decl >= DECL_NUMERIC && (type == SQLITE_INTEGER || type == SQLITE_FLOAT))
        return numeric_text(st, col, v, type, out);
    switch (type) {
    case SQLITE_NULL: out->type = STRATA_TYPE_NULL; break;
    case SQLITE_INTEGER:
        out->type = decl == DECL_BOOL ? STRATA_TYPE_BOOL : STRATA_TYPE_INT64;
        out->u.i = sqlite3_value_int64(v);
        break;
    case SQLITE_FLOAT:
        out->type = STRATA_TYPE_DOUBLE;
        out->u.d = sqlite3_value_double(v);
        break;
    case SQLITE_TEXT: {
        const char *p = (const char *)sqlite3_value_text(v);
        size_t n = (size_t)sqlite3_value_bytes(v);
        if (!p)
            return strata_driver_error(st->base.conn->db, STRATA_E_NOMEM, "53200", 0,
                                       "out of memory");
        if (decl == DECL_TIMESTAMP &&
            strata_timestamp_parse(&out->u.ts, p, n) == STRATA_OK) {
            out->type = STRATA_TYPE_TIMESTAMP;
            break;
        }
        out->type = STRATA_TYPE_TEXT;
        out->u.buf.ptr = p;
        out->u.buf.len = n;
        break;
    }
    default: {
        const void *p = sqlite3_value_blob(v);
        size_t n = (size_t)sqlite3_value_bytes(v);
        if (!p && n)
            return strata_driver_error(st->base.conn->db, STRATA_E_NOMEM, "53200", 0,
                                       "out of memory");
        out->type = STRATA_TYPE_BLOB;
        out->u.buf.len = n;
        out->u.buf.ptr = p ? p : "";
        break;
    }
    }
    return STRATA_OK;
}

static int sq_column_value(strata_backend_stmt *bst, int col, strata_value *out)
{
    sqlite_stmt *st = (sqlite_stmt *)bst;
    int rc = decl_ready(st);
    return rc == STRATA_OK ? decode(st, col, out) : rc;
}

static int sq_row_values(strata_backend_stmt *bst, int col0, int n, strata_value *out)
{
    sqlite_stmt *st = (sqlite_stmt *)bst;
    int rc = decl_ready(st);
    for (int i = 0; i < n && rc == STRATA_OK; i++)
        rc = decode(st, col0 + i, &out[i]);
    return rc;
}

/* What sq_row_cells does with a column that is not NULL, decided once for
 * its declared type and the field's C type: the one storage class it
 * takes straight into the cell (two for HOW_DOUBLE); any other class, and
 * every column of HOW_CORE, is left to the core.  Kept per column as
 * (want << 4) | how, 0 before the first read: a statement's column feeds
 * the same field at every row. */
enum {
    HOW_CORE = 1, /* NUMERIC (kept as decimal text), or no quick way */
    HOW_INT,      /* INTEGER into an int64_t */
    HOW_BOOL,     /* INTEGER 0 or 1 into a bool */
    HOW_DOUBLE,   /* FLOAT, or INTEGER, into a double */
    HOW_TEXT,     /* TEXT into a char * (not a declared datetime) */
    HOW_TIME,     /* TEXT of a declared datetime into a strata_timestamp */
    HOW_BLOB      /* BLOB into a strata_blob */
};

static __attribute__((noinline)) unsigned how_learn(sqlite_stmt *st, int col, unsigned w)
{
    int decl = decl_of(st, col);
    unsigned how = HOW_CORE;
    switch (w) {
    case STRATA_C_INT64: how = decl < DECL_NUMERIC ? HOW_INT : HOW_CORE; break;
    case STRATA_C_BOOL: how = decl < DECL_NUMERIC ? HOW_BOOL : HOW_CORE; break;
    case STRATA_C_DOUBLE: how = decl < DECL_NUMERIC ? HOW_DOUBLE : HOW_CORE; break;
    case STRATA_C_TEXT: how = decl != DECL_TIMESTAMP ? HOW_TEXT : HOW_CORE; break;
    case STRATA_C_TIMESTAMP: how = decl == DECL_TIMESTAMP ? HOW_TIME : HOW_CORE; break;
    case STRATA_C_BLOB: how = HOW_BLOB; break;
    }
    if (w < 16)
        st->how[col] = (unsigned char)(w << 4 | how);
    return how;
}

static int no_memory(sqlite_stmt *st)
{
    return strata_driver_error(st->base.conn->db, STRATA_E_NOMEM, "53200", 0, "out of memory");
}

/* The ORM's load of a row: each column straight into the form its field
 * wants, for the cases where that is what decode followed by the core's
 * conversion gives (strata__value_to_cell); the rest, and every column
 * declared NUMERIC (kept as decimal text), is left to the core. */
static int sq_row_cells(strata_backend_stmt *bst, int col0, int n, const unsigned char *want,
                        strata_cell *out)
{
    sqlite_stmt *st = (sqlite_stmt *)bst;
    int rc = decl_ready(st);
    if (rc != STRATA_OK)
        return rc;
    const unsigned char *known = st->how + col0;
    for (int i = 0; i < n; i++) {
        strata_cell *c = &out[i];
        sqlite3_value *v = sqlite3_column_value(st->h, col0 + i);
        int type = sqlite3_value_type(v);
        c->state = STRATA_CELL_OTHER;
        if (type == SQLITE_NULL) {
            c->state = STRATA_CELL_NULL;
            continue;
        }
        unsigned how = known[i];
        how = how >> 4 == want[i] ? how & 15 : how_learn(st, col0 + i, want[i]);
        switch (how) {
        case HOW_INT:
            if (type == SQLITE_INTEGER) {
                c->u.i = sqlite3_value_int64(v);
                c->state = STRATA_CELL_VALUE;
            }
            break;
        case HOW_TEXT:
            if (type == SQLITE_TEXT) {
                if (!(c->u.p = sqlite3_value_text(v)))
                    return no_memory(st);
                c->len = (size_t)sqlite3_value_bytes(v);
                c->state = STRATA_CELL_VALUE;
            }
            break;
        case HOW_TIME:
            if (type == SQLITE_TEXT) {
                const char *p = (const char *)sqlite3_value_text(v);
                if (!p)
                    return no_memory(st);
                if (strata_timestamp_parse(&c->u.i, p, (size_t)sqlite3_value_bytes(v)) ==
                    STRATA_OK)
                    c->state = STRATA_CELL_VALUE;
            }
            break;
        case HOW_BOOL:
            if (type == SQLITE_INTEGER) {
                int64_t i64 = sqlite3_value_int64(v);
                if (i64 == 0 || i64 == 1) {
                    c->u.i = i64;
                    c->state = STRATA_CELL_VALUE;
                }
            }
            break;
        case HOW_DOUBLE:
            if (type == SQLITE_FLOAT || type == SQLITE_INTEGER) {
                c->u.d = type == SQLITE_FLOAT ? sqlite3_value_double(v)
                                              : (double)sqlite3_value_int64(v);
                c->state = STRATA_CELL_VALUE;
            }
            break;
        case HOW_BLOB:
            if (type == SQLITE_BLOB) {
                const void *p = sqlite3_value_blob(v);
                c->len = (size_t)sqlite3_value_bytes(v);
                if (!p && c->len)
                    return no_memory(st);
                c->u.p = p ? p : "";
                c->state = STRATA_CELL_VALUE;
            }
            break;
        }
    }
    return STRATA_OK;
}

static int sq_is_reserved(const char *word)
{
    return sqlite3_keyword_check(word, (int)strlen(word));
}

static const char *const sq_driver_names[] = {"sqlite3", "pysqlite", NULL};
static const char *const sq_url_params[] = {
    "mode", "busy_timeout", "timeout", "journal_mode", "synchronous", "cache", NULL};

const strata_driver strata__sqlite_driver = {
    .version = STRATA_DRIVER_VERSION,
    .name = "sqlite",
    .aliases = NULL,
    .driver_names = sq_driver_names,
    .capabilities = STRATA_CAP_RETURNING | STRATA_CAP_TRANSACTIONAL_DDL | STRATA_CAP_FILE_URL,
    .placeholder = STRATA_PLACEHOLDER_QMARK,
    .lexer_flags = STRATA_LEX_BACKTICKS | STRATA_LEX_BRACKETS,
    .url_params = sq_url_params,
    .url_is_private = sq_url_is_private,
    .begin_mode = sq_begin_mode,
    .cancel = sq_cancel,
    .in_transaction = sq_in_transaction,
    .set_timeout = sq_set_timeout,
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .step = sq_step,
    .reset = sq_reset,
    .finalize = sq_finalize,
    .changes = sq_changes,
    .column_count = sq_column_count,
    .column_name = sq_column_name,
    .column_decltype = sq_column_decltype,
    .column_value = sq_column_value,
    .row_values = sq_row_values,
    .row_cells = sq_row_cells,
    .is_reserved_word = sq_is_reserved,
    .classify_error = classify,
};
