/*
 * strata/url.h - database URLs, in SQLAlchemy's forms, read as libpq reads
 * a URI (docs/connections.md, "How a URL is read").
 *
 *   sqlite:///relative/path.db     file relative to the working directory
 *   sqlite:////absolute/path.db    absolute file
 *   sqlite://  sqlite:///:memory:  private in-memory database
 *   sqlite:///app.db?mode=ro&busy_timeout=2000&journal_mode=wal
 *   postgresql://user:pw@host:5432/db?sslmode=require
 *   postgres://...                 alias of postgresql://
 *   postgresql+libpq://, +psycopg2://, +psycopg://, sqlite+sqlite3://,
 *   sqlite+pysqlite://             driver suffixes naming the built-in
 *                                  drivers are accepted
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

/** The URL with its secrets replaced by "***": the user-info password and
 *  the values of password=, sslpassword= and oauth_client_secret= (keys
 *  compared percent-decoded).  After a failed parse, everything any reading
 *  could take for a secret is hidden (docs/connections.md).  Borrowed until
 *  strata_url_free(). */
STRATA_API const char *strata_url_redacted(const strata_url *url);

/** For SQLite: the file path (percent-decoded) or ":memory:".  For
 *  PostgreSQL: the database name when the URL names one, else NULL.
 *  Borrowed. */
STRATA_API const char *strata_url_database(const strata_url *url);

/** Value of query parameter `name` (percent-decoded), or NULL.  Borrowed. */
STRATA_API const char *strata_url_param(const strata_url *url, const char *name);

/** Redact any text that may hold a URL or a libpq key=value string: a
 *  valid URL as strata_url_redacted() shows it; anything else read
 *  cautiously (the user-info from its first ':' to the last '@', the rest
 *  after a key that mentions a secret, secret key=value values).  Caller
 *  frees the result with strata_free(); NULL when out of memory. */
STRATA_API char *strata_url_redact(const char *text);

#ifdef __cplusplus
}
#endif
#endif
