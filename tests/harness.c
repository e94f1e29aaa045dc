/*
 * harness.c - engines, fixtures and the throwaway PostgreSQL server for the
 * Check suites (see harness.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static th_engine current;
static char url[1024];
static char url_extra[1280];
static char tmpdir[256];
static char pg_schema[64];
static char pg_url[512]; /* server URL, "" when skipped */
static char pg_dir[256]; /* our own server's directory, "" when external */
static pid_t owner_pid;  /* the process that started the server */

static const char *const engine_names[] = {"sqlite-memory", "sqlite-file", "postgresql"};

th_engine th_engine_now(void) { return current; }
const char *th_engine_name(th_engine e) { return engine_names[e]; }
bool th_is_pg(void) { return current == TH_POSTGRES; }
const char *th_url(void) { return url; }
const char *th_pg_url(void) { return pg_url[0] ? pg_url : NULL; }
const char *th_tmpdir(void) { return tmpdir; }
const char *th_blob_type(void) { return th_is_pg() ? "BYTEA" : "BLOB"; }

const char *th_url_with(const char *params)
{
    snprintf(url_extra, sizeof url_extra, "%s%s%s", url, strchr(url, '?') ? "&" : "?", params);
    return url_extra;
}

strata_db *th_open_url(const char *u)
{
    strata_db *db = NULL;
    int rc = strata_db_open(&db, u);
    ck_assert_msg(rc == STRATA_OK, "open %s: %s: %s", u, strata_errname(rc), strata_db_errmsg(db));
    return db;
}

strata_db *th_open(void) { return th_open_url(url); }

void th_exec_at(const char *file, int line, strata_db *db, const char *sql)
{
    int rc = strata_db_exec(db, sql);
    ck_assert_msg(rc == STRATA_OK, "%s:%d: exec \"%s\": %s: %s", file, line, sql,
                  strata_errname(rc), strata_db_errmsg(db));
}

int64_t th_int_at(const char *file, int line, strata_db *db, const char *sql)
{
    strata_stmt *st = NULL;
    int rc = strata_stmt_prepare(&st, db, sql);
    ck_assert_msg(rc == STRATA_OK, "%s:%d: prepare \"%s\": %s", file, line, sql,
                  strata_db_errmsg(db));
    rc = strata_stmt_step(st);
    ck_assert_msg(rc == STRATA_ROW, "%s:%d: \"%s\" gave no row: %s %s", file, line, sql,
                  strata_errname(rc), strata_db_errmsg(db));
    int64_t v = 0;
    rc = strata_stmt_column_int64(st, 0, &v);
    ck_assert_msg(rc == STRATA_OK, "%s:%d: \"%s\": %s", file, line, sql, strata_errname(rc));
    strata_stmt_finalize(st);
    return v;
}

/* ---- fixtures ------------------------------------------------------------ */

static void make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/strata-test-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp failed");
}

static void remove_tmpdir(void)
{
    char cmd[512];
    if (!tmpdir[0])
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: could not remove %s\n", tmpdir);
    tmpdir[0] = '\0';
}

static void setup_sqlite_memory(void)
{
    current = TH_SQLITE_MEMORY;
    make_tmpdir();
    snprintf(url, sizeof url, "sqlite://");
}

static void setup_sqlite_file(void)
{
    current = TH_SQLITE_FILE;
    make_tmpdir();
    snprintf(url, sizeof url, "sqlite:///%s/test.db", tmpdir);
}

static void setup_postgres(void)
{
    current = TH_POSTGRES;
    make_tmpdir();
    snprintf(pg_schema, sizeof pg_schema, "strata_t%ld", (long)getpid());
    strata_db *db = th_open_url(pg_url);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", pg_schema,
             pg_schema);
    th_exec(db, sql);
    strata_db_close(db);
    snprintf(url, sizeof url, "%s%soptions=-csearch_path%%3D%s", pg_url,
             strchr(pg_url, '?') ? "&" : "?", pg_schema);
}

static void teardown_postgres(void)
{
    strata_db *db = NULL;
    if (strata_db_open(&db, pg_url) == STRATA_OK) {
        char sql[256];
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", pg_schema);
        strata_db_exec(db, sql);
    }
    strata_db_close(db);
    remove_tmpdir();
}

static int echo_saved = -1;

void th_echo_begin(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/stderr.txt", th_tmpdir());
    setenv("STRATA_ECHO", "1", 1);
    fflush(stderr);
    echo_saved = dup(2);
    ck_assert(echo_saved >= 0 && freopen(path, "w", stderr) != NULL);
}

void th_echo_end(char *buf, size_t cap)
{
    fflush(stderr);
    dup2(echo_saved, 2);
    close(echo_saved);
    echo_saved = -1;
    unsetenv("STRATA_ECHO");
    char path[600];
    snprintf(path, sizeof path, "%s/stderr.txt", th_tmpdir());
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

Suite *th_suite(const char *name, th_add_fn add)
{
    static void (*const setups[])(void) = {setup_sqlite_memory, setup_sqlite_file, setup_postgres};
    Suite *s = suite_create(name);
    for (int e = 0; e < TH_ENGINES; e++) {
        if (e == TH_POSTGRES && !pg_url[0])
            continue;
        TCase *tc = tcase_create(engine_names[e]);
        tcase_add_checked_fixture(tc, setups[e],
                                  e == TH_POSTGRES ? teardown_postgres : remove_tmpdir);
        tcase_set_timeout(tc, 60);
        add(tc, (th_engine)e);
        suite_add_tcase(s, tc);
    }
    return s;
}

/* ---- the PostgreSQL server ------------------------------------------------ */

static void stop_server(void)
{
    if (!pg_dir[0] || getpid() != owner_pid)
        return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' stop '%s'", getenv("STRATA_PG_SERVER"), pg_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: stopping PostgreSQL in %s failed\n", pg_dir);
    pg_dir[0] = '\0';
}

static void on_signal(int sig)
{
    stop_server();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int start_server(void)
{
    const char *script = getenv("STRATA_PG_SERVER");
    if (!script || !*script) {
        setenv("STRATA_PG_SERVER", "tests/pg-server", 1);
        script = getenv("STRATA_PG_SERVER");
    }
    const char *base = getenv("TMPDIR");
    snprintf(pg_dir, sizeof pg_dir, "%s/strata-pg-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(pg_dir)) {
        perror("harness: mkdtemp");
        pg_dir[0] = '\0';
        return -1;
    }
    owner_pid = getpid();
    atexit(stop_server);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' start '%s'", script, pg_dir);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(pg_url, sizeof pg_url, p)) {
        if (p)
            pclose(p);
        pg_url[0] = '\0';
        return -1;
    }
    int status = pclose(p);
    pg_url[strcspn(pg_url, "\r\n")] = '\0';
    return status == 0 && pg_url[0] ? 0 : -1;
}

/* The server is needed before the suite is built (the PostgreSQL TCase
 * exists only when there is a server), hence a builder function. */
int th_run(Suite *(*build)(void))
{
    const char *ext = getenv("STRATA_TEST_PG_URL");
    const char *skip = getenv("STRATA_TEST_SKIP_PG");
    const char *ci = getenv("CI");
    if (ext && *ext) {
        snprintf(pg_url, sizeof pg_url, "%s", ext);
    } else if (skip && *skip && strcmp(skip, "0") != 0) {
        if (ci && *ci && strcmp(ci, "false") != 0) {
            fprintf(stderr, "harness: STRATA_TEST_SKIP_PG is refused when CI is set: "
                            "PostgreSQL tests never skip in CI\n");
            return 1;
        }
        fprintf(stderr,
                "\n*** WARNING: PostgreSQL tests are SKIPPED (STRATA_TEST_SKIP_PG=%s); "
                "only SQLite was tested ***\n\n",
                skip);
    } else if (start_server() != 0) {
        fprintf(stderr,
                "harness: could not start a throwaway PostgreSQL server with %s.\n"
                "  Install Debian's postgresql package (scripts/bootstrap does), or\n"
                "  point STRATA_TEST_PG_URL at a server (see tests/docker-compose.yml).\n",
                getenv("STRATA_PG_SERVER"));
        stop_server();
        return 1;
    }
    SRunner *sr = srunner_create(build());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    stop_server();
    return failed == 0 ? 0 : 1;
}
