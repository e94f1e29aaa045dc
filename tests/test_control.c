/*
 * test_control.c - controlling a running statement: a cancel from another
 * thread and a statement timeout stop it with STRATA_E_TIMEOUT on both
 * engines, in PostgreSQL's words; the connection works afterwards; the
 * server's notices and warnings reach the handler and the echo.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* A statement that runs for minutes on either engine (the tests allow 60 s
 * for it to be stopped: valgrind on a loaded machine is slow). */
static const char *slow_sql(void)
{
    return th_is_pg() ? "SELECT pg_sleep(300)"
                      : "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                        "WHERE x < 500000000) SELECT count(*) FROM c";
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

typedef struct canceller {
    strata_db *db;
    atomic_int done; /* the statement has returned */
    int rc;
} canceller;

/* Cancel every 200 ms until the statement returns: a cancel that comes
 * before the statement starts (a slow machine, valgrind) does nothing. */
static void *cancel_soon(void *arg)
{
    canceller *c = arg;
    while (!atomic_load(&c->done)) {
        struct timespec pause = {0, 200 * 1000000L};
        nanosleep(&pause, NULL);
        if (!atomic_load(&c->done))
            c->rc = strata_db_cancel(c->db);
    }
    return NULL;
}

START_TEST(control_cancel_from_another_thread)
{
    strata_db *db = th_open();
    canceller c = {db, 0, -1};
    pthread_t t;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(pthread_create(&t, NULL, cancel_soon, &c), 0);
    int rc = strata_db_exec(db, slow_sql());
    atomic_store(&c.done, 1);
    pthread_join(t, NULL);
    th_rc(db, rc, STRATA_E_TIMEOUT);
    ck_assert_int_eq(c.rc, STRATA_OK);
    ck_assert_double_lt(seconds_since(&t0), 60.0);
    ck_assert_str_eq(strata_db_sqlstate(db), "57014");
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "canceling statement due to user request"));
    /* The connection carries on. */
    ck_assert_int_eq(th_int(db, "SELECT 40 + 2"), 42);
    ck_assert_int_eq(strata_db_cancel(NULL), STRATA_E_MISUSE);
    strata_db_close(db);
}
END_TEST

/* A cancel that comes while a statement is half read stops the ROLLBACK
 * as well on SQLite (its interrupt holds while a statement runs): the
 * handle, still in the transaction, refuses every other call until a
 * rollback succeeds, then works with the transaction undone.  Forgetting
 * the transaction instead would run the next statements inside it. */
START_TEST(control_rollback_after_a_cancel_mid_statement)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE t (n integer)");
    th_exec(db, "INSERT INTO t VALUES (1), (2), (3)");
    ck_assert_int_eq(strata_db_begin(db), STRATA_OK);
    th_exec(db, "INSERT INTO t VALUES (4)");
    strata_stmt *st;
    ck_assert_int_eq(strata_stmt_prepare(&st, db, "SELECT n FROM t ORDER BY n"), STRATA_OK);
    ck_assert_int_eq(strata_stmt_step(st), STRATA_ROW);
    ck_assert_int_eq(strata_db_cancel(db), STRATA_OK);
    int rc = strata_db_rollback(db);
    if (rc != STRATA_OK) {
        ck_assert(strata_db_is_broken(db));
        ck_assert_int_eq(strata_db_in_transaction(db), 1);
        ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "could not be rolled back"));
        ck_assert_int_eq(strata_db_exec(db, "SELECT 1"), STRATA_E_CONNECTION_LOST);
    }
    strata_stmt_finalize(st);
    if (rc != STRATA_OK)
        ck_assert_int_eq(strata_db_rollback(db), STRATA_OK);
    ck_assert(!strata_db_is_broken(db));
    ck_assert_int_eq(strata_db_in_transaction(db), 0);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t"), 3);
    strata_db_close(db);
}
END_TEST

START_TEST(control_statement_timeout)
{
    strata_db *db = th_open();
    th_rc(db, strata_db_set_statement_timeout(db, -1), STRATA_E_MISUSE);
    th_rc(db, strata_db_set_statement_timeout(db, 200), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT 1"), 1); /* quick ones are untouched */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, slow_sql()), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_E_TIMEOUT);
    strata_stmt_finalize(st);
    ck_assert_double_lt(seconds_since(&t0), 60.0);
    ck_assert_ptr_nonnull(
        strstr(strata_db_errmsg(db), "canceling statement due to statement timeout"));
    /* In a transaction it fails the transaction, as any error does. */
    th_rc(db, strata_db_begin(db), STRATA_OK);
    th_rc(db, strata_db_exec(db, slow_sql()), STRATA_E_TIMEOUT);
    th_rc(db, strata_db_exec(db, "SELECT 1"), STRATA_E_TX_ABORTED);
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    /* 0 lifts the limit. */
    th_rc(db, strata_db_set_statement_timeout(db, 0), STRATA_OK);
    const char *medium = th_is_pg() ? "SELECT pg_sleep(0.4)"
                                    : "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                                      "FROM c WHERE x < 100000) SELECT count(*) FROM c";
    th_exec(db, medium);
    strata_db_close(db);
}
END_TEST

/* The timeout is the handle's own: another handle is untouched by it,
 * even behind a pooler that hands both the same server connection (where
 * a session's SET would reach the other client), and it still bounds this
 * handle's statements wherever they run. */
START_TEST(control_timeout_is_the_handles_own)
{
    strata_db *a = th_open(), *b = th_open();
    th_rc(a, strata_db_set_statement_timeout(a, 200), STRATA_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(th_int(a, "SELECT 1"), 1);
        th_exec(b, th_is_pg() ? "SELECT pg_sleep(0.4)"
                              : "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                                "FROM c WHERE x < 100000) SELECT count(*) FROM c");
        if (th_is_pg())
            ck_assert_int_eq(
                th_int(b, "SELECT CASE WHEN current_setting('statement_timeout') = '0' "
                          "THEN 1 ELSE 0 END"),
                1);
        th_rc(a, strata_db_exec(a, slow_sql()), STRATA_E_TIMEOUT);
    }
    strata_db_close(b);
    strata_db_close(a);
}
END_TEST

/* A server that answers neither the statement nor the timeout's cancel
 * (its backend stopped): the handle gives up after the cancel's grace
 * instead of waiting as long as the stall lasts, and a COMMIT caught so
 * says its outcome is unknown. */
START_TEST(control_timeout_gives_up_on_a_stalled_server)
{
    /* A server nobody else uses: its backend is stopped. */
    strata_db *db = th_open_url(th_own_pg_url());
    th_exec(db, "DROP TABLE IF EXISTS stalled");
    th_exec(db, "CREATE TABLE stalled (id INTEGER)");
    int backend = (int)th_int(db, "SELECT pg_backend_pid()");
    th_rc(db, strata_db_set_statement_timeout(db, 300), STRATA_OK);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    th_exec(db, "INSERT INTO stalled VALUES (1)");
    th_stop_backend(backend);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = strata_db_commit(db);
    double took = seconds_since(&t0);
    th_resume_backend(backend);
    th_rc(db, rc, STRATA_E_COMMIT_UNKNOWN);
    ck_assert_double_ge(took, 5.0); /* the timeout, then the cancel's grace */
    ck_assert_double_lt(took, 60.0);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "given up"));
    ck_assert(strata_db_is_broken(db));
    strata_db_close(db);
}
END_TEST

/* A server that answers nothing at all, its postmaster stopped with the
 * backend (a hung host that still takes connections): the timeout's
 * cancel request, which libpq sends and then waits on without a limit,
 * goes out from a thread of its own, and the handle still gives up after
 * the grace instead of waiting for as long as the server is stopped. */
START_TEST(control_timeout_gives_up_on_a_server_that_answers_nothing)
{
    strata_db *db = th_open_url(th_own_pg_url());
    int backend = (int)th_int(db, "SELECT pg_backend_pid()");
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SHOW data_directory"), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    char path[600];
    const char *dir = NULL;
    th_rc(db, strata_stmt_column_text(st, 0, &dir, NULL), STRATA_OK);
    snprintf(path, sizeof path, "%s/postmaster.pid", dir);
    strata_stmt_finalize(st);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    int postmaster = 0;
    ck_assert_int_eq(fscanf(f, "%d", &postmaster), 1);
    fclose(f);
    th_rc(db, strata_db_set_statement_timeout(db, 300), STRATA_OK);
    th_stop_backend(backend);
    th_stop_backend(postmaster);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = strata_db_exec(db, "SELECT 1");
    double took = seconds_since(&t0);
    th_resume_backend(postmaster);
    th_resume_backend(backend);
    ck_assert_int_ne(rc, STRATA_OK);
    ck_assert_double_ge(took, 5.0);  /* the timeout, then the cancel's grace */
    ck_assert_double_lt(took, 20.0); /* not the 30 s the server stayed stopped for */
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "given up"));
    ck_assert(strata_db_is_broken(db));
    strata_db_close(db);
}
END_TEST

/* A TCP forwarder in front of the test's server, which can be frozen:
 * it then takes no connection and passes nothing on, as a hung host. */
typedef struct forwarder {
    int fd, port;
    char host[512], to_port[32];
    atomic_bool frozen, done;
    atomic_int relays;
    pthread_t acceptor;
} forwarder;

typedef struct relay_pair {
    forwarder *f;
    int a, b;
} relay_pair;

static int server_socket(const forwarder *f)
{
    int fd = -1;
    if (f->host[0] == '/') {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        if (snprintf(un.sun_path, sizeof un.sun_path, "%s/.s.PGSQL.%s", f->host, f->to_port) >=
            (int)sizeof un.sun_path)
            return -1;
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof un) != 0)
            close(fd), fd = -1;
        return fd;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(f->host, f->to_port, &hints, &ai) != 0)
        return -1;
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
        close(fd), fd = -1;
    freeaddrinfo(ai);
    return fd;
}

static void *relay(void *arg)
{
    relay_pair *r = arg;
    char buf[8192];
    while (!atomic_load(&r->f->done)) {
        if (atomic_load(&r->f->frozen)) {
            usleep(10000);
            continue;
        }
        struct pollfd p[2] = {{r->a, POLLIN, 0}, {r->b, POLLIN, 0}};
        if (poll(p, 2, 50) <= 0)
            continue;
        bool closed = false;
        for (int i = 0; i < 2 && !closed; i++) {
            if (!p[i].revents)
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            closed = n <= 0;
            for (ssize_t off = 0; !closed && off < n;) {
                ssize_t w = write(p[1 - i].fd, buf + off, (size_t)(n - off));
                closed = w <= 0;
                off += w;
            }
        }
        if (closed)
            break;
    }
    close(r->a);
    close(r->b);
    atomic_fetch_sub(&r->f->relays, 1);
    free(r);
    return NULL;
}

static void *accept_loop(void *arg)
{
    forwarder *f = arg;
    while (!atomic_load(&f->done)) {
        struct pollfd p = {f->fd, POLLIN, 0};
        if (atomic_load(&f->frozen) || poll(&p, 1, 50) <= 0) {
            usleep(10000);
            continue;
        }
        int client = accept(f->fd, NULL, NULL);
        int server = client >= 0 ? server_socket(f) : -1;
        relay_pair *r = server >= 0 ? malloc(sizeof *r) : NULL;
        pthread_t t;
        if (r) {
            *r = (relay_pair){f, client, server};
            atomic_fetch_add(&f->relays, 1);
        }
        if (!r || pthread_create(&t, NULL, relay, r) != 0) {
            if (r)
                atomic_fetch_sub(&f->relays, 1);
            free(r);
            if (client >= 0)
                close(client);
            if (server >= 0)
                close(server);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

static void forwarder_start(forwarder *f)
{
    th_pg_endpoint(f->host, sizeof f->host, f->to_port, sizeof f->to_port);
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(f->fd, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof in;
    ck_assert_int_eq(bind(f->fd, (struct sockaddr *)&in, sizeof in), 0);
    ck_assert_int_eq(listen(f->fd, 128), 0);
    ck_assert_int_eq(getsockname(f->fd, (struct sockaddr *)&in, &len), 0);
    f->port = ntohs(in.sin_port);
    ck_assert_int_eq(pthread_create(&f->acceptor, NULL, accept_loop, f), 0);
}

/* Ends the forwarder: its connections close, and so do those waiting to
 * be taken, which ends the cancel requests that wait on them. */
static void forwarder_stop(forwarder *f)
{
    atomic_store(&f->done, true);
    pthread_join(f->acceptor, NULL);
    close(f->fd);
    while (atomic_load(&f->relays) > 0)
        usleep(10000);
}

/* url (th_pg_url's form, scheme://[user@]host[:port]/rest) with its host
 * and port those of the forwarder. */
static void forwarded_url(const char *url, int port, char *out, size_t size)
{
    const char *auth = strstr(url, "://") + 3, *at = strchr(auth, '@'), *slash = strchr(auth, '/');
    const char *host = at && (!slash || at < slash) ? at + 1 : auth;
    snprintf(out, size, "%.*s127.0.0.1:%d%s", (int)(host - url), url, port, slash ? slash : "/");
}

typedef struct sleeper {
    strata_db *db;
    int rc;
    char msg[400];
} sleeper;

static void *sleep_on_frozen_server(void *arg)
{
    sleeper *w = arg;
    w->rc = strata_db_exec(w->db, "SELECT pg_sleep(29.5)");
    snprintf(w->msg, sizeof w->msg, "%s", strata_db_errmsg(w->db));
    return NULL;
}

static int threads_now(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* Cancel requests to a server that answers nothing (here, behind a frozen
 * forwarder) wait in threads of their own for as long as it takes
 * connections: a process whose statements keep timing out against it
 * keeps no more than 32 of them, a statement past that sends none and is
 * given up, saying why, after the same grace; and the statements of
 * another server are still cancelled at their timeouts. */
START_TEST(control_cancels_waiting_on_a_server_that_answers_nothing_are_bounded)
{
    enum { N = 36, MAX_WAITING = 32 };
    static forwarder f;
    static sleeper w[N];
    memset(&f, 0, sizeof f);
    forwarder_start(&f);
    char url[1200];
    forwarded_url(th_pg_url(), f.port, url, sizeof url);
    for (int i = 0; i < N; i++) {
        w[i].db = th_open_url(url);
        th_rc(w[i].db, strata_db_set_statement_timeout(w[i].db, 300), STRATA_OK);
    }
    strata_db *direct = th_open();
    th_rc(direct, strata_db_set_statement_timeout(direct, 300), STRATA_OK);
    int before = threads_now();
    atomic_store(&f.frozen, true);
    pthread_t t[N];
    int started = 0;
    while (started < N &&
           pthread_create(&t[started], NULL, sleep_on_frozen_server, &w[started]) == 0)
        started++;
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    int waiting = threads_now() - before;
    /* The server itself answers: its statement is cancelled at once. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int direct_rc = strata_db_exec(direct, "SELECT pg_sleep(5)");
    double took = seconds_since(&t0);
    forwarder_stop(&f);
    th_rc(direct, strata_db_set_statement_timeout(direct, 0), STRATA_OK);
    th_exec(direct, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE query = 'SELECT pg_sleep(29.5)'");
    ck_assert_int_eq(started, N);
    ck_assert_msg(direct_rc == STRATA_E_TIMEOUT, "%s: %s", strata_errname(direct_rc),
                  strata_db_errmsg(direct));
    ck_assert_double_lt(took, 3.0);
    int held = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_msg(w[i].rc == STRATA_E_CONNECTION_LOST, "%d: %s: %s", i, strata_errname(w[i].rc),
                      w[i].msg);
        ck_assert_msg(strstr(w[i].msg, "given up"), "%s", w[i].msg);
        held += strstr(w[i].msg, "no cancel was sent: 32 cancel requests") != NULL;
        strata_db_close(w[i].db);
    }
    ck_assert_msg(waiting <= MAX_WAITING, "%d cancel threads left waiting", waiting);
    ck_assert_int_eq(held, N - MAX_WAITING);
    strata_db_close(direct);
}
END_TEST

/* A statement that ends just as its timeout passes: the cancel sent
 * then must not stop the connection's next statement instead, so the
 * statement's thread waits until the server took the request. */
START_TEST(control_a_late_cancel_stops_no_next_statement)
{
    strata_db *db = th_open();
    th_rc(db, strata_db_set_statement_timeout(db, 100), STRATA_OK);
    int finished = 0;
    for (int k = 0; k < 40; k++) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT pg_sleep(%.3f)", 0.095 + (k % 10) * 0.002);
        finished += strata_db_exec(db, sql) == STRATA_OK;
        int rc = strata_db_exec(db, "SELECT pg_sleep(0.03)");
        ck_assert_msg(rc == STRATA_OK, "round %d: %s: %s", k, strata_errname(rc),
                      strata_db_errmsg(db));
    }
    (void)finished; /* some end in time, some are cancelled: either is fine */
    strata_db_close(db);
}
END_TEST

/* A statement queued in a pooler in transaction mode, every server
 * connection of its pool held by another client's transaction: pgbouncer
 * does not pass the timeout's cancel on while the statement waits, so the
 * handle gives up after the grace, says a pooler may be why (and, for an
 * INSERT outside a transaction, that its outcome is unknown), and the
 * statement, dropped from the queue with the connection, never runs. */
START_TEST(control_timeout_of_a_statement_queued_in_a_pooler)
{
    char url[1200], table[64], sql[256];
    snprintf(url, sizeof url, "%s?prepared_statements=false", th_pgbouncer_url("pool2"));
    snprintf(table, sizeof table, "strata_queued_%ld", (long)getpid());
    strata_db *h[2], *db = th_open_url(url);
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s; CREATE TABLE %s (id INTEGER)", table,
             table);
    th_exec(db, sql);
    for (int i = 0; i < 2; i++) { /* the pool's two server connections */
        h[i] = th_open_url(url);
        th_rc(h[i], strata_db_begin(h[i]), STRATA_OK);
        th_exec(h[i], "SELECT 1");
    }
    th_rc(db, strata_db_set_statement_timeout(db, 300), STRATA_OK);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (1)", table);
    int rc = strata_db_exec(db, sql);
    double took = seconds_since(&t0);
    /* An INSERT outside a transaction commits itself: whether the pooler
     * passed it on before the handle gave up is not known to it. */
    th_rc(db, rc, STRATA_E_COMMIT_UNKNOWN);
    ck_assert_double_ge(took, 5.0); /* the timeout, then the cancel's grace */
    ck_assert_double_lt(took, 60.0);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "waiting in a pooler"));
    strata_db_close(db);
    for (int i = 0; i < 2; i++) {
        th_rc(h[i], strata_db_commit(h[i]), STRATA_OK);
        strata_db_close(h[i]);
    }
    db = th_open_url(url);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    ck_assert_int_eq(th_int(db, sql), 0);
    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    th_exec(db, sql);
    strata_db_close(db);
}
END_TEST

typedef struct seen {
    int n;
    char text[1024];
} seen;

static void collect(void *ud, const strata_notice *n)
{
    seen *s = ud;
    s->n++;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof s->text - len, "%s %s %s|", n->severity, n->sqlstate, n->message);
}

static void echo_into(void *ud, const char *line)
{
    seen *s = ud;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof s->text - len, "%s|", line);
}

/* PostgreSQL's notices and warnings reach the handler, with severity,
 * SQLSTATE and text, and the echo; SQLite sends none. */
START_TEST(control_notices)
{
    strata_db *db = th_open();
    seen s = {0, ""}, e = {0, ""};
    strata_db_set_notice_handler(db, collect, &s);
    if (!th_is_pg()) {
        th_exec(db, "CREATE TABLE t (id INTEGER)");
        th_exec(db, "DROP TABLE IF EXISTS nothing_here");
        ck_assert_int_eq(s.n, 0);
        strata_db_close(db);
        return;
    }
    th_exec(db, "DO $$ BEGIN RAISE NOTICE 'hello %', 42; "
                "RAISE WARNING 'careful' USING ERRCODE = '01007'; END $$");
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.text, "NOTICE 00000 hello 42|WARNING 01007 careful|");
    /* The echo shows them too, and a cleared handler gets nothing. */
    strata_db_set_notice_handler(db, NULL, NULL);
    strata_db_set_echo(db, echo_into, &e);
    th_exec(db, "DROP TABLE IF EXISTS nothing_here");
    ck_assert_ptr_nonnull(strstr(e.text, "NOTICE 00000: table \"nothing_here\" does not exist, skipping"));
    ck_assert_int_eq(s.n, 2);
    strata_db_close(db);
}
END_TEST

/* A statement waiting for a lock another connection holds is a statement
 * running: its timeout ends the wait, and so does a cancel, on both
 * engines (SQLite's busy wait heeds neither by itself), long before the
 * busy timeout (a minute here).  Without either, the wait ends at the busy
 * timeout with STRATA_E_BUSY, as before. */
START_TEST(control_timeout_and_cancel_end_a_wait_for_a_lock)
{
    strata_db *a = th_open();
    th_exec(a, "CREATE TABLE held (id INTEGER PRIMARY KEY, n INTEGER)");
    th_exec(a, "INSERT INTO held (id, n) VALUES (1, 0)");
    strata_db *b = th_open_url(th_is_pg() ? th_url() : th_url_with("busy_timeout=60000"));
    th_rc(a, strata_db_begin_mode(a, STRATA_TX_WRITE), STRATA_OK);
    th_exec(a, "UPDATE held SET n = 1 WHERE id = 1");
    const char *blocked = "UPDATE held SET n = 2 WHERE id = 1";

    th_rc(b, strata_db_set_statement_timeout(b, 200), STRATA_OK);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    th_rc(b, strata_db_exec(b, blocked), STRATA_E_TIMEOUT);
    ck_assert_double_lt(seconds_since(&t0), 30.0);
    ck_assert_ptr_nonnull(
        strstr(strata_db_errmsg(b), "canceling statement due to statement timeout"));
    /* A writing transaction's BEGIN waits on SQLite (the write lock) and
     * is bounded the same way; on PostgreSQL it is the UPDATE that waits. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = strata_db_begin_mode(b, STRATA_TX_WRITE);
    if (rc == STRATA_OK)
        rc = strata_db_exec(b, blocked);
    th_rc(b, rc, STRATA_E_TIMEOUT);
    ck_assert_double_lt(seconds_since(&t0), 30.0);
    th_rc(b, strata_db_rollback(b), STRATA_OK);

    th_rc(b, strata_db_set_statement_timeout(b, 0), STRATA_OK);
    canceller c = {b, 0, -1};
    pthread_t t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(pthread_create(&t, NULL, cancel_soon, &c), 0);
    rc = strata_db_exec(b, blocked);
    atomic_store(&c.done, 1);
    pthread_join(t, NULL);
    th_rc(b, rc, STRATA_E_TIMEOUT);
    ck_assert_double_lt(seconds_since(&t0), 30.0);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(b), "canceling statement due to user request"));

    /* The holder lets go: the same statement runs. */
    th_rc(a, strata_db_commit(a), STRATA_OK);
    th_exec(b, blocked);
    ck_assert_int_eq(th_int(a, "SELECT n FROM held WHERE id = 1"), 2);
    strata_db_close(b);
    strata_db_close(a);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, control_cancel_from_another_thread);
    tcase_add_test(tc, control_rollback_after_a_cancel_mid_statement);
    tcase_add_test(tc, control_statement_timeout);
    tcase_add_test(tc, control_notices);
    tcase_add_test(tc, control_timeout_is_the_handles_own);
    if (e != TH_SQLITE_MEMORY) /* two connections to one database */
        tcase_add_test(tc, control_timeout_and_cancel_end_a_wait_for_a_lock);
    if (e == TH_POSTGRES) { /* signals the server's processes for this handle */
        tcase_add_test(tc, control_timeout_gives_up_on_a_stalled_server);
        tcase_add_test(tc, control_timeout_gives_up_on_a_server_that_answers_nothing);
        tcase_add_test(tc, control_cancels_waiting_on_a_server_that_answers_nothing_are_bounded);
    }
    if (e == TH_PGBOUNCER)
        tcase_add_test(tc, control_timeout_of_a_statement_queued_in_a_pooler);
    if (e == TH_POSTGRES || e == TH_PGBOUNCER) /* its cancel is the server's */
        tcase_add_test(tc, control_a_late_cancel_stops_no_next_statement);
}

static Suite *build(void) { return th_suite("control", add); }

int main(void)
{
    th_want_own_pg(); /* a backend of it is stopped */
    return th_run(build);
}
