/*
 * savepoint.c - savepoints through the session: a nested transaction whose
 * rollback takes the session's objects back with the rows.
 *
 * Opening one flushes first, so at that moment every object is what the
 * database holds.  From then on each change the flush sends is recorded
 * in the innermost frame, once per object: the object's state and loaded
 * values just before its first insert, update or delete inside the frame.
 * Rolling the frame back puts recorded objects back as they were (an
 * object first inserted inside it becomes transient again, its database id
 * cleared, so a key the engine numbers anew is never taken for it), and
 * discards what was changed and not flushed since the frame opened.
 * Releasing the frame hands its records to the enclosing frame, which
 * keeps its own older record of an object where it has one.
 */
#include <stdlib.h>
#include <string.h>

#include "orm_internal.h"

static uint64_t frame_bit(int depth) { return (uint64_t)1 << (depth - 1); }

/* Room for `extra` more records in fr; false when out of memory (fr as
 * it was). */
static bool frame_reserve(strata__spframe *fr, size_t extra)
{
    if (fr->n + extra <= fr->cap)
        return true;
    size_t cap = fr->cap ? fr->cap : 16;
    while (cap < fr->n + extra)
        cap *= 2;
    strata__sprecord *r = realloc(fr->recs, cap * sizeof *r);
    if (!r)
        return false;
    fr->recs = r;
    fr->cap = cap;
    return true;
}

static int record(strata_object *o, bool loaded_here)
{
    struct strata__object *p = o->priv;
    strata_session *s = p->mi->s;
    if (s->nframes == 0 || (p->x && (p->x->sp_mask & frame_bit(s->nframes))))
        return STRATA_OK;
    strata__spframe *fr = &s->frames[s->nframes - 1];
    if (!strata__objx_get(o))
        return STRATA_E_NOMEM;
    if (!frame_reserve(fr, 1))
        return strata__session_error(s, STRATA_E_NOMEM, "out of memory");
    fr->recs[fr->n++] = (strata__sprecord){
        .o = o,
        .state = p->state,
        .added_in_tx = p->added_in_tx,
        .stale = p->stale,
        .tx_serial = p->tx_serial,
        .loaded = strata__snapshot_share(p->loaded),
        .loaded_here = loaded_here,
    };
    p->x->sp_mask |= frame_bit(s->nframes);
    return STRATA_OK;
}

int strata__savepoint_note(strata_object *o) { return record(o, false); }

int strata__savepoint_loaded(strata_object *o) { return record(o, true); }

static void frame_clear(strata__spframe *fr, int depth)
{
    for (size_t i = 0; i < fr->n; i++) {
        fr->recs[i].o->priv->x->sp_mask &= ~frame_bit(depth);
        strata__snapshot_release(fr->recs[i].loaded);
    }
    free(fr->recs);
    memset(fr, 0, sizeof *fr);
}

void strata__savepoints_forget(strata_session *s)
{
    while (s->nframes > 0) {
        frame_clear(&s->frames[s->nframes - 1], s->nframes);
        s->nframes--;
    }
}

int strata_session_savepoint(strata_session *s)
{
    STRATA__CONFINE(s ? s->db : NULL, STRATA_E_MISUSE);
    if (!s)
        return STRATA_E_MISUSE;
    if (s->nframes == STRATA__MAX_SAVEPOINTS)
        return strata__session_error(s, STRATA_E_MISUSE,
                                     "savepoints nest %d deep at most in a session",
                                     STRATA__MAX_SAVEPOINTS);
    int rc = strata_session_flush(s);
    if (rc == STRATA_OK)
        rc = strata__session_begin(s);
    if (rc != STRATA_OK)
        return rc;
    if ((rc = strata__db_savepoint(s->db)) != STRATA_OK)
        return rc;
    memset(&s->frames[s->nframes], 0, sizeof s->frames[0]);
    s->frames[s->nframes].db_depth = strata_db_savepoint_depth(s->db);
    s->nframes++;
    return STRATA_OK;
}

/* The session's innermost savepoint, or the error that there is none (or
 * that the connection's savepoints no longer match it). */
static int innermost(strata_session *s)
{
    if (s->nframes == 0)
        return strata__session_error(s, STRATA_E_MISUSE,
                                     "no savepoint is open in the session "
                                     "(strata_session_savepoint opens one)");
    if (strata_db_savepoint_depth(s->db) != s->frames[s->nframes - 1].db_depth)
        return strata__session_error(s, STRATA_E_MISUSE,
                                     "the session's savepoint was ended on its connection "
                                     "directly: roll the session back");
    return STRATA_OK;
}

int strata_session_savepoint_release(strata_session *s)
{
    STRATA__CONFINE(s ? s->db : NULL, STRATA_E_MISUSE);
    if (!s)
        return STRATA_E_MISUSE;
    int rc = innermost(s);
    if (rc == STRATA_OK)
        rc = strata_session_flush(s);
    if (rc != STRATA_OK)
        return rc;
    int d = s->nframes;
    strata__spframe *fr = &s->frames[d - 1];
    strata__spframe *up = d > 1 ? &s->frames[d - 2] : NULL;
    /* The enclosing frame takes the records of objects it has none of:
     * room for them first, so nothing after the release can fail. */
    size_t moving = 0;
    for (size_t i = 0; up && i < fr->n; i++)
        if (!(fr->recs[i].o->priv->x->sp_mask & frame_bit(d - 1)))
            moving++;
    if (up && !frame_reserve(up, moving))
        return strata__session_error(s, STRATA_E_NOMEM, "out of memory");
    if ((rc = strata__db_savepoint_end(s->db, true)) != STRATA_OK)
        return rc;
    for (size_t i = 0; i < fr->n; i++) {
        strata__sprecord *rec = &fr->recs[i];
        struct strata__object *p = rec->o->priv;
        p->x->sp_mask &= ~frame_bit(d);
        if (up && !(p->x->sp_mask & frame_bit(d - 1))) {
            up->recs[up->n++] = *rec;
            p->x->sp_mask |= frame_bit(d - 1);
        } else {
            strata__snapshot_release(rec->loaded);
        }
    }
    free(fr->recs);
    memset(fr, 0, sizeof *fr);
    s->nframes--;
    return STRATA_OK;
}

/* An object back to transient: not in the database, its id cleared (the
 * caller took it out of the identity map). */
static void make_transient(strata_object *o)
{
    struct strata__object *p = o->priv;
    strata__forget_numbered_key(o);
    p->state = OBJ_TRANSIENT;
    p->added_in_tx = p->deleted_in_tx = false;
    strata__snapshot_release(p->loaded);
    p->loaded = NULL;
}

int strata_session_savepoint_rollback(strata_session *s)
{
    STRATA__CONFINE(s ? s->db : NULL, STRATA_E_MISUSE);
    if (!s)
        return STRATA_E_MISUSE;
    int rc = innermost(s);
    if (rc == STRATA_OK)
        rc = strata__db_savepoint_end(s->db, false);
    if (rc != STRATA_OK)
        return rc;
    int d = s->nframes;
    strata__spframe *fr = &s->frames[d - 1];
    bool restored = true;
    /* Every recorded object leaves the identity map first: an object
     * inserted inside the savepoint may hold the key of one coming back. */
    for (size_t i = 0; i < fr->n; i++) {
        struct strata__object *p = fr->recs[i].o->priv;
        if (p->state == OBJ_PERSISTENT || p->state == OBJ_DELETED)
            strata__identity_remove(p->mi, fr->recs[i].o);
    }
    /* Objects changed inside the savepoint (or first loaded there). */
    for (size_t i = 0; i < fr->n; i++) {
        strata__sprecord *rec = &fr->recs[i];
        strata_object *o = rec->o;
        struct strata__object *p = o->priv;
        if (rec->state == OBJ_TRANSIENT || rec->state == OBJ_PENDING || !rec->loaded) {
            make_transient(o);
            continue;
        }
        /* In the database before the savepoint, and not deleted there:
         * its row is back, with the values recorded.  One first loaded
         * inside it is read again below: its row may have been made or
         * changed there. */
        if (strata__restore(o, rec->loaded) != STRATA_OK)
            restored = false;
        strata__snapshot_release(p->loaded);
        p->loaded = rec->loaded;
        rec->loaded = NULL;
        p->state = OBJ_PERSISTENT;
        p->added_in_tx = rec->added_in_tx;
        p->deleted_in_tx = false;
        p->tx_serial = rec->loaded_here ? 0 : rec->tx_serial;
        p->stale = rec->stale;
        if (!strata__identity_put(p->mi, o))
            restored = false;
    }
    /* What was changed since the savepoint and never flushed.  Opening it
     * flushed everything, so each such change is from inside it. */
    for (size_t i = 0; i < s->nobjs; i++) {
        strata_object *o = s->objs[i];
        struct strata__object *p = o->priv;
        if (p->state == OBJ_PENDING) {
            make_transient(o);
        } else if (p->state == OBJ_DELETED) {
            p->state = OBJ_PERSISTENT;
            p->deleted_in_tx = false;
        }
        /* The flush that opened the savepoint left no object in the
         * database marked an orphan: a mark is from inside it. */
        if (p->state == OBJ_PERSISTENT)
            p->orphan = false;
        for (int f = 0; p->state == OBJ_PERSISTENT && p->loaded && f < p->mi->nfields; f++) {
            if (strata__field_changed(o, f, &p->loaded[f])) {
                if (strata__restore(o, p->loaded) != STRATA_OK)
                    restored = false;
                break;
            }
        }
        strata__relation_settle(o, NULL);
    }
    s->nm2m = 0;
    s->has_pending = false;
    /* The objects first loaded inside the savepoint stay so for the
     * enclosing one; then the frame goes. */
    strata__spframe *up = d > 1 ? &s->frames[d - 2] : NULL;
    strata_object **again = calloc(fr->n + 1, sizeof *again);
    size_t nagain = 0;
    if (!again)
        restored = false;
    for (size_t i = 0; i < fr->n; i++) {
        strata__sprecord *rec = &fr->recs[i];
        struct strata__object *p = rec->o->priv;
        if (rec->loaded_here && again)
            again[nagain++] = rec->o;
        p->x->sp_mask &= ~frame_bit(d);
        if (rec->loaded_here && up && !(p->x->sp_mask & frame_bit(d - 1))) {
            if (!frame_reserve(up, 1)) {
                restored = false;
                continue;
            }
            p->x->sp_mask |= frame_bit(d - 1);
            strata__sprecord moved = *rec;
            moved.loaded = strata__snapshot_share(p->loaded);
            up->recs[up->n++] = moved;
        }
        strata__snapshot_release(rec->loaded);
    }
    free(fr->recs);
    memset(fr, 0, sizeof *fr);
    s->nframes--;
    /* Read the rows of objects first loaded inside the savepoint again:
     * one made there is gone (its object leaves the identity map, so the
     * engine may hand its key to another row), one changed there has its
     * values from before. */
    int reread = STRATA_OK;
    for (size_t i = 0; i < nagain && reread == STRATA_OK; i++) {
        int rc1 = strata__session_reread(again[i], true);
        if (rc1 != STRATA_OK && rc1 != STRATA_E_NOT_FOUND)
            reread = rc1;
    }
    free(again);
    if (reread != STRATA_OK)
        return strata__db_error_context(s->db, "rolled back to the savepoint, but reading the "
                                               "objects loaded inside it again failed (roll the "
                                               "session back)");
    if (!restored)
        return strata__session_error(s, STRATA_E_NOMEM,
                                     "rolled back to the savepoint, but out of memory putting "
                                     "objects back: roll the session back");
    return STRATA_OK;
}

int strata_session_savepoint_depth(const strata_session *s) { return s ? s->nframes : 0; }
