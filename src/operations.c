/*
 * operations.c - schema operations and the diff object that holds them.
 *
 * An operation (strata__op) is one change with everything needed to undo
 * it: a dropped table or column keeps its whole definition, an altered
 * column keeps both versions.  The compare algorithm that produces them is
 * diff.c.
 *
 * Layout: operations (clear, describe, invert, apply to metadata), the
 * public diff object.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
           a->autoincrement == b->autoincrement && a->collation == b->collation &&
           strata__defaults_equal(a, b);
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
    if (strcmp(da, db) != 0) {
        strata__sb_printf(sb, "%sdefault %s -> %s", sep, da, db);
        sep = ", ";
    }
    if (a->collation != b->collation)
        strata__sb_printf(sb, "%scollation %s -> %s", sep, strata__collation_name(a->collation),
                          strata__collation_name(b->collation));
}

void strata__sql_describe(strata__sb *sb, const char *sql)
{
    /* Redacted whole, then cut: a cut password literal would not be seen. */
    strata__sb red;
    strata__sb_init(&red);
    strata__put_redacted_sql(&red, sql);
    char *t = red.failed || !red.data ? "" : red.data;
    /* One line: each run of white space (line ends included) one space,
     * none at the end. */
    size_t n = 0;
    for (const char *p = t; *p; p++) {
        bool space = isspace((unsigned char)*p);
        if (space && (n == 0 || t[n - 1] == ' '))
            continue;
        t[n++] = space ? ' ' : *p;
    }
    while (n > 0 && t[n - 1] == ' ')
        n--;
    if (*t)
        t[n] = '\0';
    strata__sb_printf(sb, "sql %.60s%s", t, strlen(t) > 60 ? "..." : "");
    strata__sb_free(&red);
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
        if (op->col->collation != COLL_BINARY)
            strata__sb_printf(sb, " collation %s", strata__collation_name(op->col->collation));
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
    case STRATA_OP_SQL: strata__sql_describe(sb, op->nsql ? op->sql[0].text : ""); return;
    case STRATA_OP_CREATE_INDEX:
    case STRATA_OP_DROP_INDEX:
        strata__sb_printf(sb, "%s %sindex %s on %s ",
                          op->kind == STRATA_OP_CREATE_INDEX ? "create" : "drop",
                          op->index->unique ? "unique " : "", op->index->name, op->table);
        strata__names_print(sb, &op->index->cols);
        if (op->index->where)
            strata__sb_printf(sb, " where %s", op->index->where);
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

/* The next token at or after p in SQL text (a check, a partial index's
 * condition) that names column `name`: a name token that is `name`
 * (unquoted: case aside), not a word inside a string or comment, not a
 * function's name (a '(' follows) nor a type's (after :: or AS).  NULL
 * when there is none, or no memory (*nomem). */
static const char *next_column_ref(const char *sql, const char *p, const char *name, size_t *len,
                                   bool *nomem)
{
    bool type_next = false; /* the last token was :: or AS */
    for (; *p;) {
        strata__token t;
        strata__sql_token_at(sql, p, 0, &t);
        bool hit = false;
        if (t.kind == STRATA__TOK_WORD && !type_next) {
            hit = t.len == strlen(name) && strncasecmp(p, name, t.len) == 0;
        } else if (t.kind == STRATA__TOK_QUOTED && !t.unterminated && !type_next) {
            char *unq = strata__sql_unquote(p, t.len);
            if (!unq) {
                *nomem = true;
                return NULL;
            }
            hit = strcmp(unq, name) == 0;
            free(unq);
        }
        if (hit) {
            const char *after = p + t.len;
            while (isspace((unsigned char)*after))
                after++;
            if (*after != '(') {
                *len = t.len;
                return p;
            }
        }
        if (t.kind != STRATA__TOK_SPACE && t.kind != STRATA__TOK_COMMENT)
            type_next = (t.kind == STRATA__TOK_WORD && t.len == 2 && !strncasecmp(p, "as", 2)) ||
                        (t.kind == STRATA__TOK_OTHER && *p == ':' && p > sql && p[-1] == ':');
        p += t.len;
    }
    return NULL;
}

/* *sql with column `from` named `to` wherever it names it. */
static int rename_in_sql(char **sql, const char *from, const char *to)
{
    if (!*sql)
        return STRATA_OK;
    strata__sb sb;
    strata__sb_init(&sb);
    bool nomem = false, changed = false;
    const char *p = *sql, *hit;
    size_t len;
    while ((hit = next_column_ref(*sql, p, from, &len, &nomem)) != NULL) {
        strata__sb_putn(&sb, p, (size_t)(hit - p));
        strata__sb_putc(&sb, '"');
        for (const char *c = to; *c; c++) {
            if (*c == '"')
                strata__sb_putc(&sb, '"');
            strata__sb_putc(&sb, *c);
        }
        strata__sb_putc(&sb, '"');
        p = hit + len;
        changed = true;
    }
    if (nomem || !changed) {
        strata__sb_free(&sb);
        return nomem ? STRATA_E_NOMEM : STRATA_OK;
    }
    strata__sb_puts(&sb, p);
    char *out = strata__sb_take(&sb);
    if (!out)
        return STRATA_E_NOMEM;
    free(*sql);
    *sql = out;
    return STRATA_OK;
}

/* A column renamed: in the table's key, indexes and constraints (the
 * text of its checks and partial indexes' conditions too), and in the
 * foreign keys of tables that refer to it. */
static int rename_column_refs(strata_metadata *md, strata_table *t, const char *from,
                              const char *to)
{
    for (int i = 0; i < t->ncons; i++)
        if (t->cons[i]->kind == CONS_CHECK && rename_in_sql(&t->cons[i]->sql, from, to))
            return STRATA_E_NOMEM;
    for (int i = 0; i < t->nidx; i++)
        if (rename_in_sql(&t->idx[i]->where, from, to))
            return STRATA_E_NOMEM;
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

bool strata__text_names_column(const char *text, const char *name)
{
    bool nomem = false;
    size_t len;
    return text && (next_column_ref(text, text, name, &len, &nomem) || nomem);
}

static bool lists_column(const strata__names *cols, const char *name)
{
    for (int i = 0; i < cols->n; i++)
        if (strcmp(cols->v[i], name) == 0)
            return true;
    return false;
}

/* A dropped column takes with it the indexes, the unique and foreign
 * keys and the checks of its table that involve it, as PostgreSQL drops
 * them: a SQLite rebuild must not make them again on a column that is
 * gone. */
static void drop_column_dependents(strata_table *t, const char *name)
{
    for (int i = t->nidx - 1; i >= 0; i--)
        if (lists_column(&t->idx[i]->cols, name) ||
            strata__text_names_column(t->idx[i]->where, name))
            strata__table_remove_index(t, t->idx[i]->name);
    for (int i = t->ncons - 1; i >= 0; i--) {
        const strata__cons *c = t->cons[i];
        if (c->kind == CONS_PK)
            continue;
        if (lists_column(&c->cols, name) ||
            (c->kind == CONS_CHECK && strata__text_names_column(c->sql, name)))
            strata__table_remove_cons(t, c->name);
    }
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
            drop_column_dependents(t, name);
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
