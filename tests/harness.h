/*
 * harness.h - run every test body on every engine.
 *
 * A suite built with th_suite() has one TCase per engine configuration:
 * "sqlite-memory", "sqlite-file", "postgresql" and "pgbouncer" (and, for the
 * suites built with th_suite_reduced, "postgresql-reduced").  Before
 * each test (in Check's child process) the fixture prepares a fresh, empty
 * database for that configuration and th_url() returns its URL: a private
 * in-memory database, a new file in a new temporary directory, a new
 * PostgreSQL schema on the test server (selected with search_path in the
 * URL), or a new database on that server reached through pgbouncer in
 * transaction pooling mode with prepared_statements=false; each is dropped
 * afterwards.
 *
 * th_run() finds the PostgreSQL server: STRATA_TEST_PG_URL when set, else
 * a throwaway one started with tests/pg-server and stopped at exit; then
 * starts pgbouncer in front of it (tests/pg-server pgbouncer).  Failing to
 * start either fails the run; STRATA_TEST_SKIP_PG=1 skips PostgreSQL (and
 * pgbouncer) loudly, STRATA_TEST_SKIP_PGBOUNCER=1 pgbouncer alone; both are
 * refused when CI is set.
 */
#ifndef STRATA_TEST_HARNESS_H
#define STRATA_TEST_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <strata.h>

typedef enum th_engine {
    TH_SQLITE_MEMORY = 0,
    TH_SQLITE_FILE,
    TH_POSTGRES,
    TH_PGBOUNCER, /* PostgreSQL through pgbouncer, transaction pooling */
    TH_PG_REDUCED, /* PostgreSQL's engine row copied without RETURNING,
                      upsert and ILIKE (th_suite_reduced only) */
    TH_ENGINES
} th_engine;

/* The engine of the test running now, and its name. */
th_engine th_engine_now(void);
const char *th_engine_name(th_engine e);
/* PostgreSQL, directly or through pgbouncer. */
bool th_is_pg(void);
/* The PostgreSQL engine with RETURNING, upsert and ILIKE switched off, so
 * the core takes its fallbacks (strata_upsert: STRATA_E_UNSUPPORTED). */
bool th_reduced(void);
/* Switch the reduced engine's upsert back on (true) or off. */
void th_reduced_set_upsert(bool on);
/* Through pgbouncer: sessions do not keep a server connection between
 * transactions (no session-level SET, advisory lock or LISTEN). */
bool th_via_pooler(void);

/* URL of this test's fresh database. */
const char *th_url(void);
/* The PostgreSQL server's own URL (no schema selected), or NULL when
 * PostgreSQL is skipped. */
const char *th_pg_url(void);
/* Whether the test runs under valgrind. */
bool th_under_valgrind(void);
/* The PostgreSQL server's host (or socket directory) and port. */
void th_pg_endpoint(char *host, size_t hostsz, char *port, size_t portsz);
/* Make schema `schema` on the PostgreSQL server of `server_url` empty
 * (dropped and made again) and write into url[cap] a URL whose
 * connections work in it, with `params` ("a=b&c=d", or "") added. */
void th_pg_schema_url(const char *server_url, const char *schema, const char *params, char *url,
                      size_t cap);
/* A URL of database `dbname` through pgbouncer ("pool2": the database
 * postgres with a pool of 2 server connections), with prepared
 * statements on; NULL when pgbouncer is skipped. */
const char *th_pgbouncer_url(const char *dbname);
/* The URL of a PostgreSQL server this process started and nobody else
 * uses, so a test may signal its backends: the suite's own throwaway
 * server, or, when the suite runs on STRATA_TEST_PG_URL's, a private one
 * (Debian's postgresql package, tests/pg-server), started before the
 * tests and stopped at exit when main() called th_want_own_pg() before
 * th_run().  Fails the test when there is none. */
const char *th_own_pg_url(void);
void th_want_own_pg(void);
/* Stop the server process `pid` (a backend of th_own_pg_url's server) as
 * a stalled server would be; a watchdog thread resumes it after 30 s even
 * if the test hangs.  th_resume_backend resumes it at once. */
void th_stop_backend(int pid);
void th_resume_backend(int pid);
/* Called by main() before th_run(): the private server (th_own_pg_url)
 * can create databases of the glibc locale `locale` ("en_US.UTF-8",
 * static storage), built with localedef when the system lacks it
 * (tests/pg-server locale).  th_locale_pg_url() is then that server's URL,
 * or NULL when the locale could not be made; that is a loud warning
 * outside CI, and fails the run in CI. */
void th_want_pg_locale(const char *locale);
const char *th_locale_pg_url(void);
/* Directory for this test's files (exists for every engine). */
const char *th_tmpdir(void);

/* Send stderr to a file in th_tmpdir() with STRATA_ECHO=1 set, so the
 * echo of handles opened meanwhile is caught; th_echo_end() puts stderr
 * and STRATA_ECHO back and copies what was written into buf (cap bytes,
 * NUL-terminated). */
void th_echo_begin(void);
void th_echo_end(char *buf, size_t cap);

/* Open th_url() and assert success. */
strata_db *th_open(void);
/* Open `url` and assert success. */
strata_db *th_open_url(const char *url);
/* th_url() with extra query parameters appended ("busy_timeout=100"). */
const char *th_url_with(const char *params);

/* Execute and assert STRATA_OK, printing the error otherwise. */
#define th_exec(db, sql) th_exec_at(__FILE__, __LINE__, (db), (sql))
void th_exec_at(const char *file, int line, strata_db *db, const char *sql);
/* First column of the first row as an integer (asserts there is one). */
#define th_int(db, sql) th_int_at(__FILE__, __LINE__, (db), (sql))
int64_t th_int_at(const char *file, int line, strata_db *db, const char *sql);

/* Assert an integer result code, showing names and the message on failure. */
#define th_rc(db, got, want)                                                              \
    do {                                                                                  \
        int th_got_ = (got); /* once: `got` is often the call under test */              \
        ck_assert_msg(th_got_ == (want), "expected %s, got %s: %s", strata_errname(want), \
                      strata_errname(th_got_), strata_db_errmsg(db));                     \
    } while (0)

/* A DDL type name for this engine: BLOB/BYTEA, DOUBLE/DOUBLE PRECISION ... */
const char *th_blob_type(void);

typedef void (*th_add_fn)(TCase *tc, th_engine engine);
/* A suite with one TCase per engine; `add` adds the tests to each. */
Suite *th_suite(const char *name, th_add_fn add);
/* The same with one TCase more, "postgresql-reduced" (TH_PG_REDUCED). */
Suite *th_suite_reduced(const char *name, th_add_fn add);
/* Find or start PostgreSQL, build the suite with `build` (which calls
 * th_suite), run it, stop the server; returns the exit status. */
/* Lines a hook gives (migration output, echo), gathered one after the
 * other, each ended by a newline: th_collect is the hook, a th_lines its
 * user data. */
typedef struct th_lines {
    char text[16384];
} th_lines;
void th_collect(void *ud, const char *line);

/* A migrations call that must succeed; the message names it. */
#define TH_MOK(m, call)                                                           \
    do {                                                                          \
        int rc_ = (call);                                                         \
        ck_assert_msg(rc_ == STRATA_OK, "%s: %s: %s", #call, strata_errname(rc_), \
                      strata_migrations_errmsg(m));                               \
    } while (0)

int th_run(Suite *(*build)(void));

#endif
