/* Unit tests of tsr_stripe.c: volume ranges -> object pieces, iovec slicing. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsr_stripe.h"

#define OBJ (4u << 20)

START_TEST(test_first_piece)
{
	struct tsr_extent e;

	tsr_stripe_first(OBJ, 0, 4096, 0, &e);
	ck_assert_uint_eq(e.obj_idx, 0);
	ck_assert_uint_eq(e.obj_off, 0);
	ck_assert_uint_eq(e.len, 4096);
	/* Crosses an object boundary: cut at the end of object 1. */
	tsr_stripe_first(OBJ, 2 * (uint64_t)OBJ - 8192, 16384, 0, &e);
	ck_assert_uint_eq(e.obj_idx, 1);
	ck_assert_uint_eq(e.obj_off, OBJ - 8192);
	ck_assert_uint_eq(e.len, 8192);
	/* Cut at max_piece. */
	tsr_stripe_first(OBJ, 4096, 3u << 20, 1u << 20, &e);
	ck_assert_uint_eq(e.obj_idx, 0);
	ck_assert_uint_eq(e.obj_off, 4096);
	ck_assert_uint_eq(e.len, 1u << 20);
	/* Large offsets (objects far out). */
	tsr_stripe_first(OBJ, (uint64_t)1 << 40, 4096, 0, &e);
	ck_assert_uint_eq(e.obj_idx, ((uint64_t)1 << 40) / OBJ);
	ck_assert_uint_eq(e.obj_off, 0);
}
END_TEST

START_TEST(test_split_covers_range)
{
	/* Walking pieces covers the range exactly, in order, never crossing objects. */
	static const uint32_t sizes[] = { 65536, 1u << 20, 4u << 20 };

	for (unsigned s = 0; s < 3; s++) {
		for (unsigned t = 0; t < 200; t++) {
			uint64_t off = (uint64_t)(rand() % 4096) * 4096;
			uint64_t len = (uint64_t)(rand() % 3000 + 1) * 4096;
			uint64_t pos = off, pieces = 0, objs;

			while (pos < off + len) {
				struct tsr_extent e;

				tsr_stripe_first(sizes[s], pos, off + len - pos, 1u << 20, &e);
				ck_assert_uint_gt(e.len, 0);
				ck_assert_uint_eq(e.obj_idx * sizes[s] + e.obj_off, pos);
				ck_assert_uint_le(e.obj_off + e.len, sizes[s]);
				ck_assert_uint_le(e.len, 1u << 20);
				ck_assert_uint_eq(e.len % 4096, 0);
				pos += e.len;
				pieces++;
			}
			ck_assert_uint_eq(pos, off + len);
			objs = tsr_stripe_count_objects(sizes[s], off, len);
			ck_assert_uint_ge(pieces, objs);
			ck_assert_uint_eq(objs, (off + len - 1) / sizes[s] - off / sizes[s] + 1);
		}
	}
	ck_assert_uint_eq(tsr_stripe_count_objects(OBJ, 0, 0), 0);
}
END_TEST

START_TEST(test_iov_total)
{
	char a[10];
	struct iovec iov[3] = { { a, 4 }, { a, 0 }, { a, 6 } };
	struct iovec bad[2] = { { NULL, 4 }, { a, 1 } };
	struct iovec huge[2] = { { a, SIZE_MAX }, { a, 2 } };
	uint64_t t = 0;

	ck_assert_int_eq(tsr_iov_total(iov, 3, 1024, &t), 0);
	ck_assert_uint_eq(t, 10);
	ck_assert_int_eq(tsr_iov_total(iov, 0, 1024, &t), -EINVAL);
	ck_assert_int_eq(tsr_iov_total(iov, 1025, 1024, &t), -EINVAL);
	ck_assert_int_eq(tsr_iov_total(NULL, 1, 1024, &t), -EINVAL);
	ck_assert_int_eq(tsr_iov_total(bad, 2, 1024, &t), -EINVAL);
	ck_assert_int_eq(tsr_iov_total(huge, 2, 1024, &t), -EINVAL);
}
END_TEST

START_TEST(test_iov_slice_no_copy)
{
	/* Three buffers of 6 KiB, 2 KiB, 8 KiB: slices point into them. */
	static char b0[6144], b1[2048], b2[8192];
	struct iovec iov[3] = { { b0, sizeof(b0) }, { b1, sizeof(b1) }, { b2, sizeof(b2) } };
	struct tsr_iov_cursor c;
	struct iovec out[8];
	int n;
	size_t got;

	tsr_iov_cursor_init(&c, iov, 3);
	got = tsr_iov_slice(&c, 4096, 4096, out, 8, &n);
	ck_assert_uint_eq(got, 4096);
	ck_assert_int_eq(n, 1);
	ck_assert_ptr_eq(out[0].iov_base, b0);
	got = tsr_iov_slice(&c, 8192, 4096, out, 8, &n);
	ck_assert_uint_eq(got, 8192);
	ck_assert_int_eq(n, 3);
	ck_assert_ptr_eq(out[0].iov_base, b0 + 4096);
	ck_assert_uint_eq(out[0].iov_len, 2048);
	ck_assert_ptr_eq(out[1].iov_base, b1);
	ck_assert_ptr_eq(out[2].iov_base, b2);
	ck_assert_uint_eq(out[2].iov_len, 4096);
	got = tsr_iov_slice(&c, 4096, 4096, out, 8, &n);
	ck_assert_uint_eq(got, 4096);
	ck_assert_ptr_eq(out[0].iov_base, b2 + 4096);
	ck_assert_int_eq(c.idx, 3);
}
END_TEST

START_TEST(test_iov_slice_fragmented)
{
	/* 512-byte entries: 64 of them hold 32 KiB; a 64 KiB piece is cut to 32 KiB. */
	static char buf[65536];
	struct iovec iov[128];
	struct iovec out[64];
	struct tsr_iov_cursor c;
	size_t got;
	int n;

	for (int i = 0; i < 128; i++) {
		iov[i].iov_base = buf + i * 512;
		iov[i].iov_len = 512;
	}
	tsr_iov_cursor_init(&c, iov, 128);
	got = tsr_iov_slice(&c, 65536, 4096, out, 64, &n);
	ck_assert_uint_eq(got, 32768);
	ck_assert_int_eq(n, 64);
	got = tsr_iov_slice(&c, 32768, 4096, out, 64, &n);
	ck_assert_uint_eq(got, 32768);
	ck_assert_ptr_eq(out[0].iov_base, buf + 32768);
	/* 5 entries of 1000 bytes + 1 cannot make one aligned 4 KiB in 3 slots. */
	{
		struct iovec odd[6] = { { buf, 1000 }, { buf, 1000 }, { buf, 1000 },
					{ buf, 1000 }, { buf, 96 }, { buf, 4096 } };

		tsr_iov_cursor_init(&c, odd, 6);
		got = tsr_iov_slice(&c, 4096, 4096, out, 3, &n);
		ck_assert_uint_eq(got, 0);
		ck_assert_int_eq(c.idx, 0);
		ck_assert_uint_eq(c.off, 0);
	}
}
END_TEST

START_TEST(test_iov_slice_unaligned_cut)
{
	/* Entries 3000 + 3000 + 3000 in 2 slots: 6000 fit, cut back to 4096. */
	static char buf[9000];
	struct iovec iov[3] = { { buf, 3000 }, { buf + 3000, 3000 }, { buf + 6000, 3000 } };
	struct iovec out[2];
	struct tsr_iov_cursor c;
	size_t got;
	int n;

	tsr_iov_cursor_init(&c, iov, 3);
	got = tsr_iov_slice(&c, 8192, 4096, out, 2, &n);
	ck_assert_uint_eq(got, 4096);
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(out[1].iov_len, 1096);
	ck_assert_int_eq(c.idx, 1);
	ck_assert_uint_eq(c.off, 1096);
}
END_TEST

START_TEST(test_zero_and_merge)
{
	char a[100], b[50];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	int acc = 0;

	memset(a, 1, sizeof(a));
	memset(b, 1, sizeof(b));
	tsr_iov_zero(iov, 2);
	for (size_t i = 0; i < sizeof(a); i++)
		ck_assert_int_eq(a[i], 0);
	for (size_t i = 0; i < sizeof(b); i++)
		ck_assert_int_eq(b[i], 0);
	ck_assert_int_eq(tsr_result_merge(&acc, 0), 0);
	ck_assert_int_eq(tsr_result_merge(&acc, -EIO), -EIO);
	ck_assert_int_eq(tsr_result_merge(&acc, -ETIMEDOUT), -EIO);
	ck_assert_int_eq(tsr_result_merge(&acc, 0), -EIO);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("client_stripe");
	TCase *tc = tcase_create("stripe");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_first_piece);
	tcase_add_test(tc, test_split_covers_range);
	tcase_add_test(tc, test_iov_total);
	tcase_add_test(tc, test_iov_slice_no_copy);
	tcase_add_test(tc, test_iov_slice_fragmented);
	tcase_add_test(tc, test_iov_slice_unaligned_cut);
	tcase_add_test(tc, test_zero_and_merge);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
