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

int main(int argc, char **argv)
{
    static const bench_impl impl = {"strata", open_db,
                                    close_db, engine,
                                    empty,    {w1_insert, w2_get, w3_eager, w4_filter, w5_read}};
    return bench_main(argc, argv, &impl);
}
