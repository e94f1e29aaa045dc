/*
 * models.h - the Mega-Tutorial's models: User, Post and the followers
 * association.  The microblog example is built on them, and the ORM and
 * migration tests use the same ones.
 */
#ifndef MICROBLOG_MODELS_H
#define MICROBLOG_MODELS_H

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

/* User_new, User_get, User_first, Post_related ...: the same calls with
 * object pointers the compiler checks. */
STRATA_TYPED_MODEL(User, user_model)
STRATA_TYPED_MODEL(Post, post_model)

/* All three, NULL-terminated, as strata_cli_main() and
 * strata_metadata_add_models() take them. */
extern const strata_model *const microblog_models[];

#endif
