/*
 * fuzz_revision.c - revision files: the YAML reader (strata__script_parse),
 * the writer (strata__script_render), and a repository built from them.
 *
 * Input: one or more revision files, separated by lines "---" (at most
 * eight; empty pieces are skipped), so an input can be a whole repository and
 * a later revision can name an earlier one as its down revision.
 *
 * For each piece: parsing either fails with a message naming the file, or
 * gives a revision whose rendered text parses back to a revision that
 * renders the same (what `db migrate` writes, `db upgrade` reads).  The
 * rendered texts of the pieces that parsed then form an embedded
 * repository; when it loads, the history, heads and branches are listed
 * and the offline SQL of an upgrade to the heads and of a downgrade from
 * the last revision to base is made for SQLite and PostgreSQL (no
 * database: strata_migrations_upgrade_sql).  Failures there must come with
 * a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "migrate_internal.h"

#define MAX_PIECES 8

static strata_migrations *empty_repository(void)
{
    static const strata_embedded_file none[] = {{NULL, NULL}};
    strata_migrations *m = NULL;
    if (strata_migrations_open_embedded(&m, none) != STRATA_OK)
        fuzz_fail("an empty repository does not load: %s", strata_migrations_errmsg(m));
    return m;
}

static void need_message(strata_migrations *m, const char *what)
{
    if (!*strata_migrations_errmsg(m))
        fuzz_fail("%s failed without a message", what);
}

/* Parse one piece; returns its rendered text (caller frees) or NULL. */
static char *parse_piece(strata_migrations *m, const char *name, const char *text, size_t len)
{
    strata__revision *r = NULL;
    if (strata__script_parse(m, name, text, len, &r) != STRATA_OK) {
        const char *msg = strata_migrations_errmsg(m);
        if (strncmp(msg, name, strlen(name)) != 0)
            fuzz_fail("message \"%s\" does not name the file %s", msg, name);
        if (r)
            fuzz_fail("a failed parse returned a revision");
        return NULL;
    }
    if (!r || !r->id || strlen(r->id) != 12 || !r->message || !r->file || r->ndown < 0 ||
        r->nops[0] < 0 || r->nops[1] < 0)
        fuzz_fail("an incomplete revision parsed from \"%.*s\"", (int)len, text);
    char *text2 = strata__script_render(r, NULL, 0);
    if (!text2)
        fuzz_fail("rendering failed");
    strata__revision *r2 = NULL;
    if (strata__script_parse(m, name, text2, strlen(text2), &r2) != STRATA_OK)
        fuzz_fail("the rendered revision does not parse back (%s):\n%s\n-- from --\n%.*s",
                  strata_migrations_errmsg(m), text2, (int)len, text);
    char *text3 = strata__script_render(r2, NULL, 0);
    if (!text3 || strcmp(text2, text3) != 0)
        fuzz_fail("rendering is not stable:\n%s\n-- then --\n%s", text2, text3 ? text3 : "(null)");
    if (strcmp(r->id, r2->id) != 0 || r->ndown != r2->ndown || r->nops[0] != r2->nops[0] ||
        r->nops[1] != r2->nops[1] || strcmp(r->message, r2->message) != 0)
        fuzz_fail("the rendered revision reads back differently:\n%s", text2);
    free(text3);
    strata__revision_free(r);
    strata__revision_free(r2);
    return text2;
}

static void offline_sql(strata_migrations *m, const char *scheme)
{
    const strata_driver *dl = strata_driver_find(scheme);
    if (!dl)
        return; /* not built */
    char *sql = NULL;
    if (strata_migrations_upgrade_sql(m, dl, "heads", &sql) != STRATA_OK)
        need_message(m, "upgrade --sql");
    else if (!sql)
        fuzz_fail("upgrade --sql gave no text");
    strata_free(sql);
    sql = NULL;
    int n = strata_migrations_count(m);
    if (n > 0) {
        char range[64];
        snprintf(range, sizeof range, "%s:base", strata_migrations_revision_id(m, n - 1));
        if (strata_migrations_downgrade_sql(m, dl, range, &sql) != STRATA_OK)
            need_message(m, "downgrade --sql");
        strata_free(sql);
    }
}

static void repository(char **texts, int n)
{
    strata_embedded_file files[MAX_PIECES + 1];
    char names[MAX_PIECES][32];
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "versions/%d.yaml", i);
        files[i].name = names[i];
        files[i].text = texts[i];
    }
    files[n].name = files[n].text = NULL;
    strata_migrations *m = NULL;
    if (strata_migrations_open_embedded(&m, files) != STRATA_OK) {
        need_message(m, "loading the repository");
        strata_migrations_free(m);
        return;
    }
    if (strata_migrations_count(m) != n)
        fuzz_fail("%d revisions loaded from %d files", strata_migrations_count(m), n);
    char *out = NULL;
    if (strata_migrations_history(m, NULL, 1, &out) != STRATA_OK)
        need_message(m, "history");
    strata_free(out);
    out = NULL;
    if (strata_migrations_heads(m, &out) != STRATA_OK)
        need_message(m, "heads");
    strata_free(out);
    out = NULL;
    if (strata_migrations_branches(m, &out) != STRATA_OK)
        need_message(m, "branches");
    strata_free(out);
    offline_sql(m, "sqlite");
    offline_sql(m, "postgresql");
    strata_migrations_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_migrations *m = empty_repository();
    const char *text = (const char *)data, *end = text + size;
    char *rendered[MAX_PIECES];
    int npieces = 0, nrendered = 0;
    while (text < end && npieces < MAX_PIECES) {
        /* The piece runs to the next line "---" or the end. */
        const char *sep = NULL;
        for (const char *p = text; p + 3 <= end; p++)
            if ((p == text || p[-1] == '\n') && !memcmp(p, "---", 3) &&
                (p + 3 == end || p[3] == '\n')) {
                sep = p;
                break;
            }
        const char *pend = sep ? sep : end;
        bool blank = true;
        for (const char *p = text; p < pend && blank; p++)
            blank = *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r';
        if (!blank) {
            char name[32];
            snprintf(name, sizeof name, "versions/%d.yaml", npieces);
            char *r = parse_piece(m, name, text, (size_t)(pend - text));
            if (r)
                rendered[nrendered++] = r;
            npieces++;
        }
        text = sep ? (sep + 3 < end ? sep + 4 : end) : end;
    }
    strata_migrations_free(m);
    if (nrendered)
        repository(rendered, nrendered);
    for (int i = 0; i < nrendered; i++)
        free(rendered[i]);
    return 0;
}
