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
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "orm_internal.h"

enum cond_kind {
    C_OP,
    C_IN,
    C_NOT_IN,
    C_BETWEEN,
    C_IN_QUERY, /* field IN (a subquery) */
    C_EXISTS,   /* EXISTS (a subquery) */
    C_RAW,
    C_AND,
    C_OR,
    C_NOT
};

struct strata_cond {
    enum cond_kind kind;
    char *field;
    strata_op op;
    strata_value *vals; /* text and blob memory owned (copied) */
    size_t n;
    char *sql;          /* C_RAW */
    strata_query *sub;  /* C_IN_QUERY, C_EXISTS: owned */
    strata_cond *a, *b;
};

typedef struct order_item {
    char *field;
    strata_order order;
} order_item;

/* A relationship path joined explicitly (strata_query_join). */
typedef struct join_item {
    char *path;
    bool outer;
} join_item;

/* A subquery's field equal to a field of the query around it. */
typedef struct corr_item {
    char *inner, *outer;
} corr_item;

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
    join_item *joins; /* their objects come with strata_query_tuples() */
    int njoins;
    corr_item *corr;
    int ncorr;
    bool reread; /* objects met are read from their rows (bulk changes) */
    /* A query of an object's related rows (strata_related_query): its
     * condition's value is the owner's key as the query runs, not as it
     * was made (a rollback or a key's change may have changed it since). */
    strata_object *owner;
    strata_cond *owner_cond;
    int rel_orders; /* ORDER BY items the relationship gave, not the program */
    int err;      /* a construction error, reported at execution */
    char *errmsg; /* ... and its message (NULL: none could be kept) */
};

/* ---- conditions -------------------------------------------------------- */

/* A condition that could not be made for lack of memory comes back NULL,
 * as one made with a bad argument does, and strata_query_filter() must
 * tell the two apart: set here, read and cleared there. */
static _Thread_local bool cond_nomem;
/* A condition strata_c refused for its operator, for the query's message:
 * the NULL condition a query takes may be another's, so the message says
 * only that it came since a query last took one. */
static _Thread_local int cond_bad_op;

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
    strata_query_free(c->sub);
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
    if (field && (op < STRATA_EQ || op > STRATA_IS_NOT_NULL))
        cond_bad_op = (int)op ? (int)op : -1;
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

static strata_cond *with_subquery(enum cond_kind kind, const char *field, strata_query *sub)
{
    strata_cond *c = sub ? cond_new(kind, field, NULL, 0) : NULL;
    if (!c) {
        strata_query_free(sub);
        return NULL;
    }
    c->sub = sub;
    return c;
}

strata_cond *strata_c_in_query(const char *field, strata_query *sub)
{
    if (!field) {
        strata_query_free(sub);
        return NULL;
    }
    return with_subquery(C_IN_QUERY, field, sub);
}

strata_cond *strata_c_exists(strata_query *sub) { return with_subquery(C_EXISTS, NULL, sub); }

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
    if (!s)
        return NULL;
    if (!model) {
        strata__session_error(s, STRATA_E_MISUSE, "a query of no model (NULL)");
        return NULL;
    }
    uint64_t mark = s->db->nerrors;
    strata__minfo *mi = strata__minfo_get(s, model);
    strata_query *q = mi ? calloc(1, sizeof *q) : NULL;
    if (!q) {
        strata__db_error_since(s->db, mark, STRATA_E_NOMEM);
        return NULL;
    }
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
    for (int i = 0; i < q->njoins; i++)
        free(q->joins[i].path);
    free(q->joins);
    for (int i = 0; i < q->ncorr; i++) {
        free(q->corr[i].inner);
        free(q->corr[i].outer);
    }
    free(q->corr);
    free(q->errmsg);
    free(q);
}

/* A call that builds the query failed with `rc`, whose message is on the
 * connection now: both are kept, for the query fails again with them
 * when it runs (by then other calls may have replaced the message). */
static int query_keep(strata_query *q, int rc)
{
    if (q->err)
        return rc; /* the first failure stands */
    q->err = rc;
    q->errmsg = strata__strdup(strata_db_errmsg(q->s->db));
    return rc;
}

/* A part of the query that could not be copied: the query fails when it
 * runs, and the call says so now. */
static int query_nomem(strata_query *q)
{
    return query_keep(q, strata__session_error(q->s, STRATA_E_NOMEM,
                                               "out of memory building the %s query",
                                               q->mi->m->name));
}

/* Does c (or a subquery in it, at any depth) hold q?  A query must not
 * hold itself: it would be freed twice and rendered without end.  The
 * link found is cut, so that c can be freed without q. */
static bool cut_self(strata_cond *c, const strata_query *q)
{
    if (!c)
        return false;
    if (c->sub == q) {
        c->sub = NULL;
        return true;
    }
    for (int i = 0; c->sub && i < c->sub->nconds; i++)
        if (cut_self(c->sub->conds[i], q))
            return true;
    for (int i = 0; c->sub && i < c->sub->nhavings; i++)
        if (cut_self(c->sub->havings[i], q))
            return true;
    return cut_self(c->a, q) || cut_self(c->b, q);
}

/* The first raw condition in c (not in its subqueries, checked when
 * they took their conditions) whose `?` placeholders, counted as the
 * statement's will be, are not as many as its values; NULL when none.
 * *holes: that count, or -1 without memory. */
static const strata_cond *raw_miscounted(const strata_query *q, const strata_cond *c, int *holes)
{
    if (!c)
        return NULL;
    if (c->kind == C_RAW) {
        strata__sql_rewrite rw;
        if (strata__sql_rewrite_placeholders(&rw, c->sql, STRATA_PLACEHOLDER_QMARK,
                                             strata__drv_lexer_flags(q->s->db)) != STRATA_OK) {
            *holes = -1;
            return c;
        }
        free(rw.sql);
        *holes = rw.nparams;
        return (size_t)rw.nparams == c->n ? NULL : c;
    }
    const strata_cond *bad = raw_miscounted(q, c->a, holes);
    return bad ? bad : raw_miscounted(q, c->b, holes);
}

/* Append condition c to q's list `*v` (filter or having); takes c. */
static int push_cond(strata_query *q, strata_cond ***v, int *n, strata_cond *c)
{
    if (!q) {
        strata_cond_free(c);
        return STRATA_E_MISUSE;
    }
    bool nomem = cond_nomem;
    int bad_op = cond_bad_op;
    cond_nomem = false;
    cond_bad_op = 0;
    if (c && cut_self(c, q)) {
        strata_cond_free(c);
        return query_keep(q, strata__session_error(q->s, STRATA_E_MISUSE,
                                              "%s query: a condition cannot hold the query "
                                              "itself as a subquery",
                                              q->mi->m->name));
    }
    int holes = 0;
    const strata_cond *raw = raw_miscounted(q, c, &holes);
    if (raw) {
        int rc = holes < 0 ? query_nomem(q)
                           : query_keep(q, strata__session_error(
                                               q->s, STRATA_E_MISUSE,
                                               "%s query: a raw condition (strata_c_raw) has "
                                               "%d placeholder%s and %zu value%s",
                                               q->mi->m->name, holes, holes == 1 ? "" : "s", raw->n,
                                               raw->n == 1 ? "" : "s"));
        strata_cond_free(c);
        return rc;
    }
    strata_cond **more = c ? realloc(*v, (size_t)(*n + 1) * sizeof *more) : NULL;
    if (!more) {
        strata_cond_free(c);
        if (c || nomem)
            return query_nomem(q);
        if (bad_op)
            return query_keep(
                q, strata__session_error(q->s, STRATA_E_MISUSE,
                                         "%s query: a NULL condition (strata_c was given an "
                                         "unknown operator, %d, on this thread since a query "
                                         "last took a condition)",
                                         q->mi->m->name, bad_op < 0 ? 0 : bad_op));
        return query_keep(q, strata__session_error(q->s, STRATA_E_MISUSE, "%s query: a NULL condition",
                                              q->mi->m->name));
    }
    *v = more;
    (*v)[(*n)++] = c;
    return STRATA_OK;
}

int strata_query_filter(strata_query *q, strata_cond *c)
{
    return push_cond(q, q ? &q->conds : NULL, q ? &q->nconds : NULL, c);
}

int strata_query_filter_by(strata_query *q, const char *field, strata_value value)
{
    return strata_query_filter(q, strata_c(field, STRATA_EQ, value));
}

int strata_query_order_by(strata_query *q, const char *field, strata_order order)
{
    if (!q || !field)
        return STRATA_E_MISUSE;
    if (order != STRATA_ASC && order != STRATA_DESC)
        return query_keep(q, strata__session_error(q->s, STRATA_E_MISUSE,
                                                   "%s query: order %d for %s is neither "
                                                   "STRATA_ASC nor STRATA_DESC",
                                                   q->mi->m->name, (int)order, field));
    order_item *n = realloc(q->orders, (size_t)(q->norders + 1) * sizeof *n);
    char *copy = n ? strata__strdup(field) : NULL;
    if (n)
        q->orders = n;
    if (!copy)
        return query_nomem(q);
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
    uint64_t mark = s->db->nerrors;
    strata_query *q = strata_query_new(s, model);
    if (!q)
        return strata__db_error_since(s->db, mark, STRATA_E_NOMEM);
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
        rc = strata__session_error(s, STRATA_E_NOT_FOUND, "no %s with the key %lld", model->name,
                                   (long long)id);
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
        return query_nomem(q);
    q->loads[q->nloads++] = copy;
    return STRATA_OK;
}

/* Is `path` relationship names from q's model ("posts", "posts.tags")?
 * The model at its end goes to *end. */
static int relationship_path(strata_query *q, const char *path, strata__minfo **end)
{
    strata__minfo *mi = q->mi;
    for (const char *seg = path;;) {
        const char *dot = strchr(seg, '.');
        size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
        char name[64];
        const strata_relation *r = NULL;
        if (len && len < sizeof name) {
            memcpy(name, seg, len);
            name[len] = '\0';
            r = strata__relation(mi, name, NULL);
        }
        if (!r)
            return strata__session_error(q->s, STRATA_E_MISUSE,
                                         "%s query: '%s' is not a path of relationships (%s has "
                                         "no relationship '%.*s')",
                                         q->mi->m->name, path, mi->m->name, (int)len, seg);
        uint64_t mark = q->s->db->nerrors;
        if (!(mi = strata__minfo_get(q->s, r->target)))
            return strata__db_error_since(q->s->db, mark, STRATA_E_NOMEM);
        if (!dot)
            break;
        seg = dot + 1;
    }
    *end = mi;
    return STRATA_OK;
}

static int add_join(strata_query *q, const char *path, bool outer)
{
    if (!q || !path)
        return STRATA_E_MISUSE;
    strata__minfo *end;
    int rc = relationship_path(q, path, &end);
    if (rc != STRATA_OK)
        return query_keep(q, rc);
    if (!end->m->size)
        return query_keep(q, strata__session_error(q->s, STRATA_E_MISUSE,
                                               "%s query: '%s' ends at %s, an association "
                                               "table, which has no objects",
                                               q->mi->m->name, path, end->m->name));
    for (int i = 0; i < q->njoins; i++)
        if (!strcmp(q->joins[i].path, path))
            return query_keep(q, strata__session_error(q->s, STRATA_E_MISUSE,
                                                   "%s query: '%s' is joined already",
                                                   q->mi->m->name, path));
    join_item *more = realloc(q->joins, (size_t)(q->njoins + 1) * sizeof *more);
    char *copy = more ? strata__strdup(path) : NULL;
    if (more)
        q->joins = more;
    if (!copy)
        return query_nomem(q);
    q->joins[q->njoins].path = copy;
    q->joins[q->njoins++].outer = outer;
    return STRATA_OK;
}

int strata_query_join(strata_query *q, const char *path) { return add_join(q, path, false); }

int strata_query_outer_join(strata_query *q, const char *path)
{
    return add_join(q, path, true);
}

int strata_query_correlate(strata_query *q, const char *field, const char *outer_field)
{
    if (!q || !field || !outer_field)
        return STRATA_E_MISUSE;
    corr_item *more = realloc(q->corr, (size_t)(q->ncorr + 1) * sizeof *more);
    if (more)
        q->corr = more;
    char *in = more ? strata__strdup(field) : NULL;
    char *out = in ? strata__strdup(outer_field) : NULL;
    if (!out) {
        free(in);
        return query_nomem(q);
    }
    q->corr[q->ncorr].inner = in;
    q->corr[q->ncorr++].outer = out;
    return STRATA_OK;
}

/* ---- SQL --------------------------------------------------------------- */

/* A relationship path joined in a scope ("author", "posts.tags"), and the
 * alias it has there, as written in SQL. */
typedef struct joined {
    char *path;
    char *sql;
    strata__minfo *mi; /* the model at its end */
} joined;

/* Where names are resolved: the statement's own FROM, or the FROM of a
 * subquery inside it.  The top scope names its table as it is and each
 * path it joins by the path ("author"); a subquery names its table "sN"
 * and its paths "sN.path", so it hides no name of an enclosing FROM and a
 * correlated condition can still reach them. */
typedef struct scope {
    strata__minfo *mi;
    strata__minfo *named; /* the model errors name: the query's, not a collection's */
    char *base;   /* the model's table as this FROM names it (SQL) */
    char *prefix; /* "sN" in a subquery, NULL at the top */
    strata__sb joins;
    joined *j;
    int nj;
} scope;

typedef struct build {
    strata_query *q;
    scope top;
    strata_value *params;
    size_t nparams, cap;
    char **owned; /* texts the params point at that the build made */
    size_t nowned;
    int *want; /* per column of a query of values: what its value is read as (WANT_*) */
    int col;   /* the column being resolved, or -1 */
    /* A grouped query's columns met outside an aggregate, in scope
     * loose_scope (grouped_check); NULL when not noting them. */
    struct loose *loose;
    const struct scope *loose_scope;
    bool in_aggregate; /* resolving an aggregate's argument */
    int nsub; /* subquery scopes named so far */
    int err;
    uint64_t mark; /* the connection's nerrors when the build began */
} build;

/* The most values one statement binds: PostgreSQL's limit (its protocol
 * counts them in 16 bits), kept on every engine so that a program
 * refused on one is refused on both. */
#define STATEMENT_VALUES 65535

static void param(build *b, const strata_value *v)
{
    if (b->nparams == STATEMENT_VALUES) {
        if (!b->err)
            b->err = strata__session_error(b->q->s, STRATA_E_RANGE,
                                           "%s query: more than %d values to bind in one "
                                           "statement (PostgreSQL's limit, kept on every engine)",
                                           b->q->mi->m->name, STATEMENT_VALUES);
        return;
    }
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

static int nomem(build *b)
{
    if (!b->err)
        b->err = STRATA_E_NOMEM;
    return b->err;
}

static int field_error(build *b, const scope *sc, const char *field)
{
    if (b->err)
        return b->err;
    b->err = strata__session_error(b->q->s, STRATA_E_UNDEFINED_COLUMN,
                                   "%s has no field or relationship field '%s'",
                                   sc->named->m->name, field);
    return b->err;
}

static int scope_init(build *b, scope *sc, strata__minfo *mi, bool top)
{
    memset(sc, 0, sizeof *sc);
    sc->mi = sc->named = mi;
    strata__sb_init(&sc->joins);
    if (top)
        sc->base = strata__strdup(mi->qtable);
    else if ((sc->prefix = malloc(16)))
        snprintf(sc->prefix, 16, "s%d", ++b->nsub);
    if (!top && sc->prefix)
        sc->base = strata__strdup(sc->prefix); /* "sN" needs no quotes */
    return sc->base ? STRATA_OK : nomem(b);
}

static void scope_free(scope *sc)
{
    for (int i = 0; i < sc->nj; i++) {
        free(sc->j[i].path);
        free(sc->j[i].sql);
    }
    free(sc->j);
    free(sc->base);
    free(sc->prefix);
    strata__sb_free(&sc->joins);
}

static const joined *find_joined(const scope *sc, const char *path, size_t len)
{
    for (int i = 0; i < sc->nj; i++)
        if (strlen(sc->j[i].path) == len && !strncmp(sc->j[i].path, path, len))
            return &sc->j[i];
    return NULL;
}

/* The alias of `path` (its first len bytes, then `suffix`) in scope sc,
 * quoted when it needs to be. */
static char *alias_for(build *b, const scope *sc, const char *path, size_t len,
                       const char *suffix)
{
    strata__sb name, sql;
    strata__sb_init(&name);
    strata__sb_init(&sql);
    strata__sb_printf(&name, "%s%s%.*s%s", sc->prefix ? sc->prefix : "", sc->prefix ? "." : "",
                      (int)len, path, suffix);
    /* Longer names than an engine keeps (PostgreSQL cuts at 63 bytes)
     * could meet once cut, and a name like the query's own table (which
     * the top FROM leaves unaliased) would hide it: number those instead. */
    if (!name.failed && (name.len > 60 || !strcasecmp(name.data, b->q->mi->table))) {
        strata__sb_free(&name);
        strata__sb_init(&name);
        strata__sb_printf(&name, "j%d%s", ++b->nsub, suffix);
    }
    if (!name.failed)
        strata__sb_ident(&sql, strata_db_driver(b->q->s->db), name.data);
    strata__sb_free(&name);
    char *out = strata__sb_take(&sql);
    if (!out)
        nomem(b);
    return out;
}

/* The key a relationship is joined on: the owner's column and the
 * target's (through the association table for a many-to-many). */
static int rel_keys(build *b, const scope *sc, const strata__minfo *from, const strata_relation *r,
                    strata__minfo **ti, strata__minfo **si, int *from_col, int *to_col, int *lk,
                    int *rk)
{
    *ti = strata__minfo_get(b->q->s, r->target);
    *si = NULL;
    *lk = *rk = -1;
    if (!*ti)
        return nomem(b);
    switch (r->kind) {
    case STRATA_MANY_TO_ONE:
        *from_col = strata__field_index(from, r->fk);
        *to_col = (*ti)->pk;
        break;
    case STRATA_MANY_TO_MANY:
        *si = strata__minfo_get(b->q->s, r->secondary);
        *lk = *si ? strata__field_index(*si, r->local_key) : -1;
        *rk = *si ? strata__field_index(*si, r->remote_key) : -1;
        *from_col = from->pk;
        *to_col = (*ti)->pk;
        if (*lk < 0 || *rk < 0)
            *from_col = -1;
        break;
    default: /* one-to-many, one-to-one: the key is on the target */
        *from_col = from->pk;
        *to_col = strata__field_index(*ti, r->fk);
        break;
    }
    if (*from_col >= 0 && *to_col >= 0)
        return STRATA_OK;
    if (!b->err)
        b->err = strata__session_error(b->q->s, STRATA_E_MISUSE,
                                       "%s: relationship %s.%s has no usable keys to join on",
                                       sc->mi->m->name, from->m->name, r->name);
    return b->err;
}

/* Join relationship r of the table `from_sql` names, as path[0..len). */
static const joined *join_rel(build *b, scope *sc, const char *from_sql, strata__minfo *from,
                              const strata_relation *r, const char *path, size_t len, bool outer)
{
    strata__minfo *ti, *si;
    int fc, tc, lk, rk;
    if (rel_keys(b, sc, from, r, &ti, &si, &fc, &tc, &lk, &rk) != STRATA_OK)
        return NULL;
    joined *more = realloc(sc->j, (size_t)(sc->nj + 1) * sizeof *more);
    if (!more) {
        nomem(b);
        return NULL;
    }
    sc->j = more;
    joined *jd = &sc->j[sc->nj];
    jd->mi = ti;
    jd->path = strata__strndup(path, len);
    jd->sql = alias_for(b, sc, path, len, "");
    char *link = si ? alias_for(b, sc, path, len, ":link") : NULL;
    if (!jd->path || !jd->sql || (si && !link)) {
        free(jd->path);
        free(jd->sql);
        free(link);
        nomem(b);
        return NULL;
    }
    sc->nj++;
    const char *kw = outer ? " LEFT JOIN" : " JOIN";
    if (si) {
        strata__sb_printf(&sc->joins, "%s %s AS %s ON %s.%s = %s.%s", kw, si->qtable, link, link,
                          si->qcols[lk], from_sql, from->qcols[fc]);
        strata__sb_printf(&sc->joins, "%s %s AS %s ON %s.%s = %s.%s", kw, ti->qtable, jd->sql,
                          jd->sql, ti->qcols[tc], link, si->qcols[rk]);
    } else {
        strata__sb_printf(&sc->joins, "%s %s AS %s ON %s.%s = %s.%s", kw, ti->qtable, jd->sql,
                          jd->sql, ti->qcols[tc], from_sql, from->qcols[fc]);
    }
    free(link);
    return jd;
}

/* Where a path ends: at a field (mi, f, and the column written out), or at
 * a collection not joined, where the rest of the path goes on in a
 * subquery over the relationship's target. */
typedef struct hop {
    strata__minfo *mi;
    int f;
    const strata_relation *coll; /* the collection met, or NULL */
    strata__minfo *owner;        /* the model that has it */
    const char *owner_sql;       /* and how the scope names its table */
    const char *rest;            /* the path after the collection */
} hop;

static int resolve_aggregate(build *b, scope *sc, const char *expr, strata__sb *out);

/* A column of a grouped query met outside an aggregate: as the SQL names
 * it, the fields of its table's key as the SQL names them (none: no key),
 * and as the program wrote it. */
typedef struct loose_col {
    char *sql;
    char *key_sql[STRATA__MAX_KEY];
    int nkey;
    const char *path;
} loose_col;

typedef struct loose {
    loose_col *v;
    size_t n, cap;
} loose;

static void loose_col_free(loose_col *c)
{
    free(c->sql);
    for (int k = 0; k < c->nkey; k++)
        free(c->key_sql[k]);
}

static void loose_free(loose *l)
{
    for (size_t i = 0; i < l->n; i++)
        loose_col_free(&l->v[i]);
    free(l->v);
    *l = (loose){0};
}

static char *column_sql(const char *table_sql, const strata__minfo *mi, int f)
{
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_cat(&sb, table_sql, ".", mi->qcols[f], (char *)NULL);
    return strata__sb_take(&sb);
}

static void note_loose(build *b, const char *table_sql, const strata__minfo *mi, int f,
                       const char *path)
{
    loose *l = b->loose;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        loose_col *n = realloc(l->v, cap * sizeof *n);
        if (!n) {
            nomem(b);
            return;
        }
        l->v = n;
        l->cap = cap;
    }
    loose_col *c = &l->v[l->n];
    *c = (loose_col){.sql = column_sql(table_sql, mi, f), .path = path};
    bool ok = c->sql != NULL;
    for (int k = 0; ok && k < mi->npk; k++)
        ok = (c->key_sql[c->nkey++] = column_sql(table_sql, mi, mi->pkf[k])) != NULL;
    if (!ok) {
        loose_col_free(c);
        nomem(b);
        return;
    }
    l->n++;
}

#define MAX_PATH_HOPS 16 /* relationships a path may go through */

/* Walk `path` from sc's model: relationship names, then a field.  A
 * many-to-one is LEFT joined as it is met, a collection ends the walk (h->coll)
 * unless the query joined it explicitly.  With `rels_only` every name is a
 * relationship and each one is joined (inner, or LEFT when `outer`). */
static int walk(build *b, scope *sc, const char *path, const char *full, bool rels_only,
                bool outer, strata__sb *out, hop *h)
{
    memset(h, 0, sizeof *h);
    h->f = -1;
    if (b->err)
        return b->err;
    if (!rels_only && strchr(path, '(')) {
        int rc = resolve_aggregate(b, sc, path, out);
        return rc < 0 ? field_error(b, sc, full) : rc;
    }
    /* A path of more hops than any model needs is refused before it
     * joins: each hop is a join, and one of hundreds (a path taken from
     * a request's parameters, say) kept PostgreSQL planning for minutes. */
    int hops = 0;
    for (const char *p = path; (p = strchr(p, '.')) != NULL; p++)
        hops++;
    if (hops > MAX_PATH_HOPS) {
        if (!b->err)
            b->err = strata__session_error(b->q->s, STRATA_E_MISUSE,
                                           "%s: the path '%.60s...' goes through %d "
                                           "relationships; at most %d",
                                           sc->named->m->name, full, hops, MAX_PATH_HOPS);
        return b->err;
    }
    strata__minfo *cur = sc->mi;
    const char *cur_sql = sc->base;
    for (const char *seg = path;;) {
        const char *dot = strchr(seg, '.');
        size_t seglen = dot ? (size_t)(dot - seg) : strlen(seg);
        if (!dot && !rels_only) {
            int f = strata__field_index(cur, seg);
            if (f < 0)
                return field_error(b, sc, full);
            if (out)
                strata__sb_cat(out, cur_sql, ".", cur->qcols[f], (char *)NULL);
            if (b->loose && sc == b->loose_scope && !b->in_aggregate)
                note_loose(b, cur_sql, cur, f, full);
            h->mi = cur;
            h->f = f;
            return b->err;
        }
        char name[64];
        if (seglen == 0 || seglen >= sizeof name)
            return field_error(b, sc, full);
        memcpy(name, seg, seglen);
        name[seglen] = '\0';
        const strata_relation *r = strata__relation(cur, name, NULL);
        if (!r)
            return field_error(b, sc, full);
        size_t len = (size_t)(seg + seglen - path);
        const joined *jd = find_joined(sc, path, len);
        if (!jd && r->kind != STRATA_MANY_TO_ONE && !rels_only) {
            h->coll = r;
            h->owner = cur;
            h->owner_sql = cur_sql;
            h->rest = dot + 1;
            return STRATA_OK;
        }
        /* A many-to-one met in a path is LEFT joined: a row whose key is
         * NULL (or names no row) stays, its path's columns NULL, as when
         * the relationship is read from the object.  An inner join here
         * dropped it from every result, a count, an ORDER BY, an OR and a
         * bulk delete alike.  Joins the query asks for keep their kind. */
        if (!jd && !(jd = join_rel(b, sc, cur_sql, cur, r, path, len, rels_only ? outer : true)))
            return b->err;
        cur = jd->mi;
        cur_sql = jd->sql;
        if (!dot) {
            h->mi = cur;
            return STRATA_OK;
        }
        seg = dot + 1;
    }
}

/* A column of the scope: a path through many-to-one relationships (or
 * joined ones) to a field, or an aggregate of one.  *hp (may be NULL):
 * where the walk ended. */
static int resolve_col_at(build *b, scope *sc, const char *path, strata__sb *out, hop *hp)
{
    hop h;
    int rc = walk(b, sc, path, path, false, false, out, &h);
    if (hp)
        *hp = h;
    if (rc == STRATA_OK && h.coll) {
        b->err = strata__session_error(b->q->s, STRATA_E_UNDEFINED_COLUMN,
                                       "%s: '%s' goes through the collection %s.%s: use it in a "
                                       "condition, or join it (strata_query_join)",
                                       sc->named->m->name, path, h.owner->m->name, h.coll->name);
        rc = b->err;
    }
    return rc;
}

static int resolve_col(build *b, scope *sc, const char *path, strata__sb *out)
{
    return resolve_col_at(b, sc, path, out, NULL);
}

/* One ORDER BY item.  NULLs sort as the largest value on every engine
 * (PostgreSQL's way: last ascending, first descending): an engine that
 * sorts them the other way (dl->nulls_first) is told so for any column
 * that may hold NULL, that is anything but a NOT NULL field of the
 * query's own model and a count. */
static void order_item_sql(build *b, scope *sc, const order_item *it, strata__sb *out,
                           size_t *col_end)
{
    hop h;
    if (resolve_col_at(b, sc, it->field, out, &h) != STRATA_OK)
        return;
    *col_end = out->len;
    bool desc = it->order == STRATA_DESC;
    strata__sb_puts(out, desc ? " DESC" : " ASC");
    const strata__dialect *dl = b->q->s->dl;
    if (!dl || !dl->nulls_first)
        return;
    bool never_null = !strncasecmp(it->field, "count(", 6) ||
                      (h.f >= 0 && h.mi == sc->mi && !strchr(it->field, '.') &&
                       (h.f == h.mi->pk || !(h.mi->m->fields[h.f].flags & STRATA_NULLABLE)));
    if (!never_null)
        strata__sb_puts(out, desc ? " NULLS FIRST" : " NULLS LAST");
}

/* What a column of a query of values is read as, beyond what the engine
 * gives: WANT_TIMESTAMP, or WANT_NUMERIC + 1 + the scale (-1: none) for
 * decimal text. */
enum { WANT_AS_IS = 0, WANT_TIMESTAMP, WANT_NUMERIC };

/* An aggregate, "count(*)" or "sum(field)": the SQL both engines answer
 * with the same type (avg a double, sum of integers a bigint).  Returns
 * -1 when `expr` is no aggregate, else STRATA_OK or the error set. */
static int resolve_aggregate(build *b, scope *sc, const char *expr, strata__sb *out)
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
        return field_error(b, sc, expr);
    memcpy(arg, a, alen);
    arg[alen] = '\0';
    if (!strcmp(arg, "*")) {
        if (which != 0)
            return field_error(b, sc, expr);
        strata__sb_puts(out, "count(*)");
        return STRATA_OK;
    }
    if (strchr(arg, '('))
        return field_error(b, sc, expr);
    strata__sb col;
    strata__sb_init(&col);
    hop h;
    bool was = b->in_aggregate;
    b->in_aggregate = true;
    int rc = walk(b, sc, arg, arg, false, false, &col, &h);
    b->in_aggregate = was;
    if (rc == STRATA_OK && h.coll)
        rc = field_error(b, sc, expr);
    if (rc == STRATA_OK && col.failed)
        rc = nomem(b);
    if (rc != STRATA_OK) {
        strata__sb_free(&col);
        return rc;
    }
    strata_sqltype k = h.mi->kind[h.f];
    bool integer = k == STRATA_SQL_INTEGER || k == STRATA_SQL_BIGINT || k == STRATA_SQL_SMALLINT;
    bool number = integer || k == STRATA_SQL_FLOAT || k == STRATA_SQL_NUMERIC;
    /* What one engine answers and another refuses (sum of a text,
     * max of a boolean or a blob): refused on all. */
    bool ordered = number || k == STRATA_SQL_STRING || k == STRATA_SQL_TEXT ||
                   k == STRATA_SQL_DATE || k == STRATA_SQL_DATETIME || k == STRATA_SQL_DATETIME_TZ;
    if (k != STRATA_SQL_RAW && ((which == 1 || which == 2) ? !number : which >= 3 && !ordered)) {
        strata__sb_free(&col);
        if (!b->err)
            b->err = strata__session_error(
                b->q->s, STRATA_E_MISUSE,
                "%s query: %s is not answered alike by every engine for a field of type %s "
                "(%s: sum and avg take numbers; min and max numbers, texts and times)",
                b->q->mi->m->name, expr, h.mi->m->fields[h.f].type, aggs[which]);
        return b->err;
    }
    /* A minimum or maximum of a time, and any of a numeric, read back as
     * the field's own type reads (SQLite answers text, and a double). */
    if (b->want && b->col >= 0 && which >= 3 &&
        (k == STRATA_SQL_DATETIME || k == STRATA_SQL_DATETIME_TZ))
        b->want[b->col] = WANT_TIMESTAMP;
    if (b->want && b->col >= 0 && which != 2 && which != 0 && k == STRATA_SQL_NUMERIC)
        b->want[b->col] = WANT_NUMERIC + 1 + h.mi->scale[h.f];
    if (which == 2 || (which == 1 && k == STRATA_SQL_FLOAT))
        strata__sb_printf(out, "CAST(%s(%s) AS DOUBLE PRECISION)", aggs[which], col.data);
    else if (which == 1 && integer)
        strata__sb_printf(out, "CAST(sum(%s) AS BIGINT)", col.data);
    else
        strata__sb_printf(out, "%s(%s)", aggs[which], col.data);
    strata__sb_free(&col);
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

typedef enum shape {
    SHAPE_ROWS,
    SHAPE_TUPLES, /* the rows and the objects of the explicit joins */
    SHAPE_COUNT,
    SHAPE_EXISTS,
    SHAPE_VALUES,
    SHAPE_KEYS,   /* a subquery: its one column, or its key */
    SHAPE_ANY     /* a subquery under EXISTS */
} shape;

/* Reading query q ran out of memory: said, unless that was said since
 * `mark`. */
static int query_nomem_since(strata_query *q, uint64_t mark)
{
    char what[160];
    snprintf(what, sizeof what, "reading the %s query", q->mi->m->name);
    return strata__db_said_since(q->s->db, mark, STRATA_E_NOMEM, what);
}

/* A building call of query q (the one built, or a subquery in it) failed
 * before: its code, said again with its message. */
static int query_failed_before(build *b, const strata_query *q)
{
    return strata__session_error(b->q->s, q->err, "%s",
                                 q->errmsg ? q->errmsg : strata_errstr(q->err));
}

/* The related rows' query q takes its owner's key as it is now.  An
 * owner whose insert was rolled back has no row, and no key to name its
 * rows by: refused, rather than naming rows by a key the database may
 * since have given another. */
static void owner_key(build *b, strata_query *q)
{
    strata_object *o = q->owner;
    if (!o || b->err)
        return;
    struct strata__object *p = o->priv;
    if (p->state == OBJ_TRANSIENT || p->state == OBJ_DETACHED) {
        b->err = strata__session_error(
            b->q->s, STRATA_E_MISUSE,
            p->state == OBJ_TRANSIENT
                ? "a query of a %s's %s rows: the %s has no row (it was not added, or its "
                  "insert was rolled back); add it and flush before running the query"
                : "a query of a %s's %s rows: the %s has no row (it was deleted, or its row "
                  "is gone); its key may name another's now",
            o->model->name, q->mi->m->name, o->model->name);
        return;
    }
    /* A deleted object's row is the one its key had when loaded (the
     * flush deletes that one, and its cascade loads that one's children). */
    q->owner_cond->vals[0] =
        strata_int(p->state == OBJ_DELETED ? strata__row_pk(o) : strata__pk(o));
}

static void select_sql(build *b, scope *sc, scope *outer, strata_query *q, shape sh,
                       int64_t limit, int64_t offset, strata__sb *sb);
static void render(build *b, scope *sc, strata__sb *sb, const strata_cond *c);

/* A subquery of the session's, rendered inside scope `outer`. */
static void subquery(build *b, scope *outer, strata__sb *sb, strata_query *sub, shape sh)
{
    if (sub->s != b->q->s) {
        if (!b->err)
            b->err = strata__session_error(b->q->s, STRATA_E_MISUSE,
                                           "%s query: a subquery must come from the same session",
                                           b->q->mi->m->name);
        return;
    }
    scope ss;
    if (scope_init(b, &ss, sub->mi, false) == STRATA_OK) {
        strata__sb_putc(sb, '(');
        select_sql(b, &ss, outer, sub, sh, sub->limit, sub->offset, sb);
        strata__sb_putc(sb, ')');
    }
    scope_free(&ss);
}

/* A LIKE pattern the engines read alike: a backslash escapes the next
 * character on every engine (PostgreSQL's rule), so one at the end
 * escapes nothing, which PostgreSQL refuses and SQLite would match
 * nothing with: refused on both. */
static bool like_pattern_ok(build *b, const strata_value *v)
{
    if (v->type != STRATA_TYPE_TEXT)
        return true;
    size_t n = v->u.buf.len, k = 0;
    while (k < n && ((const char *)v->u.buf.ptr)[n - 1 - k] == '\\')
        k++;
    if (k % 2 == 0)
        return true;
    if (!b->err)
        b->err = strata__session_error(b->q->s, STRATA_E_DATA,
                                       "%s query: a LIKE pattern ends with a lone backslash, "
                                       "which escapes the character after it (write \\\\ for "
                                       "a backslash)",
                                       b->q->mi->m->name);
    return false;
}

/* Value v compared with field h->f (or anything else, h->f < 0) as the
 * field's own type, so that both engines compare alike: a UUID's text
 * lowered (SQLite keeps them lowered, and compares text), a float for an
 * integer field taken when it is a whole number in 64 bits and refused
 * when not (PostgreSQL would refuse it), a NaN refused (SQLite cannot
 * bind one).  False, with b->err, when refused. */
/* A value of another type than its field's: converted to the field's
 * type where that is exact, so that both engines compare alike (SQLite
 * compares across types by its own rules, PostgreSQL reads the value as
 * the column's type or refuses it).  Else why not, with *code; NULL when
 * the value goes as it is.  An integer for a text field is written in
 * decimal into `text`. */
static const char *as_field_type(const strata_field *fd, strata_sqltype kind, const strata_value *v,
                                 strata_value *t, char text[32], int *code)
{
    *code = STRATA_E_TYPE;
    /* A blob is a blob field's alone, and a blob field takes blobs alone
     * (PostgreSQL reads a text as bytea, SQLite never finds it equal). */
    if ((v->type == STRATA_TYPE_BLOB) != (fd->ctype == STRATA_C_BLOB))
        return fd->ctype == STRATA_C_BLOB ? "is not a blob, and the field is one"
                                          : "is a blob, and the field is not";
    switch (fd->ctype) {
    case STRATA_C_INT64:
        if (v->type == STRATA_TYPE_TEXT) { /* digits alone, read as the integer they are */
            char digits[24], *end = NULL;
            size_t n = v->u.buf.len;
            long long i = 0;
            if (n && n < sizeof digits) {
                memcpy(digits, v->u.buf.ptr, n);
                digits[n] = '\0';
                errno = 0;
                i = strtoll(digits, &end, 10);
            }
            if (!end || *end || errno || isspace((unsigned char)digits[0]))
                return "is not an integer, and the field is one";
            t->type = STRATA_TYPE_INT64;
            t->u.i = i;
        } else if (v->type == STRATA_TYPE_BOOL || v->type == STRATA_TYPE_TIMESTAMP) {
            return "is not a number, and the field is an integer";
        }
        if (t->type == STRATA_TYPE_INT64 &&
            (kind == STRATA_SQL_INTEGER || kind == STRATA_SQL_SMALLINT)) {
            int64_t lim = kind == STRATA_SQL_SMALLINT ? 32767 : 2147483647;
            if (t->u.i > lim || t->u.i < -lim - 1) {
                *code = STRATA_E_RANGE;
                return kind == STRATA_SQL_SMALLINT
                           ? "is out of range for the field's smallint column"
                           : "is out of range for the field's integer column (32 bits)";
            }
        }
        return NULL;
    case STRATA_C_DOUBLE:
        if (v->type == STRATA_TYPE_INT64) {
            t->type = STRATA_TYPE_DOUBLE;
            t->u.d = (double)v->u.i;
            return NULL;
        }
        return v->type == STRATA_TYPE_DOUBLE ? NULL : "is not a number, and the field is a float";
    case STRATA_C_BOOL:
        if (v->type == STRATA_TYPE_INT64 && (v->u.i == 0 || v->u.i == 1)) {
            t->type = STRATA_TYPE_BOOL;
            t->u.i = v->u.i;
            return NULL;
        }
        return v->type == STRATA_TYPE_BOOL ? NULL
                                           : "is not a boolean (or 0 or 1), and the field is one";
    case STRATA_C_TIMESTAMP:
        return v->type == STRATA_TYPE_INT64 || v->type == STRATA_TYPE_DOUBLE ||
                       v->type == STRATA_TYPE_BOOL
                   ? "is not a timestamp, and the field is one"
                   : NULL;
    case STRATA_C_TEXT:
        if (kind == STRATA_SQL_RAW)
            return NULL; /* a type strata does not know: the engine's rules */
        if (v->type == STRATA_TYPE_TEXT)
            return NULL; /* uuid text is checked by the caller */
        if (kind == STRATA_SQL_UUID || kind == STRATA_SQL_JSON)
            return kind == STRATA_SQL_UUID ? "is not a text, and the field is a uuid"
                                           : "is not a text, and the field is json";
        /* A number for a numeric field, an integer for a string: as the
         * decimal text PostgreSQL reads (a float's shortest, so that 12.3
         * is 12.3 and not 12.300000000000001). */
        if (v->type == STRATA_TYPE_INT64) {
            snprintf(text, 32, "%lld", (long long)v->u.i);
        } else if (v->type == STRATA_TYPE_DOUBLE && kind == STRATA_SQL_NUMERIC) {
            if (!isfinite(v->u.d))
                return "is not a finite number, and the field is numeric";
            snprintf(text, 32, "%.15g", v->u.d);
            if (strtod(text, NULL) != v->u.d)
                snprintf(text, 32, "%.17g", v->u.d);
        } else {
            return kind == STRATA_SQL_NUMERIC ? "is not a number, and the field is numeric"
                                              : "is not a text, and the field is one";
        }
        t->type = STRATA_TYPE_TEXT;
        t->u.buf.ptr = text;
        t->u.buf.len = strlen(text);
        return NULL;
    default: return NULL;
    }
}

/* t becomes a text parameter holding a copy of `text`, which the build
 * keeps until the query is freed; false when out of memory (said). */
static bool kept_text(build *b, strata_value *t, const char *text)
{
    char **more = realloc(b->owned, (b->nowned + 1) * sizeof *more);
    char *kept = more ? strata__strdup(text) : NULL;
    if (more)
        b->owned = more;
    if (!kept) {
        nomem(b);
        return false;
    }
    b->owned[b->nowned++] = kept;
    t->type = STRATA_TYPE_TEXT;
    t->u.buf.ptr = kept;
    t->u.buf.len = strlen(kept);
    return true;
}

static bool typed_param(build *b, const hop *h, const strata_value *v)
{
    strata_value t = *v;
    const strata_field *fd = h && h->f >= 0 ? &h->mi->m->fields[h->f] : NULL;
    strata_sqltype kind = fd ? h->mi->kind[h->f] : STRATA_SQL_RAW;
    const char *what = NULL;
    int code = 0; /* the refusal's, when as_field_type says */
    if (v->type == STRATA_TYPE_DOUBLE && v->u.d != v->u.d) {
        what = "is NaN, which SQLite cannot compare";
    } else if (fd && fd->ctype == STRATA_C_INT64 && v->type == STRATA_TYPE_DOUBLE) {
        double d = v->u.d;
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
            what = "is beyond 64 bits, and the field is an integer";
        else if (d != (double)(int64_t)d)
            what = "is not a whole number, and the field is an integer";
        t.type = STRATA_TYPE_INT64;
        t.u.i = what ? 0 : (int64_t)d;
        if (!what) { /* the integer it is, in the column's range */
            char text[32];
            strata_value whole = t;
            what = as_field_type(fd, kind, &whole, &t, text, &code);
        }
    } else if (kind == STRATA_SQL_UUID && v->type == STRATA_TYPE_TEXT) {
        /* As written (8-4-4-4-12, lower case), from any of the forms
         * PostgreSQL reads. */
        const char *u = v->u.buf.ptr;
        char canon[37];
        if (!strata__uuid_canonical(u, v->u.buf.len, canon)) {
            what = "is not a UUID (8-4-4-4-12 or 32 hex digits, in braces or not)";
        } else if ((v->u.buf.len != 36 || memcmp(u, canon, 36) != 0) && !kept_text(b, &t, canon)) {
            return false;
        }
    } else if (kind == STRATA_SQL_DATE && fd->ctype == STRATA_C_TIMESTAMP &&
               (v->type == STRATA_TYPE_TIMESTAMP || v->type == STRATA_TYPE_TEXT)) {
        /* The day it falls on, as the text a date is (SQLite compares
         * the column's text; PostgreSQL reads the time as a date, without
         * its time of day). */
        strata_timestamp ts = v->u.ts;
        char text[40];
        if (v->type == STRATA_TYPE_TEXT &&
            strata_timestamp_parse(&ts, v->u.buf.ptr, v->u.buf.len) != STRATA_OK)
            what = "is not a date (YYYY-MM-DD) or a time, and the field is a date";
        else if (strata_timestamp_format(strata__date_floor(ts), text, sizeof text) != STRATA_OK)
            what = "is outside the years 1 to 9999, and the field is a date";
        if (!what) {
            text[10] = '\0';
            if (!kept_text(b, &t, text))
                return false;
        }
    } else if (fd && v->type != STRATA_TYPE_NULL) {
        char text[32];
        what = as_field_type(fd, kind, v, &t, text, &code);
        if (!what && t.type == STRATA_TYPE_TEXT && t.u.buf.ptr == text && !kept_text(b, &t, text))
            return false;
    }
    if (what) {
        char shown[48];
        if (v->type == STRATA_TYPE_TEXT)
            snprintf(shown, sizeof shown, "'%.40s'", (const char *)v->u.buf.ptr);
        else if (v->type == STRATA_TYPE_INT64 || v->type == STRATA_TYPE_TIMESTAMP)
            snprintf(shown, sizeof shown, "%lld", (long long)v->u.i);
        else if (v->type == STRATA_TYPE_BOOL)
            snprintf(shown, sizeof shown, "%s", v->u.i ? "true" : "false");
        else if (v->type == STRATA_TYPE_BLOB)
            snprintf(shown, sizeof shown, "(a blob)");
        else
            snprintf(shown, sizeof shown, "%g", v->u.d);
        bool nan = v->type == STRATA_TYPE_DOUBLE && v->u.d != v->u.d;
        char field[160] = "a condition";
        if (fd)
            snprintf(field, sizeof field, "%s.%s", h->mi->m->name, fd->name);
        if (!b->err)
            b->err = strata__session_error(b->q->s,
                                           code                                    ? code
                                           : v->type == STRATA_TYPE_DOUBLE && !nan ? STRATA_E_MISUSE
                                                                                   : STRATA_E_DATA,
                                           "%s query: the value %s for %s %s", b->q->mi->m->name,
                                           shown, field, what);
        return false;
    }
    param(b, &t);
    return true;
}

/* The condition c on column cs (already resolved), where the walk to it
 * ended at h. */
static void emit(build *b, scope *corr, strata__sb *sb, const strata_cond *c, const char *cs,
                 const hop *h)
{
    switch (c->kind) {
    case C_OP:
        if (c->op == STRATA_LIKE || c->op == STRATA_ILIKE) {
            const strata__dialect *dl = b->q->s->dl;
            /* A pattern matches text: PostgreSQL has no LIKE for other
             * types, where SQLite matches their text. */
            strata_sqltype k = h && h->f >= 0 ? h->mi->kind[h->f] : STRATA_SQL_RAW;
            if (h && h->f >= 0 &&
                (h->mi->m->fields[h->f].ctype != STRATA_C_TEXT ||
                 (k != STRATA_SQL_STRING && k != STRATA_SQL_TEXT && k != STRATA_SQL_RAW))) {
                if (!b->err)
                    b->err = strata__session_error(
                        b->q->s, STRATA_E_TYPE,
                        "%s query: %s on %s.%s, which is not a string or text field",
                        b->q->mi->m->name, c->op == STRATA_LIKE ? "LIKE" : "ILIKE", h->mi->m->name,
                        h->mi->m->fields[h->f].name);
                break;
            }
            if (!like_pattern_ok(b, &c->vals[0]))
                break;
            if (c->op == STRATA_LIKE)
                strata__sb_printf(sb, "%s LIKE ?", cs);
            else if (dl && dl->ilike)
                strata__sb_printf(sb, "%s %s ?", cs, dl->ilike);
            else
                strata__sb_printf(sb, "lower(%s) LIKE lower(?)", cs);
            /* Only a pattern with a backslash needs the clause: without
             * one, the statement is the one it always was. */
            const strata_value *pat = &c->vals[0];
            if (dl && dl->like_escape && !(c->op == STRATA_ILIKE && dl->ilike) &&
                pat->type == STRATA_TYPE_TEXT && memchr(pat->u.buf.ptr, '\\', pat->u.buf.len))
                strata__sb_puts(sb, dl->like_escape);
            param(b, &c->vals[0]);
        } else if (c->n == 1 && c->vals[0].type == STRATA_TYPE_NULL && c->op == STRATA_EQ)
            strata__sb_printf(sb, "%s IS NULL", cs); /* filter_by(x=None) */
        else if (c->n == 1 && c->vals[0].type == STRATA_TYPE_NULL && c->op == STRATA_NE)
            strata__sb_printf(sb, "%s IS NOT NULL", cs);
        else {
            strata__sb_cat(sb, cs, op_sql(c->op), (char *)NULL);
            for (size_t i = 0; i < c->n; i++)
                typed_param(b, h, &c->vals[i]);
        }
        break;
    case C_IN:
    case C_NOT_IN:
        if (c->n == 0) {
            strata__sb_puts(sb, c->kind == C_IN ? "1 = 0" : "1 = 1");
            break;
        }
        if (c->n > STATEMENT_VALUES - b->nparams) {
            if (!b->err)
                b->err = strata__session_error(
                    b->q->s, STRATA_E_RANGE,
                    "%s query: %sIN of %s with %zu values: a statement binds at most %d "
                    "(PostgreSQL's limit, kept on every engine); put the values in a table "
                    "and use a subquery (strata_c_in_query)",
                    b->q->mi->m->name, c->kind == C_NOT_IN ? "NOT " : "", c->field, c->n,
                    STATEMENT_VALUES);
            break;
        }
        strata__sb_printf(sb, "%s %sIN (", cs, c->kind == C_NOT_IN ? "NOT " : "");
        for (size_t i = 0; i < c->n; i++) {
            strata__sb_puts(sb, i ? ", ?" : "?");
            typed_param(b, h, &c->vals[i]);
        }
        strata__sb_putc(sb, ')');
        break;
    case C_BETWEEN:
        strata__sb_printf(sb, "%s BETWEEN ? AND ?", cs);
        typed_param(b, h, &c->vals[0]);
        typed_param(b, h, &c->vals[1]);
        break;
    case C_IN_QUERY:
        strata__sb_printf(sb, "%s IN ", cs);
        subquery(b, corr, sb, c->sub, SHAPE_KEYS);
        break;
    default: break;
    }
}

/* "owner.key IN (SELECT ... FROM target AS sN [JOIN link] <joins> WHERE "
 * for a collection met on a path; the caller adds the condition and ")". */
static void collection_head(build *b, strata__sb *sb, const hop *h, scope *sub, const scope *sc,
                            const char *path)
{
    strata__minfo *ti, *si;
    int fc, tc, lk, rk;
    if (rel_keys(b, sub, h->owner, h->coll, &ti, &si, &fc, &tc, &lk, &rk) != STRATA_OK)
        return;
    /* The owner's column the condition names, as a grouped query's own. */
    if (b->loose && sc == b->loose_scope && !b->in_aggregate)
        note_loose(b, h->owner_sql, h->owner, fc, path);
    if (si) {
        char *link = alias_for(b, sub, "", 0, ":link");
        if (!link)
            return;
        strata__sb_printf(sb, "%s.%s IN (SELECT %s.%s FROM %s AS %s JOIN %s AS %s ON %s.%s = %s.%s",
                          h->owner_sql, h->owner->qcols[fc], link, si->qcols[lk], ti->qtable,
                          sub->base, si->qtable, link, link, si->qcols[rk], sub->base,
                          ti->qcols[tc]);
        free(link);
    } else {
        strata__sb_printf(sb, "%s.%s IN (SELECT %s.%s FROM %s AS %s", h->owner_sql,
                          h->owner->qcols[fc], sub->base, ti->qcols[tc], ti->qtable, sub->base);
    }
}

/* A condition on `path` from scope sc; `corr` is the scope the condition
 * was given in, which its subqueries correlate with. */
static void render_leaf(build *b, scope *corr, scope *sc, strata__sb *sb, const strata_cond *c,
                        const char *path)
{
    strata__sb col;
    strata__sb_init(&col);
    hop h;
    if (walk(b, sc, path, c->field, false, false, &col, &h) != STRATA_OK || b->err) {
        strata__sb_free(&col);
        return;
    }
    if (col.failed) {
        nomem(b);
    } else if (h.coll) {
        /* Through a collection: each row once, however many match. */
        scope sub;
        strata__sb inner;
        strata__sb_init(&inner);
        strata__minfo *ti = strata__minfo_get(b->q->s, h.coll->target);
        if (!ti)
            nomem(b);
        else if (scope_init(b, &sub, ti, false) == STRATA_OK) {
            sub.named = sc->named;
            render_leaf(b, corr, &sub, &inner, c, h.rest);
            collection_head(b, sb, &h, &sub, sc, c->field);
            strata__sb_puts(sb, sub.joins.data ? sub.joins.data : "");
            strata__sb_printf(sb, " WHERE %s)", inner.data ? inner.data : "");
            if (sub.joins.failed || inner.failed)
                nomem(b);
        }
        if (ti)
            scope_free(&sub);
        strata__sb_free(&inner);
    } else {
        emit(b, corr, sb, c, col.data, &h);
    }
    strata__sb_free(&col);
}

static void render(build *b, scope *sc, strata__sb *sb, const strata_cond *c)
{
    if (b->err)
        return;
    switch (c->kind) {
    case C_AND:
    case C_OR:
        strata__sb_putc(sb, '(');
        render(b, sc, sb, c->a);
        strata__sb_puts(sb, c->kind == C_AND ? " AND " : " OR ");
        render(b, sc, sb, c->b);
        strata__sb_putc(sb, ')');
        return;
    case C_NOT:
        strata__sb_puts(sb, "NOT (");
        render(b, sc, sb, c->a);
        strata__sb_putc(sb, ')');
        return;
    case C_RAW:
        strata__sb_printf(sb, "(%s)", c->sql);
        for (size_t i = 0; i < c->n; i++)
            param(b, &c->vals[i]);
        return;
    case C_EXISTS:
        strata__sb_puts(sb, "EXISTS ");
        subquery(b, sc, sb, c->sub, SHAPE_ANY);
        return;
    default: render_leaf(b, sc, sc, sb, c, c->field); return;
    }
}

/* The explicit joins of q, in scope sc. */
static void join_all(build *b, scope *sc, strata_query *q)
{
    for (int i = 0; i < q->njoins && !b->err; i++) {
        hop h;
        walk(b, sc, q->joins[i].path, q->joins[i].path, true, q->joins[i].outer, NULL, &h);
    }
}

/* The whole SELECT for q in scope sc (its FROM), params in b.  `outer`,
 * for a subquery, is the scope its correlations name. */
/* Where each item of a list lies in the SQL built for it. */
typedef struct span {
    size_t start, end;
} span;

typedef struct spans {
    span *v; /* NULL: not noted */
} spans;

static bool spans_init(spans *sp, int n)
{
    return n == 0 || (sp->v = calloc((size_t)n, sizeof *sp->v)) != NULL;
}

#define SKIPPED ((size_t)-1) /* an item left out of the SQL */

static void spans_open(spans *sp, int i, const strata__sb *sb)
{
    if (sp->v)
        sp->v[i].start = sp->v[i].end = sb->len;
}

static void spans_close(spans *sp, int i, size_t end)
{
    if (sp->v)
        sp->v[i].end = end;
}

static bool span_is(const strata__sb *sb, span sp, const char *text)
{
    size_t n = sp.end - sp.start;
    return text && strlen(text) == n && sb->data && memcmp(sb->data + sp.start, text, n) == 0;
}

/* Grouped: by GROUP BY, by HAVING (the rows are one group), or by an
 * aggregate among the columns. */
static bool is_grouped(const strata_query *q)
{
    if (q->ngroups || q->nhavings)
        return true;
    for (int i = 0; i < q->ncolumns; i++)
        if (strchr(q->columns[i], '('))
            return true;
    return false;
}

static bool grouped_by(const strata_query *q, const spans *gs, const strata__sb *groups,
                       const char *sql)
{
    for (int g = 0; g < q->ngroups; g++)
        if (span_is(groups, gs->v[g], sql))
            return true;
    return false;
}

/* Column c grouped, itself or by every field of its table's key. */
static bool loose_grouped(const strata_query *q, const spans *gs, const strata__sb *groups,
                          const loose_col *c)
{
    if (grouped_by(q, gs, groups, c->sql))
        return true;
    for (int k = 0; k < c->nkey; k++)
        if (!grouped_by(q, gs, groups, c->key_sql[k]))
            return false;
    return c->nkey > 0;
}

/* Whether `len` bytes at `text` are one of the columns the query
 * selects, as its SQL names them. */
static bool selected(const strata_query *q, const spans *cs, const strata__sb *items,
                     const char *text, size_t len)
{
    for (int c = 0; c < q->ncolumns; c++) {
        span col = cs->v[c];
        if (col.end - col.start == len && memcmp(items->data + col.start, text, len) == 0)
            return true;
    }
    return false;
}

/* Each column a grouped query names outside an aggregate is one of its
 * groups, or of a table whose key is one (PostgreSQL's rule: the key
 * decides the row's other columns).  PostgreSQL refuses the others, and
 * SQLite answers them from a row of the group it picks: refused on every
 * engine, before any SQL. */
static void grouped_check(build *b, const strata_query *q, const loose *lc, const spans *gs,
                          const strata__sb *groups)
{
    if (groups->failed) {
        nomem(b);
        return;
    }
    for (size_t i = 0; i < lc->n; i++) {
        if (!loose_grouped(q, gs, groups, &lc->v[i])) {
            b->err = strata__session_error(
                b->q->s, STRATA_E_MISUSE,
                "%s query: '%s' is neither grouped (strata_query_group_by) nor inside an "
                "aggregate; PostgreSQL refuses that and SQLite answers it from any one row of "
                "the group, so every engine refuses it",
                q->mi->m->name, lc->v[i].path);
            return;
        }
    }
}

/* The ORDER BY of a DISTINCT query names only what it selects, as
 * PostgreSQL requires (SQLite orders by a value of any one row of the
 * distinct ones). */
static void distinct_check(build *b, const strata_query *q, const spans *cs,
                           const strata__sb *items, const spans *os, const strata__sb *order)
{
    if (items->failed || order->failed) {
        nomem(b);
        return;
    }
    for (int i = 0; i < q->norders; i++) {
        span o = os->v[i];
        if (o.start == SKIPPED) /* a relationship's order left out */
            continue;
        if (!selected(q, cs, items, order->data + o.start, o.end - o.start)) {
            b->err = strata__session_error(
                b->q->s, STRATA_E_MISUSE,
                "%s query: its distinct rows are ordered by '%s', which it does not select; "
                "PostgreSQL refuses that, so every engine does (select it too)",
                q->mi->m->name, q->orders[i].field);
            return;
        }
    }
}

/* Whether order item `it` may stay in a grouped query (gs: its groups)
 * or a distinct one (cs: its columns): its field grouped, or selected. */
static bool rel_order_fits(build *b, scope *sc, const strata_query *q, const order_item *it,
                           const spans *gs, const strata__sb *groups, const spans *cs,
                           const strata__sb *items)
{
    loose one = {0};
    struct loose *was = b->loose;
    b->loose = gs ? &one : NULL;
    strata__sb col;
    strata__sb_init(&col);
    hop h;
    bool fits = resolve_col_at(b, sc, it->field, &col, &h) == STRATA_OK && !col.failed;
    b->loose = was;
    if (fits && gs)
        fits = one.n == 0 || (groups->failed ? false : loose_grouped(q, gs, groups, &one.v[0]));
    if (fits && cs)
        fits = !items->failed && selected(q, cs, items, col.data, col.len);
    loose_free(&one);
    strata__sb_free(&col);
    return fits;
}

static void select_sql(build *b, scope *sc, scope *outer, strata_query *q, shape sh,
                       int64_t limit, int64_t offset, strata__sb *sb)
{
    strata__minfo *mi = q->mi;
    bool sub = sh == SHAPE_KEYS || sh == SHAPE_ANY;
    if (q->err && !b->err)
        b->err = query_failed_before(b, q);
    owner_key(b, q);
    if (sub && (q->for_update || q->nloads)) {
        if (!b->err)
            b->err = strata__session_error(b->q->s, STRATA_E_MISUSE,
                                           "%s subquery: rows of a subquery cannot be locked or "
                                           "eagerly loaded",
                                           mi->m->name);
        return;
    }
    join_all(b, sc, q);
    strata__sb where, items, groups, order;
    strata__sb_init(&where);
    strata__sb_init(&items);
    strata__sb_init(&groups);
    strata__sb_init(&order);
    for (int i = 0; i < q->nconds && !b->err; i++) {
        strata__sb_puts(&where, i ? " AND " : " WHERE ");
        render(b, sc, &where, q->conds[i]);
    }
    for (int i = 0; i < q->ncorr && !b->err; i++) {
        strata__sb_puts(&where, i || q->nconds ? " AND " : " WHERE ");
        resolve_col(b, sc, q->corr[i].inner, &where);
        strata__sb_puts(&where, " = ");
        if (!outer && !b->err)
            b->err = strata__session_error(b->q->s, STRATA_E_MISUSE,
                                           "%s query: correlated to an enclosing query, it can "
                                           "only run as a subquery",
                                           mi->m->name);
        else
            resolve_col(b, outer, q->corr[i].outer, &where);
    }
    /* What it selects.  A query of values, and a subquery, name theirs;
     * the count of a query of values counts its rows (after DISTINCT and
     * GROUP BY), selected in a subquery. */
    bool counted = sh == SHAPE_COUNT && q->ncolumns;
    bool values = sh == SHAPE_VALUES || (sh == SHAPE_KEYS && q->ncolumns) || counted;
    if (sh == SHAPE_KEYS && q->ncolumns != 1 && !b->err) {
        if (q->ncolumns > 1)
            b->err = strata__session_error(b->q->s, STRATA_E_MISUSE,
                                           "%s subquery of an IN: it selects %d columns; one is "
                                           "needed",
                                           mi->m->name, q->ncolumns);
        else if (mi->pk < 0)
            b->err = strata__session_error(b->q->s, STRATA_E_MISUSE,
                                           "%s subquery of an IN: name its column "
                                           "(strata_query_columns), the model's key is not one "
                                           "field",
                                           mi->m->name);
        else
            strata__sb_printf(&items, "%s.%s", sc->base, mi->qcols[mi->pk]);
    }
    /* A grouped query notes the columns it names outside aggregates, in
     * its columns, HAVING and ORDER BY, to check them against its GROUP BY
     * (grouped_check); a DISTINCT one where its columns and its ORDER BY
     * items lie in the SQL, to check the one against the other. */
    bool aggregated = (values || sub) && is_grouped(q);
    bool distinct_order = values && q->distinct && q->norders;
    /* The order a relationship gives its rows (strata_related_query) is
     * for its objects: in a grouped or distinct query of values it stays
     * where it may (rel_order_fits), and is left out, not refused, where
     * it may not. */
    bool rel_filter = (aggregated || q->distinct) && values;
    loose lc = {0};
    struct loose *outer_loose = b->loose;
    const scope *outer_scope = b->loose_scope;
    b->loose = aggregated ? &lc : NULL;
    b->loose_scope = sc;
    /* A subquery of an IN that names no column selects its key. */
    if (aggregated && sh == SHAPE_KEYS && !q->ncolumns && mi->pk >= 0 && !b->err)
        note_loose(b, sc->base, mi, mi->pk, mi->m->fields[mi->pk].name);
    spans cs = {0}, gs = {0}, os = {0};
    if ((distinct_order && !spans_init(&cs, q->ncolumns)) ||
        (aggregated && !spans_init(&gs, q->ngroups)) ||
        (distinct_order && !spans_init(&os, q->norders)))
        nomem(b);
    for (int i = 0; values && i < q->ncolumns && !b->err; i++) {
        if (i)
            strata__sb_puts(&items, ", ");
        b->col = sc == &b->top && !counted ? i : -1;
        spans_open(&cs, i, &items);
        resolve_col(b, sc, q->columns[i], &items);
        spans_close(&cs, i, items.len);
        b->col = -1;
    }
    if (sh == SHAPE_TUPLES) {
        strata__sb_puts(&items, mi->select);
        for (int i = 0; i < q->njoins && !b->err; i++) {
            const joined *jd = find_joined(sc, q->joins[i].path, strlen(q->joins[i].path));
            for (int f = 0; jd && f < jd->mi->nfields; f++)
                strata__sb_printf(&items, ", %s.%s", jd->sql, jd->mi->qcols[f]);
        }
    }
    bool grouped = sh == SHAPE_VALUES || sub || counted;
    b->loose = NULL; /* the groups themselves */
    for (int i = 0; grouped && i < q->ngroups && !b->err; i++) {
        strata__sb_puts(&groups, i ? ", " : " GROUP BY ");
        spans_open(&gs, i, &groups);
        resolve_col(b, sc, q->groups[i], &groups);
        spans_close(&gs, i, groups.len);
    }
    b->loose = aggregated ? &lc : NULL;
    for (int i = 0; grouped && i < q->nhavings && !b->err; i++) {
        strata__sb_puts(&groups, i ? " AND " : " HAVING ");
        render(b, sc, &groups, q->havings[i]);
    }
    bool ordered = sh == SHAPE_ROWS || sh == SHAPE_TUPLES || sh == SHAPE_VALUES ||
                   (sh == SHAPE_KEYS && (limit >= 0 || offset > 0));
    for (int i = 0, put = 0; ordered && i < q->norders && !b->err; i++) {
        if (rel_filter && i < q->rel_orders &&
            !rel_order_fits(b, sc, q, &q->orders[i], aggregated ? &gs : NULL, &groups,
                            q->distinct ? &cs : NULL, &items)) {
            if (os.v)
                os.v[i].start = SKIPPED;
            continue;
        }
        strata__sb_puts(&order, put++ ? ", " : " ORDER BY ");
        spans_open(&os, i, &order);
        order_item_sql(b, sc, &q->orders[i], &order, os.v ? &os.v[i].end : &(size_t){0});
    }
    b->loose = outer_loose;
    b->loose_scope = outer_scope;
    if (!b->err && aggregated)
        grouped_check(b, q, &lc, &gs, &groups);
    if (!b->err && distinct_order && ordered)
        distinct_check(b, q, &cs, &items, &os, &order);
    loose_free(&lc);
    free(cs.v);
    free(gs.v);
    free(os.v);
    bool paged = limit >= 0 || offset > 0;
    const char *from = sub ? " AS " : "";
    const char *alias = sub ? sc->base : "";
    if (counted)
        strata__sb_cat(sb, "SELECT count(*) FROM (SELECT ", q->distinct ? "DISTINCT " : "",
                       items.data ? items.data : "", " FROM ", mi->qtable, (char *)NULL);
    else if (sh == SHAPE_COUNT && paged)
        strata__sb_printf(sb, "SELECT count(*) FROM (SELECT %s.%s FROM %s", mi->qtable,
                          mi->pk >= 0 ? mi->qcols[mi->pk] : mi->qcols[0], mi->qtable);
    else if (sh == SHAPE_COUNT)
        strata__sb_printf(sb, "SELECT count(*) FROM %s", mi->qtable);
    else if (sh == SHAPE_EXISTS || sh == SHAPE_ANY)
        strata__sb_printf(sb, "SELECT 1 FROM %s%s%s", mi->qtable, from, alias);
    else if (sh == SHAPE_ROWS)
        strata__sb_cat(sb, "SELECT ", mi->select, " FROM ", mi->qtable, (char *)NULL);
    else
        strata__sb_cat(sb, "SELECT ", q->distinct && values ? "DISTINCT " : "",
                       items.data ? items.data : "", " FROM ", mi->qtable, from, alias,
                       (char *)NULL);
    strata__sb_puts(sb, sc->joins.data ? sc->joins.data : "");
    strata__sb_puts(sb, where.data ? where.data : "");
    strata__sb_puts(sb, groups.data ? groups.data : "");
    strata__sb_puts(sb, order.data ? order.data : "");
    if (sh == SHAPE_EXISTS) /* one row is enough, past the query's offset */
        limit = limit == 0 ? 0 : 1;
    if (limit >= 0) {
        strata__sb_puts(sb, " LIMIT ?");
        strata_value v = strata_int(limit);
        param(b, &v);
    } else if (offset > 0 && q->s->dl && q->s->dl->limit_all) {
        strata__sb_puts(sb, q->s->dl->limit_all);
    }
    if (offset > 0) {
        strata__sb_puts(sb, " OFFSET ?");
        strata_value v = strata_int(offset);
        param(b, &v);
    }
    if (sh == SHAPE_COUNT && (paged || counted))
        strata__sb_puts(sb, ") AS strata_counted");
    /* Engines with row locks lock the rows read; the others (SQLite) lock
     * the whole database for the session's writing transaction, which
     * began with the write lock held: no other writer can change a row. */
    const strata_driver *drv = strata_db_driver(q->s->db);
    /* What has no rows of its own to lock (a count, an existence test,
     * aggregates, DISTINCT, groups) is refused on every engine, as
     * PostgreSQL refuses it: run unlocked, a read-modify-write on it
     * would lose another transaction's update.  The rows of the query's
     * table are locked, and, where a query of tuples or of values reads
     * them, those of its joins (strata_query_join); the nullable side of
     * an outer join has none to lock. */
    bool lockable = sh == SHAPE_ROWS || sh == SHAPE_TUPLES ||
                    (sh == SHAPE_VALUES && !aggregated && !q->distinct);
    if (q->for_update && !sub && !lockable && !b->err)
        b->err = strata__session_error(
            q->s, STRATA_E_MISUSE,
            "%s query: a count, an existence test, aggregates, DISTINCT or GROUP BY cannot lock "
            "rows (strata_query_for_update): lock the rows with a query of objects or of plain "
            "values first, in the same transaction",
            mi->m->name);
    bool lock_joins = sh == SHAPE_TUPLES || sh == SHAPE_VALUES; /* they read the joins' rows */
    for (int i = 0; q->for_update && lockable && lock_joins && i < q->njoins && !b->err; i++)
        if (q->joins[i].outer)
            b->err = strata__session_error(
                q->s, STRATA_E_MISUSE,
                "%s query: the outer join of %s cannot be locked (strata_query_for_update): its "
                "side may hold no row; join it as an inner join, or lock its rows apart",
                mi->m->name, q->joins[i].path);
    if (q->for_update && lockable && (drv->capabilities & STRATA_CAP_CONCURRENT_WRITERS)) {
        strata__sb_printf(sb, " FOR UPDATE OF %s", mi->qtable);
        for (int i = 0; lock_joins && i < q->njoins && !b->err; i++) {
            const joined *jd = find_joined(sc, q->joins[i].path, strlen(q->joins[i].path));
            if (jd)
                strata__sb_printf(sb, ", %s", jd->sql);
        }
        if (q->lock_flags & STRATA_LOCK_NOWAIT)
            strata__sb_puts(sb, " NOWAIT");
        else if (q->lock_flags & STRATA_LOCK_SKIP_LOCKED)
            strata__sb_puts(sb, " SKIP LOCKED");
    }
    /* A piece that ran out of memory holds what was written before: a
     * WHERE or ORDER BY cut short, which must not run. */
    if (where.failed || sc->joins.failed || order.failed || items.failed || groups.failed)
        nomem(b);
    strata__sb_free(&items);
    strata__sb_free(&groups);
    strata__sb_free(&order);
    strata__sb_free(&where);
}

/* The whole statement for `q` in `shape`; params in b, and b->top kept
 * (the caller frees it with build_free) for the joined objects' aliases. */
static char *build_sql(build *b, strata_query *q, shape sh, int64_t limit, int64_t offset)
{
    memset(b, 0, sizeof *b);
    b->q = q;
    b->mark = q->s->db->nerrors;
    b->col = -1;
    if (sh == SHAPE_VALUES && q->ncolumns &&
        !(b->want = calloc((size_t)q->ncolumns, sizeof *b->want))) {
        nomem(b);
        return NULL;
    }
    strata__sb sb;
    strata__sb_init(&sb);
    if (scope_init(b, &b->top, q->mi, true) == STRATA_OK)
        select_sql(b, &b->top, NULL, q, sh, limit, offset, &sb);
    char *sql = strata__sb_take(&sb);
    if (!sql)
        nomem(b);
    if (b->err) {
        free(sql);
        return NULL;
    }
    return sql;
}

static void build_free(build *b)
{
    scope_free(&b->top);
    free(b->params);
    b->params = NULL;
    for (size_t i = 0; i < b->nowned; i++)
        free(b->owned[i]);
    free(b->owned);
    b->owned = NULL;
    b->nowned = 0;
    free(b->want);
    b->want = NULL;
}

/* A statement that could not be built: its error, with a message. */
static int build_failed(strata_query *q, build *b)
{
    int rc = b->err ? b->err : STRATA_E_NOMEM;
    build_free(b);
    if (q->s->db->nerrors != b->mark)
        return rc; /* said while building */
    if (rc == STRATA_E_MISUSE)
        return strata__session_error(q->s, rc,
                                     "a condition of the %s query could not be built "
                                     "(NULL field, or a relationship without keys)",
                                     q->mi->m->name);
    if (rc == STRATA_E_NOMEM)
        return strata__session_error(q->s, rc, "out of memory building the %s query",
                                     q->mi->m->name);
    return strata__db_error_since(q->s->db, b->mark, rc);
}

/* Flush, begin, prepare and bind; for a query of values, *want (when
 * asked, the caller's to free) says what each column is read as. */
static int start_with(strata_query *q, shape sh, int64_t limit, int64_t offset, strata_stmt **st,
                      int **want)
{
    *st = NULL;
    int rc = strata_session_flush(q->s);
    if (rc == STRATA_OK)
        rc = strata__session_begin(q->s);
    if (rc != STRATA_OK)
        return rc;
    build b;
    char *sql = build_sql(&b, q, sh, limit, offset);
    if (!sql)
        return build_failed(q, &b);
    rc = strata_stmt_prepare(st, q->s->db, sql);
    free(sql);
    for (size_t i = 0; rc == STRATA_OK && i < b.nparams; i++)
        rc = strata_stmt_bind_value(*st, (int)i + 1, &b.params[i]);
    if (want) {
        *want = b.want;
        b.want = NULL;
    }
    build_free(&b);
    if (rc != STRATA_OK && *st) {
        strata_stmt_finalize(*st);
        *st = NULL;
    }
    return rc;
}

static int start(strata_query *q, shape sh, int64_t limit, int64_t offset, strata_stmt **st)
{
    return start_with(q, sh, limit, offset, st, NULL);
}

struct strata_tuples {
    int width;        /* 1 + the joins */
    size_t n, cap;    /* rows */
    strata_object **o; /* n * width; NULL where an outer join met no row */
};

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static int cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Eager loads for the objects of l, each once (a join may repeat them). */
static int load_related(strata_query *q, const strata_list *l, int64_t limit, int64_t offset)
{
    if (!q->nloads || !l->count)
        return STRATA_OK;
    strata_object **objs = (strata_object **)l->items;
    size_t n = l->count;
    strata_object **uniq = NULL;
    if (q->njoins) {
        if (!(uniq = malloc(n * sizeof *uniq)))
            return strata__session_error(q->s, STRATA_E_NOMEM, "out of memory");
        memcpy(uniq, objs, n * sizeof *uniq);
        qsort(uniq, n, sizeof *uniq, cmp_ptr);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (!k || uniq[k - 1] != uniq[i])
                uniq[k++] = uniq[i];
        objs = uniq;
        n = k;
    }
    /* Every row of the table, as of this transaction: no condition, join,
     * limit or offset left any out. */
    bool whole = !q->nconds && !q->njoins && limit < 0 && offset <= 0;
    int rc = STRATA_OK;
    for (int i = 0; rc == STRATA_OK && i < q->nloads; i++)
        rc = strata__relation_load_many(q->s, q->mi, q->loads[i], objs, n, whole);
    free(uniq);
    return rc;
}

/* The joined objects of the current row into tuple row `row`, from column
 * col on. */
static int load_joined(strata_query *q, strata_stmt *st, strata__minfo **ents,
                       strata_object **row)
{
    int col = q->mi->nfields;
    for (int k = 0; k < q->njoins; k++) {
        strata__minfo *e = ents[k];
        row[k + 1] = NULL;
        if (!strata_stmt_column_is_null(st, col + e->pkf[0])) {
            int rc = strata__session_load_row(q->s, e, st, col, q->for_update || q->reread,
                                              &row[k + 1]);
            if (rc != STRATA_OK)
                return rc;
        }
        col += e->nfields;
    }
    return STRATA_OK;
}

/* Run q: its objects into l and, for strata_query_tuples, each row's
 * objects into t. */
static int fetch_into(strata_query *q, int64_t limit, int64_t offset, strata_list *l,
                      strata_tuples *t)
{
    strata__minfo **ents = NULL;
    int rc = STRATA_OK;
    uint64_t mark = q->s->db->nerrors;
    if (t && q->njoins && !(ents = calloc((size_t)q->njoins, sizeof *ents)))
        return strata__session_error(q->s, STRATA_E_NOMEM, "out of memory");
    for (int k = 0; t && k < q->njoins && rc == STRATA_OK; k++)
        rc = relationship_path(q, q->joins[k].path, &ents[k]);
    strata_stmt *st = NULL;
    if (rc == STRATA_OK)
        rc = start(q, t ? SHAPE_TUPLES : SHAPE_ROWS, limit, offset, &st);
    while (rc == STRATA_OK && (rc = strata__stmt_step(st)) == STRATA_ROW) {
        strata_object *o;
        rc = strata__session_load_row(q->s, q->mi, st, 0, q->for_update || q->reread, &o);
        if (rc == STRATA_OK && !strata__list_push(l, o))
            rc = STRATA_E_NOMEM;
        if (rc != STRATA_OK || !t)
            continue;
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 16;
            strata_object **more = realloc(t->o, cap * (size_t)t->width * sizeof *more);
            if (!more) {
                rc = STRATA_E_NOMEM;
                continue;
            }
            t->o = more;
            t->cap = cap;
        }
        strata_object **row = t->o + t->n * (size_t)t->width;
        row[0] = o;
        rc = load_joined(q, st, ents, row);
        if (rc == STRATA_OK)
            t->n++;
    }
    strata_stmt_finalize(st);
    free(ents);
    if (rc == STRATA_DONE)
        rc = STRATA_OK;
    if (rc == STRATA_OK)
        rc = load_related(q, l, limit, offset);
    return rc == STRATA_E_NOMEM ? query_nomem_since(q, mark) : rc;
}

static int fetch(strata_query *q, int64_t limit, int64_t offset, strata_list **out)
{
    *out = NULL;
    strata_list *l = calloc(1, sizeof *l);
    if (!l)
        return strata__session_error(q->s, STRATA_E_NOMEM, "out of memory");
    int rc = fetch_into(q, limit, offset, l, NULL);
    if (rc != STRATA_OK) {
        strata_list_free(l);
        return rc;
    }
    *out = l;
    return STRATA_OK;
}

int strata_query_tuples(strata_query *q, strata_tuples **out)
{
    STRATA__CONFINE(q ? q->s->db : NULL, STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!q)
        return STRATA_E_MISUSE;
    strata_tuples *t = calloc(1, sizeof *t);
    strata_list *l = t ? calloc(1, sizeof *l) : NULL;
    if (!l) {
        free(t);
        return strata__session_error(q->s, STRATA_E_NOMEM, "out of memory");
    }
    t->width = 1 + q->njoins;
    int rc = fetch_into(q, q->limit, q->offset, l, t);
    strata_list_free(l);
    if (rc != STRATA_OK) {
        strata_tuples_free(t);
        return rc;
    }
    *out = t;
    return STRATA_OK;
}

size_t strata_tuples_count(const strata_tuples *t) { return t ? t->n : 0; }

int strata_tuples_width(const strata_tuples *t) { return t ? t->width : 0; }

void *strata_tuples_get(const strata_tuples *t, size_t row, int k)
{
    if (!t || row >= t->n || k < 0 || k >= t->width)
        return NULL;
    return t->o[row * (size_t)t->width + (size_t)k];
}

void strata_tuples_free(strata_tuples *t)
{
    if (!t)
        return;
    free(t->o);
    free(t);
}

struct strata_iter {
    strata_session *s; /* the query's (which the program may free before the iterator) */
    strata__minfo *mi;
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
        return strata__session_error(q->s, STRATA_E_NOMEM, "out of memory");
    it->s = q->s;
    it->mi = q->mi;
    int rc = start(q, SHAPE_ROWS, q->limit, q->offset, &it->st);
    if (rc == STRATA_OK)
        rc = strata_stmt_stream(it->st);
    uint64_t mark = q->s->db->nerrors;
    if (rc == STRATA_OK && !(it->obj = strata__object_alloc(q->s, q->mi)))
        rc = strata__db_error_since(q->s->db, mark, STRATA_E_NOMEM);
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
    STRATA__CONFINE(it ? it->s->db : NULL, STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *(void **)out = NULL;
    if (!it)
        return STRATA_E_MISUSE;
    if (it->done)
        return STRATA_DONE;
    int rc = strata__stmt_step(it->st);
    if (rc != STRATA_ROW) {
        it->done = true;
        strata_stmt_reset(it->st);
        return rc;
    }
    /* Another row: what the object's relationships held was the last
     * row's (a many-to-one found in the identity map, a collection). */
    struct strata__object *p = it->obj->priv;
    for (int r = 0; p->rels && r < p->mi->nrels; r++) {
        strata__relcache_forget(&p->rels[r]);
        p->rels[r].one_set = false;
    }
    int bad;
    uint64_t mark = it->s->db->nerrors;
    if ((rc = strata__read_fields(it->st, it->obj, &bad)) != STRATA_OK) {
        it->done = true;
        strata_stmt_reset(it->st);
        return strata__field_failed(it->s, it->mi, bad, rc, mark);
    }
    *(void **)out = it->obj;
    return STRATA_ROW;
}

void strata_iter_free(strata_iter *it)
{
    STRATA__CONFINE_VOID(it ? it->s->db : NULL);
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
    /* Within the query's own limit: first of none is none, one of one
     * is that one. */
    if (q->limit >= 0 && q->limit < limit)
        limit = q->limit;
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
    rc = strata__stmt_step(st);
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
    /* A query of values has a row for each group or distinct value: one
     * is counted, as strata_query_count counts them. */
    int rc = q->ncolumns ? scalar(q, SHAPE_COUNT, q->limit == 0 ? 0 : 1, q->offset, &v)
                         : scalar(q, SHAPE_EXISTS, q->limit, q->offset, &v);
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

strata_query *strata__query_for_relation(strata_object *o, const strata_relation *r, bool live)
{
    strata_session *s = o->priv->mi->s;
    strata__minfo *mi = o->priv->mi;
    strata_query *q = strata_query_new(s, r->target);
    if (!q)
        return NULL;
    /* An object not inserted yet has no key to name its rows by: the
     * query's autoflush, brought forward, gives it one. */
    if (o->priv->state == OBJ_PENDING && s->has_pending) {
        int rc = strata_session_flush(s);
        if (rc != STRATA_OK) {
            query_keep(q, rc);
            return q;
        }
    }
    /* A deleted object's row is the one its key had when loaded (the
     * flush deletes that one, and its cascade loads that one's children);
     * any other's key is sent by the query's autoflush first.  A `live`
     * query (the program's, which it may keep) reads an object of the
     * session's key again as it runs (owner_key); a row of a stream,
     * which the stream reuses, is named now. */
    strata_value v = strata_int(o->priv->state == OBJ_DELETED ? strata__row_pk(o) : strata__pk(o));
    if (r->kind == STRATA_MANY_TO_MANY) {
        strata__minfo *si = strata__minfo_get(s, r->secondary);
        strata__minfo *ti = q->mi;
        int lk = si ? strata__field_index(si, r->local_key) : -1;
        int rk = si ? strata__field_index(si, r->remote_key) : -1;
        if (lk < 0 || rk < 0 || ti->pk < 0) {
            query_keep(q, strata__session_error(s, STRATA_E_SCHEMA,
                                                "relationship %s.%s: its association keys are "
                                                "not fields of %s",
                                                mi->m->name, r->name,
                                                r->secondary ? r->secondary->name : "?"));
            return q;
        }
        strata__sb sb;
        strata__sb_init(&sb);
        strata__sb_printf(&sb, "%s.%s IN (SELECT %s FROM %s WHERE %s = ?)", ti->qtable,
                          ti->qcols[ti->pk], si->qcols[rk], si->qtable, si->qcols[lk]);
        char *sql = strata__sb_take(&sb);
        if (sql)
            strata_query_filter(q, strata_c_raw(sql, &v, 1));
        else
            query_nomem(q);
        free(sql);
    } else {
        strata_query_filter(q, strata_c(r->fk, STRATA_EQ, v));
    }
    /* The condition is the query's first when it was taken. */
    if (live && o->priv->in_arena && !q->err && q->nconds == 1) {
        q->owner = o;
        q->owner_cond = q->conds[0];
    }
    if (r->order_by) {
        const char *of = r->order_by[0] == '-' ? r->order_by + 1 : r->order_by;
        strata_query_order_by(q, of, r->order_by[0] == '-' ? STRATA_DESC : STRATA_ASC);
        /* Rows of equal values in the order in the key's, as an eager
         * load sorts them (load_children). */
        const strata__minfo *ti = q->mi;
        if (ti && ti->pk >= 0 && strcmp(of, ti->m->fields[ti->pk].name) != 0)
            strata_query_order_by(q, ti->m->fields[ti->pk].name, STRATA_ASC);
        q->rel_orders = q->norders;
    }
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
            return query_keep(q, strata__session_error(q->s, STRATA_E_MISUSE,
                                                  "%s query: an empty item in '%s'",
                                                  q->mi->m->name, list));
        char **more = realloc(*v, (size_t)(*n + 1) * sizeof *more);
        char *item = more ? strata__strndup(start, (size_t)(end - start)) : NULL;
        if (more)
            *v = more;
        if (!item)
            return query_nomem(q);
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
    return push_cond(q, q ? &q->havings : NULL, q ? &q->nhavings : NULL, c);
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

/* A column's value v read as `want` says (WANT_AS_IS: as it is). */
static int read_as(strata_value *v, int want)
{
    if (want == WANT_TIMESTAMP && v->type == STRATA_TYPE_TEXT) {
        strata_timestamp ts;
        if (strata_timestamp_parse(&ts, v->u.buf.ptr, v->u.buf.len) != STRATA_OK)
            return STRATA_OK; /* left as the engine gave it */
        free((void *)v->u.buf.ptr);
        v->type = STRATA_TYPE_TIMESTAMP;
        v->u.ts = ts;
    } else if (want >= WANT_NUMERIC &&
               (v->type == STRATA_TYPE_DOUBLE || v->type == STRATA_TYPE_INT64)) {
        int scale = want - WANT_NUMERIC - 1;
        char buf[400];
        int n;
        if (v->type == STRATA_TYPE_INT64) {
            n = snprintf(buf, sizeof buf, "%" PRId64, v->u.i);
            if (scale > 0)
                buf[n++] = '.';
            for (int z = 0; z < scale && n + 1 < (int)sizeof buf; z++)
                buf[n++] = '0';
            buf[n] = '\0';
        } else {
            if (strata_driver_format_decimal(v->u.d, scale, buf, sizeof buf) != STRATA_OK)
                return STRATA_OK; /* past the buffer: the float stays */
            n = (int)strlen(buf);
        }
        char *copy = strata__strndup(buf, (size_t)n);
        if (!copy)
            return STRATA_E_NOMEM;
        v->type = STRATA_TYPE_TEXT;
        v->u.buf.ptr = copy;
        v->u.buf.len = (size_t)n;
    }
    return STRATA_OK;
}

/* Copy the statement's current row into r, each column read as want[c]
 * says (want may be NULL). */
static int rows_take(strata_rows *r, strata_stmt *st, const int *want)
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
        if (rc == STRATA_OK && want && want[c])
            rc = read_as(&row[c], want[c]);
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
    uint64_t mark = q->s->db->nerrors;
    int *want = NULL;
    int rc = start_with(q, SHAPE_VALUES, q->limit, q->offset, &st, &want);
    while (rc == STRATA_OK) {
        int step = strata__stmt_step(st);
        if (step == STRATA_DONE)
            break;
        rc = step == STRATA_ROW ? rows_take(r, st, want) : step;
    }
    free(want);
    strata_stmt_finalize(st);
    if (rc != STRATA_OK) {
        strata_rows_free(r);
        return rc == STRATA_E_NOMEM ? query_nomem_since(q, mark) : rc;
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
    int nsaved = q->ncolumns, norders = q->norders;
    q->columns = NULL;
    q->ncolumns = 0;
    /* Without groups the aggregate is one row, which the query's order
     * does not sort: left out, as PostgreSQL refuses an order by a column
     * the aggregate does not group (a listing's query reused to sum). */
    if (!q->ngroups && strchr(expr, '('))
        q->norders = 0;
    int rc = push_list(q, expr, &q->columns, &q->ncolumns);
    if (rc == STRATA_OK)
        rc = strata_query_rows(q, rows);
    q->norders = norders;
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

/* ---- bulk update and delete ---------------------------------------------- */

/* What a bulk change has no room for. */
static int bulk_refused(strata_query *q, const char *what)
{
    if (q->s->read_only)
        return strata__session_error(q->s, STRATA_E_READONLY,
                                     "the session is read-only: a bulk %s cannot run", what);
    /* The relationship's own order is no order the program asked for. */
    if (q->limit >= 0 || q->offset > 0 || q->norders > q->rel_orders || q->ncolumns || q->ngroups ||
        q->nhavings || q->distinct || q->ncorr)
        return strata__session_error(q->s, STRATA_E_MISUSE,
                                     "%s query: a bulk %s takes conditions only (no limit, "
                                     "offset, order, columns, groups or correlation)",
                                     q->mi->m->name, what);
    return STRATA_OK;
}

/* The rows a bulk change meets.  For a model keyed by one field:
 * *keys_sql is "SELECT key FROM ... WHERE ..." (joins and all), with the
 * rows locked where the engine locks rows.  For the others: *where is
 * " WHERE ..." on the table as it is (conditions needing joins are
 * refused).  Params in b. */
static int bulk_where(build *b, strata_query *q, char **where, char **keys_sql)
{
    memset(b, 0, sizeof *b);
    b->q = q;
    b->mark = q->s->db->nerrors;
    b->col = -1;
    *where = *keys_sql = NULL;
    strata__minfo *mi = q->mi;
    strata__sb conds, out;
    strata__sb_init(&conds);
    strata__sb_init(&out);
    if (q->err)
        b->err = query_failed_before(b, q);
    owner_key(b, q);
    if (scope_init(b, &b->top, mi, true) == STRATA_OK)
        join_all(b, &b->top, q);
    for (int i = 0; i < q->nconds && !b->err; i++) {
        strata__sb_puts(&conds, i ? " AND " : " WHERE ");
        render(b, &b->top, &conds, q->conds[i]);
    }
    const char *cs = conds.data ? conds.data : "";
    const char *js = b->top.joins.data ? b->top.joins.data : "";
    const strata_driver *drv = strata_db_driver(q->s->db);
    if (!b->err && mi->pk >= 0) {
        strata__sb_printf(&out, "SELECT %s.%s FROM %s%s%s", mi->qtable, mi->qcols[mi->pk],
                          mi->qtable, js, cs);
        if (drv->capabilities & STRATA_CAP_CONCURRENT_WRITERS)
            strata__sb_printf(&out, " FOR UPDATE OF %s", mi->qtable);
    } else if (!b->err && b->top.joins.len) {
        b->err = strata__session_error(q->s, STRATA_E_MISUSE,
                                       "%s query: its key is not one field, so a bulk change "
                                       "cannot go through relationships",
                                       mi->m->name);
    } else if (!b->err) {
        strata__sb_puts(&out, cs);
    }
    if (conds.failed || b->top.joins.failed)
        nomem(b);
    strata__sb_free(&conds);
    char *text = strata__sb_take(&out);
    if (!b->err && !text)
        nomem(b);
    if (b->err)
        free(text);
    else if (mi->pk >= 0)
        *keys_sql = text;
    else
        *where = text;
    return b->err;
}

/* Run sql: bind the `nset` fields of `set_from`, then params[0..np); the
 * first column of each row it returns goes to *rows (when rows is not
 * NULL); the rows it changed are added to *changed. */
static int bulk_exec(strata_query *q, const char *sql, strata_object *set_from, const int *set,
                     int nset, const strata_value *params, size_t np, int64_t **rows,
                     size_t *nrows, int64_t *changed)
{
    strata_stmt *st = NULL;
    int rc = strata_stmt_prepare(&st, q->s->db, sql);
    for (int i = 0; rc == STRATA_OK && i < nset; i++)
        rc = strata__bind_field(st, i + 1, set_from, set[i]);
    for (size_t i = 0; rc == STRATA_OK && i < np; i++)
        rc = strata_stmt_bind_value(st, nset + (int)i + 1, &params[i]);
    size_t cap = rows ? *nrows : 0;
    while (rc == STRATA_OK && (rc = strata__stmt_step(st)) == STRATA_ROW) {
        rc = STRATA_OK;
        if (!rows)
            continue;
        if (*nrows == cap) {
            cap = cap ? cap * 2 : 64;
            int64_t *more = realloc(*rows, cap * sizeof *more);
            if (!more) {
                rc = strata__session_error(q->s, STRATA_E_NOMEM, "out of memory");
                break;
            }
            *rows = more;
        }
        rc = strata_stmt_column_int64(st, 0, &(*rows)[(*nrows)++]);
    }
    if (rc == STRATA_DONE) {
        rc = STRATA_OK;
        *changed += strata_stmt_changes(st);
    }
    strata_stmt_finalize(st);
    return rc;
}

/* Take o out of the session's view of the database: its row is gone. */
static int detach_gone(strata_object *o)
{
    int rc = strata__savepoint_note(o);
    if (rc != STRATA_OK)
        return rc;
    strata__identity_remove(o->priv->mi, o);
    o->priv->state = OBJ_DETACHED;
    o->priv->deleted_in_tx = true;
    return STRATA_OK;
}

/* Read the rows of objs again (in batches of keys): each one found is
 * refreshed, each one not found is detached.  Their values at the last
 * commit stay what they were: the rows now hold this transaction's
 * writes, which a rollback undoes. */
static int reread_objects(strata_session *s, strata__minfo *mi, strata_object **objs, size_t n)
{
    enum { BATCH = 500 };
    int rc = STRATA_OK;
    if (mi->pk < 0) {
        for (size_t i = 0; i < n && rc == STRATA_OK; i++) {
            rc = strata__savepoint_note(objs[i]);
            if (rc == STRATA_OK &&
                (rc = strata__session_reread(objs[i], false)) == STRATA_E_NOT_FOUND)
                rc = detach_gone(objs[i]); /* reread detached it: recorded, as deleted */
        }
        return rc;
    }
    strata_value *keys = malloc(BATCH * sizeof *keys);
    if (!keys)
        return strata__session_error(s, STRATA_E_NOMEM, "out of memory");
    for (size_t at = 0; at < n && rc == STRATA_OK; at += BATCH) {
        size_t m = n - at < BATCH ? n - at : BATCH;
        for (size_t i = 0; i < m; i++)
            keys[i] = strata_int(*(int64_t *)strata__field_ptr(objs[at + i], mi->pk));
        strata_query *q = strata_query_new(s, mi->m);
        strata_list *found = NULL;
        if (!q)
            rc = strata__session_error(s, STRATA_E_NOMEM, "out of memory");
        if (rc == STRATA_OK) {
            q->reread = true;
            rc = strata_query_filter(q, strata_c_in(mi->m->fields[mi->pk].name, keys, m));
        }
        if (rc == STRATA_OK)
            rc = strata_query_all(q, &found);
        strata_query_free(q);
        if (rc == STRATA_OK && found->count)
            qsort(found->items, found->count, sizeof *found->items, cmp_ptr);
        for (size_t i = 0; i < m && rc == STRATA_OK; i++)
            if (!found->count || !bsearch(&objs[at + i], found->items, found->count,
                                          sizeof *found->items, cmp_ptr))
                rc = detach_gone(objs[at + i]);
        strata_list_free(found);
    }
    free(keys);
    return rc;
}

/* The objects of mi the session holds as rows of the database: every
 * one (`all`), or those with one of keys[0..nkeys). */
static int held(strata_session *s, strata__minfo *mi, bool all, const int64_t *keys,
                size_t nkeys, strata_object ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = all ? s->nobjs : nkeys;
    if (!cap)
        return STRATA_OK;
    strata_object **v = malloc(cap * sizeof *v);
    if (!v)
        return strata__session_error(s, STRATA_E_NOMEM, "out of memory");
    for (size_t i = 0; i < cap; i++) {
        strata_object *o = all ? s->objs[i] : strata__identity_find(mi, keys[i]);
        if (o && o->priv->mi == mi && o->priv->state == OBJ_PERSISTENT && o->priv->loaded)
            v[(*n)++] = o;
    }
    *out = v;
    return STRATA_OK;
}

/* Objects about to be changed by a bulk statement must hold values from
 * this transaction first: an object from an earlier one is read again now,
 * while its row is what was committed, so that the values a rollback puts
 * back are committed ones, not the statement's. */
static int make_current(strata_session *s, strata__minfo *mi, bool all, const int64_t *keys,
                        size_t nkeys)
{
    strata_object **objs;
    size_t n, k = 0;
    int rc = held(s, mi, all, keys, nkeys, &objs, &n);
    for (size_t i = 0; rc == STRATA_OK && i < n; i++)
        if (!strata__object_current(objs[i]))
            objs[k++] = objs[i];
    if (rc == STRATA_OK)
        rc = reread_objects(s, mi, objs, k);
    free(objs);
    return rc;
}

/* Read again every object the session holds of mi. */
static int reread_all(strata_session *s, strata__minfo *mi)
{
    strata_object **objs;
    size_t n;
    int rc = held(s, mi, true, NULL, 0, &objs, &n);
    if (rc == STRATA_OK)
        rc = reread_objects(s, mi, objs, n);
    free(objs);
    return rc;
}

/* The strongest rule by which a foreign key of mj's follows deletes of
 * mi's rows: STRATA_FK_CASCADE (mj's rows go too), STRATA_FK_SET_NULL or
 * _SET_DEFAULT (they change), else STRATA_FK_NO_ACTION. */
static strata_fk_action follows_deletes(const strata__minfo *mj, const strata__minfo *mi)
{
    size_t len = strlen(mi->table);
    strata_fk_action rule = STRATA_FK_NO_ACTION;
    for (int f = 0; f < mj->nfields; f++) {
        const strata_field *fd = &mj->m->fields[f];
        if (!fd->foreign_key || strncmp(fd->foreign_key, mi->table, len) ||
            fd->foreign_key[len] != '.')
            continue;
        if (fd->on_delete == STRATA_FK_CASCADE)
            rule = STRATA_FK_CASCADE;
        else if ((fd->on_delete == STRATA_FK_SET_NULL || fd->on_delete == STRATA_FK_SET_DEFAULT) &&
                 rule != STRATA_FK_CASCADE)
            rule = fd->on_delete;
    }
    return rule;
}

bool *strata__reached_by_deletes(strata_session *s, strata__minfo *mi)
{
    bool *reached = calloc((size_t)s->nmodels + 1, sizeof *reached);
    bool *deleted = calloc((size_t)s->nmodels + 1, sizeof *deleted);
    if (!reached || !deleted) {
        free(reached);
        free(deleted);
        return NULL;
    }
    for (int m = 0; m < s->nmodels; m++)
        deleted[m] = s->models[m] == mi;
    for (bool more = true; more;) {
        more = false;
        for (int from = 0; from < s->nmodels; from++) {
            if (!deleted[from])
                continue;
            for (int m = 0; m < s->nmodels; m++) {
                strata_fk_action rule = follows_deletes(s->models[m], s->models[from]);
                if (rule == STRATA_FK_NO_ACTION)
                    continue;
                reached[m] = true;
                if (rule == STRATA_FK_CASCADE && !deleted[m])
                    deleted[m] = more = true;
            }
        }
    }
    free(deleted);
    return reached;
}

/* Bring the session's objects in line with a bulk change of mi's rows:
 * keys[0..nkeys) when `known` (else every object of mi is read again);
 * after a delete, the objects of the `reached` models too. */
static int bulk_sync(strata_session *s, strata__minfo *mi, bool deleted, bool known,
                     const int64_t *keys, size_t nkeys, const bool *reached)
{
    strata_object **objs = NULL;
    size_t n = 0;
    int rc = known ? held(s, mi, false, keys, nkeys, &objs, &n) : reread_all(s, mi);
    if (rc == STRATA_OK && known && deleted) {
        for (size_t i = 0; i < n && rc == STRATA_OK; i++)
            rc = detach_gone(objs[i]);
    } else if (rc == STRATA_OK && known) {
        rc = reread_objects(s, mi, objs, n);
    }
    free(objs);
    /* Rows the database's own rules deleted or changed with them: of mi
     * itself (a tree) or of models its rows are reached from. */
    for (int m = 0; reached && rc == STRATA_OK && m < s->nmodels; m++)
        if (reached[m] && (known || s->models[m] != mi))
            rc = reread_all(s, s->models[m]);
    for (size_t i = 0; i < s->nobjs; i++)
        strata__relation_settle(s->objs[i], NULL);
    return rc;
}

/* The statements of a bulk change of the rows keyed keys[0..n), in
 * batches: the association rows of a deleted row first, then the UPDATE
 * or DELETE itself. */
static int bulk_by_keys(strata_query *q, strata_object *set_from, const int *set, int nset,
                        const int64_t *keys, size_t n, int64_t *changed)
{
    enum { BATCH = 500 };
    strata_session *s = q->s;
    strata__minfo *mi = q->mi;
    strata_value *vals = malloc(BATCH * sizeof *vals);
    if (!vals)
        return strata__session_error(s, STRATA_E_NOMEM, "out of memory");
    int rc = STRATA_OK;
    for (size_t at = 0; at < n && rc == STRATA_OK; at += BATCH) {
        size_t m = n - at < BATCH ? n - at : BATCH;
        strata__sb in;
        strata__sb_init(&in);
        for (size_t i = 0; i < m; i++) {
            strata__sb_puts(&in, i ? ", ?" : "?");
            vals[i] = strata_int(keys[at + i]);
        }
        for (int r = 0; !nset && r < mi->nrels && rc == STRATA_OK; r++) {
            const strata_relation *rel = &mi->m->relations[r];
            if (rel->kind != STRATA_MANY_TO_MANY)
                continue;
            strata__minfo *si = strata__minfo_get(s, rel->secondary);
            int lk = si ? strata__field_index(si, rel->local_key) : -1;
            if (lk < 0) {
                rc = strata__session_error(s, STRATA_E_SCHEMA,
                                           "relationship %s.%s: %s has no key %s", mi->m->name,
                                           rel->name, rel->secondary ? rel->secondary->name : "?",
                                           rel->local_key ? rel->local_key : "?");
                break;
            }
            strata__sb sql;
            strata__sb_init(&sql);
            strata__sb_printf(&sql, "DELETE FROM %s WHERE %s IN (%s)", si->qtable, si->qcols[lk],
                              in.data);
            int64_t links = 0;
            rc = sql.failed || in.failed
                     ? strata__session_error(s, STRATA_E_NOMEM, "out of memory")
                     : bulk_exec(q, sql.data, NULL, NULL, 0, vals, m, NULL, NULL, &links);
            strata__sb_free(&sql);
        }
        strata__sb sql;
        strata__sb_init(&sql);
        if (nset) {
            strata__sb_printf(&sql, "UPDATE %s SET ", mi->qtable);
            for (int i = 0; i < nset; i++)
                strata__sb_printf(&sql, "%s%s = ?", i ? ", " : "", mi->qcols[set[i]]);
        } else {
            strata__sb_printf(&sql, "DELETE FROM %s", mi->qtable);
        }
        strata__sb_printf(&sql, " WHERE %s IN (%s)", mi->qcols[mi->pk], in.data);
        if (rc == STRATA_OK)
            rc = sql.failed || in.failed
                     ? strata__session_error(s, STRATA_E_NOMEM, "out of memory")
                     : bulk_exec(q, sql.data, set_from, set, nset, vals, m, NULL, NULL, changed);
        strata__sb_free(&sql);
        strata__sb_free(&in);
    }
    free(vals);
    return rc;
}

/* UPDATE (nset > 0) or DELETE of q's rows inside a savepoint, then the
 * session brought in line.  For a model keyed by one field the keys are
 * read (and locked) first, so every statement after meets the same rows,
 * whatever the conditions go through, and the session knows which. */
static int bulk(strata_query *q, strata_object *set_from, const int *set, int nset,
                int64_t *count)
{
    strata_session *s = q->s;
    strata__minfo *mi = q->mi;
    const char *what = nset ? "update" : "delete";
    int rc = strata_session_flush(s);
    if (rc == STRATA_OK)
        rc = strata__session_begin(s);
    if (rc != STRATA_OK)
        return rc;
    build b;
    char *where, *keys_sql;
    if (bulk_where(&b, q, &where, &keys_sql) != STRATA_OK)
        return build_failed(q, &b);
    int64_t *keys = NULL, changed = 0;
    size_t nkeys = 0;
    /* The models a delete reaches through ON DELETE rules: their objects
     * are made current first and read again after, as mi's are. */
    bool *reached = nset ? NULL : strata__reached_by_deletes(s, mi);
    if (!nset && !reached) {
        rc = strata__session_error(s, STRATA_E_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = strata__db_savepoint(s->db)) != STRATA_OK)
        goto out;
    if (keys_sql) {
        rc = bulk_exec(q, keys_sql, NULL, NULL, 0, b.params, b.nparams, &keys, &nkeys, &changed);
        changed = 0;
        /* A join through a collection gives a row's key once per match. */
        if (rc == STRATA_OK && nkeys > 1) {
            qsort(keys, nkeys, sizeof *keys, cmp_int64);
            size_t k = 1;
            for (size_t i = 1; i < nkeys; i++)
                if (keys[i] != keys[k - 1])
                    keys[k++] = keys[i];
            nkeys = k;
        }
    }
    bool none = keys_sql && nkeys == 0; /* nothing matched: nothing to bring in line */
    if (rc == STRATA_OK && nset && !none)
        rc = make_current(s, mi, !keys_sql, keys, nkeys);
    for (int m = 0; reached && !none && rc == STRATA_OK && m < s->nmodels; m++)
        if (reached[m])
            rc = make_current(s, s->models[m], true, NULL, 0);
    if (keys_sql && rc == STRATA_OK) {
        rc = bulk_by_keys(q, set_from, set, nset, keys, nkeys, &changed);
    } else if (!keys_sql) {
        strata__sb sql;
        strata__sb_init(&sql);
        if (nset) {
            strata__sb_printf(&sql, "UPDATE %s SET ", mi->qtable);
            for (int i = 0; i < nset; i++)
                strata__sb_printf(&sql, "%s%s = ?", i ? ", " : "", mi->qcols[set[i]]);
        } else {
            strata__sb_printf(&sql, "DELETE FROM %s", mi->qtable);
        }
        strata__sb_puts(&sql, where);
        if (rc == STRATA_OK && b.nparams + (size_t)nset > STATEMENT_VALUES)
            rc = strata__session_error(s, STRATA_E_RANGE,
                                       "%s query: the update binds %zu values in one statement; "
                                       "at most %d (PostgreSQL's limit, kept on every engine)",
                                       mi->m->name, b.nparams + (size_t)nset, STATEMENT_VALUES);
        if (rc == STRATA_OK)
            rc = sql.failed ? strata__session_error(s, STRATA_E_NOMEM, "out of memory")
                            : bulk_exec(q, sql.data, set_from, set, nset, b.params, b.nparams,
                                        NULL, NULL, &changed);
        strata__sb_free(&sql);
    }
    /* A release that fails (a cancel) takes the change back as any
     * failure does: no object followed it yet. */
    if (rc == STRATA_OK)
        rc = strata__db_savepoint_end(s->db, true);
    if (rc != STRATA_OK)
        rc = strata__db_savepoint_undo(s->db, rc);
    if (rc != STRATA_OK)
        strata__db_error_context(s->db, "bulk %s of %s", what, mi->m->name);
    /* The rows changed: the objects follow, even should that fail (the
     * session then says to roll back). */
    if (rc == STRATA_OK && !none &&
        (rc = bulk_sync(s, mi, !nset, keys_sql != NULL, keys, nkeys, reached)) != STRATA_OK)
        strata__db_error_context(s->db,
                                 "the bulk %s of %s ran, but the session's objects could not all "
                                 "be brought in line (roll the session back)",
                                 what, mi->m->name);
    if (rc == STRATA_OK && count)
        *count = changed;
out:
    free(reached);
    free(keys);
    free(where);
    free(keys_sql);
    build_free(&b);
    return rc;
}

int strata_query_update(strata_query *q, const strata_assign *set, size_t n, int64_t *count)
{
    STRATA__CONFINE(q ? q->s->db : NULL, STRATA_E_MISUSE);
    if (count)
        *count = 0;
    if (!q || (!set && n))
        return STRATA_E_MISUSE;
    strata__minfo *mi = q->mi;
    int rc = bulk_refused(q, "update");
    if (rc != STRATA_OK)
        return rc;
    if (n == 0 || n > (size_t)mi->nfields)
        return strata__session_error(q->s, STRATA_E_MISUSE,
                                     "%s query: a bulk update sets 1 to %d fields, not %zu",
                                     mi->m->name, mi->nfields, n);
    uint64_t mark = q->s->db->nerrors;
    int *fields = calloc((size_t)mi->nfields + 1, sizeof *fields);
    strata_object *from = fields ? strata__object_alloc(q->s, mi) : NULL;
    if (!from) {
        free(fields);
        return strata__db_error_since(q->s->db, mark, STRATA_E_NOMEM);
    }
    /* Each value checked as a flush checks it, in a scratch object. */
    int nset = 0;
    for (size_t i = 0; i < n && rc == STRATA_OK; i++) {
        const char *name = set[i].field ? set[i].field : "(null)";
        int f = set[i].field ? strata__field_index(mi, set[i].field) : -1;
        strata__cell c;
        if (f < 0) {
            rc = strata__session_error(q->s, STRATA_E_UNDEFINED_COLUMN,
                                       "%s has no field '%s' to update", mi->m->name, name);
            break;
        }
        for (int j = 0; j < nset; j++)
            if (fields[j] == f)
                rc = strata__session_error(q->s, STRATA_E_MISUSE,
                                           "%s query: bulk update sets %s twice", mi->m->name,
                                           name);
        if (rc == STRATA_OK && strata__is_key_field(mi, f))
            rc = strata__session_error(q->s, STRATA_E_MISUSE,
                                       "%s query: a bulk update cannot change the key field %s",
                                       mi->m->name, name);
        if (rc != STRATA_OK)
            break;
        const strata_field *fd = &mi->m->fields[f];
        fields[nset++] = f;
        if (set[i].value.type == STRATA_TYPE_NULL) {
            memset(&c, 0, sizeof c);
            c.null = true;
        } else if (!strata__cell_from_value(fd, &set[i].value, &c)) {
            rc = strata__session_error(q->s, STRATA_E_MISUSE,
                                       "%s query: the value for %s.%s is not %s", mi->m->name,
                                       mi->m->name, name, strata__ctype_name(fd->ctype));
            break;
        }
        if (strata__set_field(from, f, &c) != STRATA_OK)
            rc = strata__session_error(q->s, STRATA_E_NOMEM, "out of memory");
        else
            rc = strata__validate_field(from, f, false);
    }
    /* Fields with an onupdate function take its value, as in every
     * UPDATE of an object, unless the caller set them. */
    for (int f = 0; f < mi->nfields && rc == STRATA_OK; f++) {
        bool given = false;
        for (int j = 0; j < nset; j++)
            given |= fields[j] == f;
        if (given || !mi->m->fields[f].onupdate || strata__is_key_field(mi, f))
            continue;
        mi->m->fields[f].onupdate(strata__field_ptr(from, f));
        strata__set_null(from, f, false);
        fields[nset++] = f;
        rc = strata__validate_field(from, f, false);
    }
    if (rc == STRATA_OK)
        rc = bulk(q, from, fields, nset, count);
    strata__object_free(from);
    free(fields);
    return rc;
}

int strata_query_delete(strata_query *q, int64_t *count)
{
    STRATA__CONFINE(q ? q->s->db : NULL, STRATA_E_MISUSE);
    if (count)
        *count = 0;
    if (!q)
        return STRATA_E_MISUSE;
    int rc = bulk_refused(q, "delete");
    return rc != STRATA_OK ? rc : bulk(q, NULL, NULL, 0, count);
}
