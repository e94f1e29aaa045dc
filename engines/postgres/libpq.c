/*
 * engines/postgres/libpq.c - finds libpq at run time (see libpq.h).
 */
#define _GNU_SOURCE /* secure_getenv */
#define STRATA__LIBPQ_LOADER
#include "postgres/libpq.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* The soname of libpq 10 and later, which Debian's libpq5 package
 * installs; the build checked its headers with pkg-config.  STRATA_LIBPQ
 * names another file (a libpq of one's own build); it is not read by
 * set-user-ID programs. */
#define LIBPQ_SONAME "libpq.so.5"

strata__libpq strata__pq;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool loaded; /* under lock; once true, strata__pq is never written again */

/* One attempt; a failed one (a missing file, or memory short inside
 * dlopen) leaves nothing behind, so the next open tries again. */
static void load(char *why, size_t size)
{
    const char *file = secure_getenv("STRATA_LIBPQ");
    if (!file || !*file)
        file = LIBPQ_SONAME;
    void *h = dlopen(file, RTLD_LAZY | RTLD_LOCAL); /* its own symbols bound as used */
    if (!h) {
        const char *e = dlerror();
        snprintf(why, size, "PostgreSQL needs libpq (%s), which could not be loaded: %s",
                 file, e ? e : "unknown error");
        return;
    }
    strata__libpq table;
#define X(name)                                                                                \
    if (!(*(void **)&table.name = dlsym(h, #name))) {                                            \
        snprintf(why, size, "PostgreSQL needs libpq 14 or later: %s has no %s", file,    \
                 #name);                                                                       \
        dlclose(h);                                                                            \
        return;                                                                                \
    }
    STRATA__LIBPQ_FUNCTIONS(X)
#undef X
    strata__pq = table; /* the library stays loaded for the life of the process */
    loaded = true;
}

bool strata__libpq_load(char *why, size_t size)
{
    pthread_mutex_lock(&lock);
    if (!loaded)
        load(why, size);
    bool ok = loaded;
    pthread_mutex_unlock(&lock);
    return ok;
}
