/*
 * url.c - parse database URLs by SQLAlchemy's rules and redact passwords.
 *
 * A URL is split into scheme[+driver], user-info, host list, path and query.
 * The scheme picks the driver from the built-in table; the driver's list of
 * query parameters (when it has one) is enforced here so every backend's
 * URLs get the same messages.  PostgreSQL URLs are checked only as far as
 * needed to give a clear message (scheme, percent-escapes, ports) and are
 * otherwise handed to libpq whole, which validates its own parameters.
 *
 * Every message quotes the redacted URL, never the original.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

struct strata_url {
    char *redacted;
    char *conninfo; /* URL without the +driver suffix, for the driver */
    char *errmsg;
    const strata_driver *driver;
    char *database;
    char *secret;
    size_t nparams;
    char **keys;
    char **values;
};

/* ---- redaction ---------------------------------------------------------- */

static bool is_param_start(const char *base, const char *p)
{
    return p == base || p[-1] == '?' || p[-1] == '&' || p[-1] == ' ' || p[-1] == '\t' ||
           p[-1] == ';';
}

char *strata_url_redact(const char *text)
{
    if (!text)
        return NULL;
    strata__sb sb;
    strata__sb_init(&sb);
    const char *p = text;
    const char *sep = strstr(text, "://");
    if (sep) {
        const char *auth = sep + 3;
        size_t alen = strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *q = auth; q < auth + alen; q++)
            if (*q == '@')
                at = q;
        if (at) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                strata__sb_putn(&sb, text, (size_t)(colon + 1 - text));
                strata__sb_puts(&sb, "***");
                p = at;
            }
        }
    }
    /* password=... anywhere after that (URL query or key=value conninfo). */
    while (*p) {
        if (strncasecmp(p, "password=", 9) == 0 && is_param_start(text, p)) {
            strata__sb_putn(&sb, p, 9);
            strata__sb_puts(&sb, "***");
            p += 9;
            if (*p == '\'') {
                for (p++; *p && *p != '\''; p++)
                    if (*p == '\\' && p[1])
                        p++;
                if (*p)
                    p++;
            } else {
                p += strcspn(p, "& \t#;");
            }
            continue;
        }
        strata__sb_putc(&sb, *p++);
    }
    return strata__sb_take(&sb);
}

/* ---- helpers ------------------------------------------------------------ */

static int url_fail(strata_url *u, const char *fmt, ...) STRATA_PRINTF(2, 3);

static int url_fail(strata_url *u, const char *fmt, ...)
{
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "invalid database URL \"%s\": ", u->redacted ? u->redacted : "");
    va_list ap;
    va_start(ap, fmt);
    strata__sb_vprintf(&sb, fmt, ap);
    va_end(ap);
    free(u->errmsg);
    u->errmsg = strata__sb_take(&sb);
    return u->errmsg ? STRATA_E_URL : STRATA_E_NOMEM;
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

/* Percent-decode s[0..n) into a new string.  On a bad escape returns NULL
 * with *bad pointing at it; on no memory returns NULL with *bad NULL. */
static char *pct_decode(const char *s, size_t n, const char **bad)
{
    *bad = NULL;
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int h = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int l = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (h < 0 || l < 0) {
                free(out);
                *bad = s + i;
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

static int decode_part(strata_url *u, const char *s, size_t n, const char *what, char **out)
{
    const char *bad;
    *out = pct_decode(s, n, &bad);
    if (*out)
        return STRATA_OK;
    if (!bad)
        return STRATA_E_NOMEM;
    return url_fail(u, "bad percent-escape \"%.3s\" in the %s (write %%XX with two hex digits)",
                    bad, what);
}

/* ---- parse -------------------------------------------------------------- */

static int parse_query(strata_url *u, const char *q, size_t n)
{
    const char *end = q + n;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pend = amp ? amp : end;
        if (pend == q) { /* tolerate "a=1&&b=2" and a trailing '&' */
            q = pend + 1;
            continue;
        }
        const char *eq = memchr(q, '=', (size_t)(pend - q));
        if (!eq)
            return url_fail(u, "query parameter \"%.*s\" has no value (write name=value)",
                            (int)(pend - q), q);
        if (eq == q)
            return url_fail(u, "query parameter with an empty name");
        char *key, *val;
        int rc = decode_part(u, q, (size_t)(eq - q), "query", &key);
        if (rc)
            return rc;
        rc = decode_part(u, eq + 1, (size_t)(pend - eq - 1), "query", &val);
        if (rc) {
            free(key);
            return rc;
        }
        for (size_t i = 0; i < u->nparams; i++) {
            if (strcmp(u->keys[i], key) == 0) {
                rc = url_fail(u, "query parameter \"%s\" is given twice", key);
                free(key);
                free(val);
                return rc;
            }
        }
        char **nk = realloc(u->keys, (u->nparams + 1) * sizeof *nk);
        if (nk)
            u->keys = nk;
        char **nv = nk ? realloc(u->values, (u->nparams + 1) * sizeof *nv) : NULL;
        if (nv)
            u->values = nv;
        if (!nk || !nv) {
            free(key);
            free(val);
            return STRATA_E_NOMEM;
        }
        u->keys[u->nparams] = key;
        u->values[u->nparams] = val;
        u->nparams++;
        if (strcmp(key, "password") == 0 && !u->secret && *val)
            u->secret = strata__strdup(val);
        q = pend + (amp ? 1 : 0);
    }
    const char *const *known = u->driver->url_params;
    if (!known)
        return STRATA_OK;
    for (size_t i = 0; i < u->nparams; i++) {
        size_t k;
        for (k = 0; known[k]; k++)
            if (strcmp(known[k], u->keys[i]) == 0)
                break;
        if (!known[k]) {
            strata__sb sb;
            strata__sb_init(&sb);
            for (k = 0; known[k]; k++)
                strata__sb_printf(&sb, "%s%s", k ? ", " : "", known[k]);
            char *list = strata__sb_take(&sb);
            int rc = url_fail(u, "unknown query parameter \"%s\" for %s URLs (known: %s)",
                              u->keys[i], u->driver->name, list ? list : "");
            free(list);
            return rc;
        }
    }
    return STRATA_OK;
}

/* Check "host[:port][,host[:port]...]" enough to name a bad port. */
static int check_hosts(strata_url *u, const char *h, size_t n)
{
    const char *end = h + n;
    while (h < end) {
        const char *comma = memchr(h, ',', (size_t)(end - h));
        const char *hend = comma ? comma : end;
        const char *port = NULL;
        if (*h == '[') {
            const char *rb = memchr(h, ']', (size_t)(hend - h));
            if (!rb)
                return url_fail(u, "IPv6 host \"%.*s\" lacks its closing ']'", (int)(hend - h), h);
            if (rb + 1 < hend) {
                if (rb[1] != ':')
                    return url_fail(u, "unexpected text after IPv6 host \"%.*s\"",
                                    (int)(rb + 1 - h), h);
                port = rb + 2;
            }
        } else {
            const char *colon = memchr(h, ':', (size_t)(hend - h));
            if (colon)
                port = colon + 1;
        }
        if (port) {
            long v = 0;
            const char *q = port;
            if (q == hend)
                return url_fail(u, "empty port after \"%.*s\"", (int)(port - h), h);
            for (; q < hend; q++) {
                if (!isdigit((unsigned char)*q))
                    return url_fail(u, "port \"%.*s\" is not a number", (int)(hend - port), port);
                v = v * 10 + (*q - '0');
                if (v > 65535)
                    break;
            }
            if (v < 1 || v > 65535)
                return url_fail(u, "port \"%.*s\" is out of range (1-65535)", (int)(hend - port),
                                port);
        }
        h = hend + (comma ? 1 : 0);
    }
    return STRATA_OK;
}

static int parse(strata_url *u, const char *text)
{
    const char *sep = strstr(text, "://");
    size_t slen = strcspn(text, ":");
    if (!*text)
        return url_fail(u, "the URL is empty (expected e.g. %s)", STRATA_DEFAULT_URL);
    bool scheme_ok = slen > 0 && isalpha((unsigned char)text[0]);
    for (size_t i = 0; scheme_ok && i < slen; i++)
        scheme_ok = isalnum((unsigned char)text[i]) || strchr("+-.", text[i]);
    if (!scheme_ok || !text[slen])
        return url_fail(u,
                        "it does not start with a scheme (expected scheme://..., "
                        "supported schemes: %s)",
                        strata__driver_schemes());
    if (!sep || (size_t)(sep - text) != slen)
        return url_fail(u,
                        "the scheme \"%.*s:\" must be followed by \"//\" "
                        "(e.g. sqlite:///app.db, postgresql://host/db)",
                        (int)slen, text);

    char scheme[64], *plus;
    if (slen >= sizeof scheme)
        return url_fail(u, "the scheme is too long");
    for (size_t i = 0; i < slen; i++)
        scheme[i] = (char)tolower((unsigned char)text[i]);
    scheme[slen] = '\0';
    const char *drvname = NULL;
    if ((plus = strchr(scheme, '+')) != NULL) {
        *plus = '\0';
        drvname = plus + 1;
    }
    u->driver = strata__driver_lookup(scheme);
    if (!u->driver) {
        static const char *const known_not_built[] = {"sqlite", "postgresql", "postgres", NULL};
        for (size_t i = 0; known_not_built[i]; i++)
            if (strcmp(scheme, known_not_built[i]) == 0)
                return url_fail(u,
                                "support for \"%s\" was not built into this strata "
                                "(supported schemes: %s)",
                                scheme, strata__driver_schemes());
        return url_fail(u, "unknown scheme \"%s\" (supported schemes: %s)", scheme,
                        strata__driver_schemes());
    }
    if (drvname) {
        const char *const *dn = u->driver->driver_names;
        while (dn && *dn && strcmp(*dn, drvname) != 0)
            dn++;
        if (!dn || !*dn)
            return url_fail(u,
                            "driver \"%s\" is not available for %s; the built-in driver is "
                            "\"%s\" (write %s:// or %s+%s://)",
                            drvname, u->driver->name,
                            u->driver->driver_names ? u->driver->driver_names[0] : "",
                            u->driver->name, u->driver->name,
                            u->driver->driver_names ? u->driver->driver_names[0] : "");
    }

    const char *rest = sep + 3;
    if (strchr(rest, '#'))
        return url_fail(u, "URLs take no \"#fragment\" (percent-encode a '#' in a password "
                           "as %%23)");
    /* The driver gets the URL with its own scheme and no driver suffix. */
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "%s://%s", scheme, rest);
    u->conninfo = strata__sb_take(&sb);
    if (!u->conninfo)
        return STRATA_E_NOMEM;

    size_t alen = strcspn(rest, "/?");
    const char *auth = rest, *aend = rest + alen;
    const char *path = aend, *pend = path + strcspn(path, "?");
    const char *query = *pend == '?' ? pend + 1 : NULL;

    const char *at = NULL;
    for (const char *q = auth; q < aend; q++)
        if (*q == '@')
            at = q;
    const char *hosts = at ? at + 1 : auth;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon && colon + 1 < at) {
            int rc = decode_part(u, colon + 1, (size_t)(at - colon - 1), "password", &u->secret);
            if (rc)
                return rc;
        }
        char *user;
        int rc = decode_part(u, auth, (size_t)((colon ? colon : at) - auth), "user name", &user);
        if (rc)
            return rc;
        free(user);
    }

    int rc;
    if (strcmp(u->driver->name, "sqlite") == 0) {
        if (alen > 0)
            return url_fail(u,
                            "sqlite URLs have no host or user (\"%.*s\"): write "
                            "sqlite:///relative.db or sqlite:////absolute/path.db",
                            (int)alen, auth);
        /* "" and "/" mean in-memory; "/x" is relative x; "//x" is absolute /x. */
        const char *p = path < pend && *path == '/' ? path + 1 : path;
        if ((rc = decode_part(u, p, (size_t)(pend - p), "path", &u->database)))
            return rc;
        if (!*u->database) {
            free(u->database);
            u->database = strata__strdup(":memory:");
            if (!u->database)
                return STRATA_E_NOMEM;
        }
    } else {
        if ((rc = check_hosts(u, hosts, (size_t)(aend - hosts))))
            return rc;
        if (pend > path + 1) {
            if ((rc = decode_part(u, path + 1, (size_t)(pend - path - 1), "database name",
                                  &u->database)))
                return rc;
        }
    }
    if (query && (rc = parse_query(u, query, strlen(query))))
        return rc;
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
    u->redacted = strata_url_redact(text);
    if (!u->redacted)
        return STRATA_E_NOMEM;
    int rc = parse(u, text);
    if (rc != STRATA_OK)
        u->driver = NULL;
    return rc;
}

void strata_url_free(strata_url *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->nparams; i++) {
        free(u->keys[i]);
        free(u->values[i]);
    }
    free(u->keys);
    free(u->values);
    free(u->redacted);
    free(u->conninfo);
    free(u->errmsg);
    free(u->database);
    free(u->secret);
    free(u);
}

const char *strata_url_errmsg(const strata_url *u)
{
    if (!u)
        return "out of memory";
    return u->errmsg ? u->errmsg : "";
}

const char *strata_url_backend(const strata_url *u)
{
    return u && u->driver ? u->driver->name : NULL;
}

const char *strata_url_redacted(const strata_url *u) { return u ? u->redacted : NULL; }

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

const char *strata__url_secret(const strata_url *u) { return u->secret; }

const char *strata_driver_url_target(const strata_url *u) { return u ? u->conninfo : NULL; }

const strata_driver *strata__url_driver(const strata_url *u) { return u->driver; }
