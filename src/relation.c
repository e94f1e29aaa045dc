/*
 * relation.c - relationships: lazy loading on access, eager loading in
 * batches for queries (at most 500 keys per IN list, or one query when the
 * parents are every row of their table), setting many-to-one
 * targets with back_populates kept in step, collection add / remove
 * (association rows for many-to-many), delete cascades.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orm_internal.h"

#define IN_CHUNK 500

static const strata_relation *find(strata_object *o, const char *rel, int *ri)
{
    const strata_relation *r = strata__relation(o->priv->mi, rel, ri);
    if (!r)
        strata__session_error(o->priv->mi->s, STRATA_E_MISUSE, "%s has no relationship %s",
                              o->model->name, rel ? rel : "(null)");
    return r;
}

/* The target model's relationship that mirrors `r` (back_populates). */
static const strata_relation *mirror(strata_session *s, const strata_relation *r, int *mi_out)
{
    if (!r->back_populates)
        return NULL;
    strata__minfo *ti = strata__minfo_get(s, r->target);
    return ti ? strata__relation(ti, r->back_populates, mi_out) : NULL;
}

/* Is o's row in the database, so its related rows can be asked for?  A
 * deleted object's row is there until the flush (which cascades first). */
static bool has_key(strata_object *o)
{
    return (o->priv->state == OBJ_PERSISTENT || o->priv->state == OBJ_DELETED) &&
           o->priv->mi->pk >= 0;
}

/* Whether the session inserts or keeps o: what it points at is saved too. */
static bool saved_by_session(const strata_object *o)
{
    return o->priv->state == OBJ_PENDING || o->priv->state == OBJ_PERSISTENT;
}

/* ---- loading ----------------------------------------------------------- */

static bool m2m_same_row(const strata__m2m_op *op, const strata_relation *r,
                         const strata_object *owner, const strata_object *target);

/* The objects a many-to-many change not yet flushed links to o through
 * r, from either side, into rc's list. */
static int links_in_memory(strata_object *o, const strata_relation *r, strata__relcache *rc)
{
    strata_session *s = o->priv->mi->s;
    for (size_t i = 0; i < s->nm2m; i++) {
        const strata__m2m_op *op = &s->m2m[i];
        strata_object *t = !op->add                             ? NULL
                           : m2m_same_row(op, r, o, op->target) ? op->target
                           : m2m_same_row(op, r, o, op->owner)  ? op->owner
                                                                : NULL;
        if (!t || (t->priv->state != OBJ_PENDING && t->priv->state != OBJ_PERSISTENT))
            continue;
        if (!strata__list_has(rc->list, t) && !strata__list_push(rc->list, t))
            return strata__session_error(s, STRATA_E_NOMEM, "out of memory");
    }
    return STRATA_OK;
}

/* The pending and persistent objects of the session that r relates to o
 * without the database: those whose many-to-one on one-to-many r's key
 * was set to o, or a many-to-many's links not flushed yet; into rc's
 * list.  A parent not inserted yet has no rows to ask for. */
static int children_in_memory(strata_object *o, const strata_relation *r, strata__relcache *rc)
{
    strata_session *s = o->priv->mi->s;
    if (r->kind == STRATA_MANY_TO_MANY)
        return links_in_memory(o, r, rc);
    if ((r->kind != STRATA_ONE_TO_MANY && r->kind != STRATA_ONE_TO_ONE) || !r->fk)
        return STRATA_OK;
    for (size_t i = 0; i < s->nobjs; i++) {
        strata_object *t = s->objs[i];
        int st = t->priv->state;
        /* A new child linked while both were new is o's too (one_new). */
        bool linked = st == OBJ_TRANSIENT && t->priv->linked_new;
        if (t->model != r->target || (st != OBJ_PENDING && st != OBJ_PERSISTENT && !linked))
            continue;
        const strata__minfo *ti = t->priv->mi;
        int fk = strata__field_index(ti, r->fk);
        for (int ri = 0; fk >= 0 && ri < ti->nrels; ri++) {
            const strata__relcache *c = ti->relfk[ri] == fk ? strata__rel_peek(t, ri) : NULL;
            if (!c || !c->one_set || c->one != o || (linked && !c->one_new))
                continue;
            if (!strata__list_has(rc->list, t) && !strata__list_push(rc->list, t))
                return strata__session_error(s, STRATA_E_NOMEM, "out of memory");
            break;
        }
    }
    return STRATA_OK;
}

static int load_collection(strata_object *o, const strata_relation *r, strata__relcache *rc)
{
    if (rc->loaded || !rc->list) /* loaded, or a one-to-one's (strata_related's) */
        return STRATA_OK;
    if (!has_key(o)) {
        /* Nothing in the database yet: the children are those of the
         * session that name o through their many-to-one. */
        int err = children_in_memory(o, r, rc);
        if (err == STRATA_OK)
            rc->loaded = true;
        return err;
    }
    uint64_t mark = o->priv->mi->s->db->nerrors;
    strata_query *q = strata__query_for_relation(o, r, false);
    if (!q)
        return strata__db_error_since(o->priv->mi->s->db, mark, STRATA_E_NOMEM);
    strata_list *l;
    int err = strata_query_all(q, &l);
    strata_query_free(q);
    if (err != STRATA_OK)
        return err;
    /* Keep targets added before the load that are not saved yet. */
    for (size_t i = 0; i < rc->list->count && err == STRATA_OK; i++)
        if (!strata__list_has(l, rc->list->items[i]) && !strata__list_push(l, rc->list->items[i]))
            err = strata__session_error(o->priv->mi->s, STRATA_E_NOMEM, "out of memory");
    if (err != STRATA_OK) { /* not loaded: the next access tries again */
        strata_list_free(l);
        return err;
    }
    free(rc->list->items);
    *rc->list = *l;
    free(l);
    rc->loaded = true;
    return err;
}

int strata_related(void *obj, const char *rel, void *out)
{
    STRATA__CONFINE(strata__object_db(obj), STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *(void **)out = NULL;
    strata_object *o = strata__as_object(obj);
    int ri;
    const strata_relation *r = o ? find(o, rel, &ri) : NULL;
    if (!r)
        return STRATA_E_MISUSE;
    strata__relcache *c = strata__rel(o, ri);
    if (!c)
        return STRATA_E_NOMEM;
    if (c->loaded) {
        *(void **)out = c->one;
        return STRATA_OK;
    }
    strata_session *s = o->priv->mi->s;
    int rc = STRATA_OK;
    if (r->kind == STRATA_MANY_TO_ONE) {
        int fk = strata__field_index(o->priv->mi, r->fk);
        if (fk < 0)
            return strata__session_error(s, STRATA_E_SCHEMA, "relationship %s.%s: no field %s",
                                         o->model->name, r->name, r->fk ? r->fk : "(null)");
        if (!strata__field_is_null(o, fk)) {
            rc = strata__get(s, r->target, *(int64_t *)strata__field_ptr(o, fk), &c->one, false);
            if (rc == STRATA_E_NOT_FOUND)
                rc = STRATA_OK;
        }
    } else if (r->kind == STRATA_ONE_TO_ONE) {
        if (has_key(o)) {
            uint64_t mark = s->db->nerrors;
            strata_query *q = strata__query_for_relation(o, r, false);
            rc = q ? strata_query_first(q, &c->one)
                   : strata__db_error_since(s->db, mark, STRATA_E_NOMEM);
            strata_query_free(q);
        } else {
            /* Not in the database yet: the object of the session whose
             * many-to-one names o, if one does. */
            strata_list found = {0};
            strata__relcache mem = {.list = &found};
            rc = children_in_memory(o, r, &mem);
            c->one = rc == STRATA_OK && found.count ? found.items[0] : NULL;
            free(found.items);
        }
    } else {
        return strata__session_error(s, STRATA_E_MISUSE,
                                     "%s.%s is a collection: use strata_related_list",
                                     o->model->name, r->name);
    }
    if (rc != STRATA_OK)
        return rc;
    c->loaded = true;
    *(void **)out = c->one;
    return STRATA_OK;
}

static __attribute__((noinline)) int not_a_collection(strata_object *o, const strata_relation *r)
{
    return strata__session_error(o->priv->mi->s, STRATA_E_MISUSE,
                                 "%s.%s is not a collection: use strata_related", o->model->name,
                                 r->name);
}

int strata_related_list(void *obj, const char *rel, const strata_list **out)
{
    STRATA__CONFINE(strata__object_db(obj), STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    strata_object *o = strata__as_object(obj);
    int ri;
    const strata_relation *r = o ? find(o, rel, &ri) : NULL;
    if (!r)
        return STRATA_E_MISUSE;
    if (r->kind != STRATA_ONE_TO_MANY && r->kind != STRATA_MANY_TO_MANY)
        return not_a_collection(o, r);
    strata__relcache *c = strata__rel(o, ri);
    int rc = c ? load_collection(o, r, c) : STRATA_E_NOMEM;
    if (rc == STRATA_OK)
        *out = c->list;
    return rc;
}

strata_query *strata_related_query(void *obj, const char *rel)
{
    strata_object *o = strata__as_object(obj);
    const strata_relation *r = o ? find(o, rel, NULL) : NULL;
    return r ? strata__query_for_relation(o, r, true) : NULL;
}

/* ---- eager loading ----------------------------------------------------- */

static int load_targets_by_key(strata_session *s, strata__minfo *ti, int64_t *keys, size_t n)
{
    for (size_t start = 0; start < n; start += IN_CHUNK) {
        size_t m = n - start < IN_CHUNK ? n - start : IN_CHUNK;
        strata_value *vals = malloc(m * sizeof *vals);
        if (!vals)
            return STRATA_E_NOMEM;
        for (size_t i = 0; i < m; i++)
            vals[i] = strata_int(keys[start + i]);
        strata_query *q = strata_query_new(s, ti->m);
        strata_list *l = NULL;
        int rc = q ? strata_query_filter(q, strata_c_in(ti->m->fields[ti->pk].name, vals, m))
                   : STRATA_E_NOMEM;
        free(vals);
        if (rc == STRATA_OK)
            rc = strata_query_all(q, &l);
        strata_query_free(q);
        strata_list_free(l);
        if (rc != STRATA_OK)
            return rc;
    }
    return STRATA_OK;
}

/* The children of relationship r (a collection of model mi's) for the
 * parents keys[0..m), or for every row of mi's table when keys is NULL,
 * each pushed to its parent's list when that list is being filled. */
static int load_children(strata_session *s, strata__minfo *mi, const strata_relation *r, int ri,
                         strata__minfo *ti, const int64_t *keys, size_t m)
{
    strata__sb sb;
    strata__sb_init(&sb);
    if (r->kind == STRATA_MANY_TO_MANY) {
        strata__minfo *si = strata__minfo_get(s, r->secondary);
        int lk = si ? strata__field_index(si, r->local_key) : -1;
        int rk = si ? strata__field_index(si, r->remote_key) : -1;
        if (lk < 0 || rk < 0)
            return STRATA_E_SCHEMA;
        strata__sb_printf(&sb, "SELECT %s.%s, %s FROM %s JOIN %s ON %s.%s = %s.%s", si->qtable,
                          si->qcols[lk], ti->select, ti->qtable, si->qtable, si->qtable,
                          si->qcols[rk], ti->qtable, ti->qcols[ti->pk]);
        if (keys)
            strata__sb_printf(&sb, " WHERE %s.%s IN (", si->qtable, si->qcols[lk]);
    } else {
        int fk = strata__field_index(ti, r->fk);
        if (fk < 0)
            return STRATA_E_SCHEMA;
        strata__sb_printf(&sb, "SELECT %s.%s, %s FROM %s WHERE %s.%s ", ti->qtable, ti->qcols[fk],
                          ti->select, ti->qtable, ti->qtable, ti->qcols[fk]);
        strata__sb_puts(&sb, keys ? "IN (" : "IS NOT NULL");
    }
    for (size_t i = 0; keys && i < m; i++)
        strata__sb_puts(&sb, i ? ", ?" : "?");
    if (keys)
        strata__sb_putc(&sb, ')');
    if (r->order_by) {
        const char *of = r->order_by[0] == '-' ? r->order_by + 1 : r->order_by;
        int f = strata__field_index(ti, of);
        bool desc = r->order_by[0] == '-';
        if (f >= 0)
            strata__sb_printf(&sb, " ORDER BY %s.%s %s", ti->qtable, ti->qcols[f],
                              desc ? "DESC" : "ASC");
        /* NULLs last ascending and first descending, as the lazy load's
         * query sorts them (and PostgreSQL does by itself). */
        if (f >= 0 && s->dl && s->dl->nulls_first && f != ti->pk &&
            (ti->m->fields[f].flags & STRATA_NULLABLE))
            strata__sb_puts(&sb, desc ? " NULLS FIRST" : " NULLS LAST");
        /* Rows of equal values in the order of their key, as the lazy
         * load sorts them (strata__query_for_relation). */
        if (f >= 0 && ti->pk >= 0 && f != ti->pk)
            strata__sb_printf(&sb, ", %s.%s ASC", ti->qtable, ti->qcols[ti->pk]);
    }
    char *sql = strata__sb_take(&sb);
    strata_stmt *st = NULL;
    int rc = sql ? strata_stmt_prepare(&st, s->db, sql) : STRATA_E_NOMEM;
    free(sql);
    for (size_t i = 0; keys && rc == STRATA_OK && i < m; i++)
        rc = strata_stmt_bind_int64(st, (int)i + 1, keys[i]);
    while (rc == STRATA_OK && (rc = strata__stmt_step(st)) == STRATA_ROW) {
        strata__cell parent;
        bool owned;
        strata_object *child;
        if ((rc = strata__column_cell(st, 0, STRATA_C_INT64, &parent, &owned)) != STRATA_OK)
            break;
        rc = strata__session_load_row(s, ti, st, 1, false, &child);
        strata_object *p =
            rc == STRATA_OK && !parent.null ? strata__identity_find(mi, parent.i) : NULL;
        if (owned)
            free(parent.p);
        strata__relcache *c = p ? strata__rel_peek(p, ri) : NULL;
        if (!c || !c->filling)
            continue;
        if (!c->list) { /* a one-to-one: its first row, as strata_related takes */
            if (!c->one)
                c->one = child;
        } else if (!strata__list_push(c->list, child)) {
            rc = STRATA_E_NOMEM;
        }
    }
    if (rc == STRATA_DONE)
        rc = STRATA_OK;
    strata_stmt_finalize(st);
    return rc;
}

int strata__relation_load_many(strata_session *s, strata__minfo *mi, const char *rel,
                               strata_object **objs, size_t n, bool whole_table)
{
    int ri;
    const strata_relation *r = strata__relation(mi, rel, &ri);
    strata__minfo *ti = r ? strata__minfo_get(s, r->target) : NULL;
    if (!ti || n == 0)
        return ti ? STRATA_OK : STRATA_E_MISUSE;
    int64_t *keys = malloc(n * sizeof *keys);
    if (!keys)
        return STRATA_E_NOMEM;
    size_t nk = 0;
    int rc = STRATA_OK;
    if (r->kind == STRATA_MANY_TO_ONE) {
        int fk = strata__field_index(mi, r->fk);
        for (size_t i = 0; fk >= 0 && i < n; i++) {
            if (strata__field_is_null(objs[i], fk))
                continue;
            int64_t k = *(int64_t *)strata__field_ptr(objs[i], fk);
            strata_object *held = strata__identity_find(ti, k);
            if (!held || !strata__object_current(held))
                keys[nk++] = k;
        }
        rc = load_targets_by_key(s, ti, keys, nk);
        for (size_t i = 0; fk >= 0 && rc == STRATA_OK && i < n; i++) {
            strata__relcache *c = strata__rel(objs[i], ri);
            if (!c) {
                rc = STRATA_E_NOMEM;
                break;
            }
            c->one = strata__field_is_null(objs[i], fk)
                         ? NULL
                         : strata__identity_find(ti, *(int64_t *)strata__field_ptr(objs[i], fk));
            c->loaded = true;
        }
        free(keys);
        return rc;
    }
    /* Collections and one-to-ones: every parent's list (or one) starts
     * empty, then the children found go to their parent (only to those
     * being filled: a parent loaded before keeps what it holds). */
    for (size_t i = 0; i < n && rc == STRATA_OK; i++) {
        strata__relcache *c = strata__rel(objs[i], ri);
        if (!c) {
            rc = STRATA_E_NOMEM;
            break;
        }
        if (c->loaded || c->filling || !has_key(objs[i]))
            continue;
        if (c->list)
            c->list->count = 0;
        else
            c->one = NULL;
        c->filling = true;
        keys[nk++] = strata__pk(objs[i]);
    }
    /* Every row of the table: the children of all, in one query. */
    if (whole_table && nk && rc == STRATA_OK)
        rc = load_children(s, mi, r, ri, ti, NULL, 0);
    for (size_t at = 0; !whole_table && rc == STRATA_OK && at < nk; at += IN_CHUNK)
        rc = load_children(s, mi, r, ri, ti, keys + at, nk - at < IN_CHUNK ? nk - at : IN_CHUNK);
    for (size_t i = 0; i < n; i++) {
        strata__relcache *c = strata__rel_peek(objs[i], ri);
        if (!c)
            continue;
        if (c->filling && rc == STRATA_OK)
            c->loaded = true;
        c->filling = false;
    }
    free(keys);
    return rc;
}

/* ---- changing relationships -------------------------------------------- */

static void set_key(strata_object *o, int fk, strata_object *target)
{
    if (target && has_key(target)) {
        *(int64_t *)strata__field_ptr(o, fk) = strata__pk(target);
        strata__set_null(o, fk, false);
    } else if (!target) {
        strata__set_null(o, fk, true);
    }
}

bool strata__relation_orphaned(strata_object *o)
{
    strata__minfo *mi = o->priv->mi;
    strata_session *s = o->priv->mi->s;
    for (int m = 0; m < s->nmodels; m++)
        for (const strata_relation *r = s->models[m]->m->relations; r && r->name; r++) {
            if (r->kind != STRATA_ONE_TO_MANY || r->target != o->model || !r->fk ||
                !(r->cascade & STRATA_CASCADE_DELETE_ORPHAN))
                continue;
            int fk = strata__field_index(mi, r->fk);
            if (fk < 0)
                continue;
            /* A parent set through the child's many-to-one on that key
             * (perhaps not inserted yet, so not in the key), else the key. */
            bool set = false, linked = false;
            for (int ri = 0; ri < mi->nrels && !set; ri++) {
                const strata__relcache *c = mi->relfk[ri] == fk ? strata__rel_peek(o, ri) : NULL;
                if (c && c->one_set)
                    set = true, linked = c->one != NULL;
            }
            if (!set)
                linked = !strata__field_is_null(o, fk);
            if (!linked)
                return true;
        }
    return false;
}

void strata__relation_unfix_keys(strata_object *o)
{
    struct strata__object *p = o->priv;
    strata__minfo *mi = p->mi;
    for (int r = 0; p->rels && r < mi->nrels; r++) {
        const strata__relcache *c = &p->rels[r];
        int fk = mi->relfk[r];
        if (fk < 0 || !c->one_set || !c->one || has_key(c->one))
            continue;
        /* The key the target's undone insert gave: the row's as read,
         * NULL included (an object of the database), else none yet. */
        const strata__cell *row = p->state == OBJ_PERSISTENT && p->loaded ? &p->loaded[fk] : NULL;
        *(int64_t *)strata__field_ptr(o, fk) = row && !row->null ? row->i : 0;
        strata__set_null(o, fk, row && row->null);
    }
}

void strata__relation_fix_keys(strata_object *o)
{
    strata__minfo *mi = o->priv->mi;
    for (int r = 0; r < mi->nrels; r++) {
        strata__relcache *c = strata__rel_peek(o, r);
        int fk = mi->relfk[r];
        if (fk >= 0 && c && c->one_set)
            set_key(o, fk, c->one);
    }
}

/* The loaded cache of `parent` that mirrors o's many-to-one through
 * mirror index mri (a collection, or a one-to-one's object), or NULL. */
static strata__relcache *loaded_mirror(strata_object *parent, int mri)
{
    strata__relcache *c = parent ? strata__rel_peek(parent, mri) : NULL;
    return c && c->loaded ? c : NULL;
}

/* o out of mirror cache c. */
static void mirror_drop(strata__relcache *c, strata_object *o, bool scalar)
{
    if (!scalar && c->list)
        strata__list_remove(c->list, o);
    else if (scalar && c->one == o)
        c->one = NULL;
}

/* The next relationship, from index k on, of the model ti resolves that
 * holds o's model by o's key field `fk` (a collection, or a one-to-one:
 * the many-to-one's back_populates, and any other on the same key); -1
 * when there is none. */
static int next_holder(const strata__minfo *ti, const strata_object *o, const char *fk, int k)
{
    for (; k < ti->nrels; k++) {
        const strata_relation *h = &ti->m->relations[k];
        if ((h->kind == STRATA_ONE_TO_MANY || h->kind == STRATA_ONE_TO_ONE) &&
            h->target == o->model && h->fk && strcmp(h->fk, fk) == 0)
            return k;
    }
    return -1;
}

/* What parent (of ti's model, or NULL) has loaded through o's key field
 * fk, made to agree with whether parent `holds` o now: without it, o
 * leaves its collections, and a one-to-one that held o reads again on
 * its next use; holding it, what was loaded without o reads again, o in
 * it. */
static void holders_follow(const strata__minfo *ti, strata_object *parent, strata_object *o,
                           const char *fk, bool holds)
{
    if (!parent || !parent->priv->rels)
        return; /* nothing of it loaded (the common case: no search) */
    for (int k = next_holder(ti, o, fk, 0); k >= 0; k = next_holder(ti, o, fk, k + 1)) {
        strata__relcache *h = loaded_mirror(parent, k);
        bool one = ti->m->relations[k].kind == STRATA_ONE_TO_ONE;
        if (!h || holds == (one ? h->one == o : strata__list_has(h->list, o)))
            continue;
        if (!holds && !one)
            strata__list_remove(h->list, o);
        else if (!one && !has_key(parent) && strata__list_push(h->list, o))
            continue; /* not in the database: read again, it would hold only saved objects */
        else
            strata__relcache_forget(h);
    }
}

void strata__relation_settle(strata_object *o, const strata__cell *was)
{
    struct strata__object *p = o->priv;
    /* An object not in the database keeps its settings whatever its key
     * fields hold: they are copied again at its insert. */
    bool unsaved = p->state == OBJ_TRANSIENT || p->state == OBJ_PENDING;
    for (int r = 0; r < p->mi->nrels; r++) {
        strata__relcache *c = p->rels ? &p->rels[r] : NULL;
        const strata_relation *rel = &p->mi->m->relations[r];
        int fk = p->mi->relfk[r];
        /* What the program set, or what was loaded: either is wrong once
         * the key names another row. */
        strata_object *t = c && (c->one_set || c->loaded) ? c->one : NULL;
        if (t && unsaved && c->one_set)
            continue;
        bool null = fk < 0 || strata__field_is_null(o, fk);
        int64_t key = null ? 0 : *(int64_t *)strata__field_ptr(o, fk);
        if (t && !null && has_key(t) && key == strata__pk(t))
            continue; /* the key says what the setting says */
        /* o leaves what the target it was set to or loaded with holds of
         * it, and, when its values before are known, what the row its key
         * named then holds (a collection loaded without o's many-to-one);
         * what the row its key names now holds without o loads again
         * (strata_set_related took o out of it).  Not for an object whose
         * many-to-one was never set or loaded and whose values before are
         * not known: a rollback or a bulk change settles every object,
         * and looking each one up in its parent's list would cost as many
         * steps as the list is long. */
        strata__minfo *ti = fk >= 0 && rel->fk && (t || was) && (!unsaved || t)
                                ? strata__minfo_get(p->mi->s, rel->target)
                                : NULL;
        if (ti) {
            holders_follow(ti, t, o, rel->fk, false);
            if (was && !was[fk].null && (null || was[fk].i != key))
                holders_follow(ti, strata__identity_find(ti, was[fk].i), o, rel->fk, false);
            if (!null)
                holders_follow(ti, strata__identity_find(ti, key), o, rel->fk, true);
        }
        if (c) {
            strata__relcache_forget(c);
            c->one_set = false;
        }
    }
}

void strata__relation_let_go(strata_object *o)
{
    struct strata__object *p = o->priv;
    for (int r = 0; p->rels && r < p->mi->nrels; r++) {
        strata__relcache *c = &p->rels[r];
        const strata_relation *rel = &p->mi->m->relations[r];
        strata__minfo *ti = c->one && rel->fk && rel->kind == STRATA_MANY_TO_ONE
                                ? strata__minfo_get(p->mi->s, rel->target)
                                : NULL;
        if (ti)
            holders_follow(ti, c->one, o, rel->fk, false);
        strata__relcache_forget(c);
        c->one_set = false;
    }
}

int strata__relation_check_targets(strata_object *o)
{
    struct strata__object *p = o->priv;
    for (int r = 0; p->rels && r < p->mi->nrels; r++) {
        const strata__relcache *c = &p->rels[r];
        int st = c->one_set && c->one ? c->one->priv->state : OBJ_PENDING;
        /* A saved object's setting to a target deleted since was written
         * when it was made (strata_set_related refuses a deleted one). */
        if (st == OBJ_DETACHED && p->state == OBJ_PERSISTENT)
            continue;
        if (p->mi->relfk[r] >= 0 && (st == OBJ_TRANSIENT || st == OBJ_DETACHED))
            return strata__session_error(
                p->mi->s, STRATA_E_MISUSE,
                "%s.%s is set to a %s object that %s: add it, or set the relationship again",
                o->model->name, o->model->relations[r].name, c->one->model->name,
                st == OBJ_TRANSIENT
                    ? "is not added (never added, deleted before its insert, or rolled back)"
                    : "was deleted");
    }
    return STRATA_OK;
}

/* Refuses target t of relationship r, an object of another session: it
 * would be written by this session's flush as a row the other one owns,
 * and freed with that session while this one still points at it. */
/* x (o itself, or the object to relate to it) is not one the session
 * tracks: a row a stream handed out (strata_iter_next), which the stream
 * reuses for the next row and frees with itself, or a deleted object
 * detached from its row.  The session would keep a pointer to it. */
static bool untracked(const strata_object *x) { return x->priv->state == OBJ_DETACHED; }

static __attribute__((noinline)) int refuse_untracked(strata_object *o, const strata_relation *r,
                                                      strata_object *x)
{
    return strata__session_error(o->priv->mi->s, STRATA_E_MISUSE,
                                 x->priv->in_arena
                                     ? "%s.%s: that %s was deleted"
                                     : "%s.%s: that %s is a row of a stream (strata_query_iter), "
                                       "not an object of the session; get it (strata_get) to "
                                       "relate it",
                                 o->model->name, r->name, x->model->name);
}

static __attribute__((noinline)) int other_session(strata_object *o, const strata_relation *r,
                                                   strata_object *t)
{
    return strata__session_error(o->priv->mi->s, STRATA_E_MISUSE,
                                 "%s.%s: that %s belongs to another session; get it in this "
                                 "one (strata_get) to relate them",
                                 o->model->name, r->name, t->model->name);
}

int strata_set_related(void *obj, const char *rel, void *target)
{
    STRATA__CONFINE(strata__object_db(obj), STRATA_E_MISUSE);
    strata_object *o = strata__as_object(obj), *t = target;
    int ri;
    const strata_relation *r = o ? find(o, rel, &ri) : NULL;
    if (!r)
        return STRATA_E_MISUSE;
    if (r->kind != STRATA_MANY_TO_ONE || (t && (!strata__as_object(t) || t->model != r->target)))
        return strata__session_error(o->priv->mi->s, STRATA_E_MISUSE,
                                     "%s.%s is not a many-to-one relationship to that object",
                                     o->model->name, r->name);
    if (t && t->priv->mi->s != o->priv->mi->s)
        return other_session(o, r, t);
    if (untracked(o) || (t && untracked(t)))
        return refuse_untracked(o, r, untracked(o) ? o : t);
    strata__relcache *c = strata__rel(o, ri);
    if (!c)
        return STRATA_E_NOMEM;
    int mri;
    strata__minfo *ti = strata__minfo_get(o->priv->mi->s, r->target);
    const strata_relation *m =
        ti && r->back_populates ? strata__relation(ti, r->back_populates, &mri) : NULL;
    /* The mirror holds one object (a one-to-one) or a list. */
    bool scalar = m && m->kind == STRATA_ONE_TO_ONE;
    /* Room first: a call that fails for lack of memory changes nothing. */
    strata__relcache *tc = m && t ? strata__rel_peek(t, mri) : NULL;
    if (scalar && t && t->priv->state == OBJ_TRANSIENT && (!tc || !tc->loaded)) {
        /* A new object's one-to-one holds what the program linked to it
         * since it was made: nothing yet, and o from here on, so that the
         * next object linked to it displaces o. */
        if (!(tc = strata__rel(t, mri)))
            return STRATA_E_NOMEM;
        strata__relcache_forget(tc);
        tc->loaded = true;
    }
    strata_list *back = !scalar && tc && tc->loaded ? tc->list : NULL;
    if (back && !strata__list_has(back, o) && !strata__list_reserve(back, 1))
        return strata__session_error(o->priv->mi->s, STRATA_E_NOMEM, "out of memory");
    /* The object a one-to-one held until now is let go of: its own
     * many-to-one set to NULL, as SQLAlchemy's back-reference does. */
    strata_object *displaced = scalar && tc && tc->loaded && tc->one != o ? tc->one : NULL;
    strata__relcache *dc = displaced ? strata__rel(displaced, ri) : NULL;
    if (displaced && !dc)
        return STRATA_E_NOMEM;
    int fk = o->priv->mi->relfk[ri];
    if (!r->fk)
        ti = NULL; /* no key of o's names the target: no holders to follow */
    strata_object *old = c->one;
    if (!c->loaded && ti && fk >= 0 && !strata__field_is_null(o, fk))
        /* Not loaded (say, since the last commit): the old target is the
         * one the key names, if the session holds it; no SQL for that. */
        old = strata__identity_find(ti, *(int64_t *)strata__field_ptr(o, fk));
    if (ti && old && old != t)
        holders_follow(ti, old, o, r->fk, false);
    else if (m && old && old != t && (tc = strata__rel_peek(old, mri)) && tc->loaded)
        mirror_drop(tc, o, scalar);
    tc = m && t ? strata__rel_peek(t, mri) : NULL;
    c->one = t;
    c->one_set = true;
    c->loaded = true;
    if (t)
        o->priv->orphan = false; /* a parent again */
    else if (old && m && m->kind == STRATA_ONE_TO_MANY &&
             (m->cascade & STRATA_CASCADE_DELETE_ORPHAN))
        o->priv->orphan = true; /* out of its parent's collection, as its removal from it */
    if (fk >= 0)
        set_key(o, fk, t);
    if (back && !strata__list_has(back, o))
        strata__list_push(back, o); /* reserved above */
    if (scalar && tc && tc->loaded)
        tc->one = o;
    if (dc) {
        dc->one = NULL;
        dc->one_set = dc->loaded = true;
        dc->one_new = false;
        if (fk >= 0)
            set_key(displaced, fk, NULL);
    }
    /* Other collections of t's on the same key read again, o in them. */
    if (ti && t)
        holders_follow(ti, t, o, r->fk, true);
    /* Both new: the target's collection (or one-to-one) holds o, as
     * SQLAlchemy's back reference puts it there, so adding the target
     * adds o.  That collection may be one never read, so the link is
     * marked, and a flush adds o once the target is added; the mark
     * stays through a rollback that makes both new again. */
    c->one_new = m && t && t->priv->state == OBJ_TRANSIENT && o->priv->state == OBJ_TRANSIENT;
    if (c->one_new)
        o->priv->linked_new = o->priv->mi->s->linked_new = true;
    if (t && t->priv->state == OBJ_TRANSIENT && saved_by_session(o))
        return strata_add(t); /* the save-update cascade, as for a collection */
    return STRATA_OK;
}

/* Whether o, not added, is to be added along: a many-to-one of its, set
 * while both were new, names an object the session now saves. */
static bool parent_saved(strata_object *o)
{
    struct strata__object *p = o->priv;
    if (p->state != OBJ_TRANSIENT || !p->rels)
        return false;
    for (int ri = 0; ri < p->mi->nrels; ri++) {
        const strata__relcache *c = &p->rels[ri];
        if (c->one_new && c->one_set && c->one && saved_by_session(c->one))
            return true;
    }
    return false;
}

bool strata__linked_one_to_one(strata_object *o, int ri)
{
    const strata_relation *r = &o->model->relations[ri];
    const strata__relcache *c = strata__rel_peek(o, ri);
    strata_object *t = c && c->loaded ? c->one : NULL;
    if (r->kind != STRATA_ONE_TO_ONE || !t || !r->back_populates)
        return false;
    struct strata__object *tp = t->priv;
    if (tp->state != OBJ_TRANSIENT && tp->state != OBJ_PENDING && !tp->added_in_tx)
        return false;
    int mri;
    if (!strata__relation(tp->mi, r->back_populates, &mri))
        return false;
    const strata__relcache *tc = strata__rel_peek(t, mri);
    return tc && tc->one_set && tc->one == o;
}

void strata__unlink_new(strata_object *o)
{
    struct strata__object *p = o->priv;
    p->linked_new = false;
    for (int ri = 0; p->rels && ri < p->mi->nrels; ri++)
        p->rels[ri].one_new = false;
}

/* A marked child and the target of its link (relcache one_new). */
typedef struct linked_pair {
    strata_object *target, *child;
} linked_pair;

static int cmp_linked(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const linked_pair *)a)->target;
    uintptr_t y = (uintptr_t)((const linked_pair *)b)->target;
    return x < y ? -1 : x > y;
}

/* Adds child c when it is still new and its target is saved, and queues
 * it, so that the children linked to c follow. */
static int add_one_linked(strata_object *c, strata_object **queue, size_t *nq)
{
    if (c->priv->state != OBJ_TRANSIENT || !parent_saved(c))
        return STRATA_OK;
    int rc = strata_add(c);
    if (rc == STRATA_OK)
        queue[(*nq)++] = c;
    return rc;
}

int strata__add_linked(strata_session *s)
{
    if (!s->linked_new)
        return STRATA_OK;
    /* The marked links, sorted by target: a child added brings the
     * children linked to it at once, whatever order they were made in
     * (a chain of n takes n look-ups, not n passes over the session). */
    size_t n = 0, cap = 0;
    linked_pair *v = NULL;
    int rc = STRATA_OK;
    bool marked = false; /* kept until their commit: a rollback may need them again */
    for (size_t k = 0; k < s->nobjs && rc == STRATA_OK; k++) {
        strata_object *o = s->objs[k];
        struct strata__object *p = o->priv;
        marked |= p->linked_new;
        if (!p->linked_new || p->state != OBJ_TRANSIENT)
            continue;
        for (int ri = 0; p->rels && ri < p->mi->nrels; ri++) {
            const strata__relcache *c = &p->rels[ri];
            if (!c->one_new || !c->one_set || !c->one)
                continue;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                linked_pair *nv = realloc(v, ncap * sizeof *nv);
                if (!nv) {
                    rc = STRATA_E_NOMEM;
                    break;
                }
                v = nv;
                cap = ncap;
            }
            v[n++] = (linked_pair){c->one, o};
        }
    }
    strata_object **queue = rc == STRATA_OK && n ? malloc(n * sizeof *queue) : NULL;
    if (rc != STRATA_OK || (n && !queue)) {
        free(v);
        free(queue);
        return strata__session_error(s, STRATA_E_NOMEM, "out of memory");
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_linked);
    /* Children whose target is saved now, then those linked to each one
     * added; again while a round adds any (a cascade of strata_add may
     * have added a target the queue did not reach). */
    for (bool again = true; again && rc == STRATA_OK;) {
        size_t nq = 0;
        again = false;
        for (size_t i = 0; i < n && rc == STRATA_OK; i++)
            rc = add_one_linked(v[i].child, queue, &nq);
        for (size_t head = 0; head < nq && rc == STRATA_OK; head++) {
            linked_pair key = {queue[head], NULL};
            linked_pair *at = bsearch(&key, v, n, sizeof *v, cmp_linked);
            while (at && at > v && at[-1].target == key.target)
                at--;
            for (; at && at < v + n && at->target == key.target && rc == STRATA_OK; at++)
                rc = add_one_linked(at->child, queue, &nq);
        }
        again = nq > 0;
    }
    free(v);
    free(queue);
    if (rc != STRATA_OK)
        return rc; /* the marks stay: the next flush tries again */
    s->linked_new = marked;
    return STRATA_OK;
}

/* Whether pending change op is of the association row that relationship
 * r of owner to target names: through r itself, or through its mirror
 * (the other side's relationship on the same table, whose local key is
 * r's remote one), which names the row from the target's side. */
static bool m2m_same_row(const strata__m2m_op *op, const strata_relation *r,
                         const strata_object *owner, const strata_object *target)
{
    if (op->rel->secondary != r->secondary)
        return false;
    if (strcmp(op->rel->local_key, r->local_key) == 0 &&
        strcmp(op->rel->remote_key, r->remote_key) == 0)
        return op->owner == owner && op->target == target;
    return strcmp(op->rel->local_key, r->remote_key) == 0 &&
           strcmp(op->rel->remote_key, r->local_key) == 0 && op->owner == target &&
           op->target == owner;
}

static int m2m_push(strata_session *s, const strata_relation *r, strata_object *owner,
                    strata_object *target, bool add)
{
    /* An add and a remove of the same row cancel out, from whichever side
     * each was made; the same change twice is one. */
    for (size_t i = 0; i < s->nm2m; i++) {
        strata__m2m_op *op = &s->m2m[i];
        if (m2m_same_row(op, r, owner, target)) {
            if (op->add == add)
                return STRATA_OK;
            memmove(op, op + 1, (s->nm2m - i - 1) * sizeof *op); /* the rest in order */
            s->nm2m--;
            return STRATA_OK;
        }
    }
    if (s->nm2m == s->capm2m) {
        size_t cap = s->capm2m ? s->capm2m * 2 : 16;
        strata__m2m_op *n = realloc(s->m2m, cap * sizeof *n);
        if (!n)
            return strata__session_error(s, STRATA_E_NOMEM, "out of memory");
        s->m2m = n;
        s->capm2m = cap;
    }
    s->m2m[s->nm2m++] = (strata__m2m_op){r, owner, target, add};
    return STRATA_OK;
}

/* A many-to-one of t's, on the key r fills, to o's model: the other side of
 * one-to-many r though r does not name it as its back_populates. */
static const strata_relation *child_side(strata_object *t, const strata_relation *r,
                                         strata_object *o)
{
    if (r->kind != STRATA_ONE_TO_MANY || !r->fk)
        return NULL;
    for (const strata_relation *c = t->model->relations; c && c->name; c++)
        if (c->kind == STRATA_MANY_TO_ONE && c->target == o->model && c->fk &&
            strcmp(c->fk, r->fk) == 0)
            return c;
    return NULL;
}

/* Why t cannot be asked about in, put in or taken out of o's
 * relationship r; STRATA_OK when it can. */
static int refuse_member(strata_object *o, const strata_relation *r, strata_object *t)
{
    if ((r->kind != STRATA_ONE_TO_MANY && r->kind != STRATA_MANY_TO_MANY) || t->model != r->target)
        return strata__session_error(o->priv->mi->s, STRATA_E_MISUSE,
                                     "%s.%s is not a collection of %s objects", o->model->name,
                                     r->name, t->model->name);
    if (t->priv->mi->s != o->priv->mi->s)
        return other_session(o, r, t);
    if (untracked(o) || untracked(t))
        return refuse_untracked(o, r, untracked(o) ? o : t);
    return STRATA_OK;
}

static int change_collection(void *obj, const char *rel, void *target, bool add)
{
    strata_object *o = strata__as_object(obj), *t = strata__as_object(target);
    int ri;
    const strata_relation *r = o ? find(o, rel, &ri) : NULL;
    if (!r)
        return STRATA_E_MISUSE;
    strata_session *s = o->priv->mi->s;
    if (!t)
        return strata__session_error(s, STRATA_E_MISUSE, "%s.%s: the object to %s is NULL",
                                     o->model->name, r->name, add ? "add" : "remove");
    int refused = refuse_member(o, r, t);
    if (refused != STRATA_OK)
        return refused;
    strata__relcache *c = strata__rel(o, ri);
    if (!c)
        return STRATA_E_NOMEM;
    /* Added along once linked (below), as SQLAlchemy's save-update
     * cascade does: a new object put in the collection of one the session
     * saves is saved too. */
    bool cascade = add && t->priv->state == OBJ_TRANSIENT && saved_by_session(o);
    int mri;
    const strata_relation *m = mirror(s, r, &mri);
    if (add && !c->loaded && r->kind == STRATA_ONE_TO_MANY && m && m->kind == STRATA_MANY_TO_ONE) {
        /* The child is linked first: loading the collection flushes, and
         * the child must go with its new parent, not as an orphan of the
         * old one nor without one.  The load then finds it.  Should the
         * load fail, the child's many-to-one stays set, as
         * strata_set_related leaves it. */
        int rc = strata_set_related(t, m->name, o);
        if (rc == STRATA_OK)
            rc = load_collection(o, r, c);
        if (rc == STRATA_OK && !strata__list_has(c->list, t) && !strata__list_push(c->list, t))
            rc = strata__session_error(s, STRATA_E_NOMEM, "out of memory");
        if (rc == STRATA_OK && cascade)
            rc = strata_add(t);
        return rc;
    }
    /* A child moving here from a parent that deletes orphans is not one:
     * said before the load, whose autoflush would delete it. */
    bool orphan = t->priv->orphan;
    if (add)
        t->priv->orphan = false;
    int rc = load_collection(o, r, c);
    if (rc != STRATA_OK) {
        t->priv->orphan = orphan;
        return rc;
    }
    if (add == strata__list_has(c->list, t))
        return STRATA_OK; /* already there / not there */
    /* Room first: a call that fails for lack of memory changes nothing. */
    strata__relcache *tc = m && m->kind != STRATA_MANY_TO_ONE ? strata__rel_peek(t, mri) : NULL;
    strata_list *back = tc && tc->loaded ? tc->list : NULL;
    if (add && (!strata__list_reserve(c->list, 1) ||
                (back && !strata__list_has(back, o) && !strata__list_reserve(back, 1))))
        return strata__session_error(s, STRATA_E_NOMEM, "out of memory");
    if (r->kind == STRATA_MANY_TO_MANY) {
        if ((rc = m2m_push(s, r, o, t, add)) != STRATA_OK)
            return rc;
        if (back && add && !strata__list_has(back, o))
            strata__list_push(back, o); /* reserved above */
        if (back && !add)
            strata__list_remove(back, o);
    } else if (m && m->kind == STRATA_MANY_TO_ONE) {
        if ((rc = strata_set_related(t, m->name, add ? o : NULL)) != STRATA_OK)
            return rc;
    } else if ((m = child_side(t, r, o)) != NULL) {
        if ((rc = strata_set_related(t, m->name, add ? o : NULL)) != STRATA_OK)
            return rc;
    } else {
        /* Only the key can be copied, now.  Not from a parent whose key a
         * rollback can take back into a child whose row it also takes
         * back: added again, the child would keep that key, by then
         * perhaps another row's. */
        int fk = strata__field_index(t->priv->mi, r->fk);
        bool uncommitted = t->priv->state != OBJ_PERSISTENT || t->priv->added_in_tx;
        if (add && (o->priv->state == OBJ_DELETED || o->priv->state == OBJ_DETACHED))
            return strata__session_error(s, STRATA_E_MISUSE, "%s.%s: that %s is deleted",
                                         o->model->name, r->name, o->model->name);
        if (fk < 0 || (add && (!has_key(o) || (o->priv->added_in_tx && uncommitted))))
            return strata__session_error(s, STRATA_E_MISUSE,
                                         "%s.%s: give the relationship a back_populates to add "
                                         "objects that are not committed yet",
                                         o->model->name, r->name);
        set_key(t, fk, add ? o : NULL);
    }
    if (add && !strata__list_has(c->list, t))
        strata__list_push(c->list, t); /* reserved above */
    if (!add)
        strata__list_remove(c->list, t);
    /* An orphan is deleted at the flush, as SQLAlchemy's delete-orphan
     * does, not now: moved to another parent before then, it stays. */
    if (!add && r->kind == STRATA_ONE_TO_MANY && (r->cascade & STRATA_CASCADE_DELETE_ORPHAN))
        t->priv->orphan = true;
    return cascade ? strata_add(t) : STRATA_OK;
}

int strata_collection_add(void *obj, const char *rel, void *target)
{
    STRATA__CONFINE(strata__object_db(obj), STRATA_E_MISUSE);
    return change_collection(obj, rel, target, true);
}

int strata_collection_remove(void *obj, const char *rel, void *target)
{
    STRATA__CONFINE(strata__object_db(obj), STRATA_E_MISUSE);
    return change_collection(obj, rel, target, false);
}

int strata_collection_contains(void *obj, const char *rel, void *target, int *out)
{
    STRATA__CONFINE(strata__object_db(obj), STRATA_E_MISUSE);
    if (!out)
        return STRATA_E_MISUSE;
    *out = 0;
    strata_object *o = strata__as_object(obj), *t = strata__as_object(target);
    int ri;
    const strata_relation *r = o ? find(o, rel, &ri) : NULL;
    if (!r || !t)
        return STRATA_E_MISUSE;
    int refused = refuse_member(o, r, t);
    if (refused != STRATA_OK)
        return refused;
    strata__relcache *c = strata__rel(o, ri);
    if (!c)
        return STRATA_E_NOMEM;
    if (c->loaded) {
        *out = strata__list_has(c->list, t);
        return STRATA_OK;
    }
    if (!has_key(o) || !has_key(t)) {
        /* Not both in the database: only the session's own settings and
         * changes not yet flushed can relate them, and no SQL is sent. */
        strata_list found = {0};
        strata__relcache mem = {.list = &found};
        int rc = children_in_memory(o, r, &mem);
        *out = rc == STRATA_OK && strata__list_has(&found, t);
        free(found.items);
        return rc;
    }
    /* Not loaded: ask the database for just this pair. */
    uint64_t mark = o->priv->mi->s->db->nerrors;
    strata_query *q = strata__query_for_relation(o, r, false);
    if (!q)
        return strata__db_error_since(o->priv->mi->s->db, mark, STRATA_E_NOMEM);
    strata__minfo *ti = t->priv->mi;
    int rc = strata_query_filter(
        q, strata_c(ti->m->fields[ti->pk].name, STRATA_EQ, strata_int(strata__pk(t))));
    if (rc == STRATA_OK)
        rc = strata_query_exists(q, out);
    strata_query_free(q);
    return rc;
}

/* ---- flush helpers ----------------------------------------------------- */

static int exec_pair(strata_session *s, const char *sql, int64_t a, int64_t b, int nparams)
{
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, s->db, sql);
    if (rc != STRATA_OK)
        return rc;
    strata_stmt_bind_int64(st, 1, a);
    if (nparams > 1)
        strata_stmt_bind_int64(st, 2, b);
    rc = strata__stmt_step(st);
    strata_stmt_finalize(st);
    return rc == STRATA_DONE ? STRATA_OK : rc;
}

int strata__m2m_check(strata_session *s)
{
    for (size_t i = 0; i < s->nm2m; i++) {
        const strata__m2m_op *op = &s->m2m[i];
        strata_object *ends[2] = {op->owner, op->target};
        for (int e = 0; e < 2; e++) {
            int st = ends[e]->priv->state;
            /* A deleted end's rows stay until the deletes, which come
             * after the links and take its links with them. */
            if (st == OBJ_PENDING || st == OBJ_PERSISTENT || st == OBJ_DELETED)
                continue;
            return strata__session_error(
                s, STRATA_E_MISUSE,
                "%s.%s: %s %s %s: add it, or take it out of the collection again",
                op->owner->model->name, op->rel->name, op->add ? "adding a" : "removing a",
                ends[e]->model->name,
                st == OBJ_TRANSIENT
                    ? "that is not added (never added, deleted before its insert, or rolled back)"
                    : "whose row was deleted");
        }
    }
    return STRATA_OK;
}

int strata__m2m_flush(strata_session *s)
{
    int rc = STRATA_OK;
    for (size_t i = 0; i < s->nm2m && rc == STRATA_OK; i++) {
        strata__m2m_op *op = &s->m2m[i];
        strata__minfo *si = strata__minfo_get(s, op->rel->secondary);
        int lk = si ? strata__field_index(si, op->rel->local_key) : -1;
        int rk = si ? strata__field_index(si, op->rel->remote_key) : -1;
        if (lk < 0 || rk < 0)
            return strata__session_error(
                s, STRATA_E_SCHEMA, "relationship %s: association keys not found", op->rel->name);
        char sql[512];
        if (op->add)
            snprintf(sql, sizeof sql, "INSERT INTO %s (%s, %s) VALUES (?, ?)", si->qtable,
                     si->qcols[lk], si->qcols[rk]);
        else
            snprintf(sql, sizeof sql, "DELETE FROM %s WHERE %s = ? AND %s = ?", si->qtable,
                     si->qcols[lk], si->qcols[rk]);
        rc = exec_pair(s, sql, strata__pk(op->owner), strata__pk(op->target), 2);
        if (rc != STRATA_OK)
            strata__db_error_context(s->db, "%s %s.%s", op->add ? "adding to" : "removing from",
                                     op->owner->model->name, op->rel->name);
    }
    return rc; /* the flush forgets the changes once all of it has succeeded */
}

int strata__relation_before_delete(strata_object *o)
{
    strata_session *s = o->priv->mi->s;
    strata__minfo *mi = o->priv->mi;
    int rc = STRATA_OK;
    for (int r = 0; r < mi->nrels && rc == STRATA_OK; r++) {
        const strata_relation *rel = &mi->m->relations[r];
        if (rel->kind != STRATA_MANY_TO_MANY)
            continue;
        /* Its association rows go with it. */
        strata__minfo *si = strata__minfo_get(s, rel->secondary);
        int lk = si ? strata__field_index(si, rel->local_key) : -1;
        if (lk < 0)
            return STRATA_E_SCHEMA;
        char sql[512];
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE %s = ?", si->qtable, si->qcols[lk]);
        /* The row's key, as loaded: a key changed in memory and not
         * flushed names another row (the delete goes by the loaded one). */
        rc = exec_pair(s, sql, strata__row_pk(o), 0, 1);
    }
    return rc;
}

int strata__relation_cascade(strata_object *o, bool *changed)
{
    strata__minfo *mi = o->priv->mi;
    /* Once a flush: the flush asks again each round, until no object is
     * newly marked, and the children's rows do not change meanwhile. */
    if (o->priv->cascade_run)
        return STRATA_OK;
    for (int r = 0; r < mi->nrels; r++) {
        const strata_relation *rel = &mi->m->relations[r];
        if (!(rel->cascade & STRATA_CASCADE_DELETE) ||
            (rel->kind != STRATA_ONE_TO_ONE && rel->kind != STRATA_ONE_TO_MANY))
            continue;
        /* The children are the rows that refer to o's row now: the flush
         * has sent its inserts and updates before its cascades, so a
         * child moved away by its key (or by an upsert), or moved here,
         * is where its row says, whatever a collection loaded before the
         * move holds.  An object never inserted has its children in
         * memory alone. */
        strata__relcache *c = strata__rel(o, r);
        if (!c)
            return STRATA_E_NOMEM;
        static const strata_list none; /* a one-to-one's cache has no list */
        strata_list *now = NULL;
        const strata_list *kids = c->list ? c->list : &none;
        int rc;
        if (has_key(o)) {
            uint64_t mark = o->priv->mi->s->db->nerrors;
            strata_query *q = strata__query_for_relation(o, rel, false);
            if (!q)
                return strata__db_error_since(o->priv->mi->s->db, mark, STRATA_E_NOMEM);
            rc = strata_query_all(q, &now);
            strata_query_free(q);
            kids = now;
        } else {
            rc = load_collection(o, rel, c);
        }
        for (size_t i = 0; rc == STRATA_OK && i < kids->count; i++) {
            strata_object *child = kids->items[i];
            if (child->priv->state == OBJ_PERSISTENT) {
                child->priv->state = OBJ_DELETED;
                child->priv->deleted_in_tx = true;
                child->priv->cascaded_now = true;
                *changed = true;
            }
        }
        strata_list_free(now);
        if (rc != STRATA_OK)
            return rc;
    }
    o->priv->cascade_run = true;
    return STRATA_OK;
}
