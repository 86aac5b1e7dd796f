/*
 * libtessera I/O engine: requests cut into object sub-requests, sent to the
 * primary OSD reactor of each object's PG, resent on failures and map
 * changes with the same request id, completed once.
 *
 * A queue (struct tsr_queue) is one rt_reactor + one rt_msgr driven by one
 * thread. Its requests come from a pool made at creation; each request owns
 * TSR_SUB_MAX sub-requests that stream through the request's range: a
 * sub-request covers one piece (tsr_stripe.h: within one object, at most
 * TSR_PIECE_MAX bytes, at most TSR_SUB_IOV iovecs of the caller's buffers),
 * and when it completes it takes the next piece. So any request size works
 * with fixed memory and no allocation per I/O.
 *
 * Sub-request life (docs/client.md "Failures, resends and timeouts"):
 *   WAIT -> send to the primary of the PG in the queue's map -> SENT
 *   SENT -> reply OK (or ENOENT for reads/deletes: zeroes) -> piece done
 *        -> STATUS_ESTALE_EPOCH / ENOTPRIMARY / EPGINACTIVE / EAGAIN: ask
 *           the control thread for a newer map, WAIT with a backoff timer
 *           (a new map resends at once)
 *        -> connection closed: WAIT with backoff (reconnects)
 *        -> any other status: the request fails with it
 * Every resend keeps the sub-request's req_id: the OSD's PG log answers a
 * duplicate without applying it twice.
 *
 * Buffers: write data goes to the messenger as iovecs into the caller's
 * buffers; read replies are received straight into them (alloc_data). A
 * sub-request whose send is still queued, or whose reply is being received,
 * is "pinned": a request ends (and its callback runs, so the caller may free
 * the buffers) only after every pin is gone. A timeout closes the
 * connections that pin it, so it ends promptly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.pb-c.h"
#include "frame.h"
#include "osd.pb-c.h"
#include "rt_err.h"
#include "rt_log.h"
#include "rt_pg.h"
#include "tsr_ioq.h"

static void sub_send(struct tsr_sub *sub);
static void sub_done(struct tsr_sub *sub, int rc);
static void req_maybe_complete(struct tsr_req *req);

/* ---------------------------------------------------------------- write scopes */

void
tsr__ws_init(struct tsr_wscope *ws)
{
	memset(ws, 0, sizeof(*ws));
	pthread_mutex_init(&ws->lock, NULL);
}

void
tsr__ws_fini(struct tsr_wscope *ws)
{
	pthread_mutex_destroy(&ws->lock);
}

void
tsr__ws_add(struct tsr_wscope *ws, struct tsr_wnode *wn)
{
	pthread_mutex_lock(&ws->lock);
	wn->seq = ++ws->next_seq;
	wn->next = NULL;
	wn->prev = ws->tail;
	if (ws->tail)
		ws->tail->next = wn;
	else
		ws->head = wn;
	ws->tail = wn;
	pthread_mutex_unlock(&ws->lock);
}

uint64_t
tsr__ws_horizon(struct tsr_wscope *ws)
{
	uint64_t h;

	pthread_mutex_lock(&ws->lock);
	h = ws->next_seq;
	pthread_mutex_unlock(&ws->lock);
	return h;
}

static void flush_done_msg(void *ctx);

/* ws->lock held: complete the flushes no earlier write holds back. */
static void
ws_wake_locked(struct tsr_wscope *ws)
{
	struct tsr_req **pp = &ws->waiters;

	while (*pp) {
		struct tsr_req *f = *pp;

		if (!ws->head || ws->head->seq > f->fl_upto) {
			*pp = f->fl_next;
			f->fl_next = NULL;
			rt_reactor_post(f->q->r, &f->xmsg, flush_done_msg, f);
		} else {
			pp = &f->fl_next;
		}
	}
}

static void
ws_remove(struct tsr_wscope *ws, struct tsr_wnode *wn, int rc)
{
	pthread_mutex_lock(&ws->lock);
	if (wn->prev)
		wn->prev->next = wn->next;
	else
		ws->head = wn->next;
	if (wn->next)
		wn->next->prev = wn->prev;
	else
		ws->tail = wn->prev;
	wn->prev = wn->next = NULL;
	if (rc < 0)
		for (struct tsr_req *f = ws->waiters; f; f = f->fl_next)
			if (wn->seq <= f->fl_upto && f->fl_err == 0)
				f->fl_err = rc;
	ws_wake_locked(ws);
	pthread_mutex_unlock(&ws->lock);
}

static void
flush_start(struct tsr_req *req)
{
	struct tsr_wscope *ws = req->ws;

	pthread_mutex_lock(&ws->lock);
	if (!ws->head || ws->head->seq > req->fl_upto) {
		pthread_mutex_unlock(&ws->lock);
		req_maybe_complete(req);
		return;
	}
	req->active++; /* held until the scope wakes us */
	req->fl_next = ws->waiters;
	ws->waiters = req;
	pthread_mutex_unlock(&ws->lock);
}

static void
flush_done_msg(void *ctx)
{
	struct tsr_req *req = ctx;

	tsr_result_merge(&req->err, req->fl_err);
	req->active--;
	req_maybe_complete(req);
}

/* -------------------------------------------------------------------- helpers */

int
tsr__io_check(struct tsr_volume *vol, uint64_t off, uint64_t len)
{
	uint64_t size;

	if (!vol)
		return -EINVAL;
	if (atomic_load_explicit(&vol->removed, memory_order_acquire))
		return -ENOENT;
	if (off % TSR_BLOCK_SIZE || len % TSR_BLOCK_SIZE)
		return -EINVAL;
	size = atomic_load_explicit(&vol->size, memory_order_acquire);
	if (off > size || len > size - off)
		return -ERANGE;
	return 0;
}

static struct tsr_sub *
sub_by_tag(struct tsr_queue *q, uint64_t tag)
{
	uint64_t ri = tag / TSR_SUB_MAX;

	if (ri >= q->depth)
		return NULL;
	return &q->reqs[ri].subs[tag % TSR_SUB_MAX];
}

/* Refresh the queue's map reference if the control side published a newer one. */
static void
queue_map_refresh(struct tsr_queue *q)
{
	struct tsr_map *m;

	if (q->map && q->map->m->epoch >= atomic_load_explicit(&q->cl->epoch, memory_order_acquire))
		return;
	m = tsr__map_get(q->cl);
	if (!m)
		return;
	if (q->map && m->m->epoch <= q->map->m->epoch) {
		tsr__map_put(m);
		return;
	}
	tsr__map_put(q->map);
	q->map = m;
}

static uint64_t
queue_epoch(const struct tsr_queue *q)
{
	return q->map ? q->map->m->epoch : 0;
}

/* ----------------------------------------------------------------- connections */

static void conn_on_frame(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
			  const struct iovec *data, int data_cnt);
static void conn_on_close(struct rt_conn *c, int reason);
static int conn_alloc_data(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
			   struct iovec *iov, int max_iov);

static const struct rt_conn_ops conn_ops = {
	.on_frame = conn_on_frame,
	.on_close = conn_on_close,
	.alloc_data = conn_alloc_data,
};

static void
conn_unlink_sub(struct tsr_sub *sub)
{
	struct tsr_conn *tc = sub->conn;

	if (!tc)
		return;
	if (sub->cprev)
		sub->cprev->cnext = sub->cnext;
	else
		tc->sent = sub->cnext;
	if (sub->cnext)
		sub->cnext->cprev = sub->cprev;
	sub->cprev = sub->cnext = NULL;
	sub->conn = NULL;
}

static void
conn_link_sub(struct tsr_conn *tc, struct tsr_sub *sub)
{
	sub->conn = tc;
	sub->cprev = NULL;
	sub->cnext = tc->sent;
	if (tc->sent)
		tc->sent->cprev = sub;
	tc->sent = sub;
}

/* Does tc point at addr (compared as host + port, no formatting per I/O)? */
static bool
conn_addr_is(const struct tsr_conn *tc, const struct mon_addr *addr)
{
	return tc->host_port.port == addr->port && strcmp(tc->host_port.host, addr->host) == 0;
}

/* The connection to (osd, ridx) at addr, connecting if needed. NULL: cannot. */
static struct tsr_conn *
conn_get(struct tsr_queue *q, uint32_t osd, uint32_t ridx, const struct mon_addr *addr)
{
	unsigned b = (osd * 31u + ridx) % TSR_CONN_BUCKETS;
	struct tsr_conn *tc;
	char astr[sizeof(tc->addr)];
	struct sockaddr_storage ss;
	socklen_t sl;
	int rc;

	for (tc = q->conns[b]; tc; tc = tc->hnext)
		if (tc->osd == osd && tc->ridx == ridx)
			break;
	if (!tc) {
		tc = calloc(1, sizeof(*tc)); /* once per OSD reactor, not per I/O */
		if (!tc)
			return NULL;
		tc->q = q;
		tc->osd = osd;
		tc->ridx = ridx;
		tc->hnext = q->conns[b];
		q->conns[b] = tc;
	}
	if (tc->c && !conn_addr_is(tc, addr)) {
		/* The OSD came back on another address: its subs resend via on_close. */
		rt_conn_close(tc->c, -ECONNRESET);
		tc->c = NULL;
	}
	if (tc->c)
		return rt_conn_is_closing(tc->c) ? NULL : tc;
	tc->host_port = *addr;
	if (strchr(addr->host, ':'))
		snprintf(astr, sizeof(astr), "[%s]:%u", addr->host, addr->port);
	else
		snprintf(astr, sizeof(astr), "%s:%u", addr->host, addr->port);
	memcpy(tc->addr, astr, sizeof(tc->addr));
	if (rt_msgr_parse_addr(astr, &ss, &sl) < 0)
		return NULL;
	rc = rt_msgr_connect(q->m, (struct sockaddr *)&ss, sl, &conn_ops, tc, &tc->c);
	if (rc < 0) {
		tc->c = NULL;
		return NULL;
	}
	return tc;
}

static void
conn_close_all(struct tsr_queue *q)
{
	for (unsigned b = 0; b < TSR_CONN_BUCKETS; b++)
		for (struct tsr_conn *tc = q->conns[b]; tc; tc = tc->hnext)
			if (tc->c)
				rt_conn_close(tc->c, -ECANCELED);
}

/* ----------------------------------------------------------------- targeting */

/* The primary's reactor address for sub's object. 0, -EAGAIN (none now), -ENOENT (no pool). */
static int
sub_target(struct tsr_sub *sub, uint32_t *osd_out, uint32_t *ridx_out, uint32_t *seed_out,
	   const struct mon_addr **addr_out)
{
	struct tsr_req *req = sub->req;
	struct tsr_queue *q = req->q;
	const struct mon_pool *pool;
	const struct mon_pg *pg;
	const struct mon_osd *o = NULL;
	const struct mon_addr *a;
	uint64_t oid = tsr__object_id(req->vol_id, sub->ext.obj_idx);
	uint32_t seed;

	if (!q->map)
		return -EAGAIN;
	pool = mon_map_pool(q->map->m, req->pool);
	if (!pool)
		return -ENOENT;
	if (pool->pg_count == 0 || !pool->pgs)
		return -EAGAIN;
	seed = rt_pg_of(req->pool, oid, pool->pg_count);
	pg = &pool->pgs[seed];
	for (unsigned i = 0; i < pg->n_acting; i++) {
		o = mon_map_osd(q->map->m, pg->acting[i]);
		if (o && o->up && o->n_reactors > 0)
			break;
		o = NULL;
	}
	if (!o)
		return -EAGAIN;
	*osd_out = o->id;
	*ridx_out = rt_pg_reactor(seed, o->n_reactors);
	*seed_out = seed;
	a = &o->reactors[*ridx_out];
	*addr_out = a; /* formatted only when a connection is made (conn_get) */
	return 0;
}

/* ------------------------------------------------------------------- sends */

static void
sub_backoff_fire(struct rt_timer *t)
{
	struct tsr_sub *sub = (struct tsr_sub *)((char *)t - offsetof(struct tsr_sub, backoff));

	if (sub->state != TSR_SUB_WAIT)
		return;
	if (sub->fail_rc) {
		int rc = sub->fail_rc;

		sub->fail_rc = 0;
		sub_done(sub, rc);
		return;
	}
	sub_send(sub);
}

static void
sub_backoff(struct tsr_sub *sub)
{
	uint64_t us = TSR_BACKOFF_MIN_US;

	sub->state = TSR_SUB_WAIT;
	for (uint32_t i = 0; i < sub->attempts && us < TSR_BACKOFF_MAX_US; i++)
		us *= 2;
	if (us > TSR_BACKOFF_MAX_US)
		us = TSR_BACKOFF_MAX_US;
	rt_timer_start(sub->req->q->r, &sub->backoff, us, 0);
}

/* Fail sub from the loop (never inside the call that found the error). */
static void
sub_fail_later(struct tsr_sub *sub, int rc)
{
	sub->state = TSR_SUB_WAIT;
	sub->fail_rc = rc;
	rt_timer_start(sub->req->q->r, &sub->backoff, 0, 0);
}

static void
sub_try_release(struct tsr_sub *sub);

static void
sub_sent_cb(struct rt_msgr_send *s, int rc)
{
	struct tsr_sub *sub = (struct tsr_sub *)((char *)s - offsetof(struct tsr_sub, send));

	(void)rc; /* a failed send shows up as the connection's on_close */
	sub->send_busy = false;
	if (sub->state == TSR_SUB_DONE)
		sub_try_release(sub);
}

static void
sub_send(struct tsr_sub *sub)
{
	struct tsr_req *req = sub->req;
	struct tsr_queue *q = req->q;
	Tessera__ClientOp m = TESSERA__CLIENT_OP__INIT;
	Tessera__ObjectId oid = TESSERA__OBJECT_ID__INIT;
	Tessera__PgId pgid = TESSERA__PG_ID__INIT;
	uint32_t osd, ridx, seed;
	struct tsr_conn *tc;
	const struct mon_addr *addr;
	int rc, cnt;

	rt_timer_stop(q->r, &sub->backoff);
	if (sub->send_busy) {
		/* The previous send still holds the frame: retry when it is gone. */
		sub_backoff(sub);
		return;
	}
	queue_map_refresh(q);
	rc = sub_target(sub, &osd, &ridx, &seed, &addr);
	if (rc == -ENOENT) {
		sub_fail_later(sub, -ENOENT);
		return;
	}
	if (rc < 0) {
		sub->attempts++;
		sub_backoff(sub);
		return;
	}
	tc = conn_get(q, osd, ridx, addr);
	if (!tc) {
		sub->attempts++;
		sub_backoff(sub);
		return;
	}
	oid.pool = req->pool;
	oid.id = tsr__object_id(req->vol_id, sub->ext.obj_idx);
	pgid.pool = req->pool;
	pgid.seed = seed;
	m.client_id = q->cl->client_id;
	m.req_id = sub->req_id;
	m.epoch = queue_epoch(q);
	m.op = (Tessera__OpType)sub->wire_op;
	m.oid = &oid;
	m.pg = &pgid;
	m.offset = sub->wire_op == TESSERA__OP_TYPE__OP_DELETE ? 0 : sub->ext.obj_off;
	m.length = sub->wire_op == TESSERA__OP_TYPE__OP_DELETE ? 0 : sub->ext.len;
	cnt = (sub->wire_op == TESSERA__OP_TYPE__OP_WRITE ||
	       sub->wire_op == TESSERA__OP_TYPE__OP_COMPARE_AND_WRITE) ? sub->iovcnt : 0;
	rc = rt_msgr_send_prep(&sub->send, sub->head, sizeof(sub->head), FRAME_T_CLIENT_OP,
			       sub->index, cnt ? FRAME_F_DATA_CRC : 0, &m.base,
			       cnt ? sub->iov : NULL, cnt, sub_sent_cb);
	if (rc < 0) {
		sub_fail_later(sub, rc);
		return;
	}
	rc = rt_conn_send(tc->c, &sub->send);
	if (rc < 0) {
		sub->attempts++;
		sub_backoff(sub);
		return;
	}
	rt_debug(RT_SS_CLIENT, "req %llu op %u obj %llu+%llu+%llu -> osd.%u/%u e%llu (attempt %u)",
		 (unsigned long long)sub->req_id, sub->wire_op,
		 (unsigned long long)sub->ext.obj_idx, (unsigned long long)sub->ext.obj_off,
		 (unsigned long long)sub->ext.len, osd, ridx, (unsigned long long)m.epoch,
		 sub->attempts);
	if (sub->attempts > 0)
		q->stats.resends++;
	sub->send_busy = true;
	sub->state = TSR_SUB_SENT;
	conn_link_sub(tc, sub);
}

/* --------------------------------------------------------------- sub-requests */

/* Cut the request's next piece into sub. Returns 0 or -EINVAL (iovecs too fragmented). */
static int
sub_fill(struct tsr_sub *sub)
{
	struct tsr_req *req = sub->req;
	uint64_t max = 0;
	size_t got;

	switch (req->op) {
	case TSR_OP_READ:
	case TSR_OP_WRITE:
		max = TSR_PIECE_MAX;
		break;
	default:
		break;
	}
	tsr_stripe_first(req->object_size, req->off + req->issued, req->len - req->issued, max,
			 &sub->ext);
	sub->vol_off = req->off + req->issued;
	sub->iovcnt = 0;
	switch (req->op) {
	case TSR_OP_READ:
	case TSR_OP_WRITE:
		got = tsr_iov_slice(&req->cur, sub->ext.len, TSR_BLOCK_SIZE, sub->iov, TSR_SUB_IOV,
				    &sub->iovcnt);
		if (got == 0)
			return -EINVAL;
		sub->ext.len = got;
		sub->wire_op = req->op == TSR_OP_READ ? TESSERA__OP_TYPE__OP_READ
						      : TESSERA__OP_TYPE__OP_WRITE;
		break;
	case TSR_OP_CAW:
		sub->iov[0].iov_base = (void *)req->cmp;
		sub->iov[0].iov_len = sub->ext.len;
		sub->iov[1].iov_base = req->iov[0].iov_base;
		sub->iov[1].iov_len = sub->ext.len;
		sub->iovcnt = 2;
		sub->wire_op = TESSERA__OP_TYPE__OP_COMPARE_AND_WRITE;
		break;
	case TSR_OP_DISCARD:
	case TSR_OP_WRITE_ZEROES:
	case TSR_OP_TRIM:
		if (sub->ext.obj_off == 0 && sub->ext.len == req->object_size)
			sub->wire_op = TESSERA__OP_TYPE__OP_DELETE; /* frees the whole object */
		else if (req->op == TSR_OP_WRITE_ZEROES)
			sub->wire_op = TESSERA__OP_TYPE__OP_WRITE_ZEROES;
		else
			sub->wire_op = TESSERA__OP_TYPE__OP_DISCARD;
		break;
	default:
		return -EINVAL;
	}
	req->issued += sub->ext.len;
	sub->req_id = atomic_fetch_add_explicit(&req->q->io->next_req_id, 1, memory_order_relaxed);
	sub->attempts = 0;
	sub->eio_resends = 0;
	sub->fail_rc = 0;
	sub->state = TSR_SUB_WAIT;
	req->active++;
	return 0;
}

static void
sub_try_release(struct tsr_sub *sub)
{
	struct tsr_req *req = sub->req;

	if (sub->state != TSR_SUB_DONE || sub->send_busy || sub->rx_busy)
		return;
	sub->state = TSR_SUB_FREE;
	req->active--;
	if (!req->finishing && req->err == 0 && req->issued < req->len) {
		int rc = sub_fill(sub);

		if (rc == 0) {
			sub_send(sub);
			return;
		}
		tsr_result_merge(&req->err, rc);
	}
	req_maybe_complete(req);
}

static void
sub_done(struct tsr_sub *sub, int rc)
{
	struct tsr_req *req = sub->req;

	rt_timer_stop(req->q->r, &sub->backoff);
	conn_unlink_sub(sub);
	tsr_result_merge(&req->err, rc);
	sub->state = TSR_SUB_DONE;
	sub_try_release(sub);
}

/* --------------------------------------------------------------- replies */

static int
conn_alloc_data(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
		struct iovec *iov, int max_iov)
{
	struct tsr_conn *tc = rt_conn_user(c);
	const Tessera__ClientOpReply *rep = (const Tessera__ClientOpReply *)msg;
	struct tsr_sub *sub;

	if (hdr->type != FRAME_T_CLIENT_OP_REPLY)
		return 0;
	sub = sub_by_tag(tc->q, hdr->tag);
	if (!sub || sub->state != TSR_SUB_SENT || sub->conn != tc || rep->req_id != sub->req_id ||
	    sub->wire_op != TESSERA__OP_TYPE__OP_READ ||
	    rep->status != TESSERA__STATUS__STATUS_OK || hdr->data_len != sub->ext.len ||
	    sub->iovcnt > max_iov)
		return 0; /* the default buffer takes it (and drops it) */
	memcpy(iov, sub->iov, (size_t)sub->iovcnt * sizeof(*iov));
	sub->rx_busy = true;
	tc->rx_sub = sub;
	return sub->iovcnt;
}

/* Copy a reply's data into sub's buffers (only if it did not land there). */
static void
copy_in(struct tsr_sub *sub, const struct iovec *data, int data_cnt)
{
	int di = 0;
	size_t doff = 0;

	for (int i = 0; i < sub->iovcnt; i++) {
		char *dst = sub->iov[i].iov_base;
		size_t left = sub->iov[i].iov_len;

		while (left > 0 && di < data_cnt) {
			size_t avail = data[di].iov_len - doff;
			size_t n = avail < left ? avail : left;

			memcpy(dst, (const char *)data[di].iov_base + doff, n);
			dst += n;
			left -= n;
			doff += n;
			if (doff == data[di].iov_len) {
				di++;
				doff = 0;
			}
		}
	}
}

static bool
status_is_retry(int st)
{
	return st == TESSERA__STATUS__STATUS_ESTALE_EPOCH ||
	       st == TESSERA__STATUS__STATUS_ENOTPRIMARY ||
	       st == TESSERA__STATUS__STATUS_EPGINACTIVE || st == TESSERA__STATUS__STATUS_EAGAIN;
}

static void
conn_on_frame(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	      const struct iovec *data, int data_cnt)
{
	struct tsr_conn *tc = rt_conn_user(c);
	struct tsr_queue *q = tc->q;
	const Tessera__ClientOpReply *rep;
	struct tsr_sub *sub;
	bool landed = false;
	int st;

	if (hdr->type != FRAME_T_CLIENT_OP_REPLY)
		return;
	rep = (const Tessera__ClientOpReply *)msg;
	sub = sub_by_tag(q, hdr->tag);
	if (!sub)
		return;
	if (tc->rx_sub == sub) {
		tc->rx_sub = NULL;
		sub->rx_busy = false;
		landed = true;
	}
	if (sub->state != TSR_SUB_SENT || sub->conn != tc || rep->req_id != sub->req_id) {
		/* A stale reply (an earlier attempt, another connection). */
		sub_try_release(sub);
		return;
	}
	st = rep->status;
	rt_debug(RT_SS_CLIENT, "req %llu: status %d", (unsigned long long)sub->req_id, st);
	if (rep->epoch > queue_epoch(q))
		tsr__map_want(q->cl, rep->epoch);
	/*
	 * A mutation answered EIO because a replica failed: the primary applied
	 * and logged it and re-peers; a resend with the same req_id is answered
	 * from its PG log (docs/osd.md). A local failure is logged as EIO too,
	 * so the resends are bounded.
	 */
	if (st == TESSERA__STATUS__STATUS_EIO && sub->wire_op != TESSERA__OP_TYPE__OP_READ &&
	    sub->eio_resends < TSR_EIO_RESENDS) {
		sub->eio_resends++;
		st = TESSERA__STATUS__STATUS_EAGAIN;
	}
	if (status_is_retry(st)) {
		conn_unlink_sub(sub);
		sub->attempts++;
		sub_backoff(sub);
		return;
	}
	switch (st) {
	case TESSERA__STATUS__STATUS_OK:
		if (sub->wire_op == TESSERA__OP_TYPE__OP_READ) {
			if (hdr->data_len != sub->ext.len) {
				rt_warn_rl(RT_SS_CLIENT, "req %llu: read reply of %u bytes, "
					   "wanted %llu", (unsigned long long)sub->req_id,
					   hdr->data_len, (unsigned long long)sub->ext.len);
				sub_done(sub, -EIO);
				return;
			}
			if (!landed)
				copy_in(sub, data, data_cnt);
		}
		sub_done(sub, 0);
		return;
	case TESSERA__STATUS__STATUS_ENOENT:
		/* No object: reads see zeroes, deallocation had nothing to do. */
		if (sub->wire_op == TESSERA__OP_TYPE__OP_READ) {
			tsr_iov_zero(sub->iov, sub->iovcnt);
			sub_done(sub, 0);
		} else if (sub->wire_op == TESSERA__OP_TYPE__OP_DELETE ||
			   sub->wire_op == TESSERA__OP_TYPE__OP_DISCARD ||
			   sub->wire_op == TESSERA__OP_TYPE__OP_WRITE_ZEROES) {
			sub_done(sub, 0);
		} else {
			sub_done(sub, -ENOENT);
		}
		return;
	case TESSERA__STATUS__STATUS_EMISCOMPARE:
		if (sub->req->mismatch_off)
			*sub->req->mismatch_off = sub->vol_off + rep->miscompare_offset;
		sub_done(sub, -EILSEQ);
		return;
	default:
		sub_done(sub, frame_status_to_errno(st));
		return;
	}
}

static void
conn_on_close(struct rt_conn *c, int reason)
{
	struct tsr_conn *tc = rt_conn_user(c);
	struct tsr_sub *sub;

	if (!tc)
		return;
	if (tc->c == c)
		tc->c = NULL;
	if (tc->rx_sub) {
		tc->rx_sub->rx_busy = false;
		sub = tc->rx_sub;
		tc->rx_sub = NULL;
		if (sub->state == TSR_SUB_DONE)
			sub_try_release(sub);
	}
	rt_debug(RT_SS_CLIENT, "connection to osd.%u/%u closed: " DF_RC, tc->osd, tc->ridx,
		 DP_RC(reason));
	while ((sub = tc->sent) != NULL) {
		conn_unlink_sub(sub);
		if (sub->req->finishing) {
			sub->state = TSR_SUB_DONE;
			sub_try_release(sub);
		} else {
			sub->attempts++;
			sub_backoff(sub);
		}
	}
}

/* ------------------------------------------------------------------ requests */

struct tsr_req *
tsr__req_get(struct tsr_queue *q)
{
	struct tsr_req *req = q->free_list;

	if (!req)
		return NULL;
	q->free_list = req->next;
	req->next = NULL;
	q->inflight++;
	req->inuse = true;
	req->vol = NULL;
	req->issued = 0;
	req->iov = NULL;
	req->iovcnt = 0;
	req->iov_heap = NULL;
	req->cmp = NULL;
	req->mismatch_off = NULL;
	req->active = 0;
	req->err = 0;
	req->finishing = false;
	req->ws = NULL;
	req->wn = NULL;
	req->fl_upto = 0;
	req->fl_err = 0;
	req->fl_next = NULL;
	req->result = 0;
	return req;
}

static void
req_put(struct tsr_req *req)
{
	struct tsr_queue *q = req->q;

	free(req->iov_heap);
	req->iov_heap = NULL;
	req->next = q->free_list;
	q->free_list = req;
	q->inflight--;
}

void
tsr__req_fill(struct tsr_req *req, struct tsr_volume *vol, enum tsr_op op, uint64_t off,
	      uint64_t len, const struct iovec *iov, int iovcnt, const void *cmp,
	      uint64_t *mismatch_off, tsr_io_cb cb, void *arg)
{
	req->vol = vol;
	req->pool = vol->pool;
	req->vol_id = vol->id;
	req->object_size = vol->object_size;
	req->op = op;
	req->off = off;
	req->len = len;
	if (iov) {
		req->iov = iov;
		req->iovcnt = iovcnt;
	}
	req->cmp = cmp;
	req->mismatch_off = mismatch_off;
	req->cb = cb;
	req->arg = arg;
}

int
tsr__req_copy_iov(struct tsr_req *req, const struct iovec *iov, int iovcnt)
{
	struct iovec *dst = req->iov_inline;

	if (iovcnt > TSR_REQ_IOV_INLINE) {
		/* Rare (long scatter lists): the only allocation on this path. */
		dst = malloc((size_t)iovcnt * sizeof(*dst));
		if (!dst)
			return -ENOMEM;
		req->iov_heap = dst;
	}
	memcpy(dst, iov, (size_t)iovcnt * sizeof(*dst));
	req->iov = dst;
	req->iovcnt = iovcnt;
	return 0;
}

static void
req_deliver(void *ctx)
{
	struct tsr_req *req = ctx;
	struct tsr_queue *q = req->q;
	tsr_io_cb cb = req->cb;
	void *arg = req->arg;
	ssize_t result = req->result;

	req_put(req);
	if (cb)
		cb(arg, result);
	if (q->kind == TSR_Q_AIO)
		tsr__aio_backlog_run(q);
}

static void
req_complete(struct tsr_req *req)
{
	struct tsr_queue *q = req->q;

	rt_timer_stop(q->r, &req->tmo);
	req->inuse = false;
	if (req->err < 0)
		req->result = req->err;
	else if (req->op == TSR_OP_READ || req->op == TSR_OP_WRITE || req->op == TSR_OP_CAW)
		req->result = (ssize_t)req->len;
	else
		req->result = 0;
	if (req->wn) {
		ws_remove(req->ws, req->wn, req->err);
		req->wn = NULL;
	}
	q->stats.ops++;
	if (req->err < 0) {
		q->stats.errors++;
		if (req->err == -ETIMEDOUT)
			q->stats.timeouts++;
	} else if (req->op == TSR_OP_READ || req->op == TSR_OP_WRITE || req->op == TSR_OP_CAW) {
		q->stats.bytes += req->len;
	}
	if (req->vol) {
		if (q->kind == TSR_Q_APP)
			atomic_fetch_sub_explicit(&req->vol->queue_inflight, 1,
						  memory_order_acq_rel);
		atomic_fetch_sub_explicit(&req->vol->inflight, 1, memory_order_acq_rel);
	}
	if (q->kind == TSR_Q_AIO) {
		rt_reactor_defer(q->r, &req->msg, req_deliver, req);
		return;
	}
	req->next = NULL;
	if (q->done_tail)
		q->done_tail->next = req;
	else
		q->done_head = req;
	q->done_tail = req;
}

static void
req_maybe_complete(struct tsr_req *req)
{
	if (req->active > 0)
		return;
	if (req->err == 0 && !req->finishing && req->issued < req->len)
		return; /* (cannot happen: a free sub takes the next piece) */
	req_complete(req);
}

/* End req now with rc: unsent subs stop, pinned ones are released by their connection. */
static void
req_abort(struct tsr_req *req, int rc)
{
	tsr_result_merge(&req->err, rc);
	req->finishing = true;
	if (req->op == TSR_OP_FLUSH) {
		struct tsr_wscope *ws = req->ws;
		bool was_waiting = false;

		pthread_mutex_lock(&ws->lock);
		for (struct tsr_req **pp = &ws->waiters; *pp; pp = &(*pp)->fl_next) {
			if (*pp == req) {
				*pp = req->fl_next;
				was_waiting = true;
				break;
			}
		}
		pthread_mutex_unlock(&ws->lock);
		if (was_waiting) {
			req->active--;
			req_maybe_complete(req);
		}
		/* else: its wake-up message is posted already and completes it. */
		return;
	}
	req->active++; /* hold while we walk the subs */
	for (int i = 0; i < TSR_SUB_MAX; i++) {
		struct tsr_sub *sub = &req->subs[i];

		switch (sub->state) {
		case TSR_SUB_WAIT:
			sub_done(sub, rc);
			break;
		case TSR_SUB_SENT:
			if ((sub->send_busy || sub->rx_busy) && sub->conn && sub->conn->c)
				rt_conn_close(sub->conn->c, rc);
			sub_done(sub, rc);
			break;
		default:
			break;
		}
	}
	req->active--;
	req_maybe_complete(req);
}

static void
req_timeout(struct rt_timer *t)
{
	struct tsr_req *req = (struct tsr_req *)((char *)t - offsetof(struct tsr_req, tmo));

	rt_warn_rl(RT_SS_CLIENT, "request op %d at %llu+%llu timed out", req->op,
		   (unsigned long long)req->off, (unsigned long long)req->len);
	req_abort(req, -ETIMEDOUT);
}

void
tsr__req_start(struct tsr_req *req)
{
	struct tsr_queue *q = req->q;
	uint64_t tmo = q->cl->conf.op_timeout_us;

	if (tmo)
		rt_timer_start(q->r, &req->tmo, tmo, 0);
	if (req->iov)
		tsr_iov_cursor_init(&req->cur, req->iov, req->iovcnt);
	if (req->op == TSR_OP_FLUSH) {
		flush_start(req);
		return;
	}
	req->active++; /* hold while filling */
	for (int i = 0; i < TSR_SUB_MAX && req->issued < req->len && req->err == 0; i++) {
		int rc = sub_fill(&req->subs[i]);

		if (rc < 0) {
			tsr_result_merge(&req->err, rc);
			break;
		}
		sub_send(&req->subs[i]);
	}
	req->active--;
	req_maybe_complete(req);
}

static void
req_start_msg(void *ctx)
{
	struct tsr_req *req = ctx;

	if (!req->inuse || req->finishing)
		return; /* aborted (queue teardown) before it started */
	tsr__req_start(req);
}

void
tsr__req_submit(struct tsr_req *req)
{
	if (req->vol) {
		atomic_fetch_add_explicit(&req->vol->inflight, 1, memory_order_acq_rel);
		if (req->q->kind == TSR_Q_APP)
			atomic_fetch_add_explicit(&req->vol->queue_inflight, 1,
						  memory_order_acq_rel);
	}
	rt_reactor_defer(req->q->r, &req->msg, req_start_msg, req);
}

unsigned
tsr__queue_run_done(struct tsr_queue *q, unsigned max)
{
	unsigned n = 0;

	while (q->done_head && (max == 0 || n < max)) {
		struct tsr_req *req = q->done_head;

		q->done_head = req->next;
		if (!q->done_head)
			q->done_tail = NULL;
		n++;
		req_deliver(req);
	}
	return n;
}

/* -------------------------------------------------------------------- queues */

static void
queue_map_msg(void *ctx)
{
	struct tsr_queue *q = ctx;
	uint64_t old = queue_epoch(q);

	atomic_store(&q->map_posted, false);
	queue_map_refresh(q);
	if (queue_epoch(q) == old)
		return;
	/* Re-target: waiting subs go now, sent ones whose primary moved are resent. */
	for (uint32_t i = 0; i < q->depth; i++) {
		struct tsr_req *req = &q->reqs[i];

		for (int k = 0; k < TSR_SUB_MAX; k++) {
			struct tsr_sub *sub = &req->subs[k];
			uint32_t osd, ridx, seed;
			const struct mon_addr *addr;

			if (sub->state == TSR_SUB_WAIT && !sub->fail_rc && !req->finishing) {
				sub_send(sub);
			} else if (sub->state == TSR_SUB_SENT && !sub->send_busy && sub->conn &&
				   sub_target(sub, &osd, &ridx, &seed, &addr) == 0 &&
				   (osd != sub->conn->osd || ridx != sub->conn->ridx ||
				    !conn_addr_is(sub->conn, addr))) {
				conn_unlink_sub(sub);
				sub->attempts++;
				sub_send(sub);
			}
		}
	}
}

void
tsr__io_map_changed(struct tsr_cluster *cl)
{
	struct tsr_io *io = cl->io;

	if (!io)
		return;
	pthread_mutex_lock(&io->lock);
	for (struct tsr_queue *q = io->queues; q; q = q->next)
		if (!atomic_exchange(&q->map_posted, true))
			rt_reactor_post(q->r, &q->map_msg, queue_map_msg, q);
	pthread_mutex_unlock(&io->lock);
}

int
tsr__queue_new(struct tsr_cluster *cl, enum tsr_qkind kind, uint32_t depth, struct tsr_queue **out)
{
	struct tsr_io *io = cl->io;
	struct rt_reactor_opts ro;
	struct rt_msgr_opts mo;
	struct tsr_queue *q;
	int rc;

	*out = NULL;
	if (!io || !atomic_load(&cl->connected) || atomic_load(&cl->stopping))
		return -ENOTCONN;
	if (depth == 0)
		depth = 1;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->cl = cl;
	q->io = io;
	q->kind = kind;
	q->depth = depth;
	atomic_init(&q->map_posted, false);
	tsr__ws_init(&q->ws);
	rt_reactor_opts_init(&ro);
	ro.name = kind == TSR_Q_AIO ? "tsr-io" : "tsr-queue";
	ro.notify_fd = true;
	ro.ring_entries = 256;
	rc = rt_reactor_create(&ro, &q->r);
	if (rc < 0)
		goto out_free;
	rt_msgr_opts_init(&mo);
	mo.connect_max_attempts = 2;
	mo.connect_backoff_us = 20000;
	mo.connect_timeout_us = 2000000;
	rc = rt_msgr_create(q->r, &mo, &q->m);
	if (rc < 0)
		goto out_reactor;
	q->reqs = calloc(depth, sizeof(*q->reqs));
	if (!q->reqs) {
		rc = -ENOMEM;
		goto out_msgr;
	}
	for (uint32_t i = depth; i-- > 0;) {
		struct tsr_req *req = &q->reqs[i];

		req->q = q;
		req->index = i;
		rt_timer_init(&req->tmo, req_timeout);
		for (int k = 0; k < TSR_SUB_MAX; k++) {
			req->subs[k].req = req;
			req->subs[k].index = i * TSR_SUB_MAX + (uint32_t)k;
			rt_timer_init(&req->subs[k].backoff, sub_backoff_fire);
		}
		req->next = q->free_list;
		q->free_list = req;
	}
	q->map = tsr__map_get(cl);
	pthread_mutex_lock(&io->lock);
	q->next = io->queues;
	if (io->queues)
		io->queues->prev = q;
	io->queues = q;
	pthread_mutex_unlock(&io->lock);
	*out = q;
	return 0;

out_msgr:
	rt_msgr_destroy(&q->m);
out_reactor:
	rt_reactor_destroy(&q->r);
out_free:
	tsr__ws_fini(&q->ws);
	free(q);
	return rc;
}

/* Fail everything in flight and close the connections; then drive to quiet. */
static void
queue_quiesce(struct tsr_queue *q)
{
	for (uint32_t i = 0; i < q->depth; i++) {
		struct tsr_req *req = &q->reqs[i];

		if (req->inuse && !req->finishing)
			req_abort(req, -ECANCELED);
	}
	conn_close_all(q);
	rt_msgr_destroy(&q->m);
	for (int i = 0; i < 16; i++)
		if (rt_reactor_run_once(q->r, 0) <= 0)
			break;
	if (q->kind != TSR_Q_AIO)
		tsr__queue_run_done(q, 0);
}

void
tsr__queue_free(struct tsr_queue *q)
{
	struct tsr_io *io;

	if (!q)
		return;
	io = q->io;
	pthread_mutex_lock(&io->lock);
	if (q->prev)
		q->prev->next = q->next;
	else if (io->queues == q)
		io->queues = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->next = q->prev = NULL;
	pthread_mutex_unlock(&io->lock);
	if (q->m)
		queue_quiesce(q);
	for (unsigned b = 0; b < TSR_CONN_BUCKETS; b++) {
		while (q->conns[b]) {
			struct tsr_conn *tc = q->conns[b];

			q->conns[b] = tc->hnext;
			free(tc);
		}
	}
	rt_reactor_destroy(&q->r);
	for (uint32_t i = 0; i < q->depth; i++)
		free(q->reqs[i].iov_heap);
	free(q->reqs);
	tsr__map_put(q->map);
	tsr__ws_fini(&q->ws);
	free(q);
}

/* ------------------------------------------------------------- volume hooks */

int
tsr__io_volume_open(struct tsr_volume *vol)
{
	struct tsr_vol_io *vi = calloc(1, sizeof(*vi));

	if (!vi)
		return -ENOMEM;
	tsr__ws_init(&vi->ws);
	vol->io_priv = vi;
	return 0;
}

void
tsr__io_volume_close(struct tsr_volume *vol)
{
	struct tsr_vol_io *vi = vol->io_priv;

	if (!vi)
		return;
	tsr__ws_fini(&vi->ws);
	free(vi);
	vol->io_priv = NULL;
}

/* ---------------------------------------------------------------------- trim */

struct trim_state {
	unsigned inflight;
	int err;
};

static void
trim_done(void *arg, ssize_t result)
{
	struct trim_state *ts = arg;

	ts->inflight--;
	if (result < 0 && result != -ENOENT && ts->err == 0)
		ts->err = (int)result;
}

int
tsr__io_trim(struct tsr_cluster *cl, uint32_t pool, uint64_t vol_id, uint32_t object_size,
	     uint64_t from, uint64_t to)
{
	struct trim_state ts = { 0, 0 };
	struct tsr_queue *q;
	uint64_t pos = from;
	int rc;

	if (object_size == 0 || from % TSR_BLOCK_SIZE)
		return -EINVAL;
	if (to <= from)
		return 0;
	/* The last object goes whole: nothing of the volume lies past `to`. */
	to = (to + object_size - 1) / object_size * object_size;
	rc = tsr__queue_new(cl, TSR_Q_SYNC, TSR_TRIM_QD, &q);
	if (rc < 0)
		return rc;
	while ((pos < to || ts.inflight > 0) && (ts.err == 0 || ts.inflight > 0)) {
		while (pos < to && ts.err == 0 && ts.inflight < TSR_TRIM_QD) {
			struct tsr_req *req = tsr__req_get(q);
			uint64_t end = (pos / object_size + 1) * object_size;

			if (!req)
				break;
			req->pool = pool;
			req->vol_id = vol_id;
			req->object_size = object_size;
			req->op = TSR_OP_TRIM;
			req->off = pos;
			req->len = end - pos;
			req->cb = trim_done;
			req->arg = &ts;
			ts.inflight++;
			tsr__req_submit(req);
			pos = end;
		}
		rc = rt_reactor_run_once(q->r, 100000);
		tsr__queue_run_done(q, 0);
		if (rc < 0) {
			ts.err = ts.err ? ts.err : rc;
			break;
		}
	}
	tsr__queue_free(q);
	return ts.err;
}
