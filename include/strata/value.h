/*
 * strata/value.h - the value types strata moves between C and SQL, and the
 * UTC timestamp helpers.
 *
 * Timestamps are int64 microseconds since 1970-01-01 00:00:00 UTC.  SQLite
 * stores them as text "YYYY-MM-DD HH:MM:SS.ffffff" (as SQLAlchemy does);
 * PostgreSQL as timestamp / timestamptz.
 */
#ifndef STRATA_VALUE_H
#define STRATA_VALUE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum strata_type {
    STRATA_TYPE_NULL = 0,
    STRATA_TYPE_INT64 = 1,
    STRATA_TYPE_DOUBLE = 2,
    STRATA_TYPE_TEXT = 3,
    STRATA_TYPE_BLOB = 4,
    STRATA_TYPE_BOOL = 5,
    STRATA_TYPE_TIMESTAMP = 6
} strata_type;

/** Microseconds since the Unix epoch, UTC. */
typedef int64_t strata_timestamp;

/** A typed value: what the query builder binds and what backends decode.
 *  Text and blob memory is borrowed (see the function that takes it). */
typedef struct strata_value {
    strata_type type;
    union {
        int64_t i;           /* INT64, BOOL (0/1) */
        double d;            /* DOUBLE */
        strata_timestamp ts; /* TIMESTAMP */
        struct {
            const void *ptr;
            size_t len;
        } buf; /* TEXT, BLOB */
    } u;
} strata_value;

/* Values for the query builder, by value, no allocation. */
STRATA_API strata_value strata_null(void);
STRATA_API strata_value strata_int(int64_t v);
STRATA_API strata_value strata_bool(int v);
STRATA_API strata_value strata_double(double v);
/** Borrows `text` (NUL-terminated) until the call that takes the value returns. */
STRATA_API strata_value strata_text(const char *text);
STRATA_API strata_value strata_blob_value(const void *data, size_t len);
STRATA_API strata_value strata_time(strata_timestamp ts);

/** Longest text strata_timestamp_format() writes, with the NUL. */
#define STRATA_TIMESTAMP_BUFSIZE 32

/** Name of a type ("int64", "text", ...).  Static storage. */
STRATA_API const char *strata_type_name(strata_type type);

/** Build a timestamp from calendar fields (UTC).  Years 1..9999.
 *  Returns STRATA_OK or STRATA_E_RANGE when a field is out of range. */
STRATA_API int strata_timestamp_from_parts(strata_timestamp *out, int year, int month, int day,
                                           int hour, int minute, int second, int microsecond);

/** Split a timestamp into calendar fields (UTC).  Any pointer may be NULL.
 *  Returns STRATA_E_RANGE outside years 1..9999. */
STRATA_API int strata_timestamp_to_parts(strata_timestamp ts, int *year, int *month, int *day,
                                         int *hour, int *minute, int *second, int *microsecond);

/** Write "YYYY-MM-DD HH:MM:SS.ffffff" into buf (at least
 *  STRATA_TIMESTAMP_BUFSIZE bytes).  Returns STRATA_OK or STRATA_E_RANGE. */
STRATA_API int strata_timestamp_format(strata_timestamp ts, char *buf, size_t size);

/** Parse "YYYY-MM-DD", "YYYY-MM-DD[ T]HH:MM[:SS[.f...]]" with an optional
 *  zone "Z", "+HH", "+HH:MM", "+HHMM" (converted to UTC).  The whole of
 *  `text` must be consumed.  Returns STRATA_OK, or STRATA_E_TYPE when the
 *  text is not a timestamp, STRATA_E_RANGE when a field is out of range. */
STRATA_API int strata_timestamp_parse(strata_timestamp *out, const char *text, size_t len);

/** The current time, UTC, to the microsecond. */
STRATA_API strata_timestamp strata_timestamp_now(void);

#ifdef __cplusplus
}
#endif
#endif
