/*
 * autogen.c - autogenerate and check: compare the models with the
 * database (which must be at head), print what changed in Alembic's words,
 * and write a revision whose upgrade is the diff and whose downgrade is its
 * inverse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate_internal.h"

static void names_list(strata__sb *sb, const strata__names *n)
{
    strata__sb_puts(sb, "[");
    for (int i = 0; i < n->n; i++)
        strata__sb_printf(sb, "%s'%s'", i ? ", " : "", n->v[i]);
    strata__sb_puts(sb, "]");
}

/* One "Detected ..." line per change, as Alembic prints them. */
static void detect(strata_migrations *m, const strata__op *op)
{
    strata__sb sb;
    strata__sb_init(&sb);
    switch (op->kind) {
    case STRATA_OP_CREATE_TABLE:
        strata__mig_print(m, "Detected added table '%s'", op->table);
        for (int i = 0; i < op->tdef->nidx; i++) {
            names_list(&sb, &op->tdef->idx[i]->cols);
            strata__mig_print(m, "Detected added index '%s' on '%s'", op->tdef->idx[i]->name,
                              sb.data ? sb.data : "");
            strata__sb_free(&sb);
            strata__sb_init(&sb);
        }
        break;
    case STRATA_OP_DROP_TABLE:
        strata__mig_print(m, "Detected removed table '%s'", op->table);
        break;
    case STRATA_OP_ADD_COLUMN:
        strata__mig_print(m, "Detected added column '%s.%s'", op->table, op->col->name);
        break;
    case STRATA_OP_DROP_COLUMN:
        strata__mig_print(m, "Detected removed column '%s.%s'", op->table, op->col->name);
        break;
    case STRATA_OP_ALTER_COLUMN: {
        const strata_column *a = op->old_col, *b = op->col;
        if (!strata__type_equal(&a->type, &b->type)) {
            strata__type_print(&sb, &a->type);
            strata__sb_puts(&sb, " to ");
            strata__type_print(&sb, &b->type);
            strata__mig_print(m, "Detected type change from %s on '%s.%s'", sb.data ? sb.data : "",
                              op->table, b->name);
        }
        if (a->nullable != b->nullable)
            strata__mig_print(m, "Detected %s on column '%s.%s'", b->nullable ? "NULL" : "NOT NULL",
                              op->table, b->name);
        const char *da = a->def_portable ? a->def_portable : "",
                   *db = b->def_portable ? b->def_portable : "";
        if (strcmp(da, db) != 0)
            strata__mig_print(m, "Detected server default change on column '%s.%s'", op->table,
                              b->name);
        if (a->collation != b->collation)
            strata__mig_print(m, "Detected collation change from %s to %s on '%s.%s'",
                              strata__collation_name(a->collation),
                              strata__collation_name(b->collation), op->table, b->name);
        break;
    }
    case STRATA_OP_CREATE_INDEX:
        names_list(&sb, &op->index->cols);
        strata__mig_print(m, "Detected added %sindex '%s' on '%s'",
                          op->index->unique ? "unique " : "", op->index->name,
                          sb.data ? sb.data : "");
        break;
    case STRATA_OP_DROP_INDEX:
        strata__mig_print(m, "Detected removed index '%s' on '%s'", op->index->name, op->table);
        break;
    case STRATA_OP_ADD_UNIQUE:
        names_list(&sb, &op->cons->cols);
        strata__mig_print(m, "Detected added unique constraint '%s' on '%s'", op->cons->name,
                          sb.data ? sb.data : "");
        break;
    case STRATA_OP_DROP_UNIQUE:
        strata__mig_print(m, "Detected removed unique constraint '%s' on '%s'", op->cons->name,
                          op->table);
        break;
    case STRATA_OP_ADD_FOREIGN_KEY:
    case STRATA_OP_DROP_FOREIGN_KEY:
        strata__names_print(&sb, &op->cons->cols);
        strata__names_print(&sb, &op->cons->ref_cols);
        strata__mig_print(m, "Detected %s foreign key %s on table %s",
                          op->kind == STRATA_OP_ADD_FOREIGN_KEY ? "added" : "removed",
                          sb.data ? sb.data : "", op->table);
        break;
    case STRATA_OP_ADD_CHECK:
    case STRATA_OP_DROP_CHECK:
        strata__mig_print(m, "Detected %s check constraint '%s' on '%s'",
                          op->kind == STRATA_OP_ADD_CHECK ? "added" : "removed", op->cons->name,
                          op->table);
        break;
    default: break;
    }
    strata__sb_free(&sb);
}

void strata__take_collations(strata_metadata *live, const strata_metadata *from)
{
    for (int i = 0; i < live->ntables; i++) {
        const strata_table *ft = strata_metadata_find_table(from, live->tables[i]->name);
        for (int k = 0; ft && k < live->tables[i]->ncols; k++) {
            int at = strata__table_find_column_index(ft, live->tables[i]->cols[k]->name);
            if (at >= 0)
                live->tables[i]->cols[k]->collation = ft->cols[at]->collation;
        }
    }
}

/* The diff from the database to the models, after checking the database
 * is at head. */
static int compare(strata_migrations *m, strata_db *db, const strata_metadata *target,
                   strata_diff **out, int **heads, int *nheads)
{
    *out = NULL;
    *heads = NULL;
    bool *at = calloc((size_t)m->nrevs + 1, 1);
    int rc = at ? strata__mig_db_heads(m, db, at) : STRATA_E_NOMEM;
    if (rc == STRATA_OK)
        rc = strata__graph_heads(m, heads, nheads);
    bool same = rc == STRATA_OK;
    for (int i = 0; same && i < m->nrevs; i++)
        same = at[i] == (m->revs[i]->nchildren == 0);
    free(at);
    if (rc == STRATA_OK && !same)
        rc = strata__mig_error(m, STRATA_E_OUTDATED,
                               "Target database is not up to date: run db upgrade first.");
    strata_metadata *live = NULL;
    const char *ex[2] = {m->version_table, NULL};
    if (rc == STRATA_OK && strata_schema_introspect(&live, db, ex) != STRATA_OK)
        rc = strata__mig_error(m, strata_db_errcode(db), "%s", strata_db_errmsg(db));
    /* An engine that cannot tell a column's collation (SQLite: all are
     * bytewise) still keeps the revisions' word for it, so that a change
     * of a model's collation is seen in development too: the columns'
     * collations come from the revisions, replayed. */
    const strata__dialect *dl = strata__dialect_of(strata_db_driver(db));
    bool replayed = rc == STRATA_OK && dl && !dl->binary_collation;
    strata_metadata *head = NULL;
    if (replayed && (rc = strata__mig_replay(m, strata_db_driver(db), &head)) == STRATA_OK)
        strata__take_collations(live, head);
    strata_metadata_free(head);
    if (rc == STRATA_OK &&
        (rc = strata__schema_diff(out, live, target, strata_db_driver(db), true)) != STRATA_OK)
        rc = strata__mig_error(m, rc, "comparing the models with the database: %s",
                               strata_metadata_errmsg(target));
    strata_metadata_free(live);
    if (rc != STRATA_OK) {
        free(*heads);
        *heads = NULL;
    }
    return rc;
}

static int ops_from(strata__mop **out, int *n, const strata_diff *d)
{
    *n = 0;
    if (!d->nops)
        return STRATA_OK;
    if (!(*out = calloc((size_t)d->nops, sizeof **out)))
        return STRATA_E_NOMEM;
    for (int i = 0; i < d->nops; i++) {
        int rc = strata__mop_from_op(&(*out)[i], &d->ops[i]);
        (*n)++;
        if (rc != STRATA_OK)
            return rc;
    }
    return STRATA_OK;
}

int strata_migrations_autogenerate(strata_migrations *m, strata_db *db,
                                   const strata_metadata *target, const char *message, char **id)
{
    if (id)
        *id = NULL;
    if (!m || !db || !target)
        return STRATA_E_MISUSE;
    strata_diff *d, *inv = NULL;
    int *heads, nheads;
    int rc = compare(m, db, target, &d, &heads, &nheads);
    if (rc != STRATA_OK)
        return rc;
    if (d->nops == 0) {
        /* What no operation changes is still said (a primary key, a key
         * the database numbers). */
        for (int i = 0; i < strata_diff_warning_count(d); i++)
            strata__mig_print(m, "WARNING: %s", strata_diff_warning(d, i));
        strata__mig_print(m, "No changes in schema detected.");
        strata_diff_free(d);
        free(heads);
        return STRATA_OK;
    }
    for (int i = 0; i < d->nops; i++)
        detect(m, &d->ops[i]);
    for (int i = 0; i < strata_diff_warning_count(d); i++)
        strata__mig_print(m, "WARNING: %s", strata_diff_warning(d, i));
    strata__revision *r = calloc(1, sizeof *r);
    char newid[13];
    strata__mig_new_id(m, newid);
    char buf[STRATA_TIMESTAMP_BUFSIZE];
    strata_timestamp_format(strata_timestamp_now(), buf, sizeof buf);
    if (!r || !(r->id = strata__strdup(newid)) ||
        !(r->message = strata__strdup(message ? message : "")) ||
        !(r->created = strata__strdup(buf)) ||
        !(r->down = calloc((size_t)nheads + 1, sizeof *r->down)))
        rc = STRATA_E_NOMEM;
    for (int i = 0; rc == STRATA_OK && i < nheads; i++)
        if (!(r->down[r->ndown++] = strata__strdup(m->revs[heads[i]]->id)))
            rc = STRATA_E_NOMEM;
    if (rc == STRATA_OK)
        rc = strata_diff_invert(&inv, d);
    if (rc == STRATA_OK)
        rc = ops_from(&r->ops[0], &r->nops[0], d);
    if (rc == STRATA_OK)
        rc = ops_from(&r->ops[1], &r->nops[1], inv);
    const char **warnings = NULL;
    int nw = strata_diff_warning_count(d);
    if (rc == STRATA_OK && nw && !(warnings = calloc((size_t)nw, sizeof *warnings)))
        rc = STRATA_E_NOMEM;
    for (int i = 0; rc == STRATA_OK && i < nw; i++)
        warnings[i] = strata_diff_warning(d, i);
    char *newrev = rc == STRATA_OK && id ? strata__strdup(newid) : NULL;
    if (rc == STRATA_OK) {
        rc = strata__mig_write_revision(m, r, warnings, nw);
        r = NULL;
        if (rc == STRATA_OK)
            strata__mig_print(m, "Generating %s ...  done",
                              m->revs[strata__mig_find(m, newid)]->file);
    } else {
        strata__mig_error(m, rc, "out of memory");
    }
    if (rc == STRATA_OK && id)
        *id = newrev;
    else
        free(newrev);
    free(warnings);
    strata__revision_free(r);
    strata_diff_free(inv);
    strata_diff_free(d);
    free(heads);
    return rc;
}

int strata_migrations_check(strata_migrations *m, strata_db *db, const strata_metadata *target)
{
    if (!m || !db || !target)
        return STRATA_E_MISUSE;
    strata_diff *d;
    int *heads, nheads;
    int rc = compare(m, db, target, &d, &heads, &nheads);
    if (rc != STRATA_OK)
        return rc;
    free(heads);
    for (int i = 0; i < strata_diff_warning_count(d); i++)
        strata__mig_print(m, "WARNING: %s", strata_diff_warning(d, i));
    if (d->nops == 0) {
        strata__mig_print(m, "No new upgrade operations detected.");
        strata_diff_free(d);
        return STRATA_OK;
    }
    for (int i = 0; i < d->nops; i++)
        detect(m, &d->ops[i]);
    rc = strata__mig_error(m, STRATA_E_OUTDATED,
                           "New upgrade operations detected: the models and the database differ "
                           "in %d way%s",
                           d->nops, d->nops == 1 ? "" : "s");
    strata_diff_free(d);
    return rc;
}
