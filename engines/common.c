/*
 * engines/common.c - SQL spellings several engines share; a dialect points
 * its hooks at them (engines/<engine>/dialect.c).
 */
#include "schema_internal.h"
#include "internal.h"

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

int strata__first_text(strata_db *db, const char *sql, char **out)
{
    *out = NULL;
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db, sql);
    if (rc != STRATA_OK)
        return rc;
    rc = strata_stmt_step(st);
    if (rc == STRATA_ROW) {
        const char *text = NULL;
        rc = strata_stmt_column_text(st, 0, &text, NULL);
        if (rc == STRATA_OK && text && !(*out = strata__strdup(text)))
            rc = STRATA_E_NOMEM;
    } else if (rc == STRATA_DONE) {
        rc = STRATA_OK;
    }
    strata_stmt_finalize(st);
    return rc;
}
