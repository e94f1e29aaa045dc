/*
 * strata/url.h - database URLs, parsed by SQLAlchemy's rules.
 *
 *   sqlite:///relative/path.db     file relative to the working directory
 *   sqlite:////absolute/path.db    absolute file
 *   sqlite://  sqlite:///:memory:  private in-memory database
 *   sqlite:///app.db?mode=ro&busy_timeout=2000&journal_mode=wal
 *   postgresql://user:pw@host:5432/db?sslmode=require
 *   postgres://...                 alias of postgresql://
 *   postgresql+libpq://, sqlite+sqlite3://   driver suffixes naming the
 *                                  built-in driver are accepted
 *
 * PostgreSQL URLs are handed to libpq whole, so every libpq parameter
 * (multi-host lists, sslmode, connect_timeout, application_name, ...) works.
 * A password never appears in anything strata prints: use
 * strata_url_redacted() when showing a URL.
 */
#ifndef STRATA_URL_H
#define STRATA_URL_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strata_url strata_url;

/** The URL used when strata_db_open() is given NULL and DATABASE_URL is
 *  unset or empty. */
#define STRATA_DEFAULT_URL "sqlite:///app.db"

/**
 * Parse `text`.  Sets *out even on failure (except out of memory), so that
 * strata_url_errmsg() can say what is wrong; the caller always frees with
 * strata_url_free().
 *
 * @return STRATA_OK, STRATA_E_URL (malformed URL, unknown scheme or driver,
 *         unknown or bad query parameter), STRATA_E_NOMEM, STRATA_E_MISUSE
 *         (NULL arguments).
 */
STRATA_API int strata_url_parse(strata_url **out, const char *text);

/** Free a parsed URL.  Accepts NULL. */
STRATA_API void strata_url_free(strata_url *url);

/** Why parsing failed, or "" after success.  Never contains the password.
 *  Borrowed until strata_url_free(). */
STRATA_API const char *strata_url_errmsg(const strata_url *url);

/** The backend the URL selects, by its canonical name ("sqlite",
 *  "postgresql"); NULL when parsing failed.  Borrowed. */
STRATA_API const char *strata_url_backend(const strata_url *url);

/** The URL with its password replaced by "***" (both the user:password
 *  part and a password= parameter).  Borrowed until strata_url_free(). */
STRATA_API const char *strata_url_redacted(const strata_url *url);

/** For SQLite: the file path (percent-decoded) or ":memory:".  For
 *  PostgreSQL: the database name when the URL names one, else NULL.
 *  Borrowed. */
STRATA_API const char *strata_url_database(const strata_url *url);

/** Value of query parameter `name` (percent-decoded), or NULL.  Borrowed. */
STRATA_API const char *strata_url_param(const strata_url *url, const char *name);

/** Redact any URL-looking text without parsing it fully: the password
 *  after "user:" and any password=... parameter become "***".
 *  Caller frees the result with strata_free(); NULL when out of memory. */
STRATA_API char *strata_url_redact(const char *text);

#ifdef __cplusplus
}
#endif
#endif
