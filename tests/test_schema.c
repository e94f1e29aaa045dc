/*
 * test_schema.c - the schema layer on every engine: the microblog DDL is
 * what an expert would write; introspect(create_all(M)) == M for every
 * type and constraint kind; create_all / drop_all order and skipping;
 * each kind of change goes diff -> apply -> introspect == B and back
 * through the inverse with the rows kept; a failed change leaves nothing
 * behind; rename warnings; the naming convention; bad definitions;
 * dropped tables in order, changed indexes and constraints, a changed
 * primary key, diff misuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MD_OK(md, call)                                                           \
    do {                                                                          \
        int rc_ = (call);                                                         \
        ck_assert_msg(rc_ == STRATA_OK, "%s: %s: %s", #call, strata_errname(rc_), \
                      strata_metadata_errmsg(md));                                \
    } while (0)

/* ---- models ------------------------------------------------------------ */

static void add_microblog(strata_metadata *md)
{
    strata_table *u, *p, *f;
    strata_column *ts;
    MD_OK(md, strata_metadata_add_table(md, "user", &u));
    MD_OK(md, strata_table_add_column(u, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT,
                                      NULL));
    MD_OK(md,
          strata_table_add_column(u, "username", "string(64)", STRATA_UNIQUE | STRATA_INDEX, NULL));
    MD_OK(md,
          strata_table_add_column(u, "email", "string(120)", STRATA_UNIQUE | STRATA_INDEX, NULL));
    MD_OK(md, strata_table_add_column(u, "password_hash", "string(256)", STRATA_NULLABLE, NULL));
    MD_OK(md, strata_metadata_add_table(md, "post", &p));
    MD_OK(md, strata_table_add_column(p, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT,
                                      NULL));
    MD_OK(md, strata_table_add_column(p, "body", "string(140)", 0, NULL));
    MD_OK(md, strata_table_add_column(p, "timestamp", "datetime", STRATA_INDEX, &ts));
    MD_OK(md, strata_column_set_server_default(ts, "now"));
    MD_OK(md, strata_table_add_column(p, "user_id", "integer", STRATA_INDEX, NULL));
    MD_OK(md, strata_table_add_foreign_key(p, NULL, "user_id", "user", "id", STRATA_FK_NO_ACTION,
                                           STRATA_FK_NO_ACTION));
    MD_OK(md, strata_metadata_add_table(md, "followers", &f));
    MD_OK(md, strata_table_add_column(f, "follower_id", "integer", STRATA_PRIMARY_KEY, NULL));
    MD_OK(md, strata_table_add_column(f, "followed_id", "integer", STRATA_PRIMARY_KEY, NULL));
    MD_OK(md, strata_table_add_foreign_key(f, NULL, "follower_id", "user", "id",
                                           STRATA_FK_NO_ACTION, STRATA_FK_NO_ACTION));
    MD_OK(md, strata_table_add_foreign_key(f, NULL, "followed_id", "user", "id",
                                           STRATA_FK_NO_ACTION, STRATA_FK_NO_ACTION));
}

static strata_metadata *new_md(void)
{
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    return md;
}

static strata_column *col(strata_table *t, const char *name, const char *type, unsigned flags,
                          const char *def)
{
    strata_column *c = NULL;
    int rc = strata_table_add_column(t, name, type, flags, &c);
    ck_assert_msg(rc == STRATA_OK, "add column %s: %s", name, strata_errname(rc));
    if (def) {
        rc = strata_column_set_server_default(c, def);
        ck_assert_msg(rc == STRATA_OK, "default of %s: %s", name, strata_errname(rc));
    }
    return c;
}

/* Every portable type, every default kind, every constraint kind. */
static void add_everything(strata_metadata *md)
{
    strata_table *e, *pair, *node, *link;
    MD_OK(md, strata_metadata_add_table(md, "everything", &e));
    col(e, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(e, "i", "integer", 0, "42");
    col(e, "neg", "integer", STRATA_NULLABLE, "-7");
    col(e, "bi", "bigint", STRATA_NULLABLE, NULL);
    col(e, "si", "smallint", STRATA_NULLABLE, NULL);
    col(e, "yes", "boolean", 0, "true");
    col(e, "no", "boolean", STRATA_NULLABLE, "false");
    col(e, "f", "float", 0, "-1.5");
    col(e, "n", "numeric(10,2)", 0, "0.50");
    col(e, "n2", "numeric", STRATA_NULLABLE, NULL);
    col(e, "s", "string(30)", 0, "'it''s'");
    col(e, "s2", "string", STRATA_NULLABLE, NULL);
    col(e, "t", "text", STRATA_NULLABLE, NULL);
    col(e, "bl", "blob", STRATA_NULLABLE, NULL);
    col(e, "d", "date", 0, "now");
    col(e, "dt", "datetime", 0, "now");
    col(e, "dtz", "datetime_tz", 0, "now");
    col(e, "j", "json", STRATA_NULLABLE, "'{}'");
    col(e, "u", "uuid", STRATA_NULLABLE, NULL);
    col(e, "two", "integer", STRATA_NULLABLE, "sql:1 + 1");
    col(e, "code", "string(8)", STRATA_UNIQUE, NULL);

    MD_OK(md, strata_metadata_add_table(md, "pair", &pair));
    col(pair, "a", "integer", STRATA_PRIMARY_KEY, NULL);
    col(pair, "b", "string(10)", STRATA_PRIMARY_KEY, NULL);
    col(pair, "label", "string(20)", STRATA_NULLABLE, NULL);
    MD_OK(md, strata_table_add_unique(pair, NULL, "label, a"));
    MD_OK(md, strata_table_add_index(pair, "pair_lookup", "b, label", 0));
    MD_OK(md, strata_table_add_index(pair, NULL, "label", 1));

    MD_OK(md, strata_metadata_add_table(md, "node", &node));
    col(node, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(node, "parent_id", "integer", STRATA_NULLABLE | STRATA_INDEX, NULL);
    MD_OK(md, strata_table_add_foreign_key(node, NULL, "parent_id", "node", "id", STRATA_FK_CASCADE,
                                           STRATA_FK_NO_ACTION));

    MD_OK(md, strata_metadata_add_table(md, "link", &link));
    col(link, "id", "integer", STRATA_PRIMARY_KEY, NULL); /* not autoincrement */
    col(link, "pa", "integer", 0, NULL);
    col(link, "pb", "string(10)", 0, NULL);
    col(link, "node_id", "integer", STRATA_NULLABLE, NULL);
    MD_OK(md, strata_table_add_foreign_key(link, NULL, "pa, pb", "pair", "a, b", STRATA_FK_CASCADE,
                                           STRATA_FK_CASCADE));
    MD_OK(md, strata_table_add_foreign_key(link, "link_node", "node_id", "node", "id",
                                           STRATA_FK_SET_NULL, STRATA_FK_RESTRICT));
    MD_OK(md, strata_table_add_check(link, "positive", "id > 0"));
}

/* ---- comparing schemas ------------------------------------------------- */

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of each table block sorted: column order is not part of a
 * schema's identity (a column dropped and added again comes last). */
static void sort_blocks(char *text)
{
    char *lines[256];
    int n = 0;
    char *copy = strdup(text), *save = NULL;
    char *w = text;
    for (char *line = strtok_r(copy, "\n", &save);; line = strtok_r(NULL, "\n", &save)) {
        if (!line || strncmp(line, "table ", 6) == 0) {
            qsort(lines, (size_t)n, sizeof *lines, cmp_line);
            for (int i = 0; i < n; i++)
                w += sprintf(w, "%s\n", lines[i]);
            n = 0;
            if (!line)
                break;
            w += sprintf(w, "%s\n", line);
        } else if (n < 256) {
            lines[n++] = line;
        }
    }
    *w = '\0';
    free(copy);
}

/* describe() with check expressions cut (engines rewrite them). */
static char *describe(const strata_metadata *md)
{
    char *s;
    ck_assert_int_eq(strata_metadata_describe(md, &s), STRATA_OK);
    char *out = malloc(strlen(s) + 1), *w = out;
    for (const char *line = s; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        const char *ck = strstr(line, "  check ");
        if (ck == line) {
            const char *paren = memchr(line, '(', n);
            if (paren)
                n = (size_t)(paren - line - 1);
        }
        memcpy(w, line, n);
        w += n;
        *w++ = '\n';
        line += n;
        line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line);
    }
    *w = '\0';
    strata_free(s);
    sort_blocks(out);
    return out;
}

/* The live schema of db is `want`: same description and an empty diff. */
#define assert_schema(db, want) assert_schema_at(__LINE__, (db), (want))
static void assert_schema_at(int line, strata_db *db, const strata_metadata *want)
{
    strata_metadata *live;
    int rc = strata_schema_introspect(&live, db, NULL);
    ck_assert_msg(rc == STRATA_OK, "line %d: introspect: %s", line, strata_db_errmsg(db));
    char *a = describe(live), *b = describe(want);
    ck_assert_msg(strcmp(a, b) == 0, "line %d: live schema differs\n--- live\n%s--- want\n%s", line,
                  a, b);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, live, want, strata_db_driver(db)), STRATA_OK);
    ck_assert_msg(strata_diff_count(d) == 0, "line %d: diff not empty: %s", line,
                  strata_diff_op_describe(d, 0));
    strata_diff_free(d);
    free(a);
    free(b);
    strata_metadata_free(live);
}

static void apply(strata_db *db, const strata_diff *d)
{
    int rc = strata_diff_apply(d, db);
    ck_assert_msg(rc == STRATA_OK, "apply: %s: %s", strata_errname(rc), strata_db_errmsg(db));
}

static void create_all(strata_db *db, const strata_metadata *md)
{
    int rc = strata_metadata_create_all(md, db);
    ck_assert_msg(rc == STRATA_OK, "create_all: %s: %s", strata_errname(rc), strata_db_errmsg(db));
}

/* ---- DDL --------------------------------------------------------------- */

static const char microblog_sqlite[] =
    "CREATE TABLE user (\n"
    "    id INTEGER NOT NULL,\n"
    "    username VARCHAR(64) NOT NULL,\n"
    "    email VARCHAR(120) NOT NULL,\n"
    "    password_hash VARCHAR(256),\n"
    "    CONSTRAINT pk_user PRIMARY KEY (id)\n"
    ");\n"
    "CREATE UNIQUE INDEX ix_user_email ON user (email);\n"
    "CREATE UNIQUE INDEX ix_user_username ON user (username);\n"
    "CREATE TABLE followers (\n"
    "    follower_id INTEGER NOT NULL,\n"
    "    followed_id INTEGER NOT NULL,\n"
    "    CONSTRAINT pk_followers PRIMARY KEY (follower_id, followed_id),\n"
    "    CONSTRAINT fk_followers_followed_id_user FOREIGN KEY (followed_id) REFERENCES user (id),\n"
    "    CONSTRAINT fk_followers_follower_id_user FOREIGN KEY (follower_id) REFERENCES user (id)\n"
    ");\n"
    "CREATE TABLE post (\n"
    "    id INTEGER NOT NULL,\n"
    "    body VARCHAR(140) NOT NULL,\n"
    "    timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),\n"
    "    user_id INTEGER NOT NULL,\n"
    "    CONSTRAINT pk_post PRIMARY KEY (id),\n"
    "    CONSTRAINT fk_post_user_id_user FOREIGN KEY (user_id) REFERENCES user (id)\n"
    ");\n"
    "CREATE INDEX ix_post_timestamp ON post (timestamp);\n"
    "CREATE INDEX ix_post_user_id ON post (user_id);\n";

static const char microblog_pg[] =
    "CREATE TABLE \"user\" (\n"
    "    id INTEGER NOT NULL GENERATED BY DEFAULT AS IDENTITY,\n"
    "    username VARCHAR(64) COLLATE \"C\" NOT NULL,\n"
    "    email VARCHAR(120) COLLATE \"C\" NOT NULL,\n"
    "    password_hash VARCHAR(256) COLLATE \"C\",\n"
    "    CONSTRAINT pk_user PRIMARY KEY (id)\n"
    ");\n"
    "CREATE UNIQUE INDEX ix_user_email ON \"user\" (email);\n"
    "CREATE UNIQUE INDEX ix_user_username ON \"user\" (username);\n"
    "CREATE TABLE followers (\n"
    "    follower_id INTEGER NOT NULL,\n"
    "    followed_id INTEGER NOT NULL,\n"
    "    CONSTRAINT pk_followers PRIMARY KEY (follower_id, followed_id),\n"
    "    CONSTRAINT fk_followers_followed_id_user FOREIGN KEY (followed_id) REFERENCES \"user\" "
    "(id),\n"
    "    CONSTRAINT fk_followers_follower_id_user FOREIGN KEY (follower_id) REFERENCES \"user\" "
    "(id)\n"
    ");\n"
    "CREATE TABLE post (\n"
    "    id INTEGER NOT NULL GENERATED BY DEFAULT AS IDENTITY,\n"
    "    body VARCHAR(140) COLLATE \"C\" NOT NULL,\n"
    "    timestamp TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT timezone('utc', now()),\n"
    "    user_id INTEGER NOT NULL,\n"
    "    CONSTRAINT pk_post PRIMARY KEY (id),\n"
    "    CONSTRAINT fk_post_user_id_user FOREIGN KEY (user_id) REFERENCES \"user\" (id)\n"
    ");\n"
    "CREATE INDEX ix_post_timestamp ON post (timestamp);\n"
    "CREATE INDEX ix_post_user_id ON post (user_id);\n";

START_TEST(schema_microblog_ddl)
{
    strata_db *db = th_open();
    strata_metadata *md = new_md();
    add_microblog(md);
    char *sql;
    ck_assert_int_eq(strata_metadata_render_create(md, strata_db_driver(db), &sql), STRATA_OK);
    ck_assert_str_eq(sql, th_is_pg() ? microblog_pg : microblog_sqlite);
    strata_free(sql);

    create_all(db, md);
    assert_schema(db, md);
    /* The tables work: ids assigned by the database, the default fills
     * the timestamp, the foreign key holds. */
    th_exec(db, "INSERT INTO \"user\" (username, email) VALUES ('susan', 's@example.com')");
    th_exec(db, "INSERT INTO post (body, user_id) VALUES ('hi', 1)");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM post WHERE timestamp IS NOT NULL"), 1);
    th_rc(db, strata_db_exec(db, "INSERT INTO post (body, user_id) VALUES ('x', 99)"),
          STRATA_E_FOREIGN_KEY);
    th_rc(db, strata_db_exec(db, "INSERT INTO \"user\" (username, email) VALUES ('susan', 'x')"),
          STRATA_E_UNIQUE);
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

START_TEST(schema_round_trip_every_kind)
{
    strata_db *db = th_open();
    strata_metadata *md = new_md();
    add_everything(md);
    create_all(db, md);
    assert_schema(db, md);
    /* The defaults work as declared on both engines. */
    th_exec(db, "INSERT INTO everything (code) VALUES ('a')");
    ck_assert_int_eq(th_int(db, "SELECT i + neg + two FROM everything"), 37);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM everything WHERE yes AND NOT no"), 1);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM everything WHERE s = 'it''s' AND n = 0.5 "
                                "AND f = -1.5 AND d IS NOT NULL AND dt IS NOT NULL"),
                     1);
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT dt FROM everything"), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    strata_timestamp ts = 0;
    th_rc(db, strata_stmt_column_timestamp(st, 0, &ts), STRATA_OK);
    /* `now` is UTC on both engines: within a minute of the clock. */
    int64_t skew = ts - strata_timestamp_now();
    ck_assert_msg(skew < 60000000 && skew > -60000000, "default now is off by %lld us",
                  (long long)skew);
    strata_stmt_finalize(st);
    /* Check and cascades hold. */
    th_exec(db, "INSERT INTO pair (a, b) VALUES (1, 'x')");
    th_rc(db, strata_db_exec(db, "INSERT INTO link (id, pa, pb) VALUES (0, 1, 'x')"),
          STRATA_E_CHECK);
    th_exec(db, "INSERT INTO link (id, pa, pb) VALUES (5, 1, 'x')");
    th_exec(db, "DELETE FROM pair");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM link"), 0);
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

START_TEST(schema_bigint_autoincrement)
{
    /* SQLite numbers rows only through a column declared exactly INTEGER
     * (64-bit anyway), so there a bigint key reads back as integer; the
     * dialect-aware diff treats the two as the same. */
    strata_db *db = th_open();
    strata_metadata *md = new_md();
    strata_table *t;
    MD_OK(md, strata_metadata_add_table(md, "big", &t));
    col(t, "id", "bigint", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(t, "v", "integer", 0, NULL);
    create_all(db, md);
    strata_metadata *live;
    ck_assert_int_eq(strata_schema_introspect(&live, db, NULL), STRATA_OK);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, live, md, strata_db_driver(db)), STRATA_OK);
    ck_assert_int_eq(strata_diff_count(d), 0);
    strata_diff_free(d);
    th_exec(db, "INSERT INTO big (v) VALUES (10)");
    th_exec(db, "INSERT INTO big (v) VALUES (20)");
    ck_assert_int_eq(th_int(db, "SELECT max(id) FROM big"), 2);
    strata_metadata_free(live);
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

START_TEST(schema_create_all_skips_existing_and_drop_all_orders)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE unrelated (x INTEGER)");
    th_exec(db, "CREATE TABLE \"user\" (id INTEGER PRIMARY KEY, username VARCHAR(64), "
                "email VARCHAR(120), password_hash VARCHAR(256), extra INTEGER)");
    th_exec(db, "INSERT INTO \"user\" (id, username, email) VALUES (1, 'john', 'j@x')");
    strata_metadata *md = new_md();
    add_microblog(md);
    create_all(db, md);
    /* The existing table is left alone, rows and extra column included. */
    ck_assert_int_eq(th_int(db, "SELECT count(extra) + count(*) FROM \"user\""), 1);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM post"), 0);
    create_all(db, md); /* again: nothing to do */
    th_exec(db, "INSERT INTO post (body, user_id) VALUES ('p', 1)");
    th_exec(db, "INSERT INTO followers VALUES (1, 1)");
    int rc = strata_metadata_drop_all(md, db);
    ck_assert_msg(rc == STRATA_OK, "drop_all: %s", strata_db_errmsg(db));
    strata_metadata *live;
    ck_assert_int_eq(strata_schema_introspect(&live, db, NULL), STRATA_OK);
    ck_assert_int_eq(strata_metadata_table_count(live), 1);
    ck_assert_str_eq(strata_table_name(strata_metadata_table(live, 0)), "unrelated");
    strata_metadata_free(live);
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

START_TEST(schema_mutually_referencing_tables)
{
    strata_db *db = th_open();
    strata_metadata *md = new_md();
    strata_table *a, *b;
    MD_OK(md, strata_metadata_add_table(md, "a", &a));
    MD_OK(md, strata_metadata_add_table(md, "b", &b));
    col(a, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(a, "b_id", "integer", STRATA_NULLABLE, NULL);
    col(b, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(b, "a_id", "integer", STRATA_NULLABLE, NULL);
    MD_OK(md, strata_table_add_foreign_key(a, NULL, "b_id", "b", "id", 0, 0));
    MD_OK(md, strata_table_add_foreign_key(b, NULL, "a_id", "a", "id", 0, 0));
    strata_metadata *empty = new_md();
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, empty, md, NULL), STRATA_OK);
    /* a first (without its key to b), then b, then a's key. */
    ck_assert_int_eq(strata_diff_count(d), 3);
    ck_assert_str_eq(strata_diff_op_describe(d, 0), "create table a");
    ck_assert_str_eq(strata_diff_op_describe(d, 1), "create table b");
    ck_assert_str_eq(strata_diff_op_describe(d, 2),
                     "add foreign key fk_a_b_id_b (b_id) references b (id) on a");
    strata_diff_free(d);
    create_all(db, md);
    assert_schema(db, md);
    th_exec(db, "INSERT INTO a (id) VALUES (1)");
    th_exec(db, "INSERT INTO b (id, a_id) VALUES (1, 1)");
    th_exec(db, "UPDATE a SET b_id = 1");
    int rc = strata_metadata_drop_all(md, db);
    ck_assert_msg(rc == STRATA_OK, "drop_all: %s", strata_db_errmsg(db));
    assert_schema(db, empty);
    /* Inside the program's transaction too, foreign keys on: SQLite
     * rebuilds the new table a for its key to b, which needs no pause of
     * the foreign keys as a has no rows yet.  The key holds. */
    th_rc(db, strata_db_begin(db), STRATA_OK);
    rc = strata_metadata_create_all(md, db);
    ck_assert_msg(rc == STRATA_OK, "create_all in a transaction: %s", strata_db_errmsg(db));
    th_rc(db, strata_db_commit(db), STRATA_OK);
    assert_schema(db, md);
    ck_assert_int_eq(strata_db_exec(db, "INSERT INTO a (id, b_id) VALUES (5, 99)"),
                     STRATA_E_FOREIGN_KEY);
    rc = strata_metadata_drop_all(md, db);
    ck_assert_msg(rc == STRATA_OK, "drop_all: %s", strata_db_errmsg(db));
    assert_schema(db, empty);
    strata_metadata_free(empty);
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

/* ---- each kind of change ----------------------------------------------- */

/* Both schemas start from base(); `change` turns the copy into B. */
static void base(strata_metadata *md)
{
    strata_table *o, *it;
    MD_OK(md, strata_metadata_add_table(md, "owner", &o));
    col(o, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(o, "name", "string(40)", 0, NULL);
    MD_OK(md, strata_metadata_add_table(md, "item", &it));
    col(it, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(it, "name", "string(20)", 0, NULL);
    col(it, "qty", "integer", STRATA_NULLABLE, "0");
    col(it, "note", "text", STRATA_NULLABLE, NULL);
    col(it, "owner_id", "integer", STRATA_NULLABLE, NULL);
    MD_OK(md, strata_table_add_index(it, NULL, "qty", 0));
}

static strata_table *T(strata_metadata *md, const char *name)
{
    strata_table *t = strata_metadata_find_table(md, name);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* Rebuild a table with one column changed: metadata has no "alter", so a
 * change case builds B from scratch with the variant. */
typedef struct variant {
    const char *name_type; /* item.name */
    unsigned name_flags;
    const char *qty_type;
    const char *qty_default;
    bool drop_note;
    bool fk;
    strata_fk_action fk_delete;
} variant;

static void build(strata_metadata *md, const variant *v)
{
    strata_table *o, *it;
    MD_OK(md, strata_metadata_add_table(md, "owner", &o));
    col(o, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(o, "name", "string(40)", 0, NULL);
    MD_OK(md, strata_metadata_add_table(md, "item", &it));
    col(it, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(it, "name", v->name_type ? v->name_type : "string(20)", v->name_flags, NULL);
    col(it, "qty", v->qty_type ? v->qty_type : "integer", STRATA_NULLABLE,
        v->qty_default ? (strcmp(v->qty_default, "none") == 0 ? NULL : v->qty_default) : "0");
    if (!v->drop_note)
        col(it, "note", "text", STRATA_NULLABLE, NULL);
    col(it, "owner_id", "integer", STRATA_NULLABLE, NULL);
    MD_OK(md, strata_table_add_index(it, NULL, "qty", 0));
    if (v->fk)
        MD_OK(md, strata_table_add_foreign_key(it, NULL, "owner_id", "owner", "id", v->fk_delete,
                                               STRATA_FK_NO_ACTION));
}

static void change_add_table(strata_metadata *md)
{
    strata_table *t;
    MD_OK(md, strata_metadata_add_table(md, "tag", &t));
    col(t, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(t, "item_id", "integer", STRATA_INDEX, NULL);
    col(t, "label", "string(10)", STRATA_UNIQUE, NULL);
    MD_OK(md, strata_table_add_foreign_key(t, NULL, "item_id", "item", "id", STRATA_FK_CASCADE, 0));
}
static void change_add_column(strata_metadata *md)
{
    col(T(md, "item"), "color", "string(10)", STRATA_NULLABLE, NULL);
}
static void change_add_column_default(strata_metadata *md)
{
    col(T(md, "item"), "rank", "integer", 0, "5");
}
static void change_add_column_now(strata_metadata *md)
{
    col(T(md, "item"), "created", "datetime", 0, "now");
}
static void change_add_index(strata_metadata *md)
{
    MD_OK(md, strata_table_add_index(T(md, "item"), NULL, "name, qty", 0));
}
static void change_add_unique_index(strata_metadata *md)
{
    MD_OK(md, strata_table_add_index(T(md, "item"), "item_name_unique", "name", 1));
}
static void change_add_partial_index(strata_metadata *md)
{
    MD_OK(md, strata_table_add_partial_index(T(md, "item"), NULL, "name", 0, "qty > 0"));
}
static void change_add_partial_unique_index(strata_metadata *md)
{
    MD_OK(md, strata_table_add_partial_index(T(md, "item"), "item_live_name", "name, owner_id", 1,
                                             "note IS NULL"));
}
static void change_add_unique(strata_metadata *md)
{
    MD_OK(md, strata_table_add_unique(T(md, "item"), NULL, "name, owner_id"));
}
static void change_add_check(strata_metadata *md)
{
    MD_OK(md, strata_table_add_check(T(md, "item"), "qty_positive", "qty >= 0"));
}

typedef struct change {
    const char *what;
    void (*mutate)(strata_metadata *b); /* B = base + mutate, or ... */
    variant a, b;                       /* ... A and B built from variants */
    strata_op_kind first;               /* the first operation expected */
    int nops;
    const char *desc; /* how the first operation describes itself */
    const char *back; /* and the inverse diff's last operation */
} change;

static const change changes[] = {
    {"add table",
     change_add_table,
     {0},
     {0},
     STRATA_OP_CREATE_TABLE,
     1,
     "create table tag",
     "drop table tag"},
    {"add nullable column",
     change_add_column,
     {0},
     {0},
     STRATA_OP_ADD_COLUMN,
     1,
     "add column item.color string(10) null",
     "drop column item.color"},
    {"add column with default",
     change_add_column_default,
     {0},
     {0},
     STRATA_OP_ADD_COLUMN,
     1,
     "add column item.rank integer not null default 5",
     "drop column item.rank"},
    {"add column default now",
     change_add_column_now,
     {0},
     {0},
     STRATA_OP_ADD_COLUMN,
     1,
     "add column item.created datetime not null default now",
     "drop column item.created"},
    {"add index",
     change_add_index,
     {0},
     {0},
     STRATA_OP_CREATE_INDEX,
     1,
     "create index ix_item_name_qty on item (name, qty)",
     "drop index ix_item_name_qty on item (name, qty)"},
    {"add partial index",
     change_add_partial_index,
     {0},
     {0},
     STRATA_OP_CREATE_INDEX,
     1,
     "create index ix_item_name on item (name) where qty > 0",
     "drop index ix_item_name on item (name) where qty > 0"},
    {"add partial unique index",
     change_add_partial_unique_index,
     {0},
     {0},
     STRATA_OP_CREATE_INDEX,
     1,
     "create unique index item_live_name on item (name, owner_id) where note IS NULL",
     "drop unique index item_live_name on item (name, owner_id) where note IS NULL"},
    {"add unique index",
     change_add_unique_index,
     {0},
     {0},
     STRATA_OP_CREATE_INDEX,
     1,
     "create unique index item_name_unique on item (name)",
     "drop unique index item_name_unique on item (name)"},
    {"add unique constraint",
     change_add_unique,
     {0},
     {0},
     STRATA_OP_ADD_UNIQUE,
     1,
     "add unique uq_item_name_owner_id (name, owner_id) on item",
     "drop unique uq_item_name_owner_id (name, owner_id) on item"},
    {"add check",
     change_add_check,
     {0},
     {0},
     STRATA_OP_ADD_CHECK,
     1,
     "add check ck_item_qty_positive (qty >= 0) on item",
     "drop check ck_item_qty_positive (qty >= 0) on item"},
    {"drop column",
     NULL,
     {0},
     {.drop_note = true},
     STRATA_OP_DROP_COLUMN,
     1,
     "drop column item.note",
     "add column item.note text null"},
    {"widen string",
     NULL,
     {0},
     {.name_type = "string(50)"},
     STRATA_OP_ALTER_COLUMN,
     1,
     "alter column item.name: string(20) -> string(50)",
     "alter column item.name: string(50) -> string(20)"},
    {"integer to bigint",
     NULL,
     {0},
     {.qty_type = "bigint"},
     STRATA_OP_ALTER_COLUMN,
     1,
     "alter column item.qty: integer -> bigint",
     "alter column item.qty: bigint -> integer"},
    {"not null to null",
     NULL,
     {0},
     {.name_flags = STRATA_NULLABLE},
     STRATA_OP_ALTER_COLUMN,
     1,
     "alter column item.name: not null -> null",
     "alter column item.name: null -> not null"},
    {"change default",
     NULL,
     {0},
     {.qty_default = "7"},
     STRATA_OP_ALTER_COLUMN,
     1,
     "alter column item.qty: default 0 -> 7",
     "alter column item.qty: default 7 -> 0"},
    {"drop default",
     NULL,
     {0},
     {.qty_default = "none"},
     STRATA_OP_ALTER_COLUMN,
     1,
     "alter column item.qty: default 0 -> none",
     "alter column item.qty: default none -> 0"},
    {"add foreign key",
     NULL,
     {0},
     {.fk = true, .fk_delete = STRATA_FK_SET_NULL},
     STRATA_OP_ADD_FOREIGN_KEY,
     1,
     "add foreign key fk_item_owner_id_owner (owner_id) references owner (id) on delete SET NULL "
     "on item",
     "drop foreign key fk_item_owner_id_owner (owner_id) references owner (id) on delete SET NULL "
     "on item"},
    {"change foreign key action",
     NULL,
     {.fk = true},
     {.fk = true, .fk_delete = STRATA_FK_CASCADE},
     STRATA_OP_DROP_FOREIGN_KEY,
     2,
     "drop foreign key fk_item_owner_id_owner (owner_id) references owner (id) on item",
     "add foreign key fk_item_owner_id_owner (owner_id) references owner (id) on item"},
};

static void seed(strata_db *db)
{
    th_exec(db, "INSERT INTO owner (name) VALUES ('olga')");
    th_exec(db, "INSERT INTO item (name, qty, note, owner_id) VALUES ('widget', 3, 'n', 1)");
    th_exec(db, "INSERT INTO item (name, qty, owner_id) VALUES ('gadget', 4, 1)");
}

static void assert_rows_kept(strata_db *db)
{
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE name IN ('widget', 'gadget') "
                                "AND owner_id = 1"),
                     2);
    ck_assert_int_eq(th_int(db, "SELECT sum(qty) FROM item"), 7);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM owner"), 1);
}

START_TEST(schema_each_change_applies_and_reverts)
{
    const change *c = &changes[_i];
    strata_db *db = th_open();
    strata_metadata *a = new_md(), *b = new_md();
    if (c->mutate) {
        base(a);
        base(b);
        c->mutate(b);
    } else {
        build(a, &c->a);
        build(b, &c->b);
    }
    create_all(db, a);
    seed(db);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, a, b, strata_db_driver(db)), STRATA_OK);
    ck_assert_msg(strata_diff_count(d) == c->nops, "%s: %d operations, first: %s", c->what,
                  strata_diff_count(d), strata_diff_op_describe(d, 0));
    ck_assert_int_eq(strata_diff_op_kind(d, 0), c->first);
    ck_assert_str_eq(strata_diff_op_table(d, 0),
                     c->first == STRATA_OP_CREATE_TABLE ? "tag" : "item");
    ck_assert_msg(strcmp(strata_diff_op_describe(d, 0), c->desc) == 0, "%s: described as '%s'",
                  c->what, strata_diff_op_describe(d, 0));
    char *sql;
    ck_assert_int_eq(strata_diff_render(d, strata_db_driver(db), &sql), STRATA_OK);
    ck_assert_msg(strlen(sql) > 0, "%s: no SQL", c->what);
    strata_free(sql);
    apply(db, d);
    assert_schema(db, b);
    assert_rows_kept(db);

    strata_diff *back;
    ck_assert_int_eq(strata_diff_invert(&back, d), STRATA_OK);
    ck_assert_int_eq(strata_diff_count(back), strata_diff_count(d));
    const char *last = strata_diff_op_describe(back, strata_diff_count(back) - 1);
    ck_assert_msg(strcmp(last, c->back) == 0, "%s: inverse described as '%s'", c->what, last);
    apply(db, back);
    assert_schema(db, a);
    assert_rows_kept(db);
    strata_diff_free(back);
    strata_diff_free(d);
    strata_metadata_free(a);
    strata_metadata_free(b);
    strata_db_close(db);
}
END_TEST

START_TEST(schema_sqlite_rebuild_keeps_child_rows)
{
    /* Changing a parent table (a rebuild on SQLite) must not cascade its
     * DROP into the children, and enforcement is back on afterwards. */
    strata_db *db = th_open();
    variant va = {.fk = true, .fk_delete = STRATA_FK_CASCADE};
    strata_metadata *a = new_md(), *b = new_md();
    build(a, &va);
    build(b, &va);
    strata_table *o = T(b, "owner");
    col(o, "active", "boolean", 0, "true");
    MD_OK(b, strata_table_add_check(o, "named", "length(name) > 0"));
    create_all(db, a);
    seed(db);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, a, b, NULL), STRATA_OK);
    char *sql;
    ck_assert_int_eq(strata_diff_render(d, strata_db_driver(db), &sql), STRATA_OK);
    if (!th_is_pg())
        ck_assert_ptr_nonnull(strstr(sql, "CREATE TABLE _strata_new_owner"));
    strata_free(sql);
    apply(db, d);
    assert_schema(db, b);
    assert_rows_kept(db);
    th_rc(db, strata_db_exec(db, "INSERT INTO item (name, owner_id) VALUES ('x', 99)"),
          STRATA_E_FOREIGN_KEY);
    th_exec(db, "DELETE FROM owner");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item"), 0); /* the cascade still works */
    strata_diff_free(d);
    strata_metadata_free(a);
    strata_metadata_free(b);
    strata_db_close(db);
}
END_TEST

START_TEST(schema_failed_change_leaves_nothing)
{
    strata_db *db = th_open();
    variant v = {0};
    strata_metadata *a = new_md(), *b = new_md();
    build(a, &v);
    build(b, &v);
    col(T(b, "item"), "color", "string(10)", STRATA_NULLABLE, NULL);
    MD_OK(b, strata_table_add_index(T(b, "item"), NULL, "owner_id", 1));
    create_all(db, a);
    seed(db); /* two items of owner 1: the unique index cannot be built */
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, a, b, NULL), STRATA_OK);
    ck_assert_int_eq(strata_diff_count(d), 2);
    int rc = strata_diff_apply(d, db);
    th_rc(db, rc, STRATA_E_UNIQUE);
    ck_assert_msg(strstr(strata_db_errmsg(db), "create unique index ix_item_owner_id on item"),
                  "message does not name the operation: %s", strata_db_errmsg(db));
    ck_assert(!strata_db_in_transaction(db));
    assert_schema(db, a); /* the added column is gone too */
    assert_rows_kept(db);
    strata_diff_free(d);
    strata_metadata_free(a);
    strata_metadata_free(b);
    strata_db_close(db);
}
END_TEST

START_TEST(schema_apply_inside_callers_transaction)
{
    strata_db *db = th_open();
    variant v = {0}, wide = {.name_type = "string(60)"};
    strata_metadata *a = new_md(), *b = new_md();
    build(a, &v);
    build(b, &wide);
    create_all(db, a);
    seed(db);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, a, b, NULL), STRATA_OK);
    th_rc(db, strata_db_begin(db), STRATA_OK);
    apply(db, d);
    assert_schema(db, b);
    th_rc(db, strata_db_rollback(db), STRATA_OK); /* DDL is transactional on both */
    assert_schema(db, a);
    assert_rows_kept(db);
    strata_diff_free(d);
    strata_metadata_free(a);
    strata_metadata_free(b);
    strata_db_close(db);
}
END_TEST

START_TEST(schema_rename_is_a_warning)
{
    variant v = {0};
    strata_metadata *a = new_md(), *b = new_md();
    build(a, &v);
    build(b, &(variant){.drop_note = true});
    col(T(b, "item"), "remark", "text", STRATA_NULLABLE, NULL);
    col(T(b, "item"), "size", "integer", STRATA_NULLABLE, NULL);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, a, b, NULL), STRATA_OK);
    ck_assert_int_eq(strata_diff_count(d), 3);
    ck_assert_int_eq(strata_diff_op_kind(d, 2), STRATA_OP_DROP_COLUMN);
    ck_assert_int_eq(strata_diff_warning_count(d), 1);
    const char *w = strata_diff_warning(d, 0);
    ck_assert_ptr_nonnull(strstr(w, "column note is dropped and column remark"));
    ck_assert_ptr_nonnull(strstr(w, "rename"));
    strata_diff_free(d);
    strata_metadata_free(a);
    strata_metadata_free(b);
}
END_TEST

START_TEST(schema_naming_convention)
{
    strata_db *db = th_open();
    strata_metadata *md = new_md();
    strata_naming bad = {STRATA_NAMING_VERSION, "ix_{tabel}", NULL, NULL, NULL, NULL};
    ck_assert_int_eq(strata_metadata_set_naming(md, &bad), STRATA_E_SCHEMA);
    ck_assert_ptr_nonnull(strstr(strata_metadata_errmsg(md), "{tabel}"));
    strata_naming conv = {STRATA_NAMING_VERSION,    "idx_{table}_{column0}", NULL,
                          "{table}_{columns}_fkey", "{table}_pkey",          NULL};
    MD_OK(md, strata_metadata_set_naming(md, &conv));
    const char *long_table = "a_table_with_a_really_quite_long_name_for_naming_tests_xx";
    strata_table *t, *c;
    MD_OK(md, strata_metadata_add_table(md, long_table, &t));
    col(t, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(t, "first_name", "string(10)", STRATA_INDEX, NULL);
    MD_OK(md, strata_metadata_add_table(md, "child", &c));
    col(c, "id", "integer", STRATA_PRIMARY_KEY, NULL);
    col(c, "parent", "integer", 0, NULL);
    MD_OK(md, strata_table_add_foreign_key(c, NULL, "parent", long_table, "id", 0, 0));
    char *text;
    ck_assert_int_eq(strata_metadata_describe(md, &text), STRATA_OK);
    ck_assert_ptr_nonnull(strstr(text, "primary key child_pkey (id)"));
    ck_assert_ptr_nonnull(strstr(text, "foreign key child_parent_fkey (parent)"));
    /* idx_<57-byte table>_first_name is 73 bytes: shortened the same way
     * everywhere, to 63. */
    const char *ix = strstr(text, "index idx_a_table");
    ck_assert_ptr_nonnull(ix);
    const char *end = strchr(ix + 6, ' ');
    ck_assert_int_eq((int)(end - (ix + 6)), 63);
    ck_assert_int_eq(ix[6 + 54], '_');
    strata_free(text);
    create_all(db, md);
    assert_schema(db, md);
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

START_TEST(schema_bad_definitions)
{
    strata_metadata *md = new_md();
    strata_table *t;
    MD_OK(md, strata_metadata_add_table(md, "item", &t));
    ck_assert_int_eq(strata_metadata_add_table(md, "item", NULL), STRATA_E_EXISTS);
    ck_assert_int_eq(strata_table_add_column(t, "x", "varchar(10)", 0, NULL), STRATA_E_SCHEMA);
    ck_assert_ptr_nonnull(strstr(strata_metadata_errmsg(md), "item.x"));
    ck_assert_ptr_nonnull(strstr(strata_metadata_errmsg(md), "'varchar(10)'"));
    ck_assert_int_eq(strata_table_add_column(t, "x", "string(", 0, NULL), STRATA_E_SCHEMA);
    ck_assert_int_eq(strata_table_add_column(t, "x", "numeric(2,5)", 0, NULL), STRATA_E_SCHEMA);
    ck_assert_int_eq(strata_table_add_column(t, "x", "string(10)",
                                             STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL),
                     STRATA_E_SCHEMA);
    ck_assert_ptr_nonnull(strstr(strata_metadata_errmsg(md), "autoincrement"));
    ck_assert_int_eq(
        strata_table_add_column(t, "x", "integer", STRATA_PRIMARY_KEY | STRATA_NULLABLE, NULL),
        STRATA_E_SCHEMA);
    ck_assert_int_eq(strata_table_column_count(t), 0); /* nothing half-added */
    strata_column *c;
    MD_OK(md, strata_table_add_column(t, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT,
                                      &c));
    /* A second key column breaks autoincrement: refused, table unchanged. */
    ck_assert_int_eq(strata_table_add_column(t, "id2", "integer", STRATA_PRIMARY_KEY, NULL),
                     STRATA_E_SCHEMA);
    ck_assert_int_eq(strata_table_column_count(t), 1);
    ck_assert_int_eq(strata_table_add_column(t, "id", "text", 0, NULL), STRATA_E_EXISTS);
    ck_assert_int_eq(strata_column_set_server_default(c, "'x"), STRATA_E_SCHEMA);
    ck_assert_int_eq(strata_column_set_server_default(c, "now"), STRATA_E_SCHEMA);
    ck_assert_ptr_nonnull(strstr(strata_metadata_errmsg(md), "item.id"));
    ck_assert_int_eq(strata_table_add_index(t, NULL, "id, nope", 0), STRATA_E_SCHEMA);
    ck_assert_ptr_nonnull(strstr(strata_metadata_errmsg(md), "no column nope"));
    ck_assert_int_eq(strata_table_add_index(t, NULL, "id,", 0), STRATA_E_SCHEMA);
    ck_assert_int_eq(strata_table_add_foreign_key(t, NULL, "id", "other", "a, b", 0, 0),
                     STRATA_E_SCHEMA);
    ck_assert_int_eq(strata_table_add_check(t, NULL, "id > 0"), STRATA_E_SCHEMA);
    MD_OK(md, strata_table_add_index(t, NULL, "id", 0));
    ck_assert_int_eq(strata_table_add_index(t, NULL, "id", 1), STRATA_E_EXISTS);
    ck_assert_ptr_nonnull(strstr(strata_metadata_errmsg(md), "ix_item_id"));
    strata_metadata_free(md);
}
END_TEST

START_TEST(schema_introspect_leaves_out_internal_tables)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE strata_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)");
    th_exec(db, "CREATE TABLE mine (id INTEGER)");
    th_exec(db, "CREATE TABLE theirs (id INTEGER)");
    if (!th_is_pg()) /* makes sqlite_sequence exist */
        th_exec(db, "CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT); "
                    "INSERT INTO seq DEFAULT VALUES; DROP TABLE seq");
    strata_metadata *md;
    ck_assert_int_eq(strata_schema_introspect(&md, db, NULL), STRATA_OK);
    ck_assert_int_eq(strata_metadata_table_count(md), 2);
    ck_assert_str_eq(strata_table_name(strata_metadata_table(md, 0)), "mine");
    strata_metadata_free(md);
    const char *const exclude[] = {"theirs", NULL};
    ck_assert_int_eq(strata_schema_introspect(&md, db, exclude), STRATA_OK);
    ck_assert_int_eq(strata_metadata_table_count(md), 1);
    strata_column *c = strata_table_column(strata_metadata_table(md, 0), 0);
    ck_assert_str_eq(strata_column_name(c), "id");
    ck_assert_int_eq(strata_column_type(c), STRATA_SQL_INTEGER);
    ck_assert_uint_eq(strata_column_flags(c), STRATA_NULLABLE);
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

/* ---- more diffs: dropped tables in order, changed indexes and
 * constraints, a changed primary key, misuse ------------------------------ */

START_TEST(schema_diff_drops_changes_and_warnings)
{
    strata_db *db = th_open();
    strata_metadata *a = new_md(), *empty = new_md();
    variant fk = {.fk = true};
    build(a, &fk);
    MD_OK(a, strata_table_add_unique(T(a, "item"), "item_name", "name"));
    create_all(db, a);
    seed(db);

    /* Dropping everything: the child first, and the inverse recreates
     * the parent first. */
    strata_diff *d, *back;
    ck_assert_int_eq(strata_schema_diff(&d, a, empty, strata_db_driver(db)), STRATA_OK);
    ck_assert_int_eq(strata_diff_count(d), 2);
    ck_assert_str_eq(strata_diff_op_describe(d, 0), "drop table item");
    ck_assert_str_eq(strata_diff_op_describe(d, 1), "drop table owner");
    ck_assert_int_eq(strata_metadata_table_count(strata_diff_from(d)), 2);
    ck_assert_int_eq(strata_metadata_table_count(strata_diff_to(d)), 0);
    ck_assert_int_eq(strata_diff_invert(&back, d), STRATA_OK);
    ck_assert_str_eq(strata_diff_op_describe(back, 0), "create table owner");
    ck_assert_str_eq(strata_diff_op_describe(back, 1), "create table item");
    apply(db, d);
    assert_schema(db, empty);
    apply(db, back);
    assert_schema(db, a);
    strata_diff_free(back);
    strata_diff_free(d);

    /* The same index and unique names over other columns: dropped and
     * made again, with the rows kept. */
    strata_metadata *b = new_md();
    strata_table *o, *it;
    MD_OK(b, strata_metadata_add_table(b, "owner", &o));
    col(o, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(o, "name", "string(40)", 0, NULL);
    MD_OK(b, strata_metadata_add_table(b, "item", &it));
    col(it, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(it, "name", "string(20)", 0, NULL);
    col(it, "qty", "integer", STRATA_NULLABLE, "0");
    col(it, "note", "text", STRATA_NULLABLE, NULL);
    col(it, "owner_id", "integer", STRATA_NULLABLE, NULL);
    MD_OK(b, strata_table_add_index(it, "ix_item_qty", "qty, name", 0));
    MD_OK(b, strata_table_add_unique(it, "item_name", "name, owner_id"));
    MD_OK(b, strata_table_add_foreign_key(it, NULL, "owner_id", "owner", "id", STRATA_FK_NO_ACTION,
                                          STRATA_FK_NO_ACTION));
    seed(db);
    ck_assert_int_eq(strata_schema_diff(&d, a, b, strata_db_driver(db)), STRATA_OK);
    ck_assert_int_eq(strata_diff_count(d), 4);
    ck_assert_str_eq(strata_diff_op_describe(d, 0), "drop index ix_item_qty on item (qty)");
    ck_assert_str_eq(strata_diff_op_describe(d, 1), "drop unique item_name (name) on item");
    ck_assert_str_eq(strata_diff_op_describe(d, 2), "create index ix_item_qty on item (qty, name)");
    ck_assert_str_eq(strata_diff_op_describe(d, 3),
                     "add unique item_name (name, owner_id) on item");
    ck_assert_int_eq(strata_diff_warning_count(d), 0);
    apply(db, d);
    assert_schema(db, b);
    assert_rows_kept(db);
    strata_diff_free(d);

    /* A different primary key is not changed: a warning says so. */
    strata_metadata *c = new_md();
    MD_OK(c, strata_metadata_add_table(c, "owner", &o));
    col(o, "id", "integer", STRATA_PRIMARY_KEY, NULL);
    col(o, "name", "string(40)", STRATA_PRIMARY_KEY, NULL);
    ck_assert_int_eq(strata_schema_diff(&d, empty, c, NULL), STRATA_OK);
    strata_diff_free(d);
    strata_metadata *c0 = new_md();
    MD_OK(c0, strata_metadata_add_table(c0, "owner", &o));
    col(o, "id", "integer", STRATA_PRIMARY_KEY, NULL);
    col(o, "name", "string(40)", 0, NULL);
    ck_assert_int_eq(strata_schema_diff(&d, c0, c, NULL), STRATA_OK);
    ck_assert_int_eq(strata_diff_warning_count(d), 1);
    ck_assert_str_eq(strata_diff_warning(d, 0),
                     "table owner: the primary key differs; strata does not change a primary key, "
                     "write that step by hand");
    ck_assert_ptr_null(strata_diff_warning(d, 1));
    strata_diff_free(d);

    /* Misuse. */
    d = (strata_diff *)1;
    ck_assert_int_eq(strata_schema_diff(&d, NULL, c, NULL), STRATA_E_MISUSE);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(strata_schema_diff(NULL, c, c, NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_diff_invert(&d, NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_diff_invert(NULL, NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_schema_diff(&d, c, c, NULL), STRATA_OK);
    ck_assert_int_eq(strata_diff_count(d), 0);
    ck_assert_ptr_null(strata_diff_op_describe(d, 0));
    ck_assert_ptr_null(strata_diff_op_table(d, -1));
    ck_assert_int_eq(strata_diff_op_kind(d, 0), 0);
    strata_diff_free(d);
    strata_metadata_free(c0);
    strata_metadata_free(c);
    strata_metadata_free(b);
    strata_metadata_free(empty);
    strata_metadata_free(a);
    strata_db_close(db);
}
END_TEST

/* ---- portable text at its edges, and every builder's refusals ---------- */

/* A server default is checked against its column's type: PostgreSQL casts
 * it (refusing what does not fit, rounding a number to an integer) where
 * SQLite keeps it as written, so a default that does not fit would give
 * a revision that fails on one engine, or other values on each.  One that
 * fits fills a row alike on every engine. */
START_TEST(schema_defaults_fit_their_columns)
{
    static const struct {
        const char *type, *def, *said;
    } misfits[] = {
        {"integer", "1.5", "1.5 is not a whole number, and the column is an integer"},
        {"smallint", "99999", "99999 is out of the column's range"},
        {"integer", "3000000000", "3000000000 is out of the column's range"},
        {"bigint", "99999999999999999999", "is out of the column's range"},
        {"numeric(5,2)", "1234.5", "1234.5 is too large for numeric(5, 2)"},
        {"numeric(5,2)", "1.234", "1.234 has more decimals than numeric(5, 2) keeps"},
        {"boolean", "2", "a number is no value of the column's type"},
        {"date", "7", "a number is no value of the column's type"},
        {"string(2)", "'abc'", "'abc' is longer than the column holds"},
        {"string(2)", "12345", "12345 is longer than the column holds"},
        {"boolean", "'yes'", "'yes' is no boolean: write true or false"},
        {"integer", "'abc'", "'abc' is no number, and the column is one"},
        {"date", "'notadate'", "'notadate' is no date (YYYY-MM-DD)"},
        {"datetime", "'2024-13-01 00:00:00'", "is no timestamp"},
        {"uuid", "'nope'", "'nope' is no UUID"},
        {"json", "'{bad'", "'{bad' is no JSON"},
    };
    strata_metadata *md = new_md();
    strata_table *t;
    MD_OK(md, strata_metadata_add_table(md, "fits", &t));
    col(t, "id", "integer", STRATA_PRIMARY_KEY, NULL);
    for (size_t k = 0; k < sizeof misfits / sizeof *misfits; k++) {
        strata_column *c;
        char name[16];
        snprintf(name, sizeof name, "bad%zu", k);
        MD_OK(md, strata_table_add_column(t, name, misfits[k].type, STRATA_NULLABLE, &c));
        ck_assert_int_eq(strata_column_set_server_default(c, misfits[k].def), STRATA_E_SCHEMA);
        ck_assert_msg(strstr(strata_metadata_errmsg(md), misfits[k].said), "%s %s: %s",
                      misfits[k].type, misfits[k].def, strata_metadata_errmsg(md));
        ck_assert_ptr_null(strata_column_server_default(c)); /* left without one */
    }
    col(t, "i", "integer", 0, "'7'");
    col(t, "one", "integer", 0, "1.0"); /* a whole number, as both engines store it */
    col(t, "half", "numeric(5,2)", 0, "1.500");
    col(t, "sm", "smallint", 0, "-32768");
    col(t, "n", "numeric(5,2)", 0, "123.45");
    col(t, "u", "uuid", 0, "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'");
    col(t, "d", "date", 0, "'2024-02-29'");
    col(t, "s", "string(2)", 0, "'ab'");
    col(t, "j", "json", 0, "'{\"a\": 1}'");
    /* PostgreSQL's limits, which strata keeps on every engine (one past is
     * refused: schema_raw_types_and_portable_text). */
    col(t, "widest", "numeric(1000,2)", STRATA_NULLABLE, NULL);
    col(t, "longest", "string(10485760)", STRATA_NULLABLE, NULL);
    strata_db *db = th_open();
    th_rc(db, strata_metadata_create_all(md, db), STRATA_OK);
    th_exec(db, "INSERT INTO fits (id) VALUES (1)");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM fits WHERE i = 7 AND sm = -32768 AND "
                                "n = 123.45 AND u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' AND "
                                "d = '2024-02-29' AND s = 'ab' AND j IS NOT NULL AND one = 1 AND "
                                "half = 1.5"),
                     1);
    th_exec(db, "DROP TABLE fits");
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

/* sql:<type> columns are created as written and read back as the same raw
 * type; type and default text is trimmed, and bad text is refused. */
START_TEST(schema_raw_types_and_portable_text)
{
    strata_db *db = th_open();
    strata_metadata *md = new_md();
    strata_table *t;
    MD_OK(md, strata_metadata_add_table(md, "wallet", &t));
    col(t, "id", "  integer", STRATA_PRIMARY_KEY, NULL);
    col(t, "cash", "sql:  money", STRATA_NULLABLE, NULL);
    col(t, "code", "string ( 10 ) ", 0, " 'x' ");
    col(t, "on_", "boolean", 0, "1");
    col(t, "off", "boolean", 0, "0");
    col(t, "low", "string(10)", STRATA_NULLABLE, "sql:   lower('X')");
    const char *bad_types[] = {
        "sql:",      "sql:   ",         "string(100000001)", "numeric(10,2", "numeric(10,2) x",
        "string(0)", "numeric(1001,2)", "string(10485761)"};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        ck_assert_msg(strata_table_add_column(t, "bad", bad_types[i], 0, NULL) == STRATA_E_SCHEMA,
                      "%s", bad_types[i]);
        ck_assert_msg(strstr(strata_metadata_errmsg(md), "wallet.bad"), "%s",
                      strata_metadata_errmsg(md));
    }
    strata_column *n;
    MD_OK(md, strata_table_add_column(t, "n", "integer", STRATA_NULLABLE, &n));
    ck_assert_int_eq(strata_column_set_server_default(n, "true"), STRATA_E_SCHEMA);
    ck_assert_msg(strstr(strata_metadata_errmsg(md),
                         "column wallet.n: server default: 'true' needs a boolean column"),
                  "%s", strata_metadata_errmsg(md));
    ck_assert_int_eq(strata_column_set_server_default(n, "'a'b'"), STRATA_E_SCHEMA);
    ck_assert_ptr_nonnull(strstr(strata_metadata_errmsg(md), "is not a portable default"));
    ck_assert_int_eq(strata_column_set_server_default(NULL, "1"), STRATA_E_MISUSE);
    ck_assert_ptr_null(strata_column_server_default(n));

    char *text;
    ck_assert_int_eq(strata_metadata_describe(md, &text), STRATA_OK);
    ck_assert_str_eq(text, "table wallet\n"
                           "  column id integer not null\n"
                           "  column cash sql:money null\n"
                           "  column code string(10) not null default 'x'\n"
                           "  column on_ boolean not null default true\n"
                           "  column off boolean not null default false\n"
                           "  column low string(10) null default sql:lower('X')\n"
                           "  column n integer null\n"
                           "  primary key pk_wallet (id)\n");
    strata_free(text);
    ck_assert_int_eq(strata_metadata_render_create(md, strata_db_driver(db), &text), STRATA_OK);
    ck_assert_msg(strstr(text, "    cash money,\n"), "%s", text);
    strata_free(text);

    /* Created as written; the defaults fill a row; the raw type reads back
     * as itself, so the diff is empty. */
    create_all(db, md);
    th_exec(db, "INSERT INTO wallet (id) VALUES (1)");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM wallet WHERE code = 'x' AND on_ AND NOT off "
                                "AND low = 'x' AND cash IS NULL"),
                     1);
    strata_metadata *live;
    th_rc(db, strata_schema_introspect(&live, db, NULL), STRATA_OK);
    strata_column *cash =
        strata_table_find_column(strata_metadata_find_table(live, "wallet"), "cash");
    ck_assert_int_eq(strata_column_type(cash), STRATA_SQL_RAW);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, live, md, strata_db_driver(db)), STRATA_OK);
    ck_assert_msg(strata_diff_count(d) == 0, "%s", strata_diff_op_describe(d, 0));
    strata_diff_free(d);
    strata_metadata_free(live);

    /* A raw type whose text changes is a change of type. */
    strata_metadata *b;
    ck_assert_int_eq(strata_metadata_copy(&b, md), STRATA_OK);
    MD_OK(b, strata_table_add_column(strata_metadata_find_table(b, "wallet"), "cash2", "sql:money",
                                     STRATA_NULLABLE, NULL));
    strata_metadata *c = new_md();
    strata_table *tc;
    MD_OK(c, strata_metadata_add_table(c, "wallet", &tc));
    col(tc, "id", "integer", STRATA_PRIMARY_KEY, NULL);
    col(tc, "cash", "sql:text", STRATA_NULLABLE, NULL);
    strata_metadata *cc = new_md();
    strata_table *tcc;
    MD_OK(cc, strata_metadata_add_table(cc, "wallet", &tcc));
    col(tcc, "id", "integer", STRATA_PRIMARY_KEY, NULL);
    col(tcc, "cash", "sql:MONEY", STRATA_NULLABLE, NULL);
    ck_assert_int_eq(strata_schema_diff(&d, c, cc, NULL), STRATA_OK);
    ck_assert_int_eq(strata_diff_count(d), 1);
    ck_assert_str_eq(strata_diff_op_describe(d, 0),
                     "alter column wallet.cash: sql:text -> sql:MONEY");
    strata_diff_free(d);
    /* Raw types compare without regard to case. */
    col(tc, "x", "sql:money", STRATA_NULLABLE, NULL);
    col(tcc, "x", "sql:MONEY", STRATA_NULLABLE, NULL);
    ck_assert_int_eq(strata_schema_diff(&d, c, cc, NULL), STRATA_OK);
    ck_assert_int_eq(strata_diff_count(d), 1);
    strata_diff_free(d);
    strata_metadata_free(c);
    strata_metadata_free(cc);
    strata_metadata_free(b);
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

/* Every builder refuses misuse and bad definitions with a message naming
 * the table and column, and leaves the metadata as it was. */
START_TEST(schema_builders_refuse_and_keep_the_metadata)
{
    const char *long64 = "a_name_that_is_exactly_sixty_four_bytes_long_for_the_limit_xxxxx";
    ck_assert_int_eq((int)strlen(long64), 64);
    strata_metadata *md = new_md(), *copy = (strata_metadata *)1;
    char *text = (char *)1;
    ck_assert_int_eq(strata_metadata_new(NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_metadata_copy(NULL, md), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_metadata_copy(&copy, NULL), STRATA_E_MISUSE);
    ck_assert_ptr_null(copy);
    ck_assert_int_eq(strata_metadata_describe(md, NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_metadata_describe(NULL, &text), STRATA_E_MISUSE);
    ck_assert_ptr_null(text);
    strata_naming old = {0, NULL, NULL, NULL, NULL, NULL};
    ck_assert_int_eq(strata_metadata_set_naming(md, &old), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_metadata_set_naming(md, NULL), STRATA_E_MISUSE);
    strata_table *t = (strata_table *)1;
    ck_assert_int_eq(strata_metadata_add_table(NULL, "x", &t), STRATA_E_MISUSE);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(strata_metadata_add_table(md, "", NULL), STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_metadata_errmsg(md), "table name '' must be 1 to 63 bytes long");
    ck_assert_int_eq(strata_metadata_add_table(md, long64, NULL), STRATA_E_SCHEMA);
    ck_assert_int_eq(strata_metadata_add_table(md, NULL, NULL), STRATA_E_SCHEMA);

    MD_OK(md, strata_metadata_add_table(md, "item", &t));
    col(t, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    col(t, "code", "string(8)", 0, NULL);
    col(t, "note", "text", STRATA_NULLABLE, NULL);
    MD_OK(md, strata_table_add_check(t, "positive", "id > 0"));
    strata_column *c = (strata_column *)1;
    ck_assert_int_eq(strata_table_add_column(NULL, "x", "integer", 0, &c), STRATA_E_MISUSE);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(strata_table_add_column(t, long64, "integer", 0, NULL), STRATA_E_SCHEMA);
    ck_assert_ptr_nonnull(strstr(strata_metadata_errmsg(md), "table item: column name"));
    ck_assert_int_eq(strata_table_add_column(t, "x", "integer", 0x40, NULL), STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_metadata_errmsg(md), "column item.x: unknown flags 0x40");

    ck_assert_int_eq(strata_table_set_primary_key(NULL, NULL, "id"), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_table_set_primary_key(t, NULL, "note"), STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_metadata_errmsg(md),
                     "column item.note: a primary key column cannot be nullable");
    ck_assert_int_eq(strata_table_set_primary_key(t, NULL, "id, code"), STRATA_E_SCHEMA);
    ck_assert_ptr_nonnull(
        strstr(strata_metadata_errmsg(md), "column item.id: autoincrement needs"));
    ck_assert_int_eq(strata_table_set_primary_key(t, NULL, "id, nope"), STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_metadata_errmsg(md), "primary key of table item: no column nope");
    /* A constraint name PostgreSQL would cut is refused, as for every
     * other constraint. */
    ck_assert_int_eq(strata_table_set_primary_key(t, long64, "id"), STRATA_E_SCHEMA);
    ck_assert_ptr_nonnull(strstr(strata_metadata_errmsg(md), "must be 1 to 63 bytes long"));

    ck_assert_int_eq(strata_table_add_index(NULL, NULL, "id", 0), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_table_add_index(t, long64, "code", 0), STRATA_E_SCHEMA);
    ck_assert_msg(strstr(strata_metadata_errmsg(md), "table item: constraint name 'a_name_that"),
                  "%s", strata_metadata_errmsg(md));
    ck_assert_int_eq(strata_table_add_unique(NULL, NULL, "id"), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_table_add_unique(t, NULL, "code, nope"), STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_metadata_errmsg(md), "unique constraint of table item: no column nope");
    ck_assert_int_eq(strata_table_add_foreign_key(NULL, NULL, "id", "item", "id", 0, 0),
                     STRATA_E_MISUSE);
    ck_assert_int_eq(strata_table_add_foreign_key(t, NULL, "id", "", "id", 0, 0), STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_metadata_errmsg(md),
                     "foreign key of table item: referred table name '' is not valid");
    ck_assert_int_eq(strata_table_add_foreign_key(t, NULL, "id", "item", "id", (strata_fk_action)99,
                                                  STRATA_FK_NO_ACTION),
                     STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_metadata_errmsg(md),
                     "foreign key of table item: unknown ON DELETE / ON UPDATE action");
    ck_assert_int_eq(strata_table_add_foreign_key(t, NULL, " , id", "item", "id", 0, 0),
                     STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_metadata_errmsg(md), "foreign key of table item: column list ' , id' "
                                                 "is empty or has an empty item");
    ck_assert_int_eq(strata_table_add_check(NULL, "x", "1 = 1"), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_table_add_check(t, "positive", "id > 1"), STRATA_E_EXISTS);
    ck_assert_str_eq(strata_metadata_errmsg(md),
                     "table item already has an index or constraint named ck_item_positive");

    /* Readers out of range. */
    ck_assert_int_eq(strata_metadata_table_count(NULL), 0);
    ck_assert_ptr_null(strata_metadata_table(md, 1));
    ck_assert_ptr_null(strata_table_column(t, -1));
    ck_assert_ptr_null(strata_table_column(t, 3));

    /* Nothing of the refused calls stayed. */
    ck_assert_int_eq(strata_metadata_describe(md, &text), STRATA_OK);
    ck_assert_str_eq(text, "table item\n"
                           "  column id integer not null autoincrement\n"
                           "  column code string(8) not null\n"
                           "  column note text null\n"
                           "  primary key pk_item (id)\n"
                           "  check ck_item_positive (id > 0)\n");
    strata_free(text);
    strata_metadata_free(md);
}
END_TEST

/* A table bookmark with a url twice, and the diff that makes urls
 * unique, which its data refuses. */
static strata_diff *refused_unique(strata_db *db, strata_metadata **from, strata_metadata **to)
{
    th_exec(db, "CREATE TABLE bookmark (id INTEGER PRIMARY KEY, url VARCHAR(50) NOT NULL)");
    th_exec(db, "INSERT INTO bookmark (id, url) VALUES (1, 'a'), (2, 'a')");
    th_rc(db, strata_schema_introspect(from, db, NULL), STRATA_OK);
    ck_assert_int_eq(strata_metadata_copy(to, *from), STRATA_OK);
    ck_assert_int_eq(strata_table_add_unique(strata_metadata_find_table(*to, "bookmark"),
                                             "uq_bookmark_url", "url"),
                     STRATA_OK);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, *from, *to, strata_db_driver(db)), STRATA_OK);
    return d;
}

/* A change that fails on the data names the user's table, never the
 * table a rebuild makes in its place (_strata_new_<t> on SQLite). */
START_TEST(schema_failed_change_names_the_table)
{
    strata_db *db = th_open();
    strata_metadata *from, *to;
    strata_diff *d = refused_unique(db, &from, &to);
    th_rc(db, strata_diff_apply(d, db), STRATA_E_UNIQUE);
    const char *msg = strata_db_errmsg(db);
    ck_assert_msg(!strstr(msg, "_strata_new_") && strstr(msg, "bookmark"), "%s", msg);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM bookmark"), 2); /* nothing changed */
    strata_diff_free(d);
    strata_metadata_free(to);
    strata_metadata_free(from);
    strata_db_close(db);
}
END_TEST

/* A change that fails inside the caller's transaction empties the
 * statement cache while the transaction is aborted, where PostgreSQL
 * refuses DEALLOCATE: the statements are deallocated once it is rolled
 * back, not left on the server for the connection's life. */
START_TEST(schema_failed_change_in_a_transaction_leaves_no_statement)
{
    strata_db *db = th_open();
    strata_metadata *from, *to;
    strata_diff *d = refused_unique(db, &from, &to);
    bool named = th_is_pg() && !th_via_pooler();
    const char *count = "SELECT count(*) FROM pg_prepared_statements";
    th_rc(db, strata_db_begin(db), STRATA_OK);
    for (int k = 0; k < 5; k++) { /* cached, and held by the server where named */
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT count(*) + %d FROM bookmark", k);
        ck_assert_int_eq(th_int(db, sql), 2 + k);
    }
    if (named)
        ck_assert_int_ge(th_int(db, count), 6);
    th_rc(db, strata_diff_apply(d, db), STRATA_E_UNIQUE);
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM bookmark"), 2); /* nothing changed */
    if (named) /* the two asked since the rollback, alone */
        ck_assert_int_eq(th_int(db, count), 2);
    strata_diff_free(d);
    strata_metadata_free(to);
    strata_metadata_free(from);
    strata_db_close(db);
}
END_TEST

/* A partial index is read back with its condition on every engine; one
 * turned from partial to full under the same name is a change. */
START_TEST(schema_partial_index_round_trip)
{
    strata_db *db = th_open();
    strata_metadata *a = new_md(), *b = new_md();
    base(a);
    base(b);
    MD_OK(a, strata_table_add_partial_index(T(a, "item"), "ix_live", "name", 1,
                                            "note IS NULL AND qty > 0"));
    MD_OK(b, strata_table_add_index(T(b, "item"), "ix_live", "name", 1));
    create_all(db, a);
    strata_metadata *live;
    ck_assert_int_eq(strata_schema_introspect(&live, db, NULL), STRATA_OK);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, a, live, strata_db_driver(db)), STRATA_OK);
    ck_assert_msg(strata_diff_count(d) == 0, "introspected partial index differs: %s",
                  strata_diff_op_describe(d, 0));
    strata_diff_free(d);
    /* The engine spelled the condition its own way, without losing it. */
    char *text;
    ck_assert_int_eq(strata_metadata_describe(live, &text), STRATA_OK);
    ck_assert_msg(strstr(text, "index ix_live unique (name) where ") && strstr(text, "note IS NULL"),
                  "%s", text);
    strata_free(text);
    ck_assert_int_eq(strata_schema_diff(&d, live, b, strata_db_driver(db)), STRATA_OK);
    ck_assert_int_eq(strata_diff_count(d), 2);
    ck_assert_int_eq(strata_diff_op_kind(d, 0), STRATA_OP_DROP_INDEX);
    ck_assert_int_eq(strata_diff_op_kind(d, 1), STRATA_OP_CREATE_INDEX);
    apply(db, d);
    assert_schema(db, b);
    strata_diff_free(d);
    /* The partial unique index let two rows share a name while one had a
     * note; the full one refuses that. */
    th_exec(db, "INSERT INTO owner (name) VALUES ('o')");
    th_exec(db, "INSERT INTO item (name, qty) VALUES ('x', 1)");
    th_rc(db, strata_db_exec(db, "INSERT INTO item (name, qty) VALUES ('x', 2)"), STRATA_E_UNIQUE);
    /* A condition is required. */
    ck_assert_int_eq(strata_table_add_partial_index(T(a, "item"), NULL, "qty", 0, ""),
                     STRATA_E_SCHEMA);
    ck_assert_ptr_nonnull(strstr(strata_metadata_errmsg(a), "needs a condition"));
    strata_metadata_free(live);
    strata_metadata_free(a);
    strata_metadata_free(b);
    strata_db_close(db);
}
END_TEST

static void add_tests(TCase *tc, th_engine engine)
{
    tcase_add_test(tc, schema_failed_change_names_the_table);
    tcase_add_test(tc, schema_failed_change_in_a_transaction_leaves_no_statement);
    tcase_add_test(tc, schema_partial_index_round_trip);
    (void)engine;
    tcase_add_test(tc, schema_microblog_ddl);
    tcase_add_test(tc, schema_round_trip_every_kind);
    tcase_add_test(tc, schema_bigint_autoincrement);
    tcase_add_test(tc, schema_create_all_skips_existing_and_drop_all_orders);
    tcase_add_test(tc, schema_mutually_referencing_tables);
    tcase_add_loop_test(tc, schema_each_change_applies_and_reverts, 0,
                        (int)(sizeof changes / sizeof changes[0]));
    tcase_add_test(tc, schema_sqlite_rebuild_keeps_child_rows);
    tcase_add_test(tc, schema_failed_change_leaves_nothing);
    tcase_add_test(tc, schema_apply_inside_callers_transaction);
    tcase_add_test(tc, schema_rename_is_a_warning);
    tcase_add_test(tc, schema_naming_convention);
    tcase_add_test(tc, schema_bad_definitions);
    tcase_add_test(tc, schema_introspect_leaves_out_internal_tables);
    tcase_add_test(tc, schema_diff_drops_changes_and_warnings);
    tcase_add_test(tc, schema_raw_types_and_portable_text);
    tcase_add_test(tc, schema_defaults_fit_their_columns);
    tcase_add_test(tc, schema_builders_refuse_and_keep_the_metadata);
}

static Suite *build_suite(void) { return th_suite("schema", add_tests); }

int main(void) { return th_run(build_suite); }
