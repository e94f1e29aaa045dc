/*
 * test_orm.c - models, session, queries and relationships on every engine,
 * with the Mega-Tutorial's microblog models: the seeds' play time step by
 * step with its exact output, CRUD with changed-column updates, rollback,
 * portable errors, validation, cascades, many-to-many follow / unfollow,
 * pagination edges, batched eager loading (statements counted), the
 * identity map; every C field type; relationship and query-builder edges and
 * misuse, each error naming the relationship or field.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine.h"
#include "orm_internal.h"
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

/* Every C type a field can have, a nullable foreign key, and a
 * relationship pair without back_populates: a shelf holds gadgets. */
typedef struct Shelf {
    strata_object base;
    int64_t id;
    char *label;
} Shelf;

typedef struct Gadget {
    strata_object base;
    int64_t id;
    bool active;
    double weight;
    strata_blob data;
    int64_t count;
    strata_timestamp seen;
    int64_t shelf_id;
} Gadget;

extern const strata_model shelf_model, gadget_model;

static const strata_field shelf_fields[] = {STRATA_PK(Shelf, id),
                                            STRATA_STRING(Shelf, label, 20, 0), STRATA_FIELDS_END};
static const strata_relation shelf_relations[] = {
    {"gadgets", STRATA_ONE_TO_MANY, &gadget_model, .fk = "shelf_id", .order_by = "id"},
    STRATA_RELATIONS_END};
const strata_model shelf_model = {STRATA_MODEL_VERSION,         "Shelf",
                                  .size = sizeof(Shelf),        .fields = shelf_fields,
                                  .relations = shelf_relations, .repr = "label"};
static const strata_field gadget_fields[] = {
    STRATA_PK(Gadget, id),
    STRATA_BOOLEAN(Gadget, active, 0),
    STRATA_FLOAT(Gadget, weight, 0),
    STRATA_BLOB(Gadget, data, STRATA_NULLABLE),
    STRATA_INTEGER(Gadget, count, STRATA_NULLABLE),
    STRATA_DATETIME(Gadget, seen, STRATA_NULLABLE),
    STRATA_FOREIGN_KEY(Gadget, shelf_id, "shelf.id", STRATA_NULLABLE),
    STRATA_FIELDS_END};
static const strata_relation gadget_relations[] = {
    {"shelf", STRATA_MANY_TO_ONE, &shelf_model, .fk = "shelf_id"}, STRATA_RELATIONS_END};
const strata_model gadget_model = {STRATA_MODEL_VERSION, "Gadget", .size = sizeof(Gadget),
                                   .fields = gadget_fields,
                                   .relations = gadget_relations}; /* repr: the key */

/* Table-level constraints and indexes on a model: a bookmark's URL once
 * per user, a check, and a partial index over the rows not archived. */
typedef struct Bookmark {
    strata_object base;
    int64_t id;
    int64_t user_id;
    char *url;
    int64_t stars;
    bool archived;
} Bookmark;

static const strata_field bookmark_fields[] = {STRATA_PK(Bookmark, id),
                                               STRATA_FOREIGN_KEY(Bookmark, user_id, "user.id", 0),
                                               STRATA_STRING(Bookmark, url, 200, 0),
                                               STRATA_INTEGER(Bookmark, stars, 0),
                                               STRATA_BOOLEAN(Bookmark, archived, 0),
                                               STRATA_FIELDS_END};
static const strata_table_arg bookmark_args[] = {
    STRATA_UNIQUE_CONSTRAINT("uq_bookmark_user_url", "user_id, url"),
    STRATA_CHECK_CONSTRAINT("stars_in_range", "stars BETWEEN 0 AND 5"),
    STRATA_INDEX_ON(NULL, "url, stars"),
    STRATA_PARTIAL_INDEX("ix_bookmark_live", "user_id, stars", "archived = false"),
    STRATA_TABLE_ARGS_END};
const strata_model bookmark_model = {STRATA_MODEL_VERSION, "Bookmark", .size = sizeof(Bookmark),
                                     .fields = bookmark_fields, .table_args = bookmark_args};

/* The types a program holds as text or as 64-bit keys, validated the same
 * way on every engine. */
typedef struct Invoice {
    strata_object base;
    int64_t id;
    char *amount; /* numeric(10,2) */
    char *ref;    /* uuid */
    char *doc;    /* json */
    char *status; /* an enum through a check */
    strata_timestamp due;
} Invoice;

static const strata_field invoice_fields[] = {
    STRATA_BIG_PK(Invoice, id),
    STRATA_NUMERIC(Invoice, amount, 10, 2, STRATA_NULLABLE),
    STRATA_UUID(Invoice, ref, STRATA_NULLABLE),
    STRATA_JSON(Invoice, doc, STRATA_NULLABLE),
    STRATA_STRING(Invoice, status, 10, 0),
    STRATA_DATETIME_TZ(Invoice, due, STRATA_NULLABLE),
    STRATA_FIELDS_END};
static const strata_table_arg invoice_args[] = {
    STRATA_ENUM_CHECK("status_values", "status", "'draft', 'sent', 'paid'"), STRATA_TABLE_ARGS_END};
const strata_model invoice_model = {STRATA_MODEL_VERSION, "Invoice", .size = sizeof(Invoice),
                                    .fields = invoice_fields, .table_args = invoice_args};

/* A tree whose rows go with their parent (ON DELETE CASCADE), with a
 * relationship named like its own table, and a field every UPDATE sets. */
typedef struct Node {
    strata_object base;
    int64_t id;
    char *name;
    int64_t parent_id;
    int64_t touched;
    int64_t buddy_id;
} Node;

extern const strata_model node_model;

static void touch(void *field) { *(int64_t *)field = 42; }

static const strata_field node_fields[] = {
    STRATA_PK(Node, id),
    STRATA_STRING(Node, name, 20, 0),
    STRATA_FOREIGN_KEY(Node, parent_id, "node.id", STRATA_NULLABLE, .on_delete = STRATA_FK_CASCADE),
    STRATA_INTEGER(Node, touched, 0, .onupdate = touch),
    STRATA_FOREIGN_KEY(Node, buddy_id, "node.id", STRATA_NULLABLE, .on_delete = STRATA_FK_SET_NULL),
    STRATA_FIELDS_END};
static const strata_relation node_relations[] = {
    {"node", STRATA_MANY_TO_ONE, &node_model, .fk = "parent_id"},
    {"children", STRATA_ONE_TO_MANY, &node_model, .fk = "parent_id", .order_by = "id"},
    STRATA_RELATIONS_END};
const strata_model node_model = {STRATA_MODEL_VERSION,        "Node",
                                 .size = sizeof(Node),        .fields = node_fields,
                                 .relations = node_relations, .repr = "name"};

/* A thread of replies whose key has no ON DELETE rule: rows deleted
 * together must go replies first. */
typedef struct Topic {
    strata_object base;
    int64_t id;
    char *title;
    int64_t parent_id;
} Topic;

extern const strata_model topic_model;
static const strata_field topic_fields[] = {
    STRATA_PK(Topic, id), STRATA_STRING(Topic, title, 20, 0),
    STRATA_FOREIGN_KEY(Topic, parent_id, "topic.id", STRATA_NULLABLE), STRATA_FIELDS_END};
static const strata_relation topic_relations[] = {
    {"parent", STRATA_MANY_TO_ONE, &topic_model, .fk = "parent_id", .back_populates = "replies"},
    {"replies", STRATA_ONE_TO_MANY, &topic_model, .fk = "parent_id", .back_populates = "parent",
     .cascade = STRATA_CASCADE_DELETE},
    STRATA_RELATIONS_END};
const strata_model topic_model = {STRATA_MODEL_VERSION,         "Topic",
                                  .size = sizeof(Topic),        .fields = topic_fields,
                                  .relations = topic_relations, .repr = "title"};

/* A one-to-many whose children have no many-to-one back: adding one can
 * only copy the parent's key. */
typedef struct Folder {
    strata_object base;
    int64_t id;
    char *label;
} Folder;

typedef struct Sheet {
    strata_object base;
    int64_t id;
    int64_t folder_id;
} Sheet;

extern const strata_model folder_model, sheet_model;
static const strata_field folder_fields[] = {
    STRATA_PK(Folder, id), STRATA_STRING(Folder, label, 20, 0), STRATA_FIELDS_END};
static const strata_relation folder_relations[] = {
    {"sheets", STRATA_ONE_TO_MANY, &sheet_model, .fk = "folder_id"}, STRATA_RELATIONS_END};
const strata_model folder_model = {STRATA_MODEL_VERSION,          "Folder",
                                   .size = sizeof(Folder),        .fields = folder_fields,
                                   .relations = folder_relations, .repr = "label"};
static const strata_field sheet_fields[] = {
    STRATA_PK(Sheet, id), STRATA_FOREIGN_KEY(Sheet, folder_id, "folder.id", STRATA_NULLABLE),
    STRATA_FIELDS_END};
const strata_model sheet_model = {STRATA_MODEL_VERSION, "Sheet", .size = sizeof(Sheet),
                                  .fields = sheet_fields};

/* Kennels and their dogs: a delete-orphan collection ordered by a
 * nullable field, the same collection the other way round, a unique name
 * to upsert on, and a one-to-one with back-references on both sides. */
typedef struct Kennel {
    strata_object base;
    int64_t id;
    char *name;
} Kennel;

typedef struct Dog {
    strata_object base;
    int64_t id;
    char *name;
    int64_t kennel_id;
    int64_t rank;
} Dog;

typedef struct Collar {
    strata_object base;
    int64_t id;
    int64_t dog_id;
} Collar;

extern const strata_model kennel_model, dog_model, collar_model;
static const strata_field kennel_fields[] = {
    STRATA_PK(Kennel, id), STRATA_STRING(Kennel, name, 20, STRATA_UNIQUE), STRATA_FIELDS_END};
static const strata_relation kennel_relations[] = {
    {"dogs", STRATA_ONE_TO_MANY, &dog_model, .fk = "kennel_id", .back_populates = "kennel",
     .cascade = STRATA_CASCADE_DELETE | STRATA_CASCADE_DELETE_ORPHAN, .order_by = "rank"},
    {"dogs_down", STRATA_ONE_TO_MANY, &dog_model, .fk = "kennel_id", .order_by = "-rank"},
    STRATA_RELATIONS_END};
const strata_model kennel_model = {STRATA_MODEL_VERSION,          "Kennel",
                                   .size = sizeof(Kennel),        .fields = kennel_fields,
                                   .relations = kennel_relations, .repr = "name"};
static const strata_field dog_fields[] = {
    STRATA_PK(Dog, id), STRATA_STRING(Dog, name, 20, STRATA_UNIQUE),
    STRATA_FOREIGN_KEY(Dog, kennel_id, "kennel.id", STRATA_NULLABLE),
    STRATA_INTEGER(Dog, rank, STRATA_NULLABLE), STRATA_FIELDS_END};
static const strata_relation dog_relations[] = {
    {"kennel", STRATA_MANY_TO_ONE, &kennel_model, .fk = "kennel_id", .back_populates = "dogs"},
    {"collar", STRATA_ONE_TO_ONE, &collar_model, .fk = "dog_id", .back_populates = "dog"},
    STRATA_RELATIONS_END};
const strata_model dog_model = {STRATA_MODEL_VERSION,       "Dog",
                                .size = sizeof(Dog),        .fields = dog_fields,
                                .relations = dog_relations, .repr = "name"};
static const strata_field collar_fields[] = {
    STRATA_PK(Collar, id),
    STRATA_FOREIGN_KEY(Collar, dog_id, "dog.id", STRATA_NULLABLE | STRATA_UNIQUE),
    STRATA_FIELDS_END};
static const strata_relation collar_relations[] = {
    {"dog", STRATA_MANY_TO_ONE, &dog_model, .fk = "dog_id", .back_populates = "collar"},
    STRATA_RELATIONS_END};
const strata_model collar_model = {STRATA_MODEL_VERSION, "Collar", .size = sizeof(Collar),
                                   .fields = collar_fields, .relations = collar_relations};

/* Dates: a day given by the program, one the server fills, and a date
 * in the key. */
typedef struct Diary {
    strata_object base;
    int64_t id;
    strata_timestamp day;
    strata_timestamp made;
} Diary;

static const strata_field diary_fields[] = {
    STRATA_INTEGER(Diary, id, STRATA_PRIMARY_KEY), STRATA_DATE(Diary, day, STRATA_PRIMARY_KEY),
    STRATA_DATE(Diary, made, 0, .server_default = "now"), STRATA_FIELDS_END};
const strata_model diary_model = {STRATA_MODEL_VERSION, "Diary", .size = sizeof(Diary),
                                  .fields = diary_fields};

/* A numeric without precision: as many digits as PostgreSQL keeps. */
typedef struct Wide {
    strata_object base;
    int64_t id;
    char *v;
} Wide;

static const strata_field wide_fields[] = {
    STRATA_PK(Wide, id), STRATA__FIELD(Wide, v, STRATA_C_TEXT, "numeric", STRATA_NULLABLE),
    STRATA_FIELDS_END};
const strata_model wide_model = {STRATA_MODEL_VERSION, "Wide", .size = sizeof(Wide),
                                 .fields = wide_fields};

static const strata_model *const microblog[] = {&user_model,       &post_model,    &followers_model,
                                                &album_model,      &track_model,   &cover_model,
                                                &membership_model, &shelf_model,   &gadget_model,
                                                &bookmark_model,   &invoice_model, &node_model,
                                                &topic_model,      &folder_model,  &sheet_model,
                                                &kennel_model,     &dog_model,     &collar_model,
                                                &diary_model,      &wide_model,    NULL};

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

static Kennel *new_kennel(fixture *f, const char *name);
static Dog *new_dog(fixture *f, const char *name, Kennel *k, int rank);

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

/* A boolean false and a float 0 are zero as an integer 0 is: left out of
 * an INSERT for the server's default, given the client default, and left
 * out of an upsert's update, so the existing row keeps its values. */
typedef struct Flagged {
    strata_object base;
    int64_t id;
    char *code;
    bool active;
    double ratio;
    double weight;
} Flagged;
static void half(void *field) { *(double *)field = 0.5; }
static const strata_field flagged_fields[] = {
    STRATA_PK(Flagged, id),
    STRATA_STRING(Flagged, code, 10, STRATA_UNIQUE),
    STRATA_BOOLEAN(Flagged, active, 0, .server_default = "true"),
    STRATA_FLOAT(Flagged, ratio, 0, .server_default = "1.5"),
    STRATA_FLOAT(Flagged, weight, 0, .default_fn = half),
    STRATA_FIELDS_END};
static const strata_model flagged_model = {STRATA_MODEL_VERSION, "Flagged", .size = sizeof(Flagged),
                                           .fields = flagged_fields};

START_TEST(orm_false_and_zero_take_the_defaults)
{
    fixture f;
    setup_db(&f);
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    const strata_model *const models[] = {&flagged_model, NULL};
    ck_assert_int_eq(strata_metadata_add_models(md, models), STRATA_OK);
    ck_assert_int_eq(strata_metadata_create_all(md, f.db), STRATA_OK);
    strata_metadata_free(md);
    Flagged *a, *b, *got = NULL;
    OK(&f, strata_new(f.s, &flagged_model, &a));
    OK(&f, strata_set_text(&a->code, "a"));
    OK(&f, strata_add(a));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM flagged WHERE code = 'a' AND active "
                                  "AND ratio = 1.5 AND weight = 0.5"),
                     1);
    th_exec(f.db, "UPDATE flagged SET ratio = 2.5, weight = 3");
    OK(&f, strata_new(f.s, &flagged_model, &b));
    OK(&f, strata_set_text(&b->code, "a"));
    if (th_reduced())
        th_reduced_set_upsert(true); /* the engine's upsert, without RETURNING */
    OK(&f, strata_upsert(b, "code", &got));
    ck_assert_ptr_eq(got, a);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM flagged WHERE code = 'a' AND active "
                                  "AND ratio = 2.5"),
                     1);
    OK(&f, strata_session_commit(f.s));
    teardown(&f);
}
END_TEST

/* A model keyed by a uuid. */
typedef struct Ticket {
    strata_object base;
    char *ref;
    char *title;
} Ticket;
static const strata_field ticket_fields[] = {STRATA_UUID(Ticket, ref, STRATA_PRIMARY_KEY),
                                             STRATA_STRING(Ticket, title, 20, 0),
                                             STRATA_FIELDS_END};
static const strata_model ticket_model = {STRATA_MODEL_VERSION, "Ticket", .size = sizeof(Ticket),
                                          .fields = ticket_fields};

/* A get whose key no row of its column can hold finds nothing, or is
 * refused as a query's condition is, before any SQL on every engine:
 * PostgreSQL's own refusal would abort the transaction and lose what it
 * flushed.  A uuid key is found in any case, as its text is kept in
 * lower case. */
START_TEST(orm_get_keys_fit_their_columns)
{
    fixture f;
    setup_db(&f);
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    const strata_model *const models[] = {&ticket_model, NULL};
    ck_assert_int_eq(strata_metadata_add_models(md, models), STRATA_OK);
    ck_assert_int_eq(strata_metadata_create_all(md, f.db), STRATA_OK);
    strata_metadata_free(md);
    User *kim = new_user(&f, "kim", "kim@example.com");
    Ticket *t, *got = NULL;
    OK(&f, strata_new(f.s, &ticket_model, &t));
    OK(&f, strata_set_text(&t->ref, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    OK(&f, strata_set_text(&t->title, "first"));
    OK(&f, strata_add(t));
    OK(&f, strata_session_flush(f.s));
    /* An integer key past the column's 32 bits, both ways: no row (on
     * PostgreSQL none can hold it; SQLite holds none here). */
    User *u = NULL;
    ck_assert_int_eq(strata_get(f.s, &user_model, 3000000000LL, &u), STRATA_E_NOT_FOUND);
    ck_assert_ptr_null(u);
    strata_value big = strata_int(-3000000000LL);
    ck_assert_int_eq(strata_get_key(f.s, &user_model, &big, 1, &u), STRATA_E_NOT_FOUND);
    /* A uuid key in capitals finds the row, in the session and read
     * again; a text that is no UUID is refused. */
    strata_value upper = strata_text("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11");
    OK(&f, strata_get_key(f.s, &ticket_model, &upper, 1, &got));
    ck_assert_ptr_eq(got, t);
    /* PostgreSQL's other forms too, in a key and in a condition. */
    static const char *const forms[] = {"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
                                        "A0EEBC999C0B4EF8BB6D6BB9BD380A11",
                                        "{a0eebc999c0b4ef8bb6d6bb9bd380a11}"};
    for (size_t k = 0; k < sizeof forms / sizeof *forms; k++) {
        strata_value form = strata_text(forms[k]);
        got = NULL;
        OK(&f, strata_get_key(f.s, &ticket_model, &form, 1, &got));
        ck_assert_ptr_eq(got, t);
        strata_query *q = strata_query_new(f.s, &ticket_model);
        OK(&f, strata_query_filter_by(q, "ref", form));
        int64_t n = 0;
        OK(&f, strata_query_count(q, &n));
        ck_assert_msg(n == 1, "%s", forms[k]);
        strata_query_free(q);
    }
    strata_value bad = strata_text("not-a-uuid");
    ck_assert_int_eq(strata_get_key(f.s, &ticket_model, &bad, 1, &got), STRATA_E_DATA);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "Ticket.ref: the key 'not-a-uuid' is not a "
                                                     "UUID"),
                  "%s", strata_session_errmsg(f.s));
    /* The transaction went on: what it flushed is committed. */
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'kim'"), 1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM ticket"), 1);
    strata_session_free(f.s);
    ck_assert_int_eq(strata_session_new(&f.s, f.db), STRATA_OK);
    OK(&f, strata_get_key(f.s, &ticket_model, &upper, 1, &got));
    ck_assert_str_eq(got->title, "first");
    ck_assert_str_eq(got->ref, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    (void)kim;
    teardown(&f);
}
END_TEST

/* A key of several fields, one of them left to its server default. */
typedef struct Reading {
    strata_object base;
    int64_t dev;
    strata_timestamp at;
    double v;
} Reading;
static const strata_field reading_fields[] = {
    STRATA_INTEGER(Reading, dev, STRATA_PRIMARY_KEY),
    STRATA_DATETIME(Reading, at, STRATA_PRIMARY_KEY, .server_default = "now"),
    STRATA_FLOAT(Reading, v, 0), STRATA_FIELDS_END};
static const strata_model reading_model = {STRATA_MODEL_VERSION, "Reading", .size = sizeof(Reading),
                                           .fields = reading_fields};

/* One whose server default is the value a zero field holds. */
typedef struct Tenanted {
    strata_object base;
    int64_t tenant, id;
} Tenanted;
static const strata_field tenanted_fields[] = {
    STRATA_INTEGER(Tenanted, tenant, STRATA_PRIMARY_KEY, .server_default = "0"),
    STRATA_INTEGER(Tenanted, id, STRATA_PRIMARY_KEY), STRATA_FIELDS_END};
static const strata_model tenanted_model = {STRATA_MODEL_VERSION, "Tenanted",
                                            .size = sizeof(Tenanted), .fields = tenanted_fields};

/* Rows an INSERT returns are matched to their objects by the key given:
 * a key field left to the database (other than one integer it numbers)
 * whose default gives another value fails the flush, which is undone,
 * naming the field; with the field given, the row goes in.  A default
 * that gives the value the zero field holds matches. */
START_TEST(orm_key_left_to_the_server_is_refused)
{
    fixture f;
    setup_db(&f);
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    const strata_model *const models[] = {&reading_model, &tenanted_model, NULL};
    ck_assert_int_eq(strata_metadata_add_models(md, models), STRATA_OK);
    ck_assert_int_eq(strata_metadata_create_all(md, f.db), STRATA_OK);
    strata_metadata_free(md);
    Reading *r;
    OK(&f, strata_new(f.s, &reading_model, &r));
    r->dev = 7;
    r->v = 1.5;
    OK(&f, strata_add(r));
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_MISUSE);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "its field at was left to its server default"),
                  "%s", strata_session_errmsg(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM reading"), 0);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(strata_timestamp_from_parts(&r->at, 2024, 5, 1, 12, 0, 0, 0), STRATA_OK);
    OK(&f, strata_add(r));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM reading WHERE dev = 7"), 1);
    Tenanted *tn;
    OK(&f, strata_new(f.s, &tenanted_model, &tn));
    tn->id = 5;
    OK(&f, strata_add(tn));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM tenanted WHERE tenant = 0 AND id = 5"), 1);
    teardown(&f);
}
END_TEST

/* A query marked for update locks the rows it reads, or is refused: a
 * query of plain values locks its table's rows, a query of tuples those
 * of its joins too (their objects come back, to be changed); a count, an
 * existence test, aggregates and DISTINCT have no rows to lock and are
 * refused on every engine, as is an outer join, whose side may hold
 * none.  Run unlocked, a read-modify-write on them lost updates. */
static strata_query *locked_posts(fixture *f)
{
    strata_query *q = strata_query_new(f->s, &post_model);
    ck_assert_ptr_nonnull(q);
    OK(f, strata_query_for_update(q, 0));
    return q;
}

START_TEST(orm_for_update_locks_what_it_reads)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    new_post(&f, "hello", john);
    OK(&f, strata_session_commit(f.s));
    strata_db_set_echo(f.db, find_line, &f);
    bool pg = th_is_pg();
    /* Plain values: locked. */
    strata_query *q = locked_posts(&f);
    OK(&f, strata_query_columns(q, "body"));
    strata_rows *r = NULL;
    echo_want = " FOR UPDATE OF post";
    echo_has = 0;
    OK(&f, strata_query_rows(q, &r));
    ck_assert_int_eq(echo_has, pg ? 1 : 0);
    strata_rows_free(r);
    strata_query_free(q);
    /* Tuples with their joins: both tables locked. */
    q = locked_posts(&f);
    OK(&f, strata_query_join(q, "author"));
    strata_tuples *t = NULL;
    echo_want = " FOR UPDATE OF post, author";
    echo_has = 0;
    OK(&f, strata_query_tuples(q, &t));
    ck_assert_int_eq(echo_has, pg ? 1 : 0);
    strata_tuples_free(t);
    strata_query_free(q);
    echo_want = NULL;
    /* Refused, before any SQL, on every engine. */
    int64_t n = 0;
    int e = 0;
    double d = 0;
    q = locked_posts(&f);
    ck_assert_int_eq(strata_query_count(q, &n), STRATA_E_MISUSE);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "Post query: a count, an existence test"),
                  "%s", strata_session_errmsg(f.s));
    ck_assert_int_eq(strata_query_exists(q, &e), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_scalar_double(q, "max(id)", &d), STRATA_E_MISUSE);
    strata_query_free(q);
    q = locked_posts(&f);
    OK(&f, strata_query_columns(q, "body"));
    OK(&f, strata_query_distinct(q));
    ck_assert_int_eq(strata_query_rows(q, &r), STRATA_E_MISUSE);
    strata_query_free(q);
    q = locked_posts(&f);
    OK(&f, strata_query_outer_join(q, "author"));
    ck_assert_int_eq(strata_query_tuples(q, &t), STRATA_E_MISUSE);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "the outer join of author cannot be locked"),
                  "%s", strata_session_errmsg(f.s));
    strata_query_free(q);
    OK(&f, strata_session_rollback(f.s));
    teardown(&f);
}
END_TEST

/* A numeric or a uuid set in another spelling of the value its row
 * holds is no change: nothing is written for it, and the rest of the
 * flush goes through. */
START_TEST(orm_a_value_respelled_is_no_change)
{
    fixture f;
    setup_db(&f);
    th_exec(f.db, "INSERT INTO music_album (id, title) VALUES (100, 'x')");
    th_exec(f.db, "INSERT INTO cover (id, album_id, ref, price) VALUES "
                  "(100, 100, '123e4567-e89b-12d3-a456-426614174000', 12.5)");
    OK(&f, strata_session_commit(f.s));
    Cover *c;
    OK(&f, strata_get(f.s, &cover_model, 100, &c));
    ck_assert_str_eq(c->price, "12.50");
    OK(&f, strata_set_text(&c->price, "12.5"));
    OK(&f, strata_set_text(&c->ref, "123E4567-E89B-12D3-A456-426614174000"));
    MusicAlbum *a;
    OK(&f, strata_new(f.s, &album_model, &a));
    OK(&f, strata_set_text(&a->title, "y"));
    OK(&f, strata_add(a));
    strata_db_set_echo(f.db, find_line, &f);
    echo_want = "UPDATE";
    echo_has = 0;
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 0);
    echo_want = NULL;
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM music_album"), 2);
    ck_assert_str_eq(c->price, "12.50");
    /* A change among them is written. */
    OK(&f, strata_set_text(&c->price, "13"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM cover WHERE price = 13"), 1);
    teardown(&f);
}
END_TEST

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

/* A loaded object's short strings share their bytes with what the
 * session keeps of the row (one copy, not two).  Setting a string leaves
 * those bytes alone; changing them in place would change both, so a flush
 * refuses it, naming the field. */
START_TEST(orm_loaded_strings_are_shared_and_guarded)
{
    fixture f;
    setup_db(&f);
    new_user(&f, "john", "john@example.com");
    new_user(&f, "mary", "mary@example.com");
    OK(&f, strata_session_commit(f.s));
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    User *john, *mary;
    OK(&f, strata_get(f.s, &user_model, 1, &john));
    OK(&f, strata_get(f.s, &user_model, 2, &mary));

    /* Set, flushed, rolled back: the loaded value comes back. */
    OK(&f, strata_set_text(&john->username, "johnny"));
    OK(&f, strata_session_flush(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'johnny'"), 1);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_str_eq(john->username, "john");
    OK(&f, strata_set_text(&john->username, "jon"));
    OK(&f, strata_set_text(&john->username, "john")); /* back to the loaded value: no change */
    strata_db_set_echo(f.db, find_line, &f);
    echo_want = "UPDATE";
    echo_has = 0;
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 0);

    /* Bytes changed in place: refused before any SQL, the row unchanged. */
    mary->email[0] = 'M';
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User.email was changed in place; set strings with strata_set_text");
    ck_assert_int_eq(echo_has, 0);
    mary->email[0] = 'm'; /* as loaded again: nothing to write */
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 0);
    /* A change of length in place is seen too. */
    mary->email[4] = '\0';
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_MISUSE);
    mary->email[4] = '@';
    OK(&f, strata_set_text(&mary->email, "mary@example.org"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 1);
    echo_want = NULL;
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'mary@example.org'"),
                     1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'john@example.com'"),
                     1);

    /* Changes in place that a weak (linear) check would let cancel out:
     * the same letter upper-cased at two places, 63 bytes apart. */
    char body[101];
    memset(body, 'X', 100);
    body[100] = '\0';
    body[1] = body[64] = 'a';
    Post *p1, *p2;
    OK(&f, strata_new(f.s, &post_model, &p1));
    strata_set_text(&p1->body, body);
    p1->user_id = 1;
    OK(&f, strata_add(p1));
    memset(body, 'X', 100);
    body[100] = '\0';
    body[8] = body[71] = 'b';
    OK(&f, strata_new(f.s, &post_model, &p2));
    strata_set_text(&p2->body, body);
    p2->user_id = 1;
    OK(&f, strata_add(p2));
    OK(&f, strata_session_commit(f.s));
    int64_t ids[2] = {p1->id, p2->id};
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    for (int k = 0; k < 2; k++) {
        Post *p;
        OK(&f, strata_get(f.s, &post_model, ids[k], &p));
        char was[101];
        snprintf(was, sizeof was, "%s", p->body);
        for (char *c = p->body; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_MISUSE);
        ck_assert_str_eq(strata_session_errmsg(f.s),
                         "Post.body was changed in place; set strings with strata_set_text");
        memcpy(p->body, was, strlen(was));
        OK(&f, strata_session_commit(f.s)); /* as loaded again */
    }

    /* One byte changed in place, at every place of texts of 1 to 40
     * bytes: the check reads words, pairs of words and the bytes after
     * the last whole word, and none of them may be left out. */
    enum { LONGEST = 40 };
    int64_t bodies[LONGEST + 1];
    for (int len = 1; len <= LONGEST; len++) {
        char text[LONGEST + 1];
        memset(text, 'a' + len % 26, (size_t)len);
        text[len] = '\0';
        Post *p;
        OK(&f, strata_new(f.s, &post_model, &p));
        OK(&f, strata_set_text(&p->body, text));
        p->user_id = 1;
        OK(&f, strata_add(p));
        OK(&f, strata_session_flush(f.s));
        bodies[len] = p->id;
    }
    OK(&f, strata_session_commit(f.s));
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    for (int len = 1; len <= LONGEST; len++) {
        Post *p;
        OK(&f, strata_get(f.s, &post_model, bodies[len], &p));
        ck_assert_int_eq((int)strlen(p->body), len);
        for (int at = 0; at < len; at++) {
            char was = p->body[at];
            p->body[at] = (char)(was ^ 0x20);
            if (strata_session_flush(f.s) != STRATA_E_MISUSE)
                ck_abort_msg("a change at byte %d of a %d-byte text was not seen", at, len);
            p->body[at] = was;
        }
        OK(&f, strata_session_flush(f.s)); /* as loaded again */
    }

    /* A text holding a NUL byte (SQLite keeps what it is given; PostgreSQL
     * refuses it) is not taken for a change in place: an untouched object
     * holding one leaves the flush of the others alone. */
    if (th_is_pg()) {
        ck_assert_int_ne(strata_db_exec(f.db, "UPDATE \"user\" SET email = "
                                              "convert_from('\\x610062'::bytea, 'UTF8') "
                                              "WHERE id = 1"),
                         STRATA_OK);
        OK(&f, strata_session_rollback(f.s));
    } else {
        th_exec(f.db, "UPDATE \"user\" SET email = CAST(x'610062' AS TEXT) WHERE id = 1");
    }
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    OK(&f, strata_get(f.s, &user_model, 1, &john));
    OK(&f, strata_get(f.s, &user_model, 2, &mary));
    OK(&f, strata_set_text(&mary->username, "maria"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'maria'"), 1);
    teardown(&f);
}
END_TEST

/* What a flush wrote, the session keeps without copying the strings: the
 * snapshot holds the texts strata_set_text made.  Setting a string again
 * leaves the held bytes to the snapshot (a rollback puts them back);
 * changing them in place is refused, as for a loaded object. */
START_TEST(orm_flushed_strings_are_held_and_guarded)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    User *mary = new_user(&f, "mary", "mary@example.com");
    const char *held = john->username;
    OK(&f, strata_session_commit(f.s));
    ck_assert_ptr_eq(john->username, held); /* not moved by the insert */

    /* Set, flushed, set again, rolled back: the committed value comes back. */
    OK(&f, strata_set_text(&john->username, "johnny"));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_set_text(&john->username, "jon"));
    OK(&f, strata_set_text(&john->email, "jon@example.com"));
    OK(&f, strata_session_flush(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'jon' AND "
                                  "email = 'jon@example.com'"),
                     1);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_str_eq(john->username, "john");
    ck_assert_str_eq(john->email, "john@example.com");

    /* Set to what the database has: nothing to write. */
    strata_db_set_echo(f.db, find_line, &f);
    echo_want = "UPDATE";
    echo_has = 0;
    OK(&f, strata_set_text(&mary->username, "maria"));
    OK(&f, strata_set_text(&mary->username, "mary"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 0);

    /* Bytes changed in place: refused before any SQL, the row unchanged,
     * on the inserted object and on one an update flushed. */
    mary->email[0] = 'M';
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User.email was changed in place; set strings with strata_set_text");
    ck_assert_int_eq(echo_has, 0);
    mary->email[0] = 'm';
    OK(&f, strata_set_text(&john->email, "j@example.com"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 1);
    john->email[0] = 'J';
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User.email was changed in place; set strings with strata_set_text");
    john->email[0] = 'j';
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 1);
    echo_want = NULL;
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'j@example.com'"),
                     1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'Mary@example.com'"),
                     0);

    /* A refreshed object, a deleted one and one a failed insert leaves
     * pending keep their strings right (the sanitizer and valgrind runs
     * check that nothing is freed twice or lost). */
    OK(&f, strata_set_text(&mary->username, "maria"));
    OK(&f, strata_refresh(mary));
    ck_assert_str_eq(mary->username, "mary");
    OK(&f, strata_delete(mary));
    OK(&f, strata_session_commit(f.s));
    User *dup = new_user(&f, "john", "dup@example.com"); /* the unique username */
    ck_assert_int_ne(strata_session_flush(f.s), STRATA_OK);
    ck_assert_str_eq(dup->username, "john");
    OK(&f, strata_set_text(&dup->username, "other"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'other'"), 1);
    teardown(&f);
}
END_TEST

/* A session whose transaction the program ended on the connection does
 * not own the next one the program begins: its commit flushes into it and
 * leaves the commit (or rollback) to the program. */
START_TEST(orm_session_does_not_commit_the_callers_transaction)
{
    fixture f;
    setup_db(&f);
    new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_flush(f.s)); /* the session begins its transaction */
    OK(&f, strata_db_rollback(f.db));  /* the program ends it */
    OK(&f, strata_db_begin(f.db));     /* and begins its own */
    th_exec(f.db, "INSERT INTO \"user\" (id, username, email) VALUES (50, 'x', 'x@example.com')");
    new_user(&f, "mary", "mary@example.com");
    OK(&f, strata_session_commit(f.s));
    ck_assert(strata_db_in_transaction(f.db)); /* still the program's */
    OK(&f, strata_db_rollback(f.db));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 0);
    teardown(&f);
}
END_TEST

/* A session commit inside the program's transaction counts its objects
 * committed only when the program commits: rolled back instead, they are
 * as before it (added ones transient, their numbered keys gone), and
 * added again they are inserted. */
START_TEST(orm_joined_commit_follows_the_callers_outcome)
{
    fixture f;
    setup_db(&f);
    OK(&f, strata_db_begin(f.db));
    User *u = new_user(&f, "u", "u@example.com");
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_gt(u->id, 0);
    OK(&f, strata_db_rollback(f.db));
    ck_assert_int_eq(u->id, 0);
    OK(&f, strata_session_rollback(f.s)); /* as the docs ask: changes nothing more */
    ck_assert_int_eq(u->id, 0);
    OK(&f, strata_set_text(&u->email, "e2@example.com"));
    OK(&f, strata_add(u));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'e2@example.com'"),
                     1);

    /* While the program's transaction is open, the session cannot roll
     * back what it committed into it; used again there, what it adds after
     * its commit is still to be written when the program commits. */
    OK(&f, strata_db_begin(f.db));
    new_user(&f, "w1", "w1@example.com");
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(strata_session_rollback(f.s), STRATA_E_MISUSE);
    User *w2 = new_user(&f, "w2", "w2@example.com");
    OK(&f, strata_db_commit(f.db));
    OK(&f, strata_session_flush(f.s)); /* in a transaction of the session's own */
    ck_assert_int_gt(w2->id, 0);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(w2->id, 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username LIKE 'w%'"), 1);

    /* Committed by the program: a later rollback of the session's own
     * transaction puts the committed values back, and keeps the object. */
    OK(&f, strata_db_begin(f.db));
    User *v = new_user(&f, "v", "v@example.com");
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_db_commit(f.db));
    OK(&f, strata_set_text(&v->email, "changed@example.com"));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_gt(v->id, 0);
    ck_assert_str_eq(v->email, "v@example.com");
    User *again;
    OK(&f, strata_get(f.s, &user_model, v->id, &again));
    ck_assert_ptr_eq(again, v);
    teardown(&f);
}
END_TEST

/* A handle closed before its sessions are freed, one of them committed
 * into the program's transaction: closing rolls that back, so its objects
 * go back as after a rollback; the sessions then refuse work and are
 * freed safely (the handle's memory goes with the last of them). */
START_TEST(orm_handle_closed_before_its_sessions)
{
    fixture f;
    setup_db(&f);
    User *u = new_user(&f, "u", "u@example.com");
    OK(&f, strata_session_commit(f.s));
    strata_session *other;
    ck_assert_int_eq(strata_session_new(&other, f.db), STRATA_OK);
    OK(&f, strata_db_begin(f.db));
    OK(&f, strata_set_text(&u->email, "changed@example.com"));
    User *v = new_user(&f, "v", "v@example.com");
    OK(&f, strata_session_commit(f.s)); /* joins the program's transaction */
    ck_assert_int_gt(v->id, 0);
    strata_db_close(f.db);
    ck_assert_str_eq(u->email, "u@example.com");
    ck_assert_int_eq(v->id, 0);
    User *got = NULL;
    ck_assert_int_eq(strata_get(other, &user_model, u->id, &got), STRATA_E_MISUSE);
    ck_assert_ptr_null(got);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(other), "closed"));
    OK(&f, strata_add(v));
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_MISUSE);
    ck_assert_int_eq(v->id, 0);
    strata_session_free(other);
    strata_session_free(f.s);
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

    /* A raw condition's values are as many as its placeholders, counted
     * as the statement counts them ('?' in a string, and ??, are not
     * placeholders): else the values would go to other conditions. */
    strata_value two[] = {strata_int(6), strata_text("?")};
    q = strata_query_new(f.s, &user_model);
    ck_assert_int_eq(strata_query_filter(q, strata_or(strata_c_raw("id = ? OR id = ?", raw, 1),
                                                      strata_c("id", STRATA_EQ, strata_int(2)))),
                     STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User query: a raw condition (strata_c_raw) has 2 placeholders and 1 value");
    strata_query_filter_by(q, "username", strata_text("user02"));
    ck_assert_int_eq(strata_query_count(q, &n), STRATA_E_MISUSE);
    strata_query_free(q);
    q = strata_query_new(f.s, &user_model);
    ck_assert_int_eq(strata_query_filter(q, strata_c_raw("username <> '?' AND id > 0", raw, 1)),
                     STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User query: a raw condition (strata_c_raw) has 0 placeholders and 1 value");
    strata_query_free(q);
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(
               q, strata_c_raw("username <> '?' AND length(username) = ? AND ? <> '?\?'", two, 2)));
    strata_query_filter_by(q, "email", strata_text("user02@example.com"));
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
    /* exists answers for the rows the query would give: past its offset,
     * within its limit. */
    q = strata_query_new(f.s, &user_model);
    int64_t all;
    OK(&f, strata_query_count(q, &all));
    OK(&f, strata_query_exists(q, &exists));
    ck_assert_int_eq(exists, 1);
    strata_query_offset(q, all);
    OK(&f, strata_query_exists(q, &exists));
    ck_assert_int_eq(exists, 0);
    strata_query_offset(q, all - 1);
    OK(&f, strata_query_exists(q, &exists));
    ck_assert_int_eq(exists, 1);
    strata_query_offset(q, 0);
    strata_query_limit(q, 0);
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
    /* Pages whose offset int64 cannot hold are past the end, never another
     * page's rows (the offset used to wrap round). */
    int64_t huge[][2] = {
        {INT64_MAX, 2}, {(int64_t)1 << 62, 3}, {2, INT64_MAX}, {INT64_MAX, INT64_MAX}};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        OK(&f, strata_query_paginate(q, huge[i][0], huge[i][1], &pg));
        ck_assert_msg(pg.items->count == 0, "page %lld of %lld: %zu rows", (long long)huge[i][0],
                      (long long)huge[i][1], (size_t)pg.items->count);
        ck_assert_int_eq(pg.total, 7);
        ck_assert(!pg.has_next && pg.has_prev);
        ck_assert_int_eq(pg.pages, huge[i][1] == 2 ? 4 : huge[i][1] == 3 ? 3 : 1);
        strata_page_clear(&pg);
    }
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
     * PostgreSQL the full batches of each model go in one pipeline.
     * Without RETURNING, one INSERT per row (the numbered key is read
     * back after each). */
    ck_assert_int_eq(echo_has, th_reduced() ? 3600 : 8);
    ck_assert_int_eq(strata_db_counter(f.db, STRATA_COUNTER_PIPELINED),
                     th_is_pg() && !th_reduced() ? 2 + 4 : 0);

    /* Filtered parents: batches of 500 keys, 1 + ceil(1199/500) queries.
     * Every row of the table: their children in one query, without keys.
     * Each in a new session, so nothing is in the identity map. */
    for (int whole = 0; whole <= 1; whole++) {
        strata_session_free(f.s);
        OK(&f, strata_session_new(&f.s, f.db));
        f.statements = 0;
        strata_query *q = strata_query_new(f.s, &user_model);
        OK(&f, strata_query_load(q, "posts"));
        if (!whole)
            OK(&f, strata_query_filter(q, strata_c("username", STRATA_NE, strata_text("u0000"))));
        strata_list *users;
        OK(&f, strata_query_all(q, &users));
        strata_query_free(q);
        ck_assert_uint_eq(users->count, whole ? 1200 : 1199);
        int queries = f.statements - 1; /* minus BEGIN */
        ck_assert_int_eq(queries, whole ? 1 + 1 : 1 + 3);
        size_t total = 0;
        for (size_t i = 0; i < users->count; i++) {
            const strata_list *posts;
            OK(&f, strata_related_list(users->items[i], "posts", &posts));
            ck_assert_uint_eq(posts->count, 2);
            ck_assert_int_eq(((Post *)posts->items[0])->user_id, ((User *)users->items[i])->id);
            total += posts->count;
        }
        ck_assert_int_eq(f.statements - 1, queries); /* all from memory */
        ck_assert_uint_eq(total, whole ? 2400 : 2398);
        strata_list_free(users);
    }
    /* The first result only (a limit): its children by key, not the
     * table's. */
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    strata_query *q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_load(q, "posts"));
    OK(&f, strata_query_order_by(q, "id", STRATA_ASC));
    User *first;
    strata_db_set_echo(f.db, find_line, &f);
    echo_want = "IN (?)";
    echo_has = 0;
    OK(&f, strata_query_first(q, &first));
    ck_assert_int_eq(echo_has, 1);
    echo_want = NULL;
    strata_db_set_echo(f.db, count_line, &f);
    strata_query_free(q);
    const strata_list *firsts;
    f.statements = 0;
    OK(&f, strata_related_list(first, "posts", &firsts));
    ck_assert_uint_eq(firsts->count, 2);
    ck_assert_int_eq(f.statements, 0);

    /* Many-to-one eager: the authors of 2400 posts in ceil(1200/500) queries
     * (none, as they are all in the identity map already). */
    q = strata_query_new(f.s, &user_model);
    strata_list *users;
    OK(&f, strata_query_all(q, &users));
    strata_list_free(users);
    strata_query_free(q);
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

/* An object of another session is refused as a relationship's target:
 * this session would write rows naming it, and keep pointing at it once
 * the other session freed it. */
START_TEST(orm_relationship_refuses_other_session)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    strata_session *other;
    OK(&f, strata_session_new(&other, f.db));
    User *susan, *david;
    OK(&f, strata_new(other, &user_model, &susan));
    OK(&f, strata_set_text(&susan->username, "susan"));
    OK(&f, strata_set_text(&susan->email, "susan@example.com"));
    OK(&f, strata_add(susan));
    OK(&f, strata_session_commit(other));
    OK(&f, strata_new(other, &user_model, &david)); /* transient there */

    for (int k = 0; k < 2; k++) {
        User *t = k ? david : susan;
        ck_assert_int_eq(strata_collection_add(john, "following", t), STRATA_E_MISUSE);
        ck_assert_msg(strstr(strata_session_errmsg(f.s), "User.following: that User belongs to "
                                                         "another session") != NULL,
                      "%s", strata_session_errmsg(f.s));
        ck_assert_int_eq(strata_collection_remove(john, "following", t), STRATA_E_MISUSE);
        ck_assert_int_eq(strata_collection_add(john, "following", NULL), STRATA_E_MISUSE);
        ck_assert_str_eq(strata_session_errmsg(f.s), "User.following: the object to add is NULL");
        Post *p;
        OK(&f, strata_new(f.s, &post_model, &p));
        ck_assert_int_eq(strata_set_related(p, "author", t), STRATA_E_MISUSE);
        ck_assert_msg(strstr(strata_session_errmsg(f.s), "Post.author: that User belongs to "
                                                         "another session") != NULL,
                      "%s", strata_session_errmsg(f.s));
    }
    /* Nothing was linked or added: david stays the other session's, not
     * pending in it, and this session writes nothing. */
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_session_commit(other));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 2);
    strata_session_free(other);
    const strata_list *following;
    OK(&f, strata_related_list(john, "following", &following));
    ck_assert_uint_eq(following->count, 0);
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

/* The collection of a parent not inserted yet holds the children given
 * to it through their many-to-one before it was first read, and keeps
 * them once the flush has written both. */
START_TEST(orm_collection_of_a_new_parent)
{
    fixture f;
    setup_db(&f);
    MusicAlbum *a;
    OK(&f, strata_new(f.s, &album_model, &a));
    strata_set_text(&a->title, "New");
    OK(&f, strata_add(a));
    Track *t, *u, *loose;
    OK(&f, strata_new(f.s, &track_model, &t));
    strata_set_text(&t->name, "given");
    OK(&f, strata_set_related(t, "album", a));
    OK(&f, strata_add(t));
    OK(&f, strata_new(f.s, &track_model, &loose)); /* never added: not a child */
    strata_set_text(&loose->name, "loose");
    OK(&f, strata_set_related(loose, "album", a));
    const strata_list *tracks;
    OK(&f, strata_related_list(a, "tracks", &tracks));
    assert_repr(tracks, "[<Track given>]");
    OK(&f, strata_new(f.s, &track_model, &u));
    strata_set_text(&u->name, "added");
    OK(&f, strata_collection_add(a, "tracks", u));
    OK(&f, strata_add(u));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_related_list(a, "tracks", &tracks));
    ck_assert_int_eq(tracks->count, 2);
    ck_assert_int_eq(t->album_id, a->id);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track WHERE album_id IS NOT NULL"), 2);

    /* New objects put in a collection, or named by a many-to-one, of an
     * object the session saves are saved with it (SQLAlchemy's
     * save-update cascade): no strata_add needed. */
    Track *along;
    OK(&f, strata_new(f.s, &track_model, &along));
    strata_set_text(&along->name, "along");
    OK(&f, strata_collection_add(a, "tracks", along));
    MusicAlbum *fresh;
    OK(&f, strata_new(f.s, &album_model, &fresh));
    strata_set_text(&fresh->title, "Fresh");
    OK(&f, strata_set_related(t, "album", fresh));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_gt(along->id, 0);
    ck_assert_int_gt(fresh->id, 0);
    ck_assert_int_eq(t->album_id, fresh->id);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track t JOIN music_album a ON a.id = "
                                  "t.album_id WHERE a.title = 'Fresh' AND t.name = 'given'"),
                     1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track WHERE name = 'along'"), 1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track WHERE name = 'loose'"), 0);
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
    /* An orphan is one at the flush: a track moved to another album (its
     * tracks not loaded yet, whose load flushes first), or given one
     * through its many-to-one, stays. */
    MusicAlbum *b2;
    OK(&f, strata_new(f.s, &album_model, &b2));
    OK(&f, strata_set_text(&b2->title, "Second"));
    OK(&f, strata_add(b2));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_related_list(b, "tracks", &tracks));
    Track *moved = tracks->items[0], *kept = tracks->items[1];
    OK(&f, strata_collection_remove(b, "tracks", moved));
    OK(&f, strata_collection_add(b2, "tracks", moved));
    OK(&f, strata_collection_remove(b, "tracks", kept));
    OK(&f, strata_set_related(kept, "album", b));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track"), 2);
    ck_assert_int_eq(moved->album_id, b2->id);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track t JOIN music_album a ON "
                                  "a.id = t.album_id WHERE a.title = 'Second'"),
                     1);
    OK(&f, strata_collection_add(b, "tracks", moved)); /* back, for what follows */
    OK(&f, strata_session_commit(f.s));
    /* A flush that fails keeps an orphan one: moved after it, it stays. */
    OK(&f, strata_collection_remove(b, "tracks", moved));
    MusicAlbum *clash;
    OK(&f, strata_new(f.s, &album_model, &clash));
    OK(&f, strata_set_text(&clash->title, "Second")); /* b2's title: UNIQUE */
    OK(&f, strata_add(clash));
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_UNIQUE);
    OK(&f, strata_delete(clash));
    OK(&f, strata_collection_add(b2, "tracks", moved));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track"), 2);
    OK(&f, strata_collection_add(b, "tracks", moved));
    OK(&f, strata_session_commit(f.s));
    /* delete cascades to the tracks and the cover. */
    OK(&f, strata_delete(b));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM cover"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM music_album WHERE title <> 'Second'"), 0);
    MusicAlbum *gone;
    ck_assert_int_eq(strata_get(f.s, &album_model, 1, &gone), STRATA_E_NOT_FOUND);
    ck_assert_ptr_null(gone);
    teardown(&f);
}
END_TEST

/* The typed calls (STRATA_TYPED_MODEL in models.h): the compiler checks
 * the pointers (tests/typed.sh), and an object of another model coming
 * back is refused. */
START_TEST(orm_typed_calls)
{
    fixture f;
    setup_db(&f);
    User *u = NULL, *again = NULL;
    OK(&f, User_new(f.s, &u));
    strata_set_text(&u->username, "typed");
    strata_set_text(&u->email, "typed@example.com");
    OK(&f, strata_add(u));
    Post *p = NULL;
    OK(&f, Post_new(f.s, &p));
    strata_set_text(&p->body, "hello");
    OK(&f, strata_set_related(p, "author", u));
    OK(&f, strata_add(p));
    OK(&f, strata_session_commit(f.s));
    OK(&f, User_get(f.s, u->id, &again));
    ck_assert_ptr_eq(again, u);
    strata_query *users = strata_query_new(f.s, &user_model);
    OK(&f, User_first(users, &again));
    ck_assert_ptr_eq(again, u);
    OK(&f, User_one(users, &again));
    ck_assert_ptr_eq(again, u);
    strata_query_free(users);
    OK(&f, User_related(p, "author", &again));
    ck_assert_ptr_eq(again, u);
    /* A query of posts read as a user: refused, nothing handed out. */
    strata_query *posts = strata_query_new(f.s, &post_model);
    again = u;
    ck_assert_int_eq(User_first(posts, &again), STRATA_E_MISUSE);
    ck_assert_ptr_null(again);
    ck_assert_int_eq(User_one_or_none(posts, &again), STRATA_E_MISUSE);
    ck_assert_ptr_null(again);
    strata_query_free(posts);
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
    if (th_reduced()) {
        /* An engine without upsert says so and changes nothing... */
        ck_assert_int_eq(strata_upsert(u, "username", &got), STRATA_E_UNSUPPORTED);
        ck_assert_ptr_null(got);
        ck_assert_ptr_nonnull(strstr(strata_db_errmsg(f.db), "has no upsert"));
        ck_assert_str_eq(john->email, "john@example.com");
        /* ...and one with upsert but without RETURNING reads the row back. */
        th_reduced_set_upsert(true);
    }
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
    /* A refused upsert (a new username, an email another row has) takes
     * back only itself: the transaction and what it wrote go on. */
    User *clash;
    OK(&f, strata_new(f.s, &user_model, &clash));
    strata_set_text(&clash->username, "zed");
    strata_set_text(&clash->email, "amy@example.com");
    ck_assert_int_eq(strata_upsert(clash, "username", &got), STRATA_E_UNIQUE);
    ck_assert_ptr_null(got);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "upsert of User") != NULL, "%s",
                  strata_session_errmsg(f.s));
    ck_assert_int_eq(strata_is_null(clash, "id") || clash->id == 0, 1);
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
    /* A refresh of an object from an earlier transaction reads what is
     * committed: a rollback after it puts back those values, not the
     * ones the object had before. */
    th_exec(f.db, "UPDATE \"user\" SET email = 'y@example.com' WHERE username = 'amy'");
    OK(&f, strata_refresh(u));
    ck_assert_str_eq(u->email, "y@example.com");
    OK(&f, strata_session_rollback(f.s));
    ck_assert_str_eq(u->email, "y@example.com");
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'y@example.com'"),
                     1);
    /* Read inside a transaction under way, the row may hold its own
     * write (raw SQL on the session's connection): a rollback puts back
     * the committed value, whether the transaction had read the object
     * or not. */
    for (int read_before = 0; read_before < 2; read_before++) {
        OK(&f, strata_get(f.s, &user_model, read_before ? u->id : john->id, &got));
        th_exec(f.db, "UPDATE \"user\" SET email = 'z@example.com' WHERE username = 'amy'");
        OK(&f, strata_refresh(u));
        ck_assert_str_eq(u->email, "z@example.com");
        OK(&f, strata_session_rollback(f.s));
        ck_assert_str_eq(u->email, "y@example.com");
    }
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'y@example.com'"),
                     1);
    teardown(&f);
}
END_TEST

/* The rows of a big insert are placed batch by batch as they come back:
 * a batch that fails after earlier ones were placed takes back every key
 * the flush gave, and the same objects go in whole after a fix. */
START_TEST(orm_failed_batch_takes_back_the_keys_of_earlier_ones)
{
    fixture f;
    setup_db(&f);
    new_user(&f, "taken", "taken@example.com");
    OK(&f, strata_session_commit(f.s));
    enum { N = 1200 };
    /* In the second batch of 500 (pipelined with the first on
     * PostgreSQL), then in the third (a statement of its own). */
    const int bad[2] = {700, 1100};
    for (int round = 0; round < 2; round++) {
        User *u[N];
        for (int i = 0; i < N; i++) {
            char name[32], email[48];
            snprintf(name, sizeof name, i == bad[round] ? "taken" : "%c%04d", 'a' + round, i);
            snprintf(email, sizeof email, "%c%04d@example.com", 'a' + round, i);
            u[i] = new_user(&f, name, email);
        }
        ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_UNIQUE);
        for (int i = 0; i < N; i++)
            ck_assert_int_eq(u[i]->id, 0);
        OK(&f, strata_session_rollback(f.s));
        ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 1 + round * N);
        OK(&f, strata_set_text(&u[bad[round]]->username, round ? "fixed1" : "fixed0"));
        for (int i = 0; i < N; i++)
            OK(&f, strata_add(u[i]));
        OK(&f, strata_session_commit(f.s));
        ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 1 + (round + 1) * N);
        for (int i = 0; i < N; i += 97) {
            char sql[128];
            snprintf(sql, sizeof sql,
                     "SELECT count(*) FROM \"user\" WHERE id = %lld AND email = '%s'",
                     (long long)u[i]->id, u[i]->email);
            ck_assert_int_eq(th_int(f.db, sql), 1);
            User *got;
            OK(&f, strata_get(f.s, &user_model, u[i]->id, &got));
            ck_assert_ptr_eq(got, u[i]);
        }
    }
    teardown(&f);
}
END_TEST

/* A trigger that skips a row of an INSERT's first batch, so that it
 * returns fewer rows than it was given: the flush fails, saying so, and
 * no object is taken as inserted. */
START_TEST(orm_a_batch_short_of_a_row_fails_the_flush)
{
    fixture f;
    setup_db(&f);
    if (th_is_pg())
        th_exec(f.db, "CREATE OR REPLACE FUNCTION strata_skip() RETURNS trigger LANGUAGE plpgsql "
                      "AS $$ BEGIN IF NEW.username = 's0100' THEN RETURN NULL; END IF; "
                      "RETURN NEW; END $$; "
                      "CREATE TRIGGER strata_skip BEFORE INSERT ON \"user\" FOR EACH ROW "
                      "EXECUTE FUNCTION strata_skip()");
    else
        th_exec(f.db, "CREATE TRIGGER strata_skip BEFORE INSERT ON \"user\" "
                      "WHEN NEW.username = 's0100' BEGIN SELECT RAISE(IGNORE); END");
    enum { N = 1200 };
    User *u[N];
    for (int i = 0; i < N; i++) {
        char name[32], email[48];
        snprintf(name, sizeof name, "s%04d", i);
        snprintf(email, sizeof email, "s%04d@example.com", i);
        u[i] = new_user(&f, name, email);
    }
    int rc = strata_session_commit(f.s);
    ck_assert_msg(rc != STRATA_OK, "the commit went through");
    if (!th_reduced()) /* one INSERT a row: the skipped one's key is read back, and not found */
        ck_assert_msg(strstr(strata_session_errmsg(f.s), "returned 499 rows for 500"), "%s",
                      strata_session_errmsg(f.s));
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(u[i]->id, 0);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 0);
    teardown(&f);
}
END_TEST

/* A date field holds a day on every engine: the time of day is dropped
 * at flush (the field too), the server's "now" is today's date, and a
 * condition finds the row by its day, a time on it, or its text.  On
 * SQLite the column's text is the date alone, so that a copy to
 * PostgreSQL checks out. */
START_TEST(orm_date_fields_hold_days)
{
    fixture f;
    setup_db(&f);
    const strata_timestamp day = INT64_C(86400000000);
    strata_timestamp leap; /* 2024-02-29 00:00 UTC */
    ck_assert_int_eq(strata_timestamp_parse(&leap, "2024-02-29", 10), STRATA_OK);
    Diary *d;
    OK(&f, strata_new(f.s, &diary_model, &d));
    d->id = 1;
    d->day = leap + 13 * 3600 * INT64_C(1000000) + 5; /* 13:00:00.000005 */
    OK(&f, strata_add(d));
    Diary *old;
    OK(&f, strata_new(f.s, &diary_model, &old));
    old->id = 2;
    old->day = -day + 1; /* 1969-12-31 00:00:00.000001: the day before 1970 */
    OK(&f, strata_add(old));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(d->day, leap);
    ck_assert_int_eq(old->day, -day);
    strata_stmt *st;
    ck_assert_int_eq(strata_stmt_prepare(&st, f.db, "SELECT day FROM diary ORDER BY id"),
                     STRATA_OK);
    const char *want[] = {"2024-02-29", "1969-12-31"};
    for (int i = 0; i < 2; i++) {
        const char *text;
        size_t len;
        ck_assert_int_eq(strata_stmt_step(st), STRATA_ROW);
        ck_assert_int_eq(strata_stmt_column_text(st, 0, &text, &len), STRATA_OK);
        ck_assert_str_eq(text, want[i]);
    }
    strata_stmt_finalize(st);
    /* The server's "now": today, whatever the time. */
    strata_timestamp now = strata_timestamp_now();
    strata_timestamp today = now - (now % day);
    ck_assert_msg(d->made == today || d->made == today - day, "%lld", (long long)d->made);

    strata_value ways[] = {strata_time(leap), strata_time(leap + 3600 * INT64_C(1000000)),
                           strata_text("2024-02-29"), strata_text("2024-02-29 23:59:59")};
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        strata_query *q = strata_query_new(f.s, &diary_model);
        OK(&f, strata_query_filter(q, strata_c("day", STRATA_EQ, ways[i])));
        int64_t n = -1;
        OK(&f, strata_query_count(q, &n));
        ck_assert_msg(n == 1, "way %zu: %lld rows", i, (long long)n);
        strata_query_free(q);
    }
    strata_query *q = strata_query_new(f.s, &diary_model);
    OK(&f, strata_query_filter(q, strata_c("made", STRATA_EQ, strata_time(d->made))));
    int64_t n = -1;
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 2);
    strata_query_free(q);
    q = strata_query_new(f.s, &diary_model);
    OK(&f, strata_query_filter(q, strata_c("day", STRATA_GT, strata_time(leap - 1))));
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 1);
    strata_query_free(q);
    q = strata_query_new(f.s, &diary_model);
    OK(&f, strata_query_filter(q, strata_c("day", STRATA_EQ, strata_text("someday"))));
    ck_assert_int_eq(strata_query_count(q, &n), STRATA_E_DATA);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "Diary query: the value 'someday' for Diary.day is not a date (YYYY-MM-DD) or "
                     "a time, and the field is a date");
    strata_query_free(q);

    /* Got by its key, in a new session: the date in the key too. */
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    Diary *got;
    strata_value key[2] = {strata_int(1), strata_time(leap)};
    OK(&f, strata_get_key(f.s, &diary_model, key, 2, &got));
    ck_assert_int_eq(got->day, leap);
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
    /* The server's "now" is a time the row's own value, read back and
     * bound, finds (SQLite compares the texts: its CURRENT_TIMESTAMP had
     * no fraction, and the bound value six digits of one). */
    strata_query *at = strata_query_new(f.s, &membership_model);
    OK(&f, strata_query_filter(at, strata_c("since", STRATA_EQ, strata_time(admin->since))));
    OK(&f, strata_query_filter_by(at, "role", strata_text("admin")));
    int64_t same = 0;
    OK(&f, strata_query_count(at, &same));
    ck_assert_int_eq(same, 1);
    strata_query_free(at);
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
static const strata_model keyless_model = {STRATA_MODEL_VERSION, "Keyless", .size = sizeof(Keyless),
                                           .fields = keyless_fields};

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

/* A failed flush takes back the keys it copied from rows whose inserts
 * it undid: a post moved to a new user, and a new post of that user, do
 * not keep a key SQLite may give the next row inserted. */
START_TEST(orm_failed_flush_takes_back_copied_keys)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    new_user(&f, "susan", "susan@example.com");
    Post *old = new_post(&f, "old", john);
    OK(&f, strata_session_commit(f.s));
    int64_t john_id = john->id;
    User *kim = new_user(&f, "kim", "kim@example.com");
    OK(&f, strata_set_related(old, "author", kim));
    Post *np = new_post(&f, "new", kim);
    OK(&f, strata_set_text(&john->username, "susan")); /* fails, after the inserts */
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_UNIQUE);
    ck_assert_int_eq(kim->id, 0);
    ck_assert_int_eq(old->user_id, john_id);
    ck_assert_int_eq(np->user_id, 0);
    OK(&f, strata_set_text(&john->username, "johnny"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_gt(kim->id, 0);
    ck_assert_int_eq(old->user_id, kim->id);
    ck_assert_int_eq(np->user_id, kim->id);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post WHERE user_id = (SELECT id FROM "
                                  "\"user\" WHERE username = 'kim')"),
                     2);
    /* A row whose key was NULL reads NULL again. */
    Dog *stray = new_dog(&f, "stray", NULL, 1), *rex = new_dog(&f, "rex", NULL, 2);
    OK(&f, strata_session_commit(f.s));
    Kennel *k = new_kennel(&f, "north");
    OK(&f, strata_set_related(stray, "kennel", k));
    OK(&f, strata_set_text(&rex->name, "stray")); /* fails, after the insert */
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_UNIQUE);
    ck_assert_int_eq(k->id, 0);
    ck_assert_int_eq(strata_is_null(stray, "kennel_id"), 1);
    OK(&f, strata_set_text(&rex->name, "rex"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(stray->kennel_id, k->id);
    teardown(&f);
}
END_TEST

/* A flush's savepoint travels with its first statement where the driver
 * can (PostgreSQL sends both in one round trip): it must still be in place
 * before that statement runs, whether the statement is prepared then or
 * taken from the cache, so a failure there is undone and leaves earlier
 * work alone; and when the connection is gone, the flush says so and the
 * objects keep their changes. */
START_TEST(orm_flush_savepoint_goes_with_its_first_statement)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    new_user(&f, "susan", "susan@example.com");
    OK(&f, strata_session_commit(f.s));
    User *amy = new_user(&f, "amy", "amy@example.com");
    OK(&f, strata_session_flush(f.s)); /* earlier work in the transaction */
    for (int round = 0; round < 2; round++) {
        /* The first statement is the UPDATE: prepared in round 0, cached in 1. */
        OK(&f, strata_set_text(&john->username, "susan"));
        ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_UNIQUE);
        ck_assert_str_eq(john->username, "susan"); /* still the program's change */
        ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'amy'"),
                         1);
        OK(&f, strata_set_text(&john->username, round ? "jon" : "johnny"));
        OK(&f, strata_session_flush(f.s));
    }
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 3);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'jon'"), 1);
    ck_assert(amy->id > 0);

    if (th_is_pg() && !th_via_pooler()) {
        /* The server ends the connection before the flush. */
        strata_db *other = th_open();
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)",
                 (long long)th_int(f.db, "SELECT pg_backend_pid()"));
        ck_assert_int_eq(th_int(other, sql), 1);
        strata_db_close(other);
        OK(&f, strata_set_text(&john->username, "gone"));
        ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_CONNECTION_LOST);
        ck_assert_str_eq(john->username, "gone");
        ck_assert_int_eq(strata_db_savepoint_depth(f.db), 0); /* the flush's is gone */
        ck_assert_int_eq(strata_session_rollback(f.s), STRATA_OK);
        ck_assert_str_eq(john->username, "jon");
    }
    teardown(&f);
}
END_TEST

/* A long session that writes rows and deletes them again, with ever new
 * keys, keeps an identity map the size of what it holds, not of every
 * key it has seen. */
START_TEST(orm_identity_map_does_not_grow_with_removed_keys)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    Post *posts[50];
    for (int round = 0; round < 40; round++) {
        /* Keys spread over the slots, as hashed keys are. */
        for (int i = 0; i < 50; i++) {
            posts[i] = new_post(&f, "short-lived", john);
            posts[i]->id = (int64_t)(round * 50 + i + 1) * 7919;
        }
        OK(&f, strata_session_commit(f.s));
        for (int i = 0; i < 50; i++)
            OK(&f, strata_delete(posts[i]));
        OK(&f, strata_session_commit(f.s));
    }
    strata__minfo *mi = strata__minfo_get(f.s, &post_model);
    ck_assert_ptr_nonnull(mi);
    ck_assert_uint_eq(mi->nlive, 0);
    ck_assert_uint_le(mi->nslots, 256); /* 2,000 keys seen: 4,096 slots when marks count */
    /* What the map holds is still found. */
    Post *kept = new_post(&f, "kept", john);
    OK(&f, strata_session_commit(f.s));
    Post *again;
    OK(&f, strata_get(f.s, &post_model, kept->id, &again));
    ck_assert_ptr_eq(again, kept);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post"), 1);
    teardown(&f);
}
END_TEST

/* A child and its parent of one table added together are inserted in one
 * batch, before the parent has its key: the flush sets the child's key
 * afterwards, with an UPDATE of that column only. */
START_TEST(orm_key_fixed_after_one_batch)
{
    fixture f;
    setup_db(&f);
    Node *parent, *child;
    OK(&f, strata_new(f.s, &node_model, &child));
    OK(&f, strata_set_text(&child->name, "child"));
    OK(&f, strata_new(f.s, &node_model, &parent));
    OK(&f, strata_set_text(&parent->name, "parent"));
    OK(&f, strata_set_null(parent, "parent_id", 1));
    OK(&f, strata_set_null(parent, "buddy_id", 1));
    OK(&f, strata_set_null(child, "buddy_id", 1));
    OK(&f, strata_set_related(child, "node", parent));
    OK(&f, strata_add(child));
    OK(&f, strata_add(parent));
    OK(&f, strata_session_commit(f.s));
    ck_assert(parent->id > 0 && child->id > 0);
    ck_assert_int_eq(child->parent_id, parent->id);
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT parent_id FROM node WHERE id = %lld", (long long)child->id);
    ck_assert_int_eq(th_int(f.db, sql), parent->id);
    /* Written as it is now: nothing left to flush. */
    strata_db_set_echo(f.db, find_line, &f);
    echo_want = "UPDATE";
    echo_has = 0;
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 0);
    echo_want = NULL;

    /* Three generations added youngest first: three rounds. */
    Node *gen[3];
    for (int i = 0; i < 3; i++) {
        OK(&f, strata_new(f.s, &node_model, &gen[i]));
        OK(&f, strata_set_text(&gen[i]->name, "gen"));
        OK(&f, strata_set_null(gen[i], "buddy_id", 1));
        if (i == 0)
            OK(&f, strata_set_null(gen[i], "parent_id", 1));
    }
    for (int i = 2; i >= 0; i--) {
        if (i > 0)
            OK(&f, strata_set_related(gen[i], "node", gen[i - 1]));
        OK(&f, strata_add(gen[i]));
    }
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(gen[1]->parent_id, gen[0]->id);
    ck_assert_int_eq(gen[2]->parent_id, gen[1]->id);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM node n JOIN node p ON p.id = n.parent_id "
                                  "WHERE n.name = 'gen'"),
                     2);

    /* A tree added leaves first, its rows setting different fields (so
     * in separate batches of a round), beside rows of other models. */
    Node *root, *k1, *k2, *g1;
    Node **tree[] = {&root, &k1, &k2, &g1};
    for (int i = 0; i < 4; i++) {
        OK(&f, strata_new(f.s, &node_model, tree[i]));
        OK(&f, strata_set_text(&(*tree[i])->name, "tree"));
    }
    OK(&f, strata_set_null(root, "parent_id", 1));
    OK(&f, strata_set_null(root, "buddy_id", 1));
    OK(&f, strata_set_null(k1, "buddy_id", 1));
    k2->buddy_id = gen[0]->id; /* set: another batch than k1's */
    OK(&f, strata_set_null(g1, "buddy_id", 1));
    OK(&f, strata_set_related(k1, "node", root));
    OK(&f, strata_set_related(k2, "node", root));
    OK(&f, strata_set_related(g1, "node", k1));
    OK(&f, strata_add(g1));
    new_user(&f, "treeuser", "tree@example.com");
    OK(&f, strata_add(k2));
    OK(&f, strata_add(k1));
    OK(&f, strata_add(root));
    OK(&f, strata_session_commit(f.s));
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM node WHERE (id = %lld AND parent_id = %lld) OR "
             "(id = %lld AND parent_id = %lld AND buddy_id = %lld) OR (id = %lld AND parent_id = %lld)",
             (long long)k1->id, (long long)root->id, (long long)k2->id, (long long)root->id,
             (long long)gen[0]->id, (long long)g1->id, (long long)k1->id);
    ck_assert_int_eq(th_int(f.db, sql), 3);

    /* A round's rows get their keys in the order they were added, not
     * their parents'. */
    Node *r1, *r2, *c2, *c1;
    Node **added[] = {&r1, &r2, &c2, &c1};
    for (int i = 0; i < 4; i++) {
        OK(&f, strata_new(f.s, &node_model, added[i]));
        OK(&f, strata_set_text(&(*added[i])->name, "order"));
        OK(&f, strata_set_null(*added[i], "buddy_id", 1));
    }
    OK(&f, strata_set_null(r1, "parent_id", 1));
    OK(&f, strata_set_null(r2, "parent_id", 1));
    OK(&f, strata_set_related(c2, "node", r2));
    OK(&f, strata_set_related(c1, "node", r1));
    for (int i = 0; i < 4; i++)
        OK(&f, strata_add(*added[i]));
    OK(&f, strata_session_commit(f.s));
    ck_assert(r1->id < r2->id && c2->id < c1->id);
    ck_assert(c1->parent_id == r1->id && c2->parent_id == r2->id);

    /* Two that point at each other cannot go in order: the flush fails
     * on the key and writes neither. */
    Node *x, *y;
    OK(&f, strata_new(f.s, &node_model, &x));
    OK(&f, strata_new(f.s, &node_model, &y));
    OK(&f, strata_set_text(&x->name, "x"));
    OK(&f, strata_set_text(&y->name, "y"));
    OK(&f, strata_set_null(x, "buddy_id", 1));
    OK(&f, strata_set_null(y, "buddy_id", 1));
    OK(&f, strata_set_related(x, "node", y));
    OK(&f, strata_set_related(y, "node", x));
    OK(&f, strata_add(x));
    OK(&f, strata_add(y));
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_FOREIGN_KEY);
    ck_assert_int_eq(x->id, 0);
    OK(&f, strata_set_related(y, "node", NULL));
    OK(&f, strata_set_null(y, "parent_id", 1));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(x->parent_id, y->id);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM node"), 15);
    teardown(&f);
}
END_TEST

/* A many-to-one the program set on an object that is not in the database
 * (it was rolled back, or never added) is the program's, not something a
 * transaction read: a rollback, a savepoint's rollback or a commit keeps
 * it, and the key is copied when the object is inserted after all. */
static Node *new_node(fixture *f, const char *name, Node *parent)
{
    Node *n;
    OK(f, strata_new(f->s, &node_model, &n));
    OK(f, strata_set_text(&n->name, name));
    OK(f, strata_set_null(n, "buddy_id", 1));
    if (parent)
        OK(f, strata_set_related(n, "node", parent));
    else
        OK(f, strata_set_null(n, "parent_id", 1));
    return n;
}

static void check_parent(fixture *f, const Node *child, const Node *parent)
{
    ck_assert(parent->id > 0 && child->id > 0);
    ck_assert_int_eq(child->parent_id, parent->id);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT parent_id FROM node WHERE id = %lld", (long long)child->id);
    ck_assert_int_eq(th_int(f->db, sql), parent->id);
}

START_TEST(orm_rollback_keeps_relationships_of_unsaved_objects)
{
    fixture f;
    setup_db(&f);
    /* Inserted, rolled back, added again: the child goes under the
     * parent's new key, not the one the rollback took back. */
    Node *root = new_node(&f, "root", NULL), *leaf = new_node(&f, "leaf", root);
    OK(&f, strata_add(leaf));
    OK(&f, strata_add(root));
    OK(&f, strata_session_flush(f.s));
    ck_assert_int_eq(leaf->parent_id, root->id);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(root->id, 0);
    Node *other = new_node(&f, "other", NULL); /* takes the key root had */
    OK(&f, strata_add(other));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_add(leaf));
    OK(&f, strata_add(root));
    OK(&f, strata_session_commit(f.s));
    check_parent(&f, leaf, root);

    /* Added, never flushed, rolled back: the same. */
    Node *a = new_node(&f, "a", NULL), *b = new_node(&f, "b", a);
    OK(&f, strata_add(b));
    OK(&f, strata_add(a));
    OK(&f, strata_session_rollback(f.s));
    OK(&f, strata_add(b));
    OK(&f, strata_add(a));
    OK(&f, strata_session_commit(f.s));
    check_parent(&f, b, a);

    /* Never added while its parent was committed: added later, it takes
     * the parent's key. */
    Node *p = new_node(&f, "p", NULL), *c = new_node(&f, "c", p);
    OK(&f, strata_add(p));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_add(c));
    OK(&f, strata_session_commit(f.s));
    check_parent(&f, c, p);

    /* Undone by a savepoint's rollback, then added again. */
    OK(&f, strata_session_savepoint(f.s));
    Node *x = new_node(&f, "x", NULL), *y = new_node(&f, "y", x);
    OK(&f, strata_add(y));
    OK(&f, strata_add(x));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_session_savepoint_rollback(f.s));
    ck_assert_int_eq(x->id, 0);
    OK(&f, strata_add(y));
    OK(&f, strata_add(x));
    OK(&f, strata_session_commit(f.s));
    check_parent(&f, y, x);

    /* Inserted, then a savepoint rolled back or a bulk change (which
     * forget what was loaded), then rolled back: the same. */
    for (int way = 0; way < 2; way++) {
        Node *top = new_node(&f, "top", NULL), *low = new_node(&f, "low", top);
        OK(&f, strata_add(low));
        OK(&f, strata_add(top));
        if (way == 0) {
            OK(&f, strata_session_savepoint(f.s)); /* flushes both */
            OK(&f, strata_session_savepoint_rollback(f.s));
        } else {
            OK(&f, strata_session_flush(f.s));
            strata_query *bq = strata_query_new(f.s, &node_model);
            int64_t changed;
            OK(&f, strata_query_filter(bq, strata_c("name", STRATA_EQ, strata_text("other"))));
            OK(&f, strata_query_update(bq, (strata_assign[]){{"touched", strata_int(7)}}, 1,
                                       &changed));
            strata_query_free(bq);
        }
        OK(&f, strata_session_rollback(f.s));
        Node *taker = new_node(&f, "taker", NULL);
        OK(&f, strata_add(taker));
        OK(&f, strata_session_commit(f.s));
        OK(&f, strata_add(low));
        OK(&f, strata_add(top));
        OK(&f, strata_session_commit(f.s));
        check_parent(&f, low, top);
    }

    /* Set to an object the flush cannot give a key (added along with it,
     * then taken out again): refused, before any SQL, naming the
     * relationship; the key is not left naming what the rolled-back flush
     * gave it. */
    Node *r = new_node(&f, "r", NULL), *s2 = new_node(&f, "s", r);
    OK(&f, strata_add(s2)); /* and r along with it */
    OK(&f, strata_session_flush(f.s));
    ck_assert_int_gt(r->id, 0);
    OK(&f, strata_session_rollback(f.s));
    OK(&f, strata_add(s2));
    OK(&f, strata_delete(r)); /* never inserted: new again */
    int before = f.statements;
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_MISUSE);
    ck_assert_int_eq(f.statements, before);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "Node.node"));
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "not added"));
    OK(&f, strata_add(r));
    OK(&f, strata_session_commit(f.s));
    check_parent(&f, s2, r);
    Node *gone = new_node(&f, "gone", NULL), *orphan = new_node(&f, "orphan", gone);
    OK(&f, strata_add(gone));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_delete(gone));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_add(orphan));
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "deleted"));
    OK(&f, strata_set_related(orphan, "node", r));
    OK(&f, strata_session_commit(f.s));
    check_parent(&f, orphan, r);

    /* A saved object's change, rolled back, is gone with its key. */
    Node *q = new_node(&f, "q", NULL);
    OK(&f, strata_add(q));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_set_related(c, "node", q));
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(c->parent_id, p->id);
    OK(&f, strata_session_commit(f.s));
    check_parent(&f, c, p);
    teardown(&f);
}
END_TEST

/* A one-to-many without back_populates: a child added to a parent the
 * transaction inserted goes through the child's own many-to-one when it
 * has one (kept through a rollback like any setting), and is refused when
 * it has none and a rollback could leave it another row's key. */
START_TEST(orm_collection_add_kept_through_rollback)
{
    fixture f;
    setup_db(&f);
    Shelf *a, *b;
    Gadget *g;
    OK(&f, strata_new(f.s, &shelf_model, &a));
    OK(&f, strata_set_text(&a->label, "A"));
    OK(&f, strata_add(a));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_new(f.s, &gadget_model, &g));
    g->weight = 1.5;
    OK(&f, strata_collection_add(a, "gadgets", g));
    OK(&f, strata_add(g));
    OK(&f, strata_session_rollback(f.s));
    OK(&f, strata_new(f.s, &shelf_model, &b));
    OK(&f, strata_set_text(&b->label, "B")); /* on SQLite, takes A's old key */
    OK(&f, strata_add(b));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_add(a));
    OK(&f, strata_add(g));
    OK(&f, strata_session_commit(f.s));
    ck_assert(a->id > 0 && a->id != b->id);
    ck_assert_int_eq(g->shelf_id, a->id);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT shelf_id FROM gadget WHERE id = %lld", (long long)g->id);
    ck_assert_int_eq(th_int(f.db, sql), a->id);
    /* A parent not saved yet is fine now too: its key is copied at the
     * flush. */
    Shelf *c;
    Gadget *h;
    OK(&f, strata_new(f.s, &shelf_model, &c));
    OK(&f, strata_set_text(&c->label, "C"));
    OK(&f, strata_new(f.s, &gadget_model, &h));
    h->weight = 2.5;
    OK(&f, strata_collection_add(c, "gadgets", h));
    OK(&f, strata_add(h));
    OK(&f, strata_add(c));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(h->shelf_id, c->id);
    teardown(&f);
}
END_TEST

/* Without back_populates or a many-to-one of the child's, only the key is
 * copied, at once: from a saved parent into a saved child, but not from a
 * parent inserted in this transaction into an uncommitted child, nor from
 * a deleted parent. */
START_TEST(orm_collection_add_copies_a_key_only_when_safe)
{
    fixture f;
    setup_db(&f);
    Folder *old, *fresh;
    Sheet *kept, *loose;
    OK(&f, strata_new(f.s, &folder_model, &old));
    OK(&f, strata_set_text(&old->label, "old"));
    OK(&f, strata_add(old));
    OK(&f, strata_new(f.s, &sheet_model, &kept));
    OK(&f, strata_set_null(kept, "folder_id", 1));
    OK(&f, strata_add(kept));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_collection_add(old, "sheets", kept));
    ck_assert_int_eq(kept->folder_id, old->id);
    OK(&f, strata_new(f.s, &folder_model, &fresh));
    OK(&f, strata_set_text(&fresh->label, "fresh"));
    OK(&f, strata_add(fresh));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_new(f.s, &sheet_model, &loose));
    OK(&f, strata_set_null(loose, "folder_id", 1));
    OK(&f, strata_add(loose));
    ck_assert_int_eq(strata_collection_add(fresh, "sheets", loose), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s),
                                 "Folder.sheets: give the relationship a back_populates to add "
                                 "objects that are not committed yet"));
    OK(&f, strata_collection_add(fresh, "sheets", kept)); /* a committed child */
    ck_assert_int_eq(kept->folder_id, fresh->id);
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_delete(old));
    ck_assert_int_eq(strata_collection_add(old, "sheets", loose), STRATA_E_MISUSE);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "Folder.sheets: that Folder is deleted"),
                  "%s", strata_session_errmsg(f.s));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM sheet WHERE folder_id IS NULL"), 1);
    teardown(&f);
}
END_TEST

/* A child moved to another parent (by its key, or by an upsert that
 * writes its row) is no child of the old one: deleting the old parent in
 * the same flush leaves it, whatever the old parent's collection held
 * when it was loaded, and its many-to-one and the collections follow the
 * upsert at once. */
typedef struct Writer {
    strata_object base;
    int64_t id;
    char *name;
} Writer;
typedef struct Book {
    strata_object base;
    int64_t id;
    char *title;
    int64_t writer_id;
} Book;
extern const strata_model writer_model, book_model;
static const strata_field writer_fields[] = {STRATA_PK(Writer, id),
                                             STRATA_STRING(Writer, name, 20, 0), STRATA_FIELDS_END};
static const strata_relation writer_relations[] = {
    {"books", STRATA_ONE_TO_MANY, &book_model, .fk = "writer_id", .back_populates = "writer",
     .cascade = STRATA_CASCADE_DELETE, .order_by = "id"},
    STRATA_RELATIONS_END};
const strata_model writer_model = {STRATA_MODEL_VERSION, "Writer", .size = sizeof(Writer),
                                   .fields = writer_fields, .relations = writer_relations};
static const strata_field book_fields[] = {
    STRATA_PK(Book, id), STRATA_STRING(Book, title, 20, STRATA_UNIQUE),
    STRATA_FOREIGN_KEY(Book, writer_id, "writer.id", 0), STRATA_FIELDS_END};
static const strata_relation book_relations[] = {
    {"writer", STRATA_MANY_TO_ONE, &writer_model, .fk = "writer_id", .back_populates = "books"},
    STRATA_RELATIONS_END};
const strata_model book_model = {STRATA_MODEL_VERSION, "Book", .size = sizeof(Book),
                                 .fields = book_fields, .relations = book_relations};

START_TEST(orm_a_child_moved_away_is_not_deleted_with_its_old_parent)
{
    fixture f;
    setup_db(&f);
    th_exec(f.db, "CREATE TABLE writer (id integer PRIMARY KEY, name varchar(20) NOT NULL)");
    th_exec(f.db, th_is_pg() ? "CREATE TABLE book (id integer GENERATED BY DEFAULT AS IDENTITY "
                               "PRIMARY KEY, title varchar(20) NOT NULL UNIQUE, writer_id integer "
                               "NOT NULL REFERENCES writer (id))"
                             : "CREATE TABLE book (id INTEGER PRIMARY KEY, title varchar(20) NOT "
                               "NULL UNIQUE, writer_id integer NOT NULL REFERENCES writer (id))");
    th_exec(f.db, "INSERT INTO writer (id, name) VALUES (1, 'one'), (2, 'two')");
    th_exec(f.db, "INSERT INTO book (id, title, writer_id) VALUES (10, 'T', 1), (11, 'U', 1)");
    OK(&f, strata_session_commit(f.s));
    Writer *w1, *w;
    OK(&f, strata_get(f.s, &writer_model, 1, &w1));
    const strata_list *books;
    OK(&f, strata_related_list(w1, "books", &books));
    ck_assert_uint_eq(books->count, 2);
    Book *t = books->items[0], *u = books->items[1], *nb, *got = NULL;
    OK(&f, strata_related(t, "writer", &w));
    ck_assert_ptr_eq(w, w1);
    /* T moves to writer 2 by an upsert on its title. */
    OK(&f, strata_new(f.s, &book_model, &nb));
    OK(&f, strata_set_text(&nb->title, "T"));
    nb->writer_id = 2;
    if (th_reduced())
        th_reduced_set_upsert(true); /* the engine's upsert, without RETURNING */
    OK(&f, strata_upsert(nb, "title", &got));
    ck_assert_ptr_eq(got, t);
    ck_assert_int_eq(t->writer_id, 2);
    OK(&f, strata_related(t, "writer", &w));
    ck_assert_int_eq(w->id, 2);
    OK(&f, strata_related_list(w1, "books", &books));
    ck_assert_uint_eq(books->count, 1);
    ck_assert_ptr_eq(books->items[0], u);
    /* U moves by its key; then writer 1 goes, with no child left. */
    u->writer_id = 2;
    OK(&f, strata_delete(w1));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM writer"), 1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM book WHERE writer_id = 2"), 2);
    teardown(&f);
}
END_TEST

/* A deleted object whose key the program changed and did not send is
 * deleted by the key its row has, and so are the children its cascade
 * loads: the children of the row the changed key names are not touched,
 * through a one-to-many and through a model referring to itself (whose
 * rows go children first). */
START_TEST(orm_a_deleted_object_cascades_by_its_rows_key)
{
    fixture f;
    setup_db(&f);
    th_exec(f.db, "INSERT INTO music_album (id, title) VALUES (1, 'empty'), (2, 'full')");
    th_exec(f.db, "INSERT INTO track (id, name, album_id) VALUES (10, 'a', 2), (11, 'b', 2)");
    th_exec(f.db, "INSERT INTO topic (id, title, parent_id) VALUES (1, 'lone', NULL), "
                  "(2, 'root', NULL), (3, 'reply', 2), (4, 'below', 1)");
    OK(&f, strata_session_commit(f.s));
    MusicAlbum *a;
    OK(&f, strata_get(f.s, &album_model, 1, &a));
    a->id = 2;
    OK(&f, strata_delete(a));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM music_album WHERE id = 1"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM music_album WHERE id = 2"), 1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track WHERE album_id = 2"), 2);
    Topic *t;
    OK(&f, strata_get(f.s, &topic_model, 1, &t));
    t->id = 2;
    OK(&f, strata_delete(t));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM topic WHERE id IN (1, 4)"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM topic WHERE id IN (2, 3)"), 2);
    /* The flush's rounds of cascades ask for a parent's children once. */
    OK(&f, strata_get(f.s, &album_model, 2, &a));
    OK(&f, strata_delete(a));
    strata_db_set_echo(f.db, find_line, &f);
    echo_want = "album_id = ?";
    echo_has = 0;
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 2); /* its tracks and its cover, once each */
    echo_want = NULL;
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM track"), 0);
    teardown(&f);
}
END_TEST

/* A failed flush puts back what its cascades marked: the program deleted
 * the album and then kept it, so its tracks stay too. */
START_TEST(orm_failed_flush_takes_back_its_cascade)
{
    fixture f;
    setup_db(&f);
    MusicAlbum *al;
    Track *t;
    OK(&f, strata_new(f.s, &album_model, &al));
    OK(&f, strata_set_text(&al->title, "kept"));
    OK(&f, strata_add(al));
    OK(&f, strata_new(f.s, &track_model, &t));
    OK(&f, strata_set_text(&t->name, "track"));
    OK(&f, strata_set_related(t, "album", al));
    OK(&f, strata_add(t));
    User *u = new_user(&f, "owner", "owner@example.com");
    Post *p;
    OK(&f, strata_new(f.s, &post_model, &p));
    OK(&f, strata_set_text(&p->body, "pins the user"));
    OK(&f, strata_set_related(p, "author", u));
    OK(&f, strata_add(p));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_delete(al));
    OK(&f, strata_delete(u)); /* its post is still there: the flush fails */
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_FOREIGN_KEY);
    OK(&f, strata_add(al));
    OK(&f, strata_add(u));
    OK(&f, strata_session_commit(f.s));
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM track WHERE id = %lld", (long long)t->id);
    ck_assert_int_eq(th_int(f.db, sql), 1);
    Track *again;
    OK(&f, strata_get(f.s, &track_model, t->id, &again));
    ck_assert_ptr_eq(again, t);
    teardown(&f);
}
END_TEST

/* strata_refresh puts the relationships back with the values: a target
 * set and not flushed is dropped with its key. */
START_TEST(orm_refresh_drops_an_unflushed_setting)
{
    fixture f;
    setup_db(&f);
    User *u1 = new_user(&f, "one", "one@example.com"), *u2 = new_user(&f, "two", "two@example.com");
    Post *p;
    OK(&f, strata_new(f.s, &post_model, &p));
    OK(&f, strata_set_text(&p->body, "b"));
    OK(&f, strata_set_related(p, "author", u1));
    OK(&f, strata_add(p));
    OK(&f, strata_session_commit(f.s));
    const strata_list *posts, *mine;
    OK(&f, strata_related_list(u1, "posts", &mine));
    ck_assert_uint_eq(mine->count, 1);
    OK(&f, strata_related_list(u2, "posts", &posts));
    ck_assert_uint_eq(posts->count, 0);
    OK(&f, strata_set_related(p, "author", u2));
    ck_assert_uint_eq(posts->count, 1);
    ck_assert_uint_eq(mine->count, 0);
    OK(&f, strata_refresh(p));
    User *author;
    OK(&f, strata_related(p, "author", &author));
    ck_assert_ptr_eq(author, u1);
    OK(&f, strata_related_list(u2, "posts", &posts));
    ck_assert_uint_eq(posts->count, 0);
    OK(&f, strata_related_list(u1, "posts", &mine)); /* p is back in it */
    ck_assert_uint_eq(mine->count, 1);
    ck_assert_ptr_eq(mine->items[0], p);
    OK(&f, strata_session_commit(f.s));
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT user_id FROM post WHERE id = %lld", (long long)p->id);
    ck_assert_int_eq(th_int(f.db, sql), u1->id);
    teardown(&f);
}
END_TEST

/* Rows the database deleted by itself: an UPDATE of one is an error, not
 * a change lost; an ON DELETE rule's rows are read again at their next
 * use; a key the database gives again is the new row's alone. */
START_TEST(orm_rows_gone_under_the_session)
{
    fixture f;
    setup_db(&f);
    Node *n = new_node(&f, "n", NULL);
    OK(&f, strata_add(n));
    OK(&f, strata_session_commit(f.s));
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM node WHERE id = %lld", (long long)n->id);
    OK(&f, strata_db_exec(f.db, sql));
    OK(&f, strata_set_text(&n->name, "lost?"));
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "no row has this key"));
    OK(&f, strata_session_rollback(f.s));

    /* ON DELETE CASCADE: the child's row goes with its parent's. */
    Node *root = new_node(&f, "root", NULL), *kid = new_node(&f, "kid", root);
    OK(&f, strata_add(root));
    OK(&f, strata_add(kid));
    OK(&f, strata_session_commit(f.s));
    int64_t kid_id = kid->id;
    OK(&f, strata_delete(root));
    OK(&f, strata_session_flush(f.s));
    Node *got = NULL;
    ck_assert_int_eq(strata_get(f.s, &node_model, kid_id, &got), STRATA_E_NOT_FOUND);
    OK(&f, strata_session_commit(f.s));

    /* The same, the child not looked at before keys are given again. */
    root = new_node(&f, "root2", NULL);
    kid = new_node(&f, "kid2", root);
    OK(&f, strata_add(root));
    OK(&f, strata_add(kid));
    OK(&f, strata_session_commit(f.s));
    kid_id = kid->id;
    OK(&f, strata_delete(root));
    OK(&f, strata_session_commit(f.s));
    Node *fresh[3];
    for (int i = 0; i < 3; i++) {
        fresh[i] = new_node(&f, "fresh", NULL);
        OK(&f, strata_add(fresh[i]));
    }
    OK(&f, strata_session_commit(f.s)); /* SQLite gives the freed keys again */
    OK(&f, strata_set_text(&kid->name, "stale"));
    int rc = strata_session_commit(f.s);
    ck_assert_msg(rc == STRATA_OK || rc == STRATA_E_NOT_FOUND, "%s", strata_errname(rc));
    if (rc != STRATA_OK)
        OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM node WHERE name = 'stale'"), 0);
    for (int i = 0; i < 3; i++) {
        OK(&f, strata_get(f.s, &node_model, fresh[i]->id, &got));
        ck_assert_ptr_eq(got, fresh[i]);
    }
    teardown(&f);
}
END_TEST

static Topic *new_topic(fixture *f, const char *title, Topic *parent)
{
    Topic *t;
    OK(f, strata_new(f->s, &topic_model, &t));
    OK(f, strata_set_text(&t->title, title));
    if (parent)
        OK(f, strata_set_related(t, "parent", parent));
    else
        OK(f, strata_set_null(t, "parent_id", 1));
    OK(f, strata_add(t));
    return t;
}

/* Rows of a model that refers to itself, deleted in one flush, go
 * children first, whatever order the program deleted them in. */
START_TEST(orm_tree_deleted_replies_first)
{
    fixture f;
    setup_db(&f);
    Topic *root = new_topic(&f, "root", NULL), *a = new_topic(&f, "a", root);
    Topic *b = new_topic(&f, "b", a), *c = new_topic(&f, "c", root);
    OK(&f, strata_session_commit(f.s));
    Topic *order[] = {root, a, b, c}; /* parents before their replies */
    for (int i = 0; i < 4; i++)
        OK(&f, strata_delete(order[i]));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM topic"), 0);

    /* The ORM's cascade marks the thread; the flush deletes it leaves
     * first. */
    root = new_topic(&f, "root", NULL);
    Topic *prev = root;
    for (int i = 0; i < 50; i++)
        prev = new_topic(&f, "chain", prev);
    new_topic(&f, "side", root);
    Topic *other = new_topic(&f, "other", NULL);
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_delete(root));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM topic"), 1);
    ck_assert_int_eq(other->id, th_int(f.db, "SELECT id FROM topic"));
    teardown(&f);
}
END_TEST

/* A many-to-one set with strata_set_related stays as long as the object's
 * key fields agree with it: after a savepoint's rollback, a bulk change or
 * a refresh, a setting the values put back contradict is dropped, one they
 * agree with is kept (through a later rollback too). */
START_TEST(orm_settings_follow_the_values_put_back)
{
    fixture f;
    setup_db(&f);
    User *u1 = new_user(&f, "u1", "u1@x"), *u2 = new_user(&f, "u2", "u2@x");
    OK(&f, strata_session_commit(f.s));
    char sql[160];

    /* Set inside a savepoint, rolled back with it. */
    Post *p = new_post(&f, "p", u1);
    OK(&f, strata_session_flush(f.s)); /* inserted in this transaction */
    OK(&f, strata_session_savepoint(f.s));
    OK(&f, strata_set_related(p, "author", u2));
    OK(&f, strata_session_savepoint_rollback(f.s));
    User *a = NULL;
    OK(&f, strata_related(p, "author", &a));
    ck_assert_ptr_eq(a, u1);
    /* ... and to a target made inside it, which the rollback took back. */
    OK(&f, strata_session_savepoint(f.s));
    User *u3 = new_user(&f, "u3", "u3@x");
    OK(&f, strata_set_related(p, "author", u3));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_session_savepoint_rollback(f.s));
    OK(&f, strata_session_commit(f.s));
    snprintf(sql, sizeof sql, "SELECT user_id FROM post WHERE id = %lld", (long long)p->id);
    ck_assert_int_eq(th_int(f.db, sql), u1->id);

    /* A refresh after the setting was flushed keeps it, and the target's
     * loaded posts. */
    const strata_list *posts;
    OK(&f, strata_related_list(u2, "posts", &posts));
    OK(&f, strata_set_related(p, "author", u2));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_refresh(p));
    OK(&f, strata_related_list(u2, "posts", &posts));
    ck_assert_uint_eq(posts->count, 1);
    OK(&f, strata_related(p, "author", &a));
    ck_assert_ptr_eq(a, u2);
    OK(&f, strata_session_commit(f.s));

    /* Refreshed after its insert, then rolled back and added again: the
     * flushed setting is kept, so the new key is copied. */
    Node *root = new_node(&f, "root", NULL), *leaf = new_node(&f, "leaf", root);
    OK(&f, strata_add(root));
    OK(&f, strata_add(leaf));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_refresh(leaf));
    OK(&f, strata_session_rollback(f.s));
    Node *other = new_node(&f, "other", NULL); /* takes root's old key on SQLite */
    OK(&f, strata_add(other));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_add(root));
    OK(&f, strata_add(leaf));
    OK(&f, strata_session_commit(f.s));
    check_parent(&f, leaf, root);

    /* A bulk change of the key wins over a setting made before it. */
    Shelf *s1;
    OK(&f, strata_new(f.s, &shelf_model, &s1));
    OK(&f, strata_set_text(&s1->label, "s1"));
    OK(&f, strata_add(s1));
    OK(&f, strata_session_commit(f.s));
    Gadget *g;
    OK(&f, strata_new(f.s, &gadget_model, &g));
    g->weight = 1;
    OK(&f, strata_set_related(g, "shelf", s1));
    OK(&f, strata_add(g));
    OK(&f, strata_session_flush(f.s));
    strata_query *q = strata_query_new(f.s, &gadget_model);
    int64_t changed;
    OK(&f, strata_query_filter(q, strata_c("id", STRATA_EQ, strata_int(g->id))));
    OK(&f, strata_query_update(q, (strata_assign[]){{"shelf_id", strata_null()}}, 1, &changed));
    strata_query_free(q);
    OK(&f, strata_session_commit(f.s));
    snprintf(sql, sizeof sql, "SELECT count(*) FROM gadget WHERE id = %lld AND shelf_id IS NULL",
             (long long)g->id);
    ck_assert_int_eq(th_int(f.db, sql), 1);
    teardown(&f);
}
END_TEST

/* Rows an ON DELETE rule removed under the session: the transaction goes
 * on (its settings were written), an object of another row is not read
 * with this transaction's values taken for committed ones, and a change to
 * a row whose key went to a new row is an error, not lost. */
START_TEST(orm_session_after_database_cascades)
{
    fixture f;
    setup_db(&f);
    Node *root = new_node(&f, "root", NULL), *kid = new_node(&f, "kid", root);
    OK(&f, strata_add(root));
    OK(&f, strata_add(kid));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_delete(root));
    OK(&f, strata_session_flush(f.s)); /* kid's row goes with it */
    OK(&f, strata_session_commit(f.s));

    Node *n = new_node(&f, "orig", NULL), *z = new_node(&f, "z", NULL);
    OK(&f, strata_add(n));
    OK(&f, strata_add(z));
    OK(&f, strata_session_commit(f.s));
    Node *got;
    OK(&f, strata_get(f.s, &node_model, n->id, &got));
    OK(&f, strata_set_text(&n->name, "changed"));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_delete(z)); /* its rule reaches every Node */
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_get(f.s, &node_model, n->id, &got));
    OK(&f, strata_session_rollback(f.s));
    ck_assert_str_eq(n->name, "orig");
    OK(&f, strata_set_text(&n->name, "changed"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM node WHERE name = 'changed'"), 1);

    root = new_node(&f, "root", NULL);
    kid = new_node(&f, "kid", root);
    OK(&f, strata_add(root));
    OK(&f, strata_add(kid));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_delete(root));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_set_text(&kid->name, "lost?"));
    for (int i = 0; i < 2; i++) {
        Node *fresh = new_node(&f, "fresh", NULL);
        OK(&f, strata_add(fresh));
    }
    int rc = strata_session_commit(f.s);
    ck_assert_msg(rc == STRATA_E_NOT_FOUND, "%s", strata_errname(rc));
    rc = strata_session_commit(f.s); /* the same again, not the change dropped */
    ck_assert_msg(rc == STRATA_E_NOT_FOUND, "%s", strata_errname(rc));
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM node WHERE name = 'lost?'"), 0);

    /* A setting not yet written counts as a change too. */
    Node *a = new_node(&f, "a", NULL);
    root = new_node(&f, "root", NULL);
    kid = new_node(&f, "kid", root);
    OK(&f, strata_add(a));
    OK(&f, strata_add(root));
    OK(&f, strata_add(kid));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_delete(root));
    OK(&f, strata_session_flush(f.s));
    Node *fresh = new_node(&f, "fresh", NULL), *t = new_node(&f, "t", NULL);
    OK(&f, strata_add(fresh));
    OK(&f, strata_add(t));
    OK(&f, strata_set_related(kid, "node", t));
    rc = strata_session_commit(f.s);
    ck_assert_msg(rc == STRATA_E_NOT_FOUND, "%s", strata_errname(rc));
    OK(&f, strata_session_rollback(f.s));
    teardown(&f);
}
END_TEST

/* Objects an ON DELETE SET NULL changed are read again at their next use,
 * whatever comes between: a commit, a savepoint's rollback, an eager
 * load. */
START_TEST(orm_stale_rows_read_again)
{
    fixture f;
    setup_db(&f);
    Node *n1 = new_node(&f, "n1", NULL), *n2 = new_node(&f, "n2", NULL);
    OK(&f, strata_add(n1));
    OK(&f, strata_add(n2));
    OK(&f, strata_session_commit(f.s));
    n2->buddy_id = n1->id;
    OK(&f, strata_set_null(n2, "buddy_id", 0));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_delete(n1));
    OK(&f, strata_session_commit(f.s)); /* the database sets n2's buddy NULL */
    Node *got;
    OK(&f, strata_get(f.s, &node_model, n2->id, &got));
    ck_assert_int_eq(strata_is_null(n2, "buddy_id"), 1);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(strata_is_null(n2, "buddy_id"), 1); /* as committed */

    /* Read inside a savepoint, which then rolls back. */
    Node *n3 = new_node(&f, "n3", NULL);
    OK(&f, strata_add(n3));
    OK(&f, strata_session_commit(f.s));
    n2->buddy_id = n3->id;
    OK(&f, strata_set_null(n2, "buddy_id", 0));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_set_text(&n2->name, "renamed"));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_delete(n3));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_session_savepoint(f.s));
    OK(&f, strata_get(f.s, &node_model, n2->id, &got));
    OK(&f, strata_session_savepoint_rollback(f.s));
    OK(&f, strata_get(f.s, &node_model, n2->id, &got));
    ck_assert_int_eq(strata_is_null(n2, "buddy_id"), 1);
    OK(&f, strata_session_commit(f.s));

    /* Met by an eager load. */
    Node *b = new_node(&f, "b", NULL), *p = new_node(&f, "p", NULL), *c = new_node(&f, "c", p);
    OK(&f, strata_add(b));
    OK(&f, strata_add(p));
    OK(&f, strata_add(c));
    OK(&f, strata_session_commit(f.s));
    p->buddy_id = b->id;
    OK(&f, strata_set_null(p, "buddy_id", 0));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_delete(b));
    OK(&f, strata_session_flush(f.s));
    strata_query *q = strata_query_new(f.s, &node_model);
    strata_list *l;
    OK(&f, strata_query_filter(q, strata_c("id", STRATA_EQ, strata_int(c->id))));
    OK(&f, strata_query_load(q, "node"));
    OK(&f, strata_query_all(q, &l));
    Node *parent;
    OK(&f, strata_related(c, "node", &parent));
    ck_assert_ptr_eq(parent, p);
    ck_assert_int_eq(strata_is_null(p, "buddy_id"), 1);
    strata_list_free(l);
    strata_query_free(q);
    OK(&f, strata_session_commit(f.s));
    teardown(&f);
}
END_TEST

/* A delete that was committed stays done: a rollback afterwards puts back
 * only what its own transaction changed, and the deleted object stays
 * out of the session (its key may be the database's again). */
/* An object of an earlier transaction flushed with a change to one field
 * is not current for the others: another connection may have changed
 * them since.  The next get reads the row again (without the SELECT it
 * answered with the old values, and a change made from them overwrote
 * the other connection's), and a rollback still puts back the values of
 * the last commit. */
START_TEST(orm_flushing_an_expired_object_keeps_it_expired)
{
    fixture f;
    setup_db(&f);
    User *u = new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    int64_t id = u->id;
    /* Another connection's commit, outside the session's transactions. */
    th_exec(f.db, "UPDATE \"user\" SET email = 'other@example.com'");
    OK(&f, strata_set_text(&u->username, "johnny"));
    OK(&f, strata_session_flush(f.s));
    User *g;
    int before = f.statements;
    OK(&f, strata_get(f.s, &user_model, id, &g));
    ck_assert_ptr_eq(g, u);
    ck_assert_int_eq(f.statements, before + 1); /* read again */
    ck_assert_str_eq(u->email, "other@example.com");
    ck_assert_str_eq(u->username, "johnny"); /* this transaction's own */
    OK(&f, strata_set_text(&u->password_hash, "x"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'johnny' "
                                  "AND email = 'other@example.com' AND password_hash = 'x'"),
                     1);

    /* The same, rolled back: the object shows the last commit again. */
    th_exec(f.db, "UPDATE \"user\" SET email = 'third@example.com'");
    OK(&f, strata_set_text(&u->username, "jon"));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_get(f.s, &user_model, id, &g));
    ck_assert_str_eq(u->email, "third@example.com");
    OK(&f, strata_session_rollback(f.s));
    ck_assert_str_eq(u->username, "johnny");
    OK(&f, strata_get(f.s, &user_model, id, &g));
    ck_assert_str_eq(u->username, "johnny");
    ck_assert_str_eq(u->email, "third@example.com");
    teardown(&f);
}
END_TEST

/* A flush that fails, a rollback and a savepoint's rollback take back the
 * keys the database numbered, not the ones the program gave: inserted
 * again, the row gets the program's key. */
START_TEST(orm_undo_keeps_a_key_the_program_gave)
{
    fixture f;
    setup_db(&f);
    new_user(&f, "dup", "dup@example.com");
    OK(&f, strata_session_commit(f.s));
    User *given = new_user(&f, "answer", "answer@example.com");
    given->id = 42;
    User *numbered = new_user(&f, "numbered", "numbered@example.com");
    User *bad = new_user(&f, "dup", "other@example.com");
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_UNIQUE);
    ck_assert_int_eq(given->id, 42);
    ck_assert_int_eq(numbered->id, 0);
    OK(&f, strata_delete(bad));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT id FROM \"user\" WHERE username = 'answer'"), 42);

    User *again = new_user(&f, "again", "again@example.com");
    again->id = 77;
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(again->id, 77);
    OK(&f, strata_add(again));
    OK(&f, strata_session_savepoint(f.s));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_session_savepoint_rollback(f.s));
    ck_assert_int_eq(again->id, 77);
    OK(&f, strata_add(again));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT id FROM \"user\" WHERE username = 'again'"), 77);
    teardown(&f);
}
END_TEST

/* A deleted object's association rows go by its row's key: a key
 * changed in memory and not flushed names another row, whose rows stay. */
START_TEST(orm_delete_takes_its_own_association_rows)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    User *mary = new_user(&f, "mary", "mary@example.com");
    User *sue = new_user(&f, "sue", "sue@example.com");
    OK(&f, strata_collection_add(john, "following", sue));
    OK(&f, strata_collection_add(mary, "following", sue));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_get(f.s, &user_model, john->id, &john));
    john->id = mary->id; /* changed in memory, never flushed */
    OK(&f, strata_delete(john));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'john'"), 0);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM followers WHERE follower_id = %lld",
             (long long)mary->id);
    ck_assert_int_eq(th_int(f.db, sql), 1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 1);
    teardown(&f);
}
END_TEST

START_TEST(orm_rollback_keeps_a_committed_delete)
{
    fixture f;
    setup_db(&f);
    User *mary = new_user(&f, "mary", "mary@example.com");
    User *john = new_user(&f, "john", "john@example.com"); /* the highest key */
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_delete(john));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_set_text(&mary->email, "m@example.com"));
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_session_rollback(f.s));
    ck_assert_str_eq(mary->email, "mary@example.com");
    /* Not an object of the session's any more: adding it is refused. */
    ck_assert_int_eq(strata_add(john), STRATA_E_MISUSE);
    /* A new row may take the deleted one's key (SQLite gives the highest
     * rowid again): the session finds the new object under it. */
    User *kim = new_user(&f, "kim", "kim@example.com");
    OK(&f, strata_session_commit(f.s));
    User *found;
    OK(&f, strata_get(f.s, &user_model, kim->id, &found));
    ck_assert_ptr_eq(found, kim);
    /* A change to the deleted object is written nowhere. */
    OK(&f, strata_set_text(&john->username, "ghost"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 2);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'ghost'"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'kim'"), 1);
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

/* A streamed object's relationships are its row's: a many-to-one the
 * identity map answers is the author of each row, not of the first. */
START_TEST(orm_a_streamed_objects_relationships_follow_its_row)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    User *susan = new_user(&f, "susan", "susan@example.com");
    new_post(&f, "first", john);
    new_post(&f, "second", susan);
    new_post(&f, "third", john);
    OK(&f, strata_session_commit(f.s));
    strata_list *users = NULL;
    strata_query *uq = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_all(uq, &users)); /* the authors in the identity map */
    strata_query_free(uq);
    strata_query *q = strata_query_new(f.s, &post_model);
    strata_query_order_by(q, "id", STRATA_ASC);
    strata_iter *it;
    OK(&f, strata_query_iter(q, &it));
    Post *p;
    int rows = 0, rc;
    while ((rc = strata_iter_next(it, &p)) == STRATA_ROW) {
        User *author = NULL;
        OK(&f, strata_related(p, "author", &author));
        ck_assert_ptr_nonnull(author);
        ck_assert_int_eq(author->id, p->user_id);
        rows++;
    }
    ck_assert_int_eq(rc, STRATA_DONE);
    ck_assert_int_eq(rows, 3);
    strata_iter_free(it);
    strata_query_free(q);
    strata_list_free(users);
    teardown(&f);
}
END_TEST

/* A commit or rollback refused while a query streams changes nothing:
 * the transaction stays the session's, with what it flushed, and the
 * objects stay as they are; once the iteration is over, the commit
 * commits it all (or the rollback puts it all back). */
START_TEST(orm_commit_and_rollback_refused_while_streaming)
{
    fixture f;
    setup_db(&f);
    User *u = new_user(&f, "bob", "bob@example.com");
    OK(&f, strata_session_commit(f.s));
    for (int round = 0; round < 2; round++) {
        Post *p;
        OK(&f, strata_new(f.s, &post_model, &p));
        OK(&f, strata_set_text(&p->body, round ? "rolled back" : "kept"));
        OK(&f, strata_set_related(p, "author", u));
        OK(&f, strata_add(p));
        OK(&f, strata_set_text(&u->email, round ? "gone@example.com" : "new@example.com"));
        OK(&f, strata_session_flush(f.s));
        int64_t id = p->id;
        strata_query *q = strata_query_new(f.s, &user_model);
        strata_iter *it;
        OK(&f, strata_query_iter(q, &it));
        User *row;
        ck_assert_int_eq(strata_iter_next(it, &row), STRATA_ROW);
        ck_assert_int_eq(round ? strata_session_rollback(f.s) : strata_session_commit(f.s),
                         STRATA_E_MISUSE);
        ck_assert_int_eq(p->id, id);
        ck_assert_str_eq(u->email, round ? "gone@example.com" : "new@example.com");
        ck_assert(strata_db_in_transaction(f.db));
        strata_iter_free(it);
        strata_query_free(q);
        OK(&f, round ? strata_session_rollback(f.s) : strata_session_commit(f.s));
        ck_assert(!strata_db_in_transaction(f.db));
    }
    ck_assert_str_eq(u->email, "new@example.com");
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post"), 1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post WHERE body = 'kept'"), 1);
    ck_assert_int_eq(
        th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'new@example.com'"), 1);
    teardown(&f);
}
END_TEST

/* ---- every C type ------------------------------------------------------ */

static Gadget *new_gadget(fixture *f, bool active, double weight)
{
    Gadget *g;
    OK(f, strata_new(f->s, &gadget_model, &g));
    g->active = active;
    g->weight = weight;
    OK(f, strata_set_null(g, "shelf_id", 1)); /* 0 would be a key */
    OK(f, strata_add(g));
    return g;
}

START_TEST(orm_every_c_type_round_trips)
{
    fixture f;
    setup_db(&f);
    static const unsigned char bytes[] = {0, 1, 2, 255};
    Gadget *g = new_gadget(&f, true, 2.5);
    OK(&f, strata_set_blob(&g->data, bytes, sizeof bytes));
    OK(&f, strata_set_null(g, "count", 1));
    OK(&f, strata_set_null(g, "seen", 1));
    ck_assert_int_eq(strata_is_null(g, "count"), 1);
    ck_assert_int_eq(strata_is_null(g, "weight"), 0);
    ck_assert_int_eq(strata_is_null(g, "data"), 0);
    ck_assert_int_eq(strata_is_null(g, "nope"), 0);
    new_gadget(&f, false, -1.25); /* data NULL, count 0, seen 0 */
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(g->id, 1);
    char *r = strata_repr(g); /* no repr field: the key */
    ck_assert_str_eq(r, "<Gadget 1>");
    strata_free(r);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM gadget WHERE active AND weight = 2.5 AND "
                                  "count IS NULL AND seen IS NULL AND length(data) = 4"),
                     1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM gadget WHERE NOT active AND weight = "
                                  "-1.25 AND data IS NULL AND count = 0"),
                     1);

    /* Loaded again in a new session: every value as it was written. */
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    Gadget *h;
    OK(&f, strata_get(f.s, &gadget_model, 1, &h));
    ck_assert(h->active);
    ck_assert(h->weight == 2.5);
    ck_assert_uint_eq(h->data.len, sizeof bytes);
    ck_assert_int_eq(memcmp(h->data.data, bytes, sizeof bytes), 0);
    ck_assert_int_eq(strata_is_null(h, "count"), 1);
    ck_assert_int_eq(strata_is_null(h, "seen"), 1);
    ck_assert_int_eq(strata_is_null(h, "shelf_id"), 1);

    /* Only changed columns are written, for each type. */
    strata_db_set_echo(f.db, find_line, &f);
    echo_want = "UPDATE";
    echo_has = 0;
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 0);
    h->active = false;
    h->weight = 3.0;
    OK(&f, strata_set_blob(&h->data, "xy", 2));
    OK(&f, strata_set_null(h, "count", 0));
    h->count = 7;
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 1);
    echo_want = NULL;
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM gadget WHERE id = 1 AND NOT active AND "
                                  "weight = 3 AND count = 7 AND length(data) = 2"),
                     1);

    /* A value of 2 GB or more is refused before any SQL, naming the
     * field.  The bytes are pages never written (mapped, not copied), so
     * the length is set beside strata_set_blob, which would copy them. */
    size_t huge = (size_t)1 << 31;
    void *pages = mmap(NULL, huge, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ck_assert(pages != MAP_FAILED);
    strata_blob kept = h->data;
    h->data.data = pages;
    h->data.len = huge;
    echo_want = "UPDATE";
    echo_has = 0;
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_TOO_LONG);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "Gadget.data is longer than 2147483647 bytes, the most a value holds");
    ck_assert_int_eq(echo_has, 0);
    echo_want = NULL;
    h->data = kept;
    munmap(pages, huge);

    /* A rollback restores each type to its committed value. */
    h->weight = 9.0;
    h->active = true;
    OK(&f, strata_set_blob(&h->data, NULL, 0));
    OK(&f, strata_set_null(h, "count", 1));
    OK(&f, strata_session_flush(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM gadget WHERE data IS NULL"), 2);
    OK(&f, strata_session_rollback(f.s));
    ck_assert(h->weight == 3.0);
    ck_assert(!h->active);
    ck_assert_uint_eq(h->data.len, 2);
    ck_assert_int_eq(memcmp(h->data.data, "xy", 2), 0);
    ck_assert_int_eq(h->count, 7);
    ck_assert_int_eq(strata_is_null(h, "count"), 0);

    /* NULL through strata_set_null for a blob; refresh reads it back. */
    OK(&f, strata_set_null(h, "data", 1));
    ck_assert_ptr_null(h->data.data);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM gadget WHERE data IS NULL"), 2);
    th_exec(f.db, "UPDATE gadget SET weight = 4.5, count = NULL WHERE id = 1");
    OK(&f, strata_refresh(h));
    ck_assert(h->weight == 4.5);
    ck_assert_int_eq(strata_is_null(h, "count"), 1);
    OK(&f, strata_session_commit(f.s));

    /* Misuse is refused. */
    ck_assert_int_eq(strata_set_null(h, "nope", 1), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_set_blob(&h->data, NULL, 3), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_set_blob(NULL, "x", 1), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_set_text(NULL, "x"), STRATA_E_MISUSE);
    ck_assert_ptr_null(strata_repr(NULL));

    /* Conditions on each type. */
    int64_t n;
    strata_query *q = strata_query_new(f.s, &gadget_model);
    strata_query_filter(q, strata_c("weight", STRATA_GT, strata_double(0.0)));
    strata_query_filter(q, strata_c("active", STRATA_EQ, strata_bool(0)));
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 1);
    strata_query_free(q);

    /* Streaming fills each type too. */
    q = strata_query_new(f.s, &gadget_model);
    strata_query_order_by(q, "id", STRATA_DESC);
    strata_iter *it;
    OK(&f, strata_query_iter(q, &it));
    Gadget *x;
    ck_assert_int_eq(strata_iter_next(it, &x), STRATA_ROW);
    ck_assert_int_eq(x->id, 2);
    ck_assert(!x->active && x->weight == -1.25 && x->data.data == NULL);
    ck_assert_int_eq(strata_iter_next(it, &x), STRATA_ROW);
    ck_assert_int_eq(x->id, 1);
    ck_assert(!x->active && x->weight == 4.5);
    ck_assert_int_eq(strata_is_null(x, "count"), 1);
    ck_assert_int_eq(strata_iter_next(it, &x), STRATA_DONE);
    ck_assert_ptr_null(x);
    ck_assert_int_eq(strata_iter_next(it, &x), STRATA_DONE); /* and stays done */
    strata_iter_free(it);
    strata_query_free(q);
    teardown(&f);
}
END_TEST

/* ---- relationship edges ------------------------------------------------ */

#define MISUSE_MSG(f, call, want)                                                              \
    do {                                                                                       \
        ck_assert_int_eq((call), STRATA_E_MISUSE);                                             \
        ck_assert_msg(strstr(strata_session_errmsg((f)->s), (want)) != NULL,                   \
                      "%s: wanted '%s' in: %s", #call, (want), strata_session_errmsg((f)->s)); \
    } while (0)

START_TEST(orm_relationship_misuse_names_the_relationship)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    Post *p = new_post(&f, "hello", john);
    Gadget *g = new_gadget(&f, true, 1);
    OK(&f, strata_session_commit(f.s));
    User *u = john;
    const strata_list *l = (const strata_list *)1;
    MISUSE_MSG(&f, strata_related(john, "posts", &u),
               "User.posts is a collection: use "
               "strata_related_list");
    ck_assert_ptr_null(u);
    MISUSE_MSG(&f, strata_related_list(p, "author", &l),
               "Post.author is not a collection: use strata_related");
    ck_assert_ptr_null(l);
    MISUSE_MSG(&f, strata_related(p, "writer", &u), "Post has no relationship writer");
    MISUSE_MSG(&f, strata_related_list(john, NULL, &l), "User has no relationship (null)");
    MISUSE_MSG(&f, strata_set_related(john, "posts", p),
               "User.posts is not a many-to-one relationship to that object");
    MISUSE_MSG(&f, strata_set_related(p, "author", g),
               "Post.author is not a many-to-one relationship to that object");
    MISUSE_MSG(&f, strata_collection_add(john, "posts", john),
               "User.posts is not a collection of User objects");
    MISUSE_MSG(&f, strata_collection_remove(p, "author", john),
               "Post.author is not a collection of User objects");
    ck_assert_int_eq(strata_collection_add(john, "following", NULL), STRATA_E_MISUSE);
    int yes = 7;
    ck_assert_int_eq(strata_collection_contains(john, "following", NULL, &yes), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_related(p, "author", NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_related_list(john, "posts", NULL), STRATA_E_MISUSE);
    ck_assert_ptr_null(strata_related_query(john, "nope"));
    strata_query *q = strata_query_new(f.s, &user_model);
    MISUSE_MSG(&f, strata_query_load(q, "comments"), "User has no relationship comments");
    ck_assert_int_eq(strata_query_load(q, NULL), STRATA_E_MISUSE);
    strata_query_free(q);
    /* Nothing of the above changed the data. */
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post WHERE user_id = 1"), 1);
    teardown(&f);
}
END_TEST

START_TEST(orm_relationship_without_back_populates)
{
    fixture f;
    setup_db(&f);
    Shelf *top;
    OK(&f, strata_new(f.s, &shelf_model, &top));
    OK(&f, strata_set_text(&top->label, "top"));
    OK(&f, strata_add(top));
    Gadget *g = new_gadget(&f, true, 1), *h = new_gadget(&f, false, 2);
    OK(&f, strata_session_commit(f.s));

    /* A NULL foreign key: no related object, no error. */
    Shelf *sh = top;
    OK(&f, strata_related(g, "shelf", &sh));
    ck_assert_ptr_null(sh);
    const strata_list *gadgets;
    OK(&f, strata_related_list(top, "gadgets", &gadgets));
    ck_assert_uint_eq(gadgets->count, 0);

    /* Without back_populates, the child's own many-to-one on that key
     * records the change: the key is copied at once from a saved parent,
     * at the flush from a new one. */
    Shelf *low;
    OK(&f, strata_new(f.s, &shelf_model, &low));
    OK(&f, strata_set_text(&low->label, "low"));
    OK(&f, strata_add(low));
    Gadget *k = new_gadget(&f, true, 3);
    OK(&f, strata_collection_add(low, "gadgets", k));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(k->shelf_id, low->id);
    OK(&f, strata_delete(k));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_collection_add(top, "gadgets", g));
    OK(&f, strata_collection_add(top, "gadgets", h));
    OK(&f, strata_collection_add(top, "gadgets", h)); /* already there */
    ck_assert_uint_eq(gadgets->count, 2);
    ck_assert_int_eq(g->shelf_id, top->id);
    ck_assert_int_eq(strata_is_null(g, "shelf_id"), 0);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM gadget WHERE shelf_id = 1"), 2);

    /* Removing clears the key (no delete-orphan: the row stays). */
    OK(&f, strata_collection_remove(top, "gadgets", g));
    OK(&f, strata_collection_remove(top, "gadgets", g)); /* not there any more */
    ck_assert_uint_eq(gadgets->count, 1);
    ck_assert_int_eq(strata_is_null(g, "shelf_id"), 1);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM gadget WHERE shelf_id IS NULL"), 1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM gadget"), 2);

    /* A new session: the many-to-one is loaded lazily, once. */
    int64_t h_id = h->id; /* the objects go with the session */
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    OK(&f, strata_get(f.s, &gadget_model, h_id, &h));
    int before = f.statements;
    OK(&f, strata_related(h, "shelf", &sh));
    ck_assert_ptr_nonnull(sh);
    ck_assert_str_eq(sh->label, "top");
    ck_assert_int_eq(f.statements, before + 1);
    Shelf *again;
    OK(&f, strata_related(h, "shelf", &again));
    ck_assert_ptr_eq(again, sh);
    ck_assert_int_eq(f.statements, before + 1);
    /* Cleared with set_related(NULL). */
    OK(&f, strata_set_related(h, "shelf", NULL));
    OK(&f, strata_related(h, "shelf", &again));
    ck_assert_ptr_null(again);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM gadget WHERE shelf_id IS NULL"), 2);

    /* Eager loading of a many-to-one whose keys are all NULL, and of an
     * empty result. */
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    strata_query *q = strata_query_new(f.s, &gadget_model);
    OK(&f, strata_query_load(q, "shelf"));
    strata_list *all;
    OK(&f, strata_query_all(q, &all));
    ck_assert_uint_eq(all->count, 2);
    before = f.statements;
    for (size_t i = 0; i < all->count; i++) {
        OK(&f, strata_related(all->items[i], "shelf", &sh));
        ck_assert_ptr_null(sh);
    }
    ck_assert_int_eq(f.statements, before);
    strata_list_free(all);
    strata_query_filter_by(q, "weight", strata_double(99));
    OK(&f, strata_query_all(q, &all));
    ck_assert_uint_eq(all->count, 0);
    strata_list_free(all);
    strata_query_free(q);
    teardown(&f);
}
END_TEST

START_TEST(orm_moving_a_child_and_eager_loading_from_the_database)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    User *susan = new_user(&f, "susan", "susan@example.com");
    User *amy = new_user(&f, "amy", "amy@example.com");
    Post *p = new_post(&f, "hello", john);
    new_post(&f, "again", john);
    new_post(&f, "hers", susan);
    OK(&f, strata_collection_add(john, "following", susan));
    OK(&f, strata_collection_add(john, "following", amy));
    OK(&f, strata_collection_add(susan, "following", amy));
    OK(&f, strata_session_commit(f.s));

    /* Moving a post to another author moves it between loaded collections. */
    const strata_list *jp, *sp;
    OK(&f, strata_related_list(john, "posts", &jp));
    OK(&f, strata_related_list(susan, "posts", &sp));
    ck_assert_uint_eq(jp->count, 2);
    ck_assert_uint_eq(sp->count, 1);
    OK(&f, strata_set_related(p, "author", susan));
    ck_assert_uint_eq(jp->count, 1);
    ck_assert_uint_eq(sp->count, 2);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT user_id FROM post WHERE body = 'hello'"), 2);
    /* The commit expired the collections: loaded again, with the move. */
    OK(&f, strata_related_list(susan, "posts", &sp));
    ck_assert_uint_eq(sp->count, 2);
    /* A post without an author is refused at flush, before SQL. */
    OK(&f, strata_set_related(p, "author", NULL));
    ck_assert_uint_eq(sp->count, 1);
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_NOT_NULL);
    ck_assert_str_eq(strata_session_errmsg(f.s), "Post.user_id is NULL but the column is NOT NULL");
    OK(&f, strata_session_rollback(f.s));

    /* A new session, nothing in memory: eager loading reads the authors
     * and the follows from the database, in one query each. */
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    f.statements = 0;
    strata_query *q = strata_query_new(f.s, &post_model);
    strata_query_order_by(q, "id", STRATA_ASC);
    OK(&f, strata_query_load(q, "author"));
    strata_list *posts;
    OK(&f, strata_query_all(q, &posts));
    strata_query_free(q);
    ck_assert_int_eq(f.statements, 1 + 2); /* BEGIN, the posts, their authors */
    char names[64] = "";
    for (size_t i = 0; i < posts->count; i++) {
        User *a;
        OK(&f, strata_related(posts->items[i], "author", &a));
        strcat(names, a->username);
        strcat(names, " ");
    }
    ck_assert_str_eq(names, "susan john susan ");
    ck_assert_int_eq(f.statements, 3);
    strata_list_free(posts);

    q = strata_query_new(f.s, &user_model);
    strata_query_order_by(q, "username", STRATA_ASC);
    OK(&f, strata_query_load(q, "following"));
    OK(&f, strata_query_load(q, "followers"));
    strata_list *users;
    OK(&f, strata_query_all(q, &users));
    strata_query_free(q);
    ck_assert_int_eq(f.statements, 3 + 3);
    char got[160] = "";
    for (size_t i = 0; i < users->count; i++) {
        const strata_list *fl, *fr;
        OK(&f, strata_related_list(users->items[i], "following", &fl));
        OK(&f, strata_related_list(users->items[i], "followers", &fr));
        char line[64];
        snprintf(line, sizeof line, "%s:%zu/%zu ", ((User *)users->items[i])->username, fl->count,
                 fr->count);
        strcat(got, line);
    }
    ck_assert_str_eq(got, "amy:0/2 john:2/0 susan:1/1 ");
    ck_assert_int_eq(f.statements, 6);
    strata_list_free(users);
    teardown(&f);
}
END_TEST

START_TEST(orm_many_to_many_changes_cancel_and_mirror)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    User *susan = new_user(&f, "susan", "susan@example.com");
    OK(&f, strata_session_commit(f.s));
    /* susan's followers are loaded: john's follow shows there at once. */
    const strata_list *fr;
    OK(&f, strata_related_list(susan, "followers", &fr));
    ck_assert_uint_eq(fr->count, 0);
    OK(&f, strata_collection_add(john, "following", susan));
    ck_assert_uint_eq(fr->count, 1);
    ck_assert_ptr_eq(fr->items[0], john);
    /* Removed again before any flush: nothing is sent. */
    OK(&f, strata_collection_remove(john, "following", susan));
    ck_assert_uint_eq(fr->count, 0);
    strata_db_set_echo(f.db, find_line, &f);
    echo_want = "followers";
    echo_has = 0;
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(echo_has, 0);
    echo_want = NULL;
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 0);

    OK(&f, strata_collection_add(john, "following", susan));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 1);
    /* contains asks the database when the collection is not loaded. */
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    OK(&f, strata_get(f.s, &user_model, 1, &john));
    OK(&f, strata_get(f.s, &user_model, 2, &susan));
    int before = f.statements, yes = -1;
    OK(&f, strata_collection_contains(john, "following", susan, &yes));
    ck_assert_int_eq(yes, 1);
    OK(&f, strata_collection_contains(susan, "following", john, &yes));
    ck_assert_int_eq(yes, 0);
    ck_assert_int_eq(f.statements, before + 2);
    /* A pending object is not in any saved collection, without SQL. */
    User *kim = new_user(&f, "kim", "kim@example.com");
    OK(&f, strata_collection_contains(john, "following", kim, &yes));
    ck_assert_int_eq(yes, 0);
    ck_assert_int_eq(f.statements, before + 2);
    OK(&f, strata_session_commit(f.s));
    /* Changes of one row made from either side are one row's changes:
     * the last stands.  The row is there: removed from susan's side and
     * added again from john's, it stays; unfollowed from john's side,
     * followed again from susan's and unfollowed from john's, it goes. */
    const strata_list *fl;
    OK(&f, strata_related_list(john, "following", &fl));
    OK(&f, strata_related_list(susan, "followers", &fr));
    OK(&f, strata_collection_remove(susan, "followers", john));
    OK(&f, strata_collection_add(john, "following", susan));
    OK(&f, strata_collection_contains(susan, "followers", john, &yes));
    ck_assert_int_eq(yes, 1);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers WHERE follower_id = 1 AND "
                                  "followed_id = 2"),
                     1);
    OK(&f, strata_related_list(john, "following", &fl));
    OK(&f, strata_related_list(susan, "followers", &fr));
    OK(&f, strata_collection_remove(john, "following", susan));
    OK(&f, strata_collection_add(susan, "followers", john));
    OK(&f, strata_collection_remove(john, "following", susan));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 0);
    /* The row is not there: followed from john's side, unfollowed from
     * susan's, followed again from john's, it is made (once). */
    OK(&f, strata_related_list(john, "following", &fl));
    OK(&f, strata_related_list(susan, "followers", &fr));
    OK(&f, strata_collection_add(john, "following", susan));
    OK(&f, strata_collection_remove(susan, "followers", john));
    OK(&f, strata_collection_add(john, "following", susan));
    OK(&f, strata_collection_contains(john, "following", susan, &yes));
    ck_assert_int_eq(yes, 1);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers WHERE follower_id = 1 AND "
                                  "followed_id = 2"),
                     1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 1);
    teardown(&f);
}
END_TEST

/* ---- the query builder: every operator, collections, misuse ------------ */

static int64_t count_where(fixture *f, strata_cond *c)
{
    strata_query *q = strata_query_new(f->s, &user_model);
    ck_assert_ptr_nonnull(q);
    int64_t n = -1;
    OK(f, strata_query_filter(q, c));
    OK(f, strata_query_count(q, &n));
    strata_query_free(q);
    return n;
}

START_TEST(orm_query_every_operator_and_collection_conditions)
{
    fixture f;
    setup_db(&f);
    seed_users(&f, 5);
    User *u1, *u2, *u3;
    OK(&f, strata_get(f.s, &user_model, 1, &u1));
    OK(&f, strata_get(f.s, &user_model, 2, &u2));
    OK(&f, strata_get(f.s, &user_model, 3, &u3));
    OK(&f, strata_set_text(&u3->password_hash, "x"));
    new_post(&f, "hello", u1);
    new_post(&f, "world", u1);
    new_post(&f, "hello", u2);
    OK(&f, strata_collection_add(u1, "following", u2));
    OK(&f, strata_collection_add(u3, "following", u2));
    OK(&f, strata_collection_add(u3, "following", u1));
    OK(&f, strata_session_commit(f.s));

    ck_assert_int_eq(count_where(&f, strata_c("username", STRATA_NE, strata_text("user01"))), 4);
    ck_assert_int_eq(count_where(&f, strata_c("id", STRATA_LE, strata_int(2))), 2);
    ck_assert_int_eq(count_where(&f, strata_c("id", STRATA_GT, strata_int(3))), 2);
    ck_assert_int_eq(count_where(&f, strata_c("password_hash", STRATA_IS_NOT_NULL, strata_null())),
                     1);
    /* = NULL and <> NULL mean IS NULL and IS NOT NULL (filter_by(x=None)). */
    ck_assert_int_eq(count_where(&f, strata_c("password_hash", STRATA_EQ, strata_null())), 4);
    ck_assert_int_eq(count_where(&f, strata_c("password_hash", STRATA_NE, strata_null())), 1);
    strata_value some[] = {strata_int(1), strata_int(2)};
    ck_assert_int_eq(count_where(&f, strata_c_not_in("id", some, 2)), 3);
    ck_assert_int_eq(count_where(&f, strata_c_in("id", NULL, 0)), 0);
    ck_assert_int_eq(count_where(&f, strata_c_not_in("id", NULL, 0)), 5);
    ck_assert_int_eq(count_where(&f, strata_and(strata_c("id", STRATA_GE, strata_int(2)),
                                                strata_c("id", STRATA_LT, strata_int(4)))),
                     2);

    /* Through a one-to-many: each user once, however many posts match. */
    strata_query *q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_c("posts.body", STRATA_LIKE, strata_text("%o%")));
    strata_query_order_by(q, "id", STRATA_ASC);
    query_repr(&f, q, "[<User user01>, <User user02>]");
    q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_c("posts.body", STRATA_EQ, strata_text("world")));
    query_repr(&f, q, "[<User user01>]");
    q = strata_query_new(f.s, &user_model);
    strata_query_filter(
        q, strata_not(strata_c_in("posts.body", (strata_value[]){strata_text("hello")}, 1)));
    strata_query_order_by(q, "id", STRATA_ASC);
    query_repr(&f, q, "[<User user03>, <User user04>, <User user05>]");
    /* Through a many-to-many: who follows user02. */
    q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_c("following.username", STRATA_EQ, strata_text("user02")));
    strata_query_order_by(q, "id", STRATA_DESC);
    query_repr(&f, q, "[<User user03>, <User user01>]");
    /* Through a many-to-one, in a count. */
    q = strata_query_new(f.s, &post_model);
    int64_t n;
    strata_query_filter(q, strata_c("author.username", STRATA_NE, strata_text("user01")));
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 1);
    strata_query_free(q);

    /* Ordering by a collection's field, or by something unknown, names it. */
    q = strata_query_new(f.s, &user_model);
    strata_query_order_by(q, "posts.body", STRATA_ASC);
    strata_list *l = (strata_list *)1;
    ck_assert_int_eq(strata_query_all(q, &l), STRATA_E_UNDEFINED_COLUMN);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User: 'posts.body' goes through the collection User.posts: use it in a "
                     "condition, or join it (strata_query_join)");
    strata_query_free(q);
    q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_c("posts.title", STRATA_EQ, strata_text("x")));
    ck_assert_int_eq(strata_query_all(q, &l), STRATA_E_UNDEFINED_COLUMN);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User has no field or relationship field 'posts.title'");
    strata_query_free(q);
    q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_c("friends.username", STRATA_EQ, strata_text("x")));
    ck_assert_int_eq(strata_query_count(q, &n), STRATA_E_UNDEFINED_COLUMN);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User has no field or relationship field 'friends.username'");
    strata_query_free(q);

    /* Conditions that cannot be made are NULL, and the query says so. */
    ck_assert_ptr_null(strata_c("id", (strata_op)99, strata_int(1)));
    ck_assert_ptr_null(strata_c(NULL, STRATA_EQ, strata_int(1)));
    ck_assert_ptr_null(strata_c_in("id", NULL, 2));
    ck_assert_ptr_null(strata_c_raw(NULL, NULL, 0));
    ck_assert_ptr_null(strata_and(strata_c("id", STRATA_EQ, strata_int(1)), NULL));
    ck_assert_ptr_null(strata_not(NULL));
    q = strata_query_new(f.s, &user_model);
    ck_assert_int_eq(strata_query_filter(q, strata_c("id", (strata_op)0, strata_int(1))),
                     STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User query: a NULL condition (strata_c was given an unknown operator, 0, "
                     "on this thread since a query last took a condition)");
    ck_assert_int_eq(strata_query_all(q, &l), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_count(q, &n), STRATA_E_MISUSE);
    strata_query_free(q);
    q = strata_query_new(f.s, &user_model);
    ck_assert_int_eq(strata_query_limit(q, -1), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_offset(q, -1), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_order_by(q, NULL, STRATA_ASC), STRATA_E_MISUSE);
    strata_query *bad = strata_query_new(f.s, &user_model);
    ck_assert_int_eq(strata_query_order_by(bad, "id", (strata_order)77), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User query: order 77 for id is neither STRATA_ASC nor STRATA_DESC");
    ck_assert_int_eq(strata_query_count(bad, &n), STRATA_E_MISUSE);
    strata_query_free(bad);
    ck_assert_int_eq(strata_query_count(q, NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_exists(q, NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_all(q, NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_first(q, NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_iter(q, NULL), STRATA_E_MISUSE);
    strata_page pg;
    ck_assert_int_eq(strata_query_paginate(q, 1, 0, &pg), STRATA_E_RANGE);
    ck_assert_int_eq(strata_query_paginate(q, 1, 1, NULL), STRATA_E_MISUSE);
    /* ... and none of that spoilt the query. */
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 5);
    strata_query_free(q);
    ck_assert_ptr_null(strata_query_new(NULL, &user_model));
    ck_assert_ptr_null(strata_query_new(f.s, NULL));
    ck_assert_int_eq(strata_query_filter(NULL, strata_c("id", STRATA_EQ, strata_int(1))),
                     STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_all(NULL, &l), STRATA_E_MISUSE);
    teardown(&f);
}
END_TEST

/* ---- bad model descriptors --------------------------------------------- */

typedef struct Odd {
    strata_object base;
    int64_t id;
    int64_t flag;
    char *ref;
    double wide[17];
} Odd;

static const strata_field odd_bool_in_int[] = {
    STRATA_PK(Odd, id), STRATA__FIELD(Odd, flag, STRATA_C_INT64, "boolean", 0), STRATA_FIELDS_END};
static const strata_field odd_bad_type[] = {
    STRATA_PK(Odd, id), STRATA__FIELD(Odd, ref, STRATA_C_TEXT, "strnig(5)", 0), STRATA_FIELDS_END};
static const strata_field odd_bad_fk[] = {
    STRATA_PK(Odd, id), STRATA_FOREIGN_KEY(Odd, flag, "user", 0), STRATA_FIELDS_END};
static const strata_field odd_bad_default[] = {
    STRATA_PK(Odd, id), STRATA_INTEGER(Odd, flag, 0, .server_default = "'unterminated"),
    STRATA_FIELDS_END};
#define ODD_KEY(i) STRATA__FIELD(Odd, wide[i], STRATA_C_DOUBLE, "float", STRATA_PRIMARY_KEY)
static const strata_field odd_wide_key[] = {
    ODD_KEY(0),  ODD_KEY(1),  ODD_KEY(2),  ODD_KEY(3),  ODD_KEY(4),  ODD_KEY(5),
    ODD_KEY(6),  ODD_KEY(7),  ODD_KEY(8),  ODD_KEY(9),  ODD_KEY(10), ODD_KEY(11),
    ODD_KEY(12), ODD_KEY(13), ODD_KEY(14), ODD_KEY(15), ODD_KEY(16), STRATA_FIELDS_END};

static const strata_model odd_bool_model = {STRATA_MODEL_VERSION, "OddBool", .size = sizeof(Odd),
                                            .fields = odd_bool_in_int};
static const strata_model odd_type_model = {STRATA_MODEL_VERSION, "OddType", .size = sizeof(Odd),
                                            .fields = odd_bad_type};
static const strata_model odd_fk_model = {STRATA_MODEL_VERSION, "OddFk", .size = sizeof(Odd),
                                          .fields = odd_bad_fk};
static const strata_model odd_default_model = {STRATA_MODEL_VERSION, "OddDefault",
                                               .size = sizeof(Odd), .fields = odd_bad_default};
static const strata_model odd_version_model = {STRATA_MODEL_VERSION + 1, "OddVersion",
                                               .size = sizeof(Odd), .fields = odd_bool_in_int};
static const strata_model odd_wide_model = {STRATA_MODEL_VERSION, "OddWide", .size = sizeof(Odd),
                                            .fields = odd_wide_key};

static void add_model_fails(const strata_model *m, int want, const char *msg)
{
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    const strata_model *list[] = {m, NULL};
    ck_assert_int_eq(strata_metadata_add_models(md, list), want);
    ck_assert_msg(strstr(strata_metadata_errmsg(md), msg) != NULL, "%s: wanted '%s' in: %s",
                  m->name, msg, strata_metadata_errmsg(md));
    /* None of the list is kept: a table made without what was refused
     * would follow. */
    char *text = NULL;
    ck_assert_int_eq(strata_metadata_describe(md, &text), STRATA_OK);
    ck_assert_str_eq(text, "");
    strata_free(text);
    strata_metadata_free(md);
}

START_TEST(orm_bad_model_descriptors_are_refused)
{
    add_model_fails(&odd_bool_model, STRATA_E_SCHEMA,
                    "model OddBool, field flag: its C type cannot hold type boolean");
    add_model_fails(&odd_type_model, STRATA_E_SCHEMA, "odd_type.ref");
    add_model_fails(&odd_fk_model, STRATA_E_SCHEMA,
                    "model OddFk, field flag: foreign key 'user' is not table.column");
    add_model_fails(&odd_default_model, STRATA_E_SCHEMA, "odd_default.flag");
    add_model_fails(&odd_version_model, STRATA_E_SCHEMA,
                    "model OddVersion: version 3, expected 1 to 2");
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    ck_assert_int_eq(strata_metadata_add_models(md, NULL), STRATA_E_MISUSE);
    strata_metadata_free(md);

    /* A session refuses them when it first meets them, naming model and field. */
    fixture f;
    setup_db(&f);
    Odd *o = (Odd *)1;
    ck_assert_int_eq(strata_new(f.s, &odd_bool_model, &o), STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "model OddBool, field flag: type 'boolean' is not a portable type its C type "
                     "can hold");
    ck_assert_int_eq(strata_new(f.s, &odd_type_model, &o), STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "model OddType, field ref: type 'strnig(5)' is not a portable type its C "
                     "type can hold");
    ck_assert_int_eq(strata_new(f.s, &odd_wide_model, &o), STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "model OddWide: a primary key of 17 fields; at most 16");
    /* 65 fields: more than a session keeps a bit for. */
    typedef struct Odd65 {
        strata_object base;
        int64_t id;
        double w[64];
    } Odd65;
    static strata_field many[67];
    static char names[64][8];
    many[0] = (strata_field)STRATA_PK(Odd65, id);
    for (int i = 0; i < 64; i++) {
        snprintf(names[i], sizeof names[i], "w%d", i);
        many[i + 1] = (strata_field){.name = names[i],
                                     .offset = offsetof(Odd65, w) + (size_t)i * sizeof(double),
                                     .ctype = STRATA_C_DOUBLE,
                                     .type = "float"};
    }
    static const strata_model odd_many_model = {STRATA_MODEL_VERSION, "OddMany",
                                                .size = sizeof(Odd65), .fields = many};
    ck_assert_int_eq(strata_new(f.s, &odd_many_model, &o), STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "model OddMany has 65 fields; a session takes at most 64");
    ck_assert_ptr_null(strata_query_new(f.s, &odd_many_model));
    many[64] = (strata_field){0}; /* 64 fields: taken */
    Odd65 *m64;
    OK(&f, strata_new(f.s, &odd_many_model, &m64));
    ck_assert_int_eq(strata_new(f.s, &odd_version_model, &o), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "model OddVersion is not a strata_model of version 1 to 2");
    /* A struct without `strata_object base`: its fields would lie over
     * the object's header, which the first row read would overwrite. */
    typedef struct NoBase {
        int64_t id;
        char *name;
    } NoBase;
    static const strata_field no_base_fields[] = {
        STRATA_PK(NoBase, id), STRATA_TEXT(NoBase, name, STRATA_NULLABLE), STRATA_FIELDS_END};
    static const strata_model no_base_model = {.version = STRATA_MODEL_VERSION,
                                               .name = "NoBase",
                                               .table = "user",
                                               .size = sizeof(NoBase),
                                               .fields = no_base_fields};
    NoBase *nb;
    ck_assert_int_eq(strata_get(f.s, &no_base_model, 1, &nb), STRATA_E_SCHEMA);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "model NoBase, field id: offset 0 is outside the struct's members (the "
                     "struct must begin with `strata_object base;`, and its size is 16)");
    /* A field past the struct's end (a size from another struct). */
    static const strata_field past_fields[] = {
        STRATA_PK(Odd65, id),
        {.name = "w", .offset = sizeof(Odd65) - 4, .ctype = STRATA_C_DOUBLE, .type = "float"},
        STRATA_FIELDS_END};
    static const strata_model past_model = {STRATA_MODEL_VERSION, "Past", .size = sizeof(Odd65),
                                            .fields = past_fields};
    ck_assert_int_eq(strata_new(f.s, &past_model, &o), STRATA_E_SCHEMA);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "model Past, field w: offset"), "%s",
                  strata_session_errmsg(f.s));
    ck_assert_ptr_null(strata_query_new(f.s, &odd_type_model));
    /* The session still works. */
    new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 1);
    teardown(&f);
}
END_TEST

/* ---- session state errors ---------------------------------------------- */

START_TEST(orm_session_state_errors)
{
    fixture f;
    setup_db(&f);
    ck_assert_ptr_eq(strata_session_db(f.s), f.db);
    ck_assert_ptr_null(strata_session_db(NULL));
    ck_assert_int_eq(strata_session_new(NULL, f.db), STRATA_E_MISUSE);
    strata_session *none = (strata_session *)1;
    ck_assert_int_eq(strata_session_new(&none, NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_add(NULL), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_delete(NULL), STRATA_E_MISUSE);
    User *u;
    ck_assert_int_eq(strata_new(f.s, NULL, &u), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_new(f.s, &user_model, NULL), STRATA_E_MISUSE);

    /* An association table has no struct to make. */
    void *row = (void *)1;
    ck_assert_int_eq(strata_new(f.s, &followers_model, &row), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "model Followers is an association table, not a struct");

    /* A new object is not in the database: it cannot be deleted (after it
     * is forgotten) or refreshed. */
    User *john = new_user(&f, "john", "john@example.com");
    OK(&f, strata_delete(john)); /* pending: forgotten */
    ck_assert_int_eq(strata_delete(john), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s), "User is not in the database");
    ck_assert_int_eq(strata_refresh(john), STRATA_E_MISUSE);
    OK(&f, strata_add(john));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 1);

    /* Deleted and added back in the same transaction: it stays. */
    OK(&f, strata_delete(john));
    OK(&f, strata_add(john));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 1);
    /* Deleted and committed: it cannot come back. */
    OK(&f, strata_delete(john));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 0);
    ck_assert_int_eq(strata_add(john), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "User was deleted; make a new object to insert it again");
    ck_assert_int_eq(strata_delete(john), STRATA_E_MISUSE);
    teardown(&f);
}
END_TEST

/* A savepoint's rollback takes the objects back with the rows.  SQLite
 * numbers the next row with the id the rolled-back insert had: the object
 * that had it must not stay in the identity map as that row. */
START_TEST(orm_savepoint_rollback_leaves_no_ghost)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_session_savepoint(f.s));
    ck_assert_int_eq(strata_session_savepoint_depth(f.s), 1);
    User *mary = new_user(&f, "mary", "mary@example.com");
    OK(&f, strata_session_flush(f.s));
    int64_t mary_id = mary->id;
    ck_assert(mary_id > john->id);
    OK(&f, strata_session_savepoint_rollback(f.s));
    ck_assert_int_eq(strata_session_savepoint_depth(f.s), 0);
    ck_assert_int_eq(mary->id, 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 1);
    User *ann = new_user(&f, "ann", "ann@example.com");
    OK(&f, strata_session_commit(f.s));
    User *got = NULL;
    OK(&f, strata_get(f.s, &user_model, ann->id, &got));
    ck_assert_ptr_eq(got, ann);
    ck_assert_str_eq(got->username, "ann");
    /* SQLite gives ann mary's id again; PostgreSQL's sequence does not. */
    int rc = strata_get(f.s, &user_model, mary_id, &got);
    ck_assert_msg(rc == STRATA_E_NOT_FOUND || (rc == STRATA_OK && got == ann), "%s",
                  strata_errname(rc));
    /* mary is transient: a later commit does not insert her. */
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'mary'"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 2);
    teardown(&f);
}
END_TEST

/* Updates and deletes inside the savepoint, flushed or not, are undone in
 * the objects as in the rows; work before it stays. */
START_TEST(orm_savepoint_rollback_restores_objects)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    User *bob = new_user(&f, "bob", "bob@example.com");
    Post *hello = new_post(&f, "hello", bob);
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_set_text(&john->email, "j@example.com")); /* before: kept */
    OK(&f, strata_session_savepoint(f.s));
    /* Opening the savepoint flushed the change before it. */
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'j@example.com'"),
                     1);
    OK(&f, strata_set_text(&john->username, "johnny"));
    OK(&f, strata_delete(hello));
    OK(&f, strata_delete(bob));
    OK(&f, strata_session_flush(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 1);
    OK(&f, strata_set_text(&john->email, "unflushed@example.com"));
    Post *draft = new_post(&f, "draft", john);
    OK(&f, strata_session_savepoint_rollback(f.s));
    ck_assert_str_eq(john->username, "john");
    ck_assert_str_eq(john->email, "j@example.com");
    ck_assert_int_eq(draft->id, 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 2);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post"), 1);
    User *got = NULL;
    OK(&f, strata_get(f.s, &user_model, bob->id, &got));
    ck_assert_ptr_eq(got, bob);
    Post *p = NULL;
    OK(&f, strata_get(f.s, &post_model, hello->id, &p));
    ck_assert_ptr_eq(p, hello);
    const strata_list *posts;
    OK(&f, strata_related_list(bob, "posts", &posts));
    ck_assert_uint_eq(posts->count, 1);
    /* Nothing is left to flush, and the work before the savepoint commits. */
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post"), 1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'john' AND "
                                  "email = 'j@example.com'"),
                     1);
    /* The restored objects write again like any other. */
    OK(&f, strata_set_text(&bob->username, "robert"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'robert'"), 1);
    teardown(&f);
}
END_TEST

/* Nested savepoints: a released inner one's work belongs to the outer one,
 * which undoes it on rollback. */
START_TEST(orm_savepoint_nested)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_session_savepoint(f.s));
    User *a = new_user(&f, "a", "a@example.com");
    OK(&f, strata_session_savepoint(f.s));
    User *b = new_user(&f, "b", "b@example.com");
    OK(&f, strata_set_text(&john->username, "inner"));
    OK(&f, strata_session_savepoint_release(f.s));
    ck_assert(a->id > 0 && b->id > 0);
    OK(&f, strata_session_savepoint(f.s));
    OK(&f, strata_set_text(&a->username, "changed"));
    OK(&f, strata_session_flush(f.s));
    ck_assert_int_eq(strata_session_savepoint_depth(f.s), 2);
    OK(&f, strata_session_savepoint_rollback(f.s));
    ck_assert_str_eq(a->username, "a");
    ck_assert_str_eq(john->username, "inner");
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 3);
    OK(&f, strata_session_savepoint_rollback(f.s));
    ck_assert_int_eq(a->id, 0);
    ck_assert_int_eq(b->id, 0);
    ck_assert_str_eq(john->username, "john");
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 1);
    /* A savepoint left open is committed with the session. */
    OK(&f, strata_session_savepoint(f.s));
    User *c = new_user(&f, "c", "c@example.com");
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(strata_session_savepoint_depth(f.s), 0);
    ck_assert(c->id > 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 2);
    teardown(&f);
}
END_TEST

/* Objects loaded or refreshed inside a savepoint follow its rollback too:
 * a row made there (raw SQL) is gone, and its object with it, so the key
 * the engine hands out again is never answered by it; rows changed there
 * read as before. */
START_TEST(orm_savepoint_objects_loaded_inside)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    Post *hello = new_post(&f, "hello", john);
    OK(&f, strata_session_commit(f.s));
    int64_t hello_id = hello->id;
    /* A post first loaded inside the savepoint, its row changed there. */
    OK(&f, strata_session_savepoint(f.s));
    th_exec(f.db, "UPDATE post SET body = 'edited'");
    Post *p = NULL;
    OK(&f, strata_get(f.s, &post_model, hello_id, &p));
    ck_assert_str_eq(p->body, "edited");
    OK(&f, strata_session_savepoint_rollback(f.s));
    ck_assert_str_eq(p->body, "hello");
    OK(&f, strata_session_commit(f.s));

    /* A row made inside the savepoint and loaded there; a loaded object
     * refreshed there. */
    OK(&f, strata_get(f.s, &user_model, john->id, &john));
    OK(&f, strata_session_savepoint(f.s));
    th_exec(f.db, "INSERT INTO \"user\" (username, email) VALUES ('raw', 'raw@example.com')");
    th_exec(f.db, "UPDATE \"user\" SET username = 'changed' WHERE username = 'john'");
    strata_query *q = strata_query_new(f.s, &user_model);
    strata_query_filter(q, strata_c("username", STRATA_EQ, strata_text("raw")));
    User *raw = NULL;
    OK(&f, strata_query_first(q, &raw));
    strata_query_free(q);
    ck_assert_ptr_nonnull(raw);
    int64_t raw_id = raw->id;
    OK(&f, strata_refresh(john));
    ck_assert_str_eq(john->username, "changed");
    OK(&f, strata_session_savepoint_rollback(f.s));
    ck_assert_str_eq(john->username, "john");
    User *zed = new_user(&f, "zed", "zed@example.com");
    OK(&f, strata_session_commit(f.s));
    User *got = NULL;
    OK(&f, strata_get(f.s, &user_model, zed->id, &got));
    ck_assert_ptr_eq(got, zed);
    int rc = strata_get(f.s, &user_model, raw_id, &got);
    ck_assert_msg(rc == STRATA_E_NOT_FOUND || (rc == STRATA_OK && got == zed), "%s",
                  strata_errname(rc));
    /* The object of the vanished row writes nothing, least of all over
     * the row that took its key. */
    OK(&f, strata_set_text(&raw->email, "ghost@example.com"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(
        th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'ghost@example.com'"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'zed' AND "
                                  "email = 'zed@example.com'"),
                     1);
    teardown(&f);
}
END_TEST

START_TEST(orm_savepoint_misuse)
{
    fixture f;
    setup_db(&f);
    ck_assert_int_eq(strata_session_savepoint_release(f.s), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "no savepoint"));
    ck_assert_int_eq(strata_session_savepoint_rollback(f.s), STRATA_E_MISUSE);
    /* The connection's own savepoints are refused under a session. */
    ck_assert_int_eq(strata_db_savepoint(f.db), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(f.db), "strata_session_savepoint"));
    ck_assert_int_eq(strata_db_savepoint_depth(f.db), 0);
    OK(&f, strata_session_savepoint(f.s));
    ck_assert_int_eq(strata_db_savepoint_rollback(f.db), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_db_savepoint_depth(f.db), 1);
    /* A session rollback ends its savepoints. */
    new_user(&f, "x", "x@example.com");
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(strata_session_savepoint_depth(f.s), 0);
    ck_assert_int_eq(strata_db_savepoint_depth(f.db), 0);
    ck_assert_int_eq(strata_session_savepoint_rollback(f.s), STRATA_E_MISUSE);
    for (int i = 0; i < 64; i++)
        OK(&f, strata_session_savepoint(f.s));
    ck_assert_int_eq(strata_session_savepoint(f.s), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "64 deep"));
    OK(&f, strata_session_rollback(f.s));
    teardown(&f);
    /* Without a session the connection's savepoints work. */
    strata_db *db = th_open();
    th_rc(db, strata_db_savepoint(db), STRATA_OK);
    th_rc(db, strata_db_savepoint_rollback(db), STRATA_OK);
    strata_db_close(db);
}
END_TEST

/* A model's table_args are created, read back the same on every engine
 * (so autogenerate proposes nothing), and enforced. */
START_TEST(orm_table_args)
{
    fixture f;
    setup_db(&f);
    strata_metadata *want, *live;
    ck_assert_int_eq(strata_metadata_new(&want), STRATA_OK);
    ck_assert_int_eq(strata_metadata_add_models(want, microblog), STRATA_OK);
    ck_assert_int_eq(strata_schema_introspect(&live, f.db, NULL), STRATA_OK);
    strata_diff *d;
    ck_assert_int_eq(strata_schema_diff(&d, live, want, strata_db_driver(f.db)), STRATA_OK);
    ck_assert_msg(strata_diff_count(d) == 0, "a change after create_all: %s",
                  strata_diff_op_describe(d, 0));
    strata_diff_free(d);
    char *text;
    ck_assert_int_eq(strata_metadata_describe(live, &text), STRATA_OK);
    ck_assert_ptr_nonnull(strstr(text, "unique uq_bookmark_user_url (user_id, url)"));
    ck_assert_ptr_nonnull(strstr(text, "check ck_bookmark_stars_in_range"));
    ck_assert_ptr_nonnull(strstr(text, "index ix_bookmark_url_stars (url, stars)"));
    ck_assert_ptr_nonnull(strstr(text, "index ix_bookmark_live (user_id, stars) where "));
    strata_free(text);
    strata_metadata_free(live);
    strata_metadata_free(want);

    User *u = new_user(&f, "u", "u@example.com");
    OK(&f, strata_session_commit(f.s));
    Bookmark *b;
    OK(&f, strata_new(f.s, &bookmark_model, &b));
    b->user_id = u->id;
    OK(&f, strata_set_text(&b->url, "https://example.com"));
    b->stars = 3;
    OK(&f, strata_add(b));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_new(f.s, &bookmark_model, &b));
    b->user_id = u->id;
    OK(&f, strata_set_text(&b->url, "https://example.com"));
    OK(&f, strata_add(b));
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_UNIQUE);
    OK(&f, strata_session_rollback(f.s));
    OK(&f, strata_set_text(&b->url, "https://example.org"));
    b->stars = 9;
    OK(&f, strata_add(b));
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_CHECK);
    OK(&f, strata_session_rollback(f.s));
    teardown(&f);
}
END_TEST

/* Bad table_args name the model and the entry. */
/* One table of inputs: accepted (and read back from the database the
 * same on every engine) or refused with the same code everywhere. */
START_TEST(orm_text_types_validated_alike)
{
    fixture f;
    setup_db(&f);
    static const struct {
        const char *amount, *ref, *doc, *status;
        int want; /* the commit's result */
        const char *amount_back, *ref_back;
    } cases[] = {
        {"12.345", NULL, NULL, "draft", STRATA_OK, "12.35", NULL},
        {"-0.005", NULL, NULL, "draft", STRATA_OK, "-0.01", NULL},
        {"7", NULL, NULL, "sent", STRATA_OK, "7.00", NULL},
        {"+0012.3", NULL, NULL, "paid", STRATA_OK, "12.30", NULL},
        {"-0.004", NULL, NULL, "paid", STRATA_OK, "0.00", NULL},
        {"99999999.99", NULL, NULL, "paid", STRATA_OK, "99999999.99", NULL},
        {"99999999.995", NULL, NULL, "paid", STRATA_E_RANGE, NULL, NULL},
        {"123456789.5", NULL, NULL, "paid", STRATA_E_RANGE, NULL, NULL},
        {"12,5", NULL, NULL, "paid", STRATA_E_DATA, NULL, NULL},
        {"1e5", NULL, NULL, "paid", STRATA_E_DATA, NULL, NULL},
        {NULL, "0E8A6F1C-3B6D-4C6E-9A3B-2F1D5C7E9A01", NULL, "draft", STRATA_OK, NULL,
         "0e8a6f1c-3b6d-4c6e-9a3b-2f1d5c7e9a01"},
        {NULL, "0e8a6f1c3b6d4c6e9a3b2f1d5c7e9a01", NULL, "draft", STRATA_E_DATA, NULL, NULL},
        {NULL, NULL, "{\"a\": [1, 2.5e3, true, null, \"x\\u00e9\"]}", "draft", STRATA_OK, NULL,
         NULL},
        {NULL, NULL, "{\"a\": }", "draft", STRATA_E_DATA, NULL, NULL},
        /* As PostgreSQL's jsonb prints objects, and what jsonb refuses. */
        {NULL, NULL, "{\"a\": 1, \"b\": [2, 3], \"c\": {\"d\": \"\\ud83d\\ude00\"}}", "draft",
         STRATA_OK, NULL, NULL},
        {NULL, NULL, "[\"\\ud800\"]", "draft", STRATA_E_DATA, NULL, NULL},
        {NULL, NULL, "[\"\\u0000\"]", "draft", STRATA_E_DATA, NULL, NULL},
        {NULL, NULL, "[\"\xff\"]", "draft", STRATA_E_DATA, NULL, NULL},
        {NULL, NULL, "[1e1000000]", "draft", STRATA_E_DATA, NULL, NULL},
        /* numeric's range as PostgreSQL counts it: the first digit that
         * is not zero, and the digits after the point. */
        {NULL, NULL, "[10e131071]", "draft", STRATA_E_DATA, NULL, NULL},
        {NULL, NULL, "[0.01e131073, 99e131070, 0e999999]", "draft", STRATA_OK, NULL, NULL},
        {NULL, NULL, "[0.00001e-16379]", "draft", STRATA_E_DATA, NULL, NULL},
        {NULL, NULL, "[0.000e-16383]", "draft", STRATA_E_DATA, NULL, NULL},
        {NULL, NULL, "[123.456e-16380]", "draft", STRATA_OK, NULL, NULL},
        {NULL, NULL, "[1, 2] 3", "draft", STRATA_E_DATA, NULL, NULL},
        {NULL, NULL, "01", "draft", STRATA_E_DATA, NULL, NULL},
        {NULL, NULL, NULL, "lost", STRATA_E_CHECK, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Invoice *inv;
        OK(&f, strata_new(f.s, &invoice_model, &inv));
        if (cases[i].amount)
            OK(&f, strata_set_text(&inv->amount, cases[i].amount));
        if (cases[i].ref)
            OK(&f, strata_set_text(&inv->ref, cases[i].ref));
        if (cases[i].doc)
            OK(&f, strata_set_text(&inv->doc, cases[i].doc));
        OK(&f, strata_set_text(&inv->status, cases[i].status));
        OK(&f, strata_add(inv));
        int rc = strata_session_commit(f.s);
        ck_assert_msg(rc == cases[i].want, "case %zu (%s %s %s %s): %s, want %s: %s", i,
                      cases[i].amount ? cases[i].amount : "-", cases[i].ref ? cases[i].ref : "-",
                      cases[i].doc ? cases[i].doc : "-", cases[i].status, strata_errname(rc),
                      strata_errname(cases[i].want), strata_session_errmsg(f.s));
        if (rc != STRATA_OK) {
            OK(&f, strata_session_rollback(f.s));
            continue;
        }
        /* What the database holds, read again. */
        OK(&f, strata_refresh(inv));
        if (cases[i].amount_back)
            ck_assert_str_eq(inv->amount, cases[i].amount_back);
        if (cases[i].ref_back)
            ck_assert_str_eq(inv->ref, cases[i].ref_back);
    }
    /* A 64-bit key beyond 32 bits, and a time-zone-aware timestamp. */
    Invoice *big;
    OK(&f, strata_new(f.s, &invoice_model, &big));
    big->id = 5000000000LL;
    OK(&f, strata_set_text(&big->status, "paid"));
    OK(&f, strata_timestamp_parse(&big->due, "2024-06-30 23:59:59.25", 22));
    OK(&f, strata_add(big));
    OK(&f, strata_session_commit(f.s));
    Invoice *again;
    OK(&f, strata_get(f.s, &invoice_model, 5000000000LL, &again));
    strata_timestamp want;
    OK(&f, strata_timestamp_parse(&want, "2024-06-30 23:59:59.25", 22));
    OK(&f, strata_refresh(again));
    ck_assert(again->due == want);

    /* A document that is a bare number keeps its digits: SQLite would
     * keep it as a number in a column declared JSON alone. */
    static const char *const bare[] = {"1.0", "12.50", "100", "[1.0]"};
    for (size_t i = 0; i < sizeof bare / sizeof *bare; i++) {
        Invoice *inv;
        OK(&f, strata_new(f.s, &invoice_model, &inv));
        OK(&f, strata_set_text(&inv->doc, bare[i]));
        OK(&f, strata_set_text(&inv->status, "draft"));
        OK(&f, strata_add(inv));
        OK(&f, strata_session_commit(f.s));
        OK(&f, strata_refresh(inv));
        ck_assert_str_eq(inv->doc, bare[i]);
    }

    /* Text that is not UTF-8 is refused naming its field. */
    {
        Invoice *inv;
        OK(&f, strata_new(f.s, &invoice_model, &inv));
        OK(&f, strata_set_text(&inv->status, "p\xe9id"));
        OK(&f, strata_add(inv));
        ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_DATA);
        ck_assert_msg(strstr(strata_session_errmsg(f.s), "Invoice.status: "), "%s",
                      strata_session_errmsg(f.s));
        OK(&f, strata_session_rollback(f.s));
    }

    /* Beyond a double, where SQLite keeps numerics as doubles: refused
     * there, not stored as an infinity or a zero; kept whole on
     * PostgreSQL. */
    char huge[410] = "1", tiny[410] = "0.";
    memset(huge + 1, '0', 400);
    huge[401] = '\0';
    memset(tiny + 2, '0', 312);
    strcpy(tiny + 314, "1");
    const char *wide[] = {huge, tiny, "1e308", "-0.000"};
    const int want_sqlite[] = {STRATA_E_RANGE, STRATA_E_RANGE, STRATA_E_DATA, STRATA_OK};
    for (size_t i = 0; i < sizeof wide / sizeof *wide; i++) {
        Wide *m;
        OK(&f, strata_new(f.s, &wide_model, &m));
        OK(&f, strata_set_text(&m->v, wide[i]));
        OK(&f, strata_add(m));
        int rc = strata_session_commit(f.s);
        int rc_want = th_is_pg() && want_sqlite[i] == STRATA_E_RANGE ? STRATA_OK : want_sqlite[i];
        ck_assert_msg(rc == rc_want, "%zu: %s: %s", i, strata_errname(rc),
                      strata_session_errmsg(f.s));
        if (rc == STRATA_E_RANGE)
            ck_assert_msg(strstr(strata_session_errmsg(f.s), "Wide.v: "), "%s",
                          strata_session_errmsg(f.s));
        if (rc != STRATA_OK) {
            OK(&f, strata_session_rollback(f.s));
            continue;
        }
        OK(&f, strata_refresh(m));
        if (i < 2)
            ck_assert_str_eq(m->v, wide[i]);
    }
    teardown(&f);
}
END_TEST

/* LIKE and ILIKE read a backslash as the escape of the next character on
 * every engine (PostgreSQL's rule), and refuse a pattern ending in a lone
 * one alike. */
START_TEST(orm_like_escapes_alike)
{
    fixture f;
    setup_db(&f);
    static const char *const names[] = {"a_b", "axb", "100%", "100x", "a\\b", "ab"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char email[64];
        snprintf(email, sizeof email, "u%zu@example.com", i);
        new_user(&f, names[i], email);
    }
    OK(&f, strata_session_commit(f.s));
    static const struct {
        strata_op op;
        const char *pattern, *only; /* the one name it matches */
    } cases[] = {{STRATA_LIKE, "a\\_b", "a_b"},  {STRATA_LIKE, "100\\%", "100%"},
                 {STRATA_LIKE, "%\\%%", "100%"}, {STRATA_LIKE, "a\\\\b", "a\\b"},
                 {STRATA_ILIKE, "A\\_B", "a_b"}, {STRATA_ILIKE, "A\\\\B", "a\\b"},
                 {STRATA_LIKE, "\\a\\b", "ab"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        strata_query *q = strata_query_new(f.s, &user_model);
        OK(&f, strata_query_filter(
                   q, strata_c("username", cases[i].op, strata_text(cases[i].pattern))));
        strata_list *l;
        OK(&f, strata_query_all(q, &l));
        ck_assert_msg(l->count == 1, "%s: %zu rows", cases[i].pattern, l->count);
        ck_assert_str_eq(((User *)l->items[0])->username, cases[i].only);
        strata_list_free(l);
        strata_query_free(q);
    }
    static const char *const refused[] = {"a\\", "100\\\\\\"};
    for (size_t i = 0; i < 2; i++)
        for (int ilike = 0; ilike < 2; ilike++) {
            strata_query *q = strata_query_new(f.s, &user_model);
            OK(&f, strata_query_filter(q, strata_c("username", ilike ? STRATA_ILIKE : STRATA_LIKE,
                                                   strata_text(refused[i]))));
            int64_t n = -1;
            ck_assert_int_eq(strata_query_count(q, &n), STRATA_E_DATA);
            ck_assert_msg(strstr(strata_session_errmsg(f.s), "ends with a lone backslash") != NULL,
                          "%s", strata_session_errmsg(f.s));
            strata_query_free(q);
        }
    teardown(&f);
}
END_TEST

/* A condition's value is taken as its field's type, so both engines
 * compare alike: a UUID's text lowered, a whole float for an integer
 * field taken and any other refused, a NaN refused. */
static int64_t typed_count(fixture *f, const strata_model *m, strata_cond *c, int want_rc)
{
    strata_query *q = strata_query_new(f->s, m);
    OK(f, strata_query_filter(q, c));
    int64_t n = -1;
    int rc = strata_query_count(q, &n);
    ck_assert_msg(rc == want_rc, "%s: %s", strata_errname(rc), strata_session_errmsg(f->s));
    strata_query_free(q);
    return n;
}

START_TEST(orm_condition_values_take_the_field_type)
{
    fixture f;
    setup_db(&f);
    Gadget *g;
    OK(&f, strata_new(f.s, &gadget_model, &g));
    g->count = 5;
    OK(&f, strata_timestamp_parse(&g->seen, "2000-01-01 00:00:00.5", 21));
    OK(&f, strata_set_null(g, "shelf_id", 1));
    OK(&f, strata_add(g));
    Invoice *inv;
    OK(&f, strata_new(f.s, &invoice_model, &inv));
    OK(&f, strata_set_text(&inv->ref, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    OK(&f, strata_set_text(&inv->status, "draft"));
    OK(&f, strata_add(inv));
    OK(&f, strata_session_commit(f.s));

    ck_assert_int_eq(
        typed_count(&f, &gadget_model, strata_c("count", STRATA_EQ, strata_double(5.0)), STRATA_OK),
        1);
    ck_assert_int_eq(
        typed_count(&f, &gadget_model, strata_c("count", STRATA_GE, strata_double(5.0)), STRATA_OK),
        1);
    typed_count(&f, &gadget_model, strata_c("count", STRATA_LT, strata_double(2.5)),
                STRATA_E_MISUSE);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "is not a whole number") != NULL, "%s",
                  strata_session_errmsg(f.s));

    typed_count(&f, &gadget_model, strata_c("count", STRATA_EQ, strata_double(1e19)),
                STRATA_E_MISUSE);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "is beyond 64 bits") != NULL, "%s",
                  strata_session_errmsg(f.s));
    /* NaN, which SQLite cannot bind, is refused on every engine. */
    typed_count(&f, &gadget_model, strata_c("weight", STRATA_EQ, strata_double(NAN)),
                STRATA_E_DATA);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "is NaN") != NULL, "%s",
                  strata_session_errmsg(f.s));
    /* A time compared with a timestamp value matches on both. */
    strata_timestamp at;
    OK(&f, strata_timestamp_parse(&at, "2000-01-01 00:00:00.5", 21));
    ck_assert_int_eq(
        typed_count(&f, &gadget_model, strata_c("seen", STRATA_EQ, strata_time(at)), STRATA_OK), 1);

    const char *upper = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11";
    ck_assert_int_eq(
        typed_count(&f, &invoice_model, strata_c("ref", STRATA_EQ, strata_text(upper)), STRATA_OK),
        1);
    strata_value refs[] = {strata_text("00000000-0000-0000-0000-000000000000"), strata_text(upper)};
    ck_assert_int_eq(typed_count(&f, &invoice_model, strata_c_in("ref", refs, 2), STRATA_OK), 1);
    typed_count(&f, &invoice_model, strata_c("ref", STRATA_EQ, strata_text("not-a-uuid")),
                STRATA_E_DATA);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "is not a UUID") != NULL, "%s",
                  strata_session_errmsg(f.s));
    teardown(&f);
}
END_TEST

/* Aggregates give the same types on every engine: a minimum or maximum
 * of a time is a timestamp, any of a numeric its decimal text; those one
 * engine answers and another refuses are refused on all. */
static strata_rows *aggregate_rows(fixture *f, const strata_model *m, const char *columns,
                                   int want_rc)
{
    strata_query *q = strata_query_new(f->s, m);
    OK(f, strata_query_columns(q, columns));
    strata_rows *rows = NULL;
    int rc = strata_query_rows(q, &rows);
    ck_assert_msg(rc == want_rc, "%s: %s: %s", columns, strata_errname(rc),
                  strata_session_errmsg(f->s));
    strata_query_free(q);
    return rows;
}

/* A field of the program's own SQL type ("sql:real"): its aggregates are
 * the program's choice, as the engine answers them. */
typedef struct Meter {
    strata_object base;
    int64_t id;
    double r;
} Meter;
static const strata_field meter_fields[] = {STRATA_PK(Meter, id),
                                            STRATA__FIELD(Meter, r, STRATA_C_DOUBLE, "sql:real", 0),
                                            STRATA_FIELDS_END};
static const strata_model meter_model = {STRATA_MODEL_VERSION, "Meter", .size = sizeof(Meter),
                                         .fields = meter_fields};

START_TEST(orm_aggregates_typed_alike)
{
    fixture f;
    setup_db(&f);
    static const char *const seen[] = {"2001-02-03 04:05:06.5", "1999-12-31 23:59:59"};
    static const char *const amounts[] = {"12345678.12", "0.30"};
    for (int i = 0; i < 2; i++) {
        Gadget *g;
        OK(&f, strata_new(f.s, &gadget_model, &g));
        OK(&f, strata_timestamp_parse(&g->seen, seen[i], strlen(seen[i])));
        OK(&f, strata_set_null(g, "shelf_id", 1));
        OK(&f, strata_add(g));
        Invoice *inv;
        OK(&f, strata_new(f.s, &invoice_model, &inv));
        OK(&f, strata_set_text(&inv->amount, amounts[i]));
        OK(&f, strata_set_text(&inv->status, "draft"));
        inv->due = i ? 0 : 1000000;
        OK(&f, strata_add(inv));
    }
    OK(&f, strata_session_commit(f.s));
    strata_rows *r = aggregate_rows(&f, &gadget_model, "min(seen), max(seen)", STRATA_OK);
    for (int c = 0; c < 2; c++) {
        const strata_value *v = strata_rows_value(r, 0, c);
        ck_assert_int_eq(v->type, STRATA_TYPE_TIMESTAMP);
        strata_timestamp want;
        OK(&f, strata_timestamp_parse(&want, seen[1 - c], strlen(seen[1 - c])));
        ck_assert(v->u.ts == want);
    }
    strata_rows_free(r);
    r = aggregate_rows(&f, &invoice_model, "max(amount), sum(amount), min(amount), max(due)",
                       STRATA_OK);
    ck_assert_str_eq(strata_rows_text(r, 0, 0), "12345678.12");
    ck_assert_str_eq(strata_rows_text(r, 0, 1), "12345678.42");
    ck_assert_str_eq(strata_rows_text(r, 0, 2), "0.30");
    ck_assert_int_eq(strata_rows_value(r, 0, 3)->type, STRATA_TYPE_TIMESTAMP);
    ck_assert(strata_rows_value(r, 0, 3)->u.ts == 1000000);
    strata_rows_free(r);
    static const char *const refused[] = {"sum(active)", "max(active)", "max(data)", "sum(seen)",
                                          "avg(seen)"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        aggregate_rows(&f, &gadget_model, refused[i], STRATA_E_MISUSE);
        ck_assert_msg(strstr(strata_session_errmsg(f.s), "not answered alike") != NULL, "%s",
                      strata_session_errmsg(f.s));
    }
    aggregate_rows(&f, &invoice_model, "max(ref)", STRATA_E_MISUSE);
    /* A sum past 64 bits is out of range on both. */
    for (int i = 0; i < 2; i++) {
        Invoice *inv;
        OK(&f, strata_new(f.s, &invoice_model, &inv));
        inv->id = INT64_C(4611686018427387904) + i;
        OK(&f, strata_set_text(&inv->status, "paid"));
        OK(&f, strata_add(inv));
    }
    OK(&f, strata_session_commit(f.s));
    aggregate_rows(&f, &invoice_model, "sum(id)", STRATA_E_RANGE);
    ck_assert_str_eq(strata_db_sqlstate(f.db), "22003");
    OK(&f, strata_session_rollback(f.s));
    th_exec(f.db, "CREATE TABLE meter (id INTEGER PRIMARY KEY, r REAL NOT NULL)");
    th_exec(f.db, "INSERT INTO meter VALUES (1, 1.5), (2, 2.5)");
    r = aggregate_rows(&f, &meter_model, "sum(r), max(r)", STRATA_OK);
    double d;
    OK(&f, strata_rows_double(r, 0, 0, &d));
    ck_assert_double_eq(d, 4.0);
    OK(&f, strata_rows_double(r, 0, 1, &d));
    ck_assert_double_eq(d, 2.5);
    strata_rows_free(r);
    teardown(&f);
}
END_TEST

/* NULL sorts as the largest value on every engine (PostgreSQL's way):
 * last ascending, first descending, so pages of a nullable order are the
 * same rows on both; a NOT NULL field's order is written plain, for its
 * index. */
static void names_in_order(fixture *f, const strata_model *m, const char *by, strata_order o,
                           int64_t limit, const char *want)
{
    strata_query *q = strata_query_new(f->s, m);
    OK(f, strata_query_order_by(q, by, o));
    OK(f, strata_query_order_by(q, "id", STRATA_ASC));
    if (limit >= 0)
        OK(f, strata_query_limit(q, limit));
    strata_list *l;
    OK(f, strata_query_all(q, &l));
    char got[256] = "";
    for (size_t i = 0; i < l->count; i++) {
        const char *name =
            m == &user_model ? ((User *)l->items[i])->username : ((Post *)l->items[i])->body;
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? " " : "", name);
    }
    ck_assert_msg(!strcmp(got, want), "order by %s %s: %s, want %s", by,
                  o == STRATA_ASC ? "ASC" : "DESC", got, want);
    strata_list_free(l);
    strata_query_free(q);
}

static char last_select[1024];

static void keep_select(void *ud, const char *line)
{
    (void)ud;
    if (strstr(line, "SELECT"))
        snprintf(last_select, sizeof last_select, "%s", line);
}

START_TEST(orm_nulls_sort_alike)
{
    fixture f;
    setup_db(&f);
    static const char *const hashes[] = {NULL, "x", "y", NULL};
    static const char *const names[] = {"a", "b", "c", "d"};
    User *u[4];
    for (int i = 0; i < 4; i++) {
        char email[32];
        snprintf(email, sizeof email, "%s@example.com", names[i]);
        u[i] = new_user(&f, names[i], email);
        if (hashes[i])
            OK(&f, strata_set_text(&u[i]->password_hash, hashes[i]));
        new_post(&f, names[i], u[i]);
    }
    OK(&f, strata_session_commit(f.s));
    names_in_order(&f, &user_model, "password_hash", STRATA_ASC, -1, "b c a d");
    names_in_order(&f, &user_model, "password_hash", STRATA_DESC, -1, "a d c b");
    names_in_order(&f, &user_model, "password_hash", STRATA_ASC, 2, "b c");
    names_in_order(&f, &user_model, "password_hash", STRATA_DESC, 2, "a d");
    names_in_order(&f, &post_model, "author.password_hash", STRATA_ASC, -1, "b c a d");
    names_in_order(&f, &post_model, "author.password_hash", STRATA_DESC, 3, "a d c");
    /* A NOT NULL field: ordered as written, for its index. */
    strata_db_set_echo(f.db, keep_select, NULL);
    names_in_order(&f, &user_model, "username", STRATA_DESC, 2, "d c");
    strata_db_set_echo(f.db, NULL, NULL);
    ck_assert_msg(strstr(last_select, "username DESC, ") && !strstr(last_select, "NULLS"), "%s",
                  last_select);
    teardown(&f);
}
END_TEST

/* Numbers a column cannot hold are refused alike on every engine: an
 * integer past 32 bits in an integer column (SQLite would keep it, where
 * PostgreSQL refuses it); a float's NaN where the engine cannot store it
 * (SQLite would read it back as NULL), kept where it can. */
START_TEST(orm_numbers_a_column_cannot_hold)
{
    fixture f;
    setup_db(&f);
    static const struct {
        int64_t count;
        int want;
    } counts[] = {{INT64_C(2147483647), STRATA_OK},
                  {INT64_C(-2147483648), STRATA_OK},
                  {INT64_C(2147483648), STRATA_E_RANGE},
                  {INT64_C(-2147483649), STRATA_E_RANGE},
                  {INT64_C(5000000000), STRATA_E_RANGE}};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
        Gadget *g;
        OK(&f, strata_new(f.s, &gadget_model, &g));
        g->count = counts[i].count;
        OK(&f, strata_set_null(g, "shelf_id", 1));
        OK(&f, strata_add(g));
        int rc = strata_session_commit(f.s);
        ck_assert_msg(rc == counts[i].want, "count %lld: %s: %s", (long long)counts[i].count,
                      strata_errname(rc), strata_session_errmsg(f.s));
        if (rc != STRATA_OK)
            OK(&f, strata_session_rollback(f.s));
    }
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM gadget"), 2);
    /* A bulk update is checked as a flush is: nothing changes. */
    strata_query *q = strata_query_new(f.s, &gadget_model);
    strata_assign set[] = {{"count", strata_int(INT64_C(3000000000))}};
    int64_t n = -1;
    ck_assert_int_eq(strata_query_update(q, set, 1, &n), STRATA_E_RANGE);
    strata_query_free(q);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM gadget WHERE count = 2147483647"), 1);
    if (!th_is_pg()) {
        /* A row SQLite holds past 32 bits (written by other means, and a
         * key it numbered after it): what the program changes is checked,
         * not what the row holds. */
        th_exec(f.db, "INSERT INTO gadget (id, active, weight, count) VALUES (3000000000, 1, 1.0, "
                      "3000000000)");
        Gadget *big, *next;
        OK(&f, strata_get(f.s, &gadget_model, INT64_C(3000000000), &big));
        big->weight = 2.0;
        OK(&f, strata_session_commit(f.s));
        OK(&f, strata_new(f.s, &gadget_model, &next));
        OK(&f, strata_set_null(next, "shelf_id", 1));
        OK(&f, strata_add(next));
        OK(&f, strata_session_commit(f.s));
        ck_assert_int_eq(next->id, INT64_C(3000000001));
        next->weight = 3.0;
        OK(&f, strata_session_commit(f.s));
        big->count++;
        ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_RANGE);
        OK(&f, strata_session_rollback(f.s));
        th_exec(f.db, "DELETE FROM gadget WHERE id >= 3000000000");
    }

    /* NaN: refused naming the field where the engine would lose it. */
    Gadget *g;
    OK(&f, strata_new(f.s, &gadget_model, &g));
    g->weight = NAN;
    OK(&f, strata_set_null(g, "shelf_id", 1));
    OK(&f, strata_add(g));
    int rc = strata_session_commit(f.s);
    if (th_is_pg()) {
        ck_assert_msg(rc == STRATA_OK, "%s", strata_session_errmsg(f.s));
        OK(&f, strata_refresh(g));
        ck_assert(isnan(g->weight));
    } else {
        ck_assert_int_eq(rc, STRATA_E_DATA);
        ck_assert_msg(strstr(strata_session_errmsg(f.s), "Gadget.weight is NaN") != NULL, "%s",
                      strata_session_errmsg(f.s));
        OK(&f, strata_session_rollback(f.s));
    }
    /* And through a statement of the program's own. */
    strata_stmt *st;
    th_rc(
        f.db,
        strata_stmt_prepare(&st, f.db, "INSERT INTO gadget (id, active, weight) VALUES (99, ?, ?)"),
        STRATA_OK);
    th_rc(f.db, strata_stmt_bind_bool(st, 1, 1), STRATA_OK);
    th_rc(f.db, strata_stmt_bind_double(st, 2, NAN), STRATA_OK);
    rc = strata_stmt_step(st);
    strata_stmt_finalize(st);
    ck_assert_msg(rc == (th_is_pg() ? STRATA_DONE : STRATA_E_DATA), "%s: %s", strata_errname(rc),
                  strata_db_errmsg(f.db));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM gadget WHERE weight IS NULL"), 0);
    teardown(&f);
}
END_TEST

/* What PostgreSQL refuses in a grouped or distinct query and SQLite
 * answers from an arbitrary row (a column neither grouped nor inside an
 * aggregate, in the columns, HAVING or ORDER BY; a DISTINCT query ordered
 * by what it does not select) is refused on every engine before any SQL,
 * naming the column, and the transaction goes on.  A column of a table
 * whose key is grouped is allowed, as PostgreSQL allows it. */
static int grouped_rows(fixture *f, const char *cols, const char *group, const char *order,
                        strata_cond *having, bool distinct, size_t *count)
{
    strata_query *q = strata_query_new(f->s, &post_model);
    OK(f, strata_query_columns(q, cols));
    if (group)
        OK(f, strata_query_group_by(q, group));
    if (order)
        OK(f, strata_query_order_by(q, order, STRATA_ASC));
    if (having)
        OK(f, strata_query_having(q, having));
    if (distinct)
        OK(f, strata_query_distinct(q));
    strata_rows *rows = NULL;
    int rc = strata_query_rows(q, &rows);
    *count = rows ? strata_rows_count(rows) : 0;
    strata_rows_free(rows);
    strata_query_free(q);
    return rc;
}

START_TEST(orm_grouping_refused_alike)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    new_post(&f, "j1", john);
    new_post(&f, "j2", john);
    new_post(&f, "s1", new_user(&f, "susan", "susan@example.com"));
    OK(&f, strata_session_commit(f.s));
    int before = f.statements;
    size_t n;
    static const struct {
        const char *cols, *group, *order;
        bool having, distinct;
        const char *said;
    } refused[] = {
        {"author.username, body", "author.username", NULL, false, false, "'body' is neither"},
        {"body, count(*)", NULL, NULL, false, false, "'body' is neither"},
        {"author.username, count(*)", "author.username", "body", false, false, "'body' is neither"},
        {"author.username, count(*)", "author.username", NULL, true, false, "'body' is neither"},
        {"count(*)", NULL, "author.username", false, false, "'author.username' is neither"},
        {"user_id", NULL, "body", false, true, "ordered by 'body'"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        strata_cond *h = refused[i].having ? strata_c("body", STRATA_EQ, strata_text("j1")) : NULL;
        ck_assert_int_eq(grouped_rows(&f, refused[i].cols, refused[i].group, refused[i].order, h,
                                      refused[i].distinct, &n),
                         STRATA_E_MISUSE);
        ck_assert_ptr_nonnull(strstr(strata_db_errmsg(f.db), refused[i].said));
    }
    ck_assert_int_eq(f.statements, before + 1); /* the transaction's BEGIN, no query */
    /* Allowed: by the key of the table, grouped columns, aggregates. */
    OK(&f, grouped_rows(&f, "author.username, count(*)", "author.id", "author.username", NULL,
                        false, &n));
    ck_assert_uint_eq(n, 2);
    OK(&f, grouped_rows(&f, "author.id, author.username, count(*)", "author.id", "count(*)",
                        strata_c("count(*)", STRATA_GE, strata_int(2)), false, &n));
    ck_assert_uint_eq(n, 1);
    OK(&f, grouped_rows(&f, "user_id", NULL, "user_id", NULL, true, &n));
    ck_assert_uint_eq(n, 2);
    OK(&f, grouped_rows(&f, "count(*), max(body)", NULL, NULL,
                        strata_c("count(*)", STRATA_GT, strata_int(0)), false, &n));
    ck_assert_uint_eq(n, 1);
    strata_query *q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_columns(q, "author.username, count(*)"));
    OK(&f, strata_query_group_by(q, "author.username"));
    int64_t groups;
    OK(&f, strata_query_count(q, &groups));
    ck_assert_int_eq(groups, 2);
    strata_query_free(q);
    /* A condition through a collection in HAVING names the owner's key;
     * grouped subqueries (under EXISTS, and an IN of their key) are
     * checked as the query is. */
    strata_query *uq = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_columns(uq, "username"));
    OK(&f, strata_query_group_by(uq, "username"));
    OK(&f, strata_query_having(uq, strata_c("posts.body", STRATA_EQ, strata_text("j1"))));
    strata_rows *rows = NULL;
    ck_assert_int_eq(strata_query_rows(uq, &rows), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(f.db), "'posts.body' is neither"));
    strata_query_free(uq);
    for (int in = 0; in < 2; in++) {
        strata_query *sub = strata_query_new(f.s, &post_model);
        OK(&f, strata_query_group_by(sub, "user_id"));
        if (!in)
            OK(&f, strata_query_having(sub, strata_c("body", STRATA_EQ, strata_text("j1"))));
        uq = strata_query_new(f.s, &user_model);
        OK(&f, strata_query_filter(uq, in ? strata_c_in_query("id", sub) : strata_c_exists(sub)));
        int64_t c;
        ck_assert_int_eq(strata_query_count(uq, &c), STRATA_E_MISUSE);
        ck_assert_ptr_nonnull(strstr(strata_db_errmsg(f.db), in ? "'id' is neither" : "'body'"));
        strata_query_free(uq);
    }
    /* A table grouped by every field of its two-field key. */
    Membership *m;
    OK(&f, strata_new(f.s, &membership_model, &m));
    m->user_id = john->id;
    OK(&f, strata_set_text(&m->role, "admin"));
    OK(&f, strata_add(m));
    strata_query *mq = strata_query_new(f.s, &membership_model);
    OK(&f, strata_query_columns(mq, "user_id, role, note"));
    OK(&f, strata_query_group_by(mq, "user_id, role"));
    OK(&f, strata_query_rows(mq, &rows));
    ck_assert_uint_eq(strata_rows_count(rows), 1);
    strata_rows_free(rows);
    strata_query_free(mq);
    mq = strata_query_new(f.s, &membership_model);
    OK(&f, strata_query_columns(mq, "role, note"));
    OK(&f, strata_query_group_by(mq, "role"));
    ck_assert_int_eq(strata_query_rows(mq, &rows), STRATA_E_MISUSE);
    strata_query_free(mq);
    /* A related query's own order is its objects': an aggregate of it is
     * not refused for it. */
    uq = strata_related_query(john, "posts");
    OK(&f, strata_query_columns(uq, "count(*)"));
    OK(&f, strata_query_rows(uq, &rows));
    int64_t cnt;
    OK(&f, strata_rows_int64(rows, 0, 0, &cnt));
    ck_assert_int_eq(cnt, 2);
    strata_rows_free(rows);
    strata_query_free(uq);
    /* A relationship's order stays where it may (its field selected or
     * grouped), and is left out where it may not. */
    Kennel *k = new_kennel(&f, "north");
    new_dog(&f, "c", k, 3);
    new_dog(&f, "a", k, 1);
    new_dog(&f, "b", k, 2);
    static const struct {
        const char *cols, *group;
        bool distinct;
        const char *first; /* NULL: any order */
    } kept[] = {
        {"rank, name", NULL, true, "a"},
        {"rank, name", "rank, name", false, "a"},
        {"name", NULL, true, NULL},
        {"name, count(*)", "name", false, NULL},
    };
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
        uq = strata_related_query(k, "dogs"); /* ordered by rank */
        OK(&f, strata_query_columns(uq, kept[i].cols));
        if (kept[i].group)
            OK(&f, strata_query_group_by(uq, kept[i].group));
        if (kept[i].distinct)
            OK(&f, strata_query_distinct(uq));
        OK(&f, strata_query_rows(uq, &rows));
        ck_assert_uint_eq(strata_rows_count(rows), 3);
        int named = kept[i].cols[0] == 'r';
        if (kept[i].first)
            ck_assert_str_eq(strata_rows_text(rows, 0, named), kept[i].first);
        strata_rows_free(rows);
        strata_query_free(uq);
    }
    /* Whether a query of groups has a row: its HAVING counts. */
    uq = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_columns(uq, "user_id, count(*)"));
    OK(&f, strata_query_group_by(uq, "user_id"));
    OK(&f, strata_query_having(uq, strata_c("count(*)", STRATA_GT, strata_int(5))));
    int some = -1;
    OK(&f, strata_query_exists(uq, &some));
    ck_assert_int_eq(some, 0);
    strata_query_free(uq);

    /* The transaction went on: nothing the refusals sent aborted it. */
    new_post(&f, "j3", john);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post"), 4);
    teardown(&f);
}
END_TEST

/* Values and aggregates, grouped, the same on every engine (types too). */
START_TEST(orm_values_and_aggregates)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    User *susan = new_user(&f, "susan", "susan@example.com");
    new_user(&f, "mary", "mary@example.com");
    new_post(&f, "s1", susan);
    new_post(&f, "s2", susan);
    new_post(&f, "j1", john);
    OK(&f, strata_session_commit(f.s));

    /* Posts per author, most first, through the many-to-one join. */
    strata_query *q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_columns(q, "author.username, count(*)"));
    OK(&f, strata_query_group_by(q, "author.username"));
    OK(&f, strata_query_order_by(q, "count(*)", STRATA_DESC));
    strata_rows *rows;
    OK(&f, strata_query_rows(q, &rows));
    ck_assert_uint_eq(strata_rows_count(rows), 2);
    ck_assert_int_eq(strata_rows_width(rows), 2);
    ck_assert_str_eq(strata_rows_name(rows, 1), "count(*)");
    ck_assert_str_eq(strata_rows_text(rows, 0, 0), "susan");
    ck_assert_int_eq(strata_rows_value(rows, 0, 1)->type, STRATA_TYPE_INT64);
    int64_t n;
    OK(&f, strata_rows_int64(rows, 0, 1, &n));
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(strata_rows_text(rows, 1, 0), "john");
    ck_assert_ptr_null(strata_rows_value(rows, 2, 0));
    ck_assert_int_eq(strata_rows_int64(rows, 0, 0, &n), STRATA_E_TYPE);
    strata_rows_free(rows);
    /* Only the groups with two posts or more. */
    OK(&f, strata_query_having(q, strata_c("count(*)", STRATA_GE, strata_int(2))));
    OK(&f, strata_query_rows(q, &rows));
    ck_assert_uint_eq(strata_rows_count(rows), 1);
    ck_assert_str_eq(strata_rows_text(rows, 0, 0), "susan");
    strata_rows_free(rows);
    strata_query_free(q);

    /* Distinct values, filtered and ordered. */
    q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_columns(q, "user_id"));
    OK(&f, strata_query_distinct(q));
    OK(&f, strata_query_order_by(q, "user_id", STRATA_ASC));
    OK(&f, strata_query_rows(q, &rows));
    ck_assert_uint_eq(strata_rows_count(rows), 2);
    OK(&f, strata_rows_int64(rows, 1, 0, &n));
    ck_assert_int_eq(n, susan->id);
    strata_rows_free(rows);
    strata_query_free(q);

    /* Scalars: the same types on both engines. */
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_scalar_int64(q, "count(*)", &n));
    ck_assert_int_eq(n, 3);
    OK(&f, strata_query_scalar_int64(q, "sum(id)", &n));
    ck_assert_int_eq(n, 6);
    OK(&f, strata_query_scalar_int64(q, "max(id)", &n));
    ck_assert_int_eq(n, 3);
    double d;
    OK(&f, strata_query_scalar_double(q, "avg(id)", &d));
    ck_assert(d == 2.0);
    OK(&f, strata_query_columns(q, "avg(id), sum(id)"));
    OK(&f, strata_query_rows(q, &rows));
    ck_assert_int_eq(strata_rows_value(rows, 0, 0)->type, STRATA_TYPE_DOUBLE);
    ck_assert_int_eq(strata_rows_value(rows, 0, 1)->type, STRATA_TYPE_INT64);
    strata_rows_free(rows);
    strata_query_filter(q, strata_c("username", STRATA_EQ, strata_text("nobody")));
    ck_assert_int_eq(strata_query_scalar_int64(q, "sum(id)", &n), STRATA_NULL);
    strata_query_free(q);

    /* Bad items name themselves. */
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_columns(q, "median(id)"));
    ck_assert_int_eq(strata_query_rows(q, &rows), STRATA_E_UNDEFINED_COLUMN);
    ck_assert_ptr_null(rows);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "median(id)"));
    strata_query_free(q);
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_columns(q, "count(nope)"));
    ck_assert_int_eq(strata_query_rows(q, &rows), STRATA_E_UNDEFINED_COLUMN);
    strata_query_free(q);
    q = strata_query_new(f.s, &user_model);
    ck_assert_int_eq(strata_query_rows(q, &rows), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_columns(q, "id,,username"), STRATA_E_MISUSE);
    strata_query_free(q);
    teardown(&f);
}
END_TEST

/* ---- paths, joins, subqueries, bulk changes ------------------------------ */

/* john and susan write; mary follows both, john follows susan; david
 * neither writes nor follows; eve follows john only. */
typedef struct people {
    User *john, *susan, *mary, *david, *eve;
    Post *j1, *j2, *s1, *m1;
} people;

static void seed_people(fixture *f, people *p)
{
    p->john = new_user(f, "john", "john@example.com");
    p->susan = new_user(f, "susan", "susan@example.com");
    p->mary = new_user(f, "mary", "mary@example.com");
    p->david = new_user(f, "david", "david@example.com");
    p->eve = new_user(f, "eve", "eve@example.com");
    p->j1 = new_post(f, "j1", p->john);
    p->j2 = new_post(f, "j2", p->john);
    p->s1 = new_post(f, "s1", p->susan);
    p->m1 = new_post(f, "m1", p->mary);
    OK(f, strata_collection_add(p->john, "following", p->susan));
    OK(f, strata_collection_add(p->mary, "following", p->susan));
    OK(f, strata_collection_add(p->mary, "following", p->john));
    OK(f, strata_collection_add(p->eve, "following", p->john));
    OK(f, strata_session_commit(f->s));
}

static strata_query *users_where(fixture *f, strata_cond *c)
{
    strata_query *q = strata_query_new(f->s, &user_model);
    OK(f, strata_query_filter(q, c));
    OK(f, strata_query_order_by(q, "username", STRATA_ASC));
    return q;
}

START_TEST(orm_paths_of_two_hops)
{
    fixture f;
    setup_db(&f);
    people p;
    seed_people(&f, &p);

    /* A many-to-one, then a many-to-many: posts whose author mary follows. */
    strata_query *q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_filter(
               q, strata_c("author.followers.username", STRATA_EQ, strata_text("mary"))));
    OK(&f, strata_query_order_by(q, "body", STRATA_ASC));
    query_repr(&f, q, "[<Post j1>, <Post j2>, <Post s1>]");
    /* A many-to-many, then a one-to-many: who follows the writer of s1. */
    q = users_where(&f, strata_c("following.posts.body", STRATA_EQ, strata_text("s1")));
    query_repr(&f, q, "[<User john>, <User mary>]");
    /* Two many-to-many hops over the same table: users followed by
     * someone who follows john. */
    q = users_where(&f, strata_c("followers.following.username", STRATA_EQ, strata_text("john")));
    query_repr(&f, q, "[<User john>, <User susan>]");
    /* Inside OR and NOT, and in a count. */
    q = users_where(&f, strata_or(strata_c("following.posts.body", STRATA_EQ, strata_text("j1")),
                                  strata_not(strata_c("posts.author.username", STRATA_IS_NOT_NULL,
                                                      strata_null()))));
    query_repr(&f, q, "[<User david>, <User eve>, <User mary>]");
    /* The one-to-one at the end of a many-to-one. */
    MusicAlbum *a;
    OK(&f, strata_new(f.s, &album_model, &a));
    OK(&f, strata_set_text(&a->title, "Blue"));
    OK(&f, strata_add(a));
    Cover *c;
    OK(&f, strata_new(f.s, &cover_model, &c));
    OK(&f, strata_set_text(&c->artist, "Joni"));
    OK(&f, strata_session_flush(f.s));
    c->album_id = a->id;
    OK(&f, strata_add(c));
    Track *t;
    OK(&f, strata_new(f.s, &track_model, &t));
    OK(&f, strata_set_text(&t->name, "River"));
    OK(&f, strata_set_related(t, "album", a));
    OK(&f, strata_add(t));
    OK(&f, strata_session_commit(f.s));
    q = strata_query_new(f.s, &track_model);
    OK(&f, strata_query_filter(q, strata_c("album.cover.artist", STRATA_EQ, strata_text("Joni"))));
    query_repr(&f, q, "[<Track River>]");
    /* A column or an order through a collection is refused, naming it. */
    q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_order_by(q, "author.posts.body", STRATA_ASC));
    strata_list *l;
    ck_assert_int_eq(strata_query_all(q, &l), STRATA_E_UNDEFINED_COLUMN);
    ck_assert_str_eq(strata_session_errmsg(f.s),
                     "Post: 'author.posts.body' goes through the collection User.posts: use it "
                     "in a condition, or join it (strata_query_join)");
    strata_query_free(q);
    /* A bad name anywhere on the path names the whole path. */
    const char *bad[] = {"author.followers.nope", "author.nope.username", "author..username",
                         "author.followers.", ".body"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        q = strata_query_new(f.s, &post_model);
        OK(&f, strata_query_filter(q, strata_c(bad[i], STRATA_EQ, strata_int(1))));
        ck_assert_int_eq(strata_query_all(q, &l), STRATA_E_UNDEFINED_COLUMN);
        char want[128];
        snprintf(want, sizeof want, "Post has no field or relationship field '%s'", bad[i]);
        ck_assert_str_eq(strata_session_errmsg(f.s), want);
        strata_query_free(q);
    }
    teardown(&f);
}
END_TEST

START_TEST(orm_explicit_joins)
{
    fixture f;
    setup_db(&f);
    people p;
    seed_people(&f, &p);

    /* Posts with their authors: two objects a row, from one statement. */
    strata_query *q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_join(q, "author"));
    OK(&f, strata_query_order_by(q, "author.username", STRATA_DESC));
    OK(&f, strata_query_order_by(q, "body", STRATA_ASC));
    strata_tuples *t;
    f.statements = 0;
    OK(&f, strata_query_tuples(q, &t));
    ck_assert_int_eq(f.statements, 2); /* BEGIN, and one SELECT */
    ck_assert_uint_eq(strata_tuples_count(t), 4);
    ck_assert_int_eq(strata_tuples_width(t), 2);
    const char *want[][2] = {{"s1", "susan"}, {"m1", "mary"}, {"j1", "john"}, {"j2", "john"}};
    for (size_t i = 0; i < 4; i++) {
        Post *post = strata_tuples_get(t, i, 0);
        User *u = strata_tuples_get(t, i, 1);
        ck_assert_str_eq(post->body, want[i][0]);
        ck_assert_str_eq(u->username, want[i][1]);
        ck_assert_int_eq(post->user_id, u->id);
    }
    /* The identity map's objects, not copies. */
    ck_assert_ptr_eq(strata_tuples_get(t, 2, 1), p.john);
    ck_assert_ptr_eq(strata_tuples_get(t, 2, 0), p.j1);
    ck_assert_ptr_null(strata_tuples_get(t, 4, 0));
    ck_assert_ptr_null(strata_tuples_get(t, 0, 2));
    strata_tuples_free(t);
    strata_query_free(q);

    /* An outer join keeps users without posts; a collection gives a row a
     * pair, and all() an object a row. */
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_outer_join(q, "posts"));
    OK(&f, strata_query_order_by(q, "username", STRATA_ASC));
    OK(&f, strata_query_order_by(q, "posts.body", STRATA_ASC));
    OK(&f, strata_query_tuples(q, &t));
    ck_assert_uint_eq(strata_tuples_count(t), 6); /* david, eve, j1, j2, m1, s1 */
    ck_assert_ptr_eq(strata_tuples_get(t, 0, 0), p.david);
    ck_assert_ptr_null(strata_tuples_get(t, 0, 1));
    ck_assert_ptr_null(strata_tuples_get(t, 1, 1));
    ck_assert_ptr_eq(strata_tuples_get(t, 3, 1), p.j2);
    strata_tuples_free(t);
    int64_t n;
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 6);
    strata_query_free(q);
    /* A condition on the joined collection names the joined row; eager
     * loading still fills each user's collection once. */
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_join(q, "posts"));
    OK(&f, strata_query_filter(q, strata_c("posts.body", STRATA_LIKE, strata_text("j%"))));
    OK(&f, strata_query_load(q, "posts"));
    strata_list *l;
    OK(&f, strata_query_all(q, &l));
    assert_repr(l, "[<User john>, <User john>]");
    const strata_list *posts;
    OK(&f, strata_related_list(p.john, "posts", &posts));
    assert_repr(posts, "[<Post j1>, <Post j2>]");
    strata_list_free(l);
    strata_query_free(q);
    /* Through a many-to-many, and two hops, with columns of values. */
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_join(q, "following"));
    OK(&f, strata_query_columns(q, "username, following.username"));
    OK(&f, strata_query_order_by(q, "username", STRATA_ASC));
    OK(&f, strata_query_order_by(q, "following.username", STRATA_ASC));
    strata_rows *rows;
    OK(&f, strata_query_rows(q, &rows));
    ck_assert_uint_eq(strata_rows_count(rows), 4);
    ck_assert_str_eq(strata_rows_text(rows, 0, 0), "eve");
    ck_assert_str_eq(strata_rows_text(rows, 0, 1), "john");
    ck_assert_str_eq(strata_rows_text(rows, 3, 0), "mary");
    ck_assert_str_eq(strata_rows_text(rows, 3, 1), "susan");
    strata_rows_free(rows);
    strata_query_free(q);
    q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_join(q, "author.following"));
    OK(&f, strata_query_columns(q, "body, author.following.username"));
    OK(&f, strata_query_order_by(q, "body", STRATA_ASC));
    OK(&f, strata_query_order_by(q, "author.following.username", STRATA_ASC));
    OK(&f, strata_query_rows(q, &rows));
    ck_assert_uint_eq(strata_rows_count(rows), 4); /* j1 susan, j2 susan, m1 john, m1 susan */
    ck_assert_str_eq(strata_rows_text(rows, 2, 0), "m1");
    ck_assert_str_eq(strata_rows_text(rows, 2, 1), "john");
    strata_rows_free(rows);
    strata_query_free(q);

    /* Misuse names the path. */
    q = strata_query_new(f.s, &post_model);
    ck_assert_int_eq(strata_query_join(q, "author.body"), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "'author.body'"));
    ck_assert_int_eq(strata_query_join(q, NULL), STRATA_E_MISUSE);
    strata_query_free(q);
    q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_join(q, "author"));
    ck_assert_int_eq(strata_query_join(q, "author"), STRATA_E_MISUSE);
    strata_query_free(q);
    teardown(&f);
}
END_TEST

START_TEST(orm_subqueries)
{
    fixture f;
    setup_db(&f);
    people p;
    seed_people(&f, &p);

    /* IN the values of a subquery's column... */
    strata_query *sub = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_columns(sub, "user_id"));
    OK(&f, strata_query_filter(sub, strata_c("body", STRATA_LIKE, strata_text("s%"))));
    strata_query *q = users_where(&f, strata_c_in_query("id", sub));
    query_repr(&f, q, "[<User susan>]");
    /* ... or of its key, when it names none. */
    sub = strata_query_new(f.s, &user_model);
    OK(&f,
       strata_query_filter(sub, strata_c("followers.username", STRATA_EQ, strata_text("mary"))));
    q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_filter(q, strata_c_in_query("user_id", sub)));
    OK(&f, strata_query_order_by(q, "body", STRATA_ASC));
    query_repr(&f, q, "[<Post j1>, <Post j2>, <Post s1>]");
    /* EXISTS, correlated: users who wrote something, and who did not. */
    sub = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_correlate(sub, "user_id", "id"));
    q = users_where(&f, strata_c_exists(sub));
    query_repr(&f, q, "[<User john>, <User mary>, <User susan>]");
    sub = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_correlate(sub, "user_id", "id"));
    q = users_where(&f, strata_not(strata_c_exists(sub)));
    query_repr(&f, q, "[<User david>, <User eve>]");
    /* Over the same table: the subquery's rows are its own, not the
     * query's (users with a later user). */
    sub = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(sub, strata_c("id", STRATA_GT, strata_int(p.mary->id))));
    OK(&f, strata_query_correlate(sub, "email", "email"));
    q = users_where(&f, strata_c_exists(sub));
    query_repr(&f, q, "[<User david>, <User eve>]");
    /* With a limit, parameters in order, inside a subquery of a subquery. */
    sub = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_columns(sub, "user_id"));
    OK(&f, strata_query_order_by(sub, "body", STRATA_DESC));
    OK(&f, strata_query_limit(sub, 1));
    strata_query *inner = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(inner, strata_c("username", STRATA_NE, strata_text("susan"))));
    OK(&f, strata_query_filter(sub, strata_c_in_query("user_id", inner)));
    q = users_where(&f, strata_and(strata_c("username", STRATA_NE, strata_text("x")),
                                   strata_c_in_query("id", sub)));
    query_repr(&f, q, "[<User mary>]");
    /* In a count, and through a path. */
    sub = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(sub, strata_c("username", STRATA_EQ, strata_text("john"))));
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(q, strata_c_in_query("following.id", sub)));
    int64_t n;
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 2); /* mary, eve */
    strata_query_free(q);

    /* Misuse. */
    strata_list *l;
    sub = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_columns(sub, "id, user_id"));
    q = users_where(&f, strata_c_in_query("id", sub));
    ck_assert_int_eq(strata_query_all(q, &l), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "one is needed"));
    strata_query_free(q);
    sub = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_correlate(sub, "user_id", "id"));
    ck_assert_int_eq(strata_query_all(sub, &l), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "only run as a subquery"));
    strata_query_free(sub);
    q = strata_query_new(f.s, &user_model);
    ck_assert_int_eq(strata_query_filter(q, strata_c_exists(q)), STRATA_E_MISUSE);
    sub = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(sub, strata_c_exists(strata_query_new(f.s, &post_model))));
    ck_assert_int_eq(strata_query_filter(q, strata_not(strata_c_in_query("id", sub))), STRATA_OK);
    strata_query_free(q); /* and sub with it */
    strata_session *other;
    OK(&f, strata_session_new(&other, f.db));
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(q, strata_c_exists(strata_query_new(other, &post_model))));
    ck_assert_int_eq(strata_query_all(q, &l), STRATA_E_MISUSE);
    strata_query_free(q);
    strata_session_free(other);
    ck_assert_ptr_null(strata_c_exists(NULL));
    ck_assert_ptr_null(strata_c_in_query(NULL, strata_query_new(f.s, &post_model)));
    teardown(&f);
}
END_TEST

START_TEST(orm_bulk_update_and_delete)
{
    fixture f;
    setup_db(&f);
    people p;
    seed_people(&f, &p);
    const strata_list *posts;
    OK(&f, strata_related_list(p.john, "posts", &posts));
    ck_assert_uint_eq(posts->count, 2);

    /* An update through a relationship: the loaded objects follow. */
    strata_query *q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_filter(q, strata_c("author.username", STRATA_EQ, strata_text("john"))));
    int64_t n = -1;
    OK(&f, strata_query_update(q, (strata_assign[]){{"body", strata_text("edited")}}, 1, &n));
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(p.j1->body, "edited");
    ck_assert_str_eq(p.j2->body, "edited");
    ck_assert_str_eq(p.s1->body, "s1");
    strata_query_free(q);
    /* Moving posts between users: loaded collections load again. */
    q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_filter(q, strata_c("body", STRATA_EQ, strata_text("edited"))));
    OK(&f, strata_query_update(q, (strata_assign[]){{"user_id", strata_int(p.susan->id)}}, 1, &n));
    ck_assert_int_eq(p.j1->user_id, p.susan->id);
    OK(&f, strata_related_list(p.john, "posts", &posts));
    ck_assert_uint_eq(posts->count, 0);
    OK(&f, strata_related_list(p.susan, "posts", &posts));
    ck_assert_uint_eq(posts->count, 3);
    /* An unflushed change is flushed first, not lost. */
    OK(&f, strata_set_text(&p.j1->body, "mine"));
    OK(&f, strata_query_update(q, (strata_assign[]){{"body", strata_text("again")}}, 1, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(p.j1->body, "mine");
    ck_assert_str_eq(p.j2->body, "again");
    strata_query_free(q);
    OK(&f, strata_session_commit(f.s));

    /* Values are checked as a flush checks them, before any SQL. */
    q = strata_query_new(f.s, &user_model);
    char long_name[80];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    f.statements = 0;
    ck_assert_int_eq(
        strata_query_update(q, (strata_assign[]){{"username", strata_text(long_name)}}, 1, &n),
        STRATA_E_TOO_LONG);
    ck_assert_int_eq(strata_query_update(q, (strata_assign[]){{"username", strata_null()}}, 1, &n),
                     STRATA_E_NOT_NULL);
    ck_assert_int_eq(strata_query_update(q, (strata_assign[]){{"username", strata_int(3)}}, 1, &n),
                     STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_update(q, (strata_assign[]){{"id", strata_int(3)}}, 1, &n),
                     STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_update(q, (strata_assign[]){{"nope", strata_int(3)}}, 1, &n),
                     STRATA_E_UNDEFINED_COLUMN);
    ck_assert_str_eq(strata_session_errmsg(f.s), "User has no field 'nope' to update");
    ck_assert_int_eq(
        strata_query_update(
            q, (strata_assign[]){{"email", strata_text("a")}, {"email", strata_text("b")}}, 2, &n),
        STRATA_E_MISUSE);
    ck_assert_int_eq(strata_query_update(q, NULL, 0, &n), STRATA_E_MISUSE);
    ck_assert_int_eq(f.statements, 0);
    OK(&f, strata_query_limit(q, 1));
    ck_assert_int_eq(strata_query_delete(q, &n), STRATA_E_MISUSE);
    strata_query_free(q);

    /* A failing statement leaves the transaction as it was. */
    OK(&f, strata_set_text(&p.david->password_hash, "kept"));
    OK(&f, strata_session_flush(f.s));
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(q, strata_c("username", STRATA_EQ, strata_text("eve"))));
    ck_assert_int_eq(strata_query_update(
                         q, (strata_assign[]){{"email", strata_text("john@example.com")}}, 1, &n),
                     STRATA_E_UNIQUE);
    ck_assert_str_eq(p.eve->email, "eve@example.com");
    OK(&f, strata_session_commit(f.s));
    strata_query_free(q);
    OK(&f, strata_refresh(p.david));
    ck_assert_str_eq(p.david->password_hash, "kept");

    /* A delete detaches the loaded objects it meets; a rollback brings
     * them back.  Association rows go with the rows. */
    const strata_list *followers;
    OK(&f, strata_related_list(p.john, "followers", &followers));
    ck_assert_uint_eq(followers->count, 2);
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(q, strata_c("username", STRATA_EQ, strata_text("eve"))));
    OK(&f, strata_query_delete(q, &n));
    ck_assert_int_eq(n, 1);
    strata_query_free(q);
    User *gone;
    ck_assert_int_eq(strata_get(f.s, &user_model, p.eve->id, &gone), STRATA_E_NOT_FOUND);
    OK(&f, strata_related_list(p.john, "followers", &followers));
    assert_repr(followers, "[<User mary>]");
    OK(&f, strata_session_rollback(f.s));
    OK(&f, strata_get(f.s, &user_model, p.eve->id, &gone));
    ck_assert_ptr_eq(gone, p.eve);
    OK(&f, strata_related_list(p.john, "followers", &followers));
    ck_assert_uint_eq(followers->count, 2);
    /* Inside a session savepoint, the same. */
    OK(&f, strata_session_savepoint(f.s));
    q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_filter(q, strata_c("author.username", STRATA_EQ, strata_text("mary"))));
    OK(&f, strata_query_delete(q, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(strata_get(f.s, &post_model, p.m1->id, &gone), STRATA_E_NOT_FOUND);
    OK(&f, strata_session_savepoint_rollback(f.s));
    OK(&f, strata_get(f.s, &post_model, p.m1->id, &gone));
    ck_assert_ptr_eq(gone, p.m1);
    ck_assert_str_eq(p.m1->body, "m1");
    /* A referenced row cannot go: the error, and nothing lost. */
    ck_assert_int_eq(strata_query_delete(q, NULL), STRATA_OK);
    strata_query_free(q);
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(q, strata_c("username", STRATA_EQ, strata_text("susan"))));
    ck_assert_int_eq(strata_query_delete(q, &n), STRATA_E_FOREIGN_KEY);
    ck_assert_int_eq(n, 0);
    strata_query_free(q);
    OK(&f, strata_session_commit(f.s));
    strata_session *other;
    OK(&f, strata_session_new(&other, f.db));
    q = strata_query_new(other, &post_model);
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 3);
    strata_query_free(q);
    q = strata_query_new(other, &user_model);
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 5);
    /* A read-only session refuses. */
    OK(&f, strata_session_rollback(other));
    OK(&f, strata_session_set_read_only(other, 1));
    ck_assert_int_eq(strata_query_delete(q, &n), STRATA_E_READONLY);
    strata_query_free(q);
    strata_session_free(other);
    teardown(&f);
}
END_TEST

/* A row deleted and a new object with its key added in one flush: the
 * insert goes first and fails, and the flush is undone; flushed apart,
 * both go. */
START_TEST(orm_delete_then_add_the_same_key)
{
    fixture f;
    setup_db(&f);
    people p;
    seed_people(&f, &p);
    int64_t id = p.eve->id;
    OK(&f, strata_delete(p.eve));
    User *again = new_user(&f, "eve2", "eve2@example.com");
    again->id = id;
    ck_assert_int_eq(strata_session_flush(f.s), STRATA_E_UNIQUE);
    User *u;
    OK(&f, strata_session_rollback(f.s));
    OK(&f, strata_get(f.s, &user_model, id, &u));
    ck_assert_str_eq(u->username, "eve");
    OK(&f, strata_delete(p.eve));
    OK(&f, strata_session_flush(f.s));
    again = new_user(&f, "eve2", "eve2@example.com");
    again->id = id;
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_get(f.s, &user_model, id, &u));
    ck_assert_ptr_eq(u, again);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE username = 'eve2'"), 1);
    teardown(&f);
}
END_TEST

/* Objects first read after the transaction changed rows hold its writes,
 * which a rollback takes back: the rollback reads their rows again. */
START_TEST(orm_rollback_rereads_objects_read_after_writes)
{
    fixture f;
    setup_db(&f);
    people p;
    seed_people(&f, &p);
    int64_t john = p.john->id, eve = p.eve->id;
    strata_session *s2;
    OK(&f, strata_session_new(&s2, f.db));

    /* Read before any write, or after text that only reads: the
     * rollback has nothing to read again. */
    Post *first;
    OK(&f, strata_get(s2, &post_model, p.s1->id, &first));
    OK(&f, strata_db_exec(f.db, "SELECT 1; -- UPDATE\n"));
    if (th_is_pg()) /* PostgreSQL's own forms of a read */
        OK(&f, strata_db_exec(f.db, "((SELECT 1)); TABLE post"));
    OK(&f, strata_get(s2, &post_model, p.m1->id, &first));
    f.statements = 0;
    OK(&f, strata_session_rollback(s2));
    ck_assert_int_eq(f.statements, 1); /* the ROLLBACK */

    /* A bulk update, then the posts read for the first time; raw SQL,
     * then a user read; a row made by raw SQL, then read. */
    strata_query *q = strata_query_new(s2, &post_model);
    OK(&f, strata_query_filter(q, strata_c("user_id", STRATA_EQ, strata_int(john))));
    int64_t n = -1;
    OK(&f, strata_query_update(q, (strata_assign[]){{"body", strata_text("edited")}}, 1, &n));
    ck_assert_int_eq(n, 2);
    strata_list *l;
    OK(&f, strata_query_order_by(q, "body", STRATA_ASC));
    OK(&f, strata_query_all(q, &l));
    ck_assert_uint_eq(l->count, 2);
    Post *j1 = l->items[0], *j2 = l->items[1];
    ck_assert_str_eq(j1->body, "edited");
    strata_list_free(l);
    strata_query_free(q);
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE \"user\" SET email = 'raw@example.com' WHERE id = %lld",
             (long long)eve);
    OK(&f, strata_db_exec(f.db, sql));
    OK(&f, strata_db_exec(f.db, "INSERT INTO \"user\" (username, email) VALUES ('zed', 'z@x.org')"));
    User *e, *zed;
    OK(&f, strata_get(s2, &user_model, eve, &e));
    ck_assert_str_eq(e->email, "raw@example.com");
    q = strata_query_new(s2, &user_model);
    OK(&f, strata_query_filter(q, strata_c("username", STRATA_EQ, strata_text("zed"))));
    OK(&f, strata_query_first(q, &zed));
    strata_query_free(q);
    int64_t zed_id = zed->id;
    /* A change the program made to one of them goes with the rollback. */
    OK(&f, strata_set_text(&j2->body, "mine"));

    OK(&f, strata_session_rollback(s2));
    ck_assert_int_eq(strata_db_in_transaction(f.db), 0);
    ck_assert_str_eq(j1->body, "j1");
    ck_assert_str_eq(j2->body, "j2");
    ck_assert_str_eq(e->email, "eve@example.com");
    User *again;
    ck_assert_int_eq(strata_get(s2, &user_model, zed_id, &again), STRATA_E_NOT_FOUND);
    /* And nothing is written back at the next commit. */
    f.statements = 0;
    OK(&f, strata_session_commit(s2));
    OK(&f, strata_get(s2, &post_model, j1->id, &first));
    ck_assert_ptr_eq(first, j1);
    ck_assert_str_eq(first->body, "j1");
    OK(&f, strata_session_rollback(s2));

    /* In the program's transaction, which the session joined: the same
     * when the program rolls it back. */
    OK(&f, strata_db_begin(f.db));
    snprintf(sql, sizeof sql, "UPDATE post SET body = 'raw' WHERE id = %lld",
             (long long)p.m1->id);
    OK(&f, strata_db_exec(f.db, sql));
    Post *m1;
    OK(&f, strata_get(s2, &post_model, p.m1->id, &m1));
    ck_assert_str_eq(m1->body, "raw");
    OK(&f, strata_session_commit(s2));
    OK(&f, strata_db_rollback(f.db));
    ck_assert_int_eq(strata_db_in_transaction(f.db), 0);
    ck_assert_str_eq(m1->body, "m1");

    /* A statement let go at its first RETURNING row, whose changed rows
     * were never counted, wrote all the same. */
    OK(&f, strata_db_begin(f.db));
    strata_stmt *ret;
    OK(&f,
       strata_stmt_prepare(&ret, f.db, "UPDATE post SET body = 'ret' WHERE id = ? RETURNING id"));
    OK(&f, strata_stmt_bind_int64(ret, 1, p.m1->id));
    ck_assert_int_eq(strata_stmt_step(ret), STRATA_ROW);
    strata_stmt_finalize(ret);
    OK(&f, strata_get(s2, &post_model, p.m1->id, &m1));
    ck_assert_str_eq(m1->body, "ret");
    OK(&f, strata_session_commit(s2));
    OK(&f, strata_db_rollback(f.db));
    ck_assert_str_eq(m1->body, "m1");

    /* An upsert (whose RETURNING row is all it reads) is a write too. */
    if (!th_reduced()) {
        OK(&f, strata_db_begin(f.db));
        User *up;
        OK(&f, strata_new(f.s, &user_model, &up));
        OK(&f, strata_set_text(&up->username, "mary"));
        OK(&f, strata_set_text(&up->email, "upserted@example.com"));
        User *got;
        OK(&f, strata_upsert(up, "username", &got));
        User *mary;
        OK(&f, strata_get(s2, &user_model, p.mary->id, &mary));
        ck_assert_str_eq(mary->email, "upserted@example.com");
        OK(&f, strata_session_commit(s2));
        OK(&f, strata_db_rollback(f.db));
        ck_assert_str_eq(mary->email, "mary@example.com");
    }
    strata_session_free(s2);
    teardown(&f);
}
END_TEST

/* The rollback's reading again takes no write lock: another writer
 * between the ROLLBACK and that reading does not make it wait (SQLite's
 * BEGIN IMMEDIATE would, busy_timeout long, then fail). */
typedef struct busy_ctx {
    strata_db *other;
    bool armed, taken;
} busy_ctx;

static void take_lock_at_begin(void *ud, const char *line)
{
    busy_ctx *b = ud;
    if (b->armed && !b->taken && strstr(line, "BEGIN")) {
        b->taken = true;
        ck_assert_int_eq(strata_db_exec(b->other, "BEGIN IMMEDIATE"), STRATA_OK);
    }
}

START_TEST(orm_rollback_reread_takes_no_write_lock)
{
    if (th_engine_now() != TH_SQLITE_FILE) {
        /* PostgreSQL's reads take no lock; an in-memory database has one
         * connection: the reading again itself is tested elsewhere. */
        return;
    }
    fixture f;
    setup_db(&f);
    people p;
    seed_people(&f, &p);
    strata_session *s2;
    OK(&f, strata_session_new(&s2, f.db));
    char sql[120];
    snprintf(sql, sizeof sql, "UPDATE post SET body = 'raw' WHERE id = %lld", (long long)p.j1->id);
    Post *j1;
    OK(&f, strata_get(s2, &post_model, p.s1->id, &j1));
    OK(&f, strata_db_exec(f.db, sql));
    OK(&f, strata_get(s2, &post_model, p.j1->id, &j1));
    ck_assert_str_eq(j1->body, "raw");
    busy_ctx b = {th_open(), true, false};
    strata_db_set_echo(f.db, take_lock_at_begin, &b);
    OK(&f, strata_session_rollback(s2));
    ck_assert(b.taken);
    ck_assert_str_eq(j1->body, "j1");
    OK(&f, strata_db_exec(b.other, "ROLLBACK"));
    strata_db_close(b.other);
    strata_db_set_echo(f.db, NULL, NULL);
    strata_session_free(s2);
    teardown(&f);
}
END_TEST

/* The program's transaction, joined by a session, rolled back while the
 * session cannot read its objects again (another connection renamed the
 * table just then): the program's rollback succeeds and leaves no error;
 * the session says what happened at its next use, and a session rollback
 * mends it once the table is back. */
static void rename_at_begin(void *ud, const char *line)
{
    busy_ctx *b = ud;
    if (b->armed && !b->taken && strstr(line, "BEGIN")) {
        b->taken = true;
        ck_assert_int_eq(strata_db_exec(b->other, "ALTER TABLE post RENAME TO post_away"),
                         STRATA_OK);
    }
}

/* In a transaction the program began: post m1's body changed by raw SQL,
 * then read by a new session, which joins at its commit; *s2 gets it. */
static Post *join_after_a_raw_write(fixture *f, const people *p, strata_session **s2)
{
    OK(f, strata_session_new(s2, f->db));
    OK(f, strata_db_begin(f->db));
    char sql[120];
    snprintf(sql, sizeof sql, "UPDATE post SET body = 'raw' WHERE id = %lld",
             (long long)p->m1->id);
    OK(f, strata_db_exec(f->db, sql));
    Post *m1;
    OK(f, strata_get(*s2, &post_model, p->m1->id, &m1));
    ck_assert_str_eq(m1->body, "raw");
    OK(f, strata_session_commit(*s2)); /* joins */
    return m1;
}

START_TEST(orm_joined_rollback_that_cannot_read_again)
{
    if (th_engine_now() == TH_SQLITE_MEMORY)
        return; /* a second connection is another database */
    fixture f;
    setup_db(&f);
    people p;
    seed_people(&f, &p);
    strata_session *s2;
    Post *m1 = join_after_a_raw_write(&f, &p, &s2);
    busy_ctx b = {th_open(), true, false};
    strata_db_set_echo(f.db, rename_at_begin, &b);
    OK(&f, strata_db_rollback(f.db));
    strata_db_set_echo(f.db, NULL, NULL);
    ck_assert(b.taken);
    ck_assert_int_eq(strata_db_errcode(f.db), STRATA_OK);
    Post *again;
    ck_assert_int_eq(strata_get(s2, &post_model, p.j1->id, &again), STRATA_E_TX_ABORTED);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(s2), "could not put its objects back"));
    OK(&f, strata_db_exec(b.other, "ALTER TABLE post_away RENAME TO post"));
    OK(&f, strata_session_rollback(s2));
    ck_assert_str_eq(m1->body, "m1");
    strata_db_close(b.other);
    strata_session_free(s2);
    teardown(&f);
}
END_TEST

/* Closing a handle whose transaction a session joined puts the objects
 * back without reading anything on the handle that is going. */
START_TEST(orm_close_with_a_joined_session_reads_nothing)
{
    fixture f;
    setup_db(&f);
    people p;
    seed_people(&f, &p);
    strata_session *s2;
    join_after_a_raw_write(&f, &p, &s2);
    f.statements = 0;
    strata_db_close(f.db);
    ck_assert_int_le(f.statements, 1); /* the ROLLBACK at most */
    strata_session_free(s2);
    strata_session_free(f.s);
}
END_TEST

/* On a connection the server ended, a rollback puts the objects back and
 * succeeds, as before any reading again (which waits for a rollback on
 * a working connection). */
START_TEST(orm_rollback_after_a_lost_connection)
{
    if (!th_is_pg() || th_via_pooler())
        return; /* only a server can end the connection under the session */
    fixture f;
    setup_db(&f);
    people p;
    seed_people(&f, &p);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE post SET body = 'raw' WHERE id = %lld", (long long)p.j1->id);
    Post *j1;
    OK(&f, strata_get(f.s, &post_model, p.s1->id, &j1));
    OK(&f, strata_db_exec(f.db, sql));
    OK(&f, strata_get(f.s, &post_model, p.j2->id, &j1)); /* read after the write */
    strata_session *s2;
    OK(&f, strata_session_new(&s2, f.db));
    strata_db *other = th_open();
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)",
             (long long)th_int(f.db, "SELECT pg_backend_pid()"));
    ck_assert_int_eq(th_int(other, sql), 1);
    strata_db_close(other);
    ck_assert_int_eq(strata_db_exec(f.db, "SELECT 1"), STRATA_E_CONNECTION_LOST);
    OK(&f, strata_session_rollback(f.s));
    strata_session_free(s2);
    teardown(&f);
}
END_TEST

/* The connection lost while a failed flush is undone (its ROLLBACK TO
 * SAVEPOINT): the flush reports the lost connection, which a unit of work
 * retries on another, with the failure that called for the undo. */
typedef struct undo_killer {
    strata_db *other;
    long long pid;
    bool done;
} undo_killer;

static void kill_at_undo(void *ud, const char *line)
{
    undo_killer *k = ud;
    if (k->done || !strstr(line, "] ROLLBACK TO SAVEPOINT"))
        return;
    k->done = true;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld, 10000)::int", k->pid);
    ck_assert_int_eq(th_int(k->other, sql), 1); /* and gone, before the undo is sent */
}

START_TEST(orm_connection_lost_while_undoing_a_flush)
{
    if (!th_is_pg() || th_via_pooler())
        return; /* only a server can end the connection under the session */
    fixture f;
    setup_db(&f);
    new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    new_user(&f, "susan", "susan@example.com");
    OK(&f, strata_session_flush(f.s));
    new_user(&f, "john", "other@example.com");
    undo_killer k = {th_open(), th_int(f.db, "SELECT pg_backend_pid()"), false};
    strata_db_set_echo(f.db, kill_at_undo, &k);
    int rc = strata_session_flush(f.s);
    strata_db_set_echo(f.db, NULL, NULL);
    ck_assert(k.done);
    ck_assert_msg(rc == STRATA_E_CONNECTION_LOST, "%s: %s", strata_errname(rc),
                  strata_session_errmsg(f.s));
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "lost while undoing it") != NULL, "%s",
                  strata_session_errmsg(f.s));
    ck_assert_int_eq(strata_db_is_broken(f.db), 1);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(th_int(k.other, "SELECT count(*) FROM \"user\""), 1);
    strata_db_close(k.other);
    teardown(&f);
}
END_TEST

START_TEST(orm_bulk_changes_keep_the_session_true)
{
    fixture f;
    setup_db(&f);
    people p;
    seed_people(&f, &p);
    int64_t n;
    /* A delete through the model's own many-to-many: the keys are read
     * first, so the links it goes through are still there to match. */
    strata_query *q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_filter(q, strata_c("author.username", STRATA_NE, strata_text("susan"))));
    OK(&f, strata_query_delete(q, &n));
    ck_assert_int_eq(n, 3);
    strata_query_free(q);
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(q, strata_c("following.username", STRATA_EQ, strata_text("susan"))));
    OK(&f, strata_query_delete(q, &n));
    ck_assert_int_eq(n, 2); /* john and mary */
    strata_query_free(q);
    q = users_where(&f, strata_c("id", STRATA_GT, strata_int(0)));
    query_repr(&f, q, "[<User david>, <User eve>, <User susan>]");
    const strata_list *l;
    OK(&f, strata_related_list(p.susan, "followers", &l));
    ck_assert_uint_eq(l->count, 0);
    /* A rollback after a bulk update: the objects show what was
     * committed, not the update rolled back; a change flushed before it
     * goes too. */
    OK(&f, strata_session_rollback(f.s));
    OK(&f, strata_set_text(&p.david->password_hash, "flushed"));
    OK(&f, strata_session_flush(f.s));
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(q, strata_c("username", STRATA_EQ, strata_text("eve"))));
    OK(&f,
       strata_query_update(q, (strata_assign[]){{"email", strata_text("new@example.com")}}, 1, &n));
    ck_assert_str_eq(p.eve->email, "new@example.com");
    strata_query_free(q);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_str_eq(p.eve->email, "eve@example.com");
    ck_assert_ptr_null(p.david->password_hash);
    OK(&f, strata_set_text(&p.eve->username, "eve2"));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_refresh(p.eve));
    ck_assert_str_eq(p.eve->email, "eve@example.com");
    ck_assert_str_eq(p.eve->username, "eve2");
    /* Nothing matched: nothing read again. */
    q = strata_query_new(f.s, &user_model);
    OK(&f, strata_query_filter(q, strata_c("username", STRATA_EQ, strata_text("nobody"))));
    OK(&f, strata_query_delete(q, &n));
    f.statements = 0;
    OK(&f,
       strata_query_update(q, (strata_assign[]){{"email", strata_text("x@example.com")}}, 1, &n));
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(f.statements, 3); /* SAVEPOINT, the keys, RELEASE */
    strata_query_free(q);

    /* A tree: the database deletes the children with their parent, and
     * the session's objects follow; onupdate runs for a bulk update too;
     * a relationship named like the table is joined under another name. */
    Node *root, *a, *a1, *b;
    const char *names[] = {"root", "a", "a1", "b"};
    Node **nodes[] = {&root, &a, &a1, &b};
    Node *parents[] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < 4; i++) {
        OK(&f, strata_new(f.s, &node_model, nodes[i]));
        OK(&f, strata_set_text(&(*nodes[i])->name, names[i]));
        parents[1] = parents[3] = root;
        parents[2] = a;
        /* Parents first: one flush each, as rows of one table are
         * inserted in one batch. */
        OK(&f, strata_set_related(*nodes[i], "node", parents[i]));
        OK(&f, strata_set_null(*nodes[i], "buddy_id", 1));
        OK(&f, strata_add(*nodes[i]));
        OK(&f, strata_session_flush(f.s));
    }
    OK(&f, strata_session_commit(f.s));
    b->buddy_id = a1->id; /* ON DELETE SET NULL */
    OK(&f, strata_set_null(b, "buddy_id", 0));
    OK(&f, strata_session_commit(f.s));
    q = strata_query_new(f.s, &node_model);
    OK(&f, strata_query_filter(q, strata_c("node.name", STRATA_EQ, strata_text("root"))));
    OK(&f, strata_query_order_by(q, "name", STRATA_ASC));
    query_repr(&f, q, "[<Node a>, <Node b>]");
    q = strata_query_new(f.s, &node_model);
    OK(&f, strata_query_filter(q, strata_c("node.node.name", STRATA_EQ, strata_text("root"))));
    OK(&f, strata_query_update(q, (strata_assign[]){{"name", strata_text("a1b")}}, 1, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(a1->name, "a1b");
    ck_assert_int_eq(a1->touched, 42);
    ck_assert_int_eq(a->touched, 0);
    strata_query_free(q);
    q = strata_query_new(f.s, &node_model);
    OK(&f, strata_query_filter(q, strata_c("name", STRATA_EQ, strata_text("a"))));
    OK(&f, strata_query_delete(q, &n));
    ck_assert_int_eq(n, 1);
    strata_query_free(q);
    Node *gone;
    ck_assert_int_eq(strata_get(f.s, &node_model, a1->id, &gone), STRATA_E_NOT_FOUND);
    ck_assert_int_eq(strata_get(f.s, &node_model, a->id, &gone), STRATA_E_NOT_FOUND);
    OK(&f, strata_get(f.s, &node_model, b->id, &gone));
    ck_assert(strata_is_null(b, "buddy_id")); /* the database set it NULL, b shows it */
    OK(&f, strata_related_list(root, "children", &l));
    assert_repr(l, "[<Node b>]");
    OK(&f, strata_session_rollback(f.s));
    OK(&f, strata_get(f.s, &node_model, a1->id, &gone));
    ck_assert_ptr_eq(gone, a1);
    ck_assert_str_eq(a1->name, "a1");
    /* b shows its committed buddy again, and a change of it is written. */
    ck_assert(!strata_is_null(b, "buddy_id"));
    ck_assert_int_eq(b->buddy_id, a1->id);
    OK(&f, strata_set_null(b, "buddy_id", 1));
    OK(&f, strata_session_commit(f.s));
    q = strata_query_new(f.s, &node_model);
    OK(&f, strata_query_filter(q, strata_c("buddy_id", STRATA_IS_NOT_NULL, strata_null())));
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 0);
    /* A delete matching nothing leaves every object as it was. */
    OK(&f, strata_query_filter(q, strata_c("id", STRATA_EQ, strata_int(-1))));
    OK(&f, strata_query_delete(q, &n));
    ck_assert_int_eq(n, 0);
    strata_query_free(q);
    OK(&f, strata_set_text(&root->name, "kept"));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_get(f.s, &node_model, root->id, &gone));
    ck_assert_ptr_eq(gone, root);
    OK(&f, strata_refresh(root));
    ck_assert_str_eq(root->name, "kept");
    /* Through a joined collection each row counts once. */
    q = strata_query_new(f.s, &node_model);
    OK(&f, strata_query_join(q, "children"));
    OK(&f, strata_query_update(q, (strata_assign[]){{"name", strata_text("parent")}}, 1, &n));
    ck_assert_int_eq(n, 2); /* root (children a, b) and a (child a1) */
    strata_query_free(q);
    teardown(&f);
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
/* A session's objects live in its arena: under AddressSanitizer an object
 * read after its session was freed is still reported (the run ends with
 * the sanitizer's exit code 1), as it would be with one malloc each. */
START_TEST(orm_arena_use_after_free_is_caught)
{
    fixture f;
    setup_db(&f);
    User *u = new_user(&f, "ghost", "ghost@example.com");
    OK(&f, strata_session_commit(f.s));
    strata_session_free(f.s);
    f.s = NULL;
    volatile int64_t id = u->id; /* the session's arena is gone */
    ck_abort_msg("reading an object of a freed session was not caught (id %lld)", (long long)id);
}
END_TEST
#endif

START_TEST(orm_table_args_errors)
{
    static const strata_table_arg bad_cols[] = {STRATA_UNIQUE_CONSTRAINT(NULL, "user_id, nope"),
                                                STRATA_TABLE_ARGS_END};
    static const strata_table_arg no_name[] = {STRATA_CHECK_CONSTRAINT(NULL, "stars > 0"),
                                               STRATA_TABLE_ARGS_END};
    static const strata_table_arg mixed[] = {{STRATA_ARG_UNIQUE, "u", "url", "url > ''"},
                                             STRATA_TABLE_ARGS_END};
    static const strata_table_arg no_where[] = {STRATA_PARTIAL_INDEX("p", "url", ""),
                                                STRATA_TABLE_ARGS_END};
    const struct {
        const strata_table_arg *args;
        const char *want;
    } cases[] = {
        {bad_cols, "model Bookmark, table_args[0]: "},
        {no_name, "needs a name and an expression"},
        {mixed, "model Bookmark, table_args[0] (u): a check takes sql"},
        {no_where, "needs a condition"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        strata_model m = bookmark_model;
        m.table_args = cases[i].args;
        strata_metadata *md;
        ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
        const strata_model *list[] = {&user_model, &m, NULL};
        ck_assert_int_eq(strata_metadata_add_models(md, list), STRATA_E_SCHEMA);
        ck_assert_msg(strstr(strata_metadata_errmsg(md), cases[i].want), "case %zu: %s", i,
                      strata_metadata_errmsg(md));
        strata_metadata_free(md);
    }
    /* A model of version 1 has no table_args: they are not read. */
    strata_model old = bookmark_model;
    old.version = 1;
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    const strata_model *list[] = {&user_model, &old, NULL};
    ck_assert_int_eq(strata_metadata_add_models(md, list), STRATA_OK);
    char *text;
    ck_assert_int_eq(strata_metadata_describe(md, &text), STRATA_OK);
    ck_assert_ptr_null(strstr(text, "uq_bookmark_user_url"));
    strata_free(text);
    strata_metadata_free(md);
}
END_TEST

/* The identity map with keys in every pattern that makes hash tables
 * slow or wrong: in order (neighbouring slots), a table's size apart
 * (the same first slot), powers of two apart, above 2^32, negative; then
 * some deleted (removed slots) and the map grown past them.  Every key is
 * found as the object loaded (without SQL inside the transaction). */
START_TEST(orm_identity_map_key_patterns)
{
    fixture f;
    setup_db(&f);
    new_user(&f, "owner", "owner@example.com");
    OK(&f, strata_session_commit(f.s));
    enum { N = 1200 };
    static int64_t ids[N];
    bool pg = th_is_pg();
    for (int i = 0; i < N; i++) {
        int64_t k = i / 200, j = i % 200 + 1;
        ids[i] = k == 0   ? j                              /* in order */
                 : k == 1 ? j * 65536                      /* a table's size apart */
                 : k == 2 ? ((int64_t)1 << (8 + j % 22)) + 7 + (j >= 22 ? j : 0) /* powers of two */
                 : k == 3 ? ((int64_t)1 << (pg ? 30 : 32)) + j * 4096 /* 2^32 up (post.id is
                                                                           32 bits on PostgreSQL) */
                 : k == 4 ? -j * 1024                      /* negative */
                          : 1000000 + j * 262144 + (j & 1); /* wide and odd */
    }
    char sql[160];
    for (int i = 0; i < N; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO post (id, body, timestamp, user_id) VALUES (%lld, 'p', "
                 "'2024-01-01 00:00:00', 1)",
                 (long long)ids[i]);
        th_exec(f.db, sql);
    }
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    strata_list *l;
    strata_query *q = strata_query_new(f.s, &post_model);
    OK(&f, strata_query_all(q, &l));
    strata_query_free(q);
    ck_assert_uint_eq(l->count, N);
    int before = f.statements;
    for (int i = 0; i < N; i++) {
        Post *p;
        OK(&f, strata_get(f.s, &post_model, ids[i], &p));
        ck_assert_int_eq(p->id, ids[i]);
        bool listed = false;
        for (size_t k = 0; k < l->count && !listed; k++)
            listed = l->items[k] == p;
        ck_assert_msg(listed, "post %lld is not the object loaded", (long long)ids[i]);
    }
    ck_assert_int_eq(f.statements, before);
    /* Every third one deleted: the others still found, the deleted not. */
    for (int i = 0; i < N; i += 3)
        OK(&f, strata_delete(l->items[i]));
    OK(&f, strata_session_commit(f.s));
    static int64_t kept[N];
    static Post *kept_obj[N];
    int nkept = 0;
    for (int i = 0; i < N; i++) {
        const Post *p = l->items[i];
        Post *got = NULL;
        int rc = strata_get(f.s, &post_model, p->id, &got);
        if (i % 3 == 0) {
            ck_assert_int_eq(rc, STRATA_E_NOT_FOUND);
        } else {
            ck_assert_msg(rc == STRATA_OK && got == p, "post %lld", (long long)p->id);
            kept_obj[nkept] = got;
            kept[nkept++] = p->id;
        }
    }
    strata_list_free(l);
    /* New rows after the removals: the map grows past its removed slots. */
    User *owner;
    OK(&f, strata_get(f.s, &user_model, 1, &owner));
    for (int i = 0; i < 3000; i++)
        new_post(&f, "more", owner)->id = 3000000 + i;
    OK(&f, strata_session_commit(f.s));
    /* (Read again from the database, in the new transaction: the same
     * objects.) */
    for (int i = 0; i < nkept; i++) {
        Post *p;
        OK(&f, strata_get(f.s, &post_model, kept[i], &p));
        ck_assert_msg(p == kept_obj[i], "post %lld", (long long)kept[i]);
    }
    for (int i = 0; i < 3000; i += 7) {
        Post *p;
        OK(&f, strata_get(f.s, &post_model, 3000000 + i, &p));
        ck_assert_str_eq(p->body, "more");
    }
    teardown(&f);
}
END_TEST

/* A get of the key the program gave a loaded object in memory finds that
 * object once the change is flushed, and the old key finds nothing: with
 * a new object pending, the get flushes first; with nothing else to
 * write, a get compares no loaded object (a loop of gets stays cheap),
 * and the program's flush writes the change. */
START_TEST(orm_get_of_a_key_changed_in_memory)
{
    fixture f;
    setup_db(&f);
    User *u = new_user(&f, "john", "john@example.com");
    for (int pending = 0; pending < 2; pending++) {
        int64_t was = 5 + pending, now = pending ? 600 : 60; /* above what a new row gets */
        Post *p = new_post(&f, "moved", u);
        p->id = was;
        OK(&f, strata_session_commit(f.s));
        p->id = now; /* in memory only */
        Post *got = NULL;
        if (pending) {
            new_post(&f, "pending", u);
        } else {
            ck_assert_int_eq(strata_get(f.s, &post_model, now, &got), STRATA_E_NOT_FOUND);
            OK(&f, strata_session_flush(f.s));
        }
        OK(&f, strata_get(f.s, &post_model, now, &got));
        ck_assert_ptr_eq(got, p);
        ck_assert_int_eq(strata_get(f.s, &post_model, was, &got), STRATA_E_NOT_FOUND);
        ck_assert_ptr_null(got);
        char sql[96];
        snprintf(sql, sizeof sql, "%lld", (long long)was);
        ck_assert_ptr_nonnull(strstr(strata_db_errmsg(f.db), sql));
        OK(&f, strata_session_commit(f.s));
        snprintf(sql, sizeof sql, "SELECT count(*) FROM post WHERE id = %lld AND body = 'moved'",
                 (long long)now);
        ck_assert_int_eq(th_int(f.db, sql), 1);
    }
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post WHERE id IN (5, 6)"), 0);
    teardown(&f);
}
END_TEST

/* A get reads the row of its key straight into a new object, but the row
 * of `WHERE id = ?` may have another key: PostgreSQL compares an integer
 * with a floating-point column as a float, so that 2^53 + 1 finds the row
 * of 2^53.  The row is then the object the session holds for its own
 * key, never a second one.  SQLite compares them exactly where its long
 * double is wider than a double (not under valgrind, which computes
 * long doubles as doubles): the other key finds nothing or the same. */
typedef struct Measure {
    strata_object base;
    int64_t id;
    char *name;
} Measure;
static const strata_field measure_fields[] = {
    STRATA_BIG_PK(Measure, id), STRATA_STRING(Measure, name, 20, 0), STRATA_FIELDS_END};
static const strata_model measure_model = {STRATA_MODEL_VERSION, "Measure",
                                           .size = sizeof(Measure), .fields = measure_fields};

START_TEST(orm_get_of_a_row_with_another_key_is_its_object)
{
    fixture f;
    setup_db(&f);
    const int64_t big = INT64_C(9007199254740992); /* 2^53 */
    th_exec(f.db, th_is_pg() ? "CREATE TABLE measure (id double precision PRIMARY KEY, "
                               "name varchar(20) NOT NULL)"
                             : "CREATE TABLE measure (id REAL PRIMARY KEY, name varchar(20) NOT NULL)");
    th_exec(f.db, "INSERT INTO measure VALUES (9007199254740992, 'a')");
    OK(&f, strata_session_commit(f.s));
    for (int first_other = 0; first_other < 2; first_other++) {
        strata_session_free(f.s);
        OK(&f, strata_session_new(&f.s, f.db));
        /* First the row's own key, then the other; or the other first. */
        int64_t keys[2] = {first_other ? big + 1 : big, first_other ? big : big + 1};
        Measure *got[2] = {NULL, NULL}, *held = NULL;
        for (int i = 0; i < 2; i++) {
            int rc = strata_get(f.s, &measure_model, keys[i], &got[i]);
            if (keys[i] == big || th_is_pg())
                ck_assert_msg(rc == STRATA_OK, "get %lld: %s", (long long)keys[i],
                              strata_session_errmsg(f.s));
            else
                ck_assert_msg(rc == STRATA_OK || rc == STRATA_E_NOT_FOUND, "get %lld: %s",
                              (long long)keys[i], strata_session_errmsg(f.s));
            if (got[i] && held)
                ck_assert_msg(got[i] == held, "two objects for the row of key %lld",
                              (long long)big);
            if (got[i])
                held = got[i];
        }
        ck_assert_ptr_nonnull(held);
        ck_assert_int_eq(held->id, big);
        OK(&f, strata_set_text(&held->name, "b"));
        OK(&f, strata_session_commit(f.s));
        ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM measure WHERE name = 'b'"), 1);
        th_exec(f.db, "UPDATE measure SET name = 'a'");
    }
    /* The object marked deleted (not flushed yet) is found by neither
     * key: the other key does not bring it back. */
    Measure *m = NULL, *again = NULL;
    OK(&f, strata_get(f.s, &measure_model, big, &m));
    OK(&f, strata_delete(m));
    ck_assert_int_eq(strata_get(f.s, &measure_model, big, &again), STRATA_E_NOT_FOUND);
    ck_assert_int_eq(strata_get(f.s, &measure_model, big + 1, &again), STRATA_E_NOT_FOUND);
    ck_assert_ptr_null(again);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM measure"), 0);
    teardown(&f);
}
END_TEST

/* A row whose key is not its first column: a query reads the key first
 * (for the identity map) and the other columns around it, each into its
 * own field, NULLs too; a change to one is the one column written.  A
 * value assigned to an integer or a timestamp read as NULL is written. */
typedef struct Keyed {
    strata_object base;
    char *label;
    int64_t n;
    strata_timestamp at;
    int64_t id;
} Keyed;
static const strata_field keyed_fields[2][5] = {
    {STRATA_STRING(Keyed, label, 20, STRATA_NULLABLE), STRATA_PK(Keyed, id),
     STRATA_INTEGER(Keyed, n, STRATA_NULLABLE), STRATA_DATETIME(Keyed, at, STRATA_NULLABLE),
     STRATA_FIELDS_END},
    {STRATA_STRING(Keyed, label, 20, STRATA_NULLABLE), STRATA_INTEGER(Keyed, n, STRATA_NULLABLE),
     STRATA_DATETIME(Keyed, at, STRATA_NULLABLE), STRATA_PK(Keyed, id), STRATA_FIELDS_END},
};
static const strata_model keyed_models[2] = {
    {STRATA_MODEL_VERSION, "Keyed", .size = sizeof(Keyed), .fields = keyed_fields[0]},
    {STRATA_MODEL_VERSION, "Keyed", .size = sizeof(Keyed), .fields = keyed_fields[1]},
};

START_TEST(orm_a_key_in_the_middle_or_last_loads_every_field)
{
    fixture f;
    setup_db(&f);
    th_exec(f.db, "CREATE TABLE keyed (id integer PRIMARY KEY, label varchar(20), n bigint, "
                  "at timestamp)");
    th_exec(f.db, "INSERT INTO keyed (id, label, n, at) VALUES "
                  "(1, 'one', 10, '2024-05-06 07:08:09.5'), (2, NULL, NULL, NULL), "
                  "(3, 'three', -3, '1999-12-31 23:59:59')");
    OK(&f, strata_session_commit(f.s));
    strata_timestamp t1, t3;
    ck_assert_int_eq(strata_timestamp_parse(&t1, "2024-05-06 07:08:09.5", 21), STRATA_OK);
    ck_assert_int_eq(strata_timestamp_parse(&t3, "1999-12-31 23:59:59", 19), STRATA_OK);
    for (int m = 0; m < 2; m++) {
        strata_session_free(f.s);
        OK(&f, strata_session_new(&f.s, f.db));
        strata_query *q = strata_query_new(f.s, &keyed_models[m]);
        strata_query_order_by(q, "id", STRATA_ASC);
        strata_list *rows = NULL;
        OK(&f, strata_query_all(q, &rows));
        strata_query_free(q);
        ck_assert_int_eq(rows->count, 3);
        const Keyed *k1 = rows->items[0], *k2 = rows->items[1], *k3 = rows->items[2];
        ck_assert_int_eq(k1->id, 1);
        ck_assert_str_eq(k1->label, "one");
        ck_assert_int_eq(k1->n, 10);
        ck_assert_int_eq(k1->at, t1);
        ck_assert_int_eq(k2->id, 2);
        ck_assert_ptr_null(k2->label);
        ck_assert(strata_is_null((void *)k2, "n") && strata_is_null((void *)k2, "at"));
        ck_assert_int_eq(k3->id, 3);
        ck_assert_str_eq(k3->label, "three");
        ck_assert_int_eq(k3->n, -3);
        ck_assert_int_eq(k3->at, t3);
        /* The identity map holds them by their keys. */
        Keyed *got = NULL;
        OK(&f, strata_get(f.s, &keyed_models[m], 3, &got));
        ck_assert_ptr_eq(got, k3);
        got->n = 30 + m;
        /* Another column changed behind the session's back stays: the
         * flush writes the column the program changed, no other. */
        th_exec(f.db, "UPDATE keyed SET label = 'other' WHERE id = 3");
        OK(&f, strata_session_commit(f.s));
        ck_assert_int_eq(th_int(f.db, "SELECT n FROM keyed WHERE id = 3"), 30 + m);
        ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM keyed WHERE label = 'other'"), 1);
        th_exec(f.db, "UPDATE keyed SET label = 'three', n = -3 WHERE id = 3");
        /* Values assigned to fields read as NULL are written; NULL set
         * again holds zero and is written as NULL. */
        Keyed *k = rows->items[1];
        k->n = 7;
        k->at = t3;
        ck_assert(!strata_is_null(k, "n") && !strata_is_null(k, "at"));
        OK(&f, strata_session_commit(f.s));
        ck_assert_int_eq(th_int(f.db, "SELECT n FROM keyed WHERE id = 2"), 7);
        ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM keyed WHERE id = 2 AND at IS NULL"), 0);
        /* Not NULL any more: a zero assigned now is a zero. */
        k->n = 0;
        ck_assert(!strata_is_null(k, "n"));
        OK(&f, strata_session_commit(f.s));
        ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM keyed WHERE id = 2 AND n = 0"), 1);
        OK(&f, strata_set_null(k, "n", 1));
        OK(&f, strata_set_null(k, "at", 1));
        ck_assert_int_eq(k->n, 0);
        OK(&f, strata_session_commit(f.s));
        ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM keyed WHERE id = 2 AND n IS NULL AND "
                                      "at IS NULL"),
                         1);
        strata_list_free(rows);
    }
    teardown(&f);
}
END_TEST

/* The same with a text key that compares without case on SQLite: the
 * key asked for finds the row of another, whose object was deleted. */
typedef struct Badge {
    strata_object base;
    char *code;
    char *name;
} Badge;
static const strata_field badge_fields[] = {STRATA_STRING(Badge, code, 10, STRATA_PRIMARY_KEY),
                                            STRATA_STRING(Badge, name, 20, 0), STRATA_FIELDS_END};
static const strata_model badge_model = {STRATA_MODEL_VERSION, "Badge", .size = sizeof(Badge),
                                         .fields = badge_fields};

START_TEST(orm_get_by_a_key_that_compares_equal_finds_no_deleted_object)
{
    fixture f;
    setup_db(&f);
    th_exec(f.db, th_is_pg() ? "CREATE TABLE badge (code varchar(10) PRIMARY KEY, name varchar(20))"
                             : "CREATE TABLE badge (code varchar(10) COLLATE NOCASE PRIMARY KEY, "
                               "name varchar(20))");
    th_exec(f.db, "INSERT INTO badge VALUES ('A', 'gold')");
    OK(&f, strata_session_commit(f.s));
    Badge *b = NULL, *again = NULL;
    strata_value upper = strata_text("A"), lower = strata_text("a");
    OK(&f, strata_get_key(f.s, &badge_model, &upper, 1, &b));
    if (!th_is_pg()) { /* the other key finds the held object */
        OK(&f, strata_get_key(f.s, &badge_model, &lower, 1, &again));
        ck_assert_ptr_eq(again, b);
    }
    OK(&f, strata_delete(b));
    ck_assert_int_eq(strata_get_key(f.s, &badge_model, &upper, 1, &again), STRATA_E_NOT_FOUND);
    ck_assert_int_eq(strata_get_key(f.s, &badge_model, &lower, 1, &again), STRATA_E_NOT_FOUND);
    ck_assert_ptr_null(again);
    ck_assert_str_eq(strata_session_errmsg(f.s), "no Badge with the key asked for");
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM badge"), 0);
    teardown(&f);
}
END_TEST

/* A row whose field will not convert: the get and the query name the
 * field and say why, in the getter's words. */
typedef struct Tally {
    strata_object base;
    int64_t id;
    char *label;
    int64_t n;
} Tally;
static const strata_field tally_fields[] = {STRATA_PK(Tally, id), STRATA_STRING(Tally, label, 10, 0),
                                            STRATA_INTEGER(Tally, n, 0), STRATA_FIELDS_END};
static const strata_model tally_model = {STRATA_MODEL_VERSION, "Tally", .size = sizeof(Tally),
                                         .fields = tally_fields};

START_TEST(orm_field_that_will_not_convert_is_named)
{
    fixture f;
    setup_db(&f);
    th_exec(f.db, th_is_pg() ? "CREATE TABLE tally (id bigint PRIMARY KEY, label varchar(10), n text)"
                             : "CREATE TABLE tally (id INTEGER PRIMARY KEY, label varchar(10), "
                               "n INTEGER)");
    th_exec(f.db, "INSERT INTO tally VALUES (1, 'a', 'many')");
    OK(&f, strata_session_commit(f.s));
    Tally *t = NULL;
    size_t held = f.s->nobjs;
    ck_assert_int_eq(strata_get(f.s, &tally_model, 1, &t), STRATA_E_TYPE);
    ck_assert_ptr_null(t);
    const char *want = "reading Tally.n: column 2 (n): a text value is not an integer";
    ck_assert_str_eq(strata_session_errmsg(f.s), want);
    strata_query *q = strata_query_new(f.s, &tally_model);
    strata_list *all = NULL;
    ck_assert_int_eq(strata_query_all(q, &all), STRATA_E_TYPE);
    ck_assert_str_eq(strata_session_errmsg(f.s), want);
    strata_iter *it; /* streamed */
    OK(&f, strata_query_iter(q, &it));
    ck_assert_int_eq(strata_iter_next(it, &t), STRATA_E_TYPE);
    ck_assert_str_eq(strata_session_errmsg(f.s), want);
    strata_iter_free(it);
    strata_query_free(q);
    /* The objects those reads began are not kept: a long session that
     * meets such rows does not pile them up, nor their memory (which
     * valgrind's tracking of the arena's blocks keeps). */
    ck_assert_uint_eq(f.s->nobjs, held);
    size_t used = f.s->chunks->used;
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(strata_get(f.s, &tally_model, 1, &t), STRATA_E_TYPE);
    if (!th_under_valgrind())
        ck_assert_uint_eq(f.s->chunks->used, used);
    OK(&f, strata_session_rollback(f.s));
    th_exec(f.db, "UPDATE tally SET n = '7'");
    OK(&f, strata_get(f.s, &tally_model, 1, &t));
    ck_assert_int_eq(t->n, 7);
    /* The same for the row of an object held from an earlier
     * transaction, read again (by a query, by a get, by strata_refresh):
     * the object keeps what it had, and a change it has not flushed (made
     * after the query, whose flush would write it). */
    OK(&f, strata_session_commit(f.s));
    th_exec(f.db, "UPDATE tally SET n = 'many', label = 'db'");
    q = strata_query_new(f.s, &tally_model);
    ck_assert_int_eq(strata_query_all(q, &all), STRATA_E_TYPE);
    ck_assert_str_eq(strata_session_errmsg(f.s), want);
    strata_query_free(q);
    ck_assert(t->n == 7 && !strcmp(t->label, "a"));
    OK(&f, strata_set_text(&t->label, "mine"));
    Tally *again = NULL;
    ck_assert_int_eq(strata_get(f.s, &tally_model, 1, &again), STRATA_E_TYPE);
    ck_assert_ptr_null(again);
    ck_assert_str_eq(strata_session_errmsg(f.s), want);
    ck_assert(t->n == 7 && !strcmp(t->label, "mine"));
    ck_assert_int_eq(strata_refresh(t), STRATA_E_TYPE);
    ck_assert_str_eq(strata_session_errmsg(f.s), want);
    ck_assert(t->n == 7 && !strcmp(t->label, "mine"));
    OK(&f, strata_session_rollback(f.s));
    /* A row that is not there is said to be missing, by its key. */
    th_exec(f.db, "DELETE FROM tally");
    ck_assert_int_eq(strata_refresh(t), STRATA_E_NOT_FOUND);
    ck_assert_str_eq(strata_session_errmsg(f.s), "no Tally with the key 1");
    ck_assert_int_eq(strata_get(f.s, &tally_model, 99, &again), STRATA_E_NOT_FOUND);
    ck_assert_str_eq(strata_session_errmsg(f.s), "no Tally with the key 99");
    strata_value k = strata_int(98);
    ck_assert_int_eq(strata_get_key(f.s, &tally_model, &k, 1, &again), STRATA_E_NOT_FOUND);
    ck_assert_str_eq(strata_session_errmsg(f.s), "no Tally with the key 98");
    ck_assert_int_eq(strata_get_for_update(f.s, &tally_model, 97, 0, &again), STRATA_E_NOT_FOUND);
    ck_assert_str_eq(strata_session_errmsg(f.s), "no Tally with the key 97");
    /* A get whose flush fails with the same code (a change to a row
     * deleted behind the session's back) says what the flush said. */
    OK(&f, strata_session_rollback(f.s));
    th_exec(f.db, "INSERT INTO tally VALUES (5, 'e', '5')");
    Tally *five = NULL, *six = NULL;
    OK(&f, strata_get(f.s, &tally_model, 5, &five));
    five->n = 6;
    th_exec(f.db, "DELETE FROM tally WHERE id = 5");
    OK(&f, strata_new(f.s, &tally_model, &six));
    six->id = 6;
    OK(&f, strata_set_text(&six->label, "f"));
    OK(&f, strata_add(six));
    ck_assert_int_eq(strata_get(f.s, &tally_model, 6, &again), STRATA_E_NOT_FOUND);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "no row has this key any more"), "%s",
                  strata_session_errmsg(f.s));
    OK(&f, strata_session_rollback(f.s));
    /* A query one of whose building calls failed fails when it runs with
     * that call's message, whatever ran between. */
    q = strata_query_new(f.s, &tally_model);
    const char *empty = "Tally query: an empty item in 'id, ,n'";
    ck_assert_int_eq(strata_query_columns(q, "id, ,n"), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s), empty);
    ck_assert_int_eq(strata_get(f.s, &tally_model, 96, &again), STRATA_E_NOT_FOUND);
    strata_rows *rows = NULL;
    ck_assert_int_eq(strata_query_rows(q, &rows), STRATA_E_MISUSE);
    ck_assert_ptr_null(rows);
    ck_assert_str_eq(strata_session_errmsg(f.s), empty);
    ck_assert_int_eq(strata_query_filter(q, NULL), STRATA_E_MISUSE); /* the first failure stands */
    ck_assert_str_eq(strata_session_errmsg(f.s), "Tally query: a NULL condition");
    ck_assert_int_eq(strata_query_all(q, &all), STRATA_E_MISUSE);
    ck_assert_str_eq(strata_session_errmsg(f.s), empty);
    strata_query_free(q);
    teardown(&f);
}
END_TEST

/* A connection resolves a model once for all its sessions, and again
 * when the descriptor changed (here a field renamed at run time). */
typedef struct Note {
    strata_object base;
    int64_t id;
    char *text;
} Note;

START_TEST(orm_models_resolved_again_when_changed)
{
    fixture f;
    setup_db(&f);
    th_exec(f.db, th_is_pg() ? "CREATE TABLE note (id SERIAL PRIMARY KEY, a VARCHAR(20), b VARCHAR(20))"
                             : "CREATE TABLE note (id INTEGER PRIMARY KEY, a VARCHAR(20), b VARCHAR(20))");
    static strata_field fields[] = {STRATA_PK(Note, id), STRATA_STRING(Note, text, 20, 0),
                                    STRATA_FIELDS_END};
    static const strata_model note_model = {STRATA_MODEL_VERSION, "Note", .size = sizeof(Note),
                                            .fields = fields};
    const char *names[] = {"a", "b", "a"};
    for (int round = 0; round < 3; round++) {
        fields[1].name = names[round];
        strata_session_free(f.s);
        OK(&f, strata_session_new(&f.s, f.db));
        Note *n;
        OK(&f, strata_new(f.s, &note_model, &n));
        OK(&f, strata_set_text(&n->text, names[round]));
        OK(&f, strata_add(n));
        OK(&f, strata_session_commit(f.s));
        Note *back;
        OK(&f, strata_get(f.s, &note_model, n->id, &back));
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM note WHERE id = %lld AND %s = '%s'",
                 (long long)n->id, names[round], names[round]);
        ck_assert_int_eq(th_int(f.db, sql), 1);
    }
    fields[1].name = "text";
    teardown(&f);
}
END_TEST

/* ---- the driver's row_values and row_cells slots ------------------------ */

/* A copy of the engine under test, registered under another scheme, whose
 * row_values and row_cells slots each case below changes: missing,
 * present in a driver of a version before them (which must not be called),
 * spied on, or failing. */
static strata_driver rowv_copies[TH_ENGINES];
static const strata_driver *rowv_real;
static bool rowv_called, rowc_called;

static int rowv_spy(strata_backend_stmt *st, int col0, int n, strata_value *out)
{
    rowv_called = true;
    return rowv_real->row_values(st, col0, n, out);
}

static int rowv_fail(strata_backend_stmt *st, int col0, int n, strata_value *out)
{
    (void)col0, (void)n, (void)out;
    return strata_driver_error(st->conn->db, STRATA_E_NOMEM, "53200", 0, "no memory for a row");
}

/* Fails past the key: the columns read after it. */
static int rowv_fail_rest(strata_backend_stmt *st, int col0, int n, strata_value *out)
{
    return n > 1 ? rowv_fail(st, col0, n, out) : rowv_real->row_values(st, col0, n, out);
}

/* The engine's own row_cells, or for an engine without one, the cells
 * made from its row_values as the core makes them. */
static int rowc_real(strata_backend_stmt *st, int col0, int n, const unsigned char *want,
                     strata_cell *out)
{
    if (rowv_real->row_cells)
        return rowv_real->row_cells(st, col0, n, want, out);
    strata_value v[64];
    ck_assert_int_le(n, 64);
    int rc = rowv_real->row_values(st, col0, n, v);
    for (int i = 0; i < n && rc == STRATA_OK; i++)
        strata__value_to_cell(want[i], &v[i], &out[i]);
    return rc;
}

static int rowc_spy(strata_backend_stmt *st, int col0, int n, const unsigned char *want,
                    strata_cell *out)
{
    rowc_called = true;
    return rowc_real(st, col0, n, want, out);
}

static int rowc_fail(strata_backend_stmt *st, int col0, int n, const unsigned char *want,
                     strata_cell *out)
{
    (void)col0, (void)n, (void)want, (void)out;
    return strata_driver_error(st->conn->db, STRATA_E_NOMEM, "53200", 0, "no memory for a row");
}

static int rowc_fail_rest(strata_backend_stmt *st, int col0, int n, const unsigned char *want,
                          strata_cell *out)
{
    return n > 1 ? rowc_fail(st, col0, n, want, out) : rowc_real(st, col0, n, want, out);
}

/* Reading fails as the driver said, and the session goes on; `rest`
 * fails past the key, `spy` then reads again.  A get of a key the session
 * does not hold reads the row whole; a query reads each row's key first. */
static void rows_fail_as_said(fixture *f, void (*rest)(th_engine), void (*spy)(th_engine))
{
    th_engine k = th_engine_now();
    Gadget *h;
    ck_assert_int_eq(strata_get(f->s, &gadget_model, 1, &h), STRATA_E_NOMEM);
    ck_assert_str_eq(strata_session_errmsg(f->s), "reading a Gadget: no memory for a row");
    strata_query *q = strata_query_new(f->s, &gadget_model);
    strata_list *all = NULL;
    ck_assert_int_eq(strata_query_all(q, &all), STRATA_E_NOMEM);
    ck_assert_ptr_null(all);
    ck_assert_str_eq(strata_session_errmsg(f->s), "reading Gadget's key: no memory for a row");
    strata_iter *it;
    OK(f, strata_query_iter(q, &it));
    ck_assert_int_eq(strata_iter_next(it, &h), STRATA_E_NOMEM);
    ck_assert_str_eq(strata_session_errmsg(f->s), "reading a Gadget: no memory for a row");
    strata_iter_free(it);
    strata_query_free(q);
    rest(k);
    ck_assert_int_eq(strata_get(f->s, &gadget_model, 1, &h), STRATA_E_NOMEM);
    ck_assert_str_eq(strata_session_errmsg(f->s), "reading a Gadget: no memory for a row");
    q = strata_query_new(f->s, &gadget_model); /* the key read, the rest of the row not */
    ck_assert_int_eq(strata_query_all(q, &all), STRATA_E_NOMEM);
    ck_assert_ptr_null(all);
    ck_assert_str_eq(strata_session_errmsg(f->s), "reading a Gadget: no memory for a row");
    strata_query_free(q);
    spy(k);
    OK(f, strata_get(f->s, &gadget_model, 1, &h));
    ck_assert(h->active && h->weight == 2.5 && h->data.len == 4);
}

static void rowv_set_fail_rest(th_engine k) { rowv_copies[k].row_values = rowv_fail_rest; }
static void rowv_set_spy(th_engine k) { rowv_copies[k].row_values = rowv_spy; }
static void rowc_set_fail_rest(th_engine k) { rowv_copies[k].row_cells = rowc_fail_rest; }
static void rowc_set_spy(th_engine k) { rowv_copies[k].row_cells = rowc_spy; }

/* Fields read from columns of other types, each converted: decimal text
 * from a NUMERIC, a float from an INTEGER, an integer from a BOOLEAN, text
 * from a TIMESTAMP, a timestamp from TEXT, a boolean from an INTEGER. */
typedef struct Mixed {
    strata_object base;
    int64_t id;
    char *amount;
    double count;
    int64_t flag;
    char *stamp;
    strata_timestamp at;
    bool small;
} Mixed;
static const strata_field mixed_fields[] = {
    STRATA_PK(Mixed, id),
    STRATA_NUMERIC(Mixed, amount, 10, 2, STRATA_NULLABLE),
    STRATA_FLOAT(Mixed, count, STRATA_NULLABLE),
    STRATA_INTEGER(Mixed, flag, STRATA_NULLABLE),
    STRATA_TEXT(Mixed, stamp, STRATA_NULLABLE),
    STRATA_DATETIME(Mixed, at, STRATA_NULLABLE),
    STRATA_BOOLEAN(Mixed, small, STRATA_NULLABLE),
    STRATA_FIELDS_END};
static const strata_model mixed_model = {STRATA_MODEL_VERSION, "Mixed", .size = sizeof(Mixed),
                                       .fields = mixed_fields};

static void mixed_rows(strata_db *db)
{
    th_exec(db, "DROP TABLE IF EXISTS mixed");
    th_exec(db, "CREATE TABLE mixed (id INTEGER PRIMARY KEY, amount NUMERIC(10,2), count INTEGER, "
                "flag BOOLEAN, stamp TIMESTAMP, at TEXT, small INTEGER)");
    th_exec(db, "INSERT INTO mixed VALUES (1, 12.3, 7, TRUE, '2020-01-02 03:04:05.25', "
                "'2021-02-03 04:05:06', 1), (2, NULL, NULL, NULL, NULL, NULL, NULL)");
}

/* Every gadget, user and post as loaded by a new session, as text. */
static void describe_loaded(fixture *f, char *out, size_t cap)
{
    size_t n = 0;
    strata_list *l;
    strata_query *q = strata_query_new(f->s, &gadget_model);
    strata_query_order_by(q, "id", STRATA_ASC);
    OK(f, strata_query_all(q, &l));
    strata_query_free(q);
    for (size_t i = 0; i < l->count; i++) {
        Gadget *g = l->items[i];
        n += (size_t)snprintf(out + n, cap - n, "g%lld %d %g %s%zu:", (long long)g->id, g->active,
                              g->weight, strata_is_null(g, "data") ? "null " : "", g->data.len);
        for (size_t b = 0; b < g->data.len; b++)
            n += (size_t)snprintf(out + n, cap - n, "%02x", ((unsigned char *)g->data.data)[b]);
        n += (size_t)snprintf(out + n, cap - n, " %s%lld %s%lld|",
                              strata_is_null(g, "count") ? "null " : "", (long long)g->count,
                              strata_is_null(g, "seen") ? "null " : "", (long long)g->seen);
    }
    strata_list_free(l);
    q = strata_query_new(f->s, &post_model);
    strata_query_load(q, "author");
    OK(f, strata_query_all(q, &l));
    strata_query_free(q);
    for (size_t i = 0; i < l->count; i++) {
        Post *p = l->items[i];
        User *u;
        OK(f, strata_related(p, "author", &u));
        n += (size_t)snprintf(out + n, cap - n, "p%lld %s %lld by %s %s %s|", (long long)p->id,
                              p->body, (long long)p->timestamp, u->username, u->email,
                              u->password_hash ? u->password_hash : "null");
    }
    strata_list_free(l);
    for (int64_t id = 1; id <= 2; id++) {
        Mixed *o;
        OK(f, strata_get(f->s, &mixed_model, id, &o));
        n += (size_t)snprintf(out + n, cap - n, "o%lld %s %g %lld %s %lld %d|", (long long)o->id,
                              o->amount ? o->amount : "null", o->count, (long long)o->flag,
                              o->stamp ? o->stamp : "null", (long long)o->at, o->small);
    }
    strata_query *oq = strata_query_new(f->s, &mixed_model);
    strata_iter *it;
    OK(f, strata_query_iter(oq, &it));
    Mixed *o;
    while (strata_iter_next(it, &o) == STRATA_ROW)
        n += (size_t)snprintf(out + n, cap - n, "i%lld %s %g %d|", (long long)o->id,
                              strata_is_null(o, "amount") ? "null" : o->amount, o->count,
                              strata_is_null(o, "small") ? -1 : o->small);
    strata_iter_free(it);
    strata_query_free(oq);
    ck_assert_uint_lt(n, cap);
}

/* The URL of the copy of the engine under test (into url), registered
 * once per configuration: sqlite-memory and sqlite-file share the
 * driver's name, the suites run every configuration in one process
 * without fork, and a registered row is never removed. */
static void rowv_url(strata_db *db, char *url, size_t cap)
{
    rowv_real = strata_db_driver(db);
    const strata__engine *e = strata__engine_of(rowv_real);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_nonnull(rowv_real->row_values);
    static char schemes[TH_ENGINES][32];
    th_engine k = th_engine_now();
    snprintf(schemes[k], sizeof schemes[k], "rowv%d%s", (int)k, rowv_real->name);
    if (!strata__engine_by_scheme(schemes[k])) {
        rowv_copies[k] = *rowv_real;
        rowv_copies[k].name = schemes[k];
        rowv_copies[k].aliases = NULL;
        strata__engine row = {&rowv_copies[k], e->dialect};
        ck_assert_int_eq(strata__engine_register(&row), STRATA_OK);
    }
    const char *rest = strstr(th_url(), "://");
    ck_assert_ptr_nonnull(rest);
    snprintf(url, cap, "%s%s", schemes[k], rest);
}

/* A driver whose row of key 8 reads as key 7 and whose row of key 9 has
 * no key (row_cells), so that a get's row has another key than the one
 * asked for on every engine: the object held for the row's own key is
 * the answer, never a second one; a row of no key is an error. */
static int rowc_other_key(strata_backend_stmt *st, int col0, int n, const unsigned char *want,
                          strata_cell *out)
{
    int rc = rowc_real(st, col0, n, want, out);
    if (rc == STRATA_OK && col0 == 0 && n > 0 && want[0] == STRATA_C_INT64 &&
        out[0].state == STRATA_CELL_VALUE && (out[0].u.i == 8 || out[0].u.i == 9)) {
        out[0].state = out[0].u.i == 8 ? STRATA_CELL_VALUE : STRATA_CELL_NULL;
        out[0].u.i = 7;
    }
    return rc;
}

START_TEST(orm_get_of_a_row_read_as_another_key)
{
    fixture f;
    setup_db(&f);
    th_engine k = th_engine_now();
    char url[1024];
    rowv_url(f.db, url, sizeof url);
    teardown(&f);
    strata_driver *d = &rowv_copies[k];
    d->version = STRATA_DRIVER_VERSION;
    d->row_values = rowv_real->row_values;
    d->row_cells = rowc_other_key;
    f.db = th_open_url(url);
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    ck_assert_int_eq(strata_metadata_add_models(md, microblog), STRATA_OK);
    strata_metadata_drop_all(md, f.db);
    ck_assert_msg(strata_metadata_create_all(md, f.db) == STRATA_OK, "%s", strata_db_errmsg(f.db));
    strata_metadata_free(md);
    th_exec(f.db, "INSERT INTO \"user\" (id, username, email) VALUES (7, 'seven', 's@example.com'), "
                  "(8, 'eight', 'e@example.com'), (9, 'nine', 'n@example.com')");
    for (int first_other = 0; first_other < 2; first_other++) {
        OK(&f, strata_session_new(&f.s, f.db));
        User *a = NULL, *b = NULL;
        OK(&f, strata_get(f.s, &user_model, first_other ? 8 : 7, &a));
        OK(&f, strata_get(f.s, &user_model, first_other ? 7 : 8, &b));
        ck_assert_ptr_eq(a, b);
        ck_assert_int_eq(a->id, 7);
        ck_assert_str_eq(a->username, first_other ? "eight" : "seven");
        User *c = NULL;
        ck_assert_int_eq(strata_get(f.s, &user_model, 9, &c), STRATA_E_DATA);
        ck_assert_ptr_null(c);
        ck_assert_str_eq(strata_session_errmsg(f.s), "reading User's key: the value is SQL NULL");
        OK(&f, strata_set_text(&a->password_hash, "held"));
        OK(&f, strata_session_commit(f.s));
        strata_session_free(f.s);
        ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE password_hash = 'held'"),
                         1);
        th_exec(f.db, "UPDATE \"user\" SET password_hash = NULL");
    }
    strata_db_close(f.db);
}
END_TEST

START_TEST(orm_rows_read_alike_through_every_driver_slot)
{
    fixture f;
    setup_db(&f);
    th_engine k = th_engine_now();
    char url[1024];
    rowv_url(f.db, url, sizeof url);
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    ck_assert_int_eq(strata_metadata_add_models(md, microblog), STRATA_OK);
    teardown(&f);

    /* The same rows written and read back through: the engine itself;
     * neither slot; both in a driver of version 5, which has neither;
     * row_values in one of version 7, which has no row_cells; row_values
     * alone; row_cells; and then each failing. */
    static char want[4096], got[4096];
    for (int c = 0; c < 8; c++) {
        strata_driver *d = &rowv_copies[k];
        d->version = c == 2 ? 5 : c == 3 || c == 6 ? 7 : STRATA_DRIVER_VERSION;
        d->row_values = c == 1 ? NULL : rowv_spy;
        d->row_cells = c == 1 || c == 4 ? NULL : rowc_spy;
        rowv_called = rowc_called = false;
        f.db = th_open_url(c == 0 ? th_url() : url);
        strata_metadata_drop_all(md, f.db);
        ck_assert_msg(strata_metadata_create_all(md, f.db) == STRATA_OK, "%s",
                      strata_db_errmsg(f.db));
        OK(&f, strata_session_new(&f.s, f.db));
        static const unsigned char bytes[] = {0, 1, 2, 255};
        Gadget *g = new_gadget(&f, true, 2.5);
        OK(&f, strata_set_blob(&g->data, bytes, sizeof bytes));
        OK(&f, strata_set_null(g, "count", 1));
        OK(&f, strata_set_null(g, "seen", 1));
        g = new_gadget(&f, false, -1.25);
        g->count = 7;
        g->seen = 1700000000123456;
        User *u = new_user(&f, "john", "john@example.com");
        Post *p = new_post(&f, "h\xc3\xa9llo", u);
        p->timestamp = 1600000000000001;
        OK(&f, strata_session_commit(f.s));
        strata_session_free(f.s);
        mixed_rows(f.db);
        OK(&f, strata_session_new(&f.s, f.db));
        if (c < 6) {
            describe_loaded(&f, c == 0 ? want : got, sizeof want);
            if (c > 0)
                ck_assert_str_eq(got, want);
            ck_assert_int_eq(rowv_called, c == 3 || c == 4);
            ck_assert_int_eq(rowc_called, c == 5);
        } else if (c == 6) {
            d->row_values = rowv_fail;
            rows_fail_as_said(&f, rowv_set_fail_rest, rowv_set_spy);
        } else {
            d->row_cells = rowc_fail;
            rows_fail_as_said(&f, rowc_set_fail_rest, rowc_set_spy);
        }
        strata_session_free(f.s);
        strata_db_close(f.db);
    }
    ck_assert_msg(strstr(want, "g1 1 2.5 4:000102ff null 0 null 0|"), "%s", want);
    ck_assert_ptr_nonnull(strstr(want, "g2 0 -1.25 null 0: 7 1700000000123456|"));
    ck_assert_ptr_nonnull(strstr(want, "p1 h\xc3\xa9llo 1600000000000001 by john john@example.com"));
    ck_assert_msg(strstr(want, "o1 12.30 7 1 2020-01-02 03:04:05.25"), "%s", want);
    ck_assert_ptr_nonnull(strstr(want, " 1612325106000000 1|o2 null 0 0 null 0 0|"));
    ck_assert_ptr_nonnull(strstr(want, "i1 12.30 7 1|i2 null 0 -1|"));
    strata_metadata_free(md);
}
END_TEST

/* ---- cells against the values they come from ---------------------------- */

/* A field `v` of each C type over one table, whose column v is declared
 * as each case below declares it and holds what the engine lets it hold.
 * Read through the engine's own driver (SQLite's row_cells) and through
 * its copy without row_cells (cells made by the core from row_values),
 * every outcome must be the same: the value, NULL, or the error and its
 * message. */
typedef struct Cellrow {
    strata_object base;
    int64_t id;
    int64_t vi;
    bool vb;
    double vd;
    char *vt;
    strata_timestamp vts;
    strata_blob vbl;
} Cellrow;
#define CELLROW_V(m, ct, sqltype)                                                         \
    {                                                                                     \
        .name = "v", .offset = offsetof(Cellrow, m), .ctype = ct, .type = sqltype,        \
        .flags = STRATA_NULLABLE                                                          \
    }
static const strata_field cellrow_fields[6][3] = {
    {STRATA_PK(Cellrow, id), CELLROW_V(vi, STRATA_C_INT64, "bigint"), STRATA_FIELDS_END},
    {STRATA_PK(Cellrow, id), CELLROW_V(vb, STRATA_C_BOOL, "boolean"), STRATA_FIELDS_END},
    {STRATA_PK(Cellrow, id), CELLROW_V(vd, STRATA_C_DOUBLE, "float"), STRATA_FIELDS_END},
    {STRATA_PK(Cellrow, id), CELLROW_V(vt, STRATA_C_TEXT, "text"), STRATA_FIELDS_END},
    {STRATA_PK(Cellrow, id), CELLROW_V(vts, STRATA_C_TIMESTAMP, "datetime"), STRATA_FIELDS_END},
    {STRATA_PK(Cellrow, id), CELLROW_V(vbl, STRATA_C_BLOB, "blob"), STRATA_FIELDS_END},
};
#define CELLROW_MODEL(i)                                                                         \
    {                                                                                            \
        STRATA_MODEL_VERSION, "Cellrow", .table = "cellrow", .size = sizeof(Cellrow),            \
        .fields = cellrow_fields[i]                                                              \
    }
static const strata_model cellrow_models[6] = {CELLROW_MODEL(0), CELLROW_MODEL(1),
                                               CELLROW_MODEL(2), CELLROW_MODEL(3),
                                               CELLROW_MODEL(4), CELLROW_MODEL(5)};

/* What reading row `id` as model c gave, appended to sb. */
static void cell_outcome(strata__sb *sb, strata_session *s, int c, int64_t id, int rc,
                         const Cellrow *o)
{
    strata__sb_printf(sb, "%lld:", (long long)id);
    if (rc != STRATA_OK && rc != STRATA_ROW) {
        strata__sb_printf(sb, "error %d %s|", rc, strata_session_errmsg(s));
        return;
    }
    if (strata_is_null((void *)o, "v")) {
        strata__sb_printf(sb, "NULL|");
        return;
    }
    switch (c) {
    case 0: strata__sb_printf(sb, "%lld|", (long long)o->vi); break;
    case 1: strata__sb_printf(sb, "%d|", o->vb); break;
    case 2: strata__sb_printf(sb, "%.17g|", o->vd); break;
    case 3: strata__sb_printf(sb, "'%s'|", o->vt); break;
    case 4: strata__sb_printf(sb, "%lld|", (long long)o->vts); break;
    default:
        strata__sb_printf(sb, "x'");
        for (size_t b = 0; b < o->vbl.len; b++)
            strata__sb_printf(sb, "%02x", ((const unsigned char *)o->vbl.data)[b]);
        strata__sb_printf(sb, "'|");
    }
}

/* Every row of cellrow read as each model: one at a time by key, then
 * all through an iterator (which stops at its first error). */
static void cell_transcript(strata_db *db, int64_t nrows, strata__sb *sb)
{
    for (int c = 0; c < 6; c++) {
        strata_session *s;
        ck_assert_int_eq(strata_session_new(&s, db), STRATA_OK);
        strata__sb_printf(sb, "\n  as %d get ", c);
        for (int64_t id = 1; id <= nrows; id++) {
            Cellrow *o = NULL;
            int rc = strata_get(s, &cellrow_models[c], id, &o);
            cell_outcome(sb, s, c, id, rc, o);
        }
        strata_session_free(s);
        ck_assert_int_eq(strata_session_new(&s, db), STRATA_OK);
        strata__sb_printf(sb, "\n  as %d iter ", c);
        strata_query *q = strata_query_new(s, &cellrow_models[c]);
        strata_query_order_by(q, "id", STRATA_ASC);
        strata_iter *it;
        ck_assert_int_eq(strata_query_iter(q, &it), STRATA_OK);
        Cellrow *o;
        int rc;
        int64_t n = 0;
        while ((rc = strata_iter_next(it, &o)) == STRATA_ROW)
            cell_outcome(sb, s, c, o->id, rc, o), n++;
        if (rc != STRATA_DONE)
            cell_outcome(sb, s, c, n + 1, rc, NULL);
        strata_iter_free(it);
        strata_query_free(q);
        strata_session_free(s);
    }
}

/* cellrow with its column declared `decl`, a row for each value the
 * column takes (PostgreSQL's types refuse some); the number of rows. */
static int64_t cellrow_fill(strata_db *db, const char *decl, const char *const *vals, size_t nvals)
{
    th_exec(db, "DROP TABLE IF EXISTS cellrow");
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE TABLE cellrow (id INTEGER PRIMARY KEY, v %s)", decl);
    th_exec(db, sql);
    int64_t n = 0;
    for (size_t v = 0; v < nvals; v++) {
        snprintf(sql, sizeof sql, "INSERT INTO cellrow VALUES (%lld, %s)", (long long)n + 1,
                 vals[v]);
        if (strata_db_exec(db, sql) == STRATA_OK)
            n++;
    }
    return n;
}

START_TEST(orm_cells_agree_whatever_the_column_holds)
{
    fixture f;
    setup_db(&f);
    th_engine k = th_engine_now();
    char url[1024];
    rowv_url(f.db, url, sizeof url);
    rowv_copies[k].version = STRATA_DRIVER_VERSION;
    rowv_copies[k].row_values = rowv_real->row_values;
    rowv_copies[k].row_cells = NULL;
    bool pg = th_is_pg();
    const char *const decls[] = {"INTEGER", "BOOLEAN", "NUMERIC", "NUMERIC(10,2)", "DECIMAL(8,3)",
                                 "DOUBLE PRECISION", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE",
                                 "TEXT", "VARCHAR(20)", pg ? "BYTEA" : "BLOB"};
    const char *const vals[] = {"0", "1", "5", "-3", "9223372036854775807", "2.5", "1e300",
                                "'12'", "'12.5'", "'abc'", "'t'", "'2020-01-02 03:04:05'",
                                "'2020-01-02 03:04:05.25'", "'garbage'", "''",
                                pg ? "'\\x00ff'" : "x'00ff'", pg ? "'\\x'" : "x''", "NULL"};
    strata__sb want, got;
    for (size_t d = 0; d < sizeof decls / sizeof *decls; d++) {
        /* Each connection's own table (sqlite-memory's databases are
         * private to them), and new connections for each declaration:
         * a statement prepared on the table as it was would fail once on
         * PostgreSQL (test_stmt's stmt_table_changed_under_a_transaction). */
        strata_db *own = th_open_url(th_url()), *copy = th_open_url(url);
        int64_t n = cellrow_fill(own, decls[d], vals, sizeof vals / sizeof *vals);
        ck_assert_int_eq(cellrow_fill(copy, decls[d], vals, sizeof vals / sizeof *vals), n);
        ck_assert_int_ge(n, 2); /* PostgreSQL's BOOLEAN: 't' and NULL */
        strata__sb_init(&want);
        strata__sb_init(&got);
        cell_transcript(own, n, &want);
        cell_transcript(copy, n, &got);
        ck_assert_ptr_nonnull(want.data);
        ck_assert_ptr_nonnull(got.data);
        ck_assert_msg(!strstr(want.data, "cached plan"), "%.1500s", want.data);
        size_t at = 0; /* where they part, shown with what led there */
        while (want.data[at] && want.data[at] == got.data[at])
            at++;
        size_t from = at > 300 ? at - 300 : 0;
        ck_assert_msg(!strcmp(want.data, got.data), "%s, from byte %zu:\nengine: %.600s\ncopy:   %.600s",
                      decls[d], from, want.data + from, got.data + from);
        /* The same on every engine, through either driver. */
        if (d == 0) {
            ck_assert_msg(strstr(want.data, "as 1 get 1:0|2:1|3:error"), "%.1500s", want.data);
            ck_assert_msg(strstr(want.data, "as 2 get 1:0|2:1|3:5|4:-3|"), "%.1500s", want.data);
            ck_assert_msg(strstr(want.data, "as 0 iter 1:0|2:1|3:5|4:-3|"), "%.1500s", want.data);
        }
        if (d == 3)
            ck_assert_msg(strstr(want.data, "as 3 get 1:'0.00'|2:'1.00'|3:'5.00'|4:'-3.00'|"),
                          "%.1500s", want.data);
        if (d == 6)
            ck_assert_msg(strstr(want.data, "1577934245250000|"), "%.1500s", want.data);
        strata__sb_free(&want);
        strata__sb_free(&got);
        strata_db_close(copy);
        strata_db_close(own);
    }
    th_exec(f.db, "DROP TABLE IF EXISTS cellrow");
    teardown(&f);
}
END_TEST

/* Reopen f's handle through a copy of its driver that `patch` changes:
 * registered once as "<prefix><driver>" in copies[k] (k: SQLite's 0,
 * PostgreSQL's 1), one per driver and the same for every configuration of
 * it, since the suites run every configuration in one process without
 * fork, where the registry's rows are few and never removed.  The
 * microblog's tables are made afresh and john committed in a new
 * session. */
static void open_through_copy(fixture *f, strata_driver copies[2], char schemes[2][32],
                              const char *prefix,
                              void (*patch)(strata_driver *copy, const strata_driver *real))
{
    setup_db(f);
    const strata_driver *real = strata_db_driver(f->db);
    const strata__engine *e = strata__engine_of(real);
    int k = th_is_pg();
    char *scheme = schemes[k];
    snprintf(scheme, 32, "%s%s", prefix, real->name);
    if (!strata__engine_by_scheme(scheme)) {
        copies[k] = *real;
        copies[k].name = scheme;
        copies[k].aliases = NULL;
        copies[k].version = STRATA_DRIVER_VERSION;
        patch(&copies[k], real);
        strata__engine row = {&copies[k], e->dialect};
        ck_assert_int_eq(strata__engine_register(&row), STRATA_OK);
    }
    teardown(f);
    char url[1024];
    snprintf(url, sizeof url, "%s%s", scheme, strstr(th_url(), "://"));
    strata_metadata *md;
    ck_assert_int_eq(strata_metadata_new(&md), STRATA_OK);
    ck_assert_int_eq(strata_metadata_add_models(md, microblog), STRATA_OK);
    f->db = th_open_url(url);
    strata_metadata_drop_all(md, f->db);
    ck_assert_int_eq(strata_metadata_create_all(md, f->db), STRATA_OK);
    strata_metadata_free(md);
    OK(f, strata_session_new(&f->s, f->db));
    new_user(f, "john", "john@example.com");
    OK(f, strata_session_commit(f->s));
}

/* A driver that loses the command it was to send with the next one (as
 * when the SAVEPOINT fails on the server, or never leaves the client):
 * the flush's failure cannot be undone to the savepoint, the transaction
 * can only be rolled back, and the handle counts no savepoint open. */
static strata_driver lost_copies[2]; /* SQLite's driver and PostgreSQL's */

static int lose_it(strata_conn *conn, const char *sql)
{
    (void)conn, (void)sql;
    return STRATA_OK;
}

static void lose_with_next(strata_driver *copy, const strata_driver *real)
{
    (void)real;
    copy->exec_with_next = lose_it;
}

START_TEST(orm_flush_savepoint_lost_by_the_driver)
{
    fixture f;
    static char schemes[2][32];
    /* Nothing to undo in its commit of john: that commit is whole. */
    open_through_copy(&f, lost_copies, schemes, "lost", lose_with_next);
    User *dup = new_user(&f, "john", "dup@example.com");
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_UNIQUE);
    ck_assert_int_eq(strata_db_savepoint_depth(f.db), 0);
    ck_assert_int_eq(dup->id, 0);
    OK(&f, strata_session_rollback(f.s));
    OK(&f, strata_set_text(&dup->username, "johnny"));
    OK(&f, strata_add(dup));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 2);
    strata_session_free(f.s);
    strata_db_close(f.db);
}
END_TEST

/* A driver whose next RELEASE SAVEPOINT fails, as one a statement
 * timeout cancels does: what ran in the savepoint is there, and the
 * transaction can only be rolled back, or rolled back to a savepoint
 * made before, which must be the caller's. */
static strata_driver release_copies[2]; /* SQLite's driver and PostgreSQL's */
static int (*release_real[2])(strata_conn *, const char *);
static bool release_fails;

static int fail_a_release(strata_conn *conn, const char *sql)
{
    int k = conn->driver == &release_copies[1];
    if (release_fails && !strncmp(sql, "RELEASE SAVEPOINT", 17)) {
        release_fails = false;
        return strata_driver_error(conn->db, STRATA_E_TIMEOUT, "57014", 0,
                                   "canceling statement due to statement timeout");
    }
    return release_real[k](conn, sql);
}

/* The session's count of users named `name` in the database. */
static int64_t users_named(fixture *f, const char *name)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM \"user\" WHERE username = '%s'", name);
    return th_int(f->db, sql);
}

static void fail_releases(strata_driver *copy, const strata_driver *real)
{
    release_real[copy == &release_copies[1]] = real->exec;
    copy->exec = fail_a_release;
}

START_TEST(orm_failed_release_leaves_the_callers_savepoint)
{
    fixture f;
    static char schemes[2][32];
    open_through_copy(&f, release_copies, schemes, "release", fail_releases);
    if (th_reduced())
        th_reduced_set_upsert(true); /* with upsert, without RETURNING */

    for (int bulk = 0; bulk < 2; bulk++) {
        /* The caller's savepoint, and a row written inside it. */
        OK(&f, strata_session_savepoint(f.s));
        new_user(&f, "kate", "kate@example.com");
        OK(&f, strata_session_flush(f.s));
        ck_assert_int_eq(strata_db_savepoint_depth(f.db), 1);
        release_fails = true;
        int rc;
        if (bulk) {
            strata_query *q = strata_query_new(f.s, &user_model);
            OK(&f, strata_query_filter(q, strata_c("username", STRATA_EQ, strata_text("john"))));
            rc = strata_query_update(q, (strata_assign[]){{"email", strata_text("j@x.org")}}, 1,
                                     NULL);
            strata_query_free(q);
        } else {
            User *u, *got = NULL;
            OK(&f, strata_new(f.s, &user_model, &u));
            OK(&f, strata_set_text(&u->username, "john"));
            OK(&f, strata_set_text(&u->email, "j@x.org"));
            rc = strata_upsert(u, "username", &got);
        }
        ck_assert_msg(rc == STRATA_E_TIMEOUT, "%s: %s", strata_errname(rc),
                      strata_session_errmsg(f.s));
        ck_assert(!release_fails);
        ck_assert_int_eq(strata_db_savepoint_depth(f.db), 1);
        /* The bulk change was taken back; the upserted row, which the
         * session's objects hold, leaves only a rollback... */
        ck_assert_int_eq(strata_db_exec(f.db, "SELECT 1"), bulk ? STRATA_OK : STRATA_E_TX_ABORTED);
        if (bulk)
            ck_assert_int_eq(
                users_named(&f, "kate") * 10 +
                    th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'j@x.org'"),
                10);
        /* ...and rolled back to the caller's savepoint, all of it goes. */
        OK(&f, strata_session_savepoint_rollback(f.s));
        ck_assert_int_eq(strata_db_savepoint_depth(f.db), 0);
        OK(&f, strata_session_commit(f.s));
        ck_assert_int_eq(users_named(&f, "kate"), 0);
        ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\" WHERE email = 'j@x.org'"), 0);
    }
    strata_session_free(f.s);
    strata_db_close(f.db);
}
END_TEST

/* ---- kennels: relationships through savepoints, upserts and refreshes */

static Kennel *new_kennel(fixture *f, const char *name)
{
    Kennel *k;
    OK(f, strata_new(f->s, &kennel_model, &k));
    OK(f, strata_set_text(&k->name, name));
    OK(f, strata_add(k));
    return k;
}

static Dog *new_dog(fixture *f, const char *name, Kennel *k, int rank)
{
    Dog *d;
    OK(f, strata_new(f->s, &dog_model, &d));
    OK(f, strata_set_text(&d->name, name));
    if (k)
        OK(f, strata_set_related(d, "kennel", k));
    else
        OK(f, strata_set_null(d, "kennel_id", 1));
    if (rank)
        d->rank = rank;
    else
        OK(f, strata_set_null(d, "rank", 1));
    OK(f, strata_add(d));
    return d;
}

/* Kennels north (dogs a, b) and south (c), and `loose` dogs in none
 * (d, e), committed. */
static void dogs_in_kennels(fixture *f, int loose)
{
    Kennel *north = new_kennel(f, "north"), *south = new_kennel(f, "south");
    new_dog(f, "a", north, 1);
    new_dog(f, "b", north, 2);
    new_dog(f, "c", south, 3);
    for (int i = 0; i < loose; i++)
        new_dog(f, i ? "e" : "d", NULL, 4 + i);
    OK(f, strata_session_commit(f->s));
}

/* A path through a many-to-one keeps the rows whose key is NULL: an
 * inner join dropped them from an OR, an ORDER BY (which then returned
 * fewer objects than a count), a group and a bulk delete. */
static int64_t dogs_matching(fixture *f, strata_cond *c, const char *order, int64_t *listed)
{
    strata_query *q = strata_query_new(f->s, &dog_model);
    if (c)
        strata_query_filter(q, c);
    if (order)
        strata_query_order_by(q, order, STRATA_ASC);
    strata_list *l = NULL;
    OK(f, strata_query_all(q, &l));
    *listed = (int64_t)l->count;
    strata_list_free(l);
    int64_t n = -1;
    OK(f, strata_query_count(q, &n));
    strata_query_free(q);
    return n;
}

static int dogs_matching_rc(fixture *f, strata_cond *c)
{
    strata_query *q = strata_query_new(f->s, &dog_model);
    strata_query_filter(q, c);
    strata_list *l = NULL;
    int rc = strata_query_all(q, &l);
    strata_list_free(l);
    strata_query_free(q);
    return rc;
}

START_TEST(orm_paths_keep_rows_without_their_many_to_one)
{
    fixture f;
    setup_db(&f);
    dogs_in_kennels(&f, 2);
    int64_t listed;
    strata_cond *north_or_none = strata_or(strata_c("kennel.name", STRATA_EQ, strata_text("north")),
                                           strata_c("kennel_id", STRATA_IS_NULL, strata_null()));
    ck_assert_int_eq(dogs_matching(&f, north_or_none, NULL, &listed), 4);
    ck_assert_int_eq(listed, 4);
    ck_assert_int_eq(dogs_matching(&f, NULL, "kennel.name", &listed), 5);
    ck_assert_int_eq(listed, 5);
    ck_assert_int_eq(
        dogs_matching(&f, strata_c("kennel.name", STRATA_IS_NULL, strata_null()), NULL, &listed),
        2);
    /* Grouped by the kennel's name: the dogs without one are a group. */
    strata_query *q = strata_query_new(f.s, &dog_model);
    strata_query_columns(q, "kennel.name, count(*)");
    strata_query_group_by(q, "kennel.name");
    strata_query_order_by(q, "kennel.name", STRATA_ASC);
    strata_rows *r = NULL;
    OK(&f, strata_query_rows(q, &r));
    ck_assert_int_eq((int)strata_rows_count(r), 3);
    int64_t n = 0;
    for (size_t i = 0; i < strata_rows_count(r); i++)
        if (!strata_rows_text(r, i, 0))
            ck_assert_int_eq(strata_rows_int64(r, i, 1, &n), STRATA_OK);
    ck_assert_int_eq(n, 2);
    strata_rows_free(r);
    strata_query_free(q);
    /* A path of more relationships than any model needs is refused
     * before it joins (hundreds of hops kept PostgreSQL planning for
     * minutes). */
    char path[256] = "kennel";
    for (int i = 0; i < 8; i++)
        strcat(path, ".dogs.kennel");
    strcat(path, ".name");
    ck_assert_int_eq(dogs_matching_rc(&f, strata_c(path, STRATA_EQ, strata_text("north"))),
                     STRATA_E_MISUSE);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "goes through 17 relationships"), "%s",
                  strata_session_errmsg(f.s));
    /* A bulk delete by the same OR deletes what a query finds. */
    q = strata_query_new(f.s, &dog_model);
    strata_query_filter(q, strata_or(strata_c("kennel.name", STRATA_EQ, strata_text("north")),
                                     strata_c("kennel_id", STRATA_IS_NULL, strata_null())));
    int64_t deleted = 0;
    OK(&f, strata_query_delete(q, &deleted));
    strata_query_free(q);
    ck_assert_int_eq(deleted, 4);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM dog"), 1);
    teardown(&f);
}
END_TEST

/* first, one and one_or_none keep within the query's own limit. */
START_TEST(orm_first_and_one_keep_the_query_limit)
{
    fixture f;
    setup_db(&f);
    new_kennel(&f, "a");
    new_kennel(&f, "b");
    new_kennel(&f, "c");
    OK(&f, strata_session_commit(f.s));
    strata_query *q = strata_query_new(f.s, &kennel_model);
    strata_query_order_by(q, "name", STRATA_ASC);
    OK(&f, strata_query_limit(q, 0));
    Kennel *k = (Kennel *)1;
    OK(&f, strata_query_first(q, &k));
    ck_assert_ptr_null(k);
    OK(&f, strata_query_one_or_none(q, &k));
    ck_assert_ptr_null(k);
    ck_assert_int_eq(strata_query_one(q, &k), STRATA_E_NOT_FOUND);
    OK(&f, strata_query_limit(q, 1));
    OK(&f, strata_query_one(q, &k));
    ck_assert_str_eq(k->name, "a");
    OK(&f, strata_query_offset(q, 2));
    OK(&f, strata_query_one_or_none(q, &k));
    ck_assert_str_eq(k->name, "c");
    strata_query_free(q);
    teardown(&f);
}
END_TEST

/* The count of a query of values counts its rows (after DISTINCT and
 * GROUP BY), and an aggregate of a query with an order runs on
 * PostgreSQL too: the order was kept, and refused there. */
START_TEST(orm_count_and_aggregates_of_shaped_queries)
{
    fixture f;
    setup_db(&f);
    dogs_in_kennels(&f, 1);
    strata_query *q = strata_query_new(f.s, &dog_model);
    strata_query_columns(q, "kennel_id");
    OK(&f, strata_query_distinct(q));
    strata_rows *r = NULL;
    OK(&f, strata_query_rows(q, &r));
    int64_t n = -1;
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, (int64_t)strata_rows_count(r));
    ck_assert_int_eq(n, 3);
    strata_rows_free(r);
    strata_query_free(q);
    q = strata_query_new(f.s, &dog_model);
    strata_query_columns(q, "kennel.name, count(*)");
    strata_query_group_by(q, "kennel.name");
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 3);
    strata_query_free(q);
    /* A listing's query, reused for an aggregate. */
    q = strata_query_new(f.s, &dog_model);
    strata_query_order_by(q, "name", STRATA_DESC);
    OK(&f, strata_query_scalar_int64(q, "count(*)", &n));
    ck_assert_int_eq(n, 4);
    OK(&f, strata_query_scalar_int64(q, "max(rank)", &n));
    ck_assert_int_eq(n, 4);
    strata_query_free(q);
    teardown(&f);
}
END_TEST

/* An IN list past what a statement binds (65535 values, PostgreSQL's
 * limit) is refused on every engine, naming the list: SQLite took it
 * and PostgreSQL failed with an unclassified message. */
START_TEST(orm_in_lists_past_the_statement_limit)
{
    fixture f;
    setup_db(&f);
    new_kennel(&f, "a");
    OK(&f, strata_session_commit(f.s));
    size_t n = 65536;
    strata_value *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        v[i] = strata_int((int64_t)i);
    strata_query *q = strata_query_new(f.s, &kennel_model);
    strata_query_filter(q, strata_c_in("id", v, n));
    strata_list *l = NULL;
    ck_assert_int_eq(strata_query_all(q, &l), STRATA_E_RANGE);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "IN of id with 65536 values"), "%s",
                  strata_session_errmsg(f.s));
    strata_query_free(q);
    /* As many as a statement binds: the list runs on both engines. */
    q = strata_query_new(f.s, &kennel_model);
    strata_query_filter(q, strata_c_in("id", v, n - 1));
    OK(&f, strata_query_all(q, &l));
    ck_assert_int_eq((int)l->count, 1);
    strata_list_free(l);
    /* One more value anywhere in it is refused too. */
    strata_query_limit(q, 5);
    ck_assert_int_eq(strata_query_all(q, &l), STRATA_E_RANGE);
    strata_query_free(q);
    /* A bulk update of a model keyed by two fields binds its SET values
     * with the condition's in one statement: they count too. */
    char(*roles)[8] = malloc((n - 1) * sizeof *roles);
    ck_assert_ptr_nonnull(roles);
    for (size_t i = 0; i < n - 1; i++) {
        snprintf(roles[i], sizeof roles[i], "r%zu", i);
        v[i] = strata_text(roles[i]);
    }
    q = strata_query_new(f.s, &membership_model);
    strata_query_filter(q, strata_c_in("role", v, n - 1));
    int64_t changed = -1;
    ck_assert_int_eq(
        strata_query_update(q, (strata_assign[]){{"note", strata_text("x")}}, 1, &changed),
        STRATA_E_RANGE);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "binds 65536 values"), "%s",
                  strata_session_errmsg(f.s));
    strata_query_free(q);
    free(roles);
    free(v);
    teardown(&f);
}
END_TEST

/* An iterator outlives the query it came from: it read the freed query
 * at each step (valgrind and the sanitizer build, which run this test,
 * saw it). */
START_TEST(orm_iterator_outlives_its_query)
{
    fixture f;
    setup_db(&f);
    new_kennel(&f, "a");
    new_kennel(&f, "b");
    OK(&f, strata_session_commit(f.s));
    strata_query *q = strata_query_new(f.s, &kennel_model);
    strata_query_order_by(q, "name", STRATA_ASC);
    strata_iter *it = NULL;
    OK(&f, strata_query_iter(q, &it));
    Kennel *k = NULL;
    ck_assert_int_eq(strata_iter_next(it, &k), STRATA_ROW);
    ck_assert_str_eq(k->name, "a");
    strata_query_free(q);
    ck_assert_int_eq(strata_iter_next(it, &k), STRATA_ROW);
    ck_assert_str_eq(k->name, "b");
    ck_assert_int_eq(strata_iter_next(it, &k), STRATA_DONE);
    strata_iter_free(it);
    teardown(&f);
}
END_TEST

/* A condition's value of another type than its field's is converted
 * where that is exact, and refused otherwise, so that both engines give
 * one answer: SQLite compared across types by its own rules (no row)
 * where PostgreSQL read the value as the column's type (a row), or
 * refused it with an unclassified error. */
static int gadgets_where(fixture *f, strata_cond *c, int *rc)
{
    strata_query *q = strata_query_new(f->s, &gadget_model);
    strata_query_filter(q, c);
    strata_list *l = NULL;
    *rc = strata_query_all(q, &l);
    int n = l ? (int)l->count : -1;
    strata_list_free(l);
    strata_query_free(q);
    return n;
}

START_TEST(orm_condition_values_take_their_field_type)
{
    fixture f;
    setup_db(&f);
    Shelf *sh;
    OK(&f, strata_new(f.s, &shelf_model, &sh));
    OK(&f, strata_set_text(&sh->label, "12"));
    OK(&f, strata_add(sh));
    Gadget *g;
    OK(&f, strata_new(f.s, &gadget_model, &g));
    g->active = true;
    g->weight = 9007199254740992.0; /* 2^53 */
    g->count = 7;
    OK(&f, strata_set_null(g, "shelf_id", 1));
    OK(&f, strata_add(g));
    OK(&f, strata_session_commit(f.s));
    int rc;
    /* Converted: an integer for a float, 0/1 for a boolean, an integer
     * for a text. */
    ck_assert_int_eq(
        gadgets_where(&f, strata_c("weight", STRATA_EQ, strata_int(9007199254740993LL)), &rc), 1);
    ck_assert_int_eq(gadgets_where(&f, strata_c("active", STRATA_EQ, strata_int(1)), &rc), 1);
    strata_query *q = strata_query_new(f.s, &shelf_model);
    strata_query_filter(q, strata_c("label", STRATA_EQ, strata_int(12)));
    int64_t n = 0;
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 1);
    strata_query_free(q);
    /* Refused, naming the field. */
    ck_assert_int_eq(gadgets_where(&f, strata_c("active", STRATA_EQ, strata_text("yes")), &rc), -1);
    ck_assert_int_eq(rc, STRATA_E_TYPE);
    ck_assert_msg(strstr(strata_session_errmsg(f.s), "Gadget.active"), "%s",
                  strata_session_errmsg(f.s));
    ck_assert_int_eq(gadgets_where(&f, strata_c("active", STRATA_EQ, strata_int(2)), &rc), -1);
    ck_assert_int_eq(rc, STRATA_E_TYPE);
    ck_assert_int_eq(gadgets_where(&f, strata_c("count", STRATA_EQ, strata_bool(1)), &rc), -1);
    ck_assert_int_eq(rc, STRATA_E_TYPE);
    ck_assert_int_eq(gadgets_where(&f, strata_c("seen", STRATA_EQ, strata_int(0)), &rc), -1);
    ck_assert_int_eq(rc, STRATA_E_TYPE);
    ck_assert_int_eq(gadgets_where(&f, strata_c("count", STRATA_LT, strata_int(3000000000LL)), &rc),
                     -1);
    ck_assert_int_eq(rc, STRATA_E_RANGE);
    ck_assert_int_eq(gadgets_where(&f, strata_c("count", STRATA_LIKE, strata_text("7%")), &rc), -1);
    ck_assert_int_eq(rc, STRATA_E_TYPE);
    q = strata_query_new(f.s, &shelf_model);
    strata_query_filter(q, strata_c("label", STRATA_EQ, strata_double(12.0)));
    ck_assert_int_eq(strata_query_count(q, &n), STRATA_E_TYPE);
    strata_query_free(q);
    /* A float for an integer column checks its range as an integer does,
     * and so does a text of digits; other text is refused. */
    ck_assert_int_eq(gadgets_where(&f, strata_c("count", STRATA_LT, strata_double(3e9)), &rc), -1);
    ck_assert_int_eq(rc, STRATA_E_RANGE);
    ck_assert_int_eq(
        gadgets_where(&f, strata_c("count", STRATA_LT, strata_text("3000000000")), &rc), -1);
    ck_assert_int_eq(rc, STRATA_E_RANGE);
    ck_assert_int_eq(gadgets_where(&f, strata_c("count", STRATA_EQ, strata_text("7")), &rc), 1);
    ck_assert_int_eq(gadgets_where(&f, strata_c("count", STRATA_EQ, strata_text("7x")), &rc), -1);
    ck_assert_int_eq(rc, STRATA_E_TYPE);
    /* A blob is a blob field's alone. */
    static const unsigned char bytes[] = {'7'};
    ck_assert_int_eq(
        gadgets_where(&f, strata_c("count", STRATA_EQ, strata_blob_value(bytes, 1)), &rc), -1);
    ck_assert_int_eq(rc, STRATA_E_TYPE);
    ck_assert_int_eq(gadgets_where(&f, strata_c("data", STRATA_EQ, strata_text("7")), &rc), -1);
    ck_assert_int_eq(rc, STRATA_E_TYPE);
    /* numeric, uuid and json: a float for a numeric is its shortest
     * decimal (12.3 finds 12.30); LIKE, and a number for a uuid, are
     * refused. */
    Invoice *inv;
    OK(&f, strata_new(f.s, &invoice_model, &inv));
    OK(&f, strata_set_text(&inv->amount, "12.30"));
    OK(&f, strata_set_text(&inv->ref, "0e37a1b2-0000-4000-8000-000000000001"));
    OK(&f, strata_set_text(&inv->doc, "{\"a\": 1}"));
    OK(&f, strata_set_text(&inv->status, "draft"));
    OK(&f, strata_add(inv));
    OK(&f, strata_session_commit(f.s));
    const struct {
        strata_cond *c;
        int rc, n;
    } cases[] = {
        {strata_c("amount", STRATA_EQ, strata_double(12.3)), STRATA_OK, 1},
        {strata_c("amount", STRATA_EQ, strata_int(12)), STRATA_OK, 0},
        {strata_c("amount", STRATA_LIKE, strata_text("12%")), STRATA_E_TYPE, -1},
        {strata_c("ref", STRATA_LIKE, strata_text("0e37%")), STRATA_E_TYPE, -1},
        {strata_c("doc", STRATA_LIKE, strata_text("%a%")), STRATA_E_TYPE, -1},
        {strata_c("ref", STRATA_EQ, strata_int(1)), STRATA_E_TYPE, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        q = strata_query_new(f.s, &invoice_model);
        strata_query_filter(q, cases[i].c);
        strata_list *l = NULL;
        int got = strata_query_all(q, &l);
        ck_assert_msg(got == cases[i].rc, "case %zu: %s: %s", i, strata_errname(got),
                      strata_session_errmsg(f.s));
        if (got == STRATA_OK)
            ck_assert_int_eq((int)l->count, cases[i].n);
        strata_list_free(l);
        strata_query_free(q);
    }
    teardown(&f);
}
END_TEST

START_TEST(orm_savepoint_brings_back_an_object_a_get_let_go)
{
    fixture f;
    setup_db(&f);
    Kennel *k = new_kennel(&f, "north");
    OK(&f, strata_session_commit(f.s));
    int64_t id = k->id;
    /* Inside a savepoint the row goes, and a get lets the object go... */
    OK(&f, strata_session_savepoint(f.s));
    th_exec(f.db, "DELETE FROM kennel");
    Kennel *got = NULL;
    ck_assert_int_eq(strata_get(f.s, &kennel_model, id, &got), STRATA_E_NOT_FOUND);
    /* ...the rollback brings both back, and the object is the one held. */
    OK(&f, strata_session_savepoint_rollback(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM kennel"), 1);
    OK(&f, strata_get(f.s, &kennel_model, id, &got));
    ck_assert_ptr_eq(got, k);
    OK(&f, strata_refresh(k));
    OK(&f, strata_set_text(&k->name, "south"));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM kennel WHERE name = 'south'"), 1);
    teardown(&f);
}
END_TEST

START_TEST(orm_savepoint_rollback_forgets_an_orphan_mark)
{
    fixture f;
    setup_db(&f);
    Kennel *k = new_kennel(&f, "north");
    Dog *stray = new_dog(&f, "stray", NULL, 1);
    OK(&f, strata_session_commit(f.s));
    /* Taken in and let go again inside a savepoint, then rolled back: the
     * stray is as it was, not an orphan to delete. */
    OK(&f, strata_session_savepoint(f.s));
    OK(&f, strata_collection_add(k, "dogs", stray));
    OK(&f, strata_collection_remove(k, "dogs", stray));
    OK(&f, strata_session_savepoint_rollback(f.s));
    ck_assert_int_eq(strata_is_null(stray, "kennel_id"), 1);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM dog WHERE name = 'stray'"), 1);
    teardown(&f);
}
END_TEST

/* The names of the dogs in list l, in order, "-" for a NULL rank. */
static void assert_dogs(const strata_list *l, const char *want)
{
    char got[128] = "";
    for (size_t i = 0; i < l->count; i++) {
        const Dog *d = l->items[i];
        strcat(got, i ? " " : "");
        strcat(got, d->name);
    }
    ck_assert_str_eq(got, want);
}

START_TEST(orm_eager_loading_sorts_nulls_as_lazy_loading_does)
{
    fixture f;
    setup_db(&f);
    Kennel *k = new_kennel(&f, "north");
    new_kennel(&f, "south");
    new_dog(&f, "two", k, 2);
    new_dog(&f, "none", k, 0);
    new_dog(&f, "one", k, 1);
    OK(&f, strata_session_commit(f.s));
    int64_t id = k->id;
    /* Lazy, eager over the whole table, eager in batches of keys: NULL
     * sorts as the largest value each time, on every engine. */
    for (int way = 0; way < 3; way++) {
        strata_session_free(f.s);
        OK(&f, strata_session_new(&f.s, f.db));
        if (way == 0) {
            OK(&f, strata_get(f.s, &kennel_model, id, &k));
        } else {
            strata_query *q = strata_query_new(f.s, &kennel_model);
            OK(&f, strata_query_load(q, "dogs"));
            OK(&f, strata_query_load(q, "dogs_down"));
            if (way == 2)
                OK(&f, strata_query_filter(q, strata_c("name", STRATA_EQ, strata_text("north"))));
            else
                OK(&f, strata_query_order_by(q, "name", STRATA_ASC));
            OK(&f, strata_query_first(q, &k));
            strata_query_free(q);
        }
        int before = f.statements;
        const strata_list *up, *down;
        OK(&f, strata_related_list(k, "dogs", &up));
        OK(&f, strata_related_list(k, "dogs_down", &down));
        ck_assert_int_eq(f.statements, before + (way == 0 ? 2 : 0));
        assert_dogs(up, "one two none");
        assert_dogs(down, "none two one");
    }
    teardown(&f);
}
END_TEST

START_TEST(orm_upsert_copies_the_key_of_a_new_parent)
{
    fixture f;
    setup_db(&f);
    if (th_reduced())
        th_reduced_set_upsert(true);
    Kennel *k = new_kennel(&f, "north");
    Dog *d, *got = NULL;
    OK(&f, strata_new(f.s, &dog_model, &d));
    OK(&f, strata_set_text(&d->name, "rex"));
    OK(&f, strata_set_related(d, "kennel", k));
    OK(&f, strata_upsert(d, "name", &got));
    ck_assert_ptr_eq(got, d);
    ck_assert_int_gt(k->id, 0);
    ck_assert_int_eq(d->kennel_id, k->id);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM dog JOIN kennel ON kennel.id = "
                                  "dog.kennel_id WHERE kennel.name = 'north'"),
                     1);
    /* A parent deleted since is refused before any SQL, as at an insert. */
    Kennel *gone = new_kennel(&f, "gone");
    OK(&f, strata_session_commit(f.s));
    Dog *e;
    OK(&f, strata_new(f.s, &dog_model, &e));
    OK(&f, strata_set_text(&e->name, "fido"));
    OK(&f, strata_set_related(e, "kennel", gone));
    OK(&f, strata_delete(gone));
    OK(&f, strata_session_commit(f.s));
    int before = f.statements;
    ck_assert_int_eq(strata_upsert(e, "name", &got), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "was deleted"));
    ck_assert_int_eq(f.statements, before);
    teardown(&f);
}
END_TEST

START_TEST(orm_collections_follow_a_child_moved_by_upsert_or_refresh)
{
    fixture f;
    setup_db(&f);
    if (th_reduced())
        th_reduced_set_upsert(true);
    Kennel *k1 = new_kennel(&f, "north"), *k2 = new_kennel(&f, "south");
    new_dog(&f, "rex", k1, 1);
    OK(&f, strata_session_commit(f.s));
    int64_t id1 = k1->id, id2 = k2->id;
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    /* The collections loaded, the dog's many-to-one not. */
    OK(&f, strata_get(f.s, &kennel_model, id1, &k1));
    OK(&f, strata_get(f.s, &kennel_model, id2, &k2));
    const strata_list *l1, *l2, *d1, *d2;
    OK(&f, strata_related_list(k1, "dogs", &l1));
    OK(&f, strata_related_list(k2, "dogs", &l2));
    OK(&f, strata_related_list(k1, "dogs_down", &d1)); /* no back_populates */
    OK(&f, strata_related_list(k2, "dogs_down", &d2));
    assert_dogs(l1, "rex");
    assert_dogs(l2, "");
    Dog *rex = l1->items[0], *x, *got = NULL;
    /* The program's own object, set to the new kennel: the row is rex's,
     * and x, which no flush inserts, is in no kennel's dogs. */
    OK(&f, strata_new(f.s, &dog_model, &x));
    OK(&f, strata_set_text(&x->name, "rex"));
    OK(&f, strata_set_related(x, "kennel", k2));
    x->rank = 1;
    OK(&f, strata_upsert(x, "name", &got));
    ck_assert_ptr_eq(got, rex);
    ck_assert_int_eq(rex->kennel_id, id2);
    OK(&f, strata_related_list(k1, "dogs", &l1));
    OK(&f, strata_related_list(k2, "dogs", &l2));
    OK(&f, strata_related_list(k1, "dogs_down", &d1));
    OK(&f, strata_related_list(k2, "dogs_down", &d2));
    assert_dogs(l1, "");
    assert_dogs(l2, "rex");
    assert_dogs(d1, "");
    assert_dogs(d2, "rex");
    ck_assert_ptr_eq(l2->items[0], rex);
    ck_assert_ptr_eq(d2->items[0], rex);
    /* Let go of in memory, then read again: back in the collection. */
    OK(&f, strata_collection_remove(k2, "dogs", rex));
    OK(&f, strata_related_list(k2, "dogs", &l2));
    assert_dogs(l2, "");
    OK(&f, strata_refresh(rex));
    ck_assert_int_eq(rex->kennel_id, id2);
    OK(&f, strata_related_list(k2, "dogs", &l2));
    assert_dogs(l2, "rex");
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM dog"), 1);
    teardown(&f);
}
END_TEST

START_TEST(orm_one_to_one_back_references_follow)
{
    fixture f;
    setup_db(&f);
    Dog *a = new_dog(&f, "a", NULL, 1), *b = new_dog(&f, "b", NULL, 2);
    Collar *c;
    OK(&f, strata_new(f.s, &collar_model, &c));
    OK(&f, strata_set_related(c, "dog", a));
    OK(&f, strata_add(c));
    OK(&f, strata_session_commit(f.s));
    Collar *ca = NULL, *cb = (Collar *)1;
    OK(&f, strata_related(a, "collar", &ca));
    OK(&f, strata_related(b, "collar", &cb));
    ck_assert_ptr_eq(ca, c);
    ck_assert_ptr_null(cb);
    /* The collar moves to b: both dogs say so at once, and after the flush. */
    OK(&f, strata_set_related(c, "dog", b));
    for (int flushed = 0; flushed < 2; flushed++) {
        if (flushed)
            OK(&f, strata_session_flush(f.s));
        OK(&f, strata_related(a, "collar", &ca));
        OK(&f, strata_related(b, "collar", &cb));
        ck_assert_ptr_null(ca);
        ck_assert_ptr_eq(cb, c);
    }
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(c->dog_id, b->id);
    /* A new collar for b lets the old one go: its dog is NULL then.  The
     * flush inserts before it updates, so the old one's change goes
     * first, then the new one is added. */
    Collar *c2;
    OK(&f, strata_new(f.s, &collar_model, &c2));
    OK(&f, strata_related(b, "collar", &cb));
    OK(&f, strata_set_related(c2, "dog", b));
    Dog *was = (Dog *)1;
    OK(&f, strata_related(c, "dog", &was));
    ck_assert_ptr_null(was);
    ck_assert_int_eq(strata_is_null(c, "dog_id"), 1);
    OK(&f, strata_related(b, "collar", &cb));
    ck_assert_ptr_eq(cb, c2);
    OK(&f, strata_session_flush(f.s));
    OK(&f, strata_add(c2));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM collar WHERE dog_id IS NULL"), 1);
    /* The database moves a collar behind the session's back: a refresh
     * makes the dogs read theirs again, not show none. */
    OK(&f, strata_related(a, "collar", &ca));
    ck_assert_ptr_null(ca);
    th_exec(f.db, "UPDATE collar SET dog_id = (SELECT id FROM dog WHERE name = 'a') "
                  "WHERE dog_id IS NULL");
    OK(&f, strata_refresh(c));
    OK(&f, strata_related(a, "collar", &ca));
    ck_assert_ptr_eq(ca, c);
    OK(&f, strata_session_commit(f.s));
    teardown(&f);
}
END_TEST

/* Eager loading through a one-to-one: each dog holds its collar (or
 * none) from the one query, as strata_related would find it, and reading
 * it sends no SQL. */
START_TEST(orm_eager_load_of_a_one_to_one)
{
    fixture f;
    setup_db(&f);
    Dog *a = new_dog(&f, "a", NULL, 1);
    new_dog(&f, "b", NULL, 2);
    Collar *c;
    OK(&f, strata_new(f.s, &collar_model, &c));
    OK(&f, strata_set_related(c, "dog", a));
    OK(&f, strata_add(c));
    OK(&f, strata_session_commit(f.s));
    int64_t collar_id = c->id;
    strata_session_free(f.s);
    OK(&f, strata_session_new(&f.s, f.db));
    strata_query *q = strata_query_new(f.s, &dog_model);
    OK(&f, strata_query_order_by(q, "name", STRATA_ASC));
    OK(&f, strata_query_load(q, "collar"));
    strata_list *l = NULL;
    OK(&f, strata_query_all(q, &l));
    strata_query_free(q);
    ck_assert_uint_eq(l->count, 2);
    int before = f.statements;
    Collar *ca = NULL, *cb = (Collar *)1;
    OK(&f, strata_related(l->items[0], "collar", &ca));
    OK(&f, strata_related(l->items[1], "collar", &cb));
    ck_assert_ptr_nonnull(ca);
    ck_assert_int_eq(ca->id, collar_id);
    ck_assert_int_eq(ca->dog_id, ((Dog *)l->items[0])->id);
    ck_assert_ptr_null(cb);
    ck_assert_int_eq(f.statements, before);
    strata_list_free(l);
    teardown(&f);
}
END_TEST

/* Rows of equal order values come in the order of their keys, lazily
 * and eagerly alike, however the engine stores them (an UPDATE moves a
 * row to the end of PostgreSQL's table). */
START_TEST(orm_order_by_ties_follow_the_key)
{
    fixture f;
    setup_db(&f);
    Kennel *k = new_kennel(&f, "north");
    new_dog(&f, "a", k, 2);
    new_dog(&f, "b", k, 0); /* NULL */
    new_dog(&f, "c", k, 2);
    new_dog(&f, "d", k, 0);
    new_dog(&f, "e", k, 1);
    OK(&f, strata_session_commit(f.s));
    th_exec(f.db, "UPDATE dog SET name = name WHERE name IN ('a', 'b')");
    static const char *const want = "b d a c e"; /* rank descending, NULL first */
    for (int eager = 0; eager < 2; eager++) {
        strata_session_free(f.s);
        OK(&f, strata_session_new(&f.s, f.db));
        strata_query *q = strata_query_new(f.s, &kennel_model);
        if (eager)
            OK(&f, strata_query_load(q, "dogs_down"));
        Kennel *got;
        OK(&f, strata_query_one(q, &got));
        strata_query_free(q);
        const strata_list *dogs;
        OK(&f, strata_related_list(got, "dogs_down", &dogs));
        char names[32] = "";
        for (size_t i = 0; i < dogs->count; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? " " : "",
                     ((Dog *)dogs->items[i])->name);
        ck_assert_msg(strcmp(names, want) == 0, "%s: %s, not %s", eager ? "eager" : "lazy", names,
                      want);
    }
    teardown(&f);
}
END_TEST

/* strata_collection_contains asks a collection: a one-to-one or a
 * many-to-one is refused, loaded or not, as strata_related_list refuses
 * it. */
START_TEST(orm_contains_refuses_a_scalar_relationship)
{
    fixture f;
    setup_db(&f);
    Dog *a = new_dog(&f, "a", NULL, 1);
    Collar *c;
    OK(&f, strata_new(f.s, &collar_model, &c));
    OK(&f, strata_set_related(c, "dog", a));
    OK(&f, strata_add(c));
    OK(&f, strata_session_commit(f.s));
    for (int loaded = 0; loaded < 2; loaded++) {
        if (loaded) {
            Collar *ca;
            Dog *d;
            OK(&f, strata_related(a, "collar", &ca));
            OK(&f, strata_related(c, "dog", &d));
        }
        int in = -1;
        ck_assert_int_eq(strata_collection_contains(a, "collar", c, &in), STRATA_E_MISUSE);
        ck_assert_int_eq(in, 0);
        ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "Dog.collar is not a collection"));
        ck_assert_int_eq(strata_collection_contains(c, "dog", a, &in), STRATA_E_MISUSE);
        ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "Collar.dog is not a collection"));
    }
    teardown(&f);
}
END_TEST

static User *user_not_added(fixture *f, const char *name)
{
    User *u;
    char email[64];
    snprintf(email, sizeof email, "%s@example.com", name);
    OK(f, strata_new(f->s, &user_model, &u));
    OK(f, strata_set_text(&u->username, name));
    OK(f, strata_set_text(&u->email, email));
    return u;
}

/* strata_add takes along the new objects an object's relationships hold,
 * and theirs (SQLAlchemy's save-update cascade), whichever was linked
 * first: none is left out of the commit, which used to succeed without
 * a new collection's member, or refuse a new many-to-one's target. */
START_TEST(orm_add_takes_new_related_objects_along)
{
    fixture f;
    setup_db(&f);
    /* A collection's new member, linked while both were new. */
    User *u = user_not_added(&f, "u");
    Post *p;
    OK(&f, strata_new(f.s, &post_model, &p));
    OK(&f, strata_set_text(&p->body, "hello"));
    OK(&f, strata_collection_add(u, "posts", p));
    OK(&f, strata_add(u));
    /* A new many-to-one's target, set before the add. */
    User *v = user_not_added(&f, "v");
    Post *q;
    OK(&f, strata_new(f.s, &post_model, &q));
    OK(&f, strata_set_text(&q->body, "there"));
    OK(&f, strata_set_related(q, "author", v));
    OK(&f, strata_add(q));
    /* A many-to-many link between two new objects. */
    User *john = user_not_added(&f, "john"), *kim = user_not_added(&f, "kim");
    OK(&f, strata_collection_add(john, "following", kim));
    OK(&f, strata_add(john));
    /* A chain of new objects, each the next one's parent. */
    enum { CHAIN = 3000 };
    Node *parent = NULL, *last = NULL;
    for (int i = 0; i < CHAIN; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        last = new_node(&f, name, parent);
        parent = last;
    }
    OK(&f, strata_add(last));
    /* A new child given a new parent by its many-to-one alone, and only
     * the parent added. */
    User *w = user_not_added(&f, "w");
    Post *r;
    OK(&f, strata_new(f.s, &post_model, &r));
    OK(&f, strata_set_text(&r->body, "again"));
    OK(&f, strata_set_related(r, "author", w));
    OK(&f, strata_add(w));
    /* Not added: one whose new parent is never added, and one given an
     * inserted parent after a new one. */
    User *never = user_not_added(&f, "never");
    Post *alone, *moved;
    OK(&f, strata_new(f.s, &post_model, &alone));
    OK(&f, strata_set_text(&alone->body, "alone"));
    OK(&f, strata_set_related(alone, "author", never));
    OK(&f, strata_new(f.s, &post_model, &moved));
    OK(&f, strata_set_text(&moved->body, "moved"));
    OK(&f, strata_set_related(moved, "author", never));
    OK(&f, strata_set_related(moved, "author", w));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(alone->id, 0);
    ck_assert_int_eq(moved->id, 0);
    ck_assert_int_gt(r->id, 0);
    ck_assert_int_eq(r->user_id, w->id);
    ck_assert_int_gt(p->id, 0);
    ck_assert_int_eq(p->user_id, u->id);
    ck_assert_int_eq(q->user_id, v->id);
    ck_assert_int_gt(v->id, 0);
    ck_assert_int_gt(kim->id, 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post"), 3);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 5);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 1);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM node WHERE parent_id IS NOT NULL"),
                     CHAIN - 1);
    teardown(&f);
}
END_TEST

static Post *post_not_added(fixture *f, const char *body, User *author)
{
    Post *p;
    OK(f, strata_new(f->s, &post_model, &p));
    OK(f, strata_set_text(&p->body, body));
    OK(f, strata_set_related(p, "author", author));
    return p;
}

/* A new child linked to a new parent by its many-to-one alone is in the
 * parent's collection, as SQLAlchemy's back reference puts it there:
 * through a rollback, down a chain made leaf first, and displaced from a
 * new one-to-one by the next child linked to it; not once the program
 * deleted it before its insert. */
START_TEST(orm_new_children_follow_new_parents)
{
    fixture f;
    setup_db(&f);
    /* Added, then deleted before its insert: not inserted. */
    User *u = user_not_added(&f, "u");
    Post *gone = post_not_added(&f, "gone", u);
    OK(&f, strata_add(gone)); /* u along */
    OK(&f, strata_delete(gone));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_gt(u->id, 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM post"), 0);

    /* Inserted, rolled back, the parent added again: inserted again. */
    User *v = user_not_added(&f, "v");
    Post *kept = post_not_added(&f, "kept", v);
    OK(&f, strata_add(v));
    OK(&f, strata_session_flush(f.s));
    ck_assert_int_gt(kept->id, 0);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(kept->id, 0);
    OK(&f, strata_add(v));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_gt(kept->id, 0);
    ck_assert_int_eq(kept->user_id, v->id);

    /* A chain whose topics were made in no order, linked to their
     * parents while new, only its root added: one flush. */
    enum { ZIGZAG = 2001 };
    Topic **chain = malloc(ZIGZAG * sizeof *chain);
    int *order = malloc(ZIGZAG * sizeof *order);
    ck_assert(chain && order);
    for (int i = 0; i < ZIGZAG; i++)
        order[i] = i;
    unsigned seed = 12345; /* a fixed shuffle: the same order on every run */
    for (int i = ZIGZAG - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        int j = (int)((seed >> 8) % (unsigned)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < ZIGZAG; i++) {
        int at = order[i];
        char title[16];
        snprintf(title, sizeof title, "z%d", at);
        OK(&f, strata_new(f.s, &topic_model, &chain[at]));
        OK(&f, strata_set_text(&chain[at]->title, title));
    }
    OK(&f, strata_set_null(chain[0], "parent_id", 1));
    for (int i = 1; i < ZIGZAG; i++)
        OK(&f, strata_set_related(chain[i], "parent", chain[i - 1]));
    OK(&f, strata_add(chain[0]));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM topic"), ZIGZAG);
    ck_assert_int_eq(chain[ZIGZAG - 1]->parent_id, chain[ZIGZAG - 2]->id);
    free(chain);
    free(order);

    /* A chain made leaf first, only its root added: one flush. */
    Topic *leaf, *mid, *root;
    OK(&f, strata_new(f.s, &topic_model, &leaf));
    OK(&f, strata_new(f.s, &topic_model, &mid));
    OK(&f, strata_new(f.s, &topic_model, &root));
    OK(&f, strata_set_text(&leaf->title, "leaf"));
    OK(&f, strata_set_text(&mid->title, "mid"));
    OK(&f, strata_set_text(&root->title, "root"));
    OK(&f, strata_set_null(root, "parent_id", 1));
    OK(&f, strata_set_related(leaf, "parent", mid));
    OK(&f, strata_set_related(mid, "parent", root));
    OK(&f, strata_add(root));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM topic"), ZIGZAG + 3);
    ck_assert_int_eq(leaf->parent_id, mid->id);

    /* The new parent's collection shows the child, and taking it out
     * there unlinks it. */
    User *w = user_not_added(&f, "w");
    Post *out = post_not_added(&f, "out", w);
    const strata_list *wl;
    OK(&f, strata_related_list(w, "posts", &wl));
    ck_assert_uint_eq(wl->count, 1);
    ck_assert_ptr_eq(wl->items[0], out);
    OK(&f, strata_collection_remove(w, "posts", out));
    OK(&f, strata_add(w));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(out->id, 0);

    /* A new dog's one-to-one holds the last collar linked to it. */
    Dog *d;
    Collar *c1, *c2;
    OK(&f, strata_new(f.s, &dog_model, &d));
    OK(&f, strata_set_text(&d->name, "rex"));
    OK(&f, strata_set_null(d, "kennel_id", 1));
    OK(&f, strata_set_null(d, "rank", 1));
    OK(&f, strata_new(f.s, &collar_model, &c1));
    OK(&f, strata_new(f.s, &collar_model, &c2));
    OK(&f, strata_set_related(c1, "dog", d));
    OK(&f, strata_set_related(c2, "dog", d));
    Collar *worn = NULL;
    OK(&f, strata_related(d, "collar", &worn));
    ck_assert_ptr_eq(worn, c2);
    OK(&f, strata_add(d));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM collar"), 1);
    ck_assert_int_eq(c2->dog_id, d->id);
    ck_assert_int_eq(c1->id, 0);

    /* Through a rollback, and a savepoint's, the new dog keeps its collar,
     * and the next one linked displaces it. */
    for (int sp = 0; sp < 2; sp++) {
        Dog *e;
        Collar *k1, *k2;
        OK(&f, strata_new(f.s, &dog_model, &e));
        OK(&f, strata_set_text(&e->name, sp ? "fido" : "max"));
        OK(&f, strata_set_null(e, "kennel_id", 1));
        OK(&f, strata_set_null(e, "rank", 1));
        OK(&f, strata_new(f.s, &collar_model, &k1));
        OK(&f, strata_set_related(k1, "dog", e));
        if (sp)
            OK(&f, strata_session_savepoint(f.s));
        OK(&f, strata_add(e));
        OK(&f, strata_session_flush(f.s));
        OK(&f, sp ? strata_session_savepoint_rollback(f.s) : strata_session_rollback(f.s));
        worn = NULL;
        OK(&f, strata_related(e, "collar", &worn));
        ck_assert_ptr_eq(worn, k1);
        OK(&f, strata_new(f.s, &collar_model, &k2));
        OK(&f, strata_set_related(k2, "dog", e));
        OK(&f, strata_add(e));
        OK(&f, strata_session_commit(f.s));
        ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM collar"), 2 + sp);
        ck_assert_int_eq(k2->dog_id, e->id);
        ck_assert_int_eq(k1->id, 0);
    }
    teardown(&f);
}
END_TEST

/* A related query kept past its owner's delete is refused rather than
 * read the rows of a new row given the deleted one's key (SQLite gives
 * it); a relationship's own order does not stop a bulk change. */
START_TEST(orm_related_query_of_a_deleted_owner)
{
    fixture f;
    setup_db(&f);
    User *u = new_user(&f, "u", "u@example.com");
    OK(&f, strata_session_commit(f.s));
    strata_query *q = strata_related_query(u, "posts");
    OK(&f, strata_delete(u));
    OK(&f, strata_session_commit(f.s));
    User *v = new_user(&f, "v", "v@example.com");
    new_post(&f, "v's", v);
    OK(&f, strata_session_commit(f.s));
    int64_t n = -1;
    ck_assert_int_eq(strata_query_count(q, &n), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(f.db), "it was deleted"));
    strata_query_free(q);

    Kennel *k = new_kennel(&f, "north");
    new_dog(&f, "a", k, 2);
    new_dog(&f, "b", k, 1);
    new_dog(&f, "c", NULL, 3);
    OK(&f, strata_session_commit(f.s));
    q = strata_related_query(k, "dogs"); /* ordered by rank */
    OK(&f, strata_query_delete(q, &n));
    ck_assert_int_eq(n, 2);
    OK(&f, strata_query_order_by(q, "name", STRATA_ASC));
    ck_assert_int_eq(strata_query_delete(q, &n), STRATA_E_MISUSE);
    strata_query_free(q);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM dog"), 1);
    teardown(&f);
}
END_TEST

/* New children put in a new parent's collection that names no
 * back_populates (its many-to-one found by the key) are all in it, and
 * all added along with the parent. */
START_TEST(orm_new_children_of_a_new_parent_without_back_populates)
{
    fixture f;
    setup_db(&f);
    Node *n = new_node(&f, "n", NULL);
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "k%d", i);
        Node *k;
        OK(&f, strata_new(f.s, &node_model, &k));
        OK(&f, strata_set_text(&k->name, name));
        OK(&f, strata_set_null(k, "buddy_id", 1));
        OK(&f, strata_collection_add(n, "children", k));
    }
    const strata_list *kids;
    OK(&f, strata_related_list(n, "children", &kids));
    ck_assert_uint_eq(kids->count, 3);
    OK(&f, strata_add(n));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM node"), 4);
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM node WHERE parent_id = %lld", (long long)n->id);
    ck_assert_int_eq(th_int(f.db, sql), 3);
    teardown(&f);
}
END_TEST

/* A row a stream hands out is the stream's, reused for the next row and
 * freed with it: it cannot be linked to or from the session's objects,
 * nor asked about as a member, which used to keep a pointer to it. */
START_TEST(orm_streamed_rows_are_not_related)
{
    fixture f;
    setup_db(&f);
    Kennel *north = new_kennel(&f, "north"), *south = new_kennel(&f, "south");
    new_dog(&f, "a", north, 1);
    OK(&f, strata_session_commit(f.s));
    const strata_list *dogs;
    OK(&f, strata_related_list(south, "dogs", &dogs));
    strata_query *q = strata_query_new(f.s, &dog_model);
    strata_iter *it;
    OK(&f, strata_query_iter(q, &it));
    strata_query_free(q);
    Dog *row;
    ck_assert_int_eq(strata_iter_next(it, &row), STRATA_ROW);
    int in = -1;
    ck_assert_int_eq(strata_collection_add(south, "dogs", row), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "a row of a stream"));
    ck_assert_int_eq(strata_set_related(row, "kennel", south), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "a row of a stream"));
    ck_assert_int_eq(strata_collection_contains(north, "dogs", row, &in), STRATA_E_MISUSE);
    strata_iter_free(it);
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_related_list(south, "dogs", &dogs));
    ck_assert_uint_eq(dogs->count, 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM dog WHERE kennel_id = " /* north's */
                                  "(SELECT id FROM kennel WHERE name = 'north')"),
                     1);
    teardown(&f);
}
END_TEST

/* contains is asked of objects of the collection's model, of the
 * session: another model's object with the same key is not a member. */
START_TEST(orm_contains_checks_the_model_and_the_session)
{
    fixture f;
    setup_db(&f);
    User *u1 = new_user(&f, "u1", "u1@example.com"), *u2 = new_user(&f, "u2", "u2@example.com");
    new_post(&f, "p1", u1);
    Post *p2 = new_post(&f, "p2", u1);
    OK(&f, strata_collection_add(u1, "following", u2));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(p2->id, u2->id); /* the same key, another table */
    strata_session *other;
    OK(&f, strata_session_new(&other, f.db));
    User *u2b;
    OK(&f, strata_get(other, &user_model, u2->id, &u2b));
    for (int loaded = 0; loaded < 2; loaded++) {
        if (loaded) {
            const strata_list *l;
            OK(&f, strata_related_list(u1, "following", &l));
        }
        int in = -1;
        ck_assert_int_eq(strata_collection_contains(u1, "following", p2, &in), STRATA_E_MISUSE);
        ck_assert_int_eq(in, 0);
        ck_assert_int_eq(strata_collection_contains(u1, "following", u2b, &in), STRATA_E_MISUSE);
        ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "another session"));
        OK(&f, strata_collection_contains(u1, "following", u2, &in));
        ck_assert_int_eq(in, 1);
    }
    strata_session_free(other);
    teardown(&f);
}
END_TEST

/* The one-to-one of an object not inserted yet is the object of the
 * session whose many-to-one names it, before the flush and after. */
START_TEST(orm_one_to_one_of_a_new_object)
{
    fixture f;
    setup_db(&f);
    Dog *d = new_dog(&f, "d", NULL, 1);
    Collar *c, *got = NULL;
    OK(&f, strata_new(f.s, &collar_model, &c));
    OK(&f, strata_set_related(c, "dog", d));
    OK(&f, strata_add(c));
    int before = f.statements;
    OK(&f, strata_related(d, "collar", &got));
    ck_assert_ptr_eq(got, c);
    ck_assert_int_eq(f.statements, before);
    OK(&f, strata_session_flush(f.s));
    got = NULL;
    OK(&f, strata_related(d, "collar", &got));
    ck_assert_ptr_eq(got, c);
    ck_assert_int_eq(c->dog_id, d->id);
    OK(&f, strata_session_commit(f.s));
    teardown(&f);
}
END_TEST

/* The related query of an object not inserted yet names the rows of the
 * key its flush gives it, not key 0. */
START_TEST(orm_related_query_of_a_new_object)
{
    fixture f;
    setup_db(&f);
    User *u = new_user(&f, "u", "u@example.com");
    new_post(&f, "one", u);
    new_post(&f, "two", u);
    strata_query *q = strata_related_query(u, "posts");
    int64_t n = -1;
    OK(&f, strata_query_count(q, &n));
    strata_query_free(q);
    ck_assert_int_eq(n, 2);
    ck_assert_int_gt(u->id, 0);
    OK(&f, strata_session_commit(f.s));
    teardown(&f);
}
END_TEST

/* A related query names its owner's key as it runs: kept across a
 * rollback that took the owner's key (which SQLite gives the next row it
 * inserts), it refuses to run rather than read another's rows, and once
 * the owner is saved again it reads the owner's rows by the new key.
 * The many-to-many's query does the same. */
START_TEST(orm_related_query_follows_its_owner)
{
    fixture f;
    setup_db(&f);
    User *u = new_user(&f, "u", "u@example.com");
    strata_query *q = strata_related_query(u, "posts");
    strata_query *fq = strata_related_query(u, "following");
    int64_t n = -1;
    OK(&f, strata_query_count(q, &n)); /* u was flushed when q was made */
    ck_assert_int_eq(n, 0);
    int64_t first = u->id;
    ck_assert_int_gt(first, 0);
    OK(&f, strata_session_rollback(f.s));
    ck_assert_int_eq(strata_query_count(q, &n), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(f.db), "has no row"));
    ck_assert_int_eq(strata_query_count(fq, &n), STRATA_E_MISUSE);

    /* Another user, with two posts and a followed user, takes the rows. */
    User *v = new_user(&f, "v", "v@example.com");
    User *w = new_user(&f, "w", "w@example.com");
    new_post(&f, "v's one", v);
    new_post(&f, "v's two", v);
    OK(&f, strata_collection_add(v, "following", w));
    OK(&f, strata_session_commit(f.s));
    OK(&f, strata_add(u));
    new_post(&f, "u's one", u);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_ne(u->id, v->id);
    OK(&f, strata_query_count(q, &n));
    ck_assert_int_eq(n, 1);
    OK(&f, strata_query_count(fq, &n));
    ck_assert_int_eq(n, 0);
    strata_query_free(q);
    strata_query_free(fq);
    teardown(&f);
}
END_TEST

/* A child whose many-to-one is set to NULL leaves its parent's
 * collection: with delete-orphan it is deleted at the flush, as when it
 * is removed from the collection (SQLAlchemy's delete-orphan), whether
 * the collection was loaded or not. */
START_TEST(orm_delete_orphan_through_the_many_to_one)
{
    fixture f;
    setup_db(&f);
    Kennel *k = new_kennel(&f, "north");
    Dog *a = new_dog(&f, "a", k, 1), *b = new_dog(&f, "b", k, 2);
    new_dog(&f, "c", k, 3);
    OK(&f, strata_session_commit(f.s));
    const strata_list *dogs;
    OK(&f, strata_related_list(k, "dogs", &dogs));
    OK(&f, strata_set_related(a, "kennel", NULL));
    ck_assert_uint_eq(dogs->count, 2);
    OK(&f, strata_session_commit(f.s)); /* k's dogs are read again after this */
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM dog WHERE name = 'a'"), 0);
    OK(&f, strata_set_related(b, "kennel", NULL));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM dog WHERE name = 'b'"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM dog"), 1);
    teardown(&f);
}
END_TEST

/* An upsert of an object already added is refused, saying why. */
START_TEST(orm_upsert_of_an_added_object_says_why)
{
    fixture f;
    setup_db(&f);
    User *u = new_user(&f, "u", "u@example.com"), *got = NULL;
    ck_assert_int_eq(strata_upsert(u, "username", &got), STRATA_E_MISUSE);
    ck_assert_ptr_null(got);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "upsert of User: the object is "
                                                             "already added"));
    teardown(&f);
}
END_TEST

START_TEST(orm_contains_sees_changes_not_flushed)
{
    fixture f;
    setup_db(&f);
    Kennel *k = new_kennel(&f, "north");
    User *john = new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    const strata_list *l;
    OK(&f, strata_related_list(john, "following", &l));
    /* A new dog set to a kennel whose dogs are not loaded... */
    int before = f.statements;
    Dog *d = new_dog(&f, "rex", k, 1);
    int yes = -1;
    OK(&f, strata_collection_contains(k, "dogs", d, &yes));
    ck_assert_int_eq(yes, 1);
    /* ...and a new user john follows, seen from the new user's side. */
    User *kim;
    OK(&f, strata_new(f.s, &user_model, &kim));
    OK(&f, strata_set_text(&kim->username, "kim"));
    OK(&f, strata_set_text(&kim->email, "kim@example.com"));
    OK(&f, strata_add(kim));
    OK(&f, strata_collection_add(john, "following", kim));
    OK(&f, strata_collection_contains(kim, "followers", john, &yes));
    ck_assert_int_eq(yes, 1);
    ck_assert_int_eq(f.statements, before); /* no SQL for either */
    OK(&f, strata_related_list(kim, "followers", &l));
    ck_assert_uint_eq(l->count, 1);
    ck_assert_ptr_eq(l->items[0], john);
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 1);
    teardown(&f);
}
END_TEST

START_TEST(orm_link_to_an_object_deleted_before_its_insert_is_refused)
{
    fixture f;
    setup_db(&f);
    User *john = new_user(&f, "john", "john@example.com");
    OK(&f, strata_session_commit(f.s));
    const strata_list *l;
    OK(&f, strata_related_list(john, "following", &l)); /* no load, no flush below */
    User *kim = new_user(&f, "kim", "kim@example.com");
    OK(&f, strata_collection_add(john, "following", kim));
    OK(&f, strata_delete(kim)); /* never inserted: transient again */
    int before = f.statements;
    ck_assert_int_eq(strata_session_commit(f.s), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "User.following"));
    ck_assert_ptr_nonnull(strstr(strata_session_errmsg(f.s), "not added"));
    ck_assert_int_eq(f.statements, before); /* refused before any SQL */
    /* Taken out of the collection again, the commit goes through. */
    OK(&f, strata_collection_remove(john, "following", kim));
    OK(&f, strata_session_commit(f.s));
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM followers"), 0);
    ck_assert_int_eq(th_int(f.db, "SELECT count(*) FROM \"user\""), 1);
    teardown(&f);
}
END_TEST

static void add_tests(TCase *tc, th_engine engine)
{
    (void)engine;
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, orm_table_args);
    tcase_add_test(tc, orm_table_args_errors);
    tcase_add_test(tc, orm_text_types_validated_alike);
    tcase_add_test(tc, orm_numbers_a_column_cannot_hold);
    tcase_add_test(tc, orm_like_escapes_alike);
    tcase_add_test(tc, orm_nulls_sort_alike);
    tcase_add_test(tc, orm_condition_values_take_the_field_type);
    tcase_add_test(tc, orm_aggregates_typed_alike);
    tcase_add_test(tc, orm_values_and_aggregates);
    tcase_add_test(tc, orm_paths_of_two_hops);
    tcase_add_test(tc, orm_explicit_joins);
    tcase_add_test(tc, orm_subqueries);
    tcase_add_test(tc, orm_bulk_update_and_delete);
    tcase_add_test(tc, orm_rollback_rereads_objects_read_after_writes);
    tcase_add_test(tc, orm_delete_then_add_the_same_key);
    tcase_add_test(tc, orm_rollback_reread_takes_no_write_lock);
    tcase_add_test(tc, orm_rollback_after_a_lost_connection);
    tcase_add_test(tc, orm_connection_lost_while_undoing_a_flush);
    tcase_add_test(tc, orm_joined_rollback_that_cannot_read_again);
    tcase_add_test(tc, orm_close_with_a_joined_session_reads_nothing);
    tcase_add_test(tc, orm_bulk_changes_keep_the_session_true);
#if defined(__SANITIZE_ADDRESS__)
    tcase_add_exit_test(tc, orm_arena_use_after_free_is_caught, 1);
#endif
    tcase_add_test(tc, orm_savepoint_rollback_leaves_no_ghost);
    tcase_add_test(tc, orm_savepoint_rollback_restores_objects);
    tcase_add_test(tc, orm_savepoint_nested);
    tcase_add_test(tc, orm_savepoint_misuse);
    tcase_add_test(tc, orm_savepoint_objects_loaded_inside);
    tcase_add_test(tc, orm_play_time);
    tcase_add_test(tc, orm_update_only_changed_column);
    tcase_add_test(tc, orm_get_keys_fit_their_columns);
    tcase_add_test(tc, orm_key_left_to_the_server_is_refused);
    tcase_add_test(tc, orm_for_update_locks_what_it_reads);
    tcase_add_test(tc, orm_a_value_respelled_is_no_change);
    tcase_add_test(tc, orm_false_and_zero_take_the_defaults);
    tcase_add_test(tc, orm_get_miss_sends_only_its_select);
    tcase_add_test(tc, orm_rollback_restores_objects);
    tcase_add_test(tc, orm_loaded_strings_are_shared_and_guarded);
    tcase_add_test(tc, orm_flushed_strings_are_held_and_guarded);
    tcase_add_test(tc, orm_flush_savepoint_goes_with_its_first_statement);
    tcase_add_test(tc, orm_identity_map_does_not_grow_with_removed_keys);
    tcase_add_test(tc, orm_key_fixed_after_one_batch);
    tcase_add_test(tc, orm_rollback_keeps_relationships_of_unsaved_objects);
    tcase_add_test(tc, orm_collection_add_kept_through_rollback);
    tcase_add_test(tc, orm_collection_add_copies_a_key_only_when_safe);
    tcase_add_test(tc, orm_failed_flush_takes_back_its_cascade);
    tcase_add_test(tc, orm_a_deleted_object_cascades_by_its_rows_key);
    tcase_add_test(tc, orm_a_child_moved_away_is_not_deleted_with_its_old_parent);
    tcase_add_test(tc, orm_refresh_drops_an_unflushed_setting);
    tcase_add_test(tc, orm_rows_gone_under_the_session);
    tcase_add_test(tc, orm_tree_deleted_replies_first);
    tcase_add_test(tc, orm_settings_follow_the_values_put_back);
    tcase_add_test(tc, orm_session_after_database_cascades);
    tcase_add_test(tc, orm_stale_rows_read_again);
    tcase_add_test(tc, orm_rollback_keeps_a_committed_delete);
    tcase_add_test(tc, orm_delete_takes_its_own_association_rows);
    tcase_add_test(tc, orm_undo_keeps_a_key_the_program_gave);
    tcase_add_test(tc, orm_flushing_an_expired_object_keeps_it_expired);
    tcase_add_test(tc, orm_flush_savepoint_lost_by_the_driver);
    tcase_add_test(tc, orm_failed_release_leaves_the_callers_savepoint);
    tcase_add_test(tc, orm_session_does_not_commit_the_callers_transaction);
    tcase_add_test(tc, orm_joined_commit_follows_the_callers_outcome);
    tcase_add_test(tc, orm_handle_closed_before_its_sessions);
    tcase_add_test(tc, orm_portable_errors_and_validation);
    tcase_add_test(tc, orm_delete_parent_with_children_fails_whole);
    tcase_add_test(tc, orm_query_operators);
    tcase_add_test(tc, orm_paginate);
    tcase_add_test(tc, orm_eager_loading_is_batched);
    tcase_add_test(tc, orm_followers_many_to_many);
    tcase_add_test(tc, orm_relationship_refuses_other_session);
    tcase_add_test(tc, orm_back_populates_and_identity);
    tcase_add_test(tc, orm_cascade_delete_and_one_to_one);
    tcase_add_test(tc, orm_collection_of_a_new_parent);
    tcase_add_test(tc, orm_upsert_and_refresh);
    tcase_add_test(tc, orm_typed_calls);
    tcase_add_test(tc, orm_streaming_100k_rows);
    tcase_add_test(tc, orm_commit_and_rollback_refused_while_streaming);
    tcase_add_test(tc, orm_a_streamed_objects_relationships_follow_its_row);
    tcase_add_test(tc, orm_composite_keys);
    tcase_add_test(tc, orm_date_fields_hold_days);
    tcase_add_test(tc, orm_a_batch_short_of_a_row_fails_the_flush);
    tcase_add_test(tc, orm_failed_batch_takes_back_the_keys_of_earlier_ones);
    tcase_add_test(tc, orm_model_without_key_is_refused);
    tcase_add_test(tc, orm_failed_flush_is_undone_whole);
    tcase_add_test(tc, orm_failed_flush_takes_back_copied_keys);
    tcase_add_test(tc, orm_every_c_type_round_trips);
    tcase_add_test(tc, orm_rows_read_alike_through_every_driver_slot);
    tcase_add_test(tc, orm_get_of_a_row_read_as_another_key);
    tcase_add_test(tc, orm_cells_agree_whatever_the_column_holds);
    tcase_add_test(tc, orm_identity_map_key_patterns);
    tcase_add_test(tc, orm_models_resolved_again_when_changed);
    tcase_add_test(tc, orm_get_of_a_key_changed_in_memory);
    tcase_add_test(tc, orm_get_of_a_row_with_another_key_is_its_object);
    tcase_add_test(tc, orm_a_key_in_the_middle_or_last_loads_every_field);
    tcase_add_test(tc, orm_field_that_will_not_convert_is_named);
    tcase_add_test(tc, orm_get_by_a_key_that_compares_equal_finds_no_deleted_object);
    tcase_add_test(tc, orm_relationship_misuse_names_the_relationship);
    tcase_add_test(tc, orm_relationship_without_back_populates);
    tcase_add_test(tc, orm_moving_a_child_and_eager_loading_from_the_database);
    tcase_add_test(tc, orm_many_to_many_changes_cancel_and_mirror);
    tcase_add_test(tc, orm_query_every_operator_and_collection_conditions);
    tcase_add_test(tc, orm_bad_model_descriptors_are_refused);
    tcase_add_test(tc, orm_session_state_errors);
    tcase_add_test(tc, orm_savepoint_brings_back_an_object_a_get_let_go);
    tcase_add_test(tc, orm_paths_keep_rows_without_their_many_to_one);
    tcase_add_test(tc, orm_first_and_one_keep_the_query_limit);
    tcase_add_test(tc, orm_count_and_aggregates_of_shaped_queries);
    tcase_add_test(tc, orm_in_lists_past_the_statement_limit);
    tcase_add_test(tc, orm_iterator_outlives_its_query);
    tcase_add_test(tc, orm_condition_values_take_their_field_type);
    tcase_add_test(tc, orm_savepoint_rollback_forgets_an_orphan_mark);
    tcase_add_test(tc, orm_eager_loading_sorts_nulls_as_lazy_loading_does);
    tcase_add_test(tc, orm_upsert_copies_the_key_of_a_new_parent);
    tcase_add_test(tc, orm_collections_follow_a_child_moved_by_upsert_or_refresh);
    tcase_add_test(tc, orm_one_to_one_back_references_follow);
    tcase_add_test(tc, orm_eager_load_of_a_one_to_one);
    tcase_add_test(tc, orm_order_by_ties_follow_the_key);
    tcase_add_test(tc, orm_add_takes_new_related_objects_along);
    tcase_add_test(tc, orm_new_children_of_a_new_parent_without_back_populates);
    tcase_add_test(tc, orm_streamed_rows_are_not_related);
    tcase_add_test(tc, orm_contains_checks_the_model_and_the_session);
    tcase_add_test(tc, orm_one_to_one_of_a_new_object);
    tcase_add_test(tc, orm_related_query_of_a_new_object);
    tcase_add_test(tc, orm_related_query_follows_its_owner);
    tcase_add_test(tc, orm_new_children_follow_new_parents);
    tcase_add_test(tc, orm_related_query_of_a_deleted_owner);
    tcase_add_test(tc, orm_grouping_refused_alike);
    tcase_add_test(tc, orm_delete_orphan_through_the_many_to_one);
    tcase_add_test(tc, orm_upsert_of_an_added_object_says_why);
    tcase_add_test(tc, orm_contains_refuses_a_scalar_relationship);
    tcase_add_test(tc, orm_contains_sees_changes_not_flushed);
    tcase_add_test(tc, orm_link_to_an_object_deleted_before_its_insert_is_refused);
}

static Suite *build_suite(void) { return th_suite_reduced("orm", add_tests); }

int main(void) { return th_run(build_suite); }
