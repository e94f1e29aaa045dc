/*
 * diff.c - schema operations and the diff that produces them.
 *
 * An operation (strata__op) is one change with everything needed to undo
 * it: a dropped table or column keeps its whole definition, an altered
 * column keeps both versions.  The diff walks the two schemas in a fixed
 * sequence of phases (drop foreign keys, drop indexes and constraints,
 * drop tables, create tables, columns, add indexes and constraints, add
 * foreign keys), applying each operation to a working copy of `from` as it
 * goes, so every table definition an operation carries is exactly the
 * state at that point, and the working copy ends equal to `to`.
 *
 * Layout: operations (clear, describe, invert, apply to metadata), the
 * public diff object, the comparison, the phases, strata_schema_diff().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_internal.h"

/* ---- operations -------------------------------------------------------- */

void strata__op_clear(strata__op *op)
{
    free(op->table);
    strata__table_free(op->tdef);
    strata__column_free(op->col);
    strata__column_free(op->old_col);
    strata__index_free(op->index);
    strata__cons_free(op->cons);
    free(op->new_name);
    for (int i = 0; i < op->nsql; i++) {
        free(op->sql[i].dialect);
        free(op->sql[i].text);
    }
    free(op->sql);
    free(op->text);
    memset(op, 0, sizeof *op);
}

const char *strata__op_sql_for(const strata__op *op, const char *dialect)
{
    const char *any = NULL;
    for (int i = 0; i < op->nsql; i++) {
        if (!op->sql[i].dialect)
            any = op->sql[i].text;
        else if (dialect && strcmp(op->sql[i].dialect, dialect) == 0)
            return op->sql[i].text;
    }
    return any;
}

bool strata__column_same_definition(const strata_column *a, const strata_column *b)
{
    return strata__type_equal(&a->type, &b->type) && a->nullable == b->nullable &&
           a->autoincrement == b->autoincrement && a->def == b->def &&
           (a->def == DEF_NONE || strcmp(a->def_text, b->def_text) == 0);
}

static bool op_is_add(strata_op_kind k)
{
    return k == STRATA_OP_CREATE_TABLE || k == STRATA_OP_ADD_COLUMN ||
           k == STRATA_OP_CREATE_INDEX || k == STRATA_OP_ADD_UNIQUE ||
           k == STRATA_OP_ADD_FOREIGN_KEY || k == STRATA_OP_ADD_CHECK;
}

static void describe_alter(strata__sb *sb, const strata_column *a, const strata_column *b)
{
    const char *sep = " ";
    if (!strata__type_equal(&a->type, &b->type)) {
        strata__sb_puts(sb, sep);
        strata__type_print(sb, &a->type);
        strata__sb_puts(sb, " -> ");
        strata__type_print(sb, &b->type);
        sep = ", ";
    }
    if (a->nullable != b->nullable) {
        strata__sb_printf(sb, "%s%s -> %s", sep, a->nullable ? "null" : "not null",
                          b->nullable ? "null" : "not null");
        sep = ", ";
    }
    if (a->autoincrement != b->autoincrement) {
        strata__sb_printf(sb, "%s%sautoincrement", sep, b->autoincrement ? "" : "no ");
        sep = ", ";
    }
    const char *da = a->def_portable ? a->def_portable : "none";
    const char *db = b->def_portable ? b->def_portable : "none";
    if (strcmp(da, db) != 0)
        strata__sb_printf(sb, "%sdefault %s -> %s", sep, da, db);
}

void strata__op_describe(strata__sb *sb, const strata__op *op)
{
    switch (op->kind) {
    case STRATA_OP_CREATE_TABLE:
    case STRATA_OP_DROP_TABLE:
        strata__sb_printf(sb, "%s table %s", op->kind == STRATA_OP_CREATE_TABLE ? "create" : "drop",
                          op->table);
        return;
    case STRATA_OP_ADD_COLUMN:
        strata__sb_printf(sb, "add column %s.%s ", op->table, op->col->name);
        strata__type_print(sb, &op->col->type);
        strata__sb_puts(sb, op->col->nullable ? " null" : " not null");
        if (op->col->def_portable)
            strata__sb_printf(sb, " default %s", op->col->def_portable);
        return;
    case STRATA_OP_DROP_COLUMN:
        strata__sb_printf(sb, "drop column %s.%s", op->table, op->col->name);
        return;
    case STRATA_OP_ALTER_COLUMN:
        strata__sb_printf(sb, "alter column %s.%s:", op->table, op->old_col->name);
        if (strcmp(op->old_col->name, op->col->name) != 0)
            strata__sb_printf(sb, " rename to %s%s", op->col->name,
                              strata__column_same_definition(op->old_col, op->col) ? "" : ",");
        describe_alter(sb, op->old_col, op->col);
        return;
    case STRATA_OP_RENAME_TABLE:
        strata__sb_printf(sb, "rename table %s to %s", op->table, op->new_name);
        return;
    case STRATA_OP_SQL: {
        const char *t = op->nsql ? op->sql[0].text : "";
        strata__sb_printf(sb, "sql %.60s%s", t, strlen(t) > 60 ? "..." : "");
        return;
    }
    case STRATA_OP_CREATE_INDEX:
    case STRATA_OP_DROP_INDEX:
        strata__sb_printf(sb, "%s %sindex %s on %s ",
                          op->kind == STRATA_OP_CREATE_INDEX ? "create" : "drop",
                          op->index->unique ? "unique " : "", op->index->name, op->table);
        strata__names_print(sb, &op->index->cols);
        return;
    default: break;
    }
    strata__sb_puts(sb, op_is_add(op->kind) ? "add " : "drop ");
    strata__cons_describe(sb, op->cons);
    strata__sb_printf(sb, " on %s", op->table);
}

static strata_op_kind inverse_kind(strata_op_kind k)
{
    switch (k) {
    case STRATA_OP_CREATE_TABLE: return STRATA_OP_DROP_TABLE;
    case STRATA_OP_DROP_TABLE: return STRATA_OP_CREATE_TABLE;
    case STRATA_OP_ADD_COLUMN: return STRATA_OP_DROP_COLUMN;
    case STRATA_OP_DROP_COLUMN: return STRATA_OP_ADD_COLUMN;
    case STRATA_OP_ALTER_COLUMN: return STRATA_OP_ALTER_COLUMN;
    case STRATA_OP_CREATE_INDEX: return STRATA_OP_DROP_INDEX;
    case STRATA_OP_DROP_INDEX: return STRATA_OP_CREATE_INDEX;
    case STRATA_OP_ADD_UNIQUE: return STRATA_OP_DROP_UNIQUE;
    case STRATA_OP_DROP_UNIQUE: return STRATA_OP_ADD_UNIQUE;
    case STRATA_OP_ADD_FOREIGN_KEY: return STRATA_OP_DROP_FOREIGN_KEY;
    case STRATA_OP_DROP_FOREIGN_KEY: return STRATA_OP_ADD_FOREIGN_KEY;
    case STRATA_OP_ADD_CHECK: return STRATA_OP_DROP_CHECK;
    case STRATA_OP_DROP_CHECK: return STRATA_OP_ADD_CHECK;
    case STRATA_OP_RENAME_TABLE: return STRATA_OP_RENAME_TABLE;
    case STRATA_OP_SQL: return STRATA_OP_SQL;
    }
    return k;
}

/* Deep copy of an operation, optionally swapping it into its inverse. */
static int op_copy(strata__op *out, const strata__op *op, bool invert)
{
    memset(out, 0, sizeof *out);
    if (invert && op->kind == STRATA_OP_SQL)
        return STRATA_E_UNSUPPORTED;
    out->kind = invert ? inverse_kind(op->kind) : op->kind;
    bool renames = invert && op->kind == STRATA_OP_RENAME_TABLE;
    const char *table = renames ? op->new_name : op->table;
    const char *new_name = renames ? op->table : op->new_name;
    bool ok = !table || (out->table = strata__strdup(table)) != NULL;
    if (ok && new_name)
        ok = (out->new_name = strata__strdup(new_name)) != NULL;
    if (ok && op->nsql)
        ok = (out->sql = calloc((size_t)op->nsql, sizeof *out->sql)) != NULL;
    for (int i = 0; ok && i < op->nsql; i++) {
        out->nsql++;
        ok = (!op->sql[i].dialect ||
              (out->sql[i].dialect = strata__strdup(op->sql[i].dialect)) != NULL) &&
             (out->sql[i].text = strata__strdup(op->sql[i].text)) != NULL;
    }
    if (ok && op->tdef)
        ok = (out->tdef = strata__table_copy(op->tdef)) != NULL;
    const strata_column *col = invert && op->old_col ? op->old_col : op->col;
    const strata_column *old = invert && op->old_col ? op->col : op->old_col;
    if (ok && col)
        ok = (out->col = strata__column_copy(col)) != NULL;
    if (ok && old)
        ok = (out->old_col = strata__column_copy(old)) != NULL;
    if (ok && op->index)
        ok = (out->index = strata__index_copy(op->index)) != NULL;
    if (ok && op->cons)
        ok = (out->cons = strata__cons_copy(op->cons)) != NULL;
    if (!ok) {
        strata__op_clear(out);
        return STRATA_E_NOMEM;
    }
    return STRATA_OK;
}

int strata__op_invert(strata__op *out, const strata__op *op) { return op_copy(out, op, true); }
int strata__op_copy(strata__op *out, const strata__op *op) { return op_copy(out, op, false); }

/* A column renamed: in the table's key, indexes and constraints, and in
 * the foreign keys of tables that refer to it. */
static int rename_column_refs(strata_metadata *md, strata_table *t, const char *from,
                              const char *to)
{
    strata__names *lists[3 + 64];
    int n = 0;
    if (t->pk)
        lists[n++] = &t->pk->cols;
    for (int i = 0; i < t->nidx && n < 64; i++)
        lists[n++] = &t->idx[i]->cols;
    for (int i = 0; i < t->ncons && n < 64; i++)
        lists[n++] = &t->cons[i]->cols;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < lists[k]->n; i++)
            if (strcmp(lists[k]->v[i], from) == 0) {
                char *c = strata__strdup(to);
                if (!c)
                    return STRATA_E_NOMEM;
                free(lists[k]->v[i]);
                lists[k]->v[i] = c;
            }
    for (int j = 0; j < md->ntables; j++)
        for (int i = 0; i < md->tables[j]->ncons; i++) {
            strata__cons *c = md->tables[j]->cons[i];
            if (c->kind != CONS_FK || strcmp(c->ref_table, t->name) != 0)
                continue;
            for (int k = 0; k < c->ref_cols.n; k++)
                if (strcmp(c->ref_cols.v[k], from) == 0) {
                    char *r = strata__strdup(to);
                    if (!r)
                        return STRATA_E_NOMEM;
                    free(c->ref_cols.v[k]);
                    c->ref_cols.v[k] = r;
                }
        }
    return STRATA_OK;
}

static int rename_table(strata_metadata *md, strata_table *t, const char *to)
{
    if (strata_metadata_find_table(md, to))
        return strata__md_error(md, STRATA_E_EXISTS, "table %s already exists", to);
    char *name = strata__strdup(to);
    if (!name)
        return STRATA_E_NOMEM;
    for (int j = 0; j < md->ntables; j++)
        for (int i = 0; i < md->tables[j]->ncons; i++) {
            strata__cons *c = md->tables[j]->cons[i];
            if (c->kind == CONS_FK && strcmp(c->ref_table, t->name) == 0) {
                char *r = strata__strdup(to);
                if (!r) {
                    free(name);
                    return STRATA_E_NOMEM;
                }
                free(c->ref_table);
                c->ref_table = r;
            }
        }
    free(t->name);
    t->name = name;
    return STRATA_OK;
}

static strata_table *state_table(strata_metadata *md, const strata__op *op, int *rc)
{
    strata_table *t = strata_metadata_find_table(md, op->table);
    if (!t)
        *rc = strata__md_error(md, STRATA_E_SCHEMA, "table %s does not exist", op->table);
    return t;
}

int strata__op_apply_md(strata_metadata *md, const strata__op *op)
{
    int rc = STRATA_OK;
    strata_table *t = NULL;
    if (op->kind == STRATA_OP_SQL)
        return STRATA_OK; /* what it does to the schema is not known */
    if (op->kind != STRATA_OP_CREATE_TABLE && !(t = state_table(md, op, &rc)))
        return rc;
    switch (op->kind) {
    case STRATA_OP_CREATE_TABLE: {
        if (strata_metadata_find_table(md, op->table))
            return strata__md_error(md, STRATA_E_EXISTS, "table %s already exists", op->table);
        strata_table *n = strata__table_copy(op->tdef);
        if (!n || !strata__md_push_table(md, n)) {
            strata__table_free(n);
            return STRATA_E_NOMEM;
        }
        return STRATA_OK;
    }
    case STRATA_OP_DROP_TABLE: strata__md_remove_table(md, op->table); return STRATA_OK;
    case STRATA_OP_ADD_COLUMN: {
        if (strata__table_find_column_index(t, op->col->name) >= 0)
            return strata__md_error(md, STRATA_E_EXISTS, "column %s.%s already exists", t->name,
                                    op->col->name);
        strata_column *c = strata__column_copy(op->col);
        if (!c || !strata__table_push_column(t, c)) {
            strata__column_free(c);
            return STRATA_E_NOMEM;
        }
        return STRATA_OK;
    }
    case STRATA_OP_DROP_COLUMN:
    case STRATA_OP_ALTER_COLUMN: {
        const char *name = op->old_col ? op->old_col->name : op->col->name;
        int i = strata__table_find_column_index(t, name);
        if (i < 0)
            return strata__md_error(md, STRATA_E_SCHEMA, "column %s.%s does not exist", t->name,
                                    name);
        if (op->kind == STRATA_OP_DROP_COLUMN) {
            strata__table_remove_column(t, name);
            return STRATA_OK;
        }
        if (strcmp(name, op->col->name) != 0) {
            if (strata__table_find_column_index(t, op->col->name) >= 0)
                return strata__md_error(md, STRATA_E_EXISTS, "column %s.%s already exists",
                                        t->name, op->col->name);
            if ((rc = rename_column_refs(md, t, name, op->col->name)) != STRATA_OK)
                return rc;
        }
        strata_column *c = strata__column_copy(op->col);
        if (!c)
            return STRATA_E_NOMEM;
        c->table = t;
        strata__column_free(t->cols[i]);
        t->cols[i] = c;
        return STRATA_OK;
    }
    case STRATA_OP_RENAME_TABLE: return rename_table(md, t, op->new_name);
    case STRATA_OP_SQL: return STRATA_OK;
    case STRATA_OP_CREATE_INDEX: {
        strata__index *ix = strata__index_copy(op->index);
        if (!ix || !strata__table_push_index(t, ix)) {
            strata__index_free(ix);
            return STRATA_E_NOMEM;
        }
        return STRATA_OK;
    }
    case STRATA_OP_DROP_INDEX: strata__table_remove_index(t, op->index->name); return STRATA_OK;
    case STRATA_OP_ADD_UNIQUE:
    case STRATA_OP_ADD_FOREIGN_KEY:
    case STRATA_OP_ADD_CHECK: {
        strata__cons *c = strata__cons_copy(op->cons);
        if (!c || !strata__table_push_cons(t, c)) {
            strata__cons_free(c);
            return STRATA_E_NOMEM;
        }
        return STRATA_OK;
    }
    case STRATA_OP_DROP_UNIQUE:
    case STRATA_OP_DROP_FOREIGN_KEY:
    case STRATA_OP_DROP_CHECK: strata__table_remove_cons(t, op->cons->name); return STRATA_OK;
    }
    return STRATA_E_MISUSE;
}

/* ---- the diff object --------------------------------------------------- */

strata_diff *strata__diff_new(void) { return calloc(1, sizeof(strata_diff)); }

bool strata__diff_push(strata_diff *d, strata__op *op)
{
    if (d->nops == d->capops) {
        int cap = d->capops ? d->capops * 2 : 16;
        strata__op *n = realloc(d->ops, (size_t)cap * sizeof *n);
        if (!n)
            return false;
        d->ops = n;
        d->capops = cap;
    }
    d->ops[d->nops++] = *op;
    memset(op, 0, sizeof *op);
    return true;
}

void strata_diff_free(strata_diff *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->nops; i++)
        strata__op_clear(&d->ops[i]);
    free(d->ops);
    for (int i = 0; i < d->nwarnings; i++)
        free(d->warnings[i]);
    free(d->warnings);
    strata_metadata_free(d->from);
    strata_metadata_free(d->to);
    free(d);
}

int strata_diff_count(const strata_diff *d) { return d ? d->nops : 0; }

strata_op_kind strata_diff_op_kind(const strata_diff *d, int i)
{
    return d && i >= 0 && i < d->nops ? d->ops[i].kind : 0;
}

const char *strata_diff_op_table(const strata_diff *d, int i)
{
    return d && i >= 0 && i < d->nops ? d->ops[i].table : NULL;
}

const char *strata_diff_op_describe(const strata_diff *d, int i)
{
    if (!d || i < 0 || i >= d->nops)
        return NULL;
    strata__op *op = &d->ops[i];
    if (!op->text) {
        strata__sb sb;
        strata__sb_init(&sb);
        strata__op_describe(&sb, op);
        op->text = strata__sb_take(&sb);
    }
    return op->text ? op->text : "";
}

int strata_diff_warning_count(const strata_diff *d) { return d ? d->nwarnings : 0; }

const char *strata_diff_warning(const strata_diff *d, int i)
{
    return d && i >= 0 && i < d->nwarnings ? d->warnings[i] : NULL;
}

const strata_metadata *strata_diff_from(const strata_diff *d) { return d ? d->from : NULL; }
const strata_metadata *strata_diff_to(const strata_diff *d) { return d ? d->to : NULL; }

int strata_diff_invert(strata_diff **out, const strata_diff *d)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!d)
        return STRATA_E_MISUSE;
    strata_diff *r = strata__diff_new();
    if (!r)
        return STRATA_E_NOMEM;
    int rc = strata_metadata_copy(&r->from, d->to);
    if (rc == STRATA_OK)
        rc = strata_metadata_copy(&r->to, d->from);
    for (int i = d->nops - 1; rc == STRATA_OK && i >= 0; i--) {
        strata__op op;
        rc = strata__op_invert(&op, &d->ops[i]);
        if (rc == STRATA_OK && !strata__diff_push(r, &op)) {
            strata__op_clear(&op);
            rc = STRATA_E_NOMEM;
        }
    }
    if (rc != STRATA_OK) {
        strata_diff_free(r);
        return rc;
    }
    *out = r;
    return STRATA_OK;
}

/* ---- comparison -------------------------------------------------------- */

typedef struct differ {
    strata_diff *d;
    strata_metadata *state; /* `from` with the operations so far applied */
    const strata_metadata *to;
    const strata__dialect *dialect;
    int rc;
} differ;

static bool columns_equal(const differ *df, const strata_column *a, const strata_column *b)
{
    bool same_type = df->dialect && df->dialect->same_type ? df->dialect->same_type(a, b)
                                                           : strata__type_equal(&a->type, &b->type);
    if (!same_type || a->nullable != b->nullable || a->autoincrement != b->autoincrement)
        return false;
    if (a->def == DEF_SQL && b->def == DEF_SQL)
        return true; /* engines rewrite expressions: not compared */
    return a->def == b->def && (a->def == DEF_NONE || strcmp(a->def_text, b->def_text) == 0);
}

static bool index_equal(const strata__index *a, const strata__index *b)
{
    return a->unique == b->unique && strata__names_equal(&a->cols, &b->cols);
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
 * op_copy only reads them) and apply it to the working state.  The copy is
 * made first: the parts may belong to the state the operation changes. */
static void emit(differ *df, const strata__op *borrowed)
{
    strata__op op;
    if (df->rc != STRATA_OK || (df->rc = op_copy(&op, borrowed, false)) != STRATA_OK)
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
    }
}

int strata_schema_diff(strata_diff **out, const strata_metadata *from, const strata_metadata *to,
                       const strata_driver *dialect)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!from || !to)
        return STRATA_E_MISUSE;
    differ df = {.to = to, .dialect = dialect ? strata__dialect_of(dialect) : NULL};
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
