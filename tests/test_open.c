/*
 * test_open.c - choosing the database: an explicit URL, DATABASE_URL, the
 * sqlite:///app.db default; connections that cannot be opened (wrong port,
 * missing file with mode=rw, bad parameters) fail with a clear message;
 * the settings that make SQLite behave like PostgreSQL are in force.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* How long, in seconds, a connection opened with `url` (a SQLite file)
 * waits for the write lock another connection holds before it gives up:
 * its busy timeout, which strata keeps itself (PRAGMA busy_timeout reads
 * 0 under strata's busy handler). */
static double lock_wait(const char *url)
{
    strata_db *holder = th_open_url(url), *waiter = th_open_url(url);
    th_rc(holder, strata_db_begin_mode(holder, STRATA_TX_WRITE), STRATA_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    th_rc(waiter, strata_db_begin_mode(waiter, STRATA_TX_WRITE), STRATA_E_BUSY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    th_rc(holder, strata_db_rollback(holder), STRATA_OK);
    strata_db_close(waiter);
    strata_db_close(holder);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

START_TEST(open_database_url_and_default)
{
    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(th_tmpdir()), 0);
    /* DATABASE_URL decides. */
    setenv("DATABASE_URL", th_url(), 1);
    strata_db *db = th_open_url(NULL);
    const char *backend = strata_db_backend(db); /* the URL's scheme */
    ck_assert_msg(!strncmp(th_url(), backend, strlen(backend)) && th_url()[strlen(backend)] == ':',
                  "backend %s for %s", backend, th_url());
    th_exec(db, "CREATE TABLE via_env (id INTEGER)");
    strata_db_close(db);
    /* Unset (or empty): sqlite:///app.db in the working directory. */
    setenv("DATABASE_URL", "", 1);
    db = th_open_url(NULL);
    ck_assert_str_eq(strata_db_backend(db), "sqlite");
    ck_assert_str_eq(strata_db_url(db), STRATA_DEFAULT_URL);
    th_exec(db, "CREATE TABLE t (id INTEGER)");
    strata_db_close(db);
    unsetenv("DATABASE_URL");
    struct stat sb;
    ck_assert_int_eq(stat("app.db", &sb), 0);
    /* A path beginning "file:" is the file of that name (as the tool that
     * makes it reads it), not a SQLite URI naming rel.db. */
    db = th_open_url("sqlite:///file:rel.db?mode=rwc");
    th_exec(db, "CREATE TABLE t (id INTEGER)");
    strata_db_close(db);
    ck_assert_int_eq(stat("file:rel.db", &sb), 0);
    ck_assert_int_ne(stat("rel.db", &sb), 0);
    ck_assert_int_eq(chdir(cwd), 0);
}
END_TEST

START_TEST(open_failures)
{
    strata_db *db = NULL;
    char u[1100];
    /* Missing file with mode=rw (and ro): not created, clear message. */
    snprintf(u, sizeof u, "sqlite:///%s/missing.db?mode=rw", th_tmpdir());
    ck_assert_int_eq(strata_db_open(&db, u), STRATA_E_CONNECT);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "missing.db"));
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "existing file"));
    strata_db_close(db);
    char path[560];
    snprintf(path, sizeof path, "%s/missing.db", th_tmpdir());
    ck_assert_int_ne(access(path, F_OK), 0);
    /* A directory that does not exist. */
    ck_assert_int_eq(strata_db_open(&db, "sqlite:////nonexistent/dir/x.db"), STRATA_E_CONNECT);
    strata_db_close(db);
    /* A file that is not a database. */
    snprintf(path, sizeof path, "%s/junk.db", th_tmpdir());
    FILE *f = fopen(path, "w");
    fputs("this is not a database, not at all, just text long enough to matter", f);
    fclose(f);
    snprintf(u, sizeof u, "sqlite:///%s", path);
    ck_assert_int_eq(strata_db_open(&db, u), STRATA_E_CONNECT);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "junk.db"));
    strata_db_close(db);
    /* Nobody listens on port 1. */
    ck_assert_int_eq(strata_db_open(&db, "postgresql://u@127.0.0.1:1/x?connect_timeout=2"),
                     STRATA_E_CONNECT);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "127.0.0.1"));
    ck_assert_str_eq(strata_db_sqlstate(db), "08001");
    /* The handle is usable only for its error. */
    ck_assert_int_eq(strata_db_exec(db, "SELECT 1"), STRATA_E_MISUSE);
    strata_db_close(db);
    /* Bad parameter values, for each backend's own parameters. */
    ck_assert_int_eq(strata_db_open(&db, "sqlite:///x.db?mode=rx"), STRATA_E_URL);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "mode=rx, expected ro, rw, rwc"));
    strata_db_close(db);
    ck_assert_int_eq(strata_db_open(&db, "sqlite:///x.db?busy_timeout=soon"), STRATA_E_URL);
    strata_db_close(db);
    /* Decimal digits only: NaN would end every wait at once. */
    static const char *const waits[] = {"busy_timeout=nan",
                                        "timeout=nan",
                                        "busy_timeout=0x10",
                                        "busy_timeout=%2012",
                                        "busy_timeout=inf",
                                        "timeout=1e3",
                                        NULL};
    for (const char *const *w = waits; *w; w++) {
        char wait_url[700];
        snprintf(wait_url, sizeof wait_url, "sqlite:///%s/waits.db?%s", th_tmpdir(), *w);
        ck_assert_msg(strata_db_open(&db, wait_url) == STRATA_E_URL, "%s", wait_url);
        strata_db_close(db);
    }
    ck_assert_int_eq(strata_db_open(&db, "postgresql://u:s3cret@h/x?bogus=1"), STRATA_E_URL);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "bogus"));
    ck_assert_ptr_null(strstr(strata_db_errmsg(db), "s3cret"));
    strata_db_close(db);
    /* The engine's own failure for this engine: a database that is not there. */
    if (th_is_pg()) {
        const char *base = th_pg_url();
        const char *slash = strrchr(base, '/');
        snprintf(u, sizeof u, "%.*s/no_such_db", (int)(slash - base), base);
        ck_assert_int_eq(strata_db_open(&db, u), STRATA_E_CONNECT);
        ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "no_such_db"));
        strata_db_close(db);
    }
}
END_TEST

/* The behaviour strata sets up so that SQLite answers as PostgreSQL does. */
START_TEST(open_same_behaviour)
{
    strata_db *db = th_open();
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT 'ABC' LIKE 'abc', 'abc' LIKE 'a%'"), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    int a, b;
    ck_assert_int_eq(strata_stmt_column_bool(st, 0, &a), STRATA_OK);
    ck_assert_int_eq(strata_stmt_column_bool(st, 1, &b), STRATA_OK);
    ck_assert_int_eq(a, 0); /* LIKE is case-sensitive */
    ck_assert_int_eq(b, 1);
    strata_stmt_finalize(st);
    /* Foreign keys are enforced (also checked in test_errors). */
    th_exec(db, "CREATE TABLE p (id INTEGER PRIMARY KEY)");
    th_exec(db, "CREATE TABLE c (p_id INTEGER REFERENCES p (id))");
    th_rc(db, strata_db_exec(db, "INSERT INTO c VALUES (1)"), STRATA_E_FOREIGN_KEY);
    /* Scripts run through exec on both engines. */
    th_exec(db, "INSERT INTO p VALUES (1); INSERT INTO p VALUES (2); INSERT INTO c VALUES (2)");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM p"), 2);
    if (th_engine_now() == TH_SQLITE_FILE) {
        th_rc(db, strata_stmt_prepare(&st, db, "PRAGMA journal_mode"), STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
        const char *mode;
        strata_stmt_column_text(st, 0, &mode, NULL);
        ck_assert_str_eq(mode, "wal");
        strata_stmt_finalize(st);
    }
    strata_db_close(db);
    if (th_engine_now() == TH_SQLITE_FILE) { /* the default busy timeout: 5 s */
        double waited = lock_wait(th_url());
        ck_assert_double_ge(waited, 4.9);
        ck_assert_double_lt(waited, 30.0);
    }
    if (th_engine_now() == TH_SQLITE_FILE) {
        double waited = lock_wait(th_url_with("busy_timeout=400&journal_mode=delete"));
        ck_assert_double_ge(waited, 0.39);
        ck_assert_double_lt(waited, 4.0); /* not the default 5 s */
    }
}
END_TEST

/* mode=ro: reads work, writes fail with STRATA_E_READONLY. */
START_TEST(open_read_only)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE t (id INTEGER)");
    th_exec(db, "INSERT INTO t VALUES (1)");
    strata_db_close(db);
    if (th_is_pg()) {
        db = th_open();
        th_exec(db, "SET default_transaction_read_only = on");
    } else {
        db = th_open_url(th_url_with("mode=ro"));
    }
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 1);
    th_rc(db, strata_db_exec(db, "INSERT INTO t VALUES (2)"), STRATA_E_READONLY);
    /* A file's own failure names the file: a program may have several. */
    if (th_engine_now() == TH_SQLITE_FILE)
        ck_assert_msg(strstr(strata_db_errmsg(db), "(database file ") &&
                          strstr(strata_db_errmsg(db), "/test.db)"),
                      "%s", strata_db_errmsg(db));
    strata_db_close(db);
}
END_TEST

/* What a read-only database gives a plain URL: reads, and STRATA_E_READONLY
 * for writes.  Returns NULL or what went wrong. */
static const char *read_only_checks(const char *url, const char *setup, const char *wal_url)
{
    static char why[600];
    strata_db *db = NULL;
    if (strata_db_open(&db, url) != STRATA_OK ||
        (setup && strata_db_exec(db, setup) != STRATA_OK)) {
        snprintf(why, sizeof why, "plain open failed: %s", strata_db_errmsg(db));
        strata_db_close(db);
        return why;
    }
    strata_stmt *st = NULL;
    int rc = strata_stmt_prepare(&st, db, "SELECT count(*) FROM t");
    if (rc == STRATA_OK)
        rc = strata_stmt_step(st);
    int64_t n = -1;
    if (rc == STRATA_ROW && strata_stmt_column_int64(st, 0, &n) != STRATA_OK)
        n = -1;
    strata_stmt_finalize(st);
    if (n != 1) {
        snprintf(why, sizeof why, "read gave %lld: %s", (long long)n, strata_db_errmsg(db));
        strata_db_close(db);
        return why;
    }
    rc = strata_db_exec(db, "INSERT INTO t VALUES (2)");
    if (rc != STRATA_E_READONLY) {
        snprintf(why, sizeof why, "write gave %s: %s", strata_errname(rc), strata_db_errmsg(db));
        strata_db_close(db);
        return why;
    }
    strata_db_close(db);
    if (!wal_url)
        return NULL;
    db = NULL;
    rc = strata_db_open(&db, wal_url);
    if (rc != STRATA_E_CONNECT || !strstr(strata_db_errmsg(db), "?mode=ro")) {
        snprintf(why, sizeof why, "journal_mode=wal gave %s: %s", strata_errname(rc),
                 strata_db_errmsg(db));
        strata_db_close(db);
        return why;
    }
    strata_db_close(db);
    return NULL;
}

/* A database the process cannot write opens with a plain URL: an SQLite
 * file of mode 0444 in a directory of mode 0555 (its journal mode is left
 * as it is: switching to WAL needs a write), or a PostgreSQL session whose
 * transactions are read-only. */
START_TEST(open_read_only_file)
{
    if (th_is_pg()) {
        strata_db *db = th_open();
        th_exec(db, "CREATE TABLE t (id INTEGER)");
        th_exec(db, "INSERT INTO t VALUES (1)");
        strata_db_close(db);
        const char *why = read_only_checks(
            th_url(), "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", NULL);
        ck_assert_msg(why == NULL, "%s", why);
        return;
    }
    char dir[600], path[700], url[800], wal[900];
    snprintf(dir, sizeof dir, "%s/ro", th_tmpdir());
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/app.db", dir);
    snprintf(url, sizeof url, "sqlite:///%s?journal_mode=delete", path);
    strata_db *db = th_open_url(url);
    th_exec(db, "CREATE TABLE t (id INTEGER)");
    th_exec(db, "INSERT INTO t VALUES (1)");
    strata_db_close(db);
    ck_assert_int_eq(chmod(path, 0444), 0);
    ck_assert_int_eq(chmod(dir, 0555), 0);
    ck_assert_int_eq(chmod(th_tmpdir(), 0755), 0);
    snprintf(url, sizeof url, "sqlite:///%s", path);
    snprintf(wal, sizeof wal, "sqlite:///%s?journal_mode=wal", path);

    /* root writes any file: run the checks as nobody then. */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        const char *why = read_only_checks(url, NULL, wal);
        if (why && write(fds[1], why, strlen(why)) < 0)
            _exit(4);
        _exit(why ? 1 : 0);
    }
    close(fds[1]);
    char why[700] = "";
    ssize_t n = read(fds[0], why, sizeof why - 1);
    why[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    chmod(dir, 0755);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit %d: %s",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1, why);
    /* Nothing changed the file: still one row, still a rollback journal. */
    db = th_open_url(url);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 1);
    strata_db_close(db);
}
END_TEST

/* SQLite's URL parameters take effect, and bad values are refused with the
 * parameter and what it expects (SQLite URLs work whatever the engine under
 * test). */
START_TEST(open_sqlite_parameters_take_effect)
{
    static const struct {
        const char *query, *msg;
    } bad[] = {
        {"timeout=-1", "parameter timeout=-1, expected seconds (a number >= 0)"},
        {"journal_mode=fast",
         "parameter journal_mode=fast, expected delete, truncate, persist, memory or wal"},
        /* ROLLBACK without a journal leaves the file malformed */
        {"journal_mode=OFF", "parameter journal_mode=OFF, expected a journal: without one SQLite "
                             "cannot roll back"},
        {"synchronous=sometimes", "parameter synchronous=sometimes, expected off, normal, full "
                                  "or extra"},
        {"cache=public", "parameter cache=public, expected shared or private"},
    };
    char url[900];
    strata_db *db;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(url, sizeof url, "sqlite:///%s/p.db?%s", th_tmpdir(), bad[i].query);
        ck_assert_int_eq(strata_db_open(&db, url), STRATA_E_URL);
        ck_assert_msg(strstr(strata_db_errmsg(db), bad[i].msg), "%s", strata_db_errmsg(db));
        strata_db_close(db);
    }
    char path[700];
    snprintf(path, sizeof path, "%s/p.db", th_tmpdir());
    ck_assert_int_eq(access(path, F_OK), -1); /* nothing was created */

    /* synchronous, in any case; timeout in seconds. */
    snprintf(url, sizeof url, "sqlite:///%s?synchronous=OFF&timeout=0.3", path);
    db = th_open_url(url);
    ck_assert_int_eq(th_int(db, "PRAGMA synchronous"), 0);
    strata_db_close(db);
    if (th_engine_now() == TH_SQLITE_FILE) { /* the same file whatever the engine */
        double waited = lock_wait(url);
        ck_assert_double_ge(waited, 0.29);
        ck_assert_double_lt(waited, 4.0);
    }
    snprintf(url, sizeof url, "sqlite:///%s?synchronous=extra", path);
    db = th_open_url(url);
    ck_assert_int_eq(th_int(db, "PRAGMA synchronous"), 3);
    strata_db_close(db);

    /* mode=memory: a private database in memory, whatever the path. */
    snprintf(url, sizeof url, "sqlite:///%s/mem.db?mode=memory", th_tmpdir());
    db = th_open_url(url);
    th_exec(db, "CREATE TABLE t (id INTEGER)");
    strata_db *other = th_open_url(url);
    ck_assert_int_eq(strata_db_exec(other, "SELECT * FROM t"), STRATA_E_UNDEFINED_TABLE);
    strata_db_close(other);
    strata_db_close(db);
    snprintf(path, sizeof path, "%s/mem.db", th_tmpdir());
    ck_assert_int_eq(access(path, F_OK), -1);

    /* cache=shared: connections of one process share a cache and lock
     * tables, so a reader meets a writer's open transaction at once;
     * cache=private (the default) reads the last commit under WAL. */
    snprintf(path, sizeof path, "%s/c.db", th_tmpdir());
    snprintf(url, sizeof url, "sqlite:///%s?cache=shared", path);
    db = th_open_url(url);
    th_exec(db, "CREATE TABLE t (id INTEGER)");
    other = th_open_url(url);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    th_exec(db, "INSERT INTO t (id) VALUES (1)");
    th_rc(other, strata_db_exec(other, "SELECT * FROM t"), STRATA_E_BUSY);
    strata_db_close(other);
    snprintf(url, sizeof url, "sqlite:///%s?cache=private", path);
    other = th_open_url(url);
    ck_assert_int_eq(th_int(other, "SELECT count(*) FROM t"), 0);
    th_rc(db, strata_db_commit(db), STRATA_OK);
    ck_assert_int_eq(th_int(other, "SELECT count(*) FROM t"), 1);
    strata_db_close(other);
    strata_db_close(db);
}
END_TEST

/* A child process that writes row `id` of t at `url` in a transaction,
 * says so on fd `ready`, holds the lock 400 ms, then commits. */
static pid_t hold_the_write_lock(const char *url, int id, int ready)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid != 0)
        return pid;
    strata_db *w;
    char sql[64];
    snprintf(sql, sizeof sql, "INSERT INTO t (id) VALUES (%d)", id);
    if (strata_db_open(&w, url) != STRATA_OK || strata_db_begin(w) != STRATA_OK ||
        strata_db_exec(w, sql) != STRATA_OK || write(ready, "x", 1) != 1)
        _exit(1);
    struct timespec t = {0, 400000000L};
    nanosleep(&t, NULL);
    _exit(strata_db_commit(w) == STRATA_OK ? 0 : 1);
}

/* Opening a file another connection is writing to in rollback-journal
 * mode: switching the new connection to WAL needs the lock that one
 * holds, which SQLite does not wait for at open; strata waits up to the
 * busy timeout, as for any statement, instead of failing at once. */
START_TEST(open_waits_for_the_lock_a_writer_holds)
{
    char path[1024], url[1200];
    snprintf(path, sizeof path, "%s/held.db", th_tmpdir());
    unlink(path);
    snprintf(url, sizeof url, "sqlite:///%s?journal_mode=delete", path);
    strata_db *db = th_open_url(url);
    th_exec(db, "CREATE TABLE t (id INTEGER)");
    strata_db_close(db);
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = hold_the_write_lock(url, 1, ready[1]);
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    snprintf(url, sizeof url, "sqlite:///%s", path); /* WAL, the default */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = strata_db_open(&db, url);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_msg(rc == STRATA_OK, "%s", strata_db_errmsg(db));
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_double_ge(took, 0.2); /* it waited for the writer's commit */
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 1);
    /* A script of several statements, run in one transaction, waits for
     * a writer the same way (its transaction takes the write lock first,
     * with the busy timeout, not when its first write comes). */
    pid = hold_the_write_lock(url, 2, ready[1]);
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    th_exec(db, "CREATE TABLE IF NOT EXISTS u (id INTEGER); INSERT INTO u (id) SELECT count(*) FROM t");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_double_ge(took, 0.2);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(th_int(db, "SELECT id FROM u"), 2);
    strata_db_close(db);
    close(ready[0]);
    close(ready[1]);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    tcase_add_test(tc, open_database_url_and_default);
    tcase_add_test(tc, open_failures);
    tcase_add_test(tc, open_same_behaviour);
    tcase_add_test(tc, open_read_only_file);
    tcase_add_test(tc, open_sqlite_parameters_take_effect);
    tcase_add_test(tc, open_waits_for_the_lock_a_writer_holds);
    /* Reopening a private in-memory database gives a new, empty one. */
    if (e != TH_SQLITE_MEMORY)
        tcase_add_test(tc, open_read_only);
}

static Suite *build(void) { return th_suite("open", add); }

int main(void) { return th_run(build); }
