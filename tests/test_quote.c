/*
 * test_quote.c - identifier quoting per dialect, and quoted names used for
 * real: a table called "user" with columns "order" and "Name" works on
 * every engine when every identifier goes through strata_driver_quote_ident.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "strata/sys/driver.h"

static void expect_quote(const strata_driver *d, const char *in, const char *want)
{
    char *out = NULL;
    ck_assert_int_eq(strata_driver_quote_ident(d, in, &out), STRATA_OK);
    ck_assert_msg(strcmp(out, want) == 0, "%s: %s -> %s, want %s", strata_driver_name(d), in, out,
                  want);
    strata_free(out);
}

START_TEST(quote_rules)
{
    const strata_driver *pg = strata_driver_find("postgresql");
    const strata_driver *sq = strata_driver_find("sqlite");
    ck_assert_ptr_nonnull(pg);
    ck_assert_ptr_nonnull(sq);
    ck_assert_ptr_eq(strata_driver_find("postgres"), pg);
    ck_assert_ptr_null(strata_driver_find("mysql"));
    expect_quote(pg, "user", "\"user\"");
    expect_quote(sq, "user", "user");
    for (int i = 0; i < 2; i++) {
        const strata_driver *d = i ? pg : sq;
        expect_quote(d, "post", "post");
        expect_quote(d, "user_id", "user_id");
        expect_quote(d, "_x9", "_x9");
        expect_quote(d, "order", "\"order\"");
        expect_quote(d, "select", "\"select\"");
        expect_quote(d, "Name", "\"Name\"");
        expect_quote(d, "my table", "\"my table\"");
        expect_quote(d, "1abc", "\"1abc\"");
        expect_quote(d, "a\"b", "\"a\"\"b\"");
        char *out = (char *)1;
        ck_assert_int_eq(strata_driver_quote_ident(d, "", &out), STRATA_E_MISUSE);
        ck_assert_ptr_null(out);
    }
}
END_TEST

START_TEST(quote_used_for_real)
{
    strata_db *db = th_open();
    const strata_driver *d = strata_db_driver(db);
    char *t, *c1, *c2;
    strata_driver_quote_ident(d, "user", &t);
    strata_driver_quote_ident(d, "order", &c1);
    strata_driver_quote_ident(d, "Name", &c2);
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TABLE %s (%s INTEGER, %s TEXT)", t, c1, c2);
    th_exec(db, sql);
    snprintf(sql, sizeof sql, "INSERT INTO %s (%s, %s) VALUES (1, 'susan')", t, c1, c2);
    th_exec(db, sql);
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE %s = 'susan'", c1, t, c2);
    ck_assert_int_eq(th_int(db, sql), 1);
    strata_stmt *st;
    snprintf(sql, sizeof sql, "SELECT %s FROM %s", c2, t);
    th_rc(db, strata_stmt_prepare(&st, db, sql), STRATA_OK);
    ck_assert_str_eq(strata_stmt_column_name(st, 0), "Name"); /* case kept */
    strata_stmt_finalize(st);
    strata_free(t);
    strata_free(c1);
    strata_free(c2);
    strata_db_close(db);
}
END_TEST

/* A driver may quote identifiers its own way (backticks); the quote
 * inside is doubled. */
START_TEST(quote_driver_quotes)
{
    strata_driver d = *strata_driver_find(th_is_pg() ? "postgresql" : "sqlite");
    d.identifier_quote = "``";
    char *out = NULL;
    ck_assert_int_eq(strata_driver_quote_ident(&d, "Odd`Name", &out), STRATA_OK);
    ck_assert_str_eq(out, "`Odd``Name`");
    strata_free(out);
    d.version = 4; /* the field is read from version 5 on */
    ck_assert_int_eq(strata_driver_quote_ident(&d, "Odd\"Name", &out), STRATA_OK);
    ck_assert_str_eq(out, "\"Odd\"\"Name\"");
    strata_free(out);
}
END_TEST

static void add(TCase *tc, th_engine e)
{
    tcase_add_test(tc, quote_driver_quotes);
    (void)e;
    tcase_add_test(tc, quote_rules);
    tcase_add_test(tc, quote_used_for_real);
}

static Suite *build(void) { return th_suite("quoting", add); }

int main(void) { return th_run(build); }
