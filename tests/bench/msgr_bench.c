/*
 * tessera-msgr-bench: round-trip latency of the messenger against a plain
 * blocking-socket baseline, measured in the same run.
 *
 * Messenger: a client reactor sends FRAME_T_PING frames (a Ping message and a
 * data segment of --size bytes, 4 KiB by default) to a server reactor over
 * loopback, which answers each with FRAME_T_PONG and the same amount of data;
 * --qd pings are kept outstanding (1 by default). Baseline: two plain threads
 * doing blocking send()/recv(MSG_WAITALL) of byte strings of exactly the
 * same sizes (an encoded ping frame, then a pong frame). Both are run with the
 * two ends pinned to the same core and to two different cores (--placement).
 *
 * Reported per run: p50/p99/p99.9/mean round-trip µs, round trips per second,
 * and CPU µs per round trip (process CPU time / round trips).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "osd.pb-c.h"
#include "rt_conf.h"
#include "rt_err.h"
#include "rt_log.h"
#include "rt_mempool.h"
#include "rt_msgr.h"

#define BENCH_MAX_QD 256
#define BENCH_HEAD_CAP 128

struct bench_cfg {
	int64_t count;
	uint64_t seconds_us;
	int64_t qd;
	uint64_t size;
	int64_t warmup;
	int placement; /* 0 both, 1 same, 2 cross */
	int transport; /* 0 both, 1 msgr, 2 socket */
	uint64_t poll_us;
	bool busy_poll;
	bool json;
	int64_t core_a, core_b;
};

static const char *const placement_choices[] = { "both", "same", "cross", NULL };
static const char *const transport_choices[] = { "both", "msgr", "socket", NULL };

static const struct rt_conf_opt bench_opts[] = {
	{ .name = "count", .short_name = 'n', .type = RT_CONF_INT,
	  .offset = offsetof(struct bench_cfg, count), .def = "20000", .min = 1,
	  .max = 100000000, .help = "round trips per run (after the warm-up)" },
	{ .name = "seconds", .short_name = 't', .type = RT_CONF_DURATION,
	  .offset = offsetof(struct bench_cfg, seconds_us), .def = "0",
	  .help = "stop a run after this long even if --count is not reached (0: no limit; "
		  "bare numbers are ms, e.g. 2s)" },
	{ .name = "qd", .short_name = 'q', .type = RT_CONF_INT,
	  .offset = offsetof(struct bench_cfg, qd), .def = "1", .min = 1, .max = BENCH_MAX_QD,
	  .help = "pings kept outstanding" },
	{ .name = "size", .short_name = 's', .type = RT_CONF_SIZE,
	  .offset = offsetof(struct bench_cfg, size), .def = "4K", .min = 0, .max = 16 << 20,
	  .help = "data segment bytes in each ping and pong" },
	{ .name = "warmup", .type = RT_CONF_INT, .offset = offsetof(struct bench_cfg, warmup),
	  .def = "1000", .min = 0, .max = 10000000,
	  .help = "round trips run and discarded before measuring" },
	{ .name = "placement", .short_name = 'p', .type = RT_CONF_ENUM,
	  .offset = offsetof(struct bench_cfg, placement), .def = "both",
	  .choices = placement_choices,
	  .help = "same: both ends on one core; cross: on two cores; both: run each" },
	{ .name = "transport", .type = RT_CONF_ENUM, .offset = offsetof(struct bench_cfg, transport),
	  .def = "both", .choices = transport_choices,
	  .help = "msgr: the messenger; socket: the blocking-socket baseline; both: each" },
	{ .name = "poll-us", .type = RT_CONF_DURATION, .offset = offsetof(struct bench_cfg, poll_us),
	  .def = "50us", .max = 10000000, .help = "reactor adaptive poll window" },
	{ .name = "busy-poll", .type = RT_CONF_BOOL, .offset = offsetof(struct bench_cfg, busy_poll),
	  .def = "false", .help = "reactors never sleep" },
	{ .name = "core-a", .type = RT_CONF_INT, .offset = offsetof(struct bench_cfg, core_a),
	  .def = "0", .min = 0, .max = 4095, .help = "first core (server, and both in 'same')" },
	{ .name = "core-b", .type = RT_CONF_INT, .offset = offsetof(struct bench_cfg, core_b),
	  .def = "1", .min = 0, .max = 4095, .help = "second core (client in 'cross')" },
	{ .name = "json", .type = RT_CONF_BOOL, .offset = offsetof(struct bench_cfg, json),
	  .def = "false", .help = "print the results as JSON" },
};

static const struct rt_conf_table bench_table = {
	.prog = "tessera-msgr-bench",
	.synopsis = "[OPTIONS]",
	.description = "Ping-pong of a data segment between two reactors over loopback TCP "
		       "through the messenger, next to a blocking-socket baseline measured in "
		       "the same run; reports round-trip percentiles, round trips per second "
		       "and CPU per round trip.",
	.opts = bench_opts,
	.n_opts = sizeof(bench_opts) / sizeof(bench_opts[0]),
};

static struct bench_cfg cfg;

struct result {
	const char *transport;
	const char *placement;
	int core_srv, core_cli;
	uint64_t n;
	double p50, p99, p999, mean, rate, cpu_us;
	double elapsed_s;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const uint64_t *s, uint64_t n, double p)
{
	uint64_t i;

	if (n == 0)
		return 0;
	i = (uint64_t)ceil(p * (double)n) - 1;
	if (i >= n)
		i = n - 1;
	return (double)s[i] / 1000.0;
}

static void
summarize(struct result *res, uint64_t *lat, uint64_t n, uint64_t t0, uint64_t t1, uint64_t c0,
	  uint64_t c1)
{
	double sum = 0;
	uint64_t i;

	qsort(lat, n, sizeof(*lat), cmp_u64);
	for (i = 0; i < n; i++)
		sum += (double)lat[i];
	res->n = n;
	res->p50 = pct(lat, n, 0.50);
	res->p99 = pct(lat, n, 0.99);
	res->p999 = pct(lat, n, 0.999);
	res->mean = n ? sum / (double)n / 1000.0 : 0;
	res->elapsed_s = (double)(t1 - t0) / 1e9;
	res->rate = res->elapsed_s > 0 ? (double)n / res->elapsed_s : 0;
	res->cpu_us = n ? (double)(c1 - c0) / 1000.0 / (double)n : 0;
}

/* Pin the calling thread; -1: leave it. */
static void
pin_self(int core)
{
	cpu_set_t set;

	if (core < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(core, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* The encoded sizes of a ping/pong frame header + message, as the messenger sends them. */
static size_t
frame_head_len(uint16_t type)
{
	Tessera__Ping ping = TESSERA__PING__INIT;
	unsigned char buf[BENCH_HEAD_CAP];

	ping.seq = 1000000;
	ping.sent_us = rt_now_us();
	return (size_t)frame_encode(buf, sizeof(buf), type, 1, 0, &ping.base, NULL, 0);
}

/* ============================================================ messenger */

struct slot {
	struct rt_msgr_send s;
	unsigned char head[BENCH_HEAD_CAP];
	struct iovec iov;
	uint64_t sent_ns;
	bool send_done;
	bool pong_seen;
	int idx;
};

struct mb {
	struct rt_reactor *rs, *rc;
	struct rt_msgr *ms, *mc;
	struct rt_listener *l;
	struct rt_conn *cc;
	uint16_t port;
	/* client side (client reactor only) */
	struct slot slots[BENCH_MAX_QD];
	unsigned char *cdata;
	uint64_t issued, done, target, warmup;
	uint64_t *lat;
	uint64_t nlat;
	uint64_t t_start, c_start, t_end, c_end, deadline_ns;
	bool stopping;
	/* server side (server reactor only) */
	struct rt_mempool *spool;
	unsigned char *sdata;
	/* results, read by the main thread after `finished` */
	_Atomic int finished;
	_Atomic int failed;
};

/* A pong being sent by the server. */
struct srv_send {
	struct rt_msgr_send s;
	unsigned char head[BENCH_HEAD_CAP];
	struct iovec iov;
	struct rt_conn *c;
};

static struct mb mb;

struct call {
	struct rt_msg m;
	void (*fn)(void *);
	void *arg;
	_Atomic int done;
};

static void
call_tramp(void *p)
{
	struct call *c = p;

	c->fn(c->arg);
	atomic_store(&c->done, 1);
}

static int
run_on(struct rt_reactor *r, void (*fn)(void *), void *arg)
{
	struct call c = { .fn = fn, .arg = arg };
	uint64_t dl = now_ns() + 30ull * 1000000000u;

	atomic_init(&c.done, 0);
	rt_reactor_post(r, &c.m, call_tramp, &c);
	while (!atomic_load(&c.done)) {
		if (now_ns() > dl)
			return -ETIMEDOUT;
		sched_yield();
	}
	return 0;
}

static void
srv_sent(struct rt_msgr_send *s, int rc)
{
	rt_mempool_put(mb.spool, s);
}

static void
srv_on_frame(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	     const struct iovec *data, int data_cnt)
{
	Tessera__Ping *p = (Tessera__Ping *)msg;
	struct srv_send *ss;
	int rc;

	if (hdr->type != FRAME_T_PING) {
		rt_conn_close(c, -EPROTO);
		return;
	}
	/* The pool holds 2*qd sends; the client never has more than qd pings out. */
	ss = rt_mempool_get(mb.spool);
	if (!ss) {
		atomic_store(&mb.failed, -ENOMEM);
		rt_conn_close(c, -ENOMEM);
		return;
	}
	ss->iov.iov_base = mb.sdata;
	ss->iov.iov_len = hdr->data_len;
	rc = rt_msgr_send_prep(&ss->s, ss->head, sizeof(ss->head), FRAME_T_PONG, hdr->tag,
			       FRAME_F_REPLY, &p->base, &ss->iov, hdr->data_len ? 1 : 0, srv_sent);
	if (rc == 0)
		rc = rt_conn_send(c, &ss->s);
	if (rc < 0) {
		rt_mempool_put(mb.spool, ss);
		rt_conn_close(c, rc);
	}
}

static void
srv_on_close(struct rt_conn *c, int reason)
{
}

static const struct rt_conn_ops srv_ops = {
	.on_frame = srv_on_frame,
	.on_close = srv_on_close,
};

static int
srv_accept(struct rt_listener *l, struct rt_conn *c)
{
	rt_conn_set_ops(c, &srv_ops, NULL);
	return 0;
}

static void
srv_setup(void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int rc;

	rc = rt_msgr_create(mb.rs, NULL, &mb.ms);
	if (rc == 0)
		rc = rt_mempool_create(mb.rs, sizeof(struct srv_send), (uint32_t)cfg.qd * 2 + 2, 64,
				       &mb.spool);
	if (rc == 0) {
		mb.sdata = rt_reactor_alloc(mb.rs, cfg.size ? cfg.size : 1);
		if (!mb.sdata)
			rc = -ENOMEM;
		else
			memset(mb.sdata, 0x5a, cfg.size);
	}
	if (rc == 0)
		rc = rt_msgr_parse_addr("127.0.0.1:0", &ss, &sl);
	if (rc == 0)
		rc = rt_msgr_listen(mb.ms, (struct sockaddr *)&ss, sl, 16, srv_accept, NULL, &mb.l);
	if (rc < 0) {
		atomic_store(&mb.failed, rc);
		return;
	}
	mb.port = rt_listener_port(mb.l);
}

static void
srv_teardown(void *arg)
{
	rt_msgr_destroy(&mb.ms);
	rt_mempool_destroy(&mb.spool);
	rt_mem_free(mb.sdata, cfg.size ? cfg.size : 1);
	mb.sdata = NULL;
}

static void cli_sent(struct rt_msgr_send *s, int rc);

static void
cli_issue(struct slot *sl)
{
	Tessera__Ping ping = TESSERA__PING__INIT;
	int rc;

	/* One clock read per send and one per reply, as the socket baseline does. */
	sl->sent_ns = now_ns();
	ping.seq = mb.issued;
	ping.sent_us = sl->sent_ns / 1000;
	sl->send_done = false;
	sl->pong_seen = false;
	rc = rt_msgr_send_prep(&sl->s, sl->head, sizeof(sl->head), FRAME_T_PING,
			       (uint64_t)sl->idx, 0, &ping.base, &sl->iov, cfg.size ? 1 : 0,
			       cli_sent);
	if (rc == 0)
		rc = rt_conn_send(mb.cc, &sl->s);
	if (rc < 0) {
		atomic_store(&mb.failed, rc);
		rt_conn_close(mb.cc, rc);
		return;
	}
	mb.issued++;
}

static void
cli_finish(void)
{
	if (mb.stopping)
		return;
	mb.stopping = true;
	mb.t_end = now_ns();
	mb.c_end = cpu_ns();
	rt_conn_close(mb.cc, -ECANCELED);
}

/* A slot is free when both its send completed and its pong arrived. t: now, or 0. */
static void
cli_slot_step(struct slot *sl, uint64_t t)
{
	if (!sl->send_done || !sl->pong_seen)
		return;
	if (t == 0)
		t = now_ns();
	mb.done++;
	if (mb.done == mb.warmup) {
		mb.t_start = t;
		mb.c_start = cpu_ns();
		if (cfg.seconds_us)
			mb.deadline_ns = t + cfg.seconds_us * 1000;
	}
	if (mb.done >= mb.target + mb.warmup || (mb.deadline_ns && t > mb.deadline_ns)) {
		if (mb.done >= mb.issued)
			cli_finish();
		return;
	}
	if (mb.issued < mb.target + mb.warmup)
		cli_issue(sl);
	else if (mb.done >= mb.issued)
		cli_finish();
}

static void
cli_sent(struct rt_msgr_send *s, int rc)
{
	struct slot *sl = (struct slot *)s;

	if (rc < 0)
		return; /* the close reports it */
	sl->send_done = true;
	cli_slot_step(sl, 0);
}

static void
cli_on_frame(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	     const struct iovec *data, int data_cnt)
{
	struct slot *sl;
	uint64_t t = now_ns();

	if (hdr->type != FRAME_T_PONG || hdr->tag >= (uint64_t)cfg.qd ||
	    hdr->data_len != cfg.size) {
		atomic_store(&mb.failed, -EPROTO);
		rt_conn_close(c, -EPROTO);
		return;
	}
	sl = &mb.slots[hdr->tag];
	if (mb.done >= mb.warmup && mb.nlat < (uint64_t)cfg.count && !mb.stopping)
		mb.lat[mb.nlat++] = t - sl->sent_ns;
	sl->pong_seen = true;
	cli_slot_step(sl, t);
}

static void
cli_on_close(struct rt_conn *c, int reason)
{
	if (!mb.stopping) {
		atomic_store(&mb.failed, reason ? reason : -EPIPE);
		mb.t_end = now_ns();
		mb.c_end = cpu_ns();
	}
	mb.cc = NULL;
	atomic_store(&mb.finished, 1);
}

static void
cli_on_connect(struct rt_conn *c)
{
	int i;

	if (mb.warmup == 0) {
		mb.t_start = now_ns();
		mb.c_start = cpu_ns();
		if (cfg.seconds_us)
			mb.deadline_ns = mb.t_start + cfg.seconds_us * 1000;
	}
	for (i = 0; i < cfg.qd && mb.issued < mb.target + mb.warmup; i++)
		cli_issue(&mb.slots[i]);
}

static const struct rt_conn_ops cli_ops = {
	.on_frame = cli_on_frame,
	.on_close = cli_on_close,
	.on_connect = cli_on_connect,
};

static void
cli_setup(void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char a[32];
	int rc, i;

	mb.cdata = rt_reactor_alloc(mb.rc, cfg.size ? cfg.size : 1);
	if (!mb.cdata) {
		atomic_store(&mb.failed, -ENOMEM);
		atomic_store(&mb.finished, 1);
		return;
	}
	memset(mb.cdata, 0xa5, cfg.size);
	for (i = 0; i < cfg.qd; i++) {
		mb.slots[i].idx = i;
		mb.slots[i].iov.iov_base = mb.cdata;
		mb.slots[i].iov.iov_len = cfg.size;
	}
	snprintf(a, sizeof(a), "127.0.0.1:%u", mb.port);
	rc = rt_msgr_create(mb.rc, NULL, &mb.mc);
	if (rc == 0)
		rc = rt_msgr_parse_addr(a, &ss, &sl);
	if (rc == 0)
		rc = rt_msgr_connect(mb.mc, (struct sockaddr *)&ss, sl, &cli_ops, NULL, &mb.cc);
	if (rc < 0) {
		atomic_store(&mb.failed, rc);
		atomic_store(&mb.finished, 1);
	}
}

static void
cli_teardown(void *arg)
{
	rt_msgr_destroy(&mb.mc);
	rt_mem_free(mb.cdata, cfg.size ? cfg.size : 1);
	mb.cdata = NULL;
}

static int
run_msgr(int core_srv, int core_cli, struct result *res)
{
	struct rt_reactor_opts o;
	uint64_t limit_ns;
	int rc;

	memset(&mb, 0, sizeof(mb));
	mb.target = (uint64_t)cfg.count;
	mb.warmup = (uint64_t)cfg.warmup;
	mb.lat = calloc((size_t)cfg.count, sizeof(*mb.lat));
	if (!mb.lat)
		return -ENOMEM;
	rt_reactor_opts_init(&o);
	o.poll_us = (unsigned)cfg.poll_us;
	o.busy_poll = cfg.busy_poll;
	o.name = "bench-srv";
	o.core = core_srv;
	rc = rt_reactor_create(&o, &mb.rs);
	if (rc < 0)
		goto out_lat;
	o.name = "bench-cli";
	o.core = core_cli;
	rc = rt_reactor_create(&o, &mb.rc);
	if (rc < 0)
		goto out_rs;
	if ((rc = rt_reactor_start(mb.rs)) < 0 || (rc = rt_reactor_start(mb.rc)) < 0)
		goto out_rc;
	rc = run_on(mb.rs, srv_setup, NULL);
	if (rc == 0)
		rc = atomic_load(&mb.failed);
	if (rc < 0)
		goto out_srv;
	rc = run_on(mb.rc, cli_setup, NULL);
	if (rc < 0)
		goto out_cli;
	/* Bounded: --seconds (+ slack) or a generous per-round-trip budget. */
	limit_ns = now_ns() + (cfg.seconds_us ? cfg.seconds_us * 1000 + 30000000000ull
					      : 60000000000ull + (uint64_t)(cfg.count + cfg.warmup) * 1000000u);
	while (!atomic_load(&mb.finished)) {
		if (now_ns() > limit_ns) {
			rc = -ETIMEDOUT;
			break;
		}
		usleep(1000); /* the waiting thread must not steal the cores being measured */
	}
	if (rc == 0)
		rc = atomic_load(&mb.failed);
	if (rc == 0)
		summarize(res, mb.lat, mb.nlat, mb.t_start, mb.t_end, mb.c_start, mb.c_end);
out_cli:
	run_on(mb.rc, cli_teardown, NULL);
out_srv:
	run_on(mb.rs, srv_teardown, NULL);
out_rc:
	rt_reactor_destroy(&mb.rc);
out_rs:
	rt_reactor_destroy(&mb.rs);
out_lat:
	free(mb.lat);
	mb.lat = NULL;
	return rc;
}

/* =============================================================== baseline */

struct sb {
	int lfd;
	int core_srv, core_cli;
	size_t ping_len, pong_len;
	uint64_t total;   /* warm-up + measured */
	_Atomic int srv_rc;
};

static int
full_send(int fd, const void *p, size_t len)
{
	const char *b = p;

	while (len > 0) {
		ssize_t n = send(fd, b, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
full_recv(int fd, void *p, size_t len)
{
	char *b = p;

	while (len > 0) {
		ssize_t n = recv(fd, b, len, MSG_WAITALL);

		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *
sb_server(void *arg)
{
	struct sb *s = arg;
	char *in = NULL, *out = NULL;
	int fd, one = 1, rc = 0;
	uint64_t i;

	pin_self(s->core_srv);
	fd = accept(s->lfd, NULL, NULL);
	if (fd < 0) {
		atomic_store(&s->srv_rc, -errno);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	in = malloc(s->ping_len);
	out = malloc(s->pong_len);
	if (!in || !out) {
		rc = -ENOMEM;
		goto out;
	}
	memset(out, 0x5a, s->pong_len);
	for (i = 0; i < s->total; i++) {
		rc = full_recv(fd, in, s->ping_len);
		if (rc == 0)
			rc = full_send(fd, out, s->pong_len);
		if (rc < 0)
			break;
	}
out:
	atomic_store(&s->srv_rc, rc);
	free(in);
	free(out);
	close(fd);
	return NULL;
}

static int
run_socket(int core_srv, int core_cli, struct result *res)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	struct sb s;
	pthread_t th;
	uint64_t *lat = NULL, *sent = NULL;
	char *ping = NULL, *pong = NULL;
	uint64_t t0 = 0, c0 = 0, t1, c1, n = 0, i, deadline = 0, inflight = 0, issued = 0;
	int fd = -1, one = 1, rc;

	memset(&s, 0, sizeof(s));
	s.core_srv = core_srv;
	s.core_cli = core_cli;
	s.ping_len = frame_head_len(FRAME_T_PING) + cfg.size;
	s.pong_len = frame_head_len(FRAME_T_PONG) + cfg.size;
	s.total = (uint64_t)(cfg.count + cfg.warmup);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s.lfd < 0)
		return -errno;
	if (bind(s.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s.lfd, 4) < 0 ||
	    getsockname(s.lfd, (struct sockaddr *)&a, &al) < 0) {
		rc = -errno;
		close(s.lfd);
		return rc;
	}
	lat = calloc((size_t)cfg.count, sizeof(*lat));
	sent = calloc((size_t)cfg.qd, sizeof(*sent));
	ping = malloc(s.ping_len);
	pong = malloc(s.pong_len);
	if (!lat || !sent || !ping || !pong) {
		rc = -ENOMEM;
		goto out_free;
	}
	memset(ping, 0xa5, s.ping_len);
	rc = pthread_create(&th, NULL, sb_server, &s);
	if (rc != 0) {
		rc = -rc;
		goto out_free;
	}
	pin_self(core_cli);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		rc = -errno;
		/* Unblock the server's accept. */
		shutdown(s.lfd, SHUT_RDWR);
		goto out_join;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cfg.warmup == 0) {
		t0 = now_ns();
		c0 = cpu_ns();
		deadline = cfg.seconds_us ? t0 + cfg.seconds_us * 1000 : 0;
	}
	/* Replies come back in order, so a ring of send times per slot suffices. */
	for (i = 0; i < s.total; i++) {
		uint64_t t;

		while (inflight < (uint64_t)cfg.qd && issued < s.total && !(deadline && now_ns() > deadline)) {
			sent[issued % (uint64_t)cfg.qd] = now_ns();
			rc = full_send(fd, ping, s.ping_len);
			if (rc < 0)
				goto out_close;
			issued++;
			inflight++;
		}
		if (inflight == 0)
			break;
		rc = full_recv(fd, pong, s.pong_len);
		if (rc < 0)
			goto out_close;
		t = now_ns();
		inflight--;
		if (i >= (uint64_t)cfg.warmup && n < (uint64_t)cfg.count)
			lat[n++] = t - sent[i % (uint64_t)cfg.qd];
		if (i + 1 == (uint64_t)cfg.warmup) {
			t0 = t;
			c0 = cpu_ns();
			deadline = cfg.seconds_us ? t0 + cfg.seconds_us * 1000 : 0;
		}
	}
	t1 = now_ns();
	c1 = cpu_ns();
	summarize(res, lat, n, t0, t1, c0, c1);
	rc = 0;
out_close:
	/* Early stop (--seconds): the server sees EOF and ends. */
	shutdown(fd, SHUT_RDWR);
out_join:
	if (fd >= 0)
		close(fd);
	pthread_join(th, NULL);
	if (rc == 0 && atomic_load(&s.srv_rc) < 0 && atomic_load(&s.srv_rc) != -ECONNRESET)
		rc = atomic_load(&s.srv_rc);
out_free:
	close(s.lfd);
	free(lat);
	free(sent);
	free(ping);
	free(pong);
	pin_self(-1);
	return rc;
}

/* ================================================================== main */

static void
print_result(const struct result *r, bool first, bool last)
{
	if (cfg.json) {
		printf("%s    {\"transport\": \"%s\", \"placement\": \"%s\", \"core_server\": %d, "
		       "\"core_client\": %d, \"qd\": %lld, \"size\": %llu, \"round_trips\": %llu, "
		       "\"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, \"mean_us\": %.2f, "
		       "\"round_trips_per_s\": %.0f, \"cpu_us_per_round_trip\": %.2f}%s\n",
		       first ? "" : "", r->transport, r->placement, r->core_srv, r->core_cli,
		       (long long)cfg.qd, (unsigned long long)cfg.size, (unsigned long long)r->n,
		       r->p50, r->p99, r->p999, r->mean, r->rate, r->cpu_us, last ? "" : ",");
		return;
	}
	printf("%-9s %-6s %5d/%-5d %9llu %9.1f %9.1f %9.1f %9.1f %11.0f %9.2f\n", r->placement,
	       r->transport, r->core_srv, r->core_cli, (unsigned long long)r->n, r->p50, r->p99,
	       r->p999, r->mean, r->rate, r->cpu_us);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct result results[4];
	int nres = 0, i, first_arg = 0, rc;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct {
		const char *name;
		int srv, cli;
	} places[2];
	int nplaces = 0;

	rc = rt_conf_parse(&bench_table, &cfg, argc, argv, &first_arg);
	if (rc == 1)
		return 0;
	if (rc < 0)
		return 2;
	if (first_arg < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", bench_table.prog, argv[first_arg]);
		return 2;
	}
	if (cfg.core_a >= ncpu || cfg.core_b >= ncpu) {
		fprintf(stderr, "%s: this machine has %ld cores\n", bench_table.prog, ncpu);
		return 2;
	}
	if (cfg.placement != 2) {
		places[nplaces].name = "same";
		places[nplaces].srv = (int)cfg.core_a;
		places[nplaces].cli = (int)cfg.core_a;
		nplaces++;
	}
	if (cfg.placement != 1) {
		if (ncpu < 2 || cfg.core_a == cfg.core_b) {
			fprintf(stderr, "%s: 'cross' needs two different cores; skipped\n",
				bench_table.prog);
		} else {
			places[nplaces].name = "cross";
			places[nplaces].srv = (int)cfg.core_a;
			places[nplaces].cli = (int)cfg.core_b;
			nplaces++;
		}
	}
	if (!cfg.json) {
		printf("# tessera-msgr-bench: %lld round trips (+%lld warm-up), qd %lld, %llu-byte "
		       "data segments, ping frame %zu+%llu bytes, pong %zu+%llu bytes\n",
		       (long long)cfg.count, (long long)cfg.warmup, (long long)cfg.qd,
		       (unsigned long long)cfg.size, frame_head_len(FRAME_T_PING),
		       (unsigned long long)cfg.size, frame_head_len(FRAME_T_PONG),
		       (unsigned long long)cfg.size);
		printf("%-9s %-6s %11s %9s %9s %9s %9s %9s %11s %9s\n", "placement", "xport",
		       "srv/cli", "rts", "p50_us", "p99_us", "p999_us", "mean_us", "rt/s",
		       "cpu_us/rt");
	}
	/* Interleave the two transports per placement: same conditions, same run. */
	for (i = 0; i < nplaces; i++) {
		int t;

		for (t = 0; t < 2; t++) {
			struct result *r = &results[nres];
			bool msgr = t == 0;

			if ((msgr && cfg.transport == 2) || (!msgr && cfg.transport == 1))
				continue;
			memset(r, 0, sizeof(*r));
			r->transport = msgr ? "msgr" : "socket";
			r->placement = places[i].name;
			r->core_srv = places[i].srv;
			r->core_cli = places[i].cli;
			rc = msgr ? run_msgr(places[i].srv, places[i].cli, r)
				  : run_socket(places[i].srv, places[i].cli, r);
			if (rc < 0) {
				fprintf(stderr, "%s: %s/%s run failed: " DF_RC "\n", bench_table.prog,
					r->placement, r->transport, DP_RC(rc));
				return 1;
			}
			if (!cfg.json)
				print_result(r, false, false);
			nres++;
		}
	}
	if (cfg.json) {
		printf("{\"bench\": \"msgr\", \"qd\": %lld, \"size\": %llu, \"results\": [\n",
		       (long long)cfg.qd, (unsigned long long)cfg.size);
		for (i = 0; i < nres; i++)
			print_result(&results[i], i == 0, i == nres - 1);
		printf("]}\n");
	}
	return 0;
}
