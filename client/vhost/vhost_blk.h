/*
 * tessera-vhost: virtio-blk over a block backend, the device state machine
 * and the backends. See vhost_user.h for the layer list and docs/vhost.md.
 */
#ifndef VHOST_BLK_H
#define VHOST_BLK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vhost_user.h"

/* ------------------------------------------------------------ virtio-blk */

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1u
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_SECTOR 512u

/* Data segments per request we advertise (seg_max) and accept after splits. */
#define VHOST_BLK_SEG_MAX 126u
#define VHOST_BLK_IOV_MAX 256u
/* Largest discard / write-zeroes in sectors (1 GiB). */
#define VHOST_BLK_MAX_DISCARD_SECTORS (1u << 21)

struct virtio_blk_outhdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
};

struct virtio_blk_discard_wz {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

struct virtio_blk_config {
	uint64_t capacity; /* 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t wce;
	uint8_t unused;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_blk_config) == 60, "virtio_blk_config");

/* A parsed request: what to do, where, on which guest buffers. */
struct vhost_blk_cmd {
	uint32_t type;
	uint64_t sector;
	uint8_t *status;              /* the status byte in guest memory */
	unsigned ndata;
	uint64_t data_len;            /* bytes in data[] */
	struct iovec data[VHOST_BLK_IOV_MAX];
};

/*
 * Parse a mapped chain (iov[0..n), of which the first nread are readable)
 * as a virtio-blk request. Pure. Returns 0; -EBADMSG when there is no status
 * byte (nothing can be reported: complete with used len 0), -EINVAL when
 * there is one but the request is malformed (cmd->status is set: answer
 * IOERR).
 */
int vhost_blk_cmd_parse(const struct vhost_iov *iov, unsigned n, unsigned nread,
			struct vhost_blk_cmd *cmd);

/* Copy len bytes out of / into iovecs. Return bytes copied. */
size_t vhost_iov_to_buf(const struct iovec *iov, unsigned n, void *buf, size_t len);
size_t vhost_iov_from_buf(const struct iovec *iov, unsigned n, const void *buf, size_t len);

/* ---------------------------------------------------------- backends */

typedef void (*vhost_bdev_cb)(void *arg, ssize_t result);

/*
 * A block backend. The queue calls run on one queue thread each (the thread
 * that created the queue). Submit calls follow the async contract: returns
 * 0: cb runs exactly once, later, on that thread inside queue_poll; returns
 * <0 (-EAGAIN: queue full, poll and retry; -EINVAL, -ERANGE): cb never runs.
 */
struct vhost_bdev_ops {
	const char *name;
	int (*queue_create)(void *bdev, void **q); /* bdev: the struct vhost_bdev */
	int (*queue_destroy)(void *q); /* -EBUSY while I/O is in flight */
	int (*queue_fd)(void *q);      /* readable when queue_poll has work */
	int (*queue_poll)(void *q);    /* runs callbacks; returns how many or -errno */
	unsigned (*queue_inflight)(void *q);
	int (*readv)(void *q, const struct iovec *iov, int iovcnt, uint64_t off, vhost_bdev_cb cb,
		     void *arg);
	int (*writev)(void *q, const struct iovec *iov, int iovcnt, uint64_t off,
		      vhost_bdev_cb cb, void *arg);
	int (*flush)(void *q, vhost_bdev_cb cb, void *arg);
	int (*discard)(void *q, uint64_t off, uint64_t len, vhost_bdev_cb cb, void *arg);
	int (*write_zeroes)(void *q, uint64_t off, uint64_t len, vhost_bdev_cb cb, void *arg);
	void (*close)(void *bdev);
};

struct vhost_bdev {
	const struct vhost_bdev_ops *ops;
	void *priv;                     /* the backend's handle, passed as bdev */
	_Atomic uint64_t size_bytes;    /* changes on resize */
	char serial[VIRTIO_BLK_ID_BYTES + 1];
	bool read_only;
	/* Resize notification to the device (set by vhost_dev, any thread). */
	pthread_mutex_t lock;
	void (*resize_cb)(void *arg, uint64_t size); /* protected by lock */
	void *resize_arg;                            /* protected by lock */
	/* Requests taken from rings and not yet completed, and completed ones,
	 * over every queue thread of the export (relaxed atomics: counters). */
	atomic_uint_fast64_t reqs_inflight;
	atomic_uint_fast64_t reqs_completed;
};

/* A RAM disk (tests and benchmarks without a cluster). Returns 0 or -errno. */
int vhost_bdev_malloc_open(uint64_t size_bytes, const char *serial, struct vhost_bdev **out);
/* A libtessera volume; mon: monitor addresses. Returns 0 or -errno. */
int vhost_bdev_tsr_open(const char *mon, const char *volume, struct vhost_bdev **out);
bool vhost_bdev_tsr_available(void);
void vhost_bdev_close(struct vhost_bdev **b);
/* Called by a backend when the size changed. */
void vhost_bdev_resized(struct vhost_bdev *b, uint64_t size_bytes);

/* ------------------------------------------------------ device + queues */

struct vhost_blk_queue;

struct vhost_dev_opts {
	unsigned max_queues;
	unsigned poll_us;       /* busy-poll window after the last work */
	bool no_inflight;       /* do not offer INFLIGHT_SHMFD */
	const uint16_t *cpus;   /* queue i runs on cpus[i % ncpus]; ncpus 0: anywhere */
	unsigned ncpus;
};

struct vhost_dev_vring {
	unsigned num;
	struct vhost_user_vring_addr addr;
	bool addr_set;
	uint16_t base;
	int kick_fd, call_fd, err_fd;
	bool enabled;
	bool kicked; /* SET_VRING_KICK seen: the ring is started */
	struct vhost_blk_queue *q; /* running queue thread, NULL when stopped */
};

/* Inflight tracking region (vhost-user "inflight I/O tracking", split rings). */
struct vhost_inflight_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};
struct vhost_inflight_queue {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct vhost_inflight_desc desc[];
};

struct vhost_dev {
	int sock;
	struct vhost_bdev *bdev;
	struct vhost_dev_opts opts;
	uint64_t features;          /* acked by SET_FEATURES */
	uint64_t protocol_features; /* acked */
	bool owner;
	struct vhost_mem mem;
	struct vhost_dev_vring vr[VHOST_VQ_MAX];
	uint8_t status;
	/* Backend channel; the lock is taken by the control thread and the
	 * resize callback (a library thread). */
	pthread_mutex_t backend_lock;
	int backend_fd;                   /* protected by backend_lock */
	/* Inflight region (memfd shared with the frontend). */
	void *inflight_addr;
	size_t inflight_size;             /* of the mapping */
	size_t inflight_per_queue;        /* bytes of each queue's part */
	uint16_t inflight_queue_size;
	uint16_t inflight_num_queues;
	int inflight_fd;
	/* stats, summed over queue threads as they stop */
	atomic_uint_fast64_t reqs;
};

uint64_t vhost_blk_features(const struct vhost_bdev *b);
uint64_t vhost_dev_protocol_features(const struct vhost_dev *dev);
/* Fill the config space as the guest sees it now. */
void vhost_blk_config_fill(const struct vhost_dev *dev, struct virtio_blk_config *cfg);

void vhost_dev_init(struct vhost_dev *dev, int sock, struct vhost_bdev *bdev,
		    const struct vhost_dev_opts *opts);
/* Apply one validated message (replies as needed). Returns 0, or <0 to drop
 * the connection. */
int vhost_dev_handle(struct vhost_dev *dev, struct vhost_msg *m);
/* Stop every queue, unmap memory, close fds (connection gone). */
void vhost_dev_fini(struct vhost_dev *dev);
/* Serve one connection until it closes. Returns 0 on EOF or a negative errno. */
int vhost_dev_serve(struct vhost_dev *dev);

/* Queue threads (vhost_blk.c). start: the ring's fields are set. */
int vhost_blk_queue_start(struct vhost_dev *dev, unsigned idx);
/* Stop the thread after in-flight requests complete; returns last_avail_idx. */
uint16_t vhost_blk_queue_stop(struct vhost_dev *dev, unsigned idx);

#endif
