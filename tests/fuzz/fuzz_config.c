/*
 * fuzz_config.c - the repository config, strata.yaml (strata__config_parse).
 *
 * Input: the file's bytes.  Parsing either fails with a message naming the
 * file, or sets a version table of 1 to 63 bytes; a database_url it sets is
 * parsed as a URL.  With the config loaded, the offline SQL of an upgrade
 * of the (empty) repository is made for SQLite and PostgreSQL: it creates
 * the configured version table, whatever its name.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "migrate_internal.h"

static void offline_sql(strata_migrations *m, const char *scheme)
{
    const strata_driver *dl = strata_driver_find(scheme);
    if (!dl)
        return;
    char *sql = NULL;
    if (strata_migrations_upgrade_sql(m, dl, "heads", &sql) != STRATA_OK || !sql)
        fuzz_fail("upgrade --sql of an empty repository failed: %s", strata_migrations_errmsg(m));
    strata_free(sql);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const strata_embedded_file none[] = {{NULL, NULL}};
    strata_migrations *m = NULL;
    if (strata_migrations_open_embedded(&m, none) != STRATA_OK)
        fuzz_fail("an empty repository does not load: %s", strata_migrations_errmsg(m));
    static const char file[] = "migrations/strata.yaml";
    if (strata__config_parse(m, file, (const char *)data, size) != STRATA_OK) {
        const char *msg = strata_migrations_errmsg(m);
        if (strncmp(msg, file, strlen(file)) != 0)
            fuzz_fail("message \"%s\" does not name the file", msg);
    } else {
        size_t n = m->version_table ? strlen(m->version_table) : 0;
        if (n < 1 || n > 63)
            fuzz_fail("version table of %zu bytes accepted", n);
        const char *url = strata_migrations_default_url(m);
        if (url) {
            strata_url *u = NULL;
            strata_url_parse(&u, url);
            strata_url_free(u);
        }
        offline_sql(m, "sqlite");
        offline_sql(m, "postgresql");
    }
    strata_migrations_free(m);
    return 0;
}
