/* iSCSI BHS/AHS decoding and building, digests: see iscsi_pdu.h. */
#include "iscsi_pdu.h"

#include <errno.h>
#include <string.h>

#include "rt_crc.h"

const char *
iscsi_op_name(uint8_t opcode)
{
	switch (opcode) {
	case ISCSI_OP_NOP_OUT: return "NOP-Out";
	case ISCSI_OP_SCSI_CMD: return "SCSI-Command";
	case ISCSI_OP_TMF_REQ: return "TMF-Request";
	case ISCSI_OP_LOGIN_REQ: return "Login-Request";
	case ISCSI_OP_TEXT_REQ: return "Text-Request";
	case ISCSI_OP_DATA_OUT: return "Data-Out";
	case ISCSI_OP_LOGOUT_REQ: return "Logout-Request";
	case ISCSI_OP_SNACK_REQ: return "SNACK";
	case ISCSI_OP_NOP_IN: return "NOP-In";
	case ISCSI_OP_SCSI_RSP: return "SCSI-Response";
	case ISCSI_OP_TMF_RSP: return "TMF-Response";
	case ISCSI_OP_LOGIN_RSP: return "Login-Response";
	case ISCSI_OP_TEXT_RSP: return "Text-Response";
	case ISCSI_OP_DATA_IN: return "Data-In";
	case ISCSI_OP_LOGOUT_RSP: return "Logout-Response";
	case ISCSI_OP_R2T: return "R2T";
	case ISCSI_OP_ASYNC: return "Async-Message";
	case ISCSI_OP_REJECT: return "Reject";
	default: return "unknown";
	}
}

int
iscsi_bhs_parse(const uint8_t bhs[ISCSI_BHS_LEN], uint32_t max_data_len, struct iscsi_bhs *out)
{
	memset(out, 0, sizeof(*out));
	out->opcode = bhs[0] & 0x3f;
	out->immediate = (bhs[0] & ISCSI_FLAG_IMMEDIATE) != 0;
	out->flags = bhs[1];
	out->final = (bhs[1] & ISCSI_FLAG_FINAL) != 0;
	out->ahs_len = (uint32_t)bhs[4] * 4;
	out->data_len = iscsi_get24(bhs + 5);
	out->lun = iscsi_get64(bhs + 8);
	out->itt = iscsi_get32(bhs + 16);
	out->ttt = iscsi_get32(bhs + 20);
	out->cmdsn = iscsi_get32(bhs + 24);
	out->expstatsn = iscsi_get32(bhs + 28);

	/* Bit 7 of byte 0 is reserved and must be 0. */
	if (bhs[0] & 0x80)
		return -EPROTO;
	switch (out->opcode) {
	case ISCSI_OP_NOP_OUT:
	case ISCSI_OP_TEXT_REQ:
	case ISCSI_OP_LOGOUT_REQ:
	case ISCSI_OP_TMF_REQ:
	case ISCSI_OP_SNACK_REQ:
		/* No AHS is defined for these. */
		if (out->ahs_len)
			return -EPROTO;
		break;
	case ISCSI_OP_SCSI_CMD:
		break;
	case ISCSI_OP_LOGIN_REQ:
		/* A login request is always immediate (11.12). */
		if (out->ahs_len || !out->immediate)
			return -EPROTO;
		/* Transit and Continue together is a protocol error (11.12.2). */
		if ((out->flags & ISCSI_LOGIN_TRANSIT) && (out->flags & ISCSI_LOGIN_CONTINUE))
			return -EPROTO;
		break;
	case ISCSI_OP_DATA_OUT:
		if (out->ahs_len || out->immediate)
			return -EPROTO;
		break;
	default:
		return -EPROTO;
	}
	/* Only a Logout, TMF and SNACK carry no data; a data segment on them is an error. */
	if ((out->opcode == ISCSI_OP_TMF_REQ || out->opcode == ISCSI_OP_LOGOUT_REQ ||
	     out->opcode == ISCSI_OP_SNACK_REQ) &&
	    out->data_len)
		return -EPROTO;
	if (out->data_len > max_data_len)
		return -EMSGSIZE;
	return 0;
}

int
iscsi_ahs_parse(const uint8_t *ahs, uint32_t ahs_len, const uint8_t **ext_cdb,
		uint32_t *ext_cdb_len)
{
	uint32_t off = 0;

	*ext_cdb = NULL;
	*ext_cdb_len = 0;
	while (off < ahs_len) {
		uint32_t len, total;

		if (ahs_len - off < 4)
			return -EPROTO;
		len = iscsi_get16(ahs + off);
		total = 3 + len; /* length counts from byte 3 (the type-specific byte) */
		total += iscsi_pad4(total);
		if (len == 0 || total > ahs_len - off)
			return -EPROTO;
		switch (ahs[off + 2]) {
		case 1: /* extended CDB: the bytes past the BHS's 16 */
			if (*ext_cdb)
				return -EPROTO;
			*ext_cdb = ahs + off + 4;
			*ext_cdb_len = len - 1;
			break;
		case 2: /* bidirectional read length: we serve no bidi commands */
			if (len != 5)
				return -EPROTO;
			break;
		default:
			return -EPROTO;
		}
		off += total;
	}
	return 0;
}

void
iscsi_bhs_init(uint8_t bhs[ISCSI_BHS_LEN], uint8_t opcode, uint8_t flags, uint32_t data_len)
{
	memset(bhs, 0, ISCSI_BHS_LEN);
	bhs[0] = opcode;
	bhs[1] = flags;
	iscsi_put24(bhs + 5, data_len);
}

uint32_t
iscsi_digest(const void *buf, size_t len)
{
	return rt_crc32c(0, buf, len);
}

uint32_t
iscsi_digest_iov(const struct iovec *iov, int iovcnt)
{
	return rt_crc32c_iov(0, iov, iovcnt);
}

uint32_t
iscsi_data_digest(const void *data, uint32_t data_len)
{
	static const uint8_t zeros[4];
	uint32_t crc = rt_crc32c(0, data, data_len);

	return rt_crc32c(crc, zeros, iscsi_pad4(data_len));
}
