/*
 * fuzz_url.c - the URL reader never lets a password out.
 *
 * Input: "PASSWORD\nTEMPLATE".  TEMPLATE is a URL, or libpq key=value text,
 * where "{}" marks the place of the password.  The target puts the
 * password there and runs strata_url_parse, strata_url_redacted,
 * strata_url_errmsg and strata_url_redact on the result, and, only when the
 * URL does not parse (so nothing can be opened), strata_db_open with
 * strata_db_errmsg and strata_db_url.  The property: when the marker is in
 * a password's place, no part of the password of 4 bytes or more, as
 * written or decoded, appears in those outputs (a password redacted only up
 * to a ';' leaves its end there).  A password's place is
 *
 *   user info    scheme://USER:{}@...          USER without : / ? # @
 *   a later URL  ... scheme://USER:{}@...      after white space, USER
 *                                               without : / ? # @ or blanks
 *   a parameter  scheme://...?...&KEY={}[&...] KEY password or sslpassword,
 *                                               any case, percent-encoded
 *                                               or not ("pass%77ord")
 *   conninfo     ... KEY={} ...  or  KEY='{}'  text without "://"
 *
 * Each is tried with the password as is (when it can stand there as is:
 * no '@' in user info, no '&' in a parameter, no blank or quote unquoted)
 * and percent-encoded (URLs) or quoted with backslash escapes (conninfo).
 *
 * The password must have 4 to 64 bytes, no newline, and occur nowhere in
 * the template; a part of it counts only when it is not in the template
 * and holds a letter or digit.  A part can still be in an output by
 * chance, because the library's own text holds it ("data" is in "database
 * name").  So a finding is confirmed with a second password, the first
 * with each letter and digit swapped for another of its kind (hex digits
 * stay hex digits, so the URL reads the same): a real leak shows the same
 * part of that one too.
 *
 * A marker anywhere else, or none, still runs everything, for the
 * sanitizers.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "strata.h"

#define MARKER "{}"
#define MIN_PASSWORD 4
#define MAX_PASSWORD 64

enum place {
    PLACE_NONE,
    PLACE_USERINFO,
    PLACE_LATER_USERINFO,
    PLACE_PARAM,
    PLACE_CONNINFO,
    PLACE_CONNINFO_QUOTED
};

/* ---- small string helpers ------------------------------------------------ */

static char *xmalloc(size_t n)
{
    char *p = malloc(n ? n : 1);
    if (!p)
        fuzz_fail("out of memory");
    return p;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s[0..n) percent-decoded; NULL when an escape is bad or decodes to NUL. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int h = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int l = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (h < 0 || l < 0 || h * 16 + l == 0) {
                free(out);
                return NULL;
            }
            *o++ = (char)(h * 16 + l);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* Every byte but A-Z a-z 0-9 - . _ ~ as %XX. */
static char *pct_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = xmalloc(3 * strlen(s) + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* libpq's quoted value: ' and \ escaped with a backslash. */
static char *conninfo_quote(const char *s)
{
    char *out = xmalloc(2 * strlen(s) + 1), *o = out;
    for (; *s; s++) {
        if (*s == '\'' || *s == '\\')
            *o++ = '\\';
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

/* The other password: each letter and digit replaced by another of its
 * class, hex digits by hex digits, so the URL parses the same way. */
static char *swap_password(const char *s)
{
    char *out = xmalloc(strlen(s) + 1), *o = out;
    for (; *s; s++) {
        char c = *s;
        if (c >= '0' && c <= '9')
            c = (char)('0' + (c - '0' + 5) % 10);
        else if (c >= 'a' && c <= 'f')
            c = (char)('a' + (c - 'a' + 3) % 6);
        else if (c >= 'g' && c <= 'z')
            c = (char)('g' + (c - 'g' + 10) % 20);
        else if (c >= 'A' && c <= 'F')
            c = (char)('A' + (c - 'A' + 3) % 6);
        else if (c >= 'G' && c <= 'Z')
            c = (char)('G' + (c - 'G' + 10) % 20);
        *o++ = c;
    }
    *o = '\0';
    return out;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Length of "scheme://" at the start of t, or 0. */
static size_t scheme_prefix(const char *t)
{
    size_t i = 0;
    if (!((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z')))
        return 0;
    while ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
           (t[i] >= '0' && t[i] <= '9') || (t[i] && strchr("+-.", t[i])))
        i++;
    return strncmp(t + i, "://", 3) == 0 ? i + 3 : 0;
}

/* t[start..end) names a secret: password or sslpassword, any case, after
 * percent-decoding when `decode`. */
static bool secret_key(const char *t, size_t start, size_t end, bool decode)
{
    char *key = decode ? pct_decode(t + start, end - start) : NULL;
    if (!decode) {
        key = xmalloc(end - start + 1);
        memcpy(key, t + start, end - start);
        key[end - start] = '\0';
    }
    bool yes = key && (!strcasecmp(key, "password") || !strcasecmp(key, "sslpassword"));
    free(key);
    return yes;
}

/* Is the marker at t[k] the password of a URL after white space,
 * "scheme://USER:{}@"? */
static bool later_userinfo(const char *t, size_t k)
{
    if (k < 5 || t[k - 1] != ':' || t[k + strlen(MARKER)] != '@')
        return false;
    size_t u = k - 1;
    while (u > 0 && !strchr(":/?#@", t[u - 1]) && !is_blank(t[u - 1]) && t[u - 1] != '\n')
        u--;
    if (u < 4 || strncmp(t + u - 3, "://", 3) != 0)
        return false;
    for (size_t b = u - 3; b > 0; b--)
        if (is_blank(t[b - 1]) || t[b - 1] == '\n')
            return scheme_prefix(t + b) == u - b;
    return false;
}

/* Where the marker at t[k] stands. */
static enum place classify(const char *t, size_t k)
{
    size_t after = k + strlen(MARKER);
    if (later_userinfo(t, k))
        return PLACE_LATER_USERINFO;
    size_t s = scheme_prefix(t);
    if (s) {
        /* scheme://USER:{}@ */
        size_t colon = s + strcspn(t + s, ":/?#@");
        if (t[colon] == ':' && colon + 1 == k && t[after] == '@')
            return PLACE_USERINFO;
        /* ...?...KEY={} ending the template or followed by '&'; the query
         * starts at the first '?' after the scheme. */
        const char *q = strchr(t + s, '?');
        if (!q || k < 2 || t[k - 1] != '=' || (t[after] && t[after] != '&'))
            return PLACE_NONE;
        size_t ks = k - 1;
        while (ks > 0 && t[ks - 1] != '?' && t[ks - 1] != '&')
            ks--;
        if ((size_t)(q - t) + 1 > ks)
            return PLACE_NONE;
        return secret_key(t, ks, k - 1, true) ? PLACE_PARAM : PLACE_NONE;
    }
    if (strstr(t, "://"))
        return PLACE_NONE;
    /* conninfo: KEY={} or KEY='{}' between blanks */
    bool quoted = k >= 2 && t[k - 1] == '\'' && t[k - 2] == '=' && t[after] == '\'';
    size_t eq = quoted ? k - 2 : k - 1;
    if (k < 1 || t[eq] != '=')
        return PLACE_NONE;
    size_t end = quoted ? after + 1 : after;
    if (t[end] && !is_blank(t[end]))
        return PLACE_NONE;
    size_t ks = eq;
    while (ks > 0 && !is_blank(t[ks - 1]))
        ks--;
    if (!secret_key(t, ks, eq, false))
        return PLACE_NONE;
    return quoted ? PLACE_CONNINFO_QUOTED : PLACE_CONNINFO;
}

/* t with its first marker replaced by `with`. */
static char *substitute(const char *t, size_t k, const char *with)
{
    size_t tl = strlen(t), wl = strlen(with), ml = strlen(MARKER);
    char *out = xmalloc(tl - ml + wl + 1);
    memcpy(out, t, k);
    memcpy(out + k, with, wl);
    memcpy(out + k + wl, t + k + ml, tl - k - ml + 1);
    return out;
}

/* ---- one run ------------------------------------------------------------- */

typedef struct outputs {
    const char *what[5];
    char *text[5];
    int n;
} outputs;

static void put(outputs *o, const char *what, const char *text)
{
    o->what[o->n] = what;
    o->text[o->n] = text ? strdup(text) : NULL;
    if (text && !o->text[o->n])
        fuzz_fail("out of memory");
    o->n++;
}

static void outputs_free(outputs *o)
{
    for (int i = 0; i < o->n; i++)
        free(o->text[i]);
    o->n = 0;
}

/* Everything strata shows about `url`. */
static void run(const char *url, outputs *o)
{
    o->n = 0;
    strata_url *u = NULL;
    int rc = strata_url_parse(&u, url);
    if (!u)
        fuzz_fail("strata_url_parse left no URL (rc %d)", rc);
    put(o, "strata_url_redacted", strata_url_redacted(u));
    put(o, "strata_url_errmsg", strata_url_errmsg(u));
    if ((rc == STRATA_OK) != (strata_url_backend(u) != NULL))
        fuzz_fail("\"%s\": rc %d but backend %s", url, rc, strata_url_backend(u));
    if (rc == STRATA_OK && !*strata_url_backend(u))
        fuzz_fail("\"%s\": empty backend name", url);
    strata_url_free(u);

    char *r = strata_url_redact(url);
    if (!r)
        fuzz_fail("strata_url_redact returned NULL");
    put(o, "strata_url_redact", r);
    strata_free(r);

    /* Only a URL that does not parse is opened: strata_db_open creates a
     * file for sqlite URLs and connects for postgresql ones. */
    if (rc != STRATA_OK) {
        strata_db *db = NULL;
        int orc = strata_db_open(&db, url);
        if (!db)
            fuzz_fail("strata_db_open left no handle");
        if (orc == STRATA_OK)
            fuzz_fail("\"%s\" opened although it does not parse", url);
        put(o, "strata_db_errmsg", strata_db_errmsg(db));
        put(o, "strata_db_url", strata_db_url(db));
        strata_db_close(db);
    }
}

/* The password as it goes in, for `place` and `encoded`; NULL when it
 * cannot stand there that way. */
static char *password_form(enum place place, bool encoded, const char *pw)
{
    switch (place) {
    case PLACE_USERINFO: return encoded ? pct_encode(pw) : strchr(pw, '@') ? NULL : strdup(pw);
    case PLACE_LATER_USERINFO:
        if (encoded)
            return pct_encode(pw);
        for (const char *p = pw; *p; p++)
            if (is_blank(*p) || *p == '@')
                return NULL;
        return strdup(pw);
    case PLACE_PARAM: return encoded ? pct_encode(pw) : strchr(pw, '&') ? NULL : strdup(pw);
    case PLACE_CONNINFO:
        if (encoded)
            return NULL;
        for (const char *p = pw; *p; p++)
            if (is_blank(*p) || *p == '\'' || *p == '\\')
                return NULL;
        return strdup(pw);
    case PLACE_CONNINFO_QUOTED: return encoded ? NULL : conninfo_quote(pw);
    case PLACE_NONE: break;
    }
    return NULL;
}

/* One run of the template with a password in one form: the URL, what
 * strata showed, and the forms of the password to look for in it (as
 * written, as given, as the URL decodes it; NULL when shorter than
 * MIN_PASSWORD). */
typedef struct trial {
    char *url;
    outputs o;
    char *needles[3];
} trial;

static bool trial_run(trial *tr, const char *t, size_t k, enum place place, bool encoded,
                      const char *pw)
{
    char *form = password_form(place, encoded, pw);
    if (!form)
        return false;
    tr->needles[0] = strdup(form);
    tr->needles[1] = strdup(pw);
    tr->needles[2] = place == PLACE_USERINFO || place == PLACE_PARAM
                         ? pct_decode(form, strlen(form)) /* what the URL means */
                         : NULL;
    for (int i = 0; i < 3; i++)
        if (tr->needles[i] && strlen(tr->needles[i]) < MIN_PASSWORD) {
            free(tr->needles[i]);
            tr->needles[i] = NULL;
        }
    tr->url = substitute(t, k, form);
    free(form);
    run(tr->url, &tr->o);
    return true;
}

static void trial_free(trial *tr)
{
    free(tr->url);
    outputs_free(&tr->o);
    for (int i = 0; i < 3; i++)
        free(tr->needles[i]);
}

/* The MIN_PASSWORD bytes at w, as a string. */
static void window(char out[MIN_PASSWORD + 1], const char *w)
{
    memcpy(out, w, MIN_PASSWORD);
    out[MIN_PASSWORD] = '\0';
}

/* A window of the password that can only be in an output by a leak: it
 * holds a letter or digit (so the other password changes it) and is not
 * in the template. */
static bool telling(const char *w, const char *t)
{
    bool alnum = false;
    for (int i = 0; i < MIN_PASSWORD; i++)
        alnum |= (w[i] >= 'a' && w[i] <= 'z') || (w[i] >= 'A' && w[i] <= 'Z') ||
                 (w[i] >= '0' && w[i] <= '9');
    return alnum && !strstr(t, w);
}

/* The index of an output of tr holding w, or -1. */
static int shown_in(const trial *tr, const char *w)
{
    for (int i = 0; i < tr->o.n; i++)
        if (tr->o.text[i] && strstr(tr->o.text[i], w))
            return i;
    return -1;
}

/* Any MIN_PASSWORD bytes of the password showing is a leak: a password
 * redacted up to a ';' leaves its end in the URL. */
static void check_place(const char *t, size_t k, enum place place, const char *pw)
{
    char *swapped = swap_password(pw);
    bool can_confirm = strcmp(swapped, pw) != 0 && !strstr(t, swapped);
    for (int encoded = 0; encoded <= 1; encoded++) {
        trial a = {0}, b = {0};
        if (!trial_run(&a, t, k, place, encoded, pw))
            continue;
        bool have_b = false;
        for (int n = 0; n < 3; n++) {
            const char *na = a.needles[n];
            size_t len = na ? strlen(na) : 0;
            for (size_t i = 0; i + MIN_PASSWORD <= len; i++) {
                char wa[MIN_PASSWORD + 1], wb[MIN_PASSWORD + 1];
                window(wa, na + i);
                int at = telling(wa, t) ? shown_in(&a, wa) : -1;
                if (at < 0 || !can_confirm)
                    continue;
                /* Confirm with the other password: the same bytes of it
                 * must show the same way. */
                if (!have_b && !(have_b = trial_run(&b, t, k, place, encoded, swapped)))
                    break;
                const char *nb = b.needles[n];
                if (!nb || strlen(nb) != len)
                    continue;
                window(wb, nb + i);
                if (telling(wb, t) && shown_in(&b, wb) >= 0)
                    fuzz_fail("password \"%s\": \"%s\" shows: URL \"%s\" -> %s: \"%s\"", na, wa,
                              a.url, a.o.what[at], a.o.text[at]);
            }
        }
        trial_free(&a);
        if (have_b)
            trial_free(&b);
    }
    free(swapped);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fuzz_cstr(data, size);
    char *nl = strchr(in, '\n');
    if (!nl) {
        /* No password: the whole input is a URL, for the sanitizers. */
        outputs o;
        run(in, &o);
        outputs_free(&o);
        free(in);
        return 0;
    }
    *nl = '\0';
    const char *pw = in, *t = nl + 1;
    const char *m = strstr(t, MARKER);
    enum place place = m ? classify(t, (size_t)(m - t)) : PLACE_NONE;
    size_t pwlen = strlen(pw);
    if (place != PLACE_NONE && pwlen >= MIN_PASSWORD && pwlen <= MAX_PASSWORD && !strstr(t, pw)) {
        check_place(t, (size_t)(m - t), place, pw);
    } else {
        char *u = m ? substitute(t, (size_t)(m - t), pw) : strdup(t);
        if (!u)
            fuzz_fail("out of memory");
        outputs o;
        run(u, &o);
        outputs_free(&o);
        free(u);
    }
    free(in);
    return 0;
}
