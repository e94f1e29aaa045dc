/*
 * test_copy.c - strata_copy_database between the engine under test and
 * the other one, both ways: the microblog's data and a table of every
 * portable type arrive the same, the version table goes along, the key
 * counters move past the copied keys, and a target that differs, has
 * rows, or refuses a row halfway is left exactly as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "../examples/microblog/models.h"

static const strata_model *const models[] = {&user_model, &post_model, &followers_model, NULL};

/* A schema of its own on the test server (not through the pooler, which
 * refuses the options parameter that selects it). */
static int scratch_serial;

static strata_db *open_pg_scratch(const char *prefix)
{
    const char *pg = th_pg_url();
    ck_assert_msg(pg != NULL, "the copy tests need the PostgreSQL server");
    char schema[64], url[1024];
    snprintf(schema, sizeof schema, "%s_%d_%d", prefix, (int)getpid(), ++scratch_serial);
    th_pg_schema_url(pg, schema, "", url, sizeof url);
    return th_open_url(url);
}

static strata_db *open_sqlite_scratch(const char *prefix)
{
    char url[1024];
    snprintf(url, sizeof url, "sqlite:///%s/%s%d.db", th_tmpdir(), prefix, ++scratch_serial);
    return th_open_url(url);
}

/* An empty database of the other engine than the one under test. */
static strata_db *open_other(void)
{
    return th_is_pg() ? open_sqlite_scratch("other") : open_pg_scratch("strata_copy");
}

/* An empty database of the engine under test: for the copy back. */
static strata_db *open_same(void)
{
    return th_is_pg() ? open_pg_scratch("strata_back") : open_sqlite_scratch("back");
}

static void every_type_table(strata_db *db)
{
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    ck_assert_int_eq(strata_metadata_add_models(md, models), STRATA_OK);
    strata_table *t;
    ck_assert_int_eq(strata_metadata_add_table(md, "everything", &t), STRATA_OK);
    static const struct {
        const char *name, *type;
    } cols[] = {{"big", "bigint"},       {"small", "smallint"},      {"flag", "boolean"},
                {"ratio", "float"},      {"price", "numeric(10,2)"}, {"code", "string(20)"},
                {"body", "text"},        {"data", "blob"},           {"day", "date"},
                {"seen", "datetime"},    {"seen_tz", "datetime_tz"}, {"doc", "json"},
                {"ref", "uuid"}};
    ck_assert_int_eq(strata_table_add_column(t, "id", "integer",
                                             STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL),
                     STRATA_OK);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        ck_assert_int_eq(strata_table_add_column(t, cols[i].name, cols[i].type, STRATA_NULLABLE,
                                                 NULL),
                         STRATA_OK);
    ck_assert_int_eq(strata_table_add_index(t, NULL, "code", 1), STRATA_OK);
    ck_assert_int_eq(strata_metadata_create_all(md, db), STRATA_OK);
    strata_metadata_free(md);
}

/* The microblog with three users, posts, followers; every type, NULLs
 * included; a version table at one revision. */
static void fill(strata_db *db)
{
    every_type_table(db);
    th_exec(db, "INSERT INTO \"user\" (username, email) VALUES ('susan', 's@example.com'), "
                "('john', 'j@example.com'), ('zoë', 'z@example.com')");
    th_exec(db, "INSERT INTO post (body, timestamp, user_id) VALUES "
                "('hello', '2024-01-02 03:04:05.123456', 1), ('again', '2024-02-03 04:05:06', 1), "
                "('from john', '2024-03-04 05:06:07', 2)");
    th_exec(db, "INSERT INTO followers (follower_id, followed_id) VALUES (1, 2), (2, 1), (3, 1)");
    strata_stmt *st;
    ck_assert_int_eq(strata_stmt_prepare(&st, db,
                                         "INSERT INTO everything (big, small, flag, ratio, price, "
                                         "code, body, data, day, seen, seen_tz, doc, ref) VALUES "
                                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                     STRATA_OK);
    strata_timestamp ts;
    ck_assert_int_eq(strata_timestamp_parse(&ts, "2023-12-31 23:59:59.5", 21), STRATA_OK);
    static const unsigned char bytes[] = {0, 1, 2, 255, 0, 'x'};
    strata_stmt_bind_int64(st, 1, 9007199254740993LL);
    strata_stmt_bind_int64(st, 2, -7);
    strata_stmt_bind_bool(st, 3, 1);
    strata_stmt_bind_double(st, 4, 0.1);
    strata_stmt_bind_text(st, 5, "12.30", -1);
    strata_stmt_bind_text(st, 6, "a'b\"c", -1);
    strata_stmt_bind_text(st, 7, "line one\nline two ✓", -1);
    strata_stmt_bind_blob(st, 8, bytes, sizeof bytes);
    strata_stmt_bind_text(st, 9, "2024-02-29", -1);
    strata_stmt_bind_timestamp(st, 10, ts);
    strata_stmt_bind_timestamp(st, 11, ts);
    strata_stmt_bind_text(st, 12, "{\"b\": 1, \"a\": [1, 2, {\"c\": null}]}", -1);
    strata_stmt_bind_text(st, 13, "0e8a6f1c-3b6d-4c6e-9a3b-2f1d5c7e9a01", -1);
    ck_assert_int_eq(strata_stmt_step(st), STRATA_DONE);
    strata_stmt_finalize(st);
    th_exec(db, "INSERT INTO everything (code) VALUES ('all null')");
    th_exec(db, "INSERT INTO everything (flag, price, code) VALUES (false, -0.5, 'neg')");
    th_exec(db, "CREATE TABLE strata_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)");
    th_exec(db, "INSERT INTO strata_version (version_num) VALUES ('0123456789ab')");
}

static void check_data(strata_db *db)
{
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM \"user\""), 3);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM post"), 3);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM followers"), 3);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM everything"), 3);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM strata_version "
                                "WHERE version_num = '0123456789ab'"),
                     1);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM \"user\" WHERE username = 'zoë'"), 1);
    strata_stmt *st;
    ck_assert_int_eq(strata_stmt_prepare(&st, db,
                                         "SELECT big, small, flag, ratio, price, code, body, data, "
                                         "day, seen, seen_tz, ref FROM everything WHERE id = 1"),
                     STRATA_OK);
    ck_assert_int_eq(strata_stmt_step(st), STRATA_ROW);
    int64_t i;
    int b;
    double d;
    const char *s;
    size_t n;
    const void *p;
    strata_timestamp ts, want;
    ck_assert_int_eq(strata_timestamp_parse(&want, "2023-12-31 23:59:59.5", 21), STRATA_OK);
    strata_stmt_column_int64(st, 0, &i);
    ck_assert(i == 9007199254740993LL);
    strata_stmt_column_int64(st, 1, &i);
    ck_assert_int_eq(i, -7);
    strata_stmt_column_bool(st, 2, &b);
    ck_assert_int_eq(b, 1);
    strata_stmt_column_double(st, 3, &d);
    ck_assert(d == 0.1);
    strata_stmt_column_double(st, 4, &d);
    ck_assert(d == 12.3);
    strata_stmt_column_text(st, 5, &s, &n);
    ck_assert_str_eq(s, "a'b\"c");
    strata_stmt_column_text(st, 6, &s, &n);
    ck_assert_str_eq(s, "line one\nline two ✓");
    strata_stmt_column_blob(st, 7, &p, &n);
    ck_assert_uint_eq(n, 6);
    ck_assert(memcmp(p, "\0\1\2\377\0x", 6) == 0);
    strata_stmt_column_text(st, 8, &s, &n);
    ck_assert_str_eq(s, "2024-02-29");
    strata_stmt_column_timestamp(st, 9, &ts);
    ck_assert(ts == want);
    strata_stmt_column_timestamp(st, 10, &ts);
    ck_assert(ts == want);
    strata_stmt_column_text(st, 11, &s, &n);
    ck_assert_str_eq(s, "0e8a6f1c-3b6d-4c6e-9a3b-2f1d5c7e9a01");
    strata_stmt_finalize(st);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM everything WHERE body IS NULL AND data IS "
                                "NULL AND seen IS NULL AND ref IS NULL AND code = 'all null'"),
                     1);
}

typedef struct lines {
    char text[8192];
    int progress_calls;
    char ends[512]; /* "table;" for each table whose end was reported */
} lines;

static void keep_line(void *ud, const char *line)
{
    lines *l = ud;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s\n", line);
}

static void count_progress(void *ud, const char *table, int64_t done, int64_t total)
{
    lines *l = ud;
    ck_assert(done <= total);
    /* done == total once per table, at its end. */
    if (done == total) {
        char key[140];
        snprintf(key, sizeof key, ";%s;", table);
        ck_assert_msg(!strstr(l->ends, key), "%s ended twice", table);
        size_t n = strlen(l->ends);
        snprintf(l->ends + n, sizeof l->ends - n, "%s%s;", n ? "" : ";", table);
    }
    l->progress_calls++;
}

static int copy(strata_db *from, strata_db *to, lines *out, int batch)
{
    strata_copy_options o = {STRATA_COPY_OPTIONS_VERSION, .batch_rows = batch,
                             .progress = count_progress, .print = keep_line, .ud = out};
    return strata_copy_database(from, to, &o);
}

static void describe(strata_db *db, char **out)
{
    strata_metadata *md;
    ck_assert_int_eq(strata_schema_introspect(&md, db, NULL), STRATA_OK);
    ck_assert_int_eq(strata_metadata_describe(md, out), STRATA_OK);
    strata_metadata_free(md);
}

/* A table with a string column of the database's locale on PostgreSQL:
 * made with the schema layer on `db`. */
static void names_table(strata_db *db, unsigned flags)
{
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    strata_table *t;
    ck_assert_int_eq(strata_metadata_add_table(md, "names", &t), STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(t, "id", "integer", STRATA_PRIMARY_KEY, NULL),
                     STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(t, "name", "string(20)", flags, NULL), STRATA_OK);
    ck_assert_msg(strata_metadata_create_all(md, db) == STRATA_OK, "%s", strata_db_errmsg(db));
    strata_metadata_free(md);
}

/* SQLite cannot tell a column's collation: copied into a PostgreSQL
 * database whose revisions gave a column the locale's, the column keeps
 * it and the copy goes ahead. */
START_TEST(copy_keeps_the_target_collation)
{
    strata_db *sqlite = th_is_pg() ? open_sqlite_scratch("names") : th_open();
    strata_db *pg = th_is_pg() ? th_open() : open_pg_scratch("strata_names");
    names_table(sqlite, 0);
    th_exec(sqlite, "INSERT INTO names (id, name) VALUES (1, 'b'), (2, 'B')");
    names_table(pg, STRATA_COLLATE_LOCALE);
    lines out = {.text = ""};
    int rc = copy(sqlite, pg, &out, 10);
    ck_assert_msg(rc == STRATA_OK, "copy: %s", strata_db_errmsg(pg));
    ck_assert_int_eq(th_int(pg, "SELECT count(*) FROM names"), 2);
    ck_assert_int_eq(th_int(pg, "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON "
                                "c.oid = a.attrelid WHERE c.oid = 'names'::regclass AND "
                                "a.attname = 'name' AND a.attcollation = 100"),
                     1); /* 100: the database's default collation */
    strata_db_close(pg);
    strata_db_close(sqlite);
}
END_TEST

START_TEST(copy_both_ways)
{
    strata_db *here = th_open();
    fill(here);
    strata_db *other = open_other();
    lines out = {.text = ""};
    int rc = copy(here, other, &out, 2); /* batches of 2: full and partial ones */
    ck_assert_msg(rc == STRATA_OK, "copy: %s", strata_db_errmsg(other));
    check_data(other);
    ck_assert_msg(strstr(out.text, "everything") && strstr(out.text, " ok\n") &&
                      !strstr(out.text, "DIFFERS"),
                  "%s", out.text);
    ck_assert_int_gt(out.progress_calls, 5);
    /* The next insert gets a key past the copied ones. */
    th_exec(other, "INSERT INTO \"user\" (username, email) VALUES ('new', 'n@example.com')");
    ck_assert_int_eq(th_int(other, "SELECT id FROM \"user\" WHERE username = 'new'"), 4);
    th_exec(other, "DELETE FROM \"user\" WHERE username = 'new'");

    /* And back, into an empty database of the engine under test. */
    strata_db *back = open_same();
    out.text[0] = out.ends[0] = '\0';
    rc = copy(other, back, &out, 3); /* batches of 3: a table ends on a full one */
    ck_assert_msg(rc == STRATA_OK, "copy back: %s", strata_db_errmsg(back));
    check_data(back);
    char *a, *b;
    describe(here, &a);
    describe(back, &b);
    ck_assert_str_eq(a, b);
    strata_free(a);
    strata_free(b);
    th_exec(back, "INSERT INTO post (body, timestamp, user_id) VALUES ('x', "
                  "'2024-01-01 00:00:00', 3)");
    ck_assert_int_eq(th_int(back, "SELECT max(id) FROM post"), 4);
    strata_db_close(back);
    strata_db_close(other);
    strata_db_close(here);
}
END_TEST

/* other given here's schema and revision by a copy, then emptied. */
static void copy_then_empty(strata_db *here, strata_db *other)
{
    lines out = {.text = ""};
    ck_assert_int_eq(copy(here, other, &out, 0), STRATA_OK);
    th_exec(other, "DELETE FROM followers");
    th_exec(other, "DELETE FROM post");
    th_exec(other, "DELETE FROM \"user\"");
    th_exec(other, "DELETE FROM everything");
}

/* A table of a key and an email, unique in any case: by an index on
 * lower(email), which strata's schema cannot say. */
static void person_table(strata_db *db)
{
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    strata_table *t;
    ck_assert_int_eq(strata_metadata_add_table(md, "person", &t), STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(t, "id", "integer", STRATA_PRIMARY_KEY, NULL),
                     STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(t, "email", "string(40)", 0, NULL), STRATA_OK);
    th_rc(db, strata_metadata_create_all(md, db), STRATA_OK);
    strata_metadata_free(md);
    th_exec(db, "CREATE UNIQUE INDEX ux_person_email ON person (lower(email))");
}

/* A source whose schema holds what strata's cannot say and which changes
 * what the database does (an index on an expression, a deferrable key)
 * is not copied into a target the copy would make without it: the target
 * is left empty, and a target whose schema was made first (here by
 * hand) takes the rows and keeps the index. */
START_TEST(copy_refuses_what_the_schema_cannot_say)
{
    strata_db *here = th_open();
    person_table(here);
    th_exec(here, "INSERT INTO person (id, email) VALUES (1, 'A@x.org')");
    strata_db *other = open_other();
    lines out = {.text = ""};
    int rc = copy(here, other, &out, 0);
    ck_assert_msg(rc == STRATA_E_UNSUPPORTED, "%s: %s", strata_errname(rc),
                  strata_db_errmsg(other));
    ck_assert_msg(strstr(strata_db_errmsg(other), "table person: index ux_person_email (unique) "
                                                  "is on an expression, which strata's schema "
                                                  "does not describe"),
                  "%s", strata_db_errmsg(other));
    char *text;
    describe(other, &text);
    ck_assert_str_eq(text, "");
    strata_free(text);
    person_table(other);
    rc = copy(here, other, &out, 0);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(other));
    ck_assert_int_eq(th_int(other, "SELECT count(*) FROM person"), 1);
    th_rc(other, strata_db_exec(other, "INSERT INTO person (id, email) VALUES (2, 'a@X.org')"),
          STRATA_E_UNIQUE);
    strata_db_close(other);
    /* A deferrable key, on a source of each engine. */
    th_exec(here, "DROP TABLE person");
    th_exec(here, th_is_pg() ? "CREATE TABLE node (id integer PRIMARY KEY, parent_id integer "
                               "REFERENCES node (id) DEFERRABLE INITIALLY DEFERRED)"
                             : "CREATE TABLE node (id INTEGER PRIMARY KEY, parent_id INTEGER "
                               "REFERENCES node (id) DEFERRABLE INITIALLY DEFERRED)");
    other = open_other();
    rc = copy(here, other, &out, 0);
    ck_assert_msg(rc == STRATA_E_UNSUPPORTED, "%s: %s", strata_errname(rc),
                  strata_db_errmsg(other));
    ck_assert_msg(strstr(strata_db_errmsg(other), "table node: ") &&
                      strstr(strata_db_errmsg(other), "is deferrable"),
                  "%s", strata_db_errmsg(other));
    th_exec(here, "DROP TABLE node");
    strata_db_close(other);
    /* A default in the source engine's own SQL that the target's cannot
     * run: every insert that left the column out would fail there. */
    th_exec(here, th_is_pg() ? "CREATE TABLE tok (id integer PRIMARY KEY, code uuid DEFAULT "
                               "gen_random_uuid())"
                             : "CREATE TABLE tok (id INTEGER PRIMARY KEY, code TEXT DEFAULT "
                               "(hex(randomblob(4))))");
    other = open_other();
    rc = copy(here, other, &out, 0);
    ck_assert_msg(rc == STRATA_E_UNSUPPORTED, "%s: %s", strata_errname(rc),
                  strata_db_errmsg(other));
    ck_assert_msg(strstr(strata_db_errmsg(other), "table tok, column code: its default ") &&
                      strstr(strata_db_errmsg(other), "does not run on the target"),
                  "%s", strata_db_errmsg(other));
    th_exec(here, "DROP TABLE tok");
    strata_db_close(other);
    if (!th_is_pg()) {
        /* A name PostgreSQL would cut (SQLite takes any length). */
        th_exec(here, "CREATE TABLE wide (id INTEGER PRIMARY KEY, "
                      "a_column_name_much_longer_than_postgresql_takes_for_one_identifier_x "
                      "INTEGER)");
        other = open_other();
        rc = copy(here, other, &out, 0);
        ck_assert_msg(rc == STRATA_E_UNSUPPORTED, "%s: %s", strata_errname(rc),
                      strata_db_errmsg(other));
        ck_assert_msg(strstr(strata_db_errmsg(other), "is longer than 63 bytes"), "%s",
                      strata_db_errmsg(other));
        th_exec(here, "DROP TABLE wide");
        strata_db_close(other);
    }
    strata_db_close(here);
}
END_TEST

/* A target with rows, at another revision, or with another schema is
 * refused before anything is written. */
START_TEST(copy_refuses_a_different_target)
{
    strata_db *here = th_open();
    fill(here);
    strata_db *other = open_other();
    lines out = {.text = ""};
    ck_assert_int_eq(copy(here, other, &out, 0), STRATA_OK);
    /* Again: the tables have rows. */
    ck_assert_int_eq(copy(here, other, &out, 0), STRATA_E_EXISTS);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(other), "already has"));
    ck_assert_int_eq(th_int(other, "SELECT count(*) FROM post"), 3);
    /* Emptied, at another revision. */
    th_exec(other, "DELETE FROM followers");
    th_exec(other, "DELETE FROM post");
    th_exec(other, "DELETE FROM \"user\"");
    th_exec(other, "DELETE FROM everything");
    th_exec(other, "UPDATE strata_version SET version_num = 'fedcba987654'");
    ck_assert_int_eq(copy(here, other, &out, 0), STRATA_E_OUTDATED);
    ck_assert_msg(strstr(strata_db_errmsg(other), "the target is at fedcba987654 and the source at "
                                                  "0123456789ab: bring the target"),
                  "%s", strata_db_errmsg(other));
    /* At the revision, with a column more. */
    th_exec(other, "UPDATE strata_version SET version_num = '0123456789ab'");
    th_exec(other, "ALTER TABLE post ADD COLUMN extra INTEGER");
    ck_assert_int_eq(copy(here, other, &out, 0), STRATA_E_OUTDATED);
    ck_assert_msg(strstr(strata_db_errmsg(other), "schema differs") &&
                      strstr(strata_db_errmsg(other), "post.extra"),
                  "%s", strata_db_errmsg(other));
    ck_assert_int_eq(th_int(other, "SELECT count(*) FROM post"), 0);
    /* Misuse. */
    ck_assert_int_eq(strata_copy_database(here, here, NULL), STRATA_E_MISUSE);
    th_rc(other, strata_db_begin(other), STRATA_OK);
    ck_assert_int_eq(strata_copy_database(here, other, NULL), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(other), "its own transactions"));
    th_rc(other, strata_db_rollback(other), STRATA_OK);
    strata_copy_options bad = {.version = 99};
    ck_assert_int_eq(strata_copy_database(here, other, &bad), STRATA_E_MISUSE);
    strata_db_close(other);
    strata_db_close(here);
}
END_TEST

/* The target refuses a row of the third table: the copy stops, names the
 * table and the row, and leaves the target as it was. */
START_TEST(copy_failure_halfway_changes_nothing)
{
    strata_db *here = th_open();
    fill(here);
    strata_db *other = open_other();
    lines out = {.text = ""};
    int64_t tables_before = 0;
    if (th_is_pg()) {
        /* The SQLite target has the schema, empty, and a trigger that
         * refuses post 3. */
        copy_then_empty(here, other);
        th_exec(other, "CREATE TRIGGER refuse BEFORE INSERT ON post WHEN NEW.id = 3 "
                       "BEGIN SELECT RAISE(ABORT, 'post 3 refused'); END");
        tables_before = th_int(other, "SELECT count(*) FROM sqlite_master WHERE type = 'table'");
    } else {
        /* SQLite keeps a string longer than its string(n); PostgreSQL
         * refuses it. */
        th_exec(here, "CREATE TABLE tagged (id INTEGER PRIMARY KEY, "
                      "post_id INTEGER REFERENCES post (id), tag VARCHAR(5))");
        th_exec(here, "INSERT INTO tagged (id, post_id, tag) VALUES (1, 1, 'ok'), "
                      "(2, 3, 'far too long')");
    }
    out.ends[0] = '\0';
    int rc = copy(here, other, &out, 0);
    ck_assert_msg(rc != STRATA_OK, "the copy went through");
    const char *msg = strata_db_errmsg(other);
    if (th_is_pg()) {
        ck_assert_msg(strstr(msg, "copying table post (the row with id=3)") &&
                          strstr(msg, "post 3 refused"),
                      "%s", msg);
        ck_assert_int_eq(th_int(other, "SELECT count(*) FROM \"user\""), 0);
        ck_assert_int_eq(th_int(other, "SELECT count(*) FROM post"), 0);
        ck_assert_int_eq(th_int(other, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"),
                         tables_before);
    } else {
        ck_assert_int_eq(rc, STRATA_E_TOO_LONG);
        ck_assert_msg(strstr(msg, "copying table tagged (the row with id=2)"), "%s", msg);
        /* Not even the tables were left behind. */
        strata_metadata *md;
        ck_assert_int_eq(strata_schema_introspect(&md, other, NULL), STRATA_OK);
        ck_assert_int_eq(strata_metadata_table_count(md), 0);
        strata_metadata_free(md);
        th_rc(other, strata_db_exec(other, "SELECT 1 FROM strata_version"),
              STRATA_E_UNDEFINED_TABLE);
    }
    /* The source is untouched, and usable. */
    ck_assert_int_eq(th_int(here, "SELECT count(*) FROM post"), 3);
    ck_assert(!strata_db_in_transaction(here));
    strata_db_close(other);
    strata_db_close(here);
}
END_TEST

/* The key counters after a copy: an insert works after keys that are all
 * negative, as after ordinary ones. */
START_TEST(copy_key_counters)
{
    strata_db *here = th_open();
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    strata_table *t;
    ck_assert_int_eq(strata_metadata_add_table(md, "below", &t), STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(t, "id", "integer",
                                             STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL),
                     STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(t, "v", "integer", STRATA_NULLABLE, NULL),
                     STRATA_OK);
    ck_assert_int_eq(strata_metadata_create_all(md, here), STRATA_OK);
    strata_metadata_free(md);
    th_exec(here, "INSERT INTO below (id, v) VALUES (-5, 1), (-3, 2)");
    strata_db *other = open_other();
    lines out = {.text = ""};
    int rc = copy(here, other, &out, 0);
    ck_assert_msg(rc == STRATA_OK, "copy: %s", strata_db_errmsg(other));
    th_exec(other, "INSERT INTO below (v) VALUES (3)");
    ck_assert_int_eq(th_int(other, "SELECT count(*) FROM below WHERE v = 3 AND id NOT IN (-5, -3)"),
                     1);
    strata_db_close(other);
    strata_db_close(here);
}
END_TEST

static void keyed_table(strata_db *db, const char *name, const char *key_type,
                        const char *const *cols);

/* Into a PostgreSQL table whose sequence is past its rows (rows deleted,
 * or another transaction's insert not committed yet): the copy moves the
 * sequence past the copied keys, never back, so no key comes twice. */
START_TEST(copy_keeps_a_sequence_that_is_ahead)
{
    static const char *const cols[] = {"v", "integer", NULL};
    strata_db *sqlite = th_is_pg() ? open_sqlite_scratch("ahead") : th_open();
    strata_db *pg = th_is_pg() ? th_open() : open_pg_scratch("strata_ahead");
    keyed_table(sqlite, "ahead", "integer", cols);
    keyed_table(pg, "ahead", "integer", cols);
    th_exec(pg, "INSERT INTO ahead (v) VALUES (1), (2), (3)");
    th_exec(pg, "DELETE FROM ahead WHERE v > 1"); /* the sequence is at 3 */
    strata_db *other = th_open_url(strata_db_url(pg)); /* and another session's insert */
    th_rc(other, strata_db_begin(other), STRATA_OK);
    th_exec(other, "INSERT INTO ahead (v) VALUES (4)"); /* key 4, not committed */
    th_exec(sqlite, "INSERT INTO ahead (id, v) VALUES (2, 20)");
    lines out = {.text = ""};
    strata_copy_options o = {STRATA_COPY_OPTIONS_VERSION, .into_non_empty = 1, .print = keep_line,
                             .ud = &out};
    int rc = strata_copy_database(sqlite, pg, &o);
    ck_assert_msg(rc == STRATA_OK, "copy: %s", strata_db_errmsg(pg));
    /* The first count is the rows the target should hold: the source's
     * and the ones it had. */
    ck_assert_msg(strstr(out.text, "rows wanted  target rows") &&
                      strstr(out.text, "ahead            2            2  -"),
                  "%s", out.text);
    th_rc(other, strata_db_commit(other), STRATA_OK);
    th_exec(pg, "INSERT INTO ahead (v) VALUES (5)");
    ck_assert_int_eq(th_int(pg, "SELECT id FROM ahead WHERE v = 5"), 5);
    ck_assert_int_eq(th_int(pg, "SELECT count(DISTINCT id) FROM ahead"), 4);
    strata_db_close(other);
    strata_db_close(pg);
    strata_db_close(sqlite);
}
END_TEST

/* A table "name" made with the schema layer: an autoincrement key of
 * `key_type`, then the columns given as name/type pairs, nullable. */
static void keyed_table(strata_db *db, const char *name, const char *key_type,
                        const char *const *cols)
{
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    strata_table *t;
    ck_assert_int_eq(strata_metadata_add_table(md, name, &t), STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(t, "id", key_type,
                                             STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL),
                     STRATA_OK);
    for (int i = 0; cols[i]; i += 2)
        ck_assert_int_eq(strata_table_add_column(t, cols[i], cols[i + 1], STRATA_NULLABLE, NULL),
                         STRATA_OK);
    ck_assert_msg(strata_metadata_create_all(md, db) == STRATA_OK, "%s", strata_db_errmsg(db));
    strata_metadata_free(md);
}

/* SQLite declares every autoincrement key INTEGER: copied into a
 * PostgreSQL database whose revisions made the key BIGINT, it is the same
 * column, and keys past 32 bits arrive.  JSON numbers, which SQLite keeps
 * as numbers, copy and verify both ways. */
START_TEST(copy_wide_keys_and_json_numbers)
{
    static const char *const cols[] = {"doc", "json", NULL};
    strata_db *sqlite = th_is_pg() ? open_sqlite_scratch("wide") : th_open();
    strata_db *pg = th_is_pg() ? th_open() : open_pg_scratch("strata_wide");
    keyed_table(sqlite, "wide", "bigint", cols);
    keyed_table(pg, "wide", "bigint", cols);
    th_exec(sqlite, "INSERT INTO wide (id, doc) VALUES (3000000000, '42'), "
                    "(3000000001, '{\"a\": [1, 2.5]}'), (3000000002, NULL)");
    lines out = {.text = ""};
    int rc = copy(sqlite, pg, &out, 2);
    ck_assert_msg(rc == STRATA_OK, "copy: %s", strata_db_errmsg(pg));
    ck_assert_int_eq(th_int(pg, "SELECT count(*) FROM wide WHERE id >= 3000000000"), 3);
    ck_assert_int_eq(th_int(pg, "SELECT count(*) FROM wide WHERE doc = '42'::jsonb"), 1);
    /* Back, into an empty SQLite database: the copy makes the schema. */
    strata_db *back = open_sqlite_scratch("wideback");
    out.text[0] = out.ends[0] = '\0';
    rc = copy(pg, back, &out, 0);
    ck_assert_msg(rc == STRATA_OK, "copy back: %s", strata_db_errmsg(back));
    ck_assert_int_eq(th_int(back, "SELECT count(*) FROM wide WHERE doc = 42"), 1);
    ck_assert_int_eq(th_int(back, "SELECT max(id) FROM wide"), 3000000002);
    strata_db_close(back);
    strata_db_close(pg);
    strata_db_close(sqlite);
}
END_TEST

/* Into tables that have rows, what the copy adds must be the source's
 * rows by count and by checksum: a value the target turns into another
 * (SQLite's text 'epoch' in a datetime column, which PostgreSQL reads as
 * 1970-01-01; PostgreSQL's -0, which SQLite keeps as 0) is refused, and
 * the target keeps only what it had, its key counter included. */
START_TEST(copy_into_non_empty_checks_what_it_adds)
{
    static const char *const cols[] = {"at", "datetime", "ratio", "float", NULL};
    strata_db *here = th_open(), *other = open_other();
    keyed_table(here, "stamp", "integer", cols);
    keyed_table(other, "stamp", "integer", cols);
    th_exec(other, "INSERT INTO stamp (id, at, ratio) VALUES (100, '2024-01-01 00:00:00', 1.5)");
    th_exec(here, "INSERT INTO stamp (id, at, ratio) VALUES (1, '2024-02-02 00:00:00', 2.5)");
    strata_copy_options o = {STRATA_COPY_OPTIONS_VERSION, .into_non_empty = 1};
    int rc = strata_copy_database(here, other, &o);
    ck_assert_msg(rc == STRATA_OK, "copy: %s", strata_db_errmsg(other));
    ck_assert_int_eq(th_int(other, "SELECT count(*) FROM stamp"), 2);
    th_exec(other, "DELETE FROM stamp WHERE id = 1");
    if (th_is_pg())
        th_exec(here, "UPDATE stamp SET id = 500, ratio = '-0'::float8");
    else
        th_exec(here, "UPDATE stamp SET id = 500, at = 'epoch'");
    rc = strata_copy_database(here, other, &o);
    ck_assert_msg(rc == STRATA_E_DATA, "%s: %s", strata_errname(rc), strata_db_errmsg(other));
    ck_assert_msg(strstr(strata_db_errmsg(other), "table stamp") &&
                      strstr(strata_db_errmsg(other), "checksums differ"),
                  "%s", strata_db_errmsg(other));
    /* The row and the column are named. */
    ck_assert_msg(strstr(strata_db_errmsg(other), th_is_pg()
                                                      ? "(first: the row with id=500, column ratio)"
                                                      : "(first: the row with id=500, column at)"),
                  "%s", strata_db_errmsg(other));
    ck_assert_int_eq(th_int(other, "SELECT count(*) FROM stamp"), 1);
    ck_assert_int_eq(th_int(other, "SELECT id FROM stamp"), 100);
    /* Nor was the key counter moved past the refused row's key. */
    th_exec(other, "INSERT INTO stamp (ratio) VALUES (3.5)");
    ck_assert_int_eq(th_int(other, "SELECT id FROM stamp WHERE ratio = 3.5"), 101);
    strata_db_close(other);
    strata_db_close(here);
}
END_TEST

/* A copy stopped by a failure that is no row's (the target's connection
 * lost, its disk full) says so, and blames no row. */
START_TEST(copy_a_failure_of_no_row_names_no_row)
{
    strata_db *here = th_open();
    fill(here);
    strata_db *other = open_other();
    lines out = {.text = ""};
    copy_then_empty(here, other);
    int want;
    const char *table;
    if (th_is_pg()) {
        /* A SQLite target that may not grow, and a text too big for it. */
        char big[65536];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        strata_stmt *st;
        th_rc(here,
              strata_stmt_prepare(&st, here, "UPDATE everything SET body = ? WHERE code = 'neg'"),
              STRATA_OK);
        strata_stmt_bind_text(st, 1, big, -1);
        th_rc(here, strata_stmt_step(st), STRATA_DONE);
        strata_stmt_finalize(st);
        int64_t pages = th_int(other, "PRAGMA page_count");
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages);
        th_exec(other, sql);
        want = STRATA_E_DISK_FULL;
        table = "copying table everything";
    } else {
        /* A PostgreSQL target whose connection ends at the first post. */
        th_exec(other, "CREATE FUNCTION bye() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                       "PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$");
        th_exec(other, "CREATE TRIGGER bye BEFORE INSERT ON post FOR EACH ROW EXECUTE "
                       "FUNCTION bye()");
        want = STRATA_E_CONNECTION_LOST;
        table = "copying table post";
    }
    out.ends[0] = '\0';
    int rc = copy(here, other, &out, 0);
    const char *msg = strata_db_errmsg(other);
    ck_assert_msg(rc == want, "%s: %s", strata_errname(rc), msg);
    ck_assert_msg(strstr(msg, table) && !strstr(msg, "the row with"), "%s", msg);
    strata_db_close(other);
    strata_db_close(here);
}
END_TEST

/* A SQLite column declared without a type holds any value: the copy
 * names it, and makes nothing on the target. */
START_TEST(copy_refuses_a_column_without_a_type)
{
    strata_db *sqlite = th_is_pg() ? open_sqlite_scratch("untyped") : th_open();
    strata_db *pg = th_is_pg() ? th_open() : open_pg_scratch("strata_untyped");
    th_exec(sqlite, "CREATE TABLE items (id INTEGER PRIMARY KEY, anything, note TEXT)");
    th_exec(sqlite, "INSERT INTO items VALUES (1, 'x', 'a'), (2, 42, 'b')");
    lines out = {.text = ""};
    int rc = copy(sqlite, pg, &out, 0);
    ck_assert_msg(rc == STRATA_E_SCHEMA, "%s: %s", strata_errname(rc), strata_db_errmsg(pg));
    ck_assert_msg(strstr(strata_db_errmsg(pg), "table items, column anything"), "%s",
                  strata_db_errmsg(pg));
    strata_metadata *md;
    ck_assert_int_eq(strata_schema_introspect(&md, pg, NULL), STRATA_OK);
    ck_assert_int_eq(strata_metadata_table_count(md), 0);
    strata_metadata_free(md);
    strata_db_close(pg);
    strata_db_close(sqlite);
}
END_TEST

/* PostgreSQL gives checks and partial indexes back in its own words
 * (`(status)::text = ANY ((ARRAY['a'::character varying, ...])::text[])`,
 * `(price)::numeric > ...`): copied to SQLite they are written in SQL
 * both read, and hold there as they did. */
START_TEST(copy_postgresql_checks_to_sqlite)
{
    strata_db *sqlite = th_is_pg() ? open_sqlite_scratch("checks") : th_open();
    strata_db *pg = th_is_pg() ? th_open() : open_pg_scratch("strata_checks");
    th_exec(pg, "CREATE TABLE items (id integer PRIMARY KEY, "
                "status varchar(10) NOT NULL CONSTRAINT ck_status CHECK (status IN ('a', 'b')), "
                "kind text CONSTRAINT ck_kind CHECK (kind NOT IN ('x', 'y')), "
                "price numeric(10, 2) CONSTRAINT ck_price CHECK (price::numeric > 0.5), "
                "at timestamp CONSTRAINT ck_at CHECK (at > '2000-01-01'::timestamp), "
                "code text CONSTRAINT ck_code CHECK (code LIKE 'a\\_%'), "
                "a integer, b integer CONSTRAINT ck_ratio CHECK (a::numeric / b < 0.5))");
    th_exec(pg, "CREATE INDEX ix_items_a ON items (price) WHERE status::text = 'a'");
    th_exec(pg, "INSERT INTO items VALUES (1, 'a', 'k', 2.5, '2024-01-01 10:00:00'), "
                "(2, 'b', NULL, 1, NULL)");
    lines out = {.text = ""};
    int rc = copy(pg, sqlite, &out, 0);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(sqlite));
    ck_assert_int_eq(th_int(sqlite, "SELECT count(*) FROM items"), 2);
    /* The checks hold on SQLite as on PostgreSQL. */
    static const char *const refused[] = {
        "INSERT INTO items (id, status) VALUES (3, 'c')",
        "INSERT INTO items (id, status, kind) VALUES (3, 'a', 'x')",
        "INSERT INTO items (id, status, price) VALUES (3, 'a', 0.25)",
        "INSERT INTO items (id, status, at) VALUES (3, 'a', '1999-12-31 00:00:00')",
        "INSERT INTO items (id, status, at) VALUES (3, 'a', '2000-01-01 00:00:00')",
        "INSERT INTO items (id, status, code) VALUES (3, 'a', 'ab')",
        "INSERT INTO items (id, status, code) VALUES (3, 'a', 'A_b')",
        "INSERT INTO items (id, status, a, b) VALUES (3, 'a', 4, 7)",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ck_assert_int_eq(strata_db_exec(pg, refused[i]), STRATA_E_CHECK);
        ck_assert_int_eq(strata_db_exec(sqlite, refused[i]), STRATA_E_CHECK);
    }
    th_exec(sqlite, "INSERT INTO items (id, status, kind, price, at, code, a, b) "
                    "VALUES (3, 'b', 'z', 0.75, '2001-01-01 00:00:00', 'a_b', 3, 7)");
    ck_assert_int_eq(th_int(sqlite, "SELECT count(*) FROM sqlite_master WHERE name = "
                                    "'ix_items_a' AND sql LIKE '%WHERE%'"),
                     1);
    strata_db_close(pg);
    strata_db_close(sqlite);
}
END_TEST

/* A generated column is not one strata describes: a SQLite one's copy
 * (and any reading of the table's schema) is refused naming it, rather
 * than made without it and reported as matching; nothing is made.  A
 * PostgreSQL one is refused the same way, not read as a default. */
START_TEST(copy_refuses_a_generated_column)
{
    strata_db *sqlite = th_is_pg() ? open_sqlite_scratch("generated") : th_open();
    strata_db *pg = th_is_pg() ? th_open() : open_pg_scratch("strata_generated");
    th_exec(sqlite, "CREATE TABLE g (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, "
                    "c INTEGER GENERATED ALWAYS AS (a + b) STORED)");
    th_exec(sqlite, "INSERT INTO g (id, a, b) VALUES (1, 2, 3)");
    lines out = {.text = ""};
    int rc = copy(sqlite, pg, &out, 0);
    ck_assert_msg(rc == STRATA_E_UNSUPPORTED, "%s: %s", strata_errname(rc),
                  strata_db_errmsg(sqlite));
    ck_assert_msg(strstr(strata_db_errmsg(sqlite), "g.c is a generated column") ||
                      strstr(strata_db_errmsg(pg), "g.c is a generated column"),
                  "%s | %s", strata_db_errmsg(sqlite), strata_db_errmsg(pg));
    strata_metadata *md;
    ck_assert_int_eq(strata_schema_introspect(&md, pg, NULL), STRATA_OK);
    ck_assert_int_eq(strata_metadata_table_count(md), 0);
    strata_metadata_free(md);
    if (th_is_pg()) {
        /* PostgreSQL's generated column likewise, not read as a default. */
        th_exec(pg, "CREATE TABLE gp (id integer PRIMARY KEY, a integer, "
                    "c integer GENERATED ALWAYS AS (a * 2) STORED)");
        strata_metadata *gmd = NULL;
        ck_assert_int_eq(strata_schema_introspect(&gmd, pg, NULL), STRATA_E_UNSUPPORTED);
        ck_assert_msg(strstr(strata_db_errmsg(pg), "gp.c is a generated column"), "%s",
                      strata_db_errmsg(pg));
        strata_metadata_free(gmd);
        th_exec(pg, "DROP TABLE gp");
    }
    strata_db_close(pg);
    strata_db_close(sqlite);
}
END_TEST

/* A value the target's binding refuses (text that is not UTF-8, which
 * SQLite keeps) is named by its row's key and its column, not by the
 * number of a parameter of the batch's INSERT; nothing arrives. */
START_TEST(copy_names_the_column_of_a_refused_value)
{
    strata_db *from = open_sqlite_scratch("latin"), *to = th_open();
    th_exec(from, "CREATE TABLE note (id INTEGER PRIMARY KEY, title TEXT, body TEXT)");
    th_exec(from, "INSERT INTO note (id, title, body) VALUES (1, 'a', 'fine'), (2, 'b', 'fine'), "
                  "(3, 'c', CAST(X'4361FE' AS TEXT))");
    int rc = strata_copy_database(from, to, NULL);
    ck_assert_msg(rc != STRATA_OK, "copied");
    ck_assert_msg(strstr(strata_db_errmsg(to), "copying table note (the row with id=3): column "
                                               "body: text is not valid UTF-8 (at byte 2)"),
                  "%s", strata_db_errmsg(to));
    strata_metadata *md = NULL;
    th_rc(to, strata_schema_introspect(&md, to, NULL), STRATA_OK);
    ck_assert_ptr_null(strata_metadata_find_table(md, "note"));
    strata_metadata_free(md);
    strata_db_close(to);
    strata_db_close(from);
}
END_TEST

/* A blob SQLite keeps in an INTEGER column is refused by its row's key
 * and column on every target, whatever its length; nothing arrives. */
START_TEST(copy_refuses_a_blob_in_a_typed_column)
{
    for (int len = 3; len <= 8; len += 5) {
        strata_db *from = open_sqlite_scratch(len == 3 ? "blob3" : "blob8"), *to = th_open();
        th_exec(from, "CREATE TABLE m (id INTEGER PRIMARY KEY, n INTEGER, b BLOB, t TEXT)");
        th_exec(from, "INSERT INTO m VALUES (1, 5, X'00', 'hi'), (2, 6, X'01', 'x')");
        th_exec(from, len == 3 ? "INSERT INTO m VALUES (3, X'616263', X'02', 'y')"
                               : "INSERT INTO m VALUES (3, X'6162636465666768', X'02', 'y')");
        int rc = strata_copy_database(from, to, NULL);
        ck_assert_msg(rc == STRATA_E_DATA, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
        char want[120];
        snprintf(want, sizeof want,
                 "copying table m (the row with id=3): column n holds a blob of %d bytes", len);
        ck_assert_msg(strstr(strata_db_errmsg(to), want), "%s", strata_db_errmsg(to));
        ck_assert_msg(!strstr(strata_db_errmsg(to), "pgbouncer"), "%s", strata_db_errmsg(to));
        strata_metadata *md = NULL;
        th_rc(to, strata_schema_introspect(&md, to, NULL), STRATA_OK);
        ck_assert_ptr_null(strata_metadata_find_table(md, "m"));
        strata_metadata_free(md);
        strata_db_close(to);
        strata_db_close(from);
    }
    /* A blob in a TEXT column: kept on SQLite, refused for PostgreSQL,
     * which would read it as text. */
    strata_db *from = open_sqlite_scratch("blobtext"), *to = th_open();
    th_exec(from, "CREATE TABLE bt (id INTEGER PRIMARY KEY, t TEXT)");
    th_exec(from, "INSERT INTO bt VALUES (1, 'a'), (2, X'6869')");
    int rc = strata_copy_database(from, to, NULL);
    if (th_is_pg()) {
        ck_assert_msg(rc == STRATA_E_DATA, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
        ck_assert_msg(strstr(strata_db_errmsg(to),
                             "(the row with id=2): column t holds a blob of 2 bytes"),
                      "%s", strata_db_errmsg(to));
    } else {
        ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
        ck_assert_int_eq(th_int(to, "SELECT count(*) FROM bt WHERE typeof(t) = 'blob'"), 1);
    }
    strata_db_close(to);
    strata_db_close(from);
}
END_TEST

/* A target that takes a row and keeps nothing of it (a PostgreSQL
 * trigger returning NULL) fails the count; the message names the first
 * row missing. */
START_TEST(copy_names_a_row_the_target_dropped)
{
    static const char *const cols[] = {"v", "integer", NULL};
    strata_db *here = th_open(), *pg = open_pg_scratch("strata_drops");
    keyed_table(here, "kept", "integer", cols);
    keyed_table(pg, "kept", "integer", cols);
    th_exec(here, "INSERT INTO kept (id, v) VALUES (1, 10), (2, 20), (3, 30)");
    th_exec(pg, "CREATE FUNCTION skip_two() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN IF NEW.id = 2 THEN RETURN NULL; END IF; RETURN NEW; END $$");
    th_exec(pg, "CREATE TRIGGER skip_two BEFORE INSERT ON kept FOR EACH ROW "
                "EXECUTE FUNCTION skip_two()");
    int rc = strata_copy_database(here, pg, NULL);
    ck_assert_msg(rc == STRATA_E_DATA, "%s: %s", strata_errname(rc), strata_db_errmsg(pg));
    ck_assert_msg(strstr(strata_db_errmsg(pg), "table kept has 2 rows on the target against 3 "
                                               "from the source (first: the row with id=2, not "
                                               "on the target)"),
                  "%s", strata_db_errmsg(pg));
    ck_assert_int_eq(th_int(pg, "SELECT count(*) FROM kept"), 0);
    strata_db_close(pg);
    strata_db_close(here);
}
END_TEST

/* Rows that refer to rows after them, in their own table's key order
 * (across batches) or in a table copied later (two tables referring to
 * each other), arrive: into empty tables their references are checked
 * once every row is in; added to what the target holds, what it refuses
 * for a foreign key goes again once every table's rows are in.  A
 * reference to a row the source lacks still fails the copy, naming that
 * row and no other. */
START_TEST(copy_rows_that_refer_forward)
{
    strata_db *here = th_open(), *other = open_other();
    th_exec(here, "CREATE TABLE node (id INTEGER PRIMARY KEY, "
                  "parent_id INTEGER REFERENCES node (id))");
    th_exec(here, "INSERT INTO node (id, parent_id) VALUES (2, NULL), (4, 2), (1, 4), (3, 1), "
                  "(6, NULL), (5, 6), (7, 1)");
    th_exec(here, "CREATE TABLE owner (id INTEGER PRIMARY KEY)");
    th_exec(here, "CREATE TABLE pet (id INTEGER PRIMARY KEY, "
                  "owner_id INTEGER REFERENCES owner (id))");
    th_exec(here, "ALTER TABLE owner ADD COLUMN best_pet_id INTEGER REFERENCES pet (id)");
    th_exec(here, "INSERT INTO owner (id) VALUES (1), (2)");
    th_exec(here, "INSERT INTO pet (id, owner_id) VALUES (10, 1), (20, 2)");
    th_exec(here, "UPDATE owner SET best_pet_id = id * 10");
    strata_copy_options o = {STRATA_COPY_OPTIONS_VERSION, .batch_rows = 2};
    int rc = strata_copy_database(here, other, &o);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(other));
    ck_assert_int_eq(th_int(other, "SELECT count(*) FROM node"), 7);
    ck_assert_int_eq(th_int(other, "SELECT parent_id FROM node WHERE id = 1"), 4);
    ck_assert_int_eq(th_int(other, "SELECT parent_id FROM node WHERE id = 7"), 1);
    ck_assert_int_eq(th_int(other, "SELECT sum(best_pet_id) FROM owner"), 30);
    ck_assert_int_eq(th_int(other, "SELECT sum(owner_id) FROM pet"), 3);
    /* The keys are there, made after the rows where the target cannot
     * check them at the commit. */
    ck_assert_int_eq(strata_db_exec(other, "INSERT INTO pet (id, owner_id) VALUES (30, 3)"),
                     STRATA_E_FOREIGN_KEY);
    ck_assert_int_eq(strata_db_exec(other, "INSERT INTO node (id, parent_id) VALUES (8, 9)"),
                     STRATA_E_FOREIGN_KEY);
    /* Added to the tables the target has (emptied), the same rows are
     * held: the ring goes in with its references NULL, set at the end. */
    th_exec(other, "UPDATE owner SET best_pet_id = NULL");
    th_exec(other, "DELETE FROM pet");
    th_exec(other, "DELETE FROM owner");
    th_exec(other, "DELETE FROM node");
    o.into_non_empty = 1;
    rc = strata_copy_database(here, other, &o);
    ck_assert_msg(rc == STRATA_OK, "again: %s: %s", strata_errname(rc), strata_db_errmsg(other));
    ck_assert_int_eq(th_int(other, "SELECT parent_id FROM node WHERE id = 7"), 1);
    ck_assert_int_eq(th_int(other, "SELECT sum(best_pet_id) FROM owner"), 30);
    ck_assert_int_eq(th_int(other, "SELECT sum(owner_id) FROM pet"), 3);
    o.into_non_empty = 0;
    strata_db_close(other);
    strata_db_close(here);

    /* A SQLite file written with its foreign keys off holds a reference
     * to nothing (row 2); rows 1 and 4, held beside it, are not blamed. */
    strata_db *from = open_sqlite_scratch("dangling"), *to = open_same();
    th_exec(from, "CREATE TABLE node (id INTEGER PRIMARY KEY, "
                  "parent_id INTEGER REFERENCES node (id))");
    th_exec(from, "PRAGMA foreign_keys = OFF");
    th_exec(from, "INSERT INTO node (id, parent_id) VALUES (1, 3), (2, 99), (3, NULL), (4, 2)");
    rc = strata_copy_database(from, to, &o);
    ck_assert_msg(rc == STRATA_E_FOREIGN_KEY, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
    ck_assert_msg(strstr(strata_db_errmsg(to), "copying table node (the row with id=2): "),
                  "%s", strata_db_errmsg(to));
    strata_metadata *md = NULL;
    th_rc(to, strata_schema_introspect(&md, to, NULL), STRATA_OK);
    ck_assert_ptr_null(strata_metadata_find_table(md, "node"));
    strata_metadata_free(md);
    strata_db_close(to);
    strata_db_close(from);
}
END_TEST

/* A SQLite key column that is not the rowid may hold NULL unless declared
 * NOT NULL; PostgreSQL makes every key column NOT NULL.  The target the
 * first copy made is the same schema for the second (emptied first), and
 * a NULL key is refused naming its row. */
START_TEST(copy_a_legacy_key_again)
{
    strata_db *from = open_sqlite_scratch("legacy"), *to = open_same();
    th_exec(from, "CREATE TABLE legacy (code TEXT PRIMARY KEY, v INTEGER)");
    th_exec(from, "INSERT INTO legacy (code, v) VALUES ('a', 1)");
    int rc = strata_copy_database(from, to, NULL);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
    th_exec(to, "DELETE FROM legacy");
    rc = strata_copy_database(from, to, NULL);
    ck_assert_msg(rc == STRATA_OK, "again: %s: %s", strata_errname(rc), strata_db_errmsg(to));
    ck_assert_int_eq(th_int(to, "SELECT v FROM legacy WHERE code = 'a'"), 1);
    th_exec(to, "DELETE FROM legacy");
    th_exec(from, "INSERT INTO legacy (code, v) VALUES (NULL, 2)");
    rc = strata_copy_database(from, to, NULL);
    if (th_is_pg()) {
        ck_assert_msg(rc == STRATA_E_NOT_NULL,
                      "%s: %s", strata_errname(rc), strata_db_errmsg(to));
        ck_assert_msg(strstr(strata_db_errmsg(to), "copying table legacy (the row with code=NULL)"),
                      "%s", strata_db_errmsg(to));
        ck_assert_int_eq(th_int(to, "SELECT count(*) FROM legacy"), 0);
    } else {
        ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
        ck_assert_int_eq(th_int(to, "SELECT count(*) FROM legacy WHERE code IS NULL"), 1);
    }
    strata_db_close(to);
    strata_db_close(from);
}
END_TEST

/* A version table the copy was not told of (Alembic's name) has rows on
 * both sides: the refusal says what it looks like; named, it goes as the
 * version table. */
START_TEST(copy_hints_at_an_unnamed_version_table)
{
    strata_db *here = th_open(), *other = open_other();
    const char *make = "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                       "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))";
    th_exec(here, make);
    th_exec(other, make);
    th_exec(here, "INSERT INTO alembic_version (version_num) VALUES ('0123456789ab')");
    th_exec(other, "INSERT INTO alembic_version (version_num) VALUES ('0123456789ab')");
    int rc = strata_copy_database(here, other, NULL);
    ck_assert_msg(rc == STRATA_E_EXISTS, "%s: %s", strata_errname(rc), strata_db_errmsg(other));
    ck_assert_msg(strstr(strata_db_errmsg(other), "it looks like a migration version table"),
                  "%s", strata_db_errmsg(other));
    strata_copy_options o = {STRATA_COPY_OPTIONS_VERSION, .version_table = "alembic_version"};
    rc = strata_copy_database(here, other, &o);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(other));
    ck_assert_int_eq(th_int(other, "SELECT count(*) FROM alembic_version"), 1);
    strata_db_close(other);
    strata_db_close(here);
}
END_TEST

/* A copy that fails with `code`, its message holding `text`. */
static void copy_refused(strata_db *from, strata_db *to, const strata_copy_options *o, int code,
                         const char *text)
{
    int rc = strata_copy_database(from, to, o);
    ck_assert_msg(rc == code, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
    ck_assert_msg(strstr(strata_db_errmsg(to), text), "%s", strata_db_errmsg(to));
}

/* A chain of rows each referring to the one before, whose root has the
 * highest key (a list re-rooted).  Into empty tables the references are
 * checked once every row is in, and nothing is held.  Added to what the
 * target holds (it checks each statement then), every row but
 * the root is held, and they go in in the order of their references,
 * each once (the target's statements grow with the rows, not with their
 * square).  A row that cannot go in for a NOT NULL reference to nothing
 * is the one named, not the row that refers to it. */
START_TEST(copy_held_rows_in_order_and_the_row_to_blame)
{
    enum { N = 120 };
    strata_db *from = open_sqlite_scratch("chain"), *to = open_same();
    th_exec(from, "CREATE TABLE node (id INTEGER PRIMARY KEY, "
                  "parent_id INTEGER REFERENCES node (id))");
    lines out = {.text = ""};
    strata_copy_options o = {STRATA_COPY_OPTIONS_VERSION, .batch_rows = 10, .print = keep_line,
                             .ud = &out};
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO node (id, parent_id) VALUES (%d, NULL), (1, %d)", N, N);
    th_exec(from, sql);
    for (int k = 2; k < N; k++) {
        snprintf(sql, sizeof sql, "INSERT INTO node (id, parent_id) VALUES (%d, %d)", k, k - 1);
        th_exec(from, sql);
    }
    int rc = strata_copy_database(from, to, &o);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
    ck_assert_msg(!strstr(out.text, "went in last"), "%s", out.text);
    ck_assert_int_eq(th_int(to, "SELECT parent_id FROM node WHERE id = 1"), N);
    /* Into the tables the first copy made, emptied: the same. */
    th_exec(to, "DELETE FROM node");
    out.text[0] = '\0';
    rc = strata_copy_database(from, to, &o);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
    ck_assert_msg(!strstr(out.text, "went in last"), "%s", out.text);
    th_exec(to, "DELETE FROM node");
    o.into_non_empty = 1;
    out.text[0] = '\0';
    int64_t before = strata_db_counter(to, STRATA_COUNTER_STATEMENTS);
    rc = strata_copy_database(from, to, &o);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
    ck_assert_msg(strstr(out.text, "node: 119 rows referred to rows copied after them and went "
                                   "in last"),
                  "%s", out.text);
    int64_t statements = strata_db_counter(to, STRATA_COUNTER_STATEMENTS) - before;
    ck_assert_msg(statements < 20 * N, "%lld statements for %d rows", (long long)statements, N);
    ck_assert_int_eq(th_int(to, "SELECT count(*) FROM node"), N);
    ck_assert_int_eq(th_int(to, "SELECT parent_id FROM node WHERE id = 1"), N);
    strata_db_close(to);
    strata_db_close(from);

    from = open_sqlite_scratch("notnull");
    to = open_same();
    th_exec(from, "CREATE TABLE node (id INTEGER PRIMARY KEY, "
                  "parent_id INTEGER NOT NULL REFERENCES node (id))");
    th_exec(from, "PRAGMA foreign_keys = OFF");
    th_exec(from, "INSERT INTO node (id, parent_id) VALUES (1, 2), (2, 99), (3, 3)");
    o.batch_rows = 1;
    o.into_non_empty = 0;
    copy_refused(from, to, &o, STRATA_E_FOREIGN_KEY,
                 "copying table node (the row with id=2): parent_id=99 refers to no row of "
                 "table node");
    /* A ring of such rows goes in whole into empty tables; beside it, the
     * row referring to nothing is the one named. */
    th_exec(from, "UPDATE node SET parent_id = 1 WHERE id = 2");
    th_exec(from, "INSERT INTO node (id, parent_id) VALUES (5, 99)");
    copy_refused(from, to, &o, STRATA_E_FOREIGN_KEY, "copying table node (the row with id=5): ");
    th_exec(from, "DELETE FROM node WHERE id = 5");
    rc = strata_copy_database(from, to, &o);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
    ck_assert_int_eq(th_int(to, "SELECT sum(parent_id) FROM node"), 6);
    /* Into the emptied tables again, the ring goes in; added to what the
     * target holds, it cannot go in row by row, and the message says why,
     * and what can. */
    th_exec(to, "DELETE FROM node");
    rc = strata_copy_database(from, to, &o);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
    th_exec(to, "DELETE FROM node");
    o.into_non_empty = 1;
    copy_refused(from, to, &o, STRATA_E_FOREIGN_KEY,
                 "it is in, or refers to, a ring of rows whose references may not be NULL");
    ck_assert_int_eq(th_int(to, "SELECT count(*) FROM node"), 0);
    strata_db_close(to);
    strata_db_close(from);
}
END_TEST

/* A ring whose one side has a check that wants its reference.  Into
 * empty tables it goes in as it is; added to tables the target has, where
 * rows are held, that side cannot go in with its reference NULL, so the
 * other does, and then it goes in whole. */
START_TEST(copy_a_ring_with_a_check)
{
    strata_db *from = open_sqlite_scratch("ringcheck"), *to = open_same();
    /* SQLite takes a reference to a table made after. */
    th_exec(from, "CREATE TABLE pet (id INTEGER PRIMARY KEY, "
                  "owner_id INTEGER REFERENCES owner (id))");
    th_exec(from, "CREATE TABLE owner (id INTEGER PRIMARY KEY, "
                  "best_pet_id INTEGER REFERENCES pet (id), "
                  "CONSTRAINT ck_owner_has_a_pet CHECK (best_pet_id IS NOT NULL))");
    th_exec(from, "INSERT INTO pet (id) VALUES (10), (20)");
    th_exec(from, "INSERT INTO owner (id, best_pet_id) VALUES (1, 10), (2, 20)");
    th_exec(from, "UPDATE pet SET owner_id = id / 10");
    /* Into empty tables, then added to the tables the target has
     * (emptied), where rows are held. */
    for (int into_non_empty = 0; into_non_empty <= 1; into_non_empty++) {
        strata_copy_options o = {STRATA_COPY_OPTIONS_VERSION, .batch_rows = 1,
                                 .into_non_empty = into_non_empty};
        int rc = strata_copy_database(from, to, &o);
        ck_assert_msg(rc == STRATA_OK, "%d: %s: %s", into_non_empty, strata_errname(rc),
                      strata_db_errmsg(to));
        ck_assert_int_eq(th_int(to, "SELECT sum(best_pet_id) FROM owner"), 30);
        ck_assert_int_eq(th_int(to, "SELECT sum(owner_id) FROM pet"), 3);
        th_exec(to, "UPDATE pet SET owner_id = NULL");
        th_exec(to, "DELETE FROM owner");
        th_exec(to, "DELETE FROM pet");
    }
    strata_db_close(to);
    strata_db_close(from);
}
END_TEST

/* Into the configuration's own empty database (through the pooler on
 * pgbouncer): rows in any order, a ring of NOT NULL references, and
 * afterwards every foreign key there, as the schema made it (its name,
 * its ON DELETE). */
START_TEST(copy_keys_after_the_rows)
{
    strata_db *from = open_sqlite_scratch("keys"), *to = th_open();
    th_exec(from, "CREATE TABLE a (id INTEGER PRIMARY KEY, "
                  "b_id INTEGER NOT NULL REFERENCES b (id))");
    th_exec(from, "CREATE TABLE b (id INTEGER PRIMARY KEY, "
                  "a_id INTEGER NOT NULL REFERENCES a (id) ON DELETE CASCADE)");
    th_exec(from, "CREATE TABLE node (id INTEGER PRIMARY KEY, "
                  "parent_id INTEGER REFERENCES node (id) ON DELETE SET NULL)");
    th_exec(from, "PRAGMA foreign_keys = OFF");
    th_exec(from, "INSERT INTO a (id, b_id) VALUES (1, 2), (2, 1)");
    th_exec(from, "INSERT INTO b (id, a_id) VALUES (1, 2), (2, 1)");
    th_exec(from, "INSERT INTO node (id, parent_id) VALUES (1, 3), (2, 1), (3, NULL)");
    strata_copy_options o = {STRATA_COPY_OPTIONS_VERSION, .batch_rows = 1};
    int rc = strata_copy_database(from, to, &o);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
    ck_assert_int_eq(th_int(to, "SELECT sum(b_id) FROM a"), 3);
    ck_assert_int_eq(th_int(to, "SELECT sum(a_id) FROM b"), 3);
    ck_assert_int_eq(strata_db_exec(to, "INSERT INTO a (id, b_id) VALUES (3, 9)"),
                     STRATA_E_FOREIGN_KEY);
    ck_assert_int_eq(strata_db_exec(to, "INSERT INTO b (id, a_id) VALUES (3, 9)"),
                     STRATA_E_FOREIGN_KEY);
    ck_assert_int_eq(strata_db_exec(to, "INSERT INTO node (id, parent_id) VALUES (4, 9)"),
                     STRATA_E_FOREIGN_KEY);
    if (th_is_pg()) {
        ck_assert_int_eq(th_int(to, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                                    "AND connamespace = current_schema()::regnamespace AND "
                                    "conname IN ('fk_a_b_id_b', 'fk_b_a_id_a', "
                                    "'fk_node_parent_id_node')"),
                         3);
        ck_assert_int_eq(th_int(to, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                                    "AND connamespace = current_schema()::regnamespace"),
                         3);
        /* A key the schema layer does not describe in full (deferrable,
         * made by hand) is made again as it was, into the emptied tables. */
        th_exec(to, "ALTER TABLE node DROP CONSTRAINT fk_node_parent_id_node");
        th_exec(to, "ALTER TABLE node ADD CONSTRAINT fk_node_parent_id_node FOREIGN KEY "
                    "(parent_id) REFERENCES node (id) ON DELETE SET NULL DEFERRABLE "
                    "INITIALLY DEFERRED");
        th_exec(to, "DELETE FROM node");
        th_exec(to, "DELETE FROM a"); /* and b's rows, ON DELETE CASCADE */
        ck_assert_int_eq(th_int(to, "SELECT count(*) FROM b"), 0);
        rc = strata_copy_database(from, to, &o);
        ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
        ck_assert_int_eq(th_int(to, "SELECT count(*) FROM pg_constraint WHERE conname = "
                                    "'fk_node_parent_id_node' AND condeferrable AND "
                                    "condeferred AND confdeltype = 'n' AND "
                                    "connamespace = current_schema()::regnamespace"),
                         1);
        ck_assert_int_eq(th_int(to, "SELECT sum(b_id) FROM a"), 3);
        {
            /* A schema whose name must be quoted, beside one that differs
             * only in case and holds tables of the same names: the keys
             * dropped and made again are the copy's own. */
            char sql[300], url[1200], mixed[64];
            snprintf(mixed, sizeof mixed, "Keys_%d", (int)getpid());
            strata_db *admin = th_open_url(th_pg_url());
            snprintf(sql, sizeof sql,
                     "DROP SCHEMA IF EXISTS \"%s\" CASCADE; CREATE SCHEMA \"%s\"; "
                     "DROP SCHEMA IF EXISTS keys_%d CASCADE; CREATE SCHEMA keys_%d",
                     mixed, mixed, (int)getpid(), (int)getpid());
            th_exec(admin, sql);
            snprintf(sql, sizeof sql,
                     "CREATE TABLE keys_%d.node (id integer PRIMARY KEY, parent_id integer "
                     "CONSTRAINT fk_node_parent_id_node REFERENCES keys_%d.node (id))",
                     (int)getpid(), (int)getpid());
            th_exec(admin, sql);
            const char *pg = th_pg_url();
            snprintf(url, sizeof url, "%s%soptions=-csearch_path%%3D%%22%s%%22", pg,
                     strchr(pg, '?') ? "&" : "?", mixed);
            strata_db *quoted = th_open_url(url);
            rc = strata_copy_database(from, quoted, &o);
            ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc),
                          strata_db_errmsg(quoted));
            ck_assert_int_eq(th_int(quoted, "SELECT count(*) FROM pg_constraint con JOIN "
                                            "pg_class ref ON ref.oid = con.confrelid WHERE "
                                            "con.contype = 'f' AND ref.relnamespace = "
                                            "con.connamespace AND con.connamespace = (SELECT "
                                            "oid FROM pg_namespace WHERE nspname = "
                                            "current_schema())"),
                             3);
            strata_db_close(quoted);
            snprintf(sql, sizeof sql,
                     "DROP SCHEMA \"%s\" CASCADE; DROP SCHEMA keys_%d CASCADE", mixed,
                     (int)getpid());
            th_exec(admin, sql);
            strata_db_close(admin);
        }
        {
            /* A key to a table the copy leaves out stays as it is (the
             * same constraint, not dropped and made again), so that
             * table is not locked until the commit. */
            strata_db *src = open_sqlite_scratch("outside"), *dst = open_same();
            th_exec(src, "CREATE TABLE outside (id INTEGER PRIMARY KEY)");
            th_exec(src, "CREATE TABLE child (id INTEGER PRIMARY KEY, "
                         "outside_id INTEGER REFERENCES outside (id), "
                         "parent_id INTEGER REFERENCES child (id))");
            th_exec(src, "INSERT INTO outside (id) VALUES (1)");
            th_exec(src, "INSERT INTO child (id, outside_id, parent_id) VALUES (1, 1, 2), "
                         "(2, 1, NULL)");
            rc = strata_copy_database(src, dst, &o);
            ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(dst));
            const char *outside_key = "SELECT oid FROM pg_constraint WHERE conname = "
                                      "'fk_child_outside_id_outside' AND connamespace = "
                                      "(SELECT oid FROM pg_namespace WHERE nspname = "
                                      "current_schema())";
            const char *between_key = "SELECT oid FROM pg_constraint WHERE conname = "
                                      "'fk_child_parent_id_child' AND connamespace = "
                                      "(SELECT oid FROM pg_namespace WHERE nspname = "
                                      "current_schema())";
            int64_t outside_oid = th_int(dst, outside_key), between_oid = th_int(dst, between_key);
            th_exec(dst, "DELETE FROM child");
            const char *const leave_out[] = {"outside", NULL};
            strata_copy_options x = o;
            x.exclude = leave_out;
            rc = strata_copy_database(src, dst, &x);
            ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(dst));
            ck_assert_int_eq(th_int(dst, outside_key), outside_oid);
            ck_assert_int_ne(th_int(dst, between_key), between_oid); /* made again */
            ck_assert_int_eq(th_int(dst, "SELECT count(*) FROM child"), 2);
            strata_db_close(dst);
            strata_db_close(src);
        }
        if (!th_via_pooler()) {
            /* A role that may write the rows but not alter the tables
             * copies with the keys in place: the ring of NOT NULL
             * references cannot go in so; without it, the rest goes (the
             * node key checked at the commit, deferred as made above). */
            char sql[700], schema[128];
            strata_stmt *st;
            th_rc(to, strata_stmt_prepare(&st, to, "SELECT current_schema()"), STRATA_OK);
            th_rc(to, strata_stmt_step(st), STRATA_ROW);
            const char *cs = NULL;
            th_rc(to, strata_stmt_column_text(st, 0, &cs, NULL), STRATA_OK);
            snprintf(schema, sizeof schema, "%s", cs);
            strata_stmt_finalize(st);
            snprintf(sql, sizeof sql,
                     "CREATE ROLE strata_writer_%d; GRANT USAGE ON SCHEMA \"%s\" TO "
                     "strata_writer_%d; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN "
                     "SCHEMA \"%s\" TO strata_writer_%d; GRANT USAGE, UPDATE ON ALL "
                     "SEQUENCES IN SCHEMA \"%s\" TO strata_writer_%d",
                     (int)getpid(), schema, (int)getpid(), schema, (int)getpid(), schema,
                     (int)getpid());
            th_exec(to, sql);
            th_exec(to, "DELETE FROM node");
            th_exec(to, "DELETE FROM a");
            snprintf(sql, sizeof sql, "SET ROLE strata_writer_%d", (int)getpid());
            th_exec(to, sql);
            copy_refused(from, to, &o, STRATA_E_FOREIGN_KEY,
                         "it is in, or refers to, a ring of rows whose references may not be "
                         "NULL, which the target checks as each row goes in when the copy "
                         "cannot drop the tables' keys: copy as the tables' owner");
            th_exec(from, "DELETE FROM a");
            th_exec(from, "DELETE FROM b");
            rc = strata_copy_database(from, to, &o);
            ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
            ck_assert_int_eq(th_int(to, "SELECT sum(parent_id) FROM node"), 4);
            th_exec(to, "RESET ROLE");
            snprintf(sql, sizeof sql, "DROP OWNED BY strata_writer_%d; DROP ROLE strata_writer_%d",
                     (int)getpid(), (int)getpid());
            th_exec(to, sql);
        }
    }
    /* Their actions: a node's parent gone sets NULL. */
    th_exec(to, "DELETE FROM node WHERE id = 3");
    ck_assert_int_eq(th_int(to, "SELECT count(*) FROM node WHERE parent_id IS NULL"), 1);
    if (!th_is_pg()) {
        /* SQLite's checks, paused for the copy, are on again. */
        ck_assert_int_eq(th_int(to, "PRAGMA foreign_keys"), 1);
        /* A table the copy leaves out keeps what it holds, unjudged; a
         * connection whose checks are off gets the copy checked all the
         * same, and its checks left off. */
        th_exec(to, "CREATE TABLE kept (id INTEGER PRIMARY KEY, "
                    "other_id INTEGER REFERENCES kept (id))");
        th_exec(to, "PRAGMA foreign_keys = OFF");
        th_exec(to, "INSERT INTO kept (id, other_id) VALUES (1, 99)");
        th_exec(to, "DELETE FROM node");
        th_exec(to, "DELETE FROM a");
        th_exec(to, "DELETE FROM b");
        th_exec(to, "PRAGMA foreign_keys = ON");
        const char *const exclude[] = {"kept", NULL};
        o.exclude = exclude;
        rc = strata_copy_database(from, to, &o);
        ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
        th_exec(to, "DELETE FROM node");
        th_exec(to, "PRAGMA foreign_keys = OFF");
        th_exec(to, "DELETE FROM a");
        th_exec(to, "DELETE FROM b");
        th_exec(from, "INSERT INTO node (id, parent_id) VALUES (5, 99)");
        copy_refused(from, to, &o, STRATA_E_FOREIGN_KEY,
                     "copying table node (the row with id=5): parent_id=99 refers to no row");
        ck_assert_int_eq(th_int(to, "PRAGMA foreign_keys"), 0);
        ck_assert_int_eq(th_int(to, "SELECT count(*) FROM node"), 0);
        o.exclude = NULL;
    }
    strata_db_close(to);
    strata_db_close(from);

    /* Keys the target cannot make are refused before any row goes: two
     * keys of one name (SQLite takes them; PostgreSQL does not), a key
     * whose columns' types differ from those it refers to.  On SQLite,
     * where the second is taken, the engine's own check (its rules for
     * comparing a text key with a number) names what the search cannot. */
    from = open_sqlite_scratch("badkeys");
    th_exec(from, "CREATE TABLE p (id INTEGER PRIMARY KEY)");
    th_exec(from, "CREATE TABLE q (id INTEGER PRIMARY KEY)");
    th_exec(from, "CREATE TABLE c (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, "
                  "CONSTRAINT fk_same FOREIGN KEY (a) REFERENCES p (id), "
                  "CONSTRAINT fk_same FOREIGN KEY (b) REFERENCES q (id))");
    th_exec(from, "INSERT INTO p (id) VALUES (1)");
    th_exec(from, "INSERT INTO q (id) VALUES (1)");
    th_exec(from, "INSERT INTO c (id, a, b) VALUES (1, 1, 1)");
    to = open_same();
    rc = strata_copy_database(from, to, &o);
    if (th_is_pg()) {
        ck_assert_msg(rc != STRATA_OK, "copied two keys of one name");
        ck_assert_msg(strstr(strata_db_errmsg(to), "creating the schema on the target"), "%s",
                      strata_db_errmsg(to));
    } else {
        ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
        ck_assert_int_eq(strata_db_exec(to, "INSERT INTO c (id, a, b) VALUES (2, 1, 9)"),
                         STRATA_E_FOREIGN_KEY);
        ck_assert_int_eq(strata_db_exec(to, "INSERT INTO c (id, a, b) VALUES (3, 9, 1)"),
                         STRATA_E_FOREIGN_KEY);
    }
    strata_db_close(to);
    strata_db_close(from);

    from = open_sqlite_scratch("affinity");
    th_exec(from, "CREATE TABLE parent (code TEXT PRIMARY KEY)");
    th_exec(from, "CREATE TABLE child (id INTEGER PRIMARY KEY, "
                  "x INTEGER REFERENCES parent (code))");
    th_exec(from, "INSERT INTO parent (code) VALUES ('01')");
    th_exec(from, "PRAGMA foreign_keys = OFF");
    th_exec(from, "INSERT INTO child (id, x) VALUES (1, 1)");
    to = open_same();
    if (th_is_pg()) {
        rc = strata_copy_database(from, to, &o);
        ck_assert_msg(rc != STRATA_OK, "copied a key between a text and a number");
        ck_assert_msg(strstr(strata_db_errmsg(to), "creating the schema on the target"), "%s",
                      strata_db_errmsg(to));
    } else {
        copy_refused(from, to, &o, STRATA_E_FOREIGN_KEY,
                     "copying the rows: foreign key check: row 1 of table child refers to a "
                     "row of parent");
    }
    strata_metadata *md = NULL;
    th_rc(to, strata_schema_introspect(&md, to, NULL), STRATA_OK);
    ck_assert_ptr_null(strata_metadata_find_table(md, "child"));
    strata_metadata_free(md);
    strata_db_close(to);
    strata_db_close(from);
}
END_TEST

/* A keyless table of one row in `db`, which a copy into itself would
 * double. */
static void one_loose_row(strata_db *db)
{
    th_exec(db, "CREATE TABLE loose (v INTEGER)");
    th_exec(db, "INSERT INTO loose (v) VALUES (1)");
}

static void refused_as_itself(strata_db *from, strata_db *to)
{
    strata_copy_options o = {STRATA_COPY_OPTIONS_VERSION, .into_non_empty = 1};
    int rc = strata_copy_database(from, to, &o);
    ck_assert_msg(rc == STRATA_E_MISUSE, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
    ck_assert_msg(strstr(strata_db_errmsg(to), "the same database"), "%s", strata_db_errmsg(to));
    ck_assert_int_eq(th_int(to, "SELECT count(*) FROM loose"), 1);
}

static void copied_once(strata_db *from, strata_db *to)
{
    strata_copy_options o = {STRATA_COPY_OPTIONS_VERSION, .into_non_empty = 1};
    int rc = strata_copy_database(from, to, &o);
    ck_assert_msg(rc == STRATA_OK, "%s: %s", strata_errname(rc), strata_db_errmsg(to));
    ck_assert_int_eq(th_int(to, "SELECT count(*) FROM loose"), 1);
}

/* Two connections to one database are one database, however the second
 * was reached (another spelling of a file's path, a second connection
 * through the pooler): the copy refuses them and leaves the rows as they
 * were.  Two private in-memory databases, or two schemas of one
 * PostgreSQL database, are two databases, and the copy goes on. */
START_TEST(copy_refuses_one_database_by_two_connections)
{
    strata_db *here = th_open(), *again = th_open_url(th_url());
    one_loose_row(here);
    if (th_engine_now() == TH_SQLITE_MEMORY)
        copied_once(here, again);
    else
        refused_as_itself(here, again);
    strata_db_close(again);
    strata_db_close(here);

    char url[1024], dir_url[1024];
    snprintf(url, sizeof url, "sqlite:///%s/twice.db", th_tmpdir());
    snprintf(dir_url, sizeof dir_url, "sqlite:///%s/./twice.db?mode=rw", th_tmpdir());
    strata_db *file = th_open_url(url), *by_other_path = th_open_url(dir_url);
    one_loose_row(file);
    refused_as_itself(file, by_other_path);
    strata_db_close(by_other_path);
    strata_db_close(file);

    strata_db *schema_a = open_pg_scratch("strata_one"), *schema_b = open_pg_scratch("strata_two");
    one_loose_row(schema_a);
    copied_once(schema_a, schema_b);
    strata_db_close(schema_b);
    strata_db_close(schema_a);
}
END_TEST

/* A partitioned PostgreSQL table is copied as the one table it is: its
 * rows once, no table for a partition; and copied back into the emptied
 * partitioned schema, its rows go where PostgreSQL routes them, the keys
 * to and from the partitioned table made again.  On PostgreSQL the
 * partitioned side is the database under test; on SQLite, a scratch
 * schema on the server. */
static void partitioned_schema(strata_db *pg)
{
    th_exec(pg, "CREATE TABLE sensor (id INTEGER NOT NULL, CONSTRAINT sensor_pkey PRIMARY KEY (id))");
    th_exec(pg, "CREATE TABLE measure (id INTEGER NOT NULL, at DATE NOT NULL, v INTEGER, "
                "sensor_id INTEGER NOT NULL, CONSTRAINT measure_pkey PRIMARY KEY (id, at), "
                "CONSTRAINT measure_sensor FOREIGN KEY (sensor_id) REFERENCES sensor (id)) "
                "PARTITION BY RANGE (at)");
    th_exec(pg, "CREATE TABLE measure_2025 PARTITION OF measure "
                "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')");
    th_exec(pg, "CREATE TABLE measure_rest PARTITION OF measure DEFAULT");
    th_exec(pg, "CREATE TABLE note (id INTEGER NOT NULL, m_id INTEGER NOT NULL, m_at DATE NOT NULL, "
                "CONSTRAINT note_pkey PRIMARY KEY (id), CONSTRAINT note_measure FOREIGN KEY "
                "(m_id, m_at) REFERENCES measure (id, at))");
}

START_TEST(copy_a_partitioned_table_as_one)
{
    strata_db *pg = th_is_pg() ? th_open() : open_pg_scratch("strata_parts");
    partitioned_schema(pg);
    /* A partition of a table in another schema is a table of this one. */
    char far[64], sql[512];
    snprintf(far, sizeof far, "strata_far_%d", (int)getpid());
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; "
             "CREATE TABLE %s.far (id INTEGER NOT NULL, PRIMARY KEY (id)) PARTITION BY RANGE (id)",
             far, far, far);
    th_exec(pg, sql);
    snprintf(sql, sizeof sql, "CREATE TABLE far_low PARTITION OF %s.far FOR VALUES FROM (0) TO (100)",
             far);
    th_exec(pg, sql);
    th_exec(pg, "INSERT INTO far_low VALUES (7), (8)");
    th_exec(pg, "INSERT INTO sensor VALUES (1), (2)");
    th_exec(pg, "INSERT INTO measure VALUES (1, '2025-03-01', 10, 1), (2, '2025-07-01', 20, 2), "
                "(3, '2024-12-31', 30, 1), (4, '2026-01-01', 40, 2)");
    th_exec(pg, "INSERT INTO note VALUES (1, 1, '2025-03-01'), (2, 4, '2026-01-01')");
    strata_db *sqlite = open_sqlite_scratch("parts");
    lines out = {.text = ""};
    int rc = copy(pg, sqlite, &out, 3);
    ck_assert_msg(rc == STRATA_OK, "copy: %s", strata_db_errmsg(sqlite));
    ck_assert_int_eq(th_int(sqlite, "SELECT count(*) FROM measure"), 4);
    ck_assert_int_eq(th_int(sqlite, "SELECT sum(v) FROM measure"), 100);
    ck_assert_int_eq(th_int(sqlite, "SELECT count(*) FROM note"), 2);
    ck_assert_int_eq(th_int(sqlite, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                    "name LIKE 'measure%'"),
                     1);
    ck_assert_msg(!strstr(out.ends, "measure_"), "%s", out.ends);
    ck_assert_int_eq(th_int(sqlite, "SELECT sum(id) FROM far_low"), 15);

    /* Back into the emptied partitioned schema. */
    th_exec(pg, "DELETE FROM note");
    th_exec(pg, "DELETE FROM measure");
    th_exec(pg, "DELETE FROM sensor");
    th_exec(pg, "DELETE FROM far_low");
    out.text[0] = out.ends[0] = '\0';
    rc = copy(sqlite, pg, &out, 3);
    ck_assert_msg(rc == STRATA_OK, "copy back: %s", strata_db_errmsg(pg));
    ck_assert_int_eq(th_int(pg, "SELECT count(*) FROM measure"), 4);
    ck_assert_int_eq(th_int(pg, "SELECT count(*) FROM measure_2025"), 2);
    ck_assert_int_eq(th_int(pg, "SELECT count(*) FROM measure_rest"), 2);
    ck_assert_int_eq(th_int(pg, "SELECT count(*) FROM note"), 2);
    ck_assert_int_eq(th_int(pg, "SELECT count(*) FROM pg_constraint WHERE conname IN "
                                "('measure_sensor', 'note_measure') AND conparentid = 0 AND "
                                "connamespace = current_schema()::regnamespace"),
                     2);
    /* Enforced again, through the partitioned table. */
    strata_stmt *st;
    ck_assert_int_eq(strata_stmt_prepare(&st, pg, "INSERT INTO measure VALUES "
                                                  "(5, '2025-01-02', 1, 3)"),
                     STRATA_OK);
    ck_assert_int_eq(strata_stmt_step(st), STRATA_E_FOREIGN_KEY);
    strata_stmt_finalize(st);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.far", far);
    ck_assert_int_eq(th_int(pg, sql), 2);
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", far);
    th_exec(pg, sql);
    strata_db_close(sqlite);
    strata_db_close(pg);
}
END_TEST

/* A PostgreSQL table other tables inherit from (INHERITS): the rows of
 * those copied as tables of their own, and of everything below them, are
 * theirs, not the parent's; the rows of a child in another schema, which
 * the copy does not list, are read through the parent.  Each row once.
 * On PostgreSQL the database under test; on SQLite, a scratch schema on
 * the server. */
START_TEST(copy_an_inherited_table_without_its_children)
{
    strata_db *pg = th_is_pg() ? th_open() : open_pg_scratch("strata_inherit");
    char far[64], sql[1024];
    snprintf(far, sizeof far, "strata_heir_%d", (int)getpid());
    th_exec(pg, "CREATE TABLE event (id INTEGER NOT NULL, what TEXT, "
                "CONSTRAINT event_pkey PRIMARY KEY (id))");
    th_exec(pg, "CREATE TABLE event_old (CONSTRAINT event_old_pkey PRIMARY KEY (id)) "
                "INHERITS (event)");
    /* event <- far.event_far <- event_deep, the middle in another schema,
     * and far.event_farther below it too. */
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; "
             "CREATE TABLE %s.event_far (CONSTRAINT event_far_pkey PRIMARY KEY (id)) "
             "INHERITS (event); CREATE TABLE event_deep (CONSTRAINT event_deep_pkey "
             "PRIMARY KEY (id)) INHERITS (%s.event_far); CREATE TABLE %s.event_farther () "
             "INHERITS (%s.event_far)", far, far, far, far, far, far);
    th_exec(pg, sql);
    th_exec(pg, "INSERT INTO event VALUES (1, 'a'), (2, 'b')");
    th_exec(pg, "INSERT INTO event_old VALUES (3, 'c')");
    snprintf(sql, sizeof sql, "INSERT INTO %s.event_far VALUES (4, 'd'); "
             "INSERT INTO %s.event_farther VALUES (6, 'f')", far, far);
    th_exec(pg, sql);
    th_exec(pg, "INSERT INTO event_deep VALUES (5, 'e')");
    strata_db *sqlite = open_sqlite_scratch("inherit");
    lines out = {.text = ""};
    int rc = copy(pg, sqlite, &out, 0);
    ck_assert_msg(rc == STRATA_OK, "copy: %s", strata_db_errmsg(sqlite));
    ck_assert_int_eq(th_int(sqlite, "SELECT count(*) FROM event"), 4);
    ck_assert_int_eq(th_int(sqlite, "SELECT sum(id) FROM event"), 13); /* 1, 2, 4 and 6 */
    ck_assert_int_eq(th_int(sqlite, "SELECT sum(id) FROM event_old"), 3);
    ck_assert_int_eq(th_int(sqlite, "SELECT sum(id) FROM event_deep"), 5);
    ck_assert_int_eq(th_int(sqlite, "SELECT count(*) FROM sqlite_master WHERE name = 'event_far'"),
                     0);
    ck_assert_msg(strstr(out.text, " ok\n") && !strstr(out.text, "DIFFERS"), "%s", out.text);
    strata_db_close(sqlite);
    snprintf(sql, sizeof sql, "DROP TABLE event_deep; DROP SCHEMA %s CASCADE; "
             "DROP TABLE event_old; DROP TABLE event", far);
    th_exec(pg, sql);
    strata_db_close(pg);
}
END_TEST

/* The source's connection lost halfway (its server process ended from the
 * progress report): the copy reports it, and the target, whose own
 * connection is whole, rolls back what it had written and stays usable.  The source is a scratch schema on the server, reached
 * directly so that its process is known; the target is the database
 * under test. */
typedef struct killer {
    strata_db *db;
    int64_t pid;
    int kills;
} killer;

static void kill_source(void *ud, const char *table, int64_t done, int64_t total)
{
    (void)table, (void)done, (void)total;
    killer *k = ud;
    if (k->kills++)
        return;
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)k->pid);
    ck_assert_int_eq(th_int(k->db, sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %lld",
             (long long)k->pid);
    for (int i = 0; i < 500 && th_int(k->db, sql) > 0; i++)
        usleep(10000);
    ck_assert_int_eq(th_int(k->db, sql), 0);
}

START_TEST(copy_a_source_lost_halfway)
{
    strata_db *source = open_pg_scratch("strata_lost"), *target = th_open();
    fill(source);
    killer k = {.db = th_open_url(th_pg_url())};
    k.pid = th_int(source, "SELECT pg_backend_pid()");
    strata_copy_options o = {STRATA_COPY_OPTIONS_VERSION, .progress = kill_source, .ud = &k};
    int rc = strata_copy_database(source, target, &o);
    ck_assert_int_eq(k.kills > 0, 1);
    ck_assert_msg(rc == STRATA_E_CONNECTION_LOST, "%s: %s", strata_errstr(rc),
                  strata_db_errmsg(target));
    ck_assert_msg(strstr(strata_db_errmsg(target), "on the source"), "%s",
                  strata_db_errmsg(target));
    /* The target rolled back: no transaction, no table, and it works. */
    ck_assert(!strata_db_in_transaction(target));
    strata_metadata *md;
    th_rc(target, strata_schema_introspect(&md, target, NULL), STRATA_OK);
    ck_assert_int_eq(strata_metadata_table_count(md), 0);
    strata_metadata_free(md);
    th_exec(target, "CREATE TABLE after_the_loss (id INTEGER PRIMARY KEY)");
    ck_assert_int_eq(th_int(target, "SELECT count(*) FROM after_the_loss"), 0);
    th_exec(target, "DROP TABLE after_the_loss");
    strata_db_close(k.db);
    strata_db_close(target);
    strata_db_close(source);
}
END_TEST

/* A SQLite source with a hot journal (a write transaction cut off by a
 * crash) cannot be read by a read-only connection, which cannot roll it
 * back: the copy says so once, naming the journal and what to do, and
 * after the file is opened read-write once it copies the rows as they
 * were before the cut-off transaction. */
START_TEST(copy_a_sqlite_source_with_a_hot_journal)
{
    char path[700], url[800], ro[820], journal[720];
    snprintf(path, sizeof path, "%s/hot%d.db", th_tmpdir(), ++scratch_serial);
    snprintf(url, sizeof url, "sqlite:///%s?journal_mode=delete", path);
    snprintf(ro, sizeof ro, "sqlite:///%s?mode=ro", path);
    snprintf(journal, sizeof journal, "%s-journal", path);
    strata_db *db = th_open_url(url);
    th_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)");
    th_exec(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
                "INSERT INTO t (x) SELECT printf('%0100d', i) FROM n");
    strata_db_close(db);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) { /* writes past its cache, then dies inside the transaction */
        strata_db *w;
        if (strata_db_open(&w, url) != STRATA_OK || strata_db_exec(w, "PRAGMA cache_size = 10") ||
            strata_db_begin_mode(w, STRATA_TX_WRITE) ||
            strata_db_exec(w, "UPDATE t SET x = 'changed'"))
            _exit(1);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(access(journal, F_OK), 0);

    strata_db *source = th_open_url(ro), *target = open_same();
    int rc = strata_copy_database(source, target, NULL);
    const char *msg = strata_db_errmsg(target);
    ck_assert_msg(rc == STRATA_E_READONLY, "%s: %s", strata_errstr(rc), msg);
    ck_assert_msg(strstr(msg, "on the source: reading the schema: the file has a hot journal"),
                  "%s", msg);
    ck_assert_msg(strstr(msg, "open the file once read-write"), "%s", msg);
    ck_assert_msg(strstr(msg, path), "%s", msg);
    ck_assert_msg(!strstr(strstr(msg, "reading") + 1, "reading"), "said twice: %s", msg);
    strata_db_close(source);

    db = th_open_url(url); /* rolls the cut-off transaction back */
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE x = 'changed'"), 0);
    strata_db_close(db);
    source = th_open_url(ro);
    th_rc(target, strata_copy_database(source, target, NULL), STRATA_OK);
    ck_assert_int_eq(th_int(target, "SELECT count(*) FROM t"), 2000);
    ck_assert_int_eq(th_int(target, "SELECT count(*) FROM t WHERE x = 'changed'"), 0);
    strata_db_close(source);
    strata_db_close(target);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    (void)e;
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, copy_both_ways);
    tcase_add_test(tc, copy_a_partitioned_table_as_one);
    tcase_add_test(tc, copy_an_inherited_table_without_its_children);
    tcase_add_test(tc, copy_refuses_a_different_target);
    tcase_add_test(tc, copy_refuses_what_the_schema_cannot_say);
    tcase_add_test(tc, copy_failure_halfway_changes_nothing);
    tcase_add_test(tc, copy_a_source_lost_halfway);
    tcase_add_test(tc, copy_a_sqlite_source_with_a_hot_journal);
    tcase_add_test(tc, copy_key_counters);
    tcase_add_test(tc, copy_keeps_the_target_collation);
    tcase_add_test(tc, copy_wide_keys_and_json_numbers);
    tcase_add_test(tc, copy_into_non_empty_checks_what_it_adds);
    tcase_add_test(tc, copy_keeps_a_sequence_that_is_ahead);
    tcase_add_test(tc, copy_a_failure_of_no_row_names_no_row);
    tcase_add_test(tc, copy_refuses_a_column_without_a_type);
    tcase_add_test(tc, copy_postgresql_checks_to_sqlite);
    tcase_add_test(tc, copy_refuses_a_generated_column);
    tcase_add_test(tc, copy_refuses_one_database_by_two_connections);
    tcase_add_test(tc, copy_names_the_column_of_a_refused_value);
    tcase_add_test(tc, copy_refuses_a_blob_in_a_typed_column);
    tcase_add_test(tc, copy_names_a_row_the_target_dropped);
    tcase_add_test(tc, copy_rows_that_refer_forward);
    tcase_add_test(tc, copy_held_rows_in_order_and_the_row_to_blame);
    tcase_add_test(tc, copy_a_ring_with_a_check);
    tcase_add_test(tc, copy_keys_after_the_rows);
    tcase_add_test(tc, copy_a_legacy_key_again);
    tcase_add_test(tc, copy_hints_at_an_unnamed_version_table);
}

static Suite *build(void) { return th_suite("copy", add); }

int main(void) { return th_run(build); }
