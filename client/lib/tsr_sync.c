/*
 * The synchronous API. Each thread that calls it gets an implicit queue per
 * cluster handle (thread-local, made on first use, freed by
 * tsr_cluster_shutdown); the call submits on it and drives it on the
 * calling thread until its request completes: no thread hop, no lock on
 * the data path. The thread-local table is keyed by the handle's I/O id
 * (process-unique), so a table entry of a handle already shut down is never
 * used again.
 */
#include <errno.h>
#include <string.h>

#include "tsr_ioq.h"

#define TSR_SYNC_SLOTS 4
#define TSR_SYNC_SPIN_US 20

static _Thread_local struct {
	uint64_t io_id;
	struct tsr_queue *q;
} tsr_tls_q[TSR_SYNC_SLOTS];

struct tsr_queue *
tsr__sync_queue(struct tsr_cluster *cl)
{
	struct tsr_io *io = cl->io;
	struct tsr_queue *q;
	int i, slot = 0;

	if (!io)
		return NULL;
	for (i = 0; i < TSR_SYNC_SLOTS; i++) {
		if (tsr_tls_q[i].io_id == io->id)
			return tsr_tls_q[i].q;
		if (tsr_tls_q[i].io_id == 0)
			slot = i;
	}
	/* A full table reuses slot 0: that queue stays on the handle's list until shutdown. */
	if (tsr__queue_new(cl, TSR_Q_SYNC, TSR_SYNC_QD, &q) < 0)
		return NULL;
	tsr_tls_q[slot].io_id = io->id;
	tsr_tls_q[slot].q = q;
	return q;
}

struct sync_wait {
	bool done;
	ssize_t result;
};

static void
sync_cb(void *arg, ssize_t result)
{
	struct sync_wait *w = arg;

	w->done = true;
	w->result = result;
}

static ssize_t
sync_run(struct tsr_volume *vol, enum tsr_op op, uint64_t off, uint64_t len,
	 const struct iovec *iov, int iovcnt, const void *cmp, uint64_t *mismatch_off)
{
	struct sync_wait w = { false, 0 };
	struct tsr_vol_io *vi;
	struct tsr_queue *q;
	struct tsr_req *req;
	uint64_t spin_until;
	int rc;

	if (!vol)
		return -EINVAL;
	vi = vol->io_priv;
	if (!vol->cl->io || !vi || atomic_load(&vol->cl->stopping))
		return -ENOTCONN;
	if (op == TSR_OP_FLUSH) {
		if (atomic_load(&vol->removed))
			return -ENOENT;
	} else {
		rc = tsr__io_check(vol, off, len);
		if (rc < 0)
			return rc;
	}
	q = tsr__sync_queue(vol->cl);
	if (!q)
		return -ENOMEM;
	req = tsr__req_get(q);
	if (!req)
		return -EAGAIN; /* only if a callback of this thread's queue re-enters */
	tsr__req_fill(req, vol, op, off, len, iov, iovcnt, cmp, mismatch_off, sync_cb, &w);
	req->ws = &vi->ws;
	if (op == TSR_OP_FLUSH)
		req->fl_upto = tsr__ws_horizon(&vi->ws);
	else if (op != TSR_OP_READ) {
		req->wn = &req->wn_own;
		tsr__ws_add(&vi->ws, req->wn);
	}
	tsr__req_submit(req);
	/* Poll briefly (the reply of a fast OSD), then sleep in the reactor. */
	spin_until = rt_now_us() + TSR_SYNC_SPIN_US;
	while (!w.done) {
		bool spin = rt_now_us() < spin_until;

		rc = rt_reactor_run_once(q->r, spin ? 0 : 1000000);
		tsr__queue_run_done(q, 0);
		if (rc < 0 && !w.done)
			return rc; /* cannot happen with a healthy ring */
	}
	return w.result;
}

ssize_t
tsr_read(struct tsr_volume *vol, uint64_t off, size_t len, void *buf)
{
	struct iovec iov = { buf, len };

	if (!buf && len)
		return -EINVAL;
	return sync_run(vol, TSR_OP_READ, off, len, &iov, 1, NULL, NULL);
}

ssize_t
tsr_write(struct tsr_volume *vol, uint64_t off, size_t len, const void *buf)
{
	struct iovec iov = { (void *)buf, len };

	if (!buf && len)
		return -EINVAL;
	return sync_run(vol, TSR_OP_WRITE, off, len, &iov, 1, NULL, NULL);
}

ssize_t
tsr_readv(struct tsr_volume *vol, const struct iovec *iov, int iovcnt, uint64_t off)
{
	uint64_t total;
	int rc = tsr_iov_total(iov, iovcnt, TSR_IOV_MAX, &total);

	if (rc < 0)
		return rc;
	return sync_run(vol, TSR_OP_READ, off, total, iov, iovcnt, NULL, NULL);
}

ssize_t
tsr_writev(struct tsr_volume *vol, const struct iovec *iov, int iovcnt, uint64_t off)
{
	uint64_t total;
	int rc = tsr_iov_total(iov, iovcnt, TSR_IOV_MAX, &total);

	if (rc < 0)
		return rc;
	return sync_run(vol, TSR_OP_WRITE, off, total, iov, iovcnt, NULL, NULL);
}

int
tsr_flush(struct tsr_volume *vol)
{
	return (int)sync_run(vol, TSR_OP_FLUSH, 0, 0, NULL, 0, NULL, NULL);
}

int
tsr_discard(struct tsr_volume *vol, uint64_t off, uint64_t len)
{
	return (int)sync_run(vol, TSR_OP_DISCARD, off, len, NULL, 0, NULL, NULL);
}

int
tsr_write_zeroes(struct tsr_volume *vol, uint64_t off, uint64_t len)
{
	return (int)sync_run(vol, TSR_OP_WRITE_ZEROES, off, len, NULL, 0, NULL, NULL);
}

int tsr__caw_check(struct tsr_volume *vol, uint64_t off, size_t len, const void *cmp,
		   const void *buf);

ssize_t
tsr_compare_and_write(struct tsr_volume *vol, uint64_t off, size_t len, const void *cmp,
		      const void *buf, uint64_t *mismatch_off)
{
	struct iovec iov = { (void *)buf, len };
	int rc = tsr__caw_check(vol, off, len, cmp, buf);

	if (rc < 0)
		return rc;
	return sync_run(vol, TSR_OP_CAW, off, len, &iov, 1, cmp, mismatch_off);
}
