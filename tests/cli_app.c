/*
 * cli_app.c - an application binary for test_cli: strata_cli_main() with
 * the microblog's models as the tutorial grows them, chosen by
 * CLI_APP_STAGE:
 *
 *   1  User                      (chapter 4, "users table")
 *   2  User, Post                (chapter 4, "posts table")
 *   3  User, Post, followers     (chapter 8, "followers"; the example's models)
 *   4  stage 3 with about_me and last_seen on User (chapter 6's change)
 *
 * With CLI_APP_OWN_SIGTERM set, the program has a SIGTERM handler of its
 * own, which the tool must leave in place: it counts the signals, and
 * the program prints the count to stderr before it exits.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../examples/microblog/models.h"

typedef struct User6 {
    strata_object base;
    int64_t id;
    char *username, *email, *password_hash, *about_me;
    strata_timestamp last_seen;
} User6;

static const strata_field user6_fields[] = {
    STRATA_PK(User6, id),
    STRATA_STRING(User6, username, 64, STRATA_UNIQUE | STRATA_INDEX),
    STRATA_STRING(User6, email, 120, STRATA_UNIQUE | STRATA_INDEX),
    STRATA_STRING(User6, password_hash, 256, STRATA_NULLABLE),
    STRATA_STRING(User6, about_me, 140, STRATA_NULLABLE),
    STRATA_DATETIME(User6, last_seen, STRATA_NULLABLE, .default_fn = strata_default_now),
    STRATA_FIELDS_END};
static const strata_model user6_model = {STRATA_MODEL_VERSION, "User", .size = sizeof(User6),
                                         .fields = user6_fields};

static volatile sig_atomic_t sigterms;

static void count_sigterm(int sig)
{
    (void)sig;
    sigterms++;
}

int main(int argc, char **argv)
{
    static const strata_model *const stages[][4] = {
        {&user_model, NULL},
        {&user_model, &post_model, NULL},
        {&user_model, &post_model, &followers_model, NULL},
        {&user6_model, &post_model, &followers_model, NULL}};
    const char *env = getenv("CLI_APP_STAGE");
    int stage = env ? atoi(env) : 3;
    if (stage < 1 || stage > 4)
        return 99;
    if (!getenv("CLI_APP_OWN_SIGTERM"))
        return strata_cli_main(argc, argv, stages[stage - 1]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_sigterm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    int rc = strata_cli_main(argc, argv, stages[stage - 1]);
    struct sigaction now;
    sigaction(SIGTERM, NULL, &now);
    fprintf(stderr, "SIGTERM handled %d times; handler %s\n", (int)sigterms,
            now.sa_handler == count_sigterm ? "kept" : "replaced");
    return rc;
}
