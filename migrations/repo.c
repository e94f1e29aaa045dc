/*
 * repo.c - a migrations repository: creating one (init), loading its
 * config and revision files from disk or from files compiled into the
 * program, writing new revisions (revision, merge; autogen.c writes its
 * own through strata__mig_write_revision), and writing the embedded C
 * source.
 *
 * A new file is written to a temporary name and renamed into place, so an
 * interrupted write never leaves half a revision in versions/.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "migrate_internal.h"

#define CONFIG_FILE "strata.yaml"

/* ---- errors, output ---------------------------------------------------- */

int strata__mig_error(strata_migrations *m, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = strata__vformat(fmt, ap);
    va_end(ap);
    free(m->errmsg);
    m->errmsg = msg;
    m->errmsg_static = !msg && code != STRATA_OK ? "out of memory" : NULL;
    return code;
}

void strata__mig_print(strata_migrations *m, const char *fmt, ...)
{
    if (!m->print)
        return;
    /* Lines are short: one on the stack needs no memory that could run out
     * and lose it. */
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof buf) {
        m->print(m->print_ud, buf);
        return;
    }
    va_start(ap, fmt);
    char *line = strata__vformat(fmt, ap);
    va_end(ap);
    m->print(m->print_ud, line ? line : buf); /* cut short rather than lost */
    free(line);
}

const char *strata_migrations_errmsg(const strata_migrations *m)
{
    if (!m)
        return "";
    return m->errmsg ? m->errmsg : m->errmsg_static ? m->errmsg_static : "";
}

void strata_migrations_set_output(strata_migrations *m, strata_print_fn fn, void *ud)
{
    if (!m)
        return;
    m->print = fn;
    m->print_ud = ud;
}

void strata_migrations_set_lock_wait(strata_migrations *m, int ms)
{
    if (m && ms >= 0)
        m->lock_wait_ms = ms;
}

void strata_migrations_set_single_transaction(strata_migrations *m, int on)
{
    if (m)
        m->per_revision = !on;
}

const char *strata_migrations_default_url(const strata_migrations *m)
{
    return m ? m->database_url : NULL;
}

const char *strata_migrations_version_table(const strata_migrations *m)
{
    return m ? m->version_table : NULL;
}

/* ---- revisions --------------------------------------------------------- */

void strata__revision_free(strata__revision *r)
{
    if (!r)
        return;
    free(r->id);
    for (int i = 0; i < r->ndown; i++)
        free(r->down[i]);
    free(r->down);
    free(r->message);
    free(r->created);
    free(r->file);
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < r->nops[s]; i++)
            strata__mop_clear(&r->ops[s][i]);
        free(r->ops[s]);
    }
    free(r->children);
    free(r);
}

int strata__mig_find(const strata_migrations *m, const char *id)
{
    for (int i = 0; i < m->nrevs; i++)
        if (strcmp(m->revs[i]->id, id) == 0)
            return i;
    return -1;
}

int strata_migrations_count(const strata_migrations *m) { return m ? m->nrevs : 0; }

const char *strata_migrations_revision_id(const strata_migrations *m, int i)
{
    return m && i >= 0 && i < m->nrevs ? m->revs[i]->id : NULL;
}

const char *strata_migrations_revision_message(const strata_migrations *m, int i)
{
    return m && i >= 0 && i < m->nrevs ? m->revs[i]->message : NULL;
}

const char *strata_migrations_revision_file(const strata_migrations *m, int i)
{
    return m && i >= 0 && i < m->nrevs ? m->revs[i]->file : NULL;
}

static bool push_revision(strata_migrations *m, strata__revision *r)
{
    strata__revision **n = realloc(m->revs, (size_t)(m->nrevs + 1) * sizeof *n);
    if (!n)
        return false;
    m->revs = n;
    m->revs[m->nrevs++] = r;
    return true;
}

void strata__mig_new_id(const strata_migrations *m, char id[13])
{
    static unsigned long long seed;
    if (!seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((unsigned long long)ts.tv_sec * 1000000007ull) ^ (unsigned long long)ts.tv_nsec ^
               ((unsigned long long)getpid() << 32);
        int fd = open("/dev/urandom", O_RDONLY);
        if (fd >= 0) {
            unsigned long long r = 0;
            if (read(fd, &r, sizeof r) == (ssize_t)sizeof r)
                seed ^= r;
            close(fd);
        }
    }
    do {
        /* splitmix64 */
        unsigned long long z = (seed += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        snprintf(id, 13, "%012llx", z & 0xFFFFFFFFFFFFull);
    } while (strata__mig_find(m, id) >= 0);
}

/* ---- files ------------------------------------------------------------- */

static char *path_join(const char *a, const char *b)
{
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "%s/%s", a, b);
    return strata__sb_take(&sb);
}

static int read_file(strata_migrations *m, const char *path, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    /* Opened without waiting (a FIFO named *.yaml would block for ever),
     * and read only when it is a file: a directory, a device or a pipe
     * is refused by name. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return strata__mig_error(m, errno == ENOMEM ? STRATA_E_NOMEM : STRATA_E_MIGRATION, "%s: %s",
                                 path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return strata__mig_error(m, STRATA_E_MIGRATION, "%s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return strata__mig_error(m, STRATA_E_MIGRATION, "%s: %s", path,
                                 S_ISDIR(st.st_mode) ? "a directory, not a file"
                                                     : "not a regular file");
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return strata__mig_error(m, STRATA_E_NOMEM, "%s: out of memory", path);
    }
    strata__sb sb;
    strata__sb_init(&sb);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        strata__sb_putn(&sb, buf, n);
    int err = ferror(f);
    fclose(f);
    *len = sb.len;
    *text = strata__sb_take(&sb);
    if (err || !*text) {
        free(*text);
        *text = NULL;
        return strata__mig_error(m, err ? STRATA_E_MIGRATION : STRATA_E_NOMEM, "%s: %s", path,
                                 err ? "read error" : "out of memory");
    }
    return STRATA_OK;
}

/* Write `text` to `path` through a temporary file, so the file is whole or
 * absent.  With `exclusive`, refuse an existing file. */
static int write_file(strata_migrations *m, const char *path, const char *text, bool exclusive)
{
    if (exclusive && access(path, F_OK) == 0)
        return strata__mig_error(m, STRATA_E_MIGRATION, "%s already exists", path);
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "%s.tmp", path);
    char *tmp = strata__sb_take(&sb);
    if (!tmp)
        return strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
    FILE *f = fopen(tmp, "wb");
    int rc = STRATA_OK;
    if (!f) {
        rc = strata__mig_error(m, STRATA_E_MIGRATION, "%s: %s", tmp, strerror(errno));
    } else {
        size_t n = strlen(text);
        bool ok = fwrite(text, 1, n, f) == n;
        ok = (fflush(f) == 0) && ok;
        ok = (fsync(fileno(f)) == 0) && ok;
        ok = (fclose(f) == 0) && ok;
        if (!ok || rename(tmp, path) != 0) {
            rc = strata__mig_error(m, STRATA_E_MIGRATION, "%s: %s", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(tmp);
    return rc;
}

static strata_migrations *mig_new(void)
{
    strata_migrations *m = calloc(1, sizeof *m);
    if (m && !(m->version_table = strata__strdup("strata_version"))) {
        free(m);
        return NULL;
    }
    if (m) {
        m->per_revision = true;
        m->lock_wait_ms = STRATA_MIGRATION_LOCK_WAIT_MS;
    }
    return m;
}

/* A repository that failed to load holds nothing. */
static void unload(strata_migrations *m)
{
    for (int i = 0; i < m->nrevs; i++)
        strata__revision_free(m->revs[i]);
    free(m->revs);
    m->revs = NULL;
    m->nrevs = 0;
}

void strata_migrations_free(strata_migrations *m)
{
    if (!m)
        return;
    unload(m);
    free(m->dir);
    free(m->version_table);
    free(m->database_url);
    free(m->errmsg);
    free(m);
}

static const char config_text[] =
    "# strata migrations configuration.\n"
    "\n"
    "# The table that records which revisions a database has.\n"
    "version_table: strata_version\n"
    "\n"
    "# The database when neither --url nor DATABASE_URL gives one.\n"
    "# database_url: " STRATA_DEFAULT_URL "\n"
    "\n"
    "# One transaction per revision (true), or one for a whole upgrade.\n"
    "transaction_per_revision: true\n";

static const char readme_text[] =
    "This folder is a strata migrations repository.\n"
    "\n"
    "versions/ holds one YAML file per revision of the database schema.\n"
    "Generate one from your models with `<your app> db migrate -m \"message\"`,\n"
    "review it, commit it, and apply it with `db upgrade`.  docs/migrations.md\n"
    "in strata describes the file format and every command.\n";

int strata_migrations_init(strata_migrations **out, const char *dir)
{
    if (!out)
        return STRATA_E_MISUSE;
    strata_migrations *m = *out = mig_new();
    if (!m)
        return STRATA_E_NOMEM;
    if (!dir || !*dir)
        return strata__mig_error(m, STRATA_E_MISUSE, "init: no folder given");
    char *config = path_join(dir, CONFIG_FILE), *versions = path_join(dir, "versions");
    char *readme = path_join(dir, "README");
    int rc = STRATA_OK;
    struct stat st;
    /* What this init made, taken back when a later step fails (a full
     * disk): a half-made repository would be refused by every command,
     * init included.  A README the folder had is kept as it is. */
    bool made_dir = false, made_versions = false, made_readme = false;
    if (!config || !versions || !readme) {
        rc = strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
    } else if (stat(config, &st) == 0 || stat(versions, &st) == 0) {
        rc =
            strata__mig_error(m, STRATA_E_MIGRATION,
                              "%s already holds a migrations repository; nothing was changed", dir);
    } else if (!(made_dir = mkdir(dir, 0777) == 0) && errno != EEXIST) {
        rc = strata__mig_error(m, STRATA_E_MIGRATION, "%s: %s", dir, strerror(errno));
    } else if (!(made_versions = mkdir(versions, 0777) == 0)) {
        rc = strata__mig_error(m, STRATA_E_MIGRATION, "%s: %s", versions, strerror(errno));
    } else if ((made_readme = access(readme, F_OK) != 0) &&
               (rc = write_file(m, readme, readme_text, true)) != STRATA_OK) {
        made_readme = false;
    } else if ((rc = write_file(m, config, config_text, true)) == STRATA_OK) {
        rc = (m->dir = strata__strdup(dir)) ? STRATA_OK : STRATA_E_NOMEM;
    }
    if (rc != STRATA_OK && (made_dir || made_versions)) {
        if (made_readme)
            unlink(readme);
        if (made_versions)
            rmdir(versions);
        if (made_dir)
            rmdir(dir);
        strata__mig_error(m, rc, "%s (init left nothing behind)", strata_migrations_errmsg(m));
    }
    free(config);
    free(versions);
    free(readme);
    return rc;
}

static bool yaml_name(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".yaml") == 0 && name[0] != '.';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Parse one revision's text and add it; its id must be new. */
static int add_revision_text(strata_migrations *m, const char *file, const char *text, size_t len)
{
    strata__revision *r;
    int rc = strata__script_parse(m, file, text, len, &r);
    if (rc != STRATA_OK)
        return rc;
    int other = strata__mig_find(m, r->id);
    if (other >= 0) {
        rc = strata__mig_error(m, STRATA_E_MIGRATION, "%s: revision %s is also in %s", file, r->id,
                               m->revs[other]->file);
        strata__revision_free(r);
        return rc;
    }
    if (!push_revision(m, r)) {
        strata__revision_free(r);
        return strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
    }
    return STRATA_OK;
}

/* A new, empty handle in *out for a loader given `what`. */
static int load_start(strata_migrations **out, const void *what, const char *missing)
{
    if (!out)
        return STRATA_E_MISUSE;
    if (!(*out = mig_new()))
        return STRATA_E_NOMEM;
    return what ? STRATA_OK : strata__mig_error(*out, STRATA_E_MISUSE, "%s", missing);
}

int strata_migrations_open(strata_migrations **out, const char *dir)
{
    int rc = load_start(out, dir && *dir ? dir : NULL, "no migrations folder given");
    if (rc != STRATA_OK)
        return rc;
    strata_migrations *m = *out;
    if (!(m->dir = strata__strdup(dir)))
        return STRATA_E_NOMEM;
    char *config = path_join(dir, CONFIG_FILE), *versions = path_join(dir, "versions");
    rc = config && versions ? STRATA_OK : STRATA_E_NOMEM;
    char *text = NULL;
    size_t len = 0;
    if (rc == STRATA_OK && access(config, F_OK) != 0)
        rc = strata__mig_error(m, STRATA_E_MIGRATION,
                               "%s is not a migrations repository (no %s): run init first", dir,
                               CONFIG_FILE);
    if (rc == STRATA_OK && (rc = read_file(m, config, &text, &len)) == STRATA_OK)
        rc = strata__config_parse(m, config, text, len);
    free(text);
    text = NULL;
    DIR *d = rc == STRATA_OK ? opendir(versions) : NULL;
    if (rc == STRATA_OK && !d)
        rc = strata__mig_error(m, errno == ENOMEM ? STRATA_E_NOMEM : STRATA_E_MIGRATION, "%s: %s",
                               versions, strerror(errno));
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; d && rc == STRATA_OK && (e = readdir(d));) {
        if (!yaml_name(e->d_name))
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn || !(nn[n] = path_join(versions, e->d_name))) {
            names = nn ? nn : names;
            rc = STRATA_E_NOMEM;
            break;
        }
        names = nn;
        n++;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && rc == STRATA_OK; i++) {
        if ((rc = read_file(m, names[i], &text, &len)) == STRATA_OK)
            rc = add_revision_text(m, names[i], text, len);
        free(text);
        text = NULL;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(config);
    free(versions);
    if (rc == STRATA_OK)
        rc = strata__graph_build(m);
    if (rc != STRATA_OK)
        unload(m);
    return rc;
}

int strata_migrations_open_embedded(strata_migrations **out, const strata_embedded_file *files)
{
    int rc = load_start(out, files, "no embedded files given");
    if (rc != STRATA_OK)
        return rc;
    strata_migrations *m = *out;
    for (const strata_embedded_file *f = files; rc == STRATA_OK && f->name; f++) {
        size_t len = f->text ? strlen(f->text) : 0;
        if (!strcmp(f->name, CONFIG_FILE))
            rc = strata__config_parse(m, f->name, f->text ? f->text : "", len);
        else if (!strncmp(f->name, "versions/", 9) && yaml_name(f->name + 9))
            rc = add_revision_text(m, f->name, f->text ? f->text : "", len);
    }
    if (rc == STRATA_OK)
        rc = strata__graph_build(m);
    if (rc != STRATA_OK)
        unload(m);
    return rc;
}

/* A C string literal of `text`, in lines. */
static void c_literal(strata__sb *sb, const char *text)
{
    strata__sb_puts(sb, "\"");
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '\\': strata__sb_puts(sb, "\\\\"); break;
        case '"': strata__sb_puts(sb, "\\\""); break;
        case '\t': strata__sb_puts(sb, "\\t"); break;
        case '\n': strata__sb_puts(sb, p[1] ? "\\n\"\n    \"" : "\\n"); break;
        case '?': strata__sb_puts(sb, "\\?"); break; /* no trigraphs */
        default:
            if ((unsigned char)*p < 0x20)
                strata__sb_printf(sb, "\\%03o", (unsigned char)*p);
            else
                strata__sb_putc(sb, *p);
        }
    }
    strata__sb_puts(sb, "\"");
}

int strata_migrations_write_embedded(strata_migrations *m, const char *path, const char *symbol)
{
    if (!m || !path || !symbol)
        return STRATA_E_MISUSE;
    if (!m->dir)
        return strata__mig_error(m, STRATA_E_MISUSE,
                                 "an embedded repository has no files to write");
    for (const char *p = symbol; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
              (p > symbol && *p >= '0' && *p <= '9')))
            return strata__mig_error(m, STRATA_E_MISUSE, "'%s' is not a C identifier", symbol);
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb,
                      "/* Generated by strata from the migrations repository %s: do not edit. */\n"
                      "#include <strata.h>\n\nconst strata_embedded_file %s[] = {\n",
                      m->dir, symbol);
    char *config = path_join(m->dir, CONFIG_FILE);
    char *text = NULL;
    size_t len;
    int rc = config ? read_file(m, config, &text, &len) : STRATA_E_NOMEM;
    if (rc == STRATA_OK) {
        strata__sb_puts(&sb, "    {\"" CONFIG_FILE "\",\n    ");
        c_literal(&sb, text);
        strata__sb_puts(&sb, "},\n");
    }
    free(text);
    free(config);
    size_t dirlen = strlen(m->dir) + 1;
    for (int i = 0; rc == STRATA_OK && i < m->nrevs; i++) {
        if ((rc = read_file(m, m->revs[i]->file, &text, &len)) != STRATA_OK)
            break;
        strata__sb_puts(&sb, "    {");
        c_literal(&sb, m->revs[i]->file + dirlen);
        strata__sb_puts(&sb, ",\n    ");
        c_literal(&sb, text);
        strata__sb_puts(&sb, "},\n");
        free(text);
    }
    strata__sb_puts(&sb, "    {0, 0}\n};\n");
    char *src = strata__sb_take(&sb);
    if (rc == STRATA_OK)
        rc = src ? write_file(m, path, src, false) : STRATA_E_NOMEM;
    free(src);
    return rc;
}

/* ---- new revisions ----------------------------------------------------- */

/* "users table" -> "users_table": lowercase letters and digits, '_'
 * between words, at most 40 bytes. */
static void slugify(char *out, size_t size, const char *message)
{
    size_t n = 0;
    bool gap = false;
    for (const char *p = message; *p && n + 2 < size && n < 40; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (gap && n)
                out[n++] = '_';
            out[n++] = c;
            gap = false;
        } else {
            gap = true;
        }
    }
    out[n] = '\0';
}

static char *now_text(void)
{
    char buf[STRATA_TIMESTAMP_BUFSIZE];
    strata_timestamp_format(strata_timestamp_now(), buf, sizeof buf);
    return strata__strdup(buf);
}

int strata__mig_write_revision(strata_migrations *m, strata__revision *r,
                               const char *const *warnings, int nwarnings)
{
    if (!m->dir) {
        strata__revision_free(r);
        return strata__mig_error(m, STRATA_E_MISUSE,
                                 "an embedded repository cannot take new revisions");
    }
    /* The file is YAML, which is UTF-8: with another message it would not
     * load, and every command after it would fail. */
    ptrdiff_t bad = strata__utf8_invalid_at((const unsigned char *)r->message, strlen(r->message));
    if (bad >= 0) {
        strata__revision_free(r);
        return strata__mig_error(m, STRATA_E_MISUSE,
                                 "the revision's message is not valid UTF-8 (at byte %td): no "
                                 "file written",
                                 bad);
    }
    char slug[48], name[80];
    slugify(slug, sizeof slug, r->message);
    snprintf(name, sizeof name, "versions/%s%s%s.yaml", r->id, *slug ? "_" : "", slug);
    char *text = strata__script_render(r, warnings, nwarnings);
    char *path = path_join(m->dir, name);
    int rc = text && path ? write_file(m, path, text, true) : STRATA_E_NOMEM;
    free(text);
    if (rc == STRATA_OK) {
        free(r->file);
        r->file = path;
        path = NULL;
        if (!push_revision(m, r))
            rc = STRATA_E_NOMEM;
        else
            r = NULL;
    }
    free(path);
    strata__revision_free(r);
    if (rc == STRATA_OK)
        rc = strata__graph_build(m);
    return rc;
}

/* A new revision with down revisions `down` (indexes) and no operations. */
static strata__revision *new_revision(strata_migrations *m, const char *message, const int *down,
                                      int ndown)
{
    strata__revision *r = calloc(1, sizeof *r);
    char id[13];
    if (!r)
        return NULL;
    strata__mig_new_id(m, id);
    r->id = strata__strdup(id);
    r->message = strata__strdup(message ? message : "");
    r->created = now_text();
    r->down = calloc((size_t)ndown + 1, sizeof *r->down);
    bool ok = r->id && r->message && r->created && r->down;
    for (int i = 0; ok && i < ndown; i++)
        ok = (r->down[r->ndown++] = strata__strdup(m->revs[down[i]]->id)) != NULL;
    if (!ok) {
        strata__revision_free(r);
        return NULL;
    }
    return r;
}

/* Create revision r's file, on top of every head; the id goes to *id. */
static int write_new(strata_migrations *m, strata__revision *r, char **id)
{
    if (!r)
        return strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
    char *copy = id ? strata__strdup(r->id) : NULL;
    int rc = strata__mig_write_revision(m, r, NULL, 0);
    if (rc == STRATA_OK && id)
        *id = copy;
    else
        free(copy);
    return rc;
}

int strata_migrations_revision(strata_migrations *m, const char *message, char **id)
{
    if (id)
        *id = NULL;
    if (!m)
        return STRATA_E_MISUSE;
    int *heads, nheads;
    int rc = strata__graph_heads(m, &heads, &nheads);
    if (rc != STRATA_OK)
        return rc;
    if (nheads > 1) {
        free(heads);
        return strata__mig_error(m, STRATA_E_MIGRATION,
                                 "there are %d heads: merge them first (merge -m MSG)", nheads);
    }
    strata__revision *r = new_revision(m, message, heads, nheads);
    free(heads);
    rc = write_new(m, r, id);
    if (rc == STRATA_OK)
        strata__mig_print(m, "Generating %s ...  done", m->revs[m->nrevs - 1]->file);
    return rc;
}

int strata_migrations_merge(strata_migrations *m, const char *const *revs, const char *message,
                            char **id)
{
    if (id)
        *id = NULL;
    if (!m)
        return STRATA_E_MISUSE;
    int *down = NULL, ndown = 0;
    int rc = STRATA_OK;
    if (!revs) {
        rc = strata__graph_heads(m, &down, &ndown);
    } else {
        int n = 0;
        while (revs[n])
            n++;
        if (!(down = calloc((size_t)n + 1, sizeof *down)))
            rc = STRATA_E_NOMEM;
        for (int i = 0; rc == STRATA_OK && i < n; i++)
            if ((down[ndown++] = strata__graph_lookup(m, revs[i])) < 0)
                rc = STRATA_E_MIGRATION;
    }
    if (rc == STRATA_OK && ndown < 2)
        rc = strata__mig_error(m, STRATA_E_MIGRATION,
                               "merge needs at least two revisions (there %s %d head%s)",
                               ndown == 1 ? "is" : "are", ndown, ndown == 1 ? "" : "s");
    /* Checked before the file is written: a merge file the repository
     * then refuses would stop every command until removed by hand. */
    bool *above = rc == STRATA_OK ? calloc((size_t)m->nrevs + 1, sizeof *above) : NULL;
    if (rc == STRATA_OK && !above)
        rc = strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
    for (int i = 0; rc == STRATA_OK && i < ndown; i++) {
        memset(above, 0, (size_t)m->nrevs + 1);
        strata__graph_ancestors(m, down[i], above);
        for (int j = 0; rc == STRATA_OK && j < ndown; j++) {
            if (j == i || !above[down[j]])
                continue;
            const char *a = m->revs[down[i]]->id, *b = m->revs[down[j]]->id;
            rc = down[j] == down[i]
                     ? strata__mig_error(m, STRATA_E_MIGRATION,
                                         "merge names revision %s twice: it merges different "
                                         "heads",
                                         a)
                     : strata__mig_error(m, STRATA_E_MIGRATION,
                                         "merge of %s and %s: %s descends from %s already; it "
                                         "merges heads that neither descends from the other",
                                         a, b, a, b);
        }
    }
    free(above);
    if (rc == STRATA_OK) {
        rc = write_new(m, new_revision(m, message, down, ndown), id);
        if (rc == STRATA_OK)
            strata__mig_print(m, "Generating %s ...  done", m->revs[m->nrevs - 1]->file);
    }
    free(down);
    return rc;
}
