/*
 * iSCSI PDUs (RFC 7143 section 11): the 48-byte Basic Header Segment, its
 * fields, validation of what an initiator sends, and builders for what the
 * target sends. Pure functions over byte arrays: no I/O, no allocation, so the
 * parser can be unit-tested and fuzzed on its own.
 *
 * Byte layout reminders (all multi-byte fields big-endian):
 *   0      opcode (low 6 bits) | 0x40 immediate
 *   1      flags (F bit 0x80, opcode-specific)
 *   4      TotalAHSLength in 4-byte words
 *   5..7   DataSegmentLength (24 bits)
 *   8..15  LUN, or ISID+TSIH for login
 *   16..19 Initiator Task Tag
 *   20..47 opcode-specific (CmdSN, ExpStatSN, CDB, ...)
 */
#ifndef ISCSI_PDU_H
#define ISCSI_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define ISCSI_BHS_LEN 48
#define ISCSI_DIGEST_LEN 4
#define ISCSI_RSVD_TAG 0xffffffffu

/* Opcodes, initiator to target. */
enum iscsi_op_init {
	ISCSI_OP_NOP_OUT = 0x00,
	ISCSI_OP_SCSI_CMD = 0x01,
	ISCSI_OP_TMF_REQ = 0x02,
	ISCSI_OP_LOGIN_REQ = 0x03,
	ISCSI_OP_TEXT_REQ = 0x04,
	ISCSI_OP_DATA_OUT = 0x05,
	ISCSI_OP_LOGOUT_REQ = 0x06,
	ISCSI_OP_SNACK_REQ = 0x10,
};

/* Opcodes, target to initiator. */
enum iscsi_op_tgt {
	ISCSI_OP_NOP_IN = 0x20,
	ISCSI_OP_SCSI_RSP = 0x21,
	ISCSI_OP_TMF_RSP = 0x22,
	ISCSI_OP_LOGIN_RSP = 0x23,
	ISCSI_OP_TEXT_RSP = 0x24,
	ISCSI_OP_DATA_IN = 0x25,
	ISCSI_OP_LOGOUT_RSP = 0x26,
	ISCSI_OP_R2T = 0x31,
	ISCSI_OP_ASYNC = 0x32,
	ISCSI_OP_REJECT = 0x3f,
};

#define ISCSI_FLAG_IMMEDIATE 0x40 /* byte 0 */
#define ISCSI_FLAG_FINAL 0x80     /* byte 1 */
/* SCSI Command byte 1 */
#define ISCSI_CMD_READ 0x40
#define ISCSI_CMD_WRITE 0x20
#define ISCSI_CMD_ATTR_MASK 0x07
/* SCSI Response / Data-In byte 1 */
#define ISCSI_RSP_BIDI_OVERFLOW 0x10
#define ISCSI_RSP_BIDI_UNDERFLOW 0x08
#define ISCSI_RSP_OVERFLOW 0x04
#define ISCSI_RSP_UNDERFLOW 0x02
#define ISCSI_DATAIN_ACK 0x40
#define ISCSI_DATAIN_STATUS 0x01
/* Login byte 1 */
#define ISCSI_LOGIN_TRANSIT 0x80
#define ISCSI_LOGIN_CONTINUE 0x40
#define ISCSI_LOGIN_CSG(b) (((b) >> 2) & 3)
#define ISCSI_LOGIN_NSG(b) ((b)&3)
#define ISCSI_TEXT_CONTINUE 0x40

enum iscsi_login_stage {
	ISCSI_STAGE_SECURITY = 0,
	ISCSI_STAGE_OPERATIONAL = 1,
	ISCSI_STAGE_FULL_FEATURE = 3,
};

/* Login status class/detail (RFC 7143 11.13.5). */
#define ISCSI_LOGIN_OK 0x0000
#define ISCSI_LOGIN_AUTH_FAILED 0x0201
#define ISCSI_LOGIN_FORBIDDEN 0x0202
#define ISCSI_LOGIN_NOT_FOUND 0x0203
#define ISCSI_LOGIN_REMOVED 0x0204
#define ISCSI_LOGIN_UNSUPPORTED_VERSION 0x0205
#define ISCSI_LOGIN_TOO_MANY_CONNECTIONS 0x0206
#define ISCSI_LOGIN_MISSING_PARAM 0x0207
#define ISCSI_LOGIN_NO_SESSION_SPANNING 0x0208
#define ISCSI_LOGIN_NO_SESSION 0x020a
#define ISCSI_LOGIN_INVALID_REQUEST 0x020b
#define ISCSI_LOGIN_INITIATOR_ERROR 0x0200
#define ISCSI_LOGIN_TARGET_ERROR 0x0300
#define ISCSI_LOGIN_OUT_OF_RESOURCES 0x0302

/* Reject reasons (11.17.1). */
enum iscsi_reject_reason {
	ISCSI_REJECT_DIGEST_ERROR = 0x02,
	ISCSI_REJECT_SNACK_REJECT = 0x03,
	ISCSI_REJECT_PROTOCOL_ERROR = 0x04,
	ISCSI_REJECT_CMD_NOT_SUPPORTED = 0x05,
	ISCSI_REJECT_IMM_CMD_REJECT = 0x06,
	ISCSI_REJECT_TASK_IN_PROGRESS = 0x07,
	ISCSI_REJECT_INVALID_DATA_ACK = 0x08,
	ISCSI_REJECT_INVALID_PDU_FIELD = 0x09,
	ISCSI_REJECT_OUT_OF_RESOURCES = 0x0a,
	ISCSI_REJECT_WAITING_FOR_LOGOUT = 0x0c,
};

/* Task management functions (11.5.1) and responses (11.6.1). */
enum iscsi_tmf_func {
	ISCSI_TMF_ABORT_TASK = 1,
	ISCSI_TMF_ABORT_TASK_SET = 2,
	ISCSI_TMF_CLEAR_ACA = 3,
	ISCSI_TMF_CLEAR_TASK_SET = 4,
	ISCSI_TMF_LUN_RESET = 5,
	ISCSI_TMF_TARGET_WARM_RESET = 6,
	ISCSI_TMF_TARGET_COLD_RESET = 7,
	ISCSI_TMF_TASK_REASSIGN = 8,
};
enum iscsi_tmf_rsp {
	ISCSI_TMF_RSP_COMPLETE = 0,
	ISCSI_TMF_RSP_NO_TASK = 1,
	ISCSI_TMF_RSP_NO_LUN = 2,
	ISCSI_TMF_RSP_TASK_ALLEGIANT = 3,
	ISCSI_TMF_RSP_NO_REASSIGN = 4,
	ISCSI_TMF_RSP_NOT_SUPPORTED = 5,
	ISCSI_TMF_RSP_AUTH_FAILED = 6,
	ISCSI_TMF_RSP_REJECTED = 255,
};

/* Big-endian field access. */
static inline uint16_t
iscsi_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t
iscsi_get24(const uint8_t *p)
{
	return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}
static inline uint32_t
iscsi_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t
iscsi_get64(const uint8_t *p)
{
	return ((uint64_t)iscsi_get32(p) << 32) | iscsi_get32(p + 4);
}
static inline void
iscsi_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void
iscsi_put24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}
static inline void
iscsi_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void
iscsi_put64(uint8_t *p, uint64_t v)
{
	iscsi_put32(p, (uint32_t)(v >> 32));
	iscsi_put32(p + 4, (uint32_t)v);
}

/* Serial number arithmetic (RFC 1982, 32 bits) for CmdSN/StatSN/DataSN. */
static inline bool
iscsi_sn_lt(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) < 0;
}
static inline bool
iscsi_sn_le(uint32_t a, uint32_t b)
{
	return a == b || iscsi_sn_lt(a, b);
}

/* Padding to a 4-byte boundary. */
static inline uint32_t
iscsi_pad4(uint32_t len)
{
	return (4 - (len & 3)) & 3;
}

/* The fields of a received BHS that every PDU has, decoded. */
struct iscsi_bhs {
	uint8_t opcode;    /* without the immediate bit */
	bool immediate;
	bool final;
	uint8_t flags;     /* byte 1 */
	uint32_t ahs_len;  /* bytes (TotalAHSLength * 4) */
	uint32_t data_len; /* DataSegmentLength, without padding */
	uint64_t lun;      /* raw 8 bytes */
	uint32_t itt;
	uint32_t ttt;      /* bytes 20..23 (TTT, EDTL, CID or RTT by opcode) */
	uint32_t cmdsn;    /* bytes 24..27 */
	uint32_t expstatsn; /* bytes 28..31 */
};

/*
 * Decode and check a BHS received from an initiator. max_data_len is the
 * largest data segment this connection accepts (our MaxRecvDataSegmentLength,
 * or the login limit). Returns 0, or a negative errno: -EPROTO (an opcode an
 * initiator may not send, or a field out of range), -EMSGSIZE (data segment
 * longer than max_data_len, or AHS longer than the 255-word limit allows for).
 * On -EPROTO with out->opcode set, the caller may answer with a Reject.
 */
int iscsi_bhs_parse(const uint8_t bhs[ISCSI_BHS_LEN], uint32_t max_data_len,
		    struct iscsi_bhs *out);

/* Human name of an opcode, for logs. Never NULL. */
const char *iscsi_op_name(uint8_t opcode);

/*
 * Check the AHS of a SCSI Command: only the extended-CDB (type 1) and
 * bidirectional expected read length (type 2) AHS are known. Returns 0 and
 * fills *ext_cdb and *ext_cdb_len (may stay NULL and 0), or -EPROTO.
 */
int iscsi_ahs_parse(const uint8_t *ahs, uint32_t ahs_len, const uint8_t **ext_cdb,
		    uint32_t *ext_cdb_len);

/* Start a target PDU header: zeroes it and sets opcode, flags, data length. */
void iscsi_bhs_init(uint8_t bhs[ISCSI_BHS_LEN], uint8_t opcode, uint8_t flags,
		    uint32_t data_len);

/* CRC32C digest over a header or over data (+ padding), as RFC 7143 defines it. */
uint32_t iscsi_digest(const void *buf, size_t len);
uint32_t iscsi_digest_iov(const struct iovec *iov, int iovcnt);
/* Digest of data_len bytes plus their zero padding. */
uint32_t iscsi_data_digest(const void *data, uint32_t data_len);

/* The digest bytes are sent in little-endian order (as the CRC register). */
static inline void
iscsi_put_digest(uint8_t *p, uint32_t crc)
{
	p[0] = (uint8_t)crc;
	p[1] = (uint8_t)(crc >> 8);
	p[2] = (uint8_t)(crc >> 16);
	p[3] = (uint8_t)(crc >> 24);
}
static inline uint32_t
iscsi_get_digest(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

#endif
