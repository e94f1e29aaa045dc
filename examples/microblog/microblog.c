/*
 * microblog.c - the Flask Mega-Tutorial's microblog in C, as one binary:
 *
 *   microblog db COMMAND ...   the migration commands for these models
 *                              (strata_cli_main: `flask db` inside the app)
 *   microblog demo             the tutorial's "play time" on the configured
 *                              database (DATABASE_URL, else sqlite:///app.db),
 *                              then everything it wrote is deleted again
 *
 * The demo follows the tutorial's shell session in order; each step prints
 * a comment saying what it does and then what the tutorial's session
 * prints.  It uses the public API only, as an application would.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <strata.h>

#include "models.h"

typedef struct demo {
    strata_db *db;
    strata_session *s;
} demo;

/* Report a failed call and give the exit status.  A missing table means
 * the schema was never created, so say how to create it. */
static int failed(demo *d, const char *what, int rc)
{
    fflush(stdout);
    fprintf(stderr, "microblog demo: %s: %s (%s)\n", what, strata_session_errmsg(d->s),
            strata_errname(rc));
    if (rc == STRATA_E_UNDEFINED_TABLE)
        fprintf(stderr, "microblog demo: the tables are missing: run `microblog db upgrade` "
                        "first\n");
    return 1;
}

#define TRY(d, what, call)               \
    do {                                 \
        int rc_ = (call);                \
        if (rc_ != STRATA_OK)            \
            return failed(d, what, rc_); \
    } while (0)

static void step(const char *comment) { printf("\n# %s\n", comment); }

/* Print a list as the tutorial's session does: [<User john>, ...]. */
static void print_list(const strata_list *l)
{
    char *text = strata_list_repr(l);
    printf("%s\n", text ? text : "(out of memory)");
    strata_free(text);
}

static void print_obj(const void *obj)
{
    char *text = strata_repr(obj);
    printf("%s\n", text ? text : "(out of memory)");
    strata_free(text);
}

/* Run `q`, print its results, free both. */
static int print_query(demo *d, const char *what, strata_query *q)
{
    strata_list *l;
    int rc = strata_query_all(q, &l);
    strata_query_free(q);
    if (rc != STRATA_OK)
        return failed(d, what, rc);
    print_list(l);
    strata_list_free(l);
    return 0;
}

static int add_user(demo *d, const char *name, User **out)
{
    char email[128];
    snprintf(email, sizeof email, "%s@example.com", name);
    TRY(d, "new user", strata_new(d->s, &user_model, out));
    TRY(d, "username", strata_set_text(&(*out)->username, name));
    TRY(d, "email", strata_set_text(&(*out)->email, email));
    TRY(d, "add user", strata_add(*out));
    TRY(d, "commit user", strata_session_commit(d->s));
    return 0;
}

static int add_post(demo *d, User *author, const char *body)
{
    Post *p;
    TRY(d, "new post", strata_new(d->s, &post_model, &p));
    TRY(d, "body", strata_set_text(&p->body, body));
    TRY(d, "author", strata_set_related(p, "author", author));
    TRY(d, "add post", strata_add(p));
    TRY(d, "commit post", strata_session_commit(d->s));
    return 0;
}

/* The play time refuses a database that already has users: it would
 * clash with them and then delete them. */
static int check_empty(demo *d)
{
    strata_query *q = strata_query_new(d->s, &user_model);
    int64_t n = 0;
    int rc = strata_query_count(q, &n);
    strata_query_free(q);
    if (rc != STRATA_OK)
        return failed(d, "count users", rc);
    if (n > 0) {
        fflush(stdout);
        fprintf(stderr,
                "microblog demo: the user table already has %" PRId64 " row(s); the demo plays on "
                "an empty database and deletes everything at the end, so it will not run here\n",
                n);
        return 1;
    }
    return 0;
}

static int play_users(demo *d, User **john, User **susan)
{
    step("u = User(username='john', email='john@example.com'); add; commit; same for susan");
    if (add_user(d, "john", john) || add_user(d, "susan", susan))
        return 1;
    printf("john has id %" PRId64 ", susan has id %" PRId64 "\n", (*john)->id, (*susan)->id);

    step("every user");
    strata_list *users;
    strata_query *q = strata_query_new(d->s, &user_model);
    strata_query_order_by(q, "id", STRATA_ASC);
    int rc = strata_query_all(q, &users);
    strata_query_free(q);
    if (rc != STRATA_OK)
        return failed(d, "all users", rc);
    print_list(users);
    for (size_t i = 0; i < users->count; i++) {
        const User *u = users->items[i];
        printf("%" PRId64 " %s\n", u->id, u->username);
    }
    strata_list_free(users);

    step("db.session.get(User, john's id)");
    User *u;
    TRY(d, "get user", strata_get(d->s, &user_model, (*john)->id, &u));
    print_obj(u);
    return 0;
}

static int play_posts(demo *d, User *john, User *susan)
{
    step("p = Post(body='my first post!', author=u); add; commit");
    if (add_post(d, john, "my first post!"))
        return 1;

    step("john's posts: u.posts.select()");
    if (print_query(d, "john's posts", strata_related_query(john, "posts")))
        return 1;

    step("the same for susan, who has none");
    if (print_query(d, "susan's posts", strata_related_query(susan, "posts")))
        return 1;

    step("every post with its author's username");
    strata_list *posts;
    strata_query *q = strata_query_new(d->s, &post_model);
    strata_query_order_by(q, "id", STRATA_ASC);
    strata_query_load(q, "author");
    int rc = strata_query_all(q, &posts);
    strata_query_free(q);
    if (rc != STRATA_OK)
        return failed(d, "all posts", rc);
    for (size_t i = 0; i < posts->count && rc == STRATA_OK; i++) {
        Post *p = posts->items[i];
        User *author;
        if ((rc = strata_related(p, "author", &author)) == STRATA_OK)
            printf("%" PRId64 " %s %s\n", p->id, author->username, p->body);
    }
    strata_list_free(posts);
    if (rc != STRATA_OK)
        return failed(d, "post author", rc);

    step("users in reverse alphabetical order");
    q = strata_query_new(d->s, &user_model);
    strata_query_order_by(q, "username", STRATA_DESC);
    if (print_query(d, "users by name", q))
        return 1;

    step("users whose username starts with \"s\"");
    q = strata_query_new(d->s, &user_model);
    strata_query_filter(q, strata_c("username", STRATA_LIKE, strata_text("s%")));
    return print_query(d, "users like s%", q);
}

/* Chapter 8: john follows susan, and his timeline is his posts and the
 * posts of the users he follows, newest first, a page at a time. */
static int play_followers(demo *d, User *john, User *susan)
{
    step("susan writes two posts");
    if (add_post(d, susan, "hi, I am susan") || add_post(d, susan, "susan's second post"))
        return 1;

    step("john follows susan");
    TRY(d, "follow", strata_collection_add(john, "following", susan));
    TRY(d, "commit follow", strata_session_commit(d->s));
    int is = 0;
    TRY(d, "is following", strata_collection_contains(john, "following", susan, &is));
    printf("john is following susan: %s\n", is ? "True" : "False");
    step("susan's followers");
    strata_query *q = strata_related_query(susan, "followers");
    if (print_query(d, "susan's followers", q))
        return 1;

    step("john's timeline, two posts a page: page 1");
    for (int64_t page = 1;; page++) {
        if (page > 1)
            printf("\n# page %" PRId64 "\n", page);
        /* The tutorial's followed_posts: posts whose author john follows
         * (two hops, author then followers), and his own. */
        q = strata_query_new(d->s, &post_model);
        strata_query_filter(q, strata_or(strata_c("author.followers.id", STRATA_EQ,
                                                  strata_int(john->id)),
                                         strata_c("user_id", STRATA_EQ, strata_int(john->id))));
        strata_query_order_by(q, "timestamp", STRATA_DESC);
        strata_query_order_by(q, "id", STRATA_DESC);
        strata_page pg;
        int rc = strata_query_paginate(q, page, 2, &pg);
        strata_query_free(q);
        if (rc != STRATA_OK)
            return failed(d, "timeline page", rc);
        print_list(pg.items);
        printf("page %" PRId64 " of %" PRId64 ", %" PRId64 " posts in all, has_next %s\n", pg.page,
               pg.pages, pg.total, pg.has_next ? "True" : "False");
        int more = pg.has_next;
        strata_page_clear(&pg);
        if (!more)
            break;
    }

    step("posts per user, most first: an aggregate, grouped");
    q = strata_query_new(d->s, &post_model);
    strata_query_columns(q, "author.username, count(*)");
    strata_query_group_by(q, "author.username");
    strata_query_order_by(q, "count(*)", STRATA_DESC);
    strata_rows *rows;
    int rc = strata_query_rows(q, &rows);
    strata_query_free(q);
    if (rc != STRATA_OK)
        return failed(d, "posts per user", rc);
    for (size_t i = 0; i < strata_rows_count(rows); i++) {
        int64_t n = 0;
        strata_rows_int64(rows, i, 1, &n);
        printf("%s %" PRId64 "\n", strata_rows_text(rows, i, 0), n);
    }
    strata_rows_free(rows);
    return 0;
}

/* As the tutorial ends its session: delete every user and every post.
 * Both lists are read before anything is marked, since a query flushes
 * pending deletes first; the commit's flush then deletes posts before
 * users, and each user's followers rows with it. */
static int clean_up(demo *d)
{
    step("delete every user and every post, and commit");
    strata_list *lists[2] = {NULL, NULL};
    const strata_model *models[2] = {&user_model, &post_model};
    int rc = STRATA_OK;
    for (int m = 0; m < 2 && rc == STRATA_OK; m++) {
        strata_query *q = strata_query_new(d->s, models[m]);
        rc = strata_query_all(q, &lists[m]);
        strata_query_free(q);
    }
    for (int m = 0; m < 2 && rc == STRATA_OK; m++)
        for (size_t i = 0; rc == STRATA_OK && i < lists[m]->count; i++)
            rc = strata_delete(lists[m]->items[i]);
    if (rc == STRATA_OK)
        rc = strata_session_commit(d->s);
    if (rc == STRATA_OK)
        printf("deleted %zu users and %zu posts\n", lists[0]->count, lists[1]->count);
    strata_list_free(lists[0]);
    strata_list_free(lists[1]);
    return rc == STRATA_OK ? 0 : failed(d, "clean up", rc);
}

static int run_demo(void)
{
    demo d = {0};
    if (strata_db_open(&d.db, NULL) != STRATA_OK) {
        fprintf(stderr, "microblog demo: %s\n", strata_db_errmsg(d.db));
        strata_db_close(d.db);
        return 1;
    }
    printf("microblog demo on %s (%s)\n", strata_db_url(d.db), strata_db_backend(d.db));
    int status = 1;
    if (strata_session_new(&d.s, d.db) == STRATA_OK) {
        User *john = NULL, *susan = NULL;
        status = check_empty(&d) || play_users(&d, &john, &susan) || play_posts(&d, john, susan) ||
                 play_followers(&d, john, susan) || clean_up(&d);
    }
    strata_session_free(d.s);
    strata_db_close(d.db);
    return status;
}

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: microblog db COMMAND [OPTIONS]   migrations (microblog db --help)\n"
               "       microblog demo                   the tutorial's play time on "
               "DATABASE_URL\n"
               "                                        (default sqlite:///app.db)\n");
    return status;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "db") || !strcmp(argv[1], "--version")))
        return strata_cli_main(argc, argv, microblog_models);
    if (argc == 2 && !strcmp(argv[1], "demo"))
        return run_demo();
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return usage(stdout, 0);
    return usage(stderr, STRATA_CLI_USAGE);
}
