/*
 * diff.c - the compare algorithm: strata_schema_diff().
 *
 * The diff walks the two schemas in a fixed sequence of phases (drop
 * foreign keys, drop indexes and constraints, drop tables, create tables,
 * columns, add indexes and constraints, add foreign keys), applying each
 * operation (operations.c) to a working copy of `from` as it goes, so
 * every table definition an operation carries is exactly the state at
 * that point, and the working copy ends equal to `to`.
 *
 * Layout: the comparison, the phases, strata_schema_diff().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_internal.h"

/* ---- comparison -------------------------------------------------------- */

typedef struct differ {
    strata_diff *d;
    strata_metadata *state; /* `from` with the operations so far applied */
    const strata_metadata *to;
    const strata__dialect *dialect;
    bool collations; /* compared (else binary and locale are one) */
    int rc;
} differ;

static bool columns_equal(const differ *df, const strata_column *a, const strata_column *b)
{
    bool same_type = df->dialect && df->dialect->same_type ? df->dialect->same_type(a, b)
                                                           : strata__type_equal(&a->type, &b->type);
    bool same_collation = a->collation == b->collation || !df->collations;
    /* Whether the database numbers a key is not compared here (no
     * operation changes it): check_primary_keys warns instead. */
    if (!same_type || !same_collation || a->nullable != b->nullable)
        return false;
    if (a->def == DEF_SQL && b->def == DEF_SQL)
        return true; /* engines rewrite expressions: not compared */
    return strata__defaults_equal(a, b);
}

static bool index_equal(const strata__index *a, const strata__index *b)
{
    /* Engines rewrite a partial index's condition: only whether there is
     * one is compared. */
    return a->unique == b->unique && strata__names_equal(&a->cols, &b->cols) &&
           !a->where == !b->where;
}

static bool cons_equal(const strata__cons *a, const strata__cons *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == CONS_CHECK)
        return true; /* by name: engines rewrite check expressions */
    if (!strata__names_equal(&a->cols, &b->cols))
        return false;
    if (a->kind != CONS_FK)
        return true;
    return strcmp(a->ref_table, b->ref_table) == 0 &&
           strata__names_equal(&a->ref_cols, &b->ref_cols) && a->on_delete == b->on_delete &&
           a->on_update == b->on_update;
}

static strata_op_kind cons_op(const strata__cons *c, bool add)
{
    switch (c->kind) {
    case CONS_UNIQUE: return add ? STRATA_OP_ADD_UNIQUE : STRATA_OP_DROP_UNIQUE;
    case CONS_FK: return add ? STRATA_OP_ADD_FOREIGN_KEY : STRATA_OP_DROP_FOREIGN_KEY;
    default: return add ? STRATA_OP_ADD_CHECK : STRATA_OP_DROP_CHECK;
    }
}

/* Record a deep copy of `borrowed` (its parts belong to the caller, and
 * strata__op_copy only reads them) and apply it to the working state.  The copy is
 * made first: the parts may belong to the state the operation changes. */
static void emit(differ *df, const strata__op *borrowed)
{
    strata__op op;
    if (df->rc != STRATA_OK || (df->rc = strata__op_copy(&op, borrowed)) != STRATA_OK)
        return;
    df->rc = strata__op_apply_md(df->state, &op);
    if (df->rc == STRATA_OK && !strata__diff_push(df->d, &op))
        df->rc = STRATA_E_NOMEM;
    if (df->rc != STRATA_OK)
        strata__op_clear(&op);
}

static void emit_cons(differ *df, const char *table, const strata__cons *c, bool add)
{
    emit(df,
         &(strata__op){.kind = cons_op(c, add), .table = (char *)table, .cons = (strata__cons *)c});
}

static void emit_index(differ *df, const char *table, const strata__index *ix, bool add)
{
    emit(df, &(strata__op){.kind = add ? STRATA_OP_CREATE_INDEX : STRATA_OP_DROP_INDEX,
                           .table = (char *)table,
                           .index = (strata__index *)ix});
}

static void emit_column(differ *df, strata_op_kind kind, const char *table,
                        const strata_column *col, const strata_column *old)
{
    emit(df, &(strata__op){.kind = kind,
                           .table = (char *)table,
                           .col = (strata_column *)col,
                           .old_col = (strata_column *)old});
}

static void emit_table(differ *df, strata_op_kind kind, const strata_table *t)
{
    emit(df, &(strata__op){.kind = kind, .table = t->name, .tdef = (strata_table *)t});
}

static void warn(differ *df, const char *fmt, ...) STRATA_PRINTF(2, 3);
static void warn(differ *df, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *w = strata__vformat(fmt, ap);
    va_end(ap);
    char **n = w ? realloc(df->d->warnings, (size_t)(df->d->nwarnings + 1) * sizeof *n) : NULL;
    if (!n) {
        free(w);
        df->rc = STRATA_E_NOMEM;
        return;
    }
    n[df->d->nwarnings++] = w;
    df->d->warnings = n;
}

/* ---- phases ------------------------------------------------------------ */

/* A constraint of the working state table `t` that differs from (or is
 * missing in) the target table `tt`. */
static bool cons_changed(const strata__cons *c, const strata_table *tt)
{
    const strata__cons *o = tt ? strata__table_find_cons(tt, c->name) : NULL;
    return !o || !cons_equal(c, o);
}

static void drop_changed_fks(differ *df)
{
    strata_metadata *st = df->state;
    for (int i = 0; i < st->ntables && df->rc == STRATA_OK; i++) {
        strata_table *t = st->tables[i];
        const strata_table *tt = strata_metadata_find_table(df->to, t->name);
        if (!tt)
            continue; /* handled with the dropped tables */
        for (int c = 0; c < t->ncons && df->rc == STRATA_OK; c++)
            if (t->cons[c]->kind == CONS_FK && cons_changed(t->cons[c], tt))
                emit_cons(df, t->name, t->cons[c--], false);
    }
}

/* Dropped tables: foreign keys between them that would stop one being
 * dropped before another (a cycle) go first; then the tables, dependants
 * first. */
static void drop_tables(differ *df)
{
    strata_metadata *st = df->state;
    strata_metadata *gone;
    if ((df->rc = strata_metadata_new(&gone)) != STRATA_OK)
        return;
    for (int i = 0; i < st->ntables; i++) {
        if (strata_metadata_find_table(df->to, st->tables[i]->name))
            continue;
        strata_table *copy = strata__table_copy(st->tables[i]);
        if (!copy || !strata__md_push_table(gone, copy)) {
            strata__table_free(copy);
            df->rc = STRATA_E_NOMEM;
            break;
        }
    }
    int *order = df->rc == STRATA_OK ? strata__md_sorted(gone) : NULL;
    if (df->rc == STRATA_OK && !order)
        df->rc = STRATA_E_NOMEM;
    /* A foreign key to a dropped table that sorts later is part of a cycle. */
    for (int k = 0; order && k < gone->ntables && df->rc == STRATA_OK; k++) {
        const strata_table *g = gone->tables[order[k]];
        strata_table *t = strata_metadata_find_table(st, g->name);
        for (int c = 0; c < t->ncons && df->rc == STRATA_OK; c++) {
            const strata__cons *fk = t->cons[c];
            if (fk->kind != CONS_FK || strcmp(fk->ref_table, t->name) == 0)
                continue;
            for (int later = k + 1; later < gone->ntables; later++) {
                if (strcmp(gone->tables[order[later]]->name, fk->ref_table) == 0) {
                    emit_cons(df, t->name, fk, false);
                    c--;
                    break;
                }
            }
        }
    }
    for (int k = gone->ntables - 1; order && k >= 0 && df->rc == STRATA_OK; k--) {
        strata_table *t = strata_metadata_find_table(st, gone->tables[order[k]]->name);
        emit_table(df, STRATA_OP_DROP_TABLE, t);
    }
    free(order);
    strata_metadata_free(gone);
}

static void drop_changed_indexes_and_constraints(differ *df)
{
    strata_metadata *st = df->state;
    for (int i = 0; i < st->ntables && df->rc == STRATA_OK; i++) {
        strata_table *t = st->tables[i];
        const strata_table *tt = strata_metadata_find_table(df->to, t->name);
        if (!tt)
            continue;
        for (int x = 0; x < t->nidx && df->rc == STRATA_OK; x++) {
            const strata__index *o = strata__table_find_index(tt, t->idx[x]->name);
            if (!o || !index_equal(t->idx[x], o))
                emit_index(df, t->name, t->idx[x--], false);
        }
        for (int c = 0; c < t->ncons && df->rc == STRATA_OK; c++)
            if (t->cons[c]->kind != CONS_FK && cons_changed(t->cons[c], tt))
                emit_cons(df, t->name, t->cons[c--], false);
    }
}

/* New tables in foreign-key order.  A foreign key to a new table created
 * later (a cycle) is left out of CREATE TABLE; the last phase adds it. */
static void create_tables(differ *df)
{
    const strata_metadata *to = df->to;
    int *order = strata__md_sorted(to);
    if (!order) {
        df->rc = STRATA_E_NOMEM;
        return;
    }
    for (int k = 0; k < to->ntables && df->rc == STRATA_OK; k++) {
        const strata_table *t = to->tables[order[k]];
        if (strata_metadata_find_table(df->state, t->name))
            continue;
        strata_table *copy = strata__table_copy(t);
        if (!copy) {
            df->rc = STRATA_E_NOMEM;
            break;
        }
        for (int c = 0; c < copy->ncons; c++) {
            const strata__cons *fk = copy->cons[c];
            if (fk->kind != CONS_FK || strcmp(fk->ref_table, t->name) == 0)
                continue;
            bool later = false;
            for (int j = k + 1; j < to->ntables; j++)
                later = later || (strcmp(to->tables[order[j]]->name, fk->ref_table) == 0 &&
                                  !strata_metadata_find_table(df->state, fk->ref_table));
            if (later)
                strata__table_remove_cons(copy, fk->name), c--;
        }
        emit_table(df, STRATA_OP_CREATE_TABLE, copy);
        strata__table_free(copy);
    }
    free(order);
}

static void alter_columns(differ *df)
{
    const strata_metadata *to = df->to;
    for (int i = 0; i < to->ntables && df->rc == STRATA_OK; i++) {
        const strata_table *tt = to->tables[i];
        strata_table *t = strata_metadata_find_table(df->state, tt->name);
        if (!t)
            continue;
        int first_added = -1;
        for (int c = 0; c < tt->ncols && df->rc == STRATA_OK; c++) {
            int j = strata__table_find_column_index(t, tt->cols[c]->name);
            if (j < 0) {
                emit_column(df, STRATA_OP_ADD_COLUMN, tt->name, tt->cols[c], NULL);
                if (first_added < 0)
                    first_added = c;
            } else if (!columns_equal(df, t->cols[j], tt->cols[c])) {
                emit_column(df, STRATA_OP_ALTER_COLUMN, tt->name, tt->cols[c], t->cols[j]);
            }
        }
        for (int c = 0; c < t->ncols && df->rc == STRATA_OK; c++) {
            const strata_column *old = t->cols[c];
            if (strata__table_find_column_index(tt, old->name) >= 0)
                continue;
            /* A dropped column with the type of an added one may be a rename. */
            for (int a = 0; a < tt->ncols && first_added >= 0; a++) {
                const strata_column *added = tt->cols[a];
                bool is_new = false;
                for (int k = 0; k < df->d->nops; k++) {
                    const strata__op *op = &df->d->ops[k];
                    is_new = is_new || (op->kind == STRATA_OP_ADD_COLUMN &&
                                        strcmp(op->table, tt->name) == 0 &&
                                        strcmp(op->col->name, added->name) == 0);
                }
                if (is_new && strata__type_equal(&added->type, &old->type)) {
                    strata__sb ty;
                    strata__sb_init(&ty);
                    strata__type_print(&ty, &old->type);
                    warn(df,
                         "table %s: column %s is dropped and column %s of the same type (%s) is "
                         "added; if this is a rename, change the two operations into one "
                         "rename, or the data in %s is lost",
                         tt->name, old->name, added->name, ty.data ? ty.data : "?", old->name);
                    strata__sb_free(&ty);
                }
            }
            emit_column(df, STRATA_OP_DROP_COLUMN, tt->name, old, NULL);
            c--;
        }
    }
}

static void add_indexes_and_constraints(differ *df, bool fks)
{
    const strata_metadata *to = df->to;
    for (int i = 0; i < to->ntables && df->rc == STRATA_OK; i++) {
        const strata_table *tt = to->tables[i];
        strata_table *t = strata_metadata_find_table(df->state, tt->name);
        if (!t)
            continue;
        if (!fks) {
            for (int x = 0; x < tt->nidx && df->rc == STRATA_OK; x++)
                if (!strata__table_find_index(t, tt->idx[x]->name))
                    emit_index(df, tt->name, tt->idx[x], true);
        }
        for (int c = 0; c < tt->ncons && df->rc == STRATA_OK; c++)
            if ((tt->cons[c]->kind == CONS_FK) == fks &&
                !strata__table_find_cons(t, tt->cons[c]->name))
                emit_cons(df, tt->name, tt->cons[c], true);
    }
}

static void check_primary_keys(differ *df)
{
    const strata_metadata *to = df->to;
    for (int i = 0; i < to->ntables && df->rc == STRATA_OK; i++) {
        const strata_table *tt = to->tables[i];
        const strata_table *t = strata_metadata_find_table(df->d->from, tt->name);
        if (!t)
            continue;
        bool same = (!t->pk && !tt->pk) ||
                    (t->pk && tt->pk && strata__names_equal(&t->pk->cols, &tt->pk->cols) &&
                     strcmp(t->pk->name, tt->pk->name) == 0);
        if (!same)
            warn(df,
                 "table %s: the primary key differs; strata does not change a primary key, "
                 "write that step by hand",
                 tt->name);
        for (int c = 0; same && c < tt->ncols; c++) {
            int k = strata__table_find_column_index(t, tt->cols[c]->name);
            if (k >= 0 && t->cols[k]->autoincrement != tt->cols[c]->autoincrement)
                warn(df,
                     "table %s: column %s is numbered by the database (autoincrement) in the "
                     "%s only; strata does not change that, write that step by hand",
                     tt->name, tt->cols[c]->name,
                     tt->cols[c]->autoincrement ? "models" : "database");
        }
    }
}

int strata_schema_diff(strata_diff **out, const strata_metadata *from, const strata_metadata *to,
                       const strata_driver *dialect)
{
    /* An engine whose own collation is bytewise has one collation only. */
    const strata__dialect *dl = dialect ? strata__dialect_of(dialect) : NULL;
    return strata__schema_diff(out, from, to, dialect, !dl || dl->binary_collation);
}

int strata__schema_diff(strata_diff **out, const strata_metadata *from, const strata_metadata *to,
                        const strata_driver *dialect, bool collations)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!from || !to)
        return STRATA_E_MISUSE;
    differ df = {.to = to,
                 .dialect = dialect ? strata__dialect_of(dialect) : NULL,
                 .collations = collations};
    if (!(df.d = strata__diff_new()))
        return STRATA_E_NOMEM;
    df.rc = strata_metadata_copy(&df.d->from, from);
    if (df.rc == STRATA_OK)
        df.rc = strata_metadata_copy(&df.d->to, to);
    if (df.rc == STRATA_OK)
        df.rc = strata_metadata_copy(&df.state, from);
    if (df.rc == STRATA_OK) {
        check_primary_keys(&df);
        drop_changed_fks(&df);
        drop_tables(&df);
        drop_changed_indexes_and_constraints(&df);
        create_tables(&df);
        alter_columns(&df);
        add_indexes_and_constraints(&df, false);
        /* Foreign keys last: those of existing tables, then the ones a
         * cycle kept out of CREATE TABLE. */
        add_indexes_and_constraints(&df, true);
    }
    int rc = df.rc;
    if (rc != STRATA_OK && df.state && df.state->errmsg)
        rc = STRATA_E_SCHEMA; /* the inputs are inconsistent */
    strata_metadata_free(df.state);
    if (rc != STRATA_OK) {
        strata_diff_free(df.d);
        return rc;
    }
    *out = df.d;
    return STRATA_OK;
}
