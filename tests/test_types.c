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
#include "strata/sys/driver.h"

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

    /* PostgreSQL's infinite timestamps (text on SQLite) are past the
     * range, and said to be, not "not a timestamp". */
    th_exec(db, "INSERT INTO v (k, ts) VALUES (8, 'infinity'), (9, '-infinity')");
    for (int k = 8; k <= 9; k++) {
        st = fetch_row(db, k);
        strata_timestamp got = 1;
        ck_assert_int_eq(strata_stmt_column_timestamp(st, 5, &got), STRATA_E_RANGE);
        ck_assert_int_eq(got, 0);
        ck_assert_msg(strstr(strata_db_errmsg(db),
                             k == 8 ? "(ts): the timestamp infinity is past the range"
                                    : "(ts): the timestamp -infinity is past the range"),
                      "%s", strata_db_errmsg(db));
        strata_stmt_finalize(st);
    }
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
    /* A zone's offset that moves the moment out of the years 1 to 9999. */
    ck_assert_int_eq(strata_timestamp_parse(&ts, "0001-01-01 00:00:00+01", 22), STRATA_E_RANGE);
    ck_assert_int_eq(strata_timestamp_parse(&ts, "9999-12-31 23:59:59-01", 22), STRATA_E_RANGE);
    ck_assert_int_eq(strata_timestamp_parse(&ts, "0001-01-01 01:00:00+01", 22), STRATA_OK);
    char back[STRATA_TIMESTAMP_BUFSIZE];
    ck_assert_int_eq(strata_timestamp_format(ts, back, sizeof back), STRATA_OK);
    ck_assert_str_eq(back, "0001-01-01 00:00:00.000000");
    ck_assert_int_eq(strata_timestamp_parse(&ts, "yesterday", 9), STRATA_E_TYPE);
    /* The positional reader takes 0 to 6 fractional digits (PostgreSQL
     * drops trailing zeros), and leaves anything else to the full one. */
    static const struct {
        const char *in, *out;
    } frac[] = {{"2024-03-01 10:00:00", "2024-03-01 10:00:00.000000"},
                {"2024-03-01 10:00:00.5", "2024-03-01 10:00:00.500000"},
                {"2024-03-01 10:00:00.05", "2024-03-01 10:00:00.050000"},
                {"2024-03-01 10:00:00.12345", "2024-03-01 10:00:00.123450"},
                {"2024-03-01 10:00:00.123456", "2024-03-01 10:00:00.123456"},
                {"2024-03-01 10:00:00.1234567", "2024-03-01 10:00:00.123456"}};
    for (size_t i = 0; i < sizeof frac / sizeof frac[0]; i++) {
        ck_assert_int_eq(strata_timestamp_parse(&ts, frac[i].in, strlen(frac[i].in)), STRATA_OK);
        strata_timestamp_format(ts, buf, sizeof buf);
        ck_assert_str_eq(buf, frac[i].out);
    }
    ck_assert_int_eq(strata_timestamp_parse(&ts, "2024-03-01 10:00:00.", 20), STRATA_E_TYPE);
    ck_assert_int_eq(strata_timestamp_parse(&ts, "2024-03-01 10:00:00.5x", 22), STRATA_E_TYPE);
    ck_assert_int_eq(strata_timestamp_parse(&ts, "2024-03-01 10:00:00.-5", 22), STRATA_E_TYPE);
    ck_assert_int_eq(strata_timestamp_parse(&ts, "2024-01-01 10:00 junk", 21), STRATA_E_TYPE);
    ck_assert_int_eq(strata_timestamp_format(INT64_MAX, buf, sizeof buf), STRATA_E_RANGE);
    /* Every place of the written form, at the ends of the range too. */
    static const char *const round_trip[] = {"0001-01-01 00:00:00.000000",
                                             "9999-12-31 23:59:59.999999",
                                             "0987-06-05 04:03:02.010203",
                                             "1970-01-01 00:00:00.000001", "2000-10-20 19:09:59.900009"};
    for (size_t i = 0; i < sizeof round_trip / sizeof round_trip[0]; i++) {
        ck_assert_int_eq(strata_timestamp_parse(&ts, round_trip[i], strlen(round_trip[i])),
                         STRATA_OK);
        ck_assert_int_eq(strata_timestamp_format(ts, buf, sizeof buf), STRATA_OK);
        ck_assert_str_eq(buf, round_trip[i]);
    }
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
    /* Long ASCII runs are checked eight bytes at a time: what follows them
     * is still found, at its place. */
    th_rc(db, strata_stmt_bind_text(st, 1, "0123456789abcdef\xff", -1), STRATA_E_DATA);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "not valid UTF-8 (at byte 16)"));
    th_rc(db, strata_stmt_bind_text(st, 1, "0123456789\xe2\x82", -1), STRATA_E_DATA);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "not valid UTF-8 (at byte 10)"));
    th_rc(db, strata_stmt_bind_text(st, 1, "01234567\xc3\xa9 then ASCII again", -1), STRATA_OK);
    th_rc(db, strata_stmt_bind_int64(st, 0, 1), STRATA_E_RANGE);
    th_rc(db, strata_stmt_bind_int64(st, 2, 1), STRATA_E_RANGE);
    th_rc(db, strata_stmt_bind_timestamp(st, 1, INT64_MAX), STRATA_E_RANGE);
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

/* Each getter on each decoded type: the conversions the getters promise,
 * and STRATA_E_TYPE naming the column and both types where there is none. */
START_TEST(types_every_getter_on_every_type)
{
    strata_db *db = th_open();
    make_table(db);
    strata_stmt *st;
    th_rc(db,
          strata_stmt_prepare(&st, db,
                              "INSERT INTO v (k, i, d, b, s, bl, ts) VALUES (?, ?, ?, ?, ?, ?, ?)"),
          STRATA_OK);
    strata_timestamp ts;
    ck_assert_int_eq(strata_timestamp_from_parts(&ts, 2024, 3, 1, 10, 0, 0, 250000), STRATA_OK);
    /* Every kind of value through strata_stmt_bind_value. */
    strata_value vals[] = {strata_int(1),  strata_int(7),       strata_double(3.0),
                           strata_bool(1), strata_text("TRUE"), strata_blob_value("x\0y", 3),
                           strata_time(ts)};
    for (int i = 0; i < 7; i++)
        th_rc(db, strata_stmt_bind_value(st, i + 1, &vals[i]), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_DONE);
    strata_value null = strata_text(NULL), odd = {.type = (strata_type)99};
    ck_assert_int_eq(null.type, STRATA_TYPE_NULL);
    th_rc(db, strata_stmt_bind_value(st, 7, &odd), STRATA_E_MISUSE);
    th_rc(db, strata_stmt_bind_value(st, 7, NULL), STRATA_E_MISUSE);
    th_rc(db, strata_stmt_bind_blob(st, 6, NULL, 4), STRATA_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "parameter 6: blob data is NULL"));
    vals[0] = strata_int(2);
    vals[4] = strata_text("f");
    for (int i = 0; i < 7; i++)
        th_rc(db, strata_stmt_bind_value(st, i + 1, i == 5 || i == 6 ? &null : &vals[i]),
              STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_DONE);
    strata_stmt_finalize(st);

    st = fetch_row(db, 1);
    ck_assert_int_eq(strata_stmt_column_type(st, 5), STRATA_TYPE_TIMESTAMP);
    int64_t i;
    double d;
    int b;
    const char *t;
    size_t len;
    const void *blob;
    strata_timestamp got;
    /* A whole double is an integer; integers and booleans are doubles. */
    th_rc(db, strata_stmt_column_int64(st, 1, &i), STRATA_OK);
    ck_assert_int_eq(i, 3);
    th_rc(db, strata_stmt_column_double(st, 0, &d), STRATA_OK);
    ck_assert(d == 7.0);
    th_rc(db, strata_stmt_column_double(st, 2, &d), STRATA_OK);
    ck_assert(d == 1.0);
    /* Text "TRUE" is a boolean; a timestamp prints as strata's text. */
    th_rc(db, strata_stmt_column_bool(st, 3, &b), STRATA_OK);
    ck_assert_int_eq(b, 1);
    th_rc(db, strata_stmt_column_text(st, 5, &t, &len), STRATA_OK);
    ck_assert_str_eq(t, "2024-03-01 10:00:00.250000");
    ck_assert_uint_eq(len, 26);
    th_rc(db, strata_stmt_column_text(st, 2, &t, &len), STRATA_OK);
    ck_assert_str_eq(t, "true");
    ck_assert_uint_eq(len, 4);
    /* Text reads as a blob, the blob keeps its NUL byte. */
    th_rc(db, strata_stmt_column_blob(st, 3, &blob, &len), STRATA_OK);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(memcmp(blob, "TRUE", 4), 0);
    th_rc(db, strata_stmt_column_blob(st, 4, &blob, &len), STRATA_OK);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(memcmp(blob, "x\0y", 3), 0);
    /* Refusals name the column, the value's type and what was asked. */
    th_rc(db, strata_stmt_column_bool(st, 4, &b), STRATA_E_TYPE);
    ck_assert_msg(strstr(strata_db_errmsg(db), "column 4 (bl): a blob value is not a boolean"),
                  "%s", strata_db_errmsg(db));
    th_rc(db, strata_stmt_column_int64(st, 4, &i), STRATA_E_TYPE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "a blob value is not an integer"));
    th_rc(db, strata_stmt_column_double(st, 4, &d), STRATA_E_TYPE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "a blob value is not a number"));
    th_rc(db, strata_stmt_column_text(st, 4, &t, &len), STRATA_E_TYPE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "a blob value is not text"));
    ck_assert_ptr_null(t);
    th_rc(db, strata_stmt_column_blob(st, 0, &blob, &len), STRATA_E_TYPE);
    ck_assert_msg(strstr(strata_db_errmsg(db), "column 0 (i): a int64 value is not a blob"), "%s",
                  strata_db_errmsg(db));
    th_rc(db, strata_stmt_column_timestamp(st, 0, &got), STRATA_E_TYPE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "is not a timestamp"));
    th_rc(db, strata_stmt_column_int64(st, 5, &i), STRATA_E_TYPE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "a timestamp value is not an integer"));
    th_rc(db, strata_stmt_column_bool(st, 1, &b), STRATA_E_TYPE); /* 3.0 */
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "a double value is not a boolean"));
    th_rc(db, strata_stmt_column_bool(st, 0, &b), STRATA_E_TYPE); /* 7 */
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "is not a boolean (0 or 1)"));
    /* An output pointer is required. */
    th_rc(db, strata_stmt_column_int64(st, 0, NULL), STRATA_E_MISUSE);
    th_rc(db, strata_stmt_column_double(st, 0, NULL), STRATA_E_MISUSE);
    th_rc(db, strata_stmt_column_bool(st, 2, NULL), STRATA_E_MISUSE);
    th_rc(db, strata_stmt_column_text(st, 3, NULL, &len), STRATA_E_MISUSE);
    th_rc(db, strata_stmt_column_blob(st, 4, &blob, NULL), STRATA_E_MISUSE);
    th_rc(db, strata_stmt_column_timestamp(st, 5, NULL), STRATA_E_MISUSE);
    strata_stmt_finalize(st);

    /* Row 2: "f" is false; NULLs give STRATA_NULL from every getter. */
    st = fetch_row(db, 2);
    th_rc(db, strata_stmt_column_bool(st, 3, &b), STRATA_OK);
    ck_assert_int_eq(b, 0);
    th_rc(db, strata_stmt_column_blob(st, 4, &blob, &len), STRATA_NULL);
    th_rc(db, strata_stmt_column_timestamp(st, 5, &got), STRATA_NULL);
    strata_stmt_finalize(st);

    /* Booleans from text, as PostgreSQL and people write them. */
    static const struct {
        const char *text;
        int rc, value;
    } words[] = {{"t", STRATA_OK, 1},       {"True", STRATA_OK, 1},  {"1", STRATA_OK, 1},
                 {"F", STRATA_OK, 0},       {"false", STRATA_OK, 0}, {"0", STRATA_OK, 0},
                 {"yes", STRATA_E_TYPE, 0}, {"", STRATA_E_TYPE, 0}};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        th_rc(db, strata_stmt_prepare(&st, db, "SELECT CAST(? AS TEXT)"), STRATA_OK);
        strata_stmt_bind_text(st, 1, words[k].text, -1);
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
        b = -1;
        int rc = strata_stmt_column_bool(st, 0, &b);
        ck_assert_msg(rc == words[k].rc, "'%s': %s", words[k].text, strata_errname(rc));
        ck_assert_int_eq(b, words[k].value);
        if (rc != STRATA_OK)
            ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "a text value is not a boolean"));
        strata_stmt_finalize(st);
    }
    /* A timestamp written as text in a text column reads as a timestamp. */
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT CAST(? AS TEXT), CAST(? AS TEXT)"), STRATA_OK);
    strata_stmt_bind_text(st, 1, "2024-03-01T10:00:00.25Z", -1);
    strata_stmt_bind_text(st, 2, "not a time", -1);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    th_rc(db, strata_stmt_column_timestamp(st, 0, &got), STRATA_OK);
    ck_assert(got == ts);
    th_rc(db, strata_stmt_column_timestamp(st, 1, &got), STRATA_E_TYPE);
    ck_assert_ptr_nonnull(strstr(strata_db_errmsg(db), "a text value is not a timestamp"));
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

/* Timestamps in the form strata writes are read by position, their digits
 * checked eight bytes at a time: a byte that is not a digit is refused in
 * the place of every digit, and every digit counts. */
START_TEST(types_canonical_timestamp_every_place)
{
    const char *good = "2024-03-01 10:20:30.123456";
    static const char wrong[] = {'/', ':', 'a', ' ', '\0', (char)0xff, (char)0xfa, '-', '.'};
    char t[32];
    strata_timestamp ts, want;
    for (size_t len = 19; len <= 26; len++) {
        if (len == 20)
            continue;
        for (size_t i = 0; i < len; i++) {
            bool digit = good[i] >= '0' && good[i] <= '9';
            for (size_t k = 0; digit && k < sizeof wrong; k++) {
                memcpy(t, good, len);
                t[i] = wrong[k];
                int rc = strata_timestamp_parse(&ts, t, len);
                ck_assert_msg(rc != STRATA_OK, "byte %zu as 0x%02x in %zu bytes: read",
                              i, (unsigned char)wrong[k], len);
            }
            /* A byte above 0xf9 just before a digit does not hide it. */
            if (i + 1 < len && good[i + 1] >= '0' && good[i + 1] <= '9' && digit) {
                memcpy(t, good, len);
                t[i] = (char)0xfe;
                ck_assert_int_ne(strata_timestamp_parse(&ts, t, len), STRATA_OK);
            }
        }
    }
    /* Each digit changed is read. */
    for (int d = 0; d <= 9; d++) {
        char text[32];
        snprintf(text, sizeof text, "%d99%d-1%d-1%d 1%d:%d%d:%d%d.%d%d%d%d%d%d", d ? d : 1, d,
                 d % 3, d % 2, d % 4, d % 6, d, d % 6, d, d, d, d, d, d, 9 - d);
        ck_assert_int_eq(strata_timestamp_parse(&ts, text, strlen(text)), STRATA_OK);
        ck_assert_int_eq(strata_timestamp_from_parts(&want, (d ? d : 1) * 1000 + 990 + d,
                                                     10 + d % 3, 10 + d % 2, 10 + d % 4,
                                                     (d % 6) * 10 + d, (d % 6) * 10 + d,
                                                     d * 111110 + 9 - d),
                         STRATA_OK);
        ck_assert_msg(ts == want, "%s", text);
    }
}
END_TEST

/* The names of the value types, and timestamp text at the edges of what
 * strata_timestamp_parse accepts. */
START_TEST(types_names_and_timestamp_text_edges)
{
    ck_assert_str_eq(strata_type_name(STRATA_TYPE_NULL), "null");
    ck_assert_str_eq(strata_type_name(STRATA_TYPE_INT64), "int64");
    ck_assert_str_eq(strata_type_name(STRATA_TYPE_DOUBLE), "double");
    ck_assert_str_eq(strata_type_name(STRATA_TYPE_TEXT), "text");
    ck_assert_str_eq(strata_type_name(STRATA_TYPE_BLOB), "blob");
    ck_assert_str_eq(strata_type_name(STRATA_TYPE_BOOL), "bool");
    ck_assert_str_eq(strata_type_name(STRATA_TYPE_TIMESTAMP), "timestamp");
    ck_assert_str_eq(strata_type_name((strata_type)99), "unknown");

    strata_timestamp ts, want;
    char buf[STRATA_TIMESTAMP_BUFSIZE];
    static const struct {
        const char *text;
        int rc;
    } bad[] = {
        {"2024-01-01 10", STRATA_E_TYPE},        /* no minutes */
        {"2024-01-01 10:5", STRATA_E_TYPE},      /* one digit */
        {"2024-01-01 10:00:", STRATA_E_TYPE},    /* no seconds */
        {"2024-01-01 10:00:00.", STRATA_E_TYPE}, /* no fraction */
        {"2024-01-01 10:00:00+", STRATA_E_TYPE}, /* no offset */
        {"2024-01-01 10:00:00+05:3", STRATA_E_TYPE},
        {"2024-01-01 10:00:00+05:30:1", STRATA_E_TYPE},
        {"2024-01-01 10:00:00+16", STRATA_E_RANGE},
        {"2024-01-01 10:00:00+05:60", STRATA_E_RANGE},
        {"2024-01-01 10:00:00+05:30:60", STRATA_E_RANGE},
        {"2024-01-01 24:00:00", STRATA_E_RANGE},
        {"0000-01-01", STRATA_E_RANGE},
        {"2024-1-01", STRATA_E_TYPE},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = strata_timestamp_parse(&ts, bad[i].text, strlen(bad[i].text));
        ck_assert_msg(rc == bad[i].rc, "%s: %s", bad[i].text, strata_errname(rc));
    }
    /* Digits past microseconds are cut; offsets with seconds (PostgreSQL's
     * local mean time zones) count. */
    const char *s = "2024-01-01 10:00:00.1234567-00:19:32";
    ck_assert_int_eq(strata_timestamp_parse(&ts, s, strlen(s)), STRATA_OK);
    ck_assert_int_eq(strata_timestamp_format(ts, buf, sizeof buf), STRATA_OK);
    ck_assert_str_eq(buf, "2024-01-01 10:19:32.123456");
    s = "2024-01-01t10:00z";
    ck_assert_int_eq(strata_timestamp_parse(&ts, s, strlen(s)), STRATA_OK);
    ck_assert_int_eq(strata_timestamp_from_parts(&want, 2024, 1, 1, 10, 0, 0, 0), STRATA_OK);
    ck_assert(ts == want);
    /* Misuse: no output, no text, a buffer too small. */
    ck_assert_int_eq(strata_timestamp_parse(NULL, s, strlen(s)), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_timestamp_parse(&ts, NULL, 0), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_timestamp_format(ts, buf, STRATA_TIMESTAMP_BUFSIZE - 1),
                     STRATA_E_MISUSE);
    ck_assert_int_eq(strata_timestamp_format(ts, NULL, sizeof buf), STRATA_E_MISUSE);
    ck_assert_int_eq(strata_timestamp_from_parts(NULL, 2024, 1, 1, 0, 0, 0, 0), STRATA_E_MISUSE);

    /* A PostgreSQL session in a zone whose old offset has seconds prints
     * them; the value read back is still the same instant. */
    strata_db *db = th_open();
    ck_assert_int_eq(strata_timestamp_from_parts(&want, 1900, 1, 1, 0, 0, 0, 0), STRATA_OK);
    strata_stmt *st;
    if (th_is_pg()) {
        th_exec(db, "SET TIME ZONE 'Europe/Amsterdam'");
        th_rc(db,
              strata_stmt_prepare(&st, db,
                                  "SELECT TIMESTAMPTZ '1900-01-01 00:00:00+00', "
                                  "CAST(TIMESTAMPTZ '1900-01-01 00:00:00+00' AS TEXT)"),
              STRATA_OK);
    } else {
        th_rc(db,
              strata_stmt_prepare(&st, db,
                                  "SELECT '1900-01-01 00:19:32+00:19:32', "
                                  "'1900-01-01 00:19:32+00:19:32'"),
              STRATA_OK);
    }
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    const char *t;
    th_rc(db, strata_stmt_column_text(st, 1, &t, NULL), STRATA_OK);
    ck_assert_str_eq(t, "1900-01-01 00:19:32+00:19:32");
    th_rc(db, strata_stmt_column_timestamp(st, 0, &ts), STRATA_OK);
    ck_assert(ts == want);
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

/* A NUMERIC column reads back as PostgreSQL prints the same value: on
 * SQLite, which keeps it as a double or an integer, through the decimal
 * formatter; rounded half away from zero to the declared scale. */
START_TEST(types_numeric_text_alike)
{
    static const struct {
        double d;
        int scale;
        const char *want;
    } fmt[] = {{0.125, 2, "0.13"},     {1.005, 2, "1.01"},   {19.999, 2, "20.00"},
               {-0.001, 2, "0.00"},    {2.5, 0, "3"},        {-2.5, 0, "-3"},
               {12.7, 0, "13"},        {0.00001, -1, "0.00001"},
               {1e20, -1, "100000000000000000000"},          {1.5, -1, "1.5"},
               {-0.0, 1, "0.0"},       {123.456, 4, "123.4560"}};
    for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
        char buf[400];
        ck_assert_int_eq(strata_driver_format_decimal(fmt[i].d, fmt[i].scale, buf, sizeof buf),
                         STRATA_OK);
        ck_assert_msg(!strcmp(buf, fmt[i].want), "%.17g at scale %d: %s, want %s", fmt[i].d,
                      fmt[i].scale, buf, fmt[i].want);
    }
    char small[4];
    ck_assert_int_eq(strata_driver_format_decimal(12345.5, 2, small, sizeof small),
                     STRATA_E_RANGE);
    /* Written as numbers by raw SQL, read as the engines' text. */
    strata_db *db = th_open();
    th_exec(db, "CREATE TABLE n (id INTEGER PRIMARY KEY, a NUMERIC(10, 2), b DECIMAL(10), "
                "c NUMERIC)");
    th_exec(db, "INSERT INTO n (id, a, b, c) VALUES (1, 0.125, 12.7, 0.00001), "
                "(2, 19.999, 2.5, 1e20), (3, 7, 3, 1.5)");
    static const char *const want[3][3] = {{"0.13", "13", "0.00001"},
                                           {"20.00", "3", "100000000000000000000"},
                                           {"7.00", "3", "1.5"}};
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT a, b, c FROM n ORDER BY id"), STRATA_OK);
    for (int r = 0; r < 3; r++) {
        ck_assert_int_eq(strata_stmt_step(st), STRATA_ROW);
        for (int c = 0; c < 3; c++) {
            const char *t = NULL;
            size_t n;
            th_rc(db, strata_stmt_column_text(st, c, &t, &n), STRATA_OK);
            /* PostgreSQL keeps a plain NUMERIC's digits as written. */
            const char *w = want[r][c];
            if (th_is_pg() && r == 1 && c == 2)
                w = "100000000000000000000";
            ck_assert_msg(!strcmp(t, w), "row %d column %d: %s, want %s", r, c, t, w);
        }
    }
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

/* A blob is a blob on every engine: PostgreSQL is told so (bytea), and
 * where the statement needs another type it refuses the blob instead of
 * reading its bytes as that type's binary form (these eight, as a bigint,
 * are 258).  SQLite keeps the blob as it is.  One execution and a
 * pipeline of them, typed and untyped mixed. */
static const char blob258[8] = {0, 0, 0, 0, 0, 0, 1, 2};

/* Execution i: key 10 + i, and the blob for execution 1 (NULL else). */
static int blob_rows_bind(strata_stmt *st, size_t i, void *ctx)
{
    (void)ctx;
    int rc = strata_stmt_bind_int64(st, 1, 10 + (int64_t)i);
    if (rc == STRATA_OK)
        rc = i == 1 ? strata_stmt_bind_blob(st, 2, blob258, sizeof blob258)
                    : strata_stmt_bind_null(st, 2);
    return rc;
}

static int64_t count_of(strata_db *db, const char *sql)
{
    strata_stmt *st;
    int64_t n = -1;
    th_rc(db, strata_stmt_prepare(&st, db, sql), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    th_rc(db, strata_stmt_column_int64(st, 0, &n), STRATA_OK);
    strata_stmt_finalize(st);
    return n;
}

/* rc is what SQLite gives (`sqlite`): PostgreSQL refuses the blob as a
 * value of the wrong type, naming the type it is sent as. */
static void blob_refused_on_pg(strata_db *db, int rc, int sqlite)
{
    if (!th_is_pg()) {
        th_rc(db, rc, sqlite);
        return;
    }
    th_rc(db, rc, STRATA_E_DATA);
    ck_assert_msg(strstr(strata_db_errmsg(db), "sent as a bytea") != NULL, "%s",
                  strata_db_errmsg(db));
}

/* Column 0 of st's row is the blob. */
static void column_is_blob258(strata_db *db, strata_stmt *st)
{
    const void *b;
    size_t n;
    ck_assert_int_eq(strata_stmt_column_type(st, 0), STRATA_TYPE_BLOB);
    th_rc(db, strata_stmt_column_blob(st, 0, &b, &n), STRATA_OK);
    ck_assert(n == sizeof blob258 && !memcmp(b, blob258, n));
}

START_TEST(types_blob_never_read_as_another_type)
{
    strata_db *db = th_open();
    make_table(db);
    th_exec(db, "INSERT INTO v (k, i) VALUES (258, 258)");
    strata_stmt *st;

    /* Nothing but the parameter to go by: a blob comes back. */
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT ?"), STRATA_OK);
    strata_stmt_bind_blob(st, 1, blob258, sizeof blob258);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    column_is_blob258(db, st);
    strata_stmt_finalize(st);

    /* Compared with an integer key: no row is the blob. */
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT k FROM v WHERE k = ?"), STRATA_OK);
    strata_stmt_bind_blob(st, 1, blob258, sizeof blob258);
    blob_refused_on_pg(db, strata_stmt_step(st), STRATA_DONE);
    /* The same statement with an integer still runs (the blob's
     * execution did not change it). */
    strata_stmt_bind_int64(st, 1, 258);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    strata_stmt_finalize(st);

    /* Into an integer column: refused, or kept a blob; never 258. */
    th_rc(db, strata_stmt_prepare(&st, db, "INSERT INTO v (k, i) VALUES (1, ?)"), STRATA_OK);
    strata_stmt_bind_blob(st, 1, blob258, sizeof blob258);
    blob_refused_on_pg(db, strata_stmt_step(st), STRATA_DONE);
    strata_stmt_finalize(st);
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT i FROM v WHERE k = 1"), STRATA_OK);
    if (th_is_pg()) {
        th_rc(db, strata_stmt_step(st), STRATA_DONE);
    } else {
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
        column_is_blob258(db, st);
    }
    strata_stmt_finalize(st);
    ck_assert_int_eq(count_of(db, "SELECT count(*) FROM v WHERE i = 258"), 1);

    /* A pipeline: the blob's execution among untyped ones, into the blob
     * column, then into the integer column. */
    th_rc(db, strata_stmt_prepare(&st, db, "INSERT INTO v (k, bl) VALUES (?, ?)"), STRATA_OK);
    th_rc(db, strata_stmt_execute_many(st, 3, blob_rows_bind, NULL, NULL), STRATA_OK);
    strata_stmt_finalize(st);
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT bl FROM v WHERE k = 11"), STRATA_OK);
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    column_is_blob258(db, st);
    strata_stmt_finalize(st);
    ck_assert_int_eq(count_of(db, "SELECT count(*) FROM v WHERE k BETWEEN 10 AND 12"), 3);

    th_rc(db, strata_stmt_prepare(&st, db, "INSERT INTO v (k, i) VALUES (? + 10, ?)"), STRATA_OK);
    blob_refused_on_pg(db, strata_stmt_execute_many(st, 3, blob_rows_bind, NULL, NULL), STRATA_OK);
    strata_stmt_finalize(st);
    /* all or nothing */
    ck_assert_int_eq(count_of(db, "SELECT count(*) FROM v WHERE k BETWEEN 20 AND 22"),
                     th_is_pg() ? 0 : 3);
    ck_assert_int_eq(count_of(db, "SELECT count(*) FROM v WHERE i = 258"), 1);
    strata_db_close(db);
}
END_TEST

/* Execution i: key 200 + i and a blob ending in i. */
static int blob_batch_bind(strata_stmt *st, size_t i, void *ctx)
{
    (void)ctx;
    char b[sizeof blob258];
    memcpy(b, blob258, sizeof b);
    b[sizeof b - 1] = (char)i;
    int rc = strata_stmt_bind_int64(st, 1, 200 + (int64_t)i);
    return rc == STRATA_OK ? strata_stmt_bind_blob(st, 2, b, sizeof b) : rc;
}

/* One statement run many times with a blob, one by one and in a batch
 * (on PostgreSQL by a second prepared statement, typed for the blob,
 * from the second run on), and again after its table changed. */
START_TEST(types_blob_executions_repeat)
{
    strata_db *db = th_open();
    make_table(db);
    strata_stmt *st;
    int64_t prepares = strata_db_counter(db, STRATA_COUNTER_PREPARES);
    th_rc(db, strata_stmt_prepare(&st, db, "INSERT INTO v (k, bl) VALUES (?, ?)"), STRATA_OK);
    for (size_t i = 0; i < 4; i++) {
        th_rc(db, blob_batch_bind(st, i, NULL), STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_DONE);
    }
    th_rc(db, strata_stmt_execute_many(st, 3, blob_rows_bind, NULL, NULL), STRATA_OK);
    /* A blob and a NULL taking turns. */
    for (size_t i = 0; i < 6; i++) {
        th_rc(db, strata_stmt_bind_int64(st, 1, 20 + (int64_t)i), STRATA_OK);
        th_rc(db, i % 2 ? strata_stmt_bind_null(st, 2) : strata_stmt_bind_blob(st, 2, "x", 1),
              STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_DONE);
    }
    strata_stmt_finalize(st);
    /* The one statement strata prepared: the engine's typed statement for
     * the blob is not counted (documented with the counter). */
    ck_assert_int_eq(strata_db_counter(db, STRATA_COUNTER_PREPARES) - prepares, 1);
    ck_assert_int_eq(count_of(db, "SELECT count(*) FROM v WHERE k >= 20 AND k < 26 AND bl IS NULL"),
                     3);
    th_rc(db, strata_stmt_prepare(&st, db, "INSERT INTO v (k, bl) VALUES (? + 100, ?)"), STRATA_OK);
    th_rc(db, strata_stmt_execute_many(st, 6, blob_batch_bind, NULL, NULL), STRATA_OK);
    strata_stmt_finalize(st);
    ck_assert_int_eq(count_of(db, "SELECT count(*) FROM v"), 4 + 3 + 6 + 6);

    th_rc(db, strata_stmt_prepare(&st, db, "SELECT * FROM v WHERE bl = ? ORDER BY k"), STRATA_OK);
    for (int round = 0; round < 6; round++) {
        if (round == 3)
            th_exec(db, "ALTER TABLE v ADD COLUMN extra INTEGER");
        th_rc(db, strata_stmt_bind_blob(st, 1, blob258, sizeof blob258), STRATA_OK);
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
        ck_assert_int_eq(strata_stmt_column_count(st), round < 3 ? 7 : 8);
        int64_t k = 0;
        th_rc(db, strata_stmt_column_int64(st, 0, &k), STRATA_OK);
        ck_assert_int_eq(k, 11); /* blob_rows_bind's */
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
        th_rc(db, strata_stmt_column_int64(st, 0, &k), STRATA_OK);
        ck_assert_int_eq(k, 202); /* blob_batch_bind's third, ending in 2 as blob258 */
        th_rc(db, strata_stmt_step(st), STRATA_ROW);
        th_rc(db, strata_stmt_column_int64(st, 0, &k), STRATA_OK);
        ck_assert_int_eq(k, 302);
        th_rc(db, strata_stmt_step(st), STRATA_DONE);
    }
    strata_stmt_finalize(st);

    /* Refused every time where an integer goes, the typed statement's
     * preparation as the first run. */
    th_rc(db, strata_stmt_prepare(&st, db, "UPDATE v SET i = ? WHERE k = 200"), STRATA_OK);
    for (int round = 0; round < 3; round++) {
        th_rc(db, strata_stmt_bind_blob(st, 1, blob258, sizeof blob258), STRATA_OK);
        blob_refused_on_pg(db, strata_stmt_step(st), STRATA_DONE);
    }
    strata_stmt_finalize(st);
    strata_db_close(db);
}
END_TEST

/* Column 0 of st's row after one run of the bound values: its type and,
 * for a text or blob, its bytes. */
static void run_column0(strata_db *db, strata_stmt *st, strata_type type, const char *bytes)
{
    th_rc(db, strata_stmt_step(st), STRATA_ROW);
    ck_assert_int_eq(strata_stmt_column_type(st, 0), type);
    const void *p = NULL;
    size_t len = 0;
    if (type == STRATA_TYPE_TEXT) {
        const char *t = NULL;
        th_rc(db, strata_stmt_column_text(st, 0, &t, &len), STRATA_OK);
        p = t;
    } else {
        th_rc(db, strata_stmt_column_blob(st, 0, &p, &len), STRATA_OK);
    }
    ck_assert_uint_eq(len, strlen(bytes));
    ck_assert(memcmp(p, bytes, len) == 0);
    th_rc(db, strata_stmt_step(st), STRATA_DONE);
    th_rc(db, strata_stmt_reset(st), STRATA_OK);
}

/* The same bindings give the same result whatever ran before: on
 * PostgreSQL a NULL where an earlier execution bound a blob leaves the
 * server to infer that parameter, and the literal and text beside it, as
 * in a statement of its own. */
START_TEST(types_blob_twin_fits_exactly)
{
    strata_db *db = th_open();
    strata_stmt *st;
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT coalesce(?, '\\x41'), ?"), STRATA_OK);
    for (int run = 0; run < 5; run++) {
        bool null = run == 0 || run == 3;
        th_rc(db, null ? strata_stmt_bind_null(st, 1) : strata_stmt_bind_blob(st, 1, "zz", 2),
              STRATA_OK);
        th_rc(db, strata_stmt_bind_blob(st, 2, "id", 2), STRATA_OK);
        run_column0(db, st, null ? STRATA_TYPE_TEXT : STRATA_TYPE_BLOB, null ? "\\x41" : "zz");
    }
    strata_stmt_finalize(st);

    th_rc(db, strata_stmt_prepare(&st, db, "SELECT coalesce(?, ?), ?"), STRATA_OK);
    for (int run = 0; run < 4; run++) {
        bool text = run >= 2;
        th_rc(db, text ? strata_stmt_bind_null(st, 1) : strata_stmt_bind_blob(st, 1, "zz", 2),
              STRATA_OK);
        th_rc(db, text ? strata_stmt_bind_text(st, 2, "\\x41", -1) : strata_stmt_bind_null(st, 2),
              STRATA_OK);
        th_rc(db, strata_stmt_bind_blob(st, 3, "id", 2), STRATA_OK);
        run_column0(db, st, text ? STRATA_TYPE_TEXT : STRATA_TYPE_BLOB, text ? "\\x41" : "zz");
    }
    strata_stmt_finalize(st);

    /* Blobs that move to other parameters for good: the typed statement
     * follows them on the second such execution. */
    th_rc(db, strata_stmt_prepare(&st, db, "SELECT ?, ? -- moving blobs"), STRATA_OK);
    for (int run = 0; run < 5; run++) {
        th_rc(db, strata_stmt_bind_blob(st, 1, "zz", 2), STRATA_OK);
        th_rc(db, run < 2 ? strata_stmt_bind_null(st, 2) : strata_stmt_bind_blob(st, 2, "id", 2),
              STRATA_OK);
        run_column0(db, st, STRATA_TYPE_BLOB, "zz");
    }
    if (th_engine_now() == TH_POSTGRES)
        ck_assert_int_eq(count_of(db, "SELECT count(*) FROM pg_prepared_statements "
                                      "WHERE statement LIKE '%moving blobs' "
                                      "AND parameter_types = '{bytea,bytea}'"),
                         1);
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
    tcase_add_test(tc, types_every_getter_on_every_type);
    tcase_add_test(tc, types_names_and_timestamp_text_edges);
    tcase_add_test(tc, types_canonical_timestamp_every_place);
    tcase_add_test(tc, types_numeric_text_alike);
    tcase_add_test(tc, types_blob_never_read_as_another_type);
    tcase_add_test(tc, types_blob_executions_repeat);
    tcase_add_test(tc, types_blob_twin_fits_exactly);
}

static Suite *build(void) { return th_suite("types", add); }

int main(void) { return th_run(build); }
