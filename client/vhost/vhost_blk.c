/*
 * virtio-blk on a block backend: request parsing, the config space, and one
 * thread per virtqueue.
 *
 * A queue thread owns its vhost_vq, its backend queue (a tsr_queue for a
 * volume: created on the thread, so submissions need no lock and no thread
 * hop) and a fixed array of request slots, one per ring entry, made when the
 * ring starts (no allocation per I/O). Guest buffers go to the backend as
 * iovecs into the mapped guest memory: no copy.
 *
 * Loop: take every available chain and submit it, poll the backend for
 * completions (each pushes to the used ring), then send one interrupt for the
 * whole batch if the guest wants one (EVENT_IDX). While work keeps coming it
 * polls with guest notifications off; after poll_us without work it turns
 * notifications on, re-checks the ring (the guest may have added a buffer
 * meanwhile) and sleeps in poll(2) on the kick eventfd, the backend's fd and
 * a stop eventfd.
 *
 * Stopping (GET_VRING_BASE, disable, memory change, disconnect): the control
 * thread sets `stop` and signals the stop eventfd; the queue thread stops
 * taking chains, waits for its in-flight requests (so last_avail_idx is a
 * clean restart point and no I/O writes into memory about to be unmapped),
 * and exits; the control thread joins it.
 *
 * Inflight tracking (vhost-user INFLIGHT_SHMFD): when the frontend gave us a
 * shared region, each taken chain is marked there and cleared on completion,
 * so that a restarted backend resubmits what the dead one had taken (QEMU
 * keeps the region across our restart and hands it back).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "rt_log.h"
#include "vhost_blk.h"

/* ------------------------------------------------------- request parsing */

size_t
vhost_iov_to_buf(const struct iovec *iov, unsigned n, void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t c = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
		memcpy((char *)buf + done, iov[i].iov_base, c);
		done += c;
	}
	return done;
}

size_t
vhost_iov_from_buf(const struct iovec *iov, unsigned n, const void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t c = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
		memcpy(iov[i].iov_base, (const char *)buf + done, c);
		done += c;
	}
	return done;
}

/* Append iov[first..last) to cmd->data, skipping `skip` leading and `trim`
 * trailing bytes. */
static int
cmd_take(struct vhost_blk_cmd *cmd, const struct vhost_iov *iov, unsigned first, unsigned last,
	 uint64_t skip, uint64_t trim)
{
	uint64_t total = 0, keep;

	for (unsigned i = first; i < last; i++)
		total += iov[i].iov.iov_len;
	if (total < skip + trim)
		return -EINVAL;
	keep = total - skip - trim;
	for (unsigned i = first; i < last && keep; i++) {
		uint8_t *base = iov[i].iov.iov_base;
		uint64_t len = iov[i].iov.iov_len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		base += skip;
		len -= skip;
		skip = 0;
		if (len > keep)
			len = keep;
		if (cmd->ndata >= VHOST_BLK_IOV_MAX)
			return -EINVAL;
		cmd->data[cmd->ndata].iov_base = base;
		cmd->data[cmd->ndata].iov_len = (size_t)len;
		cmd->ndata++;
		cmd->data_len += len;
		keep -= len;
	}
	return 0;
}

int
vhost_blk_cmd_parse(const struct vhost_iov *iov, unsigned n, unsigned nread,
		    struct vhost_blk_cmd *cmd)
{
	struct virtio_blk_outhdr hdr;
	struct iovec rd[VHOST_BLK_IOV_MAX];
	const struct vhost_iov *last;
	unsigned nwrite;

	cmd->status = NULL;
	cmd->ndata = 0;
	cmd->data_len = 0;
	cmd->type = UINT32_MAX;
	cmd->sector = 0;
	if (n == 0 || nread > n || n > VHOST_BLK_IOV_MAX)
		return -EBADMSG;
	nwrite = n - nread;
	last = &iov[n - 1];
	if (nwrite == 0 || !last->write || last->iov.iov_len == 0)
		return -EBADMSG;
	cmd->status = (uint8_t *)last->iov.iov_base + last->iov.iov_len - 1;

	for (unsigned i = 0; i < nread; i++)
		rd[i] = iov[i].iov;
	if (vhost_iov_to_buf(rd, nread, &hdr, sizeof(hdr)) != sizeof(hdr))
		return -EINVAL;
	cmd->type = hdr.type;
	cmd->sector = hdr.sector;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_GET_ID:
		/* Readable: the header only; writable: data then the status byte. */
		return cmd_take(cmd, iov, nread, n, 0, 1);
	case VIRTIO_BLK_T_OUT:
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return cmd_take(cmd, iov, 0, nread, sizeof(hdr), 0);
	case VIRTIO_BLK_T_FLUSH:
	default:
		return 0;
	}
}

/* ------------------------------------------------------- features, config */

uint64_t
vhost_blk_features(const struct vhost_bdev *b)
{
	uint64_t f = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_MQ) |
		     (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES) |
		     (1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
		     (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	if (b->read_only)
		f |= 1ull << VIRTIO_BLK_F_RO;
	return f;
}

void
vhost_blk_config_fill(const struct vhost_dev *dev, struct virtio_blk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = atomic_load(&dev->bdev->size_bytes) / VIRTIO_BLK_SECTOR;
	cfg->seg_max = VHOST_BLK_SEG_MAX;
	cfg->blk_size = 4096;
	cfg->min_io_size = 1;
	cfg->opt_io_size = 0;
	cfg->num_queues = (uint16_t)dev->opts.max_queues;
	cfg->max_discard_sectors = VHOST_BLK_MAX_DISCARD_SECTORS;
	cfg->max_discard_seg = 1;
	cfg->discard_sector_alignment = 4096 / VIRTIO_BLK_SECTOR;
	cfg->max_write_zeroes_sectors = VHOST_BLK_MAX_DISCARD_SECTORS;
	cfg->max_write_zeroes_seg = 1;
	cfg->write_zeroes_may_unmap = 1;
}

/* ------------------------------------------------------------ queues */

struct vhost_blk_req {
	struct vhost_blk_queue *q;
	uint16_t head;
	uint32_t used_len;
	struct vhost_blk_cmd cmd;
};

struct vhost_blk_queue {
	struct vhost_dev *dev;
	unsigned idx;
	struct vhost_vq vq;
	int kick_fd, call_fd, err_fd, stop_fd;
	atomic_bool stop;
	pthread_t thread;
	const struct vhost_bdev_ops *ops;
	void *bq;
	unsigned poll_us;
	struct vhost_blk_req *reqs;   /* [vq.num] */
	uint16_t *free_slots;         /* stack of request indexes */
	unsigned nfree;
	struct vhost_blk_req *stalled;/* backend said -EAGAIN */
	unsigned pushed;              /* used entries since the last call */
	struct vhost_inflight_queue *inflight;
	uint64_t inflight_counter;
	uint16_t *resubmit;           /* heads to resubmit after a restart */
	unsigned nresubmit;
	uint64_t reqs_done;
	bool err_signalled;
	struct vhost_iov scratch[VHOST_BLK_IOV_MAX];
};

static uint64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
fd_signal(int fd)
{
	uint64_t one = 1;
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		rt_warn_rl(RT_SS_VHOST, "eventfd write: %s", strerror(errno));
}

static void
fd_drain(int fd)
{
	uint64_t v;
	if (fd >= 0 && read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		rt_warn_rl(RT_SS_VHOST, "eventfd read: %s", strerror(errno));
}

static void
req_complete(struct vhost_blk_req *r, uint8_t status)
{
	struct vhost_blk_queue *q = r->q;

	if (r->cmd.status)
		*r->cmd.status = status;
	if (q->inflight)
		q->inflight->last_batch_head = r->head;
	vhost_vq_push(&q->vq, r->head, r->cmd.status ? r->used_len : 0);
	if (q->inflight) {
		__atomic_store_n(&q->inflight->desc[r->head].inflight, 0, __ATOMIC_RELEASE);
		q->inflight->used_idx = q->vq.used_idx;
	}
	q->pushed++;
	q->reqs_done++;
	atomic_fetch_sub_explicit(&q->dev->bdev->reqs_inflight, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&q->dev->bdev->reqs_completed, 1, memory_order_relaxed);
	q->free_slots[q->nfree++] = (uint16_t)(r - q->reqs);
}

static void
req_done(void *arg, ssize_t result)
{
	struct vhost_blk_req *r = arg;

	if (result < 0)
		rt_warn_rl(RT_SS_VHOST, "queue %u: request type %" PRIu32 " sector %" PRIu64
			   " failed: %s", r->q->idx, r->cmd.type, r->cmd.sector,
			   strerror((int)-result));
	req_complete(r, result < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

/* Byte range of a request, checked for alignment and overflow. */
static int
req_range(uint64_t sector, uint64_t len, uint64_t *off)
{
	if (sector > UINT64_MAX / VIRTIO_BLK_SECTOR)
		return -EINVAL;
	*off = sector * VIRTIO_BLK_SECTOR;
	if (*off % 4096 || len % 4096 || *off + len < *off)
		return -EINVAL;
	return 0;
}

/*
 * Submit a parsed request. Returns 0 (submitted or completed), -EAGAIN (the
 * backend queue is full: keep r and retry).
 */
static int
req_submit(struct vhost_blk_req *r)
{
	struct vhost_blk_queue *q = r->q;
	struct vhost_blk_cmd *c = &r->cmd;
	const struct vhost_bdev_ops *ops = q->ops;
	struct virtio_blk_discard_wz seg;
	uint64_t off;
	int rc;

	switch (c->type) {
	case VIRTIO_BLK_T_IN:
		r->used_len = (uint32_t)(c->data_len + 1);
		if (c->ndata == 0 || req_range(c->sector, c->data_len, &off) < 0)
			goto ioerr;
		rc = ops->readv(q->bq, c->data, (int)c->ndata, off, req_done, r);
		break;
	case VIRTIO_BLK_T_OUT:
		r->used_len = 1;
		if (q->dev->bdev->read_only)
			goto ioerr;
		if (c->ndata == 0 || req_range(c->sector, c->data_len, &off) < 0)
			goto ioerr;
		rc = ops->writev(q->bq, c->data, (int)c->ndata, off, req_done, r);
		break;
	case VIRTIO_BLK_T_FLUSH:
		r->used_len = 1;
		rc = ops->flush(q->bq, req_done, r);
		break;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VIRTIO_BLK_ID_BYTES];
		memset(id, 0, sizeof(id));
		memcpy(id, q->dev->bdev->serial, strnlen(q->dev->bdev->serial, sizeof(id)));
		size_t n = vhost_iov_from_buf(c->data, c->ndata, id,
					      c->data_len < sizeof(id) ? c->data_len : sizeof(id));
		r->used_len = (uint32_t)n + 1;
		req_complete(r, VIRTIO_BLK_S_OK);
		return 0;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		r->used_len = 1;
		if (q->dev->bdev->read_only)
			goto ioerr;
		/* We advertise one segment per request. */
		if (c->data_len != sizeof(seg))
			goto unsupp;
		vhost_iov_to_buf(c->data, c->ndata, &seg, sizeof(seg));
		if (c->type == VIRTIO_BLK_T_DISCARD && seg.flags != 0)
			goto unsupp;
		if (seg.flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			goto unsupp;
		if (seg.num_sectors > VHOST_BLK_MAX_DISCARD_SECTORS ||
		    req_range(seg.sector, (uint64_t)seg.num_sectors * VIRTIO_BLK_SECTOR, &off) < 0)
			goto ioerr;
		if (seg.num_sectors == 0) {
			req_complete(r, VIRTIO_BLK_S_OK);
			return 0;
		}
		if (c->type == VIRTIO_BLK_T_DISCARD)
			rc = ops->discard(q->bq, off, (uint64_t)seg.num_sectors * VIRTIO_BLK_SECTOR,
					  req_done, r);
		else
			rc = ops->write_zeroes(q->bq, off,
					       (uint64_t)seg.num_sectors * VIRTIO_BLK_SECTOR,
					       req_done, r);
		break;
	default:
		r->used_len = 1;
		goto unsupp;
	}
	if (rc == -EAGAIN)
		return -EAGAIN;
	if (rc < 0) {
		rt_warn_rl(RT_SS_VHOST, "queue %u: submit type %" PRIu32 ": %s", q->idx, c->type,
			   strerror(-rc));
		goto ioerr;
	}
	return 0;
ioerr:
	req_complete(r, VIRTIO_BLK_S_IOERR);
	return 0;
unsupp:
	req_complete(r, VIRTIO_BLK_S_UNSUPP);
	return 0;
}

/* Map and parse the chain at head into a free slot and submit it. */
static int
queue_take(struct vhost_blk_queue *q, uint16_t head)
{
	struct vhost_blk_req *r = &q->reqs[q->free_slots[--q->nfree]];
	unsigned nread = 0;
	int n, rc;

	r->q = q;
	r->head = head;
	r->used_len = 0;
	atomic_fetch_add_explicit(&q->dev->bdev->reqs_inflight, 1, memory_order_relaxed);
	if (q->inflight) {
		q->inflight->desc[head].counter = ++q->inflight_counter;
		__atomic_store_n(&q->inflight->desc[head].inflight, 1, __ATOMIC_RELEASE);
	}
	n = vhost_vq_map_chain(&q->vq, head, q->scratch, VHOST_BLK_IOV_MAX, &nread);
	if (n < 0) {
		rt_warn_rl(RT_SS_VHOST, "queue %u: bad descriptor chain at head %u: %s", q->idx,
			   head, strerror(-n));
		r->cmd.status = NULL;
		req_complete(r, VIRTIO_BLK_S_IOERR);
		return 0;
	}
	rc = vhost_blk_cmd_parse(q->scratch, (unsigned)n, nread, &r->cmd);
	if (rc < 0) {
		rt_warn_rl(RT_SS_VHOST, "queue %u: malformed request at head %u", q->idx, head);
		r->used_len = 1;
		req_complete(r, VIRTIO_BLK_S_IOERR);
		return 0;
	}
	rc = req_submit(r);
	if (rc == -EAGAIN)
		q->stalled = r;
	return 0;
}

/* Take chains until the ring is empty, the slots run out or the backend is full. */
static unsigned
queue_fill(struct vhost_blk_queue *q)
{
	unsigned taken = 0;
	uint16_t head;
	int rc;

	if (q->stalled) {
		if (req_submit(q->stalled) == -EAGAIN)
			return 0;
		q->stalled = NULL;
		taken++;
	}
	while (q->nresubmit && q->nfree && !q->stalled) {
		queue_take(q, q->resubmit[--q->nresubmit]);
		taken++;
	}
	while (q->nfree && !q->stalled) {
		rc = vhost_vq_pop(&q->vq, &head);
		if (rc == 0)
			break;
		if (rc < 0) {
			if (!q->err_signalled) {
				rt_err(RT_SS_VHOST, "queue %u: guest ring is broken (avail idx or "
				       "head out of range); the queue stops", q->idx);
				fd_signal(q->err_fd);
				q->err_signalled = true;
			}
			break;
		}
		queue_take(q, head);
		taken++;
	}
	return taken;
}

static void
queue_signal(struct vhost_blk_queue *q)
{
	if (q->pushed && vhost_vq_need_call(&q->vq))
		fd_signal(q->call_fd);
	q->pushed = 0;
}

static unsigned
queue_inflight(const struct vhost_blk_queue *q)
{
	return q->vq.num - q->nfree;
}

static void *
queue_thread(void *arg)
{
	struct vhost_blk_queue *q = arg;
	uint64_t last_work;
	int rc, bfd;

	rc = q->ops->queue_create(q->dev->bdev, &q->bq);
	if (rc < 0) {
		rt_err(RT_SS_VHOST, "queue %u: cannot create a backend queue: %s", q->idx,
		       strerror(-rc));
		fd_signal(q->err_fd);
		return NULL;
	}
	bfd = q->ops->queue_fd(q->bq);
	vhost_vq_disable_notify(&q->vq);
	last_work = now_us();
	while (!atomic_load_explicit(&q->stop, memory_order_acquire)) {
		unsigned work = queue_fill(q);
		rc = q->ops->queue_poll(q->bq);
		if (rc > 0)
			work += (unsigned)rc;
		queue_signal(q);
		if (work) {
			last_work = now_us();
			continue;
		}
		if (q->poll_us && now_us() - last_work < q->poll_us)
			continue;
		if (q->stalled || q->vq.broken || !q->nfree) {
			/* Waiting for the backend only. */
		} else if (vhost_vq_enable_notify(&q->vq)) {
			vhost_vq_disable_notify(&q->vq);
			continue;
		}
		struct pollfd pfd[3] = { { q->kick_fd, POLLIN, 0 }, { bfd, POLLIN, 0 },
					 { q->stop_fd, POLLIN, 0 } };
		/* No kick fd (polling frontend): look at the ring every ms. */
		rc = poll(pfd, 3, q->kick_fd >= 0 ? 1000 : 1);
		if (rc > 0 && (pfd[0].revents & POLLIN))
			fd_drain(q->kick_fd);
		vhost_vq_disable_notify(&q->vq);
		last_work = now_us();
	}
	/* Drain: let in-flight requests finish (the backend bounds their time). */
	if (q->stalled) {
		/* Never submitted: give it back to the ring by not consuming it. */
		q->free_slots[q->nfree++] = (uint16_t)(q->stalled - q->reqs);
		if (q->inflight)
			q->inflight->desc[q->stalled->head].inflight = 0;
		q->stalled = NULL;
		q->vq.last_avail_idx--;
		atomic_fetch_sub_explicit(&q->dev->bdev->reqs_inflight, 1, memory_order_relaxed);
	}
	while (queue_inflight(q) > 0) {
		struct pollfd pfd = { bfd, POLLIN, 0 };
		rc = q->ops->queue_poll(q->bq);
		queue_signal(q);
		if (rc < 0)
			break;
		if (rc == 0 && queue_inflight(q) > 0)
			poll(&pfd, 1, 10);
	}
	queue_signal(q);
	for (int i = 0; i < 1000; i++) {
		if (q->ops->queue_destroy(q->bq) != -EBUSY)
			break;
		q->ops->queue_poll(q->bq);
		usleep(1000);
	}
	q->bq = NULL;
	return NULL;
}

/* Build the resubmit list from the inflight region (the previous backend's work). */
static void
queue_load_inflight(struct vhost_blk_queue *q)
{
	struct vhost_inflight_queue *in = q->inflight;
	unsigned n = 0;

	if (in->version != 1 || in->desc_num != q->vq.num) {
		/* A fresh region (or one for another ring size): start it clean. */
		memset(in->desc, 0, sizeof(in->desc[0]) * q->vq.num);
		in->version = 1;
		in->desc_num = (uint16_t)q->vq.num;
		in->used_idx = q->vq.used_idx;
		return;
	}
	/* We died between publishing a used entry and clearing its mark. */
	if (in->used_idx != q->vq.used_idx) {
		in->desc[in->last_batch_head].inflight = 0;
		in->used_idx = q->vq.used_idx;
	}
	for (unsigned i = 0; i < q->vq.num; i++) {
		if (in->desc[i].inflight != 1) {
			in->desc[i].inflight = 0;
			continue;
		}
		q->resubmit[n++] = (uint16_t)i;
		if (in->desc[i].counter > q->inflight_counter)
			q->inflight_counter = in->desc[i].counter;
	}
	/* Resubmitted oldest first: the list is popped from its end. */
	for (unsigned i = 1; i < n; i++) {
		uint16_t h = q->resubmit[i];
		unsigned j = i;
		while (j > 0 && in->desc[q->resubmit[j - 1]].counter < in->desc[h].counter) {
			q->resubmit[j] = q->resubmit[j - 1];
			j--;
		}
		q->resubmit[j] = h;
	}
	q->nresubmit = n;
	/* Every chain taken is either used or in flight. */
	q->vq.last_avail_idx = (uint16_t)(q->vq.used_idx + n);
	if (n)
		rt_info(RT_SS_VHOST, "queue %u: resubmitting %u requests in flight before the "
			"restart", q->idx, n);
}

static void
queue_free(struct vhost_blk_queue *q)
{
	if (q->stop_fd >= 0)
		close(q->stop_fd);
	free(q->reqs);
	free(q->free_slots);
	free(q->resubmit);
	free(q);
}

int
vhost_blk_queue_start(struct vhost_dev *dev, unsigned idx)
{
	struct vhost_dev_vring *vr = &dev->vr[idx];
	struct vhost_blk_queue *q;
	void *desc, *avail, *used;
	size_t dsz, asz, usz;
	bool event_idx = dev->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	int rc;

	if (vr->q)
		return 0;
	if (!vr->addr_set || vr->num == 0)
		return -EINVAL;
	dsz = sizeof(struct vring_desc) * vr->num;
	asz = sizeof(struct vring_avail) + sizeof(uint16_t) * (vr->num + 1);
	usz = sizeof(struct vring_used) + sizeof(struct vring_used_elem) * vr->num +
	      sizeof(uint16_t);
	desc = vhost_mem_uva_to_hva(&dev->mem, vr->addr.desc_user_addr, dsz);
	avail = vhost_mem_uva_to_hva(&dev->mem, vr->addr.avail_user_addr, asz);
	used = vhost_mem_uva_to_hva(&dev->mem, vr->addr.used_user_addr, usz);
	if (!desc || !avail || !used) {
		rt_err(RT_SS_VHOST, "queue %u: ring addresses are outside guest memory", idx);
		return -EFAULT;
	}
	if (((uintptr_t)desc & 15) || ((uintptr_t)avail & 1) || ((uintptr_t)used & 3))
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->stop_fd = -1;
	q->dev = dev;
	q->idx = idx;
	q->ops = dev->bdev->ops;
	q->poll_us = dev->opts.poll_us;
	rc = vhost_vq_setup(&q->vq, vr->num, desc, avail, used, &dev->mem, event_idx,
			    dev->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC), vr->base);
	if (rc < 0)
		goto out_free;
	rc = -ENOMEM;
	q->reqs = calloc(vr->num, sizeof(*q->reqs));
	q->free_slots = calloc(vr->num, sizeof(*q->free_slots));
	q->resubmit = calloc(vr->num, sizeof(*q->resubmit));
	if (!q->reqs || !q->free_slots || !q->resubmit)
		goto out_free;
	for (unsigned i = 0; i < vr->num; i++)
		q->free_slots[q->nfree++] = (uint16_t)(vr->num - 1 - i);
	q->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->stop_fd < 0) {
		rc = -errno;
		goto out_free;
	}
	q->kick_fd = vr->kick_fd;
	q->call_fd = vr->call_fd;
	q->err_fd = vr->err_fd;
	if (dev->inflight_addr && idx < dev->inflight_num_queues &&
	    dev->inflight_queue_size >= vr->num) {
		size_t per = dev->inflight_per_queue;
		q->inflight = (struct vhost_inflight_queue *)((uint8_t *)dev->inflight_addr +
							      per * idx);
		queue_load_inflight(q);
	}
	rc = pthread_create(&q->thread, NULL, queue_thread, q);
	if (rc != 0) {
		rc = -rc;
		goto out_free;
	}
	char name[16];
	snprintf(name, sizeof(name), "vhost-q%u", idx);
	pthread_setname_np(q->thread, name);
	if (dev->opts.ncpus) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(dev->opts.cpus[idx % dev->opts.ncpus], &set);
		rc = pthread_setaffinity_np(q->thread, sizeof(set), &set);
		if (rc != 0)
			rt_warn(RT_SS_VHOST, "queue %u: cannot pin to CPU %u: %s", idx,
				dev->opts.cpus[idx % dev->opts.ncpus], strerror(rc));
	}
	vr->q = q;
	rt_info(RT_SS_VHOST, "queue %u started: %u entries, avail idx %u, used idx %u%s", idx,
		vr->num, q->vq.last_avail_idx, q->vq.used_idx, event_idx ? ", event idx" : "");
	return 0;

out_free:
	queue_free(q);
	return rc;
}

uint16_t
vhost_blk_queue_stop(struct vhost_dev *dev, unsigned idx)
{
	struct vhost_dev_vring *vr = &dev->vr[idx];
	struct vhost_blk_queue *q = vr->q;
	uint16_t last;

	if (!q)
		return vr->base;
	atomic_store_explicit(&q->stop, true, memory_order_release);
	fd_signal(q->stop_fd);
	pthread_join(q->thread, NULL);
	last = (uint16_t)(q->vq.last_avail_idx - q->nresubmit);
	atomic_fetch_add(&dev->reqs, q->reqs_done);
	rt_info(RT_SS_VHOST, "queue %u stopped at avail idx %u after %" PRIu64 " requests", idx,
		last, q->reqs_done);
	vr->base = last;
	vr->q = NULL;
	queue_free(q);
	return last;
}
