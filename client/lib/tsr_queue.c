/*
 * tsr_queue_*: application-owned queues (see tessera.h). The queue's reactor
 * runs in notify mode: tsr_queue_fd is its eventfd, which every completion
 * of its ring and every message posted to it (map changes) make readable,
 * and rt_reactor_prepare_wait arms it (plus an io_uring timeout for the
 * next retry or op timeout) when tsr_queue_poll finds nothing to do.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "tsr_ioq.h"

int tsr__caw_check(struct tsr_volume *vol, uint64_t off, size_t len, const void *cmp,
		   const void *buf);

int
tsr_queue_create(struct tsr_cluster *cl, struct tsr_queue **out)
{
	if (!cl || !out)
		return -EINVAL;
	return tsr__queue_new(cl, TSR_Q_APP, cl->conf.queue_depth, out);
}

int
tsr_queue_destroy(struct tsr_queue *q)
{
	if (!q)
		return 0;
	if (q->inflight > 0)
		return -EBUSY;
	tsr__queue_free(q);
	return 0;
}

int
tsr_queue_fd(struct tsr_queue *q)
{
	return q ? rt_reactor_notify_fd(q->r) : -EINVAL;
}

unsigned
tsr_queue_inflight(struct tsr_queue *q)
{
	return q ? q->inflight : 0;
}

void
tsr_queue_get_stats(struct tsr_queue *q, struct tsr_queue_stats *out)
{
	if (!out)
		return;
	if (!q) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = q->stats;
}

/* Run what is ready: loop iterations without sleeping, then callbacks. */
static int
queue_poll_once(struct tsr_queue *q, unsigned max, unsigned *ran)
{
	for (int i = 0; i < 64; i++) {
		int rc = rt_reactor_run_once(q->r, 0);

		if (rc < 0)
			return rc;
		*ran += tsr__queue_run_done(q, max ? max - *ran : 0);
		if (rc == 0 || (max && *ran >= max))
			break;
	}
	return 0;
}

int
tsr_queue_poll(struct tsr_queue *q, unsigned max)
{
	unsigned ran;
	int rc;

	if (!q)
		return -EINVAL;
	ran = tsr__queue_run_done(q, max);
	if (!max || ran < max) {
		rc = queue_poll_once(q, max, &ran);
		if (rc < 0)
			return rc;
	}
	/* Nothing ran: arm the fd (see tsr_queue_fd). */
	if (ran == 0 && !q->done_head) {
		rc = rt_reactor_prepare_wait(q->r);
		if (rc < 0)
			return rc;
	}
	return (int)ran;
}

int
tsr_queue_wait(struct tsr_queue *q, int64_t timeout_us)
{
	uint64_t deadline = timeout_us < 0 ? UINT64_MAX : rt_now_us() + (uint64_t)timeout_us;
	unsigned ran = 0;
	int rc;

	if (!q)
		return -EINVAL;
	for (;;) {
		uint64_t now;

		ran += tsr__queue_run_done(q, 0);
		if (ran == 0) {
			rc = queue_poll_once(q, 0, &ran);
			if (rc < 0)
				return rc;
		}
		if (ran > 0)
			return (int)ran;
		now = rt_now_us();
		if (now >= deadline)
			return 0;
		rc = rt_reactor_run_once(q->r, deadline == UINT64_MAX ? 1000000 : deadline - now);
		if (rc < 0)
			return rc;
	}
}

static int
queue_submit(struct tsr_queue *q, struct tsr_volume *vol, enum tsr_op op, uint64_t off,
	     uint64_t len, const struct iovec *iov, int iovcnt, const void *cmp,
	     uint64_t *mismatch_off, tsr_io_cb cb, void *arg)
{
	struct tsr_req *req;
	int rc;

	if (!q || !vol || vol->cl != q->cl)
		return -EINVAL;
	if (op == TSR_OP_FLUSH) {
		if (atomic_load(&vol->removed))
			return -ENOENT;
	} else {
		rc = tsr__io_check(vol, off, len);
		if (rc < 0)
			return rc;
	}
	req = tsr__req_get(q);
	if (!req)
		return -EAGAIN;
	tsr__req_fill(req, vol, op, off, len, NULL, 0, cmp, mismatch_off, cb, arg);
	if (iov) {
		rc = tsr__req_copy_iov(req, iov, iovcnt);
		if (rc < 0) {
			/* Give the request back unsubmitted: nothing ran, nothing counted. */
			req->inuse = false;
			req->next = q->free_list;
			q->free_list = req;
			q->inflight--;
			return rc;
		}
	}
	req->ws = &q->ws;
	if (op == TSR_OP_FLUSH)
		req->fl_upto = tsr__ws_horizon(&q->ws);
	else if (op != TSR_OP_READ) {
		req->wn = &req->wn_own;
		tsr__ws_add(&q->ws, req->wn);
	}
	tsr__req_submit(req);
	return 0;
}

int
tsr_queue_read(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off, size_t len, void *buf,
	       tsr_io_cb cb, void *arg)
{
	struct iovec iov = { buf, len };

	if (!buf && len)
		return -EINVAL;
	return queue_submit(q, vol, TSR_OP_READ, off, len, &iov, 1, NULL, NULL, cb, arg);
}

int
tsr_queue_write(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off, size_t len,
		const void *buf, tsr_io_cb cb, void *arg)
{
	struct iovec iov = { (void *)buf, len };

	if (!buf && len)
		return -EINVAL;
	return queue_submit(q, vol, TSR_OP_WRITE, off, len, &iov, 1, NULL, NULL, cb, arg);
}

int
tsr_queue_readv(struct tsr_queue *q, struct tsr_volume *vol, const struct iovec *iov, int iovcnt,
		uint64_t off, tsr_io_cb cb, void *arg)
{
	uint64_t total;
	int rc = tsr_iov_total(iov, iovcnt, TSR_IOV_MAX, &total);

	if (rc < 0)
		return rc;
	return queue_submit(q, vol, TSR_OP_READ, off, total, iov, iovcnt, NULL, NULL, cb, arg);
}

int
tsr_queue_writev(struct tsr_queue *q, struct tsr_volume *vol, const struct iovec *iov,
		 int iovcnt, uint64_t off, tsr_io_cb cb, void *arg)
{
	uint64_t total;
	int rc = tsr_iov_total(iov, iovcnt, TSR_IOV_MAX, &total);

	if (rc < 0)
		return rc;
	return queue_submit(q, vol, TSR_OP_WRITE, off, total, iov, iovcnt, NULL, NULL, cb, arg);
}

int
tsr_queue_flush(struct tsr_queue *q, struct tsr_volume *vol, tsr_io_cb cb, void *arg)
{
	return queue_submit(q, vol, TSR_OP_FLUSH, 0, 0, NULL, 0, NULL, NULL, cb, arg);
}

int
tsr_queue_discard(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off, uint64_t len,
		  tsr_io_cb cb, void *arg)
{
	return queue_submit(q, vol, TSR_OP_DISCARD, off, len, NULL, 0, NULL, NULL, cb, arg);
}

int
tsr_queue_write_zeroes(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off, uint64_t len,
		       tsr_io_cb cb, void *arg)
{
	return queue_submit(q, vol, TSR_OP_WRITE_ZEROES, off, len, NULL, 0, NULL, NULL, cb, arg);
}

int
tsr_queue_compare_and_write(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off,
			    size_t len, const void *cmp, const void *buf, uint64_t *mismatch_off,
			    tsr_io_cb cb, void *arg)
{
	struct iovec iov = { (void *)buf, len };
	int rc = tsr__caw_check(vol, off, len, cmp, buf);

	if (rc < 0)
		return rc;
	return queue_submit(q, vol, TSR_OP_CAW, off, len, &iov, 1, cmp, mismatch_off, cb, arg);
}
