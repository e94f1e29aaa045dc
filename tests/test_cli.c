/*
 * test_cli.c - the real `strata` binary, driven as a user would: the
 * commands in order, their output lines, exit codes, bad arguments and
 * --sql.  Each command is a new process, so the database must outlive
 * it: the suite runs on an SQLite file and on PostgreSQL, not on a
 * private in-memory database.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

typedef struct result {
    int status;
    char out[16384];
} result;

/* The build directory: make check says; else the tests run from it. */
static char top[2048];

/* Run `strata ARGS` (stderr into the output too); the exit status. */
static result run(const char *args)
{
    static result r;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s/tools/strata' %s 2>&1", th_tmpdir(), top, args);
    memset(&r, 0, sizeof r);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(r.out, 1, sizeof r.out - 1, p);
    r.out[n] = '\0';
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

/* `strata ARGS --url <this test's database>`. */
static result run_url(const char *args)
{
    char all[1024];
    snprintf(all, sizeof all, "%s --url '%s'", args, th_url());
    return run(all);
}

#define EXPECT(res, code, text)                                                                  \
    do {                                                                                         \
        result r_ = (res);                                                                       \
        ck_assert_msg(r_.status == (code), "exit %d, wanted %d: %s", r_.status, (code), r_.out); \
        ck_assert_msg(strstr(r_.out, (text)) != NULL, "wanted '%s' in: %s", (text), r_.out);     \
    } while (0)

START_TEST(cli_commands_end_to_end)
{
    EXPECT(run("--version"), 0, "strata ");
    EXPECT(run("db init"), 0, "Generating migrations/strata.yaml ...  done");
    EXPECT(run("db init"), 1, "already holds a migrations repository");
    EXPECT(run("db revision -m 'first table'"), 0, "_first_table.yaml ...  done");
    /* Fill the revision in by hand: one table. */
    char path[1000];
    char dir[600], name[300] = "";
    snprintf(dir, sizeof dir, "%s/migrations/versions", th_tmpdir());
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".yaml"))
            snprintf(name, sizeof name, "%s", e->d_name);
    closedir(d);
    ck_assert(name[0]);
    char id[13];
    snprintf(id, sizeof id, "%.12s", name);
    snprintf(path, sizeof path, "%s/migrations/versions/%s", th_tmpdir(), name);
    char text[1024];
    snprintf(text, sizeof text,
             "revision: %s\ndown_revision: null\nmessage: first table\n"
             "upgrade:\n  - create_table: {name: t, columns: [{name: id, type: integer, "
             "primary_key: true}]}\n"
             "downgrade:\n  - drop_table: {name: t}\n",
             id);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);

    char want[256];
    snprintf(want, sizeof want, "INFO  [strata.migration] Running upgrade  -> %s, first table", id);
    EXPECT(run_url("db upgrade"), 0, want);
    snprintf(want, sizeof want, "%s (head)", id);
    EXPECT(run_url("db current"), 0, want);
    snprintf(want, sizeof want, "<base> -> %s (head), first table", id);
    EXPECT(run("db history"), 0, want);
    EXPECT(run("db heads"), 0, "(head)");
    EXPECT(run_url("db upgrade --sql"), 0, "CREATE TABLE");
    snprintf(want, sizeof want, "Running downgrade %s -> , first table", id);
    EXPECT(run_url("db downgrade"), 0, want);
    result cur = run_url("db current");
    ck_assert_int_eq(cur.status, 0);
    ck_assert_msg(!strstr(cur.out, id), "%s", cur.out);
    char stamp[64];
    snprintf(stamp, sizeof stamp, "db stamp %s", id);
    EXPECT(run_url(stamp), 0, "");
    EXPECT(run_url("db current"), 0, id);

    /* Bad arguments: 2, on stderr, naming the problem. */
    EXPECT(run("db"), 2, "usage:");
    EXPECT(run("db frobnicate"), 2, "unknown command 'frobnicate'");
    EXPECT(run("db upgrade --bogus"), 2, "unknown option --bogus");
    EXPECT(run("db revision"), 2, "a message is needed: -m MSG");
    EXPECT(run("db stamp"), 2, "stamp needs a TARGET");
    EXPECT(run("db upgrade --url"), 2, "needs a value");
    EXPECT(run("db migrate -m x"), 2, "application's binary");
    EXPECT(run("db check"), 2, "application's binary");
    EXPECT(run("db upgrade --help"), 0, "usage: strata db upgrade [TARGET] [--sql]");
    /* Failures: 1. */
    EXPECT(run_url("db upgrade nope"), 1, "Can't locate revision identified by 'nope'");
    EXPECT(run("db history -d elsewhere"), 1, "not a migrations repository");
    EXPECT(run("db current --url 'sqlite:///x.db?bogus=1'"), 1, "bogus");
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    if (e != TH_SQLITE_MEMORY)
        tcase_add_test(tc, cli_commands_end_to_end);
}

static Suite *build(void) { return th_suite("cli", add); }

int main(void)
{
    const char *env = getenv("top_builddir");
    if (env && *env)
        snprintf(top, sizeof top, "%s", env);
    else if (!getcwd(top, sizeof top))
        return 99;
    return th_run(build);
}
