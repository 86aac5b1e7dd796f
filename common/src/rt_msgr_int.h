/*
 * Messenger internals shared by rt_msgr.c (messenger, listeners, connect and
 * retry) and rt_msgr_conn.c (connection life cycle, send path, receive state
 * machine). Not installed; nothing outside rt_msgr*.c includes it.
 */
#ifndef RT_MSGR_INT_H
#define RT_MSGR_INT_H

#include <netinet/in.h>

#include "rt_arena.h"
#include "rt_msgr.h"

/* iovecs per sendmsg: several queued sends go out in one call. */
#define RT_CONN_TX_IOV 128

enum rt_conn_state {
	RT_CONN_CONNECTING, /* outgoing: connect in flight or waiting for a retry */
	RT_CONN_OPEN,
	RT_CONN_CLOSING,    /* close started: waiting for in-flight I/O */
	RT_CONN_CLOSED,     /* on_close has run */
};

/* The receive state machine (docs/messenger.md). */
enum rt_recv_state {
	RECV_HDR,  /* waiting for the 32-byte header in the staging buffer */
	RECV_MSG,  /* header valid; waiting for msg_len bytes (staging or msg_big) */
	RECV_DATA, /* message decoded; reading data_len bytes straight into data_iov */
	RECV_WAIT, /* alloc_data said RT_MSGR_DATA_WAIT: no recv until rt_conn_data_resume */
};

struct rt_conn {
	struct rt_msgr *m;
	struct rt_conn *prev, *next; /* m->conns, until on_close */
	int fd;
	enum rt_conn_state state;
	int refs;
	int inflight;        /* SQEs of this connection not yet completed */
	int close_reason;
	bool outgoing;
	bool refused;        /* on_accept refused it: no on_close */
	bool close_logged;   /* the reason was logged where it was found */
	const struct rt_conn_ops *ops;
	void *user;
	char peer[64];
	struct rt_msg close_msg;

	/* Connect and retry. */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct rt_io conn_io;
	struct rt_io lt_io;
	bool lt_inflight;
	struct __kernel_timespec conn_ts;
	struct rt_timer retry_timer;
	uint32_t backoff_us;
	int last_connect_rc;

	/* Send. */
	struct rt_io send_io;
	bool send_inflight;
	bool tx_flush_pending; /* rt__conn_tx_flush is deferred */
	struct rt_msg tx_flush_msg;
	struct rt_msgr_send *sq_head, *sq_tail;
	struct iovec tx_iov[RT_CONN_TX_IOV];
	struct msghdr tx_msg;

	/* Receive. */
	struct rt_io recv_io;
	bool recv_inflight;
	bool rx_drained;       /* the last recv got less than it asked for */
	uint32_t rx_last_len;  /* bytes the recv in flight asked for */
	enum rt_recv_state rstate;
	unsigned char *rx_buf; /* staging: [rx_start, rx_end) not consumed yet */
	uint32_t rx_cap, rx_start, rx_end;
	uint32_t rx_align_off;  /* where an empty staging buffer receives the next frame */
	struct frame_hdr hdr;
	unsigned char *msg_big; /* messages bigger than the staging buffer */
	uint32_t msg_big_cap;
	uint32_t msg_got;
	bool msg_in_big;
	ProtobufCMessage *msg;
	struct rt_arena arena;
	struct iovec data_iov[RT_MSGR_RECV_MAX_IOV];
	int data_cnt;
	uint32_t data_got;
	unsigned char *data_def; /* default data buffer, 4 KiB aligned */
	size_t data_def_cap;
	struct iovec rx_iov[RT_MSGR_RECV_MAX_IOV];
	struct msghdr rx_msg;

	struct rt_io cancel_io;
	struct rt_conn_stats stats;
};

struct rt_listener {
	struct rt_msgr *m;
	struct rt_listener *prev, *next;
	int fd;
	bool closing;
	bool acc_inflight;
	bool single_shot; /* multishot accept refused by the kernel */
	int inflight;
	rt_accept_cb on_accept;
	void *user;
	uint16_t port;
	uint64_t accepted;
	struct rt_io acc_io;
	struct rt_io cancel_io;
	struct rt_timer rearm_timer;
};

struct rt_msgr {
	struct rt_reactor *r;
	struct rt_msgr_opts opts;
	struct rt_conn *conns;        /* not yet closed */
	struct rt_listener *listeners;
	uint32_t nconns;              /* allocated and not yet past on_close */
	uint32_t nlisteners;          /* not yet freed */
};

#define rt__container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* rt_msgr_conn.c */
int rt__conn_alloc(struct rt_msgr *m, int fd, struct rt_conn **out);
void rt__conn_start_io(struct rt_conn *c);
void rt__conn_close_start(struct rt_conn *c, int reason);
void rt__conn_settle(struct rt_conn *c);
void rt__conn_set_nodelay(struct rt_conn *c);

/* rt_msgr.c */
void rt__msgr_conn_unlink(struct rt_conn *c);

#endif
