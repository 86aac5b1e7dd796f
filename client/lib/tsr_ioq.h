/*
 * libtessera I/O side internals: queues, requests, object sub-requests and
 * OSD connections (tsr_io.c), shared by the three front doors: tsr_queue.c
 * (application queues), tsr_sync.c (implicit per-thread queues) and
 * tsr_aio.c (library I/O threads). docs/client.md "I/O path" is the design.
 *
 * Ownership: a queue and everything in it (requests, sub-requests,
 * connections, timers, its map reference) belongs to the one thread that
 * drives its reactor. Other threads reach it only through rt_reactor_post
 * (aio submissions, map changes) and through a write scope's lock (flush).
 */
#ifndef TSR_IOQ_H
#define TSR_IOQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "rt_msgr.h"
#include "rt_reactor.h"
#include "tsr_int.h"
#include "tsr_stripe.h"

#define TSR_SUB_MAX 4			 /* object sub-requests in flight per request */
#define TSR_SUB_IOV RT_MSGR_SEND_MAX_IOV /* data iovecs per sub-request */
#define TSR_PIECE_MAX (256u << 10)	 /* bytes per object op (<= the OSDs' --max-io) */
#define TSR_CAW_MAX (128u << 10)	 /* compare-and-write: 2x this per frame */
#define TSR_REQ_IOV_INLINE 4		 /* iovecs copied without allocation */
#define TSR_SYNC_QD 4			 /* requests of an implicit per-thread queue */
#define TSR_TRIM_QD 16			 /* object deletes in flight for tsr__io_trim */
#define TSR_EIO_RESENDS 3		 /* see conn_on_frame */
#define TSR_BACKOFF_MIN_US 5000u
#define TSR_BACKOFF_MAX_US 500000u
#define TSR_HEAD_BYTES 192
#define TSR_CONN_BUCKETS 64

enum tsr_op {
	TSR_OP_READ,
	TSR_OP_WRITE,
	TSR_OP_DISCARD,
	TSR_OP_WRITE_ZEROES,
	TSR_OP_CAW,
	TSR_OP_FLUSH,
	TSR_OP_TRIM, /* tsr__io_trim: one object, delete or discard its tail */
};

enum tsr_sub_state {
	TSR_SUB_FREE,
	TSR_SUB_WAIT, /* waiting for a map, a backoff or its first send */
	TSR_SUB_SENT, /* on a connection, waiting for the reply */
	TSR_SUB_DONE, /* finished, but a send or receive still uses its buffers */
};

enum tsr_qkind {
	TSR_Q_APP,  /* tsr_queue_create: callbacks from tsr_queue_poll/wait */
	TSR_Q_SYNC, /* implicit per-thread queue / trim: driven while waiting */
	TSR_Q_AIO,  /* library I/O thread: callbacks deferred on that thread */
};

struct tsr_req;
struct tsr_queue;
struct tsr_conn;

struct tsr_sub {
	struct tsr_req *req;
	uint32_t index; /* tag of its frames: req index * TSR_SUB_MAX + slot */
	enum tsr_sub_state state;
	uint32_t wire_op;
	uint64_t req_id;
	struct tsr_extent ext;
	uint64_t vol_off; /* volume offset of the piece */
	struct iovec iov[TSR_SUB_IOV];
	int iovcnt;
	struct tsr_conn *conn; /* SENT: the connection it went out on */
	struct tsr_sub *cprev, *cnext;
	bool send_busy; /* its rt_msgr_send is queued (buffers in use) */
	bool rx_busy;	/* a reply is being received into its buffers */
	int fail_rc;	/* failing from the backoff timer */
	uint32_t attempts;
	uint32_t eio_resends; /* STATUS_EIO of a mutation: resent this many times */
	struct rt_timer backoff;
	struct rt_msgr_send send;
	uint8_t head[TSR_HEAD_BYTES];
};

/* Writes in flight and flushes waiting for them: a queue's, or a volume's. */
struct tsr_wnode {
	uint64_t seq;
	struct tsr_wnode *prev, *next;
};

struct tsr_wscope {
	pthread_mutex_t lock;
	uint64_t next_seq;
	struct tsr_wnode *head, *tail; /* in-flight writes, by seq */
	struct tsr_req *waiters;       /* flushes, via fl_next */
};

struct tsr_req {
	struct tsr_queue *q;
	uint32_t index;
	struct tsr_volume *vol; /* NULL for a trim */
	uint32_t pool;
	uint64_t vol_id;
	uint32_t object_size;
	enum tsr_op op;
	uint64_t off, len, issued;
	const struct iovec *iov;
	int iovcnt;
	struct iovec iov_inline[TSR_REQ_IOV_INLINE];
	struct iovec *iov_heap;
	struct tsr_iov_cursor cur;
	const void *cmp;
	uint64_t *mismatch_off;
	bool inuse;	/* taken from the free list, not yet completed */
	int active; /* subs not FREE */
	int err;
	bool finishing;
	struct rt_timer tmo;
	tsr_io_cb cb;
	void *arg;
	ssize_t result;
	struct rt_msg msg;  /* start / delivery */
	struct rt_msg xmsg; /* flush done, posted from another queue */
	/* Flush bookkeeping. */
	struct tsr_wscope *ws;
	struct tsr_wnode *wn;	/* a write's node (in the req or an aio completion) */
	struct tsr_wnode wn_own;
	uint64_t fl_upto;	/* a flush: writes with seq <= this */
	int fl_err;
	struct tsr_req *fl_next;
	struct tsr_req *next; /* free list / done list */
	struct tsr_sub subs[TSR_SUB_MAX];
};

struct tsr_conn {
	struct tsr_queue *q;
	uint32_t osd, ridx;
	struct mon_addr host_port; /* the reactor's address in the map */
	char addr[80];             /* the same, formatted (logs, connect) */
	struct rt_conn *c; /* NULL: not connected */
	struct tsr_sub *sent;
	struct tsr_sub *rx_sub;
	struct tsr_conn *hnext;
};

struct tsr_completion;

struct tsr_queue {
	struct tsr_cluster *cl;
	struct tsr_io *io;
	enum tsr_qkind kind;
	struct rt_reactor *r;
	struct rt_msgr *m;
	struct tsr_req *reqs;
	uint32_t depth;
	struct tsr_req *free_list;
	uint32_t inflight;
	struct tsr_req *done_head, *done_tail;
	struct tsr_map *map;
	struct rt_msg map_msg;
	atomic_bool map_posted;
	struct tsr_conn *conns[TSR_CONN_BUCKETS];
	struct tsr_wscope ws;
	struct tsr_queue_stats stats;
	struct tsr_queue *next, *prev; /* io->queues, under io->lock */
	/* aio: submissions waiting for a free request. */
	struct tsr_completion *backlog_head, *backlog_tail;
	struct rt_msg fini_msg;
	bool dead;
};

struct tsr_io {
	uint64_t id; /* process-unique, keys the per-thread queues */
	pthread_mutex_t lock; /* queues */
	struct tsr_queue *queues;
	_Atomic uint64_t next_req_id;
	uint32_t n_aio;
	struct tsr_queue **aio;
	atomic_uint aio_rr;
};

struct tsr_vol_io {
	struct tsr_wscope ws;
};

/* An aio completion (tsr_aio.c). */
struct tsr_completion {
	void *arg;
	tsr_callback_t cb;
	atomic_bool complete;
	atomic_uint refs; /* the user's, plus one while the library signals it */
	ssize_t rv;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* The submission, carried to the I/O thread. */
	struct tsr_volume *vol;
	enum tsr_op op;
	uint64_t off, len;
	const struct iovec *iov;
	int iovcnt;
	struct iovec iov_one;
	struct iovec *iov_heap;
	const void *cmp;
	uint64_t *mismatch_off;
	struct tsr_wnode wn;
	bool has_wn;
	uint64_t fl_upto;
	struct tsr_queue *q;
	struct rt_msg msg;
	struct tsr_completion *bnext;
};

/* ---- tsr_io.c -------------------------------------------------------------- */

int tsr__queue_new(struct tsr_cluster *cl, enum tsr_qkind kind, uint32_t depth,
		   struct tsr_queue **out);
/* Fail what is in flight with -ECANCELED, close connections, free. Owner thread. */
void tsr__queue_free(struct tsr_queue *q);

/* Checks of a data request against the volume: 0, -EINVAL, -ERANGE, -ENOENT. */
int tsr__io_check(struct tsr_volume *vol, uint64_t off, uint64_t len);

struct tsr_req *tsr__req_get(struct tsr_queue *q);
/* Register a write in scope ws (at submission, any thread): sets wn->seq. */
void tsr__ws_add(struct tsr_wscope *ws, struct tsr_wnode *wn);
/* The flush horizon of ws now: writes registered so far. */
uint64_t tsr__ws_horizon(struct tsr_wscope *ws);
void tsr__ws_init(struct tsr_wscope *ws);
void tsr__ws_fini(struct tsr_wscope *ws);
/* Owner thread, after the caller filled req: start it on the next loop iteration. */
void tsr__req_submit(struct tsr_req *req);
/* Start now (already on a loop iteration of the owner thread, not inside a submit call). */
void tsr__req_start(struct tsr_req *req);
/* APP/SYNC queues: run up to max (0: all) completion callbacks. */
unsigned tsr__queue_run_done(struct tsr_queue *q, unsigned max);
/* Fill a request for a volume op (iov is used as is: the caller keeps it valid). */
void tsr__req_fill(struct tsr_req *req, struct tsr_volume *vol, enum tsr_op op, uint64_t off,
		   uint64_t len, const struct iovec *iov, int iovcnt, const void *cmp,
		   uint64_t *mismatch_off, tsr_io_cb cb, void *arg);
/* Copy iov into the request (inline, else allocated). Returns 0 or -ENOMEM. */
int tsr__req_copy_iov(struct tsr_req *req, const struct iovec *iov, int iovcnt);

/* ---- tsr_aio.c ------------------------------------------------------------- */

/* An I/O thread's queue got a free request: start backlogged submissions. */
void tsr__aio_backlog_run(struct tsr_queue *q);
/* End completion c with result: wake waiters, run its callback (I/O thread;
 * unit tests call it from any thread). */
void tsr__aio_complete(struct tsr_completion *c, ssize_t result);
/* Drop the thread-local implicit queues of io (tsr_sync.c). */
struct tsr_queue *tsr__sync_queue(struct tsr_cluster *cl);

#endif
