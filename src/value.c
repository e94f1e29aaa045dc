/*
 * value.c - type names and UTC timestamps (microseconds since the epoch).
 *
 * Calendar arithmetic uses the days-from-civil method on the proleptic
 * Gregorian calendar (eras of 400 years), so it is exact for every year
 * 1..9999 with no table and no dependence on the C library's time zone.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "internal.h"

const char *strata_type_name(strata_type type)
{
    switch (type) {
    case STRATA_TYPE_NULL: return "null";
    case STRATA_TYPE_INT64: return "int64";
    case STRATA_TYPE_DOUBLE: return "double";
    case STRATA_TYPE_TEXT: return "text";
    case STRATA_TYPE_BLOB: return "blob";
    case STRATA_TYPE_BOOL: return "bool";
    case STRATA_TYPE_TIMESTAMP: return "timestamp";
    }
    return "unknown";
}

#define USEC_PER_SEC INT64_C(1000000)
#define USEC_PER_DAY (INT64_C(86400) * USEC_PER_SEC)

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

int strata_timestamp_from_parts(strata_timestamp *out, int year, int month, int day, int hour,
                                int minute, int second, int microsecond)
{
    if (!out)
        return STRATA_E_MISUSE;
    if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month) || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
        second < 0 || second > 59 || microsecond < 0 || microsecond > 999999)
        return STRATA_E_RANGE;
    int64_t days = days_from_civil(year, month, day);
    *out = days * USEC_PER_DAY + ((int64_t)hour * 3600 + minute * 60 + second) * USEC_PER_SEC +
           microsecond;
    return STRATA_OK;
}

/* Range of timestamps with years 1..9999. */
#define TS_MIN (INT64_C(-62135596800) * USEC_PER_SEC)
#define TS_MAX (INT64_C(253402300800) * USEC_PER_SEC - 1)

int strata_timestamp_to_parts(strata_timestamp ts, int *year, int *month, int *day, int *hour,
                              int *minute, int *second, int *microsecond)
{
    if (ts < TS_MIN || ts > TS_MAX)
        return STRATA_E_RANGE;
    int64_t days = ts / USEC_PER_DAY;
    int64_t rem = ts % USEC_PER_DAY;
    if (rem < 0) {
        rem += USEC_PER_DAY;
        days -= 1;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / USEC_PER_SEC;
    if (year)
        *year = (int)y;
    if (month)
        *month = m;
    if (day)
        *day = d;
    if (hour)
        *hour = (int)(secs / 3600);
    if (minute)
        *minute = (int)(secs / 60 % 60);
    if (second)
        *second = (int)(secs % 60);
    if (microsecond)
        *microsecond = (int)(rem % USEC_PER_SEC);
    return STRATA_OK;
}

/* v, 0 to 99, as two digits at w. */
static void put2(char *w, int v)
{
    w[0] = (char)('0' + v / 10);
    w[1] = (char)('0' + v % 10);
}

int strata_timestamp_format(strata_timestamp ts, char *buf, size_t size)
{
    int y, mo, d, h, mi, s, us;
    if (!buf || size < STRATA_TIMESTAMP_BUFSIZE)
        return STRATA_E_MISUSE;
    int rc = strata_timestamp_to_parts(ts, &y, &mo, &d, &h, &mi, &s, &us);
    if (rc != STRATA_OK)
        return rc;
    /* "YYYY-MM-DD HH:MM:SS.ffffff", two digits at a time at their places
     * (the year is 1 to 9999): every bound timestamp passes through here,
     * and snprintf costs ten times as much. */
    put2(buf, y / 100);
    put2(buf + 2, y % 100);
    buf[4] = '-';
    put2(buf + 5, mo);
    buf[7] = '-';
    put2(buf + 8, d);
    buf[10] = ' ';
    put2(buf + 11, h);
    buf[13] = ':';
    put2(buf + 14, mi);
    buf[16] = ':';
    put2(buf + 17, s);
    buf[19] = '.';
    put2(buf + 20, us / 10000);
    put2(buf + 22, us / 100 % 100);
    put2(buf + 24, us % 100);
    buf[26] = '\0';
    return STRATA_OK;
}

/* Read exactly `n` digits at *p; advance.  -1 when they are not there. */
static int digits(const char **p, const char *end, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (*p >= end || (**p < '0' || **p > '9'))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    return v;
}

/* 8 bytes of t as one word, the first in the lowest byte. */
static uint64_t word_at(const char *t)
{
    uint64_t w;
    memcpy(&w, t, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* Non-zero when every byte of w that `digit` selects (0xff) is an ASCII
 * digit: its high half is 3 and adding 6 keeps it so (no byte of w is
 * carried into the next: a byte above 0xf9 fails the first test). */
static int all_digits(uint64_t w, uint64_t digit)
{
    const uint64_t high = 0xf0f0f0f0f0f0f0f0u & digit, three = 0x3030303030303030u & digit;
    return (w & high) == three && ((w + 0x0606060606060606u) & high) == three;
}

/* The number of the two digits at t (checked already). */
static int two(const char *t) { return (t[0] - '0') * 10 + (t[1] - '0'); }

/* "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DD HH:MM:SS.ffffff", as strata writes
 * timestamps (every row read back on SQLite is one): read by position,
 * the digits checked eight bytes at a time.  Anything else is
 * STRATA_E_TYPE, for the general reader to decide. */
static int parse_canonical(strata_timestamp *out, const char *t, size_t len)
{
    /* "YYYY-MM-DD HH:MM:SS", then "." and 1 to 6 digits: strata writes 6,
     * PostgreSQL drops the trailing zeros (and the point with them). */
    if (len < 19 || len == 20 || len > 26 || t[4] != '-' || t[7] != '-' || t[10] != ' ' ||
        t[13] != ':' || t[16] != ':' || (len > 19 && t[19] != '.'))
        return STRATA_E_TYPE;
    /* Bytes 0-7 "YYYY-MM-", 8-15 "DD HH:MM", 11-18 "HH:MM:SS": the digits. */
    if (!all_digits(word_at(t), 0x00ffff00ffffffffu) ||
        !all_digits(word_at(t + 8), 0xffff00ffff00ffffu) ||
        !all_digits(word_at(t + 11), 0xffff00ffff00ffffu))
        return STRATA_E_TYPE;
    int us = 0;
    if (len == 26) { /* bytes 18-25 "S.ffffff" */
        if (!all_digits(word_at(t + 18), 0xffffffffffff00ffu))
            return STRATA_E_TYPE;
        us = two(t + 20) * 10000 + two(t + 22) * 100 + two(t + 24);
    } else {
        for (size_t i = 20; i < 26; i++) {
            unsigned digit = i < len ? (unsigned)(t[i] - '0') : 0;
            if (digit > 9)
                return STRATA_E_TYPE;
            us = us * 10 + (int)digit;
        }
    }
    return strata_timestamp_from_parts(out, two(t) * 100 + two(t + 2), two(t + 5), two(t + 8),
                                       two(t + 11), two(t + 14), two(t + 17), us);
}

int strata_timestamp_parse(strata_timestamp *out, const char *text, size_t len)
{
    if (!out || !text)
        return STRATA_E_MISUSE;
    if (parse_canonical(out, text, len) == STRATA_OK)
        return STRATA_OK;
    const char *p = text, *end = text + len;
    int y, mo, d, h = 0, mi = 0, s = 0, us = 0;
    if ((y = digits(&p, end, 4)) < 0 || p >= end || *p++ != '-' || (mo = digits(&p, end, 2)) < 0 ||
        p >= end || *p++ != '-' || (d = digits(&p, end, 2)) < 0)
        return STRATA_E_TYPE;
    int64_t offset_sec = 0;
    if (p < end && (*p == ' ' || *p == 'T' || *p == 't')) {
        p++;
        if ((h = digits(&p, end, 2)) < 0 || p >= end || *p++ != ':' ||
            (mi = digits(&p, end, 2)) < 0)
            return STRATA_E_TYPE;
        if (p < end && *p == ':') {
            p++;
            if ((s = digits(&p, end, 2)) < 0)
                return STRATA_E_TYPE;
            if (p < end && *p == '.') {
                p++;
                int n = 0;
                while (p < end && *p >= '0' && *p <= '9') {
                    if (n < 6) {
                        us = us * 10 + (*p - '0');
                        n++;
                    }
                    p++;
                }
                if (n == 0)
                    return STRATA_E_TYPE;
                while (n++ < 6)
                    us *= 10;
            }
        }
        if (p < end && (*p == 'Z' || *p == 'z')) {
            p++;
        } else if (p < end && (*p == '+' || *p == '-')) {
            int sign = *p++ == '-' ? -1 : 1;
            int oh = digits(&p, end, 2), om = 0, os = 0;
            if (oh < 0)
                return STRATA_E_TYPE;
            if (p < end && *p == ':')
                p++;
            if (p < end && *p >= '0' && *p <= '9') {
                if ((om = digits(&p, end, 2)) < 0)
                    return STRATA_E_TYPE;
                if (p < end && *p == ':') { /* PostgreSQL prints +HH:MM:SS for old LMT zones */
                    p++;
                    if ((os = digits(&p, end, 2)) < 0)
                        return STRATA_E_TYPE;
                }
            }
            if (oh > 15 || om > 59 || os > 59)
                return STRATA_E_RANGE;
            offset_sec = sign * (oh * 3600 + om * 60 + os);
        }
    }
    if (p != end)
        return STRATA_E_TYPE;
    strata_timestamp local;
    int rc = strata_timestamp_from_parts(&local, y, mo, d, h, mi, s, us);
    if (rc != STRATA_OK)
        return rc;
    /* The offset may move the moment out of the years 1 to 9999
     * ("0001-01-01 00:00:00+01"), which nothing could then write. */
    strata_timestamp utc = local - offset_sec * USEC_PER_SEC;
    if (utc < TS_MIN || utc > TS_MAX)
        return STRATA_E_RANGE;
    *out = utc;
    return STRATA_OK;
}

strata_timestamp strata_timestamp_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * USEC_PER_SEC + tv.tv_usec;
}

strata_value strata_null(void) { return (strata_value){.type = STRATA_TYPE_NULL}; }
strata_value strata_int(int64_t v) { return (strata_value){.type = STRATA_TYPE_INT64, .u.i = v}; }
strata_value strata_bool(int v) { return (strata_value){.type = STRATA_TYPE_BOOL, .u.i = v != 0}; }
strata_value strata_double(double v)
{
    return (strata_value){.type = STRATA_TYPE_DOUBLE, .u.d = v};
}
strata_value strata_time(strata_timestamp ts)
{
    return (strata_value){.type = STRATA_TYPE_TIMESTAMP, .u.ts = ts};
}

strata_value strata_text(const char *text)
{
    if (!text)
        return strata_null();
    strata_value v = {.type = STRATA_TYPE_TEXT};
    v.u.buf.ptr = text;
    v.u.buf.len = strlen(text);
    return v;
}

strata_value strata_blob_value(const void *data, size_t len)
{
    strata_value v = {.type = STRATA_TYPE_BLOB};
    v.u.buf.ptr = data;
    v.u.buf.len = len;
    return v;
}

/* ---- conversions shared by the column getters ---------------------------- */

int strata__value_int64(const strata_value *v, int64_t *out)
{
    *out = 0;
    switch (v->type) {
    case STRATA_TYPE_NULL: return STRATA_NULL;
    case STRATA_TYPE_INT64:
    case STRATA_TYPE_BOOL: *out = v->u.i; return STRATA_OK;
    case STRATA_TYPE_DOUBLE:
        if (v->u.d == floor(v->u.d) && v->u.d >= -9223372036854775808.0 &&
            v->u.d < 9223372036854775808.0) {
            *out = (int64_t)v->u.d;
            return STRATA_OK;
        }
        return STRATA_E_TYPE;
    case STRATA_TYPE_TEXT: {
        const char *s = v->u.buf.ptr;
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (end != s && !*end && errno == 0) {
            *out = x;
            return STRATA_OK;
        }
        return STRATA_E_TYPE;
    }
    default: return STRATA_E_TYPE;
    }
}

int strata__value_double(const strata_value *v, double *out)
{
    *out = 0;
    switch (v->type) {
    case STRATA_TYPE_NULL: return STRATA_NULL;
    case STRATA_TYPE_INT64:
    case STRATA_TYPE_BOOL: *out = (double)v->u.i; return STRATA_OK;
    case STRATA_TYPE_DOUBLE: *out = v->u.d; return STRATA_OK;
    case STRATA_TYPE_TEXT: {
        const char *s = v->u.buf.ptr;
        char *end;
        double x = strtod(s, &end);
        if (end != s && !*end) {
            *out = x;
            return STRATA_OK;
        }
        return STRATA_E_TYPE;
    }
    default: return STRATA_E_TYPE;
    }
}
