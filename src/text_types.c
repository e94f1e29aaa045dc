/*
 * text_types.c - the portable types a C program holds as text (numeric,
 * uuid, json), checked and put in canonical form the way PostgreSQL reads
 * them, so SQLite, which would store any text, keeps the same values.
 */
#include <ctype.h>
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

static bool json_string(jp *j)
{
    if (*j->p != '"')
        return false;
    for (j->p++;; j->p++) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            return true;
        }
        if (c < 0x20)
            return false; /* the end, or a control character */
        if (c == '\\') {
            j->p++;
            if (*j->p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)j->p[i]))
                        return false;
                j->p += 4;
            } else if (!strchr("\"\\/bfnrt", *j->p) || !*j->p) {
                return false;
            }
        }
    }
}

static bool json_number(jp *j)
{
    const char *p = j->p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (isdigit((unsigned char)*p))
            p++;
    else
        return false;
    if (*p == '.') {
        if (!isdigit((unsigned char)*++p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
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
    if (++j->depth > 1000) /* deeper than PostgreSQL's stack would go */
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
    *at = (size_t)(j.p - v);
    return ok;
}
