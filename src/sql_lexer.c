/*
 * sql_lexer.c - find the `?` placeholders in SQL text and rewrite them for
 * the engine ($1, $2, ... on PostgreSQL).
 *
 * A single pass over the text that knows just enough SQL lexing to tell a
 * placeholder from a question mark that is data: it skips '...' strings
 * (with '' escapes, and backslash escapes in E'...' strings where the
 * dialect has them), "..." identifiers, `...` and [...] identifiers where
 * the dialect has them, -- line comments, block comments (nested where the
 * dialect nests them) and $tag$...$tag$ strings.  `??` outside those is a
 * literal `?`, for PostgreSQL's jsonb operators (?, ?|, ?&).  It also notes
 * whether text goes on after a ';', so that when the engine refuses the
 * text, prepare can say it holds several statements (the engine decides:
 * "SELECT 1;;" and a trigger body holding ';' are one).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool ident_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

static bool ident_start(unsigned char c) { return ident_char(c) && !(c >= '0' && c <= '9'); }

/* Length of a dollar-quote tag ("$$" or "$name$") at p, or 0. */
static size_t dollar_tag(const char *p)
{
    size_t i = 1;
    if (p[i] == '$')
        return 2;
    if (!ident_start((unsigned char)p[i]))
        return 0;
    while (ident_char((unsigned char)p[i]) && p[i] != '$')
        i++;
    return p[i] == '$' ? i + 1 : 0;
}

/* Skip a quoted run that ends at `close`, where a doubled close is an
 * escape.  Returns the position after the closing quote (or the end). */
static const char *skip_quoted(const char *p, char close, bool backslash)
{
    for (p++; *p; p++) {
        if (backslash && *p == '\\' && p[1]) {
            p++;
        } else if (*p == close) {
            if (p[1] == close && close != ']')
                p++;
            else
                return p + 1;
        }
    }
    return p;
}

static const char *skip_block_comment(const char *p, bool nested)
{
    int depth = 1;
    for (p += 2; *p; p++) {
        if (nested && p[0] == '/' && p[1] == '*') {
            depth++;
            p++;
        } else if (p[0] == '*' && p[1] == '/') {
            p++;
            if (--depth == 0)
                return p + 1;
        }
    }
    return p;
}

int strata__sql_rewrite_placeholders(strata__sql_rewrite *out, const char *sql,
                                     strata_placeholder_style style, unsigned flags)
{
    strata__sb sb;
    strata__sb_init(&sb);
    out->sql = NULL;
    out->nparams = 0;
    out->multiple = false;
    bool after_semicolon = false;
    const char *p = sql;

    while (*p) {
        const char *start = p;
        unsigned char c = (unsigned char)*p;
        bool prev_ident = p > sql && ident_char((unsigned char)p[-1]);

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            p++;
        } else if (c == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (c == '/' && p[1] == '*') {
            p = skip_block_comment(p, flags & STRATA_LEX_NESTED_COMMENTS);
        } else {
            if (after_semicolon)
                out->multiple = true;
            if (c == '\'') {
                bool esc = (flags & STRATA_LEX_E_STRINGS) && p > sql &&
                           (p[-1] == 'E' || p[-1] == 'e') &&
                           (p - 1 == sql || !ident_char((unsigned char)p[-2]));
                p = skip_quoted(p, '\'', esc);
            } else if (c == '"') {
                p = skip_quoted(p, '"', false);
            } else if (c == '`' && (flags & STRATA_LEX_BACKTICKS)) {
                p = skip_quoted(p, '`', false);
            } else if (c == '[' && (flags & STRATA_LEX_BRACKETS)) {
                p = skip_quoted(p, ']', false);
            } else if (c == '$' && (flags & STRATA_LEX_DOLLAR_QUOTES) && !prev_ident &&
                       dollar_tag(p)) {
                size_t tl = dollar_tag(p);
                const char *end = p + tl;
                while (*end && strncmp(end, p, tl) != 0)
                    end++;
                p = *end ? end + tl : end;
            } else if (c == '?') {
                if (p[1] == '?') {
                    strata__sb_putc(&sb, '?');
                    p += 2;
                } else {
                    out->nparams++;
                    if (style == STRATA_PLACEHOLDER_DOLLAR)
                        strata__sb_printf(&sb, "$%d", out->nparams);
                    else
                        strata__sb_putc(&sb, '?');
                    p++;
                }
                continue;
            } else if (c == ';') {
                after_semicolon = true;
                p++;
            } else if (ident_char(c)) {
                while (ident_char((unsigned char)*p) || *p == '$')
                    p++;
            } else {
                p++;
            }
        }
        strata__sb_putn(&sb, start, (size_t)(p - start));
    }
    out->sql = strata__sb_take(&sb);
    return out->sql ? STRATA_OK : STRATA_E_NOMEM;
}
