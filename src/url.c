/*
 * url.c - the one URL reader: parsing, redaction and every message about a
 * URL come from the same reading, so they cannot disagree about where a
 * password or a parameter value ends.
 *
 * A URL is read in two steps.  read_url() splits the text by libpq's URI
 * rules (the rules of the library most URLs end up in) and never fails:
 *
 *   scheme[+driver] "://" [user[:password] "@"] hosts ["/" path] ["?" query]
 *
 * where the user-info ends at the first '@' before the first '/', the host
 * list ends at the first '/' or '?', and each query value ends at the next
 * '&'.  Keys are percent-decoded before they are compared, so pass%77ord=
 * is a password.  The reading yields the spans that hold secrets: the
 * password and the value of every secret parameter libpq knows.
 *
 * validate() then checks the reading.  When the URL is valid, exactly those
 * spans are hidden.  When it is not, the reader cannot know what the user
 * meant, so it hides more (redact first, then describe): everything from
 * the first ':' of the user-info to the last '@' of the text (a password
 * holding '/', '@' or '?' ends there), and everything after a secret key.
 * Messages never copy URL text directly: they quote pieces through quote(),
 * which puts "***" over any hidden byte.
 *
 * Text that is not a URL (a libpq "key=value" conninfo string) is read by
 * conninfo rules in strata_url_redact().
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine.h"
#include "internal.h"

/* Parameters whose values are secrets, in every engine's URLs: the ones
 * libpq shows as "*" in its option list. */
static const char *const secret_keys[] = {"password", "sslpassword", "oauth_client_secret", NULL};

typedef struct url_span {
    size_t off, len;
} url_span;

typedef struct url_param {
    url_span key, value; /* value.len == 0 and !has_value: no '=' */
    bool has_value;
    bool extra_eq; /* a second '=' in the value */
} url_param;

/* The structural reading of a URL text; offsets into `text`. */
typedef struct url_reading {
    const char *text;
    size_t n;
    size_t scheme_len; /* text[0..scheme_len) is a well-formed scheme; 0: none */
    bool slashes;      /* "://" follows the scheme */
    size_t auth;       /* start of user-info / hosts */
    bool has_userinfo;
    url_span user;
    bool has_password;
    url_span password;
    url_span hosts;
    bool has_path;
    url_span path;
    bool has_query;
    url_param *params;
    size_t nparams;
    url_span *masks; /* hidden byte ranges, sorted, not overlapping */
    size_t nmasks;
    bool nomem;
} url_reading;

struct strata_url {
    char *redacted;
    char *conninfo; /* URL without the +driver suffix, for the driver */
    char *errmsg;
    const strata_driver *driver;
    char *database;
    char **secrets; /* every secret, raw and decoded, for scrubbing messages */
    size_t nsecrets;
    size_t nparams;
    char **keys;
    char **values;
};

/* ---- spans and masks ------------------------------------------------------ */

static void add_mask(url_reading *r, size_t off, size_t len)
{
    if (len == 0 || r->nomem)
        return;
    url_span *m = realloc(r->masks, (r->nmasks + 1) * sizeof *m);
    if (!m) {
        r->nomem = true;
        return;
    }
    r->masks = m;
    /* Insert sorted by offset, then merge overlapping neighbours. */
    size_t i = r->nmasks;
    while (i > 0 && m[i - 1].off > off) {
        m[i] = m[i - 1];
        i--;
    }
    m[i].off = off;
    m[i].len = len;
    r->nmasks++;
    size_t w = 0;
    for (size_t k = 1; k < r->nmasks; k++) {
        size_t end = m[w].off + m[w].len;
        if (m[k].off <= end) {
            size_t kend = m[k].off + m[k].len;
            if (kend > end)
                m[w].len = kend - m[w].off;
        } else {
            m[++w] = m[k];
        }
    }
    r->nmasks = w + 1;
}

/* Append text[off, off+len) with every hidden byte range shown as ***. */
static void put_masked(strata__sb *sb, const url_reading *r, size_t off, size_t len)
{
    size_t end = off + len, p = off;
    for (size_t i = 0; i < r->nmasks && p < end; i++) {
        size_t ms = r->masks[i].off, me = ms + r->masks[i].len;
        if (me <= p)
            continue;
        if (ms >= end)
            break;
        if (ms > p)
            strata__sb_putn(sb, r->text + p, ms - p);
        strata__sb_puts(sb, "***");
        p = me;
    }
    if (p < end)
        strata__sb_putn(sb, r->text + p, end - p);
}

static char *redact_conninfo(const char *text);

/* A piece of a URL that failed to validate, for a message: hidden bytes
 * as ***, and any "password=..." left in it hidden by conninfo's rules
 * (the text may be a conninfo string given where a URL belongs).  Caller
 * frees; NULL when out of memory. */
static char *cautious_piece(const url_reading *r, size_t off, size_t len)
{
    strata__sb sb;
    strata__sb_init(&sb);
    put_masked(&sb, r, off, len);
    char *masked = strata__sb_take(&sb);
    char *out = masked ? redact_conninfo(masked) : NULL;
    free(masked);
    return out;
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

typedef enum { DEC_OK, DEC_BAD_ESCAPE, DEC_NUL, DEC_NOMEM } dec_result;

/* Percent-decode s[0..n) into *out (caller frees).  On a bad escape or a
 * %00, *out is NULL and *bad is the offset of the escape within s. */
static dec_result pct_decode(const char *s, size_t n, char **out, size_t *bad)
{
    *out = NULL;
    char *buf = malloc(n + 1), *o = buf;
    if (!buf)
        return DEC_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int h = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
        int l = h >= 0 && i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
        if (h < 0 || l < 0 || h * 16 + l == 0) {
            free(buf);
            *bad = i;
            return h < 0 || l < 0 ? DEC_BAD_ESCAPE : DEC_NUL;
        }
        *o++ = (char)(h * 16 + l);
        i += 2;
    }
    *o = '\0';
    *out = buf;
    return DEC_OK;
}

/* For a URL that failed to validate: does the key, decoded, so much as
 * mention a secret ("x?password", "PGPASSWORD")?  Another reader may split
 * it differently. */
static bool mentions_secret(const char *text, url_span key)
{
    char *k;
    size_t bad;
    if (pct_decode(text + key.off, key.len, &k, &bad) != DEC_OK)
        return true;
    bool secret = false;
    for (char *p = k; *p && !secret; p++)
        secret = !strncasecmp(p, "password", 8) || !strncasecmp(p, "secret", 6);
    free(k);
    return secret;
}

static bool is_secret_key(const char *text, url_span key)
{
    char *k;
    size_t bad;
    dec_result d = pct_decode(text + key.off, key.len, &k, &bad);
    if (d != DEC_OK)
        return true; /* cannot tell: treat as secret */
    bool secret = false;
    for (size_t i = 0; secret_keys[i] && !secret; i++)
        secret = strcasecmp(k, secret_keys[i]) == 0;
    free(k);
    return secret;
}

/* ---- step 1: the structural reading ---------------------------------------- */

static size_t find_from(const char *t, size_t from, size_t to, char c)
{
    for (size_t i = from; i < to; i++)
        if (t[i] == c)
            return i;
    return to;
}

static void read_query(url_reading *r, size_t q)
{
    size_t n = r->n;
    while (q <= n) {
        size_t amp = find_from(r->text, q, n, '&');
        if (amp > q) {
            url_param *np = realloc(r->params, (r->nparams + 1) * sizeof *np);
            if (!np) {
                r->nomem = true;
                return;
            }
            r->params = np;
            url_param *p = &r->params[r->nparams++];
            memset(p, 0, sizeof *p);
            size_t eq = find_from(r->text, q, amp, '=');
            p->key = (url_span){q, eq - q};
            if (eq < amp) {
                p->has_value = true;
                p->value = (url_span){eq + 1, amp - eq - 1};
                p->extra_eq = find_from(r->text, eq + 1, amp, '=') < amp;
                if (is_secret_key(r->text, p->key))
                    add_mask(r, p->value.off, p->value.len);
            }
        }
        q = amp + 1;
    }
}

/* Split `text` by libpq's URI rules; sets the precise masks. */
/* Text can hold more than one URL.  Read as one, a second URL is part of
 * the first's database name or of a parameter's value, and its password
 * would be shown with it.  So the password of every "scheme://user:pw@"
 * after `from` is hidden too: from the first ':' after "://" to the last
 * '@' before white space (a password holding '@' or '/' ends there). */
static void mask_later_urls(url_reading *r, size_t from)
{
    const char *t = r->text;
    for (size_t s = from; s + 3 <= r->n; s++) {
        if (strncmp(t + s, "://", 3) != 0)
            continue;
        size_t a = s + 3, end = a, at = r->n;
        for (; end < r->n && !isspace((unsigned char)t[end]); end++)
            if (t[end] == '@')
                at = end;
        size_t colon = at < r->n ? find_from(t, a, at, ':') : at;
        if (colon < at)
            add_mask(r, colon + 1, at - colon - 1);
        s = end > s ? end - 1 : s;
    }
}

static void read_url(url_reading *r, const char *text)
{
    memset(r, 0, sizeof *r);
    r->text = text;
    r->n = strlen(text);
    size_t n = r->n, i = 0;
    if (n && isalpha((unsigned char)text[0])) {
        while (i < n && (isalnum((unsigned char)text[i]) || strchr("+-.", text[i])))
            i++;
        if (i < n && text[i] == ':')
            r->scheme_len = i;
    }
    size_t a = r->scheme_len ? r->scheme_len + 1 : 0;
    if (r->scheme_len && strncmp(text + a, "//", 2) == 0) {
        r->slashes = true;
        a += 2;
    } else {
        while (a < n && text[a] == '/' && a < r->scheme_len + 3)
            a++; /* "scheme:/x" and "scheme:x": read on as if "//" were there */
    }
    r->auth = a;

    /* User-info: up to the first '@' before the first '/'. */
    size_t slash = find_from(text, a, n, '/');
    size_t at = find_from(text, a, slash, '@');
    size_t h = a;
    if (at < slash) {
        r->has_userinfo = true;
        size_t colon = find_from(text, a, at, ':');
        r->user = (url_span){a, colon - a};
        if (colon < at) {
            r->has_password = true;
            r->password = (url_span){colon + 1, at - colon - 1};
            add_mask(r, r->password.off, r->password.len);
        }
        h = at + 1;
    }
    /* Hosts: up to the first '/' or '?' (an IPv6 literal holds neither). */
    size_t hend = h;
    while (hend < n && text[hend] != '/' && text[hend] != '?')
        hend++;
    r->hosts = (url_span){h, hend - h};
    size_t q = n;
    if (hend < n && text[hend] == '/') {
        r->has_path = true;
        q = find_from(text, hend + 1, n, '?');
        r->path = (url_span){hend + 1, q - hend - 1};
    } else {
        q = hend;
    }
    if (q < n) {
        r->has_query = true;
        read_query(r, q + 1);
    }
    mask_later_urls(r, a);
}

static bool only_pairs(const char *p);

/* libpq's "key=value" form anywhere in the text: hide each secret key's
 * value (quoted or up to a space), and the rest of the text when what
 * follows is not more such pairs. */
static void mask_conninfo_values(url_reading *r)
{
    const char *t = r->text;
    for (size_t i = 0; i < r->n; i++) {
        if (i > 0 && (isalnum((unsigned char)t[i - 1]) || t[i - 1] == '_'))
            continue;
        size_t klen = 0;
        for (size_t k = 0; secret_keys[k] && !klen; k++)
            if (!strncasecmp(t + i, secret_keys[k], strlen(secret_keys[k])))
                klen = strlen(secret_keys[k]);
        if (!klen)
            continue;
        size_t v = i + klen;
        while (v < r->n && (t[v] == ' ' || t[v] == '\t'))
            v++;
        if (v >= r->n || t[v] != '=')
            continue;
        for (v++; v < r->n && (t[v] == ' ' || t[v] == '\t'); v++)
            ;
        size_t e = v;
        if (e < r->n && t[e] == '\'') {
            for (e++; e < r->n && t[e] != '\''; e++)
                if (t[e] == '\\' && e + 1 < r->n)
                    e++;
            if (e < r->n)
                e++;
        } else {
            while (e < r->n && !isspace((unsigned char)t[e]))
                e++;
        }
        add_mask(r, v, (only_pairs(t + e) ? e : r->n) - v);
    }
}

static int mask_conninfo_pieces(strata_url *u, url_reading *r);

/* The URL failed to validate: hide whatever any reading could take for a
 * secret.  From the first ':' of the user-info (of the whole text when the
 * scheme is not well formed) up to the last '@'; after a secret key, the
 * rest of the text. */
static void mask_conservatively(url_reading *r)
{
    const char *t = r->text;
    size_t start = r->scheme_len && r->slashes ? r->auth : 0;
    size_t last_at = r->n;
    for (size_t i = r->n; i > start; i--)
        if (t[i - 1] == '@') {
            last_at = i - 1;
            break;
        }
    if (last_at < r->n) {
        size_t colon = find_from(t, start, last_at, ':');
        if (colon < last_at)
            add_mask(r, colon + 1, last_at - colon - 1);
    }
    for (size_t i = 0; i < r->nparams; i++)
        if (r->params[i].has_value && mentions_secret(t, r->params[i].key))
            add_mask(r, r->params[i].value.off, r->n - r->params[i].value.off);
        else if (!r->params[i].has_value && mentions_secret(t, r->params[i].key))
            /* password%3Ds3cret: the value is inside what reads as the key */
            add_mask(r, r->params[i].key.off, r->n - r->params[i].key.off);
    /* Without an '@', app:s3cret/db reads as host app with the port
     * s3cret: a port that is not a number may be a password. */
    if (last_at == r->n && r->scheme_len && r->slashes) {
        size_t end = r->auth;
        while (end < r->n && !strchr("/?#", t[end]))
            end++;
        for (size_t seg = r->auth; seg < end;) {
            size_t stop = find_from(t, seg, end, ',');
            size_t colon = seg;
            if (t[colon] == '[')
                while (colon < stop && t[colon] != ']')
                    colon++;
            colon = find_from(t, colon, stop, ':');
            if (colon + 1 < stop && strspn(t + colon + 1, "0123456789") < stop - colon - 1)
                add_mask(r, colon + 1, stop - colon - 1);
            seg = stop + 1;
        }
    }
    mask_conninfo_values(r);
    /* conninfo text in a URL's component (text that is all conninfo,
     * without a scheme, mask_conninfo_values read above) */
    if (r->scheme_len && r->slashes)
        mask_conninfo_pieces(NULL, r);
    /* Wherever a "key=" whose key mentions a secret stands (inside what
     * another reader takes for a user name, say), hide the rest. */
    for (size_t e = start; e < r->n; e++) {
        if (t[e] != '=')
            continue;
        size_t k = e;
        while (k > 0 && !strchr("?&/@:;# \t\n", t[k - 1]))
            k--;
        /* (libpq key=value text, where keys follow a space, is read by
         * mask_conninfo_values precisely.) */
        if (k == 0 || isspace((unsigned char)t[k - 1]))
            continue;
        if (k < e && mentions_secret(t, (url_span){k, e - k})) {
            add_mask(r, e + 1, r->n - e - 1);
            break;
        }
    }
}

static void reading_free(url_reading *r)
{
    free(r->params);
    free(r->masks);
}

/* ---- step 2: validation ---------------------------------------------------- */

typedef struct url_check {
    strata_url *u;
    url_reading *r;
    char *held[8]; /* quote()'s results, freed with the check */
    size_t nheld;
} url_check;

/* Record the failure: the message names the URL as redacted by the
 * conservative reading, then what is wrong.  Pieces of the URL reach the
 * message only through quote(). */
static int url_fail(url_check *c, const char *fmt, ...) STRATA_PRINTF(2, 3);

static int url_fail(url_check *c, const char *fmt, ...)
{
    char *shown = cautious_piece(c->r, 0, c->r->n);
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "invalid database URL \"%s\": ", shown ? shown : "***");
    free(shown);
    va_list ap;
    va_start(ap, fmt);
    strata__sb_vprintf(&sb, fmt, ap);
    va_end(ap);
    free(c->u->errmsg);
    c->u->errmsg = strata__sb_take(&sb);
    return c->u->errmsg ? STRATA_E_URL : STRATA_E_NOMEM;
}

/* A piece of the URL for a message, with hidden bytes shown as ***.
 * Owned by the check; "***" when out of memory. */
static const char *quote(url_check *c, url_span s)
{
    if (c->nheld == sizeof c->held / sizeof c->held[0])
        return "***";
    char *q = cautious_piece(c->r, s.off, s.len);
    if (!q)
        return "***";
    c->held[c->nheld++] = q;
    return q;
}

static int decode(url_check *c, url_span s, const char *what, bool secret, char **out)
{
    size_t bad;
    switch (pct_decode(c->r->text + s.off, s.len, out, &bad)) {
    case DEC_OK: return STRATA_OK;
    case DEC_NOMEM: return STRATA_E_NOMEM;
    case DEC_NUL:
        return url_fail(c, "the %s holds %%00, which no database accepts", what);
    case DEC_BAD_ESCAPE: break;
    }
    if (secret)
        return url_fail(c, "bad percent-escape in the %s (write %%XX with two hex digits)", what);
    url_span esc = {s.off + bad, s.len - bad < 3 ? s.len - bad : 3};
    return url_fail(c, "bad percent-escape \"%s\" in the %s (write %%XX with two hex digits)",
                    quote(c, esc), what);
}

static int keep_secret(strata_url *u, const char *s, size_t n)
{
    if (n == 0)
        return STRATA_OK;
    for (size_t i = 0; i < u->nsecrets; i++)
        if (strlen(u->secrets[i]) == n && memcmp(u->secrets[i], s, n) == 0)
            return STRATA_OK;
    char **ns = realloc(u->secrets, (u->nsecrets + 1) * sizeof *ns);
    if (!ns)
        return STRATA_E_NOMEM;
    u->secrets = ns;
    if (!(u->secrets[u->nsecrets] = strata__strndup(s, n)))
        return STRATA_E_NOMEM;
    u->nsecrets++;
    return STRATA_OK;
}

/* Keep the raw and decoded forms of a secret span for scrubbing. */
static int keep_secret_span(url_check *c, url_span s)
{
    int rc = keep_secret(c->u, c->r->text + s.off, s.len);
    char *dec;
    size_t bad;
    if (rc == STRATA_OK && pct_decode(c->r->text + s.off, s.len, &dec, &bad) == DEC_OK) {
        rc = keep_secret(c->u, dec, strlen(dec));
        free(dec);
    }
    return rc;
}

static int check_params(url_check *c)
{
    strata_url *u = c->u;
    url_reading *r = c->r;
    int rc;
    u->keys = calloc(r->nparams + 1, sizeof *u->keys);
    u->values = calloc(r->nparams + 1, sizeof *u->values);
    if (!u->keys || !u->values)
        return STRATA_E_NOMEM;
    for (size_t i = 0; i < r->nparams; i++) {
        const url_param *p = &r->params[i];
        if (p->key.len == 0)
            return url_fail(c, "a query parameter has an empty name");
        if (!p->has_value)
            return url_fail(c, "query parameter \"%s\" has no value (write name=value)",
                            quote(c, p->key));
        bool secret = is_secret_key(r->text, p->key);
        if (p->extra_eq)
            return url_fail(c,
                            "the value of query parameter \"%s\" holds a second \"=\" "
                            "(percent-encode it as %%3D)",
                            quote(c, p->key));
        char *key;
        if ((rc = decode(c, p->key, "name of a query parameter", false, &key)))
            return rc;
        u->keys[u->nparams++] = key; /* owned by u from here, value or not */
        if ((rc = decode(c, p->value, secret ? "value of a secret parameter" : "query", secret,
                         &u->values[u->nparams - 1])))
            return rc;
        if (secret && (rc = keep_secret_span(c, p->value)))
            return rc;
        for (size_t k = 0; k + 1 < u->nparams; k++)
            if (strcmp(u->keys[k], key) == 0)
                return url_fail(c, "query parameter \"%s\" is given twice", quote(c, p->key));
    }
    for (size_t i = 0; i < u->nparams; i++) {
        if (strata__drv_url_param_known(u->driver, u->keys[i]))
            continue;
        const char *const *known = u->driver->url_params;
        strata__sb list;
        strata__sb_init(&list);
        for (size_t k = 0; known && known[k]; k++)
            strata__sb_printf(&list, "%s%s", k ? ", " : " (known: ", known[k]);
        if (known && known[0])
            strata__sb_putc(&list, ')');
        rc = url_fail(c, "unknown query parameter \"%s\" for %s URLs%s",
                      quote(c, r->params[i].key), u->driver->name,
                      list.data && !list.failed ? list.data : "");
        strata__sb_free(&list);
        return rc;
    }
    return STRATA_OK;
}

/* "host[:port][,host[:port]...]": IPv6 brackets, ports, escapes.  An empty
 * port means the default, as in libpq. */
static int check_hosts(url_check *c)
{
    const char *t = c->r->text;
    size_t h = c->r->hosts.off, end = h + c->r->hosts.len;
    if (find_from(t, h, end, '@') < end)
        return url_fail(c, "the host part holds a second \"@\" (percent-encode an \"@\" in a "
                           "user name or password as %%40)");
    while (h <= end) {
        size_t comma = find_from(t, h, end, ',');
        size_t port = comma, name_end = comma;
        if (h < comma && t[h] == '[') {
            size_t rb = find_from(t, h, comma, ']');
            if (rb == comma)
                return url_fail(c, "IPv6 host \"%s\" lacks its closing \"]\"",
                                quote(c, (url_span){h, comma - h}));
            if (rb == h + 1)
                return url_fail(c, "an IPv6 host between \"[]\" is empty");
            if (rb + 1 < comma && t[rb + 1] != ':')
                return url_fail(c, "unexpected text after IPv6 host \"%s\"",
                                quote(c, (url_span){h, rb + 1 - h}));
            name_end = rb + 1;
            port = rb + 1 < comma ? rb + 1 : comma;
        } else {
            port = name_end = find_from(t, h, comma, ':');
        }
        char *name;
        int rc = decode(c, (url_span){h, name_end - h}, "host name", false, &name);
        if (rc)
            return rc;
        free(name);
        if (port < comma) {
            long v = 0;
            for (size_t q = port + 1; q < comma; q++) {
                if (!isdigit((unsigned char)t[q]))
                    return url_fail(c, "the port of host \"%s\" is not a number%s",
                                    quote(c, (url_span){h, name_end - h}),
                                    !c->r->has_userinfo && strchr(t + end, '@')
                                        ? " (a password holding \"/\" must be percent-encoded "
                                          "as %2F)"
                                        : "");
                if (v <= 65535)
                    v = v * 10 + (t[q] - '0');
            }
            if (port + 1 < comma && (v < 1 || v > 65535))
                return url_fail(c, "port \"%s\" is out of range (1-65535)",
                                quote(c, (url_span){port + 1, comma - port - 1}));
        }
        h = comma + 1;
    }
    return STRATA_OK;
}

/* Engines whose URLs name a file, not a server: no user, host or port. */
static bool names_a_file(const strata_driver *d)
{
    return (d->capabilities & STRATA_CAP_FILE_URL) != 0;
}

static int check_scheme(url_check *c)
{
    strata_url *u = c->u;
    url_reading *r = c->r;
    const char *t = r->text;
    if (!r->n)
        return url_fail(c, "the URL is empty (expected e.g. %s)", STRATA_DEFAULT_URL);
    if (!r->scheme_len)
        return url_fail(c,
                        "it does not start with a scheme (expected scheme://..., "
                        "supported schemes: %s)",
                        strata__driver_schemes());
    if (!r->slashes)
        return url_fail(c,
                        "the scheme \"%s:\" must be followed by \"//\" (e.g. %s)",
                        quote(c, (url_span){0, r->scheme_len}), STRATA_DEFAULT_URL);
    char scheme[64], *plus;
    if (r->scheme_len >= sizeof scheme)
        return url_fail(c, "the scheme is too long");
    for (size_t i = 0; i < r->scheme_len; i++)
        scheme[i] = (char)tolower((unsigned char)t[i]);
    scheme[r->scheme_len] = '\0';
    const char *drvname = NULL;
    if ((plus = strchr(scheme, '+')) != NULL) {
        *plus = '\0';
        drvname = plus + 1;
    }
    u->driver = strata__driver_lookup(scheme);
    if (!u->driver) {
        if (strata__engine_not_built(scheme))
            return url_fail(c,
                                "support for \"%s\" was not built into this strata "
                                "(supported schemes: %s)",
                                scheme, strata__driver_schemes());
        return url_fail(c, "unknown scheme \"%s\" (supported schemes: %s)", scheme,
                        strata__driver_schemes());
    }
    if (drvname) {
        const char *const *dn = u->driver->driver_names;
        while (dn && *dn && strcmp(*dn, drvname) != 0)
            dn++;
        if (!dn || !*dn) {
            const char *builtin = u->driver->driver_names ? u->driver->driver_names[0] : "";
            return url_fail(c,
                            "driver \"%s\" is not available for %s; the built-in driver is "
                            "\"%s\" (write %s:// or %s+%s://)",
                            drvname, u->driver->name, builtin, u->driver->name,
                            u->driver->name, builtin);
        }
    }
    /* The driver gets the URL with its own scheme and no driver suffix. */
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "%s%s", scheme, t + r->scheme_len);
    u->conninfo = strata__sb_take(&sb);
    return u->conninfo ? STRATA_OK : STRATA_E_NOMEM;
}

static int validate(url_check *c)
{
    strata_url *u = c->u;
    url_reading *r = c->r;
    int rc = check_scheme(c);
    if (rc)
        return rc;
    if (r->has_userinfo) {
        /* "host?password=a@b": libpq reads all before the '@' as a user
         * name, where the writer surely meant a query. */
        if (find_from(r->text, r->user.off, r->user.off + r->user.len, '?') <
            r->user.off + r->user.len)
            return url_fail(c, "the user name holds \"?\": a query comes after the host (an "
                               "\"@\" in a query value must be percent-encoded as %%40, a \"?\" "
                               "in a user name as %%3F)");
        /* "user:?password=a@b" too: a password that holds "?key=" is a
         * query read as a password. */
        size_t pend = r->password.off + r->password.len;
        size_t qm = r->has_password ? find_from(r->text, r->password.off, pend, '?') : pend;
        if (qm < pend && find_from(r->text, qm, pend, '=') < pend)
            return url_fail(c, "the password holds \"?...=\": a query comes after the host (an "
                               "\"@\" in a query value must be percent-encoded as %%40)");
        char *user;
        if ((rc = decode(c, r->user, "user name", false, &user)))
            return rc;
        free(user);
        if (r->has_password) {
            char *pw;
            if ((rc = decode(c, r->password, "password", true, &pw)))
                return rc;
            free(pw);
            if ((rc = keep_secret_span(c, r->password)))
                return rc;
        }
    }
    if (names_a_file(u->driver)) {
        size_t alen = r->hosts.off + r->hosts.len - r->auth;
        /* sqlite://:memory: with no path after it (a query may follow):
         * its host is shown as a hidden port, so say what was meant. */
        if (alen == 8 && r->path.len <= 1 && !strncmp(r->text + r->auth, ":memory:", 8))
            return url_fail(c, "a database in memory is %s:// or %s:///:memory:", u->driver->name,
                            u->driver->name);
        if (alen > 0)
            return url_fail(c,
                            "%s URLs have no host or user (\"%s\"): write "
                            "%s:///relative.db or %s:////absolute/path.db",
                            u->driver->name, quote(c, (url_span){r->auth, alen}),
                            u->driver->name, u->driver->name);
        /* "" and "/" mean in-memory; "/x" is relative x; "//x" is absolute /x. */
        if ((rc = decode(c, r->path, "path", false, &u->database)))
            return rc;
        if (!*u->database) {
            free(u->database);
            if (!(u->database = strata__strdup(":memory:")))
                return STRATA_E_NOMEM;
        }
    } else {
        if ((rc = check_hosts(c)))
            return rc;
        /* No user-info but "x:y/...@...": libpq reads a host, a port and a
         * database name where the user surely wrote a password with '/'. */
        size_t pend = r->path.off + r->path.len, hend = r->hosts.off + r->hosts.len;
        if (!r->has_userinfo && find_from(r->text, r->hosts.off, hend, ':') < hend &&
            find_from(r->text, r->path.off, pend, '@') < pend)
            return url_fail(c, "the database name holds \"@\" after a host and port without a "
                               "user (a password holding \"/\" must be percent-encoded as "
                               "%%2F; an \"@\" in a name as %%40)");
        if (r->path.len > 0 &&
            (rc = decode(c, r->path, "database name", false, &u->database)))
            return rc;
    }
    return check_params(c);
}

/* ---- the public calls ---------------------------------------------------- */

static void url_clear(strata_url *u)
{
    for (size_t i = 0; i < u->nparams; i++) {
        free(u->keys[i]);
        free(u->values[i]);
    }
    free(u->keys);
    free(u->values);
    u->keys = u->values = NULL;
    u->nparams = 0;
    free(u->database);
    u->database = NULL;
    free(u->conninfo);
    u->conninfo = NULL;
    for (size_t i = 0; i < u->nsecrets; i++)
        free(u->secrets[i]);
    free(u->secrets);
    u->secrets = NULL;
    u->nsecrets = 0;
}

static char *masked_copy(const url_reading *r)
{
    strata__sb sb;
    strata__sb_init(&sb);
    put_masked(&sb, r, 0, r->n);
    return strata__sb_take(&sb);
}

/* The password of a "scheme://user:password@" in `s` (decoded text), or
 * NULL: *len gets its length. */
static const char *later_password(const char *s, size_t *len)
{
    for (const char *p = strstr(s, "://"); p; p = strstr(p + 3, "://")) {
        const char *a = p + 3, *end = a, *at = NULL;
        for (; *end && !isspace((unsigned char)*end); end++)
            if (*end == '@')
                at = end;
        const char *colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
        if (colon && at > colon + 1) {
            *len = (size_t)(at - colon - 1);
            return colon + 1;
        }
    }
    return NULL;
}

/* The value of the first "password=..." (a secret key, spaces allowed
 * around the =, the value quoted or up to white space) in `s`, decoded
 * text read by conninfo's rules; NULL when there is none: *len gets its
 * length. */
static const char *conninfo_secret(const char *s, size_t *len)
{
    for (const char *p = s; *p; p++) {
        if (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            continue;
        for (size_t i = 0; secret_keys[i]; i++) {
            size_t k = strlen(secret_keys[i]);
            if (strncasecmp(p, secret_keys[i], k) != 0)
                continue;
            const char *v = p + k;
            while (*v == ' ' || *v == '\t')
                v++;
            if (*v != '=')
                continue;
            for (v++; *v == ' ' || *v == '\t'; v++)
                ;
            bool quoted = *v == '\'';
            const char *e = v + quoted;
            while (*e && (quoted ? *e != '\'' : !isspace((unsigned char)*e)))
                e++;
            *len = (size_t)(e - v - quoted);
            return v + quoted;
        }
    }
    return NULL;
}

/* A component holding conninfo text with a password (a host of
 * "db password=pw", given where a URL's host belongs): libpq takes it for
 * a name and quotes it in its messages, so the password is a secret (kept
 * in u, unless NULL: a URL that failed to validate), and the component is
 * hidden whole in what is shown. */
static int mask_conninfo_pieces(strata_url *u, url_reading *r)
{
    size_t nspans = r->nparams + 3;
    for (size_t i = 0; i < nspans; i++) {
        url_span raw = i < r->nparams        ? r->params[i].value
                       : i == r->nparams     ? r->path
                       : i == r->nparams + 1 ? r->hosts
                                             : r->user;
        if (i < r->nparams && is_secret_key(r->text, r->params[i].key))
            continue; /* hidden already */
        char *dec;
        size_t bad, len = 0;
        if (raw.len == 0 || pct_decode(r->text + raw.off, raw.len, &dec, &bad) != DEC_OK)
            continue;
        const char *pw = conninfo_secret(dec, &len);
        int rc = pw && u ? keep_secret(u, pw, len) : STRATA_OK;
        free(dec);
        if (rc != STRATA_OK)
            return rc;
        if (pw)
            add_mask(r, raw.off, raw.len);
        if (r->nomem)
            return STRATA_E_NOMEM;
    }
    return STRATA_OK;
}

/* A URL inside the database name or a parameter's value: the server's
 * messages quote it decoded, so its password is a secret; one
 * percent-encoded (postgresql%3A%2F%2Fb%3Apw%40db) hides the component
 * whole in what is shown. */
static int mask_encoded_urls(url_check *c, url_reading *r)
{
    strata_url *u = c->u;
    for (size_t i = 0; i <= u->nparams; i++) {
        const char *dec = i < u->nparams ? u->values[i] : u->database;
        url_span raw = i < u->nparams ? r->params[i].value : r->path;
        size_t len = 0;
        const char *pw = dec ? later_password(dec, &len) : NULL;
        if (!pw)
            continue;
        int rc = keep_secret(u, pw, len);
        if (rc != STRATA_OK)
            return rc;
        /* With its "://" written as it is, mask_later_urls hid the
         * password already. */
        bool as_is = false;
        for (size_t k = 0; !as_is && k + 3 <= raw.len; k++)
            as_is = memcmp(r->text + raw.off + k, "://", 3) == 0;
        if (!as_is)
            add_mask(r, raw.off, raw.len);
        if (r->nomem)
            return STRATA_E_NOMEM;
    }
    return STRATA_OK;
}

int strata_url_parse(strata_url **out, const char *text)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    strata_url *u = calloc(1, sizeof *u);
    if (!u)
        return STRATA_E_NOMEM;
    *out = u;
    if (!text) {
        u->errmsg = strata__strdup("invalid database URL: NULL");
        return STRATA_E_MISUSE;
    }
    url_reading r;
    read_url(&r, text);
    url_check c = {.u = u, .r = &r};
    int rc = r.nomem ? STRATA_E_NOMEM : STRATA_OK;
    if (rc == STRATA_OK) {
        /* Messages are only written on failure, so they are quoted with
         * the conservative masks from the start. */
        url_reading cons = r;
        cons.masks = NULL;
        cons.nmasks = 0;
        for (size_t i = 0; i < r.nmasks; i++)
            add_mask(&cons, r.masks[i].off, r.masks[i].len);
        mask_conservatively(&cons);
        c.r = &cons;
        rc = cons.nomem ? STRATA_E_NOMEM : validate(&c);
        if (rc == STRATA_OK)
            rc = mask_encoded_urls(&c, &r);
        if (rc == STRATA_OK)
            rc = mask_conninfo_pieces(u, &r);
        /* Whatever the reading hides (a later URL's password too) is
         * scrubbed from the server's messages as well. */
        for (size_t i = 0; rc == STRATA_OK && i < r.nmasks; i++)
            rc = keep_secret_span(&c, r.masks[i]);
        u->redacted = rc == STRATA_OK ? masked_copy(&r) : cautious_piece(&cons, 0, cons.n);
        free(cons.masks);
        for (size_t i = 0; i < c.nheld; i++)
            free(c.held[i]);
        if (!u->redacted)
            rc = STRATA_E_NOMEM;
    }
    reading_free(&r);
    if (rc != STRATA_OK) {
        u->driver = NULL;
        url_clear(u);
    }
    return rc;
}

void strata_url_free(strata_url *u)
{
    if (!u)
        return;
    url_clear(u);
    free(u->redacted);
    free(u->errmsg);
    free(u);
}

const char *strata_url_errmsg(const strata_url *u)
{
    if (!u)
        return "out of memory";
    return u->errmsg ? u->errmsg : "";
}

const char *strata_url_backend(const strata_url *u) { return u && u->driver ? u->driver->name : NULL; }

const char *strata_url_redacted(const strata_url *u)
{
    if (!u)
        return NULL;
    return u->redacted ? u->redacted : "";
}

const char *strata_url_database(const strata_url *u) { return u && u->driver ? u->database : NULL; }

const char *strata_url_param(const strata_url *u, const char *name)
{
    if (!u || !name)
        return NULL;
    for (size_t i = 0; i < u->nparams; i++)
        if (strcmp(u->keys[i], name) == 0)
            return u->values[i];
    return NULL;
}

size_t strata__url_secrets(const strata_url *u, const char *const **out)
{
    *out = (const char *const *)u->secrets;
    return u->nsecrets;
}

const char *strata_driver_url_target(const strata_url *u) { return u ? u->conninfo : NULL; }

const strata_driver *strata__url_driver(const strata_url *u) { return u->driver; }

/* ---- redaction of free text -------------------------------------------- */

/* libpq's "key=value key='va lue'" form: hide the values of secret keys. */
/* Does `p` read as nothing but "key=value" pairs (values quoted or not)?
 * After a secret's value, anything else means the text is not what it
 * seems, and the rest is hidden too. */
static bool only_pairs(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            return true;
        const char *k = p;
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        if (p == k)
            return false;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '=')
            return false;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\'') {
            for (p++; *p && *p != '\''; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (!*p)
                return false;
            p++;
        } else {
            while (*p && !isspace((unsigned char)*p))
                p++;
        }
    }
}

static char *redact_conninfo(const char *text)
{
    strata__sb sb;
    strata__sb_init(&sb);
    const char *p = text;
    while (*p) {
        bool word_start = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        size_t klen = 0;
        bool secret = false;
        for (size_t i = 0; word_start && secret_keys[i] && !secret; i++) {
            klen = strlen(secret_keys[i]);
            secret = strncasecmp(p, secret_keys[i], klen) == 0;
        }
        const char *v = p + klen;
        while (secret && (*v == ' ' || *v == '\t'))
            v++;
        if (!secret || *v != '=') {
            strata__sb_putc(&sb, *p++);
            continue;
        }
        for (v++; *v == ' ' || *v == '\t'; v++)
            ;
        strata__sb_putn(&sb, p, (size_t)(v - p));
        strata__sb_puts(&sb, "***");
        if (*v == '\'') {
            for (v++; *v && *v != '\''; v++)
                if (*v == '\\' && v[1])
                    v++;
            if (*v)
                v++;
        } else {
            while (*v && !isspace((unsigned char)*v))
                v++;
        }
        if (!only_pairs(v))
            break; /* the rest is hidden too */
        p = v;
    }
    return strata__sb_take(&sb);
}

char *strata_url_redact(const char *text)
{
    if (!text)
        return NULL;
    strata_url *u = NULL;
    int rc = strata_url_parse(&u, text);
    char *out = NULL;
    if (rc == STRATA_OK) {
        out = strata__strdup(u->redacted);
    } else if (rc != STRATA_E_NOMEM) {
        /* Not a valid URL (perhaps not a URL at all): the cautious reading,
         * then conninfo's rules for whatever key=value text remains. */
        url_reading r;
        read_url(&r, text);
        mask_conservatively(&r);
        out = r.nomem ? NULL : cautious_piece(&r, 0, r.n);
        reading_free(&r);
    }
    strata_url_free(u);
    return out;
}
