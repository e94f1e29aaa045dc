#define _GNU_SOURCE /* strcasestr */
/*
 * test_stmt.c - the statement cache reuses prepared statements by SQL text;
 * reset, bindings, changes, RETURNING, column metadata, re-execution and
 * closing with statements still out behave the same on every engine.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "engine.h"
#include "harness.h"
#include "internal.h"

START_TEST(stmt_cache_reuse)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(64))");
    int64_t prepares = strata_db_counter(db, STRATA_COUNTER_PREPARES);
    int64_t hits = strata_db_counter(db, STRATA_COUNTER_CACHE_HITS);
    for (int i = 0; i < 10; i++) {
        strata_stmt *st;
        th_rc(db, strata_stmt_prepare(&st, db, "INSERT INTO t (id, name) VALUES (?, ?)"),
              STRATA_OK);
        strata_stmt_bind_int64(st, 1, i);
        strata_stmt_bind_text(st, 2, "n", -1);
        th_rc(db, strata_stmt_step(st), STRATA_DONE);
        strata_stmt_finalize(st);
    }
    ck_assert_int_eq(strata_db_counter(db, STRATA_COUNTER_PREPARES) - prepares, 1);
    ck_assert_int_eq(strata_db_counter(db, STRATA_COUNTER_CACHE_HITS) - hits, 9);
    /* A cached statement comes back with its bindings cleared. */
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "INSERT INTO t (id, name) VALUES (?, ?)"), STRATA_OK);
    strata_stmt_bind_int64(st, 1, 100);
    th_rc(db, strata_stmt_step(st), STRATA_DONE);
    strata_stmt_finalize(st);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id = 100 AND name IS NULL"), 1);
    /* The same text twice at once: two statements, both usable. */
    strata_stmt *a, *b;
    th_rc(db, strata_stmt_prepare(&a, db, "SELECT id FROM t WHERE id >= ? ORDER BY id"), STRATA_OK);
    th_rc(db, strata_stmt_prepare(&b, db, "SELECT id FROM t WHERE id >= ? ORDER BY id"), STRATA_OK);
    ck_assert_ptr_ne(a, b);
    strata_stmt_bind_int64(a, 1, 5);
    strata_stmt_bind_int64(b, 1, 8);
    th_rc(db, strata_stmt_step(a), STRATA_ROW);
    th_rc(db, strata_stmt_step(b), STRATA_ROW);
    int64_t va, vb;
    strata_stmt_column_int64(a, 0, &va);
    strata_stmt_column_int64(b, 0, &vb);
    ck_assert_int_eq(va, 5);
    ck_assert_int_eq(vb, 8);
    strata_stmt_finalize(a);
    strata_stmt_finalize(b);
    strata_db_close(db);
}
END_TEST

START_TEST(stmt_cache_is_bounded)
{
    strata_db *db = th_open();
    for (int i = 0; i < 300; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT %d + ?", i);
        strata_stmt *st;
        th_rc(db, strata_stmt_prepare(&st, db, sql), STRATA_OK);
        strata_stmt_bind_int64(st, 1, 1);
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
        int64_t v;
        strata_stmt_column_int64(st, 0, &v);
        ck_assert_int_eq(v, i + 1);
        strata_stmt_finalize(st);
    }
    if (th_is_pg()) /* evicted statements are deallocated on the server */
        ck_assert_int_le(th_int(db, "SELECT count(*) FROM pg_prepared_statements"), 129);
    /* The oldest were evicted and are prepared again; the newest hit. */
    int64_t prepares = strata_db_counter(db, STRATA_COUNTER_PREPARES);
    ck_assert_int_eq(th_int(db, "SELECT 299 + 1"), 300);
    ck_assert_int_eq(strata_db_counter(db, STRATA_COUNTER_PREPARES) - prepares, 1);
    strata_db_close(db);
}
END_TEST

START_TEST(stmt_changes_returning_reexecute)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
    th_exec(db, "INSERT INTO t (id, n) VALUES (1, 0), (2, 0), (3, 5)");
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "UPDATE t SET n = n + 1 WHERE n < ?"), STRATA_OK);
    strata_stmt_bind_int64(st, 1, 5);
    th_rc(db, strata_stmt_step(st), STRATA_DONE);
    ck_assert_int_eq(strata_stmt_changes(st), 2);
    ck_assert_int_eq(strata_db_changes(db), 2);
    th_rc(db, strata_stmt_step(st), STRATA_DONE); /* stepping after DONE runs it again */
    ck_assert_int_eq(strata_stmt_changes(st), 2);
    strata_stmt_finalize(st);
    ck_assert_int_eq(th_int(db, "SELECT sum(n) FROM t"), 9);

    th_rc(db, strata_stmt_prepare(&st, db, "SELECT id FROM t"), STRATA_OK);
    while (strata_stmt_step(st) == STRATA_ROW)
        ;
    ck_assert_int_eq(strata_stmt_changes(st), 0); /* a query changes nothing */
    strata_stmt_finalize(st);

    th_rc(db,
          strata_stmt_prepare(&st, db, "INSERT INTO t (id, n) VALUES (?, ?) RETURNING id, n * 2"),
          STRATA_OK);
    strata_stmt_bind_int64(st, 1, 10);
    strata_stmt_bind_int64(st, 2, 21);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    int64_t id, n2;
    strata_stmt_column_int64(st, 0, &id);
    strata_stmt_column_int64(st, 1, &n2);
    ck_assert_int_eq(id, 10);
    ck_assert_int_eq(n2, 42);
    th_rc(db, strata_stmt_step(st), STRATA_DONE);
    ck_assert_int_eq(strata_stmt_changes(st), 1);
    /* reset keeps the bindings: run again with a new id only. */
    th_rc(db, strata_stmt_reset(st), STRATA_OK);
    strata_stmt_bind_int64(st, 1, 11);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    strata_stmt_column_int64(st, 1, &n2);
    ck_assert_int_eq(n2, 42);
    /* Binding mid-iteration restarts the statement. */
    strata_stmt_bind_int64(st, 1, 12);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    strata_stmt_column_int64(st, 0, &id);
    ck_assert_int_eq(id, 12);
    th_rc(db, strata_stmt_clear_bindings(st), STRATA_OK);
    strata_stmt_bind_int64(st, 1, 13);
    th_rc(db, strata_stmt_step(st), STRATA_E_NOT_NULL); /* n is NULL now */
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

/* An engine's own placeholders (SQLite's :name, @name, $name and ?NNN,
 * PostgreSQL's $1) are not strata's: refused at prepare, so an UPDATE
 * never runs with them left NULL.  Inside a literal they are text. */
START_TEST(stmt_engine_placeholders_are_refused)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE acct (id INTEGER PRIMARY KEY, pw varchar(20))");
    th_exec(db, "INSERT INTO acct (id, pw) VALUES (1, 'x')");
    static const char *const lite[] = {"UPDATE acct SET pw = :h WHERE id = 1",
                                       "UPDATE acct SET pw = @h WHERE id = 1",
                                       "UPDATE acct SET pw = ?2 WHERE id = ?", NULL};
    static const char *const pg[] = {"UPDATE acct SET pw = $1 WHERE id = 1",
                                     "UPDATE acct SET pw = ? WHERE id = $2", NULL};
    for (const char *const *q = th_is_pg() ? pg : lite; *q; q++) {
        strata_stmt *st = NULL;
        ck_assert_int_eq(strata_stmt_prepare(&st, db, *q), STRATA_E_MISUSE);
        ck_assert_ptr_null(st);
        ck_assert_msg(strstr(strata_db_errmsg(db), "write ? for each parameter"), "%s: %s", *q,
                      strata_db_errmsg(db));
    }
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM acct WHERE pw = 'x'"), 1);
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "UPDATE acct SET pw = ? WHERE pw <> '$1 :h'"),
          STRATA_OK);
    ck_assert_int_eq(strata_stmt_param_count(st), 1);
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

START_TEST(stmt_columns)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE t (id INTEGER, name VARCHAR(64), at TIMESTAMP)");
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT id, name AS who, at FROM t"), STRATA_OK);
    /* Known before the first step on every engine. */
    ck_assert_int_eq(strata_stmt_column_count(st), 3);
    ck_assert_str_eq(strata_stmt_column_name(st, 0), "id");
    ck_assert_str_eq(strata_stmt_column_name(st, 1), "who");
    ck_assert_ptr_null(strata_stmt_column_name(st, 3));
    ck_assert_msg(strncasecmp(strata_stmt_column_decltype(st, 0), "int", 3) == 0, "%s",
                  strata_stmt_column_decltype(st, 0));
    ck_assert_msg(strstr(strata_stmt_column_decltype(st, 1), "(64)") != NULL, "%s",
                  strata_stmt_column_decltype(st, 1));
    ck_assert_msg(strcasestr(strata_stmt_column_decltype(st, 2), "timestamp") != NULL, "%s",
                  strata_stmt_column_decltype(st, 2));
    th_rc(db, strata_stmt_step(st), STRATA_DONE);
    ck_assert_int_eq(strata_stmt_column_count(st), 3);
    /* Taken during one execution, kept through the next ones (until
     * finalize), as the result they were read from is not. */
    th_exec(db, "INSERT INTO t VALUES (1, 'ann', NULL)");
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    const char *who = strata_stmt_column_name(st, 1), *type = strata_stmt_column_decltype(st, 1);
    for (int run = 0; run < 2; run++) {
        th_rc(db, strata_stmt_reset(st), STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
    }
    ck_assert_str_eq(who, "who");
    ck_assert_msg(strstr(type, "(64)") != NULL, "%s", type);
    strata_stmt_finalize(st);
    th_rc(db, strata_stmt_prepare(&st, db, "DELETE FROM t"), STRATA_OK);
    ck_assert_int_eq(strata_stmt_column_count(st), 0);
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

/* A cached SELECT * read again after its table was rebuilt with more
 * columns and another type for one: each column is read as it is now
 * (the driver's notes on the columns are made again, not overrun). */
START_TEST(stmt_columns_after_the_table_changed)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE t (id INTEGER, at VARCHAR(32))");
    th_exec(db, "INSERT INTO t VALUES (1, '2024-01-02 03:04:05')");
    strata_stmt *st, *held;
    const char *text;
    /* A name and a type taken before the change, kept through the
     * engine's new preparation of the statement. */
    th_rc(db, strata_stmt_prepare(&held, db, "SELECT * FROM t WHERE id > 0"), STRATA_OK);
    th_rc(db, strata_stmt_step(held), STRATA_ROW);
    const char *held_name = strata_stmt_column_name(held, 1);
    const char *held_type = strata_stmt_column_decltype(held, 1);
    th_rc(db, strata_stmt_reset(held), STRATA_OK); /* SQLite: no read under the DROP */
    for (int round = 0; round < 2; round++) {
        th_rc(db, strata_stmt_prepare(&st, db, "SELECT * FROM t"), STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
        ck_assert_int_eq(strata_stmt_column_type(st, 0), STRATA_TYPE_INT64);
        ck_assert_int_eq(strata_stmt_column_type(st, 1), STRATA_TYPE_TEXT);
        th_rc(db, strata_stmt_column_text(st, 1, &text, NULL), STRATA_OK);
        ck_assert_str_eq(text, "2024-01-02 03:04:05");
        ck_assert_ptr_nonnull(strstr(strata_stmt_column_decltype(st, 1), "32"));
        strata_stmt_finalize(st); /* back to the cache */
    }
    /* Rebuilt: the same first columns, `at` a timestamp now, and more. */
    th_exec(db, "CREATE TABLE t2 (id INTEGER, at TIMESTAMP, price NUMERIC(10, 2), ok BOOLEAN, "
                "b1 INTEGER, b2 INTEGER, b3 INTEGER, b4 INTEGER, b5 INTEGER, b6 INTEGER, "
                "b7 INTEGER, b8 INTEGER, b9 INTEGER, note TEXT)");
    th_exec(db, "INSERT INTO t2 VALUES (1, '2024-01-02 03:04:05', 1.5, TRUE, 1, 2, 3, 4, 5, 6, "
                "7, 8, 9, 'last')");
    th_exec(db, "DROP TABLE t");
    th_exec(db, "ALTER TABLE t2 RENAME TO t");
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT * FROM t"), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    ck_assert_int_eq(strata_stmt_column_count(st), 14);
    ck_assert_int_eq(strata_stmt_column_type(st, 1), STRATA_TYPE_TIMESTAMP);
    strata_timestamp ts, want;
    th_rc(db, strata_stmt_column_timestamp(st, 1, &ts), STRATA_OK);
    ck_assert_int_eq(strata_timestamp_from_parts(&want, 2024, 1, 2, 3, 4, 5, 0), STRATA_OK);
    ck_assert(ts == want);
    th_rc(db, strata_stmt_column_text(st, 2, &text, NULL), STRATA_OK);
    ck_assert_str_eq(text, "1.50");
    ck_assert_int_eq(strata_stmt_column_type(st, 3), STRATA_TYPE_BOOL);
    int64_t v;
    th_rc(db, strata_stmt_column_int64(st, 12, &v), STRATA_OK);
    ck_assert_int_eq(v, 9);
    th_rc(db, strata_stmt_column_text(st, 13, &text, NULL), STRATA_OK);
    ck_assert_str_eq(text, "last");
    /* The declared types are the table's now, for every column. */
    const char *at = strata_stmt_column_decltype(st, 1),
               *price = strata_stmt_column_decltype(st, 2);
    ck_assert_msg(strcasestr(at, "timestamp") != NULL, "%s", at);
    ck_assert_msg(strstr(price, "10") && strstr(price, "2"), "%s", price);
    ck_assert_msg(strcasecmp(strata_stmt_column_decltype(st, 13), "text") == 0, "%s",
                  strata_stmt_column_decltype(st, 13));
    strata_stmt_finalize(st);
    th_rc(db, strata_stmt_step(held), STRATA_ROW);
    ck_assert_int_eq(strata_stmt_column_count(held), 14);
    ck_assert_str_eq(held_name, "at");
    ck_assert_msg(strstr(held_type, "32") != NULL, "%s", held_type);
    strata_stmt_finalize(held);
    strata_db_close(db);
}
END_TEST

/* A table changed under cached statements (by a migration from another
 * connection).  PostgreSQL refuses to run a statement prepared before
 * (its plan's result type changed), inside a transaction aborting it as
 * it would any client's; strata reports STRATA_E_STALE_STATEMENT and
 * prepares every statement of the connection again before it next runs,
 * so the transaction run again works, as on SQLite, which prepares again
 * by itself, and the connection's other statements do not fail too.
 * Outside a transaction a plain execution is prepared again and rerun at
 * once; a streamed one fails once. */
static strata_stmt *run_sc(strata_db *db, const char *sql, int want)
{
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, sql), STRATA_OK);
    if (strchr(sql, '?'))
        strata_stmt_bind_int64(st, 1, 1);
    int rc = strata_stmt_step(st);
    ck_assert_msg(rc == want, "%s: %s, wanted %s: %s", sql, strata_errname(rc),
                  strata_errname(want), strata_db_errmsg(db));
    return st;
}

/* What a statement prepared before the change gives on its first run:
 * PostgreSQL's refusal where statements are named, else the row. */
static int stale_first(int row)
{
    return th_is_pg() && !th_via_pooler() ? STRATA_E_STALE_STATEMENT : row;
}

static void sc_table(strata_db *ddl, const char *type, const char *value)
{
    char sql[128];
    th_exec(ddl, "DROP TABLE IF EXISTS sc");
    snprintf(sql, sizeof sql, "CREATE TABLE sc (id INTEGER PRIMARY KEY, v %s)", type);
    th_exec(ddl, sql);
    snprintf(sql, sizeof sql, "INSERT INTO sc VALUES (1, %s)", value);
    th_exec(ddl, sql);
}

START_TEST(stmt_table_changed_under_a_transaction)
{
    strata_db *db = th_open(), *other = th_open_url(th_url());
    /* Another connection changes the table (the same one on
     * sqlite-memory, whose database is its own). */
    strata_db *ddl = th_engine_now() == TH_SQLITE_MEMORY ? db : other;
    const char *by_id = "SELECT id, v FROM sc WHERE id = ?", *all = "SELECT v FROM sc ORDER BY id";
    sc_table(db, "INTEGER", "5");
    strata_stmt *st;
    int64_t v = 0;
    int rc;
    const char *text;
    /* Both statements cached, prepared on the server. */
    st = run_sc(db, by_id, STRATA_ROW);
    th_rc(db, strata_stmt_column_int64(st, 1, &v), STRATA_OK);
    ck_assert_int_eq(v, 5);
    strata_stmt_finalize(st);
    strata_stmt_finalize(run_sc(db, all, STRATA_ROW));

    sc_table(ddl, "VARCHAR(20)", "'five'");
    th_rc(db, strata_db_begin(db), STRATA_OK);
    st = run_sc(db, by_id, stale_first(STRATA_ROW));
    if (stale_first(STRATA_ROW) != STRATA_ROW) {
        ck_assert_str_eq(strata_db_sqlstate(db), "0A000");
        ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "roll back and run the transaction again"));
        strata_stmt_finalize(st);
        th_rc(db, strata_db_rollback(db), STRATA_OK);
        th_rc(db, strata_db_begin(db), STRATA_OK);
        st = run_sc(db, by_id, STRATA_ROW);
    }
    th_rc(db, strata_stmt_column_text(st, 1, &text, NULL), STRATA_OK);
    ck_assert_str_eq(text, "five");
    strata_stmt_finalize(st);
    /* The other statement was prepared again too: no second failure. */
    st = run_sc(db, all, STRATA_ROW);
    th_rc(db, strata_stmt_column_text(st, 0, &text, NULL), STRATA_OK);
    ck_assert_str_eq(text, "five");
    strata_stmt_finalize(st);
    th_rc(db, strata_db_commit(db), STRATA_OK);

    /* Asked for its columns before it runs: described as the table is now
     * (the description does not fail on the stale plan), and the run
     * fails once as above. */
    const char *positive = "SELECT v FROM sc WHERE id > 0"; /* cached, never described */
    strata_stmt_finalize(run_sc(db, positive, STRATA_ROW));
    sc_table(ddl, "INTEGER", "7");
    th_rc(db, strata_db_begin(db), STRATA_OK);
    th_rc(db, strata_stmt_prepare(&st, db, all), STRATA_OK);
    ck_assert_int_eq(strata_stmt_column_count(st), 1);
    rc = strata_stmt_step(st);
    ck_assert_int_eq(rc, stale_first(STRATA_ROW));
    if (rc != STRATA_ROW) {
        strata_stmt_finalize(st);
        th_rc(db, strata_db_rollback(db), STRATA_OK);
        th_rc(db, strata_db_begin(db), STRATA_OK);
        th_rc(db, strata_stmt_prepare(&st, db, all), STRATA_OK);
        ck_assert_int_eq(strata_stmt_column_count(st), 1);
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
    }
    th_rc(db, strata_stmt_column_int64(st, 0, &v), STRATA_OK);
    ck_assert_int_eq(v, 7);
    strata_stmt_finalize(st);
    th_rc(db, strata_db_commit(db), STRATA_OK);

    /* Outside a transaction: run again at once, streamed or not. */
    sc_table(ddl, "VARCHAR(20)", "'seven'");
    st = run_sc(db, by_id, STRATA_ROW);
    th_rc(db, strata_stmt_column_text(st, 1, &text, NULL), STRATA_OK);
    ck_assert_str_eq(text, "seven");
    strata_stmt_finalize(st);
    strata_stmt_finalize(run_sc(db, all, STRATA_ROW)); /* prepared on this table */
    sc_table(ddl, "INTEGER", "8");
    th_rc(db, strata_stmt_prepare(&st, db, all), STRATA_OK);
    th_rc(db, strata_stmt_stream(st), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    th_rc(db, strata_stmt_column_int64(st, 0, &v), STRATA_OK);
    ck_assert_int_eq(v, 8);
    strata_stmt_finalize(st);

    /* Changed, then gone when the transaction after runs it, then back:
     * the table's absence is reported as such, and the statement works
     * once the table is back, with nothing left half done. */
    strata_stmt_finalize(run_sc(db, by_id, STRATA_ROW)); /* prepared on this table */
    sc_table(ddl, "VARCHAR(20)", "'x'");
    th_rc(db, strata_db_begin(db), STRATA_OK);
    strata_stmt_finalize(run_sc(db, by_id, stale_first(STRATA_ROW)));
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    th_exec(ddl, "DROP TABLE sc");
    th_rc(db, strata_db_begin(db), STRATA_OK);
    rc = strata_stmt_prepare(&st, db, by_id); /* the cache's: fails at its step */
    if (rc == STRATA_OK) {
        strata_stmt_bind_int64(st, 1, 1);
        rc = strata_stmt_step(st);
        strata_stmt_finalize(st);
    }
    ck_assert_msg(rc == STRATA_E_UNDEFINED_TABLE, "%s", strata_db_errmsg(db));
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    sc_table(ddl, "INTEGER", "9");
    th_rc(db, strata_db_begin(db), STRATA_OK);
    st = run_sc(db, by_id, STRATA_ROW);
    th_rc(db, strata_stmt_column_int64(st, 1, &v), STRATA_OK);
    ck_assert_int_eq(v, 9);
    strata_stmt_finalize(st);
    /* Finalizing in a transaction leaves it usable. */
    th_rc(db, strata_db_commit(db), STRATA_OK);

    if (th_is_pg()) {
        /* A description that fails inside a transaction (the table gone)
         * aborted it on the server: the next statement is refused as after
         * any failure, not sent. */
        th_exec(ddl, "DROP TABLE sc");
        th_rc(db, strata_db_begin(db), STRATA_OK);
        th_rc(db, strata_stmt_prepare(&st, db, positive), STRATA_OK); /* the cache's */
        ck_assert_int_eq(strata_stmt_column_count(st), 0);
        ck_assert_int_eq(strata_db_errcode(db), STRATA_E_UNDEFINED_TABLE);
        strata_stmt_finalize(st);
        th_rc(db, strata_db_exec(db, "SELECT 1"), STRATA_E_TX_ABORTED);
        ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "aborted by an earlier error"));
        th_rc(db, strata_db_rollback(db), STRATA_OK);
    }
    if (th_is_pg() && !th_via_pooler()) { /* a pooler may move PREPARE's connection */
        /* A statement the program prepared itself on the server, run by
         * EXECUTE: its changed plan is its own, which strata cannot
         * prepare again (not a stale statement of strata's). */
        sc_table(db, "INTEGER", "1");
        th_exec(db, "PREPARE mine AS SELECT v FROM sc");
        strata_stmt_finalize(run_sc(db, "EXECUTE mine", STRATA_ROW));
        sc_table(ddl, "VARCHAR(20)", "'one'");
        strata_stmt_finalize(run_sc(db, "EXECUTE mine", STRATA_E_UNSUPPORTED));
        th_exec(db, "DEALLOCATE mine");
    }
    strata_db_close(other);
    strata_db_close(db);
}
END_TEST

/* A parameter's type is fixed when the statement is prepared: after the
 * column it fills or is compared with changes type, PostgreSQL refuses
 * the statement prepared before at each run (42804 for a value into the
 * column, 42883 for a comparison with it) until it is prepared again,
 * whether it ran before or not.  Outside a transaction strata prepares it
 * again and runs it again at once; inside one that run fails once, as
 * STRATA_E_STALE_STATEMENT with the server's SQLSTATE, and the next
 * works.  SQLite runs each at once. */
static int pc_run(strata_db *db, const char *sql, int64_t id, int want, const char *state)
{
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, sql), STRATA_OK);
    if (id)
        strata_stmt_bind_int64(st, 1, id);
    strata_stmt_bind_text(st, id ? 2 : 1, "5", -1);
    int rc = strata_stmt_step(st);
    strata_stmt_finalize(st);
    ck_assert_msg(rc == want, "%s: %s, wanted %s: %s", sql, strata_errname(rc),
                  strata_errname(want), strata_db_errmsg(db));
    if (rc == STRATA_E_STALE_STATEMENT)
        ck_assert_str_eq(strata_db_sqlstate(db), state);
    return rc;
}

/* In a transaction: sql refused once where statements are named, then
 * run after a rollback. */
static void pc_run_in_tx(strata_db *db, const char *sql, int64_t id, int want, const char *state)
{
    th_rc(db, strata_db_begin(db), STRATA_OK);
    if (pc_run(db, sql, id, stale_first(want), state) != want) {
        th_rc(db, strata_db_rollback(db), STRATA_OK);
        th_rc(db, strata_db_begin(db), STRATA_OK);
        pc_run(db, sql, id, want, NULL);
    }
    th_rc(db, strata_db_commit(db), STRATA_OK);
}

START_TEST(stmt_parameter_column_changed_type)
{
    strata_db *db = th_open(), *other = th_open_url(th_url());
    strata_db *ddl = th_engine_now() == TH_SQLITE_MEMORY ? db : other;
    const char *ins = "INSERT INTO sc (id, v) VALUES (?, ?)", *sel = "SELECT id FROM sc WHERE v = ?";
    const char *unrun = "SELECT id FROM sc WHERE v = ? AND id > 0";
    strata_stmt *st;
    sc_table(db, "VARCHAR(20)", "'5'");
    pc_run(db, ins, 2, STRATA_DONE, NULL); /* both prepared for text, and run */
    pc_run(db, sel, 0, STRATA_ROW, NULL);
    sc_table(ddl, "INTEGER", "5");
    /* Outside a transaction: the comparison first (its refusal has every
     * statement of the connection prepared again), then the value. */
    pc_run(db, sel, 0, STRATA_ROW, NULL);
    pc_run(db, ins, 3, STRATA_DONE, NULL);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM sc WHERE v = 5"), 2);

    /* In a transaction: a comparison; a value; a statement prepared (for
     * an integer) and never run. */
    sc_table(ddl, "VARCHAR(20)", "'5'");
    pc_run_in_tx(db, sel, 0, STRATA_ROW, "42883");
    pc_run(db, ins, 4, STRATA_DONE, NULL); /* prepared for text again, and run */
    sc_table(ddl, "INTEGER", "5");
    pc_run_in_tx(db, ins, 5, STRATA_DONE, "42804");
    th_rc(db, strata_stmt_prepare(&st, db, unrun), STRATA_OK);
    strata_stmt_finalize(st);
    sc_table(ddl, "VARCHAR(20)", "'5'");
    pc_run_in_tx(db, unrun, 0, STRATA_ROW, "42883");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM sc"), 1);

    /* The same SQLSTATE raised while a statement runs, by a function it
     * calls, is the statement's own error, never taken for a stale plan:
     * outside a transaction or inside, run after a success or not. */
    if (th_is_pg()) {
        th_exec(db, "CREATE OR REPLACE FUNCTION pc_f(x integer) RETURNS integer LANGUAGE plpgsql "
                    "AS $$ BEGIN IF x > 1 THEN EXECUTE 'SELECT 1 + ''a''::text'; END IF; "
                    "RETURN x; END $$");
        static const struct {
            int x;
            bool tx; /* begin before, roll back after a failure, commit after the last */
        } runs[] = {{1, false}, {2, false}, {1, true}, {2, true}, {2, true}, {1, false}};
        bool open = false;
        for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
            if (runs[i].tx && !open) {
                th_rc(db, strata_db_begin(db), STRATA_OK);
                open = true;
            }
            if (!runs[i].tx && open) {
                th_rc(db, strata_db_commit(db), STRATA_OK);
                open = false;
            }
            th_rc(db, strata_stmt_prepare(&st, db, "SELECT pc_f(?)"), STRATA_OK);
            strata_stmt_bind_int64(st, 1, runs[i].x);
            int rc = strata_stmt_step(st);
            strata_stmt_finalize(st);
            if (runs[i].x == 1) {
                ck_assert_msg(rc == STRATA_ROW, "run %zu: %s", i, strata_db_errmsg(db));
                continue;
            }
            ck_assert_msg(rc != STRATA_E_STALE_STATEMENT && strata_is_error(rc), "run %zu: %s: %s",
                          i, strata_errname(rc), strata_db_errmsg(db));
            ck_assert_str_eq(strata_db_sqlstate(db), "42883");
            if (open) { /* the next run begins its own */
                th_rc(db, strata_db_rollback(db), STRATA_OK);
                open = false;
            }
        }
        th_exec(db, "DROP FUNCTION pc_f(integer)");
        /* A command the server analyses only when it runs fails so at each
         * run, with the statement's position: no stale plan either. */
        for (int i = 0; i < 3; i++) {
            if (i == 2)
                th_rc(db, strata_db_begin(db), STRATA_OK);
            th_rc(db, strata_stmt_prepare(&st, db, "CREATE VIEW pc_v AS SELECT 1 + 'a'::text"),
                  STRATA_OK);
            int rc = strata_stmt_step(st);
            strata_stmt_finalize(st);
            ck_assert_msg(rc != STRATA_E_STALE_STATEMENT && strata_is_error(rc), "%s: %s",
                          strata_errname(rc), strata_db_errmsg(db));
            ck_assert_str_eq(strata_db_sqlstate(db), "42883");
        }
        th_rc(db, strata_db_rollback(db), STRATA_OK);
    }
    strata_db_close(other);
    strata_db_close(db);
}
END_TEST

/* A column widened under a prepared statement (integer to bigint): the
 * statement keeps the old parameter type, and PostgreSQL refuses a value
 * only the new type holds ("out of range for type integer") at each run
 * until it is prepared again, which is also what a value wrong for the
 * column gets.  Outside a transaction strata prepares the statement
 * again to tell, and runs it again at once when the types moved; inside
 * one the run fails once with the server's error and the next, after a
 * rollback, works.  A value too big for the column is still refused,
 * every time.  SQLite takes every value at once. */
static int wd_run(strata_db *db, const char *sql, int64_t id, int64_t v)
{
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, sql), STRATA_OK);
    if (strstr(sql, "ORDER BY"))
        th_rc(db, strata_stmt_stream(st), STRATA_OK);
    if (id)
        strata_stmt_bind_int64(st, 1, id);
    strata_stmt_bind_int64(st, id ? 2 : 1, v);
    int rc = strata_stmt_step(st);
    strata_stmt_finalize(st);
    return rc;
}

static void wd_expect(strata_db *db, int rc, int want, const char *state)
{
    ck_assert_msg(rc == want, "%s, wanted %s: %s", strata_errname(rc), strata_errname(want),
                  strata_db_errmsg(db));
    if (state)
        ck_assert_str_eq(strata_db_sqlstate(db), state);
}

START_TEST(stmt_parameter_column_widened)
{
    strata_db *db = th_open(), *other = th_open_url(th_url());
    strata_db *ddl = th_engine_now() == TH_SQLITE_MEMORY ? db : other;
    const char *ins = "INSERT INTO sc (id, v) VALUES (?, ?)", *sel = "SELECT id FROM sc WHERE v = ?";
    const char *streamed = "SELECT id FROM sc WHERE v = ? ORDER BY id";
    const int64_t big = INT64_C(3000000000);
    bool refuses = th_is_pg() && !th_via_pooler(); /* named statements keep their types */
    sc_table(db, "INTEGER", "5");
    wd_expect(db, wd_run(db, ins, 2, 7), STRATA_DONE, NULL);
    wd_expect(db, wd_run(db, sel, 0, 7), STRATA_ROW, NULL);
    wd_expect(db, wd_run(db, streamed, 0, 7), STRATA_ROW, NULL);
    /* Too big for the column: refused, and again, inside a transaction
     * and outside. */
    for (int i = 0; i < 2 && th_is_pg(); i++) {
        th_rc(db, strata_db_begin(db), STRATA_OK);
        wd_expect(db, wd_run(db, ins, 3, big), STRATA_E_RANGE, "22003");
        th_rc(db, strata_db_rollback(db), STRATA_OK);
        wd_expect(db, wd_run(db, ins, 3, big), STRATA_E_RANGE, "22003");
        wd_expect(db, wd_run(db, sel, 0, big), STRATA_E_RANGE, "22003");
    }
    /* Widened.  Inside a transaction: once refused, then run after a
     * rollback. */
    sc_table(ddl, "BIGINT", "5");
    th_rc(db, strata_db_begin(db), STRATA_OK);
    int rc = wd_run(db, ins, 3, big);
    if (refuses) {
        wd_expect(db, rc, STRATA_E_RANGE, "22003");
        th_rc(db, strata_db_rollback(db), STRATA_OK);
        th_rc(db, strata_db_begin(db), STRATA_OK);
        rc = wd_run(db, ins, 3, big);
    }
    wd_expect(db, rc, STRATA_DONE, NULL);
    th_rc(db, strata_db_commit(db), STRATA_OK);
    /* Outside one: at once, held and streamed. */
    wd_expect(db, wd_run(db, sel, 0, big), STRATA_ROW, NULL);
    wd_expect(db, wd_run(db, streamed, 0, big), STRATA_ROW, NULL);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM sc WHERE v = 3000000000"), 1);
    strata_db_close(other);
    strata_db_close(db);
}
END_TEST

/* strata_stmt_execute_many of a statement prepared before the table
 * changed: its rows come back of the new type.  Where statements are
 * named, in the caller's transaction it is refused once (and nothing
 * written), then run prepared again; outside one it is prepared again
 * and run at once, in its own transaction, with each row read once. */
typedef struct sc_many {
    bool text; /* v is text now: bound and read as such */
    int rows;
    int64_t sum; /* of the v returned, as numbers */
} sc_many;

static int sc_many_bind(strata_stmt *st, size_t i, void *arg)
{
    sc_many *c = arg;
    strata_stmt_bind_int64(st, 1, (c->text ? 100 : 200) + (int64_t)i);
    return c->text ? strata_stmt_bind_text(st, 2, "3", -1) : strata_stmt_bind_int64(st, 2, 3);
}

static int sc_many_row(strata_stmt *st, size_t i, void *arg)
{
    (void)i;
    sc_many *c = arg;
    const char *t;
    int64_t v;
    int rc = c->text ? strata_stmt_column_text(st, 0, &t, NULL) : strata_stmt_column_int64(st, 0, &v);
    if (rc != STRATA_OK)
        return rc;
    c->sum += c->text ? strtol(t, NULL, 10) : v;
    c->rows++;
    return STRATA_OK;
}

static void sc_many_run(strata_db *db, bool in_tx, bool text, const char *changed)
{
    const char *ins = "INSERT INTO sc (id, v) VALUES (?, ?) RETURNING v";
    strata_stmt *st;
    sc_many c = {text, 0, 0};
    if (in_tx)
        th_rc(db, strata_db_begin(db), STRATA_OK);
    th_rc(db, strata_stmt_prepare(&st, db, ins), STRATA_OK);
    int rc = strata_stmt_execute_many(st, 3, sc_many_bind, sc_many_row, &c);
    strata_stmt_finalize(st);
    /* changed: the SQLSTATE of the refusal, when the table changed */
    ck_assert_msg(rc == (changed && in_tx ? stale_first(STRATA_OK) : STRATA_OK), "%s: %s",
                  strata_errname(rc), strata_db_errmsg(db));
    if (rc != STRATA_OK) {
        ck_assert_str_eq(strata_db_sqlstate(db), changed);
        if (in_tx) {
            th_rc(db, strata_db_rollback(db), STRATA_OK);
            th_rc(db, strata_db_begin(db), STRATA_OK);
        }
        c = (sc_many){text, 0, 0};
        th_rc(db, strata_stmt_prepare(&st, db, ins), STRATA_OK);
        rc = strata_stmt_execute_many(st, 3, sc_many_bind, sc_many_row, &c);
        strata_stmt_finalize(st);
        th_rc(db, rc, STRATA_OK);
    }
    ck_assert_int_eq(c.rows, 3);
    ck_assert_int_eq(c.sum, 9);
    if (in_tx)
        th_rc(db, strata_db_commit(db), STRATA_OK);
}

START_TEST(stmt_execute_many_after_the_table_changed)
{
    strata_db *db = th_open(), *other = th_open_url(th_url());
    strata_db *ddl = th_engine_now() == TH_SQLITE_MEMORY ? db : other;
    sc_table(db, "INTEGER", "5");
    sc_many_run(db, false, false, NULL); /* prepared, on the server where named */
    sc_table(ddl, "VARCHAR(20)", "'five'");
    sc_many_run(db, true, true, "0A000"); /* the result changed type */
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM sc"), 4);
    sc_table(ddl, "INTEGER", "5");
    sc_many_run(db, false, false, "42804"); /* ...and the parameter */
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM sc"), 4);
    strata_db_close(other);
    strata_db_close(db);
}
END_TEST

/* The same refusal from a server whose messages are in German: known by
 * the server function that raises it, not by its words. */
START_TEST(stmt_table_changed_under_a_server_speaking_german)
{
    const char *url = th_locale_pg_url();
    ck_assert_ptr_nonnull(url);
    strata_db *db = th_open_url(url), *other = th_open_url(url);
    th_exec(db, "SET lc_messages TO 'de_DE.UTF-8'");
    sc_table(db, "INTEGER", "5");
    const char *sql = "SELECT id, v FROM sc WHERE id = ?";
    strata_stmt_finalize(run_sc(db, sql, STRATA_ROW));
    sc_table(other, "VARCHAR(20)", "'fünf'");
    th_rc(db, strata_db_begin(db), STRATA_OK);
    strata_stmt_finalize(run_sc(db, sql, STRATA_E_STALE_STATEMENT));
    ck_assert_msg(strstr(strata_db_errmsg(db), "Plan"), "%s", strata_db_errmsg(db));
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    strata_stmt *st = run_sc(db, sql, STRATA_ROW);
    const char *text;
    th_rc(db, strata_stmt_column_text(st, 1, &text, NULL), STRATA_OK);
    ck_assert_str_eq(text, "fünf");
    strata_stmt_finalize(st);
    th_rc(db, strata_db_commit(db), STRATA_OK);
    th_exec(db, "DROP TABLE sc");
    strata_db_close(other);
    strata_db_close(db);
}
END_TEST


/* A run that fails half way forgets the column count it had read: the
 * engine may prepare the text again, with other columns, before the
 * next run. */
START_TEST(stmt_columns_counted_again_after_a_failed_run)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE sc (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER)");
    th_exec(db, "INSERT INTO sc VALUES (1, 10, 100)");
    th_exec(db, "INSERT INTO sc VALUES (2, 20, 200)");
    strata_stmt *st;
    /* Row 2 overflows (integer overflow on SQLite, out of range on
     * PostgreSQL, which fails before any row). */
    th_rc(db,
          strata_stmt_prepare(&st, db,
                              "SELECT *, abs(CASE WHEN id = 2 THEN -9223372036854775807 - 1 "
                              "ELSE 1 END) AS x FROM sc ORDER BY id"),
          STRATA_OK);
    int rc = strata_stmt_step(st);
    strata_value val;
    if (rc == STRATA_ROW) {
        /* Read as the ORM's loader reads, which counts the columns once. */
        th_rc(db, strata__stmt_value(st, 3, &val), STRATA_OK);
        ck_assert_int_eq(val.u.i, 1);
        rc = strata_stmt_step(st);
    }
    ck_assert_int_ne(rc, STRATA_ROW);
    ck_assert(strata_is_error(rc));
    th_exec(db, "DELETE FROM sc WHERE id = 2");
    th_exec(db, "ALTER TABLE sc DROP COLUMN b");
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    ck_assert_int_eq(strata_stmt_column_count(st), 3);
    int64_t v = -1;
    th_rc(db, strata_stmt_column_int64(st, 2, &v), STRATA_OK); /* x, now the third */
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(strata__stmt_value(st, 3, &val), STRATA_E_RANGE);
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

/* Closing the connection first and finalizing afterwards is safe. */
/* A double bound into a numeric column is its shortest decimal on every
 * engine: 1.005 rounds to 1.01 on both (PostgreSQL was sent
 * 1.00499999999999989 and kept 1.00). */
START_TEST(stmt_double_into_numeric_rounds_alike)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE n (v NUMERIC(3, 2))");
    static const double in[] = {1.005, 0.125, 2.675, 0.1};
    static const char *const want[] = {"1.01", "0.13", "2.68", "0.10"};
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        strata_stmt *st;
        th_rc(db, strata_stmt_prepare(&st, db, "INSERT INTO n (v) VALUES (?)"), STRATA_OK);
        th_rc(db, strata_stmt_bind_double(st, 1, in[i]), STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_DONE);
        strata_stmt_finalize(st);
        th_rc(db, strata_stmt_prepare(&st, db, "SELECT v FROM n"), STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
        const char *text;
        th_rc(db, strata_stmt_column_text(st, 0, &text, NULL), STRATA_OK);
        ck_assert_msg(strcmp(text, want[i]) == 0, "%.17g: %s, want %s", in[i], text, want[i]);
        strata_stmt_finalize(st);
        th_exec(db, "DELETE FROM n");
    }
    strata_db_close(db);
}
END_TEST

/* A time without a zone, bound as text to a time-zone-aware column, is
 * UTC on every engine, whatever zone the server, the database or the
 * role defaults to: strata sets the PostgreSQL session's TimeZone to UTC
 * (as SQLite computes), unless the URL chose one. */
static void utc_text_round_trip(strata_db *db)
{
    th_exec(db, "CREATE TEMP TABLE tz (at TIMESTAMP WITH TIME ZONE)");
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "INSERT INTO tz (at) VALUES (?)"), STRATA_OK);
    th_rc(db, strata_stmt_bind_text(st, 1, "2024-01-01 10:00:00", -1), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_DONE);
    strata_stmt_finalize(st);
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT at FROM tz"), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    strata_timestamp at, want;
    th_rc(db, strata_stmt_column_timestamp(st, 0, &at), STRATA_OK);
    ck_assert_int_eq(strata_timestamp_parse(&want, "2024-01-01 10:00:00", 19), STRATA_OK);
    ck_assert_int_eq(at, want);
    strata_stmt_finalize(st);
    th_exec(db, "DROP TABLE tz"); /* a role that owns nothing can be dropped at once */
}

START_TEST(stmt_times_without_a_zone_are_utc)
{
    strata_db *db = th_open();
    utc_text_round_trip(db);
    strata_db_close(db);
    if (!th_is_pg() || th_via_pooler())
        return;
    char role[64], sql[256], url[1200];
    snprintf(role, sizeof role, "strata_tz_%d", (int)getpid());
    db = th_open();
    snprintf(sql, sizeof sql,
             "CREATE ROLE %s LOGIN; ALTER ROLE %s SET TimeZone = 'Pacific/Kiritimati'", role, role);
    th_exec(db, sql);
    const char *base = th_url(), *auth = strstr(base, "://") + 3, *at = strchr(auth, '@');
    ck_assert_ptr_nonnull(at);
    snprintf(url, sizeof url, "%.*s%s%s", (int)(auth - base), base, role, at);
    strata_db *as_role = th_open_url(url);
    utc_text_round_trip(as_role);
    ck_assert_int_eq(th_int(as_role, "SELECT CAST(current_setting('TimeZone') = 'UTC' AS INTEGER)"),
                     1);
    strata_db_close(as_role);
    /* A zone the URL chose is kept. */
    const char *sep = strchr(url, '?') ? "&" : "?";
    size_t n = strlen(url);
    snprintf(url + n, sizeof url - n, "%soptions=-c%%20TimeZone%%3DAsia/Tokyo", sep);
    if (!strstr(base, "options=")) {
        as_role = th_open_url(url);
        ck_assert_int_eq(
            th_int(as_role, "SELECT CAST(current_setting('TimeZone') = 'Asia/Tokyo' AS INTEGER)"),
            1);
        strata_db_close(as_role);
    }
    snprintf(sql, sizeof sql, "DROP ROLE %s", role);
    th_exec(db, sql);
    strata_db_close(db);
}
END_TEST

START_TEST(stmt_close_before_finalize)
{
    strata_db *db = th_open();
    strata_stmt *st, *cached;
    th_rc(db, strata_stmt_prepare(&cached, db, "SELECT 1"), STRATA_OK);
    strata_stmt_finalize(cached); /* idle in the cache */
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT 2"), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    strata_db_close(db);
    ck_assert_int_eq(strata_stmt_step(st), STRATA_E_MISUSE);
    strata_stmt_finalize(st);
    strata_stmt_finalize(NULL);
    strata_db_close(NULL);
}
END_TEST

/* Columns asked of a statement not run yet while another streams its rows
 * in a transaction: no answer (nothing can be asked then), and the
 * transaction is not taken for failed. */
START_TEST(stmt_columns_asked_while_another_streams)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE t (id INTEGER, v TEXT)");
    th_exec(db, "INSERT INTO t VALUES (1, 'a'), (2, 'b')");
    strata_stmt *st, *other;
    th_rc(db, strata_stmt_prepare(&other, db, "SELECT v FROM t WHERE id = ?"), STRATA_OK);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT id FROM t ORDER BY id"), STRATA_OK);
    th_rc(db, strata_stmt_stream(st), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    ck_assert_int_eq(strata_stmt_column_count(other), 0);
    while (strata_stmt_step(st) == STRATA_ROW)
        ;
    strata_stmt_finalize(st);
    th_exec(db, "INSERT INTO t VALUES (3, 'c')");
    ck_assert_int_eq(strata_stmt_column_count(other), 1);
    th_rc(db, strata_db_commit(db), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 3);
    strata_stmt_finalize(other);
    strata_db_close(db);
}
END_TEST

START_TEST(stmt_streaming)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE t (id INTEGER, v TEXT)");
    th_exec(db, "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    strata_stmt *st, *other;
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT id, v FROM t WHERE id >= ? ORDER BY id"),
          STRATA_OK);
    strata_stmt_bind_int64(st, 1, 1);
    th_rc(db, strata_stmt_stream(st), STRATA_OK);
    int64_t sum = 0, id;
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    /* The connection is held by the streamed rows, on both engines. */
    th_rc(db, strata_stmt_prepare(&other, db, "SELECT 1"), STRATA_E_MISUSE);
    th_rc(db, strata_db_exec(db, "DELETE FROM t"), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "streamed"));
    do {
        strata_stmt_column_int64(st, 0, &id);
        sum += id;
    } while (strata_stmt_step(st) == STRATA_ROW);
    ck_assert_int_eq(sum, 6);
    th_exec(db, "DELETE FROM t WHERE id = 3"); /* free again after DONE */
    /* Reset half-way frees it too; running again streams again. */
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    th_rc(db, strata_stmt_reset(st), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 2);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    strata_stmt_finalize(st); /* back to the cache, no longer streaming */
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT id, v FROM t WHERE id >= ? ORDER BY id"),
          STRATA_OK);
    strata_stmt_bind_int64(st, 1, 1);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 2); /* not held */
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

/* strata_stmt_execute_many: executions i = 0..n-1 insert rows i*10 ..
 * i*10+9 and return their ids; a failing execution undoes the whole run. */
typedef struct many_ctx {
    int fail_at;     /* execution whose rows collide with an existing id, or -1 */
    int bind_fail;   /* execution whose bind callback fails, or -1 */
    int64_t sum;     /* of the ids returned */
    int rows;        /* returned */
    size_t last;     /* execution of the last row: rows come in order */
    bool in_order;
} many_ctx;

static int many_bind(strata_stmt *st, size_t i, void *arg)
{
    many_ctx *c = arg;
    if ((int)i == c->bind_fail)
        return STRATA_E_RANGE;
    for (int k = 0; k < 10; k++) {
        int64_t id = (int64_t)i * 10 + k;
        if ((int)i == c->fail_at && k == 9)
            id = 0; /* already there */
        strata_stmt_bind_int64(st, 2 * k + 1, id);
        strata_stmt_bind_text(st, 2 * k + 2, "x", -1);
    }
    return STRATA_OK;
}

static int many_row(strata_stmt *st, size_t i, void *arg)
{
    many_ctx *c = arg;
    int64_t id;
    int rc = strata_stmt_column_int64(st, 0, &id);
    if (rc != STRATA_OK)
        return rc;
    if (i < c->last || id / 10 != (int64_t)i)
        c->in_order = false;
    c->last = i;
    c->sum += id;
    c->rows++;
    return STRATA_OK;
}

static strata_stmt *many_stmt(strata_db *db)
{
    char sql[512] = "INSERT INTO t (id, v) VALUES ";
    for (int k = 0; k < 10; k++)
        strcat(sql, k ? ", (?, ?)" : "(?, ?)");
    strcat(sql, " RETURNING id");
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, sql), STRATA_OK);
    return st;
}

START_TEST(stmt_execute_many)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR(8))");
    th_exec(db, "INSERT INTO t (id, v) VALUES (100000, 'seed')");
    /* 300 executions of 10 rows, every row's id back in execution order. */
    strata_stmt *st = many_stmt(db);
    many_ctx c = {.fail_at = -1, .bind_fail = -1, .in_order = true};
    int64_t statements = strata_db_counter(db, STRATA_COUNTER_STATEMENTS);
    int64_t piped = strata_db_counter(db, STRATA_COUNTER_PIPELINED);
    th_rc(db, strata_stmt_execute_many(st, 300, many_bind, many_row, &c), STRATA_OK);
    ck_assert_int_eq(c.rows, 3000);
    ck_assert_int_eq(c.sum, (int64_t)2999 * 3000 / 2);
    ck_assert(c.in_order);
    /* BEGIN, 300 executions, COMMIT: the run had its own transaction. */
    ck_assert_int_eq(strata_db_counter(db, STRATA_COUNTER_STATEMENTS) - statements, 302);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 3001);
    ck_assert(!strata_db_in_transaction(db));
    /* PostgreSQL pipelines them; SQLite runs them one by one. */
    ck_assert_int_eq(strata_db_counter(db, STRATA_COUNTER_PIPELINED) - piped, th_is_pg() ? 300 : 0);
    th_exec(db, "DELETE FROM t WHERE id < 100000");

    /* Execution 150 of 300 collides: the unique error, nothing kept. */
    c = (many_ctx){.fail_at = 150, .bind_fail = -1, .in_order = true};
    th_rc(db, strata_stmt_execute_many(st, 300, many_bind, many_row, &c), STRATA_E_UNIQUE);
    ck_assert(!strata_db_in_transaction(db));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 1);
    /* The same inside the caller's transaction: it is left failed. */
    th_rc(db, strata_db_begin(db), STRATA_OK);
    c = (many_ctx){.fail_at = 3, .bind_fail = -1, .in_order = true};
    th_rc(db, strata_stmt_execute_many(st, 10, many_bind, NULL, &c), STRATA_E_UNIQUE);
    th_rc(db, strata_db_exec(db, "SELECT 1"), STRATA_E_TX_ABORTED);
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 1);
    /* A bind callback's error stops the run with its code. */
    c = (many_ctx){.fail_at = -1, .bind_fail = 70, .in_order = true};
    th_rc(db, strata_stmt_execute_many(st, 100, many_bind, many_row, &c), STRATA_E_RANGE);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 1);
    /* The connection is usable after all of that, and so is the statement. */
    c = (many_ctx){.fail_at = -1, .bind_fail = -1, .in_order = true};
    th_rc(db, strata_stmt_execute_many(st, 2, many_bind, many_row, &c), STRATA_OK);
    ck_assert_int_eq(c.rows, 20);
    th_rc(db, strata_stmt_execute_many(st, 0, many_bind, many_row, &c), STRATA_OK);
    th_rc(db, strata_stmt_execute_many(st, 1, NULL, NULL, NULL), STRATA_E_MISUSE);
    strata_stmt_finalize(st);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 21);
    strata_db_close(db);
}
END_TEST

/* prepared_statements=false (PostgreSQL behind a transaction pooler):
 * everything works and the server keeps no named statement; errors still
 * come at prepare.  SQLite has no such parameter and says so. */
START_TEST(stmt_without_named_statements)
{
    strata_db *db = NULL;
    const char *url = th_via_pooler() ? th_url() : th_url_with("prepared_statements=false");
    if (!th_is_pg()) {
        ck_assert_int_eq(strata_db_open(&db, url), STRATA_E_URL);
        ck_assert_ptr_nonnull(
            strstr(strata_db_errmsg(db), "unknown query parameter \"prepared_statements\""));
        strata_db_close(db);
        return;
    }
    db = th_open_url(url);
    th_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR(8))");
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SELEC 1"), STRATA_E_SYNTAX);
    for (int i = 0; i < 3; i++) { /* the cached statement, run again */
        th_rc(db, strata_stmt_prepare(&st, db, "INSERT INTO t (id, v) VALUES (?, ?)"), STRATA_OK);
        strata_stmt_bind_int64(st, 1, 100000 + i);
        strata_stmt_bind_text(st, 2, "one", -1);
        th_rc(db, strata_stmt_step(st), STRATA_DONE);
        strata_stmt_finalize(st);
    }
    st = many_stmt(db);
    many_ctx c = {.fail_at = -1, .bind_fail = -1, .in_order = true};
    th_rc(db, strata_stmt_execute_many(st, 50, many_bind, many_row, &c), STRATA_OK);
    ck_assert_int_eq(c.rows, 500);
    ck_assert(c.in_order);
    strata_stmt_finalize(st);
    /* Columns asked before the first step, then streamed rows. */
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT id, v FROM t WHERE id < ? ORDER BY id"),
          STRATA_OK);
    ck_assert_int_eq(strata_stmt_column_count(st), 2);
    ck_assert_str_eq(strata_stmt_column_name(st, 1), "v");
    th_rc(db, strata_stmt_bind_int64(st, 1, 100), STRATA_OK);
    th_rc(db, strata_stmt_stream(st), STRATA_OK);
    int rows = 0;
    while (strata_stmt_step(st) == STRATA_ROW)
        rows++;
    ck_assert_int_eq(rows, 100);
    strata_stmt_finalize(st);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 503);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM pg_prepared_statements"), 0);
    strata_db_close(db);
}
END_TEST

/* ---- clients sharing a pooler's server connections ------------------------- */

enum { SHARING_THREADS = 4, SHARING_ROUNDS = 150 };

typedef struct sharer {
    const char *url;
    const char *table;
    int id;                          /* threads 0 and 1 read, 2 and 3 write */
    int ok, missing, wrong, other;   /* outcomes */
    char first_error[512];
} sharer;

/* Run this thread's own statement (cached after the first prepare) again
 * and again, and judge each outcome: its own result, the statement
 * missing on the server connection the pooler chose, or anything else. */
static void *share(void *arg)
{
    sharer *w = arg;
    strata_db *db = NULL;
    if (strata_db_open(&db, w->url) != STRATA_OK) {
        snprintf(w->first_error, sizeof w->first_error, "open: %s", strata_db_errmsg(db));
        w->other++;
        strata_db_close(db);
        return NULL;
    }
    bool reads = w->id < 2;
    char sql[256];
    if (reads)
        snprintf(sql, sizeof sql, "SELECT %d, body FROM %s WHERE id = ?", w->id, w->table);
    else
        snprintf(sql, sizeof sql, "UPDATE %s SET body = 'written by %d' WHERE id = ?", w->table,
                 w->id);
    for (int i = 0; i < SHARING_ROUNDS; i++) {
        strata_stmt *st = NULL;
        int rc = strata_stmt_prepare(&st, db, sql);
        if (rc == STRATA_OK) {
            strata_stmt_bind_int64(st, 1, 1 + (w->id + i) % 10);
            rc = strata_stmt_step(st);
        }
        int64_t who = -1;
        if (rc == STRATA_ROW)
            strata_stmt_column_int64(st, 0, &who);
        if (reads ? rc == STRATA_ROW && who == w->id
                  : rc == STRATA_DONE && strata_stmt_changes(st) == 1) {
            w->ok++;
        } else if (rc == STRATA_E_PREPARED_STATEMENT &&
                   strstr(strata_db_errmsg(db), "prepared_statements=false")) {
            w->missing++;
        } else {
            if (rc == STRATA_ROW || rc == STRATA_DONE)
                w->wrong++;
            else
                w->other++;
            if (!w->first_error[0])
                snprintf(w->first_error, sizeof w->first_error, "%s: %s (row of %lld)",
                         strata_errname(rc), strata_db_errmsg(db), (long long)who);
        }
        strata_stmt_finalize(st);
    }
    strata_db_close(db);
    return NULL;
}

/* Four clients on a pooler in transaction mode with two server connections
 * (pgbouncer's "pool2"): with prepared statements on, a statement runs its
 * own text or fails with STRATA_E_PREPARED_STATEMENT naming the setting to
 * change, never another client's statement; with prepared_statements=false
 * every execution succeeds. */
START_TEST(stmt_clients_sharing_server_connections)
{
    char table[64], sql[256], url[1200];
    snprintf(table, sizeof table, "strata_shared_%ld", (long)getpid());
    snprintf(url, sizeof url, "%s", th_pgbouncer_url("pool2"));
    strata_db *db = th_open_url(url);
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", table);
    th_exec(db, sql);
    snprintf(sql, sizeof sql,
             "CREATE TABLE %s (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO %s "
             "SELECT g, 'row ' || g FROM generate_series(1, 10) g",
             table, table);
    th_exec(db, sql);
    for (int unnamed = 0; unnamed < 2; unnamed++) {
        char u[1300];
        snprintf(u, sizeof u, "%s%s", url, unnamed ? "?prepared_statements=false" : "");
        sharer w[SHARING_THREADS];
        pthread_t t[SHARING_THREADS];
        for (int i = 0; i < SHARING_THREADS; i++) {
            w[i] = (sharer){.url = u, .table = table, .id = i};
            ck_assert_int_eq(pthread_create(&t[i], NULL, share, &w[i]), 0);
        }
        int ok = 0, missing = 0;
        for (int i = 0; i < SHARING_THREADS; i++) {
            pthread_join(t[i], NULL);
            ck_assert_msg(w[i].wrong == 0 && w[i].other == 0,
                          "%s, client %d: %d wrong results, %d other errors; first: %s",
                          unnamed ? "unnamed" : "named", i, w[i].wrong, w[i].other,
                          w[i].first_error);
            ok += w[i].ok;
            missing += w[i].missing;
        }
        ck_assert_int_gt(ok, 0);
        if (unnamed)
            ck_assert_int_eq(missing, 0);
    }
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE body NOT LIKE 'row %%' AND "
                              "body NOT LIKE 'written by %%'", table);
    ck_assert_int_eq(th_int(db, sql), 0);
    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    th_exec(db, sql);
    strata_db_close(db);
}
END_TEST

/* The cached "SELECT 42", run once more: its row, or `rc`. */
static void run_42(strata_db *db, int rc)
{
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT 42"), STRATA_OK);
    int step = strata_stmt_step(st);
    if (rc == STRATA_ROW) {
        th_rc(db, step, STRATA_ROW);
        int64_t v = 0;
        th_rc(db, strata_stmt_column_int64(st, 0, &v), STRATA_OK);
        ck_assert_int_eq(v, 42);
    } else {
        th_rc(db, step, rc);
    }
    strata_stmt_finalize(st);
}

/* The program makes the server forget the connection's prepared
 * statements (PostgreSQL's DISCARD ALL, DEALLOCATE ALL): outside a
 * transaction strata prepares them again at once; inside one the run
 * fails once, as a stale plan does; and a statement the cache lets go of
 * inside a transaction never aborts it.  Through pgbouncer strata keeps
 * no named statements, and on SQLite nothing is forgotten: the same
 * runs simply work. */
START_TEST(stmt_server_forgets_statements)
{
    strata_db *db = th_open();
    bool named = th_engine_now() == TH_POSTGRES;
    run_42(db, STRATA_ROW);
    if (th_is_pg())
        th_exec(db, "DISCARD ALL");
    /* A statement prepared after the loss, before strata saw it: still
     * the server's, and prepared again without a clash once it is seen. */
    strata_stmt *later;
    for (int i = 0; i < 3; i++) {
        th_rc(db, strata_stmt_prepare(&later, db, "SELECT 43"), STRATA_OK);
        th_rc(db, strata_stmt_step(later), STRATA_ROW);
        strata_stmt_finalize(later);
        if (i == 0)
            run_42(db, STRATA_ROW);
    }

    th_rc(db, strata_db_begin(db), STRATA_OK);
    if (th_is_pg())
        th_exec(db, "DEALLOCATE ALL");
    run_42(db, named ? STRATA_E_STALE_STATEMENT : STRATA_ROW);
    if (named)
        ck_assert_msg(strstr(strata_db_errmsg(db), "DISCARD ALL or DEALLOCATE ALL") != NULL, "%s",
                      strata_db_errmsg(db));
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    run_42(db, STRATA_ROW);

    /* Enough new statements that the cache lets go of the old ones,
     * inside a transaction whose statements the server forgot. */
    th_exec(db, "CREATE TABLE forgets (n INTEGER)");
    th_rc(db, strata_db_begin(db), STRATA_OK);
    if (th_is_pg())
        th_exec(db, "DEALLOCATE ALL");
    for (int i = 0; i < 300; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "INSERT INTO forgets (n) VALUES (%d)", i);
        strata_stmt *st;
        th_rc(db, strata_stmt_prepare(&st, db, sql), STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_DONE);
        strata_stmt_finalize(st);
    }
    th_rc(db, strata_db_commit(db), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM forgets"), 300);
    run_42(db, STRATA_ROW);

    /* A run of many executions in its own transaction: prepared again
     * and run at once, each row read once. */
    th_exec(db, "CREATE TABLE sc (id INTEGER PRIMARY KEY, v INTEGER)");
    sc_many_run(db, false, false, NULL);
    th_exec(db, "DELETE FROM sc");
    if (th_is_pg())
        th_exec(db, "DISCARD ALL");
    sc_many_run(db, false, false, NULL);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM sc"), 3);
    strata_db_close(db);
}
END_TEST

/* A driver whose pipelined runs are refused as stale every time, in the
 * words the driver ABI gives a failure that aborted the transaction: the
 * run in execute_many's own transaction is made once more, and what the
 * second refusal says is not to roll back a transaction the program never
 * opened (that one is rolled back already). */
static strata_driver stale_copies[2]; /* SQLite's driver and PostgreSQL's */
static int stale_runs;

static int always_stale(strata_backend_stmt *st, size_t n, int (*bind)(void *ctx, size_t i),
                        int (*row)(void *ctx, size_t i), void *ctx)
{
    (void)n, (void)bind, (void)row, (void)ctx;
    stale_runs++;
    return strata_driver_error(st->conn->db, STRATA_E_STALE_STATEMENT, "26000", 0,
                               "prepared statement \"s1\" does not exist: %s",
                               STRATA_DRIVER_SAY_ROLL_BACK);
}

START_TEST(stmt_many_stale_twice_in_its_own_transaction)
{
    strata_db *db = th_open();
    const strata_driver *real = strata_db_driver(db);
    strata_db_close(db);
    int k = th_is_pg();
    char scheme[32];
    snprintf(scheme, sizeof scheme, "stale%s", real->name);
    if (!strata__engine_by_scheme(scheme)) {
        stale_copies[k] = *real;
        stale_copies[k].name = k ? "stalepostgresql" : "stalesqlite";
        stale_copies[k].aliases = NULL;
        stale_copies[k].version = STRATA_DRIVER_VERSION;
        stale_copies[k].execute_many = always_stale;
        strata__engine row = {&stale_copies[k], strata__engine_of(real)->dialect};
        ck_assert_int_eq(strata__engine_register(&row), STRATA_OK);
    }
    char url[1024];
    snprintf(url, sizeof url, "%s%s", scheme, strstr(th_url(), "://"));
    db = th_open_url(url);
    th_exec(db, "CREATE TABLE sc (id INTEGER PRIMARY KEY, v INTEGER)");
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "INSERT INTO sc (id, v) VALUES (?, ?)"), STRATA_OK);
    sc_many c = {0};
    stale_runs = 0;
    int rc = strata_stmt_execute_many(st, 3, sc_many_bind, NULL, &c);
    ck_assert_msg(rc == STRATA_E_STALE_STATEMENT, "%s: %s", strata_errname(rc),
                  strata_db_errmsg(db));
    ck_assert_int_eq(stale_runs, 2);
    ck_assert_str_eq(strata_db_errmsg(db),
                     "prepared statement \"s1\" does not exist: run it again (the transaction "
                     "strata_stmt_execute_many opened for itself is rolled back; it was prepared "
                     "again and failed again)");
    ck_assert_str_eq(strata_db_sqlstate(db), "26000");
    ck_assert(!strata_db_in_transaction(db));

    /* In the program's transaction, the advice stands. */
    th_rc(db, strata_db_begin(db), STRATA_OK);
    stale_runs = 0;
    rc = strata_stmt_execute_many(st, 3, sc_many_bind, NULL, &c);
    ck_assert_int_eq(rc, STRATA_E_STALE_STATEMENT);
    ck_assert_int_eq(stale_runs, 1);
    ck_assert_msg(strstr(strata_db_errmsg(db), STRATA_DRIVER_SAY_ROLL_BACK) != NULL, "%s",
                  strata_db_errmsg(db));
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    strata_stmt_finalize(st);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM sc"), 0);
    strata_db_close(db);
}
END_TEST

/* Runs st (SELECT ?, ?) with the blob "zz" first and a NULL second, or
 * with two blobs, "zz" second: the "zz" column must come back whole. */
static void run_blobs(strata_db *db, strata_stmt *st, bool blob_first)
{
    th_rc(db, strata_stmt_bind_blob(st, 1, blob_first ? "zz" : "id", 2), STRATA_OK);
    th_rc(db, blob_first ? strata_stmt_bind_null(st, 2) : strata_stmt_bind_blob(st, 2, "zz", 2),
          STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    const void *b = NULL;
    size_t n = 0;
    th_rc(db, strata_stmt_column_blob(st, blob_first ? 0 : 1, &b, &n), STRATA_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(memcmp(b, "zz", 2), 0);
    th_rc(db, strata_stmt_reset(st), STRATA_OK);
}

/* The program forgets the connection's statements inside a transaction
 * (DEALLOCATE ALL), and then strata prepares one of them again, stale
 * after a schema change, or replaces a blob's typed statement: the
 * transaction goes on and commits, and no statement is left behind. */
START_TEST(stmt_prepared_again_in_a_transaction_that_forgot_them)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE fa (id INTEGER PRIMARY KEY, v INTEGER)");
    th_exec(db, "INSERT INTO fa VALUES (1, 5)");
    const char *by_id = "SELECT * FROM fa WHERE id = ?", *count = "SELECT count(*) FROM fa";
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, by_id), STRATA_OK);
    th_rc(db, strata_stmt_bind_int64(st, 1, 1), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    strata_stmt_finalize(st);
    ck_assert_int_eq(th_int(db, count), 1);
    /* by_id's result changes, it is prepared again at once (no
     * transaction is open), and every other statement before its next
     * run. */
    th_exec(db, "ALTER TABLE fa ADD COLUMN w INTEGER");
    th_rc(db, strata_stmt_prepare(&st, db, by_id), STRATA_OK);
    th_rc(db, strata_stmt_bind_int64(st, 1, 1), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    ck_assert_int_eq(strata_stmt_column_count(st), 3);
    strata_stmt_finalize(st);

    th_rc(db, strata_db_begin(db), STRATA_OK);
    th_exec(db, "INSERT INTO fa (id, v) VALUES (2, 6)");
    if (th_is_pg())
        th_exec(db, "DEALLOCATE ALL");
    ck_assert_int_eq(th_int(db, count), 2);
    th_rc(db, strata_db_commit(db), STRATA_OK);
    ck_assert_int_eq(th_int(db, count), 2);

    /* A blob's typed statement, replaced when the blob moves to the
     * other parameter for good (the second such run). */
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT ?, ? -- twin in a transaction"), STRATA_OK);
    for (int run = 0; run < 2; run++)
        run_blobs(db, st, true);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    th_exec(db, "INSERT INTO fa (id, v) VALUES (3, 7)");
    if (th_is_pg())
        th_exec(db, "DEALLOCATE ALL");
    for (int run = 0; run < 3; run++)
        run_blobs(db, st, false);
    th_rc(db, strata_db_commit(db), STRATA_OK);
    /* Replaced again and again in transactions, by a statement the cache
     * keeps: the names let go of are deallocated after each, without a
     * statement prepared anew (the count below is cached now). */
    const char *held = "SELECT count(*) FILTER (WHERE parameter_types = '{bytea,bytea}') * 10 + "
                       "count(*) FROM pg_prepared_statements WHERE statement LIKE '%twin in a "
                       "transaction'";
    if (th_engine_now() == TH_POSTGRES)
        th_int(db, held);
    for (int tx = 0; tx < 10; tx++) {
        th_rc(db, strata_db_begin(db), STRATA_OK);
        for (int run = 0; run < 4; run++)
            run_blobs(db, st, run < 2);
        th_rc(db, strata_db_commit(db), STRATA_OK);
    }
    run_blobs(db, st, false);
    strata_stmt_finalize(st);
    ck_assert_int_eq(th_int(db, count), 3);
    /* The server holds the last typed statement alone (the cache keeps
     * the statement). */
    if (th_engine_now() == TH_POSTGRES)
        ck_assert_int_eq(th_int(db, held), 11);
    strata_db_close(db);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    if (e == TH_PGBOUNCER)
        tcase_add_test(tc, stmt_clients_sharing_server_connections);
    tcase_add_test(tc, stmt_without_named_statements);
    tcase_add_test(tc, stmt_cache_reuse);
    tcase_add_test(tc, stmt_cache_is_bounded);
    tcase_add_test(tc, stmt_changes_returning_reexecute);
    tcase_add_test(tc, stmt_columns);
    tcase_add_test(tc, stmt_engine_placeholders_are_refused);
    tcase_add_test(tc, stmt_columns_after_the_table_changed);
    tcase_add_test(tc, stmt_table_changed_under_a_transaction);
    tcase_add_test(tc, stmt_parameter_column_changed_type);
    tcase_add_test(tc, stmt_parameter_column_widened);
    tcase_add_test(tc, stmt_execute_many_after_the_table_changed);
    if (e == TH_POSTGRES)
        tcase_add_test(tc, stmt_table_changed_under_a_server_speaking_german);
    tcase_add_test(tc, stmt_columns_counted_again_after_a_failed_run);
    tcase_add_test(tc, stmt_close_before_finalize);
    tcase_add_test(tc, stmt_double_into_numeric_rounds_alike);
    tcase_add_test(tc, stmt_times_without_a_zone_are_utc);
    tcase_add_test(tc, stmt_streaming);
    tcase_add_test(tc, stmt_columns_asked_while_another_streams);
    tcase_add_test(tc, stmt_execute_many);
    tcase_add_test(tc, stmt_server_forgets_statements);
    tcase_add_test(tc, stmt_many_stale_twice_in_its_own_transaction);
    tcase_add_test(tc, stmt_prepared_again_in_a_transaction_that_forgot_them);
}

static Suite *build(void) { return th_suite("statements", add); }

int main(void)
{
    th_want_pg_locale("de_DE.UTF-8"); /* for lc_messages */
    return th_run(build);
}
