/*
 * libtessera's control thread: one monitor session per cluster handle.
 *
 * Design. The control thread owns a non-blocking TCP connection to a monitor
 * and runs a poll() loop over it and an eventfd that other threads write to
 * when they queue a request. Everything on the socket is a frame of
 * proto/frame.h:
 *
 *   session start  Subscribe{have_epoch} (maps are then pushed as full
 *                  ClusterMaps), a leader probe (an unwatch of volume 0:
 *                  only the leader accepts it), then a VolumeWatch for
 *                  every open volume;
 *   calls          volume directory RPCs from application threads
 *                  (tsr__ctl_call): encoded by the caller with a unique tag,
 *                  queued under ctl->lock, copied to the output buffer by the
 *                  control thread, answered by tag; the caller blocks on
 *                  ctl->cv with its own deadline and unlinks its request if
 *                  it gives up, so a late reply finds nothing and is dropped;
 *   GetMap         when the I/O side wants a newer map (tsr__map_want);
 *   Ping           every TSR_PING_US; a session silent for TSR_DEAD_US is
 *                  dropped (a monitor that hangs is noticed);
 *   watch refresh  every TSR_REFRESH_US while volumes are open, so that a
 *                  session left on a monitor that lost its leadership is
 *                  redirected to the new leader (which then knows the
 *                  watches: they are soft state on the leader).
 *
 * Leader. Writes and watches need the leader. A reply with
 * STATUS_ENOTLEADER carrying the leader's address moves the session there at
 * once (the request is queued again); without an address (election running)
 * or after a failure the session rotates through the configured monitors
 * with an exponential backoff (100 ms .. 2 s) after each full round.
 * Requests that were sent but not answered when a session ends are resent on
 * the next one, with the same tag. A resent create or rename may then answer
 * EEXIST / ENOENT if the first attempt was applied: the caller sees that.
 *
 * Maps. A pushed or fetched ClusterMap is validated by mon_map_from_pb and,
 * if newer than the handle's, published by tsr__map_publish (tsr_map.c),
 * which also updates open volumes and runs their watch callbacks on this
 * thread. Callers waiting for an epoch (tsr__ctl_wait_map) are woken after.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.pb-c.h"
#include "frame.h"
#include "map.pb-c.h"
#include "mon.pb-c.h"
#include "mon_map_pb.h"
#include "osd.pb-c.h"
#include "rt_arena.h"
#include "rt_err.h"
#include "rt_log.h"
#include "tsr_int.h"

#define TSR_MAX_MONS 16
#define TSR_ADDR_MAX 300
#define TSR_ARENA_BYTES (16u << 20)
#define TSR_PING_US (5ull * 1000000u)
#define TSR_DEAD_US (15ull * 1000000u)
#define TSR_REFRESH_US (5ull * 1000000u)
#define TSR_CONNECT_MAX_US (2ull * 1000000u)
#define TSR_BACKOFF_MIN_US (100ull * 1000u)
#define TSR_BACKOFF_MAX_US (2ull * 1000000u)
#define TSR_GETMAP_GAP_US (200ull * 1000u)

enum ctl_req_kind {
	REQ_CALL,      /* an application thread waits for it */
	REQ_SUBSCRIBE, /* internal: freed by the control thread */
	REQ_PING,
	REQ_WATCH,
	REQ_GETMAP,
};

struct ctl_list;

struct ctl_req {
	struct ctl_req *next, *prev;
	struct ctl_list *on; /* pending, sent or NULL */
	enum ctl_req_kind kind;
	uint64_t tag;
	unsigned char *buf; /* the encoded frame */
	size_t len;
	bool done;                 /* REQ_CALL: res is filled */
	struct tsr__call_res *res; /* REQ_CALL */
};

struct ctl_list {
	struct ctl_req *head, *tail;
};

enum ctl_state {
	CTL_DOWN,
	CTL_CONNECTING,
	CTL_UP,
};

enum ctl_rx_state {
	CTL_RX_HDR,
	CTL_RX_BODY,
};

struct tsr_ctl {
	struct tsr_cluster *cl;
	pthread_t thread;
	bool thread_started;
	int efd;

	pthread_mutex_t lock; /* guards pending, sent, stop, want_epoch, req->done */
	pthread_cond_t cv;    /* call answers and new maps (CLOCK_MONOTONIC) */
	struct ctl_list pending;
	struct ctl_list sent;
	bool stop;
	uint64_t want_epoch;
	_Atomic uint64_t next_tag;

	pthread_mutex_t watch_lock; /* serialises watch registration in open/close */
	pthread_mutex_t cb_lock;    /* held while watch callbacks run */

	/* Control thread only from here on. */
	char mons[TSR_MAX_MONS][TSR_ADDR_MAX];
	uint32_t n_mons;
	uint32_t cur;
	char leader[TSR_ADDR_MAX]; /* redirect target for the next attempt */
	char target[TSR_ADDR_MAX]; /* the monitor of the current session */
	int fd;
	enum ctl_state state;
	uint64_t connect_deadline_us;
	uint64_t retry_at_us;
	uint64_t backoff_us;
	uint32_t failed_attempts;
	uint64_t last_rx_us;
	uint64_t next_ping_us;
	uint64_t next_refresh_us;
	uint64_t next_getmap_us;
	bool getmap_inflight;
	bool logged_down;

	enum ctl_rx_state rx;
	unsigned char hdr_buf[FRAME_HDR_LEN];
	size_t got;
	struct frame_hdr hdr;
	unsigned char *body;
	size_t body_cap;
	struct rt_arena arena;
	struct frame_limits lim;

	unsigned char *out;
	size_t out_len, out_off, out_cap;
};

uint64_t
tsr__now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- request lists (under ctl->lock) --------------------------------------- */

static void
list_del(struct ctl_req *r)
{
	struct ctl_list *l = r->on;

	if (!l)
		return;
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->next = r->prev = NULL;
	r->on = NULL;
}

static void
list_add_tail(struct ctl_list *l, struct ctl_req *r)
{
	r->on = l;
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static void
list_add_head(struct ctl_list *l, struct ctl_req *r)
{
	r->on = l;
	r->prev = NULL;
	r->next = l->head;
	if (l->head)
		l->head->prev = r;
	else
		l->tail = r;
	l->head = r;
}

static void
req_free(struct ctl_req *r)
{
	free(r->buf);
	free(r);
}

static struct ctl_req *
req_new(struct tsr_ctl *ctl, enum ctl_req_kind kind, uint16_t type, const ProtobufCMessage *msg)
{
	struct ctl_req *r = calloc(1, sizeof(*r));
	size_t need = frame_encoded_size(msg);
	ssize_t n;

	if (!r)
		return NULL;
	r->kind = kind;
	r->tag = atomic_fetch_add(&ctl->next_tag, 1);
	r->buf = malloc(need);
	if (!r->buf) {
		free(r);
		return NULL;
	}
	n = frame_encode(r->buf, need, type, r->tag, 0, msg, NULL, 0);
	if (n < 0) {
		req_free(r);
		return NULL;
	}
	r->len = (size_t)n;
	return r;
}

static void
wake(struct tsr_ctl *ctl)
{
	uint64_t one = 1;
	ssize_t n = write(ctl->efd, &one, sizeof(one));

	(void)n; /* EAGAIN: already signalled */
}

/* ---- output ---------------------------------------------------------------- */

static int
out_append(struct tsr_ctl *ctl, const void *p, size_t len)
{
	if (ctl->out_off && ctl->out_off == ctl->out_len)
		ctl->out_off = ctl->out_len = 0;
	if (ctl->out_len + len > ctl->out_cap) {
		size_t cap = ctl->out_cap ? ctl->out_cap : 4096;
		unsigned char *n;

		while (cap < ctl->out_len + len)
			cap *= 2;
		n = realloc(ctl->out, cap);
		if (!n)
			return -ENOMEM;
		ctl->out = n;
		ctl->out_cap = cap;
	}
	memcpy(ctl->out + ctl->out_len, p, len);
	ctl->out_len += len;
	return 0;
}

/* Write what the socket takes now. Returns 0 or a reason to drop the session. */
static int
out_flush(struct tsr_ctl *ctl)
{
	while (ctl->out_off < ctl->out_len) {
		ssize_t n = send(ctl->fd, ctl->out + ctl->out_off, ctl->out_len - ctl->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		ctl->out_off += (size_t)n;
	}
	ctl->out_off = ctl->out_len = 0;
	return 0;
}

/* Queue an internal request on the session (control thread, session up). */
static void
send_internal(struct tsr_ctl *ctl, enum ctl_req_kind kind, uint16_t type,
	      const ProtobufCMessage *msg)
{
	struct ctl_req *r = req_new(ctl, kind, type, msg);

	if (!r) {
		rt_warn_rl(RT_SS_CLIENT, "out of memory queueing a monitor request");
		return;
	}
	if (out_append(ctl, r->buf, r->len) < 0) {
		req_free(r);
		return;
	}
	pthread_mutex_lock(&ctl->lock);
	list_add_tail(&ctl->sent, r);
	pthread_mutex_unlock(&ctl->lock);
}

/* Move queued calls to the output (session up). */
static void
send_pending(struct tsr_ctl *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	while (ctl->pending.head) {
		struct ctl_req *r = ctl->pending.head;

		if (out_append(ctl, r->buf, r->len) < 0)
			break;
		list_del(r);
		list_add_tail(&ctl->sent, r);
	}
	pthread_mutex_unlock(&ctl->lock);
}

/* VolumeWatch for every distinct volume id open on this handle. */
static void
send_watches(struct tsr_ctl *ctl)
{
	struct tsr_cluster *cl = ctl->cl;
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&cl->vol_lock);
	for (struct tsr_volume *v = cl->vols; v; v = v->next) {
		bool dup = false;

		for (size_t i = 0; i < n && !dup; i++)
			dup = ids[i] == v->id;
		if (dup || atomic_load(&v->removed) || v->ctl_nowatch)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			uint64_t *ni = realloc(ids, nc * sizeof(*ids));

			if (!ni)
				break;
			ids = ni;
			cap = nc;
		}
		ids[n++] = v->id;
	}
	pthread_mutex_unlock(&cl->vol_lock);
	for (size_t i = 0; i < n; i++) {
		Tessera__VolumeWatch w = TESSERA__VOLUME_WATCH__INIT;

		w.volume_id = ids[i];
		w.client_id = cl->client_id;
		send_internal(ctl, REQ_WATCH, FRAME_T_VOL_WATCH, &w.base);
	}
	free(ids);
}

/* ---- session --------------------------------------------------------------- */

static void
rx_reset(struct tsr_ctl *ctl)
{
	ctl->rx = CTL_RX_HDR;
	ctl->got = 0;
}

/*
 * End the session. redirect: go to ctl->leader at once; otherwise try the
 * next monitor, with a backoff after every full round of failures.
 */
static void
session_drop(struct tsr_ctl *ctl, const char *why, int rc, bool redirect)
{
	uint64_t now = tsr__now_us();
	struct ctl_list keep = { NULL, NULL };

	if (ctl->fd >= 0) {
		close(ctl->fd);
		ctl->fd = -1;
	}
	if (ctl->state == CTL_UP || !ctl->logged_down) {
		if (redirect)
			rt_info(RT_SS_CLIENT, "monitor %s: %s; going to %s", ctl->target, why,
				ctl->leader);
		else if (rc == 0)
			/* Not the leader / no quorum: an election, expected. */
			rt_info(RT_SS_CLIENT, "monitor %s: %s; trying the next one", ctl->target,
				why);
		else
			rt_warn_rl(RT_SS_CLIENT, "monitor %s: %s: %s (%d)", ctl->target, why,
				   rt_strerror(rc), rc);
		ctl->logged_down = !redirect;
	}
	ctl->state = CTL_DOWN;
	ctl->out_len = ctl->out_off = 0;
	ctl->getmap_inflight = false;
	rx_reset(ctl);
	/* Calls sent and not answered go first on the next session, in order. */
	pthread_mutex_lock(&ctl->lock);
	while (ctl->sent.head) {
		struct ctl_req *r = ctl->sent.head;

		list_del(r);
		if (r->kind == REQ_CALL)
			list_add_tail(&keep, r);
		else
			req_free(r);
	}
	while (keep.tail) {
		struct ctl_req *r = keep.tail;

		list_del(r);
		list_add_head(&ctl->pending, r);
	}
	pthread_mutex_unlock(&ctl->lock);
	if (redirect) {
		ctl->retry_at_us = now;
		return;
	}
	ctl->leader[0] = '\0';
	ctl->cur++;
	if (++ctl->failed_attempts % ctl->n_mons == 0) {
		ctl->retry_at_us = now + ctl->backoff_us;
		ctl->backoff_us = ctl->backoff_us * 2 > TSR_BACKOFF_MAX_US ? TSR_BACKOFF_MAX_US
									  : ctl->backoff_us * 2;
	} else {
		ctl->retry_at_us = now;
	}
}

/* Split "host:port" / "[v6]:port" and start a non-blocking connect. */
static int
start_connect(struct tsr_ctl *ctl)
{
	const char *addr, *colon;
	char host[TSR_ADDR_MAX], port[8];
	struct addrinfo hints = { 0 }, *ai = NULL;
	size_t hl;
	int fd, rc, one = 1;

	if (ctl->leader[0]) {
		snprintf(ctl->target, sizeof(ctl->target), "%s", ctl->leader);
		ctl->leader[0] = '\0';
	} else {
		snprintf(ctl->target, sizeof(ctl->target), "%s", ctl->mons[ctl->cur % ctl->n_mons]);
	}
	addr = ctl->target;
	colon = strrchr(addr, ':');
	if (!colon)
		return -EINVAL;
	hl = (size_t)(colon - addr);
	if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
		addr++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host) || strlen(colon + 1) >= sizeof(port))
		return -EINVAL;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0 || !ai)
		return -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		freeaddrinfo(ai);
		return rc;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc < 0 && errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	ctl->fd = fd;
	ctl->state = CTL_CONNECTING;
	ctl->connect_deadline_us =
		tsr__now_us() + (ctl->cl->conf.connect_timeout_us < TSR_CONNECT_MAX_US
					 ? ctl->cl->conf.connect_timeout_us
					 : TSR_CONNECT_MAX_US);
	return 0;
}

/* Connected: subscribe, register watches, send what waits. */
static void
session_up(struct tsr_ctl *ctl)
{
	Tessera__Subscribe sub = TESSERA__SUBSCRIBE__INIT;
	uint64_t now = tsr__now_us();

	ctl->state = CTL_UP;
	ctl->last_rx_us = now;
	ctl->next_ping_us = now + TSR_PING_US;
	ctl->next_refresh_us = now + TSR_REFRESH_US;
	rx_reset(ctl);
	sub.have_epoch = atomic_load(&ctl->cl->epoch);
	sub.incremental = false;
	send_internal(ctl, REQ_SUBSCRIBE, FRAME_T_SUBSCRIBE, &sub.base);
	/*
	 * Leader probe: only the leader accepts a VolumeWatch (an unwatch of
	 * volume 0 changes nothing). A follower answers STATUS_ENOTLEADER and
	 * the session moves to the leader before any call's answer is used:
	 * replies come in order, and a follower's VolumeGet may lag behind a
	 * change another client has just made.
	 */
	{
		Tessera__VolumeWatch probe = TESSERA__VOLUME_WATCH__INIT;

		probe.client_id = ctl->cl->client_id;
		probe.unwatch = true;
		send_internal(ctl, REQ_WATCH, FRAME_T_VOL_WATCH, &probe.base);
	}
	send_watches(ctl);
	send_pending(ctl);
	rt_debug(RT_SS_CLIENT, "session with monitor %s", ctl->target);
}

/* ---- incoming -------------------------------------------------------------- */

static void
apply_map(struct tsr_ctl *ctl, const Tessera__ClusterMap *pb)
{
	struct tsr_cluster *cl = ctl->cl;
	struct mon_map *m = NULL;
	int rc;

	if (!pb)
		return;
	rc = mon_map_from_pb(pb, &m);
	if (rc < 0) {
		rt_warn_rl(RT_SS_CLIENT, "monitor %s sent a bad map: %s (%d)", ctl->target,
			   rt_strerror(rc), rc);
		return;
	}
	if (m->epoch <= atomic_load(&cl->epoch)) {
		mon_map_destroy(&m);
		return;
	}
	if (ctl->logged_down || atomic_load(&cl->epoch) == 0)
		rt_info(RT_SS_CLIENT, "map " DF_EPOCH " from monitor %s", DP_EPOCH(m->epoch),
			ctl->target);
	ctl->logged_down = false;
	ctl->failed_attempts = 0;
	ctl->backoff_us = TSR_BACKOFF_MIN_US;
	tsr__map_publish(cl, m);
	pthread_mutex_lock(&ctl->lock);
	if (ctl->want_epoch <= atomic_load(&cl->epoch))
		ctl->want_epoch = 0;
	pthread_cond_broadcast(&ctl->cv);
	pthread_mutex_unlock(&ctl->lock);
}

static void
vol_rec_from_pb(struct tsr__vol_rec *out, const Tessera__VolumeInfo *v)
{
	memset(out, 0, sizeof(*out));
	out->id = v->id;
	snprintf(out->name, sizeof(out->name), "%s", v->name ? v->name : "");
	out->pool = v->pool;
	out->size = v->size;
	out->object_size = v->object_size;
	out->features = v->features;
}

/* The reply to a call: fill its result (under ctl->lock). */
static void
call_fill(struct ctl_req *r, uint16_t type, const ProtobufCMessage *msg, int rc)
{
	struct tsr__call_res *res = r->res;

	res->rc = rc;
	if (type == FRAME_T_REPLY) {
		const Tessera__Reply *x = (const Tessera__Reply *)msg;

		snprintf(res->msg, sizeof(res->msg), "%s", x->message ? x->message : "");
		res->epoch = x->epoch;
	} else if (type == FRAME_T_VOL_REPLY) {
		const Tessera__VolumeReply *x = (const Tessera__VolumeReply *)msg;

		snprintf(res->msg, sizeof(res->msg), "%s", x->message ? x->message : "");
		res->epoch = x->epoch;
		if (x->volume) {
			res->has_vol = true;
			vol_rec_from_pb(&res->vol, x->volume);
		}
		if (x->n_volumes) {
			res->list = calloc(x->n_volumes, sizeof(*res->list));
			if (!res->list) {
				res->rc = -ENOMEM;
			} else {
				for (size_t i = 0; i < x->n_volumes; i++)
					if (x->volumes[i])
						vol_rec_from_pb(&res->list[res->n_list++],
								x->volumes[i]);
			}
		}
	} else if (type == FRAME_T_MAP_REPLY) {
		const Tessera__MapReply *x = (const Tessera__MapReply *)msg;

		snprintf(res->msg, sizeof(res->msg), "%s", x->message ? x->message : "");
	} else {
		res->rc = -EPROTO;
		snprintf(res->msg, sizeof(res->msg), "unexpected reply type %s",
			 frame_type_name(type));
	}
	r->done = true;
}

/* Status and leader of the replies the control thread gets. */
static int
reply_status(uint16_t type, const ProtobufCMessage *msg, const Tessera__Address **leader)
{
	*leader = NULL;
	switch (type) {
	case FRAME_T_REPLY: {
		const Tessera__Reply *r = (const Tessera__Reply *)msg;

		*leader = r->leader_addr;
		return r->status;
	}
	case FRAME_T_VOL_REPLY: {
		const Tessera__VolumeReply *r = (const Tessera__VolumeReply *)msg;

		*leader = r->leader_addr;
		return r->status;
	}
	case FRAME_T_MAP_REPLY:
		return ((const Tessera__MapReply *)msg)->status;
	default:
		return TESSERA__STATUS__STATUS_OK;
	}
}

/*
 * A reply. Returns 0, or 1 when the session was dropped (redirect), or a
 * negative reason to drop it.
 */
static int
handle_reply(struct tsr_ctl *ctl, uint16_t type, const ProtobufCMessage *msg, uint64_t tag)
{
	const Tessera__Address *la;
	struct ctl_req *r;
	int status = reply_status(type, msg, &la);

	pthread_mutex_lock(&ctl->lock);
	for (r = ctl->sent.head; r && r->tag != tag; r = r->next)
		;
	if (!r) {
		/* A pong, or the answer to a call whose caller gave up. */
		pthread_mutex_unlock(&ctl->lock);
		return 0;
	}
	list_del(r);
	if (status == TESSERA__STATUS__STATUS_ENOTLEADER ||
	    status == TESSERA__STATUS__STATUS_ENOQUORUM) {
		bool redirect = false;

		if (r->kind == REQ_CALL)
			list_add_head(&ctl->pending, r);
		else
			req_free(r);
		pthread_mutex_unlock(&ctl->lock);
		if (status == TESSERA__STATUS__STATUS_ENOTLEADER && la && la->host && *la->host &&
		    la->port > 0 && la->port <= 65535) {
			snprintf(ctl->leader, sizeof(ctl->leader), "%s%s%s:%u",
				 strchr(la->host, ':') ? "[" : "", la->host,
				 strchr(la->host, ':') ? "]" : "", la->port);
			/* Redirected to where we are: the leader is not ready yet. */
			redirect = strcmp(ctl->leader, ctl->target) != 0;
		}
		session_drop(ctl, status == TESSERA__STATUS__STATUS_ENOTLEADER
					  ? "not the leader"
					  : "no quorum",
			     0, redirect);
		return 1;
	}
	switch (r->kind) {
	case REQ_CALL:
		call_fill(r, type, msg, frame_status_to_errno(status));
		pthread_cond_broadcast(&ctl->cv);
		pthread_mutex_unlock(&ctl->lock);
		return 0; /* the caller frees r */
	case REQ_GETMAP:
		ctl->getmap_inflight = false;
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&ctl->lock);
	if (r->kind == REQ_SUBSCRIBE && status != TESSERA__STATUS__STATUS_OK) {
		req_free(r);
		return -EPROTO;
	}
	if (r->kind == REQ_GETMAP && type == FRAME_T_MAP_REPLY)
		apply_map(ctl, ((const Tessera__MapReply *)msg)->map);
	req_free(r);
	return 0;
}

/* One whole frame in ctl->hdr / ctl->body. Returns as handle_reply. */
static int
rx_frame(struct tsr_ctl *ctl)
{
	ProtobufCMessage *msg = NULL;
	int rc;

	rt_arena_reset(&ctl->arena);
	rc = frame_msg_decode(&ctl->hdr, ctl->body, &ctl->arena, &msg);
	if (rc < 0)
		return rc;
	if (ctl->hdr.flags & FRAME_F_REPLY)
		return handle_reply(ctl, ctl->hdr.type, msg, ctl->hdr.tag);
	switch (ctl->hdr.type) {
	case FRAME_T_MAP:
		apply_map(ctl, (const Tessera__ClusterMap *)msg);
		break;
	case FRAME_T_MAP_INC:
		/* Not asked for: fetch the full map instead. */
		tsr__ctl_want(ctl->cl, ((const Tessera__MapIncremental *)msg)->to_epoch);
		break;
	default:
		rt_debug(RT_SS_CLIENT, "monitor %s: unexpected %s ignored", ctl->target,
			 frame_type_name(ctl->hdr.type));
		break;
	}
	return 0;
}

/* Read what is there. Returns 0, 1 (session dropped), or a reason to drop. */
static int
rx_read(struct tsr_ctl *ctl)
{
	unsigned char buf[65536];
	ssize_t n = recv(ctl->fd, buf, sizeof(buf), MSG_DONTWAIT);
	const unsigned char *p = buf;
	int rc;

	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	ctl->last_rx_us = tsr__now_us();
	while (n > 0) {
		if (ctl->rx == CTL_RX_HDR) {
			size_t take = FRAME_HDR_LEN - ctl->got;

			if (take > (size_t)n)
				take = (size_t)n;
			memcpy(ctl->hdr_buf + ctl->got, p, take);
			ctl->got += take;
			p += take;
			n -= (ssize_t)take;
			if (ctl->got < FRAME_HDR_LEN)
				break;
			rc = frame_hdr_decode(ctl->hdr_buf, &ctl->lim, &ctl->hdr);
			if (rc < 0)
				return rc;
			if (ctl->hdr.data_len)
				return -EBADMSG;
			if (ctl->hdr.msg_len + 1 > ctl->body_cap) {
				unsigned char *nb = realloc(ctl->body, ctl->hdr.msg_len + 1);

				if (!nb)
					return -ENOMEM;
				ctl->body = nb;
				ctl->body_cap = ctl->hdr.msg_len + 1;
			}
			ctl->got = 0;
			ctl->rx = CTL_RX_BODY;
		} else {
			size_t take = ctl->hdr.msg_len - ctl->got;

			if (take > (size_t)n)
				take = (size_t)n;
			memcpy(ctl->body + ctl->got, p, take);
			ctl->got += take;
			p += take;
			n -= (ssize_t)take;
		}
		if (ctl->rx == CTL_RX_BODY && ctl->got == ctl->hdr.msg_len) {
			rx_reset(ctl);
			rc = rx_frame(ctl);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* ---- the loop -------------------------------------------------------------- */

static void
timers(struct tsr_ctl *ctl, uint64_t now)
{
	struct tsr_cluster *cl = ctl->cl;
	uint64_t want;
	bool any_vols;

	if (now >= ctl->next_ping_us) {
		Tessera__Ping ping = TESSERA__PING__INIT;

		send_internal(ctl, REQ_PING, FRAME_T_PING, &ping.base);
		ctl->next_ping_us = now + TSR_PING_US;
	}
	if (now >= ctl->next_refresh_us) {
		pthread_mutex_lock(&cl->vol_lock);
		any_vols = cl->vols != NULL;
		pthread_mutex_unlock(&cl->vol_lock);
		if (any_vols)
			send_watches(ctl);
		ctl->next_refresh_us = now + TSR_REFRESH_US;
	}
	pthread_mutex_lock(&ctl->lock);
	want = ctl->want_epoch;
	pthread_mutex_unlock(&ctl->lock);
	if (want > atomic_load(&cl->epoch) && !ctl->getmap_inflight &&
	    now >= ctl->next_getmap_us) {
		Tessera__GetMap g = TESSERA__GET_MAP__INIT;

		send_internal(ctl, REQ_GETMAP, FRAME_T_GET_MAP, &g.base);
		ctl->getmap_inflight = true;
		ctl->next_getmap_us = now + TSR_GETMAP_GAP_US;
	}
}

static int
poll_timeout_ms(struct tsr_ctl *ctl, uint64_t now)
{
	uint64_t at = now + 1000000u;

	if (ctl->state == CTL_DOWN && ctl->retry_at_us < at)
		at = ctl->retry_at_us;
	if (ctl->state == CTL_CONNECTING && ctl->connect_deadline_us < at)
		at = ctl->connect_deadline_us;
	if (ctl->state == CTL_UP) {
		if (ctl->next_ping_us < at)
			at = ctl->next_ping_us;
		if (ctl->next_refresh_us < at)
			at = ctl->next_refresh_us;
		if (ctl->last_rx_us + TSR_DEAD_US < at)
			at = ctl->last_rx_us + TSR_DEAD_US;
		if (ctl->want_epoch && ctl->next_getmap_us < at)
			at = ctl->next_getmap_us;
	}
	return at <= now ? 0 : (int)((at - now + 999) / 1000);
}

static void *
ctl_thread(void *arg)
{
	struct tsr_ctl *ctl = arg;

	for (;;) {
		struct pollfd pfd[2];
		uint64_t now = tsr__now_us();
		int rc, nfd = 1;
		bool stop;

		pthread_mutex_lock(&ctl->lock);
		stop = ctl->stop;
		pthread_mutex_unlock(&ctl->lock);
		if (stop)
			break;
		if (ctl->state == CTL_DOWN && now >= ctl->retry_at_us) {
			rc = start_connect(ctl);
			if (rc < 0)
				session_drop(ctl, "cannot connect", rc, false);
		}
		if (ctl->state == CTL_CONNECTING && now >= ctl->connect_deadline_us)
			session_drop(ctl, "connect timed out", -ETIMEDOUT, false);
		if (ctl->state == CTL_UP) {
			if (now >= ctl->last_rx_us + TSR_DEAD_US) {
				session_drop(ctl, "no answer", -ETIMEDOUT, false);
			} else {
				timers(ctl, now);
				send_pending(ctl);
				rc = out_flush(ctl);
				if (rc < 0)
					session_drop(ctl, "send failed", rc, false);
			}
		}
		pfd[0].fd = ctl->efd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		if (ctl->state != CTL_DOWN) {
			pfd[1].fd = ctl->fd;
			pfd[1].events = ctl->state == CTL_CONNECTING ? POLLOUT : POLLIN;
			if (ctl->state == CTL_UP && ctl->out_off < ctl->out_len)
				pfd[1].events |= POLLOUT;
			pfd[1].revents = 0;
			nfd = 2;
		}
		rc = poll(pfd, (nfds_t)nfd, poll_timeout_ms(ctl, tsr__now_us()));
		if (rc < 0 && errno != EINTR) {
			rt_err(RT_SS_CLIENT, "control thread: poll: %s", strerror(errno));
			break;
		}
		if (rc <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			uint64_t v;
			ssize_t n = read(ctl->efd, &v, sizeof(v));

			(void)n;
		}
		if (nfd < 2 || !pfd[1].revents)
			continue;
		if (ctl->state == CTL_CONNECTING) {
			int err = 0;
			socklen_t el = sizeof(err);

			getsockopt(ctl->fd, SOL_SOCKET, SO_ERROR, &err, &el);
			if (err || (pfd[1].revents & (POLLERR | POLLHUP)))
				session_drop(ctl, "cannot connect", err ? -err : -ECONNREFUSED,
					     false);
			else
				session_up(ctl);
			continue;
		}
		if (pfd[1].revents & (POLLIN | POLLERR | POLLHUP)) {
			rc = rx_read(ctl);
			if (rc < 0) {
				session_drop(ctl, rc == -ECONNRESET ? "connection closed"
								    : "bad frame or read error",
					     rc, false);
				continue;
			}
			if (rc == 1)
				continue;
		}
		if (ctl->state == CTL_UP && (pfd[1].revents & POLLOUT)) {
			rc = out_flush(ctl);
			if (rc < 0)
				session_drop(ctl, "send failed", rc, false);
		}
	}
	return NULL;
}

/* ---- API for the other control files --------------------------------------- */

static void
ctl_free(struct tsr_ctl *ctl)
{
	if (ctl->fd >= 0)
		close(ctl->fd);
	if (ctl->efd >= 0)
		close(ctl->efd);
	while (ctl->pending.head) {
		struct ctl_req *r = ctl->pending.head;

		list_del(r);
		if (r->kind != REQ_CALL)
			req_free(r);
	}
	while (ctl->sent.head) {
		struct ctl_req *r = ctl->sent.head;

		list_del(r);
		if (r->kind != REQ_CALL)
			req_free(r);
	}
	rt_arena_fini(&ctl->arena);
	free(ctl->body);
	free(ctl->out);
	pthread_mutex_destroy(&ctl->lock);
	pthread_cond_destroy(&ctl->cv);
	pthread_mutex_destroy(&ctl->watch_lock);
	pthread_mutex_destroy(&ctl->cb_lock);
	free(ctl);
}

int
tsr__ctl_start(struct tsr_cluster *cl)
{
	struct tsr_ctl *ctl;
	pthread_condattr_t ca;
	const char *p;
	int rc;

	if (tsr__conf_mon_check(cl->conf.mon) < 0)
		return -EINVAL;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->cl = cl;
	ctl->fd = -1;
	ctl->efd = -1;
	ctl->backoff_us = TSR_BACKOFF_MIN_US;
	atomic_init(&ctl->next_tag, 1);
	pthread_mutex_init(&ctl->lock, NULL);
	pthread_mutex_init(&ctl->watch_lock, NULL);
	pthread_mutex_init(&ctl->cb_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ctl->cv, &ca);
	pthread_condattr_destroy(&ca);
	frame_limits_init(&ctl->lim);
	ctl->lim.max_data_len = 0;
	for (p = cl->conf.mon; p && *p && ctl->n_mons < TSR_MAX_MONS;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len >= TSR_ADDR_MAX) {
			rc = -EINVAL;
			goto out_free;
		}
		memcpy(ctl->mons[ctl->n_mons], p, len);
		ctl->mons[ctl->n_mons][len] = '\0';
		ctl->n_mons++;
		p = comma ? comma + 1 : NULL;
	}
	if (!ctl->n_mons) {
		rc = -EINVAL;
		goto out_free;
	}
	/* Start at a random monitor so that clients spread over followers. */
	ctl->cur = (uint32_t)(cl->client_id % ctl->n_mons);
	rc = rt_arena_init(&ctl->arena, TSR_ARENA_BYTES);
	if (rc < 0)
		goto out_free;
	ctl->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ctl->efd < 0) {
		rc = -errno;
		goto out_free;
	}
	cl->ctl = ctl;
	rc = -pthread_create(&ctl->thread, NULL, ctl_thread, ctl);
	if (rc < 0) {
		cl->ctl = NULL;
		goto out_free;
	}
	ctl->thread_started = true;
	return 0;

out_free:
	ctl_free(ctl);
	return rc;
}

void
tsr__ctl_stop(struct tsr_cluster *cl)
{
	struct tsr_ctl *ctl = cl->ctl;

	if (!ctl)
		return;
	pthread_mutex_lock(&ctl->lock);
	ctl->stop = true;
	pthread_cond_broadcast(&ctl->cv);
	pthread_mutex_unlock(&ctl->lock);
	wake(ctl);
	if (ctl->thread_started)
		pthread_join(ctl->thread, NULL);
	cl->ctl = NULL;
	ctl_free(ctl);
}

bool
tsr__ctl_is_ctl_thread(struct tsr_cluster *cl)
{
	return cl->ctl && cl->ctl->thread_started && pthread_equal(pthread_self(), cl->ctl->thread);
}

static void
deadline_ts(uint64_t deadline_us, struct timespec *ts)
{
	ts->tv_sec = (time_t)(deadline_us / 1000000u);
	ts->tv_nsec = (long)(deadline_us % 1000000u) * 1000;
}

int
tsr__ctl_call(struct tsr_cluster *cl, uint16_t type, const struct ProtobufCMessage *msg,
	      struct tsr__call_res *res)
{
	struct tsr_ctl *ctl = cl->ctl;
	uint64_t deadline = tsr__now_us() + cl->conf.connect_timeout_us;
	struct timespec ts;
	struct ctl_req *r;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (!ctl || atomic_load(&cl->stopping))
		return -ENOTCONN;
	if (tsr__ctl_is_ctl_thread(cl)) {
		rt_err(RT_SS_CLIENT, "a blocking libtessera call from a watch callback would "
				     "deadlock: refused");
		return -EDEADLK;
	}
	r = req_new(ctl, REQ_CALL, type, msg);
	if (!r)
		return -ENOMEM;
	r->res = res;
	deadline_ts(deadline, &ts);
	pthread_mutex_lock(&ctl->lock);
	list_add_tail(&ctl->pending, r);
	wake(ctl);
	while (!r->done && !ctl->stop) {
		if (pthread_cond_timedwait(&ctl->cv, &ctl->lock, &ts) == ETIMEDOUT)
			break;
	}
	if (!r->done) {
		list_del(r);
		rc = ctl->stop ? -ENOTCONN : -ETIMEDOUT;
	}
	pthread_mutex_unlock(&ctl->lock);
	req_free(r);
	if (rc < 0) {
		free(res->list);
		res->list = NULL;
		res->n_list = 0;
		if (rc == -ETIMEDOUT)
			rt_err(RT_SS_CLIENT, "%s: no answer from the monitors within %" PRIu64 " ms",
			       frame_type_name(type), cl->conf.connect_timeout_us / 1000);
	}
	return rc;
}

int
tsr__ctl_wait_map(struct tsr_cluster *cl, uint64_t epoch, uint64_t deadline_us)
{
	struct tsr_ctl *ctl = cl->ctl;
	struct timespec ts;
	int rc = 0;

	if (!ctl)
		return -ENOTCONN;
	if (atomic_load(&cl->epoch) >= epoch)
		return 0;
	if (tsr__ctl_is_ctl_thread(cl))
		return -EDEADLK;
	deadline_ts(deadline_us, &ts);
	pthread_mutex_lock(&ctl->lock);
	while (atomic_load(&cl->epoch) < epoch) {
		if (ctl->stop) {
			rc = -ENOTCONN;
			break;
		}
		if (pthread_cond_timedwait(&ctl->cv, &ctl->lock, &ts) == ETIMEDOUT) {
			rc = atomic_load(&cl->epoch) >= epoch ? 0 : -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&ctl->lock);
	return rc;
}

void
tsr__ctl_want(struct tsr_cluster *cl, uint64_t epoch)
{
	struct tsr_ctl *ctl = cl->ctl;

	if (!ctl || epoch <= atomic_load(&cl->epoch))
		return;
	pthread_mutex_lock(&ctl->lock);
	if (epoch > ctl->want_epoch)
		ctl->want_epoch = epoch;
	pthread_mutex_unlock(&ctl->lock);
	wake(ctl);
}

void
tsr__ctl_watch_lock(struct tsr_cluster *cl, bool lock)
{
	if (lock)
		pthread_mutex_lock(&cl->ctl->watch_lock);
	else
		pthread_mutex_unlock(&cl->ctl->watch_lock);
}

void
tsr__ctl_cb_lock(struct tsr_cluster *cl, bool lock)
{
	if (lock)
		pthread_mutex_lock(&cl->ctl->cb_lock);
	else
		pthread_mutex_unlock(&cl->ctl->cb_lock);
}
