/*
 * dispatch.c - the only code in strata that calls through a driver's
 * vtable.
 *
 * Everything above this file talks to "the driver" through strata__drv_*;
 * drivers are found through the engine registry (engines/registry.c).
 * Optional slots are checked here and given their standard-SQL fallback.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "engine.h"
#include "internal.h"

const strata_driver *strata__driver_lookup(const char *scheme)
{
    const strata__engine *e = strata__engine_by_scheme(scheme);
    return e ? e->driver : NULL;
}

/* The list is made once, the first time any thread asks. */
static char schemes_text[256];

static void make_schemes(void)
{
    strata__sb sb;
    strata__sb_init(&sb);
    const strata__engine *e;
    for (int i = 0; (e = strata__engine_at(i)) != NULL; i++) {
        strata__sb_printf(&sb, "%s%s", i ? ", " : "", e->driver->name);
        const char *const *a = e->driver->aliases;
        for (size_t k = 0; a && a[k]; k++)
            strata__sb_printf(&sb, "%s%s", k ? ", " : " (alias ", a[k]);
        if (a && a[0])
            strata__sb_putc(&sb, ')');
    }
    char *s = strata__sb_take(&sb);
    snprintf(schemes_text, sizeof schemes_text, "%s", s ? s : "");
    strata_free(s);
}

const char *strata__driver_schemes(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_schemes);
    return schemes_text;
}

const strata_driver *strata_driver_find(const char *scheme)
{
    return scheme ? strata__driver_lookup(scheme) : NULL;
}

const char *strata_driver_name(const strata_driver *driver) { return driver ? driver->name : NULL; }

bool strata__drv_url_param_known(const strata_driver *drv, const char *key)
{
    if (drv->version >= 4 && drv->url_param_known)
        return drv->url_param_known(key) != 0;
    if (!drv->url_params)
        return true;
    for (const char *const *k = drv->url_params; *k; k++)
        if (strcmp(*k, key) == 0)
            return true;
    return false;
}

int strata__drv_open(strata_db *db, const strata_url *url)
{
    const strata_driver *d = strata__url_driver(url);
    if (d->version < 1 || !d->open)
        return strata__db_error(db, STRATA_E_UNSUPPORTED, "driver \"%s\" is not usable", d->name);
    db->driver = d;
    strata_conn *conn = NULL;
    int rc = d->open(&conn, db, url);
    if (rc != STRATA_OK) {
        if (db->errcode == STRATA_OK)
            strata__db_error(db, rc, "could not open %s", db->url);
        return rc;
    }
    /* The generic part is the core's to fill, so backends cannot get it wrong. */
    conn->driver = d;
    conn->db = db;
    db->conn = conn;
    return STRATA_OK;
}

void strata__drv_close(strata_db *db)
{
    if (db->conn)
        db->driver->close(db->conn);
    db->conn = NULL;
}

int strata__drv_exec(strata_db *db, const char *sql) { return db->driver->exec(db->conn, sql); }

int strata__drv_exec_with_next(strata_db *db, const char *sql)
{
    const strata_driver *d = db->driver;
    if (d->version >= 7 && d->exec_with_next)
        return d->exec_with_next(db->conn, sql);
    return d->exec(db->conn, sql);
}

int strata__drv_begin(strata_db *db)
{
    return db->driver->begin ? db->driver->begin(db->conn) : db->driver->exec(db->conn, "BEGIN");
}

int strata__drv_begin_mode(strata_db *db, int mode)
{
    const strata_driver *d = db->driver;
    if (mode != STRATA_TX_DEFAULT && d->version >= 4 && d->begin_mode)
        return d->begin_mode(db->conn, mode);
    return strata__drv_begin(db);
}

unsigned strata__drv_lexer_flags(const strata_db *db)
{
    const strata_driver *d = db->driver;
    if (d->version >= 9 && d->lexer_flags_now && db->conn)
        return d->lexer_flags_now(db->conn);
    return d->lexer_flags;
}

int strata__drv_in_transaction(strata_db *db)
{
    const strata_driver *d = db->driver;
    return d->version >= 4 && d->in_transaction && db->conn ? d->in_transaction(db->conn) : -1;
}

int strata__drv_cancel(strata_db *db)
{
    const strata_driver *d = db->driver;
    if (d->version < 4 || !d->cancel)
        return STRATA_E_UNSUPPORTED; /* no message: another thread may own the handle */
    return d->cancel(db->conn);
}

int strata__drv_set_timeout(strata_db *db, int ms)
{
    const strata_driver *d = db->driver;
    if (d->version < 4 || !d->set_timeout)
        return strata__db_error(db, STRATA_E_UNSUPPORTED, "%s has no statement timeout", d->name);
    return d->set_timeout(db->conn, ms);
}

int strata__drv_commit(strata_db *db)
{
    return db->driver->commit ? db->driver->commit(db->conn) : db->driver->exec(db->conn, "COMMIT");
}

int strata__drv_rollback(strata_db *db)
{
    /* Whatever transaction the engine had is over: a raw one's failure
     * with it. */
    db->raw_tx_failed = db->raw_tx_ended = false;
    return db->driver->rollback ? db->driver->rollback(db->conn)
                                : db->driver->exec(db->conn, "ROLLBACK");
}

int strata__drv_prepare(strata_db *db, strata_backend_stmt **out, const char *sql, int nparams)
{
    return db->driver->prepare(out, db->conn, sql, nparams);
}

void strata__drv_finalize(strata_backend_stmt *bst)
{
    if (bst)
        bst->conn->driver->finalize(bst);
}

int64_t strata__drv_changes(strata_backend_stmt *bst) { return bst->conn->driver->changes(bst); }

int strata__drv_set_streaming(strata_backend_stmt *bst, int on)
{
    const strata_driver *d = bst->conn->driver;
    if (d->version < 2 || !d->set_streaming)
        return STRATA_OK; /* the engine streams anyway */
    return d->set_streaming(bst, on);
}

bool strata__drv_can_execute_many(strata_backend_stmt *bst)
{
    const strata_driver *d = bst->conn->driver;
    return d->version >= 3 && d->execute_many;
}

int strata__drv_execute_many(strata_backend_stmt *bst, size_t n, int (*bind)(void *, size_t),
                             int (*row)(void *, size_t), void *ctx)
{
    return bst->conn->driver->execute_many(bst, n, bind, row, ctx);
}

const char *strata__drv_column_name(strata_backend_stmt *bst, int col)
{
    return bst->conn->driver->column_name(bst, col);
}

const char *strata__drv_column_decltype(strata_backend_stmt *bst, int col)
{
    const char *t = bst->conn->driver->column_decltype(bst, col);
    return t ? t : "";
}

int strata__drv_column_value(strata_backend_stmt *bst, int col, strata_value *out)
{
    return bst->conn->driver->column_value(bst, col, out);
}

int strata__drv_row_values(strata_backend_stmt *bst, int col0, int n, strata_value *out)
{
    const strata_driver *d = bst->conn->driver;
    if (d->version >= 6 && d->row_values)
        return d->row_values(bst, col0, n, out);
    int rc = STRATA_OK;
    for (int i = 0; i < n && rc == STRATA_OK; i++)
        rc = d->column_value(bst, col0 + i, &out[i]);
    return rc;
}

void strata__value_to_cell(int want, const strata_value *v, strata_cell *out)
{
    bool integer = v->type == STRATA_TYPE_INT64 || v->type == STRATA_TYPE_BOOL;
    out->state = STRATA_CELL_VALUE;
    out->len = 0;
    if (v->type == STRATA_TYPE_NULL) {
        out->state = STRATA_CELL_NULL;
        return;
    }
    switch (want) {
    case STRATA_C_INT64:
        if (integer) {
            out->u.i = v->u.i;
            return;
        }
        break;
    case STRATA_C_BOOL:
        if (integer && (v->u.i == 0 || v->u.i == 1)) {
            out->u.i = v->u.i;
            return;
        }
        break;
    case STRATA_C_DOUBLE:
        if (v->type == STRATA_TYPE_DOUBLE || integer) {
            out->u.d = v->type == STRATA_TYPE_DOUBLE ? v->u.d : (double)v->u.i;
            return;
        }
        break;
    case STRATA_C_TIMESTAMP:
        if (v->type == STRATA_TYPE_TIMESTAMP) {
            out->u.i = v->u.ts;
            return;
        }
        break;
    case STRATA_C_TEXT:
    case STRATA_C_BLOB:
        if (v->type == (want == STRATA_C_TEXT ? STRATA_TYPE_TEXT : STRATA_TYPE_BLOB)) {
            out->u.p = v->u.buf.ptr;
            out->len = v->u.buf.len;
            return;
        }
        break;
    }
    out->state = STRATA_CELL_OTHER;
}

/* Cells made from row_values, for a driver without row_cells: apart, so
 * that the call to the slot does not set up this one's frame. */
static __attribute__((noinline)) int cells_from_values(strata_backend_stmt *bst, int col0, int n,
                                                       const unsigned char *want, strata_cell *out)
{
    strata_value stack[16];
    int rc = STRATA_OK;
    for (int i = 0; i < n && rc == STRATA_OK; i += 16) {
        int k = n - i < 16 ? n - i : 16;
        rc = strata__drv_row_values(bst, col0 + i, k, stack);
        for (int j = 0; j < k && rc == STRATA_OK; j++)
            strata__value_to_cell(want[i + j], &stack[j], &out[i + j]);
    }
    return rc;
}

int strata__drv_row_cells(strata_backend_stmt *bst, int col0, int n, const unsigned char *want,
                          strata_cell *out)
{
    const strata_driver *d = bst->conn->driver;
    if (d->version >= 8 && d->row_cells)
        return d->row_cells(bst, col0, n, want, out);
    return cells_from_values(bst, col0, n, want, out);
}

int strata__drv_is_reserved(const strata_driver *drv, const char *word)
{
    return drv->is_reserved_word ? drv->is_reserved_word(word) : 0;
}

const char *strata__drv_identifier_quote(const strata_driver *drv)
{
    const char *q = drv && drv->version >= 5 ? drv->identifier_quote : NULL;
    return q && q[0] && q[1] ? q : "\"\"";
}

bool strata__drv_url_is_private(const strata_driver *drv, const strata_url *url)
{
    return drv && drv->version >= 5 && drv->url_is_private && drv->url_is_private(url) != 0;
}
