/*
 * test_introspect.c - tables written by hand, in each engine's own
 * spellings, read back as the portable description: type names and their
 * arguments, defaults as each engine stores them, a key declared out of
 * column order, named and unnamed checks, foreign keys without column
 * lists and every referential action, comments inside CREATE TABLE,
 * expression indexes left out, partial ones with their condition; and introspection refused,
 * with the reason, where it cannot run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char *describe_live(strata_db *db)
{
    strata_metadata *md = NULL;
    int rc = strata_schema_introspect(&md, db, NULL);
    ck_assert_msg(rc == STRATA_OK, "introspect: %s: %s", strata_errname(rc), strata_db_errmsg(db));
    char *text = NULL;
    ck_assert_int_eq(strata_metadata_describe(md, &text), STRATA_OK);
    strata_metadata_free(md);
    return text;
}

/* One schema in each engine's spellings: SQLite keeps the declared text
 * (comments included), PostgreSQL its catalog names. */
static const char owner_sql[] =
    "CREATE TABLE owner (\n"
    "    a INT NOT NULL, -- declared first, second in the key (\n"
    "    b CHARACTER VARYING(10) NOT NULL, /* a comment ) with a parenthesis */\n"
    "    note VARCHAR(20) DEFAULT 'it''s',\n"
    "    CONSTRAINT owner_key PRIMARY KEY (b, a)\n"
    ")";

static const char thing_sql[] =
    "CREATE TABLE thing (\n"
    "    id %s,\n"
    "    ob VARCHAR(10), oa INT4,\n"
    "    price DECIMAL(8, 2) NOT NULL DEFAULT '0' CONSTRAINT positive CHECK (price >= 0),\n"
    "    qty INT2 DEFAULT '-1',\n"
    "    flag BOOL DEFAULT FALSE,\n"
    "    ratio REAL DEFAULT (1.5),\n"
    "    big INT8 DEFAULT NULL,\n"
    "    body %s,\n"
    "    created TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,\n"
    "    at_tz TIMESTAMPTZ,\n"
    "    day DATE DEFAULT CURRENT_DATE,\n"
    "    doc JSONB,\n"
    "    cash money,\n"
    "    parent_id INTEGER,\n"
    "    CONSTRAINT thing_pkey PRIMARY KEY (id),\n"
    "    CHECK (qty <> 0),\n"
    "    CONSTRAINT both_positive CHECK ((qty > -5) AND (price < 1000)),\n"
    "    CONSTRAINT no_paren CHECK (body <> ')'),\n"
    "    CONSTRAINT thing_ob_unique UNIQUE (ob, id),\n"
    "    CONSTRAINT thing_owner FOREIGN KEY (ob, oa) REFERENCES owner\n"
    "        ON DELETE SET DEFAULT ON UPDATE RESTRICT,\n"
    "    CONSTRAINT thing_parent FOREIGN KEY (parent_id) REFERENCES thing (id) ON DELETE SET NULL\n"
    ")";

START_TEST(introspect_hand_written_tables)
{
    strata_db *db = th_open();
    th_exec(db, owner_sql);
    char sql[2048];
    /* An autoincrement key: SQLite's rowid alias, PostgreSQL's serial. */
    snprintf(sql, sizeof sql, thing_sql, th_is_pg() ? "SERIAL" : "INTEGER NOT NULL",
             th_is_pg() ? "TEXT" : "CLOB");
    th_exec(db, sql);
    /* Left out: an expression index.  A partial index is read with its
     * condition. */
    th_exec(db, "CREATE INDEX thing_lower_body ON thing (lower(body))");
    th_exec(db, "CREATE INDEX thing_partial ON thing (qty) WHERE qty > 0");
    th_exec(db, "CREATE UNIQUE INDEX thing_big ON thing (big, id)");
    char *text = describe_live(db);
    /* Both engines rewrite check expressions; an unnamed check gets the
     * naming convention's name on SQLite (numbered among the unnamed
     * ones), PostgreSQL's own name there. */
    const char *checks =
        th_is_pg() ? "  check both_positive ((qty > '-5'::integer) AND (price < (1000)::numeric))\n"
                     "  check no_paren (body <> ')'::text)\n"
                     "  check positive (price >= (0)::numeric)\n"
                   : "  check both_positive ((qty > -5) AND (price < 1000))\n"
                     "  check ck_thing_1 (qty <> 0)\n"
                     "  check no_paren (body <> ')')\n"
                     "  check positive (price >= 0)\n";
    /* Strings written without a collation have the database's on
     * PostgreSQL; SQLite's own is bytewise, strata's default. */
    const char *loc = th_is_pg() ? " collation locale" : "";
    char want[4096];
    snprintf(want, sizeof want,
             "table owner\n"
             "  column a integer not null\n"
             "  column b string(10) not null%s\n"
             "  column note string(20) null default 'it''s'%s\n"
             "  primary key owner_key (b, a)\n"
             "table thing\n"
             "  column id integer not null autoincrement\n"
             "  column ob string(10) null%s\n"
             "  column oa integer null\n"
             "  column price numeric(8,2) not null default 0\n"
             "  column qty smallint null default -1\n"
             "  column flag boolean null default false\n"
             "  column ratio float null default 1.5\n"
             "  column big bigint null\n"
             "  column body text null%s\n"
             "  column created datetime null default now\n"
             "  column at_tz datetime_tz null\n"
             "  column day date null default now\n"
             "  column doc json null\n"
             "  column cash sql:money null\n"
             "  column parent_id integer null\n"
             "  primary key thing_pkey (id)\n"
             "  index thing_big unique (big, id)\n"
             "  index thing_partial (qty) where qty > 0\n"
             "%s"
             "  unique thing_ob_unique (ob, id)\n"
             "  foreign key thing_owner (ob, oa) references owner (b, a) on delete SET DEFAULT "
             "on update RESTRICT\n"
             "  foreign key thing_parent (parent_id) references thing (id) on delete SET NULL\n"
             "%s",
             loc, loc, loc, loc, checks, th_is_pg() ? "  check thing_qty_check (qty <> 0)\n" : "");
    ck_assert_str_eq(text, want);
    strata_free(text);

    /* The portable readers say the same. */
    strata_metadata *md;
    th_rc(db, strata_schema_introspect(&md, db, NULL), STRATA_OK);
    strata_table *thing = strata_metadata_find_table(md, "thing");
    ck_assert_ptr_nonnull(thing);
    strata_column *price = strata_table_find_column(thing, "price");
    ck_assert_int_eq(strata_column_type(price), STRATA_SQL_NUMERIC);
    ck_assert_int_eq(strata_column_length(price), 8);
    ck_assert_int_eq(strata_column_scale(price), 2);
    ck_assert_str_eq(strata_column_server_default(price), "0");
    ck_assert_uint_eq(strata_column_flags(price), 0);
    ck_assert_uint_eq(strata_column_flags(strata_table_find_column(thing, "id")),
                      STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT);
    ck_assert_int_eq(strata_column_type(strata_table_find_column(thing, "cash")), STRATA_SQL_RAW);
    ck_assert_ptr_null(strata_column_server_default(strata_table_find_column(thing, "big")));
    ck_assert_ptr_null(strata_table_find_column(thing, "nope"));
    ck_assert_ptr_null(strata_table_find_column(thing, NULL));
    ck_assert_ptr_null(strata_table_find_column(NULL, "id"));
    ck_assert_int_eq(strata_column_length(NULL), 0);
    ck_assert_int_eq(strata_column_scale(NULL), 0);
    ck_assert_ptr_null(strata_column_server_default(NULL));
    ck_assert_uint_eq(strata_column_flags(NULL), 0);
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

/* PostgreSQL only can add a check NOT VALID; it reads back as the check. */
START_TEST(introspect_not_valid_check)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE item (qty INTEGER NOT NULL)");
    if (th_is_pg())
        th_exec(db, "ALTER TABLE item ADD CONSTRAINT small CHECK (qty < 100) NOT VALID");
    else
        th_exec(db, "DROP TABLE item; CREATE TABLE item (qty INTEGER NOT NULL, "
                    "CONSTRAINT small CHECK (qty < 100))");
    char *text = describe_live(db);
    ck_assert_str_eq(text, "table item\n"
                           "  column qty integer not null\n"
                           "  check small (qty < 100)\n");
    strata_free(text);
    strata_db_close(db);
}
END_TEST

/* A partitioned table is one table, whatever its partitions: they are
 * where PostgreSQL keeps its rows, not tables of the schema.  Listed,
 * a comparison with the models would drop them and a copy would read
 * their rows twice.  Each engine describes the same table. */
START_TEST(introspect_partitions_are_their_table)
{
    strata_db *db = th_open();
    char far[64], sql[512];
    snprintf(far, sizeof far, "strata_far_%d", (int)getpid());
    if (th_is_pg()) {
        th_exec(db, "CREATE TABLE measure (id INTEGER NOT NULL, at DATE NOT NULL, v INTEGER, "
                    "CONSTRAINT measure_pkey PRIMARY KEY (id, at)) PARTITION BY RANGE (at)");
        th_exec(db, "CREATE TABLE measure_2025 PARTITION OF measure "
                    "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY HASH (id)");
        th_exec(db, "CREATE TABLE measure_2025_a PARTITION OF measure_2025 "
                    "FOR VALUES WITH (MODULUS 2, REMAINDER 0)");
        th_exec(db, "CREATE TABLE measure_2025_b PARTITION OF measure_2025 "
                    "FOR VALUES WITH (MODULUS 2, REMAINDER 1)");
        th_exec(db, "CREATE TABLE measure_rest PARTITION OF measure DEFAULT");
        th_exec(db, "CREATE INDEX measure_v ON measure (v)");
        /* A partition of a table in another schema is a table here: the
         * only way to its rows from this schema. */
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; "
                 "CREATE TABLE %s.far (id INTEGER NOT NULL, PRIMARY KEY (id)) "
                 "PARTITION BY RANGE (id)", far, far, far);
        th_exec(db, sql);
        snprintf(sql, sizeof sql, "CREATE TABLE far_low PARTITION OF %s.far "
                 "FOR VALUES FROM (0) TO (100)", far);
        th_exec(db, sql);
    } else {
        th_exec(db, "CREATE TABLE measure (id INTEGER NOT NULL, at DATE NOT NULL, v INTEGER, "
                    "CONSTRAINT measure_pkey PRIMARY KEY (id, at))");
        th_exec(db, "CREATE INDEX measure_v ON measure (v)");
        th_exec(db, "CREATE TABLE far_low (id INT NOT NULL, " /* not the rowid */
                    "CONSTRAINT far_low_pkey PRIMARY KEY (id))");
    }
    char *text = describe_live(db);
    ck_assert_str_eq(text, "table far_low\n"
                           "  column id integer not null\n"
                           "  primary key far_low_pkey (id)\n"
                           "table measure\n"
                           "  column id integer not null\n"
                           "  column at date not null\n"
                           "  column v integer null\n"
                           "  primary key measure_pkey (id, at)\n"
                           "  index measure_v (v)\n");
    strata_free(text);
    if (th_is_pg()) {
        /* A key to one partition cannot be said of the one table: refused,
         * with what to do. */
        th_exec(db, "CREATE TABLE pick (id INTEGER PRIMARY KEY, m_id INTEGER, m_at DATE, "
                    "CONSTRAINT pick_m FOREIGN KEY (m_id, m_at) REFERENCES measure_2025 (id, at))");
        strata_metadata *md = NULL;
        th_rc(db, strata_schema_introspect(&md, db, NULL), STRATA_E_UNSUPPORTED);
        ck_assert_ptr_null(md);
        ck_assert_msg(strstr(strata_db_errmsg(db),
                             "table pick: foreign key pick_m refers to measure_2025, a partition "
                             "of measure, which is described as one table: refer to measure "
                             "instead"),
                      "%s", strata_db_errmsg(db));
        snprintf(sql, sizeof sql, "DROP TABLE pick; DROP SCHEMA %s CASCADE", far);
        th_exec(db, sql);
    }
    strata_db_close(db);
}
END_TEST

START_TEST(introspect_refused_with_the_reason)
{
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE item (id INTEGER NOT NULL)");
    strata_metadata *md = (strata_metadata *)1;
    ck_assert_int_eq(strata_schema_introspect(NULL, db, NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_schema_introspect(&md, NULL, NULL), STRATA_E_MISUSE);
    ck_assert_ptr_null(md);
    /* In a failed transaction the catalog queries are refused too; the
     * message says what was being done. */
    th_rc(db, strata_db_begin(db), STRATA_OK);
    ck_assert_int_ne(strata_db_exec(db, "SELECT * FROM missing_table"), STRATA_OK);
    th_rc(db, strata_schema_introspect(&md, db, NULL), STRATA_E_TX_ABORTED);
    ck_assert_ptr_null(md);
    ck_assert_msg(strncmp(strata_db_errmsg(db), "reading the schema: ", 20) == 0, "%s",
                  strata_db_errmsg(db));
    th_rc(db, strata_db_rollback(db), STRATA_OK);
    /* While a streamed statement holds the connection, nothing else runs. */
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT id FROM item"), STRATA_OK);
    th_rc(db, strata_stmt_stream(st), STRATA_OK);
    th_exec(db, "INSERT INTO item (id) VALUES (1)");
    strata_stmt_finalize(st);
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT id FROM item"), STRATA_OK);
    th_rc(db, strata_stmt_stream(st), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    th_rc(db, strata_schema_introspect(&md, db, NULL), STRATA_E_MISUSE);
    th_rc(db, strata_stmt_step(st), STRATA_DONE);
    strata_stmt_finalize(st);
    th_rc(db, strata_schema_introspect(&md, db, NULL), STRATA_OK);
    ck_assert_int_eq(strata_metadata_table_count(md), 1);
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

/* Server defaults the engine stores otherwise than written ('0' on an
 * integer column, 1.50 on a float one, numeric(8,2)'s '2.50') compare by
 * meaning: the live schema read back is no change from the model. */
START_TEST(introspect_defaults_compare_by_meaning)
{
    static const struct {
        const char *name, *type, *def;
    } cols[] = {
        {"n", "integer", "'0'"},       {"m", "bigint", "'-12'"},     {"r", "float", "1.50"},
        {"q", "numeric(8,2)", "'2.50'"}, {"z", "numeric(8,2)", "0.00"}, {"h", "float", ".5"},
        {"s", "string(10)", "'007'"},
    };
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    strata_table *t;
    ck_assert_int_eq(strata_metadata_add_table(md, "dflt", &t), STRATA_OK);
    strata_column *c;
    ck_assert_int_eq(strata_table_add_column(t, "id", "integer", 0, &c), STRATA_OK);
    ck_assert_int_eq(strata_table_set_primary_key(t, NULL, "id"), STRATA_OK);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        ck_assert_int_eq(strata_table_add_column(t, cols[i].name, cols[i].type, 0, &c), STRATA_OK);
        ck_assert_msg(strata_column_set_server_default(c, cols[i].def) == STRATA_OK, "%s: %s",
                      cols[i].name, strata_metadata_errmsg(md));
    }
    /* The quoted number is the number; the quoted text stays text. */
    ck_assert_str_eq(strata_column_server_default(strata_table_find_column(t, "n")), "0");
    ck_assert_str_eq(strata_column_server_default(strata_table_find_column(t, "s")), "'007'");
    strata_db *db = th_open();
    th_rc(db, strata_metadata_create_all(md, db), STRATA_OK);
    strata_metadata *live;
    th_rc(db, strata_schema_introspect(&live, db, NULL), STRATA_OK);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, live, md, strata_db_driver(db)), STRATA_OK);
    ck_assert_msg(strata_diff_count(d) == 0, "%d changes, first: %s", strata_diff_count(d),
                  strata_diff_count(d) ? strata_diff_op_describe(d, 0) : "");
    strata_diff_free(d);
    strata_metadata_free(live);
    strata_metadata_free(md);
    strata_db_close(db);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    tcase_add_test(tc, introspect_defaults_compare_by_meaning);
    (void)e;
    tcase_add_test(tc, introspect_hand_written_tables);
    tcase_add_test(tc, introspect_not_valid_check);
    tcase_add_test(tc, introspect_partitions_are_their_table);
    tcase_add_test(tc, introspect_refused_with_the_reason);
}

static Suite *build(void) { return th_suite("introspect", add); }

int main(void) { return th_run(build); }
