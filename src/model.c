/*
 * model.c - model descriptors: their tables for the schema layer, the
 * per-session resolved info (table and column names quoted for the
 * dialect, the key, string lengths), field access by ctype, snapshots for
 * change detection and rollback, repr and lists.
 */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "orm_internal.h"

/* ---- names ------------------------------------------------------------- */

const char *strata_model_table(const strata_model *m, char *buf, size_t size)
{
    if (!m || !m->name)
        return NULL;
    if (m->table)
        return m->table;
    /* "AddressAndPhone" -> "address_and_phone" */
    size_t w = 0;
    for (const char *p = m->name; *p && w + 2 < size; p++) {
        if (isupper((unsigned char)*p) && p != m->name &&
            (islower((unsigned char)p[-1]) || (p[1] && islower((unsigned char)p[1]))))
            buf[w++] = '_';
        buf[w++] = (char)tolower((unsigned char)*p);
    }
    buf[w] = '\0';
    return buf;
}

static int count_fields(const strata_model *m)
{
    int n = 0;
    while (m->fields && m->fields[n].name)
        n++;
    return n;
}

static int count_rels(const strata_model *m)
{
    int n = 0;
    while (m->relations && m->relations[n].name)
        n++;
    return n;
}

/* Whether the C type can hold the portable type. */
/* Field f lies after the object's header and inside the struct: a model
 * whose struct lacks `strata_object base` would otherwise have the session
 * write the row over the header. */
static bool field_in_struct(const strata_model *m, const strata_field *f)
{
    size_t c_size;
    switch (f->ctype) {
    case STRATA_C_BOOL: c_size = sizeof(bool); break;
    case STRATA_C_TEXT: c_size = sizeof(char *); break;
    case STRATA_C_BLOB: c_size = sizeof(strata_blob); break;
    default: c_size = sizeof(int64_t); break; /* integers, doubles, timestamps */
    }
    return f->offset >= sizeof(strata_object) && f->offset <= m->size &&
           m->size - f->offset >= c_size;
}

static bool ctype_fits(strata_ctype ct, const strata__type *t)
{
    switch (t->kind) {
    case STRATA_SQL_INTEGER:
    case STRATA_SQL_BIGINT:
    case STRATA_SQL_SMALLINT: return ct == STRATA_C_INT64;
    case STRATA_SQL_BOOLEAN: return ct == STRATA_C_BOOL;
    case STRATA_SQL_FLOAT: return ct == STRATA_C_DOUBLE;
    case STRATA_SQL_NUMERIC: return ct == STRATA_C_TEXT || ct == STRATA_C_DOUBLE;
    case STRATA_SQL_DATE:
    case STRATA_SQL_DATETIME:
    case STRATA_SQL_DATETIME_TZ: return ct == STRATA_C_TIMESTAMP;
    case STRATA_SQL_BLOB: return ct == STRATA_C_BLOB;
    case STRATA_SQL_RAW: return true;
    default: return ct == STRATA_C_TEXT;
    }
}

/* The model's table_args into t; errors name the model and the entry. */
static int add_table_args(strata_metadata *md, strata_table *t, const strata_model *m)
{
    for (int i = 0; m->version >= 2 && m->table_args && m->table_args[i].kind; i++) {
        const strata_table_arg *a = &m->table_args[i];
        strata__md_clear_error(md);
        int rc;
        switch (a->kind) {
        case STRATA_ARG_UNIQUE:
            rc = a->sql ? STRATA_E_SCHEMA : strata_table_add_unique(t, a->name, a->columns);
            break;
        case STRATA_ARG_CHECK:
            rc = a->columns ? STRATA_E_SCHEMA : strata_table_add_check(t, a->name, a->sql);
            break;
        case STRATA_ARG_INDEX:
        case STRATA_ARG_UNIQUE_INDEX: {
            int unique = a->kind == STRATA_ARG_UNIQUE_INDEX;
            rc = a->sql ? strata_table_add_partial_index(t, a->name, a->columns, unique, a->sql)
                        : strata_table_add_index(t, a->name, a->columns, unique);
            break;
        }
        default: rc = STRATA_E_SCHEMA; break;
        }
        if (rc == STRATA_E_NOMEM)
            return rc;
        if (rc != STRATA_OK) {
            const char *why = strata_metadata_errmsg(md);
            char *copy = why && *why ? strata__strdup(why) : NULL;
            rc = strata__md_error(md, rc, "model %s, table_args[%d]%s%s%s: %s", m->name, i,
                                  a->name ? " (" : "", a->name ? a->name : "",
                                  a->name ? ")" : "",
                                  copy ? copy
                                  : a->kind < STRATA_ARG_UNIQUE || a->kind > STRATA_ARG_UNIQUE_INDEX
                                      ? "unknown kind"
                                      : "a check takes sql and no columns, a unique constraint "
                                        "columns and no sql");
            free(copy);
            return rc;
        }
    }
    return STRATA_OK;
}

static int add_models(strata_metadata *md, const strata_model *const *models)
{
    for (const strata_model *const *mp = models; *mp; mp++) {
        const strata_model *m = *mp;
        if (m->version < 1 || m->version > STRATA_MODEL_VERSION || !m->name)
            return strata__md_error(md, STRATA_E_SCHEMA, "model %s: version %d, expected 1 to %d",
                                    m->name ? m->name : "?", m->version, STRATA_MODEL_VERSION);
        char buf[128];
        strata_table *t;
        int rc = strata_metadata_add_table(md, strata_model_table(m, buf, sizeof buf), &t);
        if (rc != STRATA_OK)
            return rc;
        for (int i = 0; m->fields && m->fields[i].name; i++) {
            const strata_field *f = &m->fields[i];
            strata_column *c;
            if ((rc = strata_table_add_column(t, f->name, f->type, f->flags, &c)) != STRATA_OK)
                return rc;
            if (!ctype_fits(f->ctype, &c->type))
                return strata__md_error(md, STRATA_E_SCHEMA,
                                        "model %s, field %s: its C type cannot hold type %s",
                                        m->name, f->name, f->type);
            if (f->server_default &&
                (rc = strata_column_set_server_default(c, f->server_default)) != STRATA_OK)
                return rc;
            if (f->foreign_key) {
                const char *dot = strrchr(f->foreign_key, '.');
                if (!dot || dot == f->foreign_key || !dot[1])
                    return strata__md_error(md, STRATA_E_SCHEMA,
                                            "model %s, field %s: foreign key '%s' is not "
                                            "table.column",
                                            m->name, f->name, f->foreign_key);
                char *ref = strata__strndup(f->foreign_key, (size_t)(dot - f->foreign_key));
                if (!ref)
                    return STRATA_E_NOMEM;
                rc = strata_table_add_foreign_key(t, NULL, f->name, ref, dot + 1, f->on_delete,
                                                  STRATA_FK_NO_ACTION);
                free(ref);
                if (rc != STRATA_OK)
                    return rc;
            }
        }
        if ((rc = add_table_args(md, t, m)) != STRATA_OK)
            return rc;
    }
    return STRATA_OK;
}

int strata_metadata_add_models(strata_metadata *md, const strata_model *const *models)
{
    if (!md || !models)
        return STRATA_E_MISUSE;
    /* All the models or none: a table of a model refused half-way (a
     * default that does not fit) would be made without it. */
    int before = md->ntables;
    int rc = add_models(md, models);
    while (rc != STRATA_OK && md->ntables > before)
        strata__table_free(md->tables[--md->ntables]);
    return rc;
}

/* ---- resolved info ----------------------------------------------------- */

void strata__minfo_free(strata__minfo *mi)
{
    if (!mi)
        return;
    if (mi->shared) { /* the rest is the cache's */
        free(mi->slots);
        free(mi);
        return;
    }
    free(mi->table);
    free(mi->qtable);
    for (int i = 0; mi->qcols && i < mi->nfields; i++)
        free(mi->qcols[i]);
    free(mi->qcols);
    free(mi->maxlen);
    free(mi->prec);
    free(mi->scale);
    free(mi->kind);
    free(mi->relfk);
    free(mi->select);
    free(mi->select_by_key);
    free(mi->slots);
    free(mi);
}

static strata__minfo *minfo_build(strata_session *s, const strata_model *m)
{
    strata_db *db = s->db;
    if (m->version < 1 || m->version > STRATA_MODEL_VERSION || !m->name || !m->fields) {
        strata__db_error(db, STRATA_E_MISUSE,
                         "model %s is not a strata_model of version 1 to %d",
                         m->name ? m->name : "?", STRATA_MODEL_VERSION);
        return NULL;
    }
    /* The session keeps a bit per field (NULLs, changed fields): 64. */
    int nfields = count_fields(m);
    if (nfields > STRATA__MAX_FIELDS) {
        strata__db_error(db, STRATA_E_SCHEMA, "model %s has %d fields; a session takes at most %d",
                         m->name, nfields, STRATA__MAX_FIELDS);
        return NULL;
    }
    strata__minfo *mi = calloc(1, sizeof *mi);
    if (!mi)
        return NULL;
    mi->m = m;
    mi->nfields = nfields;
    mi->nrels = count_rels(m);
    mi->pk = -1;
    char buf[128];
    mi->table = strata__strdup(strata_model_table(m, buf, sizeof buf));
    mi->qcols = calloc((size_t)mi->nfields + 1, sizeof *mi->qcols);
    mi->maxlen = calloc((size_t)mi->nfields + 1, sizeof *mi->maxlen);
    mi->prec = calloc((size_t)mi->nfields + 1, sizeof *mi->prec);
    mi->scale = calloc((size_t)mi->nfields + 1, sizeof *mi->scale);
    mi->kind = calloc((size_t)mi->nfields + 1, sizeof *mi->kind);
    mi->relfk = calloc((size_t)mi->nrels + 1, sizeof *mi->relfk);
    strata__sb sb;
    strata__sb_init(&sb);
    const strata_driver *drv = strata_db_driver(db);
    if (mi->table)
        strata__sb_ident(&sb, drv, mi->table);
    mi->qtable = strata__sb_take(&sb);
    if (!mi->table || !mi->qcols || !mi->maxlen || !mi->prec || !mi->scale || !mi->kind ||
        !mi->relfk || !mi->qtable) {
        strata__minfo_free(mi);
        return NULL;
    }
    strata__sb_init(&sb);
    int nkey = 0;
    for (int i = 0; i < mi->nfields; i++) {
        const strata_field *f = &m->fields[i];
        strata__type t;
        if (strata__type_parse(&t, f->type) != STRATA_OK || !ctype_fits(f->ctype, &t)) {
            free(t.raw);
            strata__db_error(db, STRATA_E_SCHEMA,
                             "model %s, field %s: type '%s' is not a portable type its C type "
                             "can hold",
                             m->name, f->name, f->type ? f->type : "");
            strata__sb_free(&sb);
            strata__minfo_free(mi);
            return NULL;
        }
        if (m->size && !field_in_struct(m, f)) {
            free(t.raw);
            strata__db_error(db, STRATA_E_SCHEMA,
                             "model %s, field %s: offset %zu is outside the struct's members "
                             "(the struct must begin with `strata_object base;`, and its size "
                             "is %zu)",
                             m->name, f->name, f->offset, m->size);
            strata__sb_free(&sb);
            strata__minfo_free(mi);
            return NULL;
        }
        if (t.kind == STRATA_SQL_STRING)
            mi->maxlen[i] = t.length;
        mi->prec[i] = t.kind == STRATA_SQL_NUMERIC ? t.length : 0;
        mi->scale[i] = t.kind == STRATA_SQL_NUMERIC && t.length ? t.scale : -1;
        mi->kind[i] = t.kind;
        mi->ctypes[i] = (unsigned char)f->ctype;
        mi->offsets[i] = f->offset;
        if (strata__ctype_bytes(f->ctype))
            mi->byte_fields |= 1ull << i;
        free(t.raw);
        if ((f->flags & STRATA_PRIMARY_KEY) && nkey++ < STRATA__MAX_KEY)
            mi->pkf[mi->npk++] = i;
        strata__sb tmp;
        strata__sb_init(&tmp);
        strata__sb_ident(&tmp, drv, f->name);
        mi->qcols[i] = strata__sb_take(&tmp);
        strata__sb_printf(&sb, "%s%s.%s", i ? ", " : "", mi->qtable,
                          mi->qcols[i] ? mi->qcols[i] : "");
    }
    mi->select = strata__sb_take(&sb);
    for (int r = 0; r < mi->nrels; r++)
        mi->relfk[r] = m->relations[r].kind == STRATA_MANY_TO_ONE
                           ? strata__field_index(mi, m->relations[r].fk)
                           : -1;
    if (mi->npk == 1 && m->fields[mi->pkf[0]].ctype == STRATA_C_INT64) {
        mi->pk = mi->pkf[0];
        mi->autoinc = (m->fields[mi->pk].flags & STRATA_AUTOINCREMENT) != 0;
    }
    if ((mi->npk == 0 && m->size) || nkey > STRATA__MAX_KEY) {
        if (nkey > STRATA__MAX_KEY)
            strata__db_error(db, STRATA_E_SCHEMA,
                             "model %s: a primary key of %d fields; at most %d", m->name, nkey,
                             STRATA__MAX_KEY);
        else
            strata__db_error(db, STRATA_E_SCHEMA,
                             "model %s has no primary key field: a session tells its rows apart "
                             "by their key",
                             m->name);
        strata__minfo_free(mi);
        return NULL;
    }
    for (int i = 0; i < mi->nfields; i++)
        if (!mi->qcols[i])
            mi->select = (free(mi->select), NULL);
    if (!mi->select) {
        strata__minfo_free(mi);
        return NULL;
    }
    /* The statement strata_get runs, built once with the rest. */
    strata__sb_init(&sb);
    strata__sb_puts(&sb, "SELECT ");
    strata__sb_puts(&sb, mi->select ? mi->select : "");
    strata__sb_puts(&sb, " FROM ");
    strata__sb_puts(&sb, mi->qtable);
    strata__sb_puts(&sb, " WHERE ");
    strata__key_where(&sb, mi, true);
    if (!mi->select || !(mi->select_by_key = strata__sb_take(&sb))) {
        strata__minfo_free(mi);
        return NULL;
    }
    return mi;
}

/* Flush order: a model whose field refers to another model's table comes
 * after it.  Ranks are recomputed whenever a model joins the session. */
static void rank_models(strata_session *s)
{
    for (int i = 0; i < s->nmodels; i++)
        s->models[i]->rank = 0;
    for (int pass = 0; pass < s->nmodels; pass++) {
        bool changed = false;
        for (int i = 0; i < s->nmodels; i++) {
            strata__minfo *mi = s->models[i];
            for (int f = 0; f < mi->nfields; f++) {
                const char *fk = mi->m->fields[f].foreign_key;
                if (!fk)
                    continue;
                for (int j = 0; j < s->nmodels; j++) {
                    strata__minfo *mj = s->models[j];
                    size_t n = strlen(mj->table);
                    if (mj != mi && strncmp(fk, mj->table, n) == 0 && fk[n] == '.' &&
                        mi->rank <= mj->rank) {
                        mi->rank = mj->rank + 1;
                        changed = true;
                    }
                }
            }
        }
        if (!changed)
            break;
    }
}

/* ---- models resolved once per connection ------------------------------ */

/* A session resolves each model it meets (names quoted for the engine,
 * SQL pieces, keys): about 14,000 instructions a model, for every
 * session, which a service making a session per request pays on every
 * request.  The connection keeps what it resolved; a session takes a
 * copy of the struct whose names and SQL stay the connection's, with an
 * identity map of its own.  An entry holds when the descriptor still
 * has the shape it was resolved from (its names, types, flags, keys and
 * relationships, compared by a hash of them), so a descriptor changed or
 * made anew at the same address is resolved again. */
enum { MINFO_CACHE_MAX = 256 };

typedef struct minfo_entry {
    const strata_model *m;
    uint64_t shape;
    strata__minfo *mi;
} minfo_entry;

typedef struct minfo_cache {
    minfo_entry *e;
    int n, cap;
} minfo_cache;

static void minfo_cache_free(void *p)
{
    minfo_cache *c = p;
    for (int i = 0; c && i < c->n; i++)
        strata__minfo_free(c->e[i].mi);
    if (c)
        free(c->e);
    free(c);
}

static uint64_t shape_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3u; /* FNV-1a */
    return h;
}

static uint64_t shape_text(uint64_t h, const char *t)
{
    return t ? shape_bytes(h, t, strlen(t) + 1) : shape_bytes(h, "\xff", 1);
}

static uint64_t shape_word(uint64_t h, uint64_t w) { return shape_bytes(h, &w, sizeof w); }

/* What minfo_build reads of a descriptor (of a valid version). */
static uint64_t model_shape(const strata_model *m)
{
    uint64_t h = 0xcbf29ce484222325u;
    h = shape_word(h, (uint64_t)m->version);
    h = shape_text(shape_text(h, m->name), m->table);
    h = shape_word(h, (uint64_t)m->size);
    for (const strata_field *f = m->fields; f && f->name; f++) {
        h = shape_text(shape_text(h, f->name), f->type);
        h = shape_word(shape_word(h, (uint64_t)f->ctype), (uint64_t)f->flags);
        h = shape_word(h, (uint64_t)f->offset);
    }
    for (const strata_relation *r = m->relations; r && r->name; r++) {
        h = shape_text(shape_text(h, r->name), r->fk);
        h = shape_word(h, (uint64_t)r->kind);
        h = shape_word(shape_word(h, (uintptr_t)r->target), (uintptr_t)r->secondary);
    }
    return h;
}

/* Model m resolved for this session: a copy of the connection's entry,
 * made first when there is none. */
static strata__minfo *minfo_for_session(strata_session *s, const strata_model *m)
{
    if (m->version < 1 || m->version > STRATA_MODEL_VERSION)
        return minfo_build(s, m); /* which says what is wrong */
    strata_db *db = s->db;
    minfo_cache *c = db->orm_cache;
    uint64_t shape = model_shape(m);
    strata__minfo *tmpl = NULL;
    for (int i = 0; c && i < c->n && !tmpl; i++)
        if (c->e[i].m == m && c->e[i].shape == shape)
            tmpl = c->e[i].mi;
    if (!tmpl) {
        if (!c && (c = calloc(1, sizeof *c))) {
            db->orm_cache = c;
            db->orm_cache_free = minfo_cache_free;
        }
        if (!c || c->n == MINFO_CACHE_MAX)
            return minfo_build(s, m); /* the session's own */
        if (c->n == c->cap) {
            int cap = c->cap ? c->cap * 2 : 8;
            minfo_entry *e = realloc(c->e, (size_t)cap * sizeof *e);
            if (!e)
                return NULL;
            c->e = e;
            c->cap = cap;
        }
        if (!(tmpl = minfo_build(s, m)))
            return NULL;
        c->e[c->n++] = (minfo_entry){m, shape, tmpl};
    }
    strata__minfo *mi = malloc(sizeof *mi);
    if (!mi)
        return NULL;
    *mi = *tmpl;
    mi->shared = true;
    mi->slots = NULL;
    mi->tags = NULL;
    mi->nslots = mi->nused = mi->nlive = 0;
    mi->rank = 0;
    return mi;
}

strata__minfo *strata__minfo_get(strata_session *s, const strata_model *m)
{
    if (!m)
        return NULL;
    for (int i = 0; i < s->nmodels; i++)
        if (s->models[i]->m == m)
            return s->models[i];
    strata__minfo *mi = minfo_for_session(s, m);
    if (!mi)
        return NULL;
    mi->s = s;
    strata__minfo **n = realloc(s->models, (size_t)(s->nmodels + 1) * sizeof *n);
    if (!n) {
        strata__minfo_free(mi);
        return NULL;
    }
    s->models = n;
    s->models[s->nmodels++] = mi;
    rank_models(s);
    /* Models a relationship names are part of the flush order too. */
    for (int r = 0; r < mi->nrels; r++) {
        const strata_relation *rel = &m->relations[r];
        if (rel->target && !strata__minfo_get(s, rel->target))
            return NULL;
        if (rel->secondary && !strata__minfo_get(s, rel->secondary))
            return NULL;
    }
    return mi;
}

int strata__field_index(const strata__minfo *mi, const char *name)
{
    for (int i = 0; name && i < mi->nfields; i++)
        if (strcmp(mi->m->fields[i].name, name) == 0)
            return i;
    return -1;
}

const strata_relation *strata__relation(const strata__minfo *mi, const char *name, int *index)
{
    for (int i = 0; name && i < mi->nrels; i++) {
        if (strcmp(mi->m->relations[i].name, name) == 0) {
            if (index)
                *index = i;
            return &mi->m->relations[i];
        }
    }
    return NULL;
}

/* ---- strings in objects ------------------------------------------------ */

/* Every string strata puts in an object's field has a head before it: a
 * 32-bit check value of its bytes (set when a snapshot shares them) and
 * a tag byte saying who holds it.
 *  - TEXT_HEAP: allocated on its own, held by the field alone.
 *  - TEXT_HEAP_TWO: held by the field and by one snapshot, which shares
 *    the bytes instead of copying them (strata__snapshot).
 *  - TEXT_HEAP_SNAP: held by that snapshot alone: the field has moved
 *    on.  Whichever of the two lets go last frees it.
 *  - TEXT_ARENA: in the session's arena, shared with the object's first
 *    snapshot and freed with the session.  Texts of at most SHARED_TEXT
 *    bytes loaded into a session's object are made so. */
enum {
    TEXT_HEAP = 0xa5,
    TEXT_HEAP_TWO = 0xa6,
    TEXT_HEAP_SNAP = 0xa7,
    TEXT_ARENA = 0x5a,
    SHARED_TEXT = 1024
};
enum { SHARED_HEAD = 4 + 1 }; /* the check value and the tag */

char *strata__text_alloc(size_t len)
{
    char *block = malloc(SHARED_HEAD + len + 1);
    if (!block)
        return NULL;
    block[4] = (char)TEXT_HEAP;
    block[SHARED_HEAD + len] = '\0';
    return block + SHARED_HEAD;
}

void strata__text_free(char *text)
{
    if (!text)
        return;
    /* Anything else is a string the program put there itself, against
     * the rule that strings are set with strata_set_text; a field never
     * holds a text only a snapshot holds (strata__set_field keeps the
     * field's own when it is the snapshot's). */
    assert(text[-1] == (char)TEXT_HEAP || text[-1] == (char)TEXT_HEAP_TWO ||
           text[-1] == (char)TEXT_ARENA);
    if (text[-1] == (char)TEXT_HEAP)
        free(text - SHARED_HEAD);
    else if (text[-1] == (char)TEXT_HEAP_TWO)
        text[-1] = (char)TEXT_HEAP_SNAP; /* the snapshot's now */
}

/* The snapshot holding heap text t lets go of it. */
static void snapshot_text_drop(char *t)
{
    assert(t[-1] == (char)TEXT_HEAP_TWO || t[-1] == (char)TEXT_HEAP_SNAP);
    if (t[-1] == (char)TEXT_HEAP_SNAP)
        free(t - SHARED_HEAD);
    else
        t[-1] = (char)TEXT_HEAP; /* the field's alone again */
}

/* A shared text's check value, kept before its tag (shared_text_put):
 * bytes changed in place, behind the snapshot's back, show as another. */
static uint64_t text_hash(const char *p, size_t len)
{
    /* A multiply and a shift per word, so that no pattern of changes
     * cancels out (an XOR of rotated words would let equal changes 512
     * bytes apart do so), in two lanes of alternate words that the
     * processor runs side by side.  The last word overlaps the one before
     * it, so the tail is one load.  32 bits of it are kept (4 bytes a
     * text): a change in place escapes about one time in four billion. */
    const uint64_t k = 0xff51afd7ed558ccdu;
    uint64_t a = 0x9e3779b97f4a7c15u ^ len, b = 0x6a09e667f3bcc909u, w;
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        uint64_t w2;
        memcpy(&w, p + i, 8);
        memcpy(&w2, p + i + 8, 8);
        a = (a ^ w) * k;
        b = (b ^ w2) * k;
        a ^= a >> 29;
        b ^= b >> 29;
    }
    if (i + 8 <= len) {
        memcpy(&w, p + i, 8);
        a = (a ^ w) * k;
        a ^= a >> 29;
        i += 8;
    }
    w = 0;
    if (len >= 8) {
        if (i < len)
            memcpy(&w, p + len - 8, 8);
    } else if (len >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + len - 4, 4);
        w = lo | (uint64_t)hi << 32;
    } else if (len) {
        w = (unsigned char)p[0] | (unsigned)(unsigned char)p[len / 2] << 8 |
            (unsigned)(unsigned char)p[len - 1] << 16;
    }
    a = (a ^ w) * 0xc4ceb9fe1a85ec53u;
    a ^= b * 0x9fb21c651e98df25u;
    return a ^ (a >> 32);
}

/* A shared text in the arena: its check value (32 bits), the tag, the
 * bytes and a NUL.  shared_text_put writes one at `at` and returns where
 * its bytes begin. */

static char *shared_text_put(char *at, const char *bytes, size_t len)
{
    uint32_t h = (uint32_t)text_hash(bytes, len);
    memcpy(at, &h, 4);
    at[4] = (char)TEXT_ARENA;
    char *t = at + SHARED_HEAD;
    if (len)
        memcpy(t, bytes, len);
    t[len] = '\0';
    return t;
}

/* Text t, the bytes snapshot cell c shares, still as they were loaded. */
static bool shared_intact(const char *t, const strata__cell *c)
{
    uint32_t h;
    memcpy(&h, t - SHARED_HEAD, 4);
    return strnlen(t, (size_t)c->len + 1) == c->len && (uint32_t)text_hash(t, c->len) == h;
}

bool strata__text_intact(strata_object *o, int f)
{
    const char *t = *(char **)strata__field_ptr(o, f);
    const strata__cell *snaps[] = {o->priv->loaded ? &o->priv->loaded[f] : NULL,
                                   o->priv->committed ? &o->priv->committed[f] : NULL};
    for (int k = 0; k < 2; k++)
        if (snaps[k] && t && snaps[k]->p == t)
            return shared_intact(t, snaps[k]);
    return true;
}

/* ---- field access ------------------------------------------------------ */

strata_object *strata__as_object(void *obj)
{
    strata_object *o = obj;
    return o && o->priv && o->priv->mi->s ? o : NULL;
}

strata_db *strata__object_db(void *obj)
{
    strata_object *o = strata__as_object(obj);
    return o ? o->priv->mi->s->db : NULL;
}

void *strata__field_ptr(strata_object *o, int f) { return (char *)o + o->model->fields[f].offset; }

/* Whether non-pointer field p of C type ct holds zero (false, 0.0). */
static bool scalar_zero(const void *p, strata_ctype ct)
{
    switch (ct) {
    case STRATA_C_BOOL: return !*(const bool *)p;
    case STRATA_C_DOUBLE: return *(const double *)p == 0;
    default: return *(const int64_t *)p == 0;
    }
}

/* A non-pointer field is NULL while its bit says so and it holds zero: a
 * value the program assigns to a field read as NULL (`b->pages = 321`)
 * is that value, not lost under the bit. */
bool strata__field_is_null(strata_object *o, int f)
{
    void *p = strata__field_ptr(o, f);
    strata_ctype ct = o->model->fields[f].ctype;
    switch (ct) {
    case STRATA_C_TEXT: return *(char **)p == NULL;
    case STRATA_C_BLOB: return ((strata_blob *)p)->data == NULL;
    default: return f < 64 && (o->priv->nulls & (1ull << f)) && scalar_zero(p, ct);
    }
}

int64_t strata__pk(strata_object *o)
{
    int pk = o->priv->mi->pk;
    return pk < 0 ? 0 : *(int64_t *)strata__field_ptr(o, pk);
}

int64_t strata__row_pk(strata_object *o)
{
    int pk = o->priv->mi->pk;
    const strata__cell *loaded = o->priv->loaded;
    return pk >= 0 && loaded && !loaded[pk].null ? loaded[pk].i : strata__pk(o);
}

void strata__field_cell(strata_object *o, int f, strata__cell *c)
{
    void *p = strata__field_ptr(o, f);
    memset(c, 0, sizeof *c);
    if ((c->null = strata__field_is_null(o, f)))
        return;
    switch (o->model->fields[f].ctype) {
    case STRATA_C_INT64: c->i = *(int64_t *)p; break;
    case STRATA_C_BOOL: c->i = *(bool *)p; break;
    case STRATA_C_DOUBLE: c->d = *(double *)p; break;
    case STRATA_C_TIMESTAMP: c->i = *(strata_timestamp *)p; break;
    case STRATA_C_TEXT:
        c->p = *(char **)p;
        c->len = (uint32_t)strlen(c->p); /* validated: at most STRATA__MAX_BYTES */
        break;
    case STRATA_C_BLOB:
        c->p = (char *)((strata_blob *)p)->data;
        c->len = (uint32_t)((strata_blob *)p)->len;
        break;
    }
}

strata_timestamp strata__date_floor(strata_timestamp t)
{
    const int64_t day = INT64_C(86400000000);
    if (t < INT64_MIN + day)
        return t; /* beyond any date: refused where it is bound */
    int64_t r = t % day;
    return t - (r < 0 ? r + day : r);
}

/* A date's value as the text `YYYY-MM-DD` of its UTC day: what SQLite's
 * DATE column holds, and what PostgreSQL reads a date from. */
static __attribute__((noinline)) int bind_date(strata_stmt *st, int idx, strata_timestamp t)
{
    char text[40];
    int rc = strata_timestamp_format(strata__date_floor(t), text, sizeof text);
    if (rc != STRATA_OK)
        return strata_stmt_bind_timestamp(st, idx, t); /* refused there, as any time */
    text[10] = '\0';
    return strata_stmt_bind_text(st, idx, text, 10);
}

int strata__bind_cell(strata_stmt *st, int idx, const strata__minfo *mi, int f,
                      const strata__cell *c)
{
    if (c->null)
        return strata_stmt_bind_null(st, idx);
    switch ((strata_ctype)mi->ctypes[f]) {
    case STRATA_C_INT64: return strata_stmt_bind_int64(st, idx, c->i);
    case STRATA_C_BOOL: return strata_stmt_bind_bool(st, idx, (int)c->i);
    case STRATA_C_DOUBLE: return strata_stmt_bind_double(st, idx, c->d);
    case STRATA_C_TIMESTAMP:
        return mi->kind[f] == STRATA_SQL_DATE ? bind_date(st, idx, c->i)
                                              : strata_stmt_bind_timestamp(st, idx, c->i);
    /* The cell's bytes are an object's or a snapshot's, which outlive
     * the statement's execution: bound in place, not copied. */
    case STRATA_C_TEXT: return strata__stmt_bind_text_ref(st, idx, c->p, c->len);
    case STRATA_C_BLOB: return strata__stmt_bind_blob_ref(st, idx, c->p, c->len);
    }
    return STRATA_E_MISUSE;
}

int strata__bind_field(strata_stmt *st, int idx, strata_object *o, int f)
{
    strata__cell c;
    strata__field_cell(o, f, &c);
    int rc = strata__bind_cell(st, idx, o->priv->mi, f, &c);
    if (rc == STRATA_E_DATA) /* text that is not UTF-8: named by its field */
        strata__db_error_context(o->priv->mi->s->db, "%s.%s", o->model->name,
                                 o->model->fields[f].name);
    return rc;
}

/* A NULL non-pointer field holds zero (strata__field_is_null). */
static void set_null_bit(strata_object *o, int f, bool null)
{
    if (f >= 64)
        return;
    if (!null) {
        o->priv->nulls &= ~(1ull << f);
        return;
    }
    o->priv->nulls |= 1ull << f;
    void *p = strata__field_ptr(o, f);
    switch (o->model->fields[f].ctype) {
    case STRATA_C_BOOL: *(bool *)p = false; break;
    case STRATA_C_DOUBLE: *(double *)p = 0; break;
    case STRATA_C_INT64:
    case STRATA_C_TIMESTAMP: *(int64_t *)p = 0; break;
    default: break; /* a pointer is NULL itself */
    }
}

int strata__read_field(strata_stmt *st, int col, strata_object *o, int f)
{
    void *p = strata__field_ptr(o, f);
    int rc = STRATA_OK;
    switch (o->model->fields[f].ctype) {
    case STRATA_C_INT64: rc = strata_stmt_column_int64(st, col, (int64_t *)p); break;
    case STRATA_C_BOOL: {
        int b = 0;
        rc = strata_stmt_column_bool(st, col, &b);
        *(bool *)p = b != 0;
        break;
    }
    case STRATA_C_DOUBLE: rc = strata_stmt_column_double(st, col, (double *)p); break;
    case STRATA_C_TIMESTAMP:
        rc = strata_stmt_column_timestamp(st, col, (strata_timestamp *)p);
        break;
    case STRATA_C_TEXT: {
        const char *t = NULL;
        size_t len = 0;
        rc = strata_stmt_column_text(st, col, &t, &len);
        strata__text_free(*(char **)p);
        *(char **)p = NULL;
        if (rc == STRATA_OK) {
            if (!(*(char **)p = strata__text_alloc(len)))
                return STRATA_E_NOMEM;
            memcpy(*(char **)p, t, len + 1);
        }
        break;
    }
    case STRATA_C_BLOB: {
        const void *d = NULL;
        size_t len = 0;
        strata_blob *b = p;
        rc = strata_stmt_column_blob(st, col, &d, &len);
        free(b->data);
        b->data = NULL;
        b->len = 0;
        if (rc == STRATA_OK) {
            if (!(b->data = malloc(len ? len : 1)))
                return STRATA_E_NOMEM;
            memcpy(b->data, d, len);
            b->len = len;
        }
        break;
    }
    }
    if (rc == STRATA_NULL) {
        set_null_bit(o, f, true);
        return STRATA_OK;
    }
    set_null_bit(o, f, false);
    return rc;
}

/* ---- snapshots --------------------------------------------------------- */

/* A snapshot is one block: a reference count, the cells, then the bytes
 * of every text and blob value it copied.  Snapshots never change once
 * made, so the loaded and committed values of an object can share one. */
typedef struct snap_head {
    uint32_t refs; /* shares: the object's loaded, committed and undo, and savepoints' */
    uint8_t ncells;
    bool arena; /* in the session's arena: its memory goes with the session */
    bool held;  /* some cell holds a field's heap text (strata__cell.held) */
} snap_head;
_Static_assert(sizeof(snap_head) % _Alignof(strata__cell) == 0, "cells follow the head");
_Static_assert(STRATA__MAX_FIELDS <= UINT8_MAX, "a snapshot counts its cells in a byte");

void strata__snapshot_release(strata__cell *cells)
{
    if (!cells)
        return;
    snap_head *h = (snap_head *)cells - 1;
    assert(h->refs > 0); /* released once more than shared: a bug */
    if (--h->refs > 0)
        return;
    for (int f = 0; h->held && f < h->ncells; f++)
        if (cells[f].held)
            snapshot_text_drop(cells[f].p);
    if (!h->arena)
        free(h);
}

void strata__snapshot_drop(strata__cell *cells)
{
    if (cells && !(((snap_head *)cells - 1)->arena && !((snap_head *)cells - 1)->held))
        strata__snapshot_release(cells);
}

strata__cell *strata__snapshot_share(strata__cell *cells)
{
    if (cells)
        ((snap_head *)cells - 1)->refs++;
    return cells;
}

/* Whether a snapshot may hold text t of a field instead of a copy: a heap
 * text no other snapshot holds. */
static bool text_holdable(const char *t) { return t[-1] == (char)TEXT_HEAP; }

strata__cell *strata__snapshot(strata_object *o, bool at_insert)
{
    strata__minfo *mi = o->priv->mi;
    size_t ncells = (size_t)mi->nfields, bytes = 0;
    assert(ncells <= STRATA__MAX_FIELDS); /* the session refuses bigger models */
    /* A NULL bit under a value the program assigned (strata__field_is_null)
     * is that value now: cleared, so that a zero assigned later is a zero,
     * not NULL again. */
    for (uint64_t m = o->priv->nulls; m; m &= m - 1) {
        int f = __builtin_ctzll(m);
        strata_ctype ct = mi->ctypes[f];
        if (ct != STRATA_C_TEXT && ct != STRATA_C_BLOB && !scalar_zero(strata__field_ptr(o, f), ct))
            o->priv->nulls &= ~(1ull << f);
    }
    /* Each field read once (a text's length is a strlen), into the cells
     * here when they are few, else again below. */
    strata__cell stack[16], cell;
    bool kept = ncells <= 16;
    for (int f = 0; f < mi->nfields; f++) {
        strata__cell *at = kept ? &stack[f] : &cell;
        strata__field_cell(o, f, at);
        strata_ctype ct = o->model->fields[f].ctype;
        if (strata__ctype_bytes(ct) && !at->null && !(ct == STRATA_C_TEXT && text_holdable(at->p)))
            bytes += at->len + 1;
    }
    size_t size = sizeof(snap_head) + ncells * sizeof(strata__cell) + bytes;
    bool arena = at_insert && o->priv->in_arena && strata__arena_for_snapshots(size);
    snap_head *h = arena ? strata__arena_alloc_small(o->priv->mi->s, size) : malloc(size);
    if (!h)
        return NULL;
    h->refs = 1;
    h->ncells = (uint8_t)ncells;
    h->arena = arena;
    h->held = false;
    strata__cell *c = (strata__cell *)(h + 1);
    char *w = (char *)(c + ncells);
    for (int f = 0; f < mi->nfields; f++) {
        if (kept)
            c[f] = stack[f];
        else
            strata__field_cell(o, f, &c[f]);
        strata_ctype ct = o->model->fields[f].ctype;
        if (!strata__ctype_bytes(ct) || c[f].null)
            continue;
        if (ct == STRATA_C_TEXT && text_holdable(c[f].p)) {
            /* Held, with a check value of its bytes: a change in place
             * shows (shared_intact). */
            uint32_t check = (uint32_t)text_hash(c[f].p, c[f].len);
            memcpy(c[f].p - SHARED_HEAD, &check, 4);
            c[f].p[-1] = (char)TEXT_HEAP_TWO;
            c[f].held = h->held = true;
            continue;
        }
        /* Own a copy of the bytes (NUL-terminated either way). */
        memcpy(w, c[f].p, c[f].len);
        w[c[f].len] = '\0';
        c[f].p = w;
        w += c[f].len + 1;
    }
    return c;
}

/* Column col's cell, as the driver made it, into the session's form for
 * a field of C type ct.  A cell the driver left to the core (a
 * conversion, or a type error to report) is read again through
 * read_cell, which copies its bytes: *owned, the caller frees c->p. */
int strata__take_cell(strata_stmt *st, int col, strata_ctype ct, const strata_cell *in,
                      strata__cell *c, bool *owned)
{
    *owned = false;
    memset(c, 0, sizeof *c);
    switch (in->state) {
    case STRATA_CELL_NULL: c->null = true; return STRATA_OK;
    case STRATA_CELL_VALUE:
        if (ct == STRATA_C_DOUBLE) {
            c->d = in->u.d;
        } else if (strata__ctype_bytes(ct)) {
            c->p = (char *)in->u.p;
            c->len = (uint32_t)in->len; /* the engines hold less than 2 GB */
        } else {
            c->i = in->u.i;
        }
        return STRATA_OK;
    }
    *owned = strata__ctype_bytes(ct); /* read_cell copied the bytes */
    return strata__read_cell(st, col, ct, c);
}

int strata__column_cell(strata_stmt *st, int col, strata_ctype ct, strata__cell *c, bool *owned)
{
    unsigned char want = (unsigned char)ct;
    strata_cell in;
    *owned = false;
    int rc = strata__stmt_cells(st, col, 1, &want, &in);
    return rc == STRATA_OK ? strata__take_cell(st, col, ct, &in, c, owned) : rc;
}

/* A field read_fields leaves to the general path: NULL, a conversion,
 * a type error, a blob.  Apart, so that the common loop stays small. */
static __attribute__((noinline)) int read_other(strata_stmt *st, strata_object *o, int f,
                                                const strata_cell *in)
{
    strata__cell c;
    bool owned;
    int rc = strata__take_cell(st, f, o->model->fields[f].ctype, in, &c, &owned);
    if (rc == STRATA_OK)
        rc = strata__set_field(o, f, &c);
    if (owned)
        free(c.p);
    return rc;
}

int strata__read_fields(strata_stmt *st, strata_object *o, int *bad_field)
{
    const strata__minfo *mi = o->priv->mi;
    int n = mi->nfields; /* at most STRATA__MAX_FIELDS: the session refuses more */
    strata_cell cells[STRATA__MAX_FIELDS];
    *bad_field = -1;
    int rc = strata__stmt_cells(st, 0, n, mi->ctypes, cells);
    if (rc != STRATA_OK)
        return rc;
    uint64_t set = 0; /* fields given a value below: not NULL */
    for (int f = 0; f < n; f++) {
        const strata_cell *in = &cells[f];
        char *p = (char *)o + mi->offsets[f];
        /* The common cases here, the others in read_other. */
        if (in->state == STRATA_CELL_VALUE) {
            switch (mi->ctypes[f]) {
            case STRATA_C_INT64:
            case STRATA_C_TIMESTAMP:
                *(int64_t *)p = in->u.i;
                set |= 1ull << f;
                continue;
            case STRATA_C_TEXT: {
                char *copy = strata__text_alloc(in->len);
                if (!copy) {
                    rc = STRATA_E_NOMEM;
                    *bad_field = f;
                    goto out;
                }
                memcpy(copy, in->u.p, in->len);
                strata__text_free(*(char **)p);
                *(char **)p = copy;
                set |= 1ull << f;
                continue;
            }
            }
        }
        if ((rc = read_other(st, o, f, in)) != STRATA_OK) {
            *bad_field = f;
            break;
        }
    }
out:
    o->priv->nulls &= ~set;
    return rc;
}

/* Field f's cell, as load_fields leaves it to take_cell: a conversion,
 * a type error, a double, a boolean, a blob.  A scalar goes to its field
 * here.  *own: the cell holds a copy of its own, to free.  Apart, so that
 * the common loop stays small. */
static __attribute__((noinline)) int load_other(strata_stmt *st, int col, strata_object *o, int f,
                                                const strata_cell *v, strata__cell *c, bool *own)
{
    strata_ctype ct = o->priv->mi->ctypes[f];
    int rc = strata__take_cell(st, col, ct, v, c, own);
    if (rc != STRATA_OK || c->null || strata__ctype_bytes(ct))
        return rc;
    void *field = (char *)o + o->priv->mi->offsets[f];
    switch (ct) {
    case STRATA_C_BOOL: *(bool *)field = c->i != 0; break;
    case STRATA_C_DOUBLE: *(double *)field = c->d; break;
    default: *(int64_t *)field = c->i; break; /* an integer or a timestamp */
    }
    return STRATA_OK;
}

/* A text or blob's len bytes into the snapshot at w, NUL-terminated, and
 * a copy of the field's own (a text's in strata__text_alloc's form): the
 * copy, or NULL without memory. */
static __attribute__((noinline)) char *own_copy(char *w, const char *bytes, size_t len,
                                                strata_ctype ct)
{
    if (len)
        memcpy(w, bytes, len);
    w[len] = '\0';
    char *copy = ct == STRATA_C_TEXT ? strata__text_alloc(len) : malloc(len + 1);
    if (copy)
        memcpy(copy, w, len + 1);
    return copy;
}

int strata__load_fields(strata_stmt *st, int col0, const strata_cell *key, strata_object *o,
                        int *bad_field)
{
    struct strata__object *p = o->priv;
    const strata__minfo *mi = p->mi;
    const unsigned char *ctypes = mi->ctypes;
    int n = mi->nfields; /* at most STRATA__MAX_FIELDS: the session refuses more */
    strata__cell cells[STRATA__MAX_FIELDS];
    strata_cell in[STRATA__MAX_FIELDS];
    uint64_t owned = 0; /* bit f: cells[f] holds a copy of its own (take_cell's) */
    uint64_t share = 0; /* bit f: field f's text is shared */
    uint64_t nulls = 0; /* bit f: field f is NULL */
    size_t bytes = 0, shared = 0;
    bool arena_obj = p->in_arena;
    assert(!p->loaded); /* a new object: its fields are zero */
    *bad_field = -1;
    /* The row's cells in one call to the driver, whose bytes stay valid
     * until the next step.  Scalars go to their fields at once; then one
     * block for the snapshot, and the texts and blobs.  A session's object
     * shares each short text with its snapshot: one copy, in the arena,
     * that the object's field points at until the program sets another
     * (strata_set_text leaves arena bytes be).  Longer texts and blobs get
     * a copy of their own, so that setting them gives the memory back. */
    int rc = STRATA_OK, k = mi->pk;
    if (!key || k < 0) {
        rc = strata__stmt_cells(st, col0, n, ctypes, in);
    } else { /* the columns around the key's */
        in[k] = *key;
        if (k > 0)
            rc = strata__stmt_cells(st, col0, k, ctypes, in);
        if (rc == STRATA_OK && k + 1 < n)
            rc = strata__stmt_cells(st, col0 + k + 1, n - k - 1, ctypes + k + 1, in + k + 1);
    }
    for (int f = 0; f < n && rc == STRATA_OK; f++) {
        strata_ctype ct = ctypes[f];
        strata__cell *c = &cells[f];
        const strata_cell *v = &in[f];
        /* The common cases here, the others in load_other. */
        if (v->state == STRATA_CELL_NULL) {
            *c = (strata__cell){.null = true};
            nulls |= 1ull << f;
            continue;
        }
        if (v->state == STRATA_CELL_VALUE && (ct == STRATA_C_INT64 || ct == STRATA_C_TIMESTAMP)) {
            *c = (strata__cell){.i = v->u.i};
            *(int64_t *)((char *)o + mi->offsets[f]) = v->u.i;
            continue;
        }
        if (v->state == STRATA_CELL_VALUE && ct == STRATA_C_TEXT) {
            /* the engines hold less than 2 GB */
            *c = (strata__cell){.p = (char *)v->u.p, .len = (uint32_t)v->len};
        } else {
            bool own;
            rc = load_other(st, col0 + f, o, f, v, c, &own);
            owned |= (uint64_t)own << f;
            nulls |= (uint64_t)(rc == STRATA_OK && c->null) << f;
            if (rc != STRATA_OK)
                *bad_field = f;
            if (rc != STRATA_OK || c->null || !strata__ctype_bytes(ct))
                continue;
        }
        if (arena_obj && ct == STRATA_C_TEXT && c->len <= SHARED_TEXT &&
            !memchr(c->p, '\0', c->len)) {
            /* A text holding a NUL reads shorter through the struct: it
             * keeps a copy of its own, compared as before. */
            share |= 1ull << f;
            shared += SHARED_HEAD + c->len + 1; /* check value and tag, the NUL */
        } else {
            bytes += c->len + 1;
        }
    }
    /* The snapshot goes in the arena with the object when it is small;
     * the shared texts go there always, inside it or beside it. */
    size_t size = sizeof(snap_head) + (size_t)n * sizeof(strata__cell) + bytes;
    bool arena = arena_obj && strata__arena_for_snapshots(size + shared);
    if (arena)
        size += shared;
    snap_head *h = rc != STRATA_OK ? NULL
                   : arena         ? strata__arena_alloc_small(p->mi->s, size)
                                   : malloc(size);
    char *texts = h && shared && !arena ? strata__arena_alloc_small(p->mi->s, shared) : NULL;
    if (rc == STRATA_OK && (!h || (shared && !arena && !texts)))
        rc = STRATA_E_NOMEM;
    strata__cell *snap = NULL;
    if (rc == STRATA_OK) {
        h->refs = 1;
        h->ncells = (uint8_t)n;
        h->arena = arena;
        h->held = false;
        snap = (strata__cell *)(h + 1);
        memcpy(snap, cells, (size_t)n * sizeof *snap); /* none held */
        char *w = (char *)(snap + n);
        char *t = arena ? w + bytes : texts;
        for (uint64_t m = mi->byte_fields & ~nulls; m; m &= m - 1) {
            int f = __builtin_ctzll(m);
            strata__cell *c = &snap[f];
            size_t len = c->len;
            char *copy;
            if (share >> f & 1) {
                c->p = copy = shared_text_put(t, cells[f].p, len); /* the field shares it */
                t = copy + len + 1;
            } else {
                copy = own_copy(w, cells[f].p, len, ctypes[f]);
                c->p = w;
                w += len + 1;
                if (!copy) {
                    rc = STRATA_E_NOMEM;
                    break;
                }
            }
            void *field = (char *)o + mi->offsets[f];
            if (ctypes[f] == STRATA_C_TEXT) {
                *(char **)field = copy;
            } else {
                ((strata_blob *)field)->data = copy;
                ((strata_blob *)field)->len = len;
            }
        }
        p->nulls = nulls;
    }
    for (uint64_t m = owned; m; m &= m - 1)
        free(cells[__builtin_ctzll(m)].p);
    if (rc != STRATA_OK) {
        if (!arena)
            free(h);
        return rc;
    }
    p->loaded = snap;
    return STRATA_OK;
}

bool strata__field_changed(strata_object *o, int f, const strata__cell *cell)
{
    bool null = strata__field_is_null(o, f);
    if (null || cell->null)
        return null != cell->null;
    void *p = strata__field_ptr(o, f);
    switch (o->model->fields[f].ctype) {
    case STRATA_C_INT64: return *(int64_t *)p != cell->i;
    case STRATA_C_BOOL: return (int64_t) * (bool *)p != cell->i;
    case STRATA_C_DOUBLE: return *(double *)p != cell->d;
    case STRATA_C_TIMESTAMP: return *(strata_timestamp *)p != cell->i;
    case STRATA_C_TEXT: {
        const char *t = *(char **)p;
        /* The same bytes: shared, and changed only if changed in place. */
        return t == cell->p ? !shared_intact(t, cell) : strcmp(t, cell->p) != 0;
    }
    case STRATA_C_BLOB:
        return ((strata_blob *)p)->len != cell->len ||
               memcmp(((strata_blob *)p)->data, cell->p, cell->len) != 0;
    }
    return true;
}

/* strata__field_changed over every field of a loaded object against
 * `loaded`, in one loop: every autoflush asks it of every object the
 * session holds.  Integers and timestamps are compared here; the other
 * types go the one way. */
bool strata__object_changed(strata_object *o)
{
    const struct strata__object *p = o->priv;
    const strata__minfo *mi = p->mi;
    const strata__cell *snap = p->loaded;
    for (int f = 0; f < mi->nfields; f++) {
        const strata__cell *c = &snap[f];
        if (mi->ctypes[f] == STRATA_C_INT64 || mi->ctypes[f] == STRATA_C_TIMESTAMP) {
            int64_t v = *(const int64_t *)((const char *)o + mi->offsets[f]);
            bool null = f < 64 && (p->nulls >> f & 1) && v == 0; /* strata__field_is_null */
            if (null != c->null || (!null && v != c->i))
                return true;
        } else if (strata__field_changed(o, f, c)) {
            return true;
        }
    }
    return false;
}

static void field_clear(strata_object *o, int f)
{
    void *p = strata__field_ptr(o, f);
    if (o->model->fields[f].ctype == STRATA_C_TEXT) {
        strata__text_free(*(char **)p);
        *(char **)p = NULL;
    } else if (o->model->fields[f].ctype == STRATA_C_BLOB) {
        free(((strata_blob *)p)->data);
        ((strata_blob *)p)->data = NULL;
        ((strata_blob *)p)->len = 0;
    }
}

void strata__fields_clear(strata_object *o)
{
    /* An object of a session's model: its text and blob fields by its
     * mask, not a walk over every field. */
    if (o->priv) {
        for (uint64_t m = o->priv->mi->byte_fields; m; m &= m - 1)
            field_clear(o, __builtin_ctzll(m));
        return;
    }
    for (int f = 0; o->model->fields[f].name; f++)
        field_clear(o, f);
}

int strata__set_field(strata_object *o, int f, const strata__cell *c)
{
    void *p = strata__field_ptr(o, f);
    set_null_bit(o, f, c->null);
    switch (o->model->fields[f].ctype) {
    case STRATA_C_INT64: *(int64_t *)p = c->null ? 0 : c->i; break;
    case STRATA_C_BOOL: *(bool *)p = !c->null && c->i; break;
    case STRATA_C_DOUBLE: *(double *)p = c->null ? 0 : c->d; break;
    case STRATA_C_TIMESTAMP: *(strata_timestamp *)p = c->null ? 0 : c->i; break;
    case STRATA_C_TEXT:
        if (!c->null && *(char **)p == c->p)
            return STRATA_OK; /* shared with the snapshot already */
        return strata_set_text((char **)p, c->null ? NULL : c->p);
    case STRATA_C_BLOB:
        if (c->null) {
            free(((strata_blob *)p)->data);
            ((strata_blob *)p)->data = NULL;
            ((strata_blob *)p)->len = 0;
            return STRATA_OK;
        }
        return strata_set_blob(p, c->p, c->len);
    }
    return STRATA_OK;
}

int strata__read_cell(strata_stmt *st, int col, strata_ctype ct, strata__cell *c)
{
    memset(c, 0, sizeof *c);
    int rc = STRATA_OK;
    switch (ct) {
    case STRATA_C_INT64:
    case STRATA_C_TIMESTAMP:
        rc = ct == STRATA_C_INT64 ? strata_stmt_column_int64(st, col, &c->i)
                                  : strata_stmt_column_timestamp(st, col, &c->i);
        break;
    case STRATA_C_BOOL: {
        int b = 0;
        rc = strata_stmt_column_bool(st, col, &b);
        c->i = b != 0;
        break;
    }
    case STRATA_C_DOUBLE: rc = strata_stmt_column_double(st, col, &c->d); break;
    case STRATA_C_TEXT:
    case STRATA_C_BLOB: {
        const void *d = NULL;
        size_t len = 0;
        if (ct == STRATA_C_TEXT)
            rc = strata_stmt_column_text(st, col, (const char **)&d, &len);
        else
            rc = strata_stmt_column_blob(st, col, &d, &len);
        if (rc == STRATA_OK) {
            if (!(c->p = malloc(len + 1)))
                return STRATA_E_NOMEM;
            memcpy(c->p, d, len);
            c->p[len] = '\0';
            c->len = (uint32_t)len;
        }
        break;
    }
    }
    if (rc == STRATA_NULL) {
        c->null = true;
        return STRATA_OK;
    }
    return rc;
}

/* All of the values or none: the copies of texts and blobs are made
 * before any field changes. */
int strata__restore(strata_object *o, const strata__cell *cells)
{
    const strata_model *m = o->model;
    int n = o->priv->mi->nfields;
    void **copies = calloc((size_t)n + 1, sizeof *copies);
    bool ok = copies != NULL;
    for (int f = 0; ok && f < n; f++) {
        strata_ctype ct = m->fields[f].ctype;
        if (ct == STRATA_C_TEXT && !cells[f].null &&
            *(char **)strata__field_ptr(o, f) == cells[f].p) {
            copies[f] = cells[f].p; /* shared with the snapshot: kept */
        } else if ((ct == STRATA_C_TEXT || ct == STRATA_C_BLOB) && !cells[f].null) {
            copies[f] = ct == STRATA_C_TEXT ? strata__text_alloc(cells[f].len)
                                            : malloc(cells[f].len + 1);
            if (!copies[f])
                ok = false;
            else
                memcpy(copies[f], cells[f].p, cells[f].len + 1); /* NUL-terminated */
        }
    }
    if (!ok) {
        for (int f = 0; copies && f < n; f++) {
            if (m->fields[f].ctype == STRATA_C_TEXT && copies[f] != cells[f].p)
                strata__text_free(copies[f]);
            else if (m->fields[f].ctype == STRATA_C_BLOB)
                free(copies[f]);
        }
        free(copies);
        return STRATA_E_NOMEM;
    }
    for (int f = 0; f < n; f++) {
        strata_ctype ct = m->fields[f].ctype;
        void *p = strata__field_ptr(o, f);
        if (ct == STRATA_C_TEXT) {
            if (*(char **)p != copies[f])
                strata__text_free(*(char **)p);
            *(char **)p = copies[f];
            set_null_bit(o, f, cells[f].null);
        } else if (ct == STRATA_C_BLOB) {
            strata_blob *b = p;
            free(b->data);
            b->data = copies[f];
            b->len = cells[f].null ? 0 : cells[f].len;
            set_null_bit(o, f, cells[f].null);
        } else {
            strata__set_field(o, f, &cells[f]); /* no memory needed */
        }
    }
    free(copies);
    return STRATA_OK;
}

/* ---- setters ----------------------------------------------------------- */

int strata_set_text(char **field, const char *text)
{
    if (!field)
        return STRATA_E_MISUSE;
    char *copy = NULL;
    size_t len = text ? strlen(text) : 0;
    if (text && !(copy = strata__text_alloc(len)))
        return STRATA_E_NOMEM;
    if (text)
        memcpy(copy, text, len);
    strata__text_free(*field); /* a shared text stays with its snapshot */
    *field = copy;
    return STRATA_OK;
}

int strata_set_blob(strata_blob *field, const void *data, size_t len)
{
    if (!field || (!data && len))
        return STRATA_E_MISUSE;
    void *copy = NULL;
    if (data) {
        if (!(copy = malloc(len ? len : 1)))
            return STRATA_E_NOMEM;
        memcpy(copy, data, len);
    }
    free(field->data);
    field->data = copy;
    field->len = data ? len : 0;
    return STRATA_OK;
}

static int named_field(const void *obj, const char *field, strata_object **o)
{
    *o = (strata_object *)obj;
    if (!obj || !(*o)->priv)
        return -1;
    return strata__field_index((*o)->priv->mi, field);
}

void strata__set_null(strata_object *o, int f, bool is_null)
{
    void *p = strata__field_ptr(o, f);
    if (is_null && o->model->fields[f].ctype == STRATA_C_TEXT)
        strata_set_text(p, NULL);
    else if (is_null && o->model->fields[f].ctype == STRATA_C_BLOB)
        strata_set_blob(p, NULL, 0);
    else
        set_null_bit(o, f, is_null);
}

int strata_set_null(void *obj, const char *field, int is_null)
{
    strata_object *o;
    int f = named_field(obj, field, &o);
    if (f < 0)
        return STRATA_E_MISUSE;
    void *p = strata__field_ptr(o, f);
    if (is_null && o->model->fields[f].ctype == STRATA_C_TEXT)
        return strata_set_text(p, NULL);
    if (is_null && o->model->fields[f].ctype == STRATA_C_BLOB)
        return strata_set_blob(p, NULL, 0);
    if (f >= 64)
        return STRATA_E_UNSUPPORTED;
    set_null_bit(o, f, is_null != 0);
    return STRATA_OK;
}

int strata_is_null(const void *obj, const char *field)
{
    strata_object *o;
    int f = named_field(obj, field, &o);
    return f >= 0 && strata__field_is_null(o, f);
}

void strata_default_now(void *field) { *(strata_timestamp *)field = strata_timestamp_now(); }

/* ---- repr and lists ---------------------------------------------------- */

static void repr_into(strata__sb *sb, strata_object *o)
{
    const strata_model *m = o->model;
    int f = o->priv ? strata__field_index(o->priv->mi, m->repr) : -1;
    if (f < 0 && o->priv && o->priv->mi->npk == 1)
        f = o->priv->mi->pkf[0];
    strata__sb_printf(sb, "<%s", m->name);
    if (f >= 0) {
        void *p = strata__field_ptr(o, f);
        if (strata__field_is_null(o, f))
            strata__sb_puts(sb, " None");
        else if (m->fields[f].ctype == STRATA_C_TEXT)
            strata__sb_printf(sb, " %s", *(char **)p);
        else if (m->fields[f].ctype == STRATA_C_INT64)
            strata__sb_printf(sb, " %lld", (long long)*(int64_t *)p);
    }
    strata__sb_putc(sb, '>');
}

char *strata_repr(const void *obj)
{
    if (!obj)
        return NULL;
    strata__sb sb;
    strata__sb_init(&sb);
    repr_into(&sb, (strata_object *)obj);
    return strata__sb_take(&sb);
}

char *strata_list_repr(const strata_list *list)
{
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_putc(&sb, '[');
    for (size_t i = 0; list && i < list->count; i++) {
        if (i)
            strata__sb_puts(&sb, ", ");
        repr_into(&sb, list->items[i]);
    }
    strata__sb_putc(&sb, ']');
    return strata__sb_take(&sb);
}

bool strata__list_reserve(strata_list *l, size_t extra)
{
    if (l->count + extra <= l->cap_)
        return true;
    size_t cap = l->cap_ ? l->cap_ * 2 : 8;
    while (cap < l->count + extra)
        cap *= 2;
    void **n = realloc(l->items, cap * sizeof *n);
    if (!n)
        return false;
    l->items = n;
    l->cap_ = cap;
    return true;
}

bool strata__list_push(strata_list *l, void *item)
{
    if (!strata__list_reserve(l, 1))
        return false;
    l->items[l->count++] = item;
    return true;
}

bool strata__list_has(const strata_list *l, const void *item)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->items[i] == item)
            return true;
    return false;
}

void strata__list_remove(strata_list *l, const void *item)
{
    for (size_t i = 0; i < l->count; i++) {
        if (l->items[i] == item) {
            memmove(l->items + i, l->items + i + 1, (l->count - i - 1) * sizeof *l->items);
            l->count--;
            return;
        }
    }
}

void strata_list_free(strata_list *list)
{
    if (!list)
        return;
    free(list->items);
    free(list);
}
