/*
 * retry.c - units of work run again when the database asks for it.
 *
 * strata_pool_run() takes a session from the pool, begins its
 * transaction, runs the caller's function, commits, and on a failure that another attempt can cure
 * (busy, serialization failure, deadlock, a connection lost before COMMIT
 * was sent, a statement a schema change made stale) rolls back, gives the
 * connection back (a lost one is closed by the pool) and runs it again on
 * a fresh session after a wait.  Waits
 * grow exponentially and are drawn at random below the bound ("full
 * jitter"), so threads that collided do not collide again in step.  A
 * commit whose outcome is unknown is never run again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "orm_internal.h"

static bool retryable(int rc)
{
    return rc == STRATA_E_BUSY || rc == STRATA_E_SERIALIZATION || rc == STRATA_E_DEADLOCK ||
           rc == STRATA_E_CONNECTION_LOST || rc == STRATA_E_STALE_STATEMENT;
}

/* A random number in [0, bound] from a per-thread generator. */
static int jitter(int bound)
{
    static _Thread_local unsigned seed;
    if (!seed)
        seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
    seed = seed * 1103515245u + 12345u;
    return bound > 0 ? (int)((seed >> 8) % (unsigned)(bound + 1)) : 0;
}

/* The wait before attempt `attempt` + 1, counted as a retry.  False when
 * the pool is closing: the unit then ends with the failure `rc` of the
 * attempt before, and says why it was not run again. */
static bool back_off(strata_pool *pool, const strata_retry_options *o, int attempt, int rc)
{
    int bound = o->base_delay_ms;
    for (int i = 1; i < attempt && bound < o->max_delay_ms; i++)
        bound *= 2;
    if (strata__pool_back_off(pool, jitter(bound < o->max_delay_ms ? bound : o->max_delay_ms)))
        return true;
    char was[512]; /* the attempt's own words, kept */
    snprintf(was, sizeof was, "%s", strata_pool_errmsg(pool));
    strata__pool_fail(pool, rc, "%s (not run again: the pool is closing)",
                      was[0] ? was : strata_errstr(rc));
    return false;
}

static int run_unit(strata_pool *pool, strata_unit_fn fn, void *ctx, const strata_retry_options *o);

int strata_pool_run(strata_pool *pool, strata_unit_fn fn, void *ctx,
                    const strata_retry_options *opts)
{
    static const strata_retry_options defaults = STRATA_RETRY_OPTIONS_INIT;
    const strata_retry_options *o = opts ? opts : &defaults;
    if (!pool || !fn || o->version < 1 || o->max_attempts < 1 || o->base_delay_ms < 0 ||
        o->max_delay_ms < 0)
        return STRATA_E_MISUSE;
    /* Counted while it runs, its back-off sleeps included: a close of the
     * pool waits for it (the next attempt's acquire is refused then). */
    if (!strata__pool_run_enter(pool))
        return strata__pool_fail(pool, STRATA_E_MISUSE, "the pool is closed");
    int rc = run_unit(pool, fn, ctx, o);
    strata__pool_run_leave(pool);
    return rc;
}

/* strata_pool_run's attempts. */
static int run_unit(strata_pool *pool, strata_unit_fn fn, void *ctx, const strata_retry_options *o)
{
    int rc = STRATA_OK;
    for (int attempt = 1;; attempt++) {
        strata_session *s;
        if ((rc = strata_session_new_from_pool(&s, pool)) != STRATA_OK) {
            /* The pool said why.  A connection it opened may find the
             * database locked (SQLite setting its journal mode): that
             * passes as a busy unit does. */
            if (rc != STRATA_E_BUSY || attempt >= o->max_attempts ||
                !back_off(pool, o, attempt, rc))
                return rc;
            continue;
        }
        strata_db *db = strata_session_db(s);
        uint64_t mark = db->nerrors;
        /* Begun now, not at the session's first statement: SQL the unit
         * runs on the connection before it is in the transaction too. */
        rc = strata_session_set_read_only(s, o->version >= 2 && o->read_only);
        if (rc == STRATA_OK)
            rc = strata__session_begin(s);
        if (rc == STRATA_OK) {
            db->in_unit = true; /* the unit may not commit what a retry would write again */
            rc = fn(s, ctx);
            db->in_unit = false;
        }
        if (rc == STRATA_OK)
            rc = strata_session_commit(s);
        if (rc != STRATA_OK) {
            /* The connection's words when they are about this failure: not
             * an earlier error the unit handled before returning its own. */
            bool said = db->nerrors != mark && strata_db_errcode(db) == rc;
            strata__pool_fail(pool, rc, "%s", said ? strata_db_errmsg(db) : strata_errstr(rc));
            strata__session_rollback_to_free(s);
        }
        strata_session_free(s);
        if (rc == STRATA_OK || !retryable(rc) || attempt >= o->max_attempts ||
            !back_off(pool, o, attempt, rc))
            return rc;
    }
}
