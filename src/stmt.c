/*
 * stmt.c - prepared statements: the per-connection cache, bindings, step,
 * and the typed getters that convert values the same way on every engine.
 *
 * The cache maps SQL text to statements the engine has already prepared.
 * A statement is "in use" from prepare until finalize; finalize resets it,
 * clears its bindings and puts it at the head of an LRU list of idle ones.
 * When the cache is full the least recently used idle statement is
 * finalized for real; if every cached statement is in use, the new one is
 * simply not cached.  The same text prepared twice at once gets a second,
 * uncached statement.
 *
 * Bound values are copied into the statement (text and blobs too) and
 * handed to the backend as an array of strata_value at execution.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define CACHE_CAPACITY 128
#define CACHE_BUCKETS 256

static uint64_t hash_sql(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* ---- lists ---------------------------------------------------------------- */

static void live_link(strata_db *db, strata_stmt *st)
{
    st->live_prev = NULL;
    st->live_next = db->live;
    if (db->live)
        db->live->live_prev = st;
    db->live = st;
}

static void live_unlink(strata_db *db, strata_stmt *st)
{
    if (st->live_prev)
        st->live_prev->live_next = st->live_next;
    else
        db->live = st->live_next;
    if (st->live_next)
        st->live_next->live_prev = st->live_prev;
    st->live_prev = st->live_next = NULL;
}

static void lru_unlink(strata_stmt_cache *c, strata_stmt *st)
{
    if (st->lru_prev)
        st->lru_prev->lru_next = st->lru_next;
    else if (c->lru_head == st)
        c->lru_head = st->lru_next;
    if (st->lru_next)
        st->lru_next->lru_prev = st->lru_prev;
    else if (c->lru_tail == st)
        c->lru_tail = st->lru_prev;
    st->lru_prev = st->lru_next = NULL;
}

static void lru_push(strata_stmt_cache *c, strata_stmt *st)
{
    st->lru_prev = NULL;
    st->lru_next = c->lru_head;
    if (c->lru_head)
        c->lru_head->lru_prev = st;
    c->lru_head = st;
    if (!c->lru_tail)
        c->lru_tail = st;
}

static void hash_unlink(strata_stmt_cache *c, strata_stmt *st)
{
    strata_stmt **pp = &c->buckets[st->hash % c->nbuckets];
    while (*pp && *pp != st)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = st->hnext;
    st->hnext = NULL;
}

/* ---- statement memory --------------------------------------------------------- */

static void clear_param(strata_stmt *st, int i)
{
    free(st->owned[i]);
    st->owned[i] = NULL;
    st->params[i].type = STRATA_TYPE_NULL;
}

static void free_scratch(strata_stmt *st)
{
    for (int i = 0; i < st->nscratch; i++) {
        free(st->scratch[i]);
        st->scratch[i] = NULL;
    }
}

/* A text the program was given about a column (its name, its declared
 * type), kept with the statement: the API lends it until finalize, and
 * the engine's own goes sooner, with the result (PostgreSQL) or when the
 * engine prepares the statement again (SQLite, after a schema change or
 * for a bound LIKE pattern). */
typedef struct strata__kept {
    struct strata__kept *next;
    char text[];
} strata__kept;

/* st's copy of text, made once, for slot `at` (2 * col + 0 for a name,
 * 1 for a type), whose last text is compared first; text itself without
 * memory. */
static const char *kept_text(const strata_stmt *cst, int at, const char *text)
{
    strata_stmt *st = (strata_stmt *)cst; /* the kept texts are not the caller's state */
    if (!text)
        return NULL;
    if (at < st->nkept_at && st->kept_at[at] && !strcmp(st->kept_at[at], text))
        return st->kept_at[at];
    if (at >= st->nkept_at) {
        int n = at + 1 > 2 * st->nkept_at ? at + 1 : 2 * st->nkept_at;
        const char **more = realloc(st->kept_at, (size_t)n * sizeof *more);
        if (!more)
            return text;
        for (int i = st->nkept_at; i < n; i++)
            more[i] = NULL;
        st->kept_at = more;
        st->nkept_at = n;
    }
    const strata__kept *k = st->kept;
    while (k && strcmp(k->text, text))
        k = k->next;
    if (!k) {
        strata__kept *made = malloc(sizeof *made + strlen(text) + 1);
        if (!made)
            return text;
        strcpy(made->text, text);
        made->next = st->kept;
        st->kept = made;
        k = made;
    }
    return st->kept_at[at] = k->text;
}

static void stmt_destroy(strata_stmt *st)
{
    if (st->db)
        st->db->stmt_gen++; /* hints naming it are stale */
    while (st->kept) {
        strata__kept *k = st->kept;
        st->kept = k->next;
        free(k);
    }
    free(st->kept_at);
    strata__drv_finalize(st->bst);
    for (int i = 0; i < st->nparams; i++)
        free(st->owned[i]);
    free_scratch(st);
    free(st->scratch);
    free(st->owned);
    free(st->params);
    free(st->sql);
    free(st);
}

void strata__cache_clear(strata_db *db)
{
    strata_stmt_cache *c = &db->cache;
    while (c->lru_head) {
        strata_stmt *st = c->lru_head;
        lru_unlink(c, st);
        hash_unlink(c, st);
        stmt_destroy(st);
    }
    /* Cached statements still in use stay live; they are destroyed at
     * finalize, which sees the closed handle. */
    for (strata_stmt *st = db->live; st; st = st->live_next)
        st->cached = false;
    free(c->buckets);
    memset(c, 0, sizeof *c);
}

static strata_stmt *cache_find(strata_db *db, const char *sql, uint64_t h)
{
    strata_stmt_cache *c = &db->cache;
    if (!c->buckets)
        return NULL;
    for (strata_stmt *st = c->buckets[h % c->nbuckets]; st; st = st->hnext)
        if (!st->in_use && st->hash == h && strcmp(st->sql, sql) == 0)
            return st;
    return NULL;
}

/* Try to put a new statement in the cache. */
static void cache_add(strata_db *db, strata_stmt *st)
{
    strata_stmt_cache *c = &db->cache;
    if (!c->buckets) {
        c->buckets = calloc(CACHE_BUCKETS, sizeof *c->buckets);
        if (!c->buckets)
            return;
        c->nbuckets = CACHE_BUCKETS;
        c->capacity = CACHE_CAPACITY;
    }
    if (c->count >= c->capacity) {
        strata_stmt *victim = c->lru_tail;
        if (!victim)
            return;
        lru_unlink(c, victim);
        hash_unlink(c, victim);
        c->count--;
        stmt_destroy(victim);
    }
    strata_stmt **b = &c->buckets[st->hash % c->nbuckets];
    st->hnext = *b;
    *b = st;
    c->count++;
    st->cached = true;
}

/* ---- prepare / finalize -------------------------------------------------------- */

static const char several_statements[] =
    "prepare takes one SQL statement, this text holds several (run scripts with "
    "strata_db_exec())";

/* An idle statement of the cache, handed out. */
static void take_cached(strata_db *db, strata_stmt *st)
{
    lru_unlink(&db->cache, st);
    st->in_use = true;
    live_link(db, st);
    db->counters[STRATA_COUNTER_CACHE_HITS]++;
}

int strata__stmt_prepare_hinted(strata_stmt **out, strata_db *db, const char *sql,
                                strata__stmt_hint *hint)
{
    strata_stmt *st = hint->st;
    if (st && hint->gen == db->stmt_gen && st->cached && !st->in_use &&
        strata__db_usable(db) == STRATA_OK) {
        take_cached(db, st);
        *out = st;
        return STRATA_OK;
    }
    int rc = strata_stmt_prepare(out, db, sql);
    hint->st = rc == STRATA_OK && (*out)->cached ? *out : NULL;
    hint->gen = db->stmt_gen;
    return rc;
}

int strata_stmt_prepare(strata_stmt **out, strata_db *db, const char *sql)
{
    STRATA__CONFINE(db, STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    int rc = strata__db_usable(db);
    if (rc)
        return rc;
    if (!sql)
        return strata__db_error(db, STRATA_E_MISUSE, "prepare: SQL is NULL");

    uint64_t h = hash_sql(sql);
    strata_stmt *st = cache_find(db, sql, h);
    if (st) {
        take_cached(db, st);
        *out = st;
        return STRATA_OK;
    }

    strata__sql_rewrite rw;
    if (strata__sql_rewrite_placeholders(&rw, sql, db->driver->placeholder,
                                         strata__drv_lexer_flags(db)) != STRATA_OK)
        return strata__db_error(db, STRATA_E_NOMEM, "out of memory");
    if (rw.numbered) {
        int n = (int)strspn(rw.numbered + 1, "0123456789") + 1;
        free(rw.sql);
        return strata__db_error(db, STRATA_E_MISUSE,
                                "the placeholder %.*s is not one strata binds: write ? for each "
                                "parameter, in order (strata numbers them for the engine)",
                                n > 12 ? 12 : n, rw.numbered);
    }
    st = calloc(1, sizeof *st);
    if (st) {
        st->sql = strata__strdup(sql);
        st->params = calloc((size_t)rw.nparams + 1, sizeof *st->params);
        st->owned = calloc((size_t)rw.nparams + 1, sizeof *st->owned);
    }
    if (!st || !st->sql || !st->params || !st->owned) {
        free(rw.sql);
        if (st)
            stmt_destroy(st);
        return strata__db_error(db, STRATA_E_NOMEM, "out of memory");
    }
    st->db = db;
    st->hash = h;
    st->nparams = rw.nparams;
    st->ncols = -1;
    st->may_write = strata__text_may_write(db, sql);
    st->ends_tx = strata__sql_transaction_statement(sql, strata__drv_lexer_flags(db)) != NULL;
    /* The engine judges whether the text is one statement ("SELECT 1;;",
     * a trigger or function body holding semicolons are).  When it refuses
     * text the lexer sees going on after a ';', say so plainly. */
    rc = strata__drv_prepare(db, &st->bst, rw.sql, rw.nparams);
    free(rw.sql);
    if (rc != STRATA_OK)
        strata__db_hide_password_literals(db, sql);
    db->counters[STRATA_COUNTER_PREPARES]++;
    if (rc != STRATA_OK) {
        st->bst = NULL;
        stmt_destroy(st);
        if (rc == STRATA_E_SYNTAX && rw.multiple) {
            char *why = strata__strdup(strata_db_errmsg(db));
            rc = strata__db_error(db, STRATA_E_MISUSE, "%s: %s", several_statements,
                                  why ? why : "");
            free(why);
        }
        strata__db_note_failure(db);
        return rc;
    }
    st->bst->nparams = st->nparams;
    st->bst->params = st->params;
    st->in_use = true;
    cache_add(db, st);
    live_link(db, st);
    *out = st;
    return STRATA_OK;
}

static void stmt_rewind(strata_stmt *st)
{
    if (st->db && st->db->streaming == st)
        st->db->streaming = NULL;
    if (st->db && st->state != STMT_READY)
        st->db->raw_tx_before = false; /* it was this execution's */
    if (st->state != STMT_READY && st->bst)
        strata__drv_reset(st->bst);
    st->state = STMT_READY;
    st->ncols = -1; /* an engine may prepare the text again before the next run */
    free_scratch(st);
}

static void stmt_release(strata_stmt *st);

void strata__stmt_release(strata_stmt *st)
{
    if (st)
        stmt_release(st);
}

void strata_stmt_finalize(strata_stmt *st)
{
    if (!st)
        return;
    strata_db *db = st->db;
    strata__confinement c = strata__confine(db);
    if (c.refused)
        return;
    stmt_release(st);
    strata__confine_end(&c);
    /* A closed handle goes with its last statement: after leaving it. */
    strata__db_release_zombie(db);
}

static void stmt_release(strata_stmt *st)
{
    strata_db *db = st->db;
    if (db->streaming == st)
        db->streaming = NULL;
    live_unlink(db, st);
    st->in_use = false;
    if (db->closed || !st->cached || !st->bst) {
        if (st->cached) {
            hash_unlink(&db->cache, st);
            db->cache.count--;
        }
        stmt_destroy(st);
        return;
    }
    stmt_rewind(st);
    for (int i = 0; i < st->nparams; i++)
        clear_param(st, i);
    if (st->stream) { /* the next user of the cached statement expects all rows */
        st->stream = false;
        strata__drv_set_streaming(st->bst, 0);
    }
    lru_push(&db->cache, st);
}

int strata_stmt_reset(strata_stmt *st)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    if (!st || !st->bst)
        return STRATA_E_MISUSE;
    stmt_rewind(st);
    return STRATA_OK;
}

int strata_stmt_clear_bindings(strata_stmt *st)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    if (!st || !st->bst)
        return STRATA_E_MISUSE;
    stmt_rewind(st);
    for (int i = 0; i < st->nparams; i++)
        clear_param(st, i);
    return STRATA_OK;
}

int strata_stmt_param_count(const strata_stmt *st) { return st ? st->nparams : 0; }

/* ---- binding ------------------------------------------------------------------- */

static int bind_slot(strata_stmt *st, int index, strata_value **v)
{
    if (!st || !st->bst)
        return STRATA_E_MISUSE;
    if (index < 1 || index > st->nparams)
        return strata__db_error(st->db, STRATA_E_RANGE,
                                "parameter %d does not exist (the statement has %d)", index,
                                st->nparams);
    stmt_rewind(st);
    clear_param(st, index - 1);
    *v = &st->params[index - 1];
    return STRATA_OK;
}

int strata_stmt_bind_null(strata_stmt *st, int index)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    strata_value *v;
    return bind_slot(st, index, &v);
}

int strata_stmt_bind_bool(strata_stmt *st, int index, int value)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    strata_value *v;
    int rc = bind_slot(st, index, &v);
    if (rc == STRATA_OK) {
        v->type = STRATA_TYPE_BOOL;
        v->u.i = value != 0;
    }
    return rc;
}

int strata_stmt_bind_int64(strata_stmt *st, int index, int64_t value)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    return strata__stmt_bind_int64(st, index, value);
}

int strata__stmt_bind_int64(strata_stmt *st, int index, int64_t value)
{
    strata_value *v;
    int rc = bind_slot(st, index, &v);
    if (rc == STRATA_OK) {
        v->type = STRATA_TYPE_INT64;
        v->u.i = value;
    }
    return rc;
}

int strata_stmt_bind_double(strata_stmt *st, int index, double value)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    strata_value *v;
    int rc = bind_slot(st, index, &v);
    if (rc == STRATA_OK) {
        v->type = STRATA_TYPE_DOUBLE;
        v->u.d = value;
    }
    return rc;
}

int strata_stmt_bind_timestamp(strata_stmt *st, int index, strata_timestamp ts)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    strata_value *v;
    int rc = bind_slot(st, index, &v);
    if (rc != STRATA_OK)
        return rc;
    if (strata_timestamp_to_parts(ts, NULL, NULL, NULL, NULL, NULL, NULL, NULL) != STRATA_OK)
        return strata__db_error(st->db, STRATA_E_RANGE,
                                "parameter %d: timestamp %" PRId64 " is outside years 1-9999",
                                index, ts);
    v->type = STRATA_TYPE_TIMESTAMP;
    v->u.ts = ts;
    return STRATA_OK;
}

ptrdiff_t strata__utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII, the common case, eight bytes at a time. */
        uint64_t w;
        if (i + 8 <= n && (memcpy(&w, s + i, 8), (w & 0x8080808080808080ull) == 0)) {
            i += 8;
            continue;
        }
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07;
        } else {
            return (ptrdiff_t)i;
        }
        if (i + len > n)
            return (ptrdiff_t)i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return (ptrdiff_t)i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return (ptrdiff_t)i;
        i += len;
    }
    return -1;
}

/* Bind text, checked (no NUL, valid UTF-8); copied, or borrowed when
 * `borrow` (the caller keeps it alive until the statement is reset or
 * bound again). */
static int bind_text(strata_stmt *st, int index, const char *text, ptrdiff_t len, bool borrow)
{
    strata_value *v;
    int rc = bind_slot(st, index, &v);
    if (rc != STRATA_OK)
        return rc;
    if (!text)
        return STRATA_OK; /* NULL text is SQL NULL */
    size_t n = len < 0 ? strlen(text) : (size_t)len;
    if (memchr(text, '\0', n))
        return strata__db_error(st->db, STRATA_E_DATA,
                                "parameter %d: text contains a NUL byte (bind it as a blob)",
                                index);
    ptrdiff_t bad = strata__utf8_invalid_at((const unsigned char *)text, n);
    if (bad >= 0)
        return strata__db_error(st->db, STRATA_E_DATA,
                                "parameter %d: text is not valid UTF-8 (at byte %td)", index, bad);
    char *copy = borrow ? NULL : strata__strndup(text, n);
    if (!borrow && !copy)
        return strata__db_error(st->db, STRATA_E_NOMEM, "out of memory");
    st->owned[index - 1] = copy;
    v->type = STRATA_TYPE_TEXT;
    v->u.buf.ptr = borrow ? text : copy;
    v->u.buf.len = n;
    return STRATA_OK;
}

int strata_stmt_bind_text(strata_stmt *st, int index, const char *text, ptrdiff_t len)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    return bind_text(st, index, text, len, false);
}

int strata__stmt_bind_text_ref(strata_stmt *st, int index, const char *text, size_t len)
{
    return bind_text(st, index, text, (ptrdiff_t)len, true);
}

int strata__stmt_bind_blob_ref(strata_stmt *st, int index, const void *data, size_t len)
{
    strata_value *v;
    int rc = bind_slot(st, index, &v);
    if (rc != STRATA_OK)
        return rc;
    v->type = STRATA_TYPE_BLOB;
    v->u.buf.ptr = data ? data : "";
    v->u.buf.len = data ? len : 0;
    return STRATA_OK;
}

int strata_stmt_bind_blob(strata_stmt *st, int index, const void *data, size_t len)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    strata_value *v;
    int rc = bind_slot(st, index, &v);
    if (rc != STRATA_OK)
        return rc;
    if (!data && len > 0)
        return strata__db_error(st->db, STRATA_E_MISUSE, "parameter %d: blob data is NULL", index);
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return strata__db_error(st->db, STRATA_E_NOMEM, "out of memory");
    if (len)
        memcpy(copy, data, len);
    st->owned[index - 1] = copy;
    v->type = STRATA_TYPE_BLOB;
    v->u.buf.ptr = copy;
    v->u.buf.len = len;
    return STRATA_OK;
}

/* ---- step ------------------------------------------------------------------------ */

int strata_stmt_step(strata_stmt *st)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    return strata__stmt_step(st);
}

int strata__stmt_step(strata_stmt *st)
{
    if (!st || !st->bst)
        return STRATA_E_MISUSE;
    strata_db *db = st->db;
    int rc = strata__db_usable_by(db, st);
    if (rc)
        return rc;
    if (st->nscratch)
        free_scratch(st);
    if (st->state == STMT_DONE)
        stmt_rewind(st);
    if (st->state == STMT_READY) {
        if ((rc = strata__db_check_tx(db)))
            return rc;
        /* Inside the transaction strata began, a statement that would end
         * it: refused before it runs, as strata_db_exec refuses it. */
        if (st->ends_tx && db->in_tx)
            return strata__db_tx_statement_refused(
                db, strata__sql_transaction_statement(st->sql, strata__drv_lexer_flags(db)));
        /* Outside strata's transactions: whether one begun by raw SQL is
         * open, for a failure that makes the engine end it. */
        db->raw_tx_before = !db->in_tx && strata__drv_in_transaction(db) == 1;
        if (db->echo)
            strata__echo_stmt(db, st->sql, st->params, st->nparams);
        db->counters[STRATA_COUNTER_STATEMENTS]++;
        st->changes = 0;
    }
    rc = strata__drv_step(st->bst);
    if (rc == STRATA_ROW) {
        /* A statement that writes and returns rows (RETURNING) has
         * written by its first row: it may be let go before its end,
         * where its changed rows are counted. */
        if (st->may_write)
            strata__db_note_write(db);
        st->state = STMT_ROWS;
        /* Known from the first row on, for the row's cells (strata__stmt_cells). */
        if (st->ncols < 0)
            st->ncols = strata__drv_column_count(st->bst);
        if (st->stream)
            db->streaming = st;
        return rc;
    }
    if (db->streaming == st)
        db->streaming = NULL;
    if (rc == STRATA_DONE) {
        db->raw_tx_before = false; /* it was this execution's */
        st->state = STMT_DONE;
        st->changes = strata__drv_changes(st->bst);
        db->changes = st->changes;
        if (st->changes > 0)
            strata__db_note_write(db);
    } else {
        /* The execution is over; the next step starts it again, maybe
         * on a text the engine prepared again with other columns. */
        strata__drv_reset(st->bst);
        strata__db_hide_password_literals(db, st->sql);
        /* A raw transaction's COMMIT prepared as a statement, lost, as a
         * statement that commits itself. */
        bool ends_raw = db->raw_tx_before && !db->in_tx && st->ends_tx;
        rc = strata__db_lost_own_commit(db, rc, (db->in_tx || db->raw_tx_before) && !ends_raw,
                                        st->may_write || ends_raw);
        strata__db_note_failure(db);
        st->state = STMT_READY;
        st->ncols = -1;
    }
    return rc;
}

int64_t strata_stmt_changes(const strata_stmt *st) { return st ? st->changes : 0; }

/* ---- columns ---------------------------------------------------------------------- */

/* The column count, asking the engine to describe a statement not run yet
 * (PostgreSQL: a round trip).  A description that failed inside a
 * transaction may have aborted it, so it counts as any failed statement:
 * the next is refused until the rollback. */
static int described_count(const strata_stmt *st)
{
    if (!st || !st->bst)
        return 0;
    /* Nothing can be asked while another statement streams its rows. */
    if (st->db->streaming && st->db->streaming != st && st->state != STMT_ROWS)
        return 0;
    uint64_t errors = st->db->nerrors;
    int n = strata__drv_column_count(st->bst);
    if (st->db->nerrors != errors)
        strata__db_note_failure(st->db);
    return n;
}

int strata_stmt_column_count(const strata_stmt *st)
{
    STRATA__CONFINE(st ? st->db : NULL, 0);
    return described_count(st);
}

const char *strata_stmt_column_name(const strata_stmt *st, int col)
{
    STRATA__CONFINE(st ? st->db : NULL, NULL);
    if (col < 0 || col >= described_count(st))
        return NULL;
    return kept_text(st, 2 * col, strata__drv_column_name(st->bst, col));
}

const char *strata_stmt_column_decltype(const strata_stmt *st, int col)
{
    STRATA__CONFINE(st ? st->db : NULL, NULL);
    if (col < 0 || col >= described_count(st))
        return NULL;
    return kept_text(st, 2 * col + 1, strata__drv_column_decltype(st->bst, col));
}

/* Fetch the current row's value of `col`, checking state and range. */
static int fetch(strata_stmt *st, int col, strata_value *v)
{
    if (!st || !st->bst)
        return STRATA_E_MISUSE;
    if (st->state != STMT_ROWS)
        return strata__db_error(st->db, STRATA_E_MISUSE,
                                "no current row (step until STRATA_ROW first)");
    int n = strata__drv_column_count(st->bst);
    if (col < 0 || col >= n)
        return strata__db_error(st->db, STRATA_E_RANGE,
                                "column %d does not exist (the result has %d, from 0)", col, n);
    return strata__drv_column_value(st->bst, col, v);
}

int strata__stmt_value(strata_stmt *st, int col, strata_value *out)
{
    /* The column count is asked once per execution, not once per value. */
    if (!st || !st->bst || st->state != STMT_ROWS)
        return fetch(st, col, out);
    if (st->ncols < 0)
        st->ncols = strata__drv_column_count(st->bst);
    if (col < 0 || col >= st->ncols)
        return fetch(st, col, out); /* which says what is wrong */
    return strata__drv_column_value(st->bst, col, out);
}

/* The getters' error for cells asked with no row, or of no such column. */
static __attribute__((noinline)) int cells_refused(strata_stmt *st, int col0)
{
    strata_value v;
    if (!st || !st->bst || st->state != STMT_ROWS)
        return fetch(st, col0, &v);
    return fetch(st, col0 < 0 || col0 >= st->ncols ? col0 : st->ncols, &v);
}

int strata__stmt_cells_checked(strata_stmt *st, int col0, int n, const unsigned char *want,
                               strata_cell *out)
{
    if (n <= 0)
        return STRATA_OK;
    if (!st || !st->bst || st->state != STMT_ROWS)
        return cells_refused(st, col0);
    if (st->ncols < 0)
        st->ncols = strata__drv_column_count(st->bst);
    if (col0 < 0 || n > st->ncols - col0)
        return cells_refused(st, col0);
    return strata__drv_row_cells(st->bst, col0, n, want, out);
}

strata_type strata_stmt_column_type(strata_stmt *st, int col)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_TYPE_NULL);
    strata_value v;
    return fetch(st, col, &v) == STRATA_OK ? v.type : STRATA_TYPE_NULL;
}

int strata_stmt_column_is_null(strata_stmt *st, int col)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    strata_value v;
    return fetch(st, col, &v) == STRATA_OK && v.type == STRATA_TYPE_NULL;
}

static int type_error(strata_stmt *st, int col, const strata_value *v, const char *want)
{
    return strata__db_error(st->db, STRATA_E_TYPE, "column %d (%s): a %s value is not %s", col,
                            strata__drv_column_name(st->bst, col), strata_type_name(v->type), want);
}

int strata_stmt_column_int64(strata_stmt *st, int col, int64_t *out)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    strata_value v;
    int rc = fetch(st, col, &v);
    if (out)
        *out = 0;
    if (rc != STRATA_OK)
        return rc;
    if (!out)
        return STRATA_E_MISUSE;
    rc = strata__value_int64(&v, out);
    return rc == STRATA_E_TYPE ? type_error(st, col, &v, "an integer") : rc;
}

int strata_stmt_column_double(strata_stmt *st, int col, double *out)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    strata_value v;
    int rc = fetch(st, col, &v);
    if (out)
        *out = 0;
    if (rc != STRATA_OK)
        return rc;
    if (!out)
        return STRATA_E_MISUSE;
    rc = strata__value_double(&v, out);
    return rc == STRATA_E_TYPE ? type_error(st, col, &v, "a number") : rc;
}

int strata_stmt_column_bool(strata_stmt *st, int col, int *out)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    strata_value v;
    int rc = fetch(st, col, &v);
    if (out)
        *out = 0;
    if (rc != STRATA_OK)
        return rc;
    if (!out)
        return STRATA_E_MISUSE;
    switch (v.type) {
    case STRATA_TYPE_NULL: return STRATA_NULL;
    case STRATA_TYPE_INT64:
    case STRATA_TYPE_BOOL:
        if (v.u.i == 0 || v.u.i == 1) {
            *out = (int)v.u.i;
            return STRATA_OK;
        }
        return type_error(st, col, &v, "a boolean (0 or 1)");
    case STRATA_TYPE_TEXT: {
        const char *s = v.u.buf.ptr;
        if (!strcasecmp(s, "t") || !strcasecmp(s, "true") || !strcmp(s, "1"))
            *out = 1;
        else if (!strcasecmp(s, "f") || !strcasecmp(s, "false") || !strcmp(s, "0"))
            *out = 0;
        else
            return type_error(st, col, &v, "a boolean");
        return STRATA_OK;
    }
    default: return type_error(st, col, &v, "a boolean");
    }
}

/* Text for a non-text value, kept until the next step. */
static const char *scratch_text(strata_stmt *st, int col, const char *text)
{
    if (st->nscratch <= col) {
        int n = strata__drv_column_count(st->bst);
        char **s = realloc(st->scratch, (size_t)n * sizeof *s);
        if (!s)
            return NULL;
        for (int i = st->nscratch; i < n; i++)
            s[i] = NULL;
        st->scratch = s;
        st->nscratch = n;
    }
    free(st->scratch[col]);
    st->scratch[col] = strata__strdup(text);
    return st->scratch[col];
}

int strata_stmt_column_text(strata_stmt *st, int col, const char **out, size_t *len)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    strata_value v;
    int rc = fetch(st, col, &v);
    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (rc != STRATA_OK)
        return rc;
    if (!out)
        return STRATA_E_MISUSE;
    char buf[64];
    switch (v.type) {
    case STRATA_TYPE_NULL: return STRATA_NULL;
    case STRATA_TYPE_TEXT:
        *out = v.u.buf.ptr;
        if (len)
            *len = v.u.buf.len;
        return STRATA_OK;
    case STRATA_TYPE_INT64: snprintf(buf, sizeof buf, "%" PRId64, v.u.i); break;
    case STRATA_TYPE_BOOL: snprintf(buf, sizeof buf, "%s", v.u.i ? "true" : "false"); break;
    case STRATA_TYPE_DOUBLE: snprintf(buf, sizeof buf, "%.17g", v.u.d); break;
    case STRATA_TYPE_TIMESTAMP:
        if (strata_timestamp_format(v.u.ts, buf, sizeof buf) != STRATA_OK)
            return type_error(st, col, &v, "printable");
        break;
    default: return type_error(st, col, &v, "text");
    }
    *out = scratch_text(st, col, buf);
    if (!*out)
        return strata__db_error(st->db, STRATA_E_NOMEM, "out of memory");
    if (len)
        *len = strlen(*out);
    return STRATA_OK;
}

int strata_stmt_column_blob(strata_stmt *st, int col, const void **out, size_t *len)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    strata_value v;
    int rc = fetch(st, col, &v);
    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (rc != STRATA_OK)
        return rc;
    if (!out || !len)
        return STRATA_E_MISUSE;
    if (v.type == STRATA_TYPE_NULL)
        return STRATA_NULL;
    if (v.type != STRATA_TYPE_BLOB && v.type != STRATA_TYPE_TEXT)
        return type_error(st, col, &v, "a blob");
    *out = v.u.buf.ptr;
    *len = v.u.buf.len;
    return STRATA_OK;
}

int strata_stmt_column_timestamp(strata_stmt *st, int col, strata_timestamp *out)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    strata_value v;
    int rc = fetch(st, col, &v);
    if (out)
        *out = 0;
    if (rc != STRATA_OK)
        return rc;
    if (!out)
        return STRATA_E_MISUSE;
    if (v.type == STRATA_TYPE_NULL)
        return STRATA_NULL;
    if (v.type == STRATA_TYPE_TIMESTAMP) {
        *out = v.u.ts;
        return STRATA_OK;
    }
    if (v.type == STRATA_TYPE_TEXT &&
        strata_timestamp_parse(out, v.u.buf.ptr, v.u.buf.len) == STRATA_OK)
        return STRATA_OK;
    /* PostgreSQL's infinite timestamps: a timestamp column's values, past
     * any a strata_timestamp holds. */
    static const char *const infinite[] = {"infinity", "+infinity", "-infinity"};
    for (size_t i = 0; v.type == STRATA_TYPE_TEXT && i < sizeof infinite / sizeof *infinite; i++)
        if (v.u.buf.len == strlen(infinite[i]) && !strcasecmp(v.u.buf.ptr, infinite[i]))
            return strata__db_error(st->db, STRATA_E_RANGE,
                                    "column %d (%s): the timestamp %s is past the range of a "
                                    "strata_timestamp (the years 1 to 9999)",
                                    col, strata__drv_column_name(st->bst, col), infinite[i]);
    return type_error(st, col, &v, "a timestamp");
}

int strata_stmt_bind_value(strata_stmt *st, int index, const strata_value *v)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    if (!v)
        return STRATA_E_MISUSE;
    switch (v->type) {
    case STRATA_TYPE_NULL: return strata_stmt_bind_null(st, index);
    case STRATA_TYPE_INT64: return strata_stmt_bind_int64(st, index, v->u.i);
    case STRATA_TYPE_BOOL: return strata_stmt_bind_bool(st, index, (int)v->u.i);
    case STRATA_TYPE_DOUBLE: return strata_stmt_bind_double(st, index, v->u.d);
    case STRATA_TYPE_TIMESTAMP: return strata_stmt_bind_timestamp(st, index, v->u.ts);
    case STRATA_TYPE_TEXT:
        return strata_stmt_bind_text(st, index, v->u.buf.ptr, (ptrdiff_t)v->u.buf.len);
    case STRATA_TYPE_BLOB: return strata_stmt_bind_blob(st, index, v->u.buf.ptr, v->u.buf.len);
    }
    return STRATA_E_MISUSE;
}

int strata_stmt_stream(strata_stmt *st)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    if (!st || !st->bst || st->state != STMT_READY)
        return STRATA_E_MISUSE;
    int rc = strata__drv_set_streaming(st->bst, 1);
    if (rc == STRATA_OK)
        st->stream = true;
    return rc;
}

/* ---- many executions ------------------------------------------------------------- */

typedef struct many_run {
    strata_stmt *st;
    strata_exec_bind_fn bind;
    strata_exec_row_fn row;
    void *ctx;
    size_t rows; /* handed to row */
} many_run;

/* The driver's callbacks while it pipelines. */
static int many_bind(void *arg, size_t i)
{
    many_run *r = arg;
    strata_stmt *st = r->st;
    int rc = r->bind(st, i, r->ctx);
    if (rc != STRATA_OK)
        return rc;
    strata__echo_stmt(st->db, st->sql, st->params, st->nparams);
    st->db->counters[STRATA_COUNTER_STATEMENTS]++;
    st->db->counters[STRATA_COUNTER_PIPELINED]++;
    return STRATA_OK;
}

static int many_row(void *arg, size_t i)
{
    many_run *r = arg;
    r->rows++;
    free_scratch(r->st);
    r->st->state = STMT_ROWS;
    int rc = r->row ? r->row(r->st, i, r->ctx) : STRATA_OK;
    free_scratch(r->st);
    r->st->state = STMT_READY;
    return rc;
}

/* One execution after another, for engines without pipelining. */
static int many_one_by_one(many_run *r, size_t n)
{
    strata_stmt *st = r->st;
    int rc = STRATA_OK;
    for (size_t i = 0; i < n && rc == STRATA_OK; i++) {
        stmt_rewind(st);
        if ((rc = r->bind(st, i, r->ctx)) != STRATA_OK)
            break;
        while ((rc = strata_stmt_step(st)) == STRATA_ROW) {
            r->rows++;
            if (r->row && (rc = r->row(st, i, r->ctx)) != STRATA_OK)
                break;
        }
        if (rc == STRATA_DONE)
            rc = STRATA_OK;
    }
    stmt_rewind(st);
    return rc;
}

/* The n executions of r, in a transaction of their own when `own`
 * (committed if they all worked, else rolled back). */
static int many_in_tx(many_run *r, size_t n, bool own)
{
    strata_stmt *st = r->st;
    strata_db *db = st->db;
    int rc;
    if (own && (rc = strata_db_begin(db)) != STRATA_OK)
        return rc;
    if ((rc = strata__db_check_tx(db)) == STRATA_OK) {
        if (n > 1 && strata__drv_can_execute_many(st->bst)) {
            rc = strata__drv_execute_many(st->bst, n, many_bind, many_row, r);
            strata__db_note_write(db); /* rows of a batch (those sent may stand) */
            if (rc != STRATA_OK)
                strata__db_note_failure(db);
            stmt_rewind(st);
        } else {
            rc = many_one_by_one(r, n);
        }
    }
    if (own) {
        if (rc == STRATA_OK)
            return strata_db_commit(db);
        strata__db_abort_tx(db);
    }
    return rc;
}

/* A stale statement's failure in the transaction execute_many opened for
 * itself, when it is not made once more (rows reached the caller, or it
 * failed again): the driver's advice to roll back is for a transaction
 * the program holds, and this one is rolled back already. */
static __attribute__((noinline)) int many_stale_said(strata_db *db, int rc, bool again)
{
    const char *msg = strata_db_errmsg(db), *advice = STRATA_DRIVER_SAY_ROLL_BACK;
    size_t n = strlen(msg), a = strlen(advice);
    if (n < a || strcmp(msg + n - a, advice) != 0)
        return rc;
    char sqlstate[sizeof db->sqlstate];
    snprintf(sqlstate, sizeof sqlstate, "%s", db->sqlstate);
    return strata__db_error_words(db, rc, sqlstate[0] ? sqlstate : NULL, db->native,
                                  "%.*srun it again (the transaction strata_stmt_execute_many "
                                  "opened for itself is rolled back%s)",
                                  (int)(n - a), msg,
                                  again ? "; it was prepared again and failed again" : "");
}

int strata_stmt_execute_many(strata_stmt *st, size_t n, strata_exec_bind_fn bind,
                             strata_exec_row_fn row, void *ctx)
{
    STRATA__CONFINE(st ? st->db : NULL, STRATA_E_MISUSE);
    if (!st || !st->bst || !bind)
        return STRATA_E_MISUSE;
    strata_db *db = st->db;
    int rc = strata__db_usable_by(db, st);
    if (rc)
        return rc;
    if (st->stream)
        return strata__db_error(db, STRATA_E_MISUSE,
                                "a streamed statement cannot be run many times at once");
    stmt_rewind(st);
    if (n == 0)
        return STRATA_OK;
    bool own = !strata_db_in_transaction(db);
    /* In a transaction of its own, a run refused for a stale statement
     * (a schema change, or the server forgot the connection's
     * statements) before any row reached the caller lost nothing: the
     * statement is prepared again, and the run made once more. */
    for (int attempt = 0;; attempt++) {
        many_run r = {st, bind, row, ctx, 0};
        rc = many_in_tx(&r, n, own);
        if (own && rc == STRATA_E_STALE_STATEMENT && (r.rows || attempt))
            return many_stale_said(db, rc, attempt > 0);
        if (!own || rc != STRATA_E_STALE_STATEMENT)
            return rc;
    }
}

int strata__stmt_column_copy(strata_stmt *st, int col, strata_value *out)
{
    /* The value's type, or why it could not be read: a failure read as
     * the NULL type would give the caller a NULL for a value it lost. */
    strata_value v;
    int rc = strata__stmt_value(st, col, &v);
    out->type = STRATA_TYPE_NULL;
    if (rc != STRATA_OK)
        return rc;
    out->type = v.type;
    switch (out->type) {
    case STRATA_TYPE_NULL: return STRATA_OK;
    case STRATA_TYPE_INT64:
    case STRATA_TYPE_BOOL: return strata_stmt_column_int64(st, col, &out->u.i);
    case STRATA_TYPE_DOUBLE: return strata_stmt_column_double(st, col, &out->u.d);
    case STRATA_TYPE_TIMESTAMP: return strata_stmt_column_timestamp(st, col, &out->u.ts);
    case STRATA_TYPE_TEXT:
    case STRATA_TYPE_BLOB: {
        const void *p = NULL;
        size_t n = 0;
        strata_type type = out->type;
        out->type = STRATA_TYPE_NULL; /* until the copy is made */
        rc = type == STRATA_TYPE_TEXT ? strata_stmt_column_text(st, col, (const char **)&p, &n)
                                      : strata_stmt_column_blob(st, col, &p, &n);
        char *copy = rc == STRATA_OK ? malloc(n + 1) : NULL;
        if (rc != STRATA_OK || !copy)
            return rc != STRATA_OK ? rc : STRATA_E_NOMEM;
        if (n)
            memcpy(copy, p, n);
        copy[n] = '\0';
        out->type = type;
        out->u.buf.ptr = copy;
        out->u.buf.len = n;
        return STRATA_OK;
    }
    }
    return STRATA_OK;
}
