/*
 * echo.c - SQL echo for debugging: one line per statement with its bound
 * parameters, sent to the connection's echo function (stderr by default
 * when STRATA_ECHO=1).  Lines never carry a password: the connection's
 * password is scrubbed, the literal (or name, or word) after a PASSWORD
 * keyword (CREATE/ALTER ROLE ... PASSWORD '...') is replaced by '***',
 * and a PASSWORD inside a literal hides the rest of the text.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define ECHO_TEXT_MAX 80

void strata_echo_stderr(void *userdata, const char *line)
{
    (void)userdata;
    fprintf(stderr, "%s\n", line);
}

/* The end of the string literal at q (after its closing quote), or NULL
 * when q starts none: '...' with '' inside, E'...' with backslash escapes
 * too (every '...' when `backslash`: PostgreSQL's
 * standard_conforming_strings off), U&'...' (PostgreSQL's Unicode
 * escapes), and $tag$...$tag$.  An unclosed one ends with the text. */
static const char *literal_end(const char *q, bool backslash)
{
    bool escapes = (*q == 'E' || *q == 'e') && q[1] == '\'';
    if (escapes)
        q++;
    else if ((*q == 'U' || *q == 'u') && q[1] == '&' && q[2] == '\'')
        q += 2;
    else
        escapes = backslash;
    if (*q == '\'') {
        for (q++; *q; q++) {
            if (escapes && *q == '\\' && q[1])
                q++;
            else if (*q == '\'' && q[1] == '\'')
                q++;
            else if (*q == '\'')
                return q + 1;
        }
        return q;
    }
    if (*q != '$')
        return NULL;
    const char *tag = q++;
    while (isalnum((unsigned char)*q) || *q == '_')
        q++;
    if (*q != '$' || isdigit((unsigned char)tag[1]))
        return NULL;
    size_t len = (size_t)(q - tag) + 1; /* $tag$ */
    for (q++; *q; q++)
        if (strncmp(q, tag, len) == 0)
            return q + len;
    return q;
}

/* q, in sql, past white space and comments, read by the project's lexer
 * (slash-star to the first star-slash: where PostgreSQL nests comments, a
 * literal inside is then taken for one outside, which hides more, never
 * less; a `--` comment ends at a carriage return too, as PostgreSQL ends
 * it).  NULL when a comment is not closed. */
static const char *skip_blank(const char *sql, const char *q)
{
    while (*q) {
        strata__token t;
        strata__sql_token_at(sql, q, 0, &t);
        if (t.kind == STRATA__TOK_COMMENT && q[0] == '-') {
            const char *cr = memchr(q, '\r', t.len);
            if (cr)
                t.len = (size_t)(cr - q);
        } else if (t.kind == STRATA__TOK_COMMENT && t.unterminated) {
            return NULL;
        }
        if (t.kind != STRATA__TOK_SPACE && t.kind != STRATA__TOK_COMMENT)
            break;
        q += t.len;
    }
    return q;
}

static bool word_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* A PASSWORD clause: the keyword at `at`, its first literal at `lit`
 * (NULL when a comment after the keyword is not closed), and `end` past
 * the last literal that continues it (PostgreSQL joins 'a' and 'b' on the
 * next line; U&'...' may be followed by UESCAPE '!'); `end` NULL when no
 * literal follows (PASSWORD NULL, a column's name).  `open`: a comment
 * after the literals is not closed, so the rest may be anything. */
typedef struct pw_clause {
    const char *at, *lit, *end;
    bool open;
    bool kv;   /* a connection string's password=value (sslpassword= too): lit to end */
    bool bare; /* no literal but a name or a word (PASSWORD "pw", PASSWORD pw): lit to end */
} pw_clause;

/* Words that follow a column named password, not a password: the word
 * after PASSWORD is hidden unless it is one of these (more hidden, never
 * less). */
static bool column_word(const char *w, size_t n)
{
    static const char *const words[] = {
        "null",    "from",   "as",        "is",        "in",         "and",   "or",
        "not",     "where",  "order",     "group",     "limit",      "on",    "set",
        "using",   "with",   "valid",     "text",      "varchar",    "char",  "character",
        "bytea",   "blob",   "desc",      "asc",       "collate",    "like",  "ilike",
        "between", "unique", "primary",   "default",   "references", "check", "constraint",
        "having",  "offset", "returning", "then",      "else",       "end",   "when",
        "into",    "union",  "except",    "intersect", "nulls",      "escape"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strlen(words[i]) == n && strncasecmp(w, words[i], n) == 0)
            return true;
    return false;
}

/* A name or word at q that PASSWORD takes for its value: its end, or
 * NULL. */
static const char *bare_value_end(const char *q)
{
    if (*q == '"') {
        const char *e = q + 1;
        while (*e && !(*e == '"' && e[1] != '"'))
            e += *e == '"' ? 2 : 1;
        return *e ? e + 1 : e;
    }
    const char *e = q;
    while (word_char(*e) || (unsigned char)*e >= 0x80)
        e++;
    return e > q && !column_word(q, (size_t)(e - q)) ? e : NULL;
}

/* A connection string's value at v (in a literal of the SQL, as
 * dblink_connect('host=h password=s3cret') takes one): its end.  A value
 * quoted in the connection string goes to its closing quote, however the
 * SQL writes the quote: '' inside a literal, \' inside an E'' one, '
 * inside a dollar-quoted one (a backslash escaping the next byte, as
 * libpq reads it); a bare value to a space or the quote that ends the
 * SQL's literal.  Unclosed, to the text's end: more hidden, never less. */
static const char *conninfo_value_end(const char *v)
{
    if (v[0] == '\\' && v[1] == '\'') {
        const char *close = strstr(v + 2, "\\'");
        return close ? close + 2 : v + strlen(v);
    }
    size_t q = v[0] != '\'' ? 0 : v[1] == '\'' ? 2 : 1;
    if (q) {
        for (const char *e = v + q; *e; e++) {
            if (*e == '\\' && e[1])
                e++;
            else if (*e == '\'' && (q == 1 || e[1] == '\''))
                return e + q;
        }
        return v + strlen(v);
    }
    const char *e = v;
    while (*e && !isspace((unsigned char)*e) && *e != '\'')
        e++;
    return e;
}

/* A URL's password in the SQL (dblink_connect('postgresql://u:pw@h/db')):
 * at p, "://" and user-info holding a ':' before its '@'. */
static bool uri_password(const char *p, pw_clause *c)
{
    if (strncmp(p, "://", 3) != 0)
        return false;
    const char *colon = NULL, *u = p + 3;
    for (; *u && *u != '@' && *u != '/' && !isspace((unsigned char)*u); u++) {
        if (*u == '\'' && u[1] == '\'' && colon) {
            u++; /* a quote of the password, doubled inside the SQL's literal */
            continue;
        }
        if (*u == '\'')
            break;
        if (*u == ':' && !colon)
            colon = u;
    }
    if (*u != '@' || !colon || u == colon + 1)
        return false;
    *c = (pw_clause){.at = p, .lit = colon + 1, .end = u, .kv = true};
    return true;
}

static unsigned literal_flags(bool backslash)
{
    return STRATA_LEX_DOLLAR_QUOTES | STRATA_LEX_E_STRINGS |
           (backslash ? STRATA_LEX_BACKSLASH_STRINGS : 0);
}

/* Whether `at` lies inside one of sql's string literals, read as
 * PostgreSQL reads them. */
static bool inside_literal(const char *sql, const char *at, bool backslash)
{
    unsigned flags = literal_flags(backslash);
    for (const char *p = sql; *p && p <= at;) {
        strata__token t;
        strata__sql_token_at(sql, p, flags, &t);
        if (t.len == 0)
            break;
        if (at < p + t.len)
            return t.kind == STRATA__TOK_STRING && at > p;
        p += t.len;
    }
    return false;
}

/* The next PASSWORD keyword, as a whole word, at or after p, or a
 * connection string's password= (sslpassword= too; also a column
 * compared with `password = '…'`), or a URL's password; false when there
 * is none. */
static bool next_password(const char *sql, const char *p, pw_clause *c, bool backslash)
{
    for (; *p; p++) {
        if (uri_password(p, c))
            return true;
        if (strncasecmp(p, "password", 8) != 0)
            continue;
        const char *eq = p + 8;
        while (*eq == ' ' || *eq == '\t')
            eq++;
        const char *v = eq + 1;
        while (*eq == '=' && (*v == ' ' || *v == '\t'))
            v++;
        if (*eq == '=' && *v) {
            const char *e = conninfo_value_end(v);
            if (e > v) {
                *c = (pw_clause){.at = p, .lit = v, .end = e, .kv = true};
                return true;
            }
        }
        if ((p > sql && word_char(p[-1])) || word_char(p[8]) || inside_literal(sql, p, backslash))
            continue; /* a literal's PASSWORD: password_in_literal's */
        c->kv = c->bare = false;
        c->at = p;
        c->lit = skip_blank(sql, p + 8);
        c->end = c->lit ? literal_end(c->lit, backslash) : NULL;
        c->open = !c->lit;
        if (c->lit && !c->end && (c->end = bare_value_end(c->lit)) != NULL) {
            c->bare = true;
            return true;
        }
        for (const char *more = c->end; more;) {
            more = skip_blank(sql, c->end);
            if (more && strncasecmp(more, "uescape", 7) == 0 && !word_char(more[7]))
                more = skip_blank(sql, more + 7);
            c->open = !more;
            const char *next = more ? literal_end(more, backslash) : NULL;
            if (next)
                c->end = next;
            more = next;
        }
        return true;
    }
    return false;
}

/* Whether db's connection reads a backslash as an escape in every string
 * now (standard_conforming_strings off): its literals end elsewhere. */
static bool backslash_strings(const strata_db *db)
{
    return db && (strata__drv_lexer_flags(db) & STRATA_LEX_BACKSLASH_STRINGS);
}

static void put_redacted_to_end(strata__sb *sb, const char *sql, bool backslash);

/* A PASSWORD keyword inside one of sql's string literals (SQL the SQL
 * runs: DO $$ ... EXECUTE 'ALTER ROLE r PASSWORD ''pw''' $$, or
 * format('... PASSWORD %L', r, 'pw')), not a connection string's
 * password=: the position past it, or NULL.  Read as PostgreSQL reads
 * literals, whichever the engine: more hidden, never less.  What follows
 * is quoted in ways one scan cannot follow (doubled, escaped, built by a
 * function from later literals), so it is hidden to the text's end. */
static const char *password_in_literal(const char *sql, bool backslash)
{
    unsigned flags = literal_flags(backslash);
    for (const char *p = sql; *p;) {
        strata__token t;
        strata__sql_token_at(sql, p, flags, &t);
        if (t.len == 0)
            break;
        /* After ROLE or USER in the same literal (ALTER ROLE, CREATE
         * USER ... WITH PASSWORD), or followed by a quote or a format's
         * placeholder inside it (PASSWORD ''pw'', \'pw\', %L): a literal
         * 'password' alone, a setting's name, is no clause. */
        bool role = false;
        const char *close = p + t.len - 1; /* the literal's last byte */
        for (size_t i = 1; t.kind == STRATA__TOK_STRING && i + 4 <= t.len; i++) {
            const char *w = p + i;
            if (word_char(w[-1]))
                continue;
            if ((strncasecmp(w, "role", 4) == 0 && !word_char(w[4])) ||
                (strncasecmp(w, "user", 4) == 0 && !word_char(w[4])))
                role = true;
            if (i + 8 > t.len || strncasecmp(w, "password", 8) != 0 || word_char(w[8]))
                continue;
            const char *v = w + 8;
            while (*v == ' ' || *v == '\t')
                v++;
            bool quoted = v < close && strchr("'\"\\%", *v);
            if (*v != '=' && (role || quoted))
                return w + 8;
        }
        p += t.len;
    }
    return NULL;
}

static void put_redacted(strata__sb *sb, const char *sql, bool backslash)
{
    const char *stop = password_in_literal(sql, backslash);
    if (stop) {
        char *head = strata__strndup(sql, (size_t)(stop - sql));
        if (!head) {
            sb->failed = true; /* nothing is echoed rather than too much */
            return;
        }
        put_redacted_to_end(sb, head, backslash);
        free(head);
        strata__sb_puts(sb, " ***");
        return;
    }
    put_redacted_to_end(sb, sql, backslash);
}

static void put_redacted_to_end(strata__sb *sb, const char *sql, bool backslash)
{
    const char *p = sql;
    pw_clause c;
    while (next_password(sql, p, &c, backslash)) {
        if (c.kv) {
            strata__sb_putn(sb, p, (size_t)(c.lit - p)); /* up to the value */
            strata__sb_puts(sb, "***");
            p = c.end;
            continue;
        }
        strata__sb_putn(sb, p, (size_t)(c.at + 8 - p)); /* the keyword as written */
        if (c.lit && !c.end) {
            p = c.at + 8;
            continue;
        }
        strata__sb_puts(sb, c.lit && !c.bare ? " '***'" : " ***");
        if (c.open)
            return;
        p = c.end;
    }
    strata__sb_puts(sb, p);
}

/* Copy SQL, replacing the string literals of each PASSWORD clause, and
 * whatever follows a comment left open in one, by '***'. */
void strata__put_redacted_sql(strata__sb *sb, const char *sql) { put_redacted(sb, sql, false); }

/* The engine's message of a statement that failed may quote its text
 * ("unterminated quoted string at or near \"'s3cret\""): the content
 * of each PASSWORD clause's first literal in sql (of 4 bytes or more; to
 * the end of the text when it is not closed, or after a comment left
 * open) becomes *** wherever the message holds it. */
/* The n bytes at `secret`, when 4 or more, become *** wherever db's
 * message holds them. */
static void hide_in_message(strata_db *db, const char *secret, size_t n)
{
    char *copy = n >= 4 ? strata__strndup(secret, n) : NULL, *at;
    while (copy && db->errmsg && (at = strstr(db->errmsg, copy)) != NULL) {
        strata__sb sb;
        strata__sb_init(&sb);
        strata__sb_putn(&sb, db->errmsg, (size_t)(at - db->errmsg));
        strata__sb_puts(&sb, "***");
        strata__sb_puts(&sb, at + n);
        char *clean = strata__sb_take(&sb);
        free(db->errmsg);
        db->errmsg = clean ? clean : strata__strdup("***"); /* never the secret */
    }
    free(copy);
}

/* Each run of 4 bytes or more in [from, to) that is no quote, backslash,
 * dollar or white space becomes *** wherever db's message holds it. */
static void hide_runs(strata_db *db, const char *from, const char *to)
{
    for (const char *p = from; db->errmsg && p < to;) {
        size_t n = 0;
        while (p + n < to && !strchr("'\"\\$ \t\r\n", p[n]))
            n++;
        hide_in_message(db, p, n);
        p += n ? n : 1;
    }
}

void strata__db_hide_password_literals(strata_db *db, const char *sql)
{
    if (!db->errmsg || !sql)
        return;
    pw_clause c;
    bool backslash = backslash_strings(db);
    const char *stop = password_in_literal(sql, backslash);
    if (stop) {
        /* The rest of its literal, and every literal after it. */
        unsigned flags = literal_flags(backslash);
        for (const char *p = sql; *p && db->errmsg;) {
            strata__token t;
            strata__sql_token_at(sql, p, flags, &t);
            if (t.len == 0)
                break;
            if (t.kind == STRATA__TOK_STRING && p + t.len > stop)
                hide_runs(db, p > stop ? p : stop, p + t.len);
            p += t.len;
        }
    }
    for (const char *p = sql; db->errmsg && next_password(sql, p, &c, backslash);
         p = c.kv ? c.end : c.at + 8) {
        const char *q = c.lit, *from, *to;
        if (c.kv) {
            from = c.lit, to = c.end;
        } else if (c.bare) {
            from = q + (*q == '"'), to = c.end - (*q == '"' && c.end > q + 1 && c.end[-1] == '"');
        } else if (!q) {
            from = c.at + 8, to = from + strlen(from);
        } else if (!c.end) {
            continue;
        } else if (*q == '$') {
            size_t tag = strcspn(q + 1, "$") + 2; /* $tag$ */
            const char *end = literal_end(q, backslash);
            from = q + tag;
            to = end - from >= (ptrdiff_t)tag && !strncmp(end - tag, q, tag) ? end - tag : end;
        } else {
            const char *end = literal_end(q, backslash);
            from = strchr(q, '\'') + 1; /* past E or U& and the quote */
            to = end > from && end[-1] == '\'' ? end - 1 : end;
        }
        hide_in_message(db, from, to > from ? (size_t)(to - from) : 0);
    }
}

/* A text parameter, cut to ECHO_TEXT_MAX bytes once the connection's
 * secrets are out of it: cut first, a password across the cut would
 * leave its start for emit's scrub to miss. */
enum { ECHO_SCRUB_MAX = 4096 };

static void put_text(strata__sb *sb, strata_db *db, const char *text, size_t n)
{
    size_t window = n < ECHO_SCRUB_MAX ? n : ECHO_SCRUB_MAX;
    char *copy = malloc(window + 1);
    char *clean = NULL;
    if (copy) {
        memcpy(copy, text, window);
        copy[window] = '\0';
        clean = strata__scrub(copy, db->secrets, db->nsecrets);
    }
    free(copy);
    if (!clean) {
        sb->failed = true; /* nothing is echoed rather than too much */
        return;
    }
    size_t shown = strlen(clean); /* a NUL inside ends it */
    strata__sb_putc(sb, '\'');
    strata__sb_putn(sb, clean, shown > ECHO_TEXT_MAX ? ECHO_TEXT_MAX : shown);
    strata__sb_putc(sb, '\'');
    if (n > ECHO_TEXT_MAX)
        strata__sb_printf(sb, "...(%zu bytes)", n);
    free(clean);
}

static void put_value(strata__sb *sb, strata_db *db, const strata_value *v)
{
    char buf[STRATA_TIMESTAMP_BUFSIZE];
    switch (v->type) {
    case STRATA_TYPE_NULL: strata__sb_puts(sb, "NULL"); break;
    case STRATA_TYPE_INT64: strata__sb_printf(sb, "%" PRId64, v->u.i); break;
    case STRATA_TYPE_BOOL: strata__sb_puts(sb, v->u.i ? "true" : "false"); break;
    case STRATA_TYPE_DOUBLE: strata__sb_printf(sb, "%.17g", v->u.d); break;
    case STRATA_TYPE_TIMESTAMP:
        if (strata_timestamp_format(v->u.ts, buf, sizeof buf) == STRATA_OK)
            strata__sb_printf(sb, "'%s'", buf);
        break;
    case STRATA_TYPE_TEXT: put_text(sb, db, v->u.buf.ptr, v->u.buf.len); break;
    case STRATA_TYPE_BLOB: strata__sb_printf(sb, "<blob %zu bytes>", v->u.buf.len); break;
    }
}

static void emit(strata_db *db, strata__sb *sb)
{
    char *line = strata__sb_take(sb);
    if (!line)
        return;
    char *clean = strata__scrub(line, db->secrets, db->nsecrets);
    if (clean)
        db->echo(db->echo_ud, clean);
    free(clean);
    free(line);
}

void strata__echo_stmt(strata_db *db, const char *sql, const strata_value *params, int n)
{
    if (!db->echo)
        return;
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "[%s] ", db->driver ? db->driver->name : "strata");
    put_redacted(&sb, sql, backslash_strings(db));
    if (n > 0) {
        strata__sb_puts(&sb, " -- params: (");
        for (int i = 0; i < n; i++) {
            if (i)
                strata__sb_puts(&sb, ", ");
            put_value(&sb, db, &params[i]);
        }
        strata__sb_putc(&sb, ')');
    }
    emit(db, &sb);
}

void strata__echo_line(strata_db *db, const char *fmt, ...)
{
    if (!db->echo)
        return;
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "[%s] ", db->driver ? db->driver->name : "strata");
    va_list ap;
    va_start(ap, fmt);
    strata__sb_vprintf(&sb, fmt, ap);
    va_end(ap);
    emit(db, &sb);
}
