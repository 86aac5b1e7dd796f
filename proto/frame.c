/*
 * Frame codec: see frame.h for the layout. Everything read from the network is
 * validated here before anyone trusts a length; every failure has its own
 * error code so the receiver can log exactly why it closed a connection.
 */
#include "frame.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "common.pb-c.h"
#include "map.pb-c.h"
#include "mon.pb-c.h"
#include "osd.pb-c.h"
#include "rt_crc.h"
#include "rt_err.h"

struct frame_type_info {
	const ProtobufCMessageDescriptor *desc;
	const char *name;
};

static const struct frame_type_info frame_types[FRAME_T__MAX] = {
#define FRAME_T_INFO(e, v, d, n) [v] = {&d, n},
	FRAME_TYPE_LIST(FRAME_T_INFO)
#undef FRAME_T_INFO
};

void
frame_limits_init(struct frame_limits *lim)
{
	lim->max_msg_len = FRAME_MAX_MSG_LEN_DEFAULT;
	lim->max_data_len = FRAME_MAX_DATA_LEN_DEFAULT;
}

const ProtobufCMessageDescriptor *
frame_type_descriptor(uint16_t type)
{
	if (type >= FRAME_T__MAX)
		return NULL;
	return frame_types[type].desc;
}

const char *
frame_type_name(uint16_t type)
{
	if (type >= FRAME_T__MAX || !frame_types[type].name)
		return "unknown";
	return frame_types[type].name;
}

static uint32_t
hdr_crc(const void *wire)
{
	return rt_crc32c(0, wire, offsetof(struct frame_hdr_wire, hdr_crc));
}

void
frame_hdr_encode(void *out, const struct frame_hdr *hdr)
{
	struct frame_hdr_wire w;

	w.magic = htole32(FRAME_MAGIC);
	w.version = hdr->version ? hdr->version : FRAME_VERSION;
	w.flags = hdr->flags;
	w.type = htole16(hdr->type);
	w.msg_len = htole32(hdr->msg_len);
	w.data_len = htole32(hdr->data_len);
	w.tag = htole64(hdr->tag);
	w.data_crc = htole32(hdr->data_crc);
	w.hdr_crc = htole32(hdr_crc(&w));
	memcpy(out, &w, sizeof(w));
}

int
frame_hdr_decode(const void *buf, const struct frame_limits *lim, struct frame_hdr *out)
{
	struct frame_hdr_wire w;

	memcpy(&w, buf, sizeof(w));
	if (le32toh(w.magic) != FRAME_MAGIC)
		return -RT_EBADMAGIC;
	if (le32toh(w.hdr_crc) != hdr_crc(&w))
		return -RT_EBADCRC;
	if (w.version != FRAME_VERSION)
		return -RT_EBADVERSION;
	if (w.flags & ~FRAME_F__ALL)
		return -EINVAL;
	out->version = w.version;
	out->flags = w.flags;
	out->type = le16toh(w.type);
	out->msg_len = le32toh(w.msg_len);
	out->data_len = le32toh(w.data_len);
	out->tag = le64toh(w.tag);
	out->data_crc = le32toh(w.data_crc);
	if (!frame_type_descriptor(out->type))
		return -RT_EBADTYPE;
	if (out->msg_len > lim->max_msg_len || out->data_len > lim->max_data_len)
		return -RT_ETOOBIG;
	return 0;
}

size_t
frame_encoded_size(const ProtobufCMessage *msg)
{
	return FRAME_HDR_LEN + (msg ? protobuf_c_message_get_packed_size(msg) : 0);
}

ssize_t
frame_encode(void *buf, size_t cap, uint16_t type, uint64_t tag, uint8_t flags,
	     const ProtobufCMessage *msg, const struct iovec *data, int data_cnt)
{
	const ProtobufCMessageDescriptor *desc = frame_type_descriptor(type);
	struct frame_hdr hdr = {0};
	size_t msg_len = 0, data_len = 0;

	if (!desc || (msg && msg->descriptor != desc) || (flags & ~FRAME_F__ALL))
		return -EINVAL;
	for (int i = 0; i < data_cnt; i++)
		data_len += data[i].iov_len;
	if (data_len > UINT32_MAX)
		return -EINVAL;
	if (msg)
		msg_len = protobuf_c_message_get_packed_size(msg);
	if (cap < FRAME_HDR_LEN + msg_len)
		return -ENOBUFS;
	if (msg)
		protobuf_c_message_pack(msg, (uint8_t *)buf + FRAME_HDR_LEN);
	hdr.version = FRAME_VERSION;
	hdr.flags = flags;
	hdr.type = type;
	hdr.msg_len = (uint32_t)msg_len;
	hdr.data_len = (uint32_t)data_len;
	hdr.tag = tag;
	if (flags & FRAME_F_DATA_CRC)
		hdr.data_crc = rt_crc32c_iov(0, data, data_cnt);
	frame_hdr_encode(buf, &hdr);
	return (ssize_t)(FRAME_HDR_LEN + msg_len);
}

int
frame_msg_decode(const struct frame_hdr *hdr, const void *msg_buf, struct rt_arena *arena,
		 ProtobufCMessage **out)
{
	const ProtobufCMessageDescriptor *desc = frame_type_descriptor(hdr->type);
	ProtobufCMessage *m;
	size_t before = arena->used;
	size_t failed_before = arena->failed_allocs;

	if (!desc)
		return -RT_EBADTYPE;
	m = protobuf_c_message_unpack(desc, &arena->pb, hdr->msg_len, msg_buf);
	if (!m) {
		/*
		 * protobuf-c does not say whether the bytes were bad or the
		 * allocator ran dry; the arena's refusal count tells us.
		 */
		bool exhausted = arena->failed_allocs != failed_before;

		arena->used = before;
		return exhausted ? -ENOMEM : -RT_EBADMSG_PB;
	}
	*out = m;
	return 0;
}

int
frame_data_verify(const struct frame_hdr *hdr, const struct iovec *data, int data_cnt)
{
	if (!(hdr->flags & FRAME_F_DATA_CRC))
		return 0;
	if (rt_crc32c_iov(0, data, data_cnt) != hdr->data_crc)
		return -RT_ECSUM;
	return 0;
}

ssize_t
frame_decode(const void *buf, size_t len, const struct frame_limits *lim,
	     struct rt_arena *arena, struct frame *out, size_t *need)
{
	const uint8_t *p = buf;
	size_t total;
	struct iovec data;
	int rc;

	if (len < FRAME_HDR_LEN) {
		if (need)
			*need = FRAME_HDR_LEN;
		return -EAGAIN;
	}
	rc = frame_hdr_decode(p, lim, &out->hdr);
	if (rc < 0)
		return rc;
	total = (size_t)FRAME_HDR_LEN + out->hdr.msg_len + out->hdr.data_len;
	if (len < total) {
		if (need)
			*need = total;
		return -EAGAIN;
	}
	rc = frame_msg_decode(&out->hdr, p + FRAME_HDR_LEN, arena, &out->msg);
	if (rc < 0)
		return rc;
	out->data = p + FRAME_HDR_LEN + out->hdr.msg_len;
	data.iov_base = (void *)out->data;
	data.iov_len = out->hdr.data_len;
	rc = frame_data_verify(&out->hdr, &data, 1);
	if (rc < 0)
		return rc;
	return (ssize_t)total;
}

/* Wire status <-> errno: the one pair of conversion functions. */
static const struct {
	int status;
	int err; /* positive */
} status_map[] = {
	{TESSERA__STATUS__STATUS_EINVAL, EINVAL},
	{TESSERA__STATUS__STATUS_ENOENT, ENOENT},
	{TESSERA__STATUS__STATUS_EEXIST, EEXIST},
	{TESSERA__STATUS__STATUS_ENOSPC, ENOSPC},
	{TESSERA__STATUS__STATUS_EIO, EIO},
	{TESSERA__STATUS__STATUS_ETIMEDOUT, ETIMEDOUT},
	{TESSERA__STATUS__STATUS_EAGAIN, EAGAIN},
	{TESSERA__STATUS__STATUS_ENOMEM, ENOMEM},
	{TESSERA__STATUS__STATUS_EPERM, EPERM},
	{TESSERA__STATUS__STATUS_EBUSY, EBUSY},
	{TESSERA__STATUS__STATUS_ERANGE, ERANGE},
	{TESSERA__STATUS__STATUS_ENOTSUP, EOPNOTSUPP},
	{TESSERA__STATUS__STATUS_EBADMSG, EBADMSG},
	{TESSERA__STATUS__STATUS_ESTALE_EPOCH, RT_ESTALE_EPOCH},
	{TESSERA__STATUS__STATUS_ENOTPRIMARY, RT_ENOTPRIMARY},
	{TESSERA__STATUS__STATUS_EPGINACTIVE, RT_EPGINACTIVE},
	{TESSERA__STATUS__STATUS_ECSUM, RT_ECSUM},
	{TESSERA__STATUS__STATUS_EMISCOMPARE, RT_EMISCOMPARE},
	{TESSERA__STATUS__STATUS_ENOTLEADER, RT_ENOTLEADER},
	{TESSERA__STATUS__STATUS_ENOQUORUM, RT_ENOQUORUM},
};

int
frame_status_to_errno(int wire_status)
{
	if (wire_status == TESSERA__STATUS__STATUS_OK)
		return 0;
	for (size_t i = 0; i < sizeof(status_map) / sizeof(status_map[0]); i++)
		if (status_map[i].status == wire_status)
			return -status_map[i].err;
	return -EIO;
}

int
frame_status_from_errno(int rc)
{
	int e = rc < 0 ? -rc : rc;

	if (e == 0)
		return TESSERA__STATUS__STATUS_OK;
	for (size_t i = 0; i < sizeof(status_map) / sizeof(status_map[0]); i++)
		if (status_map[i].err == e)
			return status_map[i].status;
	return TESSERA__STATUS__STATUS_EUNKNOWN;
}
