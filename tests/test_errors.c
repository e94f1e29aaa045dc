/*
 * test_errors.c - the same faulty statement gives the same portable code
 * and SQLSTATE on every engine, for every class both engines can produce;
 * the code table's names and descriptions; errors clear on success.
 */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "harness.h"

static void schema(strata_db *db)
{
    th_exec(db, "CREATE TABLE parent (id INTEGER PRIMARY KEY, name VARCHAR(10) NOT NULL UNIQUE, "
                "qty INTEGER CHECK (qty >= 0))");
    th_exec(db, "CREATE TABLE child (id INTEGER PRIMARY KEY, "
                "parent_id INTEGER NOT NULL REFERENCES parent (id))");
    th_exec(db, "INSERT INTO parent (id, name, qty) VALUES (1, 'one', 1)");
}

/* Run `sql` through prepare+step and expect `code` and `state`. */
static void expect(strata_db *db, const char *sql, int code, const char *state)
{
    strata_stmt *st = NULL;
    int rc = strata_stmt_prepare(&st, db, sql);
    if (rc == STRATA_OK) {
        rc = strata_stmt_step(st);
        strata_stmt_finalize(st);
    }
    ck_assert_msg(rc == code, "%s: got %s (%s), want %s", sql, strata_errname(rc),
                  strata_db_errmsg(db), strata_errname(code));
    ck_assert_int_eq(strata_db_errcode(db), code);
    ck_assert_msg(strcmp(strata_db_sqlstate(db), state) == 0, "%s: SQLSTATE %s, want %s", sql,
                  strata_db_sqlstate(db), state);
    ck_assert_msg(strlen(strata_db_errmsg(db)) > 0, "%s: empty message", sql);
    /* And the same through exec. */
    rc = strata_db_exec(db, sql);
    ck_assert_msg(rc == code, "exec %s: got %s", sql, strata_errname(rc));
}

START_TEST(errors_constraints)
{
    strata_db *db = th_open();
    schema(db);
    expect(db, "INSERT INTO parent (id, name, qty) VALUES (2, 'one', 1)", STRATA_E_UNIQUE, "23505");
    expect(db, "INSERT INTO parent (id, name, qty) VALUES (1, 'other', 1)", STRATA_E_UNIQUE,
           "23505");
    expect(db, "INSERT INTO child (id, parent_id) VALUES (1, 999)", STRATA_E_FOREIGN_KEY, "23503");
    expect(db, "INSERT INTO parent (id, name, qty) VALUES (3, NULL, 1)", STRATA_E_NOT_NULL,
           "23502");
    expect(db, "INSERT INTO parent (id, name, qty) VALUES (4, 'four', -1)", STRATA_E_CHECK,
           "23514");
    th_exec(db, "INSERT INTO child (id, parent_id) VALUES (1, 1)");
    expect(db, "DELETE FROM parent WHERE id = 1", STRATA_E_FOREIGN_KEY, "23503");
    /* Nothing of the failed statements was written. */
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM parent"), 1);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM child"), 1);
    strata_db_close(db);
}
END_TEST

/* The system's full disk, as SQLite's own file layer meets it: its
 * ftruncate fails with ENOSPC while `enospc` is set. */
static bool enospc;
static sqlite3_syscall_ptr real_ftruncate;

static int full_ftruncate(int fd, off_t size)
{
    if (enospc) {
        errno = ENOSPC;
        return -1;
    }
    return ((int (*)(int, off_t))real_ftruncate)(fd, size);
}

/* A COMMIT that cannot truncate its journal (SQLite keeps no system code
 * for it) and a WAL file whose -shm cannot be made: STRATA_E_DISK_FULL,
 * naming the file, the transaction not kept, the connection usable. */
static void system_disk_full(void)
{
    sqlite3_vfs *vfs = sqlite3_vfs_find(NULL);
    real_ftruncate = vfs->xGetSystemCall(vfs, "ftruncate");
    ck_assert_int_eq(vfs->xSetSystemCall(vfs, "ftruncate", (sqlite3_syscall_ptr)full_ftruncate),
                     SQLITE_OK);
    char url[PATH_MAX + 64];
    snprintf(url, sizeof url, "sqlite:///%s/full.db?journal_mode=truncate", th_tmpdir());
    strata_db *db = th_open_url(url);
    th_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY)");
    th_rc(db, strata_db_begin(db), STRATA_OK);
    th_exec(db, "INSERT INTO t (id) VALUES (1)");
    enospc = true;
    int rc = strata_db_commit(db);
    enospc = false;
    const char *msg = strata_db_errmsg(db);
    ck_assert_msg(rc == STRATA_E_DISK_FULL, "%s: %s", strata_errname(rc), msg);
    ck_assert_str_eq(strata_db_sqlstate(db), "53100");
    ck_assert_msg(strstr(msg, "no space left on the device") && strstr(msg, "full.db"), "%s", msg);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 0);
    th_exec(db, "INSERT INTO t (id) VALUES (2)");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 1);
    strata_db_close(db);

    snprintf(url, sizeof url, "sqlite:///%s/full-wal.db?journal_mode=wal", th_tmpdir());
    db = th_open_url(url);
    th_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY)");
    strata_db_close(db);
    enospc = true;
    rc = strata_db_open(&db, url);
    if (rc == STRATA_OK)
        rc = strata_db_exec(db, "SELECT count(*) FROM t");
    enospc = false;
    msg = strata_db_errmsg(db);
    ck_assert_msg(rc == STRATA_E_DISK_FULL, "%s: %s", strata_errname(rc), msg);
    ck_assert_msg(strstr(msg, "no space left on the device") && strstr(msg, "full-wal.db"), "%s",
                  msg);
    strata_db_close(db);
    ck_assert_int_eq(vfs->xSetSystemCall(vfs, "ftruncate", real_ftruncate), SQLITE_OK);
}

/* A full disk has a code of its own: SQLite's size limit stands in for the
 * disk, and the system's ENOSPC is met through SQLite's file layer;
 * PostgreSQL's server error is raised as the server raises it when it
 * cannot extend a file. */
START_TEST(errors_disk_full)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE big (id INTEGER PRIMARY KEY, data TEXT)");
    th_exec(db, "INSERT INTO big (id, data) VALUES (1, 'small')");
    if (th_is_pg()) {
        expect(db,
               "DO $$ BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; "
               "END $$",
               STRATA_E_DISK_FULL, "53100");
    } else {
        int64_t pages = th_int(db, "PRAGMA page_count");
        char sql[100];
        snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages + 1);
        th_exec(db, sql);
        expect(db, "INSERT INTO big (id, data) VALUES (2, printf('%.200000c', 'x'))",
               STRATA_E_DISK_FULL, "53100");
        ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "full"));
        system_disk_full();
    }
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM big"), 1);
    ck_assert_str_eq(strata_errname(STRATA_E_DISK_FULL), "STRATA_E_DISK_FULL");
    strata_db_close(db);
}
END_TEST

START_TEST(errors_sql)
{
    strata_db *db = th_open();
    schema(db);
    expect(db, "SELEC 1", STRATA_E_SYNTAX, "42601");
    expect(db, "SELECT * FROM nope", STRATA_E_UNDEFINED_TABLE, "42P01");
    expect(db, "INSERT INTO nope VALUES (1)", STRATA_E_UNDEFINED_TABLE, "42P01");
    expect(db, "SELECT nope FROM parent", STRATA_E_UNDEFINED_COLUMN, "42703");
    expect(db, "INSERT INTO parent (nope) VALUES (1)", STRATA_E_UNDEFINED_COLUMN, "42703");
    expect(db, "CREATE TABLE parent (id INTEGER)", STRATA_E_EXISTS, "42P07");
    /* A blob where PostgreSQL reads a number: the server's words, not a
     * pooler's hint (SQLite keeps the blob). */
    strata_stmt *st;
    ck_assert_int_eq(strata_stmt_prepare(&st, db, "SELECT CAST(? AS BIGINT)"), STRATA_OK);
    ck_assert_int_eq(strata_stmt_bind_blob(st, 1, "abc", 3), STRATA_OK);
    int rc = strata_stmt_step(st);
    if (th_is_pg()) {
        ck_assert_msg(rc != STRATA_ROW, "read");
        ck_assert_msg(!strstr(strata_db_errmsg(db), "pooler"), "%s", strata_db_errmsg(db));
    } else {
        ck_assert_int_eq(rc, STRATA_ROW);
    }
    strata_stmt_finalize(st);
    /* Success clears the handle's error. */
    ck_assert_int_eq(th_int(db, "SELECT 1"), 1);
    ck_assert_int_eq(strata_db_errcode(db), STRATA_OK);
    ck_assert_str_eq(strata_db_errmsg(db), "");
    ck_assert_str_eq(strata_db_sqlstate(db), "");
    strata_db_close(db);
}
END_TEST

/* One connection holds a write lock; another's UPDATE times out. */
START_TEST(errors_lock_timeout)
{
    strata_db *a = th_open();
    schema(a);
    strata_db *b = th_open_url(th_is_pg() ? th_url() : th_url_with("busy_timeout=100"));
    th_rc(a, strata_db_begin(a), STRATA_OK);
    th_exec(a, "UPDATE parent SET qty = 2 WHERE id = 1");
    if (th_is_pg()) { /* per transaction: behind a pooler a session's SET is lost */
        th_rc(b, strata_db_begin(b), STRATA_OK);
        th_exec(b, "SET LOCAL lock_timeout = '100ms'");
    }
    int rc = strata_db_exec(b, "UPDATE parent SET qty = 3 WHERE id = 1");
    th_rc(b, rc, STRATA_E_BUSY);
    ck_assert_str_eq(strata_db_sqlstate(b), "55P03");
    if (th_is_pg())
        th_rc(b, strata_db_rollback(b), STRATA_OK);
    th_rc(a, strata_db_commit(a), STRATA_OK);
    ck_assert_int_eq(th_int(b, "SELECT qty FROM parent WHERE id = 1"), 2);
    strata_db_close(b);
    strata_db_close(a);
}
END_TEST

/* A transaction writes over a row another committed since it looked. */
START_TEST(errors_serialization)
{
    strata_db *a = th_open();
    schema(a);
    strata_db *b = th_open();
    th_rc(a, strata_db_begin(a), STRATA_OK);
    if (th_is_pg())
        th_exec(a, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    ck_assert_int_eq(th_int(a, "SELECT qty FROM parent WHERE id = 1"), 1);
    th_exec(b, "UPDATE parent SET qty = 5 WHERE id = 1");
    int rc = strata_db_exec(a, "UPDATE parent SET qty = 6 WHERE id = 1");
    th_rc(a, rc, STRATA_E_SERIALIZATION);
    ck_assert_str_eq(strata_db_sqlstate(a), "40001");
    th_rc(a, strata_db_rollback(a), STRATA_OK);
    ck_assert_int_eq(th_int(a, "SELECT qty FROM parent WHERE id = 1"), 5);
    strata_db_close(b);
    strata_db_close(a);
}
END_TEST

/* The server ends the session: the next statement reports the loss. */
START_TEST(errors_connection_lost)
{
    strata_db *a = th_open();
    strata_db *b = th_open();
    int64_t pid = th_int(a, "SELECT pg_backend_pid()");
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)pid);
    ck_assert_int_eq(th_int(b, sql), 1);
    strata_stmt *st = NULL;
    int rc = strata_stmt_prepare(&st, a, "SELECT 1");
    if (rc == STRATA_OK) {
        rc = strata_stmt_step(st);
        strata_stmt_finalize(st);
    }
    th_rc(a, rc, STRATA_E_CONNECTION_LOST);
    strata_db_close(a);
    strata_db_close(b);
}
END_TEST

START_TEST(errors_table)
{
    ck_assert_str_eq(strata_errname(STRATA_OK), "STRATA_OK");
    ck_assert_str_eq(strata_errname(STRATA_E_UNIQUE), "STRATA_E_UNIQUE");
    ck_assert_str_eq(strata_errname(99999), "STRATA_UNKNOWN");
    ck_assert_str_eq(strata_errstr(STRATA_E_FOREIGN_KEY), "foreign key constraint violated");
    ck_assert(!strata_is_error(STRATA_ROW) && !strata_is_error(STRATA_NULL));
    ck_assert(strata_is_error(STRATA_E_MISUSE));
    /* Codes are stable numbers: documented values must not move. */
    ck_assert_int_eq(STRATA_E_UNIQUE, 110);
    ck_assert_int_eq(STRATA_E_NOT_FOUND, 126);
    ck_assert_int_eq(STRATA_E_SCHEMA, 127);
    ck_assert_int_eq(STRATA_E_MULTIPLE, 128);
    /* Every code has a distinct name. */
    static const int codes[] = {
#define X(name, num, desc) num,
        STRATA_RESULT_TABLE(X)
#undef X
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            ck_assert_str_ne(strata_errname(codes[i]), strata_errname(codes[j]));
    /* Misuse never crashes. */
    ck_assert_int_eq(strata_db_exec(NULL, "SELECT 1"), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_stmt_step(NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_db_begin(NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_db_open(NULL, "sqlite://"), STRATA_E_MISUSE);
    strata_db *db = th_open();
    ck_assert_int_eq(strata_db_exec(db, NULL), STRATA_E_MISUSE);
    strata_stmt *st;
    ck_assert_int_eq(strata_stmt_prepare(&st, db, NULL), STRATA_E_MISUSE);
    strata_db_close(db);
}
END_TEST

/* A failed connection keeps the server's SQLSTATE, so a program can tell
 * "server full" from "no such database" without reading text; statement
 * names are unique to the connection (a pooler may give one server
 * connection to many clients), and the server's errors about prepared
 * statements have a code of their own. */
START_TEST(errors_server_states)
{
    strata_db *db = th_open();
    th_exec(db, "DROP ROLE IF EXISTS strata_full_role");
    th_exec(db, "CREATE ROLE strata_full_role LOGIN CONNECTION LIMIT 0");
    const char *base = th_pg_url(); /* postgresql://USER@HOST:PORT/DB... */
    const char *at = strchr(strstr(base, "://") + 3, '@');
    const char *slash = strchr(at, '/');
    ck_assert_ptr_nonnull(slash);
    char hostport[300], url[600];
    snprintf(hostport, sizeof hostport, "%.*s", (int)(slash - at - 1), at + 1);
    static const struct {
        const char *user, *db, *params;
        int code;
        const char *state;
    } cases[] = {
        {"strata_full_role", "postgres", "", STRATA_E_TOO_MANY_CONNECTIONS, "53300"},
        {"strata_full_role", "postgres", "?connect_timeout=10", STRATA_E_TOO_MANY_CONNECTIONS,
         "53300"},
        {"postgres", "strata_no_such_db", "", STRATA_E_CONNECT, "3D000"},
        {"strata_no_such_role", "postgres", "", STRATA_E_CONNECT, "28000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(url, sizeof url, "postgresql://%s@%s/%s%s", cases[i].user, hostport, cases[i].db,
                 cases[i].params);
        strata_db *bad = NULL;
        int rc = strata_db_open(&bad, url);
        ck_assert_msg(rc == cases[i].code, "%s: %s: %s", url, strata_errname(rc),
                      strata_db_errmsg(bad));
        ck_assert_str_eq(strata_db_sqlstate(bad), cases[i].state);
        ck_assert_ptr_null(strstr(strata_db_errmsg(bad), "LOCATION"));
        strata_db_close(bad);
    }
    th_exec(db, "DROP ROLE strata_full_role");
    /* A connection's loss relayed as an ERROR from another server
     * (postgres_fdw, dblink) is not this connection's: it goes on. */
    for (int i = 0; i < 3; i++) {
        static const char *const relayed[] = {"08001", "08006", "57P01"};
        char sql[160];
        snprintf(sql, sizeof sql,
                 "DO $$BEGIN RAISE EXCEPTION 'the remote server went away' USING ERRCODE = "
                 "'%s'; END$$",
                 relayed[i]);
        expect(db, sql, STRATA_E_ERROR, relayed[i]);
        ck_assert_int_eq(th_int(db, "SELECT 7"), 7);
    }
    expect(db, "EXECUTE strata_never_prepared", STRATA_E_PREPARED_STATEMENT, "26000");
    th_exec(db, "PREPARE strata_twice AS SELECT 1");
    expect(db, "PREPARE strata_twice AS SELECT 2", STRATA_E_PREPARED_STATEMENT, "42P05");
    /* Each connection names its statements apart from every other's. */
    strata_db *other = th_open();
    const char *names = "SELECT name FROM pg_prepared_statements WHERE statement LIKE "
                        "'SELECT 42 %' ORDER BY name";
    char mine[64] = "", theirs[64] = "";
    strata_db *dbs[2] = {db, other};
    char *out[2] = {mine, theirs};
    for (int k = 0; k < 2; k++) {
        strata_stmt *st;
        th_rc(dbs[k], strata_stmt_prepare(&st, dbs[k], "SELECT 42 AS answer"), STRATA_OK);
        th_rc(dbs[k], strata_stmt_step(st), STRATA_ROW);
        strata_stmt_finalize(st); /* stays prepared: the cache keeps it */
        th_rc(dbs[k], strata_stmt_prepare(&st, dbs[k], names), STRATA_OK);
        th_rc(dbs[k], strata_stmt_step(st), STRATA_ROW);
        const char *name;
        th_rc(dbs[k], strata_stmt_column_text(st, 0, &name, NULL), STRATA_OK);
        snprintf(out[k], 64, "%s", name);
        strata_stmt_finalize(st);
    }
    ck_assert_msg(mine[0] == 's' && strspn(mine + 1, "0123456789abcdef") == 16 && mine[17] == '_',
                  "statement name %s", mine);
    ck_assert_str_ne(mine, theirs);
    ck_assert_int_ne(strncmp(mine, theirs, 17), 0);
    strata_db_close(other);
    strata_db_close(db);
}
END_TEST

/* COPY from or to the client needs a protocol strata does not speak: it
 * is ended and refused, and the connection goes on (libpq would otherwise
 * hand out copy results forever).  SQLite has no COPY. */
START_TEST(errors_copy_is_refused)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE t (i INTEGER)");
    int want = th_is_pg() ? STRATA_E_UNSUPPORTED : STRATA_E_SYNTAX;
    th_rc(db, strata_db_exec(db, "COPY t FROM STDIN"), want);
    th_rc(db, strata_db_exec(db, "COPY (SELECT 1) TO STDOUT"), want);
    if (th_is_pg())
        ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "copy protocol"));
    ck_assert_int_eq(th_int(db, "SELECT 40 + 2"), 42);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 0);
    strata_db_close(db);
}
END_TEST

/* The core classifies every error a driver reports with code 0 through
 * the driver's classify_error slot: a copy of the engine under test whose
 * slot answers differently changes the codes programs see. */
static const strata_driver *real_driver;

static int reclassify(const char *sqlstate, int native, const char *message)
{
    int code = real_driver->classify_error(sqlstate, native, message);
    if (code == STRATA_E_SYNTAX)
        return STRATA_E_UNSUPPORTED;
    if (code == STRATA_E_UNDEFINED_TABLE)
        return STRATA_OK; /* no error code: the core takes STRATA_E_ERROR */
    return code;
}

START_TEST(errors_classified_by_the_driver)
{
    strata_db *plain = th_open();
    const strata__engine *e = strata__engine_of(strata_db_driver(plain));
    ck_assert_ptr_nonnull(e);
    real_driver = e->driver;
    /* One copy per engine: the suites run every configuration in one
     * process without fork (valgrind), and a registered row is never
     * removed. */
    static strata_driver copies[TH_ENGINES];
    static char schemes[TH_ENGINES][32];
    th_engine k = th_engine_now();
    char *scheme = schemes[k];
    snprintf(scheme, sizeof schemes[k], "cls%s", real_driver->name);
    if (!strata__engine_by_scheme(scheme)) {
        copies[k] = *real_driver;
        copies[k].name = scheme;
        copies[k].aliases = NULL;
        copies[k].classify_error = reclassify;
        strata__engine row = {&copies[k], e->dialect};
        ck_assert_int_eq(strata__engine_register(&row), STRATA_OK);
    }
    const char *rest = strstr(th_url(), "://");
    ck_assert_ptr_nonnull(rest);
    char url[1024];
    snprintf(url, sizeof url, "%s%s", scheme, rest);
    strata_db *db = th_open_url(url);
    th_rc(db, strata_db_exec(db, "SELEC 1"), STRATA_E_UNSUPPORTED);
    ck_assert_str_eq(strata_db_sqlstate(db), "42601");
    th_rc(db, strata_db_exec(db, "SELECT * FROM nope"), STRATA_E_ERROR);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "nope"));
    /* The engine itself is unchanged. */
    th_rc(plain, strata_db_exec(plain, "SELEC 1"), STRATA_E_SYNTAX);
    strata_db_close(db);
    strata_db_close(plain);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    tcase_add_test(tc, errors_classified_by_the_driver);
    tcase_add_test(tc, errors_copy_is_refused);
    tcase_add_test(tc, errors_constraints);
    tcase_add_test(tc, errors_sql);
    tcase_add_test(tc, errors_disk_full);
    tcase_add_test(tc, errors_table);
    /* Two connections to one database: not possible with a private
     * in-memory database. */
    if (e != TH_SQLITE_MEMORY) {
        tcase_add_test(tc, errors_lock_timeout);
        tcase_add_test(tc, errors_serialization);
    }
    /* Only a server can drop a connection. */
    if (e == TH_POSTGRES) {
        tcase_add_test(tc, errors_connection_lost);
        tcase_add_test(tc, errors_server_states);
    }
}

static Suite *build(void) { return th_suite("errors", add); }

int main(void) { return th_run(build); }
