/* Unit tests of tessera-bench's log-linear latency histogram. */
#include <check.h>
#include <stdlib.h>

#include "bench_hist.h"

START_TEST(test_index_monotonic_and_ranges)
{
	unsigned prev = 0;

	for (uint64_t v = 0; v < (1ull << 20); v += 1 + v / 97) {
		unsigned idx = bench_hist_index(v);
		uint64_t lo, hi;

		ck_assert_uint_ge(idx, prev);
		ck_assert_uint_lt(idx, BENCH_HIST_BUCKETS);
		bench_hist_bucket_range(idx, &lo, &hi);
		ck_assert_uint_le(lo, v);
		ck_assert_uint_ge(hi, v);
		/* Relative bucket width at most 1/64. */
		ck_assert(hi - lo <= lo / 64 + 1);
		prev = idx;
	}
	/* Every bucket boundary maps back to its own bucket. */
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		uint64_t lo, hi;

		bench_hist_bucket_range(i, &lo, &hi);
		ck_assert_uint_eq(bench_hist_index(lo), i);
		ck_assert_uint_eq(bench_hist_index(hi), i);
	}
	ck_assert_uint_eq(bench_hist_index(UINT64_MAX), BENCH_HIST_BUCKETS - 1);
}
END_TEST

START_TEST(test_quantiles_uniform)
{
	struct bench_hist *h = malloc(sizeof(*h));

	bench_hist_init(h);
	for (uint64_t v = 1; v <= 100000; v++)
		bench_hist_record(h, v);
	ck_assert_uint_eq(h->count, 100000);
	ck_assert_uint_eq(h->min, 1);
	ck_assert_uint_eq(h->max, 100000);
	ck_assert(bench_hist_mean(h) > 50000.0 && bench_hist_mean(h) < 50001.0);
	/* Within the 1/64 bucket precision. */
	ck_assert(llabs((long long)bench_hist_quantile(h, 0.5) - 50000) < 50000 / 64 + 2);
	ck_assert(llabs((long long)bench_hist_quantile(h, 0.99) - 99000) < 99000 / 64 + 2);
	ck_assert(llabs((long long)bench_hist_quantile(h, 0.999) - 99900) < 99900 / 64 + 2);
	ck_assert_uint_eq(bench_hist_quantile(h, 1.0), 100000);
	free(h);
}
END_TEST

START_TEST(test_quantile_small_and_merge)
{
	struct bench_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	bench_hist_init(a);
	bench_hist_init(b);
	ck_assert_uint_eq(bench_hist_quantile(a, 0.5), 0);
	bench_hist_record(a, 70000);
	ck_assert_uint_eq(bench_hist_quantile(a, 0.5), 70000); /* clamped to min/max */
	for (int i = 0; i < 99; i++)
		bench_hist_record(b, 100);
	bench_hist_merge(a, b);
	ck_assert_uint_eq(a->count, 100);
	ck_assert_uint_eq(a->min, 100);
	ck_assert_uint_eq(bench_hist_quantile(a, 0.5), 100);
	ck_assert_uint_eq(bench_hist_quantile(a, 0.99), 100);
	ck_assert_uint_ge(bench_hist_quantile(a, 0.999), 70000 - 70000 / 64);
	free(a);
	free(b);
}
END_TEST

static Suite *
hist_suite(void)
{
	Suite *s = suite_create("bench_hist");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_index_monotonic_and_ranges);
	tcase_add_test(tc, test_quantiles_uniform);
	tcase_add_test(tc, test_quantile_small_and_merge);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hist_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
