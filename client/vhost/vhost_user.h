/*
 * tessera-vhost: the vhost-user wire protocol (messages, memory table) and the
 * split virtqueue, as the rest of the backend sees them.
 *
 * Layers (docs/vhost.md):
 *   vhost_msg.c  reading, validating and answering vhost-user messages; the
 *                guest memory table (mmap of the passed fds, translation with
 *                bounds checks)
 *   vhost_vq.c   split virtqueue: descriptor chains (direct and indirect) to
 *                iovecs, used ring, EVENT_IDX notification suppression
 *   vhost_blk.c  virtio-blk requests and the queue threads
 *   vhost_dev.c  the per-connection state machine that applies messages
 *   vhost_bdev.c the block backends (a libtessera volume, or RAM for tests)
 *   vhost_main.c options, exports, signals
 *
 * Everything a guest or a frontend sends is untrusted: every index, length and
 * address is checked before use and a bad one is an error (-EINVAL/-EBADMSG),
 * never an assert.
 */
#ifndef VHOST_USER_H
#define VHOST_USER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* ------------------------------------------------------------- messages */

enum vhost_user_req {
	VHOST_USER_NONE = 0,
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SEND_RARP = 19,
	VHOST_USER_NET_SET_MTU = 20,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_IOTLB_MSG = 22,
	VHOST_USER_SET_VRING_ENDIAN = 23,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_CREATE_CRYPTO_SESSION = 26,
	VHOST_USER_CLOSE_CRYPTO_SESSION = 27,
	VHOST_USER_POSTCOPY_ADVISE = 28,
	VHOST_USER_POSTCOPY_LISTEN = 29,
	VHOST_USER_POSTCOPY_END = 30,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_GPU_SET_SOCKET = 33,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_VRING_KICK = 35,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_REM_MEM_REG = 38,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
	VHOST_USER_REQ__MAX,
};

/* Backend -> frontend requests (on the SET_BACKEND_REQ_FD channel). */
enum vhost_user_backend_req {
	VHOST_USER_BACKEND_IOTLB_MSG = 1,
	VHOST_USER_BACKEND_CONFIG_CHANGE_MSG = 2,
};

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_REPLY_MASK (1u << 2)
#define VHOST_USER_NEED_REPLY_MASK (1u << 3)

/* Feature bits (virtio and vhost-user). */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* Protocol feature bits. */
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD 1
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ 5
#define VHOST_USER_PROTOCOL_F_CONFIG 9
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15

#define VHOST_USER_MAX_FDS 8
#define VHOST_USER_MEM_REGIONS_MAX 8   /* in one SET_MEM_TABLE */
#define VHOST_MEM_SLOTS_MAX 32         /* answer to GET_MAX_MEM_SLOTS */
#define VHOST_USER_CONFIG_SPACE_MAX 256
#define VHOST_VRING_IDX_MASK 0xffu
#define VHOST_VRING_NOFD_MASK (1u << 8)
#define VHOST_VQ_MAX 16                 /* queues a device may have */
#define VHOST_VQ_SIZE_MAX 1024          /* virtqueue entries */

struct vhost_user_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes that follow */
} __attribute__((packed));
_Static_assert(sizeof(struct vhost_user_hdr) == 12, "vhost-user header");

struct vhost_user_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};
_Static_assert(sizeof(struct vhost_user_vring_addr) == 40, "vring addr");

struct vhost_user_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vhost_user_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_mem_region regions[VHOST_USER_MEM_REGIONS_MAX];
};

struct vhost_user_mem_reg {
	uint64_t padding;
	struct vhost_user_mem_region region;
};
_Static_assert(sizeof(struct vhost_user_mem_reg) == 40, "mem reg");

#define VHOST_USER_CONFIG_HDR_SIZE 12u
struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHOST_USER_CONFIG_SPACE_MAX];
};

struct vhost_user_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding;
};
_Static_assert(sizeof(struct vhost_user_inflight) == 24, "inflight");

union vhost_user_payload {
	uint64_t u64;
	struct vhost_user_vring_state state;
	struct vhost_user_vring_addr addr;
	struct vhost_user_mem_table mem;
	struct vhost_user_mem_reg mem_reg;
	struct vhost_user_config config;
	struct vhost_user_inflight inflight;
	uint8_t bytes[4096];
};

#define VHOST_USER_PAYLOAD_MAX sizeof(union vhost_user_payload)

struct vhost_msg {
	struct vhost_user_hdr hdr;
	union vhost_user_payload p;
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds;
};

const char *vhost_msg_name(uint32_t request);

/*
 * Read one message from a connected socket (blocking), with its fds.
 * Returns 0; -ECONNRESET on EOF; -EBADMSG (bad version, payload too long:
 * the stream cannot be resynchronised, close it); -errno of recvmsg.
 * On error no fd is left open.
 */
int vhost_msg_recv(int sock, struct vhost_msg *m);

/*
 * Check a received message against its type: payload size, fd count, index
 * ranges that do not depend on device state. Pure: no I/O.
 * Returns 0 or -EINVAL/-EBADMSG.
 */
int vhost_msg_validate(const struct vhost_msg *m);

/* Close the fds a message carries (those not taken: set to -1 when taken). */
void vhost_msg_close_fds(struct vhost_msg *m);

/* Send a reply to m with payload_len bytes of m->p. Returns 0 or -errno. */
int vhost_msg_reply(int sock, struct vhost_msg *m, uint32_t payload_len);

/* Send a message (backend channel) with optional fd (-1: none). Returns 0 or -errno. */
int vhost_msg_send(int sock, uint32_t request, uint32_t flags, const void *payload,
		   uint32_t payload_len, int fd);

/* --------------------------------------------------------- memory table */

struct vhost_mem_region {
	uint64_t gpa;        /* guest physical start */
	uint64_t size;       /* bytes */
	uint64_t uva;        /* the frontend's virtual address of gpa */
	uint8_t *hva;        /* our address of gpa */
	void *mmap_addr;     /* NULL: not mmapped by us (synthetic region) */
	size_t mmap_size;
	int fd;
};

struct vhost_mem {
	unsigned nregions;
	struct vhost_mem_region r[VHOST_MEM_SLOTS_MAX];
};

void vhost_mem_init(struct vhost_mem *mem);

/*
 * Map a region from fd (taking ownership of fd on success).
 * Returns 0, -EINVAL (empty, overflowing or overlapping range), -ENOSPC (table
 * full), -errno of mmap.
 */
int vhost_mem_add(struct vhost_mem *mem, const struct vhost_user_mem_region *reg, int fd);

/* Add a region already in our address space (tests, fuzzing). Same checks. */
int vhost_mem_add_mapped(struct vhost_mem *mem, uint64_t gpa, uint64_t size, uint64_t uva,
			 void *hva);

/* Remove the region with this gpa/size. Returns 0 or -ENOENT. */
int vhost_mem_remove(struct vhost_mem *mem, const struct vhost_user_mem_region *reg);

/* Unmap everything. */
void vhost_mem_clear(struct vhost_mem *mem);

/*
 * Translate guest-physical [gpa, gpa+len): returns our address of gpa and sets
 * *contig to the bytes available contiguously from there (<= len), or NULL
 * when gpa is in no region.
 */
void *vhost_mem_gpa_to_hva(const struct vhost_mem *mem, uint64_t gpa, uint64_t len,
			   uint64_t *contig);

/* Translate a frontend virtual range that must lie within one region, or NULL. */
void *vhost_mem_uva_to_hva(const struct vhost_mem *mem, uint64_t uva, uint64_t len);

/* ----------------------------------------------------- split virtqueue */

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_USED_F_NO_NOTIFY 1
#define VRING_AVAIL_F_NO_INTERRUPT 1

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];
};

/* One guest buffer segment in our address space. */
struct vhost_iov {
	struct iovec iov;
	bool write; /* device-writable (guest reads it) */
};

struct vhost_vq {
	/* Set by the control thread while the queue thread is stopped. */
	unsigned num;                 /* entries, power of two */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	const struct vhost_mem *mem;
	bool event_idx;
	bool indirect;
	/* Owned by the queue thread while it runs. */
	uint16_t last_avail_idx;      /* next avail entry to take */
	uint16_t used_idx;            /* our copy of used->idx */
	uint16_t signalled_used;      /* used idx at the last call (EVENT_IDX) */
	bool signalled_used_valid;
	/* Ring validation failed: the queue stops until the frontend resets it. */
	bool broken;
};

/* Bind a vq to translated rings. Returns 0 or -EINVAL (num not a power of two). */
int vhost_vq_setup(struct vhost_vq *vq, unsigned num, struct vring_desc *desc,
		   struct vring_avail *avail, struct vring_used *used,
		   const struct vhost_mem *mem, bool event_idx, bool indirect,
		   uint16_t last_avail_idx);

/*
 * Take the next available chain head. Returns 1 (*head set), 0 (ring empty),
 * -EBADMSG (the guest's avail idx or head is out of range: vq->broken set).
 */
int vhost_vq_pop(struct vhost_vq *vq, uint16_t *head);

/*
 * Map the descriptor chain starting at head into iov[0..max). Device-readable
 * segments must come before device-writable ones. Returns the number of iovs
 * (>= 1) and sets *nread to how many of them are readable; -EBADMSG (loop,
 * bad index, bad indirect table, write before read, zero-length chain,
 * address outside guest memory), -E2BIG (more than max segments).
 */
int vhost_vq_map_chain(const struct vhost_vq *vq, uint16_t head, struct vhost_iov *iov,
		       unsigned max, unsigned *nread);

/* Put (head, len) on the used ring and publish it. */
void vhost_vq_push(struct vhost_vq *vq, uint16_t head, uint32_t len);

/* Whether the guest wants an interrupt for what was pushed since the last call. */
bool vhost_vq_need_call(struct vhost_vq *vq);

/*
 * Ask the guest for kicks again before sleeping. Returns true when new
 * buffers arrived meanwhile (do not sleep).
 */
bool vhost_vq_enable_notify(struct vhost_vq *vq);
/* Tell the guest kicks are not needed (we are polling). */
void vhost_vq_disable_notify(struct vhost_vq *vq);
/* Entries waiting in the avail ring. */
unsigned vhost_vq_avail_count(const struct vhost_vq *vq);

#endif
