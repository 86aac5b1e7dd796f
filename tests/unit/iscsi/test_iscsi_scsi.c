/* SCSI command layer over a RAM LUN: data path, sense data, VPD, PR, UA. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi_lun.h"
#include "iscsi_pdu.h"
#include "iscsi_scsi.h"

#define BLK ISCSI_BLOCK_SIZE
#define MAX_IO (1u << 20)

static struct iscsi_lun *lun;
static struct iscsi_ioq ioq;
static struct iscsi_nexus nex_a, nex_b;
static uint8_t *buf;
static int done_count;

static void
setup(void)
{
	ck_assert_int_eq(iscsi_lun_open_ram(1, 256 * BLK, "unit", &lun), 0);
	memset(&ioq, 0, sizeof(ioq));
	memset(&nex_a, 0, sizeof(nex_a));
	memset(&nex_b, 0, sizeof(nex_b));
	strcpy(nex_a.id, "iqn.a,i,0x000000000001");
	strcpy(nex_b.id, "iqn.b,i,0x000000000002");
	buf = aligned_alloc(4096, 2 * MAX_IO);
}

static void
teardown(void)
{
	iscsi_lun_ram_free(lun);
	free(buf);
}

static void
on_done(struct iscsi_scmd *cmd)
{
	(void)cmd;
	done_count++;
}

/* Run one command to completion; data (out bytes) goes in first. */
static void
run(struct iscsi_scmd *cmd, struct iscsi_nexus *nx, const uint8_t *cdb, size_t cdb_len,
    uint32_t edtl, const void *data)
{
	int rc;

	memset(cmd, 0, sizeof(*cmd));
	memcpy(cmd->cdb, cdb, cdb_len);
	cmd->lun = lun;
	cmd->nexus = nx;
	cmd->ioq = &ioq;
	cmd->edtl = edtl;
	cmd->buf = buf;
	cmd->buf_cap = 2 * MAX_IO;
	cmd->max_io = MAX_IO;
	cmd->done = on_done;
	rc = iscsi_scsi_prepare(cmd);
	if (rc == 1)
		return;
	ck_assert_int_eq(rc, 0);
	if (cmd->out_len) {
		ck_assert_ptr_nonnull(data);
		memcpy(buf, data, cmd->out_len < edtl ? cmd->out_len : edtl);
	}
	cmd->out_got = cmd->out_len < edtl ? cmd->out_len : edtl;
	done_count = 0;
	rc = iscsi_scsi_exec(cmd);
	if (rc == 1)
		return;
	for (int i = 0; i < 10000 && !done_count; i++) {
		iscsi_ioq_run_deferred(&ioq);
		iscsi_ioq_retry(&ioq);
	}
	ck_assert_int_eq(done_count, 1);
}

static void
assert_sense(const struct iscsi_scmd *cmd, uint8_t key, uint16_t asc)
{
	ck_assert_uint_eq(cmd->status, SCSI_STATUS_CHECK_CONDITION);
	ck_assert_uint_eq(cmd->sense[0] & 0x7f, 0x70);
	ck_assert_uint_eq(cmd->sense[2] & 0x0f, key);
	ck_assert_uint_eq(cmd->sense[12], asc >> 8);
	ck_assert_uint_eq(cmd->sense[13], asc & 0xff);
}

START_TEST(test_rw)
{
	struct iscsi_scmd cmd;
	uint8_t w10[10] = {0x2a, 0, 0, 0, 0, 8, 0, 0, 2, 0};
	uint8_t r16[16] = {0x88};
	uint8_t *data = malloc(2 * BLK);

	memset(data, 0x5a, 2 * BLK);
	run(&cmd, &nex_a, w10, 10, 2 * BLK, data);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	iscsi_put64(r16 + 2, 8);
	iscsi_put32(r16 + 10, 2);
	memset(buf, 0, 2 * BLK);
	run(&cmd, &nex_a, r16, 16, 2 * BLK, NULL);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.in_len, 2 * BLK);
	ck_assert_int_eq(memcmp(buf, data, 2 * BLK), 0);
	/* out of range, past the end */
	iscsi_put64(r16 + 2, 255);
	run(&cmd, &nex_a, r16, 16, 2 * BLK, NULL);
	assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	/* RDPROTECT without protection information */
	iscsi_put64(r16 + 2, 0);
	r16[1] = 0x20;
	run(&cmd, &nex_a, r16, 16, 2 * BLK, NULL);
	assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	/* a short EDTL writes only the blocks that came */
	w10[8] = 2;
	memset(data, 0x11, 2 * BLK);
	run(&cmd, &nex_a, w10, 10, BLK, data);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	free(data);
}
END_TEST

START_TEST(test_opcodes)
{
	struct iscsi_scmd cmd;
	uint8_t bad[6] = {0xff};
	uint8_t tur[6] = {0};
	uint8_t inq[6] = {0x12, 0, 0, 0, 96, 0};
	uint8_t vpd[6] = {0x12, 1, 0xb0, 0, 64, 0};
	uint8_t rc10[10] = {0x25};
	uint8_t rl[12] = {0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
	uint8_t rso[12] = {0xa3, 0x0c, 0x01, 0x2a, 0, 0, 0, 0, 1, 0, 0, 0};
	const struct iscsi_lun *luns[1] = {lun};

	run(&cmd, &nex_a, bad, 6, 0, NULL);
	assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
	run(&cmd, &nex_a, tur, 6, 0, NULL);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	run(&cmd, &nex_a, inq, 6, 96, NULL);
	ck_assert_uint_eq(cmd.in_len, 96);
	ck_assert_int_eq(memcmp(buf + 8, "TESSERA ", 8), 0);
	run(&cmd, &nex_a, vpd, 6, 64, NULL);
	ck_assert_uint_eq(buf[1], 0xb0);
	ck_assert_uint_eq(iscsi_get32(buf + 8), MAX_IO / BLK);
	run(&cmd, &nex_a, rc10, 10, 8, NULL);
	ck_assert_uint_eq(iscsi_get32(buf), 255);
	ck_assert_uint_eq(iscsi_get32(buf + 4), BLK);
	memset(&cmd, 0, sizeof(cmd));
	run(&cmd, &nex_a, rl, 12, 256, NULL);
	/* run() resets luns; do it by hand */
	cmd.luns = luns;
	cmd.nluns = 1;
	ck_assert_int_eq(iscsi_scsi_prepare(&cmd), 1);
	ck_assert_uint_eq(iscsi_get32(buf), 8);
	ck_assert_uint_eq(buf[9], 1);
	run(&cmd, &nex_a, rso, 12, 256, NULL);
	ck_assert_uint_eq(buf[1] & 0x07, 3); /* WRITE(10) supported */
	ck_assert_uint_eq(iscsi_get16(buf + 2), 10);
	{
		uint8_t rtpg[12] = {0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};

		nex_a.rel_port_id = 7;
		run(&cmd, &nex_a, rtpg, 12, 256, NULL);
		ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
		ck_assert_uint_eq(iscsi_get32(buf), 12);
		ck_assert_uint_eq(buf[4] & 0x0f, 0); /* active/optimized */
		ck_assert_uint_eq(iscsi_get16(buf + 6), 7);
		ck_assert_uint_eq(iscsi_get16(buf + 14), 7);
		/* every gateway's group, the same list through every path */
		{
			const uint16_t ids[] = {3, 7};

			iscsi_scsi_set_tpgs(ids, 2);
			run(&cmd, &nex_a, rtpg, 12, 256, NULL);
			ck_assert_uint_eq(iscsi_get32(buf), 24);
			ck_assert_uint_eq(iscsi_get16(buf + 6), 3);
			ck_assert_uint_eq(iscsi_get16(buf + 18), 7);
			iscsi_scsi_set_tpgs(ids, 0);
		}
	}
	/* no LUN */
	memset(&cmd, 0, sizeof(cmd));
	memcpy(cmd.cdb, tur, 6);
	cmd.buf = buf;
	cmd.nexus = &nex_a;
	ck_assert_int_eq(iscsi_scsi_prepare(&cmd), 1);
	assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED);
}
END_TEST

START_TEST(test_caw_unmap_ws)
{
	struct iscsi_scmd cmd;
	uint8_t caw[16] = {0x89};
	uint8_t unmap[10] = {0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0};
	uint8_t ws[10] = {0x41, 0, 0, 0, 0, 0, 0, 0, 4, 0};
	uint8_t r10[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 4, 0};
	uint8_t *data = calloc(1, 2 * BLK);
	uint8_t plist[24] = {0, 22, 0, 16};

	/* compare zeroes (a fresh LUN) and write 0xAB */
	iscsi_put64(caw + 2, 3);
	caw[13] = 1;
	memset(data + BLK, 0xab, BLK);
	run(&cmd, &nex_a, caw, 16, 2 * BLK, data);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	/* now the compare fails at byte 0 */
	run(&cmd, &nex_a, caw, 16, 2 * BLK, data);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_CHECK_CONDITION);
	ck_assert_uint_eq(cmd.sense[2] & 0x0f, SK_MISCOMPARE);
	ck_assert_uint_eq(cmd.sense[0] & 0x80, 0x80); /* INFORMATION valid */
	ck_assert_uint_eq(iscsi_get32(cmd.sense + 3), 0);
	/* wrong Data-Out size */
	run(&cmd, &nex_a, caw, 16, BLK, data);
	assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	/* WRITE SAME of a pattern over 4 blocks, then read it */
	memset(data, 0x42, BLK);
	run(&cmd, &nex_a, ws, 10, BLK, data);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	run(&cmd, &nex_a, r10, 10, 4 * BLK, NULL);
	for (unsigned i = 0; i < 4 * BLK; i++)
		ck_assert_uint_eq(buf[i], 0x42);
	/* UNMAP blocks 1..2 */
	iscsi_put64(plist + 8, 1);
	iscsi_put32(plist + 16, 2);
	run(&cmd, &nex_a, unmap, 10, 24, plist);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	run(&cmd, &nex_a, r10, 10, 4 * BLK, NULL);
	ck_assert_uint_eq(buf[0], 0x42);
	ck_assert_uint_eq(buf[BLK], 0);
	ck_assert_uint_eq(buf[3 * BLK], 0x42);
	/* UNMAP past the end */
	iscsi_put64(plist + 8, 255);
	run(&cmd, &nex_a, unmap, 10, 24, plist);
	assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	free(data);
}
END_TEST

static void
prout(struct iscsi_scmd *cmd, struct iscsi_nexus *nx, uint8_t sa, uint8_t type, uint64_t key,
      uint64_t sakey)
{
	uint8_t cdb[10] = {0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0};
	uint8_t p[24] = {0};

	iscsi_put64(p, key);
	iscsi_put64(p + 8, sakey);
	run(cmd, nx, cdb, 10, 24, p);
}

START_TEST(test_pr)
{
	struct iscsi_scmd cmd;
	uint8_t w10[10] = {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	uint8_t r10[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	uint8_t keys[10] = {0x5e, 0, 0, 0, 0, 0, 0, 0, 64, 0};
	uint8_t *data = calloc(1, BLK);

	prout(&cmd, &nex_a, 0, 0, 0, 0xaa);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	prout(&cmd, &nex_b, 0, 0, 0, 0xbb);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	run(&cmd, &nex_a, keys, 10, 64, NULL);
	ck_assert_uint_eq(iscsi_get32(buf + 4), 16);
	/* A takes write-exclusive: B may read, not write */
	prout(&cmd, &nex_a, 1, 1, 0xaa, 0);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	run(&cmd, &nex_b, r10, 10, BLK, NULL);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	run(&cmd, &nex_b, w10, 10, BLK, data);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_RESERVATION_CONFLICT);
	run(&cmd, &nex_a, w10, 10, BLK, data);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	/* a wrong key is a conflict; B preempts A */
	prout(&cmd, &nex_b, 1, 1, 0x99, 0);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_RESERVATION_CONFLICT);
	prout(&cmd, &nex_b, 4, 1, 0xbb, 0xaa);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	run(&cmd, &nex_b, w10, 10, BLK, data);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	/* A was preempted: a unit attention first, then a conflict */
	run(&cmd, &nex_a, w10, 10, BLK, data);
	assert_sense(&cmd, SK_UNIT_ATTENTION, ASC_REGISTRATIONS_PREEMPTED);
	run(&cmd, &nex_a, w10, 10, BLK, data);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_RESERVATION_CONFLICT);
	prout(&cmd, &nex_b, 3, 0, 0xbb, 0); /* CLEAR */
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	run(&cmd, &nex_a, w10, 10, BLK, data);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	free(data);
}
END_TEST

START_TEST(test_capacity_ua)
{
	struct iscsi_scmd cmd;
	uint8_t tur[6] = {0};
	uint8_t rs[6] = {0x03, 0, 0, 0, 18, 0};

	atomic_fetch_add(&lun->size_gen, 1);
	run(&cmd, &nex_a, tur, 6, 0, NULL);
	assert_sense(&cmd, SK_UNIT_ATTENTION, ASC_CAPACITY_CHANGED);
	run(&cmd, &nex_a, tur, 6, 0, NULL);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	/* REQUEST SENSE returns NO SENSE, in descriptor format when asked */
	run(&cmd, &nex_a, rs, 6, 18, NULL);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	ck_assert_uint_eq(buf[0], 0x70);
	rs[1] = 1;
	run(&cmd, &nex_a, rs, 6, 18, NULL);
	ck_assert_uint_eq(buf[0], 0x72);
}
END_TEST

static Suite *
scsi_suite(void)
{
	Suite *s = suite_create("iscsi_scsi");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_rw);
	tcase_add_test(tc, test_opcodes);
	tcase_add_test(tc, test_caw_unmap_ws);
	tcase_add_test(tc, test_pr);
	tcase_add_test(tc, test_capacity_ua);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(scsi_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
