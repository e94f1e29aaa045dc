/*
 * test_collation.c - strings compare and sort the same on every engine:
 * bytewise by default (COLLATE "C" on PostgreSQL, SQLite's BINARY), in
 * ORDER BY, comparisons, min / max and prefix LIKE, which an index
 * answers; a column of the database's locale (STRATA_COLLATE_LOCALE)
 * rendered, read back and compared without a spurious change; a database
 * whose strings have the database's collation (as strata made them
 * before it chose one) migrated by autogenerate, there and back with its
 * rows.  Then the same on a PostgreSQL database created with en_US.UTF-8,
 * on a private server (the locale built with localedef when the system
 * lacks it), side by side with SQLite: the bytewise columns agree, the
 * locale one sorts 'a' before 'B', and only the bytewise index serves
 * LIKE 'user1%'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

typedef struct Account {
    strata_object base;
    int64_t id;
    char *username; /* bytewise, indexed */
    char *bio;      /* bytewise text */
    char *display;  /* the database's locale, indexed */
} Account;

static const strata_field account_fields[] = {
    STRATA_PK(Account, id), STRATA_STRING(Account, username, 20, STRATA_INDEX),
    STRATA_TEXT(Account, bio, STRATA_NULLABLE),
    STRATA_STRING(Account, display, 20, STRATA_NULLABLE | STRATA_INDEX | STRATA_COLLATE_LOCALE),
    STRATA_FIELDS_END};
static const strata_model account_model = {STRATA_MODEL_VERSION, "Account", .size = sizeof(Account),
                                           .fields = account_fields, .repr = "username"};
static const strata_model *const models[] = {&account_model, NULL};

/* The rows, and their bytewise order (UTF-8 bytes: ' ' < digits <
 * upper case < '_' < lower case < 'ä'), which a locale such as
 * en_US.UTF-8 does not follow. */
static const char *const names[] = {"b",      "_",      "B",     "a",        "A",
                                    "Z",      "0",      " x",    "\xc3\xa4", "user1",
                                    "user10", "User1x", "user2", "user1_z"};
#define NNAMES (sizeof names / sizeof names[0])
static const char bytewise[] = " x|0|A|B|User1x|Z|_|a|b|user1|user10|user1_z|user2|\xc3\xa4|";

static strata_metadata *models_md(void)
{
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    ck_assert_msg(strata_metadata_add_models(md, models) == STRATA_OK, "%s",
                  strata_metadata_errmsg(md));
    return md;
}

/* The models' table, filled with `names` in every string column. */
static void fill(strata_db *db)
{
    strata_metadata *md = models_md();
    th_rc(db, strata_metadata_create_all(md, db), STRATA_OK);
    strata_metadata_free(md);
    strata_session *s;
    th_rc(db, strata_session_new(&s, db), STRATA_OK);
    for (size_t i = 0; i < NNAMES; i++) {
        Account *a;
        th_rc(db, strata_new(s, &account_model, &a), STRATA_OK);
        strata_set_text(&a->username, names[i]);
        strata_set_text(&a->bio, names[i]);
        strata_set_text(&a->display, names[i]);
        th_rc(db, strata_add(a), STRATA_OK);
    }
    th_rc(db, strata_session_commit(s), STRATA_OK);
    strata_session_free(s);
}

/* The first column of every row of `sql`, each followed by '|'. */
static void column_of(strata_db *db, const char *sql, char *out, size_t cap)
{
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, sql), STRATA_OK);
    size_t n = 0;
    out[0] = '\0';
    int rc;
    while ((rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *v = NULL;
        th_rc(db, strata_stmt_column_text(st, 0, &v, NULL), STRATA_OK);
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s|", v ? v : "NULL");
    }
    th_rc(db, rc, STRATA_DONE);
    ck_assert_msg(n < cap, "%s: more than %zu bytes", sql, cap);
    strata_stmt_finalize(st);
}

/* The usernames of the query's objects, each followed by '|'. */
static void usernames(strata_db *db, strata_query *q, char *out, size_t cap)
{
    strata_list *list;
    th_rc(db, strata_query_all(q, &list), STRATA_OK);
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < list->count; i++)
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s|",
                              ((Account *)list->items[i])->username);
    ck_assert(n < cap);
    strata_list_free(list);
}

/* The plan of `select` (with `param` bound to its one ?, or NULL) where
 * the engine may not read the whole table when an index can answer:
 * PostgreSQL's EXPLAIN with sequential scans off, SQLite's EXPLAIN QUERY
 * PLAN (its detail column); one line per row. */
static void plan_with(strata_db *db, const char *select, const char *param, char *out, size_t cap)
{
    char sql[512];
    strata_stmt *st;
    bool pg = strstr(strata_db_backend(db), "sqlite") == NULL;
    snprintf(sql, sizeof sql, "%s %s", pg ? "EXPLAIN" : "EXPLAIN QUERY PLAN", select);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    if (pg)
        th_exec(db, "SET LOCAL enable_seqscan = off"); /* a few rows: deterministic */
    th_rc(db, strata_stmt_prepare(&st, db, sql), STRATA_OK);
    if (param)
        th_rc(db, strata_stmt_bind_text(st, 1, param, -1), STRATA_OK);
    size_t n = 0;
    out[0] = '\0';
    int rc;
    while ((rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *v = NULL;
        th_rc(db, strata_stmt_column_text(st, pg ? 0 : 3, &v, NULL), STRATA_OK);
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s\n", v ? v : "");
    }
    th_rc(db, rc, STRATA_DONE);
    ck_assert(n < cap);
    strata_stmt_finalize(st);
    th_rc(db, strata_db_rollback(db), STRATA_OK);
}

static void plan_of(strata_db *db, const char *select, char *out, size_t cap)
{
    plan_with(db, select, NULL, out, cap);
}

/* Whether the plan looks the prefix up in index `index` (a range on the
 * index), rather than reading all of it or the table. */
static bool prefix_from_index(const char *plan, const char *index, const char *col)
{
    char want[256];
    if (!strstr(plan, index))
        return false;
    /* SQLite: "SEARCH account USING INDEX ix (username>? AND username<?)". */
    snprintf(want, sizeof want, "%s (%s>? AND %s<?)", index, col, col);
    if (strstr(plan, want))
        return true;
    /* PostgreSQL: "Index Cond: (((username)::text >= 'user1'::text) AND ...". */
    snprintf(want, sizeof want,
             "Index Cond: (((%s)::text >= 'user1'::text) AND ((%s)::text < "
             "'user2'::text))",
             col, col);
    return strstr(plan, want) != NULL;
}

/* ---- every engine ------------------------------------------------------ */

START_TEST(collation_order_and_comparison_are_bytewise)
{
    strata_db *db = th_open();
    fill(db);
    char got[512];
    strata_session *s;
    th_rc(db, strata_session_new(&s, db), STRATA_OK);
    strata_query *q = strata_query_new(s, &account_model);
    strata_query_order_by(q, "username", STRATA_ASC);
    usernames(db, q, got, sizeof got);
    ck_assert_str_eq(got, bytewise);
    strata_query_free(q);

    /* Comparisons: seven names sort before "a" ("A" and "_" among them). */
    q = strata_query_new(s, &account_model);
    strata_query_filter(q, strata_c("username", STRATA_LT, strata_text("a")));
    strata_query_order_by(q, "username", STRATA_DESC);
    usernames(db, q, got, sizeof got);
    ck_assert_str_eq(got, "_|Z|User1x|B|A|0| x|");
    strata_query_free(q);
    strata_session_free(s);

    /* The text column, in SQL; min and max. */
    column_of(db, "SELECT bio FROM account ORDER BY bio", got, sizeof got);
    ck_assert_str_eq(got, bytewise);
    column_of(db, "SELECT min(username) FROM account UNION ALL SELECT max(bio) FROM account", got,
              sizeof got);
    ck_assert_str_eq(got, " x|\xc3\xa4|");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM account WHERE bio > 'Z' AND bio < 'a'"), 1);
    strata_db_close(db);
}
END_TEST

START_TEST(collation_prefix_like_agrees_and_uses_the_index)
{
    strata_db *db = th_open();
    fill(db);
    char got[512];
    strata_session *s;
    th_rc(db, strata_session_new(&s, db), STRATA_OK);
    strata_query *q = strata_query_new(s, &account_model);
    strata_query_filter(q, strata_c("username", STRATA_LIKE, strata_text("user1%")));
    strata_query_order_by(q, "username", STRATA_ASC);
    usernames(db, q, got, sizeof got);
    ck_assert_str_eq(got, "user1|user10|user1_z|"); /* not User1x: LIKE is case-sensitive */
    strata_query_free(q);
    strata_session_free(s);

    char plan[2048];
    plan_of(db, "SELECT id FROM account WHERE username LIKE 'user1%'", plan, sizeof plan);
    ck_assert_msg(prefix_from_index(plan, "ix_account_username", "username"),
                  "the prefix is not looked up in ix_account_username:\n%s", plan);
    /* As the ORM sends it: the pattern a bound parameter. */
    plan_with(db, "SELECT id FROM account WHERE username LIKE ?", "user1%", plan, sizeof plan);
    ck_assert_msg(prefix_from_index(plan, "ix_account_username", "username"),
                  "the bound prefix is not looked up in ix_account_username:\n%s", plan);
    strata_db_close(db);
}
END_TEST

START_TEST(collation_locale_column_round_trips)
{
    strata_db *db = th_open();
    strata_metadata *md = models_md();
    strata_table *t = strata_metadata_find_table(md, "account");
    ck_assert_uint_eq(strata_column_flags(strata_table_find_column(t, "display")),
                      STRATA_NULLABLE | STRATA_COLLATE_LOCALE);
    ck_assert_uint_eq(strata_column_flags(strata_table_find_column(t, "username")), 0);

    char *sql;
    th_rc(db, strata_metadata_render_create(md, strata_db_driver(db), &sql), STRATA_OK);
    if (th_is_pg()) {
        ck_assert_msg(strstr(sql, "    username VARCHAR(20) COLLATE \"C\" NOT NULL,\n") &&
                          strstr(sql, "    bio TEXT COLLATE \"C\",\n") &&
                          strstr(sql, "    display VARCHAR(20),\n"),
                      "%s", sql);
    } else {
        ck_assert_msg(strstr(sql, "    username VARCHAR(20) NOT NULL,\n") &&
                          strstr(sql, "    bio TEXT,\n") &&
                          strstr(sql, "    display VARCHAR(20),\n") && !strstr(sql, "COLLATE"),
                      "%s", sql);
    }
    strata_free(sql);

    th_rc(db, strata_metadata_create_all(md, db), STRATA_OK);
    strata_metadata *live;
    th_rc(db, strata_schema_introspect(&live, db, NULL), STRATA_OK);
    /* No change on any engine, judged as the engine stores columns. */
    strata_diff *d;
    th_rc(db, strata_schema_diff(&d, live, md, strata_db_driver(db)), STRATA_OK);
    ck_assert_msg(strata_diff_count(d) == 0, "%s", strata_diff_op_describe(d, 0));
    strata_diff_free(d);
    /* PostgreSQL keeps the collation; SQLite has only the bytewise one, so
     * without the dialect's leniency the locale column is a change. */
    th_rc(db, strata_schema_diff(&d, live, md, NULL), STRATA_OK);
    if (th_is_pg()) {
        ck_assert_int_eq(strata_diff_count(d), 0);
    } else {
        ck_assert_int_eq(strata_diff_count(d), 1);
        ck_assert_str_eq(strata_diff_op_describe(d, 0),
                         "alter column account.display: collation binary -> locale");
    }
    strata_diff_free(d);
    char *text;
    ck_assert_int_eq(strata_metadata_describe(live, &text), STRATA_OK);
    ck_assert_msg(strstr(text, th_is_pg() ? "  column display string(20) null collation locale\n"
                                          : "  column display string(20) null\n") &&
                      strstr(text, "  column username string(20) not null\n") &&
                      strstr(text, "  column bio text null\n"),
                  "%s", text);
    strata_free(text);
    strata_metadata_free(live);

    /* Only strings have a collation to choose. */
    strata_table *other;
    ck_assert_int_eq(strata_metadata_add_table(md, "other", &other), STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(other, "n", "integer", STRATA_COLLATE_LOCALE, NULL),
                     STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_metadata_errmsg(md),
                     "column other.n: collation locale (STRATA_COLLATE_LOCALE) needs a string or "
                     "text column, not integer");
    ck_assert_int_eq(strata_table_column_count(other), 0);
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

static const char *collation_of(strata_db *db, const char *column)
{
    strata_metadata *live;
    th_rc(db, strata_schema_introspect(&live, db, NULL), STRATA_OK);
    strata_column *c =
        strata_table_find_column(strata_metadata_find_table(live, "account"), column);
    ck_assert_ptr_nonnull(c);
    const char *name = strata_column_flags(c) & STRATA_COLLATE_LOCALE ? "locale" : "binary";
    strata_metadata_free(live);
    return name;
}

/* The first revision, its string columns with the database's collation
 * (on PostgreSQL no COLLATE clause), as a database strata made before
 * strings had a collation has them. */
static const char old_revision[] =
    "revision: 00000000000a\n"
    "down_revision: null\n"
    "message: accounts\n"
    "upgrade:\n"
    "  - create_table:\n"
    "      name: account\n"
    "      columns:\n"
    "        - {name: id, type: integer, primary_key: true, autoincrement: true}\n"
    "        - {name: username, type: string(20), nullable: false, collation: locale}\n"
    "        - {name: bio, type: text, collation: locale}\n"
    "        - {name: display, type: string(20), collation: locale}\n"
    "      indexes:\n"
    "        - {name: ix_account_display, columns: [display]}\n"
    "        - {name: ix_account_username, columns: [username]}\n"
    "downgrade:\n"
    "  - drop_table: {name: account}\n";

/* What autogenerate writes for it, on either engine. */
#define COLLATION_UP            \
    "upgrade:\n"                \
    "  - alter_column:\n"       \
    "      table: account\n"    \
    "      name: username\n"    \
    "      collation: binary\n" \
    "  - alter_column:\n"       \
    "      table: account\n"    \
    "      name: bio\n"         \
    "      collation: binary\n"
#define COLLATION_DOWN          \
    "downgrade:\n"              \
    "  - alter_column:\n"       \
    "      table: account\n"    \
    "      name: bio\n"         \
    "      collation: locale\n" \
    "  - alter_column:\n"       \
    "      table: account\n"    \
    "      name: username\n"    \
    "      collation: locale\n"

START_TEST(collation_existing_database_migrates)
{
    strata_db *db = th_open();
    char dir[600], path[700], text[4096];
    snprintf(dir, sizeof dir, "%s/migrations", th_tmpdir());
    strata_migrations *m;
    ck_assert_int_eq(strata_migrations_init(&m, dir), STRATA_OK);
    strata_migrations_free(m);
    snprintf(path, sizeof path, "%s/versions/00000000000a_accounts.yaml", dir);
    write_file(path, old_revision);
    th_lines out = {""};
    ck_assert_int_eq(strata_migrations_open(&m, dir), STRATA_OK);
    strata_migrations_set_output(m, th_collect, &out);
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    ck_assert_str_eq(collation_of(db, "username"), th_is_pg() ? "locale" : "binary");
    th_exec(db, "INSERT INTO account (username, bio, display) VALUES ('b', 'x', 'y'), "
                "('a', 'x', 'y'), ('B', 'x', 'y')");

    strata_metadata *md = models_md();
    char *id = NULL;
    out.text[0] = '\0';
    TH_MOK(m, strata_migrations_autogenerate(m, db, md, "bytewise strings", &id));
    /* Two columns change; display asks for the locale it has.  On SQLite,
     * where every column reads back as bytewise, the collations come from
     * the revisions: the same revision as on PostgreSQL. */
    ck_assert_ptr_nonnull(id);
    ck_assert_msg(strstr(out.text, "Detected collation change from locale to binary on "
                                   "'account.username'\n") &&
                      strstr(out.text, "Detected collation change from locale to binary on "
                                       "'account.bio'\n") &&
                      !strstr(out.text, "account.display"),
                  "%s", out.text);
    snprintf(path, sizeof path, "%s/versions/%s_bytewise_strings.yaml", dir, id);
    read_file(path, text, sizeof text);
    ck_assert_msg(strstr(text, COLLATION_UP) && strstr(text, COLLATION_DOWN), "%s", text);
    if (th_is_pg()) {
        /* Offline, the same change. */
        char *sql;
        TH_MOK(m, strata_migrations_upgrade_sql(m, strata_db_driver(db), "00000000000a:head", &sql));
        ck_assert_msg(strstr(sql, "ALTER TABLE account ALTER COLUMN username TYPE VARCHAR(20) "
                                  "COLLATE \"C\" USING username::VARCHAR;\n"),
                      "%s", sql);
        strata_free(sql);
        /* The first revision as strata wrote it then, without the key:
         * replayed offline its columns read as bytewise already, and the
         * new revision must still give its ALTER. */
        char legacy[sizeof old_revision], dir2[700], path2[800];
        size_t k = 0;
        for (const char *p = old_revision; *p; p++) {
            if (!strncmp(p, ", collation: locale", 19))
                p += 18;
            else
                legacy[k++] = *p;
        }
        legacy[k] = '\0';
        snprintf(dir2, sizeof dir2, "%s/legacy", th_tmpdir());
        strata_migrations *m2;
        ck_assert_int_eq(strata_migrations_init(&m2, dir2), STRATA_OK);
        strata_migrations_free(m2);
        snprintf(path2, sizeof path2, "%s/versions/00000000000a_accounts.yaml", dir2);
        write_file(path2, legacy);
        snprintf(path2, sizeof path2, "%s/versions/%s_bytewise_strings.yaml", dir2, id);
        write_file(path2, text);
        ck_assert_int_eq(strata_migrations_open(&m2, dir2), STRATA_OK);
        TH_MOK(m2, strata_migrations_upgrade_sql(m2, strata_db_driver(db), "00000000000a:head",
                                                 &sql));
        ck_assert_msg(strstr(sql, "ALTER TABLE account ALTER COLUMN username TYPE VARCHAR(20) "
                                  "COLLATE \"C\" USING username::VARCHAR;\n"),
                      "%s", sql);
        strata_free(sql);
        strata_migrations_free(m2);
    }
    strata_free(id);

    /* Up (a table rebuild on SQLite), down and up again, rows kept. */
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    ck_assert_str_eq(collation_of(db, "username"), "binary");
    ck_assert_str_eq(collation_of(db, "display"), th_is_pg() ? "locale" : "binary");
    char got[256];
    column_of(db, "SELECT username FROM account ORDER BY username", got, sizeof got);
    ck_assert_str_eq(got, "B|a|b|");
    TH_MOK(m, strata_migrations_check(m, db, md));
    TH_MOK(m, strata_migrations_downgrade(m, db, "-1"));
    ck_assert_str_eq(collation_of(db, "username"), th_is_pg() ? "locale" : "binary");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM account"), 3);
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    ck_assert_str_eq(collation_of(db, "bio"), "binary");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM account"), 3);
    char plan[2048];
    plan_of(db, "SELECT id FROM account WHERE username LIKE 'user1%'", plan, sizeof plan);
    ck_assert_msg(prefix_from_index(plan, "ix_account_username", "username"), "%s", plan);
    strata_metadata_free(md);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* ---- a PostgreSQL database of locale en_US.UTF-8 ----------------------- */

/* Whether `x` comes before `y` in a list of column_of. */
static bool before(const char *list, const char *x, const char *y)
{
    char bx[64], by[64], all[600];
    snprintf(all, sizeof all, "|%s", list);
    snprintf(bx, sizeof bx, "|%s|", x);
    snprintf(by, sizeof by, "|%s|", y);
    const char *px = strstr(all, bx), *py = strstr(all, by);
    return px && py && px < py;
}

#define LOCALE "en_US.UTF-8"

START_TEST(collation_en_us_database_agrees_with_sqlite)
{
    char dbname[64], sql[256], url[640];
    snprintf(dbname, sizeof dbname, "strata_en%ld", (long)getpid());
    strata_db *admin = th_open_url(th_locale_pg_url());
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
    th_exec(admin, sql);
    snprintf(sql, sizeof sql,
             "CREATE DATABASE %s TEMPLATE template0 LOCALE '" LOCALE "' ENCODING 'UTF8'", dbname);
    th_exec(admin, sql);
    const char *base = th_locale_pg_url();
    const char *slash = strrchr(base, '/');
    snprintf(url, sizeof url, "%.*s/%s", (int)(slash - base), base, dbname);
    strata_db *pg = th_open_url(url);
    strata_db *lite = th_open_url("sqlite://");

    /* The database really sorts by the locale: 'a' before 'B'. */
    char got[512], want[512];
    column_of(pg, "SELECT datcollate FROM pg_database WHERE datname = current_database()", got,
              sizeof got);
    ck_assert_str_eq(got, LOCALE "|");
    ck_assert_int_eq(th_int(pg, "SELECT ('a' < 'B')::int"), 1);
    ck_assert_int_eq(th_int(lite, "SELECT 'a' < 'B'"), 0);

    fill(pg);
    fill(lite);
    /* The bytewise columns agree with SQLite: order, comparison, LIKE. */
    const char *const same[] = {
        "SELECT username FROM account ORDER BY username",
        "SELECT bio FROM account ORDER BY bio DESC",
        "SELECT username FROM account WHERE username < 'a' ORDER BY id",
        "SELECT username FROM account WHERE username LIKE 'user1%' ORDER BY username",
        "SELECT min(bio) FROM account UNION ALL SELECT max(username) FROM account",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        column_of(pg, same[i], got, sizeof got);
        column_of(lite, same[i], want, sizeof want);
        ck_assert_msg(strcmp(got, want) == 0, "%s\n  %s\n  on SQLite: %s", same[i], got, want);
    }
    column_of(pg, same[0], got, sizeof got);
    ck_assert_str_eq(got, bytewise);

    /* The locale column sorts by the locale on PostgreSQL (SQLite has
     * none); LIKE matches the same rows. */
    column_of(pg, "SELECT display FROM account ORDER BY display", got, sizeof got);
    ck_assert_msg(before(got, "a", "B") && before(got, "\xc3\xa4", "b"), "%s", got);
    column_of(lite, "SELECT display FROM account ORDER BY display", got, sizeof got);
    ck_assert_str_eq(got, bytewise);
    column_of(pg, "SELECT display FROM account WHERE display LIKE 'user1%' ORDER BY id", got,
              sizeof got);
    column_of(lite, "SELECT display FROM account WHERE display LIKE 'user1%' ORDER BY id", want,
              sizeof want);
    ck_assert_str_eq(got, want);

    /* Only the bytewise index can answer a prefix. */
    char plan[2048];
    plan_of(pg, "SELECT id FROM account WHERE username LIKE 'user1%'", plan, sizeof plan);
    ck_assert_msg(prefix_from_index(plan, "ix_account_username", "username"), "%s", plan);
    plan_of(pg, "SELECT id FROM account WHERE display LIKE 'user1%'", plan, sizeof plan);
    ck_assert_msg(!strstr(plan, "Index Cond: (((display)::text >= 'user1'"), "%s", plan);

    /* A table made before strata chose a collation: its strings have the
     * locale; the diff turns them bytewise, in place, rows and index kept. */
    th_exec(pg, "CREATE TABLE legacy (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL)");
    th_exec(pg, "CREATE INDEX ix_legacy_name ON legacy (name)");
    th_exec(pg, "INSERT INTO legacy VALUES (1, 'B'), (2, 'a'), (3, 'user10'), (4, 'user1')");
    column_of(pg, "SELECT name FROM legacy ORDER BY name", got, sizeof got);
    ck_assert_str_eq(got, "a|B|user1|user10|");
    /* The target: the same table as a model declares it now. */
    strata_metadata *live, *target;
    ck_assert_int_eq(strata_metadata_new(&target), STRATA_OK);
    strata_table *t;
    ck_assert_int_eq(strata_metadata_add_table(target, "legacy", &t), STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(t, "id", "integer", STRATA_PRIMARY_KEY, NULL),
                     STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(t, "name", "string(20)", 0, NULL), STRATA_OK);
    ck_assert_int_eq(strata_table_add_index(t, "ix_legacy_name", "name", 0), STRATA_OK);
    ck_assert_int_eq(strata_table_set_primary_key(t, "legacy_pkey", "id"), STRATA_OK);
    const char *exclude[] = {"account", NULL};
    th_rc(pg, strata_schema_introspect(&live, pg, exclude), STRATA_OK);
    strata_diff *d;
    th_rc(pg, strata_schema_diff(&d, live, target, strata_db_driver(pg)), STRATA_OK);
    ck_assert_int_eq(strata_diff_count(d), 1);
    ck_assert_str_eq(strata_diff_op_describe(d, 0),
                     "alter column legacy.name: collation locale -> binary");
    th_rc(pg, strata_diff_apply(d, pg), STRATA_OK);
    strata_diff_free(d);
    column_of(pg, "SELECT name FROM legacy ORDER BY name", got, sizeof got);
    ck_assert_str_eq(got, "B|a|user1|user10|");
    plan_of(pg, "SELECT id FROM legacy WHERE name LIKE 'user1%'", plan, sizeof plan);
    ck_assert_msg(prefix_from_index(plan, "ix_legacy_name", "name"), "%s", plan);
    strata_metadata_free(live);
    th_rc(pg, strata_schema_introspect(&live, pg, exclude), STRATA_OK);
    th_rc(pg, strata_schema_diff(&d, live, target, strata_db_driver(pg)), STRATA_OK);
    ck_assert_int_eq(strata_diff_count(d), 0);
    strata_diff_free(d);
    strata_metadata_free(live);
    strata_metadata_free(target);

    strata_db_close(lite);
    strata_db_close(pg);
    snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", dbname);
    th_exec(admin, sql);
    strata_db_close(admin);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    tcase_add_test(tc, collation_order_and_comparison_are_bytewise);
    tcase_add_test(tc, collation_prefix_like_agrees_and_uses_the_index);
    tcase_add_test(tc, collation_locale_column_round_trips);
    tcase_add_test(tc, collation_existing_database_migrates);
    /* Once, beside the shared server's tests: a database of its own on
     * the private server. */
    if (e == TH_POSTGRES && th_locale_pg_url())
        tcase_add_test(tc, collation_en_us_database_agrees_with_sqlite);
}

static Suite *build(void) { return th_suite_reduced("collation", add); }

int main(void)
{
    th_want_pg_locale(LOCALE);
    return th_run(build);
}
