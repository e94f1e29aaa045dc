/*
 * sql_lexer.c - strata's one SQL lexer (strata__sql_token_at), by the
 * quoting rules of a dialect's lexer flags, and on it the rewriting of `?`
 * placeholders for the engine ($1, $2, ... on PostgreSQL).
 *
 * It knows just enough SQL lexing to tell a placeholder from a question
 * mark that is data: it skips '...' strings
 * (with '' escapes, and backslash escapes in E'...' strings where the
 * dialect has them, or in every string where the session says so), "..." identifiers, `...` and
 * [...] identifiers where the dialect has them, -- line comments, block comments (nested where the
 * dialect nests them) and $tag$...$tag$ strings.  `??` outside those is a
 * literal `?`, for PostgreSQL's jsonb operators (?, ?|, ?&).  It also notes
 * whether text goes on after a ';', so that when the engine refuses the
 * text, prepare can say it holds several statements (the engine decides:
 * "SELECT 1;;" and a trigger body holding ';' are one).
 */
#include <stdlib.h>
#include <ctype.h>
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

/* Where a quoted run that ends at `close` ends (after the quote; a
 * doubled close is an escape), or NULL when the text ends first. */
static const char *quoted_end(const char *p, char close, bool backslash)
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
    return NULL;
}

static const char *block_comment_end(const char *p, bool nested)
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
    return NULL;
}

void strata__sql_token_at(const char *text, const char *p, unsigned flags, strata__token *out)
{
    unsigned char c = (unsigned char)*p;
    const char *end = NULL;
    out->unterminated = false;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        out->kind = STRATA__TOK_SPACE;
        end = p + 1;
        while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r' || *end == '\f' ||
               *end == '\v')
            end++;
    } else if (c == '-' && p[1] == '-') {
        out->kind = STRATA__TOK_COMMENT;
        end = p + strcspn(p, "\n");
    } else if (c == '/' && p[1] == '*') {
        out->kind = STRATA__TOK_COMMENT;
        end = block_comment_end(p, flags & STRATA_LEX_NESTED_COMMENTS);
    } else if (c == '\'') {
        bool esc = (flags & STRATA_LEX_BACKSLASH_STRINGS) ||
                   ((flags & STRATA_LEX_E_STRINGS) && p > text && (p[-1] == 'E' || p[-1] == 'e') &&
                    (p - 1 == text || !(ident_char((unsigned char)p[-2]) || p[-2] == '$')));
        out->kind = STRATA__TOK_STRING;
        end = quoted_end(p, '\'', esc);
    } else if (c == '"' || (c == '`' && (flags & STRATA_LEX_BACKTICKS)) ||
               (c == '[' && (flags & STRATA_LEX_BRACKETS))) {
        out->kind = STRATA__TOK_QUOTED;
        end = quoted_end(p, c == '[' ? ']' : (char)c, false);
    } else if (c == '$' && (flags & STRATA_LEX_DOLLAR_QUOTES) &&
               !(p > text && ident_char((unsigned char)p[-1])) && dollar_tag(p)) {
        size_t tl = dollar_tag(p);
        out->kind = STRATA__TOK_STRING;
        for (end = p + tl; *end && strncmp(end, p, tl) != 0; end++)
            ;
        end = *end ? end + tl : NULL;
    } else if (ident_char(c)) {
        out->kind = STRATA__TOK_WORD;
        for (end = p; ident_char((unsigned char)*end) || *end == '$'; end++)
            ;
    } else {
        out->kind = STRATA__TOK_OTHER;
        end = p + 1;
    }
    if (!end) {
        out->unterminated = true;
        end = p + strlen(p);
    }
    out->len = (size_t)(end - p);
}

char *strata__sql_unquote(const char *p, size_t len)
{
    char close = p[0] == '[' ? ']' : p[0];
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_puts(&sb, "");
    for (size_t i = 1; i + 1 < len; i++) {
        if (p[i] == close && close != ']' && p[i + 1] == close)
            i++;
        strata__sb_putc(&sb, p[i]);
    }
    return strata__sb_take(&sb);
}

int strata__sql_rewrite_placeholders(strata__sql_rewrite *out, const char *sql,
                                     strata_placeholder_style style, unsigned flags)
{
    strata__sb sb;
    strata__sb_init(&sb);
    out->sql = NULL;
    out->nparams = 0;
    out->multiple = false;
    out->numbered = NULL;
    bool after_semicolon = false;
    for (const char *p = sql; *p;) {
        strata__token t;
        strata__sql_token_at(sql, p, flags, &t);
        if (t.kind != STRATA__TOK_SPACE && t.kind != STRATA__TOK_COMMENT && after_semicolon)
            out->multiple = true;
        if (t.kind == STRATA__TOK_OTHER && *p == '?') {
            if (p[1] == '?') { /* ?? is a literal ? */
                strata__sb_putc(&sb, '?');
                p += 2;
                continue;
            }
            out->nparams++;
            if (style == STRATA_PLACEHOLDER_DOLLAR)
                strata__sb_printf(&sb, "$%d", out->nparams);
            else
                strata__sb_putc(&sb, '?');
            p++;
            continue;
        }
        if (t.kind == STRATA__TOK_OTHER && *p == ';')
            after_semicolon = true;
        /* PostgreSQL's own $1 would be a parameter strata never binds. */
        if (t.kind == STRATA__TOK_OTHER && *p == '$' && isdigit((unsigned char)p[1]) &&
            style == STRATA_PLACEHOLDER_DOLLAR && !out->numbered)
            out->numbered = p;
        strata__sb_putn(&sb, p, t.len);
        p += t.len;
    }
    out->sql = strata__sb_take(&sb);
    return out->sql ? STRATA_OK : STRATA_E_NOMEM;
}
