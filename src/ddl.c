/*
 * ddl.c - turning operations into SQL for a dialect and running them:
 * strata_diff_render(), strata_diff_apply(), create_all / drop_all and
 * render_create.
 *
 * Rendering walks the operations with a working copy of the diff's `from`
 * schema.  Where the dialect cannot ALTER a change (SQLite: column changes,
 * constraints), the run of consecutive operations on that table becomes one
 * rebuild: CREATE TABLE _strata_new_<t> with the table as it ends up, copy
 * the rows of the columns both versions have, DROP the old table, RENAME
 * the new one, recreate the indexes.  The rebuild runs with foreign-key
 * enforcement paused (DROP TABLE would otherwise cascade into child rows)
 * and is followed by the dialect's fk_verify before the commit.
 *
 * Layout: SQL pieces, the plan (rendered steps), render,
 * apply, create_all / drop_all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "schema_internal.h"

/* ---- SQL pieces -------------------------------------------------------- */

typedef struct renderer {
    const strata_driver *drv;
    const strata__dialect *dl;
} renderer;

static void put_names(strata__sb *sb, const renderer *r, const strata__names *n)
{
    strata__sb_putc(sb, '(');
    for (int i = 0; i < n->n; i++) {
        if (i)
            strata__sb_puts(sb, ", ");
        strata__sb_ident(sb, r->drv, n->v[i]);
    }
    strata__sb_putc(sb, ')');
}

/* The dialect's clause for a bytewise string or text column, after its
 * type; nothing for a COLL_LOCALE one (the database's collation). */
static void collation_sql(strata__sb *sb, const renderer *r, const strata_column *c)
{
    if (c->collation == COLL_BINARY && strata__type_is_collatable(&c->type) &&
        r->dl->binary_collation)
        strata__sb_printf(sb, " %s", r->dl->binary_collation);
}

static void column_def(strata__sb *sb, const renderer *r, const strata_table *t,
                       const strata_column *c)
{
    strata__sb_ident(sb, r->drv, c->name);
    strata__sb_putc(sb, ' ');
    r->dl->render_type(sb, t, c);
    collation_sql(sb, r, c);
    if (!c->nullable)
        strata__sb_puts(sb, " NOT NULL");
    if (c->def != DEF_NONE && !c->autoincrement) {
        strata__sb_puts(sb, " DEFAULT ");
        r->dl->render_default(sb, c);
    }
    if (c->autoincrement)
        strata__sb_puts(sb, r->dl->autoincrement_sql);
}

static void cons_def(strata__sb *sb, const renderer *r, const strata__cons *c)
{
    strata__sb_puts(sb, "CONSTRAINT ");
    strata__sb_ident(sb, r->drv, c->name);
    switch (c->kind) {
    case CONS_PK: strata__sb_puts(sb, " PRIMARY KEY "); break;
    case CONS_UNIQUE: strata__sb_puts(sb, " UNIQUE "); break;
    case CONS_FK: strata__sb_puts(sb, " FOREIGN KEY "); break;
    case CONS_CHECK: strata__sb_printf(sb, " CHECK (%s)", c->sql); return;
    }
    put_names(sb, r, &c->cols);
    if (c->kind != CONS_FK)
        return;
    strata__sb_puts(sb, " REFERENCES ");
    strata__sb_ident(sb, r->drv, c->ref_table);
    strata__sb_putc(sb, ' ');
    put_names(sb, r, &c->ref_cols);
    if (c->on_delete != STRATA_FK_NO_ACTION)
        strata__sb_printf(sb, " ON DELETE %s", strata__fk_action_sql(c->on_delete));
    if (c->on_update != STRATA_FK_NO_ACTION)
        strata__sb_printf(sb, " ON UPDATE %s", strata__fk_action_sql(c->on_update));
}

static void create_index_sql(strata__sb *sb, const renderer *r, const char *table,
                             const strata__index *ix)
{
    strata__sb_printf(sb, "CREATE %sINDEX ", ix->unique ? "UNIQUE " : "");
    strata__sb_ident(sb, r->drv, ix->name);
    strata__sb_puts(sb, " ON ");
    strata__sb_ident(sb, r->drv, table);
    strata__sb_putc(sb, ' ');
    put_names(sb, r, &ix->cols);
    if (ix->where)
        strata__sb_printf(sb, " WHERE %s", ix->where);
    strata__sb_puts(sb, ";\n");
}

static int cmp_index_name(const void *a, const void *b)
{
    return strcmp((*(strata__index *const *)a)->name, (*(strata__index *const *)b)->name);
}

static int cmp_cons_name(const void *a, const void *b)
{
    return strcmp((*(strata__cons *const *)a)->name, (*(strata__cons *const *)b)->name);
}

/* CREATE TABLE (named `as`) with its constraints: unique, foreign keys and
 * checks in name order after the primary key. */
static void create_table_sql(strata__sb *sb, const renderer *r, const strata_table *t,
                             const char *as)
{
    strata__sb_puts(sb, "CREATE TABLE ");
    strata__sb_ident(sb, r->drv, as);
    strata__sb_puts(sb, " (");
    const char *sep = "\n    ";
    for (int i = 0; i < t->ncols; i++) {
        strata__sb_puts(sb, sep);
        column_def(sb, r, t, t->cols[i]);
        sep = ",\n    ";
    }
    if (t->pk) {
        strata__sb_puts(sb, sep);
        cons_def(sb, r, t->pk);
    }
    strata__cons **cons = t->ncons ? malloc((size_t)t->ncons * sizeof *cons) : NULL;
    if (t->ncons && !cons) {
        sb->failed = true;
        return;
    }
    if (t->ncons) {
        memcpy(cons, t->cons, (size_t)t->ncons * sizeof *cons);
        qsort(cons, (size_t)t->ncons, sizeof *cons, cmp_cons_name);
    }
    for (int k = 0; k < 3; k++) { /* unique, foreign keys, checks */
        strata__cons_kind want = k == 0 ? CONS_UNIQUE : k == 1 ? CONS_FK : CONS_CHECK;
        for (int i = 0; i < t->ncons; i++) {
            if (cons[i]->kind != want)
                continue;
            strata__sb_puts(sb, sep);
            cons_def(sb, r, cons[i]);
        }
    }
    free(cons);
    strata__sb_puts(sb, "\n);\n");
}

static void create_indexes_sql(strata__sb *sb, const renderer *r, const strata_table *t)
{
    strata__index **idx = t->nidx ? malloc((size_t)t->nidx * sizeof *idx) : NULL;
    if (t->nidx && !idx) {
        sb->failed = true;
        return;
    }
    if (t->nidx) {
        memcpy(idx, t->idx, (size_t)t->nidx * sizeof *idx);
        qsort(idx, (size_t)t->nidx, sizeof *idx, cmp_index_name);
    }
    for (int i = 0; i < t->nidx; i++)
        create_index_sql(sb, r, t->name, idx[i]);
    free(idx);
}

static void alter_table(strata__sb *sb, const renderer *r, const char *table)
{
    strata__sb_puts(sb, "ALTER TABLE ");
    strata__sb_ident(sb, r->drv, table);
    strata__sb_putc(sb, ' ');
}

/* The USING expression of a TYPE change: the old value converted to the
 * new type, so that PostgreSQL's assignment to the column checks it.  A
 * string or numeric is cast without its length (an explicit cast to
 * VARCHAR(3) cuts 'abcdefgh' to 'abc' without a word; the assignment
 * refuses it, as an INSERT would).  A timestamp taken to or from one
 * with a time zone is read as UTC, strata's meaning of a naive one,
 * whatever the session's TimeZone. */
static void using_sql(strata__sb *sb, const renderer *r, const strata_table *t,
                      const strata_column *old, const strata_column *c)
{
    strata_sqltype from = old->type.kind, to = c->type.kind;
    bool naive = from == STRATA_SQL_DATETIME || from == STRATA_SQL_DATE;
    if (to == STRATA_SQL_DATETIME_TZ && naive) {
        strata__sb_ident(sb, r->drv, c->name);
        strata__sb_puts(sb, from == STRATA_SQL_DATE ? "::TIMESTAMP AT TIME ZONE 'UTC'"
                                                    : " AT TIME ZONE 'UTC'");
        return;
    }
    if (from == STRATA_SQL_DATETIME_TZ && (to == STRATA_SQL_DATETIME || to == STRATA_SQL_DATE)) {
        strata__sb_putc(sb, '(');
        strata__sb_ident(sb, r->drv, c->name);
        strata__sb_puts(sb, " AT TIME ZONE 'UTC')::");
        r->dl->render_type(sb, t, c);
        return;
    }
    strata__sb_ident(sb, r->drv, c->name);
    strata__sb_puts(sb, "::");
    if (to == STRATA_SQL_STRING)
        strata__sb_puts(sb, "VARCHAR");
    else if (to == STRATA_SQL_NUMERIC)
        strata__sb_puts(sb, "NUMERIC");
    else
        r->dl->render_type(sb, t, c);
}

/* ALTER COLUMN, for dialects that have it (PostgreSQL's spelling). */
static void alter_column_sql(strata__sb *sb, const renderer *r, const strata_table *t,
                             const strata_column *old, const strata_column *c)
{
    const char *name = c->name;
#define ALTER_PREFIX()                        \
    do {                                      \
        alter_table(sb, r, t->name);          \
        strata__sb_puts(sb, "ALTER COLUMN "); \
        strata__sb_ident(sb, r->drv, name);   \
        strata__sb_putc(sb, ' ');             \
    } while (0)
    if (old->autoincrement && !c->autoincrement) {
        ALTER_PREFIX();
        strata__sb_puts(sb, "DROP IDENTITY;\n");
    }
    bool def_changed =
        old->def != c->def || (c->def != DEF_NONE && strcmp(old->def_text, c->def_text) != 0);
    if (def_changed && old->def != DEF_NONE) {
        ALTER_PREFIX();
        strata__sb_puts(sb, "DROP DEFAULT;\n");
    }
    /* A new collation is a TYPE change too; a TYPE without the clause
     * would give the column the database's collation. */
    if (!strata__type_equal(&old->type, &c->type) || old->collation != c->collation) {
        ALTER_PREFIX();
        strata__sb_puts(sb, "TYPE ");
        r->dl->render_type(sb, t, c);
        collation_sql(sb, r, c);
        strata__sb_puts(sb, " USING ");
        using_sql(sb, r, t, old, c);
        strata__sb_puts(sb, ";\n");
    }
    if (old->nullable != c->nullable) {
        ALTER_PREFIX();
        strata__sb_puts(sb, c->nullable ? "DROP NOT NULL;\n" : "SET NOT NULL;\n");
    }
    if (def_changed && c->def != DEF_NONE) {
        ALTER_PREFIX();
        strata__sb_puts(sb, "SET DEFAULT ");
        r->dl->render_default(sb, c);
        strata__sb_puts(sb, ";\n");
    }
    if (!old->autoincrement && c->autoincrement) {
        ALTER_PREFIX();
        strata__sb_puts(sb, "ADD GENERATED BY DEFAULT AS IDENTITY;\n");
    }
#undef ALTER_PREFIX
}

/* ---- the plan: rendered steps ------------------------------------------ */

typedef struct step {
    int first, last; /* the operations it carries out */
    char *sql;
    char *rebuilt;   /* table rebuilt by this step, or NULL */
    bool referenced; /* a table rebuilt here is referenced by another */
} step;

typedef struct plan {
    step *v;
    int n;
    bool rebuild; /* some step rebuilds a table */
    bool drop;    /* some step drops a table */
    char why[320]; /* a change refused before any SQL (no_cast) */
} plan;

static void plan_free(plan *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->v[i].sql);
        free(p->v[i].rebuilt);
    }
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

static int plan_push(plan *p, int first, int last, strata__sb *sb, const char *rebuilt,
                     bool referenced)
{
    char *sql = strata__sb_take(sb);
    char *name = rebuilt ? strata__strdup(rebuilt) : NULL;
    step *n = sql && (!rebuilt || name) ? realloc(p->v, (size_t)(p->n + 1) * sizeof *n) : NULL;
    if (!n) {
        free(sql);
        free(name);
        return STRATA_E_NOMEM;
    }
    p->v = n;
    p->v[p->n++] = (step){first, last, sql, name, referenced};
    return STRATA_OK;
}

static bool in_constraints(const strata_table *t, const char *col)
{
    if (t->pk && strata__names_has(&t->pk->cols, col))
        return true;
    /* A partial index whose condition names it: SQLite's DROP COLUMN
     * refuses it, and the rebuild leaves the index out (PostgreSQL drops
     * it with the column). */
    for (int i = 0; i < t->nidx; i++)
        if (strata__text_names_column(t->idx[i]->where, col) ||
            strata__names_has(&t->idx[i]->cols, col))
            return true;
    for (int i = 0; i < t->ncons; i++)
        if (t->cons[i]->kind == CONS_CHECK || strata__names_has(&t->cons[i]->cols, col))
            return true;
    return false;
}

/* Whether `op` needs a table rebuild on a dialect without ALTER for it. */
static bool needs_rebuild(const renderer *r, const strata_metadata *state, const strata__op *op)
{
    if (r->drv->capabilities & STRATA_CAP_ALTER_COLUMN)
        return false;
    switch (op->kind) {
    case STRATA_OP_ADD_COLUMN:
        return (!op->col->nullable && op->col->def == DEF_NONE) || op->col->def == DEF_NOW ||
               op->col->def == DEF_SQL;
    case STRATA_OP_DROP_COLUMN: {
        const strata_table *t = strata_metadata_find_table(state, op->table);
        return !t || in_constraints(t, op->col->name);
    }
    case STRATA_OP_ALTER_COLUMN:
    case STRATA_OP_ADD_UNIQUE:
    case STRATA_OP_DROP_UNIQUE:
    case STRATA_OP_ADD_FOREIGN_KEY:
    case STRATA_OP_DROP_FOREIGN_KEY:
    case STRATA_OP_ADD_CHECK:
    case STRATA_OP_DROP_CHECK: return true;
    default: return false;
    }
}

/* Whether a foreign key, of another table or of the table itself (a tree
 * of rows), references `table`: dropping it for a rebuild with foreign
 * keys on would run the references' actions on the rows.  Names compared
 * without regard to ASCII case, as SQLite (the engine that rebuilds)
 * matches them: `REFERENCES parent` is a reference to table Parent. */
static bool referenced(const strata_metadata *state, const char *table)
{
    for (int i = 0; i < state->ntables; i++) {
        const strata_table *t = state->tables[i];
        for (int c = 0; c < t->ncons; c++)
            if (t->cons[c]->kind == CONS_FK && strcasecmp(t->cons[c]->ref_table, table) == 0)
                return true;
    }
    return false;
}

/* What a TYPE change makes of column i's values on PostgreSQL, which
 * SQLite's rebuild (it enforces no type and no length) does too: */
typedef enum rebuild_check {
    CHECK_NONE,
    CHECK_LENGTH,  /* a text made a string(n) its values may exceed */
    CHECK_INTEGER, /* an integer from a float, numeric, text or wider integer */
    CHECK_BOOLEAN, /* a boolean from an integer or a text */
    CHECK_NUMERIC, /* a numeric(p, s) from a number or a text */
    CHECK_FLOAT,   /* a float from a text */
    CHECK_UUID,    /* a uuid from a text */
    CHECK_JSON     /* a json from a text */
} rebuild_check;

static bool integer_kind(strata_sqltype k)
{
    return k == STRATA_SQL_INTEGER || k == STRATA_SQL_BIGINT || k == STRATA_SQL_SMALLINT;
}

static bool text_kind(strata_sqltype k)
{
    return k == STRATA_SQL_STRING || k == STRATA_SQL_TEXT || k == STRATA_SQL_RAW;
}

static int width_of(strata_sqltype k)
{
    return k == STRATA_SQL_SMALLINT ? 2 : k == STRATA_SQL_INTEGER ? 4 : 8;
}

/* Other changes copy the values as they are (documented): a number or
 * boolean made a string keeps SQLite's spelling of it. */
static rebuild_check check_of(const strata_table *before, const strata_table *after, int i,
                              const strata__type **was)
{
    const strata__type *t = &after->cols[i]->type;
    int b = strata__table_find_column_index(before, after->cols[i]->name);
    if (b < 0)
        return CHECK_NONE;
    *was = &before->cols[b]->type;
    strata_sqltype from = (*was)->kind;
    if (t->kind == STRATA_SQL_STRING && t->length > 0 && text_kind(from) &&
        !(from == STRATA_SQL_STRING && (*was)->length > 0 && (*was)->length <= t->length))
        return CHECK_LENGTH;
    if (integer_kind(t->kind) &&
        (from == STRATA_SQL_FLOAT || from == STRATA_SQL_NUMERIC || text_kind(from) ||
         (integer_kind(from) && width_of(from) > width_of(t->kind))))
        return CHECK_INTEGER;
    if (t->kind == STRATA_SQL_NUMERIC && from == STRATA_SQL_NUMERIC) {
        /* Narrower: fewer decimals, or fewer digits before the point. */
        const strata__type *w = *was;
        bool narrower = t->length > 0 && (w->length == 0 || t->scale < w->scale ||
                                          t->length - t->scale < w->length - w->scale);
        return narrower ? CHECK_NUMERIC : CHECK_NONE;
    }
    if (t->kind == from)
        return CHECK_NONE;
    if (t->kind == STRATA_SQL_BOOLEAN && (integer_kind(from) || text_kind(from)))
        return CHECK_BOOLEAN;
    if (t->kind == STRATA_SQL_NUMERIC &&
        (integer_kind(from) || from == STRATA_SQL_FLOAT || text_kind(from)))
        return CHECK_NUMERIC;
    if (!text_kind(from))
        return CHECK_NONE;
    return t->kind == STRATA_SQL_FLOAT  ? CHECK_FLOAT
           : t->kind == STRATA_SQL_UUID ? CHECK_UUID
           : t->kind == STRATA_SQL_JSON ? CHECK_JSON
                                        : CHECK_NONE;
}

/* The refusals a rebuild's guard raises, as PostgreSQL reports the same
 * change: the start of the message, the code and the SQLSTATE. */
static const struct {
    const char *prefix;
    int code;
    const char *state;
} guard_refusals[] = {
    {"value too long for string(", STRATA_E_TOO_LONG, "22001"},
    {"invalid input for an integer", STRATA_E_DATA, "22P02"},
    {"integer out of range", STRATA_E_RANGE, "22003"},
    {"invalid input for a boolean", STRATA_E_DATA, "22P02"},
    {"invalid input for a numeric", STRATA_E_DATA, "22P02"},
    {"numeric field overflow", STRATA_E_RANGE, "22003"},
    {"invalid input for a float", STRATA_E_DATA, "22P02"},
    {"value out of range for type double precision", STRATA_E_RANGE, "22003"},
    {"invalid input for a uuid", STRATA_E_DATA, "22P02"},
    {"invalid input for a json", STRATA_E_DATA, "22P02"},
};

/* One guard of a rebuild's copy: a temporary trigger on the new table
 * that stops the INSERT with `msg` at a row that meets `when`.  Dropped
 * once the rows are in. */
static void guard_sql(strata__sb *sb, const renderer *r, const char *tmpname, int n,
                      const char *when, const char *msg)
{
    char name[64];
    snprintf(name, sizeof name, "_strata_fits_%d", n);
    strata__sb_puts(sb, "CREATE TEMP TRIGGER ");
    strata__sb_ident(sb, r->drv, name);
    strata__sb_puts(sb, " BEFORE INSERT ON main.");
    strata__sb_ident(sb, r->drv, tmpname);
    strata__sb_cat(sb, " WHEN ", when, " BEGIN SELECT RAISE(ABORT, ", NULL);
    strata__sb_literal(sb, msg);
    strata__sb_puts(sb, "); END;\n");
}

/* The guards of column i (`drop`: the statements that remove them);
 * *n numbers the triggers.  The values arrive converted (rebuild_value):
 * a text left a text is not what the new type reads, a float left a
 * float for an integer is beyond 64 bits. */
static void guards_sql(strata__sb *sb, const renderer *r, const strata_table *before,
                       const strata_table *after, const char *tmpname, int i, bool drop, int *n)
{
    const strata__type *was = NULL;
    rebuild_check k = check_of(before, after, i, &was);
    const strata_column *c = after->cols[i];
    strata__sb nc, msg[2], when[2];
    strata__sb_init(&nc);
    for (int g = 0; g < 2; g++) {
        strata__sb_init(&msg[g]);
        strata__sb_init(&when[g]);
    }
    strata__sb_puts(&nc, "NEW.");
    strata__sb_ident(&nc, r->drv, c->name);
    const char *v = nc.data ? nc.data : "NULL";
    const char *refuses = "(PostgreSQL refuses the change too)";
    int count = 0;
    switch (k) {
    case CHECK_NONE: break;
    case CHECK_LENGTH:
        strata__sb_printf(&msg[count],
                          "value too long for string(%d): column %s of table %s holds a longer "
                          "one (PostgreSQL refuses the change too; shorten the values first)",
                          c->type.length, c->name, after->name);
        strata__sb_printf(&when[count++], "length(%s) > %d", v, c->type.length);
        break;
    case CHECK_INTEGER:
        strata__sb_printf(&msg[count],
                          "invalid input for an integer: column %s of table %s holds a value "
                          "that is not a whole number %s",
                          c->name, after->name, refuses);
        strata__sb_printf(&when[count++], "typeof(%s) IN ('text', 'blob')", v);
        strata__sb_printf(&msg[count],
                          "integer out of range: column %s of table %s holds a value its new "
                          "type cannot %s",
                          c->name, after->name, refuses);
        strata__sb_printf(&when[count], "typeof(%s) = 'real'", v);
        if (c->type.kind != STRATA_SQL_BIGINT)
            strata__sb_printf(&when[count], " OR %s NOT BETWEEN %s", v,
                              c->type.kind == STRATA_SQL_SMALLINT ? "-32768 AND 32767"
                                                                  : "-2147483648 AND 2147483647");
        count++;
        break;
    case CHECK_BOOLEAN:
        strata__sb_printf(&msg[count],
                          "invalid input for a boolean: column %s of table %s holds a value "
                          "that is no boolean %s",
                          c->name, after->name, refuses);
        strata__sb_printf(&when[count++], "typeof(%s) <> 'integer' OR %s NOT IN (0, 1)", v, v);
        break;
    case CHECK_NUMERIC:
        strata__sb_printf(&msg[count],
                          "invalid input for a numeric: column %s of table %s holds a value "
                          "that is no number %s",
                          c->name, after->name, refuses);
        strata__sb_printf(&when[count++], "typeof(%s) IN ('text', 'blob')", v);
        if (c->type.length > 0) {
            strata__sb_printf(&msg[count],
                              "numeric field overflow: column %s of table %s holds a value "
                              "too large for numeric(%d, %d) %s",
                              c->name, after->name, c->type.length, c->type.scale, refuses);
            strata__sb_printf(&when[count++], "abs(round(%s, %d)) >= 1e%d", v, c->type.scale,
                              c->type.length - c->type.scale);
        }
        break;
    case CHECK_FLOAT:
        strata__sb_printf(&msg[count],
                          "invalid input for a float: column %s of table %s holds a value that "
                          "is no number SQLite can store %s",
                          c->name, after->name, refuses);
        strata__sb_printf(&when[count++], "typeof(%s) IN ('text', 'blob')", v);
        /* A text past a double's range ('1e400') reads as an infinity on
         * SQLite; PostgreSQL refuses it. */
        strata__sb_printf(&msg[count],
                          "value out of range for type double precision: column %s of table "
                          "%s holds a value past a float's range %s",
                          c->name, after->name, refuses);
        /* An infinity (9e999 is one in SQLite, however its reader
         * rounds: under valgrind the largest double's text reads as one). */
        strata__sb_printf(&when[count++], "typeof(%s) = 'real' AND abs(%s) >= 9e999", v, v);
        break;
    case CHECK_UUID:
        strata__sb_printf(&msg[count],
                          "invalid input for a uuid: column %s of table %s holds a value that "
                          "is no UUID of 8-4-4-4-12 or 32 hex digits, in braces or not (%s)",
                          c->name, after->name,
                          "PostgreSQL also reads hyphens after any group of four digits: write "
                          "such values so first, with an sql operation");
        strata__sb_printf(&when[count++], "typeof(%s) <> 'text' OR %s NOT GLOB '", v, v);
        for (int d = 0; d < 36; d++)
            strata__sb_puts(&when[count - 1],
                            d == 8 || d == 13 || d == 18 || d == 23 ? "-" : "[0-9a-f]");
        strata__sb_putc(&when[count - 1], '\'');
        break;
    case CHECK_JSON:
        strata__sb_printf(&msg[count],
                          "invalid input for a json: column %s of table %s holds a value that "
                          "is no JSON %s",
                          c->name, after->name, refuses);
        strata__sb_printf(&when[count++], "typeof(%s) <> 'text' OR NOT json_valid(%s)", v, v);
        break;
    }
    for (int g = 0; g < count; g++) {
        if (drop) {
            char name[64];
            snprintf(name, sizeof name, "_strata_fits_%d", (*n)++);
            strata__sb_puts(sb, "DROP TRIGGER temp.");
            strata__sb_ident(sb, r->drv, name);
            strata__sb_puts(sb, ";\n");
        } else {
            /* NULL passes every guard, as every cast takes it. */
            strata__sb w;
            strata__sb_init(&w);
            strata__sb_printf(&w, "%s IS NOT NULL AND (%s)", v, when[g].data ? when[g].data : "1");
            guard_sql(sb, r, tmpname, (*n)++, w.data ? w.data : "1",
                      msg[g].data ? msg[g].data : "invalid input");
            if (w.failed)
                sb->failed = true;
            strata__sb_free(&w);
        }
    }
    if (nc.failed)
        sb->failed = true;
    strata__sb_free(&nc);
    for (int g = 0; g < 2; g++) {
        if (msg[g].failed || when[g].failed)
            sb->failed = true;
        strata__sb_free(&msg[g]);
        strata__sb_free(&when[g]);
    }
}

/* Column i's value in the rebuild's SELECT, converted as PostgreSQL's
 * cast converts it (`c` is the quoted name):
 *  - to string(n): a longer value whose extra characters are all spaces
 *    is cut, as PostgreSQL cuts it (a longer one is the guard's);
 *  - to an integer from a float (rounded half to even) or a numeric
 *    (half away from zero), from the exact remainder (SQLite's round()
 *    adds 0.5, and 0.49999999999999994 + 0.5 is 1); one outside 64 bits
 *    stays a float, for the guard;
 *  - to an integer from a text: one that is not a whole number (after
 *    white space, a sign and digits only, as PostgreSQL reads it) is
 *    made a text no affinity converts ('x' before it), for the guard;
 *  - to a boolean from an integer: not zero is true; from a text:
 *    PostgreSQL's words (true, yes, on, 1 and their opposites, any
 *    unique prefix, any case); anything else is left for the guard;
 *  - to a uuid from a text: in lower case, as PostgreSQL prints it;
 *  - to a numeric(p, s) from a float or a wider numeric: rounded to s
 *    decimals.
 * A numeric or a float from a text comes through the new column's
 * affinity (numeric text becomes a number), and any through its guards
 * (what stayed a text, a numeric too large for its precision once
 * rounded to its scale). */
static void rebuild_value(strata__sb *sb, const renderer *r, const strata_table *before,
                          const strata_table *after, int i)
{
    const strata__type *was = NULL;
    const strata_column *col = after->cols[i];
    rebuild_check k = check_of(before, after, i, &was);
    strata__sb q;
    strata__sb_init(&q);
    strata__sb_ident(&q, r->drv, col->name);
    const char *c = q.data ? q.data : "NULL";
    if (k == CHECK_LENGTH) {
        char n[16], n1[16];
        snprintf(n, sizeof n, "%d", col->type.length);
        snprintf(n1, sizeof n1, "%d", col->type.length + 1);
        strata__sb_cat(sb, "CASE WHEN length(", c, ") > ", n, " AND rtrim(substr(", c, ", ", n1,
                       "), ' ') = '' THEN substr(", c, ", 1, ", n, ") ELSE ", c, " END", NULL);
    } else if (k == CHECK_INTEGER && (was->kind == STRATA_SQL_FLOAT || was->kind == STRATA_SQL_NUMERIC)) {
        strata__sb t, rem;
        strata__sb_init(&t);
        strata__sb_init(&rem);
        strata__sb_cat(&t, "CAST(", c, " AS INTEGER)", NULL);
        strata__sb_cat(&rem, "abs(", c, " - ", t.data ? t.data : "0", ")", NULL);
        const char *tt = t.data ? t.data : "0", *rr = rem.data ? rem.data : "0";
        strata__sb_cat(sb, "CASE WHEN typeof(", c, ") = 'real' AND ", c,
                       " >= -9223372036854775808.0 AND ", c, " < 9223372036854775808.0 THEN ", tt,
                       " + CASE WHEN ", rr, NULL);
        if (was->kind == STRATA_SQL_FLOAT)
            strata__sb_cat(sb, " > 0.5 OR (", rr, " = 0.5 AND abs(", tt, ") % 2 = 1)", NULL);
        else
            strata__sb_puts(sb, " >= 0.5");
        strata__sb_cat(sb, " THEN (CASE WHEN ", c, " > 0 THEN 1 ELSE -1 END) ELSE 0 END ELSE ", c,
                       " END", NULL);
        if (t.failed || rem.failed)
            sb->failed = true;
        strata__sb_free(&t);
        strata__sb_free(&rem);
    } else if (k == CHECK_INTEGER && text_kind(was->kind)) {
        strata__sb u, b;
        strata__sb_init(&u);
        strata__sb_init(&b);
        strata__sb_cat(&u, "trim(", c, ", ' ' || char(9, 10, 11, 12, 13))", NULL);
        const char *uu = u.data ? u.data : "''";
        strata__sb_cat(&b, "CASE WHEN substr(", uu, ", 1, 1) IN ('+', '-') THEN substr(", uu,
                       ", 2) ELSE ", uu, " END", NULL);
        const char *bb = b.data ? b.data : "''";
        strata__sb_cat(sb, "CASE WHEN typeof(", c, ") = 'text' AND ((", bb, ") = '' OR (", bb,
                       ") GLOB '*[^0-9]*') THEN 'x' || ", c, " ELSE ", c, " END", NULL);
        if (u.failed || b.failed)
            sb->failed = true;
        strata__sb_free(&u);
        strata__sb_free(&b);
    } else if (k == CHECK_BOOLEAN && integer_kind(was->kind)) {
        strata__sb_cat(sb, "CASE WHEN typeof(", c, ") = 'integer' THEN ", c, " <> 0 ELSE ", c,
                       " END", NULL);
    } else if (k == CHECK_BOOLEAN) {
        /* PostgreSQL's words for a boolean, and their unique prefixes. */
        static const char *const yes[] = {"t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"};
        static const char *const no[] = {"f", "fa", "fal", "fals", "false",
                                         "n", "no", "of",  "off",  "0"};
        strata__sb_cat(sb, "CASE WHEN typeof(", c, ") = 'text' THEN CASE lower(trim(", c,
                       ", ' ' || char(9, 10, 11, 12, 13)))", NULL);
        for (size_t w = 0; w < sizeof yes / sizeof *yes; w++)
            strata__sb_printf(sb, " WHEN '%s' THEN 1", yes[w]);
        for (size_t w = 0; w < sizeof no / sizeof *no; w++)
            strata__sb_printf(sb, " WHEN '%s' THEN 0", no[w]);
        strata__sb_cat(sb, " ELSE ", c, " END ELSE ", c, " END", NULL);
    } else if (k == CHECK_NUMERIC && col->type.length > 0) {
        /* Rounded to the new scale, as PostgreSQL rounds (an integer has
         * no decimals to lose: left exact). */
        char sc[16];
        snprintf(sc, sizeof sc, "%d", col->type.scale);
        strata__sb_cat(sb, "CASE WHEN typeof(", c, ") = 'real' THEN round(", c, ", ", sc, ") ELSE ",
                       c, " END", NULL);
    } else if (k == CHECK_UUID) {
        /* PostgreSQL's forms: 8-4-4-4-12 or 32 hex digits, in braces or
         * not, in any case; written as it prints them.  Others are left
         * as they are, for the guard. */
        strata__sb in, hex;
        strata__sb_init(&in);
        strata__sb_init(&hex);
        strata__sb_cat(&in, "(CASE WHEN ", c, " GLOB '{*}' THEN substr(", c, ", 2, length(", c,
                       ") - 2) ELSE ", c, " END)", NULL);
        const char *s = in.data ? in.data : "NULL";
        strata__sb_cat(&hex, "lower(replace(", s, ", '-', ''))", NULL);
        const char *h = hex.data ? hex.data : "NULL";
        strata__sb_cat(sb, "CASE WHEN typeof(", c, ") <> 'text' THEN ", c, " WHEN (length(", s,
                       ") = 32 AND instr(", s, ", '-') = 0) OR (length(", s, ") = 36 AND substr(",
                       s, ", 9, 1) || substr(", s, ", 14, 1) || substr(", s, ", 19, 1) || substr(",
                       s, ", 24, 1) = '----') THEN substr(", h, ", 1, 8) || '-' || substr(", h,
                       ", 9, 4) || '-' || substr(", h, ", 13, 4) || '-' || substr(", h,
                       ", 17, 4) || '-' || substr(", h, ", 21, 12) ELSE lower(", c, ") END", NULL);
        if (in.failed || hex.failed)
            sb->failed = true;
        strata__sb_free(&in);
        strata__sb_free(&hex);
    } else {
        strata__sb_puts(sb, c);
    }
    if (q.failed)
        sb->failed = true;
    strata__sb_free(&q);
}

static void rebuild_sql(strata__sb *sb, const renderer *r, const strata_table *before,
                        const strata_table *after)
{
    strata__sb tmp;
    strata__sb_init(&tmp);
    strata__sb_printf(&tmp, "_strata_new_%s", after->name);
    const char *tmpname = tmp.data ? tmp.data : "_strata_new";
    create_table_sql(sb, r, after, tmpname);
    int guards = 0;
    for (int i = 0; i < after->ncols; i++)
        guards_sql(sb, r, before, after, tmpname, i, false, &guards);
    strata__sb_puts(sb, "INSERT INTO ");
    strata__sb_ident(sb, r->drv, tmpname);
    strata__sb tail;
    strata__sb_init(&tail);
    const char *sep = "";
    strata__sb_puts(sb, " (");
    for (int i = 0; i < after->ncols; i++) {
        const char *name = after->cols[i]->name;
        if (strata__table_find_column_index(before, name) < 0)
            continue;
        strata__sb_puts(sb, sep);
        strata__sb_puts(&tail, sep);
        strata__sb_ident(sb, r->drv, name);
        rebuild_value(&tail, r, before, after, i);
        sep = ", ";
    }
    strata__sb_printf(sb, ") SELECT %s FROM ", tail.data ? tail.data : "");
    strata__sb_ident(sb, r->drv, before->name);
    strata__sb_puts(sb, ";\n");
    /* A text made a numeric(p, s) became a number in the new column (its
     * affinity), and is rounded there to the scale, as PostgreSQL rounds
     * it (the copy's SELECT rounds only what was a number already). */
    for (int i = 0; i < after->ncols; i++) {
        const strata__type *was = NULL;
        const strata_column *c = after->cols[i];
        if (check_of(before, after, i, &was) != CHECK_NUMERIC || c->type.length <= 0 || !was ||
            !text_kind(was->kind))
            continue;
        strata__sb_puts(sb, "UPDATE ");
        strata__sb_ident(sb, r->drv, tmpname);
        strata__sb_puts(sb, " SET ");
        strata__sb_ident(sb, r->drv, c->name);
        strata__sb_printf(sb, " = round(");
        strata__sb_ident(sb, r->drv, c->name);
        strata__sb_printf(sb, ", %d) WHERE typeof(", c->type.scale);
        strata__sb_ident(sb, r->drv, c->name);
        strata__sb_puts(sb, ") = 'real';\n");
    }
    guards = 0;
    for (int i = 0; i < after->ncols; i++)
        guards_sql(sb, r, before, after, tmpname, i, true, &guards);
    strata__sb_puts(sb, "DROP TABLE ");
    strata__sb_ident(sb, r->drv, before->name);
    strata__sb_puts(sb, ";\nALTER TABLE ");
    strata__sb_ident(sb, r->drv, tmpname);
    strata__sb_puts(sb, " RENAME TO ");
    strata__sb_ident(sb, r->drv, after->name);
    strata__sb_puts(sb, ";\n");
    create_indexes_sql(sb, r, after);
    if (tail.failed || tmp.failed)
        sb->failed = true;
    strata__sb_free(&tail);
    strata__sb_free(&tmp);
}

/* SQL for one operation the dialect can do in place. */
static void op_sql(strata__sb *sb, const renderer *r, const strata_metadata *state,
                   const strata__op *op)
{
    const strata_table *t = op->table ? strata_metadata_find_table(state, op->table) : NULL;
    switch (op->kind) {
    case STRATA_OP_RENAME_TABLE:
        alter_table(sb, r, op->table);
        strata__sb_puts(sb, "RENAME TO ");
        strata__sb_ident(sb, r->drv, op->new_name);
        strata__sb_puts(sb, ";\n");
        return;
    case STRATA_OP_SQL: {
        const char *text = strata__op_sql_for(op, r->dl->name);
        if (text) {
            size_t n = strlen(text);
            while (n && (text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == ';'))
                n--;
            /* A last line that may end in a -- comment: the semicolon goes
             * on a line of its own, or the comment would take it in. */
            const char *line = text + n;
            while (line > text && line[-1] != '\n')
                line--;
            bool comment = false;
            for (const char *q = line; q + 1 < text + n && !comment; q++)
                comment = q[0] == '-' && q[1] == '-';
            strata__sb_printf(sb, "%.*s%s;\n", (int)n, text, comment ? "\n" : "");
        }
        return;
    }
    case STRATA_OP_CREATE_TABLE:
        create_table_sql(sb, r, op->tdef, op->tdef->name);
        create_indexes_sql(sb, r, op->tdef);
        return;
    case STRATA_OP_DROP_TABLE:
        strata__sb_puts(sb, "DROP TABLE ");
        strata__sb_ident(sb, r->drv, op->table);
        strata__sb_puts(sb, ";\n");
        return;
    case STRATA_OP_ADD_COLUMN:
        alter_table(sb, r, op->table);
        strata__sb_puts(sb, "ADD COLUMN ");
        column_def(sb, r, t, op->col);
        strata__sb_puts(sb, ";\n");
        return;
    case STRATA_OP_DROP_COLUMN:
        alter_table(sb, r, op->table);
        strata__sb_puts(sb, "DROP COLUMN ");
        strata__sb_ident(sb, r->drv, op->col->name);
        strata__sb_puts(sb, ";\n");
        return;
    case STRATA_OP_ALTER_COLUMN: alter_column_sql(sb, r, t, op->old_col, op->col); return;
    case STRATA_OP_CREATE_INDEX: create_index_sql(sb, r, op->table, op->index); return;
    case STRATA_OP_DROP_INDEX:
        strata__sb_puts(sb, "DROP INDEX ");
        strata__sb_ident(sb, r->drv, op->index->name);
        strata__sb_puts(sb, ";\n");
        return;
    case STRATA_OP_ADD_UNIQUE:
    case STRATA_OP_ADD_FOREIGN_KEY:
    case STRATA_OP_ADD_CHECK:
        alter_table(sb, r, op->table);
        strata__sb_puts(sb, "ADD ");
        cons_def(sb, r, op->cons);
        strata__sb_puts(sb, ";\n");
        return;
    case STRATA_OP_DROP_UNIQUE:
    case STRATA_OP_DROP_FOREIGN_KEY:
    case STRATA_OP_DROP_CHECK:
        alter_table(sb, r, op->table);
        strata__sb_puts(sb, "DROP CONSTRAINT ");
        strata__sb_ident(sb, r->drv, op->cons->name);
        strata__sb_puts(sb, ";\n");
        return;
    }
}

static bool dropped_later(const strata_diff *d, int from, const char *table)
{
    for (int k = from; k < d->nops; k++)
        if (d->ops[k].kind == STRATA_OP_DROP_TABLE && strcmp(d->ops[k].table, table) == 0)
            return true;
    return false;
}

/* Whether `table` was made by an operation of this diff before op number
 * `before`, with no statement of a migration file's own between (which
 * could have put rows in it) and no rename of it: then it has no rows,
 * and rebuilding it runs no reference's action, foreign keys on or off
 * (two new tables that reference each other, on SQLite). */
static bool created_empty(const strata_diff *d, int before, const char *table)
{
    for (int k = before - 1; k >= 0; k--) {
        const strata__op *op = &d->ops[k];
        if (op->kind == STRATA_OP_SQL)
            return false;
        if (!op->table)
            continue;
        if (op->kind == STRATA_OP_RENAME_TABLE &&
            (strcmp(op->table, table) == 0 || (op->new_name && strcmp(op->new_name, table) == 0)))
            return false;
        if (strcmp(op->table, table) == 0 && op->kind == STRATA_OP_DROP_TABLE)
            return false;
        if (strcmp(op->table, table) == 0 && op->kind == STRATA_OP_CREATE_TABLE)
            return true;
    }
    return false;
}

/* The rename part of ALTER COLUMN op (number i) as a step of its own,
 * applied to the state; *rest gets what is left of the change (its kind
 * 0 when nothing is). */
static int rename_step(plan *p, const renderer *r, strata_metadata *state, const strata__op *op,
                       int i, strata__op *rest)
{
    strata__sb sb;
    strata__sb_init(&sb);
    alter_table(&sb, r, op->table);
    strata__sb_puts(&sb, "RENAME COLUMN ");
    strata__sb_ident(&sb, r->drv, op->old_col->name);
    strata__sb_puts(&sb, " TO ");
    strata__sb_ident(&sb, r->drv, op->col->name);
    strata__sb_puts(&sb, ";\n");
    /* The state gets the renamed column with its old definition. */
    strata__op ren = {0};
    int rc = strata__op_copy(&ren, op);
    char *name = rc == STRATA_OK ? strata__strdup(op->col->name) : NULL;
    if (rc == STRATA_OK && !name)
        rc = STRATA_E_NOMEM;
    if (rc == STRATA_OK) {
        strata_column *c = ren.col;
        ren.col = strata__column_copy(op->old_col);
        strata__column_free(c);
        if (!ren.col)
            rc = STRATA_E_NOMEM;
    }
    if (rc == STRATA_OK) {
        free(ren.col->name);
        ren.col->name = name;
        name = NULL;
        rc = strata__op_apply_md(state, &ren);
    }
    free(name);
    if (rc == STRATA_OK)
        rc = plan_push(p, i, i, &sb, NULL, false);
    strata__sb_free(&sb);
    if (rc == STRATA_OK && !strata__column_same_definition(op->old_col, op->col)) {
        /* What is left: old (renamed) -> new. */
        strata_column *c = ren.old_col;
        ren.old_col = ren.col;
        ren.col = strata__column_copy(op->col);
        strata__column_free(c);
        if (!ren.col) {
            strata__op_clear(&ren);
            return STRATA_E_NOMEM;
        }
        *rest = ren;
        return STRATA_OK;
    }
    strata__op_clear(&ren);
    return rc;
}

static bool numeric_kind(strata_sqltype k)
{
    return integer_kind(k) || k == STRATA_SQL_FLOAT || k == STRATA_SQL_NUMERIC;
}

/* Whether PostgreSQL can change a column's type from `from` to `to` (its
 * TYPE ... USING col::to): between numbers, between a boolean and an
 * integer, between dates and timestamps, and to or from a text.  What it
 * cannot, SQLite's rebuild would copy as it is: both refuse it. */
static bool castable(strata_sqltype from, strata_sqltype to)
{
    bool texts = from == STRATA_SQL_STRING || from == STRATA_SQL_TEXT || to == STRATA_SQL_STRING ||
                 to == STRATA_SQL_TEXT;
    bool times = (from == STRATA_SQL_DATE || from == STRATA_SQL_DATETIME ||
                  from == STRATA_SQL_DATETIME_TZ) &&
                 (to == STRATA_SQL_DATE || to == STRATA_SQL_DATETIME || to == STRATA_SQL_DATETIME_TZ);
    return from == to || texts || times || from == STRATA_SQL_RAW || to == STRATA_SQL_RAW ||
           (numeric_kind(from) && numeric_kind(to)) ||
           (from == STRATA_SQL_BOOLEAN && to == STRATA_SQL_INTEGER) ||
           (from == STRATA_SQL_INTEGER && to == STRATA_SQL_BOOLEAN);
}

/* An ALTER of a column's type that no engine may run: said in p->why. */
static bool no_cast(plan *p, const strata__op *op)
{
    if (op->kind != STRATA_OP_ALTER_COLUMN ||
        castable(op->old_col->type.kind, op->col->type.kind))
        return false;
    strata__sb from, to;
    strata__sb_init(&from);
    strata__sb_init(&to);
    strata__type_sql(&from, &op->old_col->type);
    strata__type_sql(&to, &op->col->type);
    snprintf(p->why, sizeof p->why,
             "cannot change column %s.%s from %s to %s: PostgreSQL has no cast between them, "
             "and SQLite would keep the values as they are (add a column of the new type, fill "
             "it with an sql operation, then drop the old one)",
             op->table, op->old_col->name, from.data ? from.data : "its type",
             to.data ? to.data : "the new one");
    strata__sb_free(&from);
    strata__sb_free(&to);
    return true;
}

/* The column an operation adds, drops or alters, or NULL. */
static const char *op_column(const strata__op *op)
{
    bool col = op->kind == STRATA_OP_ADD_COLUMN || op->kind == STRATA_OP_DROP_COLUMN ||
               op->kind == STRATA_OP_ALTER_COLUMN;
    return col && op->col ? op->col->name : NULL;
}

/* Whether op may join a rebuild whose operations touched the columns in
 * seen[0..n): not when it touches one of them again.  One rebuild
 * compares the table before its first operation with the table after its
 * last, so a column dropped and added again, or altered twice, must be
 * rebuilt step by step (its values through each form, as PostgreSQL
 * changes them); the column goes in seen otherwise. */
static bool joins_rebuild(const strata__op *op, const char **seen, int *n, int max)
{
    const char *c = op_column(op);
    if (!c)
        return true;
    for (int k = 0; k < *n; k++)
        if (strcmp(seen[k], c) == 0)
            return false;
    if (*n == max)
        return false;
    seen[(*n)++] = c;
    return true;
}

static int plan_build(plan *p, const strata_diff *d, const renderer *r)
{
    memset(p, 0, sizeof *p);
    strata_metadata *state;
    int rc = strata_metadata_copy(&state, d->from);
    strata__op rest = {0};
    for (int i = 0; rc == STRATA_OK && i < d->nops; i++) {
        const strata__op *op = &d->ops[i];
        if (no_cast(p, op)) {
            rc = STRATA_E_UNSUPPORTED;
            break;
        }
        strata__sb sb;
        strata__sb_init(&sb);
        strata__op_clear(&rest);
        if (op->kind == STRATA_OP_ALTER_COLUMN && strcmp(op->old_col->name, op->col->name) != 0) {
            /* A rename is its own statement on both engines (SQLite has
             * RENAME COLUMN); the rest of the change follows. */
            rc = rename_step(p, r, state, op, i, &rest);
            if (rc != STRATA_OK || !rest.kind)
                continue;
            op = &rest;
        }
        if (!needs_rebuild(r, state, op)) {
            op_sql(&sb, r, state, op);
            /* A drop that deletes rows of other tables through their
             * foreign keys' actions (SQLite's implicit DELETE) needs the
             * pause; one of a table nothing refers to does not.  Nothing
             * at the start either: a key dropped before in the revision
             * may still be in the database (a table dropped later is not
             * rebuilt without it). */
            p->drop = p->drop || (op->kind == STRATA_OP_DROP_TABLE &&
                                  (referenced(state, op->table) || referenced(d->from, op->table)));
            rc = strata__op_apply_md(state, op);
            if (rc == STRATA_OK)
                rc = plan_push(p, i, i, &sb, NULL, false);
            strata__sb_free(&sb);
            continue;
        }
        /* One rebuild for the run of operations on this table. */
        const strata_table *cur = strata_metadata_find_table(state, op->table);
        strata_table *before = cur ? strata__table_copy(cur) : NULL;
        if (!before) {
            rc = cur ? STRATA_E_NOMEM
                     : strata__md_error(state, STRATA_E_SCHEMA, "table %s does not exist",
                                        op->table);
            break;
        }
        bool is_referenced = referenced(state, op->table);
        int last = i, nseen = 0;
        const char *seen[64];
        joins_rebuild(op, seen, &nseen, 64);
        rc = strata__op_apply_md(state, op);
        while (rc == STRATA_OK && last + 1 < d->nops && d->ops[last + 1].table &&
               strcmp(d->ops[last + 1].table, op->table) == 0 &&
               d->ops[last + 1].kind != STRATA_OP_CREATE_TABLE &&
               d->ops[last + 1].kind != STRATA_OP_DROP_TABLE &&
               d->ops[last + 1].kind != STRATA_OP_RENAME_TABLE &&
               !(d->ops[last + 1].kind == STRATA_OP_ALTER_COLUMN &&
                 strcmp(d->ops[last + 1].old_col->name, d->ops[last + 1].col->name) != 0) &&
               joins_rebuild(&d->ops[last + 1], seen, &nseen, 64))
            rc = strata__op_apply_md(state, &d->ops[++last]);
        if (rc == STRATA_OK && !dropped_later(d, last + 1, op->table)) {
            rebuild_sql(&sb, r, before, strata_metadata_find_table(state, op->table));
            /* The new table may reference itself where the old did not. */
            is_referenced = is_referenced || referenced(state, op->table);
            is_referenced = is_referenced && !created_empty(d, i, op->table);
            rc = plan_push(p, i, last, &sb, op->table, is_referenced);
            p->rebuild = true;
        }
        strata__sb_free(&sb);
        strata__table_free(before);
        i = last;
    }
    strata__op_clear(&rest);
    if (rc == STRATA_E_SCHEMA || rc == STRATA_E_EXISTS) {
        /* The operations do not fit the schema they start from. */
        rc = STRATA_E_SCHEMA;
    }
    strata_metadata_free(state);
    if (rc != STRATA_OK)
        plan_free(p);
    return rc;
}

int strata_diff_render(const strata_diff *d, const strata_driver *dialect, char **out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    renderer r = {dialect, strata__dialect_of(dialect)};
    if (!d)
        return STRATA_E_MISUSE;
    if (!r.dl)
        return STRATA_E_UNSUPPORTED;
    plan p;
    int rc = plan_build(&p, d, &r);
    if (rc != STRATA_OK && p.why[0]) /* where the offline runner reads it */
        return strata__md_error(d->from, rc, "%s", p.why);
    if (rc != STRATA_OK)
        return rc;
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_puts(&sb, "");
    for (int i = 0; i < p.n; i++)
        strata__sb_puts(&sb, p.v[i].sql);
    plan_free(&p);
    *out = strata__sb_take(&sb);
    return *out ? STRATA_OK : STRATA_E_NOMEM;
}

/* ---- apply ------------------------------------------------------------- */

static int query_int(strata_db *db, const char *sql, int64_t *out)
{
    strata_stmt *st;
    int rc = strata_stmt_prepare(&st, db, sql);
    if (rc != STRATA_OK)
        return rc;
    rc = strata_stmt_step(st);
    if (rc == STRATA_ROW)
        rc = strata_stmt_column_int64(st, 0, out) == STRATA_OK ? STRATA_OK : STRATA_E_TYPE;
    else if (rc == STRATA_DONE)
        rc = STRATA_E_NOT_FOUND;
    strata_stmt_finalize(st);
    return rc;
}

/* The engine names the rebuild's new table (_strata_new_<t>) in its
 * message; the user knows it as <t>. */
static void name_the_table(strata_db *db, const char *table)
{
    strata__kept_error s;
    strata__error_keep(&s, db);
    strata__sb inner, out;
    strata__sb_init(&inner);
    strata__sb_init(&out);
    strata__sb_printf(&inner, "_strata_new_%s", table);
    const char *from = s.msg, *hit;
    while (from && inner.data && (hit = strstr(from, inner.data)) != NULL) {
        strata__sb_putn(&out, from, (size_t)(hit - from));
        strata__sb_puts(&out, table);
        from = hit + inner.len;
    }
    if (from && out.data && !out.failed) {
        strata__sb_puts(&out, from);
        free(s.msg);
        s.msg = strata__sb_take(&out);
    }
    strata__sb_free(&out);
    strata__sb_free(&inner);
    strata__error_put_back(&s, db, NULL);
}

int strata__diff_needs_fk_pause(const strata_diff *d, strata_db *db, bool *out)
{
    *out = false;
    renderer r = {strata_db_driver(db), strata__dialect_of(strata_db_driver(db))};
    if (!r.dl || !r.dl->fk_pause_sql)
        return STRATA_OK;
    plan p;
    int rc = plan_build(&p, d, &r);
    if (rc != STRATA_OK)
        return p.why[0] ? strata__db_error(db, rc, "%s", p.why)
                        : strata__db_error(db, rc, "the schema change does not fit the schema "
                                                   "it starts from");
    /* A table dropped with foreign keys on deletes the rows referring to
     * it first (SQLite's implicit DELETE, cascading); paused, the check
     * after the change refuses those rows as PostgreSQL refuses the drop. */
    for (int i = 0; i < p.n; i++)
        if (p.v[i].rebuilt && p.v[i].referenced)
            *out = true;
    if (p.drop)
        *out = true;
    plan_free(&p);
    return STRATA_OK;
}

/* The references after a change made with foreign keys paused, or one
 * that dropped an index.  A change of the schema alone can leave a row
 * dangling (or a parent key without its unique index) only in a table it
 * rebuilt, dropped, renamed or dropped an index of, or in one referring
 * to such a table: only those are checked, so that rows of other tables
 * that referred to missing rows before (written while foreign keys were
 * off) do not stop it.  A statement of the migration file's own may have
 * changed any table: then every reference is checked. */
static int verify_references(strata_db *db, const renderer *r, const strata_diff *d,
                             const plan *p)
{
    bool data = false;
    for (int i = 0; i < d->nops; i++)
        data = data || d->ops[i].kind == STRATA_OP_SQL;
    if (data || !r->dl->fk_verify_touching)
        return r->dl->fk_verify(db, NULL);
    char **touched = malloc(((size_t)p->n + 2 * (size_t)d->nops + 1) * sizeof *touched);
    if (!touched)
        return strata__db_error(db, STRATA_E_NOMEM, "out of memory");
    int n = 0;
    for (int i = 0; i < d->nops; i++) {
        const strata__op *op = &d->ops[i];
        if (op->kind == STRATA_OP_DROP_TABLE || op->kind == STRATA_OP_RENAME_TABLE ||
            op->kind == STRATA_OP_DROP_INDEX || op->kind == STRATA_OP_DROP_UNIQUE)
            touched[n++] = op->table;
        if (op->kind == STRATA_OP_RENAME_TABLE && op->new_name)
            touched[n++] = op->new_name;
    }
    for (int i = 0; i < p->n; i++)
        if (p->v[i].rebuilt)
            touched[n++] = p->v[i].rebuilt;
    int rc = r->dl->fk_verify_touching(db, touched, n);
    free(touched);
    return rc;
}

int strata_diff_apply(const strata_diff *d, strata_db *db)
{
    if (!d || !db)
        return STRATA_E_MISUSE;
    int rc = strata__db_usable(db);
    if (rc != STRATA_OK)
        return rc;
    renderer r = {strata_db_driver(db), strata__dialect_of(strata_db_driver(db))};
    if (!r.dl)
        return strata__db_error(db, STRATA_E_UNSUPPORTED,
                                "the schema layer has no dialect for backend %s",
                                strata_db_backend(db));
    plan p;
    if ((rc = plan_build(&p, d, &r)) != STRATA_OK)
        return p.why[0] ? strata__db_error(db, rc, "%s", p.why)
                        : strata__db_error(db, rc,
                                           "the schema change does not fit the schema it "
                                           "starts from");
    strata__db_clear_error(db);
    bool pauses = r.dl->fk_pause_sql != NULL;
    bool own_tx = !strata_db_in_transaction(db);
    bool fk_off = false;
    bool verify = false; /* references checked after the change */
    int64_t fk_on = 0;
    void *kept = NULL; /* what a rebuild under way makes again after it */
    if (pauses && (p.rebuild || p.drop) &&
        (rc = query_int(db, r.dl->fk_enabled_sql, &fk_on)) != STRATA_OK)
        goto out;
    if (fk_on && !own_tx) {
        for (int i = 0; i < p.n; i++) {
            if (p.v[i].rebuilt && p.v[i].referenced) {
                rc = strata__db_error(db, STRATA_E_MISUSE,
                                      "rebuilding table %s, which other tables reference, needs "
                                      "foreign keys off: run %s before BEGIN, or apply outside "
                                      "a transaction",
                                      p.v[i].rebuilt, r.dl->fk_pause_sql);
                goto out;
            }
        }
    }
    if (fk_on && own_tx) {
        if ((rc = strata_db_exec(db, r.dl->fk_pause_sql)) != STRATA_OK)
            goto out;
        fk_off = true;
    }
    if (own_tx && (rc = strata_db_begin(db)) != STRATA_OK)
        goto restore;
    /* An index dropped in place may be the unique one a foreign key's
     * parent key needs (a migration file names it, without saying it is
     * unique): SQLite drops it, and every later check and insert of the
     * child fails ("foreign key mismatch"), where PostgreSQL refuses the
     * drop.  The check after it refuses it too. */
    bool key_index = false;
    for (int i = 0; i < d->nops; i++)
        key_index = key_index || d->ops[i].kind == STRATA_OP_DROP_INDEX ||
                    d->ops[i].kind == STRATA_OP_DROP_UNIQUE;
    verify = pauses && (fk_off || ((p.rebuild || p.drop) && !fk_on) || key_index);
    for (int i = 0; i < p.n; i++) {
        if (p.v[i].rebuilt && r.dl->rebuild_keep &&
            (rc = r.dl->rebuild_keep(db, p.v[i].rebuilt, &kept)) != STRATA_OK) {
            strata__db_error_context(db, "rebuilding table %s", p.v[i].rebuilt);
            goto rollback;
        }
        rc = strata_db_exec(db, p.v[i].sql);
        if (kept && rc == STRATA_OK) {
            rc = r.dl->rebuild_restore(db, kept, true);
            kept = NULL;
        }
        if (rc == STRATA_OK)
            continue;
        /* A rebuild's guard: the code PostgreSQL gives the same refusal,
         * not the trigger's constraint. */
        for (size_t g = 0; p.v[i].rebuilt && rc == STRATA_E_CHECK &&
                           g < sizeof guard_refusals / sizeof guard_refusals[0];
             g++) {
            if (strncmp(strata_db_errmsg(db), guard_refusals[g].prefix,
                        strlen(guard_refusals[g].prefix)) != 0)
                continue;
            char *msg = strata__strdup(strata_db_errmsg(db));
            rc = msg ? strata__db_error_words(db, guard_refusals[g].code, guard_refusals[g].state,
                                              0, "%s", msg)
                     : STRATA_E_NOMEM;
            free(msg);
        }
        strata__sb what;
        strata__sb_init(&what);
        if (p.v[i].rebuilt)
            name_the_table(db, p.v[i].rebuilt);
        if (p.v[i].rebuilt)
            strata__sb_printf(&what, "rebuilding table %s for ", p.v[i].rebuilt);
        /* An SQL operation by the text this engine ran, not its first variant. */
        if (d->ops[p.v[i].first].kind == STRATA_OP_SQL && p.v[i].last == p.v[i].first)
            strata__sql_describe(&what, p.v[i].sql);
        else
            strata__op_describe(&what, &d->ops[p.v[i].first]);
        if (p.v[i].last > p.v[i].first)
            strata__sb_printf(&what, " (and %d more)", p.v[i].last - p.v[i].first);
        /* Copied with foreign keys on, a row of the table that refers to
         * no row (written while they were off, or by the change) fails. */
        if (p.v[i].rebuilt && rc == STRATA_E_FOREIGN_KEY)
            strata__sb_printf(&what,
                              " (a row of %s refers to a row that does not exist: PRAGMA "
                              "foreign_key_check(%s) lists them)",
                              p.v[i].rebuilt, p.v[i].rebuilt);
        strata__db_error_context(db, "%s", what.data ? what.data : "schema change");
        strata__sb_free(&what);
        goto rollback;
    }
    if (verify && (rc = verify_references(db, &r, d, &p)) != STRATA_OK) {
        strata__db_error_context(db, "after the schema change");
        goto rollback;
    }
    if (own_tx && (rc = strata_db_commit(db)) != STRATA_OK)
        goto restore;
    goto restore;
rollback:
    if (own_tx) {
        strata__kept_error s;
        strata__error_keep(&s, db);
        strata_db_rollback(db);
        strata__error_put_back(&s, db, NULL);
    }
restore:
    if (kept) /* the rebuild failed: nothing to make again */
        r.dl->rebuild_restore(db, kept, false);
    if (fk_off) {
        strata__kept_error s;
        strata__error_keep(&s, db);
        bool back_on = strata_db_exec(db, r.dl->fk_resume_sql) == STRATA_OK;
        /* Should that fail, the caller must know the connection is left
         * with foreign keys off. */
        if (rc == STRATA_OK && !back_on) {
            rc = strata_db_errcode(db) ? strata_db_errcode(db) : STRATA_E_ERROR;
            strata__db_error_context(db, "foreign keys could not be switched back on for this "
                                         "connection");
        } else if (rc != STRATA_OK) {
            strata__error_put_back(&s, db, NULL);
            if (!back_on)
                strata__db_error(db, rc,
                                 "%s; and foreign keys could not be switched back on for this "
                                 "connection",
                                 strata_db_errmsg(db));
        }
        free(s.msg);
    }
out:
    /* Cached statements were planned against the old schema. */
    strata__cache_clear(db);
    plan_free(&p);
    return rc;
}

/* ---- create_all / drop_all --------------------------------------------- */

/* `md`'s tables that exist in `db` (as md declares them). */
static int existing_part(strata_metadata **out, const strata_metadata *md, strata_db *db)
{
    *out = NULL;
    strata_metadata *live;
    int rc = strata_schema_introspect(&live, db, NULL);
    if (rc != STRATA_OK)
        return rc;
    strata_metadata *part;
    if ((rc = strata_metadata_new(&part)) != STRATA_OK) {
        strata_metadata_free(live);
        return rc;
    }
    for (int i = 0; rc == STRATA_OK && i < md->ntables; i++) {
        if (!strata_metadata_find_table(live, md->tables[i]->name))
            continue;
        strata_table *t = strata__table_copy(md->tables[i]);
        if (!t || !strata__md_push_table(part, t)) {
            strata__table_free(t);
            rc = STRATA_E_NOMEM;
        }
    }
    strata_metadata_free(live);
    if (rc != STRATA_OK) {
        strata_metadata_free(part);
        return rc;
    }
    *out = part;
    return STRATA_OK;
}

static int run_diff(strata_db *db, const strata_metadata *from, const strata_metadata *to)
{
    strata_diff *d;
    int rc = strata_schema_diff(&d, from, to, NULL);
    if (rc != STRATA_OK)
        return strata__db_error(db, rc, "could not compute the schema change");
    rc = strata_diff_apply(d, db);
    strata_diff_free(d);
    return rc;
}

int strata_metadata_create_all(const strata_metadata *md, strata_db *db)
{
    if (!md || !db)
        return STRATA_E_MISUSE;
    strata_metadata *existing;
    int rc = existing_part(&existing, md, db);
    if (rc != STRATA_OK)
        return rc;
    rc = run_diff(db, existing, md);
    strata_metadata_free(existing);
    return rc;
}

int strata_metadata_drop_all(const strata_metadata *md, strata_db *db)
{
    if (!md || !db)
        return STRATA_E_MISUSE;
    strata_metadata *existing, *empty;
    int rc = existing_part(&existing, md, db);
    if (rc != STRATA_OK)
        return rc;
    if ((rc = strata_metadata_new(&empty)) == STRATA_OK) {
        rc = run_diff(db, existing, empty);
        strata_metadata_free(empty);
    }
    strata_metadata_free(existing);
    return rc;
}

int strata_metadata_render_create(const strata_metadata *md, const strata_driver *dialect,
                                  char **out)
{
    if (!out)
        return STRATA_E_MISUSE;
    *out = NULL;
    if (!md || !dialect)
        return STRATA_E_MISUSE;
    strata_metadata *empty;
    int rc = strata_metadata_new(&empty);
    if (rc != STRATA_OK)
        return rc;
    strata_diff *d;
    rc = strata_schema_diff(&d, empty, md, NULL);
    strata_metadata_free(empty);
    if (rc == STRATA_OK) {
        rc = strata_diff_render(d, dialect, out);
        strata_diff_free(d);
    }
    return rc;
}
