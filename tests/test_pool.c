/*
 * test_pool.c - the connection pool and lost connections.
 *
 * A pool needs a database that several connections share, so the pool
 * tests run on sqlite-file and postgresql; on sqlite-memory the test is
 * that a pool of private in-memory databases is refused.  Killing a
 * connection needs a server (pg_terminate_backend): those tests run on
 * postgresql only, as the suite registration below says.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "counter.h"
#include "harness.h"
#include "models.h"

#define OK(db, call) th_rc((db), (call), STRATA_OK)

static strata_db *setup_at(const char *url)
{
    strata_db *db = th_open_url(url);
    th_exec(db, "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
    th_exec(db, "INSERT INTO counter (id, n) VALUES (1, 0)");
    th_exec(db, "CREATE TABLE item (id INTEGER PRIMARY KEY, name VARCHAR(20))");
    return db;
}

static strata_db *setup(void) { return setup_at(th_url()); }

static strata_pool *pool_with(int max, int timeout_ms, int ping_after_ms)
{
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    o.max_size = max;
    o.acquire_timeout_ms = timeout_ms;
    o.ping_after_ms = ping_after_ms;
    strata_pool *pool = NULL;
    int rc = strata_pool_open(&pool, th_url(), &o);
    ck_assert_msg(rc == STRATA_OK, "%s", strata_pool_errmsg(pool));
    return pool;
}

/* A URL nothing answers at, for this engine. */
static const char *dead_url(void)
{
    return th_is_pg() ? "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=5"
                      : "sqlite:////nonexistent-strata-dir/replica.db";
}

static int64_t replica_acquired(strata_pool *pool, int i)
{
    strata_pool_statistics st;
    ck_assert_int_eq(strata_pool_replica_stats(pool, i, &st), STRATA_OK);
    return st.acquired;
}

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* In-memory SQLite cannot be pooled; bad options and URLs fail at open. */
START_TEST(pool_refuses_what_cannot_work)
{
    strata_pool *pool = NULL;
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    ck_assert_int_eq(strata_pool_open(&pool, "sqlite://", &o), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_pool_errmsg(pool), "in-memory"));
    strata_pool_close(pool);
    /* mode=memory is each connection's own database too (strata opens
     * it as :memory:, whatever the cache). */
    static const char *const memory[] = {"sqlite:///pm.db?mode=memory",
                                         "sqlite:///pm.db?mode=memory&cache=shared"};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(strata_pool_open(&pool, memory[i], &o), STRATA_E_MISUSE);
        ck_assert_ptr_nonnull(strstr(strata_pool_errmsg(pool), "in-memory"));
        strata_pool_close(pool);
    }
    ck_assert_int_eq(strata_pool_open(&pool, "postgresql://u:S3cret@h:x/db", &o), STRATA_E_URL);
    ck_assert_ptr_nonnull(strstr(strata_pool_errmsg(pool), "invalid database URL"));
    ck_assert_ptr_null(strstr(strata_pool_errmsg(pool), "S3cret"));
    /* A pool that did not open refuses to lend; it is only closed. */
    strata_db *db = NULL;
    strata_session *s = NULL;
    ck_assert_int_eq(strata_pool_acquire(pool, &db), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_pool_errmsg(pool), "did not open"));
    ck_assert_int_eq(strata_pool_acquire_replica(pool, &db), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_session_new_from_pool(&s, pool), STRATA_E_MISUSE);
    ck_assert_ptr_null(db);
    ck_assert_ptr_null(s);
    strata_pool_close(pool);
    o.min_size = 3;
    o.max_size = 2;
    ck_assert_int_eq(strata_pool_open(&pool, th_url(), &o), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_pool_errmsg(pool), "min_size"));
    strata_pool_close(pool);
    ck_assert_int_eq(strata_pool_acquire(NULL, NULL), STRATA_E_MISUSE);
}
END_TEST

/* Acquire up to max_size; the next waits and times out with a clear
 * message; a release lets a waiter through; the counters say so. */
START_TEST(pool_exhaustion_times_out)
{
    strata_db *db = setup();
    strata_pool *pool = pool_with(2, 150, -1);
    strata_db *a, *b, *c;
    ck_assert_int_eq(strata_pool_acquire(pool, &a), STRATA_OK);
    ck_assert_int_eq(strata_pool_acquire(pool, &b), STRATA_OK);
    ck_assert_ptr_ne(a, b);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(strata_pool_acquire(pool, &c), STRATA_E_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long waited = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    ck_assert_int_ge(waited, 140);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(strata_pool_errmsg(pool), "all 2 are in use"));
    strata_pool_statistics st;
    ck_assert_int_eq(strata_pool_stats(pool, &st), STRATA_OK);
    ck_assert_int_eq(st.open, 2);
    ck_assert_int_eq(st.in_use, 2);
    ck_assert_int_eq(st.idle, 0);
    ck_assert_int_eq(st.timeouts, 1);
    ck_assert_int_eq(st.acquired, 2);
    strata_pool_release(pool, a);
    ck_assert_int_eq(strata_pool_acquire(pool, &c), STRATA_OK);
    ck_assert_ptr_eq(c, a); /* the same connection, reused */
    strata_pool_release(pool, b);
    strata_pool_release(pool, c);
    ck_assert_int_eq(strata_pool_stats(pool, &st), STRATA_OK);
    ck_assert_int_eq(st.idle, 2);
    ck_assert_int_eq(st.in_use, 0);
    ck_assert_int_eq(st.opened, 2);
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

/* A connection comes back reset: its open transaction rolled back, its
 * savepoints gone, its echo hook removed. */
static int echoed;
static void count_echo(void *ud, const char *line)
{
    (void)ud;
    (void)line;
    echoed++;
}

START_TEST(pool_resets_on_release)
{
    strata_db *db = setup();
    strata_pool *pool = pool_with(1, 1000, -1);
    strata_db *c;
    ck_assert_int_eq(strata_pool_acquire(pool, &c), STRATA_OK);
    strata_db_set_echo(c, count_echo, NULL);
    OK(c, strata_db_begin(c));
    OK(c, strata_db_exec(c, "INSERT INTO item (id, name) VALUES (1, 'lost')"));
    OK(c, strata_db_savepoint(c));
    strata_pool_release(pool, c);
    strata_db *again;
    ck_assert_int_eq(strata_pool_acquire(pool, &again), STRATA_OK);
    ck_assert_ptr_eq(again, c);
    ck_assert_int_eq(strata_db_in_transaction(again), 0);
    ck_assert_int_eq(strata_db_savepoint_depth(again), 0);
    int before = echoed;
    ck_assert_int_eq(th_int(again, "SELECT count(*) FROM item"), 0);
    ck_assert_int_eq(echoed, before);
    /* A connection with a statement still out is not reused. */
    strata_stmt *st;
    OK(again, strata_stmt_prepare(&st, again, "SELECT 1"));
    strata_pool_release(pool, again);
    strata_pool_statistics s;
    strata_pool_stats(pool, &s);
    ck_assert_int_eq(s.closed_broken, 1);
    ck_assert_int_eq(s.open, 0);
    strata_stmt_finalize(st); /* the handle went with its last statement */
    ck_assert_int_eq(strata_pool_acquire(pool, &c), STRATA_OK);
    ck_assert_int_eq(th_int(c, "SELECT count(*) FROM counter"), 1);
    strata_pool_release(pool, c);
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

/* A transaction the program began with raw SQL, which the handle does
 * not count, is rolled back on release too: the next borrower neither
 * works inside it nor finds it in the way of its own. */
START_TEST(pool_rolls_back_a_raw_transaction_on_release)
{
    strata_db *db = setup();
    strata_pool *pool = pool_with(1, 1000, -1);
    strata_db *c;
    ck_assert_int_eq(strata_pool_acquire(pool, &c), STRATA_OK);
    OK(c, strata_db_exec(c, "BEGIN"));
    OK(c, strata_db_exec(c, "INSERT INTO item (id, name) VALUES (7, 'raw')"));
    ck_assert_int_eq(strata_db_in_transaction(c), 0); /* not the handle's */
    strata_pool_release(pool, c);
    strata_db *again;
    ck_assert_int_eq(strata_pool_acquire(pool, &again), STRATA_OK);
    ck_assert_ptr_eq(again, c); /* rolled back, not closed */
    OK(again, strata_db_begin(again));
    OK(again, strata_db_exec(again, "INSERT INTO item (id, name) VALUES (8, 'next')"));
    OK(again, strata_db_commit(again));
    strata_pool_release(pool, again);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE id = 7"), 0);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE id = 8"), 1);
    strata_pool_statistics st;
    strata_pool_stats(pool, &st);
    ck_assert_int_eq(st.closed_broken, 0);
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

/* strata_pool_run begins the unit's transaction before the unit runs:
 * SQL the unit runs itself on the session's connection is rolled back with
 * an attempt that fails, so a retry does not write it twice and a failed
 * unit leaves nothing.  A unit that only reads says so in the options. */
static int raw_insert(strata_session *s, void *ctx)
{
    int *runs = ctx;
    strata_db *db = strata_session_db(s);
    ck_assert_int_eq(strata_db_in_transaction(db), 1);
    int rc = strata_db_exec(db, "INSERT INTO item (id, name) VALUES (9, 'once')");
    if (rc != STRATA_OK)
        return rc;
    switch ((*runs)++) {
    case 0: return STRATA_E_SERIALIZATION; /* run again */
    case 1: return STRATA_OK;
    default: return STRATA_E_CHECK; /* not run again */
    }
    return STRATA_OK;
}

/* A unit that only reads: said in the options, or (as units did before
 * the transaction was begun for them) by the unit itself before its first
 * statement.  Once a statement ran, the mode stays. */
static int read_only_unit(strata_session *s, void *ctx)
{
    (void)ctx;
    ck_assert_int_eq(strata_session_set_read_only(s, 1), STRATA_OK);
    Counter *k;
    int rc = strata_get(s, &counter_model, 1, &k);
    if (rc != STRATA_OK)
        return rc;
    ck_assert_int_eq(strata_session_set_read_only(s, 1), STRATA_OK); /* as it is */
    ck_assert_int_eq(strata_session_set_read_only(s, 0), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(s), "read_only"));
    k->n = 100;
    rc = strata_session_flush(s) == STRATA_E_READONLY ? STRATA_OK : STRATA_E_ERROR;
    k->n = 0; /* or the commit's flush is refused too */
    return rc;
}

/* A unit that met an error, handled it, and failed for a reason of its
 * own: the pool's message is its code's, not the error it handled. */
static int fail_after_a_handled_error(strata_session *s, void *ctx)
{
    (void)ctx;
    Counter *k;
    if (strata_get(s, &counter_model, 999, &k) != STRATA_E_NOT_FOUND)
        return STRATA_E_ERROR;
    return STRATA_E_CHECK;
}

/* A unit that ends its transaction by itself: refused, since a retry of
 * the unit after a later failure would write again what it committed, or
 * what ran after its rollback.  ctx: 0 the session's commit, 1 the
 * connection's, 2 a COMMIT through a prepared statement, 3 the session's
 * rollback, 4 the connection's. */
static int commits_inside(strata_session *s, void *ctx)
{
    strata_db *db = strata_session_db(s);
    int rc = strata_db_exec(db, "INSERT INTO item (id, name) VALUES (11, 'twice?')");
    if (rc != STRATA_OK)
        return rc;
    strata_stmt *st = NULL;
    const char *said = "commit inside a unit of strata_pool_run";
    switch (*(int *)ctx) {
    case 0: rc = strata_session_commit(s); break;
    case 1: rc = strata_db_commit(db); break;
    case 2:
        ck_assert_int_eq(strata_stmt_prepare(&st, db, "COMMIT"), STRATA_OK);
        rc = strata_stmt_step(st);
        strata_stmt_finalize(st);
        said = "which would end the transaction strata began";
        break;
    case 3: rc = strata_session_rollback(s), said = "rollback inside a unit"; break;
    default: rc = strata_db_rollback(db), said = "rollback inside a unit"; break;
    }
    ck_assert_int_eq(rc, STRATA_E_MISUSE);
    ck_assert_msg(strstr(strata_session_errmsg(s), said) != NULL, "%s", strata_session_errmsg(s));
    ck_assert_int_eq(strata_db_in_transaction(db), 1);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE id = 11"), 1);
    return rc;
}

START_TEST(pool_run_begins_before_the_unit)
{
    strata_db *db = setup();
    strata_pool *pool = pool_with(2, 1000, -1);
    static int runs;
    runs = 0;
    ck_assert_int_eq(strata_pool_run(pool, raw_insert, &runs, NULL), STRATA_OK);
    ck_assert_int_eq(runs, 2);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE id = 9"), 1);
    th_exec(db, "DELETE FROM item");
    runs = 2;
    ck_assert_int_eq(strata_pool_run(pool, raw_insert, &runs, NULL), STRATA_E_CHECK);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE id = 9"), 0);
    ck_assert_int_eq(strata_pool_run(pool, fail_after_a_handled_error, NULL, NULL),
                     STRATA_E_CHECK);
    ck_assert_str_eq(strata_pool_errmsg(pool), strata_errstr(STRATA_E_CHECK));
    strata_retry_options ro = STRATA_RETRY_OPTIONS_INIT;
    ro.read_only = 1;
    ck_assert_int_eq(strata_pool_run(pool, read_only_unit, NULL, &ro), STRATA_OK);
    ck_assert_int_eq(strata_pool_run(pool, read_only_unit, NULL, NULL), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT n FROM counter"), 0);
    /* Options of the first version are still taken. */
    strata_retry_options v1 = {.version = 1, .max_attempts = 2, .base_delay_ms = 1,
                               .max_delay_ms = 10};
    runs = 0;
    ck_assert_int_eq(strata_pool_run(pool, raw_insert, &runs, &v1), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE id = 9"), 1);
    /* A commit or rollback inside the unit is refused, and the unit's
     * work undone. */
    for (int k = 0; k < 5; k++) {
        ck_assert_int_eq(strata_pool_run(pool, commits_inside, &k, NULL), STRATA_E_MISUSE);
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE id = 11"), 0);
    }
    th_exec(db, "DELETE FROM item");
    runs = 1;
    ck_assert_int_eq(strata_pool_run(pool, raw_insert, &runs, NULL), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item"), 1);
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

/* A thread that does not hold a connection gives it back while its holder
 * is in a call on it: refused, the connection still the holder's (not
 * reset under it, nor lent to a third thread), and the holder's own
 * release then works. */
typedef struct slow_call {
    strata_db *db;
    _Atomic int started;
    int rc;
} slow_call;

static void *run_slow_call(void *arg)
{
    slow_call *c = arg;
    atomic_store(&c->started, 1);
    c->rc = strata_db_exec(c->db, th_is_pg() ? "SELECT pg_sleep(0.6)"
                                             : "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL "
                                               "SELECT x + 1 FROM n WHERE x < 3000000) "
                                               "SELECT count(*) FROM n");
    return NULL;
}

START_TEST(pool_release_by_another_thread_during_a_call_is_refused)
{
    strata_db *db = setup();
    strata_pool *pool = pool_with(1, 100, -1);
    slow_call c = {.rc = -1};
    ck_assert_int_eq(strata_pool_acquire(pool, &c.db), STRATA_OK);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, run_slow_call, &c), 0);
    while (!atomic_load(&c.started))
        sched_yield();
    struct timespec pause = {0, 50 * 1000000L};
    nanosleep(&pause, NULL); /* inside its call by now */
    strata_pool_release(pool, c.db);
    ck_assert_msg(strstr(strata_pool_errmsg(pool), "in use by another thread"), "%s",
                  strata_pool_errmsg(pool));
    strata_pool_statistics st;
    ck_assert_int_eq(strata_pool_stats(pool, &st), STRATA_OK);
    ck_assert_int_eq(st.in_use, 1);
    ck_assert_int_eq(st.idle, 0);
    strata_db *other = NULL;
    ck_assert_int_eq(strata_pool_acquire(pool, &other), STRATA_E_TIMEOUT);
    pthread_join(t, NULL);
    ck_assert_int_eq(c.rc, STRATA_OK);
    strata_pool_release(pool, c.db); /* the holder's, after its call */
    ck_assert_int_eq(strata_pool_stats(pool, &st), STRATA_OK);
    ck_assert_int_eq(st.in_use, 0);
    ck_assert_int_eq(st.idle, 1);
    strata_pool_close(pool);
    /* Given back twice, the first closing it (too old): the second is
     * refused without touching the freed handle (valgrind and the
     * sanitizer build would see it). */
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    o.max_lifetime_ms = 1;
    ck_assert_int_eq(strata_pool_open(&pool, th_url(), &o), STRATA_OK);
    strata_db *old;
    ck_assert_int_eq(strata_pool_acquire(pool, &old), STRATA_OK);
    struct timespec aged = {0, 5 * 1000000L};
    nanosleep(&aged, NULL);
    strata_pool_release(pool, old);
    ck_assert_int_eq(strata_pool_stats(pool, &st), STRATA_OK);
    ck_assert_int_eq(st.open, 0);
    strata_pool_release(pool, old);
    ck_assert_msg(strstr(strata_pool_errmsg(pool), "not from this pool"), "%s",
                  strata_pool_errmsg(pool));
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

/* The same race, many times: a holder that acquires, makes a call and
 * gives the connection back, and another thread giving back whatever the
 * holder has at the time.  A refused release never costs the holder its
 * own: the pool's one connection always comes free again (the holder's
 * release was lost, the connection counted in use with no holder, and
 * the pool's close waited for it for ever). */
typedef struct racing_release {
    strata_pool *pool;
    _Atomic(strata_db *) held;
    _Atomic int done;
} racing_release;

static void *release_what_is_held(void *arg)
{
    racing_release *r = arg;
    while (!atomic_load(&r->done)) {
        strata_db *db = atomic_load(&r->held);
        if (db)
            strata_pool_release(r->pool, db);
    }
    return NULL;
}

START_TEST(pool_refused_release_keeps_the_holders)
{
    strata_db *db = setup();
    racing_release r = {.pool = pool_with(1, 2000, -1)};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, release_what_is_held, &r), 0);
    int rounds = th_under_valgrind() ? 200 : 3000;
    for (int i = 0; i < rounds; i++) {
        strata_db *mine = NULL;
        int rc = strata_pool_acquire(r.pool, &mine);
        ck_assert_msg(rc == STRATA_OK, "round %d: %s", i, strata_pool_errmsg(r.pool));
        atomic_store(&r.held, mine);
        strata_db_ping(mine); /* refused when the other thread has it */
        atomic_store(&r.held, NULL);
        strata_pool_release(r.pool, mine); /* refused when the other gave it back */
    }
    atomic_store(&r.done, 1);
    pthread_join(t, NULL);
    strata_pool_statistics st;
    ck_assert_int_eq(strata_pool_stats(r.pool, &st), STRATA_OK);
    ck_assert_int_eq(st.in_use, 0);
    strata_pool_close(r.pool);
    strata_db_close(db);
}
END_TEST

/* Threads that give the pool's one connection back and take it again at
 * once, four of them: a connection given back while others wait goes to
 * one of those, not to the thread that gave it back, so none waits its
 * whole timeout while the connection comes free every fraction of a
 * millisecond (one such thread took it thousands of times while another
 * timed out). */
typedef struct turn_taker {
    strata_pool *pool;
    _Atomic int *stop;
    int taken, timeouts;
} turn_taker;

static void *take_turns(void *arg)
{
    turn_taker *t = arg;
    while (!atomic_load(t->stop)) {
        strata_db *db;
        int rc = strata_pool_acquire(t->pool, &db);
        if (rc == STRATA_E_TIMEOUT) {
            t->timeouts++;
            continue;
        }
        if (rc != STRATA_OK)
            break;
        t->taken++;
        struct timespec hold = {0, 200 * 1000L};
        nanosleep(&hold, NULL);
        strata_pool_release(t->pool, db);
    }
    return NULL;
}

START_TEST(pool_waiters_are_served_before_newcomers)
{
    strata_db *db = setup();
    strata_pool *pool = pool_with(1, 1000, -1);
    _Atomic int stop = 0;
    turn_taker t[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (turn_taker){pool, &stop, 0, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, take_turns, &t[i]), 0);
    }
    sleep_ms(th_under_valgrind() ? 4000 : 2000);
    atomic_store(&stop, 1);
    int total = 0, least = -1;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += t[i].taken;
        if (least < 0 || t[i].taken < least)
            least = t[i].taken;
        ck_assert_msg(t[i].timeouts == 0, "thread %d timed out %d times (took it %d times)", i,
                      t[i].timeouts, t[i].taken);
    }
    ck_assert_msg(least * 8 >= total / 4, "the least served took it %d times of %d", least, total);
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

/* A pool closed while a unit of strata_pool_run sleeps between two
 * attempts: the close waits for the unit, whose next attempt is refused,
 * and frees nothing under it (the unit's next acquire read freed memory
 * before: the sanitizer build and valgrind, which run this test, see a
 * use after free).  The close cuts the unit's wait short: with waits of
 * up to a minute, it waited out the whole of one before. */
typedef struct backing_off {
    strata_pool *pool;
    _Atomic int attempts;
    int rc;
    char msg[512];
} backing_off;

static int always_conflicts(strata_session *s, void *ctx)
{
    (void)s;
    atomic_fetch_add(&((backing_off *)ctx)->attempts, 1);
    return STRATA_E_SERIALIZATION;
}

static void *run_backing_off(void *arg)
{
    backing_off *b = arg;
    strata_retry_options ro = STRATA_RETRY_OPTIONS_INIT;
    ro.max_attempts = 1000;
    ro.base_delay_ms = 60000;
    ro.max_delay_ms = 60000;
    b->rc = strata_pool_run(b->pool, always_conflicts, b, &ro);
    snprintf(b->msg, sizeof b->msg, "%s", strata_pool_errmsg(b->pool));
    return NULL;
}

START_TEST(pool_close_waits_for_a_unit_between_attempts)
{
    strata_db *db = setup();
    backing_off b = {.pool = pool_with(2, 1000, -1)};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, run_backing_off, &b), 0);
    while (atomic_load(&b.attempts) < 1)
        sched_yield();
    struct timespec pause = {0, 50 * 1000000L}, t0, t1;
    nanosleep(&pause, NULL); /* in its back-off now, holding no connection */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    strata_pool_close(b.pool); /* returns once the unit has left the pool */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(t, NULL);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(waited < 10, "the close waited %.1f s for a unit's back-off", waited);
    ck_assert_int_lt(atomic_load(&b.attempts), 1000);
    /* The attempt's failure, and why there was no other: or, when the
     * close came while an attempt began, the refusal of its session. */
    if (b.rc == STRATA_E_SERIALIZATION)
        ck_assert_msg(strstr(b.msg, "not run again: the pool is closing"), "%s", b.msg);
    else
        ck_assert_msg(b.rc == STRATA_E_MISUSE && strstr(b.msg, "closing"), "%s: %s",
                      strata_errname(b.rc), b.msg);
    strata_db_close(db);
}
END_TEST

/* A connection older than max_lifetime_ms is replaced. */
START_TEST(pool_max_lifetime)
{
    strata_db *db = setup();
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    o.max_size = 1;
    o.max_lifetime_ms = 50;
    strata_pool *pool;
    ck_assert_int_eq(strata_pool_open(&pool, th_url(), &o), STRATA_OK);
    strata_db *c;
    ck_assert_int_eq(strata_pool_acquire(pool, &c), STRATA_OK);
    strata_pool_release(pool, c);
    sleep_ms(80);
    ck_assert_int_eq(strata_pool_acquire(pool, &c), STRATA_OK);
    strata_pool_statistics s;
    strata_pool_stats(pool, &s);
    ck_assert_int_eq(s.opened, 2);
    ck_assert_int_eq(s.closed_aged, 1);
    ck_assert_int_eq(th_int(c, "SELECT n FROM counter"), 0);
    strata_pool_release(pool, c);
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

/* ---- lost connections (a server is needed) ------------------------------------ */

static void kill_backend(strata_db *victim)
{
    int64_t pid = th_int(victim, "SELECT pg_backend_pid()");
    strata_db *killer = th_open();
    char sql[100];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)pid);
    th_exec(killer, sql);
    strata_db_close(killer);
    sleep_ms(50); /* the backend is gone once the signal is handled */
}

/* The first call after the loss says so (never "transaction aborted"),
 * the handle reports itself broken, and rollback succeeds. */
START_TEST(pool_lost_connection_is_reported)
{
    strata_db *db = setup();
    strata_db *c = th_open();
    OK(c, strata_db_begin(c));
    OK(c, strata_db_exec(c, "INSERT INTO item (id, name) VALUES (1, 'x')"));
    kill_backend(c);
    th_rc(c, strata_db_exec(c, "INSERT INTO item (id, name) VALUES (2, 'y')"),
          STRATA_E_CONNECTION_LOST);
    ck_assert_int_eq(strata_db_is_broken(c), 1);
    th_rc(c, strata_db_exec(c, "SELECT 1"), STRATA_E_CONNECTION_LOST);
    OK(c, strata_db_rollback(c));
    ck_assert_int_eq(strata_db_in_transaction(c), 0);
    strata_db_close(c);

    /* Mid-flush, in a session: the same. */
    strata_db *d = th_open();
    strata_session *s;
    OK(d, strata_session_new(&s, d));
    Counter *k;
    OK(d, strata_get(s, &counter_model, 1, &k));
    k->n = 9;
    kill_backend(d);
    th_rc(d, strata_session_commit(s), STRATA_E_CONNECTION_LOST);
    th_rc(d, strata_session_flush(s), STRATA_E_CONNECTION_LOST);
    OK(d, strata_session_rollback(s));
    strata_session_free(s);
    strata_db_close(d);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item"), 0);
    ck_assert_int_eq(th_int(db, "SELECT n FROM counter"), 0);
    strata_db_close(db);
}
END_TEST

/* A COMMIT whose answer never comes is reported as such: here the server
 * ends its own connection in a deferred trigger, at commit. */
START_TEST(pool_commit_outcome_unknown)
{
    strata_db *db = setup();
    th_exec(db, "CREATE TABLE boom (id INTEGER)");
    th_exec(db, "CREATE FUNCTION boom_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$");
    th_exec(db, "CREATE CONSTRAINT TRIGGER boom_tr AFTER INSERT ON boom DEFERRABLE INITIALLY "
                "DEFERRED FOR EACH ROW EXECUTE FUNCTION boom_fn()");
    strata_db *c = th_open();
    OK(c, strata_db_begin(c));
    OK(c, strata_db_exec(c, "INSERT INTO boom (id) VALUES (1)"));
    th_rc(c, strata_db_commit(c), STRATA_E_COMMIT_UNKNOWN);
    ck_assert_str_eq(strata_db_sqlstate(c), "08007");
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(c), "may or may not have been committed"));
    ck_assert_int_eq(strata_db_is_broken(c), 1);
    ck_assert_int_eq(strata_db_in_transaction(c), 0);
    strata_db_close(c);
    /* A transaction of raw SQL, its COMMIT in a text of its own or after
     * a statement, and one begun to read only: the same. */
    static const char *const commits[] = {"COMMIT", "SELECT 1; COMMIT", NULL};
    for (int k = 0; k < 3; k++) {
        c = th_open();
        if (commits[k]) {
            OK(c, strata_db_exec(c, "BEGIN"));
            OK(c, strata_db_exec(c, "INSERT INTO boom (id) VALUES (1)"));
            th_rc(c, strata_db_exec(c, commits[k]), STRATA_E_COMMIT_UNKNOWN);
        } else {
            OK(c, strata_db_begin_mode(c, STRATA_TX_READ_ONLY));
            OK(c, strata_db_exec(c, "SET TRANSACTION READ WRITE"));
            OK(c, strata_db_exec(c, "INSERT INTO boom (id) VALUES (1)"));
            th_rc(c, strata_db_commit(c), STRATA_E_COMMIT_UNKNOWN);
        }
        strata_db_close(c);
    }

    /* Through a session: what it says after stays the commit's outcome,
     * unknown, not a rollback it cannot vouch for. */
    c = th_open();
    strata_session *s;
    OK(c, strata_session_new(&s, c));
    Counter *k;
    OK(c, strata_get(s, &counter_model, 1, &k));
    OK(c, strata_db_exec(c, "INSERT INTO boom (id) VALUES (2)"));
    th_rc(c, strata_session_commit(s), STRATA_E_COMMIT_UNKNOWN);
    for (int i = 0; i < 2; i++) {
        th_rc(c, strata_get(s, &counter_model, 1, &k), STRATA_E_COMMIT_UNKNOWN);
        ck_assert_msg(strstr(strata_session_errmsg(s), "may or may not have been committed") !=
                          NULL,
                      "%s", strata_session_errmsg(s));
        ck_assert_str_eq(strata_db_sqlstate(c), "08007");
    }
    OK(c, strata_session_rollback(s));
    strata_session_free(s);
    strata_db_close(c);
    strata_db_close(db);
}
END_TEST

/* What a loss tells of a write.  A connection the server ended while its
 * transaction sat idle never got the COMMIT: that is a loss, which a unit
 * may run again, not an unknown outcome.  A statement that may write, run
 * outside a transaction, commits itself: lost, its outcome is unknown, as
 * a COMMIT's is (a program that retried on a loss would write it twice);
 * a read lost so is a loss. */
START_TEST(pool_loss_tells_what_may_be_committed)
{
    strata_db *db = setup();
    strata_db *c = th_open();
    OK(c, strata_db_begin(c));
    OK(c, strata_db_exec(c, "INSERT INTO item (id, name) VALUES (1, 'x')"));
    kill_backend(c);
    th_rc(c, strata_db_commit(c), STRATA_E_CONNECTION_LOST);
    ck_assert_str_eq(strata_db_sqlstate(c), "08006");
    ck_assert_int_eq(strata_db_in_transaction(c), 0);
    strata_db_close(c);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item"), 0);
    /* The same for a statement outside a transaction: it never went. */
    c = th_open();
    kill_backend(c);
    th_rc(c, strata_db_exec(c, "INSERT INTO item (id, name) VALUES (1, 'x')"),
          STRATA_E_CONNECTION_LOST);
    strata_db_close(c);
    c = th_open();
    strata_stmt *sent;
    OK(c, strata_stmt_prepare(&sent, c, "INSERT INTO item (id, name) VALUES (1, 'x')"));
    kill_backend(c);
    th_rc(c, strata_stmt_step(sent), STRATA_E_CONNECTION_LOST);
    strata_stmt_finalize(sent);
    strata_db_close(c);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item"), 0);

    th_exec(db, "CREATE FUNCTION bye() RETURNS integer LANGUAGE plpgsql AS $$ BEGIN "
                "PERFORM pg_terminate_backend(pg_backend_pid()); RETURN 1; END $$");
    static const char *const insert = "INSERT INTO item (id, name) SELECT bye(), 'y'";
    c = th_open();
    th_rc(c, strata_db_exec(c, insert), STRATA_E_COMMIT_UNKNOWN);
    ck_assert_str_eq(strata_db_sqlstate(c), "08007");
    ck_assert_msg(strstr(strata_db_errmsg(c), "may or may not have been committed"), "%s",
                  strata_db_errmsg(c));
    ck_assert_int_eq(strata_db_is_broken(c), 1);
    strata_db_close(c);
    c = th_open();
    strata_stmt *st;
    OK(c, strata_stmt_prepare(&st, c, insert));
    th_rc(c, strata_stmt_step(st), STRATA_E_COMMIT_UNKNOWN);
    strata_stmt_finalize(st);
    strata_db_close(c);
    c = th_open();
    th_rc(c, strata_db_exec(c, "SELECT bye()"), STRATA_E_CONNECTION_LOST);
    strata_db_close(c);
    /* In a transaction the loss is the transaction's: nothing committed. */
    c = th_open();
    OK(c, strata_db_begin(c));
    th_rc(c, strata_db_exec(c, insert), STRATA_E_CONNECTION_LOST);
    OK(c, strata_db_rollback(c));
    strata_db_close(c);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item"), 0);
    strata_db_close(db);
}
END_TEST

/* An idle connection the server dropped is found by the ping and
 * replaced; the unit of work runs on the new one. */
static int bump(strata_session *s, void *ctx)
{
    (void)ctx;
    Counter *k;
    int rc = strata_get_for_update(s, &counter_model, 1, 0, &k);
    if (rc == STRATA_OK)
        k->n++;
    return rc;
}

static int kill_first(strata_session *s, void *ctx);
static void *commit_later(void *arg)
{
    strata_db *holder = arg;
    struct timespec t = {0, 150 * 1000000L};
    nanosleep(&t, NULL);
    int rc = strata_db_exec(holder, "COMMIT");
    if (rc != STRATA_OK)
        fprintf(stderr, "commit_later: %s %s\n", strata_errname(rc), strata_db_errmsg(holder));
    return NULL;
}

/* A connection the pool opens for a unit may find the database locked
 * (SQLite reading its schema and setting its journal mode under another
 * connection's exclusive lock, without waiting): strata_pool_run retries
 * that as it retries a busy unit.  PostgreSQL opens without such a
 * lock, and the unit simply runs. */
START_TEST(pool_run_retries_a_busy_open)
{
    bool sqlite = th_engine_now() == TH_SQLITE_FILE;
    char url[1200];
    snprintf(url, sizeof url, "%s",
             sqlite ? th_url_with("busy_timeout=0&journal_mode=delete") : th_url());
    strata_db *db = setup_at(url);
    strata_db *holder = NULL;
    pthread_t t;
    if (sqlite) {
        holder = th_open_url(url);
        OK(holder, strata_db_exec(holder, "BEGIN EXCLUSIVE"));
        ck_assert_int_eq(pthread_create(&t, NULL, commit_later, holder), 0);
    }
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    o.max_size = 1;
    strata_pool *pool = NULL;
    ck_assert_int_eq(strata_pool_open(&pool, url, &o), STRATA_OK);
    strata_retry_options r = STRATA_RETRY_OPTIONS_INIT;
    r.max_attempts = 1000;
    r.base_delay_ms = 1;
    r.max_delay_ms = 5;
    int rc = strata_pool_run(pool, bump, NULL, &r);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_pool_errmsg(pool));
    if (sqlite) {
        pthread_join(t, NULL);
        strata_pool_statistics st;
        strata_pool_stats(pool, &st);
        ck_assert_int_gt(st.retries, 0);
        strata_db_close(holder);
    }
    ck_assert_int_eq(th_int(db, "SELECT n FROM counter"), 1);
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

START_TEST(pool_replaces_a_killed_connection)
{
    strata_db *db = setup();
    strata_pool *pool = pool_with(1, 1000, 0);
    strata_db *c;
    ck_assert_int_eq(strata_pool_acquire(pool, &c), STRATA_OK);
    strata_pool_release(pool, c);
    kill_backend(c); /* (the test borrows the idle handle to learn its pid) */
    ck_assert_int_eq(strata_pool_run(pool, bump, NULL, NULL), STRATA_OK);
    strata_pool_statistics s;
    strata_pool_stats(pool, &s);
    ck_assert_int_eq(s.closed_broken, 1);
    ck_assert_int_eq(s.opened, 2);
    ck_assert_int_eq(th_int(db, "SELECT n FROM counter"), 1);

    /* Killed while in use, before commit: strata_pool_run runs the unit
     * again on a new connection. */
    strata_pool_close(pool);
    pool = pool_with(2, 1000, -1);
    static int runs;
    runs = 0;
    ck_assert_int_eq(strata_pool_run(pool, kill_first, &runs, NULL), STRATA_OK);
    ck_assert_int_eq(runs, 2);
    strata_pool_stats(pool, &s);
    ck_assert_int_eq(s.retries, 1);
    ck_assert_int_eq(th_int(db, "SELECT n FROM counter"), 2);
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

static int kill_first(strata_session *s, void *ctx)
{
    int *runs = ctx;
    if ((*runs)++ == 0)
        kill_backend(strata_session_db(s));
    return bump(s, NULL);
}

/* A restart takes every idle connection with it.  The unit's first
 * attempt meets a dead one; the retry must not meet the others one after
 * another (each idle for less than ping_after_ms): once a connection came
 * back lost, those idle since before are checked, dropped, and the retry
 * runs on a new connection. */
START_TEST(pool_checks_the_idle_after_a_loss)
{
    strata_db *db = setup();
    strata_pool *pool = pool_with(3, 1000, 60000);
    strata_db *c[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(strata_pool_acquire(pool, &c[i]), STRATA_OK);
    for (int i = 0; i < 3; i++)
        strata_pool_release(pool, c[i]);
    for (int i = 0; i < 3; i++)
        kill_backend(c[i]); /* (borrowing the idle handles for their pids) */
    ck_assert_int_eq(strata_pool_run(pool, bump, NULL, NULL), STRATA_OK);
    strata_pool_statistics s;
    strata_pool_stats(pool, &s);
    ck_assert_int_eq(s.retries, 1);
    ck_assert_int_eq(s.closed_broken, 3);
    ck_assert_int_eq(th_int(db, "SELECT n FROM counter"), 1);

    /* The same when the loss shows inside the unit (its own connection
     * killed there, so the unit's rollback has cleared the error by the
     * time the connection comes back) while the idle ones died too. */
    strata_pool_close(pool);
    pool = pool_with(3, 1000, 60000);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(strata_pool_acquire(pool, &c[i]), STRATA_OK);
    for (int i = 0; i < 3; i++)
        strata_pool_release(pool, c[i]);
    for (int i = 0; i < 2; i++)
        kill_backend(c[i]); /* the unit gets c[2], the most recently used */
    static int runs;
    runs = 0;
    ck_assert_int_eq(strata_pool_run(pool, kill_first, &runs, NULL), STRATA_OK);
    strata_pool_stats(pool, &s);
    ck_assert_int_eq(s.retries, 1);
    ck_assert_int_eq(s.closed_broken, 3);
    ck_assert_int_eq(th_int(db, "SELECT n FROM counter"), 2);

    /* The same when the loss shows only in the reset of a connection
     * given back with its transaction open. */
    strata_pool_close(pool);
    pool = pool_with(3, 1000, 60000);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(strata_pool_acquire(pool, &c[i]), STRATA_OK);
    ck_assert_int_eq(strata_db_begin(c[0]), STRATA_OK);
    ck_assert_int_eq(th_int(c[0], "SELECT 1"), 1);
    for (int i = 1; i < 3; i++)
        strata_pool_release(pool, c[i]);
    for (int i = 0; i < 3; i++)
        kill_backend(c[i]);
    strata_pool_release(pool, c[0]);
    strata_db *again;
    ck_assert_int_eq(strata_pool_acquire(pool, &again), STRATA_OK);
    ck_assert_int_eq(th_int(again, "SELECT 1"), 1);
    strata_pool_release(pool, again);
    strata_pool_stats(pool, &s);
    ck_assert_int_eq(s.closed_broken, 3);
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

/* The check of an idle connection is bounded: a server process that
 * stopped answering (its backend stopped) cannot hold the acquire for as
 * long as the stall lasts.  The check is cancelled after the acquire's
 * time (a second here), the connection dropped after the cancel's grace,
 * and a new one lent. */
START_TEST(pool_check_of_a_stalled_connection_is_bounded)
{
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    o.max_size = 1;
    o.acquire_timeout_ms = 1000;
    o.ping_after_ms = 0;
    strata_pool *pool = NULL;
    ck_assert_int_eq(strata_pool_open(&pool, th_own_pg_url(), &o), STRATA_OK);
    strata_db *c;
    ck_assert_int_eq(strata_pool_acquire(pool, &c), STRATA_OK);
    int backend = (int)th_int(c, "SELECT pg_backend_pid()");
    strata_pool_release(pool, c);
    th_stop_backend(backend);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = strata_pool_acquire(pool, &c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    th_resume_backend(backend);
    ck_assert_msg(rc == STRATA_OK, "%s", strata_pool_errmsg(pool));
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_double_lt(took, 20.0); /* a second, then the cancel's grace of five */
    ck_assert_int_ne(th_int(c, "SELECT pg_backend_pid()"), backend);
    strata_pool_release(pool, c);
    strata_pool_statistics s;
    strata_pool_stats(pool, &s);
    ck_assert_int_eq(s.closed_broken, 1);
    strata_pool_close(pool);
}
END_TEST

/* A table changed while the pool's connection holds a statement prepared
 * on it: on PostgreSQL the unit of work's first attempt fails (the
 * statement's result type changed) and strata_pool_run runs it again,
 * after which the statement is prepared again; nothing fails on SQLite,
 * nor behind pgbouncer (no named statements). */
typedef struct Item {
    strata_object base;
    int64_t id;
    char *name;
} Item;
static const strata_field item_fields[] = {STRATA_PK(Item, id),
                                           STRATA_STRING(Item, name, 20, STRATA_NULLABLE),
                                           STRATA_FIELDS_END};
static const strata_model item_model = {STRATA_MODEL_VERSION, "Item", .size = sizeof(Item),
                                        .fields = item_fields};

/* The item through the session, then through six statements of its own
 * (more than strata_pool_run's five attempts), each prepared before the
 * change: one failure must cure them all. */
static int read_item(strata_session *s, void *ctx)
{
    char *name = ctx;
    Item *it;
    int rc = strata_get(s, &item_model, 1, &it);
    if (rc == STRATA_OK)
        snprintf(name, 32, "%s", it->name ? it->name : "(null)");
    strata_db *db = strata_session_db(s);
    for (int k = 0; k < 6 && rc == STRATA_OK; k++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT name, %d FROM item WHERE id = 1", k);
        strata_stmt *st;
        if ((rc = strata_stmt_prepare(&st, db, sql)) != STRATA_OK)
            break;
        rc = strata_stmt_step(st);
        const char *text = NULL;
        if (rc == STRATA_ROW)
            rc = strata_stmt_column_text(st, 0, &text, NULL);
        if (rc == STRATA_OK && strcmp(text, name) != 0)
            rc = STRATA_E_ERROR;
        strata_stmt_finalize(st);
    }
    return rc;
}

/* The id of the item named "7", through a statement whose parameter
 * takes the type of the column it is compared with when prepared. */
static int find_seven(strata_session *s, void *ctx)
{
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, strata_session_db(s), "SELECT id FROM item WHERE name = ?");
    if (rc != STRATA_OK)
        return rc;
    strata_stmt_bind_text(st, 1, "7", -1);
    if ((rc = strata_stmt_step(st)) == STRATA_ROW)
        rc = strata_stmt_column_int64(st, 0, ctx);
    strata_stmt_finalize(st);
    return rc;
}

START_TEST(pool_reruns_a_unit_whose_table_changed)
{
    strata_db *db = setup();
    th_exec(db, "INSERT INTO item (id, name) VALUES (1, 'one')");
    strata_pool *pool = pool_with(1, 1000, -1);
    char name[32] = "";
    ck_assert_int_eq(strata_pool_run(pool, read_item, name, NULL), STRATA_OK);
    ck_assert_str_eq(name, "one");
    th_exec(db, "DROP TABLE item");
    th_exec(db, "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)");
    th_exec(db, "INSERT INTO item (id, name) VALUES (1, 'uno')");
    int rc = strata_pool_run(pool, read_item, name, NULL);
    ck_assert_msg(rc == STRATA_OK, "%s", strata_pool_errmsg(pool));
    ck_assert_str_eq(name, "uno");
    strata_pool_statistics st;
    strata_pool_stats(pool, &st);
    ck_assert_int_eq(st.retries, th_is_pg() && !th_via_pooler() ? 1 : 0);

    /* The column a parameter is compared with changes type (text to
     * integer): the server refuses the statement prepared before (no
     * operator for integer = text) at each run until it is prepared
     * again.  The unit runs it inside its transaction, which the refusal
     * aborts: the unit runs again, and strata has prepared the statement
     * again (test_stmt has the refusal outside a transaction, where strata
     * runs it again at once). */
    th_exec(db, "UPDATE item SET name = '7'");
    int64_t id = 0;
    ck_assert_int_eq(strata_pool_run(pool, find_seven, &id, NULL), STRATA_OK);
    ck_assert_int_eq(id, 1);
    th_exec(db, "DROP TABLE item");
    th_exec(db, "CREATE TABLE item (id INTEGER PRIMARY KEY, name INTEGER)");
    th_exec(db, "INSERT INTO item (id, name) VALUES (2, 7)");
    rc = strata_pool_run(pool, find_seven, &id, NULL);
    ck_assert_msg(rc == STRATA_OK, "%s", strata_pool_errmsg(pool));
    ck_assert_int_eq(id, 2);
    strata_pool_stats(pool, &st);
    ck_assert_int_eq(st.retries, th_is_pg() && !th_via_pooler() ? 2 : 0);
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

/* ---- many threads ------------------------------------------------------------ */

enum { THREADS = 8, UNITS = 50 };

typedef struct runner {
    strata_pool *pool;
    int failures;
    int rc;
    char why[300];
} runner;

static void *run_units(void *arg)
{
    runner *r = arg;
    for (int i = 0; i < UNITS; i++) {
        int rc = strata_pool_run(r->pool, bump, NULL, NULL);
        if (rc != STRATA_OK) {
            if (!r->failures)
                snprintf(r->why, sizeof r->why, "%s: %s", strata_errname(rc),
                         strata_pool_errmsg(r->pool));
            r->failures++;
        }
    }
    return NULL;
}

/* 8 threads share a pool of 3: 400 units of work, each a locked
 * read-modify-write, all commit; the counter is exact; the pool never
 * opened more than 3. */
START_TEST(pool_threads_share_a_pool)
{
    strata_db *db = setup();
    strata_pool *pool = pool_with(3, 30000, -1);
    runner r[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        r[i] = (runner){.pool = pool};
        ck_assert_int_eq(pthread_create(&t[i], NULL, run_units, &r[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(r[i].failures == 0, "thread %d: %d failures: %s", i, r[i].failures, r[i].why);
    }
    ck_assert_int_eq(th_int(db, "SELECT n FROM counter"), THREADS * UNITS);
    strata_pool_statistics s;
    strata_pool_stats(pool, &s);
    ck_assert_int_le(s.opened, 3);
    ck_assert_int_eq(s.in_use, 0);
    ck_assert_int_eq(s.acquired, THREADS * UNITS + s.retries);
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

static void *read_units(void *arg)
{
    runner *r = arg;
    for (int i = 0; i < UNITS; i++) {
        strata_session *s = NULL;
        int rc = strata_session_new_from_replica(&s, r->pool);
        strata_stmt *st = NULL;
        if (rc == STRATA_OK && (rc = strata_stmt_prepare(&st, strata_session_db(s),
                                                         "SELECT n FROM counter")) == STRATA_OK)
            rc = strata_stmt_step(st) == STRATA_ROW ? STRATA_OK : STRATA_E_ERROR;
        if (rc != STRATA_OK) {
            if (!r->failures)
                snprintf(r->why, sizeof r->why, "%s: %s", strata_errname(rc),
                         s ? strata_session_errmsg(s) : strata_pool_errmsg(r->pool));
            r->failures++;
        }
        strata_stmt_finalize(st);
        strata_session_free(s);
    }
    return NULL;
}

/* 8 threads read through the replicas of one pool (one of them down):
 * every read is served, by the two that answer, each within its size. */
START_TEST(pool_threads_share_replicas)
{
    strata_db *db = setup();
    const char *replicas[] = {th_url(), dead_url(), th_url(), NULL};
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    o.max_size = 2;
    o.replicas = replicas;
    strata_pool *pool = NULL;
    int rc = strata_pool_open(&pool, th_url(), &o);
    ck_assert_msg(rc == STRATA_OK, "%s", strata_pool_errmsg(pool));
    runner r[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        r[i] = (runner){.pool = pool};
        ck_assert_int_eq(pthread_create(&t[i], NULL, read_units, &r[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(r[i].failures == 0, "thread %d: %d failures: %s", i, r[i].failures, r[i].why);
    }
    int64_t served = 0;
    for (int i = 0; i < 3; i++) {
        strata_pool_statistics st;
        OK(NULL, strata_pool_replica_stats(pool, i, &st));
        ck_assert_int_le(st.opened, 2);
        ck_assert_int_eq(st.in_use, 0);
        served += st.acquired;
    }
    strata_pool_statistics st;
    OK(NULL, strata_pool_stats(pool, &st));
    ck_assert_int_eq(served + st.acquired, THREADS * UNITS);
    ck_assert_int_eq(st.acquired, 0); /* the primary served none */
    strata_pool_close(pool);
    strata_db_close(db);
}
END_TEST

/* Read-only sessions go to the replicas in turn, skipping one that cannot
 * be reached; writing sessions go to the primary; with no replica
 * reachable, reads go to the primary.  (The "replicas" here are the same
 * database under other URLs: the routing is what is tested; a real
 * standby is in test_standby.) */
START_TEST(pool_routes_reads_to_replicas)
{
    strata_db *db = setup();
    strata_db_close(db);
    const char *replicas[] = {th_url(), dead_url(), th_url(), NULL};
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    o.max_size = 2;
    o.replicas = replicas;
    o.replica_retry_ms = 60000;
    strata_pool *pool = NULL;
    int rc = strata_pool_open(&pool, th_url(), &o);
    ck_assert_msg(rc == STRATA_OK, "%s", strata_pool_errmsg(pool));
    ck_assert_int_eq(strata_pool_replica_count(pool), 3);

    strata_session *s;
    OK(NULL, strata_session_new_from_pool(&s, pool));
    OK(strata_session_db(s), strata_db_exec(strata_session_db(s), "UPDATE counter SET n = 7"));
    OK(NULL, strata_session_commit(s));
    strata_session_free(s);
    for (int i = 0; i < 6; i++) {
        rc = strata_session_new_from_replica(&s, pool);
        ck_assert_msg(rc == STRATA_OK, "%s", strata_pool_errmsg(pool));
        ck_assert_int_eq(th_int(strata_session_db(s), "SELECT n FROM counter"), 7);
        strata_session_free(s);
    }
    strata_pool_statistics st;
    OK(NULL, strata_pool_stats(pool, &st));
    ck_assert_int_eq(st.acquired, 1); /* the writing session only */
    ck_assert_int_eq(replica_acquired(pool, 0), 3);
    ck_assert_int_eq(replica_acquired(pool, 1), 0);
    ck_assert_int_eq(replica_acquired(pool, 2), 3);
    strata_pool_close(pool);

    /* No replica reachable: the primary serves the reads. */
    const char *dead[] = {dead_url(), NULL};
    o.replicas = dead;
    OK(NULL, strata_pool_open(&pool, th_url(), &o));
    strata_db *c;
    OK(NULL, strata_pool_acquire_replica(pool, &c));
    ck_assert_int_eq(th_int(c, "SELECT n FROM counter"), 7);
    strata_pool_release(pool, c);
    OK(NULL, strata_pool_stats(pool, &st));
    ck_assert_int_eq(st.acquired, 1);
    ck_assert_int_eq(replica_acquired(pool, 0), 0);
    ck_assert_int_eq(strata_pool_replica_stats(pool, 1, &st), STRATA_E_MISUSE);
    strata_pool_close(pool);

    /* A replica URL that cannot be read fails the open, and says which. */
    const char *bad[] = {th_url(), "nosuchdb://x", NULL};
    o.replicas = bad;
    ck_assert_int_eq(strata_pool_open(&pool, th_url(), &o), STRATA_E_URL);
    ck_assert_ptr_nonnull(strstr(strata_pool_errmsg(pool), "replica 2: "));
    strata_pool_close(pool);

    /* Options of the first version (seven ints, no replica fields) still
     * work, read no further than their end (the sanitizer build would see
     * a read past this allocation). */
    size_t v1_size = offsetof(strata_pool_options, max_idle_ms) + sizeof(int);
    strata_pool_options init = STRATA_POOL_OPTIONS_INIT;
    init.version = 1;
    init.max_size = 3;
    void *v1 = malloc(v1_size);
    ck_assert_ptr_nonnull(v1);
    memcpy(v1, &init, v1_size);
    OK(NULL, strata_pool_open(&pool, th_url(), v1));
    free(v1);
    ck_assert_int_eq(strata_pool_replica_count(pool), 0);
    strata_pool_close(pool);
    init.version = 0;
    ck_assert_int_eq(strata_pool_open(&pool, th_url(), &init), STRATA_E_MISUSE);
    strata_pool_close(pool);
}
END_TEST

static void *close_pool(void *arg)
{
    strata_pool_close(arg);
    return NULL;
}

/* Closing a pool while a replica's connection is out: close refuses new
 * replica acquires at once and waits for the connection to come back
 * before it frees anything (the sanitizer build and valgrind would see a
 * replica pool used after it was freed). */
START_TEST(pool_close_waits_for_replica_connections)
{
    strata_db *db = setup();
    strata_db_close(db);
    const char *replicas[] = {th_url(), th_url(), NULL};
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    o.replicas = replicas;
    strata_pool *pool = NULL;
    OK(NULL, strata_pool_open(&pool, th_url(), &o));
    strata_db *a, *b;
    OK(NULL, strata_pool_acquire_replica(pool, &a));
    OK(NULL, strata_pool_acquire_replica(pool, &b)); /* the other replica */
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, close_pool, pool), 0);
    sleep_ms(200);
    strata_db *c = NULL;
    ck_assert_int_eq(strata_pool_acquire_replica(pool, &c), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_pool_errmsg(pool), "closing"));
    strata_pool_release(pool, b); /* replica 1's, after replica 0 was shut down */
    sleep_ms(100);
    strata_pool_release(pool, a);
    pthread_join(t, NULL);
}
END_TEST

/* A server that takes the connection and never answers (a listening
 * socket nobody accepts from): the pool gives the opening up when the
 * acquire's time is up, as its waits are, instead of hanging for as long
 * as the host stays silent. */
START_TEST(pool_open_is_bounded_by_the_acquire)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char url[128];
    snprintf(url, sizeof url, "postgresql://postgres@127.0.0.1:%d/postgres",
             (int)ntohs(a.sin_port));
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    o.max_size = 2;
    o.acquire_timeout_ms = 1500;
    strata_pool *pool = NULL;
    ck_assert_int_eq(strata_pool_open(&pool, url, &o), STRATA_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    strata_db *db = NULL;
    int rc = strata_pool_acquire(pool, &db);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_msg(rc == STRATA_E_CONNECT, "%s: %s", strata_errname(rc), strata_pool_errmsg(pool));
    ck_assert_msg(strstr(strata_pool_errmsg(pool), "acquire timeout") != NULL, "%s",
                  strata_pool_errmsg(pool));
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_double_ge(took, 1.4);
    ck_assert_double_lt(took, 10.0);
    strata_pool_statistics st;
    strata_pool_stats(pool, &st);
    ck_assert_int_eq(st.in_use, 0);
    strata_pool_close(pool);

    /* The connections the open makes for min_size, the primary's and a
     * replica's (which is marked down and skipped), as bounded. */
    o.min_size = 1;
    for (int replica = 0; replica < 2; replica++) {
        const char *replicas[] = {url, NULL};
        o.replicas = replica ? replicas : NULL;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = strata_pool_open(&pool, replica ? th_url() : url, &o);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ck_assert_msg(rc == (replica ? STRATA_OK : STRATA_E_CONNECT), "%s: %s", strata_errname(rc),
                      strata_pool_errmsg(pool));
        took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        ck_assert_double_ge(took, 1.4);
        ck_assert_double_lt(took, 10.0);
        strata_pool_close(pool);
    }

    /* With several hosts, the silent one first: each host has its share
     * of the time, and the next one answers. */
    char host[256], port[16], enc[768], params[1024];
    th_pg_endpoint(host, sizeof host, port, sizeof port);
    size_t k = 0;
    for (const char *h = host; *h && k + 4 < sizeof enc; h++)
        k += (size_t)(*h == '/' || *h == ',' || *h == '%' || *h == '&'
                          ? snprintf(enc + k, sizeof enc - k, "%%%02X", (unsigned char)*h)
                          : snprintf(enc + k, sizeof enc - k, "%c", *h));
    snprintf(params, sizeof params, "host=127.0.0.1,%s&port=%d,%s", enc, (int)ntohs(a.sin_port),
             port);
    o = (strata_pool_options)STRATA_POOL_OPTIONS_INIT;
    o.acquire_timeout_ms = 6000;
    ck_assert_int_eq(strata_pool_open(&pool, th_url_with(params), &o), STRATA_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = strata_pool_acquire(pool, &db);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_pool_errmsg(pool));
    took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_double_ge(took, 1.9);
    ck_assert_double_lt(took, 5.5);
    ck_assert_int_eq(th_int(db, "SELECT 1"), 1);
    strata_pool_release(pool, db);
    strata_pool_close(pool);

    /* Every host silent: the shares add up to the acquire's time. */
    snprintf(params, sizeof params, "host=127.0.0.1,127.0.0.1&port=%d,%d", (int)ntohs(a.sin_port),
             (int)ntohs(a.sin_port));
    o.acquire_timeout_ms = 1000;
    ck_assert_int_eq(strata_pool_open(&pool, th_url_with(params), &o), STRATA_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = strata_pool_acquire(pool, &db);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_msg(rc == STRATA_E_CONNECT, "%s: %s", strata_errname(rc), strata_pool_errmsg(pool));
    char said[128];
    snprintf(said, sizeof said, "host 2 of 2 (127.0.0.1, port %d): no answer",
             (int)ntohs(a.sin_port));
    ck_assert_msg(strstr(strata_pool_errmsg(pool), said) != NULL, "%s", strata_pool_errmsg(pool));
    took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_double_ge(took, 0.9);
    ck_assert_double_lt(took, 1.6);
    strata_pool_close(pool);
    close(fd);
}
END_TEST

/* The database file replaced under open connections (a backup restored
 * over it: a new file with the counter at n), its old journal files
 * removed with it. */
static void replace_file(int n)
{
    char path[600], fresh[600], url[700], side[620], sql[80];
    snprintf(path, sizeof path, "%s/test.db", th_tmpdir());
    snprintf(fresh, sizeof fresh, "%s/fresh.db", th_tmpdir());
    snprintf(url, sizeof url, "sqlite:///%s", fresh);
    strata_db *f = th_open_url(url);
    th_exec(f, "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
    snprintf(sql, sizeof sql, "INSERT INTO counter (id, n) VALUES (1, %d)", n);
    th_exec(f, sql);
    strata_db_close(f);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    ck_assert_int_eq(rename(fresh, path), 0);
}

static int counter_now(void)
{
    strata_db *now = th_open_url(th_url());
    int n = (int)th_int(now, "SELECT n FROM counter");
    strata_db_close(now);
    return n;
}

/* A database file moved, replaced or deleted while connections have it
 * open: SQLite goes on writing into the old file, lost with it, and each
 * COMMIT said it succeeded.  Now the connection is lost to strata: a
 * transaction's BEGIN, its COMMIT (rolled back, known not committed) and
 * a write outside a transaction refuse it, and a pool's unit runs again
 * on a connection to the file the path names now.  SQLite's file alone
 * (a server's lost connections are tested above; a database in memory
 * has no file). */
START_TEST(pool_replaces_a_connection_to_a_moved_file)
{
    strata_db *db = setup();
    strata_pool *pool = pool_with(1, 1000, -1);
    ck_assert_int_eq(strata_pool_run(pool, bump, NULL, NULL), STRATA_OK);
    replace_file(100);
    int rc = strata_pool_run(pool, bump, NULL, NULL);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_pool_errmsg(pool));
    ck_assert_int_eq(counter_now(), 101);
    strata_pool_statistics st;
    strata_pool_stats(pool, &st);
    ck_assert_int_eq(st.closed_broken, 1);
    ck_assert_int_eq(st.retries, 1);
    strata_pool_close(pool);

    /* A transaction under way when the file goes: its COMMIT refused. */
    strata_db *c = th_open_url(th_url());
    OK(c, strata_db_begin(c));
    th_exec(c, "UPDATE counter SET n = n + 1");
    replace_file(200);
    ck_assert_int_eq(strata_db_commit(c), STRATA_E_CONNECTION_LOST);
    ck_assert_msg(strstr(strata_db_errmsg(c), "was moved, replaced or deleted"), "%s",
                  strata_db_errmsg(c));
    ck_assert_int_eq(strata_db_in_transaction(c), 0);
    ck_assert(strata_db_is_broken(c));
    strata_db_close(c);
    /* A write outside a transaction, through the handle that made the
     * first file, and a statement prepared there. */
    ck_assert_int_eq(strata_db_exec(db, "UPDATE counter SET n = 5"), STRATA_E_CONNECTION_LOST);
    ck_assert_int_eq(counter_now(), 200);
    strata_db_close(db);

    /* A savepoint begun outside a transaction, whose RELEASE commits. */
    c = th_open_url(th_url());
    th_exec(c, "SAVEPOINT a");
    th_exec(c, "UPDATE counter SET n = 300");
    replace_file(250);
    ck_assert_int_eq(strata_db_exec(c, "RELEASE a"), STRATA_E_CONNECTION_LOST);
    ck_assert_int_eq(strata_db_in_transaction(c), 0);
    strata_db_close(c);
    ck_assert_int_eq(counter_now(), 250);

    /* Deleted: a raw transaction's COMMIT, run as SQL, refused too. */
    c = th_open_url(th_url());
    th_exec(c, "BEGIN");
    th_exec(c, "UPDATE counter SET n = 7");
    char path[600], side[620];
    snprintf(path, sizeof path, "%s/test.db", th_tmpdir());
    ck_assert_int_eq(unlink(path), 0);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    ck_assert_int_eq(strata_db_exec(c, "COMMIT"), STRATA_E_CONNECTION_LOST);
    ck_assert_int_eq(strata_db_in_transaction(c), 0);
    strata_db_close(c);
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

/* cache=shared: SQLite calls no busy handler for a lock between the
 * connections of one shared cache, and a write met another's at once
 * ("database table is locked"), so units through a pool failed after
 * their few quick attempts.  Such a write now waits, within the busy
 * timeout, as one on a connection of its own does.  SQLite alone. */
static int count_then_insert(strata_session *s, void *ctx)
{
    (void)ctx;
    strata_db *db = strata_session_db(s);
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db, "SELECT count(*) FROM item");
    if (rc != STRATA_OK)
        return rc;
    rc = strata_stmt_step(st);
    strata_stmt_finalize(st);
    return rc != STRATA_ROW ? rc : strata_db_exec(db, "INSERT INTO item (name) VALUES ('u')");
}

static void *run_shared_units(void *arg)
{
    strata_pool *pool = arg;
    intptr_t failed = 0;
    for (int i = 0; i < 50; i++)
        failed += strata_pool_run(pool, count_then_insert, NULL, NULL) != STRATA_OK;
    return (void *)failed;
}

START_TEST(pool_shared_cache_waits_for_a_lock)
{
    char url[1200];
    snprintf(url, sizeof url, "%s", th_url_with("cache=shared"));
    strata_db *db = setup_at(url);
    strata_db *holder = th_open_url(url);
    /* A write outside a transaction, then a prepared one, each waiting
     * for the holder's transaction to commit. */
    for (int round = 0; round < 2; round++) {
        OK(holder, strata_db_exec(holder, "BEGIN IMMEDIATE"));
        OK(holder, strata_db_exec(holder, "INSERT INTO item (name) VALUES ('held')"));
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, commit_later, holder), 0);
        int rc;
        if (round == 0) {
            rc = strata_db_exec(db, "INSERT INTO item (name) VALUES ('waited')");
        } else {
            strata_stmt *st;
            OK(db, strata_stmt_prepare(&st, db, "INSERT INTO item (name) VALUES ('waited')"));
            rc = strata_stmt_step(st);
            strata_stmt_finalize(st);
            rc = rc == STRATA_DONE ? STRATA_OK : rc;
        }
        ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(db));
        pthread_join(t, NULL);
    }
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item"), 4);
    strata_db_close(holder);

    /* Units of four threads through a pool: none fails. */
    strata_pool *pool = NULL;
    ck_assert_int_eq(strata_pool_open(&pool, url, NULL), STRATA_OK);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, run_shared_units, pool), 0);
    intptr_t failed = 0;
    for (int i = 0; i < 4; i++) {
        void *f;
        pthread_join(t[i], &f);
        failed += (intptr_t)f;
    }
    strata_pool_close(pool);
    ck_assert_int_eq(failed, 0);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item"), 4 + 200);
    strata_db_close(db);
}
END_TEST

/* A relative SQLite path is the file it names when the pool opens: a
 * connection opened after the program changed directory made another
 * file there, and the rows went to two databases.  SQLite alone (a
 * server's URL names no file). */
START_TEST(pool_relative_path_is_fixed_at_open)
{
    char *was = getcwd(NULL, 0);
    ck_assert_ptr_nonnull(was);
    ck_assert_int_eq(chdir(th_tmpdir()), 0);
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    o.max_size = 2;
    strata_pool *pool = NULL;
    ck_assert_int_eq(strata_pool_open(&pool, "sqlite:///rel%20one.db", &o), STRATA_OK);
    strata_db *first, *second;
    ck_assert_int_eq(strata_pool_acquire(pool, &first), STRATA_OK);
    th_exec(first, "CREATE TABLE t (x INTEGER)");
    th_exec(first, "INSERT INTO t VALUES (1)");
    ck_assert_int_eq(mkdir("elsewhere", 0777), 0);
    ck_assert_int_eq(chdir("elsewhere"), 0);
    ck_assert_int_eq(strata_pool_acquire(pool, &second), STRATA_OK); /* a new connection */
    ck_assert_int_eq(th_int(second, "SELECT count(*) FROM t"), 1);
    ck_assert_int_ne(access("rel one.db", F_OK), 0);
    strata_pool_release(pool, second);
    strata_pool_release(pool, first);
    strata_pool_close(pool);
    ck_assert_int_eq(chdir(was), 0);
    free(was);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pool_refuses_what_cannot_work);
    if (e == TH_SQLITE_MEMORY)
        return;
    tcase_add_test(tc, pool_exhaustion_times_out);
    tcase_add_test(tc, pool_resets_on_release);
    tcase_add_test(tc, pool_rolls_back_a_raw_transaction_on_release);
    tcase_add_test(tc, pool_run_begins_before_the_unit);
    tcase_add_test(tc, pool_release_by_another_thread_during_a_call_is_refused);
    tcase_add_test(tc, pool_refused_release_keeps_the_holders);
    tcase_add_test(tc, pool_waiters_are_served_before_newcomers);
    tcase_add_test(tc, pool_close_waits_for_a_unit_between_attempts);
    tcase_add_test(tc, pool_run_retries_a_busy_open);
    tcase_add_test(tc, pool_max_lifetime);
    tcase_add_test(tc, pool_threads_share_a_pool);
    tcase_add_test(tc, pool_routes_reads_to_replicas);
    tcase_add_test(tc, pool_threads_share_replicas);
    tcase_add_test(tc, pool_close_waits_for_replica_connections);
    tcase_add_test(tc, pool_reruns_a_unit_whose_table_changed);
    if (e == TH_SQLITE_FILE) {
        tcase_add_test(tc, pool_replaces_a_connection_to_a_moved_file);
        tcase_add_test(tc, pool_shared_cache_waits_for_a_lock);
        tcase_add_test(tc, pool_relative_path_is_fixed_at_open);
    }
    if (e != TH_POSTGRES)
        return;
    tcase_add_test(tc, pool_lost_connection_is_reported);
    tcase_add_test(tc, pool_commit_outcome_unknown);
    tcase_add_test(tc, pool_loss_tells_what_may_be_committed);
    tcase_add_test(tc, pool_replaces_a_killed_connection);
    tcase_add_test(tc, pool_checks_the_idle_after_a_loss);
    tcase_add_test(tc, pool_check_of_a_stalled_connection_is_bounded);
    tcase_add_test(tc, pool_open_is_bounded_by_the_acquire);
}

static Suite *build(void) { return th_suite("pool", add); }

int main(void)
{
    th_want_own_pg(); /* a backend of it is stopped */
    return th_run(build);
}
