/*
 * strata/pool.h - a thread-safe pool of connections, and units of work
 * that are retried when the database asks for it.
 *
 * One pool per process, one session per request:
 *
 *   strata_pool *pool;
 *   strata_pool_options opts = STRATA_POOL_OPTIONS_INIT;
 *   opts.max_size = 8;
 *   strata_pool_open(&pool, NULL, &opts);        // DATABASE_URL or the default
 *   ...                                          // in each worker thread:
 *   strata_session *s;
 *   strata_session_new_from_pool(&s, pool);      // waits for a free connection
 *   ...
 *   strata_session_commit(s);
 *   strata_session_free(s);                      // the connection goes back
 *
 * With replicas (opts.replicas), read-only sessions go to them and writing
 * sessions to the primary:
 *
 *   const char *replicas[] = {"postgresql://replica1/app", "postgresql://replica2/app", NULL};
 *   opts.replicas = replicas;
 *   strata_pool_open(&pool, "postgresql://primary1,primary2/app?target_session_attrs=read-write",
 *                    &opts);
 *   strata_session_new_from_replica(&s, pool);   // reads, on a replica
 *
 * The pool is the only strata object that may be shared between threads:
 * every strata_pool_* call is thread-safe.  A strata_db handed out by the
 * pool, and the sessions on it, belong to the acquiring thread until they
 * are released (misuse from another thread is refused, see db.h).
 */
#ifndef STRATA_POOL_H
#define STRATA_POOL_H

#include "common.h"
#include "db.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strata_pool strata_pool;
typedef struct strata_session strata_session;

#define STRATA_POOL_OPTIONS_VERSION 2

/** Pool settings.  Start from STRATA_POOL_OPTIONS_INIT and change fields. */
typedef struct strata_pool_options {
    int version;            /* STRATA_POOL_OPTIONS_VERSION */
    int min_size;           /* connections opened by strata_pool_open (each given up after
                               acquire_timeout_ms, at least a second) and kept open (0) */
    int max_size;           /* connections open at most, idle and in use together (10) */
    int acquire_timeout_ms; /* how long an acquire waits for a connection (30000) */
    int ping_after_ms;      /* a connection idle this long, or since before one of
                               the pool's came back lost, is checked before it is
                               handed out (1000; 0: always; -1: never) */
    int max_lifetime_ms;    /* a connection older than this is closed instead of
                               being reused (1800000; 0: no limit) */
    int max_idle_ms;        /* a connection idle this long is closed, down to
                               min_size (600000; 0: no limit) */
    /* version 2: */
    const char *const *replicas; /* URLs of read replicas, NULL-terminated (NULL:
                                    none); copied by strata_pool_open.  Each has
                                    a pool of its own with the settings above. */
    int replica_retry_ms;        /* a replica that could not be reached is
                                    skipped this long (5000) */
} strata_pool_options;

#define STRATA_POOL_OPTIONS_INIT \
    {STRATA_POOL_OPTIONS_VERSION, 0, 10, 30000, 1000, 1800000, 600000, NULL, 5000}

/** Counters of a pool (strata_pool_stats()). */
typedef struct strata_pool_statistics {
    int open;              /* connections open now (idle + in use + being opened) */
    int idle;              /* waiting in the pool */
    int in_use;            /* handed out */
    int waiting;           /* threads waiting in acquire now */
    int64_t acquired;      /* successful acquires */
    int64_t waits;         /* acquires that had to wait */
    int64_t timeouts;      /* acquires that gave up (STRATA_E_TIMEOUT) */
    int64_t opened;        /* connections opened */
    int64_t closed_broken; /* closed because lost, failing the ping or the reset */
    int64_t closed_aged;   /* closed for max_lifetime_ms or max_idle_ms */
    int64_t retries;       /* units of work run again by strata_pool_run() */
} strata_pool_statistics;

/**
 * Open a pool for `url` (NULL: DATABASE_URL, else STRATA_DEFAULT_URL) with
 * `opts` (NULL: the defaults).  The URL is checked at once, and min_size
 * connections are opened.  Sets *out even on failure when there is a
 * message (strata_pool_errmsg()); the caller always calls
 * strata_pool_close(*out).  Such a pool lends nothing: acquiring from it
 * is refused (STRATA_E_MISUSE).
 *
 * An in-memory SQLite URL is refused (STRATA_E_MISUSE): each connection
 * would see its own empty database.
 *
 * @return STRATA_OK, STRATA_E_URL, STRATA_E_CONNECT (a min_size connection
 *         could not be opened), STRATA_E_MISUSE (bad options), STRATA_E_NOMEM.
 */
STRATA_API int strata_pool_open(strata_pool **out, const char *url,
                                const strata_pool_options *opts);

/** Close every idle connection and free the pool.  It waits for the
 *  connections still in use to come back (they are closed then), for the
 *  threads waiting in an acquire (refused with STRATA_E_MISUSE), and for
 *  the units of strata_pool_run under way (one waiting between two
 *  attempts stops waiting, and returns the failure of its last attempt,
 *  its message saying it was not run again); a thread that would call the pool after
 *  it is freed must be done before.  Accepts NULL. */
STRATA_API void strata_pool_close(strata_pool *pool);

/**
 * Take a connection: an idle one (checked with a ping when it has been
 * idle longer than ping_after_ms; a broken or too old one is closed and
 * another taken), else a new one while fewer than max_size are open, else
 * wait up to acquire_timeout_ms for one to come back.  Opening a new one
 * is given up at the same time (at least a second), unless the URL bounds
 * connecting itself (PostgreSQL's connect_timeout).
 *
 * @return STRATA_OK with *out set (give it back with strata_pool_release()),
 *         STRATA_E_TIMEOUT when none came in time, or the error of opening
 *         a new connection (STRATA_E_CONNECT ...); the message is in
 *         strata_pool_errmsg() for the calling thread.
 */
STRATA_API int strata_pool_acquire(strata_pool *pool, strata_db **out);

/**
 * Give a connection back.  It is reset first: an open transaction is
 * rolled back (with its savepoints), the echo hook is removed.  A broken
 * connection, one whose reset fails, one with statements still not
 * finalized, or one older than max_lifetime_ms is closed instead, and the
 * pool opens another when needed.  Accepts NULL.
 */
STRATA_API void strata_pool_release(strata_pool *pool, strata_db *db);

/**
 * Take a connection to a replica, for reading: the replicas are tried in
 * turn (round robin), each as strata_pool_acquire() would, skipping one
 * that could not be reached (STRATA_E_CONNECT or a lost connection) for
 * replica_retry_ms; when none can be reached, the primary's connection is
 * returned.  Without replicas it is strata_pool_acquire().  Writes on a
 * replica fail with STRATA_E_READONLY; a replica may lag behind the
 * primary, so what must read its own writes uses the primary.
 *
 * @return as strata_pool_acquire(); STRATA_E_TIMEOUT when the replica
 *         chosen had no connection free in time.
 */
STRATA_API int strata_pool_acquire_replica(strata_pool *pool, strata_db **out);

/** The pool's counters (the primary's connections), read at one instant. */
STRATA_API int strata_pool_stats(strata_pool *pool, strata_pool_statistics *out);

/** How many replicas the pool has. */
STRATA_API int strata_pool_replica_count(const strata_pool *pool);

/** The counters of replica `index` (0 .. strata_pool_replica_count() - 1). */
STRATA_API int strata_pool_replica_stats(strata_pool *pool, int index,
                                         strata_pool_statistics *out);

/** Why the calling thread's last failed call on `pool` failed ("" when
 *  none).  Borrowed until that thread's next call on a pool. */
STRATA_API const char *strata_pool_errmsg(const strata_pool *pool);

/**
 * A session on a connection from the pool (strata_pool_acquire(), with
 * its wait and errors).  strata_session_free() gives the connection back.
 */
STRATA_API int strata_session_new_from_pool(strata_session **out, strata_pool *pool);

/**
 * A read-only session (strata_session_set_read_only()) on a replica's
 * connection (strata_pool_acquire_replica(), with its choice and
 * fallback).  strata_session_free() gives the connection back.
 */
STRATA_API int strata_session_new_from_replica(strata_session **out, strata_pool *pool);

/* ---- units of work ---------------------------------------------------- */

/** A unit of work: use the session, return STRATA_OK to have it committed
 *  or an error code to have it rolled back.  It may run more than once:
 *  keep its effects inside the session and its transaction. */
typedef int (*strata_unit_fn)(strata_session *s, void *ctx);

#define STRATA_RETRY_OPTIONS_VERSION 2

typedef struct strata_retry_options {
    int version;       /* STRATA_RETRY_OPTIONS_VERSION */
    int max_attempts;  /* runs at most (5) */
    int base_delay_ms; /* first wait before running again (5) */
    int max_delay_ms;  /* longest wait (1000); each wait is random up to
                          min(max, base * 2^retry) ("full jitter") */
    /* version 2: */
    int read_only; /* non-zero: the unit only reads; its transaction begins
                      read-only (strata_session_set_read_only) */
} strata_retry_options;

#define STRATA_RETRY_OPTIONS_INIT {STRATA_RETRY_OPTIONS_VERSION, 5, 5, 1000, 0}

/**
 * Run `fn` in a new session from the pool and commit, running it again on
 * a fresh session (and, for a lost connection, a fresh connection) when it
 * or the commit fails with STRATA_E_BUSY, STRATA_E_SERIALIZATION,
 * STRATA_E_DEADLOCK, STRATA_E_CONNECTION_LOST or STRATA_E_STALE_STATEMENT (a
 * statement a schema change made stale, prepared again first), up to
 * max_attempts with a jittered backoff.  A commit whose outcome is unknown
 * (STRATA_E_COMMIT_UNKNOWN) is never run again: it is returned, as is any
 * other error and the last attempt's error.  `opts` may be NULL.
 *
 * The session's transaction is begun before `fn` is called (read-only with
 * opts->read_only), so SQL that `fn` runs itself on strata_session_db(s)
 * is part of the unit: committed with it, or rolled back with an attempt
 * that failed.  strata_session_set_read_only called by `fn` before its
 * first statement begins the transaction again in that mode (on SQLite
 * after the writing BEGIN has waited for the write lock: read_only in the
 * options spares that wait); after it, the mode stays.  The pool ends the
 * transaction: a commit or a rollback by `fn` itself (the session's, the
 * connection's, or SQL's own COMMIT or ROLLBACK) is refused with
 * STRATA_E_MISUSE, since a retry would write again what it let through.
 *
 * @return STRATA_OK when a run committed, else the error; the message is
 *         in strata_pool_errmsg() for the calling thread.
 */
STRATA_API int strata_pool_run(strata_pool *pool, strata_unit_fn fn, void *ctx,
                               const strata_retry_options *opts);

#ifdef __cplusplus
}
#endif
#endif
