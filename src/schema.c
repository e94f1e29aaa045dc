/*
 * schema.c - schema metadata: building it through the public API (with the
 * naming convention and the checks that keep it consistent), portable type
 * and default text, deep copies, the canonical describe text, and the
 * foreign-key order of tables.  Reading an engine's spellings back is
 * introspect.c.
 *
 * Layout: small lists and errors, types, defaults, naming, the structures'
 * constructors / copies / destructors, the public builders, the readers,
 * describe, ordering.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "schema_internal.h"

#define MAX_NAME 63 /* PostgreSQL's NAMEDATALEN - 1 */

/* ---- errors ------------------------------------------------------------ */

int strata__md_error(strata_metadata *md, int code, const char *fmt, ...)
{
    if (!md)
        return code;
    va_list ap;
    va_start(ap, fmt);
    free(md->errmsg);
    md->errmsg = strata__vformat(fmt, ap);
    va_end(ap);
    return code;
}

void strata__md_clear_error(strata_metadata *md)
{
    if (md && md->errmsg) {
        free(md->errmsg);
        md->errmsg = NULL;
    }
}

const char *strata_metadata_errmsg(const strata_metadata *md)
{
    return md && md->errmsg ? md->errmsg : "";
}

/* ---- name lists -------------------------------------------------------- */

static bool push_ptr(void ***v, int *n, void *item)
{
    void **nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
    if (!nv)
        return false;
    nv[(*n)++] = item;
    *v = nv;
    return true;
}

void strata__names_free(strata__names *n)
{
    for (int i = 0; i < n->n; i++)
        free(n->v[i]);
    free(n->v);
    n->v = NULL;
    n->n = 0;
}

/* "a, b" -> {a, b}.  Empty items are an error (STRATA_E_SCHEMA). */
int strata__names_split(strata__names *out, const char *list)
{
    out->v = NULL;
    out->n = 0;
    if (!list)
        return STRATA_E_SCHEMA;
    const char *p = list;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && isspace((unsigned char)end[-1]))
            end--;
        if (end == start) {
            strata__names_free(out);
            return STRATA_E_SCHEMA;
        }
        char *name = strata__strndup(start, (size_t)(end - start));
        if (!name || !push_ptr((void ***)&out->v, &out->n, name)) {
            free(name);
            strata__names_free(out);
            return STRATA_E_NOMEM;
        }
        if (!*p)
            return STRATA_OK;
        p++;
    }
}

int strata__names_copy(strata__names *out, const strata__names *in)
{
    out->n = 0;
    out->v = in->n ? calloc((size_t)in->n, sizeof *out->v) : NULL;
    if (in->n && !out->v)
        return STRATA_E_NOMEM;
    for (int i = 0; i < in->n; i++) {
        if (!(out->v[i] = strata__strdup(in->v[i]))) {
            out->n = i;
            strata__names_free(out);
            return STRATA_E_NOMEM;
        }
    }
    out->n = in->n;
    return STRATA_OK;
}

bool strata__names_equal(const strata__names *a, const strata__names *b)
{
    if (a->n != b->n)
        return false;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

int strata__names_push(strata__names *n, const char *name)
{
    char *copy = strata__strdup(name ? name : "");
    if (!copy || !push_ptr((void ***)&n->v, &n->n, copy)) {
        free(copy);
        return STRATA_E_NOMEM;
    }
    return STRATA_OK;
}

const char *strata__stmt_text(strata_stmt *st, int col)
{
    const char *s = NULL;
    return strata_stmt_column_text(st, col, &s, NULL) == STRATA_OK ? s : NULL;
}

int strata__row_error(strata_stmt *st) { return strata_db_errcode(st->db); }

bool strata__names_has(const strata__names *n, const char *name)
{
    for (int i = 0; i < n->n; i++)
        if (strcmp(n->v[i], name) == 0)
            return true;
    return false;
}

void strata__names_print(strata__sb *sb, const strata__names *n)
{
    strata__sb_putc(sb, '(');
    for (int i = 0; i < n->n; i++)
        strata__sb_printf(sb, "%s%s", i ? ", " : "", n->v[i]);
    strata__sb_putc(sb, ')');
}

/* ---- types ------------------------------------------------------------- */

static const struct {
    const char *name;
    strata_sqltype kind;
    int args; /* how many (n) arguments it may take */
} type_names[] = {
    {"integer", STRATA_SQL_INTEGER, 0},   {"bigint", STRATA_SQL_BIGINT, 0},
    {"smallint", STRATA_SQL_SMALLINT, 0}, {"boolean", STRATA_SQL_BOOLEAN, 0},
    {"float", STRATA_SQL_FLOAT, 0},       {"numeric", STRATA_SQL_NUMERIC, 2},
    {"string", STRATA_SQL_STRING, 1},     {"text", STRATA_SQL_TEXT, 0},
    {"blob", STRATA_SQL_BLOB, 0},         {"date", STRATA_SQL_DATE, 0},
    {"datetime", STRATA_SQL_DATETIME, 0}, {"datetime_tz", STRATA_SQL_DATETIME_TZ, 0},
    {"json", STRATA_SQL_JSON, 0},         {"uuid", STRATA_SQL_UUID, 0},
};

bool strata__parse_uint(const char **pp, int *out)
{
    const char *p = *pp;
    while (isspace((unsigned char)*p))
        p++;
    if (!isdigit((unsigned char)*p))
        return false;
    long v = 0;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (*p++ - '0');
        if (v > 100000000)
            return false;
    }
    while (isspace((unsigned char)*p))
        p++;
    *out = (int)v;
    *pp = p;
    return true;
}

int strata__type_parse(strata__type *out, const char *text)
{
    memset(out, 0, sizeof *out);
    if (!text)
        return STRATA_E_SCHEMA;
    while (isspace((unsigned char)*text))
        text++;
    if (strncmp(text, "sql:", 4) == 0) {
        const char *raw = text + 4;
        while (isspace((unsigned char)*raw))
            raw++;
        if (!*raw)
            return STRATA_E_SCHEMA;
        out->kind = STRATA_SQL_RAW;
        out->raw = strata__strdup(raw);
        return out->raw ? STRATA_OK : STRATA_E_NOMEM;
    }
    size_t n = 0;
    while (isalnum((unsigned char)text[n]) || text[n] == '_')
        n++;
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strlen(type_names[i].name) != n || strncasecmp(text, type_names[i].name, n) != 0)
            continue;
        const char *p = text + n;
        while (isspace((unsigned char)*p))
            p++;
        out->kind = type_names[i].kind;
        if (*p == '(' && type_names[i].args > 0) {
            p++;
            if (!strata__parse_uint(&p, &out->length) || out->length == 0)
                return STRATA_E_SCHEMA;
            if (*p == ',' && type_names[i].args > 1) {
                p++;
                if (!strata__parse_uint(&p, &out->scale) || out->scale > out->length)
                    return STRATA_E_SCHEMA;
            }
            if (*p++ != ')')
                return STRATA_E_SCHEMA;
            while (isspace((unsigned char)*p))
                p++;
            /* PostgreSQL's limits, kept on every engine. */
            if ((out->kind == STRATA_SQL_NUMERIC && out->length > 1000) ||
                (out->kind == STRATA_SQL_STRING && out->length > 10485760))
                return STRATA_E_SCHEMA;
        }
        return *p ? STRATA_E_SCHEMA : STRATA_OK;
    }
    return STRATA_E_SCHEMA;
}

void strata__type_print(strata__sb *sb, const strata__type *t)
{
    if (t->kind == STRATA_SQL_RAW) {
        strata__sb_printf(sb, "sql:%s", t->raw ? t->raw : "");
        return;
    }
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (type_names[i].kind != t->kind)
            continue;
        strata__sb_puts(sb, type_names[i].name);
        if (t->length && t->kind == STRATA_SQL_NUMERIC)
            strata__sb_printf(sb, "(%d,%d)", t->length, t->scale);
        else if (t->length)
            strata__sb_printf(sb, "(%d)", t->length);
        return;
    }
}

void strata__type_sql(strata__sb *sb, const strata__type *t)
{
    switch (t->kind) {
    case STRATA_SQL_INTEGER: strata__sb_puts(sb, "INTEGER"); return;
    case STRATA_SQL_BIGINT: strata__sb_puts(sb, "BIGINT"); return;
    case STRATA_SQL_SMALLINT: strata__sb_puts(sb, "SMALLINT"); return;
    case STRATA_SQL_BOOLEAN: strata__sb_puts(sb, "BOOLEAN"); return;
    case STRATA_SQL_FLOAT: strata__sb_puts(sb, "DOUBLE PRECISION"); return;
    case STRATA_SQL_NUMERIC:
        if (t->length)
            strata__sb_printf(sb, "NUMERIC(%d, %d)", t->length, t->scale);
        else
            strata__sb_puts(sb, "NUMERIC");
        return;
    case STRATA_SQL_STRING:
        if (t->length)
            strata__sb_printf(sb, "VARCHAR(%d)", t->length);
        else
            strata__sb_puts(sb, "VARCHAR");
        return;
    case STRATA_SQL_TEXT: strata__sb_puts(sb, "TEXT"); return;
    case STRATA_SQL_BLOB: strata__sb_puts(sb, "BLOB"); return;
    case STRATA_SQL_DATE: strata__sb_puts(sb, "DATE"); return;
    case STRATA_SQL_DATETIME: strata__sb_puts(sb, "TIMESTAMP WITHOUT TIME ZONE"); return;
    case STRATA_SQL_DATETIME_TZ: strata__sb_puts(sb, "TIMESTAMP WITH TIME ZONE"); return;
    case STRATA_SQL_JSON: strata__sb_puts(sb, "JSON"); return;
    case STRATA_SQL_UUID: strata__sb_puts(sb, "UUID"); return;
    case STRATA_SQL_RAW: strata__sb_puts(sb, t->raw ? t->raw : ""); return;
    }
}

bool strata__type_equal(const strata__type *a, const strata__type *b)
{
    if (a->kind != b->kind || a->length != b->length || a->scale != b->scale)
        return false;
    if (a->kind == STRATA_SQL_RAW)
        return strcasecmp(a->raw ? a->raw : "", b->raw ? b->raw : "") == 0;
    return true;
}

bool strata__type_is_integer(const strata__type *t)
{
    return t->kind == STRATA_SQL_INTEGER || t->kind == STRATA_SQL_BIGINT ||
           t->kind == STRATA_SQL_SMALLINT;
}

bool strata__type_is_collatable(const strata__type *t)
{
    return t->kind == STRATA_SQL_STRING || t->kind == STRATA_SQL_TEXT;
}

static const char *const collation_names[] = {"binary", "locale"};

const char *strata__collation_name(strata__collation c)
{
    return collation_names[c == COLL_LOCALE];
}

bool strata__collation_parse(const char *name, strata__collation *out)
{
    for (int i = 0; i < 2; i++) {
        if (name && strcasecmp(name, collation_names[i]) == 0) {
            *out = i ? COLL_LOCALE : COLL_BINARY;
            return true;
        }
    }
    return false;
}

static void type_free(strata__type *t)
{
    free(t->raw);
    t->raw = NULL;
}

static int type_copy(strata__type *out, const strata__type *in)
{
    *out = *in;
    out->raw = NULL;
    if (in->raw && !(out->raw = strata__strdup(in->raw)))
        return STRATA_E_NOMEM;
    return STRATA_OK;
}

/* ---- defaults ---------------------------------------------------------- */

bool strata__is_number(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    bool digits = false, dot = false;
    for (; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits = true;
        else if (*p == '.' && !dot)
            dot = true;
        else
            return false;
    }
    return digits;
}

/* A single SQL string literal, 'it''s', and nothing else. */
static bool is_string_literal(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || s[0] != '\'' || s[n - 1] != '\'')
        return false;
    for (size_t i = 1; i < n - 1; i++) {
        if (s[i] == '\'') {
            if (s[i + 1] != '\'' || i + 1 == n - 1)
                return false;
            i++;
        }
    }
    return true;
}

/* A quoted plain number ('0', '-1.5') meant for a number column. */
static bool quoted_number(const char *v, const strata__type *t)
{
    bool number_col = strata__type_is_integer(t) || t->kind == STRATA_SQL_FLOAT ||
                      t->kind == STRATA_SQL_NUMERIC;
    size_t n = strlen(v);
    if (!number_col || n < 3 || n > 64)
        return false;
    char inner[64];
    memcpy(inner, v + 1, n - 2);
    inner[n - 2] = '\0';
    return strata__is_number(inner);
}

/* The canonical text of a plain decimal number: no sign for zero, no '+',
 * no leading zeros, no trailing fractional zeros ("-01.50" -> "-1.5"). */
static void canonical_number(const char *s, char *out, size_t cap)
{
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    while (*s == '0' && s[1] && s[1] != '.')
        s++;
    size_t n = strlen(s);
    if (strchr(s, '.')) {
        while (n && s[n - 1] == '0')
            n--;
        if (n && s[n - 1] == '.')
            n--;
    }
    bool zero = true;
    for (size_t i = 0; i < n; i++)
        if (s[i] >= '1' && s[i] <= '9')
            zero = false;
    if (zero) {
        snprintf(out, cap, "0");
        return;
    }
    snprintf(out, cap, "%s%s%.*s", neg ? "-" : "", *s == '.' ? "0" : "", (int)n, s);
}

bool strata__defaults_equal(const strata_column *a, const strata_column *b)
{
    if (a->def != b->def)
        return false;
    if (a->def == DEF_NONE)
        return true;
    if (a->def == DEF_NUMBER) {
        char x[80], y[80];
        canonical_number(a->def_text, x, sizeof x);
        canonical_number(b->def_text, y, sizeof y);
        return strcmp(x, y) == 0;
    }
    return strcmp(a->def_text, b->def_text) == 0;
}

/* Why the default v (a DEF_NUMBER's digits, or a DEF_STRING's quoted
 * literal) does not fit a column of type t, into why; false when it
 * fits.  PostgreSQL casts a default to the column's type (refusing what
 * does not fit, rounding a number to an integer's or a numeric's
 * precision) where SQLite keeps it as written: so a revision that works
 * on SQLite would fail on PostgreSQL, or give other values.  A uuid's
 * hex digits are lowered in v, as both engines then hold it. */
static bool default_misfits(strata__default_kind kind, char *v, const strata__type *t, char *why,
                            size_t whylen)
{
    if (kind == DEF_NUMBER) {
        const char *point = strchr(v, '.');
        /* The digits after the point, trailing zeros aside. */
        size_t kept = point ? strlen(point + 1) : 0;
        while (kept > 0 && point[kept] == '0')
            kept--;
        bool dot = kept > 0; /* a fraction that is not zero */
        if (strata__type_is_integer(t)) {
            errno = 0;
            long long i = dot ? 0 : strtoll(v, NULL, 10);
            long long lim = t->kind == STRATA_SQL_SMALLINT  ? 32767
                            : t->kind == STRATA_SQL_INTEGER ? 2147483647
                                                            : LLONG_MAX;
            if (dot)
                snprintf(why, whylen, "%.40s is not a whole number, and the column is an integer",
                         v);
            else if (errno || i > lim || i < -lim - 1)
                snprintf(why, whylen, "%.40s is out of the column's range", v);
            return dot || errno || i > lim || i < -lim - 1;
        }
        if (t->kind == STRATA_SQL_NUMERIC && t->length > 0) {
            const char *p = v + (*v == '-' || *v == '+');
            while (*p == '0')
                p++;
            size_t whole = strcspn(p, "."), decimals = kept;
            if (whole > (size_t)(t->length - t->scale)) {
                snprintf(why, whylen, "%.40s is too large for numeric(%d, %d)", v, t->length,
                         t->scale);
                return true;
            }
            if (decimals > (size_t)t->scale) {
                snprintf(why, whylen,
                         "%.40s has more decimals than numeric(%d, %d) keeps: write it rounded", v,
                         t->length, t->scale);
                return true;
            }
            return false;
        }
        if (t->kind == STRATA_SQL_FLOAT) {
            if (!isinf(strtod(v, NULL)))
                return false;
            snprintf(why, whylen, "%.40s is out of a float's range", v);
            return true;
        }
        if (t->kind == STRATA_SQL_STRING && t->length > 0 && strlen(v) > (size_t)t->length) {
            snprintf(why, whylen, "%.40s is longer than the column holds", v);
            return true;
        }
        bool text = t->kind == STRATA_SQL_STRING || t->kind == STRATA_SQL_TEXT ||
                    t->kind == STRATA_SQL_NUMERIC || t->kind == STRATA_SQL_RAW;
        if (!text)
            snprintf(why, whylen, "a number is no value of the column's type");
        return !text;
    }
    if (kind != DEF_STRING)
        return false;
    /* The literal's text, its '' undone. */
    size_t n = strlen(v) - 2, len = 0;
    char *s = malloc(n + 1);
    if (!s)
        return false; /* the engine judges it */
    for (size_t i = 1; i <= n; i++) {
        s[len++] = v[i];
        if (v[i] == '\'')
            i++;
    }
    s[len] = '\0';
    const char *bad = NULL;
    strata_timestamp ts;
    switch (t->kind) {
    case STRATA_SQL_STRING:
        if (t->length > 0 && len > (size_t)t->length) {
            size_t chars = 0;
            for (const char *p = s; *p; p++)
                chars += ((unsigned char)*p & 0xC0) != 0x80;
            if (chars > (size_t)t->length)
                bad = "is longer than the column holds";
        }
        break;
    case STRATA_SQL_DATE:
        if (len != 10 || strata_timestamp_parse(&ts, s, len) != STRATA_OK)
            bad = "is no date (YYYY-MM-DD)";
        break;
    case STRATA_SQL_DATETIME:
    case STRATA_SQL_DATETIME_TZ:
        if (strata_timestamp_parse(&ts, s, len) != STRATA_OK)
            bad = "is no timestamp (YYYY-MM-DD HH:MM:SS)";
        break;
    case STRATA_SQL_UUID:
        if (!strata__uuid_text(s, len))
            bad = "is no UUID (8-4-4-4-12 hex digits)";
        for (char *p = v; !bad && *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        break;
    case STRATA_SQL_JSON:
        if (!strata__json_valid(s, NULL))
            bad = "is no JSON";
        break;
    case STRATA_SQL_BOOLEAN: bad = "is no boolean: write true or false"; break;
    case STRATA_SQL_INTEGER:
    case STRATA_SQL_BIGINT:
    case STRATA_SQL_SMALLINT:
    case STRATA_SQL_FLOAT:
    case STRATA_SQL_NUMERIC: bad = "is no number, and the column is one"; break;
    default: break;
    }
    if (bad)
        snprintf(why, whylen, "'%.40s' %s", s, bad);
    free(s);
    return bad != NULL;
}

int strata__default_parse(strata__default_kind *kind, char **text, const char *value,
                          const strata__type *t, char *why, size_t whylen)
{
    *kind = DEF_NONE;
    *text = NULL;
    if (!value)
        return STRATA_OK;
    while (isspace((unsigned char)*value))
        value++;
    size_t n = strlen(value);
    while (n && isspace((unsigned char)value[n - 1]))
        n--;
    char *v = strata__strndup(value, n);
    if (!v)
        return STRATA_E_NOMEM;
    int rc = STRATA_OK;
    if (strcasecmp(v, "now") == 0) {
        if (t->kind != STRATA_SQL_DATE && t->kind != STRATA_SQL_DATETIME &&
            t->kind != STRATA_SQL_DATETIME_TZ) {
            snprintf(why, whylen, "'now' needs a date or datetime column");
            rc = STRATA_E_SCHEMA;
        }
        *kind = DEF_NOW;
        strcpy(v, "now");
    } else if (strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0) {
        if (t->kind != STRATA_SQL_BOOLEAN && t->kind != STRATA_SQL_RAW) {
            snprintf(why, whylen, "'%s' needs a boolean column", v);
            rc = STRATA_E_SCHEMA;
        }
        for (char *p = v; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        *kind = DEF_BOOL;
    } else if (strata__is_number(v)) {
        if (t->kind == STRATA_SQL_BOOLEAN && (strcmp(v, "0") == 0 || strcmp(v, "1") == 0)) {
            char *b = strata__strdup(v[0] == '1' ? "true" : "false");
            free(v);
            if (!(v = b))
                return STRATA_E_NOMEM;
            *kind = DEF_BOOL;
        } else {
            *kind = DEF_NUMBER;
        }
    } else if (is_string_literal(v) && quoted_number(v, t)) {
        /* '0' on a number column is the number, as the engine stores it
         * (and as introspection reads it back). */
        memmove(v, v + 1, strlen(v) - 2);
        v[strlen(v) - 2] = '\0';
        *kind = DEF_NUMBER;
    } else if (is_string_literal(v)) {
        *kind = DEF_STRING;
    } else if (strncmp(v, "sql:", 4) == 0 && v[4]) {
        *kind = DEF_SQL;
        memmove(v, v + 4, strlen(v + 4) + 1);
        char *p = v;
        while (isspace((unsigned char)*p))
            p++;
        memmove(v, p, strlen(p) + 1);
    } else {
        snprintf(why, whylen,
                 "'%.40s' is not a portable default (now, 'text', a number, true, false, "
                 "or sql:<expression>)",
                 v);
        rc = STRATA_E_SCHEMA;
    }
    if (rc == STRATA_OK && default_misfits(*kind, v, t, why, whylen))
        rc = STRATA_E_SCHEMA;
    if (rc != STRATA_OK) {
        free(v);
        *kind = DEF_NONE;
        return rc;
    }
    *text = v;
    return STRATA_OK;
}

int strata__column_set_default(strata_column *c, strata__default_kind kind, char *text)
{
    free(c->def_text);
    free(c->def_portable);
    c->def = kind;
    c->def_text = text;
    c->def_portable = NULL;
    if (kind == DEF_NONE)
        return STRATA_OK;
    strata__sb sb;
    strata__sb_init(&sb);
    if (kind == DEF_SQL)
        strata__sb_puts(&sb, "sql:");
    strata__sb_puts(&sb, text);
    c->def_portable = strata__sb_take(&sb);
    return c->def_portable ? STRATA_OK : STRATA_E_NOMEM;
}

/* ---- naming ------------------------------------------------------------ */

static const char *const default_naming[5] = {"ix_{table}_{columns}", "uq_{table}_{columns}",
                                              "fk_{table}_{columns}_{referred_table}", "pk_{table}",
                                              "ck_{table}_{name}"};

static bool naming_valid(const char *tmpl)
{
    static const char *const tokens[] = {"{table}", "{columns}", "{column0}", "{referred_table}",
                                         "{name}"};
    for (const char *p = strchr(tmpl, '{'); p; p = strchr(p + 1, '{')) {
        bool ok = false;
        for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
            ok = ok || strncmp(p, tokens[i], strlen(tokens[i])) == 0;
        if (!ok)
            return false;
    }
    return *tmpl != '\0';
}

/* Shorten a name over MAX_NAME bytes to 54 bytes + '_' + 8 hex digits of
 * its FNV-1a hash, so both engines store the same name. */
static char *shorten(char *name)
{
    size_t n = strlen(name);
    if (n <= MAX_NAME)
        return name;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)name[i]) * 16777619u;
    snprintf(name + 54, n - 54 + 1, "_%08x", (unsigned)h);
    return name;
}

static char *make_name(const char *tmpl, const char *table, const strata__names *cols,
                       const char *referred, const char *given)
{
    strata__sb sb;
    strata__sb_init(&sb);
    for (const char *p = tmpl; *p; p++) {
        if (*p != '{') {
            strata__sb_putc(&sb, *p);
            continue;
        }
        const char *end = strchr(p, '}');
        size_t len = (size_t)(end - p + 1);
        if (strncmp(p, "{table}", len) == 0)
            strata__sb_puts(&sb, table);
        else if (strncmp(p, "{columns}", len) == 0)
            for (int i = 0; cols && i < cols->n; i++)
                strata__sb_printf(&sb, "%s%s", i ? "_" : "", cols->v[i]);
        else if (strncmp(p, "{column0}", len) == 0 && cols && cols->n)
            strata__sb_puts(&sb, cols->v[0]);
        else if (strncmp(p, "{referred_table}", len) == 0 && referred)
            strata__sb_puts(&sb, referred);
        else if (strncmp(p, "{name}", len) == 0 && given)
            strata__sb_puts(&sb, given);
        p = end;
    }
    char *name = strata__sb_take(&sb);
    return name ? shorten(name) : NULL;
}

char *strata__md_make_name(const strata_metadata *md, strata__cons_kind kind, bool index,
                           const char *table, const strata__names *cols, const char *referred,
                           const char *given)
{
    const char *tmpl = index                 ? md->naming.index
                       : kind == CONS_PK     ? md->naming.pk
                       : kind == CONS_UNIQUE ? md->naming.unique
                       : kind == CONS_FK     ? md->naming.fk
                                             : md->naming.check;
    return make_name(tmpl, table, cols, referred, given);
}

int strata_metadata_set_naming(strata_metadata *md, const strata_naming *naming)
{
    if (!md || !naming || naming->version != STRATA_NAMING_VERSION)
        return STRATA_E_MISUSE;
    strata__md_clear_error(md);
    const char *given[5] = {naming->index, naming->unique, naming->fk, naming->pk, naming->check};
    char **slot[5] = {&md->naming.index, &md->naming.unique, &md->naming.fk, &md->naming.pk,
                      &md->naming.check};
    for (int i = 0; i < 5; i++)
        if (given[i] && !naming_valid(given[i]))
            return strata__md_error(md, STRATA_E_SCHEMA,
                                    "naming convention template '%s' is empty or has an "
                                    "unknown token (use {table}, {columns}, {column0}, "
                                    "{referred_table}, {name})",
                                    given[i]);
    for (int i = 0; i < 5; i++) {
        char *copy = strata__strdup(given[i] ? given[i] : default_naming[i]);
        if (!copy)
            return STRATA_E_NOMEM;
        free(*slot[i]);
        *slot[i] = copy;
    }
    return STRATA_OK;
}

/* ---- structures -------------------------------------------------------- */

void strata__column_free(strata_column *c)
{
    if (!c)
        return;
    free(c->name);
    type_free(&c->type);
    free(c->def_text);
    free(c->def_portable);
    free(c);
}

strata_column *strata__column_copy(const strata_column *c)
{
    strata_column *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->nullable = c->nullable;
    n->autoincrement = c->autoincrement;
    n->collation = c->collation;
    n->def = c->def;
    n->name = strata__strdup(c->name);
    bool ok = n->name && type_copy(&n->type, &c->type) == STRATA_OK;
    if (ok && c->def_text)
        ok = (n->def_text = strata__strdup(c->def_text)) != NULL;
    if (ok && c->def_portable)
        ok = (n->def_portable = strata__strdup(c->def_portable)) != NULL;
    if (!ok) {
        strata__column_free(n);
        return NULL;
    }
    return n;
}

void strata__index_free(strata__index *ix)
{
    if (!ix)
        return;
    free(ix->name);
    strata__names_free(&ix->cols);
    free(ix->where);
    free(ix);
}

strata__index *strata__index_copy(const strata__index *ix)
{
    strata__index *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->unique = ix->unique;
    if (!(n->name = strata__strdup(ix->name)) ||
        strata__names_copy(&n->cols, &ix->cols) != STRATA_OK ||
        (ix->where && !(n->where = strata__strdup(ix->where)))) {
        strata__index_free(n);
        return NULL;
    }
    return n;
}

void strata__cons_free(strata__cons *c)
{
    if (!c)
        return;
    free(c->name);
    strata__names_free(&c->cols);
    free(c->ref_table);
    strata__names_free(&c->ref_cols);
    free(c->sql);
    free(c);
}

strata__cons *strata__cons_copy(const strata__cons *c)
{
    strata__cons *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = c->kind;
    n->on_delete = c->on_delete;
    n->on_update = c->on_update;
    bool ok = (n->name = strata__strdup(c->name)) != NULL &&
              strata__names_copy(&n->cols, &c->cols) == STRATA_OK &&
              strata__names_copy(&n->ref_cols, &c->ref_cols) == STRATA_OK;
    if (ok && c->ref_table)
        ok = (n->ref_table = strata__strdup(c->ref_table)) != NULL;
    if (ok && c->sql)
        ok = (n->sql = strata__strdup(c->sql)) != NULL;
    if (!ok) {
        strata__cons_free(n);
        return NULL;
    }
    return n;
}

strata_table *strata__table_new(const char *name)
{
    strata_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (!(t->name = strata__strdup(name))) {
        free(t);
        return NULL;
    }
    return t;
}

void strata__table_free(strata_table *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->ncols; i++)
        strata__column_free(t->cols[i]);
    for (int i = 0; i < t->nidx; i++)
        strata__index_free(t->idx[i]);
    for (int i = 0; i < t->ncons; i++)
        strata__cons_free(t->cons[i]);
    strata__cons_free(t->pk);
    free(t->cols);
    free(t->idx);
    free(t->cons);
    free(t->own_rows);
    free(t->name);
    free(t);
}

bool strata__table_push_column(strata_table *t, strata_column *c)
{
    c->table = t;
    return push_ptr((void ***)&t->cols, &t->ncols, c);
}

bool strata__table_push_index(strata_table *t, strata__index *ix)
{
    return push_ptr((void ***)&t->idx, &t->nidx, ix);
}

bool strata__table_push_cons(strata_table *t, strata__cons *c)
{
    return push_ptr((void ***)&t->cons, &t->ncons, c);
}

bool strata__md_push_table(strata_metadata *md, strata_table *t)
{
    t->md = md;
    return push_ptr((void ***)&md->tables, &md->ntables, t);
}

strata_table *strata__table_copy(const strata_table *t)
{
    strata_table *n = strata__table_new(t->name);
    if (!n)
        return NULL;
    bool ok = true;
    for (int i = 0; ok && i < t->ncols; i++) {
        strata_column *c = strata__column_copy(t->cols[i]);
        ok = c && strata__table_push_column(n, c);
        if (!ok)
            strata__column_free(c);
    }
    for (int i = 0; ok && i < t->nidx; i++) {
        strata__index *ix = strata__index_copy(t->idx[i]);
        ok = ix && strata__table_push_index(n, ix);
        if (!ok)
            strata__index_free(ix);
    }
    for (int i = 0; ok && i < t->ncons; i++) {
        strata__cons *c = strata__cons_copy(t->cons[i]);
        ok = c && strata__table_push_cons(n, c);
        if (!ok)
            strata__cons_free(c);
    }
    if (ok && t->pk)
        ok = (n->pk = strata__cons_copy(t->pk)) != NULL;
    if (!ok) {
        strata__table_free(n);
        return NULL;
    }
    if (t->own_rows && !(n->own_rows = strata__strdup(t->own_rows))) {
        strata__table_free(n);
        return NULL;
    }
    return n;
}

int strata__table_find_column_index(const strata_table *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i]->name, name) == 0)
            return i;
    return -1;
}

strata__index *strata__table_find_index(const strata_table *t, const char *name)
{
    for (int i = 0; i < t->nidx; i++)
        if (strcmp(t->idx[i]->name, name) == 0)
            return t->idx[i];
    return NULL;
}

strata__cons *strata__table_find_cons(const strata_table *t, const char *name)
{
    for (int i = 0; i < t->ncons; i++)
        if (strcmp(t->cons[i]->name, name) == 0)
            return t->cons[i];
    return NULL;
}

int strata__md_find_table_index(const strata_metadata *md, const char *name)
{
    for (int i = 0; i < md->ntables; i++)
        if (strcmp(md->tables[i]->name, name) == 0)
            return i;
    return -1;
}

static void remove_at(void **v, int *n, int i)
{
    memmove(v + i, v + i + 1, (size_t)(*n - i - 1) * sizeof *v);
    (*n)--;
}

void strata__md_remove_table(strata_metadata *md, const char *name)
{
    int i = strata__md_find_table_index(md, name);
    if (i >= 0) {
        strata__table_free(md->tables[i]);
        remove_at((void **)md->tables, &md->ntables, i);
    }
}

void strata__table_remove_column(strata_table *t, const char *name)
{
    int i = strata__table_find_column_index(t, name);
    if (i >= 0) {
        strata__column_free(t->cols[i]);
        remove_at((void **)t->cols, &t->ncols, i);
    }
}

void strata__table_remove_index(strata_table *t, const char *name)
{
    for (int i = 0; i < t->nidx; i++) {
        if (strcmp(t->idx[i]->name, name) == 0) {
            strata__index_free(t->idx[i]);
            remove_at((void **)t->idx, &t->nidx, i);
            return;
        }
    }
}

void strata__table_remove_cons(strata_table *t, const char *name)
{
    for (int i = 0; i < t->ncons; i++) {
        if (strcmp(t->cons[i]->name, name) == 0) {
            strata__cons_free(t->cons[i]);
            remove_at((void **)t->cons, &t->ncons, i);
            return;
        }
    }
}

/* ---- metadata ---------------------------------------------------------- */

int strata_metadata_new(strata_metadata **out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    strata_metadata *md = calloc(1, sizeof *md);
    if (!md)
        return STRATA_E_NOMEM;
    strata_naming defaults = {STRATA_NAMING_VERSION, NULL, NULL, NULL, NULL, NULL};
    if (strata_metadata_set_naming(md, &defaults) != STRATA_OK) {
        strata_metadata_free(md);
        return STRATA_E_NOMEM;
    }
    *out = md;
    return STRATA_OK;
}

void strata_metadata_free(strata_metadata *md)
{
    if (!md)
        return;
    for (int i = 0; i < md->ntables; i++)
        strata__table_free(md->tables[i]);
    free(md->tables);
    free(md->naming.index);
    free(md->naming.unique);
    free(md->naming.fk);
    free(md->naming.pk);
    free(md->naming.check);
    free(md->errmsg);
    free(md->left_out);
    free(md);
}

void strata__md_left_out(strata_metadata *md, const char *fmt, ...)
{
    if (!md || md->left_out)
        return;
    strata__sb sb;
    strata__sb_init(&sb);
    va_list ap;
    va_start(ap, fmt);
    strata__sb_vprintf(&sb, fmt, ap);
    va_end(ap);
    md->left_out = strata__sb_take(&sb);
}

int strata_metadata_copy(strata_metadata **out, const strata_metadata *md)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!md)
        return STRATA_E_MISUSE;
    strata_metadata *n;
    if (strata_metadata_new(&n) != STRATA_OK)
        return STRATA_E_NOMEM;
    strata_naming naming = {STRATA_NAMING_VERSION, md->naming.index, md->naming.unique,
                            md->naming.fk,         md->naming.pk,    md->naming.check};
    bool ok = strata_metadata_set_naming(n, &naming) == STRATA_OK;
    for (int i = 0; ok && i < md->ntables; i++) {
        strata_table *t = strata__table_copy(md->tables[i]);
        ok = t && strata__md_push_table(n, t);
        if (!ok)
            strata__table_free(t);
    }
    if (!ok) {
        strata_metadata_free(n);
        return STRATA_E_NOMEM;
    }
    *out = n;
    return STRATA_OK;
}

static bool valid_name(const char *name) { return name && *name && strlen(name) <= MAX_NAME; }

int strata_metadata_add_table(strata_metadata *md, const char *name, strata_table **out)
{
    if (out)
        *out = NULL;
    if (!md)
        return STRATA_E_MISUSE;
    strata__md_clear_error(md);
    if (!valid_name(name))
        return strata__md_error(md, STRATA_E_SCHEMA, "table name '%s' must be 1 to %d bytes long",
                                name ? name : "", MAX_NAME);
    if (strata__md_find_table_index(md, name) >= 0)
        return strata__md_error(md, STRATA_E_EXISTS, "table %s is already defined", name);
    strata_table *t = strata__table_new(name);
    if (!t || !strata__md_push_table(md, t)) {
        strata__table_free(t);
        return STRATA_E_NOMEM;
    }
    if (out)
        *out = t;
    return STRATA_OK;
}

/* Check that every name in `cols` is a column of `t`. */
static int check_columns(strata_table *t, const strata__names *cols, const char *what)
{
    for (int i = 0; i < cols->n; i++)
        if (strata__table_find_column_index(t, cols->v[i]) < 0)
            return strata__md_error(t->md, STRATA_E_SCHEMA, "%s of table %s: no column %s", what,
                                    t->name, cols->v[i]);
    return STRATA_OK;
}

static int split_columns(strata_table *t, strata__names *out, const char *list, const char *what)
{
    int rc = strata__names_split(out, list);
    if (rc == STRATA_E_SCHEMA)
        return strata__md_error(t->md, rc,
                                "%s of table %s: column list '%s' is empty or has "
                                "an empty item",
                                what, t->name, list ? list : "");
    if (rc != STRATA_OK)
        return rc;
    if ((rc = check_columns(t, out, what)) != STRATA_OK)
        strata__names_free(out);
    return rc;
}

static bool name_taken(const strata_table *t, const char *name)
{
    return (t->pk && strcmp(t->pk->name, name) == 0) || strata__table_find_index(t, name) ||
           strata__table_find_cons(t, name);
}

/* Give `name` (or the convention's) to a new index / constraint. */
static int choose_name(strata_table *t, char **out, const char *given, const char *tmpl,
                       const strata__names *cols, const char *referred)
{
    *out = given ? strata__strdup(given) : make_name(tmpl, t->name, cols, referred, NULL);
    if (!*out)
        return STRATA_E_NOMEM;
    if (!valid_name(*out)) {
        int rc = strata__md_error(t->md, STRATA_E_SCHEMA,
                                  "table %s: constraint name '%s' must be 1 to %d bytes long",
                                  t->name, *out, MAX_NAME);
        free(*out);
        *out = NULL;
        return rc;
    }
    if (name_taken(t, *out)) {
        int rc =
            strata__md_error(t->md, STRATA_E_EXISTS,
                             "table %s already has an index or constraint named %s", t->name, *out);
        free(*out);
        *out = NULL;
        return rc;
    }
    return STRATA_OK;
}

static int add_index(strata_table *t, const char *name, strata__names *cols, bool unique,
                     const char *where)
{
    strata__index *ix = calloc(1, sizeof *ix);
    if (!ix || (where && !(ix->where = strata__strdup(where)))) {
        free(ix);
        strata__names_free(cols);
        return STRATA_E_NOMEM;
    }
    ix->cols = *cols;
    ix->unique = unique;
    int rc = choose_name(t, &ix->name, name, t->md->naming.index, cols, NULL);
    if (rc == STRATA_OK && !strata__table_push_index(t, ix))
        rc = STRATA_E_NOMEM;
    if (rc != STRATA_OK)
        strata__index_free(ix);
    return rc;
}

static int add_cons(strata_table *t, strata__cons *c, const char *name, const char *tmpl,
                    const char *given_for_token)
{
    int rc;
    if (given_for_token) {
        c->name = make_name(tmpl, t->name, &c->cols, c->ref_table, given_for_token);
        rc = c->name ? STRATA_OK : STRATA_E_NOMEM;
        if (rc == STRATA_OK && name_taken(t, c->name))
            rc = strata__md_error(t->md, STRATA_E_EXISTS,
                                  "table %s already has an index or constraint named %s", t->name,
                                  c->name);
    } else {
        rc = choose_name(t, &c->name, name, tmpl, &c->cols, c->ref_table);
    }
    if (rc == STRATA_OK && !strata__table_push_cons(t, c))
        rc = STRATA_E_NOMEM;
    if (rc != STRATA_OK)
        strata__cons_free(c);
    return rc;
}

static int pk_autoincrement_ok(strata_table *t)
{
    if (!t->pk)
        return STRATA_OK;
    for (int i = 0; i < t->ncols; i++) {
        strata_column *c = t->cols[i];
        if (c->autoincrement && (t->pk->cols.n != 1 || strcmp(t->pk->cols.v[0], c->name) != 0))
            return strata__md_error(t->md, STRATA_E_SCHEMA,
                                    "column %s.%s: autoincrement needs a one-column primary key "
                                    "on that column",
                                    t->name, c->name);
    }
    return STRATA_OK;
}

int strata_table_add_column(strata_table *t, const char *name, const char *type, unsigned flags,
                            strata_column **out)
{
    if (out)
        *out = NULL;
    if (!t || !t->md)
        return STRATA_E_MISUSE;
    strata_metadata *md = t->md;
    strata__md_clear_error(md);
    if (!valid_name(name))
        return strata__md_error(md, STRATA_E_SCHEMA,
                                "table %s: column name '%s' must be 1 to %d bytes long", t->name,
                                name ? name : "", MAX_NAME);
    if (strata__table_find_column_index(t, name) >= 0)
        return strata__md_error(md, STRATA_E_EXISTS, "column %s.%s is already defined", t->name,
                                name);
    if (flags & ~(STRATA_PRIMARY_KEY | STRATA_AUTOINCREMENT | STRATA_NULLABLE | STRATA_UNIQUE |
                  STRATA_INDEX | STRATA_COLLATE_LOCALE))
        return strata__md_error(md, STRATA_E_SCHEMA, "column %s.%s: unknown flags 0x%x", t->name,
                                name, flags);
    strata_column *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strata__strdup(name))) {
        free(c);
        return STRATA_E_NOMEM;
    }
    int rc = strata__type_parse(&c->type, type);
    if (rc != STRATA_OK) {
        strata__column_free(c);
        if (rc != STRATA_E_SCHEMA)
            return rc;
        return strata__md_error(md, rc,
                                "column %s.%s: '%s' is not a portable type (integer, bigint, "
                                "smallint, boolean, float, numeric(p,s) with p up to 1000, "
                                "string(n) with n up to 10485760, text, blob, date, datetime, "
                                "datetime_tz, json, uuid, sql:<type>)",
                                t->name, name, type ? type : "");
    }
    if ((flags & STRATA_PRIMARY_KEY) && (flags & STRATA_NULLABLE)) {
        strata__column_free(c);
        return strata__md_error(md, STRATA_E_SCHEMA,
                                "column %s.%s: a primary key column cannot be nullable", t->name,
                                name);
    }
    if ((flags & STRATA_AUTOINCREMENT) &&
        (!(flags & STRATA_PRIMARY_KEY) || !strata__type_is_integer(&c->type))) {
        strata__column_free(c);
        return strata__md_error(md, STRATA_E_SCHEMA,
                                "column %s.%s: autoincrement needs an integer primary key column",
                                t->name, name);
    }
    if ((flags & STRATA_COLLATE_LOCALE) && !strata__type_is_collatable(&c->type)) {
        strata__column_free(c);
        return strata__md_error(md, STRATA_E_SCHEMA,
                                "column %s.%s: collation locale (STRATA_COLLATE_LOCALE) needs "
                                "a string or text column, not %s",
                                t->name, name, type);
    }
    c->nullable = (flags & STRATA_NULLABLE) != 0;
    c->autoincrement = (flags & STRATA_AUTOINCREMENT) != 0;
    c->collation = (flags & STRATA_COLLATE_LOCALE) ? COLL_LOCALE : COLL_BINARY;
    if (!strata__table_push_column(t, c)) {
        strata__column_free(c);
        return STRATA_E_NOMEM;
    }
    if (flags & STRATA_PRIMARY_KEY) {
        if (!t->pk) {
            strata__cons *pk = calloc(1, sizeof *pk);
            if (!pk)
                goto nomem;
            pk->kind = CONS_PK;
            if (!(pk->name = make_name(md->naming.pk, t->name, NULL, NULL, NULL))) {
                free(pk);
                goto nomem;
            }
            t->pk = pk;
        }
        char *copy = strata__strdup(name);
        if (!copy || !push_ptr((void ***)&t->pk->cols.v, &t->pk->cols.n, copy)) {
            free(copy);
            goto nomem;
        }
        if ((rc = pk_autoincrement_ok(t)) != STRATA_OK)
            goto undo;
    }
    if (flags & (STRATA_INDEX | STRATA_UNIQUE)) {
        strata__names cols;
        if ((rc = strata__names_split(&cols, name)) != STRATA_OK)
            goto undo;
        if (flags & STRATA_INDEX) {
            rc = add_index(t, NULL, &cols, (flags & STRATA_UNIQUE) != 0, NULL);
        } else {
            strata__cons *u = calloc(1, sizeof *u);
            if (!u) {
                strata__names_free(&cols);
                goto nomem;
            }
            u->kind = CONS_UNIQUE;
            u->cols = cols;
            rc = add_cons(t, u, NULL, md->naming.unique, NULL);
        }
        if (rc != STRATA_OK)
            goto undo;
    }
    if (out)
        *out = c;
    return STRATA_OK;
nomem:
    rc = STRATA_E_NOMEM;
undo:
    /* Leave the table as it was. */
    if (t->pk) {
        if (t->pk->cols.n && strcmp(t->pk->cols.v[t->pk->cols.n - 1], name) == 0)
            free(t->pk->cols.v[--t->pk->cols.n]);
        if (t->pk->cols.n == 0) {
            strata__cons_free(t->pk);
            t->pk = NULL;
        }
    }
    strata__table_remove_column(t, name);
    return rc;
}

int strata_column_set_server_default(strata_column *c, const char *value)
{
    if (!c || !c->table || !c->table->md)
        return STRATA_E_MISUSE;
    strata_metadata *md = c->table->md;
    strata__md_clear_error(md);
    strata__default_kind kind;
    char *text;
    char why[160] = "";
    int rc = strata__default_parse(&kind, &text, value, &c->type, why, sizeof why);
    if (rc == STRATA_E_SCHEMA)
        return strata__md_error(md, rc, "column %s.%s: server default: %s", c->table->name, c->name,
                                why);
    if (rc != STRATA_OK)
        return rc;
    return strata__column_set_default(c, kind, text);
}

int strata_table_set_primary_key(strata_table *t, const char *name, const char *columns)
{
    if (!t || !t->md)
        return STRATA_E_MISUSE;
    strata__md_clear_error(t->md);
    strata__cons *pk = calloc(1, sizeof *pk);
    if (!pk)
        return STRATA_E_NOMEM;
    pk->kind = CONS_PK;
    int rc = split_columns(t, &pk->cols, columns, "primary key");
    if (rc != STRATA_OK) {
        free(pk);
        return rc;
    }
    pk->name = name ? strata__strdup(name) : make_name(t->md->naming.pk, t->name, NULL, NULL, NULL);
    if (!pk->name) {
        strata__cons_free(pk);
        return STRATA_E_NOMEM;
    }
    if (!valid_name(pk->name)) {
        rc = strata__md_error(t->md, STRATA_E_SCHEMA,
                              "table %s: constraint name '%s' must be 1 to %d bytes long", t->name,
                              pk->name, MAX_NAME);
        strata__cons_free(pk);
        return rc;
    }
    for (int i = 0; i < pk->cols.n; i++) {
        strata_column *c = t->cols[strata__table_find_column_index(t, pk->cols.v[i])];
        if (c->nullable) {
            strata__cons_free(pk);
            return strata__md_error(t->md, STRATA_E_SCHEMA,
                                    "column %s.%s: a primary key column cannot be nullable",
                                    t->name, c->name);
        }
    }
    strata__cons *old = t->pk;
    t->pk = pk;
    if ((rc = pk_autoincrement_ok(t)) != STRATA_OK) {
        t->pk = old;
        strata__cons_free(pk);
        return rc;
    }
    strata__cons_free(old);
    return STRATA_OK;
}

int strata_table_add_index(strata_table *t, const char *name, const char *columns, int unique)
{
    if (!t || !t->md)
        return STRATA_E_MISUSE;
    strata__md_clear_error(t->md);
    strata__names cols;
    int rc = split_columns(t, &cols, columns, "index");
    return rc != STRATA_OK ? rc : add_index(t, name, &cols, unique != 0, NULL);
}

int strata_table_add_partial_index(strata_table *t, const char *name, const char *columns,
                                   int unique, const char *where)
{
    if (!t || !t->md)
        return STRATA_E_MISUSE;
    strata__md_clear_error(t->md);
    if (!where || !*where || strlen(where) > 4000)
        return strata__md_error(t->md, STRATA_E_SCHEMA,
                                "partial index of table %s needs a condition (WHERE) of 1 to "
                                "4000 bytes",
                                t->name);
    strata__names cols;
    int rc = split_columns(t, &cols, columns, "index");
    return rc != STRATA_OK ? rc : add_index(t, name, &cols, unique != 0, where);
}

int strata_table_add_unique(strata_table *t, const char *name, const char *columns)
{
    if (!t || !t->md)
        return STRATA_E_MISUSE;
    strata__md_clear_error(t->md);
    strata__cons *u = calloc(1, sizeof *u);
    if (!u)
        return STRATA_E_NOMEM;
    u->kind = CONS_UNIQUE;
    int rc = split_columns(t, &u->cols, columns, "unique constraint");
    if (rc != STRATA_OK) {
        free(u);
        return rc;
    }
    return add_cons(t, u, name, t->md->naming.unique, NULL);
}

int strata_table_add_foreign_key(strata_table *t, const char *name, const char *columns,
                                 const char *ref_table, const char *ref_columns,
                                 strata_fk_action on_delete, strata_fk_action on_update)
{
    if (!t || !t->md)
        return STRATA_E_MISUSE;
    strata__md_clear_error(t->md);
    if (!valid_name(ref_table))
        return strata__md_error(t->md, STRATA_E_SCHEMA,
                                "foreign key of table %s: referred table name '%s' is not valid",
                                t->name, ref_table ? ref_table : "");
    if ((unsigned)on_delete > STRATA_FK_SET_DEFAULT || (unsigned)on_update > STRATA_FK_SET_DEFAULT)
        return strata__md_error(t->md, STRATA_E_SCHEMA,
                                "foreign key of table %s: unknown ON DELETE / ON UPDATE action",
                                t->name);
    strata__cons *fk = calloc(1, sizeof *fk);
    if (!fk)
        return STRATA_E_NOMEM;
    fk->kind = CONS_FK;
    fk->on_delete = on_delete;
    fk->on_update = on_update;
    int rc = split_columns(t, &fk->cols, columns, "foreign key");
    if (rc != STRATA_OK) {
        free(fk);
        return rc;
    }
    rc = strata__names_split(&fk->ref_cols, ref_columns);
    if (rc == STRATA_OK && fk->ref_cols.n != fk->cols.n)
        rc = STRATA_E_SCHEMA;
    if (rc == STRATA_OK && !(fk->ref_table = strata__strdup(ref_table)))
        rc = STRATA_E_NOMEM;
    if (rc != STRATA_OK) {
        strata__cons_free(fk);
        if (rc != STRATA_E_SCHEMA)
            return rc;
        return strata__md_error(t->md, rc,
                                "foreign key of table %s: referred columns '%s' must be as many "
                                "as the columns '%s'",
                                t->name, ref_columns ? ref_columns : "", columns);
    }
    return add_cons(t, fk, name, t->md->naming.fk, NULL);
}

int strata_table_add_check(strata_table *t, const char *name, const char *sql)
{
    if (!t || !t->md)
        return STRATA_E_MISUSE;
    strata__md_clear_error(t->md);
    if (!name || !*name || !sql || !*sql)
        return strata__md_error(t->md, STRATA_E_SCHEMA,
                                "check constraint of table %s needs a name and an expression",
                                t->name);
    strata__cons *ck = calloc(1, sizeof *ck);
    if (!ck || !(ck->sql = strata__strdup(sql))) {
        free(ck);
        return STRATA_E_NOMEM;
    }
    ck->kind = CONS_CHECK;
    return add_cons(t, ck, NULL, t->md->naming.check, name);
}

/* ---- readers ----------------------------------------------------------- */

int strata_metadata_table_count(const strata_metadata *md) { return md ? md->ntables : 0; }

strata_table *strata_metadata_table(const strata_metadata *md, int i)
{
    return md && i >= 0 && i < md->ntables ? md->tables[i] : NULL;
}

strata_table *strata_metadata_find_table(const strata_metadata *md, const char *name)
{
    int i = md && name ? strata__md_find_table_index(md, name) : -1;
    return i >= 0 ? md->tables[i] : NULL;
}

const char *strata_table_name(const strata_table *t) { return t ? t->name : NULL; }
int strata_table_column_count(const strata_table *t) { return t ? t->ncols : 0; }

strata_column *strata_table_column(const strata_table *t, int i)
{
    return t && i >= 0 && i < t->ncols ? t->cols[i] : NULL;
}

strata_column *strata_table_find_column(const strata_table *t, const char *name)
{
    int i = t && name ? strata__table_find_column_index(t, name) : -1;
    return i >= 0 ? t->cols[i] : NULL;
}

const char *strata_column_name(const strata_column *c) { return c ? c->name : NULL; }
strata_sqltype strata_column_type(const strata_column *c) { return c ? c->type.kind : 0; }
int strata_column_length(const strata_column *c) { return c ? c->type.length : 0; }
int strata_column_scale(const strata_column *c) { return c ? c->type.scale : 0; }
const char *strata_column_server_default(const strata_column *c)
{
    return c ? c->def_portable : NULL;
}

unsigned strata_column_flags(const strata_column *c)
{
    if (!c)
        return 0;
    unsigned f = 0;
    if (c->nullable)
        f |= STRATA_NULLABLE;
    if (c->autoincrement)
        f |= STRATA_AUTOINCREMENT;
    if (c->collation == COLL_LOCALE)
        f |= STRATA_COLLATE_LOCALE;
    if (c->table && c->table->pk && strata__names_has(&c->table->pk->cols, c->name))
        f |= STRATA_PRIMARY_KEY;
    return f;
}

/* ---- describe ---------------------------------------------------------- */

const char *strata__fk_action_sql(strata_fk_action a)
{
    switch (a) {
    case STRATA_FK_RESTRICT: return "RESTRICT";
    case STRATA_FK_CASCADE: return "CASCADE";
    case STRATA_FK_SET_NULL: return "SET NULL";
    case STRATA_FK_SET_DEFAULT: return "SET DEFAULT";
    default: return "NO ACTION";
    }
}

void strata__column_describe(strata__sb *sb, const strata_column *c)
{
    strata__sb_printf(sb, "column %s ", c->name);
    strata__type_print(sb, &c->type);
    strata__sb_puts(sb, c->nullable ? " null" : " not null");
    if (c->autoincrement)
        strata__sb_puts(sb, " autoincrement");
    if (c->def_portable)
        strata__sb_printf(sb, " default %s", c->def_portable);
    if (c->collation != COLL_BINARY)
        strata__sb_printf(sb, " collation %s", strata__collation_name(c->collation));
}

void strata__index_describe(strata__sb *sb, const strata__index *ix)
{
    strata__sb_printf(sb, "index %s %s", ix->name, ix->unique ? "unique " : "");
    strata__names_print(sb, &ix->cols);
    if (ix->where)
        strata__sb_printf(sb, " where %s", ix->where);
}

void strata__cons_describe(strata__sb *sb, const strata__cons *c)
{
    switch (c->kind) {
    case CONS_PK: strata__sb_printf(sb, "primary key %s ", c->name); break;
    case CONS_UNIQUE: strata__sb_printf(sb, "unique %s ", c->name); break;
    case CONS_FK: strata__sb_printf(sb, "foreign key %s ", c->name); break;
    case CONS_CHECK: strata__sb_printf(sb, "check %s (%s)", c->name, c->sql); return;
    }
    strata__names_print(sb, &c->cols);
    if (c->kind != CONS_FK)
        return;
    strata__sb_printf(sb, " references %s ", c->ref_table);
    strata__names_print(sb, &c->ref_cols);
    for (int i = 0; i < 2; i++) {
        strata_fk_action a = i ? c->on_update : c->on_delete;
        if (a != STRATA_FK_NO_ACTION)
            strata__sb_printf(sb, " on %s %s", i ? "update" : "delete", strata__fk_action_sql(a));
    }
}

static int cmp_index(const void *a, const void *b)
{
    return strcmp((*(strata__index *const *)a)->name, (*(strata__index *const *)b)->name);
}

static int cmp_cons(const void *a, const void *b)
{
    return strcmp((*(strata__cons *const *)a)->name, (*(strata__cons *const *)b)->name);
}

static int cmp_table(const void *a, const void *b)
{
    return strcmp((*(strata_table *const *)a)->name, (*(strata_table *const *)b)->name);
}

void strata__table_describe(strata__sb *sb, const strata_table *t)
{
    strata__sb_printf(sb, "table %s\n", t->name);
    for (int i = 0; i < t->ncols; i++) {
        strata__sb_puts(sb, "  ");
        strata__column_describe(sb, t->cols[i]);
        strata__sb_putc(sb, '\n');
    }
    if (t->pk) {
        strata__sb_puts(sb, "  ");
        strata__cons_describe(sb, t->pk);
        strata__sb_putc(sb, '\n');
    }
    strata__index **idx = t->nidx ? malloc((size_t)t->nidx * sizeof *idx) : NULL;
    strata__cons **cons = t->ncons ? malloc((size_t)t->ncons * sizeof *cons) : NULL;
    if ((t->nidx && !idx) || (t->ncons && !cons)) {
        sb->failed = true;
        free(idx);
        free(cons);
        return;
    }
    if (t->nidx) {
        memcpy(idx, t->idx, (size_t)t->nidx * sizeof *idx);
        qsort(idx, (size_t)t->nidx, sizeof *idx, cmp_index);
    }
    if (t->ncons) {
        memcpy(cons, t->cons, (size_t)t->ncons * sizeof *cons);
        qsort(cons, (size_t)t->ncons, sizeof *cons, cmp_cons);
    }
    for (int i = 0; i < t->nidx; i++) {
        strata__sb_puts(sb, "  ");
        strata__index_describe(sb, idx[i]);
        strata__sb_putc(sb, '\n');
    }
    for (int i = 0; i < t->ncons; i++) {
        strata__sb_puts(sb, "  ");
        strata__cons_describe(sb, cons[i]);
        strata__sb_putc(sb, '\n');
    }
    free(idx);
    free(cons);
}

int strata_metadata_describe(const strata_metadata *md, char **out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!md)
        return STRATA_E_MISUSE;
    strata_table **tables = md->ntables ? malloc((size_t)md->ntables * sizeof *tables) : NULL;
    if (md->ntables && !tables)
        return STRATA_E_NOMEM;
    if (md->ntables) {
        memcpy(tables, md->tables, (size_t)md->ntables * sizeof *tables);
        qsort(tables, (size_t)md->ntables, sizeof *tables, cmp_table);
    }
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_puts(&sb, "");
    for (int i = 0; i < md->ntables; i++)
        strata__table_describe(&sb, tables[i]);
    free(tables);
    *out = strata__sb_take(&sb);
    return *out ? STRATA_OK : STRATA_E_NOMEM;
}

/* ---- foreign-key order ------------------------------------------------- */

/* Kahn's algorithm over "references" edges inside md, picking the smallest
 * name among the ready tables so the order is stable; a cycle is broken at
 * its smallest name. */
int *strata__md_sorted(const strata_metadata *md)
{
    int n = md->ntables;
    int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    bool *done = calloc((size_t)(n ? n : 1), sizeof *done);
    if (!order || !done) {
        free(order);
        free(done);
        return NULL;
    }
    for (int k = 0; k < n; k++) {
        int pick = -1, fallback = -1;
        for (int i = 0; i < n; i++) {
            if (done[i])
                continue;
            const strata_table *t = md->tables[i];
            if (fallback < 0 || strcmp(t->name, md->tables[fallback]->name) < 0)
                fallback = i;
            bool ready = true;
            for (int c = 0; ready && c < t->ncons; c++) {
                if (t->cons[c]->kind != CONS_FK || strcmp(t->cons[c]->ref_table, t->name) == 0)
                    continue;
                int r = strata__md_find_table_index(md, t->cons[c]->ref_table);
                ready = r < 0 || done[r];
            }
            if (ready && (pick < 0 || strcmp(t->name, md->tables[pick]->name) < 0))
                pick = i;
        }
        if (pick < 0)
            pick = fallback;
        done[pick] = true;
        order[k] = pick;
    }
    free(done);
    return order;
}
