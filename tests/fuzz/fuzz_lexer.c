/*
 * fuzz_lexer.c - the placeholder lexer (strata__sql_rewrite_placeholders)
 * on any text, with any lexer flags, in both placeholder styles.
 *
 * Input: one byte, then the SQL text (cut at its first NUL byte).  The low
 * five bits of the byte are the STRATA_LEX_* flags; with bit 5 set the text
 * is also prepared on a private in-memory SQLite database, which runs the
 * lexer from strata_stmt_prepare (nothing is executed).
 *
 * Invariants, besides no crash, leak or undefined behaviour:
 *   - both styles succeed and return NUL-terminated text;
 *   - they agree on nparams and on `multiple`;
 *   - the $ text is the ? text with its n-th placeholder written "$n", for
 *     n = 1 .. nparams, and nothing else changed;
 *   - the ? text is the input when the input has no "??" (only "??" is
 *     rewritten, to "?"), and is never longer than the input;
 *   - nparams is at most the number of '?' in the input;
 *   - `multiple` needs a ';' in the input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "internal.h"

#define ALL_FLAGS                                                                   \
    (STRATA_LEX_NESTED_COMMENTS | STRATA_LEX_DOLLAR_QUOTES | STRATA_LEX_E_STRINGS | \
     STRATA_LEX_BACKTICKS | STRATA_LEX_BRACKETS)

static void check_styles(const char *in, const strata__sql_rewrite *q, const strata__sql_rewrite *d)
{
    if (q->nparams != d->nparams || q->multiple != d->multiple)
        fuzz_fail("styles disagree on \"%s\": %d/%d params, multiple %d/%d", in, q->nparams,
                  d->nparams, q->multiple, d->multiple);
    /* Walk both: equal bytes, or '?' against "$n" with n the next number. */
    const char *a = q->sql, *b = d->sql;
    int n = 0;
    char want[16];
    while (*a || *b) {
        if (*a == *b) {
            a++;
            b++;
            continue;
        }
        snprintf(want, sizeof want, "$%d", n + 1);
        if (*a != '?' || strncmp(b, want, strlen(want)) != 0)
            fuzz_fail("\"%s\": \"%s\" and \"%s\" differ at offsets %zu/%zu", in, q->sql, d->sql,
                      (size_t)(a - q->sql), (size_t)(b - d->sql));
        n++;
        a++;
        b += strlen(want);
    }
    if (n != d->nparams)
        fuzz_fail("\"%s\": nparams %d but %d placeholders written", in, d->nparams, n);
}

static void check_against_input(const char *in, const strata__sql_rewrite *q)
{
    size_t inlen = strlen(in), qlen = strlen(q->sql);
    if (qlen > inlen)
        fuzz_fail("\"%s\": the ? text \"%s\" is longer", in, q->sql);
    if (!strstr(in, "??") && strcmp(in, q->sql) != 0)
        fuzz_fail("\"%s\" has no ?? but became \"%s\"", in, q->sql);
    int marks = 0;
    for (const char *p = in; *p; p++)
        marks += *p == '?';
    if (q->nparams > marks)
        fuzz_fail("\"%s\": %d params from %d question marks", in, q->nparams, marks);
    if (q->multiple && !strchr(in, ';'))
        fuzz_fail("\"%s\": multiple statements without a ';'", in);
}

/* One private in-memory database for the whole run: opening one per input
 * would cost more than the lexing.  It is never closed, and stays
 * reachable, so it is no leak. */
static strata_db *memory_db(void)
{
    static strata_db *db;
    if (!db && strata_db_open(&db, "sqlite://") != STRATA_OK)
        fuzz_fail("cannot open an in-memory database: %s", strata_db_errmsg(db));
    return db;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0] & ALL_FLAGS;
    int prepare = (data[0] >> 5) & 1;
    char *in = fuzz_cstr(data + 1, size - 1);

    strata__sql_rewrite q, d;
    if (strata__sql_rewrite_placeholders(&q, in, STRATA_PLACEHOLDER_QMARK, flags) != STRATA_OK ||
        !q.sql)
        fuzz_fail("? style failed on \"%s\"", in);
    if (strata__sql_rewrite_placeholders(&d, in, STRATA_PLACEHOLDER_DOLLAR, flags) != STRATA_OK ||
        !d.sql)
        fuzz_fail("$ style failed on \"%s\"", in);
    check_styles(in, &q, &d);
    check_against_input(in, &q);
    free(q.sql);
    free(d.sql);

#ifdef STRATA_WITH_SQLITE3
    if (prepare) {
        strata_db *db = memory_db();
        strata_stmt *st = NULL;
        if (strata_stmt_prepare(&st, db, in) == STRATA_OK) {
            if (strata_stmt_param_count(st) < 0)
                fuzz_fail("\"%s\": negative parameter count", in);
            strata_stmt_finalize(st);
        } else if (!*strata_db_errmsg(db)) {
            fuzz_fail("\"%s\": prepare failed without a message", in);
        }
    }
#else
    (void)prepare;
#endif
    free(in);
    return 0;
}
