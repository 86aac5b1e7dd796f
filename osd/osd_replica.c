/*
 * Replication between OSD reactors.
 *
 * Primary side (peers): reactor i of OSD A talks to reactor (seed % N_B) of
 * OSD B, the one that owns the PG there, over a connection made on demand to
 * the address B published in the map. One struct osd_peer per connection;
 * the RepOps awaiting a reply hang on it, matched by frame tag. When the
 * connection closes every awaiting RepOp fails with the close reason; when
 * B's address changes in the map (a restart) the old peer is closed and a new
 * one made. Connections carry RepOps in order, so a replica receives the
 * mutations of a PG in the order the primary issued them.
 *
 * Replica side: a RepOp arrives on the listener like a client op; its data
 * lands in a pool buffer (alloc_data). The replica appends the entry to its
 * PG log, writes the data and persists the log slot in parallel, and answers
 * once both are durable, with the store's status. Ordering is the primary's:
 * it never has two conflicting mutations of one object in flight. A RepOp
 * that arrives while the member is persisting a PgNotify log merge of the PG
 * waits behind the merge (osd_member_rep_defer): appended mid-merge, its newer
 * entry would make the merge skip the rest of its entries and leave a hole.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osd.h"
#include "rt_err.h"
#include "rt_log.h"
#include "rt_pg.h"

struct osd_peer {
	struct osd_reactor *r;
	uint32_t osd_id;
	uint32_t ridx;
	char addr[96];
	struct rt_conn *conn;
	struct osd_preq *awaiting; /* doubly linked through pnext/pprev */
	struct osd_peer *next;
	bool linked;
};

static void
rep_unlink(struct osd_peer *p, struct osd_preq *rep)
{
	if (rep->pprev)
		rep->pprev->pnext = rep->pnext;
	else
		p->awaiting = rep->pnext;
	if (rep->pnext)
		rep->pnext->pprev = rep->pprev;
	rep->pnext = rep->pprev = NULL;
	rep->awaiting = false;
}

static void
peer_unlink(struct osd_peer *p)
{
	struct osd_peer **pp;

	if (!p->linked)
		return;
	for (pp = &p->r->peers; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	p->linked = false;
}

static struct osd_preq *
preq_find(struct osd_peer *p, uint64_t tag)
{
	for (struct osd_preq *q = p->awaiting; q; q = q->pnext)
		if (q->tag == tag)
			return q;
	return NULL;
}

static void
peer_on_frame(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	      const struct iovec *data, int data_cnt)
{
	struct osd_peer *p = rt_conn_user(c);
	struct osd_preq *q;

	if (!(hdr->flags & FRAME_F_REPLY)) {
		rt_warn_rl(RT_SS_OSD, "peer " DF_OSD " sent a %s request on a reply channel: closing",
			   p->osd_id, frame_type_name(hdr->type));
		rt_conn_close(c, -RT_EBADTYPE);
		return;
	}
	q = preq_find(p, hdr->tag);
	if (!q) {
		rt_warn_rl(RT_SS_OSD, "peer " DF_OSD ": reply to an unknown request %llu", p->osd_id,
			   (unsigned long long)hdr->tag);
		return;
	}
	rep_unlink(p, q);
	q->cb(q, 0, hdr, msg, data, data_cnt);
}

static int
peer_alloc_data(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
		struct iovec *iov, int max_iov)
{
	struct osd_peer *p = rt_conn_user(c);
	struct osd_preq *q = (hdr->flags & FRAME_F_REPLY) ? preq_find(p, hdr->tag) : NULL;

	if (!q || !q->rx_buf || hdr->data_len > q->rx_cap)
		return 0;
	iov[0].iov_base = q->rx_buf;
	iov[0].iov_len = hdr->data_len;
	return 1;
}

static void
peer_on_close(struct rt_conn *c, int reason)
{
	struct osd_peer *p = rt_conn_user(c);

	if (reason != -ECANCELED)
		rt_warn_rl(RT_SS_OSD, "reactor %u: connection to " DF_OSD " (%s) closed: " DF_RC,
			   p->r->idx, p->osd_id, p->addr, DP_RC(reason));
	peer_unlink(p);
	while (p->awaiting) {
		struct osd_preq *q = p->awaiting;

		rep_unlink(p, q);
		q->cb(q, reason < 0 ? reason : -EIO, NULL, NULL, NULL, 0);
	}
	p->conn = NULL;
	free(p);
}

static const struct rt_conn_ops peer_ops = {
	.on_frame = peer_on_frame,
	.on_close = peer_on_close,
	.alloc_data = peer_alloc_data,
};

static void
addr_fmt(const struct mon_addr *a, char *buf, size_t len)
{
	bool v6 = strchr(a->host, ':') != NULL;

	snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", a->host, v6 ? "]" : "", a->port);
}

struct osd_peer *
osd_peer_get(struct osd_reactor *r, uint32_t osd_id, uint32_t seed)
{
	const struct mon_osd *o = osd_map_osd(r->map, osd_id);
	struct sockaddr_storage ss;
	socklen_t sl;
	struct osd_peer *p;
	char addr[96];
	uint32_t ridx;
	int rc;

	/* No messenger: the reactor is being torn down (rt_msgr_destroy() clears
	 * r->msgr first, then drives the loop, where a store completion may still
	 * want a peer). */
	if (!r->msgr || !o || !o->up || o->n_reactors == 0)
		return NULL;
	ridx = rt_pg_reactor(seed, o->n_reactors);
	addr_fmt(&o->reactors[ridx], addr, sizeof(addr));
	for (p = r->peers; p; p = p->next) {
		if (p->osd_id != osd_id || p->ridx != ridx)
			continue;
		if (p->conn && !rt_conn_is_closing(p->conn) && strcmp(p->addr, addr) == 0)
			return p;
		/* Closing, or the OSD restarted elsewhere: retire this one. */
		peer_unlink(p);
		if (p->conn)
			rt_conn_close(p->conn, -ECANCELED);
		break;
	}
	if (rt_msgr_parse_addr(addr, &ss, &sl) < 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->r = r;
	p->osd_id = osd_id;
	p->ridx = ridx;
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	rc = rt_msgr_connect(r->msgr, (struct sockaddr *)&ss, sl, &peer_ops, p, &p->conn);
	if (rc < 0) {
		free(p);
		return NULL;
	}
	p->next = r->peers;
	r->peers = p;
	p->linked = true;
	return p;
}

int
osd_peer_send(struct osd_peer *p, struct osd_preq *rep)
{
	int rc;

	if (!p->conn)
		return -ENOTCONN;
	rep->peer = p;
	rep->pprev = NULL;
	rep->pnext = p->awaiting;
	if (p->awaiting)
		p->awaiting->pprev = rep;
	p->awaiting = rep;
	rep->awaiting = true;
	rc = rt_conn_send(p->conn, &rep->send);
	if (rc < 0)
		rep_unlink(p, rep);
	return rc;
}

void
osd_peers_close_all(struct osd_reactor *r)
{
	while (r->peers) {
		struct osd_peer *p = r->peers;

		peer_unlink(p);
		if (p->conn)
			rt_conn_close(p->conn, -ECANCELED);
	}
}

/* ---- replica side -------------------------------------------------------------------- */

/*
 * Back-pressure for replica data. A RepOp (or an ObjectPush) whose data
 * segment finds no free buffer (or no free op) is not refused: its
 * connection stops reading (alloc_data answers RT_MSGR_DATA_WAIT) and joins
 * the reactor's wait list; every buffer or op that comes back resumes the
 * first waiting connection on the next loop iteration, which asks for a
 * buffer again. TCP flow control then slows the primary down, RepOps stay in
 * the primary's order, and the PG does not re-peer. No deadlock: client
 * writes, which hold their buffer until the replicas answer, never take the
 * last OSD_BUF_RESERVE buffers, and a RepOp holds its buffer only for a local
 * write. A stopping reactor resumes every waiting connection and refuses
 * their RepOps (STATUS_EAGAIN) instead.
 */
static void
conn_wait(struct osd_reactor *r, struct osd_conn *oc)
{
	if (oc->data_waiting)
		return;
	r->stats.data_waits++;
	rt_log_ratelimited(RT_LOG_INFO, RT_SS_OSD, 1,
			   "reactor %u: replica data waits for a buffer (%llu times so far)", r->idx,
			   (unsigned long long)r->stats.data_waits);
	oc->data_waiting = true;
	oc->wait_next = NULL;
	if (r->connwait_tail)
		r->connwait_tail->wait_next = oc;
	else
		r->connwait_head = oc;
	r->connwait_tail = oc;
}

static void
conn_unwait(struct osd_reactor *r, struct osd_conn *oc)
{
	struct osd_conn **pp;

	if (!oc->data_waiting)
		return;
	for (pp = &r->connwait_head; *pp; pp = &(*pp)->wait_next) {
		if (*pp == oc) {
			*pp = oc->wait_next;
			break;
		}
	}
	r->connwait_tail = NULL;
	for (struct osd_conn *w = r->connwait_head; w; w = w->wait_next)
		r->connwait_tail = w;
	oc->wait_next = NULL;
	oc->data_waiting = false;
}

static void
conn_resume(void *ctx)
{
	struct osd_conn *oc = ctx;
	struct rt_conn *c = oc->c;

	oc->resume_pending = false;
	if (oc->closed) {
		free(oc); /* on_close ran meanwhile and left oc to us */
		rt_conn_put(&c);
		return;
	}
	rt_conn_data_resume(c);
	rt_conn_put(&c);
}

void
osd_replica_conn_kick(struct osd_reactor *r)
{
	struct osd_conn *oc = r->connwait_head;

	if (!oc)
		return;
	conn_unwait(r, oc);
	if (oc->resume_pending)
		return;
	oc->resume_pending = true;
	rt_conn_get(oc->c);
	rt_reactor_defer(r->r, &oc->resume_msg, conn_resume, oc);
}

bool
osd_replica_conn_closing(struct osd_conn *oc)
{
	conn_unwait(oc->r, oc);
	if (!oc->resume_pending)
		return false;
	oc->closed = true;
	return true;
}

int
osd_replica_alloc_data(struct osd_conn *oc, const struct frame_hdr *hdr,
		       const ProtobufCMessage *msg, struct iovec *iov, int max_iov)
{
	struct osd_reactor *r = oc->r;
	struct osd_op *op = oc->rx_op;

	/* Oversized or stopping: the default buffer, and the handler refuses it. */
	if (hdr->data_len == 0 || hdr->data_len > r->buf_bytes || r->stopping)
		return 0;
	if (!op) {
		op = osd_op_alloc(r, oc->c);
		if (!op) {
			conn_wait(r, oc);
			return RT_MSGR_DATA_WAIT;
		}
		oc->rx_op = op;
	}
	if (!op->buf)
		op->buf = osd_buf_get(r);
	if (!op->buf) {
		conn_wait(r, oc);
		return RT_MSGR_DATA_WAIT; /* keeps the op: the next buffer is for it */
	}
	iov[0].iov_base = op->buf;
	iov[0].iov_len = hdr->data_len;
	return 1;
}

static void
rep_reply_sent(struct rt_msgr_send *s, int rc)
{
	struct osd_op *op = (struct osd_op *)((char *)s - offsetof(struct osd_op, rsend));

	osd_op_put(op);
}

void
osd_replica_send_reply(struct osd_op *op, uint16_t type, const ProtobufCMessage *msg,
		       const struct iovec *data, int data_cnt)
{
	int src;

	op->replied = true;
	src = rt_msgr_send_prep(&op->rsend, op->rhead, sizeof(op->rhead), type, op->tag,
				FRAME_F_REPLY, msg, data, data_cnt, rep_reply_sent);
	if (src == 0 && op->conn) {
		op->refs++;
		if (rt_conn_send(op->conn, &op->rsend) < 0)
			op->refs--;
	}
	osd_op_put(op);
}

static void
rep_reply(struct osd_op *op, int rc)
{
	struct osd_reactor *r = op->r;
	Tessera__RepOpReply m = TESSERA__REP_OP_REPLY__INIT;

	/* A delete of an object that was never written (a shrink or discard
	 * of an unwritten range) answers -ENOENT, as on the primary: not worth
	 * a warning. */
	if (rc < 0 && rc != -ENOENT)
		rt_warn_rl(RT_SS_OSD, "reactor %u: RepOp on " DF_STOBJ " failed: " DF_RC, r->idx,
			   DP_STOBJ(op->obj), DP_RC(rc));
	m.req_id = op->req_id;
	m.status = frame_status_from_errno(rc);
	m.epoch = r->map ? r->map->epoch : 0;
	osd_perf_record(op, rc);
	osd_replica_send_reply(op, FRAME_T_REP_OP_REPLY, &m.base, NULL, 0);
}

static void
rep_sub_done(struct osd_op *op)
{
	if (--op->pending)
		return;
	if (op->rc == 0) {
		op->r->stats.rep_ops++;
		if (op->type == TESSERA__OP_TYPE__OP_WRITE)
			op->r->stats.write_bytes += op->len;
	}
	rep_reply(op, op->rc);
}

static void
rep_local_done(struct st_req *q, int rc)
{
	struct osd_op *op = q->ctx;

	if (rc < 0 && op->rc == 0)
		op->rc = rc;
	rep_sub_done(op);
	osd_op_put(op);
}

static void
rep_log_done(struct st_req *q, int rc)
{
	struct osd_op *op = q->ctx;

	if (rc < 0 && op->rc == 0)
		op->rc = rc;
	rep_sub_done(op);
	osd_op_put(op);
}

static int
rep_validate(struct osd_op *op, const Tessera__RepOp *m)
{
	struct osd_reactor *r = op->r;

	/*
	 * No map needed: a replica that just booted may get RepOps from a primary
	 * that saw its boot before its own reactors saw the map. The primary's
	 * epoch orders; phase 2 peering will reject RepOps from old intervals.
	 */
	if (r->stopping)
		return -EAGAIN;
	if (!m->pg || !m->oid || !m->version || m->pg->pool != m->oid->pool)
		return -EINVAL;
	if (rt_pg_reactor(m->pg->seed, r->osd->n_reactors) != r->idx)
		return -RT_ENOTPRIMARY;
	switch (op->type) {
	case TESSERA__OP_TYPE__OP_WRITE:
	case TESSERA__OP_TYPE__OP_DISCARD:
	case TESSERA__OP_TYPE__OP_WRITE_ZEROES:
	case TESSERA__OP_TYPE__OP_DELETE:
		break;
	default:
		return -EINVAL;
	}
	if (op->version == 0)
		return -EINVAL;
	return osd_op_check_range(op);
}

/*
 * Append the RepOp's entry to the PG log, then write the data and persist the
 * log slot in parallel; the reply goes once both are durable. Entries are
 * appended in arrival order, which is the primary's order (one connection).
 */
static void
rep_apply(struct osd_op *op)
{
	struct osd_pglog_entry e;
	int rc;

	memset(&e, 0, sizeof(e));
	e.version = op->version;
	e.obj = op->obj;
	e.client_id = op->client_id;
	e.req_id = op->client_req_id;
	e.op = (uint8_t)op->type;
	op->log_slot = osd_pglog_append(&op->pg->log, &e)->slot;
	op->pg->ops++;

	op->pending = 1;
	rc = osd_op_submit_local(op, rep_local_done);
	if (rc < 0)
		op->rc = rc;
	else
		op->pending++;
	rc = osd_pglog_persist(op, rep_log_done);
	if (rc < 0 && op->rc == 0)
		op->rc = rc;
	else if (rc == 0)
		op->pending++;
	rep_sub_done(op);
}

void
osd_replica_op_recv(struct osd_conn *oc, const struct frame_hdr *hdr, const Tessera__RepOp *m,
		    const struct iovec *data, int data_cnt)
{
	struct osd_reactor *r = oc->r;
	struct osd_op *op = oc->rx_op;
	int rc;

	oc->rx_op = NULL;
	if (!op)
		op = osd_op_alloc(r, oc->c);
	if (!op) {
		osd_conn_reply_busy(oc, FRAME_T_REP_OP, hdr->tag, m->req_id, -EAGAIN);
		return;
	}
	op->kind = OSD_OP_REPLICA;
	op->tag = hdr->tag;
	op->hdr_flags = hdr->flags;
	op->type = (uint32_t)m->op;
	op->req_id = m->req_id;
	op->client_id = m->client_id;
	op->epoch = m->epoch;
	if (m->oid) {
		op->obj.pool = m->oid->pool;
		op->obj.oid = m->oid->id;
	}
	op->off = m->offset;
	op->len = m->length;
	op->data_len = hdr->data_len;
	if (m->version)
		op->version = osd_version_make(m->version->epoch, m->version->seq);
	if (hdr->data_len && !op->buf) {
		rep_reply(op, -EAGAIN);
		return;
	}
	rc = rep_validate(op, m);
	if (rc == 0) {
		op->pg = osd_pg_get(r, m->pg->pool, m->pg->seed);
		if (!op->pg)
			rc = -ENOMEM;
	}
	if (rc < 0) {
		rep_reply(op, rc);
		return;
	}
	op->client_req_id = m->client_req_id;
	if (osd_member_rep_defer(op))
		return; /* a log merge of the PG is persisting: applied after it */
	rep_apply(op);
}

void
osd_replica_rep_resume(struct osd_op *op)
{
	rep_apply(op);
}
