/*
 * test_cli.c - the real `strata` binary, driven as a user would: the
 * commands in order, their output lines, exit codes, bad arguments and
 * --sql.  Each command is a new process, so the database must outlive
 * it: the suite runs on an SQLite file and on PostgreSQL, not on a
 * private in-memory database.
 */
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
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

/* The build and source directories: make check says; else the tests run
 * from the build directory of an in-tree build. */
static char top[2048], src[2048];

/* Run a shell command in this test's directory (stderr into the output
 * too); its output and exit status. */
static result sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static result sh(const char *fmt, ...)
{
    static result r;
    char cmd[8192], line[7000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd '%s' && { %s; } 2>&1", th_tmpdir(), line);
    memset(&r, 0, sizeof r);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(r.out, 1, sizeof r.out - 1, p);
    r.out[n] = '\0';
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

/* Run `strata ARGS`. */
static result run(const char *args) { return sh("'%s/tools/strata' %s", top, args); }

/* `strata ARGS --url <this test's database>`. */
static result run_url(const char *args)
{
    return sh("'%s/tools/strata' %s --url '%s'", top, args, th_url());
}

/* The application binary with the models of tutorial stage `stage`
 * (tests/cli_app.c), on this test's database. */
static result app(int stage, const char *args)
{
    return sh("CLI_APP_STAGE=%d '%s/tests/cli_app' %s --url '%s'", stage, top, args, th_url());
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
    /* libpq is loaded when a PostgreSQL URL is first opened; without it,
     * the error names the library, and this configuration's own URL still
     * works when it is not PostgreSQL's (the library is never needed). */
    EXPECT(sh("STRATA_LIBPQ=/nonexistent/libpq.so.5 '%s/tools/strata' db current "
              "--url postgresql://u:secret@127.0.0.1:1/x",
              top),
           1, "PostgreSQL needs libpq (/nonexistent/libpq.so.5), which could not be loaded");
    EXPECT(sh("STRATA_LIBPQ=libsqlite3.so.0 '%s/tools/strata' db current "
              "--url postgresql://u:secret@127.0.0.1:1/x",
              top),
           1, "PostgreSQL needs libpq 14 or later: libsqlite3.so.0 has no PQ");
    ck_assert_ptr_null(strstr(sh("STRATA_LIBPQ=/nonexistent/libpq.so.5 '%s/tools/strata' db "
                                 "current --url postgresql://u:secret@127.0.0.1:1/x",
                                 top)
                                  .out,
                              "secret"));
    EXPECT(sh("STRATA_LIBPQ=/nonexistent/libpq.so.5 '%s/tools/strata' db current --url '%s'", top,
              th_url()),
           th_is_pg() ? 1 : 0, th_is_pg() ? "could not be loaded" : "");
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
    /* The log lines go to standard error: standard output is the result. */
    result only = sh("'%s/tools/strata' db current --url '%s' 2>/dev/null", top, th_url());
    ck_assert_int_eq(only.status, 0);
    snprintf(want, sizeof want, "%s (head)\n", id);
    ck_assert_str_eq(only.out, want);
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
    EXPECT(run("db upgrade --lock-wait soon"), 2, "--lock-wait takes seconds (0 to 86400), not \"soon\"");
    EXPECT(run("db upgrade --lock-wait -1"), 2, "--lock-wait takes seconds");
    EXPECT(run("db revision"), 2, "a message is needed: -m MSG");
    EXPECT(run("db stamp"), 2, "stamp needs a TARGET");
    EXPECT(run("db upgrade --url"), 2, "needs a value");
    EXPECT(run("db revision -m --url sqlite:///z.db"), 2, "option --message needs a value");
    EXPECT(run("db history -d --url sqlite:///z.db"), 2, "needs a value");
    EXPECT(run("db migrate -m x"), 2, "application's binary");
    EXPECT(run("db check"), 2, "application's binary");
    EXPECT(run("db upgrade --help"), 0, "usage: strata db upgrade [TARGET] [--sql]");
    /* Failures: 1. */
    EXPECT(run_url("db upgrade nope"), 1, "Can't locate revision identified by 'nope'");
    EXPECT(run("db history -d elsewhere"), 1, "not a migrations repository");
    /* A message the file's YAML cannot hold writes no file, and the
     * repository keeps working. */
    EXPECT(run("db revision -m \"$(printf '\\303\\050 bad')\""), 1,
           "message is not valid UTF-8 (at byte 0): no file written");
    EXPECT(run("db heads"), 0, "(head)");
    /* A URL put where a command, an option or a target goes: named
     * without its password. */
    static const char *const misplaced[] = {
        "db postgresql://u:s3cret@127.0.0.1:1/x", "db upgrade --postgresql://u:s3cret@h/x",
        "db upgrade postgresql://u:s3cret@127.0.0.1:1/x",
        "db stamp postgresql://u:s3cret@127.0.0.1:1/x"};
    for (size_t i = 0; i < sizeof misplaced / sizeof *misplaced; i++) {
        result r = i < 2 ? run(misplaced[i]) : run_url(misplaced[i]);
        ck_assert_int_eq(r.status, i < 2 ? 2 : 1);
        ck_assert_msg(!strstr(r.out, "s3cret") && strstr(r.out, ":***@"), "%s", r.out);
    }
    EXPECT(run("db current --url 'sqlite:///x.db?bogus=1'"), 1, "bogus");
}
END_TEST

/* A file's text, in a buffer the next call reuses. */
static const char *read_text(const char *path)
{
    static char text[16384];
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

/* The text of the file in `dir` whose name ends with `suffix`, from its
 * "upgrade:" line on (what follows the header of ids and dates).  Caller
 * frees. */
static char *revision_body(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s", dir);
    char path[4096] = "";
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name), k = strlen(suffix);
        if (n > k && !strcmp(e->d_name + n - k, suffix))
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    ck_assert_msg(path[0], "no *%s in %s", suffix, dir);
    const char *body = strstr(read_text(path), "\nupgrade:");
    ck_assert_msg(body != NULL, "%s has no upgrade section", path);
    return strdup(body);
}

/* The tutorial through an application binary: migrate writes what the
 * models changed, check fails until the change is migrated and applied,
 * and the revisions are the ones committed in examples/microblog. */
START_TEST(cli_app_tutorial_sequence)
{
    EXPECT(app(1, "db init"), 0, "Generating migrations/strata.yaml ...  done");
    result r = app(1, "db migrate -m 'users table'");
    EXPECT(r, 0, "INFO  [strata.autogenerate] Detected added table 'user'");
    EXPECT(r, 0, "Detected added index 'ix_user_email' on '['email']'");
    EXPECT(r, 0, "_users_table.yaml ...  done");
    EXPECT(app(1, "db check"), 3,
           "Target database is not up to date: run db upgrade first.");
    EXPECT(app(1, "db upgrade"), 0, ", users table");
    EXPECT(app(1, "db check"), 0, "No new upgrade operations detected.");

    /* A model change: check fails and writes nothing, migrate takes it. */
    r = app(2, "db check");
    EXPECT(r, 3, "Detected added table 'post'");
    EXPECT(r, 3, "New upgrade operations detected");
    EXPECT(sh("ls migrations/versions | wc -l"), 0, "1");
    EXPECT(app(2, "db migrate -m 'posts table'"), 0, "Detected added table 'post'");
    EXPECT(app(2, "db migrate -m again"), 3,
           "Target database is not up to date: run db upgrade first.");
    EXPECT(app(2, "db upgrade"), 0, ", posts table");
    EXPECT(app(2, "db check"), 0, "No new upgrade operations detected.");
    EXPECT(app(3, "db migrate -m followers"), 0, "Detected added table 'followers'");
    EXPECT(app(3, "db upgrade"), 0, ", followers");
    EXPECT(app(3, "db check"), 0, "No new upgrade operations detected.");

    /* What migrate writes today is what examples/microblog committed. */
    char mine[2600], committed[2600];
    snprintf(mine, sizeof mine, "%s/migrations/versions", th_tmpdir());
    snprintf(committed, sizeof committed, "%s/examples/microblog/migrations/versions", src);
    static const char *const files[] = {"_users_table.yaml", "_posts_table.yaml",
                                        "_followers.yaml"};
    for (int i = 0; i < 3; i++) {
        char *a = revision_body(mine, files[i]), *b = revision_body(committed, files[i]);
        ck_assert_msg(!strcmp(a, b), "*%s differs from the committed one:\n%s\n---\n%s", files[i],
                      a, b);
        free(a);
        free(b);
    }

    /* Chapter 6: two new columns. */
    r = app(4, "db check");
    EXPECT(r, 3, "Detected added column 'user.about_me'");
    EXPECT(r, 3, "Detected added column 'user.last_seen'");
    EXPECT(app(4, "db migrate -m 'new fields in user model'"), 0,
           "_new_fields_in_user_model.yaml ...  done");
    EXPECT(app(4, "db upgrade"), 0, ", new fields in user model");
    EXPECT(app(4, "db check"), 0, "No new upgrade operations detected.");
    EXPECT(app(3, "db check"), 3, "Detected removed column 'user.about_me'");
    EXPECT(app(4, "db upgrade --sql"), 0, "ALTER TABLE");
    EXPECT(app(4, "db downgrade base"), 0, "Running downgrade");
    strata_db *db = th_open();
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM strata_version"), 0);
    ck_assert_int_eq(strata_db_exec(db, "SELECT 1 FROM post"), STRATA_E_UNDEFINED_TABLE);
    strata_db_close(db);
}
END_TEST

/* ---- README's transcripts ------------------------------------------------ */

/* Replace each 12-hex-digit revision id in `text` by the one at the same
 * rank in `ids` (ranks counted by first appearance, shared through `seen`
 * across calls), so a run's random ids read as README's. */
typedef struct id_map {
    char from[16][13], to[16][13];
    int n;
} id_map;

static bool is_id_at(const char *p)
{
    for (int i = 0; i < 12; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    return !((p[12] >= '0' && p[12] <= '9') || (p[12] >= 'a' && p[12] <= 'z'));
}

/* The ids of `text` in order of first appearance. */
static int ids_of(const char *text, char out[][13], int cap)
{
    int n = 0;
    for (const char *p = text; *p; p++) {
        bool start = p == text || !((p[-1] >= '0' && p[-1] <= '9') || (p[-1] >= 'a' && p[-1] <= 'z'));
        if (!start || strlen(p) < 12 || !is_id_at(p))
            continue;
        bool known = false;
        for (int i = 0; i < n; i++)
            known = known || !strncmp(out[i], p, 12);
        if (!known && n < cap) {
            memcpy(out[n], p, 12);
            out[n++][12] = '\0';
        }
        p += 11;
    }
    return n;
}

static void map_ids(char *text, const id_map *m)
{
    for (char *p = text; *p; p++)
        for (int i = 0; i < m->n && strlen(p) >= 12; i++)
            if (!strncmp(p, m->from[i], 12))
                memcpy(p, m->to[i], 12);
}

/* README's tutorial transcripts (the code blocks of "$ microblog ..."
 * commands, those without "..." elisions), replayed: the tutorial's stages
 * through the application binary on sqlite:///app.db in a fresh directory,
 * each command's output compared line for line, revision ids read as
 * README's (autogenerate makes new ones each run). */
START_TEST(cli_readme_transcripts)
{
    char path[2100];
    snprintf(path, sizeof path, "%s/README.md", src);
    const char *readme = read_text(path);
    /* The commands, their stage, in the order the tutorial runs them;
     * `shown` says whether README shows the command. */
    static const struct {
        int stage;
        const char *cmd; /* as README writes it after "$ microblog " */
        const char *run; /* the arguments to run */
    } steps[] = {
        {1, "db init", "db init"},
        {1, "db migrate -m \"users table\"", "db migrate -m 'users table'"},
        {1, "db upgrade", "db upgrade"},
        {2, "db migrate -m \"posts table\"", "db migrate -m 'posts table'"},
        {2, "db upgrade", "db upgrade"},
        {3, "db migrate -m followers", "db migrate -m followers"},
        {3, "db upgrade", "db upgrade"},
        {0, "demo", "demo"},
        {3, "db downgrade", "db downgrade"},
        {3, "db history", "db history"},
    };
    sh("rm -rf readme && mkdir readme");
    /* README's blocks: each "$ microblog X" line with the lines after it,
     * up to the next such line or the block's end. */
    const char *cursor = readme;
    id_map m = {.n = 0};
    char readme_ids[16][13], run_ids[16][13];
    static char want_all[65536], got_all[65536];
    want_all[0] = got_all[0] = '\0';
    int compared = 0;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        result r = steps[i].stage
                       ? sh("cd readme && unset DATABASE_URL && CLI_APP_STAGE=%d '%s/tests/cli_app' %s",
                            steps[i].stage, top, steps[i].run)
                       : sh("cd readme && unset DATABASE_URL && '%s/examples/microblog/microblog' %s",
                            top, steps[i].run);
        ck_assert_msg(r.status == 0, "%s: %s", steps[i].run, r.out);
        char head[200];
        snprintf(head, sizeof head, "\n$ microblog %s\n", steps[i].cmd);
        const char *at = strstr(cursor, head);
        /* Only what README shows, in README's order. */
        const char *block_end = at ? strstr(at + 1, "\n```") : NULL;
        if (!at || !block_end)
            continue;
        const char *body = at + strlen(head);
        const char *next = strstr(body, "\n$ microblog ");
        const char *end = next && next < block_end ? next + 1 : block_end + 1;
        char want[8192];
        snprintf(want, sizeof want, "%.*s", (int)(end - body), body);
        cursor = end - 1;
        if (strstr(want, "\n...\n") || !strncmp(want, "...\n", 4))
            continue; /* an elided transcript */
        size_t wl = strlen(want_all), gl = strlen(got_all);
        ck_assert(wl + strlen(want) + 200 < sizeof want_all &&
                  gl + strlen(r.out) + 200 < sizeof got_all);
        wl += (size_t)sprintf(want_all + wl, "$ %s\n", steps[i].cmd);
        strcpy(want_all + wl, want);
        gl += (size_t)sprintf(got_all + gl, "$ %s\n", steps[i].cmd);
        strcpy(got_all + gl, r.out);
        compared++;
    }
    ck_assert_int_ge(compared, 7);
    /* Ids by rank of first appearance in what was compared. */
    int nr = ids_of(want_all, readme_ids, 16), ng = ids_of(got_all, run_ids, 16);
    ck_assert_msg(nr == ng, "README shows %d revision ids, the run %d", nr, ng);
    for (int i = 0; i < ng; i++) {
        memcpy(m.from[i], run_ids[i], 13);
        memcpy(m.to[i], readme_ids[i], 13);
    }
    m.n = ng;
    map_ids(got_all, &m);
    /* The first line that differs, with the command it belongs to. */
    const char *a = want_all, *b = got_all, *cmd_a = want_all;
    while (*a && *a == *b) {
        if (*a == '$' && (a == want_all || a[-1] == '\n'))
            cmd_a = a;
        a++;
        b++;
    }
    while (a > want_all && a[-1] != '\n') {
        a--;
        b--;
    }
    ck_assert_msg(!strcmp(got_all, want_all),
                  "README's transcripts differ from a real run, after \"%.*s\":\n"
                  "README:  %.*s\nthe run: %.*s",
                  (int)strcspn(cmd_a, "\n"), cmd_a, (int)strcspn(a, "\n"), a,
                  (int)strcspn(b, "\n"), b);
}
END_TEST

/* The walkthrough's output without what names the engine or the
 * directory: the "Context impl" and "demo on URL" lines, and the
 * suggestions after "The walkthrough is done". */
static void strip_engine(char *out)
{
    char *w = out;
    for (char *line = out; *line;) {
        char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) + 1 : strlen(line);
        bool done = !strncmp(line, "The walkthrough is done", 23);
        if (end)
            *end = '\0'; /* strstr within this line only */
        bool keep = !strstr(line, "Context impl ") && strncmp(line, "microblog demo on ", 18);
        if (end)
            *end = '\n';
        if (keep) {
            memmove(w, line, n);
            w += n;
        }
        line += n;
        if (done)
            break;
    }
    *w = '\0';
}

/* README's first command: the walkthrough script (what `make demo` runs)
 * on the default sqlite:///app.db in a fresh directory, or on PostgreSQL
 * through DATABASE_URL, gives the transcript in tests/walkthrough.expected;
 * and the committed migrations bring the database to the example's
 * models exactly (db check). */
START_TEST(cli_microblog_walkthrough)
{
    char env[1200] = "unset DATABASE_URL";
    if (th_is_pg())
        snprintf(env, sizeof env, "export DATABASE_URL='%s'", th_url());
    for (int pass = 0; pass < 2; pass++) { /* it can run again and again */
        result r = sh("%s; MICROBLOG='%s/examples/microblog/microblog' sh "
                      "'%s/examples/microblog/walkthrough' run",
                      env, top, src);
        ck_assert_msg(r.status == 0, "walkthrough failed (%d):\n%s", r.status, r.out);
        if (!th_is_pg())
            ck_assert_msg(strstr(r.out, "microblog demo on sqlite:///app.db (sqlite)"), "%s",
                          r.out);
        strip_engine(r.out);
        char path[2100];
        snprintf(path, sizeof path, "%s/tests/walkthrough.expected", src);
        const char *want = read_text(path);
        ck_assert_msg(!strcmp(r.out, want), "the walkthrough printed:\n%s\nexpected:\n%s", r.out,
                      want);
    }
    /* The committed revisions are the example's models. */
    char mb[2100];
    snprintf(mb, sizeof mb, "'%s/examples/microblog/microblog'", top);
    EXPECT(sh("%s; cd run && %s db upgrade && %s db check", env, mb, mb), 0,
           "No new upgrade operations detected.");
    EXPECT(sh("%s; cd run && %s demo && %s demo", env, mb, mb), 0, "deleted 2 users and 3 posts");

    /* The demo refuses a database that has users, and one without tables. */
    char url[2100];
    if (th_is_pg())
        snprintf(url, sizeof url, "%s", th_url());
    else
        snprintf(url, sizeof url, "sqlite:///%s/run/app.db", th_tmpdir());
    strata_db *db = th_open_url(url);
    th_exec(db, "INSERT INTO \"user\" (username, email) VALUES ('kim', 'kim@example.com')");
    strata_db_close(db);
    EXPECT(sh("%s; cd run && %s demo", env, mb), 1, "the user table already has 1 row(s)");
    db = th_open_url(url);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM \"user\""), 1);
    strata_db_close(db);
    EXPECT(sh("%s; cd run && %s db downgrade base", env, mb), 0, "Running downgrade");
    EXPECT(sh("%s; cd run && %s demo", env, mb), 1, "run `microblog db upgrade` first");
}
END_TEST

/* Every argument error gets exit code 2 and a message naming it; the
 * repository's database_url is used when neither --url nor DATABASE_URL
 * gives one. */
/* db copy: the verification table on standard output, a line per table,
 * refusals and bad arguments with their exit codes, no password shown. */
/* `prog` (the tool, or the test application with a SIGTERM handler of
 * its own) copying this test's database into the SQLite file `made`, its
 * standard error to `err`: started, and given until the file is made and
 * a moment more for the copy to begin. */
static pid_t copy_started(const char *prog, const char *made, const char *err, bool own_sigterm)
{
    char target[1100];
    snprintf(target, sizeof target, "sqlite:///%s", made);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGINT, SIG_DFL); /* as a terminal's foreground job has it */
        if (chdir(th_tmpdir()) != 0 || (own_sigterm && setenv("CLI_APP_OWN_SIGTERM", "1", 1)))
            _exit(126);
        freopen("/dev/null", "w", stdout);
        freopen(err, "w", stderr);
        execl(prog, prog, "db", "copy", th_url(), target, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 2000 && access(made, F_OK) != 0; i++)
        usleep(1000);
    ck_assert_msg(access(made, F_OK) == 0, "%s was not made", made);
    usleep(50000);
    return pid;
}

START_TEST(cli_copy)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE owner (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL)");
    th_exec(db, "CREATE TABLE pet (id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES owner (id), "
                "name VARCHAR(20))");
    th_exec(db, "INSERT INTO owner (id, name) VALUES (1, 'ann'), (2, 'bob')");
    th_exec(db, "INSERT INTO pet (id, owner_id, name) VALUES (1, 1, 'rex'), (2, 2, 'tom'), "
                "(3, 2, 'kit')");
    strata_db_close(db);
    char args[4096];
    snprintf(args, sizeof args, "db copy '%s' 'sqlite:///%s/copy.db' --batch 2", th_url(),
             th_tmpdir());
    result r = run(args);
    EXPECT(r, 0, "Done: every table's rows and checksum match.");
    ck_assert_msg(strstr(r.out, "INFO  [strata.copy] pet: 3 rows in"), "%s", r.out);
    ck_assert_msg(strstr(r.out, "owner            2            2"), "%s", r.out);
    strata_db *copy = NULL;
    char url[1024];
    snprintf(url, sizeof url, "sqlite:///%s/copy.db", th_tmpdir());
    copy = th_open_url(url);
    ck_assert_int_eq(th_int(copy, "SELECT count(*) FROM pet WHERE owner_id = 2"), 2);
    strata_db_close(copy);
    EXPECT(run(args), 1, "table owner on the target already has 2 rows");
    /* A SQLite source that is not there is an error, and is not made. */
    char missing[1024];
    snprintf(missing, sizeof missing, "%s/no-such-source.db", th_tmpdir());
    snprintf(args, sizeof args, "db copy 'sqlite:///%s' 'sqlite:///%s/copy2.db'", missing,
             th_tmpdir());
    EXPECT(run(args), 1, "no-such-source.db");
    ck_assert_msg(access(missing, F_OK) != 0, "%s was made", missing);
    /* A source is only read: a file in the rollback journal's mode keeps
     * it (a connection that may write would switch it to WAL). */
    snprintf(url, sizeof url, "sqlite:///%s/plain.db?journal_mode=delete", th_tmpdir());
    strata_db *plain = th_open_url(url);
    th_exec(plain, "CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)");
    th_exec(plain, "INSERT INTO note (id, body) VALUES (1, 'kept')");
    strata_db_close(plain);
    snprintf(args, sizeof args, "db copy 'sqlite:///%s/plain.db' 'sqlite:///%s/plain-copy.db'",
             th_tmpdir(), th_tmpdir());
    EXPECT(run(args), 0, "Done: every table's rows and checksum match.");
    snprintf(url, sizeof url, "sqlite:///%s/plain.db?mode=ro", th_tmpdir());
    plain = th_open_url(url);
    strata_stmt *jm = NULL;
    th_rc(plain, strata_stmt_prepare(&jm, plain, "PRAGMA journal_mode"), STRATA_OK);
    th_rc(plain, strata_stmt_step(jm), STRATA_ROW);
    const char *mode = NULL;
    th_rc(plain, strata_stmt_column_text(jm, 0, &mode, NULL), STRATA_OK);
    ck_assert_str_eq(mode, "delete");
    strata_stmt_finalize(jm);
    strata_db_close(plain);
    /* A copy that fails into a SQLite file it made leaves no file; one
     * into a file that was there leaves it. */
    snprintf(url, sizeof url, "sqlite:///%s/latin.db", th_tmpdir());
    strata_db *latin = th_open_url(url);
    th_exec(latin, "CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)");
    th_exec(latin, "INSERT INTO note (id, body) VALUES (1, CAST(X'FE' AS TEXT))");
    strata_db_close(latin);
    char made[1024];
    snprintf(made, sizeof made, "%s/made-by-copy.db", th_tmpdir());
    snprintf(args, sizeof args, "db copy '%s' 'sqlite:///%s'", url, made);
    EXPECT(run(args), 1, "(the row with id=1): column body: text is not valid UTF-8");
    ck_assert_msg(access(made, F_OK) != 0, "%s was left", made);
    snprintf(args, sizeof args, "db copy '%s' 'sqlite:///%s/copy.db' --into-non-empty", url,
             th_tmpdir());
    EXPECT(run(args), 3, "the target's schema differs from the source's");
    snprintf(missing, sizeof missing, "%s/copy.db", th_tmpdir());
    ck_assert_msg(access(missing, F_OK) == 0, "%s was removed", missing);
    EXPECT(run("db copy 'sqlite:///a.db'"), 2, "strata db copy: copy needs SOURCE_URL and TARGET_URL");
    EXPECT(run("db copy a b c"), 2, "strata db copy: too many arguments");
    EXPECT(run("db copy a b --batch 0"), 2, "--batch takes a number of rows (1 to 100000)");
    EXPECT(run("db current --into-non-empty"), 2, "--batch and --into-non-empty are for copy");
    EXPECT(run("db copy --help"), 0, "--into-non-empty");
    snprintf(args, sizeof args,
             "db copy '%s' 'postgresql://someone:s3cr3t@127.0.0.1:1/nowhere?connect_timeout=2'",
             th_url());
    r = run(args);
    EXPECT(r, 1, "could not connect");
    ck_assert_msg(!strstr(r.out, "s3cr3t"), "password shown: %s", r.out);

    /* A copy into a SQLite file it made, ended by a signal while it
     * writes (Ctrl-C, kill): the file goes with it. */
    db = th_open();
    th_exec(db, "CREATE TABLE bulk (id INTEGER PRIMARY KEY, v VARCHAR(40))");
    th_exec(db, "INSERT INTO bulk (id, v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                "FROM n WHERE i < 200000) SELECT i, 'row number ' || i FROM n");
    strata_db_close(db);
    static const int sigs[] = {SIGTERM, SIGINT};
    for (size_t k = 0; k < 2; k++) {
        snprintf(made, sizeof made, "%s/killed-%zu.db", th_tmpdir(), k);
        char target[1100], tool[2100];
        snprintf(tool, sizeof tool, "%s/tools/strata", top);
        pid_t pid = copy_started(tool, made, "/dev/null", false);
        kill(pid, sigs[k]);
        int st = 0;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == sigs[k], "the copy ended with %d", st);
        ck_assert_msg(access(made, F_OK) != 0, "%s was left", made);
        snprintf(target, sizeof target, "%s-wal", made);
        ck_assert_msg(access(target, F_OK) != 0, "%s was left", target);
    }

    /* A program running the tool inside itself (strata_cli_main) with a
     * SIGTERM handler of its own: the handler stays, the signal is the
     * program's, and the copy goes on to the end. */
    snprintf(made, sizeof made, "%s/kept.db", th_tmpdir());
    char target[1100], app[2100], said[1400];
    snprintf(target, sizeof target, "sqlite:///%s", made);
    snprintf(app, sizeof app, "%s/tests/cli_app", top);
    snprintf(said, sizeof said, "%s/kept.err", th_tmpdir());
    pid_t pid = copy_started(app, made, said, true);
    kill(pid, SIGTERM);
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    FILE *f = fopen(said, "r");
    char line[512] = "";
    while (f && fgets(line, sizeof line, f) && !strstr(line, "SIGTERM handled"))
        ;
    if (f)
        fclose(f);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the copy ended with %d", st);
    ck_assert_str_eq(line, "SIGTERM handled 1 times; handler kept\n");
    strata_db *kept = th_open_url(target);
    ck_assert_int_eq(th_int(kept, "SELECT count(*) FROM bulk"), 200000);
    strata_db_close(kept);
}
END_TEST

START_TEST(cli_argument_errors_and_the_configured_url)
{
    EXPECT(run("--help"), 0, "usage: strata db COMMAND [OPTIONS]");
    EXPECT(run("-h"), 0, "exit codes: 0 done, 1 failed, 2 bad arguments");
    EXPECT(run("frob"), 2, "usage: strata db COMMAND [OPTIONS]");
    EXPECT(run(""), 2, "usage: strata db COMMAND [OPTIONS]");
    EXPECT(run("db init"), 0, "done");
    /* A SQLite file that is not there: current reads it as at base and
     * makes nothing. */
    EXPECT(run("db current --url sqlite:///typo.db"), 0, "");
    char typo[1200];
    snprintf(typo, sizeof typo, "%s/typo.db", th_tmpdir());
    ck_assert_int_ne(access(typo, F_OK), 0);
    snprintf(typo, sizeof typo, "%s/typo.db-wal", th_tmpdir());
    ck_assert_int_ne(access(typo, F_OK), 0);
    EXPECT(run("db current -v"), 2, "strata db current: -r and -v are for history");
    EXPECT(run("db heads -r base:head"), 2, "strata db heads: -r and -v are for history");
    EXPECT(run("db current --sql"), 2, "strata db current: --sql is for upgrade and downgrade");
    EXPECT(run("db current extra"), 2, "strata db current: too many arguments");
    EXPECT(run("db upgrade a b"), 2, "strata db upgrade: too many arguments");
    EXPECT(run("db heads 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17"), 2,
           "strata db: too many arguments");
    EXPECT(run("db revision -m ''"), 2, "strata db revision: a message is needed: -m MSG");
    EXPECT(run("db branches"), 0, "");
    EXPECT(run("db merge -m both"), 1,
           "strata db merge: merge needs at least two revisions (there are 0 heads)");

    /* One revision; history with a range and verbosely. */
    EXPECT(run("db revision --message=only"), 0, "_only.yaml ...  done");
    result h = run("db history -r base:head -v");
    ck_assert_msg(h.status == 0 && strstr(h.out, "(head)") && strstr(h.out, "only"), "%s", h.out);
    EXPECT(run("db history --rev-range=base:head"), 0, "<base> -> ");

    /* A URL given where a number or a directory goes: the message quotes
     * it without its password. */
    static const char *const misplaced[] = {
        "db current --lock-wait 'postgresql://u:Zq9secret@h/db'",
        "db copy --batch 'postgresql://u:Zq9secret@h/db' sqlite:///x.db",
        "db upgrade -d 'postgresql://u:Zq9secret@h/db'",
        "db init -d 'postgresql://u:Zq9secret@h/db'"};
    for (size_t i = 0; i < sizeof misplaced / sizeof *misplaced; i++) {
        result r = run(misplaced[i]);
        ck_assert_msg(r.status != 0 && strstr(r.out, "postgresql://u:***@h/db") &&
                          !strstr(r.out, "Zq9secret"),
                      "%s: exit %d: %s", misplaced[i], r.status, r.out);
    }
    /* The rest of a message is the library's, already without secrets:
     * a URL of its own keeps its "//", a revision message its "user:x@". */
    EXPECT(run("db current --url postgresql://u:Zq9secret@127.0.0.1:1/db"), 1,
           "could not connect to \"postgresql://u:***@127.0.0.1:1/db\"");

    /* A copy from or into a database in memory is refused: it copied an
     * empty one, or one thrown away with the command, and said done. */
    EXPECT(run("db copy sqlite:// sqlite:///copied.db"), 2, "the source is a database in memory");
    EXPECT(run("db copy sqlite:///x.db 'sqlite:///y.db?mode=memory'"), 2,
           "the target is a database in memory");
    char copied[1200];
    snprintf(copied, sizeof copied, "%s/copied.db", th_tmpdir());
    ck_assert_int_ne(access(copied, F_OK), 0);

    /* Output that cannot be written fails the command: a script saved
     * with `upgrade --sql > file` on a full disk is not taken as whole. */
    EXPECT(sh("'%s/tools/strata' db upgrade --sql --url sqlite:///x.db > /dev/full", top), 1,
           "strata db upgrade: writing the standard output failed (No space left on device)");
    EXPECT(sh("'%s/tools/strata' db history > /dev/full", top), 1, "what it shows is incomplete");

    /* The configured URL, with --url= given nowhere. */
    char path[1000];
    snprintf(path, sizeof path, "%s/migrations/strata.yaml", th_tmpdir());
    FILE *f = fopen(path, "a");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "database_url: '%s'\n", th_url());
    fclose(f);
    EXPECT(sh("env -u DATABASE_URL '%s/tools/strata' db upgrade", top), 0,
           "INFO  [strata.migration] Running upgrade  -> ");
    EXPECT(sh("'%s/tools/strata' db current --url='%s'", top, th_url()), 0, "(head)");
    EXPECT(sh("env -u DATABASE_URL '%s/tools/strata' db downgrade base", top), 0,
           "Running downgrade");
    result cur = sh("'%s/tools/strata' db current --url='%s'", top, th_url());
    ck_assert_msg(cur.status == 0 && !strstr(cur.out, "(head)"), "%s", cur.out);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    if (e != TH_SQLITE_MEMORY) {
        tcase_add_test(tc, cli_commands_end_to_end);
        tcase_add_test(tc, cli_app_tutorial_sequence);
        tcase_add_test(tc, cli_microblog_walkthrough);
        tcase_add_test(tc, cli_argument_errors_and_the_configured_url);
        tcase_add_test(tc, cli_copy);
        if (e == TH_SQLITE_FILE) /* README's tutorial is on the default SQLite */
            tcase_add_test(tc, cli_readme_transcripts);
    }
}

static Suite *build(void) { return th_suite("cli", add); }

int main(void)
{
    const char *env = getenv("top_builddir");
    if (env && *env)
        snprintf(top, sizeof top, "%s", env);
    else if (!getcwd(top, sizeof top))
        return 99;
    env = getenv("top_srcdir");
    snprintf(src, sizeof src, "%s", env && *env ? env : top);
    return th_run(build);
}
