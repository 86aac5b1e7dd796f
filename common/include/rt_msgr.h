/*
 * The messenger: framed messages over TCP, driven by one reactor's io_uring.
 *
 * One struct rt_msgr per reactor holds the options and every listener and
 * connection of that reactor; all of them are touched only on that reactor's
 * thread (call everything here from it, including creation).
 *
 * Wire: proto/frame.h (32-byte header, protobuf message, raw data segment).
 *
 * Send: the caller embeds a struct rt_msgr_send, points it at a buffer with the
 * encoded header + message (rt_msgr_send_prep() encodes one) and at its data
 * iovecs. Queued sends go out in order, several per sendmsg (scatter-gather,
 * the data is never copied). The caller's buffers stay the caller's but must
 * not change until the send's callback runs.
 *
 * Receive: a non-blocking state machine per connection (docs/messenger.md).
 * The header is validated with frame_hdr_decode(), the message unpacked into a
 * per-connection arena, and the data segment read into the buffer that the
 * owner's alloc_data callback returns (default: a per-connection 4 KiB-aligned
 * buffer), then on_frame(conn, hdr, msg, data) runs. hdr, msg and the default
 * data buffer are valid only during on_frame.
 *
 * Errors: any socket error, EOF or malformed frame closes that connection:
 * it is logged (rate-limited), queued sends fail with the reason, and
 * on_close(conn, reason) runs exactly once, after every I/O of the connection
 * has completed. After on_close returns the connection is freed unless the
 * owner holds a reference (rt_conn_get/rt_conn_put).
 *
 * Reasons passed to on_close: the socket error (-ECONNRESET, -EPIPE...),
 * -ESHUTDOWN (peer closed between frames), -EPROTO (peer closed in the middle
 * of a frame), a frame error (-RT_EBADMAGIC, -RT_EBADCRC, -RT_EBADVERSION,
 * -RT_EBADTYPE, -RT_ETOOBIG, -EINVAL, -RT_EBADMSG_PB, -RT_ECSUM), -ENOMEM,
 * the connect error after the last retry (-ECONNREFUSED, -ETIMEDOUT...), or
 * the reason given to rt_conn_close() / -ECANCELED from rt_msgr_destroy().
 */
#ifndef RT_MSGR_H
#define RT_MSGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "frame.h"
#include "rt_reactor.h"

struct rt_msgr;
struct rt_conn;
struct rt_listener;

/* Data iovecs per send; more is -EINVAL. */
#define RT_MSGR_SEND_MAX_IOV 64
/* Data iovecs alloc_data may return. */
#define RT_MSGR_RECV_MAX_IOV 64

struct rt_msgr_opts {
	struct frame_limits limits;     /* default frame_limits_init() */
	uint32_t rx_buf_bytes;          /* receive staging buffer; default 16 KiB, min 64 */
	uint32_t arena_bytes;           /* initial decode arena; default 64 KiB (grows on demand) */
	uint32_t connect_backoff_us;    /* first retry delay; default 10 ms, doubling */
	uint32_t connect_backoff_max_us;/* default 1 s */
	uint32_t connect_max_attempts;  /* 0: retry forever; default 8 */
	uint32_t connect_timeout_us;    /* per attempt; default 3 s */
	bool nodelay;                   /* TCP_NODELAY; default true */
};

void rt_msgr_opts_init(struct rt_msgr_opts *opts);

/*
 * Callbacks of a connection. on_frame and on_close are required.
 *
 * on_frame: a complete, validated frame. data/data_cnt describe exactly
 *   hdr->data_len bytes (data_cnt 0 if none): the owner's buffers from
 *   alloc_data, or the default buffer, valid only until on_frame returns.
 * on_close: exactly once per connection (see above for the reasons).
 * on_connect: optional; an outgoing connection is established (sends queued
 *   before it go out now).
 * alloc_data: optional; called once the message is decoded, before the data
 *   segment is read. Fill iov[0..max_iov) with at least hdr->data_len bytes
 *   and return the count, or return 0 for the default buffer, or a negative
 *   errno to close the connection with that reason, or RT_MSGR_DATA_WAIT
 *   (no buffer now: back-pressure). After RT_MSGR_DATA_WAIT the frame stays
 *   pending (hdr and msg stay valid) and nothing more is read from the socket
 *   until the owner calls rt_conn_data_resume(), which asks alloc_data again.
 */
struct rt_conn_ops {
	void (*on_frame)(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
			 const struct iovec *data, int data_cnt);
	void (*on_close)(struct rt_conn *c, int reason);
	void (*on_connect)(struct rt_conn *c);
	int (*alloc_data)(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
			  struct iovec *iov, int max_iov);
};

/* alloc_data: no buffer now, ask again at rt_conn_data_resume() (> RT_MSGR_RECV_MAX_IOV). */
#define RT_MSGR_DATA_WAIT 0x7fff

struct rt_msgr_send;
/* rc: 0 once every byte is handed to the kernel, or the connection's close reason. */
typedef void (*rt_msgr_send_cb)(struct rt_msgr_send *s, int rc);

/* A send, embedded by the caller (no allocation). */
struct rt_msgr_send {
	/* Set by the caller (or rt_msgr_send_prep). */
	const void *head;         /* encoded header + message */
	uint32_t head_len;        /* >= FRAME_HDR_LEN */
	const struct iovec *data; /* the data segment, hdr->data_len bytes in total */
	int data_cnt;             /* 0..RT_MSGR_SEND_MAX_IOV */
	rt_msgr_send_cb cb;
	/* Private. */
	struct rt_msgr_send *next;
	uint64_t total;
	uint64_t sent;
};

/*
 * Encode a frame header + msg into buf (cap bytes, owned by the caller) with
 * frame_encode() and point s at it and at data. Does not send.
 * Returns 0, -ENOBUFS (cap too small), -EINVAL (type/msg mismatch, too many
 * iovecs).
 */
int rt_msgr_send_prep(struct rt_msgr_send *s, void *buf, size_t cap, uint16_t type,
		      uint64_t tag, uint8_t flags, const ProtobufCMessage *msg,
		      const struct iovec *data, int data_cnt, rt_msgr_send_cb cb);

/* Create the messenger of reactor r (opts NULL: defaults). Returns 0 or -ENOMEM. */
int rt_msgr_create(struct rt_reactor *r, const struct rt_msgr_opts *opts, struct rt_msgr **out);

/*
 * Close every listener and connection (on_close(-ECANCELED) for each), drive
 * the reactor (rt_reactor_run_once) until their I/O has completed, and free
 * the messenger. Reactor thread only, never from inside a messenger callback.
 * Sets *mp to NULL.
 */
void rt_msgr_destroy(struct rt_msgr **mp);

struct rt_reactor *rt_msgr_reactor(const struct rt_msgr *m);

/*
 * Parse "host:port" (IPv4 "1.2.3.4:6800", IPv6 "[::1]:6800", numeric hosts
 * only: no DNS on a reactor) into *ss. Returns 0 or -EINVAL.
 */
int rt_msgr_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* Format an address as "host:port" into buf. Returns buf. */
const char *rt_msgr_addr_str(const struct sockaddr *sa, char *buf, size_t len);

/* ------------------------------------------------------------- listeners */

/*
 * on_accept: a new connection. Set its callbacks with rt_conn_set_ops() (and
 * its user pointer) and return 0 to accept, or a negative errno to refuse (the
 * connection is closed without on_close). Refusing also happens when no ops
 * are set.
 */
typedef int (*rt_accept_cb)(struct rt_listener *l, struct rt_conn *c);

/*
 * Listen on addr (port 0: an ephemeral port, see rt_listener_port). Accepts
 * with a multishot io_uring accept (re-armed if the kernel ends it).
 * Returns 0 or a negative errno from socket/bind/listen.
 */
int rt_msgr_listen(struct rt_msgr *m, const struct sockaddr *addr, socklen_t addrlen,
		   int backlog, rt_accept_cb on_accept, void *user, struct rt_listener **out);

/* Stop accepting and free the listener once its accept has completed. *lp = NULL. */
void rt_listener_close(struct rt_listener **lp);

uint16_t rt_listener_port(const struct rt_listener *l);
void *rt_listener_user(const struct rt_listener *l);
uint64_t rt_listener_accepted(const struct rt_listener *l);

/* ----------------------------------------------------------- connections */

/*
 * Connect to addr, retrying with exponential backoff (opts). Returns 0 and
 * the connection (sends may be queued at once), or -ENOMEM/-EINVAL; then
 * exactly one of: on_connect (then frames...) and eventually on_close, or
 * on_close with the last connect error once the attempts are exhausted.
 * Callbacks run later, never inside this call.
 */
int rt_msgr_connect(struct rt_msgr *m, const struct sockaddr *addr, socklen_t addrlen,
		    const struct rt_conn_ops *ops, void *user, struct rt_conn **out);

/* Set callbacks and user pointer (on_accept, or before the first callback). */
void rt_conn_set_ops(struct rt_conn *c, const struct rt_conn_ops *ops, void *user);
void *rt_conn_user(const struct rt_conn *c);
void rt_conn_set_user(struct rt_conn *c, void *user);
struct rt_msgr *rt_conn_msgr(const struct rt_conn *c);

/*
 * Queue a send. Returns 0: s->cb runs exactly once, later, on the reactor
 * thread (rc 0, or the close reason); returns <0: cb never runs
 * (-ENOTCONN: the connection is closing; -EINVAL: bad send).
 */
int rt_conn_send(struct rt_conn *c, struct rt_msgr_send *s);

/*
 * Control-path convenience: encode msg (no data segment) into a buffer this
 * call allocates, queue it, and free the buffer when the send completes.
 * For replies and rare requests only: the data path embeds its sends.
 * Returns 0 (queued; delivery is best effort, as for any send), -ENOMEM, or
 * an error of rt_msgr_send_prep / rt_conn_send (nothing queued).
 */
int rt_conn_send_copy(struct rt_conn *c, uint16_t type, uint64_t tag, uint8_t flags,
		      const ProtobufCMessage *msg);

/*
 * Close with reason (e.g. -ECANCELED). Safe inside any callback and more than
 * once; on_close runs later (once).
 */
void rt_conn_close(struct rt_conn *c, int reason);

/*
 * A connection whose alloc_data answered RT_MSGR_DATA_WAIT: ask alloc_data
 * again and, once it places the data, go on receiving (on_frame may run
 * inside this call). No-op for a connection that is not waiting or is
 * closing. Reactor thread, never from inside this connection's callbacks
 * (defer it: rt_reactor_defer).
 */
void rt_conn_data_resume(struct rt_conn *c);

/* References keep the memory valid past on_close (never the socket open). */
void rt_conn_get(struct rt_conn *c);
void rt_conn_put(struct rt_conn **cp);

bool rt_conn_is_connected(const struct rt_conn *c);
bool rt_conn_is_closing(const struct rt_conn *c);
/* "ip:port" of the peer, for logs. */
const char *rt_conn_peer(const struct rt_conn *c);

struct rt_conn_stats {
	uint64_t frames_rx, frames_tx;
	uint64_t bytes_rx, bytes_tx;
	uint64_t recv_calls, send_calls;   /* io_uring recv/sendmsg completions */
	uint64_t rx_copied_bytes;          /* data bytes copied out of the staging buffer */
	uint32_t connect_attempts;
};
void rt_conn_get_stats(const struct rt_conn *c, struct rt_conn_stats *out);

#endif
