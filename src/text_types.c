/*
 * text_types.c - the portable types a C program holds as text (numeric,
 * uuid, json), checked and put in canonical form the way PostgreSQL reads
 * them, so SQLite, which would store any text, keeps the same values.
 */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orm_internal.h"

int strata__numeric_round(const char *v, int prec, int scale, char **out)
{
    *out = NULL;
    const char *p = v;
    while (isspace((unsigned char)*p))
        p++;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    const char *ip = p;
    while (isdigit((unsigned char)*p))
        p++;
    size_t ni = (size_t)(p - ip);
    const char *fp = NULL;
    size_t nf = 0;
    if (*p == '.') {
        fp = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        nf = (size_t)(p - fp);
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p || ni + nf == 0)
        return STRATA_E_DATA;
    while (ni > 1 && *ip == '0') { /* leading zeros */
        ip++;
        ni--;
    }
    if (ni == 1 && *ip == '0')
        ni = 0;
    /* Without a scale the digits stay as they are (PostgreSQL's plain
     * numeric keeps them all). */
    size_t keep = scale >= 0 ? (size_t)scale : nf;
    /* digits: the integer part, then `keep` decimals, one more in front
     * for a carry. */
    size_t nd = 1 + ni + keep;
    char *d = malloc(nd + 3);
    if (!d)
        return STRATA_E_NOMEM;
    d[0] = '0';
    memcpy(d + 1, ip, ni);
    for (size_t i = 0; i < keep; i++)
        d[1 + ni + i] = i < nf ? fp[i] : '0';
    /* Half away from zero, as PostgreSQL rounds numeric. */
    if (keep < nf && fp[keep] >= '5')
        for (size_t i = nd; i-- > 0;) {
            if (d[i] != '9') {
                d[i]++;
                break;
            }
            d[i] = '0';
        }
    size_t first = 0; /* the integer part's first significant digit */
    while (first < nd - keep && d[first] == '0')
        first++;
    size_t int_digits = nd - keep - first;
    if (prec > 0 && scale >= 0 && int_digits > (size_t)(prec - scale)) {
        free(d);
        return STRATA_E_RANGE;
    }
    bool zero = true;
    for (size_t i = 0; i < nd; i++)
        zero = zero && d[i] == '0';
    char *t = malloc(nd + 4);
    if (!t) {
        free(d);
        return STRATA_E_NOMEM;
    }
    size_t w = 0;
    if (neg && !zero)
        t[w++] = '-';
    if (int_digits == 0)
        t[w++] = '0';
    memcpy(t + w, d + first, int_digits);
    w += int_digits;
    if (keep > 0) {
        t[w++] = '.';
        memcpy(t + w, d + nd - keep, keep);
        w += keep;
    }
    t[w] = '\0';
    free(d);
    *out = t;
    return STRATA_OK;
}

int strata_driver_format_decimal(double d, int scale, char *buf, size_t cap)
{
    if (isnan(d) || isinf(d)) {
        const char *t = isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";
        return snprintf(buf, cap, "%s", t) < (int)cap ? STRATA_OK : STRATA_E_RANGE;
    }
    /* The shortest scientific form that reads back as d: "1.25e-01". */
    char sci[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    char digits[24];
    size_t nd = 0;
    const char *p = sci;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p) && nd < sizeof digits)
            digits[nd++] = *p;
    long e = *p == 'e' ? strtol(p + 1, NULL, 10) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    /* Plain notation: the point after digit e + 1. */
    char plain[400];
    size_t w = 0;
    if (neg)
        plain[w++] = '-';
    if (e >= 0) {
        for (long i = 0; i <= e && w < sizeof plain - 4; i++)
            plain[w++] = (size_t)i < nd ? digits[i] : '0';
        if ((size_t)e + 1 < nd) {
            plain[w++] = '.';
            for (size_t i = (size_t)e + 1; i < nd && w < sizeof plain - 2; i++)
                plain[w++] = digits[i];
        }
    } else {
        plain[w++] = '0';
        plain[w++] = '.';
        for (long i = 0; i < -e - 1 && w < sizeof plain - 2 - nd; i++)
            plain[w++] = '0';
        for (size_t i = 0; i < nd && w < sizeof plain - 2; i++)
            plain[w++] = digits[i];
    }
    plain[w] = '\0';
    char *canon = NULL;
    int rc = strata__numeric_round(plain, 0, scale, &canon);
    if (rc != STRATA_OK)
        return rc;
    rc = snprintf(buf, cap, "%s", canon) < (int)cap ? STRATA_OK : STRATA_E_RANGE;
    free(canon);
    return rc;
}

/* ---- JSON (RFC 8259), checked, not rewritten ------------------------------ */

typedef struct jp {
    const char *p;
    int depth;
} jp;

static void json_space(jp *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

static bool json_value(jp *j);

/* The code unit of \uXXXX at p (p at the 'u'), or -1. */
static long json_u(const char *p)
{
    if (*p != 'u')
        return -1;
    long v = 0;
    for (int i = 1; i <= 4; i++) {
        if (!isxdigit((unsigned char)p[i]))
            return -1;
        v = v * 16 + (isdigit((unsigned char)p[i]) ? p[i] - '0' : (p[i] | 0x20) - 'a' + 10);
    }
    return v;
}

/* Bytes of the UTF-8 sequence at p, or 0 when it is not one. */
static int utf8_len(const unsigned char *p)
{
    int n = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3
                          : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 2 && p[0] < 0xC2)
        return 0; /* overlong */
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if (n == 3 && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0)))
        return 0; /* overlong, or a surrogate */
    if (n == 4 && ((p[0] == 0xF0 && p[1] < 0x90) || p[0] > 0xF4 || (p[0] == 0xF4 && p[1] >= 0x90)))
        return 0;
    return n;
}

static bool json_string(jp *j)
{
    if (*j->p != '"')
        return false;
    for (j->p++;;) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            return true;
        }
        if (c < 0x20)
            return false; /* the end, or a control character */
        if (c != '\\') {
            int n = utf8_len((const unsigned char *)j->p);
            if (!n)
                return false;
            j->p += n;
            continue;
        }
        j->p++;
        long u = json_u(j->p);
        if (u == 0)
            return false; /* jsonb cannot hold \u0000 */
        if (u >= 0xDC00 && u <= 0xDFFF)
            return false; /* a low surrogate alone */
        if (u >= 0xD800 && u <= 0xDBFF) { /* a high one needs its low one */
            long lo = j->p[5] == '\\' ? json_u(j->p + 6) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return false;
            j->p += 6;
        }
        if (u >= 0)
            j->p += 5;
        else if (*j->p && strchr("\"\\/bfnrt", *j->p))
            j->p++;
        else
            return false;
    }
}

/* A JSON number, checked against what PostgreSQL's numeric holds
 * (jsonb keeps numbers so): its first digit that is not zero at most
 * 131071 places before the point, at most 16383 digits after the point
 * (those written, less the exponent), and an exponent under 2^30. */
static bool json_number(jp *j)
{
    const char *p = j->p;
    if (*p == '-')
        p++;
    long whole = 0, frac = 0, lead = LONG_MIN; /* lead: the first nonzero digit's place */
    if (*p == '0') {
        p++;
        whole = 1;
    } else if (*p >= '1' && *p <= '9') {
        const char *start = p;
        while (isdigit((unsigned char)*p))
            p++;
        whole = (long)(p - start);
        lead = whole - 1;
    } else {
        return false;
    }
    if (*p == '.') {
        if (!isdigit((unsigned char)*++p))
            return false;
        for (; isdigit((unsigned char)*p); p++) {
            frac++;
            if (lead == LONG_MIN && *p != '0')
                lead = -frac;
        }
    }
    long e = 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        bool neg = *p == '-';
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p)) {
            if (e < 4000000000L)
                e = e * 10 + (*p - '0');
            p++;
        }
        if (e >= 1073741823L)
            return false;
        if (neg)
            e = -e;
    }
    long scale = frac - e > 0 ? frac - e : 0;
    if (scale > 16383 || (lead != LONG_MIN && lead + e >= 131072))
        return false;
    j->p = p;
    return true;
}

static bool json_items(jp *j, char close, bool object)
{
    j->p++;
    json_space(j);
    if (*j->p == close) {
        j->p++;
        return true;
    }
    for (;;) {
        json_space(j);
        if (object) {
            if (!json_string(j))
                return false;
            json_space(j);
            if (*j->p++ != ':')
                return false;
        }
        if (!json_value(j))
            return false;
        json_space(j);
        if (*j->p == close) {
            j->p++;
            return true;
        }
        if (*j->p++ != ',')
            return false;
    }
}

static bool json_value(jp *j)
{
    json_space(j);
    if (++j->depth > 4000) /* a guard for this recursion, past any real document */
        return false;
    bool ok;
    switch (*j->p) {
    case '{': ok = json_items(j, '}', true); break;
    case '[': ok = json_items(j, ']', false); break;
    case '"': ok = json_string(j); break;
    case 't': ok = !strncmp(j->p, "true", 4) && (j->p += 4); break;
    case 'f': ok = !strncmp(j->p, "false", 5) && (j->p += 5); break;
    case 'n': ok = !strncmp(j->p, "null", 4) && (j->p += 4); break;
    default: ok = json_number(j); break;
    }
    j->depth--;
    json_space(j);
    return ok;
}

bool strata__json_valid(const char *v, size_t *at)
{
    jp j = {v, 0};
    bool ok = json_value(&j) && *j.p == '\0';
    if (at)
        *at = (size_t)(j.p - v);
    return ok;
}

static bool hexdigits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

bool strata__uuid_canonical(const char *v, size_t n, char out[37])
{
    if (n >= 2 && v[0] == '{' && v[n - 1] == '}')
        v++, n -= 2;
    char hex[32];
    if (n == 36 && strata__uuid_text(v, n)) {
        for (size_t i = 0, k = 0; i < n; i++)
            if (v[i] != '-')
                hex[k++] = v[i];
    } else if (n == 32 && hexdigits(v, 32)) {
        memcpy(hex, v, 32);
    } else {
        return false;
    }
    for (int i = 0, k = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[k++] = '-';
        out[k++] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] - 'A' + 'a' : hex[i]);
    }
    out[36] = '\0';
    return true;
}

bool strata__uuid_text(const char *v, size_t n)
{
    return n == 36 && v[8] == '-' && v[13] == '-' && v[18] == '-' && v[23] == '-' &&
           hexdigits(v, 8) && hexdigits(v + 9, 4) && hexdigits(v + 14, 4) && hexdigits(v + 19, 4) &&
           hexdigits(v + 24, 12);
}
