/*
 * engines/registry.c - the engines built into strata: one row each, a
 * driver and its dialect (engines/engine.h), plus those registered at run
 * time.  The only file that names the engines' own symbols.
 *
 * Registered rows are written before the count that publishes them
 * (release), and read after loading it (acquire), so lookups take no lock.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "engine.h"

#ifdef STRATA_WITH_SQLITE3
extern const strata_driver strata__sqlite_driver;
extern const strata__dialect strata__sqlite_dialect;
#endif
#ifdef STRATA_WITH_LIBPQ
extern const strata_driver strata__postgres_driver;
extern const strata__dialect strata__postgres_dialect;
#endif

static const strata__engine builtin[] = {
#ifdef STRATA_WITH_SQLITE3
    {&strata__sqlite_driver, &strata__sqlite_dialect},
#endif
#ifdef STRATA_WITH_LIBPQ
    {&strata__postgres_driver, &strata__postgres_dialect},
#endif
    {NULL, NULL},
};
#define NBUILTIN ((int)(sizeof builtin / sizeof builtin[0]) - 1)

/* The schemes and dialect names of every engine folder, built or not. */
static const char *const every_scheme[] = {"sqlite", "postgresql", "postgres", NULL};
static const char *const every_dialect[] = {"sqlite", "postgresql", NULL};

const char *const *strata__dialect_names(void) { return every_dialect; }

bool strata__engine_not_built(const char *scheme)
{
    for (size_t i = 0; every_scheme[i]; i++)
        if (strcasecmp(scheme, every_scheme[i]) == 0)
            return !strata__engine_by_scheme(scheme);
    return false;
}

#define MAX_REGISTERED 8
static strata__engine registered[MAX_REGISTERED];
static atomic_int nregistered;
static pthread_mutex_t register_lock = PTHREAD_MUTEX_INITIALIZER;

const strata__engine *strata__engine_at(int i)
{
    if (i < 0)
        return NULL;
    if (i < NBUILTIN)
        return &builtin[i];
    i -= NBUILTIN;
    return i < atomic_load_explicit(&nregistered, memory_order_acquire) ? &registered[i] : NULL;
}

static bool answers_to(const strata_driver *d, const char *scheme)
{
    if (strcasecmp(d->name, scheme) == 0)
        return true;
    for (const char *const *a = d->aliases; a && *a; a++)
        if (strcasecmp(*a, scheme) == 0)
            return true;
    return false;
}

const strata__engine *strata__engine_by_scheme(const char *scheme)
{
    const strata__engine *e;
    for (int i = 0; scheme && (e = strata__engine_at(i)) != NULL; i++)
        if (answers_to(e->driver, scheme))
            return e;
    return NULL;
}

const strata__engine *strata__engine_of(const strata_driver *drv)
{
    const strata__engine *e;
    for (int i = 0; drv && (e = strata__engine_at(i)) != NULL; i++)
        if (e->driver == drv)
            return e;
    return NULL;
}

int strata__engine_register(const strata__engine *row)
{
    if (!row || !row->driver || !row->dialect || !row->driver->name)
        return STRATA_E_MISUSE;
    pthread_mutex_lock(&register_lock);
    int n = atomic_load_explicit(&nregistered, memory_order_relaxed);
    int rc = STRATA_OK;
    if (n == MAX_REGISTERED || strata__engine_by_scheme(row->driver->name))
        rc = STRATA_E_MISUSE;
    for (const char *const *a = row->driver->aliases; rc == STRATA_OK && a && *a; a++)
        if (strata__engine_by_scheme(*a))
            rc = STRATA_E_MISUSE;
    if (rc == STRATA_OK) {
        registered[n] = *row;
        atomic_store_explicit(&nregistered, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&register_lock);
    return rc;
}

const strata__dialect *strata__dialect_of(const strata_driver *drv)
{
    const strata__engine *e = strata__engine_of(drv);
    return e ? e->dialect : NULL;
}
