/*
 * introspect.c - strata_schema_introspect(): read a live database's schema
 * into metadata through the connection's dialect (engines/<engine>/dialect.c
 * holds the engine-specific queries), and the helpers the dialects read
 * types and defaults back with: standard SQL's spellings here, each
 * engine's own in its dialect.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* ---- reading engines' spellings back ----------------------------------- */

/* Standard SQL's type names (and text, which every engine has). */
static const strata__type_name standard_types[] = {
    {"integer", STRATA_SQL_INTEGER},
    {"int", STRATA_SQL_INTEGER},
    {"bigint", STRATA_SQL_BIGINT},
    {"smallint", STRATA_SQL_SMALLINT},
    {"boolean", STRATA_SQL_BOOLEAN},
    {"float", STRATA_SQL_FLOAT},
    {"double precision", STRATA_SQL_FLOAT},
    {"real", STRATA_SQL_FLOAT},
    {"numeric", STRATA_SQL_NUMERIC},
    {"decimal", STRATA_SQL_NUMERIC},
    {"varchar", STRATA_SQL_STRING},
    {"character varying", STRATA_SQL_STRING},
    {"text", STRATA_SQL_TEXT},
    {"date", STRATA_SQL_DATE},
    {"timestamp", STRATA_SQL_DATETIME},
    {"timestamp without time zone", STRATA_SQL_DATETIME},
    {"timestamp with time zone", STRATA_SQL_DATETIME_TZ},
    {NULL, 0},
};

static const strata__type_name *find_type(const strata__type_name *names, const char *name)
{
    for (; names && names->name; names++)
        if (strcmp(name, names->name) == 0)
            return names;
    return NULL;
}

int strata__type_from_engine(const strata__dialect *dl, strata__type *out, const char *text)
{
    memset(out, 0, sizeof *out);
    /* Lower-case with single spaces; arguments "(p[,s])" taken out, wherever
     * they stand ("timestamp(3) without time zone"). */
    strata__sb base;
    strata__sb_init(&base);
    int args[2] = {0, 0}, nargs = 0;
    bool bad_args = false;
    for (const char *p = text ? text : ""; *p; p++) {
        if (*p == '(') {
            const char *q = p + 1;
            while (nargs < 2 && strata__parse_uint(&q, &args[nargs])) {
                nargs++;
                if (*q != ',')
                    break;
                q++;
            }
            if (*q != ')') {
                bad_args = true;
                break;
            }
            p = q;
        } else if (isspace((unsigned char)*p)) {
            if (base.len && base.data[base.len - 1] != ' ')
                strata__sb_putc(&base, ' ');
        } else {
            strata__sb_putc(&base, (char)tolower((unsigned char)*p));
        }
    }
    while (base.len && base.data[base.len - 1] == ' ')
        base.data[--base.len] = '\0';
    int rc = STRATA_OK;
    if (base.failed) {
        rc = STRATA_E_NOMEM;
    } else if (!bad_args) {
        const strata__type_name *t = NULL;
        if (base.data && !(t = find_type(standard_types, base.data)) && dl)
            t = find_type(dl->type_names, base.data);
        if (t) {
            out->kind = t->kind;
            if (out->kind == STRATA_SQL_STRING && nargs == 1)
                out->length = args[0];
            else if (out->kind == STRATA_SQL_NUMERIC && nargs >= 1) {
                out->length = args[0];
                out->scale = nargs == 2 ? args[1] : 0;
            }
        }
    }
    strata__sb_free(&base);
    if (rc == STRATA_OK && !out->kind) {
        out->kind = STRATA_SQL_RAW;
        if (!(out->raw = strata__strdup(text ? text : "")))
            rc = STRATA_E_NOMEM;
    }
    return rc;
}

/* Remove one pair of parentheses around the whole of s (in place). */
static bool strip_parens(char *s)
{
    size_t n = strlen(s);
    if (n < 2 || s[0] != '(' || s[n - 1] != ')')
        return false;
    int depth = 0;
    bool quoted = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'')
            quoted = !quoted;
        if (quoted)
            continue;
        if (s[i] == '(')
            depth++;
        else if (s[i] == ')' && --depth == 0 && i != n - 1)
            return false;
    }
    memmove(s, s + 1, n - 2);
    s[n - 2] = '\0';
    return true;
}

char *strata__strip_parens(const char *s)
{
    char *copy = strata__strdup(s);
    if (copy)
        strip_parens(copy);
    return copy;
}

/* Length of the SQL string literal at the start of s, or 0. */
static size_t literal_len(const char *s)
{
    if (*s != '\'')
        return 0;
    for (size_t i = 1; s[i]; i++) {
        if (s[i] == '\'') {
            if (s[i + 1] != '\'')
                return i + 1;
            i++;
        }
    }
    return 0;
}

/* Standard SQL's "current time", squeezed: lower case, no spaces, no
 * parentheses, no casts to text (the dialect adds its own forms). */
static bool is_now(const strata__dialect *dl, const char *expr)
{
    static const char *const forms[] = {"current_timestamp", "current_date", "localtimestamp"};
    /* Squeezed into a buffer longer than every form: no allocation that
     * could fail and turn "now" into an SQL default. */
    char squeezed[64];
    size_t n = 0;
    for (const char *p = expr; *p; p++) {
        size_t cl = dl && dl->cast_operator ? strlen(dl->cast_operator) : 0;
        if (cl && strncmp(p, dl->cast_operator, cl) == 0 && strncmp(p + cl, "text", 4) == 0) {
            p += cl + 3;
            continue;
        }
        if (isspace((unsigned char)*p) || *p == '(' || *p == ')')
            continue;
        if (n + 1 >= sizeof squeezed)
            return false; /* longer than any of them */
        squeezed[n++] = (char)tolower((unsigned char)*p);
    }
    squeezed[n] = '\0';
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (strcmp(squeezed, forms[i]) == 0)
            return true;
    for (const char *const *f = dl ? dl->now_forms : NULL; f && *f; f++)
        if (strcmp(squeezed, *f) == 0)
            return true;
    return false;
}

int strata__default_from_engine(const strata__dialect *dl, strata_column *c, const char *expr)
{
    if (!expr)
        return strata__column_set_default(c, DEF_NONE, NULL);
    char *e = strata__strdup(expr);
    if (!e)
        return STRATA_E_NOMEM;
    /* Trim, and take away wrapping parentheses SQLite keeps. */
    char *p = e;
    while (isspace((unsigned char)*p))
        p++;
    memmove(e, p, strlen(p) + 1);
    for (size_t n = strlen(e); n && isspace((unsigned char)e[n - 1]); n--)
        e[n - 1] = '\0';
    while (strip_parens(e))
        ;
    /* A literal the catalog casts ('abc'::character varying, '-1'::integer,
     * NULL::text): the literal. */
    const char *cast = dl ? dl->cast_operator : NULL;
    size_t lit = literal_len(e);
    if (lit && cast && strncmp(e + lit, cast, strlen(cast)) == 0)
        e[lit] = '\0';
    else if (!lit && strncasecmp(e, "NULL", 4) == 0 &&
             (!e[4] || (cast && strncmp(e + 4, cast, strlen(cast)) == 0))) {
        free(e);
        return strata__column_set_default(c, DEF_NONE, NULL);
    }
    lit = literal_len(e);
    bool numeric_col = strata__type_is_integer(&c->type) || c->type.kind == STRATA_SQL_FLOAT ||
                       c->type.kind == STRATA_SQL_NUMERIC || c->type.kind == STRATA_SQL_BOOLEAN;
    if (lit && lit == strlen(e) && numeric_col) {
        /* '-1' on a number column is the number. */
        e[lit - 1] = '\0';
        if (strata__is_number(e + 1))
            memmove(e, e + 1, strlen(e + 1) + 1);
        else
            e[lit - 1] = '\'';
    }
    strata__default_kind kind;
    if (strata__is_number(e) || strcasecmp(e, "true") == 0 || strcasecmp(e, "false") == 0 ||
        (lit && lit == strlen(e))) {
        char *text;
        char why[160];
        int rc = strata__default_parse(&kind, &text, e, &c->type, why, sizeof why);
        if (rc == STRATA_OK || rc == STRATA_E_NOMEM) {
            free(e);
            return rc == STRATA_OK ? strata__column_set_default(c, kind, text) : rc;
        }
    }
    if (is_now(dl, e) && (c->type.kind == STRATA_SQL_DATE || c->type.kind == STRATA_SQL_DATETIME ||
                      c->type.kind == STRATA_SQL_DATETIME_TZ)) {
        free(e);
        char *now = strata__strdup("now");
        return now ? strata__column_set_default(c, DEF_NOW, now) : STRATA_E_NOMEM;
    }
    return strata__column_set_default(c, DEF_SQL, e);
}

bool strata__introspect_excluded(const char *name, const char *const *exclude)
{
    if (strcmp(name, "strata_version") == 0)
        return true;
    for (; exclude && *exclude; exclude++)
        if (strcmp(name, *exclude) == 0)
            return true;
    return false;
}
