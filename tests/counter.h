/*
 * counter.h - a one-row model the many-thread tests increment: the
 * read-modify-write that loses updates unless the row is locked.
 */
#ifndef STRATA_TEST_COUNTER_H
#define STRATA_TEST_COUNTER_H

#include <strata.h>

typedef struct Counter {
    strata_object base;
    int64_t id;
    int64_t n;
} Counter;

static const strata_field counter_fields[] = {STRATA_PK(Counter, id),
                                              STRATA_INTEGER(Counter, n, 0), STRATA_FIELDS_END};
static const strata_model counter_model = {STRATA_MODEL_VERSION, "Counter",
                                           .size = sizeof(Counter), .fields = counter_fields};

#endif
