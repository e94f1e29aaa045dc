/*
 * microblog.h - the Mega-Tutorial's models (User, Post, the followers
 * association), shared by the ORM and migration tests.
 */
#ifndef STRATA_TEST_MICROBLOG_H
#define STRATA_TEST_MICROBLOG_H

#include <strata.h>

typedef struct User {
    strata_object base;
    int64_t id;
    char *username;
    char *email;
    char *password_hash;
} User;

typedef struct Post {
    strata_object base;
    int64_t id;
    char *body;
    strata_timestamp timestamp;
    int64_t user_id;
} Post;

typedef struct Followers {
    strata_object base;
    int64_t follower_id;
    int64_t followed_id;
} Followers;

extern const strata_model user_model, post_model, followers_model;

#endif
