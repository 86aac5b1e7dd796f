/*
 * The vhost-user device state machine: one per connection, run by the
 * export's control thread. It applies validated messages to the device state
 * (features, memory table, rings) and starts or stops the queue threads.
 *
 * Rules kept here (vhost-user.rst, "Starting and stopping rings"):
 *  - a ring runs when it has a size, addresses and a kick fd (started) and
 *    is enabled; without VHOST_USER_F_PROTOCOL_FEATURES rings are enabled
 *    as soon as they start;
 *  - GET_VRING_BASE stops the ring and answers the next avail index;
 *  - anything that changes what a running queue thread reads (memory table,
 *    ring fields, fds) first stops the affected threads, then restarts them.
 * QEMU's firmware starts one ring and stops it before Linux starts them all
 * again, so stop/start must be exact and repeatable.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_log.h"
#include "vhost_blk.h"

void
vhost_dev_init(struct vhost_dev *dev, int sock, struct vhost_bdev *bdev,
	       const struct vhost_dev_opts *opts)
{
	memset(dev, 0, sizeof(*dev));
	dev->sock = sock;
	dev->bdev = bdev;
	dev->opts = *opts;
	if (dev->opts.max_queues == 0 || dev->opts.max_queues > VHOST_VQ_MAX)
		dev->opts.max_queues = 1;
	vhost_mem_init(&dev->mem);
	pthread_mutex_init(&dev->backend_lock, NULL);
	dev->backend_fd = -1;
	dev->inflight_fd = -1;
	for (unsigned i = 0; i < VHOST_VQ_MAX; i++) {
		dev->vr[i].kick_fd = -1;
		dev->vr[i].call_fd = -1;
		dev->vr[i].err_fd = -1;
	}
}

uint64_t
vhost_dev_protocol_features(const struct vhost_dev *dev)
{
	uint64_t f = (1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
		     (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
		     (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
		     (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
	if (!dev->opts.no_inflight)
		f |= 1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD;
	return f;
}

static bool
ring_should_run(const struct vhost_dev *dev, const struct vhost_dev_vring *vr)
{
	return vr->kicked && vr->addr_set && vr->num && vr->enabled && dev->mem.nregions;
}

static void
ring_try_start(struct vhost_dev *dev, unsigned idx)
{
	struct vhost_dev_vring *vr = &dev->vr[idx];
	int rc;

	if (vr->q || !ring_should_run(dev, vr))
		return;
	rc = vhost_blk_queue_start(dev, idx);
	if (rc < 0)
		rt_err(RT_SS_VHOST, "queue %u: cannot start: %s", idx, strerror(-rc));
}

/* Stop all running queues; returns a mask of those that ran. */
static uint32_t
stop_all(struct vhost_dev *dev)
{
	uint32_t mask = 0;

	for (unsigned i = 0; i < VHOST_VQ_MAX; i++) {
		if (dev->vr[i].q) {
			vhost_blk_queue_stop(dev, i);
			mask |= 1u << i;
		}
	}
	return mask;
}

static void
start_all(struct vhost_dev *dev)
{
	for (unsigned i = 0; i < VHOST_VQ_MAX; i++)
		ring_try_start(dev, i);
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
inflight_release(struct vhost_dev *dev)
{
	if (dev->inflight_addr)
		munmap(dev->inflight_addr, dev->inflight_size);
	dev->inflight_addr = NULL;
	dev->inflight_size = 0;
	close_fd(&dev->inflight_fd);
}

static size_t
inflight_queue_bytes(uint16_t queue_size)
{
	size_t b = sizeof(struct vhost_inflight_queue) +
		   sizeof(struct vhost_inflight_desc) * queue_size;
	return (b + 63) & ~(size_t)63;
}

static void
rings_reset(struct vhost_dev *dev)
{
	stop_all(dev);
	for (unsigned i = 0; i < VHOST_VQ_MAX; i++) {
		struct vhost_dev_vring *vr = &dev->vr[i];
		close_fd(&vr->kick_fd);
		close_fd(&vr->call_fd);
		close_fd(&vr->err_fd);
		memset(vr, 0, sizeof(*vr));
		vr->kick_fd = vr->call_fd = vr->err_fd = -1;
	}
}

void
vhost_dev_fini(struct vhost_dev *dev)
{
	rings_reset(dev);
	vhost_mem_clear(&dev->mem);
	inflight_release(dev);
	pthread_mutex_lock(&dev->backend_lock);
	close_fd(&dev->backend_fd);
	pthread_mutex_unlock(&dev->backend_lock);
}

/* Take fd 0 of the message (it is then no longer closed with the message). */
static int
take_fd(struct vhost_msg *m)
{
	int fd = m->fds[0];
	m->fds[0] = -1;
	return fd;
}

static int
handle_mem_table(struct vhost_dev *dev, struct vhost_msg *m)
{
	uint32_t running = stop_all(dev);
	int rc = 0;

	(void)running;
	vhost_mem_clear(&dev->mem);
	for (unsigned i = 0; i < m->p.mem.nregions; i++) {
		rc = vhost_mem_add(&dev->mem, &m->p.mem.regions[i], m->fds[i]);
		if (rc < 0) {
			rt_err(RT_SS_VHOST, "SET_MEM_TABLE region %u: %s", i, strerror(-rc));
			vhost_mem_clear(&dev->mem);
			return rc;
		}
		m->fds[i] = -1;
	}
	start_all(dev);
	return 0;
}

/* Returns the reply payload size (>= 0) for requests that answer, or -1 for
 * those that only ack; sets *err for the ack. */
static int
dispatch(struct vhost_dev *dev, struct vhost_msg *m, int *err)
{
	unsigned idx;
	int rc;

	*err = 0;
	switch (m->hdr.request) {
	case VHOST_USER_GET_FEATURES:
		m->p.u64 = vhost_blk_features(dev->bdev);
		return sizeof(uint64_t);
	case VHOST_USER_SET_FEATURES:
		if (m->p.u64 & ~vhost_blk_features(dev->bdev)) {
			*err = -EINVAL;
			return -1;
		}
		dev->features = m->p.u64;
		/* Without protocol features rings are enabled as they start. */
		if (!(dev->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
			for (unsigned i = 0; i < VHOST_VQ_MAX; i++)
				dev->vr[i].enabled = true;
		return -1;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		m->p.u64 = vhost_dev_protocol_features(dev);
		return sizeof(uint64_t);
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		dev->protocol_features = m->p.u64 & vhost_dev_protocol_features(dev);
		return -1;
	case VHOST_USER_GET_QUEUE_NUM:
		m->p.u64 = dev->opts.max_queues;
		return sizeof(uint64_t);
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		m->p.u64 = VHOST_MEM_SLOTS_MAX;
		return sizeof(uint64_t);
	case VHOST_USER_SET_OWNER:
		dev->owner = true;
		return -1;
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_RESET_DEVICE:
		rings_reset(dev);
		dev->features = 0;
		dev->status = 0;
		return -1;
	case VHOST_USER_SET_STATUS:
		dev->status = (uint8_t)m->p.u64;
		return -1;
	case VHOST_USER_GET_STATUS:
		m->p.u64 = dev->status;
		return sizeof(uint64_t);
	case VHOST_USER_SET_MEM_TABLE:
		*err = handle_mem_table(dev, m);
		return -1;
	case VHOST_USER_ADD_MEM_REG: {
		uint32_t running = stop_all(dev);
		(void)running;
		rc = vhost_mem_add(&dev->mem, &m->p.mem_reg.region, m->fds[0]);
		if (rc == 0)
			m->fds[0] = -1;
		else
			rt_err(RT_SS_VHOST, "ADD_MEM_REG: %s", strerror(-rc));
		start_all(dev);
		*err = rc;
		return -1;
	}
	case VHOST_USER_REM_MEM_REG:
		stop_all(dev);
		rc = vhost_mem_remove(&dev->mem, &m->p.mem_reg.region);
		start_all(dev);
		*err = rc;
		return -1;
	case VHOST_USER_SET_VRING_NUM:
		idx = m->p.state.index;
		if (idx >= dev->opts.max_queues || m->p.state.num == 0 ||
		    m->p.state.num > VHOST_VQ_SIZE_MAX ||
		    (m->p.state.num & (m->p.state.num - 1))) {
			*err = -EINVAL;
			return -1;
		}
		vhost_blk_queue_stop(dev, idx);
		dev->vr[idx].num = m->p.state.num;
		return -1;
	case VHOST_USER_SET_VRING_ADDR:
		idx = m->p.addr.index;
		if (idx >= dev->opts.max_queues) {
			*err = -EINVAL;
			return -1;
		}
		vhost_blk_queue_stop(dev, idx);
		dev->vr[idx].addr = m->p.addr;
		dev->vr[idx].addr_set = true;
		ring_try_start(dev, idx);
		return -1;
	case VHOST_USER_SET_VRING_BASE:
		idx = m->p.state.index;
		if (idx >= dev->opts.max_queues || m->p.state.num > UINT16_MAX) {
			*err = -EINVAL;
			return -1;
		}
		vhost_blk_queue_stop(dev, idx);
		dev->vr[idx].base = (uint16_t)m->p.state.num;
		return -1;
	case VHOST_USER_GET_VRING_BASE:
		idx = m->p.state.index;
		if (idx >= dev->opts.max_queues) {
			m->p.state.num = 0;
			return sizeof(m->p.state);
		}
		m->p.state.num = vhost_blk_queue_stop(dev, idx);
		dev->vr[idx].kicked = false;
		close_fd(&dev->vr[idx].kick_fd);
		return sizeof(m->p.state);
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR: {
		struct vhost_dev_vring *vr;
		int fd = (m->p.u64 & VHOST_VRING_NOFD_MASK) ? -1 : take_fd(m);
		idx = m->p.u64 & VHOST_VRING_IDX_MASK;
		if (idx >= dev->opts.max_queues) {
			close_fd(&fd);
			*err = -EINVAL;
			return -1;
		}
		vr = &dev->vr[idx];
		vhost_blk_queue_stop(dev, idx);
		if (m->hdr.request == VHOST_USER_SET_VRING_KICK) {
			close_fd(&vr->kick_fd);
			vr->kick_fd = fd;
			vr->kicked = true;
		} else if (m->hdr.request == VHOST_USER_SET_VRING_CALL) {
			close_fd(&vr->call_fd);
			vr->call_fd = fd;
		} else {
			close_fd(&vr->err_fd);
			vr->err_fd = fd;
		}
		ring_try_start(dev, idx);
		return -1;
	}
	case VHOST_USER_SET_VRING_ENABLE:
		idx = m->p.state.index;
		if (idx >= dev->opts.max_queues) {
			*err = -EINVAL;
			return -1;
		}
		dev->vr[idx].enabled = m->p.state.num != 0;
		if (dev->vr[idx].enabled)
			ring_try_start(dev, idx);
		else
			vhost_blk_queue_stop(dev, idx);
		return -1;
	case VHOST_USER_SET_BACKEND_REQ_FD:
		pthread_mutex_lock(&dev->backend_lock);
		close_fd(&dev->backend_fd);
		dev->backend_fd = take_fd(m);
		pthread_mutex_unlock(&dev->backend_lock);
		return -1;
	case VHOST_USER_GET_CONFIG: {
		struct virtio_blk_config cfg;
		uint32_t off = m->p.config.offset, size = m->p.config.size;
		vhost_blk_config_fill(dev, &cfg);
		memset(m->p.config.region, 0, size);
		if (off < sizeof(cfg)) {
			uint32_t n = (uint32_t)sizeof(cfg) - off;
			memcpy(m->p.config.region, (uint8_t *)&cfg + off, n < size ? n : size);
		}
		return (int)(VHOST_USER_CONFIG_HDR_SIZE + size);
	}
	case VHOST_USER_SET_CONFIG:
		/* Nothing in our config space is writable (no CONFIG_WCE). */
		return -1;
	case VHOST_USER_GET_INFLIGHT_FD: {
		uint16_t nq = m->p.inflight.num_queues, qs = m->p.inflight.queue_size;
		size_t size = inflight_queue_bytes(qs) * nq;
		void *addr;
		int fd;

		inflight_release(dev);
		fd = memfd_create("tessera-vhost-inflight", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
			rt_err(RT_SS_VHOST, "inflight region: %s", strerror(errno));
			close_fd(&fd);
			m->p.inflight.mmap_size = 0;
			return sizeof(m->p.inflight);
		}
		addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (addr == MAP_FAILED) {
			close(fd);
			m->p.inflight.mmap_size = 0;
			return sizeof(m->p.inflight);
		}
		dev->inflight_addr = addr;
		dev->inflight_size = size;
		dev->inflight_fd = fd;
		dev->inflight_num_queues = nq;
		dev->inflight_queue_size = qs;
		dev->inflight_per_queue = inflight_queue_bytes(qs);
		m->p.inflight.mmap_size = size;
		m->p.inflight.mmap_offset = 0;
		rc = vhost_msg_send(dev->sock, m->hdr.request,
				    VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, &m->p,
				    sizeof(m->p.inflight), fd);
		*err = rc;
		return -2; /* replied */
	}
	case VHOST_USER_SET_INFLIGHT_FD: {
		uint64_t size = m->p.inflight.mmap_size, off = m->p.inflight.mmap_offset;
		uint16_t nq = m->p.inflight.num_queues, qs = m->p.inflight.queue_size;
		void *addr;

		stop_all(dev);
		inflight_release(dev);
		if (size < inflight_queue_bytes(qs) * nq || off + size < off ||
		    off % (uint64_t)sysconf(_SC_PAGESIZE) || size > (1u << 30)) {
			*err = -EINVAL;
			return -1;
		}
		struct stat st;
		if (fstat(m->fds[0], &st) < 0 ||
		    (S_ISREG(st.st_mode) && off + size > (uint64_t)st.st_size)) {
			/* Past the end of the file would be SIGBUS. */
			*err = -EINVAL;
			return -1;
		}
		addr = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[0],
			    (off_t)off);
		if (addr == MAP_FAILED) {
			*err = -errno;
			return -1;
		}
		dev->inflight_fd = take_fd(m);
		dev->inflight_addr = addr;
		dev->inflight_num_queues = nq;
		dev->inflight_queue_size = qs;
		dev->inflight_per_queue = inflight_queue_bytes(qs);
		/* The mapping is as large as the frontend said; unmap it whole. */
		dev->inflight_size = (size_t)size;
		start_all(dev);
		return -1;
	}
	case VHOST_USER_SET_LOG_BASE:
	case VHOST_USER_SET_LOG_FD:
	case VHOST_USER_IOTLB_MSG:
	case VHOST_USER_SET_VRING_ENDIAN:
	case VHOST_USER_VRING_KICK:
	case VHOST_USER_POSTCOPY_ADVISE:
	case VHOST_USER_POSTCOPY_LISTEN:
	case VHOST_USER_POSTCOPY_END:
	default:
		rt_warn(RT_SS_VHOST, "unsupported message %s (%" PRIu32 ")",
			vhost_msg_name(m->hdr.request), m->hdr.request);
		*err = -ENOTSUP;
		return -1;
	}
}

int
vhost_dev_handle(struct vhost_dev *dev, struct vhost_msg *m)
{
	int err, len, rc = 0;

	rt_debug(RT_SS_VHOST, "message %s size %" PRIu32 " fds %u", vhost_msg_name(m->hdr.request),
		 m->hdr.size, m->nfds);
	rc = vhost_msg_validate(m);
	if (rc < 0) {
		/* The frontend may wait for an answer we cannot give: drop it. */
		rt_warn(RT_SS_VHOST, "invalid message %s (%" PRIu32 "): size %" PRIu32 ", %u fds",
			vhost_msg_name(m->hdr.request), m->hdr.request, m->hdr.size, m->nfds);
		vhost_msg_close_fds(m);
		return rc;
	}
	len = dispatch(dev, m, &err);
	if (len >= 0)
		rc = vhost_msg_reply(dev->sock, m, (uint32_t)len);
	else if (len == -2)
		rc = err;
	else if ((m->hdr.flags & VHOST_USER_NEED_REPLY_MASK) &&
		 (dev->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK))) {
		m->p.u64 = err ? 1 : 0;
		rc = vhost_msg_reply(dev->sock, m, sizeof(uint64_t));
	} else {
		rc = 0;
	}
	vhost_msg_close_fds(m);
	return rc;
}

int
vhost_dev_serve(struct vhost_dev *dev)
{
	static __thread struct vhost_msg m;
	int rc;

	for (;;) {
		rc = vhost_msg_recv(dev->sock, &m);
		if (rc == -ECONNRESET)
			return 0;
		if (rc < 0) {
			rt_warn(RT_SS_VHOST, "reading a message: %s", strerror(-rc));
			return rc;
		}
		rc = vhost_dev_handle(dev, &m);
		if (rc < 0) {
			rt_warn(RT_SS_VHOST, "answering %s: %s", vhost_msg_name(m.hdr.request),
				strerror(-rc));
			return rc;
		}
	}
}
