/*
 * strata.h - umbrella header: include this one.
 *
 *   strata/common.h   version, strata_free()
 *   strata/error.h    result codes, strata_errname(), strata_errstr()
 *   strata/value.h    value types, UTC timestamps
 *   strata/url.h      database URLs
 *   strata/db.h       connections, transactions, quoting, echo
 *   strata/stmt.h     prepared statements
 *   strata/schema.h   schema metadata, DDL, introspection, diff
 *   strata/orm.h      models, sessions, queries, relationships
 *
 * Backend authors also include <strata/sys/driver.h>.
 */
#ifndef STRATA_H
#define STRATA_H

#include "strata/common.h"
#include "strata/error.h"
#include "strata/value.h"
#include "strata/url.h"
#include "strata/db.h"
#include "strata/pool.h"
#include "strata/stmt.h"
#include "strata/schema.h"
#include "strata/orm.h"
#include "strata/migrate.h"
#include "strata/cli.h"

#endif
