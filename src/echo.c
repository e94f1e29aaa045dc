/*
 * echo.c - SQL echo for debugging: one line per statement with its bound
 * parameters, sent to the connection's echo function (stderr by default
 * when STRATA_ECHO=1).  Lines never carry a password: the connection's
 * password is scrubbed, and the literal after a PASSWORD keyword
 * (CREATE/ALTER ROLE ... PASSWORD '...') is replaced by '***'.
 */
#include <ctype.h>
#include <inttypes.h>
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

/* Copy SQL, replacing the string literal after each PASSWORD keyword. */
static void put_redacted_sql(strata__sb *sb, const char *sql)
{
    const char *p = sql;
    while (*p) {
        if (strncasecmp(p, "password", 8) == 0 &&
            (p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
            const char *q = p + 8;
            while (isspace((unsigned char)*q))
                q++;
            if (*q == '\'') {
                strata__sb_putn(sb, p, (size_t)(q - p));
                strata__sb_puts(sb, "'***'");
                for (q++; *q; q++) {
                    if (*q == '\'' && q[1] == '\'')
                        q++;
                    else if (*q == '\'')
                        break;
                }
                p = *q ? q + 1 : q;
                continue;
            }
        }
        strata__sb_putc(sb, *p++);
    }
}

static void put_value(strata__sb *sb, const strata_value *v)
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
    case STRATA_TYPE_TEXT: {
        size_t n = v->u.buf.len;
        strata__sb_putc(sb, '\'');
        strata__sb_putn(sb, v->u.buf.ptr, n > ECHO_TEXT_MAX ? ECHO_TEXT_MAX : n);
        strata__sb_putc(sb, '\'');
        if (n > ECHO_TEXT_MAX)
            strata__sb_printf(sb, "...(%zu bytes)", n);
        break;
    }
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
    put_redacted_sql(&sb, sql);
    if (n > 0) {
        strata__sb_puts(&sb, " -- params: (");
        for (int i = 0; i < n; i++) {
            if (i)
                strata__sb_puts(&sb, ", ");
            put_value(&sb, &params[i]);
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
