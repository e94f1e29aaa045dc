/*
 * engines/common.c - SQL spellings several engines share; a dialect points
 * its hooks at them (engines/<engine>/dialect.c).
 */
#include "schema_internal.h"

void strata__upsert_on_conflict(strata__sb *sb, const char *const *keys, int nkeys,
                                const char *const *set, int nset)
{
    strata__sb_puts(sb, " ON CONFLICT (");
    for (int k = 0; k < nkeys; k++)
        strata__sb_printf(sb, "%s%s", k ? ", " : "", keys[k]);
    strata__sb_puts(sb, ") DO UPDATE SET ");
    for (int i = 0; i < nset; i++)
        strata__sb_printf(sb, "%s%s = excluded.%s", i ? ", " : "", set[i], set[i]);
}
