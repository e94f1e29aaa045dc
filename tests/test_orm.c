/*
 * test_orm.c - models, session, queries and relationships on every engine,
 * with the Mega-Tutorial's microblog models: the seeds' play time step by
 * step with its exact output, CRUD with changed-column updates, rollback,
 * portable errors, validation, cascades, many-to-many follow / unfollow,
 * pagination edges, batched eager loading (statements counted), the
 * identity map.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "../examples/microblog/models.h"

/* The microblog's User, Post and followers: examples/microblog/models.c. */

/* A parent whose children go with it, and a one-to-one. */
typedef struct MusicAlbum {
    strata_object base;
    int64_t id;
    char *title;
} MusicAlbum;

typedef struct Track {
    strata_object base;
    int64_t id;
    char *name;
    int64_t album_id;
} Track;

typedef struct Cover {
    strata_object base;
    int64_t id;
    int64_t album_id;
    char *artist;
    char *ref;   /* uuid */
    char *price; /* numeric(8,2) as text */
} Cover;

extern const strata_model album_model, track_model, cover_model;

static const strata_field album_fields[] = {STRATA_PK(MusicAlbum, id),
                                            STRATA_STRING(MusicAlbum, title, 40, STRATA_UNIQUE),
                                            STRATA_FIELDS_END};
static const strata_relation album_relations[] = {
    {"tracks", STRATA_ONE_TO_MANY, &track_model, .fk = "album_id", .back_populates = "album",
     .cascade = STRATA_CASCADE_DELETE | STRATA_CASCADE_DELETE_ORPHAN, .order_by = "-name"},
    {"cover", STRATA_ONE_TO_ONE, &cover_model, .fk = "album_id", .cascade = STRATA_CASCADE_DELETE},
    STRATA_RELATIONS_END};
const strata_model album_model = {STRATA_MODEL_VERSION,         "MusicAlbum",
                                  .size = sizeof(MusicAlbum),   .fields = album_fields,
                                  .relations = album_relations, .repr = "title"};
static const strata_field track_fields[] = {
    STRATA_PK(Track, id), STRATA_STRING(Track, name, 40, 0),
    STRATA_FOREIGN_KEY(Track, album_id, "music_album.id", STRATA_INDEX), STRATA_FIELDS_END};
static const strata_relation track_relations[] = {
    {"album", STRATA_MANY_TO_ONE, &album_model, .fk = "album_id", .back_populates = "tracks"},
    STRATA_RELATIONS_END};
const strata_model track_model = {STRATA_MODEL_VERSION,         "Track",
                                  .size = sizeof(Track),        .fields = track_fields,
                                  .relations = track_relations, .repr = "name"};
static const strata_field cover_fields[] = {
    STRATA_PK(Cover, id),
    STRATA_FOREIGN_KEY(Cover, album_id, "music_album.id", STRATA_UNIQUE),
    STRATA_STRING(Cover, artist, 40, STRATA_NULLABLE),
    STRATA__FIELD(Cover, ref, STRATA_C_TEXT, "uuid", STRATA_NULLABLE),
    STRATA__FIELD(Cover, price, STRATA_C_TEXT, "numeric(8,2)", STRATA_NULLABLE),
    STRATA_FIELDS_END};
const strata_model cover_model = {STRATA_MODEL_VERSION, "Cover", .size = sizeof(Cover),
                                  .fields = cover_fields, .repr = "artist"};

/* An association object with a composite key (an integer and a text) and
 * a server default the INSERT returns. */
typedef struct Membership {
    strata_object base;
    int64_t user_id;
    char *role;
    char *note;
    strata_timestamp since;
} Membership;

static const strata_field membership_fields[] = {
    STRATA_FOREIGN_KEY(Membership, user_id, "user.id", STRATA_PRIMARY_KEY),
    STRATA_STRING(Membership, role, 20, STRATA_PRIMARY_KEY),
    STRATA_STRING(Membership, note, 40, STRATA_NULLABLE),
    STRATA_DATETIME(Membership, since, 0, .server_default = "now"), STRATA_FIELDS_END};
const strata_model membership_model = {STRATA_MODEL_VERSION, "Membership",
                                       .size = sizeof(Membership), .fields = membership_fields,
                                       .repr = "role"};

static const strata_model *const microblog[] = {&user_model,  &post_model,  &followers_model,
                                                &album_model, &track_model, &cover_model,
                                                &membership_model, NULL};

/* ---- helpers ----------------------------------------------------------- */

typedef struct fixture {
    strata_db *db;
    strata_session *s;
    int statements; /* counted through the echo hook */
} fixture;

static void count_line(void *ud, const char *line)
{
    (void)line;
    ((fixture *)ud)->statements++;
}

static void setup_db(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->db = th_open();
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    ck_assert_msg(strata_metadata_add_models(md, microblog) == STRATA_OK, "%s",
                  strata_metadata_errmsg(md));
    int rc = strata_metadata_create_all(md, f->db);
    ck_assert_msg(rc == STRATA_OK, "create_all: %s", strata_db_errmsg(f->db));
    strata_metadata_free(md);
    ck_assert_int_eq(strata_session_new(&f->s, f->db), STRATA_OK);
    strata_db_set_echo(f->db, count_line, f);
}

static void teardown(fixture *f)
{
    strata_session_free(f->s);
    strata_db_close(f->db);
}

#define OK(f, call)                                                               \
    do {                                                                          \
        int rc_ = (call);                                                         \
        ck_assert_msg(rc_ == STRATA_OK, "%s: %s: %s", #call, strata_errname(rc_), \
                      strata_session_errmsg((f)->s));                             \
    } while (0)

static User *new_user(fixture *f, const char *name, const char *email)
{
    User *u;
    OK(f, strata_new(f->s, &user_model, &u));
    OK(f, strata_set_text(&u->username, name));
    OK(f, strata_set_text(&u->email, email));
    OK(f, strata_add(u));
    return u;
}

static Post *new_post(fixture *f, const char *body, User *author)
{
    Post *p;
    OK(f, strata_new(f->s, &post_model, &p));
    OK(f, strata_set_text(&p->body, body));
    OK(f, strata_set_related(p, "author", author));
    OK(f, strata_add(p));
    return p;
}

static void assert_repr(const strata_list *l, const char *want)
{
    char *got = strata_list_repr(l);
    ck_assert_str_eq(got, want);
    strata_free(got);
}

static void query_repr(fixture *f, strata_query *q, const char *want)
{
    ck_assert_ptr_nonnull(q);
    strata_list *l;
    OK(f, strata_query_all(q, &l));
    assert_repr(l, want);
    strata_list_free(l);
    strata_query_free(q);
}

/* ---- play time --------------------------------------------------------- */

START_TEST(orm_play_time)
{
    fixture f;
    setup_db(&f);
    /* u = User(username='john', email='john@example.com'); db.session.add(u); commit */
    User *john = new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(john->id, 1);
    User *susan = new_user(&f, "susan", "susan@example.com");
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(susan->id, 2);

    /* users = db.session.scalars(sa.select(User)).all() */
    strata_query *q = strata_query_new(f.s, &user_model);
    strata_query_order_by(q, "id", STRATA_ASC);
    strata_list *users;
    OK(&f, strata_query_all(q, &users));
    strata_query_free(q);
    assert_repr(users, "[<User john>, <User susan>]");
    char line[64], out[128] = "";
    for (size_t i = 0; i < users->count; i++) {
        User *u = users->items[i];
        snprintf(line, sizeof line, "%lld %s\n", (long long)u->id, u->username);
        strcat(out, line);
    }
    ck_assert_str_eq(out, "1 john\n2 susan\n");
    strata_list_free(users);

    /* u = db.session.get(User, 1): from the identity map, no SQL */
    int before = f.statements;
    User *u;
    OK(&f, strata_get(f.s, &user_model, 1, &u));
    ck_assert_ptr_eq(u, john);
    ck_assert_int_eq(f.statements, before);

    /* p = Post(body='my first post!', author=u) */
    new_post(&f, "my first post!", u);
    OK(&f, strata_session_commit(f.s));

    /* u.posts.select() for john and susan */
    query_repr(&f, strata_related_query(john, "posts"), "[<Post my first post!>]");
    query_repr(&f, strata_related_query(susan, "posts"), "[]");

    /* every post with its author */
    q = strata_query_new(f.s, &post_model);
    strata_list *posts;
    OK(&f, strata_query_all(q, &posts));
    strata_query_free(q);
    ck_assert_uint_eq(posts->count, 1);
    Post *p = posts->items[0];
    User *author;
    OK(&f, strata_related(p, "author", &author));
    snprintf(out, sizeof out, "%lld %s %s", (long long)p->id, author->username, p->body);
    ck_assert_str_eq(out, "1 john my first post!");
    ck_assert(p->timestamp > 0); /* the client default filled it */
    strata_list_free(posts);

    /* users in reverse alphabetical order */
    q = strata_query_new(f.s, &user_model);
    strata_query_order_by(q, "username", STRATA_DESC);
    query_repr(&f, q, "[<User susan>, <User john>]");

    /* users whose username starts with "s" */
    q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_c("username", STRATA_LIKE, strata_text("s%")));
    query_repr(&f, q, "[<User susan>]");

    /* posts by john through the relationship */
    q = strata_query_new(f.s, &post_model);
    strata_query_filter(q, strata_c("author.username", STRATA_EQ, strata_text("john")));
    query_repr(&f, q, "[<Post my first post!>]");

    /* delete everything */
    q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_all(q, &posts));
    for (size_t i = 0; i < posts->count; i++)
        OK(&f, strata_delete(posts->items[i]));
    strata_list_free(posts);
    strata_query_free(q);
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_all(q, &users));
    for (size_t i = 0; i < users->count; i++)
        OK(&f, strata_delete(users->items[i]));
    strata_list_free(users);
    strata_query_free(q);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 0);
    teardown(&f);
}
END_TEST

/* ---- CRUD, rollback, errors, validation -------------------------------- */

static int echo_has;
static const char *echo_want;
static void find_line(void *ud, const char *line)
{
    ((fixture *)ud)->statements++;
    if (echo_want && strstr(line, echo_want))
        echo_has++;
}

START_TEST(orm_update_only_changed_column)
{
    fixture f;
    setup_db(&f);
    User *u = new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    strata_db_set_echo(f.db, find_line, &f);
    echo_want = "UPDATE";
    echo_has = 0;
    OK(&f, strata_session_commit(f.s)); /* nothing changed: no UPDATE */
    ck_assert_int_eq(echo_has, 0);
    OK(&f, strata_set_text(&u->email, "j@example.com"));
    echo_want = "SET email = ? WHERE";
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'j@example.com'"),
                     1);
    echo_want = NULL;
    teardown(&f);
}
END_TEST

START_TEST(orm_get_miss_sends_only_its_select)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    new_user(&f, "susan", "susan@example.com");
    OK(&f, strata_session_commit(f.s));
    int64_t susan_id = 2;
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    OK(&f, strata_get(f.s, &user_model, 1, &john));
    OK(&f, strata_set_text(&john->email, "changed@example.com")); /* dirty, not pending */
    int before = f.statements;
    User *susan;
    OK(&f, strata_get(f.s, &user_model, susan_id, &susan));
    ck_assert_int_eq(f.statements, before + 1); /* the SELECT, no flush */
    /* A pending insert with its key set is flushed, and found. */
    User *kim;
    OK(&f, strata_new(f.s, &user_model, &kim));
    kim->id = 40;
    strata_set_text(&kim->username, "kim");
    strata_set_text(&kim->email, "kim@example.com");
    OK(&f, strata_add(kim));
    User *got;
    OK(&f, strata_get(f.s, &user_model, 40, &got));
    ck_assert_ptr_eq(got, kim);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(
        th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'changed@example.com'"), 1);
    teardown(&f);
}
END_TEST

START_TEST(orm_rollback_restores_objects)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_set_text(&john->username, "johnny"));
    User *mary = new_user(&f, "mary", "mary@example.com");
    OK(&f, strata_session_flush(f.s));
    ck_assert(mary->id > 0);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_str_eq(john->username, "john");
    ck_assert_int_eq(mary->id, 0); /* no longer saved */
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 1);
    OK(&f, strata_session_commit(f.s)); /* mary is not pending any more */
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 1);
    User *again;
    OK(&f, strata_get(f.s, &user_model, john->id, &again));
    ck_assert_ptr_eq(again, john);
    teardown(&f);
}
END_TEST

START_TEST(orm_portable_errors_and_validation)
{
    fixture f;
    setup_db(&f);
    new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    User *dup = new_user(&f, "john", "other@example.com");
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_UNIQUE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "inserting 1 User"));
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(dup->id, 0);

    /* Validation happens before any SQL, the same on both engines. */
    User *longname;
    OK(&f, strata_new(f.s, &user_model, &longname));
    char name[80];
    memset(name, 'x', 70);
    name[70] = '\0';
    strata_set_text(&longname->username, name);
    strata_set_text(&longname->email, "l@example.com");
    OK(&f, strata_add(longname));
    int before = f.statements;
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_TOO_LONG);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User.username is 70 characters long; the column holds 64");
    ck_assert_int_eq(f.statements, before);
    strata_set_text(&longname->username, NULL);
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_NOT_NULL);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User.username is NULL but the column is NOT NULL");
    OK(&f, strata_delete(longname)); /* pending: just forgotten */

    /* A post for a user that does not exist: the foreign key error. */
    Post *p;
    OK(&f, strata_new(f.s, &post_model, &p));
    strata_set_text(&p->body, "orphan");
    p->user_id = 99;
    OK(&f, strata_add(p));
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_FOREIGN_KEY);
    OK(&f, strata_session_rollback(f.s));
    teardown(&f);
}
END_TEST

START_TEST(orm_delete_parent_with_children_fails_whole)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    new_post(&f, "one", john);
    new_post(&f, "two", john);
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_delete(john));
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_FOREIGN_KEY);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post"), 2);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 1);
    teardown(&f);
}
END_TEST

/* ---- queries ----------------------------------------------------------- */

static void seed_users(fixture *f, int n)
{
    for (int i = 1; i <= n; i++) {
        char name[32], email[48];
        snprintf(name, sizeof name, "user%02d", i);
        snprintf(email, sizeof email, "user%02d@example.com", i);
        new_user(f, name, email);
    }
    OK(f, strata_session_commit(f->s));
}

START_TEST(orm_query_operators)
{
    fixture f;
    setup_db(&f);
    seed_users(&f, 5);
    int64_t n;
    strata_query *q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_or(strata_c("id", STRATA_LT, strata_int(2)),
                                     strata_c("id", STRATA_GE, strata_int(5))));
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 2);
    strata_query_free(q);

    strata_value in[] = {strata_int(1), strata_int(3), strata_int(4)};
    q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_c_in("id", in, 3));
    strata_query_filter(q, strata_not(strata_c("username", STRATA_EQ, strata_text("user03"))));
    strata_query_order_by(q, "id", STRATA_DESC);
    query_repr(&f, q, "[<User user04>, <User user01>]");

    q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_c_between("id", strata_int(2), strata_int(3)));
    query_repr(&f, q, "[<User user02>, <User user03>]");

    q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_c("username", STRATA_ILIKE, strata_text("USER0%")));
    strata_query_filter(q, strata_c("password_hash", STRATA_IS_NULL, strata_null()));
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 5);
    strata_query_free(q);

    q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_c("username", STRATA_LIKE, strata_text("USER0%")));
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 0); /* LIKE is case-sensitive on both engines */
    strata_query_free(q);

    strata_value raw[] = {strata_int(6)};
    q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_c_raw("length(username) = ?", raw, 1));
    strata_query_filter_by(q, "email", strata_text("user02@example.com"));
    User *one;
    OK(&f, strata_query_one(q, &one));
    ck_assert_str_eq(one->username, "user02");
    strata_query_free(q);

    q = strata_query_new(f.s, &user_model);
    ck_assert_int_eq(strata_query_one(q, &one), STRATA_E_MULTIPLE);
    ck_assert_int_eq(strata_query_one_or_none(q, &one), STRATA_E_MULTIPLE);
    strata_query_filter_by(q, "username", strata_text("nobody"));
    ck_assert_int_eq(strata_query_one(q, &one), STRATA_E_NOT_FOUND);
    OK(&f, strata_query_one_or_none(q, &one));
    ck_assert_ptr_null(one);
    OK(&f, strata_query_first(q, &one));
    ck_assert_ptr_null(one);
    int exists = 1;
    OK(&f, strata_query_exists(q, &exists));
    ck_assert_int_eq(exists, 0);
    strata_query_free(q);

    q = strata_query_new(f.s, &user_model);
    strata_query_order_by(q, "id", STRATA_ASC);
    strata_query_limit(q, 2);
    strata_query_offset(q, 1);
    query_repr(&f, q, "[<User user02>, <User user03>]");

    q = strata_query_new(f.s, &user_model);
    strata_query_offset(q, 4);
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 1);
    strata_query_filter(q, strata_c("nope", STRATA_EQ, strata_int(1)));
    ck_assert_int_eq(strata_query_count(q, &n), STRATA_E_UNDEFINED_COLUMN);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "'nope'"));
    strata_query_free(q);
    teardown(&f);
}
END_TEST

START_TEST(orm_paginate)
{
    fixture f;
    setup_db(&f);
    seed_users(&f, 7);
    strata_page pg;
    strata_query *q = strata_query_new(f.s, &user_model);
    strata_query_order_by(q, "username", STRATA_ASC);
    ck_assert_int_eq(strata_query_paginate(q, 0, 3, &pg), STRATA_E_RANGE);
    OK(&f, strata_query_paginate(q, 1, 3, &pg));
    ck_assert_int_eq(pg.total, 7);
    ck_assert_int_eq(pg.pages, 3);
    ck_assert(!pg.has_prev && pg.has_next && pg.next_num == 2 && pg.prev_num == 0);
    assert_repr(pg.items, "[<User user01>, <User user02>, <User user03>]");
    strata_page_clear(&pg);
    OK(&f, strata_query_paginate(q, 3, 3, &pg));
    assert_repr(pg.items, "[<User user07>]");
    ck_assert(pg.has_prev && !pg.has_next && pg.prev_num == 2 && pg.next_num == 0);
    strata_page_clear(&pg);
    OK(&f, strata_query_paginate(q, 4, 3, &pg));
    ck_assert_uint_eq(pg.items->count, 0);
    ck_assert(!pg.has_next);
    strata_page_clear(&pg);
    strata_query_filter_by(q, "username", strata_text("nobody"));
    OK(&f, strata_query_paginate(q, 1, 3, &pg));
    ck_assert_int_eq(pg.total, 0);
    ck_assert_int_eq(pg.pages, 0);
    ck_assert(!pg.has_next && !pg.has_prev);
    strata_page_clear(&pg);
    strata_query_free(q);
    teardown(&f);
}
END_TEST

/* ---- relationships ----------------------------------------------------- */

START_TEST(orm_eager_loading_is_batched)
{
    fixture f;
    setup_db(&f);
    /* 1200 users with two posts each: 1 + ceil(1200/500) = 4 queries. */
    for (int i = 0; i < 1200; i++) {
        char name[32], email[48];
        snprintf(name, sizeof name, "u%04d", i);
        snprintf(email, sizeof email, "u%04d@example.com", i);
        User *u = new_user(&f, name, email);
        new_post(&f, "a", u);
        new_post(&f, "b", u);
    }
    strata_db_set_echo(f.db, find_line, &f);
    echo_want = "INSERT INTO";
    echo_has = 0;
    OK(&f, strata_session_commit(f.s));
    echo_want = NULL;
    /* Batches of 500: 3 INSERTs of users (500, 500, 200), 5 of posts.  On
     * PostgreSQL the full batches of each model go in one pipeline. */
    ck_assert_int_eq(echo_has, 8);
    ck_assert_int_eq(strata_db_counter(f.db, STRATA_COUNTER_PIPELINED), th_is_pg() ? 2 + 4 : 0);

    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    f.statements = 0;
    strata_query *q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_load(q, "posts"));
    strata_list *users;
    OK(&f, strata_query_all(q, &users));
    strata_query_free(q);
    ck_assert_uint_eq(users->count, 1200);
    int queries = f.statements - 1; /* minus BEGIN */
    ck_assert_int_eq(queries, 1 + 3);
    size_t total = 0;
    for (size_t i = 0; i < users->count; i++) {
        const strata_list *posts;
        OK(&f, strata_related_list(users->items[i], "posts", &posts));
        ck_assert_uint_eq(posts->count, 2);
        total += posts->count;
    }
    ck_assert_int_eq(f.statements - 1, queries); /* all from memory */
    ck_assert_uint_eq(total, 2400);
    strata_list_free(users);

    /* Many-to-one eager: the authors of 2400 posts in ceil(1200/500) queries
     * (none, as they are all in the identity map already). */
    f.statements = 0;
    q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_load(q, "author"));
    strata_list *posts;
    OK(&f, strata_query_all(q, &posts));
    strata_query_free(q);
    ck_assert_int_eq(f.statements, 1);
    User *a;
    OK(&f, strata_related(posts->items[0], "author", &a));
    ck_assert_ptr_nonnull(a);
    strata_list_free(posts);
    teardown(&f);
}
END_TEST

START_TEST(orm_followers_many_to_many)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    User *susan = new_user(&f, "susan", "susan@example.com");
    User *david = new_user(&f, "david", "david@example.com");
    OK(&f, strata_session_commit(f.s));
    int is;
    OK(&f, strata_collection_contains(john, "following", susan, &is));
    ck_assert_int_eq(is, 0);
    OK(&f, strata_collection_add(john, "following", susan));
    OK(&f, strata_collection_add(john, "following", david));
    OK(&f, strata_collection_add(susan, "following", john));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 3);

    int64_t n;
    strata_query *q = strata_related_query(john, "following");
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 2);
    strata_query_free(q);
    q = strata_related_query(john, "followers");
    strata_query_order_by(q, "username", STRATA_ASC);
    query_repr(&f, q, "[<User susan>]");

    /* A fresh session asks the database. */
    int64_t john_id = john->id;
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    User *j, *s;
    OK(&f, strata_get(f.s, &user_model, john_id, &j));
    OK(&f, strata_get(f.s, &user_model, 2, &s));
    OK(&f, strata_collection_contains(j, "following", s, &is));
    ck_assert_int_eq(is, 1);
    OK(&f, strata_collection_remove(j, "following", s));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_collection_contains(j, "following", s, &is));
    ck_assert_int_eq(is, 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 2);

    /* Eager many-to-many. */
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_load(q, "followers"));
    strata_query_filter_by(q, "username", strata_text("john"));
    strata_list *l;
    OK(&f, strata_query_all(q, &l));
    strata_query_free(q);
    const strata_list *followers;
    OK(&f, strata_related_list(l->items[0], "followers", &followers));
    assert_repr(followers, "[<User susan>]");
    strata_list_free(l);

    /* Deleting a user removes its association rows. */
    OK(&f, strata_delete(s));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 1);
    teardown(&f);
}
END_TEST

START_TEST(orm_back_populates_and_identity)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    const strata_list *posts;
    OK(&f, strata_related_list(john, "posts", &posts));
    ck_assert_uint_eq(posts->count, 0);
    Post *p = new_post(&f, "hello", john); /* set_related puts it in john.posts */
    ck_assert_uint_eq(posts->count, 1);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(p->user_id, john->id);
    /* Loading the same row twice gives the same object. */
    strata_query *q = strata_query_new(f.s, &post_model);
    Post *again;
    OK(&f, strata_query_first(q, &again));
    strata_query_free(q);
    ck_assert_ptr_eq(again, p);
    char *r = strata_repr(p);
    ck_assert_str_eq(r, "<Post hello>");
    strata_free(r);
    teardown(&f);
}
END_TEST

START_TEST(orm_cascade_delete_and_one_to_one)
{
    fixture f;
    setup_db(&f);
    char buf[64];
    ck_assert_str_eq(strata_model_table(&album_model, buf, sizeof buf), "music_album");
    MusicAlbum *a;
    OK(&f, strata_new(f.s, &album_model, &a));
    strata_set_text(&a->title, "Blue");
    OK(&f, strata_add(a));
    const char *names[] = {"one", "two", "three"};
    Track *t[3];
    for (int i = 0; i < 3; i++) {
        OK(&f, strata_new(f.s, &track_model, &t[i]));
        strata_set_text(&t[i]->name, names[i]);
        OK(&f, strata_collection_add(a, "tracks", t[i])); /* sets album at flush */
        OK(&f, strata_add(t[i]));
    }
    OK(&f, strata_session_flush(f.s)); /* a first, then its tracks */
    Cover *c;
    OK(&f, strata_new(f.s, &cover_model, &c));
    c->album_id = a->id;
    OK(&f, strata_add(c));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track WHERE album_id IS NOT NULL"), 3);
    /* A value of the wrong kind is refused before SQL, on both engines. */
    strata_set_text(&c->ref, "not-a-uuid");
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_DATA);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "Cover.ref: 'not-a-uuid' is not a UUID (8-4-4-4-12 hex digits)");
    strata_set_text(&c->ref, "123e4567-e89b-12d3-a456-426614174000");
    strata_set_text(&c->price, "12,50");
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_DATA);
    strata_set_text(&c->price, "12.50");
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM cover WHERE price = 12.5"), 1);

    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    MusicAlbum *b;
    OK(&f, strata_get(f.s, &album_model, 1, &b));
    Cover *cov;
    OK(&f, strata_related(b, "cover", &cov));
    ck_assert_ptr_nonnull(cov);
    const strata_list *tracks;
    OK(&f, strata_related_list(b, "tracks", &tracks));
    assert_repr(tracks, "[<Track two>, <Track three>, <Track one>]"); /* order_by -name */
    /* delete-orphan: removing a track from the album deletes it. */
    OK(&f, strata_collection_remove(b, "tracks", tracks->items[0]));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track"), 2);
    /* delete cascades to the tracks and the cover. */
    OK(&f, strata_delete(b));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM cover"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM music_album"), 0);
    MusicAlbum *gone;
    ck_assert_int_eq(strata_get(f.s, &album_model, 1, &gone), STRATA_E_NOT_FOUND);
    ck_assert_ptr_null(gone);
    teardown(&f);
}
END_TEST

START_TEST(orm_upsert_and_refresh)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    /* Same username: the row is updated, and the loaded object refreshed. */
    User *u, *got;
    OK(&f, strata_new(f.s, &user_model, &u));
    strata_set_text(&u->username, "john");
    strata_set_text(&u->email, "new@example.com");
    OK(&f, strata_upsert(u, "username", &got));
    ck_assert_ptr_eq(got, john);
    ck_assert_str_eq(john->email, "new@example.com");
    /* A new username: inserted, with its id. */
    OK(&f, strata_new(f.s, &user_model, &u));
    strata_set_text(&u->username, "amy");
    strata_set_text(&u->email, "amy@example.com");
    OK(&f, strata_upsert(u, "username", &got));
    ck_assert_ptr_eq(got, u);
    ck_assert(u->id > john->id); /* PostgreSQL's sequence may skip one */
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 2);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'new@example.com'"),
                     1);
    /* refresh reads what another writer changed. */
    th_exec(f.db, "UPDATE \"user\" SET email = 'x@example.com' WHERE username = 'amy'");
    OK(&f, strata_refresh(u));
    ck_assert_str_eq(u->email, "x@example.com");
    OK(&f, strata_session_commit(f.s)); /* nothing to write back */
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'x@example.com'"),
                     1);
    teardown(&f);
}
END_TEST

START_TEST(orm_composite_keys)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    User *susan = new_user(&f, "susan", "susan@example.com");
    OK(&f, strata_session_commit(f.s));
    /* 600 rows with keys the caller sets: two INSERT batches whose RETURNING
     * rows (the server's `since`) are matched back by key. */
    Membership *admin = NULL;
    for (int i = 0; i < 600; i++) {
        Membership *m;
        char role[16];
        snprintf(role, sizeof role, i ? "r%03d" : "admin", i);
        OK(&f, strata_new(f.s, &membership_model, &m));
        m->user_id = i % 2 ? susan->id : john->id;
        OK(&f, strata_set_text(&m->role, role));
        OK(&f, strata_set_text(&m->note, role));
        OK(&f, strata_add(m));
        if (i == 0)
            admin = m;
    }
    OK(&f, strata_session_commit(f.s));
    ck_assert(admin->since > 0);
    int64_t john_id = john->id, susan_id = susan->id; /* the objects go with the session */
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM membership WHERE note = role"), 600);

    /* get by the whole key after the commit: the row is read again (into
     * the same object), then the identity map answers, with no SQL. */
    int before = f.statements;
    Membership *got;
    strata_value key[2] = {strata_int(john->id), strata_text("admin")};
    OK(&f, strata_get_key(f.s, &membership_model, key, 2, &got));
    ck_assert_ptr_eq(got, admin);
    ck_assert_int_eq(f.statements, before + 2); /* BEGIN, SELECT */
    before = f.statements;
    OK(&f, strata_get_key(f.s, &membership_model, key, 2, &got));
    ck_assert_ptr_eq(got, admin);
    ck_assert_int_eq(f.statements, before);

    /* A new session loads it once, then answers from the map. */
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    OK(&f, strata_get_key(f.s, &membership_model, key, 2, &admin));
    ck_assert_str_eq(admin->note, "admin");
    before = f.statements;
    OK(&f, strata_get_key(f.s, &membership_model, key, 2, &got));
    ck_assert_ptr_eq(got, admin);
    ck_assert_int_eq(f.statements, before);
    strata_query *q = strata_query_new(f.s, &membership_model);
    strata_query_filter_by(q, "role", strata_text("admin"));
    OK(&f, strata_query_one(q, &got));
    strata_query_free(q);
    ck_assert_ptr_eq(got, admin);

    /* An update names the row by its whole key. */
    OK(&f, strata_set_text(&admin->note, "changed"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM membership WHERE note = 'changed'"), 1);

    /* A changed key moves the object; a rollback moves it back. */
    OK(&f, strata_set_text(&admin->role, "owner"));
    OK(&f, strata_session_flush(f.s));
    strata_value owner[2] = {strata_int(john_id), strata_text("owner")};
    OK(&f, strata_get_key(f.s, &membership_model, owner, 2, &got));
    ck_assert_ptr_eq(got, admin);
    ck_assert_int_eq(strata_get_key(f.s, &membership_model, key, 2, &got), STRATA_E_NOT_FOUND);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_str_eq(admin->role, "admin");
    OK(&f, strata_get_key(f.s, &membership_model, key, 2, &got));
    ck_assert_ptr_eq(got, admin);
    ck_assert_int_eq(strata_get_key(f.s, &membership_model, owner, 2, &got), STRATA_E_NOT_FOUND);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM membership WHERE role = 'owner'"), 0);

    /* Delete by the whole key: only that row goes. */
    OK(&f, strata_delete(admin));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM membership"), 599);
    ck_assert_int_eq(strata_get_key(f.s, &membership_model, key, 2, &got), STRATA_E_NOT_FOUND);

    /* Keys that do not fit are refused before any SQL, naming the field. */
    before = f.statements;
    ck_assert_int_eq(strata_get_key(f.s, &membership_model, key, 1, &got), STRATA_E_MISUSE);
    strata_value wrong[2] = {strata_text("1"), strata_text("admin")};
    ck_assert_int_eq(strata_get_key(f.s, &membership_model, wrong, 2, &got), STRATA_E_MISUSE);
    ck_assert(strstr(strata_session_errmsg(f.s), "Membership.user_id") != NULL);
    ck_assert_int_eq(strata_get(f.s, &membership_model, 1, &got), STRATA_E_MISUSE);
    ck_assert(strstr(strata_session_errmsg(f.s), "strata_get_key") != NULL);
    ck_assert_int_eq(f.statements, before);
    /* strata_get_key serves single keys too. */
    strata_value one = strata_int(susan_id);
    User *u;
    OK(&f, strata_get_key(f.s, &user_model, &one, 1, &u));
    ck_assert_str_eq(u->username, "susan");
    teardown(&f);
}
END_TEST

/* A model the session cannot tell rows apart in. */
typedef struct Keyless {
    strata_object base;
    char *name;
} Keyless;
static const strata_field keyless_fields[] = {STRATA_STRING(Keyless, name, 10, 0),
                                              STRATA_FIELDS_END};
static const strata_model keyless_model = {STRATA_MODEL_VERSION, "Keyless",
                                           .size = sizeof(Keyless), .fields = keyless_fields};

START_TEST(orm_model_without_key_is_refused)
{
    fixture f;
    setup_db(&f);
    Keyless *k;
    ck_assert_int_eq(strata_new(f.s, &keyless_model, &k), STRATA_E_SCHEMA);
    ck_assert(strstr(strata_session_errmsg(f.s), "Keyless has no primary key") != NULL);
    teardown(&f);
}
END_TEST

/* A flush that fails is undone in the database and in the objects alike:
 * fixing the cause and flushing again sends everything once. */
START_TEST(orm_failed_flush_is_undone_whole)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    User *susan = new_user(&f, "susan", "susan@example.com");
    OK(&f, strata_session_commit(f.s));
    /* An earlier flush in the same transaction stays done. */
    User *amy = new_user(&f, "amy", "amy@example.com");
    OK(&f, strata_session_flush(f.s));
    int64_t amy_id = amy->id;
    /* This flush updates john, follows susan, inserts kim, then fails on
     * the duplicate. */
    OK(&f, strata_set_text(&john->email, "j@example.com"));
    OK(&f, strata_collection_add(john, "following", susan));
    User *kim = new_user(&f, "kim", "kim@example.com");
    User *dup = new_user(&f, "john", "dup@example.com");
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_UNIQUE);
    ck_assert_int_eq(kim->id, 0);
    ck_assert_int_eq(amy->id, amy_id);
    OK(&f, strata_set_text(&dup->username, "johnny"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 5);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'j@example.com'"),
                     1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 1);
    ck_assert(kim->id > 0);
    teardown(&f);
}
END_TEST

START_TEST(orm_streaming_100k_rows)
{
    fixture f;
    setup_db(&f);
    new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    th_exec(f.db,
            "INSERT INTO post (body, timestamp, user_id) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) "
            "SELECT 'post ' || i, '2026-01-01 00:00:00', 1 FROM n");
    strata_query *q = strata_query_new(f.s, &post_model);
    strata_query_order_by(q, "id", STRATA_ASC);
    strata_iter *it;
    OK(&f, strata_query_iter(q, &it));
    Post *p;
    int64_t n = 0, sum = 0;
    int rc;
    while ((rc = strata_iter_next(it, &p)) == STRATA_ROW) {
        if (n == 0) {
            /* Nothing else runs on the connection meanwhile, on both engines. */
            strata_query *other = strata_query_new(f.s, &user_model);
            int64_t c;
            ck_assert_int_eq(strata_query_count(other, &c), STRATA_E_MISUSE);
            ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "streamed"));
            strata_query_free(other);
            ck_assert_str_eq(p->body, "post 1");
        }
        n++;
        sum += p->id;
    }
    ck_assert_int_eq(rc, STRATA_DONE);
    ck_assert_int_eq(n, 100000);
    ck_assert_int_eq(sum, (int64_t)100000 * 100001 / 2);
    strata_iter_free(it);
    strata_query_free(q);
    /* The streamed rows were not kept: getting one asks the database. */
    int64_t before = strata_db_counter(f.db, STRATA_COUNTER_STATEMENTS);
    Post *one;
    OK(&f, strata_get(f.s, &post_model, 50000, &one));
    ck_assert_str_eq(one->body, "post 50000");
    ck_assert_int_eq(strata_db_counter(f.db, STRATA_COUNTER_STATEMENTS), before + 1);
    /* An iteration given up half-way frees the connection. */
    q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_iter(q, &it));
    OK(&f, strata_iter_next(it, &p) == STRATA_ROW ? STRATA_OK : STRATA_E_ERROR);
    strata_iter_free(it);
    int64_t c;
    OK(&f, strata_query_count(q, &c));
    ck_assert_int_eq(c, 100000);
    strata_query_free(q);
    teardown(&f);
}
END_TEST

static void add_tests(TCase *tc, th_engine engine)
{
    (void)engine;
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, orm_play_time);
    tcase_add_test(tc, orm_update_only_changed_column);
    tcase_add_test(tc, orm_get_miss_sends_only_its_select);
    tcase_add_test(tc, orm_rollback_restores_objects);
    tcase_add_test(tc, orm_portable_errors_and_validation);
    tcase_add_test(tc, orm_delete_parent_with_children_fails_whole);
    tcase_add_test(tc, orm_query_operators);
    tcase_add_test(tc, orm_paginate);
    tcase_add_test(tc, orm_eager_loading_is_batched);
    tcase_add_test(tc, orm_followers_many_to_many);
    tcase_add_test(tc, orm_back_populates_and_identity);
    tcase_add_test(tc, orm_cascade_delete_and_one_to_one);
    tcase_add_test(tc, orm_upsert_and_refresh);
    tcase_add_test(tc, orm_streaming_100k_rows);
    tcase_add_test(tc, orm_composite_keys);
    tcase_add_test(tc, orm_model_without_key_is_refused);
    tcase_add_test(tc, orm_failed_flush_is_undone_whole);
}

static Suite *build_suite(void) { return th_suite("orm", add_tests); }

int main(void) { return th_run(build_suite); }
