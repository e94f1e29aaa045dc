/*
 * error.c - the result-code table's names and descriptions, and the error
 * state every strata_db carries: code, message, SQLSTATE, native code.
 * Every message that lands on a handle goes through here, which is where
 * the connection's password is scrubbed from it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *strata_version(void) { return STRATA_VERSION_STRING; }

void strata_free(void *ptr) { free(ptr); }

const char *strata_errname(int code)
{
    switch (code) {
#define X(name, num, desc) \
    case num: return "STRATA_" #name;
        STRATA_RESULT_TABLE(X)
#undef X
    }
    return "STRATA_UNKNOWN";
}

const char *strata_errstr(int code)
{
    switch (code) {
#define X(name, num, desc) \
    case num: return desc;
        STRATA_RESULT_TABLE(X)
#undef X
    }
    return "unknown result code";
}

int strata_is_error(int code) { return code >= STRATA_E_ERROR; }

static bool word_byte(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* A secret that may be part of a message's own words: letters alone, or
 * short. */
static bool word_like(const char *secret)
{
    size_t letters = 0;
    while (isalpha((unsigned char)secret[letters]))
        letters++;
    return !secret[letters] || strlen(secret) < 6;
}

char *strata__scrub(const char *text, char *const *secrets, size_t n)
{
    strata__sb sb;
    strata__sb_init(&sb);
    bool wordlike[16] = {false};
    for (size_t i = 0; i < n && i < sizeof wordlike; i++)
        wordlike[i] = word_like(secrets[i]);
    const char *p = text;
    while (*p) {
        size_t best = 0;
        for (size_t i = 0; i < n; i++) {
            /* The secret whole; or, as PostgreSQL cuts a name to 63 bytes
             * before quoting it ("database \"app postgresql://u:S3cr\"
             * does not exist"), its start of 4 bytes or more ending a
             * quoted name. */
            const char *q = secrets[i];
            size_t m = 0;
            while (q[m] && p[m] == q[m])
                m++;
            /* A password that may be part of the message's own wording
             * (a word of letters, or a short one: "postgres" in
             * "postgresql://", "o" in "connect") is hidden only where it
             * stands as a word of its own: elsewhere the gaps its stars
             * left would spell it.  Any other is hidden wherever it is. */
            bool alone = !(i < sizeof wordlike ? wordlike[i] : word_like(q)) ||
                         ((p == text || !word_byte(p[-1]) || !word_byte(q[0])) &&
                          (m == 0 || !word_byte(p[m]) || !word_byte(q[m - 1])));
            if (m > best && alone && (!q[m] || (m >= 4 && p[m] == '"')))
                best = m;
        }
        if (best) {
            strata__sb_puts(&sb, "***");
            p += best;
        } else {
            strata__sb_putc(&sb, *p++);
        }
    }
    return strata__sb_take(&sb);
}

void strata__db_clear_error(strata_db *db)
{
    if (db->errcode == STRATA_OK && !db->errmsg && !db->sqlstate[0] && !db->native)
        return; /* the common case: nothing to clear */
    db->errcode = STRATA_OK;
    free(db->errmsg);
    db->errmsg = NULL;
    db->sqlstate[0] = '\0';
    db->native = 0;
}

static int db_set_error_v(strata_db *db, int code, const char *sqlstate, int native,
                          const char *fmt, va_list ap)
{
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_vprintf(&sb, fmt, ap);
    /* Engines end messages with newlines; a handle's message is one line. */
    while (sb.len && (sb.data[sb.len - 1] == '\n' || sb.data[sb.len - 1] == ' '))
        sb.data[--sb.len] = '\0';
    /* libpq breaks long messages over lines with a tab: join them. */
    size_t w = 0;
    for (size_t r = 0; r < sb.len; r++) {
        if (sb.data[r] == '\n' || sb.data[r] == '\t') {
            while (r + 1 < sb.len &&
                   (sb.data[r + 1] == '\n' || sb.data[r + 1] == '\t' || sb.data[r + 1] == ' '))
                r++;
            sb.data[w++] = ' ';
        } else {
            sb.data[w++] = sb.data[r];
        }
    }
    if (sb.data)
        sb.data[w] = '\0';
    sb.len = w;
    char *raw = strata__sb_take(&sb);
    strata__db_clear_error(db);
    if (code == STRATA_E_CONNECTION_LOST || code == STRATA_E_COMMIT_UNKNOWN)
        db->broken = true;
    db->errcode = code;
    db->nerrors++;
    db->native = native;
    if (sqlstate) {
        snprintf(db->sqlstate, sizeof db->sqlstate, "%s", sqlstate);
    }
    if (raw && *raw) /* an empty message says nothing: the code's words instead */
        db->errmsg = strata__scrub(raw, db->secrets, db->nsecrets);
    free(raw);
    return code;
}

static int db_set_error(strata_db *db, int code, const char *sqlstate, int native,
                        const char *fmt, ...) STRATA_PRINTF(5, 6);
static int db_set_error(strata_db *db, int code, const char *sqlstate, int native,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    db_set_error_v(db, code, sqlstate, native, fmt, ap);
    va_end(ap);
    return code;
}

int strata__db_error(strata_db *db, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    db_set_error_v(db, code, NULL, 0, fmt, ap);
    va_end(ap);
    return code;
}

int strata__db_error_since(strata_db *db, uint64_t mark, int code)
{
    if (db->nerrors != mark && db->errcode != STRATA_OK)
        return db->errcode;
    return strata__db_error(db, code, "%s", strata_errstr(code));
}

int strata__db_said_since(strata_db *db, uint64_t mark, int code, const char *what)
{
    if (db->nerrors != mark && db->errcode == code)
        return code;
    return strata__db_error(db, code, "%s: %s", what, strata_errstr(code));
}

int strata_driver_error(strata_db *db, int code, const char *sqlstate, int native, const char *fmt,
                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (code == STRATA_OK) {
        /* The driver leaves the classification to its classify_error slot,
         * which reads the message as the engine wrote it. */
        char *msg = strata__vformat(fmt, ap);
        const strata_driver *drv = db ? db->driver : NULL;
        code = !msg ? STRATA_E_NOMEM
               : drv && drv->classify_error ? drv->classify_error(sqlstate, native, msg)
                                            : STRATA_E_ERROR;
        if (!strata_is_error(code))
            code = STRATA_E_ERROR;
        if (db)
            db_set_error(db, code, sqlstate, native, "%s", msg ? msg : "out of memory");
        free(msg);
    } else if (db) {
        db_set_error_v(db, code, sqlstate, native, fmt, ap);
    }
    va_end(ap);
    return code;
}

int strata_db_errcode(const strata_db *db)
{
    if (strata__confine_refusal(db))
        return STRATA_E_MISUSE;
    return db ? db->errcode : STRATA_E_NOMEM;
}

const char *strata_db_errmsg(const strata_db *db)
{
    if (!db)
        return "out of memory";
    const char *refusal = strata__confine_refusal(db);
    if (refusal)
        return refusal;
    if (db->errcode == STRATA_OK)
        return "";
    return db->errmsg ? db->errmsg : strata_errstr(db->errcode);
}

const char *strata_db_sqlstate(const strata_db *db)
{
    return db && !strata__confine_refusal(db) ? db->sqlstate : "";
}

int strata_db_native_code(const strata_db *db)
{
    return db && !strata__confine_refusal(db) ? db->native : 0;
}

int strata__db_error_context(strata_db *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *context = strata__vformat(fmt, ap);
    va_end(ap);
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_printf(&sb, "%s: %s", context ? context : "", strata_db_errmsg(db));
    free(context);
    char *raw = strata__sb_take(&sb);
    if (raw) {
        free(db->errmsg);
        db->errmsg = strata__scrub(raw, db->secrets, db->nsecrets);
        free(raw);
    }
    return db->errcode;
}

void strata__error_keep(strata__kept_error *e, strata_db *db)
{
    e->code = strata_db_errcode(db);
    e->native = strata_db_native_code(db);
    snprintf(e->sqlstate, sizeof e->sqlstate, "%s", strata_db_sqlstate(db));
    e->msg = strata__strdup(strata_db_errmsg(db));
}

int strata__db_error_words(strata_db *db, int code, const char *sqlstate, int native,
                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool broken = db->broken;
    db_set_error_v(db, code, sqlstate, native, fmt, ap);
    db->broken = broken;
    va_end(ap);
    return code;
}

int strata__error_put_back(strata__kept_error *e, strata_db *db, const char *context)
{
    /* The words come back, not the state: a connection lost on another
     * handle (the copy's source) does not break this one, which the
     * clean-up in between may have used. */
    if (e->code != STRATA_OK && db)
        strata__db_error_words(db, e->code, e->sqlstate[0] ? e->sqlstate : NULL, e->native,
                               "%s%s%s", context ? context : "", context ? ": " : "",
                               e->msg ? e->msg : strata_errstr(e->code));
    free(e->msg);
    e->msg = NULL;
    return e->code;
}
