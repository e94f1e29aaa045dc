/*
 * models.c - the Mega-Tutorial's models: users, their posts, and who
 * follows whom.  Each struct is declared in models.h; the descriptors
 * here tie its fields to columns and name its relationships.
 */
#include <stddef.h>

#include "models.h"

static const strata_field followers_fields[] = {
    STRATA_FOREIGN_KEY(Followers, follower_id, "user.id", STRATA_PRIMARY_KEY),
    STRATA_FOREIGN_KEY(Followers, followed_id, "user.id", STRATA_PRIMARY_KEY), STRATA_FIELDS_END};
const strata_model followers_model = {STRATA_MODEL_VERSION, "Followers", .table = "followers",
                                      .fields = followers_fields};

static const strata_field user_fields[] = {
    STRATA_PK(User, id), STRATA_STRING(User, username, 64, STRATA_UNIQUE | STRATA_INDEX),
    STRATA_STRING(User, email, 120, STRATA_UNIQUE | STRATA_INDEX),
    STRATA_STRING(User, password_hash, 256, STRATA_NULLABLE), STRATA_FIELDS_END};
static const strata_relation user_relations[] = {
    {"posts", STRATA_ONE_TO_MANY, &post_model, .fk = "user_id", .back_populates = "author",
     .order_by = "id"},
    {"following", STRATA_MANY_TO_MANY, &user_model, .back_populates = "followers",
     .secondary = &followers_model, .local_key = "follower_id", .remote_key = "followed_id"},
    {"followers", STRATA_MANY_TO_MANY, &user_model, .back_populates = "following",
     .secondary = &followers_model, .local_key = "followed_id", .remote_key = "follower_id"},
    STRATA_RELATIONS_END};
const strata_model user_model = {STRATA_MODEL_VERSION,        "User",
                                 .size = sizeof(User),        .fields = user_fields,
                                 .relations = user_relations, .repr = "username"};

static const strata_field post_fields[] = {
    STRATA_PK(Post, id), STRATA_STRING(Post, body, 140, 0),
    STRATA_DATETIME(Post, timestamp, STRATA_INDEX, .default_fn = strata_default_now),
    STRATA_FOREIGN_KEY(Post, user_id, "user.id", STRATA_INDEX), STRATA_FIELDS_END};
static const strata_relation post_relations[] = {
    {"author", STRATA_MANY_TO_ONE, &user_model, .fk = "user_id", .back_populates = "posts"},
    STRATA_RELATIONS_END};
const strata_model post_model = {STRATA_MODEL_VERSION,        "Post",
                                 .size = sizeof(Post),        .fields = post_fields,
                                 .relations = post_relations, .repr = "body"};

const strata_model *const microblog_models[] = {&user_model, &post_model, &followers_model, NULL};
