/*
 * test_tx.c - transactions and nested savepoints behave the same on every
 * engine: commit keeps, rollback discards, a savepoint rolled back leaves
 * the outer transaction usable (after an error too), an error outside a
 * savepoint aborts the transaction on both engines, a failed COMMIT leaves
 * no transaction open.
 */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "harness.h"
#include "strata/orm.h"

static void table(strata_db *db) { th_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY)"); }

static void insert(strata_db *db, int id, int want)
{
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "INSERT INTO t (id) VALUES (?)"), STRATA_OK);
    strata_stmt_bind_int64(st, 1, id);
    int rc = strata_stmt_step(st);
    strata_stmt_finalize(st);
    th_rc(db, rc, want);
}

START_TEST(tx_commit_and_rollback)
{
    strata_db *db = th_open();
    table(db);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    ck_assert(strata_db_in_transaction(db));
    insert(db, 1, STRATA_DONE);
    th_rc(db, strata_db_commit(db), STRATA_OK);
    ck_assert(!strata_db_in_transaction(db));
    th_rc(db, strata_db_begin(db), STRATA_OK);
    insert(db, 2, STRATA_DONE);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 2);
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 1);
    /* Misuse. */
    th_rc(db, strata_db_commit(db), STRATA_E_MISUSE);
    th_rc(db, strata_db_rollback(db), STRATA_OK); /* nothing to roll back is fine */
    th_rc(db, strata_db_begin(db), STRATA_OK);
    th_rc(db, strata_db_begin(db), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "savepoint"));
    th_rc(db, strata_db_savepoint_release(db), STRATA_E_MISUSE);
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    strata_db_close(db);
}
END_TEST

START_TEST(tx_nested_savepoints)
{
    strata_db *db = th_open();
    table(db);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    insert(db, 1, STRATA_DONE);
    th_rc(db, strata_db_savepoint(db), STRATA_OK);
    insert(db, 2, STRATA_DONE);
    th_rc(db, strata_db_savepoint(db), STRATA_OK);
    ck_assert_int_eq(strata_db_savepoint_depth(db), 2);
    insert(db, 3, STRATA_DONE);
    th_rc(db, strata_db_savepoint_rollback(db), STRATA_OK); /* 3 goes */
    th_rc(db, strata_db_savepoint_release(db), STRATA_OK);  /* 2 stays */
    ck_assert_int_eq(strata_db_savepoint_depth(db), 0);
    ck_assert(strata_db_in_transaction(db));
    th_rc(db, strata_db_commit(db), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 2);
    ck_assert_int_eq(th_int(db, "SELECT sum(id) FROM t"), 3);
    strata_db_close(db);
}
END_TEST

START_TEST(tx_savepoint_recovers_from_error)
{
    strata_db *db = th_open();
    table(db);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    insert(db, 1, STRATA_DONE);
    th_rc(db, strata_db_savepoint(db), STRATA_OK);
    insert(db, 1, STRATA_E_UNIQUE);
    insert(db, 5, STRATA_E_TX_ABORTED); /* refused until rolled back, on both engines */
    th_rc(db, strata_db_savepoint_release(db), STRATA_E_TX_ABORTED);
    th_rc(db, strata_db_savepoint_rollback(db), STRATA_OK);
    insert(db, 4, STRATA_DONE); /* the outer transaction is usable */
    th_rc(db, strata_db_commit(db), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT sum(id) FROM t"), 5);
    strata_db_close(db);
}
END_TEST

START_TEST(tx_error_aborts_transaction)
{
    strata_db *db = th_open();
    table(db);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    insert(db, 1, STRATA_DONE);
    insert(db, 1, STRATA_E_UNIQUE);
    insert(db, 2, STRATA_E_TX_ABORTED);
    ck_assert_str_eq(strata_db_sqlstate(db), "25P02");
    th_rc(db, strata_db_exec(db, "SELECT 1"), STRATA_E_TX_ABORTED);
    th_rc(db, strata_db_commit(db), STRATA_E_TX_ABORTED);
    ck_assert(!strata_db_in_transaction(db));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 0); /* nothing was committed */
    /* Rolling back instead also recovers. */
    th_rc(db, strata_db_begin(db), STRATA_OK);
    insert(db, 1, STRATA_DONE);
    insert(db, 1, STRATA_E_UNIQUE);
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    insert(db, 7, STRATA_DONE);
    ck_assert_int_eq(th_int(db, "SELECT sum(id) FROM t"), 7);
    strata_db_close(db);
}
END_TEST

/* The same with the transaction begun and ended by raw SQL: the COMMIT
 * after a failure never reports success (PostgreSQL answers it with
 * "ROLLBACK"), and nothing of the transaction is kept. */
START_TEST(tx_raw_commit_after_an_error_is_refused)
{
    strata_db *db = th_open();
    table(db);
    th_exec(db, "BEGIN");
    insert(db, 1, STRATA_DONE);
    insert(db, 1, STRATA_E_UNIQUE);
    th_rc(db, strata_db_exec(db, "COMMIT"), STRATA_E_TX_ABORTED);
    ck_assert(!strata_db_in_transaction(db));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 0);
    th_exec(db, "BEGIN");
    insert(db, 2, STRATA_DONE);
    th_exec(db, "end;"); /* without a failure: committed */
    ck_assert_int_eq(th_int(db, "SELECT sum(id) FROM t"), 2);
    /* Nothing else runs there until a rollback, to a savepoint too. */
    th_exec(db, "BEGIN");
    insert(db, 3, STRATA_DONE);
    th_exec(db, "SAVEPOINT s");
    insert(db, 3, STRATA_E_UNIQUE);
    insert(db, 4, STRATA_E_TX_ABORTED);
    th_rc(db, strata_db_exec(db, "SELECT 1"), STRATA_E_TX_ABORTED);
    th_exec(db, "ROLLBACK TO SAVEPOINT s");
    insert(db, 4, STRATA_DONE);
    th_exec(db, "COMMIT");
    ck_assert_int_eq(th_int(db, "SELECT sum(id) FROM t"), 9);
    /* Comments before the word; strata_db_rollback ends such a
     * transaction too, and what follows starts clean. */
    th_exec(db, "BEGIN");
    insert(db, 9, STRATA_DONE);
    insert(db, 9, STRATA_E_UNIQUE);
    th_exec(db, "/* the app */ ROLLBACK");
    th_exec(db, "BEGIN");
    insert(db, 9, STRATA_DONE);
    insert(db, 9, STRATA_E_UNIQUE);
    th_rc(db, strata_db_exec(db, "-- done\nCOMMIT"), STRATA_E_TX_ABORTED);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id = 9"), 0);
    th_exec(db, "BEGIN");
    insert(db, 9, STRATA_DONE);
    insert(db, 9, STRATA_E_UNIQUE);
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    insert(db, 10, STRATA_DONE);
    th_rc(db, strata_db_commit(db), STRATA_OK);
    /* COMMIT AND CHAIN rolls back and begins the next transaction, on
     * PostgreSQL (the chain may follow a comment that a carriage return
     * ends there); SQLite has no such statement, and it is refused. */
    th_exec(db, "BEGIN");
    insert(db, 11, STRATA_DONE);
    insert(db, 11, STRATA_E_UNIQUE);
    th_rc(db, strata_db_exec(db, th_is_pg() ? "COMMIT -- x\rAND CHAIN" : "COMMIT AND CHAIN"),
          STRATA_E_TX_ABORTED);
    if (!th_is_pg())
        th_exec(db, "ROLLBACK");
    insert(db, 12, STRATA_DONE);
    if (th_is_pg())
        th_exec(db, "ROLLBACK");
    ck_assert_int_eq(th_int(db, "SELECT sum(id) FROM t"), th_is_pg() ? 19 : 31);
    th_exec(db, "DELETE FROM t WHERE id = 12");
    /* A comment after the COMMIT ends nothing else: the transaction is
     * rolled back all the same; AND CHAIN in a comment begins none. */
    static const char *const commits[] = {"COMMIT; -- done", "COMMIT -- done",
                                          "COMMIT /* and chain */;\n/* done */", "COMMIT\r\n"};
    for (int k = 0; k < 4; k++) {
        th_exec(db, "BEGIN");
        insert(db, 13, STRATA_DONE);
        insert(db, 13, STRATA_E_UNIQUE);
        th_rc(db, strata_db_exec(db, commits[k]), STRATA_E_TX_ABORTED);
        ck_assert_msg(!strata_db_in_transaction(db), "%s: still in the transaction", commits[k]);
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id = 13"), 0);
    }
    /* Only a first statement that is a COMMIT (or END) and nothing else
     * ends the transaction: these are refused like any statement there,
     * and the work before the savepoint is kept by a ROLLBACK TO. */
    const char *others[] = {
        "SELECT 'x'; COMMIT",
        "COMMIT PREPARED 'gid'",
        "END IF",
        th_is_pg() ? "SELECT 1 /* a /* b */ ; COMMIT */"
                   : "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
        th_is_pg() ? "SELECT ARRAY[']'], '; COMMIT'" : "SELECT [a;b] FROM t; END",
        th_is_pg() ? "COMMIT -- x\rPREPARED 'g'" : "COMMIT WORK",
        th_is_pg() ? "COMMIT /* a /* b */" : "COMMIT AND NO CHAIN",
        "COMMIT\v",
    };
    for (size_t k = 0; k < sizeof others / sizeof *others; k++) {
        th_exec(db, "BEGIN");
        insert(db, 20, STRATA_DONE);
        th_exec(db, "SAVEPOINT s");
        insert(db, 20, STRATA_E_UNIQUE);
        th_rc(db, strata_db_exec(db, others[k]), STRATA_E_TX_ABORTED);
        th_exec(db, "ROLLBACK TO SAVEPOINT s");
        th_exec(db, "COMMIT");
        ck_assert_msg(th_int(db, "SELECT count(*) FROM t WHERE id = 20") == 1, "%s", others[k]);
        th_exec(db, "DELETE FROM t WHERE id = 20");
    }
    /* AND NO CHAIN begins nothing (PostgreSQL's). */
    th_exec(db, "BEGIN");
    insert(db, 21, STRATA_DONE);
    insert(db, 21, STRATA_E_UNIQUE);
    th_rc(db,
          strata_db_exec(db, th_is_pg() ? "commit work and /* no */ no chain" : "end transaction"),
          STRATA_E_TX_ABORTED);
    insert(db, 22, STRATA_DONE);
    th_rc(db, strata_db_exec(db, "ROLLBACK"), th_is_pg() ? STRATA_OK : STRATA_E_ERROR);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id IN (21, 22)"), 1);
    strata_db_close(db);
}
END_TEST

/* A failure that makes the engine roll back a transaction begun by raw
 * SQL (SQLite after a trigger's RAISE(ROLLBACK); PostgreSQL keeps its
 * transaction and aborts it) leaves the statements after it refused, by
 * exec and by prepared statement: none runs on its own and commits.  A
 * COMMIT ends it with STRATA_E_TX_ABORTED, a ROLLBACK with success;
 * nothing of it is kept either way. */
START_TEST(tx_raw_transaction_the_engine_ended_stays_failed)
{
    strata_db *db = th_open();
    table(db);
    if (th_is_pg()) {
        th_exec(db, "CREATE FUNCTION strata_neg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF NEW.id < 0 THEN RAISE EXCEPTION 'negative'; END IF; RETURN NEW; END $$");
        th_exec(db, "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION "
                    "strata_neg()");
    } else {
        th_exec(db, "CREATE TRIGGER tr BEFORE INSERT ON t WHEN NEW.id < 0 BEGIN "
                    "SELECT RAISE(ROLLBACK, 'negative'); END");
    }
    for (int end_with_commit = 0; end_with_commit < 2; end_with_commit++) {
        th_exec(db, "BEGIN");
        insert(db, 1, STRATA_DONE);
        ck_assert_int_ne(strata_db_exec(db, "INSERT INTO t (id) VALUES (-1)"), STRATA_OK);
        th_rc(db, strata_db_exec(db, "INSERT INTO t (id) VALUES (2)"), STRATA_E_TX_ABORTED);
        insert(db, 3, STRATA_E_TX_ABORTED);
        if (end_with_commit)
            th_rc(db, strata_db_exec(db, "COMMIT"), STRATA_E_TX_ABORTED);
        else
            th_exec(db, "ROLLBACK");
        ck_assert(!strata_db_in_transaction(db));
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 0);
        insert(db, 4, STRATA_DONE); /* what follows starts clean */
        th_exec(db, "DELETE FROM t");
    }
    /* A raw transaction that ended well, then a statement that fails to
     * prepare: nothing is refused after it. */
    th_exec(db, "BEGIN");
    insert(db, 5, STRATA_DONE);
    th_exec(db, "COMMIT");
    strata_stmt *st = NULL;
    ck_assert_int_ne(strata_stmt_prepare(&st, db, "SELEC 1"), STRATA_OK);
    th_exec(db, "INSERT INTO t (id) VALUES (6)");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 2);
    strata_db_close(db);
}
END_TEST

/* Several statements in one exec, outside a transaction, are one
 * transaction on every engine, as a PostgreSQL query's are: a failure in
 * the last keeps none of them (sqlite3_exec alone commits each). */
START_TEST(tx_statements_of_one_exec_go_together)
{
    strata_db *db = th_open();
    table(db);
    th_rc(db, strata_db_exec(db, "INSERT INTO t (id) VALUES (1); INSERT INTO t (id) VALUES (2);\n"
                                 "-- the same key again\nINSERT INTO t (id) VALUES (1)"),
          STRATA_E_UNIQUE);
    ck_assert(!strata_db_in_transaction(db));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 0);
    /* A script that works is kept whole, a table it makes included. */
    th_exec(db, "CREATE TABLE u (id INTEGER PRIMARY KEY); INSERT INTO u (id) VALUES (5); "
                "INSERT INTO t (id) SELECT id FROM u; -- and a comment to end\n");
    ck_assert_int_eq(th_int(db, "SELECT sum(id) FROM t"), 5);
    ck_assert(!strata_db_in_transaction(db));
    strata_db_close(db);
}
END_TEST

/* A transaction begun read-only (or for a snapshot) refuses writes on
 * every engine, raw SQL's too (STRATA_E_READONLY), and the connection
 * writes again once it is over, however it ended. */
START_TEST(tx_read_only_refuses_writes)
{
    strata_db *db = th_open();
    table(db);
    for (int k = 0; k < 4; k++) {
        th_rc(db, strata_db_begin_mode(db, k % 2 ? STRATA_TX_SNAPSHOT : STRATA_TX_READ_ONLY),
              STRATA_OK);
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), k < 2 ? k : 2);
        insert(db, 100 + k, STRATA_E_READONLY);
        th_rc(db, strata_db_rollback(db), STRATA_OK);
        /* A write after a read in one text, the same. */
        th_rc(db, strata_db_begin_mode(db, k % 2 ? STRATA_TX_SNAPSHOT : STRATA_TX_READ_ONLY),
              STRATA_OK);
        th_rc(db, strata_db_exec(db, "SELECT 1; INSERT INTO t (id) VALUES (99)"),
              STRATA_E_READONLY);
        th_rc(db, strata_db_rollback(db), STRATA_OK);
        if (k < 2) {
            insert(db, k + 1, STRATA_DONE); /* outside a transaction */
        } else {
            th_rc(db, strata_db_begin_mode(db, STRATA_TX_WRITE), STRATA_OK);
            th_exec(db, "DELETE FROM t WHERE id = 100");
            th_rc(db, strata_db_commit(db), STRATA_OK);
        }
    }
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 2);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id = 99"), 0);
    /* Ended by a commit, the same. */
    th_rc(db, strata_db_begin_mode(db, STRATA_TX_READ_ONLY), STRATA_OK);
    th_rc(db, strata_db_commit(db), STRATA_OK);
    insert(db, 3, STRATA_DONE);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 3);
    strata_db_close(db);
}
END_TEST

/* SQL that would end the transaction strata_db_begin began (its COMMIT,
 * ROLLBACK, or a COMMIT and a BEGIN of another, which the rollback owed
 * would undo in its place) is refused before it runs: the transaction
 * goes on as it was. */
START_TEST(tx_sql_that_ends_the_transaction)
{
    strata_db *db = th_open();
    table(db);
    static const char *const enders[] = {"SELECT 1; COMMIT", "ROLLBACK", "COMMIT; BEGIN",
                                         "/* x */ end"};
    for (size_t k = 0; k < sizeof enders / sizeof *enders; k++) {
        th_rc(db, strata_db_begin(db), STRATA_OK);
        insert(db, (int)k + 10, STRATA_DONE);
        th_rc(db, strata_db_exec(db, enders[k]), STRATA_E_MISUSE);
        ck_assert_msg(strstr(strata_db_errmsg(db), "would end the transaction strata began") !=
                          NULL,
                      "%s", strata_db_errmsg(db));
        ck_assert(strata_db_in_transaction(db));
        insert(db, (int)k + 20, STRATA_DONE);
        th_rc(db, k % 2 ? strata_db_rollback(db) : strata_db_commit(db), STRATA_OK);
        ck_assert(!strata_db_in_transaction(db));
    }
    if (th_is_pg()) {
        /* With standard_conforming_strings off (from the URL, the role, or
         * a SET), a backslash escapes the quote in any string: the COMMIT
         * is not in one, and a `?` there is no parameter. */
        th_rc(db, strata_db_begin(db), STRATA_OK);
        th_exec(db, "SET LOCAL standard_conforming_strings = off");
        th_rc(db, strata_db_exec(db, "SELECT 'x\\''; COMMIT AND CHAIN; SELECT ''"),
              STRATA_E_MISUSE);
        ck_assert(strata_db_in_transaction(db));
        strata_stmt *st;
        th_rc(db, strata_stmt_prepare(&st, db, "SELECT 'a\\'?', CAST(? AS integer)"), STRATA_OK);
        ck_assert_int_eq(strata_stmt_param_count(st), 1);
        strata_stmt_finalize(st);
        th_rc(db, strata_db_rollback(db), STRATA_OK);
    }
    /* Kept where committed, gone where rolled back, each whole. */
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id IN (10, 20, 12, 22)"), 4);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 4);
    /* A savepoint inside is no end, nor is SQL outside strata's transaction. */
    th_rc(db, strata_db_begin(db), STRATA_OK);
    th_exec(db, "SAVEPOINT mine; INSERT INTO t (id) VALUES (30); ROLLBACK TO SAVEPOINT mine");
    th_rc(db, strata_db_commit(db), STRATA_OK);
    th_exec(db, "BEGIN; INSERT INTO t (id) VALUES (31); COMMIT");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 5);
    /* Through a prepared statement the same, prepared inside the
     * transaction or before it: refused when it would run, the rollback
     * then undoing what the transaction did. */
    strata_stmt *commit;
    th_rc(db, strata_stmt_prepare(&commit, db, "COMMIT"), STRATA_OK);
    for (int before = 0; before < 2; before++) {
        strata_stmt *st = commit;
        th_rc(db, strata_db_begin(db), STRATA_OK);
        insert(db, 40 + before, STRATA_DONE);
        if (!before)
            th_rc(db, strata_stmt_prepare(&st, db, "COMMIT"), STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_E_MISUSE);
        ck_assert_msg(strstr(strata_db_errmsg(db), "would end the transaction strata began"), "%s",
                      strata_db_errmsg(db));
        ck_assert(strata_db_in_transaction(db));
        if (!before)
            strata_stmt_finalize(st);
        th_rc(db, strata_db_rollback(db), STRATA_OK);
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id >= 40"), 0);
    }
    /* Outside strata's transaction it runs as the program wrote it. */
    th_exec(db, "BEGIN");
    insert(db, 50, STRATA_DONE);
    th_rc(db, strata_stmt_step(commit), STRATA_DONE);
    strata_stmt_finalize(commit);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id = 50"), 1);
    strata_db_close(db);
}
END_TEST

/* SQL whose text holds no end of a transaction, but which ends it all
 * the same (as a driver copy here makes one SELECT do): the handle's
 * transaction is failed until the rollback its owner owes, and nothing
 * runs outside a transaction meanwhile. */
static strata_driver ender_copies[2]; /* SQLite's driver and PostgreSQL's */
static const strata_driver *ender_real[2];

static int exec_then_commit(strata_conn *conn, const char *sql)
{
    const strata_driver *real = ender_real[conn->driver == &ender_copies[1]];
    int rc = real->exec(conn, sql);
    if (rc == STRATA_OK && strstr(sql, "'ends it'"))
        rc = real->commit ? real->commit(conn) : real->exec(conn, "COMMIT");
    return rc;
}

START_TEST(tx_sql_that_ended_the_transaction_unseen)
{
    strata_db *db = th_open();
    const strata_driver *real = strata_db_driver(db);
    strata_db_close(db);
    int k = th_is_pg();
    const char *scheme = k ? "enderpostgresql" : "endersqlite";
    if (!strata__engine_by_scheme(scheme)) {
        ender_copies[k] = *real;
        ender_copies[k].name = scheme;
        ender_copies[k].aliases = NULL;
        ender_copies[k].version = STRATA_DRIVER_VERSION;
        ender_copies[k].exec = exec_then_commit;
        ender_real[k] = real;
        strata__engine row = {&ender_copies[k], strata__engine_of(real)->dialect};
        ck_assert_int_eq(strata__engine_register(&row), STRATA_OK);
    }
    char url[1024];
    snprintf(url, sizeof url, "%s%s", scheme, strstr(th_url(), "://"));
    db = th_open_url(url);
    table(db);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    insert(db, 1, STRATA_DONE);
    th_rc(db, strata_db_exec(db, "SELECT 'ends it'"), STRATA_E_MISUSE);
    ck_assert_msg(strstr(strata_db_errmsg(db), "the SQL ended the transaction strata began") !=
                      NULL,
                  "%s", strata_db_errmsg(db));
    ck_assert(strata_db_in_transaction(db));
    /* Nothing more runs until the rollback, which finds nothing to undo:
     * the row before was committed by the SQL. */
    insert(db, 2, STRATA_E_TX_ABORTED);
    th_rc(db, strata_db_commit(db), STRATA_E_TX_ABORTED);
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    ck_assert(!strata_db_in_transaction(db));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 1);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id = 1"), 1);
    /* And the handle goes on as before. */
    th_rc(db, strata_db_begin(db), STRATA_OK);
    insert(db, 3, STRATA_DONE);
    th_rc(db, strata_db_commit(db), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 2);
    strata_db_close(db);
}
END_TEST

START_TEST(tx_savepoint_without_transaction)
{
    strata_db *db = th_open();
    table(db);
    th_rc(db, strata_db_savepoint(db), STRATA_OK);
    ck_assert(strata_db_in_transaction(db));
    insert(db, 1, STRATA_DONE);
    th_rc(db, strata_db_savepoint_release(db), STRATA_OK);
    ck_assert(!strata_db_in_transaction(db));
    th_rc(db, strata_db_savepoint(db), STRATA_OK);
    insert(db, 2, STRATA_DONE);
    th_rc(db, strata_db_savepoint_rollback(db), STRATA_OK);
    ck_assert(!strata_db_in_transaction(db));
    ck_assert_int_eq(th_int(db, "SELECT sum(id) FROM t"), 1);
    strata_db_close(db);
}
END_TEST

/* A transaction begun by raw SQL is the program's: strata does not begin
 * another over it, on any engine.  PostgreSQL would have warned and let
 * the handle's COMMIT end it, committing the program's work early. */
typedef struct Row {
    strata_object base;
    int64_t id;
} Row;
static const strata_field row_fields[] = {STRATA_PK(Row, id), STRATA_FIELDS_END};
static const strata_model row_model = {.version = STRATA_MODEL_VERSION,
                                       .name = "Row",
                                       .table = "t",
                                       .size = sizeof(Row),
                                       .fields = row_fields};

START_TEST(tx_begin_inside_a_raw_transaction_is_refused)
{
    strata_db *db = th_open();
    table(db);
    insert(db, 1, STRATA_DONE);
    th_exec(db, "BEGIN");
    insert(db, 2, STRATA_DONE);
    th_rc(db, strata_db_begin(db), STRATA_E_MISUSE);
    ck_assert_msg(strstr(strata_db_errmsg(db), "begun by raw SQL"), "%s", strata_db_errmsg(db));
    ck_assert(!strata_db_in_transaction(db));
    th_rc(db, strata_db_begin_mode(db, STRATA_TX_WRITE), STRATA_E_MISUSE);
    th_rc(db, strata_db_savepoint(db), STRATA_E_MISUSE);
    strata_session *s;
    th_rc(db, strata_session_new(&s, db), STRATA_OK);
    Row *r = NULL;
    ck_assert_int_eq(strata_get(s, &row_model, 1, &r), STRATA_E_MISUSE);
    ck_assert_msg(strstr(strata_session_errmsg(s), "begun by raw SQL"), "%s",
                  strata_session_errmsg(s));
    ck_assert_int_eq(strata_session_commit(s), STRATA_OK); /* nothing of its own */
    strata_session_free(s);
    /* The program's transaction is still open and still its own. */
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 2);
    th_exec(db, "ROLLBACK");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 1);
    /* Once it has ended, strata begins as usual. */
    th_rc(db, strata_db_begin(db), STRATA_OK);
    insert(db, 3, STRATA_DONE);
    th_rc(db, strata_db_commit(db), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT sum(id) FROM t"), 4);
    strata_db_close(db);
}
END_TEST

/* A deferred foreign key fails at COMMIT: the transaction is over either way. */
START_TEST(tx_failed_commit_ends_transaction)
{
    strata_db *db = th_open();
    table(db);
    th_exec(db, "CREATE TABLE c (id INTEGER PRIMARY KEY, "
                "t_id INTEGER REFERENCES t (id) DEFERRABLE INITIALLY DEFERRED)");
    th_rc(db, strata_db_begin(db), STRATA_OK);
    th_exec(db, "INSERT INTO c (id, t_id) VALUES (1, 42)");
    th_rc(db, strata_db_commit(db), STRATA_E_FOREIGN_KEY);
    ck_assert_msg(!strncmp(strata_db_errmsg(db), "COMMIT: ", 8), "%s", strata_db_errmsg(db));
    ck_assert(!strata_db_in_transaction(db));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM c"), 0);
    th_rc(db, strata_db_begin(db), STRATA_OK); /* a new one can start */
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    strata_db_close(db);
}
END_TEST

/* Closing with a transaction open rolls it back. */
START_TEST(tx_close_rolls_back)
{
    strata_db *db = th_open();
    table(db);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    insert(db, 1, STRATA_DONE);
    strata_db_close(db);
    db = th_open();
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 0);
    strata_db_close(db);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    tcase_add_test(tc, tx_commit_and_rollback);
    tcase_add_test(tc, tx_nested_savepoints);
    tcase_add_test(tc, tx_savepoint_recovers_from_error);
    tcase_add_test(tc, tx_error_aborts_transaction);
    tcase_add_test(tc, tx_raw_commit_after_an_error_is_refused);
    tcase_add_test(tc, tx_raw_transaction_the_engine_ended_stays_failed);
    tcase_add_test(tc, tx_statements_of_one_exec_go_together);
    tcase_add_test(tc, tx_savepoint_without_transaction);
    tcase_add_test(tc, tx_sql_that_ends_the_transaction);
    tcase_add_test(tc, tx_read_only_refuses_writes);
    tcase_add_test(tc, tx_sql_that_ended_the_transaction_unseen);
    tcase_add_test(tc, tx_failed_commit_ends_transaction);
    tcase_add_test(tc, tx_begin_inside_a_raw_transaction_is_refused);
    /* Reopening a private in-memory database gives a new, empty one. */
    if (e != TH_SQLITE_MEMORY)
        tcase_add_test(tc, tx_close_rolls_back);
}

static Suite *build(void) { return th_suite("transactions", add); }

int main(void) { return th_run(build); }
