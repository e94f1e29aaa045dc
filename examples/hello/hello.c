/*
 * hello.c - the smallest strata program: open the configured database
 * (DATABASE_URL, else sqlite:///app.db in the working directory), create a
 * table, insert a few rows in one transaction, and read them back.  The
 * same program runs on PostgreSQL by changing only DATABASE_URL.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <strata.h>

static int fail(strata_db *db, const char *what)
{
    fprintf(stderr, "hello: %s: %s (%s)\n", what, strata_db_errmsg(db),
            strata_errname(strata_db_errcode(db)));
    strata_db_close(db);
    return 1;
}

int main(void)
{
    static const char *const names[] = {"john", "susan", "david"};
    strata_db *db;
    strata_stmt *st;
    int rc;

    if (strata_db_open(&db, NULL) != STRATA_OK)
        return fail(db, "open");
    printf("connected to %s (%s)\n", strata_db_url(db), strata_db_backend(db));

    if (strata_db_exec(db, "DROP TABLE IF EXISTS greeting") != STRATA_OK ||
        strata_db_exec(db, "CREATE TABLE greeting (id INTEGER PRIMARY KEY, "
                           "name VARCHAR(64) NOT NULL, created TIMESTAMP NOT NULL)") != STRATA_OK)
        return fail(db, "create table");

    if (strata_db_begin(db) != STRATA_OK)
        return fail(db, "begin");
    for (int i = 0; i < 3; i++) {
        if (strata_stmt_prepare(
                &st, db, "INSERT INTO greeting (id, name, created) VALUES (?, ?, ?)") != STRATA_OK)
            return fail(db, "prepare insert");
        strata_stmt_bind_int64(st, 1, i + 1);
        strata_stmt_bind_text(st, 2, names[i], -1);
        strata_stmt_bind_timestamp(st, 3, strata_timestamp_now());
        rc = strata_stmt_step(st);
        strata_stmt_finalize(st);
        if (rc != STRATA_DONE)
            return fail(db, "insert");
    }
    if (strata_db_commit(db) != STRATA_OK)
        return fail(db, "commit");

    if (strata_stmt_prepare(&st, db, "SELECT id, name, created FROM greeting ORDER BY name") !=
        STRATA_OK)
        return fail(db, "prepare select");
    while ((rc = strata_stmt_step(st)) == STRATA_ROW) {
        int64_t id;
        const char *name;
        strata_timestamp ts;
        char when[STRATA_TIMESTAMP_BUFSIZE];
        strata_stmt_column_int64(st, 0, &id);
        strata_stmt_column_text(st, 1, &name, NULL);
        strata_stmt_column_timestamp(st, 2, &ts);
        strata_timestamp_format(ts, when, sizeof when);
        printf("  %" PRId64 "  %-6s  added %s UTC\n", id, name, when);
    }
    strata_stmt_finalize(st);
    if (rc != STRATA_DONE)
        return fail(db, "select");
    printf("3 rows written and read back; try DATABASE_URL=postgresql://... to run it on "
           "PostgreSQL\n");
    strata_db_close(db);
    return 0;
}
