/*
 * orm_internal.h - the ORM's private structures, shared by model.c (model
 * descriptors, field values, repr, lists), session.c (objects, identity
 * map, flush / commit / rollback), query.c (conditions, SQL, execution,
 * eager loading) and relation.c (relationships).
 *
 * Conventions for what follows, unless a comment says otherwise:
 *  - an int result is STRATA_OK or a STRATA_E_* code, with the message on
 *    the session's connection (strata__session_error sets it);
 *  - a bool push or put is false only when out of memory, and then left
 *    its container as it was;
 *  - objects belong to their session, which frees them; a pointer to an
 *    object, a model info or a relation is borrowed; texts handed out
 *    (char *) are the caller's to free.
 */
#ifndef STRATA_ORM_INTERNAL_H
#define STRATA_ORM_INTERNAL_H

#include <stdbool.h>

#include "schema_internal.h"
#include "strata/orm.h"

#define STRATA__MAX_KEY 16
#define STRATA__MAX_FIELDS 64 /* a bit each in an object's NULL and change masks */
#define STRATA__MAX_SAVEPOINTS 64 /* a bit each in an object's sp_mask */

/* A model resolved against a session's dialect: names, keys, SQL pieces. */
typedef struct strata__minfo {
    const strata_model *m;
    strata_session *s; /* the session whose it is (its objects' session) */
    bool shared; /* a session's copy: all but the identity map belongs to the
                    connection's cache of resolved models (model.c) */
    char *table;  /* table name */
    char *qtable; /* quoted */
    int nfields;
    int nrels;
    int npk;                  /* primary-key fields */
    int pkf[STRATA__MAX_KEY]; /* their indexes, in declaration order */
    int pk;                   /* the key when it is one int64 field, else -1 */
    bool autoinc;             /* that key is numbered by the database */
    int *maxlen;              /* per field: string(n) n, else 0 */
    int *prec, *scale;        /* per field: numeric(p, s) p and s, else 0 and -1 */
    strata_sqltype *kind;     /* per field: the portable type */
    unsigned char ctypes[STRATA__MAX_FIELDS]; /* per field: its strata_ctype, as the
                                                 driver's row_cells wants them */
    size_t offsets[STRATA__MAX_FIELDS];       /* per field: where the struct holds it */
    uint64_t byte_fields;     /* bit f: field f is a text or a blob */
    int *relfk;               /* per relationship: a many-to-one's key field, else -1 */
    char **qcols;             /* per field: quoted column name */
    char *select;             /* "t.a, t.b, ..." qualified by the quoted table */
    char *select_by_key;      /* SELECT of one row by its key */
    strata__stmt_hint by_key; /* where the statement cache keeps it */
    int rank;                 /* flush order: referenced models first */
    /* identity map: open addressing on the key.  Beside each slot, 32
     * bits of its object's key hash (the bits that pick a slot), so that a
     * probe or a growth reads no object it does not want. */
    strata_object **slots;
    uint32_t *tags; /* in the block of slots, after them */
    size_t nslots;
    size_t nused; /* slots taken, by an object or by a removed one's mark */
    size_t nlive; /* slots holding an object */
} strata__minfo;

/* A field value held apart from the struct (snapshots), 16 bytes.  A
 * cell holds one C type and is read by the field's: i (integers, booleans,
 * timestamps), d, and p (text, NUL-terminated, and blobs: in a snapshot,
 * inside its block or shared with the object) share their storage, so p
 * means something only for those two types (strata__ctype_bytes).  Values
 * longer than STRATA__MAX_BYTES are refused before they become cells
 * (strata__validate_field, strata__cell_from_value). */
#define STRATA__MAX_BYTES 0x7fffffffu
typedef struct strata__cell {
    union {
        int64_t i;
        double d;
        char *p;
    };
    uint32_t len;
    bool null;
    bool held; /* in a snapshot: p is a field's heap text it shares (model.c) */
} strata__cell;

static inline bool strata__ctype_bytes(strata_ctype ct)
{
    return ct == STRATA_C_TEXT || ct == STRATA_C_BLOB;
}

/* A primary key: one cell per key field, borrowed. */
typedef const strata__cell *strata__key[STRATA__MAX_KEY];

enum strata__ostate { OBJ_TRANSIENT, OBJ_PENDING, OBJ_PERSISTENT, OBJ_DELETED, OBJ_DETACHED };

/* An object's cache of one relationship, 24 bytes: a many-to-one is most
 * of them (every post of a loaded user's), and a collection's list lies
 * after the object's caches in their block (strata__rel), so that the
 * others do not carry one. */
typedef struct strata__relcache {
    strata_object *one; /* MANY_TO_ONE / ONE_TO_ONE target */
    strata_list *list;  /* ONE_TO_MANY / MANY_TO_MANY: the collection; else NULL */
    bool loaded;
    bool one_set; /* set through strata_set_related: copy its key at flush */
    bool filling; /* an eager load is filling `list` now */
    bool one_new; /* set while both objects were new: the object is in the target's
                     collection, and added along with it (strata__add_linked) */
} strata__relcache;

_Static_assert(sizeof(void *) != 8 || sizeof(strata__relcache) == 24,
               "a relationship's cache is 24 bytes: most are a loaded post's many-to-one");

struct strata__object {
    strata__minfo *mi;                    /* the session's, which names the session */
    unsigned char state;                  /* enum strata__ostate, in a byte */
    bool in_arena : 1;                    /* its block is the session's (freed with it) */
    bool added_in_tx : 1;                 /* became pending / inserted since the last commit */
    bool deleted_in_tx : 1;               /* deleted since the last commit */
    bool inserted_now : 1, deleted_now : 1; /* what the flush under way did, to undo when it fails */
    bool cascaded_now : 1;                /* marked deleted by its cascade, likewise */
    bool cascade_run : 1;                 /* its delete cascade ran in the flush under way */
    bool evicted_now : 1;                 /* detached: its key went to a new row, likewise */
    bool evicted_deleted : 1;             /* ... when it was marked deleted */
    bool key_numbered : 1; /* its key was numbered by the database at its insert (not the
                              program's): taken back when the insert is undone */
    bool orphan : 1; /* removed from a collection whose relationship deletes orphans: deleted
                        at the next flush unless a parent has it again by then */
    bool stale : 1; /* an ON DELETE rule may have changed its row in this transaction, or a
                       flush wrote some fields of an object of an earlier one: read again
                       at the next use, its values at the last commit kept */
    bool unsure : 1; /* `committed` was read after this transaction changed rows: it may
                        hold the transaction's own writes, so a rollback reads the row again */
    bool linked_new : 1;            /* a many-to-one with a back_populates was set while it and its
                                       target were new (relcache one_new): strata__add_linked */
    uint64_t nulls;                 /* non-pointer fields that are NULL */
    uint64_t tx_serial;             /* transaction `loaded` was read or written in (db.c) */
    strata__cell *loaded;           /* values as the database has them (NULL: not loaded) */
    strata__cell *committed;        /* values at the last commit (NULL: none) */
    struct strata__objx *x;         /* a flush's undo and savepoints' marks (strata__objx_get) */
    strata__relcache *rels;         /* per relationship; made on first use (strata__rel) */
};

_Static_assert(sizeof(void *) != 8 || sizeof(struct strata__object) == 64,
               "an object's bookkeeping is 64 bytes: a post's block is 112, not 128");

/* What only a flush under way or a session savepoint keeps of an object,
 * made at its first need (strata__objx_get): most objects never have one, and
 * their bookkeeping stays 64 bytes. */
typedef struct strata__objx {
    strata__cell *undo; /* `loaded` before the flush under way updated the row */
    uint64_t sp_mask;   /* bit d-1: recorded in the session's savepoint d */
} strata__objx;

/* An object as it was before its first change inside a session savepoint
 * (savepoint.c). */
typedef struct strata__sprecord {
    strata_object *o;
    enum strata__ostate state;
    bool added_in_tx;
    bool stale;
    uint64_t tx_serial;
    strata__cell *loaded; /* a share of the snapshot */
    bool loaded_here;     /* first loaded inside the savepoint */
} strata__sprecord;

typedef struct strata__spframe {
    strata__sprecord *recs;
    size_t n, cap;
    int db_depth; /* the connection's savepoint depth it opened */
} strata__spframe;

/* A pending many-to-many change. */
typedef struct strata__m2m_op {
    const strata_relation *rel;
    strata_object *owner, *target;
    bool add;
} strata__m2m_op;

/* A chunk of the session's arena. */
typedef struct strata__chunk {
    struct strata__chunk *next;
    size_t size, used;
    size_t mapped; /* bytes mapped for it (0: from malloc) */
    max_align_t data[];
} strata__chunk;

struct strata_session {
    strata_db *db;
    strata__chunk *chunks;     /* the arena: objects and their first snapshots */
    const strata__dialect *dl; /* the engine's (NULL: none; standard SQL then) */
    strata_pool *pool;         /* where db came from (strata_session_new_from_pool), or NULL */
    bool owns_tx; /* began the transaction numbered tx_owned (strata__session_owns_tx) */
    uint64_t tx_owned;
    int64_t stmts_at_begin; /* the handle's statement count once it began tx_owned */
    strata__joined joined; /* committed in the program's transaction: told of its end */
    bool read_only;     /* begin STRATA_TX_READ_ONLY and refuse to flush changes */
    bool commit_failed; /* the COMMIT failed: only a rollback may follow */
    bool commit_unknown; /* ...and its outcome is not known (the connection was lost in it) */
    bool putback_failed; /* the program's transaction rolled back, and its objects could not
                            all be put back or read again: only a rollback may follow */
    strata__minfo **models;
    int nmodels;
    strata_object **objs; /* every object the session made */
    size_t nobjs, capobjs;
    strata__m2m_op *m2m;
    size_t nm2m, capm2m;
    bool flushing;
    bool committing;  /* the flush under way is strata_session_commit's, its COMMIT next */
    bool has_pending; /* objects were added since the last flush */
    bool linked_new;  /* some object has `linked_new` (strata__add_linked) */
    strata__spframe frames[STRATA__MAX_SAVEPOINTS]; /* open savepoints, innermost last */
    int nframes;
};

/* ---- model.c ----------------------------------------------------------- */

/* The session's info for `m`, resolving it on first use; NULL with the
 * error on the db when the model is malformed. */
strata__minfo *strata__minfo_get(strata_session *s, const strata_model *m);
void strata__minfo_free(strata__minfo *mi);
/* The index of the field or relationship called `name`; -1 (NULL) when
 * the model has none.  The relationship's index goes to *index when
 * index is not NULL. */
int strata__field_index(const strata__minfo *mi, const char *name);
const strata_relation *strata__relation(const strata__minfo *mi, const char *name, int *index);

/* The connection of the session `obj` belongs to, or NULL when obj is
 * not a session object (for STRATA__CONFINE). */
strata_db *strata__object_db(void *obj);
/* `obj` as a session object, or NULL when it is not one. */
strata_object *strata__as_object(void *obj);
/* Field access on an object. */
void *strata__field_ptr(strata_object *o, int f);
bool strata__field_is_null(strata_object *o, int f);
/* Field f NULL or not (a text or blob set NULL is freed); can't fail. */
void strata__set_null(strata_object *o, int f, bool is_null);
/* Field f of o as a cell whose text or blob bytes are borrowed from it. */
void strata__field_cell(strata_object *o, int f, strata__cell *c);
/* Bind a cell of field f of a model (a date as its day's text), or field
 * f of o, as parameter idx. */
int strata__bind_cell(strata_stmt *st, int idx, const strata__minfo *mi, int f,
                      const strata__cell *c);
/* The midnight (UTC) that begins t's day: a date field's value. */
strata_timestamp strata__date_floor(strata_timestamp t);
int strata__bind_field(strata_stmt *st, int idx, strata_object *o, int f);
/* Read column col of the current row into field f. */
int strata__read_field(strata_stmt *st, int col, strata_object *o, int f);
/* Read every field of o, an object just made (its fields zero), from
 * columns col0.. of the current row, in one pass that also makes o's
 * loaded snapshot (o->priv->loaded).  `key`, when not NULL, is the cell
 * of the integer key's column the caller already read (as
 * strata__stmt_cells gives it, a value), which is not asked again.  On
 * failure *bad_field names the field at fault (-1: memory or the driver)
 * and o's fields may be half read. */
int strata__load_fields(strata_stmt *st, int col0, const strata_cell *key, strata_object *o,
                        int *bad_field);
/* Column col's cell `in` (as strata__stmt_cells made it) into a cell for
 * C type ct; *owned: the cell holds a copy of its own, to free. */
int strata__take_cell(strata_stmt *st, int col, strata_ctype ct, const strata_cell *in,
                      strata__cell *c, bool *owned);
/* Read every field of o from the current row's columns 0.. (no snapshot:
 * for the streaming iterator's object); *bad_field as above. */
int strata__read_fields(strata_stmt *st, strata_object *o, int *bad_field);
int64_t strata__pk(strata_object *o);
/* The integer key of o's row as the database has it: its loaded
 * snapshot's, where the field may hold a change not sent (a deleted
 * object's is never sent); the field's when o has none. */
int64_t strata__row_pk(strata_object *o);

/* Snapshots: an object's field values as one immutable, reference-counted
 * block.  strata__snapshot_share() adds a reference, and
 * strata__snapshot_release() drops one (NULL is fine). */
/* o's values as they are now.  Texts strata allocated for o's fields are
 * shared, not copied (each with one snapshot at a time).  `at_insert`:
 * the snapshot an insert makes, which may go in the session's arena (an
 * object is inserted about once, so the arena does not grow with
 * updates). */
strata__cell *strata__snapshot(strata_object *o, bool at_insert);
strata__cell *strata__snapshot_share(strata__cell *cells);
void strata__snapshot_release(strata__cell *cells);
/* The same when the object goes with its session: a snapshot in the
 * session's arena that holds no field's text needs nothing done. */
void strata__snapshot_drop(strata__cell *cells);
bool strata__field_changed(strata_object *o, int f, const strata__cell *cell);
bool strata__object_changed(strata_object *o);
/* Put a snapshot's values back into o's fields: all of them, or none
 * (STRATA_E_NOMEM, o unchanged; no message set). */
int strata__restore(strata_object *o, const strata__cell *cells);
/* Strings in objects' fields (model.c): allocated with a check value and
 * a tag byte before them, let go of by strata__text_free, which frees a
 * text only its field holds, leaves one a snapshot also holds to the
 * snapshot, and texts in the arena be.  strata__text_alloc has room for
 * len bytes and a NUL (set). */
char *strata__text_alloc(size_t len);
void strata__text_free(char *text);
/* False when field f's text is shared with a snapshot and its bytes were
 * changed in place, which the snapshot cannot see. */
bool strata__text_intact(strata_object *o, int f);
/* Set field f from a cell, copying text and blob bytes; STRATA_E_NOMEM
 * (no message set) leaves the field as it was. */
int strata__set_field(strata_object *o, int f, const strata__cell *c);
/* Read column col of the current row as a cell of C type ct. */
int strata__read_cell(strata_stmt *st, int col, strata_ctype ct, strata__cell *c);
/* The same, the fast way: the common cases take the driver's value as it
 * is (text and blob bytes borrowed until the next step: *owned false);
 * the others go through strata__read_cell, which converts the way the
 * column getters do or reports the type error (bytes copied: *owned
 * true, the caller frees c->p). */
int strata__column_cell(strata_stmt *st, int col, strata_ctype ct, strata__cell *c, bool *owned);
/* The row at col0 read into o's fields whole, or not at all: every column
 * is read into a cell first, so that one that will not convert, or
 * memory running out, leaves o as it was.  *bad: the field that failed
 * (-1: none, or the copy into the fields).  No message set. */
int strata__read_row_whole(strata_stmt *st, int col0, strata_object *o, int *bad);
/* Free the values the object owns (texts, blobs). */
void strata__fields_clear(strata_object *o);

bool strata__list_push(strata_list *l, void *item);
/* Room for `extra` more items, so that the pushes that follow cannot fail. */
bool strata__list_reserve(strata_list *l, size_t extra);
bool strata__list_has(const strata_list *l, const void *item);
void strata__list_remove(strata_list *l, const void *item);

/* ---- session.c --------------------------------------------------------- */

/* Are o's values those of the transaction open now?  False outside a
 * transaction, and for values from an earlier one (they are refreshed on
 * the next get, query or refresh that meets the row). */
bool strata__object_current(const strata_object *o);
/* An insert undone: the key the database numbered for o is taken back (a
 * key the program gave stays, for the insert done again). */
void strata__forget_numbered_key(strata_object *o);
/* n bytes (not zeroed) from the session's arena, which is freed
 * with the session and only then; NULL when out of memory.  Under
 * AddressSanitizer and valgrind each block is fenced: an overrun, or a
 * use after the session is freed, is still caught. */
void *strata__arena_alloc(strata_session *s, size_t n);
/* The same for a block of the library's own, whose types need no more
 * than 8-byte alignment (snapshots, relationship caches): it is not
 * padded to the 16 bytes an object's struct may need, so that a 72-byte
 * snapshot takes 72. */
void *strata__arena_alloc_small(strata_session *s, size_t n);
/* May a snapshot of n bytes go in the arena?  Only a small one (an arena
 * snapshot that is replaced waits for the session's end), and not under
 * AddressSanitizer or valgrind, where a snapshot released early must be
 * reported when it is read, as a malloc'd one is. */
bool strata__arena_for_snapshots(size_t n);
/* An object not registered with the session (the caller frees it with
 * strata__object_free), and the destructor of any object. */
strata_object *strata__object_alloc(strata_session *s, strata__minfo *mi);
/* Relationship ri's cache of o: strata__rel makes the object's caches on
 * first use (NULL: out of memory); strata__rel_peek is NULL until then,
 * which reads as nothing loaded. */
strata__relcache *strata__rel(strata_object *o, int ri);
/* o's strata__objx, made on first use (NULL: out of memory, said on the
 * session), and its undo (NULL when it has none). */
strata__objx *strata__objx_get(strata_object *o);
static inline strata__cell *strata__undo(const struct strata__object *p)
{
    return p->x ? p->x->undo : NULL;
}
static inline strata__relcache *strata__rel_peek(strata_object *o, int ri)
{
    return o->priv->rels ? &o->priv->rels[ri] : NULL;
}
/* c as if nothing were loaded through it (a many-to-one set by the
 * program, one_set, stays). */
static inline void strata__relcache_forget(strata__relcache *c)
{
    c->loaded = false;
    c->one = NULL;
    if (c->list)
        c->list->count = 0;
}
void strata__object_free(strata_object *o);
/* Begin the session's transaction when none is open. */
int strata__session_begin(strata_session *s);
/* The connection's open transaction is the one the session began (not one
 * begun by the caller after the session's own had ended on the handle). */
bool strata__session_owns_tx(const strata_session *s);
/* A new persistent object for a row (or the one already in the identity
 * map): columns col0.. of st's current row.  An object of the identity map
 * is refreshed from the row when its values are from an earlier
 * transaction, or always when `reread` (rows just locked). */
int strata__session_load_row(strata_session *s, strata__minfo *mi, strata_stmt *st, int col0,
                             bool reread, strata_object **out);
/* STRATA_OK, or the error that a session whose COMMIT failed may only
 * be rolled back. */
int strata__session_refuse_after_failed_commit(strata_session *s);
int strata__session_error(strata_session *s, int code, const char *fmt, ...) STRATA_PRINTF(3, 4);
/* strata_get for the library's own use (the caller holds the connection);
 * `say` false: a row not there sets no message (a many-to-one whose
 * target is gone, which is no failure there). */
int strata__get(strata_session *s, const strata_model *model, int64_t id, void *out, bool say);
/* The same, "what: " followed by the driver's message when the connection
 * was given one with this code since `mark` (its nerrors then), else the
 * code's words. */
int strata__session_error_in(strata_session *s, int code, const char *what, uint64_t mark);
/* The session's error for field f of a row (-1: the row) that could not
 * be read, in the words of what failed: "reading Tally.n: <why>". */
int strata__field_failed(strata_session *s, const strata__minfo *mi, int f, int rc, uint64_t mark);
/* Read the row of persistent o again, by the key it was loaded with:
 * its values refreshed, or STRATA_E_NOT_FOUND and o out of the identity
 * map (detached) when the row is gone.  With `rebase` the row is also
 * taken as o's values at the last commit; without, those stay (the row
 * may hold this transaction's writes). */
int strata__session_reread(strata_object *o, bool rebase);
/* strata_session_rollback for a session about to be freed: its objects
 * are not read again. */
int strata__session_rollback_to_free(strata_session *s);
/* Forget what was loaded of o's relationships (the next access loads it)
 * at the end of a transaction, and the many-to-ones set on it with
 * strata_set_related unless its row is not committed (they are the
 * program's, and their keys are copied when it is inserted). */
void strata__forget_related(strata_object *o);

/* ---- flush.c ----------------------------------------------------------- */

/* Check field f of o as a flush would before writing it (NOT NULL,
 * length; numeric, uuid and json text, which may be rewritten in
 * canonical form); `insert` when a default may fill a NULL. */
int strata__validate_field(strata_object *o, int f, bool insert);

/* ---- savepoint.c ------------------------------------------------------- */

/* Call before the flush inserts, updates or deletes o's row (or an upsert
 * writes it): inside a session savepoint, records o as it is, once per
 * savepoint.  STRATA_E_NOMEM (set on the session) when it cannot. */
int strata__savepoint_note(strata_object *o);
/* Call when a row becomes a new object inside a session savepoint: its
 * rollback reads the row again (it may have been made or changed there).
 * STRATA_E_NOMEM (set on the session) when it cannot record it. */
int strata__savepoint_loaded(strata_object *o);
/* Drop every savepoint record: the transaction ended.  Can't fail. */
void strata__savepoints_forget(strata_session *s);

/* ---- identity.c -------------------------------------------------------- */

bool strata__is_key_field(const strata__minfo *mi, int f);
/* A persistent object's key, from its loaded snapshot. */
void strata__object_key(strata_object *o, strata__key key);
/* An object's key from its fields as they are now (cells borrow them). */
void strata__fields_key(strata_object *o, strata__cell *cells, strata__key key);
uint64_t strata__key_hash(const strata__minfo *mi, const strata__key key);
bool strata__key_eq(const strata__minfo *mi, const strata__key a, const strata__key b);
strata_object *strata__identity_find_key(strata__minfo *mi, const strata__key key);
/* For a model whose key is one integer (mi->pk >= 0); NULL otherwise. */
strata_object *strata__identity_find(strata__minfo *mi, int64_t id);
/* The object must have its loaded snapshot. */
bool strata__identity_put(strata__minfo *mi, strata_object *o);
void strata__identity_remove(strata__minfo *mi, strata_object *o);
/* "k1 = ? AND k2 = ?", each column prefixed by the table when qualified. */
void strata__key_where(strata__sb *sb, const strata__minfo *mi, bool qualified);
int strata__key_bind(strata_stmt *st, int idx, const strata__minfo *mi, const strata__key key);
/* "1" or "(1, 'x')", for messages. */
void strata__key_text(strata__sb *sb, const strata__minfo *mi, const strata__key key);
/* A caller's value as a cell of field fd's C type (text and blob bytes
 * borrowed from it); false when its type does not fit the field's (SQL
 * NULL included: the caller handles it). */
bool strata__cell_from_value(const strata_field *fd, const strata_value *v, strata__cell *c);
/* "an integer", "a text", ...: for messages. */
const char *strata__ctype_name(strata_ctype ct);
/* Whether a key from the caller can name a row, decided before any SQL
 * so that PostgreSQL's refusal does not abort the transaction: an integer
 * past its column's range on an engine that keeps to it names none
 * (STRATA_E_NOT_FOUND, no message set), and a uuid key that is no UUID
 * is refused as a query's condition is (STRATA_E_DATA).  A uuid key's
 * text is put in lower case, as it is written, into lower[k], which the
 * cell then points at. */
int strata__key_fits(strata_session *s, const strata__minfo *mi, strata__cell *cells,
                     char (*lower)[37]);
/* Whether v is in the range of an integer column of `kind` (any other
 * kind: yes). */
static inline bool strata__int_fits(strata_sqltype kind, int64_t v)
{
    int64_t lim = kind == STRATA_SQL_SMALLINT  ? INT16_MAX
                  : kind == STRATA_SQL_INTEGER ? INT32_MAX
                                               : INT64_MAX;
    return v <= lim && v >= -lim - 1;
}
/* The caller's key values as cells (text borrowed from the values);
 * STRATA_E_MISUSE naming the field when one does not fit. */
int strata__key_from_values(strata_session *s, const strata__minfo *mi, const strata_value *v,
                            size_t n, strata__cell *cells);

/* ---- relation.c -------------------------------------------------------- */

/* Eager loading: fill relationship `rel` of the n objects of model mi
 * with as few queries as the batch plan allows (targets already in the
 * identity map are not read again).  `whole_table` when the objects are
 * every row of mi's table, as a query without conditions, joins, limit or
 * offset read them: a collection's children then come from one query
 * without key lists.  STRATA_E_MISUSE for a relationship mi does not
 * have. */
int strata__relation_load_many(strata_session *s, strata__minfo *mi, const char *rel,
                               strata_object **objs, size_t n, bool whole_table);
/* Cascades and association rows before `o` is deleted. */
int strata__relation_before_delete(strata_object *o);
/* Mark the children of a deleted object deleted where its relationships
 * cascade; *changed when any was. */
int strata__relation_cascade(strata_object *o, bool *changed);
/* After a failed flush: a key field the flush copied from a target whose
 * insert it undid holds that key no more (the row's value, or 0). */
void strata__relation_unfix_keys(strata_object *o);
/* Copy keys of targets set with strata_set_related into `o`. */
void strata__relation_fix_keys(strata_object *o);
/* Whether o, removed from a collection that deletes orphans, still has no
 * parent through such a relationship (its key, or a parent set since). */
bool strata__relation_orphaned(strata_object *o);
/* STRATA_E_MISUSE, with the message, when a many-to-one set on o names an
 * object no flush can give a key: transient (never added, or rolled back)
 * or detached (its delete committed).  Its key would keep the value it
 * had, which after a rollback may be another row's. */
int strata__relation_check_targets(strata_object *o);
/* Objects not added whose many-to-one was set while both were new, to an
 * object added since: added along, as the target's collection holds
 * them (flush.c, at each flush). */
int strata__add_linked(strata_session *s);
/* Whether o's one-to-one ri holds a child not saved either that the
 * program linked to o: kept through a rollback, as the child's side is
 * (strata__forget_related). */
bool strata__linked_one_to_one(strata_object *o, int ri);
/* o deleted before its insert: no longer added along (strata_delete). */
void strata__unlink_new(strata_object *o);
/* After o's values were put back or read again (a savepoint's rollback, a
 * bulk change, a refresh, an upsert): what was loaded of its
 * relationships is forgotten, and of the many-to-ones set on it those its
 * key fields no longer agree with are dropped (o leaves the target's
 * loaded collection, and the collection of the row its key names loads
 * again); those that agree stay, flushed as they are, and an object not
 * in the database keeps them all.  `was`, when not NULL, holds o's values
 * before: o also leaves the loaded collection of the row its key named
 * then. */
void strata__relation_settle(strata_object *o, const strata__cell *was);
/* o, a transient object no flush will insert (the one strata_upsert was
 * given, when the row was another object's), out of every collection its
 * settings put it in, and its settings forgotten. */
void strata__relation_let_go(strata_object *o);
/* Refuses, before any SQL, a pending many-to-many change whose object at
 * either end is not in the database and will not be inserted. */
int strata__m2m_check(strata_session *s);
/* Write the association rows added and removed since the last flush, in
 * the order they were made; stops at the first failure (the flush's
 * transaction is then failed, and its rollback restores the lists). */
int strata__m2m_flush(strata_session *s);

/* ---- query.c ----------------------------------------------------------- */

/* The session's models whose rows a delete of mi's can reach through the
 * database's ON DELETE rules: cascades followed as far as they go, and
 * the rows they set NULL or to their default.  A flag per session model
 * (mi's own only when a rule of its own reaches it), to free; NULL when
 * out of memory. */
bool *strata__reached_by_deletes(strata_session *s, strata__minfo *mi);

/* A query for a relationship's targets of one object; a `live` one (the
 * program's) names the object's key as it is each time it runs. */
strata_query *strata__query_for_relation(strata_object *o, const strata_relation *r, bool live);

#endif
