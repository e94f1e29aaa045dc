/*
 * db.c - the connection handle: open by URL, exec, transactions and
 * savepoints, identifier quoting, echo settings and counters.
 *
 * Open resolves the URL (argument, then DATABASE_URL, then the default),
 * hands it to the driver through the dispatch layer, and keeps only the
 * redacted URL and the password (to scrub it from messages).  Transactions
 * are tracked here, not in the backends, so their rules are the same on
 * every engine: a failed COMMIT always leaves the transaction rolled back,
 * and savepoints nest with stack discipline.
 *
 * A handle closed while statements or sessions are still out becomes a
 * zombie: the connection is gone, and the memory goes when the last
 * statement is finalized or the last session freed (as sqlite3_close_v2
 * does), so a late finalize or strata_session_free is safe.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static bool env_truthy(const char *name)
{
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
                 strcasecmp(v, "on") == 0);
}

void strata__db_reset_echo(strata_db *db)
{
    db->echo = env_truthy("STRATA_ECHO") ? strata_echo_stderr : NULL;
    db->echo_ud = NULL;
}

int strata_db_open(strata_db **out, const char *url)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    strata_db *db = calloc(1, sizeof *db);
    if (!db)
        return STRATA_E_NOMEM;
    strata__confine_init(db);
    *out = db;
    if (!url) {
        const char *env = getenv("DATABASE_URL");
        url = env && *env ? env : STRATA_DEFAULT_URL;
    }
    if (env_truthy("STRATA_ECHO"))
        db->echo = strata_echo_stderr;

    strata_url *u = NULL;
    int rc = strata_url_parse(&u, url);
    if (!u)
        return strata__db_error(db, STRATA_E_NOMEM, "out of memory parsing the URL");
    db->url = strata__strdup(strata_url_redacted(u));
    const char *const *secrets;
    size_t nsecrets = strata__url_secrets(u, &secrets);
    db->secrets = nsecrets ? calloc(nsecrets, sizeof *db->secrets) : NULL;
    for (size_t i = 0; db->secrets && i < nsecrets; i++) {
        if (!(db->secrets[i] = strata__strdup(secrets[i])))
            break;
        db->nsecrets++;
    }
    if (!db->url || db->nsecrets != nsecrets) {
        rc = strata__db_error(db, STRATA_E_NOMEM, "out of memory");
    } else if (rc != STRATA_OK) {
        strata__db_error(db, rc, "%s", strata_url_errmsg(u));
    } else {
        strata__echo_line(db, "connect %s", db->url);
        rc = strata__drv_open(db, u);
    }
    strata_url_free(u);
    return rc;
}

static void db_free(strata_db *db)
{
    if (db->orm_cache_free)
        db->orm_cache_free(db->orm_cache);
    free(db->url);
    for (size_t i = 0; i < db->nsecrets; i++)
        free(db->secrets[i]);
    free(db->secrets);
    free(db->errmsg);
    free(db);
}

static void tx_ended(strata_db *db, bool committed);

void strata_db_close(strata_db *db)
{
    if (!db)
        return;
    /* Closing a handle another thread is using would free what it uses:
     * refuse (the handle stays open; strata_db_errmsg() says why). */
    strata__confinement c = strata__confine(db);
    if (c.refused)
        return;
    if (db->closed) {
        strata__confine_end(&c);
        return;
    }
    if (db->conn && db->in_tx && !db->broken)
        strata__drv_rollback(db);
    /* Sessions that committed into the transaction are told it ended
     * without a COMMIT: their objects go back to their committed values
     * (none read again: the handle is going). */
    db->closing = true;
    if (db->in_tx)
        tx_ended(db, false);
    strata__cache_clear(db);
    /* Statements still out keep their struct; their engine side goes now. */
    for (strata_stmt *st = db->live; st; st = st->live_next) {
        strata__drv_finalize(st->bst);
        st->bst = NULL;
    }
    strata__drv_close(db);
    db->closed = true;
    strata__confine_end(&c);
    strata__db_release_zombie(db);
}

void strata__db_release_zombie(strata_db *db)
{
    if (db->closed && !db->live && !db->sessions)
        db_free(db);
}

const char *strata_db_backend(const strata_db *db)
{
    return db && db->driver ? db->driver->name : NULL;
}

const strata_driver *strata_db_driver(const strata_db *db) { return db ? db->driver : NULL; }

const char *strata_db_url(const strata_db *db) { return db && db->url ? db->url : ""; }

/* Check the handle is usable; sets the misuse message when not. */
int strata__db_usable_checked(strata_db *db, const strata_stmt *st)
{
    if (!db)
        return STRATA_E_MISUSE;
    if (db->closed || !db->conn)
        return strata__db_error(db, STRATA_E_MISUSE, "the connection is %s",
                                db->closed ? "closed" : "not open");
    if (db->broken)
        return strata_driver_error(db, STRATA_E_CONNECTION_LOST, "08006", 0,
                                   "the connection to the database was lost: roll back, then "
                                   "close the handle and open another (a pool replaces it)");
    if (db->streaming && db->streaming != st)
        return strata__db_error(
            db, STRATA_E_MISUSE,
            "a streamed statement is still delivering rows on this "
            "connection (%.60s); step it to the end, reset or finalize it first",
            db->streaming->sql);
    strata__db_clear_error(db);
    return STRATA_OK;
}

int strata__db_usable(strata_db *db) { return strata__db_usable_by(db, NULL); }

/* PostgreSQL refuses every statement after an error in a transaction until
 * it is rolled back (to a savepoint); SQLite carries on.  strata gives both
 * PostgreSQL's rule, so a program cannot commit half of what it meant. */
int strata__db_check_tx(strata_db *db)
{
    if (db->raw_tx_failed && !db->raw_tx_ended && strata__drv_in_transaction(db) != 1)
        db->raw_tx_failed = false; /* that transaction is over */
    if (db->raw_tx_ended)
        return strata_driver_error(db, STRATA_E_TX_ABORTED, "25P02", 0,
                                   "the transaction (begun with SQL) failed and the engine rolled "
                                   "all of it back: ROLLBACK first");
    if (db->raw_tx_failed)
        return strata_driver_error(db, STRATA_E_TX_ABORTED, "25P02", 0,
                                   "the transaction (begun with SQL) is aborted by an earlier "
                                   "error: roll it back (ROLLBACK, or ROLLBACK TO a savepoint) "
                                   "first");
    if (!db->tx_failed)
        return STRATA_OK;
    return strata_driver_error(db, STRATA_E_TX_ABORTED, "25P02", 0,
                               "the transaction is aborted by an earlier error: roll it back "
                               "(or roll back to a savepoint) first");
}

void strata__db_note_failure(strata_db *db)
{
    if (db->in_tx && db->errcode != STRATA_E_TX_ABORTED)
        db->tx_failed = true;
    /* A transaction begun by raw SQL gets the same rule, also when the
     * engine rolled all of it back by itself (SQLite after a RAISE
     * (ROLLBACK), a full disk): the statements after it would otherwise
     * run and commit one by one. */
    bool before = db->raw_tx_before; /* of the statement that failed, if one ran */
    db->raw_tx_before = false;
    if (!db->in_tx && db->errcode != STRATA_E_TX_ABORTED) {
        int now = strata__drv_in_transaction(db);
        if (now == 1)
            db->raw_tx_failed = true;
        else if (now == 0 && before)
            db->raw_tx_failed = db->raw_tx_ended = true;
    }
    /* SQLite rolls the whole transaction back by itself after some errors
     * (out of memory, disk full): the transaction is failed all the same,
     * and the rollback the caller owes finds nothing left to undo. */
    if (db->in_tx && strata__drv_in_transaction(db) == 0)
        db->engine_ended_tx = true;
}

/* Run SQL text without parameters: echo, count, execute. */
static int db_run(strata_db *db, const char *sql)
{
    strata__echo_stmt(db, sql, NULL, 0);
    db->counters[STRATA_COUNTER_STATEMENTS]++;
    db->raw_tx_before = !db->in_tx && strata__drv_in_transaction(db) == 1;
    int rc = strata__drv_exec(db, sql);
    if (rc != STRATA_OK) {
        strata__db_hide_password_literals(db, sql);
        strata__db_note_failure(db);
    }
    db->raw_tx_before = false; /* it was this statement's */
    return rc;
}

const char *strata_driver_sql_skip_space(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            p = end ? end + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

/* Whether the SQL text at p starts with `word` (case aside), as a word,
 * after white space and comments. */
static bool word_at(const char *p, const char *word)
{
    p = strata_driver_sql_skip_space(p);
    size_t n = strlen(word);
    return !strncasecmp(p, word, n) && !(isalnum((unsigned char)p[n]) || p[n] == '_');
}

/* PostgreSQL's quoting rules: strata_driver_sql_is_commit reads what a
 * PostgreSQL server answered. */
#define PG_LEXER STRATA__PG_LEXER

/* The token at p by the lexer, and by PostgreSQL's rule (NESTED_COMMENTS
 * marks its lexer) that a -- comment also ends at a carriage return. */
static void token_at(const char *sql, const char *p, unsigned flags, strata__token *t)
{
    strata__sql_token_at(sql, p, flags, t);
    if (t->kind == STRATA__TOK_COMMENT && p[0] == '-' && (flags & STRATA_LEX_NESTED_COMMENTS)) {
        const char *cr = memchr(p, '\r', t->len);
        if (cr)
            t->len = (size_t)(cr - p);
    }
}

/* Where the last statement of sql starts: the last with more than white
 * space and comments, the ;s outside strings, quoted names and comments
 * ending them (a "COMMIT; -- done" is a COMMIT). */
static const char *last_statement(const char *sql, unsigned flags)
{
    const char *start = sql, *last = sql;
    bool content = false;
    for (const char *p = sql; *p;) {
        strata__token t;
        token_at(sql, p, flags, &t);
        if (t.kind == STRATA__TOK_OTHER && *p == ';') {
            start = p + 1;
            content = false;
        } else if (!content && t.kind != STRATA__TOK_SPACE && t.kind != STRATA__TOK_COMMENT) {
            content = true;
            last = start;
        }
        p += t.len;
    }
    return last;
}

static bool is_word(const char *p, size_t len, const char *word)
{
    return len == strlen(word) && !strncasecmp(p, word, len);
}

/* The next token of the statement at *p (in sql, up to its ; or the
 * text's end) in *t; false at the statement's end, with *p at its ; or
 * the text's end.  The caller moves *p past each token. */
static bool statement_token(const char *sql, const char **p, unsigned flags, strata__token *t)
{
    if (!**p)
        return false;
    token_at(sql, *p, flags, t);
    return !(t->kind == STRATA__TOK_OTHER && **p == ';');
}

/* Whether the statement at p (in sql, up to its ; or the end) is one the
 * engine would take for committing the transaction, and nothing else:
 * COMMIT or END, then TRANSACTION, and on PostgreSQL (whose lexer nests
 * comments) WORK for TRANSACTION and AND [NO] CHAIN after it; white space
 * and comments between.  Not COMMIT PREPARED, not the END of a trigger's
 * body, not SQLite's COMMIT AND CHAIN (a syntax error there).  Anything
 * the lexer could read otherwise than the engine (an unterminated comment
 * or string, a vertical tab or form feed) is not one either: refused, the
 * transaction stays.  *chain: AND CHAIN. */
static bool commit_statement(const char *sql, const char *p, unsigned flags, bool *chain)
{
    bool pg = flags & STRATA_LEX_NESTED_COMMENTS;
    const char *w[6];
    size_t len[6];
    int n = 0;
    for (strata__token t; statement_token(sql, &p, flags, &t); p += t.len) {
        if (t.unterminated || memchr(p, '\v', t.len) || memchr(p, '\f', t.len))
            return false;
        if (t.kind == STRATA__TOK_WORD) {
            if (n == 6)
                return false;
            w[n] = p;
            len[n++] = t.len;
        } else if (t.kind != STRATA__TOK_SPACE && t.kind != STRATA__TOK_COMMENT) {
            return false;
        }
    }
    if (n == 0 || !(is_word(w[0], len[0], "commit") || is_word(w[0], len[0], "end")))
        return false;
    int i = 1;
    if (i < n && (is_word(w[i], len[i], "transaction") || (pg && is_word(w[i], len[i], "work"))))
        i++;
    *chain = false;
    if (pg && i < n && is_word(w[i], len[i], "and")) {
        *chain = !(++i < n && is_word(w[i], len[i], "no"));
        if (!*chain)
            i++;
        if (!(i < n && is_word(w[i], len[i], "chain")))
            return false;
        i++;
    }
    return i == n;
}

/* What strata__sql_transaction_statement learns of one statement. */
typedef struct stmt_words {
    const char *first, *second; /* its first two words, or NULL */
    size_t first_len, second_len;
    bool to;   /* TO after the first word (ROLLBACK TO) */
    bool body; /* it opens a body its END closes: CREATE ... TRIGGER ... BEGIN,
                  or BEGIN ATOMIC */
} stmt_words;

/* Read the statement at p (in sql, up to its ; or the end) with the
 * lexer's `flags`; *end gets the ; (or the text's end). */
static void statement_words(const char *sql, const char *p, unsigned flags, stmt_words *w,
                            const char **end)
{
    memset(w, 0, sizeof *w);
    bool trigger = false, begin = false;
    int n = 0;
    for (strata__token t; statement_token(sql, &p, flags, &t); p += t.len) {
        if (t.kind == STRATA__TOK_WORD) {
            if (n == 0)
                w->first = p, w->first_len = t.len;
            else if (n == 1)
                w->second = p, w->second_len = t.len;
            n++;
            bool create = w->first && is_word(w->first, w->first_len, "create");
            w->to = w->to || (n > 1 && is_word(p, t.len, "to"));
            trigger = trigger || (create && n > 1 && n <= 4 && is_word(p, t.len, "trigger"));
            w->body = w->body || (begin && is_word(p, t.len, "atomic")) ||
                      (trigger && is_word(p, t.len, "begin"));
            begin = is_word(p, t.len, "begin");
        } else if (t.kind != STRATA__TOK_SPACE && t.kind != STRATA__TOK_COMMENT) {
            begin = false;
        }
    }
    *end = p;
}

const char *strata__sql_transaction_statement(const char *sql, unsigned flags)
{
    static const char *const ends[] = {"begin", "start", "commit", "end", "abort", "rollback"};
    bool body = false; /* inside a trigger's or function's body, up to its END */
    for (const char *p = sql; p && *p;) {
        stmt_words w;
        const char *end;
        statement_words(sql, p, flags, &w, &end);
        if (w.first && body) {
            body = !is_word(w.first, w.first_len, "end");
        } else if (w.body) {
            body = true;
        } else if (w.first) {
            bool tx = w.second && is_word(w.first, w.first_len, "prepare") &&
                      is_word(w.second, w.second_len, "transaction");
            for (size_t k = 0; k < sizeof ends / sizeof ends[0]; k++)
                tx = tx || is_word(w.first, w.first_len, ends[k]);
            if (tx && !(is_word(w.first, w.first_len, "rollback") && w.to))
                return w.first;
        }
        p = *end ? end + 1 : end;
    }
    return NULL;
}

int strata_driver_sql_is_commit(const char *sql)
{
    /* The server answered "ROLLBACK": to a ROLLBACK, or to a COMMIT or
     * END of a failed transaction.  Taken for the second whenever the last
     * statement begins with either word (a success taken for a failure is
     * the safe mistake). */
    if (!sql)
        return 0;
    for (const char *p = last_statement(sql, PG_LEXER); *p;) {
        strata__token t;
        token_at(sql, p, PG_LEXER, &t);
        if (t.kind == STRATA__TOK_OTHER)
            return 0;
        if (t.kind == STRATA__TOK_WORD)
            return is_word(p, t.len, "commit") || is_word(p, t.len, "end");
        p += t.len;
    }
    return 0;
}

/* Whether SQL that word_at found to begin with ROLLBACK goes back to a
 * savepoint (ROLLBACK [TRANSACTION | WORK] TO ...). */
static bool rollback_to(const char *sql)
{
    const char *p = strata_driver_sql_skip_space(sql) + strlen("rollback");
    if (word_at(p, "transaction"))
        p = strata_driver_sql_skip_space(p) + strlen("transaction");
    else if (word_at(p, "work"))
        p = strata_driver_sql_skip_space(p) + strlen("work");
    return word_at(p, "to");
}

/* Raw SQL in a transaction it began itself, after a statement there
 * failed: a ROLLBACK (or ROLLBACK TO) runs, and a COMMIT rolls back and
 * says so, as PostgreSQL does; anything else is refused (check_tx). */
static int run_in_failed_raw_tx(strata_db *db, const char *sql)
{
    bool rollback = word_at(sql, "rollback") || word_at(sql, "abort");
    if (rollback && db->raw_tx_ended) {
        /* Nothing is left to roll back (nor any savepoint to go back to):
         * the program has heard of its failure. */
        strata__echo_stmt(db, sql, NULL, 0);
        db->raw_tx_failed = db->raw_tx_ended = false;
        return word_at(sql, "rollback") && rollback_to(sql)
                   ? strata_driver_error(db, STRATA_E_TX_ABORTED, "25P02", 0,
                                         "the engine had rolled back the whole transaction, "
                                         "its savepoints with it")
                   : STRATA_OK;
    }
    if (rollback) {
        int rc = db_run(db, sql);
        if (rc == STRATA_OK)
            db->raw_tx_failed = false;
        return rc;
    }
    /* The engine runs the first statement of the text, and only a COMMIT
     * there ends the transaction (the rest is not run). */
    bool chain;
    if (!commit_statement(sql, sql, strata__drv_lexer_flags(db), &chain))
        return strata__db_check_tx(db);
    if (db->raw_tx_ended) {
        strata__echo_stmt(db, sql, NULL, 0);
        db->raw_tx_failed = db->raw_tx_ended = false;
        int rc = chain ? strata__drv_exec(db, "BEGIN") : STRATA_OK;
        return rc != STRATA_OK ? rc
                               : strata_driver_error(db, STRATA_E_TX_ABORTED, "25P02", 0,
                                                     "the transaction had failed earlier and "
                                                     "the engine rolled it back");
    }

    strata__echo_stmt(db, sql, NULL, 0);
    db->counters[STRATA_COUNTER_STATEMENTS]++;
    int rc = strata__drv_rollback(db);
    /* COMMIT AND CHAIN: the next transaction begins all the same, as
     * PostgreSQL begins it after rolling back. */
    if (rc == STRATA_OK && chain)
        rc = strata__drv_exec(db, "BEGIN");
    if (rc != STRATA_OK)
        return rc;
    return strata_driver_error(db, STRATA_E_TX_ABORTED, "25P02", 0,
                               "the transaction had failed earlier and was rolled back instead "
                               "of committed");
}

/* Whether a statement of `sql` may change rows: any whose first word
 * (after opening parentheses) is not one that only reads or sets (SELECT,
 * VALUES, TABLE, FETCH, SHOW, SET, RESET, PRAGMA, and the transaction's
 * own words).  A function a SELECT calls that writes is not seen; WITH
 * and EXPLAIN may hold a write, and count as one. */
bool strata__text_may_write(const strata_db *db, const char *sql)
{
    static const char *const reads[] = {"select", "values",   "table",     "fetch",   "show",
                                        "set",    "reset",    "pragma",    "begin",   "commit",
                                        "end",    "rollback", "savepoint", "release", NULL};
    bool at_start = true;
    unsigned flags = strata__drv_lexer_flags(db);
    for (const char *p = sql; *p;) {
        strata__token t;
        strata__sql_token_at(sql, p, flags, &t);
        if (t.kind == STRATA__TOK_OTHER && *p == ';') {
            at_start = true;
        } else if (at_start && t.kind != STRATA__TOK_SPACE && t.kind != STRATA__TOK_COMMENT &&
                   !(t.kind == STRATA__TOK_OTHER && *p == '(')) {
            bool read = false;
            for (int i = 0; reads[i] && !read; i++)
                read = t.kind == STRATA__TOK_WORD && strlen(reads[i]) == t.len &&
                       strncasecmp(p, reads[i], t.len) == 0;
            if (!read)
                return true;
            at_start = false;
        }
        p += t.len ? t.len : 1;
    }
    return false;
}

int strata__db_tx_statement_refused(strata_db *db, const char *ends)
{
    int len = 0;
    while (len < 20 && isalpha((unsigned char)ends[len]))
        len++;
    return strata__db_error(db, STRATA_E_MISUSE,
                            "the SQL holds %.*s, which would end the transaction strata "
                            "began: end transactions with strata_db_commit or "
                            "strata_db_rollback (strata_db_savepoint to nest)",
                            len, ends);
}

int strata__db_lost_own_commit(strata_db *db, int rc, bool in_a_tx, bool may_write)
{
    if (rc != STRATA_E_CONNECTION_LOST || in_a_tx || !may_write ||
        strata__drv_in_transaction(db) == 0)
        return rc;
    return strata_driver_error(db, STRATA_E_COMMIT_UNKNOWN, "08007", 0,
                               "the connection was lost while a statement that may write ran "
                               "outside a transaction, which commits it: it may or may not have "
                               "been committed (%s)",
                               db->errmsg ? db->errmsg : "no answer");
}

int strata_db_exec(strata_db *db, const char *sql)
{
    STRATA__CONFINE(db, STRATA_E_MISUSE);
    int rc = strata__db_usable(db);
    if (rc)
        return rc;
    if (!sql)
        return strata__db_error(db, STRATA_E_MISUSE, "strata_db_exec: SQL is NULL");
    if (db->raw_tx_failed && (db->raw_tx_ended || strata__drv_in_transaction(db) == 1))
        return run_in_failed_raw_tx(db, sql);
    if ((rc = strata__db_check_tx(db)))
        return rc;
    /* Inside the transaction strata_db_begin began, SQL that would end it
     * (and perhaps begin another, which the rollback owed would then
     * undo in its place): refused before it runs. */
    const char *ends =
        db->in_tx ? strata__sql_transaction_statement(sql, strata__drv_lexer_flags(db)) : NULL;
    if (ends)
        return strata__db_tx_statement_refused(db, ends);
    bool raw_tx = !db->in_tx && strata__drv_in_transaction(db) == 1;
    rc = db_run(db, sql);
    bool may_write = strata__text_may_write(db, sql);
    if (may_write)
        strata__db_note_write(db);
    /* A raw transaction's own COMMIT (or END) in the text, lost, may have
     * committed as strata's may have: the same outcome, unknown. */
    bool ends_raw = raw_tx && rc == STRATA_E_CONNECTION_LOST &&
                    strata__sql_transaction_statement(sql, strata__drv_lexer_flags(db));
    rc = strata__db_lost_own_commit(db, rc, (db->in_tx || raw_tx) && !ends_raw,
                                    may_write || ends_raw);
    /* SQL that ended the transaction strata_db_begin began (its COMMIT or
     * ROLLBACK): what ran before it is committed or gone, and what came
     * next would run outside any transaction.  The handle's transaction is
     * failed, for the rollback its owner owes, which finds nothing to undo. */
    if (rc == STRATA_OK && db->in_tx && strata__drv_in_transaction(db) == 0) {
        db->tx_failed = db->engine_ended_tx = true;
        return strata__db_error(db, STRATA_E_MISUSE,
                                "the SQL ended the transaction strata began (a COMMIT or "
                                "ROLLBACK in its text): what ran before it in the transaction "
                                "may be committed; end transactions with strata_db_commit or "
                                "strata_db_rollback (roll this one back now)");
    }
    return rc;
}

int64_t strata_db_changes(const strata_db *db) { return db ? db->changes : 0; }

/* ---- transactions -------------------------------------------------------- */

void strata__db_join(strata_db *db, strata__joined *j)
{
    for (strata__joined *k = db->joined; k; k = k->next)
        if (k == j)
            return;
    j->next = db->joined;
    db->joined = j;
}

bool strata__db_joined(const strata_db *db, const strata__joined *j)
{
    for (const strata__joined *k = db->joined; k; k = k->next)
        if (k == j)
            return db->in_tx && j->serial == db->tx_serial;
    return false;
}

void strata__db_unjoin(strata_db *db, strata__joined *j)
{
    for (strata__joined **k = &db->joined; *k; k = &(*k)->next)
        if (*k == j) {
            *k = j->next;
            return;
        }
}

/* The transaction ended, committed or not (rolled back, or its COMMIT's
 * outcome unknown): the sessions that joined it are told. */
static void tx_ended(strata_db *db, bool committed)
{
    bool was = db->in_tx;
    db->in_tx = false;
    db->raw_tx_failed = db->raw_tx_ended = false;
    db->engine_ended_tx = false;
    db->tx_failed = false;
    db->tx_from_savepoint = false;
    db->sp_depth = 0;
    /* All of them taken off the list first: one told may begin (and end)
     * a transaction of its own, which numbers the handle's next. */
    strata__joined *told = NULL;
    for (strata__joined **k = &db->joined; was && *k;) {
        strata__joined *j = *k;
        if (j->serial != db->tx_serial) {
            k = &j->next;
            continue;
        }
        *k = j->next;
        j->next = told;
        told = j;
    }
    while (told) {
        strata__joined *j = told;
        told = j->next;
        j->next = NULL;
        j->ended(j, committed);
    }
}

/* A failure's details, kept aside while a rollback runs (its own error
 * must not replace them). */
typedef struct kept_error {
    int code, native;
    char state[6];
    char *msg;
} kept_error;

static void error_keep(strata_db *db, kept_error *k)
{
    k->code = db->errcode;
    k->native = db->native;
    memcpy(k->state, db->sqlstate, sizeof k->state);
    k->msg = db->errmsg;
    db->errmsg = NULL;
}

static void error_put_back(strata_db *db, const kept_error *k)
{
    strata__db_clear_error(db);
    db->errcode = k->code;
    db->native = k->native;
    db->errmsg = k->msg;
    memcpy(db->sqlstate, k->state, sizeof k->state);
}

/* ROLLBACK on the engine, tried twice.  One that fails (out of memory)
 * while the engine still holds the transaction leaves the handle broken
 * and `tx_stuck`: a handle that forgot the transaction would run the next
 * statements inside it, and a later COMMIT would commit them with what
 * this rollback was to undo.  strata_db_rollback tries again; closing the
 * handle ends the transaction too (SQLite rolls back at close, the server
 * when the connection goes). */
static int engine_rollback(strata_db *db)
{
    int rc = strata__drv_rollback(db);
    if (rc != STRATA_OK && strata__drv_in_transaction(db) == 1)
        rc = strata__drv_rollback(db); /* once more: the memory may be there now */
    int still = rc == STRATA_OK ? 0 : strata__drv_in_transaction(db);
    if (still != 0) {
        db->broken = true;
        /* Known to hold the transaction (not a lost connection): the next
         * strata_db_rollback tries again, and the handle is whole again
         * when it succeeds. */
        db->tx_stuck = still == 1;
    }
    return rc;
}

/* The error of a rollback that left the transaction in the engine. */
static int say_stuck(strata_db *db)
{
    return strata__db_error_context(db, "the transaction could not be rolled back, and the "
                                        "connection cannot be used until it is: roll back "
                                        "again or close it");
}

/* Roll the engine's transaction back after a failure, keeping the
 * failure's details (not the rollback's) on the handle. */
static int rollback_keeping_error(strata_db *db)
{
    kept_error k;
    error_keep(db, &k);
    int rc = engine_rollback(db);
    error_put_back(db, &k);
    return rc;
}

/* BEGIN in `mode`, or the engine's own form of it (`sql`, e.g. SQLite's
 * BEGIN IMMEDIATE, which takes the write lock at once). */
static int begin(strata_db *db, const char *sql, strata_tx_mode mode)
{
    int rc = strata__db_usable(db);
    if (rc)
        return rc;
    if (db->in_tx)
        return strata__db_error(
            db, STRATA_E_MISUSE,
            "a transaction is already open (use strata_db_savepoint() to nest)");
    if (mode < STRATA_TX_DEFAULT || mode > STRATA_TX_SNAPSHOT)
        return strata__db_error(db, STRATA_E_MISUSE, "begin: unknown transaction mode %d",
                                (int)mode);
    int was_in_tx = strata__drv_in_transaction(db);
    /* A transaction begun by raw SQL is the program's: SQLite refuses a
     * second BEGIN, and PostgreSQL would warn and let this handle's
     * COMMIT end it, committing the program's work early.  Refused on
     * both alike. */
    if (was_in_tx == 1)
        return strata__db_error(db, STRATA_E_MISUSE,
                                "begin: a transaction begun by raw SQL is open on this "
                                "connection; end it (COMMIT or ROLLBACK) first, or begin "
                                "with strata_db_begin instead of raw SQL");
    static const char *const shown[] = {"BEGIN", "BEGIN (write)", "BEGIN (read only)",
                                        "BEGIN (snapshot)"};
    db->counters[STRATA_COUNTER_STATEMENTS]++;
    strata__echo_line(db, "%s", sql ? sql : shown[mode]);
    rc = sql ? strata__drv_exec(db, sql) : strata__drv_begin_mode(db, mode);
    if (rc == STRATA_OK) {
        db->in_tx = true;
        db->raw_tx_failed = db->raw_tx_ended = false;
        db->tx_serial++;
        db->tx_from_savepoint = false;
        db->sp_depth = 0;
    } else if (was_in_tx == 0 && strata__drv_in_transaction(db) == 1) {
        /* The engine began all the same (the server ran the BEGIN whose
         * answer libpq could not allocate): ended here, or the handle
         * given up, so that no statement runs in a transaction the handle
         * does not know. */
        rollback_keeping_error(db);
    }
    return rc;
}

int strata_db_begin(strata_db *db)
{
    STRATA__CONFINE(db, STRATA_E_MISUSE);
    return begin(db, NULL, STRATA_TX_DEFAULT);
}

int strata_db_begin_mode(strata_db *db, strata_tx_mode mode)
{
    STRATA__CONFINE(db, STRATA_E_MISUSE);
    return begin(db, NULL, mode);
}

uint64_t strata__db_tx_serial(const strata_db *db) { return db->in_tx ? db->tx_serial : 0; }

int strata__db_begin_sql(strata_db *db, const char *sql)
{
    return begin(db, sql, STRATA_TX_DEFAULT);
}

void strata__db_abort_tx(strata_db *db)
{
    if (!db->in_tx)
        return;
    rollback_keeping_error(db);
    tx_ended(db, false);
}

int strata__db_unit_commit_refused(strata_db *db)
{
    return strata__db_error(db, STRATA_E_MISUSE,
                            "commit inside a unit of strata_pool_run: the pool commits the unit's "
                            "transaction when the unit returns STRATA_OK, and rolls it back to run "
                            "the unit again after a failure, which would write what was committed "
                            "twice; return from the unit instead (strata_session_flush writes "
                            "without committing)");
}

int strata_db_commit(strata_db *db)
{
    STRATA__CONFINE(db, STRATA_E_MISUSE);
    int rc = strata__db_usable(db);
    if (rc)
        return rc;
    if (!db->in_tx)
        return strata__db_error(db, STRATA_E_MISUSE, "commit: no transaction is open");
    if (db->in_unit)
        return strata__db_unit_commit_refused(db);
    if (db->tx_failed) {
        engine_rollback(db);
        tx_ended(db, false);
        return strata_driver_error(db, STRATA_E_TX_ABORTED, "25P02", 0,
                                   "the transaction was aborted by an earlier error and has "
                                   "been rolled back instead of committed");
    }
    db->counters[STRATA_COUNTER_STATEMENTS]++;
    strata__echo_line(db, "COMMIT");
    rc = strata__drv_commit(db);
    /* Lost with the engine sure that no transaction is open: it was
     * never committed (SQLite refuses a COMMIT into a file that has
     * moved, rolling back; the server had ended the connection before
     * the COMMIT went).  Otherwise the outcome is not known, even for a
     * transaction begun to read only: its first statement may have made
     * it one that writes (SET TRANSACTION READ WRITE). */
    if (rc == STRATA_E_CONNECTION_LOST && strata__drv_in_transaction(db) != 0) {
        /* COMMIT was sent and no answer came: the server may have
         * committed or not.  Never retry this blindly. */
        tx_ended(db, false);
        return strata_driver_error(db, STRATA_E_COMMIT_UNKNOWN, "08007", 0,
                                   "the connection was lost during COMMIT: the transaction may "
                                   "or may not have been committed (%s)",
                                   db->errmsg ? db->errmsg : "no answer");
    }
    if (rc != STRATA_OK) {
        /* Said to be the COMMIT's: a deferred constraint or a lock met
         * there reads like a statement's failure otherwise. */
        strata__db_error_context(db, "COMMIT");
        /* Engines differ here (SQLite keeps the transaction open after a
         * failed COMMIT, PostgreSQL ends it): always end it. */
        rollback_keeping_error(db);
    }
    tx_ended(db, rc == STRATA_OK);
    return rc;
}

int strata__db_unit_rollback_refused(strata_db *db)
{
    return strata__db_error(db, STRATA_E_MISUSE,
                            "rollback inside a unit of strata_pool_run: SQL run after it would "
                            "be committed at once, and written again when the unit is run "
                            "again; return the failure from the unit instead (the pool rolls "
                            "back, and runs the unit again when the failure is one to retry), "
                            "or nest the part that may fail in a savepoint");
}

int strata_db_rollback(strata_db *db)
{
    STRATA__CONFINE(db, STRATA_E_MISUSE);
    if (db && db->in_unit && db->in_tx && !db->closed)
        return strata__db_unit_rollback_refused(db);
    if (db && db->broken && !db->closed && db->tx_stuck) {
        /* A ROLLBACK that could not run, tried again. */
        db->counters[STRATA_COUNTER_STATEMENTS]++;
        strata__echo_line(db, "ROLLBACK");
        int rc = strata__drv_rollback(db);
        if (rc != STRATA_OK && strata__drv_in_transaction(db) != 0)
            return say_stuck(db);
        db->broken = db->tx_stuck = false;
        tx_ended(db, false);
        strata__db_clear_error(db);
        return STRATA_OK;
    }
    if (db && db->broken && !db->closed) {
        /* The server has already rolled back what it had. */
        tx_ended(db, false);
        strata__db_clear_error(db);
        return STRATA_OK;
    }
    int rc = strata__db_usable(db);
    if (rc)
        return rc;
    if (!db->in_tx && strata__drv_in_transaction(db) == 1) {
        /* A transaction begun by raw SQL: rolled back as well. */
        db->counters[STRATA_COUNTER_STATEMENTS]++;
        strata__echo_line(db, "ROLLBACK");
        if ((rc = strata__drv_rollback(db)) != STRATA_OK)
            strata__db_note_failure(db);
        return rc;
    }
    if (!db->in_tx)
        return STRATA_OK;
    if (db->engine_ended_tx || strata__drv_in_transaction(db) == 0) {
        tx_ended(db, false); /* the engine rolled back already */
        return STRATA_OK;
    }
    db->counters[STRATA_COUNTER_STATEMENTS]++;
    strata__echo_line(db, "ROLLBACK");
    rc = engine_rollback(db);
    if (db->tx_stuck)
        return say_stuck(db);
    tx_ended(db, false);
    return rc;
}

int strata_db_in_transaction(const strata_db *db) { return db && db->in_tx; }

void strata_db_set_notice_handler(strata_db *db, strata_notice_fn fn, void *userdata)
{
    STRATA__CONFINE_VOID(db);
    if (!db)
        return;
    db->notice = fn;
    db->notice_ud = userdata;
}

void strata_driver_notice(strata_db *db, const char *severity, const char *sqlstate,
                          const char *message)
{
    if (!db || (!db->notice && !db->echo))
        return;
    char *clean = strata__scrub(message ? message : "", db->secrets, db->nsecrets);
    if (!clean)
        return;
    strata_notice n = {severity ? severity : "NOTICE", sqlstate ? sqlstate : "", clean};
    if (db->notice)
        db->notice(db->notice_ud, &n);
    strata__echo_line(db, "%s %s: %s", n.severity, n.sqlstate, clean);
    free(clean);
}

int strata_db_cancel(strata_db *db)
{
    /* Not confined: this is how another thread stops a running call. */
    if (!db || db->closed || !db->conn)
        return STRATA_E_MISUSE;
    return strata__drv_cancel(db);
}

int strata_db_set_statement_timeout(strata_db *db, int ms)
{
    STRATA__CONFINE(db, STRATA_E_MISUSE);
    int rc = strata__db_usable(db);
    if (rc)
        return rc;
    if (ms < 0)
        return strata__db_error(db, STRATA_E_MISUSE, "a statement timeout of %d ms", ms);
    if ((rc = strata__db_check_tx(db)))
        return rc;
    if ((rc = strata__drv_set_timeout(db, ms)) == STRATA_OK)
        db->timeout_ms = ms;
    return rc;
}

int strata_db_is_broken(const strata_db *db) { return !db || db->broken || db->closed; }

int strata_db_ping(strata_db *db)
{
    STRATA__CONFINE(db, STRATA_E_MISUSE);
    int rc = strata__db_usable(db);
    if (rc)
        return rc;
    if ((rc = strata__db_check_tx(db)))
        return rc;
    return db_run(db, "SELECT 1");
}

/* Savepoints opened on the connection itself would leave a session's
 * objects behind when rolled back (an inserted object keeping an id the
 * engine hands out again): under a session they go through it. */
static int refuse_under_session(strata_db *db)
{
    if (!db || db->sessions == 0)
        return STRATA_OK;
    return strata__db_error(db, STRATA_E_MISUSE,
                            "a session is using this connection: open and end savepoints with "
                            "strata_session_savepoint(), _release() and _rollback(), so its "
                            "objects follow the database");
}

int strata_db_savepoint(strata_db *db)
{
    STRATA__CONFINE(db, STRATA_E_MISUSE);
    int rc = refuse_under_session(db);
    return rc ? rc : strata__db_savepoint(db);
}

static int savepoint(strata_db *db, bool with_next);

int strata__db_savepoint(strata_db *db) { return savepoint(db, false); }

int strata__db_savepoint_with_next(strata_db *db) { return savepoint(db, true); }

static int savepoint(strata_db *db, bool with_next)
{
    int rc = strata__db_usable(db);
    if (rc)
        return rc;
    if ((rc = strata__db_check_tx(db)))
        return rc;
    bool began = false;
    if (!db->in_tx) {
        if ((rc = strata_db_begin(db)) != STRATA_OK)
            return rc;
        began = true;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "SAVEPOINT strata_sp_%d", db->sp_depth + 1);
    if (with_next) {
        strata__echo_stmt(db, sql, NULL, 0);
        db->counters[STRATA_COUNTER_STATEMENTS]++;
        if ((rc = strata__drv_exec_with_next(db, sql)) != STRATA_OK)
            strata__db_note_failure(db);
    } else {
        rc = db_run(db, sql);
    }
    if (rc != STRATA_OK) {
        if (began) {
            rollback_keeping_error(db);
            tx_ended(db, false);
        }
        return rc;
    }
    db->sp_depth++;
    if (began)
        db->tx_from_savepoint = true;
    return STRATA_OK;
}

int strata__db_savepoint_end(strata_db *db, bool keep)
{
    int rc = strata__db_usable(db);
    if (rc)
        return rc;
    if (db->sp_depth == 0)
        return strata__db_error(db, STRATA_E_MISUSE, "no savepoint is open");
    if (keep && (rc = strata__db_check_tx(db)))
        return rc;
    if (!keep)
        db->tx_failed = false; /* rolling back to a savepoint recovers */
    char sql[128];
    int n = db->sp_depth;
    if (keep)
        snprintf(sql, sizeof sql, "RELEASE SAVEPOINT strata_sp_%d", n);
    else
        snprintf(sql, sizeof sql, "ROLLBACK TO SAVEPOINT strata_sp_%d", n);
    rc = db_run(db, sql);
    if (rc == STRATA_OK && !keep) {
        snprintf(sql, sizeof sql, "RELEASE SAVEPOINT strata_sp_%d", n);
        rc = db_run(db, sql);
    }
    if (rc != STRATA_OK)
        return rc;
    db->sp_depth--;
    if (db->sp_depth == 0 && db->tx_from_savepoint)
        return keep ? strata_db_commit(db) : strata_db_rollback(db);
    return STRATA_OK;
}

int strata__db_savepoint_keep_to_commit(strata_db *db)
{
    int rc = strata__db_usable(db);
    if (rc)
        return rc;
    if (db->sp_depth == 0)
        return strata__db_error(db, STRATA_E_MISUSE, "no savepoint is open");
    if (db->tx_from_savepoint && db->sp_depth == 1)
        return strata__db_savepoint_end(db, true); /* it began the transaction */
    if ((rc = strata__db_check_tx(db)))
        return rc;
    db->sp_depth--; /* the COMMIT that follows releases it */
    return STRATA_OK;
}

int strata__db_savepoint_undo(strata_db *db, int code)
{
    kept_error k;
    error_keep(db, &k);
    bool was_broken = db->broken;
    bool undone = strata__db_savepoint_end(db, false) == STRATA_OK;
    error_put_back(db, &k);
    if (!undone && db->in_tx)
        db->tx_failed = true; /* what the savepoint held may be half there: only a rollback */
    if (!undone && db->sp_depth > 0)
        db->sp_depth--; /* gone with the undo that failed (or never made, when deferred) */
    if (code != STRATA_OK)
        db->errcode = code;
    /* The connection lost by the undo itself: that is the failure to
     * report (a retry on another connection may then succeed), with the
     * one that called for the undo. */
    if (!was_broken && db->broken && db->errcode != STRATA_E_CONNECTION_LOST)
        return strata__db_error_words(db, STRATA_E_CONNECTION_LOST, "08006", 0,
                                      "%s; then the connection was lost while undoing it",
                                      strata_db_errmsg(db));
    return db->errcode;
}

void strata__db_savepoint_abandon(strata_db *db)
{
    if (db->sp_depth > 0)
        db->sp_depth--;
    if (db->in_tx)
        db->tx_failed = true;
}

int strata_db_savepoint_release(strata_db *db)
{
    STRATA__CONFINE(db, STRATA_E_MISUSE);
    int rc = refuse_under_session(db);
    return rc ? rc : strata__db_savepoint_end(db, true);
}

int strata_db_savepoint_rollback(strata_db *db)
{
    STRATA__CONFINE(db, STRATA_E_MISUSE);
    int rc = refuse_under_session(db);
    return rc ? rc : strata__db_savepoint_end(db, false);
}

int strata_db_savepoint_depth(const strata_db *db) { return db ? db->sp_depth : 0; }

/* ---- counters and echo ---------------------------------------------------- */

int64_t strata_db_counter(const strata_db *db, strata_counter which)
{
    if (!db || (int)which < 0 || (size_t)which >= sizeof db->counters / sizeof db->counters[0])
        return 0;
    return db->counters[which];
}

void strata_db_set_echo(strata_db *db, strata_echo_fn fn, void *userdata)
{
    STRATA__CONFINE_VOID(db);
    if (!db)
        return;
    db->echo = fn;
    db->echo_ud = userdata;
}

/* ---- quoting -------------------------------------------------------------- */

void strata__sb_literal(strata__sb *sb, const char *text)
{
    strata__sb_putc(sb, '\'');
    for (const char *p = text; *p; p++) {
        if (*p == '\'')
            strata__sb_putc(sb, '\'');
        strata__sb_putc(sb, *p);
    }
    strata__sb_putc(sb, '\'');
}

void strata__sb_ident(strata__sb *sb, const strata_driver *driver, const char *ident)
{
    bool plain = (ident[0] >= 'a' && ident[0] <= 'z') || ident[0] == '_';
    for (const char *p = ident; plain && *p; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (plain && strata__drv_is_reserved(driver, ident))
        plain = false;
    if (plain) {
        strata__sb_puts(sb, ident);
        return;
    }
    const char *q = strata__drv_identifier_quote(driver);
    strata__sb_putc(sb, q[0]);
    for (const char *p = ident; *p; p++) {
        if (*p == q[1])
            strata__sb_putc(sb, q[1]);
        strata__sb_putc(sb, *p);
    }
    strata__sb_putc(sb, q[1]);
}

int strata_driver_quote_ident(const strata_driver *driver, const char *ident, char **out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!driver || !ident || !*ident)
        return STRATA_E_MISUSE;
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_ident(&sb, driver, ident);
    *out = strata__sb_take(&sb);
    return *out ? STRATA_OK : STRATA_E_NOMEM;
}
