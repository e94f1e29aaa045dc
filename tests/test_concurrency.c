/*
 * test_concurrency.c - sessions beside other connections: no stale read
 * crosses a transaction, a read-modify-write with a row lock never loses
 * an update (8 threads, each with its own connection and session), a
 * writing session on SQLite waits for the write lock instead of failing,
 * and read-only sessions refuse to write.
 *
 * Most tests need a second connection to the same database, which a
 * private in-memory SQLite database cannot have: they run on sqlite-file
 * and postgresql.  The read-only session test runs on every engine.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>

#include "counter.h"
#include "harness.h"
#include "internal.h"
#include "models.h"

static const strata_model *const models[] = {&user_model, &post_model, &followers_model,
                                             &counter_model, NULL};

#define OK(db, call) th_rc((db), (call), STRATA_OK)

static strata_db *setup(void)
{
    strata_db *db = th_open();
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    ck_assert_int_eq(strata_metadata_add_models(md, models), STRATA_OK);
    OK(db, strata_metadata_create_all(md, db));
    strata_metadata_free(md);
    th_exec(db, "INSERT INTO \"user\" (id, username, email) VALUES (1, 'john', 'john@x.org')");
    th_exec(db, "INSERT INTO counter (id, n) VALUES (1, 0)");
    return db;
}

static int statements;
static void count_line(void *ud, const char *line)
{
    (void)ud;
    (void)line;
    statements++;
}

/* Commit, another connection changes the row, and the next get in the
 * session sees the change, in the same object. */
START_TEST(conc_no_stale_read_after_commit)
{
    strata_db *db = setup(), *other = th_open();
    strata_session *s;
    OK(db, strata_session_new(&s, db));
    User *u, *again;
    OK(db, strata_get(s, &user_model, 1, &u));
    ck_assert_str_eq(u->username, "john");
    OK(db, strata_session_commit(s));
    th_exec(other, "UPDATE \"user\" SET username = 'johnny' WHERE id = 1");
    strata_db_set_echo(db, count_line, NULL);
    statements = 0;
    OK(db, strata_get(s, &user_model, 1, &again));
    ck_assert_ptr_eq(again, u);
    ck_assert_str_eq(u->username, "johnny");
    ck_assert_int_eq(statements, 2); /* BEGIN, SELECT */
    /* Within the transaction the identity map answers. */
    OK(db, strata_get(s, &user_model, 1, &again));
    ck_assert_int_eq(statements, 2);
    /* After a rollback too. */
    OK(db, strata_session_rollback(s));
    th_exec(other, "UPDATE \"user\" SET username = 'jon' WHERE id = 1");
    OK(db, strata_get(s, &user_model, 1, &again));
    ck_assert_str_eq(u->username, "jon");
    /* A query meets the row: refreshed as well. */
    OK(db, strata_session_commit(s));
    th_exec(other, "UPDATE \"user\" SET email = 'jon@x.org' WHERE id = 1");
    strata_query *q = strata_query_new(s, &user_model);
    OK(db, strata_query_filter_by(q, "username", strata_text("jon")));
    User *found;
    OK(db, strata_query_one(q, &found));
    strata_query_free(q);
    ck_assert_ptr_eq(found, u);
    ck_assert_str_eq(u->email, "jon@x.org");
    strata_session_free(s);
    strata_db_close(other);
    strata_db_close(db);
}
END_TEST

/* A field changed and not flushed keeps the program's value when the row
 * is read again; the other fields take the database's, and the commit
 * writes only the changed field. */
START_TEST(conc_unflushed_change_survives_refresh)
{
    strata_db *db = setup(), *other = th_open();
    strata_session *s;
    OK(db, strata_session_new(&s, db));
    User *u;
    OK(db, strata_get(s, &user_model, 1, &u));
    OK(db, strata_session_commit(s));
    OK(db, strata_set_text(&u->email, "mine@x.org"));
    th_exec(other, "UPDATE \"user\" SET username = 'theirs' WHERE id = 1");
    User *again;
    OK(db, strata_get(s, &user_model, 1, &again));
    ck_assert_ptr_eq(again, u);
    ck_assert_str_eq(u->username, "theirs");
    ck_assert_str_eq(u->email, "mine@x.org");
    OK(db, strata_session_commit(s));
    ck_assert_int_eq(
        th_int(other, "SELECT count(*) FROM \"user\" WHERE username = 'theirs' AND "
                      "email = 'mine@x.org'"),
        1);
    strata_session_free(s);
    strata_db_close(other);
    strata_db_close(db);
}
END_TEST

/* A row another connection deleted is not found, and the object leaves
 * the identity map. */
START_TEST(conc_row_deleted_elsewhere)
{
    strata_db *db = setup(), *other = th_open();
    strata_session *s;
    OK(db, strata_session_new(&s, db));
    Counter *c;
    OK(db, strata_get(s, &counter_model, 1, &c));
    OK(db, strata_session_commit(s));
    th_exec(other, "DELETE FROM counter WHERE id = 1");
    th_rc(db, strata_get(s, &counter_model, 1, &c), STRATA_E_NOT_FOUND);
    ck_assert_ptr_null(c);
    /* (On SQLite the session holds the write lock until it ends.) */
    OK(db, strata_session_rollback(s));
    th_exec(other, "INSERT INTO counter (id, n) VALUES (1, 7)");
    OK(db, strata_get(s, &counter_model, 1, &c));
    ck_assert_int_eq(c->n, 7);
    strata_session_free(s);
    strata_db_close(other);
    strata_db_close(db);
}
END_TEST

/* ---- many threads --------------------------------------------------------- */

enum { THREADS = 8, ROUNDS = 40 };

typedef struct worker {
    const char *url;
    bool lock; /* strata_get_for_update, else strata_get */
    int failures;
    char why[300];
} worker;

static void *increment(void *arg)
{
    worker *w = arg;
    strata_db *db = NULL;
    strata_session *s = NULL;
    if (strata_db_open(&db, w->url) != STRATA_OK || strata_session_new(&s, db) != STRATA_OK) {
        snprintf(w->why, sizeof w->why, "open: %s", strata_db_errmsg(db));
        w->failures = ROUNDS;
        strata_db_close(db);
        return NULL;
    }
    for (int i = 0; i < ROUNDS; i++) {
        Counter *c;
        int rc = w->lock ? strata_get_for_update(s, &counter_model, 1, 0, &c)
                         : strata_get(s, &counter_model, 1, &c);
        if (rc == STRATA_OK) {
            c->n++;
            /* a post too: the unit of work reads, then writes two tables */
            User *u;
            rc = strata_get(s, &user_model, 1, &u);
            Post *p = NULL;
            if (rc == STRATA_OK)
                rc = strata_new(s, &post_model, &p);
            if (rc == STRATA_OK) {
                strata_set_text(&p->body, "tick");
                p->user_id = u->id;
                rc = strata_add(p);
            }
        }
        if (rc == STRATA_OK)
            rc = strata_session_commit(s);
        if (rc != STRATA_OK) {
            if (!w->failures)
                snprintf(w->why, sizeof w->why, "%s: %s", strata_errname(rc),
                         strata_db_errmsg(db));
            w->failures++;
            strata_session_rollback(s);
        }
    }
    strata_session_free(s);
    strata_db_close(db);
    return NULL;
}

static void run_workers(bool lock)
{
    worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].url = th_url();
        w[i].lock = lock;
        ck_assert_int_eq(pthread_create(&t[i], NULL, increment, &w[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        failures += w[i].failures;
        ck_assert_msg(w[i].failures == 0, "thread %d: %d failures, first: %s", i, w[i].failures,
                      w[i].why);
    }
    ck_assert_int_eq(failures, 0);
}

/* 8 threads x 40 read-modify-write units of work with the row locked: the
 * counter ends exactly at 320 on both engines, and every post is there. */
START_TEST(conc_counter_with_row_lock_is_exact)
{
    strata_db *db = setup();
    run_workers(true);
    ck_assert_int_eq(th_int(db, "SELECT n FROM counter WHERE id = 1"), THREADS * ROUNDS);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM post"), THREADS * ROUNDS);
    strata_db_close(db);
}
END_TEST

/* Sessions that read before they write, without row locks: none fails
 * with an immediate "database is locked" on SQLite (the session took the
 * write lock at BEGIN and waited for it), and none fails on PostgreSQL.
 * On SQLite that write lock also serialises the units of work, so the
 * counter is exact there; PostgreSQL needs the row lock for that. */
START_TEST(conc_read_then_write_never_busy)
{
    strata_db *db = setup();
    run_workers(false);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM post"), THREADS * ROUNDS);
    if (!th_is_pg())
        ck_assert_int_eq(th_int(db, "SELECT n FROM counter WHERE id = 1"), THREADS * ROUNDS);
    strata_db_close(db);
}
END_TEST

/* A lock that is taken: NOWAIT says so at once (PostgreSQL); SKIP LOCKED
 * leaves the row out.  On SQLite the second writer cannot even begin
 * while the first holds the write lock: it waits, then STRATA_E_BUSY. */
START_TEST(conc_lock_taken)
{
    strata_db *db = setup();
    strata_db *other = th_open_url(th_url_with(th_is_pg() ? "connect_timeout=5" : "busy_timeout=100"));
    strata_session *a, *b;
    OK(db, strata_session_new(&a, db));
    OK(other, strata_session_new(&b, other));
    Counter *c;
    OK(db, strata_get_for_update(a, &counter_model, 1, 0, &c));
    Counter *d = NULL;
    if (th_is_pg()) {
        th_rc(other, strata_get_for_update(b, &counter_model, 1, STRATA_LOCK_NOWAIT, &d),
              STRATA_E_BUSY);
        OK(other, strata_session_rollback(b));
        th_rc(other, strata_get_for_update(b, &counter_model, 1, STRATA_LOCK_SKIP_LOCKED, &d),
              STRATA_E_NOT_FOUND);
    } else {
        th_rc(other, strata_get_for_update(b, &counter_model, 1, STRATA_LOCK_NOWAIT, &d),
              STRATA_E_BUSY);
    }
    ck_assert_ptr_null(d);
    OK(other, strata_session_rollback(b));
    c->n = 5;
    OK(db, strata_session_commit(a));
    OK(other, strata_get_for_update(b, &counter_model, 1, 0, &d));
    ck_assert_int_eq(d->n, 5);
    OK(other, strata_session_commit(b));
    th_rc(db, strata_query_for_update(NULL, 0), STRATA_E_MISUSE);
    strata_session_free(a);
    strata_session_free(b);
    strata_db_close(other);
    strata_db_close(db);
}
END_TEST

/* A read-only session reads, refuses to flush a change before any SQL,
 * and refuses to lock rows; a writer commits beside it. */
START_TEST(conc_read_only_session)
{
    strata_db *db = setup();
    strata_session *s;
    OK(db, strata_session_new(&s, db));
    OK(db, strata_session_set_read_only(s, 1));
    User *u;
    OK(db, strata_get(s, &user_model, 1, &u));
    th_rc(db, strata_session_set_read_only(s, 0), STRATA_E_MISUSE);
    OK(db, strata_set_text(&u->username, "changed"));
    th_rc(db, strata_session_commit(s), STRATA_E_READONLY);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(s), "read-only"));
    strata_query *q = strata_query_new(s, &user_model);
    th_rc(db, strata_query_for_update(q, 0), STRATA_E_MISUSE);
    strata_query_free(q);
    OK(db, strata_session_rollback(s));
    ck_assert_str_eq(u->username, "john");
    if (th_engine_now() != TH_SQLITE_MEMORY) {
        /* A writer beside an open read-only transaction. */
        OK(db, strata_get(s, &user_model, 1, &u));
        strata_db *other = th_open();
        strata_session *w;
        OK(other, strata_session_new(&w, other));
        User *x;
        OK(other, strata_get(w, &user_model, 1, &x));
        OK(other, strata_set_text(&x->username, "written"));
        OK(other, strata_session_commit(w));
        strata_session_free(w);
        strata_db_close(other);
        OK(db, strata_session_commit(s));
        OK(db, strata_get(s, &user_model, 1, &u));
        ck_assert_str_eq(u->username, "written");
    }
    OK(db, strata_session_commit(s));
    OK(db, strata_session_set_read_only(s, 0));
    strata_session_free(s);
    strata_db_close(db);
}
END_TEST

/* ---- one handle, two threads: refused, never corrupted ------------------ */

/* The first thread stays inside a call (its echo hook waits) until the
 * second has tried the handle. */
typedef struct held_call {
    strata_db *db;
    atomic_int inside, release;
    int rc;
} held_call;

static void hold_in_echo(void *ud, const char *line)
{
    held_call *c = ud;
    if (!strstr(line, "'hold'"))
        return;
    atomic_store(&c->inside, 1);
    while (!atomic_load(&c->release))
        sched_yield();
}

static void *run_held(void *arg)
{
    held_call *c = arg;
    c->rc = strata_db_exec(c->db, "SELECT 'hold'");
    return NULL;
}

static void *run_held_failing(void *arg)
{
    held_call *c = arg;
    c->rc = strata_db_exec(c->db, "SELECT 'hold' FROM strata_no_such_table");
    return NULL;
}

/* A refused thread reads its refusal from every error getter, whatever
 * the thread that held the handle left there (a failure with the engine's
 * own code). */
START_TEST(conc_refusal_read_from_every_getter)
{
    strata_db *db = setup();
    held_call c = {.db = db};
    strata_db_set_echo(db, hold_in_echo, &c);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, run_held_failing, &c), 0);
    while (!atomic_load(&c.inside))
        sched_yield();
    ck_assert_int_eq(strata_db_exec(db, "SELECT 1"), STRATA_E_MISUSE);
    atomic_store(&c.release, 1);
    pthread_join(t, NULL);
    ck_assert_int_ne(c.rc, STRATA_OK);
    ck_assert_int_eq(strata_db_errcode(db), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "in use by another thread"));
    ck_assert_str_eq(strata_db_sqlstate(db), "");
    ck_assert_int_eq(strata_db_native_code(db), 0);
    /* The next call is this thread's own again. */
    strata_db_set_echo(db, NULL, NULL);
    ck_assert_int_ne(strata_db_exec(db, "SELECT * FROM strata_no_such_table"), STRATA_OK);
    ck_assert_int_ne(strata_db_errcode(db), STRATA_E_MISUSE);
    ck_assert(th_is_pg() || strata_db_native_code(db) != 0);
    strata_db_close(db);
}
END_TEST

enum { HAMMERS = 4, INSERTS = 300 };

typedef struct hammer {
    strata_db *db;
    int done, refused;
} hammer;

/* Insert rows through the shared handle; count what went in and what was
 * refused.  Only a refused thread reads the handle's error (its own). */
static void *hammer_rows(void *arg)
{
    hammer *h = arg;
    for (int i = 0; i < INSERTS; i++) {
        strata_stmt *st = NULL;
        int rc = strata_stmt_prepare(&st, h->db, "INSERT INTO post (body, timestamp, user_id) "
                                                  "VALUES (?, CURRENT_TIMESTAMP, 1)");
        if (rc == STRATA_OK)
            rc = strata_stmt_bind_text(st, 1, "hammer", -1);
        if (rc == STRATA_OK)
            rc = strata_stmt_step(st);
        if (rc == STRATA_DONE)
            h->done++;
        else if (rc == STRATA_E_MISUSE && strstr(strata_db_errmsg(h->db), "another thread"))
            h->refused++;
        else
            h->refused = -100000; /* anything else is a failure */
        /* Finalizing can be refused too: try again until it is done. */
        while (st) {
            strata_stmt_finalize(st);
            if (!strata__confine_refusal(h->db))
                st = NULL;
            else
                sched_yield();
        }
    }
    return NULL;
}

START_TEST(conc_one_handle_two_threads)
{
    strata_db *db = setup();
    /* A second thread calling in while the first is inside is refused at
     * once, with a message saying why; the first finishes normally. */
    held_call c = {.db = db};
    strata_session *s;
    ck_assert_int_eq(strata_session_new(&s, db), STRATA_OK);
    strata_db_set_echo(db, hold_in_echo, &c);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, run_held, &c), 0);
    while (!atomic_load(&c.inside))
        sched_yield();
    ck_assert_int_eq(strata_db_exec(db, "SELECT 1"), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_db_errcode(db), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "in use by another thread"));
    /* A session is refused too: it counts itself on the handle. */
    strata_session *s2 = (strata_session *)&c;
    ck_assert_int_eq(strata_session_new(&s2, db), STRATA_E_MISUSE);
    ck_assert_ptr_null(s2);
    User *u;
    ck_assert_int_eq(strata_get(s, &user_model, 1, &u), STRATA_E_MISUSE);
    strata_db_close(db); /* refused: the handle stays open */
    ck_assert_int_eq(strata_db_errcode(db), STRATA_E_MISUSE);
    atomic_store(&c.release, 1);
    pthread_join(t, NULL);
    ck_assert_int_eq(c.rc, STRATA_OK);
    strata_db_set_echo(db, NULL, NULL);
    /* Once the first thread is out, the second may use the handle. */
    ck_assert_int_eq(strata_get(s, &user_model, 1, &u), STRATA_OK);
    ck_assert_int_eq(strata_session_commit(s), STRATA_OK);
    strata_session_free(s);

    /* Four threads inserting through one handle: every call either works
     * or is refused; no crash, no lost or phantom row, an intact file. */
    hammer h[HAMMERS];
    pthread_t ht[HAMMERS];
    for (int i = 0; i < HAMMERS; i++) {
        h[i] = (hammer){.db = db};
        ck_assert_int_eq(pthread_create(&ht[i], NULL, hammer_rows, &h[i]), 0);
    }
    int done = 0, refused = 0;
    for (int i = 0; i < HAMMERS; i++) {
        pthread_join(ht[i], NULL);
        ck_assert_int_ge(h[i].refused, 0);
        done += h[i].done;
        refused += h[i].refused;
    }
    ck_assert_int_eq(done + refused, HAMMERS * INSERTS);
    ck_assert_int_gt(done, 0);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM post"), done);
    if (!th_is_pg()) {
        strata_stmt *st;
        const char *ok;
        th_rc(db, strata_stmt_prepare(&st, db, "PRAGMA integrity_check"), STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
        th_rc(db, strata_stmt_column_text(st, 0, &ok, NULL), STRATA_OK);
        ck_assert_str_eq(ok, "ok");
        strata_stmt_finalize(st);
    }
    strata_db_close(db);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, conc_read_only_session);
    tcase_add_test(tc, conc_one_handle_two_threads);
    tcase_add_test(tc, conc_refusal_read_from_every_getter);
    if (e == TH_SQLITE_MEMORY)
        return;
    tcase_add_test(tc, conc_no_stale_read_after_commit);
    tcase_add_test(tc, conc_unflushed_change_survives_refresh);
    tcase_add_test(tc, conc_row_deleted_elsewhere);
    tcase_add_test(tc, conc_counter_with_row_lock_is_exact);
    tcase_add_test(tc, conc_read_then_write_never_busy);
    tcase_add_test(tc, conc_lock_taken);
}

static Suite *build(void) { return th_suite("concurrency", add); }

int main(void) { return th_run(build); }
