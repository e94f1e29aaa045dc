/*
 * engines/postgres/driver.c - the PostgreSQL driver, on libpq (loaded on
 * first use: libpq.h).
 *
 * The URL goes to libpq whole (minus a "+libpq" suffix), so every libpq
 * parameter works.  Statements are prepared on the server at prepare time
 * with parameter types left to the server to infer, so errors in the SQL
 * surface at prepare as they do on SQLite; each execution is then one
 * round trip (Bind/Execute/Sync by name).  Parameters travel as text except
 * blobs (binary bytea); results come back as text and are decoded by column
 * type OID.
 *
 * Every command is sent with libpq's PQsend* calls and its results read
 * through next_result(), which enforces strata_db_set_statement_timeout on
 * the client: past the deadline it sends a cancel, and a server that does
 * not answer the cancel either is given up.  No session state is set on
 * the server for it, so it holds behind a transaction pooler, where a
 * session's SET would reach other clients and miss this one.
 *
 * Layout: error mapping, open/close/exec/transactions, statements, value
 * decoding, dialect (reserved words), the vtable.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "postgres/libpq.h"
#include "strata/sys/driver.h"

/* Type OIDs from pg_type.h (stable across PostgreSQL versions). */
#define BOOLOID 16
#define BYTEAOID 17
#define INT8OID 20
#define INT2OID 21
#define INT4OID 23
#define TEXTOID 25
#define OIDOID 26
#define JSONOID 114
#define FLOAT4OID 700
#define FLOAT8OID 701
#define BPCHAROID 1042
#define VARCHAROID 1043
#define DATEOID 1082
#define TIMEOID 1083
#define TIMESTAMPOID 1114
#define TIMESTAMPTZOID 1184
#define NUMERICOID 1700
#define UUIDOID 2950
#define JSONBOID 3802

typedef struct pg_conn {
    strata_conn base;
    PGconn *h;
    /* Statement names are "s<16 random hex digits>_<n>": a pooler such as
     * pgbouncer hands one server connection to many clients, and names
     * that repeat between clients would run one client's statement for
     * another's (strata_1 is everybody's first statement). */
    char name_prefix[20];
    unsigned next_id;
    /* prepared_statements=false in the URL: statements are checked with an
     * unnamed prepare and run with their text each time, so nothing named
     * stays on a server connection a pooler may hand to someone else. */
    bool unnamed;
    PGcancel *cancel; /* for strata_db_cancel from another thread */
    int timeout_ms;   /* strata_db_set_statement_timeout; 0: none */
    struct timespec deadline; /* of the command being read */
    bool timed_out;   /* its deadline passed and a cancel went out */
    bool cancel_held; /* ... or did not: too many were waiting (send_cancel) */
    bool gave_up;     /* the server answered neither it nor the cancel */
    bool copy_refused; /* the command was a COPY from or to the client */
    bool ended_first;  /* the server ended the connection before a COMMIT went out */
    char fatal[160];   /* a FATAL the server sent between commands: it ends the connection */
    /* A command to run with the next one, in its round trip
     * (pg_exec_with_next); "" when there is none. */
    char deferred[48];
    /* Counts the executions the server refused because a schema change
     * altered their statement's result since it was prepared.  One such
     * change may touch any statement the connection holds: each is
     * prepared again before its next run once the count moved past the
     * one it was prepared at (replan). */
    unsigned plan_epoch;
    /* Names of statements finalized while the transaction was aborted,
     * where the server refuses DEALLOCATE: deallocated once no
     * transaction is open (release_orphans), not left on the server for
     * the connection's life. */
    char (*orphans)[40];
    size_t norphans, orphans_cap;
} pg_conn;

/* How long the server has to answer a statement timeout's cancel before
 * the connection is taken as dead. */
#define CANCEL_GRACE_MS 5000
/* Cancel requests waiting for an answer in their own threads
 * (send_cancel), counted per server (its host and port) in the whole
 * process.  A server that answers nothing holds each such thread for as
 * long as it keeps taking connections: past CANCELS_WAITING_MAX for one
 * server, a timed-out statement on it sends none, and its connection is
 * given up after the grace as when its cancel goes unanswered, instead of
 * one more thread waiting for ever.  Other servers keep their own count;
 * past CANCEL_SERVERS servers with requests waiting at once, the others
 * share one count. */
#define CANCELS_WAITING_MAX 32
#define CANCEL_SERVERS 64
typedef struct cancel_server {
    char where[320]; /* "host port" (a host name has at most 253 bytes) */
    int waiting;     /* 0: the slot may go to another server */
} cancel_server;
static pthread_mutex_t cancels_lock = PTHREAD_MUTEX_INITIALIZER;
static cancel_server cancel_servers[CANCEL_SERVERS + 1]; /* the last: those beyond */

typedef struct pg_stmt {
    strata_backend_stmt base;
    char name[40];
    char *sql;     /* the text, to prepare again after a schema change */
    unsigned epoch; /* the connection's plan_epoch when it was prepared */
    bool on_server; /* the server holds it under `name` (not after a DEALLOCATE) */
    bool suspect;   /* a bound value its types refused in a transaction: prepare again */
    bool stream;   /* executions use single-row mode */
    bool typed;    /* the execution whose results are read went by its text with its types,
                      parsed for itself (send_stmt) */
    /* Its typed twin: the text prepared again with a blob's types (bytea
     * there, the others inferred), for executions that bind a blob. */
    char twin[52];       /* the name, a "b" and twin_gen */
    unsigned twin_gen;   /* counts the twin's names: a replaced one may still be the server's */
    Oid *twin_types;     /* the types it was prepared with; NULL: not on the server */
    unsigned twin_epoch; /* the connection's plan_epoch when it was prepared */
    bool twin_ok;        /* not made stale since (false when the statement was prepared again) */
    bool twin_missed;    /* the last execution with a blob did not fit it (twin_prepare) */
    uint64_t miss_types; /* that execution's types, hashed */
    unsigned typed_runs; /* executions with a blob, up to 2 (send_stmt) */
    bool busy;     /* a streamed execution has results still to read */
    PGresult *res; /* result of the current execution */
    int row;       /* current row in res */
    int64_t changes;
    PGresult *desc;        /* PQdescribePrepared, only when columns are asked before a run */
    char (*text)[40];      /* per parameter: text of a number/bool/timestamp */
    unsigned char **bytea; /* per column: unescaped bytea of the current row */
    size_t *bytea_len;
    Oid *types; /* per column: its type in the result being read (row_shape) */
    bool unescaped; /* some bytea of the current row is unescaped */
    int ncols_alloc;
    char decl[96]; /* the last declared type with a modifier it gave (numeric(10,2)) */
} pg_stmt;

/* ---- errors ------------------------------------------------------------------- */


static int classify(const char *state, int native, const char *msg)
{
    (void)native;
    (void)msg;
    if (!state || strlen(state) != 5)
        return STRATA_E_ERROR;
    static const struct {
        const char *state;
        int code;
    } exact[] = {
        {"23505", STRATA_E_UNIQUE},
        {"23503", STRATA_E_FOREIGN_KEY},
        {"23502", STRATA_E_NOT_NULL},
        {"23514", STRATA_E_CHECK},
        {"22001", STRATA_E_TOO_LONG},
        {"55P03", STRATA_E_BUSY},
        {"40001", STRATA_E_SERIALIZATION},
        {"40P01", STRATA_E_DEADLOCK},
        {"42601", STRATA_E_SYNTAX},
        {"42P01", STRATA_E_UNDEFINED_TABLE},
        {"42703", STRATA_E_UNDEFINED_COLUMN},
        {"42P07", STRATA_E_EXISTS},
        {"42710", STRATA_E_EXISTS},
        {"42P06", STRATA_E_EXISTS},
        {"53200", STRATA_E_NOMEM},
        {"53300", STRATA_E_TOO_MANY_CONNECTIONS},
        {"26000", STRATA_E_PREPARED_STATEMENT},
        {"42P05", STRATA_E_PREPARED_STATEMENT},
        {"08P01", STRATA_E_PROTOCOL},
        {"53100", STRATA_E_DISK_FULL},
        {"57014", STRATA_E_TIMEOUT},
        {"25P02", STRATA_E_TX_ABORTED},
        {"25006", STRATA_E_READONLY},
        {"42501", STRATA_E_PERMISSION},
        {"22003", STRATA_E_RANGE},
        {"0A000", STRATA_E_UNSUPPORTED},
        {"3D000", STRATA_E_CONNECT},
        {"57P01", STRATA_E_CONNECTION_LOST},
        {"57P02", STRATA_E_CONNECTION_LOST},
        {"57P03", STRATA_E_CONNECT},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (memcmp(state, exact[i].state, 5) == 0)
            return exact[i].code;
    if (!memcmp(state, "08", 2))
        return STRATA_E_CONNECTION_LOST;
    if (!memcmp(state, "28", 2))
        return STRATA_E_CONNECT;
    if (!memcmp(state, "22", 2))
        return STRATA_E_DATA;
    if (!memcmp(state, "23", 2))
        return STRATA_E_CHECK;
    return STRATA_E_ERROR;
}

/* Report a failed command and free its result (res may be NULL when
 * libpq could not even send it). */
/* The failure res (NULL: the connection's), reported with code (0: by
 * its SQLSTATE) and `note` after the server's words.  Clears res. */
static int report_note(pg_conn *c, PGresult *res, int code, const char *note)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = PQerrorMessage(c->h);
    int rc;
    if (c->copy_refused && PQstatus(c->h) != CONNECTION_BAD) {
        rc = strata_driver_error(c->base.db, STRATA_E_UNSUPPORTED, "0A000", 0,
                                 "COPY FROM STDIN and COPY TO STDOUT need the copy protocol, "
                                 "which strata does not speak; it was ended");
    } else if (c->gave_up) {
        if (c->cancel_held)
            rc = strata_driver_error(c->base.db, STRATA_E_CONNECTION_LOST, "08006", 0,
                                     "connection to PostgreSQL given up: the server did not "
                                     "answer the statement within %d ms of its timeout of %d "
                                     "ms, and no cancel was sent: %d cancel requests of this "
                                     "process were still waiting for this server's answer",
                                     CANCEL_GRACE_MS, c->timeout_ms, CANCELS_WAITING_MAX);
        else
            rc = strata_driver_error(c->base.db, STRATA_E_CONNECTION_LOST, "08006", 0,
                                     "connection to PostgreSQL given up: the server answered "
                                     "neither the statement nor, within %d ms, the cancel sent "
                                     "when its timeout of %d ms passed (a statement still "
                                     "waiting in a pooler's queue for a server connection is "
                                     "not cancelled there)",
                                     CANCEL_GRACE_MS, c->timeout_ms);
    } else if (PQstatus(c->h) == CONNECTION_BAD) {
        rc = strata_driver_error(c->base.db, STRATA_E_CONNECTION_LOST, "08006", 0,
                                 "connection to PostgreSQL lost: %s", msg);
    } else {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
        /* Code 0: the core classifies through the classify_error slot. */
        /* 08P01 is any message the server could not take: only a bind
         * meeting another client's statement is the pooler's. */
        bool pooler = state && (!strcmp(state, "26000") || !strcmp(state, "42P05") ||
                                (!strcmp(state, "08P01") && primary &&
                                 strstr(primary, "prepared statement")));
        /* A connection's loss by its SQLSTATE only when the server ends
         * the session with it (FATAL): as an ERROR it is relayed from
         * another server (postgres_fdw, dblink), and this one is fine. */
        const char *severity = res ? PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED) : NULL;
        if (!code && state && severity && !strcmp(severity, "ERROR") &&
            (!memcmp(state, "08", 2) || !strcmp(state, "57P01") || !strcmp(state, "57P02")) &&
            strcmp(state, "08P01") != 0)
            code = STRATA_E_ERROR;
        const char *hint =
            pooler ? "; a connection pooler in transaction mode (pgbouncer) hands one server "
                     "connection to many clients: add prepared_statements=false to the URL"
                   : note;
        if (c->timed_out && state && !strcmp(state, "57014"))
            rc = strata_driver_error(c->base.db, 0, state, 0,
                                     "canceling statement due to statement timeout (%d ms)",
                                     c->timeout_ms);
        else if (primary && detail)
            rc =
                strata_driver_error(c->base.db, code, state, 0, "%s (%s)%s", primary, detail, hint);
        else
            rc = strata_driver_error(c->base.db, code, state, 0, "%s%s", primary ? primary : msg,
                                     hint);
    }
    PQclear(res);
    return rc;
}

static int report_res(pg_conn *c, PGresult *res) { return report_note(c, res, 0, ""); }

/* ---- open / close / exec ------------------------------------------------------------ */

static int pg_exec(strata_conn *conn, const char *sql);

/* Notices and warnings go to the handle (libpq would print them). */
static void pg_notice(void *arg, const PGresult *res)
{
    pg_conn *c = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (!sev)
        sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    if (sev && (!strcmp(sev, "FATAL") || !strcmp(sev, "PANIC")))
        snprintf(c->fatal, sizeof c->fatal, "%s: %s", sev, primary ? primary : "");
    /* The detail says what a synchronous commit's warning means.  Whole:
     * the password is taken out of the text after this, and a text cut
     * first could keep the start of one. */
    char *text = NULL;
    if (primary && detail) {
        size_t n = strlen(primary) + strlen(detail) + 4;
        if ((text = malloc(n)) != NULL)
            snprintf(text, n, "%s (%s)", primary, detail);
    }
    strata_driver_notice(c->base.db, sev, PQresultErrorField(res, PG_DIAG_SQLSTATE),
                         text ? text : primary);
    free(text);
}

static int pg_cancel(strata_conn *conn)
{
    pg_conn *c = (pg_conn *)conn;
    char err[256];
    return c->cancel && PQcancel(c->cancel, err, sizeof err) ? STRATA_OK : STRATA_E_CONNECTION_LOST;
}

static int pg_in_transaction(strata_conn *conn)
{
    if (((pg_conn *)conn)->ended_first)
        return 0; /* the server rolled back as the connection ended */
    switch (PQtransactionStatus(((pg_conn *)conn)->h)) {
    case PQTRANS_IDLE: return 0;
    case PQTRANS_INTRANS:
    case PQTRANS_INERROR: return 1;
    default: return -1; /* a command under way, or no connection */
    }
}

/* The limit is kept here and enforced by next_result(), per command. */
static int pg_set_timeout(strata_conn *conn, int ms)
{
    ((pg_conn *)conn)->timeout_ms = ms;
    return STRATA_OK;
}

/* Start the clock of a command just sent. */
static void arm(pg_conn *c)
{
    c->timed_out = c->cancel_held = false;
    if (!c->timeout_ms)
        return;
    clock_gettime(CLOCK_MONOTONIC, &c->deadline);
    c->deadline.tv_sec += c->timeout_ms / 1000;
    c->deadline.tv_nsec += (long)(c->timeout_ms % 1000) * 1000000L;
    if (c->deadline.tv_nsec >= 1000000000L)
        c->deadline.tv_sec++, c->deadline.tv_nsec -= 1000000000L;
}

static int ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
                 (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* libpq's PQcancel waits for the server to answer the cancel request,
 * without a limit: a server that accepts connections but answers nothing
 * (stopped, or its host hung) would hold the statement's thread for ever.
 * The request goes out from a thread of its own, with a cancel object of
 * its own; the statement's thread waits for it as PQcancel would (so a
 * cancel that comes late cannot stop the next statement instead), but
 * only until `until`.  The last of the two to let go frees the request. */
typedef struct cancel_req {
    pthread_mutex_t lock;
    pthread_cond_t sent;
    bool done;
    int refs;
    int server; /* its slot in cancel_servers */
    PGcancel *cancel;
} cancel_req;

/* A child of fork has none of the threads its parent's counts stand
 * for, and takes the lock as the forking thread held it. */
static void cancels_before_fork(void) { pthread_mutex_lock(&cancels_lock); }
static void cancels_after_fork(void) { pthread_mutex_unlock(&cancels_lock); }
static void cancels_in_child(void)
{
    for (int i = 0; i <= CANCEL_SERVERS; i++)
        cancel_servers[i].waiting = 0;
    pthread_mutex_unlock(&cancels_lock);
}

static void cancels_watch_fork(void)
{
    pthread_atfork(cancels_before_fork, cancels_after_fork, cancels_in_child);
}

/* One more cancel request waiting for c's server: its slot, or -1 when
 * CANCELS_WAITING_MAX of them wait already. */
static int cancel_take(const pg_conn *c)
{
    const char *host = PQhost(c->h), *port = PQport(c->h);
    char where[sizeof cancel_servers[0].where];
    snprintf(where, sizeof where, "%s %s", host ? host : "", port ? port : "");
    pthread_mutex_lock(&cancels_lock);
    int at = CANCEL_SERVERS, free_at = -1;
    for (int i = 0; i < CANCEL_SERVERS && at == CANCEL_SERVERS; i++) {
        if (cancel_servers[i].waiting && !strcmp(cancel_servers[i].where, where))
            at = i;
        else if (free_at < 0 && !cancel_servers[i].waiting)
            free_at = i;
    }
    if (at == CANCEL_SERVERS && free_at >= 0) {
        at = free_at;
        memcpy(cancel_servers[at].where, where, sizeof where);
    }
    int taken = cancel_servers[at].waiting < CANCELS_WAITING_MAX ? at : -1;
    if (taken >= 0)
        cancel_servers[at].waiting++;
    pthread_mutex_unlock(&cancels_lock);
    return taken;
}

static void cancel_done(int at)
{
    pthread_mutex_lock(&cancels_lock);
    cancel_servers[at].waiting--;
    pthread_mutex_unlock(&cancels_lock);
}

static void cancel_req_drop(cancel_req *r)
{
    pthread_mutex_lock(&r->lock);
    bool last = --r->refs == 0;
    pthread_mutex_unlock(&r->lock);
    if (!last)
        return;
    PQfreeCancel(r->cancel);
    pthread_cond_destroy(&r->sent);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static void *cancel_in_background(void *arg)
{
    cancel_req *r = arg;
    char err[256];
    PQcancel(r->cancel, err, sizeof err);
    cancel_done(r->server);
    pthread_mutex_lock(&r->lock);
    r->done = true;
    pthread_cond_signal(&r->sent);
    pthread_mutex_unlock(&r->lock);
    cancel_req_drop(r);
    return NULL;
}

static void send_cancel(pg_conn *c, const struct timespec *until)
{
    static pthread_once_t fork_watched = PTHREAD_ONCE_INIT;
    pthread_once(&fork_watched, cancels_watch_fork);
    char err[256];
    int server = cancel_take(c);
    if (server < 0) {
        c->cancel_held = true;
        return;
    }
    cancel_req *r = calloc(1, sizeof *r);
    PGcancel *own = r ? PQgetCancel(c->h) : NULL;
    if (!own) { /* no memory for it: the connection's own, from here */
        free(r);
        if (c->cancel)
            PQcancel(c->cancel, err, sizeof err);
        cancel_done(server);
        return;
    }
    r->cancel = own;
    r->server = server;
    r->refs = 2;
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->sent, &ca);
    pthread_condattr_destroy(&ca);
    pthread_attr_t attr;
    pthread_t t;
    bool started = pthread_attr_init(&attr) == 0;
    if (started) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&t, &attr, cancel_in_background, r) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!started) { /* no thread: sent from here, as libpq sends it */
        r->refs = 1;
        PQcancel(own, err, sizeof err);
        cancel_done(server);
        cancel_req_drop(r);
        return;
    }
    pthread_mutex_lock(&r->lock);
    while (!r->done && pthread_cond_timedwait(&r->sent, &r->lock, until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&r->lock);
    cancel_req_drop(r);
}

/* The next result of the command being read (NULL after its last), as
 * PQgetResult, but with the statement timeout: when the deadline passes,
 * the statement is cancelled (its error then says so, see report_res), and
 * when the server answers neither within CANCEL_GRACE_MS the socket is
 * shut, so libpq reports the connection lost and nothing waits forever. */
static PGresult *next_result(pg_conn *c)
{
    while (c->timeout_ms && !c->gave_up && PQisBusy(c->h)) {
        int left = ms_left(&c->deadline);
        if (left == 0) {
            if (c->timed_out) {
                c->gave_up = true;
                shutdown(PQsocket(c->h), SHUT_RDWR);
                break;
            }
            c->timed_out = true;
            clock_gettime(CLOCK_MONOTONIC, &c->deadline);
            c->deadline.tv_sec += CANCEL_GRACE_MS / 1000;
            send_cancel(c, &c->deadline); /* the grace counts the request's wait */
            continue;
        }
        struct pollfd p = {PQsocket(c->h), POLLIN, 0};
        int n = poll(&p, 1, left);
        if (n < 0 && errno != EINTR)
            break; /* PQgetResult will find what is wrong */
        if (n > 0 && !PQconsumeInput(c->h))
            break;
    }
    return PQgetResult(c->h);
}

/* The outcome of a command just sent (`sent` is the PQsend* call's
 * result), as PQexec gives it: the last result, or the first error. */
static PGresult *collect(pg_conn *c, int sent)
{
    if (!sent)
        return NULL;
    arm(c);
    c->copy_refused = false;
    PGresult *last = NULL, *r;
    while ((r = next_result(c)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            /* COPY ... FROM STDIN / TO STDOUT needs the copy protocol:
             * end it (libpq would hand out copy results forever), then
             * report it as not supported. */
            PQclear(r);
            c->copy_refused = true;
            if (st == PGRES_COPY_OUT) {
                char *buf;
                while (PQgetCopyData(c->h, &buf, 0) > 0)
                    PQfreemem(buf);
            } else if (PQputCopyEnd(c->h, "COPY is not supported by strata") < 0) {
                break;
            }
            continue;
        }
        if (last && PQresultStatus(last) == PGRES_FATAL_ERROR) {
            PQclear(r);
            continue;
        }
        PQclear(last);
        last = r;
        if (PQstatus(c->h) == CONNECTION_BAD)
            break;
    }
    if (c->copy_refused) {
        PQclear(last);
        last = PQmakeEmptyPGresult(c->h, PGRES_FATAL_ERROR); /* report_res says why */
    }
    return last;
}

static int pg_exec(strata_conn *conn, const char *sql);

/* "s" and 64 random bits in hex: unique among the clients of a server. */
static void random_prefix(char out[20])
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        r = (uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 30) ^ ((uint64_t)getpid() << 16) ^
            (uint64_t)(uintptr_t)out;
        r ^= r >> 33; /* mix (splitmix64's finalizer) */
        r *= 0xff51afd7ed558ccdULL;
        r ^= r >> 33;
    }
    snprintf(out, 20, "s%016" PRIx64, r);
}

static int pg_begin_mode(strata_conn *conn, int mode)
{
    return pg_exec(conn, mode == STRATA_TX_READ_ONLY  ? "BEGIN READ ONLY"
                         : mode == STRATA_TX_SNAPSHOT ? "BEGIN ISOLATION LEVEL REPEATABLE READ, "
                                                        "READ ONLY"
                                                      : "BEGIN");
}

/* Connect as PQconnectdbParams does (every host of the list in turn),
 * with messages that carry the server's SQLSTATE ("FATAL:  53300: ..."):
 * a connection that failed has no other way to give it.  Only without
 * connect_timeout: libpq enforces that in its own blocking loop alone. */
static int64_t monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* `until`: a monotonic time in ms past which the attempt is given up as
 * well (one host's share of the time), 0 for none. */
static PGconn *connect_with_sqlstate(const char *const *keys, const char *const *vals,
                                     bool *timed_out, int64_t until)
{
    *timed_out = false;
    PGconn *h = PQconnectStartParams(keys, vals, 1);
    if (!h || PQstatus(h) == CONNECTION_BAD)
        return h;
    PQsetErrorVerbosity(h, PQERRORS_VERBOSE);
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    while (ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED) {
        /* Bounded by a pool's acquire, when one opens it. */
        int left = strata_driver_open_time_left_ms();
        if (until) {
            int64_t share = until - monotonic_ms();
            share = share < 0 ? 0 : share;
            left = left < 0 || share < left ? (int)share : left;
        }
        struct pollfd p = {PQsocket(h), ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0};
        int ready = p.fd >= 0 && left != 0 ? poll(&p, 1, left) : left == 0 ? 0 : 1;
        if (ready == 0) {
            *timed_out = true;
            break;
        }
        if (ready < 0 && errno != EINTR)
            break;
        ps = PQconnectPoll(h);
    }
    PQsetErrorVerbosity(h, PQERRORS_DEFAULT);
    return h;
}

/* The SQLSTATE of a failed connection: the one the server gave in the
 * verbose message ("FATAL:  3D000: ..."), which is taken out of `msg`
 * together with the LOCATION lines; else one read from the usual English
 * text; else 08001. */
static void open_failure_state(char *msg, char state[6])
{
    bool found = false;
    for (char *p = msg; (p = strstr(p, "FATAL:  ")) != NULL; p++) {
        char *s = p + 8;
        size_t n = 0;
        while (n < 5 && ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'A' && s[n] <= 'Z')))
            n++;
        if (n == 5 && s[5] == ':' && s[6] == ' ') {
            if (!found)
                memcpy(state, s, 5), state[5] = '\0';
            found = true;
            memmove(s, s + 7, strlen(s + 7) + 1);
        }
    }
    for (char *l; (l = strstr(msg, "LOCATION:")) != NULL;) {
        char *end = strchr(l, '\n');
        memmove(l, end ? end + 1 : l + strlen(l), strlen(end ? end + 1 : l + strlen(l)) + 1);
    }
    if (found)
        return;
    static const struct {
        const char *text, *state;
    } known[] = {
        {"too many clients already", "53300"},
        {"too many connections for", "53300"},
        {"remaining connection slots are reserved", "53300"},
        {"does not exist", "3D000"}, /* checked after "role": see below */
        {"password authentication failed", "28P01"},
        {"no pg_hba.conf entry", "28000"},
        {"the database system is starting up", "57P03"},
        {"the database system is shutting down", "57P03"},
    };
    if (strstr(msg, "role \"") && strstr(msg, "does not exist")) {
        memcpy(state, "28000", 6);
        return;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strstr(msg, known[i].text)) {
            memcpy(state, known[i].state, 6);
            return;
        }
}

/* The URL with libpq's scheme and without strata's own parameters
 * (prepared_statements), which libpq does not know.  Caller frees. */
static char *libpq_target(const char *url)
{
    /* libpq takes postgresql:// whatever scheme chose this driver. */
    const char *rest = strstr(url, "://");
    char *out = malloc(strlen("postgresql") + strlen(rest ? rest : url) + 1);
    if (out)
        strcat(strcpy(out, "postgresql"), rest ? rest : url);
    char *q = out ? strchr(out, '?') : NULL;
    if (!q)
        return out;
    char *w = q + 1, *r = q + 1;
    while (*r) {
        size_t len = strcspn(r, "&");
        bool ours = !strncmp(r, "prepared_statements=", 20);
        if (!ours) {
            if (w != q + 1)
                *w++ = '&';
            memmove(w, r, len);
            w += len;
        }
        r += len + (r[len] == '&');
    }
    *w = '\0';
    if (w == q + 1)
        *q = '\0';
    return out;
}

/* The URL's list of hosts: libpq tries each in turn, but without
 * connect_timeout nothing moves it past one that never answers, and a
 * pool's deadline would give up on the whole list there. */
static const char *const host_keys[3] = {"host", "hostaddr", "port"};
typedef struct host_list {
    char *list[3]; /* the URL's host, hostaddr and port (NULL: not given) */
    int n;         /* hosts */
    bool whole;    /* libpq must see the whole list: it picks the order
                      (load_balance_hosts) or goes through it twice
                      (target_session_attrs=prefer-standby) */
    bool nomem;
} host_list;

/* Element i of comma-separated `list` into out (a list of one serves
 * every host); false when it is empty or too long. */
static bool list_item(const char *list, int i, char *out, size_t cap)
{
    if (!strchr(list, ','))
        i = 0;
    for (; i > 0 && list; i--)
        if ((list = strchr(list, ',')))
            list++;
    size_t n = list ? strcspn(list, ",") : 0;
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, list, n);
    out[n] = '\0';
    return true;
}

/* Whether strata should try hl's hosts one at a time, each with its share
 * of a pool's deadline: several hosts, every one named, libpq's order. */
static bool hosts_one_by_one(host_list *hl)
{
    if (hl->whole || strata_driver_open_time_left_ms() <= 0)
        return false;
    hl->n = 1;
    for (int k = 0; k < 2; k++) {
        int n = 1;
        for (const char *v = hl->list[k]; v && *v; v++)
            n += *v == ',';
        hl->n = n > hl->n ? n : hl->n;
    }
    char item[256];
    for (int i = 0; i < hl->n && hl->n > 1; i++)
        for (int k = 0; k < 3; k++)
            if (hl->list[k] && !list_item(hl->list[k], i, item, sizeof item))
                return false;
    return hl->n > 1;
}

/* Connect to each of hl's hosts in turn, until one takes the connection,
 * each given its share of the time left; the connection, or NULL with
 * *tried the failures (malloc'ed; NULL when out of memory, *timed_out
 * when the time was up before any host answered). */
static PGconn *connect_each_host(const host_list *hl, const char *target, bool *timed_out,
                                 char **tried)
{
    size_t cap = 1024, len = 0;
    char *why = malloc(cap);
    *timed_out = false;
    for (int i = 0; i < hl->n && why; i++) {
        char line[700];
        const char *add = line;
        int left = strata_driver_open_time_left_ms();
        PGconn *h = NULL;
        char items[3][256];
        const char *keys[8] = {"fallback_application_name", "client_encoding", "dbname"};
        const char *vals[8] = {"strata", "UTF8", target};
        const char *at[3] = {"", "", ""}; /* the host's name or address, and port, for messages */
        int nk = 3;
        for (int k = 0; k < 3; k++)
            if (hl->list[k] && list_item(hl->list[k], i, items[k], sizeof items[k])) {
                keys[nk] = host_keys[k];
                vals[nk++] = at[k] = items[k];
            }
        keys[nk] = vals[nk] = NULL;
        char name[560];
        snprintf(name, sizeof name, "host %d of %d (%s%s%s)", i + 1, hl->n,
                 at[0][0]   ? at[0]
                 : at[1][0] ? at[1]
                            : "the default",
                 at[2][0] ? ", port " : "", at[2]);
        if (left == 0) {
            *timed_out = true;
            snprintf(line, sizeof line, "no time left for %s\n", name);
        } else {
            bool late = false;
            h = connect_with_sqlstate(keys, vals, &late, monotonic_ms() + left / (hl->n - i));
            if (h && PQstatus(h) == CONNECTION_OK) {
                *timed_out = false;
                free(why);
                return h;
            }
            *timed_out = late;
            snprintf(line, sizeof line,
                     "%s: no answer within its share of the pool's acquire timeout\n", name);
            if (!late)
                add = h ? PQerrorMessage(h) : "out of memory\n";
        }
        size_t n = strlen(add);
        if (len + n + 1 > cap) {
            char *more = realloc(why, (cap = (len + n + 1) * 2));
            if (!more)
                free(why);
            why = more;
        }
        if (why) {
            memcpy(why + len, add, n + 1);
            len += n;
        }
        PQfinish(h);
        if (left == 0)
            break;
    }
    *tried = why;
    return NULL;
}

/* Whether the session's time zone is UTC already, or is the program's
 * own choice (the URL's options, PGOPTIONS, PGTZ): else strata sets UTC, the zone
 * SQLite computes every time in, so that CURRENT_DATE, a timestamptz's
 * text and a time without a zone bound to one mean the same moment on
 * both engines whatever the server's or the database's default. */
static bool utc_already(PGconn *h, const strata_url *url)
{
    static const char *const utc[] = {"UTC",       "Etc/UTC",       "GMT",       "Etc/GMT",
                                      "UCT",       "Etc/UCT",       "Zulu",      "Etc/Zulu",
                                      "Universal", "Etc/Universal", "Greenwich", "Etc/Greenwich",
                                      "GMT0",      "Etc/GMT0",      "Etc/GMT+0", "Etc/GMT-0"};
    const char *tz = PQparameterStatus(h, "TimeZone");
    for (size_t i = 0; tz && i < sizeof utc / sizeof *utc; i++)
        if (strcmp(tz, utc[i]) == 0)
            return true;
    const char *const chosen[] = {strata_url_param(url, "options"), getenv("PGOPTIONS")};
    for (size_t i = 0; i < 2; i++)
        for (const char *p = chosen[i]; p && *p; p++)
            if (strncasecmp(p, "timezone", 8) == 0)
                return true;
    const char *env = getenv("PGTZ");
    return env && *env;
}

static int pg_open(strata_conn **out, strata_db *db, const strata_url *url)
{
    *out = NULL;
    char missing[512];
    if (!strata__libpq_load(missing, sizeof missing))
        return strata_driver_error(db, STRATA_E_UNSUPPORTED, NULL, 0, "%s", missing);
    bool unnamed = false;
    const char *ps = strata_url_param(url, "prepared_statements");
    if (ps) {
        static const char *const off[] = {"false", "0", "off", "no"};
        static const char *const on[] = {"true", "1", "on", "yes"};
        bool known = false;
        for (size_t i = 0; i < 4; i++) {
            if (!strcasecmp(ps, off[i]))
                unnamed = known = true;
            if (!strcasecmp(ps, on[i]))
                known = true;
        }
        if (!known)
            return strata_driver_error(db, STRATA_E_URL, NULL, 0,
                                       "invalid database URL \"%s\": prepared_statements=%s, "
                                       "expected true or false",
                                       strata_url_redacted(url), ps);
    }
    char *target = libpq_target(strata_driver_url_target(url));
    if (!target)
        return strata_driver_error(db, STRATA_E_NOMEM, "53200", 0, "out of memory");
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(target, &err);
    if (!opts) {
        int rc = strata_driver_error(db, err ? STRATA_E_URL : STRATA_E_NOMEM, NULL, 0,
                                     "invalid database URL \"%s\": %s", strata_url_redacted(url),
                                     err ? err : "out of memory");
        PQfreemem(err);
        free(target);
        return rc;
    }
    bool timeout = false;
    host_list hl = {0};
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (!strcmp(o->keyword, "connect_timeout"))
            timeout = true;
        hl.whole =
            hl.whole || (!strcmp(o->keyword, "load_balance_hosts") && strcmp(o->val, "disable")) ||
            (!strcmp(o->keyword, "target_session_attrs") && !strcmp(o->val, "prefer-standby"));
        for (int k = 0; k < 3; k++)
            if (!strcmp(o->keyword, host_keys[k]))
                hl.list[k] = strdup(o->val), hl.nomem = hl.nomem || !hl.list[k];
    }
    PQconninfoFree(opts);

    pg_conn *c = calloc(1, sizeof *c);
    if (!c) {
        for (int k = 0; k < 3; k++)
            free(hl.list[k]);
        free(target);
        return strata_driver_error(db, STRATA_E_NOMEM, "53200", 0, "out of memory");
    }
    c->base.db = db;
    c->unnamed = unnamed;
    random_prefix(c->name_prefix);
    /* Later entries win, so the URL's own settings override these. */
    const char *const keys[] = {"fallback_application_name", "client_encoding", "dbname", NULL};
    const char *const vals[] = {"strata", "UTF8", target, NULL};
    bool timed_out = false;
    char *tried = NULL; /* the failures of each host, tried one at a time */
    if (!timeout && !hl.nomem && hosts_one_by_one(&hl))
        c->h = connect_each_host(&hl, target, &timed_out, &tried);
    else
        c->h = timeout ? PQconnectdbParams(keys, vals, 1)
                       : connect_with_sqlstate(keys, vals, &timed_out, 0);
    for (int k = 0; k < 3; k++)
        free(hl.list[k]);
    free(target);
    if (timed_out && !tried) {
        int rc = strata_driver_error(db, STRATA_E_CONNECT, "08001", 0,
                                     "could not connect to \"%s\": no answer within the pool's "
                                     "acquire timeout (connect_timeout in the URL bounds each "
                                     "host's attempt)",
                                     strata_url_redacted(url));
        PQfinish(c->h);
        free(c);
        return rc;
    }
    if (!c->h || PQstatus(c->h) != CONNECTION_OK) {
        char state[6] = "08001";
        char *why = tried ? tried : strdup(c->h ? PQerrorMessage(c->h) : "out of memory");
        if (why)
            open_failure_state(why, state);
        int code = !c->h && !tried ? STRATA_E_NOMEM : classify(state, 0, why);
        if (code != STRATA_E_TOO_MANY_CONNECTIONS && code != STRATA_E_NOMEM)
            code = STRATA_E_CONNECT;
        int rc = strata_driver_error(db, code, state, 0, "could not connect to \"%s\": %s",
                                     strata_url_redacted(url), why ? why : "out of memory");
        free(why);
        PQfinish(c->h);
        free(c);
        return rc;
    }
    PQsetNoticeReceiver(c->h, pg_notice, c);
    c->cancel = PQgetCancel(c->h);
    const char *ds = PQparameterStatus(c->h, "DateStyle");
    int rc = STRATA_OK;
    if (!ds || strncmp(ds, "ISO", 3) != 0)
        rc = pg_exec(&c->base, "SET DateStyle TO ISO");
    if (rc == STRATA_OK && !utc_already(c->h, url))
        rc = pg_exec(&c->base, "SET TimeZone TO 'UTC'");
    if (rc != STRATA_OK) {
        PQfreeCancel(c->cancel);
        PQfinish(c->h);
        free(c);
        return rc;
    }
    *out = &c->base;
    return STRATA_OK;
}

static void pg_close(strata_conn *conn)
{
    pg_conn *c = (pg_conn *)conn;
    free(c->orphans);
    PQfreeCancel(c->cancel);
    PQfinish(c->h);
    free(c);
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY;
}

/* ---- a command deferred to the next one's round trip ---------------------------- */

/* The deferred command taken off the connection, into `sql`; false when
 * there is none. */
static bool take_deferred(pg_conn *c, char sql[sizeof c->deferred])
{
    if (!c->deferred[0])
        return false;
    memcpy(sql, c->deferred, sizeof c->deferred);
    c->deferred[0] = '\0';
    return true;
}

/* Whether the server ended the connection before what is about to be sent
 * (shut down, or the backend terminated: its FATAL and the end of the
 * stream wait unread, read now; a FATAL between commands comes as a
 * notice).  Then nothing of it reaches the server, and no transaction is
 * open there (ended_first).  `idle_only`: asked only outside a
 * transaction, where a loss must say whether a statement committed
 * itself (inside one, a loss is the transaction's either way). */
static bool ended_unsent(pg_conn *c, bool idle_only)
{
    if (idle_only && PQtransactionStatus(c->h) != PQTRANS_IDLE && PQstatus(c->h) != CONNECTION_BAD)
        return false;
    if (PQstatus(c->h) != CONNECTION_BAD && PQconsumeInput(c->h))
        (void)PQisBusy(c->h);
    if (!c->fatal[0] && PQstatus(c->h) != CONNECTION_BAD)
        return false;
    c->ended_first = true;
    return true;
}

static int report_unsent(pg_conn *c, const char *what)
{
    return strata_driver_error(c->base.db, STRATA_E_CONNECTION_LOST, "08006", 0,
                               "connection to PostgreSQL lost before %s was sent: nothing of it "
                               "ran (%s)",
                               what, c->fatal[0] ? c->fatal : PQerrorMessage(c->h));
}

/* Run SQL text without parameters and wait for its outcome.  A COMMIT of
 * a transaction that had failed answers "ROLLBACK", not an error: it is
 * made one, as strata_db_commit makes it, so that raw SQL too never takes
 * lost work for saved. */
static int run_simple(pg_conn *c, const char *sql)
{
    if (ended_unsent(c, true))
        return report_unsent(c, "the statement");
    PGresult *res = collect(c, PQsendQuery(c->h, sql));
    if (!res || !result_ok(res))
        return report_res(c, res);
    bool rolled_back = !strcmp(PQcmdStatus(res), "ROLLBACK") && strata_driver_sql_is_commit(sql);
    PQclear(res);
    if (rolled_back)
        return strata_driver_error(c->base.db, STRATA_E_TX_ABORTED, "25P02", 0,
                                   "the transaction had failed earlier and was rolled back "
                                   "instead of committed");
    return STRATA_OK;
}

/* Run the deferred command now, on its own: for the commands that cannot
 * carry it (a prepare, a text of several statements, a streamed one). */
static int send_deferred(pg_conn *c)
{
    char sql[sizeof c->deferred];
    return take_deferred(c, sql) ? run_simple(c, sql) : STRATA_OK;
}

/* In a pipeline, the results of the deferred command, sent first, up to
 * the NULL that ends them: rc, or its error when rc is STRATA_OK. */
static int read_deferred(pg_conn *c, int rc)
{
    PGresult *r;
    while ((r = next_result(c)) != NULL) {
        if (rc == STRATA_OK && !result_ok(r))
            rc = report_res(c, r); /* clears r */
        else
            PQclear(r);
        if (PQstatus(c->h) == CONNECTION_BAD)
            return rc == STRATA_OK ? report_res(c, NULL) : rc;
    }
    return rc;
}

static int pg_exec_with_next(strata_conn *conn, const char *sql)
{
    pg_conn *c = (pg_conn *)conn;
    int rc = send_deferred(c); /* one at a time */
    if (rc != STRATA_OK)
        return rc;
    if (strlen(sql) >= sizeof c->deferred)
        return pg_exec(conn, sql);
    strcpy(c->deferred, sql);
    return STRATA_OK;
}

static int pg_exec(strata_conn *conn, const char *sql)
{
    pg_conn *c = (pg_conn *)conn;
    int rc = send_deferred(c);
    return rc != STRATA_OK ? rc : run_simple(c, sql);
}

/* COMMIT of a transaction that had failed answers "ROLLBACK", not an error:
 * make it one, so a caller never believes lost work was saved. */
static int pg_commit(strata_conn *conn)
{
    pg_conn *c = (pg_conn *)conn;
    c->deferred[0] = '\0'; /* a savepoint the COMMIT would release at once */
    /* A server that ended the connection while the transaction sat idle
     * never gets the COMMIT: nothing was committed, and the transaction
     * may be run again. */
    if (ended_unsent(c, false))
        return report_unsent(c, "the COMMIT");
    PGresult *res = collect(c, PQsendQuery(c->h, "COMMIT"));
    if (!res || !result_ok(res))
        return report_res(c, res);
    bool rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    PQclear(res);
    if (rolled_back)
        return strata_driver_error(conn->db, STRATA_E_TX_ABORTED, "25P02", 0,
                                   "the transaction had failed earlier and was rolled back "
                                   "instead of committed");
    return STRATA_OK;
}

static int pg_rollback(strata_conn *conn)
{
    pg_conn *c = (pg_conn *)conn;
    c->deferred[0] = '\0'; /* a savepoint the ROLLBACK would undo at once */
    return pg_exec(conn, "ROLLBACK");
}

/* ---- statements -------------------------------------------------------------------------- */

/* Deallocate the statements let go of in a transaction, once none is
 * open (at the next prepare, finalize or execution): a failure then (the
 * server lost them some other way) aborts nothing. */
static void release_orphans(pg_conn *c)
{
    if (!c->norphans || PQstatus(c->h) != CONNECTION_OK ||
        PQtransactionStatus(c->h) != PQTRANS_IDLE)
        return;
    for (size_t i = 0; i < c->norphans; i++) {
        char sql[80];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", c->orphans[i]);
        PQclear(collect(c, PQsendQuery(c->h, sql)));
    }
    c->norphans = 0;
}

/* Statement `name`, to deallocate once the aborted transaction is over.
 * Without the memory to note it, it stays on the server until the
 * connection closes, as before. */
static void orphan_add(pg_conn *c, const char *name)
{
    if (c->norphans == c->orphans_cap) {
        size_t cap = c->orphans_cap ? c->orphans_cap * 2 : 8;
        void *more = realloc(c->orphans, cap * sizeof *c->orphans);
        if (!more)
            return;
        c->orphans = more;
        c->orphans_cap = cap;
    }
    snprintf(c->orphans[c->norphans++], sizeof c->orphans[0], "%s", name);
}

/* Deallocate statement `name` at once or, inside a transaction, once
 * it is over: an aborted transaction refuses a DEALLOCATE, and in any
 * other one a DEALLOCATE the server fails (the program ran DEALLOCATE
 * ALL there) would abort it.  Outside a transaction its failure is
 * ignored: the server no longer holds the statement. */
static void let_go(pg_conn *c, const char *name)
{
    if (PQstatus(c->h) != CONNECTION_OK)
        return;
    if (PQtransactionStatus(c->h) != PQTRANS_IDLE) {
        orphan_add(c, name);
    } else {
        char sql[80];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", name);
        PQclear(collect(c, PQsendQuery(c->h, sql)));
    }
}

/* The next name for st's twin: its name, a "b" (no other name has one)
 * and a count, so that a twin is never prepared under the name of one
 * the server may still hold. */
static void name_twin(pg_stmt *st)
{
    snprintf(st->twin, sizeof st->twin, "%sb%u", st->name, ++st->twin_gen);
}

/* Let go of st's twin (let_go), and name the next one afresh. */
static void drop_twin(pg_conn *c, pg_stmt *st)
{
    if (st->twin_types)
        let_go(c, st->twin);
    free(st->twin_types);
    st->twin_types = NULL;
    name_twin(st);
}

static int pg_prepare(strata_backend_stmt **out, strata_conn *conn, const char *sql, int nparams)
{
    pg_conn *c = (pg_conn *)conn;
    *out = NULL;
    release_orphans(c);
    /* Before the Parse: a statement that fails to prepare inside the
     * transaction aborts it, and the savepoint must be there to undo that. */
    int rc = send_deferred(c);
    if (rc != STRATA_OK)
        return rc;
    pg_stmt *st = calloc(1, sizeof *st);
    if (st && nparams > 0)
        st->text = calloc((size_t)nparams, sizeof *st->text);
    if (!st || (nparams > 0 && !st->text)) {
        free(st);
        return strata_driver_error(conn->db, STRATA_E_NOMEM, "53200", 0, "out of memory");
    }
    if (c->unnamed)
        st->name[0] = '\0';
    else
        snprintf(st->name, sizeof st->name, "%s_%u", c->name_prefix, ++c->next_id);
    name_twin(st);
    if (!(st->sql = strdup(sql))) {
        free(st->text);
        free(st);
        return strata_driver_error(conn->db, STRATA_E_NOMEM, "53200", 0, "out of memory");
    }
    PGresult *res = collect(c, PQsendPrepare(c->h, st->name, sql, nparams, NULL));
    if (!res || !result_ok(res)) {
        free(st->sql);
        free(st->text);
        free(st);
        return report_res(c, res);
    }
    PQclear(res);
    st->on_server = true;
    st->epoch = c->plan_epoch;
    st->base.conn = conn;
    st->base.nparams = nparams;
    *out = &st->base;
    return STRATA_OK;
}

static void clear_row(pg_stmt *st)
{
    for (int i = 0; st->unescaped && i < st->ncols_alloc; i++) {
        PQfreemem(st->bytea[i]);
        st->bytea[i] = NULL;
    }
    st->unescaped = false;
}

/* Read and drop what a streamed execution has left, so the connection is
 * free for the next command. */
static void drain(pg_stmt *st)
{
    if (!st->busy)
        return;
    pg_conn *c = (pg_conn *)st->base.conn;
    PGresult *r;
    while ((r = next_result(c)) != NULL)
        PQclear(r);
    st->busy = false;
}

static int pg_reset(strata_backend_stmt *bst)
{
    pg_stmt *st = (pg_stmt *)bst;
    clear_row(st);
    PQclear(st->res);
    st->res = NULL;
    st->row = 0;
    drain(st);
    return STRATA_OK;
}

static int pg_set_streaming(strata_backend_stmt *bst, int on)
{
    ((pg_stmt *)bst)->stream = on != 0;
    return STRATA_OK;
}

static int row_shape(pg_stmt *st, const PGresult *r);
static bool is_dml(const char *status);

/* A schema change since PQprepare altered the statement's result columns
 * (0A000, "cached plan must not change result type"): the server refuses
 * every execution of it until it is prepared again.  Known by the server
 * function that raises it, whose name no locale translates; by the
 * message where the server does not say. */
static bool plan_changed(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!state || strcmp(state, "0A000") != 0)
        return false;
    const char *fn = PQresultErrorField(res, PG_DIAG_SOURCE_FUNCTION);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    return fn ? strcmp(fn, "RevalidateCachedQuery") == 0
              : msg && strstr(msg, "cached plan must not change result type");
}

/* Whether sql runs a statement the program prepared itself (EXECUTE name):
 * a changed plan there is that statement's, which strata cannot prepare
 * again. */
static bool runs_prepared(const char *sql)
{
    while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r' || *sql == '(')
        sql++;
    return strncasecmp(sql, "EXECUTE", 7) == 0 && !isalnum((unsigned char)sql[7]) && sql[7] != '_';
}

/* Whether failure res comes from the server analysing statement st
 * again, with the parameter types its preparation fixed, and failing on
 * them: a text expression into an integer column (42804), no operator
 * for integer = text (42883), no cast (42846), no single function
 * (42725), after the column a parameter fills or is compared with
 * changed type.  The server analyses a prepared query again when a
 * schema change invalidated its plan, and refuses it so at each run
 * until it is prepared again.  Such an error points into the statement's
 * text and has no context; the same SQLSTATE raised while the statement
 * runs (by a function it calls) has a context and no position in it.
 * A command the server analyses only when it runs (CREATE VIEW, a
 * DEFAULT, COPY (query)) fails so at every run too, but takes no
 * parameter: only a statement with parameters is taken.  A missing table
 * or column fails a new preparation just the same: not these. */
static bool stale_types(const pg_stmt *st, const PGresult *res)
{
    static const char *const states[] = {"42804", "42883", "42846", "42725"};
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (st->base.nparams == 0 || !state || !PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) ||
        PQresultErrorField(res, PG_DIAG_CONTEXT))
        return false;
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        if (!strcmp(state, states[i]))
            return true;
    return false;
}

/* Whether failure res of st's execution is the server refusing a plan a
 * schema change made stale, which preparing the statement again cures: a
 * changed result (plan_changed) or stale parameter types (stale_types).
 * Either comes before the statement does anything.  Not on unnamed
 * statements (pgbouncer) or an execution sent with its types, which the
 * server analysed for itself, nor on a statement the program prepared
 * itself and runs with EXECUTE, which strata cannot prepare. */
static bool stale_refusal(const pg_conn *c, const pg_stmt *st, const PGresult *res)
{
    if (c->unnamed || st->typed || !res || PQstatus(c->h) == CONNECTION_BAD ||
        runs_prepared(st->sql))
        return false;
    return plan_changed(res) || stale_types(st, res);
}

/* Whether failure res is a bound value the server could not convert to
 * the type st's preparation fixed for its parameter ("value 3000000000
 * is out of range for type integer", "invalid input syntax for type
 * integer"): no position in the text, a context naming the parameter.
 * A column widened since (integer to bigint, to text) leaves the old
 * type there, and a value only the new type holds is refused at every
 * run; a value wrong for the column is refused the same way.  Only a new
 * preparation tells the two apart (types_changed). */
static bool param_refused(const pg_conn *c, const pg_stmt *st, const PGresult *res)
{
    static const char *const states[] = {"22003", "22P02"};
    if (c->unnamed || st->typed || st->base.nparams == 0 || !res ||
        PQstatus(c->h) == CONNECTION_BAD || runs_prepared(st->sql))
        return false;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!state || PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) ||
        !PQresultErrorField(res, PG_DIAG_CONTEXT))
        return false;
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        if (!strcmp(state, states[i]))
            return true;
    return false;
}

/* Whether preparing st's text now gives its parameters other types than
 * its preparation did: a schema change since made them stale.  Outside a
 * transaction only (it prepares the unnamed statement); false when it
 * cannot tell. */
static PGresult *describe_unnamed(pg_conn *c, pg_stmt *st);

static bool types_changed(pg_conn *c, pg_stmt *st)
{
    int n = st->base.nparams;
    PGresult *old = collect(c, PQsendDescribePrepared(c->h, st->name));
    PGresult *now = old && result_ok(old) ? describe_unnamed(c, st) : NULL;
    bool changed = false;
    if (now && result_ok(now) && PQnparams(old) == n && PQnparams(now) == n)
        for (int i = 0; i < n && !changed; i++)
            changed = PQparamtype(old, i) != PQparamtype(now, i);
    PQclear(old);
    PQclear(now);
    return changed;
}

/* Whether failure res of st's execution, outside a transaction, is one
 * that preparing st again cures: a stale plan, or a bound value refused
 * by a parameter type a schema change made stale. */
static bool stale_outside(pg_conn *c, pg_stmt *st, const PGresult *res)
{
    if (PQtransactionStatus(c->h) != PQTRANS_IDLE)
        return false;
    return stale_refusal(c, st, res) || (param_refused(c, st, res) && types_changed(c, st));
}

/* Whether execution failure res is the server no longer knowing st's
 * prepared statement (or its twin, whose name begins with st's): the
 * program ran DISCARD ALL or DEALLOCATE ALL on the connection, or a
 * pooler gave it to another client.  Not a statement the program
 * prepared itself and runs with EXECUTE. */
static bool statement_gone(const pg_conn *c, const pg_stmt *st, const PGresult *res)
{
    if (c->unnamed || !res || PQstatus(c->h) == CONNECTION_BAD)
        return false;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    char quoted[44];
    snprintf(quoted, sizeof quoted, "\"%s", st->name);
    return state && !strcmp(state, "26000") && primary && strstr(primary, quoted);
}

/* The server lost statements of this connection: each is prepared again
 * before it next runs, under a new name (replan).  The old one is
 * deallocated all the same: the server still holds one prepared after
 * the loss. */
static void note_gone(pg_conn *c) { c->plan_epoch++; }

/* Report the failure `res` of one of st's executions.
 * A stale plan moves the connection's count, so that every statement it
 * holds is prepared again before it next runs, and is reported as
 * STRATA_E_STALE_STATEMENT: the run failed once and will work again. */
static int report_exec(pg_conn *c, pg_stmt *st, PGresult *res)
{
    /* Inside a transaction a refused value cannot be told from a stale
     * type (the transaction is aborted): the statement is prepared again
     * before it next runs, which costs one preparation if the value was
     * wrong, and cures it if the type was stale. */
    if (PQtransactionStatus(c->h) != PQTRANS_IDLE && param_refused(c, st, res))
        st->suspect = true;
    /* Sent with its types, the execution was analysed for itself: a type
     * it cannot use that names bytea (type names are not translated) is
     * the blob's, a bound value of the wrong type. */
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (st->typed && PQstatus(c->h) != CONNECTION_BAD && stale_types(st, res) && primary &&
        strstr(primary, "bytea"))
        return report_note(c, res, STRATA_E_DATA,
                           ": a blob parameter is sent as a bytea; bind one only where the "
                           "statement takes a bytea");
    PGTransactionStatusType tx = PQtransactionStatus(c->h);
    const char *again = tx == PQTRANS_IDLE ? "run it again"
                        : tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR
                            ? STRATA_DRIVER_SAY_ROLL_BACK
                            : "run it again, after a rollback in a transaction (strata_pool_run "
                              "does)";
    if (statement_gone(c, st, res)) {
        note_gone(c);
        /* Outside a transaction it was prepared again and run once more
         * (pg_step, stream_row), and the server lost it again: a pooler
         * in transaction mode, which the message names. */
        if (tx == PQTRANS_IDLE)
            return report_res(c, res);
        int rc = strata_driver_error(
            c->base.db, STRATA_E_STALE_STATEMENT, "26000", 0,
            "%s: the server no longer holds the connection's prepared statements (DISCARD ALL "
            "or DEALLOCATE ALL ran on it; or a connection pooler in transaction mode gave it to "
            "another client: then add prepared_statements=false to the URL); strata prepares "
            "them again before they next run: %s",
            primary, again);
        PQclear(res);
        return rc;
    }
    if (!stale_refusal(c, st, res))
        return report_res(c, res);
    c->plan_epoch++;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    int rc = strata_driver_error(
        c->base.db, STRATA_E_STALE_STATEMENT, state, 0,
        "%s: %s; strata prepares the connection's statements again before they next run: %s",
        primary ? primary : "cached plan must not change result type",
        plan_changed(res) ? "a schema change altered the statement's result since it was prepared"
                          : "a schema change since the statement was prepared changed the type "
                            "of a column one of its parameters meets",
        again);
    PQclear(res);
    return rc;
}

/* Whether st must be prepared again before it runs: a stale plan was met
 * on the connection since st was prepared, or a DEALLOCATE took it. */
static bool needs_replan(const pg_conn *c, const pg_stmt *st)
{
    return !c->unnamed && (st->epoch != c->plan_epoch || !st->on_server || st->suspect);
}

/* stream_row's answer when the server refused a stale plan outside a
 * transaction: not reported, for the caller to prepare the statement
 * again and send it again. */
enum { STREAM_STALE = -1 };

/* One row of a streamed execution: each PQgetResult gives a result of one
 * row (PGRES_SINGLE_TUPLE) until the final, empty PGRES_TUPLES_OK.
 * `first`: the execution's first row is asked, so none was delivered. */
static int stream_row(pg_stmt *st, bool first)
{
    pg_conn *c = (pg_conn *)st->base.conn;
    clear_row(st);
    PQclear(st->res);
    st->res = NULL;
    st->row = 0;
    PGresult *r = next_result(c);
    if (r && PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
        st->res = r;
        return row_shape(st, r) == STRATA_OK ? STRATA_ROW : STRATA_E_NOMEM;
    }
    if (r && result_ok(r)) {
        st->changes = is_dml(PQcmdStatus(r)) ? strtoll(PQcmdTuples(r), NULL, 10) : 0;
        PQclear(r);
        drain(st);
        return STRATA_DONE;
    }
    drain(st); /* to the end of the command: the transaction's state is known */
    if (first && PQtransactionStatus(c->h) == PQTRANS_IDLE && statement_gone(c, st, r)) {
        note_gone(c);
        PQclear(r);
        return STREAM_STALE;
    }
    if (first && stale_outside(c, st, r)) {
        c->plan_epoch++;
        PQclear(r);
        return STREAM_STALE;
    }
    return report_exec(c, st, r); /* clears r */
}

static int stream_next(pg_stmt *st) { return stream_row(st, false); }

/* v in decimal into t (at least 21 bytes), as "%" PRId64 writes it:
 * every integer parameter passes here, and snprintf costs twenty times
 * as much. */
static void format_int64(char *t, int64_t v)
{
    char digits[20];
    int n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v; /* INT64_MIN too */
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *t++ = '-';
    while (n > 0)
        *t++ = digits[--n];
    *t = '\0';
}

/* One execution's parameters as libpq takes them, in arrays of their own
 * for more than a few.  `typed`: a blob is among them, and `types` says
 * which (bytea, the others 0: inferred). */
typedef struct pg_params {
    const char **values;
    int *lengths, *formats;
    Oid *types;
    bool typed;
    const char *small_values[8];
    int small_lengths[8], small_formats[8];
    Oid small_types[8];
} pg_params;

static void params_free(pg_params *p)
{
    if (p->values != p->small_values) {
        free(p->values);
        free(p->lengths);
        free(p->formats);
        free(p->types);
    }
}

static int params_init(pg_params *p, strata_db *db, int n)
{
    p->typed = false;
    p->values = p->small_values;
    p->lengths = p->small_lengths;
    p->formats = p->small_formats;
    p->types = p->small_types;
    if (n <= 8)
        return STRATA_OK;
    p->values = malloc((size_t)n * sizeof *p->values);
    p->lengths = malloc((size_t)n * sizeof *p->lengths);
    p->formats = malloc((size_t)n * sizeof *p->formats);
    p->types = malloc((size_t)n * sizeof *p->types);
    if (p->values && p->lengths && p->formats && p->types)
        return STRATA_OK;
    params_free(p);
    p->values = p->small_values; /* freed: a second params_free does nothing */
    return strata_driver_error(db, STRATA_E_NOMEM, "53200", 0, "out of memory");
}

/* A double as the fewest digits that read back as it (12.3, not
 * 12.300000000000001): what SQLite's driver and strata's numerics write,
 * so that a double bound into a numeric or text column gives the same
 * value on both engines. */
static void format_double(char *t, size_t size, double d)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(t, size, "%.*g", digits, d);
        if (digits == 17 || strtod(t, NULL) == d)
            return;
    }
}

static void format_params(pg_stmt *st, pg_params *p)
{
    const char **values = p->values;
    int *lengths = p->lengths, *formats = p->formats;
    p->typed = false;
    for (int i = 0; i < st->base.nparams; i++) {
        const strata_value *v = &st->base.params[i];
        char *t = st->text[i];
        lengths[i] = 0;
        formats[i] = 0;
        values[i] = t;
        p->types[i] = 0;
        switch (v->type) {
        case STRATA_TYPE_NULL: values[i] = NULL; break;
        case STRATA_TYPE_INT64: format_int64(t, v->u.i); break;
        case STRATA_TYPE_BOOL: strcpy(t, v->u.i ? "true" : "false"); break;
        case STRATA_TYPE_DOUBLE:
            if (v->u.d != v->u.d)
                snprintf(t, sizeof st->text[i], "NaN");
            else if (v->u.d > 1.7976931348623157e308)
                snprintf(t, sizeof st->text[i], "Infinity");
            else if (v->u.d < -1.7976931348623157e308)
                snprintf(t, sizeof st->text[i], "-Infinity");
            else
                format_double(t, sizeof st->text[i], v->u.d);
            break;
        case STRATA_TYPE_TIMESTAMP:
            strata_driver_format_timestamp(v->u.ts, t, sizeof st->text[i]);
            strcat(t, "+00");
            break;
        case STRATA_TYPE_TEXT:
            values[i] = v->u.buf.ptr; /* the core's copy is NUL-terminated */
            break;
        case STRATA_TYPE_BLOB:
            values[i] = v->u.buf.ptr;
            lengths[i] = (int)v->u.buf.len;
            formats[i] = 1;
            p->types[i] = BYTEAOID;
            p->typed = true;
            break;
        }
    }
}

/* Whether st has a twin prepared since the last schema change, and not
 * made stale since. */
static bool twin_fresh(const pg_conn *c, const pg_stmt *st)
{
    return st->twin_types && st->twin_ok && st->twin_epoch == c->plan_epoch;
}

/* Whether st's twin serves execution p: prepared with p's types, a
 * bytea where p binds a blob and inferred elsewhere.  Exactly those: a
 * NULL where the twin has a bytea would change what the server infers
 * for the other parameters and literals (`coalesce(?, '\x41')` would
 * read the literal as a bytea), so that execution goes by its text. */
static bool twin_ready(const pg_conn *c, const pg_stmt *st, const pg_params *p)
{
    return twin_fresh(c, st) &&
           !memcmp(st->twin_types, p->types, (size_t)st->base.nparams * sizeof *p->types);
}

/* Execution p's types, hashed, to tell one that misses the twin again. */
static uint64_t types_hash(const pg_stmt *st, const pg_params *p)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (int i = 0; i < st->base.nparams; i++)
        h = (h ^ p->types[i]) * 0x100000001b3u;
    return h;
}

/* Send one execution without waiting: by name, or by text when the
 * connection keeps no named statements.  The server is told that a blob
 * is a bytea: left to infer the parameter's type from the SQL, it would
 * read the bytes in that type's binary form (eight of them where a
 * bigint is expected make a number).  The named statement was prepared
 * without types, so that one serves every other binding; an execution
 * with a blob goes by its twin (twin_prepare) when it is ready, else by
 * its text with the types, parsed for itself. */
static int send_stmt(pg_conn *c, pg_stmt *st, const pg_params *p)
{
    int n = st->base.nparams;
    bool twin = p->typed && !c->unnamed && twin_ready(c, st, p);
    st->typed = p->typed && !twin;
    if (p->typed && st->typed_runs < 2)
        st->typed_runs++;
    if (twin)
        return PQsendQueryPrepared(c->h, st->twin, n, p->values, p->lengths, p->formats, 0);
    if (c->unnamed || p->typed)
        return PQsendQueryParams(c->h, st->sql, n, p->typed ? p->types : NULL, p->values,
                                 p->lengths, p->formats, 0);
    return PQsendQueryPrepared(c->h, st->name, n, p->values, p->lengths, p->formats, 0);
}

static int report_exec(pg_conn *c, pg_stmt *st, PGresult *res);

/* Before execution p, which binds a blob: prepare st's twin for p's
 * types when more than one execution will use it (one already did, or a
 * batch begins) and there is none, or a stale one, after the command
 * deferred to go first.  A fresh twin that does not fit p is replaced
 * when a batch begins, or when the execution before p missed it with
 * p's types too; otherwise it stays and p goes by its text, so that
 * executions whose types take turns do not prepare a twin each.  Not in
 * an aborted transaction, where the server refuses it (the execution
 * goes by its text, and is refused for the transaction).  A failure is
 * the execution's: the server refused the blob there, or the
 * statement. */
static int twin_prepare(pg_conn *c, pg_stmt *st, const pg_params *p, bool batch)
{
    int n = st->base.nparams;
    if (!p->typed || c->unnamed || (!batch && st->typed_runs < 1))
        return STRATA_OK;
    if (twin_fresh(c, st)) {
        bool fits = twin_ready(c, st, p),
             again = st->twin_missed && st->miss_types == types_hash(st, p);
        st->twin_missed = !fits;
        st->miss_types = fits ? 0 : types_hash(st, p);
        if (fits || (!batch && !again))
            return STRATA_OK;
    }
    if (PQtransactionStatus(c->h) == PQTRANS_INERROR)
        return STRATA_OK;
    Oid *types = malloc((size_t)n * sizeof *types);
    if (!types)
        return strata_driver_error(c->base.db, STRATA_E_NOMEM, "53200", 0, "out of memory");
    memcpy(types, p->types, (size_t)n * sizeof *types);
    int rc = send_deferred(c);
    if (rc != STRATA_OK) {
        free(types);
        return rc;
    }
    drop_twin(c, st);
    unsigned epoch = c->plan_epoch;
    PGresult *res = collect(c, PQsendPrepare(c->h, st->twin, st->sql, n, types));
    if (!res || !result_ok(res)) {
        free(types);
        st->typed = true; /* analysed with the blob's type: its refusal is the blob's */
        return report_exec(c, st, res);
    }
    PQclear(res);
    st->twin_types = types;
    st->twin_epoch = epoch;
    st->twin_ok = true;
    st->twin_missed = false;
    return STRATA_OK;
}

/* Before an execution of a statement a changed plan may have made stale:
 * PREPARE it again under a new name (after the command deferred to go
 * first), letting go of the old one and of its twin (let_go: inside a
 * transaction the program may have deallocated them, and a failed
 * DEALLOCATE would abort it).  In a transaction that is already aborted
 * the execution reports that, and this waits for the next one.  A
 * PREPARE that fails (the table gone) is the execution's failure; the
 * old name is not let go of twice. */
static int replan(pg_conn *c, pg_stmt *st)
{
    if (!needs_replan(c, st) || PQtransactionStatus(c->h) == PQTRANS_INERROR)
        return STRATA_OK;
    int rc = send_deferred(c);
    if (rc != STRATA_OK)
        return rc;
    if (st->on_server) {
        let_go(c, st->name);
        st->on_server = false;
        snprintf(st->name, sizeof st->name, "%s_%u", c->name_prefix, ++c->next_id);
        drop_twin(c, st);
    }
    PQclear(st->desc);
    st->desc = NULL;
    unsigned epoch = c->plan_epoch;
    PGresult *res = collect(c, PQsendPrepare(c->h, st->name, st->sql, st->base.nparams, NULL));
    if (!res || !result_ok(res))
        return report_res(c, res);
    PQclear(res);
    st->on_server = true;
    st->suspect = false;
    st->twin_ok = false; /* whatever made this one stale made the twin so */
    st->epoch = epoch;
    return STRATA_OK;
}

/* The deferred command and statement st's execution in one pipeline,
 * ended by one sync: *out is the execution's result, or NULL with the
 * error reported (the deferred command's, when it failed: the server
 * then skips the execution). */
static int run_after_deferred(pg_conn *c, pg_stmt *st, const pg_params *p, PGresult **out)
{
    char sql[sizeof c->deferred];
    *out = NULL;
    take_deferred(c, sql);
    if (!PQenterPipelineMode(c->h))
        return report_res(c, NULL);
    int rc = STRATA_OK;
    bool sent = PQsendQueryParams(c->h, sql, 0, NULL, NULL, NULL, NULL, 0);
    if (!sent || !send_stmt(c, st, p))
        rc = report_res(c, NULL);
    if (sent && !PQpipelineSync(c->h)) {
        /* Nothing would ever end the pipeline: the connection is lost. */
        PQexitPipelineMode(c->h);
        return strata_driver_error(c->base.db, STRATA_E_CONNECTION_LOST, "08006", 0,
                                   "could not end a pipeline: %s", PQerrorMessage(c->h));
    }
    if (sent) {
        arm(c);
        rc = read_deferred(c, rc);
        PGresult *r;
        while (PQstatus(c->h) != CONNECTION_BAD && (r = next_result(c)) != NULL) {
            if (rc != STRATA_OK || PQresultStatus(r) == PGRES_PIPELINE_ABORTED) {
                PQclear(r);
            } else if (!result_ok(r)) {
                rc = report_exec(c, st, r); /* clears r */
            } else {
                PQclear(*out);
                *out = r;
            }
        }
        if (PQstatus(c->h) != CONNECTION_BAD)
            PQclear(next_result(c)); /* PGRES_PIPELINE_SYNC */
        else if (rc == STRATA_OK)
            rc = report_res(c, NULL);
    }
    if (!PQexitPipelineMode(c->h) && rc == STRATA_OK)
        rc = report_res(c, NULL);
    if (rc != STRATA_OK) {
        PQclear(*out);
        *out = NULL;
    }
    return rc;
}

static bool is_dml(const char *status)
{
    return !strncmp(status, "INSERT", 6) || !strncmp(status, "UPDATE", 6) ||
           !strncmp(status, "DELETE", 6) || !strncmp(status, "MERGE", 5);
}

static int pg_step(strata_backend_stmt *bst)
{
    pg_stmt *st = (pg_stmt *)bst;
    pg_conn *c = (pg_conn *)bst->conn;
    if (st->busy)
        return stream_next(st);
    if (st->res) {
        clear_row(st);
        st->row++;
        return st->row < PQntuples(st->res) ? STRATA_ROW : STRATA_DONE;
    }
    if (ended_unsent(c, true))
        return report_unsent(c, "the statement");
    release_orphans(c);
    pg_params p;
    int rc = params_init(&p, bst->conn->db, bst->nparams);
    if (rc != STRATA_OK)
        return rc;
    format_params(st, &p);
    rc = replan(c, st);
    if (rc == STRATA_OK)
        rc = twin_prepare(c, st, &p, false);
    if (rc == STRATA_OK && st->stream)
        rc = send_deferred(c);
    /* A streamed execution refused for a stale plan outside a
     * transaction lost nothing either: no row was delivered, and it is
     * prepared again and sent again, once. */
    for (int attempt = 0; rc == STRATA_OK && st->stream; attempt++) {
        int sent = send_stmt(c, st, &p);
        arm(c);
        if (!sent || !PQsetSingleRowMode(c->h)) {
            if (sent)
                st->busy = true, drain(st);
            rc = report_res(c, NULL);
            break;
        }
        st->busy = true;
        rc = stream_row(st, attempt == 0);
        if (rc != STREAM_STALE || (rc = replan(c, st)) != STRATA_OK)
            break;
    }
    if (rc != STRATA_OK || st->stream) {
        params_free(&p);
        return rc;
    }
    PGresult *res = NULL;
    if (c->deferred[0]) {
        if ((rc = run_after_deferred(c, st, &p, &res)) != STRATA_OK) {
            params_free(&p);
            return rc;
        }
    } else {
        res = collect(c, send_stmt(c, st, &p));
    }
    /* Outside a transaction a stale plan, or statements the server lost,
     * lost nothing: the statement is prepared again and run again at
     * once. */
    bool gone = res && !result_ok(res) && PQtransactionStatus(c->h) == PQTRANS_IDLE &&
                statement_gone(c, st, res);
    if (gone)
        note_gone(c);
    if (res && !result_ok(res) && (gone || stale_outside(c, st, res))) {
        if (!gone)
            c->plan_epoch++;
        PQclear(res);
        res = NULL;
        rc = replan(c, st);
        if (rc == STRATA_OK)
            res = collect(c, send_stmt(c, st, &p));
    }
    params_free(&p);
    if (rc != STRATA_OK)
        return rc;
    if (!res || !result_ok(res))
        return report_exec(c, st, res);
    const char *status = PQcmdStatus(res);
    st->changes = is_dml(status) ? strtoll(PQcmdTuples(res), NULL, 10) : 0;
    st->res = res;
    st->row = 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
        return row_shape(st, res) == STRATA_OK ? STRATA_ROW : STRATA_E_NOMEM;
    return STRATA_DONE;
}

/* ---- pipelined executions ------------------------------------------------------- */

/* How many executions may be sent ahead of the one whose results are being
 * read: enough to keep the server busy, few enough that the results waiting
 * in libpq's buffer stay small. */
#define PIPELINE_WINDOW 64
_Static_assert(PIPELINE_WINDOW <= 64, "pg_execute_many keeps a bit of 64 for each execution");

/* Read execution i's results, up to the NULL that ends them, handing each
 * row to `row` while rc is still STRATA_OK.  Returns the new rc. */
static int pipe_read_one(pg_stmt *st, size_t i, int (*row)(void *, size_t), void *ctx, int rc)
{
    pg_conn *c = (pg_conn *)st->base.conn;
    PGresult *r;
    while ((r = next_result(c)) != NULL) {
        ExecStatusType status = PQresultStatus(r);
        if (status == PGRES_PIPELINE_ABORTED || rc != STRATA_OK) {
            PQclear(r);
        } else if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
            int nt = PQntuples(r);
            st->res = r;
            if (nt > 0)
                rc = row_shape(st, r);
            for (st->row = 0; rc == STRATA_OK && st->row < nt; st->row++) {
                rc = row(ctx, i);
                clear_row(st);
            }
            st->res = NULL;
            st->row = 0;
            PQclear(r);
        } else {
            rc = report_exec(c, st, r); /* clears r */
        }
        if (PQstatus(c->h) == CONNECTION_BAD)
            return rc == STRATA_OK ? report_res(c, NULL) : rc;
    }
    return rc;
}

static int pg_execute_many(strata_backend_stmt *bst, size_t n, int (*bind)(void *, size_t),
                           int (*row)(void *, size_t), void *ctx)
{
    pg_stmt *st = (pg_stmt *)bst;
    pg_conn *c = (pg_conn *)bst->conn;
    pg_reset(bst);
    release_orphans(c);
    int rc0 = replan(c, st);
    if (rc0 != STRATA_OK)
        return rc0;
    pg_params p;
    int rc = params_init(&p, bst->conn->db, bst->nparams);
    /* The first execution is bound before the pipeline: one with a blob
     * has its twin prepared for the executions that follow. */
    bool first_bound = rc == STRATA_OK && n > 1;
    if (first_bound && (rc = bind(ctx, 0)) == STRATA_OK) {
        format_params(st, &p);
        rc = twin_prepare(c, st, &p, true);
    }
    if (rc == STRATA_OK && !PQenterPipelineMode(c->h))
        rc = report_res(c, NULL);
    if (rc != STRATA_OK) {
        params_free(&p);
        return rc;
    }
    /* The deferred command goes first; its failure makes the server skip
     * the executions. */
    char pre[sizeof c->deferred];
    bool pending = take_deferred(c, pre);
    if (pending && !PQsendQueryParams(c->h, pre, 0, NULL, NULL, NULL, NULL, 0)) {
        rc = report_res(c, NULL);
        PQexitPipelineMode(c->h);
        params_free(&p);
        return rc;
    }
    arm(c); /* the timeout bounds the whole pipeline */
    size_t sent = 0, read = 0, flushed = 0;
    bool stop = false, synced = false;
    uint64_t typed = 0; /* bit i % PIPELINE_WINDOW: execution i was sent with its types */
    while (!stop || read < sent) {
        while (!stop && sent < n && sent - read < PIPELINE_WINDOW) {
            rc = sent == 0 && first_bound ? STRATA_OK : bind(ctx, sent);
            if (rc == STRATA_OK) {
                format_params(st, &p);
                if (!send_stmt(c, st, &p))
                    rc = report_res(c, NULL);
            }
            uint64_t bit = 1ull << sent % PIPELINE_WINDOW;
            typed = st->typed ? typed | bit : typed & ~bit;
            if (rc != STRATA_OK)
                stop = true;
            else
                sent++;
        }
        if (sent == n)
            stop = true;
        if (stop && !synced) {
            /* The sync ends the pipeline; after an error the server skips
             * to it, and libpq reports the skipped executions as aborted. */
            if (!PQpipelineSync(c->h)) {
                /* No sync went out (out of memory), so nothing will ever
                 * end the pipeline: waiting for it would hang, and the
                 * connection cannot be used again. */
                rc = strata_driver_error(bst->conn->db, STRATA_E_CONNECTION_LOST, "08006", 0,
                                         "could not end a pipeline of %zu executions: %s", sent,
                                         PQerrorMessage(c->h));
                break;
            }
            synced = true;
        } else if (!stop && sent > flushed) {
            /* Ask the server to send what it has without waiting for a sync. */
            if (!PQsendFlushRequest(c->h) || PQflush(c->h) < 0) {
                rc = report_res(c, NULL);
                break;
            }
            flushed = sent;
        }
        if (pending) {
            rc = read_deferred(c, rc);
            pending = false;
        }
        if (read < sent) {
            st->typed = typed >> read % PIPELINE_WINDOW & 1; /* for report_exec */
            rc = pipe_read_one(st, read++, row, ctx, rc);
        }
        if (rc != STRATA_OK)
            stop = true;
        if (PQstatus(c->h) == CONNECTION_BAD)
            break;
    }
    if (synced && PQstatus(c->h) != CONNECTION_BAD) {
        PGresult *r = next_result(c); /* PGRES_PIPELINE_SYNC */
        if (r && PQresultStatus(r) != PGRES_PIPELINE_SYNC && rc == STRATA_OK)
            rc = report_res(c, r);
        else
            PQclear(r);
    }
    if (!PQexitPipelineMode(c->h) && rc == STRATA_OK)
        rc = report_res(c, NULL);
    params_free(&p);
    return rc;
}

/* Result r's rows are about to be read: per-column buffers for unescaped
 * bytea values, and each column's type, asked of libpq once per result
 * rather than once per value. */
static int row_shape(pg_stmt *st, const PGresult *r)
{
    int nf = PQnfields(r);
    if (st->ncols_alloc < nf) {
        unsigned char **b = realloc(st->bytea, (size_t)nf * sizeof *b);
        if (b)
            st->bytea = b;
        size_t *bl = b ? realloc(st->bytea_len, (size_t)nf * sizeof *bl) : NULL;
        if (bl)
            st->bytea_len = bl;
        Oid *t = bl ? realloc(st->types, (size_t)nf * sizeof *t) : NULL;
        if (!t)
            return strata_driver_error(st->base.conn->db, STRATA_E_NOMEM, "53200", 0,
                                       "out of memory");
        st->types = t;
        for (int i = st->ncols_alloc; i < nf; i++)
            st->bytea[i] = NULL;
        st->ncols_alloc = nf;
    }
    for (int i = 0; i < nf; i++)
        st->types[i] = PQftype(r, i);
    return STRATA_OK;
}

static void pg_finalize(strata_backend_stmt *bst)
{
    pg_stmt *st = (pg_stmt *)bst;
    pg_conn *c = (pg_conn *)bst->conn;
    pg_reset(bst);
    /* Not one the server no longer has: that DEALLOCATE would fail, and
     * abort a transaction under way.  In an aborted transaction the
     * server refuses it: it waits for the transaction's end. */
    if (!c->unnamed && st->on_server)
        let_go(c, st->name);
    drop_twin(c, st);
    release_orphans(c);
    PQclear(st->desc);
    free(st->sql);
    free(st->bytea);
    free(st->bytea_len);
    free(st->types);
    free(st->text);
    free(st);
}

static int64_t pg_changes(strata_backend_stmt *bst) { return ((pg_stmt *)bst)->changes; }

/* Prepare the statement unnamed and describe it in one pipeline, ended by
 * one sync: the unnamed statement may be another's by now, and a
 * transaction pooler could send two separate requests to two different
 * server connections. */
static PGresult *describe_unnamed(pg_conn *c, pg_stmt *st)
{
    if (!PQenterPipelineMode(c->h))
        return NULL;
    PGresult *d = NULL, *failed = NULL, *r;
    bool ok = PQsendPrepare(c->h, "", st->sql, st->base.nparams, NULL) &&
              PQsendDescribePrepared(c->h, "") && PQpipelineSync(c->h);
    if (ok) {
        arm(c);
        /* The prepare's result and its NULL, the description's and its NULL,
         * then the sync.  A failed prepare's result is the one to report:
         * the description after it is only "aborted". */
        for (int part = 0; part < 2 && PQstatus(c->h) != CONNECTION_BAD; part++) {
            while ((r = next_result(c)) != NULL) {
                if (part == 0 && !failed && !result_ok(r))
                    failed = r;
                else if (part == 1 && !d)
                    d = r;
                else
                    PQclear(r);
            }
        }
        if (PQstatus(c->h) != CONNECTION_BAD)
            PQclear(next_result(c)); /* PGRES_PIPELINE_SYNC */
    }
    if (failed) {
        PQclear(d);
        d = failed;
    }
    if (!PQexitPipelineMode(c->h)) {
        PQclear(d);
        return NULL;
    }
    return d;
}

/* The result describing the columns: the execution's, or a description
 * fetched once when columns are asked about before the first step. */
static const PGresult *shape(pg_stmt *st)
{
    if (st->res)
        return st->res;
    if (!st->desc) {
        /* Described from the text, prepared unnamed, not from the named
         * statement: a schema change since it was prepared would make that
         * description fail (and abort the transaction) where the run, which
         * prepares it again first, works.  After the command deferred to go
         * first.  A failure is reported (the core takes it as a failed
         * statement) and leaves no columns. */
        pg_conn *c = (pg_conn *)st->base.conn;
        if (send_deferred(c) != STRATA_OK)
            return NULL;
        PGresult *d = describe_unnamed(c, st);
        if (!d || !result_ok(d)) {
            report_res(c, d);
            return NULL;
        }
        st->desc = d;
    }
    return st->desc;
}

static int pg_column_count(strata_backend_stmt *bst)
{
    const PGresult *r = shape((pg_stmt *)bst);
    return r ? PQnfields(r) : 0;
}

static const char *pg_column_name(strata_backend_stmt *bst, int col)
{
    const PGresult *r = shape((pg_stmt *)bst);
    return r && col >= 0 && col < PQnfields(r) ? PQfname(r, col) : NULL;
}

static const char *type_name(Oid oid)
{
    switch (oid) {
    case BOOLOID: return "boolean";
    case BYTEAOID: return "bytea";
    case INT8OID: return "bigint";
    case INT2OID: return "smallint";
    case INT4OID: return "integer";
    case TEXTOID: return "text";
    case OIDOID: return "oid";
    case JSONOID: return "json";
    case FLOAT4OID: return "real";
    case FLOAT8OID: return "double precision";
    case BPCHAROID: return "character";
    case VARCHAROID: return "character varying";
    case DATEOID: return "date";
    case TIMEOID: return "time without time zone";
    case TIMESTAMPOID: return "timestamp without time zone";
    case TIMESTAMPTZOID: return "timestamp with time zone";
    case NUMERICOID: return "numeric";
    case UUIDOID: return "uuid";
    case JSONBOID: return "jsonb";
    }
    return "";
}

static const char *pg_column_decltype(strata_backend_stmt *bst, int col)
{
    pg_stmt *st = (pg_stmt *)bst;
    const PGresult *r = shape(st);
    if (!r || col < 0 || col >= PQnfields(r))
        return "";
    /* The column as this result has it: a schema change or a run with a
     * blob (its own parse) may give another type than the last. */
    Oid oid = PQftype(r, col);
    int mod = PQfmod(r, col);
    if (!((oid == VARCHAROID || oid == BPCHAROID || oid == NUMERICOID) && mod >= 4))
        return type_name(oid);
    if (oid == NUMERICOID)
        snprintf(st->decl, sizeof st->decl, "numeric(%d,%d)", ((mod - 4) >> 16) & 0xffff,
                 (mod - 4) & 0xffff);
    else
        snprintf(st->decl, sizeof st->decl, "%s(%d)", type_name(oid), mod - 4);
    return st->decl;
}

/* The server's text form of an integer column: an optional minus and
 * digits, within int64 (no integer type is wider).  A fifth of strtoll's
 * cost, and every key and foreign key of a loaded row goes through it. */
static int64_t pg_int(const char *s)
{
    bool neg = *s == '-';
    uint64_t v = 0;
    for (s += neg; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    return neg ? (int64_t)(0 - v) : (int64_t)v;
}

static int pg_column_value(strata_backend_stmt *bst, int col, strata_value *out)
{
    pg_stmt *st = (pg_stmt *)bst;
    PGresult *r = st->res;
    /* A NULL reads as "": only an empty value needs asking. */
    const char *s = PQgetvalue(r, st->row, col);
    if (!s[0] && PQgetisnull(r, st->row, col)) {
        out->type = STRATA_TYPE_NULL;
        return STRATA_OK;
    }
    size_t len;
    switch (st->types[col]) {
    case BOOLOID:
        out->type = STRATA_TYPE_BOOL;
        out->u.i = s[0] == 't';
        return STRATA_OK;
    case INT2OID:
    case INT4OID:
    case INT8OID:
    case OIDOID:
        out->type = STRATA_TYPE_INT64;
        out->u.i = pg_int(s);
        return STRATA_OK;
    case FLOAT4OID:
    case FLOAT8OID:
        out->type = STRATA_TYPE_DOUBLE;
        out->u.d = strtod(s, NULL);
        return STRATA_OK;
    case BYTEAOID:
        if (!st->bytea[col]) {
            st->bytea[col] = PQunescapeBytea((const unsigned char *)s, &st->bytea_len[col]);
            if (!st->bytea[col])
                return strata_driver_error(bst->conn->db, STRATA_E_NOMEM, "53200", 0,
                                           "out of memory");
            st->unescaped = true;
        }
        out->type = STRATA_TYPE_BLOB;
        out->u.buf.ptr = st->bytea[col];
        out->u.buf.len = st->bytea_len[col];
        return STRATA_OK;
    case TIMESTAMPOID:
    case TIMESTAMPTZOID:
        len = (size_t)PQgetlength(r, st->row, col);
        if (strata_timestamp_parse(&out->u.ts, s, len) == STRATA_OK) {
            out->type = STRATA_TYPE_TIMESTAMP;
            return STRATA_OK;
        }
        out->type = STRATA_TYPE_TEXT; /* infinity and the like */
        out->u.buf.ptr = s;
        out->u.buf.len = len;
        return STRATA_OK;
    }
    out->type = STRATA_TYPE_TEXT;
    out->u.buf.ptr = s;
    out->u.buf.len = (size_t)PQgetlength(r, st->row, col);
    return STRATA_OK;
}

/* The ORM's load of a row: each column straight into the form its field
 * wants, where that is what pg_column_value followed by the core's
 * conversion gives (strata__value_to_cell); the rest is left to the core. */
static int pg_row_cells(strata_backend_stmt *bst, int col0, int n, const unsigned char *want,
                        strata_cell *out)
{
    pg_stmt *st = (pg_stmt *)bst;
    PGresult *r = st->res;
    for (int i = 0; i < n; i++) {
        int col = col0 + i;
        strata_cell *c = &out[i];
        const char *s = PQgetvalue(r, st->row, col);
        c->len = 0;
        c->state = STRATA_CELL_VALUE;
        if (!s[0] && PQgetisnull(r, st->row, col)) {
            c->state = STRATA_CELL_NULL;
            continue;
        }
        Oid type = st->types[col];
        bool integer = type == INT2OID || type == INT4OID || type == INT8OID || type == OIDOID;
        bool timestamp = type == TIMESTAMPOID || type == TIMESTAMPTZOID;
        switch (want[i]) {
        case STRATA_C_INT64:
        case STRATA_C_BOOL:
        case STRATA_C_DOUBLE: {
            if (!integer && type != BOOLOID && (want[i] != STRATA_C_DOUBLE ||
                                                (type != FLOAT4OID && type != FLOAT8OID)))
                break;
            if (type == FLOAT4OID || type == FLOAT8OID) {
                c->u.d = strtod(s, NULL);
                continue;
            }
            int64_t v = integer ? pg_int(s) : s[0] == 't';
            if (want[i] == STRATA_C_DOUBLE)
                c->u.d = (double)v;
            else if (want[i] == STRATA_C_INT64 || v == 0 || v == 1)
                c->u.i = v;
            else
                break;
            continue;
        }
        case STRATA_C_TIMESTAMP:
            if (timestamp &&
                strata_timestamp_parse(&c->u.i, s, (size_t)PQgetlength(r, st->row, col)) ==
                    STRATA_OK)
                continue;
            break;
        case STRATA_C_TEXT: {
            if (integer || type == BOOLOID || type == FLOAT4OID || type == FLOAT8OID ||
                type == BYTEAOID)
                break;
            size_t len = (size_t)PQgetlength(r, st->row, col);
            strata_timestamp ts;
            if (timestamp && strata_timestamp_parse(&ts, s, len) == STRATA_OK)
                break; /* a timestamp: formatted by the core */
            c->u.p = s;
            c->len = len;
            continue;
        }
        case STRATA_C_BLOB: {
            if (type != BYTEAOID)
                break;
            strata_value v;
            int rc = pg_column_value(bst, col, &v); /* unescaped once per row */
            if (rc != STRATA_OK)
                return rc;
            c->u.p = v.u.buf.ptr;
            c->len = v.u.buf.len;
            continue;
        }
        }
        c->state = STRATA_CELL_OTHER;
    }
    return STRATA_OK;
}

static int pg_row_values(strata_backend_stmt *bst, int col0, int n, strata_value *out)
{
    int rc = STRATA_OK;
    for (int i = 0; i < n && rc == STRATA_OK; i++)
        rc = pg_column_value(bst, col0 + i, &out[i]);
    return rc;
}

/* ---- dialect ------------------------------------------------------------------------------ */

/* PostgreSQL's reserved key words, including those that may be function or
 * type names (appendix "SQL Key Words"): these cannot be bare identifiers. */
static const char *const reserved[] = {
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
};

static int cmp_word(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int pg_is_reserved(const char *word)
{
    return bsearch(&word, reserved, sizeof reserved / sizeof reserved[0], sizeof reserved[0],
                   cmp_word) != NULL;
}

/* libpq's connection keywords, from libpq itself (they grow with its
 * versions); "ssl" is its URI shorthand for sslmode=require. */
static int pg_url_param_known(const char *key)
{
    if (strcmp(key, "ssl") == 0 || strcmp(key, "prepared_statements") == 0)
        return 1;
    char missing[512];
    if (!strata__libpq_load(missing, sizeof missing))
        return 1; /* opening says what is missing, which matters more */
    PQconninfoOption *opts = PQconninfoParse("", NULL);
    int known = 0;
    for (PQconninfoOption *o = opts; o && o->keyword && !known; o++)
        known = strcmp(o->keyword, key) == 0;
    PQconninfoFree(opts);
    return known;
}

#define PG_LEXER (STRATA_LEX_NESTED_COMMENTS | STRATA_LEX_DOLLAR_QUOTES | STRATA_LEX_E_STRINGS)

/* standard_conforming_strings = off (from the URL's options, the role or
 * the database, or a SET) makes every string take backslash escapes: the
 * server says so whenever it changes. */
static unsigned pg_lexer_flags_now(strata_conn *conn)
{
    pg_conn *c = (pg_conn *)conn;
    const char *scs = c->h ? PQparameterStatus(c->h, "standard_conforming_strings") : NULL;
    return PG_LEXER | (scs && !strcmp(scs, "off") ? STRATA_LEX_BACKSLASH_STRINGS : 0);
}

static const char *const pg_aliases[] = {"postgres", NULL};
/* psycopg2 and psycopg are libpq underneath: a DATABASE_URL shared with a
 * Python service means the same server and settings. */
static const char *const pg_driver_names[] = {"libpq", "psycopg2", "psycopg", NULL};

const strata_driver strata__postgres_driver = {
    .version = STRATA_DRIVER_VERSION,
    .name = "postgresql",
    .aliases = pg_aliases,
    .driver_names = pg_driver_names,
    .capabilities = STRATA_CAP_RETURNING | STRATA_CAP_TRANSACTIONAL_DDL | STRATA_CAP_ALTER_COLUMN |
                    STRATA_CAP_ADVISORY_LOCKS | STRATA_CAP_PIPELINE | STRATA_CAP_CONCURRENT_WRITERS,
    .placeholder = STRATA_PLACEHOLDER_DOLLAR,
    .lexer_flags = PG_LEXER,
    .url_params = NULL, /* libpq's list: url_param_known */
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .step = pg_step,
    .reset = pg_reset,
    .finalize = pg_finalize,
    .changes = pg_changes,
    .column_count = pg_column_count,
    .column_name = pg_column_name,
    .column_decltype = pg_column_decltype,
    .column_value = pg_column_value,
    .row_values = pg_row_values,
    .row_cells = pg_row_cells,
    .begin = NULL,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .is_reserved_word = pg_is_reserved,
    .classify_error = classify,
    .set_streaming = pg_set_streaming,
    .execute_many = pg_execute_many,
    .url_param_known = pg_url_param_known,
    .begin_mode = pg_begin_mode,
    .cancel = pg_cancel,
    .set_timeout = pg_set_timeout,
    .in_transaction = pg_in_transaction,
    .exec_with_next = pg_exec_with_next,
    .lexer_flags_now = pg_lexer_flags_now,
};
