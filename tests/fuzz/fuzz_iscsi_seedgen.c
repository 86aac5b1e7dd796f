/* Writes seed inputs for fuzz_iscsi (see its header for the format) into DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi_pdu.h"

static void
put(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

static size_t
login_pdu(uint8_t *p, uint8_t flags, const char *pairs, size_t n)
{
	iscsi_bhs_init(p, ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE, flags, (uint32_t)n);
	p[8] = 0x80;
	iscsi_put32(p + 16, 1);
	memcpy(p + ISCSI_BHS_LEN, pairs, n);
	return ISCSI_BHS_LEN + n;
}

int
main(int argc, char **argv)
{
	static uint8_t b[65536];
	static const char k1[] = "InitiatorName=iqn.x\0SessionType=Normal\0"
				 "TargetName=iqn.2026-11.io.tessera:chap\0AuthMethod=CHAP,None";
	static const char k2[] = "CHAP_A=5";
	static const char k3[] = "CHAP_N=user\0CHAP_R=0x00112233445566778899aabbccddeeff\0"
				 "CHAP_I=1\0CHAP_C=0xffeeddccbbaa";
	static const char k4[] = "InitiatorName=iqn.x\0TargetName=iqn.2026-11.io.tessera:fuzz\0"
				 "HeaderDigest=CRC32C,None\0DataDigest=None\0"
				 "MaxRecvDataSegmentLength=262144\0MaxBurstLength=16776192\0"
				 "FirstBurstLength=262144\0InitialR2T=No\0ImmediateData=Yes\0"
				 "MaxOutstandingR2T=1\0ErrorRecoveryLevel=0";
	static const uint8_t cdbs[][16] = {
		{0x12, 0x01, 0x83, 0x00, 0xff},
		{0x12, 0x01, 0xb0, 0x00, 0xff},
		{0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32},
		{0x2a, 0, 0, 0, 0, 1, 0, 0, 1},
		{0x89, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1},
		{0x42, 0, 0, 0, 0, 0, 0, 0, 24},
		{0x5f, 0x00, 0, 0, 0, 0, 0, 0, 24},
		{0x5a, 0x00, 0x3f, 0xff, 0, 0, 0, 0x10, 0x00},
		{0xa3, 0x0c, 0x80, 0, 0, 0, 0, 0, 0x10, 0},
		{0x41, 0x08, 0, 0, 0, 0, 0, 0, 4},
		{0x2f, 0x02, 0, 0, 0, 4, 0, 0, 1},
	};
	size_t n;
	char name[32];

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 1;
	}
	/* 0: a SCSI Command BHS with an extended-CDB AHS */
	b[0] = 0;
	iscsi_bhs_init(b + 1, ISCSI_OP_SCSI_CMD, 0xa0, 0);
	b[1 + 4] = 5;
	iscsi_put16(b + 1 + 48, 17);
	b[1 + 48 + 2] = 1;
	put(argv[1], "bhs", b, 1 + 48 + 20);
	/* 1: keys */
	b[0] = 1;
	memcpy(b + 1, "SendTargets=All", 16);
	put(argv[1], "text", b, 17);
	memcpy(b + 1, k4, sizeof(k4));
	put(argv[1], "keys", b, 1 + sizeof(k4));
	/* 2: logins: CHAP three steps; operational straight to full feature */
	b[0] = 2;
	n = 1;
	n += login_pdu(b + n, ISCSI_LOGIN_TRANSIT | 1, k1, sizeof(k1));
	n += login_pdu(b + n, ISCSI_LOGIN_TRANSIT | 1, k2, sizeof(k2));
	n += login_pdu(b + n, ISCSI_LOGIN_TRANSIT | 1, k3, sizeof(k3));
	put(argv[1], "login-chap", b, n);
	n = 1 + login_pdu(b + 1, ISCSI_LOGIN_TRANSIT | 1 << 2 | 3, k4, sizeof(k4));
	put(argv[1], "login-op", b, n);
	/* 3: SCSI commands with 4 KiB of data */
	for (size_t i = 0; i < sizeof(cdbs) / sizeof(cdbs[0]); i++) {
		memset(b, 0, 21 + 8192);
		b[0] = 3;
		memcpy(b + 1, cdbs[i], 16);
		b[17] = 0x20; /* EDTL 8192 */
		b[19] = 3;
		b[21 + 1] = 22; /* plausible parameter list header */
		b[21 + 3] = 16;
		snprintf(name, sizeof(name), "scsi-%02x-%zu", cdbs[i][0], i);
		put(argv[1], name, b, 21 + 8192);
	}
	return 0;
}
