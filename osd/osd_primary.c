/*
 * The primary's side of an op, on the PG's reactor from start to finish.
 *
 *  1. Queue: the op enters its PG's per-object queue (osd_opq.h) and starts
 *     when no earlier conflicting op of the same object is pending.
 *  2. Duplicate check (mutations): a (client_id, req_id) already in the PG
 *     log is answered with the logged result and version, never re-applied.
 *  3. Reads, stats and syncs go to the local store and are answered.
 *  4. Mutations: if fewer than min_size members of the acting set are up the
 *     op waits on the PG (re-checked on every map) until --op-timeout, then
 *     fails with STATUS_EPGINACTIVE. Otherwise the primary assigns the next
 *     version of the PG (epoch << 32 | seq, monotonic), appends the log entry,
 *     and in parallel: writes the data locally, persists the log slot, and
 *     sends a RepOp (data segment = the op's buffer, not copied) to every
 *     other up member. The client is answered when all of them are durable.
 *     Compare-and-write first reads the range and compares (mismatch:
 *     STATUS_EMISCOMPARE with the offset of the first differing byte).
 *
 * Results: a local failure is the op's result (and is written into its log
 * entry, so a resend gets the same answer). A replica failure (it died, its
 * connection closed, it refused the RepOp) is transient: the client op is
 * answered STATUS_EPGINACTIVE, which the client resends with the same
 * request id, and the log entry stays applied: the primary's copy is
 * authoritative, the PG peers again (recovery brings the replica up to date
 * or the map drops it), and the resend, which waits for that, is answered
 * from the log. A replica short of buffers never refuses a RepOp: it stops
 * reading the connection until one comes back (osd_replica.c).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "osd.h"
#include "rt_err.h"
#include "rt_log.h"

static void op_start(struct osd_op *op);
static void mutation_start(struct osd_op *op);

#define OP_OF(ptr, field) ((struct osd_op *)((char *)(ptr) - offsetof(struct osd_op, field)))

static bool
op_is_whole_object(uint32_t type)
{
	return type == TESSERA__OP_TYPE__OP_DELETE || type == TESSERA__OP_TYPE__OP_STAT ||
	       type == TESSERA__OP_TYPE__OP_SYNC;
}

void
osd_primary_submit(struct osd_op *op)
{
	struct osd_pg *pg = op->pg;

	pg->ops++;
	op->r->stats.ops++;
	osd_opq_ent_init(&op->qe, op->obj, op->off, op_is_whole_object(op->type) ? 0 : op->len,
			 osd_op_is_mutation(op->type));
	op->in_opq = true;
	if (osd_opq_add(&pg->opq, &op->qe))
		op_start(op);
}

static void
opq_ready(struct osd_opq_ent *e, void *arg)
{
	if (e->on_ready)
		e->on_ready(e);
	else
		op_start(OP_OF(e, qe));
}

void
osd_primary_opq_done(struct osd_pg *pg, struct osd_opq_ent *e)
{
	if (e->running)
		osd_opq_done(&pg->opq, e, opq_ready, NULL);
	else
		osd_opq_cancel(&pg->opq, e);
}

void
osd_primary_op_released(struct osd_op *op)
{
	op->in_opq = false;
	if (op->qe.running)
		osd_opq_done(&op->pg->opq, &op->qe, opq_ready, NULL);
	else
		osd_opq_cancel(&op->pg->opq, &op->qe);
}

/* ---- reads, stat, sync ---------------------------------------------------------- */

static void
read_done(struct st_req *q, int rc)
{
	struct osd_op *op = q->ctx;

	if (rc == 0) {
		op->version = q->out_version;
		op->r->stats.reads++;
		op->r->stats.read_bytes += op->len;
	}
	osd_op_reply(op, rc);
	osd_op_put(op); /* the store request's reference */
}

static void
sync_done(struct st_req *q, int rc)
{
	struct osd_op *op = q->ctx;

	osd_op_reply(op, rc);
	osd_op_put(op);
}

static void
stat_reply(void *ctx)
{
	struct osd_op *op = ctx;
	struct st_obj_info info;
	int rc = st_object_stat(op->r->st, op->obj, &info);

	if (rc == 0) {
		op->version = info.version;
		op->object_size = info.mapped_bytes;
	}
	osd_op_reply(op, rc);
}

static void
read_start(struct osd_op *op)
{
	struct st_req *q = &op->sreq;
	int rc;

	if (!op->buf)
		op->buf = osd_buf_get(op->r);
	if (!op->buf) {
		osd_buf_wait(op->r, op); /* resumed when a buffer comes back */
		return;
	}
	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_READ;
	q->obj = op->obj;
	q->offset_bytes = op->off;
	q->len_bytes = op->len;
	q->buf = op->buf;
	q->cb = read_done;
	q->ctx = op;
	rc = st_submit(op->r->st, q);
	if (rc < 0) {
		osd_op_reply(op, rc);
		return;
	}
	op->refs++;
}

static void
sync_start(struct osd_op *op)
{
	struct st_req *q = &op->sreq;
	int rc;

	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_FLUSH;
	q->cb = sync_done;
	q->ctx = op;
	rc = st_submit(op->r->st, q);
	if (rc < 0) {
		osd_op_reply(op, rc);
		return;
	}
	op->refs++;
}

/* ---- compare-and-write ------------------------------------------------------------ */

static void
caw_read_done(struct st_req *q, int rc)
{
	struct osd_op *op = q->ctx;
	const uint8_t *want = op->buf, *have = op->buf2;

	if (rc == -ENOENT) {
		memset(op->buf2, 0, op->len); /* a missing object reads as zeroes */
		rc = 0;
	}
	if (rc < 0) {
		osd_op_reply(op, rc);
	} else if (memcmp(want, have, op->len) != 0) {
		uint64_t i = 0;

		while (i < op->len && want[i] == have[i])
			i++;
		op->miscompare_off = i;
		osd_op_reply(op, -RT_EMISCOMPARE);
	} else {
		mutation_start(op);
	}
	osd_op_put(op);
}

static void
caw_start(struct osd_op *op)
{
	struct st_req *q = &op->sreq;
	int rc;

	if (!op->buf2)
		op->buf2 = osd_buf_get(op->r);
	if (!op->buf2) {
		osd_buf_wait(op->r, op);
		return;
	}
	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_READ;
	q->obj = op->obj;
	q->offset_bytes = op->off;
	q->len_bytes = op->len;
	q->buf = op->buf2;
	q->cb = caw_read_done;
	q->ctx = op;
	rc = st_submit(op->r->st, q);
	if (rc < 0) {
		osd_op_reply(op, rc);
		return;
	}
	op->refs++;
}

/* ---- mutations ---------------------------------------------------------------------- */

static void log_done(struct st_req *q, int rc);

static void
mutation_finish(struct osd_op *op)
{
	struct osd_reactor *r = op->r;
	int rc;

	if (op->rc < 0 && !op->log_fixed) {
		/* Record the real result so that a resend gets the same answer. */
		struct osd_pglog_entry *e = &op->pg->log.ents[op->log_slot];

		op->log_fixed = true;
		if (e->version == op->version) {
			e->result = op->rc;
			if (osd_pglog_persist(op, log_done) == 0) {
				op->pending++;
				return; /* finish again when the corrected record is durable */
			}
		}
	}
	rc = op->rc;
	if (rc == 0 && op->rep_rc < 0) {
		rt_warn_rl(RT_SS_OSD, "PG " DF_PGID ": a replica failed " DF_STOBJ ": " DF_RC
				      "; peering again",
			   op->pg->pool, op->pg->seed, DP_STOBJ(op->obj), DP_RC(op->rep_rc));
		rc = -RT_EPGINACTIVE; /* retryable: the resend is answered from the log */
		/* The replica is behind now: peering pushes what it misses (or waits
		 * for the map to drop it) before the PG serves again. */
		if (op->pg->primary)
			osd_peering_start(r, op->pg);
	}
	if (rc == 0) {
		r->stats.writes++;
		if (op->type == TESSERA__OP_TYPE__OP_WRITE ||
		    op->type == TESSERA__OP_TYPE__OP_COMPARE_AND_WRITE)
			r->stats.write_bytes += op->len;
	}
	op->pg->writes++;
	if (op->rec_skip) {
		op->rec_skip = false;
		osd_rec_mutation_done(op->pg, op->obj);
	}
	osd_op_reply(op, rc);
}

static void
mutation_sub_done(struct osd_op *op)
{
	if (--op->pending == 0)
		mutation_finish(op);
}

static void
local_done(struct st_req *q, int rc)
{
	struct osd_op *op = q->ctx;

	if (rc < 0 && op->rc == 0)
		op->rc = rc;
	mutation_sub_done(op);
	osd_op_put(op);
}

static void
log_done(struct st_req *q, int rc)
{
	struct osd_op *op = q->ctx;

	if (rc < 0) {
		rt_err_rl(RT_SS_OSD, "PG " DF_PGID ": persisting the log failed: " DF_RC,
			  op->pg->pool, op->pg->seed, DP_RC(rc));
		if (op->rc == 0)
			op->rc = rc;
	}
	mutation_sub_done(op);
	osd_op_put(op);
}

static void
rep_sent(struct rt_msgr_send *s, int rc)
{
	struct osd_rep *rep = (struct osd_rep *)((char *)s - offsetof(struct osd_rep, q.send));

	osd_op_put(rep->op);
}

static void
rep_reply(struct osd_preq *q, int rc, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	  const struct iovec *data, int data_cnt)
{
	struct osd_rep *rep = (struct osd_rep *)q;

	if (rc == 0) {
		const Tessera__RepOpReply *m = (const Tessera__RepOpReply *)msg;

		if (hdr->type != FRAME_T_REP_OP_REPLY)
			rc = -EBADMSG;
		else if (m->status != TESSERA__STATUS__STATUS_OK)
			rc = frame_status_to_errno(m->status);
	}
	osd_primary_rep_done(rep, rc);
}

void
osd_primary_rep_done(struct osd_rep *rep, int rc)
{
	struct osd_op *op = rep->op;

	if (rc == -ENOENT && op->type == TESSERA__OP_TYPE__OP_DELETE)
		rc = 0;
	if (rc < 0 && op->rep_rc == 0)
		op->rep_rc = rc;
	mutation_sub_done(op);
}

static int
rep_send(struct osd_op *op, uint32_t osd_id)
{
	struct osd_reactor *r = op->r;
	struct osd_rep *rep = &op->reps[op->n_reps];
	Tessera__RepOp m = TESSERA__REP_OP__INIT;
	Tessera__PgId pgid = TESSERA__PG_ID__INIT;
	Tessera__ObjectId oid = TESSERA__OBJECT_ID__INIT;
	Tessera__Version v = TESSERA__VERSION__INIT;
	struct osd_peer *peer;
	int cnt = 0;
	int rc;

	peer = osd_peer_get(r, osd_id, op->pg->seed);
	if (!peer)
		return -EHOSTUNREACH;
	memset(&rep->q, 0, offsetof(struct osd_preq, head));
	rep->op = op;
	rep->osd_id = osd_id;
	rep->q.tag = ++r->next_tag;
	rep->q.cb = rep_reply;
	pgid.pool = op->pg->pool;
	pgid.seed = op->pg->seed;
	oid.pool = op->obj.pool;
	oid.id = op->obj.oid;
	osd_version_to_pb(op->version, &v);
	m.req_id = rep->q.tag;
	m.epoch = r->map->epoch;
	m.pg = &pgid;
	m.oid = &oid;
	m.op = op->type == TESSERA__OP_TYPE__OP_COMPARE_AND_WRITE ? TESSERA__OP_TYPE__OP_WRITE
								   : (Tessera__OpType)op->type;
	m.offset = op->off;
	m.length = op->len;
	m.version = &v;
	m.client_id = op->client_id;
	m.client_req_id = op->req_id;
	if (m.op == TESSERA__OP_TYPE__OP_WRITE) {
		rep->q.iov.iov_base = op->type == TESSERA__OP_TYPE__OP_WRITE
					      ? op->buf
					      : (char *)op->buf + op->len;
		rep->q.iov.iov_len = op->len;
		cnt = 1;
	}
	rc = rt_msgr_send_prep(&rep->q.send, rep->q.head, sizeof(rep->q.head), FRAME_T_REP_OP,
			       rep->q.tag, op->hdr_flags & FRAME_F_DATA_CRC, &m.base,
			       cnt ? &rep->q.iov : NULL, cnt, rep_sent);
	if (rc < 0)
		return rc;
	op->refs++; /* for rep_sent */
	rc = osd_peer_send(peer, &rep->q);
	if (rc < 0) {
		op->refs--;
		return rc;
	}
	op->n_reps++;
	return 0;
}

static void
wait_timeout(struct rt_timer *t)
{
	struct osd_op *op = OP_OF(t, timer);
	struct osd_pg *pg = op->pg;
	struct osd_op **pp;

	for (pp = &pg->wait_head; *pp; pp = &(*pp)->wait_next) {
		if (*pp == op) {
			*pp = op->wait_next;
			break;
		}
	}
	pg->wait_tail = NULL;
	for (struct osd_op *w = pg->wait_head; w; w = w->wait_next)
		pg->wait_tail = w;
	op->waiting = false;
	rt_warn_rl(RT_SS_OSD, "PG " DF_PGID ": not active (peering, or fewer than min_size %u "
			      "members up) for %llu ms: failing the op",
		   pg->pool, pg->seed, pg->min_size,
		   (unsigned long long)(op->r->osd->conf.op_timeout_us / 1000));
	osd_op_reply(op, -RT_EPGINACTIVE);
}

static void
wait_for_members(struct osd_op *op)
{
	struct osd_pg *pg = op->pg;

	op->waiting = true;
	op->wait_next = NULL;
	if (pg->wait_tail)
		pg->wait_tail->wait_next = op;
	else
		pg->wait_head = op;
	pg->wait_tail = op;
	if (!rt_timer_is_armed(&op->timer)) {
		rt_timer_init(&op->timer, wait_timeout);
		rt_timer_start(op->r->r, &op->timer, op->r->osd->conf.op_timeout_us, 0);
	}
}

static uint32_t
up_members(struct osd_reactor *r, const struct osd_pg *pg)
{
	uint32_t up = 0;

	for (uint32_t i = 0; i < pg->n_acting; i++) {
		const struct mon_osd *o = osd_map_osd(r->map, pg->acting[i]);

		/* A member recovered in the background gets no RepOps: not counted. */
		if (o && o->up && !osd_rec_skips(pg, pg->acting[i]))
			up++;
	}
	return up;
}

static uint64_t
next_version(struct osd_reactor *r, struct osd_pg *pg)
{
	uint64_t last = pg->log.last_version;
	uint64_t epoch = r->map->epoch;
	uint64_t v = osd_version_epoch(last) == epoch ? last + 1 : osd_version_make(epoch, 1);

	if (v <= last)
		v = last + 1;
	return v;
}

static void
mutation_start(struct osd_op *op)
{
	struct osd_reactor *r = op->r;
	struct osd_pg *pg = op->pg;
	struct osd_pglog_entry e;
	uint32_t self = r->osd->osd_id;
	int rc;

	if (!pg->member || !pg->primary) {
		osd_op_reply(op, -RT_ENOTPRIMARY);
		return;
	}
	if (up_members(r, pg) < pg->min_size) {
		if (!op->waiting && !rt_timer_is_armed(&op->timer))
			rt_warn_rl(RT_SS_OSD,
				   "PG " DF_PGID ": %u of min_size %u members up: write waits",
				   pg->pool, pg->seed, up_members(r, pg), pg->min_size);
		wait_for_members(op);
		return;
	}
	if (osd_rec_switching(pg)) {
		/* The final log push of a background recovery is in flight. */
		wait_for_members(op);
		return;
	}
	if (rt_timer_is_armed(&op->timer))
		rt_timer_stop(r->r, &op->timer);
	op->version = next_version(r, pg);
	memset(&e, 0, sizeof(e));
	e.version = op->version;
	e.obj = op->obj;
	e.client_id = op->client_id;
	e.req_id = op->req_id;
	e.op = (uint8_t)op->type;
	op->log_slot = osd_pglog_append(&pg->log, &e)->slot;

	op->pending = 1; /* held until everything is issued */
	rc = osd_op_submit_local(op, local_done);
	if (rc < 0)
		op->rc = rc;
	else
		op->pending++;
	rc = osd_pglog_persist(op, log_done);
	if (rc < 0 && op->rc == 0)
		op->rc = rc;
	else if (rc == 0)
		op->pending++;
	if (r->osd->conf.debug_hold_repops) {
		/* Tests: the op never replicates nor completes (see --debug-hold-repops). */
		rt_warn_rl(RT_SS_OSD, "PG " DF_PGID ": debug: holding the RepOps of " DF_STOBJ,
			   pg->pool, pg->seed, DP_STOBJ(op->obj));
		op->pending++;
	}
	for (uint32_t i = 0; i < pg->n_acting && op->rc == 0 && !r->osd->conf.debug_hold_repops;
	     i++) {
		const struct mon_osd *o = osd_map_osd(r->map, pg->acting[i]);

		if (pg->acting[i] == self || !o || !o->up)
			continue;
		if (osd_rec_skips(pg, pg->acting[i])) {
			/* Recovered in the background: pushed again once this op is done. */
			if (!op->rec_skip) {
				op->rec_skip = true;
				osd_rec_mutation_begin(pg);
			}
			continue;
		}
		rc = rep_send(op, pg->acting[i]);
		if (rc < 0) {
			if (op->rep_rc == 0)
				op->rep_rc = rc;
		} else {
			op->pending++;
		}
	}
	mutation_sub_done(op);
}

/* ---- start ----------------------------------------------------------------------- */

static void
op_start(struct osd_op *op)
{
	struct osd_pg *pg = op->pg;
	bool local_read = (op->flags & OSD_OPF_LOCAL_READ) &&
			  (op->type == TESSERA__OP_TYPE__OP_READ ||
			   op->type == TESSERA__OP_TYPE__OP_STAT);

	op->started = true;
	if (!pg->member || (!pg->primary && !local_read)) {
		osd_op_reply(op, -RT_ENOTPRIMARY);
		return;
	}
	if (pg->primary && !osd_pg_is_active(pg)) {
		/* Peering or recovering: wait (bounded by --op-timeout). */
		const char *st = osd_pg_peering_state(pg);

		if (st && !strcmp(st, "incomplete") && !op->waiting &&
		    !rt_timer_is_armed(&op->timer))
			rt_warn_rl(RT_SS_OSD, "PG " DF_PGID ": incomplete: %s waits", pg->pool,
				   pg->seed, osd_op_is_mutation(op->type) ? "write" : "read");
		wait_for_members(op);
		return;
	}
	if (pg->primary && (!osd_op_is_mutation(op->type) ||
			    op->type == TESSERA__OP_TYPE__OP_COMPARE_AND_WRITE) &&
	    up_members(op->r, pg) < pg->min_size) {
		/*
		 * Below min_size the PG is inactive for reads too: the members up
		 * may all be stale (an acknowledged write is only guaranteed on
		 * min_size members, and peering can only gather the members that
		 * are up). A compare-and-write compares before it becomes a
		 * mutation (a miscompare would be answered from stale data); other
		 * mutations wait in mutation_start().
		 */
		if (!op->waiting && !rt_timer_is_armed(&op->timer))
			rt_warn_rl(RT_SS_OSD, "PG " DF_PGID ": %u of min_size %u members up: read waits",
				   pg->pool, pg->seed, up_members(op->r, pg), pg->min_size);
		wait_for_members(op);
		return;
	}
	if (osd_op_is_mutation(op->type)) {
		const struct osd_pglog_entry *e =
			osd_pglog_find_dup(&pg->log, op->client_id, op->req_id);

		if (e) {
			op->r->stats.dups++;
			op->version = e->version;
			rt_debug(RT_SS_OSD, "PG " DF_PGID ": request %llu of client %llx is a resend",
				 pg->pool, pg->seed, (unsigned long long)op->req_id,
				 (unsigned long long)op->client_id);
			osd_op_reply(op, e->result);
			return;
		}
	}
	if (pg->primary && op->type != TESSERA__OP_TYPE__OP_SYNC &&
	    osd_rec_obj_missing(pg, op->obj)) {
		/* Pulled in the background and not here yet: asked for first. */
		wait_for_members(op);
		return;
	}
	switch (op->type) {
	case TESSERA__OP_TYPE__OP_READ:
		read_start(op);
		break;
	case TESSERA__OP_TYPE__OP_STAT:
		/* Answered from memory, on the next loop iteration (never inline). */
		rt_reactor_defer(op->r->r, &op->defer, stat_reply, op);
		break;
	case TESSERA__OP_TYPE__OP_SYNC:
		sync_start(op);
		break;
	case TESSERA__OP_TYPE__OP_COMPARE_AND_WRITE:
		caw_start(op);
		break;
	default:
		mutation_start(op);
		break;
	}
}

static void
buf_resume(void *ctx)
{
	struct osd_op *op = ctx;

	if (op->type == TESSERA__OP_TYPE__OP_READ)
		read_start(op);
	else
		caw_start(op);
}

void
osd_primary_buf_ready(struct osd_op *op, void *buf)
{
	if (op->type == TESSERA__OP_TYPE__OP_READ)
		op->buf = buf;
	else
		op->buf2 = buf;
	rt_reactor_defer(op->r->r, &op->defer, buf_resume, op);
}

void
osd_primary_resume(struct osd_reactor *r, struct osd_pg *pg)
{
	struct osd_op *list = pg->wait_head;

	pg->wait_head = pg->wait_tail = NULL;
	while (list) {
		struct osd_op *op = list;

		list = op->wait_next;
		op->wait_next = NULL;
		op->waiting = false;
		op_start(op);
	}
}

void
osd_primary_fail_waiting(struct osd_reactor *r, struct osd_pg *pg, int rc)
{
	struct osd_op *list = pg->wait_head;

	pg->wait_head = pg->wait_tail = NULL;
	while (list) {
		struct osd_op *op = list;

		list = op->wait_next;
		op->wait_next = NULL;
		op->waiting = false;
		if (rt_timer_is_armed(&op->timer))
			rt_timer_stop(r->r, &op->timer);
		osd_op_reply(op, rc);
	}
}
