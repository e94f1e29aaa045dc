/*
 * workload.c - the data set, timing, peak memory and JSON output shared by
 * the benchmark programs, and their main().
 */
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "workload.h"

/* 2025-01-01 00:00:00 UTC, and one year, in microseconds. */
#define T0 INT64_C(1735689600000000)
#define YEAR (INT64_C(365) * 86400 * 1000000)

void bench_username(char *buf, size_t size, int i) { snprintf(buf, size, "user%d", i); }
void bench_email(char *buf, size_t size, int i) { snprintf(buf, size, "user%d@example.com", i); }

void bench_body(char *buf, size_t size, int i, int k)
{
    snprintf(buf, size, "post %d of user%d: a body of a typical length for the microblog", k, i);
}

int64_t bench_timestamp(const bench_cfg *cfg, int i, int k)
{
    int64_t n = (int64_t)cfg->users * BENCH_POSTS_PER_USER;
    return T0 + ((int64_t)i * BENCH_POSTS_PER_USER + k) * (YEAR / (n ? n : 1));
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), and back. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void bench_timestamp_text(char *buf, size_t size, int64_t us)
{
    int64_t secs = us / 1000000, frac = us % 1000000, days = secs / 86400, rem = secs % 86400;
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1), m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int64_t y = yoe + era * 400 + (m <= 2);
    snprintf(buf, size, "%04lld-%02d-%02d %02lld:%02lld:%02lld.%06lld", (long long)y, m, d,
             (long long)(rem / 3600), (long long)(rem / 60 % 60), (long long)(rem % 60),
             (long long)frac);
}

static int64_t digits(const char **p, int n)
{
    int64_t v = 0;
    for (int i = 0; i < n && **p >= '0' && **p <= '9'; i++, (*p)++)
        v = v * 10 + (**p - '0');
    return v;
}

int64_t bench_timestamp_parse(const char *t)
{
    int64_t y = digits(&t, 4);
    t++;
    int m = (int)digits(&t, 2);
    t++;
    int d = (int)digits(&t, 2);
    t++;
    int64_t hh = digits(&t, 2);
    t++;
    int64_t mi = digits(&t, 2);
    t++;
    int64_t ss = digits(&t, 2), us = 0;
    if (*t == '.') {
        t++;
        int n = 0;
        for (; *t >= '0' && *t <= '9' && n < 6; t++, n++)
            us = us * 10 + (*t - '0');
        for (; n < 6; n++)
            us *= 10;
    }
    return ((days_from_civil(y, m, d) * 86400 + hh * 3600 + mi * 60 + ss) * 1000000) + us;
}

int64_t bench_user_index(const char *username)
{
    return username && !strncmp(username, "user", 4) ? strtoll(username + 4, NULL, 10) : -1;
}

int *bench_permutation(int n)
{
    int *p = malloc(sizeof *p * (size_t)(n ? n : 1));
    if (!p)
        return NULL;
    for (int i = 0; i < n; i++)
        p[i] = i;
    uint64_t s = 0x9E3779B97F4A7C15u; /* fixed seed: every program looks up the same ids */
    for (int i = n - 1; i > 0; i--) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        int j = (int)(s % (uint64_t)(i + 1)), t = p[i];
        p[i] = p[j], p[j] = t;
    }
    return p;
}

int64_t bench_post_check(const char *body, int64_t ts)
{
    return (int64_t)strlen(body) + (ts / 1000000) % 997;
}

void bench_user_free(bench_user *u)
{
    free(u->username);
    free(u->email);
    free(u->password_hash);
}

int bench_join_and_free(bench_user *users, size_t nu, bench_post *posts, size_t np, bench_out *out)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < nu; i++) {
        lo = users[i].id < lo ? users[i].id : lo;
        hi = users[i].id > hi ? users[i].id : hi;
    }
    int64_t *count = nu ? calloc((size_t)(hi - lo + 1), sizeof *count) : NULL;
    for (size_t j = 0; count && j < np; j++)
        if (posts[j].user_id >= lo && posts[j].user_id <= hi)
            count[posts[j].user_id - lo]++;
    for (size_t i = 0; count && i < nu; i++) {
        out->check += bench_user_index(users[i].username) * count[users[i].id - lo];
        out->rows += 1 + count[users[i].id - lo];
    }
    for (size_t i = 0; i < nu; i++)
        bench_user_free(&users[i]);
    for (size_t j = 0; j < np; j++)
        free(posts[j].body);
    free(users);
    free(posts);
    free(count);
    return nu && !count;
}

/* ---- W6 -------------------------------------------------------------------- */

typedef struct w6_thread {
    const bench_cfg *cfg;
    const int64_t *uids;
    size_t n;
    const bench_w6_ops *ops;
    unsigned seed;
    int64_t done, failures, retries;
} w6_thread;

static void *w6_run(void *arg)
{
    w6_thread *t = arg;
    void *conn = t->ops->open(t->ops->shared);
    if (!conn) {
        t->failures = t->cfg->units;
        return NULL;
    }
    for (int i = 0; i < t->cfg->units; i++) {
        int64_t uid = t->uids[(size_t)rand_r(&t->seed) % t->n];
        if (t->ops->unit(conn, uid, &t->retries) == 0)
            t->done++;
        else
            t->failures++;
    }
    t->ops->close(conn);
    return NULL;
}

int bench_w6_threads(const bench_cfg *cfg, const int64_t *uids, size_t n, const bench_w6_ops *ops,
                     bench_out *out)
{
    w6_thread t[BENCH_W6_THREADS];
    pthread_t id[BENCH_W6_THREADS];
    struct timespec a, b;
    if (n == 0)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < BENCH_W6_THREADS; i++) {
        t[i] = (w6_thread){cfg, uids, n, ops, (unsigned)i * 7919u + 1u, 0, 0, 0};
        if (pthread_create(&id[i], NULL, w6_run, &t[i]) != 0)
            return 1;
    }
    for (int i = 0; i < BENCH_W6_THREADS; i++) {
        pthread_join(id[i], NULL);
        out->rows += t[i].done;
        out->failures += t[i].failures;
        out->retries += t[i].retries;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    out->seconds = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    return 0;
}

void bench_w6_verdict(const bench_cfg *cfg, int64_t counter_sum, int64_t posts, bench_out *out)
{
    int64_t committed = (int64_t)BENCH_W6_THREADS * cfg->units - out->failures;
    int64_t a = committed - counter_sum, b = committed - posts;
    out->lost = (a < 0 ? -a : a) + (b < 0 ? -b : b);
    out->check = (int64_t)BENCH_W6_THREADS * cfg->units;
}

static const char *const names[] = {"W1", "W2", "W3", "W4", "W5", "W5S", "W6"};

static int usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --url URL --workload W1|W2|W3|W4|W5|W5S|W6|load --users N "
            "[--lookups N] [--queries N] [--units N]\n",
            prog);
    return 2;
}

int bench_main(int argc, char **argv, const bench_impl *impl)
{
    bench_cfg cfg = {.users = 10000,
                     .lookups = BENCH_W2_LOOKUPS,
                     .queries = BENCH_W4_QUERIES,
                     .units = BENCH_W6_UNITS};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (!strcmp(o, "--url"))
            cfg.url = v;
        else if (!strcmp(o, "--workload"))
            cfg.workload = v;
        else if (!strcmp(o, "--users"))
            cfg.users = atoi(v);
        else if (!strcmp(o, "--lookups"))
            cfg.lookups = atoi(v);
        else if (!strcmp(o, "--queries"))
            cfg.queries = atoi(v);
        else if (!strcmp(o, "--units"))
            cfg.units = atoi(v);
        else
            return usage(argv[0]);
    }
    if (argc % 2 == 0 || !cfg.url || !cfg.workload || cfg.users < 1 || cfg.lookups < 0 ||
        cfg.queries < 0 || cfg.units < 1)
        return usage(argv[0]);
    int w = -1;
    for (int i = 0; i < 7; i++)
        if (!strcmp(cfg.workload, names[i]))
            w = i;
    bool load = !strcmp(cfg.workload, "load");
    if (w < 0 && !load)
        return usage(argv[0]);
    cfg.streamed = w == 5;
    if (cfg.lookups > cfg.users)
        cfg.lookups = cfg.users; /* each id once: no identity-map hit */

    void *ctx;
    if (impl->open(&ctx, cfg.url) != 0)
        return 1;
    /* W1 starts from empty tables; "load" is W1 unmeasured. */
    int rc = w == 0 || load ? impl->empty(ctx) : 0;
    bench_out out = {.statements = -1, .lost = -1};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (rc == 0)
        rc = w == 6 ? impl->w6(ctx, &cfg, &out) : impl->w[load ? 0 : w == 5 ? 4 : w](ctx, &cfg, &out);
    clock_gettime(CLOCK_MONOTONIC, &b);
    const char *engine = impl->engine(ctx);
    impl->close(ctx);
    if (rc != 0) {
        fprintf(stderr, "%s: %s %s failed\n", argv[0], engine, cfg.workload);
        return 1;
    }
    if (load)
        return 0;
    double secs = out.seconds > 0 ? out.seconds
                                  : (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"engine\": \"%s\", \"impl\": \"%s\", \"workload\": \"%s\", \"n\": %d, "
           "\"seconds\": %.6f, \"rows_per_s\": %.0f, \"check\": %lld, \"statements\": %lld, "
           "\"peak_rss_kb\": %ld",
           engine, impl->impl, names[w], cfg.users, secs, secs > 0 ? (double)out.rows / secs : 0,
           (long long)out.check, (long long)out.statements, ru.ru_maxrss);
    if (w == 6)
        printf(", \"failures\": %lld, \"retries\": %lld, \"lost\": %lld", (long long)out.failures,
               (long long)out.retries, (long long)out.lost);
    printf("}\n");
    return 0;
}
