/*
 * dialect_sqlite.c - the schema layer's SQLite dialect: type and default
 * spellings, and introspection through the pragma table functions
 * (pragma_table_info, pragma_index_list / index_info,
 * pragma_foreign_key_list) plus a small parser of the CREATE TABLE text in
 * sqlite_master, which is the only place SQLite keeps constraint names and
 * check expressions.
 *
 * An autoincrement key is a rowid alias: a one-column primary key declared
 * exactly INTEGER.  An integer primary key that is *not* autoincrement is
 * declared INT, which SQLite does not turn into a rowid alias, so the
 * distinction survives a round trip.  Constraints SQLite keeps no name for
 * (hand-written tables) get the naming convention's name.  Every column
 * reads back with the binary collation: SQLite's BINARY, the default
 * strata keeps, is bytewise, and it has no locale collation.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "schema_internal.h"

extern const strata__dialect strata__sqlite_dialect; /* at the end of this file */

static bool is_pk_column(const strata_table *t, const strata_column *c)
{
    return t && t->pk && t->pk->cols.n == 1 && strcmp(t->pk->cols.v[0], c->name) == 0;
}

/* The driver decodes values by these spellings (driver.c, classify_decl:
 * BOOL means boolean, DATETIME or TIMESTAMP a timestamp): keep them in
 * step. */
static void sq_render_type(strata__sb *sb, const strata_table *t, const strata_column *c)
{
    if (c->autoincrement) {
        strata__sb_puts(sb, "INTEGER"); /* exactly: the rowid alias */
        return;
    }
    switch (c->type.kind) {
    case STRATA_SQL_INTEGER: strata__sb_puts(sb, is_pk_column(t, c) ? "INT" : "INTEGER"); return;
    case STRATA_SQL_FLOAT: strata__sb_puts(sb, "FLOAT"); return;
    case STRATA_SQL_DATETIME: strata__sb_puts(sb, "DATETIME"); return;
    /* TEXT affinity: a column declared JSON alone has NUMERIC affinity,
     * and SQLite would store a document that is a bare number as one
     * (1.0 read back as 1, 1e400 as inf). */
    case STRATA_SQL_JSON: strata__sb_puts(sb, "JSON TEXT"); return;
    default: strata__type_sql(sb, &c->type); return;
    }
}

static void sq_render_default(strata__sb *sb, const strata_column *c)
{
    switch (c->def) {
    case DEF_NOW:
        /* A timestamp as strata writes one, to the millisecond, six
         * digits after the point (CURRENT_TIMESTAMP has none): SQLite
         * compares the texts, and a row must equal its own value read
         * back and bound again. */
        strata__sb_puts(sb, c->type.kind == STRATA_SQL_DATE
                                ? "CURRENT_DATE"
                                : "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))");
        return;
    case DEF_BOOL: strata__sb_puts(sb, strcmp(c->def_text, "true") == 0 ? "TRUE" : "FALSE"); return;
    case DEF_SQL: strata__sb_printf(sb, "(%s)", c->def_text); return;
    default: strata__sb_puts(sb, c->def_text); return;
    }
}

/* On SQLite every integer type is the same 64-bit storage for a rowid
 * alias, which must be declared INTEGER. */
static bool sq_same_type(const strata_column *a, const strata_column *b)
{
    if (a->autoincrement && b->autoincrement && strata__type_is_integer(&a->type) &&
        strata__type_is_integer(&b->type))
        return true;
    return strata__type_equal(&a->type, &b->type);
}

/* ---- the CREATE TABLE parser ------------------------------------------- */

typedef struct token {
    const char *start; /* in the SQL text */
    size_t len;
    char *ident; /* identifiers: the name unquoted; else NULL */
} token;

typedef struct tokens {
    token *v;
    int n;
} tokens;

static void tokens_free(tokens *ts)
{
    for (int i = 0; i < ts->n; i++)
        free(ts->v[i].ident);
    free(ts->v);
}

static bool push_token(tokens *ts, const char *start, size_t len, char *ident)
{
    token *n = realloc(ts->v, (size_t)(ts->n + 1) * sizeof *n);
    if (!n) {
        free(ident);
        return false;
    }
    ts->v = n;
    ts->v[ts->n++] = (token){start, len, ident};
    return true;
}

/* The tokens of a CREATE TABLE text, read by strata's SQL lexer with
 * SQLite's quoting rules ("...", `...`, [...] names; '...' strings). */
static bool tokenize(tokens *ts, const char *sql)
{
    memset(ts, 0, sizeof *ts);
    for (const char *p = sql; *p;) {
        strata__token t;
        strata__sql_token_at(sql, p, STRATA_LEX_BACKTICKS | STRATA_LEX_BRACKETS, &t);
        if (t.unterminated && t.kind != STRATA__TOK_COMMENT)
            return false;
        char *ident = NULL;
        if (t.kind == STRATA__TOK_QUOTED && !(ident = strata__sql_unquote(p, t.len)))
            return false;
        if (t.kind == STRATA__TOK_WORD && !(ident = strata__strndup(p, t.len)))
            return false;
        if (t.kind != STRATA__TOK_SPACE && t.kind != STRATA__TOK_COMMENT &&
            !push_token(ts, p, t.len, ident))
            return false;
        p += t.len;
    }
    return true;
}

static bool is_kw(const token *t, const char *kw)
{
    return t->ident && t->len == strlen(kw) && strncasecmp(t->start, kw, t->len) == 0;
}

static bool is_punct(const token *t, char c) { return !t->ident && t->len == 1 && *t->start == c; }

/* Index of the ')' matching the '(' at i, or -1. */
static int matching(const tokens *ts, int i, int end)
{
    int depth = 0;
    for (int k = i; k < end; k++) {
        if (is_punct(&ts->v[k], '('))
            depth++;
        else if (is_punct(&ts->v[k], ')') && --depth == 0)
            return k;
    }
    return -1;
}

/* A parsed table-level (or column CHECK) constraint. */
typedef struct parsed {
    strata__cons_kind kind;
    char *name;         /* NULL when unnamed */
    strata__names cols; /* PK, UNIQUE, FK */
    char *ref_table;    /* FK */
    char *sql;          /* CHECK */
} parsed;

typedef struct parsed_table {
    parsed *v;
    int n;
} parsed_table;

static void parsed_free(parsed_table *pt)
{
    for (int i = 0; i < pt->n; i++) {
        free(pt->v[i].name);
        strata__names_free(&pt->v[i].cols);
        free(pt->v[i].ref_table);
        free(pt->v[i].sql);
    }
    free(pt->v);
}

/* "(a, b COLLATE x DESC)" at ts[open] -> {a, b}. */
static bool paren_names(const tokens *ts, int open, int close, strata__names *out)
{
    memset(out, 0, sizeof *out);
    bool want = true;
    for (int k = open + 1; k < close; k++) {
        const token *t = &ts->v[k];
        if (is_punct(t, ',')) {
            want = true;
        } else if (want && t->ident) {
            char *copy = strata__strdup(t->ident);
            char **v = copy ? realloc(out->v, (size_t)(out->n + 1) * sizeof *v) : NULL;
            if (!v) {
                free(copy);
                return false;
            }
            v[out->n++] = copy;
            out->v = v;
            want = false;
        }
    }
    return true;
}

static bool add_parsed(parsed_table *pt, parsed *p)
{
    parsed *n = realloc(pt->v, (size_t)(pt->n + 1) * sizeof *n);
    if (!n)
        return false;
    pt->v = n;
    pt->v[pt->n++] = *p;
    return true;
}

/* A CHECK whose '(' is at ts[open]: the expression text, trimmed. */
static bool add_check(parsed_table *pt, const tokens *ts, int open, int close, const char *name)
{
    const char *s = ts->v[open].start + 1, *end = ts->v[close].start;
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    parsed ck = {.kind = CONS_CHECK};
    ck.name = name ? strata__strdup(name) : NULL;
    ck.sql = strata__strndup(s, (size_t)(end - s));
    if ((name && !ck.name) || !ck.sql || !add_parsed(pt, &ck)) {
        free(ck.name);
        free(ck.sql);
        return false;
    }
    return true;
}

/* One element of the column / constraint list: tokens [b, e). */
static bool parse_element(parsed_table *pt, const tokens *ts, int b, int e)
{
    int k = b;
    const char *name = NULL;
    if (k + 1 < e && is_kw(&ts->v[k], "CONSTRAINT")) {
        name = ts->v[k + 1].ident;
        k += 2;
    }
    if (k >= e)
        return true;
    const token *t = &ts->v[k];
    if (is_kw(t, "CHECK") && k + 1 < e && is_punct(&ts->v[k + 1], '(')) {
        int close = matching(ts, k + 1, e);
        return close < 0 || add_check(pt, ts, k + 1, close, name);
    }
    if (is_kw(t, "PRIMARY") || is_kw(t, "UNIQUE") || is_kw(t, "FOREIGN")) {
        int open = k + 1;
        while (open < e && !is_punct(&ts->v[open], '('))
            open++;
        int close = open < e ? matching(ts, open, e) : -1;
        if (close < 0)
            return true;
        parsed p = {.kind = is_kw(t, "PRIMARY")  ? CONS_PK
                            : is_kw(t, "UNIQUE") ? CONS_UNIQUE
                                                 : CONS_FK};
        bool ok = paren_names(ts, open, close, &p.cols);
        for (int r = close + 1; ok && p.kind == CONS_FK && r + 1 < e; r++) {
            if (is_kw(&ts->v[r], "REFERENCES") && ts->v[r + 1].ident) {
                ok = (p.ref_table = strata__strdup(ts->v[r + 1].ident)) != NULL;
                break;
            }
        }
        if (ok && name)
            ok = (p.name = strata__strdup(name)) != NULL;
        if (!ok || !add_parsed(pt, &p)) {
            free(p.name);
            strata__names_free(&p.cols);
            free(p.ref_table);
            return false;
        }
        return true;
    }
    /* A column definition: only its CHECK constraints are of interest. */
    const char *pending = NULL;
    for (k = b + 1; k < e; k++) {
        const token *w = &ts->v[k];
        if (is_kw(w, "CONSTRAINT") && k + 1 < e) {
            pending = ts->v[++k].ident;
        } else if (is_kw(w, "CHECK") && k + 1 < e && is_punct(&ts->v[k + 1], '(')) {
            int close = matching(ts, k + 1, e);
            if (close < 0)
                return true;
            if (!add_check(pt, ts, k + 1, close, pending))
                return false;
            pending = NULL;
            k = close;
        } else if (is_punct(w, '(')) {
            int close = matching(ts, k, e);
            if (close < 0)
                return true;
            k = close;
        }
    }
    return true;
}

static bool parse_create_table(parsed_table *pt, const char *sql)
{
    memset(pt, 0, sizeof *pt);
    tokens ts;
    if (!tokenize(&ts, sql)) {
        tokens_free(&ts);
        return true; /* unreadable text: names fall back to the convention */
    }
    bool ok = true;
    int open = 0;
    while (open < ts.n && !is_punct(&ts.v[open], '('))
        open++;
    int close = open < ts.n ? matching(&ts, open, ts.n) : -1;
    for (int b = open + 1, k = b; ok && close > 0 && k <= close; k++) {
        if (k == close || is_punct(&ts.v[k], ',')) {
            if (k > b)
                ok = parse_element(pt, &ts, b, k);
            b = k + 1;
        } else if (is_punct(&ts.v[k], '(')) {
            int m = matching(&ts, k, close);
            if (m < 0)
                break;
            k = m;
        }
    }
    tokens_free(&ts);
    return ok;
}

/* The parsed constraint of `kind` on exactly `cols`, or NULL. */
static parsed *find_parsed(parsed_table *pt, strata__cons_kind kind, const strata__names *cols,
                           const char *ref_table)
{
    for (int i = 0; i < pt->n; i++) {
        parsed *p = &pt->v[i];
        if (p->kind != kind || !p->name || p->cols.n != cols->n)
            continue;
        bool same = true;
        for (int c = 0; same && c < cols->n; c++)
            same = strcasecmp(p->cols.v[c], cols->v[c]) == 0;
        if (same && ref_table && (!p->ref_table || strcasecmp(p->ref_table, ref_table) != 0))
            same = false;
        if (same)
            return p;
    }
    return NULL;
}

/* ---- introspection ----------------------------------------------------- */

/* Name of a constraint: the parsed one, else the naming convention's. */
static char *cons_name(const strata_metadata *md, parsed_table *pt, const strata_table *t,
                       strata__cons_kind kind, bool index, const strata__names *cols,
                       const char *ref_table)
{
    parsed *p = index ? NULL : find_parsed(pt, kind, cols, ref_table);
    if (p)
        return strata__strdup(p->name);
    return strata__md_make_name(md, kind, index, t->name, cols, ref_table, NULL);
}

/* A generated column (pragma_table_xinfo's hidden 2 or 3) is not one
 * strata can describe: left out, a rebuild or a copy of the table would
 * lose it without a word, so the table's reading is refused, naming it. */
static int refuse_generated(strata_table *t, strata_db *db)
{
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db,
                                 "SELECT name FROM pragma_table_xinfo(?) WHERE hidden IN (2, 3)");
    if (rc == STRATA_OK)
        rc = strata_stmt_bind_text(st, 1, t->name, -1);
    if (rc == STRATA_OK && (rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *name = strata__stmt_text(st, 0);
        rc = strata__db_error(db, STRATA_E_UNSUPPORTED,
                              "%s.%s is a generated column, which strata does not describe "
                              "(a rebuild or a copy of the table would leave it out)",
                              t->name, name ? name : "?");
    }
    strata_stmt_finalize(st);
    return rc == STRATA_DONE ? STRATA_OK : rc;
}

static int read_columns(strata_table *t, strata_db *db, strata__names *pk)
{
    int grc = refuse_generated(t, db);
    if (grc != STRATA_OK)
        return grc;
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db,
                                 "SELECT name, type, \"notnull\", dflt_value, pk "
                                 "FROM pragma_table_info(?) ORDER BY cid");
    if (rc != STRATA_OK)
        return rc;
    int64_t pkpos[64];
    char *pktype = NULL;
    if ((rc = strata_stmt_bind_text(st, 1, t->name, -1)) != STRATA_OK) {
        strata_stmt_finalize(st);
        return rc;
    }
    while ((rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *name = strata__stmt_text(st, 0), *decl = strata__stmt_text(st, 1);
        const char *dflt = strata__stmt_text(st, 3);
        int64_t notnull = 0, pos = 0;
        strata_stmt_column_int64(st, 2, &notnull);
        strata_stmt_column_int64(st, 4, &pos);
        if ((rc = strata__row_error(st)) != STRATA_OK)
            break;
        if (!name) {
            rc = STRATA_E_DATA;
            break;
        }
        strata_column *c = calloc(1, sizeof *c);
        if (!c || !(c->name = strata__strdup(name))) {
            free(c);
            rc = STRATA_E_NOMEM;
            break;
        }
        c->nullable = notnull == 0;
        if (!decl)
            decl = "";
        rc = strata__type_from_engine(&strata__sqlite_dialect, &c->type, decl);
        if (rc == STRATA_OK)
            rc = strata__default_from_engine(&strata__sqlite_dialect, c, dflt);
        if (rc == STRATA_OK && pos > 0 && pk->n < 64) {
            /* Keep primary key columns in key order. */
            int at = pk->n;
            rc = strata__names_push(pk, c->name);
            while (rc == STRATA_OK && at > 0 && pkpos[at - 1] > pos) {
                char *tmp = pk->v[at];
                pk->v[at] = pk->v[at - 1];
                pk->v[at - 1] = tmp;
                pkpos[at] = pkpos[at - 1];
                at--;
            }
            pkpos[at] = pos;
            free(pktype);
            pktype = rc == STRATA_OK ? strata__strdup(decl) : NULL;
            if (!pktype)
                rc = rc != STRATA_OK ? rc : STRATA_E_NOMEM;
        }
        if (rc != STRATA_OK || !strata__table_push_column(t, c)) {
            strata__column_free(c);
            rc = rc != STRATA_OK ? rc : STRATA_E_NOMEM;
            break;
        }
    }
    strata_stmt_finalize(st);
    if (rc == STRATA_DONE)
        rc = STRATA_OK;
    /* A one-column key declared exactly INTEGER is the rowid: autoincrement. */
    if (rc == STRATA_OK && pk->n == 1 && pktype && strcasecmp(pktype, "INTEGER") == 0)
        t->cols[strata__table_find_column_index(t, pk->v[0])]->autoincrement = true;
    free(pktype);
    return rc;
}

static int index_columns(strata_db *db, const char *index, strata__names *out, bool *expr)
{
    memset(out, 0, sizeof *out);
    *expr = false;
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db, "SELECT name FROM pragma_index_info(?) ORDER BY seqno");
    if (rc != STRATA_OK)
        return rc;
    if ((rc = strata_stmt_bind_text(st, 1, index, -1)) != STRATA_OK) {
        strata_stmt_finalize(st);
        return rc;
    }
    while ((rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *name = strata__stmt_text(st, 0);
        if ((rc = strata__row_error(st)) != STRATA_OK)
            break;
        if (!name)
            *expr = true;
        else if ((rc = strata__names_push(out, name)) != STRATA_OK)
            break;
    }
    strata_stmt_finalize(st);
    if (rc != STRATA_DONE)
        strata__names_free(out);
    return rc == STRATA_DONE ? STRATA_OK : rc;
}

/* The condition of partial index `index`: the text after the WHERE that
 * follows its column list in the CREATE INDEX SQLite keeps.  *out NULL
 * when there is none. */
static int index_where(strata_db *db, const char *index, char **out)
{
    *out = NULL;
    strata_stmt *st;
    int rc = strata_stmt_prepare(
        &st, db, "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?");
    if (rc != STRATA_OK)
        return rc;
    if ((rc = strata_stmt_bind_text(st, 1, index, -1)) != STRATA_OK ||
        (rc = strata_stmt_step(st)) != STRATA_ROW) {
        strata_stmt_finalize(st);
        return rc == STRATA_DONE ? STRATA_OK : rc;
    }
    const char *sql = strata__stmt_text(st, 0);
    rc = strata__row_error(st);
    tokens ts = {0};
    if (rc == STRATA_OK && sql && !tokenize(&ts, sql))
        rc = STRATA_E_NOMEM;
    int open = -1;
    for (int k = 0; rc == STRATA_OK && k < ts.n && open < 0; k++)
        if (is_punct(&ts.v[k], '('))
            open = k;
    int close = open >= 0 ? matching(&ts, open, ts.n) : -1;
    if (rc == STRATA_OK && close >= 0 && close + 2 < ts.n && is_kw(&ts.v[close + 1], "WHERE")) {
        const token *first = &ts.v[close + 2];
        const token *last = &ts.v[ts.n - 1];
        if (is_punct(last, ';') && ts.n - 1 > close + 2)
            last--;
        *out = strata__strndup(first->start, (size_t)(last->start + last->len - first->start));
        if (!*out)
            rc = STRATA_E_NOMEM;
    }
    tokens_free(&ts);
    strata_stmt_finalize(st);
    return rc;
}

static int read_indexes(strata_metadata *md, strata_table *t, strata_db *db, parsed_table *pt)
{
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db,
                                 "SELECT name, \"unique\", origin, partial "
                                 "FROM pragma_index_list(?) ORDER BY name");
    if (rc != STRATA_OK)
        return rc;
    if ((rc = strata_stmt_bind_text(st, 1, t->name, -1)) != STRATA_OK) {
        strata_stmt_finalize(st);
        return rc;
    }
    while ((rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *name = strata__stmt_text(st, 0), *origin = strata__stmt_text(st, 2);
        int64_t unique = 0, partial = 0;
        strata_stmt_column_int64(st, 1, &unique);
        strata_stmt_column_int64(st, 3, &partial);
        if ((rc = strata__row_error(st)) != STRATA_OK)
            break;
        if (!name || !origin || strcmp(origin, "pk") == 0)
            continue;
        char *where = NULL;
        if (partial && (rc = index_where(db, name, &where)) != STRATA_OK)
            break;
        strata__names cols;
        bool expr;
        if ((rc = index_columns(db, name, &cols, &expr)) != STRATA_OK) {
            free(where);
            break;
        }
        if (expr || cols.n == 0 || (partial && !where)) {
            if (expr)
                strata__md_left_out(md, "table %s: index %s%s is on an expression", t->name, name,
                                    unique ? " (unique)" : "");
            strata__names_free(&cols);
            free(where);
            continue;
        }
        if (strcmp(origin, "u") == 0) {
            free(where); /* a constraint is never partial */
            strata__cons *u = calloc(1, sizeof *u);
            if (u) {
                u->kind = CONS_UNIQUE;
                u->cols = cols;
                u->name = cons_name(md, pt, t, CONS_UNIQUE, false, &cols, NULL);
            } else {
                strata__names_free(&cols);
            }
            if (!u || !u->name || !strata__table_push_cons(t, u)) {
                strata__cons_free(u);
                rc = STRATA_E_NOMEM;
                break;
            }
        } else {
            strata__index *ix = calloc(1, sizeof *ix);
            if (ix) {
                ix->cols = cols;
                ix->unique = unique != 0;
                ix->name = strata__strdup(name);
                ix->where = where;
            } else {
                strata__names_free(&cols);
                free(where);
            }
            if (!ix || !ix->name || !strata__table_push_index(t, ix)) {
                strata__index_free(ix);
                rc = STRATA_E_NOMEM;
                break;
            }
        }
    }
    strata_stmt_finalize(st);
    return rc == STRATA_DONE ? STRATA_OK : rc;
}

static strata_fk_action fk_action(const char *text)
{
    if (!text)
        return STRATA_FK_NO_ACTION;
    if (strcasecmp(text, "CASCADE") == 0)
        return STRATA_FK_CASCADE;
    if (strcasecmp(text, "RESTRICT") == 0)
        return STRATA_FK_RESTRICT;
    if (strcasecmp(text, "SET NULL") == 0)
        return STRATA_FK_SET_NULL;
    if (strcasecmp(text, "SET DEFAULT") == 0)
        return STRATA_FK_SET_DEFAULT;
    return STRATA_FK_NO_ACTION;
}

/* The primary key columns of `table` (for REFERENCES t without columns). */
static int pk_columns(strata_db *db, const char *table, strata__names *out)
{
    memset(out, 0, sizeof *out);
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db,
                                 "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk");
    if (rc != STRATA_OK)
        return rc;
    if ((rc = strata_stmt_bind_text(st, 1, table, -1)) != STRATA_OK) {
        strata_stmt_finalize(st);
        return rc;
    }
    while ((rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *name = strata__stmt_text(st, 0);
        if ((rc = strata__row_error(st)) != STRATA_OK ||
            (rc = strata__names_push(out, name)) != STRATA_OK)
            break;
    }
    strata_stmt_finalize(st);
    return rc == STRATA_DONE ? STRATA_OK : rc;
}

/* The name as SQLite stored it of what `sql` finds by *name (a table, or
 * a column of `table`), matched without regard to ASCII case as SQLite
 * matches names: *name is replaced when it is written otherwise, and kept
 * when nothing is found (a reference to a table not there). */
static int stored_name(strata_db *db, const char *sql, const char *table, char **name)
{
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db, sql);
    if (rc == STRATA_OK)
        rc = strata_stmt_bind_text(st, 1, table ? table : *name, -1);
    if (rc == STRATA_OK && table)
        rc = strata_stmt_bind_text(st, 2, *name, -1);
    if (rc == STRATA_OK && (rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *found = strata__stmt_text(st, 0);
        char *copy = NULL;
        if ((rc = strata__row_error(st)) == STRATA_OK && found && strcmp(found, *name) != 0) {
            if ((copy = strata__strdup(found)) == NULL)
                rc = STRATA_E_NOMEM;
            else
                free(*name), *name = copy;
        }
    }
    strata_stmt_finalize(st);
    return rc == STRATA_ROW || rc == STRATA_DONE ? STRATA_OK : rc;
}

static int finish_fk(strata_metadata *md, strata_table *t, strata_db *db, parsed_table *pt,
                     strata__cons *fk, bool ref_missing)
{
    /* REFERENCES parent (Code) names the table Parent and its column code
     * for SQLite: the schema holds the names they have, so that a rename
     * of either follows to the reference. */
    int rc = stored_name(db,
                         "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                         "name = ?1 COLLATE NOCASE",
                         NULL, &fk->ref_table);
    if (rc != STRATA_OK)
        return rc;
    if (ref_missing) {
        strata__names_free(&fk->ref_cols);
        if ((rc = pk_columns(db, fk->ref_table, &fk->ref_cols)) != STRATA_OK)
            return rc;
    }
    for (int i = 0; i < fk->ref_cols.n && rc == STRATA_OK; i++)
        rc =
            stored_name(db, "SELECT name FROM pragma_table_info(?1) WHERE name = ?2 COLLATE NOCASE",
                        fk->ref_table, &fk->ref_cols.v[i]);
    if (rc != STRATA_OK)
        return rc;
    fk->name = cons_name(md, pt, t, CONS_FK, false, &fk->cols, fk->ref_table);
    return fk->name ? STRATA_OK : STRATA_E_NOMEM;
}

static int read_foreign_keys(strata_metadata *md, strata_table *t, strata_db *db, parsed_table *pt)
{
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db,
                                 "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete "
                                 "FROM pragma_foreign_key_list(?) ORDER BY id, seq");
    if (rc != STRATA_OK)
        return rc;
    strata__cons *cur = NULL;
    int64_t cur_id = -1;
    bool ref_missing = false;
    strata__cons **done = NULL;
    int ndone = 0;
    if ((rc = strata_stmt_bind_text(st, 1, t->name, -1)) != STRATA_OK) {
        strata_stmt_finalize(st);
        return rc;
    }
    while ((rc = strata_stmt_step(st)) == STRATA_ROW) {
        int64_t id = 0;
        strata_stmt_column_int64(st, 0, &id);
        const char *ref = strata__stmt_text(st, 1), *from = strata__stmt_text(st, 2);
        const char *to = strata__stmt_text(st, 3), *on_update = strata__stmt_text(st, 4);
        const char *on_delete = strata__stmt_text(st, 5);
        if ((rc = strata__row_error(st)) != STRATA_OK)
            break;
        if (!cur || id != cur_id) {
            strata__cons **more = realloc(done, (size_t)(ndone + 1) * sizeof *more);
            cur = more ? calloc(1, sizeof *cur) : NULL;
            if (more)
                done = more;
            if (!cur || !(cur->ref_table = strata__strdup(ref ? ref : ""))) {
                strata__cons_free(cur);
                rc = STRATA_E_NOMEM;
                break;
            }
            cur->kind = CONS_FK;
            cur->on_update = fk_action(on_update);
            cur->on_delete = fk_action(on_delete);
            done[ndone++] = cur;
            cur_id = id;
        }
        if ((rc = strata__names_push(&cur->cols, from)) != STRATA_OK)
            break;
        if (!to)
            ref_missing = true;
        else if ((rc = strata__names_push(&cur->ref_cols, to)) != STRATA_OK)
            break;
    }
    strata_stmt_finalize(st);
    if (rc == STRATA_DONE)
        rc = STRATA_OK;
    /* Names need the statement finished (pk_columns runs queries). */
    for (int i = 0; i < ndone; i++) {
        if (rc == STRATA_OK)
            rc = finish_fk(md, t, db, pt, done[i], ref_missing && done[i]->ref_cols.n == 0);
        if (rc == STRATA_OK && !strata__table_push_cons(t, done[i]))
            rc = STRATA_E_NOMEM;
        if (rc != STRATA_OK)
            strata__cons_free(done[i]);
    }
    free(done);
    return rc;
}

static int read_checks(strata_metadata *md, strata_table *t, parsed_table *pt)
{
    int unnamed = 0;
    for (int i = 0; i < pt->n; i++) {
        parsed *p = &pt->v[i];
        if (p->kind != CONS_CHECK)
            continue;
        strata__cons *c = calloc(1, sizeof *c);
        if (!c)
            return STRATA_E_NOMEM;
        c->kind = CONS_CHECK;
        char given[16] = "";
        if (!p->name)
            snprintf(given, sizeof given, "%d", ++unnamed);
        c->name = p->name ? strata__strdup(p->name)
                          : strata__md_make_name(md, CONS_CHECK, false, t->name, NULL, NULL, given);
        c->sql = strata__strdup(p->sql);
        if (!c->name || !c->sql || !strata__table_push_cons(t, c)) {
            strata__cons_free(c);
            return STRATA_E_NOMEM;
        }
    }
    return STRATA_OK;
}

static bool has_word(const char *text, const char *w, int depth);
static bool has_word_where(const char *text, const char *w, int depth, const char *prev,
                           bool after_prev);

static int read_table(strata_metadata *md, strata_table *t, strata_db *db, const char *sql)
{
    /* A deferrable foreign key (the schema's are checked at once). */
    if (sql && has_word_where(sql, "deferrable", 1, "not", false))
        strata__md_left_out(md, "table %s: a foreign key is deferrable", t->name);
    parsed_table pt;
    if (!parse_create_table(&pt, sql ? sql : "")) {
        parsed_free(&pt);
        return STRATA_E_NOMEM;
    }
    strata__names pk = {0};
    int rc = read_columns(t, db, &pk);
    if (rc == STRATA_OK && pk.n) {
        strata__cons *c = calloc(1, sizeof *c);
        if (c) {
            c->kind = CONS_PK;
            c->cols = pk;
            memset(&pk, 0, sizeof pk);
            c->name = cons_name(md, &pt, t, CONS_PK, false, &c->cols, NULL);
        }
        if (!c || !c->name) {
            strata__cons_free(c);
            rc = STRATA_E_NOMEM;
        } else {
            t->pk = c;
        }
    }
    strata__names_free(&pk);
    if (rc == STRATA_OK)
        rc = read_indexes(md, t, db, &pt);
    if (rc == STRATA_OK)
        rc = read_foreign_keys(md, t, db, &pt);
    if (rc == STRATA_OK)
        rc = read_checks(md, t, &pt);
    parsed_free(&pt);
    return rc;
}

static int sq_introspect(strata_metadata *md, strata_db *db, const char *const *exclude)
{
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db,
                                 "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                                 "AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name");
    if (rc != STRATA_OK)
        return rc;
    strata__names sqls = {0};
    while ((rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *name = strata__stmt_text(st, 0), *sql = strata__stmt_text(st, 1);
        if ((rc = strata__row_error(st)) != STRATA_OK)
            break;
        if (!name || strata__introspect_excluded(name, exclude))
            continue;
        strata_table *t = strata__table_new(name);
        if (!t || !strata__md_push_table(md, t)) {
            strata__table_free(t);
            rc = STRATA_E_NOMEM;
            break;
        }
        if ((rc = strata__names_push(&sqls, sql)) != STRATA_OK)
            break;
    }
    strata_stmt_finalize(st);
    if (rc == STRATA_DONE)
        rc = STRATA_OK;
    for (int i = 0; rc == STRATA_OK && i < md->ntables; i++)
        rc = read_table(md, md->tables[i], db, sqls.v[i]);
    strata__names_free(&sqls);
    return rc;
}

/* ---- around a table rebuild -------------------------------------------- */

/* What DROP TABLE takes with a table and the rebuild does not make again
 * as it was, from the SQL sqlite_master keeps: its triggers, its indexes
 * on expressions (which the schema cannot describe: made again when
 * missing), and its indexes with a COLLATE or DESC the schema does not
 * carry (made again in place of the plain one the rebuild makes; one the
 * revision dropped stays dropped).  And the table's columns before, to
 * find a trigger that uses one the change drops. */
typedef struct kept_objects {
    char *table;
    int n, ncols;
    char **type, **name, **sql, **cols;
    bool *replace;
} kept_objects;

static void kept_free(kept_objects *k)
{
    if (!k)
        return;
    for (int i = 0; i < k->n; i++)
        free(k->type[i]), free(k->name[i]), free(k->sql[i]);
    for (int i = 0; i < k->ncols; i++)
        free(k->cols[i]);
    free(k->type), free(k->name), free(k->sql), free(k->cols), free(k->replace);
    free(k->table);
    free(k);
}

/* When a quoted run or a comment starts at p: its last byte (the text's
 * last when it is not closed); else NULL.  How the readers below step
 * over what holds no word of the SQL. */
static const char *past_unread(const char *p)
{
    if (*p == '\'' || *p == '"' || *p == '`' || *p == '[') {
        char end = *p == '[' ? ']' : *p;
        while (p[1] && p[1] != end)
            p++;
        return p[1] ? p + 1 : p;
    }
    if (p[0] == '-' && p[1] == '-') {
        while (p[1] && p[1] != '\n')
            p++;
        return p;
    }
    if (p[0] == '/' && p[1] == '*') {
        const char *e = strstr(p + 2, "*/");
        return e ? e + 1 : p + strlen(p) - 1;
    }
    return NULL;
}

/* The word before p in text (past white space), its length in *n. */
static const char *word_before(const char *text, const char *p, size_t *n)
{
    const char *e = p;
    while (e > text && isspace((unsigned char)e[-1]))
        e--;
    const char *b = e;
    while (b > text && (isalnum((unsigned char)b[-1]) || b[-1] == '_'))
        b--;
    *n = (size_t)(e - b);
    return b;
}

/* Whether the word w (case aside) stands in SQL text outside quotes and
 * comments, at parenthesis depth `depth` or any (-1). */
static bool has_word(const char *text, const char *w, int depth)
{
    return has_word_where(text, w, depth, NULL, false);
}

/* The same, with the word before it `prev` (after_prev), or any other
 * (!after_prev: NOT DEFERRABLE is no deferrable key); prev NULL: any. */
static bool has_word_where(const char *text, const char *w, int depth, const char *prev,
                           bool after_prev)
{
    size_t n = strlen(w);
    int d = 0;
    for (const char *p = text; *p; p++) {
        const char *past = past_unread(p);
        if (past) {
            p = past;
        } else if (*p == '(') {
            d++;
        } else if (*p == ')') {
            d--;
        } else if ((depth < 0 || d == depth) && !strncasecmp(p, w, n) &&
                   (p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) &&
                   !(isalnum((unsigned char)p[n]) || p[n] == '_')) {
            if (!prev)
                return true;
            size_t pn;
            const char *pw = word_before(text, p, &pn);
            bool is_prev = pn == strlen(prev) && !strncasecmp(pw, prev, pn);
            if (is_prev == after_prev)
                return true;
        }
    }
    return false;
}

/* The text after a CREATE TABLE's column list (its table options:
 * STRICT, WITHOUT ROWID), or "" when there is none. */
static const char *after_columns(const char *sql)
{
    int d = 0;
    bool opened = false;
    for (const char *p = sql; *p; p++) {
        const char *past = past_unread(p);
        if (past) {
            p = past;
        } else if (*p == '(') {
            d++;
            opened = true;
        } else if (*p == ')' && --d == 0 && opened) {
            return p + 1;
        }
    }
    return "";
}

/* Append a copy of each of the strings to k's arrays; false when out of
 * memory. */
static bool kept_push(kept_objects *k, const char *type, const char *name, const char *sql,
                      bool replace)
{
    char **t = realloc(k->type, (size_t)(k->n + 1) * sizeof *t);
    if (t)
        k->type = t;
    char **nm = realloc(k->name, (size_t)(k->n + 1) * sizeof *nm);
    if (nm)
        k->name = nm;
    char **sq = realloc(k->sql, (size_t)(k->n + 1) * sizeof *sq);
    if (sq)
        k->sql = sq;
    bool *r = realloc(k->replace, (size_t)(k->n + 1) * sizeof *r);
    if (r)
        k->replace = r;
    if (!t || !nm || !sq || !r)
        return false;
    k->type[k->n] = strata__strdup(type);
    k->name[k->n] = strata__strdup(name);
    k->sql[k->n] = strata__strdup(sql);
    k->replace[k->n] = replace;
    k->n++;
    return k->type[k->n - 1] && k->name[k->n - 1] && k->sql[k->n - 1];
}

/* The names of table's columns, into *out (n of them). */
static int column_names(strata_db *db, const char *table, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    strata_stmt *st = NULL;
    int rc = strata_stmt_prepare(&st, db, "SELECT name FROM pragma_table_info(?)");
    if (rc == STRATA_OK)
        rc = strata_stmt_bind_text(st, 1, table, -1);
    while (rc == STRATA_OK && (rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *name = NULL;
        if ((rc = strata_stmt_column_text(st, 0, &name, NULL)) != STRATA_OK)
            break;
        char **more = realloc(*out, (size_t)(*n + 1) * sizeof *more);
        if (!more || !(more[*n] = strata__strdup(name))) {
            if (more)
                *out = more;
            rc = STRATA_E_NOMEM;
            break;
        }
        *out = more;
        (*n)++;
    }
    strata_stmt_finalize(st);
    return rc == STRATA_DONE ? STRATA_OK : rc;
}

static int sq_rebuild_keep(strata_db *db, const char *table, void **out)
{
    *out = NULL;
    kept_objects *k = calloc(1, sizeof *k);
    strata_stmt *st = NULL;
    int rc = k && (k->table = strata__strdup(table)) ? column_names(db, table, &k->cols, &k->ncols)
                                                     : STRATA_E_NOMEM;
    if (rc == STRATA_OK)
        rc = strata_stmt_prepare(&st, db,
                                 "SELECT type, name, sql, type = 'index' AND EXISTS (SELECT 1 "
                                 "FROM pragma_index_xinfo(m.name) WHERE cid = -2) FROM "
                                 "sqlite_master AS m WHERE tbl_name = ? AND sql IS NOT NULL AND "
                                 "type IN ('table', 'trigger', 'index') ORDER BY rowid");
    if (rc == STRATA_OK)
        rc = strata_stmt_bind_text(st, 1, table, -1);
    while (rc == STRATA_OK && (rc = strata_stmt_step(st)) == STRATA_ROW) {
        const char *type = NULL, *name = NULL, *sql = NULL;
        int64_t expr = 0;
        rc = strata_stmt_column_text(st, 0, &type, NULL);
        if (rc == STRATA_OK)
            rc = strata_stmt_column_text(st, 1, &name, NULL);
        if (rc == STRATA_OK)
            rc = strata_stmt_column_text(st, 2, &sql, NULL);
        if (rc == STRATA_OK)
            rc = strata_stmt_column_int64(st, 3, &expr);
        if (rc != STRATA_OK)
            break;
        if (!strcmp(type, "table")) {
            /* What a column or the table itself says that the schema has
             * no word for (a CHECK's own COLLATE, further in, is kept with
             * its text). */
            const char *opts = after_columns(sql);
            const char *lost =
                has_word(sql, "autoincrement", 1) ? "AUTOINCREMENT (keys never used again)"
                : has_word(sql, "collate", 1)     ? "a COLLATE clause"
                : has_word_where(sql, "deferrable", 1, "not", false) ? "a DEFERRABLE foreign key"
                : has_word_where(sql, "conflict", 1, "on", true)     ? "an ON CONFLICT clause"
                : has_word(opts, "strict", 0)                        ? "STRICT (its types enforced)"
                : has_word(opts, "without", 0)                       ? "WITHOUT ROWID"
                                                                     : NULL;
            if (lost)
                rc = strata__db_error(db, STRATA_E_UNSUPPORTED,
                                      "table %s has %s, which strata's schema does not describe: "
                                      "a rebuild would drop it; make this change with an sql "
                                      "operation instead",
                                      table, lost);
            continue;
        }
        bool keep = !strcmp(type, "trigger") || expr;
        bool replace = !keep && (has_word(sql, "collate", -1) || has_word(sql, "desc", -1));
        if ((keep || replace) && !kept_push(k, type, name, sql, replace))
            rc = STRATA_E_NOMEM;
    }
    strata_stmt_finalize(st);
    if (rc == STRATA_DONE)
        rc = STRATA_OK;
    /* Views and other tables' triggers that name the table would make
     * the rename that ends the rebuild fail while the table is away: the
     * rename leaves them as they are, and the table is back after it. */
    if (rc == STRATA_OK)
        rc = strata_db_exec(db, "PRAGMA legacy_alter_table = ON");
    if (rc != STRATA_OK) {
        kept_free(k);
        return rc == STRATA_E_NOMEM && !strata_is_error(strata_db_errcode(db))
                   ? strata__db_error(db, rc, "out of memory")
                   : rc;
    }
    *out = k;
    return STRATA_OK;
}

/* Whether an object named `name` of `type` is in sqlite_master. */
static int object_there(strata_db *db, const char *type, const char *name, bool *there)
{
    strata_stmt *st = NULL;
    int64_t n = 0;
    int rc = strata_stmt_prepare(&st, db,
                                 "SELECT count(*) FROM sqlite_master WHERE type = ? AND name = ?");
    if (rc == STRATA_OK && (rc = strata_stmt_bind_text(st, 1, type, -1)) == STRATA_OK &&
        (rc = strata_stmt_bind_text(st, 2, name, -1)) == STRATA_OK &&
        (rc = strata_stmt_step(st)) == STRATA_ROW)
        rc = strata_stmt_column_int64(st, 0, &n);
    strata_stmt_finalize(st);
    *there = n > 0;
    return rc;
}

static int sq_rebuild_restore(strata_db *db, void *kept, bool remake)
{
    kept_objects *k = kept;
    /* Run even in a transaction a failure aborted: a pragma, no data. */
    int rc = strata__drv_exec(db, "PRAGMA legacy_alter_table = OFF");
    char **now = NULL;
    int nnow = 0;
    if (remake && rc == STRATA_OK)
        rc = column_names(db, k->table, &now, &nnow);
    /* A trigger that uses a column the change dropped would be made again
     * broken (SQLite checks a trigger's body only when it fires). */
    for (int c = 0; remake && rc == STRATA_OK && c < k->ncols; c++) {
        bool gone = true;
        for (int j = 0; gone && j < nnow; j++)
            gone = strcasecmp(k->cols[c], now[j]) != 0;
        for (int i = 0; gone && rc == STRATA_OK && i < k->n; i++)
            if (!strcmp(k->type[i], "trigger") && has_word(k->sql[i], k->cols[c], -1))
                rc = strata__db_error(db, STRATA_E_UNSUPPORTED,
                                      "trigger %s of table %s uses column %s, which the change "
                                      "drops: drop or change the trigger first (an sql operation)",
                                      k->name[i], k->table, k->cols[c]);
    }
    for (int i = 0; remake && rc == STRATA_OK && i < k->n; i++) {
        bool there = false;
        if ((rc = object_there(db, k->type[i], k->name[i], &there)) != STRATA_OK)
            break;
        if (k->replace[i] && there) { /* the rebuild's plain one goes */
            strata__sb drop;
            strata__sb_init(&drop);
            strata__sb_puts(&drop, "DROP INDEX ");
            strata__sb_ident(&drop, strata_db_driver(db), k->name[i]);
            char *sql = strata__sb_take(&drop);
            rc = sql ? strata_db_exec(db, sql) : STRATA_E_NOMEM;
            free(sql);
        }
        if (rc == STRATA_OK && (k->replace[i] ? there : !there) &&
            (rc = strata_db_exec(db, k->sql[i])) != STRATA_OK)
            strata__db_error_context(db, "making %s %s again after the rebuild", k->type[i],
                                     k->name[i]);
    }
    for (int j = 0; j < nnow; j++)
        free(now[j]);
    free(now);
    kept_free(k);
    return rc == STRATA_E_NOMEM && !strata_is_error(strata_db_errcode(db))
               ? strata__db_error(db, rc, "out of memory")
               : rc;
}

/* The first dangling reference st gives (from PRAGMA foreign_key_check
 * or its table-valued form: the child table, its rowid, the parent),
 * as the handle's error. */
static int first_dangling(strata_db *db, strata_stmt *st)
{
    int rc = strata_stmt_step(st);
    if (rc == STRATA_ROW) {
        const char *child = NULL, *parent = NULL;
        int64_t rowid = 0;
        strata_stmt_column_text(st, 0, &child, NULL);
        strata_stmt_column_text(st, 2, &parent, NULL);
        char row[40] = "a row"; /* a table WITHOUT ROWID has no number to give */
        if (strata_stmt_column_int64(st, 1, &rowid) == STRATA_OK)
            snprintf(row, sizeof row, "row %lld", (long long)rowid);
        rc = strata__db_error(db, STRATA_E_FOREIGN_KEY,
                              "foreign key check: %s of table %s refers to a row of %s that does "
                              "not exist",
                              row, child ? child : "?", parent ? parent : "?");
    } else if (rc == STRATA_DONE) {
        rc = STRATA_OK;
    }
    return rc;
}

/* PRAGMA foreign_key_check: report the first dangling reference. */
static int sq_fk_verify(strata_db *db, const char *table)
{
    strata__sb sql;
    strata__sb_init(&sql);
    strata__sb_puts(&sql, "PRAGMA foreign_key_check");
    if (table) {
        strata__sb_putc(&sql, '(');
        strata__sb_ident(&sql, strata_db_driver(db), table);
        strata__sb_putc(&sql, ')');
    }
    char *text = strata__sb_take(&sql);
    strata_stmt *st = NULL;
    int rc = text ? strata_stmt_prepare(&st, db, text) : STRATA_E_NOMEM;
    free(text);
    if (rc == STRATA_OK)
        rc = first_dangling(db, st);
    strata_stmt_finalize(st);
    return rc;
}

/* The first dangling reference of a row of one of `tables`, or to one of
 * them.  SQLite names tables without regard to case. */
static int sq_fk_verify_touching(strata_db *db, char *const *tables, int n)
{
    if (n == 0)
        return STRATA_OK;
    strata__sb sql;
    strata__sb_init(&sql);
    strata__sb_puts(&sql, "SELECT \"table\", rowid, parent FROM pragma_foreign_key_check WHERE "
                          "\"table\" COLLATE NOCASE IN (");
    for (int i = 0; i < n; i++)
        strata__sb_puts(&sql, i ? ", ?" : "?");
    strata__sb_puts(&sql, ") OR parent COLLATE NOCASE IN (");
    for (int i = 0; i < n; i++)
        strata__sb_puts(&sql, i ? ", ?" : "?");
    strata__sb_puts(&sql, ") LIMIT 1");
    char *text = strata__sb_take(&sql);
    strata_stmt *st = NULL;
    int rc = text ? strata_stmt_prepare(&st, db, text) : STRATA_E_NOMEM;
    free(text);
    for (int i = 0; i < 2 * n && rc == STRATA_OK; i++)
        rc = strata_stmt_bind_text(st, i + 1, tables[i % n], -1);
    if (rc == STRATA_OK)
        rc = first_dangling(db, st);
    strata_stmt_finalize(st);
    return rc;
}

/* A database file is the same file under any of its paths (links, "./",
 * a URL's options): it is named by its device and inode.  An in-memory
 * or temporary database has no file and cannot be named. */
static int sq_database_identity(strata_db *db, char **out)
{
    char *file;
    int rc = strata__first_text(db, "SELECT file FROM pragma_database_list WHERE name = 'main'",
                                &file);
    *out = NULL;
    if (rc != STRATA_OK || !file)
        return rc;
    struct stat sb;
    if (file[0] && stat(file, &sb) == 0) {
        char id[64];
        snprintf(id, sizeof id, "file %llu:%llu", (unsigned long long)sb.st_dev,
                 (unsigned long long)sb.st_ino);
        if (!(*out = strdup(id)))
            rc = STRATA_E_NOMEM;
    }
    free(file);
    return rc;
}

/* SQLite keeps whatever a CREATE TABLE declared: the names strata writes
 * (FLOAT, DATETIME, BLOB, JSON TEXT, UUID; JSON in tables made before
 * JSON TEXT) and those hand-written tables use from other engines. */
static const strata__type_name sq_types[] = {
    {"int2", STRATA_SQL_SMALLINT},
    {"int4", STRATA_SQL_INTEGER},
    {"int8", STRATA_SQL_BIGINT},
    {"bool", STRATA_SQL_BOOLEAN},
    {"double", STRATA_SQL_FLOAT},
    {"float4", STRATA_SQL_FLOAT},
    {"float8", STRATA_SQL_FLOAT},
    {"clob", STRATA_SQL_TEXT},
    {"blob", STRATA_SQL_BLOB},
    {"bytea", STRATA_SQL_BLOB},
    {"datetime", STRATA_SQL_DATETIME},
    {"timestamptz", STRATA_SQL_DATETIME_TZ},
    {"json", STRATA_SQL_JSON},
    {"jsonb", STRATA_SQL_JSON},
    {"uuid", STRATA_SQL_UUID},
    {"json text", STRATA_SQL_JSON},
    {NULL, 0},
};

/* SQLite's own spellings of "now", squeezed (schema.c). */
static const char *const sq_now[] = {"datetime'now'", "strftime'%y-%m-%d%h:%m:%f','now'",
                                     "strftime'%y-%m-%d%h:%m:%f000','now'", NULL};

const strata__dialect strata__sqlite_dialect = {
    .name = "sqlite",
    .render_type = sq_render_type,
    .render_default = sq_render_default,
    .autoincrement_sql = "",
    .binary_collation = NULL, /* BINARY, bytewise, is every column's default */
    .introspect = sq_introspect,
    .type_names = sq_types,
    .now_forms = sq_now,
    .same_type = sq_same_type,
    .database_identity = sq_database_identity,
    /* The write lock at BEGIN: a deferred transaction that read first
     * could not take it later without failing at once. */
    .migration_begin = "BEGIN IMMEDIATE",
    .migration_lock = NULL,
    .table_here = "SELECT EXISTS (SELECT 1 FROM main.sqlite_master WHERE name = ? COLLATE NOCASE)",
    .fk_enabled_sql = "PRAGMA foreign_keys",
    .fk_pause_sql = "PRAGMA foreign_keys=OFF",
    .fk_resume_sql = "PRAGMA foreign_keys=ON",
    .fk_verify = sq_fk_verify,
    .fk_verify_touching = sq_fk_verify_touching,
    .rebuild_keep = sq_rebuild_keep,
    .rebuild_restore = sq_rebuild_restore,
    .loose_columns = true,
    .ilike = NULL, /* LIKE is case-insensitive for ASCII only: lower() on both sides */
    .like_escape = " ESCAPE '\\'",
    .nulls_first = true,
    .limit_all = " LIMIT -1",
    .last_insert_id = "SELECT last_insert_rowid()",
    .upsert = strata__upsert_on_conflict,
};
