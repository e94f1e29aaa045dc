/*
 * engines/engine.h - what strata knows of one database engine, and the
 * registry of engines.
 *
 * An engine is one folder under engines/ holding everything about it: its
 * driver (driver.c: the connection, statements, values, error
 * classification, behind the public driver ABI in <strata/sys/driver.h>)
 * and its dialect (dialect.c: type and default spellings, DDL rules,
 * introspection, the migration quirks, behind strata__dialect in
 * src/schema_internal.h).  registry.c holds one row per engine built in;
 * nothing above it names an engine.
 */
#ifndef STRATA_ENGINE_H
#define STRATA_ENGINE_H

#include "schema_internal.h"

typedef struct strata__engine {
    const strata_driver *driver;
    const strata__dialect *dialect;
} strata__engine;

/* The engine whose driver has `scheme` as its name or an alias (case
 * insensitive); NULL when none.  Safe from any thread. */
const strata__engine *strata__engine_by_scheme(const char *scheme);

/* The engine of a driver; NULL for a driver no engine row holds. */
const strata__engine *strata__engine_of(const strata_driver *drv);

/* True when `scheme` names an engine strata has a folder for that was not
 * built into this library (its engine library was not found). */
bool strata__engine_not_built(const char *scheme);

/* The dialect names of every engine folder, built or not, NULL-terminated:
 * the keys a revision file's sql operation may have besides "default"
 * (a file written for one engine must load where it is not built). */
const char *const *strata__dialect_names(void);

/* The i-th engine (0, 1, ...), built in then registered; NULL past the
 * last.  For lists such as the dialect keys of revision files. */
const strata__engine *strata__engine_at(int i);

/* Add an engine at run time: a copy of `row` (its driver and dialect must
 * outlive every handle), looked up after the built-in ones.  Up to 8; not
 * removable.  Tests use it to run the suites on a built-in engine with a
 * capability switched off.  STRATA_OK, STRATA_E_MISUSE (no driver or
 * dialect, a scheme already taken, the table full). */
int strata__engine_register(const strata__engine *row);

#endif
