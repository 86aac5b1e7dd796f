/* Login state machine: stages, negotiation, CHAP (one-way, mutual, wrong), ACL, SendTargets. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi_login.h"
#include "iscsi_pdu.h"

#define IQN "iqn.2026-11.io.tessera:unit"

static struct iscsi_config *
make_config(bool chap, bool mutual, const char *acl)
{
	struct iscsi_config *cfg = calloc(1, sizeof(*cfg));

	atomic_init(&cfg->refs, 1);
	cfg->ntargets = 1;
	snprintf(cfg->targets[0].iqn, ISCSI_NAME_MAX, "%s", IQN);
	if (chap) {
		snprintf(cfg->targets[0].chap.user, ISCSI_NAME_MAX, "alice");
		snprintf(cfg->targets[0].chap.secret, ISCSI_SECRET_MAX, "alice-secret");
	}
	if (mutual) {
		snprintf(cfg->targets[0].mutual.user, ISCSI_NAME_MAX, "tgt");
		snprintf(cfg->targets[0].mutual.secret, ISCSI_SECRET_MAX, "tgt-secret");
	}
	if (acl) {
		cfg->targets[0].nacl = 1;
		snprintf(cfg->targets[0].acl[0], ISCSI_NAME_MAX, "%s", acl);
	}
	cfg->nportals = 1;
	snprintf(cfg->portals[0], sizeof(cfg->portals[0]), "127.0.0.1:3260");
	cfg->tpgt = 1;
	cfg->limits.max_recv_dsl = 65536;
	cfg->limits.max_burst = 1 << 20;
	cfg->limits.first_burst = 65536;
	cfg->limits.max_io = 1 << 20;
	cfg->limits.immediate_data = true;
	return cfg;
}

static uint8_t rsp[ISCSI_BHS_LEN];
static char rsp_text[8192];
static uint32_t rsp_len;

/* Send one login PDU with NUL-separated "k=v" pairs given as one string with '|'. */
static enum iscsi_login_result
login(struct iscsi_login *lg, int csg, int nsg, bool transit, const char *pairs)
{
	uint8_t req[ISCSI_BHS_LEN];
	char text[4096];
	size_t n = strlen(pairs);

	memcpy(text, pairs, n + 1);
	for (size_t i = 0; i < n; i++)
		if (text[i] == '|')
			text[i] = '\0';
	iscsi_bhs_init(req, ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE,
		       (uint8_t)((transit ? ISCSI_LOGIN_TRANSIT : 0) | csg << 2 | nsg),
		       (uint32_t)(n + 1));
	req[8] = 0x80; /* ISID */
	req[13] = 0x01;
	iscsi_put32(req + 16, 0x77);
	return iscsi_login_pdu(lg, req, text, (uint32_t)(n + 1), rsp, rsp_text, sizeof(rsp_text),
			       &rsp_len);
}

/* The value of key in the last response, or NULL. */
static const char *
rsp_key(const char *key)
{
	size_t kl = strlen(key);

	for (uint32_t off = 0; off < rsp_len;) {
		const char *p = rsp_text + off;

		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
			return p + kl + 1;
		off += (uint32_t)strlen(p) + 1;
	}
	return NULL;
}

static uint16_t
rsp_status(void)
{
	return (uint16_t)(rsp[36] << 8 | rsp[37]);
}

START_TEST(test_login_none)
{
	struct iscsi_config *cfg = make_config(false, false, NULL);
	struct iscsi_login lg;

	iscsi_login_init(&lg, cfg);
	ck_assert_int_eq(login(&lg, 0, 1, true,
			       "InitiatorName=iqn.i|SessionType=Normal|TargetName=" IQN
			       "|AuthMethod=CHAP,None"),
			 ISCSI_LOGIN_R_CONTINUE);
	ck_assert_str_eq(rsp_key("AuthMethod"), "None");
	ck_assert_str_eq(rsp_key("TargetPortalGroupTag"), "1");
	ck_assert_uint_eq(rsp[1], ISCSI_LOGIN_TRANSIT | 0 << 2 | 1);
	ck_assert_int_eq(login(&lg, 1, 3, true,
			       "HeaderDigest=None,CRC32C|DataDigest=CRC32C,None|"
			       "MaxRecvDataSegmentLength=8192|MaxBurstLength=16776192|"
			       "FirstBurstLength=262144|InitialR2T=No|ImmediateData=Yes|"
			       "MaxOutstandingR2T=8|ErrorRecoveryLevel=2|MaxConnections=4|"
			       "X-vendor.key=1|IFMarker=No"),
			 ISCSI_LOGIN_R_DONE);
	ck_assert_str_eq(rsp_key("HeaderDigest"), "None");
	ck_assert_str_eq(rsp_key("DataDigest"), "CRC32C");
	ck_assert_str_eq(rsp_key("MaxRecvDataSegmentLength"), "65536");
	ck_assert_str_eq(rsp_key("MaxBurstLength"), "1048576");
	ck_assert_str_eq(rsp_key("FirstBurstLength"), "65536");
	ck_assert_str_eq(rsp_key("InitialR2T"), "No");
	ck_assert_str_eq(rsp_key("MaxOutstandingR2T"), "1");
	ck_assert_str_eq(rsp_key("ErrorRecoveryLevel"), "0");
	ck_assert_str_eq(rsp_key("MaxConnections"), "1");
	ck_assert_str_eq(rsp_key("X-vendor.key"), "NotUnderstood");
	ck_assert_uint_eq(lg.params.max_xmit_dsl, 8192);
	ck_assert(lg.params.data_digest);
	ck_assert(!lg.params.header_digest);
	ck_assert(!lg.params.initial_r2t);
	iscsi_login_fini(&lg);
	iscsi_config_put(cfg);
}
END_TEST

START_TEST(test_login_errors)
{
	struct iscsi_config *cfg = make_config(false, false, "iqn.allowed");
	struct iscsi_login lg;

	iscsi_login_init(&lg, cfg);
	ck_assert_int_eq(login(&lg, 0, 1, true, "SessionType=Normal|TargetName=" IQN),
			 ISCSI_LOGIN_R_FAIL);
	ck_assert_uint_eq(rsp_status(), ISCSI_LOGIN_MISSING_PARAM);
	iscsi_login_fini(&lg);

	iscsi_login_init(&lg, cfg);
	ck_assert_int_eq(login(&lg, 0, 1, true, "InitiatorName=iqn.x|TargetName=iqn.nope"),
			 ISCSI_LOGIN_R_FAIL);
	ck_assert_uint_eq(rsp_status(), ISCSI_LOGIN_NOT_FOUND);
	iscsi_login_fini(&lg);

	iscsi_login_init(&lg, cfg);
	ck_assert_int_eq(login(&lg, 0, 1, true, "InitiatorName=iqn.other|TargetName=" IQN),
			 ISCSI_LOGIN_R_FAIL);
	ck_assert_uint_eq(rsp_status(), ISCSI_LOGIN_FORBIDDEN);
	iscsi_login_fini(&lg);

	/* a bad value fails the login; malformed text too */
	iscsi_login_init(&lg, cfg);
	ck_assert_int_eq(login(&lg, 1, 3, true,
			       "InitiatorName=iqn.allowed|TargetName=" IQN
			       "|MaxBurstLength=12"),
			 ISCSI_LOGIN_R_FAIL);
	iscsi_login_fini(&lg);
	iscsi_login_init(&lg, cfg);
	ck_assert_int_eq(login(&lg, 1, 3, true, "InitiatorName=iqn.allowed|JUNK"),
			 ISCSI_LOGIN_R_FAIL);
	iscsi_login_fini(&lg);
	/* NSG 2 is reserved */
	iscsi_login_init(&lg, cfg);
	ck_assert_int_eq(login(&lg, 0, 2, true, "InitiatorName=iqn.allowed|TargetName=" IQN),
			 ISCSI_LOGIN_R_FAIL);
	iscsi_login_fini(&lg);
	iscsi_config_put(cfg);
}
END_TEST

/* Drive CHAP: returns the final result. */
static enum iscsi_login_result
chap_login(struct iscsi_config *cfg, const char *secret, bool mutual, const char *mutual_expect)
{
	struct iscsi_login lg;
	enum iscsi_login_result r;
	uint8_t chal[64], resp[16];
	char hex[40], pairs[512];
	uint64_t id;
	int clen;

	iscsi_login_init(&lg, cfg);
	r = login(&lg, 0, 1, true, "InitiatorName=iqn.i|TargetName=" IQN "|AuthMethod=CHAP,None");
	ck_assert_int_eq(r, ISCSI_LOGIN_R_CONTINUE);
	ck_assert_str_eq(rsp_key("AuthMethod"), "CHAP");
	ck_assert_uint_eq(rsp[1] & ISCSI_LOGIN_TRANSIT, 0);
	r = login(&lg, 0, 1, true, "CHAP_A=7,5");
	ck_assert_int_eq(r, ISCSI_LOGIN_R_CONTINUE);
	ck_assert_str_eq(rsp_key("CHAP_A"), "5");
	ck_assert_int_eq(iscsi_key_number(rsp_key("CHAP_I"), &id), 0);
	clen = iscsi_key_binary(rsp_key("CHAP_C"), chal, sizeof(chal));
	ck_assert_int_eq(clen, 16);
	ck_assert_int_eq(iscsi_chap_md5((uint8_t)id, secret, chal, (size_t)clen, resp), 0);
	iscsi_key_hex(resp, 16, hex);
	snprintf(pairs, sizeof(pairs), "CHAP_N=alice|CHAP_R=%s%s", hex,
		 mutual ? "|CHAP_I=9|CHAP_C=0x00112233445566778899" : "");
	r = login(&lg, 0, 1, true, pairs);
	if (r != ISCSI_LOGIN_R_FAIL && mutual) {
		uint8_t want[16];
		const uint8_t c2[] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99};

		ck_assert_str_eq(rsp_key("CHAP_N"), "tgt");
		ck_assert_int_eq(iscsi_chap_md5(9, mutual_expect, c2, sizeof(c2), want), 0);
		iscsi_key_hex(want, 16, hex);
		ck_assert_str_eq(rsp_key("CHAP_R"), hex);
	}
	if (r != ISCSI_LOGIN_R_FAIL)
		ck_assert_uint_eq(rsp[1], ISCSI_LOGIN_TRANSIT | 1);
	iscsi_login_fini(&lg);
	return r;
}

START_TEST(test_chap)
{
	struct iscsi_config *cfg = make_config(true, true, NULL);
	struct iscsi_login lg;

	ck_assert_int_eq(chap_login(cfg, "alice-secret", false, NULL), ISCSI_LOGIN_R_CONTINUE);
	ck_assert_int_eq(chap_login(cfg, "alice-secret", true, "tgt-secret"),
			 ISCSI_LOGIN_R_CONTINUE);
	ck_assert_int_eq(chap_login(cfg, "wrong", false, NULL), ISCSI_LOGIN_R_FAIL);
	ck_assert_uint_eq(rsp_status(), ISCSI_LOGIN_AUTH_FAILED);
	/* skipping security when CHAP is required */
	iscsi_login_init(&lg, cfg);
	ck_assert_int_eq(login(&lg, 1, 3, true, "InitiatorName=iqn.i|TargetName=" IQN),
			 ISCSI_LOGIN_R_FAIL);
	ck_assert_uint_eq(rsp_status(), ISCSI_LOGIN_AUTH_FAILED);
	iscsi_login_fini(&lg);
	/* offering only None */
	iscsi_login_init(&lg, cfg);
	ck_assert_int_eq(login(&lg, 0, 1, true,
			       "InitiatorName=iqn.i|TargetName=" IQN "|AuthMethod=None"),
			 ISCSI_LOGIN_R_FAIL);
	iscsi_login_fini(&lg);
	iscsi_config_put(cfg);
}
END_TEST

START_TEST(test_discovery)
{
	struct iscsi_config *cfg = make_config(false, false, "iqn.allowed");
	struct iscsi_login lg;
	char text[] = "SendTargets=All";
	char out[1024];
	int n;

	iscsi_login_init(&lg, cfg);
	ck_assert_int_eq(login(&lg, 1, 3, true,
			       "InitiatorName=iqn.allowed|SessionType=Discovery|"
			       "MaxBurstLength=4096"),
			 ISCSI_LOGIN_R_DONE);
	ck_assert_str_eq(rsp_key("MaxBurstLength"), "Irrelevant");
	ck_assert(lg.discovery);
	iscsi_login_fini(&lg);
	n = iscsi_text_answer(cfg, NULL, "iqn.allowed", text, sizeof(text), out, sizeof(out));
	ck_assert_int_gt(n, 0);
	ck_assert_str_eq(out, "TargetName=" IQN);
	ck_assert_str_eq(out + strlen(out) + 1, "TargetAddress=127.0.0.1:3260,1");
	/* the parser works in place: a fresh copy */
	memcpy(text, "SendTargets=All", sizeof(text));
	n = iscsi_text_answer(cfg, NULL, "iqn.other", text, sizeof(text), out, sizeof(out));
	ck_assert_int_eq(n, 0);
	iscsi_config_put(cfg);
}
END_TEST

static Suite *
login_suite(void)
{
	Suite *s = suite_create("iscsi_login");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_login_none);
	tcase_add_test(tc, test_login_errors);
	tcase_add_test(tc, test_chap);
	tcase_add_test(tc, test_discovery);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(login_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
