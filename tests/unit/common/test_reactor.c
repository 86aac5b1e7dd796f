/*
 * Unit tests of the reactor: timers, deferred callbacks, cross-reactor
 * messages between reactor threads, posts from plain threads, io_uring
 * completions through rt_io, destroy with operations in flight, and the
 * ring-mode fallbacks. Waits are bounded by deadlines, never by sleeps.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_reactor.h"

#define DEADLINE_US (20u * 1000 * 1000)

static struct rt_reactor *
mk_reactor(const char *name, int core)
{
	struct rt_reactor_opts o;
	struct rt_reactor *r = NULL;

	rt_reactor_opts_init(&o);
	o.name = name;
	o.core = core;
	ck_assert_int_eq(rt_reactor_create(&o, &r), 0);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* Run r in this thread until *flag or the deadline. */
static void
run_until(struct rt_reactor *r, const bool *flag)
{
	uint64_t dl = rt_now_us() + DEADLINE_US;

	while (!*flag) {
		ck_assert_int_ge(rt_reactor_run_once(r, 1000), 0);
		ck_assert_msg(rt_now_us() < dl, "deadline exceeded");
	}
}

/* ---------------------------------------------------------------- timers */

struct ttimer {
	struct rt_timer t;
	struct rt_reactor *r;
	int id;
	int fired;
	int stop_after;
};

static int order[16];
static int norder;
static bool done_flag;

static void
record_cb(struct rt_timer *t)
{
	struct ttimer *tt = (struct ttimer *)t;

	tt->fired++;
	ck_assert_ptr_eq(rt_reactor_current(), tt->r);
	order[norder++] = tt->id;
	if (tt->id == 99)
		done_flag = true;
}

START_TEST(test_timer_order)
{
	struct rt_reactor *r = mk_reactor("t-order", -1);
	static const uint64_t delays[] = { 5000, 1000, 3000, 2000, 4000 };
	struct ttimer t[5], last;
	int i;

	norder = 0;
	done_flag = false;
	for (i = 0; i < 5; i++) {
		t[i].r = r;
		t[i].id = (int)delays[i] / 1000;
		t[i].fired = 0;
		rt_timer_init(&t[i].t, record_cb);
		rt_timer_start(r, &t[i].t, delays[i], 0);
		ck_assert(rt_timer_is_armed(&t[i].t));
	}
	last.r = r;
	last.id = 99;
	last.fired = 0;
	rt_timer_init(&last.t, record_cb);
	rt_timer_start(r, &last.t, 8000, 0);
	run_until(r, &done_flag);
	ck_assert_int_eq(norder, 6);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(order[i], i + 1);
		ck_assert(!rt_timer_is_armed(&t[i].t));
	}
	ck_assert_int_eq(order[5], 99);
	rt_reactor_destroy(&r);
	ck_assert_ptr_null(r);
}
END_TEST

static void
repeat_cb(struct rt_timer *t)
{
	struct ttimer *tt = (struct ttimer *)t;

	tt->fired++;
	if (tt->fired == tt->stop_after) {
		rt_timer_stop(tt->r, t);
		done_flag = true;
	}
}

START_TEST(test_timer_repeat_stop_restart)
{
	struct rt_reactor *r = mk_reactor("t-rep", -1);
	struct ttimer rep = { .r = NULL }, never = { .r = NULL }, restarted = { .r = NULL };
	struct ttimer sentinel = { .r = NULL };
	struct rt_reactor_stats st;

	done_flag = false;
	norder = 0;
	rep.r = r;
	rep.stop_after = 5;
	rt_timer_init(&rep.t, repeat_cb);
	rt_timer_start(r, &rep.t, 500, 500);
	run_until(r, &done_flag);
	ck_assert_int_eq(rep.fired, 5);
	ck_assert(!rt_timer_is_armed(&rep.t));

	/* A stopped timer never fires; a restarted one fires once, at its new time. */
	never.r = r;
	never.id = 7;
	rt_timer_init(&never.t, record_cb);
	rt_timer_start(r, &never.t, 1000, 0);
	rt_timer_stop(r, &never.t);
	rt_timer_stop(r, &never.t); /* idempotent */
	restarted.r = r;
	restarted.id = 8;
	rt_timer_init(&restarted.t, record_cb);
	rt_timer_start(r, &restarted.t, 10 * 1000 * 1000, 0);
	rt_timer_start(r, &restarted.t, 1000, 0);
	sentinel.r = r;
	sentinel.id = 99;
	rt_timer_init(&sentinel.t, record_cb);
	rt_timer_start(r, &sentinel.t, 200 * 1000, 0);
	done_flag = false;
	run_until(r, &done_flag);
	ck_assert_int_eq(never.fired, 0);
	ck_assert_int_eq(restarted.fired, 1);
	ck_assert_int_eq(norder, 2);
	ck_assert_int_eq(order[0], 8);
	ck_assert_int_eq(order[1], 99);

	/* Many timers with equal and random deadlines all fire, in deadline order. */
	{
		enum { N = 300 };
		static struct ttimer many[N];
		int i;

		norder = 0;
		for (i = 0; i < N; i++) {
			many[i].r = r;
			many[i].fired = 0;
			rt_timer_init(&many[i].t, repeat_cb);
			many[i].stop_after = 1000;
			rt_timer_start(r, &many[i].t, (uint64_t)(rand() % 3000), 0);
		}
		for (i = 0; i < N; i += 3)
			rt_timer_stop(r, &many[i].t);
		done_flag = false;
		rt_timer_start(r, &sentinel.t, 10 * 1000, 0);
		sentinel.fired = 0;
		run_until(r, &done_flag);
		for (i = 0; i < N; i++)
			ck_assert_int_eq(many[i].fired, i % 3 == 0 ? 0 : 1);
	}
	rt_reactor_get_stats(r, &st);
	ck_assert_uint_ge(st.timers, 5 + 1 + 1 + 200);
	ck_assert_uint_gt(st.loops, 0);
	rt_reactor_destroy(&r);
}
END_TEST

/* --------------------------------------------------------------- defer */

struct dctx {
	struct rt_reactor *r;
	struct rt_msg m;
	struct rt_msg m2;
	int id;
};

static void
defer_rec(void *arg)
{
	struct dctx *d = arg;

	order[norder++] = d->id;
}

static struct dctx dd_next;

static void
defer_first(void *arg)
{
	struct dctx *d = arg;

	order[norder++] = d->id;
	dd_next.r = d->r;
	dd_next.id = 4;
	rt_reactor_defer(d->r, &dd_next.m, defer_rec, &dd_next);
}

START_TEST(test_defer_order)
{
	struct rt_reactor *r = mk_reactor("t-defer", -1);
	struct dctx a = { .r = r, .id = 1 }, b = { .r = r, .id = 2 }, c = { .r = r, .id = 3 };

	norder = 0;
	rt_reactor_defer(r, &a.m, defer_first, &a);
	rt_reactor_defer(r, &b.m, defer_rec, &b);
	rt_reactor_defer(r, &c.m, defer_rec, &c);
	ck_assert_int_eq(norder, 0); /* never inside the call */
	ck_assert_int_ge(rt_reactor_run_once(r, 0), 3);
	ck_assert_int_eq(norder, 3);
	ck_assert_int_eq(order[0], 1);
	ck_assert_int_eq(order[1], 2);
	ck_assert_int_eq(order[2], 3);
	/* What a deferred callback defers runs on the next iteration. */
	ck_assert_int_ge(rt_reactor_run_once(r, 0), 1);
	ck_assert_int_eq(norder, 4);
	ck_assert_int_eq(order[3], 4);
	ck_assert_int_eq(rt_reactor_run_once(r, 0), 0);
	rt_reactor_destroy(&r);
}
END_TEST

/* ---------------------------------------------------- cross-reactor msgs */

#define PP_MAX_R 4
#define PP_TOKENS 16

struct pp_token {
	struct rt_msg msg;
	int hops;
	int at;
};

struct pp {
	struct rt_reactor *r[PP_MAX_R];
	int nr;
	int hops_per_token;
	struct pp_token tok[PP_TOKENS];
	uint64_t per_reactor[PP_MAX_R]; /* each touched only by its own reactor */
	_Atomic int tokens_done;
	_Atomic int wrong_thread;
};

static struct pp pp;

static void
pp_hop(void *arg)
{
	struct pp_token *t = arg;

	if (rt_reactor_current() != pp.r[t->at])
		atomic_fetch_add(&pp.wrong_thread, 1);
	pp.per_reactor[t->at]++;
	t->hops++;
	if (t->hops == pp.hops_per_token) {
		atomic_fetch_add(&pp.tokens_done, 1);
		return;
	}
	t->at = (t->at + 1) % pp.nr;
	rt_reactor_post(pp.r[t->at], &t->msg, pp_hop, t);
}

static void
pp_run(int nr, int total_msgs)
{
	uint64_t dl = rt_now_us() + 60u * 1000 * 1000;
	uint64_t sum = 0;
	char name[16];
	int i;

	memset(&pp, 0, sizeof(pp));
	pp.nr = nr;
	pp.hops_per_token = total_msgs / PP_TOKENS;
	for (i = 0; i < nr; i++) {
		snprintf(name, sizeof(name), "pp%d", i);
		/* Pin alternately to the two cores of the box when there are several. */
		pp.r[i] = mk_reactor(name, sysconf(_SC_NPROCESSORS_ONLN) > 1 ? i % 2 : -1);
		ck_assert_int_eq(rt_reactor_start(pp.r[i]), 0);
	}
	/* Posted from this (non-reactor) thread. */
	for (i = 0; i < PP_TOKENS; i++) {
		pp.tok[i].at = i % nr;
		rt_reactor_post(pp.r[pp.tok[i].at], &pp.tok[i].msg, pp_hop, &pp.tok[i]);
	}
	while (atomic_load(&pp.tokens_done) < PP_TOKENS) {
		ck_assert_msg(rt_now_us() < dl, "ping-pong stuck: %d tokens done",
			      atomic_load(&pp.tokens_done));
		sched_yield();
	}
	for (i = 0; i < nr; i++) {
		struct rt_reactor_stats st;

		rt_reactor_destroy(&pp.r[i]);
		(void)st;
	}
	for (i = 0; i < nr; i++)
		sum += pp.per_reactor[i];
	ck_assert_uint_eq(sum, (uint64_t)pp.hops_per_token * PP_TOKENS);
	for (i = 0; i < PP_TOKENS; i++)
		ck_assert_int_eq(pp.tok[i].hops, pp.hops_per_token);
	ck_assert_int_eq(atomic_load(&pp.wrong_thread), 0);
}

START_TEST(test_cross_reactor_2)
{
	pp_run(2, 100000);
}
END_TEST

START_TEST(test_cross_reactor_4)
{
	pp_run(4, 100000);
}
END_TEST

/* A single token bounced between two sleeping reactors: every hop is a wake-up. */
START_TEST(test_cross_reactor_wakeups)
{
	uint64_t dl = rt_now_us() + 60u * 1000 * 1000;
	struct rt_reactor_opts o;
	int i;

	memset(&pp, 0, sizeof(pp));
	pp.nr = 2;
	pp.hops_per_token = 20000;
	for (i = 0; i < 2; i++) {
		rt_reactor_opts_init(&o);
		o.name = "wake";
		o.poll_us = 0; /* sleep at once: exercises the sleeping flag */
		ck_assert_int_eq(rt_reactor_create(&o, &pp.r[i]), 0);
		ck_assert_int_eq(rt_reactor_start(pp.r[i]), 0);
	}
	rt_reactor_post(pp.r[0], &pp.tok[0].msg, pp_hop, &pp.tok[0]);
	while (atomic_load(&pp.tokens_done) < 1) {
		ck_assert_msg(rt_now_us() < dl, "lost wake-up: %d hops", pp.tok[0].hops);
		sched_yield();
	}
	ck_assert_int_eq(pp.tok[0].hops, 20000);
	for (i = 0; i < 2; i++)
		rt_reactor_destroy(&pp.r[i]);
}
END_TEST

/* --------------------------------------------------- posts from threads */

struct cnt {
	struct rt_reactor *r;
	uint64_t n;            /* reactor thread only */
	_Atomic uint64_t seen; /* published for the test thread */
	_Atomic int bad;
};

struct cmsg {
	struct rt_msg m;
	struct cnt *c;
};

static void
count_fn(void *arg)
{
	struct cmsg *cm = arg;

	if (rt_reactor_current() != cm->c->r)
		atomic_fetch_add(&cm->c->bad, 1);
	cm->c->n++;
	atomic_store(&cm->c->seen, cm->c->n);
}

struct poster_arg {
	struct cnt *c;
	struct cmsg *msgs;
	int n;
};

static void *
poster(void *arg)
{
	struct poster_arg *pa = arg;
	int i;

	for (i = 0; i < pa->n; i++) {
		pa->msgs[i].c = pa->c;
		rt_reactor_post(pa->c->r, &pa->msgs[i].m, count_fn, &pa->msgs[i]);
	}
	return NULL;
}

static void
heap_fn(void *arg)
{
	struct cnt *c = arg;

	c->n++;
	atomic_store(&c->seen, c->n);
}

START_TEST(test_post_from_threads)
{
	enum { THREADS = 3, PER = 20000 };
	static struct cmsg msgs[THREADS][PER];
	struct poster_arg pa[THREADS];
	pthread_t th[THREADS];
	struct cnt c;
	uint64_t dl = rt_now_us() + DEADLINE_US;
	int i;

	memset(&c, 0, sizeof(c));
	c.r = mk_reactor("t-post", -1);
	ck_assert_int_eq(rt_reactor_start(c.r), 0);
	ck_assert_int_eq(rt_reactor_start(c.r), -EALREADY);
	for (i = 0; i < THREADS; i++) {
		pa[i].c = &c;
		pa[i].msgs = msgs[i];
		pa[i].n = PER;
		ck_assert_int_eq(pthread_create(&th[i], NULL, poster, &pa[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(rt_reactor_send_msg(c.r, heap_fn, &c), 0);
	while (atomic_load(&c.seen) < (uint64_t)THREADS * PER + 10) {
		ck_assert_msg(rt_now_us() < dl, "messages lost: %llu",
			      (unsigned long long)atomic_load(&c.seen));
		sched_yield();
	}
	ck_assert_int_eq(atomic_load(&c.bad), 0);
	rt_reactor_destroy(&c.r);
	ck_assert_ptr_null(c.r);
}
END_TEST

/* Stop from another thread, then run again in the caller's thread. */
static void *
stopper(void *arg)
{
	rt_reactor_stop(arg);
	return NULL;
}

struct other_run {
	struct rt_reactor *r;
	int *rc;
};

static void *
run_once_other(void *arg)
{
	struct other_run *o = arg;

	*o->rc = rt_reactor_run_once(o->r, 0);
	return NULL;
}

START_TEST(test_run_in_caller_thread)
{
	struct rt_reactor *r = mk_reactor("t-caller", -1);
	struct cnt c;
	struct cmsg m;
	pthread_t th;

	memset(&c, 0, sizeof(c));
	c.r = r;
	m.c = &c;
	ck_assert_ptr_null(rt_reactor_current());
	rt_reactor_post(r, &m.m, count_fn, &m);
	ck_assert_uint_eq(c.n, 0);
	ck_assert_int_ge(rt_reactor_run_once(r, 0), 1);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_int_eq(atomic_load(&c.bad), 0);
	ck_assert_ptr_null(rt_reactor_current());
	ck_assert_int_eq(rt_reactor_run_once(r, 0), 0);

	/* A thread that does not own the ring is refused, not hung (SINGLE_ISSUER rings). */
	if (!getenv("TESSERA_RING_MODE")) {
		int rc = -1;
		struct other_run o = { r, &rc };

		ck_assert_int_eq(pthread_create(&th, NULL, run_once_other, &o), 0);
		pthread_join(th, NULL);
		ck_assert(rc == -EEXIST || rc >= 0);
	}

	/* rt_reactor_run returns after a stop from another thread (which must wake it). */
	ck_assert_int_eq(pthread_create(&th, NULL, stopper, r), 0);
	ck_assert_int_eq(rt_reactor_run(r), 0);
	pthread_join(th, NULL);
	rt_reactor_destroy(&r);
}
END_TEST

/* ------------------------------------------------------------- rt_io */

struct tio {
	struct rt_io io;
	int32_t res;
	int calls;
	bool done;
};

static void
tio_cb(struct rt_io *io, int32_t res, uint32_t flags)
{
	struct tio *t = (struct tio *)io;

	t->res = res;
	t->calls++;
	t->done = true;
}

static void *
pipe_writer(void *arg)
{
	int fd = *(int *)arg;
	ssize_t n = write(fd, "hello, ring", 11);

	(void)n;
	return NULL;
}

static void
io_checks(void)
{
	struct rt_reactor *r = mk_reactor("t-io", -1);
	struct tio nop = { .io.cb = tio_cb }, rd = { .io.cb = tio_cb };
	struct io_uring_sqe *sqe;
	char buf[64] = { 0 };
	pthread_t th;
	int p[2];

	ck_assert_ptr_nonnull(rt_reactor_ring(r));
	ck_assert_int_eq(rt_reactor_core(r), -1);
	sqe = rt_reactor_get_sqe(r);
	io_uring_prep_nop(sqe);
	rt_io_set(sqe, &nop.io);
	run_until(r, &nop.done);
	ck_assert_int_eq(nop.res, 0);
	ck_assert_int_eq(nop.calls, 1);

	/* A pipe read completes when another thread writes (the reactor sleeps meanwhile). */
	ck_assert_int_eq(pipe(p), 0);
	sqe = rt_reactor_get_sqe(r);
	io_uring_prep_read(sqe, p[0], buf, sizeof(buf), 0);
	rt_io_set(sqe, &rd.io);
	ck_assert_int_eq(rt_reactor_flush(r), 0);
	ck_assert_int_eq(rt_reactor_run_once(r, 0), 0);
	ck_assert(!rd.done);
	ck_assert_int_eq(pthread_create(&th, NULL, pipe_writer, &p[1]), 0);
	run_until(r, &rd.done);
	pthread_join(th, NULL);
	ck_assert_int_eq(rd.res, 11);
	ck_assert_int_eq(rd.calls, 1);
	ck_assert_str_eq(buf, "hello, ring");

	/* res is passed up unchanged: a read of a closed fd number fails with -EBADF. */
	rd.done = false;
	sqe = rt_reactor_get_sqe(r);
	io_uring_prep_read(sqe, 1000000, buf, sizeof(buf), 0);
	rt_io_set(sqe, &rd.io);
	run_until(r, &rd.done);
	ck_assert_int_eq(rd.res, -EBADF);

	/* Many NOPs: more than the SQ holds, so get_sqe has to submit on its own. */
	{
		enum { N = 2000 };
		static struct tio many[N];
		int i, calls = 0;
		bool all = false;

		for (i = 0; i < N; i++) {
			many[i].io.cb = tio_cb;
			many[i].calls = 0;
			sqe = rt_reactor_get_sqe(r);
			io_uring_prep_nop(sqe);
			rt_io_set(sqe, &many[i].io);
		}
		while (!all) {
			ck_assert_int_ge(rt_reactor_run_once(r, 1000), 0);
			for (calls = 0, i = 0; i < N; i++)
				calls += many[i].calls;
			all = calls == N;
		}
		for (i = 0; i < N; i++)
			ck_assert_int_eq(many[i].calls, 1);
	}
	close(p[0]);
	close(p[1]);
	rt_reactor_destroy(&r);
}

START_TEST(test_io_default)
{
	unsetenv("TESSERA_RING_MODE");
	io_checks();
}
END_TEST

START_TEST(test_io_coop_mode)
{
	setenv("TESSERA_RING_MODE", "coop", 1);
	io_checks();
	unsetenv("TESSERA_RING_MODE");
}
END_TEST

START_TEST(test_io_plain_mode)
{
	setenv("TESSERA_RING_MODE", "plain", 1);
	io_checks();
	unsetenv("TESSERA_RING_MODE");
}
END_TEST

/* Busy-poll reactor on its own thread still completes I/O and messages. */
struct bp {
	struct rt_msg m;
	struct tio rd;
	int fd;
	char buf[16];
};

static void
bp_arm(void *arg)
{
	struct bp *b = arg;
	struct io_uring_sqe *sqe = rt_reactor_get_sqe(rt_reactor_current());

	io_uring_prep_read(sqe, b->fd, b->buf, sizeof(b->buf), 0);
	rt_io_set(sqe, &b->rd.io);
}

START_TEST(test_busy_poll_thread)
{
	struct rt_reactor_opts o;
	struct rt_reactor *r;
	uint64_t dl = rt_now_us() + DEADLINE_US;
	static struct bp b;
	ssize_t n;
	int p[2];

	memset(&b, 0, sizeof(b));
	rt_reactor_opts_init(&o);
	o.busy_poll = true;
	o.name = "t-busy";
	ck_assert_int_eq(rt_reactor_create(&o, &r), 0);
	ck_assert_int_eq(pipe(p), 0);
	b.fd = p[0];
	b.rd.io.cb = tio_cb;
	ck_assert_int_eq(rt_reactor_start(r), 0);
	rt_reactor_post(r, &b.m, bp_arm, &b);
	n = write(p[1], "x", 1);
	ck_assert_int_eq(n, 1);
	while (!__atomic_load_n(&b.rd.done, __ATOMIC_ACQUIRE)) {
		ck_assert_msg(rt_now_us() < dl, "busy-poll reactor missed a completion");
		sched_yield();
	}
	rt_reactor_destroy(&r);
	ck_assert_int_eq(b.rd.res, 1);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* ------------------------------------------------- destroy with pending */

static void
must_not_run(struct rt_io *io, int32_t res, uint32_t flags)
{
	ck_abort_msg("callback ran after destroy");
}

START_TEST(test_destroy_pending)
{
	static struct bp b1;
	struct rt_reactor *r;
	struct io_uring_sqe *sqe;
	struct rt_io never = { .cb = must_not_run };
	struct rt_timer t;
	char buf[8];
	int p[2];
	int i;

	ck_assert_int_eq(pipe(p), 0);
	/* Caller's-thread reactor: reads that never complete, a timer, a deferred msg. */
	r = mk_reactor("t-destroy", -1);
	for (i = 0; i < 4; i++) {
		sqe = rt_reactor_get_sqe(r);
		io_uring_prep_read(sqe, p[0], buf, sizeof(buf), 0);
		rt_io_set(sqe, &never);
	}
	ck_assert_int_eq(rt_reactor_flush(r), 0);
	rt_timer_init(&t, NULL);
	rt_timer_start(r, &t, 1000000, 0);
	ck_assert_int_eq(rt_reactor_run_once(r, 0), 0);
	sqe = rt_reactor_get_sqe(r); /* prepared, never flushed */
	io_uring_prep_read(sqe, p[0], buf, sizeof(buf), 0);
	rt_io_set(sqe, &never);
	rt_reactor_destroy(&r);
	ck_assert_ptr_null(r);
	rt_reactor_destroy(&r); /* NULL is fine */

	/* Reactor on its own thread with a read in flight. */
	memset(&b1, 0, sizeof(b1));
	b1.fd = p[0];
	b1.rd.io.cb = must_not_run;
	r = mk_reactor("t-destroy2", -1);
	ck_assert_int_eq(rt_reactor_start(r), 0);
	rt_reactor_post(r, &b1.m, bp_arm, &b1);
	rt_reactor_destroy(&r);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_alloc)
{
	struct rt_reactor *r = mk_reactor("t-alloc", 0);
	unsigned char *p = rt_reactor_alloc(r, 10000);
	size_t i;

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % 4096, 0);
	for (i = 0; i < 10000; i++)
		ck_assert_uint_eq(p[i], 0);
	memset(p, 0xab, 10000);
	rt_mem_free(p, 10000);
	p = rt_reactor_alloc(NULL, 1);
	ck_assert_ptr_nonnull(p);
	rt_mem_free(p, 1);
	rt_mem_free(NULL, 0);
	ck_assert_int_eq(rt_reactor_core(r), 0);
	rt_reactor_destroy(&r);
}
END_TEST

static Suite *
reactor_suite(void)
{
	Suite *s = suite_create("reactor");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_timer_order);
	tcase_add_test(tc, test_timer_repeat_stop_restart);
	tcase_add_test(tc, test_defer_order);
	tcase_add_test(tc, test_run_in_caller_thread);
	tcase_add_test(tc, test_io_default);
	tcase_add_test(tc, test_io_coop_mode);
	tcase_add_test(tc, test_io_plain_mode);
	tcase_add_test(tc, test_busy_poll_thread);
	tcase_add_test(tc, test_destroy_pending);
	tcase_add_test(tc, test_alloc);
	tcase_add_test(tc, test_post_from_threads);
	tcase_add_test(tc, test_cross_reactor_2);
	tcase_add_test(tc, test_cross_reactor_4);
	tcase_add_test(tc, test_cross_reactor_wakeups);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reactor_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
