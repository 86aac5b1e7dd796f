/*
 * Unit tests of libtessera's completion objects (tsr_aio_*): states, the
 * return value, waiting from another thread, callbacks, and release from
 * inside the callback. The I/O side ends a completion with
 * tsr__aio_complete(); here the test plays the I/O thread.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "tsr_ioq.h"

START_TEST(test_states)
{
	struct tsr_completion *c = NULL;
	int tag = 7;

	ck_assert_int_eq(tsr_aio_create_completion(&tag, NULL, NULL), -EINVAL);
	ck_assert_int_eq(tsr_aio_create_completion(&tag, NULL, &c), 0);
	ck_assert_ptr_nonnull(c);
	ck_assert(!tsr_aio_is_complete(c));
	ck_assert_ptr_eq(tsr_aio_get_arg(c), &tag);
	tsr__aio_complete(c, 4096);
	ck_assert(tsr_aio_is_complete(c));
	ck_assert_int_eq(tsr_aio_wait_for_complete(c), 0); /* returns at once */
	ck_assert_int_eq(tsr_aio_get_return_value(c), 4096);
	tsr_aio_release(c);
	/* NULL is harmless everywhere. */
	ck_assert(!tsr_aio_is_complete(NULL));
	ck_assert_int_eq(tsr_aio_get_return_value(NULL), -EINVAL);
	ck_assert_int_eq(tsr_aio_wait_for_complete(NULL), -EINVAL);
	tsr_aio_release(NULL);
}
END_TEST

START_TEST(test_error_value)
{
	struct tsr_completion *c = NULL;

	ck_assert_int_eq(tsr_aio_create_completion(NULL, NULL, &c), 0);
	tsr__aio_complete(c, -ETIMEDOUT);
	ck_assert_int_eq(tsr_aio_get_return_value(c), -ETIMEDOUT);
	tsr_aio_release(c);
}
END_TEST

struct waiter {
	struct tsr_completion *c;
	atomic_int woke;
};

static void *
wait_thread(void *arg)
{
	struct waiter *w = arg;

	tsr_aio_wait_for_complete(w->c);
	atomic_store(&w->woke, 1);
	return NULL;
}

START_TEST(test_wait_other_thread)
{
	struct waiter w[4];
	pthread_t th[4];
	struct tsr_completion *c = NULL;

	ck_assert_int_eq(tsr_aio_create_completion(NULL, NULL, &c), 0);
	for (int i = 0; i < 4; i++) {
		w[i].c = c;
		atomic_init(&w[i].woke, 0);
		ck_assert_int_eq(pthread_create(&th[i], NULL, wait_thread, &w[i]), 0);
	}
	/* Nobody may wake before completion. */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(atomic_load(&w[i].woke), 0);
	tsr__aio_complete(c, 8192);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(atomic_load(&w[i].woke), 1);
	}
	ck_assert_int_eq(tsr_aio_get_return_value(c), 8192);
	tsr_aio_release(c);
}
END_TEST

struct cb_state {
	int calls;
	ssize_t seen;
	bool complete_in_cb;
	bool release;
};

static void
on_done(struct tsr_completion *c, void *arg)
{
	struct cb_state *st = arg;

	st->calls++;
	st->seen = tsr_aio_get_return_value(c);
	st->complete_in_cb = tsr_aio_is_complete(c);
	if (st->release)
		tsr_aio_release(c); /* allowed from the callback (ASan checks the rest) */
}

START_TEST(test_callback)
{
	struct cb_state st = { 0 };
	struct tsr_completion *c = NULL;

	ck_assert_int_eq(tsr_aio_create_completion(&st, on_done, &c), 0);
	tsr__aio_complete(c, -EIO);
	ck_assert_int_eq(st.calls, 1);
	ck_assert_int_eq(st.seen, -EIO);
	ck_assert(st.complete_in_cb);
	tsr_aio_release(c);

	/* Released from inside its own callback. */
	struct cb_state st2 = { .release = true };
	ck_assert_int_eq(tsr_aio_create_completion(&st2, on_done, &c), 0);
	tsr__aio_complete(c, 512);
	ck_assert_int_eq(st2.calls, 1);
	ck_assert_int_eq(st2.seen, 512);
}
END_TEST

/* Many completions ended on one thread while another waits on each. */
struct pingpong {
	struct tsr_completion *c[256];
};

static void *
complete_all(void *arg)
{
	struct pingpong *p = arg;

	for (int i = 0; i < 256; i++)
		tsr__aio_complete(p->c[i], i);
	return NULL;
}

START_TEST(test_many)
{
	struct pingpong p;
	pthread_t th;

	for (int i = 0; i < 256; i++)
		ck_assert_int_eq(tsr_aio_create_completion(NULL, NULL, &p.c[i]), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, complete_all, &p), 0);
	for (int i = 0; i < 256; i++) {
		tsr_aio_wait_for_complete(p.c[i]);
		ck_assert_int_eq(tsr_aio_get_return_value(p.c[i]), i);
		tsr_aio_release(p.c[i]);
	}
	pthread_join(th, NULL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("client_completion");
	TCase *tc = tcase_create("completion");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_states);
	tcase_add_test(tc, test_error_value);
	tcase_add_test(tc, test_wait_other_thread);
	tcase_add_test(tc, test_callback);
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
