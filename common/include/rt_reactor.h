/*
 * The per-core reactor.
 *
 * A reactor is one thread (optionally pinned to a core through libnuma) that owns
 * one io_uring ring for both disk and network I/O, its timers, its deferred
 * callbacks and an inbox of cross-reactor messages. Everything a reactor owns is
 * touched only from its own thread; other threads talk to it only through
 * rt_reactor_send_msg()/rt_reactor_post(), which are lock-free (an intrusive MPSC
 * queue plus an eventfd that is written only when the target may be asleep).
 *
 * Idle policy: after the last piece of work the loop polls its ring and inbox
 * for up to `poll_us` (adaptive), then blocks in io_uring_wait_cqe with the
 * next timer as its timeout. `busy_poll` never blocks (dedicated hosts only).
 *
 * Threading model for tools and tests: a reactor can also run in the calling
 * thread (rt_reactor_run / rt_reactor_run_once); the blocking convenience
 * layers of libstore and the messenger drive a private reactor that way.
 *
 * Async I/O: a request embeds a struct rt_io. Get an SQE with
 * rt_reactor_get_sqe(), prepare it with liburing's io_uring_prep_*(), and tag it
 * with rt_io_set(sqe, io); when the CQE arrives the reactor calls io->cb(io, res,
 * cqe_flags) on the reactor thread. SQEs are submitted in one batch per loop
 * iteration (or earlier, if the SQ fills up).
 */
#ifndef RT_REACTOR_H
#define RT_REACTOR_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rt_reactor;

struct rt_io;
/* res is cqe->res, passed up unchanged (negative errno on failure). */
typedef void (*rt_io_cb)(struct rt_io *io, int32_t res, uint32_t cqe_flags);

/* Embedded in every request that issues an io_uring operation. */
struct rt_io {
	rt_io_cb cb;
};

typedef void (*rt_msg_fn)(void *ctx);

/* A cross-reactor or deferred message, embeddable (no allocation). */
struct rt_msg {
	struct rt_msg *_Atomic next; /* private */
	rt_msg_fn fn;
	void *ctx;
};

struct rt_timer;
typedef void (*rt_timer_cb)(struct rt_timer *t);

/* A timer, embedded by its owner; only the owning reactor touches it. */
struct rt_timer {
	rt_timer_cb cb;
	uint64_t deadline_us; /* private */
	uint64_t repeat_us;   /* private */
	uint32_t heap_idx;    /* private: position in the reactor's timer heap */
	bool armed;           /* private */
};

struct rt_reactor_opts {
	const char *name;      /* thread name (max 15 chars shown), for logs */
	int core;              /* CPU to pin to; -1: not pinned */
	unsigned ring_entries; /* SQ size; default 256 */
	unsigned poll_us;      /* adaptive poll window before sleeping; default 50 */
	bool busy_poll;        /* never sleep (burns a core); default false */
	unsigned submit_batch; /* submit as soon as this many SQEs are queued, instead of
				* once per loop iteration (deep queues start sooner);
				* default 8; 0: once per iteration only */
	bool notify_fd;        /* client queues: expose a pollable fd (rt_reactor_notify_fd)
				* that becomes readable when the reactor has work; the ring
				* runs without DEFER_TASKRUN/SINGLE_ISSUER (any thread may
				* drive it, one at a time) and the reactor sleeps in ppoll()
				* on that fd; default false (daemons) */
};

void rt_reactor_opts_init(struct rt_reactor_opts *opts);

/*
 * Create a reactor: allocates it (node-local to opts->core when pinned), sets up
 * its ring and eventfd. It does not run until rt_reactor_start() (own thread)
 * or rt_reactor_run()/rt_reactor_run_once() (caller's thread).
 * Returns 0, or -ENOMEM, or a negative errno from io_uring_queue_init/eventfd.
 */
int rt_reactor_create(const struct rt_reactor_opts *opts, struct rt_reactor **out);

/* Start the reactor on a new thread (pinned if opts->core >= 0). Returns 0 or -errno. */
int rt_reactor_start(struct rt_reactor *r);

/* Run in the calling thread until rt_reactor_stop(). Returns 0 or -errno. */
int rt_reactor_run(struct rt_reactor *r);

/*
 * One loop iteration in the calling thread: submit pending SQEs, reap CQEs,
 * run expired timers, deferred callbacks and inbox messages; if nothing was
 * ready, wait at most timeout_us (0: do not wait). Returns the number of
 * events processed (>= 0) or -errno.
 */
int rt_reactor_run_once(struct rt_reactor *r, uint64_t timeout_us);

/*
 * Ask the reactor to stop; callable from any thread. The loop finishes the
 * current iteration and returns. Safe to call more than once.
 */
void rt_reactor_stop(struct rt_reactor *r);

/*
 * Stop a reactor started with rt_reactor_start and join its thread, without
 * freeing it: afterwards another thread may drive it (rt_reactor_run_once),
 * e.g. to tear down what lives on it. Returns 0, or -EINVAL if it was not
 * started. Not from the reactor's own thread.
 */
int rt_reactor_join(struct rt_reactor *r);

/*
 * Stop (if running on its own thread), join, and free. In-flight io_uring
 * operations are cancelled and reaped first; their callbacks do not run.
 * Sets *rp to NULL.
 */
void rt_reactor_destroy(struct rt_reactor **rp);

/* The reactor running on this thread, or NULL. */
struct rt_reactor *rt_reactor_current(void);

/* The io_uring ring, e.g. to register buffers or files. Reactor thread only. */
struct io_uring *rt_reactor_ring(struct rt_reactor *r);

/* The core the reactor is pinned to, or -1. */
int rt_reactor_core(const struct rt_reactor *r);

/* Monotonic clock in microseconds (cached per loop iteration by rt_reactor_now_us). */
uint64_t rt_now_us(void);
uint64_t rt_reactor_now_us(struct rt_reactor *r);

/*
 * Get an SQE on the reactor's ring; never returns NULL (when the SQ is full the
 * pending SQEs are submitted first). Reactor thread only.
 */
struct io_uring_sqe *rt_reactor_get_sqe(struct rt_reactor *r);

/* Tag a prepared SQE so that its completion calls io->cb. */
static inline void
rt_io_set(struct io_uring_sqe *sqe, struct rt_io *io)
{
	io_uring_sqe_set_data(sqe, io);
}

/* Submit pending SQEs now (normally done once per loop iteration). */
int rt_reactor_flush(struct rt_reactor *r);

/*
 * Run fn(ctx) on the reactor's next loop iteration, on its own thread.
 * Reactor thread only. Uses the embedded msg (no allocation); msg must stay valid
 * until fn runs. This is how async functions keep "cb never runs inside the
 * submit call".
 */
void rt_reactor_defer(struct rt_reactor *r, struct rt_msg *msg, rt_msg_fn fn, void *ctx);

/*
 * Post a message to dst from any thread (including dst itself): fn(ctx) runs
 * later on dst's thread, and ctx then belongs to dst. Lock-free; wakes dst if it
 * sleeps. msg is embedded by the caller and must stay valid until fn runs.
 */
void rt_reactor_post(struct rt_reactor *dst, struct rt_msg *msg, rt_msg_fn fn, void *ctx);

/*
 * As rt_reactor_post, but allocates the message node (freed after fn runs).
 * Returns 0 or -ENOMEM. For the rare control-path message.
 */
int rt_reactor_send_msg(struct rt_reactor *dst, rt_msg_fn fn, void *ctx);

/*
 * Timers, reactor thread only. Start (or restart) t to fire after timeout_us,
 * then every repeat_us if repeat_us > 0. cb runs on the reactor thread.
 */
void rt_timer_init(struct rt_timer *t, rt_timer_cb cb);
void rt_timer_start(struct rt_reactor *r, struct rt_timer *t, uint64_t timeout_us,
		    uint64_t repeat_us);
void rt_timer_stop(struct rt_reactor *r, struct rt_timer *t);
bool rt_timer_is_armed(const struct rt_timer *t);

/*
 * Node-local memory for the reactor's pools and buffers: 4 KiB aligned, zeroed.
 * Control path only (start-up); returns NULL on failure. Free with rt_mem_free.
 */
void *rt_reactor_alloc(struct rt_reactor *r, size_t len);
void rt_mem_free(void *p, size_t len);

/*
 * notify_fd reactors only (rt_reactor_opts.notify_fd).
 *
 * rt_reactor_notify_fd: an eventfd registered with the ring (every CQE
 * increments it) and written by rt_reactor_post when the reactor may sleep.
 * The owner thread may block on it in its own poll/epoll loop instead of in
 * rt_reactor_run_once: first drive the reactor until it has nothing to do,
 * then call rt_reactor_prepare_wait(). From then on any new event (a CQE, a
 * posted message, the next timer's deadline: an io_uring timeout is armed for
 * it) makes the fd readable. The fd belongs to the reactor. Returns -1 for a
 * reactor without notify_fd.
 *
 * rt_reactor_prepare_wait: submit what is pending, arm the timer wake-up,
 * clear the fd and mark the reactor as sleeping. Returns 0 (block on the fd
 * now), 1 (work is already pending: the fd was made readable, so blocking
 * returns at once), or -EINVAL (no notify_fd). Owner thread only.
 */
int rt_reactor_notify_fd(const struct rt_reactor *r);
int rt_reactor_prepare_wait(struct rt_reactor *r);

/* Loop statistics, for the OSD's counters and the benchmarks. */
struct rt_reactor_stats {
	uint64_t loops;
	uint64_t sleeps;    /* times the loop blocked in the kernel */
	uint64_t cqes;
	uint64_t msgs;      /* inbox messages run */
	uint64_t timers;    /* timer callbacks run */
};
void rt_reactor_get_stats(const struct rt_reactor *r, struct rt_reactor_stats *out);

#endif
