/*
 * test_types.c - values round-trip identically on every engine: int64
 * extremes, doubles, booleans, UTF-8 text, empty and 1 MiB blobs, NULLs of
 * every type, timestamps before 1970 and after 2038; getters convert and
 * refuse the same way; timestamp text is the same on both engines.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void make_table(strata_db *db)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "CREATE TABLE v (k INTEGER PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, b BOOLEAN, "
             "s TEXT, bl %s, ts TIMESTAMP)",
             th_blob_type());
    th_exec(db, sql);
}

static strata_stmt *fetch_row(strata_db *db, int64_t k)
{
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT i, d, b, s, bl, ts FROM v WHERE k = ?"),
          STRATA_OK);
    strata_stmt_bind_int64(st, 1, k);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    return st;
}

START_TEST(types_integers_and_doubles)
{
    static const int64_t ints[] = {0, 1, -1, INT64_MAX, INT64_MIN, 2147483648LL, -2147483649LL};
    static const double dbls[] = {0.0, 0.1, -1e300, 1.5e-300, 123456.789, -0.5};
    strata_db *db = th_open();
    make_table(db);
    strata_stmt *ins;
    th_rc(db, strata_stmt_prepare(&ins, db, "INSERT INTO v (k, i, d) VALUES (?, ?, ?)"), STRATA_OK);
    for (int k = 0; k < 7; k++) {
        strata_stmt_bind_int64(ins, 1, k);
        strata_stmt_bind_int64(ins, 2, ints[k]);
        strata_stmt_bind_double(ins, 3, dbls[k % 6]);
        th_rc(db, strata_stmt_step(ins), STRATA_DONE);
        ck_assert_int_eq(strata_stmt_changes(ins), 1);
    }
    strata_stmt_finalize(ins);
    for (int k = 0; k < 7; k++) {
        strata_stmt *st = fetch_row(db, k);
        int64_t i;
        double d;
        ck_assert_int_eq(strata_stmt_column_int64(st, 0, &i), STRATA_OK);
        ck_assert_msg(i == ints[k], "row %d: %lld", k, (long long)i);
        ck_assert_int_eq(strata_stmt_column_type(st, 0), STRATA_TYPE_INT64);
        ck_assert_int_eq(strata_stmt_column_double(st, 1, &d), STRATA_OK);
        ck_assert_msg(d == dbls[k % 6], "row %d: %.17g", k, d);
        ck_assert_int_eq(strata_stmt_column_type(st, 1), STRATA_TYPE_DOUBLE);
        strata_stmt_finalize(st);
    }
    strata_db_close(db);
}
END_TEST

START_TEST(types_bool_text_blob)
{
    static const char utf8[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac "
                               "\xf0\x9f\x8e\x89";
    size_t big = 1024 * 1024;
    unsigned char *blob = malloc(big);
    for (size_t i = 0; i < big; i++)
        blob[i] = (unsigned char)(i * 7 + (i >> 8));
    strata_db *db = th_open();
    make_table(db);
    strata_stmt *ins;
    th_rc(db, strata_stmt_prepare(&ins, db, "INSERT INTO v (k, b, s, bl) VALUES (?, ?, ?, ?)"),
          STRATA_OK);
    strata_stmt_bind_int64(ins, 1, 1);
    strata_stmt_bind_bool(ins, 2, 1);
    strata_stmt_bind_text(ins, 3, utf8, -1);
    strata_stmt_bind_blob(ins, 4, blob, big);
    th_rc(db, strata_stmt_step(ins), STRATA_DONE);
    strata_stmt_bind_int64(ins, 1, 2);
    strata_stmt_bind_bool(ins, 2, 0);
    strata_stmt_bind_text(ins, 3, "", 0);
    strata_stmt_bind_blob(ins, 4, "", 0);
    th_rc(db, strata_stmt_step(ins), STRATA_DONE);
    strata_stmt_finalize(ins);

    strata_stmt *st = fetch_row(db, 1);
    int b = -1;
    const char *s;
    const void *bl;
    size_t n;
    ck_assert_int_eq(strata_stmt_column_bool(st, 2, &b), STRATA_OK);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(strata_stmt_column_type(st, 2), STRATA_TYPE_BOOL);
    ck_assert_int_eq(strata_stmt_column_text(st, 3, &s, &n), STRATA_OK);
    ck_assert_str_eq(s, utf8);
    ck_assert_uint_eq(n, strlen(utf8));
    ck_assert_int_eq(strata_stmt_column_type(st, 3), STRATA_TYPE_TEXT);
    ck_assert_int_eq(strata_stmt_column_blob(st, 4, &bl, &n), STRATA_OK);
    ck_assert_uint_eq(n, big);
    ck_assert_msg(memcmp(bl, blob, big) == 0, "1 MiB blob differs");
    ck_assert_int_eq(strata_stmt_column_type(st, 4), STRATA_TYPE_BLOB);
    strata_stmt_finalize(st);

    st = fetch_row(db, 2);
    ck_assert_int_eq(strata_stmt_column_bool(st, 2, &b), STRATA_OK);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(strata_stmt_column_text(st, 3, &s, &n), STRATA_OK);
    ck_assert_str_eq(s, "");
    ck_assert_int_eq(strata_stmt_column_blob(st, 4, &bl, &n), STRATA_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_nonnull(bl);
    ck_assert_int_eq(strata_stmt_column_type(st, 4), STRATA_TYPE_BLOB);
    strata_stmt_finalize(st);
    free(blob);
    strata_db_close(db);
}
END_TEST

START_TEST(types_nulls)
{
    strata_db *db = th_open();
    make_table(db);
    strata_stmt *ins;
    th_rc(db,
          strata_stmt_prepare(&ins, db,
                              "INSERT INTO v (k, i, d, b, s, bl, ts) VALUES (?, ?, ?, ?, ?, ?, ?)"),
          STRATA_OK);
    strata_stmt_bind_int64(ins, 1, 1);
    for (int p = 2; p <= 7; p++)
        strata_stmt_bind_null(ins, p);
    strata_stmt_bind_text(ins, 5, NULL, -1); /* NULL text is NULL too */
    th_rc(db, strata_stmt_step(ins), STRATA_DONE);
    strata_stmt_finalize(ins);
    strata_stmt *st = fetch_row(db, 1);
    int64_t i = 5;
    double d = 5;
    int b = 5;
    const char *s = "x";
    const void *bl = "x";
    size_t n = 5;
    strata_timestamp ts = 5;
    for (int c = 0; c < 6; c++) {
        ck_assert_int_eq(strata_stmt_column_is_null(st, c), 1);
        ck_assert_int_eq(strata_stmt_column_type(st, c), STRATA_TYPE_NULL);
    }
    ck_assert_int_eq(strata_stmt_column_int64(st, 0, &i), STRATA_NULL);
    ck_assert_int_eq(strata_stmt_column_double(st, 1, &d), STRATA_NULL);
    ck_assert_int_eq(strata_stmt_column_bool(st, 2, &b), STRATA_NULL);
    ck_assert_int_eq(strata_stmt_column_text(st, 3, &s, &n), STRATA_NULL);
    ck_assert_int_eq(strata_stmt_column_blob(st, 4, &bl, &n), STRATA_NULL);
    ck_assert_int_eq(strata_stmt_column_timestamp(st, 5, &ts), STRATA_NULL);
    ck_assert(i == 0 && d == 0 && b == 0 && s == NULL && bl == NULL && n == 0 && ts == 0);
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

START_TEST(types_timestamps)
{
    static const struct {
        int y, mo, d, h, mi, s, us;
    } when[] = {
        {1970, 1, 1, 0, 0, 0, 0},           {1969, 12, 31, 23, 59, 59, 999999},
        {1900, 1, 1, 12, 0, 0, 1},          {2038, 1, 19, 3, 14, 8, 0},
        {2100, 2, 28, 12, 34, 56, 789012},  {1, 1, 1, 0, 0, 0, 0},
        {9999, 12, 31, 23, 59, 59, 999999}, {2024, 2, 29, 6, 7, 8, 90000},
    };
    strata_db *db = th_open();
    make_table(db);
    strata_stmt *ins;
    th_rc(db, strata_stmt_prepare(&ins, db, "INSERT INTO v (k, ts) VALUES (?, ?)"), STRATA_OK);
    strata_timestamp want[8];
    for (int k = 0; k < 8; k++) {
        ck_assert_int_eq(strata_timestamp_from_parts(&want[k], when[k].y, when[k].mo, when[k].d,
                                                     when[k].h, when[k].mi, when[k].s, when[k].us),
                         STRATA_OK);
        strata_stmt_bind_int64(ins, 1, k);
        th_rc(db, strata_stmt_bind_timestamp(ins, 2, want[k]), STRATA_OK);
        th_rc(db, strata_stmt_step(ins), STRATA_DONE);
    }
    strata_stmt_finalize(ins);
    ck_assert(want[0] == 0 && want[1] == -1 && want[3] == INT64_C(2147483648) * 1000000);
    for (int k = 0; k < 8; k++) {
        strata_stmt *st = fetch_row(db, k);
        strata_timestamp got;
        ck_assert_int_eq(strata_stmt_column_type(st, 5), STRATA_TYPE_TIMESTAMP);
        ck_assert_int_eq(strata_stmt_column_timestamp(st, 5, &got), STRATA_OK);
        ck_assert_msg(got == want[k], "row %d: %lld != %lld", k, (long long)got,
                      (long long)want[k]);
        strata_stmt_finalize(st);
    }
    /* The stored text is the same on both engines. */
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT CAST(ts AS TEXT) FROM v WHERE k = 4"),
          STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    const char *text;
    ck_assert_int_eq(strata_stmt_column_text(st, 0, &text, NULL), STRATA_OK);
    ck_assert_str_eq(text, "2100-02-28 12:34:56.789012");
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

START_TEST(types_timestamp_text)
{
    strata_timestamp ts;
    char buf[STRATA_TIMESTAMP_BUFSIZE];
    ck_assert_int_eq(strata_timestamp_parse(&ts, "2024-03-01T10:00:00Z", 20), STRATA_OK);
    ck_assert_int_eq(strata_timestamp_format(ts, buf, sizeof buf), STRATA_OK);
    ck_assert_str_eq(buf, "2024-03-01 10:00:00.000000");
    const char *off = "2024-03-01 12:30:00.5+02:30";
    ck_assert_int_eq(strata_timestamp_parse(&ts, off, strlen(off)), STRATA_OK);
    strata_timestamp_format(ts, buf, sizeof buf);
    ck_assert_str_eq(buf, "2024-03-01 10:00:00.500000");
    off = "1999-12-31 23:00:00-05";
    ck_assert_int_eq(strata_timestamp_parse(&ts, off, strlen(off)), STRATA_OK);
    strata_timestamp_format(ts, buf, sizeof buf);
    ck_assert_str_eq(buf, "2000-01-01 04:00:00.000000");
    ck_assert_int_eq(strata_timestamp_parse(&ts, "2024-02-29", 10), STRATA_OK);
    ck_assert_int_eq(strata_timestamp_parse(&ts, "2023-02-29", 10), STRATA_E_RANGE);
    ck_assert_int_eq(strata_timestamp_parse(&ts, "2024-13-01", 10), STRATA_E_RANGE);
    ck_assert_int_eq(strata_timestamp_parse(&ts, "yesterday", 9), STRATA_E_TYPE);
    ck_assert_int_eq(strata_timestamp_parse(&ts, "2024-01-01 10:00 junk", 21), STRATA_E_TYPE);
    ck_assert_int_eq(strata_timestamp_format(INT64_MAX, buf, sizeof buf), STRATA_E_RANGE);
    /* The engine agrees with our arithmetic for a date far from the epoch. */
    strata_db *db = th_open();
    ck_assert_int_eq(
        th_int(db,
               th_is_pg()
                   ? "SELECT CAST(EXTRACT(EPOCH FROM TIMESTAMP '1600-03-01 00:00:00') AS BIGINT)"
                   : "SELECT CAST(strftime('%s', '1600-03-01 00:00:00') AS INTEGER)"),
        INT64_C(-11670912000));
    ck_assert_int_eq(strata_timestamp_from_parts(&ts, 1600, 3, 1, 0, 0, 0, 0), STRATA_OK);
    ck_assert(ts == INT64_C(-11670912000) * 1000000);
    strata_db_close(db);
}
END_TEST

START_TEST(types_conversions_and_refusals)
{
    strata_db *db = th_open();
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT 'abc', '42', 7, 2.5"), STRATA_OK);
    int64_t i;
    double d;
    const char *t;
    th_rc(db, strata_stmt_column_int64(st, 0, &i), STRATA_E_MISUSE); /* no row yet */
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    th_rc(db, strata_stmt_column_int64(st, 0, &i), STRATA_E_TYPE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "column 0"));
    th_rc(db, strata_stmt_column_int64(st, 1, &i), STRATA_OK);
    ck_assert_int_eq(i, 42);
    th_rc(db, strata_stmt_column_text(st, 2, &t, NULL), STRATA_OK);
    ck_assert_str_eq(t, "7");
    th_rc(db, strata_stmt_column_double(st, 3, &d), STRATA_OK);
    ck_assert(d == 2.5);
    th_rc(db, strata_stmt_column_int64(st, 3, &i), STRATA_E_TYPE);
    th_rc(db, strata_stmt_column_int64(st, 4, &i), STRATA_E_RANGE);
    th_rc(db, strata_stmt_column_int64(st, -1, &i), STRATA_E_RANGE);
    ck_assert_int_eq(strata_stmt_step(st), STRATA_DONE);
    strata_stmt_finalize(st);

    th_rc(db, strata_stmt_prepare(&st, db, "SELECT ?"), STRATA_OK);
    th_rc(db, strata_stmt_bind_text(st, 1, "a\0b", 3), STRATA_E_DATA);
    th_rc(db, strata_stmt_bind_text(st, 1, "bad \xff utf8", -1), STRATA_E_DATA);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "not valid UTF-8 (at byte 4)"));
    th_rc(db, strata_stmt_bind_text(st, 1, "\xed\xa0\x80", -1), STRATA_E_DATA); /* surrogate */
    th_rc(db, strata_stmt_bind_int64(st, 0, 1), STRATA_E_RANGE);
    th_rc(db, strata_stmt_bind_int64(st, 2, 1), STRATA_E_RANGE);
    th_rc(db, strata_stmt_bind_timestamp(st, 1, INT64_MAX), STRATA_E_RANGE);
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    (void)e;
    tcase_add_test(tc, types_integers_and_doubles);
    tcase_add_test(tc, types_bool_text_blob);
    tcase_add_test(tc, types_nulls);
    tcase_add_test(tc, types_timestamps);
    tcase_add_test(tc, types_timestamp_text);
    tcase_add_test(tc, types_conversions_and_refusals);
}

static Suite *build(void) { return th_suite("types", add); }

int main(void) { return th_run(build); }
