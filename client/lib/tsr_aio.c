/*
 * tsr_aio_*: completions and the library I/O threads.
 *
 * A submission is checked on the caller's thread (so errors come back from
 * the call), registered with the volume's write scope (flush order), and
 * posted lock-free (rt_reactor_post, the message embedded in the
 * completion) to one of the io_threads I/O threads, round robin. Each I/O
 * thread is a queue (tsr_ioq.h) whose reactor runs on its own thread; there
 * the submission takes a request from the queue's pool (or waits in a
 * backlog for one) and runs like any other. The completion is signalled
 * from that thread: its callback runs there, or a waiter wakes (mutex +
 * condition variable).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt_log.h"
#include "tsr_ioq.h"

static _Atomic uint64_t tsr_io_next_id = 1;

/* ------------------------------------------------------------- completions */

int
tsr_aio_create_completion(void *arg, tsr_callback_t cb, struct tsr_completion **out)
{
	struct tsr_completion *c;

	if (!out)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->arg = arg;
	c->cb = cb;
	atomic_init(&c->complete, false);
	atomic_init(&c->refs, 1);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	*out = c;
	return 0;
}

int
tsr_aio_wait_for_complete(struct tsr_completion *c)
{
	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	while (!atomic_load_explicit(&c->complete, memory_order_acquire))
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

bool
tsr_aio_is_complete(struct tsr_completion *c)
{
	return c && atomic_load_explicit(&c->complete, memory_order_acquire);
}

ssize_t
tsr_aio_get_return_value(struct tsr_completion *c)
{
	return c ? c->rv : -EINVAL;
}

void *
tsr_aio_get_arg(struct tsr_completion *c)
{
	return c ? c->arg : NULL;
}

static void
aio_put(struct tsr_completion *c)
{
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(c->iov_heap);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void
tsr_aio_release(struct tsr_completion *c)
{
	if (!c)
		return;
	/* A waiter may still be inside wait_for_complete's unlock: take the lock once. */
	pthread_mutex_lock(&c->lock);
	pthread_mutex_unlock(&c->lock);
	aio_put(c);
}

/*
 * I/O thread: the request of c ended. Waiters wake first, then the callback
 * runs; a reference keeps c alive until both are done, whoever releases it.
 */
void
tsr__aio_complete(struct tsr_completion *c, ssize_t result)
{

	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	c->rv = result;
	pthread_mutex_lock(&c->lock);
	atomic_store_explicit(&c->complete, true, memory_order_release);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (c->cb)
		c->cb(c, c->arg);
	aio_put(c);
}

static void
aio_req_done(void *arg, ssize_t result)
{
	tsr__aio_complete(arg, result);
}

/* I/O thread: start c on q now (a request is free). */
static void
aio_start(struct tsr_queue *q, struct tsr_completion *c, struct tsr_req *req)
{
	struct tsr_vol_io *vi = c->vol->io_priv;

	tsr__req_fill(req, c->vol, c->op, c->off, c->len, c->iov, c->iovcnt, c->cmp,
		      c->mismatch_off, aio_req_done, c);
	req->ws = &vi->ws;
	if (c->has_wn)
		req->wn = &c->wn;
	req->fl_upto = c->fl_upto;
	(void)q;
	tsr__req_start(req);
}

void
tsr__aio_backlog_run(struct tsr_queue *q)
{
	while (q->backlog_head) {
		struct tsr_req *req = tsr__req_get(q);
		struct tsr_completion *c;

		if (!req)
			return;
		c = q->backlog_head;
		q->backlog_head = c->bnext;
		if (!q->backlog_head)
			q->backlog_tail = NULL;
		aio_start(q, c, req);
	}
}

static void
aio_submit_msg(void *ctx)
{
	struct tsr_completion *c = ctx;
	struct tsr_queue *q = c->q;
	struct tsr_req *req = q->backlog_head ? NULL : tsr__req_get(q);

	rt_debug(RT_SS_CLIENT, "aio submission op %d at %llu+%llu (%s)", c->op,
		 (unsigned long long)c->off, (unsigned long long)c->len, req ? "started" : "backlog");

	/* The volume's inflight count was taken at submission (tsr_aio_submit). */
	atomic_fetch_sub_explicit(&c->vol->inflight, 1, memory_order_acq_rel);
	if (req) {
		/* tsr__req_start does not count inflight: count it as a submit would. */
		atomic_fetch_add_explicit(&c->vol->inflight, 1, memory_order_acq_rel);
		aio_start(q, c, req);
		return;
	}
	atomic_fetch_add_explicit(&c->vol->inflight, 1, memory_order_acq_rel);
	c->bnext = NULL;
	if (q->backlog_tail)
		q->backlog_tail->bnext = c;
	else
		q->backlog_head = c;
	q->backlog_tail = c;
}

static int
aio_submit(struct tsr_volume *vol, enum tsr_op op, uint64_t off, uint64_t len,
	   const struct iovec *iov, int iovcnt, const void *cmp, uint64_t *mismatch_off,
	   struct tsr_completion *c)
{
	struct tsr_cluster *cl;
	struct tsr_io *io;
	struct tsr_vol_io *vi;
	unsigned k;
	int rc;

	if (!vol || !c)
		return -EINVAL;
	cl = vol->cl;
	io = cl->io;
	vi = vol->io_priv;
	if (!io || !vi || io->n_aio == 0 || atomic_load(&cl->stopping))
		return -ENOTCONN;
	if (op != TSR_OP_FLUSH) {
		rc = tsr__io_check(vol, off, len);
		if (rc < 0)
			return rc;
	} else if (atomic_load(&vol->removed)) {
		return -ENOENT;
	}
	atomic_store(&c->complete, false);
	c->vol = vol;
	c->op = op;
	c->off = off;
	c->len = len;
	c->cmp = cmp;
	c->mismatch_off = mismatch_off;
	c->iov = NULL;
	c->iovcnt = 0;
	free(c->iov_heap);
	c->iov_heap = NULL;
	if (iov && iovcnt == 1) {
		c->iov_one = iov[0];
		c->iov = &c->iov_one;
		c->iovcnt = 1;
	} else if (iov) {
		c->iov_heap = malloc((size_t)iovcnt * sizeof(*iov));
		if (!c->iov_heap)
			return -ENOMEM;
		memcpy(c->iov_heap, iov, (size_t)iovcnt * sizeof(*iov));
		c->iov = c->iov_heap;
		c->iovcnt = iovcnt;
	}
	c->has_wn = false;
	c->fl_upto = 0;
	if (op == TSR_OP_FLUSH) {
		c->fl_upto = tsr__ws_horizon(&vi->ws);
	} else if (op != TSR_OP_READ) {
		tsr__ws_add(&vi->ws, &c->wn);
		c->has_wn = true;
	}
	k = atomic_fetch_add_explicit(&io->aio_rr, 1, memory_order_relaxed) % io->n_aio;
	c->q = io->aio[k];
	atomic_fetch_add_explicit(&vol->inflight, 1, memory_order_acq_rel);
	rt_reactor_post(c->q->r, &c->msg, aio_submit_msg, c);
	return 0;
}

int
tsr_aio_read(struct tsr_volume *vol, uint64_t off, size_t len, void *buf,
	     struct tsr_completion *c)
{
	struct iovec iov = { buf, len };

	if (!buf && len)
		return -EINVAL;
	return aio_submit(vol, TSR_OP_READ, off, len, &iov, 1, NULL, NULL, c);
}

int
tsr_aio_write(struct tsr_volume *vol, uint64_t off, size_t len, const void *buf,
	      struct tsr_completion *c)
{
	struct iovec iov = { (void *)buf, len };

	if (!buf && len)
		return -EINVAL;
	return aio_submit(vol, TSR_OP_WRITE, off, len, &iov, 1, NULL, NULL, c);
}

int
tsr_aio_readv(struct tsr_volume *vol, const struct iovec *iov, int iovcnt, uint64_t off,
	      struct tsr_completion *c)
{
	uint64_t total;
	int rc = tsr_iov_total(iov, iovcnt, TSR_IOV_MAX, &total);

	if (rc < 0)
		return rc;
	return aio_submit(vol, TSR_OP_READ, off, total, iov, iovcnt, NULL, NULL, c);
}

int
tsr_aio_writev(struct tsr_volume *vol, const struct iovec *iov, int iovcnt, uint64_t off,
	       struct tsr_completion *c)
{
	uint64_t total;
	int rc = tsr_iov_total(iov, iovcnt, TSR_IOV_MAX, &total);

	if (rc < 0)
		return rc;
	return aio_submit(vol, TSR_OP_WRITE, off, total, iov, iovcnt, NULL, NULL, c);
}

int
tsr_aio_flush(struct tsr_volume *vol, struct tsr_completion *c)
{
	return aio_submit(vol, TSR_OP_FLUSH, 0, 0, NULL, 0, NULL, NULL, c);
}

int
tsr_aio_discard(struct tsr_volume *vol, uint64_t off, uint64_t len, struct tsr_completion *c)
{
	return aio_submit(vol, TSR_OP_DISCARD, off, len, NULL, 0, NULL, NULL, c);
}

int
tsr_aio_write_zeroes(struct tsr_volume *vol, uint64_t off, uint64_t len,
		     struct tsr_completion *c)
{
	return aio_submit(vol, TSR_OP_WRITE_ZEROES, off, len, NULL, 0, NULL, NULL, c);
}

/* compare_and_write's own checks: one object, not empty, not too long. */
int tsr__caw_check(struct tsr_volume *vol, uint64_t off, size_t len, const void *cmp,
		   const void *buf);

int
tsr__caw_check(struct tsr_volume *vol, uint64_t off, size_t len, const void *cmp,
	       const void *buf)
{
	if (!vol || !cmp || !buf || len == 0 || len > TSR_CAW_MAX)
		return -EINVAL;
	if (off / vol->object_size != (off + len - 1) / vol->object_size)
		return -EINVAL;
	return 0;
}

int
tsr_aio_compare_and_write(struct tsr_volume *vol, uint64_t off, size_t len, const void *cmp,
			  const void *buf, uint64_t *mismatch_off, struct tsr_completion *c)
{
	struct iovec iov = { (void *)buf, len };
	int rc = tsr__caw_check(vol, off, len, cmp, buf);

	if (rc < 0)
		return rc;
	return aio_submit(vol, TSR_OP_CAW, off, len, &iov, 1, cmp, mismatch_off, c);
}

/* ----------------------------------------------------------- I/O threads */

static void
aio_thread_fini_msg(void *ctx)
{
	struct tsr_queue *q = ctx;

	/* Backlogged submissions never got a request: fail them. */
	while (q->backlog_head) {
		struct tsr_completion *c = q->backlog_head;

		q->backlog_head = c->bnext;
		atomic_fetch_sub_explicit(&c->vol->inflight, 1, memory_order_acq_rel);
		aio_req_done(c, -ECANCELED);
	}
	q->backlog_tail = NULL;
	rt_reactor_stop(q->r);
}

int
tsr__io_init(struct tsr_cluster *cl)
{
	struct tsr_io *io;
	uint32_t n = cl->conf.io_threads ? cl->conf.io_threads : 1;
	int rc;

	if (cl->io)
		return -EALREADY;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->id = atomic_fetch_add(&tsr_io_next_id, 1);
	pthread_mutex_init(&io->lock, NULL);
	atomic_init(&io->next_req_id, 1);
	io->aio = calloc(n, sizeof(*io->aio));
	if (!io->aio) {
		rc = -ENOMEM;
		goto out_free;
	}
	cl->io = io;
	for (uint32_t i = 0; i < n; i++) {
		struct tsr_queue *q;

		rc = tsr__queue_new(cl, TSR_Q_AIO, cl->conf.queue_depth, &q);
		if (rc < 0)
			goto out_threads;
		io->aio[io->n_aio++] = q;
		rc = rt_reactor_start(q->r);
		if (rc < 0)
			goto out_threads;
	}
	return 0;

out_threads:
	tsr__io_fini(cl);
	return rc;
out_free:
	pthread_mutex_destroy(&io->lock);
	free(io);
	return rc;
}

void
tsr__io_fini(struct tsr_cluster *cl)
{
	struct tsr_io *io = cl->io;

	if (!io)
		return;
	/* I/O threads: fail their backlog, leave their loops; their queues are
	 * then torn down from here like every other queue. */
	for (uint32_t i = 0; i < io->n_aio; i++) {
		struct tsr_queue *q = io->aio[i];

		rt_reactor_post(q->r, &q->fini_msg, aio_thread_fini_msg, q);
	}
	for (uint32_t i = 0; i < io->n_aio; i++)
		rt_reactor_join(io->aio[i]->r);
	/* Every other queue (implicit per-thread ones, forgotten app queues). */
	for (;;) {
		struct tsr_queue *q;

		pthread_mutex_lock(&io->lock);
		q = io->queues;
		pthread_mutex_unlock(&io->lock);
		if (!q)
			break;
		tsr__queue_free(q);
	}
	free(io->aio);
	pthread_mutex_destroy(&io->lock);
	free(io);
	cl->io = NULL;
}
