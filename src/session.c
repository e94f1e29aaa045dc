/*
 * session.c - the unit of work: objects and their states, the identity
 * map, commit and rollback with the objects' values restored, get by key,
 * refresh.  Writing the changes (flush, upsert) is flush.c.
 *
 * An object is transient (made, not added), pending (added, not yet
 * inserted), persistent (in the database and the identity map), deleted
 * (marked or flushed as deleted) or detached (its delete committed).  Every
 * object stays in the session's memory until strata_session_free().
 */
#include <assert.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include "orm_internal.h"

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

int strata__session_error_in(strata_session *s, int code, const char *what, uint64_t mark)
{
    /* The driver's own words when it failed with this code since `mark`,
     * else the code's; copied, as the error about to be set replaces
     * them.  Its SQLSTATE and native code stay with the message that
     * quotes it. */
    strata_db *db = s->db;
    bool same = db->nerrors != mark && strata_db_errcode(db) == code;
    char *why = same ? strata__strdup(strata_db_errmsg(db)) : NULL;
    char state[sizeof db->sqlstate];
    memcpy(state, db->sqlstate, sizeof state);
    int native = db->native;
    strata__session_error(s, code, "%s: %s", what, why ? why : strata_errstr(code));
    if (same) {
        memcpy(db->sqlstate, state, sizeof state);
        db->native = native;
    }
    free(why);
    return code;
}

const char *strata_session_errmsg(const strata_session *s)
{
    return s ? strata_db_errmsg(s->db) : "";
}
strata_db *strata_session_db(const strata_session *s) { return s ? s->db : NULL; }

static void joined_ended(strata__joined *j, bool committed);

int strata_session_new(strata_session **out, strata_db *db)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!db)
        return STRATA_E_MISUSE;
    STRATA__CONFINE(db, STRATA_E_MISUSE);
    if (db->closed)
        return strata__db_error(db, STRATA_E_MISUSE, "the connection is closed");
    strata_session *s = calloc(1, sizeof *s);
    if (!s)
        return strata__db_error(db, STRATA_E_NOMEM, "out of memory for a session");
    s->db = db;
    s->dl = strata__dialect_of(strata_db_driver(db));
    db->sessions++;
    s->joined.ended = joined_ended;
    *out = s;
    return STRATA_OK;
}

/* ---- the arena --------------------------------------------------------- */

/* A session keeps every object it made, and each one's first snapshot,
 * until it is freed: they come from chunks freed together, not one
 * allocation each.  Under AddressSanitizer and valgrind the memory
 * between blocks is unaddressable (a redzone follows each block), the
 * blocks are known to valgrind as a pool, and the chunks go with the
 * session, so an overrun or a use after the session is freed shows as it
 * would with malloc. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1 /* clang's way of saying it */
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_FENCE(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define ARENA_OPEN(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define ARENA_FENCE(p, n) ((void)(p), (void)(n))
#define ARENA_OPEN(p, n) ((void)(p), (void)(n))
#endif
/* STRATA_PROFILE_ARENA: a build to profile under callgrind, whose arena
 * behaves there as it does outside valgrind (no redzones, snapshots in
 * the arena); docs/performance.md. */
#if defined(__has_include) && !defined(STRATA_PROFILE_ARENA)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define ARENA_VALGRIND 1
#endif
#endif
#ifndef ARENA_VALGRIND
#define VALGRIND_CREATE_MEMPOOL(pool, rz, zeroed) ((void)(pool))
#define VALGRIND_DESTROY_MEMPOOL(pool) ((void)(pool))
#define VALGRIND_MEMPOOL_ALLOC(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define VALGRIND_MAKE_MEM_NOACCESS(p, n) ((void)(p), (void)(n))
#endif

#define ARENA_FIRST (64 * 1024)         /* the first chunk; each next one twice as big */
#define ARENA_LARGEST (2 * 1024 * 1024) /* up to this */
#define ARENA_MAPPED (1024 * 1024)      /* chunks this big are mapped, their pages made at once */

/* Bytes left unaddressable after each block: only where a checker looks. */
static size_t redzone(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 16;
#elif defined(ARENA_VALGRIND)
    return RUNNING_ON_VALGRIND ? 16 : 0;
#else
    return 0;
#endif
}

/* A chunk of the largest size is mapped on its own at a 2 MB boundary and
 * offered to the kernel as one huge page (MADV_HUGEPAGE; where
 * transparent huge pages are off it is ordinary pages): one page fault
 * for it instead of 512, and one TLB entry for the objects in it, which
 * took W5 and W3 from about 0.069 s to 0.058 s and 0.083 s to 0.070 s
 * with the same peak memory.  NULL when it cannot be. */
static strata__chunk *map_huge(size_t size, size_t *mapped)
{
#if defined(MADV_HUGEPAGE)
    const size_t huge = ARENA_LARGEST;
    size_t total = (sizeof(strata__chunk) + size + huge - 1) / huge * huge;
    char *m = mmap(NULL, total + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    char *at = (char *)(((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1));
    if (at > m)
        munmap(m, (size_t)(at - m));
    if (at + total < m + total + huge)
        munmap(at + total, (size_t)(m + total + huge - (at + total)));
    madvise(at, total, MADV_HUGEPAGE); /* advice: its failure changes nothing */
    *mapped = total;
    return (strata__chunk *)at;
#else
    (void)size, (void)mapped;
    return NULL;
#endif
}

/* A chunk of 1 MB is mapped with its pages made at once (MAP_POPULATE):
 * the kernel fills them in one call instead of one fault per 4 KB as the
 * objects come.  NULL when it cannot be. */
static strata__chunk *map_populated(size_t size, size_t *mapped)
{
#if defined(MAP_POPULATE)
    size_t page = 4096, total = (sizeof(strata__chunk) + size + page - 1) / page * page;
    void *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    *mapped = total;
    return m;
#else
    (void)size, (void)mapped;
    return NULL;
#endif
}

/* A chunk with room for `need` bytes after `last`. */
static strata__chunk *chunk_new(const strata__chunk *last, size_t need)
{
    size_t size = last ? last->size * 2 : ARENA_FIRST;
    if (sizeof(strata__chunk) + size > ARENA_LARGEST)
        size = ARENA_LARGEST - sizeof(strata__chunk); /* with its header: one huge page */
    if (size < need)
        size = need;
    size_t mapped = 0;
    strata__chunk *c = sizeof *c + size >= ARENA_LARGEST ? map_huge(size, &mapped)
                       : size >= ARENA_MAPPED            ? map_populated(size, &mapped)
                                                         : NULL;
    if (c)
        size = mapped - sizeof *c;
    else if (!(c = malloc(sizeof *c + size)))
        return NULL;
    c->size = size;
    c->used = 0;
    c->mapped = mapped;
    return c;
}

bool strata__arena_for_snapshots(size_t n) { return n <= 4096 && redzone() == 0; }

/* n bytes at a multiple of align (a power of two) in the newest chunk,
 * or at the start of a new one. */
static void *arena_alloc(strata_session *s, size_t n, size_t align)
{
    size_t need = n + redzone();
    strata__chunk *c = s->chunks;
    size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;
    if (!c || at > c->size || c->size - at < need) {
        if (!(c = chunk_new(s->chunks, need)))
            return NULL;
        c->next = s->chunks;
        if (!s->chunks)
            VALGRIND_CREATE_MEMPOOL(&s->chunks, 0, 0);
        s->chunks = c;
        ARENA_FENCE(c->data, c->size);
        VALGRIND_MAKE_MEM_NOACCESS(c->data, c->size);
        at = 0;
    }
    char *p = (char *)c->data + at;
    c->used = at + need;
    ARENA_OPEN(p, n);
    VALGRIND_MEMPOOL_ALLOC(&s->chunks, p, n);
    return p;
}

void *strata__arena_alloc(strata_session *s, size_t n)
{
    return arena_alloc(s, n, _Alignof(max_align_t));
}

_Static_assert(_Alignof(strata__cell) <= 8 && _Alignof(strata__relcache) <= 8 &&
                   _Alignof(strata_list) <= 8,
               "the library's own blocks need no more than 8-byte alignment");
void *strata__arena_alloc_small(strata_session *s, size_t n) { return arena_alloc(s, n, 8); }

/* Where the arena stands: its newest chunk, and how much of it is used. */
typedef struct arena_mark {
    const strata__chunk *chunk;
    size_t used;
} arena_mark;

static arena_mark arena_at(const strata_session *s)
{
    return (arena_mark){s->chunks, s->chunks ? s->chunks->used : 0};
}

/* Give the arena back what was taken from it since m, all of which its
 * caller lets go: in the newest chunk, whether m was in it or in the one
 * before (a chunk begun since stays, empty).  Not under valgrind, whose
 * pool knows each block the arena gave out; under AddressSanitizer what
 * is given back is unaddressable until given out again. */
static void arena_rewind(strata_session *s, arena_mark m)
{
#if defined(ARENA_VALGRIND)
    if (RUNNING_ON_VALGRIND)
        return;
#endif
    strata__chunk *c = s->chunks;
    size_t to = c == m.chunk ? m.used : c && c->next == m.chunk ? 0 : c ? c->used : 0;
    if (!c || to >= c->used)
        return;
    ARENA_FENCE((char *)c->data + to, c->used - to);
    c->used = to;
}

static void arena_free(strata_session *s)
{
    if (s->chunks)
        VALGRIND_DESTROY_MEMPOOL(&s->chunks);
    while (s->chunks) {
        strata__chunk *c = s->chunks;
        s->chunks = c->next;
        ARENA_OPEN(c->data, c->size);
        if (c->mapped)
            munmap(c, c->mapped);
        else
            free(c);
    }
}

void strata__object_free(strata_object *o)
{
    struct strata__object *p = o->priv;
    strata__fields_clear(o);
    if (p) {
        strata__snapshot_drop(p->loaded);
        strata__snapshot_drop(p->committed);
        strata__snapshot_drop(strata__undo(p));
        for (int r = 0; p->rels && r < p->mi->nrels; r++)
            if (p->rels[r].list)
                free(p->rels[r].list->items);
        if (!p->in_arena) {
            free(p->rels);
            free(p->x);
        }
    }
    if (!p || !p->in_arena)
        free(o); /* and with it p (strata__object_alloc) */
}

static void session_destroy(strata_session *s)
{
    strata__db_unjoin(s->db, &s->joined);
    if (strata__session_owns_tx(s))
        strata_db_rollback(s->db);
    strata__savepoints_forget(s);
    s->db->sessions--;
    for (size_t i = 0; i < s->nobjs; i++)
        strata__object_free(s->objs[i]);
    free(s->objs);
    arena_free(s); /* after the objects: their snapshots may be in it */
    for (int i = 0; i < s->nmodels; i++)
        strata__minfo_free(s->models[i]);
    free(s->models);
    free(s->m2m);
}

void strata_session_free(strata_session *s)
{
    if (!s)
        return;
    strata__confinement c = strata__confine(s->db);
    if (c.refused)
        return;
    session_destroy(s);
    strata__confine_end(&c);
    /* The connection goes back to its pool after the session is done
     * with it (and outside the confined region, which the pool's reset
     * enters again).  A handle the program closed before freeing its
     * session goes now. */
    if (s->pool)
        strata_pool_release(s->pool, s->db);
    else
        strata__db_release_zombie(s->db);
    free(s);
}

/* A session on a connection from the pool: the primary's, or a
 * replica's (read-only). */
static int session_from_pool(strata_session **out, strata_pool *pool, bool replica)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    strata_db *db;
    int rc = replica ? strata_pool_acquire_replica(pool, &db) : strata_pool_acquire(pool, &db);
    if (rc != STRATA_OK)
        return rc;
    if ((rc = strata_session_new(out, db)) != STRATA_OK) {
        strata_pool_release(pool, db);
        return strata__pool_fail(pool, rc, "out of memory");
    }
    (*out)->pool = pool;
    (*out)->read_only = replica;
    return STRATA_OK;
}

int strata_session_new_from_pool(strata_session **out, strata_pool *pool)
{
    return session_from_pool(out, pool, false);
}

int strata_session_new_from_replica(strata_session **out, strata_pool *pool)
{
    return session_from_pool(out, pool, true);
}

int strata_session_set_read_only(strata_session *s, int on)
{
    STRATA__CONFINE(s ? s->db : NULL, STRATA_E_MISUSE);
    if (!s)
        return STRATA_E_MISUSE;
    if (!strata__session_owns_tx(s) || s->read_only == (on != 0)) {
        s->read_only = on != 0;
        return STRATA_OK;
    }
    /* Open, but nothing has run in it yet (a unit of strata_pool_run,
     * begun before the unit): begun again in the mode asked for. */
    if (s->db->counters[STRATA_COUNTER_STATEMENTS] == s->stmts_at_begin &&
        strata_session_savepoint_depth(s) == 0) {
        /* Nothing to write twice: a unit may do this (its transaction
         * is begun again at once). */
        bool unit = s->db->in_unit;
        s->db->in_unit = false;
        int rc = strata_db_rollback(s->db);
        s->db->in_unit = unit;
        s->owns_tx = false;
        s->read_only = on != 0;
        return rc == STRATA_OK ? strata__session_begin(s) : rc;
    }
    return strata__session_error(s, STRATA_E_MISUSE,
                                 "the session's transaction is open: set read-only before it "
                                 "begins, or after commit or rollback (a unit of "
                                 "strata_pool_run: in its options, read_only)");
}

/* After a failed COMMIT the transaction is gone, and with it what the
 * session had flushed, while its objects still say they are saved: nothing
 * but a rollback may follow, or a later commit would report success for
 * rows that are not there. */
int strata__session_refuse_after_failed_commit(strata_session *s)
{
    if (s->putback_failed)
        return strata_driver_error(s->db, STRATA_E_TX_ABORTED, "25P02", 0,
                                   "your transaction was rolled back, but the session could not "
                                   "put its objects back or read them again: call "
                                   "strata_session_rollback() before using the session again");
    if (!s->commit_failed)
        return STRATA_OK;
    if (s->commit_unknown)
        return strata_driver_error(s->db, STRATA_E_COMMIT_UNKNOWN, "08007", 0,
                                   "the connection was lost during the session's last commit, "
                                   "which may or may not have been committed: call "
                                   "strata_session_rollback() before using the session again, "
                                   "and read the rows on another connection to learn which");
    return strata_driver_error(s->db, STRATA_E_TX_ABORTED, "25P02", 0,
                               "the session's last commit failed and was rolled back: call "
                               "strata_session_rollback() before using the session again");
}

/* Begin the session's own transaction in `mode`, unless one is open. */
static int begin_as(strata_session *s, strata_tx_mode mode)
{
    if (strata_db_in_transaction(s->db))
        return STRATA_OK;
    int rc = strata_db_begin_mode(s->db, mode);
    if (rc == STRATA_OK) {
        s->owns_tx = true;
        s->tx_owned = strata__db_tx_serial(s->db);
        s->stmts_at_begin = s->db->counters[STRATA_COUNTER_STATEMENTS];
    }
    return rc;
}

int strata__session_begin(strata_session *s)
{
    int rc = strata__session_refuse_after_failed_commit(s);
    if (rc != STRATA_OK)
        return rc;
    return begin_as(s, s->read_only ? STRATA_TX_READ_ONLY : STRATA_TX_WRITE);
}

bool strata__session_owns_tx(const strata_session *s)
{
    return s->owns_tx && strata_db_in_transaction(s->db) &&
           strata__db_tx_serial(s->db) == s->tx_owned;
}

/* ---- objects ----------------------------------------------------------- */

/* One allocation holds the struct, its bookkeeping and its relationship
 * caches: loading a row costs one malloc for the object, not three. */
static size_t aligned(size_t n)
{
    size_t a = _Alignof(max_align_t);
    return (n + a - 1) / a * a;
}

/* An object's block: the struct, its bookkeeping, its relationships. */
static size_t object_size(const strata__minfo *mi, size_t *at_priv)
{
    *at_priv = aligned(mi->m->size);
    return *at_priv + sizeof(struct strata__object);
}

static strata_object *object_init(char *block, strata__minfo *mi)
{
    size_t at_priv;
    object_size(mi, &at_priv);
    strata_object *o = (strata_object *)block;
    struct strata__object *p = (struct strata__object *)(block + at_priv);
    o->model = mi->m;
    o->priv = p;
    p->mi = mi;
    p->state = OBJ_TRANSIENT;
    return o;
}

strata__objx *strata__objx_get(strata_object *o)
{
    struct strata__object *p = o->priv;
    if (!p->x) {
        p->x =
            p->in_arena ? strata__arena_alloc_small(p->mi->s, sizeof *p->x) : malloc(sizeof *p->x);
        if (!p->x) {
            strata__session_error(p->mi->s, STRATA_E_NOMEM, "out of memory");
            return NULL;
        }
        memset(p->x, 0, sizeof *p->x);
    }
    return p->x;
}

static bool is_collection(const strata_relation *r)
{
    return r->kind == STRATA_ONE_TO_MANY || r->kind == STRATA_MANY_TO_MANY;
}

/* Most loaded objects never touch a relationship: their caches are made
 * when one is first used, in the arena when the object is, one block
 * with the lists of the model's collections after the caches. */
strata__relcache *strata__rel(strata_object *o, int ri)
{
    struct strata__object *p = o->priv;
    if (!p->rels) {
        const strata_relation *rels = p->mi->m->relations;
        int nrels = p->mi->nrels, nlists = 0;
        for (int r = 0; r < nrels; r++)
            nlists += is_collection(&rels[r]);
        size_t size = (size_t)nrels * sizeof *p->rels + (size_t)nlists * sizeof(strata_list);
        strata__relcache *c =
            p->in_arena ? strata__arena_alloc_small(p->mi->s, size) : malloc(size);
        if (!c) {
            strata__session_error(p->mi->s, STRATA_E_NOMEM, "out of memory");
            return NULL;
        }
        memset(c, 0, size);
        strata_list *list = (strata_list *)(c + nrels);
        for (int r = 0; r < nrels; r++)
            if (is_collection(&rels[r]))
                c[r].list = list++;
        p->rels = c;
    }
    return &p->rels[ri];
}

static bool refuse_association(strata_session *s, const strata__minfo *mi)
{
    if (mi->m->size)
        return false;
    strata__session_error(s, STRATA_E_MISUSE, "model %s is an association table, not a struct",
                          mi->m->name);
    return true;
}

strata_object *strata__object_alloc(strata_session *s, strata__minfo *mi)
{
    if (refuse_association(s, mi))
        return NULL;
    size_t at_priv;
    char *block = calloc(1, object_size(mi, &at_priv));
    return block ? object_init(block, mi) : NULL;
}

/* A new object of the session's, in its arena and on its list. */
static strata_object *object_new(strata_session *s, strata__minfo *mi)
{
    if (refuse_association(s, mi))
        return NULL;
    if (s->nobjs == s->capobjs) {
        size_t cap = s->capobjs ? s->capobjs * 2 : 64;
        strata_object **n = realloc(s->objs, cap * sizeof *n);
        if (!n)
            return NULL;
        s->objs = n;
        s->capobjs = cap;
    }
    size_t at_priv, size = object_size(mi, &at_priv);
    char *block = strata__arena_alloc(s, size);
    if (!block)
        return NULL;
    memset(block, 0, size);
    strata_object *o = object_init(block, mi);
    o->priv->in_arena = true;
    s->objs[s->nobjs++] = o;
    return o;
}

int strata_new(strata_session *s, const strata_model *model, void *out)
{
    STRATA__CONFINE(s ? s->db : NULL, STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *(void **)out = NULL;
    if (!s || !model)
        return STRATA_E_MISUSE;
    uint64_t mark = s->db->nerrors;
    strata__minfo *mi = strata__minfo_get(s, model);
    strata_object *o = mi ? object_new(s, mi) : NULL;
    if (!o)
        return strata__db_error_since(s->db, mark, STRATA_E_NOMEM);
    *(void **)out = o;
    return STRATA_OK;
}

static void add_pending(struct strata__object *p, bool undo)
{
    p->state = undo ? OBJ_TRANSIENT : OBJ_PENDING;
    p->added_in_tx = !undo;
    if (!undo)
        p->mi->s->has_pending = true;
}

/* The objects one strata_add added: on the stack while they are few
 * (the common case, an object and none), else on the heap. */
typedef struct added_list {
    strata_object **v;
    size_t n, cap;
    strata_object *few[8];
} added_list;

/* x added along with the object, if it is new: false without memory. */
static bool cascade_to(strata_object *x, added_list *a)
{
    if (!x || x->priv->state != OBJ_TRANSIENT)
        return true;
    if (a->n == a->cap) {
        size_t cap = a->cap * 2;
        strata_object **v = malloc(cap * sizeof *v);
        if (!v)
            return false;
        memcpy(v, a->v, a->n * sizeof *v);
        if (a->v != a->few)
            free(a->v);
        a->v = v;
        a->cap = cap;
    }
    add_pending(x->priv, false);
    a->v[a->n++] = x;
    return true;
}

/* The save-update cascade, as SQLAlchemy's: the new objects o's
 * relationships hold (a many-to-one or one-to-one's target, a
 * collection's members, the other side of a many-to-many link not
 * flushed yet) are added with it, and theirs, without recursion (a chain
 * of new objects may be long).  Without memory for it, none is, and o
 * is new again. */
static int add_cascade(strata_object *o)
{
    strata_session *s = o->priv->mi->s;
    added_list a = {.cap = sizeof a.few / sizeof a.few[0]};
    a.v = a.few;
    bool ok = cascade_to(o, &a);
    for (size_t at = 0; ok && at < a.n; at++) {
        strata_object *x = a.v[at];
        struct strata__object *p = x->priv;
        for (int r = 0; ok && p->rels && r < p->mi->nrels; r++) {
            const strata__relcache *c = &p->rels[r];
            ok = cascade_to(c->one, &a);
            for (size_t i = 0; ok && c->list && i < c->list->count; i++)
                ok = cascade_to(c->list->items[i], &a);
        }
        for (size_t i = 0; ok && i < s->nm2m; i++) {
            const strata__m2m_op *op = &s->m2m[i];
            if (op->add && (op->owner == x || op->target == x))
                ok = cascade_to(op->owner == x ? op->target : op->owner, &a);
        }
    }
    for (size_t i = 0; !ok && i < a.n; i++)
        add_pending(a.v[i]->priv, true);
    if (a.v != a.few)
        free(a.v);
    return ok ? STRATA_OK : strata__session_error(s, STRATA_E_NOMEM, "out of memory");
}

int strata_add(void *obj)
{
    STRATA__CONFINE(strata__object_db(obj), STRATA_E_MISUSE);
    strata_object *o = strata__as_object(obj);
    if (!o)
        return STRATA_E_MISUSE;
    struct strata__object *p = o->priv;
    if (p->state == OBJ_TRANSIENT) {
        int rc = add_cascade(o);
        if (rc != STRATA_OK)
            return rc;
        p->orphan = false; /* added by the program: inserted, parent or not */
    } else if (p->state == OBJ_DELETED && p->deleted_in_tx) {
        p->state = OBJ_PERSISTENT;
        p->deleted_in_tx = false;
    } else if (p->state == OBJ_DETACHED) {
        return strata__session_error(p->mi->s, STRATA_E_MISUSE,
                                     "%s was deleted; make a new object to insert it again",
                                     o->model->name);
    }
    return STRATA_OK;
}

int strata_delete(void *obj)
{
    STRATA__CONFINE(strata__object_db(obj), STRATA_E_MISUSE);
    strata_object *o = strata__as_object(obj);
    if (!o)
        return STRATA_E_MISUSE;
    struct strata__object *p = o->priv;
    if (p->state == OBJ_PENDING) {
        p->state = OBJ_TRANSIENT; /* never inserted: just forget it */
        p->added_in_tx = false;
        strata__unlink_new(o); /* nor added along with a parent */
        return STRATA_OK;
    }
    if (p->state != OBJ_PERSISTENT)
        return strata__session_error(p->mi->s, STRATA_E_MISUSE, "%s is not in the database",
                                     o->model->name);
    p->state = OBJ_DELETED;
    p->deleted_in_tx = true;
    return STRATA_OK;
}

void strata__forget_numbered_key(strata_object *o)
{
    struct strata__object *p = o->priv;
    if (p->key_numbered && p->mi->pk >= 0) {
        *(int64_t *)strata__field_ptr(o, p->mi->pk) = 0;
        strata__set_null(o, p->mi->pk, false);
    }
    p->key_numbered = false;
}

bool strata__object_current(const strata_object *o)
{
    const struct strata__object *p = o->priv;
    return !p->stale && p->tx_serial != 0 && p->tx_serial == strata__db_tx_serial(p->mi->s->db);
}

__attribute__((noinline)) int strata__field_failed(strata_session *s, const strata__minfo *mi,
                                                   int f, int rc, uint64_t mark)
{
    char what[160];
    if (f >= 0)
        snprintf(what, sizeof what, "reading %s.%s", mi->m->name, mi->m->fields[f].name);
    else
        snprintf(what, sizeof what, "reading a %s", mi->m->name);
    return strata__session_error_in(s, rc, what, mark);
}

int strata__read_row_whole(strata_stmt *st, int col0, strata_object *o, int *bad)
{
    const strata__minfo *mi = o->priv->mi;
    const strata_field *fields = o->model->fields;
    strata__cell cells[STRATA__MAX_FIELDS];
    /* Each is filled by read_cell; zeroed for the compiler, which cannot
     * see that restore reads no more than nfields of them. */
    memset(cells, 0, (size_t)mi->nfields * sizeof *cells);
    int n = 0, rc = STRATA_OK;
    *bad = -1;
    for (; n < mi->nfields; n++)
        if ((rc = strata__read_cell(st, col0 + n, fields[n].ctype, &cells[n])) != STRATA_OK) {
            *bad = n;
            break;
        }
    if (rc == STRATA_OK)
        rc = strata__restore(o, cells);
    for (int f = 0; f < n; f++)
        if (strata__ctype_bytes(fields[f].ctype))
            free(cells[f].p);
    return rc;
}

/* Read the current row (its columns from col0) into `o`, whose values are
 * from an earlier transaction.  A field the program changed since it was
 * loaded keeps the program's value, to be flushed as a change; every other
 * field takes the database's. */
static int refresh_from_row(strata_object *o, strata_stmt *st, int col0, bool rebase)
{
    struct strata__object *p = o->priv;
    strata__minfo *mi = p->mi;
    uint64_t mark = p->mi->s->db->nerrors;
    int rc0 = strata__savepoint_note(o);
    if (rc0 != STRATA_OK)
        return rc0;
    bool *mine = NULL; /* fields the program changed */
    strata__cell *kept = NULL;
    for (int f = 0; p->loaded && f < mi->nfields; f++) {
        if (!strata__field_changed(o, f, &p->loaded[f]))
            continue;
        if (!mine && (!(mine = calloc((size_t)mi->nfields, sizeof *mine)) ||
                      !(kept = strata__snapshot(o, false)))) {
            free(mine);
            return strata__field_failed(p->mi->s, mi, -1, STRATA_E_NOMEM, mark);
        }
        mine[f] = true;
    }
    int bad;
    int rc = strata__read_row_whole(st, col0, o, &bad);
    if (rc != STRATA_OK) { /* o as it was */
        free(mine);
        strata__snapshot_release(kept);
        return strata__field_failed(p->mi->s, mi, bad, rc, mark);
    }
    strata__cell *db = strata__snapshot(o, false);
    if (!db)
        rc = strata__field_failed(p->mi->s, mi, -1, STRATA_E_NOMEM, mark);
    for (int f = 0; mine && f < mi->nfields && rc == STRATA_OK; f++)
        if (mine[f] && (rc = strata__set_field(o, f, &kept[f])) != STRATA_OK)
            strata__field_failed(p->mi->s, mi, f, rc, mark);
    if (rc != STRATA_OK) {
        /* Back to what it was (the row's values, should memory fail here
         * too: a flush then writes the row as it is). */
        strata__restore(o, kept ? kept : p->loaded);
        strata__snapshot_release(db);
    }
    free(mine);
    strata__snapshot_release(kept);
    if (rc != STRATA_OK)
        return rc;
    strata__snapshot_release(p->loaded);
    p->loaded = db;
    if (rebase) {
        strata__snapshot_release(p->committed);
        p->committed = strata__snapshot_share(db);
        p->unsure = strata__db_tx_wrote(p->mi->s->db);
    }
    p->tx_serial = strata__db_tx_serial(p->mi->s->db);
    p->stale = false;
    return STRATA_OK;
}

/* An object load_new has just made, and will not keep: the session's
 * last, taken back whole with what the arena gave it since `was` (its
 * block, texts and snapshot), so that reads that fail or are let go do
 * not pile objects up in a long session. */
static void take_back(strata_session *s, strata_object *o, arena_mark was)
{
    assert(s->objs[s->nobjs - 1] == o);
    s->nobjs--;
    strata__object_free(o);
    arena_rewind(s, was);
}

/* A new object for the row at col0, whose key the identity map does not
 * hold: its fields and snapshot read, then put in the map.  Apart, so
 * that a get whose integer key is not in the map comes here directly,
 * with that key in *asked: when the row's own key is another that the
 * map holds, the new object is let go and *out stays NULL, for the
 * caller to read the row the general way. */
static __attribute__((noinline)) int load_new(strata_session *s, strata__minfo *mi, strata_stmt *st,
                                              int col0, const int64_t *asked,
                                              const strata_cell *key_in, strata_object **out)
{
    uint64_t mark = s->db->nerrors;
    arena_mark was = arena_at(s);
    strata_object *o = object_new(s, mi);
    if (!o)
        return strata__db_error_since(s->db, mark, STRATA_E_NOMEM);
    int bad;
    int rc = strata__load_fields(st, col0, key_in, o, &bad);
    if (rc != STRATA_OK) { /* a field that would not convert, the driver reading the row, or memory */
        take_back(s, o, was);
        return strata__field_failed(s, mi, bad, rc, mark);
    }
    struct strata__object *p = o->priv;
    /* The row of `WHERE id = ?` need not have that key: PostgreSQL
     * compares an integer with a floating-point column as a float (2^53
     * and 2^53 + 1 are one value there). */
    const strata__cell *key = asked ? &p->loaded[mi->pk] : NULL;
    if (key && (key->null || key->i != *asked) &&
        (key->null || strata__identity_find(mi, key->i))) {
        take_back(s, o, was); /* so that gets of this kind do not pile up objects */
        return STRATA_OK;
    }
    p->committed = strata__snapshot_share(p->loaded);
    p->unsure = strata__db_tx_wrote(s->db);
    if (!strata__identity_put(mi, o)) {
        take_back(s, o, was);
        return strata__field_failed(s, mi, -1, STRATA_E_NOMEM, mark);
    }
    p->state = OBJ_PERSISTENT;
    p->tx_serial = strata__db_tx_serial(s->db);
    /* Inside a savepoint, one that cannot note the object as loaded there
     * could not read it again at its rollback: not kept either. */
    if ((rc = strata__savepoint_loaded(o)) != STRATA_OK) {
        strata__identity_remove(mi, o);
        take_back(s, o, was);
        return rc;
    }
    *out = o;
    return STRATA_OK;
}

/* The session's error for a row whose key could not be read. */
static __attribute__((noinline)) int key_failed(strata_session *s, strata__minfo *mi, int rc,
                                                uint64_t mark)
{
    if (rc == STRATA_NULL)
        return strata__session_error(s, STRATA_E_DATA, "reading %s's key: %s", mi->m->name,
                                     strata_errstr(rc));
    char what[160];
    snprintf(what, sizeof what, "reading %s's key", mi->m->name);
    return strata__session_error_in(s, rc, what, mark);
}

/* The general way to a row's key and the object the identity map holds
 * for it (*o, or NULL): each key column's cell, converted where the
 * driver left it to the core. */
static __attribute__((noinline)) int key_lookup(strata_session *s, strata__minfo *mi,
                                                strata_stmt *st, int col0, strata_object **o)
{
    strata_cell in[1];
    strata__cell cells[STRATA__MAX_KEY];
    bool owned[STRATA__MAX_KEY];
    strata__key key = {0};
    int rc = STRATA_OK, k = 0;
    uint64_t mark = s->db->nerrors;
    *o = NULL;
    for (; k < mi->npk && rc == STRATA_OK; k++) {
        int f = mi->pkf[k];
        rc = strata__stmt_cells(st, col0 + f, 1, &mi->ctypes[f], in);
        if (rc == STRATA_OK)
            rc = strata__take_cell(st, col0 + f, mi->m->fields[f].ctype, in, &cells[k],
                                   &owned[k]);
        else
            owned[k] = false;
        key[k] = &cells[k];
        if (rc == STRATA_OK && cells[k].null)
            rc = STRATA_NULL;
    }
    if (rc == STRATA_OK)
        *o = strata__identity_find_key(mi, key);
    while (k-- > 0)
        if (owned[k])
            free(cells[k].p);
    return rc == STRATA_OK ? STRATA_OK : key_failed(s, mi, rc, mark);
}

int strata__session_load_row(strata_session *s, strata__minfo *mi, strata_stmt *st, int col0,
                             bool reread, strata_object **out)
{
    *out = NULL;
    /* The key's cells first, for the identity map.  The common key, one
     * integer the driver gave as it is, is looked up here. */
    strata_cell in;
    strata_object *o;
    int rc = STRATA_OK;
    uint64_t mark = s->db->nerrors;
    bool int_key = false; /* `in` is the key's value, for load_new not to read again */
    if (mi->pk >= 0 &&
        (rc = strata__stmt_cells(st, col0 + mi->pk, 1, &mi->ctypes[mi->pk], &in)) == STRATA_OK &&
        in.state == STRATA_CELL_VALUE)
        int_key = true, o = strata__identity_find(mi, in.u.i);
    else if (rc != STRATA_OK)
        return key_failed(s, mi, rc, mark); /* not asked twice: the first answer stands */
    else if ((rc = key_lookup(s, mi, st, col0, &o)) != STRATA_OK)
        return rc;
    if (o) {
        *out = o;
        /* Within the transaction that loaded it, the identity map wins;
         * from an earlier one, the row read now is the truth. */
        bool current = strata__object_current(o);
        if (current && !reread)
            return STRATA_OK;
        /* Values from an earlier transaction: the row is what was
         * committed since.  Read again inside this one (locked, after a
         * bulk change, or stale after the flush's deletes): the row may
         * hold this transaction's own writes, which a rollback undoes, so
         * the values at the last commit stay. */
        return refresh_from_row(o, st, col0, !current && !o->priv->stale);
    }
    return load_new(s, mi, st, col0, NULL, int_key ? &in : NULL, out);
}

/* ---- commit / rollback ------------------------------------------------- */

/* When the transaction ends, what was loaded of an object's relationships
 * is from a finished transaction: the next access loads it again. */
void strata__forget_related(strata_object *o)
{
    struct strata__object *p = o->priv;
    /* A many-to-one the program set on an object whose row is not
     * committed (not inserted, or inserted in this transaction) is the
     * program's, not something a transaction read: it stays, and its key
     * is copied again when the object is inserted.  Forgotten, the key
     * would keep the value a flush gave it, which a rollback may give to
     * another row. */
    bool unsaved = p->state == OBJ_TRANSIENT || p->state == OBJ_PENDING || p->added_in_tx;
    for (int r = 0; p->rels && r < p->mi->nrels; r++) {
        if (unsaved && (p->rels[r].one_set || strata__linked_one_to_one(o, r)))
            continue;
        strata__relcache_forget(&p->rels[r]);
        p->rels[r].one_set = false;
    }
}

static void mark_committed(strata_session *s);
static int put_back(strata_session *s, bool reread);
static int reread_unsure(strata_session *s);

int strata_session_commit(strata_session *s)
{
    STRATA__CONFINE(s ? s->db : NULL, STRATA_E_MISUSE);
    if (!s)
        return STRATA_E_MISUSE;
    if (s->db->in_unit && strata__session_owns_tx(s))
        return strata__db_unit_commit_refused(s->db);
    s->committing = true;
    int rc = strata_session_flush(s);
    s->committing = false;
    if (rc != STRATA_OK)
        return rc;
    if (strata__session_owns_tx(s)) {
        rc = strata_db_commit(s->db); /* and the savepoints open in it */
        /* Refused before anything ran (a statement still streaming on the
         * connection): the transaction is open and still the session's,
         * and nothing changes. */
        if (rc != STRATA_OK && strata__session_owns_tx(s))
            return rc;
        s->owns_tx = false;
        strata__savepoints_forget(s);
        if (rc != STRATA_OK) {
            s->commit_failed = true; /* strata_db_commit rolled it back, or lost it */
            s->commit_unknown = rc == STRATA_E_COMMIT_UNKNOWN;
            return rc;
        }
    } else if (strata_db_in_transaction(s->db)) {
        /* The program's transaction, which the session joined: nothing is
         * committed until the program commits it.  The objects are counted
         * committed then, or put back if it rolls back instead. */
        s->joined.serial = strata__db_tx_serial(s->db);
        strata__db_join(s->db, &s->joined);
        return STRATA_OK;
    }
    mark_committed(s);
    return STRATA_OK;
}

/* After a COMMIT (the session's, or that of the program's transaction it
 * joined): nothing here may fail, or the caller would be told the commit
 * failed.  After the flush, what the database holds is `loaded`, shared
 * without copying; relationships loaded in the finished transaction are
 * forgotten. */
static void mark_committed(strata_session *s)
{
    bool ended = !strata_db_in_transaction(s->db);
    for (size_t i = 0; i < s->nobjs; i++) {
        struct strata__object *p = s->objs[i]->priv;
        /* One added or deleted since the flush (a joined session, used
         * again before the program's COMMIT) is still to be written. */
        if (p->state != OBJ_PENDING)
            p->added_in_tx = false;
        if (p->state != OBJ_DELETED)
            p->deleted_in_tx = false;
        p->stale = false; /* from an earlier transaction now: read again, rebased */
        p->unsure = false;
        /* Committed, it is no longer added along with a new parent. */
        if (p->linked_new && p->state != OBJ_TRANSIENT && p->state != OBJ_PENDING)
            strata__unlink_new(s->objs[i]);
        if (ended)
            strata__forget_related(s->objs[i]);
        if (p->state == OBJ_PERSISTENT && p->committed != p->loaded) {
            strata__snapshot_release(p->committed);
            p->committed = strata__snapshot_share(p->loaded);
        } else if (p->state == OBJ_DETACHED && p->committed) {
            /* Its row is gone for good: a later rollback must not bring
             * the object back. */
            strata__snapshot_release(p->committed);
            p->committed = NULL;
        }
    }
}

/* The program's transaction the session joined at a commit has ended. */
static void joined_ended(strata__joined *j, bool committed)
{
    strata_session *s = (strata_session *)((char *)j - offsetof(strata_session, joined));
    if (committed) {
        mark_committed(s);
        return;
    }
    /* The handle's error stays the one that ended the transaction.  Objects
     * that could not be put back (out of memory) hold values the database
     * does not: the session refuses other work until a rollback puts them
     * back, as after a failed COMMIT. */
    strata__kept_error e;
    strata__error_keep(&e, s->db);
    if (put_back(s, true) != STRATA_OK)
        s->putback_failed = true; /* said when the session is used next */
    /* A rollback that succeeded leaves no error behind, whatever the
     * session met (the session's next use says it). */
    if (e.code == STRATA_OK)
        strata__db_clear_error(s->db);
    strata__error_put_back(&e, s->db, NULL);
}

static int rollback(strata_session *s, bool reread);

int strata_session_rollback(strata_session *s)
{
    STRATA__CONFINE(s ? s->db : NULL, STRATA_E_MISUSE);
    if (!s)
        return STRATA_E_MISUSE;
    if (s->db->in_unit && strata__session_owns_tx(s))
        return strata__db_unit_rollback_refused(s->db);
    return rollback(s, true);
}

int strata__session_rollback_to_free(strata_session *s) { return rollback(s, false); }

/* `reread`: read again the objects read after the transaction's writes
 * (not for a session about to be freed). */
static int rollback(strata_session *s, bool reread)
{
    if (strata__db_joined(s->db, &s->joined))
        return strata__session_error(s, STRATA_E_MISUSE,
                                     "the session committed inside your transaction, which is "
                                     "still open: roll that back (strata_db_rollback), and the "
                                     "session's objects follow");
    int rc = STRATA_OK;
    if (strata__session_owns_tx(s)) {
        rc = strata_db_rollback(s->db);
        /* Refused (a statement still streaming), or a ROLLBACK that could
         * not run: the transaction and its rows are still there, so the
         * objects stay as they are, and a rollback later puts them back. */
        if (rc != STRATA_OK && strata__session_owns_tx(s))
            return rc;
    }
    /* After a ROLLBACK that failed nothing more runs on the handle: the
     * objects to read again wait for the next rollback. */
    int put = put_back(s, reread && rc == STRATA_OK);
    return rc == STRATA_OK ? put : rc;
}

/* The objects as at the last commit, after the transaction was rolled
 * back: those added since no longer pending, and, when `reread`, those
 * read after the transaction's writes read again (reread_unsure).
 * STRATA_E_NOMEM when some could not be put back (they keep their values,
 * changes to flush). */
static int put_back(strata_session *s, bool reread)
{
    int rc = STRATA_OK;
    bool restored = true;
    s->owns_tx = false;
    strata__savepoints_forget(s);
    s->commit_failed = s->commit_unknown = false;
    s->putback_failed = false;
    s->nm2m = 0;
    s->has_pending = false; /* pending objects become transient below */
    for (size_t i = 0; i < s->nobjs; i++) {
        strata_object *o = s->objs[i];
        struct strata__object *p = o->priv;
        bool unsaved = p->added_in_tx;
        p->stale = false; /* its row is as committed again */
        p->orphan = false;  /* with its parent again */
        if (unsaved) {
            /* Not saved: back to a plain object, without the key the
             * database numbered for it. */
            if (p->state == OBJ_PERSISTENT || p->state == OBJ_DELETED)
                strata__identity_remove(p->mi, o);
            strata__forget_numbered_key(o);
            p->state = OBJ_TRANSIENT;
            p->added_in_tx = p->deleted_in_tx = false;
            strata__snapshot_release(p->loaded);
            p->loaded = NULL;
        }
        strata__forget_related(o); /* after the state: see there */
        if (unsaved)
            continue;
        if (p->committed &&
            (p->state == OBJ_PERSISTENT || p->state == OBJ_DELETED || p->state == OBJ_DETACHED)) {
            /* The key may have changed since the commit: out of the
             * identity map under the new one, back under the old.  The
             * database holds `committed` again, so that is `loaded`; an
             * object whose values cannot be put back (out of memory) keeps
             * them, and they are changes to flush. */
            if (p->state != OBJ_DETACHED)
                strata__identity_remove(p->mi, o);
            p->state = OBJ_PERSISTENT;
            p->deleted_in_tx = false;
            if (strata__restore(o, p->committed) != STRATA_OK)
                restored = false;
            strata__snapshot_release(p->loaded);
            p->loaded = strata__snapshot_share(p->committed);
            if (!strata__identity_put(p->mi, o))
                restored = false;
        }
    }
    if (rc == STRATA_OK && !restored)
        rc = strata__session_error(s, STRATA_E_NOMEM,
                                   "rolled back, but out of memory putting objects back to "
                                   "their committed values");
    /* Objects not put back are left for the next rollback to read. */
    return rc == STRATA_OK && reread ? reread_unsure(s) : rc;
}

/* After a rollback: an object first read after the transaction had
 * changed rows (a flush, a bulk change, raw SQL) may have been given the
 * transaction's own writes as its values at the last commit.  Its row is
 * read again, in a transaction of the session's that then ends; one whose
 * row is gone is detached.  One that cannot be read (or not on this
 * handle: lost, or closing) keeps the flag, and the next rollback tries
 * again. */
static int reread_unsure(strata_session *s)
{
    /* A lost connection, or a handle being closed: nothing runs on it. */
    if (s->db->broken || s->db->closing)
        return STRATA_OK;
    size_t n = 0;
    for (size_t i = 0; i < s->nobjs; i++)
        n += s->objs[i]->priv->unsure && s->objs[i]->priv->state == OBJ_PERSISTENT;
    if (n == 0)
        return STRATA_OK;
    strata_object **again = malloc(n * sizeof *again);
    if (!again)
        return strata__session_error(s, STRATA_E_NOMEM,
                                     "rolled back, but out of memory reading again the objects "
                                     "loaded after the transaction's writes");
    n = 0;
    for (size_t i = 0; i < s->nobjs; i++)
        if (s->objs[i]->priv->unsure && s->objs[i]->priv->state == OBJ_PERSISTENT)
            again[n++] = s->objs[i];
    /* A read-only transaction: on SQLite a deferred BEGIN, which takes
     * no write lock, so a rollback never waits for another writer. */
    int rc = begin_as(s, STRATA_TX_READ_ONLY);
    for (size_t i = 0; i < n && rc == STRATA_OK; i++)
        if ((rc = strata__session_reread(again[i], true)) == STRATA_E_NOT_FOUND)
            rc = STRATA_OK; /* its row was made in the transaction: detached */
    free(again);
    if (rc != STRATA_OK)
        rc = strata__db_error_context(s->db, "rolled back, but reading again the objects "
                                             "loaded after the transaction's writes failed: "
                                             "they may show its values (roll back again)");
    if (strata__session_owns_tx(s)) {
        strata__kept_error e;
        if (rc != STRATA_OK)
            strata__error_keep(&e, s->db);
        strata_db_rollback(s->db); /* it only read */
        if (rc != STRATA_OK)
            strata__error_put_back(&e, s->db, NULL);
    }
    s->owns_tx = false;
    return rc;
}

/* ---- get and refresh --------------------------------------------------- */

static int select_by_key(strata_session *s, strata__minfo *mi, const strata__key key,
                         strata_stmt **out)
{
    /* The text was built with the model's info (minfo_build), so a get
     * costs a statement-cache lookup, not a formatted string. */
    int rc = strata__stmt_prepare_hinted(out, s->db, mi->select_by_key, &mi->by_key);
    if (rc != STRATA_OK)
        return rc;
    rc = mi->pk >= 0 && !key[0]->null ? strata__stmt_bind_int64(*out, 1, key[0]->i)
                                      : strata__key_bind(*out, 1, mi, key);
    if (rc != STRATA_OK) {
        strata__stmt_release(*out);
        *out = NULL;
    }
    return rc;
}

static int get_by_key(strata_session *s, strata__minfo *mi, const strata__key key, void *out)
{
    /* Within one transaction the identity map answers without SQL.  An
     * object from an earlier transaction is read again (and refreshed in
     * place): another connection may have changed the row since. */
    strata_object *o = strata__identity_find_key(mi, key);
    if (o && o->priv->state == OBJ_DELETED)
        return STRATA_E_NOT_FOUND;
    if (o && strata__object_current(o)) {
        *(void **)out = o;
        return STRATA_OK;
    }
    /* Only a pending insert could be the row asked for when no loaded
     * object is.  Flushing only then keeps a loop of gets from comparing
     * every loaded object each time. */
    bool flushed = s->has_pending;
    int rc = flushed ? strata_session_flush(s) : STRATA_OK;
    if (rc == STRATA_OK)
        rc = strata__session_begin(s);
    if (rc != STRATA_OK)
        return rc;
    /* The flush may have written the object asked for (it is current
     * now), or given the one found another key (then it is not the row
     * asked for): the map is asked again.  Without a flush it holds what
     * it held (a transaction begun makes no object current). */
    if (flushed) {
        o = strata__identity_find_key(mi, key);
        if (o && o->priv->state == OBJ_DELETED)
            return STRATA_E_NOT_FOUND;
        if (o && strata__object_current(o)) {
            *(void **)out = o;
            return STRATA_OK;
        }
    }
    strata_stmt *st;
    if ((rc = select_by_key(s, mi, key, &st)) != STRATA_OK)
        return rc;
    strata_object *found = NULL;
    rc = strata__stmt_step(st);
    /* When the map holds no object for an integer key, the row is read
     * into a new one directly; load_new checks that the row's own key is
     * not one the map holds.  (A text key may match a row that reads
     * otherwise, in a column that compares without case: the row's own
     * key is looked up first.) */
    if (rc == STRATA_ROW && !o && mi->pk >= 0 && !key[0]->null)
        rc = load_new(s, mi, st, 0, &key[0]->i, NULL, &found);
    if (rc == STRATA_ROW || (rc == STRATA_OK && !found))
        rc = strata__session_load_row(s, mi, st, 0, false, &found);
    else if (rc == STRATA_DONE)
        rc = STRATA_E_NOT_FOUND;
    strata__stmt_release(st);
    if (rc == STRATA_E_NOT_FOUND && o && o->priv->state == OBJ_PERSISTENT) {
        /* The row is gone, and the object with it.  Inside a savepoint
         * (whose rollback may bring the row back) it is noted first, so
         * that the rollback brings it back too. */
        int noted = strata__savepoint_note(o);
        if (noted != STRATA_OK)
            return noted;
        strata__identity_remove(mi, o);
        o->priv->state = OBJ_DETACHED;
    }
    /* The row of another key that compares equal (see load_new) whose
     * object the program deleted: gone, as it is by its own key. */
    if (rc == STRATA_OK && found->priv->state == OBJ_DELETED)
        rc = STRATA_E_NOT_FOUND;
    if (rc == STRATA_OK)
        *(void **)out = found;
    return rc;
}

int strata__session_reread(strata_object *o, bool rebase)
{
    struct strata__object *p = o->priv;
    if (p->state != OBJ_PERSISTENT || !p->loaded)
        return STRATA_OK;
    strata__cell *committed = rebase ? NULL : strata__snapshot_share(p->committed);
    /* Pending changes are written first, so that the row is read by the
     * key it has then; the key's cells stay those of a snapshot held
     * here while the row is read (reading it replaces `loaded`). */
    int rc = p->mi->s->has_pending ? strata_session_flush(p->mi->s) : STRATA_OK;
    if (rc != STRATA_OK || p->state != OBJ_PERSISTENT || !p->loaded) {
        strata__snapshot_release(committed);
        return rc;
    }
    p->tx_serial = 0; /* not current: get_by_key reads the row */
    strata__cell *held = strata__snapshot_share(p->loaded);
    strata__key key = {0};
    strata__object_key(o, key);
    void *found = NULL;
    rc = get_by_key(p->mi->s, p->mi, key, &found);
    strata__snapshot_release(held);
    if (!rebase) {
        strata__snapshot_release(p->committed);
        p->committed = committed;
    }
    return rc;
}

/* A get's STRATA_E_NOT_FOUND, said; the key is named when it is an
 * integer (`id`), and otherwise not, lest it be something to keep out of
 * logs. */
static __attribute__((noinline)) int not_found(strata_session *s, const strata__minfo *mi,
                                               const int64_t *id)
{
    if (id)
        return strata__session_error(s, STRATA_E_NOT_FOUND, "no %s with the key %lld",
                                     mi->m->name, (long long)*id);
    return strata__session_error(s, STRATA_E_NOT_FOUND, "no %s with the key asked for",
                                 mi->m->name);
}

/* The session's info for a model a get names; NULL with the code in *rc. */
static strata__minfo *get_model(strata_session *s, const strata_model *model, int *rc)
{
    uint64_t mark = s->db->nerrors;
    strata__minfo *mi = strata__minfo_get(s, model);
    if (!mi)
        *rc = strata__db_error_since(s->db, mark, STRATA_E_NOMEM);
    else if (!model->size)
        *rc = strata__session_error(s, STRATA_E_MISUSE, "model %s is an association table",
                                    model->name);
    return *rc == STRATA_OK ? mi : NULL;
}

int strata_get(strata_session *s, const strata_model *model, int64_t id, void *out)
{
    STRATA__CONFINE(s ? s->db : NULL, STRATA_E_MISUSE);
    return strata__get(s, model, id, out, true);
}

int strata__get(strata_session *s, const strata_model *model, int64_t id, void *out, bool say)
{
    if (!out)
        return STRATA_E_MISUSE;
    *(void **)out = NULL;
    if (!s || !model)
        return STRATA_E_MISUSE;
    int rc = STRATA_OK;
    strata__minfo *mi = get_model(s, model, &rc);
    if (!mi)
        return rc;
    if (mi->pk < 0)
        return strata__session_error(s, STRATA_E_MISUSE,
                                     "%s's primary key is not one integer field: use "
                                     "strata_get_key",
                                     model->name);
    strata__cell c = {.i = id};
    strata__key key; /* of one field: only key[0] is read */
    key[0] = &c;
    uint64_t mark = s->db->nerrors;
    /* The whole check only for a key its column cannot hold (a get's
     * path is the hot one). */
    rc = strata__int_fits(mi->kind[mi->pk], id) ? STRATA_OK : strata__key_fits(s, mi, &c, NULL);
    if (rc == STRATA_OK)
        rc = get_by_key(s, mi, key, out);
    /* No such row; a flush's NOT_FOUND (an update whose row is gone) has
     * its own message. */
    if (rc == STRATA_E_NOT_FOUND && say && s->db->nerrors == mark)
        return not_found(s, mi, &id);
    return rc;
}

int strata_get_key(strata_session *s, const strata_model *model, const strata_value *key,
                   size_t nkey, void *out)
{
    STRATA__CONFINE(s ? s->db : NULL, STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *(void **)out = NULL;
    if (!s || !model || (!key && nkey))
        return STRATA_E_MISUSE;
    int rc = STRATA_OK;
    strata__minfo *mi = get_model(s, model, &rc);
    if (!mi)
        return rc;
    strata__cell cells[STRATA__MAX_KEY];
    char lower[STRATA__MAX_KEY][37];
    if ((rc = strata__key_from_values(s, mi, key, nkey, cells)) != STRATA_OK)
        return rc;
    strata__key k;
    for (int i = 0; i < mi->npk; i++)
        k[i] = &cells[i];
    uint64_t mark = s->db->nerrors;
    rc = strata__key_fits(s, mi, cells, lower);
    if (rc == STRATA_OK)
        rc = get_by_key(s, mi, k, out);
    const int64_t *id = mi->pk >= 0 && !cells[0].null ? &cells[0].i : NULL;
    return rc == STRATA_E_NOT_FOUND && s->db->nerrors == mark ? not_found(s, mi, id) : rc;
}

int strata_refresh(void *obj)
{
    STRATA__CONFINE(strata__object_db(obj), STRATA_E_MISUSE);
    strata_object *o = strata__as_object(obj);
    if (!o || o->priv->state != OBJ_PERSISTENT || !o->priv->loaded)
        return STRATA_E_MISUSE;
    strata_session *s = o->priv->mi->s;
    strata__minfo *mi = o->priv->mi;
    /* A refresh that begins the transaction reads the row as committed:
     * those values are what a rollback puts back.  In a transaction
     * already under way, the row may hold its own write, which strata
     * cannot always see (raw SQL on the connection, a trigger): the
     * values at the last commit stay. */
    bool rebase = !strata_db_in_transaction(s->db);
    int rc = strata__session_begin(s);
    strata__key key = {0};
    strata__object_key(o, key);
    strata_stmt *st;
    if (rc == STRATA_OK)
        rc = strata__savepoint_note(o);
    if (rc != STRATA_OK || (rc = select_by_key(s, mi, key, &st)) != STRATA_OK)
        return rc;
    uint64_t mark = s->db->nerrors;
    rc = strata__stmt_step(st);
    int bad = -1;
    strata__cell *was = NULL; /* the values before, should the snapshot fail */
    if (rc == STRATA_ROW && !(was = strata__snapshot(o, false)))
        rc = STRATA_E_NOMEM;
    else if (rc == STRATA_ROW)
        rc = strata__read_row_whole(st, 0, o, &bad); /* o as it was when it fails */
    strata_stmt_finalize(st);
    strata__cell *now = rc == STRATA_OK ? strata__snapshot(o, false) : NULL;
    if (rc == STRATA_OK && !now) {
        strata__restore(o, was);
        rc = STRATA_E_NOMEM;
    }
    if (rc != STRATA_OK)
        strata__snapshot_release(was);
    if (rc == STRATA_DONE) {
        const int64_t *id = mi->pk >= 0 ? &key[0]->i : NULL;
        if (o->priv->state == OBJ_PERSISTENT) {
            /* Another connection deleted the row: the object is gone too. */
            strata__identity_remove(mi, o);
            o->priv->state = OBJ_DETACHED;
        }
        return not_found(s, mi, id);
    }
    if (rc != STRATA_OK)
        return bad >= 0 || rc == STRATA_E_NOMEM ? strata__field_failed(s, mi, bad, rc, mark) : rc;
    strata__cell *before = o->priv->loaded;
    o->priv->loaded = now;
    if (rebase) {
        strata__snapshot_release(o->priv->committed);
        o->priv->committed = strata__snapshot_share(now);
        o->priv->unsure = strata__db_tx_wrote(s->db);
    }
    o->priv->tx_serial = strata__db_tx_serial(s->db);
    o->priv->stale = false;
    /* The relationships go with the values: read again on their next
     * use, and a target set and not flushed is dropped with its key. */
    strata__relation_settle(o, before); /* the row as it was read before */
    strata__snapshot_release(before);
    strata__snapshot_release(was);
    return STRATA_OK;
}
