/* Frame codec: round trips and every malformed-input case. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "mon.pb-c.h"
#include "osd.pb-c.h"
#include "rt_crc.h"
#include "rt_err.h"

static struct rt_arena arena;
static struct frame_limits lim;
static uint8_t buf[1 << 16];

static void
setup(void)
{
	ck_assert_int_eq(rt_arena_init(&arena, 64 << 10), 0);
	frame_limits_init(&lim);
}

static void
teardown(void)
{
	rt_arena_fini(&arena);
}

/* Encode a ClientOp frame with a 4 KiB data segment into buf; returns total length. */
static size_t
make_client_op(uint8_t flags, uint8_t *data, size_t data_len)
{
	Tessera__ClientOp op = TESSERA__CLIENT_OP__INIT;
	Tessera__ObjectId oid = TESSERA__OBJECT_ID__INIT;
	struct iovec iov = {data, data_len};
	ssize_t n;

	oid.pool = 3;
	oid.id = 0x123456789abcULL;
	op.client_id = 42;
	op.req_id = 7;
	op.epoch = 99;
	op.op = TESSERA__OP_TYPE__OP_WRITE;
	op.oid = &oid;
	op.offset = 8192;
	op.length = data_len;
	n = frame_encode(buf, sizeof(buf), FRAME_T_CLIENT_OP, 0xfeedULL, flags, &op.base,
			 data_len ? &iov : NULL, data_len ? 1 : 0);
	ck_assert_int_gt(n, FRAME_HDR_LEN);
	ck_assert_uint_le((size_t)n + data_len, sizeof(buf));
	if (data_len)
		memcpy(buf + n, data, data_len);
	return (size_t)n + data_len;
}

START_TEST(test_roundtrip)
{
	uint8_t data[4096];
	struct frame f;
	size_t len;
	ssize_t n;
	Tessera__ClientOp *op;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	len = make_client_op(FRAME_F_DATA_CRC, data, sizeof(data));
	n = frame_decode(buf, len, &lim, &arena, &f, NULL);
	ck_assert_int_eq(n, (ssize_t)len);
	ck_assert_uint_eq(f.hdr.type, FRAME_T_CLIENT_OP);
	ck_assert_uint_eq(f.hdr.tag, 0xfeed);
	ck_assert_uint_eq(f.hdr.data_len, sizeof(data));
	op = (Tessera__ClientOp *)f.msg;
	ck_assert_uint_eq(op->client_id, 42);
	ck_assert_uint_eq(op->req_id, 7);
	ck_assert_uint_eq(op->epoch, 99);
	ck_assert_int_eq(op->op, TESSERA__OP_TYPE__OP_WRITE);
	ck_assert_ptr_nonnull(op->oid);
	ck_assert_uint_eq(op->oid->pool, 3);
	ck_assert_uint_eq(op->oid->id, 0x123456789abcULL);
	ck_assert_int_eq(memcmp(f.data, data, sizeof(data)), 0);
	/* Decoding used the arena, not malloc. */
	ck_assert_uint_gt(arena.used, 0);
	rt_arena_reset(&arena);
	ck_assert_uint_eq(arena.used, 0);
}
END_TEST

START_TEST(test_empty_message_and_every_type)
{
	struct frame f;

	/* Every declared type encodes an empty message and decodes back. */
	for (unsigned t = 1; t < FRAME_T__MAX; t++) {
		const ProtobufCMessageDescriptor *d = frame_type_descriptor((uint16_t)t);
		ssize_t n;

		if (!d)
			continue;
		ck_assert_str_ne(frame_type_name((uint16_t)t), "unknown");
		n = frame_encode(buf, sizeof(buf), (uint16_t)t, t, 0, NULL, NULL, 0);
		ck_assert_int_eq(n, FRAME_HDR_LEN);
		ck_assert_int_eq(frame_decode(buf, (size_t)n, &lim, &arena, &f, NULL), n);
		ck_assert_uint_eq(f.hdr.type, t);
		ck_assert_ptr_eq(f.msg->descriptor, d);
		rt_arena_reset(&arena);
	}
	ck_assert_str_eq(frame_type_name(63), "unknown");
}
END_TEST

START_TEST(test_truncated)
{
	uint8_t data[100] = {1, 2, 3};
	size_t len = make_client_op(0, data, sizeof(data));
	struct frame f;
	size_t need = 0;

	for (size_t cut = 0; cut < len; cut++) {
		ck_assert_int_eq(frame_decode(buf, cut, &lim, &arena, &f, &need), -EAGAIN);
		ck_assert_uint_gt(need, cut);
		ck_assert_uint_le(need, len);
	}
	ck_assert_uint_eq(need, len);
}
END_TEST

START_TEST(test_bad_magic)
{
	size_t len = make_client_op(0, NULL, 0);
	struct frame f;

	buf[0] ^= 0xff;
	ck_assert_int_eq(frame_decode(buf, len, &lim, &arena, &f, NULL), -RT_EBADMAGIC);
}
END_TEST

START_TEST(test_bad_crc)
{
	size_t len = make_client_op(0, NULL, 0);
	struct frame f;

	/* Flip one bit in every header byte after the magic in turn. */
	for (size_t i = 4; i < FRAME_HDR_LEN; i++) {
		buf[i] ^= 0x10;
		ck_assert_int_eq(frame_decode(buf, len, &lim, &arena, &f, NULL), -RT_EBADCRC);
		buf[i] ^= 0x10;
	}
	ck_assert_int_eq(frame_decode(buf, len, &lim, &arena, &f, NULL), (ssize_t)len);
}
END_TEST

/* Rewrite a header field and fix the CRC, so the later checks are reached. */
static void
patch_hdr(void (*patch)(struct frame_hdr_wire *w))
{
	struct frame_hdr_wire w;

	memcpy(&w, buf, sizeof(w));
	patch(&w);
	w.hdr_crc = rt_crc32c(0, &w, offsetof(struct frame_hdr_wire, hdr_crc));
	memcpy(buf, &w, sizeof(w));
}

static void
patch_version(struct frame_hdr_wire *w)
{
	w->version = 2;
}

static void
patch_type(struct frame_hdr_wire *w)
{
	w->type = 63;
}

static void
patch_type_big(struct frame_hdr_wire *w)
{
	w->type = 0xffff;
}

static void
patch_msg_len(struct frame_hdr_wire *w)
{
	w->msg_len = 0xffffffffu;
}

static void
patch_data_len(struct frame_hdr_wire *w)
{
	w->data_len = FRAME_MAX_DATA_LEN_DEFAULT + 1;
}

static void
patch_flags(struct frame_hdr_wire *w)
{
	w->flags = 0x80;
}

START_TEST(test_bad_fields)
{
	struct frame f;
	size_t len;

	len = make_client_op(0, NULL, 0);
	patch_hdr(patch_version);
	ck_assert_int_eq(frame_decode(buf, len, &lim, &arena, &f, NULL), -RT_EBADVERSION);

	len = make_client_op(0, NULL, 0);
	patch_hdr(patch_type);
	ck_assert_int_eq(frame_decode(buf, len, &lim, &arena, &f, NULL), -RT_EBADTYPE);

	len = make_client_op(0, NULL, 0);
	patch_hdr(patch_type_big);
	ck_assert_int_eq(frame_decode(buf, len, &lim, &arena, &f, NULL), -RT_EBADTYPE);

	len = make_client_op(0, NULL, 0);
	patch_hdr(patch_msg_len);
	ck_assert_int_eq(frame_decode(buf, len, &lim, &arena, &f, NULL), -RT_ETOOBIG);

	len = make_client_op(0, NULL, 0);
	patch_hdr(patch_data_len);
	ck_assert_int_eq(frame_decode(buf, len, &lim, &arena, &f, NULL), -RT_ETOOBIG);

	len = make_client_op(0, NULL, 0);
	patch_hdr(patch_flags);
	ck_assert_int_eq(frame_decode(buf, len, &lim, &arena, &f, NULL), -EINVAL);

	/* A tighter per-connection limit applies too. */
	uint8_t data[512] = {0};
	len = make_client_op(0, data, sizeof(data));
	lim.max_data_len = 511;
	ck_assert_int_eq(frame_decode(buf, len, &lim, &arena, &f, NULL), -RT_ETOOBIG);
}
END_TEST

START_TEST(test_garbage_protobuf)
{
	struct frame_hdr h = {0};
	struct frame f;
	/* Field 1, wire type 2 (length-delimited) with a length far past the end. */
	static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01};

	h.type = FRAME_T_CLIENT_OP;
	h.msg_len = sizeof(garbage);
	frame_hdr_encode(buf, &h);
	memcpy(buf + FRAME_HDR_LEN, garbage, sizeof(garbage));
	ck_assert_int_eq(frame_decode(buf, FRAME_HDR_LEN + sizeof(garbage), &lim, &arena, &f, NULL),
			 -RT_EBADMSG_PB);
	/* A failed decode leaves the arena as it was. */
	ck_assert_uint_eq(arena.used, 0);

	/* An invalid wire type. */
	static const uint8_t bad_wt[] = {0x0f, 0x00};
	h.msg_len = sizeof(bad_wt);
	frame_hdr_encode(buf, &h);
	memcpy(buf + FRAME_HDR_LEN, bad_wt, sizeof(bad_wt));
	ck_assert_int_eq(frame_decode(buf, FRAME_HDR_LEN + sizeof(bad_wt), &lim, &arena, &f, NULL),
			 -RT_EBADMSG_PB);
}
END_TEST

START_TEST(test_arena_exhausted)
{
	struct rt_arena small;
	struct frame f;
	Tessera__AdminCommand cmd = TESSERA__ADMIN_COMMAND__INIT;
	ssize_t n;
	char big[2000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cmd.command = big;
	n = frame_encode(buf, sizeof(buf), FRAME_T_ADMIN, 1, 0, &cmd.base, NULL, 0);
	ck_assert_int_gt(n, 2000);
	ck_assert_int_eq(rt_arena_init(&small, 256), 0);
	ck_assert_int_eq(frame_decode(buf, (size_t)n, &lim, &small, &f, NULL), -ENOMEM);
	rt_arena_fini(&small);
}
END_TEST

START_TEST(test_data_crc)
{
	uint8_t data[4096];
	struct frame f;
	size_t len;

	memset(data, 0xab, sizeof(data));
	len = make_client_op(FRAME_F_DATA_CRC, data, sizeof(data));
	buf[len - 1] ^= 1;
	ck_assert_int_eq(frame_decode(buf, len, &lim, &arena, &f, NULL), -RT_ECSUM);
	/* Without the flag the data is not checked (end-to-end CRCs live in libstore). */
	len = make_client_op(0, data, sizeof(data));
	buf[len - 1] ^= 1;
	ck_assert_int_eq(frame_decode(buf, len, &lim, &arena, &f, NULL), (ssize_t)len);
}
END_TEST

START_TEST(test_encode_errors)
{
	Tessera__Ping ping = TESSERA__PING__INIT;

	/* Message/type mismatch. */
	ck_assert_int_eq(frame_encode(buf, sizeof(buf), FRAME_T_CLIENT_OP, 0, 0, &ping.base, NULL,
				      0),
			 -EINVAL);
	/* Unknown type. */
	ck_assert_int_eq(frame_encode(buf, sizeof(buf), 63, 0, 0, NULL, NULL, 0), -EINVAL);
	/* Too small a buffer. */
	ck_assert_int_eq(frame_encode(buf, 10, FRAME_T_PING, 0, 0, &ping.base, NULL, 0), -ENOBUFS);
	/* Ping and pong share a message. */
	ck_assert_int_eq(frame_encode(buf, sizeof(buf), FRAME_T_PONG, 0, FRAME_F_REPLY, &ping.base,
				      NULL, 0),
			 FRAME_HDR_LEN);
}
END_TEST

START_TEST(test_status_conversion)
{
	static const int errs[] = {0,	     -EINVAL, -ENOENT,	       -ENOSPC,	       -EIO,
				   -ETIMEDOUT, -EAGAIN, -RT_ESTALE_EPOCH, -RT_EMISCOMPARE, -RT_ECSUM};

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		ck_assert_int_eq(frame_status_to_errno(frame_status_from_errno(errs[i])), errs[i]);
	/* A host errno with no wire equivalent becomes EUNKNOWN, and that becomes EIO. */
	ck_assert_int_eq(frame_status_to_errno(frame_status_from_errno(-ENOTTY)), -EIO);
	ck_assert_int_eq(frame_status_to_errno(12345), -EIO);
}
END_TEST

START_TEST(test_random_corruption)
{
	/* Random bytes anywhere never crash the decoder; every result is a known code. */
	uint8_t data[256];
	struct frame f;
	size_t len;

	srand(1234);
	memset(data, 0x5a, sizeof(data));
	for (int round = 0; round < 20000; round++) {
		len = make_client_op(round & 1 ? FRAME_F_DATA_CRC : 0, data, sizeof(data));
		int flips = 1 + rand() % 4;
		for (int i = 0; i < flips; i++)
			buf[(size_t)rand() % len] ^= (uint8_t)(1u << (rand() % 8));
		ssize_t n = frame_decode(buf, len, &lim, &arena, &f, NULL);
		ck_assert(n == (ssize_t)len || n == -EAGAIN || n == -RT_EBADMAGIC ||
			  n == -RT_EBADCRC || n == -RT_ECSUM || n == -RT_EBADMSG_PB);
		rt_arena_reset(&arena);
	}
}
END_TEST

static Suite *
frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("codec");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_empty_message_and_every_type);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_bad_magic);
	tcase_add_test(tc, test_bad_crc);
	tcase_add_test(tc, test_bad_fields);
	tcase_add_test(tc, test_garbage_protobuf);
	tcase_add_test(tc, test_arena_exhausted);
	tcase_add_test(tc, test_data_crc);
	tcase_add_test(tc, test_encode_errors);
	tcase_add_test(tc, test_status_conversion);
	tcase_add_test(tc, test_random_corruption);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(frame_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
