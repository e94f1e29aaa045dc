/*
 * test_echo.c - SQL echo shows each statement with its parameters, and no
 * password ever reaches an echo line, an error message or strata_db_url():
 * not the URL's, not a password= parameter's, not a PASSWORD '...' literal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

typedef struct lines {
    char text[64][512];
    int n;
} lines;

static void collect(void *ud, const char *line)
{
    lines *l = ud;
    if (l->n < 64)
        snprintf(l->text[l->n++], sizeof l->text[0], "%s", line);
}

static bool any_contains(const lines *l, const char *needle)
{
    for (int i = 0; i < l->n; i++)
        if (strstr(l->text[i], needle))
            return true;
    return false;
}

START_TEST(echo_statements_and_params)
{
    strata_db *db = th_open();
    lines l = {.n = 0};
    strata_db_set_echo(db, collect, &l);
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT ?, ?, ?, ?"), STRATA_OK);
    strata_stmt_bind_int64(st, 1, 42);
    strata_stmt_bind_text(st, 2, "it's", -1);
    strata_stmt_bind_null(st, 3);
    strata_stmt_bind_blob(st, 4, "abc", 3);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    strata_stmt_finalize(st);
    ck_assert_int_eq(l.n, 1);
    char want[128];
    snprintf(want, sizeof want,
             "[%s] SELECT ?, ?, ?, ? -- params: (42, 'it's', NULL, <blob 3 bytes>)",
             strata_db_backend(db));
    ck_assert_str_eq(l.text[0], want);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    ck_assert(any_contains(&l, "BEGIN") && any_contains(&l, "ROLLBACK"));
    strata_db_set_echo(db, NULL, NULL);
    th_exec(db, "SELECT 1");
    ck_assert_int_eq(l.n, 3);
    strata_db_close(db);
}
END_TEST

START_TEST(echo_redacts_password_literal)
{
    strata_db *db = th_open();
    lines l = {.n = 0};
    strata_db_set_echo(db, collect, &l);
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE ROLE strata_r%ld LOGIN PASSWORD 'hunter2'", (long)getpid());
    int rc = strata_db_exec(db, sql); /* a syntax error on SQLite; still echoed first */
    if (th_is_pg()) {
        th_rc(db, rc, STRATA_OK);
        snprintf(sql, sizeof sql, "DROP ROLE strata_r%ld", (long)getpid());
        th_exec(db, sql);
    } else {
        th_rc(db, rc, STRATA_E_SYNTAX);
    }
    ck_assert(any_contains(&l, "PASSWORD '***'"));
    ck_assert(!any_contains(&l, "hunter2"));
    /* The other ways to write the literal (a syntax error on SQLite, a
     * role that does not exist on PostgreSQL: echoed all the same). */
    static const char *const forms[] = {
        "ALTER ROLE strata_nobody PASSWORD E'hun\\'ter2'",
        "ALTER ROLE strata_nobody ENCRYPTED PASSWORD $$hunter2$$",
        "ALTER ROLE strata_nobody PASSWORD U&'hun\\0074er2' UESCAPE '\\'",
        "ALTER ROLE strata_nobody PASSWORD /* new */ 'hunter2'",
        "ALTER ROLE strata_nobody PASSWORD -- new\n 'hunter2'",
        "ALTER ROLE strata_nobody password 'hun'\n'ter2'",
        "ALTER ROLE strata_nobody PASSWORD $pw$hun$ter2$pw$ VALID UNTIL 'infinity'",
    };
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        l.n = 0;
        ck_assert_int_ne(strata_db_exec(db, forms[i]), STRATA_OK);
        ck_assert_msg(any_contains(&l, "PASSWORD '***'") || any_contains(&l, "password '***'"),
                      "%s", l.n ? l.text[0] : forms[i]);
        ck_assert_msg(!any_contains(&l, "ter2") && !any_contains(&l, "0074"), "%s", l.text[0]);
    }
    ck_assert(any_contains(&l, "VALID UNTIL 'infinity'"));
    if (th_is_pg()) {
        /* With standard_conforming_strings off, a backslash escapes the
         * quote in any string: the literal goes on past it. */
        th_rc(db, strata_db_begin(db), STRATA_OK);
        th_exec(db, "SET LOCAL standard_conforming_strings = off");
        l.n = 0;
        ck_assert_int_ne(strata_db_exec(db, "ALTER ROLE strata_nobody PASSWORD 'ab\\'hunter2'"),
                         STRATA_OK);
        ck_assert_msg(any_contains(&l, "PASSWORD '***'") && !any_contains(&l, "hunter2"), "%s",
                      l.n ? l.text[0] : "no line");
        ck_assert_msg(!strstr(strata_db_errmsg(db), "hunter2"), "%s", strata_db_errmsg(db));
        th_rc(db, strata_db_rollback(db), STRATA_OK);
    }
    /* The engine's message may quote the text near the literal (one not
     * closed, or a syntax error after it): not the password. */
    static const char *const quoted[] = {"ALTER ROLE strata_nobody PASSWORD 'hunter2",
                                         "ALTER ROLE strata_nobody PASSWORD $$hunter2",
                                         "SELECT 1 PASSWORD 'hunter2' x"};
    for (size_t i = 0; i < sizeof quoted / sizeof *quoted; i++) {
        strata_stmt *st = NULL;
        ck_assert_int_ne(strata_db_exec(db, quoted[i]), STRATA_OK);
        ck_assert_msg(!strstr(strata_db_errmsg(db), "hunter2"), "%s", strata_db_errmsg(db));
        ck_assert_int_ne(strata_stmt_prepare(&st, db, quoted[i]), STRATA_OK);
        ck_assert_msg(!strstr(strata_db_errmsg(db), "hunter2"), "%s", strata_db_errmsg(db));
    }
    /* After a comment left open, nothing more is shown; a column named
     * password is no PASSWORD clause. */
    l.n = 0;
    ck_assert_int_ne(strata_db_exec(db, "ALTER ROLE strata_nobody PASSWORD /* 'hunter2'"),
                     STRATA_OK);
    ck_assert_msg(any_contains(&l, "PASSWORD ***") && !any_contains(&l, "ter2"), "%s", l.text[0]);
    l.n = 0;
    ck_assert_int_ne(strata_db_exec(db, "SELECT password, password_hash FROM strata_none"),
                     STRATA_OK);
    ck_assert_msg(any_contains(&l, "SELECT password, password_hash FROM strata_none"), "%s",
                  l.text[0]);
    ck_assert_ptr_null(strstr(strata_db_errmsg(db), "hunter2"));
    /* A connection string inside the SQL (dblink's, postgres_fdw's):
     * its password= and sslpassword= values, plain or quoted, are hidden
     * in the echo and in the engine's message. */
    static const char *const conninfo[] = {
        "SELECT strata_no_such_fn('host=h password=hunter2 user=u')",
        "SELECT strata_no_such_fn('host=h sslpassword = hunter2')",
        "SELECT strata_no_such_fn('host=h password=''hun ter2'' user=u')",
        "SELECT strata_no_such_fn('host=h password=''a\\''hunter2'' user=u')",
        "SELECT strata_no_such_fn(E'host=h password=\\'hun ter2\\' user=u')",
        "SELECT strata_no_such_fn($$host=h password='hun ter2' user=u$$)",
        "SELECT strata_no_such_fn('postgresql://u:hunter2@h/db')",
    };
    for (size_t i = 0; i < sizeof conninfo / sizeof *conninfo; i++) {
        l.n = 0;
        ck_assert_int_ne(strata_db_exec(db, conninfo[i]), STRATA_OK);
        ck_assert_msg(l.n && (strstr(l.text[0], "password=***") ||
                              strstr(l.text[0], "password = ***") || strstr(l.text[0], "u:***@h")),
                      "%s", l.n ? l.text[0] : conninfo[i]);
        ck_assert_msg(!any_contains(&l, "ter2"), "%s", l.text[0]);
        ck_assert_msg(!strstr(strata_db_errmsg(db), "ter2"), "%s", strata_db_errmsg(db));
    }
    /* PASSWORD inside a literal (SQL the SQL runs, or builds): what
     * follows it is hidden to the text's end, in the echo and in the
     * engine's message; a password given as a name or a bare word too;
     * a URL's password that holds a quote, doubled in the literal. */
    static const char *const nested[] = {
        "DO $$ BEGIN EXECUTE 'ALTER ROLE strata_nobody PASSWORD ''Zq9hunter2'''; END $$",
        "SELECT 'ALTER ROLE strata_nobody PASSWORD ''Zq9hunter2'''::int FROM strata_none",
        "SELECT E'ALTER ROLE strata_nobody PASSWORD \\'Zq9hunter2\\''::int FROM strata_none",
        "SELECT 'ALTER ROLE x PASSWORD ' || quote_literal('Zq9hunter2') FROM strata_none",
        "SELECT format('ALTER ROLE %I PASSWORD %L', 'x', 'Zq9hunter2') FROM strata_none",
        "ALTER ROLE strata_nobody PASSWORD \"Zq9hunter2\"",
        "ALTER ROLE strata_nobody PASSWORD Zq9hunter2",
        "SELECT strata_no_such_fn('postgresql://u:Zq9''hunter2@h/db')",
    };
    for (size_t i = 0; i < sizeof nested / sizeof *nested; i++) {
        l.n = 0;
        ck_assert_int_ne(strata_db_exec(db, nested[i]), STRATA_OK);
        ck_assert_msg(l.n && !any_contains(&l, "hunter2") && any_contains(&l, "***"), "%s",
                      l.n ? l.text[0] : nested[i]);
        ck_assert_msg(!strstr(strata_db_errmsg(db), "hunter2"), "%s", strata_db_errmsg(db));
    }
    /* A literal 'password' alone (a setting's name) is no clause: the
     * rest shows.  A name left open after PASSWORD is hidden whole. */
    l.n = 0;
    ck_assert_int_ne(
        strata_db_exec(db, "SELECT v FROM strata_none WHERE k = 'password' AND user_id = 42"),
        STRATA_OK);
    ck_assert_msg(any_contains(&l, "WHERE k = 'password' AND user_id = 42"), "%s", l.text[0]);
    ck_assert_int_ne(strata_db_exec(db, "ALTER ROLE strata_nobody PASSWORD \"Zq9hunter2"),
                     STRATA_OK);
    ck_assert_msg(!strstr(strata_db_errmsg(db), "hunter"), "%s", strata_db_errmsg(db));
    /* What follows in code is the engine's to name. */
    l.n = 0;
    ck_assert_int_ne(strata_db_exec(db, "SELECT 'PASSWORD ''Zq9hunter2''' FROM strata_none"),
                     STRATA_OK);
    ck_assert_msg(l.n && !any_contains(&l, "hunter2"), "%s", l.n ? l.text[0] : "no line");
    ck_assert_msg(strstr(strata_db_errmsg(db), "strata_none") &&
                      !strstr(strata_db_errmsg(db), "hunter2"),
                  "%s", strata_db_errmsg(db));
    /* An engine message that quotes the text near a literal left open. */
    static const char *const open_literal[] = {
        "SELECT 'host=h password=hunter2 user=u",
        "SELECT 'postgresql://u:hunter2@h/db",
    };
    for (size_t i = 0; i < sizeof open_literal / sizeof *open_literal; i++) {
        ck_assert_int_ne(strata_db_exec(db, open_literal[i]), STRATA_OK);
        ck_assert_msg(strstr(strata_db_errmsg(db), "***") && !strstr(strata_db_errmsg(db), "ter2"),
                      "%s", strata_db_errmsg(db));
    }
    strata_db_close(db);
}
END_TEST

/* The whole message of the last notice, in *(char **)ud. */
static void keep_notice(void *ud, const strata_notice *n)
{
    free(*(char **)ud);
    *(char **)ud = strdup(n->message);
}

/* A text parameter is cut for the echo only once the connection's
 * password is out of it: a password across the cut leaves no part. */
START_TEST(echo_cuts_a_parameter_after_hiding_the_password)
{
    char u[1200];
    const char *base = th_url();
    const char *secret = "Tops3cretPW";
    /* Trust authentication ignores the password. */
    const char *auth = strstr(base, "://") + 3;
    const char *at = strchr(auth, '@');
    ck_assert_ptr_nonnull(at);
    ck_assert_msg(!memchr(auth, ':', (size_t)(at - auth)), "the server URL has a password");
    snprintf(u, sizeof u, "%.*s:%s%s", (int)(at - base), base, secret, at);
    strata_db *db;
    int rc = strata_db_open(&db, u);
    ck_assert_msg(rc == STRATA_OK, "%s", strata_db_errmsg(db));
    lines l = {.n = 0};
    strata_db_set_echo(db, collect, &l);
    char value[128];
    for (int cut = 70; cut <= 80; cut++) { /* the password from before the cut to after it */
        memset(value, 'x', (size_t)cut);
        snprintf(value + cut, sizeof value - (size_t)cut, "%s", secret);
        strata_stmt *st;
        th_rc(db, strata_stmt_prepare(&st, db, "SELECT ?"), STRATA_OK);
        th_rc(db, strata_stmt_bind_text(st, 1, value, -1), STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
        strata_stmt_finalize(st);
    }
    ck_assert_int_eq(l.n, 11);
    ck_assert(!any_contains(&l, "Tops") && !any_contains(&l, "PW'") && !any_contains(&l, "Top"));
    ck_assert(any_contains(&l, "xxx***"));
    if (th_is_pg()) {
        /* A server's notice with a detail, as long as the old buffer:
         * the password past its end is hidden, not its start shown. */
        char sql[256];
        snprintf(sql, sizeof sql,
                 "DO $$BEGIN RAISE NOTICE USING MESSAGE = repeat('x', 2040) || '%s', "
                 "DETAIL = 'd'; END$$",
                 secret);
        char *last = NULL;
        strata_db_set_notice_handler(db, keep_notice, &last);
        th_exec(db, sql);
        ck_assert_ptr_nonnull(last);
        ck_assert_msg(strstr(last, "xxx*** (d)") && !strstr(last, "Top"), "%s",
                      last + strlen(last) - 20);
        free(last);
    }
    strata_db_close(db);
}
END_TEST

/* A URL with a password: the connect line and the handle's URL hide it. */
START_TEST(echo_redacts_url_password)
{
    char u[1200];
    char secret[128] = "s3cret";
    const char *base = th_url();
    if (th_is_pg()) {
        /* Use the server URL's own password if it has one (a Docker server);
         * else add one, which trust authentication ignores. */
        const char *auth = strstr(base, "://") + 3;
        const char *at = strchr(auth, '@');
        ck_assert_ptr_nonnull(at);
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon) {
            snprintf(secret, sizeof secret, "%.*s", (int)(at - colon - 1), colon + 1);
            snprintf(u, sizeof u, "%s", base);
        } else {
            snprintf(u, sizeof u, "%.*s:%s%s", (int)(at - base), base, secret, at);
        }
    } else {
        snprintf(u, sizeof u, "%s", base);
    }
    th_echo_begin();
    strata_db *db = th_open_url(u);
    th_exec(db, "SELECT 1");
    strata_db_close(db);
    /* A connection that fails, with a password in the URL and a parameter. */
    strata_db_open(&db, "postgresql://u:s3cret@127.0.0.1:1/x?connect_timeout=2&password=s3cret");
    ck_assert_int_eq(strata_db_errcode(db), STRATA_E_CONNECT);
    ck_assert_ptr_null(strstr(strata_db_errmsg(db), "s3cret"));
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "u:***@127.0.0.1:1"));
    ck_assert_ptr_null(strstr(strata_db_url(db), "s3cret"));
    strata_db_close(db);
    char buf[8192];
    th_echo_end(buf, sizeof buf);
    ck_assert_msg(strstr(buf, "connect ") != NULL, "no connect line in: %s", buf);
    ck_assert_msg(strstr(buf, "SELECT 1") != NULL, "no statement in: %s", buf);
    ck_assert_msg(strstr(buf, "s3cret") == NULL, "password leaked: %s", buf);
    ck_assert_msg(strstr(buf, secret) == NULL, "password leaked: %s", buf);
    if (th_is_pg())
        ck_assert_msg(strstr(buf, ":***@") != NULL, "%s", buf);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    tcase_add_test(tc, echo_statements_and_params);
    tcase_add_test(tc, echo_redacts_password_literal);
    tcase_add_test(tc, echo_redacts_url_password);
    if (e != TH_SQLITE_MEMORY && e != TH_SQLITE_FILE) /* a URL with a password */
        tcase_add_test(tc, echo_cuts_a_parameter_after_hiding_the_password);
}

static Suite *build(void) { return th_suite("echo", add); }

int main(void) { return th_run(build); }
