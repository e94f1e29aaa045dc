/*
 * graph.c - the revision graph: linking revisions to their down revisions,
 * putting them in dependency order, heads, looking up ids and prefixes,
 * ancestors; and the text of history, heads and branches.
 *
 * After strata__graph_build() m->revs is in dependency order (a revision
 * after every one it depends on; file order among the rest) and each
 * revision knows its children.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate_internal.h"

/* Depth-first on down revisions: state 0 new, 1 on the path, 2 done. */
static int visit(strata_migrations *m, int i, char *state, const int *const *down, const int *ndown,
                 strata__revision **order, int *n)
{
    if (state[i] == 2)
        return STRATA_OK;
    if (state[i] == 1)
        return strata__mig_error(m, STRATA_E_MIGRATION,
                                 "%s: revision %s depends on itself through its down revisions",
                                 m->revs[i]->file, m->revs[i]->id);
    state[i] = 1;
    for (int k = 0; k < ndown[i]; k++) {
        int rc = visit(m, down[i][k], state, down, ndown, order, n);
        if (rc != STRATA_OK)
            return rc;
    }
    state[i] = 2;
    order[(*n)++] = m->revs[i];
    return STRATA_OK;
}

int strata__graph_build(strata_migrations *m)
{
    int n = m->nrevs, rc = STRATA_OK;
    int **down = calloc((size_t)n + 1, sizeof *down);
    int *ndown = calloc((size_t)n + 1, sizeof *ndown);
    char *state = calloc((size_t)n + 1, 1);
    strata__revision **order = calloc((size_t)n + 1, sizeof *order);
    if (!down || !ndown || !state || !order)
        rc = strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
    for (int i = 0; rc == STRATA_OK && i < n; i++) {
        strata__revision *r = m->revs[i];
        if (r->ndown && !(down[i] = calloc((size_t)r->ndown, sizeof *down[i]))) {
            rc = strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
            break;
        }
        for (int k = 0; k < r->ndown; k++) {
            int d = strata__mig_find(m, r->down[k]);
            if (d < 0) {
                rc = strata__mig_error(m, STRATA_E_MIGRATION,
                                       "%s: Can't locate revision identified by '%s', the down "
                                       "revision of %s: is its file missing from versions/?",
                                       r->file, r->down[k], r->id);
                break;
            }
            down[i][ndown[i]++] = d;
        }
    }
    int count = 0;
    for (int i = 0; rc == STRATA_OK && i < n; i++)
        rc = visit(m, i, state, (const int *const *)down, ndown, order, &count);
    if (rc == STRATA_OK) {
        if (n) /* an empty repository has no revs array: memcpy(NULL, ...) is undefined */
            memcpy(m->revs, order, (size_t)n * sizeof *order);
        for (int i = 0; i < n; i++) {
            free(m->revs[i]->children);
            m->revs[i]->children = NULL;
            m->revs[i]->nchildren = 0;
        }
        for (int i = 0; rc == STRATA_OK && i < n; i++) {
            strata__revision *r = m->revs[i];
            for (int k = 0; k < r->ndown; k++) {
                strata__revision *p = m->revs[strata__mig_find(m, r->down[k])];
                int *c = realloc(p->children, (size_t)(p->nchildren + 1) * sizeof *c);
                if (!c) {
                    rc = strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
                    break;
                }
                p->children = c;
                p->children[p->nchildren++] = i;
            }
        }
        /* A merge's parents are branches: one that is an ancestor of
         * another would be left twice by a downgrade through the merge. */
        bool *set = rc == STRATA_OK ? calloc((size_t)n + 1, sizeof *set) : NULL;
        if (rc == STRATA_OK && !set)
            rc = strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
        for (int i = 0; rc == STRATA_OK && i < n; i++) {
            const strata__revision *r = m->revs[i];
            for (int a = 0; rc == STRATA_OK && r->ndown > 1 && a < r->ndown; a++) {
                memset(set, 0, (size_t)n * sizeof *set);
                strata__graph_ancestors(m, strata__mig_find(m, r->down[a]), set);
                for (int b = 0; rc == STRATA_OK && b < r->ndown; b++)
                    if (b != a && set[strata__mig_find(m, r->down[b])])
                        rc = strata__mig_error(m, STRATA_E_MIGRATION,
                                               "%s: down_revision names %s, which %s descends "
                                               "from already: a merge's parents are heads of "
                                               "their branches",
                                               r->file, r->down[b], r->down[a]);
            }
        }
        free(set);
    }
    for (int i = 0; down && i < n; i++)
        free(down[i]);
    free(down);
    free(ndown);
    free(state);
    free(order);
    return rc;
}

int strata__graph_heads(const strata_migrations *m, int **out, int *n)
{
    *n = 0;
    if (!(*out = calloc((size_t)m->nrevs + 1, sizeof **out)))
        return STRATA_E_NOMEM;
    for (int i = 0; i < m->nrevs; i++)
        if (!m->revs[i]->nchildren)
            (*out)[(*n)++] = i;
    return STRATA_OK;
}

int strata__graph_lookup(strata_migrations *m, const char *id)
{
    int exact = strata__mig_find(m, id);
    if (exact >= 0)
        return exact;
    size_t len = strlen(id);
    int found = -1, count = 0;
    strata__sb sb;
    strata__sb_init(&sb);
    for (int i = 0; len && i < m->nrevs; i++)
        if (strncmp(m->revs[i]->id, id, len) == 0) {
            strata__sb_printf(&sb, "%s%s", count ? ", " : "", m->revs[i]->id);
            found = i;
            count++;
        }
    if (count == 1) {
        strata__sb_free(&sb);
        return found;
    }
    /* The target as given, a URL put there by mistake without its password. */
    char *shown = strata_url_redact(id);
    if (count > 1)
        strata__mig_error(m, STRATA_E_MIGRATION, "'%s' is ambiguous: it starts %s",
                          shown ? shown : id, sb.data ? sb.data : "");
    else
        strata__mig_error(m, STRATA_E_MIGRATION, "Can't locate revision identified by '%s'",
                          shown ? shown : "(the target given)");
    strata_free(shown);
    strata__sb_free(&sb);
    return -1;
}

void strata__graph_ancestors(const strata_migrations *m, int i, bool *set)
{
    if (set[i])
        return;
    set[i] = true;
    for (int k = 0; k < m->revs[i]->ndown; k++)
        strata__graph_ancestors(m, strata__mig_find(m, m->revs[i]->down[k]), set);
}

int *strata__graph_order(const strata_migrations *m, const bool *set, int *n)
{
    int *out = calloc((size_t)m->nrevs + 1, sizeof *out);
    *n = 0;
    for (int i = 0; out && i < m->nrevs; i++) /* m->revs is in dependency order */
        if (set[i])
            out[(*n)++] = i;
    return out;
}

/* ---- history, heads, branches ------------------------------------------ */

static void rev_line(strata__sb *sb, const strata_migrations *m, int i)
{
    const strata__revision *r = m->revs[i];
    if (!r->ndown)
        strata__sb_puts(sb, "<base>");
    for (int k = 0; k < r->ndown; k++)
        strata__sb_printf(sb, "%s%s", k ? ", " : "", r->down[k]);
    strata__sb_printf(sb, " -> %s", r->id);
    if (!r->nchildren)
        strata__sb_puts(sb, " (head)");
    if (r->nchildren > 1)
        strata__sb_puts(sb, " (branchpoint)");
    if (r->ndown > 1)
        strata__sb_puts(sb, " (mergepoint)");
    strata__sb_printf(sb, ", %s\n", r->message);
}

static void rev_verbose(strata__sb *sb, const strata_migrations *m, int i)
{
    const strata__revision *r = m->revs[i];
    strata__sb_printf(sb, "Rev: %s%s%s%s\n", r->id, r->nchildren ? "" : " (head)",
                      r->nchildren > 1 ? " (branchpoint)" : "",
                      r->ndown > 1 ? " (mergepoint)" : "");
    strata__sb_puts(sb, r->ndown > 1 ? "Merges: " : "Parent: ");
    if (!r->ndown)
        strata__sb_puts(sb, "<base>");
    for (int k = 0; k < r->ndown; k++)
        strata__sb_printf(sb, "%s%s", k ? ", " : "", r->down[k]);
    strata__sb_puts(sb, "\n");
    if (r->nchildren > 1) {
        strata__sb_puts(sb, "Branches into: ");
        for (int k = 0; k < r->nchildren; k++)
            strata__sb_printf(sb, "%s%s", k ? ", " : "", m->revs[r->children[k]]->id);
        strata__sb_puts(sb, "\n");
    }
    strata__sb_printf(sb, "Path: %s\nCreated: %s\n\n    %s\n\n", r->file,
                      r->created ? r->created : "", r->message);
}

int strata_migrations_history(strata_migrations *m, const char *range, int verbose, char **out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!m)
        return STRATA_E_MISUSE;
    bool *show = calloc((size_t)m->nrevs + 1, 1), *below = calloc((size_t)m->nrevs + 1, 1);
    int rc = show && below ? STRATA_OK : STRATA_E_NOMEM;
    int from = -1, to = -1;
    if (rc == STRATA_OK && range && *range) {
        const char *colon = strchr(range, ':');
        if (!colon) {
            rc = strata__mig_error(m, STRATA_E_MIGRATION,
                                   "history range '%s' is not A:B (either side may be empty)",
                                   range);
        } else {
            char a[64] = "", b[64] = "";
            snprintf(a, sizeof a, "%.*s", (int)(colon - range), range);
            snprintf(b, sizeof b, "%s", colon + 1);
            if (*a && strcmp(a, "base") && (from = strata__graph_lookup(m, a)) < 0)
                rc = STRATA_E_MIGRATION;
            if (rc == STRATA_OK && *b && strcmp(b, "head") && strcmp(b, "heads") &&
                (to = strata__graph_lookup(m, b)) < 0)
                rc = STRATA_E_MIGRATION;
        }
    }
    if (rc == STRATA_OK) {
        if (to >= 0)
            strata__graph_ancestors(m, to, show);
        else
            memset(show, 1, (size_t)m->nrevs);
        if (from >= 0) {
            strata__graph_ancestors(m, from, below);
            for (int i = 0; i < m->nrevs; i++)
                if (below[i] && i != from)
                    show[i] = false;
            /* and only what descends from `from` */
            bool *desc = calloc((size_t)m->nrevs + 1, 1);
            if (!desc) {
                rc = STRATA_E_NOMEM;
            } else {
                for (int i = 0; i < m->nrevs; i++) {
                    bool *anc = calloc((size_t)m->nrevs + 1, 1);
                    if (!anc) {
                        rc = STRATA_E_NOMEM;
                        break;
                    }
                    strata__graph_ancestors(m, i, anc);
                    desc[i] = anc[from];
                    free(anc);
                }
                for (int i = 0; i < m->nrevs; i++)
                    show[i] = show[i] && desc[i];
                free(desc);
            }
        }
    }
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_puts(&sb, "");
    for (int i = m->nrevs - 1; rc == STRATA_OK && i >= 0; i--)
        if (show[i]) {
            if (verbose)
                rev_verbose(&sb, m, i);
            else
                rev_line(&sb, m, i);
        }
    free(show);
    free(below);
    if (rc != STRATA_OK) {
        strata__sb_free(&sb);
        return rc;
    }
    *out = strata__sb_take(&sb);
    return *out ? STRATA_OK : STRATA_E_NOMEM;
}

typedef void (*text_fn)(strata__sb *sb, const strata_migrations *m);

/* *out = the text fn writes; caller frees. */
static int text_of(strata_migrations *m, char **out, text_fn fn)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!m)
        return STRATA_E_MISUSE;
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_puts(&sb, "");
    fn(&sb, m);
    *out = strata__sb_take(&sb);
    return *out ? STRATA_OK : STRATA_E_NOMEM;
}

static void heads_text(strata__sb *sb, const strata_migrations *m)
{
    for (int i = 0; i < m->nrevs; i++)
        if (!m->revs[i]->nchildren)
            strata__sb_printf(sb, "%s (head)\n", m->revs[i]->id);
}

int strata_migrations_heads(strata_migrations *m, char **out)
{
    return text_of(m, out, heads_text);
}

static void branches_text(strata__sb *sb, const strata_migrations *m)
{
    for (int i = 0; i < m->nrevs; i++) {
        const strata__revision *r = m->revs[i];
        if (r->nchildren < 2)
            continue;
        strata__sb_printf(sb, "%s (branchpoint), %s\n", r->id, r->message);
        for (int k = 0; k < r->nchildren; k++) {
            const strata__revision *c = m->revs[r->children[k]];
            strata__sb_printf(sb, "    -> %s%s, %s\n", c->id, c->nchildren ? "" : " (head)",
                              c->message);
        }
    }
}

int strata_migrations_branches(strata_migrations *m, char **out)
{
    return text_of(m, out, branches_text);
}
