/* iSCSI PDU headers, AHS, digests and text keys: valid and malformed input. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iscsi_keys.h"
#include "iscsi_pdu.h"

static void
scsi_cmd(uint8_t *b, uint32_t dlen)
{
	iscsi_bhs_init(b, ISCSI_OP_SCSI_CMD, ISCSI_FLAG_FINAL | ISCSI_CMD_WRITE, dlen);
	iscsi_put32(b + 16, 0x1234);
	iscsi_put32(b + 20, 4096);
	iscsi_put32(b + 24, 7);
	b[32] = 0x2a;
}

START_TEST(test_bhs_valid)
{
	uint8_t b[ISCSI_BHS_LEN];
	struct iscsi_bhs h;

	scsi_cmd(b, 4096);
	ck_assert_int_eq(iscsi_bhs_parse(b, 8192, &h), 0);
	ck_assert_uint_eq(h.opcode, ISCSI_OP_SCSI_CMD);
	ck_assert(h.final);
	ck_assert(!h.immediate);
	ck_assert_uint_eq(h.data_len, 4096);
	ck_assert_uint_eq(h.itt, 0x1234);
	ck_assert_uint_eq(h.ttt, 4096);
	ck_assert_uint_eq(h.cmdsn, 7);
}
END_TEST

START_TEST(test_bhs_invalid)
{
	uint8_t b[ISCSI_BHS_LEN];
	struct iscsi_bhs h;

	scsi_cmd(b, 4096);
	ck_assert_int_eq(iscsi_bhs_parse(b, 1024, &h), -EMSGSIZE);
	/* target opcodes and unknown ones */
	b[0] = ISCSI_OP_SCSI_RSP;
	ck_assert_int_eq(iscsi_bhs_parse(b, 8192, &h), -EPROTO);
	b[0] = 0x1f;
	ck_assert_int_eq(iscsi_bhs_parse(b, 8192, &h), -EPROTO);
	b[0] = 0x80 | ISCSI_OP_NOP_OUT; /* reserved bit */
	ck_assert_int_eq(iscsi_bhs_parse(b, 8192, &h), -EPROTO);
	/* login must be immediate, and T+C together is an error */
	iscsi_bhs_init(b, ISCSI_OP_LOGIN_REQ, 0, 0);
	ck_assert_int_eq(iscsi_bhs_parse(b, 8192, &h), -EPROTO);
	b[0] |= ISCSI_FLAG_IMMEDIATE;
	ck_assert_int_eq(iscsi_bhs_parse(b, 8192, &h), 0);
	b[1] = ISCSI_LOGIN_TRANSIT | ISCSI_LOGIN_CONTINUE;
	ck_assert_int_eq(iscsi_bhs_parse(b, 8192, &h), -EPROTO);
	/* data on a logout, AHS on a NOP */
	iscsi_bhs_init(b, ISCSI_OP_LOGOUT_REQ, ISCSI_FLAG_FINAL, 4);
	ck_assert_int_eq(iscsi_bhs_parse(b, 8192, &h), -EPROTO);
	iscsi_bhs_init(b, ISCSI_OP_NOP_OUT, ISCSI_FLAG_FINAL, 0);
	b[4] = 1;
	ck_assert_int_eq(iscsi_bhs_parse(b, 8192, &h), -EPROTO);
}
END_TEST

START_TEST(test_ahs)
{
	uint8_t a[32];
	const uint8_t *cdb;
	uint32_t len;

	memset(a, 0, sizeof(a));
	/* extended CDB: length 17 = 1 reserved + 16 bytes -> 20 bytes padded */
	iscsi_put16(a, 17);
	a[2] = 1;
	ck_assert_int_eq(iscsi_ahs_parse(a, 20, &cdb, &len), 0);
	ck_assert_ptr_eq(cdb, a + 4);
	ck_assert_uint_eq(len, 16);
	ck_assert_int_eq(iscsi_ahs_parse(a, 16, &cdb, &len), -EPROTO); /* truncated */
	a[2] = 9;
	ck_assert_int_eq(iscsi_ahs_parse(a, 20, &cdb, &len), -EPROTO); /* unknown type */
	iscsi_put16(a, 0);
	ck_assert_int_eq(iscsi_ahs_parse(a, 4, &cdb, &len), -EPROTO);
}
END_TEST

START_TEST(test_digest)
{
	uint8_t zero[32] = {0}, ff[32];
	uint8_t d[4];

	/* RFC 3720 B.4 examples */
	iscsi_put_digest(d, iscsi_digest(zero, 32));
	ck_assert_uint_eq(d[0], 0xaa);
	ck_assert_uint_eq(d[1], 0x36);
	ck_assert_uint_eq(d[2], 0x91);
	ck_assert_uint_eq(d[3], 0x8a);
	memset(ff, 0xff, sizeof(ff));
	iscsi_put_digest(d, iscsi_digest(ff, 32));
	ck_assert_uint_eq(d[0], 0x43);
	ck_assert_uint_eq(d[1], 0xab);
	ck_assert_uint_eq(d[2], 0xa8);
	ck_assert_uint_eq(d[3], 0x62);
	ck_assert_uint_eq(iscsi_get_digest(d), iscsi_digest(ff, 32));
	/* padding counts as zeroes */
	ck_assert_uint_eq(iscsi_data_digest(zero, 30), iscsi_digest(zero, 32));
}
END_TEST

START_TEST(test_sn)
{
	ck_assert(iscsi_sn_lt(1, 2));
	ck_assert(iscsi_sn_lt(0xffffffffu, 0));
	ck_assert(!iscsi_sn_lt(5, 5));
	ck_assert(iscsi_sn_le(5, 5));
	ck_assert_uint_eq(iscsi_pad4(5), 3);
	ck_assert_uint_eq(iscsi_pad4(8), 0);
}
END_TEST

START_TEST(test_keys_parse)
{
	char ok[] = "InitiatorName=iqn.x\0SessionType=Normal\0MaxBurstLength=0x10000\0\0\0";
	struct iscsi_keys k;
	uint64_t n;

	ck_assert_int_eq(iscsi_keys_parse(ok, sizeof(ok) - 1, &k), 0);
	ck_assert_uint_eq(k.n, 3);
	ck_assert_str_eq(iscsi_keys_get(&k, "SessionType"), "Normal");
	ck_assert_int_eq(iscsi_key_number(iscsi_keys_get(&k, "MaxBurstLength"), &n), 0);
	ck_assert_uint_eq(n, 65536);
	ck_assert_ptr_null(iscsi_keys_get(&k, "Nope"));
	{
		char nonul[] = "A=B";
		char noeq[] = "AB\0";
		char dup[] = "A=1\0A=2\0";
		char empty[] = "=1\0";
		char badch[] = "A B=1\0";

		ck_assert_int_eq(iscsi_keys_parse(nonul, 3, &k), -EPROTO);
		ck_assert_int_eq(iscsi_keys_parse(noeq, 3, &k), -EPROTO);
		ck_assert_int_eq(iscsi_keys_parse(dup, sizeof(dup) - 1, &k), -EPROTO);
		ck_assert_int_eq(iscsi_keys_parse(empty, sizeof(empty) - 1, &k), -EPROTO);
		ck_assert_int_eq(iscsi_keys_parse(badch, sizeof(badch) - 1, &k), -EPROTO);
	}
	{
		static char many[ISCSI_KEYS_MAX * 8 + 64];
		size_t off = 0;

		for (int i = 0; i <= ISCSI_KEYS_MAX; i++)
			off += (size_t)sprintf(many + off, "K%d=1", i) + 1;
		ck_assert_int_eq(iscsi_keys_parse(many, off, &k), -E2BIG);
	}
}
END_TEST

START_TEST(test_keys_values)
{
	uint8_t b[16];
	char hex[40];
	struct iscsi_keybuf kb;
	char out[16];
	uint64_t n;
	bool yes;

	ck_assert_int_eq(iscsi_key_binary("0x0a0B", b, sizeof(b)), 2);
	ck_assert_uint_eq(b[0], 0x0a);
	ck_assert_uint_eq(b[1], 0x0b);
	ck_assert_int_eq(iscsi_key_binary("0xabc", b, sizeof(b)), 2); /* odd: leading 0 */
	ck_assert_uint_eq(b[0], 0x0a);
	ck_assert_int_eq(iscsi_key_binary("0bAQID", b, sizeof(b)), 3);
	ck_assert_uint_eq(b[2], 3);
	ck_assert_int_eq(iscsi_key_binary("0xzz", b, sizeof(b)), -EINVAL);
	ck_assert_int_eq(iscsi_key_binary("1234", b, sizeof(b)), -EINVAL);
	ck_assert_int_eq(iscsi_key_binary("0x00112233445566778899aabbccddeeff00", b, 16), -E2BIG);
	iscsi_key_hex((const uint8_t *)"\x01\xfe", 2, hex);
	ck_assert_str_eq(hex, "0x01fe");
	ck_assert_int_eq(iscsi_key_number("12a", &n), -EINVAL);
	ck_assert_int_eq(iscsi_key_number("", &n), -EINVAL);
	ck_assert_int_eq(iscsi_key_bool("Yes", &yes), 0);
	ck_assert(yes);
	ck_assert_int_eq(iscsi_key_bool("yes", &yes), -EINVAL);
	ck_assert(iscsi_key_list_has("None,CRC32C", "CRC32C"));
	ck_assert(!iscsi_key_list_has("None,CRC32", "CRC32C"));
	iscsi_keybuf_init(&kb, out, sizeof(out));
	iscsi_keybuf_add(&kb, "Key", "Value");
	ck_assert_uint_eq(kb.len, 10);
	ck_assert(!kb.overflow);
	iscsi_keybuf_add(&kb, "Another", "Value");
	ck_assert(kb.overflow);
}
END_TEST

static Suite *
pdu_suite(void)
{
	Suite *s = suite_create("iscsi_pdu");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_bhs_valid);
	tcase_add_test(tc, test_bhs_invalid);
	tcase_add_test(tc, test_ahs);
	tcase_add_test(tc, test_digest);
	tcase_add_test(tc, test_sn);
	tcase_add_test(tc, test_keys_parse);
	tcase_add_test(tc, test_keys_values);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pdu_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
