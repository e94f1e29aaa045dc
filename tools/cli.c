/*
 * cli.c - strata_cli_main(): the `db` commands over the migration API.
 *
 * Parsing is by hand: the command is the first word after "db" that is not
 * an option, options may come before or after it, and every option that
 * takes a value accepts both "--url X" and "--url=X".  Output lines follow
 * Flask-Migrate's (INFO  [strata.migration] Running upgrade ...) so a
 * transcript of the tutorial reads the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "strata.h"
#include "strata/cli.h"

#define DEFAULT_DIR "migrations"

typedef struct cli {
    const char *prog;
    const char *command;
    const char *url, *dir, *message, *range, *lock_wait, *batch;
    bool sql, verbose, help, into_non_empty;
    const char *pos[16];
    int npos;
    const strata_model *const *models;
} cli;

typedef struct command {
    const char *name;
    const char *args; /* usage after the name */
    const char *about;
    int (*run)(cli *c);
    bool needs_models;
} command;

/* Log lines (INFO ...) go to standard error, as Alembic's do, so that a
 * command's result on standard output can be captured by a script;
 * standard output is flushed first, so the two keep their order when
 * they share a terminal or a file. */
static void info(const char *logger, const char *fmt, ...) STRATA_PRINTF(2, 3);
static void info(const char *logger, const char *fmt, ...)
{
    fflush(stdout);
    fprintf(stderr, "INFO  [strata.%s] ", logger);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

static void print_line(void *ud, const char *line)
{
    (void)ud;
    if (!strncmp(line, "Detected ", 9) || !strncmp(line, "WARNING: ", 9)) {
        info("autogenerate", "%s", line);
        return;
    }
    if (!strncmp(line, "Running ", 8) || !strncmp(line, "Waiting ", 8)) {
        info("migration", "%s", line);
        return;
    }
    if (!strncmp(line, "Generating ", 11))
        printf("  %s\n", line);
    else
        printf("%s\n", line);
    fflush(stdout);
}

/* An argument as the user gave it, for a message: a URL put where
 * something else was expected shows without its password.  Caller frees
 * with strata_free(); NULL when out of memory. */
static char *shown(const char *arg) { return strata_url_redact(arg); }

/* `text` with each occurrence of the argument `arg` replaced by its
 * redacted form, when that differs (a URL given where a directory or a
 * revision goes); NULL when out of memory. */
static char *arg_redacted(char *text, const char *arg)
{
    if (!text || !arg || !*arg)
        return text;
    char *red = shown(arg);
    if (!red || strcmp(red, arg) == 0) {
        bool nomem = !red;
        strata_free(red);
        if (nomem)
            free(text);
        return nomem ? NULL : text;
    }
    strata__sb sb;
    strata__sb_init(&sb);
    size_t n = strlen(arg);
    const char *p = text;
    for (const char *at; (at = strstr(p, arg)) != NULL; p = at + n) {
        strata__sb_putn(&sb, p, (size_t)(at - p));
        strata__sb_puts(&sb, red);
    }
    strata__sb_puts(&sb, p);
    strata_free(red);
    free(text);
    return strata__sb_take(&sb);
}

static int fail(cli *c, int code, const char *what)
{
    fflush(stdout);
    /* A message may quote what the user gave (a URL passed as a
     * directory, say): those arguments are shown redacted. */
    char *clean = strdup(what);
    clean = arg_redacted(clean, c->dir);
    for (int i = 0; i < c->npos; i++)
        clean = arg_redacted(clean, c->pos[i]);
    fprintf(stderr, "%s db %s: %s\n", c->prog, c->command ? c->command : "",
            clean ? clean : "(a message that could not be shown without its secrets)");
    free(clean);
    return code;
}

/* A command's standard output that could not all be written (a full
 * disk, /dev/full) fails it: `db upgrade --sql > file` must not leave a
 * short file and exit 0. */
static int output_checked(cli *c, int rc)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return rc;
    char what[200];
    snprintf(what, sizeof what,
             "writing the standard output failed (%s): what it shows is incomplete",
             errno ? strerror(errno) : "an error on the stream");
    fail(c, STRATA_CLI_FAILED, what);
    return rc == STRATA_CLI_OK ? STRATA_CLI_FAILED : rc;
}

static int mig_fail(cli *c, strata_migrations *m, int rc)
{
    fail(c, rc == STRATA_E_OUTDATED ? STRATA_CLI_OUTDATED : STRATA_CLI_FAILED,
         m ? strata_migrations_errmsg(m) : strata_errstr(rc));
    return rc == STRATA_E_OUTDATED ? STRATA_CLI_OUTDATED : STRATA_CLI_FAILED;
}

static int open_repo(cli *c, strata_migrations **m)
{
    int rc = strata_migrations_open(m, c->dir);
    if (rc != STRATA_OK) {
        mig_fail(c, *m, rc);
        strata_migrations_free(*m);
        *m = NULL;
        return STRATA_CLI_FAILED;
    }
    strata_migrations_set_output(*m, print_line, NULL);
    if (c->lock_wait)
        strata_migrations_set_lock_wait(*m, (int)(strtod(c->lock_wait, NULL) * 1000));
    return STRATA_CLI_OK;
}

/* --url, else DATABASE_URL, else the repository's default, else
 * sqlite:///app.db. */
static const char *url_of(const cli *c, const strata_migrations *m)
{
    if (c->url)
        return c->url;
    const char *env = getenv("DATABASE_URL");
    if (env && *env)
        return env;
    if (m && strata_migrations_default_url(m))
        return strata_migrations_default_url(m);
    return STRATA_DEFAULT_URL;
}

/* The file a SQLite URL names when the open may make it (no mode, or
 * mode=rwc; not a database in memory): its path (caller frees), else
 * NULL. */
static char *makeable_sqlite_file(const char *url)
{
    strata_url *u = NULL;
    char *path = NULL;
    if (strata_url_parse(&u, url) == STRATA_OK && strata_url_backend(u) &&
        strcmp(strata_url_backend(u), "sqlite") == 0) {
        const char *db = strata_url_database(u), *mode = strata_url_param(u, "mode");
        if (db && db[0] && strcmp(db, ":memory:") != 0 && (!mode || !strcmp(mode, "rwc")))
            path = strdup(db);
    }
    strata_url_free(u);
    return path;
}

/* The file of a SQLite URL that the open may make and that is not there:
 * its path (caller frees), else NULL. */
static char *sqlite_file_missing(const char *url)
{
    char *path = makeable_sqlite_file(url);
    if (path && !(access(path, F_OK) != 0 && errno == ENOENT)) {
        free(path);
        path = NULL;
    }
    return path;
}

static int open_db(cli *c, strata_migrations *m, strata_db **db)
{
    const char *url = url_of(c, m);
    int rc = strata_db_open(db, url);
    if (rc != STRATA_OK) {
        fail(c, STRATA_CLI_FAILED, strata_db_errmsg(*db));
        strata_db_close(*db);
        *db = NULL;
        return STRATA_CLI_FAILED;
    }
    info("migration", "Context impl %s.", strata_db_backend(*db));
    info("migration", "Will assume transactional DDL.");
    return STRATA_CLI_OK;
}

/* The repository and the database, both open, or an exit code. */
static int open_both(cli *c, strata_migrations **m, strata_db **db)
{
    *db = NULL;
    int code = open_repo(c, m);
    if (code == STRATA_CLI_OK && (code = open_db(c, *m, db)) != STRATA_CLI_OK) {
        strata_migrations_free(*m);
        *m = NULL;
    }
    return code;
}

static int done(cli *c, strata_migrations *m, strata_db *db, int rc)
{
    int code = rc == STRATA_OK ? STRATA_CLI_OK : mig_fail(c, m, rc);
    strata_migrations_free(m);
    strata_db_close(db);
    return code;
}

static strata_metadata *models_md(cli *c)
{
    strata_metadata *md;
    if (strata_metadata_new(&md) != STRATA_OK)
        return NULL;
    if (strata_metadata_add_models(md, c->models) != STRATA_OK) {
        fail(c, STRATA_CLI_FAILED, strata_metadata_errmsg(md));
        strata_metadata_free(md);
        return NULL;
    }
    return md;
}

/* ---- commands ---------------------------------------------------------- */

static int cmd_init(cli *c)
{
    strata_migrations *m;
    int rc = strata_migrations_init(&m, c->dir);
    if (rc == STRATA_OK)
        printf("  Creating directory %s ...  done\n"
               "  Generating %s/strata.yaml ...  done\n"
               "  Generating %s/README ...  done\n"
               "  Creating directory %s/versions ...  done\n"
               "  Please edit %s/strata.yaml to set the default database if you need one.\n",
               c->dir, c->dir, c->dir, c->dir, c->dir);
    return done(c, m, NULL, rc);
}

static int cmd_revision(cli *c)
{
    strata_migrations *m;
    int code = open_repo(c, &m);
    if (code != STRATA_CLI_OK)
        return code;
    return done(c, m, NULL, strata_migrations_revision(m, c->message, NULL));
}

/* migrate and check: the models against the database. */
static int compare_models(cli *c, bool write)
{
    strata_migrations *m;
    strata_db *db;
    int code = open_both(c, &m, &db);
    if (code != STRATA_CLI_OK)
        return code;
    strata_metadata *md = models_md(c);
    int rc = !md     ? STRATA_E_SCHEMA
             : write ? strata_migrations_autogenerate(m, db, md, c->message, NULL)
                     : strata_migrations_check(m, db, md);
    strata_metadata_free(md);
    return done(c, m, db, rc);
}

static int cmd_migrate(cli *c) { return compare_models(c, true); }
static int cmd_check(cli *c) { return compare_models(c, false); }

/* upgrade / downgrade, live or --sql. */
static int run_migration(cli *c, bool up)
{
    const char *target = c->npos ? c->pos[0] : (up ? "head" : "-1");
    strata_migrations *m;
    int code = open_repo(c, &m);
    if (code != STRATA_CLI_OK)
        return code;
    if (c->sql) {
        strata_url *u;
        const char *url = url_of(c, m);
        if (strata_url_parse(&u, url) != STRATA_OK) {
            fail(c, STRATA_CLI_FAILED, strata_url_errmsg(u));
            strata_url_free(u);
            strata_migrations_free(m);
            return STRATA_CLI_FAILED;
        }
        const strata_driver *drv = strata_driver_find(strata_url_backend(u));
        strata_url_free(u);
        char *sql = NULL;
        int rc = !drv ? STRATA_E_UNSUPPORTED
                 : up ? strata_migrations_upgrade_sql(m, drv, target, &sql)
                      : strata_migrations_downgrade_sql(m, drv, target, &sql);
        if (rc == STRATA_OK)
            fputs(sql, stdout);
        strata_free(sql);
        return done(c, m, NULL, rc);
    }
    strata_db *db;
    if ((code = open_db(c, m, &db)) != STRATA_CLI_OK) {
        strata_migrations_free(m);
        return code;
    }
    int rc =
        up ? strata_migrations_upgrade(m, db, target) : strata_migrations_downgrade(m, db, target);
    return done(c, m, db, rc);
}

static int cmd_upgrade(cli *c) { return run_migration(c, true); }
static int cmd_downgrade(cli *c) { return run_migration(c, false); }

static int cmd_stamp(cli *c)
{
    strata_migrations *m;
    strata_db *db;
    int code = open_both(c, &m, &db);
    if (code != STRATA_CLI_OK)
        return code;
    return done(c, m, db, strata_migrations_stamp(m, db, c->pos[0]));
}

static int cmd_current(cli *c)
{
    strata_migrations *m;
    strata_db *db;
    /* A SQLite file that is not there is at base: reading it makes no
     * file (a mistyped path would otherwise become an empty database). */
    int code = open_repo(c, &m);
    if (code != STRATA_CLI_OK)
        return code;
    char *missing = sqlite_file_missing(url_of(c, m));
    if (missing) {
        free(missing);
        return done(c, m, NULL, STRATA_OK);
    }
    if ((code = open_db(c, m, &db)) != STRATA_CLI_OK) {
        strata_migrations_free(m);
        return code;
    }
    if (code != STRATA_CLI_OK)
        return code;
    char *text = NULL;
    int rc = strata_migrations_current(m, db, &text);
    if (rc == STRATA_OK)
        fputs(text, stdout);
    strata_free(text);
    return done(c, m, db, rc);
}

/* history, heads, branches: text from the repository alone. */
static int report(cli *c, int which)
{
    strata_migrations *m;
    int code = open_repo(c, &m);
    if (code != STRATA_CLI_OK)
        return code;
    char *text = NULL;
    int rc = which == 0   ? strata_migrations_history(m, c->range, c->verbose, &text)
             : which == 1 ? strata_migrations_heads(m, &text)
                          : strata_migrations_branches(m, &text);
    if (rc == STRATA_OK)
        fputs(text, stdout);
    strata_free(text);
    return done(c, m, NULL, rc);
}

static int cmd_history(cli *c) { return report(c, 0); }
static int cmd_heads(cli *c) { return report(c, 1); }
static int cmd_branches(cli *c) { return report(c, 2); }

static int cmd_merge(cli *c)
{
    strata_migrations *m;
    int code = open_repo(c, &m);
    if (code != STRATA_CLI_OK)
        return code;
    const char *revs[17] = {0};
    for (int i = 0; i < c->npos; i++)
        revs[i] = c->pos[i];
    return done(c, m, NULL, strata_migrations_merge(m, c->npos ? revs : NULL, c->message, NULL));
}

/* db copy: progress on standard error, one line redrawn per table on a
 * terminal, a line per finished table otherwise; the verification table on
 * standard output. */
typedef struct copy_view {
    bool tty;
    char table[128];
    struct timespec start;
} copy_view;

static double since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void copy_progress(void *ud, const char *table, int64_t done, int64_t total)
{
    copy_view *v = ud;
    if (strcmp(v->table, table) != 0) {
        snprintf(v->table, sizeof v->table, "%s", table);
        clock_gettime(CLOCK_MONOTONIC, &v->start);
    }
    double s = since(&v->start);
    double rate = s > 0 ? (double)done / s : 0;
    fflush(stdout);
    if (v->tty)
        fprintf(stderr, "\r  %-24s %10lld / %-10lld rows  %9.0f rows/s%s", table, (long long)done,
                (long long)total, rate, done == total ? "\n" : "");
    else if (done == total)
        info("copy", "%s: %lld rows in %.2f s (%.0f rows/s)", table, (long long)done, s, rate);
    fflush(stderr);
}

static void copy_print(void *ud, const char *line)
{
    (void)ud;
    printf("%s\n", line);
}

/* url, with mode=ro added when it names a SQLite database without a mode
 * (read by the library's URL reader; a URL it refuses goes as it is, for
 * the open to say why): the source is read, never made nor changed (a
 * connection that may write switches the file to WAL). */
static char *source_url(const char *url)
{
    strata_url *u = NULL;
    bool add = strata_url_parse(&u, url) == STRATA_OK && strata_url_backend(u) &&
               strcmp(strata_url_backend(u), "sqlite") == 0 && !strata_url_param(u, "mode");
    strata_url_free(u);
    size_t n = strlen(url) + sizeof "&mode=ro";
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s", url, !add ? "" : strchr(url, '?') ? "&mode=ro" : "?mode=ro");
    return out;
}

/* When `url` names a SQLite file that is not there yet and lets the open
 * make it (no mode, or mode=rwc), make it (empty, which SQLite reads as
 * an empty database, with SQLite's own permissions) and give its path;
 * else NULL.  Made here, with O_EXCL, so that a file another program made
 * meanwhile is never taken for this one's. */
static char *new_sqlite_file(const char *url)
{
    char *path = makeable_sqlite_file(url);
    int fd = path ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) : -1;
    if (fd < 0) {
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}

/* The files of a SQLite database made for a copy: the database, and
 * what SQLite keeps beside it.  Named before the copy, for a signal's
 * handler, which may only unlink them ("": none). */
static const char *const sqlite_tails[] = {"", "-wal", "-shm", "-journal"};
static char made_files[4][PATH_MAX];
static volatile sig_atomic_t made_armed; /* the copy has not succeeded */

static void name_sqlite_files(const char *path)
{
    for (size_t i = 0; i < 4; i++)
        if ((size_t)snprintf(made_files[i], PATH_MAX, "%s%s", path, sqlite_tails[i]) >= PATH_MAX)
            made_files[i][0] = '\0';
}

/* A failed copy into a SQLite file it made leaves no file behind. */
static void remove_sqlite_files(void)
{
    for (size_t i = 0; i < 4; i++)
        if (made_files[i][0])
            unlink(made_files[i]);
}

/* A copy interrupted (Ctrl-C, kill) into a SQLite file it made: the
 * files go, and the signal ends the program as it would have. */
static void copy_interrupted(int sig)
{
    if (made_armed)
        remove_sqlite_files();
    signal(sig, SIG_DFL);
    raise(sig);
}

static const int copy_signals[] = {SIGINT, SIGTERM, SIGHUP};

/* Handle the signals that end a copy while it writes a file it made
 * (`on`), or put back what was there.  Only those whose action is to end
 * the program: one it was started to ignore (nohup, a background job's
 * SIGINT) stays ignored, and a program that runs the tool inside itself
 * (strata_cli_main) keeps its own handlers. */
static void catch_copy_signals(bool on, struct sigaction *was)
{
    struct sigaction sa = {.sa_handler = copy_interrupted};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof copy_signals / sizeof *copy_signals; i++) {
        if (!on) {
            sigaction(copy_signals[i], &was[i], NULL);
        } else if (sigaction(copy_signals[i], NULL, &was[i]) == 0 &&
                   !(was[i].sa_flags & SA_SIGINFO) && was[i].sa_handler == SIG_DFL) {
            sigaction(copy_signals[i], &sa, NULL);
        }
    }
}

/* Whether `url` names a database in memory, the connection's own: the
 * command's connection is its only one, gone when the command ends. */
static bool in_memory(const char *url)
{
    strata_url *u = NULL;
    bool mine = strata_url_parse(&u, url) == STRATA_OK &&
                strata__drv_url_is_private(strata__url_driver(u), u);
    strata_url_free(u);
    return mine;
}

static int cmd_copy(cli *c)
{
    if (c->npos != 2)
        return fail(c, STRATA_CLI_USAGE, "copy needs SOURCE_URL and TARGET_URL");
    /* A copy from a database in memory would copy an empty one, and one
     * into it would be thrown away with the command's connection. */
    for (int i = 0; i < 2; i++)
        if (in_memory(c->pos[i]))
            return fail(c, STRATA_CLI_USAGE,
                        i == 0 ? "the source is a database in memory: this command's connection "
                                 "would see an empty one of its own (copy from a file)"
                               : "the target is a database in memory: the copy would go with "
                                 "this command's connection when it ends (copy into a file)");
    /* The repository's version table, when there is one here. */
    strata_migrations *m = NULL;
    struct stat sb;
    if (stat(c->dir, &sb) == 0 && strata_migrations_open(&m, c->dir) != STRATA_OK) {
        mig_fail(c, m, STRATA_E_MIGRATION);
        strata_migrations_free(m);
        return STRATA_CLI_FAILED;
    }
    strata_db *src = NULL, *dst = NULL;
    int code = STRATA_CLI_OK;
    /* A SQLite source is opened read-only: a mistyped path is an error,
     * not an empty database copied, and the file is left as it was. */
    char *from = source_url(c->pos[0]);
    if (!from)
        code = fail(c, STRATA_CLI_FAILED, "out of memory");
    else if (strata_db_open(&src, from) != STRATA_OK)
        code = fail(c, STRATA_CLI_FAILED, strata_db_errmsg(src));
    free(from);
    /* The signals wait while the file is made and their handler set, so
     * that none ends the program in between and leaves the file. */
    sigset_t block, before;
    sigemptyset(&block);
    for (size_t i = 0; i < sizeof copy_signals / sizeof *copy_signals; i++)
        sigaddset(&block, copy_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &before);
    char *made = code == STRATA_CLI_OK ? new_sqlite_file(c->pos[1]) : NULL;
    struct sigaction was[sizeof copy_signals / sizeof *copy_signals];
    if (made) {
        name_sqlite_files(made);
        made_armed = 1;
        catch_copy_signals(true, was);
    }
    sigprocmask(SIG_SETMASK, &before, NULL);
    if (code == STRATA_CLI_OK && strata_db_open(&dst, c->pos[1]) != STRATA_OK)
        code = fail(c, STRATA_CLI_FAILED, strata_db_errmsg(dst));
    if (code == STRATA_CLI_OK) {
        copy_view view = {.tty = isatty(2) != 0};
        strata_copy_options o = {STRATA_COPY_OPTIONS_VERSION,
                                 .version_table = strata_migrations_version_table(m),
                                 .batch_rows = c->batch ? atoi(c->batch) : 0,
                                 .into_non_empty = c->into_non_empty,
                                 .progress = copy_progress,
                                 .print = copy_print,
                                 .ud = &view};
        info("copy", "Copying %s into %s.", strata_db_url(src), strata_db_url(dst));
        int rc = strata_copy_database(src, dst, &o);
        if (rc == STRATA_OK)
            made_armed = 0; /* the file is the copy now */
        if (rc != STRATA_OK)
            code = fail(c, rc == STRATA_E_OUTDATED ? STRATA_CLI_OUTDATED : STRATA_CLI_FAILED,
                        strata_db_errmsg(dst));
        else
            info("copy", "%s", c->into_non_empty
                                   ? "Done: every table has what it had plus the source's rows, "
                                     "checksums matching."
                                   : "Done: every table's rows and checksum match.");
    }
    strata_db_close(src);
    strata_db_close(dst);
    if (made && code != STRATA_CLI_OK)
        remove_sqlite_files();
    if (made)
        catch_copy_signals(false, was);
    free(made);
    strata_migrations_free(m);
    return code;
}

static const command commands[] = {
    {"init", "", "create a migrations repository", cmd_init, false},
    {"revision", "-m MSG", "write an empty revision to fill in by hand", cmd_revision, false},
    {"migrate", "-m MSG", "write a revision from the models' changes (autogenerate)", cmd_migrate,
     true},
    {"upgrade", "[TARGET] [--sql]", "upgrade to TARGET (default head)", cmd_upgrade, false},
    {"downgrade", "[TARGET] [--sql]", "downgrade to TARGET (default -1)", cmd_downgrade, false},
    {"current", "", "show the database's revision", cmd_current, false},
    {"history", "[-r A:B] [-v]", "list the revisions, newest first", cmd_history, false},
    {"heads", "", "show the heads", cmd_heads, false},
    {"branches", "", "show the branch points", cmd_branches, false},
    {"merge", "-m MSG [REV...]", "merge heads (all, or the ones given) into one revision",
     cmd_merge, false},
    {"stamp", "TARGET", "set the database's revision without running anything", cmd_stamp, false},
    {"check", "", "fail when the models and the database at head differ", cmd_check, true},
    {"copy", "SOURCE_URL TARGET_URL", "copy every table into another database (all or nothing)",
     cmd_copy, false},
};

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static void usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s db COMMAND [OPTIONS]\n"
            "       %s --version\n\n"
            "commands:\n",
            prog, prog);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %-18s %s\n", commands[i].name, commands[i].args, commands[i].about);
    fprintf(f, "\noptions for every command:\n"
               "  --url URL        the database (else DATABASE_URL, else the repository's\n"
               "                   database_url, else " STRATA_DEFAULT_URL ")\n"
               "  -d, --directory DIR  the migrations repository (default migrations)\n"
               "  --lock-wait SECONDS  how long to wait for another process's migrations\n"
               "                   (default 600)\n"
               "  -h, --help       help for the command\n"
               "\nexit codes: 0 done, 1 failed, 2 bad arguments, 3 not up to date / differences\n");
}

static void command_help(const char *prog, const command *cmd)
{
    printf("usage: %s db %s %s\n\n%s.\n\noptions:\n"
           "  --url URL        the database (else DATABASE_URL, else the repository's\n"
           "                   database_url, else " STRATA_DEFAULT_URL ")\n"
           "  -d, --directory DIR  the migrations repository (default migrations)\n"
           "  --lock-wait SECONDS  how long to wait for another process's migrations\n"
           "                   (default 600)\n",
           prog, cmd->name, cmd->args, cmd->about);
    if (strstr(cmd->args, "-m"))
        printf("  -m, --message MSG    the revision's message\n");
    if (strstr(cmd->args, "--sql"))
        printf("  --sql            print the SQL instead of running it; TARGET may be FROM:TO\n");
    if (strstr(cmd->args, "-r"))
        printf("  -r, --rev-range A:B  only revisions from A to B\n"
               "  -v, --verbose    parents, file and date too\n");
    if (!strcmp(cmd->name, "copy"))
        printf("  --batch N        rows per INSERT (default 500)\n"
               "  --into-non-empty copy into tables that already have rows (what is added\n"
               "                   must count and checksum as the source's rows)\n"
               "\nThe target gets the source's schema when it has no tables; otherwise it must\n"
               "be at the source's revision.  One transaction on the target: it commits only\n"
               "when every table's row count and checksum match the source's.  A SQLite\n"
               "source is opened read-only; a SQLite target file the copy made is removed\n"
               "when it fails.\n");
}

/* An option's value: "--opt=X" or the next argument. */
static const char *value(cli *c, int argc, char **argv, int *i, const char *opt, bool *bad)
{
    const char *eq = strchr(argv[*i], '=');
    if (eq && !strncmp(argv[*i], "--", 2))
        return eq + 1;
    /* An option where the value should be (-m --url X) is taken as the
     * value forgotten, not as the value (--message=--x gives a value that
     * starts with --). */
    if (*i + 1 >= argc || !strncmp(argv[*i + 1], "--", 2)) {
        fprintf(stderr, "%s db: option %s needs a value\n", c->prog, opt);
        *bad = true;
        return NULL;
    }
    return argv[++*i];
}

static bool is_opt(const char *arg, const char *s, const char *l)
{
    size_t n = strlen(l);
    return (s && !strcmp(arg, s)) || !strcmp(arg, l) || (!strncmp(arg, l, n) && arg[n] == '=');
}

int strata_cli_main(int argc, char **argv, const strata_model *const *models)
{
    cli c = {.prog = argc > 0 && argv[0]
                         ? strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0]
                         : "strata",
             .dir = DEFAULT_DIR,
             .models = models};
    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        printf("strata %s\n", strata_version());
        return STRATA_CLI_OK;
    }
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout, c.prog);
        return STRATA_CLI_OK;
    }
    if (argc < 2 || strcmp(argv[1], "db") != 0) {
        usage(stderr, c.prog);
        return STRATA_CLI_USAGE;
    }
    bool bad = false;
    for (int i = 2; i < argc && !bad; i++) {
        const char *a = argv[i];
        if (is_opt(a, NULL, "--url"))
            c.url = value(&c, argc, argv, &i, "--url", &bad);
        else if (is_opt(a, "-d", "--directory"))
            c.dir = value(&c, argc, argv, &i, "--directory", &bad);
        else if (is_opt(a, "-m", "--message"))
            c.message = value(&c, argc, argv, &i, "--message", &bad);
        else if (is_opt(a, "-r", "--rev-range"))
            c.range = value(&c, argc, argv, &i, "--rev-range", &bad);
        else if (is_opt(a, NULL, "--lock-wait"))
            c.lock_wait = value(&c, argc, argv, &i, "--lock-wait", &bad);
        else if (is_opt(a, NULL, "--batch"))
            c.batch = value(&c, argc, argv, &i, "--batch", &bad);
        else if (!strcmp(a, "--into-non-empty"))
            c.into_non_empty = true;
        else if (!strcmp(a, "--sql"))
            c.sql = true;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
            c.verbose = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            c.help = true;
        else if (a[0] == '-' && a[1] && !(a[1] >= '0' && a[1] <= '9')) {
            char *arg = shown(a);
            fprintf(stderr, "%s db: unknown option %s (see %s db --help)\n", c.prog,
                    arg ? arg : "(the argument)", c.prog);
            strata_free(arg);
            bad = true;
        } else if (!c.command)
            c.command = a;
        else if (c.npos < 16)
            c.pos[c.npos++] = a;
        else {
            fprintf(stderr, "%s db: too many arguments\n", c.prog);
            bad = true;
        }
    }
    if (!bad && c.lock_wait) {
        char *end;
        double s = strtod(c.lock_wait, &end);
        if (end == c.lock_wait || *end || !(s >= 0 && s <= 86400)) {
            char *arg = shown(c.lock_wait);
            fprintf(stderr, "%s db: --lock-wait takes seconds (0 to 86400), not \"%s\"\n", c.prog,
                    arg ? arg : "(the argument)");
            strata_free(arg);
            bad = true;
        }
    }
    if (!bad && c.batch) {
        char *end;
        long n = strtol(c.batch, &end, 10);
        if (end == c.batch || *end || n < 1 || n > 100000) {
            char *arg = shown(c.batch);
            fprintf(stderr, "%s db: --batch takes a number of rows (1 to 100000), not \"%s\"\n",
                    c.prog, arg ? arg : "(the argument)");
            strata_free(arg);
            bad = true;
        }
    }
    if (bad)
        return STRATA_CLI_USAGE;
    if (!c.command) {
        if (c.help) {
            usage(stdout, c.prog);
            return STRATA_CLI_OK;
        }
        usage(stderr, c.prog);
        return STRATA_CLI_USAGE;
    }
    const command *cmd = find_command(c.command);
    if (!cmd) {
        char *arg = shown(c.command);
        fprintf(stderr, "%s db: unknown command '%s' (see %s db --help)\n", c.prog,
                arg ? arg : "(the argument)", c.prog);
        strata_free(arg);
        return STRATA_CLI_USAGE;
    }
    if (c.help) {
        command_help(c.prog, cmd);
        return STRATA_CLI_OK;
    }
    /* Arguments each command takes. */
    int maxpos = !strcmp(cmd->name, "merge")  ? 16
                 : !strcmp(cmd->name, "copy") ? 2
                 : !strcmp(cmd->name, "upgrade") || !strcmp(cmd->name, "downgrade") ||
                         !strcmp(cmd->name, "stamp")
                     ? 1
                     : 0;
    if (c.npos > maxpos)
        return fail(&c, STRATA_CLI_USAGE, "too many arguments");
    if (!strcmp(cmd->name, "stamp") && c.npos != 1)
        return fail(&c, STRATA_CLI_USAGE, "stamp needs a TARGET (a revision, head, heads or base)");
    if (strstr(cmd->args, "-m") && (!c.message || !*c.message))
        return fail(&c, STRATA_CLI_USAGE, "a message is needed: -m MSG");
    if (c.sql && !strstr(cmd->args, "--sql"))
        return fail(&c, STRATA_CLI_USAGE, "--sql is for upgrade and downgrade");
    if ((c.range || c.verbose) && strcmp(cmd->name, "history") != 0)
        return fail(&c, STRATA_CLI_USAGE, "-r and -v are for history");
    if ((c.batch || c.into_non_empty) && strcmp(cmd->name, "copy") != 0)
        return fail(&c, STRATA_CLI_USAGE, "--batch and --into-non-empty are for copy");
    if (cmd->needs_models && !models)
        return fail(&c, STRATA_CLI_USAGE,
                    "this command compares your models with the database, so it runs from your "
                    "application's binary (which calls strata_cli_main with its models), not "
                    "from the standalone strata tool");
    return output_checked(&c, cmd->run(&c));
}
