/*
 * query.c - the query builder: conditions (a small tree owned by the
 * query), SQL generation with every value bound as a parameter and every
 * identifier quoted, execution into objects through the identity map,
 * count / exists / first / one / paginate, and eager loading.
 *
 * A condition on "relation.field" joins a many-to-one relationship; on a
 * collection (one-to-many, many-to-many) it becomes "key IN (subquery)", so
 * results are never duplicated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "orm_internal.h"

enum cond_kind { C_OP, C_IN, C_NOT_IN, C_BETWEEN, C_RAW, C_AND, C_OR, C_NOT };

struct strata_cond {
    enum cond_kind kind;
    char *field;
    strata_op op;
    strata_value *vals; /* text and blob memory owned (copied) */
    size_t n;
    char *sql; /* C_RAW */
    strata_cond *a, *b;
};

typedef struct order_item {
    char *field;
    strata_order order;
} order_item;

struct strata_query {
    strata_session *s;
    strata__minfo *mi;
    strata_cond **conds;
    int nconds;
    order_item *orders;
    int norders;
    int64_t limit, offset; /* -1: none */
    bool for_update;       /* lock the rows (strata_query_for_update) */
    unsigned lock_flags;   /* STRATA_LOCK_* */
    char **loads;
    int nloads;
    /* A query of values (strata_query_rows): what it selects, groups by,
     * and keeps of the groups. */
    char **columns;
    int ncolumns;
    char **groups;
    int ngroups;
    strata_cond **havings;
    int nhavings;
    bool distinct;
    int err; /* a construction error, reported at execution */
};

/* ---- conditions -------------------------------------------------------- */

/* A condition that could not be made for lack of memory comes back NULL,
 * as one made with a bad argument does, and strata_query_filter() must
 * tell the two apart: set here, read and cleared there. */
static _Thread_local bool cond_nomem;

void strata_cond_free(strata_cond *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        if (c->vals[i].type == STRATA_TYPE_TEXT || c->vals[i].type == STRATA_TYPE_BLOB)
            free((void *)c->vals[i].u.buf.ptr);
    free(c->vals);
    free(c->field);
    free(c->sql);
    strata_cond_free(c->a);
    strata_cond_free(c->b);
    free(c);
}

static strata_cond *cond_new(enum cond_kind kind, const char *field, const strata_value *vals,
                             size_t n)
{
    strata_cond *c = calloc(1, sizeof *c);
    if (!c) {
        cond_nomem = true;
        return NULL;
    }
    c->kind = kind;
    if (field && !(c->field = strata__strdup(field)))
        goto fail;
    if (n && !(c->vals = calloc(n, sizeof *c->vals)))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        c->vals[i] = vals[i];
        if (vals[i].type == STRATA_TYPE_TEXT || vals[i].type == STRATA_TYPE_BLOB) {
            char *copy = malloc(vals[i].u.buf.len + 1);
            if (!copy)
                goto fail;
            memcpy(copy, vals[i].u.buf.ptr, vals[i].u.buf.len);
            copy[vals[i].u.buf.len] = '\0';
            c->vals[i].u.buf.ptr = copy;
        }
        c->n = i + 1;
    }
    return c;
fail:
    cond_nomem = true;
    strata_cond_free(c);
    return NULL;
}

strata_cond *strata_c(const char *field, strata_op op, strata_value value)
{
    if (!field || op < STRATA_EQ || op > STRATA_IS_NOT_NULL)
        return NULL;
    bool novalue = op == STRATA_IS_NULL || op == STRATA_IS_NOT_NULL;
    strata_cond *c = cond_new(C_OP, field, &value, novalue ? 0 : 1);
    if (c)
        c->op = op;
    return c;
}

strata_cond *strata_c_in(const char *field, const strata_value *values, size_t n)
{
    return field && (values || !n) ? cond_new(C_IN, field, values, n) : NULL;
}

strata_cond *strata_c_not_in(const char *field, const strata_value *values, size_t n)
{
    return field && (values || !n) ? cond_new(C_NOT_IN, field, values, n) : NULL;
}

strata_cond *strata_c_between(const char *field, strata_value lo, strata_value hi)
{
    strata_value v[2] = {lo, hi};
    return field ? cond_new(C_BETWEEN, field, v, 2) : NULL;
}

strata_cond *strata_c_raw(const char *sql, const strata_value *values, size_t n)
{
    if (!sql || (n && !values))
        return NULL;
    strata_cond *c = cond_new(C_RAW, NULL, values, n);
    if (c && !(c->sql = strata__strdup(sql))) {
        cond_nomem = true;
        strata_cond_free(c);
        return NULL;
    }
    return c;
}

static strata_cond *combine(enum cond_kind kind, strata_cond *a, strata_cond *b)
{
    strata_cond *c = a && (b || kind == C_NOT) ? cond_new(kind, NULL, NULL, 0) : NULL;
    if (!c) {
        strata_cond_free(a);
        strata_cond_free(b);
        return NULL;
    }
    c->a = a;
    c->b = b;
    return c;
}

strata_cond *strata_and(strata_cond *a, strata_cond *b) { return combine(C_AND, a, b); }
strata_cond *strata_or(strata_cond *a, strata_cond *b) { return combine(C_OR, a, b); }
strata_cond *strata_not(strata_cond *a) { return combine(C_NOT, a, NULL); }

/* ---- building the query ------------------------------------------------ */

strata_query *strata_query_new(strata_session *s, const strata_model *model)
{
    if (!s || !model)
        return NULL;
    strata__minfo *mi = strata__minfo_get(s, model);
    strata_query *q = mi ? calloc(1, sizeof *q) : NULL;
    if (!q)
        return NULL;
    q->s = s;
    q->mi = mi;
    q->limit = q->offset = -1;
    return q;
}

void strata_query_free(strata_query *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->nconds; i++)
        strata_cond_free(q->conds[i]);
    free(q->conds);
    for (int i = 0; i < q->norders; i++)
        free(q->orders[i].field);
    free(q->orders);
    for (int i = 0; i < q->nloads; i++)
        free(q->loads[i]);
    free(q->loads);
    for (int i = 0; i < q->ncolumns; i++)
        free(q->columns[i]);
    free(q->columns);
    for (int i = 0; i < q->ngroups; i++)
        free(q->groups[i]);
    free(q->groups);
    for (int i = 0; i < q->nhavings; i++)
        strata_cond_free(q->havings[i]);
    free(q->havings);
    free(q);
}

int strata_query_filter(strata_query *q, strata_cond *c)
{
    if (!q) {
        strata_cond_free(c);
        return STRATA_E_MISUSE;
    }
    bool nomem = cond_nomem;
    cond_nomem = false;
    strata_cond **n = c ? realloc(q->conds, (size_t)(q->nconds + 1) * sizeof *n) : NULL;
    if (!n) {
        strata_cond_free(c);
        q->err = c || nomem ? STRATA_E_NOMEM : STRATA_E_MISUSE;
        return q->err;
    }
    q->conds = n;
    q->conds[q->nconds++] = c;
    return STRATA_OK;
}

int strata_query_filter_by(strata_query *q, const char *field, strata_value value)
{
    return strata_query_filter(q, strata_c(field, STRATA_EQ, value));
}

int strata_query_order_by(strata_query *q, const char *field, strata_order order)
{
    if (!q || !field)
        return STRATA_E_MISUSE;
    order_item *n = realloc(q->orders, (size_t)(q->norders + 1) * sizeof *n);
    char *copy = n ? strata__strdup(field) : NULL;
    if (n)
        q->orders = n;
    if (!copy)
        return q->err = STRATA_E_NOMEM;
    q->orders[q->norders].field = copy;
    q->orders[q->norders++].order = order;
    return STRATA_OK;
}

int strata_query_limit(strata_query *q, int64_t limit)
{
    if (!q || limit < 0)
        return STRATA_E_MISUSE;
    q->limit = limit;
    return STRATA_OK;
}

int strata_query_offset(strata_query *q, int64_t offset)
{
    if (!q || offset < 0)
        return STRATA_E_MISUSE;
    q->offset = offset;
    return STRATA_OK;
}

int strata_query_for_update(strata_query *q, unsigned flags)
{
    if (!q || (flags & ~(unsigned)(STRATA_LOCK_NOWAIT | STRATA_LOCK_SKIP_LOCKED)) ||
        flags == (STRATA_LOCK_NOWAIT | STRATA_LOCK_SKIP_LOCKED))
        return STRATA_E_MISUSE;
    if (q->s->read_only)
        return strata__session_error(q->s, STRATA_E_MISUSE,
                                     "a read-only session cannot lock rows for update");
    q->for_update = true;
    q->lock_flags = flags;
    return STRATA_OK;
}

int strata_get_for_update(strata_session *s, const strata_model *model, int64_t id,
                          unsigned flags, void *out)
{
    STRATA__CONFINE(s ? s->db : NULL, STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *(void **)out = NULL;
    if (!s || !model)
        return STRATA_E_MISUSE;
    strata_query *q = strata_query_new(s, model);
    if (!q)
        return strata_db_errcode(s->db) ? strata_db_errcode(s->db) : STRATA_E_NOMEM;
    int rc = STRATA_OK;
    if (q->mi->pk < 0)
        rc = strata__session_error(s, STRATA_E_MISUSE,
                                   "%s's primary key is not one integer field", model->name);
    if (rc == STRATA_OK)
        rc = strata_query_filter_by(q, model->fields[q->mi->pk].name, strata_int(id));
    if (rc == STRATA_OK)
        rc = strata_query_for_update(q, flags);
    if (rc == STRATA_OK)
        rc = strata_query_one_or_none(q, out);
    if (rc == STRATA_OK && !*(void **)out)
        rc = STRATA_E_NOT_FOUND;
    strata_query_free(q);
    return rc;
}

int strata_query_load(strata_query *q, const char *rel)
{
    if (!q || !rel)
        return STRATA_E_MISUSE;
    if (!strata__relation(q->mi, rel, NULL))
        return strata__session_error(q->s, STRATA_E_MISUSE, "%s has no relationship %s",
                                     q->mi->m->name, rel);
    char **n = realloc(q->loads, (size_t)(q->nloads + 1) * sizeof *n);
    char *copy = n ? strata__strdup(rel) : NULL;
    if (n)
        q->loads = n;
    if (!copy)
        return q->err = STRATA_E_NOMEM;
    q->loads[q->nloads++] = copy;
    return STRATA_OK;
}

/* ---- SQL --------------------------------------------------------------- */

typedef struct build {
    strata_query *q;
    strata__sb where;
    strata__sb joins;
    unsigned joined; /* bit per relationship joined */
    strata_value *params;
    size_t nparams, cap;
    int err;
} build;

static void param(build *b, const strata_value *v)
{
    if (b->nparams == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        strata_value *n = realloc(b->params, cap * sizeof *n);
        if (!n) {
            b->err = STRATA_E_NOMEM;
            return;
        }
        b->params = n;
        b->cap = cap;
    }
    b->params[b->nparams++] = *v;
}

static int field_error(build *b, const char *field)
{
    b->err = strata__session_error(b->q->s, STRATA_E_UNDEFINED_COLUMN,
                                   "%s has no field or relationship field '%s'", b->q->mi->m->name,
                                   field);
    return b->err;
}

/* Resolve a field of the query's model ("name") or through a many-to-one
 * relationship ("author.name", joined); writes the qualified column.  A
 * collection relationship sets *coll and the target info instead. */
static int resolve(build *b, const char *field, strata__sb *out, const strata_relation **coll);

/* The portable type of a field of the model, or through a many-to-one
 * relationship ("author.id"). */
static strata_sqltype field_kind(build *b, const char *field)
{
    strata__minfo *mi = b->q->mi;
    const char *dot = strchr(field, '.');
    if (dot) {
        char relname[64];
        snprintf(relname, sizeof relname, "%.*s", (int)(dot - field), field);
        const strata_relation *r = strata__relation(mi, relname, NULL);
        mi = r ? strata__minfo_get(b->q->s, r->target) : NULL;
        field = dot + 1;
    }
    int f = mi ? strata__field_index(mi, field) : -1;
    return f >= 0 ? mi->kind[f] : STRATA_SQL_RAW;
}

/* An aggregate, "count(*)" or "sum(field)": the SQL both engines answer
 * with the same type (avg a double, sum of integers a bigint).  Returns
 * 0 when `expr` is no aggregate, else STRATA_OK or the error set. */
static int resolve_aggregate(build *b, const char *expr, strata__sb *out)
{
    static const char *const aggs[] = {"count", "sum", "avg", "min", "max"};
    const char *open = strchr(expr, '(');
    size_t len = strlen(expr);
    if (!open || len < 3 || expr[len - 1] != ')')
        return -1;
    size_t nlen = (size_t)(open - expr);
    int which = -1;
    for (int i = 0; i < 5 && which < 0; i++)
        if (strlen(aggs[i]) == nlen && !strncasecmp(expr, aggs[i], nlen))
            which = i;
    char arg[128];
    size_t alen = len - nlen - 2;
    const char *a = open + 1;
    while (alen && *a == ' ') {
        a++;
        alen--;
    }
    while (alen && a[alen - 1] == ' ')
        alen--;
    if (which < 0 || alen == 0 || alen >= sizeof arg)
        return field_error(b, expr);
    memcpy(arg, a, alen);
    arg[alen] = '\0';
    if (!strcmp(arg, "*")) {
        if (which != 0)
            return field_error(b, expr);
        strata__sb_puts(out, "count(*)");
        return STRATA_OK;
    }
    strata__sb col;
    strata__sb_init(&col);
    const strata_relation *coll;
    int rc = resolve(b, arg, &col, &coll);
    if (rc == STRATA_OK && coll)
        rc = field_error(b, expr);
    if (rc != STRATA_OK || col.failed) {
        strata__sb_free(&col);
        return rc != STRATA_OK ? rc : (b->err = STRATA_E_NOMEM);
    }
    strata_sqltype k = field_kind(b, arg);
    bool integer = k == STRATA_SQL_INTEGER || k == STRATA_SQL_BIGINT || k == STRATA_SQL_SMALLINT;
    if (which == 2 || (which == 1 && k == STRATA_SQL_FLOAT))
        strata__sb_printf(out, "CAST(%s(%s) AS DOUBLE PRECISION)", aggs[which], col.data);
    else if (which == 1 && integer)
        strata__sb_printf(out, "CAST(sum(%s) AS BIGINT)", col.data);
    else
        strata__sb_printf(out, "%s(%s)", aggs[which], col.data);
    strata__sb_free(&col);
    return STRATA_OK;
}

static int resolve(build *b, const char *field, strata__sb *out, const strata_relation **coll)
{
    strata__minfo *mi = b->q->mi;
    const strata_driver *drv = strata_db_driver(b->q->s->db);
    const char *dot = strchr(field, '.');
    *coll = NULL;
    if (strchr(field, '(')) {
        int rc = resolve_aggregate(b, field, out);
        return rc < 0 ? field_error(b, field) : rc;
    }
    if (!dot) {
        int f = strata__field_index(mi, field);
        if (f < 0)
            return field_error(b, field);
        strata__sb_printf(out, "%s.%s", mi->qtable, mi->qcols[f]);
        return STRATA_OK;
    }
    char relname[64];
    snprintf(relname, sizeof relname, "%.*s", (int)(dot - field), field);
    int ri;
    const strata_relation *r = strata__relation(mi, relname, &ri);
    strata__minfo *ti = r ? strata__minfo_get(b->q->s, r->target) : NULL;
    int f = ti ? strata__field_index(ti, dot + 1) : -1;
    if (f < 0)
        return field_error(b, field);
    if (r->kind == STRATA_MANY_TO_ONE) {
        int fk = strata__field_index(mi, r->fk);
        if (fk < 0 || ti->pk < 0)
            return field_error(b, field);
        if (!(b->joined & (1u << ri))) {
            b->joined |= 1u << ri;
            strata__sb_printf(&b->joins, " JOIN %s AS ", ti->qtable);
            strata__sb_ident(&b->joins, drv, r->name);
            strata__sb_puts(&b->joins, " ON ");
            strata__sb_ident(&b->joins, drv, r->name);
            strata__sb_printf(&b->joins, ".%s = %s.%s", ti->qcols[ti->pk], mi->qtable,
                              mi->qcols[fk]);
        }
        strata__sb_ident(out, drv, r->name);
        strata__sb_printf(out, ".%s", ti->qcols[f]);
        return STRATA_OK;
    }
    *coll = r;
    strata__sb_printf(out, "%s.%s", ti->qtable, ti->qcols[f]);
    return STRATA_OK;
}

/* "main.pk IN (SELECT ... FROM target [JOIN secondary] WHERE " for a
 * condition on a collection; the caller closes it with ")". */
static int open_collection(build *b, const strata_relation *r, strata__sb *sb)
{
    strata__minfo *mi = b->q->mi;
    strata__minfo *ti = strata__minfo_get(b->q->s, r->target);
    if (!ti || mi->pk < 0 || ti->pk < 0)
        return b->err = STRATA_E_MISUSE;
    if (r->kind == STRATA_MANY_TO_MANY) {
        strata__minfo *si = strata__minfo_get(b->q->s, r->secondary);
        int lk = si ? strata__field_index(si, r->local_key) : -1;
        int rk = si ? strata__field_index(si, r->remote_key) : -1;
        if (lk < 0 || rk < 0)
            return b->err = STRATA_E_MISUSE;
        strata__sb_printf(sb, "%s.%s IN (SELECT %s.%s FROM %s JOIN %s ON %s.%s = %s.%s WHERE ",
                          mi->qtable, mi->qcols[mi->pk], si->qtable, si->qcols[lk], ti->qtable,
                          si->qtable, si->qtable, si->qcols[rk], ti->qtable, ti->qcols[ti->pk]);
        return STRATA_OK;
    }
    int fk = strata__field_index(ti, r->fk);
    if (fk < 0)
        return b->err = STRATA_E_MISUSE;
    strata__sb_printf(sb, "%s.%s IN (SELECT %s.%s FROM %s WHERE ", mi->qtable, mi->qcols[mi->pk],
                      ti->qtable, ti->qcols[fk], ti->qtable);
    return STRATA_OK;
}

static const char *op_sql(strata_op op)
{
    switch (op) {
    case STRATA_EQ: return " = ?";
    case STRATA_NE: return " <> ?";
    case STRATA_LT: return " < ?";
    case STRATA_LE: return " <= ?";
    case STRATA_GT: return " > ?";
    case STRATA_GE: return " >= ?";
    case STRATA_LIKE: return " LIKE ?";
    case STRATA_IS_NULL: return " IS NULL";
    case STRATA_IS_NOT_NULL: return " IS NOT NULL";
    default: return "";
    }
}

static void render(build *b, strata__sb *sb, const strata_cond *c)
{
    if (b->err)
        return;
    switch (c->kind) {
    case C_AND:
    case C_OR:
        strata__sb_putc(sb, '(');
        render(b, sb, c->a);
        strata__sb_puts(sb, c->kind == C_AND ? " AND " : " OR ");
        render(b, sb, c->b);
        strata__sb_putc(sb, ')');
        return;
    case C_NOT:
        strata__sb_puts(sb, "NOT (");
        render(b, sb, c->a);
        strata__sb_putc(sb, ')');
        return;
    case C_RAW:
        strata__sb_printf(sb, "(%s)", c->sql);
        for (size_t i = 0; i < c->n; i++)
            param(b, &c->vals[i]);
        return;
    default: break;
    }
    strata__sb col;
    strata__sb_init(&col);
    const strata_relation *coll;
    if (resolve(b, c->field, &col, &coll) != STRATA_OK || col.failed) {
        if (col.failed && !b->err)
            b->err = STRATA_E_NOMEM;
        strata__sb_free(&col);
        return;
    }
    if (coll && open_collection(b, coll, sb) != STRATA_OK) {
        strata__sb_free(&col);
        return;
    }
    const char *cs = col.data ? col.data : "";
    switch (c->kind) {
    case C_OP:
        if (c->op == STRATA_ILIKE) {
            const strata__dialect *dl = b->q->s->dl;
            if (dl && dl->ilike)
                strata__sb_printf(sb, "%s %s ?", cs, dl->ilike);
            else
                strata__sb_printf(sb, "lower(%s) LIKE lower(?)", cs);
            param(b, &c->vals[0]);
        } else if (c->n == 1 && c->vals[0].type == STRATA_TYPE_NULL && c->op == STRATA_EQ)
            strata__sb_printf(sb, "%s IS NULL", cs); /* filter_by(x=None) */
        else if (c->n == 1 && c->vals[0].type == STRATA_TYPE_NULL && c->op == STRATA_NE)
            strata__sb_printf(sb, "%s IS NOT NULL", cs);
        else {
            strata__sb_printf(sb, "%s%s", cs, op_sql(c->op));
            for (size_t i = 0; i < c->n; i++)
                param(b, &c->vals[i]);
        }
        break;
    case C_IN:
    case C_NOT_IN:
        if (c->n == 0) {
            strata__sb_puts(sb, c->kind == C_IN ? "1 = 0" : "1 = 1");
            break;
        }
        strata__sb_printf(sb, "%s %sIN (", cs, c->kind == C_NOT_IN ? "NOT " : "");
        for (size_t i = 0; i < c->n; i++) {
            strata__sb_puts(sb, i ? ", ?" : "?");
            param(b, &c->vals[i]);
        }
        strata__sb_putc(sb, ')');
        break;
    case C_BETWEEN:
        strata__sb_printf(sb, "%s BETWEEN ? AND ?", cs);
        param(b, &c->vals[0]);
        param(b, &c->vals[1]);
        break;
    default: break;
    }
    if (coll)
        strata__sb_putc(sb, ')');
    strata__sb_free(&col);
}

typedef enum shape { SHAPE_ROWS, SHAPE_COUNT, SHAPE_EXISTS, SHAPE_VALUES } shape;

/* The whole statement for `q` in `shape`; params in b. */
static char *build_sql(build *b, strata_query *q, shape sh, int64_t limit, int64_t offset)
{
    memset(b, 0, sizeof *b);
    b->q = q;
    strata__sb_init(&b->where);
    strata__sb_init(&b->joins);
    if (q->err)
        b->err = q->err;
    for (int i = 0; i < q->nconds && !b->err; i++) {
        strata__sb_puts(&b->where, i ? " AND " : " WHERE ");
        render(b, &b->where, q->conds[i]);
    }
    /* A query of values: its columns, groups and their conditions (whose
     * parameters follow the WHERE's). */
    strata__sb items, groups;
    strata__sb_init(&items);
    strata__sb_init(&groups);
    for (int i = 0; i < q->ncolumns && !b->err && sh == SHAPE_VALUES; i++) {
        const strata_relation *coll;
        if (i)
            strata__sb_puts(&items, ", ");
        if (resolve(b, q->columns[i], &items, &coll) == STRATA_OK && coll)
            field_error(b, q->columns[i]);
    }
    for (int i = 0; i < q->ngroups && !b->err && sh == SHAPE_VALUES; i++) {
        const strata_relation *coll;
        strata__sb_puts(&groups, i ? ", " : " GROUP BY ");
        if (resolve(b, q->groups[i], &groups, &coll) == STRATA_OK && coll)
            field_error(b, q->groups[i]);
    }
    for (int i = 0; i < q->nhavings && !b->err && sh == SHAPE_VALUES; i++) {
        strata__sb_puts(&groups, i ? " AND " : " HAVING ");
        render(b, &groups, q->havings[i]);
    }
    strata__sb order;
    strata__sb_init(&order);
    for (int i = 0; i < q->norders && !b->err && (sh == SHAPE_ROWS || sh == SHAPE_VALUES); i++) {
        strata__sb_puts(&order, i ? ", " : " ORDER BY ");
        const strata_relation *coll;
        resolve(b, q->orders[i].field, &order, &coll);
        if (coll)
            field_error(b, q->orders[i].field);
        strata__sb_puts(&order, q->orders[i].order == STRATA_DESC ? " DESC" : " ASC");
    }
    strata__sb sb;
    strata__sb_init(&sb);
    strata__minfo *mi = q->mi;
    bool paged = limit >= 0 || offset > 0;
    if (sh == SHAPE_COUNT && paged)
        strata__sb_printf(&sb, "SELECT count(*) FROM (SELECT %s.%s FROM %s", mi->qtable,
                          mi->pk >= 0 ? mi->qcols[mi->pk] : mi->qcols[0], mi->qtable);
    else if (sh == SHAPE_COUNT)
        strata__sb_printf(&sb, "SELECT count(*) FROM %s", mi->qtable);
    else if (sh == SHAPE_EXISTS)
        strata__sb_printf(&sb, "SELECT 1 FROM %s", mi->qtable);
    else if (sh == SHAPE_VALUES)
        strata__sb_printf(&sb, "SELECT %s%s FROM %s", q->distinct ? "DISTINCT " : "",
                          items.data ? items.data : "", mi->qtable);
    else
        strata__sb_printf(&sb, "SELECT %s FROM %s", mi->select, mi->qtable);
    strata__sb_puts(&sb, b->joins.data ? b->joins.data : "");
    strata__sb_puts(&sb, b->where.data ? b->where.data : "");
    strata__sb_puts(&sb, groups.data ? groups.data : "");
    strata__sb_puts(&sb, order.data ? order.data : "");
    if (sh == SHAPE_EXISTS) {
        limit = 1;
        offset = -1;
    }
    if (limit >= 0) {
        strata__sb_puts(&sb, " LIMIT ?");
        strata_value v = strata_int(limit);
        param(b, &v);
    } else if (offset > 0 && q->s->dl && q->s->dl->limit_all) {
        strata__sb_puts(&sb, q->s->dl->limit_all);
    }
    if (offset > 0) {
        strata__sb_puts(&sb, " OFFSET ?");
        strata_value v = strata_int(offset);
        param(b, &v);
    }
    if (sh == SHAPE_COUNT && paged)
        strata__sb_puts(&sb, ") AS strata_counted");
    /* Engines with row locks lock the rows read; the others (SQLite) lock
     * the whole database for the session's writing transaction, which
     * began with the write lock held: no other writer can change a row. */
    const strata_driver *drv = strata_db_driver(q->s->db);
    if (q->for_update && sh == SHAPE_ROWS && (drv->capabilities & STRATA_CAP_CONCURRENT_WRITERS)) {
        strata__sb_printf(&sb, " FOR UPDATE OF %s", mi->qtable);
        if (q->lock_flags & STRATA_LOCK_NOWAIT)
            strata__sb_puts(&sb, " NOWAIT");
        else if (q->lock_flags & STRATA_LOCK_SKIP_LOCKED)
            strata__sb_puts(&sb, " SKIP LOCKED");
    }
    /* A piece that ran out of memory holds what was written before: a
     * WHERE or ORDER BY cut short, which must not run. */
    if ((b->where.failed || b->joins.failed || order.failed || items.failed || groups.failed) &&
        !b->err)
        b->err = STRATA_E_NOMEM;
    strata__sb_free(&items);
    strata__sb_free(&groups);
    strata__sb_free(&order);
    strata__sb_free(&b->where);
    strata__sb_free(&b->joins);
    char *sql = strata__sb_take(&sb);
    if (!sql && !b->err)
        b->err = STRATA_E_NOMEM;
    if (b->err) {
        free(sql);
        return NULL;
    }
    return sql;
}

/* Flush, begin, prepare and bind. */
static int start(strata_query *q, shape sh, int64_t limit, int64_t offset, strata_stmt **st)
{
    *st = NULL;
    int rc = strata_session_flush(q->s);
    if (rc == STRATA_OK)
        rc = strata__session_begin(q->s);
    if (rc != STRATA_OK)
        return rc;
    build b;
    char *sql = build_sql(&b, q, sh, limit, offset);
    if (!sql) {
        free(b.params);
        if (b.err == STRATA_E_MISUSE && !strata_db_errcode(q->s->db))
            return strata__session_error(q->s, b.err,
                                         "a condition of the %s query could not be built "
                                         "(NULL field, or a relationship without keys)",
                                         q->mi->m->name);
        if (b.err == STRATA_E_NOMEM)
            return strata__session_error(q->s, b.err, "out of memory building the %s query",
                                         q->mi->m->name);
        return b.err;
    }
    rc = strata_stmt_prepare(st, q->s->db, sql);
    free(sql);
    for (size_t i = 0; rc == STRATA_OK && i < b.nparams; i++)
        rc = strata_stmt_bind_value(*st, (int)i + 1, &b.params[i]);
    free(b.params);
    if (rc != STRATA_OK && *st) {
        strata_stmt_finalize(*st);
        *st = NULL;
    }
    return rc;
}

static int fetch(strata_query *q, int64_t limit, int64_t offset, strata_list **out)
{
    *out = NULL;
    strata_stmt *st;
    int rc = start(q, SHAPE_ROWS, limit, offset, &st);
    if (rc != STRATA_OK)
        return rc;
    strata_list *l = calloc(1, sizeof *l);
    if (!l)
        rc = STRATA_E_NOMEM;
    while (rc == STRATA_OK && (rc = strata_stmt_step(st)) == STRATA_ROW) {
        strata_object *o;
        rc = strata__session_load_row(q->s, q->mi, st, 0, q->for_update, &o);
        if (rc == STRATA_OK && !strata__list_push(l, o))
            rc = STRATA_E_NOMEM;
    }
    strata_stmt_finalize(st);
    if (rc == STRATA_DONE)
        rc = STRATA_OK;
    for (int i = 0; rc == STRATA_OK && i < q->nloads; i++)
        rc = strata__relation_load_many(q->s, q->mi, q->loads[i], (strata_object **)l->items,
                                        l->count);
    if (rc != STRATA_OK) {
        strata_list_free(l);
        return rc;
    }
    *out = l;
    return STRATA_OK;
}

struct strata_iter {
    strata_query *q;
    strata_stmt *st;
    strata_object *obj;
    bool done;
};

int strata_query_iter(strata_query *q, strata_iter **out)
{
    STRATA__CONFINE(q ? q->s->db : NULL, STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!q)
        return STRATA_E_MISUSE;
    strata_iter *it = calloc(1, sizeof *it);
    if (!it)
        return STRATA_E_NOMEM;
    it->q = q;
    int rc = start(q, SHAPE_ROWS, q->limit, q->offset, &it->st);
    if (rc == STRATA_OK)
        rc = strata_stmt_stream(it->st);
    if (rc == STRATA_OK && !(it->obj = strata__object_alloc(q->s, q->mi)))
        rc = STRATA_E_NOMEM;
    if (rc != STRATA_OK) {
        strata_iter_free(it);
        return rc;
    }
    it->obj->priv->state = OBJ_DETACHED; /* a view of a row, not tracked */
    *out = it;
    return STRATA_OK;
}

int strata_iter_next(strata_iter *it, void *out)
{
    STRATA__CONFINE(it ? it->q->s->db : NULL, STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *(void **)out = NULL;
    if (!it)
        return STRATA_E_MISUSE;
    if (it->done)
        return STRATA_DONE;
    int rc = strata_stmt_step(it->st);
    if (rc != STRATA_ROW) {
        it->done = true;
        strata_stmt_reset(it->st);
        return rc;
    }
    for (int f = 0; f < it->q->mi->nfields; f++)
        if ((rc = strata__read_field(it->st, f, it->obj, f)) != STRATA_OK) {
            it->done = true;
            strata_stmt_reset(it->st);
            return strata__session_error(it->q->s, rc, "reading %s.%s", it->q->mi->m->name,
                                         it->q->mi->m->fields[f].name);
        }
    *(void **)out = it->obj;
    return STRATA_ROW;
}

void strata_iter_free(strata_iter *it)
{
    STRATA__CONFINE_VOID(it ? it->q->s->db : NULL);
    if (!it)
        return;
    strata_stmt_finalize(it->st);
    if (it->obj)
        strata__object_free(it->obj);
    free(it);
}

int strata_query_all(strata_query *q, strata_list **out)
{
    STRATA__CONFINE(q ? q->s->db : NULL, STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    return q ? fetch(q, q->limit, q->offset, out) : STRATA_E_MISUSE;
}

static int fetch_one(strata_query *q, void *out, int64_t limit, bool none_ok, bool many_ok)
{
    if (!out)
        return STRATA_E_MISUSE;
    *(void **)out = NULL;
    if (!q)
        return STRATA_E_MISUSE;
    strata_list *l;
    int rc = fetch(q, limit, q->offset, &l);
    if (rc != STRATA_OK)
        return rc;
    if (l->count == 0 && !none_ok)
        rc = strata__session_error(q->s, STRATA_E_NOT_FOUND, "no %s matches the query",
                                   q->mi->m->name);
    else if (l->count > 1 && !many_ok)
        rc = strata__session_error(q->s, STRATA_E_MULTIPLE, "more than one %s matches the query",
                                   q->mi->m->name);
    else if (l->count)
        *(void **)out = l->items[0];
    strata_list_free(l);
    return rc;
}

int strata_query_first(strata_query *q, void *out)
{
    STRATA__CONFINE(q ? q->s->db : NULL, STRATA_E_MISUSE);
    return fetch_one(q, out, 1, true, true);
}
int strata_query_one(strata_query *q, void *out)
{
    STRATA__CONFINE(q ? q->s->db : NULL, STRATA_E_MISUSE);
    return fetch_one(q, out, 2, false, false);
}
int strata_query_one_or_none(strata_query *q, void *out)
{
    STRATA__CONFINE(q ? q->s->db : NULL, STRATA_E_MISUSE);
    return fetch_one(q, out, 2, true, false);
}

static int scalar(strata_query *q, shape sh, int64_t limit, int64_t offset, int64_t *out)
{
    strata_stmt *st;
    int rc = start(q, sh, limit, offset, &st);
    if (rc != STRATA_OK)
        return rc;
    rc = strata_stmt_step(st);
    *out = 0;
    if (rc == STRATA_ROW)
        rc = strata_stmt_column_int64(st, 0, out);
    else if (rc == STRATA_DONE)
        rc = STRATA_OK;
    strata_stmt_finalize(st);
    return rc;
}

int strata_query_count(strata_query *q, int64_t *out)
{
    STRATA__CONFINE(q ? q->s->db : NULL, STRATA_E_MISUSE);
    if (!q || !out)
        return STRATA_E_MISUSE;
    return scalar(q, SHAPE_COUNT, q->limit, q->offset, out);
}

int strata_query_exists(strata_query *q, int *out)
{
    STRATA__CONFINE(q ? q->s->db : NULL, STRATA_E_MISUSE);
    if (!q || !out)
        return STRATA_E_MISUSE;
    int64_t v = 0;
    int rc = scalar(q, SHAPE_EXISTS, 1, -1, &v);
    *out = v != 0;
    return rc;
}

int strata_query_paginate(strata_query *q, int64_t page, int64_t per_page, strata_page *out)
{
    STRATA__CONFINE(q ? q->s->db : NULL, STRATA_E_MISUSE);
    if (!q || !out)
        return STRATA_E_MISUSE;
    memset(out, 0, sizeof *out);
    if (page < 1 || per_page < 1)
        return strata__session_error(q->s, STRATA_E_RANGE,
                                     "page %lld of %lld per page: both must be 1 or more",
                                     (long long)page, (long long)per_page);
    /* A page past what int64 can count starts past every row: clamp the
     * offset, never let it wrap round to another page's rows. */
    int64_t offset;
    if (__builtin_mul_overflow(page - 1, per_page, &offset))
        offset = INT64_MAX;
    int rc = scalar(q, SHAPE_COUNT, -1, -1, &out->total); /* no ORDER BY, no LIMIT */
    if (rc == STRATA_OK)
        rc = fetch(q, per_page, offset, &out->items);
    if (rc != STRATA_OK) {
        strata_page_clear(out);
        return rc;
    }
    out->page = page;
    out->per_page = per_page;
    out->pages = out->total / per_page + (out->total % per_page != 0);
    out->has_prev = page > 1;
    out->has_next = page < out->pages;
    out->prev_num = out->has_prev ? page - 1 : 0;
    out->next_num = out->has_next ? page + 1 : 0;
    return STRATA_OK;
}

void strata_page_clear(strata_page *p)
{
    if (!p)
        return;
    strata_list_free(p->items);
    memset(p, 0, sizeof *p);
}

/* ---- relationship queries ---------------------------------------------- */

strata_query *strata__query_for_relation(strata_object *o, const strata_relation *r)
{
    strata_session *s = o->priv->s;
    strata__minfo *mi = o->priv->mi;
    strata_query *q = strata_query_new(s, r->target);
    if (!q)
        return NULL;
    if (r->kind == STRATA_MANY_TO_MANY) {
        strata__minfo *si = strata__minfo_get(s, r->secondary);
        strata__minfo *ti = q->mi;
        int lk = si ? strata__field_index(si, r->local_key) : -1;
        int rk = si ? strata__field_index(si, r->remote_key) : -1;
        if (lk < 0 || rk < 0 || ti->pk < 0) {
            q->err = strata__session_error(s, STRATA_E_SCHEMA,
                                           "relationship %s.%s: its association keys are not "
                                           "fields of %s",
                                           mi->m->name, r->name,
                                           r->secondary ? r->secondary->name : "?");
            return q;
        }
        strata__sb sb;
        strata__sb_init(&sb);
        strata__sb_printf(&sb, "%s.%s IN (SELECT %s FROM %s WHERE %s = ?)", ti->qtable,
                          ti->qcols[ti->pk], si->qcols[rk], si->qtable, si->qcols[lk]);
        char *sql = strata__sb_take(&sb);
        strata_value v = strata_int(strata__pk(o));
        if (sql)
            strata_query_filter(q, strata_c_raw(sql, &v, 1));
        else
            q->err = STRATA_E_NOMEM;
        free(sql);
    } else {
        strata_query_filter(q, strata_c(r->fk, STRATA_EQ, strata_int(strata__pk(o))));
    }
    if (r->order_by)
        strata_query_order_by(q, r->order_by[0] == '-' ? r->order_by + 1 : r->order_by,
                              r->order_by[0] == '-' ? STRATA_DESC : STRATA_ASC);
    return q;
}

/* ---- values: columns, aggregates, groups ---------------------------------- */

/* "a, count(*), sum(b)" into q's list `*v` (n items), each trimmed. */
static int push_list(strata_query *q, const char *list, char ***v, int *n)
{
    if (!q || !list)
        return STRATA_E_MISUSE;
    const char *p = list;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *start = p;
        int depth = 0;
        while (*p && (*p != ',' || depth > 0)) {
            depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
            p++;
        }
        const char *end = p;
        while (end > start && end[-1] == ' ')
            end--;
        if (end == start)
            return q->err = strata__session_error(q->s, STRATA_E_MISUSE,
                                                  "%s query: an empty item in '%s'",
                                                  q->mi->m->name, list);
        char **more = realloc(*v, (size_t)(*n + 1) * sizeof *more);
        char *item = more ? strata__strndup(start, (size_t)(end - start)) : NULL;
        if (more)
            *v = more;
        if (!item)
            return q->err = STRATA_E_NOMEM;
        (*v)[(*n)++] = item;
        if (!*p)
            return STRATA_OK;
        p++;
    }
}

int strata_query_columns(strata_query *q, const char *exprs)
{
    return push_list(q, exprs, &q->columns, &q->ncolumns);
}

int strata_query_group_by(strata_query *q, const char *fields)
{
    return push_list(q, fields, &q->groups, &q->ngroups);
}

int strata_query_having(strata_query *q, strata_cond *c)
{
    if (!q) {
        strata_cond_free(c);
        return STRATA_E_MISUSE;
    }
    bool nomem = cond_nomem;
    cond_nomem = false;
    strata_cond **n = c ? realloc(q->havings, (size_t)(q->nhavings + 1) * sizeof *n) : NULL;
    if (!n) {
        strata_cond_free(c);
        return q->err = c || nomem ? STRATA_E_NOMEM : STRATA_E_MISUSE;
    }
    q->havings = n;
    q->havings[q->nhavings++] = c;
    return STRATA_OK;
}

int strata_query_distinct(strata_query *q)
{
    if (!q)
        return STRATA_E_MISUSE;
    q->distinct = true;
    return STRATA_OK;
}

struct strata_rows {
    int width;
    size_t n, cap;
    strata_value *v; /* n * width; text and blob bytes owned */
    char **names;    /* per column: the query's item */
};

void strata_rows_free(strata_rows *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n * (size_t)r->width; i++)
        if (r->v[i].type == STRATA_TYPE_TEXT || r->v[i].type == STRATA_TYPE_BLOB)
            free((void *)r->v[i].u.buf.ptr);
    free(r->v);
    for (int c = 0; r->names && c < r->width; c++)
        free(r->names[c]);
    free(r->names);
    free(r);
}

/* Copy the statement's current row into r. */
static int rows_take(strata_rows *r, strata_stmt *st)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        strata_value *v = realloc(r->v, cap * (size_t)r->width * sizeof *v);
        if (!v)
            return STRATA_E_NOMEM;
        r->v = v;
        r->cap = cap;
    }
    strata_value *row = r->v + r->n * (size_t)r->width;
    for (int c = 0; c < r->width; c++)
        row[c].type = STRATA_TYPE_NULL;
    r->n++; /* from here on the row's copies are freed with r */
    for (int c = 0; c < r->width; c++) {
        int rc = strata__stmt_column_copy(st, c, &row[c]);
        if (rc != STRATA_OK)
            return rc;
    }
    return STRATA_OK;
}

int strata_query_rows(strata_query *q, strata_rows **out)
{
    STRATA__CONFINE(q ? q->s->db : NULL, STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!q)
        return STRATA_E_MISUSE;
    if (q->ncolumns == 0)
        return strata__session_error(q->s, STRATA_E_MISUSE,
                                     "%s query: name its columns (strata_query_columns) to read "
                                     "rows of values",
                                     q->mi->m->name);
    strata_rows *r = calloc(1, sizeof *r);
    if (!r || !(r->names = calloc((size_t)q->ncolumns + 1, sizeof *r->names))) {
        free(r);
        return strata__session_error(q->s, STRATA_E_NOMEM, "out of memory");
    }
    r->width = q->ncolumns;
    for (int c = 0; c < r->width; c++)
        if (!(r->names[c] = strata__strdup(q->columns[c]))) {
            strata_rows_free(r);
            return strata__session_error(q->s, STRATA_E_NOMEM, "out of memory");
        }
    strata_stmt *st;
    int rc = start(q, SHAPE_VALUES, q->limit, q->offset, &st);
    while (rc == STRATA_OK) {
        int step = strata_stmt_step(st);
        if (step == STRATA_DONE)
            break;
        rc = step == STRATA_ROW ? rows_take(r, st) : step;
    }
    strata_stmt_finalize(st);
    if (rc != STRATA_OK) {
        strata_rows_free(r);
        return rc == STRATA_E_NOMEM && !strata_db_errcode(q->s->db)
                   ? strata__session_error(q->s, rc, "out of memory")
                   : rc;
    }
    *out = r;
    return STRATA_OK;
}

size_t strata_rows_count(const strata_rows *r) { return r ? r->n : 0; }

int strata_rows_width(const strata_rows *r) { return r ? r->width : 0; }

const char *strata_rows_name(const strata_rows *r, int col)
{
    return r && col >= 0 && col < r->width ? r->names[col] : NULL;
}

const strata_value *strata_rows_value(const strata_rows *r, size_t row, int col)
{
    if (!r || row >= r->n || col < 0 || col >= r->width)
        return NULL;
    return &r->v[row * (size_t)r->width + (size_t)col];
}

int strata_rows_int64(const strata_rows *r, size_t row, int col, int64_t *out)
{
    const strata_value *v = strata_rows_value(r, row, col);
    if (!out)
        return STRATA_E_MISUSE;
    *out = 0;
    return v ? strata__value_int64(v, out) : STRATA_E_RANGE;
}

int strata_rows_double(const strata_rows *r, size_t row, int col, double *out)
{
    const strata_value *v = strata_rows_value(r, row, col);
    if (!out)
        return STRATA_E_MISUSE;
    *out = 0;
    return v ? strata__value_double(v, out) : STRATA_E_RANGE;
}

const char *strata_rows_text(const strata_rows *r, size_t row, int col)
{
    const strata_value *v = strata_rows_value(r, row, col);
    return v && v->type == STRATA_TYPE_TEXT ? v->u.buf.ptr : NULL;
}

/* The first column of the first row of `expr` over the query's rows. */
static int scalar_value(strata_query *q, const char *expr, strata_rows **rows)
{
    *rows = NULL;
    if (!q || !expr)
        return STRATA_E_MISUSE;
    char **saved = q->columns;
    int nsaved = q->ncolumns;
    q->columns = NULL;
    q->ncolumns = 0;
    int rc = push_list(q, expr, &q->columns, &q->ncolumns);
    if (rc == STRATA_OK)
        rc = strata_query_rows(q, rows);
    for (int i = 0; i < q->ncolumns; i++)
        free(q->columns[i]);
    free(q->columns);
    q->columns = saved;
    q->ncolumns = nsaved;
    if (rc == STRATA_OK && strata_rows_count(*rows) == 0) {
        strata_rows_free(*rows);
        *rows = NULL;
        return strata__session_error(q->s, STRATA_E_NOT_FOUND, "%s query: no row for %s",
                                     q->mi->m->name, expr);
    }
    return rc;
}

/* One aggregate as an integer (`i`) or a double (`d`). */
static int scalar_number(strata_query *q, const char *expr, int64_t *i, double *d)
{
    strata_rows *r;
    int rc = scalar_value(q, expr, &r);
    if (rc == STRATA_OK) {
        rc = i ? strata_rows_int64(r, 0, 0, i) : strata_rows_double(r, 0, 0, d);
        if (rc == STRATA_E_TYPE)
            rc = strata__session_error(q->s, rc, "%s query: %s is not %s", q->mi->m->name, expr,
                                       i ? "an integer" : "a number");
    }
    strata_rows_free(r);
    return rc;
}

int strata_query_scalar_int64(strata_query *q, const char *expr, int64_t *out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = 0;
    return scalar_number(q, expr, out, NULL);
}

int strata_query_scalar_double(strata_query *q, const char *expr, double *out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = 0;
    return scalar_number(q, expr, NULL, out);
}
