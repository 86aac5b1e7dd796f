/*
 * The connection layer end to end: a real worker thread serving a RAM LUN,
 * driven through a socketpair by a minimal initiator written here. Covers
 * Data-Out sequencing: a DataSN out of order (repeated, far ahead, -1,
 * swapped, in an R2T sequence) ends the command with CHECK CONDITION /
 * ABORTED COMMAND / PROTOCOL SERVICE CRC ERROR (RFC 7143 7.8, 7.9), writes
 * nothing and keeps the connection; in-order Data-Out writes; a Data-Out
 * beyond the expected transfer length still closes the connection.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "iscsi_conn.h"
#include "iscsi_lun.h"
#include "iscsi_pdu.h"
#include "iscsi_scsi.h"

#define IQN "iqn.2026-11.io.tessera:conn-unit"
#define BLK ISCSI_BLOCK_SIZE
#define LUN_BLOCKS 64u
#define FIRST_BURST 65536u
#define MAX_DATA (1u << 20)

static struct iscsi_worker worker;
static struct iscsi_server_opts opts;
static struct iscsi_config *cfg;
static int fd = -1;          /* the initiator's end */
static uint32_t cmdsn, itt = 0x100;
static uint8_t rhdr[ISCSI_BHS_LEN];
static uint8_t *rdata;       /* data segment of the last PDU received */
static uint8_t *wdata;       /* data we send */

static void
send_all(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t r = send(fd, b, n, MSG_NOSIGNAL);

		/* The target may close while we still send (a protocol error in a
		 * header we just sent): the next recv_pdu() then sees the close. */
		if (r < 0 && (errno == EPIPE || errno == ECONNRESET))
			return;
		ck_assert_msg(r > 0, "send failed");
		b += r;
		n -= (size_t)r;
	}
}

/* Reads n bytes; returns false when the target closed, fails on a timeout. */
static bool
recv_all(void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = recv(fd, b, n, 0);

		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return false; /* closed (with our data unread: reset) */
		ck_assert_msg(r > 0, "recv failed or timed out: %s", strerror(errno));
		b += r;
		n -= (size_t)r;
	}
	return true;
}

static void
send_pdu(const uint8_t *hdr, const void *data, uint32_t len)
{
	static const uint8_t pad[4];

	send_all(hdr, ISCSI_BHS_LEN);
	if (len) {
		send_all(data, len);
		if (len % 4)
			send_all(pad, 4 - len % 4);
	}
}

/* The next PDU from the target (header in rhdr, data in rdata); false on EOF. */
static bool
recv_pdu(void)
{
	uint32_t len, padded;

	if (!recv_all(rhdr, ISCSI_BHS_LEN))
		return false;
	ck_assert_int_eq(rhdr[4], 0); /* no AHS from the target */
	len = iscsi_get24(rhdr + 5);
	padded = (len + 3) & ~3u;
	ck_assert_uint_le(padded, MAX_DATA);
	if (padded && !recv_all(rdata, padded))
		return false;
	return true;
}

static void
login(void)
{
	uint8_t h[ISCSI_BHS_LEN];
	char text[1024];
	int n = 0;
	const char *keys[] = {
		"InitiatorName=iqn.2026-11.io.tessera:conn-unit-initiator",
		"TargetName=" IQN,
		"SessionType=Normal",
		"HeaderDigest=None",
		"DataDigest=None",
		"InitialR2T=No",
		"ImmediateData=No",
		"MaxRecvDataSegmentLength=262144",
		"MaxBurstLength=1048576",
		"FirstBurstLength=65536",
		"ErrorRecoveryLevel=0",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "%s", keys[i]) + 1;
	/* Operational stage straight away (no security stage), to full feature. */
	iscsi_bhs_init(h, ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE,
		       ISCSI_LOGIN_TRANSIT | 1 << 2 | 3, (uint32_t)n);
	h[8] = 0x80;
	h[13] = 0x42;
	iscsi_put32(h + 16, 1);
	cmdsn = 7;
	iscsi_put32(h + 24, cmdsn);
	send_pdu(h, text, (uint32_t)n);
	ck_assert(recv_pdu());
	ck_assert_int_eq(rhdr[0] & 0x3f, ISCSI_OP_LOGIN_RSP);
	ck_assert_int_eq(rhdr[36], 0); /* status class: success */
	ck_assert(rhdr[1] & ISCSI_LOGIN_TRANSIT);
	ck_assert_int_eq(ISCSI_LOGIN_NSG(rhdr[1]), 3);
	cmdsn = iscsi_get32(rhdr + 28); /* ExpCmdSN */
}

static void
setup(void)
{
	struct iscsi_lun *lun;
	int sv[2];
	struct timeval tv = {.tv_sec = 20};

	iscsi_lun_release_hook = iscsi_lun_release;
	cfg = calloc(1, sizeof(*cfg));
	ck_assert_ptr_nonnull(cfg);
	atomic_init(&cfg->refs, 1);
	cfg->ntargets = 1;
	snprintf(cfg->targets[0].iqn, ISCSI_NAME_MAX, "%s", IQN);
	ck_assert_int_eq(iscsi_lun_open_ram(0, LUN_BLOCKS * BLK, "conn-unit", &lun), 0);
	cfg->targets[0].luns[0] = lun;
	cfg->targets[0].nluns = 1;
	cfg->nportals = 1;
	snprintf(cfg->portals[0], sizeof(cfg->portals[0]), "127.0.0.1:3260");
	cfg->tpgt = 1;
	cfg->limits.max_recv_dsl = 262144;
	cfg->limits.max_burst = 1 << 20;
	cfg->limits.first_burst = FIRST_BURST;
	cfg->limits.max_io = 1 << 20;
	cfg->limits.immediate_data = true;

	opts.cmd_window = 16;
	iscsi_sessions_init();
	ck_assert_int_eq(iscsi_worker_start(&worker, 0, NULL, &opts), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* A hung target fails the test instead of blocking it. */
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	fd = sv[0];
	ck_assert_int_eq(iscsi_worker_add_conn(&worker, sv[1], cfg), 0);
	rdata = malloc(MAX_DATA);
	wdata = malloc(MAX_DATA);
	ck_assert_ptr_nonnull(rdata);
	ck_assert_ptr_nonnull(wdata);
	login();
}

static void
teardown(void)
{
	close(fd);
	fd = -1;
	iscsi_worker_stop(&worker);
	iscsi_config_put(cfg);
	cfg = NULL;
	free(rdata);
	free(wdata);
}

/* A SCSI Command PDU (no immediate data); a write's unsolicited Data-Out follows (F = 0). */
static void
send_cmd(uint8_t op, uint32_t lba, uint16_t blocks, bool write, uint32_t edtl)
{
	uint8_t h[ISCSI_BHS_LEN];

	itt++;
	iscsi_bhs_init(h, ISCSI_OP_SCSI_CMD,
		       (uint8_t)((write ? ISCSI_CMD_WRITE : ISCSI_FLAG_FINAL | ISCSI_CMD_READ) | 1),
		       0);
	iscsi_put64(h + 8, iscsi_lun_encode(0));
	iscsi_put32(h + 16, itt);
	iscsi_put32(h + 20, edtl);
	iscsi_put32(h + 24, cmdsn++);
	h[32] = op;
	iscsi_put32(h + 34, lba);
	iscsi_put16(h + 39, blocks);
	send_pdu(h, NULL, 0);
}

static void
send_data_out(uint32_t ttt, uint32_t datasn, uint32_t off, uint32_t len, bool final)
{
	uint8_t h[ISCSI_BHS_LEN];

	iscsi_bhs_init(h, ISCSI_OP_DATA_OUT, final ? ISCSI_FLAG_FINAL : 0, len);
	iscsi_put64(h + 8, iscsi_lun_encode(0));
	iscsi_put32(h + 16, itt);
	iscsi_put32(h + 20, ttt);
	iscsi_put32(h + 36, datasn);
	iscsi_put32(h + 40, off);
	send_pdu(h, wdata + off, len);
}

/* The SCSI Response of the current command; returns its SCSI status. */
static uint8_t
recv_rsp(void)
{
	ck_assert_msg(recv_pdu(), "the target closed the connection");
	ck_assert_int_eq(rhdr[0] & 0x3f, ISCSI_OP_SCSI_RSP);
	ck_assert_uint_eq(iscsi_get32(rhdr + 16), itt);
	ck_assert_int_eq(rhdr[2], 0); /* command completed at target */
	return rhdr[3];
}

/* The response is CHECK CONDITION, ABORTED COMMAND, PROTOCOL SERVICE CRC ERROR. */
static void
expect_crc_error(void)
{
	const uint8_t *s = rdata + 2;

	ck_assert_int_eq(recv_rsp(), SCSI_STATUS_CHECK_CONDITION);
	ck_assert_uint_ge(iscsi_get24(rhdr + 5), 2 + 18);
	ck_assert_int_eq(s[0] & 0x7f, 0x70); /* fixed format, current */
	ck_assert_int_eq(s[2] & 0x0f, SK_ABORTED_COMMAND);
	ck_assert_int_eq(s[12], 0x47);
	ck_assert_int_eq(s[13], 0x05);
}

/* READ(10) of blocks at lba into rdata-sized out; Data-In gathered by offset. */
static void
read_blocks(uint32_t lba, uint16_t blocks, uint8_t *out)
{
	uint32_t edtl = blocks * BLK, got = 0;

	send_cmd(0x28, lba, blocks, false, edtl);
	for (int i = 0; i < 1000; i++) {
		uint32_t len, off;

		ck_assert_msg(recv_pdu(), "the target closed the connection");
		ck_assert_int_eq(rhdr[0] & 0x3f, ISCSI_OP_DATA_IN);
		len = iscsi_get24(rhdr + 5);
		off = iscsi_get32(rhdr + 40);
		ck_assert_uint_le((uint64_t)off + len, edtl);
		memcpy(out + off, rdata, len);
		got += len;
		if (rhdr[1] & ISCSI_DATAIN_STATUS) {
			ck_assert_int_eq(rhdr[3], SCSI_STATUS_GOOD);
			ck_assert_uint_eq(got, edtl);
			return;
		}
	}
	ck_abort_msg("no status after 1000 Data-In PDUs");
}

static void
expect_blocks(uint32_t lba, uint16_t blocks, uint8_t byte)
{
	uint8_t *buf = malloc((size_t)blocks * BLK);

	ck_assert_ptr_nonnull(buf);
	read_blocks(lba, blocks, buf);
	for (size_t i = 0; i < (size_t)blocks * BLK; i++)
		ck_assert_msg(buf[i] == byte, "byte %zu of LBA %u: 0x%02x, expected 0x%02x", i,
			      lba, buf[i], byte);
	free(buf);
}

/* A 2-block WRITE whose unsolicited Data-Out carry DataSN sn0, sn1. */
static void
write2_bad_datasn(uint32_t lba, uint32_t sn0, uint32_t sn1)
{
	memset(wdata, 0xa6, 2 * BLK);
	send_cmd(0x2a, lba, 2, true, 2 * BLK);
	send_data_out(ISCSI_RSVD_TAG, sn0, 0, BLK, false);
	send_data_out(ISCSI_RSVD_TAG, sn1, BLK, BLK, true);
	expect_crc_error();
	expect_blocks(lba, 2, 0);
}

START_TEST(datasn_repeated)
{
	/* libiscsi's iSCSIDataSnInvalid, case 1: two Data-Out with DataSN 0. */
	write2_bad_datasn(10, 0, 0);
}
END_TEST

START_TEST(datasn_ahead_and_minus_one)
{
	/* Cases 2 and 3: one Data-Out with DataSN 27, then one with -1. */
	memset(wdata, 0xa6, BLK);
	send_cmd(0x2a, 10, 1, true, BLK);
	send_data_out(ISCSI_RSVD_TAG, 27, 0, BLK, true);
	expect_crc_error();
	send_cmd(0x2a, 10, 1, true, BLK);
	send_data_out(ISCSI_RSVD_TAG, 0xffffffffu, 0, BLK, true);
	expect_crc_error();
	expect_blocks(10, 1, 0);
}
END_TEST

START_TEST(datasn_swapped)
{
	/* Case 4: DataSN 1 then 0; the second is drained without a check. */
	write2_bad_datasn(12, 1, 0);
}
END_TEST

START_TEST(datasn_in_r2t_sequence)
{
	/* FirstBurstLength unsolicited (good), then an R2T whose Data-Out is wrong. */
	uint32_t total = FIRST_BURST + 2 * BLK, ttt;

	memset(wdata, 0x5c, total);
	send_cmd(0x2a, 20, (uint16_t)(total / BLK), true, total);
	send_data_out(ISCSI_RSVD_TAG, 0, 0, FIRST_BURST, true);
	ck_assert(recv_pdu());
	ck_assert_int_eq(rhdr[0] & 0x3f, ISCSI_OP_R2T);
	ck_assert_uint_eq(iscsi_get32(rhdr + 40), FIRST_BURST);
	ck_assert_uint_eq(iscsi_get32(rhdr + 44), 2 * BLK);
	ttt = iscsi_get32(rhdr + 20);
	send_data_out(ttt, 3, FIRST_BURST, BLK, false);
	send_data_out(ttt, 1, FIRST_BURST + BLK, BLK, true);
	expect_crc_error();
	expect_blocks(20, (uint16_t)(total / BLK), 0);
}
END_TEST

START_TEST(datasn_in_order_writes)
{
	/* The connection lives on after errors, and in-order data is written. */
	uint32_t total = FIRST_BURST + 2 * BLK, ttt;

	memset(wdata, 0xa6, BLK);
	send_cmd(0x2a, 30, 1, true, BLK);
	send_data_out(ISCSI_RSVD_TAG, 27, 0, BLK, true);
	expect_crc_error();
	memset(wdata, 0x3c, total);
	send_cmd(0x2a, 30, (uint16_t)(total / BLK), true, total);
	for (uint32_t i = 0; i < FIRST_BURST / BLK; i++)
		send_data_out(ISCSI_RSVD_TAG, i, i * BLK, BLK, i == FIRST_BURST / BLK - 1);
	ck_assert(recv_pdu());
	ck_assert_int_eq(rhdr[0] & 0x3f, ISCSI_OP_R2T);
	ttt = iscsi_get32(rhdr + 20);
	send_data_out(ttt, 0, FIRST_BURST, BLK, false);
	send_data_out(ttt, 1, FIRST_BURST + BLK, BLK, true);
	ck_assert_int_eq(recv_rsp(), SCSI_STATUS_GOOD);
	expect_blocks(30, (uint16_t)(total / BLK), 0x3c);
}
END_TEST

START_TEST(data_out_beyond_edtl_closes)
{
	/* A malformed Data-Out (offset past EDTL) is a protocol error: connection closed. */
	memset(wdata, 0xa6, 2 * BLK);
	send_cmd(0x2a, 40, 1, true, BLK);
	send_data_out(ISCSI_RSVD_TAG, 0, BLK, BLK, true);
	ck_assert_msg(!recv_pdu(), "the connection should have been closed");
}
END_TEST

int
main(void)
{
	const TTest *const tests[] = {
		datasn_repeated,	datasn_ahead_and_minus_one, datasn_swapped,
		datasn_in_r2t_sequence, datasn_in_order_writes,	    data_out_beyond_edtl_closes,
	};
	Suite *s = suite_create("iscsi_conn");
	TCase *tc = tcase_create("datasn");
	SRunner *sr = srunner_create(s);
	int nfail;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(s, tc);
	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail ? EXIT_FAILURE : EXIT_SUCCESS;
}
