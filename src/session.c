/*
 * session.c - the unit of work: objects and their states, the identity
 * map, flush (validate, insert in multi-row batches with RETURNING, update
 * changed columns, delete children first), commit and rollback with the
 * objects' values restored, get by key, refresh.
 *
 * An object is transient (made, not added), pending (added, not yet
 * inserted), persistent (in the database and the identity map), deleted
 * (marked or flushed as deleted) or detached (its delete committed).  Every
 * object stays in the session's memory until strata_session_free().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orm_internal.h"

#define BATCH_ROWS 500
#define BATCH_PARAMS 30000 /* under SQLite's 32766 and PostgreSQL's 65535 */

bool strata__is_pg(const strata_session *s)
{
    return strcmp(strata_db_backend(s->db), "postgresql") == 0;
}

int strata__session_error(strata_session *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = strata__vformat(fmt, ap);
    va_end(ap);
    strata__db_error(s->db, code, "%s", msg ? msg : strata_errstr(code));
    free(msg);
    return code;
}

const char *strata_session_errmsg(const strata_session *s)
{
    return s ? strata_db_errmsg(s->db) : "";
}
strata_db *strata_session_db(const strata_session *s) { return s ? s->db : NULL; }

int strata_session_new(strata_session **out, strata_db *db)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!db)
        return STRATA_E_MISUSE;
    strata_session *s = calloc(1, sizeof *s);
    if (!s)
        return STRATA_E_NOMEM;
    s->db = db;
    *out = s;
    return STRATA_OK;
}

void strata__object_free(strata_object *o)
{
    struct strata__object *p = o->priv;
    strata__fields_clear(o);
    if (p) {
        strata__cells_free(p->mi, p->loaded);
        strata__cells_free(p->mi, p->committed);
        for (int r = 0; p->rels && r < p->mi->nrels; r++)
            free(p->rels[r].list.items);
        free(p->rels);
        free(p);
    }
    free(o);
}

void strata_session_free(strata_session *s)
{
    if (!s)
        return;
    if (s->owns_tx && strata_db_in_transaction(s->db))
        strata_db_rollback(s->db);
    for (size_t i = 0; i < s->nobjs; i++)
        strata__object_free(s->objs[i]);
    free(s->objs);
    for (int i = 0; i < s->nmodels; i++)
        strata__minfo_free(s->models[i]);
    free(s->models);
    free(s->m2m);
    free(s);
}

int strata__session_begin(strata_session *s)
{
    if (strata_db_in_transaction(s->db))
        return STRATA_OK;
    int rc = strata_db_begin(s->db);
    if (rc == STRATA_OK)
        s->owns_tx = true;
    return rc;
}

/* ---- objects ----------------------------------------------------------- */

strata_object *strata__object_alloc(strata_session *s, strata__minfo *mi)
{
    if (!mi->m->size) {
        strata__session_error(s, STRATA_E_MISUSE, "model %s is an association table, not a struct",
                              mi->m->name);
        return NULL;
    }
    strata_object *o = calloc(1, mi->m->size);
    struct strata__object *p = o ? calloc(1, sizeof *p) : NULL;
    strata__relcache *rels = p && mi->nrels ? calloc((size_t)mi->nrels, sizeof *rels) : NULL;
    if (!p || (mi->nrels && !rels)) {
        free(o);
        free(p);
        free(rels);
        return NULL;
    }
    o->model = mi->m;
    o->priv = p;
    p->s = s;
    p->mi = mi;
    p->rels = rels;
    p->state = OBJ_TRANSIENT;
    return o;
}

static strata_object *object_new(strata_session *s, strata__minfo *mi)
{
    if (!mi->m->size) {
        strata__session_error(s, STRATA_E_MISUSE, "model %s is an association table, not a struct",
                              mi->m->name);
        return NULL;
    }
    if (s->nobjs == s->capobjs) {
        size_t cap = s->capobjs ? s->capobjs * 2 : 64;
        strata_object **n = realloc(s->objs, cap * sizeof *n);
        if (!n)
            return NULL;
        s->objs = n;
        s->capobjs = cap;
    }
    strata_object *o = strata__object_alloc(s, mi);
    if (o)
        s->objs[s->nobjs++] = o;
    return o;
}

int strata_new(strata_session *s, const strata_model *model, void *out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *(void **)out = NULL;
    if (!s || !model)
        return STRATA_E_MISUSE;
    strata__minfo *mi = strata__minfo_get(s, model);
    strata_object *o = mi ? object_new(s, mi) : NULL;
    if (!o)
        return strata_db_errcode(s->db) ? strata_db_errcode(s->db) : STRATA_E_NOMEM;
    *(void **)out = o;
    return STRATA_OK;
}

int strata_add(void *obj)
{
    strata_object *o = strata__as_object(obj);
    if (!o)
        return STRATA_E_MISUSE;
    struct strata__object *p = o->priv;
    if (p->state == OBJ_TRANSIENT) {
        p->state = OBJ_PENDING;
        p->added_in_tx = true;
        p->s->has_pending = true;
    } else if (p->state == OBJ_DELETED && p->deleted_in_tx) {
        p->state = OBJ_PERSISTENT;
        p->deleted_in_tx = false;
    } else if (p->state == OBJ_DETACHED) {
        return strata__session_error(p->s, STRATA_E_MISUSE,
                                     "%s was deleted; make a new object to insert it again",
                                     o->model->name);
    }
    return STRATA_OK;
}

int strata_delete(void *obj)
{
    strata_object *o = strata__as_object(obj);
    if (!o)
        return STRATA_E_MISUSE;
    struct strata__object *p = o->priv;
    if (p->state == OBJ_PENDING) {
        p->state = OBJ_TRANSIENT; /* never inserted: just forget it */
        p->added_in_tx = false;
        return STRATA_OK;
    }
    if (p->state != OBJ_PERSISTENT)
        return strata__session_error(p->s, STRATA_E_MISUSE, "%s is not in the database",
                                     o->model->name);
    p->state = OBJ_DELETED;
    p->deleted_in_tx = true;
    return STRATA_OK;
}

/* ---- identity map ------------------------------------------------------ */

static size_t slot_of(const strata__minfo *mi, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (mi->nslots - 1);
}

strata_object *strata__identity_find(strata__minfo *mi, int64_t id)
{
    if (!mi->nslots)
        return NULL;
    for (size_t i = slot_of(mi, id);; i = (i + 1) & (mi->nslots - 1)) {
        strata_object *o = mi->slots[i];
        if (!o)
            return NULL;
        if (o != (strata_object *)mi && strata__pk(o) == id)
            return o;
    }
}

static bool identity_put(strata__minfo *mi, strata_object *o)
{
    if (mi->pk < 0)
        return true;
    if ((mi->nused + 1) * 2 > mi->nslots) {
        size_t n = mi->nslots ? mi->nslots * 2 : 64;
        strata_object **slots = calloc(n, sizeof *slots);
        if (!slots)
            return false;
        strata_object **old = mi->slots;
        size_t oldn = mi->nslots;
        mi->slots = slots;
        mi->nslots = n;
        mi->nused = 0;
        for (size_t i = 0; i < oldn; i++)
            if (old[i] && old[i] != (strata_object *)mi)
                identity_put(mi, old[i]);
        free(old);
    }
    int64_t id = strata__pk(o);
    size_t i = slot_of(mi, id);
    while (mi->slots[i] && mi->slots[i] != (strata_object *)mi)
        i = (i + 1) & (mi->nslots - 1);
    if (!mi->slots[i])
        mi->nused++;
    mi->slots[i] = o;
    return true;
}

/* Removal leaves a tombstone (the minfo pointer) so probing continues. */
static void identity_remove(strata__minfo *mi, strata_object *o)
{
    if (!mi->nslots || mi->pk < 0)
        return;
    for (size_t i = slot_of(mi, strata__pk(o));; i = (i + 1) & (mi->nslots - 1)) {
        if (!mi->slots[i])
            return;
        if (mi->slots[i] == o) {
            mi->slots[i] = (strata_object *)mi;
            return;
        }
    }
}

int strata__session_load_row(strata_session *s, strata__minfo *mi, strata_stmt *st, int col0,
                             strata_object **out)
{
    *out = NULL;
    if (mi->pk >= 0) {
        int64_t id = 0;
        int rc = strata_stmt_column_int64(st, col0 + mi->pk, &id);
        if (rc != STRATA_OK)
            return rc == STRATA_NULL ? STRATA_E_DATA : rc;
        strata_object *o = strata__identity_find(mi, id);
        if (o) {
            *out = o; /* the identity map wins: loaded values are not overwritten */
            return STRATA_OK;
        }
    }
    strata_object *o = object_new(s, mi);
    if (!o)
        return STRATA_E_NOMEM;
    for (int f = 0; f < mi->nfields; f++) {
        int rc = strata__read_field(st, col0 + f, o, f);
        if (rc != STRATA_OK)
            return strata__session_error(s, rc, "reading %s.%s: %s", mi->m->name,
                                         mi->m->fields[f].name, strata_errstr(rc));
    }
    struct strata__object *p = o->priv;
    if (!(p->loaded = strata__snapshot(o)) || !(p->committed = strata__snapshot(o)) ||
        !identity_put(mi, o))
        return STRATA_E_NOMEM;
    p->state = OBJ_PERSISTENT;
    *out = o;
    return STRATA_OK;
}

/* ---- validation -------------------------------------------------------- */

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static bool hexdigits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

/* What a text value for a uuid or numeric column fails to be, or NULL:
 * PostgreSQL would refuse it, SQLite would store it, so strata checks. */
static const char *wrong_text(strata_sqltype kind, const char *v)
{
    if (kind == STRATA_SQL_UUID) {
        bool ok = strlen(v) == 36 && v[8] == '-' && v[13] == '-' && v[18] == '-' && v[23] == '-' &&
                  hexdigits(v, 8) && hexdigits(v + 9, 4) && hexdigits(v + 14, 4) &&
                  hexdigits(v + 19, 4) && hexdigits(v + 24, 12);
        return ok ? NULL : "a UUID (8-4-4-4-12 hex digits)";
    }
    if (kind == STRATA_SQL_NUMERIC) {
        const char *p = v + (*v == '-' || *v == '+');
        bool digits = false, dot = false;
        for (; *p; p++) {
            if (*p >= '0' && *p <= '9')
                digits = true;
            else if (*p == '.' && !dot)
                dot = true;
            else
                return "a decimal number";
        }
        return digits ? NULL : "a decimal number";
    }
    return NULL;
}

static int validate(strata_object *o, bool insert)
{
    strata__minfo *mi = o->priv->mi;
    const strata_model *m = o->model;
    for (int f = 0; f < mi->nfields; f++) {
        const strata_field *fd = &m->fields[f];
        if (strata__field_is_null(o, f)) {
            bool filled =
                fd->server_default || fd->default_fn || (f == mi->pk && mi->autoinc && insert);
            if (!(fd->flags & STRATA_NULLABLE) && !(insert && filled))
                return strata__session_error(o->priv->s, STRATA_E_NOT_NULL,
                                             "%s.%s is NULL but the column is NOT NULL", m->name,
                                             fd->name);
            continue;
        }
        const char *bad = fd->ctype == STRATA_C_TEXT
                              ? wrong_text(mi->kind[f], *(char **)strata__field_ptr(o, f))
                              : NULL;
        if (bad)
            return strata__session_error(o->priv->s, STRATA_E_DATA, "%s.%s: '%.40s' is not %s",
                                         m->name, fd->name, *(char **)strata__field_ptr(o, f), bad);
        if (mi->maxlen[f] && fd->ctype == STRATA_C_TEXT) {
            size_t n = utf8_chars(*(char **)strata__field_ptr(o, f));
            if (n > (size_t)mi->maxlen[f])
                return strata__session_error(o->priv->s, STRATA_E_TOO_LONG,
                                             "%s.%s is %zu characters long; the column holds %d",
                                             m->name, fd->name, n, mi->maxlen[f]);
        }
    }
    return STRATA_OK;
}

/* Zero / NULL fields with a client default get it; fields with a server
 * default are left out of the INSERT so the database fills them. */
static bool field_is_zero(strata_object *o, int f)
{
    if (strata__field_is_null(o, f))
        return true;
    void *p = strata__field_ptr(o, f);
    switch (o->model->fields[f].ctype) {
    case STRATA_C_INT64: return *(int64_t *)p == 0;
    case STRATA_C_TIMESTAMP: return *(strata_timestamp *)p == 0;
    default: return false;
    }
}

static void apply_defaults(strata_object *o)
{
    const strata_model *m = o->model;
    for (int f = 0; m->fields[f].name; f++)
        if (m->fields[f].default_fn && field_is_zero(o, f)) {
            m->fields[f].default_fn(strata__field_ptr(o, f));
            if (f < 64)
                o->priv->nulls &= ~(1ull << f);
        }
}

/* Which fields an INSERT of o names: all but an unset autoincrement key and
 * unset fields with a server default. */
static uint64_t insert_mask(strata_object *o)
{
    strata__minfo *mi = o->priv->mi;
    uint64_t mask = 0;
    for (int f = 0; f < mi->nfields && f < 64; f++) {
        bool skip = (f == mi->pk && mi->autoinc && strata__pk(o) == 0) ||
                    (o->model->fields[f].server_default && field_is_zero(o, f));
        if (!skip)
            mask |= 1ull << f;
    }
    return mask;
}

/* ---- insert ------------------------------------------------------------ */

/* One row RETURNING gave: the key and the returned fields' values. */
typedef struct returned {
    int64_t key;
    strata__cell *cells; /* per returned column */
} returned;

static int cmp_returned(const void *a, const void *b)
{
    int64_t x = ((const returned *)a)->key, y = ((const returned *)b)->key;
    return x < y ? -1 : x > y;
}

static void returned_free(returned *rv, size_t n, int nret)
{
    for (size_t i = 0; rv && i < n; i++) {
        for (int c = 0; rv[i].cells && c < nret; c++)
            free(rv[i].cells[c].p);
        free(rv[i].cells);
    }
    free(rv);
}

/* INSERT one batch of objects sharing `mask`, RETURNING the key and the
 * fields the database filled.  RETURNING gives rows in no promised order;
 * both engines number the rows of one multi-row INSERT in row order, so
 * the keys, sorted, belong to the objects in insertion order.  Keys the
 * caller set are matched by value instead. */
static int insert_batch(strata_session *s, strata__minfo *mi, strata_object **objs, size_t n,
                        uint64_t mask)
{
    strata__sb sb;
    strata__sb_init(&sb);
    int ncols = __builtin_popcountll(mask);
    if (ncols == 0 && n > 1) {
        /* Every column comes from the database: one row at a time. */
        int rc = STRATA_OK;
        for (size_t i = 0; i < n && rc == STRATA_OK; i++)
            rc = insert_batch(s, mi, objs + i, 1, mask);
        return rc;
    }
    if (ncols == 0) {
        strata__sb_printf(&sb, "INSERT INTO %s DEFAULT VALUES", mi->qtable);
    } else {
        strata__sb_printf(&sb, "INSERT INTO %s (", mi->qtable);
        for (int f = 0, k = 0; f < mi->nfields; f++)
            if (mask & (1ull << f))
                strata__sb_printf(&sb, "%s%s", k++ ? ", " : "", mi->qcols[f]);
        strata__sb_puts(&sb, ") VALUES ");
        for (size_t r = 0; r < n; r++) {
            strata__sb_puts(&sb, r ? ", (" : "(");
            for (int c = 0; c < ncols; c++)
                strata__sb_puts(&sb, c ? ", ?" : "?");
            strata__sb_putc(&sb, ')');
        }
    }
    int nret = 0, retf[64], keycol = -1;
    for (int f = 0; f < mi->nfields && f < 64; f++) {
        if (!(mask & (1ull << f)) || f == mi->pk) {
            if (f == mi->pk)
                keycol = nret;
            strata__sb_printf(&sb, "%s%s", nret ? ", " : " RETURNING ", mi->qcols[f]);
            retf[nret++] = f;
        }
    }
    char *sql = strata__sb_take(&sb);
    if (!sql)
        return STRATA_E_NOMEM;
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, s->db, sql);
    free(sql);
    if (rc != STRATA_OK)
        return rc;
    int idx = 1;
    for (size_t r = 0; r < n && rc == STRATA_OK; r++)
        for (int f = 0; f < mi->nfields && rc == STRATA_OK; f++)
            if (mask & (1ull << f))
                rc = strata__bind_field(st, idx++, objs[r], f);
    returned *rv = calloc(n, sizeof *rv);
    size_t got = 0;
    if (!rv)
        rc = STRATA_E_NOMEM;
    while (rc == STRATA_OK && (rc = strata_stmt_step(st)) == STRATA_ROW) {
        if (got == n || !(rv[got].cells = calloc((size_t)nret, sizeof *rv[got].cells))) {
            rc = got == n ? STRATA_E_ERROR : STRATA_E_NOMEM;
            break;
        }
        for (int c = 0; c < nret && rc == STRATA_ROW; c++)
            if (strata__read_cell(st, c, mi->m->fields[retf[c]].ctype, &rv[got].cells[c]) !=
                STRATA_OK)
                rc = STRATA_E_DATA;
        if (rc != STRATA_ROW)
            break;
        rv[got].key = keycol >= 0 ? rv[got].cells[keycol].i : 0;
        got++;
        rc = STRATA_OK;
    }
    if (rc == STRATA_DONE)
        rc = got == n ? STRATA_OK : STRATA_E_ERROR;
    strata_stmt_finalize(st);
    if (rc == STRATA_OK && keycol >= 0 && !(mask & (1ull << mi->pk)))
        qsort(rv, n, sizeof *rv, cmp_returned);
    for (size_t i = 0; rc == STRATA_OK && i < n; i++) {
        /* With keys set by the caller, find the row by its key. */
        returned *row = &rv[i];
        if (keycol >= 0 && (mask & (1ull << mi->pk)))
            for (size_t j = 0; j < n; j++)
                if (rv[j].key == strata__pk(objs[i]))
                    row = &rv[j];
        for (int c = 0; c < nret && rc == STRATA_OK; c++)
            rc = strata__set_field(objs[i], retf[c], &row->cells[c]);
    }
    returned_free(rv, got, nret);
    return rc;
}

static int insert_model(strata_session *s, strata__minfo *mi)
{
    strata_object **batch = NULL;
    size_t nb = 0, cap = 0;
    int rc = STRATA_OK;
    for (;;) {
        /* Gather a batch of pending objects of this model with one mask. */
        nb = 0;
        uint64_t mask = 0;
        int per_row = 1;
        for (size_t i = 0; i < s->nobjs && rc == STRATA_OK; i++) {
            strata_object *o = s->objs[i];
            if (o->priv->mi != mi || o->priv->state != OBJ_PENDING)
                continue;
            uint64_t m = insert_mask(o);
            if (nb == 0) {
                mask = m;
                per_row = __builtin_popcountll(m) ? __builtin_popcountll(m) : 1;
            } else if (m != mask) {
                continue;
            }
            if (nb == cap) {
                cap = cap ? cap * 2 : 64;
                strata_object **n = realloc(batch, cap * sizeof *n);
                if (!n) {
                    rc = STRATA_E_NOMEM;
                    break;
                }
                batch = n;
            }
            batch[nb++] = o;
            if (nb >= BATCH_ROWS || nb * (size_t)per_row >= BATCH_PARAMS)
                break;
        }
        if (rc != STRATA_OK || nb == 0)
            break;
        if ((rc = insert_batch(s, mi, batch, nb, mask)) != STRATA_OK) {
            strata__db_error_context(s->db, "inserting %zu %s object%s", nb, mi->m->name,
                                     nb == 1 ? "" : "s");
            break;
        }
        for (size_t i = 0; i < nb; i++) {
            struct strata__object *p = batch[i]->priv;
            p->state = OBJ_PERSISTENT;
            strata__cells_free(mi, p->loaded);
            if (!(p->loaded = strata__snapshot(batch[i])) || !identity_put(mi, batch[i])) {
                rc = STRATA_E_NOMEM;
                break;
            }
        }
        if (rc != STRATA_OK)
            break;
    }
    free(batch);
    return rc;
}

/* ---- update and delete ------------------------------------------------- */

static int update_object(strata_session *s, strata_object *o)
{
    struct strata__object *p = o->priv;
    strata__minfo *mi = p->mi;
    if (!p->loaded || mi->pk < 0)
        return STRATA_OK;
    bool any = false;
    for (int f = 0; f < mi->nfields && !any; f++)
        any = strata__field_changed(o, f, &p->loaded[f]);
    if (!any)
        return STRATA_OK;
    for (int f = 0; f < mi->nfields; f++)
        if (o->model->fields[f].onupdate)
            o->model->fields[f].onupdate(strata__field_ptr(o, f));
    int rc = validate(o, false);
    if (rc != STRATA_OK)
        return rc;
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "UPDATE %s SET ", mi->qtable);
    int n = 0, fields[64];
    for (int f = 0; f < mi->nfields && f < 64; f++) {
        if (f == mi->pk || !strata__field_changed(o, f, &p->loaded[f]))
            continue;
        strata__sb_printf(&sb, "%s%s = ?", n ? ", " : "", mi->qcols[f]);
        fields[n++] = f;
    }
    strata__sb_printf(&sb, " WHERE %s = ?", mi->qcols[mi->pk]);
    char *sql = strata__sb_take(&sb);
    if (!sql)
        return STRATA_E_NOMEM;
    strata_stmt *st;
    rc = strata_stmt_prepare(&st, s->db, sql);
    free(sql);
    if (rc != STRATA_OK)
        return rc;
    for (int i = 0; i < n && rc == STRATA_OK; i++)
        rc = strata__bind_field(st, i + 1, o, fields[i]);
    if (rc == STRATA_OK)
        rc = strata_stmt_bind_int64(st, n + 1, p->loaded[mi->pk].i);
    if (rc == STRATA_OK)
        rc = strata_stmt_step(st);
    strata_stmt_finalize(st);
    if (rc != STRATA_DONE)
        return strata__db_error_context(s->db, "updating %s %lld", o->model->name,
                                        (long long)strata__pk(o));
    strata__cells_free(mi, p->loaded);
    return (p->loaded = strata__snapshot(o)) ? STRATA_OK : STRATA_E_NOMEM;
}

static int delete_object(strata_session *s, strata_object *o)
{
    strata__minfo *mi = o->priv->mi;
    int rc = strata__relation_before_delete(o);
    if (rc != STRATA_OK || mi->pk < 0)
        return rc;
    char sql[512];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE %s = ?", mi->qtable, mi->qcols[mi->pk]);
    strata_stmt *st;
    if ((rc = strata_stmt_prepare(&st, s->db, sql)) != STRATA_OK)
        return rc;
    strata_stmt_bind_int64(st, 1, strata__pk(o));
    rc = strata_stmt_step(st);
    strata_stmt_finalize(st);
    if (rc != STRATA_DONE)
        return strata__db_error_context(s->db, "deleting %s %lld", o->model->name,
                                        (long long)strata__pk(o));
    identity_remove(mi, o);
    o->priv->state = OBJ_DETACHED;
    return STRATA_OK;
}

/* ---- flush ------------------------------------------------------------- */

static int max_rank(strata_session *s)
{
    int r = 0;
    for (int i = 0; i < s->nmodels; i++)
        if (s->models[i]->rank > r)
            r = s->models[i]->rank;
    return r;
}

/* Whether the object has something to send. */
static bool is_dirty(strata_object *o)
{
    struct strata__object *p = o->priv;
    if (p->state == OBJ_PENDING || p->state == OBJ_DELETED)
        return true;
    if (p->state != OBJ_PERSISTENT || !p->loaded)
        return false;
    strata__relation_fix_keys(o);
    for (int f = 0; f < p->mi->nfields; f++)
        if (strata__field_changed(o, f, &p->loaded[f]))
            return true;
    return false;
}

int strata_session_flush(strata_session *s)
{
    if (!s)
        return STRATA_E_MISUSE;
    if (s->flushing)
        return STRATA_OK;
    int rc = STRATA_OK;
    /* Validate everything before any SQL. */
    for (size_t i = 0; i < s->nobjs && rc == STRATA_OK; i++) {
        strata_object *o = s->objs[i];
        if (o->priv->state == OBJ_PENDING) {
            strata__relation_fix_keys(o);
            apply_defaults(o);
            rc = validate(o, true);
        }
    }
    if (rc != STRATA_OK)
        return rc;
    bool work = s->nm2m > 0;
    for (size_t i = 0; i < s->nobjs && !work; i++)
        work = is_dirty(s->objs[i]);
    if (!work) {
        s->has_pending = false;
        return STRATA_OK;
    }
    if ((rc = strata__session_begin(s)) != STRATA_OK)
        return rc;
    s->flushing = true;
    if ((rc = strata_db_savepoint(s->db)) != STRATA_OK)
        goto out;
    int top = max_rank(s);
    /* Parents first. */
    for (int rank = 0; rank <= top && rc == STRATA_OK; rank++) {
        for (int m = 0; m < s->nmodels && rc == STRATA_OK; m++) {
            if (s->models[m]->rank != rank)
                continue;
            for (size_t i = 0; i < s->nobjs; i++)
                if (s->objs[i]->priv->mi == s->models[m] && s->objs[i]->priv->state == OBJ_PENDING)
                    strata__relation_fix_keys(s->objs[i]);
            rc = insert_model(s, s->models[m]);
        }
    }
    for (size_t i = 0; i < s->nobjs && rc == STRATA_OK; i++) {
        strata_object *o = s->objs[i];
        if (o->priv->state == OBJ_PERSISTENT) {
            strata__relation_fix_keys(o);
            rc = update_object(s, o);
        }
    }
    if (rc == STRATA_OK)
        rc = strata__m2m_flush(s);
    /* Cascades mark children deleted (loading them), until nothing changes. */
    for (bool changed = true; changed && rc == STRATA_OK;) {
        changed = false;
        for (size_t i = 0; i < s->nobjs && rc == STRATA_OK; i++)
            if (s->objs[i]->priv->state == OBJ_DELETED)
                rc = strata__relation_cascade(s->objs[i], &changed);
    }
    /* Children first. */
    for (int rank = top; rank >= 0 && rc == STRATA_OK; rank--)
        for (size_t i = 0; i < s->nobjs && rc == STRATA_OK; i++) {
            strata_object *o = s->objs[i];
            if (o->priv->state == OBJ_DELETED && o->priv->mi->rank == rank)
                rc = delete_object(s, o);
        }
    if (rc == STRATA_OK) {
        rc = strata_db_savepoint_release(s->db);
        s->has_pending = rc != STRATA_OK;
    } else {
        /* Undo this flush in the database; the objects keep their states
         * so the caller can fix and flush again, or roll back. */
        int code = rc;
        char *msg = strata__strdup(strata_db_errmsg(s->db));
        char state[6];
        snprintf(state, sizeof state, "%s", strata_db_sqlstate(s->db));
        int native = strata_db_native_code(s->db);
        strata_db_savepoint_rollback(s->db);
        strata_driver_error(s->db, code, state[0] ? state : NULL, native, "%s",
                            msg ? msg : strata_errstr(code));
        free(msg);
        for (size_t i = 0; i < s->nobjs; i++) {
            struct strata__object *p = s->objs[i]->priv;
            if (p->added_in_tx && p->state == OBJ_PERSISTENT && !p->committed) {
                identity_remove(p->mi, s->objs[i]);
                p->state = OBJ_PENDING;
                if (p->mi->autoinc)
                    *(int64_t *)strata__field_ptr(s->objs[i], p->mi->pk) = 0;
            } else if (p->deleted_in_tx && p->state == OBJ_DETACHED) {
                p->state = OBJ_DELETED;
                identity_put(p->mi, s->objs[i]);
            }
        }
    }
out:
    s->flushing = false;
    return rc;
}

/* ---- commit / rollback ------------------------------------------------- */

int strata_session_commit(strata_session *s)
{
    if (!s)
        return STRATA_E_MISUSE;
    int rc = strata_session_flush(s);
    if (rc != STRATA_OK)
        return rc;
    if (s->owns_tx && strata_db_in_transaction(s->db)) {
        rc = strata_db_commit(s->db);
        s->owns_tx = false;
        if (rc != STRATA_OK)
            return rc;
    }
    for (size_t i = 0; i < s->nobjs; i++) {
        strata_object *o = s->objs[i];
        struct strata__object *p = o->priv;
        p->added_in_tx = p->deleted_in_tx = false;
        if (p->state == OBJ_PERSISTENT) {
            strata__cells_free(p->mi, p->committed);
            if (!(p->committed = strata__snapshot(o)))
                return STRATA_E_NOMEM;
        }
    }
    return STRATA_OK;
}

int strata_session_rollback(strata_session *s)
{
    if (!s)
        return STRATA_E_MISUSE;
    int rc = STRATA_OK;
    if (s->owns_tx && strata_db_in_transaction(s->db))
        rc = strata_db_rollback(s->db);
    s->owns_tx = false;
    s->nm2m = 0;
    s->has_pending = false; /* pending objects become transient below */
    for (size_t i = 0; i < s->nobjs; i++) {
        strata_object *o = s->objs[i];
        struct strata__object *p = o->priv;
        for (int r = 0; r < p->mi->nrels; r++) {
            p->rels[r].loaded = false;
            p->rels[r].one = NULL;
            p->rels[r].one_set = false;
            p->rels[r].list.count = 0;
        }
        if (p->added_in_tx) {
            /* Not saved: back to a plain object, its database id gone. */
            if (p->state == OBJ_PERSISTENT || p->state == OBJ_DELETED)
                identity_remove(p->mi, o);
            if (p->mi->autoinc)
                *(int64_t *)strata__field_ptr(o, p->mi->pk) = 0;
            p->state = OBJ_TRANSIENT;
            p->added_in_tx = p->deleted_in_tx = false;
            strata__cells_free(p->mi, p->loaded);
            p->loaded = NULL;
            continue;
        }
        if (p->committed &&
            (p->state == OBJ_PERSISTENT || p->state == OBJ_DELETED || p->state == OBJ_DETACHED)) {
            if (p->state == OBJ_DETACHED && !identity_put(p->mi, o))
                return STRATA_E_NOMEM;
            p->state = OBJ_PERSISTENT;
            p->deleted_in_tx = false;
            if (strata__restore(o, p->committed) != STRATA_OK)
                return STRATA_E_NOMEM;
            strata__cells_free(p->mi, p->loaded);
            if (!(p->loaded = strata__snapshot(o)))
                return STRATA_E_NOMEM;
        }
    }
    return rc;
}

/* ---- get and refresh --------------------------------------------------- */

static int select_by_key(strata_session *s, strata__minfo *mi, int64_t id, strata_stmt **out)
{
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "SELECT %s FROM %s WHERE %s.%s = ?", mi->select, mi->qtable, mi->qtable,
                      mi->qcols[mi->pk]);
    char *sql = strata__sb_take(&sb);
    if (!sql)
        return STRATA_E_NOMEM;
    int rc = strata_stmt_prepare(out, s->db, sql);
    free(sql);
    if (rc == STRATA_OK)
        strata_stmt_bind_int64(*out, 1, id);
    return rc;
}

int strata_get(strata_session *s, const strata_model *model, int64_t id, void *out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *(void **)out = NULL;
    if (!s || !model)
        return STRATA_E_MISUSE;
    strata__minfo *mi = strata__minfo_get(s, model);
    if (!mi)
        return strata_db_errcode(s->db) ? strata_db_errcode(s->db) : STRATA_E_NOMEM;
    if (mi->pk < 0)
        return strata__session_error(s, STRATA_E_MISUSE,
                                     "%s has no single integer primary key to get by", model->name);
    strata_object *o = strata__identity_find(mi, id);
    if (o) {
        if (o->priv->state == OBJ_DELETED)
            return STRATA_E_NOT_FOUND;
        *(void **)out = o;
        return STRATA_OK;
    }
    /* The row is not loaded, so changes to loaded objects cannot affect it;
     * only a pending insert could be it.  Flushing only then keeps a loop
     * of gets from comparing every loaded object each time. */
    int rc = s->has_pending ? strata_session_flush(s) : STRATA_OK;
    if (rc == STRATA_OK)
        rc = strata__session_begin(s);
    if (rc != STRATA_OK)
        return rc;
    strata_stmt *st;
    if ((rc = select_by_key(s, mi, id, &st)) != STRATA_OK)
        return rc;
    rc = strata_stmt_step(st);
    if (rc == STRATA_ROW)
        rc = strata__session_load_row(s, mi, st, 0, &o);
    else if (rc == STRATA_DONE)
        rc = STRATA_E_NOT_FOUND;
    strata_stmt_finalize(st);
    if (rc == STRATA_OK)
        *(void **)out = o;
    return rc;
}

int strata_refresh(void *obj)
{
    strata_object *o = strata__as_object(obj);
    if (!o || o->priv->state != OBJ_PERSISTENT || o->priv->mi->pk < 0)
        return STRATA_E_MISUSE;
    strata_session *s = o->priv->s;
    strata__minfo *mi = o->priv->mi;
    int rc = strata__session_begin(s);
    strata_stmt *st;
    if (rc != STRATA_OK || (rc = select_by_key(s, mi, strata__pk(o), &st)) != STRATA_OK)
        return rc;
    rc = strata_stmt_step(st);
    for (int f = 0; rc == STRATA_ROW && f < mi->nfields; f++)
        if (strata__read_field(st, f, o, f) != STRATA_OK)
            rc = STRATA_E_DATA;
    if (rc == STRATA_DONE)
        rc = STRATA_E_NOT_FOUND;
    strata_stmt_finalize(st);
    if (rc != STRATA_ROW)
        return rc;
    strata__cells_free(mi, o->priv->loaded);
    return (o->priv->loaded = strata__snapshot(o)) ? STRATA_OK : STRATA_E_NOMEM;
}

/* ---- upsert ------------------------------------------------------------ */

int strata_upsert(void *obj, const char *on, void *out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *(void **)out = NULL;
    strata_object *o = strata__as_object(obj);
    if (!o || !on || o->priv->state != OBJ_TRANSIENT || o->priv->mi->pk < 0)
        return STRATA_E_MISUSE;
    strata_session *s = o->priv->s;
    strata__minfo *mi = o->priv->mi;
    strata__names keys;
    int rc = strata__names_split(&keys, on);
    if (rc != STRATA_OK)
        return strata__session_error(s, STRATA_E_MISUSE, "upsert of %s: bad field list '%s'",
                                     o->model->name, on);
    for (int k = 0; k < keys.n && rc == STRATA_OK; k++)
        if (strata__field_index(mi, keys.v[k]) < 0)
            rc = strata__session_error(s, STRATA_E_UNDEFINED_COLUMN, "%s has no field '%s'",
                                       o->model->name, keys.v[k]);
    if (rc == STRATA_OK)
        rc = strata_session_flush(s);
    if (rc == STRATA_OK) {
        apply_defaults(o);
        rc = validate(o, true);
    }
    if (rc == STRATA_OK)
        rc = strata__session_begin(s);
    if (rc != STRATA_OK) {
        strata__names_free(&keys);
        return rc;
    }
    uint64_t mask = insert_mask(o);
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "INSERT INTO %s (", mi->qtable);
    int n = 0;
    for (int f = 0; f < mi->nfields; f++)
        if (mask & (1ull << f))
            strata__sb_printf(&sb, "%s%s", n++ ? ", " : "", mi->qcols[f]);
    strata__sb_puts(&sb, ") VALUES (");
    for (int i = 0; i < n; i++)
        strata__sb_puts(&sb, i ? ", ?" : "?");
    strata__sb_puts(&sb, ") ON CONFLICT (");
    for (int k = 0; k < keys.n; k++)
        strata__sb_printf(&sb, "%s%s", k ? ", " : "",
                          mi->qcols[strata__field_index(mi, keys.v[k])]);
    strata__sb_puts(&sb, ") DO UPDATE SET ");
    int nset = 0;
    for (int f = 0; f < mi->nfields; f++) {
        if (!(mask & (1ull << f)) || f == mi->pk || strata__names_has(&keys, mi->m->fields[f].name))
            continue;
        strata__sb_printf(&sb, "%s%s = excluded.%s", nset++ ? ", " : "", mi->qcols[f],
                          mi->qcols[f]);
    }
    if (!nset) /* nothing else to update: still return the row */
        strata__sb_printf(&sb, "%s = excluded.%s", mi->qcols[strata__field_index(mi, keys.v[0])],
                          mi->qcols[strata__field_index(mi, keys.v[0])]);
    strata__sb_puts(&sb, " RETURNING ");
    for (int f = 0; f < mi->nfields; f++)
        strata__sb_printf(&sb, "%s%s", f ? ", " : "", mi->qcols[f]);
    strata__names_free(&keys);
    char *sql = strata__sb_take(&sb);
    strata_stmt *st = NULL;
    rc = sql ? strata_stmt_prepare(&st, s->db, sql) : STRATA_E_NOMEM;
    free(sql);
    for (int f = 0, i = 1; rc == STRATA_OK && f < mi->nfields; f++)
        if (mask & (1ull << f))
            rc = strata__bind_field(st, i++, o, f);
    if (rc == STRATA_OK && (rc = strata_stmt_step(st)) == STRATA_ROW) {
        int64_t id = 0;
        strata_stmt_column_int64(st, mi->pk, &id);
        strata_object *target = strata__identity_find(mi, id);
        if (!target)
            target = o;
        rc = STRATA_OK;
        for (int f = 0; f < mi->nfields && rc == STRATA_OK; f++)
            rc = strata__read_field(st, f, target, f);
        if (rc == STRATA_OK && target == o) {
            o->priv->state = OBJ_PERSISTENT;
            o->priv->added_in_tx = true;
            if (!identity_put(mi, o))
                rc = STRATA_E_NOMEM;
        }
        if (rc == STRATA_OK) {
            strata__cells_free(mi, target->priv->loaded);
            if (!(target->priv->loaded = strata__snapshot(target)))
                rc = STRATA_E_NOMEM;
        }
        if (rc == STRATA_OK)
            *(void **)out = target;
    } else if (rc == STRATA_DONE) {
        rc = STRATA_E_ERROR;
    }
    strata_stmt_finalize(st);
    if (rc != STRATA_OK && rc != STRATA_E_NOMEM)
        strata__db_error_context(s->db, "upsert of %s", o->model->name);
    return rc;
}
