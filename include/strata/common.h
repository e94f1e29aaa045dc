/*
 * strata/common.h - export macro, version and memory release shared by every
 * public header.  Included by <strata.h>; rarely needed on its own.
 */
#ifndef STRATA_COMMON_H
#define STRATA_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define STRATA_API __attribute__((visibility("default")))
#define STRATA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define STRATA_API
#define STRATA_PRINTF(f, a)
#endif

#define STRATA_VERSION_MAJOR 0
#define STRATA_VERSION_MINOR 1
#define STRATA_VERSION_PATCH 0
#define STRATA_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/** The library's version string, e.g. "0.1.0" (static storage). */
STRATA_API const char *strata_version(void);

/** Release memory that a strata call documented as "caller frees with
 *  strata_free()".  Accepts NULL. */
STRATA_API void strata_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
