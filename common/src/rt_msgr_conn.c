/*
 * Messenger connections: life cycle, send path, receive state machine.
 *
 * Life cycle. A connection has a base reference (dropped after on_close) plus
 * one per owner rt_conn_get(). `inflight` counts its SQEs (recv, sendmsg,
 * connect, link timeout, cancel). Closing cancels every SQE on the fd
 * (IORING_ASYNC_CANCEL_FD|ALL); when the last one has completed, queued sends
 * fail with the reason, the fd is closed, on_close runs, and the base
 * reference goes. So on_close is the last callback, after which no buffer of
 * the owner is used by the kernel any more.
 *
 * Send. At most one sendmsg per connection is in flight (the stream must stay
 * ordered); it gathers as many queued sends as fit in RT_CONN_TX_IOV iovecs.
 * On completion the fully sent ones complete (cb(s, 0)), a partially sent one
 * stays at the head with its offset, and the next sendmsg goes out.
 *
 * Receive. At most one recv per connection is in flight. Between frames (and
 * while a message that fits is incomplete) we recv into the staging buffer
 * as many bytes as the socket has, up to rx_buf_bytes, and parse what is
 * there: header (frame_hdr_decode), message (frame_msg_decode into the
 * arena), then the data segment. Data bytes that arrived together with the
 * header are copied from the staging buffer into the data buffer; the rest of
 * a data segment is received straight into it (RECV_DATA). So a small frame
 * costs one recv, and a large data segment lands where the owner wants it
 * with at most rx_buf_bytes copied.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_err.h"
#include "rt_log.h"
#include "rt_msgr_int.h"

#define RT_DATA_DEF_MIN (16u << 10)
/* Alignment of the default data buffer (rt_msgr.h), also when it is the staging buffer. */
#define RT_RX_ALIGN 4096u

static void rt__conn_recv_done(struct rt_io *io, int32_t res, uint32_t flags);
static void rt__conn_send_done(struct rt_io *io, int32_t res, uint32_t flags);
static void rt__conn_cancel_done(struct rt_io *io, int32_t res, uint32_t flags);

/* -------------------------------------------------------------- life cycle */

int
rt__conn_alloc(struct rt_msgr *m, int fd, struct rt_conn **out)
{
	struct rt_conn *c;
	int rc;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->m = m;
	c->fd = fd;
	c->refs = 1;
	c->state = RT_CONN_OPEN;
	c->rstate = RECV_HDR;
	c->rx_cap = m->opts.rx_buf_bytes;
	c->rx_buf = rt_reactor_alloc(m->r, c->rx_cap);
	if (!c->rx_buf) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = rt_arena_init(&c->arena, m->opts.arena_bytes);
	if (rc < 0)
		goto out_free_rx;
	c->recv_io.cb = rt__conn_recv_done;
	c->send_io.cb = rt__conn_send_done;
	c->cancel_io.cb = rt__conn_cancel_done;
	snprintf(c->peer, sizeof(c->peer), "?");
	/* Link into the messenger. */
	c->next = m->conns;
	if (m->conns)
		m->conns->prev = c;
	m->conns = c;
	m->nconns++;
	*out = c;
	return 0;

out_free_rx:
	rt_mem_free(c->rx_buf, c->rx_cap);
out_free:
	free(c);
	return rc;
}

static void
rt__conn_free(struct rt_conn *c)
{
	rt_mem_free(c->rx_buf, c->rx_cap);
	rt_mem_free(c->msg_big, c->msg_big_cap);
	rt_mem_free(c->data_def, c->data_def_cap);
	rt_arena_fini(&c->arena);
	free(c);
}

void
rt_conn_get(struct rt_conn *c)
{
	c->refs++;
}

void
rt_conn_put(struct rt_conn **cp)
{
	struct rt_conn *c = *cp;

	if (!c)
		return;
	*cp = NULL;
	if (--c->refs == 0)
		rt__conn_free(c);
}

static void
rt__conn_finish(struct rt_conn *c)
{
	struct rt_msgr_send *s;
	int reason = c->close_reason;

	c->state = RT_CONN_CLOSED;
	rt_timer_stop(c->m->r, &c->retry_timer);
	/* Queued sends fail; none is in the kernel any more. */
	while ((s = c->sq_head) != NULL) {
		c->sq_head = s->next;
		if (!c->sq_head)
			c->sq_tail = NULL;
		s->cb(s, reason);
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	rt__msgr_conn_unlink(c);
	if (!c->refused && c->ops && c->ops->on_close)
		c->ops->on_close(c, reason);
	rt_conn_put(&c);
}

/* Called after every completion of c: finish the close once nothing is in flight. */
void
rt__conn_settle(struct rt_conn *c)
{
	if (c->state == RT_CONN_CLOSING && c->inflight == 0)
		rt__conn_finish(c);
}

static void
rt__conn_finish_deferred(void *arg)
{
	struct rt_conn *c = arg;

	rt__conn_settle(c);
	rt_conn_put(&c);
}

static bool
rt__reason_is_quiet(int reason)
{
	return reason == -ESHUTDOWN || reason == -ECANCELED || reason == 0;
}

void
rt__conn_close_start(struct rt_conn *c, int reason)
{
	if (c->state == RT_CONN_CLOSING || c->state == RT_CONN_CLOSED)
		return;
	c->state = RT_CONN_CLOSING;
	c->close_reason = reason;
	if (rt__reason_is_quiet(reason) || c->refused || c->close_logged)
		rt_debug(RT_SS_MSGR, "conn %s: closed: " DF_RC, c->peer, DP_RC(reason));
	else
		rt_warn_rl(RT_SS_MSGR, "conn %s: closing: " DF_RC, c->peer, DP_RC(reason));
	rt_timer_stop(c->m->r, &c->retry_timer);
	if (c->inflight > 0 && c->fd >= 0) {
		struct io_uring_sqe *sqe = rt_reactor_get_sqe(c->m->r);

		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		rt_io_set(sqe, &c->cancel_io);
		c->inflight++;
		return;
	}
	if (c->inflight == 0) {
		/* Never finish inside the caller's call: on_close runs later. */
		c->refs++;
		rt_reactor_defer(c->m->r, &c->close_msg, rt__conn_finish_deferred, c);
	}
}

static void
rt__conn_cancel_done(struct rt_io *io, int32_t res, uint32_t flags)
{
	struct rt_conn *c = rt__container_of(io, struct rt_conn, cancel_io);

	c->inflight--;
	rt__conn_settle(c);
}

void
rt_conn_close(struct rt_conn *c, int reason)
{
	rt__conn_close_start(c, reason);
}

void
rt__conn_set_nodelay(struct rt_conn *c)
{
	int one = 1;

	if (c->m->opts.nodelay &&
	    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		rt_warn_rl(RT_SS_MSGR, "conn %s: TCP_NODELAY: " DF_RC, c->peer, DP_RC(-errno));
}

void
rt_conn_set_ops(struct rt_conn *c, const struct rt_conn_ops *ops, void *user)
{
	c->ops = ops;
	c->user = user;
}

void *
rt_conn_user(const struct rt_conn *c)
{
	return c->user;
}

void
rt_conn_set_user(struct rt_conn *c, void *user)
{
	c->user = user;
}

struct rt_msgr *
rt_conn_msgr(const struct rt_conn *c)
{
	return c->m;
}

bool
rt_conn_is_connected(const struct rt_conn *c)
{
	return c->state == RT_CONN_OPEN;
}

bool
rt_conn_is_closing(const struct rt_conn *c)
{
	return c->state == RT_CONN_CLOSING || c->state == RT_CONN_CLOSED;
}

const char *
rt_conn_peer(const struct rt_conn *c)
{
	return c->peer;
}

void
rt_conn_get_stats(const struct rt_conn *c, struct rt_conn_stats *out)
{
	*out = c->stats;
}

/* -------------------------------------------------------------------- send */

int
rt_msgr_send_prep(struct rt_msgr_send *s, void *buf, size_t cap, uint16_t type, uint64_t tag,
		  uint8_t flags, const ProtobufCMessage *msg, const struct iovec *data,
		  int data_cnt, rt_msgr_send_cb cb)
{
	ssize_t n;

	if (data_cnt < 0 || data_cnt > RT_MSGR_SEND_MAX_IOV || (data_cnt > 0 && !data))
		return -EINVAL;
	n = frame_encode(buf, cap, type, tag, flags, msg, data, data_cnt);
	if (n < 0)
		return (int)n;
	s->head = buf;
	s->head_len = (uint32_t)n;
	s->data = data;
	s->data_cnt = data_cnt;
	s->cb = cb;
	return 0;
}

/* Point tx_msg at as much of the send queue as fits in RT_CONN_TX_IOV iovecs. */
static void
rt__conn_tx_build(struct rt_conn *c)
{
	struct rt_msgr_send *s;
	int n = 0;

	for (s = c->sq_head; s && n < RT_CONN_TX_IOV; s = s->next) {
		uint64_t off = s->sent;
		int i;

		if (n + 1 + s->data_cnt > RT_CONN_TX_IOV && s != c->sq_head)
			break; /* keep a send whole in one call when we can */
		if (off < s->head_len) {
			c->tx_iov[n].iov_base = (char *)s->head + off;
			c->tx_iov[n].iov_len = s->head_len - off;
			n++;
			off = 0;
		} else {
			off -= s->head_len;
		}
		for (i = 0; i < s->data_cnt && n < RT_CONN_TX_IOV; i++) {
			if (off >= s->data[i].iov_len) {
				off -= s->data[i].iov_len;
				continue;
			}
			c->tx_iov[n].iov_base = (char *)s->data[i].iov_base + off;
			c->tx_iov[n].iov_len = s->data[i].iov_len - off;
			n++;
			off = 0;
		}
	}
	memset(&c->tx_msg, 0, sizeof(c->tx_msg));
	c->tx_msg.msg_iov = c->tx_iov;
	c->tx_msg.msg_iovlen = (size_t)n;
}

/* Queue an io_uring sendmsg of the send queue (poll_first: the socket is known full). */
static void
rt__conn_send_arm_uring(struct rt_conn *c, bool poll_first)
{
	struct io_uring_sqe *sqe;

	if (c->send_inflight || c->state != RT_CONN_OPEN || !c->sq_head)
		return;
	rt__conn_tx_build(c);
	sqe = rt_reactor_get_sqe(c->m->r);
	io_uring_prep_sendmsg(sqe, c->fd, &c->tx_msg, MSG_NOSIGNAL);
	if (poll_first)
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	rt_io_set(sqe, &c->send_io);
	c->send_inflight = true;
	c->inflight++;
}

static void
rt__conn_send_arm(struct rt_conn *c)
{
	rt__conn_send_arm_uring(c, false);
}

/*
 * bytes of the queue went out: unlink the sends they fully cover into *done
 * (in order); a partially sent head keeps its offset.
 */
static void
rt__conn_tx_advance(struct rt_conn *c, uint64_t bytes, struct rt_msgr_send **done)
{
	struct rt_msgr_send **done_tail = done, *s;

	c->stats.send_calls++;
	c->stats.bytes_tx += bytes;
	while ((s = c->sq_head) != NULL && bytes > 0) {
		uint64_t rem = s->total - s->sent;

		if (bytes < rem) {
			s->sent += bytes;
			break;
		}
		bytes -= rem;
		s->sent = s->total;
		c->sq_head = s->next;
		if (!c->sq_head)
			c->sq_tail = NULL;
		s->next = NULL;
		*done_tail = s;
		done_tail = &s->next;
	}
}

static void
rt__conn_tx_complete(struct rt_conn *c, struct rt_msgr_send *done)
{
	struct rt_msgr_send *s;

	while ((s = done) != NULL) {
		done = s->next;
		s->next = NULL;
		c->stats.frames_tx++;
		s->cb(s, 0);
	}
}

/*
 * Deferred from rt_conn_send (so that the sends queued by one loop iteration
 * go out together, and callbacks never run inside rt_conn_send): try the
 * send queue inline with a non-blocking sendmsg. What the socket took
 * completes now; the rest (socket full, or any error: io_uring reports it
 * and the connection closes as usual) goes to an io_uring sendmsg. The
 * inline call saves the CQE that would end the reactor's next sleep at once,
 * i.e. one io_uring_enter per message.
 */
static void
rt__conn_tx_flush(void *arg)
{
	struct rt_conn *c = arg;
	struct rt_msgr_send *done = NULL;
	ssize_t res;

	c->tx_flush_pending = false;
	if (c->send_inflight || c->state != RT_CONN_OPEN || !c->sq_head)
		goto out;
	rt__conn_tx_build(c);
	res = sendmsg(c->fd, &c->tx_msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (res <= 0) {
		rt__conn_send_arm_uring(c, res < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		goto out;
	}
	rt__conn_tx_advance(c, (uint64_t)res, &done);
	/* A short send: the socket is full, io_uring waits for room for the rest. */
	rt__conn_send_arm_uring(c, true);
	rt__conn_tx_complete(c, done);
out:
	rt__conn_settle(c);
	rt_conn_put(&c);
}

int
rt_conn_send(struct rt_conn *c, struct rt_msgr_send *s)
{
	uint64_t total;
	int i;

	if (!c || !s)
		return -EINVAL;
	if (c->state == RT_CONN_CLOSING || c->state == RT_CONN_CLOSED)
		return -ENOTCONN;
	if (!s->head || s->head_len < FRAME_HDR_LEN || !s->cb || s->data_cnt < 0 ||
	    s->data_cnt > RT_MSGR_SEND_MAX_IOV || (s->data_cnt > 0 && !s->data))
		return -EINVAL;
	total = s->head_len;
	for (i = 0; i < s->data_cnt; i++)
		total += s->data[i].iov_len;
	s->total = total;
	s->sent = 0;
	s->next = NULL;
	if (c->sq_tail)
		c->sq_tail->next = s;
	else
		c->sq_head = s;
	c->sq_tail = s;
	if (!c->send_inflight && !c->tx_flush_pending && c->state == RT_CONN_OPEN) {
		c->tx_flush_pending = true;
		c->refs++;
		rt_reactor_defer(c->m->r, &c->tx_flush_msg, rt__conn_tx_flush, c);
	}
	return 0;
}

static void
rt__conn_send_done(struct rt_io *io, int32_t res, uint32_t flags)
{
	struct rt_conn *c = rt__container_of(io, struct rt_conn, send_io);
	struct rt_msgr_send *done = NULL;

	c->send_inflight = false;
	c->inflight--;
	c->refs++;
	if (res <= 0) {
		if (res == 0)
			res = -EPIPE;
		rt__conn_close_start(c, res);
		goto out;
	}
	rt__conn_tx_advance(c, (uint64_t)res, &done);
	/* Queue the next sendmsg first, so callbacks that send append behind it. */
	rt__conn_send_arm(c);
	rt__conn_tx_complete(c, done);
out:
	rt__conn_settle(c);
	rt_conn_put(&c);
}

/* ----------------------------------------------------------------- receive */

static void
rt__conn_recv_arm(struct rt_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->recv_inflight || c->state != RT_CONN_OPEN || c->rstate == RECV_WAIT)
		return;
	sqe = rt_reactor_get_sqe(c->m->r);
	if (c->rstate == RECV_DATA) {
		uint32_t off = c->data_got;
		int i, n = 0;

		for (i = 0; i < c->data_cnt; i++) {
			if (off >= c->data_iov[i].iov_len) {
				off -= (uint32_t)c->data_iov[i].iov_len;
				continue;
			}
			c->rx_iov[n].iov_base = (char *)c->data_iov[i].iov_base + off;
			c->rx_iov[n].iov_len = c->data_iov[i].iov_len - off;
			off = 0;
			n++;
		}
		c->rx_last_len = c->hdr.data_len - c->data_got;
		if (n == 1) {
			io_uring_prep_recv(sqe, c->fd, c->rx_iov[0].iov_base, c->rx_iov[0].iov_len, 0);
		} else {
			memset(&c->rx_msg, 0, sizeof(c->rx_msg));
			c->rx_msg.msg_iov = c->rx_iov;
			c->rx_msg.msg_iovlen = (size_t)n;
			io_uring_prep_recvmsg(sqe, c->fd, &c->rx_msg, 0);
		}
	} else if (c->rstate == RECV_MSG && c->msg_in_big) {
		c->rx_last_len = c->hdr.msg_len - c->msg_got;
		io_uring_prep_recv(sqe, c->fd, c->msg_big + c->msg_got, c->rx_last_len, 0);
	} else {
		/*
		 * Staging: keep what is unparsed at the front, fill the rest. An
		 * empty buffer receives at rx_align_off, chosen so that the data
		 * segment of a frame with the same header + message length as the
		 * last one lands 4 KiB aligned: then on_frame gets it in place.
		 */
		if (c->rx_start == c->rx_end) {
			c->rx_start = c->rx_align_off;
			c->rx_end = c->rx_align_off;
		} else if (c->rx_start > 0) {
			memmove(c->rx_buf, c->rx_buf + c->rx_start, c->rx_end - c->rx_start);
			c->rx_end -= c->rx_start;
			c->rx_start = 0;
		}
		c->rx_last_len = c->rx_cap - c->rx_end;
		io_uring_prep_recv(sqe, c->fd, c->rx_buf + c->rx_end, c->rx_last_len, 0);
	}
	/*
	 * The last recv drained the socket (it did not fill its buffer): skip the
	 * inline attempt that would fail with EAGAIN and arm the poll at once.
	 * Unless we are about to send: the peer's answer may well be in the
	 * socket by the time this SQE reaches the kernel (always so when the
	 * peer shares our core), and the inline attempt then gets it at once.
	 */
	if (c->rx_drained && !c->tx_flush_pending && !c->send_inflight)
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	rt_io_set(sqe, &c->recv_io);
	c->recv_inflight = true;
	c->inflight++;
}

void
rt__conn_start_io(struct rt_conn *c)
{
	rt__conn_recv_arm(c);
	rt__conn_send_arm(c);
}

static int
rt__conn_decode_msg(struct rt_conn *c, const void *p)
{
	uint64_t max_arena = (uint64_t)c->m->opts.limits.max_msg_len * 8 + (1u << 20);
	int rc;
	int tries;

	for (tries = 0; tries < 6; tries++) {
		size_t cap;

		rt_arena_reset(&c->arena);
		rc = frame_msg_decode(&c->hdr, p, &c->arena, &c->msg);
		if (rc != -ENOMEM)
			return rc;
		/* A message bigger than this arena: grow it (rare, e.g. a full map). */
		cap = c->arena.cap * 2;
		if (cap < (size_t)c->hdr.msg_len * 4 + 4096)
			cap = (size_t)c->hdr.msg_len * 4 + 4096;
		if (c->arena.cap >= max_arena)
			return -ENOMEM;
		if (cap > max_arena)
			cap = max_arena;
		rt_arena_fini(&c->arena);
		rc = rt_arena_init(&c->arena, cap);
		if (rc < 0) {
			/* Keep a usable (small) arena for the free path. */
			if (rt_arena_init(&c->arena, c->m->opts.arena_bytes) < 0)
				memset(&c->arena, 0, sizeof(c->arena));
			return rc;
		}
	}
	return -ENOMEM;
}

/*
 * Place the data segment: the owner's iovecs (alloc_data), else the default
 * buffer. Returns 1 if the whole segment is already in the staging buffer at
 * a 4 KiB-aligned address: it is delivered from there (no copy, no recv).
 * Returns 0 (place set up, nothing received yet) or a negative errno.
 */
static int
rt__conn_setup_data(struct rt_conn *c)
{
	uint32_t len = c->hdr.data_len;
	uint64_t total = 0;
	int n = 0, i;

	if (c->ops->alloc_data) {
		n = c->ops->alloc_data(c, &c->hdr, c->msg, c->data_iov, RT_MSGR_RECV_MAX_IOV);
		if (n < 0 || n == RT_MSGR_DATA_WAIT)
			return n;
		if (n > RT_MSGR_RECV_MAX_IOV)
			return -EINVAL;
	}
	if (n == 0) {
		unsigned char *p = c->rx_buf + c->rx_start;

		if (c->rx_end - c->rx_start >= len && ((uintptr_t)p & (RT_RX_ALIGN - 1)) == 0) {
			c->data_iov[0].iov_base = p;
			c->data_iov[0].iov_len = len;
			c->data_cnt = 1;
			c->rx_start += len;
			c->data_got = len;
			return 1;
		}
		if (c->data_def_cap < len) {
			size_t cap = ((size_t)len + 4095) & ~(size_t)4095;

			if (cap < RT_DATA_DEF_MIN)
				cap = RT_DATA_DEF_MIN;
			rt_mem_free(c->data_def, c->data_def_cap);
			c->data_def_cap = 0;
			c->data_def = rt_reactor_alloc(c->m->r, cap);
			if (!c->data_def)
				return -ENOMEM;
			c->data_def_cap = cap;
		}
		c->data_iov[0].iov_base = c->data_def;
		c->data_iov[0].iov_len = len;
		c->data_cnt = 1;
		return 0;
	}
	/* Trim the owner's iovecs to exactly data_len bytes. */
	for (i = 0; i < n && total < len; i++) {
		if (total + c->data_iov[i].iov_len > len)
			c->data_iov[i].iov_len = len - total;
		total += c->data_iov[i].iov_len;
	}
	if (total < len)
		return -EINVAL;
	c->data_cnt = i;
	return 0;
}

static void
rt__conn_deliver(struct rt_conn *c)
{
	c->stats.frames_rx++;
	c->ops->on_frame(c, &c->hdr, c->msg, c->hdr.data_len ? c->data_iov : NULL,
			 c->hdr.data_len ? c->data_cnt : 0);
	c->rstate = RECV_HDR;
}

/* Copy up to want bytes of staged data into the data iovecs at data_got. */
static void
rt__conn_copy_staged_data(struct rt_conn *c)
{
	uint32_t avail = c->rx_end - c->rx_start;
	uint32_t want = c->hdr.data_len - c->data_got;
	uint32_t n = avail < want ? avail : want;
	uint32_t off = c->data_got, left = n;
	const unsigned char *src = c->rx_buf + c->rx_start;
	int i;

	for (i = 0; i < c->data_cnt && left > 0; i++) {
		size_t l = c->data_iov[i].iov_len;
		size_t chunk;

		if (off >= l) {
			off -= (uint32_t)l;
			continue;
		}
		chunk = l - off < left ? l - off : left;
		memcpy((char *)c->data_iov[i].iov_base + off, src, chunk);
		src += chunk;
		left -= (uint32_t)chunk;
		off = 0;
	}
	c->rx_start += n;
	c->data_got += n;
	c->stats.rx_copied_bytes += n;
}

/* Parse what has arrived; deliver complete frames. Stops when more is needed or on close. */
static void
rt__conn_rx_process(struct rt_conn *c)
{
	int rc;

	while (c->state == RT_CONN_OPEN) {
		uint32_t avail = c->rx_end - c->rx_start;

		switch (c->rstate) {
		case RECV_HDR:
			if (avail < FRAME_HDR_LEN)
				return;
			rc = frame_hdr_decode(c->rx_buf + c->rx_start, &c->m->opts.limits, &c->hdr);
			if (rc < 0)
				goto out_close;
			c->rx_start += FRAME_HDR_LEN;
			avail -= FRAME_HDR_LEN;
			c->rstate = RECV_MSG;
			/* Predict the next frame's header + message length from this one. */
			if (c->hdr.data_len > 0 && FRAME_HDR_LEN + c->hdr.msg_len < RT_RX_ALIGN &&
			    c->rx_cap >= 2 * RT_RX_ALIGN)
				c->rx_align_off = RT_RX_ALIGN - FRAME_HDR_LEN - c->hdr.msg_len;
			else
				c->rx_align_off = 0;
			c->msg_in_big = c->hdr.msg_len > c->rx_cap;
			c->msg_got = 0;
			if (c->msg_in_big) {
				uint32_t n = avail < c->hdr.msg_len ? avail : c->hdr.msg_len;

				if (c->msg_big_cap < c->hdr.msg_len) {
					rt_mem_free(c->msg_big, c->msg_big_cap);
					c->msg_big_cap = 0;
					c->msg_big = rt_reactor_alloc(c->m->r, c->hdr.msg_len);
					if (!c->msg_big) {
						rc = -ENOMEM;
						goto out_close;
					}
					c->msg_big_cap = c->hdr.msg_len;
				}
				memcpy(c->msg_big, c->rx_buf + c->rx_start, n);
				c->rx_start += n;
				c->msg_got = n;
			}
			break;
		case RECV_MSG: {
			const void *p;

			if (!c->msg_in_big) {
				if (avail < c->hdr.msg_len)
					return;
				p = c->rx_buf + c->rx_start;
				c->rx_start += c->hdr.msg_len;
			} else {
				if (c->msg_got < c->hdr.msg_len)
					return;
				p = c->msg_big;
			}
			rc = rt__conn_decode_msg(c, p);
			if (rc < 0)
				goto out_close;
			if (c->hdr.data_len == 0) {
				c->data_cnt = 0;
				rt__conn_deliver(c);
				break;
			}
			rc = rt__conn_setup_data(c);
			if (rc < 0)
				goto out_close;
			if (rc == RT_MSGR_DATA_WAIT) {
				c->rstate = RECV_WAIT;
				return;
			}
			c->rstate = RECV_DATA;
			if (rc == 0) {
				c->data_got = 0;
				rt__conn_copy_staged_data(c);
			}
			break;
		}
		case RECV_WAIT:
			return;
		case RECV_DATA:
			if (c->data_got < c->hdr.data_len)
				return;
			rc = frame_data_verify(&c->hdr, c->data_iov, c->data_cnt);
			if (rc < 0)
				goto out_close;
			rt__conn_deliver(c);
			break;
		}
	}
	return;

out_close:
	rt_warn_rl(RT_SS_MSGR, "conn %s: bad frame (type %u %s, msg %u, data %u): " DF_RC,
		   c->peer, c->hdr.type, frame_type_name(c->hdr.type), c->hdr.msg_len,
		   c->hdr.data_len, DP_RC(rc));
	c->close_logged = true;
	rt__conn_close_start(c, rc);
}

void
rt_conn_data_resume(struct rt_conn *c)
{
	int rc;

	if (c->state != RT_CONN_OPEN || c->rstate != RECV_WAIT)
		return;
	c->refs++;
	rc = rt__conn_setup_data(c);
	if (rc == RT_MSGR_DATA_WAIT)
		goto out; /* still nothing: the owner resumes again later */
	if (rc < 0) {
		rt_warn_rl(RT_SS_MSGR, "conn %s: data placement failed: " DF_RC, c->peer,
			   DP_RC(rc));
		c->close_logged = true;
		rt__conn_close_start(c, rc);
		goto out;
	}
	c->rstate = RECV_DATA;
	if (rc == 0) {
		c->data_got = 0;
		rt__conn_copy_staged_data(c);
	}
	rt__conn_rx_process(c);
	rt__conn_recv_arm(c);
out:
	rt__conn_settle(c);
	rt_conn_put(&c);
}

static void
rt__conn_recv_done(struct rt_io *io, int32_t res, uint32_t flags)
{
	struct rt_conn *c = rt__container_of(io, struct rt_conn, recv_io);

	c->recv_inflight = false;
	c->inflight--;
	c->refs++;
	if (c->state != RT_CONN_OPEN)
		goto out;
	if (res <= 0) {
		bool mid_frame = c->rstate != RECV_HDR || c->rx_end > c->rx_start;

		if (res == 0)
			res = mid_frame ? -EPROTO : -ESHUTDOWN;
		rt__conn_close_start(c, res);
		goto out;
	}
	c->stats.recv_calls++;
	c->stats.bytes_rx += (uint64_t)res;
	c->rx_drained = (uint32_t)res < c->rx_last_len;
	if (c->rstate == RECV_DATA)
		c->data_got += (uint32_t)res;
	else if (c->rstate == RECV_MSG && c->msg_in_big)
		c->msg_got += (uint32_t)res;
	else
		c->rx_end += (uint32_t)res;
	rt__conn_rx_process(c);
	rt__conn_recv_arm(c);
out:
	rt__conn_settle(c);
	rt_conn_put(&c);
}

/* A send that owns its encoded buffer (rt_conn_send_copy). */
struct rt__copy_send {
	struct rt_msgr_send s;
	uint8_t buf[];
};

static void
rt__copy_sent(struct rt_msgr_send *s, int rc)
{
	(void)rc;
	free((char *)s - offsetof(struct rt__copy_send, s));
}

int
rt_conn_send_copy(struct rt_conn *c, uint16_t type, uint64_t tag, uint8_t flags,
		  const ProtobufCMessage *msg)
{
	size_t len = frame_encoded_size(msg);
	struct rt__copy_send *cs = malloc(sizeof(*cs) + len);
	int rc;

	if (!cs)
		return -ENOMEM;
	rc = rt_msgr_send_prep(&cs->s, cs->buf, len, type, tag, flags, msg, NULL, 0,
			       rt__copy_sent);
	if (rc == 0)
		rc = rt_conn_send(c, &cs->s);
	if (rc < 0)
		free(cs);
	return rc;
}
