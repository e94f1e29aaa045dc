/*
 * fuzz.h - what every fuzz target in tests/fuzz/ shares.
 *
 * A target is one function, LLVMFuzzerTestOneInput(), that takes any bytes,
 * runs a part of strata on them and abort()s (through fuzz_fail) when an
 * invariant does not hold; the sanitizers catch memory errors, undefined
 * behaviour and leaks.  It is linked two ways: with clang's libFuzzer for
 * `make fuzz` (tests/fuzz/fuzz.mk), and with replay.c, an ordinary main()
 * that feeds it every file of its committed corpus, as one test of
 * `make check` (docs/testing.md).
 */
#ifndef STRATA_FUZZ_H
#define STRATA_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Print "fuzz: <what>" and abort: an invariant does not hold. */
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 1, 2)))
#endif
void fuzz_fail(const char *fmt, ...);

/* The input as a NUL-terminated string (cut at its first NUL byte);
 * caller frees.  Aborts when out of memory. */
char *fuzz_cstr(const uint8_t *data, size_t size);

#endif
