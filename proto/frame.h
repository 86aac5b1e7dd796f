/*
 * The frame: how every Tessera message travels on a byte stream.
 *
 *   +---------------------------+------------------------+-----------------+
 *   | header (32 bytes, fixed)  | protobuf message       | data segment    |
 *   |                           | (msg_len bytes)        | (data_len bytes)|
 *   +---------------------------+------------------------+-----------------+
 *
 * The header is little-endian with explicit fields (struct frame_hdr_wire).
 * hdr_crc is the CRC32C of the first 28 bytes. The data segment is raw bytes,
 * never protobuf-encoded, so that block data moves between sockets, buffers
 * and disk without copies; with FRAME_F_DATA_CRC, data_crc is its CRC32C.
 *
 * Decoding is split so a non-blocking receiver can work in steps: decode and
 * validate the header first (it says how many more bytes to read and where
 * the data segment should land), then unpack the message into a
 * per-connection arena (no malloc per message), then verify the data CRC.
 * Every check failure returns a distinct negative error; the receiver closes
 * that connection and logs the reason, the process lives on.
 */
#ifndef TESSERA_FRAME_H
#define TESSERA_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <protobuf-c/protobuf-c.h>

#include "rt_arena.h"

#define FRAME_MAGIC 0x46525354u /* "TSRF" read as little-endian bytes */
#define FRAME_VERSION 1
#define FRAME_HDR_LEN 32

/* Default limits; a connection may set tighter ones. */
#define FRAME_MAX_MSG_LEN_DEFAULT (4u << 20)   /* 4 MiB of protobuf (a full map) */
#define FRAME_MAX_DATA_LEN_DEFAULT (16u << 20) /* 16 MiB of data per frame */

enum frame_flags {
	FRAME_F_DATA_CRC = 1u << 0, /* data_crc is valid and must be checked */
	FRAME_F_REPLY = 1u << 1,    /* this frame answers the request with the same tag */
	FRAME_F__ALL = (1u << 2) - 1,
};

/*
 * Message types: (enum, protobuf-c descriptor symbol, name).
 * Values are wire-stable: append only.
 */
#define FRAME_TYPE_LIST(X)                                                                 \
	X(FRAME_T_REPLY, 1, tessera__reply__descriptor, "reply")                           \
	X(FRAME_T_OSD_BOOT, 2, tessera__osd_boot__descriptor, "osd_boot")                  \
	X(FRAME_T_OSD_BOOT_REPLY, 3, tessera__osd_boot_reply__descriptor, "osd_boot_reply")\
	X(FRAME_T_OSD_HEARTBEAT, 4, tessera__osd_heartbeat__descriptor, "osd_heartbeat")   \
	X(FRAME_T_OSD_FAILURE, 5, tessera__osd_failure_report__descriptor, "osd_failure")  \
	X(FRAME_T_SUBSCRIBE, 6, tessera__subscribe__descriptor, "subscribe")               \
	X(FRAME_T_GET_MAP, 7, tessera__get_map__descriptor, "get_map")                     \
	X(FRAME_T_MAP_REPLY, 8, tessera__map_reply__descriptor, "map_reply")               \
	X(FRAME_T_MAP, 9, tessera__cluster_map__descriptor, "map")                         \
	X(FRAME_T_MAP_INC, 10, tessera__map_incremental__descriptor, "map_inc")            \
	X(FRAME_T_ADMIN, 11, tessera__admin_command__descriptor, "admin")                  \
	X(FRAME_T_ADMIN_REPLY, 12, tessera__admin_reply__descriptor, "admin_reply")        \
	X(FRAME_T_VOL_CREATE, 13, tessera__volume_create__descriptor, "vol_create")        \
	X(FRAME_T_VOL_RESIZE, 14, tessera__volume_resize__descriptor, "vol_resize")        \
	X(FRAME_T_VOL_REMOVE, 15, tessera__volume_remove__descriptor, "vol_remove")        \
	X(FRAME_T_VOL_RENAME, 16, tessera__volume_rename__descriptor, "vol_rename")        \
	X(FRAME_T_VOL_GET, 17, tessera__volume_get__descriptor, "vol_get")                 \
	X(FRAME_T_VOL_REPLY, 18, tessera__volume_reply__descriptor, "vol_reply")           \
	X(FRAME_T_CLIENT_OP, 32, tessera__client_op__descriptor, "client_op")              \
	X(FRAME_T_CLIENT_OP_REPLY, 33, tessera__client_op_reply__descriptor, "client_op_reply") \
	X(FRAME_T_REP_OP, 34, tessera__rep_op__descriptor, "rep_op")                       \
	X(FRAME_T_REP_OP_REPLY, 35, tessera__rep_op_reply__descriptor, "rep_op_reply")     \
	X(FRAME_T_PG_QUERY, 36, tessera__pg_query__descriptor, "pg_query")                 \
	X(FRAME_T_PG_NOTIFY, 37, tessera__pg_notify__descriptor, "pg_notify")              \
	X(FRAME_T_OBJ_PUSH, 38, tessera__object_push__descriptor, "obj_push")              \
	X(FRAME_T_OBJ_PUSH_REPLY, 39, tessera__object_push_reply__descriptor, "obj_push_reply") \
	X(FRAME_T_OBJ_PULL, 40, tessera__object_pull__descriptor, "obj_pull")              \
	X(FRAME_T_PG_LIST, 41, tessera__pg_list_objects__descriptor, "pg_list")            \
	X(FRAME_T_PG_LIST_REPLY, 42, tessera__pg_list_objects_reply__descriptor, "pg_list_reply") \
	X(FRAME_T_PING, 43, tessera__ping__descriptor, "ping")                             \
	X(FRAME_T_PONG, 44, tessera__ping__descriptor, "pong")                             \
	X(FRAME_T_SCRUB_READ, 45, tessera__scrub_read__descriptor, "scrub_read")           \
	X(FRAME_T_SCRUB_READ_REPLY, 46, tessera__scrub_read_reply__descriptor, "scrub_read_reply") \
	X(FRAME_T_SCRUB_PG, 47, tessera__scrub_pg__descriptor, "scrub_pg")                 \
	X(FRAME_T_SCRUB_PG_REPLY, 48, tessera__scrub_pg_reply__descriptor, "scrub_pg_reply") \
	X(FRAME_T_OSD_MARK_DOWN, 19, tessera__osd_mark_down__descriptor, "osd_mark_down")  \
	X(FRAME_T_VOL_WATCH, 49, tessera__volume_watch__descriptor, "vol_watch")

enum frame_type {
	FRAME_T_NONE = 0,
#define FRAME_T_ENUM(e, v, d, n) e = (v),
	FRAME_TYPE_LIST(FRAME_T_ENUM)
#undef FRAME_T_ENUM
	FRAME_T__MAX = 64,
};

/* The decoded header, host byte order. */
struct frame_hdr {
	uint8_t version;
	uint8_t flags;
	uint16_t type;
	uint32_t msg_len;
	uint32_t data_len;
	uint64_t tag;      /* request tag; a reply carries the tag of its request */
	uint32_t data_crc; /* with FRAME_F_DATA_CRC */
};

/* On-the-wire layout, little-endian, documented for other implementations. */
struct frame_hdr_wire {
	uint32_t magic;
	uint8_t version;
	uint8_t flags;
	uint16_t type;
	uint32_t msg_len;
	uint32_t data_len;
	uint64_t tag;
	uint32_t data_crc;
	uint32_t hdr_crc; /* CRC32C of the 28 bytes above */
} __attribute__((packed));
_Static_assert(sizeof(struct frame_hdr_wire) == FRAME_HDR_LEN, "frame header is 32 bytes");

struct frame_limits {
	uint32_t max_msg_len;
	uint32_t max_data_len;
};

void frame_limits_init(struct frame_limits *lim);

/* The protobuf-c descriptor of a type, or NULL if the type is unknown. */
const ProtobufCMessageDescriptor *frame_type_descriptor(uint16_t type);
/* The name of a type ("client_op"), or "unknown". */
const char *frame_type_name(uint16_t type);

/*
 * Encode a header into out[FRAME_HDR_LEN]. data may be NULL; when flags has
 * FRAME_F_DATA_CRC the CRC32C of the data iovecs is computed here.
 */
void frame_hdr_encode(void *out, const struct frame_hdr *hdr);

/*
 * Decode and validate a header from buf[FRAME_HDR_LEN].
 * Returns 0, or:
 *   -RT_EBADMAGIC    magic mismatch
 *   -RT_EBADCRC      header CRC mismatch
 *   -RT_EBADVERSION  unsupported version
 *   -RT_EBADTYPE     unknown message type
 *   -RT_ETOOBIG      msg_len or data_len over the limits
 *   -EINVAL          unknown flag bits
 */
int frame_hdr_decode(const void *buf, const struct frame_limits *lim, struct frame_hdr *out);

/*
 * Encode header + message into buf (capacity cap): the data segment is not
 * copied, only described by data_len and, with FRAME_F_DATA_CRC, the CRC of
 * data/data_cnt (may be NULL/0 if data_len is 0). msg may be NULL for an empty
 * message. Returns the bytes written (FRAME_HDR_LEN + msg_len) or -ENOBUFS if
 * cap is too small, -EINVAL for a type/descriptor mismatch.
 */
ssize_t frame_encode(void *buf, size_t cap, uint16_t type, uint64_t tag, uint8_t flags,
		     const ProtobufCMessage *msg, const struct iovec *data, int data_cnt);

/* Size frame_encode needs for this message (header included). */
size_t frame_encoded_size(const ProtobufCMessage *msg);

/*
 * Unpack the protobuf message of a validated header into the arena. *out points
 * into the arena and lives until the arena is reset. Returns 0, -RT_EBADMSG_PB
 * (garbage protobuf), or -ENOMEM (arena exhausted: the message was too big
 * for this connection's arena).
 */
int frame_msg_decode(const struct frame_hdr *hdr, const void *msg_buf, struct rt_arena *arena,
		     ProtobufCMessage **out);

/* Check the data CRC if the header asks for it. Returns 0 or -RT_ECSUM. */
int frame_data_verify(const struct frame_hdr *hdr, const struct iovec *data, int data_cnt);

/* A whole frame decoded from one contiguous buffer (tools, tests, the fuzzer). */
struct frame {
	struct frame_hdr hdr;
	ProtobufCMessage *msg;
	const void *data; /* points into the input buffer */
};

/*
 * Decode one complete frame from buf[0..len). Returns the number of bytes the
 * frame occupies (> 0), or -EAGAIN if more bytes are needed (len too short;
 * *need, if not NULL, says how many in total), or one of the errors above.
 */
ssize_t frame_decode(const void *buf, size_t len, const struct frame_limits *lim,
		     struct rt_arena *arena, struct frame *out, size_t *need);

/* Wire status <-> errno (negative). Unknown values map to -EIO / STATUS_EUNKNOWN. */
int frame_status_to_errno(int wire_status);
int frame_status_from_errno(int rc);

#endif
