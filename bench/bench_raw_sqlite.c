/*
 * bench_raw_sqlite.c - the workloads written straight against sqlite3, the
 * way a careful C programmer would: statements prepared once and reused,
 * one transaction, multi-row INSERT ... RETURNING batches, rows decoded
 * into plain structs.  The connection gets the same settings strata gives
 * its own (WAL, foreign keys on, a busy timeout, case-sensitive LIKE as on
 * PostgreSQL, which lets LIKE 'user1%' use the index), so the two do the same
 * work.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "workload.h"

static int fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "bench_raw_sqlite: %s: %s\n", what, sqlite3_errmsg(db));
    return 1;
}

static int open_db(void **out, const char *url)
{
    const char *path = !strncmp(url, "sqlite:///", 10) ? url + 10 : NULL;
    sqlite3 *db = NULL;
    if (!path) {
        fprintf(stderr, "bench_raw_sqlite: wants a sqlite:///PATH URL\n");
        return 1;
    }
    /* Each connection is used by one thread (W6 opens one per thread), so
     * SQLite's own mutex is off, as strata opens its connections. */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA foreign_keys=ON; PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; "
                     "PRAGMA case_sensitive_like=ON",
                     NULL, NULL, NULL) != SQLITE_OK) {
        fail(db, path);
        sqlite3_close(db);
        return 1;
    }
    *out = db;
    return 0;
}

static void close_db(void *db) { sqlite3_close(db); }
static const char *engine(void *db)
{
    (void)db;
    return "sqlite";
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(db, sql);
}

static int empty(void *db)
{
    return exec(db, "DELETE FROM followers; DELETE FROM post; DELETE FROM \"user\"");
}

static char *dup_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

/* "INSERT INTO t (cols) VALUES (?,..),(?,..) ... RETURNING id" for n rows. */
static char *multi_insert(const char *head, int ncols, int nrows)
{
    size_t size = strlen(head) + (size_t)nrows * (size_t)(ncols * 2 + 4) + 32;
    char *sql = malloc(size), *w = sql;
    if (!sql)
        return NULL;
    w += sprintf(w, "%s VALUES ", head);
    for (int r = 0; r < nrows; r++) {
        *w++ = r ? ',' : ' ';
        *w++ = '(';
        for (int c = 0; c < ncols; c++)
            w += sprintf(w, c ? ",?" : "?");
        *w++ = ')';
    }
    strcpy(w, " RETURNING id");
    return sql;
}

/* Run the prepared multi-row insert; the ids come back in `ids`. */
static int run_batch(sqlite3 *db, sqlite3_stmt *st, int64_t *ids)
{
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : fail(db, "insert");
}

static int w1_insert(void *p, const bench_cfg *cfg, bench_out *out)
{
    sqlite3 *db = p;
    int nposts = cfg->users * BENCH_POSTS_PER_USER;
    int64_t *uid = malloc(sizeof *uid * (size_t)cfg->users);
    int64_t *pid = malloc(sizeof *pid * (size_t)nposts);
    int64_t *pauthor = malloc(sizeof *pauthor * (size_t)nposts);
    sqlite3_stmt *ins_u = NULL, *ins_p = NULL, *last_u = NULL, *last_p = NULL;
    char text[160];
    int err = !uid || !pid || !pauthor || exec(db, "BEGIN");
    for (int i = 0; i < cfg->users && !err; i += BENCH_BATCH) {
        int n = cfg->users - i < BENCH_BATCH ? cfg->users - i : BENCH_BATCH;
        sqlite3_stmt **st = n == BENCH_BATCH ? &ins_u : &last_u;
        if (!*st) {
            char *sql = multi_insert("INSERT INTO \"user\" (username, email)", 2, n);
            err = !sql || sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
            free(sql);
            if (err)
                break;
        }
        for (int r = 0; r < n; r++) {
            bench_username(text, sizeof text, i + r);
            sqlite3_bind_text(*st, 2 * r + 1, text, -1, SQLITE_TRANSIENT);
            bench_email(text, sizeof text, i + r);
            sqlite3_bind_text(*st, 2 * r + 2, text, -1, SQLITE_TRANSIENT);
        }
        err = run_batch(db, *st, uid + i);
    }
    for (int j = 0; j < nposts && !err; j += BENCH_BATCH) {
        int n = nposts - j < BENCH_BATCH ? nposts - j : BENCH_BATCH;
        sqlite3_stmt **st = n == BENCH_BATCH ? &ins_p : &last_p;
        if (!*st) {
            char *sql = multi_insert("INSERT INTO post (body, timestamp, user_id)", 3, n);
            err = !sql || sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
            free(sql);
            if (err)
                break;
        }
        for (int r = 0; r < n; r++) {
            int i = (j + r) / BENCH_POSTS_PER_USER, k = (j + r) % BENCH_POSTS_PER_USER;
            bench_body(text, sizeof text, i, k);
            sqlite3_bind_text(*st, 3 * r + 1, text, -1, SQLITE_TRANSIENT);
            bench_timestamp_text(text, sizeof text, bench_timestamp(cfg, i, k));
            sqlite3_bind_text(*st, 3 * r + 2, text, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(*st, 3 * r + 3, uid[i]);
            pauthor[j + r] = uid[i];
        }
        err = run_batch(db, *st, pid + j);
    }
    if (err)
        fail(db, "W1");
    err = err || exec(db, "COMMIT");
    if (err)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    for (int i = 0; i < cfg->users && !err; i++) {
        out->check += uid[i] > 0;
        for (int k = 0; k < BENCH_POSTS_PER_USER; k++)
            out->check += pid[i * BENCH_POSTS_PER_USER + k] > 0 &&
                          pauthor[i * BENCH_POSTS_PER_USER + k] == uid[i];
    }
    out->rows = (int64_t)cfg->users + nposts;
    sqlite3_finalize(ins_u);
    sqlite3_finalize(ins_p);
    sqlite3_finalize(last_u);
    sqlite3_finalize(last_p);
    free(uid);
    free(pid);
    free(pauthor);
    return err;
}

static void user_read(sqlite3_stmt *st, bench_user *u)
{
    u->id = sqlite3_column_int64(st, 0);
    u->username = dup_text(st, 1);
    u->email = dup_text(st, 2);
    u->password_hash = dup_text(st, 3);
}

static void post_read(sqlite3_stmt *st, bench_post *p)
{
    p->id = sqlite3_column_int64(st, 0);
    p->body = dup_text(st, 1);
    p->timestamp = bench_timestamp_parse((const char *)sqlite3_column_text(st, 2));
    p->user_id = sqlite3_column_int64(st, 3);
}

static int w2_get(void *p, const bench_cfg *cfg, bench_out *out)
{
    sqlite3 *db = p;
    sqlite3_stmt *st = NULL, *min = NULL;
    int64_t base = 0;
    int *perm = bench_permutation(cfg->users);
    int err = !perm || exec(db, "BEGIN") ||
              sqlite3_prepare_v2(db, "SELECT min(id) FROM \"user\"", -1, &min, NULL) ||
              sqlite3_prepare_v3(db,
                                 "SELECT id, username, email, password_hash FROM \"user\" "
                                 "WHERE id = ?",
                                 -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (!err && sqlite3_step(min) == SQLITE_ROW)
        base = sqlite3_column_int64(min, 0);
    for (int i = 0; i < cfg->lookups && !err; i++) {
        sqlite3_bind_int64(st, 1, base + perm[i]);
        if (sqlite3_step(st) != SQLITE_ROW) {
            err = fail(db, "W2");
            break;
        }
        bench_user u;
        user_read(st, &u);
        out->check += bench_user_index(u.username);
        bench_user_free(&u);
        sqlite3_reset(st);
    }
    out->rows = cfg->lookups;
    sqlite3_finalize(st);
    sqlite3_finalize(min);
    free(perm);
    exec(db, "COMMIT");
    out->statements = cfg->lookups;
    return err;
}

/* W3: all users, then all posts ordered by author, attached through an
 * index from user id to position. */
static int w3_eager(void *p, const bench_cfg *cfg, bench_out *out)
{
    (void)cfg;
    sqlite3 *db = p;
    sqlite3_stmt *su = NULL, *sp = NULL;
    size_t nu = 0, cap = 1024, np = 0, pcap = 1024;
    bench_user *users = malloc(sizeof *users * cap);
    bench_post *posts = malloc(sizeof *posts * pcap);
    int err = !users || !posts || exec(db, "BEGIN") ||
              sqlite3_prepare_v2(db, "SELECT id, username, email, password_hash FROM \"user\"", -1,
                                 &su, NULL) ||
              sqlite3_prepare_v2(db,
                                 "SELECT id, body, timestamp, user_id FROM post ORDER BY "
                                 "user_id, id",
                                 -1, &sp, NULL);
    while (!err && sqlite3_step(su) == SQLITE_ROW) {
        if (nu == cap && !(users = realloc(users, sizeof *users * (cap *= 2))))
            return 1;
        user_read(su, &users[nu++]);
    }
    while (!err && sqlite3_step(sp) == SQLITE_ROW) {
        if (np == pcap && !(posts = realloc(posts, sizeof *posts * (pcap *= 2))))
            return 1;
        post_read(sp, &posts[np++]);
    }
    err = bench_join_and_free(users, nu, posts, np, out) || err;
    sqlite3_finalize(su);
    sqlite3_finalize(sp);
    exec(db, "COMMIT");
    out->statements = 2;
    return err;
}

static int w4_filter(void *p, const bench_cfg *cfg, bench_out *out)
{
    sqlite3 *db = p;
    sqlite3_stmt *st = NULL;
    int err = exec(db, "BEGIN") ||
              sqlite3_prepare_v3(db,
                                 "SELECT id, username, email, password_hash FROM \"user\" "
                                 "WHERE username LIKE ? ORDER BY username DESC LIMIT ?",
                                 -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    for (int n = 0; n < cfg->queries && !err; n++) {
        bench_user rows[20];
        int k = 0;
        sqlite3_bind_text(st, 1, "user1%", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, 20);
        while (sqlite3_step(st) == SQLITE_ROW && k < 20)
            user_read(st, &rows[k++]);
        sqlite3_reset(st);
        for (int i = 0; i < k; i++) {
            out->check += bench_user_index(rows[i].username);
            bench_user_free(&rows[i]);
        }
        out->rows += k;
    }
    sqlite3_finalize(st);
    exec(db, "COMMIT");
    out->statements = cfg->queries;
    return err;
}

static int w5_read(void *p, const bench_cfg *cfg, bench_out *out)
{
    sqlite3 *db = p;
    bool streamed = cfg->streamed;
    sqlite3_stmt *st = NULL;
    size_t n = 0, cap = 1024;
    bench_post *rows = streamed ? NULL : malloc(sizeof *rows * cap);
    int err =
        (!streamed && !rows) || exec(db, "BEGIN") ||
        sqlite3_prepare_v2(db, "SELECT id, body, timestamp, user_id FROM post", -1, &st, NULL);
    while (!err && sqlite3_step(st) == SQLITE_ROW) {
        bench_post one, *r = &one;
        if (!streamed) {
            if (n == cap && !(rows = realloc(rows, sizeof *rows * (cap *= 2))))
                return 1;
            r = &rows[n];
        }
        post_read(st, r);
        n++;
        if (streamed) {
            out->check += bench_post_check(one.body, one.timestamp);
            free(one.body);
        }
    }
    for (size_t i = 0; rows && i < n; i++) {
        out->check += bench_post_check(rows[i].body, rows[i].timestamp);
        free(rows[i].body);
    }
    free(rows);
    out->rows = (int64_t)n;
    sqlite3_finalize(st);
    exec(db, "COMMIT");
    out->statements = 1;
    return err;
}

/* ---- W6: 8 threads, a connection each, BEGIN IMMEDIATE ---------------------- */

typedef struct w6_conn {
    sqlite3 *db;
    sqlite3_stmt *begin, *get, *set, *post, *commit, *rollback;
    char ts[40];
} w6_conn;

typedef struct w6_shared {
    const char *url;
    char ts[40];
} w6_shared;

static void w6_close(void *p)
{
    w6_conn *w = p;
    sqlite3_finalize(w->begin);
    sqlite3_finalize(w->get);
    sqlite3_finalize(w->set);
    sqlite3_finalize(w->post);
    sqlite3_finalize(w->commit);
    sqlite3_finalize(w->rollback);
    sqlite3_close(w->db);
    free(w);
}

static void *w6_open(void *shared)
{
    w6_shared *sh = shared;
    w6_conn *w = calloc(1, sizeof *w);
    void *db = NULL;
    if (!w || open_db(&db, sh->url)) {
        free(w);
        return NULL;
    }
    w->db = db;
    memcpy(w->ts, sh->ts, sizeof w->ts);
    const int p = SQLITE_PREPARE_PERSISTENT;
    if (sqlite3_prepare_v3(w->db, "BEGIN IMMEDIATE", -1, p, &w->begin, NULL) ||
        sqlite3_prepare_v3(w->db, "SELECT password_hash FROM \"user\" WHERE id = ?", -1, p, &w->get,
                           NULL) ||
        sqlite3_prepare_v3(w->db, "UPDATE \"user\" SET password_hash = ? WHERE id = ?", -1, p,
                           &w->set, NULL) ||
        sqlite3_prepare_v3(w->db,
                           "INSERT INTO post (body, timestamp, user_id) VALUES ('w6', ?, ?)", -1,
                           p, &w->post, NULL) ||
        sqlite3_prepare_v3(w->db, "COMMIT", -1, p, &w->commit, NULL) ||
        sqlite3_prepare_v3(w->db, "ROLLBACK", -1, p, &w->rollback, NULL)) {
        fail(w->db, "W6 prepare");
        w6_close(w);
        return NULL;
    }
    return w;
}

static int step_reset(sqlite3_stmt *st, int want)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == want ? SQLITE_OK : rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

static int w6_unit(void *p, int64_t uid, int64_t *retries)
{
    w6_conn *w = p;
    for (int attempt = 0; attempt < 5; attempt++) {
        if (attempt)
            (*retries)++;
        int rc = step_reset(w->begin, SQLITE_DONE);
        if ((rc & 0xff) == SQLITE_BUSY)
            continue;
        if (rc != SQLITE_OK)
            return fail(w->db, "W6 begin");
        sqlite3_bind_int64(w->get, 1, uid);
        long long n = -1;
        if (sqlite3_step(w->get) == SQLITE_ROW)
            n = sqlite3_column_type(w->get, 0) == SQLITE_NULL ? 0 : sqlite3_column_int64(w->get, 0);
        sqlite3_reset(w->get);
        char text[24];
        snprintf(text, sizeof text, "%lld", n + 1);
        sqlite3_bind_text(w->set, 1, text, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(w->set, 2, uid);
        sqlite3_bind_text(w->post, 1, w->ts, -1, SQLITE_STATIC);
        sqlite3_bind_int64(w->post, 2, uid);
        if (n >= 0 && (rc = step_reset(w->set, SQLITE_DONE)) == SQLITE_OK &&
            (rc = step_reset(w->post, SQLITE_DONE)) == SQLITE_OK &&
            (rc = step_reset(w->commit, SQLITE_DONE)) == SQLITE_OK)
            return 0;
        step_reset(w->rollback, SQLITE_DONE);
        if ((rc & 0xff) != SQLITE_BUSY)
            return fail(w->db, "W6 unit");
    }
    return 1;
}

static int64_t scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int w6_threads(void *p, const bench_cfg *cfg, bench_out *out)
{
    sqlite3 *db = p;
    if (exec(db, BENCH_W6_RESET_USERS "; " BENCH_W6_RESET_POSTS))
        return 1;
    int64_t *uids = malloc((size_t)cfg->users * sizeof *uids);
    size_t n = 0;
    sqlite3_stmt *st = NULL;
    if (!uids || sqlite3_prepare_v2(db, "SELECT id FROM \"user\" ORDER BY id", -1, &st, NULL)) {
        free(uids);
        return fail(db, "W6 ids");
    }
    while (sqlite3_step(st) == SQLITE_ROW && n < (size_t)cfg->users)
        uids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    w6_shared sh = {cfg->url, ""};
    bench_timestamp_text(sh.ts, sizeof sh.ts, bench_timestamp(cfg, 0, 0));
    bench_w6_ops ops = {&sh, w6_open, w6_unit, w6_close};
    int err = bench_w6_threads(cfg, uids, n, &ops, out);
    free(uids);
    if (err)
        return 1;
    bench_w6_verdict(cfg,
                     scalar(db, BENCH_W6_COUNTER_SUM),
                     scalar(db, BENCH_W6_POSTS), out);
    return exec(db, BENCH_W6_RESET_USERS "; " BENCH_W6_RESET_POSTS);
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
