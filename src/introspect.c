/*
 * introspect.c - strata_schema_introspect(): read a live database's schema
 * into metadata through the connection's dialect (engines/<engine>/dialect.c
 * holds the engine-specific queries).
 */
#include "schema_internal.h"

int strata_schema_introspect(strata_metadata **out, strata_db *db, const char *const *exclude)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!db)
        return STRATA_E_MISUSE;
    int rc = strata__db_usable(db);
    if (rc != STRATA_OK)
        return rc;
    const strata__dialect *dl = strata__dialect_of(strata_db_driver(db));
    if (!dl)
        return strata__db_error(db, STRATA_E_UNSUPPORTED,
                                "the schema layer has no dialect for backend %s",
                                strata_db_backend(db));
    strata_metadata *md;
    if ((rc = strata_metadata_new(&md)) != STRATA_OK)
        return rc;
    if ((rc = dl->introspect(md, db, exclude)) != STRATA_OK) {
        strata_metadata_free(md);
        if (rc == STRATA_E_NOMEM)
            return strata__db_error(db, rc, "out of memory reading the schema");
        return strata__db_error_context(db, "reading the schema");
    }
    *out = md;
    return STRATA_OK;
}
