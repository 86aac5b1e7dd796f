/* Unit tests of the fixed-size object pool. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt_mempool.h"
#include "rt_reactor.h"

START_TEST(test_get_put_empty)
{
	struct rt_mempool *mp = NULL;
	struct rt_mempool_stats st;
	void *objs[8];
	int i;

	ck_assert_int_eq(rt_mempool_create(NULL, 100, 8, 0, &mp), 0);
	ck_assert_uint_eq(rt_mempool_avail(mp), 8);
	ck_assert_uint_eq(rt_mempool_obj_size(mp), 100);
	for (i = 0; i < 8; i++) {
		objs[i] = rt_mempool_get(mp);
		ck_assert_ptr_nonnull(objs[i]);
		ck_assert_uint_eq((uintptr_t)objs[i] % 64, 0);
		ck_assert(rt_mempool_owns(mp, objs[i]));
		memset(objs[i], i, 100); /* objects do not overlap: checked below */
	}
	for (i = 0; i < 8; i++)
		ck_assert_uint_eq(((unsigned char *)objs[i])[99], (unsigned)i);
	ck_assert_ptr_null(rt_mempool_get(mp)); /* empty: the caller queues */
	ck_assert_uint_eq(rt_mempool_avail(mp), 0);
	ck_assert(!rt_mempool_owns(mp, (char *)objs[0] + 1));
	ck_assert(!rt_mempool_owns(mp, &st));

	/* LIFO: the last object put back is the next one out. */
	rt_mempool_put(mp, objs[3]);
	rt_mempool_put(mp, objs[5]);
	ck_assert_ptr_eq(rt_mempool_get(mp), objs[5]);
	ck_assert_ptr_eq(rt_mempool_get(mp), objs[3]);
	for (i = 0; i < 8; i++)
		rt_mempool_put(mp, objs[i]);
	rt_mempool_get_stats(mp, &st);
	ck_assert_uint_eq(st.count, 8);
	ck_assert_uint_eq(st.avail, 8);
	ck_assert_uint_eq(st.low_water, 0);
	ck_assert_uint_eq(st.empty, 1);
	ck_assert_uint_eq(st.gets, 11);
	rt_mempool_destroy(&mp);
	ck_assert_ptr_null(mp);
	rt_mempool_destroy(&mp);
}
END_TEST

START_TEST(test_aligned_io_buffers)
{
	struct rt_reactor_opts o;
	struct rt_reactor *r;
	struct rt_mempool *mp;
	unsigned char *a, *b;
	int i;

	rt_reactor_opts_init(&o);
	o.core = 0;
	ck_assert_int_eq(rt_reactor_create(&o, &r), 0);
	ck_assert_int_eq(rt_mempool_create(r, 4096, 64, 4096, &mp), 0);
	for (i = 0; i < 1000; i++) {
		a = rt_mempool_get(mp);
		b = rt_mempool_get(mp);
		ck_assert_uint_eq((uintptr_t)a % 4096, 0);
		ck_assert_uint_eq((uintptr_t)b % 4096, 0);
		ck_assert_ptr_ne(a, b);
		rt_mempool_put(mp, a);
		rt_mempool_put(mp, b);
	}
	rt_mempool_destroy(&mp);
	/* Odd sizes round up to the alignment. */
	ck_assert_int_eq(rt_mempool_create(r, 4097, 3, 4096, &mp), 0);
	a = rt_mempool_get(mp);
	b = rt_mempool_get(mp);
	ck_assert_uint_eq((size_t)(b > a ? b - a : a - b), 8192);
	rt_mempool_put(mp, a);
	rt_mempool_put(mp, b);
	rt_mempool_destroy(&mp);
	rt_reactor_destroy(&r);
}
END_TEST

START_TEST(test_bad_args)
{
	struct rt_mempool *mp = (void *)1;

	ck_assert_int_eq(rt_mempool_create(NULL, 0, 8, 0, &mp), -EINVAL);
	ck_assert_ptr_null(mp);
	ck_assert_int_eq(rt_mempool_create(NULL, 8, 0, 0, &mp), -EINVAL);
	ck_assert_int_eq(rt_mempool_create(NULL, 8, 8, 48, &mp), -EINVAL);
	ck_assert_int_eq(rt_mempool_create(NULL, 8, 8, 8192, &mp), -EINVAL);
	ck_assert_int_eq(rt_mempool_create(NULL, SIZE_MAX / 4, UINT32_MAX, 0, &mp), -EINVAL);
	/* Tiny objects still hold the free-list link. */
	ck_assert_int_eq(rt_mempool_create(NULL, 1, 4, 16, &mp), 0);
	ck_assert_ptr_nonnull(rt_mempool_get(mp));
	rt_mempool_destroy(&mp);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("mempool");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_get_put_empty);
	tcase_add_test(tc, test_aligned_io_buffers);
	tcase_add_test(tc, test_bad_args);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
