/*
 * test_nomem.c - allocation-failure injection, as SQLite tests itself.
 *
 * The allocator.  This program defines malloc, calloc, realloc and free,
 * forwarding to glibc's __libc_* functions, so every allocation of strata
 * and of the libraries under it (SQLite, libpq, libyaml, the C library)
 * comes through them.  Interposing in the executable needs no
 * LD_PRELOAD and no hooks in strata, and makes the libraries fail too,
 * which is the realistic case.  Once armed, a countdown makes the Nth
 * allocation fail: only that one ("once": later ones work again) or that
 * one and every later one until the run ends ("persistent").  Blocks made
 * while armed go in a hash set of live pointers (mmap'd, never malloc'd),
 * so whatever is still live once everything is closed and freed is a leak.
 *
 * The runs.  A representative use of the microblog is cut into phases, a
 * test each, on every engine: open; migrate-up (the committed revisions of
 * examples/microblog/migrations, base to head, read through libyaml);
 * migrate-down (head to base); commit (new objects, an update, a delete);
 * cascade (a new user holding ten new posts, taken along by a pending post's
 * many-to-one and by the followers collection of a loaded user, and a new
 * post linked to it by its many-to-one alone, added at the flush); bulk-insert
 * (1001 new users: multi-row INSERTs, pipelined on
 * PostgreSQL); upsert (an object from an earlier transaction refreshed,
 * then another object's upsert of its username written into it, and an
 * upsert that inserts; after a failure the held object is still found
 * whole by its key); savepoint (a row locked, changes, an insert and a
 * delete flushed in a savepoint, a nested one released, the outer rolled
 * back and the objects checked, then a savepoint released and committed);
 * pool (a session on a pooled connection, a unit of work the pool runs
 * and commits; after a failure no connection is lost to the pool; on an
 * in-memory database, the pool's refusal); copy (the database copied to
 * an empty one of the other engine; after a failure the target has no
 * table);
 * query (filter, order, paginate, count, first, grouped values); relations
 * (eager loading, a lazy many-to-one, the followers collection changed
 * and committed); stream (a streamed query and a streamed statement);
 * subquery (explicit inner and outer joins read as rows of objects, a
 * path of two hops, a correlated NOT EXISTS, an IN over a subquery with a
 * limit, a count); bulk-change (a bulk delete a foreign key refuses
 * after its association rows went, bulk updates through a path and by a
 * field, a bulk delete, a commit); rollback-reread (users first read
 * after a bulk update, then a rollback, which reads them again); rekey (a loaded row's key changed
 * and committed); tree (rows of a model that refer to each other, added children first, so inserted
 * in rounds; after a failed commit the tree is committed again, or rolled back and added again);
 * tree-delete (the same rows loaded and deleted parents first: deleted children first). Each phase
 * runs twice un-armed first: the first run lets the libraries do their one-time set-up (tracking is
 * then reset), the second counts the phase's allocations and records the expected output and
 * database state. Then it runs with N = n0, n0 + k, n0 + 2k, ... until a run sees no injected
 * failure.  Each run sets up un-armed (a fresh connection, the data re-seeded), runs armed, and
 * checks un-armed that:
 *   - a call that failed did so only when an allocation had failed, and a
 *     run that succeeded gave exactly the un-armed output (no success with
 *     missing data);
 *   - a failed call that reports on the connection says what failed in it:
 *     an error left on the connection before the run (of the code the
 *     failure has, or another) is never given as the failure's message;
 *   - the connection still works, with no transaction left open (on SQLite
 *     with foreign keys still on after a migration);
 *   - the database, read through a second, un-armed connection (the same
 *     one for an in-memory SQLite database), holds no partial change: a
 *     failed commit left none of its rows; a failed migration left the
 *     version table and the schema at one revision, and a second, un-armed
 *     migration then finishes the job;
 *   - after a failed commit, a second commit succeeds with all of it or
 *     fails, strata_session_rollback() works, and the session's objects
 *     then agree with the database;
 *   - once all is closed and freed, nothing made while armed is live;
 *   - no run crashes (the stacks of the crash and of the first injected
 *     failure are printed) or hangs (a run over RUN_TIMEOUT_S is stopped
 *     and its stack printed).
 *
 * The cost.  A phase may take BUDGET_S seconds per engine (two thirds for
 * "once", one third for "persistent"; STRATA_NOMEM_BUDGET=S changes it).
 * The stride k is the smallest that fits the phase's allocations into it
 * at the measured cost of a run (doubled when runs turn out slower, on a
 * busy machine): 1 (every allocation) for the small phases, a sample of
 * every few for the migrations and the bulk insert, and sparser on
 * PostgreSQL, where a run costs a connection and round trips.  The first
 * N is random in [1, k] (the seed is printed), so successive runs cover
 * different allocations; STRATA_NOMEM_EXHAUSTIVE=1 tries every one
 * (minutes per engine).  Each phase prints one line: its allocations,
 * runs, stride, seed and time.
 *
 * PostgreSQL.  Only the client fails (the server is another process), and
 * the URL gets gssencmode=disable: libpq's GSSAPI probe runs MIT Kerberos,
 * which crashes when its own allocations fail and keeps process-wide
 * caches; neither is strata's.  A COMMIT can succeed on the server while
 * libpq runs out of memory reading its answer, as with a lost connection:
 * a failed commit may then leave the whole change (never part of it), but
 * only when the first injected failure was inside libpq.
 *
 * A ROLLBACK that cannot run for lack of memory leaves its handle broken
 * until a rollback succeeds (src/db.c): the test runs one with memory and
 * checks the run as any other.  A handle broken for good (a connection
 * lost) is closed, which ends the engine's transaction, and the database
 * checked through another connection (an in-memory one, gone with it, is
 * not); each phase says how often.  The engine must never be left in a
 * transaction its handle does not know.
 *
 * Known bugs are not asserted on; each phase says how often it met them:
 *   - engines/postgres/driver.c, pg_execute_many: a failed PQpipelineSync
 *     is not failed (nm_exempt);
 *   - libpq (15): a pipeline whose sync result libpq cannot make is waited
 *     for forever inside PQgetResult, so libpq's results are not failed
 *     while the driver has the connection in pipeline mode (nm_exempt).
 *
 * A custom allocator in the executable cannot work under valgrind or
 * AddressSanitizer, which own malloc: tests/valgrind.sh does not run this
 * program, and a build with --enable-sanitizers makes it one test that
 * says so loudly and passes (the plain build runs the injection).
 *
 * Debugging: STRATA_NOMEM_PHASE=name runs one phase; STRATA_NOMEM_ONLY=N
 * one run (STRATA_NOMEM_MODE=once or persistent picks the mode);
 * STRATA_NOMEM_KEEP_GOING=1 reports every failing run instead of stopping
 * at the first; STRATA_NOMEM_TRACE=S prints the stack of allocation S of
 * each armed run (where a leaked block was made);
 * STRATA_NOMEM_TRACE_FAILS=1 prints the stack of every injected failure.
 * Runs in one process with CK_FORK=no (and gdb).
 */
#define _GNU_SOURCE /* dladdr, backtrace, MAP_ANONYMOUS */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <strata/sys/driver.h>

#include "harness.h"
#include "orm_internal.h" /* the session's list of objects */
#include "postgres/libpq.h" /* the driver's table of libpq's functions */
#undef PQenterPipelineMode     /* the table's members, named as libpq's */
#undef PQexitPipelineMode
#include "../examples/microblog/models.h"

#if defined(__SANITIZE_ADDRESS__)
#define NOMEM_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NOMEM_UNDER_ASAN 1
#endif
#endif

#ifdef NOMEM_UNDER_ASAN

START_TEST(nomem_not_under_asan)
{
    fprintf(stderr, "\n*** test_nomem: AddressSanitizer owns malloc in this build, so allocation "
                    "failures are NOT injected here; the plain build (without "
                    "--enable-sanitizers) runs the injection ***\n\n");
}
END_TEST

static void add_tests(TCase *tc, th_engine engine)
{
    if (engine == TH_SQLITE_MEMORY) /* one line is enough */
        tcase_add_test(tc, nomem_not_under_asan);
}

#else /* the injection */

/* ---- the allocator -------------------------------------------------------- */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

#define NM_BITS 18
#define NM_SLOTS ((size_t)1 << NM_BITS)
#define NM_FRAMES 32

typedef struct nm_entry {
    void *p;
    size_t size;
    long seq; /* which allocation of the armed run made it */
} nm_entry;

static struct {
    bool armed;      /* counting allocations; those made are tracked */
    bool persistent; /* once the target is reached, every allocation fails */
    bool failing;
    long target;      /* the allocation to fail (1-based); 0: none */
    long count;       /* allocations while armed */
    long fired;       /* failures injected */
    long trace;       /* print the stack of this allocation (debugging) */
    bool trace_fails; /* print the stack of each injected failure (debugging) */
    long live;        /* tracked blocks not yet freed */
    nm_entry *table;  /* open addressing, linear probing */
    void *bt[NM_FRAMES];
    int nbt; /* the stack of the first injected failure */
} nm;

static size_t nm_slot(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p >> 4;
    return (size_t)((x * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - NM_BITS));
}

/* Without the allocator. */
static void nm_say(const char *msg)
{
    if (write(2, msg, strlen(msg)) < 0)
        return;
}

static void nm_die(const char *msg)
{
    nm_say(msg);
    _exit(99);
}

static void nm_track(void *p, size_t size)
{
    if (!nm.table) {
        void *t = mmap(NULL, NM_SLOTS * sizeof(nm_entry), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (t == MAP_FAILED)
            nm_die("test_nomem: cannot map the allocation table\n");
        nm.table = t;
    }
    if ((size_t)nm.live + 1 > NM_SLOTS / 2)
        nm_die("test_nomem: too many live allocations to track\n");
    size_t i = nm_slot(p);
    while (nm.table[i].p)
        i = (i + 1) & (NM_SLOTS - 1);
    nm.table[i] = (nm_entry){p, size, nm.count};
    nm.live++;
}

/* Forget p if it is tracked (backward-shift deletion keeps probing
 * sequences whole); whether it was. */
static bool nm_forget(void *p)
{
    if (!nm.live)
        return false;
    size_t i = nm_slot(p);
    while (nm.table[i].p != p) {
        if (!nm.table[i].p)
            return false;
        i = (i + 1) & (NM_SLOTS - 1);
    }
    for (size_t j = i;;) {
        j = (j + 1) & (NM_SLOTS - 1);
        if (!nm.table[j].p)
            break;
        size_t k = nm_slot(nm.table[j].p);
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            nm.table[i] = nm.table[j];
            i = j;
        }
    }
    nm.table[i].p = NULL;
    nm.live--;
    return true;
}

static long nm_exempted; /* failures not injected: see nm_exempt */

/* Whether the driver has its connection in libpq's pipeline mode: its
 * table of libpq's functions (engines/postgres/libpq.h) is given
 * wrappers of PQenterPipelineMode and PQexitPipelineMode that say so. */
static bool nm_in_pipeline;
static int (*nm_real_enter)(PGconn *);
static int (*nm_real_exit)(PGconn *);

static int nm_enter_pipeline(PGconn *h)
{
    int ok = nm_real_enter(h);
    nm_in_pipeline |= ok;
    return ok;
}

static int nm_exit_pipeline(PGconn *h)
{
    int ok = nm_real_exit(h);
    if (ok)
        nm_in_pipeline = false;
    return ok;
}

/* Once libpq is loaded (the first PostgreSQL connection). */
static void nm_watch_pipelines(void)
{
    if (!strata__pq.PQenterPipelineMode || strata__pq.PQenterPipelineMode == nm_enter_pipeline)
        return;
    nm_real_enter = strata__pq.PQenterPipelineMode;
    nm_real_exit = strata__pq.PQexitPipelineMode;
    strata__pq.PQenterPipelineMode = nm_enter_pipeline;
    strata__pq.PQexitPipelineMode = nm_exit_pipeline;
}

/* Allocations that must not fail, to keep a run from hanging:
 * - PQpipelineSync's own, in pg_execute_many;
 * - libpq's results in a pipeline: libpq (15) that cannot make the result
 *   of a sync it has read (PGRES_PIPELINE_SYNC) keeps waiting for a
 *   message the server has already sent, inside PQgetResult, where no
 *   caller can stop it.  The driver pipelines multi-row inserts, a
 *   statement with the command deferred to its round trip (a savepoint's),
 *   and a prepare with its describe. */
static bool nm_exempt(void)
{
    void *bt[NM_FRAMES];
    int n = backtrace(bt, NM_FRAMES);
    Dl_info self, info;
    if (!dladdr((void *)nm_exempt, &self))
        return false;
    bool pipeline_result = false;
    for (int i = 2; i < n; i++) {
        if (!dladdr(bt[i], &info) || !info.dli_sname)
            continue;
        if (!strcmp(info.dli_sname, "PQpipelineSync"))
            return true;
        /* PQgetResult called by the backend itself (PQexecPrepared calls
         * it too, from inside libpq: one execution, no pipeline) */
        if (!strcmp(info.dli_sname, "PQgetResult") && i + 1 < n && dladdr(bt[i + 1], &info) &&
            info.dli_fbase == self.dli_fbase)
            pipeline_result = true;
    }
    return pipeline_result && nm_in_pipeline;
}

/* Whether this allocation fails. */
static bool nm_inject(void)
{
    if (!nm.armed)
        return false;
    nm.count++;
    if (nm.count == nm.trace) {
        nm.armed = false;
        void *bt[NM_FRAMES];
        int n = backtrace(bt, NM_FRAMES);
        fprintf(stderr, "test_nomem: allocation %ld of the armed run:\n", nm.count);
        backtrace_symbols_fd(bt, n, 2);
        nm.armed = true;
    }
    if (!nm.failing && nm.count != nm.target)
        return false;
    nm.armed = false; /* backtrace() and dladdr() must not come back here */
    bool exempt = nm_exempt();
    nm.armed = true;
    if (exempt) {
        if (nm.trace_fails) {
            nm.armed = false;
            void *bt[NM_FRAMES];
            int n = backtrace(bt, NM_FRAMES);
            fprintf(stderr, "test_nomem: allocation %ld not failed:\n", nm.count);
            backtrace_symbols_fd(bt, n, 2);
            nm.armed = true;
        }
        nm_exempted++;
        if (!nm.persistent)
            nm.target++; /* fail the next one instead */
        return false;
    }
    if (nm.trace_fails && nm.fired < 400) {
        nm.armed = false;
        void *bt[NM_FRAMES];
        int n = backtrace(bt, 8);
        fprintf(stderr, "test_nomem: injected failure at allocation %ld:\n", nm.count);
        backtrace_symbols_fd(bt, n, 2);
        nm.armed = true;
    }
    if (nm.fired++ == 0) {
        nm.armed = false; /* backtrace() must not come back here */
        nm.nbt = backtrace(nm.bt, NM_FRAMES);
        nm.armed = true;
    }
    if (nm.persistent)
        nm.failing = true;
    errno = ENOMEM;
    return true;
}

/* The build hides symbols by default; these must be seen by the shared
 * libraries (SQLite, libpq, libyaml, the C library) to replace theirs. */
#define NM_EXPORT __attribute__((visibility("default")))

NM_EXPORT void *malloc(size_t n)
{
    if (nm_inject())
        return NULL;
    void *p = __libc_malloc(n);
    if (p && nm.armed)
        nm_track(p, n);
    return p;
}

NM_EXPORT void *calloc(size_t n, size_t size)
{
    if (nm_inject())
        return NULL;
    void *p = __libc_calloc(n, size);
    if (p && nm.armed)
        nm_track(p, n * size);
    return p;
}

NM_EXPORT void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    if (n == 0) {
        nm_forget(p);
        return __libc_realloc(p, 0);
    }
    if (nm_inject())
        return NULL;
    void *q = __libc_realloc(p, n);
    /* A block made before arming stays untracked when it grows: whoever
     * owns it (a library's global buffer) outlives the run. */
    if (q && nm_forget(p))
        nm_track(q, n);
    return q;
}

NM_EXPORT void free(void *p)
{
    if (!p)
        return;
    nm_forget(p);
    __libc_free(p);
}

/* Stop tracking every block (after the one-time set-up, or a leak that
 * was reported): later runs are judged on their own. */
static void nm_forget_all(void)
{
    if (nm.table)
        memset(nm.table, 0, NM_SLOTS * sizeof(nm_entry));
    nm.live = 0;
}

static void nm_arm(long target, bool persistent)
{
    nm.count = nm.fired = 0;
    nm.nbt = 0;
    nm.failing = false;
    nm.target = target;
    nm.persistent = persistent;
    nm.armed = true;
}

static void nm_disarm(void) { nm.armed = false; }

/* ---- where a failure was injected ----------------------------------------- */

/* The shared object of the first frame that is neither this allocator nor
 * the C library: "libpq.so.5", "libsqlite3.so.0", ... or "" for this
 * executable (strata itself, or the test). */
static const char *nm_first_frame_object(void)
{
    static char name[128];
    Dl_info self, libc, info;
    if (!dladdr((void *)nm_inject, &self) || !dladdr((void *)strlen, &libc))
        return "?";
    for (int i = 1; i < nm.nbt; i++) {
        if (!dladdr(nm.bt[i], &info))
            continue;
        if (info.dli_fbase == libc.dli_fbase)
            continue;
        if (info.dli_fbase == self.dli_fbase) {
            if (info.dli_sname &&
                (!strcmp(info.dli_sname, "malloc") || !strcmp(info.dli_sname, "calloc") ||
                 !strcmp(info.dli_sname, "realloc")))
                continue;
            return "";
        }
        const char *slash = strrchr(info.dli_fname, '/');
        snprintf(name, sizeof name, "%s", slash ? slash + 1 : info.dli_fname);
        return name;
    }
    return "?";
}

static bool nm_failed_in_libpq(void) { return strncmp(nm_first_frame_object(), "libpq", 5) == 0; }

/* ---- output without the allocator ------------------------------------------ */

typedef struct text {
    char s[32768];
} text;

static void text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text *t, const char *fmt, ...)
{
    size_t n = strlen(t->s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->s + n, sizeof t->s - n, fmt, ap);
    va_end(ap);
}

/* ---- the state of a run ------------------------------------------------------ */

typedef struct ctx {
    strata_db *db; /* the run's connection */
    strata_session *s;
    strata_query *q;
    strata_query *sub; /* a subquery not yet given to a condition */
    strata_list *l;
    strata_iter *it;
    strata_stmt *st;
    strata_migrations *m;
    strata_page pg;
    char *str;
    text out;         /* what the run saw */
    const char *step; /* the call that failed */
    int rc;
    bool redone;    /* a second, un-armed commit after the failure succeeded */
    bool committed; /* the run's commit succeeded; what failed came after it */
    void *obj;      /* an object the phase follows through the failure */
    /* after a failed run, once the session is rolled back and before any
     * query reads its objects again: whether obj holds what the database
     * does (else why not) */
    bool (*held)(struct ctx *c, text *why);
    strata_pool *pool;
    strata_db *conn;   /* the connection the calls report on, when not db (a pool's) */
    strata_db *target; /* the copy phase's, of the other engine */
} ctx;

#define TRY(c, call)            \
    do {                        \
        plant(c);               \
        int rc_ = (call);       \
        if (rc_ != STRATA_OK) { \
            (c)->step = #call;  \
            return rc_;         \
        }                       \
    } while (0)

/* A call that gives NULL when it fails (the API has no code for it). */
#define TRY_PTR(c, expr)           \
    do {                           \
        plant(c);                  \
        if (!(expr)) {             \
            (c)->step = #expr;     \
            return STRATA_E_NOMEM; \
        }                          \
    } while (0)

#define STALE "the failure of an earlier call"

/* Before each call of a run: an error left on the connection (un-armed),
 * whose code and message no failure of the call may give as its own; of
 * the code the failures have and of another, in turn. */
static void plant(ctx *c)
{
    static unsigned long serial;
    strata_db *db = c->conn ? c->conn : c->db;
    if (!db)
        return;
    bool armed = nm.armed;
    nm.armed = false;
    bool nomem = serial++ % 2;
    strata_driver_error(db, nomem ? STRATA_E_NOMEM : STRATA_E_UNIQUE, nomem ? "53200" : "23505", 0,
                        STALE);
    nm.armed = armed;
}

static void ctx_free(ctx *c)
{
    strata_iter_free(c->it);
    strata_stmt_finalize(c->st);
    strata_list_free(c->l);
    strata_page_clear(&c->pg);
    strata_query_free(c->sub);
    strata_query_free(c->q);
    strata_session_free(c->s);
    strata_pool_close(c->pool);
    strata_db_close(c->target);
    strata_migrations_free(c->m);
    strata_free(c->str);
    c->it = NULL, c->st = NULL, c->l = NULL, c->q = NULL, c->sub = NULL, c->s = NULL, c->m = NULL;
    c->str = NULL, c->pool = NULL, c->conn = NULL, c->target = NULL;
}

/* ---- the database, un-armed ------------------------------------------------------ */

static const char *repo_dir(void)
{
    static char dir[1024];
    const char *src = getenv("top_srcdir");
    snprintf(dir, sizeof dir, "%s/examples/microblog/migrations", src && *src ? src : ".");
    return dir;
}

static bool memory_engine(void) { return th_engine_now() == TH_SQLITE_MEMORY; }

static strata_db *verify_db; /* the second, un-armed connection */

/* Column 0 of every row of `sql`, one line each. */
static void dump_query(strata_db *db, const char *sql, text *t)
{
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db, sql);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", sql, strata_db_errmsg(db));
    while ((rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *v = NULL;
        strata_stmt_column_text(st, 0, &v, NULL);
        text_add(t, "%s\n", v ? v : "NULL");
    }
    ck_assert_msg(rc == STRATA_DONE, "%s: %s", sql, strata_db_errmsg(db));
    strata_stmt_finalize(st);
}

/* The rows of the microblog, without the ids a sequence gave. */
static void dump_rows(strata_db *db, text *t)
{
    t->s[0] = '\0';
    dump_query(db, "SELECT 'user ' || username || ' ' || email FROM \"user\" ORDER BY username", t);
    dump_query(db,
               "SELECT 'post ' || u.username || ': ' || p.body FROM post p JOIN \"user\" u "
               "ON u.id = p.user_id ORDER BY u.username, p.body",
               t);
    dump_query(db,
               "SELECT 'follows ' || a.username || ' -> ' || b.username FROM followers f "
               "JOIN \"user\" a ON a.id = f.follower_id JOIN \"user\" b ON b.id = "
               "f.followed_id ORDER BY a.username, b.username",
               t);
}

/* The revision the version table names ("" at base) and the schema. */
static void dump_schema(strata_db *db, text *t)
{
    t->s[0] = '\0';
    strata_metadata *all, *live;
    const char *ex[] = {"strata_version", NULL};
    int rc = strata_schema_introspect(&all, db, NULL);
    ck_assert_msg(rc == STRATA_OK, "introspect: %s", strata_db_errmsg(db));
    bool has_vt = strata_metadata_find_table(all, "strata_version") != NULL;
    strata_metadata_free(all);
    text_add(t, "version:\n");
    if (has_vt)
        dump_query(db, "SELECT version_num FROM strata_version ORDER BY 1", t);
    ck_assert_int_eq(strata_schema_introspect(&live, db, ex), STRATA_OK);
    char *desc;
    ck_assert_int_eq(strata_metadata_describe(live, &desc), STRATA_OK);
    text_add(t, "%s", desc);
    strata_free(desc);
    strata_metadata_free(live);
}

static void exec_ok(strata_db *db, const char *sql)
{
    int rc = strata_db_exec(db, sql);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", sql, strata_db_errmsg(db));
}

static void drop_all(strata_db *db)
{
    exec_ok(db, "DROP TABLE IF EXISTS branch"); /* the tree phase's */
    exec_ok(db, "DROP TABLE IF EXISTS followers");
    exec_ok(db, "DROP TABLE IF EXISTS post");
    exec_ok(db, "DROP TABLE IF EXISTS \"user\"");
    exec_ok(db, "DROP TABLE IF EXISTS strata_version");
}

static void migrate_ok(strata_db *db, bool up, const char *target)
{
    strata_migrations *m;
    int rc = strata_migrations_open(&m, repo_dir());
    ck_assert_msg(rc == STRATA_OK, "open %s: %s", repo_dir(), strata_migrations_errmsg(m));
    rc = up ? strata_migrations_upgrade(m, db, target) : strata_migrations_downgrade(m, db, target);
    ck_assert_msg(rc == STRATA_OK, "%s %s: %s", up ? "upgrade" : "downgrade", target,
                  strata_migrations_errmsg(m));
    strata_migrations_free(m);
}

/* The microblog's rows: three users, a few posts each, who follows whom. */
static void seed(strata_db *db, int posts)
{
    if (th_is_pg()) {
        exec_ok(db, "TRUNCATE followers, post, \"user\" RESTART IDENTITY");
    } else {
        exec_ok(db, "DELETE FROM followers");
        exec_ok(db, "DELETE FROM post");
        exec_ok(db, "DELETE FROM \"user\"");
    }
    exec_ok(db, "INSERT INTO \"user\" (username, email) VALUES ('john', 'john@example.com'), "
                "('susan', 'susan@example.com'), ('david', 'david@example.com')");
    for (int i = 1; i <= posts; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO post (body, timestamp, user_id) VALUES ('post %03d', "
                 "'2026-01-01 00:00:%02d', %d)",
                 i, i % 60, 1 + i % 3);
        exec_ok(db, sql);
    }
    exec_ok(db, "INSERT INTO followers (follower_id, followed_id) VALUES (1, 2), (2, 1), (3, 1)");
}

/* ---- phases ------------------------------------------------------------------------ */

typedef struct phase phase;
struct phase {
    const char *name;
    /* un-armed: the run's connection and data (c->db may stay NULL) */
    void (*setup)(ctx *c);
    /* armed: the calls under test; STRATA_OK or the failing call's code */
    int (*run)(ctx *c);
    /* un-armed, after a failed run: whether the handles still work (else
     * why not) */
    bool (*after_failure)(ctx *c, text *why);
    /* what the database must hold: rows or schema */
    void (*state)(strata_db *db, text *t);
    bool changes_db; /* a failed run may leave the state before or after */
    int posts;       /* rows seeded */
};

/* Everything a phase knows between runs. */
typedef struct expected {
    text out;       /* the un-armed run's output */
    text before;    /* the state after setup */
    text after;     /* the state after an un-armed run */
    text schema[4]; /* migrations: the schema at base and at each revision */
    int nschema;
} expected;

static expected want;

/* The database's URL.  On PostgreSQL without GSSAPI encryption: libpq's
 * GSSAPI probe runs MIT Kerberos, which crashes when its own allocations
 * fail (gss_indicate_mechs_by_attrs) and keeps process-wide caches; neither
 * is strata's, and the test server has no Kerberos anyway. */
static const char *run_url(void)
{
    return th_is_pg() ? th_url_with("gssencmode=disable") : th_url();
}

static void open_run_db(ctx *c) { c->db = th_open_url(run_url()); }

/* Set up the migrated schema with seeded rows on the run's connection. */
static void setup_rows(ctx *c, int posts)
{
    open_run_db(c);
    if (memory_engine())
        migrate_ok(c->db, true, "head");
    seed(c->db, posts);
}

/* -- open -- */

static void setup_none(ctx *c) { (void)c; }

static int run_open(ctx *c)
{
    TRY(c, strata_db_open(&c->db, run_url()));
    TRY(c, strata_db_exec(c->db, "SELECT 1"));
    strata_db_close(c->db);
    c->db = NULL;
    text_add(&c->out, "opened\n");
    return STRATA_OK;
}

static void state_none(strata_db *db, text *t)
{
    (void)db;
    t->s[0] = '\0';
}

/* -- migrations -- */

static void collect(void *ud, const char *line) { text_add(ud, "%s\n", line); }

static void setup_base(ctx *c)
{
    open_run_db(c);
    drop_all(c->db);
}

static void setup_head(ctx *c)
{
    setup_base(c);
    migrate_ok(c->db, true, "head");
}

static int run_migrate(ctx *c, bool up)
{
    TRY(c, strata_migrations_open(&c->m, repo_dir()));
    strata_migrations_set_output(c->m, collect, &c->out);
    if (up)
        TRY(c, strata_migrations_upgrade(c->m, c->db, "head"));
    else
        TRY(c, strata_migrations_downgrade(c->m, c->db, "base"));
    TRY(c, strata_migrations_current(c->m, c->db, &c->str));
    text_add(&c->out, "current: %s\n", c->str);
    strata_free(c->str);
    c->str = NULL;
    strata_migrations_free(c->m);
    c->m = NULL;
    return STRATA_OK;
}

static int run_migrate_up(ctx *c) { return run_migrate(c, true); }
static int run_migrate_down(ctx *c) { return run_migrate(c, false); }

/* Whether the engine has a transaction open, asked past strata's own
 * bookkeeping: ROLLBACK succeeds on SQLite only inside one, SAVEPOINT fails
 * on PostgreSQL only outside one. */
static bool engine_in_transaction(strata_db *db, bool pg)
{
    if (!pg)
        return strata_db_exec(db, "ROLLBACK") == STRATA_OK;
    if (strata_db_exec(db, "SAVEPOINT strata_nomem_probe") != STRATA_OK)
        return false;
    exec_ok(db, "ROLLBACK");
    return true;
}


/* The handle after a failed run: no transaction left open, and the
 * connection still answers. */
static bool handle_usable(ctx *c, text *why)
{
    if (strata_db_in_transaction(c->db)) {
        text_add(why, "the failed run left a transaction open");
        return false;
    }
    /* Never a transaction the handle does not know of: its statements
     * would run, and a later COMMIT commit them, inside it.  (A ROLLBACK
     * that cannot run gives the handle up instead; a BEGIN the server ran
     * but libpq could not read the answer of is rolled back.) */
    if (engine_in_transaction(c->db, th_is_pg())) {
        text_add(why, "the engine still has a transaction open that the handle forgot");
        return false;
    }
    int rc = strata_db_exec(c->db, "SELECT 1");
    if (rc != STRATA_OK) {
        text_add(why, "the connection no longer works: %s: %s", strata_errname(rc),
                 strata_db_errmsg(c->db));
        return false;
    }
    return true;
}

static bool after_failed_migration(ctx *c, text *why)
{
    /* When every allocation fails, even switching SQLite's foreign keys
     * back on can: then the error must say so. */
    bool fk_said = c->m && strstr(strata_migrations_errmsg(c->m),
                                  "foreign keys could not be switched back on");
    ctx_free(c);
    if (!handle_usable(c, why))
        return false;
    if (!th_is_pg()) {
        strata_stmt *st;
        int64_t on = 0;
        if (strata_stmt_prepare(&st, c->db, "PRAGMA foreign_keys") == STRATA_OK &&
            strata_stmt_step(st) == STRATA_ROW)
            strata_stmt_column_int64(st, 0, &on);
        strata_stmt_finalize(st);
        if (on != 1 && !fk_said) {
            text_add(why, "a failed migration left SQLite's foreign keys off, silently");
            return false;
        }
    }
    return true;
}

/* -- session commit -- */

static void setup_rows_4(ctx *c) { setup_rows(c, 4); }

static int run_commit(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    User *john, *amy, *kim;
    Post *p, *old;
    TRY(c, strata_get(c->s, &user_model, 1, &john));
    TRY(c, strata_new(c->s, &user_model, &amy));
    TRY(c, strata_set_text(&amy->username, "amy"));
    TRY(c, strata_set_text(&amy->email, "amy@example.com"));
    TRY(c, strata_add(amy));
    TRY(c, strata_new(c->s, &user_model, &kim));
    TRY(c, strata_set_text(&kim->username, "kim"));
    TRY(c, strata_set_text(&kim->email, "kim@example.com"));
    TRY(c, strata_add(kim));
    TRY(c, strata_new(c->s, &post_model, &p));
    TRY(c, strata_set_text(&p->body, "hello from amy"));
    TRY(c, strata_set_related(p, "author", amy));
    TRY(c, strata_add(p));
    TRY(c, strata_new(c->s, &post_model, &p));
    TRY(c, strata_set_text(&p->body, "john again"));
    TRY(c, strata_set_related(p, "author", john));
    TRY(c, strata_add(p));
    TRY(c, strata_set_text(&john->email, "johnny@example.com"));
    TRY(c, strata_get(c->s, &post_model, 2, &old));
    TRY(c, strata_delete(old));
    TRY(c, strata_session_commit(c->s));
    text_add(&c->out, "amy %lld, kim %lld, post %lld\n", (long long)amy->id, (long long)kim->id,
             (long long)p->id);
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

/* -- cascade: new objects taken along by strata_set_related and
 * strata_collection_add, more of them than the cascade's first room -- */

static int new_user_with_posts(ctx *c, const char *name, int posts, User **out)
{
    char buf[64];
    TRY(c, strata_new(c->s, &user_model, out));
    TRY(c, strata_set_text(&(*out)->username, name));
    snprintf(buf, sizeof buf, "%s@example.com", name);
    TRY(c, strata_set_text(&(*out)->email, buf));
    for (int i = 0; i < posts; i++) {
        Post *p;
        TRY(c, strata_new(c->s, &post_model, &p));
        snprintf(buf, sizeof buf, "%s %d", name, i);
        TRY(c, strata_set_text(&p->body, buf));
        TRY(c, strata_collection_add(*out, "posts", p));
    }
    return STRATA_OK;
}

static int run_cascade(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    User *john, *zed, *kim;
    Post *q;
    TRY(c, strata_get(c->s, &user_model, 1, &john));
    int rc = new_user_with_posts(c, "zed", 10, &zed);
    if (rc != STRATA_OK)
        return rc;
    TRY(c, strata_new(c->s, &post_model, &q));
    TRY(c, strata_set_text(&q->body, "to zed"));
    TRY(c, strata_add(q));
    TRY(c, strata_set_related(q, "author", zed)); /* zed and its 10 posts along */
    if ((rc = new_user_with_posts(c, "kim", 10, &kim)) != STRATA_OK)
        return rc;
    Post *r; /* linked by its many-to-one alone, both new: added at the flush */
    TRY(c, strata_new(c->s, &post_model, &r));
    TRY(c, strata_set_text(&r->body, "to kim"));
    TRY(c, strata_set_related(r, "author", kim));
    TRY(c, strata_collection_add(john, "following", kim)); /* kim and its posts along */
    TRY(c, strata_session_commit(c->s));
    text_add(&c->out, "zed %lld, kim %lld, posts %lld and %lld\n", (long long)zed->id,
             (long long)kim->id, (long long)q->id, (long long)r->id);
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

static bool user_1_held(struct ctx *c, text *why);

/* -- upsert and refresh: an object held from an earlier transaction read
 * again, then the row of another object's upsert written into it -- */

static int run_upsert(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    User *john, *u, *got;
    TRY(c, strata_get(c->s, &user_model, 1, &john));
    c->obj = john;
    c->held = user_1_held;
    TRY(c, strata_session_commit(c->s));
    TRY(c, strata_refresh(john));
    TRY(c, strata_new(c->s, &user_model, &u));
    TRY(c, strata_set_text(&u->username, john->username));
    TRY(c, strata_set_text(&u->email, "upserted@example.com"));
    TRY(c, strata_upsert(u, "username", &got));
    if (got != john)
        nm_die("the upsert of john's username gave another object");
    TRY(c, strata_new(c->s, &user_model, &u));
    TRY(c, strata_set_text(&u->username, "newbie"));
    TRY(c, strata_set_text(&u->email, "newbie@example.com"));
    TRY(c, strata_upsert(u, "username", &got));
    TRY(c, strata_session_commit(c->s));
    text_add(&c->out, "john %s, newbie %lld\n", john->email, (long long)u->id);
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

/* -- a pool: sessions on its connections, a unit of work it runs -- */

static int rename_user_2(strata_session *s, void *unused)
{
    (void)unused;
    User *u;
    int rc = strata_get(s, &user_model, 2, &u);
    return rc != STRATA_OK ? rc : strata_set_text(&u->email, "pooled@example.com");
}

static int run_pool(ctx *c)
{
    strata_pool_options o = STRATA_POOL_OPTIONS_INIT;
    o.max_size = 2;
    o.acquire_timeout_ms = 2000;
    if (memory_engine()) {
        /* Each connection would have its own empty database: refused. */
        plant(c);
        int rc = strata_pool_open(&c->pool, run_url(), &o);
        if (rc != STRATA_E_MISUSE) {
            c->step = "strata_pool_open";
            return rc == STRATA_OK ? STRATA_E_ERROR : rc;
        }
        if (!strstr(strata_pool_errmsg(c->pool), "in-memory"))
            nm_die("the pool's refusal does not say why\n");
        text_add(&c->out, "refused\n");
        return STRATA_OK;
    }
    TRY(c, strata_pool_open(&c->pool, run_url(), &o));
    TRY(c, strata_session_new_from_pool(&c->s, c->pool));
    c->conn = strata_session_db(c->s);
    User *john;
    TRY(c, strata_get(c->s, &user_model, 1, &john));
    text_add(&c->out, "user 1 %s\n", john->email);
    strata_session_free(c->s); /* its connection back to the pool */
    c->s = NULL;
    c->conn = NULL;
    TRY(c, strata_pool_run(c->pool, rename_user_2, NULL, NULL));
    c->committed = true;
    strata_pool_statistics st;
    TRY(c, strata_pool_stats(c->pool, &st));
    text_add(&c->out, "in use %d, idle %d\n", st.in_use, st.idle);
    strata_pool_close(c->pool);
    c->pool = NULL;
    return STRATA_OK;
}

/* After a failure every connection is back in the pool, and the pool
 * hands one out again (a lost one would leave it waiting). */
static bool after_failed_pool(ctx *c, text *why)
{
    strata_session_free(c->s);
    c->s = NULL;
    c->conn = NULL;
    if (c->pool && !memory_engine() && !strstr(c->step, "strata_pool_open")) {
        strata_pool_statistics st;
        strata_db *db = NULL;
        int rc = strata_pool_stats(c->pool, &st);
        if (rc == STRATA_OK && st.in_use != 0) {
            text_add(why, "after the failure the pool counts %d connections in use", st.in_use);
            return false;
        }
        if (rc == STRATA_OK && (rc = strata_pool_acquire(c->pool, &db)) == STRATA_OK)
            rc = strata_db_exec(db, "SELECT 1");
        if (db)
            strata_pool_release(c->pool, db);
        if (rc != STRATA_OK) {
            text_add(why, "after the failure the pool gives no working connection: %s: %s",
                     strata_errname(rc), strata_pool_errmsg(c->pool));
            return false;
        }
    }
    strata_pool_close(c->pool);
    c->pool = NULL;
    return handle_usable(c, why);
}

/* -- the database copied to the other engine: all of it or nothing -- */

/* An empty database of the other engine: a SQLite file, or a schema of
 * its own on the PostgreSQL server. */
static void setup_copy(ctx *c)
{
    setup_rows(c, 4);
    char url[1200];
    if (th_is_pg()) {
        char path[1024];
        snprintf(path, sizeof path, "%s/nomem-copy.db", th_tmpdir());
        unlink(path);
        snprintf(url, sizeof url, "sqlite:///%s", path);
    } else {
        const char *pg = th_pg_url();
        ck_assert_msg(pg != NULL, "the copy phase needs the PostgreSQL server");
        char schema[64];
        snprintf(schema, sizeof schema, "nomem_copy_%d", (int)getpid());
        th_pg_schema_url(pg, schema, "gssencmode=disable", url, sizeof url);
    }
    c->target = th_open_url(url);
}

static int64_t target_tables(strata_db *target)
{
    return th_int(target, th_is_pg() ? "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                     : "SELECT count(*) FROM information_schema.tables "
                                       "WHERE table_schema = current_schema()");
}

static int run_copy(ctx *c)
{
    c->conn = c->target; /* the copy reports on the target */
    TRY(c, strata_copy_database(c->db, c->target, NULL));
    c->committed = true;
    text_add(&c->out, "copied\n");
    return STRATA_OK;
}

/* The source with a post that refers to no user (on SQLite with its
 * foreign keys off for the insert; on PostgreSQL with the key made again
 * NOT VALID): the copy refuses it with STRATA_E_FOREIGN_KEY, whatever
 * allocation fails on the way to naming the row (a search of its own),
 * and never copies it. */
static void setup_copy_dangling(ctx *c)
{
    setup_copy(c);
    if (th_is_pg()) {
        exec_ok(c->db, "DO $$ DECLARE n text; BEGIN "
                       "SELECT conname INTO n FROM pg_constraint "
                       "WHERE conrelid = 'post'::regclass AND contype = 'f'; "
                       "EXECUTE format('ALTER TABLE post DROP CONSTRAINT %I', n); "
                       "INSERT INTO post (body, timestamp, user_id) "
                       "VALUES ('dangling', '2026-01-01 00:00:00', 999); "
                       "EXECUTE format('ALTER TABLE post ADD CONSTRAINT %I FOREIGN KEY (user_id) "
                       "REFERENCES \"user\" (id) NOT VALID', n); END $$");
    } else {
        exec_ok(c->db, "PRAGMA foreign_keys = OFF");
        exec_ok(c->db, "INSERT INTO post (body, timestamp, user_id) "
                       "VALUES ('dangling', '2026-01-01 00:00:00', 999)");
        exec_ok(c->db, "PRAGMA foreign_keys = ON");
    }
}

static int run_copy_dangling(ctx *c)
{
    c->conn = c->target;
    plant(c);
    int rc = strata_copy_database(c->db, c->target, NULL);
    if (rc != STRATA_E_FOREIGN_KEY) {
        c->step = "strata_copy_database";
        return rc == STRATA_OK ? STRATA_E_ERROR : rc;
    }
    /* The message names the row when there is memory to say it (the
     * un-armed run is checked for that); short of it, the engine's own
     * refusal stands. */
    if (!nm.fired && !strstr(strata_db_errmsg(c->target), "user_id=999 refers to no row")) {
        c->step = "strata_copy_database (the dangling row not named)";
        return rc;
    }
    text_add(&c->out, "refused: %s\n", strata_errname(rc));
    return STRATA_OK;
}

/* A failed copy leaves the target as it was: no table (on PostgreSQL,
 * all of them when libpq could not read the COMMIT's answer), and both
 * connections out of their transactions and working. */
static bool after_failed_copy(ctx *c, text *why)
{
    c->conn = NULL;
    if (strata_db_in_transaction(c->target)) {
        text_add(why, "after the failure the target's handle is still in a transaction");
        return false;
    }
    if (engine_in_transaction(c->target, !th_is_pg())) {
        text_add(why, "the target's engine still has a transaction the handle forgot");
        return false;
    }
    if (strata_db_exec(c->target, "SELECT 1") != STRATA_OK) {
        text_add(why, "after the failure the target does not work: %s",
                 strata_db_errmsg(c->target));
        return false;
    }
    int64_t n = target_tables(c->target);
    if (n != 0 && !(!th_is_pg() && nm_failed_in_libpq())) {
        text_add(why, "a failed copy left %lld tables on the target", (long long)n);
        return false;
    }
    return handle_usable(c, why);
}

/* -- savepoints: work undone in the objects and the database, and kept -- */

/* User 1, followed as c->obj, holds the row the database has. */
static bool user_1_held(ctx *c, text *why)
{
    const User *u = c->obj;
    text db = {""}, obj = {""};
    dump_query(c->db, "SELECT username || ' ' || email FROM \"user\" WHERE id = 1", &db);
    text_add(&obj, "%s %s\n", u->username ? u->username : "NULL", u->email ? u->email : "NULL");
    if (strcmp(db.s, obj.s) != 0) {
        text_add(why, "after the rollback, user 1 holds %sbut the database has %s", obj.s, db.s);
        return false;
    }
    return true;
}

static int run_savepoint(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    User *john, *susan, *amy;
    Post *post;
    TRY(c, strata_get(c->s, &user_model, 1, &john));
    c->obj = john;
    c->held = user_1_held;
    TRY(c, strata_get_for_update(c->s, &user_model, 2, 0, &susan));
    TRY(c, strata_session_savepoint(c->s));
    TRY(c, strata_set_text(&john->email, "inner@example.com"));
    TRY(c, strata_new(c->s, &user_model, &amy));
    TRY(c, strata_set_text(&amy->username, "amy"));
    TRY(c, strata_set_text(&amy->email, "amy@example.com"));
    TRY(c, strata_add(amy));
    TRY(c, strata_get(c->s, &post_model, 1, &post));
    TRY(c, strata_delete(post));
    TRY(c, strata_session_flush(c->s));
    TRY(c, strata_session_savepoint(c->s));
    TRY(c, strata_set_text(&john->username, "johnny"));
    TRY(c, strata_session_savepoint_release(c->s));
    TRY(c, strata_session_savepoint_rollback(c->s));
    if (strata_session_savepoint_depth(c->s) != 0 || strcmp(john->username, "john") != 0 ||
        strcmp(john->email, "john@example.com") != 0 || amy->id != 0)
        nm_die("the savepoint's rollback did not put the objects back");
    TRY(c, strata_get(c->s, &post_model, 1, &post));
    TRY(c, strata_set_text(&john->email, "outer@example.com"));
    TRY(c, strata_session_savepoint(c->s));
    TRY(c, strata_set_text(&susan->email, "kept@example.com"));
    TRY(c, strata_session_savepoint_release(c->s));
    TRY(c, strata_session_commit(c->s));
    text_add(&c->out, "john %s, susan %s, post 1 %s, amy %lld\n", john->email, susan->email,
             post->body, (long long)amy->id);
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

/* Every user the session holds, as the rollback left it and before any
 * query reads it again (which would mend it): a persistent one holds its
 * row's values, one added in the transaction is transient without a key,
 * and none is pending or deleted any more. */
static bool objects_agree(ctx *c, text *why)
{
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, c->db, "SELECT username, email FROM \"user\" WHERE id = ?");
    if (rc != STRATA_OK) {
        text_add(why, "reading the users back: %s", strata_db_errmsg(c->db));
        return false;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < c->s->nobjs; i++) {
        strata_object *o = c->s->objs[i];
        if (o->model != &user_model)
            continue;
        const User *u = (const User *)o;
        switch (o->priv->state) {
        case OBJ_PERSISTENT:
            strata_stmt_reset(st);
            strata_stmt_bind_int64(st, 1, u->id);
            if ((rc = strata_stmt_step(st)) != STRATA_ROW) {
                text_add(why, "after the rollback, user %lld is persistent but %s", (long long)u->id,
                         rc == STRATA_DONE ? "has no row" : strata_db_errmsg(c->db));
                ok = false;
                break;
            }
            const char *name = NULL, *email = NULL;
            strata_stmt_column_text(st, 0, &name, NULL);
            strata_stmt_column_text(st, 1, &email, NULL);
            if (!name || !email || !u->username || !u->email || strcmp(name, u->username) ||
                strcmp(email, u->email)) {
                text_add(why, "after the rollback, user %lld holds %s %s but its row has %s %s",
                         (long long)u->id, u->username ? u->username : "NULL",
                         u->email ? u->email : "NULL", name ? name : "NULL",
                         email ? email : "NULL");
                ok = false;
            }
            break;
        case OBJ_TRANSIENT:
        case OBJ_DETACHED:
            if (o->priv->state == OBJ_TRANSIENT && o->priv->loaded) {
                text_add(why, "after the rollback, transient user %s still has a snapshot",
                         u->username ? u->username : "NULL");
                ok = false;
            }
            break;
        default:
            text_add(why, "after the rollback, user %lld (%s) is still %s", (long long)u->id,
                     u->username ? u->username : "NULL",
                     o->priv->state == OBJ_PENDING ? "pending" : "deleted");
            ok = false;
        }
    }
    strata_stmt_finalize(st);
    return ok;
}

/* The session's objects, read through the session after a rollback. */
static bool session_view(ctx *c, text *t, text *why)
{
    t->s[0] = '\0';
    strata_query *q = strata_query_new(c->s, &user_model);
    strata_list *l;
    strata_query_order_by(q, "username", STRATA_ASC);
    int rc = strata_query_all(q, &l);
    if (rc != STRATA_OK) {
        text_add(why, "a query after the rollback: %s: %s", strata_errname(rc),
                 strata_session_errmsg(c->s));
        strata_query_free(q);
        return false;
    }
    for (size_t i = 0; i < l->count; i++) {
        User *u = l->items[i];
        text_add(t, "user %s %s\n", u->username, u->email);
    }
    strata_list_free(l);
    strata_query_free(q);
    return true;
}

/* The session rolled back after a failed run; false, with why, when it
 * cannot be. */
static bool rollback_after_failure(ctx *c, text *why)
{
    int rc = strata_session_rollback(c->s);
    if (rc != STRATA_OK) {
        text_add(why, "rollback after the failure: %s: %s", strata_errname(rc),
                 strata_session_errmsg(c->s));
        return false;
    }
    return true;
}

static bool after_failed_commit(ctx *c, text *why)
{
    strata_list_free(c->l);
    strata_query_free(c->q);
    c->l = NULL, c->q = NULL;
    if (!c->s)
        return handle_usable(c, why);
    (void)strlen(strata_session_errmsg(c->s));
    if (c->step && strcmp(c->step, "strata_session_commit(c->s)") == 0) {
        /* A second commit, with memory: all of it or an error, never
         * success for rows that are not there. */
        if (strata_session_commit(c->s) == STRATA_OK) {
            text rows;
            dump_rows(memory_engine() ? c->db : verify_db, &rows);
            if (strcmp(rows.s, want.after.s) != 0) {
                text_add(why, "a second commit succeeded, but the database holds\n%s", rows.s);
                return false;
            }
            c->redone = true;
        }
    }
    if (!rollback_after_failure(c, why) || !handle_usable(c, why))
        return false;
    /* A COMMIT whose answer libpq could not read may have committed: the
     * objects, rolled back, cannot know (see one_run). */
    text rows, view, users = {""};
    dump_rows(c->db, &rows);
    if (th_is_pg() && nm_failed_in_libpq() && strcmp(rows.s, want.after.s) == 0)
        return true;
    /* The objects agree with the database again: one the phase follows,
     * then every user, as the rollback left them (a query reading them
     * would mend them), then all of them through a query. */
    if (c->obj && c->held && !c->held(c, why))
        return false;
    if (!objects_agree(c, why) || !session_view(c, &view, why))
        return false;
    strata_session_free(c->s);
    c->s = NULL;
    for (char *line = strtok(rows.s, "\n"); line; line = strtok(NULL, "\n"))
        if (!strncmp(line, "user ", 5))
            text_add(&users, "%s\n", line);
    if (strcmp(view.s, users.s) != 0) {
        text_add(why,
                 "after the failure and a rollback the session's objects differ from the "
                 "database:\nsession:\n%sdatabase:\n%s",
                 view.s, users.s);
        return false;
    }
    return true;
}

/* After a failed upsert, before the rollback: the object the upsert may
 * have written the row into is still found by its key (a get read its
 * key through a snapshot the upsert had let go, and crashed); what the
 * get answers, or fails with, in a transaction that failed is the
 * engine's.  Its values are compared after the rollback (user_1_held). */
static bool after_failed_upsert(ctx *c, text *why)
{
    User *john = NULL;
    if (c->s && strata_get(c->s, &user_model, 1, &john) == STRATA_OK &&
        (john->id != 1 || !john->username || !john->email)) {
        text_add(why, "after the failure, the get of user 1 gave a broken object");
        return false;
    }
    return after_failed_commit(c, why);
}

/* -- a key changed: the object moves in the identity map, and back -- */

/* After the failure the post is still the one object for its row, under
 * the key the database has. */
static bool rekey_check(ctx *c, text *why)
{
    if (!c->obj)
        return true; /* it failed before the post was loaded */
    int64_t id = c->committed ? 100 : 1;
    Post *got = NULL;
    int rc = strata_get(c->s, &post_model, id, &got);
    /* A COMMIT whose answer libpq could not read may have committed
     * (see one_run): the row may be 100 while the objects, rolled back,
     * say 1. */
    if (rc == STRATA_E_NOT_FOUND && th_is_pg() && nm_failed_in_libpq())
        return true;
    if (rc != STRATA_OK) {
        text_add(why, "post %lld after the failure: %s: %s", (long long)id, strata_errname(rc),
                 strata_session_errmsg(c->s));
        return false;
    }
    if (got != c->obj) {
        text_add(why, "post %lld after the failure is another object than the one loaded: "
                      "two objects for one row", (long long)id);
        return false;
    }
    return true;
}

/* The post is looked for as the program may go on after a failed flush
 * (when the transaction is still usable), then after a rollback; not
 * after a second commit, which would put the object back in the map by
 * itself. */
static bool after_failed_rekey(ctx *c, text *why)
{
    if (!c->s)
        return handle_usable(c, why);
    if (c->obj && !c->committed) {
        Post *got = NULL;
        int rc = strata_get(c->s, &post_model, 1, &got);
        if (rc == STRATA_OK && got != c->obj) {
            text_add(why, "post 1 after the failed flush is another object than the one loaded: "
                          "two objects for one row");
            return false;
        }
    }
    /* Rolled back after the commit too: what failed began anew. */
    bool ok = rollback_after_failure(c, why) && handle_usable(c, why) && rekey_check(c, why);
    strata_session_free(c->s);
    c->s = NULL;
    return ok;
}

static int run_rekey(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    Post *p, *again;
    TRY(c, strata_get(c->s, &post_model, 1, &p));
    c->obj = p;
    p->id = 100;
    TRY(c, strata_session_commit(c->s));
    c->committed = true;
    TRY(c, strata_get(c->s, &post_model, 100, &again));
    text_add(&c->out, "post %lld: %s\n", (long long)again->id,
             again == p ? "the object loaded" : "another object");
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

/* -- many rows at once: multi-row INSERTs, pipelined on PostgreSQL -- */

#define BULK_USERS 1001 /* two full batches of 500 and one of 1 */

static int run_bulk(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    User *u = NULL;
    for (int i = 0; i < BULK_USERS; i++) {
        char name[16], email[24];
        snprintf(name, sizeof name, "u%04d", i);
        snprintf(email, sizeof email, "u%04d@x", i);
        TRY(c, strata_new(c->s, &user_model, &u));
        TRY(c, strata_set_text(&u->username, name));
        TRY(c, strata_set_text(&u->email, email));
        TRY(c, strata_add(u));
    }
    TRY(c, strata_session_commit(c->s));
    text_add(&c->out, "the last of %d users has id %lld\n", BULK_USERS, (long long)u->id);
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

/* -- a tree: rows of one table that refer to each other -- */

/* Inserted in rounds, parents before their children, whatever order they
 * were added in. */
typedef struct Branch {
    strata_object base;
    int64_t id;
    char *name;
    char *note;
    int64_t parent_id;
} Branch;

extern const strata_model branch_model;
static const strata_field branch_fields[] = {
    STRATA_PK(Branch, id),
    STRATA_STRING(Branch, name, 20, 0),
    STRATA_STRING(Branch, note, 20, STRATA_NULLABLE),
    STRATA_FOREIGN_KEY(Branch, parent_id, "branch.id", STRATA_NULLABLE),
    STRATA_FIELDS_END};
static const strata_relation branch_relations[] = {
    {"parent", STRATA_MANY_TO_ONE, &branch_model, .fk = "parent_id"}, STRATA_RELATIONS_END};
const strata_model branch_model = {STRATA_MODEL_VERSION,          "Branch",
                                   .size = sizeof(Branch),        .fields = branch_fields,
                                   .relations = branch_relations, .repr = "name"};

/* The tree: each node's name and its parent's index (-1: a root), added
 * leaves first; the rows that set a note go in other batches of their
 * round than those that do not. */
#define TREE_NODES 7
static const struct {
    const char *name;
    int parent;
    bool note;
} tree_plan[TREE_NODES] = {{"g1", 5, false}, {"g2", 4, true}, {"g3", 5, true}, {"k2", 6, false},
                           {"k3", 6, true},  {"k1", 6, false}, {"root", -1, false}};
/* The run's objects, for after_failed_tree. */
static Branch *tree_nodes[TREE_NODES];
static User *tree_user;

static void setup_tree(ctx *c)
{
    setup_rows(c, 4);
    exec_ok(c->db, "DROP TABLE IF EXISTS branch");
    const strata_model *models[] = {&branch_model, NULL};
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    ck_assert_int_eq(strata_metadata_add_models(md, models), STRATA_OK);
    int rc = strata_metadata_create_all(md, c->db);
    ck_assert_msg(rc == STRATA_OK, "create_all: %s", strata_db_errmsg(c->db));
    strata_metadata_free(md);
}

/* The microblog's rows and the tree's, without the ids. */
static void dump_tree(strata_db *db, text *t)
{
    dump_rows(db, t);
    dump_query(db,
               "SELECT 'branch ' || b.name || ' under ' || coalesce(p.name, '-') || ' note ' || "
               "coalesce(b.note, '-') FROM branch b LEFT JOIN branch p ON p.id = b.parent_id "
               "ORDER BY b.name",
               t);
}

/* Each node's key to its parent, as the objects have them. */
static void tree_keys(text *t)
{
    for (int i = 0; i < TREE_NODES; i++) {
        const Branch *b = tree_nodes[i];
        int p = tree_plan[i].parent;
        text_add(t, "%s %s\n", b->name,
                 p < 0 ? "a root" : b->parent_id == tree_nodes[p]->id ? "under its parent" : "lost");
    }
}

static int run_tree(ctx *c)
{
    memset(tree_nodes, 0, sizeof tree_nodes);
    tree_user = NULL;
    TRY(c, strata_session_new(&c->s, c->db));
    for (int i = 0; i < TREE_NODES; i++) {
        TRY(c, strata_new(c->s, &branch_model, &tree_nodes[i]));
        TRY(c, strata_set_text(&tree_nodes[i]->name, tree_plan[i].name));
        if (tree_plan[i].note)
            TRY(c, strata_set_text(&tree_nodes[i]->note, "leafy"));
        else
            TRY(c, strata_set_null(tree_nodes[i], "note", true));
        if (tree_plan[i].parent < 0)
            TRY(c, strata_set_null(tree_nodes[i], "parent_id", true));
    }
    for (int i = 0; i < TREE_NODES; i++) {
        if (tree_plan[i].parent >= 0)
            TRY(c, strata_set_related(tree_nodes[i], "parent", tree_nodes[tree_plan[i].parent]));
        TRY(c, strata_add(tree_nodes[i]));
        if (i == 2) { /* a row of another model among them */
            TRY(c, strata_new(c->s, &user_model, &tree_user));
            TRY(c, strata_set_text(&tree_user->username, "gardener"));
            TRY(c, strata_set_text(&tree_user->email, "gardener@example.com"));
            TRY(c, strata_add(tree_user));
        }
    }
    TRY(c, strata_session_commit(c->s));
    tree_keys(&c->out);
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

/* After a failed commit, with memory: the commit again, or a rollback and
 * every node added again, writes the whole tree, and the objects' keys
 * agree with it. */
static bool after_failed_tree(ctx *c, text *why)
{
    if (!c->s)
        return handle_usable(c, why);
    bool at_commit = c->step && strcmp(c->step, "strata_session_commit(c->s)") == 0;
    int rc = at_commit ? strata_session_commit(c->s) : STRATA_E_MISUSE;
    if (rc != STRATA_OK) {
        if (!rollback_after_failure(c, why) || !handle_usable(c, why))
            return false;
        rc = STRATA_OK;
        text rows;
        dump_tree(c->db, &rows);
        /* A COMMIT whose answer libpq could not read may have committed
         * (see one_run). */
        if (!at_commit || (th_is_pg() && nm_failed_in_libpq() && strcmp(rows.s, want.after.s) == 0))
            return true;
        for (int i = 0; i < TREE_NODES && rc == STRATA_OK; i++)
            rc = strata_add(tree_nodes[i]);
        if (rc == STRATA_OK)
            rc = strata_add(tree_user);
        if (rc == STRATA_OK)
            rc = strata_session_commit(c->s);
        if (rc != STRATA_OK) {
            text_add(why, "the tree added again after a rollback: %s: %s", strata_errname(rc),
                     strata_session_errmsg(c->s));
            return false;
        }
    }
    c->redone = true; /* one_run compares the database with the run's */
    text keys = {""};
    tree_keys(&keys);
    if (strcmp(keys.s, want.out.s) != 0) {
        text_add(why, "the tree written after the failure, but the objects say\n%s", keys.s);
        return false;
    }
    return handle_usable(c, why);
}

/* The tree made un-armed, then deleted through the session root first:
 * the flush deletes it leaves first. */
static void setup_tree_rows(ctx *c)
{
    setup_tree(c);
    exec_ok(c->db, "INSERT INTO branch (id, name, note, parent_id) VALUES (1, 'root', NULL, NULL)");
    exec_ok(c->db, "INSERT INTO branch (id, name, note, parent_id) VALUES (2, 'k1', NULL, 1), "
                   "(3, 'k2', 'leafy', 1), (4, 'g1', NULL, 2), (5, 'g2', NULL, 3), "
                   "(6, 'g3', 'leafy', 2)");
}

static int run_tree_delete(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    strata_query *q;
    TRY_PTR(c, q = strata_query_new(c->s, &branch_model));
    c->q = q;
    TRY(c, strata_query_order_by(q, "id", STRATA_ASC)); /* parents before their children */
    TRY(c, strata_query_all(q, &c->l));
    for (size_t i = 0; i < c->l->count; i++)
        TRY(c, strata_delete(c->l->items[i]));
    TRY(c, strata_session_commit(c->s));
    text_add(&c->out, "%zu branches deleted\n", c->l->count);
    strata_list_free(c->l);
    strata_query_free(c->q);
    c->l = NULL, c->q = NULL;
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

/* After a failed commit: the commit again writes it all, or a rollback
 * leaves the tree whole. */
static bool after_failed_tree_delete(ctx *c, text *why)
{
    strata_list_free(c->l);
    strata_query_free(c->q);
    c->l = NULL, c->q = NULL;
    if (!c->s)
        return handle_usable(c, why);
    if (c->step && strcmp(c->step, "strata_session_commit(c->s)") == 0 &&
        strata_session_commit(c->s) == STRATA_OK) {
        c->redone = true; /* one_run compares the database with the run's */
        return handle_usable(c, why);
    }
    return rollback_after_failure(c, why) && handle_usable(c, why);
}

/* -- queries -- */

static void setup_rows_7(ctx *c) { setup_rows(c, 7); }

static int add_list(ctx *c, const strata_list *l)
{
    TRY_PTR(c, c->str = strata_list_repr(l));
    text_add(&c->out, "%s\n", c->str);
    strata_free(c->str);
    c->str = NULL;
    return STRATA_OK;
}

static int run_query(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    TRY_PTR(c, c->q = strata_query_new(c->s, &user_model));
    TRY(c, strata_query_filter(c->q, strata_c("username", STRATA_NE, strata_text("david"))));
    TRY(c, strata_query_order_by(c->q, "username", STRATA_DESC));
    TRY(c, strata_query_all(c->q, &c->l));
    TRY(c, add_list(c, c->l));
    strata_list_free(c->l);
    c->l = NULL;
    strata_query_free(c->q);

    TRY_PTR(c, c->q = strata_query_new(c->s, &post_model));
    TRY(c, strata_query_filter(c->q, strata_c("author.username", STRATA_LIKE, strata_text("%n"))));
    TRY(c,
        strata_query_filter(c->q, strata_or(strata_c("body", STRATA_LT, strata_text("post 004")),
                                            strata_c("body", STRATA_GE, strata_text("post 006")))));
    TRY(c, strata_query_order_by(c->q, "body", STRATA_ASC));
    TRY(c, strata_query_paginate(c->q, 2, 2, &c->pg));
    text_add(&c->out, "page %lld of %lld, %lld in all: ", (long long)c->pg.page,
             (long long)c->pg.pages, (long long)c->pg.total);
    TRY(c, add_list(c, c->pg.items));
    strata_page_clear(&c->pg);
    int64_t n;
    TRY(c, strata_query_count(c->q, &n));
    Post *first;
    TRY(c, strata_query_first(c->q, &first));
    text_add(&c->out, "count %lld, first %s\n", (long long)n, first ? first->body : "none");
    strata_query_free(c->q);

    /* Grouped values, checked against their groups as they are built. */
    TRY_PTR(c, c->q = strata_query_new(c->s, &post_model));
    TRY(c, strata_query_columns(c->q, "author.username, count(*)"));
    TRY(c, strata_query_group_by(c->q, "author.id"));
    TRY(c, strata_query_having(c->q, strata_c("count(*)", STRATA_GE, strata_int(1))));
    TRY(c, strata_query_order_by(c->q, "author.username", STRATA_ASC));
    strata_rows *rows;
    TRY(c, strata_query_rows(c->q, &rows));
    text_add(&c->out, "groups %zu, first %s\n", strata_rows_count(rows),
             strata_rows_count(rows) ? strata_rows_text(rows, 0, 0) : "none");
    strata_rows_free(rows);
    strata_query_free(c->q);
    c->q = NULL;
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

static bool after_failed_query(ctx *c, text *why)
{
    if (c->s)
        (void)strlen(strata_session_errmsg(c->s));
    ctx_free(c);
    return handle_usable(c, why);
}

/* -- relationships -- */

static int add_names(ctx *c, const char *what, const strata_list *l)
{
    /* Users come in no set order (followers has no order_by: the server's
     * plan decides), so they are written sorted; posts by id. */
    const char *names[32];
    size_t n = 0;
    for (size_t i = 0; i < l->count && n < sizeof names / sizeof names[0]; i++) {
        strata_object *o = l->items[i];
        const char *name = o->model == &user_model ? ((User *)o)->username : ((Post *)o)->body;
        size_t at = n++;
        for (; o->model == &user_model && at > 0 && strcmp(names[at - 1], name) > 0; at--)
            names[at] = names[at - 1];
        names[at] = name;
    }
    text_add(&c->out, "%s:", what);
    for (size_t i = 0; i < n; i++)
        text_add(&c->out, " %s", names[i]);
    if (l->count > n)
        text_add(&c->out, " and %zu more", l->count - n);
    text_add(&c->out, "\n");
    return STRATA_OK;
}

static int run_relations(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    TRY_PTR(c, c->q = strata_query_new(c->s, &user_model));
    TRY(c, strata_query_load(c->q, "posts"));
    TRY(c, strata_query_load(c->q, "followers"));
    TRY(c, strata_query_order_by(c->q, "username", STRATA_ASC));
    TRY(c, strata_query_all(c->q, &c->l));
    User *john = NULL, *susan = NULL, *david = NULL;
    for (size_t i = 0; i < c->l->count; i++) {
        User *u = c->l->items[i];
        const strata_list *posts, *followers;
        TRY(c, strata_related_list(u, "posts", &posts));
        TRY(c, strata_related_list(u, "followers", &followers));
        text_add(&c->out, "%s\n", u->username);
        add_names(c, "  posts", posts);
        add_names(c, "  followers", followers);
        if (!strcmp(u->username, "john"))
            john = u;
        else if (!strcmp(u->username, "susan"))
            susan = u;
        else
            david = u;
    }
    strata_list_free(c->l);
    c->l = NULL;
    strata_query_free(c->q);
    c->q = NULL;
    if (!john || !susan || !david) {
        c->step = "the users";
        return STRATA_E_NOT_FOUND;
    }
    /* Many-to-one, lazily. */
    Post *p;
    User *author;
    TRY(c, strata_get(c->s, &post_model, 3, &p));
    TRY(c, strata_related(p, "author", &author));
    text_add(&c->out, "%s by %s\n", p->body, author ? author->username : "nobody");
    /* susan stops following john; susan and john follow david. */
    TRY(c, strata_collection_remove(john, "followers", susan));
    TRY(c, strata_collection_add(david, "followers", susan));
    TRY(c, strata_collection_add(john, "following", david));
    int is = -1;
    TRY(c, strata_collection_contains(susan, "following", david, &is));
    text_add(&c->out, "susan follows david: %d\n", is);
    TRY(c, strata_session_commit(c->s));
    c->committed = true;
    /* The commit expired the collection: this reads it again. */
    const strata_list *followers;
    TRY(c, strata_related_list(david, "followers", &followers));
    add_names(c, "david's followers", followers);
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

/* -- streaming -- */

static void setup_rows_40(ctx *c) { setup_rows(c, 40); }

static int run_stream(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    TRY_PTR(c, c->q = strata_query_new(c->s, &post_model));
    TRY(c, strata_query_filter(c->q, strata_c("user_id", STRATA_NE, strata_int(3))));
    TRY(c, strata_query_order_by(c->q, "id", STRATA_ASC));
    TRY(c, strata_query_iter(c->q, &c->it));
    Post *p;
    int rc, n = 0;
    int64_t sum = 0;
    for (plant(c); (rc = strata_iter_next(c->it, &p)) == STRATA_ROW; plant(c)) {
        n++;
        sum += p->id;
    }
    if (rc != STRATA_DONE) {
        c->step = "strata_iter_next";
        return rc;
    }
    text_add(&c->out, "streamed %d posts, ids summing to %lld\n", n, (long long)sum);
    strata_iter_free(c->it);
    c->it = NULL;
    strata_query_free(c->q);
    c->q = NULL;
    strata_session_free(c->s);
    c->s = NULL;

    TRY(c,
        strata_stmt_prepare(&c->st, c->db, "SELECT body FROM post WHERE user_id = ? ORDER BY id"));
    TRY(c, strata_stmt_bind_int64(c->st, 1, 3));
    TRY(c, strata_stmt_stream(c->st));
    while ((rc = strata_stmt_step(c->st)) == STRATA_ROW) {
        const char *body;
        size_t len;
        TRY(c, strata_stmt_column_text(c->st, 0, &body, &len));
        text_add(&c->out, "%.*s;", (int)len, body);
    }
    if (rc != STRATA_DONE) {
        c->step = "strata_stmt_step";
        return rc;
    }
    text_add(&c->out, "\n");
    strata_stmt_finalize(c->st);
    c->st = NULL;
    return STRATA_OK;
}

/* ---- joins, subqueries and rows of objects; bulk changes -------------------- */

static int run_subq(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    TRY_PTR(c, c->q = strata_query_new(c->s, &post_model));
    TRY(c, strata_query_join(c->q, "author"));
    TRY(c, strata_query_outer_join(c->q, "author.followers"));
    TRY(c, strata_query_filter(c->q, strata_c("author.following.username", STRATA_NE, strata_text("zz"))));
    TRY(c, strata_query_order_by(c->q, "body", STRATA_ASC));
    TRY(c, strata_query_order_by(c->q, "author.followers.username", STRATA_ASC));
    strata_tuples *t = NULL;
    TRY(c, strata_query_tuples(c->q, &t));
    for (size_t i = 0; i < strata_tuples_count(t); i++) {
        Post *p = strata_tuples_get(t, i, 0);
        User *u = strata_tuples_get(t, i, 2);
        text_add(&c->out, "%s %s\n", p->body, u ? u->username : "-");
    }
    strata_tuples_free(t);
    strata_query_free(c->q);
    c->q = NULL;
    strata_query *sub;
    TRY_PTR(c, c->q = strata_query_new(c->s, &user_model));
    TRY_PTR(c, c->sub = strata_query_new(c->s, &post_model));
    TRY(c, strata_query_correlate(c->sub, "user_id", "id"));
    TRY(c, strata_query_filter(c->sub, strata_c("body", STRATA_GE, strata_text("post 003"))));
    sub = c->sub, c->sub = NULL;
    TRY(c, strata_query_filter(c->q, strata_not(strata_c_exists(sub))));
    TRY_PTR(c, c->sub = strata_query_new(c->s, &user_model));
    TRY(c, strata_query_columns(c->sub, "id"));
    TRY(c, strata_query_filter(c->sub, strata_c("followers.username", STRATA_LIKE, strata_text("%"))));
    TRY(c, strata_query_limit(c->sub, 5));
    sub = c->sub, c->sub = NULL;
    TRY(c, strata_query_filter(c->q, strata_c_in_query("following.id", sub)));
    TRY(c, strata_query_order_by(c->q, "username", STRATA_ASC));
    TRY(c, strata_query_all(c->q, &c->l));
    TRY(c, add_list(c, c->l));
    strata_list_free(c->l);
    c->l = NULL;
    int64_t n;
    TRY(c, strata_query_count(c->q, &n));
    text_add(&c->out, "count %lld\n", (long long)n);
    strata_query_free(c->q);
    c->q = NULL;
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

static int run_bulkchange(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    /* First a bulk delete a foreign key refuses (david's posts hold his
     * row) after his association rows went: the program carries on. */
    TRY_PTR(c, c->q = strata_query_new(c->s, &user_model));
    TRY(c, strata_query_filter(c->q, strata_c("username", STRATA_EQ, strata_text("david"))));
    int64_t refused;
    int rc = strata_query_delete(c->q, &refused);
    if (rc != STRATA_E_FOREIGN_KEY) {
        c->step = "strata_query_delete";
        return rc == STRATA_OK ? STRATA_E_ERROR : rc;
    }
    text_add(&c->out, "delete refused\n");
    strata_query_free(c->q);
    c->q = NULL;
    TRY_PTR(c, c->q = strata_query_new(c->s, &user_model));
    TRY(c, strata_query_load(c->q, "followers"));
    TRY(c, strata_query_all(c->q, &c->l));
    strata_list_free(c->l);
    c->l = NULL;
    strata_query_free(c->q);
    c->q = NULL;
    int64_t n;
    TRY_PTR(c, c->q = strata_query_new(c->s, &post_model));
    TRY(c, strata_query_filter(c->q, strata_c("author.followers.username", STRATA_EQ, strata_text("susan"))));
    TRY(c, strata_query_update(c->q, (strata_assign[]){{"body", strata_text("edited")}}, 1, &n));
    text_add(&c->out, "updated %lld\n", (long long)n);
    strata_query_free(c->q);
    c->q = NULL;
    TRY_PTR(c, c->q = strata_query_new(c->s, &user_model));
    TRY(c, strata_query_filter(c->q, strata_c("username", STRATA_EQ, strata_text("david"))));
    TRY(c, strata_query_update(c->q, (strata_assign[]){{"email", strata_text("dave@example.com")}}, 1, &n));
    strata_query_free(c->q);
    c->q = NULL;
    TRY_PTR(c, c->q = strata_query_new(c->s, &post_model));
    TRY(c, strata_query_filter(c->q, strata_c("user_id", STRATA_EQ, strata_int(3))));
    TRY(c, strata_query_delete(c->q, &n));
    text_add(&c->out, "deleted %lld\n", (long long)n);
    strata_query_free(c->q);
    c->q = NULL;
    TRY(c, strata_session_commit(c->s));
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

/* -- a rollback reads again the objects first read after the writes -- */

static int run_rollback_reread(ctx *c)
{
    TRY(c, strata_session_new(&c->s, c->db));
    int64_t n;
    TRY_PTR(c, c->q = strata_query_new(c->s, &user_model));
    TRY(c, strata_query_filter(c->q, strata_c("username", STRATA_EQ, strata_text("susan"))));
    TRY(c, strata_query_update(c->q, (strata_assign[]){{"email", strata_text("x@example.com")}}, 1, &n));
    strata_query_free(c->q);
    TRY_PTR(c, c->q = strata_query_new(c->s, &user_model));
    TRY(c, strata_query_order_by(c->q, "id", STRATA_ASC));
    TRY(c, strata_query_all(c->q, &c->l));
    TRY(c, strata_session_rollback(c->s));
    for (size_t i = 0; i < c->l->count; i++) {
        const User *u = c->l->items[i];
        text_add(&c->out, "%s %s\n", u->username, u->email);
    }
    strata_list_free(c->l);
    c->l = NULL;
    strata_query_free(c->q);
    c->q = NULL;
    strata_session_free(c->s);
    c->s = NULL;
    return STRATA_OK;
}

static const phase phases[] = {
    {"open", setup_none, run_open, NULL, state_none, false, 0},
    {"migrate-up", setup_base, run_migrate_up, after_failed_migration, dump_schema, true, 0},
    {"migrate-down", setup_head, run_migrate_down, after_failed_migration, dump_schema, true, 0},
    {"commit", setup_rows_4, run_commit, after_failed_commit, dump_rows, true, 4},
    {"cascade", setup_rows_4, run_cascade, after_failed_commit, dump_rows, true, 4},
    {"bulk-insert", setup_rows_4, run_bulk, after_failed_commit, dump_rows, true, 4},
    {"upsert", setup_rows_4, run_upsert, after_failed_upsert, dump_rows, true, 4},
    {"savepoint", setup_rows_4, run_savepoint, after_failed_commit, dump_rows, true, 4},
    {"pool", setup_rows_4, run_pool, after_failed_pool, dump_rows, true, 4},
    {"copy", setup_copy, run_copy, after_failed_copy, dump_rows, false, 4},
    {"copy-dangling", setup_copy_dangling, run_copy_dangling, after_failed_copy, dump_rows, false,
     4},
    {"query", setup_rows_7, run_query, after_failed_query, dump_rows, false, 7},
    {"relations", setup_rows_7, run_relations, after_failed_commit, dump_rows, true, 7},
    {"stream", setup_rows_40, run_stream, after_failed_query, dump_rows, false, 40},
    {"subquery", setup_rows_7, run_subq, after_failed_query, dump_rows, false, 7},
    {"bulk-change", setup_rows_7, run_bulkchange, after_failed_commit, dump_rows, true, 7},
    {"rollback-reread", setup_rows_4, run_rollback_reread, after_failed_commit, dump_rows, false,
     4},
    {"rekey", setup_rows_4, run_rekey, after_failed_rekey, dump_rows, true, 4},
    {"tree", setup_tree, run_tree, after_failed_tree, dump_tree, true, 4},
    {"tree-delete", setup_tree_rows, run_tree_delete, after_failed_tree_delete, dump_tree, true, 4},
};

/* ---- the driver ------------------------------------------------------------------------ */

/* Seconds a phase may take on one engine, two thirds for "once", one
 * third for "persistent" (STRATA_NOMEM_BUDGET overrides). */
#define BUDGET_S 5.0

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What is described when a check fails. */
static struct {
    const phase *ph;
    const char *mode;
    long n;
    const ctx *c;
} cur;

static void describe_run(void)
{
    fprintf(stderr, "test_nomem: %s on %s, %s failure at allocation %ld", cur.ph->name,
            th_engine_name(th_engine_now()), cur.mode, cur.n);
    if (cur.c && cur.c->step)
        fprintf(stderr, ": %s gave %s", cur.c->step, strata_errname(cur.c->rc));
    fprintf(stderr, "\n");
    if (nm.nbt) {
        fprintf(stderr, "  the first injected failure (in %s):\n",
                *nm_first_frame_object() ? nm_first_frame_object() : "strata");
        backtrace_symbols_fd(nm.bt, nm.nbt, 2);
    }
}

/* A run that hangs: say which, and where it waits. */
#define RUN_TIMEOUT_S 60

static void on_hang(int sig)
{
    (void)sig;
    nm.armed = false;
    nm_say("test_nomem: a run hangs\n");
    if (cur.ph)
        describe_run();
    void *bt[NM_FRAMES];
    int n = backtrace(bt, NM_FRAMES);
    backtrace_symbols_fd(bt, n, 2);
    _exit(98);
}

static void on_crash(int sig)
{
    nm_say("test_nomem: crashed\n");
    if (cur.ph)
        describe_run();
    void *bt[NM_FRAMES];
    int n = backtrace(bt, NM_FRAMES);
    backtrace_symbols_fd(bt, n, 2);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int failures;

/* The message of the call that failed, when it reports on the connection
 * (a session's messages are its connection's, strata_query_new's NULL
 * included); NULL when it reports elsewhere (the migrations' handle) or
 * nowhere (the text setter, the list's repr, add_list's). */
static const char *said_on_db(const ctx *c)
{
    strata_db *db = c->conn ? c->conn : c->db;
    if (!db || strstr(c->step, "strata_set_text") || strstr(c->step, "strata_list_repr") ||
        strstr(c->step, "add_list") || strstr(c->step, "strata_migrations_") ||
        strstr(c->step, "pool"))
        return NULL;
    return strata_db_errmsg(db);
}

/* Check `cond` about the current run: report it (and go on when asked). */
#define EXPECT(cond, ...)                                                                    \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            describe_run();                                                                  \
            fprintf(stderr, "  " __VA_ARGS__);                                               \
            fprintf(stderr, "\n");                                                           \
            failures++;                                                                      \
            if (!env_long("STRATA_NOMEM_KEEP_GOING", 0))                                     \
                ck_abort_msg("%s: %s failure at allocation %ld: %s", cur.ph->name, cur.mode, \
                             cur.n, #cond);                                                  \
            goto next;                                                                       \
        }                                                                                    \
    } while (0)

/* The connection the database state is read through. */
static strata_db *state_db(ctx *c) { return memory_engine() ? c->db : verify_db; }

enum { RUN_RECORD = 1, RUN_NO_LEAK_CHECK = 2 };

/* One run: set up, run armed with a failure at allocation n (0: none),
 * check.  Returns how many failures were injected. */
static long given_up;  /* runs whose handle stayed broken: closed */
static long recovered; /* runs whose handle a rollback made whole again */

/* A handle a ROLLBACK out of memory left broken: rolled back again. */
static void recover(strata_db *db)
{
    if (db && strata_db_is_broken(db) && strata_db_rollback(db) == STRATA_OK &&
        !strata_db_is_broken(db))
        recovered++;
}

static long one_run(const phase *ph, long n, bool persistent, int flags)
{
    bool gave_up = false;
    ctx c;
    memset(&c, 0, sizeof c);
    cur.ph = ph;
    cur.mode = persistent ? "persistent" : "once";
    cur.n = n;
    cur.c = &c;
    alarm(RUN_TIMEOUT_S);
    ph->setup(&c);
    text before, after, why = {""};
    ph->state(state_db(&c), &before);
    long live0 = nm.live;
    nm_watch_pipelines();
    nm_arm(n, persistent);
    c.rc = ph->run(&c);
    nm_disarm();
    long fired = nm.fired;
    if (flags & RUN_RECORD) {
        ck_assert_msg(c.rc == STRATA_OK, "%s without failures: %s gave %s: %s", ph->name, c.step,
                      strata_errname(c.rc), c.db ? strata_db_errmsg(c.db) : "");
        want.out = c.out;
        want.before = before;
    }
    if (c.rc != STRATA_OK) {
        EXPECT(fired > 0, "%s gave %s (%s) though no allocation failed", c.step,
               strata_errname(c.rc), c.db ? strata_db_errmsg(c.db) : "");
        const char *said = said_on_db(&c);
        EXPECT(!said || !strstr(said, STALE), "%s gave %s with an earlier message: %s", c.step,
               strata_errname(c.rc), said);
        strata_db *said_db = c.conn ? c.conn : c.db;
        EXPECT(!said || strata_db_errcode(said_db) == c.rc,
               "%s gave %s, but the connection holds %s and '%s'", c.step, strata_errname(c.rc),
               strata_errname(strata_db_errcode(said_db)), said);
        /* A ROLLBACK that cannot run for lack of memory leaves its handle
         * broken until a rollback succeeds (src/db.c, engine_rollback):
         * one is run here, with memory, and the run is checked as any
         * other.  A handle still broken (a connection lost) is closed,
         * which ends the engine's transaction; the database is then
         * checked through another connection, and an in-memory one goes
         * with it. */
        recover(c.db);
        recover(c.target);
        gave_up = (c.db && strata_db_is_broken(c.db)) || (c.target && strata_db_is_broken(c.target));
        if (gave_up) {
            given_up++;
        } else {
            EXPECT(!ph->after_failure || !c.db || ph->after_failure(&c, &why), "%s", why.s);
        }
    } else {
        EXPECT(strcmp(c.out.s, want.out.s) == 0,
               "the run succeeded with different output:\n%s\ninstead of\n%s", c.out.s, want.out.s);
    }
    ctx_free(&c);
    /* A run that succeeded may leave its handle broken too, at the end: a
     * session let go rolls its transaction back. */
    recover(c.db);
    if (!gave_up && c.db && strata_db_is_broken(c.db)) {
        gave_up = true;
        given_up++;
    }
    if (gave_up) {
        strata_db_close(c.db);
        c.db = NULL;
        if (memory_engine())
            goto next;
    }
    ph->state(state_db(&c), &after);
    if (flags & RUN_RECORD)
        want.after = after;
    if (ph->state == dump_schema) {
        bool consistent = false;
        for (int i = 0; i < want.nschema; i++)
            consistent |= strcmp(after.s, want.schema[i].s) == 0;
        EXPECT(consistent, "the version table and the schema disagree:\n%s", after.s);
        if (c.rc == STRATA_OK) {
            EXPECT(strcmp(after.s, want.after.s) == 0, "migrated to\n%sinstead of\n%s", after.s,
                   want.after.s);
        } else if (c.db) {
            /* The next, un-armed run finishes the job. */
            bool up = ph->run == run_migrate_up;
            strata_migrations *m;
            int rc = strata_migrations_open(&m, repo_dir());
            if (rc == STRATA_OK)
                rc = up ? strata_migrations_upgrade(m, c.db, "head")
                        : strata_migrations_downgrade(m, c.db, "base");
            text msg = {""};
            text_add(&msg, "%s", strata_migrations_errmsg(m));
            strata_migrations_free(m);
            EXPECT(rc == STRATA_OK, "after the failure, a second %s failed: %s",
                   up ? "upgrade" : "downgrade", msg.s);
            ph->state(state_db(&c), &after);
            EXPECT(strcmp(after.s, want.after.s) == 0,
                   "after a failed migration, another one reached\n%sinstead of\n%s", after.s,
                   want.after.s);
        }
    } else if (c.rc == STRATA_OK || c.redone || c.committed) {
        EXPECT(strcmp(after.s, want.after.s) == 0,
               "the run succeeded but the database holds\n%sinstead of\n%s", after.s, want.after.s);
    } else {
        bool in_doubt = th_is_pg() && ph->changes_db && nm_failed_in_libpq() &&
                        strcmp(after.s, want.after.s) == 0;
        EXPECT(strcmp(after.s, before.s) == 0 || in_doubt,
               "a failed run changed the database to\n%sfrom\n%s", after.s, before.s);
    }
next:
    ctx_free(&c);
    strata_db_close(c.db);
    c.db = NULL;
    if (!(flags & RUN_NO_LEAK_CHECK) && nm.live != live0) {
        long leaked = nm.live - live0;
        describe_run();
        fprintf(stderr, "  %ld block%s made while armed %s still live:\n", leaked,
                leaked == 1 ? "" : "s", leaked == 1 ? "is" : "are");
        int shown = 0;
        for (size_t i = 0; i < NM_SLOTS && shown < 20; i++)
            if (nm.table[i].p) {
                fprintf(stderr, "    %zu bytes at %p, allocation %ld\n", nm.table[i].size,
                        nm.table[i].p, nm.table[i].seq);
                shown++;
            }
        failures++;
        nm_forget_all();
        if (!env_long("STRATA_NOMEM_KEEP_GOING", 0))
            ck_abort_msg("%s: %s failure at allocation %ld: %ld leaked", ph->name, cur.mode, n,
                         leaked);
    }
    if (flags & RUN_NO_LEAK_CHECK)
        nm_forget_all();
    cur.c = NULL;
    alarm(0);
    return fired;
}

/* Every k-th allocation, k the smallest that fits `count` runs of
 * `per_run` seconds in `budget` (doubled later when runs turn out slower;
 * the line a phase prints gives the last). */
static long stride_for(long count, double per_run, double budget)
{
    if (env_long("STRATA_NOMEM_EXHAUSTIVE", 0))
        return 1;
    double k = (double)count * per_run / budget;
    return k <= 1 ? 1 : (long)k + 1;
}

static void run_phase(const phase *ph)
{
    const char *only_phase = getenv("STRATA_NOMEM_PHASE");
    if (only_phase && *only_phase && strcmp(only_phase, ph->name) != 0)
        return;
    signal(SIGSEGV, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGABRT, on_crash);
    signal(SIGALRM, on_hang);
    {
        void *bt[4];
        backtrace(bt, 4); /* loads what backtrace() needs, un-armed */
    }
    nm.trace = env_long("STRATA_NOMEM_TRACE", 0);
    nm.trace_fails = env_long("STRATA_NOMEM_TRACE_FAILS", 0) != 0;
    if (!memory_engine())
        verify_db = th_open_url(run_url());
    /* The schema at each revision, for the migrations' consistency check. */
    memset(&want, 0, sizeof want);
    {
        ctx c = {0};
        open_run_db(&c);
        drop_all(c.db);
        dump_schema(c.db, &want.schema[want.nschema++]);
        for (int i = 0; i < 3; i++) {
            migrate_ok(c.db, true, "+1");
            dump_schema(c.db, &want.schema[want.nschema++]);
        }
        if (!memory_engine() && ph->posts == 0)
            drop_all(c.db);
        strata_db_close(c.db);
    }
    /* Twice un-armed: the libraries' one-time set-up, then the count. */
    double t0 = now_s();
    one_run(ph, 0, false, RUN_RECORD | RUN_NO_LEAK_CHECK);
    double t1 = now_s();
    one_run(ph, 0, false, RUN_RECORD);
    long count = nm.count;
    double per_run = now_s() - t1;
    double budget = env_long("STRATA_NOMEM_BUDGET", 0) > 0
                        ? (double)env_long("STRATA_NOMEM_BUDGET", 0)
                        : BUDGET_S;
    /* Sampled runs start at a random allocation, so that runs over time
     * cover them all; the seed is printed, STRATA_NOMEM_SEED repeats it. */
    long seed = env_long("STRATA_NOMEM_SEED", 0);
    if (!seed)
        seed = (long)(time(NULL) % 1000000) + 1;
    failures = 0;
    given_up = 0;
    recovered = 0;
    nm_exempted = 0;
    long only = env_long("STRATA_NOMEM_ONLY", 0);
    const char *mode = getenv("STRATA_NOMEM_MODE");
    long runs[2] = {0, 0}, strides[2] = {0, 0};
    for (int persistent = 0; persistent <= 1; persistent++) {
        if (mode && *mode && strcmp(mode, persistent ? "persistent" : "once") != 0)
            continue;
        double share = persistent ? budget / 3 : budget * 2 / 3, start = now_s();
        long k = stride_for(count, per_run, share);
        if (only) {
            one_run(ph, only, persistent, 0);
            runs[persistent]++;
            continue;
        }
        long done = 0;
        for (long n = 1 + (seed + persistent) % k;; n += k) {
            runs[persistent]++, done++;
            if (one_run(ph, n, persistent, 0) == 0)
                break;
            /* Runs slower than the measured one (a busy machine): sparser,
             * to stay near the budget. */
            double spent = now_s() - start;
            double left = (double)(count > n ? count - n : 0) / (double)k * spent / (double)done;
            if (spent > share / 4 && spent + left > share * 1.5)
                k *= 2;
        }
        strides[persistent] = k;
    }
    double took = now_s() - t0;
    fprintf(stderr,
            "test_nomem: %-12s on %-13s %6ld allocations; once: %ld runs (every %ld), "
            "persistent: %ld runs (every %ld); seed %ld; %.1f s\n",
            ph->name, th_engine_name(th_engine_now()), count, runs[0], strides[0], runs[1],
            strides[1], seed, took);
    if (recovered)
        fprintf(stderr,
                "test_nomem: %-12s on %-13s %ld runs left their handle broken by a ROLLBACK "
                "that could not run, until a rollback with memory\n",
                ph->name, th_engine_name(th_engine_now()), recovered);
    if (given_up)
        fprintf(stderr,
                "test_nomem: %-12s on %-13s %ld runs left their handle broken for good: "
                "closed\n",
                ph->name, th_engine_name(th_engine_now()), given_up);
    if (nm_exempted)
        fprintf(stderr,
                "test_nomem: %-12s on %-13s %ld allocations were not failed, or the run would "
                "hang (libpq's results in a pipeline)\n",
                ph->name, th_engine_name(th_engine_now()), nm_exempted);
    if ((ph->setup == setup_tree || ph->setup == setup_tree_rows) && !memory_engine())
        exec_ok(verify_db, "DROP TABLE branch");
    if (verify_db) {
        strata_db_close(verify_db);
        verify_db = NULL;
    }
    cur.ph = NULL;
    ck_assert_msg(failures == 0, "%s: %d failing runs (see above)", ph->name, failures);
}

START_TEST(nomem_phase) { run_phase(&phases[_i]); }
END_TEST

static void add_tests(TCase *tc, th_engine engine)
{
    (void)engine;
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, nomem_phase, 0, (int)(sizeof phases / sizeof phases[0]));
}

#endif /* the injection */

static Suite *build_suite(void) { return th_suite("nomem", add_tests); }

int main(void) { return th_run(build_suite); }
