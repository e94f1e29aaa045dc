/*
 * script.c - revision files and the repository config, in YAML.
 *
 * Reading uses libyaml's document API, so every node keeps its line and
 * column for messages; every mapping is checked against the keys it may
 * have, so a misspelt key is an error, not a silently ignored line.
 * Tables and columns are built through the schema layer's builders, which
 * validate types and defaults with the same rules as everywhere else.
 * Writing is plain text: it is short, and it lets the file carry comments.
 *
 * Layout: errors and node helpers, columns and names, one parser per
 * operation, the revision, the config, resolving operations against a
 * schema, rendering.
 */
#include <stdarg.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "engine.h"
#include "migrate_internal.h"

/* Keys of an sql operation: "default" and the dialects. */
#define MAX_SQL_KEYS 9

typedef struct yctx {
    strata_migrations *m;
    yaml_document_t doc;
    const char *file;
} yctx;

static int yerr(yctx *y, const yaml_node_t *n, const char *fmt, ...) STRATA_PRINTF(3, 4);
static int yerr(yctx *y, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = strata__vformat(fmt, ap);
    va_end(ap);
    strata__mig_error(y->m, STRATA_E_MIGRATION, "%s:%lu:%lu: %s", y->file,
                      n ? (unsigned long)n->start_mark.line + 1 : 1UL,
                      n ? (unsigned long)n->start_mark.column + 1 : 1UL, msg ? msg : "error");
    free(msg);
    return STRATA_E_MIGRATION;
}

static yaml_node_t *ynode(yctx *y, yaml_node_item_t i)
{
    return yaml_document_get_node(&y->doc, i);
}

static const char *node_kind(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a scalar";
}

/* The text of a scalar; NULL (error set) when n is not one. */
static const char *yscalar(yctx *y, const yaml_node_t *n, const char *what)
{
    if (n->type != YAML_SCALAR_NODE) {
        yerr(y, n, "%s must be a scalar, not %s", what, node_kind(n));
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "null") || !strcmp(v, "~") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static int ybool(yctx *y, const yaml_node_t *n, const char *what, bool *out)
{
    const char *v = yscalar(y, n, what);
    if (!v)
        return STRATA_E_MIGRATION;
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "yes"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "no"))
        *out = false;
    else
        return yerr(y, n, "%s must be true or false, not '%s'", what, v);
    return STRATA_OK;
}

/* A portable collation name: binary or locale. */
static int ycollation(yctx *y, const yaml_node_t *n, strata__collation *out)
{
    const char *v = yscalar(y, n, "collation");
    if (!v)
        return STRATA_E_MIGRATION;
    if (!strata__collation_parse(v, out))
        return yerr(y, n, "collation must be binary or locale, not '%s'", v);
    return STRATA_OK;
}

/*
 * Check that n is a mapping whose keys are all among keys[] (each once),
 * and put each key's value node in vals[] (NULL when absent).  Keys marked
 * with a leading '!' are required.
 */
static int ymap(yctx *y, const yaml_node_t *n, const char *what, const char *const *keys,
                yaml_node_t **vals)
{
    int nkeys = 0;
    while (keys[nkeys])
        vals[nkeys++] = NULL;
    if (n->type != YAML_MAPPING_NODE)
        return yerr(y, n, "%s must be a mapping, not %s", what, node_kind(n));
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ynode(y, p->key);
        const char *name = yscalar(y, k, "a key");
        if (!name)
            return STRATA_E_MIGRATION;
        int i = 0;
        for (; i < nkeys; i++)
            if (!strcmp(keys[i] + (keys[i][0] == '!'), name))
                break;
        if (i == nkeys) {
            strata__sb sb;
            strata__sb_init(&sb);
            for (int j = 0; j < nkeys; j++)
                strata__sb_printf(&sb, "%s%s", j ? ", " : "", keys[j] + (keys[j][0] == '!'));
            yerr(y, k, "unknown key '%s' in %s (expected %s)", name, what, sb.data ? sb.data : "");
            strata__sb_free(&sb);
            return STRATA_E_MIGRATION;
        }
        if (vals[i])
            return yerr(y, k, "key '%s' appears twice in %s", name, what);
        vals[i] = ynode(y, p->value);
    }
    for (int i = 0; i < nkeys; i++)
        if (keys[i][0] == '!' && !vals[i])
            return yerr(y, n, "%s needs '%s'", what, keys[i] + 1);
    return STRATA_OK;
}

/* A list of names ("[a, b]", or one scalar) joined as "a, b" into *out. */
static int ynames(yctx *y, const yaml_node_t *n, const char *what, char **out)
{
    strata__sb sb;
    strata__sb_init(&sb);
    if (n->type == YAML_SCALAR_NODE) {
        strata__sb_puts(&sb, (const char *)n->data.scalar.value);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++) {
            const char *v = yscalar(y, ynode(y, *i), what);
            if (!v) {
                strata__sb_free(&sb);
                return STRATA_E_MIGRATION;
            }
            strata__sb_printf(&sb, "%s%s", i > n->data.sequence.items.start ? ", " : "", v);
        }
    } else {
        return yerr(y, n, "%s must be a list of names", what);
    }
    if (!sb.data || !*sb.data) {
        strata__sb_free(&sb);
        return yerr(y, n, "%s is empty", what);
    }
    *out = strata__sb_take(&sb);
    return *out ? STRATA_OK : STRATA_E_NOMEM;
}

static char *ydup(yctx *y, const yaml_node_t *n, const char *what)
{
    const char *v = yscalar(y, n, what);
    char *c = v ? strata__strdup(v) : NULL;
    if (v && !c)
        strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
    return c;
}

/* ---- columns and scratch metadata ------------------------------------- */

/* A metadata whose naming keeps given check names as they are: files
 * carry full names. */
static int scratch(yctx *y, strata_metadata **md)
{
    if (strata_metadata_new(md) != STRATA_OK)
        return strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
    strata_naming nm = {STRATA_NAMING_VERSION, .check = "{name}"};
    strata_metadata_set_naming(*md, &nm);
    return STRATA_OK;
}

static int builder_error(yctx *y, const yaml_node_t *n, strata_metadata *md, const char *what)
{
    return yerr(y, n, "%s: %s", what, strata_metadata_errmsg(md));
}

static const char *const column_keys[] = {"!name",          "!type",       "nullable",
                                          "server_default", "primary_key", "autoincrement",
                                          "collation",      NULL};

/* One column of a create_table or add_column into table t. */
static int parse_column(yctx *y, const yaml_node_t *n, strata_metadata *md, strata_table *t)
{
    yaml_node_t *v[7];
    int rc = ymap(y, n, "a column", column_keys, v);
    if (rc != STRATA_OK)
        return rc;
    const char *name = yscalar(y, v[0], "name"), *type = yscalar(y, v[1], "type");
    if (!name || !type)
        return STRATA_E_MIGRATION;
    bool nullable = true, pk = false, autoinc = false;
    strata__collation coll = COLL_BINARY;
    if ((v[2] && ybool(y, v[2], "nullable", &nullable)) ||
        (v[4] && ybool(y, v[4], "primary_key", &pk)) ||
        (v[5] && ybool(y, v[5], "autoincrement", &autoinc)) || (v[6] && ycollation(y, v[6], &coll)))
        return STRATA_E_MIGRATION;
    unsigned flags = (nullable && !pk ? STRATA_NULLABLE : 0) | (pk ? STRATA_PRIMARY_KEY : 0) |
                     (autoinc ? STRATA_AUTOINCREMENT : 0) |
                     (coll == COLL_LOCALE ? STRATA_COLLATE_LOCALE : 0);
    strata_column *c;
    if (strata_table_add_column(t, name, type, flags, &c) != STRATA_OK)
        return builder_error(y, n, md, "column");
    if (v[3] && !is_null(v[3])) {
        const char *def = yscalar(y, v[3], "server_default");
        if (!def)
            return STRATA_E_MIGRATION;
        if (strata_column_set_server_default(c, def) != STRATA_OK)
            return builder_error(y, v[3], md, "server_default");
    }
    return STRATA_OK;
}

static int parse_action(yctx *y, const yaml_node_t *n, strata_fk_action *out)
{
    static const char *const names[] = {"no action", "restrict", "cascade", "set null",
                                        "set default"};
    const char *v = yscalar(y, n, "a foreign key action");
    if (!v)
        return STRATA_E_MIGRATION;
    for (int i = 0; i < 5; i++)
        if (!strcasecmp(v, names[i])) {
            *out = (strata_fk_action)(STRATA_FK_NO_ACTION + i);
            return STRATA_OK;
        }
    return yerr(y, n,
                "unknown foreign key action '%s' (no action, restrict, cascade, set null, "
                "set default)",
                v);
}

static const char *const fk_keys[] = {"name",      "!columns",  "!references", "!ref_columns",
                                      "on_delete", "on_update", NULL};

static int parse_fk(yctx *y, const yaml_node_t *n, strata_metadata *md, strata_table *t)
{
    yaml_node_t *v[6];
    int rc = ymap(y, n, "a foreign key", fk_keys, v);
    if (rc != STRATA_OK)
        return rc;
    char *cols = NULL, *refcols = NULL;
    const char *name = v[0] ? yscalar(y, v[0], "name") : NULL;
    const char *ref = yscalar(y, v[2], "references");
    strata_fk_action del = STRATA_FK_NO_ACTION, upd = STRATA_FK_NO_ACTION;
    if ((v[0] && !name) || !ref || ynames(y, v[1], "columns", &cols) ||
        ynames(y, v[3], "ref_columns", &refcols) || (v[4] && parse_action(y, v[4], &del)) ||
        (v[5] && parse_action(y, v[5], &upd)))
        rc = STRATA_E_MIGRATION;
    else if (strata_table_add_foreign_key(t, name, cols, ref, refcols, del, upd) != STRATA_OK)
        rc = builder_error(y, n, md, "foreign key");
    free(cols);
    free(refcols);
    return rc;
}

static const char *const named_cols_keys[] = {"name", "!columns", "unique", "where", NULL};
static const char *const check_keys[] = {"!name", "!sql", NULL};

/* An index (`index`) or a unique constraint into t. */
static int parse_named_cols(yctx *y, const yaml_node_t *n, strata_metadata *md, strata_table *t,
                            bool index)
{
    yaml_node_t *v[4];
    int rc = ymap(y, n, index ? "an index" : "a unique constraint", named_cols_keys, v);
    if (rc != STRATA_OK)
        return rc;
    if (!index && v[2])
        return yerr(y, v[2], "a unique constraint has no 'unique' key");
    if (!index && v[3])
        return yerr(y, v[3], "a unique constraint has no 'where' key (a partial unique index "
                             "does that)");
    const char *name = v[0] ? yscalar(y, v[0], "name") : NULL;
    const char *where = v[3] ? yscalar(y, v[3], "where") : NULL;
    bool unique = false;
    char *cols = NULL;
    if ((v[0] && !name) || (v[3] && !where) || (v[2] && ybool(y, v[2], "unique", &unique)) ||
        ynames(y, v[1], "columns", &cols))
        return STRATA_E_MIGRATION;
    if ((!index   ? strata_table_add_unique(t, name, cols)
         : where ? strata_table_add_partial_index(t, name, cols, unique, where)
                 : strata_table_add_index(t, name, cols, unique)) != STRATA_OK)
        rc = builder_error(y, n, md, index ? "index" : "unique constraint");
    free(cols);
    return rc;
}

static int parse_check(yctx *y, const yaml_node_t *n, strata_metadata *md, strata_table *t)
{
    yaml_node_t *v[2];
    int rc = ymap(y, n, "a check constraint", check_keys, v);
    if (rc != STRATA_OK)
        return rc;
    const char *name = yscalar(y, v[0], "name"), *sql = yscalar(y, v[1], "sql");
    if (!name || !sql)
        return STRATA_E_MIGRATION;
    if (strata_table_add_check(t, name, sql) != STRATA_OK)
        return builder_error(y, n, md, "check constraint");
    return STRATA_OK;
}

typedef int (*item_fn)(yctx *y, const yaml_node_t *n, strata_metadata *md, strata_table *t);

static int each_item(yctx *y, const yaml_node_t *n, const char *what, strata_metadata *md,
                     strata_table *t, item_fn fn)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return yerr(y, n, "%s must be a list", what);
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        int rc = fn(y, ynode(y, *i), md, t);
        if (rc != STRATA_OK)
            return rc;
    }
    return STRATA_OK;
}

static int index_item(yctx *y, const yaml_node_t *n, strata_metadata *md, strata_table *t)
{
    return parse_named_cols(y, n, md, t, true);
}

static int unique_item(yctx *y, const yaml_node_t *n, strata_metadata *md, strata_table *t)
{
    return parse_named_cols(y, n, md, t, false);
}

/* ---- operations -------------------------------------------------------- */

static const char *const create_table_keys[] = {"!name",  "!columns",     "primary_key", "indexes",
                                                "unique", "foreign_keys", "checks",      NULL};
static const char *const pk_keys[] = {"name", "!columns", NULL};

static int op_create_table(yctx *y, const yaml_node_t *n, strata__mop *mop)
{
    yaml_node_t *v[7];
    int rc = ymap(y, n, "create_table", create_table_keys, v);
    if (rc != STRATA_OK)
        return rc;
    const char *name = yscalar(y, v[0], "name");
    if (!name)
        return STRATA_E_MIGRATION;
    strata_metadata *md;
    if ((rc = scratch(y, &md)) != STRATA_OK)
        return rc;
    strata_table *t;
    if (strata_metadata_add_table(md, name, &t) != STRATA_OK)
        rc = builder_error(y, v[0], md, "create_table");
    if (rc == STRATA_OK)
        rc = each_item(y, v[1], "columns", md, t, parse_column);
    if (rc == STRATA_OK && strata_table_column_count(t) == 0)
        rc = yerr(y, v[1],
                  "create_table %s: no columns (SQLite has no table without one, where "
                  "PostgreSQL makes it: give it at least one)",
                  name);
    if (rc == STRATA_OK && v[2]) {
        yaml_node_t *pk[2];
        char *cols = NULL;
        const char *pkname = NULL;
        if ((rc = ymap(y, v[2], "primary_key", pk_keys, pk)) == STRATA_OK &&
            (pk[0] && !(pkname = yscalar(y, pk[0], "name"))))
            rc = STRATA_E_MIGRATION;
        if (rc == STRATA_OK)
            rc = ynames(y, pk[1], "columns", &cols);
        if (rc == STRATA_OK && strata_table_set_primary_key(t, pkname, cols) != STRATA_OK)
            rc = builder_error(y, v[2], md, "primary_key");
        free(cols);
    }
    if (rc == STRATA_OK && v[3])
        rc = each_item(y, v[3], "indexes", md, t, index_item);
    if (rc == STRATA_OK && v[4])
        rc = each_item(y, v[4], "unique", md, t, unique_item);
    if (rc == STRATA_OK && v[5])
        rc = each_item(y, v[5], "foreign_keys", md, t, parse_fk);
    if (rc == STRATA_OK && v[6])
        rc = each_item(y, v[6], "checks", md, t, parse_check);
    if (rc == STRATA_OK) {
        mop->op.kind = STRATA_OP_CREATE_TABLE;
        if (!(mop->op.table = strata__strdup(name)) || !(mop->op.tdef = strata__table_copy(t)))
            rc = strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
    }
    strata_metadata_free(md);
    return rc;
}

/* An operation naming a table and, with `what`, one thing in it. */
static int op_named(yctx *y, const yaml_node_t *n, const char *opname, const char *what,
                    char **table, char **name)
{
    static const char *const table_keys[] = {"!name", NULL};
    static const char *const thing_keys[] = {"!table", "!name", NULL};
    yaml_node_t *v[2];
    int rc = ymap(y, n, opname, what ? thing_keys : table_keys, v);
    if (rc != STRATA_OK)
        return rc;
    if (!what)
        return (*table = ydup(y, v[0], "name")) ? STRATA_OK : STRATA_E_MIGRATION;
    if (!(*table = ydup(y, v[0], "table")) || !(*name = ydup(y, v[1], "name")))
        return STRATA_E_MIGRATION;
    return STRATA_OK;
}

static int op_add_column(yctx *y, const yaml_node_t *n, strata__mop *mop)
{
    static const char *const keys[] = {"!table", "!column", NULL};
    yaml_node_t *v[2];
    int rc = ymap(y, n, "add_column", keys, v);
    if (rc != STRATA_OK)
        return rc;
    const char *table = yscalar(y, v[0], "table");
    if (!table)
        return STRATA_E_MIGRATION;
    strata_metadata *md;
    if ((rc = scratch(y, &md)) != STRATA_OK)
        return rc;
    strata_table *t;
    if (strata_metadata_add_table(md, table, &t) != STRATA_OK)
        rc = builder_error(y, v[0], md, "add_column");
    if (rc == STRATA_OK)
        rc = parse_column(y, v[1], md, t);
    if (rc == STRATA_OK && t->pk)
        rc = yerr(y, v[1], "add_column cannot add a primary key column");
    if (rc == STRATA_OK) {
        mop->op.kind = STRATA_OP_ADD_COLUMN;
        if (!(mop->op.table = strata__strdup(table)) ||
            !(mop->op.col = strata__column_copy(t->cols[0])))
            rc = strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
    }
    strata_metadata_free(md);
    return rc;
}

static const char *const alter_keys[] = {"!table",         "!name",    "type",      "nullable",
                                         "server_default", "new_name", "collation", NULL};

static int op_alter_column(yctx *y, const yaml_node_t *n, strata__mop *mop)
{
    yaml_node_t *v[7];
    int rc = ymap(y, n, "alter_column", alter_keys, v);
    if (rc != STRATA_OK)
        return rc;
    mop->op.kind = STRATA_OP_ALTER_COLUMN;
    char *name = NULL, *new_name = NULL;
    if (!(mop->op.table = ydup(y, v[0], "table")) || !(name = ydup(y, v[1], "name")))
        rc = STRATA_E_MIGRATION;
    if (rc == STRATA_OK && v[2]) {
        mop->set |= MOP_TYPE;
        strata__type t;
        if (!(mop->type = ydup(y, v[2], "type")))
            rc = STRATA_E_MIGRATION;
        else if (strata__type_parse(&t, mop->type) != STRATA_OK)
            rc = yerr(y, v[2],
                      "'%s' is not a portable type (numeric(p,s) with p up to 1000, string(n) "
                      "with n up to 10485760: PostgreSQL's limits)",
                      mop->type);
        else
            free(t.raw);
    }
    if (rc == STRATA_OK && v[3]) {
        mop->set |= MOP_NULLABLE;
        rc = ybool(y, v[3], "nullable", &mop->nullable);
    }
    if (rc == STRATA_OK && v[4]) {
        mop->set |= MOP_DEFAULT;
        if (!is_null(v[4]) && !(mop->server_default = ydup(y, v[4], "server_default")))
            rc = STRATA_E_MIGRATION;
    }
    if (rc == STRATA_OK && v[5]) {
        mop->set |= MOP_RENAME;
        if (!(new_name = ydup(y, v[5], "new_name")))
            rc = STRATA_E_MIGRATION;
    }
    if (rc == STRATA_OK && v[6]) {
        mop->set |= MOP_COLLATION;
        rc = ycollation(y, v[6], &mop->collation);
    }
    if (rc == STRATA_OK && !mop->set)
        rc = yerr(y, n,
                  "alter_column %s changes nothing (give type, nullable, server_default, "
                  "collation or new_name)",
                  name);
    /* Names only: strata__mop_resolve() fills the definitions. */
    if (rc == STRATA_OK && (!(mop->op.old_col = calloc(1, sizeof(strata_column))) ||
                            !(mop->op.col = calloc(1, sizeof(strata_column)))))
        rc = strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
    if (rc == STRATA_OK) {
        mop->op.old_col->name = name;
        mop->op.col->name = new_name ? new_name : strata__strdup(name);
        name = new_name = NULL;
        if (!mop->op.col->name)
            rc = strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
    }
    free(name);
    free(new_name);
    return rc;
}

static int op_rename_table(yctx *y, const yaml_node_t *n, strata__mop *mop)
{
    static const char *const keys[] = {"!name", "!new_name", NULL};
    yaml_node_t *v[2];
    int rc = ymap(y, n, "rename_table", keys, v);
    if (rc != STRATA_OK)
        return rc;
    mop->op.kind = STRATA_OP_RENAME_TABLE;
    if (!(mop->op.table = ydup(y, v[0], "name")) || !(mop->op.new_name = ydup(y, v[1], "new_name")))
        return STRATA_E_MIGRATION;
    return STRATA_OK;
}

/* create_index / create_unique / create_foreign_key / create_check: the
 * definition is built on a scratch table, then taken from it. */
static int op_create_thing(yctx *y, const yaml_node_t *n, strata__mop *mop, strata_op_kind kind)
{
    const char *opname = kind == STRATA_OP_CREATE_INDEX ? "create_index"
                         : kind == STRATA_OP_ADD_UNIQUE ? "create_unique"
                         : kind == STRATA_OP_ADD_CHECK  ? "create_check"
                                                        : "create_foreign_key";
    if (n->type != YAML_MAPPING_NODE)
        return yerr(y, n, "%s must be a mapping, not %s", opname, node_kind(n));
    /* Take the table out; the rest is the thing's own mapping. */
    const char *table = NULL;
    yaml_node_t rest = *n;
    yaml_node_pair_t pairs[16];
    int np = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ynode(y, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, "table")) {
            if (!(table = yscalar(y, ynode(y, p->value), "table")))
                return STRATA_E_MIGRATION;
        } else if (np < 16) {
            pairs[np++] = *p;
        } else {
            return yerr(y, k, "too many keys in %s", opname);
        }
    }
    if (!table)
        return yerr(y, n, "%s needs 'table'", opname);
    rest.data.mapping.pairs.start = pairs;
    rest.data.mapping.pairs.top = pairs + np;
    strata_metadata *md;
    int rc = scratch(y, &md);
    if (rc != STRATA_OK)
        return rc;
    strata_table *t;
    if (strata_metadata_add_table(md, table, &t) != STRATA_OK)
        rc = builder_error(y, n, md, opname);
    /* Columns a constraint names must exist on the scratch table; their
     * definitions do not matter here. */
    yaml_node_t *cols = NULL;
    for (int i = 0; i < np; i++) {
        yaml_node_t *k = ynode(y, pairs[i].key);
        if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, "columns"))
            cols = ynode(y, pairs[i].value);
    }
    if (rc == STRATA_OK && cols) {
        char *list = NULL;
        strata__names names = {0};
        if ((rc = ynames(y, cols, "columns", &list)) == STRATA_OK &&
            strata__names_split(&names, list) != STRATA_OK)
            rc = yerr(y, cols, "bad column list '%s'", list);
        for (int i = 0; rc == STRATA_OK && i < names.n; i++)
            if (strata__table_find_column_index(t, names.v[i]) < 0 &&
                strata_table_add_column(t, names.v[i], "integer", STRATA_NULLABLE, NULL) !=
                    STRATA_OK)
                rc = builder_error(y, cols, md, opname);
        strata__names_free(&names);
        free(list);
    }
    if (rc == STRATA_OK) {
        switch (kind) {
        case STRATA_OP_CREATE_INDEX: rc = parse_named_cols(y, &rest, md, t, true); break;
        case STRATA_OP_ADD_UNIQUE: rc = parse_named_cols(y, &rest, md, t, false); break;
        case STRATA_OP_ADD_CHECK: rc = parse_check(y, &rest, md, t); break;
        default: rc = parse_fk(y, &rest, md, t); break;
        }
    }
    if (rc == STRATA_OK) {
        mop->op.kind = kind;
        bool ok = (mop->op.table = strata__strdup(table)) != NULL;
        if (ok && kind == STRATA_OP_CREATE_INDEX)
            ok = (mop->op.index = strata__index_copy(t->idx[t->nidx - 1])) != NULL;
        else if (ok)
            ok = (mop->op.cons = strata__cons_copy(t->cons[t->ncons - 1])) != NULL;
        if (!ok)
            rc = strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
    }
    strata_metadata_free(md);
    return rc;
}

/* drop_index / drop_unique / drop_foreign_key / drop_check: the name; the
 * definition (for messages and SQLite rebuilds) comes from the schema. */
static int op_drop_thing(yctx *y, const yaml_node_t *n, strata__mop *mop, strata_op_kind kind,
                         const char *opname)
{
    char *name = NULL;
    int rc = op_named(y, n, opname, "name", &mop->op.table, &name);
    if (rc != STRATA_OK) {
        free(name);
        return rc;
    }
    mop->op.kind = kind;
    if (kind == STRATA_OP_DROP_INDEX) {
        if (!(mop->op.index = calloc(1, sizeof *mop->op.index)))
            rc = STRATA_E_NOMEM;
        else
            mop->op.index->name = name;
    } else {
        if (!(mop->op.cons = calloc(1, sizeof *mop->op.cons)))
            rc = STRATA_E_NOMEM;
        else
            mop->op.cons->name = name;
    }
    if (rc != STRATA_OK) {
        free(name);
        return strata__mig_error(y->m, rc, "out of memory");
    }
    return STRATA_OK;
}

static const char *skip_blank(const char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

/* The text of an sql operation: a null or blank one is a mistake in the
 * file, not a statement ("null" would run as one). */
static char *sql_text(yctx *y, const yaml_node_t *n, const char *what)
{
    if (is_null(n)) {
        yerr(y, n, "%s is empty: give the statement", what);
        return NULL;
    }
    const char *v = yscalar(y, n, what);
    if (!v)
        return NULL;
    const char *p = v;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p) {
        yerr(y, n, "%s is empty: give the statement", what);
        return NULL;
    }
    /* A revision runs in one transaction, all or nothing: a statement
     * that ends it would keep half the revision and run the rest outside
     * any transaction. */
    /* Read as its engine reads it; a text for every engine (sql,
     * default) as each of them. */
    bool pg = strcmp(what, "sqlite") != 0, lite = strcmp(what, "postgresql") != 0;
    const char *tx = pg ? strata__sql_transaction_statement(v, STRATA__PG_LEXER) : NULL;
    if (!tx && lite)
        tx = strata__sql_transaction_statement(v, STRATA__SQLITE_LEXER);
    if (tx) {
        int len = 0;
        while (len < 20 && (isalpha((unsigned char)tx[len])))
            len++;
        yerr(y, n,
             "%s: %.*s begins or ends a transaction, but a revision runs in the one the "
             "runner begins, and is applied all or nothing: take it out",
             what, len, tx);
        return NULL;
    }
    return ydup(y, n, what);
}

static int op_sql(yctx *y, const yaml_node_t *n, strata__mop *mop)
{
    mop->op.kind = STRATA_OP_SQL;
    if (n->type == YAML_SCALAR_NODE) {
        if (!(mop->op.sql = calloc(1, sizeof *mop->op.sql)))
            return strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
        mop->op.nsql = 1;
        return (mop->op.sql[0].text = sql_text(y, n, "sql")) ? STRATA_OK : STRATA_E_MIGRATION;
    }
    /* "default", then one key per engine's dialect. */
    const char *keys[MAX_SQL_KEYS + 1] = {"default"};
    int nkeys = 1;
    for (const char *const *d = strata__dialect_names(); *d && nkeys < MAX_SQL_KEYS; d++)
        keys[nkeys++] = *d;
    keys[nkeys] = NULL;
    yaml_node_t *v[MAX_SQL_KEYS] = {0};
    int rc = ymap(y, n, "sql", keys, v);
    if (rc != STRATA_OK)
        return rc;
    int given = 0;
    for (int i = 0; i < nkeys; i++)
        given += v[i] != NULL;
    if (!given) {
        strata__sb list;
        strata__sb_init(&list);
        for (int i = 0; i < nkeys; i++)
            strata__sb_printf(&list, "%s%s", i == 0 ? "" : i == nkeys - 1 ? " or " : ", ",
                              keys[i]);
        rc = yerr(y, n, "sql needs a statement (%s)", list.data ? list.data : "default");
        strata__sb_free(&list);
        return rc;
    }
    if (!(mop->op.sql = calloc((size_t)nkeys, sizeof *mop->op.sql)))
        return strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
    for (int i = 0; i < nkeys; i++) {
        if (!v[i])
            continue;
        strata__sql_variant *s = &mop->op.sql[mop->op.nsql++];
        if (i && !(s->dialect = strata__strdup(keys[i])))
            return strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
        /* An engine's variant may be empty beside a default: nothing runs
         * on that engine. */
        bool empty = i && v[0] && (is_null(v[i]) || (v[i]->type == YAML_SCALAR_NODE &&
                                                     !*skip_blank((const char *)v[i]->data.scalar.value)));
        if (!(s->text = empty ? strata__strdup("") : sql_text(y, v[i], keys[i])))
            return empty ? strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory")
                         : STRATA_E_MIGRATION;
    }
    return STRATA_OK;
}

static int parse_op(yctx *y, const yaml_node_t *n, strata__mop *mop)
{
    memset(mop, 0, sizeof *mop);
    mop->line = (int)n->start_mark.line + 1;
    mop->column = (int)n->start_mark.column + 1;
    if (n->type != YAML_MAPPING_NODE ||
        n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1)
        return yerr(y, n, "an operation is a mapping with one key, its kind (create_table: ...)");
    yaml_node_pair_t *p = n->data.mapping.pairs.start;
    const char *kind = yscalar(y, ynode(y, p->key), "an operation's kind");
    yaml_node_t *v = ynode(y, p->value);
    if (!kind)
        return STRATA_E_MIGRATION;
    if (!strcmp(kind, "create_table"))
        return op_create_table(y, v, mop);
    if (!strcmp(kind, "drop_table")) {
        mop->op.kind = STRATA_OP_DROP_TABLE;
        return op_named(y, v, kind, NULL, &mop->op.table, NULL);
    }
    if (!strcmp(kind, "add_column"))
        return op_add_column(y, v, mop);
    if (!strcmp(kind, "drop_column")) {
        char *name = NULL;
        mop->op.kind = STRATA_OP_DROP_COLUMN;
        int rc = op_named(y, v, kind, "name", &mop->op.table, &name);
        if (rc == STRATA_OK && !(mop->op.col = calloc(1, sizeof(strata_column))))
            rc = strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
        if (rc == STRATA_OK)
            mop->op.col->name = name;
        else
            free(name);
        return rc;
    }
    if (!strcmp(kind, "alter_column"))
        return op_alter_column(y, v, mop);
    if (!strcmp(kind, "rename_table"))
        return op_rename_table(y, v, mop);
    if (!strcmp(kind, "create_index"))
        return op_create_thing(y, v, mop, STRATA_OP_CREATE_INDEX);
    if (!strcmp(kind, "create_unique"))
        return op_create_thing(y, v, mop, STRATA_OP_ADD_UNIQUE);
    if (!strcmp(kind, "create_foreign_key"))
        return op_create_thing(y, v, mop, STRATA_OP_ADD_FOREIGN_KEY);
    if (!strcmp(kind, "create_check"))
        return op_create_thing(y, v, mop, STRATA_OP_ADD_CHECK);
    if (!strcmp(kind, "drop_index"))
        return op_drop_thing(y, v, mop, STRATA_OP_DROP_INDEX, kind);
    if (!strcmp(kind, "drop_unique"))
        return op_drop_thing(y, v, mop, STRATA_OP_DROP_UNIQUE, kind);
    if (!strcmp(kind, "drop_foreign_key"))
        return op_drop_thing(y, v, mop, STRATA_OP_DROP_FOREIGN_KEY, kind);
    if (!strcmp(kind, "drop_check"))
        return op_drop_thing(y, v, mop, STRATA_OP_DROP_CHECK, kind);
    if (!strcmp(kind, "sql"))
        return op_sql(y, v, mop);
    return yerr(y, ynode(y, p->key),
                "unknown operation '%s' (create_table, drop_table, add_column, drop_column, "
                "alter_column, rename_table, create_index, drop_index, create_unique, "
                "drop_unique, create_foreign_key, drop_foreign_key, create_check, drop_check, "
                "sql)",
                kind);
}

void strata__mop_clear(strata__mop *mop)
{
    strata__op_clear(&mop->op);
    free(mop->type);
    free(mop->server_default);
    memset(mop, 0, sizeof *mop);
}

/* ---- the revision ------------------------------------------------------ */

static int parse_ops(yctx *y, const yaml_node_t *n, strata__mop **out, int *nout)
{
    if (is_null(n))
        return STRATA_OK;
    if (n->type != YAML_SEQUENCE_NODE)
        return yerr(y, n, "upgrade and downgrade must be lists of operations");
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!count)
        return STRATA_OK;
    if (!(*out = calloc(count, sizeof **out)))
        return strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        int rc = parse_op(y, ynode(y, n->data.sequence.items.start[i]), &(*out)[i]);
        (*nout)++;
        if (rc != STRATA_OK)
            return rc;
    }
    return STRATA_OK;
}

static bool is_rev_id(const char *s)
{
    if (strlen(s) != 12)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static int parse_down(yctx *y, const yaml_node_t *n, strata__revision *r)
{
    if (is_null(n))
        return STRATA_OK;
    const yaml_node_t *one = n;
    size_t count = 1;
    if (n->type == YAML_SEQUENCE_NODE)
        count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!(r->down = calloc(count + 1, sizeof *r->down)))
        return strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        if (n->type == YAML_SEQUENCE_NODE)
            one = ynode(y, n->data.sequence.items.start[i]);
        const char *v = yscalar(y, one, "down_revision");
        if (!v)
            return STRATA_E_MIGRATION;
        if (!is_rev_id(v))
            return yerr(y, one, "down_revision '%s' is not a revision id (12 hex digits)", v);
        for (int k = 0; k < r->ndown; k++)
            if (!strcmp(r->down[k], v))
                return yerr(y, one, "down_revision names '%s' twice", v);
        if (!(r->down[r->ndown++] = strata__strdup(v)))
            return strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
    }
    return STRATA_OK;
}

/* libyaml's failure, at its line and column: a reader's (a byte that is
 * not UTF-8, a control character) gives an offset in the text, not a
 * mark. */
static int yaml_failed(yctx *y, const yaml_parser_t *parser, const char *text, size_t len)
{
    unsigned long line = (unsigned long)parser->problem_mark.line + 1,
                  column = (unsigned long)parser->problem_mark.column + 1;
    if (parser->error == YAML_READER_ERROR) {
        size_t at = parser->problem_offset < len ? parser->problem_offset : len;
        line = 1, column = 1;
        for (size_t i = 0; i < at; i++, column++)
            if (text[i] == '\n')
                line++, column = 0;
    }
    return strata__mig_error(y->m, STRATA_E_MIGRATION, "%s:%lu:%lu: bad YAML: %s", y->file, line,
                             column, parser->problem ? parser->problem : "unreadable");
}

/* Flow collections ([ ] { }) nested deeper than this are refused before
 * libyaml reads them: its time grows with the square of the depth (a
 * file of 200,000 took minutes).  Brackets inside quoted scalars count
 * too, which errs only on absurd files. */
enum { YAML_MAX_DEPTH = 1000 };

static int too_deep(yctx *y, const char *text, size_t len)
{
    long depth = 0;
    unsigned long line = 1, column = 0;
    for (size_t i = 0; i < len; i++) {
        column++;
        if (text[i] == '\n')
            line++, column = 0;
        else if (text[i] == '[' || text[i] == '{')
            depth++;
        else if ((text[i] == ']' || text[i] == '}') && depth > 0)
            depth--;
        if (depth > YAML_MAX_DEPTH)
            return strata__mig_error(y->m, STRATA_E_MIGRATION,
                                     "%s:%lu:%lu: bad YAML: lists or mappings nested more than %d "
                                     "deep",
                                     y->file, line, column, YAML_MAX_DEPTH);
    }
    return STRATA_OK;
}

static int load_doc(yctx *y, const char *text, size_t len)
{
    int rc = too_deep(y, text, len);
    if (rc != STRATA_OK)
        return rc;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return strata__mig_error(y->m, STRATA_E_NOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &y->doc)) {
        rc = yaml_failed(y, &parser, text, len);
        memset(&y->doc, 0, sizeof y->doc);
    } else if (!yaml_document_get_root_node(&y->doc)) {
        yaml_document_delete(&y->doc);
        memset(&y->doc, 0, sizeof y->doc);
        rc = strata__mig_error(y->m, STRATA_E_MIGRATION, "%s: the file is empty", y->file);
    } else {
        /* A NUL inside a value (a quoted "users\0_old") would end it
         * early: the table users named instead.  Refused, as is a second
         * document, which would be ignored. */
        for (yaml_node_t *n = y->doc.nodes.start; n < y->doc.nodes.top && rc == STRATA_OK; n++)
            if (n->type == YAML_SCALAR_NODE &&
                strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
                rc = yerr(y, n, "a value holds a NUL character");
        yaml_document_t more;
        if (rc == STRATA_OK && yaml_parser_load(&parser, &more)) {
            yaml_node_t *root = yaml_document_get_root_node(&more);
            if (root)
                rc = yerr(y, root, "a second YAML document ('---'): a revision file holds one");
            yaml_document_delete(&more);
        } else if (rc == STRATA_OK) {
            rc = yaml_failed(y, &parser, text, len);
        }
        if (rc != STRATA_OK) {
            yaml_document_delete(&y->doc);
            memset(&y->doc, 0, sizeof y->doc);
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

static const char *const revision_keys[] = {"!revision", "!down_revision", "message", "created",
                                            "upgrade",   "downgrade",      NULL};

int strata__script_parse(strata_migrations *m, const char *file, const char *text, size_t len,
                         strata__revision **out)
{
    *out = NULL;
    yctx y = {.m = m, .file = file};
    int rc = load_doc(&y, text, len);
    if (rc != STRATA_OK)
        return rc;
    strata__revision *r = calloc(1, sizeof *r);
    yaml_node_t *v[6];
    if (!r)
        rc = strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
    else
        rc = ymap(&y, yaml_document_get_root_node(&y.doc), "a revision file", revision_keys, v);
    if (rc == STRATA_OK && !(r->id = ydup(&y, v[0], "revision")))
        rc = STRATA_E_MIGRATION;
    if (rc == STRATA_OK && !is_rev_id(r->id))
        rc = yerr(&y, v[0], "revision '%s' is not a revision id (12 lowercase hex digits)", r->id);
    if (rc == STRATA_OK)
        rc = parse_down(&y, v[1], r);
    if (rc == STRATA_OK)
        r->message = v[2] && !is_null(v[2]) ? ydup(&y, v[2], "message") : strata__strdup("");
    if (rc == STRATA_OK && !r->message)
        rc = STRATA_E_MIGRATION;
    if (rc == STRATA_OK && v[3] && !(r->created = ydup(&y, v[3], "created")))
        rc = STRATA_E_MIGRATION;
    if (rc == STRATA_OK && v[4])
        rc = parse_ops(&y, v[4], &r->ops[0], &r->nops[0]);
    if (rc == STRATA_OK && v[5])
        rc = parse_ops(&y, v[5], &r->ops[1], &r->nops[1]);
    if (rc == STRATA_OK && !(r->file = strata__strdup(file)))
        rc = strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
    yaml_document_delete(&y.doc);
    if (rc != STRATA_OK) {
        strata__revision_free(r);
        return rc;
    }
    *out = r;
    return STRATA_OK;
}

/* ---- the config -------------------------------------------------------- */

int strata__config_parse(strata_migrations *m, const char *file, const char *text, size_t len)
{
    static const char *const keys[] = {"version_table", "database_url", "transaction_per_revision",
                                       NULL};
    yctx y = {.m = m, .file = file};
    int rc = load_doc(&y, text, len);
    if (rc != STRATA_OK)
        return rc;
    yaml_node_t *v[3];
    rc = ymap(&y, yaml_document_get_root_node(&y.doc), "the configuration", keys, v);
    if (rc == STRATA_OK && v[0]) {
        char *t = ydup(&y, v[0], "version_table");
        if (!t)
            rc = STRATA_E_MIGRATION;
        else if (!*t || strlen(t) > 63)
            rc = yerr(&y, v[0], "version_table must be a name of 1 to 63 bytes");
        if (rc == STRATA_OK) {
            free(m->version_table);
            m->version_table = t;
        } else {
            free(t);
        }
    }
    if (rc == STRATA_OK && v[1] && !is_null(v[1])) {
        free(m->database_url);
        if (!(m->database_url = ydup(&y, v[1], "database_url")))
            rc = STRATA_E_MIGRATION;
    }
    if (rc == STRATA_OK && v[2])
        rc = ybool(&y, v[2], "transaction_per_revision", &m->per_revision);
    yaml_document_delete(&y.doc);
    return rc;
}

/* ---- resolving against a schema ---------------------------------------- */

static int mop_error(strata_migrations *m, const strata__revision *r, const strata__mop *mop,
                     const char *what)
{
    return strata__mig_error(m, STRATA_E_MIGRATION, "%s:%d:%d: %s", r->file, mop->line, mop->column,
                             what);
}

int strata__mop_resolve(strata_migrations *m, const strata__revision *r, const strata__mop *mop,
                        const strata_metadata *state, strata__op *out)
{
    int rc = strata__op_copy(out, &mop->op);
    if (rc != STRATA_OK)
        return strata__mig_error(m, rc, "out of memory");
    if (out->kind == STRATA_OP_CREATE_TABLE || out->kind == STRATA_OP_SQL ||
        out->kind == STRATA_OP_ADD_COLUMN || out->kind == STRATA_OP_CREATE_INDEX ||
        out->kind == STRATA_OP_ADD_UNIQUE || out->kind == STRATA_OP_ADD_FOREIGN_KEY ||
        out->kind == STRATA_OP_ADD_CHECK)
        return STRATA_OK;
    char msg[256];
    const strata_table *t = strata_metadata_find_table(state, out->table);
    if (!t) {
        snprintf(msg, sizeof msg, "table %s does not exist", out->table);
        strata__op_clear(out);
        return mop_error(m, r, mop, msg);
    }
    bool ok = true;
    switch (out->kind) {
    case STRATA_OP_DROP_TABLE:
        strata__table_free(out->tdef);
        ok = (out->tdef = strata__table_copy(t)) != NULL;
        break;
    case STRATA_OP_DROP_COLUMN:
    case STRATA_OP_ALTER_COLUMN: {
        const char *name = out->old_col ? out->old_col->name : out->col->name;
        int i = strata__table_find_column_index(t, name);
        if (i < 0) {
            snprintf(msg, sizeof msg, "column %s.%s does not exist", out->table, name);
            strata__op_clear(out);
            return mop_error(m, r, mop, msg);
        }
        strata_column *cur = strata__column_copy(t->cols[i]);
        if (!cur) {
            ok = false;
            break;
        }
        if (out->kind == STRATA_OP_DROP_COLUMN) {
            strata__column_free(out->col);
            out->col = cur;
            break;
        }
        strata_column *nc = strata__column_copy(cur);
        strata__column_free(out->old_col);
        out->old_col = cur;
        if (!nc) {
            ok = false;
            break;
        }
        char *new_name = strata__strdup(out->col->name);
        strata__column_free(out->col);
        out->col = nc;
        if (!new_name) {
            ok = false;
            break;
        }
        free(nc->name);
        nc->name = new_name;
        if (mop->set & MOP_NULLABLE)
            nc->nullable = mop->nullable;
        if (mop->set & MOP_TYPE) {
            strata__type ty;
            if (strata__type_parse(&ty, mop->type) != STRATA_OK) {
                ok = false;
                break;
            }
            free(nc->type.raw);
            nc->type = ty;
            if (!strata__type_is_collatable(&nc->type))
                nc->collation = COLL_BINARY; /* only strings have one */
        }
        if (mop->set & MOP_COLLATION) {
            if (mop->collation == COLL_LOCALE && !strata__type_is_collatable(&nc->type)) {
                snprintf(msg, sizeof msg,
                         "alter_column %s.%s: collation locale needs a string or text column",
                         out->table, nc->name);
                strata__op_clear(out);
                return mop_error(m, r, mop, msg);
            }
            nc->collation = mop->collation;
        }
        if (mop->set & (MOP_DEFAULT | MOP_TYPE)) {
            const char *def = (mop->set & MOP_DEFAULT) ? mop->server_default : nc->def_portable;
            strata__default_kind kind = DEF_NONE;
            char *text = NULL, why[128] = "";
            if (def &&
                strata__default_parse(&kind, &text, def, &nc->type, why, sizeof why) != STRATA_OK) {
                snprintf(msg, sizeof msg, "alter_column %s.%s: server_default '%s': %s", out->table,
                         nc->name, def, why);
                strata__op_clear(out);
                return mop_error(m, r, mop, msg);
            }
            if (strata__column_set_default(nc, kind, text) != STRATA_OK)
                ok = false;
        }
        break;
    }
    case STRATA_OP_DROP_INDEX: {
        strata__index *ix = strata__table_find_index(t, out->index->name);
        if (!ix) {
            snprintf(msg, sizeof msg, "index %s on %s does not exist", out->index->name,
                     out->table);
            strata__op_clear(out);
            return mop_error(m, r, mop, msg);
        }
        strata__index_free(out->index);
        ok = (out->index = strata__index_copy(ix)) != NULL;
        break;
    }
    case STRATA_OP_DROP_UNIQUE:
    case STRATA_OP_DROP_FOREIGN_KEY:
    case STRATA_OP_DROP_CHECK: {
        strata__cons *c = strata__table_find_cons(t, out->cons->name);
        strata__cons_kind want = out->kind == STRATA_OP_DROP_UNIQUE        ? CONS_UNIQUE
                                 : out->kind == STRATA_OP_DROP_FOREIGN_KEY ? CONS_FK
                                                                           : CONS_CHECK;
        if (!c || c->kind != want) {
            snprintf(msg, sizeof msg, "constraint %s on %s does not exist", out->cons->name,
                     out->table);
            strata__op_clear(out);
            return mop_error(m, r, mop, msg);
        }
        strata__cons_free(out->cons);
        ok = (out->cons = strata__cons_copy(c)) != NULL;
        break;
    }
    default: break;
    }
    if (!ok) {
        strata__op_clear(out);
        return strata__mig_error(m, STRATA_E_NOMEM, "out of memory");
    }
    return STRATA_OK;
}

int strata__mop_from_op(strata__mop *out, const strata__op *op)
{
    memset(out, 0, sizeof *out);
    int rc = strata__op_copy(&out->op, op);
    if (rc != STRATA_OK || op->kind != STRATA_OP_ALTER_COLUMN)
        return rc;
    /* An alter written out says what changes. */
    const strata_column *a = op->old_col, *b = op->col;
    strata__sb sb;
    strata__sb_init(&sb);
    if (!strata__type_equal(&a->type, &b->type)) {
        out->set |= MOP_TYPE;
        strata__type_print(&sb, &b->type);
        out->type = strata__sb_take(&sb);
    }
    if (a->nullable != b->nullable) {
        out->set |= MOP_NULLABLE;
        out->nullable = b->nullable;
    }
    const char *da = a->def_portable ? a->def_portable : "",
               *db = b->def_portable ? b->def_portable : "";
    if (strcmp(da, db) != 0) {
        out->set |= MOP_DEFAULT;
        out->server_default = b->def_portable ? strata__strdup(b->def_portable) : NULL;
    }
    if (a->collation != b->collation) {
        out->set |= MOP_COLLATION;
        out->collation = b->collation;
    }
    if (strcmp(a->name, b->name) != 0)
        out->set |= MOP_RENAME;
    return STRATA_OK;
}

/* ---- rendering --------------------------------------------------------- */

/* The code point of the UTF-8 sequence at s, its length in *len; a byte
 * that starts no valid sequence stands for itself, length 1. */
static unsigned utf8_at(const char *s, size_t *len)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned cp = p[0];
    size_t n = cp < 0x80             ? 1
               : (cp & 0xE0) == 0xC0 ? 2
               : (cp & 0xF0) == 0xE0 ? 3
               : (cp & 0xF8) == 0xF0 ? 4
                                     : 1;
    *len = 1;
    if (n == 1)
        return cp;
    cp &= 0x3Fu >> (n - 1);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return p[0];
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    *len = n;
    return cp;
}

/* YAML's line breaks: \n, \r, NEL, LS, PS (\r\n is two). */
static bool yaml_break(unsigned cp)
{
    return cp == '\n' || cp == '\r' || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

/* Characters a YAML reader refuses anywhere in a file. */
static bool yaml_unprintable(unsigned cp)
{
    return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
           (cp >= 0x7F && cp <= 0x9F && cp != 0x85) || cp == 0xFFFE || cp == 0xFFFF;
}

/* A scalar: plain when it cannot be read as anything else, else quoted. */
static void yput(strata__sb *sb, const char *s)
{
    bool plain = *s && !strchr("-?:,[]{}#&*!|>'\"%@` ", *s) && strcmp(s, "null") &&
                 strcmp(s, "true") && strcmp(s, "false") && strcmp(s, "yes") && strcmp(s, "no") &&
                 strcmp(s, "~");
    for (const char *p = s; plain && *p; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                strchr("_.()/-", *p) || (*p == ',' && p[1] != ' ') || (*p == ' ' && p[1] != '#');
    if (plain && s[strlen(s) - 1] != ' ') {
        strata__sb_puts(sb, s);
        return;
    }
    /* Double-quoted: every line break and every character a reader refuses
     * is escaped (a raw break would be folded into a space). */
    strata__sb_putc(sb, '"');
    for (size_t n; *s; s += n) {
        unsigned cp = utf8_at(s, &n);
        switch (cp) {
        case '"': strata__sb_puts(sb, "\\\""); break;
        case '\\': strata__sb_puts(sb, "\\\\"); break;
        case '\n': strata__sb_puts(sb, "\\n"); break;
        case '\t': strata__sb_puts(sb, "\\t"); break;
        case 0x85: strata__sb_puts(sb, "\\N"); break;
        case 0x2028: strata__sb_puts(sb, "\\L"); break;
        case 0x2029: strata__sb_puts(sb, "\\P"); break;
        default:
            if (cp <= 0xFF && (yaml_unprintable(cp) || cp == '\r'))
                strata__sb_printf(sb, "\\x%02x", cp);
            else if (yaml_unprintable(cp))
                strata__sb_printf(sb, "\\u%04X", cp);
            else
                strata__sb_putn(sb, s, n);
        }
    }
    strata__sb_putc(sb, '"');
}

/* Text in a "# " comment: a line break in it starts a new comment line
 * (else the rest would be read as YAML), and a character a reader refuses
 * becomes '?'. */
static void put_comment(strata__sb *sb, const char *s)
{
    for (size_t n; *s; s += n) {
        unsigned cp = utf8_at(s, &n);
        if (cp == '\r' && s[1] == '\n')
            n = 2;
        if (yaml_break(cp))
            strata__sb_puts(sb, "\n# ");
        else if (yaml_unprintable(cp))
            strata__sb_putc(sb, '?');
        else
            strata__sb_putn(sb, s, n);
    }
}

static void put_names(strata__sb *sb, const strata__names *n)
{
    strata__sb_putc(sb, '[');
    for (int i = 0; i < n->n; i++) {
        strata__sb_puts(sb, i ? ", " : "");
        yput(sb, n->v[i]);
    }
    strata__sb_putc(sb, ']');
}

static void put_key(strata__sb *sb, const char *indent, const char *key, const char *value)
{
    strata__sb_printf(sb, "%s%s: ", indent, key);
    yput(sb, value);
    strata__sb_putc(sb, '\n');
}

static void put_column(strata__sb *sb, const char *indent, const strata_column *c, bool pk)
{
    strata__sb_printf(sb, "%s- name: ", indent);
    yput(sb, c->name);
    strata__sb sbt;
    strata__sb_init(&sbt);
    strata__type_print(&sbt, &c->type);
    strata__sb_printf(sb, "\n%s  type: ", indent);
    yput(sb, sbt.data ? sbt.data : "");
    strata__sb_free(&sbt);
    strata__sb_putc(sb, '\n');
    if (pk)
        strata__sb_printf(sb, "%s  primary_key: true\n", indent);
    else if (!c->nullable)
        strata__sb_printf(sb, "%s  nullable: false\n", indent);
    if (c->autoincrement)
        strata__sb_printf(sb, "%s  autoincrement: true\n", indent);
    if (c->def_portable) {
        strata__sb_printf(sb, "%s  ", indent);
        put_key(sb, "", "server_default", c->def_portable);
    }
    if (c->collation != COLL_BINARY)
        strata__sb_printf(sb, "%s  collation: %s\n", indent, strata__collation_name(c->collation));
}

static const char *action_name(strata_fk_action a)
{
    static const char *const names[] = {"no action", "restrict", "cascade", "set null",
                                        "set default"};
    return a >= STRATA_FK_NO_ACTION && a <= STRATA_FK_SET_DEFAULT ? names[a - STRATA_FK_NO_ACTION]
                                                                  : "no action";
}

static void put_cons_body(strata__sb *sb, const char *indent, const strata__cons *c)
{
    put_key(sb, indent, "name", c->name);
    if (c->kind == CONS_CHECK) {
        put_key(sb, indent, "sql", c->sql);
        return;
    }
    strata__sb_printf(sb, "%scolumns: ", indent);
    put_names(sb, &c->cols);
    strata__sb_putc(sb, '\n');
    if (c->kind != CONS_FK)
        return;
    put_key(sb, indent, "references", c->ref_table);
    strata__sb_printf(sb, "%sref_columns: ", indent);
    put_names(sb, &c->ref_cols);
    strata__sb_putc(sb, '\n');
    if (c->on_delete != STRATA_FK_NO_ACTION)
        put_key(sb, indent, "on_delete", action_name(c->on_delete));
    if (c->on_update != STRATA_FK_NO_ACTION)
        put_key(sb, indent, "on_update", action_name(c->on_update));
}

static void put_index_body(strata__sb *sb, const char *indent, const strata__index *ix)
{
    put_key(sb, indent, "name", ix->name);
    strata__sb_printf(sb, "%scolumns: ", indent);
    put_names(sb, &ix->cols);
    strata__sb_putc(sb, '\n');
    if (ix->unique)
        strata__sb_printf(sb, "%sunique: true\n", indent);
    if (ix->where)
        put_key(sb, indent, "where", ix->where);
}

static void put_create_table(strata__sb *sb, const strata_table *t)
{
    strata__sb_puts(sb, "  - create_table:\n");
    put_key(sb, "      ", "name", t->name);
    /* No columns is "[]": an empty value would read as null, not a list. */
    strata__sb_puts(sb, t->ncols ? "      columns:\n" : "      columns: []\n");
    bool one_pk = t->pk && t->pk->cols.n == 1;
    for (int i = 0; i < t->ncols; i++)
        put_column(sb, "        ", t->cols[i],
                   one_pk && strcmp(t->pk->cols.v[0], t->cols[i]->name) == 0);
    if (t->pk) {
        strata__sb_puts(sb, "      primary_key:\n");
        put_key(sb, "        ", "name", t->pk->name);
        strata__sb_puts(sb, "        columns: ");
        put_names(sb, &t->pk->cols);
        strata__sb_putc(sb, '\n');
    }
    static const struct {
        strata__cons_kind kind;
        const char *key;
    } groups[] = {{CONS_UNIQUE, "unique"}, {CONS_FK, "foreign_keys"}, {CONS_CHECK, "checks"}};
    for (size_t g = 0; g < 3; g++) {
        bool any = false;
        for (int i = 0; i < t->ncons; i++) {
            if (t->cons[i]->kind != groups[g].kind)
                continue;
            if (!any)
                strata__sb_printf(sb, "      %s:\n", groups[g].key);
            any = true;
            strata__sb sub;
            strata__sb_init(&sub);
            put_cons_body(&sub, "          ", t->cons[i]);
            /* The first line of an item carries the dash. */
            if (sub.data) {
                strata__sb_printf(sb, "        - %s", sub.data + 10);
            }
            strata__sb_free(&sub);
        }
    }
}

static void put_op(strata__sb *sb, const strata__mop *mop)
{
    const strata__op *op = &mop->op;
    const char *in = "      ";
    switch (op->kind) {
    case STRATA_OP_CREATE_TABLE: {
        /* Indexes follow as create_index operations, as Alembic writes them. */
        put_create_table(sb, op->tdef);
        for (int i = 0; i < op->tdef->nidx; i++) {
            strata__sb_puts(sb, "  - create_index:\n");
            put_key(sb, in, "table", op->table);
            put_index_body(sb, in, op->tdef->idx[i]);
        }
        return;
    }
    case STRATA_OP_DROP_TABLE:
        strata__sb_puts(sb, "  - drop_table:\n");
        put_key(sb, in, "name", op->table);
        return;
    case STRATA_OP_ADD_COLUMN:
        strata__sb_puts(sb, "  - add_column:\n");
        put_key(sb, in, "table", op->table);
        strata__sb_puts(sb, "      column:\n");
        {
            strata__sb sub;
            strata__sb_init(&sub);
            put_column(&sub, "      ", op->col, false);
            if (sub.data)
                strata__sb_printf(sb, "        %s", sub.data + 8);
            strata__sb_free(&sub);
        }
        return;
    case STRATA_OP_DROP_COLUMN:
        strata__sb_puts(sb, "  - drop_column:\n");
        put_key(sb, in, "table", op->table);
        put_key(sb, in, "name", op->col->name);
        return;
    case STRATA_OP_ALTER_COLUMN:
        strata__sb_puts(sb, "  - alter_column:\n");
        put_key(sb, in, "table", op->table);
        put_key(sb, in, "name", op->old_col->name);
        if (mop->set & MOP_TYPE)
            put_key(sb, in, "type", mop->type);
        if (mop->set & MOP_NULLABLE)
            strata__sb_printf(sb, "%snullable: %s\n", in, mop->nullable ? "true" : "false");
        if (mop->set & MOP_DEFAULT) {
            if (mop->server_default)
                put_key(sb, in, "server_default", mop->server_default);
            else
                strata__sb_printf(sb, "%sserver_default: null\n", in);
        }
        if (mop->set & MOP_COLLATION)
            strata__sb_printf(sb, "%scollation: %s\n", in, strata__collation_name(mop->collation));
        if (mop->set & MOP_RENAME)
            put_key(sb, in, "new_name", op->col->name);
        return;
    case STRATA_OP_RENAME_TABLE:
        strata__sb_puts(sb, "  - rename_table:\n");
        put_key(sb, in, "name", op->table);
        put_key(sb, in, "new_name", op->new_name);
        return;
    case STRATA_OP_CREATE_INDEX:
        strata__sb_puts(sb, "  - create_index:\n");
        put_key(sb, in, "table", op->table);
        put_index_body(sb, in, op->index);
        return;
    case STRATA_OP_DROP_INDEX:
        strata__sb_puts(sb, "  - drop_index:\n");
        put_key(sb, in, "table", op->table);
        put_key(sb, in, "name", op->index->name);
        return;
    case STRATA_OP_ADD_UNIQUE:
    case STRATA_OP_ADD_FOREIGN_KEY:
    case STRATA_OP_ADD_CHECK:
        strata__sb_printf(sb, "  - %s:\n",
                          op->kind == STRATA_OP_ADD_UNIQUE        ? "create_unique"
                          : op->kind == STRATA_OP_ADD_FOREIGN_KEY ? "create_foreign_key"
                                                                  : "create_check");
        put_key(sb, in, "table", op->table);
        put_cons_body(sb, in, op->cons);
        return;
    case STRATA_OP_DROP_UNIQUE:
    case STRATA_OP_DROP_FOREIGN_KEY:
    case STRATA_OP_DROP_CHECK:
        strata__sb_printf(sb, "  - %s:\n",
                          op->kind == STRATA_OP_DROP_UNIQUE        ? "drop_unique"
                          : op->kind == STRATA_OP_DROP_FOREIGN_KEY ? "drop_foreign_key"
                                                                   : "drop_check");
        put_key(sb, in, "table", op->table);
        put_key(sb, in, "name", op->cons->name);
        return;
    case STRATA_OP_SQL:
        if (op->nsql == 1 && !op->sql[0].dialect) {
            strata__sb_puts(sb, "  - sql: ");
            yput(sb, op->sql[0].text);
            strata__sb_putc(sb, '\n');
            return;
        }
        strata__sb_puts(sb, "  - sql:\n");
        for (int i = 0; i < op->nsql; i++)
            put_key(sb, in, op->sql[i].dialect ? op->sql[i].dialect : "default", op->sql[i].text);
        return;
    }
}

char *strata__script_render(const strata__revision *r, const char *const *warnings, int nwarnings)
{
    strata__sb sb;
    strata__sb_init(&sb);
    strata__sb_puts(&sb, "# ");
    put_comment(&sb, r->message);
    strata__sb_printf(&sb, "\n#\n# Revision ID: %s\n# Revises: ", r->id);
    for (int i = 0; i < r->ndown; i++)
        strata__sb_printf(&sb, "%s%s", i ? ", " : "", r->down[i]);
    strata__sb_puts(&sb, "\n# Create Date: ");
    put_comment(&sb, r->created ? r->created : "");
    strata__sb_putc(&sb, '\n');
    for (int i = 0; i < nwarnings; i++) {
        strata__sb_puts(&sb, "#\n# WARNING: ");
        put_comment(&sb, warnings[i]);
        strata__sb_puts(&sb, ": review before running.\n");
    }
    strata__sb_puts(&sb, "\n");
    put_key(&sb, "", "revision", r->id);
    if (r->ndown == 0) {
        strata__sb_puts(&sb, "down_revision: null\n");
    } else if (r->ndown == 1) {
        put_key(&sb, "", "down_revision", r->down[0]);
    } else {
        strata__sb_puts(&sb, "down_revision: [");
        for (int i = 0; i < r->ndown; i++)
            strata__sb_printf(&sb, "%s%s", i ? ", " : "", r->down[i]);
        strata__sb_puts(&sb, "]\n");
    }
    put_key(&sb, "", "message", r->message);
    if (r->created)
        put_key(&sb, "", "created", r->created);
    static const char *const sections[] = {"upgrade", "downgrade"};
    for (int s = 0; s < 2; s++) {
        strata__sb_printf(&sb, "\n%s:%s\n", sections[s], r->nops[s] ? "" : " []");
        for (int i = 0; i < r->nops[s]; i++)
            put_op(&sb, &r->ops[s][i]);
    }
    return strata__sb_take(&sb);
}
