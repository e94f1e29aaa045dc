/*
 * bench_strata.c - the workloads through strata's session and query API,
 * written as an application would write them (the microblog's models from
 * examples/microblog).  The engine is the URL's.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <strata.h>

#include "../examples/microblog/models.h"
#include "workload.h"

typedef struct ctx {
    strata_db *db;
} ctx;

static int fail(strata_session *s, strata_db *db, const char *what, int rc)
{
    fprintf(stderr, "bench_strata: %s: %s (%s)\n", what,
            s ? strata_session_errmsg(s) : strata_db_errmsg(db), strata_errname(rc));
    return 1;
}

static int open_db(void **out, const char *url)
{
    ctx *c = calloc(1, sizeof *c);
    if (!c)
        return 1;
    if (strata_db_open(&c->db, url) != STRATA_OK) {
        fprintf(stderr, "bench_strata: %s\n", strata_db_errmsg(c->db));
        strata_db_close(c->db);
        free(c);
        return 1;
    }
    *out = c;
    return 0;
}

static void close_db(void *p)
{
    ctx *c = p;
    strata_db_close(c->db);
    free(c);
}

static const char *engine(void *p) { return strata_db_backend(((ctx *)p)->db); }

static int empty(void *p)
{
    ctx *c = p;
    int rc = strata_db_exec(c->db, "DELETE FROM followers");
    if (rc == STRATA_OK)
        rc = strata_db_exec(c->db, "DELETE FROM post");
    if (rc == STRATA_OK)
        rc = strata_db_exec(c->db, "DELETE FROM \"user\"");
    return rc == STRATA_OK ? 0 : fail(NULL, c->db, "empty the tables", rc);
}

static int64_t statements(ctx *c) { return strata_db_counter(c->db, STRATA_COUNTER_STATEMENTS); }

/* The read workloads run in one transaction, as the raw programs do.  It
 * is opened here rather than by the session so that the statement count
 * is the workload's queries alone. */
static int begin(ctx *c, int64_t *st0)
{
    int rc = strata_db_begin(c->db);
    *st0 = statements(c);
    return rc == STRATA_OK ? 0 : fail(NULL, c->db, "begin", rc);
}

static int end(ctx *c, int64_t st0, bench_out *out, int failed)
{
    out->statements = statements(c) - st0;
    int rc = strata_db_commit(c->db);
    return failed || (rc != STRATA_OK && fail(NULL, c->db, "commit", rc));
}

/* W1: every user and post added to one session, one commit. */
static int w1_insert(void *p, const bench_cfg *cfg, bench_out *out)
{
    ctx *c = p;
    int64_t st0 = statements(c);
    strata_session *s;
    int rc = strata_session_new(&s, c->db);
    User **users = calloc((size_t)cfg->users, sizeof *users);
    Post **posts = calloc((size_t)cfg->users * BENCH_POSTS_PER_USER, sizeof *posts);
    char text[160];
    if (!users || !posts)
        rc = STRATA_E_NOMEM;
    for (int i = 0; i < cfg->users && rc == STRATA_OK; i++) {
        User *u;
        if ((rc = strata_new(s, &user_model, &u)) != STRATA_OK)
            break;
        bench_username(text, sizeof text, i);
        strata_set_text(&u->username, text);
        bench_email(text, sizeof text, i);
        strata_set_text(&u->email, text);
        rc = strata_add(u);
        users[i] = u;
    }
    for (int i = 0; i < cfg->users && rc == STRATA_OK; i++)
        for (int k = 0; k < BENCH_POSTS_PER_USER && rc == STRATA_OK; k++) {
            Post *po;
            if ((rc = strata_new(s, &post_model, &po)) != STRATA_OK)
                break;
            bench_body(text, sizeof text, i, k);
            strata_set_text(&po->body, text);
            po->timestamp = bench_timestamp(cfg, i, k);
            strata_set_related(po, "author", users[i]);
            rc = strata_add(po);
            posts[i * BENCH_POSTS_PER_USER + k] = po;
        }
    if (rc == STRATA_OK)
        rc = strata_session_commit(s);
    if (rc == STRATA_OK) {
        /* The ids the database gave are on the objects, and each post
         * points at its author's. */
        for (int i = 0; i < cfg->users; i++) {
            out->check += users[i]->id > 0;
            for (int k = 0; k < BENCH_POSTS_PER_USER; k++) {
                const Post *po = posts[i * BENCH_POSTS_PER_USER + k];
                out->check += po->id > 0 && po->user_id == users[i]->id;
            }
        }
        out->rows = (int64_t)cfg->users * (BENCH_POSTS_PER_USER + 1);
    } else
        fail(s, c->db, "W1", rc);
    free(users);
    free(posts);
    strata_session_free(s);
    out->statements = statements(c) - st0;
    return rc == STRATA_OK ? 0 : 1;
}

static int first_user_id(ctx *c, int64_t *out)
{
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, c->db, "SELECT min(id) FROM \"user\"");
    if (rc == STRATA_OK && (rc = strata_stmt_step(st)) == STRATA_ROW)
        rc = strata_stmt_column_int64(st, 0, out);
    strata_stmt_finalize(st);
    return rc == STRATA_OK ? 0 : fail(NULL, c->db, "min(id)", rc);
}

/* W2: strata_get of every user id once, in a shuffled order. */
static int w2_get(void *p, const bench_cfg *cfg, bench_out *out)
{
    ctx *c = p;
    int64_t base, st0;
    if (begin(c, &st0) || first_user_id(c, &base))
        return 1;
    st0 = statements(c);
    int *perm = bench_permutation(cfg->users);
    strata_session *s;
    int rc = perm ? strata_session_new(&s, c->db) : STRATA_E_NOMEM;
    for (int i = 0; i < cfg->lookups && rc == STRATA_OK; i++) {
        User *u;
        if ((rc = strata_get(s, &user_model, base + perm[i], &u)) == STRATA_OK)
            out->check += bench_user_index(u->username);
    }
    if (rc != STRATA_OK)
        fail(s, c->db, "W2", rc);
    out->rows = cfg->lookups;
    strata_session_free(s);
    free(perm);
    return end(c, st0, out, rc != STRATA_OK);
}

/* W3: every user with its posts, loaded eagerly in batches. */
static int w3_eager(void *p, const bench_cfg *cfg, bench_out *out)
{
    (void)cfg;
    ctx *c = p;
    int64_t st0;
    if (begin(c, &st0))
        return 1;
    strata_session *s;
    strata_list *users = NULL;
    int rc = strata_session_new(&s, c->db);
    strata_query *q = strata_query_new(s, &user_model);
    strata_query_load(q, "posts");
    if (rc == STRATA_OK)
        rc = strata_query_all(q, &users);
    strata_query_free(q);
    for (size_t i = 0; rc == STRATA_OK && i < users->count; i++) {
        const strata_list *posts;
        User *u = users->items[i];
        if ((rc = strata_related_list(u, "posts", &posts)) == STRATA_OK) {
            out->check += bench_user_index(u->username) * (int64_t)posts->count;
            out->rows += 1 + (int64_t)posts->count;
        }
    }
    if (rc != STRATA_OK)
        fail(s, c->db, "W3", rc);
    strata_list_free(users);
    strata_session_free(s);
    return end(c, st0, out, rc != STRATA_OK);
}

/* W4: the same filtered, ordered, limited query, built each time. */
static int w4_filter(void *p, const bench_cfg *cfg, bench_out *out)
{
    ctx *c = p;
    int64_t st0;
    if (begin(c, &st0))
        return 1;
    strata_session *s;
    int rc = strata_session_new(&s, c->db);
    for (int n = 0; n < cfg->queries && rc == STRATA_OK; n++) {
        strata_query *q = strata_query_new(s, &user_model);
        strata_query_filter(q, strata_c("username", STRATA_LIKE, strata_text("user1%")));
        strata_query_order_by(q, "username", STRATA_DESC);
        strata_query_limit(q, 20);
        strata_list *l;
        if ((rc = strata_query_all(q, &l)) == STRATA_OK) {
            for (size_t i = 0; i < l->count; i++)
                out->check += bench_user_index(((User *)l->items[i])->username);
            out->rows += (int64_t)l->count;
            strata_list_free(l);
        }
        strata_query_free(q);
    }
    if (rc != STRATA_OK)
        fail(s, c->db, "W4", rc);
    strata_session_free(s);
    return end(c, st0, out, rc != STRATA_OK);
}

/* W5: every post as an object in one list; W5S: the same streamed. */
static int w5_read(void *p, const bench_cfg *cfg, bench_out *out)
{
    ctx *c = p;
    bool streamed = cfg->streamed;
    int64_t st0;
    if (begin(c, &st0))
        return 1;
    strata_session *s;
    int rc = strata_session_new(&s, c->db);
    strata_query *q = strata_query_new(s, &post_model);
    if (streamed) {
        strata_iter *it = NULL;
        if (rc == STRATA_OK)
            rc = strata_query_iter(q, &it);
        Post *po;
        while (rc == STRATA_OK && (rc = strata_iter_next(it, &po)) == STRATA_ROW) {
            out->check += bench_post_check(po->body, po->timestamp);
            out->rows++;
            rc = STRATA_OK;
        }
        if (rc == STRATA_DONE)
            rc = STRATA_OK;
        strata_iter_free(it);
    } else {
        strata_list *l = NULL;
        if (rc == STRATA_OK)
            rc = strata_query_all(q, &l);
        for (size_t i = 0; rc == STRATA_OK && i < l->count; i++) {
            const Post *po = l->items[i];
            out->check += bench_post_check(po->body, po->timestamp);
        }
        out->rows = l ? (int64_t)l->count : 0;
        strata_list_free(l);
    }
    strata_query_free(q);
    if (rc != STRATA_OK)
        fail(s, c->db, streamed ? "W5S" : "W5", rc);
    strata_session_free(s);
    return end(c, st0, out, rc != STRATA_OK);
}

/* ---- W6: 8 threads through one pool ---------------------------------------- */

typedef struct w6_args {
    int64_t uid, ts;
} w6_args;

/* The unit of work, as a service would write it: lock the user's row,
 * bump its counter, add a post. */
static int w6_work(strata_session *s, void *p)
{
    const w6_args *a = p;
    User *u;
    int rc = strata_get_for_update(s, &user_model, a->uid, 0, &u);
    if (rc != STRATA_OK)
        return rc;
    char n[24];
    snprintf(n, sizeof n, "%lld", (u->password_hash ? atoll(u->password_hash) : 0) + 1);
    Post *post;
    if ((rc = strata_set_text(&u->password_hash, n)) != STRATA_OK ||
        (rc = strata_new(s, &post_model, &post)) != STRATA_OK ||
        (rc = strata_set_text(&post->body, "w6")) != STRATA_OK)
        return rc;
    post->timestamp = a->ts;
    post->user_id = a->uid;
    return strata_add(post);
}

typedef struct w6_pool {
    strata_pool *pool;
    int64_t ts;
} w6_pool;

static void *w6_open(void *shared) { return shared; }
static void w6_close(void *conn) { (void)conn; }

static int w6_unit(void *conn, int64_t uid, int64_t *retries)
{
    (void)retries; /* the pool counts them */
    w6_pool *wp = conn;
    w6_args a = {uid, wp->ts};
    int rc = strata_pool_run(wp->pool, w6_work, &a, NULL);
    if (rc != STRATA_OK)
        fprintf(stderr, "bench_strata: W6 unit: %s\n", strata_pool_errmsg(wp->pool));
    return rc != STRATA_OK;
}

/* Untimed: the counters and W6's posts back to nothing. */
static int w6_reset(ctx *c)
{
    int rc = strata_db_exec(c->db, BENCH_W6_RESET_USERS);
    if (rc == STRATA_OK)
        rc = strata_db_exec(c->db, BENCH_W6_RESET_POSTS);
    return rc == STRATA_OK ? 0 : fail(NULL, c->db, "W6 reset", rc);
}

static int64_t w6_scalar(ctx *c, const char *sql)
{
    strata_stmt *st;
    int64_t v = -1;
    if (strata_stmt_prepare(&st, c->db, sql) == STRATA_OK && strata_stmt_step(st) == STRATA_ROW)
        strata_stmt_column_int64(st, 0, &v);
    strata_stmt_finalize(st);
    return v;
}

static int w6_pooled(void *p, const bench_cfg *cfg, bench_out *out)
{
    ctx *c = p;
    if (w6_reset(c))
        return 1;
    int64_t *uids = malloc((size_t)cfg->users * sizeof *uids);
    size_t n = 0;
    strata_stmt *st;
    int rc = uids ? strata_stmt_prepare(&st, c->db, "SELECT id FROM \"user\" ORDER BY id")
                  : STRATA_E_NOMEM;
    while (rc == STRATA_OK && (rc = strata_stmt_step(st)) == STRATA_ROW && n < (size_t)cfg->users)
        rc = strata_stmt_column_int64(st, 0, &uids[n++]);
    if (rc == STRATA_DONE || rc == STRATA_ROW)
        rc = STRATA_OK;
    if (uids)
        strata_stmt_finalize(st);
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    o.max_size = BENCH_W6_THREADS;
    w6_pool wp = {NULL, bench_timestamp(cfg, 0, 0)};
    if (rc == STRATA_OK && (rc = strata_pool_open(&wp.pool, cfg->url, &o)) != STRATA_OK)
        fprintf(stderr, "bench_strata: W6 pool: %s\n", strata_pool_errmsg(wp.pool));
    bench_w6_ops ops = {&wp, w6_open, w6_unit, w6_close};
    int err = rc != STRATA_OK || bench_w6_threads(cfg, uids, n, &ops, out);
    strata_pool_statistics stats;
    if (!err && strata_pool_stats(wp.pool, &stats) == STRATA_OK)
        out->retries = stats.retries;
    strata_pool_close(wp.pool);
    free(uids);
    if (err)
        return 1;
    bench_w6_verdict(cfg,
                     w6_scalar(c, BENCH_W6_COUNTER_SUM),
                     w6_scalar(c, BENCH_W6_POSTS), out);
    return w6_reset(c);
}

int main(int argc, char **argv)
{
    static const bench_impl impl = {
        "strata", open_db,   close_db, engine, empty, {w1_insert, w2_get, w3_eager, w4_filter, w5_read},
        w6_pooled};
    return bench_main(argc, argv, &impl);
}
