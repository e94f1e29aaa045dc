/*
 * test_url.c - the URL table: valid forms parse to the right backend,
 * database and redacted text; invalid forms give STRATA_E_URL with a
 * message naming the wrong part and never the password; the engine's own
 * URL opens under its aliases and driver suffixes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "harness.h"
#include "strata/sys/driver.h"

#ifdef STRATA_WITH_LIBPQ
#include <libpq-fe.h>
#endif

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
    /* Python services' spellings of the same libpq connection. */
    {"postgresql+psycopg2://scott:tiger@h/d", "postgresql", "d",
     "postgresql+psycopg2://scott:***@h/d"},
    {"postgresql+psycopg://u@h/d", "postgresql", "d", "postgresql+psycopg://u@h/d"},
    {"sqlite+pysqlite:///a.db", "sqlite", "a.db", "sqlite+pysqlite:///a.db"},
    /* The user-info ends at the first '@' before the first '/', as libpq
     * reads it: '#' and '?' belong to the password there. */
    {"postgresql://app:S3cr#tPw@db.internal/app", "postgresql", "app",
     "postgresql://app:***@db.internal/app"},
    {"postgresql://app:S3cr?tPw@db.internal/app", "postgresql", "app",
     "postgresql://app:***@db.internal/app"},
    {"postgresql://u:apples%2Foranges@h/d", "postgresql", "d", "postgresql://u:***@h/d"},
    /* A value ends at the next '&' only; keys are compared decoded. */
    {"postgresql://h/d?password=S3cr;tPw&sslmode=require", "postgresql", "d",
     "postgresql://h/d?password=***&sslmode=require"},
    {"postgresql://h/d?pass%77ord=S3cr%20tPw", "postgresql", "d",
     "postgresql://h/d?pass%77ord=***"},
    {"postgresql://h/d?sslpassword=k3yPw&sslkey=/k.pem", "postgresql", "d",
     "postgresql://h/d?sslpassword=***&sslkey=/k.pem"},
    /* An empty port is the default port, as in libpq. */
    {"postgres://h:/d", "postgresql", "d", "postgres://h:/d"},
    {"postgresql://h1:,h2:5433/d", "postgresql", "d", NULL},
    /* '@' is an ordinary character in a file name. */
    {"sqlite:////usr/local/_xtest@example.com.db", "sqlite", "/usr/local/_xtest@example.com.db",
     "sqlite:////usr/local/_xtest@example.com.db"},
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
    {"postgresql+asyncpg://h/db", "driver \"asyncpg\" is not available for postgresql"},
    {"sqlite://host/x.db", "sqlite URLs have no host or user (\"host\")"},
    {"sqlite://:memory:", "a database in memory is sqlite:// or sqlite:///:memory:"},
    {"sqlite://:memory:/", "a database in memory is sqlite:// or sqlite:///:memory:"},
    {"sqlite://:memory:?mode=ro", "a database in memory is sqlite:// or sqlite:///:memory:"},
    {"sqlite://:memory:/x.db", "sqlite URLs have no host or user"},
    {"sqlite://app:s3cret@localhost/app.db",
     "sqlite URLs have no host or user (\"app:***@localhost\")"},
    {"postgresql://h:abc/db", "the port of host \"h\" is not a number"},
    {"postgresql://h:99999/db", "port \"99999\" is out of range"},
    {"postgresql://h:0/db", "port \"0\" is out of range"},
    {"postgresql://h1:5432,h2:x/db", "the port of host \"h2\" is not a number"},
    {"postgresql://[::1/db", "lacks its closing \"]\""},
    {"postgresql://[]/db", "is empty"},
    {"postgresql://[::1]z/db", "unexpected text after IPv6 host \"[::1]\""},
    {"sqlite:///a.db?foo=1", "unknown query parameter \"foo\" for sqlite URLs (known: mode,"},
    {"sqlite:///a.db?mode", "query parameter \"mode\" has no value"},
    {"sqlite:///a.db?=1", "empty name"},
    {"sqlite:///a.db?mode=ro&mode=rw", "\"mode\" is given twice"},
    {"sqlite:///a%zz.db", "bad percent-escape \"%zz\" in the path"},
    {"postgresql://h/db?key=key=value", "holds a second \"=\""},
    {"postgresql://a%00b/db", "the host name holds %00"},
    {"postgresql://u:s3cret@h:bad/db", "the port of host \"h\""},
    {"postgresql://u:s3cr%zzet@h/db", "bad percent-escape in the password"},
    {"postgresql://u:s3cr%00et@h/db", "the password holds %00"},
    /* Passwords holding '@' or '/' unencoded: libpq would read part of
     * them as a host, port or database name. */
    {"postgresql://app:s3cret@tPw@db/app", "the host part holds a second \"@\""},
    {"postgresql://app:s3cret/x@db/app", "the port of host \"app\" is not a number"},
    {"postgresql://app:5432/s3cret@db/app", "the database name holds \"@\""},
    {"postgresql://h/d?password=s3c=ret", "holds a second \"=\""},
    {"postgresql:app:s3cret@h/app", "must be followed by \"//\""},
    {"postgresql://h?password=s3c@ret/db", "the user name holds \"?\""},
    {"postgresql://app:?password=s3c@ret", "the password holds \"?...=\""},
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
        ck_assert_msg(!strstr(msg, "s3c"), "password in message: %s", msg);
        ck_assert_msg(!strstr(strata_url_redacted(u), "s3c"), "password in redacted URL: %s",
                      strata_url_redacted(u));
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
    /* Malformed text gets the cautious reading: up to the last '@'. */
    r = strata_url_redact("postgresql://u:p@ss@h/d");
    ck_assert_str_eq(r, "postgresql://u:***@h/d");
    strata_free(r);
    r = strata_url_redact("postgresql://h/d?password=S3cr;tPw");
    ck_assert_str_eq(r, "postgresql://h/d?password=***");
    strata_free(r);
    r = strata_url_redact("postgresql://h:x/d?password=S3cr&tPw=1");
    ck_assert_str_eq(r, "postgresql://h:***/d?password=***"); /* a port not a number too */
    strata_free(r);
    r = strata_url_redact("postgresql://app:S3crtPw/d");
    ck_assert_str_eq(r, "postgresql://app:***/d");
    strata_free(r);
    /* Two URLs in one text: the second's password is hidden too, whether
     * the first is valid or not. */
    r = strata_url_redact("postgresql://a@db/app , postgresql://b:S3crtPw@db/app");
    ck_assert_str_eq(r, "postgresql://a@db/app , postgresql://b:***@db/app");
    strata_free(r);
    r = strata_url_redact("sqlite:///a.db then postgresql://b:S3cr@t/Pw@db/app x@y");
    ck_assert_str_eq(r, "sqlite:///a.db then postgresql://b:***@db/app x@y");
    strata_free(r);
    r = strata_url_redact("from postgresql://a:S3crtPw@db/app to postgresql://b:S3crt2@db/app");
    ck_assert_str_eq(r, "from postgresql:***@db/app");
    strata_free(r);
    r = strata_url_redact("note: password = S3cr;tPw, then");
    ck_assert_str_eq(r, "note: password = ***"); /* not key=value text: the rest goes too */
    strata_free(r);
    r = strata_url_redact("host=h password='{3cret host=h password='a b\\'s3cret' }' user=u");
    ck_assert_str_eq(r, "host=h password=***");
    strata_free(r);
}
END_TEST

/* libpq's own URI regression list, as data: each input and whether libpq
 * accepts it.  strata must agree: it hands these URLs to libpq, so a URL
 * one accepts and the other refuses is a trap.  `parse` says whether
 * strata's reader accepts it: the same, since it asks libpq for its list
 * of parameter names. */
static const struct {
    const char *uri;
    bool libpq, parse;
} libpq_uris[] = {
    {"postgresql://uri-user:secret@host:12345/db", true, true},
    {"postgresql://uri-user@host:12345/db", true, true},
    {"postgresql://uri-user@host/db", true, true},
    {"postgresql://host:12345/db", true, true},
    {"postgresql://host/db", true, true},
    {"postgresql://uri-user@host:12345/", true, true},
    {"postgresql://uri-user@host/", true, true},
    {"postgresql://uri-user@", true, true},
    {"postgresql://host:12345/", true, true},
    {"postgresql://host:12345", true, true},
    {"postgresql://host/db", true, true},
    {"postgresql://host/", true, true},
    {"postgresql://host", true, true},
    {"postgresql://", true, true},
    {"postgresql://?hostaddr=127.0.0.1", true, true},
    {"postgresql://example.com?hostaddr=63.1.2.4", true, true},
    {"postgresql://%68ost/", true, true},
    {"postgresql://host/db?user=uri-user", true, true},
    {"postgresql://host/db?user=uri-user&port=12345", true, true},
    {"postgresql://host/db?u%73er=someotheruser&port=12345", true, true},
    {"postgresql://host/db?u%7aer=someotheruser&port=12345", false, false},
    {"postgresql://host:12345?user=uri-user", true, true},
    {"postgresql://host?user=uri-user", true, true},
    {"postgresql://host?", true, true},
    {"postgresql://[::1]:12345/db", true, true},
    {"postgresql://[::1]/db", true, true},
    {"postgresql://[2001:db8::1234]/", true, true},
    {"postgresql://[200z:db8::1234]/", true, true},
    {"postgresql://[::1]", true, true},
    {"postgres://", true, true},
    {"postgres:///", true, true},
    {"postgres:///db", true, true},
    {"postgres://uri-user@/db", true, true},
    {"postgres://?host=/path/to/socket/dir", true, true},
    {"postgresql://host?uzer=", false, false},
    {"postgre://", false, false},
    {"postgres://[::1", false, false},
    {"postgres://[]", false, false},
    {"postgres://[::1]z", false, false},
    {"postgresql://host?zzz", false, false},
    {"postgresql://host?value1&value2", false, false},
    {"postgresql://host?key=key=value", false, false},
    {"postgres://host?dbname=%XXfoo", false, false},
    {"postgresql://a%00b", false, false},
    {"postgresql://%zz", false, false},
    {"postgresql://%1", false, false},
    {"postgresql://%", false, false},
    {"postgres://@host", true, true},
    {"postgres://host:/", true, true},
    {"postgres://:12345/", true, true},
    {"postgres://otheruser@?host=/no/such/directory", true, true},
    {"postgres://otheruser@/?host=/no/such/directory", true, true},
    {"postgres://otheruser@:12345?host=/no/such/socket/path", true, true},
    {"postgres://otheruser@:12345/db?host=/path/to/socket", true, true},
    {"postgres://:12345/db?host=/path/to/socket", true, true},
    {"postgres://:12345?host=/path/to/socket", true, true},
    {"postgres://%2Fvar%2Flib%2Fpostgresql/dbname", true, true},
    {"postgresql://host?sslmode=disable", true, true},
    {"postgresql://host?sslmode=prefer", true, true},
    {"postgresql://host?sslmode=verify-full", true, true},
};

START_TEST(url_libpq_uri_list)
{
    for (size_t i = 0; i < sizeof libpq_uris / sizeof libpq_uris[0]; i++) {
        const char *uri = libpq_uris[i].uri;
        strata_url *u = NULL;
        int rc = strata_url_parse(&u, uri);
        ck_assert_msg((rc == STRATA_OK) == libpq_uris[i].parse, "%s: %s (%s)", uri,
                      strata_errname(rc), strata_url_errmsg(u));
        if (rc != STRATA_OK)
            ck_assert_ptr_nonnull(strstr(strata_url_errmsg(u), "invalid database URL"));
#ifdef STRATA_WITH_LIBPQ
        /* The data agree with the libpq this build links... */
        char *err = NULL;
        PQconninfoOption *o = PQconninfoParse(uri, &err);
        ck_assert_msg((o != NULL) == libpq_uris[i].libpq, "libpq now %s %s: %s",
                      o ? "accepts" : "refuses", uri, err ? err : "");
        PQconninfoFree(o);
        PQfreemem(err);
        /* ...and strata hands libpq what libpq accepts, and only that. */
        if (rc == STRATA_OK) {
            o = PQconninfoParse(strata_driver_url_target(u), &err);
            ck_assert_msg((o != NULL) == libpq_uris[i].libpq, "%s", uri);
            PQconninfoFree(o);
            PQfreemem(err);
        }
#endif
        strata_url_free(u);
    }
}
END_TEST

/* SQLAlchemy's URL forms, where they apply to sqlite:// and postgresql://:
 * the same parts come out. */
static const struct {
    const char *url, *database, *redacted;
} sqlalchemy_forms[] = {
    {"postgresql://username:password@hostspec:110//usr/db_file.db", "/usr/db_file.db",
     "postgresql://username:***@hostspec:110//usr/db_file.db"},
    {"postgresql://username:password@hostspec/database", "database",
     "postgresql://username:***@hostspec/database"},
    {"postgresql://username:password@hostspec", NULL, "postgresql://username:***@hostspec"},
    {"postgresql://username:password@/database", "database",
     "postgresql://username:***@/database"},
    {"postgresql://username@hostspec", NULL, "postgresql://username@hostspec"},
    {"postgresql://username:password@127.0.0.1:1521", NULL,
     "postgresql://username:***@127.0.0.1:1521"},
    {"postgresql://hostspec/database", "database", "postgresql://hostspec/database"},
    {"postgresql://hostspec", NULL, "postgresql://hostspec"},
    {"postgresql:///database", "database", "postgresql:///database"},
    {"postgresql://username:password@[2001:da8:2004:1000:202:116:160:90]:80/database"
     "?sslmode=require",
     "database",
     "postgresql://username:***@[2001:da8:2004:1000:202:116:160:90]:80/database?sslmode=require"},
    {"postgresql://username:apples%2Foranges@hostspec/database", "database",
     "postgresql://username:***@hostspec/database"},
    {"postgresql://username:apples%40oranges%40%40@hostspec/database", "database",
     "postgresql://username:***@hostspec/database"},
    {"postgresql://username%40:@hostspec/database", "database",
     "postgresql://username%40:@hostspec/database"},
    {"postgresql://username:password@hostspec/test database with@atsign",
     "test database with@atsign", "postgresql://username:***@hostspec/test database with@atsign"},
    {"postgresql://username:password@hostspec?application_name=but_no_db", NULL,
     "postgresql://username:***@hostspec?application_name=but_no_db"},
    {"postgresql+psycopg2://scott:tiger@localhost/test", "test",
     "postgresql+psycopg2://scott:***@localhost/test"},
    {"sqlite://", ":memory:", "sqlite://"},
    {"sqlite:///:memory:", ":memory:", "sqlite:///:memory:"},
    {"sqlite:///foo.db", "foo.db", "sqlite:///foo.db"},
    {"sqlite:////usr/local/_xtest@example.com.db", "/usr/local/_xtest@example.com.db",
     "sqlite:////usr/local/_xtest@example.com.db"},
    {"sqlite:///path to/a file.db", "path to/a file.db", "sqlite:///path to/a file.db"},
};

START_TEST(url_sqlalchemy_forms)
{
    for (size_t i = 0; i < sizeof sqlalchemy_forms / sizeof sqlalchemy_forms[0]; i++) {
        strata_url *u = NULL;
        int rc = strata_url_parse(&u, sqlalchemy_forms[i].url);
        ck_assert_msg(rc == STRATA_OK, "%s: %s", sqlalchemy_forms[i].url, strata_url_errmsg(u));
        if (sqlalchemy_forms[i].database)
            ck_assert_str_eq(strata_url_database(u), sqlalchemy_forms[i].database);
        else
            ck_assert_ptr_null(strata_url_database(u));
        ck_assert_str_eq(strata_url_redacted(u), sqlalchemy_forms[i].redacted);
        strata_url_free(u);
    }
}
END_TEST

/* The engine's own URL opens under every spelling of its scheme. */
START_TEST(url_aliases_open)
{
    const char *u = th_url();
    const char *rest = strstr(u, "://");
    ck_assert_ptr_nonnull(rest);
    const char *const *spellings;
    static const char *const sqlite_s[] = {"sqlite", "sqlite+sqlite3", "sqlite+pysqlite", "SQLITE",
                                           NULL};
    static const char *const pg_s[] = {"postgresql",         "postgres",
                                       "postgresql+libpq",   "postgresql+psycopg2",
                                       "postgresql+psycopg", NULL};
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
    tcase_add_test(tc, url_libpq_uri_list);
    tcase_add_test(tc, url_sqlalchemy_forms);
    tcase_add_test(tc, url_aliases_open);
}

static Suite *build(void) { return th_suite("url", add); }

int main(void) { return th_run(build); }
