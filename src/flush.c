/*
 * flush.c - writing a session's changes: validate, insert in multi-row
 * batches with RETURNING (row by row, reading back, for engines without
 * it), update changed columns, delete children first, in an order that
 * satisfies foreign keys; and upsert.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "orm_internal.h"

#define BATCH_ROWS 500
#define BATCH_PARAMS 30000 /* under SQLite's 32766 and PostgreSQL's 65535 */

/* ---- validation -------------------------------------------------------- */

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* A numeric's canonical text is one that an engine keeping numerics as
 * doubles (SQLite) holds: not one that would become an infinity, a
 * subnormal or 0 there. */
static bool loose_numeric_holds(strata_object *o, const char *canon)
{
    const strata__dialect *dl = o->priv->mi->s->dl;
    if (!dl || !dl->loose_columns)
        return true;
    /* Its decimal exponent, from the digits (`-`, digits, `.`, digits). */
    const char *p = canon + (*canon == '-');
    size_t whole = strcspn(p, "."), lead = strspn(p, "0");
    long e;
    if (lead < whole) {
        e = (long)(whole - lead) - 1;
    } else {
        const char *frac = p[whole] == '.' ? p + whole + 1 : "";
        size_t zeros = strspn(frac, "0");
        if (!frac[zeros])
            return true; /* a zero */
        e = -(long)zeros - 1;
    }
    if (e < 308 && e > -308)
        return true;
    if (e != 308 && e != -308)
        return false;
    errno = 0;
    double d = strtod(canon, NULL); /* at the edge: what the double would be */
    return errno != ERANGE && isfinite(d) && fabs(d) >= DBL_MIN;
}

/* A text field of a numeric, uuid or json column as PostgreSQL takes it:
 * numeric rounded to its scale and refused beyond its precision, uuid in
 * lower case, json checked.  SQLite would store any text, so strata does
 * this on both engines: the same values are accepted, refused and read
 * back.  The field may be rewritten in canonical form. */
static int check_text(strata_object *o, int f)
{
    strata__minfo *mi = o->priv->mi;
    const strata_field *fd = &o->model->fields[f];
    char **field = strata__field_ptr(o, f);
    const char *v = *field;
    switch (mi->kind[f]) {
    case STRATA_SQL_UUID: {
        if (!strata__uuid_text(v, strlen(v)))
            return strata__session_error(o->priv->mi->s, STRATA_E_DATA,
                                         "%s.%s: '%.40s' is not a UUID (8-4-4-4-12 hex digits)",
                                         o->model->name, fd->name, v);
        if (!strpbrk(v, "ABCDEF"))
            return STRATA_OK;
        /* Lowered in a copy: a loaded text's bytes are its snapshot's too. */
        char *lower = strata__text_alloc(36);
        if (!lower)
            return strata__session_error(o->priv->mi->s, STRATA_E_NOMEM, "out of memory");
        for (int i = 0; i < 36; i++)
            lower[i] = (char)((v[i] >= 'A' && v[i] <= 'F') ? v[i] - 'A' + 'a' : v[i]);
        strata__text_free(*field);
        *field = lower;
        return STRATA_OK;
    }
    case STRATA_SQL_NUMERIC: {
        char *canon;
        int rc = strata__numeric_round(v, mi->prec[f], mi->scale[f], &canon);
        if (rc == STRATA_E_DATA)
            return strata__session_error(o->priv->mi->s, rc,
                                         "%s.%s: '%.40s' is not a decimal number", o->model->name,
                                         fd->name, v);
        if (rc == STRATA_E_RANGE)
            return strata__session_error(o->priv->mi->s, rc,
                                         "%s.%s: %.40s does not fit numeric(%d, %d): at most %d "
                                         "digits before the point",
                                         o->model->name, fd->name, v, mi->prec[f], mi->scale[f],
                                         mi->prec[f] - mi->scale[f]);
        if (rc != STRATA_OK)
            return strata__session_error(o->priv->mi->s, rc, "out of memory");
        if (!loose_numeric_holds(o, canon)) {
            free(canon);
            return strata__session_error(
                o->priv->mi->s, STRATA_E_RANGE,
                "%s.%s: %.40s is beyond what this engine's numeric column holds (a double: "
                "from about 2.2e-308 to 1.8e308, apart from 0); PostgreSQL would keep it",
                o->model->name, fd->name, v);
        }
        rc = strcmp(canon, v) != 0 ? strata_set_text(field, canon) : STRATA_OK;
        free(canon);
        if (rc != STRATA_OK)
            return strata__session_error(o->priv->mi->s, rc, "out of memory");
        return STRATA_OK;
    }
    case STRATA_SQL_JSON: {
        size_t at;
        if (!strata__json_valid(v, &at))
            return strata__session_error(o->priv->mi->s, STRATA_E_DATA,
                                         "%s.%s: not JSON (at byte %zu of '%.40s')", o->model->name,
                                         fd->name, at, v);
        return STRATA_OK;
    }
    default: return STRATA_OK;
    }
}

/* A number the column cannot hold, for an engine whose columns would
 * keep it anyway (SQLite: a 64-bit integer in an INTEGER or SMALLINT
 * column, which PostgreSQL refuses, and a copy to it would; a float's
 * NaN, which it turns into NULL): refused as the other engines refuse
 * it.  The caller asks only on such an engine. */
static int check_number(strata_object *o, int f)
{
    strata__minfo *mi = o->priv->mi;
    const strata_field *fd = &o->model->fields[f];
    const void *p = strata__field_ptr(o, f);
    if (fd->ctype == STRATA_C_DOUBLE) {
        double d = *(const double *)p;
        if (d != d)
            return strata__session_error(o->priv->mi->s, STRATA_E_DATA,
                                         "%s.%s is NaN, which this engine cannot store (it would "
                                         "read back as NULL): store NULL instead",
                                         o->model->name, fd->name);
        return STRATA_OK;
    }
    int64_t v = *(const int64_t *)p, lo, hi;
    const char *type;
    if (mi->kind[f] == STRATA_SQL_INTEGER)
        lo = INT32_MIN, hi = INT32_MAX, type = "integer";
    else if (mi->kind[f] == STRATA_SQL_SMALLINT)
        lo = INT16_MIN, hi = INT16_MAX, type = "smallint";
    else
        return STRATA_OK;
    if (v < lo || v > hi)
        return strata__session_error(o->priv->mi->s, STRATA_E_RANGE,
                                     "%s.%s: %" PRId64 " is out of range for %s (%" PRId64
                                     " to %" PRId64 "); declare the field bigint for more",
                                     o->model->name, fd->name, v, type, lo, hi);
    return STRATA_OK;
}

int strata__validate_field(strata_object *o, int f, bool insert)
{
    strata__minfo *mi = o->priv->mi;
    const strata_model *m = o->model;
    const strata_field *fd = &m->fields[f];
    if (strata__field_is_null(o, f)) {
        bool filled =
            fd->server_default || fd->default_fn || (f == mi->pk && mi->autoinc && insert);
        if (!(fd->flags & STRATA_NULLABLE) && !(insert && filled))
            return strata__session_error(o->priv->mi->s, STRATA_E_NOT_NULL,
                                         "%s.%s is NULL but the column is NOT NULL", m->name,
                                         fd->name);
        return STRATA_OK;
    }
    /* A loaded text shares its bytes with the values the session keeps to
     * compare and to put back; bytes changed in place would change both. */
    if (fd->ctype == STRATA_C_TEXT && !strata__text_intact(o, f))
        return strata__session_error(o->priv->mi->s, STRATA_E_MISUSE,
                                     "%s.%s was changed in place; set strings with strata_set_text",
                                     m->name, fd->name);
    int rc = fd->ctype == STRATA_C_TEXT ? check_text(o, f) : STRATA_OK;
    if (rc != STRATA_OK)
        return rc;
    /* A date holds no time of day: PostgreSQL drops it, and SQLite would
     * keep text that no date compares equal to.  Dropped here on both,
     * the field too, so that the object holds what the row holds. */
    if (fd->ctype == STRATA_C_TIMESTAMP && mi->kind[f] == STRATA_SQL_DATE) {
        strata_timestamp *t = strata__field_ptr(o, f);
        *t = strata__date_floor(*t);
    }
    /* On an engine whose columns keep what their type cannot hold, and
     * only a value this write sends: not one the row holds already (a
     * key SQLite numbered past 32 bits, a row written before). */
    const strata__dialect *dl = o->priv->mi->s->dl;
    const strata__cell *was = o->priv->loaded ? &o->priv->loaded[f] : NULL;
    if (dl && dl->loose_columns && (fd->ctype == STRATA_C_INT64 || fd->ctype == STRATA_C_DOUBLE) &&
        (insert || !was || strata__field_changed(o, f, was))) {
        rc = check_number(o, f);
        if (rc != STRATA_OK)
            return rc;
    }
    /* Neither engine takes a value of 2 GB; strata's cells hold less.  A
     * string of n characters (checked below) has at most 4n bytes. */
    void *p = strata__field_ptr(o, f);
    size_t bytes = fd->ctype == STRATA_C_BLOB ? ((strata_blob *)p)->len
                   : fd->ctype == STRATA_C_TEXT &&
                           (!mi->maxlen[f] || (size_t)mi->maxlen[f] * 4 > STRATA__MAX_BYTES)
                       ? strnlen(*(char **)p, (size_t)STRATA__MAX_BYTES + 1)
                       : 0;
    if (bytes > STRATA__MAX_BYTES)
        return strata__session_error(o->priv->mi->s, STRATA_E_TOO_LONG,
                                     "%s.%s is longer than %u bytes, the most a value holds",
                                     m->name, fd->name, STRATA__MAX_BYTES);
    if (mi->maxlen[f] && fd->ctype == STRATA_C_TEXT) {
        const char *t = *(char **)strata__field_ptr(o, f);
        /* No more bytes than the limit: no more characters either. */
        size_t n = strnlen(t, (size_t)mi->maxlen[f] + 1);
        if (n > (size_t)mi->maxlen[f])
            n = utf8_chars(t);
        if (n > (size_t)mi->maxlen[f])
            return strata__session_error(o->priv->mi->s, STRATA_E_TOO_LONG,
                                         "%s.%s is %zu characters long; the column holds %d",
                                         m->name, fd->name, n, mi->maxlen[f]);
    }
    return STRATA_OK;
}

static int validate(strata_object *o, bool insert)
{
    int rc = STRATA_OK;
    for (int f = 0; f < o->priv->mi->nfields && rc == STRATA_OK; f++)
        rc = strata__validate_field(o, f, insert);
    return rc;
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
    case STRATA_C_BOOL: return !*(bool *)p;
    case STRATA_C_DOUBLE: return *(double *)p == 0;
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

/* One row RETURNING gave: what places it, and the returned fields' values. */
typedef struct returned {
    int64_t order; /* the key the database numbered */
    uint64_t hash; /* or the hash of the key fields */
    strata__cell *cells;
} returned;

/* An INSERT of objects sharing one column mask, `per` rows an execution. */
typedef struct insert_run {
    strata_session *s;
    strata__minfo *mi;
    strata_object **objs;
    size_t n, per, first; /* objects; rows per execution; chunk of execution 0 */
    uint64_t mask;
    int ncols; /* columns given per row */
    int nret, retf[64 + STRATA__MAX_KEY];
    int keypos[STRATA__MAX_KEY]; /* where each key field is among the returned */
    bool db_key;                 /* the database numbers the key */
    returned *rv;                /* the rows of the chunk being received, `per` of them */
    strata__cell *cells;         /* nret per row of rv, in its order: their cells */
    size_t *got;                 /* rows received per chunk */
    size_t done;                 /* objects objs[0..done) placed and made persistent */
} insert_run;

/* A row not found back for its object when a key field was left to its
 * server default (its value 0, or NULL): the default gave the row
 * another value than the object holds.  Said, naming the field;
 * STRATA_OK when no key field was left out. */
static int key_left_out(strata_session *s, const insert_run *r)
{
    for (int k = 0; k < r->mi->npk; k++) {
        int f = r->mi->pkf[k];
        if (f < 64 && !(r->mask & (1ull << f)))
            return strata__session_error(
                s, STRATA_E_MISUSE,
                "the INSERT of %s returned no row for an object's key: its field %s was left to "
                "its server default, which gave the row another value than the object holds "
                "(rows are matched to their objects by the key given, unless it is one integer "
                "the database numbers): give %s a value",
                r->mi->m->name, r->mi->m->fields[f].name, r->mi->m->fields[f].name);
    }
    return STRATA_OK;
}

static size_t chunk_rows(const insert_run *r, size_t c)
{
    size_t left = r->n - c * r->per;
    return left < r->per ? left : r->per;
}

static char *insert_sql(const insert_run *r, size_t rows)
{
    strata__minfo *mi = r->mi;
    strata__sb sb;
    strata__sb_init(&sb);
    if (r->ncols == 0) {
        strata__sb_printf(&sb, "INSERT INTO %s DEFAULT VALUES", mi->qtable);
    } else {
        strata__sb_printf(&sb, "INSERT INTO %s (", mi->qtable);
        for (int f = 0, k = 0; f < mi->nfields; f++)
            if (r->mask & (1ull << f))
                strata__sb_printf(&sb, "%s%s", k++ ? ", " : "", mi->qcols[f]);
        strata__sb_puts(&sb, ") VALUES ");
        for (size_t row = 0; row < rows; row++) {
            strata__sb_puts(&sb, row ? ", (" : "(");
            for (int c = 0; c < r->ncols; c++)
                strata__sb_puts(&sb, c ? ", ?" : "?");
            strata__sb_putc(&sb, ')');
        }
    }
    for (int c = 0; c < r->nret; c++)
        strata__sb_printf(&sb, "%s%s", c ? ", " : " RETURNING ", mi->qcols[r->retf[c]]);
    return strata__sb_take(&sb);
}

static int insert_bind(strata_stmt *st, size_t i, void *ctx)
{
    insert_run *r = ctx;
    size_t c = r->first + i, rows = chunk_rows(r, c);
    int rc = STRATA_OK, idx = 1;
    for (size_t row = 0; row < rows && rc == STRATA_OK; row++)
        for (int f = 0; f < r->mi->nfields && rc == STRATA_OK; f++)
            if (r->mask & (1ull << f))
                rc = strata__bind_field(st, idx++, r->objs[c * r->per + row], f);
    return rc;
}

static int chunk_received(insert_run *r, size_t c);
static int insert_place(strata_session *s, insert_run *r, size_t c);
static int now_inserted(strata_session *s, strata__minfo *mi, strata_object *o);

static int insert_row(strata_stmt *st, size_t i, void *ctx)
{
    insert_run *r = ctx;
    size_t c = r->first + i;
    if (r->got[c] == chunk_rows(r, c))
        return strata__db_error(r->s->db, STRATA_E_ERROR,
                                "the INSERT returned more rows than it was given");
    /* The first row of a chunk while the one before is not whole (a
     * trigger that skipped a row): said, before its rows are written
     * over. */
    if (r->got[c] == 0 && r->done < c * r->per)
        return insert_place(r->s, r, r->done / r->per);
    size_t at = r->got[c];
    returned *row = &r->rv[at];
    row->cells = &r->cells[at * (size_t)r->nret]; /* received: its cells to free */
    r->got[c]++;
    for (int k = 0; k < r->nret; k++) {
        strata__cell *cell = &row->cells[k];
        bool owned;
        int rc = strata__column_cell(st, k, r->mi->m->fields[r->retf[k]].ctype, cell, &owned);
        bool bytes = strata__ctype_bytes(r->mi->m->fields[r->retf[k]].ctype);
        /* The row's bytes go with the next row: a copy of its own. */
        if (rc == STRATA_OK && bytes && !cell->null && !owned) {
            char *copy = malloc(cell->len + 1);
            if (!copy) {
                cell->p = NULL;
                return STRATA_E_NOMEM;
            }
            if (cell->len)
                memcpy(copy, cell->p, cell->len);
            copy[cell->len] = '\0';
            cell->p = copy;
        }
        if (rc != STRATA_OK)
            return rc;
    }
    if (r->db_key) {
        row->order = row->cells[r->keypos[0]].i;
    } else {
        strata__key key;
        for (int k = 0; k < r->mi->npk; k++)
            key[k] = &row->cells[r->keypos[k]];
        row->hash = strata__key_hash(r->mi, key);
    }
    /* A chunk's last row: its objects are placed while the server works
     * on the chunks sent after it. */
    return r->got[c] == chunk_rows(r, c) ? chunk_received(r, c) : STRATA_OK;
}

/* Free the bytes of the returned rows held, and forget the rows. */
static void rows_clear(insert_run *r)
{
    for (size_t i = 0; r->rv && i < chunk_rows(r, 0); i++) {
        for (int k = 0; r->rv[i].cells && k < r->nret; k++)
            if (strata__ctype_bytes(r->mi->m->fields[r->retf[k]].ctype))
                free(r->rv[i].cells[k].p);
        r->rv[i].cells = NULL;
    }
}

static int cmp_order(const void *a, const void *b)
{
    int64_t x = ((const returned *)a)->order, y = ((const returned *)b)->order;
    return x < y ? -1 : x > y;
}

static int cmp_hash(const void *a, const void *b)
{
    uint64_t x = ((const returned *)a)->hash, y = ((const returned *)b)->hash;
    return x < y ? -1 : x > y;
}

/* The returned row of object o in chunk rows[0..n), sorted by hash:
 * RETURNING gives rows in no promised order, so they are matched on the
 * key the caller set. */
static returned *row_of(const insert_run *r, strata_object *o, returned *rows, size_t n)
{
    strata__cell cells[STRATA__MAX_KEY];
    strata__key key, rk;
    strata__fields_key(o, cells, key);
    uint64_t h = strata__key_hash(r->mi, key);
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rows[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < n && rows[lo].hash == h; lo++) {
        for (int k = 0; k < r->mi->npk; k++)
            rk[k] = &rows[lo].cells[r->keypos[k]];
        if (strata__key_eq(r->mi, key, rk))
            return &rows[lo];
    }
    return NULL;
}

/* Whether returned column k is one of the key's. */
static bool is_key_column(const insert_run *r, int k)
{
    for (int j = 0; j < r->mi->npk; j++)
        if (r->keypos[j] == k)
            return true;
    return false;
}

/* Give each object of chunk c its returned values. */
static int insert_place(strata_session *s, insert_run *r, size_t c)
{
    size_t n = chunk_rows(r, c);
    returned *rows = r->rv;
    strata_object **objs = &r->objs[c * r->per];
    if (r->got[c] != n)
        return strata__session_error(s, STRATA_E_ERROR, "the INSERT returned %zu rows for %zu",
                                     r->got[c], n);
    /* Keys the database numbered follow the rows' order in the VALUES
     * list on both engines, so sorted they line up with the objects.  The
     * rows usually come back in that order already: then there is nothing
     * to sort. */
    bool sorted = r->db_key;
    for (size_t i = 1; sorted && i < n; i++)
        sorted = rows[i - 1].order < rows[i].order;
    if (!sorted)
        qsort(rows, n, sizeof *rows, r->db_key ? cmp_order : cmp_hash);
    int rc = STRATA_OK;
    for (size_t i = 0; i < n && rc == STRATA_OK; i++) {
        returned *row = r->db_key ? &rows[i] : row_of(r, objs[i], rows, n);
        if (!row) {
            int left = key_left_out(s, r);
            return left ? left
                        : strata__session_error(s, STRATA_E_ERROR,
                                                "the INSERT of %s returned no row for an object's "
                                                "key",
                                                r->mi->m->name);
        }
        for (int k = 0; k < r->nret && rc == STRATA_OK; k++)
            if (r->db_key || !is_key_column(r, k)) /* a key given: the row's, matched on it */
                rc = strata__set_field(objs[i], r->retf[k], &row->cells[k]);
    }
    return rc;
}

/* Run the INSERT for executions [first, first + count), each of `rows` rows. */
static int insert_chunks(strata_session *s, insert_run *r, size_t first, size_t count, size_t rows)
{
    char *sql = insert_sql(r, rows);
    if (!sql)
        return STRATA_E_NOMEM;
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, s->db, sql);
    free(sql);
    if (rc != STRATA_OK)
        return rc;
    r->first = first;
    rc = strata_stmt_execute_many(st, count, insert_bind, r->nret ? insert_row : NULL, r);
    strata_stmt_finalize(st);
    return rc;
}

static bool has_returning(const strata_session *s)
{
    return (strata_db_driver(s->db)->capabilities & STRATA_CAP_RETURNING) != 0;
}

/* Run `sql` once with o's fields of `mask` bound, expecting `want`
 * (STRATA_DONE; STRATA_ROW leaves the statement in *out to read). */
static int run_bound(strata_session *s, const char *sql, strata_object *o, uint64_t mask,
                     const int *fields, int nfields, int want, strata_stmt **out)
{
    strata_stmt *st = NULL;
    int rc = strata_stmt_prepare(&st, s->db, sql);
    int idx = 1;
    for (int f = 0; rc == STRATA_OK && f < o->priv->mi->nfields; f++)
        if (mask & (1ull << f))
            rc = strata__bind_field(st, idx++, o, f);
    for (int k = 0; rc == STRATA_OK && k < nfields; k++)
        rc = strata__bind_field(st, idx++, o, fields[k]);
    if (rc == STRATA_OK && (rc = strata__stmt_step(st)) == want && out) {
        *out = st;
        return STRATA_OK;
    }
    strata_stmt_finalize(st);
    if (rc == STRATA_DONE || rc == STRATA_ROW)
        rc = rc == want ? STRATA_OK
                        : strata__session_error(s, STRATA_E_ERROR, "\"%s\" gave %s", sql,
                                                rc == STRATA_ROW ? "a row" : "no row");
    return rc;
}

/* "SELECT <fields> FROM t WHERE <each of keys> = ?" */
static char *select_by(const strata__minfo *mi, const int *fields, int nfields, const int *keys,
                       int nkeys)
{
    strata__sb sb;
    strata__sb_init(&sb);
    for (int c = 0; c < nfields; c++)
        strata__sb_printf(&sb, "%s%s", c ? ", " : "SELECT ", mi->qcols[fields[c]]);
    strata__sb_printf(&sb, " FROM %s WHERE ", mi->qtable);
    for (int k = 0; k < nkeys; k++)
        strata__sb_printf(&sb, "%s%s = ?", k ? " AND " : "", mi->qcols[keys[k]]);
    return strata__sb_take(&sb);
}

/* Without RETURNING (a driver without STRATA_CAP_RETURNING): one INSERT
 * per object, then what the database filled in read back on the same
 * connection: the key it numbered through the dialect's last_insert_id,
 * the other fields by key. */
static int insert_each(strata_session *s, insert_run *r)
{
    strata__minfo *mi = r->mi;
    if (r->db_key && !(s->dl && s->dl->last_insert_id))
        return strata__session_error(s, STRATA_E_UNSUPPORTED,
                                     "inserting %s: the %s engine can neither return nor report "
                                     "the key the database numbers",
                                     mi->m->name, strata_db_backend(s->db));
    int nret = r->nret;
    r->nret = 0; /* the INSERT without RETURNING */
    char *ins = insert_sql(r, 1);
    r->nret = nret;
    char *sel = select_by(mi, r->retf, r->nret, mi->pkf, mi->npk);
    int rc = ins && sel ? STRATA_OK : STRATA_E_NOMEM;
    for (size_t i = 0; i < r->n && rc == STRATA_OK; i++) {
        strata_object *o = r->objs[i];
        rc = run_bound(s, ins, o, r->mask, NULL, 0, STRATA_DONE, NULL);
        strata_stmt *st = NULL;
        if (rc == STRATA_OK && r->db_key &&
            (rc = run_bound(s, s->dl->last_insert_id, o, 0, NULL, 0, STRATA_ROW, &st)) ==
                STRATA_OK) {
            rc = strata__read_field(st, 0, o, mi->pk);
            strata_stmt_finalize(st);
        }
        if (rc == STRATA_OK) {
            rc = run_bound(s, sel, o, 0, mi->pkf, mi->npk, STRATA_ROW, &st);
            int left = rc == STRATA_E_ERROR && !r->db_key ? key_left_out(s, r) : STRATA_OK;
            if (left != STRATA_OK)
                rc = left; /* no row by the key the object holds */
        }
        if (rc == STRATA_OK) {
            for (int c = 0; c < r->nret && rc == STRATA_OK; c++)
                rc = strata__read_field(st, c, o, r->retf[c]);
            strata_stmt_finalize(st);
        }
    }
    free(ins);
    free(sel);
    return rc;
}

/* INSERT objs[0..n), which share `mask`: multi-row statements of up to
 * BATCH_ROWS rows, pipelined where the engine can, RETURNING what the
 * database filled in (the key it numbered, server defaults); row by row
 * without RETURNING (insert_each). */
static int insert_objects(strata_session *s, strata__minfo *mi, strata_object **objs, size_t n,
                          uint64_t mask)
{
    insert_run r = {.s = s, .mi = mi, .objs = objs, .n = n, .mask = mask};
    r.ncols = __builtin_popcountll(mask);
    r.per = r.ncols == 0 ? 1 : BATCH_ROWS; /* DEFAULT VALUES is one row */
    if (r.ncols && r.per * (size_t)r.ncols > BATCH_PARAMS)
        r.per = BATCH_PARAMS / (size_t)r.ncols;
    for (int f = 0; f < mi->nfields && f < 64; f++)
        if (!(mask & (1ull << f)))
            r.retf[r.nret++] = f;
    r.db_key = mi->pk >= 0 && !(mask & (1ull << mi->pk));
    if (r.nret) {
        for (int k = 0; k < mi->npk; k++) {
            int at = -1;
            for (int c = 0; c < r.nret; c++)
                if (r.retf[c] == mi->pkf[k])
                    at = c;
            if (at < 0) {
                at = r.nret;
                r.retf[r.nret++] = mi->pkf[k];
            }
            r.keypos[k] = at;
        }
    }
    if (r.nret && !has_returning(s)) {
        int rc = insert_each(s, &r);
        for (; rc == STRATA_OK && r.done < n; r.done++)
            rc = now_inserted(s, mi, objs[r.done]);
        return rc;
    }
    /* The rows come back chunk after chunk, in order: one chunk's are
     * held at a time, and placed once all have come (chunk_received). */
    size_t nchunks = (n + r.per - 1) / r.per, full = n / r.per, held = chunk_rows(&r, 0);
    r.rv = r.nret ? calloc(held, sizeof *r.rv) : NULL;
    r.cells = r.nret ? calloc(held * (size_t)r.nret, sizeof *r.cells) : NULL;
    r.got = calloc(nchunks, sizeof *r.got);
    int rc = (r.nret && (!r.rv || !r.cells)) || !r.got ? STRATA_E_NOMEM : STRATA_OK;
    if (rc == STRATA_OK && full)
        rc = insert_chunks(s, &r, 0, full, r.per);
    if (rc == STRATA_OK && full < nchunks)
        rc = insert_chunks(s, &r, full, 1, n - full * r.per);
    /* A chunk that returned fewer rows than it inserted is said so. */
    if (rc == STRATA_OK && r.nret && r.done < n)
        rc = insert_place(s, &r, r.done / r.per);
    /* Without RETURNING columns (every field given) nothing comes back. */
    for (; rc == STRATA_OK && r.done < n; r.done++)
        rc = now_inserted(s, mi, objs[r.done]);
    rows_clear(&r);
    free(r.rv);
    free(r.cells);
    free(r.got);
    return rc;
}

/* "<Model key>" context for a failed statement on one object. */
static int object_error_context(strata_session *s, const char *doing, strata_object *o)
{
    strata__sb sb;
    strata__sb_init(&sb);
    strata__key key = {0};
    strata__object_key(o, key);
    strata__key_text(&sb, o->priv->mi, key);
    char *k = strata__sb_take(&sb);
    int rc = strata__db_error_context(s->db, "%s %s %s", doing, o->model->name, k ? k : "");
    free(k);
    return rc;
}

/* An object the map holds under o's key stands for a row that is gone
 * once the database has given that key to o's row (deleted by an ON
 * DELETE rule, or made by SQL a rollback took back, and the key used
 * again): it is detached, so that one object answers for one row. */
static int evict_stale(strata__minfo *mi, strata_object *o)
{
    strata__key key = {0};
    strata__object_key(o, key);
    strata_object *old = strata__identity_find_key(mi, key);
    if (!old || old == o)
        return STRATA_OK;
    struct strata__object *op = old->priv;
    strata_session *s = o->priv->mi->s;
    /* What it has still to write: its fields, a many-to-one set and not
     * yet copied into them, an association row. */
    bool changed = op->state == OBJ_DELETED;
    for (int f = 0; !changed && op->loaded && f < mi->nfields; f++)
        changed = strata__field_changed(old, f, &op->loaded[f]);
    for (int r = 0; !changed && op->rels && r < mi->nrels; r++) {
        const strata__relcache *c = &op->rels[r];
        int fk = mi->relfk[r];
        changed = c->one_set && fk >= 0 &&
                  (!c->one || c->one->priv->state != OBJ_PERSISTENT ||
                   strata__field_is_null(old, fk) ||
                   *(int64_t *)strata__field_ptr(old, fk) != strata__pk(c->one));
    }
    for (size_t i = 0; !changed && i < s->nm2m; i++)
        changed = s->m2m[i].owner == old || s->m2m[i].target == old;
    int rc = strata__savepoint_note(old);
    if (rc != STRATA_OK)
        return rc;
    strata__identity_remove(mi, old);
    op->evicted_now = true;
    op->evicted_deleted = op->state == OBJ_DELETED;
    op->state = OBJ_DETACHED;
    op->deleted_in_tx = true;
    if (changed) {
        /* Its changes cannot be written: said, not dropped. */
        strata__session_error(s, STRATA_E_NOT_FOUND,
                              "no row has this key any more: deleted since it was read, and "
                              "the key given to a new row");
        return object_error_context(s, "updating", old);
    }
    return STRATA_OK;
}

/* An object whose row its INSERT wrote, given what the database filled
 * in: persistent, with its snapshot, in the identity map. */
static int now_inserted(strata_session *s, strata__minfo *mi, strata_object *o)
{
    struct strata__object *p = o->priv;
    p->state = OBJ_PERSISTENT;
    p->tx_serial = strata__db_tx_serial(s->db);
    p->stale = false;
    strata__snapshot_release(p->loaded);
    if (!(p->loaded = strata__snapshot(o, true)))
        return STRATA_E_NOMEM;
    int rc = evict_stale(mi, o);
    if (rc != STRATA_OK)
        return rc;
    return strata__identity_put(mi, o) ? STRATA_OK : STRATA_E_NOMEM;
}

/* Every row of chunk c has come: its objects take their returned values
 * and are made persistent (chunks come in order, so they are the next
 * ones after r->done). */
static int chunk_received(insert_run *r, size_t c)
{
    int rc = insert_place(r->s, r, c);
    rows_clear(r);
    size_t end = c * r->per + chunk_rows(r, c);
    for (; rc == STRATA_OK && r->done < end; r->done++)
        rc = now_inserted(r->s, r->mi, r->objs[r->done]);
    return rc;
}

/* Insert batch[0..nb), pending objects of mi that share insert mask
 * `mask`: their rows, then their keys, states and snapshots. */
static int insert_batch(strata_session *s, strata__minfo *mi, strata_object **batch, size_t nb,
                        uint64_t mask)
{
    int rc = STRATA_OK;
    /* Whatever fails from here on, the flush's undo must take back the
     * keys the INSERT gives these objects. */
    for (size_t i = 0; i < nb && rc == STRATA_OK; i++)
        rc = strata__savepoint_note(batch[i]);
    if (rc != STRATA_OK)
        return rc;
    bool numbered = mi->pk >= 0 && !(mask & (1ull << mi->pk));
    for (size_t i = 0; i < nb; i++) {
        batch[i]->priv->inserted_now = true;
        batch[i]->priv->key_numbered = numbered;
    }
    if ((rc = insert_objects(s, mi, batch, nb, mask)) != STRATA_OK) {
        strata__db_error_context(s->db, "inserting %zu %s object%s", nb, mi->m->name,
                                 nb == 1 ? "" : "s");
        return rc;
    }
    return STRATA_OK;
}

/* Insert the pending objects of objs[0..n) (all of mi), a batch per insert
 * mask, each in the order of objs (the order the keys are given in). */
static int insert_grouped(strata_session *s, strata__minfo *mi, strata_object **objs, size_t n)
{
    strata_object **batch = n ? malloc(n * sizeof *batch) : NULL;
    int rc = n && !batch ? STRATA_E_NOMEM : STRATA_OK;
    while (n > 0 && rc == STRATA_OK) {
        /* Those of the first one's mask into the batch, the others kept. */
        uint64_t mask = insert_mask(objs[0]);
        size_t nb = 0, kept = 0;
        for (size_t i = 0; i < n; i++) {
            if (insert_mask(objs[i]) == mask)
                batch[nb++] = objs[i];
            else
                objs[kept++] = objs[i];
        }
        rc = insert_batch(s, mi, batch, nb, mask);
        n = kept;
    }
    free(batch);
    return rc;
}

/* Whether mi has a many-to-one to its own model (a tree, a thread). */
static bool refers_to_itself(const strata__minfo *mi)
{
    for (int r = 0; r < mi->nrels; r++)
        if (mi->relfk[r] >= 0 && mi->m->relations[r].target == mi->m)
            return true;
    return false;
}

/* The object o points at through relationship r to its own model, when
 * the flush has still to insert it (its row waits for that one's key). */
static strata_object *pending_parent(strata_object *o, int r)
{
    const strata__minfo *mi = o->priv->mi;
    if (mi->relfk[r] < 0 || mi->m->relations[r].target != mi->m)
        return NULL;
    strata__relcache *c = strata__rel_peek(o, r);
    strata_object *t = c && c->one_set ? c->one : NULL;
    return t && t != o && t->priv->state == OBJ_PENDING ? t : NULL;
}

/* A row that waits for another of its table: the other, and the waiting
 * one's place in the list of pending objects. */
typedef struct wait_edge {
    strata_object *parent;
    size_t child;
} wait_edge;

static int cmp_edge(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const wait_edge *)a)->parent;
    uintptr_t y = (uintptr_t)((const wait_edge *)b)->parent;
    return x < y ? -1 : x > y;
}

static int cmp_place(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* The new rows of a model that refers to itself go in rounds: those whose
 * parents are in the table already first, then the children of what a
 * round inserted, with the keys just given, and so on; each object is
 * looked at once a round and each parent's children found by a search,
 * so a deep chain costs its rows and one statement a level, not the
 * square of them.  Rows caught in a cycle go in last, as they are (and
 * fail on their foreign key, naming it). */
static int insert_in_rounds(strata_session *s, strata__minfo *mi, strata_object **pend, size_t n)
{
    size_t nedges = 0;
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < mi->nrels; r++)
            nedges += pending_parent(pend[i], r) != NULL;
    wait_edge *edges = nedges ? malloc(nedges * sizeof *edges) : NULL;
    size_t *waits = calloc(n, sizeof *waits), *ready = malloc(n * sizeof *ready);
    strata_object **round = malloc(n * sizeof *round), **next = malloc(n * sizeof *next);
    int rc = (nedges && !edges) || !waits || !ready || !round || !next ? STRATA_E_NOMEM
                                                                          : STRATA_OK;
    size_t nround = 0, done = 0;
    for (size_t i = 0, e = 0; i < n && rc == STRATA_OK; i++) {
        for (int r = 0; r < mi->nrels; r++) {
            strata_object *t = pending_parent(pend[i], r);
            if (t) {
                edges[e++] = (wait_edge){t, i};
                waits[i]++;
            }
        }
        if (!waits[i])
            round[nround++] = pend[i];
    }
    if (rc == STRATA_OK && nedges)
        qsort(edges, nedges, sizeof *edges, cmp_edge);
    while (rc == STRATA_OK && nround > 0) {
        for (size_t i = 0; i < nround; i++)
            strata__relation_fix_keys(round[i]);
        /* insert_grouped reorders `round`: the children are looked up
         * from a copy, made in `next`, and the new round is made in the
         * other buffer. */
        memcpy(next, round, nround * sizeof *round);
        if ((rc = insert_grouped(s, mi, round, nround)) != STRATA_OK)
            break;
        done += nround;
        strata_object **t0 = round;
        round = next;
        next = t0;
        size_t nnext = 0;
        for (size_t i = 0; i < nround; i++) {
            /* The first edge from round[i], by halving. */
            size_t lo = 0, hi = nedges;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if ((uintptr_t)edges[mid].parent < (uintptr_t)round[i])
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (; lo < nedges && edges[lo].parent == round[i]; lo++)
                if (--waits[edges[lo].child] == 0)
                    ready[nnext++] = edges[lo].child;
        }
        /* The next round in the order its objects were added (the order
         * their keys are given in), not their parents'. */
        qsort(ready, nnext, sizeof *ready, cmp_place);
        for (size_t i = 0; i < nnext; i++)
            next[i] = pend[ready[i]];
        strata_object **t = round;
        round = next;
        next = t;
        nround = nnext;
    }
    if (rc == STRATA_OK && done < n) {
        /* A cycle: the rest as they are. */
        size_t nrest = 0;
        for (size_t i = 0; i < n; i++)
            if (pend[i]->priv->state == OBJ_PENDING) {
                strata__relation_fix_keys(pend[i]);
                round[nrest++] = pend[i];
            }
        rc = insert_grouped(s, mi, round, nrest);
    }
    free(edges);
    free(waits);
    free(ready);
    free(round);
    free(next);
    return rc;
}

static int insert_model(strata_session *s, strata__minfo *mi)
{
    /* The model's pending objects, in the session's order, their keys to
     * parents fixed up (the parents of lower rank are inserted now). */
    size_t n = 0, cap = 0;
    strata_object **pend = NULL;
    for (size_t i = 0; i < s->nobjs; i++) {
        strata_object *o = s->objs[i];
        if (o->priv->mi != mi || o->priv->state != OBJ_PENDING)
            continue;
        strata__relation_fix_keys(o);
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            strata_object **grown = realloc(pend, cap * sizeof *grown);
            if (!grown) {
                free(pend);
                return STRATA_E_NOMEM;
            }
            pend = grown;
        }
        pend[n++] = o;
    }
    int rc = n == 0                ? STRATA_OK
             : refers_to_itself(mi) ? insert_in_rounds(s, mi, pend, n)
                                    : insert_grouped(s, mi, pend, n);
    free(pend);
    return rc;
}

/* ---- update and delete ------------------------------------------------- */

/* Run `sql` on o's row (an UPDATE or DELETE), binding the changed
 * fields[0..n) and then the object's key as it was loaded.  Inside a
 * session savepoint o is recorded first, as it was. */
static int run_on_row(strata_session *s, strata_object *o, const char *sql, const int *fields,
                      int n, int64_t *changes)
{
    strata__minfo *mi = o->priv->mi;
    strata_stmt *st;
    int rc = strata__savepoint_note(o);
    if (rc == STRATA_OK)
        rc = strata_stmt_prepare(&st, s->db, sql);
    if (rc != STRATA_OK)
        return rc;
    for (int i = 0; i < n && rc == STRATA_OK; i++)
        rc = strata__bind_field(st, i + 1, o, fields[i]);
    strata__key key = {0};
    strata__object_key(o, key);
    if (rc == STRATA_OK)
        rc = strata__key_bind(st, n + 1, mi, key);
    if (rc == STRATA_OK)
        rc = strata__stmt_step(st);
    if (changes)
        *changes = rc == STRATA_DONE ? strata_stmt_changes(st) : 0;
    strata_stmt_finalize(st);
    return rc == STRATA_DONE ? STRATA_OK : rc;
}

static int update_object(strata_session *s, strata_object *o)
{
    struct strata__object *p = o->priv;
    strata__minfo *mi = p->mi;
    if (!p->loaded || !mi->npk)
        return STRATA_OK;
    /* An object this flush inserted was snapshotted after its INSERT,
     * with no program code since: only the keys of its many-to-ones,
     * fixed up since (a parent inserted after it), can have changed. */
    bool any = false;
    if (p->inserted_now) {
        for (int r = 0; r < mi->nrels && !any; r++)
            any = mi->relfk[r] >= 0 && strata__field_changed(o, mi->relfk[r], &p->loaded[mi->relfk[r]]);
    } else {
        for (int f = 0; f < mi->nfields && !any; f++)
            any = strata__field_changed(o, f, &p->loaded[f]);
    }
    if (!any)
        return STRATA_OK;
    /* Validation puts numeric, uuid and json text in canonical form: a
     * value set in another spelling of what the row holds ("12.3" for
     * "12.30") is no change, and runs no onupdate. */
    int rc = validate(o, false);
    if (rc != STRATA_OK)
        return rc;
    any = false;
    for (int f = 0; f < mi->nfields && !any; f++)
        any = strata__field_changed(o, f, &p->loaded[f]);
    if (!any)
        return STRATA_OK;
    bool hooks = false;
    for (int f = 0; f < mi->nfields; f++)
        if (o->model->fields[f].onupdate) {
            o->model->fields[f].onupdate(strata__field_ptr(o, f));
            hooks = true;
        }
    if (hooks && (rc = validate(o, false)) != STRATA_OK)
        return rc;
    bool current = strata__object_current(o);
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "UPDATE %s SET ", mi->qtable);
    int n = 0, fields[64];
    bool rekey = false;
    for (int f = 0; f < mi->nfields && f < 64; f++) {
        if (!strata__field_changed(o, f, &p->loaded[f]))
            continue;
        rekey |= strata__is_key_field(mi, f);
        strata__sb_printf(&sb, "%s%s = ?", n ? ", " : "", mi->qcols[f]);
        fields[n++] = f;
    }
    strata__sb_puts(&sb, " WHERE ");
    strata__key_where(&sb, mi, false);
    char *sql = strata__sb_take(&sb);
    if (!sql)
        return STRATA_E_NOMEM;
    int64_t changes = 0;
    rc = run_on_row(s, o, sql, fields, n, &changes);
    free(sql);
    if (rc != STRATA_OK)
        return object_error_context(s, "updating", o);
    if (changes == 0) {
        /* Its row is gone (another transaction, or an ON DELETE rule):
         * said, rather than the change lost without a word. */
        strata__session_error(s, STRATA_E_NOT_FOUND,
                              "no row has this key any more: deleted since it was read");
        return object_error_context(s, "updating", o);
    }
    /* The new snapshot first: without memory for it the object stays as
     * it was, in the identity map under its old key (the failed flush
     * rolls the row back). */
    strata__objx *x = strata__objx_get(o);
    strata__cell *now = x ? strata__snapshot(o, false) : NULL;
    if (!now)
        return STRATA_E_NOMEM;
    /* A changed key moves the object in the identity map: out under the
     * old key (read from `loaded`), in under the new.  Taken out, a slot
     * is free for it again, so putting it back needs no memory. */
    if (rekey)
        strata__identity_remove(mi, o);
    strata__snapshot_release(x->undo);
    x->undo = p->loaded;
    p->loaded = now;
    p->tx_serial = strata__db_tx_serial(s->db);
    /* Of an earlier transaction, the fields not written are as read then:
     * another connection may have changed them since.  Read again at the
     * next use, and the values at the last commit kept (the row now holds
     * this transaction's write). */
    if (!current)
        p->stale = true;
    if (rekey && (rc = evict_stale(mi, o)) != STRATA_OK)
        return rc;
    return rekey && !strata__identity_put(mi, o) ? STRATA_E_NOMEM : STRATA_OK;
}

static int delete_object(strata_session *s, strata_object *o)
{
    strata__minfo *mi = o->priv->mi;
    int rc = strata__relation_before_delete(o);
    if (rc != STRATA_OK || !mi->npk || !o->priv->loaded)
        return rc;
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "DELETE FROM %s WHERE ", mi->qtable);
    strata__key_where(&sb, mi, false);
    char *sql = strata__sb_take(&sb);
    if (!sql)
        return STRATA_E_NOMEM;
    rc = run_on_row(s, o, sql, NULL, 0, NULL); /* a row already gone is deleted too */
    free(sql);
    if (rc != STRATA_OK)
        return object_error_context(s, "deleting", o);
    strata__identity_remove(mi, o);
    o->priv->state = OBJ_DETACHED;
    o->priv->deleted_now = true;
    return STRATA_OK;
}

/* Whether mi's deleted rows go children first among themselves: a model
 * that refers to itself by its one integer key. */
static bool deletes_in_order(const strata__minfo *mi) { return mi->pk >= 0 && refers_to_itself(mi); }

/* Deleted rows by the keys the database holds (strata__row_pk). */
static int cmp_by_key(const void *a, const void *b)
{
    int64_t x = strata__row_pk(*(strata_object *const *)a);
    int64_t y = strata__row_pk(*(strata_object *const *)b);
    return x < y ? -1 : x > y;
}

/* Where a row keyed `key` is in bykey[0..n) (sorted by key); n if not. */
static size_t find_by_key(strata_object *const *bykey, size_t n, int64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strata__row_pk(bykey[mid]) < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && strata__row_pk(bykey[lo]) == key ? lo : n;
}

/* The place in bykey of the row deleted row o points at through its
 * relationship r to its own model, by the key the database holds; n when
 * that row is not being deleted (or is o). */
static size_t deleted_parent(const strata__minfo *mi, strata_object *const *bykey, size_t n,
                             strata_object *o, int r)
{
    int f = mi->relfk[r];
    if (f < 0 || mi->m->relations[r].target != mi->m || !o->priv->loaded ||
        o->priv->loaded[f].null)
        return n;
    size_t at = find_by_key(bykey, n, o->priv->loaded[f].i);
    return at < n && bykey[at] != o ? at : n;
}

/* The deleted rows of a model that refers to itself: a row goes once the
 * deleted rows that point at it (by the keys the database holds) have
 * gone, so a subtree deleted in one flush needs no ON DELETE rule.  Each
 * row is taken once and its parents found by a search.  Rows in a cycle
 * go last, in the session's order. */
static int delete_in_rounds(strata_session *s, strata__minfo *mi)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nobjs; i++)
        n += s->objs[i]->priv->mi == mi && s->objs[i]->priv->state == OBJ_DELETED;
    if (n == 0)
        return STRATA_OK;
    strata_object **dead = malloc(n * sizeof *dead), **bykey = malloc(n * sizeof *bykey);
    strata_object **ready = malloc(n * sizeof *ready);
    size_t *kids = calloc(n, sizeof *kids); /* per row of bykey: deleted rows pointing at it */
    if (!dead || !bykey || !ready || !kids) {
        free(dead), free(bykey), free(ready), free(kids);
        return strata__session_error(s, STRATA_E_NOMEM, "out of memory");
    }
    for (size_t i = 0, k = 0; i < s->nobjs; i++)
        if (s->objs[i]->priv->mi == mi && s->objs[i]->priv->state == OBJ_DELETED)
            dead[k++] = s->objs[i];
    memcpy(bykey, dead, n * sizeof *dead);
    qsort(bykey, n, sizeof *bykey, cmp_by_key);
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < mi->nrels; r++) {
            size_t at = deleted_parent(mi, bykey, n, dead[i], r);
            if (at < n)
                kids[at]++;
        }
    /* The rows no deleted row points at, in the session's order; each one
     * deleted may make its parents ready, which join the end. */
    size_t nready = 0;
    for (size_t i = 0; i < n; i++)
        if (kids[find_by_key(bykey, n, strata__row_pk(dead[i]))] == 0)
            ready[nready++] = dead[i];
    int rc = STRATA_OK;
    for (size_t q = 0; q < nready && rc == STRATA_OK; q++) {
        strata_object *o = ready[q];
        if ((rc = delete_object(s, o)) != STRATA_OK)
            break;
        for (int r = 0; r < mi->nrels; r++) {
            size_t at = deleted_parent(mi, bykey, n, o, r);
            if (at < n && --kids[at] == 0)
                ready[nready++] = bykey[at];
        }
    }
    for (size_t i = 0; i < n && rc == STRATA_OK; i++) /* a cycle */
        if (dead[i]->priv->state == OBJ_DELETED)
            rc = delete_object(s, dead[i]);
    free(dead), free(bykey), free(ready), free(kids);
    return rc;
}

/* ---- flush ------------------------------------------------------------- */

/* After the flush's deletes: the rows the database's own ON DELETE rules
 * deleted or changed with them are read again at their objects' next use
 * (a get, a query, a refresh), where one whose row is gone is detached. */
static int expire_reached(strata_session *s)
{
    for (int m = 0; m < s->nmodels; m++) {
        bool deleted = false;
        for (size_t i = 0; i < s->nobjs && !deleted; i++)
            deleted = s->objs[i]->priv->deleted_now && s->objs[i]->priv->mi == s->models[m];
        bool *reached = deleted ? strata__reached_by_deletes(s, s->models[m]) : NULL;
        if (deleted && !reached)
            return strata__session_error(s, STRATA_E_NOMEM, "out of memory");
        for (size_t i = 0; reached && i < s->nobjs; i++) {
            struct strata__object *p = s->objs[i]->priv;
            for (int r = 0; r < s->nmodels; r++)
                if (reached[r] && p->mi == s->models[r] && p->state == OBJ_PERSISTENT)
                    p->stale = true;
        }
        free(reached);
    }
    return STRATA_OK;
}

static int max_rank(strata_session *s)
{
    int r = 0;
    for (int i = 0; i < s->nmodels; i++)
        if (s->models[i]->rank > r)
            r = s->models[i]->rank;
    return r;
}

/* After a flush: nothing of it is to be undone any more. */
static void flush_forget(strata_session *s)
{
    for (size_t i = 0; i < s->nobjs; i++) {
        struct strata__object *p = s->objs[i]->priv;
        if (p->state != OBJ_PERSISTENT && p->state != OBJ_PENDING && p->state != OBJ_TRANSIENT)
            p->orphan = false; /* deleted as one */
        p->inserted_now = p->deleted_now = p->cascaded_now = p->evicted_now = false;
        p->cascade_run = false;
        if (p->x) {
            strata__snapshot_release(p->x->undo);
            p->x->undo = NULL;
        }
    }
}

/* A failed flush was rolled back to its savepoint: the objects go back to
 * how they were before it, so a flush after a fix sends everything again.
 * Objects inserted by earlier flushes stay inserted. */
static void flush_undo(strata_session *s)
{
    for (size_t i = 0; i < s->nobjs; i++) {
        strata_object *o = s->objs[i];
        struct strata__object *p = o->priv;
        if (p->deleted_now) {
            p->state = OBJ_DELETED;
            strata__identity_put(p->mi, o);
        }
        if (p->cascaded_now) { /* the program did not delete it: kept */
            p->state = OBJ_PERSISTENT;
            p->deleted_in_tx = false;
        }
        if (strata__undo(p)) {
            strata__identity_remove(p->mi, o);
            strata__snapshot_release(p->loaded);
            p->loaded = p->x->undo;
            p->x->undo = NULL;
            strata__identity_put(p->mi, o);
        }
        if (p->inserted_now) {
            strata__identity_remove(p->mi, o);
            p->state = OBJ_PENDING;
            strata__forget_numbered_key(o); /* a key the program gave stays */
        }
        p->inserted_now = p->deleted_now = p->cascaded_now = p->cascade_run = false;
    }
    /* Keys copied from the rows whose inserts were undone go too (a later
     * insert may be given them). */
    for (size_t i = 0; i < s->nobjs; i++)
        if (s->objs[i]->priv->rels)
            strata__relation_unfix_keys(s->objs[i]);
    /* Once the rows this flush inserted are out of the map: an object
     * one of them had taken the key of is back under it. */
    for (size_t i = 0; i < s->nobjs; i++) {
        strata_object *o = s->objs[i];
        struct strata__object *p = o->priv;
        if (!p->evicted_now)
            continue;
        p->evicted_now = false;
        p->state = p->evicted_deleted ? OBJ_DELETED : OBJ_PERSISTENT;
        p->deleted_in_tx = p->evicted_deleted;
        strata__identity_put(p->mi, o);
    }
}

/* Whether the object has something to send. */
static bool is_dirty(strata_object *o)
{
    struct strata__object *p = o->priv;
    if (p->state == OBJ_PENDING || p->state == OBJ_DELETED)
        return true;
    if (p->state != OBJ_PERSISTENT || !p->loaded)
        return false;
    if (p->rels)
        strata__relation_fix_keys(o);
    return strata__object_changed(o);
}

int strata_session_flush(strata_session *s)
{
    STRATA__CONFINE(s ? s->db : NULL, STRATA_E_MISUSE);
    if (!s)
        return STRATA_E_MISUSE;
    if (s->flushing)
        return STRATA_OK;
    int rc = strata__session_refuse_after_failed_commit(s);
    if (rc == STRATA_OK)
        rc = strata__add_linked(s);
    if (rc != STRATA_OK)
        return rc;
    /* A pending orphan still without a parent is not inserted: transient
     * again, as strata_delete makes it (the mark stays: added along to a
     * parent again, it is inserted).  A persistent one is deleted below,
     * inside the flush, so that a failed flush keeps it. */
    for (size_t i = 0; i < s->nobjs; i++) {
        strata_object *o = s->objs[i];
        if (o->priv->orphan && o->priv->state == OBJ_PENDING && strata__relation_orphaned(o))
            strata_delete(o);
    }
    /* Validate everything before any SQL. */
    for (size_t i = 0; i < s->nobjs && rc == STRATA_OK; i++) {
        strata_object *o = s->objs[i];
        if (o->priv->state == OBJ_PENDING) {
            rc = strata__relation_check_targets(o);
            strata__relation_fix_keys(o);
            apply_defaults(o);
            if (rc == STRATA_OK)
                rc = validate(o, true);
        } else if (o->priv->state == OBJ_PERSISTENT) {
            rc = strata__relation_check_targets(o);
        }
    }
    if (rc == STRATA_OK)
        rc = strata__m2m_check(s);
    if (rc != STRATA_OK)
        return rc;
    bool work = s->nm2m > 0;
    for (size_t i = 0; i < s->nobjs && !work; i++)
        work = is_dirty(s->objs[i]) ||
               (s->objs[i]->priv->orphan && s->objs[i]->priv->state == OBJ_PERSISTENT);
    if (!work) {
        s->has_pending = false;
        return STRATA_OK;
    }
    if (s->read_only)
        return strata__session_error(s, STRATA_E_READONLY,
                                     "the session is read-only: its changes cannot be "
                                     "flushed (roll them back, or use a writing session)");
    if ((rc = strata__session_begin(s)) != STRATA_OK)
        return rc;
    s->flushing = true;
    if ((rc = strata__db_savepoint_with_next(s->db)) != STRATA_OK)
        goto out;
    /* Persistent orphans still without a parent are deleted, as by their
     * cascade: a flush that fails keeps them, orphans still. */
    bool deletes = false; /* whether any object is to be deleted: else no pass looks */
    for (size_t i = 0; i < s->nobjs; i++) {
        strata_object *o = s->objs[i];
        struct strata__object *p = o->priv;
        if (p->orphan && p->state == OBJ_PERSISTENT) {
            if (strata__relation_orphaned(o)) {
                p->state = OBJ_DELETED;
                p->deleted_in_tx = p->cascaded_now = true;
            } else {
                p->orphan = false; /* a parent has it again */
            }
        }
        deletes |= p->state == OBJ_DELETED;
    }
    int top = max_rank(s);
    /* Parents first. */
    for (int rank = 0; rank <= top && rc == STRATA_OK; rank++) {
        for (int m = 0; m < s->nmodels && rc == STRATA_OK; m++) {
            if (s->models[m]->rank == rank)
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
    /* Cascades mark children deleted (loading them), until nothing
     * changes; only deleted objects do (the inserts and updates above
     * delete none). */
    for (bool changed = deletes; changed && rc == STRATA_OK;) {
        changed = false;
        for (size_t i = 0; i < s->nobjs && rc == STRATA_OK; i++)
            if (s->objs[i]->priv->state == OBJ_DELETED)
                rc = strata__relation_cascade(s->objs[i], &changed);
    }
    /* Children first. */
    for (int rank = top; deletes && rank >= 0 && rc == STRATA_OK; rank--) {
        for (size_t i = 0; i < s->nobjs && rc == STRATA_OK; i++) {
            strata_object *o = s->objs[i];
            if (o->priv->state == OBJ_DELETED && o->priv->mi->rank == rank &&
                !deletes_in_order(o->priv->mi))
                rc = delete_object(s, o);
        }
        for (int m = 0; m < s->nmodels && rc == STRATA_OK; m++)
            if (s->models[m]->rank == rank && deletes_in_order(s->models[m]))
                rc = delete_in_rounds(s, s->models[m]);
    }
    if (rc == STRATA_OK && deletes)
        rc = expire_reached(s);
    /* A commit's own flush leaves its savepoint to the COMMIT. */
    if (rc == STRATA_OK)
        rc = s->committing && strata__session_owns_tx(s)
                 ? strata__db_savepoint_keep_to_commit(s->db)
                 : strata__db_savepoint_end(s->db, true);
    if (rc == STRATA_OK) {
        s->has_pending = false;
        s->nm2m = 0;
        flush_forget(s);
    } else {
        /* Undo this flush in the database; the objects keep their states
         * so the caller can fix and flush again, or roll back. */
        rc = strata__db_savepoint_undo(s->db, rc);
        flush_undo(s);
    }
out:
    s->flushing = false;
    return rc;
}

/* ---- upsert ------------------------------------------------------------ */

int strata_upsert(void *obj, const char *on, void *out)
{
    STRATA__CONFINE(strata__object_db(obj), STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *(void **)out = NULL;
    strata_object *o = strata__as_object(obj);
    if (!o || !on)
        return STRATA_E_MISUSE;
    if (o->priv->state != OBJ_TRANSIENT)
        return strata__session_error(o->priv->mi->s, STRATA_E_MISUSE,
                                     "upsert of %s: the object is already %s; upsert a new one "
                                     "(strata_new, not added)",
                                     o->model->name,
                                     o->priv->state == OBJ_PENDING ? "added" : "in the session");
    uint64_t mark = o->priv->mi->s->db->nerrors;
    strata_session *s = o->priv->mi->s;
    strata__minfo *mi = o->priv->mi;
    if (!s->dl || !s->dl->upsert)
        return strata__session_error(s, STRATA_E_UNSUPPORTED,
                                     "upsert of %s: the %s engine has no upsert", o->model->name,
                                     strata_db_backend(s->db));
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
    /* A many-to-one set on it gives its key, as at an insert: its target,
     * if new, was inserted by the flush just now. */
    if (rc == STRATA_OK)
        rc = strata__relation_check_targets(o);
    if (rc == STRATA_OK) {
        strata__relation_fix_keys(o);
        apply_defaults(o);
        rc = validate(o, true);
    }
    if (rc == STRATA_OK)
        rc = strata__session_begin(s);
    /* In a savepoint, as a flush is: a refused upsert takes back only
     * itself, and the transaction goes on. */
    if (rc == STRATA_OK)
        rc = strata__db_savepoint_with_next(s->db);
    if (rc != STRATA_OK) {
        strata__names_free(&keys);
        return rc;
    }
    bool read = false; /* the row was read into an object: its write stays */
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
    strata__sb_puts(&sb, ")");
    const char *kq[64], *set[64];
    int keyf[64], nset = 0;
    for (int k = 0; k < keys.n && k < 64; k++)
        kq[k] = mi->qcols[keyf[k] = strata__field_index(mi, keys.v[k])];
    for (int f = 0; f < mi->nfields && f < 64; f++) {
        if (!(mask & (1ull << f)) || strata__is_key_field(mi, f) ||
            strata__names_has(&keys, mi->m->fields[f].name))
            continue;
        set[nset++] = mi->qcols[f];
    }
    if (!nset) /* nothing else to update: still touch the row, so it comes back */
        set[nset++] = kq[0];
    int nkeys = keys.n < 64 ? keys.n : 64;
    strata__names_free(&keys);
    s->dl->upsert(&sb, kq, nkeys, set, nset);
    bool returning = has_returning(s);
    for (int f = 0; returning && f < mi->nfields; f++)
        strata__sb_printf(&sb, "%s%s", f ? ", " : " RETURNING ", mi->qcols[f]);
    char *sql = strata__sb_take(&sb);
    strata_stmt *st = NULL;
    rc = sql ? run_bound(s, sql, o, mask, NULL, 0, returning ? STRATA_ROW : STRATA_DONE,
                         returning ? &st : NULL)
             : STRATA_E_NOMEM;
    free(sql);
    /* Its RETURNING row is read, not its end: the write is noted here. */
    if (rc == STRATA_OK)
        strata__db_note_write(s->db);
    if (rc == STRATA_OK && !returning) {
        /* The row as it now is, by the fields that said which row it is. */
        int all[64];
        for (int f = 0; f < mi->nfields && f < 64; f++)
            all[f] = f;
        char *sel = select_by(mi, all, mi->nfields, keyf, nkeys);
        rc = sel ? run_bound(s, sel, o, 0, keyf, nkeys, STRATA_ROW, &st) : STRATA_E_NOMEM;
        free(sel);
    }
    if (rc == STRATA_OK) {
        /* The row's key says whether the session has it already. */
        strata__cell cells[STRATA__MAX_KEY];
        strata__key key;
        int k = 0;
        rc = STRATA_OK;
        for (; k < mi->npk && rc == STRATA_OK; k++) {
            rc = strata__read_cell(st, mi->pkf[k], mi->m->fields[mi->pkf[k]].ctype, &cells[k]);
            key[k] = &cells[k];
        }
        strata_object *target = rc == STRATA_OK ? strata__identity_find_key(mi, key) : NULL;
        while (k-- > 0)
            if (strata__ctype_bytes(mi->m->fields[mi->pkf[k]].ctype))
                free(cells[k].p);
        if (!target)
            target = o;
        if (rc == STRATA_OK)
            rc = strata__savepoint_note(target);
        int bad;
        if (rc == STRATA_OK)
            rc = strata__read_row_whole(st, 0, target, &bad); /* as it was when it fails */
        read = rc == STRATA_OK;
        /* The new snapshot is taken before the old one goes: without
         * memory for it, a persistent target keeps its key's snapshot
         * (the identity map reads the key there), and the row's values,
         * which the database now has, are changes a flush writes again. */
        strata__cell *now = rc == STRATA_OK ? strata__snapshot(target, false) : NULL;
        if (rc == STRATA_OK && !now)
            rc = STRATA_E_NOMEM;
        if (rc == STRATA_OK) {
            strata__cell *before = target->priv->loaded;
            target->priv->loaded = now;
            target->priv->tx_serial = strata__db_tx_serial(s->db);
            /* A held object the row moved to another parent: its
             * many-to-ones and the parents' loaded collections follow. */
            if (target != o) {
                strata__relation_settle(target, before);
                strata__relation_let_go(o);
            }
            strata__snapshot_release(before);
        }
        if (rc == STRATA_OK && target == o) {
            o->priv->state = OBJ_PERSISTENT;
            o->priv->added_in_tx = true;
            o->priv->key_numbered = mi->pk >= 0 && !(mask & (1ull << mi->pk));
            if (!strata__identity_put(mi, o))
                rc = STRATA_E_NOMEM;
        }
        if (rc == STRATA_OK)
            *(void **)out = target;
    }
    strata_stmt_finalize(st);
    if (rc == STRATA_OK || read) {
        /* The objects hold the row: a release that fails (a cancel)
         * leaves only a rollback, which makes them right again. */
        int kept = strata__db_savepoint_end(s->db, true);
        if (kept != STRATA_OK)
            strata__db_savepoint_abandon(s->db);
        if (rc == STRATA_OK)
            rc = kept;
    } else {
        rc = strata__db_savepoint_undo(s->db, rc);
    }
    if (rc == STRATA_E_NOMEM) {
        char what[160];
        snprintf(what, sizeof what, "upsert of %s", o->model->name);
        strata__db_said_since(s->db, mark, rc, what);
    } else if (rc != STRATA_OK) {
        strata__db_error_context(s->db, "upsert of %s", o->model->name);
    }
    return rc;
}
