/* Login state machine, CHAP, negotiation, SendTargets: see iscsi_login.h. */
#include "iscsi_login.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "iscsi_pdu.h"
#include "rt_log.h"

void (*iscsi_lun_release_hook)(struct iscsi_lun *lun);

void
iscsi_lun_put(struct iscsi_lun *lun)
{
	if (lun && atomic_fetch_sub(&lun->refs, 1) == 1 && iscsi_lun_release_hook)
		iscsi_lun_release_hook(lun);
}

void
iscsi_config_get(struct iscsi_config *cfg)
{
	atomic_fetch_add(&cfg->refs, 1);
}

void
iscsi_config_put(struct iscsi_config *cfg)
{
	if (!cfg || atomic_fetch_sub(&cfg->refs, 1) != 1)
		return;
	for (unsigned t = 0; t < cfg->ntargets; t++)
		for (unsigned i = 0; i < cfg->targets[t].nluns; i++)
			iscsi_lun_put(cfg->targets[t].luns[i]);
	free(cfg);
}

const struct iscsi_target *
iscsi_config_find(const struct iscsi_config *cfg, const char *iqn)
{
	for (unsigned i = 0; i < cfg->ntargets; i++)
		if (strcasecmp(cfg->targets[i].iqn, iqn) == 0)
			return &cfg->targets[i];
	return NULL;
}

bool
iscsi_target_allows(const struct iscsi_target *t, const char *initiator)
{
	if (t->nacl == 0)
		return true;
	for (unsigned i = 0; i < t->nacl; i++)
		if (strcasecmp(t->acl[i], initiator) == 0)
			return true;
	return false;
}

void
iscsi_params_default(struct iscsi_params *p, const struct iscsi_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->max_recv_dsl = lim->max_recv_dsl;
	p->max_xmit_dsl = 8192;
	p->max_burst = 262144 < lim->max_burst ? 262144 : lim->max_burst;
	p->first_burst = 65536 < lim->first_burst ? 65536 : lim->first_burst;
	p->initial_r2t = true;
	p->immediate_data = true;
	p->max_outstanding_r2t = 1;
	p->data_pdu_in_order = true;
	p->data_seq_in_order = true;
	p->time2wait = 2;
	p->time2retain = 20;
	p->erl = 0;
	p->max_connections = 1;
}

void
iscsi_login_init(struct iscsi_login *lg, struct iscsi_config *cfg)
{
	memset(lg, 0, offsetof(struct iscsi_login, text));
	iscsi_config_get(cfg);
	lg->cfg = cfg;
	iscsi_params_default(&lg->params, &cfg->limits);
}

void
iscsi_login_fini(struct iscsi_login *lg)
{
	iscsi_config_put(lg->cfg);
	lg->cfg = NULL;
}

int
iscsi_chap_md5(uint8_t id, const char *secret, const uint8_t *challenge, size_t clen,
	       uint8_t out[16])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;
	int rc = -EIO;

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, &id, 1) == 1 &&
	    EVP_DigestUpdate(ctx, secret, strlen(secret)) == 1 &&
	    EVP_DigestUpdate(ctx, challenge, clen) == 1 &&
	    EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == 16)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* ------------------------------------------------------------ negotiation */

enum neg_result {
	NEG_OK = 0,
	NEG_FAIL = -1,
};

static bool
is_security_key(const char *k)
{
	return strcmp(k, "AuthMethod") == 0 || strncmp(k, "CHAP_", 5) == 0;
}

static bool
is_declarative(const char *k)
{
	return strcmp(k, "InitiatorName") == 0 || strcmp(k, "InitiatorAlias") == 0 ||
	       strcmp(k, "TargetName") == 0 || strcmp(k, "SessionType") == 0;
}

static int
num_in(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (iscsi_key_number(v, out) < 0 || *out < lo || *out > hi)
		return -EINVAL;
	return 0;
}

/* A key whose answer is fixed (ERL 0, one connection) once the offer is a number in [lo, hi]. */
static int
fixed_key(struct iscsi_keybuf *kb, const char *k, const char *v, uint64_t lo, uint64_t hi,
	  uint32_t answer, uint32_t *field)
{
	uint64_t n;

	if (num_in(v, lo, hi, &n) < 0)
		return -EINVAL;
	*field = answer;
	iscsi_keybuf_addf(kb, k, "%u", answer);
	return 0;
}

/* Answer one operational key into kb. Returns 0 or -EINVAL (bad value: fail login). */
static int
negotiate_key(struct iscsi_login *lg, const char *k, const char *v, struct iscsi_keybuf *kb)
{
	struct iscsi_params *p = &lg->params;
	const struct iscsi_limits *lim = &lg->cfg->limits;
	uint64_t n;
	bool b;

	if (strcmp(k, "HeaderDigest") == 0 || strcmp(k, "DataDigest") == 0) {
		bool crc = false, none = iscsi_key_list_has(v, "None");
		bool has_crc = iscsi_key_list_has(v, "CRC32C");
		const char *first_end = strchr(v, ',');
		size_t fl = first_end ? (size_t)(first_end - v) : strlen(v);

		if (!none && !has_crc) {
			iscsi_keybuf_add(kb, k, "Reject");
			return -EINVAL;
		}
		if (has_crc && (lim->prefer_crc32c || !none ||
				(fl == 6 && strncmp(v, "CRC32C", 6) == 0)))
			crc = true;
		if (k[0] == 'H')
			p->header_digest = crc;
		else
			p->data_digest = crc;
		iscsi_keybuf_add(kb, k, crc ? "CRC32C" : "None");
		return 0;
	}
	if (strcmp(k, "MaxRecvDataSegmentLength") == 0) {
		if (num_in(v, 512, 16777215, &n) < 0)
			return -EINVAL;
		p->max_xmit_dsl = (uint32_t)n;
		if (!lg->declared) {
			iscsi_keybuf_addf(kb, k, "%u", p->max_recv_dsl);
			lg->declared = true;
		}
		return 0;
	}
	if (strcmp(k, "MaxBurstLength") == 0) {
		if (num_in(v, 512, 16777215, &n) < 0)
			return -EINVAL;
		p->max_burst = (uint32_t)(n < lim->max_burst ? n : lim->max_burst);
		if (p->first_burst > p->max_burst)
			p->first_burst = p->max_burst;
		iscsi_keybuf_addf(kb, k, "%u", p->max_burst);
		return 0;
	}
	if (strcmp(k, "FirstBurstLength") == 0) {
		if (num_in(v, 512, 16777215, &n) < 0)
			return -EINVAL;
		p->first_burst = (uint32_t)(n < lim->first_burst ? n : lim->first_burst);
		if (p->first_burst > p->max_burst)
			p->first_burst = p->max_burst;
		iscsi_keybuf_addf(kb, k, "%u", p->first_burst);
		return 0;
	}
	if (strcmp(k, "InitialR2T") == 0) { /* OR */
		if (iscsi_key_bool(v, &b) < 0)
			return -EINVAL;
		p->initial_r2t = b || lim->initial_r2t;
		iscsi_keybuf_add(kb, k, p->initial_r2t ? "Yes" : "No");
		return 0;
	}
	if (strcmp(k, "ImmediateData") == 0) { /* AND */
		if (iscsi_key_bool(v, &b) < 0)
			return -EINVAL;
		p->immediate_data = b && lim->immediate_data;
		iscsi_keybuf_add(kb, k, p->immediate_data ? "Yes" : "No");
		return 0;
	}
	if (strcmp(k, "MaxOutstandingR2T") == 0) {
		if (num_in(v, 1, 65535, &n) < 0)
			return -EINVAL;
		p->max_outstanding_r2t = 1;
		iscsi_keybuf_add(kb, k, "1");
		return 0;
	}
	if (strcmp(k, "DataPDUInOrder") == 0 || strcmp(k, "DataSequenceInOrder") == 0) {
		if (iscsi_key_bool(v, &b) < 0)
			return -EINVAL;
		/* OR with our Yes: always Yes. */
		iscsi_keybuf_add(kb, k, "Yes");
		return 0;
	}
	if (strcmp(k, "DefaultTime2Wait") == 0) { /* max */
		if (num_in(v, 0, 3600, &n) < 0)
			return -EINVAL;
		p->time2wait = (uint32_t)(n > 2 ? n : 2);
		iscsi_keybuf_addf(kb, k, "%u", p->time2wait);
		return 0;
	}
	if (strcmp(k, "DefaultTime2Retain") == 0) /* min: nothing is retained at ERL 0 */
		return fixed_key(kb, k, v, 0, 3600, 0, &p->time2retain);
	if (strcmp(k, "ErrorRecoveryLevel") == 0)
		return fixed_key(kb, k, v, 0, 2, 0, &p->erl);
	if (strcmp(k, "MaxConnections") == 0)
		return fixed_key(kb, k, v, 1, 65535, 1, &p->max_connections);
	if (strcmp(k, "IFMarker") == 0 || strcmp(k, "OFMarker") == 0 ||
	    strcmp(k, "RDMAExtensions") == 0) {
		iscsi_keybuf_add(kb, k, "No");
		return 0;
	}
	if (strcmp(k, "IFMarkInt") == 0 || strcmp(k, "OFMarkInt") == 0) {
		iscsi_keybuf_add(kb, k, "Irrelevant");
		return 0;
	}
	if (strcmp(k, "TaskReporting") == 0) {
		iscsi_keybuf_add(kb, k, "RFC3720");
		return 0;
	}
	if (strcmp(k, "TargetAlias") == 0 || strcmp(k, "TargetAddress") == 0 ||
	    strcmp(k, "TargetPortalGroupTag") == 0) {
		/* Target-declared keys: an initiator may not send them. */
		return -EINVAL;
	}
	iscsi_keybuf_add(kb, k, "NotUnderstood");
	return 0;
}

/* ------------------------------------------------------------------- CHAP */

static const struct iscsi_chap_cred *
chap_cred(struct iscsi_login *lg)
{
	if (lg->discovery)
		return &lg->cfg->discovery_chap;
	return lg->target ? &lg->target->chap : NULL;
}

static const struct iscsi_chap_cred *
mutual_cred(struct iscsi_login *lg)
{
	if (lg->discovery)
		return NULL;
	return lg->target ? &lg->target->mutual : NULL;
}

/* Returns 0 (continue), 1 (auth finished), or -EACCES. */
static int
security_keys(struct iscsi_login *lg, struct iscsi_keys *keys, struct iscsi_keybuf *kb)
{
	const char *am = iscsi_keys_get(keys, "AuthMethod");
	const struct iscsi_chap_cred *cred = chap_cred(lg);

	switch (lg->auth) {
	case AUTH_START:
		if (!am)
			return lg->auth_required ? -EACCES : 1;
		if (lg->auth_required) {
			if (!iscsi_key_list_has(am, "CHAP")) {
				iscsi_keybuf_add(kb, "AuthMethod", "Reject");
				return -EACCES;
			}
			iscsi_keybuf_add(kb, "AuthMethod", "CHAP");
			lg->auth = AUTH_CHAP_WAIT_A;
			return 0;
		}
		if (iscsi_key_list_has(am, "None")) {
			iscsi_keybuf_add(kb, "AuthMethod", "None");
			lg->auth = AUTH_DONE;
			return 1;
		}
		iscsi_keybuf_add(kb, "AuthMethod", "Reject");
		return -EACCES;
	case AUTH_CHAP_WAIT_A: {
		const char *a = iscsi_keys_get(keys, "CHAP_A");
		char hex[2 * sizeof(lg->chap_challenge) + 3];

		if (!a || !iscsi_key_list_has(a, "5")) {
			iscsi_keybuf_add(kb, "CHAP_A", "Reject");
			return -EACCES;
		}
		if (getrandom(lg->chap_challenge, sizeof(lg->chap_challenge), 0) !=
			    (ssize_t)sizeof(lg->chap_challenge) ||
		    getrandom(&lg->chap_id, 1, 0) != 1)
			return -EACCES;
		iscsi_key_hex(lg->chap_challenge, sizeof(lg->chap_challenge), hex);
		iscsi_keybuf_add(kb, "CHAP_A", "5");
		iscsi_keybuf_addf(kb, "CHAP_I", "%u", lg->chap_id);
		iscsi_keybuf_add(kb, "CHAP_C", hex);
		lg->auth = AUTH_CHAP_WAIT_R;
		return 0;
	}
	case AUTH_CHAP_WAIT_R: {
		const char *n = iscsi_keys_get(keys, "CHAP_N");
		const char *r = iscsi_keys_get(keys, "CHAP_R");
		const char *ii = iscsi_keys_get(keys, "CHAP_I");
		const char *ic = iscsi_keys_get(keys, "CHAP_C");
		uint8_t resp[64], want[16];
		int rlen;

		if (!n || !r || !cred || !cred->secret[0])
			return -EACCES;
		rlen = iscsi_key_binary(r, resp, sizeof(resp));
		if (rlen != 16 || strcmp(n, cred->user) != 0)
			return -EACCES;
		if (iscsi_chap_md5(lg->chap_id, cred->secret, lg->chap_challenge,
				   sizeof(lg->chap_challenge), want) < 0 ||
		    memcmp(want, resp, 16) != 0)
			return -EACCES;
		if (ii || ic) {
			const struct iscsi_chap_cred *m = mutual_cred(lg);
			uint8_t chal[1024], out[16];
			char hex[35];
			uint64_t id;
			int clen;

			if (!ii || !ic || !m || !m->secret[0])
				return -EACCES;
			if (num_in(ii, 0, 255, &id) < 0)
				return -EACCES;
			clen = iscsi_key_binary(ic, chal, sizeof(chal));
			if (clen <= 0)
				return -EACCES;
			/* A reflected challenge is an attack (RFC 7143 12.1.3). */
			if ((size_t)clen == sizeof(lg->chap_challenge) &&
			    memcmp(chal, lg->chap_challenge, (size_t)clen) == 0)
				return -EACCES;
			if (iscsi_chap_md5((uint8_t)id, m->secret, chal, (size_t)clen, out) < 0)
				return -EACCES;
			iscsi_key_hex(out, 16, hex);
			iscsi_keybuf_add(kb, "CHAP_N", m->user);
			iscsi_keybuf_add(kb, "CHAP_R", hex);
		}
		lg->auth = AUTH_DONE;
		return 1;
	}
	case AUTH_DONE:
		return 1;
	}
	return -EACCES;
}

/* ------------------------------------------------------------------ login */

static enum iscsi_login_result
fail(struct iscsi_login *lg, uint8_t *rsp, uint16_t status, uint32_t *rsp_len)
{
	rsp[1] = 0; /* no transit */
	rsp[36] = (uint8_t)(status >> 8);
	rsp[37] = (uint8_t)status;
	iscsi_put24(rsp + 5, 0);
	*rsp_len = 0;
	lg->fail_status = status;
	return ISCSI_LOGIN_R_FAIL;
}

/* First request: who logs in to what. Returns 0 or a login status. */
static uint16_t
login_identify(struct iscsi_login *lg, struct iscsi_keys *keys)
{
	const char *in = iscsi_keys_get(keys, "InitiatorName");
	const char *st = iscsi_keys_get(keys, "SessionType");
	const char *tn = iscsi_keys_get(keys, "TargetName");

	if (!in || !*in || strlen(in) >= ISCSI_NAME_MAX)
		return ISCSI_LOGIN_MISSING_PARAM;
	snprintf(lg->initiator, sizeof(lg->initiator), "%s", in);
	if (st && strcmp(st, "Discovery") == 0) {
		lg->discovery = true;
		lg->auth_required = lg->cfg->discovery_chap.secret[0] != 0;
		return 0;
	}
	if (st && strcmp(st, "Normal") != 0)
		return ISCSI_LOGIN_INITIATOR_ERROR;
	if (!tn)
		return ISCSI_LOGIN_MISSING_PARAM;
	lg->target = iscsi_config_find(lg->cfg, tn);
	if (!lg->target)
		return ISCSI_LOGIN_NOT_FOUND;
	if (!iscsi_target_allows(lg->target, lg->initiator))
		return ISCSI_LOGIN_FORBIDDEN;
	lg->auth_required = lg->target->chap.secret[0] != 0;
	return 0;
}

enum iscsi_login_result
iscsi_login_pdu(struct iscsi_login *lg, const uint8_t *req, char *text, uint32_t text_len,
		uint8_t *rsp, char *rsp_text, uint32_t rsp_cap, uint32_t *rsp_len)
{
	uint8_t flags = req[1];
	uint8_t csg = ISCSI_LOGIN_CSG(flags), nsg = ISCSI_LOGIN_NSG(flags);
	bool transit = flags & ISCSI_LOGIN_TRANSIT;
	struct iscsi_keys keys;
	struct iscsi_keybuf kb;
	bool auth_ok;
	int rc;

	iscsi_bhs_init(rsp, ISCSI_OP_LOGIN_RSP, 0, 0);
	memcpy(rsp + 8, req + 8, 8); /* ISID + TSIH */
	memcpy(rsp + 16, req + 16, 4);
	rsp[2] = 0x00; /* VersionMax */
	rsp[3] = 0x00; /* VersionActive */
	*rsp_len = 0;

	if (!lg->started) {
		lg->started = true;
		memcpy(lg->isid, req + 8, 6);
		lg->tsih = iscsi_get16(req + 14);
		lg->itt = iscsi_get32(req + 16);
		lg->cid = iscsi_get16(req + 20);
		lg->cmdsn = iscsi_get32(req + 24);
		lg->stage = csg;
		/* Version: we speak 0x00 only. */
		if (req[3] > 0x00)
			return fail(lg, rsp, ISCSI_LOGIN_UNSUPPORTED_VERSION, rsp_len);
	} else if (memcmp(lg->isid, req + 8, 6) != 0 || iscsi_get32(req + 16) != lg->itt) {
		/* Every PDU of one login has the same ISID and ITT. */
		return fail(lg, rsp, ISCSI_LOGIN_INITIATOR_ERROR, rsp_len);
	}
	if (csg != lg->stage || csg == 2 || (transit && (nsg == 2 || nsg <= csg)))
		return fail(lg, rsp, ISCSI_LOGIN_INITIATOR_ERROR, rsp_len);
	rsp[1] = (uint8_t)(csg << 2);

	/* Gather text across Continue PDUs. */
	if (text_len > sizeof(lg->text) - lg->text_len)
		return fail(lg, rsp, ISCSI_LOGIN_OUT_OF_RESOURCES, rsp_len);
	memcpy(lg->text + lg->text_len, text, text_len);
	lg->text_len += text_len;
	if (flags & ISCSI_LOGIN_CONTINUE)
		return ISCSI_LOGIN_R_CONTINUE; /* empty response, same stage */

	rc = iscsi_keys_parse(lg->text, lg->text_len, &keys);
	lg->text_len = 0;
	if (rc < 0)
		return fail(lg, rsp, ISCSI_LOGIN_INITIATOR_ERROR, rsp_len);

	iscsi_keybuf_init(&kb, rsp_text, rsp_cap);
	if (!lg->initiator[0]) {
		uint16_t st;

		if (lg->tsih != 0)
			/* Adding a connection to an existing session: MaxConnections=1. */
			return fail(lg, rsp, ISCSI_LOGIN_NO_SESSION, rsp_len);
		st = login_identify(lg, &keys);
		if (st)
			return fail(lg, rsp, st, rsp_len);
		if (!lg->discovery) {
			iscsi_keybuf_addf(&kb, "TargetPortalGroupTag", "%u", lg->cfg->tpgt);
			lg->tpgt_sent = true;
		}
	} else {
		/* Declarative identity keys may be repeated, not changed. */
		iscsi_keys_get(&keys, "InitiatorName");
		iscsi_keys_get(&keys, "TargetName");
		iscsi_keys_get(&keys, "SessionType");
	}

	if (csg == ISCSI_STAGE_SECURITY) {
		rc = security_keys(lg, &keys, &kb);
		if (rc < 0)
			return fail(lg, rsp, ISCSI_LOGIN_AUTH_FAILED, rsp_len);
	} else if (lg->auth_required && lg->auth != AUTH_DONE) {
		/* Skipping the security stage when CHAP is required. */
		return fail(lg, rsp, ISCSI_LOGIN_AUTH_FAILED, rsp_len);
	} else {
		lg->auth = AUTH_DONE;
	}
	auth_ok = lg->auth == AUTH_DONE;

	for (unsigned i = 0; i < keys.n; i++) {
		struct iscsi_kv *kv = &keys.kv[i];

		if (kv->used || is_declarative(kv->key))
			continue;
		if (is_security_key(kv->key)) {
			if (csg != ISCSI_STAGE_SECURITY)
				return fail(lg, rsp, ISCSI_LOGIN_INITIATOR_ERROR, rsp_len);
			/* CHAP keys out of turn are ignored (answered by state). */
			continue;
		}
		if (lg->discovery && strcmp(kv->key, "MaxRecvDataSegmentLength") != 0 &&
		    strcmp(kv->key, "HeaderDigest") != 0 && strcmp(kv->key, "DataDigest") != 0 &&
		    strcmp(kv->key, "MaxConnections") != 0 &&
		    strcmp(kv->key, "ErrorRecoveryLevel") != 0 &&
		    strcmp(kv->key, "DefaultTime2Wait") != 0 &&
		    strcmp(kv->key, "DefaultTime2Retain") != 0) {
			/* Session keys are irrelevant to a discovery session. */
			iscsi_keybuf_add(&kb, kv->key, "Irrelevant");
			continue;
		}
		if (negotiate_key(lg, kv->key, kv->val, &kb) < 0)
			return fail(lg, rsp, ISCSI_LOGIN_INITIATOR_ERROR, rsp_len);
	}

	if (transit && auth_ok) {
		/* Our MaxRecvDataSegmentLength must be known before full feature phase. */
		if (nsg == ISCSI_STAGE_FULL_FEATURE && !lg->declared) {
			iscsi_keybuf_addf(&kb, "MaxRecvDataSegmentLength", "%u",
					  lg->params.max_recv_dsl);
			lg->declared = true;
		}
		rsp[1] = (uint8_t)(ISCSI_LOGIN_TRANSIT | (csg << 2) | nsg);
		lg->stage = nsg;
	}
	if (kb.overflow)
		return fail(lg, rsp, ISCSI_LOGIN_OUT_OF_RESOURCES, rsp_len);
	*rsp_len = (uint32_t)kb.len;
	iscsi_put24(rsp + 5, *rsp_len);
	if (transit && auth_ok && nsg == ISCSI_STAGE_FULL_FEATURE)
		return ISCSI_LOGIN_R_DONE;
	return ISCSI_LOGIN_R_CONTINUE;
}

/* ------------------------------------------------------------------- text */

static void
send_target(const struct iscsi_config *cfg, const struct iscsi_target *t, struct iscsi_keybuf *kb)
{
	iscsi_keybuf_add(kb, "TargetName", t->iqn);
	for (unsigned p = 0; p < cfg->nportals; p++)
		iscsi_keybuf_addf(kb, "TargetAddress", "%s,%u", cfg->portals[p], cfg->tpgt);
}

int
iscsi_text_answer(const struct iscsi_config *cfg, const struct iscsi_target *target,
		  const char *initiator, char *text, uint32_t text_len, char *rsp,
		  uint32_t rsp_cap)
{
	struct iscsi_keys keys;
	struct iscsi_keybuf kb;
	int rc;

	rc = iscsi_keys_parse(text, text_len, &keys);
	if (rc < 0)
		return -EPROTO;
	iscsi_keybuf_init(&kb, rsp, rsp_cap);
	for (unsigned i = 0; i < keys.n; i++) {
		const char *k = keys.kv[i].key, *v = keys.kv[i].val;

		if (strcmp(k, "SendTargets") == 0) {
			if (strcmp(v, "All") == 0) {
				if (target) {
					/* A normal session sees only its own target. */
					send_target(cfg, target, &kb);
					continue;
				}
				for (unsigned t = 0; t < cfg->ntargets; t++)
					if (iscsi_target_allows(&cfg->targets[t], initiator))
						send_target(cfg, &cfg->targets[t], &kb);
			} else if (*v) {
				const struct iscsi_target *t = iscsi_config_find(cfg, v);

				if (t && iscsi_target_allows(t, initiator))
					send_target(cfg, t, &kb);
			} else if (target) {
				send_target(cfg, target, &kb);
			}
			continue;
		}
		iscsi_keybuf_add(&kb, k, "NotUnderstood");
	}
	if (kb.overflow)
		return -ENOSPC;
	return (int)kb.len;
}
