/*
 * The per-core reactor (see rt_reactor.h for the contract, docs/messenger.md
 * for the design notes).
 *
 * One loop iteration:
 *   1. ring:     submit what is pending and reap every CQE (callbacks run);
 *   2. timers:   fire the expired ones (a binary min-heap keyed on deadline);
 *   3. inbox:    run cross-reactor messages (Vyukov intrusive MPSC queue);
 *   4. deferred: run callbacks deferred by the previous iteration;
 *   5. idle:     if nothing ran, either poll again (adaptive window) or block
 *                in io_uring_submit_and_wait_timeout(), bounded by the next
 *                timer, in ONE syscall that also submits what is pending.
 *
 * Ring set-up. We try, in order:
 *   SINGLE_ISSUER|DEFER_TASKRUN|TASKRUN_FLAG (created R_DISABLED and enabled
 *   by the first thread that submits, so that a reactor created on the main
 *   thread can run on its own thread), then COOP_TASKRUN|TASKRUN_FLAG, then
 *   no flags. With DEFER_TASKRUN the kernel never interrupts the reactor to
 *   post completions; they are posted when we enter the kernel with
 *   GETEVENTS. TASKRUN_FLAG makes the kernel raise IORING_SQ_TASKRUN in the
 *   shared SQ flags when completions wait, so that a polling loop enters the
 *   kernel only when there is something to get (and otherwise costs no
 *   syscall). The environment variable TESSERA_RING_MODE=defer|coop|plain
 *   forces one mode (tests use it to cover the fallbacks).
 *
 * Wake-ups. A reactor about to block stores sleeping=1 and then re-checks its
 * inbox and stop flag; a poster pushes its message and then loads sleeping
 * (all sequentially consistent, Dekker style): either the reactor sees the
 * message, or the poster sees sleeping=1, clears it and writes the eventfd,
 * whose read is always armed on the ring. So no wake-up is lost and an awake
 * reactor is never sent a syscall's worth of eventfd write.
 *
 * Notify mode (opts.notify_fd, client queues whose owner thread waits in its
 * own poll loop): the wake-up eventfd is registered with the ring
 * (io_uring_register_eventfd: every posted CQE increments it) instead of
 * being read by it, and the reactor sleeps in ppoll() on it. Posts write it
 * as above. The ring avoids DEFER_TASKRUN (completions are posted, and the
 * eventfd signalled, without the owner entering io_uring) and
 * SINGLE_ISSUER (a client tears down queues of threads that are gone).
 * rt_reactor_prepare_wait() lets the owner block on the fd itself: it arms
 * one IORING_OP_TIMEOUT (absolute, CLOCK_MONOTONIC) at the next timer's
 * deadline, whose CQE wakes the fd like any other.
 *
 * In-flight accounting: every SQE handed out by rt_reactor_get_sqe() is one
 * operation in flight until its final CQE (one without IORING_CQE_F_MORE).
 * rt_reactor_destroy() cancels everything (IORING_ASYNC_CANCEL_ANY) from the
 * reactor's own thread and reaps until that count is zero, without running
 * callbacks, before the ring is closed.
 */
#include "rt_reactor.h"

#include <errno.h>
#include <numa.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "rt_err.h"
#include "rt_log.h"

#define RT_REACTOR_DEFAULT_ENTRIES 256
#define RT_REACTOR_DEFAULT_POLL_US 50
#define RT_REACTOR_DEFAULT_SUBMIT_BATCH 8
#define RT_REACTOR_INBOX_BUDGET 1024
#define RT_REACTOR_DRAIN_TIMEOUT_US 2000000
#define RT_REACTOR_TIMERS_INIT 64

enum rt_ring_mode {
	RT_RING_DEFER,
	RT_RING_COOP,
	RT_RING_PLAIN,
};

struct rt_reactor {
	struct io_uring ring;
	enum rt_ring_mode mode;
	bool ring_enabled;
	bool ring_ok;		/* queue_init succeeded */
	char name[16];
	int core;
	int node;		/* NUMA node of core, or -1 */
	unsigned poll_us;
	unsigned submit_batch;
	bool busy_poll;

	/* Wake-up: eventfd read always armed on the ring. */
	int efd;
	uint64_t efd_val;
	struct rt_io efd_io;
	bool efd_armed;
	struct rt_io cancel_io;

	/* Notify mode (see above). */
	bool notify;
	bool ntmo_armed;	 /* a timeout SQE for the next timer is in flight */
	uint64_t ntmo_deadline;	 /* its deadline */
	struct __kernel_timespec ntmo_ts;
	struct rt_io ntmo_io;
	struct rt_io ntmo_upd_io;

	/* Cross-thread state. */
	_Atomic bool sleeping;
	_Atomic bool stop_req;
	struct rt_msg *_Atomic inbox_head; /* producers push here */
	struct rt_msg *inbox_tail;	   /* consumer side */
	struct rt_msg inbox_stub;

	/* Deferred callbacks: FIFO, reactor thread only. */
	struct rt_msg *defer_head;
	struct rt_msg *defer_tail;

	/* Timers: binary min-heap. */
	struct rt_timer **heap;
	uint32_t heap_len;
	uint32_t heap_cap;

	uint64_t now_us;
	bool now_fresh;		/* now_us was read on wake-up: the next iteration keeps it */
	uint64_t inflight;	/* SQEs handed out minus final CQEs */
	bool draining;		/* destroy: reap without running callbacks */
	bool destroying;	/* reactor thread only */
	_Atomic bool destroy_req; /* set by rt_reactor_destroy before it stops the thread */

	pthread_t thread;
	bool thread_started;
	pthread_t issuer;	/* the thread that enabled the ring (SINGLE_ISSUER) */

	struct rt_reactor_stats stats;
};

static _Thread_local struct rt_reactor *rt__current;

/* ---------------------------------------------------------------- memory */

static int
rt__numa_ok(void)
{
	static _Atomic int state; /* 0 unknown, 1 yes, -1 no */
	int s = atomic_load_explicit(&state, memory_order_relaxed);

	if (s == 0) {
		s = numa_available() >= 0 ? 1 : -1;
		atomic_store_explicit(&state, s, memory_order_relaxed);
	}
	return s > 0;
}

static size_t
rt__round_page(size_t len)
{
	return (len + 4095) & ~(size_t)4095;
}

static void *
rt__mem_alloc_node(int node, size_t len)
{
	void *p;

	if (len == 0)
		return NULL;
	len = rt__round_page(len);
	if (rt__numa_ok()) {
		/* mmap-backed: page aligned and zeroed. */
		p = node >= 0 ? numa_alloc_onnode(len, node) : numa_alloc_local(len);
		return p;
	}
	p = aligned_alloc(4096, len);
	if (p)
		memset(p, 0, len);
	return p;
}

void *
rt_reactor_alloc(struct rt_reactor *r, size_t len)
{
	return rt__mem_alloc_node(r ? r->node : -1, len);
}

void
rt_mem_free(void *p, size_t len)
{
	if (!p)
		return;
	/* The choice between libnuma and aligned_alloc is process-wide and fixed. */
	if (rt__numa_ok())
		numa_free(p, rt__round_page(len));
	else
		free(p);
}

/* ------------------------------------------------------------------ clock */

uint64_t
rt_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
rt_reactor_now_us(struct rt_reactor *r)
{
	return r->now_us;
}

/* ----------------------------------------------------------------- inbox */

static void
rt__inbox_push(struct rt_reactor *r, struct rt_msg *m)
{
	struct rt_msg *prev;

	atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
	prev = atomic_exchange_explicit(&r->inbox_head, m, memory_order_seq_cst);
	atomic_store_explicit(&prev->next, m, memory_order_release);
}

/* Pop one message, or NULL if empty (or a producer is half-way through a push). */
static struct rt_msg *
rt__inbox_pop(struct rt_reactor *r)
{
	struct rt_msg *tail = r->inbox_tail;
	struct rt_msg *next = atomic_load_explicit(&tail->next, memory_order_acquire);

	if (tail == &r->inbox_stub) {
		if (!next)
			return NULL;
		r->inbox_tail = next;
		tail = next;
		next = atomic_load_explicit(&next->next, memory_order_acquire);
	}
	if (next) {
		r->inbox_tail = next;
		return tail;
	}
	if (tail != atomic_load_explicit(&r->inbox_head, memory_order_acquire))
		return NULL; /* a producer has swapped head but not linked yet */
	rt__inbox_push(r, &r->inbox_stub);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next) {
		r->inbox_tail = next;
		return tail;
	}
	return NULL;
}

/* True unless the inbox is certainly empty. */
static bool
rt__inbox_maybe_nonempty(struct rt_reactor *r)
{
	return atomic_load_explicit(&r->inbox_head, memory_order_seq_cst) != r->inbox_tail ||
	       atomic_load_explicit(&r->inbox_stub.next, memory_order_acquire) != NULL;
}

static void
rt__reactor_wake(struct rt_reactor *r)
{
	uint64_t one = 1;

	if (atomic_load_explicit(&r->sleeping, memory_order_seq_cst) &&
	    atomic_exchange_explicit(&r->sleeping, false, memory_order_seq_cst)) {
		ssize_t n = write(r->efd, &one, sizeof(one));

		(void)n; /* EAGAIN: the counter is already non-zero, the reactor wakes anyway */
	}
}

void
rt_reactor_post(struct rt_reactor *dst, struct rt_msg *msg, rt_msg_fn fn, void *ctx)
{
	msg->fn = fn;
	msg->ctx = ctx;
	rt__inbox_push(dst, msg);
	rt__reactor_wake(dst);
}

struct rt__heap_msg {
	struct rt_msg msg;
	rt_msg_fn fn;
	void *ctx;
};

static void
rt__heap_msg_run(void *arg)
{
	struct rt__heap_msg *hm = arg;
	rt_msg_fn fn = hm->fn;
	void *ctx = hm->ctx;

	free(hm);
	fn(ctx);
}

int
rt_reactor_send_msg(struct rt_reactor *dst, rt_msg_fn fn, void *ctx)
{
	struct rt__heap_msg *hm = malloc(sizeof(*hm));

	if (!hm)
		return -ENOMEM;
	hm->fn = fn;
	hm->ctx = ctx;
	rt_reactor_post(dst, &hm->msg, rt__heap_msg_run, hm);
	return 0;
}

static unsigned
rt__run_inbox(struct rt_reactor *r)
{
	unsigned n = 0;
	struct rt_msg *m;

	while (n < RT_REACTOR_INBOX_BUDGET && (m = rt__inbox_pop(r)) != NULL) {
		n++;
		r->stats.msgs++;
		m->fn(m->ctx);
	}
	return n;
}

/* -------------------------------------------------------------- deferred */

void
rt_reactor_defer(struct rt_reactor *r, struct rt_msg *msg, rt_msg_fn fn, void *ctx)
{
	msg->fn = fn;
	msg->ctx = ctx;
	atomic_store_explicit(&msg->next, NULL, memory_order_relaxed);
	if (r->defer_tail)
		atomic_store_explicit(&r->defer_tail->next, msg, memory_order_relaxed);
	else
		r->defer_head = msg;
	r->defer_tail = msg;
}

static unsigned
rt__run_deferred(struct rt_reactor *r)
{
	struct rt_msg *m = r->defer_head;
	unsigned n = 0;

	/* Detach: what these callbacks defer runs on the next iteration. */
	r->defer_head = NULL;
	r->defer_tail = NULL;
	while (m) {
		struct rt_msg *next = atomic_load_explicit(&m->next, memory_order_relaxed);

		n++;
		m->fn(m->ctx);
		m = next;
	}
	return n;
}

/* ---------------------------------------------------------------- timers */

static bool
rt__timer_less(const struct rt_timer *a, const struct rt_timer *b)
{
	return a->deadline_us < b->deadline_us;
}

static void
rt__heap_set(struct rt_reactor *r, uint32_t i, struct rt_timer *t)
{
	r->heap[i] = t;
	t->heap_idx = i;
}

static void
rt__heap_up(struct rt_reactor *r, uint32_t i)
{
	struct rt_timer *t = r->heap[i];

	while (i > 0) {
		uint32_t p = (i - 1) / 2;

		if (!rt__timer_less(t, r->heap[p]))
			break;
		rt__heap_set(r, i, r->heap[p]);
		i = p;
	}
	rt__heap_set(r, i, t);
}

static void
rt__heap_down(struct rt_reactor *r, uint32_t i)
{
	struct rt_timer *t = r->heap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= r->heap_len)
			break;
		if (c + 1 < r->heap_len && rt__timer_less(r->heap[c + 1], r->heap[c]))
			c++;
		if (!rt__timer_less(r->heap[c], t))
			break;
		rt__heap_set(r, i, r->heap[c]);
		i = c;
	}
	rt__heap_set(r, i, t);
}

static void
rt__heap_remove(struct rt_reactor *r, struct rt_timer *t)
{
	uint32_t i = t->heap_idx;
	struct rt_timer *last;

	r->heap_len--;
	if (i == r->heap_len)
		return;
	last = r->heap[r->heap_len];
	rt__heap_set(r, i, last);
	rt__heap_down(r, i);
	rt__heap_up(r, last->heap_idx);
}

static void
rt__heap_insert(struct rt_reactor *r, struct rt_timer *t)
{
	if (r->heap_len == r->heap_cap) {
		uint32_t cap = r->heap_cap ? r->heap_cap * 2 : RT_REACTOR_TIMERS_INIT;
		struct rt_timer **h = realloc(r->heap, cap * sizeof(*h));

		/* Timers are embedded: running out of memory here is not recoverable. */
		if (!h) {
			rt_err(RT_SS_REACTOR, "%s: out of memory growing the timer heap", r->name);
			abort();
		}
		r->heap = h;
		r->heap_cap = cap;
	}
	r->heap[r->heap_len] = t;
	t->heap_idx = r->heap_len;
	r->heap_len++;
	rt__heap_up(r, t->heap_idx);
}

void
rt_timer_init(struct rt_timer *t, rt_timer_cb cb)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
}

bool
rt_timer_is_armed(const struct rt_timer *t)
{
	return t->armed;
}

void
rt_timer_stop(struct rt_reactor *r, struct rt_timer *t)
{
	if (!t->armed)
		return;
	rt__heap_remove(r, t);
	t->armed = false;
}

void
rt_timer_start(struct rt_reactor *r, struct rt_timer *t, uint64_t timeout_us, uint64_t repeat_us)
{
	uint64_t now = rt_now_us();

	rt_timer_stop(r, t);
	t->deadline_us = now + timeout_us;
	t->repeat_us = repeat_us;
	t->armed = true;
	rt__heap_insert(r, t);
}

static unsigned
rt__run_timers(struct rt_reactor *r)
{
	/* Bounded by the heap size at entry: a timer restarted with 0 cannot loop us. */
	uint32_t budget = r->heap_len;
	unsigned n = 0;

	while (budget-- > 0 && r->heap_len > 0 && r->heap[0]->deadline_us <= r->now_us) {
		struct rt_timer *t = r->heap[0];

		if (t->repeat_us) {
			t->deadline_us += t->repeat_us;
			if (t->deadline_us <= r->now_us)
				t->deadline_us = r->now_us + t->repeat_us;
			rt__heap_down(r, 0);
		} else {
			rt__heap_remove(r, t);
			t->armed = false;
		}
		n++;
		r->stats.timers++;
		t->cb(t);
	}
	return n;
}

/* ------------------------------------------------------------------ ring */

static void
rt__ring_enable(struct rt_reactor *r)
{
	int rc;

	if (r->ring_enabled)
		return;
	r->ring_enabled = true;
	r->issuer = pthread_self();
	if (!(r->ring.flags & IORING_SETUP_R_DISABLED))
		return;
	/* liburing 2.3 declares io_uring_enable_rings() but does not export it. */
	rc = io_uring_register(r->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (rc < 0)
		rt_err(RT_SS_REACTOR, "%s: io_uring_enable_rings: " DF_RC, r->name, DP_RC(rc));
}

struct io_uring *
rt_reactor_ring(struct rt_reactor *r)
{
	return &r->ring;
}

int
rt_reactor_core(const struct rt_reactor *r)
{
	return r->core;
}

struct io_uring_sqe *
rt_reactor_get_sqe(struct rt_reactor *r)
{
	struct io_uring_sqe *sqe;
	int i;

	rt__ring_enable(r);
	/*
	 * Every SQE queued before this call is fully prepared: when a batch has
	 * gathered (many completions each issuing new I/O), start it now
	 * rather than after the whole iteration, so a deep queue does not
	 * drain while callbacks run.
	 */
	if (r->submit_batch && io_uring_sq_ready(&r->ring) >= r->submit_batch)
		io_uring_submit(&r->ring);
	for (i = 0; i < 1000; i++) {
		sqe = io_uring_get_sqe(&r->ring);
		if (sqe) {
			r->inflight++;
			return sqe;
		}
		/* SQ full: push what is queued to the kernel and retry. */
		if (io_uring_submit(&r->ring) < 0)
			io_uring_get_events(&r->ring);
	}
	rt_err(RT_SS_REACTOR, "%s: cannot get an SQE (SQ stuck full)", r->name);
	abort();
}

int
rt_reactor_flush(struct rt_reactor *r)
{
	int rc;

	rt__ring_enable(r);
	if (io_uring_sq_ready(&r->ring) == 0)
		return 0;
	rc = io_uring_submit(&r->ring);
	return rc < 0 ? rc : 0;
}

static void
rt__efd_arm(struct rt_reactor *r);

static void
rt__efd_done(struct rt_io *io, int32_t res, uint32_t cqe_flags)
{
	struct rt_reactor *r = (struct rt_reactor *)((char *)io - offsetof(struct rt_reactor, efd_io));

	r->efd_armed = false;
	if (res < 0 && res != -EAGAIN && res != -EINTR && res != -ECANCELED)
		rt_err_rl(RT_SS_REACTOR, "%s: eventfd read: " DF_RC, r->name, DP_RC(res));
	if (!r->destroying)
		rt__efd_arm(r);
}

static void
rt__efd_arm(struct rt_reactor *r)
{
	struct io_uring_sqe *sqe;

	if (r->efd_armed)
		return;
	sqe = rt_reactor_get_sqe(r);
	io_uring_prep_read(sqe, r->efd, &r->efd_val, sizeof(r->efd_val), 0);
	rt_io_set(sqe, &r->efd_io);
	r->efd_armed = true;
}

static void
rt__noop_io(struct rt_io *io, int32_t res, uint32_t cqe_flags)
{
}

/* Reap every available CQE. Returns the number of CQEs seen. */
static unsigned
rt__reap(struct rt_reactor *r)
{
	struct io_uring *ring = &r->ring;
	unsigned budget = ring->cq.ring_entries * 2;
	unsigned n = 0;

	/*
	 * Re-read the head for every CQE and advance before the callback: a
	 * callback may enter the kernel (SQ full) or drive a nested run_once.
	 */
	while (n < budget) {
		unsigned head = *ring->cq.khead;
		struct io_uring_cqe *cqe;
		struct rt_io *io;
		uint64_t udata;
		int32_t res;
		uint32_t flags;

		if (head == io_uring_smp_load_acquire(ring->cq.ktail))
			break;
		cqe = &ring->cq.cqes[head & ring->cq.ring_mask];
		udata = cqe->user_data;
		res = cqe->res;
		flags = cqe->flags;
		io_uring_cq_advance(ring, 1);
		n++;
		if (udata == LIBURING_UDATA_TIMEOUT)
			continue;
		if (!(flags & IORING_CQE_F_MORE) && r->inflight > 0)
			r->inflight--;
		r->stats.cqes++;
		if (r->draining)
			continue;
		io = (struct rt_io *)(uintptr_t)udata;
		if (!io) {
			rt_warn_rl(RT_SS_REACTOR, "%s: CQE without rt_io (res %d)", r->name, res);
			continue;
		}
		io->cb(io, res, flags);
	}
	return n;
}

/*
 * Collect completions without blocking, submitting pending SQEs on the way.
 * If the loop may block afterwards (may_block) and the kernel has nothing for
 * us, the submission is left to the blocking call (submit and wait in one
 * syscall).
 */
static unsigned
rt__poll_ring(struct rt_reactor *r, bool may_block)
{
	unsigned sq_flags = IO_URING_READ_ONCE(*r->ring.sq.kflags);
	bool kernel_has_work = (sq_flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
	int rc = 0;

	if (io_uring_sq_ready(&r->ring) > 0 && (!may_block || kernel_has_work))
		rc = (r->mode == RT_RING_PLAIN) ? io_uring_submit(&r->ring)
						 : io_uring_submit_and_get_events(&r->ring);
	else if (kernel_has_work && r->mode != RT_RING_PLAIN)
		rc = io_uring_get_events(&r->ring);
	if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
		rt_err_rl(RT_SS_REACTOR, "%s: io_uring_enter: " DF_RC, r->name, DP_RC(rc));
	return rt__reap(r);
}

/* ------------------------------------------------------------ notify mode */

static void
rt__efd_drain(struct rt_reactor *r)
{
	uint64_t v;
	ssize_t n = read(r->efd, &v, sizeof(v));

	(void)n; /* EAGAIN: already zero */
}

/* Anything the loop would do now (after sleeping was set: Dekker with posters). */
static bool
rt__notify_has_work(struct rt_reactor *r)
{
	unsigned sq_flags = IO_URING_READ_ONCE(*r->ring.sq.kflags);

	return rt__inbox_maybe_nonempty(r) || io_uring_cq_ready(&r->ring) > 0 ||
	       (sq_flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) || r->defer_head ||
	       atomic_load_explicit(&r->stop_req, memory_order_seq_cst) ||
	       (r->heap_len > 0 && r->heap[0]->deadline_us <= rt_now_us());
}

static unsigned
rt__notify_sleep(struct rt_reactor *r, uint64_t wait_us)
{
	struct pollfd pfd = { .fd = r->efd, .events = POLLIN };
	struct timespec ts;
	int rc;

	if (io_uring_sq_ready(&r->ring) > 0)
		io_uring_submit(&r->ring);
	rt__efd_drain(r);
	atomic_store_explicit(&r->sleeping, true, memory_order_seq_cst);
	if (rt__notify_has_work(r)) {
		atomic_store_explicit(&r->sleeping, false, memory_order_relaxed);
		return rt__poll_ring(r, false);
	}
	r->stats.sleeps++;
	if (wait_us == UINT64_MAX) {
		rc = ppoll(&pfd, 1, NULL, NULL);
	} else {
		ts.tv_sec = (time_t)(wait_us / 1000000u);
		ts.tv_nsec = (long)(wait_us % 1000000u) * 1000;
		rc = ppoll(&pfd, 1, &ts, NULL);
	}
	if (rc < 0 && errno != EINTR)
		rt_err_rl(RT_SS_REACTOR, "%s: ppoll: " DF_RC, r->name, DP_RC(-errno));
	atomic_store_explicit(&r->sleeping, false, memory_order_relaxed);
	r->now_us = rt_now_us();
	r->now_fresh = true;
	return rt__poll_ring(r, false);
}

static void
rt__ntmo_done(struct rt_io *io, int32_t res, uint32_t cqe_flags)
{
	struct rt_reactor *r = (struct rt_reactor *)((char *)io - offsetof(struct rt_reactor, ntmo_io));

	(void)res;
	(void)cqe_flags;
	r->ntmo_armed = false;
}

int
rt_reactor_notify_fd(const struct rt_reactor *r)
{
	return r->notify ? r->efd : -1;
}

int
rt_reactor_prepare_wait(struct rt_reactor *r)
{
	struct io_uring_sqe *sqe;
	uint64_t one = 1;
	ssize_t n;

	if (!r->notify)
		return -EINVAL;
	rt__ring_enable(r);
	if (r->heap_len > 0 && !r->destroying) {
		uint64_t dl = r->heap[0]->deadline_us;

		if (!r->ntmo_armed || dl < r->ntmo_deadline) {
			r->ntmo_ts.tv_sec = (long long)(dl / 1000000u);
			r->ntmo_ts.tv_nsec = (long long)(dl % 1000000u) * 1000;
			sqe = rt_reactor_get_sqe(r);
			if (!r->ntmo_armed) {
				io_uring_prep_timeout(sqe, &r->ntmo_ts, 0, IORING_TIMEOUT_ABS);
				rt_io_set(sqe, &r->ntmo_io);
			} else {
				io_uring_prep_timeout_update(sqe, &r->ntmo_ts,
							     (uint64_t)(uintptr_t)&r->ntmo_io,
							     IORING_TIMEOUT_ABS);
				rt_io_set(sqe, &r->ntmo_upd_io);
			}
			r->ntmo_armed = true;
			r->ntmo_deadline = dl;
		}
	}
	if (io_uring_sq_ready(&r->ring) > 0)
		io_uring_submit(&r->ring);
	rt__efd_drain(r);
	atomic_store_explicit(&r->sleeping, true, memory_order_seq_cst);
	if (!rt__notify_has_work(r))
		return 0;
	atomic_store_explicit(&r->sleeping, false, memory_order_relaxed);
	n = write(r->efd, &one, sizeof(one));
	(void)n;
	return 1;
}

/* Block for at most wait_us (UINT64_MAX: until an event). */
static unsigned
rt__sleep(struct rt_reactor *r, uint64_t wait_us)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	int rc;

	if (r->heap_len > 0) {
		uint64_t dl = r->heap[0]->deadline_us;
		uint64_t left = dl > r->now_us ? dl - r->now_us : 0;

		if (left < wait_us)
			wait_us = left;
	}
	if (wait_us == 0)
		return 0;

	if (r->notify)
		return rt__notify_sleep(r, wait_us);
	atomic_store_explicit(&r->sleeping, true, memory_order_seq_cst);
	if (rt__inbox_maybe_nonempty(r) ||
	    atomic_load_explicit(&r->stop_req, memory_order_seq_cst)) {
		atomic_store_explicit(&r->sleeping, false, memory_order_relaxed);
		return 0;
	}
	r->stats.sleeps++;
	if (wait_us == UINT64_MAX) {
		rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, NULL, NULL);
	} else {
		ts.tv_sec = (long long)(wait_us / 1000000u);
		ts.tv_nsec = (long long)(wait_us % 1000000u) * 1000;
		rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
	}
	atomic_store_explicit(&r->sleeping, false, memory_order_relaxed);
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
		rt_err_rl(RT_SS_REACTOR, "%s: wait: " DF_RC, r->name, DP_RC(rc));
	r->now_us = rt_now_us();
	r->now_fresh = true;
	return rt__reap(r);
}

/*
 * One iteration. max_wait_us: how long we may block if nothing was ready
 * (0: never). Returns the number of events processed.
 */
static unsigned
rt__iterate(struct rt_reactor *r, uint64_t max_wait_us)
{
	unsigned n;

	r->stats.loops++;
	/*
	 * After a sleep, the time read on wake-up serves this iteration too
	 * (what ran since is this iteration's work, as if it had started then).
	 */
	if (r->now_fresh)
		r->now_fresh = false;
	else
		r->now_us = rt_now_us();
	if (r->notify)
		atomic_store_explicit(&r->sleeping, false, memory_order_relaxed);
	else if (!r->efd_armed && !r->destroying)
		rt__efd_arm(r);
	n = rt__poll_ring(r, max_wait_us > 0 && !r->defer_head);
	n += rt__run_timers(r);
	n += rt__run_inbox(r);
	n += rt__run_deferred(r);
	if (n == 0 && max_wait_us > 0 && !r->defer_head &&
	    !atomic_load_explicit(&r->stop_req, memory_order_relaxed)) {
		n += rt__sleep(r, max_wait_us);
		/*
		 * What the completions just reaped deferred (e.g. a send) runs now,
		 * as it would after the ring step: left to the next iteration it
		 * would make that iteration submit on its own (one more syscall).
		 */
		n += rt__run_deferred(r);
	}
	return n;
}

/*
 * A SINGLE_ISSUER ring belongs to the thread that first used it; any other
 * thread's io_uring_enter fails with -EEXIST.
 */
static int
rt__check_issuer(struct rt_reactor *r)
{
	if (r->mode != RT_RING_DEFER || !r->ring_enabled || pthread_equal(r->issuer, pthread_self()))
		return 0;
	rt_err_rl(RT_SS_REACTOR, "%s: run from a thread that does not own its ring", r->name);
	return -EEXIST;
}

int
rt_reactor_run_once(struct rt_reactor *r, uint64_t timeout_us)
{
	struct rt_reactor *prev = rt__current;
	unsigned n;
	int rc;

	rc = rt__check_issuer(r);
	if (rc < 0)
		return rc;
	rt__current = r;
	rt__ring_enable(r);
	n = rt__iterate(r, timeout_us);
	r->now_fresh = false; /* the caller may come back much later */
	/* Do not leave SQEs behind if the caller does not come back soon. */
	if (io_uring_sq_ready(&r->ring) > 0)
		io_uring_submit(&r->ring);
	rt__current = prev;
	return (int)n;
}

int
rt_reactor_run(struct rt_reactor *r)
{
	struct rt_reactor *prev = rt__current;
	uint64_t last_work_us;
	int rc;

	rc = rt__check_issuer(r);
	if (rc < 0)
		return rc;
	rt__current = r;
	rt__ring_enable(r);
	last_work_us = rt_now_us();
	while (!atomic_load_explicit(&r->stop_req, memory_order_acquire)) {
		uint64_t wait = 0;
		unsigned n;

		if (!r->busy_poll && r->now_us - last_work_us >= r->poll_us)
			wait = UINT64_MAX;
		n = rt__iterate(r, wait);
		if (n > 0)
			last_work_us = r->now_us;
		else if (wait == 0)
			/*
			 * Polling and idle: let a thread that shares this core run (the
			 * peer we wait for may be it). Returns at once when none is
			 * runnable.
			 */
			sched_yield();
	}
	/* Hand what callbacks queued to the kernel before we leave. */
	if (io_uring_sq_ready(&r->ring) > 0)
		io_uring_submit(&r->ring);
	r->now_fresh = false;
	atomic_store_explicit(&r->stop_req, false, memory_order_release);
	rt__current = prev;
	return 0;
}

void
rt_reactor_stop(struct rt_reactor *r)
{
	atomic_store_explicit(&r->stop_req, true, memory_order_seq_cst);
	if (rt__current != r)
		rt__reactor_wake(r);
}

struct rt_reactor *
rt_reactor_current(void)
{
	return rt__current;
}

/* ---------------------------------------------------------- create/start */

void
rt_reactor_opts_init(struct rt_reactor_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->name = "reactor";
	opts->core = -1;
	opts->ring_entries = RT_REACTOR_DEFAULT_ENTRIES;
	opts->poll_us = RT_REACTOR_DEFAULT_POLL_US;
	opts->submit_batch = RT_REACTOR_DEFAULT_SUBMIT_BATCH;
	opts->busy_poll = false;
}

static enum rt_ring_mode
rt__ring_mode_wanted(void)
{
	const char *m = getenv("TESSERA_RING_MODE");

	if (m && strcmp(m, "coop") == 0)
		return RT_RING_COOP;
	if (m && strcmp(m, "plain") == 0)
		return RT_RING_PLAIN;
	return RT_RING_DEFER;
}

static int
rt__ring_init(struct rt_reactor *r, unsigned entries)
{
	static const unsigned mode_flags[] = {
		[RT_RING_DEFER] = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
				  IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED,
		[RT_RING_COOP] = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		[RT_RING_PLAIN] = 0,
	};
	enum rt_ring_mode mode = rt__ring_mode_wanted();
	int rc = -EINVAL;

	if (r->notify && mode == RT_RING_DEFER)
		mode = RT_RING_COOP;
	for (; mode <= RT_RING_PLAIN; mode++) {
		struct io_uring_params p;

		memset(&p, 0, sizeof(p));
		p.flags = mode_flags[mode] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
		p.cq_entries = entries * 4;
		rc = io_uring_queue_init_params(entries, &r->ring, &p);
		if (rc == -EINVAL) {
			/* Older kernel: retry without the newer generic flags. */
			memset(&p, 0, sizeof(p));
			p.flags = mode_flags[mode];
			rc = io_uring_queue_init_params(entries, &r->ring, &p);
		}
		if (rc == 0) {
			r->mode = mode;
			rt_debug(RT_SS_REACTOR, "%s: ring mode %s", r->name,
				 mode == RT_RING_DEFER ? "defer" : mode == RT_RING_COOP ? "coop" : "plain");
			return 0;
		}
		if (rc != -EINVAL)
			break;
	}
	return rc;
}

int
rt_reactor_create(const struct rt_reactor_opts *opts, struct rt_reactor **out)
{
	struct rt_reactor_opts def;
	struct rt_reactor *r;
	int node = -1;
	int rc;

	*out = NULL;
	if (!opts) {
		rt_reactor_opts_init(&def);
		opts = &def;
	}
	if (opts->core >= 0 && rt__numa_ok())
		node = numa_node_of_cpu(opts->core);
	if (node < 0)
		node = -1;
	r = rt__mem_alloc_node(node, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->node = node;
	r->core = opts->core;
	snprintf(r->name, sizeof(r->name), "%s", opts->name ? opts->name : "reactor");
	r->poll_us = opts->poll_us;
	r->submit_batch = opts->submit_batch;
	r->busy_poll = opts->busy_poll;
	r->efd = -1;
	r->efd_io.cb = rt__efd_done;
	r->cancel_io.cb = rt__noop_io;
	r->ntmo_io.cb = rt__ntmo_done;
	r->ntmo_upd_io.cb = rt__noop_io;
	r->notify = opts->notify_fd;
	atomic_init(&r->sleeping, false);
	atomic_init(&r->stop_req, false);
	atomic_init(&r->destroy_req, false);
	atomic_init(&r->inbox_stub.next, NULL);
	atomic_init(&r->inbox_head, &r->inbox_stub);
	r->inbox_tail = &r->inbox_stub;

	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0) {
		rc = -errno;
		goto out_free;
	}
	rc = rt__ring_init(r, opts->ring_entries ? opts->ring_entries : RT_REACTOR_DEFAULT_ENTRIES);
	if (rc < 0)
		goto out_close_efd;
	r->ring_ok = true;
	if (r->notify) {
		rc = io_uring_register_eventfd(&r->ring, r->efd);
		if (rc < 0) {
			io_uring_queue_exit(&r->ring);
			goto out_close_efd;
		}
	}
	r->now_us = rt_now_us();
	*out = r;
	return 0;

out_close_efd:
	close(r->efd);
out_free:
	rt_mem_free(r, sizeof(*r));
	return rc;
}

static void
rt__pin(struct rt_reactor *r)
{
	cpu_set_t set;
	int rc;

	if (r->core < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(r->core, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc != 0)
		rt_warn(RT_SS_REACTOR, "%s: cannot pin to core %d: " DF_RC, r->name, r->core,
			DP_RC(-rc));
	if (rt__numa_ok())
		numa_set_localalloc();
}

/* Cancel everything in flight and reap it, without callbacks. Owner thread only. */
static void
rt__drain(struct rt_reactor *r)
{
	struct io_uring_sqe *sqe;
	uint64_t deadline;

	if (!r->ring_ok)
		return;
	r->destroying = true;
	rt__ring_enable(r);
	if (r->inflight == 0)
		return;
	sqe = rt_reactor_get_sqe(r);
	io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
	rt_io_set(sqe, &r->cancel_io);
	r->draining = true;
	deadline = rt_now_us() + RT_REACTOR_DRAIN_TIMEOUT_US;
	while (r->inflight > 0) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 10 * 1000 * 1000 };
		struct io_uring_cqe *cqe;
		int rc;

		rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			break; /* e.g. -EEXIST: not the ring's owner thread */
		rt__reap(r);
		if (rt_now_us() > deadline) {
			rt_warn(RT_SS_REACTOR, "%s: %llu operations still in flight at destroy",
				r->name, (unsigned long long)r->inflight);
			break;
		}
	}
}

static void *
rt__thread_main(void *arg)
{
	struct rt_reactor *r = arg;

	pthread_setname_np(pthread_self(), r->name);
	rt__pin(r);
	rt_reactor_run(r);
	if (atomic_load(&r->destroy_req))
		rt__drain(r);
	return NULL;
}

int
rt_reactor_start(struct rt_reactor *r)
{
	int rc;

	if (r->thread_started)
		return -EALREADY;
	atomic_store(&r->stop_req, false);
	rc = pthread_create(&r->thread, NULL, rt__thread_main, r);
	if (rc != 0)
		return -rc;
	r->thread_started = true;
	return 0;
}

int
rt_reactor_join(struct rt_reactor *r)
{
	if (!r->thread_started)
		return -EINVAL;
	rt_reactor_stop(r);
	pthread_join(r->thread, NULL);
	r->thread_started = false;
	return 0;
}

void
rt_reactor_destroy(struct rt_reactor **rp)
{
	struct rt_reactor *r = *rp;

	if (!r)
		return;
	*rp = NULL;
	if (r->thread_started) {
		atomic_store(&r->destroy_req, true);
		rt_reactor_stop(r);
		pthread_join(r->thread, NULL);
		r->thread_started = false;
	} else {
		rt__drain(r);
	}
	if (r->ring_ok)
		io_uring_queue_exit(&r->ring);
	if (r->efd >= 0)
		close(r->efd);
	free(r->heap);
	rt_mem_free(r, sizeof(*r));
}

void
rt_reactor_get_stats(const struct rt_reactor *r, struct rt_reactor_stats *out)
{
	*out = r->stats;
}
