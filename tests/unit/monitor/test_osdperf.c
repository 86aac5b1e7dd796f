/* OSD perf counters (mon_osdperf.c): histogram buckets, quantiles, differences, storage. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon_json.h"
#include "mon_osdperf.h"

START_TEST(test_buckets)
{
	/* Every value lands in a bucket whose bounds hold it; buckets are contiguous. */
	for (uint64_t v = 0; v < 200000; v = v < 100 ? v + 1 : v + v / 7) {
		uint32_t b = mon_perf_bucket(v);

		ck_assert_uint_le(mon_perf_bucket_low(b), v);
		ck_assert_uint_ge(mon_perf_bucket_high(b), v);
	}
	for (uint32_t i = 0; i + 1 < MON_PERF_BUCKETS; i++) {
		ck_assert_uint_eq(mon_perf_bucket_high(i) + 1, mon_perf_bucket_low(i + 1));
		/* A bucket is at most a quarter of its lower bound wide (past the exact ones). */
		if (i >= 4)
			ck_assert_uint_le(mon_perf_bucket_high(i) - mon_perf_bucket_low(i) + 1,
			                  mon_perf_bucket_low(i) / 4);
	}
	ck_assert_uint_eq(mon_perf_bucket(3), 3);
	ck_assert_uint_eq(mon_perf_bucket(4), 4);
	ck_assert_uint_eq(mon_perf_bucket(8), 8);
	ck_assert_uint_eq(mon_perf_bucket(9), 8);
	ck_assert_uint_eq(mon_perf_bucket(10), 9);
	ck_assert_uint_eq(mon_perf_bucket(UINT64_MAX), MON_PERF_BUCKETS - 1);
}
END_TEST

START_TEST(test_quantiles)
{
	struct mon_perf_hist h;

	memset(&h, 0, sizeof(h));
	ck_assert_uint_eq(mon_perf_quantile(&h, 0.5), 0);
	/* 1000 ops: 990 at 100 us, 9 at 1000 us, 1 at 50000 us. */
	for (int i = 0; i < 990; i++)
		mon_perf_record(&h, 100, 4096, true);
	for (int i = 0; i < 9; i++)
		mon_perf_record(&h, 1000, 4096, true);
	mon_perf_record(&h, 50000, 0, false);
	ck_assert_uint_eq(h.ops, 1000);
	ck_assert_uint_eq(h.errors, 1);
	ck_assert_uint_eq(h.bytes, 999 * 4096);
	ck_assert_uint_eq(mon_perf_quantile(&h, 0.5), mon_perf_bucket_high(mon_perf_bucket(100)));
	ck_assert_uint_eq(mon_perf_quantile(&h, 0.99), mon_perf_bucket_high(mon_perf_bucket(100)));
	ck_assert_uint_eq(mon_perf_quantile(&h, 0.999),
	                  mon_perf_bucket_high(mon_perf_bucket(1000)));
	ck_assert_uint_eq(mon_perf_quantile(&h, 1.0), mon_perf_bucket_high(mon_perf_bucket(50000)));
	ck_assert_uint_ge(mon_perf_quantile(&h, 0.5), 100);
	ck_assert_uint_le(mon_perf_quantile(&h, 0.5), 125);
}
END_TEST

START_TEST(test_sub_and_store)
{
	struct mon_reactor_perf a[2], b[2];
	struct mon_osdperf s = {0};
	const struct mon_osdperf_osd *o;
	struct mon_perf_hist d;
	struct mon_json j;
	char *buf = NULL;
	size_t len = 0;
	FILE *jf, *tf;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	for (int i = 0; i < 10; i++)
		mon_perf_record(&a[0].cls[MON_PERF_WRITE], 70, 4096, true);
	b[0] = a[0];
	for (int i = 0; i < 5; i++)
		mon_perf_record(&b[0].cls[MON_PERF_WRITE], 200, 4096, true);
	mon_perf_hist_sub(&b[0].cls[MON_PERF_WRITE], &a[0].cls[MON_PERF_WRITE], &d);
	ck_assert_uint_eq(d.ops, 5);
	ck_assert_uint_eq(d.bytes, 5 * 4096);
	ck_assert_uint_eq(d.b[mon_perf_bucket(200)], 5);
	ck_assert_uint_eq(d.b[mon_perf_bucket(70)], 0);
	/* A restart (counters went back): the newer report alone. */
	mon_perf_hist_sub(&a[0].cls[MON_PERF_WRITE], &b[0].cls[MON_PERF_WRITE], &d);
	ck_assert_uint_eq(d.ops, 10);

	ck_assert_int_eq(mon_osdperf_update(&s, 7, 1000000, a, 2), 0);
	ck_assert_int_eq(mon_osdperf_update(&s, 7, 2000000, b, 2), 0);
	ck_assert_int_eq(mon_osdperf_update(&s, 3, 2000000, a, 1), 0);
	ck_assert_int_eq(mon_osdperf_update(&s, 9, 1, a, MON_PERF_MAX_REACTORS + 1), -EINVAL);
	o = mon_osdperf_get(&s, 7);
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(o->n, 2);
	ck_assert_uint_eq(o->cur[0].cls[MON_PERF_WRITE].ops, 15);
	ck_assert_uint_eq(o->prev[0].cls[MON_PERF_WRITE].ops, 10);
	ck_assert_uint_eq(o->at_us - o->prev_at_us, 1000000);

	jf = open_memstream(&buf, &len);
	tf = fopen("/dev/null", "w");
	ck_assert_ptr_nonnull(jf);
	ck_assert_ptr_nonnull(tf);
	mon_json_init(&j, jf);
	mon_osdperf_emit(o, 7, true, 2500000, &j, tf);
	fclose(jf);
	fclose(tf);
	/* 5 writes in the last second; 15 in all. */
	ck_assert_ptr_nonnull(strstr(buf, "\"iops\":5"));
	ck_assert_ptr_nonnull(strstr(buf, "\"ops\":15"));
	free(buf);

	mon_osdperf_forget(&s, 7);
	ck_assert_ptr_null(mon_osdperf_get(&s, 7));
	ck_assert_ptr_nonnull(mon_osdperf_get(&s, 3));
	mon_osdperf_fini(&s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("osdperf");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_buckets);
	tcase_add_test(tc, test_quantiles);
	tcase_add_test(tc, test_sub_and_store);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
