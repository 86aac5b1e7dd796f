/*
 * Unit tests of the messenger over loopback: two reactor threads exchanging
 * framed messages with data segments (verified byte for byte, both ways,
 * owner-provided and default data buffers, data CRCs), peers that disconnect
 * mid-frame or send garbage (the connection closes with the right reason, the
 * listener keeps serving), connect with retry (refused after N attempts, or
 * succeeding once a listener appears), closes with sends queued, and
 * destroying a messenger with live connections. Waits poll against deadlines.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "osd.pb-c.h"
#include "rt_err.h"
#include "rt_msgr.h"

#define DEADLINE_US (60ull * 1000 * 1000)

/* ------------------------------------------------------------- harness */

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

/* Run fn(arg) on reactor r and wait for it. */
static void
run_on(struct rt_reactor *r, void (*fn)(void *), void *arg)
{
	struct call c = { .fn = fn, .arg = arg };
	uint64_t dl = rt_now_us() + DEADLINE_US;

	atomic_init(&c.done, 0);
	rt_reactor_post(r, &c.m, call_tramp, &c);
	while (!atomic_load(&c.done)) {
		ck_assert_msg(rt_now_us() < dl, "reactor call timed out");
		sched_yield();
	}
}

static void
wait_ge(_Atomic int *v, int want, const char *what)
{
	uint64_t dl = rt_now_us() + DEADLINE_US;

	while (atomic_load(v) < want) {
		ck_assert_msg(rt_now_us() < dl, "timed out waiting for %s (%d < %d)", what,
			      atomic_load(v), want);
		sched_yield();
	}
}

static struct rt_reactor *
start_reactor(const char *name, int core)
{
	struct rt_reactor_opts o;
	struct rt_reactor *r;

	rt_reactor_opts_init(&o);
	o.name = name;
	o.core = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? core : -1;
	ck_assert_int_eq(rt_reactor_create(&o, &r), 0);
	ck_assert_int_eq(rt_reactor_start(r), 0);
	return r;
}

static uint8_t
pat(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 131 + i * 7 + (i >> 8));
}

static void
fill(void *p, size_t len, uint64_t seq)
{
	uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = pat(seq, i);
}

/* Check iovecs against the pattern; returns the first bad offset or -1. */
static long
check_iov(const struct iovec *iov, int cnt, size_t len, uint64_t seq)
{
	size_t off = 0;
	int i;

	for (i = 0; i < cnt; i++) {
		const uint8_t *b = iov[i].iov_base;
		size_t j;

		for (j = 0; j < iov[i].iov_len; j++, off++)
			if (b[j] != pat(seq, off))
				return (long)off;
	}
	return off == len ? -1 : (long)off;
}

/* A frame to send, with its own buffers (test code may malloc). */
struct tframe {
	struct rt_msgr_send s;
	unsigned char head[128];
	struct iovec iov[3];
	unsigned char *data;
	size_t len;
	void *owner;
};

static struct tframe *
tframe_new(uint16_t type, uint64_t seq, size_t len, bool crc, int split, rt_msgr_send_cb cb)
{
	struct tframe *f = calloc(1, sizeof(*f));
	Tessera__Ping ping = TESSERA__PING__INIT;
	int cnt = 0;

	ck_assert_ptr_nonnull(f);
	f->len = len;
	if (len) {
		f->data = malloc(len);
		ck_assert_ptr_nonnull(f->data);
		fill(f->data, len, seq);
		/* Split the segment in up to 3 iovecs to exercise scatter-gather. */
		if (split && len >= 3) {
			f->iov[0] = (struct iovec){ f->data, len / 3 };
			f->iov[1] = (struct iovec){ f->data + len / 3, len / 3 };
			f->iov[2] = (struct iovec){ f->data + 2 * (len / 3), len - 2 * (len / 3) };
			cnt = 3;
		} else {
			f->iov[0] = (struct iovec){ f->data, len };
			cnt = 1;
		}
	}
	ping.seq = seq;
	ping.sent_us = rt_now_us();
	ck_assert_int_eq(rt_msgr_send_prep(&f->s, f->head, sizeof(f->head), type, seq,
					   crc ? FRAME_F_DATA_CRC : 0, &ping.base, f->iov, cnt, cb),
			 0);
	return f;
}

static void
tframe_free(struct tframe *f)
{
	free(f->data);
	free(f);
}

/* -------------------------------------------------- two-reactor exchange */

#define EX_N 600
#define EX_WINDOW 32

struct side {
	struct rt_reactor *r;
	struct rt_msgr *m;
	struct rt_listener *l;
	struct rt_conn *c;
	uint16_t port;
	uint64_t next_seq;      /* client: next ping to send */
	_Atomic int frames;     /* frames received and verified */
	_Atomic int bad;        /* verification failures */
	_Atomic int closes;
	_Atomic int close_reason;
	_Atomic int sends_ok;
	_Atomic int sends_failed;
	_Atomic int connects;
	int outstanding;
	unsigned char *own_buf; /* server: owner-provided data buffer */
	size_t own_len;
};

static struct side srv, cli;

static size_t
ex_len(uint64_t seq)
{
	static const size_t sizes[] = { 0, 1, 100, 4096, 4097, 65536, 200000, 4096, 12345 };

	if (seq % 97 == 50)
		return (1u << 20) + 17;
	return sizes[seq % (sizeof(sizes) / sizeof(sizes[0]))];
}

static void
sent_cb(struct rt_msgr_send *s, int rc)
{
	struct tframe *f = (struct tframe *)s;
	struct side *sd = f->owner;

	if (rc == 0)
		atomic_fetch_add(&sd->sends_ok, 1);
	else
		atomic_fetch_add(&sd->sends_failed, 1);
	tframe_free(f);
}

static int
srv_alloc_data(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	       struct iovec *iov, int max_iov)
{
	Tessera__Ping *p = (Tessera__Ping *)msg;

	ck_assert_int_eq(hdr->type, FRAME_T_PING);
	ck_assert_uint_eq(p->seq, hdr->tag);
	if (hdr->tag % 2 == 0)
		return 0; /* default buffer */
	/* Odd tags: land the data in our own buffer, in two pieces. */
	if (srv.own_len < hdr->data_len) {
		free(srv.own_buf);
		srv.own_buf = malloc(hdr->data_len + 1000);
		srv.own_len = hdr->data_len + 1000;
	}
	iov[0] = (struct iovec){ srv.own_buf, hdr->data_len / 2 };
	iov[1] = (struct iovec){ srv.own_buf + hdr->data_len / 2, srv.own_len - hdr->data_len / 2 };
	return 2;
}

static void
srv_on_frame(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	     const struct iovec *data, int data_cnt)
{
	Tessera__Ping *p = (Tessera__Ping *)msg;
	struct tframe *f;

	if (hdr->type != FRAME_T_PING || p->seq != hdr->tag || hdr->data_len != ex_len(hdr->tag) ||
	    check_iov(data, data_cnt, hdr->data_len, hdr->tag) != -1) {
		atomic_fetch_add(&srv.bad, 1);
		return;
	}
	if (hdr->tag % 2 == 1 && hdr->data_len > 0 && data[0].iov_base != srv.own_buf)
		atomic_fetch_add(&srv.bad, 1);
	atomic_fetch_add(&srv.frames, 1);
	/* Echo it back as a pong with the same data (a fresh copy). */
	f = tframe_new(FRAME_T_PONG, hdr->tag, hdr->data_len, hdr->tag % 3 == 0, 0, sent_cb);
	f->owner = &srv;
	ck_assert_int_eq(rt_conn_send(c, &f->s), 0);
}

static void
srv_on_close(struct rt_conn *c, int reason)
{
	atomic_store(&srv.close_reason, reason);
	atomic_fetch_add(&srv.closes, 1);
}

static const struct rt_conn_ops srv_ops = {
	.on_frame = srv_on_frame,
	.on_close = srv_on_close,
	.alloc_data = srv_alloc_data,
};

static int
srv_accept(struct rt_listener *l, struct rt_conn *c)
{
	rt_conn_set_ops(c, &srv_ops, rt_listener_user(l));
	return 0;
}

static void
srv_setup(void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	ck_assert_int_eq(rt_msgr_create(srv.r, NULL, &srv.m), 0);
	ck_assert_int_eq(rt_msgr_parse_addr("127.0.0.1:0", &ss, &sl), 0);
	ck_assert_int_eq(rt_msgr_listen(srv.m, (struct sockaddr *)&ss, sl, 64, srv_accept, &srv,
					&srv.l),
			 0);
	srv.port = rt_listener_port(srv.l);
	ck_assert_uint_ne(srv.port, 0);
}

static void
srv_teardown(void *arg)
{
	rt_msgr_destroy(&srv.m);
	ck_assert_ptr_null(srv.m);
	free(srv.own_buf);
	srv.own_buf = NULL;
	srv.own_len = 0;
}

static void
cli_pump(struct rt_conn *c)
{
	while (cli.outstanding < EX_WINDOW && cli.next_seq < EX_N) {
		uint64_t seq = cli.next_seq++;
		struct tframe *f = tframe_new(FRAME_T_PING, seq, ex_len(seq), seq % 5 == 0,
					      (int)(seq % 2), sent_cb);

		f->owner = &cli;
		ck_assert_int_eq(rt_conn_send(c, &f->s), 0);
		cli.outstanding++;
	}
}

static void
cli_on_frame(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	     const struct iovec *data, int data_cnt)
{
	Tessera__Ping *p = (Tessera__Ping *)msg;

	if (hdr->type != FRAME_T_PONG || p->seq != hdr->tag || hdr->data_len != ex_len(hdr->tag) ||
	    check_iov(data, data_cnt, hdr->data_len, hdr->tag) != -1) {
		atomic_fetch_add(&cli.bad, 1);
		return;
	}
	cli.outstanding--;
	if (atomic_fetch_add(&cli.frames, 1) + 1 == EX_N) {
		/* All answered: close from inside a callback. */
		rt_conn_close(c, -ECANCELED);
		rt_conn_close(c, -EIO); /* idempotent: the first reason wins */
		return;
	}
	cli_pump(c);
}

static void
cli_on_close(struct rt_conn *c, int reason)
{
	atomic_store(&cli.close_reason, reason);
	atomic_fetch_add(&cli.closes, 1);
}

static void
cli_on_connect(struct rt_conn *c)
{
	atomic_fetch_add(&cli.connects, 1);
	cli_pump(c);
}

static const struct rt_conn_ops cli_ops = {
	.on_frame = cli_on_frame,
	.on_close = cli_on_close,
	.on_connect = cli_on_connect,
};

static void
cli_connect(void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char a[64];

	snprintf(a, sizeof(a), "127.0.0.1:%u", srv.port);
	ck_assert_int_eq(rt_msgr_create(cli.r, NULL, &cli.m), 0);
	ck_assert_int_eq(rt_msgr_parse_addr(a, &ss, &sl), 0);
	ck_assert_int_eq(rt_msgr_connect(cli.m, (struct sockaddr *)&ss, sl, &cli_ops, &cli, &cli.c),
			 0);
	ck_assert_int_eq(atomic_load(&cli.connects), 0); /* never inside the call */
}

static void
cli_teardown(void *arg)
{
	rt_msgr_destroy(&cli.m);
}

static void
sides_reset(void)
{
	memset(&srv, 0, sizeof(srv));
	memset(&cli, 0, sizeof(cli));
}

START_TEST(test_exchange)
{
	sides_reset();
	srv.r = start_reactor("srv", 0);
	cli.r = start_reactor("cli", 1);
	run_on(srv.r, srv_setup, NULL);
	run_on(cli.r, cli_connect, NULL);
	wait_ge(&cli.frames, EX_N, "replies");
	wait_ge(&cli.closes, 1, "client close");
	wait_ge(&srv.closes, 1, "server close");
	ck_assert_int_eq(atomic_load(&srv.bad), 0);
	ck_assert_int_eq(atomic_load(&cli.bad), 0);
	ck_assert_int_eq(atomic_load(&srv.frames), EX_N);
	ck_assert_int_eq(atomic_load(&cli.connects), 1);
	ck_assert_int_eq(atomic_load(&cli.close_reason), -ECANCELED);
	ck_assert_int_eq(atomic_load(&srv.close_reason), -ESHUTDOWN);
	ck_assert_int_eq(atomic_load(&cli.sends_ok), EX_N);
	ck_assert_int_eq(atomic_load(&srv.sends_ok) + atomic_load(&srv.sends_failed), EX_N);
	run_on(cli.r, cli_teardown, NULL);
	run_on(srv.r, srv_teardown, NULL);
	ck_assert_int_eq(atomic_load(&cli.closes), 1);
	ck_assert_int_eq(atomic_load(&srv.closes), 1);
	rt_reactor_destroy(&cli.r);
	rt_reactor_destroy(&srv.r);
}
END_TEST

/* ------------------------------------------------- raw peers misbehaving */

static int
raw_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void
raw_write(int fd, const void *p, size_t len)
{
	ck_assert_int_eq(send(fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* The server must close our socket: recv sees EOF (or a reset), never hangs. */
static void
raw_expect_closed(int fd)
{
	struct timeval tv = { .tv_sec = 30 };
	char b[256];
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	do {
		n = recv(fd, b, sizeof(b), 0);
	} while (n > 0);
	ck_assert_msg(n == 0 || errno == ECONNRESET, "server did not close (n=%zd errno=%d)", n,
		      errno);
}

/* Read one whole frame (the server's pong) so that our close is a clean FIN. */
static void
raw_read_frame(int fd, uint16_t want_type)
{
	unsigned char hb[FRAME_HDR_LEN];
	struct frame_limits lim;
	struct frame_hdr h;
	size_t left;

	frame_limits_init(&lim);
	ck_assert_int_eq(recv(fd, hb, sizeof(hb), MSG_WAITALL), FRAME_HDR_LEN);
	ck_assert_int_eq(frame_hdr_decode(hb, &lim, &h), 0);
	ck_assert_uint_eq(h.type, want_type);
	left = (size_t)h.msg_len + h.data_len;
	while (left > 0) {
		char b[4096];
		ssize_t n = recv(fd, b, left < sizeof(b) ? left : sizeof(b), 0);

		ck_assert_int_gt(n, 0);
		left -= (size_t)n;
	}
}

/* A valid ping frame, contiguous, with len bytes of data. */
static size_t
raw_frame(unsigned char *buf, size_t cap, uint64_t seq, size_t len, uint8_t flags)
{
	Tessera__Ping ping = TESSERA__PING__INIT;
	struct iovec iov;
	ssize_t n;

	ck_assert_uint_le(len + 64, cap);
	fill(buf + 64, len, seq); /* staged after the head, moved below */
	ping.seq = seq;
	iov.iov_base = buf + 64;
	iov.iov_len = len;
	n = frame_encode(buf, 64, FRAME_T_PING, seq, flags, &ping.base, &iov, len ? 1 : 0);
	ck_assert_int_gt(n, 0);
	memmove(buf + n, buf + 64, len);
	return (size_t)n + len;
}

static void
check_valid_frame_served(int expect_frames)
{
	unsigned char buf[8192];
	size_t n = raw_frame(buf, sizeof(buf), 3, ex_len(3), FRAME_F_DATA_CRC);
	int fd = raw_connect(srv.port);

	raw_write(fd, buf, n);
	wait_ge(&srv.frames, expect_frames, "valid frame after bad peers");
	close(fd);
}

START_TEST(test_disconnect_mid_frame)
{
	unsigned char buf[8192];
	size_t n;
	int fd, i;

	sides_reset();
	srv.r = start_reactor("srv", 0);
	run_on(srv.r, srv_setup, NULL);
	n = raw_frame(buf, sizeof(buf), 3, ex_len(3), 0);
	/* Cut at several points: inside the header, the message, the data segment. */
	{
		static const size_t cuts[] = { 10, 33, 40, 2000 };

		for (i = 0; i < 4; i++) {
			fd = raw_connect(srv.port);
			raw_write(fd, buf, cuts[i] < n ? cuts[i] : n - 1);
			close(fd);
			wait_ge(&srv.closes, i + 1, "close after partial frame");
			ck_assert_int_eq(atomic_load(&srv.close_reason), -EPROTO);
		}
	}
	/* A clean disconnect between frames is -ESHUTDOWN. */
	fd = raw_connect(srv.port);
	raw_write(fd, buf, n);
	wait_ge(&srv.frames, 1, "first full frame");
	raw_read_frame(fd, FRAME_T_PONG);
	close(fd);
	wait_ge(&srv.closes, 5, "close between frames");
	ck_assert_int_eq(atomic_load(&srv.close_reason), -ESHUTDOWN);
	check_valid_frame_served(2);
	ck_assert_int_eq(atomic_load(&srv.bad), 0);
	run_on(srv.r, srv_teardown, NULL);
	rt_reactor_destroy(&srv.r);
}
END_TEST

START_TEST(test_garbage_peers)
{
	unsigned char buf[8192], bad[8192];
	size_t n;
	int fd, closes = 0;
	struct frame_hdr_wire *w = (struct frame_hdr_wire *)bad;

	sides_reset();
	srv.r = start_reactor("srv", 0);
	run_on(srv.r, srv_setup, NULL);
	n = raw_frame(buf, sizeof(buf), 4, ex_len(4), FRAME_F_DATA_CRC);
	int i;

	for (i = 0; i < 6; i++) {
		int expect = 0;

		memcpy(bad, buf, n);
		switch (i) {
		case 0: /* bad magic */
			w->magic ^= 0x01010101u;
			expect = -RT_EBADMAGIC;
			break;
		case 1: /* header CRC mismatch */
			w->tag ^= 0x40;
			expect = -RT_EBADCRC;
			break;
		case 2: /* garbage protobuf: a valid header over random message bytes */
		{
			struct frame_hdr h = { .version = FRAME_VERSION, .type = FRAME_T_PING,
					       .msg_len = 8, .data_len = 0, .tag = 9 };

			frame_hdr_encode(bad, &h);
			memset(bad + 32, 0xff, 8);
			expect = -RT_EBADMSG_PB;
			break;
		}
		case 3: /* data CRC mismatch */
			bad[n - 1] ^= 0x5a;
			expect = -RT_ECSUM;
			break;
		case 4: /* oversized data segment */
		{
			struct frame_hdr h = { .version = FRAME_VERSION, .type = FRAME_T_PING,
					       .msg_len = 0, .data_len = 0xfffffff0u, .tag = 9 };

			frame_hdr_encode(bad, &h);
			expect = -RT_ETOOBIG;
			break;
		}
		case 5: /* unknown type */
		{
			struct frame_hdr h = { .version = FRAME_VERSION, .type = 63,
					       .msg_len = 0, .data_len = 0, .tag = 9 };

			frame_hdr_encode(bad, &h);
			expect = -RT_EBADTYPE;
			break;
		}
		}
		fd = raw_connect(srv.port);
		raw_write(fd, bad, n);
		raw_expect_closed(fd);
		close(fd);
		wait_ge(&srv.closes, ++closes, "close after garbage");
		ck_assert_msg(atomic_load(&srv.close_reason) == expect, "case %d: reason %d want %d",
			      i, atomic_load(&srv.close_reason), expect);
	}
	/* The listener still serves well-formed peers. */
	check_valid_frame_served(1);
	ck_assert_int_eq(atomic_load(&srv.bad), 0);
	run_on(srv.r, srv_teardown, NULL);
	rt_reactor_destroy(&srv.r);
}
END_TEST

/* ------------------------------------------------------ connect + retry */

struct rc_state {
	struct sockaddr_storage ss;
	socklen_t sl;
	struct rt_conn *c;
	uint32_t max_attempts;
	_Atomic int attempts;
	struct tframe *early;
};

static struct rc_state rcs;

static void
retry_connect(void *arg)
{
	struct rt_msgr_opts o;

	rt_msgr_opts_init(&o);
	o.connect_backoff_us = 1000;
	o.connect_backoff_max_us = 20000;
	o.connect_max_attempts = rcs.max_attempts;
	ck_assert_int_eq(rt_msgr_create(cli.r, &o, &cli.m), 0);
	ck_assert_int_eq(rt_msgr_connect(cli.m, (struct sockaddr *)&rcs.ss, rcs.sl, &cli_ops, &cli,
					 &rcs.c),
			 0);
	rt_conn_get(rcs.c); /* keep it readable after on_close */
	/* A send queued before the connection exists. */
	rcs.early = tframe_new(FRAME_T_PING, 3, 4096, true, 1, sent_cb);
	rcs.early->owner = &cli;
	ck_assert_int_eq(rt_conn_send(rcs.c, &rcs.early->s), 0);
	cli.next_seq = EX_N; /* cli_pump: send nothing more */
}

static void
read_attempts(void *arg)
{
	struct rt_conn_stats st;

	rt_conn_get_stats(rcs.c, &st);
	atomic_store(&rcs.attempts, (int)st.connect_attempts);
}

static void
retry_teardown(void *arg)
{
	rt_conn_put(&rcs.c);
	rt_msgr_destroy(&cli.m);
}

/* A free port: bind an ephemeral one and close it again. */
static uint16_t
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t sl = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &sl), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

START_TEST(test_connect_refused)
{
	char a[64];

	sides_reset();
	memset(&rcs, 0, sizeof(rcs));
	cli.r = start_reactor("cli", 1);
	snprintf(a, sizeof(a), "127.0.0.1:%u", free_port());
	ck_assert_int_eq(rt_msgr_parse_addr(a, &rcs.ss, &rcs.sl), 0);
	rcs.max_attempts = 4;
	run_on(cli.r, retry_connect, NULL);
	wait_ge(&cli.closes, 1, "connect failure");
	ck_assert_int_eq(atomic_load(&cli.close_reason), -ECONNREFUSED);
	ck_assert_int_eq(atomic_load(&cli.connects), 0);
	ck_assert_int_eq(atomic_load(&cli.sends_failed), 1); /* the early send failed */
	run_on(cli.r, read_attempts, NULL);
	ck_assert_int_eq(atomic_load(&rcs.attempts), 4);
	run_on(cli.r, retry_teardown, NULL);
	rt_reactor_destroy(&cli.r);
}
END_TEST

static uint16_t late_port;

static void
late_listen(void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char a[64];

	snprintf(a, sizeof(a), "127.0.0.1:%u", late_port);
	ck_assert_int_eq(rt_msgr_create(srv.r, NULL, &srv.m), 0);
	ck_assert_int_eq(rt_msgr_parse_addr(a, &ss, &sl), 0);
	ck_assert_int_eq(rt_msgr_listen(srv.m, (struct sockaddr *)&ss, sl, 16, srv_accept, &srv,
					&srv.l),
			 0);
	srv.port = rt_listener_port(srv.l);
}

START_TEST(test_connect_retry_then_listen)
{
	char a[64];
	uint64_t dl = rt_now_us() + DEADLINE_US;

	sides_reset();
	memset(&rcs, 0, sizeof(rcs));
	cli.r = start_reactor("cli", 1);
	srv.r = start_reactor("srv", 0);
	late_port = free_port();
	snprintf(a, sizeof(a), "127.0.0.1:%u", late_port);
	ck_assert_int_eq(rt_msgr_parse_addr(a, &rcs.ss, &rcs.sl), 0);
	rcs.max_attempts = 0; /* forever */
	run_on(cli.r, retry_connect, NULL);
	while (atomic_load(&rcs.attempts) < 3) {
		ck_assert(rt_now_us() < dl);
		run_on(cli.r, read_attempts, NULL);
	}
	ck_assert_int_eq(atomic_load(&cli.connects), 0);
	run_on(srv.r, late_listen, NULL);
	ck_assert_uint_eq(srv.port, late_port);
	wait_ge(&cli.connects, 1, "connect after the listener appeared");
	/* The send queued before the connection went out and came back. */
	wait_ge(&srv.frames, 1, "early frame at the server");
	wait_ge(&cli.sends_ok, 1, "early send completion");
	ck_assert_int_eq(atomic_load(&srv.bad), 0);
	run_on(cli.r, retry_teardown, NULL);
	ck_assert_int_eq(atomic_load(&cli.closes), 1);
	ck_assert_int_eq(atomic_load(&cli.close_reason), -ECANCELED);
	wait_ge(&srv.closes, 1, "server sees the close");
	run_on(srv.r, srv_teardown, NULL);
	rt_reactor_destroy(&cli.r);
	rt_reactor_destroy(&srv.r);
}
END_TEST

/* ------------------------------------------- close with queued sends, API */

static void
queued_close(void *arg)
{
	struct tframe *f[100];
	int i;

	for (i = 0; i < 100; i++) {
		f[i] = tframe_new(FRAME_T_PING, (uint64_t)i, 70000, false, 0, sent_cb);
		f[i]->owner = &cli;
		ck_assert_int_eq(rt_conn_send(cli.c, &f[i]->s), 0);
	}
	rt_conn_close(cli.c, -ECANCELED);
	ck_assert_int_eq(atomic_load(&cli.sends_failed), 0); /* later, not inside */
	ck_assert(rt_conn_is_closing(cli.c));
	/* Sends after close are refused at once; their cb never runs. */
	f[0] = tframe_new(FRAME_T_PING, 1, 10, false, 0, sent_cb);
	ck_assert_int_eq(rt_conn_send(cli.c, &f[0]->s), -ENOTCONN);
	tframe_free(f[0]);
}

static void
bad_sends(void *arg)
{
	struct rt_msgr_send s;
	unsigned char head[64];
	struct iovec iov[RT_MSGR_SEND_MAX_IOV + 1];
	Tessera__Ping ping = TESSERA__PING__INIT;

	memset(&s, 0, sizeof(s));
	memset(iov, 0, sizeof(iov));
	ck_assert_int_eq(rt_conn_send(cli.c, &s), -EINVAL);
	ck_assert_int_eq(rt_msgr_send_prep(&s, head, sizeof(head), FRAME_T_PING, 1, 0, &ping.base,
					   iov, RT_MSGR_SEND_MAX_IOV + 1, sent_cb),
			 -EINVAL);
	ck_assert_int_eq(rt_msgr_send_prep(&s, head, 8, FRAME_T_PING, 1, 0, &ping.base, NULL, 0,
					   sent_cb),
			 -ENOBUFS);
	ck_assert_int_eq(rt_msgr_send_prep(&s, head, sizeof(head), FRAME_T_PING, 1, 0, &ping.base,
					   NULL, 0, NULL),
			 0);
	ck_assert_int_eq(rt_conn_send(cli.c, &s), -EINVAL); /* no cb */
}

START_TEST(test_close_with_queued_sends)
{
	sides_reset();
	srv.r = start_reactor("srv", 0);
	cli.r = start_reactor("cli", 1);
	run_on(srv.r, srv_setup, NULL);
	cli.next_seq = EX_N; /* on_connect sends nothing */
	run_on(cli.r, cli_connect, NULL);
	wait_ge(&cli.connects, 1, "connect");
	run_on(cli.r, bad_sends, NULL);
	run_on(cli.r, queued_close, NULL);
	wait_ge(&cli.closes, 1, "close");
	ck_assert_int_eq(atomic_load(&cli.sends_ok) + atomic_load(&cli.sends_failed), 100);
	ck_assert_int_gt(atomic_load(&cli.sends_failed), 0);
	ck_assert_int_eq(atomic_load(&cli.close_reason), -ECANCELED);
	wait_ge(&srv.closes, 1, "server sees the close");
	run_on(cli.r, cli_teardown, NULL);
	run_on(srv.r, srv_teardown, NULL);
	rt_reactor_destroy(&cli.r);
	rt_reactor_destroy(&srv.r);
}
END_TEST

/* Destroying a messenger with live connections closes them (-ECANCELED). */
START_TEST(test_destroy_live)
{
	sides_reset();
	srv.r = start_reactor("srv", 0);
	cli.r = start_reactor("cli", 1);
	run_on(srv.r, srv_setup, NULL);
	cli.next_seq = EX_N;
	run_on(cli.r, cli_connect, NULL);
	wait_ge(&cli.connects, 1, "connect");
	run_on(srv.r, srv_teardown, NULL);
	ck_assert_int_eq(atomic_load(&srv.closes), 1);
	ck_assert_int_eq(atomic_load(&srv.close_reason), -ECANCELED);
	wait_ge(&cli.closes, 1, "client sees the close");
	run_on(cli.r, cli_teardown, NULL);
	rt_reactor_destroy(&cli.r);
	rt_reactor_destroy(&srv.r);
}
END_TEST

START_TEST(test_parse_addr)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char b[64];

	ck_assert_int_eq(rt_msgr_parse_addr("127.0.0.1:6800", &ss, &sl), 0);
	ck_assert_str_eq(rt_msgr_addr_str((struct sockaddr *)&ss, b, sizeof(b)), "127.0.0.1:6800");
	ck_assert_int_eq(rt_msgr_parse_addr("[::1]:7", &ss, &sl), 0);
	ck_assert_str_eq(rt_msgr_addr_str((struct sockaddr *)&ss, b, sizeof(b)), "[::1]:7");
	ck_assert_int_eq(rt_msgr_parse_addr("127.0.0.1", &ss, &sl), -EINVAL);
	ck_assert_int_eq(rt_msgr_parse_addr("127.0.0.1:", &ss, &sl), -EINVAL);
	ck_assert_int_eq(rt_msgr_parse_addr("127.0.0.1:65536", &ss, &sl), -EINVAL);
	ck_assert_int_eq(rt_msgr_parse_addr("localhost:80", &ss, &sl), -EINVAL);
	ck_assert_int_eq(rt_msgr_parse_addr("[::1:80", &ss, &sl), -EINVAL);
	ck_assert_int_eq(rt_msgr_parse_addr(":80", &ss, &sl), -EINVAL);
	ck_assert_int_eq(rt_msgr_parse_addr("1.2.3.4:8x", &ss, &sl), -EINVAL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("msgr");
	TCase *tc = tcase_create("loopback");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_parse_addr);
	tcase_add_test(tc, test_exchange);
	tcase_add_test(tc, test_disconnect_mid_frame);
	tcase_add_test(tc, test_garbage_peers);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_connect_retry_then_listen);
	tcase_add_test(tc, test_close_with_queued_sends);
	tcase_add_test(tc, test_destroy_live);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
