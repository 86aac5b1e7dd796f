/* Unit tests of tessera-bench's self-describing verify blocks and ack log. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "bench_verify.h"

static void *
block_alloc(size_t len)
{
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, 4096, len), 0);
	return p;
}

START_TEST(test_fill_check_roundtrip)
{
	unsigned char *b = block_alloc(3 * BENCH_BLOCK);
	struct bench_vhdr h;

	bench_verify_fill_io(b, 8192, 3 * BENCH_BLOCK, 77, 2);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(bench_verify_check(b + i * BENCH_BLOCK, 8192 + i * BENCH_BLOCK, &h),
				 BENCH_V_OK);
		ck_assert_uint_eq(h.gen, 77);
		ck_assert_uint_eq(h.write_off, 8192);
		ck_assert_uint_eq(h.write_len, 3 * BENCH_BLOCK);
		ck_assert_uint_eq(h.job, 2);
	}
	/* Different generations give different payloads. */
	{
		unsigned char *c = block_alloc(BENCH_BLOCK);

		bench_verify_fill(c, 8192, 78, 8192, BENCH_BLOCK, 2);
		ck_assert(memcmp(b + 64, c + 64, BENCH_BLOCK - 64) != 0);
		free(c);
	}
	free(b);
}
END_TEST

START_TEST(test_detects_damage)
{
	unsigned char *b = block_alloc(BENCH_BLOCK);
	struct bench_vhdr h;

	memset(b, 0, BENCH_BLOCK);
	ck_assert_int_eq(bench_verify_check(b, 0, &h), BENCH_V_ZERO);
	memset(b, 0xa5, BENCH_BLOCK);
	ck_assert_int_eq(bench_verify_check(b, 0, &h), BENCH_V_BADMAGIC);

	bench_verify_fill(b, 4096, 5, 4096, BENCH_BLOCK, 0);
	ck_assert_int_eq(bench_verify_check(b, 8192, &h), BENCH_V_BADOFF);
	ck_assert_uint_eq(h.offset_bytes, 4096);

	/* A torn sector: the second half of the block from another generation. */
	{
		unsigned char *o = block_alloc(BENCH_BLOCK);

		bench_verify_fill(o, 4096, 4, 4096, BENCH_BLOCK, 0);
		memcpy(b + 2048, o + 2048, 2048);
		ck_assert_int_eq(bench_verify_check(b, 4096, &h), BENCH_V_BADCRC);
		free(o);
	}
	/* One flipped bit. */
	bench_verify_fill(b, 4096, 5, 4096, BENCH_BLOCK, 0);
	b[4000] ^= 0x10;
	ck_assert_int_eq(bench_verify_check(b, 4096, &h), BENCH_V_BADCRC);
	ck_assert_str_ne(bench_verify_status_str(BENCH_V_BADCRC), "?");
	free(b);
}
END_TEST

START_TEST(test_ack_log)
{
	char path[] = "/tmp/bench-acklog-XXXXXX";
	int fd = mkstemp(path);
	struct bench_ack_rec recs[3] = {
		{ BENCH_ACK_MAGIC, 10, 0, 8192, 0 },
		{ BENCH_ACK_MAGIC, 12, 4096, 4096, 0 },
		{ BENCH_ACK_MAGIC, 11, 0, 4096, 0 }, /* older than gen 12? no: other block */
	};
	uint64_t acked[4], max_gen, n;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, recs, sizeof(recs)), (ssize_t)sizeof(recs));
	/* A record cut in half by SIGKILL at the end is ignored. */
	ck_assert_int_eq(write(fd, recs, 10), 10);
	ck_assert_int_eq(bench_ack_log_scan(path, &max_gen, &n), 0);
	ck_assert_uint_eq(max_gen, 12);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(bench_ack_log_load(path, 4 * BENCH_BLOCK, acked, &n), 0);
	ck_assert_uint_eq(acked[0], 11);
	ck_assert_uint_eq(acked[1], 12);
	ck_assert_uint_eq(acked[2], 0);
	/* A record outside the working set is an error, not a crash. */
	ck_assert_int_eq(bench_ack_log_load(path, BENCH_BLOCK, acked, &n), -ERANGE);
	/* Garbage in the middle is reported. */
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(pwrite(fd, "garbage garbage garbage garbage garbage!", 40, 0), 40);
	ck_assert_int_eq(bench_ack_log_scan(path, &max_gen, &n), -EBADMSG);
	close(fd);
	unlink(path);
	ck_assert_int_eq(bench_ack_log_scan(path, &max_gen, &n), -ENOENT);
}
END_TEST

static Suite *
verify_suite(void)
{
	Suite *s = suite_create("bench_verify");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_fill_check_roundtrip);
	tcase_add_test(tc, test_detects_damage);
	tcase_add_test(tc, test_ack_log);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(verify_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
