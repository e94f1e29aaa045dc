/*
 * identity.c - primary keys and the identity map.
 *
 * A model's key is its primary-key fields in declaration order: one
 * integer in the common case, several fields of any type for an
 * association object.  A persistent object's key is read from its loaded
 * snapshot (the values the database has), never from the struct, so a key
 * changed in memory is still found under the row it came from until the
 * flush sends the change.
 *
 * The map is open addressing on a hash of the key cells; a removed slot
 * holds a tombstone (the minfo pointer) so probing continues past it.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orm_internal.h"

bool strata__is_key_field(const strata__minfo *mi, int f)
{
    for (int k = 0; k < mi->npk; k++)
        if (mi->pkf[k] == f)
            return true;
    return false;
}

void strata__object_key(strata_object *o, strata__key key)
{
    const strata__minfo *mi = o->priv->mi;
    for (int k = 0; k < mi->npk; k++)
        key[k] = &o->priv->loaded[mi->pkf[k]];
}

void strata__fields_key(strata_object *o, strata__cell *cells, strata__key key)
{
    const strata__minfo *mi = o->priv->mi;
    for (int k = 0; k < mi->npk; k++) {
        strata__field_cell(o, mi->pkf[k], &cells[k]);
        key[k] = &cells[k];
    }
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t cell_hash(uint64_t h, const strata__cell *c, strata_ctype ct)
{
    if (c->null)
        return mix(h, 0x6e756c6cull);
    if (strata__ctype_bytes(ct)) {
        uint64_t f = 0xcbf29ce484222325ull; /* FNV-1a */
        for (size_t i = 0; i < c->len; i++)
            f = (f ^ (unsigned char)c->p[i]) * 0x100000001b3ull;
        return mix(h, f);
    }
    return mix(h, (uint64_t)c->i); /* a double's bits, for a double key */
}

uint64_t strata__key_hash(const strata__minfo *mi, const strata__key key)
{
    /* One integer (the common case): the multiply alone spreads it. */
    if (mi->pk >= 0 && !key[0]->null)
        return (uint64_t)key[0]->i * 0x9E3779B97F4A7C15ull;
    uint64_t h = 0;
    for (int k = 0; k < mi->npk; k++)
        h = cell_hash(h, key[k], mi->m->fields[mi->pkf[k]].ctype);
    /* Finish with a multiply so that small integers spread over the slots. */
    return (h ^ (h >> 31)) * 0x9E3779B97F4A7C15ull;
}

static bool cell_eq(const strata__cell *a, const strata__cell *b, strata_ctype ct)
{
    if (a->null || b->null)
        return a->null == b->null;
    if (strata__ctype_bytes(ct))
        return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
    return a->i == b->i; /* the same bits, whichever the type */
}

bool strata__key_eq(const strata__minfo *mi, const strata__key a, const strata__key b)
{
    for (int k = 0; k < mi->npk; k++)
        if (!cell_eq(a[k], b[k], mi->m->fields[mi->pkf[k]].ctype))
            return false;
    return true;
}

/* ---- the map ----------------------------------------------------------- */

/* A key's tag, kept beside its slot: 32 bits from which both its first
 * slot and its probe step follow (at most 2^32 slots: see identity_put).
 * An integer key below 2^32 is its own tag, so that rows read in key
 * order (a table read through) fill neighbouring slots: one cache line
 * holds several, where a hash would scatter every row to its own line
 * and page.  Other keys take 32 bits of their hash. */
static uint32_t int_tag(int64_t id)
{
    uint64_t k = (uint64_t)id;
    return (uint32_t)k ^ (uint32_t)((k >> 32) * 0x9E3779B97F4A7C15ull >> 32);
}

static uint32_t tag_of(const strata__minfo *mi, const strata__key key)
{
    if (mi->pk >= 0 && !key[0]->null)
        return int_tag(key[0]->i);
    return (uint32_t)(strata__key_hash(mi, key) >> 17);
}

/* Keys whose first slot is taken go on by a step of their own (double
 * hashing), odd so that every slot is reached.  With one step for all
 * (linear probing), keys in order would make one long run of taken
 * slots, and any other key whose first slot fell inside it would walk
 * to its end. */
static size_t step_of(uint32_t tag)
{
    uint32_t h = tag * 0x9E3779B1u;
    return (size_t)(h ^ h >> 16) | 1;
}

/* The first object along tag's probe sequence that match takes, or NULL
 * at a free slot.  Inlined into each caller with its own match, so that
 * the integer key's loop stays a loop of its own (a get's path). */
static inline __attribute__((always_inline)) strata_object *
probe(strata__minfo *mi, uint32_t tag, bool (*match)(strata__minfo *, strata_object *, const void *),
      const void *what)
{
    size_t mask = mi->nslots - 1, step = step_of(tag);
    for (size_t i = tag & mask;; i = (i + step) & mask) {
        strata_object *o = mi->slots[i];
        if (!o)
            return NULL;
        if (o != (strata_object *)mi && mi->tags[i] == tag && match(mi, o, what))
            return o;
    }
}

static bool int_matches(strata__minfo *mi, strata_object *o, const void *id)
{
    const strata__cell *c = &o->priv->loaded[mi->pk];
    return !c->null && c->i == *(const int64_t *)id;
}

static bool key_matches(strata__minfo *mi, strata_object *o, const void *key)
{
    strata__key ok;
    strata__object_key(o, ok);
    return strata__key_eq(mi, ok, key);
}

/* The object of the integer key id, or NULL: the common key, looked up
 * on its own path (a get, a row read) without the general key's cells. */
strata_object *strata__identity_find(strata__minfo *mi, int64_t id)
{
    if (mi->pk < 0 || !mi->nslots)
        return NULL;
    return probe(mi, int_tag(id), int_matches, &id);
}

strata_object *strata__identity_find_key(strata__minfo *mi, const strata__key key)
{
    if (mi->pk >= 0 && !key[0]->null)
        return strata__identity_find(mi, key[0]->i);
    if (!mi->nslots)
        return NULL;
    return probe(mi, tag_of(mi, key), key_matches, key);
}

/* Room for one more key: the map twice the size, or rebuilt at the same
 * size when removed objects' marks fill most of it (a long session that
 * loads and lets go of rows with ever new keys does not grow the map with
 * them).  False when there is none.  Apart from identity_put, whose
 * common case stays small. */
static __attribute__((noinline)) bool identity_grow(strata__minfo *mi)
{
    size_t n = !mi->nslots                           ? 64
               : (mi->nlive + 1) * 4 <= mi->nslots ? mi->nslots
                                                     : mi->nslots * 2;
    /* A slot's tag picks it among at most 2^32: past that, the map
     * stays as it is, as when memory is short. */
    strata_object **slots =
        n - 1 <= UINT32_MAX ? calloc(n, sizeof *slots + sizeof(uint32_t)) : NULL;
    /* Without memory to grow or rebuild, a map with room left still
     * takes it: putting back an object just taken out must not fail. */
    if (!slots)
        return mi->nused + 1 < mi->nslots;
    uint32_t *tags = (uint32_t *)(slots + n);
    strata_object **old = mi->slots;
    const uint32_t *oldtags = mi->tags;
    size_t oldn = mi->nslots;
    mi->slots = slots;
    mi->tags = tags;
    mi->nslots = n;
    mi->nused = 0;
    /* Every key is different: each object goes to the first free slot
     * from its tag, without reading it. */
    for (size_t j = 0; j < oldn; j++) {
        strata_object *m = old[j];
        if (!m || m == (strata_object *)mi)
            continue;
        size_t i = oldtags[j] & (n - 1), step = step_of(oldtags[j]);
        while (slots[i])
            i = (i + step) & (n - 1);
        slots[i] = m;
        tags[i] = oldtags[j];
        mi->nused++;
    }
    assert(mi->nused == mi->nlive);
    free(old);
    return true;
}

bool strata__identity_put(strata__minfo *mi, strata_object *o)
{
    if (!mi->npk || !o->priv->loaded)
        return true;
    if ((mi->nused + 1) * 2 > mi->nslots && !identity_grow(mi))
        return false;
    strata__key key;
    strata__object_key(o, key);
    uint32_t tag = tag_of(mi, key);
    size_t mask = mi->nslots - 1, step = step_of(tag), i = tag & mask;
    /* The key is not in the map: the first free or removed slot takes it. */
    while (mi->slots[i] && mi->slots[i] != (strata_object *)mi)
        i = (i + step) & mask;
    if (!mi->slots[i])
        mi->nused++;
    mi->nlive++;
    mi->slots[i] = o;
    mi->tags[i] = tag;
    return true;
}

void strata__identity_remove(strata__minfo *mi, strata_object *o)
{
    if (!mi->nslots || !mi->npk || !o->priv->loaded)
        return;
    strata__key key;
    strata__object_key(o, key);
    uint32_t tag = tag_of(mi, key);
    size_t mask = mi->nslots - 1, step = step_of(tag);
    for (size_t i = tag & mask;; i = (i + step) & mask) {
        if (!mi->slots[i])
            return;
        if (mi->slots[i] == o) {
            mi->slots[i] = (strata_object *)mi;
            mi->nlive--;
            return;
        }
    }
}

/* ---- keys in SQL ------------------------------------------------------- */

void strata__key_where(strata__sb *sb, const strata__minfo *mi, bool qualified)
{
    for (int k = 0; k < mi->npk; k++) {
        strata__sb_puts(sb, k ? " AND " : "");
        if (qualified)
            strata__sb_printf(sb, "%s.", mi->qtable);
        strata__sb_printf(sb, "%s = ?", mi->qcols[mi->pkf[k]]);
    }
}

int strata__key_bind(strata_stmt *st, int idx, const strata__minfo *mi, const strata__key key)
{
    int rc = STRATA_OK;
    for (int k = 0; k < mi->npk && rc == STRATA_OK; k++)
        rc = strata__bind_cell(st, idx + k, mi, mi->pkf[k], key[k]);
    return rc;
}

void strata__key_text(strata__sb *sb, const strata__minfo *mi, const strata__key key)
{
    if (mi->npk != 1)
        strata__sb_putc(sb, '(');
    for (int k = 0; k < mi->npk; k++) {
        const strata__cell *c = key[k];
        strata__sb_puts(sb, k ? ", " : "");
        switch (c->null ? -1 : (int)mi->m->fields[mi->pkf[k]].ctype) {
        case -1: strata__sb_puts(sb, "NULL"); break;
        case STRATA_C_INT64:
        case STRATA_C_BOOL: strata__sb_printf(sb, "%" PRId64, c->i); break;
        case STRATA_C_DOUBLE: strata__sb_printf(sb, "%g", c->d); break;
        case STRATA_C_TEXT: strata__sb_printf(sb, "'%.40s'", c->p); break;
        default: strata__sb_puts(sb, "..."); break;
        }
    }
    if (mi->npk != 1)
        strata__sb_putc(sb, ')');
}

/* ---- keys from the caller ---------------------------------------------- */

static const char *const ctype_names[] = {
    [STRATA_C_INT64] = "an integer", [STRATA_C_BOOL] = "a boolean",
    [STRATA_C_DOUBLE] = "a float",   [STRATA_C_TEXT] = "a text",
    [STRATA_C_BLOB] = "a blob",      [STRATA_C_TIMESTAMP] = "a timestamp",
};

bool strata__cell_from_value(const strata_field *fd, const strata_value *v, strata__cell *c)
{
    memset(c, 0, sizeof *c);
    switch (fd->ctype) {
    case STRATA_C_INT64:
    case STRATA_C_BOOL:
        c->i = fd->ctype == STRATA_C_BOOL ? v->u.i != 0 : v->u.i;
        return v->type == STRATA_TYPE_INT64 || v->type == STRATA_TYPE_BOOL;
    case STRATA_C_DOUBLE:
        c->d = v->type == STRATA_TYPE_DOUBLE ? v->u.d : (double)v->u.i;
        return v->type == STRATA_TYPE_DOUBLE || v->type == STRATA_TYPE_INT64;
    case STRATA_C_TIMESTAMP:
        c->i = v->u.ts;
        return v->type == STRATA_TYPE_TIMESTAMP;
    case STRATA_C_TEXT:
    case STRATA_C_BLOB:
        if (v->type != STRATA_TYPE_TEXT &&
            (fd->ctype != STRATA_C_BLOB || v->type != STRATA_TYPE_BLOB))
            return false;
        if (v->u.buf.len > STRATA__MAX_BYTES)
            return false;
        c->p = (char *)v->u.buf.ptr; /* borrowed: the caller's value */
        c->len = (uint32_t)v->u.buf.len;
        return c->p != NULL || v->type == STRATA_TYPE_BLOB;
    }
    return false;
}

const char *strata__ctype_name(strata_ctype ct) { return ctype_names[ct]; }

int strata__key_fits(strata_session *s, const strata__minfo *mi, strata__cell *cells,
                     char (*lower)[37])
{
    for (int k = 0; k < mi->npk; k++) {
        int f = mi->pkf[k];
        const strata_field *fd = &mi->m->fields[f];
        strata__cell *c = &cells[k];
        if (c->null)
            continue;
        strata_sqltype kind = mi->kind[f];
        if (fd->ctype == STRATA_C_INT64 &&
            (kind == STRATA_SQL_INTEGER || kind == STRATA_SQL_SMALLINT)) {
            /* SQLite's columns keep what their type cannot hold (a key it
             * numbered past 32 bits), so only a strict engine's cannot. */
            if (!strata__int_fits(kind, c->i) && s->dl && !s->dl->loose_columns)
                return STRATA_E_NOT_FOUND;
        } else if (kind == STRATA_SQL_UUID && fd->ctype == STRATA_C_TEXT) {
            /* As written (8-4-4-4-12, lower case), from any of the forms
             * PostgreSQL reads (a key of one integer field needs no room
             * for it). */
            assert(lower);
            if (!strata__uuid_canonical(c->p, c->len, lower[k]))
                return strata__session_error(
                    s, STRATA_E_DATA,
                    "%s.%s: the key '%.40s' is not a UUID (8-4-4-4-12 or 32 hex digits, in "
                    "braces or not)",
                    mi->m->name, fd->name, c->p);
            c->p = lower[k];
            c->len = 36;
        }
    }
    return STRATA_OK;
}

int strata__key_from_values(strata_session *s, const strata__minfo *mi, const strata_value *v,
                            size_t n, strata__cell *cells)
{
    if (n != (size_t)mi->npk)
        return strata__session_error(
            s, STRATA_E_MISUSE, "%s's primary key has %d field%s; %zu value%s given", mi->m->name,
            mi->npk, mi->npk == 1 ? "" : "s", n, n == 1 ? "" : "s");
    for (int k = 0; k < mi->npk; k++) {
        const strata_field *fd = &mi->m->fields[mi->pkf[k]];
        if (!strata__cell_from_value(fd, &v[k], &cells[k]))
            return strata__session_error(s, STRATA_E_MISUSE, "key value %d for %s.%s is not %s",
                                         k + 1, mi->m->name, fd->name, ctype_names[fd->ctype]);
    }
    return STRATA_OK;
}
