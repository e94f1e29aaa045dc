/*
 * workload.h - what every benchmark program shares: the data set of
 * docs/performance.md (user0..userN-1, ten posts each, timestamps
 * spread over a year), the workloads' names, timing, peak memory and the
 * JSON line each measurement prints.
 *
 * A program (bench_strata, bench_raw_sqlite, bench_raw_pg) fills a
 * bench_impl and calls bench_main(); `bench/run` drives them.
 */
#ifndef STRATA_BENCH_WORKLOAD_H
#define STRATA_BENCH_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_POSTS_PER_USER 10
#define BENCH_W2_LOOKUPS 10000
#define BENCH_W4_QUERIES 1000
#define BENCH_BATCH 500
#define BENCH_W6_THREADS 8
#define BENCH_W6_UNITS 2000

typedef struct bench_cfg {
    const char *url;
    const char *workload; /* W1 W2 W3 W4 W5 W5S, or "load" (W1 untimed) */
    int users;            /* posts are users * BENCH_POSTS_PER_USER */
    int lookups;          /* W2 */
    int queries;          /* W4 */
    int units;            /* W6: units of work per thread */
    bool streamed;        /* W5S: W5's function, streaming */
} bench_cfg;

/* One measurement's results, filled by the workload. */
typedef struct bench_out {
    int64_t rows;       /* rows the workload handled (for rows/s) */
    int64_t check;      /* must be equal across implementations */
    int64_t statements; /* SQL statements issued, or -1 when not counted */
    double seconds;     /* when > 0: the time that counts (W6 times its threads only) */
    int64_t failures, retries, lost; /* W6 */
} bench_out;

typedef int (*bench_fn)(void *ctx, const bench_cfg *cfg, bench_out *out);

typedef struct bench_impl {
    const char *impl; /* "strata" or "raw" */
    /* Connect; *ctx is the program's state.  Prints its own error. */
    int (*open)(void **ctx, const char *url);
    void (*close)(void *ctx);
    const char *(*engine)(void *ctx); /* "sqlite" or "postgresql" */
    /* Delete every row (untimed, before W1). */
    int (*empty)(void *ctx);
    bench_fn w[5]; /* W1 .. W5; W5S is W5 with cfg->streamed */
    bench_fn w6;   /* W6: threads, each with its own unit-of-work loop */
} bench_impl;

/* W6, the part every program shares: BENCH_W6_THREADS threads, each
 * opening its own connection (or taking the pool's) and running
 * cfg->units units of work on random users from `uids`.  A unit reads the
 * user's password_hash as a counter (NULL is 0), writes it back plus one
 * and inserts a post "w6" for the user, in one transaction; it returns 0
 * when it committed.  The threads alone are timed (out->seconds); rows,
 * failures and retries are counted. */
typedef struct bench_w6_ops {
    void *shared;
    void *(*open)(void *shared); /* a thread's connection; NULL: failed */
    int (*unit)(void *conn, int64_t uid, int64_t *retries);
    void (*close)(void *conn);
} bench_w6_ops;
/* W6's SQL, the same for every program: the counters and W6's posts
 * back to nothing (untimed, before and after), and what the verdict
 * reads afterwards. */
#define BENCH_W6_RESET_USERS "UPDATE \"user\" SET password_hash = NULL"
#define BENCH_W6_RESET_POSTS "DELETE FROM post WHERE body = 'w6'"
#define BENCH_W6_COUNTER_SUM "SELECT coalesce(sum(CAST(password_hash AS INTEGER)), 0) FROM \"user\""
#define BENCH_W6_POSTS "SELECT count(*) FROM post WHERE body = 'w6'"
int bench_w6_threads(const bench_cfg *cfg, const int64_t *uids, size_t n, const bench_w6_ops *ops,
                     bench_out *out);
/* After the threads: from the counters' sum and the posts found, how
 * many committed units left no trace (lost) and the check (committed). */
void bench_w6_verdict(const bench_cfg *cfg, int64_t counter_sum, int64_t posts, bench_out *out);

/* The data, by index: username "user<i>", email "user<i>@example.com",
 * body of post k of user i, and its timestamp (UTC microseconds since
 * 1970; strata_timestamp's unit). */
void bench_username(char *buf, size_t size, int i);
void bench_email(char *buf, size_t size, int i);
void bench_body(char *buf, size_t size, int i, int k);
int64_t bench_timestamp(const bench_cfg *cfg, int i, int k);
/* The text form both engines accept: "2025-01-01 00:00:00.000000". */
void bench_timestamp_text(char *buf, size_t size, int64_t us);
/* Parse that form (or PostgreSQL's, which drops trailing zeros). */
int64_t bench_timestamp_parse(const char *text);
/* i from "user<i>", or -1. */
int64_t bench_user_index(const char *username);
/* W2's look-up order: a permutation of 0..n-1 (caller frees). */
int *bench_permutation(int n);
/* Sum of strlen(body) and timestamp seconds mod 997 of one post: W5's
 * check adds this up for every post. */
int64_t bench_post_check(const char *body, int64_t ts);

/* The plain structs the raw programs decode rows into. */
typedef struct bench_user {
    int64_t id;
    char *username, *email, *password_hash;
} bench_user;

typedef struct bench_post {
    int64_t id;
    char *body;
    int64_t timestamp, user_id;
} bench_post;

void bench_user_free(bench_user *u);

/* W3's join in memory: count each user's posts through an index from
 * user id to position, add up the check and the rows, and free both
 * arrays with their strings. */
int bench_join_and_free(bench_user *users, size_t nu, bench_post *posts, size_t np, bench_out *out);

/* Parse arguments, open, run one workload, print its JSON line.
 *   PROGRAM --url URL --workload W --users N [--lookups N] [--queries N] */
int bench_main(int argc, char **argv, const bench_impl *impl);

#endif
