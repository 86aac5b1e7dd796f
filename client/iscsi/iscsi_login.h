/*
 * Targets, their configuration, and the login phase (RFC 7143 sections 6,
 * 11.12-11.13, 12): the security stage (AuthMethod None or CHAP with MD5,
 * one-way or mutual), operational negotiation of every key a session uses,
 * ACLs by initiator name, and the Text SendTargets answer of discovery.
 *
 * The login code is a pure state machine over PDUs (struct iscsi_login):
 * given a request header and its text, it builds the response header and
 * text and says whether the connection continues, enters full feature phase
 * or must close. The connection layer does the I/O, assigns TSIH/StatSN and
 * keeps the session registry.
 *
 * The configuration (struct iscsi_config) is immutable once published and
 * refcounted; a reload (SIGHUP) publishes a new one. Logins take a reference
 * for their lifetime.
 */
#ifndef ISCSI_LOGIN_H
#define ISCSI_LOGIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "iscsi_keys.h"
#include "iscsi_scsi.h"

#define ISCSI_NAME_MAX 224
#define ISCSI_SECRET_MAX 256
#define ISCSI_MAX_TARGETS 32
#define ISCSI_MAX_ACL 64
#define ISCSI_MAX_PORTALS 8

struct iscsi_chap_cred {
	char user[ISCSI_NAME_MAX];
	char secret[ISCSI_SECRET_MAX]; /* empty: not configured */
};

struct iscsi_target {
	char iqn[ISCSI_NAME_MAX];
	unsigned nluns;
	struct iscsi_lun *luns[ISCSI_MAX_LUNS]; /* references held */
	unsigned nacl;                          /* 0: every initiator may log in */
	char acl[ISCSI_MAX_ACL][ISCSI_NAME_MAX];
	struct iscsi_chap_cred chap;            /* the initiator proves itself */
	struct iscsi_chap_cred mutual;          /* we prove ourselves (mutual CHAP) */
	uint64_t conf_hash;                     /* unchanged targets keep sessions on reload */
};

/* Limits we offer in operational negotiation. */
struct iscsi_limits {
	uint32_t max_recv_dsl;   /* our MaxRecvDataSegmentLength */
	uint32_t max_burst;
	uint32_t first_burst;
	uint32_t max_io;         /* largest SCSI transfer (bytes) */
	bool prefer_crc32c;      /* pick CRC32C digests when offered */
	bool initial_r2t;        /* we insist on InitialR2T=Yes */
	bool immediate_data;
};

struct iscsi_config {
	atomic_int refs;
	unsigned ntargets;
	struct iscsi_target targets[ISCSI_MAX_TARGETS];
	unsigned nportals;
	char portals[ISCSI_MAX_PORTALS][64]; /* "addr:port" as listened on */
	uint16_t tpgt;                       /* portal group tag (= relative port id) */
	struct iscsi_chap_cred discovery_chap;
	struct iscsi_limits limits;
};

void iscsi_config_get(struct iscsi_config *cfg);
/* Drop a reference; the last one releases the LUN references and frees. */
void iscsi_config_put(struct iscsi_config *cfg);
/* Hook the LUN owner provides to release a LUN's last reference. */
extern void (*iscsi_lun_release_hook)(struct iscsi_lun *lun);
void iscsi_lun_put(struct iscsi_lun *lun);

const struct iscsi_target *iscsi_config_find(const struct iscsi_config *cfg, const char *iqn);
bool iscsi_target_allows(const struct iscsi_target *t, const char *initiator);

/* Negotiated session/connection parameters. */
struct iscsi_params {
	bool header_digest, data_digest;
	uint32_t max_recv_dsl;  /* what we accept per PDU (we declared it) */
	uint32_t max_xmit_dsl;  /* what the initiator accepts per PDU */
	uint32_t max_burst, first_burst;
	bool initial_r2t, immediate_data;
	uint32_t max_outstanding_r2t;
	bool data_pdu_in_order, data_seq_in_order;
	uint32_t time2wait, time2retain, erl, max_connections;
};

void iscsi_params_default(struct iscsi_params *p, const struct iscsi_limits *lim);

enum iscsi_auth_state {
	AUTH_START = 0,
	AUTH_CHAP_WAIT_A,
	AUTH_CHAP_WAIT_R,
	AUTH_DONE,
};

#define ISCSI_LOGIN_TEXT_MAX 32768

struct iscsi_login {
	struct iscsi_config *cfg; /* reference held while logging in */
	bool started;
	uint8_t isid[6];
	uint16_t tsih;
	uint32_t itt;
	uint16_t cid;
	uint32_t cmdsn;
	uint8_t stage;
	bool discovery;
	bool declared; /* our MaxRecvDataSegmentLength was sent */
	bool tpgt_sent;
	char initiator[ISCSI_NAME_MAX];
	const struct iscsi_target *target;
	enum iscsi_auth_state auth;
	bool auth_required;
	uint8_t chap_id;
	uint8_t chap_challenge[16];
	struct iscsi_params params;
	uint16_t fail_status; /* status class/detail when failing */
	/* Request text across PDUs with the Continue bit. */
	uint32_t text_len;
	char text[ISCSI_LOGIN_TEXT_MAX];
};

enum iscsi_login_result {
	ISCSI_LOGIN_R_CONTINUE = 0, /* send the response, wait for the next request */
	ISCSI_LOGIN_R_DONE = 1,     /* send the response: full feature phase now */
	ISCSI_LOGIN_R_FAIL = 2,     /* send the (failure) response, then close */
};

/* Start a login on a new connection; takes a reference to cfg. */
void iscsi_login_init(struct iscsi_login *lg, struct iscsi_config *cfg);
void iscsi_login_fini(struct iscsi_login *lg);

/*
 * Handle one Login Request (BHS + data). Builds the Login Response BHS in
 * rsp (StatSN, ExpCmdSN, MaxCmdSN and TSIH are left for the caller) and its
 * text in rsp_text (capacity rsp_cap), *rsp_len bytes.
 */
enum iscsi_login_result iscsi_login_pdu(struct iscsi_login *lg, const uint8_t *req,
					char *text, uint32_t text_len, uint8_t *rsp,
					char *rsp_text, uint32_t rsp_cap, uint32_t *rsp_len);

/*
 * Answer a Text Request's keys in full feature phase (SendTargets; anything
 * else NotUnderstood or Irrelevant). target is the session's target (NULL
 * for discovery). Returns the response text length, or -EPROTO for
 * malformed text.
 */
int iscsi_text_answer(const struct iscsi_config *cfg, const struct iscsi_target *target,
		      const char *initiator, char *text, uint32_t text_len, char *rsp,
		      uint32_t rsp_cap);

/* CHAP response: MD5(id || secret || challenge) into out[16]. Returns 0 or -EIO. */
int iscsi_chap_md5(uint8_t id, const char *secret, const uint8_t *challenge, size_t clen,
		   uint8_t out[16]);

#endif
