/*
 * bench_raw_pg.c - the workloads written straight against libpq, the way a
 * careful C programmer would: named prepared statements, one transaction,
 * inserts as multi-row INSERT ... RETURNING batches sent in pipeline mode
 * (a window of batches in flight, flush requests, one sync), rows decoded
 * from text into plain structs, single-row mode for the streamed read.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "workload.h"

#define WINDOW 16 /* batches in flight */

static int fail(PGconn *c, const char *what)
{
    fprintf(stderr, "bench_raw_pg: %s: %s", what, PQerrorMessage(c));
    return 1;
}

/* Non-zero (and the message) unless `r` has status `want`; frees r. */
static int check(PGresult *r, ExecStatusType want, const char *what)
{
    int err = PQresultStatus(r) != want;
    if (err)
        fprintf(stderr, "bench_raw_pg: %s: %s", what, PQresultErrorMessage(r));
    PQclear(r);
    return err;
}

static int exec(PGconn *c, const char *sql) { return check(PQexec(c, sql), PGRES_COMMAND_OK, sql); }

static int open_db(void **out, const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fail(c, "connect");
        PQfinish(c);
        return 1;
    }
    *out = c;
    return 0;
}

static void close_db(void *c) { PQfinish(c); }
static const char *engine(void *c)
{
    (void)c;
    return "postgresql";
}

static int empty(void *c)
{
    return exec(c, "DELETE FROM followers") || exec(c, "DELETE FROM post") ||
           exec(c, "DELETE FROM \"user\"");
}

static char *dup_value(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static int64_t int_value(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Prepare `name`: INSERT head VALUES ($1,..),(..) RETURNING id for n rows. */
static int prepare_insert(PGconn *c, const char *name, const char *head, int ncols, int nrows)
{
    size_t size = strlen(head) + (size_t)nrows * (size_t)ncols * 8 + 64;
    char *sql = malloc(size), *w = sql;
    if (!sql)
        return 1;
    w += sprintf(w, "%s VALUES ", head);
    for (int r = 0, p = 1; r < nrows; r++) {
        w += sprintf(w, "%s(", r ? "," : "");
        for (int k = 0; k < ncols; k++)
            w += sprintf(w, "%s$%d", k ? "," : "", p++);
        *w++ = ')';
    }
    strcpy(w, " RETURNING id");
    int err = check(PQprepare(c, name, sql, 0, NULL), PGRES_COMMAND_OK, name);
    free(sql);
    return err;
}

/* The text of every parameter of one batch, and their pointers. */
typedef struct batch {
    char text[BENCH_BATCH * 3][160];
    const char *values[BENCH_BATCH * 3];
} batch;

/* Read one batch's RETURNING ids into `ids`. */
static int read_ids(PGconn *c, int64_t *ids)
{
    PGresult *r = PQgetResult(c);
    int err = PQresultStatus(r) != PGRES_TUPLES_OK;
    if (err)
        fprintf(stderr, "bench_raw_pg: insert: %s", PQresultErrorMessage(r));
    for (int i = 0; !err && i < PQntuples(r); i++)
        ids[i] = int_value(r, i, 0);
    PQclear(r);
    PQclear(PQgetResult(c)); /* the NULL that ends the query's results */
    return err;
}

/* Insert `total` rows in batches through pipeline mode.  fill() writes
 * row `i`'s parameters; ids[i] receives its id. */
static int pipeline_insert(PGconn *c, const char *name, const char *head, int ncols, int total,
                           void (*fill)(const void *ud, int i, char (*text)[160]), const void *ud,
                           int64_t *ids)
{
    char last[64];
    snprintf(last, sizeof last, "%s_last", name);
    int full = total / BENCH_BATCH, rest = total % BENCH_BATCH;
    if ((full && prepare_insert(c, name, head, ncols, BENCH_BATCH)) ||
        (rest && prepare_insert(c, last, head, ncols, rest)))
        return 1;
    batch *b = malloc(sizeof *b);
    if (!b || !PQenterPipelineMode(c)) {
        free(b);
        return fail(c, "pipeline");
    }
    int err = 0, sent = 0, done = 0, nbatches = full + (rest > 0);
    for (int k = 0; k < nbatches && !err; k++) {
        int n = k < full ? BENCH_BATCH : rest;
        for (int r = 0; r < n; r++) {
            fill(ud, k * BENCH_BATCH + r, &b->text[r * ncols]);
            for (int j = 0; j < ncols; j++)
                b->values[r * ncols + j] = b->text[r * ncols + j];
        }
        err =
            !PQsendQueryPrepared(c, k < full ? name : last, n * ncols, b->values, NULL, NULL, 0) ||
            !PQsendFlushRequest(c) || PQflush(c) < 0;
        sent++;
        if (!err && sent - done >= WINDOW) {
            err = read_ids(c, ids + done * BENCH_BATCH);
            done++;
        }
    }
    err = err || !PQpipelineSync(c);
    while (!err && done < sent) {
        err = read_ids(c, ids + done * BENCH_BATCH);
        done++;
    }
    if (!err) {
        PGresult *r = PQgetResult(c);
        err = PQresultStatus(r) != PGRES_PIPELINE_SYNC;
        PQclear(r);
    }
    if (err)
        fail(c, "pipeline insert");
    PQexitPipelineMode(c);
    free(b);
    return err;
}

typedef struct w1_data {
    const bench_cfg *cfg;
    const int64_t *uid;
} w1_data;

static void fill_user(const void *ud, int i, char (*text)[160])
{
    (void)ud;
    bench_username(text[0], 160, i);
    bench_email(text[1], 160, i);
}

static void fill_post(const void *ud, int j, char (*text)[160])
{
    const w1_data *d = ud;
    int i = j / BENCH_POSTS_PER_USER, k = j % BENCH_POSTS_PER_USER;
    bench_body(text[0], 160, i, k);
    bench_timestamp_text(text[1], 160, bench_timestamp(d->cfg, i, k));
    snprintf(text[2], 160, "%lld", (long long)d->uid[i]);
}

static int w1_insert(void *p, const bench_cfg *cfg, bench_out *out)
{
    PGconn *c = p;
    int nposts = cfg->users * BENCH_POSTS_PER_USER;
    int64_t *uid = calloc((size_t)cfg->users, sizeof *uid);
    int64_t *pid = calloc((size_t)nposts, sizeof *pid);
    w1_data d = {cfg, uid};
    int err = !uid || !pid || exec(c, "BEGIN") ||
              pipeline_insert(c, "ins_user", "INSERT INTO \"user\" (username, email)", 2,
                              cfg->users, fill_user, &d, uid) ||
              pipeline_insert(c, "ins_post", "INSERT INTO post (body, timestamp, user_id)", 3,
                              nposts, fill_post, &d, pid) ||
              exec(c, "COMMIT");
    if (err)
        PQclear(PQexec(c, "ROLLBACK"));
    for (int i = 0; i < cfg->users && !err; i++) {
        out->check += uid[i] > 0;
        for (int k = 0; k < BENCH_POSTS_PER_USER; k++)
            out->check += pid[i * BENCH_POSTS_PER_USER + k] > 0; /* user_id sent is uid[i] */
    }
    out->rows = (int64_t)cfg->users + nposts;
    free(uid);
    free(pid);
    return err;
}

static void user_read(const PGresult *r, int row, bench_user *u)
{
    u->id = int_value(r, row, 0);
    u->username = dup_value(r, row, 1);
    u->email = dup_value(r, row, 2);
    u->password_hash = dup_value(r, row, 3);
}

static void post_read(const PGresult *r, int row, bench_post *p)
{
    p->id = int_value(r, row, 0);
    p->body = dup_value(r, row, 1);
    p->timestamp = bench_timestamp_parse(PQgetvalue(r, row, 2));
    p->user_id = int_value(r, row, 3);
}

static int w2_get(void *p, const bench_cfg *cfg, bench_out *out)
{
    PGconn *c = p;
    int *perm = bench_permutation(cfg->users);
    int err = !perm || exec(c, "BEGIN") ||
              check(PQprepare(c, "get_user",
                              "SELECT id, username, email, password_hash FROM \"user\" "
                              "WHERE id = $1",
                              1, NULL),
                    PGRES_COMMAND_OK, "prepare");
    PGresult *m = err ? NULL : PQexec(c, "SELECT min(id) FROM \"user\"");
    int64_t base = m && PQntuples(m) ? int_value(m, 0, 0) : 0;
    PQclear(m);
    for (int i = 0; i < cfg->lookups && !err; i++) {
        char id[32];
        const char *v[1] = {id};
        snprintf(id, sizeof id, "%lld", (long long)(base + perm[i]));
        PGresult *r = PQexecPrepared(c, "get_user", 1, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            err = check(r, PGRES_TUPLES_OK, "W2");
            err = 1;
            break;
        }
        bench_user u;
        user_read(r, 0, &u);
        out->check += bench_user_index(u.username);
        bench_user_free(&u);
        PQclear(r);
    }
    out->rows = cfg->lookups;
    out->statements = cfg->lookups;
    free(perm);
    return exec(c, "COMMIT") || err;
}

static int w3_eager(void *p, const bench_cfg *cfg, bench_out *out)
{
    (void)cfg;
    PGconn *c = p;
    if (exec(c, "BEGIN"))
        return 1;
    PGresult *ru = PQexec(c, "SELECT id, username, email, password_hash FROM \"user\"");
    PGresult *rp = PQexec(c, "SELECT id, body, timestamp, user_id FROM post ORDER BY user_id, id");
    int err = PQresultStatus(ru) != PGRES_TUPLES_OK || PQresultStatus(rp) != PGRES_TUPLES_OK;
    int nu = err ? 0 : PQntuples(ru), np = err ? 0 : PQntuples(rp);
    bench_user *users = malloc(sizeof *users * (size_t)(nu + 1));
    bench_post *posts = malloc(sizeof *posts * (size_t)(np + 1));
    err = err || !users || !posts;
    for (int i = 0; !err && i < nu; i++)
        user_read(ru, i, &users[i]);
    for (int j = 0; !err && j < np; j++)
        post_read(rp, j, &posts[j]);
    PQclear(ru);
    PQclear(rp);
    if (err) { /* nothing was decoded into them */
        free(users);
        free(posts);
    } else
        err = bench_join_and_free(users, (size_t)nu, posts, (size_t)np, out);
    out->statements = 2;
    return exec(c, "COMMIT") || err;
}

static int w4_filter(void *p, const bench_cfg *cfg, bench_out *out)
{
    PGconn *c = p;
    int err = exec(c, "BEGIN") ||
              check(PQprepare(c, "filter_users",
                              "SELECT id, username, email, password_hash FROM \"user\" "
                              "WHERE username LIKE $1 ORDER BY username DESC LIMIT $2",
                              2, NULL),
                    PGRES_COMMAND_OK, "prepare");
    const char *v[2] = {"user1%", "20"};
    for (int n = 0; n < cfg->queries && !err; n++) {
        PGresult *r = PQexecPrepared(c, "filter_users", 2, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            err = check(r, PGRES_TUPLES_OK, "W4");
            break;
        }
        bench_user rows[20];
        int k = PQntuples(r) < 20 ? PQntuples(r) : 20;
        for (int i = 0; i < k; i++)
            user_read(r, i, &rows[i]);
        PQclear(r);
        for (int i = 0; i < k; i++) {
            out->check += bench_user_index(rows[i].username);
            bench_user_free(&rows[i]);
        }
        out->rows += k;
    }
    out->statements = cfg->queries;
    return exec(c, "COMMIT") || err;
}

static int w5_stream(PGconn *c, bench_out *out);

static int w5_read(void *p, const bench_cfg *cfg, bench_out *out)
{
    PGconn *c = p;
    if (cfg->streamed)
        return w5_stream(c, out);
    if (exec(c, "BEGIN"))
        return 1;
    PGresult *r = PQexec(c, "SELECT id, body, timestamp, user_id FROM post");
    int err = PQresultStatus(r) != PGRES_TUPLES_OK;
    int n = err ? 0 : PQntuples(r);
    bench_post *rows = malloc(sizeof *rows * (size_t)(n + 1));
    err = err || !rows;
    for (int i = 0; !err && i < n; i++)
        post_read(r, i, &rows[i]);
    PQclear(r);
    for (int i = 0; !err && i < n; i++) {
        out->check += bench_post_check(rows[i].body, rows[i].timestamp);
        free(rows[i].body);
    }
    free(rows);
    out->rows = n;
    out->statements = 1;
    return exec(c, "COMMIT") || err;
}

static int w5_stream(PGconn *c, bench_out *out)
{
    if (exec(c, "BEGIN"))
        return 1;
    int err =
        !PQsendQuery(c, "SELECT id, body, timestamp, user_id FROM post") || !PQsetSingleRowMode(c);
    for (PGresult *r; !err && (r = PQgetResult(c));) {
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_SINGLE_TUPLE) {
            bench_post row;
            post_read(r, 0, &row);
            out->check += bench_post_check(row.body, row.timestamp);
            free(row.body);
            out->rows++;
        } else if (s != PGRES_TUPLES_OK)
            err = 1;
        PQclear(r);
    }
    if (err)
        fail(c, "W5S");
    out->statements = 1;
    return exec(c, "COMMIT") || err;
}

/* ---- W6: 8 threads, a connection each, the row locked ------------------------- */

typedef struct w6_shared {
    const char *url;
    char ts[40];
} w6_shared;

typedef struct w6_conn {
    PGconn *c;
    char ts[40];
} w6_conn;

static void w6_close(void *p)
{
    w6_conn *w = p;
    PQfinish(w->c);
    free(w);
}

static void *w6_open(void *shared)
{
    w6_shared *sh = shared;
    w6_conn *w = calloc(1, sizeof *w);
    void *c = NULL;
    if (!w || open_db(&c, sh->url)) {
        free(w);
        return NULL;
    }
    w->c = c;
    memcpy(w->ts, sh->ts, sizeof w->ts);
    if (check(PQprepare(w->c, "w6_get", "SELECT password_hash FROM \"user\" WHERE id = $1 FOR UPDATE",
                        1, NULL),
              PGRES_COMMAND_OK, "W6 prepare") ||
        check(PQprepare(w->c, "w6_set", "UPDATE \"user\" SET password_hash = $1 WHERE id = $2", 2,
                        NULL),
              PGRES_COMMAND_OK, "W6 prepare") ||
        check(PQprepare(w->c, "w6_post",
                        "INSERT INTO post (body, timestamp, user_id) VALUES ('w6', $1, $2)", 2,
                        NULL),
              PGRES_COMMAND_OK, "W6 prepare")) {
        w6_close(w);
        return NULL;
    }
    return w;
}

/* Serialization failure or deadlock: worth another attempt. */
static bool retryable(const PGresult *r)
{
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return s && (!strcmp(s, "40001") || !strcmp(s, "40P01"));
}

static int w6_unit(void *p, int64_t uid, int64_t *retries)
{
    w6_conn *w = p;
    char id[24], text[24];
    snprintf(id, sizeof id, "%lld", (long long)uid);
    for (int attempt = 0; attempt < 5; attempt++) {
        if (attempt)
            (*retries)++;
        if (exec(w->c, "BEGIN"))
            return 1;
        const char *v1[1] = {id};
        PGresult *r = PQexecPrepared(w->c, "w6_get", 1, v1, NULL, NULL, 0);
        bool again = false, ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        long long n = ok && !PQgetisnull(r, 0, 0) ? atoll(PQgetvalue(r, 0, 0)) : 0;
        again = !ok && retryable(r);
        PQclear(r);
        if (ok) {
            snprintf(text, sizeof text, "%lld", n + 1);
            const char *v2[2] = {text, id}, *v3[2] = {w->ts, id};
            r = PQexecPrepared(w->c, "w6_set", 2, v2, NULL, NULL, 0);
            ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            again = !ok && retryable(r);
            PQclear(r);
            if (ok) {
                r = PQexecPrepared(w->c, "w6_post", 2, v3, NULL, NULL, 0);
                ok = PQresultStatus(r) == PGRES_COMMAND_OK;
                again = !ok && retryable(r);
                PQclear(r);
            }
        }
        if (ok) {
            r = PQexec(w->c, "COMMIT");
            ok = PQresultStatus(r) == PGRES_COMMAND_OK && !strcmp(PQcmdStatus(r), "COMMIT");
            again = !ok && retryable(r);
            PQclear(r);
            if (ok)
                return 0;
        } else {
            exec(w->c, "ROLLBACK");
        }
        if (!again)
            return fail(w->c, "W6 unit");
    }
    return 1;
}

static int64_t scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int64_t v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? int_value(r, 0, 0) : -1;
    PQclear(r);
    return v;
}

static int w6_threads(void *p, const bench_cfg *cfg, bench_out *out)
{
    PGconn *c = p;
    if (exec(c, BENCH_W6_RESET_USERS) ||
        exec(c, BENCH_W6_RESET_POSTS))
        return 1;
    PGresult *r = PQexec(c, "SELECT id FROM \"user\" ORDER BY id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return fail(c, "W6 ids");
    }
    size_t n = (size_t)PQntuples(r);
    int64_t *uids = malloc((n ? n : 1) * sizeof *uids);
    for (size_t i = 0; uids && i < n; i++)
        uids[i] = int_value(r, (int)i, 0);
    PQclear(r);
    if (!uids)
        return 1;
    w6_shared sh = {cfg->url, ""};
    bench_timestamp_text(sh.ts, sizeof sh.ts, bench_timestamp(cfg, 0, 0));
    bench_w6_ops ops = {&sh, w6_open, w6_unit, w6_close};
    int err = bench_w6_threads(cfg, uids, n, &ops, out);
    free(uids);
    if (err)
        return 1;
    bench_w6_verdict(cfg,
                     scalar(c, BENCH_W6_COUNTER_SUM),
                     scalar(c, BENCH_W6_POSTS), out);
    return exec(c, BENCH_W6_RESET_USERS) ||
           exec(c, BENCH_W6_RESET_POSTS);
}

int main(int argc, char **argv)
{
    static const bench_impl impl = {"raw",
                                    open_db,
                                    close_db,
                                    engine,
                                    empty,
                                    {w1_insert, w2_get, w3_eager, w4_filter, w5_read},
                                    w6_threads};
    return bench_main(argc, argv, &impl);
}
