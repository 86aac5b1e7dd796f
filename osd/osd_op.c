/*
 * Client ops: the op pool, validation of a ClientOp against this reactor's
 * map and PGs, the reply, and the helpers the primary and the replica share
 * (apply a mutation to the local store, persist a PG log slot).
 *
 * Op life: an op comes from the reactor's pool (alloc_data takes it when the
 * frame has a data segment, so the data lands straight in the op's 4 KiB
 * aligned buffer), holds a reference on its connection, and carries a
 * reference count: one base reference, dropped when the op is answered, plus
 * one per outstanding asynchronous piece (a store request, a send). The last
 * put returns everything (queue slot, buffers, connection) and the op.
 *
 * Error replies: every validation failure gets a ClientOpReply with a status
 * and the OSD's epoch; only a full op pool with a busy spare send closes the
 * connection (-ENOMEM).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "osd.h"
#include "rt_err.h"
#include "rt_log.h"
#include "rt_pg.h"

static void
op_timer_noop(struct rt_timer *t)
{
}

struct osd_op *
osd_op_alloc(struct osd_reactor *r, struct rt_conn *conn)
{
	struct osd_op *op = rt_mempool_get(r->op_pool);

	if (!op)
		return NULL;
	memset(op, 0, offsetof(struct osd_op, sreq));
	op->r = r;
	op->conn = conn;
	if (conn)
		rt_conn_get(conn);
	op->refs = 1;
	rt_timer_init(&op->timer, op_timer_noop);
	op->start_us = rt_reactor_now_us(r->r);
	r->n_ops++;
	if (r->n_ops > r->n_ops_max)
		r->n_ops_max = r->n_ops;
	return op;
}

void *
osd_buf_get(struct osd_reactor *r)
{
	return rt_mempool_get(r->buf_pool);
}

void *
osd_buf_get_client(struct osd_reactor *r)
{
	if (rt_mempool_avail(r->buf_pool) <= OSD_BUF_RESERVE(r))
		return NULL;
	return rt_mempool_get(r->buf_pool);
}

void
osd_buf_put(struct osd_reactor *r, void **bufp)
{
	void *b = *bufp;
	struct osd_op *w = r->bufwait_head;

	*bufp = NULL;
	if (!b)
		return;
	if (r->connwait_head) {
		/* Replica data first: a primary elsewhere waits for it (osd_replica.c). */
		rt_mempool_put(r->buf_pool, b);
		osd_replica_conn_kick(r);
		return;
	}
	if (w) {
		r->bufwait_head = w->buf_next;
		if (!r->bufwait_head)
			r->bufwait_tail = NULL;
		w->buf_next = NULL;
		osd_primary_buf_ready(w, b);
		return;
	}
	rt_mempool_put(r->buf_pool, b);
}

void
osd_buf_wait(struct osd_reactor *r, struct osd_op *op)
{
	op->buf_next = NULL;
	if (r->bufwait_tail)
		r->bufwait_tail->buf_next = op;
	else
		r->bufwait_head = op;
	r->bufwait_tail = op;
}

void
osd_op_put(struct osd_op *op)
{
	struct osd_reactor *r = op->r;

	if (--op->refs > 0)
		return;
	if (rt_timer_is_armed(&op->timer))
		rt_timer_stop(r->r, &op->timer);
	if (op->in_opq)
		osd_primary_op_released(op);
	osd_buf_put(r, &op->buf);
	osd_buf_put(r, &op->buf2);
	if (op->conn)
		rt_conn_put(&op->conn);
	rt_mempool_put(r->op_pool, op);
	r->n_ops--;
	if (r->connwait_head)
		osd_replica_conn_kick(r);
	osd_reactor_maybe_stopped(r);
}

void
osd_perf_record(struct osd_op *op, int rc)
{
	struct osd_reactor *r = op->r;
	uint64_t now = rt_reactor_now_us(r->r);
	uint64_t us = now > op->start_us ? now - op->start_us : 0;
	enum mon_perf_class c;
	uint64_t bytes = 0;

	if (op->kind == OSD_OP_REPLICA)
		c = MON_PERF_REPLICA;
	else if (op->type == TESSERA__OP_TYPE__OP_READ)
		c = MON_PERF_READ;
	else if (osd_op_is_mutation(op->type))
		c = MON_PERF_WRITE;
	else
		c = MON_PERF_OTHER;
	if (op->type == TESSERA__OP_TYPE__OP_READ || op->type == TESSERA__OP_TYPE__OP_WRITE ||
	    op->type == TESSERA__OP_TYPE__OP_COMPARE_AND_WRITE)
		bytes = op->len;
	mon_perf_record(&r->stats.lat[c], us, bytes, rc >= 0);
}

bool
osd_op_is_mutation(uint32_t type)
{
	switch (type) {
	case TESSERA__OP_TYPE__OP_WRITE:
	case TESSERA__OP_TYPE__OP_DISCARD:
	case TESSERA__OP_TYPE__OP_WRITE_ZEROES:
	case TESSERA__OP_TYPE__OP_DELETE:
	case TESSERA__OP_TYPE__OP_COMPARE_AND_WRITE:
		return true;
	default:
		return false;
	}
}

int
osd_op_check_range(const struct osd_op *op)
{
	const struct osd_reactor *r = op->r;
	uint64_t want_data = 0;

	switch (op->type) {
	case TESSERA__OP_TYPE__OP_READ:
	case TESSERA__OP_TYPE__OP_WRITE:
	case TESSERA__OP_TYPE__OP_DISCARD:
	case TESSERA__OP_TYPE__OP_WRITE_ZEROES:
	case TESSERA__OP_TYPE__OP_COMPARE_AND_WRITE:
		if (op->len == 0 || op->off % OSD_IO_ALIGN || op->len % OSD_IO_ALIGN)
			return -EINVAL;
		if (op->off >= r->max_object_bytes || op->len > r->max_object_bytes - op->off)
			return -ERANGE;
		if (op->type == TESSERA__OP_TYPE__OP_READ && op->len > r->buf_bytes)
			return -EINVAL;
		if (op->type == TESSERA__OP_TYPE__OP_WRITE)
			want_data = op->len;
		if (op->type == TESSERA__OP_TYPE__OP_COMPARE_AND_WRITE)
			want_data = 2 * op->len;
		break;
	case TESSERA__OP_TYPE__OP_DELETE:
	case TESSERA__OP_TYPE__OP_STAT:
	case TESSERA__OP_TYPE__OP_SYNC:
		break;
	default:
		return -EINVAL;
	}
	if (op->data_len != want_data)
		return -EINVAL;
	return 0;
}

/* ---- data placement ---------------------------------------------------------- */

int
osd_client_op_alloc_data(struct osd_conn *oc, const struct frame_hdr *hdr,
			 const ProtobufCMessage *msg, struct iovec *iov, int max_iov)
{
	struct osd_reactor *r = oc->r;
	struct osd_op *op;

	if (hdr->data_len == 0 || oc->rx_op)
		return 0;
	op = osd_op_alloc(r, oc->c);
	if (!op)
		return 0; /* the default buffer takes it; the op is refused with EAGAIN */
	oc->rx_op = op;
	if (hdr->data_len > r->buf_bytes)
		return 0;
	op->buf = osd_buf_get_client(r); /* the last buffers are for replica data */
	if (!op->buf)
		return 0;
	iov[0].iov_base = op->buf;
	iov[0].iov_len = hdr->data_len;
	return 1;
}

/* ---- replies -------------------------------------------------------------------- */

static void
reply_sent(struct rt_msgr_send *s, int rc)
{
	struct osd_op *op = (struct osd_op *)((char *)s - offsetof(struct osd_op, rsend));

	osd_op_put(op);
}

void
osd_op_reply(struct osd_op *op, int rc)
{
	struct osd_reactor *r = op->r;
	Tessera__ClientOpReply m = TESSERA__CLIENT_OP_REPLY__INIT;
	Tessera__Version v = TESSERA__VERSION__INIT;
	int cnt = 0;
	uint8_t flags = FRAME_F_REPLY;
	int src;

	if (op->replied) {
		osd_op_put(op);
		return;
	}
	op->replied = true;
	osd_perf_record(op, rc);
	m.req_id = op->req_id;
	m.status = frame_status_from_errno(rc);
	m.epoch = r->map ? r->map->epoch : 0;
	if (op->version) {
		osd_version_to_pb(op->version, &v);
		m.version = &v;
	}
	m.object_size = op->object_size;
	m.miscompare_offset = op->miscompare_off;
	if (rc == 0 && op->type == TESSERA__OP_TYPE__OP_READ && op->buf) {
		op->riov.iov_base = op->buf;
		op->riov.iov_len = op->len;
		cnt = 1;
		flags |= op->hdr_flags & FRAME_F_DATA_CRC;
	}
	if (rc < 0) {
		r->stats.errors++;
		rt_debug(RT_SS_OSD, "reactor %u: op %u on " DF_STOBJ " req %llu: " DF_RC, r->idx,
			 op->type, DP_STOBJ(op->obj), (unsigned long long)op->req_id, DP_RC(rc));
	}
	src = rt_msgr_send_prep(&op->rsend, op->rhead, sizeof(op->rhead),
				FRAME_T_CLIENT_OP_REPLY, op->tag, flags, &m.base,
				cnt ? &op->riov : NULL, cnt, reply_sent);
	if (src == 0 && op->conn) {
		op->refs++;
		src = rt_conn_send(op->conn, &op->rsend);
		if (src < 0)
			op->refs--;
	}
	osd_op_put(op);
}

static void
busy_sent(struct rt_msgr_send *s, int rc)
{
	struct osd_conn *oc = (struct osd_conn *)((char *)s - offsetof(struct osd_conn, busy_send));

	oc->busy_inflight = false;
}

void
osd_conn_reply_busy(struct osd_conn *oc, uint16_t req_type, uint64_t tag, uint64_t req_id,
		    int rc)
{
	struct osd_reactor *r = oc->r;
	uint64_t epoch = r->map ? r->map->epoch : 0;
	int src;

	r->stats.eagain++;
	if (oc->busy_inflight) {
		rt_warn_rl(RT_SS_OSD, "reactor %u: op pool empty and %s not reading replies: closing",
			   r->idx, rt_conn_peer(oc->c));
		rt_conn_close(oc->c, -ENOMEM);
		return;
	}
	if (req_type == FRAME_T_REP_OP) {
		Tessera__RepOpReply m = TESSERA__REP_OP_REPLY__INIT;

		m.req_id = req_id;
		m.status = frame_status_from_errno(rc);
		m.epoch = epoch;
		src = rt_msgr_send_prep(&oc->busy_send, oc->busy_head, sizeof(oc->busy_head),
					FRAME_T_REP_OP_REPLY, tag, FRAME_F_REPLY, &m.base, NULL, 0,
					busy_sent);
	} else {
		Tessera__ClientOpReply m = TESSERA__CLIENT_OP_REPLY__INIT;

		m.req_id = req_id;
		m.status = frame_status_from_errno(rc);
		m.epoch = epoch;
		src = rt_msgr_send_prep(&oc->busy_send, oc->busy_head, sizeof(oc->busy_head),
					FRAME_T_CLIENT_OP_REPLY, tag, FRAME_F_REPLY, &m.base, NULL,
					0, busy_sent);
	}
	if (src == 0 && rt_conn_send(oc->c, &oc->busy_send) == 0)
		oc->busy_inflight = true;
}

/* ---- receive and validate --------------------------------------------------------- */

static int
client_op_validate(struct osd_op *op, const Tessera__ClientOp *m)
{
	struct osd_reactor *r = op->r;
	bool local_read = (op->flags & OSD_OPF_LOCAL_READ) &&
			  (op->type == TESSERA__OP_TYPE__OP_READ ||
			   op->type == TESSERA__OP_TYPE__OP_STAT);
	struct osd_pg *pg;
	int rc;

	if (r->stopping || !r->map)
		return -EAGAIN;
	if (!m->oid || !m->pg || m->pg->pool != m->oid->pool || (op->flags & ~OSD_OPF__ALL))
		return -EINVAL;
	if (op->epoch < r->map->epoch) {
		r->stats.stale++;
		return -RT_ESTALE_EPOCH;
	}
	if (op->epoch > r->map->epoch)
		return -EAGAIN; /* our map is behind: the client retries */
	if (rt_pg_reactor(op->pg_seed, r->osd->n_reactors) != r->idx) {
		r->stats.notprimary++;
		return -RT_ENOTPRIMARY;
	}
	pg = osd_pg_find(r, op->obj.pool, op->pg_seed);
	if (!pg || !pg->member || (!pg->primary && !local_read)) {
		r->stats.notprimary++;
		return -RT_ENOTPRIMARY;
	}
	if (rt_pg_of(op->obj.pool, op->obj.oid, pg->pg_count) != op->pg_seed)
		return -EINVAL;
	rc = osd_op_check_range(op);
	if (rc < 0)
		return rc;
	op->pg = pg;
	return 0;
}

void
osd_client_op_recv(struct osd_conn *oc, const struct frame_hdr *hdr, const Tessera__ClientOp *m,
		   const struct iovec *data, int data_cnt)
{
	struct osd_reactor *r = oc->r;
	struct osd_op *op = oc->rx_op;
	int rc;

	oc->rx_op = NULL;
	if (!op)
		op = osd_op_alloc(r, oc->c);
	if (!op) {
		osd_conn_reply_busy(oc, FRAME_T_CLIENT_OP, hdr->tag, m->req_id, -EAGAIN);
		return;
	}
	op->kind = OSD_OP_CLIENT;
	op->tag = hdr->tag;
	op->hdr_flags = hdr->flags;
	op->type = (uint32_t)m->op;
	op->client_id = m->client_id;
	op->req_id = m->req_id;
	op->epoch = m->epoch;
	if (m->oid) {
		op->obj.pool = m->oid->pool;
		op->obj.oid = m->oid->id;
	}
	op->pg_seed = m->pg ? m->pg->seed : 0;
	op->off = m->offset;
	op->len = m->length;
	op->flags = m->flags;
	op->data_len = hdr->data_len;
	if (hdr->data_len && !op->buf) {
		/* No buffer was free (or the data went to the default buffer). */
		r->stats.eagain++;
		osd_op_reply(op, -EAGAIN);
		return;
	}
	rc = client_op_validate(op, m);
	if (rc < 0) {
		if (rc == -EINVAL || rc == -ERANGE)
			r->stats.einval++;
		osd_op_reply(op, rc);
		return;
	}
	osd_primary_submit(op);
}

/* ---- shared by primary and replica ------------------------------------------------- */

int
osd_op_submit_local(struct osd_op *op, st_req_cb cb)
{
	struct st_req *q = &op->sreq;
	int rc;

	memset(q, 0, offsetof(struct st_req, priv));
	q->obj = op->obj;
	q->offset_bytes = op->off;
	q->len_bytes = op->len;
	q->version = op->version;
	q->cb = cb;
	q->ctx = op;
	switch (op->type) {
	case TESSERA__OP_TYPE__OP_WRITE:
		q->op = ST_OP_WRITE;
		q->buf = op->buf;
		break;
	case TESSERA__OP_TYPE__OP_COMPARE_AND_WRITE:
		q->op = ST_OP_WRITE;
		q->buf = (char *)op->buf + op->len;
		break;
	case TESSERA__OP_TYPE__OP_DISCARD:
		q->op = ST_OP_DISCARD;
		break;
	case TESSERA__OP_TYPE__OP_WRITE_ZEROES:
		q->op = ST_OP_WRITE_ZEROES;
		break;
	case TESSERA__OP_TYPE__OP_DELETE:
		q->op = ST_OP_DELETE;
		q->offset_bytes = 0;
		q->len_bytes = 0;
		break;
	default:
		return -EINVAL;
	}
	rc = st_submit(op->r->st, q);
	if (rc == 0)
		op->refs++;
	return rc;
}

int
osd_pglog_persist(struct osd_op *op, st_req_cb cb)
{
	struct osd_pg *pg = op->pg;
	const struct osd_pglog_entry *e = &pg->log.ents[op->log_slot];
	struct st_req *q = &op->lreq;
	uint32_t klen;
	int rc;

	if (e->version != op->version)
		return 1; /* the slot was reused already: a newer record covers it */
	osd_pglog_encode(&pg->log, e, &op->lrec);
	klen = osd_pglog_key(pg->pool, pg->seed, op->log_slot, op->lkey, sizeof(op->lkey));
	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_META_SET;
	q->meta_key = op->lkey;
	q->meta_key_len = klen;
	q->buf = &op->lrec;
	q->len_bytes = sizeof(op->lrec);
	q->cb = cb;
	q->ctx = op;
	rc = st_submit(op->r->st, q);
	if (rc == 0)
		op->refs++;
	return rc;
}
