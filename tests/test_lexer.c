/*
 * test_lexer.c - the placeholder lexer on a table of tricky SQL, for each
 * dialect, and the same tricky statements executed on the engine to show a
 * `?` inside a literal, identifier or comment is left alone for real.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h"

static const struct {
    const char *sql;
    const char *pg;     /* rewritten for PostgreSQL */
    const char *sqlite; /* rewritten for SQLite */
    int nparams;
    bool multiple;
} table[] = {
    {"SELECT ?", "SELECT $1", "SELECT ?", 1, false},
    {"SELECT ?, ?,?", "SELECT $1, $2,$3", "SELECT ?, ?,?", 3, false},
    {"SELECT '?' , ?", "SELECT '?' , $1", "SELECT '?' , ?", 1, false},
    {"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1", "SELECT 'it''s ?', ?", 1, false},
    {"SELECT \"a?b\" FROM t WHERE x = ?", "SELECT \"a?b\" FROM t WHERE x = $1",
     "SELECT \"a?b\" FROM t WHERE x = ?", 1, false},
    {"SELECT \"q\"\"?\" , ?", "SELECT \"q\"\"?\" , $1", "SELECT \"q\"\"?\" , ?", 1, false},
    {"SELECT ? -- is it?\n, ?", "SELECT $1 -- is it?\n, $2", "SELECT ? -- is it?\n, ?", 2, false},
    {"SELECT /* ? */ ?", "SELECT /* ? */ $1", "SELECT /* ? */ ?", 1, false},
    /* PostgreSQL nests block comments, SQLite does not. */
    {"SELECT /* a /* ? */ ? */ ?", "SELECT /* a /* ? */ ? */ $1", NULL, 1, false},
    {"SELECT /* a /* ? */ ? */ ?", NULL, "SELECT /* a /* ? */ ? */ ?", 2, false},
    {"SELECT $$ ? $$, ?", "SELECT $$ ? $$, $1", NULL, 1, false},
    {"SELECT $$ ? $$, ?", NULL, "SELECT $$ ? $$, ?", 2, false},
    {"SELECT $fn$ it's ? $fn$, ?", "SELECT $fn$ it's ? $fn$, $1", NULL, 1, false},
    {"SELECT E'\\' ?', ?", "SELECT E'\\' ?', $1", NULL, 1, false},
    /* A name may hold $: its E is not a string's prefix. */
    {"SELECT a$E'\\', ?", "SELECT a$E'\\', $1", NULL, 1, false},
    {"SELECT doc ?? 'k' FROM t WHERE id = ?", "SELECT doc ? 'k' FROM t WHERE id = $1",
     "SELECT doc ? 'k' FROM t WHERE id = ?", 1, false},
    {"SELECT doc ??| array['a'] , ?", "SELECT doc ?| array['a'] , $1",
     "SELECT doc ?| array['a'] , ?", 1, false},
    {"SELECT `a?`, [b?], ?", NULL, "SELECT `a?`, [b?], ?", 1, false},
    {"SELECT x::text, ?", "SELECT x::text, $1", "SELECT x::text, ?", 1, false},
    {"SELECT 1;", "SELECT 1;", "SELECT 1;", 0, false},
    {"SELECT 1; -- done\n", "SELECT 1; -- done\n", "SELECT 1; -- done\n", 0, false},
    {"SELECT 1; SELECT ?", "SELECT 1; SELECT $1", "SELECT 1; SELECT ?", 1, true},
    {"SELECT ';', ?", "SELECT ';', $1", "SELECT ';', ?", 1, false},
    {"SELECT 'unterminated ?", "SELECT 'unterminated ?", "SELECT 'unterminated ?", 0, false},
    {"", "", "", 0, false},
};

START_TEST(lexer_table)
{
    strata_db *db = th_open();
    const strata_driver *d = strata_db_driver(db);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const char *want = th_is_pg() ? table[i].pg : table[i].sqlite;
        strata__sql_rewrite rw;
        ck_assert_int_eq(
            strata__sql_rewrite_placeholders(&rw, table[i].sql, d->placeholder, d->lexer_flags),
            STRATA_OK);
        if (want) {
            ck_assert_msg(strcmp(rw.sql, want) == 0, "[%zu] %s -> %s, want %s", i, table[i].sql,
                          rw.sql, want);
            ck_assert_msg(rw.nparams == table[i].nparams, "[%zu] %s: %d params", i, table[i].sql,
                          rw.nparams);
        }
        ck_assert_msg(rw.multiple == table[i].multiple, "[%zu] %s: multiple=%d", i, table[i].sql,
                      rw.multiple);
        free(rw.sql);
    }
    strata_db_close(db);
}
END_TEST

/* Run `sql` with one text parameter "x" and check each column's text. */
static void expect_row(strata_db *db, const char *sql, int ncols, const char *const *want)
{
    strata_stmt *st = NULL;
    int rc = strata_stmt_prepare(&st, db, sql);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", sql, strata_db_errmsg(db));
    ck_assert_int_eq(strata_stmt_param_count(st), 1);
    ck_assert_int_eq(strata_stmt_bind_text(st, 1, "x", -1), STRATA_OK);
    rc = strata_stmt_step(st);
    ck_assert_msg(rc == STRATA_ROW, "%s: %s %s", sql, strata_errname(rc), strata_db_errmsg(db));
    ck_assert_int_eq(strata_stmt_column_count(st), ncols);
    for (int i = 0; i < ncols; i++) {
        const char *t = NULL;
        ck_assert_int_eq(strata_stmt_column_text(st, i, &t, NULL), STRATA_OK);
        ck_assert_msg(strcmp(t, want[i]) == 0, "%s col %d: %s, want %s", sql, i, t, want[i]);
    }
    strata_stmt_finalize(st);
}

START_TEST(lexer_executes)
{
    strata_db *db = th_open();
    static const char *const q_x[] = {"?", "x"};
    static const char *const its_x[] = {"it's ?", "x"};
    static const char *const x1[] = {"x"};
    expect_row(db, "SELECT '?', ?", 2, q_x);
    expect_row(db, "SELECT 'it''s ?', ?", 2, its_x);
    expect_row(db, "SELECT /* ? */ ? -- ?\n", 1, x1);
    th_exec(db, "CREATE TABLE qt (\"a?b\" TEXT, id INTEGER)");
    strata_stmt *st;
    ck_assert_int_eq(strata_stmt_prepare(&st, db, "INSERT INTO qt (\"a?b\", id) VALUES (?, 1)"),
                     STRATA_OK);
    ck_assert_int_eq(strata_stmt_bind_text(st, 1, "x", -1), STRATA_OK);
    ck_assert_int_eq(strata_stmt_step(st), STRATA_DONE);
    strata_stmt_finalize(st);
    expect_row(db, "SELECT \"a?b\" FROM qt WHERE \"a?b\" = ?", 1, x1);
    if (th_is_pg()) {
        static const char *const dq[] = {" it's ? ", "x"};
        static const char *const t_x[] = {"true", "x"};
        static const char *const e_x[] = {"' ?", "x"};
        expect_row(db, "SELECT $fn$ it's ? $fn$, ?", 2, dq);
        expect_row(db, "SELECT /* a /* ? */ ? */ ? ", 1, x1);
        expect_row(db, "SELECT E'\\' ?', ?", 2, e_x);
        expect_row(db, "SELECT '{\"a\": 1}'::jsonb ?? 'a', ?", 2, t_x);
    } else {
        static const char *const bt[] = {"1", "x"};
        expect_row(db, "SELECT 1 AS `a?`, ?", 2, bt);
        expect_row(db, "SELECT 1 AS [a?], ?", 2, bt);
    }
    strata_db_close(db);
}
END_TEST

START_TEST(lexer_refuses_several_statements)
{
    strata_db *db = th_open();
    strata_stmt *st = NULL;
    int rc = strata_stmt_prepare(&st, db, "SELECT 1; SELECT 2");
    th_rc(db, rc, STRATA_E_MISUSE);
    ck_assert_ptr_null(st);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "strata_db_exec"));
    /* A trailing semicolon and comment are one statement. */
    ck_assert_int_eq(th_int(db, "SELECT 7; -- fine"), 7);
    /* Text with no statement runs to DONE on both engines. */
    rc = strata_stmt_prepare(&st, db, "-- nothing here");
    th_rc(db, rc, STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_DONE);
    strata_stmt_finalize(st);
    /* Empty statements after the first are nothing, as the engines say. */
    ck_assert_int_eq(th_int(db, "select 1;;;"), 1);
    ck_assert_int_eq(th_int(db, "select 2; ; -- done\n;"), 2);
    /* In a transaction the refusal aborts it on both engines, as any
     * failed statement does. */
    th_rc(db, strata_db_begin(db), STRATA_OK);
    rc = strata_stmt_prepare(&st, db, "SELECT 1; SELECT 2");
    th_rc(db, rc, STRATA_E_MISUSE);
    th_rc(db, strata_db_exec(db, "SELECT 3"), STRATA_E_TX_ABORTED);
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT 4"), 4);
    strata_db_close(db);
}
END_TEST

/* Statements whose bodies hold semicolons are one statement: the engine
 * decides, not the lexer. */
START_TEST(lexer_bodies_with_semicolons)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE t (n INTEGER)");
    th_exec(db, "CREATE TABLE log (n INTEGER)");
    const char *body;
    if (th_is_pg()) {
        ck_assert_int_ge(th_int(db, "SELECT current_setting('server_version_num')::int"), 140000);
        body = "CREATE FUNCTION twice(n integer) RETURNS integer LANGUAGE SQL "
               "BEGIN ATOMIC; SELECT n * 2; END";
    } else {
        body = "CREATE TRIGGER t_log AFTER INSERT ON t BEGIN "
               "INSERT INTO log (n) VALUES (new.n); INSERT INTO log (n) VALUES (new.n * 10); END";
    }
    strata_stmt *st = NULL;
    th_rc(db, strata_stmt_prepare(&st, db, body), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_DONE);
    strata_stmt_finalize(st);
    if (th_is_pg()) {
        ck_assert_int_eq(th_int(db, "SELECT twice(21)"), 42);
    } else {
        th_exec(db, "INSERT INTO t (n) VALUES (4)");
        ck_assert_int_eq(th_int(db, "SELECT sum(n) FROM log"), 44);
    }
    /* Such a body followed by another statement is still two. */
    th_exec(db, th_is_pg() ? "DROP FUNCTION twice" : "DROP TRIGGER t_log");
    char two[600];
    snprintf(two, sizeof two, "%s; SELECT 1", body);
    th_rc(db, strata_stmt_prepare(&st, db, two), STRATA_E_MISUSE);
    ck_assert_ptr_null(st);
    strata_db_close(db);
}
END_TEST

/* The tokens themselves, as the SQLite dialect's CREATE TABLE reader and
 * the placeholder rewriter both see them. */
START_TEST(lexer_tokens)
{
    static const struct {
        const char *text;
        unsigned flags;
        strata__token_kind kind;
        size_t len;
        bool unterminated;
    } cases[] = {
        {"  \n\tx", 0, STRATA__TOK_SPACE, 4, false},
        {"-- note\nx", 0, STRATA__TOK_COMMENT, 7, false},
        {"/* a /* b */ c */x", STRATA_LEX_NESTED_COMMENTS, STRATA__TOK_COMMENT, 17, false},
        {"/* a /* b */ c */x", 0, STRATA__TOK_COMMENT, 12, false},
        {"/* open", 0, STRATA__TOK_COMMENT, 7, true},
        {"'it''s' x", 0, STRATA__TOK_STRING, 7, false},
        {"'open", 0, STRATA__TOK_STRING, 5, true},
        {"\"a\"\"b\" x", 0, STRATA__TOK_QUOTED, 6, false},
        {"`a``b` x", STRATA_LEX_BACKTICKS, STRATA__TOK_QUOTED, 6, false},
        {"`a` x", 0, STRATA__TOK_OTHER, 1, false},
        {"[a]]b] x", STRATA_LEX_BRACKETS, STRATA__TOK_QUOTED, 3, false}, /* ] ends it */
        {"$q$ ? $q$ x", STRATA_LEX_DOLLAR_QUOTES, STRATA__TOK_STRING, 9, false},
        {"$q$ open", STRATA_LEX_DOLLAR_QUOTES, STRATA__TOK_STRING, 8, true},
        {"col_1$x y", 0, STRATA__TOK_WORD, 7, false},
        {"(x", 0, STRATA__TOK_OTHER, 1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        strata__token t;
        strata__sql_token_at(cases[i].text, cases[i].text, cases[i].flags, &t);
        ck_assert_msg(t.kind == cases[i].kind && t.len == cases[i].len &&
                          t.unterminated == cases[i].unterminated,
                      "case %zu (%s): kind %d len %zu unterminated %d", i, cases[i].text, t.kind,
                      t.len, t.unterminated);
    }
    /* E'...' takes backslash escapes only where the dialect has them. */
    const char *e = "E'a\\'b' x";
    strata__token t;
    strata__sql_token_at(e, e + 1, STRATA_LEX_E_STRINGS, &t);
    ck_assert_uint_eq(t.len, 6);
    strata__sql_token_at(e, e + 1, 0, &t);
    ck_assert_uint_eq(t.len, 4);
    char *u = strata__sql_unquote("\"a\"\"b\"", 6);
    ck_assert_str_eq(u, "a\"b");
    free(u);
    u = strata__sql_unquote("[a b]", 5);
    ck_assert_str_eq(u, "a b");
    free(u);
}
END_TEST

/* The statements of a text that begin or end a transaction, which a
 * revision's SQL may not hold: found past strings, names and comments,
 * and not the END of a trigger's or function's body. */
START_TEST(lexer_finds_transaction_statements)
{
    static const struct {
        const char *sql;
        int pg, sqlite; /* where the statement starts, read by each engine's rules; -1: none */
    } cases[] = {
        {"COMMIT", 0, 0},
        {"INSERT INTO t VALUES (1); commit;", 26, 26},
        {"UPDATE t SET a = 1;\nEND TRANSACTION", 20, 20},
        {"begin; INSERT INTO t VALUES (1)", 0, 0},
        {"START TRANSACTION", 0, 0},
        {"SELECT 1; /* x */ ROLLBACK", 18, 18},
        {"ABORT", 0, 0},
        {"PREPARE TRANSACTION 'x'", 0, 0},
        {"ROLLBACK TO SAVEPOINT a", -1, -1},
        {"rollback transaction to a", -1, -1},
        {"SAVEPOINT a; RELEASE a", -1, -1},
        {"SELECT 'COMMIT'; SELECT \"end\"", -1, -1},
        {"-- COMMIT\nSELECT 1", -1, -1},
        {"SELECT CASE WHEN a THEN 1 END FROM t", -1, -1},
        {"CREATE TRIGGER g AFTER INSERT ON t BEGIN UPDATE u SET n = 1; END; SELECT 1", -1, -1},
        {"CREATE TRIGGER g AFTER INSERT ON t BEGIN UPDATE u SET n = 1; END; COMMIT", 66, 66},
        {"CREATE TEMP TRIGGER g AFTER UPDATE ON t BEGIN UPDATE u SET n = CASE WHEN 1 THEN 2 "
         "END; END",
         -1, -1},
        /* A trigger whose WHEN takes more than a few dozen words. */
        {"CREATE TRIGGER audit AFTER UPDATE ON t WHEN old.a IS NOT new.a OR old.b IS NOT new.b OR "
         "old.c IS NOT new.c OR old.d IS NOT new.d OR old.e IS NOT new.e OR old.f IS NOT new.f OR "
         "old.g IS NOT new.g OR old.h IS NOT new.h OR old.i IS NOT new.i OR old.j IS NOT new.j "
         "BEGIN INSERT INTO log VALUES (1); END",
         -1, -1},
        {"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END", -1, -1},
        {"DO $$ BEGIN PERFORM 1; END $$", -1, 23},
        /* A column named begin opens no body. */
        {"CREATE TABLE periods (begin date); COMMIT", 35, 35},
        {"CREATE INDEX i ON t (begin); ABORT", 29, 29},
        /* SQLite's comments do not nest, PostgreSQL's do. */
        {"/* a /* nested? */ COMMIT; /* */ SELECT 1", -1, 19},
        {"", -1, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int e = 0; e < 2; e++) {
            const char *at = strata__sql_transaction_statement(
                cases[i].sql, e ? STRATA__SQLITE_LEXER : STRATA__PG_LEXER);
            int got = at ? (int)(at - cases[i].sql) : -1;
            ck_assert_msg(got == (e ? cases[i].sqlite : cases[i].pg), "case %zu (%s) on %s: %d", i,
                          cases[i].sql, e ? "SQLite" : "PostgreSQL", got);
        }
    }
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    tcase_add_test(tc, lexer_tokens);
    tcase_add_test(tc, lexer_finds_transaction_statements);
    (void)e;
    tcase_add_test(tc, lexer_table);
    tcase_add_test(tc, lexer_executes);
    tcase_add_test(tc, lexer_refuses_several_statements);
    tcase_add_test(tc, lexer_bodies_with_semicolons);
}

static Suite *build(void) { return th_suite("lexer", add); }

int main(void) { return th_run(build); }
