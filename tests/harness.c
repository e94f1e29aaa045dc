/*
 * harness.c - engines, fixtures and the throwaway PostgreSQL server for the
 * Check suites (see harness.h).
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "config.h"
#include "engine.h"
#ifdef STRATA_WITH_LIBPQ
#include <libpq-fe.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

static th_engine current;
static char url[1280];
static char url_extra[1536];
static char tmpdir[256];
static char pg_schema[64];
static char pg_url[512]; /* server URL, "" when skipped */
static char pg_dir[256]; /* our own server's directory, "" when external */
static char bouncer_dir[256]; /* pgbouncer's directory when the server is external */
static char bouncer_port[16]; /* "" when pgbouncer is skipped */
static char bouncer_user[128];
static char bouncer_db[64]; /* this test's database */
static char bouncer_url[1024];
static int bouncer_tests; /* databases made by this process, for unique names */
static pid_t owner_pid;  /* the process that started the server */

static const char *const engine_names[] = {"sqlite-memory", "sqlite-file", "postgresql",
                                           "pgbouncer", "postgresql-reduced"};

th_engine th_engine_now(void) { return current; }
const char *th_engine_name(th_engine e) { return engine_names[e]; }
bool th_is_pg(void)
{
    return current == TH_POSTGRES || current == TH_PGBOUNCER || current == TH_PG_REDUCED;
}
bool th_reduced(void) { return current == TH_PG_REDUCED; }
bool th_via_pooler(void) { return current == TH_PGBOUNCER; }
const char *th_url(void) { return url; }
const char *th_pg_url(void) { return pg_url[0] ? pg_url : NULL; }

bool th_under_valgrind(void)
{
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
    return RUNNING_ON_VALGRIND != 0;
#endif
#endif
    return false;
}
const char *th_tmpdir(void) { return tmpdir; }

static char own_dir[256], own_url[512]; /* a private server beside STRATA_TEST_PG_URL's */
static int make_server_dir(char *dir, size_t cap, const char *what);
static const char *server_script(void);

static bool want_own;
static const char *want_locale; /* th_want_pg_locale's */
static bool locale_ok;          /* the private server has it */
static bool locale_failed;      /* and the run fails for it (CI) */
static int prepare_locale(const char *dir);

void th_want_own_pg(void) { want_own = true; }

void th_want_pg_locale(const char *locale)
{
    want_locale = locale;
    want_own = true;
}

/* th_own_pg_url's server without its assertion: callable outside a test. */
const char *th_locale_pg_url(void)
{
    if (!locale_ok)
        return NULL;
    return pg_dir[0] ? pg_url : own_url[0] ? own_url : NULL;
}

/* In th_run, before any fork: the private server beside an external one. */
static int start_own_server(void)
{
    if (make_server_dir(own_dir, sizeof own_dir, "own") != 0 || prepare_locale(own_dir) != 0)
        return -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' start '%s'", server_script(), own_dir);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(own_url, sizeof own_url, p))
        own_url[0] = '\0';
    int status = p ? pclose(p) : -1;
    own_url[strcspn(own_url, "\r\n")] = '\0';
    if (status != 0)
        own_url[0] = '\0';
    return own_url[0] ? 0 : -1;
}

static void *resume_later(void *arg)
{
    sleep(30);
    kill((pid_t)(intptr_t)arg, SIGCONT);
    return NULL;
}

void th_stop_backend(int pid)
{
    pthread_t watchdog;
    ck_assert_int_eq(pthread_create(&watchdog, NULL, resume_later, (void *)(intptr_t)pid), 0);
    pthread_detach(watchdog);
    ck_assert_int_eq(kill((pid_t)pid, SIGSTOP), 0);
}

void th_resume_backend(int pid) { kill((pid_t)pid, SIGCONT); }

const char *th_own_pg_url(void)
{
    if (pg_dir[0])
        return pg_url;
    ck_assert_msg(own_url[0], "no private PostgreSQL server: a test that signals the server's "
                              "backends needs one of its own (th_want_own_pg)");
    return own_url;
}

const char *th_pgbouncer_url(const char *dbname)
{
    if (!bouncer_port[0])
        return NULL;
    snprintf(bouncer_url, sizeof bouncer_url, "postgresql://%s@127.0.0.1:%s/%s", bouncer_user,
             bouncer_port, dbname);
    return bouncer_url;
}
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

void th_pg_schema_url(const char *server_url, const char *schema, const char *params, char *out,
                      size_t cap)
{
    strata_db *db = th_open_url(server_url);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema,
             schema);
    th_exec(db, sql);
    strata_db_close(db);
    snprintf(out, cap, "%s%s%s%soptions=-csearch_path%%3D%s", server_url,
             strchr(server_url, '?') ? "&" : "?", params, *params ? "&" : "", schema);
}

static void setup_postgres(void)
{
    current = TH_POSTGRES;
    make_tmpdir();
    snprintf(pg_schema, sizeof pg_schema, "strata_t%ld", (long)getpid());
    th_pg_schema_url(pg_url, pg_schema, "", url, sizeof url);
}

/* pgbouncer's test case gets a database of its own, made once by the
 * process that runs the case (pgbouncer passes no search_path: it refuses
 * the options startup parameter).  One made for every test cost a quarter
 * of a second each. */
static void make_pgbouncer_db(void)
{
    snprintf(bouncer_db, sizeof bouncer_db, "strata_b%ld_%d", (long)getpid(), ++bouncer_tests);
    strata_db *db = th_open_url(pg_url);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", bouncer_db);
    th_exec(db, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", bouncer_db);
    th_exec(db, sql);
    strata_db_close(db);
}

static void drop_pgbouncer_db(void)
{
    strata_db *db = NULL;
    if (strata_db_open(&db, pg_url) == STRATA_OK) {
        char sql[256];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", bouncer_db);
        strata_db_exec(db, sql);
    }
    strata_db_close(db);
}

/* Each test starts from the case's database as a new one would be: every
 * connection pgbouncer keeps to it dropped first (KILL, then RESUME, on
 * its admin console), so no server session, with its settings, passes
 * from one test to the next; then every schema but the system's dropped
 * and public made again. */
static void setup_pgbouncer(void)
{
    current = TH_PGBOUNCER;
    make_tmpdir();
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "psql -X -q 'postgresql://%s@127.0.0.1:%s/pgbouncer' -c 'KILL %s' -c 'RESUME %s' "
             ">/dev/null",
             bouncer_user, bouncer_port, bouncer_db, bouncer_db);
    ck_assert_msg(system(cmd) == 0, "harness: %s failed", cmd);
    snprintf(url, sizeof url, "%s?prepared_statements=false", th_pgbouncer_url(bouncer_db));
    strata_db *db = th_open_url(url);
    th_exec(db, "DO $$ DECLARE s text; BEGIN "
                "FOR s IN SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                "AND nspname <> 'information_schema' LOOP "
                "EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; "
                "CREATE SCHEMA public; END $$");
    strata_db_close(db);
}

/* A copy of the PostgreSQL engine's registry row without RETURNING,
 * upsert and ILIKE, under the scheme "pgreduced". */
static strata_driver reduced_driver;
static strata__dialect reduced_dialect;

static void register_reduced(void)
{
    static bool done;
    const strata__engine *pg = strata__engine_by_scheme("postgresql");
    if (done || !pg)
        return;
    reduced_driver = *pg->driver;
    reduced_driver.name = "pgreduced";
    reduced_driver.aliases = NULL;
    reduced_driver.capabilities &= ~(unsigned)STRATA_CAP_RETURNING;
    reduced_dialect = *pg->dialect;
    reduced_dialect.ilike = NULL;
    reduced_dialect.upsert = NULL;
    strata__engine row = {&reduced_driver, &reduced_dialect};
    ck_assert_int_eq(strata__engine_register(&row), STRATA_OK);
    done = true;
}

void th_reduced_set_upsert(bool on)
{
    const strata__engine *pg = strata__engine_by_scheme("postgresql");
    reduced_dialect.upsert = on && pg ? pg->dialect->upsert : NULL;
}

static void setup_pg_reduced(void)
{
    setup_postgres();
    current = TH_PG_REDUCED;
    register_reduced();
    th_reduced_set_upsert(false); /* a test may have switched it on (CK_FORK=no) */
    const char *rest = strstr(url, "://");
    size_t n = strlen(rest);
    ck_assert(n + strlen("pgreduced") < sizeof url);
    memmove(url + strlen("pgreduced"), rest, n + 1);
    memcpy(url, "pgreduced", strlen("pgreduced"));
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

static Suite *make_suite(const char *name, th_add_fn add, bool reduced)
{
    static void (*const setups[])(void) = {setup_sqlite_memory, setup_sqlite_file, setup_postgres,
                                           setup_pgbouncer, setup_pg_reduced};
    static void (*const teardowns[])(void) = {remove_tmpdir, remove_tmpdir, teardown_postgres,
                                              remove_tmpdir, teardown_postgres};
    Suite *s = suite_create(name);
    for (int e = 0; e < TH_ENGINES; e++) {
        if (((e == TH_POSTGRES || e == TH_PG_REDUCED) && !pg_url[0]) ||
            (e == TH_PGBOUNCER && !bouncer_port[0]) || (e == TH_PG_REDUCED && !reduced))
            continue;
        TCase *tc = tcase_create(engine_names[e]);
        tcase_set_tags(tc, engine_names[e]); /* CK_EXCLUDE_TAGS=pgbouncer (tests/valgrind.sh) */
        if (e == TH_PGBOUNCER)
            tcase_add_unchecked_fixture(tc, make_pgbouncer_db, drop_pgbouncer_db);
        tcase_add_checked_fixture(tc, setups[e], teardowns[e]);
        tcase_set_timeout(tc, 60);
        add(tc, (th_engine)e);
        suite_add_tcase(s, tc);
    }
    return s;
}

Suite *th_suite(const char *name, th_add_fn add) { return make_suite(name, add, false); }
Suite *th_suite_reduced(const char *name, th_add_fn add) { return make_suite(name, add, true); }

/* ---- the PostgreSQL server ------------------------------------------------ */

static void stop_server(void)
{
    char cmd[1024];
    if (bouncer_dir[0] && getpid() == owner_pid) {
        snprintf(cmd, sizeof cmd, "'%s' stop '%s'", getenv("STRATA_PG_SERVER"), bouncer_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "harness: stopping pgbouncer in %s failed\n", bouncer_dir);
        bouncer_dir[0] = '\0';
    }
    if (own_dir[0] && getpid() == owner_pid) {
        snprintf(cmd, sizeof cmd, "'%s' stop '%s'", getenv("STRATA_PG_SERVER"), own_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "harness: stopping PostgreSQL in %s failed\n", own_dir);
        own_dir[0] = '\0';
    }
    if (!pg_dir[0] || getpid() != owner_pid)
        return;
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

static const char *server_script(void)
{
    const char *script = getenv("STRATA_PG_SERVER");
    if (!script || !*script) {
        setenv("STRATA_PG_SERVER", "tests/pg-server", 1);
        script = getenv("STRATA_PG_SERVER");
    }
    return script;
}

/* A new directory named after `what` in TMPDIR into `dir`; the server
 * and pgbouncer are stopped at exit from then on. */
static int make_server_dir(char *dir, size_t cap, const char *what)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, cap, "%s/strata-%s-XXXXXX", base && *base ? base : "/tmp", what);
    if (!mkdtemp(dir)) {
        perror("harness: mkdtemp");
        dir[0] = '\0';
        return -1;
    }
    if (!owner_pid) {
        owner_pid = getpid();
        atexit(stop_server);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
    }
    return 0;
}

/* Append `s` to the shell command in `cmd` single-quoted. */
static void append_quoted(char *cmd, size_t cap, const char *s)
{
    size_t n = strlen(cmd);
    if (n + 2 < cap)
        cmd[n++] = ' ', cmd[n++] = '\'';
    for (; *s && n + 6 < cap; s++) {
        if (*s == '\'') {
            memcpy(cmd + n, "'\\''", 4);
            n += 4;
        } else {
            cmd[n++] = *s;
        }
    }
    cmd[n++] = '\'';
    cmd[n] = '\0';
}

static bool running_in_ci(void)
{
    const char *ci = getenv("CI");
    return ci && *ci && strcmp(ci, "false") != 0;
}

/* Before the server in `dir` starts: th_want_pg_locale's locale made
 * usable by it (tests/pg-server locale).  -1 only in CI, where the tests
 * on that locale never skip. */
static int prepare_locale(const char *dir)
{
    if (!want_locale)
        return 0;
    char cmd[2048] = "";
    append_quoted(cmd, sizeof cmd, server_script());
    strcat(cmd, " locale");
    append_quoted(cmd, sizeof cmd, dir);
    append_quoted(cmd, sizeof cmd, want_locale);
    if (system(cmd) == 0) {
        locale_ok = true;
        return 0;
    }
    if (running_in_ci()) {
        fprintf(stderr,
                "harness: ERROR: the locale %s could not be made for the private PostgreSQL "
                "server (tests/pg-server locale; install Debian's locales package): the tests "
                "on a database of that locale never skip in CI\n",
                want_locale);
        locale_failed = true;
        return -1;
    }
    fprintf(stderr,
            "\n*** WARNING: the tests on a PostgreSQL database of locale %s are SKIPPED: "
            "tests/pg-server locale could not make it (install Debian's locales package) ***\n\n",
            want_locale);
    return 0;
}

#ifdef STRATA_WITH_LIBPQ
/* The server URL's settings: NULL (with the reason on stderr) when it
 * cannot be read.  Free with PQconninfoFree. */
static PQconninfoOption *pg_url_options(void)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(pg_url, &err);
    if (!opts) {
        fprintf(stderr, "harness: cannot read the server URL: %s\n", err ? err : "out of memory");
        PQfreemem(err);
    }
    return opts;
}

/* The server's host (or socket directory) and port in opts. */
static void pg_endpoint(const PQconninfoOption *opts, const char **host, const char **port)
{
    *host = "";
    *port = "5432";
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0 || (strcmp(o->keyword, "hostaddr") == 0 && !**host))
            *host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            *port = o->val;
    }
    if (!**host)
        *host = "/var/run/postgresql";
}
#endif

void th_pg_endpoint(char *host, size_t hostsz, char *port, size_t portsz)
{
#ifdef STRATA_WITH_LIBPQ
    PQconninfoOption *opts = pg_url_options();
    ck_assert_ptr_nonnull(opts);
    const char *h, *p;
    pg_endpoint(opts, &h, &p);
    snprintf(host, hostsz, "%s", h);
    snprintf(port, portsz, "%s", p);
    PQconninfoFree(opts);
#else
    (void)host, (void)hostsz, (void)port, (void)portsz;
    ck_abort_msg("built without libpq");
#endif
}

/* Start pgbouncer in front of the server at pg_url: in our own server's
 * directory, or in one of its own for an external server. */
static int start_bouncer(void)
{
#ifdef STRATA_WITH_LIBPQ
    PQconninfoOption *opts = pg_url_options();
    if (!opts)
        return -1;
    const char *host, *port, *user = "", *password = "";
    pg_endpoint(opts, &host, &port);
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "password") == 0)
            password = o->val;
    }
    if (!*user) {
        const char *u = getenv("PGUSER") ? getenv("PGUSER") : getenv("USER");
        user = u ? u : "postgres";
    }
    snprintf(bouncer_user, sizeof bouncer_user, "%s", user);
    const char *dir = pg_dir;
    if (!pg_dir[0]) {
        if (make_server_dir(bouncer_dir, sizeof bouncer_dir, "pgbouncer") != 0) {
            PQconninfoFree(opts);
            return -1;
        }
        dir = bouncer_dir;
    }
    char cmd[2048] = "";
    append_quoted(cmd, sizeof cmd, server_script());
    strcat(cmd, " pgbouncer");
    append_quoted(cmd, sizeof cmd, dir);
    append_quoted(cmd, sizeof cmd, host);
    append_quoted(cmd, sizeof cmd, port);
    append_quoted(cmd, sizeof cmd, user);
    append_quoted(cmd, sizeof cmd, password);
    PQconninfoFree(opts);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(bouncer_port, sizeof bouncer_port, p)) {
        if (p)
            pclose(p);
        bouncer_port[0] = '\0';
        return -1;
    }
    int status = pclose(p);
    bouncer_port[strcspn(bouncer_port, "\r\n")] = '\0';
    if (status != 0)
        bouncer_port[0] = '\0';
    return bouncer_port[0] ? 0 : -1;
#else
    fprintf(stderr, "harness: built without libpq\n");
    return -1;
#endif
}

static int start_server(void)
{
    const char *script = server_script();
    if (make_server_dir(pg_dir, sizeof pg_dir, "pg") != 0 || prepare_locale(pg_dir) != 0)
        return -1;

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
        if (!locale_failed)
            fprintf(stderr,
                    "harness: could not start a throwaway PostgreSQL server with %s.\n"
                    "  Install Debian's postgresql package (scripts/bootstrap does), or\n"
                    "  point STRATA_TEST_PG_URL at a server (see tests/docker-compose.yml).\n",
                    getenv("STRATA_PG_SERVER"));
        stop_server();
        return 1;
    }
    if (want_own && pg_url[0] && !pg_dir[0] && start_own_server() != 0) {
        if (!locale_failed)
            fprintf(stderr, "harness: could not start a private PostgreSQL server beside "
                            "STRATA_TEST_PG_URL's (tests/pg-server, Debian's postgresql "
                            "package): this suite signals a server's backends or needs a "
                            "locale of its own\n");
        stop_server();
        return 1;
    }
    const char *skip_bouncer = getenv("STRATA_TEST_SKIP_PGBOUNCER");
    bool in_ci = ci && *ci && strcmp(ci, "false") != 0;
    if (pg_url[0] && skip_bouncer && *skip_bouncer && strcmp(skip_bouncer, "0") != 0) {
        if (in_ci) {
            fprintf(stderr, "harness: STRATA_TEST_SKIP_PGBOUNCER is refused when CI is set\n");
            stop_server();
            return 1;
        }
        fprintf(stderr,
                "\n*** WARNING: the pgbouncer tests are SKIPPED (STRATA_TEST_SKIP_PGBOUNCER=%s) "
                "***\n\n",
                skip_bouncer);
    } else if (pg_url[0] && start_bouncer() != 0) {
        fprintf(stderr,
                "\n*** %s: could not start pgbouncer in front of %s (tests/pg-server "
                "pgbouncer; install Debian's pgbouncer package)%s ***\n\n",
                in_ci ? "ERROR" : "WARNING: the pgbouncer tests are SKIPPED",
                ext && *ext ? "STRATA_TEST_PG_URL" : "the throwaway server",
                in_ci ? "; CI never skips them" : "");
        if (in_ci) {
            stop_server();
            return 1;
        }
    }
    SRunner *sr = srunner_create(build());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    stop_server();
    return failed == 0 ? 0 : 1;
}

void th_collect(void *ud, const char *line)
{
    th_lines *l = ud;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s\n", line);
}
