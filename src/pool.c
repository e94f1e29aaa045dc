/*
 * pool.c - the connection pool: the one strata object shared by threads.
 *
 * State shared between threads lives here and only here, under one mutex
 * per pool (`lock`); `freed` is signalled whenever a connection comes back
 * or a slot opens.  Lock order: the pool's lock is a leaf: nothing is
 * called while it is held but list and counter updates, never a
 * connection (opening, pinging, resetting and closing happen outside it,
 * on connections that no other thread can reach at that moment).
 *
 * Idle connections form a stack (the most recently used on top, so the
 * warm ones are reused and the cold ones age out).  An acquire pops one,
 * pings it when it has been idle for ping_after_ms, and drops it when it is
 * too old or fails; with none idle it reserves a slot (`open` counts
 * connections being opened too) and opens one outside the lock; at
 * max_size it waits on `freed` until its deadline.
 *
 * Messages for a failed call go to a thread-local buffer, read with
 * strata_pool_errmsg(): a pool-wide message would be overwritten by other
 * threads.
 *
 * Replicas: each replica URL has a pool of its own (same settings, kept in
 * `replicas`).  A replica acquire picks
 * them in turn and skips one marked down (`down_until`, under the parent's
 * lock) until replica_retry_ms has passed; with none reachable it takes
 * the primary's connection.  A connection goes back to the pool that lent
 * it, found by its `lent` entry.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "strata/pool.h"

typedef struct pool_slot {
    strata_db *db;
    int64_t born_ms, idle_since_ms;
} pool_slot;

struct strata_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *url; /* as given: the connections need the password */
    strata_pool_options opts;
    /* under `lock`: */
    pool_slot *idle; /* stack: idle[nidle - 1] is the most recently used */
    int nidle;
    int open; /* idle + in use + being opened */
    int in_use;
    int waiting;
    /* Threads that waited for a connection and have not got one yet nor
     * given up, and how many idle connections are kept for them: one a
     * release gives back while some wait goes to a waiter, not to a
     * thread that comes later (the one that gave it back, say, which
     * would otherwise take it again at once and starve the waiters). */
    int queued, reserved;
    int running; /* units of strata_pool_run, back-off sleeps included */
    bool closing;
    bool unopened; /* strata_pool_open failed: it may only be closed (set before the
                      pool is given out, never changed) */
    /* the birth time of each connection handed out, to age it on return */
    pool_slot *lent;
    int nlent;
    strata_pool_statistics stats;
    /* replicas (set at open, read-only afterwards but for the fields marked) */
    strata_pool **replicas;
    int nreplicas;
    unsigned next_replica; /* under `lock`: round robin */
    int64_t *down_until;  /* under `lock`: per replica, skipped until then */
    int64_t lost_ms;      /* under `lock`: when a connection last came back lost (a
                             restart or a failover takes the idle ones with it) */
};

/* ---- messages ------------------------------------------------------------ */

static _Thread_local const strata_pool *err_pool;
static _Thread_local char err_text[512];

int strata__pool_fail(const strata_pool *pool, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_text, sizeof err_text, fmt, ap);
    va_end(ap);
    err_pool = pool;
    return code;
}

static void clear_error(const strata_pool *pool)
{
    if (err_pool == pool) {
        err_pool = NULL;
        err_text[0] = '\0';
    }
}

const char *strata_pool_errmsg(const strata_pool *pool)
{
    return pool && err_pool == pool ? err_text : "";
}

/* ---- time ------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- open / close ---------------------------------------------------------------- */

static int check_options(strata_pool *pool, const strata_pool_options *o)
{
    if (o->version < 1)
        return strata__pool_fail(pool, STRATA_E_MISUSE,
                                 "pool options: start from STRATA_POOL_OPTIONS_INIT");
    if (o->max_size < 1 || o->min_size < 0 || o->min_size > o->max_size)
        return strata__pool_fail(pool, STRATA_E_MISUSE,
                                 "pool options: need 0 <= min_size (%d) <= max_size (%d), and "
                                 "max_size >= 1",
                                 o->min_size, o->max_size);
    if (o->acquire_timeout_ms < 0 || o->ping_after_ms < -1 || o->max_lifetime_ms < 0 ||
        o->max_idle_ms < 0 || o->replica_retry_ms < 0)
        return strata__pool_fail(pool, STRATA_E_MISUSE, "pool options: a negative time");
    return STRATA_OK;
}

/* The caller's options, read as far as its version has fields: a program
 * built against an older header passes a shorter struct. */
static strata_pool_options copy_options(const strata_pool_options *o)
{
    strata_pool_options c = STRATA_POOL_OPTIONS_INIT;
    if (!o)
        return c;
    if (o->version < 1) {
        c.version = o->version; /* refused by check_options */
    } else if (o->version == 1) {
        /* Exactly the version-1 fields: the struct may end right there. */
        memcpy(&c, o, offsetof(strata_pool_options, max_idle_ms) + sizeof o->max_idle_ms);
        c.version = STRATA_POOL_OPTIONS_VERSION;
    } else {
        c = *o;
    }
    return c;
}

/* When the connection this thread opens must be given up (an acquire's
 * deadline), for engines whose connect has no limit of its own; 0: none. */
static _Thread_local int64_t open_deadline;

int strata_driver_open_time_left_ms(void)
{
    if (!open_deadline)
        return -1;
    int64_t left = open_deadline - now_ms();
    return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* A new connection for pool (outside the lock), opened by `deadline`;
 * 0: one the pool opens ahead (min_size), by the acquire timeout from
 * now, at least a second. */
static int open_one(strata_pool *pool, strata_db **out, int64_t deadline)
{
    if (!deadline)
        deadline = now_ms() +
                   (pool->opts.acquire_timeout_ms > 1000 ? pool->opts.acquire_timeout_ms : 1000);
    open_deadline = deadline;
    int rc = strata_db_open(out, pool->url);
    open_deadline = 0;
    if (rc != STRATA_OK) {
        strata__pool_fail(pool, rc, "%s", strata_db_errmsg(*out));
        strata_db_close(*out);
        *out = NULL;
    }
    return rc;
}

/* A pool for one URL: the primary's, or a replica's. */
/* `url` with a file engine's relative path made absolute against the
 * working directory now: the pool opens connections later, and one
 * opened after the program changed directory would open (or make)
 * another file, splitting the data between two databases.  A copy of
 * `url` otherwise; NULL without memory. */
static char *absolute_file_url(const char *url, const strata_url *u)
{
    const char *p = strstr(url, "://");
    const strata_driver *drv = strata__url_driver(u);
    if (!drv || !(drv->capabilities & STRATA_CAP_FILE_URL) || !p || p[3] != '/' || p[4] == '/' ||
        p[4] == '\0' || p[4] == '?')
        return strata__strdup(url);
    const char *path = p + 4; /* after scheme:/// */
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return strata__strdup(url); /* the open then reads it as it always did */
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "%.*s", (int)(path - url), url);
    for (const unsigned char *c = (const unsigned char *)cwd; *c; c++) {
        if (isalnum(*c) || strchr("/._~-", *c))
            strata__sb_putc(&sb, (char)*c);
        else
            strata__sb_printf(&sb, "%%%02X", *c); /* as the URL's path is read: decoded */
    }
    free(cwd);
    strata__sb_printf(&sb, "/%s", path);
    return strata__sb_take(&sb);
}

static int pool_init(strata_pool **out, const char *url, const strata_pool_options *opts)
{
    strata_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return STRATA_E_NOMEM;
    pool->opts = *opts;
    pool->opts.replicas = NULL;
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        free(pool);
        return STRATA_E_NOMEM;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int crc = pthread_cond_init(&pool->freed, &ca);
    pthread_condattr_destroy(&ca);
    if (crc != 0) {
        pthread_mutex_destroy(&pool->lock);
        free(pool);
        return STRATA_E_NOMEM;
    }
    *out = pool;
    clear_error(pool);
    int rc = check_options(pool, &pool->opts);
    if (rc)
        return rc;
    /* Check the URL now: a bad one should fail here, not in every request. */
    strata_url *u = NULL;
    rc = strata_url_parse(&u, url);
    if (rc != STRATA_OK) {
        strata__pool_fail(pool, rc, "%s", strata_url_errmsg(u));
        strata_url_free(u);
        return rc;
    }
    bool private_db = strata__drv_url_is_private(strata__url_driver(u), u);
    char *redacted = strata__strdup(strata_url_redacted(u));
    pool->url = private_db ? NULL : absolute_file_url(url, u);
    strata_url_free(u);
    if (private_db) {
        rc = strata__pool_fail(pool, STRATA_E_MISUSE,
                               "a pool of connections to \"%s\" would give each connection its "
                               "own empty database (an in-memory database): use a file",
                               redacted ? redacted : "");
        free(redacted);
        return rc;
    }
    free(redacted);
    pool->idle = calloc((size_t)pool->opts.max_size, sizeof *pool->idle);
    pool->lent = calloc((size_t)pool->opts.max_size, sizeof *pool->lent);
    if (!pool->url || !pool->idle || !pool->lent)
        return strata__pool_fail(pool, STRATA_E_NOMEM, "out of memory");
    for (int i = 0; i < pool->opts.min_size; i++) {
        strata_db *c;
        if ((rc = open_one(pool, &c, 0)) != STRATA_OK)
            return rc;
        int64_t t = now_ms();
        pool->idle[pool->nidle++] = (pool_slot){c, t, t};
        pool->open++;
        pool->stats.opened++;
    }
    return STRATA_OK;
}

static int pool_open(strata_pool **out, const char *url, const strata_pool_options *opts);

int strata_pool_open(strata_pool **out, const char *url, const strata_pool_options *opts)
{
    int rc = pool_open(out, url, opts);
    /* The pool is given back for its message and to be closed; half made,
     * it lends nothing. */
    if (rc != STRATA_OK && out && *out)
        (*out)->unopened = true;
    return rc;
}

static int pool_open(strata_pool **out, const char *url, const strata_pool_options *opts)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    strata_pool_options o = copy_options(opts);
    if (!url) {
        const char *env = getenv("DATABASE_URL");
        url = env && *env ? env : STRATA_DEFAULT_URL;
    }
    int rc = pool_init(out, url, &o);
    if (rc != STRATA_OK || !o.replicas || !o.replicas[0])
        return rc;
    strata_pool *pool = *out;
    int n = 0;
    while (o.replicas[n])
        n++;
    pool->replicas = calloc((size_t)n, sizeof *pool->replicas);
    pool->down_until = calloc((size_t)n, sizeof *pool->down_until);
    if (!pool->replicas || !pool->down_until)
        return strata__pool_fail(pool, STRATA_E_NOMEM, "out of memory");
    /* A replica down now is only skipped (marked down): the application
     * can start and read from the others or the primary.  A bad URL fails.
     * Its min_size connections are opened here, not by pool_init, which
     * would fail the open. */
    strata_pool_options ro = o;
    ro.min_size = 0;
    for (int i = 0; i < n; i++) {
        strata_pool *r = NULL;
        rc = pool_init(&r, o.replicas[i], &ro);
        if (r) {
            r->opts.min_size = o.min_size;
            pool->replicas[pool->nreplicas++] = r;
        }
        if (rc != STRATA_OK) {
            /* r's message is this thread's; say which replica it was about */
            char why[512];
            snprintf(why, sizeof why, "%s", strata_pool_errmsg(r));
            return strata__pool_fail(pool, rc, "replica %d: %s", i + 1, why);
        }
        for (int k = 0; k < o.min_size; k++) {
            strata_db *c;
            if (open_one(r, &c, 0) != STRATA_OK) {
                pool->down_until[i] = now_ms() + o.replica_retry_ms;
                clear_error(r);
                break;
            }
            int64_t t = now_ms();
            r->idle[r->nidle++] = (pool_slot){c, t, t};
            r->open++;
            r->stats.opened++;
        }
    }
    clear_error(pool);
    return STRATA_OK;
}

/* Refuse new acquires, close the idle connections and wait until every
 * connection lent is back and every waiter gone. */
static void pool_shutdown(strata_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->closing = true;
    int n = pool->nidle;
    pool->nidle = 0;
    pool->open -= n;
    bool busy = pool->in_use > 0 || pool->waiting > 0 || pool->open > 0 || pool->running > 0;
    pthread_cond_broadcast(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < n; i++)
        strata_db_close(pool->idle[i].db);
    if (busy) {
        /* Threads still hold connections or wait: freeing now would pull
         * the pool from under them.  Wait for them to leave. */
        pthread_mutex_lock(&pool->lock);
        while (pool->in_use > 0 || pool->waiting > 0 || pool->open > 0 || pool->running > 0)
            pthread_cond_wait(&pool->freed, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
    }
}

static void pool_free(strata_pool *pool)
{
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->lock);
    free(pool->idle);
    free(pool->lent);
    free(pool->url);
    clear_error(pool);
    free(pool);
}

/* With replicas, in two phases: every pool shut down first (a connection
 * coming back is looked up in all of them), then freed. */
void strata_pool_close(strata_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->closing = true; /* acquire_replica refuses from now on */
    pthread_cond_broadcast(&pool->freed); /* and units between attempts stop waiting */
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nreplicas; i++)
        pool_shutdown(pool->replicas[i]);
    pool_shutdown(pool);
    for (int i = 0; i < pool->nreplicas; i++)
        pool_free(pool->replicas[i]);
    free(pool->replicas);
    free(pool->down_until);
    pool_free(pool);
}

/* ---- acquire / release --------------------------------------------------------- */

static bool too_old(const strata_pool *pool, const pool_slot *s, int64_t t)
{
    return pool->opts.max_lifetime_ms > 0 && t - s->born_ms >= pool->opts.max_lifetime_ms;
}

/* Close a connection that was counted in `open`, outside the lock. */
/* Whether db's connection to the server is lost (not merely refused or
 * failed in a statement): broken, also once a rollback has cleared the
 * error that said so, and not for a ROLLBACK that could not run. */
static bool lost(const strata_db *db)
{
    return db->broken && !db->tx_stuck && !db->closed;
}

static void note_lost(strata_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->lost_ms = now_ms();
    pthread_mutex_unlock(&pool->lock);
}

/* An idle connection's check before it is lent: a SELECT 1 bounded by the
 * acquire's time left (at least a second), so that a server that stopped
 * answering cannot hold the acquire for ever.  False when it failed. */
static bool check(strata_db *db, int64_t deadline)
{
    int64_t left = deadline - now_ms();
    int ms = left < 1000 ? 1000 : left > INT32_MAX ? INT32_MAX : (int)left;
    return strata_db_set_statement_timeout(db, ms) == STRATA_OK &&
           strata_db_ping(db) == STRATA_OK && strata_db_set_statement_timeout(db, 0) == STRATA_OK;
}

static void drop(strata_pool *pool, strata_db *db, bool broken)
{
    strata_db_close(db);
    pthread_mutex_lock(&pool->lock);
    pool->open--;
    if (broken)
        pool->stats.closed_broken++;
    else
        pool->stats.closed_aged++;
    pthread_cond_broadcast(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

/* Idle connections past max_idle_ms, above min_size, leave the stack
 * (oldest first: they are at the bottom).  Under the lock; the caller
 * closes what is put in `out`. */
static int take_stale(strata_pool *pool, int64_t t, strata_db **out, int max)
{
    int n = 0;
    if (pool->opts.max_idle_ms <= 0)
        return 0;
    while (n < max && pool->nidle > 0 && pool->open - n > pool->opts.min_size &&
           t - pool->idle[0].idle_since_ms >= pool->opts.max_idle_ms) {
        out[n++] = pool->idle[0].db;
        memmove(pool->idle, pool->idle + 1, (size_t)--pool->nidle * sizeof *pool->idle);
    }
    return n;
}

static int refuse_unopened(const strata_pool *pool)
{
    return strata__pool_fail(pool, STRATA_E_MISUSE,
                             "the pool did not open: close it (strata_pool_close) and open another");
}

static void lend(strata_pool *pool, strata_db *db, int64_t born)
{
    pool->lent[pool->nlent++] = (pool_slot){db, born, 0};
    pool->in_use++;
    pool->stats.acquired++;
}

/* A thread that waited leaves the queue (served, or giving up): no more
 * connections are kept than there are threads waiting for them. */
static void leave_queue(strata_pool *pool, bool waited)
{
    if (!waited)
        return;
    pool->queued--;
    if (pool->reserved > pool->queued)
        pool->reserved = pool->queued;
    /* A connection kept for the waiters while this one was served some
     * other way (it opened one): theirs now, and they may be asleep. */
    if (pool->reserved > 0)
        pthread_cond_broadcast(&pool->freed);
}

int strata_pool_acquire(strata_pool *pool, strata_db **out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!pool)
        return STRATA_E_MISUSE;
    if (pool->unopened)
        return refuse_unopened(pool);
    clear_error(pool);
    int64_t deadline = now_ms() + pool->opts.acquire_timeout_ms;
    bool waited = false;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        if (pool->closing) {
            leave_queue(pool, waited);
            pthread_mutex_unlock(&pool->lock);
            return strata__pool_fail(pool, STRATA_E_MISUSE, "the pool is closing");
        }
        int64_t t = now_ms();
        strata_db *stale[64];
        int nstale = take_stale(pool, t, stale, (int)(sizeof stale / sizeof stale[0]));
        if (nstale) {
            if (pool->reserved > pool->nidle)
                pool->reserved = pool->nidle;
            pool->open -= nstale;
            pool->stats.closed_aged += nstale;
            pthread_mutex_unlock(&pool->lock);
            for (int i = 0; i < nstale; i++)
                strata_db_close(stale[i]);
            pthread_mutex_lock(&pool->lock);
            pthread_cond_broadcast(&pool->freed);
            continue;
        }
        /* Idle connections kept for the threads waiting are theirs. */
        if (waited ? pool->nidle > 0 : pool->nidle > pool->reserved) {
            if (waited && pool->reserved > 0)
                pool->reserved--;
            pool_slot s = pool->idle[--pool->nidle];
            bool old = too_old(pool, &s, t);
            /* Checked when idle long enough, or idle since before a
             * connection was found lost: the server those went to may be
             * gone, and a retry must not meet them one after another. */
            bool ping = !old && pool->opts.ping_after_ms >= 0 &&
                        (t - s.idle_since_ms >= pool->opts.ping_after_ms ||
                         s.idle_since_ms <= pool->lost_ms);
            if (!old && !ping) {
                lend(pool, s.db, s.born_ms);
                if (waited)
                    pool->stats.waits++;
                leave_queue(pool, waited);
                pthread_mutex_unlock(&pool->lock);
                *out = s.db;
                return STRATA_OK;
            }
            /* Check or drop it outside the lock; nobody else can reach it. */
            pthread_mutex_unlock(&pool->lock);
            if (!old && check(s.db, deadline)) {
                pthread_mutex_lock(&pool->lock);
                lend(pool, s.db, s.born_ms);
                if (waited)
                    pool->stats.waits++;
                leave_queue(pool, waited);
                pthread_mutex_unlock(&pool->lock);
                *out = s.db;
                return STRATA_OK;
            }
            if (!old && lost(s.db))
                note_lost(pool);
            drop(pool, s.db, !old);
            pthread_mutex_lock(&pool->lock);
            continue;
        }
        if (pool->open < pool->opts.max_size) {
            pool->open++; /* the slot is ours while we open */
            pthread_mutex_unlock(&pool->lock);
            strata_db *db;
            /* Bounded as the check is: by the acquire's time left, at
             * least a second. */
            int64_t until = now_ms() + 1000;
            int rc = open_one(pool, &db, deadline > until ? deadline : until);
            pthread_mutex_lock(&pool->lock);
            if (rc != STRATA_OK) {
                pool->open--;
                leave_queue(pool, waited);
                pthread_cond_broadcast(&pool->freed);
                pthread_mutex_unlock(&pool->lock);
                return rc;
            }
            pool->stats.opened++;
            lend(pool, db, now_ms());
            if (waited)
                pool->stats.waits++;
            leave_queue(pool, waited);
            pthread_mutex_unlock(&pool->lock);
            *out = db;
            return STRATA_OK;
        }
        if (t >= deadline) {
            pool->stats.timeouts++;
            leave_queue(pool, waited);
            int max = pool->opts.max_size;
            pthread_mutex_unlock(&pool->lock);
            return strata__pool_fail(pool, STRATA_E_TIMEOUT,
                                     "no connection came free within %d ms: all %d are in use "
                                     "(raise max_size or acquire_timeout_ms, or hold connections "
                                     "for less time)",
                                     pool->opts.acquire_timeout_ms, max);
        }
        if (!waited)
            pool->queued++;
        waited = true;
        pool->waiting++;
        struct timespec until;
        until.tv_sec = (time_t)(deadline / 1000);
        until.tv_nsec = (long)(deadline % 1000) * 1000000L;
        int w = pthread_cond_timedwait(&pool->freed, &pool->lock, &until);
        pool->waiting--;
        if (pool->closing)
            pthread_cond_broadcast(&pool->freed); /* close() waits for waiters */
        (void)w;                                  /* the loop looks again either way */
    }
}

/* Put the connection back in the state a new one has.  False when it
 * cannot be reused. */
static bool reset(strata_db *db)
{
    if (strata_db_is_broken(db) || db->live || db->streaming)
        return false;
    if (strata_db_in_transaction(db) && strata_db_rollback(db) != STRATA_OK)
        return false;
    /* A transaction the program began with raw SQL ("BEGIN" through
     * strata_db_exec), which the handle does not count: rolled back too,
     * or the next borrower would work inside it. */
    if (strata__drv_in_transaction(db) == 1) {
        strata__echo_line(db, "ROLLBACK");
        if (strata__drv_rollback(db) != STRATA_OK || strata__drv_in_transaction(db) != 0)
            return false;
    }
    strata__db_reset_echo(db);
    strata_db_set_notice_handler(db, NULL, NULL);
    if (db->timeout_ms && strata_db_set_statement_timeout(db, 0) != STRATA_OK)
        return false;
    return !strata_db_is_broken(db);
}

/* The birth time of `db` if `pool` lent it, else -1.  Its entry is
 * removed only when this thread may have the connection: *c then holds
 * it confined to this thread.  A thread that does not hold it may not
 * give it back while its holder is in a call on it: *busy, and the entry
 * stays.  Both under the pool's lock, so that the holder's own release
 * waits for the answer instead of finding no entry meanwhile. */
static int64_t take_lent(strata_pool *pool, strata_db *db, strata__confinement *c, bool *busy)
{
    int64_t born = -1;
    pthread_mutex_lock(&pool->lock);
    for (int i = 0; i < pool->nlent; i++)
        if (pool->lent[i].db == db) {
            *c = strata__confine(db);
            if (c->refused) {
                *busy = true;
                break;
            }
            born = pool->lent[i].born_ms;
            pool->lent[i] = pool->lent[--pool->nlent];
            break;
        }
    pthread_mutex_unlock(&pool->lock);
    return born;
}

void strata_pool_release(strata_pool *pool, strata_db *db)
{
    if (!pool || !db)
        return;
    strata__confinement c;
    bool busy = false;
    int64_t born = take_lent(pool, db, &c, &busy);
    strata_pool *owner = pool;
    for (int i = 0; born < 0 && !busy && i < pool->nreplicas; i++)
        if ((born = take_lent(pool->replicas[i], db, &c, &busy)) >= 0)
            owner = pool->replicas[i];
    if (busy) {
        /* Refused, as any call on the connection then is: it stays lent,
         * its holder's. */
        strata__pool_fail(pool, STRATA_E_MISUSE,
                          "that connection is in use by another thread: the thread that holds "
                          "it gives it back, once its call is done");
        return;
    }
    if (born < 0) {
        /* Not ours (or given back already, perhaps closed since): misuse,
         * said without touching it. */
        strata__pool_fail(pool, STRATA_E_MISUSE, "that connection is not from this pool");
        return;
    }
    /* Held while it is reset, so that no other thread's call runs on it
     * meanwhile. */
    pool = owner;
    /* Lost before, or found lost by the reset's rollback: the idle
     * connections are checked before they are next lent either way. */
    bool was_lost = lost(db);
    bool reusable = reset(db);
    if (was_lost || lost(db))
        note_lost(pool);
    strata__confine_end(&c); /* out of this thread's hands: nobody's until lent again */
    pthread_mutex_lock(&pool->lock);
    pool->in_use--;
    int64_t t = now_ms();
    pool_slot s = {db, born, t};
    bool aged = too_old(pool, &s, t);
    if (reusable && !aged && !pool->closing) {
        pool->idle[pool->nidle++] = s;
        if (pool->queued > pool->reserved)
            pool->reserved++; /* a waiter's */
        pthread_cond_broadcast(&pool->freed);
        pthread_mutex_unlock(&pool->lock);
        return;
    }
    pthread_mutex_unlock(&pool->lock);
    drop(pool, db, !reusable);
}

int strata_pool_acquire_replica(strata_pool *pool, strata_db **out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!pool)
        return STRATA_E_MISUSE;
    if (pool->unopened)
        return refuse_unopened(pool);
    if (pool->nreplicas == 0)
        return strata_pool_acquire(pool, out);
    /* The turn moves past the replica chosen, so one skipped does not send
     * its share to the next one in line. */
    pthread_mutex_lock(&pool->lock);
    bool closing = pool->closing;
    unsigned start = pool->next_replica++;
    pthread_mutex_unlock(&pool->lock);
    if (closing)
        return strata__pool_fail(pool, STRATA_E_MISUSE, "the pool is closing");
    for (int k = 0; k < pool->nreplicas; k++) {
        int i = (int)((start + (unsigned)k) % (unsigned)pool->nreplicas);
        pthread_mutex_lock(&pool->lock);
        bool down = pool->down_until[i] > now_ms();
        pthread_mutex_unlock(&pool->lock);
        if (down)
            continue;
        int rc = strata_pool_acquire(pool->replicas[i], out);
        if (rc == STRATA_OK) {
            if (k > 0) {
                pthread_mutex_lock(&pool->lock);
                pool->next_replica = (unsigned)i + 1;
                pthread_mutex_unlock(&pool->lock);
            }
            clear_error(pool);
            return STRATA_OK;
        }
        if (rc != STRATA_E_CONNECT && rc != STRATA_E_CONNECTION_LOST &&
            rc != STRATA_E_TOO_MANY_CONNECTIONS) {
            char why[512];
            snprintf(why, sizeof why, "%s", strata_pool_errmsg(pool->replicas[i]));
            return strata__pool_fail(pool, rc, "replica %d: %s", i + 1, why);
        }
        pthread_mutex_lock(&pool->lock);
        pool->down_until[i] = now_ms() + pool->opts.replica_retry_ms;
        pthread_mutex_unlock(&pool->lock);
    }
    return strata_pool_acquire(pool, out); /* no replica answered: the primary */
}

int strata_pool_replica_count(const strata_pool *pool) { return pool ? pool->nreplicas : 0; }

int strata_pool_replica_stats(strata_pool *pool, int index, strata_pool_statistics *out)
{
    if (!pool || index < 0 || index >= pool->nreplicas)
        return STRATA_E_MISUSE;
    return strata_pool_stats(pool->replicas[index], out);
}

int strata_pool_stats(strata_pool *pool, strata_pool_statistics *out)
{
    if (!pool || !out)
        return STRATA_E_MISUSE;
    pthread_mutex_lock(&pool->lock);
    *out = pool->stats;
    out->open = pool->open;
    out->idle = pool->nidle;
    out->in_use = pool->in_use;
    out->waiting = pool->waiting;
    pthread_mutex_unlock(&pool->lock);
    return STRATA_OK;
}

bool strata__pool_run_enter(strata_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    bool open = !pool->closing;
    pool->running += open;
    pthread_mutex_unlock(&pool->lock);
    return open;
}

void strata__pool_run_leave(strata_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->running--;
    if (pool->closing)
        pthread_cond_broadcast(&pool->freed); /* close() waits for it */
    pthread_mutex_unlock(&pool->lock);
}

bool strata__pool_back_off(strata_pool *pool, int ms)
{
    int64_t deadline = now_ms() + ms;
    struct timespec until = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000L};
    pthread_mutex_lock(&pool->lock);
    pool->stats.retries++;
    /* On the condition a close broadcasts, so that a close does not wait
     * out the sleep of every unit between its attempts. */
    while (!pool->closing && pthread_cond_timedwait(&pool->freed, &pool->lock, &until) != ETIMEDOUT)
        ;
    bool open = !pool->closing;
    pthread_mutex_unlock(&pool->lock);
    return open;
}
