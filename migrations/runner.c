/*
 * runner.c - running revisions: the version table, targets, the lock,
 * upgrade / downgrade one revision per transaction (or all in one), stamp,
 * current, and the same plan rendered as SQL without a database.
 *
 * A live run works step by step.  Each step is one transaction: take the
 * migration lock (the dialect's statement), read the version table, pick
 * the next revision toward the goal, introspect the schema, turn the
 * revision's operations into a diff against it, apply the diff and update
 * the version table, commit.  A second process waits on the lock and then
 * reads a version table that already has the revision, so it applies each
 * revision exactly once.  The goal (the set of revisions that must be
 * applied, or may stay applied) is fixed before the first step.
 *
 * Offline, the schema is not read but replayed: the operations of every
 * revision up to FROM applied to an empty schema.  Live and offline turn
 * operations into SQL through the same strata_diff_render plan, so the
 * SQL printed is the SQL a live run executes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migrate_internal.h"

typedef struct run {
    strata_migrations *m;
    strata_db *db; /* NULL offline */
    const strata_driver *drv;
    const strata__dialect *dl;
    strata__sb *out;        /* offline: the SQL */
    strata_metadata *state; /* offline: the schema, replayed */
    char *qvt;              /* the version table, quoted */
    bool *heads;            /* the version table's rows, as a set */
    /* Live, a transaction per revision, on an engine that pauses foreign
     * keys for table rebuilds (SQLite) with them on: each revision runs
     * with them on unless it rebuilds a referenced table. */
    bool fk_switch;
    bool fk_paused;  /* paused for the revision under way, or (fk_run_off) the run */
    bool fk_run_off; /* one transaction for the run, foreign keys off throughout */
    bool ran_sql;    /* a revision with a statement of its own ran (live) */
} run;

/* run_revision's answer when the revision needs foreign keys switched the
 * other way first: the caller rolls back, switches, and runs it again. */
#define RUN_FK_SWITCH (-1)

static const char *const *vt_exclude(const run *r, const char *ex[2])
{
    ex[0] = r->m->version_table;
    ex[1] = NULL;
    return ex;
}

/* ---- the version table ------------------------------------------------- */

void strata__mig_vt_create_sql(strata__sb *sb, const strata_driver *drv, const char *table)
{
    strata__sb_puts(sb, "CREATE TABLE IF NOT EXISTS ");
    strata__sb_ident(sb, drv, table);
    strata__sb_puts(sb, " (version_num VARCHAR(32) NOT NULL, CONSTRAINT ");
    strata__sb tmp;
    strata__sb_init(&tmp);
    strata__sb_printf(&tmp, "%s_pkc", table);
    if (tmp.failed) /* not another table's constraint name */
        sb->failed = true;
    else
        strata__sb_ident(sb, drv, tmp.data);
    strata__sb_free(&tmp);
    strata__sb_puts(sb, " PRIMARY KEY (version_num))");
}

static void vt_create_sql(strata__sb *sb, const run *r)
{
    strata__mig_vt_create_sql(sb, r->drv, r->m->version_table);
}

static int db_failed(run *r, const char *doing)
{
    return strata__mig_error(r->m,
                             strata_db_errcode(r->db) ? strata_db_errcode(r->db) : STRATA_E_ERROR,
                             "%s: %s", doing, strata_db_errmsg(r->db));
}

/* Run `sql` with up to two revision ids bound (live), or print it with
 * them as literals (offline; ids are 12 hex digits). */
static int vt_exec(run *r, const char *sql, const char *a, const char *b)
{
    if (!r->db) {
        for (const char *p = sql; *p; p++) {
            if (*p == '?') {
                strata__sb_printf(r->out, "'%s'", a);
                a = b;
            } else {
                strata__sb_putc(r->out, *p);
            }
        }
        strata__sb_puts(r->out, ";\n");
        return STRATA_OK;
    }
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, r->db, sql);
    if (rc == STRATA_OK && a)
        rc = strata_stmt_bind_text(st, 1, a, -1);
    if (rc == STRATA_OK && b)
        rc = strata_stmt_bind_text(st, 2, b, -1);
    if (rc == STRATA_OK)
        rc = strata_stmt_step(st);
    strata_stmt_finalize(st);
    return rc == STRATA_DONE ? STRATA_OK : db_failed(r, "updating the version table");
}

enum vt_change { VT_INSERT, VT_UPDATE, VT_DELETE, VT_CLEAR };

static int vt_sql(run *r, enum vt_change what, const char *a, const char *b)
{
    static const char *const head[] = {"INSERT INTO ", "UPDATE ", "DELETE FROM ", "DELETE FROM "};
    static const char *const tail[] = {" (version_num) VALUES (?)",
                                       " SET version_num = ? WHERE version_num = ?",
                                       " WHERE version_num = ?", ""};
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "%s%s%s", head[what], r->qvt, tail[what]);
    char *sql = strata__sb_take(&sb);
    int rc = sql ? vt_exec(r, sql, a, b) : STRATA_E_NOMEM;
    free(sql);
    return rc;
}

/* Read the version table into r->heads. */
static int vt_read(run *r)
{
    memset(r->heads, 0, (size_t)r->m->nrevs + 1);
    if (!r->db)
        return STRATA_OK;
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "SELECT version_num FROM %s", r->qvt);
    char *sql = strata__sb_take(&sb);
    strata_stmt *st;
    int rc = sql ? strata_stmt_prepare(&st, r->db, sql) : STRATA_E_NOMEM;
    free(sql);
    if (rc != STRATA_OK)
        return db_failed(r, "reading the version table");
    while ((rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *id = NULL;
        int got = strata_stmt_column_text(st, 0, &id, NULL);
        if (got != STRATA_OK && got != STRATA_NULL) { /* out of memory */
            rc = got;
            break;
        }
        int i = id ? strata__mig_find(r->m, id) : -1;
        if (i < 0) {
            rc = strata__mig_error(r->m, STRATA_E_MIGRATION,
                                   "Can't locate revision identified by '%s': the database is at "
                                   "a revision this repository does not have",
                                   id ? id : "");
            break;
        }
        r->heads[i] = true;
    }
    strata_stmt_finalize(st);
    if (rc == STRATA_DONE)
        return STRATA_OK;
    return rc == STRATA_E_MIGRATION ? rc : db_failed(r, "reading the version table");
}

/* ---- sets of revisions ------------------------------------------------- */

static bool *set_new(const strata_migrations *m) { return calloc((size_t)m->nrevs + 1, 1); }

/* Applied: the heads and everything under them. */
static void applied_of(const strata_migrations *m, const bool *heads, bool *applied)
{
    memset(applied, 0, (size_t)m->nrevs + 1);
    for (int i = 0; i < m->nrevs; i++)
        if (heads[i])
            strata__graph_ancestors(m, i, applied);
}

static int count_true(const bool *set, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += set[i];
    return c;
}

static int single_head(run *r, const bool *heads, const char *target, int *out)
{
    int n = count_true(heads, r->m->nrevs);
    *out = -1;
    if (n > 1)
        return strata__mig_error(r->m, STRATA_E_MIGRATION,
                                 "'%s' is relative to the current revision, and the database has "
                                 "%d; give a revision instead",
                                 target, n);
    for (int i = 0; i < r->m->nrevs; i++)
        if (heads[i])
            *out = i;
    return STRATA_OK;
}

/* Walk n steps up from revision `from` (-1: base), to the one child each
 * time. */
static int walk_up(run *r, int from, long n, const char *target, int *out)
{
    strata_migrations *m = r->m;
    int at = from;
    for (long s = 0; s < n; s++) {
        int next = -1, children = 0;
        for (int i = 0; i < m->nrevs; i++) {
            bool child = at < 0 && m->revs[i]->ndown == 0;
            for (int k = 0; at >= 0 && k < m->revs[i]->ndown; k++)
                child |= strcmp(m->revs[i]->down[k], m->revs[at]->id) == 0;
            if (child) {
                next = i;
                children++;
            }
        }
        if (children == 0)
            return strata__mig_error(m, STRATA_E_MIGRATION,
                                     "Relative revision %s didn't produce %ld migrations", target,
                                     n);
        if (children > 1)
            return strata__mig_error(m, STRATA_E_MIGRATION,
                                     "%s is ambiguous: revision %s has %d children", target,
                                     at >= 0 ? m->revs[at]->id : "<base>", children);
        at = next;
    }
    *out = at;
    return STRATA_OK;
}

/* A relative target "[REV]+N" / "[REV]-N" whose sign is at `sign`: the
 * step count, and the revision it counts from (-1 for base, -2 when no
 * REV is given: the database's current revision). */
static int relative(run *r, const char *target, const char *sign, long *n, int *from)
{
    char *end;
    *n = strtol(sign + 1, &end, 10);
    if (*end || end == sign + 1 || *n < 0)
        return strata__mig_error(r->m, STRATA_E_MIGRATION, "'%s' is not a target", target);
    *from = -2;
    if (sign == target)
        return STRATA_OK;
    char rev[64];
    snprintf(rev, sizeof rev, "%.*s", (int)(sign - target), target);
    return (*from = strata__graph_lookup(r->m, rev)) >= 0 ? STRATA_OK : STRATA_E_MIGRATION;
}

/* Parse "+N", "REV+N" or "REV" into a revision (or -1 for base).  `heads`
 * is the database's state for "+N". */
static int resolve_one(run *r, const char *target, const bool *heads, int *out)
{
    strata_migrations *m = r->m;
    *out = -1;
    if (!strcmp(target, "base"))
        return STRATA_OK;
    if (strchr(target, '-'))
        return strata__mig_error(m, STRATA_E_MIGRATION, "%s steps down: it is a downgrade target",
                                 target);
    const char *sign = strchr(target, '+');
    if (!sign)
        return (*out = strata__graph_lookup(m, target)) >= 0 ? STRATA_OK : STRATA_E_MIGRATION;
    long n;
    int from;
    int rc = relative(r, target, sign, &n, &from);
    if (rc == STRATA_OK && from == -2)
        rc = single_head(r, heads, target, &from);
    return rc == STRATA_OK ? walk_up(r, from, n, target, out) : rc;
}

/* The goal of an upgrade: every revision that must be applied. */
static int upgrade_goal(run *r, const char *target, const bool *heads, bool *goal)
{
    strata_migrations *m = r->m;
    memset(goal, 0, (size_t)m->nrevs + 1);
    applied_of(m, heads, goal); /* what is applied stays */
    int *gh, ngh;
    int rc = strata__graph_heads(m, &gh, &ngh);
    if (rc != STRATA_OK)
        return strata__mig_error(m, rc, "out of memory");
    if (!strcmp(target, "heads")) {
        for (int i = 0; i < ngh; i++)
            strata__graph_ancestors(m, gh[i], goal);
    } else if (!strcmp(target, "head")) {
        if (ngh > 1) {
            strata__sb sb;
            strata__sb_init(&sb);
            for (int i = 0; i < ngh; i++)
                strata__sb_printf(&sb, "%s%s", i ? ", " : "", m->revs[gh[i]]->id);
            rc = strata__mig_error(m, STRATA_E_MIGRATION,
                                   "Multiple head revisions are present (%s): upgrade to one of "
                                   "them, to 'heads' for all, or merge them first (merge -m MSG)",
                                   sb.data ? sb.data : "");
            strata__sb_free(&sb);
        } else if (ngh == 1) {
            strata__graph_ancestors(m, gh[0], goal);
        }
    } else {
        int t;
        if ((rc = resolve_one(r, target, heads, &t)) == STRATA_OK && t >= 0)
            strata__graph_ancestors(m, t, goal);
    }
    free(gh);
    return rc;
}

/* The one revision of `set` no other revision in it depends on; -1 and
 * the error when there are several (or none). */
static int top_of(run *r, const bool *set, const char *target)
{
    strata_migrations *m = r->m;
    int top = -1, n = 0;
    for (int i = 0; i < m->nrevs; i++) {
        if (!set[i])
            continue;
        bool child = false;
        for (int k = 0; k < m->revs[i]->nchildren && !child; k++)
            child = set[m->revs[i]->children[k]];
        if (!child) {
            top = i;
            n++;
        }
    }
    if (n == 1)
        return top;
    strata__mig_error(m, STRATA_E_MIGRATION,
                      n ? "%s is ambiguous: there are %d revisions on top; give a revision"
                        : "Relative revision %s went past base",
                      target, n);
    return -1;
}

/* The goal of a downgrade: the revisions that may stay applied.  "-N"
 * takes the top revision off N times (from a merge, the merge itself is
 * one step). */
static int downgrade_goal(run *r, const char *target, const bool *heads, bool *keep)
{
    strata_migrations *m = r->m;
    memset(keep, 0, (size_t)m->nrevs + 1);
    const char *sign = strrchr(target, '-');
    if (!sign) {
        if (strchr(target, '+'))
            return strata__mig_error(m, STRATA_E_MIGRATION, "%s steps up: it is an upgrade target",
                                     target);
        int t;
        int rc = resolve_one(r, target, heads, &t);
        if (rc == STRATA_OK && t >= 0)
            strata__graph_ancestors(m, t, keep);
        return rc;
    }
    long n;
    int from;
    int rc = relative(r, target, sign, &n, &from);
    if (rc != STRATA_OK)
        return rc;
    if (from == -2)
        applied_of(m, heads, keep);
    else
        strata__graph_ancestors(m, from, keep);
    for (long s = 0; s < n; s++) {
        int top = top_of(r, keep, target);
        if (top < 0)
            return STRATA_E_MIGRATION;
        keep[top] = false;
    }
    return STRATA_OK;
}

/* ---- one revision ------------------------------------------------------ */

/* The diff revision i's operations make from schema `from`. */
static int revision_diff(run *r, int i, int dir, const strata_metadata *from, strata_diff **out)
{
    strata_migrations *m = r->m;
    strata__revision *rev = m->revs[i];
    strata_diff *d = strata__diff_new();
    strata_metadata *work = NULL;
    int rc = d ? strata_metadata_copy(&work, from) : STRATA_E_NOMEM;
    if (rc == STRATA_OK)
        rc = strata_metadata_copy(&d->from, from);
    for (int k = 0; rc == STRATA_OK && k < rev->nops[dir]; k++) {
        strata__op op;
        const strata__mop *mop = &rev->ops[dir][k];
        if ((rc = strata__mop_resolve(m, rev, mop, work, &op)) != STRATA_OK)
            break;
        /* Offline, the schema is replayed, not read: a revision that sets
         * a collation the replay says the column has already (revisions
         * written before collations were kept in them read as binary,
         * while the databases they built have the locale's) still gets its
         * ALTER, which changes nothing where it was so. */
        if (!r->db && op.kind == STRATA_OP_ALTER_COLUMN && (mop->set & MOP_COLLATION) &&
            r->dl && r->dl->binary_collation && op.old_col &&
            op.old_col->collation == op.col->collation)
            op.old_col->collation = op.col->collation == COLL_BINARY ? COLL_LOCALE : COLL_BINARY;
        if ((rc = strata__op_apply_md(work, &op)) != STRATA_OK) {
            rc = strata__mig_error(m, STRATA_E_MIGRATION, "%s:%d:%d: %s", rev->file, mop->line,
                                   mop->column, strata_metadata_errmsg(work));
            strata__op_clear(&op);
            break;
        }
        if (!strata__diff_push(d, &op)) {
            strata__op_clear(&op);
            rc = STRATA_E_NOMEM;
        }
    }
    if (rc == STRATA_OK) {
        d->to = work;
        work = NULL;
        *out = d;
    } else {
        strata_diff_free(d);
    }
    strata_metadata_free(work);
    return rc;
}

/* For undoing revision i from `heads`: which of its down revisions become
 * heads again (restored[k] for down[k]), namely those no other remaining
 * head still has underneath. */
static int parents_back(const strata_migrations *m, const bool *heads, int i, bool *restored)
{
    bool *rest = set_new(m), *under = set_new(m);
    if (!rest || !under) {
        free(rest);
        free(under);
        return STRATA_E_NOMEM;
    }
    memcpy(rest, heads, (size_t)m->nrevs);
    rest[i] = false;
    applied_of(m, rest, under);
    for (int k = 0; k < m->revs[i]->ndown; k++)
        restored[k] = !under[strata__mig_find(m, m->revs[i]->down[k])];
    free(rest);
    free(under);
    return STRATA_OK;
}

/* "Running upgrade A, B -> C, message" / "Running downgrade C -> A, message". */
static void describe_step(strata__sb *sb, const strata_migrations *m, int i, bool up,
                          const bool *restored)
{
    const strata__revision *rev = m->revs[i];
    strata__sb_printf(sb, "Running %s ", up ? "upgrade" : "downgrade");
    if (!up)
        strata__sb_printf(sb, "%s -> ", rev->id);
    for (int k = 0, n = 0; k < rev->ndown; k++)
        if (up || restored[k])
            strata__sb_printf(sb, "%s%s", n++ ? ", " : "", rev->down[k]);
    if (up)
        strata__sb_printf(sb, " -> %s", rev->id);
    strata__sb_printf(sb, ", %s", rev->message);
}

/* The version table's change for applying (up) or undoing revision i
 * (`restored` from parents_back); updates r->heads. */
static int version_step(run *r, int i, bool up, const bool *restored)
{
    strata_migrations *m = r->m;
    strata__revision *rev = m->revs[i];
    int rc = STRATA_OK;
    bool replaced = false;
    /* Up: C replaces its down revisions that are heads.  Down: the
     * restored parents replace C. */
    for (int k = 0; rc == STRATA_OK && k < rev->ndown; k++) {
        int d = strata__mig_find(m, rev->down[k]);
        if (up ? !r->heads[d] : !restored[k])
            continue;
        r->heads[d] = !up;
        if (replaced)
            rc = up ? vt_sql(r, VT_DELETE, rev->down[k], NULL)
                    : vt_sql(r, VT_INSERT, rev->down[k], NULL);
        else
            rc = up ? vt_sql(r, VT_UPDATE, rev->id, rev->down[k])
                    : vt_sql(r, VT_UPDATE, rev->down[k], rev->id);
        replaced = true;
    }
    if (rc == STRATA_OK && !replaced)
        rc = up ? vt_sql(r, VT_INSERT, rev->id, NULL) : vt_sql(r, VT_DELETE, rev->id, NULL);
    r->heads[i] = up;
    return rc;
}

/* Apply or undo revision i: schema and version table.  Live, inside the
 * transaction the caller opened; offline, as SQL from BEGIN on (the
 * caller adds the COMMIT). */
static int run_revision(run *r, int i, bool up)
{
    strata_migrations *m = r->m;
    strata__revision *rev = m->revs[i];
    int rc = STRATA_OK;
    strata_metadata *live = NULL;
    const strata_metadata *from = r->state;
    if (r->db) {
        const char *ex[2];
        if ((rc = strata_schema_introspect(&live, r->db, vt_exclude(r, ex))) != STRATA_OK)
            return strata__mig_error(m, rc, "%s", strata_db_errmsg(r->db)); /* says "reading the schema" */
        from = live;
    }
    strata_diff *d = NULL;
    rc = revision_diff(r, i, up ? 0 : 1, from, &d);
    strata_metadata_free(live);
    for (int k = 0; rc == STRATA_OK && k < d->nops; k++)
        r->ran_sql = r->ran_sql || d->ops[k].kind == STRATA_OP_SQL;
    bool pause = false;
    if (rc == STRATA_OK && r->fk_switch &&
        (rc = strata__diff_needs_fk_pause(d, r->db, &pause)) != STRATA_OK)
        rc = strata__mig_error(m, rc, "%s", strata_db_errmsg(r->db));
    if (rc == STRATA_OK && r->fk_switch && pause != r->fk_paused) {
        strata_diff_free(d);
        return RUN_FK_SWITCH;
    }
    bool *restored = rc == STRATA_OK ? set_new(m) : NULL;
    if (rc == STRATA_OK && (!restored || (!up && parents_back(m, r->heads, i, restored))))
        rc = STRATA_E_NOMEM;
    if (rc != STRATA_OK) {
        free(restored);
        strata_diff_free(d);
        return rc;
    }
    strata__sb line;
    strata__sb_init(&line);
    describe_step(&line, m, i, up, restored);
    if (line.failed) {
        strata__sb_free(&line);
        free(restored);
        strata_diff_free(d);
        return strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
    }
    const char *text = line.data;
    bool own_sql = false;
    for (int k = 0; k < d->nops; k++)
        own_sql = own_sql || d->ops[k].kind == STRATA_OP_SQL;
    if (r->db) {
        strata__mig_print(m, "%s", text);
        if (own_sql && r->fk_paused)
            strata__mig_print(m,
                              "WARNING: %s rebuilds or drops a table other tables refer to, so "
                              "SQLite runs it with foreign keys off: its sql operations run "
                              "without ON DELETE and ON UPDATE actions (rows left referring to "
                              "nothing are refused before the commit)",
                              rev->id);
        else if (own_sql && r->fk_run_off)
            strata__mig_print(m,
                              "WARNING: the run is one transaction, which SQLite runs with "
                              "foreign keys off: the sql operations of %s run without ON DELETE "
                              "and ON UPDATE actions (rows left referring to nothing are refused "
                              "before the commit)",
                              rev->id);
        if ((rc = strata_diff_apply(d, r->db)) != STRATA_OK)
            rc = strata__mig_error(m, rc, "%s failed: %s: %s", text, rev->file,
                                   strata_db_errmsg(r->db));
    } else {
        char *sql = NULL;
        strata__sb_printf(r->out, "\n-- %s\nBEGIN;\n", text);
        if ((rc = strata_diff_render(d, r->drv, &sql)) != STRATA_OK)
            rc = strata__mig_error(m, rc, "%s: %s", rev->file,
                                   strata_metadata_errmsg(strata_diff_from(d)));
        else
            strata__sb_puts(r->out, sql);
        free(sql);
        /* The replayed schema moves on. */
        strata_metadata *next;
        if (rc == STRATA_OK && (rc = strata_metadata_copy(&next, strata_diff_to(d))) == STRATA_OK) {
            strata_metadata_free(r->state);
            r->state = next;
        }
    }
    strata__sb_free(&line);
    strata_diff_free(d);
    if (rc == STRATA_OK)
        rc = version_step(r, i, up, restored);
    free(restored);
    return rc;
}

/* ---- runs -------------------------------------------------------------- */

static int run_open(run *r, strata_migrations *m, strata_db *db, const strata_driver *drv)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    r->db = db;
    r->drv = db ? strata_db_driver(db) : drv;
    r->dl = r->drv ? strata__dialect_of(r->drv) : NULL;
    if (!r->dl)
        return strata__mig_error(m, STRATA_E_UNSUPPORTED, "migrations do not know the backend %s",
                                 r->drv ? r->drv->name : "(none)");
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_ident(&sb, r->drv, m->version_table);
    r->qvt = strata__sb_take(&sb);
    r->heads = set_new(m);
    if (!r->qvt || !r->heads)
        return strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
    if (db && strata_db_in_transaction(db))
        return strata__mig_error(m, STRATA_E_MISUSE,
                                 "migrations run their own transactions: commit or roll back the "
                                 "open one first");
    return STRATA_OK;
}

static void run_close(run *r)
{
    free(r->qvt);
    free(r->heads);
    strata_metadata_free(r->state);
}

/* BEGIN with the migration lock, the version table made if needed, the
 * heads read. */
static int64_t monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Whether the version table is where its CREATE would make it. */
static int vt_here(run *r, bool *here)
{
    strata_stmt *st;
    int64_t n = 0;
    int rc = strata_stmt_prepare(&st, r->db, r->dl->table_here);
    if (rc == STRATA_OK)
        rc = strata_stmt_bind_text(st, 1, r->m->version_table, -1);
    if (rc == STRATA_OK && (rc = strata_stmt_step(st)) == STRATA_ROW)
        rc = strata_stmt_column_int64(st, 0, &n);
    strata_stmt_finalize(st);
    *here = n != 0;
    return rc == STRATA_OK ? STRATA_OK : db_failed(r, "looking for the version table");
}

static int step_begin(run *r)
{
    /* Another process running migrations holds the lock for as long as its
     * revisions take, which may be longer than one busy timeout: wait in
     * rounds of it, up to the repository's limit. */
    int64_t deadline = monotonic_ms() + r->m->lock_wait_ms;
    bool told = false;
    int rc;
    for (;;) {
        int64_t round = monotonic_ms();
        rc = r->dl->migration_begin ? strata__db_begin_sql(r->db, r->dl->migration_begin)
                                    : strata_db_begin(r->db);
        int64_t now = monotonic_ms();
        if (rc != STRATA_E_BUSY || now >= deadline)
            break;
        if (!told)
            strata__mig_print(r->m, "Waiting for the migration lock: another process is "
                                    "running migrations.");
        told = true;
        /* A round that did not wait (a busy timeout of 0) is not run again
         * at once: a pause, so that the wait does not spin a core. */
        if (now - round < 50) {
            int64_t ms = deadline - now < 50 ? deadline - now : 50;
            struct timespec t = {0, (long)ms * 1000000L};
            nanosleep(&t, NULL);
        }
    }
    if (rc != STRATA_OK)
        return db_failed(r, "taking the migration lock");
    strata__sb sb;
    strata__sb_init(&sb);
    if (r->dl->migration_lock)
        r->dl->migration_lock(&sb, r->m->version_table, r->m->lock_wait_ms);
    char *lock = strata__sb_take(&sb);
    strata__sb_init(&sb);
    vt_create_sql(&sb, r);
    char *create = strata__sb_take(&sb);
    rc = create && (lock || !r->dl->migration_lock)
             ? STRATA_OK
             : strata__mig_error(r->m, STRATA_E_NOMEM, "out of memory");
    if (rc == STRATA_OK && lock && strata_db_exec(r->db, lock) != STRATA_OK)
        rc = db_failed(r, "taking the migration lock");
    /* Made when it is not there yet: a role that may not create tables
     * (a service upgrading to the head a deploy reached) need not. */
    bool here = false;
    if (rc == STRATA_OK && r->dl->table_here)
        rc = vt_here(r, &here);
    if (rc == STRATA_OK && !here && strata_db_exec(r->db, create) != STRATA_OK)
        rc = db_failed(r, "creating the version table");
    free(lock);
    free(create);
    if (rc == STRATA_OK)
        rc = vt_read(r);
    if (rc != STRATA_OK)
        strata__db_abort_tx(r->db);
    return rc;
}

static int step_end(run *r, int rc)
{
    if (rc == STRATA_OK) {
        if (strata_db_commit(r->db) != STRATA_OK) /* whose message says COMMIT */
            return db_failed(r, "committing");
        return STRATA_OK;
    }
    strata__db_abort_tx(r->db);
    return rc;
}

/* The next revision to run: the first of goal-but-not-applied (up), or
 * the last of applied-but-not-kept (down); -1 when done, -2 when out of
 * memory (with the error set). */
static int next_revision(run *r, const bool *goal, bool up)
{
    bool *applied = set_new(r->m);
    if (!applied) {
        strata__mig_error(r->m, STRATA_E_NOMEM, "out of memory");
        return -2;
    }
    applied_of(r->m, r->heads, applied);
    int found = -1;
    if (up) {
        for (int i = 0; i < r->m->nrevs && found < 0; i++)
            if (goal[i] && !applied[i])
                found = i;
    } else {
        for (int i = r->m->nrevs - 1; i >= 0 && found < 0; i--)
            if (applied[i] && !goal[i] && r->heads[i])
                found = i;
    }
    free(applied);
    return found;
}

static int migrate_live(strata_migrations *m, strata_db *db, const char *target, bool up)
{
    if (!m || !db || !target)
        return STRATA_E_MISUSE;
    run r;
    int rc = run_open(&r, m, db, NULL);
    bool *goal = set_new(m);
    bool fk_restore = false;
    bool single = !m->per_revision;
    if (rc == STRATA_OK && !goal)
        rc = strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
    /* Engines that rebuild tables pause foreign keys for it (the
     * dialect's fk_pause_sql); strata_diff_apply checks them before each
     * commit.  The switch works only outside a transaction: with one
     * transaction per revision, each revision that rebuilds a referenced
     * table runs paused and the others with foreign keys on, as on an
     * engine that needs no pause; one transaction for the run is paused
     * throughout. */
    if (rc == STRATA_OK && r.dl->fk_pause_sql) {
        strata_stmt *st;
        int64_t on = 0;
        int step = STRATA_OK;
        if ((rc = strata_stmt_prepare(&st, db, r.dl->fk_enabled_sql)) == STRATA_OK) {
            if ((step = strata_stmt_step(st)) == STRATA_ROW)
                rc = strata_stmt_column_int64(st, 0, &on);
            else if (step != STRATA_DONE)
                rc = step;
            strata_stmt_finalize(st);
        }
        if (rc == STRATA_OK && on && !single) {
            r.fk_switch = true;
        } else if (rc == STRATA_OK && on) {
            /* The switch may have happened even when the statement then
             * fails (SQLite applies the pragma as it compiles it). */
            fk_restore = r.fk_run_off = true;
            rc = strata_db_exec(db, r.dl->fk_pause_sql);
        }
        if (rc != STRATA_OK)
            rc = db_failed(&r, "switching foreign keys off for the run");
    }
    /* The goal, from the state under the lock. */
    if (rc == STRATA_OK && (rc = step_begin(&r)) == STRATA_OK) {
        rc = up ? upgrade_goal(&r, target, r.heads, goal)
                : downgrade_goal(&r, target, r.heads, goal);
        rc = step_end(&r, rc);
    }
    if (rc == STRATA_OK && single)
        rc = step_begin(&r);
    int switches = 0;
    while (rc == STRATA_OK) {
        if (!single && (rc = step_begin(&r)) != STRATA_OK)
            break;
        int i = next_revision(&r, goal, up);
        if (i >= 0)
            rc = run_revision(&r, i, up);
        else if (i == -2)
            rc = STRATA_E_NOMEM;
        if (!single)
            rc = step_end(&r, rc);
        if (rc == RUN_FK_SWITCH) {
            /* Rolled back before any change: switch, and take the
             * revision (chosen again under the lock) once more. */
            const char *sql = r.fk_paused ? r.dl->fk_resume_sql : r.dl->fk_pause_sql;
            fk_restore = true; /* the pragma may apply even when it fails */
            if (++switches > 2)
                rc = strata__mig_error(m, STRATA_E_MIGRATION,
                                       "the revisions to run kept changing while foreign keys "
                                       "were switched for them: run the upgrade again");
            else if (strata_db_exec(db, sql) != STRATA_OK)
                rc = db_failed(&r, "switching foreign keys for a revision");
            else
                rc = STRATA_OK;
            r.fk_paused = !r.fk_paused;
            continue;
        }
        switches = 0;
        if (i < 0)
            break;
    }
    /* One transaction for the run, foreign keys paused for all of it: a
     * statement of a migration file's own may have left any row dangling,
     * so every reference is checked before the commit (strata_diff_apply
     * checked what each change of the schema alone could touch). */
    if (single && fk_restore && r.ran_sql && rc == STRATA_OK && strata_db_in_transaction(db) &&
        (rc = r.dl->fk_verify(db, NULL)) != STRATA_OK)
        rc = db_failed(&r, "checking the references before the commit");
    if (single && strata_db_in_transaction(db))
        rc = step_end(&r, rc);
    /* Should this fail, the caller must know the connection is left with
     * foreign keys off. */
    if (fk_restore && strata_db_exec(db, r.dl->fk_resume_sql) != STRATA_OK) {
        int code = rc != STRATA_OK ? rc : strata_db_errcode(db);
        rc = strata__mig_error(m, code ? code : STRATA_E_ERROR,
                               "%s%sforeign keys could not be switched back on for this "
                               "connection: %s",
                               rc != STRATA_OK ? strata_migrations_errmsg(m) : "",
                               rc != STRATA_OK ? "; and " : "", strata_db_errmsg(db));
        if (!m->errmsg) /* no memory for the message: this one needs none */
            m->errmsg_static = "out of memory; foreign keys could not be switched back on for "
                               "this connection";
    }
    free(goal);
    run_close(&r);
    return rc;
}

int strata_migrations_upgrade(strata_migrations *m, strata_db *db, const char *target)
{
    return migrate_live(m, db, target ? target : "head", true);
}

int strata_migrations_downgrade(strata_migrations *m, strata_db *db, const char *target)
{
    return migrate_live(m, db, target ? target : "-1", false);
}

int strata__mig_replay(strata_migrations *m, const strata_driver *drv, strata_metadata **out)
{
    *out = NULL;
    run r;
    strata__sb scratch; /* the SQL the replay makes, not wanted */
    strata__sb_init(&scratch);
    int rc = run_open(&r, m, NULL, drv);
    r.out = &scratch;
    if (rc == STRATA_OK)
        rc = strata_metadata_new(&r.state);
    for (int i = 0; rc == STRATA_OK && i < m->nrevs; i++)
        rc = run_revision(&r, i, true);
    if (rc == STRATA_OK) {
        *out = r.state;
        r.state = NULL;
    }
    strata__sb_free(&scratch);
    run_close(&r);
    return rc;
}

/* ---- offline ----------------------------------------------------------- */

static int migrate_sql(strata_migrations *m, const strata_driver *dialect, const char *range,
                       bool up, char **out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!m || !dialect || !range)
        return STRATA_E_MISUSE;
    run r;
    strata__sb sb;
    strata__sb_init(&sb);
    int rc = run_open(&r, m, NULL, dialect);
    r.out = &sb;
    bool *goal = set_new(m);
    if (rc == STRATA_OK && !goal)
        rc = STRATA_E_NOMEM;
    if (rc == STRATA_OK)
        rc = strata_metadata_new(&r.state);
    /* FROM: the revision the database is at. */
    char from[64] = "", to[64];
    const char *colon = strchr(range, ':');
    snprintf(to, sizeof to, "%s", colon ? colon + 1 : range);
    if (colon)
        snprintf(from, sizeof from, "%.*s", (int)(colon - range), range);
    else if (!up)
        rc = rc == STRATA_OK ? strata__mig_error(m, STRATA_E_MIGRATION,
                                                 "downgrade --sql needs FROM:TO (the database's "
                                                 "revision, then the target)")
                             : rc;
    /* FROM: base, a revision, "head" (the one head) or "heads" (all). */
    int f = -1, *from_heads = NULL, nfrom = 0;
    bool by_head = !strcmp(from, "head") || !strcmp(from, "heads");
    if (rc == STRATA_OK && by_head && (rc = strata__graph_heads(m, &from_heads, &nfrom)) == STRATA_OK) {
        if (nfrom > 1 && !strcmp(from, "head"))
            rc = strata__mig_error(m, STRATA_E_MIGRATION,
                                   "FROM head is ambiguous: there are %d heads (write heads, or "
                                   "name one)",
                                   nfrom);
        else if (nfrom > 0)
            f = from_heads[0];
    } else if (rc == STRATA_OK && !by_head && *from && strcmp(from, "base") &&
               (f = strata__graph_lookup(m, from)) < 0) {
        rc = STRATA_E_MIGRATION;
    }
    /* Replay the schema up to FROM, keeping the SQL it makes apart. */
    if (rc == STRATA_OK && f >= 0) {
        bool *below = set_new(m);
        strata__sb scratch;
        strata__sb_init(&scratch);
        r.out = &scratch;
        if (!below)
            rc = STRATA_E_NOMEM;
        else if (by_head)
            for (int k = 0; k < nfrom; k++)
                strata__graph_ancestors(m, from_heads[k], below);
        else
            strata__graph_ancestors(m, f, below);
        for (int i = 0; rc == STRATA_OK && i < m->nrevs; i++)
            if (below[i])
                rc = run_revision(&r, i, true);
        free(below);
        strata__sb_free(&scratch);
        r.out = &sb;
    }
    if (rc == STRATA_OK)
        rc = up ? upgrade_goal(&r, to, r.heads, goal) : downgrade_goal(&r, to, r.heads, goal);
    if (rc == STRATA_OK) {
        /* SQLite's shell goes on after a failed statement: a rebuild's
         * INSERT refused, it would drop the table and put the empty new
         * one in its place. */
        strata__sb_puts(&sb, "-- Run so that a failed statement stops the script: sqlite3 -bail, "
                             "psql -v ON_ERROR_STOP=1.\n");
        bool fk = r.dl->fk_pause_sql != NULL;
        if (fk)
            strata__sb_printf(&sb, "%s;\n", r.dl->fk_pause_sql);
        if (f < 0) {
            vt_create_sql(&sb, &r);
            strata__sb_puts(&sb, ";\n");
        }
        for (int i; rc == STRATA_OK && (i = next_revision(&r, goal, up)) != -1;)
            if (i == -2)
                rc = STRATA_E_NOMEM;
            else if ((rc = run_revision(&r, i, up)) == STRATA_OK)
                strata__sb_puts(&sb, "COMMIT;\n");
        if (fk && rc == STRATA_OK)
            strata__sb_printf(&sb, "\n%s;\n", r.dl->fk_resume_sql);
    }
    free(goal);
    free(from_heads);
    run_close(&r);
    if (rc != STRATA_OK) {
        strata__sb_free(&sb);
        return rc;
    }
    strata__sb_puts(&sb, "");
    *out = strata__sb_take(&sb);
    return *out ? STRATA_OK : strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
}

int strata_migrations_upgrade_sql(strata_migrations *m, const strata_driver *dialect,
                                  const char *range, char **out)
{
    return migrate_sql(m, dialect, range ? range : "head", true, out);
}

int strata_migrations_downgrade_sql(strata_migrations *m, const strata_driver *dialect,
                                    const char *range, char **out)
{
    return migrate_sql(m, dialect, range, false, out);
}

/* ---- stamp, current ---------------------------------------------------- */

int strata_migrations_stamp(strata_migrations *m, strata_db *db, const char *target)
{
    if (!m || !db || !target)
        return STRATA_E_MISUSE;
    run r;
    int rc = run_open(&r, m, db, NULL);
    if (rc == STRATA_OK)
        rc = step_begin(&r);
    if (rc != STRATA_OK) {
        run_close(&r);
        return rc;
    }
    bool *want = set_new(m);
    if (!want)
        rc = STRATA_E_NOMEM;
    int *gh = NULL, ngh = 0;
    if (rc == STRATA_OK && (!strcmp(target, "heads") || !strcmp(target, "head"))) {
        rc = strata__graph_heads(m, &gh, &ngh);
        if (rc == STRATA_OK && !strcmp(target, "head") && ngh > 1)
            rc = strata__mig_error(m, STRATA_E_MIGRATION,
                                   "Multiple head revisions are present: stamp one, or 'heads'");
        for (int i = 0; rc == STRATA_OK && i < ngh; i++)
            want[gh[i]] = true;
    } else if (rc == STRATA_OK && strcmp(target, "base")) {
        int t;
        if ((rc = resolve_one(&r, target, r.heads, &t)) == STRATA_OK && t >= 0)
            want[t] = true;
    }
    free(gh);
    if (rc == STRATA_OK)
        rc = vt_sql(&r, VT_CLEAR, NULL, NULL);
    for (int i = 0; rc == STRATA_OK && i < m->nrevs; i++)
        if (want[i])
            rc = vt_sql(&r, VT_INSERT, m->revs[i]->id, NULL);
    free(want);
    rc = step_end(&r, rc);
    run_close(&r);
    return rc;
}

/* The heads the database records (an empty set when it has no version
 * table), without locking. */
static int read_current(run *r)
{
    int rc = vt_read(r);
    if (rc == STRATA_E_UNDEFINED_TABLE) {
        memset(r->heads, 0, (size_t)r->m->nrevs + 1);
        strata__mig_error(r->m, STRATA_OK, "%s", "");
        return STRATA_OK;
    }
    return rc;
}

int strata_migrations_current_ids(strata_migrations *m, strata_db *db, char ***out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!m || !db)
        return STRATA_E_MISUSE;
    run r;
    int rc = run_open(&r, m, db, NULL);
    if (rc == STRATA_OK)
        rc = read_current(&r);
    char **ids = rc == STRATA_OK ? calloc((size_t)m->nrevs + 1, sizeof *ids) : NULL;
    if (rc == STRATA_OK && !ids)
        rc = STRATA_E_NOMEM;
    for (int i = 0, n = 0; rc == STRATA_OK && i < m->nrevs; i++)
        if (r.heads[i] && !(ids[n++] = strata__strdup(m->revs[i]->id)))
            rc = STRATA_E_NOMEM;
    run_close(&r);
    if (rc != STRATA_OK) {
        strata_migrations_ids_free(ids);
        return rc;
    }
    *out = ids;
    return STRATA_OK;
}

void strata_migrations_ids_free(char **ids)
{
    for (int i = 0; ids && ids[i]; i++)
        free(ids[i]);
    free(ids);
}

int strata_migrations_current(strata_migrations *m, strata_db *db, char **out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    char **ids;
    int rc = strata_migrations_current_ids(m, db, &ids);
    if (rc != STRATA_OK)
        return rc;
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_puts(&sb, "");
    for (int i = 0; ids[i]; i++) {
        int k = strata__mig_find(m, ids[i]);
        strata__sb_printf(&sb, "%s%s\n", ids[i], m->revs[k]->nchildren ? "" : " (head)");
    }
    strata_migrations_ids_free(ids);
    *out = strata__sb_take(&sb);
    return *out ? STRATA_OK : STRATA_E_NOMEM;
}

/* For autogen.c: the database's heads as a set (m->nrevs bools). */
int strata__mig_db_heads(strata_migrations *m, strata_db *db, bool *heads)
{
    run r;
    int rc = run_open(&r, m, db, NULL);
    if (rc == STRATA_OK && (rc = read_current(&r)) == STRATA_OK)
        memcpy(heads, r.heads, (size_t)m->nrevs + 1);
    run_close(&r);
    return rc;
}
