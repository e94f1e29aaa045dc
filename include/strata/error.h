/*
 * strata/error.h - the portable result codes.
 *
 * Every call that can fail returns an int: STRATA_OK (0), one of the
 * non-error statuses (STRATA_ROW, STRATA_DONE, STRATA_NULL), or a
 * STRATA_E_* error code.  All come from the one X-macro table below, which
 * also produces strata_errname() and strata_errstr().  Codes are never
 * renumbered; new ones are appended.
 *
 * The detail of a failure lives on the handle that failed: see
 * strata_db_errmsg(), strata_db_sqlstate() and strata_db_native_code() in
 * <strata/db.h>.  docs/errors.md says what produces each code on each engine.
 */
#ifndef STRATA_ERROR_H
#define STRATA_ERROR_H

#include "common.h"

/* X(name, number, description) */
#define STRATA_RESULT_TABLE(X)                                              \
    X(OK, 0, "success")                                                     \
    X(ROW, 1, "a row is available")                                         \
    X(DONE, 2, "no more rows")                                              \
    X(NULL, 3, "the value is SQL NULL")                                     \
    X(E_ERROR, 100, "unclassified database error")                          \
    X(E_MISUSE, 101, "library used incorrectly")                            \
    X(E_NOMEM, 102, "out of memory")                                        \
    X(E_UNSUPPORTED, 103, "not supported by this engine or build")          \
    X(E_URL, 104, "invalid database URL")                                   \
    X(E_CONNECT, 105, "could not connect to or open the database")          \
    X(E_CONNECTION_LOST, 106, "connection to the database was lost")        \
    X(E_SYNTAX, 107, "SQL syntax error")                                    \
    X(E_UNDEFINED_TABLE, 108, "table does not exist")                       \
    X(E_UNDEFINED_COLUMN, 109, "column does not exist")                     \
    X(E_UNIQUE, 110, "unique constraint violated")                          \
    X(E_FOREIGN_KEY, 111, "foreign key constraint violated")                \
    X(E_NOT_NULL, 112, "NOT NULL constraint violated")                      \
    X(E_CHECK, 113, "check constraint violated")                            \
    X(E_TOO_LONG, 114, "value too long for its column")                     \
    X(E_BUSY, 115, "database busy or lock timeout")                         \
    X(E_SERIALIZATION, 116, "serialization failure: retry the transaction") \
    X(E_DEADLOCK, 117, "deadlock detected")                                 \
    X(E_RANGE, 118, "index or value out of range")                          \
    X(E_TYPE, 119, "value cannot be converted to the requested type")       \
    X(E_READONLY, 120, "database is read-only")                             \
    X(E_EXISTS, 121, "object already exists")                               \
    X(E_DATA, 122, "invalid data for the column type")                      \
    X(E_TIMEOUT, 123, "statement cancelled or timed out")                   \
    X(E_TX_ABORTED, 124, "transaction is aborted; roll back first")         \
    X(E_PERMISSION, 125, "permission denied")                               \
    X(E_NOT_FOUND, 126, "not found")                                        \
    X(E_SCHEMA, 127, "invalid schema definition")                           \
    X(E_MULTIPLE, 128, "more than one row where one was expected")                 \
    X(E_MIGRATION, 129, "bad migration repository, revision file or target")         \
    X(E_OUTDATED, 130, "the database is not at the revision or schema expected")   \
    X(E_DISK_FULL, 131, "the disk or the database's size limit is full")                \
    X(E_COMMIT_UNKNOWN, 132, "the connection was lost during COMMIT: outcome unknown")     \
    X(E_PREPARED_STATEMENT, 133, "a prepared statement is missing or taken on the server")  \
    X(E_PROTOCOL, 134, "protocol violation between client and server")                     \
    X(E_TOO_MANY_CONNECTIONS, 135, "the server has no connection slot free")                 \
    X(E_STALE_STATEMENT, 136, "a schema change outdated a prepared statement: run it again")

#ifdef __cplusplus
extern "C" {
#endif

typedef enum strata_result {
#define STRATA__RESULT_ENUM(name, num, desc) STRATA_##name = num,
    STRATA_RESULT_TABLE(STRATA__RESULT_ENUM)
#undef STRATA__RESULT_ENUM
} strata_result;

/** The enumerator's name ("STRATA_E_UNIQUE"), or "STRATA_UNKNOWN" for a
 *  number not in the table.  Static storage. */
STRATA_API const char *strata_errname(int code);

/** A short English description of `code`.  Static storage. */
STRATA_API const char *strata_errstr(int code);

/** Non-zero when `code` is an error (a STRATA_E_* value). */
STRATA_API int strata_is_error(int code);

#ifdef __cplusplus
}
#endif
#endif
