/*
 * io_check: libtessera I/O against a real cluster (driven by test_io_*.sh).
 *
 *   io_check basic MON        every I/O function (sync, aio, queue + fd protocol
 *                             with poll()), data verification, error cases,
 *                             compare-and-write, I/O on a removed volume
 *   io_check threads MON      8 threads doing aio on one volume, verified
 *   io_check load MON SECS    queue I/O (QD 16) for SECS seconds with every
 *                             block verified; prints progress lines "ops N";
 *                             SIGUSR1 ends it early (then the final pass runs)
 *   io_check unreachable MON  (all OSDs down) a write fails with -ETIMEDOUT
 *                             within op_timeout (3 s) + slack, never hangs
 *   io_check bench MON QD SECS write|read   4 KiB random I/O through a queue;
 *                             prints IOPS, p50/p99 latency, CPU us per I/O
 *
 * Exit 0 when every check passed; "FAIL: ..." and exit 1 otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "tessera/tessera.h"

#define MiB (1024u * 1024u)
#define BLK 4096u

static int g_checks;

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

#define CHECK(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail(__VA_ARGS__);                                                         \
		g_checks++;                                                                        \
	} while (0)

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Block b of "generation" gen: a recognisable, verifiable pattern. */
static void
fill_block(uint8_t *p, uint64_t vol_off, uint64_t gen)
{
	uint64_t x = vol_off * 0x9E3779B97F4A7C15ull ^ (gen + 1) * 0xBF58476D1CE4E5B9ull;

	for (unsigned i = 0; i < BLK; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
	memcpy(p, &vol_off, 8);
	memcpy(p + 8, &gen, 8);
}

static void
fill(uint8_t *p, uint64_t vol_off, size_t len, uint64_t gen)
{
	for (size_t o = 0; o < len; o += BLK)
		fill_block(p + o, vol_off + o, gen);
}

static bool
check_fill(const uint8_t *p, uint64_t vol_off, size_t len, uint64_t gen)
{
	static _Thread_local uint8_t want[BLK];

	for (size_t o = 0; o < len; o += BLK) {
		fill_block(want, vol_off + o, gen);
		if (memcmp(want, p + o, BLK) != 0)
			return false;
	}
	return true;
}

static bool
is_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void *
xalloc(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, BLK, len ? len : BLK) != 0)
		fail("out of memory");
	return p;
}

static struct tsr_cluster *
connect_cluster(const char *mon, const char *extra)
{
	struct tsr_cluster *cl;
	int rc;

	rc = tsr_cluster_create(&cl);
	CHECK(rc == 0, "cluster_create: %d", rc);
	rc = tsr_conf_set(cl, "mon", mon);
	CHECK(rc == 0, "conf mon: %s", tsr_strerror(rc));
	if (getenv("TESSERA_CONF")) { /* e.g. log_level = debug */
		rc = tsr_conf_read_file(cl, getenv("TESSERA_CONF"));
		CHECK(rc == 0, "TESSERA_CONF: %s", tsr_strerror(rc));
	}
	if (extra) {
		rc = tsr_conf_parse_string(cl, extra);
		CHECK(rc == 0, "conf '%s': %s", extra, tsr_strerror(rc));
	}
	rc = tsr_cluster_connect(cl);
	CHECK(rc == 0, "connect: %s", tsr_strerror(rc));
	return cl;
}

static struct tsr_volume *
make_volume(struct tsr_cluster *cl, const char *name, uint64_t size, uint32_t obj)
{
	struct tsr_volume_opts o = { .pool = NULL, .object_size = obj, .features = 0 };
	struct tsr_volume *vol;
	int rc;

	rc = tsr_volume_create(cl, name, size, &o);
	CHECK(rc == 0 || rc == -EEXIST, "volume_create %s: %s", name, tsr_strerror(rc));
	rc = tsr_volume_open(cl, name, &vol);
	CHECK(rc == 0, "volume_open %s: %s", name, tsr_strerror(rc));
	return vol;
}

/* ------------------------------------------------------------------ basic */

static void
basic_sync(struct tsr_volume *vol, uint64_t size, uint32_t obj)
{
	size_t len = 3 * MiB;
	uint64_t off = obj / 2; /* crosses object boundaries */
	uint8_t *w = xalloc(len), *r = xalloc(len);
	uint64_t mis = 0;
	ssize_t n;
	int rc;

	/* Never written: zeroes. */
	memset(r, 0xAA, len);
	n = tsr_read(vol, off, len, r);
	CHECK(n == (ssize_t)len, "read unwritten: %zd", n);
	CHECK(is_zero(r, len), "unwritten range reads as zeroes");

	fill(w, off, len, 1);
	n = tsr_write(vol, off, len, w);
	CHECK(n == (ssize_t)len, "write 3 MiB across objects: %zd (%s)", n, tsr_strerror((int)n));
	memset(r, 0, len);
	n = tsr_read(vol, off, len, r);
	CHECK(n == (ssize_t)len, "read back: %zd", n);
	CHECK(check_fill(r, off, len, 1), "read back equals written (3 MiB across objects)");
	/* A read of part of it, unaligned to objects. */
	n = tsr_read(vol, off + 8192, 65536, r);
	CHECK(n == 65536 && check_fill(r, off + 8192, 65536, 1), "partial read");

	/* writev / readv with uneven fragments (still 4 KiB-multiple in total). */
	{
		uint8_t *a = xalloc(3 * BLK), *b = xalloc(BLK), *c = xalloc(obj);
		struct iovec iov[4] = { { a, 1000 }, { a + 1000, 3 * BLK - 1000 }, { b, BLK },
					{ c, obj } };
		uint64_t voff = obj - 2 * BLK;
		size_t tot = 4 * BLK + obj;
		uint8_t *flat = xalloc(tot);

		fill(flat, voff, tot, 2);
		memcpy(a, flat, 3 * BLK);
		memcpy(b, flat + 3 * BLK, BLK);
		memcpy(c, flat + 4 * BLK, obj);
		n = tsr_writev(vol, iov, 4, voff);
		CHECK(n == (ssize_t)tot, "writev: %zd", n);
		memset(flat, 0, tot);
		n = tsr_read(vol, voff, tot, flat);
		CHECK(n == (ssize_t)tot && check_fill(flat, voff, tot, 2), "read after writev");
		memset(a, 0, 3 * BLK);
		memset(b, 0, BLK);
		memset(c, 0, obj);
		n = tsr_readv(vol, iov, 4, voff);
		CHECK(n == (ssize_t)tot, "readv: %zd", n);
		memcpy(flat, a, 3 * BLK);
		memcpy(flat + 3 * BLK, b, BLK);
		memcpy(flat + 4 * BLK, c, obj);
		CHECK(check_fill(flat, voff, tot, 2), "readv data");
		free(a);
		free(b);
		free(c);
		free(flat);
	}

	/* discard / write_zeroes: a partial object and a whole object (delete). */
	fill(w, 0, 2 * obj, 3);
	n = tsr_write(vol, 4 * (uint64_t)obj, 2 * obj, w);
	CHECK(n == (ssize_t)(2 * obj), "write 2 objects");
	rc = tsr_discard(vol, 4 * (uint64_t)obj + BLK, 2 * BLK);
	CHECK(rc == 0, "discard partial: %s", tsr_strerror(rc));
	rc = tsr_write_zeroes(vol, 5 * (uint64_t)obj, obj);
	CHECK(rc == 0, "write_zeroes whole object: %s", tsr_strerror(rc));
	n = tsr_read(vol, 4 * (uint64_t)obj, 2 * obj, r);
	CHECK(n == (ssize_t)(2 * obj), "read after discard");
	CHECK(check_fill(r, 0, BLK, 3) && is_zero(r + BLK, 2 * BLK) &&
		      check_fill(r + 3 * BLK, 3 * BLK, obj - 3 * BLK, 3) && is_zero(r + obj, obj),
	      "discarded / zeroed ranges read as zeroes, the rest kept");
	rc = tsr_discard(vol, 5 * (uint64_t)obj, obj); /* nothing there any more */
	CHECK(rc == 0, "discard of a deleted object: %s", tsr_strerror(rc));

	/* compare-and-write. */
	{
		uint64_t coff = 4 * (uint64_t)obj;
		uint8_t *cmp = xalloc(2 * BLK), *nb = xalloc(2 * BLK);

		fill(cmp, 0, BLK, 3);
		memset(cmp + BLK, 0, BLK); /* the discarded block reads as zeroes */
		fill(nb, coff, 2 * BLK, 4);
		n = tsr_compare_and_write(vol, coff, 2 * BLK, cmp, nb, &mis);
		CHECK(n == (ssize_t)(2 * BLK), "compare_and_write match: %zd (%s)", n,
		      tsr_strerror((int)n));
		n = tsr_read(vol, coff, 2 * BLK, r);
		CHECK(n == (ssize_t)(2 * BLK) && check_fill(r, coff, 2 * BLK, 4), "CAW wrote");
		memcpy(cmp, nb, 2 * BLK);
		cmp[BLK + 100] ^= 0xff;
		mis = 0;
		n = tsr_compare_and_write(vol, coff, 2 * BLK, cmp, w, &mis);
		CHECK(n == -EILSEQ, "compare_and_write miscompare: %zd", n);
		CHECK(mis == coff + BLK + 100, "mismatch offset %" PRIu64 " (want %" PRIu64 ")",
		      mis, coff + BLK + 100);
		n = tsr_read(vol, coff, 2 * BLK, r);
		CHECK(check_fill(r, coff, 2 * BLK, 4), "miscompare wrote nothing");
		n = tsr_compare_and_write(vol, obj - BLK, 2 * BLK, cmp, nb, NULL);
		CHECK(n == -EINVAL, "CAW across objects: %zd", n);
		free(cmp);
		free(nb);
	}

	rc = tsr_flush(vol);
	CHECK(rc == 0, "flush: %s", tsr_strerror(rc));

	/* Errors. */
	n = tsr_write(vol, 100, BLK, w);
	CHECK(n == -EINVAL, "unaligned offset: %zd", n);
	n = tsr_read(vol, 0, 100, r);
	CHECK(n == -EINVAL, "unaligned length: %zd", n);
	n = tsr_write(vol, size - BLK, 2 * BLK, w);
	CHECK(n == -ERANGE, "write past the end: %zd", n);
	n = tsr_read(vol, size, BLK, r);
	CHECK(n == -ERANGE, "read at the end: %zd", n);
	rc = tsr_discard(vol, size - BLK, 2 * BLK);
	CHECK(rc == -ERANGE, "discard past the end: %d", rc);
	n = tsr_read(vol, size - BLK, BLK, r);
	CHECK(n == BLK, "last block readable: %zd", n);
	n = tsr_readv(vol, NULL, 0, 0);
	CHECK(n == -EINVAL, "readv without iovecs: %zd", n);
	free(w);
	free(r);
	printf("sync I/O OK\n");
}

struct aio_ctx {
	int calls;
	ssize_t rv;
	pthread_mutex_t lock;
};

static void
aio_cb(struct tsr_completion *c, void *arg)
{
	struct aio_ctx *x = arg;

	pthread_mutex_lock(&x->lock);
	x->calls++;
	x->rv = tsr_aio_get_return_value(c);
	pthread_mutex_unlock(&x->lock);
}

static ssize_t
aio_wait_rv(struct tsr_completion *c)
{
	ssize_t rv;

	tsr_aio_wait_for_complete(c);
	CHECK(tsr_aio_is_complete(c), "is_complete after wait");
	rv = tsr_aio_get_return_value(c);
	tsr_aio_release(c);
	return rv;
}

static void
basic_aio(struct tsr_volume *vol, uint64_t size, uint32_t obj)
{
	enum { N = 16 };
	struct tsr_completion *cs[N], *c;
	uint8_t *w = xalloc(N * 64 * 1024), *r = xalloc(N * 64 * 1024);
	uint64_t base = 8 * (uint64_t)obj, mis = 0;
	struct aio_ctx x = { 0, 0, PTHREAD_MUTEX_INITIALIZER };
	int rc;

	fill(w, base, N * 64 * 1024, 10);
	for (int i = 0; i < N; i++) {
		rc = tsr_aio_create_completion(&x, NULL, &cs[i]);
		CHECK(rc == 0, "create_completion");
		CHECK(tsr_aio_get_arg(cs[i]) == &x, "get_arg");
		rc = tsr_aio_write(vol, base + (uint64_t)i * 65536, 65536, w + i * 65536, cs[i]);
		CHECK(rc == 0, "aio_write %d: %s", i, tsr_strerror(rc));
	}
	for (int i = 0; i < N; i++)
		CHECK(aio_wait_rv(cs[i]) == 65536, "aio_write %d result", i);
	/* Reads with callbacks. */
	for (int i = 0; i < N; i++) {
		rc = tsr_aio_create_completion(&x, aio_cb, &cs[i]);
		CHECK(rc == 0, "create_completion cb");
		rc = tsr_aio_read(vol, base + (uint64_t)i * 65536, 65536, r + i * 65536, cs[i]);
		CHECK(rc == 0, "aio_read %d: %s", i, tsr_strerror(rc));
	}
	for (int i = 0; i < N; i++) {
		tsr_aio_wait_for_complete(cs[i]);
		tsr_aio_release(cs[i]);
	}
	/* Waiters wake before the callback runs: give the last callbacks a moment. */
	for (int i = 0; i < 1000; i++) {
		int calls;

		pthread_mutex_lock(&x.lock);
		calls = x.calls;
		pthread_mutex_unlock(&x.lock);
		if (calls >= N)
			break;
		usleep(1000);
	}
	CHECK(x.calls == N, "every aio callback ran once (%d)", x.calls);
	CHECK(check_fill(r, base, N * 65536, 10), "aio read data");

	/* readv / writev / flush / discard / write_zeroes / CAW. */
	{
		struct iovec iov[2] = { { w, BLK }, { w + BLK, 3 * BLK } };
		uint8_t *cmp = xalloc(BLK);

		fill(w, base, 4 * BLK, 11);
		tsr_aio_create_completion(NULL, NULL, &c);
		CHECK(tsr_aio_writev(vol, iov, 2, base, c) == 0, "aio_writev");
		CHECK(aio_wait_rv(c) == 4 * BLK, "aio_writev result");
		tsr_aio_create_completion(NULL, NULL, &c);
		CHECK(tsr_aio_flush(vol, c) == 0, "aio_flush");
		CHECK(aio_wait_rv(c) == 0, "aio_flush result");
		memset(w, 0, 4 * BLK);
		tsr_aio_create_completion(NULL, NULL, &c);
		CHECK(tsr_aio_readv(vol, iov, 2, base, c) == 0, "aio_readv");
		CHECK(aio_wait_rv(c) == 4 * BLK, "aio_readv result");
		CHECK(check_fill(w, base, 4 * BLK, 11), "aio readv data");
		tsr_aio_create_completion(NULL, NULL, &c);
		CHECK(tsr_aio_discard(vol, base, BLK, c) == 0, "aio_discard");
		CHECK(aio_wait_rv(c) == 0, "aio_discard result");
		tsr_aio_create_completion(NULL, NULL, &c);
		CHECK(tsr_aio_write_zeroes(vol, base + BLK, BLK, c) == 0, "aio_write_zeroes");
		CHECK(aio_wait_rv(c) == 0, "aio_write_zeroes result");
		CHECK(tsr_read(vol, base, 4 * BLK, r) == 4 * BLK, "read");
		CHECK(is_zero(r, 2 * BLK) && check_fill(r + 2 * BLK, base + 2 * BLK, 2 * BLK, 11),
		      "aio discard / write_zeroes data");
		memset(cmp, 0, BLK);
		fill(w, base, BLK, 12);
		tsr_aio_create_completion(NULL, NULL, &c);
		CHECK(tsr_aio_compare_and_write(vol, base, BLK, cmp, w, &mis, c) == 0, "aio_caw");
		CHECK(aio_wait_rv(c) == BLK, "aio_caw match");
		tsr_aio_create_completion(NULL, NULL, &c);
		CHECK(tsr_aio_compare_and_write(vol, base, BLK, cmp, w, &mis, c) == 0, "aio_caw 2");
		CHECK(aio_wait_rv(c) == -EILSEQ, "aio_caw miscompare");
		{
			uint64_t first = 0;

			while (first < BLK && w[first] == 0)
				first++;
			CHECK(mis == base + first, "aio miscompare offset %" PRIu64, mis);
		}
		free(cmp);
	}
	/* Submission errors: c does not complete and stays reusable. */
	tsr_aio_create_completion(NULL, NULL, &c);
	CHECK(tsr_aio_write(vol, size, BLK, w, c) == -ERANGE, "aio past the end");
	CHECK(tsr_aio_read(vol, 1, BLK, r, c) == -EINVAL, "aio unaligned");
	CHECK(!tsr_aio_is_complete(c), "failed submission does not complete");
	tsr_aio_release(c);
	free(w);
	free(r);
	printf("aio OK\n");
}

struct qcb {
	int calls;
	ssize_t last;
	int errors;
};

static void
q_cb(void *arg, ssize_t result)
{
	struct qcb *x = arg;

	x->calls++;
	x->last = result;
	if (result < 0)
		x->errors++;
}

/* Drive q until want callbacks ran, blocking on its fd with poll() between. */
static void
q_drain(struct tsr_queue *q, struct qcb *x, int want)
{
	uint64_t deadline = now_us() + 30000000;

	while (x->calls < want) {
		int n = tsr_queue_poll(q, 0);

		CHECK(n >= 0, "queue_poll: %d", n);
		if (n == 0 && x->calls < want) {
			struct pollfd pfd = { .fd = tsr_queue_fd(q), .events = POLLIN };
			int pr = poll(&pfd, 1, 10000);

			CHECK(pr >= 0, "poll");
			CHECK(pr == 1 || x->calls >= want, "queue fd did not become readable in 10 s "
			      "(%d of %d callbacks)", x->calls, want);
		}
		CHECK(now_us() < deadline, "queue I/O did not finish in 30 s");
	}
}

static void
basic_queue(struct tsr_cluster *cl, struct tsr_volume *vol, uint64_t size, uint32_t obj)
{
	enum { N = 32 };
	struct tsr_queue *q;
	struct tsr_queue_stats st;
	struct qcb x = { 0, 0, 0 };
	uint64_t base = 16 * (uint64_t)obj, mis = 0;
	uint8_t *w = xalloc(N * 8 * BLK), *r = xalloc(N * 8 * BLK), *cmp = xalloc(BLK);
	int rc, calls;

	rc = tsr_queue_create(cl, &q);
	CHECK(rc == 0, "queue_create: %s", tsr_strerror(rc));
	CHECK(tsr_queue_fd(q) >= 0, "queue_fd");
	CHECK(tsr_queue_poll(q, 0) == 0, "empty poll");
	fill(w, base, N * 8 * BLK, 20);
	/* queue_depth is 8 in this handle: the 9th submission is -EAGAIN. */
	for (int i = 0; i < N; i++) {
		do {
			rc = tsr_queue_write(q, vol, base + (uint64_t)i * 8 * BLK, 8 * BLK,
					     w + i * 8 * BLK, q_cb, &x);
			if (rc == -EAGAIN) {
				CHECK(tsr_queue_inflight(q) == 8, "EAGAIN only when full (%u)",
				      tsr_queue_inflight(q));
				CHECK(tsr_queue_wait(q, 10000000) > 0, "queue_wait");
			}
		} while (rc == -EAGAIN);
		CHECK(rc == 0, "queue_write %d: %s", i, tsr_strerror(rc));
	}
	while ((rc = tsr_queue_flush(q, vol, q_cb, &x)) == -EAGAIN)
		tsr_queue_wait(q, -1);
	CHECK(rc == 0, "queue_flush: %s", tsr_strerror(rc));
	q_drain(q, &x, N + 1);
	CHECK(x.errors == 0, "queue writes ok");
	CHECK(tsr_queue_inflight(q) == 0, "nothing in flight");
	calls = x.calls;
	for (int i = 0; i < N; i++) {
		while ((rc = tsr_queue_read(q, vol, base + (uint64_t)i * 8 * BLK, 8 * BLK,
					    r + i * 8 * BLK, q_cb, &x)) == -EAGAIN)
			tsr_queue_wait(q, -1);
		CHECK(rc == 0, "queue_read");
	}
	q_drain(q, &x, calls + N);
	CHECK(x.errors == 0 && check_fill(r, base, N * 8 * BLK, 20), "queue read data");
	/* readv / writev / discard / write_zeroes / CAW on the queue. */
	{
		struct iovec iov[3] = { { w, 100 }, { w + 100, BLK - 100 }, { w + BLK, BLK } };

		fill(w, base, 2 * BLK, 21);
		calls = x.calls;
		CHECK(tsr_queue_writev(q, vol, iov, 3, base, q_cb, &x) == 0, "queue_writev");
		q_drain(q, &x, calls + 1);
		CHECK(x.last == 2 * BLK, "writev result");
		memset(w, 0, 2 * BLK);
		CHECK(tsr_queue_readv(q, vol, iov, 3, base, q_cb, &x) == 0, "queue_readv");
		q_drain(q, &x, calls + 2);
		CHECK(x.last == 2 * BLK && check_fill(w, base, 2 * BLK, 21), "readv data");
		CHECK(tsr_queue_discard(q, vol, base, BLK, q_cb, &x) == 0, "queue_discard");
		CHECK(tsr_queue_write_zeroes(q, vol, base + BLK, BLK, q_cb, &x) == 0, "queue_wz");
		q_drain(q, &x, calls + 4);
		CHECK(x.errors == 0, "discard / write_zeroes ok");
		memset(cmp, 0, BLK);
		fill(w, base, BLK, 22);
		CHECK(tsr_queue_compare_and_write(q, vol, base, BLK, cmp, w, &mis, q_cb, &x) == 0,
		      "queue_caw");
		q_drain(q, &x, calls + 5);
		CHECK(x.last == BLK, "queue CAW match: %zd", x.last);
		CHECK(tsr_queue_compare_and_write(q, vol, base, BLK, cmp, w, &mis, q_cb, &x) == 0,
		      "queue_caw 2");
		q_drain(q, &x, calls + 6);
		{
			uint64_t first = 0;

			while (first < BLK && w[first] == 0)
				first++;
			CHECK(x.last == -EILSEQ && mis == base + first, "queue CAW miscompare");
		}
		x.errors--;
		CHECK(tsr_queue_read(q, vol, base, 2 * BLK, r, q_cb, &x) == 0, "read");
		q_drain(q, &x, calls + 7);
		CHECK(check_fill(r, base, BLK, 22) && is_zero(r + BLK, BLK), "queue ops data");
	}
	CHECK(tsr_queue_write(q, vol, size, BLK, w, q_cb, &x) == -ERANGE, "queue past the end");
	CHECK(tsr_queue_write(q, vol, BLK, 10, w, q_cb, &x) == -EINVAL, "queue unaligned");
	tsr_queue_get_stats(q, &st);
	CHECK(st.ops == (uint64_t)x.calls, "stats ops %" PRIu64 " == %d", st.ops, x.calls);
	CHECK(st.errors == 1 && st.timeouts == 0, "stats errors %" PRIu64, st.errors);
	CHECK(st.bytes >= (uint64_t)2 * N * 8 * BLK, "stats bytes");
	/* An idle queue's fd stays quiet after the protocol's poll. */
	CHECK(tsr_queue_poll(q, 0) == 0, "idle poll");
	{
		struct pollfd pfd = { .fd = tsr_queue_fd(q), .events = POLLIN };

		CHECK(poll(&pfd, 1, 50) == 0, "idle queue fd not readable");
	}
	CHECK(tsr_queue_destroy(q) == 0, "queue_destroy");
	free(w);
	free(r);
	free(cmp);
	printf("queue I/O OK\n");
}

static void
basic_removed(struct tsr_cluster *cl)
{
	struct tsr_volume *vol;
	uint8_t *b = xalloc(BLK);
	uint64_t deadline = now_us() + 15000000;
	ssize_t n;
	int rc;

	memset(b, 1, BLK);
	rc = tsr_volume_create(cl, "io-gone", 16 * MiB, NULL);
	CHECK(rc == 0, "create io-gone: %s", tsr_strerror(rc));
	/* An open handle that does not hold the volume (test hook), so remove succeeds. */
	setenv("TESSERA_TEST_SKIP_WATCH", "1", 1);
	rc = tsr_volume_open(cl, "io-gone", &vol);
	unsetenv("TESSERA_TEST_SKIP_WATCH");
	CHECK(rc == 0, "open io-gone: %s", tsr_strerror(rc));
	CHECK(tsr_write(vol, 0, BLK, b) == BLK, "write io-gone");
	rc = tsr_volume_remove(cl, "io-gone");
	CHECK(rc == 0, "remove io-gone: %s", tsr_strerror(rc));
	do {
		n = tsr_write(vol, 0, BLK, b);
		CHECK(now_us() < deadline, "I/O on a removed volume still %zd after 15 s", n);
		if (n != -ENOENT)
			usleep(20000); /* waiting for the map, not a timing assertion */
	} while (n != -ENOENT);
	CHECK(tsr_read(vol, 0, BLK, b) == -ENOENT, "read of a removed volume");
	CHECK(tsr_flush(vol) == -ENOENT, "flush of a removed volume");
	tsr_volume_close(vol);
	free(b);
	printf("removed volume OK\n");
}

static int
cmd_basic(const char *mon)
{
	struct tsr_cluster *cl = connect_cluster(mon, "queue_depth=8\nop_timeout=20");
	uint32_t obj = 1 * MiB;
	uint64_t size = 64 * MiB;
	struct tsr_volume *vol = make_volume(cl, "io-basic", size, obj);

	basic_sync(vol, size, obj);
	basic_aio(vol, size, obj);
	basic_queue(cl, vol, size, obj);
	basic_removed(cl);
	CHECK(tsr_volume_close(vol) == 0, "close");
	tsr_cluster_shutdown(cl);
	printf("basic: %d checks passed\n", g_checks);
	return 0;
}

/* ---------------------------------------------------------------- threads */

struct thr {
	struct tsr_volume *vol;
	int idx;
	uint64_t base;
	int errors;
	int ops;
};

static void *
thr_main(void *arg)
{
	struct thr *t = arg;
	enum { QD = 8, ROUNDS = 12, SZ = 16 * BLK };
	uint8_t *buf = xalloc(QD * SZ);

	for (int round = 0; round < ROUNDS; round++) {
		struct tsr_completion *c[QD];
		bool rd = round % 2 == 1;

		for (int i = 0; i < QD; i++) {
			uint64_t off = t->base + (uint64_t)i * SZ;
			int rc;

			if (!rd)
				fill(buf + i * SZ, off, SZ, (uint64_t)round / 2 + 100);
			else
				memset(buf + i * SZ, 0, SZ);
			if (tsr_aio_create_completion(NULL, NULL, &c[i]) < 0)
				fail("create_completion");
			rc = rd ? tsr_aio_read(t->vol, off, SZ, buf + i * SZ, c[i])
				: tsr_aio_write(t->vol, off, SZ, buf + i * SZ, c[i]);
			if (rc < 0)
				fail("thread %d submit: %s", t->idx, tsr_strerror(rc));
		}
		for (int i = 0; i < QD; i++) {
			uint64_t off = t->base + (uint64_t)i * SZ;
			ssize_t rv = aio_wait_rv(c[i]);

			t->ops++;
			if (rv != SZ) {
				fprintf(stderr, "thread %d: op result %zd\n", t->idx, rv);
				t->errors++;
			} else if (rd && !check_fill(buf + i * SZ, off, SZ,
						     (uint64_t)round / 2 + 100)) {
				fprintf(stderr, "thread %d: data mismatch at %" PRIu64 "\n",
					t->idx, off);
				t->errors++;
			}
		}
	}
	free(buf);
	return NULL;
}

static int
cmd_threads(const char *mon)
{
	struct tsr_cluster *cl = connect_cluster(mon, "io_threads=2");
	struct tsr_volume *vol = make_volume(cl, "io-threads", 64 * MiB, 0);
	pthread_t th[8];
	struct thr t[8];
	int errors = 0, ops = 0;

	for (int i = 0; i < 8; i++) {
		t[i] = (struct thr){ vol, i, (uint64_t)i * 2 * MiB + 4 * MiB - 64 * 1024, 0, 0 };
		pthread_create(&th[i], NULL, thr_main, &t[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		errors += t[i].errors;
		ops += t[i].ops;
	}
	CHECK(errors == 0, "8 threads: %d errors", errors);
	CHECK(tsr_volume_close(vol) == 0, "close");
	tsr_cluster_shutdown(cl);
	printf("threads: 8 threads, %d ops, 0 errors\n", ops);
	return 0;
}

/* ------------------------------------------------------------------- load */

#define LOAD_BLOCKS 2048 /* 8 MiB */
#define LOAD_QD 16

struct load {
	struct tsr_queue *q;
	struct tsr_volume *vol;
	uint64_t gen[LOAD_BLOCKS];  /* acknowledged generation of each block */
	uint8_t busy[LOAD_BLOCKS];
	uint8_t *bufs;
	uint64_t ops, errors, verified;
};

struct load_slot {
	struct load *ld;
	int idx;
	uint32_t blk;
	uint64_t gen;
	bool write;
};

static void load_issue(struct load_slot *s);

static void
load_cb(void *arg, ssize_t result)
{
	struct load_slot *s = arg;
	struct load *ld = s->ld;
	uint8_t *b = ld->bufs + (size_t)s->idx * BLK;

	ld->ops++;
	if (result != BLK) {
		fprintf(stderr, "load: %s of block %u: %s\n", s->write ? "write" : "read", s->blk,
			tsr_strerror((int)result));
		ld->errors++;
	} else if (s->write) {
		ld->gen[s->blk] = s->gen;
	} else {
		uint64_t g = ld->gen[s->blk];

		if (g == 0 ? !is_zero(b, BLK) : !check_fill(b, (uint64_t)s->blk * BLK, BLK, g)) {
			fprintf(stderr, "load: block %u does not hold generation %" PRIu64 "\n",
				s->blk, g);
			ld->errors++;
		}
		ld->verified++;
	}
	ld->busy[s->blk] = 0;
	load_issue(s);
}

static bool g_load_stop;
/* SIGUSR1: the script saw what it needed; stop issuing, drain, verify. */
static volatile sig_atomic_t g_load_sigstop;

static void
load_on_usr1(int sig)
{
	(void)sig;
	g_load_sigstop = 1;
}

static void
load_issue(struct load_slot *s)
{
	struct load *ld = s->ld;
	uint8_t *b = ld->bufs + (size_t)s->idx * BLK;
	int rc;

	if (g_load_stop)
		return;
	do
		s->blk = (uint32_t)(rand() % LOAD_BLOCKS);
	while (ld->busy[s->blk]);
	ld->busy[s->blk] = 1;
	s->write = rand() % 2;
	if (s->write) {
		s->gen = ld->ops + 1000;
		fill(b, (uint64_t)s->blk * BLK, BLK, s->gen);
		rc = tsr_queue_write(ld->q, ld->vol, (uint64_t)s->blk * BLK, BLK, b, load_cb, s);
	} else {
		rc = tsr_queue_read(ld->q, ld->vol, (uint64_t)s->blk * BLK, BLK, b, load_cb, s);
	}
	if (rc < 0)
		fail("load submit: %s", tsr_strerror(rc));
}

static int
cmd_load(const char *mon, int secs)
{
	struct tsr_cluster *cl = connect_cluster(mon, "op_timeout=60");
	struct load *ld = calloc(1, sizeof(*ld));
	struct load_slot slots[LOAD_QD];
	struct tsr_queue_stats st;
	uint64_t end = now_us() + (uint64_t)secs * 1000000u, next_print = 0;

	signal(SIGUSR1, load_on_usr1);
	ld->vol = make_volume(cl, "io-load", 64 * MiB, 0);
	ld->bufs = xalloc(LOAD_QD * BLK);
	CHECK(tsr_queue_create(cl, &ld->q) == 0, "queue_create");
	for (int i = 0; i < LOAD_QD; i++) {
		slots[i] = (struct load_slot){ ld, i, 0, 0, false };
		load_issue(&slots[i]);
	}
	while ((now_us() < end && !g_load_sigstop) || tsr_queue_inflight(ld->q) > 0) {
		if (now_us() >= end || g_load_sigstop)
			g_load_stop = true;
		tsr_queue_wait(ld->q, 100000);
		if (now_us() >= next_print) {
			printf("ops %" PRIu64 " verified %" PRIu64 " errors %" PRIu64 "\n", ld->ops,
			       ld->verified, ld->errors);
			fflush(stdout);
			next_print = now_us() + 1000000;
		}
	}
	/* Final pass: every block holds its last acknowledged generation. */
	{
		uint8_t *b = xalloc(LOAD_BLOCKS * BLK);

		CHECK(tsr_read(ld->vol, 0, LOAD_BLOCKS * BLK, b) == LOAD_BLOCKS * BLK, "final read");
		for (uint32_t i = 0; i < LOAD_BLOCKS; i++) {
			uint64_t g = ld->gen[i];

			if (g == 0 ? !is_zero(b + (size_t)i * BLK, BLK)
				   : !check_fill(b + (size_t)i * BLK, (uint64_t)i * BLK, BLK, g)) {
				fprintf(stderr, "final: block %u bad\n", i);
				ld->errors++;
			}
		}
		free(b);
	}
	tsr_queue_get_stats(ld->q, &st);
	printf("load done: ops %" PRIu64 " verified %" PRIu64 " errors %" PRIu64
	       " resends %" PRIu64 "\n", ld->ops, ld->verified, ld->errors, st.resends);
	CHECK(ld->errors == 0, "verification errors: %" PRIu64, ld->errors);
	CHECK(tsr_queue_destroy(ld->q) == 0, "queue_destroy");
	tsr_volume_close(ld->vol);
	tsr_cluster_shutdown(cl);
	free(ld->bufs);
	free(ld);
	return 0;
}

/* ------------------------------------------------------------ unreachable */

static int
cmd_unreachable(const char *mon)
{
	struct tsr_cluster *cl;
	struct tsr_volume *vol;
	struct tsr_queue *q;
	struct qcb x = { 0, 0, 0 };
	uint8_t *b = xalloc(BLK);
	uint64_t t0;
	ssize_t n;

	cl = connect_cluster(mon, "op_timeout=3");
	CHECK(tsr_volume_open(cl, "io-basic", &vol) == 0, "open");
	memset(b, 7, BLK);
	t0 = now_us();
	n = tsr_write(vol, 0, BLK, b);
	CHECK(n == -ETIMEDOUT, "write with every OSD down: %zd (%s)", n, tsr_strerror((int)n));
	CHECK(now_us() - t0 < 8000000, "timed out in %.1f s (op_timeout 3 s)",
	      (double)(now_us() - t0) / 1e6);
	CHECK(now_us() - t0 >= 2900000, "not before op_timeout");
	/* The same through a queue waiting on its fd: the timeout wakes the fd. */
	CHECK(tsr_queue_create(cl, &q) == 0, "queue_create");
	t0 = now_us();
	CHECK(tsr_queue_read(q, vol, 0, BLK, b, q_cb, &x) == 0, "queue_read");
	q_drain(q, &x, 1);
	CHECK(x.last == -ETIMEDOUT, "queue read: %zd", x.last);
	CHECK(now_us() - t0 < 8000000, "queue timed out in time");
	CHECK(tsr_queue_destroy(q) == 0, "destroy");
	tsr_volume_close(vol);
	tsr_cluster_shutdown(cl);
	free(b);
	printf("unreachable: -ETIMEDOUT within op_timeout OK\n");
	return 0;
}

/* ------------------------------------------------------------------ bench */

struct bslot {
	struct bench *bn;
	uint8_t *buf;
	uint64_t t0;
};

struct bench {
	struct tsr_queue *q;
	struct tsr_volume *vol;
	bool write, stop;
	uint64_t ops, errors, blocks;
	uint32_t *lat;
	size_t nlat, caplat;
};

static void bench_issue(struct bslot *s);

static void
bench_cb(void *arg, ssize_t result)
{
	struct bslot *s = arg;
	struct bench *bn = s->bn;
	uint64_t us = now_us() - s->t0;

	bn->ops++;
	if (result < 0)
		bn->errors++;
	if (bn->nlat < bn->caplat)
		bn->lat[bn->nlat++] = (uint32_t)us;
	if (!bn->stop)
		bench_issue(s);
}

static void
bench_issue(struct bslot *s)
{
	struct bench *bn = s->bn;
	uint64_t off = (uint64_t)(rand() % (int)bn->blocks) * BLK;
	int rc;

	s->t0 = now_us();
	rc = bn->write ? tsr_queue_write(bn->q, bn->vol, off, BLK, s->buf, bench_cb, s)
		       : tsr_queue_read(bn->q, bn->vol, off, BLK, s->buf, bench_cb, s);
	if (rc < 0)
		fail("bench submit: %s", tsr_strerror(rc));
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int
cmd_bench(const char *mon, int qd, int secs, bool write)
{
	struct tsr_cluster *cl = connect_cluster(mon, NULL);
	struct bench bn = { 0 };
	struct bslot *slots = calloc((size_t)qd, sizeof(*slots));
	uint64_t t0, t1;
	double c0, c1;

	bn.vol = make_volume(cl, "io-bench", 256 * MiB, 0);
	bn.write = write;
	bn.blocks = 256 * MiB / BLK;
	bn.caplat = 4u << 20;
	bn.lat = calloc(bn.caplat, sizeof(*bn.lat));
	CHECK(tsr_queue_create(cl, &bn.q) == 0, "queue_create");
	if (!write) { /* reads of written data: fill the first 256 MiB once */
		uint8_t *b = xalloc(4 * MiB);

		memset(b, 0x5a, 4 * MiB);
		for (uint64_t o = 0; o < 256 * MiB; o += 4 * MiB)
			{
				ssize_t pn = tsr_write(bn.vol, o, 4 * MiB, b);

				CHECK(pn == 4 * MiB, "prefill: %s", tsr_strerror((int)pn));
			}
		free(b);
	}
	for (int i = 0; i < qd; i++) {
		slots[i].bn = &bn;
		slots[i].buf = xalloc(BLK);
		memset(slots[i].buf, 0x33, BLK);
	}
	t0 = now_us();
	c0 = cpu_s();
	for (int i = 0; i < qd; i++)
		bench_issue(&slots[i]);
	while (now_us() - t0 < (uint64_t)secs * 1000000u)
		tsr_queue_wait(bn.q, 100000);
	bn.stop = true;
	while (tsr_queue_inflight(bn.q) > 0)
		tsr_queue_wait(bn.q, 100000);
	t1 = now_us();
	c1 = cpu_s();
	qsort(bn.lat, bn.nlat, sizeof(*bn.lat), cmp_u32);
	printf("%s QD%d 4KiB: %.0f IOPS, p50 %u us, p99 %u us, client CPU %.1f us/IO, "
	       "errors %" PRIu64 "\n", write ? "randwrite" : "randread", qd,
	       (double)bn.ops * 1e6 / (double)(t1 - t0), bn.lat[bn.nlat / 2],
	       bn.lat[bn.nlat * 99 / 100], (c1 - c0) * 1e6 / (double)bn.ops, bn.errors);
	CHECK(tsr_queue_destroy(bn.q) == 0, "destroy");
	tsr_volume_close(bn.vol);
	tsr_cluster_shutdown(cl);
	for (int i = 0; i < qd; i++)
		free(slots[i].buf);
	free(slots);
	free(bn.lat);
	return bn.errors ? 1 : 0;
}

int
main(int argc, char **argv)
{
	if (argc < 3 || !strcmp(argv[1], "--help")) {
		printf("usage: io_check basic|threads|unreachable MON | load MON SECS | "
		       "bench MON QD SECS write|read\n");
		return argc < 3 ? 2 : 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "basic"))
		return cmd_basic(argv[2]);
	if (!strcmp(argv[1], "threads"))
		return cmd_threads(argv[2]);
	if (!strcmp(argv[1], "unreachable"))
		return cmd_unreachable(argv[2]);
	if (!strcmp(argv[1], "load") && argc >= 4)
		return cmd_load(argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "bench") && argc >= 6)
		return cmd_bench(argv[2], atoi(argv[3]), atoi(argv[4]), !strcmp(argv[5], "write"));
	fprintf(stderr, "unknown command %s\n", argv[1]);
	return 2;
}
