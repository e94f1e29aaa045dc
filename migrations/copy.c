/*
 * copy.c - strata_copy_database: every table of one database into another,
 * across engines, in one transaction on the target, verified before it
 * commits.
 *
 * The source is read in one snapshot.  Its schema comes from
 * introspection; an empty target gets it through the schema layer (the
 * same DDL create_all and the migrations write), a target with tables must
 * already have it, at the same migration revision.  Rows travel as
 * strata's portable values: read with the column getters, bound with the
 * matching binders, in multi-row INSERTs of up to batch_rows rows.  Each
 * row is hashed on the way (a canonical form per portable type, so "12.30"
 * from PostgreSQL and "12.3" from SQLite agree); the hashes are summed, so
 * the order rows come back in does not matter.
 *
 * Rows may refer to rows copied after them (later in their own table's
 * key order, or in a table copied later, two tables referring to each
 * other).  Into empty tables, references are checked once every row is
 * in: SQLite's enforcement is paused for the copy and its own check runs
 * before the commit; PostgreSQL's foreign keys of the copied tables are
 * dropped and made again after the rows, from the server's definitions,
 * as pg_dump does.  A reference to nothing is then named.  Added to rows
 * the target holds (into_non_empty), where it checks each statement, a
 * row it refuses for a foreign key is held and goes in once
 * every table's rows are in.  Before the commit every table is read back
 * from the target, counted and hashed the same way.
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migrate_internal.h"

#define DEFAULT_BATCH 500
#define MAX_PARAMS 30000           /* under SQLite's 32766 and PostgreSQL's 65535 */
#define BATCH_BYTES (16 << 20)     /* a batch goes once its texts and blobs reach this */
#define MAX_LOOKUPS 100000         /* rows a failed verification looks up to name one */

/* How a column's text is put in canonical form before hashing. */
typedef enum canon { CANON_PLAIN, CANON_NUMBER, CANON_UUID, CANON_JSON } canon;

typedef struct table_copy {
    const strata_table *t;
    char *qsrc, *qdst; /* the table's name quoted for each side */
    char *from_src;    /* where its rows are read on the source: qsrc, and
                          the introspection's condition that leaves out
                          rows of other copied tables (own_rows: a
                          PostgreSQL table others inherit from) */
    int ncols;
    canon *canon;      /* per column */
    char *src_select;  /* SELECT cols FROM t ORDER BY key */
    char *dst_select;  /* SELECT cols FROM t (verification) */
    char *dst_insert1; /* INSERT of one row */
    int64_t before;    /* target rows before the copy */
    uint64_t sum_before; /* and their checksum (into_non_empty) */
    int64_t rows_src, rows_dst;
    int64_t held;      /* rows held for a foreign key, put in after the rest */
    uint64_t sum_src, sum_dst;
    double seconds;
} table_copy;

/* A row the target refused for a foreign key while the row it refers to
 * was not in yet (later in its own table's key order, or in a table
 * copied later): held, its texts and blobs its own, to go in again once
 * every table's rows are. */
typedef struct held_row {
    table_copy *tc;
    strata_value *v; /* tc->ncols values; NULL once the row is in */
    bool nulled;     /* in with its nullable references NULL, to be set */
} held_row;

/* When the target checks the copied rows' foreign keys. */
typedef enum refs_mode {
    REFS_AT_ONCE, /* at each statement: a row refused for one is held */
    REFS_PAUSED,  /* enforcement paused for the copy, the engine's check before the commit */
    REFS_AFTER    /* the tables' foreign keys dropped, made again after the rows */
} refs_mode;

/* A foreign key dropped until the rows are in: table tables[table]'s key
 * `name`, to be made again from the engine's own definition. */
typedef struct dropped_key {
    int table;
    char *name, *def;
} dropped_key;

typedef struct copier {
    strata_db *src, *dst;
    strata_copy_options o;
    const strata__dialect *dst_dl;
    table_copy *tables;
    int ntables;
    held_row *held;
    int nheld, capheld;
    refs_mode refs;
    dropped_key *dropped; /* REFS_AFTER */
    int ndropped;
    bool resume; /* REFS_PAUSED: enforcement to switch back on at the end */
    uint64_t src_mark, dst_mark; /* each handle's count of errors when the copy began */
} copier;

/* ---- errors ------------------------------------------------------------ */

/* An error met on `where` (either handle), reported on the target with
 * what was being done.  `rc` is what the failed step returned: the code
 * when the step gave `where` no error of its own during the copy (an
 * allocation's NULL), said then in the code's words; an earlier call's
 * error on the handle is never taken for it. */
static int failed_on(copier *c, strata_db *where, int rc, const char *fmt, ...)
    STRATA_PRINTF(4, 5);
static int failed_on(copier *c, strata_db *where, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *doing = strata__vformat(fmt, ap);
    va_end(ap);
    int code = strata__db_error_since(where, where == c->dst ? c->dst_mark : c->src_mark,
                                      strata_is_error(rc) ? rc : STRATA_E_ERROR);
    if (where == c->dst) {
        strata__db_error_context(c->dst, "%s", doing ? doing : "copying");
    } else {
        /* The source's connection may be the one lost: the target's is
         * not, and stays usable for the rollback that follows. */
        /* An empty `doing`: the source's message says what it was doing. */
        bool said = doing && !*doing;
        strata__db_error_words(c->dst, code,
                               strata_db_sqlstate(where)[0] ? strata_db_sqlstate(where) : NULL,
                               strata_db_native_code(where), "%s%son the source: %s",
                               said    ? ""
                               : doing ? doing
                                       : "copying",
                               said ? "" : ": ", strata_db_errmsg(where));
    }
    free(doing);
    return code;
}

/* ---- canonical hashing -------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Decimal text as digits and a power of ten: "12.30" and "1.23e1" both
 * become "123e-1".  Text that is no decimal number is hashed as it is. */
static uint64_t hash_number(uint64_t h, const char *s, size_t n)
{
    char digits[128];
    size_t nd = 0, i = 0;
    bool neg = false, point = false, any = false;
    long exp = 0;
    while (i < n && isspace((unsigned char)s[i]))
        i++;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    for (; i < n; i++) {
        if (s[i] == '.' && !point) {
            point = true;
        } else if (isdigit((unsigned char)s[i])) {
            any = true;
            if (nd == 0 && s[i] == '0') { /* leading zero */
                if (point)
                    exp--;
                continue;
            }
            if (nd == sizeof digits)
                return fnv(h, s, n);
            digits[nd++] = s[i];
            if (point)
                exp--;
        } else {
            break;
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        char *end;
        char buf[32];
        size_t len = n - i - 1 < sizeof buf - 1 ? n - i - 1 : sizeof buf - 1;
        memcpy(buf, s + i + 1, len);
        buf[len] = '\0';
        long e = strtol(buf, &end, 10);
        if (end == buf || e > 100000 || e < -100000)
            return fnv(h, s, n);
        exp += e;
        i += 1 + (size_t)(end - buf);
    }
    while (i < n && isspace((unsigned char)s[i]))
        i++;
    if (!any || i != n)
        return fnv(h, s, n);
    while (nd > 0 && digits[nd - 1] == '0') {
        nd--;
        exp++;
    }
    if (nd == 0) /* zero, whatever its sign and scale */
        return fnv(h, "0", 1);
    char tail[32];
    int tl = snprintf(tail, sizeof tail, "e%ld", exp);
    h = fnv(h, neg ? "-" : "+", 1);
    h = fnv(h, digits, nd);
    return fnv(h, tail, (size_t)tl);
}

/* One column of the current row into the row's hash. */
static int hash_column(strata_stmt *st, int col, canon k, uint64_t *h)
{
    int rc = STRATA_OK;
    strata_type type = strata_stmt_column_type(st, col);
    /* PostgreSQL's jsonb rewrites a JSON text (key order, spaces,
     * escapes), and SQLite keeps a JSON number (42) as a number: only
     * whether there is a value is compared. */
    if (k == CANON_JSON) {
        *h = fnv(fnv(*h, type == STRATA_TYPE_NULL ? "n" : "j", 1), "|", 1);
        return STRATA_OK;
    }
    switch (type) {
    case STRATA_TYPE_NULL: *h = fnv(*h, "n", 1); break;
    case STRATA_TYPE_INT64:
    case STRATA_TYPE_BOOL: {
        int64_t v = 0;
        rc = strata_stmt_column_int64(st, col, &v);
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%" PRId64, v);
        /* An integer in a numeric column is the same number as its text. */
        *h = k == CANON_NUMBER ? hash_number(fnv(*h, "#", 1), buf, (size_t)n)
                               : fnv(fnv(*h, "i", 1), buf, (size_t)n);
        break;
    }
    case STRATA_TYPE_DOUBLE: {
        double d = 0;
        rc = strata_stmt_column_double(st, col, &d);
        /* The shortest text that reads back as d: SQLite holds a numeric
         * 12.30 as the double 12.3, which is "12.3", not 12.300000000000001. */
        char buf[40];
        int n = 0;
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(buf, sizeof buf, "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        *h = k == CANON_NUMBER ? hash_number(fnv(*h, "#", 1), buf, (size_t)n)
                               : fnv(fnv(*h, "d", 1), buf, (size_t)n);
        break;
    }
    case STRATA_TYPE_TIMESTAMP: {
        strata_timestamp ts = 0;
        rc = strata_stmt_column_timestamp(st, col, &ts);
        *h = fnv(fnv(*h, "T", 1), &ts, sizeof ts);
        break;
    }
    case STRATA_TYPE_TEXT: {
        const char *s = NULL;
        size_t n = 0;
        rc = strata_stmt_column_text(st, col, &s, &n);
        if (rc != STRATA_OK)
            break;
        if (k == CANON_NUMBER) {
            *h = hash_number(fnv(*h, "#", 1), s, n);
        } else if (k == CANON_UUID) {
            *h = fnv(*h, "u", 1);
            for (size_t i = 0; i < n; i++) {
                char c = (char)tolower((unsigned char)s[i]);
                *h = fnv(*h, &c, 1);
            }
        } else {
            *h = fnv(fnv(*h, "t", 1), s, n);
        }
        break;
    }
    case STRATA_TYPE_BLOB: {
        const void *p = NULL;
        size_t n = 0;
        rc = strata_stmt_column_blob(st, col, &p, &n);
        *h = fnv(fnv(*h, "b", 1), p, n);
        break;
    }
    }
    *h = fnv(*h, "|", 1);
    return rc;
}

static int hash_row(strata_stmt *st, const table_copy *tc, uint64_t *out)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < tc->ncols; i++) {
        int rc = hash_column(st, i, tc->canon[i], &h);
        if (rc != STRATA_OK && rc != STRATA_NULL)
            return rc;
    }
    *out = h;
    return STRATA_OK;
}

/* ---- one table's statements -------------------------------------------- */

static canon canon_of(const strata_column *col)
{
    switch (col->type.kind) {
    case STRATA_SQL_NUMERIC: return CANON_NUMBER;
    case STRATA_SQL_UUID: return CANON_UUID;
    case STRATA_SQL_JSON: return CANON_JSON;
    default: return CANON_PLAIN;
    }
}

static void put_columns(strata__sb *sb, const strata_driver *drv, const strata_table *t)
{
    for (int i = 0; i < t->ncols; i++) {
        if (i)
            strata__sb_puts(sb, ", ");
        strata__sb_ident(sb, drv, t->cols[i]->name);
    }
}

/* INSERT INTO t (cols) VALUES (?, ...), ... for `rows` rows. */
static char *insert_sql(const table_copy *tc, const strata_driver *drv, int rows)
{
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "INSERT INTO %s (", tc->qdst);
    put_columns(&sb, drv, tc->t);
    strata__sb_puts(&sb, ") VALUES ");
    for (int r = 0; r < rows; r++) {
        strata__sb_puts(&sb, r ? ", (" : "(");
        for (int i = 0; i < tc->ncols; i++)
            strata__sb_puts(&sb, i ? ", ?" : "?");
        strata__sb_putc(&sb, ')');
    }
    return strata__sb_take(&sb);
}

static int table_prepare(copier *c, table_copy *tc, const strata_table *t)
{
    const strata_driver *sd = strata_db_driver(c->src), *dd = strata_db_driver(c->dst);
    tc->t = t;
    tc->ncols = t->ncols;
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_ident(&sb, sd, t->name);
    tc->qsrc = strata__sb_take(&sb);
    strata__sb_init(&sb);
    strata__sb_ident(&sb, dd, t->name);
    tc->qdst = strata__sb_take(&sb);
    strata__sb_init(&sb);
    strata__sb_puts(&sb, tc->qsrc ? tc->qsrc : "");
    if (t->own_rows)
        strata__sb_cat(&sb, " WHERE ", t->own_rows, (char *)NULL);
    tc->from_src = strata__sb_take(&sb);
    tc->canon = calloc((size_t)t->ncols + 1, sizeof *tc->canon);
    if (!tc->qsrc || !tc->qdst || !tc->from_src || !tc->canon)
        return STRATA_E_NOMEM;
    for (int i = 0; i < t->ncols; i++)
        tc->canon[i] = canon_of(t->cols[i]);
    strata__sb_init(&sb);
    strata__sb_puts(&sb, "SELECT ");
    put_columns(&sb, sd, t);
    strata__sb_printf(&sb, " FROM %s", tc->from_src);
    /* Key order: parents before the children that reference them within
     * one table (a tree of comments), and a stable order for messages. */
    const strata__names *key = t->pk ? &t->pk->cols : NULL;
    for (int i = 0; key && i < key->n; i++) {
        strata__sb_puts(&sb, i ? ", " : " ORDER BY ");
        strata__sb_ident(&sb, sd, key->v[i]);
    }
    tc->src_select = strata__sb_take(&sb);
    strata__sb_init(&sb);
    strata__sb_puts(&sb, "SELECT ");
    put_columns(&sb, dd, t);
    strata__sb_printf(&sb, " FROM %s", tc->qdst);
    tc->dst_select = strata__sb_take(&sb);
    tc->dst_insert1 = insert_sql(tc, dd, 1);
    return tc->src_select && tc->dst_select && tc->dst_insert1 ? STRATA_OK : STRATA_E_NOMEM;
}

static void table_free(table_copy *tc)
{
    free(tc->qsrc);
    free(tc->qdst);
    free(tc->from_src);
    free(tc->canon);
    free(tc->src_select);
    free(tc->dst_select);
    free(tc->dst_insert1);
}

static int count_rows(strata_db *db, const char *qtable, int64_t *out)
{
    char *sql = NULL;
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "SELECT count(*) FROM %s", qtable);
    if (!(sql = strata__sb_take(&sb)))
        return STRATA_E_NOMEM;
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db, sql);
    free(sql);
    if (rc != STRATA_OK)
        return rc;
    if ((rc = strata_stmt_step(st)) == STRATA_ROW)
        rc = strata_stmt_column_int64(st, 0, out);
    strata_stmt_finalize(st);
    return rc;
}

/* ---- a batch of rows ---------------------------------------------------- */

/* Values of up to `cap` rows, copied out of the source's row buffers. */
typedef struct batch {
    strata_value *v; /* rows * ncols */
    char **owned;    /* per value: the text or blob copy, or NULL */
    int rows, cap, ncols;
    size_t bytes;    /* of the copies: wide rows make short batches */
} batch;

static void batch_clear(batch *b)
{
    for (int i = 0; i < b->rows * b->ncols; i++) {
        free(b->owned[i]);
        b->owned[i] = NULL;
    }
    b->rows = 0;
    b->bytes = 0;
}

/* Take the source's current row into the batch. */
static int batch_take(batch *b, strata_stmt *st)
{
    strata_value *row = b->v + (size_t)b->rows * (size_t)b->ncols;
    char **own = b->owned + (size_t)b->rows * (size_t)b->ncols;
    for (int i = 0; i < b->ncols; i++) {
        int rc = strata__stmt_column_copy(st, i, &row[i]);
        if (rc != STRATA_OK) {
            for (int k = 0; k < i; k++) { /* the row is not taken: nothing of it stays */
                free(own[k]);
                own[k] = NULL;
            }
            return rc;
        }
        if (row[i].type == STRATA_TYPE_TEXT || row[i].type == STRATA_TYPE_BLOB) {
            own[i] = (char *)row[i].u.buf.ptr;
            b->bytes += row[i].u.buf.len;
        }
    }
    b->rows++;
    return STRATA_OK;
}

/* A value the binding refused names its parameter ("parameter 7: text
 * is not valid UTF-8"): the copy names the column instead. */
static int column_error(strata_db *db, int rc, int param, const char *column)
{
    char prefix[32];
    int n = snprintf(prefix, sizeof prefix, "parameter %d: ", param);
    const char *msg = strata_db_errmsg(db);
    if (rc == STRATA_E_NOMEM || strncmp(msg, prefix, (size_t)n) != 0)
        return rc;
    char *why = strata__strdup(msg + n);
    rc = why ? strata__db_error(db, rc, "column %s: %s", column, why) : STRATA_E_NOMEM;
    free(why);
    return rc;
}

/* Whether a column of this type can take bytes as they are: a blob in
 * another (SQLite keeps one in an INTEGER column) would be refused by
 * the target in the engine's words, or kept there as a blob by SQLite.
 * A text column takes one only on the engine it came from (SQLite to
 * SQLite): PostgreSQL's would take the bytea's text form (\x...), and
 * the copy would differ from its source. */
static bool takes_blob(const strata_column *col, bool same_engine)
{
    switch (col->type.kind) {
    case STRATA_SQL_BLOB:
    case STRATA_SQL_RAW: return true;
    case STRATA_SQL_STRING:
    case STRATA_SQL_TEXT: return same_engine;
    default: return false;
    }
}

static bool same_engine(const copier *c)
{
    return strata_db_driver(c->src) == strata_db_driver(c->dst);
}

static int bind_rows(strata_db *db, strata_stmt *st, const table_copy *tc,
                     const strata_value *rows, int nrows, bool same_engine)
{
    int p = 1;
    for (int r = 0; r < nrows; r++)
        for (int i = 0; i < tc->ncols; i++) {
            const strata_value *v = &rows[(size_t)r * (size_t)tc->ncols + (size_t)i];
            if (v->type == STRATA_TYPE_BLOB && !takes_blob(tc->t->cols[i], same_engine))
                return strata__db_error(db, STRATA_E_DATA,
                                        "column %s holds a blob of %zu bytes, not a value of "
                                        "its type",
                                        tc->t->cols[i]->name, v->u.buf.len);
            int rc = strata_stmt_bind_value(st, p, v);
            if (rc != STRATA_OK)
                return column_error(db, rc, p, tc->t->cols[i]->name);
            p++;
        }
    return STRATA_OK;
}

/* Columns `cols` of a row (its values, in the table's column order), for
 * a message: "id=7" or "a=1, b='x'". */
static void values_of(strata__sb *sb, const table_copy *tc, const strata_value *row,
                      const strata__names *cols)
{
    for (int k = 0; cols && k < cols->n; k++) {
        const strata_value *v = &row[strata__table_find_column_index(tc->t, cols->v[k])];
        strata__sb_printf(sb, "%s%s=", k ? ", " : "", cols->v[k]);
        switch (v->type) {
        case STRATA_TYPE_INT64:
        case STRATA_TYPE_BOOL: strata__sb_printf(sb, "%" PRId64, v->u.i); break;
        case STRATA_TYPE_TEXT:
            strata__sb_printf(sb, "'%.*s'", (int)(v->u.buf.len < 40 ? v->u.buf.len : 40),
                              (const char *)v->u.buf.ptr);
            break;
        case STRATA_TYPE_NULL: strata__sb_puts(sb, "NULL"); break;
        default: strata__sb_puts(sb, "?"); break;
        }
    }
}

/* The key of a row, for a message. */
static void key_of(strata__sb *sb, const table_copy *tc, const strata_value *row)
{
    values_of(sb, tc, row, tc->t->pk ? &tc->t->pk->cols : NULL);
}

/* The key of row r of the batch, for a message. */
static void key_text(strata__sb *sb, const table_copy *tc, const batch *b, int r)
{
    if (tc->t->pk)
        key_of(sb, tc, &b->v[(size_t)r * (size_t)b->ncols]);
    else
        strata__sb_printf(sb, "row %d of the batch", r + 1);
}

/* Whether an error refusing rows is about one of them, not about the
 * connection, the clock or another transaction's locks. */
static bool row_error(int code)
{
    switch (code) {
    case STRATA_E_CONNECTION_LOST:
    case STRATA_E_TIMEOUT:
    case STRATA_E_BUSY:
    case STRATA_E_DEADLOCK:
    case STRATA_E_SERIALIZATION:
    case STRATA_E_NOMEM:
    case STRATA_E_DISK_FULL:
    case STRATA_E_READONLY:
    case STRATA_E_PERMISSION:
    case STRATA_E_PROTOCOL: return false;
    default: return strata_is_error(code);
    }
}

/* Insert one row in a savepoint of its own: STRATA_DONE, or the refusal
 * (its message kept on the target) with the target as before the row.
 * Only on the paths a refusal takes: its statement comes from the
 * connection's cache each time. */
static int insert_alone(copier *c, const table_copy *tc, const strata_value *row)
{
    strata_stmt *one = NULL;
    int rc = strata_stmt_prepare(&one, c->dst, tc->dst_insert1);
    if (rc != STRATA_OK)
        return rc;
    if ((rc = strata_db_savepoint(c->dst)) != STRATA_OK) {
        strata_stmt_finalize(one);
        return rc;
    }
    if ((rc = bind_rows(c->dst, one, tc, row, 1, same_engine(c))) == STRATA_OK)
        rc = strata_stmt_step(one);
    strata_stmt_finalize(one);
    if (rc == STRATA_DONE) {
        int done = strata_db_savepoint_release(c->dst);
        return done == STRATA_OK ? STRATA_DONE : done;
    }
    strata__kept_error e;
    strata__error_keep(&e, c->dst);
    int back = strata_db_savepoint_rollback(c->dst);
    if (back != STRATA_OK) {
        free(e.msg);
        return back; /* the transaction is lost: that error stands */
    }
    e.code = rc;
    return strata__error_put_back(&e, c->dst, NULL);
}

static void held_free(held_row *h)
{
    for (int i = 0; h->v && i < h->tc->ncols; i++)
        if (h->v[i].type == STRATA_TYPE_TEXT || h->v[i].type == STRATA_TYPE_BLOB)
            free((void *)h->v[i].u.buf.ptr);
    free(h->v);
    h->v = NULL;
}

/* Hold row r of the batch: its values move to the held list, texts and
 * blobs with them. */
static int hold_row(copier *c, table_copy *tc, batch *b, int r)
{
    if (c->nheld == c->capheld) {
        if (c->capheld > INT_MAX / 4)
            return STRATA_E_NOMEM;
        int cap = c->capheld ? 2 * c->capheld : 64;
        held_row *grown = realloc(c->held, (size_t)cap * sizeof *grown);
        if (!grown)
            return STRATA_E_NOMEM;
        c->held = grown;
        c->capheld = cap;
    }
    strata_value *v = malloc((size_t)tc->ncols * sizeof *v + 1);
    if (!v)
        return STRATA_E_NOMEM;
    size_t at = (size_t)r * (size_t)b->ncols;
    memcpy(v, &b->v[at], (size_t)tc->ncols * sizeof *v);
    for (int i = 0; i < tc->ncols; i++)
        b->owned[at + (size_t)i] = NULL; /* now the held row's */
    c->held[c->nheld++] = (held_row){tc, v, false};
    tc->held++;
    return STRATA_OK;
}

/* The copy fails on held row h, whose refusal is the target's error;
 * `how`: what the copy did to the row, or "". */
static int held_failed(copier *c, held_row *h, int rc, const char *how)
{
    strata__sb where;
    strata__sb_init(&where);
    if (h->tc->t->pk)
        key_of(&where, h->tc, h->v);
    int code = failed_on(c, c->dst, rc, "copying table %s (%s%s%s)", h->tc->t->name,
                         where.data ? "the row with " : "one of its rows",
                         where.data ? where.data : "", how);
    strata__sb_free(&where);
    return code;
}

/* Insert the batch: one multi-row INSERT (full batches share one prepared
 * statement), inside a savepoint.  When the target refuses it, the rows
 * go again one by one to name the first one refused, or to hold
 * the ones refused for a foreign key. */
static int batch_flush(copier *c, table_copy *tc, batch *b, strata_stmt **full, int full_rows)
{
    if (b->rows == 0)
        return STRATA_OK;
    int rc = strata_db_savepoint(c->dst);
    if (rc != STRATA_OK)
        return failed_on(c, c->dst, rc, "copying table %s", tc->t->name);
    strata_stmt *st = NULL;
    if (b->rows == full_rows && *full) {
        st = *full;
    } else {
        char *sql = insert_sql(tc, strata_db_driver(c->dst), b->rows);
        rc = sql ? strata_stmt_prepare(&st, c->dst, sql) : STRATA_E_NOMEM;
        free(sql);
        if (rc == STRATA_OK && b->rows == full_rows)
            *full = st;
    }
    if (rc == STRATA_OK && (rc = bind_rows(c->dst, st, tc, b->v, b->rows, same_engine(c))) == STRATA_OK)
        rc = strata_stmt_step(st);
    if (st && st != *full)
        strata_stmt_finalize(st);
    else if (st)
        strata_stmt_reset(st);
    if (rc == STRATA_DONE)
        return (rc = strata_db_savepoint_release(c->dst)) == STRATA_OK
                   ? STRATA_OK
                   : failed_on(c, c->dst, rc, "copying table %s", tc->t->name);
    if (rc == STRATA_E_NOMEM)
        return strata__db_error(c->dst, rc, "out of memory");
    /* Find the row: back to before the batch, then one by one.  A row
     * refused for a foreign key is held for later (what it refers to may
     * come after it); should the others go in, the batch is done.  Should
     * each go in alone, or the failure be no row's (a lost connection, a
     * timeout, a lock), the batch's own error stands. */
    int code = strata_db_errcode(c->dst);
    char *msg = strata__strdup(strata_db_errmsg(c->dst));
    int r = b->rows, rc1 = STRATA_DONE, held = 0;
    if (row_error(code) && strata_db_savepoint_rollback(c->dst) == STRATA_OK) {
        for (r = 0; r < b->rows; r++) {
            rc1 = insert_alone(c, tc, &b->v[(size_t)r * (size_t)b->ncols]);
            if (rc1 == STRATA_E_FOREIGN_KEY) {
                if ((rc1 = hold_row(c, tc, b, r)) != STRATA_OK)
                    break;
                held++;
                rc1 = STRATA_DONE;
            }
            if (rc1 != STRATA_DONE)
                break;
        }
    }
    if (r == b->rows && rc1 == STRATA_DONE && held > 0) {
        free(msg);
        return STRATA_OK;
    }
    if (rc1 == STRATA_E_NOMEM) {
        free(msg);
        return strata__db_error(c->dst, rc1, "out of memory");
    }
    strata__sb where;
    strata__sb_init(&where);
    if (r < b->rows && rc1 != STRATA_DONE && row_error(rc1))
        key_text(&where, tc, b, r);
    else if (r < b->rows && rc1 != STRATA_DONE)
        ; /* the replay's own failure, no row's (the connection lost): it stands */
    else if (strata_is_error(code))
        strata__db_error(c->dst, code, "%s", msg ? msg : strata_errstr(code));
    free(msg);
    code = failed_on(c, c->dst, code, "copying table %s%s%s%s", tc->t->name,
                     where.data ? " (the row with " : "", where.data ? where.data : "",
                     where.data ? ")" : "");
    strata__sb_free(&where);
    return code;
}

/* ---- the order held rows go in ------------------------------------------ */

/* Which held rows each held row refers to, found by value: a row can go
 * in once those are in, so they go in that order (dependencies first),
 * each once, however long the chains.  deps[at[i] .. at[i + 1]) are the
 * rows row i refers to. */
typedef struct held_graph {
    int *at, *deps;
    int *order; /* every held row, the ones it refers to before it */
} held_graph;

static void graph_free(held_graph *g)
{
    free(g->at);
    free(g->deps);
    free(g->order);
}

/* fk's columns as indexes into a row of its table t, and of the table rt
 * it refers to; false when a name is not found or there are too many. */
static bool fk_columns(const strata__cons *fk, const strata_table *t, const strata_table *rt,
                       int *mine, int *theirs)
{
    if (fk->cols.n < 1 || fk->cols.n > 16 || fk->ref_cols.n != fk->cols.n)
        return false;
    for (int k = 0; k < fk->cols.n; k++) {
        mine[k] = strata__table_find_column_index(t, fk->cols.v[k]);
        theirs[k] = strata__table_find_column_index(rt, fk->ref_cols.v[k]);
        if (mine[k] < 0 || theirs[k] < 0)
            return false;
    }
    return true;
}

/* A key value as a reference finds it: SQLite compares a reference with
 * the referred column's affinity, so 5, 5.0 and '5' are one key.  A
 * number is its decimal text; text and blobs are their bytes (a blob
 * tagged apart).  Into buf (32 bytes) for a number. */
static const void *key_bytes(const strata_value *v, char *buf, size_t *len, char *tag)
{
    *tag = v->type == STRATA_TYPE_BLOB ? 'b' : 't';
    switch (v->type) {
    case STRATA_TYPE_TEXT:
    case STRATA_TYPE_BLOB: *len = v->u.buf.len; return v->u.buf.ptr;
    case STRATA_TYPE_DOUBLE:
        if (v->u.d >= -9.2e18 && v->u.d <= 9.2e18 && v->u.d == (double)(int64_t)v->u.d)
            *len = (size_t)snprintf(buf, 32, "%" PRId64, (int64_t)v->u.d);
        else
            *len = (size_t)snprintf(buf, 32, "%.17g", v->u.d);
        return buf;
    default: *len = (size_t)snprintf(buf, 32, "%" PRId64, v->u.i); return buf;
    }
}

/* The hash of a row's values in columns cols[0 .. n); false when one is
 * NULL (a reference to nothing). */
static bool values_hash(const strata_value *row, const int *cols, int n, uint64_t *h)
{
    for (int k = 0; k < n; k++) {
        const strata_value *v = &row[cols[k]];
        if (v->type == STRATA_TYPE_NULL)
            return false;
        char buf[32], tag;
        size_t len;
        const void *p = key_bytes(v, buf, &len, &tag);
        *h = fnv(fnv(fnv(*h, &tag, 1), p, len), "|", 1);
    }
    return true;
}

static bool values_same(const strata_value *a, const int *ac, const strata_value *b, const int *bc,
                        int n)
{
    for (int k = 0; k < n; k++) {
        char xb[32], yb[32], xt, yt;
        size_t xl, yl;
        const void *x = key_bytes(&a[ac[k]], xb, &xl, &xt);
        const void *y = key_bytes(&b[bc[k]], yb, &yl, &yt);
        if (xt != yt || xl != yl || memcmp(x, y, xl) != 0)
            return false;
    }
    return true;
}

/* An entry of the index of held rows by the values a foreign key refers
 * to: row `row` has values `hash` in the columns `fk` names. */
typedef struct held_key {
    const strata__cons *fk;
    uint64_t hash;
    int row; /* -1: empty slot */
} held_key;

static uint64_t fk_seed(const strata__cons *fk)
{
    uintptr_t p = (uintptr_t)fk;
    return fnv(0xcbf29ce484222325ULL, &p, sizeof p);
}

/* Every edge from held row i to the held rows its foreign keys refer to:
 * counted (out == NULL) or written at out. */
static int edges_of(const copier *c, const held_key *idx, size_t mask, int i, int *out)
{
    const held_row *h = &c->held[i];
    const strata_table *t = h->tc->t;
    int n = 0;
    for (int k = 0; k < t->ncons; k++) {
        const strata__cons *fk = t->cons[k];
        if (fk->kind != CONS_FK)
            continue;
        const strata_table *rt = NULL;
        for (int j = 0; j < c->ntables && !rt; j++)
            if (!strcmp(c->tables[j].t->name, fk->ref_table))
                rt = c->tables[j].t;
        int mine[16], theirs[16];
        uint64_t hash = fk_seed(fk);
        if (!rt || !fk_columns(fk, t, rt, mine, theirs) ||
            !values_hash(h->v, mine, fk->cols.n, &hash))
            continue;
        for (size_t s = hash & mask; idx[s].row >= 0; s = (s + 1) & mask) {
            const held_row *g = &c->held[idx[s].row];
            if (idx[s].fk == fk && idx[s].hash == hash && idx[s].row != i &&
                values_same(h->v, mine, g->v, theirs, fk->cols.n)) {
                if (out)
                    out[n] = idx[s].row;
                n++;
            }
        }
    }
    return n;
}

/* The held rows' references to each other, and an order with the rows
 * each refers to first (a ring is broken anywhere: its rows go in later,
 * with their references NULL). */
static int graph_build(copier *c, held_graph *g)
{
    memset(g, 0, sizeof *g);
    int n = c->nheld;
    /* The index: each held row under every foreign key that refers to
     * its table, by the values that key refers to. */
    size_t entries = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < c->ntables; j++)
            for (int k = 0; k < c->tables[j].t->ncons; k++)
                if (c->tables[j].t->cons[k]->kind == CONS_FK &&
                    !strcmp(c->tables[j].t->cons[k]->ref_table, c->held[i].tc->t->name))
                    entries++;
    size_t size = 16;
    while (size < 2 * entries + 16)
        size *= 2;
    held_key *idx = malloc(size * sizeof *idx);
    g->at = malloc(((size_t)n + 1) * sizeof *g->at);
    g->order = malloc(((size_t)n + 1) * sizeof *g->order);
    int *state = calloc((size_t)n + 1, sizeof *state);
    int *stack = malloc(((size_t)n + 1) * 2 * sizeof *stack);
    int rc = idx && g->at && g->order && state && stack ? STRATA_OK : STRATA_E_NOMEM;
    for (size_t s = 0; rc == STRATA_OK && s < size; s++)
        idx[s].row = -1;
    for (int i = 0; rc == STRATA_OK && i < n; i++) {
        const held_row *h = &c->held[i];
        for (int j = 0; j < c->ntables; j++) {
            const strata_table *t = c->tables[j].t;
            for (int k = 0; k < t->ncons; k++) {
                const strata__cons *fk = t->cons[k];
                int mine[16], theirs[16];
                uint64_t hash = fk_seed(fk);
                if (fk->kind != CONS_FK || strcmp(fk->ref_table, h->tc->t->name) != 0 ||
                    !fk_columns(fk, t, h->tc->t, mine, theirs) ||
                    !values_hash(h->v, theirs, fk->cols.n, &hash))
                    continue;
                size_t s = hash & (size - 1);
                while (idx[s].row >= 0)
                    s = (s + 1) & (size - 1);
                idx[s] = (held_key){fk, hash, i};
            }
        }
    }
    /* The edges, counted then written. */
    size_t nedges = 0;
    for (int i = 0; rc == STRATA_OK && i < n; i++) {
        g->at[i] = (int)nedges;
        nedges += (size_t)edges_of(c, idx, size - 1, i, NULL);
        if (nedges > INT_MAX / 2)
            rc = STRATA_E_NOMEM;
    }
    if (rc == STRATA_OK) {
        g->at[n] = (int)nedges;
        g->deps = malloc((nedges + 1) * sizeof *g->deps);
        if (!g->deps)
            rc = STRATA_E_NOMEM;
    }
    for (int i = 0; rc == STRATA_OK && i < n; i++)
        edges_of(c, idx, size - 1, i, g->deps + g->at[i]);
    /* Depth first, each row after the ones it refers to; a row met again
     * on the way down (state 1) closes a ring, which is not followed. */
    int m = 0;
    for (int root = 0; rc == STRATA_OK && root < n; root++) {
        if (state[root])
            continue;
        int top = 0;
        stack[0] = root, stack[1] = 0, state[root] = 1;
        while (top >= 0) {
            int u = stack[2 * top], *next = &stack[2 * top + 1];
            if (*next < g->at[u + 1] - g->at[u]) {
                int v = g->deps[g->at[u] + (*next)++];
                if (!state[v]) {
                    state[v] = 1;
                    top++;
                    stack[2 * top] = v, stack[2 * top + 1] = 0;
                }
            } else {
                state[u] = 2;
                g->order[m++] = u;
                top--;
            }
        }
    }
    free(idx);
    free(state);
    free(stack);
    if (rc != STRATA_OK)
        graph_free(g);
    return rc;
}

/* Passes over the held rows not yet in, in the graph's order then back
 * and forth, until one puts none in.  A refusal other than a foreign
 * key's fails the copy. */
static int held_passes(copier *c, const held_graph *g)
{
    bool progress = true;
    for (int pass = 0; progress; pass++) {
        progress = false;
        for (int k = 0; k < c->nheld; k++) {
            held_row *h = &c->held[g->order[pass % 2 ? c->nheld - 1 - k : k]];
            if (!h->v || h->nulled)
                continue;
            int rc = insert_alone(c, h->tc, h->v);
            if (rc == STRATA_DONE) {
                held_free(h);
                progress = true;
            } else if (rc != STRATA_E_FOREIGN_KEY) {
                return held_failed(c, h, rc, "");
            }
        }
    }
    return STRATA_OK;
}

/* The held row to blame when some cannot go in: the first, in order,
 * whose held references all went in (what it refers to is not in the
 * source); the first left, *ring set, when each refers to another left. */
static held_row *culprit(copier *c, const held_graph *g, bool *ring)
{
    held_row *first = NULL;
    *ring = false;
    for (int k = 0; k < c->nheld; k++) {
        int i = g->order[k];
        held_row *h = &c->held[i];
        if (!h->v || h->nulled)
            continue;
        if (!first)
            first = h;
        bool waits = false;
        for (int e = g->at[i]; e < g->at[i + 1] && !waits; e++)
            waits = c->held[g->deps[e]].v && !c->held[g->deps[e]].nulled;
        if (!waits)
            return h;
    }
    *ring = first != NULL;
    return first;
}

/* Column i of t is in a foreign key, may be NULL, and is not in the key. */
static bool nullable_reference(const strata_table *t, int i)
{
    const strata_column *col = t->cols[i];
    if (!col->nullable || (t->pk && strata__names_has(&t->pk->cols, col->name)))
        return false;
    for (int k = 0; k < t->ncons; k++)
        if (t->cons[k]->kind == CONS_FK && strata__names_has(&t->cons[k]->cols, col->name))
            return true;
    return false;
}

/* Held row h in with its nullable references NULL: STRATA_DONE, or the
 * refusal (STRATA_E_FOREIGN_KEY also when it has no key or no such
 * reference to leave out). */
static int insert_nulled(copier *c, held_row *h)
{
    const table_copy *tc = h->tc;
    strata_value *v = malloc((size_t)tc->ncols * sizeof *v + 1);
    if (!v)
        return STRATA_E_NOMEM;
    int nulled = 0;
    for (int i = 0; i < tc->ncols; i++) {
        v[i] = h->v[i];
        if (tc->t->pk && v[i].type != STRATA_TYPE_NULL && nullable_reference(tc->t, i)) {
            v[i].type = STRATA_TYPE_NULL;
            nulled++;
        }
    }
    int rc = STRATA_E_FOREIGN_KEY;
    if (nulled > 0) {
        rc = insert_alone(c, tc, v);
    }
    free(v);
    return rc;
}

/* Held row h, in with its nullable references NULL: they are set now,
 * by its key. */
static int set_references(copier *c, held_row *h)
{
    const table_copy *tc = h->tc;
    const strata_driver *dd = strata_db_driver(c->dst);
    const strata__names *key = &tc->t->pk->cols;
    strata__sb sql;
    strata__sb_init(&sql);
    strata__sb_printf(&sql, "UPDATE %s SET ", tc->qdst);
    int nset = 0;
    for (int i = 0; i < tc->ncols; i++) {
        if (h->v[i].type == STRATA_TYPE_NULL || !nullable_reference(tc->t, i))
            continue;
        strata__sb_puts(&sql, nset++ ? ", " : "");
        strata__sb_ident(&sql, dd, tc->t->cols[i]->name);
        strata__sb_puts(&sql, " = ?");
    }
    for (int k = 0; k < key->n; k++) {
        strata__sb_puts(&sql, k ? " AND " : " WHERE ");
        strata__sb_ident(&sql, dd, key->v[k]);
        strata__sb_puts(&sql, " = ?");
    }
    char *text = strata__sb_take(&sql);
    strata_stmt *st = NULL;
    int rc = text ? strata_stmt_prepare(&st, c->dst, text) : STRATA_E_NOMEM;
    int p = 1;
    for (int i = 0; i < tc->ncols && rc == STRATA_OK; i++)
        if (h->v[i].type != STRATA_TYPE_NULL && nullable_reference(tc->t, i))
            rc = strata_stmt_bind_value(st, p++, &h->v[i]);
    for (int k = 0; k < key->n && rc == STRATA_OK; k++)
        rc = strata_stmt_bind_value(
            st, p++, &h->v[strata__table_find_column_index(tc->t, key->v[k])]);
    if (rc == STRATA_OK)
        rc = strata_stmt_step(st);
    strata_stmt_finalize(st);
    free(text);
    return rc;
}

/* The rows held for a foreign key, once every table's rows are in.
 * Passes put in what now can.  Rows left refer to each other in a ring
 * (an owner's best pet, and the pet's owner): each with a key goes in
 * with its nullable references NULL, the others get more passes, and the
 * references are set by key last.  A row that still cannot go in, or
 * whose reference cannot be set, refers to a row the source does not
 * have: it fails the copy, named, with the target's message. */
static int insert_held(copier *c)
{
    if (c->nheld == 0)
        return STRATA_OK;
    held_graph g;
    int rc = graph_build(c, &g);
    if (rc != STRATA_OK)
        return strata__db_error(c->dst, rc, "out of memory");
    if ((rc = held_passes(c, &g)) != STRATA_OK)
        goto out;
    for (int k = c->nheld - 1; k >= 0; k--) {
        held_row *h = &c->held[g.order[k]];
        if (!h->v)
            continue;
        /* Refused so (a check that wants the reference), it stays held:
         * once the rest of its ring is in, it may go in whole. */
        rc = insert_nulled(c, h);
        if (rc == STRATA_DONE) {
            h->nulled = true;
        } else if (rc == STRATA_E_NOMEM) {
            rc = strata__db_error(c->dst, rc, "out of memory");
            goto out;
        } else if (!row_error(rc)) {
            rc = failed_on(c, c->dst, rc, "copying table %s", h->tc->t->name);
            goto out;
        }
    }
    if ((rc = held_passes(c, &g)) != STRATA_OK)
        goto out;
    bool ring;
    held_row *h = culprit(c, &g, &ring);
    if (h) {
        /* Once more, for the target's own message. */
        rc = held_failed(c, h, insert_alone(c, h->tc, h->v),
                         !ring ? ""
                         : !c->o.into_non_empty
                             ? "; it is in, or refers to, a ring of rows whose references may "
                               "not be NULL, which the target checks as each row goes in when "
                               "the copy cannot drop the tables' keys: copy as the tables' "
                               "owner, so that their keys are made again after the rows"
                             : "; it is in, or refers to, a ring of rows whose references may "
                               "not be NULL, which the target checks as each row goes in when "
                               "rows are added to what it holds: copy into empty tables "
                               "without into_non_empty (--into-non-empty), where references "
                               "are checked once every row is in");
        goto out;
    }
    /* In the graph's order: a reference to a column that is itself a
     * reference set here finds it set. */
    for (int k = 0; k < c->nheld; k++) {
        held_row *n = &c->held[g.order[k]];
        if (!n->v)
            continue;
        if ((rc = set_references(c, n)) != STRATA_DONE) {
            rc = rc == STRATA_E_NOMEM ? strata__db_error(c->dst, rc, "out of memory")
                                      : held_failed(c, n, rc, "");
            goto out;
        }
        held_free(n);
    }
    rc = STRATA_OK;
out:
    graph_free(&g);
    return rc;
}

/* ---- the copy ----------------------------------------------------------- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int copy_table(copier *c, table_copy *tc)
{
    double start = now_s();
    int64_t total = 0;
    int rc = count_rows(c->src, tc->from_src, &total);
    if (rc != STRATA_OK)
        return failed_on(c, c->src, rc, "counting the rows of table %s", tc->t->name);
    if (c->o.progress && total > 0)
        c->o.progress(c->o.ud, tc->t->name, 0, total); /* the table's start */
    int full = c->o.batch_rows > 0 ? c->o.batch_rows : DEFAULT_BATCH;
    if (full * tc->ncols > MAX_PARAMS)
        full = MAX_PARAMS / (tc->ncols ? tc->ncols : 1);
    if (full < 1)
        full = 1;
    batch b = {.cap = full, .ncols = tc->ncols};
    b.v = calloc((size_t)full * (size_t)tc->ncols + 1, sizeof *b.v);
    b.owned = calloc((size_t)full * (size_t)tc->ncols + 1, sizeof *b.owned);
    strata_stmt *src = NULL, *ins = NULL;
    if (!b.v || !b.owned)
        rc = strata__db_error(c->dst, STRATA_E_NOMEM, "out of memory");
    else if ((rc = strata_stmt_prepare(&src, c->src, tc->src_select)) != STRATA_OK ||
             (rc = strata_stmt_stream(src)) != STRATA_OK)
        rc = failed_on(c, c->src, rc, "reading table %s", tc->t->name);
    while (rc == STRATA_OK) {
        int step = strata_stmt_step(src);
        if (step == STRATA_DONE)
            break;
        if (step != STRATA_ROW) {
            rc = failed_on(c, c->src, step, "reading table %s", tc->t->name);
            break;
        }
        uint64_t h = 0;
        if ((rc = hash_row(src, tc, &h)) != STRATA_OK ||
            (rc = batch_take(&b, src)) != STRATA_OK) {
            rc = rc == STRATA_E_NOMEM ? strata__db_error(c->dst, rc, "out of memory")
                                      : failed_on(c, c->src, rc, "reading table %s", tc->t->name);
            break;
        }
        tc->sum_src += h;
        tc->rows_src++;
        if (b.rows == full || b.bytes >= BATCH_BYTES) {
            rc = batch_flush(c, tc, &b, &ins, full);
            batch_clear(&b);
            /* The table's end is reported once, below. */
            if (rc == STRATA_OK && c->o.progress && tc->rows_src < total)
                c->o.progress(c->o.ud, tc->t->name, tc->rows_src, total);
        }
    }
    if (rc == STRATA_OK)
        rc = batch_flush(c, tc, &b, &ins, full);
    batch_clear(&b);
    strata_stmt_finalize(src);
    strata_stmt_finalize(ins);
    free(b.v);
    free(b.owned);
    tc->seconds = now_s() - start;
    if (rc == STRATA_OK && c->o.progress)
        c->o.progress(c->o.ud, tc->t->name, tc->rows_src, tc->rows_src);
    return rc;
}

/* Count and hash what the target holds now. */
static int verify_table(copier *c, table_copy *tc)
{
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, c->dst, tc->dst_select);
    if (rc == STRATA_OK)
        rc = strata_stmt_stream(st);
    while (rc == STRATA_OK) {
        int step = strata_stmt_step(st);
        if (step == STRATA_DONE)
            break;
        uint64_t h = 0;
        if (step != STRATA_ROW || (rc = hash_row(st, tc, &h)) != STRATA_OK) {
            rc = step != STRATA_ROW ? step : rc;
            break;
        }
        tc->sum_dst += h;
        tc->rows_dst++;
    }
    strata_stmt_finalize(st);
    return rc == STRATA_OK ? STRATA_OK
                           : failed_on(c, c->dst, rc, "reading table %s back", tc->t->name);
}

/* After the checksums of a table differ: the first source row, in key
 * order, that the target lacks or holds otherwise, and the first column
 * that differs, into `where` ("the row with id=3, column at").  Nothing
 * for a table without a key, or when every source row is there as it was
 * (the difference is then among the target's own rows).  Only ever run
 * on a failed copy: a lookup a row, for the first MAX_LOOKUPS rows. */
static int find_difference(copier *c, const table_copy *tc, strata__sb *where)
{
    const strata__names *key = tc->t->pk ? &tc->t->pk->cols : NULL;
    /* More rows on the target than were there and were copied: the
     * source's are all there, and the odd ones are the target's own. */
    if (!key || tc->rows_dst > tc->before + tc->rows_src)
        return STRATA_OK;
    const strata_driver *dd = strata_db_driver(c->dst);
    strata__sb sql;
    strata__sb_init(&sql);
    strata__sb_puts(&sql, "SELECT ");
    put_columns(&sql, dd, tc->t);
    strata__sb_printf(&sql, " FROM %s WHERE ", tc->qdst);
    for (int k = 0; k < key->n; k++) {
        strata__sb_puts(&sql, k ? " AND " : "");
        strata__sb_ident(&sql, dd, key->v[k]);
        strata__sb_puts(&sql, " = ?");
    }
    char *text = strata__sb_take(&sql);
    strata_value *row = calloc((size_t)tc->ncols, sizeof *row);
    strata_stmt *src = NULL, *look = NULL;
    int rc = text && row ? STRATA_OK : STRATA_E_NOMEM;
    if (rc == STRATA_OK && (rc = strata_stmt_prepare(&look, c->dst, text)) != STRATA_OK)
        rc = failed_on(c, c->dst, rc, "looking for the row that differs in table %s", tc->t->name);
    if (rc == STRATA_OK && ((rc = strata_stmt_prepare(&src, c->src, tc->src_select)) != STRATA_OK ||
                            (rc = strata_stmt_stream(src)) != STRATA_OK))
        rc = failed_on(c, c->src, rc, "reading table %s again", tc->t->name);
    for (int64_t looked = 0; rc == STRATA_OK && !where->data && looked < MAX_LOOKUPS; looked++) {
        int step = strata_stmt_step(src);
        if (step == STRATA_DONE)
            break;
        if (step != STRATA_ROW) {
            rc = failed_on(c, c->src, step, "reading table %s again", tc->t->name);
            break;
        }
        for (int i = 0; i < tc->ncols && rc == STRATA_OK; i++)
            rc = strata__stmt_value(src, i, &row[i]);
        bool null_key = false; /* key = NULL finds nothing: such a row is passed over */
        for (int k = 0; k < key->n && rc == STRATA_OK; k++)
            null_key = null_key ||
                       row[strata__table_find_column_index(tc->t, key->v[k])].type ==
                           STRATA_TYPE_NULL;
        if (null_key)
            continue;
        for (int k = 0; k < key->n && rc == STRATA_OK; k++)
            rc = strata_stmt_bind_value(
                look, k + 1, &row[strata__table_find_column_index(tc->t, key->v[k])]);
        if (rc != STRATA_OK) {
            rc = failed_on(c, c->dst, rc, "looking for the row that differs in table %s",
                           tc->t->name);
            break;
        }
        step = strata_stmt_step(look);
        if (step == STRATA_DONE) {
            strata__sb_puts(where, "the row with ");
            key_of(where, tc, row);
            strata__sb_puts(where, ", not on the target");
        } else if (step == STRATA_ROW) {
            for (int i = 0; i < tc->ncols && rc == STRATA_OK; i++) {
                uint64_t mine = 0, theirs = 0;
                int r1 = hash_column(src, i, tc->canon[i], &mine);
                int r2 = hash_column(look, i, tc->canon[i], &theirs);
                if ((r1 == STRATA_OK || r1 == STRATA_NULL) &&
                    (r2 == STRATA_OK || r2 == STRATA_NULL) && mine == theirs)
                    continue;
                strata__sb_puts(where, "the row with ");
                key_of(where, tc, row);
                strata__sb_printf(where, ", column %s", tc->t->cols[i]->name);
                break;
            }
        } else {
            rc = failed_on(c, c->dst, step, "looking for the row that differs in table %s",
                           tc->t->name);
        }
        strata_stmt_reset(look);
    }
    strata_stmt_finalize(look);
    strata_stmt_finalize(src);
    free(row);
    free(text);
    return rc == STRATA_E_NOMEM && !strata_is_error(strata_db_errcode(c->dst))
               ? strata__db_error(c->dst, rc, "out of memory")
               : rc;
}

/* The target holds what it held and the source's rows: checksums are
 * sums, so the rows added have the source's. */
static bool table_ok(const table_copy *tc)
{
    return tc->rows_dst == tc->before + tc->rows_src && tc->sum_dst - tc->sum_before == tc->sum_src;
}

static void print_report(copier *c)
{
    if (!c->o.print)
        return;
    int w = 5;
    for (int i = 0; i < c->ntables; i++)
        if ((int)strlen(c->tables[i].t->name) > w)
            w = (int)strlen(c->tables[i].t->name);
    char line[512];
    /* Rows added to a target's own: the count it should hold, the
     * source's and those it had, against the count it holds. */
    snprintf(line, sizeof line, "%-*s %12s %12s  %-16s %-16s %s", w, "table",
             c->o.into_non_empty ? "rows wanted" : "source rows", "target rows", "source checksum",
             "target checksum", "");
    c->o.print(c->o.ud, line);
    for (int i = 0; i < c->ntables; i++) {
        const table_copy *tc = &c->tables[i];
        char ss[20], ds[20];
        if (c->o.into_non_empty) {
            snprintf(ss, sizeof ss, "-");
            snprintf(ds, sizeof ds, "-");
        } else {
            snprintf(ss, sizeof ss, "%016" PRIx64, tc->sum_src);
            snprintf(ds, sizeof ds, "%016" PRIx64, tc->sum_dst);
        }
        snprintf(line, sizeof line, "%-*.*s %12" PRId64 " %12" PRId64 "  %-16s %-16s %s", w, w,
                 tc->t->name, tc->rows_src + tc->before, tc->rows_dst, ss, ds,
                 table_ok(tc) ? "ok" : "DIFFERS");
        c->o.print(c->o.ud, line);
    }
    for (int i = 0; i < c->ntables; i++)
        if (c->tables[i].held > 0) {
            snprintf(line, sizeof line,
                     "%s: %" PRId64 " rows referred to rows copied after them and went in last",
                     c->tables[i].t->name, c->tables[i].held);
            c->o.print(c->o.ud, line);
        }
}

/* The version table's rows, sorted; *exists false when there is none.
 * Inside a transaction: the probe runs in a savepoint. */
static int read_versions(strata_db *db, const char *vt, char ***out, int *n, bool *exists)
{
    *out = NULL;
    *n = 0;
    *exists = false;
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_puts(&sb, "SELECT version_num FROM ");
    strata__sb_ident(&sb, strata_db_driver(db), vt);
    strata__sb_puts(&sb, " ORDER BY version_num");
    char *sql = strata__sb_take(&sb);
    if (!sql)
        return STRATA_E_NOMEM;
    int rc = strata_db_savepoint(db);
    strata_stmt *st = NULL;
    if (rc == STRATA_OK)
        rc = strata_stmt_prepare(&st, db, sql);
    free(sql);
    while (rc == STRATA_OK && (rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *v = strata__stmt_text(st, 0);
        if (!v) {
            rc = strata__row_error(st) ? strata__row_error(st) : STRATA_E_DATA;
            break;
        }
        char **more = realloc(*out, (size_t)(*n + 2) * sizeof *more);
        if (!more) {
            rc = STRATA_E_NOMEM;
            break;
        }
        *out = more;
        if (!((*out)[*n] = strata__strdup(v))) {
            rc = STRATA_E_NOMEM;
            break;
        }
        (*out)[++*n] = NULL;
        rc = STRATA_OK;
    }
    strata_stmt_finalize(st);
    if (rc == STRATA_DONE) {
        *exists = true;
        rc = strata_db_savepoint_release(db);
    } else if (rc == STRATA_E_UNDEFINED_TABLE) {
        rc = strata_db_savepoint_rollback(db);
    } else {
        /* Keep the error across the rollback to the savepoint. */
        int code = rc;
        char *msg = strata__strdup(strata_db_errmsg(db));
        strata_db_savepoint_rollback(db);
        strata__db_error(db, code, "%s", msg ? msg : strata_errstr(code));
        free(msg);
        rc = code;
    }
    return rc;
}

static void versions_free(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool versions_equal(char **a, int na, char **b, int nb)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static void versions_text(strata__sb *sb, char **v, int n)
{
    if (n == 0)
        strata__sb_puts(sb, "no revision");
    for (int i = 0; i < n; i++)
        strata__sb_printf(sb, "%s%s", i ? ", " : "", v[i]);
}

/* What the source's engine cannot tell the target's column from.
 * SQLite declares every autoincrement key INTEGER (its 64-bit rowid),
 * whatever width the revisions gave it (BIGINT, SMALLINT): where the
 * source's rules make the two types the same, the target keeps its own.
 * SQLite also lets a key column that is not its rowid hold NULL unless
 * declared NOT NULL, where PostgreSQL makes every key column NOT NULL: a
 * key column NOT NULL on the target is taken so.  The values are checked
 * on the way as any are (a NULL key is refused, naming its row). */
static void take_source_same_types(strata_metadata *cmp, const strata_metadata *live,
                                   const strata__dialect *sdl)
{
    for (int i = 0; i < cmp->ntables; i++) {
        strata_table *t = cmp->tables[i];
        const strata_table *lt = strata_metadata_find_table(live, t->name);
        for (int k = 0; lt && k < t->ncols; k++) {
            int at = strata__table_find_column_index(lt, t->cols[k]->name);
            if (at >= 0 && t->cols[k]->nullable && !lt->cols[at]->nullable && t->pk &&
                strata__names_has(&t->pk->cols, t->cols[k]->name))
                t->cols[k]->nullable = false;
            if (!sdl || !sdl->same_type)
                continue;
            strata__type *mine = &t->cols[k]->type;
            const strata__type *theirs = at >= 0 ? &lt->cols[at]->type : NULL;
            if (theirs && !mine->raw && !theirs->raw && sdl->same_type(t->cols[k], lt->cols[at])) {
                mine->kind = theirs->kind;
                mine->length = theirs->length;
                mine->scale = theirs->scale;
            }
        }
    }
}

/* The target's schema and revision: made from the source's when it has no
 * tables, else checked against them. */
/* The first row of table tc whose foreign key fk names no row of the
 * table it refers to (all of the key's columns set: a NULL in one leaves
 * the row unchecked, as the engines do): STRATA_OK when there is none,
 * else STRATA_E_FOREIGN_KEY naming the row, its reference and the table. */
static int find_dangling(copier *c, const table_copy *tc, const strata__cons *fk)
{
    if (fk->cols.n == 0 || fk->cols.n != fk->ref_cols.n)
        return STRATA_OK; /* not a key introspection reads so; the engine's check stands */
    uint64_t mark = c->dst->nerrors; /* the engine's refusal is there already */
    const strata_driver *dd = strata_db_driver(c->dst);
    strata__sb sql;
    strata__sb_init(&sql);
    strata__sb_puts(&sql, "SELECT ");
    put_columns(&sql, dd, tc->t);
    strata__sb_printf(&sql, " FROM %s AS strata_c WHERE ", tc->qdst);
    for (int k = 0; k < fk->cols.n; k++) {
        strata__sb_puts(&sql, "strata_c.");
        strata__sb_ident(&sql, dd, fk->cols.v[k]);
        strata__sb_puts(&sql, " IS NOT NULL AND ");
    }
    strata__sb_puts(&sql, "NOT EXISTS (SELECT 1 FROM ");
    strata__sb_ident(&sql, dd, fk->ref_table);
    strata__sb_puts(&sql, " AS strata_p WHERE ");
    for (int k = 0; k < fk->cols.n; k++) {
        strata__sb_puts(&sql, k ? " AND strata_p." : "strata_p.");
        strata__sb_ident(&sql, dd, fk->ref_cols.v[k]);
        strata__sb_puts(&sql, " = strata_c.");
        strata__sb_ident(&sql, dd, fk->cols.v[k]);
    }
    strata__sb_puts(&sql, ")");
    const strata__names *key = tc->t->pk ? &tc->t->pk->cols : NULL;
    for (int k = 0; key && k < key->n; k++) {
        strata__sb_puts(&sql, k ? ", strata_c." : " ORDER BY strata_c.");
        strata__sb_ident(&sql, dd, key->v[k]);
    }
    strata__sb_puts(&sql, " LIMIT 1");
    char *text = strata__sb_take(&sql);
    strata_value *row = calloc((size_t)tc->ncols + 1, sizeof *row);
    strata_stmt *st = NULL;
    int rc = text && row ? strata_stmt_prepare(&st, c->dst, text) : STRATA_E_NOMEM;
    int step = rc == STRATA_OK ? strata_stmt_step(st) : rc;
    if (step == STRATA_DONE) {
        rc = STRATA_OK;
    } else if (step == STRATA_ROW) {
        for (int i = 0; i < tc->ncols && rc == STRATA_OK; i++)
            rc = strata__stmt_value(st, i, &row[i]);
        strata__sb what, refs;
        strata__sb_init(&what);
        strata__sb_init(&refs);
        key_of(&what, tc, row);
        values_of(&refs, tc, row, &fk->cols);
        /* A message that could not be made whole is not given in part. */
        if (rc == STRATA_OK && (what.failed || refs.failed))
            rc = STRATA_E_NOMEM;
        if (rc == STRATA_OK)
            rc = strata_driver_error(c->dst, STRATA_E_FOREIGN_KEY, "23503", 0,
                                     "copying table %s (%s%s): %s refers to no row of table %s",
                                     tc->t->name, what.data ? "the row with " : "one of its rows",
                                     what.data ? what.data : "",
                                     refs.data ? refs.data : "a reference", fk->ref_table);
        strata__sb_free(&what);
        strata__sb_free(&refs);
    } else if (step != STRATA_E_NOMEM) {
        rc = failed_on(c, c->dst, step, "checking the references of table %s", tc->t->name);
    } else {
        rc = STRATA_E_NOMEM; /* preparing or reading the row */
    }
    strata_stmt_finalize(st);
    free(row);
    free(text);
    if (rc == STRATA_E_NOMEM) {
        char what[200];
        snprintf(what, sizeof what, "checking the references of table %s", tc->t->name);
        rc = strata__db_said_since(c->dst, mark, rc, what);
    }
    return rc;
}

/* ALTER TABLE table ADD CONSTRAINT name def, or (def NULL) DROP
 * CONSTRAINT name. */
static int alter_key(copier *c, const char *table, const char *name, const char *def)
{
    const strata_driver *dd = strata_db_driver(c->dst);
    strata__sb sql;
    strata__sb_init(&sql);
    strata__sb_puts(&sql, "ALTER TABLE ");
    strata__sb_ident(&sql, dd, table);
    strata__sb_puts(&sql, def ? " ADD CONSTRAINT " : " DROP CONSTRAINT ");
    strata__sb_ident(&sql, dd, name);
    if (def)
        strata__sb_printf(&sql, " %s", def);
    char *text = strata__sb_take(&sql);
    /* Said on the handle either way: keys_make keeps the handle's error
     * while it looks for a row to name, and puts it back. */
    int rc = text ? strata_db_exec(c->dst, text)
                  : strata__db_error(c->dst, STRATA_E_NOMEM, "out of memory");
    free(text);
    return rc;
}

/* Every copied table empty: their foreign keys go until the rows are in,
 * each kept as the engine would make it again (REFS_AFTER). */
static int keys_drop(copier *c)
{
    int rc = STRATA_OK;
    for (int i = 0; i < c->ntables && rc == STRATA_OK; i++) {
        char **v = NULL;
        int n = 0;
        rc = c->dst_dl->foreign_keys(c->dst, c->tables[i].t->name, &v, &n);
        if (rc == STRATA_OK && n > 0) {
            dropped_key *more =
                realloc(c->dropped, (size_t)(c->ndropped + n) * sizeof *c->dropped);
            if (more)
                c->dropped = more;
            else
                rc = STRATA_E_NOMEM;
        }
        for (int k = 0; k < n; k++) {
            /* A key to a table outside the copy stays: no copied row can
             * refer forward through it, and dropping it would lock that
             * table until the commit. */
            bool between = false;
            for (int j = 0; j < c->ntables && !between; j++)
                between = !strcmp(v[3 * k + 2], c->tables[j].t->name);
            if (rc == STRATA_OK && between &&
                (rc = alter_key(c, c->tables[i].t->name, v[3 * k], NULL)) == STRATA_OK) {
                c->dropped[c->ndropped++] = (dropped_key){i, v[3 * k], v[3 * k + 1]};
                free(v[3 * k + 2]);
                continue;
            }
            free(v[3 * k]);
            free(v[3 * k + 1]);
            free(v[3 * k + 2]);
        }
        free(v);
        if (rc == STRATA_E_NOMEM && !strata_is_error(strata_db_errcode(c->dst)))
            rc = strata__db_error(c->dst, rc, "out of memory");
        else if (rc != STRATA_OK)
            rc = failed_on(c, c->dst, rc,
                           "dropping the foreign keys of table %s until the rows are in",
                           c->tables[i].t->name);
    }
    if (c->ndropped > 0)
        c->refs = REFS_AFTER;
    return rc;
}

/* keys_drop, in a savepoint: a role that may insert rows but not alter the
 * tables (not their owner) copies with the keys in place, rows held. */
static int keys_drop_if_owner(copier *c)
{
    int rc = strata_db_savepoint(c->dst);
    if (rc != STRATA_OK)
        return failed_on(c, c->dst, rc, "beginning the copy");
    rc = keys_drop(c);
    if (rc == STRATA_OK)
        return (rc = strata_db_savepoint_release(c->dst)) == STRATA_OK
                   ? STRATA_OK
                   : failed_on(c, c->dst, rc, "beginning the copy");
    if (rc != STRATA_E_PERMISSION)
        return rc;
    strata__kept_error e;
    strata__error_keep(&e, c->dst);
    if (strata_db_savepoint_rollback(c->dst) != STRATA_OK)
        return strata__error_put_back(&e, c->dst, NULL);
    free(e.msg);
    for (int i = 0; i < c->ndropped; i++) {
        free(c->dropped[i].name);
        free(c->dropped[i].def);
    }
    c->ndropped = 0;
    c->refs = REFS_AT_ONCE;
    return STRATA_OK;
}

/* The dropped keys made again, each in a savepoint: one the rows refuse is
 * rolled back, and the row is named. */
static int keys_make(copier *c)
{
    int rc = STRATA_OK;
    for (int k = 0; k < c->ndropped && rc == STRATA_OK; k++) {
        const dropped_key *d = &c->dropped[k];
        const table_copy *tc = &c->tables[d->table];
        if ((rc = strata_db_savepoint(c->dst)) != STRATA_OK)
            return failed_on(c, c->dst, rc, "making the foreign keys on the target");
        rc = alter_key(c, tc->t->name, d->name, d->def);
        if (rc == STRATA_OK && (rc = strata_db_savepoint_release(c->dst)) == STRATA_OK)
            continue;
        /* Refused by a row: named, else the engine's message stands. */
        strata__kept_error e;
        strata__error_keep(&e, c->dst);
        int named = STRATA_OK;
        if (strata_db_savepoint_rollback(c->dst) == STRATA_OK)
            for (int i = 0; i < tc->t->ncons && named == STRATA_OK; i++)
                if (tc->t->cons[i]->kind == CONS_FK && !strcmp(tc->t->cons[i]->name, d->name))
                    named = find_dangling(c, tc, tc->t->cons[i]);
        if (named != STRATA_OK) {
            free(e.msg);
            return named;
        }
        char what[300];
        snprintf(what, sizeof what, "making foreign key %s of table %s again", d->name,
                 tc->t->name);
        return strata__error_put_back(&e, c->dst, what);
    }
    return rc;
}

/* Every row in, with the references unchecked so far: by the engine's
 * own check, which names a row referring to nothing, or by making the
 * foreign keys again. */
static int check_references(copier *c)
{
    if (c->refs == REFS_AFTER)
        return keys_make(c);
    /* The engine's own rules (SQLite compares a key with the parent
     * column's affinity), table by table: the copy's tables alone; the
     * row named by a search where it can be. */
    int rc = STRATA_OK;
    for (int i = 0; i < c->ntables && rc == STRATA_OK; i++) {
        const table_copy *tc = &c->tables[i];
        if ((rc = c->dst_dl->fk_verify(c->dst, tc->t->name)) == STRATA_OK)
            continue;
        if (rc != STRATA_E_FOREIGN_KEY)
            return failed_on(c, c->dst, rc, "checking the references of table %s", tc->t->name);
        strata__kept_error e;
        strata__error_keep(&e, c->dst);
        int named = STRATA_OK;
        for (int k = 0; k < tc->t->ncons && named == STRATA_OK; k++)
            if (tc->t->cons[k]->kind == CONS_FK)
                named = find_dangling(c, tc, tc->t->cons[k]);
        if (named != STRATA_OK) {
            free(e.msg);
            return named;
        }
        return strata__error_put_back(&e, c->dst, "copying the rows");
    }
    return rc;
}

/* For a target of another engine: the schema with its checks' and
 * partial indexes' conditions in SQL both engines read (PostgreSQL's
 * casts and ANY (ARRAY[...]) lists; the source dialect's portable_check),
 * in *out; NULL when they need nothing. */
static int portable_schema(copier *c, const strata_metadata *want, strata_metadata **out)
{
    *out = NULL;
    const strata__dialect *sdl = strata__dialect_of(strata_db_driver(c->src));
    if (!sdl || !sdl->portable_check || strata_db_driver(c->src) == strata_db_driver(c->dst))
        return STRATA_OK;
    strata_metadata *md = NULL;
    if (strata_metadata_copy(&md, want) != STRATA_OK)
        return strata__db_error(c->dst, STRATA_E_NOMEM, "out of memory");
    for (int i = 0; i < md->ntables; i++) {
        strata_table *t = md->tables[i];
        for (int k = 0; k < t->ncons + t->nidx; k++) {
            char **text = k < t->ncons ? (t->cons[k]->kind == CONS_CHECK ? &t->cons[k]->sql : NULL)
                                       : &t->idx[k - t->ncons]->where;
            if (!text || !*text)
                continue;
            char *port = sdl->portable_check(*text);
            if (!port) {
                strata_metadata_free(md);
                return strata__db_error(c->dst, STRATA_E_NOMEM, "out of memory");
            }
            free(*text);
            *text = port;
        }
    }
    *out = md;
    return STRATA_OK;
}

/* What of the source's schema a target made from it would not hold as
 * it is: a name past 63 bytes, which PostgreSQL cuts, and a default of
 * the engine's own SQL that the target's engine cannot run (PostgreSQL's
 * gen_random_uuid() on SQLite): the copy would succeed, and every insert
 * that leaves the column out fail.  Said on the target, naming the
 * place; STRATA_OK when there is none. */
static int unportable(copier *c, const strata_metadata *want)
{
    if (same_engine(c))
        return STRATA_OK;
    for (int i = 0; i < want->ntables; i++) {
        const strata_table *t = want->tables[i];
        const char *names[3] = {t->name, NULL, NULL};
        for (int k = 0; k < t->ncols; k++)
            if (strlen(t->cols[k]->name) > 63)
                names[1] = t->cols[k]->name;
        for (int k = 0; k < t->ncons; k++)
            if (t->cons[k]->name && strlen(t->cons[k]->name) > 63)
                names[2] = t->cons[k]->name;
        for (int k = 0; k < t->nidx; k++)
            if (t->idx[k]->name && strlen(t->idx[k]->name) > 63)
                names[2] = t->idx[k]->name;
        for (int k = 0; k < 3; k++)
            if (names[k] && strlen(names[k]) > 63)
                return strata__db_error(c->dst, STRATA_E_UNSUPPORTED,
                                        "table %.40s%s: the name %.40s... is longer than 63 "
                                        "bytes, which PostgreSQL cuts: rename it first (a "
                                        "migration)",
                                        t->name, strlen(t->name) > 40 ? "..." : "", names[k]);
        for (int k = 0; k < t->ncols; k++) {
            const strata_column *col = t->cols[k];
            if (col->def != DEF_SQL)
                continue;
            strata__sb sb;
            strata__sb_init(&sb);
            strata__sb_cat(&sb, "SELECT (", col->def_text, ")", NULL);
            char *sql = strata__sb_take(&sb);
            if (!sql)
                return strata__db_error(c->dst, STRATA_E_NOMEM, "out of memory");
            strata_stmt *st = NULL;
            int rc = strata_stmt_prepare(&st, c->dst, sql);
            strata_stmt_finalize(st);
            free(sql);
            if (rc == STRATA_E_NOMEM || rc == STRATA_E_CONNECTION_LOST)
                return rc;
            if (rc != STRATA_OK) {
                char why[200];
                snprintf(why, sizeof why, "%s", strata_db_errmsg(c->dst));
                return strata__db_error(c->dst, STRATA_E_UNSUPPORTED,
                                        "table %s, column %s: its default %s does not run on "
                                        "the target (%s): give the column a portable default "
                                        "first (a migration)",
                                        t->name, col->name, col->def_text, why);
            }
        }
    }
    return STRATA_OK;
}

static int prepare_target(copier *c, const strata_metadata *want, const char *vt,
                          const char *const *exclude, char **sv, int nsv, bool src_vt)
{
    strata_metadata *live = NULL;
    char **dv = NULL;
    int ndv = 0;
    bool dst_vt = false;
    int rc = strata_schema_introspect(&live, c->dst, exclude);
    if (rc != STRATA_OK) {
        rc = failed_on(c, c->dst, rc, "reading the target's schema");
        goto out;
    }
    if ((rc = read_versions(c->dst, vt, &dv, &ndv, &dst_vt)) != STRATA_OK) {
        rc = failed_on(c, c->dst, rc, "reading the target's revision");
        goto out;
    }
    bool empty = live->ntables == 0;
    if ((!empty || dst_vt) && !versions_equal(sv, nsv, dv, ndv)) {
        strata__sb sb;
        strata__sb_init(&sb);
        strata__sb_puts(&sb, "the target is at ");
        versions_text(&sb, dv, ndv);
        strata__sb_puts(&sb, " and the source at ");
        versions_text(&sb, sv, nsv);
        strata__sb_puts(&sb, ": bring the target to the source's revision first (db upgrade), "
                             "or copy into an empty database");
        rc = strata__db_error(c->dst, STRATA_E_OUTDATED, "%s",
                              sb.data && !sb.failed ? sb.data : "the revisions differ");
        strata__sb_free(&sb);
        goto out;
    }
    if (!empty) {
        /* A source that cannot tell a column's collation (SQLite's
         * strings are all bytewise) says nothing about the target's: the
         * target keeps its own, which its revisions gave it. */
        const strata__dialect *sdl = strata__dialect_of(strata_db_driver(c->src));
        strata_metadata *cmp = NULL;
        if ((rc = strata_metadata_copy(&cmp, want)) != STRATA_OK) {
            rc = strata__db_error(c->dst, rc, "out of memory");
            goto out;
        }
        if (!sdl || !sdl->binary_collation)
            strata__take_collations(cmp, live);
        take_source_same_types(cmp, live, sdl);
        strata_diff *d = NULL;
        rc = strata_schema_diff(&d, live, cmp, strata_db_driver(c->dst));
        strata_metadata_free(cmp);
        if (rc == STRATA_OK && strata_diff_count(d) > 0)
            rc = strata__db_error(c->dst, STRATA_E_OUTDATED,
                                  "the target's schema differs from the source's (%s%s): bring "
                                  "it to the source's revision first (db upgrade), or copy into "
                                  "an empty database",
                                  strata_diff_op_describe(d, 0),
                                  strata_diff_count(d) > 1 ? ", and more" : "");
        else if (rc != STRATA_OK)
            rc = strata__db_error(c->dst, rc, "comparing the schemas: %s",
                                  strata_metadata_errmsg(live));
        strata_diff_free(d);
        goto out;
    }
    /* What the source's schema holds that strata's cannot say, and that
     * changes what the database does (a unique index on an expression
     * keeps rows out): a target made from strata's would be without it. */
    if ((rc = unportable(c, want)) != STRATA_OK)
        goto out;
    if (want->left_out) {
        rc = strata__db_error(c->dst, STRATA_E_UNSUPPORTED,
                              "%s, which strata's schema does not describe: a target the copy "
                              "made would be without it; make the target's schema first (db "
                              "upgrade with the revisions, or by hand), then copy into it",
                              want->left_out);
        goto out;
    }
    /* A SQLite column declared without a type holds anything, and has
     * no type to make on the target. */
    for (int i = 0; i < want->ntables; i++)
        for (int k = 0; k < want->tables[i]->ncols; k++) {
            const strata_column *col = want->tables[i]->cols[k];
            if (col->type.kind == STRATA_SQL_RAW && !*col->type.raw) {
                rc = strata__db_error(c->dst, STRATA_E_SCHEMA,
                                      "table %s, column %s: declared without a type on the "
                                      "source, which holds any value there: give it one "
                                      "(a migration) before copying",
                                      want->tables[i]->name, col->name);
                goto out;
            }
        }
    strata_metadata *port = NULL;
    if ((rc = portable_schema(c, want, &port)) != STRATA_OK)
        goto out;
    rc = strata_metadata_create_all(port ? port : want, c->dst);
    strata_metadata_free(port);
    if (rc != STRATA_OK) {
        rc = failed_on(c, c->dst, rc, "creating the schema on the target");
        goto out;
    }

    if (src_vt && !dst_vt) {
        strata__sb sb;
        strata__sb_init(&sb);
        strata__mig_vt_create_sql(&sb, strata_db_driver(c->dst), vt);
        char *sql = strata__sb_take(&sb);
        rc = sql ? strata_db_exec(c->dst, sql) : STRATA_E_NOMEM;
        free(sql);
        strata__sb_init(&sb);
        strata__sb_puts(&sb, "INSERT INTO ");
        strata__sb_ident(&sb, strata_db_driver(c->dst), vt);
        strata__sb_puts(&sb, " (version_num) VALUES (?)");
        sql = strata__sb_take(&sb);
        strata_stmt *st = NULL;
        if (rc == STRATA_OK)
            rc = sql ? strata_stmt_prepare(&st, c->dst, sql) : STRATA_E_NOMEM;
        free(sql);
        for (int i = 0; rc == STRATA_OK && i < nsv; i++) {
            if ((rc = strata_stmt_bind_text(st, 1, sv[i], -1)) == STRATA_OK &&
                (rc = strata_stmt_step(st)) == STRATA_DONE)
                rc = strata_stmt_reset(st);
        }
        strata_stmt_finalize(st);
        if (rc != STRATA_OK)
            rc = failed_on(c, c->dst, rc, "copying the version table %s", vt);
    }
out:
    versions_free(dv, ndv);
    strata_metadata_free(live);
    return rc;
}

/* Move autoincrement counters past the copied keys. */
static int resync_counters(copier *c)
{
    if (!c->dst_dl || !c->dst_dl->autoincrement_resync)
        return STRATA_OK;
    for (int i = 0; i < c->ntables; i++) {
        const strata_table *t = c->tables[i].t;
        for (int k = 0; k < t->ncols; k++) {
            if (!t->cols[k]->autoincrement)
                continue;
            strata__sb sb, qcol;
            strata__sb_init(&sb);
            strata__sb_init(&qcol);
            strata__sb_ident(&qcol, strata_db_driver(c->dst), t->cols[k]->name);
            if (qcol.data)
                c->dst_dl->autoincrement_resync(&sb, c->tables[i].qdst, t->cols[k]->name,
                                                qcol.data);
            strata__sb_free(&qcol);
            char *sql = strata__sb_take(&sb);
            int rc = sql ? strata_db_exec(c->dst, sql) : STRATA_E_NOMEM;
            free(sql);
            if (rc != STRATA_OK)
                return failed_on(c, c->dst, rc,
                                 "moving the key counter of %s.%s past the copied keys", t->name,
                                 t->cols[k]->name);
        }
    }
    return STRATA_OK;
}

/* A table of one column named version_num: another version table than
 * the one the copy was told of (Alembic's alembic_version, a repository
 * configured with its own name). */
static bool looks_like_version_table(const strata_table *t)
{
    return t->ncols == 1 && strcmp(t->cols[0]->name, "version_num") == 0;
}

static int copy_all(copier *c)
{
    const char *vt = c->o.version_table && *c->o.version_table ? c->o.version_table
                                                                : "strata_version";
    /* The version table and the caller's exclusions stay out of the
     * introspected schema. */
    int nex = 0;
    while (c->o.exclude && c->o.exclude[nex])
        nex++;
    const char **exclude = calloc((size_t)nex + 2, sizeof *exclude);
    if (!exclude)
        return strata__db_error(c->dst, STRATA_E_NOMEM, "out of memory");
    exclude[0] = vt;
    for (int i = 0; i < nex; i++)
        exclude[i + 1] = c->o.exclude[i];
    strata_metadata *md = NULL;
    char **sv = NULL;
    int nsv = 0, *order = NULL;
    bool src_vt = false;
    int rc = strata_db_begin_mode(c->src, STRATA_TX_SNAPSHOT);
    if (rc != STRATA_OK) {
        rc = failed_on(c, c->src, rc, "beginning the read");
        goto out;
    }
    if ((rc = strata_schema_introspect(&md, c->src, exclude)) != STRATA_OK) {
        rc = failed_on(c, c->src, rc, "%s", ""); /* "reading the schema" */
        goto out;
    }
    if ((rc = read_versions(c->src, vt, &sv, &nsv, &src_vt)) != STRATA_OK) {
        rc = failed_on(c, c->src, rc, "reading the source's revision");
        goto out;
    }
    /* Into empty tables, the engine's enforcement paused where it can be
     * (outside a transaction), the references checked before the commit.
     * Into rows the target holds, at once: its own rows' references are
     * not the copy's to judge. */
    if (!c->o.into_non_empty && c->dst_dl && c->dst_dl->fk_pause_sql && c->dst_dl->fk_verify) {
        char *on = NULL;
        rc = strata__first_text(c->dst, c->dst_dl->fk_enabled_sql, &on);
        /* Checks the caller had switched off are checked all the same. */
        if (rc == STRATA_OK && on && strcmp(on, "0") != 0 &&
            (rc = strata_db_exec(c->dst, c->dst_dl->fk_pause_sql)) == STRATA_OK)
            c->resume = true;
        if (rc == STRATA_OK)
            c->refs = REFS_PAUSED;
        free(on);
        if (rc != STRATA_OK) {
            rc = failed_on(c, c->dst, rc, "pausing the target's foreign-key checks");
            goto out;
        }
    }
    if ((rc = strata_db_begin_mode(c->dst, STRATA_TX_WRITE)) != STRATA_OK) {
        rc = failed_on(c, c->dst, rc, "beginning the copy");
        goto out;
    }
    if ((rc = prepare_target(c, md, vt, exclude, sv, nsv, src_vt)) != STRATA_OK)
        goto out;
    order = md->ntables ? strata__md_sorted(md) : NULL;
    c->tables = calloc((size_t)md->ntables + 1, sizeof *c->tables);
    if ((md->ntables && !order) || !c->tables) {
        rc = strata__db_error(c->dst, STRATA_E_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < md->ntables && rc == STRATA_OK; i++) {
        table_copy *tc = &c->tables[c->ntables++];
        if ((rc = table_prepare(c, tc, md->tables[order[i]])) != STRATA_OK)
            rc = strata__db_error(c->dst, rc, "out of memory");
        else if ((rc = count_rows(c->dst, tc->qdst, &tc->before)) != STRATA_OK)
            rc = failed_on(c, c->dst, rc, "counting the rows of table %s", tc->t->name);
        else if (tc->before > 0 && !c->o.into_non_empty)
            rc = strata__db_error(c->dst, STRATA_E_EXISTS,
                                  "table %s on the target already has %" PRId64
                                  " rows: copy into empty tables (or allow it: into_non_empty, "
                                  "--into-non-empty)%s",
                                  tc->t->name, tc->before,
                                  looks_like_version_table(tc->t)
                                      ? "; it looks like a migration version table: name it "
                                        "(version_table; on the command line, run in the "
                                        "project or give -d DIR)"
                                      : "");
        else if (tc->before > 0 && (rc = verify_table(c, tc)) == STRATA_OK) {
            /* The rows there already, hashed as the ones added will be. */
            tc->sum_before = tc->sum_dst;
            tc->sum_dst = 0;
            tc->rows_dst = 0;
        }
    }
    /* Every table empty, where enforcement cannot be paused: the foreign
     * keys go until the rows are in, as pg_dump makes them after the
     * data. */
    if (rc == STRATA_OK && c->refs == REFS_AT_ONCE && !c->o.into_non_empty && c->dst_dl &&
        c->dst_dl->foreign_keys)
        rc = keys_drop_if_owner(c);
    for (int i = 0; i < c->ntables && rc == STRATA_OK; i++)
        rc = copy_table(c, &c->tables[i]);
    if (rc == STRATA_OK)
        rc = insert_held(c);
    if (rc == STRATA_OK && c->refs != REFS_AT_ONCE)
        rc = check_references(c);
    bool same = true;
    for (int i = 0; i < c->ntables && rc == STRATA_OK; i++) {
        rc = verify_table(c, &c->tables[i]);
        same = same && table_ok(&c->tables[i]);
    }
    if (rc == STRATA_OK)
        print_report(c);
    if (rc == STRATA_OK && !same) {
        for (int i = 0; i < c->ntables; i++) {
            const table_copy *tc = &c->tables[i];
            if (table_ok(tc))
                continue;
            strata__sb where;
            strata__sb_init(&where);
            if ((rc = find_difference(c, tc, &where)) == STRATA_OK)
                rc = strata__db_error(c->dst, STRATA_E_DATA,
                                      "verification failed: table %s has %" PRId64
                                      " rows on the target against %" PRId64
                                      " from the source%s%s%s%s; nothing was copied",
                                      tc->t->name, tc->rows_dst, tc->before + tc->rows_src,
                                      tc->rows_dst == tc->before + tc->rows_src
                                          ? ", and their checksums differ"
                                          : "",
                                      where.data ? " (first: " : "",
                                      where.data ? where.data : "", where.data ? ")" : "");
            strata__sb_free(&where);
            break;
        }
    }
    /* Last: a PostgreSQL sequence is not rolled back with the rest. */
    if (rc == STRATA_OK)
        rc = resync_counters(c);
    if (rc == STRATA_OK && (rc = strata_db_commit(c->dst)) != STRATA_OK)
        rc = failed_on(c, c->dst, rc, "committing the copy");
out:
    if (strata_db_in_transaction(c->dst)) {
        strata__kept_error e;
        strata__error_keep(&e, c->dst);
        strata_db_rollback(c->dst);
        strata__error_put_back(&e, c->dst, NULL);
    }
    if (c->resume) {
        /* The copy's outcome stands: committed, a failure here is said
         * (the handle's checks stay off), not made the copy's. */
        strata__kept_error e;
        strata__error_keep(&e, c->dst);
        if (strata_db_exec(c->dst, c->dst_dl->fk_resume_sql) != STRATA_OK && rc == STRATA_OK &&
            c->o.print) {
            char line[600];
            snprintf(line, sizeof line,
                     "warning: the copy committed, but switching the target connection's "
                     "foreign-key checks back on failed: %s",
                     strata_db_errmsg(c->dst));
            c->o.print(c->o.ud, line);
        }
        strata__error_put_back(&e, c->dst, NULL);
    }
    if (strata_db_in_transaction(c->src))
        strata_db_rollback(c->src); /* a read: nothing to keep */
    for (int i = 0; i < c->nheld; i++)
        held_free(&c->held[i]);
    free(c->held);
    for (int i = 0; i < c->ndropped; i++) {
        free(c->dropped[i].name);
        free(c->dropped[i].def);
    }
    free(c->dropped);
    for (int i = 0; i < c->ntables; i++)
        table_free(&c->tables[i]);
    free(c->tables);
    free(order);
    versions_free(sv, nsv);
    strata_metadata_free(md);
    free(exclude);
    return rc;
}

/* Two connections to one database (a file by two paths, a server by two
 * addresses or through a pooler): a copy into it would read what it
 * writes, and with --into-non-empty double every table without a key.
 * Asked of the engine; where it cannot tell (private in-memory databases,
 * which are never one, or a server that refuses the question), the copy
 * goes on. */
static int same_database(strata_db *source, strata_db *target)
{
    const strata__dialect *dl = strata__dialect_of(strata_db_driver(target));
    if (!dl || !dl->database_identity || strata__dialect_of(strata_db_driver(source)) != dl)
        return STRATA_OK;
    char *a = NULL, *b = NULL;
    int rc = STRATA_OK;
    if (dl->database_identity(source, &a) == STRATA_OK && a &&
        dl->database_identity(target, &b) == STRATA_OK && b && !strcmp(a, b))
        rc = strata__db_error(target, STRATA_E_MISUSE,
                              "the source and the target are the same database (%s): a copy "
                              "into itself would read what it writes",
                              a);
    free(a);
    free(b);
    return rc;
}

int strata_copy_database(strata_db *source, strata_db *target, const strata_copy_options *opts)
{
    if (!source || !target)
        return STRATA_E_MISUSE;
    copier c = {.src = source, .dst = target};
    if (opts) {
        if (opts->version < 1 || opts->version > STRATA_COPY_OPTIONS_VERSION)
            return strata__db_error(target, STRATA_E_MISUSE,
                                    "strata_copy_options version %d: expected 1 to %d",
                                    opts->version, STRATA_COPY_OPTIONS_VERSION);
        c.o = *opts;
    }
    if (source == target)
        return strata__db_error(target, STRATA_E_MISUSE,
                                "copying a database into itself: give two connections");
    if (strata_db_in_transaction(source) || strata_db_in_transaction(target))
        return strata__db_error(target, STRATA_E_MISUSE,
                                "the copy runs its own transactions: end the one open on the %s "
                                "first",
                                strata_db_in_transaction(target) ? "target" : "source");
    /* Outside any transaction: a probe the server refuses aborts none. */
    int rc = same_database(source, target);
    if (rc != STRATA_OK)
        return rc;
    if (c.o.batch_rows < 0)
        return strata__db_error(target, STRATA_E_MISUSE, "batch_rows %d: 0 or more",
                                c.o.batch_rows);
    c.dst_dl = strata__dialect_of(strata_db_driver(target));
    c.src_mark = source->nerrors;
    c.dst_mark = target->nerrors;
    return copy_all(&c);
}
