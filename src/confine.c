/*
 * confine.c - one thread at a time on a connection.
 *
 * A strata_db is not thread-safe (neither is an SQLite connection opened
 * without its mutex, nor a libpq connection).  Two threads calling into one
 * at once would corrupt memory or the database file, so every public call
 * that touches a handle, its statements or its sessions enters a confined
 * region first (STRATA__CONFINE in internal.h): one compare-and-swap of the
 * handle's owner on the way in, one store on the way out.  The same thread
 * may nest (the ORM calls the statement layer: a load of the owner, no
 * compare-and-swap); another thread is refused
 * with STRATA_E_MISUSE at once, before it touches anything.
 *
 * The refused thread cannot write the handle's error (the owner may be
 * reading or writing it), so the refusal is kept in a thread-local slot and
 * strata_db_errcode() / strata_db_errmsg() report it to that thread.
 */
#include <pthread.h>

#include "internal.h"

static _Thread_local const strata_db *refused_db;
static _Thread_local uint64_t refused_serial;
static _Atomic uint64_t serials;

void strata__confine_init(strata_db *db)
{
    db->serial = atomic_fetch_add_explicit(&serials, 1, memory_order_relaxed) + 1;
}

/* A number that names the calling thread while it lives (read without a
 * thread-local variable, which in a shared library costs a call). */
static uintptr_t this_thread(void) { return (uintptr_t)pthread_self(); }

strata__confinement strata__confine(strata_db *db)
{
    strata__confinement c = {db, false, false};
    if (!db)
        return c;
    uintptr_t me = this_thread(), expected = 0;
    /* A call made inside another on the same handle (the ORM's calls to
     * the statement layer) finds this thread the owner: only this thread
     * sets the owner to itself or clears it, so a plain load tells, and
     * the locked compare-and-swap is for the outermost call alone. */
    if (atomic_load_explicit(&db->owner, memory_order_relaxed) == me) {
        db->depth++;
    } else if (atomic_compare_exchange_strong_explicit(&db->owner, &expected, me,
                                                       memory_order_acquire,
                                                       memory_order_relaxed)) {
        db->depth = 1;
    } else {
        refused_db = db;
        refused_serial = db->serial;
        atomic_store_explicit(&db->refused, true, memory_order_relaxed);
        c.refused = true;
        return c;
    }
    /* This thread's refusal on the handle, if any, is over; the
     * thread-local slot is read only when some thread was refused. */
    if (atomic_load_explicit(&db->refused, memory_order_relaxed) && refused_db == db)
        refused_db = NULL;
    c.entered = true;
    return c;
}

void strata__confine_end(strata__confinement *c)
{
    if (c->entered && --c->db->depth == 0)
        atomic_store_explicit(&c->db->owner, 0, memory_order_release);
}

const char *strata__confine_refusal(const strata_db *db)
{
    return db && refused_db == db && refused_serial == db->serial
               ? "this connection is in use by another thread: a strata_db, its statements "
                 "and its sessions are for one thread at a time (use a strata_pool, or one "
                 "connection per thread)"
               : NULL;
}
