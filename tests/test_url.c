/*
 * test_url.c - the URL table: valid forms parse to the right backend,
 * database and redacted text; invalid forms give STRATA_E_URL with a
 * message naming the wrong part and never the password; the engine's own
 * URL opens under its aliases and driver suffixes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const struct {
    const char *url, *backend, *database, *redacted;
} valid[] = {
    {"sqlite://", "sqlite", ":memory:", "sqlite://"},
    {"sqlite:///:memory:", "sqlite", ":memory:", "sqlite:///:memory:"},
    {"sqlite:///app.db", "sqlite", "app.db", "sqlite:///app.db"},
    {"sqlite:///dir/app.db", "sqlite", "dir/app.db", "sqlite:///dir/app.db"},
    {"sqlite:////tmp/abs.db", "sqlite", "/tmp/abs.db", "sqlite:////tmp/abs.db"},
    {"sqlite+sqlite3:///a.db", "sqlite", "a.db", "sqlite+sqlite3:///a.db"},
    {"SQLite:///a.db", "sqlite", "a.db", "SQLite:///a.db"},
    {"sqlite:///my%20file.db", "sqlite", "my file.db", "sqlite:///my%20file.db"},
    {"sqlite:///a.db?mode=ro&busy_timeout=100", "sqlite", "a.db",
     "sqlite:///a.db?mode=ro&busy_timeout=100"},
    {"sqlite:///a.db?journal_mode=delete&timeout=2.5", "sqlite", "a.db", NULL},
    {"postgresql://scott:tiger@db.example:5432/shop", "postgresql", "shop",
     "postgresql://scott:***@db.example:5432/shop"},
    {"postgres://db.example/shop", "postgresql", "shop", "postgres://db.example/shop"},
    {"postgresql+libpq://u@h/d", "postgresql", "d", "postgresql+libpq://u@h/d"},
    {"postgresql://h1:5432,h2:5433/d?target_session_attrs=read-write", "postgresql", "d", NULL},
    {"postgresql:///d?host=/var/run/postgresql", "postgresql", "d", NULL},
    {"postgresql://[::1]:5432/d", "postgresql", "d", NULL},
    {"postgresql://", "postgresql", NULL, "postgresql://"},
    {"postgresql://u:p%40ss@h/d?sslmode=require&password=other", "postgresql", "d",
     "postgresql://u:***@h/d?sslmode=require&password=***"},
    {"postgresql://h/d?connect_timeout=3&application_name=shop", "postgresql", "d", NULL},
};

START_TEST(url_valid_forms)
{
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        strata_url *u = NULL;
        int rc = strata_url_parse(&u, valid[i].url);
        ck_assert_msg(rc == STRATA_OK, "%s: %s", valid[i].url, strata_url_errmsg(u));
        ck_assert_str_eq(strata_url_backend(u), valid[i].backend);
        if (valid[i].database)
            ck_assert_str_eq(strata_url_database(u), valid[i].database);
        else
            ck_assert_ptr_null(strata_url_database(u));
        if (valid[i].redacted)
            ck_assert_str_eq(strata_url_redacted(u), valid[i].redacted);
        ck_assert_str_eq(strata_url_errmsg(u), "");
        strata_url_free(u);
    }
}
END_TEST

START_TEST(url_params_decoded)
{
    strata_url *u = NULL;
    ck_assert_int_eq(strata_url_parse(&u, "sqlite:///a.db?mode=ro&busy_timeout=250"), STRATA_OK);
    ck_assert_str_eq(strata_url_param(u, "mode"), "ro");
    ck_assert_str_eq(strata_url_param(u, "busy_timeout"), "250");
    ck_assert_ptr_null(strata_url_param(u, "journal_mode"));
    strata_url_free(u);
    ck_assert_int_eq(strata_url_parse(&u, "postgresql://h/d?application_name=a%20b"), STRATA_OK);
    ck_assert_str_eq(strata_url_param(u, "application_name"), "a b");
    strata_url_free(u);
}
END_TEST

static const struct {
    const char *url, *fragment;
} invalid[] = {
    {"", "empty"},
    {"mysql://h/db",
     "unknown scheme \"mysql\" (supported schemes: sqlite, postgresql (alias postgres))"},
    {"sqlite:app.db", "must be followed by \"//\""},
    {"app.db", "does not start with a scheme"},
    {"postgresql+psycopg2://h/db", "driver \"psycopg2\" is not available for postgresql"},
    {"sqlite://host/x.db", "sqlite URLs have no host"},
    {"postgresql://h:abc/db", "port \"abc\" is not a number"},
    {"postgresql://h:99999/db", "port \"99999\" is out of range"},
    {"postgresql://h1:5432,h2:x/db", "port \"x\" is not a number"},
    {"postgresql://[::1/db", "lacks its closing ']'"},
    {"sqlite:///a.db?foo=1", "unknown query parameter \"foo\" for sqlite URLs (known: mode,"},
    {"sqlite:///a.db?mode", "query parameter \"mode\" has no value"},
    {"sqlite:///a.db?=1", "empty name"},
    {"sqlite:///a.db?mode=ro&mode=rw", "\"mode\" is given twice"},
    {"sqlite:///a%zz.db", "bad percent-escape \"%zz\" in the path"},
    {"postgresql://h/db#frag", "no \"#fragment\""},
    {"postgresql://u:s3cret@h:bad/db", "port \"bad\""},
};

START_TEST(url_invalid_forms)
{
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        strata_url *u = NULL;
        int rc = strata_url_parse(&u, invalid[i].url);
        ck_assert_msg(rc == STRATA_E_URL, "%s parsed: %s", invalid[i].url, strata_errname(rc));
        const char *msg = strata_url_errmsg(u);
        ck_assert_msg(strstr(msg, invalid[i].fragment), "%s: message \"%s\" lacks \"%s\"",
                      invalid[i].url, msg, invalid[i].fragment);
        ck_assert_msg(strstr(msg, "invalid database URL"), "%s", msg);
        ck_assert_msg(!strstr(msg, "s3cret"), "password in message: %s", msg);
        ck_assert_ptr_null(strata_url_backend(u));
        strata_url_free(u);
    }
    /* strata_db_open reports the same, on the handle. */
    strata_db *db = NULL;
    ck_assert_int_eq(strata_db_open(&db, "oracle://scott:s3cret@h/db"), STRATA_E_URL);
    ck_assert_int_eq(strata_db_errcode(db), STRATA_E_URL);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "unknown scheme \"oracle\""));
    ck_assert_ptr_null(strstr(strata_db_errmsg(db), "s3cret"));
    strata_db_close(db);
}
END_TEST

START_TEST(url_redact_free_text)
{
    char *r = strata_url_redact("postgresql://u:pw@h/d?password=x&sslmode=require");
    ck_assert_str_eq(r, "postgresql://u:***@h/d?password=***&sslmode=require");
    strata_free(r);
    r = strata_url_redact("host=h password='a b' user=u");
    ck_assert_str_eq(r, "host=h password=*** user=u");
    strata_free(r);
    r = strata_url_redact("sqlite:///app.db");
    ck_assert_str_eq(r, "sqlite:///app.db");
    strata_free(r);
}
END_TEST

/* The engine's own URL opens under every spelling of its scheme. */
START_TEST(url_aliases_open)
{
    const char *u = th_url();
    const char *rest = strstr(u, "://");
    ck_assert_ptr_nonnull(rest);
    const char *const *spellings;
    static const char *const sqlite_s[] = {"sqlite", "sqlite+sqlite3", "SQLITE", NULL};
    static const char *const pg_s[] = {"postgresql", "postgres", "postgresql+libpq", NULL};
    spellings = th_is_pg() ? pg_s : sqlite_s;
    for (size_t i = 0; spellings[i]; i++) {
        char buf[1200];
        snprintf(buf, sizeof buf, "%s%s", spellings[i], rest);
        strata_db *db = th_open_url(buf);
        ck_assert_str_eq(strata_db_backend(db), th_is_pg() ? "postgresql" : "sqlite");
        ck_assert_int_eq(th_int(db, "SELECT 40 + 2"), 42);
        strata_db_close(db);
    }
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    (void)e;
    tcase_add_test(tc, url_valid_forms);
    tcase_add_test(tc, url_params_decoded);
    tcase_add_test(tc, url_invalid_forms);
    tcase_add_test(tc, url_redact_free_text);
    tcase_add_test(tc, url_aliases_open);
}

static Suite *build(void) { return th_suite("url", add); }

int main(void) { return th_run(build); }
