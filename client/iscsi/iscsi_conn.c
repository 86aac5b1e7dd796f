/* Connections, sessions, workers: see iscsi_conn.h for the design. */
#include "iscsi_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "iscsi_lun.h"
#include "rt_crc.h"
#include "rt_log.h"

#define CTL_SLOTS 8
#define CTL_BUF_MIN 8192u
#define IMMEDIATE_TASKS 4
#define TX_BATCH 32
#define DISCARD_BUF 65536
#define AHS_MAX (255 * 4)

enum conn_phase {
	PH_LOGIN = 0,
	PH_FFP,
	PH_LOGOUT, /* logout response queued: close once sent */
	PH_DEAD,   /* socket closed; waiting for in-flight backend I/O */
};

enum rx_state {
	RX_BHS = 0,
	RX_AHS,
	RX_HDIGEST,
	RX_DATA,
	RX_TRAIL,
};

enum tx_kind {
	TX_CTL = 0,   /* a control slot: free it once sent */
	TX_R2T,       /* a task's R2T */
	TX_DATAIN,    /* a task's Data-In (more may follow) */
	TX_RSP,       /* a task's final response: free the task once sent */
};

struct iscsi_tx {
	struct iscsi_tx *next;
	enum tx_kind kind;
	uint32_t hdr_len;
	uint32_t data_len;
	uint32_t trail_len;
	uint32_t sent;
	uint8_t *data;
	uint8_t hdr[ISCSI_BHS_LEN + ISCSI_DIGEST_LEN];
	uint8_t trail[8];
	bool queued;
};

struct ctl_slot {
	struct iscsi_tx tx;
	struct ctl_slot *next_free;
	uint8_t *buf;
};

enum task_state {
	T_FREE = 0,
	T_DATA_OUT, /* collecting Data-Out */
	T_EXEC,     /* in the SCSI layer / backend */
	T_SEND,     /* Data-In / response queued */
};

struct iscsi_task {
	struct iscsi_scmd sc;
	struct iscsi_conn *conn;
	struct iscsi_task *next; /* free list or active list */
	struct iscsi_task *prev;
	enum task_state state;
	uint32_t itt, ttt, cmdsn;
	uint64_t lun_raw;
	bool immediate;
	bool aborted;
	bool finished_early; /* prepare finished it: Data-Out is drained */
	bool unsol_pending;  /* unsolicited Data-Out still to come */
	bool datasn_bad;     /* a Data-Out came out of DataSN order: see datasn_error() */
	bool r2t_pending;
	uint32_t want;       /* Data-Out bytes we take: min(EDTL, out_len) */
	uint32_t got;
	uint32_t r2t_off, r2t_len, r2tsn, exp_datasn;
	uint32_t datain_off, datasn, xfer_in;
	uint8_t rsp_data[2 + ISCSI_SENSE_MAX];
	struct iscsi_tx tx;
};

struct iscsi_conn {
	struct iscsi_conn *next, *prev; /* worker's list */
	struct iscsi_worker *w;
	int fd;
	enum conn_phase phase;
	char peer[64];
	struct iscsi_config *cfg; /* reference */
	struct iscsi_login *login;
	struct iscsi_params params;
	const struct iscsi_target *target;
	bool discovery;
	bool registered;
	atomic_bool kill;
	uint16_t tsih;
	uint8_t isid[6];
	char initiator[ISCSI_NAME_MAX];
	struct iscsi_nexus nexus;
	uint32_t statsn, exp_cmdsn;
	uint32_t window;

	/* receive */
	enum rx_state rx;
	uint8_t rx_bhs[ISCSI_BHS_LEN];
	uint8_t rx_ahs[AHS_MAX];
	uint8_t rx_digest[4];
	uint32_t rx_got;
	struct iscsi_bhs cur;
	uint8_t *rx_dst;        /* data lands here ... */
	uint32_t rx_dst_len;    /* ... for this many bytes; the rest is discarded */
	uint32_t rx_data_got;
	uint32_t rx_crc;
	uint8_t rx_trail[8];
	uint32_t rx_trail_len;
	struct iscsi_task *rx_task;
	uint8_t *ctl_rx;        /* non-SCSI data segments (login, text, NOP) */
	uint32_t ctl_rx_cap;
	uint8_t *discard;
	bool rx_paused;

	/* send */
	struct iscsi_tx *tx_head, *tx_tail;
	bool epollout;
	struct ctl_slot ctl[CTL_SLOTS];
	struct ctl_slot *ctl_free;
	uint8_t *ctl_mem;

	/* tasks */
	struct iscsi_task *tasks;
	unsigned ntasks;
	struct iscsi_task *task_free;
	struct iscsi_task *active;
	unsigned nactive, nactive_nonimm;
	uint8_t *bufs;
	size_t bufs_len;
	uint32_t max_io;

	/* task management in progress */
	bool tmf_pending;
	uint32_t tmf_itt;
	unsigned tmf_wait;
	uint8_t tmf_func;
	uint64_t tmf_lun;

	/* keepalive */
	uint64_t last_rx_us;
	uint64_t ping_sent_us;
	uint32_t ping_ttt;
	uint64_t created_us;
	/* text continuation */
	uint32_t text_len;
	char text[8192];
};

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ------------------------------------------------------------ registry */

struct sess_entry {
	struct sess_entry *next;
	struct iscsi_conn *conn;
	struct iscsi_worker *w;
	char initiator[ISCSI_NAME_MAX];
	char target[ISCSI_NAME_MAX];
	uint8_t isid[6];
	uint16_t tsih;
};

static pthread_mutex_t sess_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sess_entry *sess_list; /* guarded by sess_lock */
static uint16_t next_tsih = 1;       /* guarded by sess_lock */
static unsigned nsess;               /* guarded by sess_lock */

void
iscsi_sessions_init(void)
{
}

static void
conn_kill_async(struct sess_entry *e)
{
	uint64_t one = 1;

	atomic_store(&e->conn->kill, true);
	if (write(e->w->wake_fd, &one, sizeof(one)) < 0) {
		/* The eventfd cannot overflow here; nothing to do. */
	}
}

/* Register a new session; reinstates (kills) an older one with the same ISID. */
static uint16_t
sess_register(struct iscsi_conn *c)
{
	struct sess_entry *e, **pp;
	uint16_t tsih;

	e = calloc(1, sizeof(*e));
	if (!e)
		return 0;
	e->conn = c;
	e->w = c->w;
	snprintf(e->initiator, sizeof(e->initiator), "%s", c->initiator);
	snprintf(e->target, sizeof(e->target), "%s", c->target ? c->target->iqn : "");
	memcpy(e->isid, c->isid, 6);
	pthread_mutex_lock(&sess_lock);
	for (pp = &sess_list; *pp;) {
		struct sess_entry *o = *pp;

		if (memcmp(o->isid, e->isid, 6) == 0 &&
		    strcasecmp(o->initiator, e->initiator) == 0 &&
		    strcasecmp(o->target, e->target) == 0) {
			rt_info(RT_SS_ISCSI, "session reinstatement: closing tsih %u of %s",
				o->tsih, o->initiator);
			conn_kill_async(o);
			/* The old connection unregisters itself when it goes. */
		}
		pp = &o->next;
	}
	do {
		tsih = next_tsih++;
		if (next_tsih == 0)
			next_tsih = 1;
	} while (tsih == 0);
	e->tsih = tsih;
	e->next = sess_list;
	sess_list = e;
	nsess++;
	pthread_mutex_unlock(&sess_lock);
	return tsih;
}

static void
sess_unregister(struct iscsi_conn *c)
{
	struct sess_entry **pp;

	pthread_mutex_lock(&sess_lock);
	for (pp = &sess_list; *pp; pp = &(*pp)->next) {
		if ((*pp)->conn == c) {
			struct sess_entry *e = *pp;

			*pp = e->next;
			free(e);
			nsess--;
			break;
		}
	}
	pthread_mutex_unlock(&sess_lock);
}

unsigned
iscsi_sessions_reload(const struct iscsi_config *cfg)
{
	unsigned n = 0;

	pthread_mutex_lock(&sess_lock);
	for (struct sess_entry *e = sess_list; e; e = e->next) {
		const struct iscsi_target *t;

		if (!e->target[0])
			continue; /* discovery */
		t = iscsi_config_find(cfg, e->target);
		/* The old target's hash is in the connection's own config. */
		if (!t || !e->conn->target || t->conf_hash != e->conn->target->conf_hash ||
		    !iscsi_target_allows(t, e->initiator)) {
			conn_kill_async(e);
			n++;
		}
	}
	pthread_mutex_unlock(&sess_lock);
	return n;
}

unsigned
iscsi_sessions_count(void)
{
	unsigned n;

	pthread_mutex_lock(&sess_lock);
	n = nsess;
	pthread_mutex_unlock(&sess_lock);
	return n;
}

/* ------------------------------------------------------------------ send */

static void conn_close(struct iscsi_conn *c, const char *why);
static void task_tx_done(struct iscsi_task *t);
static void conn_rx(struct iscsi_conn *c);

static void
set_epollout(struct iscsi_conn *c, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};

	if (c->epollout == on)
		return;
	c->epollout = on;
	epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static uint32_t
max_cmdsn(struct iscsi_conn *c)
{
	return c->exp_cmdsn + (c->window - c->nactive_nonimm) - 1;
}

/* Fill StatSN-independent sequence fields shared by responses. */
static void
put_sns(struct iscsi_conn *c, uint8_t *hdr, bool statsn)
{
	if (statsn)
		iscsi_put32(hdr + 24, c->statsn++);
	iscsi_put32(hdr + 28, c->exp_cmdsn);
	iscsi_put32(hdr + 32, max_cmdsn(c));
}

/* Finish a PDU (digests, padding) and queue it. */
static void
tx_queue(struct iscsi_conn *c, struct iscsi_tx *tx)
{
	uint32_t pad = iscsi_pad4(tx->data_len);

	iscsi_put24(tx->hdr + 5, tx->data_len);
	tx->hdr_len = ISCSI_BHS_LEN;
	if (c->params.header_digest) {
		iscsi_put_digest(tx->hdr + ISCSI_BHS_LEN, iscsi_digest(tx->hdr, ISCSI_BHS_LEN));
		tx->hdr_len += ISCSI_DIGEST_LEN;
	}
	memset(tx->trail, 0, sizeof(tx->trail));
	tx->trail_len = pad;
	if (tx->data_len && c->params.data_digest) {
		iscsi_put_digest(tx->trail + pad, iscsi_data_digest(tx->data, tx->data_len));
		tx->trail_len += ISCSI_DIGEST_LEN;
	}
	tx->sent = 0;
	tx->next = NULL;
	tx->queued = true;
	if (c->tx_tail)
		c->tx_tail->next = tx;
	else
		c->tx_head = tx;
	c->tx_tail = tx;
}

static void
tx_sent(struct iscsi_conn *c, struct iscsi_tx *tx)
{
	tx->queued = false;
	if (tx->kind == TX_CTL) {
		struct ctl_slot *s = (struct ctl_slot *)((char *)tx - offsetof(struct ctl_slot, tx));

		s->next_free = c->ctl_free;
		c->ctl_free = s;
		/* A paused receiver resumes on the next (level-triggered) EPOLLIN. */
		c->rx_paused = false;
		return;
	}
	task_tx_done((struct iscsi_task *)((char *)tx - offsetof(struct iscsi_task, tx)));
}

/* Write what the socket takes. */
static void
conn_flush(struct iscsi_conn *c)
{
	while (c->tx_head && c->phase != PH_DEAD) {
		struct iovec iov[TX_BATCH * 3];
		struct msghdr msg = {.msg_iov = iov};
		int n = 0;
		ssize_t rc;
		size_t done;

		for (struct iscsi_tx *tx = c->tx_head; tx && n + 3 <= TX_BATCH * 3; tx = tx->next) {
			uint32_t skip = tx == c->tx_head ? tx->sent : 0;
			struct iovec parts[3] = {
				{tx->hdr, tx->hdr_len},
				{tx->data, tx->data_len},
				{tx->trail, tx->trail_len},
			};

			for (int i = 0; i < 3; i++) {
				if (skip >= parts[i].iov_len) {
					skip -= (uint32_t)parts[i].iov_len;
					continue;
				}
				iov[n].iov_base = (char *)parts[i].iov_base + skip;
				iov[n].iov_len = parts[i].iov_len - skip;
				skip = 0;
				n++;
			}
		}
		msg.msg_iovlen = (size_t)n;
		rc = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (rc < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_epollout(c, true);
				return;
			}
			if (errno == EINTR)
				continue;
			conn_close(c, "send failed");
			return;
		}
		done = (size_t)rc;
		while (c->tx_head && done) {
			struct iscsi_tx *tx = c->tx_head;
			size_t left = tx->hdr_len + tx->data_len + tx->trail_len - tx->sent;

			if (done < left) {
				tx->sent += (uint32_t)done;
				break;
			}
			done -= left;
			c->tx_head = tx->next;
			if (!c->tx_head)
				c->tx_tail = NULL;
			tx_sent(c, tx);
			if (c->phase == PH_DEAD)
				return;
		}
	}
	if (!c->tx_head) {
		set_epollout(c, false);
		if (c->phase == PH_LOGOUT)
			conn_close(c, "logged out");
	}
}

static struct ctl_slot *
ctl_get(struct iscsi_conn *c)
{
	struct ctl_slot *s = c->ctl_free;

	if (s) {
		c->ctl_free = s->next_free;
		s->tx.kind = TX_CTL;
		s->tx.data = s->buf;
		s->tx.data_len = 0;
	}
	return s;
}

/*
 * A control slot with the start of a response header (opcode, flags, byte 2,
 * ITT); NULL, and the connection closed with reason why, when every slot is
 * queued.
 */
static struct ctl_slot *
ctl_rsp(struct iscsi_conn *c, uint8_t opcode, uint8_t flags, uint8_t byte2, uint32_t itt,
	const char *why)
{
	struct ctl_slot *s = ctl_get(c);

	if (!s) {
		conn_close(c, why);
		return NULL;
	}
	iscsi_bhs_init(s->tx.hdr, opcode, flags, 0);
	s->tx.hdr[2] = byte2;
	iscsi_put32(s->tx.hdr + 16, itt);
	return s;
}

/* Queue a Reject of the current PDU (its header as data). */
static void
send_reject(struct iscsi_conn *c, uint8_t reason)
{
	struct ctl_slot *s = ctl_rsp(c, ISCSI_OP_REJECT, ISCSI_FLAG_FINAL, reason, ISCSI_RSVD_TAG,
				     "no slot for a Reject");

	if (!s)
		return;
	put_sns(c, s->tx.hdr, true);
	memcpy(s->buf, c->rx_bhs, ISCSI_BHS_LEN);
	s->tx.data_len = ISCSI_BHS_LEN;
	tx_queue(c, &s->tx);
}

/* ----------------------------------------------------------------- tasks */

static void
task_free(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;

	if (t->state == T_FREE)
		return;
	/* Unlink from the active list. */
	if (t->prev)
		t->prev->next = t->next;
	else
		c->active = t->next;
	if (t->next)
		t->next->prev = t->prev;
	c->nactive--;
	if (!t->immediate)
		c->nactive_nonimm--;
	t->state = T_FREE;
	t->next = c->task_free;
	t->prev = NULL;
	c->task_free = t;
}

static struct iscsi_task *
task_get(struct iscsi_conn *c, bool immediate)
{
	struct iscsi_task *t = c->task_free;

	if (!t)
		return NULL;
	if (!immediate && c->nactive_nonimm >= c->window)
		return NULL;
	if (immediate && c->nactive - c->nactive_nonimm >= IMMEDIATE_TASKS)
		return NULL;
	c->task_free = t->next;
	t->next = c->active;
	t->prev = NULL;
	if (c->active)
		c->active->prev = t;
	c->active = t;
	c->nactive++;
	if (!immediate)
		c->nactive_nonimm++;
	t->immediate = immediate;
	t->aborted = false;
	t->finished_early = false;
	t->unsol_pending = false;
	t->datasn_bad = false;
	t->r2t_pending = false;
	t->got = t->want = 0;
	t->r2tsn = t->exp_datasn = 0;
	t->datain_off = t->datasn = t->xfer_in = 0;
	t->tx.queued = false;
	return t;
}

static struct iscsi_task *
task_find(struct iscsi_conn *c, uint32_t itt)
{
	for (struct iscsi_task *t = c->active; t; t = t->next)
		if (t->itt == itt)
			return t;
	return NULL;
}

static void tmf_task_gone(struct iscsi_conn *c, struct iscsi_task *t);

/* Residual flags/count of a finished command into a response header. */
static void
put_residual(struct iscsi_task *t, uint8_t *hdr)
{
	struct iscsi_scmd *sc = &t->sc;
	uint32_t edtl = sc->edtl, moved;

	if (sc->status != SCSI_STATUS_GOOD)
		return;
	if (sc->dir_write || sc->out_len) {
		moved = sc->out_len;
		if (sc->dir_read)
			return;
	} else {
		moved = sc->in_len;
	}
	if (moved < edtl) {
		hdr[1] |= ISCSI_RSP_UNDERFLOW;
		iscsi_put32(hdr + 44, edtl - moved);
	} else if (moved > edtl) {
		hdr[1] |= ISCSI_RSP_OVERFLOW;
		iscsi_put32(hdr + 44, moved - edtl);
	}
}

static void
build_response(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;
	struct iscsi_tx *tx = &t->tx;
	uint8_t *h = tx->hdr;

	iscsi_bhs_init(h, ISCSI_OP_SCSI_RSP, ISCSI_FLAG_FINAL, 0);
	h[2] = 0; /* command completed at target */
	h[3] = t->sc.status;
	iscsi_put32(h + 16, t->itt);
	put_sns(c, h, true);
	iscsi_put32(h + 36, t->sc.dir_read ? t->datasn : t->r2tsn);
	put_residual(t, h);
	tx->kind = TX_RSP;
	tx->data = t->rsp_data;
	tx->data_len = 0;
	if (t->sc.status == SCSI_STATUS_CHECK_CONDITION && t->sc.sense_len) {
		iscsi_put16(t->rsp_data, t->sc.sense_len);
		memcpy(t->rsp_data + 2, t->sc.sense, t->sc.sense_len);
		tx->data_len = 2u + t->sc.sense_len;
	}
	tx_queue(c, tx);
}

/* Queue the next Data-In PDU, or the response. */
static void
build_next_datain(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;
	struct iscsi_tx *tx = &t->tx;
	uint8_t *h = tx->hdr;
	uint32_t left = t->xfer_in - t->datain_off;
	uint32_t len = left < c->params.max_xmit_dsl ? left : c->params.max_xmit_dsl;
	uint32_t burst_left = c->params.max_burst - (t->datain_off % c->params.max_burst);
	bool last;
	uint8_t flags = 0;

	if (len > burst_left)
		len = burst_left;
	last = len == left;
	if (last || len == burst_left)
		flags |= ISCSI_FLAG_FINAL;
	iscsi_bhs_init(h, ISCSI_OP_DATA_IN, flags, 0);
	iscsi_put32(h + 16, t->itt);
	iscsi_put32(h + 20, ISCSI_RSVD_TAG);
	iscsi_put32(h + 36, t->datasn++);
	iscsi_put32(h + 40, t->datain_off);
	if (last && t->sc.status == SCSI_STATUS_GOOD) {
		/* Phase collapse: the status rides on the last Data-In. */
		h[1] |= ISCSI_DATAIN_STATUS | ISCSI_FLAG_FINAL;
		h[3] = SCSI_STATUS_GOOD;
		put_sns(c, h, true);
		put_residual(t, h);
		tx->kind = TX_RSP;
	} else {
		put_sns(c, h, false);
		tx->kind = TX_DATAIN;
	}
	tx->data = t->sc.buf + t->datain_off;
	tx->data_len = len;
	t->datain_off += len;
	tx_queue(c, tx);
}

/* A finished command: send Data-In and/or the response. */
static void
task_complete(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;
	struct iscsi_scmd *sc = &t->sc;

	if (c->phase != PH_FFP || t->aborted) {
		bool tmf = t->aborted;

		task_free(t);
		if (tmf)
			tmf_task_gone(c, t);
		return;
	}
	t->state = T_SEND;
	t->xfer_in = 0;
	if (sc->status == SCSI_STATUS_GOOD && sc->in_len && sc->dir_read)
		t->xfer_in = sc->in_len < sc->edtl ? sc->in_len : sc->edtl;
	if (t->xfer_in)
		build_next_datain(t);
	else
		build_response(t);
	conn_flush(c);
}

static void
task_tx_done(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;

	switch (t->tx.kind) {
	case TX_R2T:
		if (t->aborted && t->state == T_FREE)
			return;
		if (t->aborted) {
			task_free(t);
			tmf_task_gone(c, t);
		}
		return;
	case TX_DATAIN:
		if (c->phase != PH_FFP)
			return;
		if (t->datain_off < t->xfer_in)
			build_next_datain(t);
		else
			build_response(t);
		return;
	case TX_RSP:
		task_free(t);
		return;
	case TX_CTL:
		return;
	}
}

static void
scmd_done(struct iscsi_scmd *sc)
{
	struct iscsi_task *t = (struct iscsi_task *)sc;
	struct iscsi_conn *c = t->conn;

	(void)c;
	task_complete(t);
}

static void
task_exec(struct iscsi_task *t)
{
	t->state = T_EXEC;
	t->sc.out_got = t->got < t->sc.out_len ? t->got : t->sc.out_len;
	if (iscsi_scsi_exec(&t->sc) == 1)
		task_complete(t);
}

/* Solicit the next burst. */
static void
send_r2t(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;
	struct iscsi_tx *tx = &t->tx;
	uint8_t *h = tx->hdr;
	uint32_t len = t->want - t->got;

	if (len > c->params.max_burst)
		len = c->params.max_burst;
	t->r2t_off = t->got;
	t->r2t_len = len;
	t->r2t_pending = true;
	t->exp_datasn = 0;
	t->ttt = (uint32_t)(t - c->tasks) | ((t->r2tsn & 0xffffu) << 16);
	iscsi_bhs_init(h, ISCSI_OP_R2T, ISCSI_FLAG_FINAL, 0);
	iscsi_put64(h + 8, t->lun_raw);
	iscsi_put32(h + 16, t->itt);
	iscsi_put32(h + 20, t->ttt);
	put_sns(c, h, false);
	iscsi_put32(h + 24, c->statsn);
	iscsi_put32(h + 36, t->r2tsn++);
	iscsi_put32(h + 40, t->r2t_off);
	iscsi_put32(h + 44, len);
	tx->kind = TX_R2T;
	tx->data = NULL;
	tx->data_len = 0;
	tx_queue(c, tx);
}

/* After data arrived (or none is due): run or solicit more. */
static void
task_data_progress(struct iscsi_task *t)
{
	if (t->unsol_pending || t->r2t_pending)
		return;
	if (t->finished_early) {
		task_complete(t);
		return;
	}
	if (t->got >= t->want) {
		task_exec(t);
		return;
	}
	if (t->tx.queued)
		return; /* the previous R2T is still going out; cannot happen with F seen */
	send_r2t(t);
}

/* --------------------------------------------------------- PDU handlers */

static struct iscsi_lun *
lun_lookup(struct iscsi_conn *c, uint64_t raw, unsigned *slot)
{
	uint64_t n = iscsi_lun_decode(raw);

	if (!c->target || n == UINT64_MAX)
		return NULL;
	for (unsigned i = 0; i < c->target->nluns; i++)
		if (c->target->luns[i]->lun == n) {
			*slot = i;
			return c->target->luns[i];
		}
	return NULL;
}

/* CmdSN check for a non-immediate command. Returns true to process it. */
static bool
cmdsn_accept(struct iscsi_conn *c, const struct iscsi_bhs *b)
{
	if (b->immediate)
		return true;
	if (b->cmdsn != c->exp_cmdsn) {
		/* Out of window (or, with one connection, a gap): silently ignored. */
		rt_warn_rl(RT_SS_ISCSI, "%s: CmdSN %u outside window (expected %u); ignored",
			   c->peer, b->cmdsn, c->exp_cmdsn);
		return false;
	}
	c->exp_cmdsn++;
	return true;
}

/* The data segment of the current PDU lands at dst (up to dst_len), the rest is dropped. */
static void
rx_data_to(struct iscsi_conn *c, uint8_t *dst, uint32_t dst_len)
{
	c->rx_dst = dst;
	c->rx_dst_len = dst_len < c->cur.data_len ? dst_len : c->cur.data_len;
	if (!dst)
		c->rx_dst_len = 0;
}

static void
handle_scsi_cmd_hdr(struct iscsi_conn *c)
{
	const struct iscsi_bhs *b = &c->cur;
	const uint8_t *h = c->rx_bhs;
	struct iscsi_task *t;
	struct iscsi_scmd *sc;
	const uint8_t *ext_cdb;
	uint32_t ext_len;
	int rc;

	rx_data_to(c, NULL, 0);
	if (iscsi_ahs_parse(c->rx_ahs, b->ahs_len, &ext_cdb, &ext_len) < 0) {
		conn_close(c, "bad AHS");
		return;
	}
	if (!cmdsn_accept(c, b))
		return;
	t = task_get(c, b->immediate);
	if (!t) {
		/* The initiator overran MaxCmdSN. */
		send_reject(c, ISCSI_REJECT_OUT_OF_RESOURCES);
		return;
	}
	t->itt = b->itt;
	t->cmdsn = b->cmdsn;
	t->lun_raw = b->lun;
	t->state = T_DATA_OUT;
	sc = &t->sc;
	sc->lun = lun_lookup(c, b->lun, &sc->lun_slot);
	sc->nexus = &c->nexus;
	sc->ioq = &c->w->ioq;
	memcpy(sc->cdb, h + 32, ISCSI_CDB_MAX);
	sc->edtl = iscsi_get32(h + 20);
	sc->dir_read = (h[1] & ISCSI_CMD_READ) != 0;
	sc->dir_write = (h[1] & ISCSI_CMD_WRITE) != 0;
	sc->luns = (const struct iscsi_lun **)c->target->luns;
	sc->nluns = c->target->nluns;
	sc->max_io = c->max_io;
	sc->done = scmd_done;
	sc->out_got = 0;
	if (ext_cdb) {
		/* CDBs longer than 16 bytes (32-byte variable length): none served. */
		iscsi_scsi_sense(sc, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
		rc = 1;
	} else {
		rc = iscsi_scsi_prepare(sc);
	}
	t->unsol_pending = sc->dir_write && !b->final && !c->params.initial_r2t;
	if (rc == 1) {
		t->finished_early = true;
		t->want = 0;
	} else {
		t->want = sc->edtl < sc->out_len ? sc->edtl : sc->out_len;
		if (t->want > sc->buf_cap)
			t->want = sc->buf_cap;
	}
	if (!sc->dir_write && b->data_len) {
		conn_close(c, "immediate data on a command without W");
		return;
	}
	if (b->data_len) {
		if (!c->params.immediate_data || b->data_len > c->params.first_burst ||
		    b->data_len > sc->edtl) {
			conn_close(c, "unexpected immediate data");
			return;
		}
		rx_data_to(c, sc->buf, t->want);
		c->rx_task = t;
		return; /* continues in handle_data_end */
	}
	task_data_progress(t);
}

/*
 * A Data-Out whose DataSN is not the next one. With TCP below, a gap or a
 * repeat means the initiator lost (or re-sent) a data PDU, which RFC 7143
 * 7.9 tells the target to treat as an implied digest error (7.8): at
 * ErrorRecoveryLevel 0, with no recovery R2T, the target terminates the task
 * with CHECK CONDITION, ABORTED COMMAND / PROTOCOL SERVICE CRC ERROR, once
 * the rest of the data sequence (the F bit) is in. The connection lives on.
 * The command never runs: this and every later Data-Out of the task are
 * drained unread, and no further R2T is sent.
 */
static void
datasn_error(struct iscsi_conn *c, struct iscsi_task *t, uint32_t datasn)
{
	rt_warn_rl(RT_SS_ISCSI, "%s: ITT 0x%08x: Data-Out DataSN %u, expected %u; command "
		   "terminated (CHECK CONDITION)", c->peer, t->itt, datasn, t->exp_datasn);
	t->datasn_bad = true;
	if (!t->finished_early) {
		iscsi_scsi_sense(&t->sc, SK_ABORTED_COMMAND, ASC_PROTOCOL_SERVICE_CRC_ERROR);
		t->finished_early = true;
	}
	t->want = 0;
}

static void
handle_data_out_hdr(struct iscsi_conn *c)
{
	const struct iscsi_bhs *b = &c->cur;
	const uint8_t *h = c->rx_bhs;
	uint32_t off = iscsi_get32(h + 40), datasn = iscsi_get32(h + 36);
	struct iscsi_task *t = task_find(c, b->itt);

	rx_data_to(c, NULL, 0);
	c->rx_task = NULL;
	if (!t || t->state != T_DATA_OUT) {
		/* Data for a command that already finished (early or aborted): drained. */
		return;
	}
	if (b->ttt != ISCSI_RSVD_TAG) {
		if (!t->r2t_pending || b->ttt != t->ttt) {
			conn_close(c, "Data-Out with a stale Target Transfer Tag");
			return;
		}
	} else if (!t->unsol_pending) {
		conn_close(c, "unsolicited Data-Out not allowed");
		return;
	}
	if ((uint64_t)off + b->data_len > t->sc.edtl) {
		conn_close(c, "Data-Out beyond the expected transfer length");
		return;
	}
	if (!t->datasn_bad && datasn != t->exp_datasn)
		datasn_error(c, t, datasn);
	t->exp_datasn++;
	if (off < t->want)
		rx_data_to(c, t->sc.buf + off, t->want - off);
	c->rx_task = t;
}

/* The data segment of a SCSI Command or Data-Out is in. */
static void
handle_data_end(struct iscsi_conn *c)
{
	struct iscsi_task *t = c->rx_task;
	const struct iscsi_bhs *b = &c->cur;
	uint32_t off = 0;

	c->rx_task = NULL;
	if (!t)
		return;
	if (b->opcode == ISCSI_OP_DATA_OUT)
		off = iscsi_get32(c->rx_bhs + 40);
	if (off + c->rx_dst_len > t->got && c->rx_dst_len)
		t->got = off + c->rx_dst_len;
	if (b->opcode == ISCSI_OP_DATA_OUT && b->final) {
		if (b->ttt == ISCSI_RSVD_TAG)
			t->unsol_pending = false;
		else
			t->r2t_pending = false;
	} else if (b->opcode == ISCSI_OP_DATA_OUT && b->ttt != ISCSI_RSVD_TAG &&
		   off + b->data_len >= t->r2t_off + t->r2t_len) {
		t->r2t_pending = false;
	}
	task_data_progress(t);
}

static void
handle_nop_out(struct iscsi_conn *c)
{
	const struct iscsi_bhs *b = &c->cur;
	struct ctl_slot *s;

	if (b->itt == ISCSI_RSVD_TAG) {
		/* The answer to our ping. */
		if (b->ttt == c->ping_ttt)
			c->ping_sent_us = 0;
		return;
	}
	if (!cmdsn_accept(c, b))
		return;
	s = ctl_rsp(c, ISCSI_OP_NOP_IN, ISCSI_FLAG_FINAL, 0, b->itt, "no slot for NOP-In");
	if (!s)
		return;
	iscsi_put64(s->tx.hdr + 8, b->lun);
	iscsi_put32(s->tx.hdr + 20, ISCSI_RSVD_TAG);
	put_sns(c, s->tx.hdr, true);
	s->tx.data_len = b->data_len < c->params.max_xmit_dsl ? b->data_len
							       : c->params.max_xmit_dsl;
	memcpy(s->buf, c->ctl_rx, s->tx.data_len);
	tx_queue(c, &s->tx);
}

static void
send_tmf_rsp(struct iscsi_conn *c, uint32_t itt, uint8_t response)
{
	struct ctl_slot *s = ctl_rsp(c, ISCSI_OP_TMF_RSP, ISCSI_FLAG_FINAL, response, itt,
				     "no slot for a TMF response");

	if (!s)
		return;
	put_sns(c, s->tx.hdr, true);
	tx_queue(c, &s->tx);
}

static void
tmf_task_gone(struct iscsi_conn *c, struct iscsi_task *t)
{
	(void)t;
	if (!c->tmf_pending || c->tmf_wait == 0)
		return;
	if (--c->tmf_wait == 0) {
		c->tmf_pending = false;
		if (c->phase == PH_FFP) {
			send_tmf_rsp(c, c->tmf_itt, ISCSI_TMF_RSP_COMPLETE);
			conn_flush(c);
			if (c->tmf_func == ISCSI_TMF_TARGET_COLD_RESET)
				conn_close(c, "target cold reset");
		}
	}
}

/* Abort one task: returns true if the TMF must wait for it. */
static bool
task_abort(struct iscsi_task *t)
{
	switch (t->state) {
	case T_DATA_OUT:
		t->aborted = true;
		if (t->tx.queued)
			return true; /* its R2T is still going out */
		task_free(t);
		return false;
	case T_EXEC:
		t->aborted = true;
		return true;
	default:
		/* Already answered or answering: let it finish. */
		return false;
	}
}

static void
handle_tmf(struct iscsi_conn *c)
{
	const struct iscsi_bhs *b = &c->cur;
	uint8_t func = b->flags & 0x7f;
	uint32_t rtt = iscsi_get32(c->rx_bhs + 20);
	unsigned slot;
	struct iscsi_lun *lun;
	unsigned wait = 0;

	if (!cmdsn_accept(c, b))
		return;
	if (c->tmf_pending) {
		send_tmf_rsp(c, b->itt, ISCSI_TMF_RSP_REJECTED);
		return;
	}
	lun = lun_lookup(c, b->lun, &slot);
	switch (func) {
	case ISCSI_TMF_ABORT_TASK: {
		struct iscsi_task *t = task_find(c, rtt);

		if (!t || t->state == T_SEND) {
			/* Done already (or never received): the task does not exist. */
			send_tmf_rsp(c, b->itt, ISCSI_TMF_RSP_NO_TASK);
			return;
		}
		wait = task_abort(t);
		break;
	}
	case ISCSI_TMF_ABORT_TASK_SET:
	case ISCSI_TMF_CLEAR_TASK_SET:
	case ISCSI_TMF_LUN_RESET:
	case ISCSI_TMF_TARGET_WARM_RESET:
	case ISCSI_TMF_TARGET_COLD_RESET: {
		bool all = func == ISCSI_TMF_TARGET_WARM_RESET ||
			   func == ISCSI_TMF_TARGET_COLD_RESET;

		if (!all && !lun) {
			send_tmf_rsp(c, b->itt, ISCSI_TMF_RSP_NO_LUN);
			return;
		}
		for (struct iscsi_task *t = c->active, *next; t; t = next) {
			next = t->next;
			if (all || t->lun_raw == b->lun)
				wait += task_abort(t);
		}
		/* Resets clear RESERVE(6) and raise a unit attention on every nexus. */
		if (func == ISCSI_TMF_LUN_RESET && lun) {
			iscsi_pr_lun_reset(lun);
			atomic_fetch_add(&lun->reset_gen, 1);
			iscsi_pr_store_lun_reset(lun);
		}
		if (all)
			for (unsigned i = 0; i < c->target->nluns; i++) {
				iscsi_pr_lun_reset(c->target->luns[i]);
				atomic_fetch_add(&c->target->luns[i]->reset_gen, 1);
				iscsi_pr_store_lun_reset(c->target->luns[i]);
			}
		break;
	}
	case ISCSI_TMF_CLEAR_ACA:
		break;
	default:
		send_tmf_rsp(c, b->itt, ISCSI_TMF_RSP_NOT_SUPPORTED);
		return;
	}
	if (wait) {
		c->tmf_pending = true;
		c->tmf_itt = b->itt;
		c->tmf_wait = wait;
		c->tmf_func = func;
		return;
	}
	send_tmf_rsp(c, b->itt, ISCSI_TMF_RSP_COMPLETE);
	if (func == ISCSI_TMF_TARGET_COLD_RESET) {
		c->phase = PH_LOGOUT; /* close once the response is out */
	}
}

static void
handle_logout(struct iscsi_conn *c)
{
	const struct iscsi_bhs *b = &c->cur;
	uint8_t reason = b->flags & 0x7f;
	struct ctl_slot *s;

	if (!cmdsn_accept(c, b))
		return;
	/* Response 0: closed; 2: recovery not supported (reason 2 at ERL 0). */
	s = ctl_rsp(c, ISCSI_OP_LOGOUT_RSP, ISCSI_FLAG_FINAL, reason == 2 ? 2 : 0, b->itt,
		    "no slot for the Logout response");
	if (!s)
		return;
	put_sns(c, s->tx.hdr, true);
	iscsi_put16(s->tx.hdr + 40, (uint16_t)c->params.time2wait);
	iscsi_put16(s->tx.hdr + 42, (uint16_t)c->params.time2retain);
	tx_queue(c, &s->tx);
	if (reason != 2)
		c->phase = PH_LOGOUT;
}

static void
handle_text(struct iscsi_conn *c)
{
	const struct iscsi_bhs *b = &c->cur;
	struct ctl_slot *s;
	int n;

	if (!cmdsn_accept(c, b))
		return;
	if (b->data_len > sizeof(c->text) - c->text_len) {
		conn_close(c, "text request too long");
		return;
	}
	memcpy(c->text + c->text_len, c->ctl_rx, b->data_len);
	c->text_len += b->data_len;
	s = ctl_rsp(c, ISCSI_OP_TEXT_RSP, 0, 0, b->itt, "no slot for a Text response");
	if (!s)
		return;
	iscsi_put32(s->tx.hdr + 20, ISCSI_RSVD_TAG);
	if (b->flags & ISCSI_TEXT_CONTINUE) {
		/* More text to come: acknowledge with an empty response. */
		iscsi_put32(s->tx.hdr + 20, 0x1);
		put_sns(c, s->tx.hdr, true);
		tx_queue(c, &s->tx);
		return;
	}
	n = iscsi_text_answer(c->cfg, c->discovery ? NULL : c->target, c->initiator, c->text,
			      c->text_len, (char *)s->buf,
			      c->params.max_xmit_dsl < c->ctl_rx_cap ? c->params.max_xmit_dsl
								     : c->ctl_rx_cap);
	c->text_len = 0;
	if (n < 0) {
		s->next_free = c->ctl_free;
		c->ctl_free = s;
		send_reject(c, ISCSI_REJECT_PROTOCOL_ERROR);
		return;
	}
	s->tx.hdr[1] = ISCSI_FLAG_FINAL;
	put_sns(c, s->tx.hdr, true);
	s->tx.data_len = (uint32_t)n;
	tx_queue(c, &s->tx);
}

/* Allocate the task pool and buffers of a full-feature normal session. */
static int
conn_alloc_tasks(struct iscsi_conn *c)
{
	size_t per = 2 * (size_t)c->max_io;

	c->window = c->w->opts->cmd_window;
	c->ntasks = c->window + IMMEDIATE_TASKS;
	c->tasks = calloc(c->ntasks, sizeof(*c->tasks));
	if (!c->tasks)
		return -ENOMEM;
	c->bufs_len = per * c->ntasks;
	/* Touched lazily: only buffers in use cost memory. */
	c->bufs = mmap(NULL, c->bufs_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->bufs == MAP_FAILED) {
		c->bufs = NULL;
		return -ENOMEM;
	}
	for (unsigned i = c->ntasks; i-- > 0;) {
		struct iscsi_task *t = &c->tasks[i];

		t->conn = c;
		t->sc.buf = c->bufs + per * i;
		t->sc.buf_cap = (uint32_t)per;
		t->next = c->task_free;
		c->task_free = t;
	}
	return 0;
}

static void
handle_login(struct iscsi_conn *c)
{
	const struct iscsi_bhs *b = &c->cur;
	struct ctl_slot *s = ctl_get(c);
	enum iscsi_login_result r;
	uint32_t len = 0;

	if (!s) {
		conn_close(c, "no slot for a login response");
		return;
	}
	if (c->statsn == 0 && !c->login->started) {
		c->statsn = 1;
		c->exp_cmdsn = b->cmdsn;
	}
	r = iscsi_login_pdu(c->login, c->rx_bhs, (char *)c->ctl_rx, b->data_len, s->tx.hdr,
			    (char *)s->buf, c->ctl_rx_cap, &len);
	s->tx.data_len = len;
	c->window = 1;
	if (r == ISCSI_LOGIN_R_DONE) {
		struct iscsi_login *lg = c->login;

		c->params = lg->params;
		c->discovery = lg->discovery;
		c->target = lg->target;
		memcpy(c->isid, lg->isid, 6);
		snprintf(c->initiator, sizeof(c->initiator), "%s", lg->initiator);
		if (!c->discovery && conn_alloc_tasks(c) < 0) {
			s->tx.hdr[1] = 0;
			s->tx.hdr[36] = ISCSI_LOGIN_OUT_OF_RESOURCES >> 8;
			s->tx.hdr[37] = ISCSI_LOGIN_OUT_OF_RESOURCES & 0xff;
			s->tx.data_len = 0;
			r = ISCSI_LOGIN_R_FAIL;
		} else {
			c->tsih = sess_register(c);
			c->registered = true;
			iscsi_put16(s->tx.hdr + 14, c->tsih);
			snprintf(c->nexus.id, sizeof(c->nexus.id),
				 "%s,i,0x%02x%02x%02x%02x%02x%02x", c->initiator, c->isid[0],
				 c->isid[1], c->isid[2], c->isid[3], c->isid[4], c->isid[5]);
			c->nexus.rel_port_id = c->cfg->tpgt;
			if (c->target)
				for (unsigned i = 0; i < c->target->nluns; i++)
				{
					c->nexus.seen_size_gen[i] =
						atomic_load(&c->target->luns[i]->size_gen);
					c->nexus.seen_reset_gen[i] =
						atomic_load(&c->target->luns[i]->reset_gen);
				}
			if (c->window == 1 && c->discovery)
				c->window = 4;
		}
	}
	put_sns(c, s->tx.hdr, true);
	/* Login is immediate: ExpCmdSN stays at the login's CmdSN. */
	iscsi_put32(s->tx.hdr + 28, c->exp_cmdsn);
	iscsi_put32(s->tx.hdr + 32, max_cmdsn(c));
	{
		/* Digests start with the first PDU after the last Login Response. */
		bool hd = c->params.header_digest, dd = c->params.data_digest;

		c->params.header_digest = c->params.data_digest = false;
		tx_queue(c, &s->tx);
		c->params.header_digest = hd;
		c->params.data_digest = dd;
	}
	if (r == ISCSI_LOGIN_R_FAIL) {
		rt_info(RT_SS_ISCSI, "%s: login of '%s' refused (status 0x%04x)", c->peer,
			c->login->initiator, c->login->fail_status);
		c->phase = PH_LOGOUT;
	} else if (r == ISCSI_LOGIN_R_DONE) {
		rt_info(RT_SS_ISCSI, "%s: %s session of '%s'%s%s tsih %u", c->peer,
			c->discovery ? "discovery" : "normal", c->initiator,
			c->target ? " to " : "", c->target ? c->target->iqn : "", c->tsih);
		c->phase = PH_FFP;
		iscsi_login_fini(c->login);
		free(c->login);
		c->login = NULL;
	}
}

/* A whole PDU (header, data) is in: act on it. */
static void
handle_pdu(struct iscsi_conn *c)
{
	const struct iscsi_bhs *b = &c->cur;

	if (c->phase == PH_LOGIN) {
		handle_login(c);
		return;
	}
	switch (b->opcode) {
	case ISCSI_OP_SCSI_CMD:
	case ISCSI_OP_DATA_OUT:
		handle_data_end(c);
		break;
	case ISCSI_OP_NOP_OUT:
		handle_nop_out(c);
		break;
	case ISCSI_OP_TMF_REQ:
		if (c->discovery) {
			send_reject(c, ISCSI_REJECT_PROTOCOL_ERROR);
			break;
		}
		handle_tmf(c);
		break;
	case ISCSI_OP_TEXT_REQ:
		handle_text(c);
		break;
	case ISCSI_OP_LOGOUT_REQ:
		handle_logout(c);
		break;
	case ISCSI_OP_SNACK_REQ:
		send_reject(c, ISCSI_REJECT_SNACK_REJECT);
		break;
	case ISCSI_OP_LOGIN_REQ:
		conn_close(c, "Login Request in full feature phase");
		break;
	default:
		send_reject(c, ISCSI_REJECT_CMD_NOT_SUPPORTED);
		break;
	}
}

/* The header (with AHS and digest) is in: decide where the data goes. */
static bool
handle_header(struct iscsi_conn *c)
{
	const struct iscsi_bhs *b = &c->cur;

	c->rx_task = NULL;
	rx_data_to(c, c->ctl_rx, c->ctl_rx_cap);
	if (c->phase == PH_LOGIN) {
		if (b->opcode != ISCSI_OP_LOGIN_REQ) {
			conn_close(c, "not a Login Request during login");
			return false;
		}
		return true;
	}
	switch (b->opcode) {
	case ISCSI_OP_SCSI_CMD:
		if (c->discovery) {
			conn_close(c, "SCSI command in a discovery session");
			return false;
		}
		handle_scsi_cmd_hdr(c);
		break;
	case ISCSI_OP_DATA_OUT:
		if (c->discovery) {
			conn_close(c, "Data-Out in a discovery session");
			return false;
		}
		handle_data_out_hdr(c);
		break;
	default:
		break;
	}
	return c->phase != PH_DEAD;
}

/* Receive as much as is there. */
static void
conn_rx(struct iscsi_conn *c)
{
	for (int rounds = 0; rounds < 64; rounds++) {
		uint8_t *dst;
		uint32_t need;
		ssize_t n;

		if (c->phase == PH_DEAD || c->phase == PH_LOGOUT)
			return;
		/* Back-pressure: never start a PDU without a free control slot. */
		if (c->rx == RX_BHS && c->rx_got == 0 && !c->ctl_free) {
			c->rx_paused = true;
			return;
		}
		switch (c->rx) {
		case RX_BHS:
			dst = c->rx_bhs + c->rx_got;
			need = ISCSI_BHS_LEN - c->rx_got;
			break;
		case RX_AHS:
			dst = c->rx_ahs + c->rx_got;
			need = c->cur.ahs_len - c->rx_got;
			break;
		case RX_HDIGEST:
			dst = c->rx_digest + c->rx_got;
			need = ISCSI_DIGEST_LEN - c->rx_got;
			break;
		case RX_DATA:
			if (c->rx_data_got < c->rx_dst_len) {
				dst = c->rx_dst + c->rx_data_got;
				need = c->rx_dst_len - c->rx_data_got;
			} else {
				dst = c->discard;
				need = c->cur.data_len - c->rx_data_got;
				if (need > DISCARD_BUF)
					need = DISCARD_BUF;
			}
			break;
		default:
			dst = c->rx_trail + c->rx_got;
			need = c->rx_trail_len - c->rx_got;
			break;
		}
		n = recv(c->fd, dst, need, MSG_DONTWAIT);
		if (n == 0) {
			conn_close(c, "connection closed by peer");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			conn_close(c, "receive failed");
			return;
		}
		c->last_rx_us = c->w->now_us;
		if (c->rx == RX_DATA) {
			if (c->params.data_digest)
				c->rx_crc = rt_crc32c(c->rx_crc, dst, (size_t)n);
			c->rx_data_got += (uint32_t)n;
			if (c->rx_data_got < c->cur.data_len)
				continue;
		} else {
			c->rx_got += (uint32_t)n;
			if ((uint32_t)n < need)
				continue;
		}

		/* A stage is complete. */
		switch (c->rx) {
		case RX_BHS: {
			uint32_t maxd = c->phase == PH_LOGIN ? c->ctl_rx_cap : c->params.max_recv_dsl;
			int rc = iscsi_bhs_parse(c->rx_bhs, maxd, &c->cur);

			if (rc < 0) {
				rt_warn_rl(RT_SS_ISCSI, "%s: malformed PDU (opcode 0x%02x): %s",
					   c->peer, c->rx_bhs[0] & 0x3f,
					   rc == -EMSGSIZE ? "data segment too long"
							   : "bad header");
				conn_close(c, "malformed PDU");
				return;
			}
			c->rx_got = 0;
			if (c->cur.ahs_len) {
				c->rx = RX_AHS;
				continue;
			}
		}
			/* fall through */
		case RX_AHS:
			c->rx_got = 0;
			if (c->params.header_digest && c->phase != PH_LOGIN) {
				c->rx = RX_HDIGEST;
				continue;
			}
			/* fall through */
		case RX_HDIGEST:
			if (c->rx == RX_HDIGEST) {
				uint32_t crc = rt_crc32c(0, c->rx_bhs, ISCSI_BHS_LEN);

				crc = rt_crc32c(crc, c->rx_ahs, c->cur.ahs_len);
				if (crc != iscsi_get_digest(c->rx_digest)) {
					conn_close(c, "header digest error");
					return;
				}
			}
			c->rx_got = 0;
			if (!handle_header(c))
				return;
			c->rx_data_got = 0;
			c->rx_crc = 0;
			c->rx = RX_DATA;
			if (c->cur.data_len)
				continue;
			/* fall through */
		case RX_DATA:
			c->rx_trail_len = iscsi_pad4(c->cur.data_len);
			if (c->cur.data_len && c->params.data_digest && c->phase != PH_LOGIN)
				c->rx_trail_len += ISCSI_DIGEST_LEN;
			c->rx_got = 0;
			c->rx = RX_TRAIL;
			if (c->rx_trail_len)
				continue;
			/* fall through */
		default: {
			uint32_t pad = iscsi_pad4(c->cur.data_len);

			if (c->rx_trail_len > pad) {
				uint32_t crc = rt_crc32c(c->rx_crc, c->rx_trail, pad);

				if (crc != iscsi_get_digest(c->rx_trail + pad)) {
					conn_close(c, "data digest error");
					return;
				}
			}
			c->rx = RX_BHS;
			c->rx_got = 0;
			handle_pdu(c);
			conn_flush(c);
			break;
		}
		}
	}
}

/* ------------------------------------------------------------- life cycle */

static void
conn_destroy(struct iscsi_conn *c)
{
	struct iscsi_worker *w = c->w;

	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	if (c->login) {
		iscsi_login_fini(c->login);
		free(c->login);
	}
	if (c->bufs)
		munmap(c->bufs, c->bufs_len);
	free(c->tasks);
	free(c->ctl_rx);
	free(c->ctl_mem);
	free(c->discard);
	iscsi_config_put(c->cfg);
	free(c);
}

/*
 * Stop the connection: no more reads or sends. Tasks waiting for data go at
 * once; tasks in the backend finish into their buffers first (scmd_done
 * calls back here when the last one has), then the memory goes.
 */
static void
conn_close(struct iscsi_conn *c, const char *why)
{
	if (c->phase != PH_DEAD) {
		if (why)
			rt_info(RT_SS_ISCSI, "%s: closing connection (%s)", c->peer, why);
		c->phase = PH_DEAD;
		epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
		if (c->registered) {
			sess_unregister(c);
			c->registered = false;
			if (c->target)
				for (unsigned i = 0; i < c->target->nluns; i++)
					iscsi_pr_nexus_lost(c->target->luns[i], c->nexus.id);
		}
		/* Drop queued PDUs: tasks whose response was queued are done. */
		while (c->tx_head) {
			struct iscsi_tx *tx = c->tx_head;

			c->tx_head = tx->next;
			tx->queued = false;
			if (tx->kind == TX_RSP || tx->kind == TX_DATAIN)
				task_free((struct iscsi_task *)((char *)tx -
								offsetof(struct iscsi_task, tx)));
		}
		c->tx_tail = NULL;
		for (struct iscsi_task *t = c->active, *next; t; t = next) {
			next = t->next;
			if (t->state != T_EXEC)
				task_free(t);
		}
	}
	/* The worker frees it (reap_dead) once no task is in the backend. */
}

static void
reap_dead(struct iscsi_worker *w)
{
	for (struct iscsi_conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (c->phase == PH_DEAD && c->nactive == 0)
			conn_destroy(c);
	}
}

static void
conn_adopt(struct iscsi_worker *w, struct iscsi_conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

	c->w = w;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	/* The worker clock: tick arithmetic must never see a future time. */
	c->created_us = c->last_rx_us = w->now_us;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		conn_close(c, "epoll_ctl failed");
		return;
	}
}

int
iscsi_worker_add_conn(struct iscsi_worker *w, int fd, struct iscsi_config *cfg)
{
	struct iscsi_conn *c = calloc(1, sizeof(*c));
	uint32_t cap;
	uint64_t one = 1;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int on = 1;

	if (!c)
		return -ENOMEM;
	cap = cfg->limits.max_recv_dsl > CTL_BUF_MIN ? cfg->limits.max_recv_dsl : CTL_BUF_MIN;
	c->fd = fd;
	c->ctl_rx_cap = cap;
	c->ctl_rx = malloc(cap);
	c->ctl_mem = malloc((size_t)cap * CTL_SLOTS);
	c->discard = malloc(DISCARD_BUF);
	c->login = malloc(sizeof(*c->login));
	if (!c->ctl_rx || !c->ctl_mem || !c->discard || !c->login) {
		free(c->ctl_rx);
		free(c->ctl_mem);
		free(c->discard);
		free(c->login);
		free(c);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < CTL_SLOTS; i++) {
		c->ctl[i].buf = c->ctl_mem + (size_t)cap * i;
		c->ctl[i].next_free = c->ctl_free;
		c->ctl_free = &c->ctl[i];
	}
	iscsi_config_get(cfg);
	c->cfg = cfg;
	iscsi_login_init(c->login, cfg);
	iscsi_params_default(&c->params, &cfg->limits);
	c->params.max_recv_dsl = cap;
	c->max_io = cfg->limits.max_io;
	c->window = 1;
	atomic_init(&c->kill, false);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		const uint8_t *a = (const uint8_t *)&sin->sin_addr;

		snprintf(c->peer, sizeof(c->peer), "%u.%u.%u.%u:%u", a[0], a[1], a[2], a[3],
			 ntohs(sin->sin_port));
	} else {
		snprintf(c->peer, sizeof(c->peer), "fd%d", fd);
	}
	pthread_mutex_lock(&w->lock);
	c->next = w->incoming;
	w->incoming = c;
	pthread_mutex_unlock(&w->lock);
	if (write(w->wake_fd, &one, sizeof(one)) < 0) {
		/* eventfd counter overflow is impossible here */
	}
	return 0;
}

/* Keepalive and login timeouts, once a second. */
static void
worker_tick(struct iscsi_worker *w)
{
	const struct iscsi_server_opts *o = w->opts;

	for (struct iscsi_conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (c->phase == PH_LOGIN && o->login_timeout_us &&
		    w->now_us - c->created_us > o->login_timeout_us) {
			conn_close(c, "login timed out");
			continue;
		}
		if (c->phase != PH_FFP || !o->nop_interval_us)
			continue;
		if (c->ping_sent_us) {
			if (w->now_us - c->ping_sent_us > o->nop_timeout_us)
				conn_close(c, "NOP-In ping unanswered");
			continue;
		}
		if (w->now_us - c->last_rx_us > o->nop_interval_us) {
			struct ctl_slot *s = ctl_get(c);

			if (!s)
				continue;
			iscsi_bhs_init(s->tx.hdr, ISCSI_OP_NOP_IN, ISCSI_FLAG_FINAL, 0);
			iscsi_put32(s->tx.hdr + 16, ISCSI_RSVD_TAG);
			c->ping_ttt = (c->ping_ttt + 1) & 0x7fffffff;
			iscsi_put32(s->tx.hdr + 20, c->ping_ttt);
			/* A ping does not advance StatSN. */
			put_sns(c, s->tx.hdr, false);
			iscsi_put32(s->tx.hdr + 24, c->statsn);
			tx_queue(c, &s->tx);
			c->ping_sent_us = w->now_us;
			conn_flush(c);
		}
	}
}

/* ioq->complete_remote: queue cmd for its worker and wake it (any thread). */
static void
worker_complete_remote(struct iscsi_ioq *q, struct iscsi_scmd *cmd)
{
	struct iscsi_worker *w = q->owner;
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	cmd->remote_next = w->remote;
	w->remote = cmd;
	pthread_mutex_unlock(&w->lock);
	if (write(w->wake_fd, &one, sizeof(one)) < 0) {
		/* eventfd counter overflow is impossible here */
	}
}

static void
worker_wake(struct iscsi_worker *w)
{
	uint64_t v;
	struct iscsi_conn *in;
	struct iscsi_scmd *rem;

	if (read(w->wake_fd, &v, sizeof(v)) < 0) {
		/* spurious wake-up */
	}
	pthread_mutex_lock(&w->lock);
	in = w->incoming;
	w->incoming = NULL;
	rem = w->remote;
	w->remote = NULL;
	pthread_mutex_unlock(&w->lock);
	while (rem) {
		struct iscsi_scmd *next = rem->remote_next;

		rem->done(rem);
		rem = next;
	}
	while (in) {
		struct iscsi_conn *next = in->next;

		in->next = in->prev = NULL;
		conn_adopt(w, in);
		in = next;
	}
	for (struct iscsi_conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (atomic_load(&c->kill) && c->phase != PH_DEAD)
			conn_close(c, "session reinstated or target reconfigured");
	}
}

static void
worker_poll_backend(struct iscsi_worker *w)
{
	for (int i = 0; i < 64; i++) {
		int n = 0;

		if (w->ioq.tsr_queue) {
			n = iscsi_tsrq_poll(w->ioq.tsr_queue);
			if (n < 0)
				n = 0;
		}
		n += (int)iscsi_ioq_run_deferred(&w->ioq);
		if (w->ioq.wait_head)
			iscsi_ioq_retry(&w->ioq);
		if (n == 0)
			break;
	}
}

static void *
worker_main(void *arg)
{
	struct iscsi_worker *w = arg;
	struct epoll_event evs[64];
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	uint64_t next_tick;
	bool stop = false;

	if (w->tsr_cluster) {
		void *q = NULL;
		int qfd = -1;

		w->start_rc = iscsi_tsrq_create(w->tsr_cluster, &q, &qfd);
		if (w->start_rc == 0) {
			struct epoll_event qev = {.events = EPOLLIN, .data.ptr = w};

			w->ioq.tsr_queue = q;
			epoll_ctl(w->epfd, EPOLL_CTL_ADD, qfd, &qev);
		}
	}
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev);
	atomic_store(&w->started, true);
	if (w->start_rc < 0)
		return NULL;
	w->now_us = now_us();
	next_tick = w->now_us + 1000000;
	for (;;) {
		int timeout_ms = 1000, n;

		worker_poll_backend(w);
		if (w->ioq.defer_head || w->ioq.wait_head)
			timeout_ms = 0;
		n = epoll_wait(w->epfd, evs, 64, timeout_ms);
		w->now_us = now_us();
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == NULL) {
				worker_wake(w);
				pthread_mutex_lock(&w->lock);
				stop = w->stop;
				pthread_mutex_unlock(&w->lock);
				continue;
			}
			if (p == w)
				continue; /* the tsr queue: polled below */
			{
				struct iscsi_conn *c = p;

				if (c->phase == PH_DEAD)
					continue;
				if (evs[i].events & EPOLLOUT)
					conn_flush(c);
				if (c->phase != PH_DEAD && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
					conn_rx(c);
			}
		}
		reap_dead(w);
		if (w->now_us >= next_tick) {
			worker_tick(w);
			next_tick = w->now_us + 1000000;
		}
		if (stop) {
			for (struct iscsi_conn *c = w->conns, *next; c; c = next) {
				next = c->next;
				if (c->phase != PH_DEAD)
					conn_close(c, NULL);
			}
			/* Wait (bounded) for I/O still in the backend. */
			for (int i = 0; i < 3000 && w->conns; i++) {
				if (w->ioq.tsr_queue)
					iscsi_tsrq_wait(w->ioq.tsr_queue, 10000);
				else
					usleep(1000);
				worker_poll_backend(w);
				reap_dead(w);
			}
			break;
		}
	}
	if (w->ioq.tsr_queue && !w->conns) {
		iscsi_tsrq_destroy(w->ioq.tsr_queue);
		w->ioq.tsr_queue = NULL;
	}
	return NULL;
}

int
iscsi_worker_start(struct iscsi_worker *w, unsigned id, void *tsr_cluster,
		   const struct iscsi_server_opts *opts)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->tsr_cluster = tsr_cluster;
	w->opts = opts;
	w->ioq.complete_remote = worker_complete_remote;
	w->ioq.owner = w;
	pthread_mutex_init(&w->lock, NULL);
	atomic_init(&w->started, false);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -errno;
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0) {
		rc = -errno;
		close(w->epfd);
		return rc;
	}
	rc = -pthread_create(&w->thread, NULL, worker_main, w);
	if (rc < 0) {
		close(w->wake_fd);
		close(w->epfd);
		return rc;
	}
	/* Wait until the queue exists (bounded: creation is local). */
	for (int i = 0; i < 10000 && !atomic_load(&w->started); i++)
		usleep(1000);
	if (w->start_rc < 0) {
		pthread_join(w->thread, NULL);
		close(w->wake_fd);
		close(w->epfd);
		return w->start_rc;
	}
	return 0;
}

void
iscsi_worker_stop(struct iscsi_worker *w)
{
	uint64_t one = 1;
	struct iscsi_conn *in;

	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_mutex_unlock(&w->lock);
	if (write(w->wake_fd, &one, sizeof(one)) < 0) {
		/* cannot fail for an eventfd below its limit */
	}
	pthread_join(w->thread, NULL);
	in = w->incoming;
	while (in) {
		struct iscsi_conn *next = in->next;

		close(in->fd);
		iscsi_login_fini(in->login);
		free(in->login);
		free(in->ctl_rx);
		free(in->ctl_mem);
		free(in->discard);
		iscsi_config_put(in->cfg);
		free(in);
		in = next;
	}
	close(w->wake_fd);
	close(w->epfd);
	pthread_mutex_destroy(&w->lock);
}
