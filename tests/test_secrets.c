/*
 * test_secrets.c - a password in a URL never reaches any output.
 *
 * Each URL form below holds the password "S3cr<x>tPw" (or an encoded form
 * of it) in some position: the user-info, a password= or sslpassword=
 * parameter, an encoded key, with the characters that confuse URL readers
 * ('#', '?', '@', ';', '/', '&', a space, %00), in malformed URLs and in
 * sqlite URLs.  Every form is parsed, redacted, opened (against a closed
 * port, so the open fails; and against the test server when the form is
 * valid there), echoed, and given to the strata tool; neither "S3cr" nor
 * "tPw" may appear in a message, a redacted URL, strata_db_url(), an echo
 * line, or the tool's standard output and error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* "{H}" is where the host (and port) go. */
static const char *const forms[] = {
    "postgresql://app:S3crtPw@{H}/app",
    "postgresql://app:S3cr%23tPw@{H}/app",
    "postgresql://app:S3cr#tPw@{H}/app",
    "postgresql://app:S3cr?tPw@{H}/app",
    "postgresql://app:S3cr@tPw@{H}/app",
    "postgresql://app:S3cr;tPw@{H}/app",
    "postgresql://app:S3cr tPw@{H}/app",
    "postgresql://app:S3cr%00tPw@{H}/app",
    "postgresql://app:S3cr%zztPw@{H}/app",
    "postgresql://app:S3cr/tPw@{H}/app",
    "postgresql://app:S3cr:tPw@{H}/app",
    "postgresql://app:S3cr%40tPw@{H}/app?sslmode=disable",
    "postgresql://{H}/app?password=S3cr;tPw",
    "postgresql://{H}/app?password=S3cr tPw&sslmode=disable",
    "postgresql://{H}/app?password=S3cr&tPw",
    "postgresql://{H}/app?password=S3cr&tPw=1",
    "postgresql://{H}/app?password=S3cr=tPw",
    "postgresql://{H}/app?sslpassword=S3crtPw",
    "postgresql://{H}/app?pass%77ord=S3crtPw",
    "postgresql://{H}/app?PASSWORD=S3crtPw",
    "postgresql://{H}/app?password%3DS3crtPw&x=1",
    "postgresql://app:S3crtPw,{H}/app",
    "postgresql://{H}/app?pass%7word=S3crtPw",
    "postgresql://u@zz\npostgresql:?/@{H}/app?pass%77ord=S3crtPw",
    "postgresql://{H}/app?x?password=S3crtPw",
    "postgresql://{H}:bad/app?password=S3crtPw",
    "postgresql+asyncpg://app:S3crtPw@{H}/app",
    "postgres://app:S3crtPw@[{H}/app",
    "postgresql:app:S3crtPw@{H}/app",
    "postgresql:/app:S3crtPw@{H}/app",
    "mysql://app:S3crtPw@{H}/app",
    "sqlite://app:S3crtPw@{H}/app.db",
    "sqlite://app:S3cr/tPw@{H}/app.db",
    "//app:S3crtPw@{H}/app",
    "app:S3crtPw@{H}/app",
    "host={H} password=S3cr;tPw user=app",
    /* Two URLs in one text: the second is read as the first's database
     * name, or a parameter's value, and its password hidden all the same. */
    "postgresql://{H}/app postgresql://app:S3crtPw@db/app",
    "postgresql://{H}/app?application_name=a postgresql://app:S3cr@tPw@db/app",
    "sqlite:///app.db {H} postgresql://app:S3crtPw@db/app",
    /* One percent-encoded, which the server quotes decoded; and one the
     * server cuts to 63 bytes inside its password. */
    "postgresql://{H}/app%20postgresql%3A%2F%2Fapp%3AS3crtPw%40db%2Fapp",
    "postgresql://app:S3crtPw@{H}/app "
    "postgresql://uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu:S3crtPw@db/app",
    /* Conninfo text where a URL's host, database, user or parameter
     * belongs: libpq quotes the name it takes it for. */
    "postgresql://{H}/app%20password%3DS3crtPw",
    "postgresql://{H}/app password=S3crtPw",
    "postgresql://{H}/app?host=127.0.0.1%20password%3DS3crtPw",
    "postgresql://{H}/app?application_name=a%20password%20%3D%20'S3cr%20tPw'",
    "postgresql://app%20password%3DS3crtPw@{H}/app",
    "postgresql://127.0.0.1 password=S3crtPw,{H}/app",
    /* The same in URLs refused for another reason. */
    "postgresql://127.0.0.1:abc,{H}/app%20password%3DS3crtPw",
    "postgresql://{H}%20password%3DS3crtPw/app",
};

/* forms[i] with its {H} replaced by `host`. */
static void fill(char *out, size_t cap, const char *form, const char *host)
{
    const char *m = strstr(form, "{H}");
    ck_assert_ptr_nonnull(m);
    snprintf(out, cap, "%.*s%s%s", (int)(m - form), form, host, m + 3);
}

static void assert_clean(const char *what, const char *url, const char *text)
{
    ck_assert_msg(text != NULL, "%s of %s is NULL", what, url);
    ck_assert_msg(!strstr(text, "S3cr") && !strstr(text, "tPw"), "%s of %s shows the password: %s",
                  what, url, text);
}

static char top[2048];

/* Run `strata db current --url URL` in this test's directory; its stdout
 * and stderr together. */
static void run_tool(const char *url, char *out, size_t cap)
{
    char path[600];
    snprintf(path, sizeof path, "%s/url.txt", th_tmpdir());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(url, f);
    fclose(f);
    char cmd[4096];
    /* The URL goes through a file so no shell quoting can change it. */
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s/tools/strata' db current --url \"$(cat url.txt)\" 2>&1",
             th_tmpdir(), top);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "the tool accepted %s: %s", url, out);
}

/* Open `url` with echo on (to a file standing in for stderr); check every
 * output the handle gives. */
static int open_and_check(const char *url)
{
    th_echo_begin();
    strata_db *db = NULL;
    int rc = strata_db_open(&db, url);
    if (rc == STRATA_OK) {
        strata_stmt *st = NULL;
        rc = strata_stmt_prepare(&st, db, "SELECT 1");
        if (rc == STRATA_OK)
            rc = strata_stmt_step(st);
        strata_stmt_finalize(st);
        ck_assert_msg(rc == STRATA_ROW, "%s: %s", url, strata_db_errmsg(db));
        rc = STRATA_OK;
    }
    assert_clean("strata_db_errmsg", url, strata_db_errmsg(db));
    assert_clean("strata_db_url", url, strata_db_url(db));
    strata_db_close(db);
    char buf[8192];
    th_echo_end(buf, sizeof buf);
    assert_clean("the echo lines", url, buf);
    return rc;
}

START_TEST(secrets_never_shown)
{
    int valid = 0, opened = 0;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char url[1200];
        /* A closed port on this machine: every open fails, quickly. */
        fill(url, sizeof url, forms[i], "127.0.0.1:1");

        strata_url *u = NULL;
        int rc = strata_url_parse(&u, url);
        ck_assert_msg(rc == STRATA_OK || rc == STRATA_E_URL, "%s: %s", url, strata_errname(rc));
        if (rc == STRATA_OK)
            valid++;
        assert_clean("strata_url_errmsg", url, strata_url_errmsg(u));
        assert_clean("strata_url_redacted", url, strata_url_redacted(u));
        strata_url_free(u);
        char *r = strata_url_redact(url);
        assert_clean("strata_url_redact", url, r);
        strata_free(r);

        ck_assert_int_ne(open_and_check(url), STRATA_OK);
        char out[16384];
        run_tool(url, out, sizeof out);
        assert_clean("the strata tool's output", url, out);

        /* The valid PostgreSQL forms once more against the test server,
         * where the open gets further (trust authentication ignores the
         * password; a server that wants one refuses it). */
        const char *pg = th_pg_url();
        if (rc == STRATA_OK && pg && strncmp(url, "postgres", 8) == 0) {
            const char *host = strstr(pg, "@") + 1;
            size_t hlen = strcspn(host, "/?");
            char hostport[300], full[1400];
            snprintf(hostport, sizeof hostport, "%.*s", (int)hlen, host);
            fill(full, sizeof full, forms[i], hostport);
            /* The test server's database and user. */
            char *app = strstr(strstr(full, hostport), "/app");
            ck_assert_ptr_nonnull(app);
            memmove(app + 9, app + 4, strlen(app + 4) + 1);
            memcpy(app, "/postgres", 9);
            char *user = strstr(full, "app:");
            if (user && user < strstr(full, hostport)) {
                memmove(user + 8, user + 3, strlen(user + 3) + 1);
                memcpy(user, "postgres", 8);
            } else {
                char *q = strchr(full, '?');
                if (q) {
                    memmove(q + 15, q + 1, strlen(q + 1) + 1);
                    memcpy(q, "?user=postgres&", 15);
                } else {
                    strcat(full, "?user=postgres");
                }
            }
            if (open_and_check(full) == STRATA_OK)
                opened++;
        }
    }
    /* The list holds valid and malformed forms, and the server took some. */
    ck_assert_int_ge(valid, 10);
    ck_assert_int_le(valid, (int)(sizeof forms / sizeof forms[0]) - 10);
    if (th_pg_url())
        ck_assert_int_ge(opened, 1);
}
END_TEST

/* A password that is also part of a message's wording ("postgres" of
 * "postgresql://", the "o"s of "could not connect") leaves the message
 * as a strong password does: stars there would spell it by their gaps. */
START_TEST(secrets_that_are_words_leave_the_wording)
{
    static const char *const weak[] = {"postgres", "o", "ect", "Zq9secret"};
    char want[2048] = "";
    for (int i = (int)(sizeof weak / sizeof *weak) - 1; i >= 0; i--) {
        char url[256];
        snprintf(url, sizeof url, "postgresql://sec:%s@127.0.0.1:1/db", weak[i]);
        strata_db *db = NULL;
        ck_assert_int_ne(strata_db_open(&db, url), STRATA_OK);
        const char *msg = strata_db_errmsg(db);
        if (!want[0])
            snprintf(want, sizeof want, "%s", msg);
        ck_assert_msg(strstr(msg, "\"postgresql://sec:***@127.0.0.1:1/db\""), "%s", msg);
        ck_assert_str_eq(msg, want);
        strata_db_close(db);
    }
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    (void)e;
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, secrets_never_shown);
    tcase_add_test(tc, secrets_that_are_words_leave_the_wording);
}

static Suite *build(void) { return th_suite("secrets", add); }

int main(void)
{
    const char *env = getenv("top_builddir");
    if (env && *env)
        snprintf(top, sizeof top, "%s", env);
    else if (!getcwd(top, sizeof top))
        return 1;
    return th_run(build);
}
