/*
 * strbuf.c - a growable NUL-terminated string buffer for building SQL,
 * messages and echo lines.  An allocation failure is sticky (`failed`) so
 * callers check once, at strata__sb_take(), instead of after every append.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void strata__sb_init(strata__sb *sb)
{
    sb->data = NULL;
    sb->len = sb->cap = 0;
    sb->failed = false;
}

void strata__sb_free(strata__sb *sb)
{
    free(sb->data);
    strata__sb_init(sb);
}

static bool sb_reserve(strata__sb *sb, size_t extra)
{
    if (sb->failed)
        return false;
    if (sb->len + extra + 1 <= sb->cap)
        return true;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < sb->len + extra + 1)
        cap *= 2;
    char *p = realloc(sb->data, cap);
    if (!p) {
        sb->failed = true;
        return false;
    }
    sb->data = p;
    sb->cap = cap;
    return true;
}

void strata__sb_putn(strata__sb *sb, const char *s, size_t n)
{
    if (!sb_reserve(sb, n))
        return;
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void strata__sb_puts(strata__sb *sb, const char *s) { strata__sb_putn(sb, s, strlen(s)); }

void strata__sb_putc(strata__sb *sb, char c) { strata__sb_putn(sb, &c, 1); }

void strata__sb_cat(strata__sb *sb, ...)
{
    va_list ap;
    va_start(ap, sb);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
        strata__sb_puts(sb, s);
    va_end(ap);
}

void strata__sb_vprintf(strata__sb *sb, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        sb->failed = true;
        return;
    }
    if (!sb_reserve(sb, (size_t)n))
        return;
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

void strata__sb_printf(strata__sb *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strata__sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

char *strata__sb_take(strata__sb *sb)
{
    if (sb->failed) {
        strata__sb_free(sb);
        return NULL;
    }
    char *p = sb->data ? sb->data : strata__strdup("");
    strata__sb_init(sb);
    return p;
}

char *strata__strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *strata__strdup(const char *s) { return strata__strndup(s, strlen(s)); }

char *strata__vformat(const char *fmt, va_list ap)
{
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_vprintf(&sb, fmt, ap);
    return strata__sb_take(&sb);
}
