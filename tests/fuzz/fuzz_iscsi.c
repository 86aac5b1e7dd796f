/*
 * libFuzzer target for tessera-iscsi's parsers of untrusted bytes. The first
 * input byte picks the path:
 *   0: BHS decode (+ AHS of a SCSI Command)
 *   1: text keys (iscsi_keys_parse) and the Text/SendTargets answer
 *   2: a login: a sequence of [48-byte BHS][data of its DataSegmentLength]
 *      fed to the login state machine (negotiation, CHAP) until it ends
 *   3: the SCSI layer: a 16-byte CDB, a 4-byte EDTL and Data-Out, run on a
 *      small RAM LUN (CDB decoding, parameter lists, PR, mode pages)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi_keys.h"
#include "iscsi_login.h"
#include "iscsi_lun.h"
#include "iscsi_pdu.h"
#include "iscsi_scsi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct iscsi_config *
fuzz_config(void)
{
	static struct iscsi_config *cfg;
	static struct iscsi_lun *lun;

	if (cfg)
		return cfg;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || iscsi_lun_open_ram(0, 64 * 4096, "fuzz", &lun) < 0)
		abort();
	atomic_init(&cfg->refs, 1);
	cfg->ntargets = 2;
	strcpy(cfg->targets[0].iqn, "iqn.2026-11.io.tessera:fuzz");
	cfg->targets[0].nluns = 1;
	cfg->targets[0].luns[0] = lun;
	strcpy(cfg->targets[1].iqn, "iqn.2026-11.io.tessera:chap");
	strcpy(cfg->targets[1].chap.user, "user");
	strcpy(cfg->targets[1].chap.secret, "secret-secret");
	strcpy(cfg->targets[1].mutual.user, "tgt");
	strcpy(cfg->targets[1].mutual.secret, "tgt-secret-123");
	cfg->targets[1].nacl = 1;
	strcpy(cfg->targets[1].acl[0], "iqn.x");
	cfg->nportals = 1;
	strcpy(cfg->portals[0], "127.0.0.1:3260");
	cfg->tpgt = 1;
	cfg->limits.max_recv_dsl = 8192;
	cfg->limits.max_burst = 65536;
	cfg->limits.first_burst = 65536;
	cfg->limits.max_io = 65536;
	cfg->limits.immediate_data = true;
	return cfg;
}

static void
fuzz_login(const uint8_t *data, size_t size)
{
	static struct iscsi_login lg;
	static uint8_t rsp[ISCSI_BHS_LEN];
	static char text[16384], out[8192];
	uint32_t out_len;

	iscsi_login_init(&lg, fuzz_config());
	while (size >= ISCSI_BHS_LEN) {
		struct iscsi_bhs b;
		uint32_t dl;
		enum iscsi_login_result r;

		if (iscsi_bhs_parse(data, sizeof(text), &b) < 0 || b.opcode != ISCSI_OP_LOGIN_REQ)
			break;
		dl = b.data_len;
		if (dl > size - ISCSI_BHS_LEN)
			dl = (uint32_t)(size - ISCSI_BHS_LEN);
		memcpy(text, data + ISCSI_BHS_LEN, dl);
		r = iscsi_login_pdu(&lg, data, text, dl, rsp, out, sizeof(out), &out_len);
		if (out_len > sizeof(out))
			abort();
		data += ISCSI_BHS_LEN + dl;
		size -= ISCSI_BHS_LEN + dl;
		if (r != ISCSI_LOGIN_R_CONTINUE)
			break;
	}
	iscsi_login_fini(&lg);
}

static void
scmd_done(struct iscsi_scmd *cmd)
{
	cmd->state = 0; /* completions are counted by the ioq drain below */
}

static void
fuzz_scsi(const uint8_t *data, size_t size)
{
	static uint8_t *buf;
	static struct iscsi_nexus nexus = {.id = "iqn.fuzz,i,0x000000000001"};
	struct iscsi_config *cfg = fuzz_config();
	struct iscsi_ioq ioq;
	struct iscsi_scmd cmd;
	int rc;

	if (size < 20)
		return;
	if (!buf && !(buf = aligned_alloc(4096, 2 * 65536)))
		abort();
	memset(&ioq, 0, sizeof(ioq));
	memset(&cmd, 0, sizeof(cmd));
	memcpy(cmd.cdb, data, 16);
	cmd.edtl = (uint32_t)data[16] << 8 | data[17];
	cmd.dir_read = data[18] & 1;
	cmd.dir_write = data[18] & 2;
	cmd.lun = data[19] & 1 ? NULL : cfg->targets[0].luns[0];
	cmd.nexus = &nexus;
	cmd.ioq = &ioq;
	cmd.buf = buf;
	cmd.buf_cap = 2 * 65536;
	cmd.max_io = 65536;
	cmd.luns = (const struct iscsi_lun **)cfg->targets[0].luns;
	cmd.nluns = 1;
	cmd.done = scmd_done;
	data += 20;
	size -= 20;
	rc = iscsi_scsi_prepare(&cmd);
	if (rc != 0)
		return;
	if (cmd.out_len > cmd.buf_cap)
		abort();
	cmd.out_got = cmd.out_len < cmd.edtl ? cmd.out_len : cmd.edtl;
	if (cmd.out_got > size)
		cmd.out_got = (uint32_t)size;
	memcpy(buf, data, cmd.out_got);
	memset(buf + cmd.out_got, 0, cmd.out_len - cmd.out_got);
	if (iscsi_scsi_exec(&cmd) == 0) {
		for (int i = 0; i < 100000 && (ioq.defer_head || ioq.wait_head); i++) {
			iscsi_ioq_run_deferred(&ioq);
			iscsi_ioq_retry(&ioq);
		}
		if (ioq.defer_head || ioq.wait_head)
			abort();
	}
	if (cmd.in_len > cmd.buf_cap || cmd.sense_len > ISCSI_SENSE_MAX)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[16384 + 1];
	static char out[8192];
	struct iscsi_keys keys;
	struct iscsi_bhs b;
	const uint8_t *cdb;
	uint32_t cdb_len;

	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0:
		if (size >= 1 + ISCSI_BHS_LEN &&
		    iscsi_bhs_parse(data + 1, 1 << 24, &b) == 0 && b.ahs_len)
			iscsi_ahs_parse(data + 1 + ISCSI_BHS_LEN,
					b.ahs_len < size - 1 - ISCSI_BHS_LEN
						? b.ahs_len
						: (uint32_t)(size - 1 - ISCSI_BHS_LEN),
					&cdb, &cdb_len);
		break;
	case 1:
		if (size - 1 > sizeof(text) - 1)
			return 0;
		memcpy(text, data + 1, size - 1);
		if (iscsi_keys_parse(text, size - 1, &keys) == 0) {
			uint64_t n;
			uint8_t bin[64];

			for (unsigned i = 0; i < keys.n; i++) {
				iscsi_key_number(keys.kv[i].val, &n);
				iscsi_key_binary(keys.kv[i].val, bin, sizeof(bin));
			}
		}
		memcpy(text, data + 1, size - 1);
		iscsi_text_answer(fuzz_config(), NULL, "iqn.x", text, (uint32_t)(size - 1), out,
				  sizeof(out));
		break;
	case 2:
		fuzz_login(data + 1, size - 1);
		break;
	default:
		fuzz_scsi(data + 1, size - 1);
		break;
	}
	return 0;
}
