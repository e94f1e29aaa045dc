/*
 * test_migrate.c - migrations on every engine: the tutorial's sequence
 * through autogenerate, upgrade and downgrade with the schema checked
 * after each step; each kind of change there and back with rows kept;
 * a revision failing halfway; bad files; branches and merge; offline SQL
 * that builds the same database; two processes upgrading at once; every
 * operation of the file format by hand; bad files and operations on
 * missing things, each error at its file:line:column.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "../examples/microblog/models.h"

/* ---- helpers ----------------------------------------------------------- */

static const char *repo_dir(void)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/migrations", th_tmpdir());
    return dir;
}

static strata_migrations *repo_open(const char *dir, th_lines *out)
{
    strata_migrations *m;
    int rc = strata_migrations_open(&m, dir);
    ck_assert_msg(rc == STRATA_OK, "open: %s", strata_migrations_errmsg(m));
    strata_migrations_set_output(m, th_collect, out);
    return m;
}

static strata_migrations *repo_init_at(const char *dir, th_lines *out)
{
    strata_migrations *m;
    int rc = strata_migrations_init(&m, dir);
    ck_assert_msg(rc == STRATA_OK, "init: %s", strata_migrations_errmsg(m));
    strata_migrations_free(m);
    return repo_open(dir, out);
}

static strata_migrations *repo_init(th_lines *out) { return repo_init_at(repo_dir(), out); }

static strata_metadata *models_md(const strata_model *a, const strata_model *b,
                                  const strata_model *c)
{
    const strata_model *list[] = {a, b, c, NULL};
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    ck_assert_msg(strata_metadata_add_models(md, list) == STRATA_OK, "%s",
                  strata_metadata_errmsg(md));
    return md;
}

/* The database's schema (version table aside) is `want`. */
static void assert_schema(strata_db *db, const strata_metadata *want)
{
    strata_metadata *live;
    const char *ex[] = {"strata_version", NULL};
    th_rc(db, strata_schema_introspect(&live, db, ex), STRATA_OK);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, live, want, strata_db_driver(db)), STRATA_OK);
    if (strata_diff_count(d)) {
        char *desc;
        strata_metadata_describe(live, &desc);
        ck_abort_msg("schema differs (%d changes, first: %s); the database has:\n%s",
                     strata_diff_count(d), strata_diff_op_describe(d, 0), desc);
    }
    strata_diff_free(d);
    strata_metadata_free(live);
}

static char *current(strata_migrations *m, strata_db *db)
{
    char *cur;
    TH_MOK(m, strata_migrations_current(m, db, &cur));
    return cur;
}

static void assert_current(strata_migrations *m, strata_db *db, const char *want)
{
    char *cur = current(m, db);
    ck_assert_str_eq(cur, want);
    strata_free(cur);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* ---- the tutorial ------------------------------------------------------ */

START_TEST(migrate_tutorial_sequence)
{
    strata_db *db = th_open();
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    /* init refuses an existing repository. */
    strata_migrations *again;
    ck_assert_int_eq(strata_migrations_init(&again, repo_dir()), STRATA_E_MIGRATION);
    ck_assert(strstr(strata_migrations_errmsg(again), "already holds") != NULL);
    strata_migrations_free(again);

    /* db migrate -m "users table" */
    strata_metadata *v1 = models_md(&user_model, NULL, NULL);
    char *users;
    TH_MOK(m, strata_migrations_autogenerate(m, db, v1, "users table", &users));
    ck_assert_ptr_nonnull(users);
    ck_assert_msg(strstr(out.text, "Detected added table 'user'\n") &&
                      strstr(out.text, "Detected added index 'ix_user_email' on '['email']'\n") &&
                      strstr(out.text, "Detected added index 'ix_user_username' on "
                                       "'['username']'\n"),
                  "%s", out.text);
    char want[768];
    snprintf(want, sizeof want, "%s/versions/%s_users_table.yaml", repo_dir(), users);
    ck_assert(access(want, R_OK) == 0);
    ck_assert_int_eq(strata_migrations_count(m), 1);

    /* db upgrade */
    out.text[0] = '\0';
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    snprintf(want, sizeof want, "Running upgrade  -> %s, users table\n", users);
    ck_assert_str_eq(out.text, want);
    assert_schema(db, v1);
    snprintf(want, sizeof want, "%s (head)\n", users);
    assert_current(m, db, want);

    /* db migrate -m "posts table"; db upgrade */
    strata_metadata *v2 = models_md(&user_model, &post_model, NULL);
    char *posts;
    out.text[0] = '\0';
    TH_MOK(m, strata_migrations_autogenerate(m, db, v2, "posts table", &posts));
    ck_assert_msg(
        strstr(out.text, "Detected added table 'post'\n") &&
            strstr(out.text, "Detected added index 'ix_post_timestamp' on '['timestamp']'\n"),
        "%s", out.text);
    out.text[0] = '\0';
    TH_MOK(m, strata_migrations_upgrade(m, db, NULL));
    snprintf(want, sizeof want, "Running upgrade %s -> %s, posts table\n", users, posts);
    ck_assert_str_eq(out.text, want);
    assert_schema(db, v2);

    /* Nothing more to do. */
    char *none;
    out.text[0] = '\0';
    TH_MOK(m, strata_migrations_autogenerate(m, db, v2, "nothing", &none));
    ck_assert_ptr_null(none);
    ck_assert_str_eq(out.text, "No changes in schema detected.\n");
    ck_assert_int_eq(strata_migrations_count(m), 2);
    TH_MOK(m, strata_migrations_check(m, db, v2));
    out.text[0] = '\0';
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    ck_assert_str_eq(out.text, "");

    /* Rows survive a round trip of the posts table's revision. */
    th_exec(db, "INSERT INTO \"user\" (username, email) VALUES ('john', 'john@example.com')");

    /* db downgrade; db downgrade base; db upgrade */
    out.text[0] = '\0';
    TH_MOK(m, strata_migrations_downgrade(m, db, NULL));
    snprintf(want, sizeof want, "Running downgrade %s -> %s, posts table\n", posts, users);
    ck_assert_str_eq(out.text, want);
    assert_schema(db, v1);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM \"user\""), 1);
    TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
    strata_metadata *empty;
    strata_metadata_new(&empty);
    assert_schema(db, empty);
    assert_current(m, db, "");
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    assert_schema(db, v2);

    /* The models change: check fails, migrate + upgrade make it pass. */
    strata_metadata *v3 = models_md(&user_model, &post_model, &followers_model);
    out.text[0] = '\0';
    ck_assert_int_eq(strata_migrations_check(m, db, v3), STRATA_E_OUTDATED);
    ck_assert_msg(strstr(out.text, "Detected added table 'followers'\n"), "%s", out.text);
    char *followers;
    TH_MOK(m, strata_migrations_autogenerate(m, db, v3, "followers", &followers));
    /* Not at head: autogenerate refuses. */
    ck_assert_int_eq(strata_migrations_autogenerate(m, db, v3, "again", &none), STRATA_E_OUTDATED);
    ck_assert_str_eq(strata_migrations_errmsg(m),
                     "Target database is not up to date: run db upgrade first.");
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    assert_schema(db, v3);
    TH_MOK(m, strata_migrations_check(m, db, v3));

    /* history, newest first. */
    char *hist;
    TH_MOK(m, strata_migrations_history(m, NULL, 0, &hist));
    char expect[512];
    snprintf(expect, sizeof expect,
             "%s -> %s (head), followers\n%s -> %s, posts table\n<base> -> %s, users table\n",
             posts, followers, users, posts, users);
    ck_assert_str_eq(hist, expect);
    strata_free(hist);

    /* A fresh load of the repository reads back what was written. */
    strata_migrations *re;
    int rc = strata_migrations_open(&re, repo_dir());
    ck_assert_msg(rc == STRATA_OK, "%s", strata_migrations_errmsg(re));
    ck_assert_int_eq(strata_migrations_count(re), 3);
    TH_MOK(re, strata_migrations_downgrade(re, db, "base"));
    assert_schema(db, empty);
    TH_MOK(re, strata_migrations_upgrade(re, db, "head"));
    assert_schema(db, v3);
    strata_migrations_free(re);

    strata_free(users);
    strata_free(posts);
    strata_free(followers);
    strata_metadata_free(v1);
    strata_metadata_free(v2);
    strata_metadata_free(v3);
    strata_metadata_free(empty);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* ---- each kind of change ----------------------------------------------- */

/* The shape of the schema the change tests use: owner, and item (which
 * holds rows) in one of its variants. */
typedef struct item_shape {
    const char *name_type;
    const char *note; /* the note column's name */
    unsigned note_flags;
    bool owner_id, note_index;
} item_shape;

static strata_metadata *item_md(item_shape s)
{
    strata_metadata *md;
    strata_table *t;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    strata_metadata_add_table(md, "owner", &t);
    strata_table_add_column(t, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    strata_metadata_add_table(md, "item", &t);
    strata_table_add_column(t, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    strata_table_add_column(t, "name", s.name_type, 0, NULL);
    strata_table_add_column(t, s.note, "string(40)", s.note_flags, NULL);
    if (s.owner_id)
        strata_table_add_column(t, "owner_id", "integer", STRATA_NULLABLE, NULL);
    if (s.note_index)
        strata_table_add_index(t, NULL, s.note, 0);
    ck_assert_str_eq(strata_metadata_errmsg(md), "");
    return md;
}

static const item_shape base_shape = {"string(20)", "note", STRATA_NULLABLE, true, true};

/* The schema every change starts from. */
static strata_metadata *base_md(void) { return item_md(base_shape); }

enum change {
    ADD_TABLE,
    ADD_NULLABLE_COLUMN,
    ADD_NOT_NULL_COLUMN_WITH_DEFAULT,
    DROP_COLUMN,
    ADD_INDEX,
    DROP_INDEX,
    ADD_UNIQUE,
    CHANGE_LENGTH,
    CHANGE_NULLABILITY,
    ADD_FOREIGN_KEY,
    ADD_PARTIAL_INDEX,
    ADD_COMPOSITE_UNIQUE,
    ADD_CHECK,
    CHANGES
};

static const char *const change_names[] = {
    "add table",      "add nullable column", "add not null column with default",
    "drop column",    "add index",           "drop index",
    "add unique",     "change length",       "change nullability",
    "add foreign key", "add partial index",  "add composite unique",
    "add check"};

static strata_metadata *changed_md(enum change k)
{
    item_shape shape = base_shape;
    switch (k) {
    case DROP_COLUMN: shape.owner_id = false; return item_md(shape);
    case DROP_INDEX: shape.note_index = false; return item_md(shape);
    case CHANGE_LENGTH: shape.name_type = "string(50)"; return item_md(shape);
    case CHANGE_NULLABILITY: shape.note_flags = 0; return item_md(shape);
    default: break;
    }
    strata_metadata *md = base_md();
    strata_table *t = strata_metadata_find_table(md, "item"), *n;
    strata_column *c;
    switch (k) {
    case ADD_TABLE:
        strata_metadata_add_table(md, "tag", &n);
        strata_table_add_column(n, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT,
                                NULL);
        strata_table_add_column(n, "label", "string(10)", 0, NULL);
        break;
    case ADD_NULLABLE_COLUMN:
        strata_table_add_column(t, "extra", "string(10)", STRATA_NULLABLE, NULL);
        break;
    case ADD_NOT_NULL_COLUMN_WITH_DEFAULT:
        strata_table_add_column(t, "qty", "integer", 0, &c);
        strata_column_set_server_default(c, "0");
        break;
    case ADD_INDEX: strata_table_add_index(t, NULL, "name", 0); break;
    case ADD_UNIQUE: strata_table_add_unique(t, NULL, "name"); break;
    case ADD_PARTIAL_INDEX:
        strata_table_add_partial_index(t, NULL, "name", 1, "note IS NOT NULL");
        break;
    case ADD_COMPOSITE_UNIQUE: strata_table_add_unique(t, "one_name_per_owner", "owner_id, name"); break;
    case ADD_CHECK: strata_table_add_check(t, "named", "length(name) > 0"); break;
    case ADD_FOREIGN_KEY:
        strata_table_add_foreign_key(t, NULL, "owner_id", "owner", "id", STRATA_FK_NO_ACTION,
                                     STRATA_FK_NO_ACTION);
        break;
    default: break;
    }
    ck_assert_str_eq(strata_metadata_errmsg(md), "");
    return md;
}

static void assert_rows_kept(strata_db *db)
{
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item"), 2);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE name = 'b' AND note = 'nb'"), 1);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM owner"), 1);
}

/* A table partitioned by hand on PostgreSQL is the table its model
 * declares: comparing the models with the database finds nothing to
 * change, and above all no partition to drop.  On SQLite the same table,
 * plain. */
START_TEST(migrate_partitions_are_not_dropped)
{
    strata_db *db = th_open();
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    strata_metadata *md = models_md(&user_model, NULL, NULL);
    strata_table *t;
    ck_assert_int_eq(strata_metadata_add_table(md, "measure", &t), STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(t, "id", "integer", 0, NULL), STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(t, "at", "date", 0, NULL), STRATA_OK);
    ck_assert_int_eq(strata_table_add_column(t, "v", "integer", STRATA_NULLABLE, NULL), STRATA_OK);
    ck_assert_int_eq(strata_table_set_primary_key(t, "measure_pkey", "id, at"), STRATA_OK);
    strata_metadata *users = models_md(&user_model, NULL, NULL);
    TH_MOK(m, strata_migrations_autogenerate(m, db, users, "users", NULL));
    strata_metadata_free(users);
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    th_exec(db, th_is_pg() ? "CREATE TABLE measure (id INTEGER NOT NULL, at DATE NOT NULL, "
                             "v INTEGER, CONSTRAINT measure_pkey PRIMARY KEY (id, at)) "
                             "PARTITION BY RANGE (at)"
                           : "CREATE TABLE measure (id INTEGER NOT NULL, at DATE NOT NULL, "
                             "v INTEGER, CONSTRAINT measure_pkey PRIMARY KEY (id, at))");
    if (th_is_pg()) {
        th_exec(db, "CREATE TABLE measure_2025 PARTITION OF measure "
                    "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')");
        th_exec(db, "CREATE TABLE measure_rest PARTITION OF measure DEFAULT");
    }
    th_exec(db, "INSERT INTO measure VALUES (1, '2025-03-01', 1), (2, '2024-03-01', 2)");
    char *id;
    out.text[0] = '\0';
    TH_MOK(m, strata_migrations_autogenerate(m, db, md, "nothing", &id));
    ck_assert_ptr_null(id);
    ck_assert_str_eq(out.text, "No changes in schema detected.\n");
    TH_MOK(m, strata_migrations_check(m, db, md));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM measure"), 2);
    strata_metadata_free(md);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

START_TEST(migrate_each_kind_of_change)
{
    strata_db *db = th_open();
    strata_metadata *a = base_md();
    for (int k = 0; k < CHANGES; k++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/change%d", th_tmpdir(), k);
        th_lines out = {""};
        strata_migrations *m = repo_init_at(dir, &out);
        TH_MOK(m, strata_migrations_autogenerate(m, db, a, "base", NULL));
        TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
        th_exec(db, "INSERT INTO owner (id) VALUES (1)");
        th_exec(db,
                "INSERT INTO item (name, note, owner_id) VALUES ('a', 'na', 1), ('b', 'nb', 1)");
        strata_metadata *b = changed_md((enum change)k);
        char *id;
        TH_MOK(m, strata_migrations_autogenerate(m, db, b, change_names[k], &id));
        ck_assert_msg(id != NULL, "%s: no change detected", change_names[k]);
        int rc = strata_migrations_upgrade(m, db, "head");
        ck_assert_msg(rc == STRATA_OK, "%s: upgrade: %s", change_names[k],
                      strata_migrations_errmsg(m));
        assert_schema(db, b);
        assert_rows_kept(db);
        rc = strata_migrations_downgrade(m, db, "-1");
        ck_assert_msg(rc == STRATA_OK, "%s: downgrade: %s", change_names[k],
                      strata_migrations_errmsg(m));
        assert_schema(db, a);
        assert_rows_kept(db);
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        strata_free(id);
        strata_metadata_free(b);
        strata_migrations_free(m);
    }
    strata_metadata_free(a);
    strata_db_close(db);
}
END_TEST

/* A hand-written revision: rename a column and a table, and a data
 * migration with a variant per engine. */
START_TEST(migrate_hand_written_renames_and_sql)
{
    strata_db *db = th_open();
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    strata_metadata *a = base_md();
    char *base;
    TH_MOK(m, strata_migrations_autogenerate(m, db, a, "base", &base));
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    th_exec(db, "INSERT INTO item (name, note) VALUES ('a', 'na'), ('b', 'nb')");
    char path[600], text[2048];
    snprintf(path, sizeof path, "%s/versions/0000000000aa_renames.yaml", repo_dir());
    snprintf(text, sizeof text,
             "# renames, by hand\n"
             "revision: 0000000000aa\n"
             "down_revision: %s\n"
             "message: renames\n"
             "upgrade:\n"
             "  - alter_column: {table: item, name: note, new_name: remark}\n"
             "  - rename_table: {name: owner, new_name: person}\n"
             "  - sql:\n"
             "      sqlite: UPDATE item SET name = name || '!'\n"
             "      postgresql: UPDATE item SET name = name || '!' -- mark every row\n"
             "  - sql: {default: UPDATE item SET note = 'x', sqlite: ~, postgresql: ''}\n"
             "downgrade:\n"
             "  - sql: \"UPDATE item SET name = substr(name, 1, length(name) - 1)\\n"
             "-- and take the mark off\"\n"
             "  - rename_table: {name: person, new_name: owner}\n"
             "  - alter_column: {table: item, name: remark, new_name: note}\n",
             base);
    write_text(path, text);
    strata_migrations_free(m);
    m = repo_open(repo_dir(), &out);
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE remark = 'nb' AND name = 'b!'"),
                     1);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM person"), 0);
    TH_MOK(m, strata_migrations_downgrade(m, db, "-1"));
    assert_schema(db, a);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE note = 'nb' AND name = 'b'"), 1);
    /* Offline, the same: an operation ending in a comment keeps the
     * statement after it apart. */
    char range[64], *sql;
    snprintf(range, sizeof range, "%s:head", base);
    TH_MOK(m, strata_migrations_upgrade_sql(m, strata_db_driver(db), range, &sql));
    th_exec(db, sql);
    strata_free(sql);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE remark = 'nb' AND name = 'b!'"),
                     1);
    snprintf(range, sizeof range, "head:%s", base);
    TH_MOK(m, strata_migrations_downgrade_sql(m, strata_db_driver(db), range, &sql));
    th_exec(db, sql);
    strata_free(sql);
    assert_schema(db, a);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE note = 'nb' AND name = 'b'"), 1);
    strata_free(base);
    strata_metadata_free(a);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* Revisions run with foreign keys on, as on PostgreSQL: a data migration
 * relying on ON DELETE CASCADE does the same on every engine, and one that
 * would leave a dangling reference fails; a revision rebuilding a
 * referenced table (SQLite) still runs, its references checked after. */
START_TEST(migrate_foreign_keys_stay_on)
{
    strata_db *db = th_open();
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    char path[600];
    snprintf(path, sizeof path, "%s/versions/0000000000f1_base.yaml", repo_dir());
    write_text(path, "revision: 0000000000f1\n"
                     "down_revision: ~\n"
                     "message: base\n"
                     "upgrade:\n"
                     "  - create_table:\n"
                     "      name: parent\n"
                     "      columns:\n"
                     "        - {name: id, type: integer, primary_key: true}\n"
                     "        - {name: label, type: string(10)}\n"
                     "  - create_table:\n"
                     "      name: child\n"
                     "      columns:\n"
                     "        - {name: id, type: integer, primary_key: true}\n"
                     "        - {name: parent_id, type: integer}\n"
                     "      foreign_keys:\n"
                     "        - {name: fk_child_parent, columns: [parent_id], references: parent,"
                     " ref_columns: [id], on_delete: cascade}\n"
                     "  - create_table:\n"
                     "      name: node\n"
                     "      columns:\n"
                     "        - {name: id, type: integer, primary_key: true}\n"
                     "        - {name: up, type: integer}\n"
                     "        - {name: label, type: string(10)}\n"
                     "      foreign_keys:\n"
                     "        - {name: fk_node_up, columns: [up], references: node,"
                     " ref_columns: [id], on_delete: cascade}\n"
                     "  - sql: INSERT INTO parent (id, label) VALUES (1, 'a'), (2, 'b')\n"
                     "  - sql: INSERT INTO child (id, parent_id) VALUES (10, 1), (11, 1), (12, 2)\n"
                     "  - sql: INSERT INTO node (id, up) VALUES (1, NULL), (2, 1), (3, 2)\n"
                     "downgrade:\n"
                     "  - drop_table: {name: node}\n"
                     "  - drop_table: {name: child}\n"
                     "  - drop_table: {name: parent}\n");
    snprintf(path, sizeof path, "%s/versions/0000000000f2_prune.yaml", repo_dir());
    write_text(path, "revision: 0000000000f2\n"
                     "down_revision: 0000000000f1\n"
                     "message: prune\n"
                     "upgrade:\n"
                     "  - sql: DELETE FROM parent WHERE id = 1\n"
                     "downgrade:\n"
                     "  - sql: INSERT INTO parent (id, label) VALUES (1, 'a')\n");
    snprintf(path, sizeof path, "%s/versions/0000000000f3_tree.yaml", repo_dir());
    write_text(path, "revision: 0000000000f3\n"
                     "down_revision: 0000000000f2\n"
                     "message: tree\n"
                     "upgrade:\n"
                     "  - alter_column: {table: node, name: label, type: string(40)}\n"
                     "downgrade:\n"
                     "  - alter_column: {table: node, name: label, type: string(10)}\n");
    snprintf(path, sizeof path, "%s/versions/0000000000f4_widen.yaml", repo_dir());
    write_text(path, "revision: 0000000000f4\n"
                     "down_revision: 0000000000f3\n"
                     "message: widen\n"
                     "upgrade:\n"
                     "  - alter_column: {table: parent, name: label, type: string(40)}\n"
                     "downgrade:\n"
                     "  - alter_column: {table: parent, name: label, type: string(10)}\n");
    snprintf(path, sizeof path, "%s/versions/0000000000f5_orphan.yaml", repo_dir());
    write_text(path, "revision: 0000000000f5\n"
                     "down_revision: 0000000000f4\n"
                     "message: orphan\n"
                     "upgrade:\n"
                     "  - sql: INSERT INTO child (id, parent_id) VALUES (13, 99)\n"
                     "downgrade:\n"
                     "  - sql: DELETE FROM child WHERE id = 13\n");
    strata_migrations_free(m);
    m = repo_open(repo_dir(), &out);
    TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000f2"));
    /* The cascade ran: parent 1's children went with it. */
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM child"), 1);
    /* The rebuild of a table referencing itself (a tree) keeps its rows,
     * and the rebuild of a referenced table the child rows. */
    TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000f3"));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM node WHERE up IS NOT NULL"), 2);
    TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000f4"));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM child WHERE parent_id = 2"), 1);
    /* A dangling reference is refused, and the revision is not recorded. */
    ck_assert_int_eq(strata_migrations_upgrade(m, db, "head"), STRATA_E_FOREIGN_KEY);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM child"), 1);
    /* The connection keeps foreign keys on after the run. */
    th_rc(db, strata_db_exec(db, "INSERT INTO child (id, parent_id) VALUES (14, 98)"),
          STRATA_E_FOREIGN_KEY);
    TH_MOK(m, strata_migrations_downgrade(m, db, "0000000000f1"));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM parent"), 2);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* A repository at dir with two revisions: id1, the base (`base`: its
 * operations and downgrade), and id2 after it (`change`), with one
 * transaction for the run or one per revision. */
static strata_migrations *repo_of_two(const char *dir, bool single, const char *id1,
                                      const char *base, const char *id2, const char *change,
                                      th_lines *out)
{
    char path[700], text[4096];
    strata_migrations_free(repo_init_at(dir, out));
    snprintf(path, sizeof path, "%s/strata.yaml", dir);
    write_text(path,
               single ? "transaction_per_revision: false\n" : "transaction_per_revision: true\n");
    snprintf(path, sizeof path, "%s/versions/%s_base.yaml", dir, id1);
    snprintf(text, sizeof text, "revision: %s\ndown_revision: ~\nmessage: base\nupgrade:\n%s", id1,
             base);
    write_text(path, text);
    snprintf(path, sizeof path, "%s/versions/%s_change.yaml", dir, id2);
    snprintf(text, sizeof text, "revision: %s\ndown_revision: %s\nmessage: change\nupgrade:\n%s",
             id2, id1, change);
    write_text(path, text);
    return repo_open(dir, out);
}

/* A revision that would leave rows referring to nothing is refused on
 * every engine, whatever the transactions: one that drops a table other
 * rows refer to (SQLite's DROP TABLE would delete them through their ON
 * DELETE CASCADE; PostgreSQL refuses the drop), and a data migration
 * inserting a dangling row, with one transaction per revision and with
 * one for the run (foreign keys off throughout on SQLite, checked before
 * the commit).  The rows stay, and the version stays the base. */
START_TEST(migrate_a_dangling_reference_is_refused_on_every_path)
{
    strata_db *db = th_open();
    static const char *const changes[] = {
        "  - drop_table: {name: parent}\n",
        "  - sql: INSERT INTO child (id, parent_id) VALUES (30, 999)\n",
    };
    for (int k = 0; k < 4; k++) {
        bool single = k >= 2;
        char dir[512], change[256];
        snprintf(dir, sizeof dir, "%s/dangling%d", th_tmpdir(), k);
        snprintf(change, sizeof change, "%sdowngrade: []\n", changes[k % 2]);
        th_lines out = {""};
        strata_migrations *m = repo_of_two(
            dir, single, "0000000000d1",
            "  - create_table:\n"
            "      name: parent\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "  - create_table:\n"
            "      name: child\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "        - {name: parent_id, type: integer}\n"
            "      foreign_keys:\n"
            "        - {name: fk_child_parent, columns: [parent_id], references: parent,"
            " ref_columns: [id], on_delete: cascade}\n"
            "  - sql: INSERT INTO parent (id) VALUES (1), (2)\n"
            "  - sql: INSERT INTO child (id, parent_id) VALUES (10, 1), (11, 2)\n"
            "downgrade:\n"
            "  - drop_table: {name: child}\n"
            "  - drop_table: {name: parent}\n",
            "0000000000d2", change, &out);
        TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000d1"));
        int rc = strata_migrations_upgrade(m, db, "head");
        ck_assert_msg(rc != STRATA_OK, "%d: the upgrade went through", k);
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM child"), 2);
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM parent"), 2);
        char *now = NULL;
        TH_MOK(m, strata_migrations_current(m, db, &now));
        ck_assert_msg(now && strstr(now, "0000000000d1") && !strstr(now, "0000000000d2"),
                      "%d: at %s", k, now ? now : "(none)");
        strata_free(now);
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        strata_migrations_free(m);
    }
    strata_db_close(db);
}
END_TEST

/* Rows that referred to missing rows before a revision (written while
 * foreign keys were off, or under a constraint added NOT VALID) do not
 * stop a revision that changes the schema alone, with one transaction per
 * revision and with one for the run: only the tables it rebuilds, drops
 * or renames, and those referring to them, are checked.  One that drops a
 * table still referred to is refused, naming the row; one with a
 * statement of its own (which may have touched any table) checks every
 * reference, and is refused, the rows dangling before included. */
START_TEST(migrate_rows_dangling_before_a_revision_do_not_stop_it)
{
    strata_db *db = th_open();
    static const char *const changes[] = {
        "  - alter_column: {table: parent, name: label, type: string(40)}\n"
        "  - drop_table: {name: spare}\n"
        "downgrade:\n"
        "  - create_table:\n"
        "      name: spare\n"
        "      columns:\n"
        "        - {name: id, type: integer, primary_key: true}\n",
        "  - alter_column: {table: parent, name: label, type: string(40)}\n"
        "  - sql: UPDATE child SET parent_id = 555 WHERE id = 10\n"
        "downgrade: []\n",
        "  - alter_column: {table: parent, name: label, type: string(40)}\n"
        "  - drop_table: {name: parent}\n"
        "downgrade: []\n",
    };
    for (int k = 0; k < 6; k++) {
        bool single = k >= 3, refused = k % 3 != 0;
        char dir[512];
        snprintf(dir, sizeof dir, "%s/before%d", th_tmpdir(), k);
        th_lines out = {""};
        strata_migrations *m = repo_of_two(
            dir, single, "0000000000e1",
            "  - create_table:\n"
            "      name: parent\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "        - {name: label, type: string(10)}\n"
            "  - create_table:\n"
            "      name: child\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "        - {name: parent_id, type: integer}\n"
            "      foreign_keys:\n"
            "        - {name: fk_child_parent, columns: [parent_id], references: parent,"
            " ref_columns: [id], on_delete: cascade}\n"
            "  - create_table:\n"
            "      name: other\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "  - create_table:\n"
            "      name: note\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "        - {name: other_id, type: integer}\n"
            "      foreign_keys:\n"
            "        - {name: fk_note_other, columns: [other_id], references: other,"
            " ref_columns: [id]}\n"
            "  - create_table:\n"
            "      name: spare\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "  - sql: INSERT INTO parent (id, label) VALUES (1, 'a'), (2, 'b')\n"
            "  - sql: INSERT INTO child (id, parent_id) VALUES (10, 1), (11, 2)\n"
            "  - sql: INSERT INTO other (id) VALUES (1)\n"
            "  - sql: INSERT INTO note (id, other_id) VALUES (20, 1)\n"
            "downgrade:\n"
            "  - drop_table: {name: spare}\n"
            "  - drop_table: {name: note}\n"
            "  - drop_table: {name: other}\n"
            "  - drop_table: {name: child}\n"
            "  - drop_table: {name: parent}\n",
            "0000000000e2", changes[k % 3], &out);
        TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000e1"));
        /* A row of note referring to an other that is not there. */
        if (th_is_pg()) {
            th_exec(db, "ALTER TABLE note DROP CONSTRAINT fk_note_other");
            th_exec(db, "INSERT INTO note (id, other_id) VALUES (21, 999)");
            th_exec(db, "ALTER TABLE note ADD CONSTRAINT fk_note_other FOREIGN KEY (other_id) "
                        "REFERENCES other (id) NOT VALID");
        } else {
            th_exec(db, "PRAGMA foreign_keys = OFF");
            th_exec(db, "INSERT INTO note (id, other_id) VALUES (21, 999)");
            th_exec(db, "PRAGMA foreign_keys = ON");
        }
        int rc = strata_migrations_upgrade(m, db, "head");
        char *now = NULL;
        TH_MOK(m, strata_migrations_current(m, db, &now));
        if (refused) {
            ck_assert_msg(rc != STRATA_OK, "%d: the dangling child went through", k);
            const char *msg = strata_migrations_errmsg(m);
            if (k % 3 == 2 && !th_is_pg()) /* the drop's own dangling row, not note's */
                ck_assert_msg(strstr(msg, "table child refers to a row of parent"), "%d: %s", k,
                              msg);
            ck_assert_int_eq(th_int(db, "SELECT count(*) FROM child WHERE parent_id IN (1, 2)"), 2);
            ck_assert_int_eq(th_int(db, "SELECT count(*) FROM parent"), 2);
            ck_assert_msg(now && strstr(now, "0000000000e1"), "%d: at %s", k, now ? now : "-");
        } else {
            ck_assert_msg(rc == STRATA_OK, "%d: %s", k, strata_migrations_errmsg(m));
            ck_assert_int_eq(th_int(db, "SELECT count(*) FROM child"), 2);
            ck_assert_int_eq(th_int(db, th_is_pg() ? "SELECT count(*) FROM pg_tables WHERE "
                                                     "tablename = 'spare' AND schemaname = "
                                                     "current_schema()"
                                                   : "SELECT count(*) FROM sqlite_master WHERE "
                                                     "name = 'spare'"),
                             0);
            ck_assert_msg(now && strstr(now, "0000000000e2"), "%d: at %s", k, now ? now : "-");
        }
        strata_free(now);
        /* The rows dangling before stay as they were.  A rebuild of their
         * own table (SQLite) is refused, saying why. */
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM note WHERE other_id = 999"), 1);
        if (!refused && !th_is_pg()) {
            char path[700];
            snprintf(path, sizeof path, "%s/versions/0000000000e3_note.yaml", dir);
            write_text(path, "revision: 0000000000e3\n"
                             "down_revision: 0000000000e2\n"
                             "message: note\n"
                             "upgrade:\n"
                             "  - alter_column: {table: note, name: other_id, type: bigint}\n"
                             "downgrade: []\n");
            strata_migrations_free(m);
            m = repo_open(dir, &out);
            ck_assert_int_ne(strata_migrations_upgrade(m, db, "head"), STRATA_OK);
            const char *msg = strata_migrations_errmsg(m);
            ck_assert_msg(strstr(msg, single ? "row 2 of table note refers to a row of other"
                                             : "a row of note refers to a row that does not exist"),
                          "%d: %s", k, msg);
        }
        th_exec(db, "DELETE FROM note WHERE id = 21");
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        strata_migrations_free(m);
    }
    strata_db_close(db);
}
END_TEST

/* SQLite matches names without regard to case: a table Parent that a
 * foreign key names `parent` is referenced, and a rebuild of it pauses
 * foreign keys instead of letting its DROP TABLE cascade into the
 * children (PostgreSQL names it exactly); a rename of the table, or of
 * its column Code that the key names `code`, carries over to the child a
 * later operation of the revision rebuilds.  And an index a parent key
 * needs cannot be dropped: SQLite would drop it and break every later
 * insert of the child; PostgreSQL refuses, and so does the check after
 * the drop, with one transaction per revision and with one for the run. */
START_TEST(migrate_references_by_other_case_and_key_indexes_are_kept)
{
    strata_db *db = th_open();
    bool pg = th_is_pg();
    static const char *const changes[] = {
        "  - alter_column: {table: Parent, name: label, type: string(40)}\n"
        "downgrade:\n"
        "  - alter_column: {table: Parent, name: label, type: string(10)}\n",
        "  - drop_index: {table: Parent, name: ux_parent_code}\n"
        "downgrade: []\n",
        "  - rename_table: {name: Parent, new_name: Mother}\n"
        "  - alter_column: {table: child, name: parent_code, type: string(40)}\n"
        "downgrade:\n"
        "  - alter_column: {table: child, name: parent_code, type: string(10)}\n"
        "  - rename_table: {name: Mother, new_name: Parent}\n",
        "  - alter_column: {table: Parent, name: Code, new_name: tag}\n"
        "  - alter_column: {table: child, name: parent_code, type: string(40)}\n"
        "downgrade:\n"
        "  - alter_column: {table: child, name: parent_code, type: string(10)}\n"
        "  - alter_column: {table: Parent, name: tag, new_name: Code}\n",
    };
    for (int k = 0; k < 8; k++) {
        bool single = k >= 4, drop = k % 4 == 1;
        char dir[512], base[2048];
        snprintf(dir, sizeof dir, "%s/case%d", th_tmpdir(), k);
        snprintf(base, sizeof base,
                 "  - create_table:\n"
                 "      name: Parent\n"
                 "      columns:\n"
                 "        - {name: id, type: integer, primary_key: true}\n"
                 "        - {name: Code, type: string(10)}\n"
                 "        - {name: label, type: string(10)}\n"
                 "  - create_index: {table: Parent, name: ux_parent_code, columns: [Code],"
                 " unique: true}\n"
                 "  - create_table:\n"
                 "      name: child\n"
                 "      columns:\n"
                 "        - {name: id, type: integer, primary_key: true}\n"
                 "        - {name: parent_id, type: integer}\n"
                 "        - {name: parent_code, type: string(10)}\n"
                 "      foreign_keys:\n"
                 "        - {name: fk_child_parent, columns: [parent_id], references: %s,"
                 " ref_columns: [id], on_delete: cascade}\n"
                 "        - {name: fk_child_code, columns: [parent_code], references: %s,"
                 " ref_columns: [%s]}\n"
                 "  - sql: INSERT INTO \"Parent\" (id, \"Code\") VALUES (1, 'a'), (2, 'b')\n"
                 "  - sql: INSERT INTO child (id, parent_id, parent_code) VALUES (10, 1, 'a'),"
                 " (11, 2, 'b')\n"
                 "downgrade:\n"
                 "  - drop_table: {name: child}\n"
                 "  - drop_table: {name: Parent}\n",
                 pg ? "Parent" : "parent", pg ? "Parent" : "PARENT", pg ? "Code" : "code");
        th_lines out = {""};
        strata_migrations *m =
            repo_of_two(dir, single, "0000000000c1", base, "0000000000c2", changes[k % 4], &out);
        TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000c1"));
        int rc = strata_migrations_upgrade(m, db, "head");
        if (drop)
            ck_assert_msg(rc != STRATA_OK, "%d: the parent key's index was dropped", k);
        else
            ck_assert_msg(rc == STRATA_OK, "%d: %s", k, strata_migrations_errmsg(m));
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM child"), 2);
        th_exec(db, "INSERT INTO child (id, parent_id, parent_code) VALUES (12, 1, 'a')");
        if (!pg)
            ck_assert_int_eq(th_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        strata_migrations_free(m);
    }
    strata_db_close(db);
}
END_TEST

/* A TYPE change on PostgreSQL converts the way an assignment would: a
 * string shortened below what a row holds is refused, not cut (an
 * explicit cast to VARCHAR(3) would cut it without a word), and a
 * timestamp given a time zone keeps its moment, read as UTC whatever
 * the session's TimeZone.  SQLite's rebuild refuses the string the same
 * way (SQLite itself enforces no length), and keeps the timestamp's
 * moment. */
START_TEST(migrate_a_type_change_neither_cuts_nor_shifts)
{
    strata_db *db = th_open();
    bool pg = th_is_pg();
    if (pg)
        th_exec(db, "SET TIME ZONE 'America/New_York'");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/typechange", th_tmpdir());
    th_lines out = {""};
    strata_migrations *m =
        repo_of_two(dir, false, "0000000000f1",
                    "  - create_table:\n"
                    "      name: ev\n"
                    "      columns:\n"
                    "        - {name: id, type: integer, primary_key: true}\n"
                    "        - {name: s, type: string(10)}\n"
                    "        - {name: at, type: datetime}\n"
                    "  - sql: INSERT INTO ev (id, s, at) VALUES (1, 'abcdefgh', "
                    "'2024-01-01 12:00:00'), (2, 'ab        ', NULL)\n"
                    "downgrade:\n"
                    "  - drop_table: {name: ev}\n",
                    "0000000000f2",
                    "  - alter_column: {table: ev, name: at, type: datetime_tz}\n"
                    "  - alter_column: {table: ev, name: s, type: string(3)}\n"
                    "downgrade:\n"
                    "  - alter_column: {table: ev, name: s, type: string(10)}\n"
                    "  - alter_column: {table: ev, name: at, type: datetime}\n",
                    &out);
    TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000f1"));
    int rc = strata_migrations_upgrade(m, db, "head");
    ck_assert_msg(rc != STRATA_OK, "a string was cut or kept too long");
    ck_assert_int_eq(rc, STRATA_E_TOO_LONG);
    ck_assert_msg(strstr(strata_migrations_errmsg(m), "too long"), "%s",
                  strata_migrations_errmsg(m));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM ev WHERE s = 'abcdefgh'"), 1);
    if (!pg) /* the rebuild's guard went with the failure */
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM sqlite_temp_master"), 0);
    /* Without the string: the moment is kept, and a value longer only by
     * its spaces is cut to the new length, as PostgreSQL cuts it. */
    th_exec(db, "UPDATE ev SET s = 'abc' WHERE id = 1");
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM ev WHERE s = 'ab '"), 1);
    if (!pg)
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM sqlite_temp_master"), 0);
    strata_stmt *st;
    strata_timestamp at = 0, want = 0;
    ck_assert_int_eq(strata_timestamp_parse(&want, "2024-01-01 12:00:00", 19), STRATA_OK);
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT at FROM ev WHERE id = 1"), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    th_rc(db, strata_stmt_column_timestamp(st, 0, &at), STRATA_OK);
    strata_stmt_finalize(st);
    ck_assert_int_eq(at, want);
    TH_MOK(m, strata_migrations_downgrade(m, db, "0000000000f1"));
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT at FROM ev WHERE id = 1"), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    th_rc(db, strata_stmt_column_timestamp(st, 0, &at), STRATA_OK);
    strata_stmt_finalize(st);
    ck_assert_int_eq(at, want);
    TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* A type change that a row breaks: `row`, added before it, makes the
 * upgrade fail with `rc`; `fix` then lets it through. */
typedef struct refused_change {
    const char *change, *row, *fix;
    int rc;
} refused_change;

/* Upgrade m to its head with c's row in the table: refused, the table
 * left as it was (`count_sql` still gives n), then done once the row is
 * fixed, with no guard left behind on SQLite. */
static void refused_then_done(strata_db *db, strata_migrations *m, const refused_change *c,
                              const char *count_sql, int64_t n)
{
    th_exec(db, c->row);
    int rc = strata_migrations_upgrade(m, db, "head");
    ck_assert_msg(rc == c->rc, "%s: %s: %s", c->change, strata_errname(rc),
                  strata_migrations_errmsg(m));
    ck_assert_int_eq(th_int(db, count_sql), n);
    th_exec(db, c->fix);
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    if (!th_is_pg())
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM sqlite_temp_master"), 0);
}

/* A column made an integer: PostgreSQL's cast rounds a float half to
 * even and a numeric half away from zero, reads a text holding a whole
 * number, and refuses anything else or a value out of the new type's
 * range; SQLite's rebuild gives the same values and the same refusals. */
START_TEST(migrate_a_column_made_an_integer)
{
    strata_db *db = th_open();
    static const refused_change bad[] = {
        {"  - alter_column: {table: nums, name: s, type: integer}\n",
         "INSERT INTO nums (id, s) VALUES (4, '2.5')", "UPDATE nums SET s = NULL WHERE id = 4",
         STRATA_E_DATA},
        /* SQLite's affinity would read these as numbers. */
        {"  - alter_column: {table: nums, name: s, type: integer}\n",
         "INSERT INTO nums (id, s) VALUES (4, '1e3')", "UPDATE nums SET s = '+12' WHERE id = 4",
         STRATA_E_DATA},
        {"  - alter_column: {table: nums, name: s, type: bigint}\n",
         "INSERT INTO nums (id, s) VALUES (4, '9223372036854775808')",
         "UPDATE nums SET s = '-9223372036854775808' WHERE id = 4", STRATA_E_RANGE},
        {"  - alter_column: {table: nums, name: b, type: smallint}\n",
         "INSERT INTO nums (id, b) VALUES (4, 70000)", "UPDATE nums SET b = 8 WHERE id = 4",
         STRATA_E_RANGE},
        {"  - alter_column: {table: nums, name: f, type: integer}\n",
         "INSERT INTO nums (id, f) VALUES (4, 3000000000.0)",
         "UPDATE nums SET f = 0.5 WHERE id = 4", STRATA_E_RANGE},
        {"  - alter_column: {table: nums, name: f, type: bigint}\n",
         "INSERT INTO nums (id, f) VALUES (4, 1e19)",
         "UPDATE nums SET f = -9223372036854775808.0 WHERE id = 4", STRATA_E_RANGE},
    };
    for (size_t k = 0; k <= sizeof bad / sizeof bad[0]; k++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/toint%zu", th_tmpdir(), k);
        th_lines out = {""};
        strata_migrations *m = repo_of_two(
            dir, false, "0000000000e1",
            "  - create_table:\n"
            "      name: nums\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "        - {name: f, type: float}\n"
            "        - {name: n, type: 'numeric(10,2)'}\n"
            "        - {name: s, type: string(30)}\n"
            "        - {name: b, type: bigint}\n"
            "  - sql: INSERT INTO nums VALUES (1, 2.5, 2.5, '12', 5), (2, 3.5, -2.5, ' 7', 6), "
            "(3, -2.5, 1.49, NULL, -7), (5, 0.49999999999999994, NULL, NULL, NULL), "
            "(6, -0.49999999999999994, NULL, NULL, NULL), (7, 1.4999999999999998, NULL, NULL, NULL)\n"
            "downgrade:\n"
            "  - drop_table: {name: nums}\n",
            "0000000000e2",
            k < sizeof bad / sizeof bad[0]
                ? bad[k].change
                : "  - alter_column: {table: nums, name: f, type: integer}\n"
                  "  - alter_column: {table: nums, name: n, type: integer}\n"
                  "  - alter_column: {table: nums, name: s, type: integer}\n"
                  "  - alter_column: {table: nums, name: b, type: smallint}\n",
            &out);
        TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000e1"));
        if (k < sizeof bad / sizeof bad[0]) {
            /* A row the change refuses: nothing changes, on either engine. */
            refused_then_done(db, m, &bad[k], "SELECT count(*) FROM nums", 7);
        } else {
            TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
            static const char *const want[] = {"1 2 3 12 5", "2 4 -3 7 6", "3 -2 1 -1 -7"};
            /* Just under one half: 0 (SQLite's round() would give 1). */
            ck_assert_int_eq(th_int(db, "SELECT count(*) FROM nums WHERE id IN (5, 6) AND f = 0"),
                             2);
            ck_assert_int_eq(th_int(db, "SELECT f FROM nums WHERE id = 7"), 1);
            for (int r = 0; r < 3; r++) {
                strata_stmt *st;
                char got[80];
                int64_t v[5];
                th_rc(db,
                      strata_stmt_prepare(&st, db,
                                          "SELECT id, f, n, coalesce(s, -1), b FROM nums WHERE id = ?"),
                      STRATA_OK);
                strata_stmt_bind_int64(st, 1, r + 1);
                th_rc(db, strata_stmt_step(st), STRATA_ROW);
                for (int c = 0; c < 5; c++)
                    th_rc(db, strata_stmt_column_int64(st, c, &v[c]), STRATA_OK);
                strata_stmt_finalize(st);
                snprintf(got, sizeof got, "%lld %lld %lld %lld %lld", (long long)v[0],
                         (long long)v[1], (long long)v[2], (long long)v[3], (long long)v[4]);
                ck_assert_str_eq(got, want[r]);
            }
        }
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        strata_migrations_free(m);
    }
    strata_db_close(db);
}
END_TEST

/* The text of one column of one row, read through a statement. */
static void text_is(strata_db *db, const char *sql, const char *want)
{
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, sql), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    const char *t = NULL;
    size_t n = 0;
    th_rc(db, strata_stmt_column_text(st, 0, &t, &n), STRATA_OK);
    ck_assert_msg(t && !strcmp(t, want), "%s: %s, want %s", sql, t ? t : "NULL", want);
    strata_stmt_finalize(st);
}

/* Other type changes PostgreSQL casts: to a boolean (from an integer, not
 * zero is true; from its words), to a numeric (refused past its
 * precision, or for a text that is no number), to a float, a uuid
 * (lowered) or a json from a text (refused when it is none).  SQLite's
 * rebuild gives the same values and the same refusals. */
START_TEST(migrate_type_changes_convert_or_refuse_alike)
{
    strata_db *db = th_open();
    static const refused_change bad[] = {
        {"  - alter_column: {table: conv, name: t, type: boolean}\n",
         "INSERT INTO conv (id, t) VALUES (4, 'maybe')", "UPDATE conv SET t = 'NO' WHERE id = 4",
         STRATA_E_DATA},
        {"  - alter_column: {table: conv, name: f, type: 'numeric(5,2)'}\n",
         "INSERT INTO conv (id, f) VALUES (4, 12345.6)", "UPDATE conv SET f = 999.5 WHERE id = 4",
         STRATA_E_RANGE},
        {"  - alter_column: {table: conv, name: x, type: 'numeric(8,3)'}\n",
         "INSERT INTO conv (id, x) VALUES (4, 'abc')", "UPDATE conv SET x = '12.5' WHERE id = 4",
         STRATA_E_DATA},
        {"  - alter_column: {table: conv, name: u, type: uuid}\n",
         "INSERT INTO conv (id, u) VALUES (4, 'nope')",
         "UPDATE conv SET u = '00000000-0000-0000-0000-00000000000A' WHERE id = 4", STRATA_E_DATA},
        {"  - alter_column: {table: conv, name: j, type: json}\n",
         "INSERT INTO conv (id, j) VALUES (4, '{bad')", "UPDATE conv SET j = 'null' WHERE id = 4",
         STRATA_E_DATA},
        {"  - alter_column: {table: conv, name: x, type: float}\n",
         "INSERT INTO conv (id, x) VALUES (4, 'abc')", "UPDATE conv SET x = '-0.25' WHERE id = 4",
         STRATA_E_DATA},
        /* Past a float's range: an infinity on SQLite, refused by PostgreSQL. */
        {"  - alter_column: {table: conv, name: x, type: float}\n",
         "INSERT INTO conv (id, x) VALUES (4, '-1e400')",
         "UPDATE conv SET x = '1e300' WHERE id = 4", STRATA_E_RANGE},
        /* A narrower numeric: past its precision, and rounded to its scale. */
        {"  - alter_column: {table: conv, name: p, type: 'numeric(5,2)'}\n",
         "INSERT INTO conv (id, p) VALUES (4, 12345.67)",
         "UPDATE conv SET p = 123.456 WHERE id = 4", STRATA_E_RANGE},
    };
    for (size_t k = 0; k <= sizeof bad / sizeof bad[0]; k++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/conv%zu", th_tmpdir(), k);
        th_lines out = {""};
        strata_migrations *m =
            repo_of_two(dir, false, "0000000000c1",
                        "  - create_table:\n"
                        "      name: conv\n"
                        "      columns:\n"
                        "        - {name: id, type: integer, primary_key: true}\n"
                        "        - {name: i, type: integer}\n"
                        "        - {name: t, type: string(60)}\n"
                        "        - {name: f, type: float}\n"
                        "        - {name: u, type: string(60)}\n"
                        "        - {name: j, type: string(60)}\n"
                        "        - {name: x, type: string(60)}\n"
                        "        - {name: p, type: 'numeric(10,4)'}\n"
                        "        - {name: d, type: string(60)}\n"
                        "  - sql: \"INSERT INTO conv VALUES (1, 5, ' TRUE ', 12.345, "
                        "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{\\\"a\\\": 1}', '1.5', 1.5, "
                        "'12.345'), "
                        "(2, 0, 'of', 2.5, '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12}', '[1, 2]', "
                        "'-3', NULL, '0.125'), "
                        "(3, -1, 'Ye', NULL, 'a0eebc999c0b4ef8bb6d6bb9bd380A13', NULL, '2e3', "
                        "NULL, NULL)\"\n"
                        "downgrade:\n"
                        "  - drop_table: {name: conv}\n",
                        "0000000000c2",
                        k < sizeof bad / sizeof bad[0]
                            ? bad[k].change
                            : "  - alter_column: {table: conv, name: i, type: boolean}\n"
                              "  - alter_column: {table: conv, name: t, type: boolean}\n"
                              "  - alter_column: {table: conv, name: f, type: 'numeric(6,2)'}\n"
                              "  - alter_column: {table: conv, name: u, type: uuid}\n"
                              "  - alter_column: {table: conv, name: j, type: json}\n"
                              "  - alter_column: {table: conv, name: x, type: float}\n"
                              "  - alter_column: {table: conv, name: d, type: 'numeric(6,2)'}\n",
                        &out);
        TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000c1"));
        if (k < sizeof bad / sizeof bad[0]) {
            /* A row the change refuses: nothing changes, on either engine. */
            refused_then_done(db, m, &bad[k], "SELECT count(*) FROM conv", 4);
            if (strstr(bad[k].change, "name: p,"))
                ck_assert_int_eq(th_int(db, "SELECT count(*) FROM conv WHERE p = 123.46"), 1);
        } else {
            TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
            ck_assert_int_eq(th_int(db, "SELECT count(*) FROM conv WHERE i AND t"), 2);
            ck_assert_int_eq(
                th_int(db, "SELECT count(*) FROM conv WHERE NOT i AND NOT t AND id = 2"), 1);
            text_is(db, "SELECT f FROM conv WHERE id = 1", "12.35");
            text_is(db, "SELECT f FROM conv WHERE id = 2", "2.50");
            /* A text made a numeric is rounded to the scale, in storage. */
            ck_assert_int_eq(th_int(db, "SELECT count(*) FROM conv WHERE d = 12.35 OR d = 0.13"),
                             2);
            text_is(db, "SELECT u FROM conv WHERE id = 1", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
            text_is(db, "SELECT u FROM conv WHERE id = 2", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12");
            text_is(db, "SELECT u FROM conv WHERE id = 3", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13");
            text_is(db, "SELECT j FROM conv WHERE id = 2", "[1, 2]");
            ck_assert_int_eq(th_int(db, "SELECT count(*) FROM conv WHERE x = 1.5 OR x = -3 OR "
                                        "x = 2000"),
                             3);
        }
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        strata_migrations_free(m);
    }
    strata_db_close(db);
}
END_TEST

/* A type change PostgreSQL has no cast for (a boolean made a smallint, a
 * date an integer) is refused on every engine before any SQL, naming the
 * column; SQLite's rebuild would keep the values as they were. */
START_TEST(migrate_a_type_change_with_no_cast)
{
    strata_db *db = th_open();
    static const char *const changes[] = {
        "  - alter_column: {table: nc, name: flag, type: smallint}\n",
        "  - alter_column: {table: nc, name: d, type: integer}\n",
        "  - alter_column: {table: nc, name: flag, type: date}\n",
    };
    for (size_t k = 0; k < sizeof changes / sizeof changes[0]; k++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/nocast%zu", th_tmpdir(), k);
        th_lines out = {""};
        strata_migrations *m =
            repo_of_two(dir, false, "0000000000c1",
                        "  - create_table:\n"
                        "      name: nc\n"
                        "      columns:\n"
                        "        - {name: id, type: integer, primary_key: true}\n"
                        "        - {name: flag, type: boolean}\n"
                        "        - {name: d, type: date}\n"
                        "  - sql: INSERT INTO nc (id, flag, d) VALUES (1, true, '2024-01-02')\n"
                        "downgrade:\n"
                        "  - drop_table: {name: nc}\n",
                        "0000000000c2", changes[k], &out);
        TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000c1"));
        int rc = strata_migrations_upgrade(m, db, "head");
        ck_assert_msg(rc == STRATA_E_UNSUPPORTED, "%s: %s", strata_errname(rc),
                      strata_migrations_errmsg(m));
        ck_assert_msg(strstr(strata_migrations_errmsg(m), "no cast between them") &&
                          strstr(strata_migrations_errmsg(m), "nc."),
                      "%s", strata_migrations_errmsg(m));
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM nc WHERE flag = true"), 1);
        /* Offline, the same refusal, in the same words. */
        char *sql = NULL;
        rc = strata_migrations_upgrade_sql(m, strata_db_driver(db), "0000000000c1:head", &sql);
        ck_assert_int_eq(rc, STRATA_E_UNSUPPORTED);
        ck_assert_msg(strstr(strata_migrations_errmsg(m), "no cast between them"), "%s",
                      strata_migrations_errmsg(m));
        ck_assert_ptr_null(sql);
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        strata_migrations_free(m);
    }
    strata_db_close(db);
}
END_TEST

/* A dropped column takes its indexes, unique keys and checks with it on
 * both engines (PostgreSQL drops them itself; SQLite's rebuild must not
 * make them again on a column that is gone); the others stay. */
START_TEST(migrate_a_dropped_column_takes_its_indexes)
{
    strata_db *db = th_open();
    for (int single = 0; single < 2; single++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/dropcol%d", th_tmpdir(), single);
        th_lines out = {""};
        strata_migrations *m =
            repo_of_two(dir, single, "0000000000a1",
                        "  - create_table:\n"
                        "      name: t\n"
                        "      columns:\n"
                        "        - {name: id, type: integer, primary_key: true}\n"
                        "        - {name: a, type: integer}\n"
                        "        - {name: b, type: integer}\n"
                        "      unique:\n"
                        "        - {name: uq_t_a_b, columns: [a, b]}\n"
                        "      checks:\n"
                        "        - {name: ck_t_a, sql: a > 0}\n"
                        "        - {name: ck_t_b, sql: \"b > 0 AND 'a' <> ''\"}\n"
                        "  - create_index: {table: t, name: ix_t_a, columns: [a]}\n"
                        "  - create_index: {table: t, name: ix_t_b, columns: [b], where: a > 1}\n"
                        "  - create_index: {table: t, name: ix_t_bb, columns: [b]}\n"
                        "  - sql: INSERT INTO t (id, a, b) VALUES (1, 2, 3)\n"
                        "downgrade:\n"
                        "  - drop_table: {name: t}\n",
                        "0000000000a2",
                        "  - drop_column: {table: t, name: a}\n"
                        "downgrade:\n"
                        "  - add_column: {table: t, column: {name: a, type: integer}}\n",
                        &out);
        TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
        ck_assert_int_eq(th_int(db, "SELECT b FROM t WHERE id = 1"), 3);
        th_exec(db, "INSERT INTO t (id, b) VALUES (2, 3)");
        /* A check whose text holds the name only inside a string stays. */
        ck_assert_int_ne(strata_db_exec(db, "INSERT INTO t (id, b) VALUES (3, -3)"), STRATA_OK);
        ck_assert_int_eq(th_int(db, th_is_pg() ? "SELECT count(*) FROM pg_indexes WHERE "
                                                 "indexname = 'ix_t_bb'"
                                               : "SELECT count(*) FROM sqlite_master WHERE "
                                                 "name = 'ix_t_bb'"),
                         1);
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        strata_migrations_free(m);
    }
    strata_db_close(db);
}
END_TEST

/* A key the database numbers in the models and not in the database (or
 * the other way round) is said, not written: no operation changes it,
 * so autogenerate writes no file (one it wrote before made every later
 * command fail), and check says it too. */
START_TEST(migrate_autoincrement_differences_are_said_not_written)
{
    strata_db *db = th_open();
    for (int numbered = 0; numbered < 2; numbered++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/autoinc%d", th_tmpdir(), numbered);
        th_lines out = {""};
        strata_migrations *m = repo_init_at(dir, &out);
        strata_metadata *md;
        strata_table *t;
        ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
        ck_assert_int_eq(strata_metadata_add_table(md, "ai", &t), STRATA_OK);
        ck_assert_int_eq(strata_table_add_column(
                             t, "id", "integer",
                             STRATA_PRIMARY_KEY | (numbered ? STRATA_AUTOINCREMENT : 0), NULL),
                         STRATA_OK);
        ck_assert_int_eq(strata_table_add_column(t, "a", "string(10)", STRATA_NULLABLE, NULL),
                         STRATA_OK);
        char *id = NULL;
        TH_MOK(m, strata_migrations_autogenerate(m, db, md, "ai", &id));
        TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
        strata_free(id);
        /* The same table, its key numbered the other way. */
        strata_metadata *other;
        ck_assert_int_eq(strata_metadata_new(&other), STRATA_OK);
        ck_assert_int_eq(strata_metadata_add_table(other, "ai", &t), STRATA_OK);
        ck_assert_int_eq(strata_table_add_column(
                             t, "id", "integer",
                             STRATA_PRIMARY_KEY | (numbered ? 0 : STRATA_AUTOINCREMENT), NULL),
                         STRATA_OK);
        ck_assert_int_eq(strata_table_add_column(t, "a", "string(10)", STRATA_NULLABLE, NULL),
                         STRATA_OK);
        out.text[0] = '\0';
        TH_MOK(m, strata_migrations_autogenerate(m, db, other, "again", &id));
        ck_assert_ptr_null(id);
        ck_assert_msg(
            strstr(out.text, "WARNING: table ai: column id is numbered by the database") &&
                strstr(out.text, numbered ? "in the database only" : "in the models only") &&
                strstr(out.text, "No changes in schema detected."),
            "%s", out.text);
        ck_assert_int_eq(strata_migrations_count(m), 1);
        out.text[0] = '\0';
        TH_MOK(m, strata_migrations_check(m, db, other));
        ck_assert_msg(strstr(out.text, "WARNING: table ai"), "%s", out.text);
        /* The repository still opens, and its commands run. */
        strata_migrations_free(m);
        m = repo_open(dir, &out);
        strata_free(current(m, db));
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        strata_metadata_free(other);
        strata_metadata_free(md);
        strata_migrations_free(m);
    }
    strata_db_close(db);
}
END_TEST

/* A column only a partial index's condition names is dropped with that
 * index on every engine (SQLite's own DROP COLUMN refuses it: the table
 * is rebuilt without the index), and the rows stay. */
START_TEST(migrate_a_column_named_in_a_partial_index_is_dropped)
{
    strata_db *db = th_open();
    /* b, which the index's condition names; c, which it does not: that
     * drop is SQLite's plain DROP COLUMN, foreign keys on, so the
     * revision's own DELETE cascades to pc as on PostgreSQL. */
    for (int named = 1; named >= 0; named--) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/partialdrop%d", th_tmpdir(), named);
        th_lines out = {""};
        strata_migrations *m = repo_of_two(
            dir, false, "0000000000d1",
            "  - create_table:\n"
            "      name: pt\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "        - {name: a, type: integer}\n"
            "        - {name: b, type: integer}\n"
            "        - {name: c, type: integer, nullable: true}\n"
            "  - create_table:\n"
            "      name: pc\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "        - {name: pt_id, type: integer}\n"
            "      foreign_keys:\n"
            "        - {name: fk_pc_pt, columns: [pt_id], references: pt, ref_columns: [id],"
            " on_delete: cascade}\n"
            "  - create_index: {table: pt, name: ix_pt_a_live, columns: [a], where: b > 0}\n"
            "  - sql: INSERT INTO pt (id, a, b) VALUES (1, 2, 3), (2, 4, -1)\n"
            "  - sql: INSERT INTO pc (id, pt_id) VALUES (1, 1), (2, 2)\n"
            "downgrade:\n"
            "  - drop_table: {name: pc}\n"
            "  - drop_table: {name: pt}\n",
            "0000000000d2",
            named ? "  - drop_column: {table: pt, name: b}\n"
                    "downgrade:\n"
                    "  - add_column: {table: pt, column: {name: b, type: integer}}\n"
                  : "  - drop_column: {table: pt, name: c}\n"
                    "  - sql: DELETE FROM pt WHERE id = 2\n"
                    "downgrade:\n"
                    "  - add_column: {table: pt, column: {name: c, type: integer}}\n",
            &out);
        TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
        ck_assert_int_eq(th_int(db, "SELECT sum(a) FROM pt"), named ? 6 : 2);
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM pc"), named ? 2 : 1);
        ck_assert_int_eq(th_int(db, th_is_pg() ? "SELECT count(*) FROM pg_indexes WHERE "
                                                 "indexname = 'ix_pt_a_live'"
                                               : "SELECT count(*) FROM sqlite_master WHERE "
                                                 "name = 'ix_pt_a_live'"),
                         named ? 0 : 1);
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        strata_migrations_free(m);
    }
    strata_db_close(db);
}
END_TEST

/* A revision that drops a table nothing refers to runs with foreign keys
 * on, so its own statements' ON DELETE actions run on SQLite as on
 * PostgreSQL.  One that rebuilds a referenced table runs on SQLite with
 * them off, and says what that means for its statements. */
START_TEST(migrate_own_statements_keep_their_foreign_key_actions)
{
    strata_db *db = th_open();
    for (int rebuild = 0; rebuild < 2; rebuild++) {
        char dir[512], change[600];
        snprintf(dir, sizeof dir, "%s/fkactions%d", th_tmpdir(), rebuild);
        snprintf(change, sizeof change,
                 "%s"
                 "  - sql: DELETE FROM fp WHERE id = 1\n"
                 "downgrade:\n"
                 "%s",
                 rebuild ? "  - alter_column: {table: fp, name: label, type: string(40)}\n"
                         : "  - drop_table: {name: junk}\n",
                 rebuild ? "  - alter_column: {table: fp, name: label, type: string(10)}\n"
                         : "  - create_table:\n"
                           "      name: junk\n"
                           "      columns:\n"
                           "        - {name: id, type: integer, primary_key: true}\n");
        th_lines out = {""};
        strata_migrations *m = repo_of_two(
            dir, false, "0000000000e1",
            "  - create_table:\n"
            "      name: fp\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "        - {name: label, type: string(10)}\n"
            "  - create_table:\n"
            "      name: fc\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "        - {name: fp_id, type: integer}\n"
            "      foreign_keys:\n"
            "        - {name: fk_fc_fp, columns: [fp_id], references: fp, ref_columns: [id],"
            " on_delete: cascade}\n"
            "  - create_table:\n"
            "      name: junk\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "  - sql: INSERT INTO fp (id, label) VALUES (1, 'a'), (2, 'b')\n"
            "  - sql: INSERT INTO fc (id, fp_id) VALUES (10, 1), (20, 2)\n"
            "downgrade:\n"
            "  - drop_table: {name: junk}\n"
            "  - drop_table: {name: fc}\n"
            "  - drop_table: {name: fp}\n",
            "0000000000e2", change, &out);
        TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000e1"));
        out.text[0] = '\0';
        int rc = strata_migrations_upgrade(m, db, "head");
        bool paused = rebuild && !th_is_pg();
        if (!paused) {
            /* The child of the deleted row went with it, as on PostgreSQL. */
            TH_MOK(m, rc);
            ck_assert_int_eq(th_int(db, "SELECT count(*) FROM fc"), 1);
            ck_assert_ptr_null(strstr(out.text, "foreign keys off"));
        } else {
            /* Paused: the row left referring to nothing is refused, and
             * the warning said why. */
            ck_assert_int_ne(rc, STRATA_OK);
            ck_assert_int_eq(th_int(db, "SELECT count(*) FROM fc"), 2);
            ck_assert_msg(strstr(out.text, "WARNING: 0000000000e2 rebuilds or drops a table other "
                                           "tables refer to"),
                          "%s", out.text);
        }
        if (!rc)
            TH_MOK(m, strata_migrations_downgrade(m, db, "0000000000e1"));
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        ck_assert_int_eq(th_int(db, th_is_pg() ? "SELECT count(*) FROM pg_tables WHERE "
                                                 "tablename = 'junk'"
                                               : "SELECT count(*) FROM sqlite_master WHERE "
                                                 "name = 'junk'"),
                         0);
        strata_migrations_free(m);
    }
    strata_db_close(db);
}
END_TEST

/* Steps on one column within a revision are each applied, as PostgreSQL
 * applies them, on SQLite too, where one rebuild would compare only the
 * table before the first step with the table after the last: a column
 * dropped and added again comes back empty, a server default dropped
 * after it filled a new column leaves the values, and a type changed
 * there and back keeps what the first change did to the values. */
START_TEST(migrate_steps_on_one_column_are_each_applied)
{
    strata_db *db = th_open();
    for (int single = 0; single < 2; single++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/steps%d", th_tmpdir(), single);
        th_lines out = {""};
        strata_migrations *m = repo_of_two(
            dir, single, "0000000000b1",
            "  - create_table:\n"
            "      name: t\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "        - {name: a, type: integer, nullable: true}\n"
            "        - {name: b, type: string(20), nullable: true}\n"
            "        - {name: f, type: float, nullable: true}\n"
            "        - {name: n, type: 'numeric(10,4)', nullable: true}\n"
            "  - sql: \"INSERT INTO t (id, a, b, f, n) VALUES (1, 10, 'old', 3.7, 1.2345), "
            "(2, 20, 'old', 1.2, 9.8765)\"\n"
            "downgrade:\n"
            "  - drop_table: {name: t}\n",
            "0000000000b2",
            "  - alter_column: {table: t, name: a, nullable: false}\n"
            "  - drop_column: {table: t, name: b}\n"
            "  - add_column: {table: t, column: {name: b, type: integer, nullable: true}}\n"
            "  - add_column: {table: t, column: {name: flag, type: integer, server_default: '0'}}\n"
            "  - alter_column: {table: t, name: flag, server_default: null}\n"
            "  - alter_column: {table: t, name: f, type: integer}\n"
            "  - alter_column: {table: t, name: f, type: float}\n"
            "  - alter_column: {table: t, name: n, type: 'numeric(10,2)'}\n"
            "  - alter_column: {table: t, name: n, type: 'numeric(10,4)'}\n"
            "downgrade:\n"
            "  - drop_column: {table: t, name: flag}\n",
            &out);
        TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE b IS NULL"), 2);
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE flag = 0"), 2);
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id = 1 AND f = 4"), 1);
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id = 2 AND f = 1"), 1);
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id = 1 AND n = 1.23"), 1);
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM t WHERE id = 2 AND n = 9.88"), 1);
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        strata_migrations_free(m);
    }
    strata_db_close(db);
}
END_TEST

/* A column renamed is renamed in the table's checks and partial indexes
 * too (PostgreSQL does it itself): SQLite's rebuild later in the revision
 * makes them on the new name, and they still hold. */
START_TEST(migrate_a_renamed_column_is_renamed_in_checks)
{
    strata_db *db = th_open();
    for (int single = 0; single < 2; single++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/renck%d", th_tmpdir(), single);
        th_lines out = {""};
        strata_migrations *m = repo_of_two(
            dir, single, "0000000000b1",
            "  - create_table:\n"
            "      name: t\n"
            "      columns:\n"
            "        - {name: id, type: integer, primary_key: true}\n"
            "        - {name: qty, type: integer}\n"
            "        - {name: note, type: string(10)}\n"
            "        - {name: upper, type: string(10)}\n"
            "      checks:\n"
            "        - {name: ck_t_qty, sql: \"qty >= 0 AND note <> 'qty'\"}\n"
            "        - {name: ck_t_upper, sql: upper(upper) = upper}\n"
            "  - create_index: {table: t, name: ix_t_pos, columns: [id], where: qty > 0}\n"
            "  - sql: INSERT INTO t (id, qty, note, upper) VALUES (1, 2, 'a', 'A')\n"
            "downgrade:\n"
            "  - drop_table: {name: t}\n",
            "0000000000b2",
            "  - alter_column: {table: t, name: qty, new_name: quantity}\n"
            "  - alter_column: {table: t, name: upper, new_name: code}\n"
            "  - alter_column: {table: t, name: note, type: string(20)}\n"
            "downgrade:\n"
            "  - alter_column: {table: t, name: note, type: string(10)}\n"
            "  - alter_column: {table: t, name: code, new_name: upper}\n"
            "  - alter_column: {table: t, name: quantity, new_name: qty}\n",
            &out);
        TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
        ck_assert_int_eq(th_int(db, "SELECT quantity FROM t WHERE id = 1"), 2);
        ck_assert_int_ne(
            strata_db_exec(db, "INSERT INTO t (id, quantity, note) VALUES (2, -1, 'b')"),
            STRATA_OK);
        ck_assert_int_ne(
            strata_db_exec(db, "INSERT INTO t (id, quantity, note) VALUES (3, 1, 'qty')"),
            STRATA_OK);
        th_exec(db, "INSERT INTO t (id, quantity, note) VALUES (4, 1, 'c')");
        /* upper(upper): the function keeps its name, the column gets its. */
        ck_assert_int_ne(
            strata_db_exec(db, "INSERT INTO t (id, quantity, code) VALUES (5, 1, 'b')"), STRATA_OK);
        th_exec(db, "INSERT INTO t (id, quantity, code) VALUES (6, 1, 'B')");
        TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
        strata_migrations_free(m);
    }
    strata_db_close(db);
}
END_TEST

/* A failed sql operation is named by the text this engine ran, with the
 * literal after PASSWORD hidden, as in the echo. */
START_TEST(migrate_a_failed_sql_operation_is_named_without_its_password)
{
    strata_db *db = th_open();
    char dir[512], path[700];
    snprintf(dir, sizeof dir, "%s/rolepass", th_tmpdir());
    th_lines out = {""};
    strata_migrations *m = repo_init_at(dir, &out);
    strata_migrations_free(m);
    snprintf(path, sizeof path, "%s/versions/0000000000e1_role.yaml", dir);
    write_text(path, "revision: 0000000000e1\n"
                     "down_revision: ~\n"
                     "message: role\n"
                     "upgrade:\n"
                     "  - sql:\n"
                     "      sqlite: ALTER ROLE lite_side PASSWORD 'r0lepass'\n"
                     "      postgresql: ALTER ROLE strata_pg_side PASSWORD E'r0le\\'pass'\n"
                     "downgrade: []\n");
    m = repo_open(dir, &out);
    ck_assert_int_ne(strata_migrations_upgrade(m, db, "head"), STRATA_OK);
    const char *msg = strata_migrations_errmsg(m);
    ck_assert_msg(!strstr(msg, "r0le") && !strstr(msg, "pass'"), "%s", msg);
    ck_assert_msg(strstr(msg, th_is_pg() ? "ALTER ROLE strata_pg_side PASSWORD '***'"
                                         : "ALTER ROLE lite_side PASSWORD '***'"),
                  "%s", msg);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* A change SQLite makes by rebuilding the table keeps what the schema
 * does not describe: the table's triggers, its indexes on expressions,
 * and views that name it; a table whose definition says more than the
 * schema can (AUTOINCREMENT) is refused, not rebuilt without it. */
START_TEST(migrate_a_rebuild_keeps_triggers_views_and_expression_indexes)
{
    strata_db *db = th_open();
    char dir[512], path[700];
    snprintf(dir, sizeof dir, "%s/rebuild-keeps", th_tmpdir());
    th_lines out = {""};
    strata_migrations *m = repo_init_at(dir, &out);
    strata_migrations_free(m);
    snprintf(path, sizeof path, "%s/versions/0000000000c1_base.yaml", dir);
    write_text(path,
               "revision: 0000000000c1\n"
               "down_revision: ~\n"
               "message: base\n"
               "upgrade:\n"
               "  - create_table:\n"
               "      name: parent\n"
               "      columns:\n"
               "        - {name: id, type: integer, primary_key: true}\n"
               "        - {name: name, type: string(10)}\n"
               "        - {name: qty, type: integer}\n"
               "  - create_table:\n"
               "      name: audit\n"
               "      columns:\n"
               "        - {name: what, type: string(80), primary_key: true}\n"
               "  - sql:\n"
               "      sqlite: CREATE TRIGGER trg_parent AFTER INSERT ON parent BEGIN INSERT INTO "
               "audit (what) VALUES (NEW.name); END\n"
               "      postgresql: CREATE OR REPLACE FUNCTION trg_parent_fn() RETURNS trigger "
               "LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit (what) VALUES (NEW.name); RETURN "
               "NEW; END $$; CREATE TRIGGER trg_parent AFTER INSERT ON parent FOR EACH ROW "
               "EXECUTE FUNCTION trg_parent_fn()\n"
               "  - sql: CREATE VIEW v_parent AS SELECT id FROM parent\n"
               "  - sql: CREATE INDEX ix_parent_lower ON parent (lower(name))\n"
               "downgrade: []\n");
    snprintf(path, sizeof path, "%s/versions/0000000000c2_wider.yaml", dir);
    write_text(path, "revision: 0000000000c2\n"
                     "down_revision: 0000000000c1\n"
                     "message: wider\n"
                     "upgrade:\n"
                     "  - alter_column: {table: parent, name: name, type: string(80)}\n"
                     "downgrade: []\n");
    if (!th_is_pg()) {
        snprintf(path, sizeof path, "%s/versions/0000000000c3_drop.yaml", dir);
        write_text(path, "revision: 0000000000c3\n"
                         "down_revision: 0000000000c2\n"
                         "message: drop\n"
                         "upgrade:\n"
                         "  - alter_column: {table: parent, name: qty, type: bigint}\n"
                         "  - drop_column: {table: parent, name: name}\n"
                         "downgrade: []\n");
    }
    m = repo_open(dir, &out);
    TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000c1"));
    if (!th_is_pg()) /* an index of a collation the schema does not carry */
        th_exec(db, "CREATE UNIQUE INDEX ux_parent_name ON parent (name COLLATE NOCASE)");
    TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000c2"));
    th_exec(db, "INSERT INTO parent (id, name) VALUES (1, 'a name longer than ten')");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM audit"), 1);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM v_parent"), 1);
    ck_assert_int_eq(th_int(db, th_is_pg() ? "SELECT count(*) FROM pg_indexes WHERE "
                                             "indexname = 'ix_parent_lower' AND "
                                             "schemaname = current_schema()"
                                           : "SELECT count(*) FROM sqlite_master WHERE "
                                             "name = 'ix_parent_lower'"),
                     1);
    if (!th_is_pg()) {
        th_rc(db, strata_db_exec(db, "INSERT INTO parent (id, name) VALUES (2, 'A NAME LONGER "
                                     "THAN TEN')"),
              STRATA_E_UNIQUE);
        /* A trigger using a column the change drops: refused, not made
         * again broken. */
        th_exec(db, "DROP INDEX ux_parent_name");
        int rc = strata_migrations_upgrade(m, db, "head");
        ck_assert_msg(rc == STRATA_E_UNSUPPORTED, "%s", strata_migrations_errmsg(m));
        ck_assert_msg(strstr(strata_migrations_errmsg(m),
                             "trigger trg_parent of table parent uses column name"),
                      "%s", strata_migrations_errmsg(m));
        ck_assert_int_eq(th_int(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                    "'trg_parent'"),
                         1);
        /* AUTOINCREMENT refuses a rebuild; a CHECK's own COLLATE, or the
         * word in a comment, does not. */
        char dir2[512];
        snprintf(dir2, sizeof dir2, "%s/rebuild-refuses", th_tmpdir());
        strata_migrations *m2 = repo_init_at(dir2, &out);
        strata_migrations_free(m2);
        snprintf(path, sizeof path, "%s/strata.yaml", dir2);
        write_text(path, "version_table: strata_refuse\n");
        snprintf(path, sizeof path, "%s/versions/0000000000e1_checked.yaml", dir2);
        write_text(path, "revision: 0000000000e1\n"
                         "down_revision: ~\n"
                         "message: checked\n"
                         "upgrade:\n"
                         "  - alter_column: {table: checked, name: note, nullable: false}\n"
                         "downgrade: []\n");
        snprintf(path, sizeof path, "%s/versions/0000000000e2_counted.yaml", dir2);
        write_text(path, "revision: 0000000000e2\n"
                         "down_revision: 0000000000e1\n"
                         "message: counted\n"
                         "upgrade:\n"
                         "  - alter_column: {table: counted, name: n, nullable: false}\n"
                         "downgrade: []\n");
        th_exec(db, "CREATE TABLE checked (id INTEGER PRIMARY KEY, -- not autoincrement\n"
                    "note TEXT, CHECK (note <> 'x' COLLATE NOCASE))");
        th_exec(db, "CREATE TABLE counted (id INTEGER PRIMARY KEY AUTOINCREMENT, n TEXT)");
        m2 = repo_open(dir2, &out);
        rc = strata_migrations_upgrade(m2, db, "head");
        ck_assert_msg(rc == STRATA_E_UNSUPPORTED, "%s", strata_migrations_errmsg(m2));
        ck_assert_msg(strstr(strata_migrations_errmsg(m2), "table counted has AUTOINCREMENT"),
                      "%s", strata_migrations_errmsg(m2));
        th_rc(db, strata_db_exec(db, "INSERT INTO checked (note) VALUES (NULL)"),
              STRATA_E_NOT_NULL);
        th_exec(db, "INSERT INTO counted (n) VALUES (NULL)"); /* the column as it was */
        th_exec(db, "DROP TABLE counted");
        th_exec(db, "DROP TABLE checked");
        th_exec(db, "DROP TABLE strata_refuse");
        strata_migrations_free(m2);
        /* So are the table's other clauses a rebuild would drop, each
         * changing what the table does. */
        static const struct {
            const char *def, *said;
        } odd[] = {
            {"(id INTEGER PRIMARY KEY, n TEXT) STRICT", "has STRICT"},
            {"(id INTEGER PRIMARY KEY, n TEXT) WITHOUT ROWID", "has WITHOUT ROWID"},
            {"(id INTEGER PRIMARY KEY, n TEXT, u INTEGER UNIQUE ON CONFLICT REPLACE)",
             "has an ON CONFLICT clause"},
            {"(id INTEGER PRIMARY KEY, n TEXT, p INTEGER REFERENCES odd (id) DEFERRABLE "
             "INITIALLY DEFERRED)",
             "has a DEFERRABLE foreign key"},
            /* Not those: rebuilt. */
            {"(id INTEGER PRIMARY KEY, n TEXT, p INTEGER REFERENCES odd (id) NOT DEFERRABLE)",
             NULL},
            {"(id INTEGER PRIMARY KEY, n TEXT, conflict TEXT, strict TEXT)", NULL},
        };
        for (size_t k = 0; k < sizeof odd / sizeof *odd; k++) {
            snprintf(dir2, sizeof dir2, "%s/rebuild-refuses-%zu", th_tmpdir(), k);
            m2 = repo_init_at(dir2, &out);
            strata_migrations_free(m2);
            snprintf(path, sizeof path, "%s/strata.yaml", dir2);
            write_text(path, "version_table: strata_odd\n");
            snprintf(path, sizeof path, "%s/versions/0000000000f1_odd.yaml", dir2);
            write_text(path, "revision: 0000000000f1\n"
                             "down_revision: ~\n"
                             "message: odd\n"
                             "upgrade:\n"
                             "  - alter_column: {table: odd, name: n, nullable: false}\n"
                             "downgrade: []\n");
            char sql[200];
            snprintf(sql, sizeof sql, "CREATE TABLE odd %s", odd[k].def);
            th_exec(db, sql);
            m2 = repo_open(dir2, &out);
            rc = strata_migrations_upgrade(m2, db, "head");
            if (!odd[k].said) {
                ck_assert_msg(rc == STRATA_OK, "%s: %s", odd[k].def, strata_migrations_errmsg(m2));
                th_rc(db, strata_db_exec(db, "INSERT INTO odd (id, n) VALUES (1, NULL)"),
                      STRATA_E_NOT_NULL);
            } else {
                ck_assert_msg(rc == STRATA_E_UNSUPPORTED, "%s: %s", odd[k].def,
                              strata_migrations_errmsg(m2));
                ck_assert_msg(strstr(strata_migrations_errmsg(m2), odd[k].said), "%s",
                              strata_migrations_errmsg(m2));
                ck_assert_int_eq(th_int(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                            "'odd' AND sql LIKE '%n TEXT%'"),
                                 1);
            }
            th_exec(db, "DROP TABLE odd");
            th_exec(db, "DROP TABLE strata_odd");
            strata_migrations_free(m2);
        }
    }
    th_exec(db, "DROP VIEW v_parent");
    th_exec(db, "DROP TABLE parent");
    th_exec(db, "DROP TABLE audit");
    th_exec(db, "DROP TABLE strata_version");
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* ---- every operation of the file format, written by hand --------------- */

static const char every_op_a[] =
    "revision: 00000000000a\n"
    "down_revision: ~\n"
    "message: base\n"
    "upgrade:\n"
    "  - create_table:\n"
    "      name: owner\n"
    "      columns:\n"
    "        - {name: id, type: integer, primary_key: true, autoincrement: true}\n"
    "        - {name: name, type: string(40), nullable: false}\n"
    "        - {name: active, type: boolean, nullable: no, server_default: 'true'}\n"
    "      indexes: [{name: ix_owner_name, columns: [name], unique: yes}]\n"
    "      checks: [{name: ck_owner_named, sql: length(name) > 0}]\n"
    "  - create_table:\n"
    "      name: item\n"
    "      columns:\n"
    "        - {name: id, type: integer, nullable: false}\n"
    "        - {name: code, type: string(8)}\n"
    "        - {name: qty, type: integer, server_default: null}\n"
    "        - {name: note, type: text}\n"
    "        - {name: owner_id, type: integer, nullable: False}\n"
    "        - {name: maker_id, type: integer}\n"
    "      primary_key: {name: pk_item, columns: id}\n"
    "      unique: [{name: uq_item_owner_code, columns: [owner_id, code]}]\n"
    "      foreign_keys:\n"
    "        - {name: fk_item_owner, columns: [owner_id], references: owner,\n"
    "           ref_columns: [id], on_delete: CASCADE, on_update: restrict}\n"
    "downgrade:\n"
    "  - drop_table: {name: item}\n"
    "  - drop_table: {name: owner}\n";

static const char every_op_b[] =
    "revision: 00000000000b\n"
    "down_revision: 00000000000a\n"
    "message: constraints\n"
    "upgrade:\n"
    "  - create_index: {table: item, name: ix_item_note, columns: [note]}\n"
    "  - create_unique: {table: item, name: uq_item_code, columns: [code]}\n"
    "  - create_check: {table: item, name: ck_item_qty, sql: qty >= 0}\n"
    "  - create_foreign_key: {table: item, name: fk_item_maker, columns: [maker_id],\n"
    "      references: owner, ref_columns: [id], on_delete: set null}\n"
    "  - alter_column: {table: item, name: qty, type: bigint, nullable: false,\n"
    "      server_default: '5'}\n"
    "  - alter_column: {table: owner, name: active, server_default: null}\n"
    "downgrade:\n"
    "  - alter_column: {table: owner, name: active, server_default: 'true'}\n"
    "  - alter_column: {table: item, name: qty, type: integer, nullable: true,\n"
    "      server_default: ~}\n"
    "  - drop_foreign_key: {table: item, name: fk_item_maker}\n"
    "  - drop_check: {table: item, name: ck_item_qty}\n"
    "  - drop_unique: {table: item, name: uq_item_code}\n"
    "  - drop_index: {table: item, name: ix_item_note}\n";

static const char every_op_c[] =
    "revision: 00000000000c\n"
    "down_revision: 00000000000b\n"
    "message: renames\n"
    "upgrade:\n"
    "  - rename_table: {name: owner, new_name: person}\n"
    "  - alter_column: {table: item, name: note, new_name: remark, type: string(30)}\n"
    "downgrade:\n"
    "  - alter_column: {table: item, name: remark, new_name: note, type: text}\n"
    "  - rename_table: {name: person, new_name: owner}\n";

/* The schema after revision a, or after b. */
static strata_metadata *every_op_md(bool b)
{
    strata_metadata *md;
    strata_table *o, *it;
    strata_column *c;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    strata_metadata_add_table(md, "owner", &o);
    strata_table_add_column(o, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    strata_table_add_column(o, "name", "string(40)", 0, NULL);
    strata_table_add_column(o, "active", "boolean", 0, &c);
    if (!b)
        strata_column_set_server_default(c, "true");
    strata_table_add_index(o, "ix_owner_name", "name", 1);
    strata_table_add_check(o, "named", "length(name) > 0"); /* ck_owner_named */
    strata_metadata_add_table(md, "item", &it);
    strata_table_add_column(it, "id", "integer", 0, NULL);
    strata_table_add_column(it, "code", "string(8)", STRATA_NULLABLE, NULL);
    strata_table_add_column(it, "qty", b ? "bigint" : "integer", b ? 0 : STRATA_NULLABLE, &c);
    if (b)
        strata_column_set_server_default(c, "5");
    strata_table_add_column(it, "note", "text", STRATA_NULLABLE, NULL);
    strata_table_add_column(it, "owner_id", "integer", 0, NULL);
    strata_table_add_column(it, "maker_id", "integer", STRATA_NULLABLE, NULL);
    strata_table_set_primary_key(it, "pk_item", "id");
    strata_table_add_unique(it, "uq_item_owner_code", "owner_id, code");
    strata_table_add_foreign_key(it, "fk_item_owner", "owner_id", "owner", "id", STRATA_FK_CASCADE,
                                 STRATA_FK_RESTRICT);
    if (b) {
        strata_table_add_index(it, "ix_item_note", "note", 0);
        strata_table_add_unique(it, "uq_item_code", "code");
        strata_table_add_check(it, "qty", "qty >= 0"); /* ck_item_qty */
        strata_table_add_foreign_key(it, "fk_item_maker", "maker_id", "owner", "id",
                                     STRATA_FK_SET_NULL, STRATA_FK_NO_ACTION);
    }
    ck_assert_str_eq(strata_metadata_errmsg(md), "");
    return md;
}

START_TEST(migrate_every_operation_by_hand)
{
    strata_db *db = th_open();
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    strata_migrations_free(m);
    char path[700];
    snprintf(path, sizeof path, "%s/versions/00000000000a_base.yaml", repo_dir());
    write_text(path, every_op_a);
    snprintf(path, sizeof path, "%s/versions/00000000000b_constraints.yaml", repo_dir());
    write_text(path, every_op_b);
    snprintf(path, sizeof path, "%s/versions/00000000000c_renames.yaml", repo_dir());
    write_text(path, every_op_c);
    m = repo_open(repo_dir(), &out);
    ck_assert_int_eq(strata_migrations_count(m), 3);
    strata_metadata *a = every_op_md(false), *b = every_op_md(true);

    TH_MOK(m, strata_migrations_upgrade(m, db, "00000000000a"));
    assert_schema(db, a);
    th_exec(db, "INSERT INTO owner (name) VALUES ('olga'), ('ivan')");
    th_exec(db, "INSERT INTO item (id, code, qty, note, owner_id, maker_id) VALUES "
                "(1, 'a', 1, 'na', 1, 2), (2, 'b', 2, 'nb', 1, NULL), (3, 'c', 3, NULL, 2, 2)");
    th_rc(db, strata_db_exec(db, "INSERT INTO owner (name) VALUES ('')"), STRATA_E_CHECK);
    th_rc(db, strata_db_exec(db, "INSERT INTO item (id, code, owner_id) VALUES (4, 'a', 1)"),
          STRATA_E_UNIQUE);

    TH_MOK(m, strata_migrations_upgrade(m, db, "+1"));
    assert_schema(db, b);
    ck_assert_int_eq(th_int(db, "SELECT sum(qty) FROM item"), 6);
    th_rc(db,
          strata_db_exec(db, "INSERT INTO item (id, code, qty, owner_id) VALUES (5, 'e', -1, 1)"),
          STRATA_E_CHECK);
    th_rc(db, strata_db_exec(db, "INSERT INTO item (id, code, owner_id) VALUES (5, 'a', 2)"),
          STRATA_E_UNIQUE);
    th_rc(db,
          strata_db_exec(db, "INSERT INTO item (id, code, owner_id, maker_id) "
                             "VALUES (5, 'e', 1, 9)"),
          STRATA_E_FOREIGN_KEY);
    th_exec(db, "INSERT INTO item (id, code, owner_id) VALUES (5, 'e', 1)");
    ck_assert_int_eq(th_int(db, "SELECT qty FROM item WHERE id = 5"), 5); /* the new default */
    th_exec(db, "DELETE FROM owner WHERE name = 'ivan'");                 /* cascade, set null */
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item"), 3);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE maker_id IS NULL"), 3);

    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM person"), 1);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE remark = 'na'"), 1);
    th_rc(db, strata_db_exec(db, "INSERT INTO item (id, code, owner_id) VALUES (6, 'f', 42)"),
          STRATA_E_FOREIGN_KEY); /* the key follows the renamed table */

    TH_MOK(m, strata_migrations_downgrade(m, db, "-1"));
    assert_schema(db, b);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item WHERE note = 'na'"), 1);
    TH_MOK(m, strata_migrations_downgrade(m, db, "-1"));
    assert_schema(db, a);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM item"), 3);
    TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
    ck_assert_str_eq(out.text, "Running upgrade  -> 00000000000a, base\n"
                               "Running upgrade 00000000000a -> 00000000000b, constraints\n"
                               "Running upgrade 00000000000b -> 00000000000c, renames\n"
                               "Running downgrade 00000000000c -> 00000000000b, renames\n"
                               "Running downgrade 00000000000b -> 00000000000a, constraints\n"
                               "Running downgrade 00000000000a -> , base\n");
    strata_metadata *none;
    ck_assert_int_eq(strata_metadata_new(&none), STRATA_OK);
    assert_schema(db, none);
    strata_metadata_free(none);
    strata_metadata_free(a);
    strata_metadata_free(b);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* ---- failures ---------------------------------------------------------- */

START_TEST(migrate_failure_halfway_resumes)
{
    strata_db *db = th_open();
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    char path[600];
    snprintf(path, sizeof path, "%s/versions/00000000000a_one.yaml", repo_dir());
    write_text(path, "revision: 00000000000a\ndown_revision: null\nmessage: one\n"
                     "upgrade:\n"
                     "  - create_table:\n"
                     "      name: t\n"
                     "      columns: [{name: id, type: integer, primary_key: true}]\n"
                     "downgrade:\n  - drop_table: {name: t}\n");
    snprintf(path, sizeof path, "%s/versions/00000000000b_two.yaml", repo_dir());
    write_text(path, "revision: 00000000000b\ndown_revision: 00000000000a\nmessage: two\n"
                     "upgrade:\n"
                     "  - add_column: {table: t, column: {name: c, type: integer}}\n"
                     "  - sql: \"INSERT INTO no_such_table\\n    VALUES (1);\\n\"\n"
                     "downgrade:\n  - drop_column: {table: t, name: c}\n");
    snprintf(path, sizeof path, "%s/versions/00000000000c_three.yaml", repo_dir());
    write_text(path, "revision: 00000000000c\ndown_revision: 00000000000b\nmessage: three\n"
                     "upgrade:\n"
                     "  - create_table: {name: u, columns: [{name: id, type: integer, "
                     "primary_key: true}]}\n"
                     "downgrade:\n  - drop_table: {name: u}\n");
    strata_migrations_free(m);
    m = repo_open(repo_dir(), &out);
    int rc = strata_migrations_upgrade(m, db, "head");
    ck_assert_int_eq(rc, STRATA_E_UNDEFINED_TABLE);
    const char *msg = strata_migrations_errmsg(m);
    ck_assert_msg(strstr(msg, "00000000000b_two.yaml") &&
                      strstr(msg, "sql INSERT INTO no_such_table VALUES (1);: ") &&
                      !strchr(msg, '\n'),
                  "%s", msg); /* one line, the statement's line ends made spaces */
    /* At revision one exactly: two's add_column went with its transaction. */
    assert_current(m, db, "00000000000a\n");
    strata_metadata *one;
    strata_table *t;
    strata_metadata_new(&one);
    strata_metadata_add_table(one, "t", &t);
    strata_table_add_column(t, "id", "integer", STRATA_PRIMARY_KEY, NULL);
    assert_schema(db, one);
    /* Fixed, the next run resumes from there. */
    snprintf(path, sizeof path, "%s/versions/00000000000b_two.yaml", repo_dir());
    write_text(path, "revision: 00000000000b\ndown_revision: 00000000000a\nmessage: two\n"
                     "upgrade:\n"
                     "  - add_column: {table: t, column: {name: c, type: integer}}\n"
                     "downgrade:\n  - drop_column: {table: t, name: c}\n");
    strata_migrations_free(m);
    out.text[0] = '\0';
    m = repo_open(repo_dir(), &out);
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    ck_assert_str_eq(out.text, "Running upgrade 00000000000a -> 00000000000b, two\n"
                               "Running upgrade 00000000000b -> 00000000000c, three\n");
    assert_current(m, db, "00000000000c (head)\n");
    strata_metadata_free(one);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* Open a repository whose one revision file holds `text`; expect
 * STRATA_E_MIGRATION with `want` in the message. */
static void bad_file(const char *name, const char *text, const char *want)
{
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/bad-%s", th_tmpdir(), name);
    th_lines out = {""};
    strata_migrations *m = repo_init_at(dir, &out);
    strata_migrations_free(m);
    snprintf(path, sizeof path, "%s/versions/%s.yaml", dir, name);
    write_text(path, text);
    ck_assert_int_eq(strata_migrations_open(&m, dir), STRATA_E_MIGRATION);
    ck_assert_msg(strstr(strata_migrations_errmsg(m), want), "%s: wanted '%s' in: %s", name, want,
                  strata_migrations_errmsg(m));
    ck_assert_int_eq(strata_migrations_count(m), 0);
    strata_migrations_free(m);
}

START_TEST(migrate_bad_files_name_the_place)
{
    bad_file("yaml", "revision: 00000000000a\ndown_revision: [\nmessage: x\n",
             "yaml.yaml:4:1: bad YAML");
    bad_file("unknown-key",
             "revision: 00000000000a\ndown_revision: null\nupgrade:\n"
             "  - create_table:\n      name: t\n      columns:\n"
             "        - {name: id, type: integer, nullabel: false}\n",
             "unknown-key.yaml:7:37: unknown key 'nullabel' in a column");
    bad_file("wrong-type",
             "revision: 00000000000a\ndown_revision: null\nupgrade:\n"
             "  - create_table: {name: t, columns: id}\n",
             "wrong-type.yaml:4:38: columns must be a list");
    bad_file("bad-type",
             "revision: 00000000000a\ndown_revision: null\nupgrade:\n"
             "  - add_column: {table: t, column: {name: c, type: strnig}}\n",
             "bad-type.yaml:4:36: column:");
    bad_file("bad-id", "revision: 12\ndown_revision: null\n",
             "bad-id.yaml:1:11: revision '12' is not a revision id");
    bad_file("missing-down", "revision: 00000000000a\ndown_revision: 0000000000bb\n",
             "Can't locate revision identified by '0000000000bb'");
    bad_file("unknown-op",
             "revision: 00000000000a\ndown_revision: null\nupgrade:\n  - drop_tabel: {name: t}\n",
             "unknown-op.yaml:4:5: unknown operation 'drop_tabel'");
    /* A NUL would end the name early (users, not users\0_old); a second
     * document would be ignored. */
    bad_file("nul",
             "revision: 00000000000a\ndown_revision: null\nupgrade:\n"
             "  - drop_table: {name: \"users\\0_old\"}\n",
             "nul.yaml:4:24: a value holds a NUL character");
    bad_file("two-docs",
             "revision: 00000000000a\ndown_revision: null\nupgrade: []\n---\n"
             "downgrade:\n  - drop_table: {name: t}\n",
             "two-docs.yaml:5:1: a second YAML document");
}
END_TEST

#define REV "revision: 00000000000a\ndown_revision: null\n"

/* Each place a revision file can hold the wrong kind of node or a value the
 * schema builders refuse: the message gives file:line:column. */
START_TEST(migrate_wrong_nodes_name_the_place)
{
    static const struct {
        const char *name, *upgrade, *want;
    } cases[] = {
        {"key-list", "[a]: b\n", "key-list.yaml:3:1: a key must be a scalar, not a list"},
        {"ct-list", "upgrade:\n  - create_table: [x]\n",
         "ct-list.yaml:4:19: create_table must be a mapping, not a list"},
        {"ct-name", "upgrade:\n  - create_table: {name: [x], columns: []}\n",
         "ct-name.yaml:4:26: name must be a scalar, not a list"},
        {"ct-empty-name", "upgrade:\n  - create_table: {name: '', columns: []}\n",
         "ct-empty-name.yaml:4:26: create_table: table name '' must be 1 to 63 bytes long"},
        {"ct-no-columns", "upgrade:\n  - create_table: {name: t, columns: []}\n",
         "ct-no-columns.yaml:4:38: create_table t: no columns (SQLite has no table without one"},
        {"col-numeric",
         "upgrade:\n  - add_column: {table: t, column: {name: c, type: "
         "'numeric(1001,2)'}}\n",
         "col-numeric.yaml:4:36: column: column t.c: 'numeric(1001,2)' is not a portable type "
         "(integer, bigint, smallint, boolean, float, numeric(p,s) with p up to 1000"},
        {"pk-name",
         "upgrade:\n  - create_table: {name: t, columns: [{name: id, type: integer}], "
         "primary_key: {name: [p], columns: [id]}}\n",
         "pk-name.yaml:4:87: name must be a scalar, not a list"},
        {"col-type", "upgrade:\n  - add_column: {table: t, column: {name: c, type: [integer]}}\n",
         "col-type.yaml:4:52: type must be a scalar, not a list"},
        {"col-default",
         "upgrade:\n  - add_column: {table: t, column: {name: c, type: integer, "
         "server_default: [1]}}\n",
         "col-default.yaml:4:77: server_default must be a scalar, not a list"},
        {"ck-sql",
         "upgrade:\n  - create_table: {name: t, columns: [{name: id, type: integer}], "
         "checks: [{name: c, sql: [x]}]}\n",
         "ck-sql.yaml:4:91: sql must be a scalar, not a list"},
        {"ck-empty",
         "upgrade:\n  - create_table: {name: t, columns: [{name: id, type: integer}], "
         "checks: [{name: '', sql: x > 0}]}\n",
         "ck-empty.yaml:4:76: check constraint: check constraint of table t needs a name and an "
         "expression"},
        {"fk-list",
         "upgrade:\n  - create_table: {name: t, columns: [{name: id, type: integer}], "
         "foreign_keys: [[id]]}\n",
         "fk-list.yaml:4:82: a foreign key must be a mapping, not a list"},
        {"fk-action",
         "upgrade:\n  - create_foreign_key: {table: t, name: f, columns: [a], references: u, "
         "ref_columns: [id], on_update: [cascade]}\n",
         "fk-action.yaml:4:104: a foreign key action must be a scalar, not a list"},
        {"fk-ref",
         "upgrade:\n  - create_table: {name: t, columns: [{name: id, type: integer}], "
         "foreign_keys: [{name: f, columns: [id], references: '', ref_columns: [id]}]}\n",
         "fk-ref.yaml:4:82: foreign key: foreign key of table t: referred table name '' is not "
         "valid"},
        {"ix-list",
         "upgrade:\n  - create_table: {name: t, columns: [{name: id, type: integer}], "
         "indexes: [[id]]}\n",
         "ix-list.yaml:4:77: an index must be a mapping, not a list"},
        {"ix-name",
         "upgrade:\n  - create_table: {name: t, columns: [{name: id, type: integer}], "
         "indexes: [{name: [i], columns: [id]}]}\n",
         "ix-name.yaml:4:84: name must be a scalar, not a list"},
        {"ac-list", "upgrade:\n  - add_column: [t]\n",
         "ac-list.yaml:4:17: add_column must be a mapping, not a list"},
        {"ac-table", "upgrade:\n  - add_column: {table: [t], column: {name: c, type: text}}\n",
         "ac-table.yaml:4:25: table must be a scalar, not a list"},
        {"ac-empty-table", "upgrade:\n  - add_column: {table: '', column: {name: c, type: text}}\n",
         "ac-empty-table.yaml:4:25: add_column: table name '' must be 1 to 63 bytes long"},
        {"al-list", "upgrade:\n  - alter_column: [t]\n",
         "al-list.yaml:4:19: alter_column must be a mapping, not a list"},
        {"al-table", "upgrade:\n  - alter_column: {table: [t], name: c, nullable: true}\n",
         "al-table.yaml:4:27: table must be a scalar, not a list"},
        {"al-type", "upgrade:\n  - alter_column: {table: t, name: c, type: [text]}\n",
         "al-type.yaml:4:45: type must be a scalar, not a list"},
        {"al-default", "upgrade:\n  - alter_column: {table: t, name: c, server_default: [1]}\n",
         "al-default.yaml:4:55: server_default must be a scalar, not a list"},
        {"al-rename", "upgrade:\n  - alter_column: {table: t, name: c, new_name: [d]}\n",
         "al-rename.yaml:4:49: new_name must be a scalar, not a list"},
        {"rt-list", "upgrade:\n  - rename_table: [t]\n",
         "rt-list.yaml:4:19: rename_table must be a mapping, not a list"},
        {"rt-name", "upgrade:\n  - rename_table: {name: t, new_name: [u]}\n",
         "rt-name.yaml:4:39: new_name must be a scalar, not a list"},
        {"drop-name", "upgrade:\n  - drop_index: {table: t, name: [i]}\n",
         "drop-name.yaml:4:34: name must be a scalar, not a list"},
        {"ci-table", "upgrade:\n  - create_check: {table: [t], name: c, sql: x > 0}\n",
         "ci-table.yaml:4:27: table must be a scalar, not a list"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, REV "%s", cases[i].upgrade);
        bad_file(cases[i].name, text, cases[i].want);
    }
}
END_TEST

START_TEST(migrate_more_bad_files_name_the_place)
{
    bad_file("scalar", "revision: [00000000000a]\ndown_revision: null\n",
             "scalar.yaml:1:11: revision must be a scalar, not a list");
    bad_file("twice", REV "revision: 00000000000b\n",
             "twice.yaml:3:1: key 'revision' appears twice in a revision file");
    bad_file("needs-type", REV "upgrade:\n  - add_column: {table: t, column: {name: c}}\n",
             "needs-type.yaml:4:36: a column needs 'type'");
    bad_file(
        "bool",
        REV
        "upgrade:\n  - add_column: {table: t, column: {name: c, type: integer, nullable: maybe}}\n",
        "bool.yaml:4:71: nullable must be true or false, not 'maybe'");
    bad_file("names", REV "upgrade:\n  - create_index: {table: t, name: i, columns: {a: b}}\n",
             "names.yaml:4:48: columns must be a list of names");
    bad_file("empty-names", REV "upgrade:\n  - create_index: {table: t, name: i, columns: []}\n",
             "empty-names.yaml:4:48: columns is empty");
    bad_file("action",
             REV "upgrade:\n  - create_foreign_key: {table: t, name: f, columns: [a], references: "
                 "u, ref_columns: [id], on_delete: explode}\n",
             "action.yaml:4:104: unknown foreign key action 'explode' (no action, restrict, "
             "cascade, set null, set default)");
    bad_file("unique-unique",
             REV "upgrade:\n  - create_unique: {table: t, name: u, columns: [a], unique: true}\n",
             "unique-unique.yaml:4:62: a unique constraint has no 'unique' key");
    bad_file("nothing", REV "upgrade:\n  - alter_column: {table: t, name: c}\n",
             "nothing.yaml:4:19: alter_column c changes nothing (give type, nullable, "
             "server_default, collation or new_name)");
    bad_file("collation",
             REV "upgrade:\n  - add_column: {table: t, column: {name: c, type: text, "
                 "collation: en_US}}\n",
             "collation.yaml:4:69: collation must be binary or locale, not 'en_US'");
    bad_file("collation-type",
             REV "upgrade:\n  - add_column: {table: t, column: {name: c, type: integer, "
                 "collation: locale}}\n",
             "collation-type.yaml:4:36: column: column t.c: collation locale "
             "(STRATA_COLLATE_LOCALE) needs a string or text column, not integer");
    bad_file("alter-collation",
             REV "upgrade:\n  - alter_column: {table: t, name: c, collation: [locale]}\n",
             "alter-collation.yaml:4:50: collation must be a scalar, not a list");
    bad_file("alter-type", REV "upgrade:\n  - alter_column: {table: t, name: c, type: strnig}\n",
             "alter-type.yaml:4:45: 'strnig' is not a portable type");
    bad_file("no-table", REV "upgrade:\n  - create_check: {name: c, sql: x > 0}\n",
             "no-table.yaml:4:19: create_check needs 'table'");
    bad_file("not-mapping", REV "upgrade:\n  - create_index: [t, i]\n",
             "not-mapping.yaml:4:19: create_index must be a mapping, not a list");
    bad_file("add-pk",
             REV "upgrade:\n  - add_column: {table: t, column: {name: c, type: integer, "
                 "primary_key: true}}\n",
             "add-pk.yaml:4:36: add_column cannot add a primary key column");
    bad_file("default",
             REV "upgrade:\n  - add_column: {table: t, column: {name: c, type: integer, "
                 "server_default: abc}}\n",
             "default.yaml:4:77: server_default: column t.c: server default: 'abc' is not a "
             "portable default (now, 'text', a");
    bad_file("pk-column",
             REV "upgrade:\n  - create_table: {name: t, columns: [{name: id, type: integer}], "
                 "primary_key: {columns: [nope]}}\n",
             "pk-column.yaml:4:80: primary_key: primary key of table t: no column nope");
    bad_file(
        "op-shape", REV "upgrade:\n  - {drop_table: {name: t}, drop_column: {table: t, name: c}}\n",
        "op-shape.yaml:4:5: an operation is a mapping with one key, its kind (create_table: ...)");
    bad_file("ops-list", REV "upgrade: {drop_table: {name: t}}\n",
             "ops-list.yaml:3:10: upgrade and downgrade must be lists of operations");
    bad_file("sql-empty", REV "upgrade:\n  - sql: {}\n",
             "sql-empty.yaml:4:10: sql needs a statement (default, sqlite or postgresql)");
    bad_file("down-id", "revision: 00000000000a\ndown_revision: [00000000000b, xyz]\n",
             "down-id.yaml:2:31: down_revision 'xyz' is not a revision id (12 hex digits)");
    bad_file("empty", "# nothing\n", "empty.yaml: the file is empty");
    bad_file("check-sql",
             REV "upgrade:\n  - create_table: {name: t, columns: [{name: id, type: integer}], "
                 "checks: [{name: c}]}\n",
             "check-sql.yaml:4:76: a check constraint needs 'sql'");
    bad_file("index-col",
             REV "upgrade:\n  - create_table: {name: t, columns: [{name: id, type: integer}], "
                 "indexes: [{name: i, columns: [nope]}]}\n",
             "index-col.yaml:4:77: index: index of table t: no column nope");
    bad_file("sql-null", REV "upgrade:\n  - sql: null\n", "sql-null.yaml:4:10: sql is empty");
    bad_file("sql-blank",
             REV "upgrade:\n  - sql: {sqlite: '  ', postgresql: SELECT 1}\n",
             "sql-blank.yaml:4:19: sqlite is empty: give the statement");
    bad_file("sql-commit",
             REV "upgrade:\n  - sql: INSERT INTO t VALUES (2)\n  - sql: COMMIT\n"
                 "  - sql: INSERT INTO t VALUES (3)\n",
             "sql-commit.yaml:5:10: sql: COMMIT begins or ends a transaction, but a revision "
             "runs in the one the runner begins, and is applied all or nothing: take it out");
    bad_file("sql-end",
             REV "upgrade:\n  - sql: {sqlite: 'UPDATE t SET a = 1; end', postgresql: SELECT 1}\n",
             "sql-end.yaml:4:19: sqlite: end begins or ends a transaction");
    bad_file("sql-nested",
             REV "upgrade:\n  - sql: {sqlite: '/* a /* b */ COMMIT; /* */ SELECT 1', postgresql: "
                 "SELECT 1}\n",
             "sql-nested.yaml:4:19: sqlite: COMMIT begins or ends a transaction");
    bad_file("down-twice", "revision: 00000000000a\ndown_revision: [00000000000b, 00000000000b]\n",
             "down-twice.yaml:2:31: down_revision names '00000000000b' twice");
    /* A merge whose parent is an ancestor of its other parent. */
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/bad-redundant", th_tmpdir());
    th_lines out = {""};
    strata_migrations *m = repo_init_at(dir, &out);
    strata_migrations_free(m);
    static const char *const files[][2] = {
        {"a", "revision: 00000000000a\ndown_revision: null\n"},
        {"b", "revision: 00000000000b\ndown_revision: 00000000000a\n"},
        {"c", "revision: 00000000000c\ndown_revision: [00000000000b, 00000000000a]\n"}};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/versions/%s.yaml", dir, files[i][0]);
        write_text(path, files[i][1]);
    }
    ck_assert_int_eq(strata_migrations_open(&m, dir), STRATA_E_MIGRATION);
    ck_assert_msg(strstr(strata_migrations_errmsg(m),
                         "c.yaml: down_revision names 00000000000a, which 00000000000b descends "
                         "from already"),
                  "%s", strata_migrations_errmsg(m));
    strata_migrations_free(m);
}
END_TEST

/* A repository with a first revision that creates t (id, c), and a second
 * whose upgrade is `ops`: upgrading stops at the first revision with
 * STRATA_E_MIGRATION and `want` in the message. */
static void bad_run(strata_db *db, const char *name, const char *ops, const char *want)
{
    char dir[600], path[700], text[1024];
    snprintf(dir, sizeof dir, "%s/run-%s", th_tmpdir(), name);
    th_lines out = {""};
    strata_migrations *m = repo_init_at(dir, &out);
    strata_migrations_free(m);
    snprintf(path, sizeof path, "%s/versions/00000000000a_t.yaml", dir);
    write_text(path, "revision: 00000000000a\ndown_revision: null\nupgrade:\n"
                     "  - create_table: {name: t, columns: [{name: id, type: integer, "
                     "primary_key: true}, {name: c, type: integer}]}\n"
                     "downgrade:\n  - drop_table: {name: t}\n");
    snprintf(path, sizeof path, "%s/versions/00000000000b_%s.yaml", dir, name);
    snprintf(text, sizeof text, "revision: 00000000000b\ndown_revision: 00000000000a\nupgrade:\n%s",
             ops);
    write_text(path, text);
    m = repo_open(dir, &out);
    ck_assert_int_eq(strata_migrations_upgrade(m, db, "head"), STRATA_E_MIGRATION);
    ck_assert_msg(strstr(strata_migrations_errmsg(m), want), "%s: wanted '%s' in: %s", name, want,
                  strata_migrations_errmsg(m));
    assert_current(m, db, "00000000000a\n");
    TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
    strata_migrations_free(m);
}

START_TEST(migrate_operations_on_missing_things_name_the_place)
{
    strata_db *db = th_open();
    bad_run(db, "table", "  - drop_column: {table: nope, name: c}\n",
            "table.yaml:4:5: table nope does not exist");
    bad_run(db, "column",
            "  - sql: SELECT 1\n  - alter_column: {table: t, name: d, nullable: false}\n",
            "column.yaml:5:5: column t.d does not exist");
    bad_run(db, "index", "  - drop_index: {table: t, name: ix_nope}\n",
            "index.yaml:4:5: index ix_nope on t does not exist");
    bad_run(db, "unique", "  - drop_unique: {table: t, name: uq_nope}\n",
            "unique.yaml:4:5: constraint uq_nope on t does not exist");
    bad_run(db, "fk", "  - drop_foreign_key: {table: t, name: pk_t}\n",
            "fk.yaml:4:5: constraint pk_t on t does not exist");
    bad_run(db, "check", "  - drop_check: {table: t, name: ck_nope}\n",
            "check.yaml:4:5: constraint ck_nope on t does not exist");
    bad_run(db, "default", "  - alter_column: {table: t, name: c, server_default: abc}\n",
            "default.yaml:4:5: alter_column t.c: server_default 'abc': ");
    /* c is an integer: it has no collation to choose. */
    bad_run(db, "collation", "  - alter_column: {table: t, name: c, collation: locale}\n",
            "collation.yaml:4:5: alter_column t.c: collation locale needs a string or text "
            "column");
    strata_db_close(db);
}
END_TEST

/* ---- branches ---------------------------------------------------------- */

static void write_rev(const char *id, const char *down, const char *table)
{
    char path[700], text[1024];
    snprintf(path, sizeof path, "%s/versions/%s_%s.yaml", repo_dir(), id, table);
    snprintf(text, sizeof text,
             "revision: %s\ndown_revision: %s\nmessage: %s\n"
             "upgrade:\n  - create_table: {name: %s, columns: [{name: id, type: integer, "
             "primary_key: true}]}\n"
             "downgrade:\n  - drop_table: {name: %s}\n",
             id, down, table, table, table);
    write_text(path, text);
}

START_TEST(migrate_branches_and_merge)
{
    strata_db *db = th_open();
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    strata_migrations_free(m);
    write_rev("0000000000a0", "null", "a");
    write_rev("0000000000b1", "0000000000a0", "b1");
    write_rev("0000000000b2", "0000000000a0", "b2");
    m = repo_open(repo_dir(), &out);
    ck_assert_int_eq(strata_migrations_upgrade(m, db, "head"), STRATA_E_MIGRATION);
    ck_assert_msg(strstr(strata_migrations_errmsg(m), "Multiple head revisions are present "
                                                      "(0000000000b1, 0000000000b2)"),
                  "%s", strata_migrations_errmsg(m));
    char *text;
    TH_MOK(m, strata_migrations_branches(m, &text));
    ck_assert_str_eq(text, "0000000000a0 (branchpoint), a\n    -> 0000000000b1 (head), b1\n"
                           "    -> 0000000000b2 (head), b2\n");
    strata_free(text);
    TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000b1"));
    assert_current(m, db, "0000000000b1 (head)\n");
    TH_MOK(m, strata_migrations_upgrade(m, db, "heads"));
    assert_current(m, db, "0000000000b1 (head)\n0000000000b2 (head)\n");
    /* Merge the two heads; upgrading to it touches nothing but the version table. */
    char *merge;
    TH_MOK(m, strata_migrations_merge(m, NULL, "merge branches", &merge));
    TH_MOK(m, strata_migrations_heads(m, &text));
    char want[128];
    snprintf(want, sizeof want, "%s (head)\n", merge);
    ck_assert_str_eq(text, want);
    strata_free(text);
    out.text[0] = '\0';
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    snprintf(want, sizeof want,
             "Running upgrade 0000000000b1, 0000000000b2 -> %s, merge branches\n", merge);
    ck_assert_str_eq(out.text, want);
    snprintf(want, sizeof want, "%s (head)\n", merge);
    assert_current(m, db, want);
    TH_MOK(m, strata_migrations_downgrade(m, db, "-1"));
    assert_current(m, db, "0000000000b1\n0000000000b2\n");
    TH_MOK(m, strata_migrations_downgrade(m, db, "0000000000a0"));
    assert_current(m, db, "0000000000a0\n");
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM a"), 0);
    /* Prefixes and relative steps. */
    TH_MOK(m, strata_migrations_upgrade(m, db, "0000000000b2"));
    assert_current(m, db, "0000000000b2\n");
    ck_assert_int_eq(strata_migrations_upgrade(m, db, "00000"), STRATA_E_MIGRATION);
    ck_assert(strstr(strata_migrations_errmsg(m), "ambiguous") != NULL);
    TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
    TH_MOK(m, strata_migrations_upgrade(m, db, "+1"));
    assert_current(m, db, "0000000000a0\n");
    ck_assert_int_eq(strata_migrations_upgrade(m, db, "+1"), STRATA_E_MIGRATION);
    TH_MOK(m, strata_migrations_stamp(m, db, "heads"));
    snprintf(want, sizeof want, "%s (head)\n", merge);
    assert_current(m, db, want);
    TH_MOK(m, strata_migrations_stamp(m, db, "base"));
    assert_current(m, db, "");
    strata_free(merge);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* ---- offline ----------------------------------------------------------- */

START_TEST(migrate_offline_sql_builds_the_same_database)
{
    strata_db *db = th_open();
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    strata_metadata *a = base_md(), *b = changed_md(CHANGE_LENGTH);
    TH_MOK(m, strata_migrations_autogenerate(m, db, a, "base", NULL));
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    TH_MOK(m, strata_migrations_autogenerate(m, db, b, "longer names", NULL));
    TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
    char *sql;
    TH_MOK(m, strata_migrations_upgrade_sql(m, strata_db_driver(db), "head", &sql));
    /* SQLite cannot change a length in place: the plan rebuilds. */
    if (!th_is_pg())
        ck_assert_msg(strstr(sql, "_strata_new_item") != NULL, "%s", sql);
    th_exec(db, sql);
    strata_free(sql);
    assert_schema(db, b);
    char *ids;
    TH_MOK(m, strata_migrations_heads(m, &ids));
    assert_current(m, db, ids);
    /* Down from "head" is the same script as from the head's id, and a
     * relative target counts from FROM. */
    char range[64];
    snprintf(range, sizeof range, "%.12s:base", ids);
    strata_free(ids);
    char *by_head, *by_id, *one_back;
    TH_MOK(m, strata_migrations_downgrade_sql(m, strata_db_driver(db), "head:base", &by_head));
    TH_MOK(m, strata_migrations_downgrade_sql(m, strata_db_driver(db), "heads:base", &one_back));
    TH_MOK(m, strata_migrations_downgrade_sql(m, strata_db_driver(db), range, &by_id));
    ck_assert_str_eq(by_head, by_id);
    ck_assert_str_eq(one_back, by_id);
    strata_free(one_back);
    TH_MOK(m, strata_migrations_downgrade_sql(m, strata_db_driver(db), "head:-1", &one_back));
    ck_assert_msg(strstr(one_back, ", longer names\n") && !strstr(one_back, ", base\n") &&
                      strstr(by_id, ", base\n"),
                  "%s", one_back);
    strata_free(one_back);
    strata_free(by_head);
    strata_free(by_id);
    TH_MOK(m, strata_migrations_downgrade_sql(m, strata_db_driver(db), range, &sql));
    th_exec(db, sql);
    strata_free(sql);
    strata_metadata *empty;
    strata_metadata_new(&empty);
    assert_schema(db, empty);
    assert_current(m, db, "");
    strata_metadata_free(empty);
    strata_metadata_free(a);
    strata_metadata_free(b);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* ---- embedded ---------------------------------------------------------- */

START_TEST(migrate_embedded_repository)
{
    strata_db *db = th_open();
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    strata_metadata *v2 = models_md(&user_model, &post_model, NULL);
    TH_MOK(m, strata_migrations_autogenerate(m, db, v2, "tables", NULL));
    char src[600];
    snprintf(src, sizeof src, "%s/embedded.c", th_tmpdir());
    TH_MOK(m, strata_migrations_write_embedded(m, src, "microblog_migrations"));
    FILE *f = fopen(src, "r");
    ck_assert_ptr_nonnull(f);
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    ck_assert(strstr(buf, "const strata_embedded_file microblog_migrations[] = {") != NULL);
    ck_assert(strstr(buf, "_tables.yaml\"") != NULL);
    /* The same files as the program would hold them. */
    char path[700], *text = malloc(16384);
    snprintf(path, sizeof path, "%s", strata_migrations_revision_file(m, 0));
    f = fopen(path, "r");
    n = fread(text, 1, 16383, f);
    text[n] = '\0';
    fclose(f);
    char name[200];
    snprintf(name, sizeof name, "versions/%s", strrchr(path, '/') + 1);
    strata_embedded_file files[] = {
        {"strata.yaml", "version_table: strata_version\n"}, {name, text}, {NULL, NULL}};
    strata_migrations *e;
    int rc = strata_migrations_open_embedded(&e, files);
    ck_assert_msg(rc == STRATA_OK, "%s", strata_migrations_errmsg(e));
    TH_MOK(e, strata_migrations_upgrade(e, db, "head"));
    assert_schema(db, v2);
    ck_assert_int_eq(strata_migrations_revision(e, "no", NULL), STRATA_E_MISUSE);
    free(text);
    strata_metadata_free(v2);
    strata_migrations_free(e);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* ---- the repository's own errors ---------------------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

START_TEST(migrate_repository_errors_name_the_place)
{
    th_lines out = {""};
    strata_migrations *m = NULL;
    char dir[700], path[800];
    ck_assert_int_eq(strata_migrations_init(NULL, repo_dir()), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_migrations_init(&m, ""), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_migrations_errmsg(m), "init: no folder given");
    strata_migrations_free(m);
    /* A folder whose parent is missing. */
    snprintf(dir, sizeof dir, "%s/missing/migrations", th_tmpdir());
    ck_assert_int_eq(strata_migrations_init(&m, dir), STRATA_E_MIGRATION);
    snprintf(path, sizeof path, "%s: No such file or directory", dir);
    ck_assert_str_eq(strata_migrations_errmsg(m), path);
    strata_migrations_free(m);
    /* A write that fails half way (its file's temporary name taken by a
     * folder here, a full disk in life): nothing is left behind, a
     * README the folder had is kept, and init works once the cause is
     * gone.  It left a repository every command refused before. */
    snprintf(dir, sizeof dir, "%s/half", th_tmpdir());
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    snprintf(path, sizeof path, "%s/strata.yaml.tmp", dir);
    ck_assert_int_eq(mkdir(path, 0777), 0);
    ck_assert_int_eq(strata_migrations_init(&m, dir), STRATA_E_MIGRATION);
    ck_assert_msg(strstr(strata_migrations_errmsg(m), "(init left nothing behind)"), "%s",
                  strata_migrations_errmsg(m));
    strata_migrations_free(m);
    char probe[900];
    snprintf(probe, sizeof probe, "%s/versions", dir);
    ck_assert_int_ne(access(probe, F_OK), 0);
    snprintf(probe, sizeof probe, "%s/README", dir);
    ck_assert_int_ne(access(probe, F_OK), 0);
    FILE *mine = fopen(probe, "w");
    ck_assert_ptr_nonnull(mine);
    fputs("the program's own\n", mine);
    fclose(mine);
    ck_assert_int_eq(strata_migrations_init(&m, dir), STRATA_E_MIGRATION);
    strata_migrations_free(m);
    ck_assert_str_eq(slurp(probe), "the program's own\n");
    ck_assert_int_eq(rmdir(path), 0);
    ck_assert_int_eq(strata_migrations_init(&m, dir), STRATA_OK);
    strata_migrations_free(m);
    ck_assert_str_eq(slurp(probe), "the program's own\n");

    /* A folder init makes, whose versions/ cannot be made (its path past
     * PATH_MAX here): the folder goes too. */
    {
        char deep[4200];
        int len = snprintf(deep, sizeof deep, "%s", th_tmpdir());
        char part[251];
        memset(part, 'd', 250);
        part[250] = '\0';
        while (len + 251 < 4080) {
            len += snprintf(deep + len, sizeof deep - (size_t)len, "/%s", part);
            ck_assert_int_eq(mkdir(deep, 0777), 0);
        }
        len += snprintf(deep + len, sizeof deep - (size_t)len, "/%.*s", 4088 - len, part);
        ck_assert_int_eq(strata_migrations_init(&m, deep), STRATA_E_MIGRATION);
        const char *said = strata_migrations_errmsg(m);
        ck_assert_msg(strstr(said, "(init left nothing behind)"), "...%s",
                      said + (strlen(said) > 120 ? strlen(said) - 120 : 0));
        strata_migrations_free(m);
        ck_assert_int_ne(access(deep, F_OK), 0);
    }

    ck_assert_int_eq(strata_migrations_open(&m, NULL), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_migrations_errmsg(m), "no migrations folder given");
    strata_migrations_free(m);
    ck_assert_int_eq(strata_migrations_open_embedded(&m, NULL), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_migrations_errmsg(m), "no embedded files given");
    strata_migrations_free(m);

    /* A repository whose versions folder went away. */
    m = repo_init(&out);
    strata_migrations_free(m);
    snprintf(path, sizeof path, "%s/versions", repo_dir());
    ck_assert_int_eq(rmdir(path), 0);
    ck_assert_int_eq(strata_migrations_open(&m, repo_dir()), STRATA_E_MIGRATION);
    char want[2048];
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    ck_assert_str_eq(strata_migrations_errmsg(m), want);
    ck_assert_int_eq(strata_migrations_count(m), 0);
    strata_migrations_free(m);
    ck_assert_int_eq(mkdir(path, 0777), 0);
    /* A revision "file" that cannot be read, then two files with one id. */
    snprintf(path, sizeof path, "%s/versions/0000000000c1_dir.yaml", repo_dir());
    ck_assert_int_eq(mkdir(path, 0777), 0);
    ck_assert_int_eq(strata_migrations_open(&m, repo_dir()), STRATA_E_MIGRATION);
    snprintf(want, sizeof want, "%s: a directory, not a file", path);
    ck_assert_str_eq(strata_migrations_errmsg(m), want);
    strata_migrations_free(m);
    ck_assert_int_eq(rmdir(path), 0);
    /* A pipe named as a revision is refused at once: reading it would
     * wait for ever. */
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(strata_migrations_open(&m, repo_dir()), STRATA_E_MIGRATION);
    snprintf(want, sizeof want, "%s: not a regular file", path);
    ck_assert_str_eq(strata_migrations_errmsg(m), want);
    strata_migrations_free(m);
    ck_assert_int_eq(unlink(path), 0);
    /* A byte that is not UTF-8, named at its line and column; lists
     * nested past 1,000, refused before the parser's time grows with
     * the square of their depth. */
    write_text(path, "# one\n# two\nrevision: 0000000000c1\ndown_revision: null\n"
                     "message: \"caf\xe9\"\nupgrade: []\n");
    ck_assert_int_eq(strata_migrations_open(&m, repo_dir()), STRATA_E_MIGRATION);
    snprintf(want, sizeof want, "%s:5:15: bad YAML: invalid trailing UTF-8 octet", path);
    ck_assert_str_eq(strata_migrations_errmsg(m), want);
    strata_migrations_free(m);
    {
        size_t depth = 200000;
        char *deep = malloc(2 * depth + 200);
        ck_assert_ptr_nonnull(deep);
        int n = snprintf(deep, 200, "revision: 0000000000c1\ndown_revision: null\nupgrade: ");
        memset(deep + n, '[', depth);
        memset(deep + n + depth, ']', depth);
        deep[n + 2 * depth] = '\0';
        write_text(path, deep);
        free(deep);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(strata_migrations_open(&m, repo_dir()), STRATA_E_MIGRATION);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 5);
        snprintf(want, sizeof want,
                 "%s:3:1010: bad YAML: lists or mappings nested more than 1000 deep", path);
        ck_assert_str_eq(strata_migrations_errmsg(m), want);
        strata_migrations_free(m);
    }
    ck_assert_int_eq(unlink(path), 0);
    write_rev("0000000000a0", "null", "a");
    snprintf(path, sizeof path, "%s/versions/0000000000a0_a.yaml", repo_dir());
    char copy[800];
    snprintf(copy, sizeof copy, "%s/versions/0000000000a0_again.yaml", repo_dir());
    write_text(copy, slurp(path));
    ck_assert_int_eq(strata_migrations_open(&m, repo_dir()), STRATA_E_MIGRATION);
    snprintf(want, sizeof want, "%s: revision 0000000000a0 is also in %s", copy, path);
    ck_assert_str_eq(strata_migrations_errmsg(m), want);
    strata_migrations_free(m);
    ck_assert_int_eq(unlink(copy), 0);

    /* Two heads: a new revision must wait for a merge; merges need two. */
    write_rev("0000000000b1", "0000000000a0", "b1");
    write_rev("0000000000b2", "0000000000a0", "b2");
    m = repo_open(repo_dir(), &out);
    ck_assert_int_eq(strata_migrations_count(m), 3);
    ck_assert_str_eq(strata_migrations_revision_id(m, 0), "0000000000a0");
    ck_assert_str_eq(strata_migrations_revision_message(m, 2), "b2");
    ck_assert_ptr_null(strata_migrations_revision_id(m, 3));
    ck_assert_ptr_null(strata_migrations_revision_message(m, -1));
    ck_assert_int_eq(strata_migrations_count(NULL), 0);
    char *id = (char *)1;
    ck_assert_int_eq(strata_migrations_revision(m, "next", &id), STRATA_E_MIGRATION);
    ck_assert_ptr_null(id);
    ck_assert_str_eq(strata_migrations_errmsg(m),
                     "there are 2 heads: merge them first (merge -m MSG)");
    const char *one[] = {"0000000000b1", NULL}, *unknown[] = {"0000000000b1", "0000000000ff", NULL};
    ck_assert_int_eq(strata_migrations_merge(m, one, "m", &id), STRATA_E_MIGRATION);
    ck_assert_str_eq(strata_migrations_errmsg(m),
                     "merge needs at least two revisions (there is 1 head)");
    ck_assert_int_eq(strata_migrations_merge(m, unknown, "m", &id), STRATA_E_MIGRATION);
    ck_assert_str_eq(strata_migrations_errmsg(m),
                     "Can't locate revision identified by '0000000000ff'");
    ck_assert_int_eq(strata_migrations_merge(NULL, NULL, "m", &id), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_migrations_revision(NULL, "m", &id), STRATA_E_MISUSE);
    /* Parents that are one revision, or one and its ancestor, are
     * refused before a file is written: the repository stays readable. */
    const char *twice[] = {"0000000000b1", "0000000000b1", NULL},
               *line[] = {"0000000000a0", "0000000000b1", NULL};
    ck_assert_int_eq(strata_migrations_merge(m, twice, "m", &id), STRATA_E_MIGRATION);
    ck_assert_str_eq(strata_migrations_errmsg(m),
                     "merge names revision 0000000000b1 twice: it merges different heads");
    ck_assert_int_eq(strata_migrations_merge(m, line, "m", &id), STRATA_E_MIGRATION);
    ck_assert_str_eq(strata_migrations_errmsg(m),
                     "merge of 0000000000b1 and 0000000000a0: 0000000000b1 descends from "
                     "0000000000a0 already; it merges heads that neither descends from the other");
    ck_assert_int_eq(strata_migrations_count(m), 3);
    strata_migrations_free(m);
    m = repo_open(repo_dir(), &out);
    ck_assert_int_eq(strata_migrations_count(m), 3);
    /* Named revisions merge; the message makes the file's name. */
    const char *both[] = {"0000000000b2", "0000000000b1", NULL};
    TH_MOK(m, strata_migrations_merge(m, both, "Merge B1 + B2!", &id));
    char *heads;
    TH_MOK(m, strata_migrations_heads(m, &heads));
    snprintf(want, sizeof want, "%s (head)\n", id);
    ck_assert_str_eq(heads, want);
    strata_free(heads);
    snprintf(want, sizeof want, "%s/versions/%s_merge_b1_b2.yaml", repo_dir(), id);
    ck_assert_str_eq(strata_migrations_revision_file(m, 3), want);
    const char *text = slurp(want);
    ck_assert_msg(strstr(text, "down_revision: [0000000000b2, 0000000000b1]\n"), "%s", text);
    strata_free(id);
    strata_migrations_free(m);
}
END_TEST

START_TEST(migrate_write_embedded_escapes_and_refuses)
{
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    strata_migrations_free(m);
    /* A comment with what a C literal must escape. */
    char path[700];
    snprintf(path, sizeof path, "%s/versions/0000000000a0_a.yaml", repo_dir());
    write_text(path, "# why?? a \\ back\tslash and \"quotes\"\n"
                     "revision: 0000000000a0\ndown_revision: null\nmessage: a\n"
                     "upgrade: []\ndowngrade: []\n");
    m = repo_open(repo_dir(), &out);
    char src[700];
    snprintf(src, sizeof src, "%s/embedded.c", th_tmpdir());
    ck_assert_int_eq(strata_migrations_write_embedded(m, src, "9lives"), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_migrations_errmsg(m), "'9lives' is not a C identifier");
    ck_assert_int_eq(strata_migrations_write_embedded(m, src, "my-files"), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_migrations_write_embedded(m, NULL, "files"), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_migrations_write_embedded(NULL, src, "files"), STRATA_E_MISUSE);
    ck_assert_int_eq(access(src, F_OK), -1);
    /* A path where no file can be written: a folder, a missing folder. */
    ck_assert_int_eq(strata_migrations_write_embedded(m, th_tmpdir(), "files"), STRATA_E_MIGRATION);
    char want[2048];
    snprintf(want, sizeof want, "%s: Is a directory", th_tmpdir());
    ck_assert_str_eq(strata_migrations_errmsg(m), want);
    snprintf(want, sizeof want, "%s.tmp", th_tmpdir());
    ck_assert_int_eq(access(want, F_OK), -1); /* no temporary left */
    char bad[700];
    snprintf(bad, sizeof bad, "%s/missing/embedded.c", th_tmpdir());
    ck_assert_int_eq(strata_migrations_write_embedded(m, bad, "files"), STRATA_E_MIGRATION);
    snprintf(want, sizeof want, "%s.tmp: No such file or directory", bad);
    ck_assert_str_eq(strata_migrations_errmsg(m), want);

    TH_MOK(m, strata_migrations_write_embedded(m, src, "files_2"));
    const char *c = slurp(src);
    ck_assert_msg(strstr(c, "const strata_embedded_file files_2[] = {"), "%s", c);
    ck_assert_msg(strstr(c, "\"# why\\?\\? a \\\\ back\\tslash and \\\"quotes\\\"\\n\""), "%s", c);
    ck_assert_msg(strstr(c, "{\"versions/0000000000a0_a.yaml\",\n"), "%s", c);
    /* An embedded repository has no files to write. */
    strata_embedded_file files[] = {{"strata.yaml", "version_table: strata_version\n"},
                                    {NULL, NULL}};
    strata_migrations *e;
    TH_MOK(e, strata_migrations_open_embedded(&e, files));
    ck_assert_int_eq(strata_migrations_write_embedded(e, src, "files"), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_migrations_errmsg(e), "an embedded repository has no files to write");
    strata_migrations_free(e);
    strata_migrations_free(m);
}
END_TEST

/* ---- two processes ----------------------------------------------------- */

/* Two processes upgrade the repository on `url` at once; the number of
 * revisions they ran between them. */
static int upgrade_in_two_processes(const char *url)
{
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        if ((kids[k] = fork()) == 0) {
            /* Child: upgrade, and report how many revisions it ran. */
            strata_db *cdb;
            th_lines mine = {""};
            if (strata_db_open(&cdb, url) != STRATA_OK)
                _exit(100);
            strata_migrations *cm;
            if (strata_migrations_open(&cm, repo_dir()) != STRATA_OK)
                _exit(101);
            strata_migrations_set_output(cm, th_collect, &mine);
            if (strata_migrations_upgrade(cm, cdb, "head") != STRATA_OK) {
                fprintf(stderr, "child %d: %s\n", k, strata_migrations_errmsg(cm));
                _exit(102);
            }
            int ran = 0;
            for (const char *p = mine.text; (p = strstr(p, "Running upgrade")); p++)
                ran++;
            strata_migrations_free(cm);
            strata_db_close(cdb);
            _exit(ran);
        }
        ck_assert_int_ge(kids[k], 0);
    }
    int total = 0;
    for (int k = 0; k < 2; k++) {
        int status;
        ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
        ck_assert(WIFEXITED(status));
        ck_assert_msg(WEXITSTATUS(status) < 100, "child %d exited %d", k, WEXITSTATUS(status));
        total += WEXITSTATUS(status);
    }
    return total;
}

START_TEST(migrate_concurrent_upgrades_apply_once)
{
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    strata_migrations_free(m);
    char path[700];
    snprintf(path, sizeof path, "%s/versions/0000000000c1_log.yaml", repo_dir());
    write_text(path, "revision: 0000000000c1\ndown_revision: null\nmessage: log\n"
                     "upgrade:\n  - create_table: {name: log, columns: [{name: rev, type: "
                     "string(12)}]}\n"
                     "downgrade:\n  - drop_table: {name: log}\n");
    for (int i = 2; i <= 4; i++) {
        char text[512];
        snprintf(path, sizeof path, "%s/versions/0000000000c%d_step.yaml", repo_dir(), i);
        snprintf(text, sizeof text,
                 "revision: 0000000000c%d\ndown_revision: 0000000000c%d\nmessage: step\n"
                 "upgrade:\n  - sql: INSERT INTO log (rev) VALUES ('c%d')\n%s"
                 "downgrade:\n  - sql: DELETE FROM log WHERE rev = 'c%d'\n",
                 i, i - 1, i,
                 i == 2 ? "  - sql: {postgresql: SELECT pg_sleep(0.3), sqlite: SELECT 1}\n" : "",
                 i);
        write_text(path, text);
    }
    /* The database exists before the deploys start, as it would. */
    strata_db *db = th_open();
    int total = upgrade_in_two_processes(th_url());
    ck_assert_int_eq(total, 4); /* each revision ran once, in one process or the other */
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM log"), 3);
    m = repo_open(repo_dir(), &out);
    assert_current(m, db, "0000000000c4 (head)\n");
    /* Again where transactions are serializable by default (PostgreSQL's
     * default_transaction_isolation): the lock is taken before any
     * snapshot, so the process that waited reads what the other committed
     * and runs nothing again. */
    TH_MOK(m, strata_migrations_downgrade(m, db, "base"));
    char url[1400];
    const char *opt = strstr(th_url(), "options=-c");
    if (opt)
        snprintf(url, sizeof url, "%.*soptions=-cdefault_transaction_isolation%%3Dserializable%%20%s",
                 (int)(opt - th_url()), th_url(), opt + strlen("options="));
    else
        snprintf(url, sizeof url, "%s", th_url());
    ck_assert_int_eq(upgrade_in_two_processes(url), 4);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM log"), 3);
    assert_current(m, db, "0000000000c4 (head)\n");
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* Two deploys whose revisions together take far longer than the busy
 * timeout (100 ms here, 0.5 s a revision): the second waits for the lock
 * in rounds and then finds nothing left, as on PostgreSQL; neither fails. */
START_TEST(migrate_lock_waits_past_the_busy_timeout)
{
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    strata_migrations_free(m);
    char path[700], text[1024];
    snprintf(path, sizeof path, "%s/versions/0000000000d1_log.yaml", repo_dir());
    write_text(path, "revision: 0000000000d1\ndown_revision: null\nmessage: log\n"
                     "upgrade:\n  - create_table: {name: log, columns: [{name: rev, type: "
                     "string(12)}]}\n"
                     "downgrade:\n  - drop_table: {name: log}\n");
    for (int i = 2; i <= 4; i++) {
        snprintf(path, sizeof path, "%s/versions/0000000000d%d_slow.yaml", repo_dir(), i);
        snprintf(text, sizeof text,
                 "revision: 0000000000d%d\ndown_revision: 0000000000d%d\nmessage: slow\n"
                 "upgrade:\n"
                 "  - sql: {sqlite: \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                 "FROM c WHERE x < 1500000) SELECT count(*) FROM c\", postgresql: \"SELECT "
                 "pg_sleep(0.5)\"}\n"
                 "  - sql: INSERT INTO log (rev) VALUES ('d%d')\n"
                 "downgrade:\n  - sql: DELETE FROM log WHERE rev = 'd%d'\n",
                 i, i - 1, i, i);
        write_text(path, text);
    }
    const char *url = th_is_pg() ? th_url() : th_url_with("busy_timeout=100");
    strata_db *db = th_open();
    int total = upgrade_in_two_processes(url);
    ck_assert_int_eq(total, 4);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM log"), 3);
    strata_db_close(db);

    /* With a limit shorter than the other's work, the wait gives up with
     * STRATA_E_BUSY and changes nothing: on SQLite the write lock held, on
     * PostgreSQL the advisory lock of the version table's name. */
    {
        strata_db *holder = th_open();
        th_rc(holder, strata_db_begin_mode(holder, STRATA_TX_WRITE), STRATA_OK);
        if (th_is_pg()) {
            uint64_t h = 0xcbf29ce484222325ull;
            for (const char *p = "strata_version"; *p; p++)
                h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
            char lock[96];
            snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", (long long)h);
            th_exec(holder, lock);
        }
        strata_db *late = th_open_url(url);
        /* A statement timeout shorter than the wait (a role's or a
         * database's, say) does not cut it short.  (A transaction
         * pooler keeps no session setting.) */
        bool timeout_set = th_is_pg() && !th_via_pooler();
        if (timeout_set)
            th_exec(late, "SET statement_timeout = 100");
        m = repo_open(repo_dir(), &out);
        strata_migrations_set_lock_wait(m, 300);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(strata_migrations_downgrade(m, late, "base"), STRATA_E_BUSY);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 10);
        long waited_ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        ck_assert_msg(waited_ms >= 250, "gave up after %ld ms: %s", waited_ms,
                      strata_migrations_errmsg(m));
        ck_assert_ptr_nonnull(strstr(strata_migrations_errmsg(m), "taking the migration lock"));
        if (!th_is_pg())
            ck_assert_ptr_nonnull(strstr(out.text, "Waiting for the migration lock"));
        strata_migrations_free(m);
        if (!th_is_pg()) {
            /* Without a busy timeout each round returns at once: the wait
             * pauses between them instead of spinning a core (it took
             * the whole limit's time on the processor before). */
            strata_db *eager = th_open_url(th_url_with("busy_timeout=0"));
            m = repo_open(repo_dir(), &out);
            strata_migrations_set_lock_wait(m, 400);
            struct timespec c0, c1;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
            ck_assert_int_eq(strata_migrations_downgrade(m, eager, "base"), STRATA_E_BUSY);
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
            long cpu_ms =
                (long)(c1.tv_sec - c0.tv_sec) * 1000 + (c1.tv_nsec - c0.tv_nsec) / 1000000;
            ck_assert_msg(cpu_ms < 200, "the wait took %ld ms of processor time in 400 ms", cpu_ms);
            strata_migrations_free(m);
            strata_db_close(eager);
        }
        th_rc(holder, strata_db_rollback(holder), STRATA_OK);
        ck_assert_int_eq(th_int(late, "SELECT count(*) FROM log"), 3);
        /* The revisions' own lock waits are as the connection had them. */
        snprintf(path, sizeof path, "%s/versions/0000000000d5_timeout.yaml", repo_dir());
        write_text(path, "revision: 0000000000d5\ndown_revision: 0000000000d4\nmessage: t\n"
                         "upgrade:\n  - sql: {postgresql: \"INSERT INTO log (rev) SELECT "
                         "current_setting('lock_timeout')\", sqlite: \"INSERT INTO log (rev) "
                         "VALUES ('7s')\"}\n"
                         "  - sql: {postgresql: \"INSERT INTO log (rev) SELECT CASE WHEN "
                         "current_setting('statement_timeout') = '100ms' THEN '100ms' END\", "
                         "sqlite: \"INSERT INTO log (rev) VALUES ('100ms')\"}\n"
                         "downgrade:\n  - sql: DELETE FROM log WHERE rev IN ('7s', '100ms')\n");
        if (th_is_pg())
            th_exec(late, "SET lock_timeout = '7s'");
        m = repo_open(repo_dir(), &out);
        ck_assert_int_eq(strata_migrations_upgrade(m, late, "head"), STRATA_OK);
        strata_migrations_free(m);
        ck_assert_int_eq(th_int(late, "SELECT count(*) FROM log WHERE rev = '7s'"), 1);
        ck_assert_int_eq(th_int(late, "SELECT count(*) FROM log WHERE rev = '100ms'"),
                         timeout_set || !th_is_pg());
        strata_db_close(late);
        strata_db_close(holder);
    }
}
END_TEST

/* A database at the head needs nothing created: a role that may not
 * create tables (a service upgrading at its start to what a deploy
 * reached) upgrades and stamps it, as does a read-only SQLite file. */
START_TEST(migrate_at_head_creates_nothing)
{
    strata_db *db = th_open();
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    strata_migrations_free(m);
    write_rev("0000000000e1", "null", "e1");
    m = repo_open(repo_dir(), &out);
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    strata_db *weak = NULL;
    char role[64] = "";
    if (th_is_pg() && !th_via_pooler()) {
        char sql[1024], schema[128];
        strata_stmt *st;
        th_rc(db, strata_stmt_prepare(&st, db, "SELECT current_schema()"), STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
        const char *cs = NULL;
        th_rc(db, strata_stmt_column_text(st, 0, &cs, NULL), STRATA_OK);
        snprintf(schema, sizeof schema, "%s", cs);
        strata_stmt_finalize(st);
        snprintf(role, sizeof role, "strata_app_%d", (int)getpid());
        snprintf(sql, sizeof sql,
                 "CREATE ROLE %s; GRANT USAGE ON SCHEMA \"%s\" TO %s; GRANT SELECT, INSERT, "
                 "UPDATE, DELETE ON ALL TABLES IN SCHEMA \"%s\" TO %s",
                 role, schema, role, schema, role);
        th_exec(db, sql);
        weak = th_open();
        snprintf(sql, sizeof sql, "SET ROLE %s", role);
        th_exec(weak, sql);
        /* The role may not create: the version table's CREATE would fail. */
        ck_assert_int_ne(strata_db_exec(weak, "CREATE TABLE t_denied (id integer)"), STRATA_OK);
    } else if (th_engine_now() == TH_SQLITE_FILE) {
        weak = th_open_url(th_url_with("mode=ro"));
    }
    if (weak) {
        TH_MOK(m, strata_migrations_upgrade(m, weak, "head"));
        if (role[0]) /* it writes the version table's row again */
            TH_MOK(m, strata_migrations_stamp(m, weak, "head"));
        assert_current(m, weak, "0000000000e1 (head)\n");
        strata_db_close(weak);
    }
    if (role[0]) {
        char sql[160];
        snprintf(sql, sizeof sql, "DROP OWNED BY %s; DROP ROLE %s", role, role);
        th_exec(db, sql);
    }
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* One transaction for the whole run: a failure keeps nothing.  History
 * ranges and the verbose form; a possible rename warned about in the
 * generated file. */
START_TEST(migrate_single_transaction_history_and_rename_warning)
{
    strata_db *db = th_open();
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    strata_migrations_free(m);
    write_rev("0000000000d1", "null", "d1");
    write_rev("0000000000d2", "0000000000d1", "d2");
    char path[700];
    snprintf(path, sizeof path, "%s/versions/0000000000d3_bad.yaml", repo_dir());
    write_text(path, "revision: 0000000000d3\ndown_revision: 0000000000d2\nmessage: bad\n"
                     "upgrade:\n  - sql: INSERT INTO nowhere VALUES (1)\n");
    m = repo_open(repo_dir(), &out);
    strata_migrations_set_single_transaction(m, 1);
    ck_assert_int_eq(strata_migrations_upgrade(m, db, "head"), STRATA_E_UNDEFINED_TABLE);
    assert_current(m, db, "");
    strata_metadata *empty;
    strata_metadata_new(&empty);
    assert_schema(db, empty);
    strata_metadata_free(empty);
    strata_migrations_set_single_transaction(m, 0);
    ck_assert_int_eq(strata_migrations_upgrade(m, db, "head"), STRATA_E_UNDEFINED_TABLE);
    assert_current(m, db, "0000000000d2\n");

    char *h;
    TH_MOK(m, strata_migrations_history(m, "0000000000d2:", 0, &h));
    ck_assert_str_eq(h, "0000000000d2 -> 0000000000d3 (head), bad\n"
                        "0000000000d1 -> 0000000000d2, d2\n");
    strata_free(h);
    TH_MOK(m, strata_migrations_history(m, ":0000000000d1", 1, &h));
    ck_assert_msg(strstr(h, "Rev: 0000000000d1\nParent: <base>\nPath: ") != NULL, "%s", h);
    strata_free(h);
    ck_assert_int_eq(strata_migrations_history(m, "zz", 0, &h), STRATA_E_MIGRATION);
    strata_migrations_free(m);

    /* A column dropped and one of the same type added: maybe a rename. */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/rename", th_tmpdir());
    th_exec(db, "DROP TABLE IF EXISTS d1");
    th_exec(db, "DROP TABLE IF EXISTS d2");
    th_exec(db, "DELETE FROM strata_version");
    m = repo_init_at(dir, &out);
    strata_metadata *a = base_md();
    TH_MOK(m, strata_migrations_autogenerate(m, db, a, "base", NULL));
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    item_shape renamed = base_shape;
    renamed.note = "remark";
    strata_metadata *b = item_md(renamed);
    char *id;
    out.text[0] = '\0';
    TH_MOK(m, strata_migrations_autogenerate(m, db, b, "rename note", &id));
    ck_assert_msg(strstr(out.text, "WARNING: ") != NULL, "%s", out.text);
    int i = strata_migrations_count(m) - 1;
    FILE *f = fopen(strata_migrations_revision_file(m, i), "r");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(buf, "# WARNING: ") && strstr(buf, "review before running"), "%s", buf);
    strata_free(id);
    strata_metadata_free(a);
    strata_metadata_free(b);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

/* Rebuilding a table other rows point at (SQLite) loses none of them,
 * even with ON DELETE CASCADE; and foreign keys stay enforced after. */
static strata_metadata *parent_child_md(const char *label_type)
{
    strata_metadata *md;
    strata_table *t;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    strata_metadata_add_table(md, "parent", &t);
    strata_table_add_column(t, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    strata_table_add_column(t, "label", label_type, 0, NULL);
    strata_metadata_add_table(md, "child", &t);
    strata_table_add_column(t, "id", "integer", STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT, NULL);
    strata_table_add_column(t, "parent_id", "integer", 0, NULL);
    strata_table_add_foreign_key(t, NULL, "parent_id", "parent", "id", STRATA_FK_CASCADE,
                                 STRATA_FK_NO_ACTION);
    ck_assert_str_eq(strata_metadata_errmsg(md), "");
    return md;
}

START_TEST(migrate_rebuild_keeps_children)
{
    strata_db *db = th_open();
    th_lines out = {""};
    strata_migrations *m = repo_init(&out);
    strata_metadata *a = parent_child_md("string(10)"), *b = parent_child_md("string(30)");
    TH_MOK(m, strata_migrations_autogenerate(m, db, a, "tables", NULL));
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    th_exec(db, "INSERT INTO parent (id, label) VALUES (1, 'p')");
    th_exec(db, "INSERT INTO child (parent_id) VALUES (1), (1), (1)");
    TH_MOK(m, strata_migrations_autogenerate(m, db, b, "longer labels", NULL));
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    assert_schema(db, b);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM child"), 3);
    TH_MOK(m, strata_migrations_downgrade(m, db, "-1"));
    assert_schema(db, a);
    ck_assert_int_eq(th_int(db, "SELECT count(*) FROM child"), 3);
    /* Still enforced: a child of no parent is refused. */
    ck_assert_int_eq(strata_db_exec(db, "INSERT INTO child (parent_id) VALUES (99)"),
                     STRATA_E_FOREIGN_KEY);
    /* A hand-made revision. */
    char *id;
    TH_MOK(m, strata_migrations_revision(m, "by hand", &id));
    ck_assert_int_eq(strata_migrations_count(m), 3);
    TH_MOK(m, strata_migrations_upgrade(m, db, "head"));
    char want[64];
    snprintf(want, sizeof want, "%s (head)\n", id);
    assert_current(m, db, want);
    assert_schema(db, b);
    strata_free(id);
    strata_metadata_free(a);
    strata_metadata_free(b);
    strata_migrations_free(m);
    strata_db_close(db);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    tcase_add_test(tc, migrate_tutorial_sequence);
    tcase_add_test(tc, migrate_partitions_are_not_dropped);
    tcase_add_test(tc, migrate_each_kind_of_change);
    tcase_add_test(tc, migrate_hand_written_renames_and_sql);
    tcase_add_test(tc, migrate_foreign_keys_stay_on);
    tcase_add_test(tc, migrate_a_dangling_reference_is_refused_on_every_path);
    tcase_add_test(tc, migrate_rows_dangling_before_a_revision_do_not_stop_it);
    tcase_add_test(tc, migrate_references_by_other_case_and_key_indexes_are_kept);
    tcase_add_test(tc, migrate_a_type_change_neither_cuts_nor_shifts);
    tcase_add_test(tc, migrate_a_column_made_an_integer);
    tcase_add_test(tc, migrate_type_changes_convert_or_refuse_alike);
    tcase_add_test(tc, migrate_a_type_change_with_no_cast);
    tcase_add_test(tc, migrate_a_dropped_column_takes_its_indexes);
    tcase_add_test(tc, migrate_steps_on_one_column_are_each_applied);
    tcase_add_test(tc, migrate_own_statements_keep_their_foreign_key_actions);
    tcase_add_test(tc, migrate_a_column_named_in_a_partial_index_is_dropped);
    tcase_add_test(tc, migrate_autoincrement_differences_are_said_not_written);
    tcase_add_test(tc, migrate_a_renamed_column_is_renamed_in_checks);
    tcase_add_test(tc, migrate_a_rebuild_keeps_triggers_views_and_expression_indexes);
    tcase_add_test(tc, migrate_a_failed_sql_operation_is_named_without_its_password);
    tcase_add_test(tc, migrate_every_operation_by_hand);
    tcase_add_test(tc, migrate_failure_halfway_resumes);
    tcase_add_test(tc, migrate_bad_files_name_the_place);
    tcase_add_test(tc, migrate_more_bad_files_name_the_place);
    tcase_add_test(tc, migrate_operations_on_missing_things_name_the_place);
    tcase_add_test(tc, migrate_branches_and_merge);
    tcase_add_test(tc, migrate_offline_sql_builds_the_same_database);
    tcase_add_test(tc, migrate_embedded_repository);
    tcase_add_test(tc, migrate_wrong_nodes_name_the_place);
    tcase_add_test(tc, migrate_repository_errors_name_the_place);
    tcase_add_test(tc, migrate_write_embedded_escapes_and_refuses);
    tcase_add_test(tc, migrate_rebuild_keeps_children);
    tcase_add_test(tc, migrate_single_transaction_history_and_rename_warning);
    /* Two processes need a database both can open: not a private
     * in-memory one. */
    if (e != TH_SQLITE_MEMORY) {
        tcase_add_test(tc, migrate_concurrent_upgrades_apply_once);
        tcase_add_test(tc, migrate_lock_waits_past_the_busy_timeout);
        tcase_add_test(tc, migrate_at_head_creates_nothing);
    }
}

static Suite *build(void) { return th_suite_reduced("migrations", add); }

int main(void) { return th_run(build); }
