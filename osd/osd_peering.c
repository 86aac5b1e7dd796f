/*
 * Peering and log-based recovery (phase 2a), on the PG's reactor.
 *
 * When a map makes this OSD the primary of a PG, or changes the PG's acting
 * set, the primary peers before it serves the PG again (client ops wait on
 * the PG meanwhile, bounded by --op-timeout):
 *
 *  QUERY  send PgQuery to every other up member; each answers PgNotify with
 *         its PgInfo (last_update, log_tail, log_cap) and its whole PG log.
 *         A member that does not answer (connection lost) makes the round
 *         start again after a second; a member the monitor marks down drops
 *         out with the next map.
 *  PULL   if a member has a newer last_update than the primary (the primary
 *         restarted and missed writes), that member is authoritative: every
 *         object named in its log after the primary's last_update is pulled
 *         (ObjectPull -> ObjectPush with the data, chunk by chunk, or a
 *         delete), written locally with its version, and the authoritative
 *         entries are merged into the primary's log (and persisted).
 *         Entries of the primary's own log that the authoritative log lacks
 *         (diverged: applied here, never replicated, never acknowledged) are
 *         rolled back: their objects are pulled too and the entries dropped.
 *  PUSH   every member behind the primary gets the objects named in the
 *         primary's log after its last_update (ObjectPush chunks or deletes),
 *         then the missing log entries (a PgNotify request it merges).
 *  BACKFILL when a log does not reach back to the other side's last_update
 *         (it wrapped), PULL or PUSH works from a comparison of the two object
 *         listings (PgListObjects pages) instead of from the log.
 *  ACTIVE the waiting ops resume.
 *
 * Objects move whole, up to the object size, in --max-io chunks; an all-zero
 * chunk travels as data but is applied as write-zeroes (so unwritten ranges
 * stay unmapped). One object at a time per PG: recovery is naturally
 * throttled and never competes with the PG's own client I/O (which waits).
 *
 * Background recovery (phase 2b, first slice): when the other up members
 * reach min_size, one log-recovery target of the PUSH step is not pushed
 * before activation; the PG goes active (reported active+recovering) and
 * struct osd_recovery pushes that member's objects in the background, rate
 * limited; see there. The same machinery backfills a replica in the
 * background (its object list from a listing comparison; the PG is reported
 * active+backfilling); the member persists a backfill marker first, so that a
 * backfill cut short is redone whatever its log says (bf_mark_*). A primary
 * that is behind pulls in the background (struct osd_mpull) under a pull
 * marker (pg_needs_backfill). Before activating, the primary checks the
 * interval records of its members (pr_interval_incomplete): it stays
 * incomplete rather than serve a copy that members now down may have
 * outdated. Not yet: on-demand recovery of a replica, RepOps to a backfill
 * target below its cursor, rollback of diverged entries held by a
 * non-primary member.
 *
 * Member side (responders): PgQuery, ObjectPull (read a chunk), ObjectPush
 * (apply a chunk or a delete), PgNotify requests (merge log entries; RepOps
 * of the PG wait while a merge persists), PgListObjects (a page of the PG's
 * objects).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "osd.h"
#include "rt_err.h"
#include "rt_log.h"
#include "rt_pg.h"

enum osd_pr_state {
	PR_IDLE = 0,
	PR_QUERY,
	PR_PULL,
	PR_MERGE,
	PR_PUSH,
	PR_ACTIVE,
};

struct osd_peering;

struct osd_pr_member {
	struct osd_peering *pr;
	uint32_t osd_id;
	bool answered, failed;
	uint64_t last_update, log_tail;
	uint64_t raw_update; /* last_update as reported (last_update may be its last_complete) */
	bool log_complete;
	bool backfilling; /* a backfill into it started and did not finish */
	/* The newest interval it knows went active (PgInfo.interval_*). */
	uint64_t int_epoch;
	uint32_t n_int_osds;
	uint32_t int_osds[OSD_MAX_REPLICAS];
	bool int_live;
	struct osd_pglog_entry *log;
	uint32_t n_log;
	struct osd_preq q;
};

struct osd_pr_obj {
	uint64_t oid;
	uint64_t version;
};

/*
 * Background recovery of one log-recovery target (phase 2b, first slice: the
 * "async recovery target" of docs/osd.md). Peering activates the PG without
 * pushing to it when the other up members reach min_size; then this pushes
 * its objects (each holding the object's op-queue slot as a whole-object
 * writer, rate-limited by --recovery-max-bytes-per-sec) while mutations send
 * it no RepOps and hand their object back (dirty) when they finish. When
 * nothing is left and no such mutation is in flight, mutations wait while the
 * log entries after its last_update are pushed (PgNotify); then it gets RepOps
 * again. Its log therefore never claims data it lacks: crash-safe without new
 * persistent state. gen is bumped by a cancel (a new round): callbacks of the
 * old run only clear busy.
 */
struct osd_recovery {
	bool active, switching, busy, in_opq;
	bool backfill; /* objects from a listing comparison, not from the log */
	uint32_t gen, op_gen;
	uint32_t target; /* OSD id */
	uint64_t last_update;
	struct osd_pr_obj *objs;
	uint32_t n_objs, cap_objs, cur;
	struct osd_pr_obj *dirty;
	uint32_t n_dirty, cap_dirty;
	uint32_t inflight; /* mutations that skipped the target, unfinished */
	uint64_t off, obj_bytes, next_us, recovered, started_us;
	void *buf;
	size_t buf_cap;
	struct st_req sreq;
	struct osd_preq q;
	struct osd_opq_ent qe;
	struct rt_timer timer;
	struct rt_msg defer;
	bool deferred;
	uint8_t *send_buf;
};

/*
 * Background pull into a primary that is behind (phase 2b, second slice). When
 * peering finds that only the primary lacks entries (one member holds the
 * newest log, every other member too, the logs overlap, nothing diverged), the
 * primary merges the authoritative log entries first, goes active, and pulls
 * the objects those entries name from that member in the background, one at a
 * time, rate-limited like background pushes. Until an object is pulled, every
 * op on it waits on the PG (bounded by --op-timeout) and asks for it first
 * (urgent, never rate-limited). No op of a missing object runs, so the pull
 * writes it without taking its op-queue slot. Intermediate chunks are written
 * with version 0 and the last one with the object's version, so a crash in
 * the middle leaves an object whose version is older than its log entry: the
 * log's "last complete" version (pg_last_complete, PgInfo.last_complete) then
 * tells the next round what is missing. gen is bumped by a cancel.
 */
struct osd_mpull {
	bool active, busy, deferred, urgent_obj;
	uint32_t gen, op_gen;
	uint32_t source; /* OSD id of the member pulled from */
	struct osd_pr_obj *objs; /* ascending oid */
	uint8_t *done;
	uint32_t n, n_left, cur, walk;
	uint32_t *urgent;
	uint32_t n_urgent, cap_urgent;
	uint64_t off, obj_bytes, next_us, recovered, ondemand, started_us;
	void *buf;
	size_t buf_cap;
	struct st_req sreq;
	struct osd_preq q;
	struct rt_timer timer;
	struct rt_msg defer;
	char key[OSD_PGLOG_KEY_MAX];
};

struct osd_peering {
	struct osd_reactor *r;
	struct osd_pg *pg;
	enum osd_pr_state state;
	bool restart;
	bool busy; /* a request or a store op is in flight */
	uint32_t n;
	struct osd_pr_member m[OSD_MAX_REPLICAS];
	uint32_t pending;
	int auth;
	struct osd_pr_obj *objs;
	uint32_t n_objs, cur;
	uint64_t off;
	uint32_t target;
	void *buf;
	size_t buf_cap;
	struct st_req sreq;
	struct osd_pglog_disk rec;
	char key[OSD_PGLOG_KEY_MAX];
	struct osd_preq q;
	struct rt_timer timer;
	uint64_t started_us;
	struct osd_pglog_entry *merge;
	uint32_t n_merge, merge_i;
	struct osd_pr_obj *rlist; /* backfill: a member's objects of the PG */
	uint32_t n_rlist, cap_rlist;
	void (*list_then)(struct osd_peering *pr);
	uint64_t backfills;
	bool backfilling; /* the current PULL/PUSH works from a listing comparison */
	uint16_t *diverged; /* our log slots the authoritative log does not have */
	uint32_t n_diverged, diverged_i;
	uint64_t recovered;
	uint8_t *send_buf; /* PgNotify requests (log pushes) */
	bool wait_rec; /* the push waits for the background recovery to wind down */
	struct osd_recovery bg;
	struct osd_mpull mp;
	bool incomplete; /* the primary lacks entries no up member can supply */
	bool mp_mark; /* persist our pull marker before the background pull */
	uint64_t mp_since; /* our complete version when the pull started */
};

static void pr_round(struct osd_peering *pr);
static void pr_pull_next(struct osd_peering *pr);
static void pr_push_next(struct osd_peering *pr);
static void pr_merge_next(struct osd_peering *pr);
static void rec_cancel(struct osd_peering *pr);
static void rec_kick(struct osd_peering *pr);
static int rec_begin(struct osd_peering *pr, const struct osd_pr_member *t, bool backfill);
static void pull_backfill_listed(struct osd_peering *pr);
static void mp_cancel(struct osd_peering *pr);
static void mp_kick(struct osd_peering *pr);
static uint64_t pg_last_complete(struct osd_reactor *r, const struct osd_pg *pg);
static void push_backfill_listed(struct osd_peering *pr);
static bool bf_marked_now(struct osd_reactor *r, struct osd_pg *pg);
static bool pg_needs_backfill(struct osd_reactor *r, struct osd_pg *pg);
static void pg_int_load(struct osd_reactor *r, struct osd_pg *pg);
static bool pr_interval_incomplete(struct osd_peering *pr);

static struct osd_peering *
pr_of_timer(struct rt_timer *t)
{
	return (struct osd_peering *)((char *)t - offsetof(struct osd_peering, timer));
}

static void
pr_reset(struct osd_peering *pr)
{
	for (uint32_t i = 0; i < pr->n; i++) {
		free(pr->m[i].log);
		pr->m[i].log = NULL;
		pr->m[i].n_log = 0;
	}
	free(pr->objs);
	pr->objs = NULL;
	pr->n_objs = pr->cur = 0;
	free(pr->merge);
	pr->merge = NULL;
	pr->n_merge = pr->merge_i = 0;
	free(pr->diverged);
	pr->diverged = NULL;
	pr->n_diverged = pr->diverged_i = 0;
	free(pr->rlist);
	pr->rlist = NULL;
	pr->n_rlist = pr->cap_rlist = 0;
	free(pr->send_buf);
	pr->send_buf = NULL;
	pr->off = 0;
}

bool
osd_pg_is_active(const struct osd_pg *pg)
{
	return pg->pr && pg->pr->state == PR_ACTIVE;
}

const char *
osd_pg_peering_state(const struct osd_pg *pg)
{
	if (!pg->pr)
		return NULL;
	switch (pg->pr->state) {
	case PR_ACTIVE:
		if (pg->pr->bg.active && pg->pr->bg.backfill)
			return "active+backfilling+degraded";
		return pg->pr->bg.active || pg->pr->mp.active ? "active+recovering+degraded" : NULL;
	case PR_QUERY:
		return pg->pr->incomplete ? "incomplete" : "peering";
	case PR_PULL:
	case PR_MERGE:
	case PR_PUSH:
		/* Phase 2a: client I/O of the PG waits, so no "active". */
		return pg->pr->backfilling ? "backfilling" : "recovering";
	default:
		return NULL;
	}
}

static void
pr_activate(struct osd_peering *pr)
{
	struct osd_pg *pg = pr->pg;

	pr->state = PR_ACTIVE;
	pr->backfilling = false;
	if (pr->recovered || pr->backfills)
		rt_info(RT_SS_OSD, "PG " DF_PGID ": active after peering, %" PRIu64
				   " objects recovered (%" PRIu64 " backfills) in %" PRIu64 " ms",
			pg->pool, pg->seed, pr->recovered, pr->backfills,
			(rt_reactor_now_us(pr->r->r) - pr->started_us) / 1000);
	pr->incomplete = false;
	pr_reset(pr);
	osd_pg_interval_note(pr->r, pg);
	if (pr->mp.n_left) {
		pr->mp.active = true;
		pr->mp.started_us = rt_reactor_now_us(pr->r->r);
		mp_kick(pr);
	}
	osd_primary_resume(pr->r, pg);
	if (pr->bg.active)
		rec_kick(pr);
}

/* A step finished: go on, unless the round must start again. Returns true if
 * the caller should continue its state machine. */
static bool
pr_step_ok(struct osd_peering *pr)
{
	pr->busy = false;
	if (!pr->pg->primary || !pr->pg->member) {
		rec_cancel(pr);
		pr->state = PR_IDLE;
		pr_reset(pr);
		osd_primary_resume(pr->r, pr->pg); /* waiting ops learn they are misdirected */
		return false;
	}
	if (pr->restart) {
		pr_round(pr);
		return false;
	}
	return true;
}

static void
pr_retry_later(struct osd_peering *pr, const char *why, int rc)
{
	rt_warn_rl(RT_SS_OSD, "PG " DF_PGID ": peering: %s: " DF_RC "; retrying", pr->pg->pool,
		   pr->pg->seed, why, DP_RC(rc));
	pr->busy = true; /* until the timer */
	pr->state = PR_QUERY;
	rt_timer_start(pr->r->r, &pr->timer, 1000000, 0);
}

static void
pr_retry_fire(struct rt_timer *t)
{
	struct osd_peering *pr = pr_of_timer(t);

	if (pr_step_ok(pr))
		pr_round(pr);
}

/* ---- query --------------------------------------------------------------------------- */

static void
pr_decide(struct osd_peering *pr);

static void
query_done(struct osd_preq *q, int rc, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	   const struct iovec *data, int data_cnt)
{
	struct osd_pr_member *m = (struct osd_pr_member *)((char *)q -
							   offsetof(struct osd_pr_member, q));
	struct osd_peering *pr = m->pr;
	const Tessera__PgNotify *n = (const Tessera__PgNotify *)msg;

	if (rc == 0 && (hdr->type != FRAME_T_PG_NOTIFY || n->status != TESSERA__STATUS__STATUS_OK ||
			!n->info))
		rc = hdr->type != FRAME_T_PG_NOTIFY ? -EBADMSG : frame_status_to_errno(n->status);
	if (rc < 0) {
		m->failed = true;
	} else {
		const Tessera__PgInfo *in = n->info;

		m->answered = true;
		m->last_update = in->last_update ? osd_version_make(in->last_update->epoch,
								     in->last_update->seq)
						 : 0;
		m->log_tail = in->log_tail ? osd_version_make(in->log_tail->epoch, in->log_tail->seq)
					   : 0;
		m->log_complete = n->n_log < in->log_cap || in->log_cap == 0;
		m->raw_update = m->last_update;
		if (in->backfilling) {
			/* A backfill into it was cut short: its objects are a mix
			 * of old and new whatever its log says. Backfill it again. */
			m->backfilling = true;
			m->last_update = 0;
			m->raw_update = 0;
			m->log_complete = false;
		} else if (in->last_complete) {
			/* Its log runs ahead of its data: behind from there. */
			uint64_t lc = osd_version_make(in->last_complete->epoch,
						       in->last_complete->seq);

			if (lc < m->last_update)
				m->last_update = lc;
		}
		m->int_epoch = in->interval_epoch;
		m->int_live = in->interval_live;
		m->n_int_osds = 0;
		for (size_t i = 0; i < in->n_interval_osds && i < OSD_MAX_REPLICAS; i++)
			m->int_osds[m->n_int_osds++] = in->interval_osds[i];
		m->log = n->n_log ? calloc(n->n_log, sizeof(*m->log)) : NULL;
		for (size_t i = 0; m->log && i < n->n_log; i++) {
			const Tessera__PgLogEntry *e = n->log[i];

			if (!e || !e->version || !e->oid)
				continue;
			m->log[m->n_log].version = osd_version_make(e->version->epoch,
								    e->version->seq);
			m->log[m->n_log].obj.pool = e->oid->pool;
			m->log[m->n_log].obj.oid = e->oid->id;
			m->log[m->n_log].op = (uint8_t)e->op;
			m->log[m->n_log].client_id = e->client_id;
			m->log[m->n_log].req_id = e->client_req_id;
			m->log[m->n_log].result =
				e->result ? frame_status_to_errno(e->result) : 0;
			m->n_log++;
		}
		if (n->n_log && !m->log)
			m->failed = true;
	}
	if (--pr->pending == 0)
		pr_decide(pr);
}

static void
query_sent(struct rt_msgr_send *s, int rc)
{
}

static void
pr_round(struct osd_peering *pr)
{
	struct osd_reactor *r = pr->r;
	struct osd_pg *pg = pr->pg;
	uint32_t self = r->osd->osd_id;

	pr_reset(pr);
	pr->restart = false;
	pr->recovered = 0;
	pr->backfills = 0;
	pr->backfilling = false;
	pr->state = PR_QUERY;
	pr->started_us = rt_reactor_now_us(r->r);
	pr->n = 0;
	pr->pending = 1; /* held while sending */
	pr->busy = true;
	for (uint32_t i = 0; i < pg->n_acting; i++) {
		const struct mon_osd *o = osd_map_osd(r->map, pg->acting[i]);
		struct osd_pr_member *m;
		Tessera__PgQuery pq = TESSERA__PG_QUERY__INIT;
		Tessera__PgId pid = TESSERA__PG_ID__INIT;
		struct osd_peer *peer;

		if (pg->acting[i] == self || !o || !o->up)
			continue;
		m = &pr->m[pr->n++];
		memset(m, 0, sizeof(*m));
		m->pr = pr;
		m->osd_id = pg->acting[i];
		m->q.tag = ++r->next_tag;
		m->q.cb = query_done;
		pid.pool = pg->pool;
		pid.seed = pg->seed;
		pq.epoch = r->map->epoch;
		pq.pg = &pid;
		peer = osd_peer_get(r, m->osd_id, pg->seed);
		if (!peer || rt_msgr_send_prep(&m->q.send, m->q.head, sizeof(m->q.head),
					       FRAME_T_PG_QUERY, m->q.tag, 0, &pq.base, NULL, 0,
					       query_sent) < 0 ||
		    osd_peer_send(peer, &m->q) < 0) {
			m->failed = true;
			continue;
		}
		pr->pending++;
	}
	if (--pr->pending == 0)
		pr_decide(pr);
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct osd_pglog_entry *x = a, *y = b;

	return x->version < y->version ? -1 : x->version > y->version;
}

/* Objects named in log[] after `since`, newest version each, ascending oid order. */
static int
objs_from_log(struct osd_peering *pr, const struct osd_pglog_entry *log, uint32_t n,
	      uint64_t since)
{
	free(pr->objs);
	pr->objs = n ? calloc(n, sizeof(*pr->objs)) : NULL;
	pr->n_objs = 0;
	pr->cur = 0;
	pr->off = 0;
	if (n && !pr->objs)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k;

		if (log[i].version <= since || !log[i].version)
			continue;
		for (k = 0; k < pr->n_objs; k++)
			if (pr->objs[k].oid == log[i].obj.oid)
				break;
		if (k == pr->n_objs) {
			pr->objs[k].oid = log[i].obj.oid;
			pr->n_objs++;
		}
		if (log[i].version > pr->objs[k].version)
			pr->objs[k].version = log[i].version;
	}
	return 0;
}

/* ---- backfill: object listings ------------------------------------------------------- */

static int
cmp_obj(const void *a, const void *b)
{
	const struct osd_pr_obj *x = a, *y = b;

	return x->oid < y->oid ? -1 : x->oid > y->oid;
}

/* This reactor's objects of the PG (from the store's index: control path). */
static int
list_local(struct osd_reactor *r, const struct osd_pg *pg, struct osd_pr_obj **out, uint32_t *n_out)
{
	struct st_list_cursor cur = { { 0, 0 }, true };
	struct st_obj_info page[512];
	struct osd_pr_obj *a = NULL;
	uint32_t n = 0, cap = 0;
	int got;

	while ((got = st_list(r->st, pg->pool, &cur, page, 512)) > 0) {
		for (int i = 0; i < got; i++) {
			if (rt_pg_of(pg->pool, page[i].obj.oid, pg->pg_count) != pg->seed)
				continue;
			if (n == cap) {
				struct osd_pr_obj *b = realloc(a, (cap ? cap * 2 : 256) * sizeof(*a));

				if (!b) {
					free(a);
					return -ENOMEM;
				}
				a = b;
				cap = cap ? cap * 2 : 256;
			}
			a[n].oid = page[i].obj.oid;
			a[n].version = page[i].version;
			n++;
		}
	}
	if (got < 0) {
		free(a);
		return got;
	}
	*out = a;
	*n_out = n;
	return 0;
}

/*
 * The objects to move so that `to` matches `from` (both sorted by oid): those
 * `from` has that `to` lacks or holds at another version, and those only `to`
 * has (moved as deletes). Replaces pr->objs.
 */
static int
list_diff(struct osd_peering *pr, const struct osd_pr_obj *from, uint32_t nf,
	  const struct osd_pr_obj *to, uint32_t nt)
{
	uint32_t i = 0, j = 0;

	free(pr->objs);
	pr->objs = calloc(nf + nt + 1, sizeof(*pr->objs));
	pr->n_objs = pr->cur = 0;
	pr->off = 0;
	if (!pr->objs)
		return -ENOMEM;
	while (i < nf || j < nt) {
		if (j >= nt || (i < nf && from[i].oid < to[j].oid)) {
			pr->objs[pr->n_objs++] = from[i++];
		} else if (i >= nf || to[j].oid < from[i].oid) {
			pr->objs[pr->n_objs].oid = to[j++].oid;
			pr->objs[pr->n_objs++].version = 0;
		} else {
			if (from[i].version != to[j].version)
				pr->objs[pr->n_objs++] = from[i];
			i++;
			j++;
		}
	}
	return 0;
}

static void list_page(struct osd_peering *pr, uint32_t member);

static void
list_sent(struct rt_msgr_send *s, int rc)
{
}

static void
list_done(struct osd_preq *q, int rc, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	  const struct iovec *data, int data_cnt)
{
	struct osd_peering *pr = (struct osd_peering *)((char *)q - offsetof(struct osd_peering, q));
	const Tessera__PgListObjectsReply *m = (const Tessera__PgListObjectsReply *)msg;

	if (rc == 0 && (hdr->type != FRAME_T_PG_LIST_REPLY || m->status != TESSERA__STATUS__STATUS_OK))
		rc = hdr->type != FRAME_T_PG_LIST_REPLY ? -EBADMSG : frame_status_to_errno(m->status);
	if (rc < 0) {
		pr_retry_later(pr, "listing a member's objects", rc);
		return;
	}
	if (pr->n_rlist + m->n_objects > pr->cap_rlist) {
		uint32_t cap = (pr->n_rlist + (uint32_t)m->n_objects) * 2 + 256;
		struct osd_pr_obj *b = realloc(pr->rlist, cap * sizeof(*b));

		if (!b) {
			pr_retry_later(pr, "out of memory", -ENOMEM);
			return;
		}
		pr->rlist = b;
		pr->cap_rlist = cap;
	}
	for (size_t i = 0; i < m->n_objects; i++) {
		const Tessera__ObjectVersion *o = m->objects[i];

		if (!o || !o->oid)
			continue;
		pr->rlist[pr->n_rlist].oid = o->oid->id;
		pr->rlist[pr->n_rlist].version =
			o->version ? osd_version_make(o->version->epoch, o->version->seq) : 0;
		pr->n_rlist++;
	}
	if (!pr_step_ok(pr))
		return;
	if (!m->done && m->n_objects) {
		list_page(pr, pr->target);
		return;
	}
	if (pr->n_rlist > 1) /* an empty member's listing leaves rlist NULL: qsort(NULL) is UB */
		qsort(pr->rlist, pr->n_rlist, sizeof(*pr->rlist), cmp_obj);
	pr->list_then(pr);
}

/* Ask member `member` for its next page of the PG's objects (after the last one). */
static void
list_page(struct osd_peering *pr, uint32_t member)
{
	struct osd_reactor *r = pr->r;
	Tessera__PgListObjects m = TESSERA__PG_LIST_OBJECTS__INIT;
	Tessera__PgId pid = TESSERA__PG_ID__INIT;
	Tessera__ObjectId after = TESSERA__OBJECT_ID__INIT;
	struct osd_peer *peer;
	int rc;

	pr->target = member;
	memset(&pr->q, 0, offsetof(struct osd_preq, head));
	pr->q.tag = ++r->next_tag;
	pr->q.cb = list_done;
	pid.pool = pr->pg->pool;
	pid.seed = pr->pg->seed;
	m.epoch = r->map->epoch;
	m.pg = &pid;
	m.max = 1024;
	if (pr->n_rlist) {
		after.pool = pr->pg->pool;
		after.id = pr->rlist[pr->n_rlist - 1].oid;
		m.start_after = &after;
	}
	peer = osd_peer_get(r, pr->m[member].osd_id, pr->pg->seed);
	rc = peer ? rt_msgr_send_prep(&pr->q.send, pr->q.head, sizeof(pr->q.head), FRAME_T_PG_LIST,
				      pr->q.tag, 0, &m.base, NULL, 0, list_sent)
		  : -EHOSTUNREACH;
	if (rc == 0)
		rc = osd_peer_send(peer, &pr->q);
	if (rc < 0) {
		pr_retry_later(pr, "listing a member's objects", rc);
		return;
	}
	pr->busy = true;
}

static void
list_start(struct osd_peering *pr, uint32_t member, void (*then)(struct osd_peering *pr))
{
	pr->n_rlist = 0;
	pr->list_then = then;
	pr->backfills++;
	pr->backfilling = true;
	list_page(pr, member);
}

static bool
log_has_version(const struct osd_pglog_entry *log, uint32_t n, uint64_t v)
{
	for (uint32_t i = 0; i < n; i++)
		if (log[i].version == v)
			return true;
	return false;
}

/*
 * Entries of our log that the authoritative log should hold but does not:
 * writes this OSD applied as primary of an earlier interval and never
 * replicated (it failed before the replicas had them, so no client was
 * answered). Their objects are pulled too (the authoritative copy, or a
 * delete), and the entries leave our log, so that a resend of such a request
 * is applied instead of answered from a log that lies.
 */
static int
find_diverged(struct osd_peering *pr, const struct osd_pr_member *a)
{
	struct osd_pglog *l = &pr->pg->log;
	uint32_t extra = 0;

	pr->diverged = calloc(l->cap, sizeof(*pr->diverged));
	if (!pr->diverged)
		return -ENOMEM;
	for (uint32_t i = 0; i < l->cap; i++) {
		const struct osd_pglog_entry *e = &l->ents[i];

		if (!e->version || (!a->log_complete && e->version < a->log_tail) ||
		    log_has_version(a->log, a->n_log, e->version))
			continue;
		pr->diverged[pr->n_diverged++] = (uint16_t)i;
		extra++;
	}
	if (!extra)
		return 0;
	{
		struct osd_pr_obj *objs = realloc(pr->objs, (pr->n_objs + extra) * sizeof(*objs));

		if (!objs)
			return -ENOMEM;
		pr->objs = objs;
	}
	for (uint32_t k = 0; k < pr->n_diverged; k++) {
		const struct osd_pglog_entry *e = &l->ents[pr->diverged[k]];
		uint32_t j;

		rt_warn(RT_SS_OSD, "PG " DF_PGID ": entry %" PRIx64 " (object %" PRIx64
				   ", client %" PRIx64 " req %" PRIu64 ") diverged: rolling back",
			pr->pg->pool, pr->pg->seed, e->version, e->obj.oid, e->client_id,
			e->req_id);
		for (j = 0; j < pr->n_objs; j++)
			if (pr->objs[j].oid == e->obj.oid)
				break;
		if (j == pr->n_objs) {
			pr->objs[j].oid = e->obj.oid;
			pr->objs[j].version = 0;
			pr->n_objs++;
		}
	}
	return 0;
}

static void
pull_backfill_listed(struct osd_peering *pr)
{
	struct osd_pr_obj *mine = NULL;
	uint32_t n_mine = 0;
	int rc = list_local(pr->r, pr->pg, &mine, &n_mine);

	if (rc == 0) {
		if (n_mine > 1) /* NULL when this side holds nothing */
			qsort(mine, n_mine, sizeof(*mine), cmp_obj);
		rc = list_diff(pr, pr->rlist, pr->n_rlist, mine, n_mine);
	}
	free(mine);
	if (rc < 0) {
		pr_retry_later(pr, "backfill listing", rc);
		return;
	}
	rt_info(RT_SS_OSD, "PG " DF_PGID ": backfill from " DF_OSD ": %u objects differ",
		pr->pg->pool, pr->pg->seed, pr->m[pr->auth].osd_id, pr->n_objs);
	pr_pull_next(pr);
}

/*
 * Background pull instead of the blocking PULL: only the primary is behind (every
 * other member is at least at the authoritative member's version), the logs
 * overlap and nothing of ours diverged. Takes the objects to pull from pr->objs,
 * keeping only those whose stored version is not the wanted one.
 */
static bool
mp_setup(struct osd_peering *pr, const struct osd_pr_member *a)
{
	struct osd_mpull *mp = &pr->mp;
	uint32_t k = 0;

	if (pr->n_diverged)
		return false;
	for (uint32_t i = 0; i < pr->n; i++) {
		if (pr->m[i].last_update < a->last_update)
			return false;
	}
	if (mp->busy)
		return false; /* a cancelled chunk still in flight (peering waits for it) */
	mp_cancel(pr);
	free(mp->objs);
	free(mp->done);
	free(mp->urgent);
	mp->objs = NULL;
	mp->done = NULL;
	mp->urgent = NULL;
	mp->n = mp->n_left = mp->cur = mp->walk = mp->n_urgent = mp->cap_urgent = 0;
	mp->off = mp->obj_bytes = mp->next_us = mp->recovered = mp->ondemand = 0;
	mp->urgent_obj = false;
	if (!mp->buf) {
		mp->buf_cap = pr->r->buf_bytes;
		mp->buf = aligned_alloc(4096, mp->buf_cap);
		if (!mp->buf)
			return false;
	}
	mp->objs = pr->n_objs ? calloc(pr->n_objs, sizeof(*mp->objs)) : NULL;
	mp->done = pr->n_objs ? calloc(pr->n_objs, 1) : NULL;
	if (pr->n_objs && (!mp->objs || !mp->done)) {
		free(mp->objs);
		free(mp->done);
		mp->objs = NULL;
		mp->done = NULL;
		return false;
	}
	for (uint32_t i = 0; i < pr->n_objs; i++) {
		struct st_obj_info info;
		struct st_obj_id obj = { .pool = pr->pg->pool, .oid = pr->objs[i].oid };

		if (st_object_stat(pr->r->st, obj, &info) == 0 &&
		    info.version == pr->objs[i].version)
			continue; /* already right here */
		mp->objs[k++] = pr->objs[i];
	}
	if (k > 1)
		qsort(mp->objs, k, sizeof(*mp->objs), cmp_obj);
	mp->n = mp->n_left = k;
	mp->source = a->osd_id;
	free(pr->objs);
	pr->objs = NULL;
	pr->n_objs = pr->cur = 0;
	rt_info(RT_SS_OSD, "PG " DF_PGID ": pulling %u objects from " DF_OSD
			   " in the background after activation",
		pr->pg->pool, pr->pg->seed, k, a->osd_id);
	return true;
}

static void
pr_decide(struct osd_peering *pr)
{
	struct osd_pg *pg = pr->pg;
	uint64_t mine, best;
	bool needs_bf;

	if (!pr_step_ok(pr))
		return;
	for (uint32_t i = 0; i < pr->n; i++) {
		if (pr->m[i].failed) {
			pr_retry_later(pr, "a member did not answer", -EIO);
			return;
		}
	}
	/* What we hold complete: below our log's head if our log runs ahead of
	 * our data (a background pull interrupted by a crash). */
	mine = pg_last_complete(pr->r, pg);
	needs_bf = pg_needs_backfill(pr->r, pg);
	if (needs_bf)
		mine = 0; /* a backfill into us (or our pull) was cut short: nothing for sure */
	best = mine;
	pr->auth = -1;
	for (uint32_t i = 0; i < pr->n; i++) {
		if (pr->m[i].last_update > best) {
			best = pr->m[i].last_update;
			pr->auth = (int)i;
		}
	}
	if (pr->auth < 0 && mine < pg->log.last_version) {
		bool held = false;

		for (uint32_t i = 0; i < pr->n; i++)
			held |= pr->m[i].raw_update >= pg->log.last_version;
		if (!held) {
			/* Our log names data we lack and no member up has it. */
			if (!pr->incomplete)
				rt_warn(RT_SS_OSD,
					"PG " DF_PGID ": incomplete: our log reaches %" PRIx64
					" but our data only %" PRIx64
					" and no member up holds more; waiting for one",
					pg->pool, pg->seed, pg->log.last_version, mine);
			pr->incomplete = true;
			pr_retry_later(pr, "incomplete", -RT_EPGINACTIVE);
			return;
		}
	}
	if (pr_interval_incomplete(pr)) {
		pr->incomplete = true;
		pr_retry_later(pr, "incomplete", -RT_EPGINACTIVE);
		return;
	}
	pr->incomplete = false;
	if (pr->auth >= 0) {
		struct osd_pr_member *a = &pr->m[pr->auth];

		bool backfill = (!a->log_complete && mine < a->log_tail) || needs_bf;

		rt_info(RT_SS_OSD, "PG " DF_PGID ": " DF_OSD " is ahead (%" PRIx64 " > %" PRIx64
				   "): %s",
			pg->pool, pg->seed, a->osd_id, a->last_update, mine,
			backfill ? "backfilling from it" : "pulling");
		if (objs_from_log(pr, a->log, a->n_log, mine) < 0) {
			pr_retry_later(pr, "out of memory", -ENOMEM);
			return;
		}
		/* The entries to merge afterwards, oldest first (not those we hold). */
		pr->merge = calloc(a->n_log ? a->n_log : 1, sizeof(*pr->merge));
		if (!pr->merge) {
			pr_retry_later(pr, "out of memory", -ENOMEM);
			return;
		}
		for (uint32_t i = 0; i < a->n_log; i++)
			if (a->log[i].version > pg->log.last_version)
				pr->merge[pr->n_merge++] = a->log[i];
		qsort(pr->merge, pr->n_merge, sizeof(*pr->merge), cmp_entry);
		if (find_diverged(pr, a) < 0) {
			pr_retry_later(pr, "out of memory", -ENOMEM);
			return;
		}
		if (!backfill && !pr->r->osd->conf.recovery_blocking_pull && mp_setup(pr, a)) {
			/*
			 * The log first; the objects after activation. Our marker
			 * goes first of all: once the merged entries are in our log,
			 * new writes can push them out of it (it wraps) while the
			 * objects they name are still missing here, and only the
			 * marker then tells a later round (a crash, a cancel) that our
			 * data is not what our log says: it backfills us instead.
			 */
			pr->mp_mark = true;
			pr->mp_since = mine;
			pr->state = PR_MERGE;
			pr_merge_next(pr);
			return;
		}
		pr->state = PR_PULL;
		if (backfill) {
			/* The log does not reach back far enough: compare whole listings. */
			list_start(pr, (uint32_t)pr->auth, pull_backfill_listed);
			return;
		}
		pr_pull_next(pr);
		return;
	}
	pr->state = PR_PUSH;
	pr->target = 0;
	pr->n_objs = 0;
	pr_push_next(pr);
}

/* ---- pull ---------------------------------------------------------------------------- */

static void
pull_written(struct st_req *q, int rc)
{
	struct osd_peering *pr = q->ctx;

	if (rc < 0 && rc != -ENOENT) {
		pr_retry_later(pr, "writing a recovered object", rc);
		return;
	}
	if (!pr_step_ok(pr))
		return;
	pr_pull_next(pr);
}

static void
pull_done(struct osd_preq *q, int rc, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	  const struct iovec *data, int data_cnt)
{
	struct osd_peering *pr = (struct osd_peering *)((char *)q - offsetof(struct osd_peering, q));
	const Tessera__ObjectPush *m = (const Tessera__ObjectPush *)msg;
	struct osd_pr_obj *o = &pr->objs[pr->cur];
	struct st_req *sq = &pr->sreq;

	if (rc == 0 && hdr->type != FRAME_T_OBJ_PUSH)
		rc = -EBADMSG;
	if (rc == 0 && hdr->data_len && (data_cnt != 1 || data[0].iov_base != pr->buf))
		rc = -EBADMSG; /* did not land in our buffer */
	if (rc < 0) {
		pr_retry_later(pr, "pulling an object", rc);
		return;
	}
	memset(sq, 0, offsetof(struct st_req, priv));
	sq->obj.pool = pr->pg->pool;
	sq->obj.oid = o->oid;
	sq->version = m->version ? osd_version_make(m->version->epoch, m->version->seq)
				 : o->version;
	sq->cb = pull_written;
	sq->ctx = pr;
	if (m->delete_) {
		sq->op = ST_OP_DELETE;
		pr->cur++;
		pr->off = 0;
		pr->recovered++;
	} else {
		if (hdr->data_len == 0 || hdr->data_len % 4096) {
			pr_retry_later(pr, "a pulled chunk is malformed", -EBADMSG);
			return;
		}
		sq->offset_bytes = pr->off;
		sq->len_bytes = hdr->data_len;
		if (osd_buf_is_zero(pr->buf, hdr->data_len)) {
			sq->op = ST_OP_WRITE_ZEROES;
		} else {
			sq->op = ST_OP_WRITE;
			sq->buf = pr->buf;
		}
		pr->off += hdr->data_len;
		if (m->last || pr->off >= pr->r->max_object_bytes) {
			pr->cur++;
			pr->off = 0;
			pr->recovered++;
		}
	}
	pr->busy = true;
	rc = st_submit(pr->r->st, sq);
	if (rc < 0)
		pr_retry_later(pr, "writing a recovered object", rc);
}

static void
merge_written(struct st_req *q, int rc)
{
	struct osd_peering *pr = q->ctx;

	if (rc < 0 && rc != -ENOENT) {
		pr_retry_later(pr, "persisting merged log entries", rc);
		return;
	}
	if (!pr_step_ok(pr))
		return;
	pr_merge_next(pr);
}

static void
pr_merge_next(struct osd_peering *pr)
{
	struct osd_pg *pg = pr->pg;
	struct osd_pglog_entry *s;
	struct st_req *q = &pr->sreq;
	uint32_t klen;
	int rc;

	if (pr->mp_mark) {
		struct osd_pgmark mk = { .value = pr->mp_since };
		struct osd_pgmark_disk d;

		_Static_assert(sizeof(d) == sizeof(pr->rec), "the marker fits the record buffer");
		pr->mp_mark = false;
		osd_pgmark_encode(pg->pool, pg->seed, &mk, &d);
		memcpy(&pr->rec, &d, sizeof(d));
		klen = osd_pgmark_key(OSD_PGPL_KEY_PREFIX, pg->pool, pg->seed, pr->key,
				      sizeof(pr->key));
		memset(q, 0, offsetof(struct st_req, priv));
		q->op = ST_OP_META_SET;
		q->meta_key = pr->key;
		q->meta_key_len = klen;
		q->buf = &pr->rec;
		q->len_bytes = sizeof(struct osd_pgmark_disk);
		q->cb = merge_written;
		q->ctx = pr;
		pg->pl_marked = true;
		pg->pl_since = mk.value;
		pr->busy = true;
		rc = st_submit(pr->r->st, q);
		if (rc < 0)
			pr_retry_later(pr, "persisting our backfill marker", rc);
		return;
	}
	if (pr->diverged_i < pr->n_diverged) {
		/* Drop a diverged entry: from memory and from the store. */
		uint16_t slot = pr->diverged[pr->diverged_i++];

		if (pg->log.ents[slot].version) {
			memset(&pg->log.ents[slot], 0, sizeof(pg->log.ents[slot]));
			pg->log.n--;
		}
		klen = osd_pglog_key(pg->pool, pg->seed, slot, pr->key, sizeof(pr->key));
		memset(q, 0, offsetof(struct st_req, priv));
		q->op = ST_OP_META_DEL;
		q->meta_key = pr->key;
		q->meta_key_len = klen;
		q->cb = merge_written;
		q->ctx = pr;
		pr->busy = true;
		rc = st_submit(pr->r->st, q);
		if (rc < 0)
			pr_retry_later(pr, "dropping a diverged log entry", rc);
		return;
	}
	if (pr->merge_i >= pr->n_merge && pg->bf_marked && pr->auth >= 0 && !pr->mp.n_left) {
		/* We were backfilled from the authoritative member: clear our marker. */
		pg->bf_marked = false;
		klen = osd_pgmark_key(OSD_PGBF_KEY_PREFIX, pg->pool, pg->seed, pr->key,
				      sizeof(pr->key));
		memset(q, 0, offsetof(struct st_req, priv));
		q->op = ST_OP_META_DEL;
		q->meta_key = pr->key;
		q->meta_key_len = klen;
		q->cb = merge_written;
		q->ctx = pr;
		pr->busy = true;
		rc = st_submit(pr->r->st, q);
		if (rc < 0)
			pr_retry_later(pr, "clearing our backfill marker", rc);
		return;
	}
	if (pr->merge_i >= pr->n_merge && pg->pl_marked && pr->auth >= 0 && !pr->mp.n_left) {
		/* A blocking pull brought everything: our pull marker goes too. */
		pg->pl_marked = false;
		klen = osd_pgmark_key(OSD_PGPL_KEY_PREFIX, pg->pool, pg->seed, pr->key,
				      sizeof(pr->key));
		memset(q, 0, offsetof(struct st_req, priv));
		q->op = ST_OP_META_DEL;
		q->meta_key = pr->key;
		q->meta_key_len = klen;
		q->cb = merge_written;
		q->ctx = pr;
		pr->busy = true;
		rc = st_submit(pr->r->st, q);
		if (rc < 0)
			pr_retry_later(pr, "clearing our pull marker", rc);
		return;
	}
	if (pr->merge_i >= pr->n_merge) {
		pr->state = PR_PUSH;
		pr->target = 0;
		/*
		 * The pull's object list is done with: pr_push_next starts on a
		 * target only when pr->objs is NULL (a stale list made it push the
		 * first target behind its log entries without its objects).
		 */
		free(pr->objs);
		pr->objs = NULL;
		pr->n_objs = pr->cur = 0;
		pr->off = 0;
		pr_push_next(pr);
		return;
	}
	s = osd_pglog_append(&pg->log, &pr->merge[pr->merge_i++]);
	osd_pglog_encode(&pg->log, s, &pr->rec);
	klen = osd_pglog_key(pg->pool, pg->seed, s->slot, pr->key, sizeof(pr->key));
	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_META_SET;
	q->meta_key = pr->key;
	q->meta_key_len = klen;
	q->buf = &pr->rec;
	q->len_bytes = sizeof(pr->rec);
	q->cb = merge_written;
	q->ctx = pr;
	pr->busy = true;
	rc = st_submit(pr->r->st, q);
	if (rc < 0)
		pr_retry_later(pr, "persisting merged log entries", rc);
}

static void
pr_pull_next(struct osd_peering *pr)
{
	struct osd_reactor *r = pr->r;
	struct osd_pr_member *a = &pr->m[pr->auth];
	int rc;

	if (pr->cur >= pr->n_objs) {
		pr->state = PR_MERGE;
		pr->backfilling = false;
		pr_merge_next(pr);
		return;
	}
	if (!pr->buf) {
		pr->buf_cap = r->buf_bytes;
		pr->buf = aligned_alloc(4096, pr->buf_cap);
		if (!pr->buf) {
			pr_retry_later(pr, "out of memory", -ENOMEM);
			return;
		}
	}
	rc = osd_obj_pull_send(r, pr->pg, a->osd_id, pr->objs[pr->cur].oid, pr->off, pr->buf_cap,
			       pr->buf, pr->buf_cap, &pr->q, pull_done);
	if (rc == -EHOSTUNREACH) {
		pr_retry_later(pr, "the authoritative member is unreachable", rc);
		return;
	}
	if (rc < 0) {
		pr_retry_later(pr, "sending ObjectPull", rc);
		return;
	}
	pr->busy = true;
}

/* ---- push ---------------------------------------------------------------------------- */

static void push_read_done(struct st_req *q, int rc);

static void
push_sent(struct rt_msgr_send *s, int rc)
{
}

static void
push_log_done(struct osd_preq *q, int rc, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	      const struct iovec *data, int data_cnt)
{
	struct osd_peering *pr = (struct osd_peering *)((char *)q - offsetof(struct osd_peering, q));
	const Tessera__PgNotify *n = (const Tessera__PgNotify *)msg;

	free(pr->send_buf);
	pr->send_buf = NULL;
	if (rc == 0 && (hdr->type != FRAME_T_PG_NOTIFY || n->status != TESSERA__STATUS__STATUS_OK))
		rc = hdr->type != FRAME_T_PG_NOTIFY ? -EBADMSG : frame_status_to_errno(n->status);
	if (rc < 0) {
		pr_retry_later(pr, "pushing log entries", rc);
		return;
	}
	if (!pr_step_ok(pr))
		return;
	pr->m[pr->target].last_update = pr->pg->log.last_version;
	pr->target++;
	pr->n_objs = 0;
	pr_push_next(pr);
}

/*
 * Send osd_id the PG's log entries newer than `since` as a PgNotify. The
 * encoded frame goes to *send_buf (replacing the old one; owned by the
 * caller's request), q gets a new tag and cb. Returns 0: cb runs later, as for
 * osd_peer_send; returns <0: nothing was sent.
 */
static int
send_log_since(struct osd_reactor *r, struct osd_pg *pg, uint32_t osd_id, uint64_t since,
	       struct osd_preq *q, uint8_t **send_buf, osd_preq_cb cb)
{
	Tessera__PgNotify n = TESSERA__PG_NOTIFY__INIT;
	Tessera__PgInfo info = TESSERA__PG_INFO__INIT;
	Tessera__PgId pid = TESSERA__PG_ID__INIT;
	Tessera__PgLogEntry *ents = calloc(pg->log.cap, sizeof(*ents));
	Tessera__PgLogEntry **pents = calloc(pg->log.cap, sizeof(*pents));
	Tessera__Version *vers = calloc(pg->log.cap, sizeof(*vers));
	Tessera__ObjectId *oids = calloc(pg->log.cap, sizeof(*oids));
	struct osd_peer *peer;
	size_t len;
	int rc = -ENOMEM;

	if (!ents || !pents || !vers || !oids)
		goto out;
	for (uint32_t i = 0; i < pg->log.cap; i++) {
		const struct osd_pglog_entry *e = &pg->log.ents[i];

		if (!e->version || e->version <= since)
			continue;
		tessera__pg_log_entry__init(&ents[n.n_log]);
		tessera__version__init(&vers[n.n_log]);
		tessera__object_id__init(&oids[n.n_log]);
		osd_version_to_pb(e->version, &vers[n.n_log]);
		oids[n.n_log].pool = e->obj.pool;
		oids[n.n_log].id = e->obj.oid;
		ents[n.n_log].version = &vers[n.n_log];
		ents[n.n_log].oid = &oids[n.n_log];
		ents[n.n_log].op = (Tessera__OpType)e->op;
		ents[n.n_log].client_id = e->client_id;
		ents[n.n_log].client_req_id = e->req_id;
		ents[n.n_log].result = frame_status_from_errno(e->result);
		pents[n.n_log] = &ents[n.n_log];
		n.n_log++;
	}
	pid.pool = pg->pool;
	pid.seed = pg->seed;
	info.pg = &pid;
	info.epoch = r->map->epoch;
	n.info = &info;
	n.log = pents;
	len = frame_encoded_size(&n.base);
	free(*send_buf);
	*send_buf = malloc(len);
	if (!*send_buf)
		goto out;
	memset(q, 0, offsetof(struct osd_preq, head));
	q->tag = ++r->next_tag;
	q->cb = cb;
	rc = rt_msgr_send_prep(&q->send, *send_buf, len, FRAME_T_PG_NOTIFY, q->tag, 0, &n.base,
			       NULL, 0, push_sent);
	if (rc < 0)
		goto out;
	peer = osd_peer_get(r, osd_id, pg->seed);
	rc = peer ? osd_peer_send(peer, q) : -EHOSTUNREACH;
out:
	free(ents);
	free(pents);
	free(vers);
	free(oids);
	return rc;
}

/* Send the target the primary's log entries after its last_update. */
static void
push_log(struct osd_peering *pr)
{
	struct osd_pr_member *t = &pr->m[pr->target];
	int rc = send_log_since(pr->r, pr->pg, t->osd_id, t->last_update, &pr->q, &pr->send_buf,
				push_log_done);

	if (rc == 0)
		pr->busy = true;
	else
		pr_retry_later(pr, "pushing log entries", rc);
}

static void
push_chunk_done(struct osd_preq *q, int rc, const struct frame_hdr *hdr, ProtobufCMessage *msg,
		const struct iovec *data, int data_cnt)
{
	struct osd_peering *pr = (struct osd_peering *)((char *)q - offsetof(struct osd_peering, q));
	const Tessera__ObjectPushReply *m = (const Tessera__ObjectPushReply *)msg;

	if (rc == 0 && (hdr->type != FRAME_T_OBJ_PUSH_REPLY ||
			(m->status != TESSERA__STATUS__STATUS_OK &&
			 m->status != TESSERA__STATUS__STATUS_ENOENT)))
		rc = hdr->type != FRAME_T_OBJ_PUSH_REPLY ? -EBADMSG
							 : frame_status_to_errno(m->status);
	if (rc < 0) {
		pr_retry_later(pr, "pushing an object", rc);
		return;
	}
	if (!pr_step_ok(pr))
		return;
	pr_push_next(pr);
}

/* Read the next chunk of the current object (or learn it is gone). */
static void
push_read(struct osd_peering *pr)
{
	struct st_req *q = &pr->sreq;
	uint64_t len = pr->buf_cap;
	int rc;

	if (pr->off + len > pr->r->max_object_bytes)
		len = pr->r->max_object_bytes - pr->off;
	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_READ;
	q->obj.pool = pr->pg->pool;
	q->obj.oid = pr->objs[pr->cur].oid;
	q->offset_bytes = pr->off;
	q->len_bytes = len;
	q->buf = pr->buf;
	q->cb = push_read_done;
	q->ctx = pr;
	pr->busy = true;
	rc = st_submit(pr->r->st, q);
	if (rc < 0)
		pr_retry_later(pr, "reading an object to push", rc);
}

static void
push_read_done(struct st_req *q, int rc)
{
	struct osd_peering *pr = q->ctx;
	struct osd_reactor *r = pr->r;
	Tessera__ObjectPush m = TESSERA__OBJECT_PUSH__INIT;
	Tessera__PgId pid = TESSERA__PG_ID__INIT;
	Tessera__ObjectId oid = TESSERA__OBJECT_ID__INIT;
	Tessera__Version v = TESSERA__VERSION__INIT;
	struct osd_peer *peer;
	int cnt = 0;

	if (rc < 0 && rc != -ENOENT) {
		pr_retry_later(pr, "reading an object to push", rc);
		return;
	}
	if (!pr_step_ok(pr))
		return;
	pid.pool = pr->pg->pool;
	pid.seed = pr->pg->seed;
	oid.pool = pr->pg->pool;
	oid.id = pr->objs[pr->cur].oid;
	osd_version_to_pb(rc == 0 ? q->out_version : pr->objs[pr->cur].version, &v);
	m.epoch = r->map->epoch;
	m.pg = &pid;
	m.oid = &oid;
	m.version = &v;
	m.offset = pr->off;
	m.backfill = pr->backfilling;
	if (rc == -ENOENT) {
		m.delete_ = true;
		m.last = true;
	} else {
		m.length = q->len_bytes;
		m.last = pr->off + q->len_bytes >= r->max_object_bytes;
		pr->q.iov.iov_base = pr->buf;
		pr->q.iov.iov_len = q->len_bytes;
		cnt = 1;
	}
	if (m.last) {
		pr->cur++;
		pr->off = 0;
		pr->recovered++;
	} else {
		pr->off += q->len_bytes;
	}
	memset(&pr->q, 0, offsetof(struct osd_preq, iov));
	pr->q.tag = ++r->next_tag;
	pr->q.cb = push_chunk_done;
	peer = osd_peer_get(r, pr->m[pr->target].osd_id, pr->pg->seed);
	rc = peer ? rt_msgr_send_prep(&pr->q.send, pr->q.head, sizeof(pr->q.head), FRAME_T_OBJ_PUSH,
				      pr->q.tag, 0, &m.base, cnt ? &pr->q.iov : NULL, cnt,
				      push_sent)
		  : -EHOSTUNREACH;
	if (rc == 0)
		rc = osd_peer_send(peer, &pr->q);
	if (rc < 0) {
		pr_retry_later(pr, "pushing an object", rc);
		return;
	}
	pr->busy = true;
}

static void
push_backfill_listed(struct osd_peering *pr)
{
	struct osd_pr_obj *mine = NULL;
	uint32_t n_mine = 0;
	int rc = list_local(pr->r, pr->pg, &mine, &n_mine);

	if (rc == 0) {
		if (n_mine > 1) /* NULL when this side holds nothing */
			qsort(mine, n_mine, sizeof(*mine), cmp_obj);
		rc = list_diff(pr, mine, n_mine, pr->rlist, pr->n_rlist);
	}
	free(mine);
	if (rc < 0) {
		pr_retry_later(pr, "backfill listing", rc);
		return;
	}
	rt_info(RT_SS_OSD, "PG " DF_PGID ": backfill of " DF_OSD ": %u objects differ",
		pr->pg->pool, pr->pg->seed, pr->m[pr->target].osd_id, pr->n_objs);
	pr_push_next(pr);
}

/* A member whose log cannot say what it misses: ours wrapped past it, or a
 * backfill into it was cut short. */
static bool
is_backfill_target(const struct osd_peering *pr, const struct osd_pr_member *t)
{
	const struct osd_pg *pg = pr->pg;

	if (t->last_update >= pg->log.last_version && !t->backfilling)
		return false;
	return t->backfilling ||
	       (osd_pglog_tail_version(&pg->log) > t->last_update && pg->log.n >= pg->log.cap);
}

/* Background backfill: the listing comparison is its object list. */
static void
push_backfill_bg_listed(struct osd_peering *pr)
{
	struct osd_pr_obj *mine = NULL;
	uint32_t n_mine = 0;
	int rc = list_local(pr->r, pr->pg, &mine, &n_mine);

	if (rc == 0) {
		if (n_mine > 1)
			qsort(mine, n_mine, sizeof(*mine), cmp_obj);
		rc = list_diff(pr, mine, n_mine, pr->rlist, pr->n_rlist);
	}
	free(mine);
	if (rc == 0)
		rc = rec_begin(pr, &pr->m[pr->target], true);
	if (rc < 0) {
		pr_retry_later(pr, "backfill listing", rc);
		return;
	}
	pr->backfilling = false;
	free(pr->objs); /* rec_begin took the list; NULL here */
	pr->objs = NULL;
	pr->n_objs = pr->cur = 0;
	pr->target++;
	pr_push_next(pr);
}

/*
 * Of the members behind whose logs overlap ours, the one left to background
 * recovery (only one can be: the others count towards min_size): the one
 * furthest behind, which has the most to push, so that the pushes made before
 * the PG serves are the shortest. Ties go to the first.
 */
static bool
is_bg_choice(const struct osd_peering *pr, uint32_t idx)
{
	const struct osd_pg *pg = pr->pg;
	const struct osd_pr_member *t = &pr->m[idx];
	for (uint32_t i = 0; i < pr->n; i++) {
		const struct osd_pr_member *u = &pr->m[i];

		if (i == idx || u->last_update >= pg->log.last_version)
			continue;
		if (is_backfill_target(pr, u))
			return false; /* a backfill target takes the background slot */
		if (u->last_update < t->last_update ||
		    (u->last_update == t->last_update && i < idx))
			return false;
	}
	return true;
}

static void
pr_push_next(struct osd_peering *pr)
{
	struct osd_pg *pg = pr->pg;

	if (pr->bg.busy || pr->bg.inflight) {
		/* A cancelled background recovery still has a chunk or mutations
		 * that skipped its target in flight: let them finish first. */
		pr->busy = true;
		pr->wait_rec = true;
		return;
	}
	for (;;) {
		struct osd_pr_member *t;

		if (pr->target >= pr->n) {
			pr_activate(pr);
			return;
		}
		t = &pr->m[pr->target];
		if (t->last_update >= pg->log.last_version && !t->backfilling) {
			pr->target++;
			continue;
		}
		if (!pr->objs) {
			/* Start on this target: what it misses, per our log (or a listing). */
			bool backfill = is_backfill_target(pr, t);
			/* Enough members without it: recover it in the background (a
			 * backfill target first, else the one furthest behind, when
			 * several are). rec_begin logs it. */
			bool bg = !pr->bg.active && pr->n >= pg->min_size &&
				  (backfill || is_bg_choice(pr, pr->target));

			if (!bg)
				rt_info(RT_SS_OSD, "PG " DF_PGID ": " DF_OSD " is behind (%" PRIx64
						   " < %" PRIx64 "): %s",
					pg->pool, pg->seed, t->osd_id, t->last_update,
					pg->log.last_version,
					backfill ? "backfilling it" : "pushing");
			if (!pr->buf) {
				pr->buf_cap = pr->r->buf_bytes;
				pr->buf = aligned_alloc(4096, pr->buf_cap);
				if (!pr->buf) {
					pr_retry_later(pr, "out of memory", -ENOMEM);
					return;
				}
			}
			if (backfill) {
				list_start(pr, pr->target,
					   bg ? push_backfill_bg_listed : push_backfill_listed);
				return;
			}
			if (bg) {
				if (rec_begin(pr, t, false) < 0) {
					pr_retry_later(pr, "out of memory", -ENOMEM);
					return;
				}
				pr->target++;
				continue;
			}
			if (objs_from_log(pr, pg->log.ents, pg->log.cap, t->last_update) < 0) {
				pr_retry_later(pr, "out of memory", -ENOMEM);
				return;
			}
			if (!pr->objs) {
				pr->objs = calloc(1, sizeof(*pr->objs));
				if (!pr->objs) {
					pr_retry_later(pr, "out of memory", -ENOMEM);
					return;
				}
			}
			if (!pr->buf) {
				pr->buf_cap = pr->r->buf_bytes;
				pr->buf = aligned_alloc(4096, pr->buf_cap);
				if (!pr->buf) {
					pr_retry_later(pr, "out of memory", -ENOMEM);
					return;
				}
			}
		}
		if (pr->cur < pr->n_objs) {
			push_read(pr);
			return;
		}
		/* Objects done: now the log entries; the next target afterwards. */
		pr->backfilling = false;
		free(pr->objs);
		pr->objs = NULL;
		pr->n_objs = pr->cur = 0;
		push_log(pr);
		return;
	}
}

/* ---- background recovery (one async target) ---------------------------------------------- */

static struct osd_peering *
pr_of_rec(struct osd_recovery *rc)
{
	return (struct osd_peering *)((char *)rc - offsetof(struct osd_peering, bg));
}

static void
rec_release_slot(struct osd_peering *pr)
{
	struct osd_recovery *rc = &pr->bg;

	if (rc->in_opq) {
		rc->in_opq = false;
		osd_primary_opq_done(pr->pg, &rc->qe);
	}
}

/* Stop the background recovery (a new round, or a failure). Work in flight
 * finishes later and then only clears busy. */
static void
rec_cancel(struct osd_peering *pr)
{
	struct osd_recovery *rc = &pr->bg;

	if (!rc->active)
		return;
	rc->active = false;
	rc->switching = false;
	rc->gen++;
	if (rt_timer_is_armed(&rc->timer)) {
		rt_timer_stop(pr->r->r, &rc->timer);
		rc->busy = false;
	}
	if (rc->in_opq && !rc->qe.running) {
		rec_release_slot(pr); /* still waiting in the queue */
		rc->busy = false;
	}
	free(rc->objs);
	rc->objs = NULL;
	rc->n_objs = rc->cap_objs = rc->cur = 0;
	free(rc->dirty);
	rc->dirty = NULL;
	rc->n_dirty = rc->cap_dirty = 0;
}

static void rec_next(struct osd_peering *pr);

static void
rec_deferred(void *ctx)
{
	struct osd_peering *pr = ctx;

	pr->bg.deferred = false;
	if (pr->wait_rec && !pr->bg.busy && pr->bg.inflight == 0) {
		pr->wait_rec = false;
		if (pr_step_ok(pr))
			pr_push_next(pr);
		return;
	}
	rec_next(pr);
}

/* Go on later, on the next loop iteration (never inline from a caller's path). */
static void
rec_kick(struct osd_peering *pr)
{
	if (pr->bg.deferred)
		return;
	pr->bg.deferred = true;
	rt_reactor_defer(pr->r->r, &pr->bg.defer, rec_deferred, pr);
}

/* The run failed: stop it and peer again (the target's log has not moved). */
static void
rec_fail(struct osd_peering *pr, const char *why, int rc)
{
	rt_warn_rl(RT_SS_OSD, "PG " DF_PGID ": background recovery of " DF_OSD ": %s: " DF_RC
			      "; peering again",
		   pr->pg->pool, pr->pg->seed, pr->bg.target, why, DP_RC(rc));
	pr->bg.busy = false;
	rec_release_slot(pr);
	rec_cancel(pr);
	osd_peering_start(pr->r, pr->pg);
	osd_primary_resume(pr->r, pr->pg); /* ops parked by the switch re-run and wait */
}

/* A callback of a cancelled run: only clear busy (and let a waiting round go). */
static bool
rec_stale(struct osd_peering *pr)
{
	struct osd_recovery *rc = &pr->bg;

	if (!pr->pg->primary || !pr->pg->member || pr->r->stopping)
		rec_cancel(pr); /* no longer ours to recover: not one more chunk */
	if (rc->active && rc->op_gen == rc->gen)
		return false;
	rc->busy = false;
	rec_release_slot(pr);
	if (pr->wait_rec)
		rec_kick(pr);
	return true;
}

static void rec_read(struct osd_peering *pr);

static void
rec_log_done(struct osd_preq *q, int rc, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	     const struct iovec *data, int data_cnt)
{
	struct osd_recovery *rec = (struct osd_recovery *)((char *)q - offsetof(struct osd_recovery, q));
	struct osd_peering *pr = pr_of_rec(rec);
	const Tessera__PgNotify *n = (const Tessera__PgNotify *)msg;

	free(rec->send_buf);
	rec->send_buf = NULL;
	if (rec_stale(pr))
		return;
	if (rc == 0 && (hdr->type != FRAME_T_PG_NOTIFY || n->status != TESSERA__STATUS__STATUS_OK))
		rc = hdr->type != FRAME_T_PG_NOTIFY ? -EBADMSG : frame_status_to_errno(n->status);
	if (rc < 0) {
		rec_fail(pr, "pushing log entries", rc);
		return;
	}
	rt_info(RT_SS_OSD, "PG " DF_PGID ": " DF_OSD " recovered in the background: %" PRIu64
			   " objects in %" PRIu64 " ms",
		pr->pg->pool, pr->pg->seed, rec->target, rec->recovered,
		(rt_reactor_now_us(pr->r->r) - rec->started_us) / 1000);
	rec->busy = false;
	rec->switching = false;
	rec_cancel(pr); /* done: the target gets RepOps again */
	osd_primary_resume(pr->r, pr->pg);
}

/* Nothing left to push and no mutation skipped the target in flight: push the
 * log entries after its last_update; mutations wait until it has them. */
static void
rec_switch(struct osd_peering *pr)
{
	struct osd_recovery *rec = &pr->bg;
	struct osd_pg *pg = pr->pg;
	int rc;

	if (!rec->backfill && osd_pglog_tail_version(&pg->log) > rec->last_update &&
	    pg->log.n >= pg->log.cap) {
		/* The log wrapped past the target: it cannot be merged contiguously. */
		rc = -ERANGE;
	} else {
		rc = send_log_since(pr->r, pg, rec->target, rec->last_update, &rec->q,
				    &rec->send_buf, rec_log_done);
	}
	if (rc < 0) {
		rec_fail(pr, "pushing log entries", rc);
		return;
	}
	rec->busy = true;
	rec->switching = true;
	rec->op_gen = rec->gen;
}

static void
rec_timer_fire(struct rt_timer *t)
{
	struct osd_recovery *rec = (struct osd_recovery *)((char *)t - offsetof(struct osd_recovery, timer));

	rec->busy = false;
	rec_next(pr_of_rec(rec));
}

static void
rec_obj_ready(struct osd_opq_ent *e)
{
	struct osd_recovery *rec = (struct osd_recovery *)((char *)e - offsetof(struct osd_recovery, qe));
	struct osd_peering *pr = pr_of_rec(rec);

	if (rec_stale(pr))
		return;
	rec->off = 0;
	rec_read(pr);
}

/* Next object (or the switch), within the rate budget. */
static void
rec_next(struct osd_peering *pr)
{
	struct osd_recovery *rec = &pr->bg;
	struct osd_reactor *r = pr->r;
	uint64_t now = rt_reactor_now_us(r->r);
	struct st_obj_id obj;

	if (!rec->active || rec->busy || rec->switching)
		return;
	if (!pr->pg->primary || !pr->pg->member || r->stopping) {
		rec_cancel(pr);
		return;
	}
	if (rec->cur >= rec->n_objs) {
		if (rec->n_dirty) {
			struct osd_pr_obj *t = rec->objs;
			uint32_t cap = rec->cap_objs;

			rec->objs = rec->dirty;
			rec->n_objs = rec->n_dirty;
			rec->cap_objs = rec->cap_dirty;
			rec->cur = 0;
			rec->dirty = t;
			rec->cap_dirty = t ? cap : 0;
			rec->n_dirty = 0;
		} else if (rec->inflight) {
			return; /* osd_rec_mutation_done() kicks again */
		} else {
			rec_switch(pr);
			return;
		}
	}
	if (r->osd->conf.recovery_bytes_per_sec && rec->next_us > now) {
		rec->busy = true;
		rt_timer_start(r->r, &rec->timer, rec->next_us - now, 0);
		return;
	}
	obj.pool = pr->pg->pool;
	obj.oid = rec->objs[rec->cur].oid;
	osd_opq_ent_init(&rec->qe, obj, 0, 0, true);
	rec->qe.on_ready = rec_obj_ready;
	rec->in_opq = true;
	rec->busy = true;
	rec->op_gen = rec->gen;
	rec->obj_bytes = 0;
	if (osd_opq_add(&pr->pg->opq, &rec->qe))
		rec_obj_ready(&rec->qe);
}

static void
rec_chunk_done(struct osd_preq *q, int rc, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	       const struct iovec *data, int data_cnt)
{
	struct osd_recovery *rec = (struct osd_recovery *)((char *)q - offsetof(struct osd_recovery, q));
	struct osd_peering *pr = pr_of_rec(rec);
	const Tessera__ObjectPushReply *m = (const Tessera__ObjectPushReply *)msg;
	uint64_t rate = pr->r->osd->conf.recovery_bytes_per_sec;

	if (rec_stale(pr))
		return;
	if (rc == 0 && (hdr->type != FRAME_T_OBJ_PUSH_REPLY ||
			(m->status != TESSERA__STATUS__STATUS_OK &&
			 m->status != TESSERA__STATUS__STATUS_ENOENT)))
		rc = hdr->type != FRAME_T_OBJ_PUSH_REPLY ? -EBADMSG
							 : frame_status_to_errno(m->status);
	if (rc < 0) {
		rec_fail(pr, "pushing an object", rc);
		return;
	}
	if (rec->off) {
		rec_read(pr); /* the next chunk of the object */
		return;
	}
	/* The object is done. */
	rec_release_slot(pr);
	rec->cur++;
	rec->recovered++;
	if (rate) {
		uint64_t now = rt_reactor_now_us(pr->r->r);

		if (rec->next_us < now)
			rec->next_us = now;
		rec->next_us += rec->obj_bytes * 1000000 / rate;
	}
	rec->busy = false;
	rec_next(pr);
}

static void
rec_read_done(struct st_req *q, int rc)
{
	struct osd_peering *pr = q->ctx;
	struct osd_recovery *rec = &pr->bg;
	struct osd_reactor *r = pr->r;
	Tessera__ObjectPush m = TESSERA__OBJECT_PUSH__INIT;
	Tessera__PgId pid = TESSERA__PG_ID__INIT;
	Tessera__ObjectId oid = TESSERA__OBJECT_ID__INIT;
	Tessera__Version v = TESSERA__VERSION__INIT;
	struct osd_peer *peer;
	int cnt = 0;

	if (rec_stale(pr))
		return;
	if (rc < 0 && rc != -ENOENT) {
		rec_fail(pr, "reading an object to push", rc);
		return;
	}
	pid.pool = pr->pg->pool;
	pid.seed = pr->pg->seed;
	oid.pool = pr->pg->pool;
	oid.id = rec->objs[rec->cur].oid;
	osd_version_to_pb(rc == 0 ? q->out_version : rec->objs[rec->cur].version, &v);
	m.epoch = r->map->epoch;
	m.pg = &pid;
	m.oid = &oid;
	m.version = &v;
	m.offset = rec->off;
	m.backfill = rec->backfill;
	if (rc == -ENOENT) {
		m.delete_ = true;
		m.last = true;
		if (m.version->epoch == 0 && m.version->seq == 0)
			osd_version_to_pb(pr->pg->log.last_version, &v);
	} else {
		m.length = q->len_bytes;
		m.last = rec->off + q->len_bytes >= r->max_object_bytes;
		rec->q.iov.iov_base = rec->buf;
		rec->q.iov.iov_len = q->len_bytes;
		rec->obj_bytes += q->len_bytes;
		cnt = 1;
	}
	rec->off = m.last ? 0 : rec->off + q->len_bytes;
	memset(&rec->q, 0, offsetof(struct osd_preq, iov));
	rec->q.tag = ++r->next_tag;
	rec->q.cb = rec_chunk_done;
	peer = osd_peer_get(r, rec->target, pr->pg->seed);
	rc = peer ? rt_msgr_send_prep(&rec->q.send, rec->q.head, sizeof(rec->q.head),
				      FRAME_T_OBJ_PUSH, rec->q.tag, 0, &m.base,
				      cnt ? &rec->q.iov : NULL, cnt, push_sent)
		  : -EHOSTUNREACH;
	if (rc == 0)
		rc = osd_peer_send(peer, &rec->q);
	if (rc < 0)
		rec_fail(pr, "pushing an object", rc);
}

static void
rec_read(struct osd_peering *pr)
{
	struct osd_recovery *rec = &pr->bg;
	struct st_req *q = &rec->sreq;
	uint64_t len = rec->buf_cap;

	if (rec->off + len > pr->r->max_object_bytes)
		len = pr->r->max_object_bytes - rec->off;
	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_READ;
	q->obj.pool = pr->pg->pool;
	q->obj.oid = rec->objs[rec->cur].oid;
	q->offset_bytes = rec->off;
	q->len_bytes = len;
	q->buf = rec->buf;
	q->cb = rec_read_done;
	q->ctx = pr;
	if (st_submit(pr->r->st, q) < 0)
		rec_fail(pr, "reading an object to push", -EIO);
}

/* Peering chose target t for background recovery: take its object list. */
static int
rec_begin(struct osd_peering *pr, const struct osd_pr_member *t, bool backfill)
{
	struct osd_recovery *rec = &pr->bg;

	if (!rec->buf) {
		rec->buf_cap = pr->r->buf_bytes;
		rec->buf = aligned_alloc(4096, rec->buf_cap);
		if (!rec->buf)
			return -ENOMEM;
	}
	/* A backfill's list is in pr->objs already (the listing comparison). */
	if (!backfill && objs_from_log(pr, pr->pg->log.ents, pr->pg->log.cap, t->last_update) < 0)
		return -ENOMEM;
	rt_timer_init(&rec->timer, rec_timer_fire);
	rec->backfill = backfill;
	rec->objs = pr->objs;
	rec->n_objs = pr->n_objs;
	rec->cap_objs = pr->objs ? pr->n_objs : 0;
	rec->cur = 0;
	pr->objs = NULL;
	pr->n_objs = pr->cur = 0;
	rec->target = t->osd_id;
	rec->last_update = t->last_update;
	rec->recovered = 0;
	rec->next_us = 0;
	rec->started_us = rt_reactor_now_us(pr->r->r);
	rec->active = true;
	rt_info(RT_SS_OSD, "PG " DF_PGID ": " DF_OSD " is behind (%" PRIx64 " < %" PRIx64
			   "): %s it in the background (%u objects)",
		pr->pg->pool, pr->pg->seed, t->osd_id, t->last_update, pr->pg->log.last_version,
		backfill ? "backfilling" : "recovering", rec->n_objs);
	return 0;
}

bool
osd_rec_skips(const struct osd_pg *pg, uint32_t osd_id)
{
	return pg->pr && pg->pr->bg.active && pg->pr->bg.target == osd_id;
}

bool
osd_rec_switching(const struct osd_pg *pg)
{
	return pg->pr && pg->pr->bg.switching;
}

void
osd_rec_mutation_begin(struct osd_pg *pg)
{
	pg->pr->bg.inflight++;
}

void
osd_rec_mutation_done(struct osd_pg *pg, struct st_obj_id obj)
{
	struct osd_peering *pr = pg->pr;
	struct osd_recovery *rec;

	if (!pr)
		return;
	rec = &pr->bg;
	if (rec->inflight)
		rec->inflight--;
	if (rec->active) {
		uint32_t i;

		for (i = 0; i < rec->n_dirty; i++)
			if (rec->dirty[i].oid == obj.oid)
				break;
		if (i == rec->n_dirty) {
			if (rec->n_dirty == rec->cap_dirty) {
				uint32_t cap = rec->cap_dirty ? rec->cap_dirty * 2 : 64;
				struct osd_pr_obj *d = realloc(rec->dirty, cap * sizeof(*d));

				if (!d) {
					rec_fail(pr, "out of memory", -ENOMEM);
					return;
				}
				rec->dirty = d;
				rec->cap_dirty = cap;
			}
			rec->dirty[rec->n_dirty].oid = obj.oid;
			rec->dirty[rec->n_dirty].version = 0;
			rec->n_dirty++;
		}
	}
	if (rec->inflight == 0 && (rec->active || pr->wait_rec))
		rec_kick(pr);
}

/* ---- intervals: may members that are down hold newer data? ----------------------------- */

/*
 * Each OSD keeps, per PG, the newest interval it knows went active with it in
 * it (osd_pg_interval_note: the up members of the acting set and the map
 * epoch), persisted as "pgint.<pool>.<seed>", and reports it in PgInfo. A
 * record made since the OSD last started is "live": the OSD was up and saw
 * every map since, so it saw every later interval it took part in. A record
 * loaded from the store says nothing about what happened while the OSD was
 * down: the other members of that interval may have gone on without it and
 * accepted writes. So the primary refuses to activate (incomplete) when the
 * newest record among the up members is not live and its members that are down
 * now could have served writes by themselves (at least min_size of them).
 * That is the OSD side of the monitor's "incomplete" (mon_pg_is_incomplete,
 * from the map history): a replica restarted alone does not serve the data it
 * held before the others went on. It waits until a member of that interval
 * returns; that member's log then settles what is newest. Conservative: after
 * a whole-cluster stop, a pool of min_size 1 waits for every member of the last
 * interval (nothing tells which of them stopped last).
 */
static void
pg_int_load(struct osd_reactor *r, struct osd_pg *pg)
{
	struct osd_pgmark mk;

	if (pg->int_loaded)
		return;
	pg->int_loaded = true;
	if (!r->st ||
	    osd_pgmark_get(r->st, OSD_PGINT_KEY_PREFIX, pg->pool, pg->seed, &mk) < 0)
		return;
	if (pg->int_epoch >= mk.value)
		return;
	pg->int_epoch = mk.value;
	pg->n_int_osds = mk.n_osds > OSD_MAX_REPLICAS ? OSD_MAX_REPLICAS : mk.n_osds;
	for (uint32_t i = 0; i < pg->n_int_osds; i++)
		pg->int_osds[i] = mk.osds[i];
	pg->int_live = false;
}

static void pg_int_save(struct osd_reactor *r, struct osd_pg *pg);

static void
pg_int_saved(struct st_req *q, int rc)
{
	struct osd_pg *pg = (struct osd_pg *)((char *)q - offsetof(struct osd_pg, int_req));
	struct osd_reactor *r = q->ctx;

	r->bg_inflight--;
	pg->int_saving = false;
	if (rc < 0)
		rt_warn_rl(RT_SS_OSD, "PG " DF_PGID ": saving its interval: " DF_RC, pg->pool,
			   pg->seed, DP_RC(rc));
	if (pg->int_dirty && !r->stopping)
		pg_int_save(r, pg);
	osd_reactor_maybe_stopped(r);
}

static void
pg_int_save(struct osd_reactor *r, struct osd_pg *pg)
{
	struct osd_pgmark mk = { .value = pg->int_epoch, .n_osds = pg->n_int_osds };
	struct st_req *q = &pg->int_req;
	uint32_t klen;

	if (pg->int_saving) {
		pg->int_dirty = true;
		return;
	}
	pg->int_dirty = false;
	for (uint32_t i = 0; i < pg->n_int_osds && i < OSD_PGMARK_MAX_OSDS; i++)
		mk.osds[i] = pg->int_osds[i];
	osd_pgmark_encode(pg->pool, pg->seed, &mk, &pg->int_rec);
	klen = osd_pgmark_key(OSD_PGINT_KEY_PREFIX, pg->pool, pg->seed, pg->int_key,
			      sizeof(pg->int_key));
	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_META_SET;
	q->meta_key = pg->int_key;
	q->meta_key_len = klen;
	q->buf = &pg->int_rec;
	q->len_bytes = sizeof(pg->int_rec);
	q->cb = pg_int_saved;
	q->ctx = r;
	pg->int_saving = true;
	r->bg_inflight++;
	if (st_submit(r->st, q) < 0) {
		r->bg_inflight--;
		pg->int_saving = false;
		rt_warn_rl(RT_SS_OSD, "PG " DF_PGID ": saving its interval failed", pg->pool,
			   pg->seed);
	}
}

void
osd_pg_interval_note(struct osd_reactor *r, struct osd_pg *pg)
{
	uint32_t set[OSD_MAX_REPLICAS], n = 0;
	bool same;

	if (!r->map || pg->int_noted_epoch == r->map->epoch || !pg->member)
		return;
	pg->int_noted_epoch = r->map->epoch;
	pg_int_load(r, pg);
	for (uint32_t i = 0; i < pg->n_acting && n < OSD_MAX_REPLICAS; i++) {
		const struct mon_osd *o = osd_map_osd(r->map, pg->acting[i]);

		if (o && o->up)
			set[n++] = pg->acting[i];
	}
	same = n == pg->n_int_osds;
	for (uint32_t i = 0; same && i < n; i++)
		same = set[i] == pg->int_osds[i];
	pg->int_live = true;
	if (same && pg->int_epoch)
		return;
	pg->int_epoch = r->map->epoch;
	pg->n_int_osds = n;
	memcpy(pg->int_osds, set, n * sizeof(set[0]));
	if (r->st)
		pg_int_save(r, pg);
}

/* See the comment atop this section. */
static bool
pr_interval_incomplete(struct osd_peering *pr)
{
	struct osd_reactor *r = pr->r;
	struct osd_pg *pg = pr->pg;
	uint64_t best;
	const uint32_t *osds;
	uint32_t n, down = 0, self = r->osd->osd_id;
	bool live;

	pg_int_load(r, pg);
	best = pg->int_epoch;
	osds = pg->int_osds;
	n = pg->n_int_osds;
	live = pg->int_live;
	for (uint32_t i = 0; i < pr->n; i++) {
		const struct osd_pr_member *m = &pr->m[i];

		if (m->int_epoch > best) {
			best = m->int_epoch;
			osds = m->int_osds;
			n = m->n_int_osds;
			live = m->int_live;
		} else if (m->int_epoch == best && m->int_live) {
			live = true;
		}
	}
	if (!best || live)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		const struct mon_osd *o = osds[i] == self ? NULL : osd_map_osd(r->map, osds[i]);

		if (osds[i] != self && (!o || !o->up))
			down++;
	}
	if (down == 0 || down < pg->min_size)
		return false;
	if (!pr->incomplete) {
		char list[96];
		size_t off = 0;

		list[0] = 0;
		for (uint32_t i = 0; i < n && off < sizeof(list) - 12; i++) {
			const struct mon_osd *o = osd_map_osd(r->map, osds[i]);

			if (osds[i] != self && (!o || !o->up))
				off += (size_t)snprintf(list + off, sizeof(list) - off, " %u",
							osds[i]);
		}
		rt_warn(RT_SS_OSD,
			"PG " DF_PGID ": incomplete: member(s)%s of the interval of epoch %" PRIu64
			" are down and may have accepted writes since; waiting for one",
			pg->pool, pg->seed, list, best);
	}
	return true;
}

/* ---- background pull into a primary that was behind (struct osd_mpull) ----------------- */

/*
 * The version up to which this OSD's log is applied to its store: for the
 * newest successful entry of each object in the log, the object must exist at
 * that version or newer (a delete: must not exist at an older version). The
 * result is just below the oldest entry of the first object that fails this,
 * or the log's newest version. Synchronous (the store's index is in memory).
 */
/* By object, newest first. */
static int
cmp_oid_newest(const void *a, const void *b)
{
	const struct osd_pglog_entry *x = a, *y = b;

	if (x->obj.oid != y->obj.oid)
		return x->obj.oid < y->obj.oid ? -1 : 1;
	return x->version > y->version ? -1 : x->version < y->version;
}

static uint64_t
pg_last_complete(struct osd_reactor *r, const struct osd_pg *pg)
{
	const struct osd_pglog *l = &pg->log;
	struct osd_pglog_entry *e;
	uint64_t lc = l->last_version;
	uint32_t n = 0;

	if (!l->n || !r->st)
		return lc;
	e = malloc(l->n * sizeof(*e));
	if (!e)
		return lc;
	for (uint32_t i = 0; i < l->cap && n < l->n; i++) {
		if (l->ents[i].version && l->ents[i].result >= 0)
			e[n++] = l->ents[i];
	}
	if (n > 1)
		qsort(e, n, sizeof(*e), cmp_oid_newest);
	for (uint32_t i = 0; i < n;) {
		struct st_obj_info info;
		bool have = st_object_stat(r->st, e[i].obj, &info) == 0;
		bool missing = e[i].op == TESSERA__OP_TYPE__OP_DELETE
				       ? have && info.version < e[i].version
				       : !have || info.version < e[i].version;
		uint32_t j = i;

		while (j < n && e[j].obj.oid == e[i].obj.oid)
			j++;
		if (missing) {
			/* Every entry of it newer than what the store holds is unapplied. */
			for (uint32_t k = i; k < j; k++) {
				if ((!have || e[k].version > info.version) && e[k].version - 1 < lc)
					lc = e[k].version - 1;
			}
		}
		i = j;
	}
	free(e);
	return lc;
}

static struct osd_peering *
pr_of_mp(struct osd_mpull *mp)
{
	return (struct osd_peering *)((char *)mp - offsetof(struct osd_peering, mp));
}

static void
mp_cancel(struct osd_peering *pr)
{
	struct osd_mpull *mp = &pr->mp;

	if (!mp->active && !mp->n_left)
		return;
	mp->active = false;
	mp->gen++;
	if (rt_timer_is_armed(&mp->timer)) {
		rt_timer_stop(pr->r->r, &mp->timer);
		mp->busy = false;
	}
	free(mp->objs);
	free(mp->done);
	free(mp->urgent);
	mp->objs = NULL;
	mp->done = NULL;
	mp->urgent = NULL;
	mp->n = mp->n_left = mp->n_urgent = mp->cap_urgent = 0;
}

static int
mp_find(const struct osd_mpull *mp, uint64_t oid)
{
	uint32_t lo = 0, hi = mp->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (mp->objs[mid].oid < oid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < mp->n && mp->objs[lo].oid == oid ? (int)lo : -1;
}

static void mp_next(struct osd_peering *pr);

static void
mp_deferred(void *ctx)
{
	struct osd_peering *pr = ctx;

	pr->mp.deferred = false;
	mp_next(pr);
}

static void
mp_kick(struct osd_peering *pr)
{
	if (pr->mp.deferred)
		return;
	pr->mp.deferred = true;
	rt_reactor_defer(pr->r->r, &pr->mp.defer, mp_deferred, pr);
}

static void
mp_timer_fire(struct rt_timer *t)
{
	struct osd_mpull *mp = (struct osd_mpull *)((char *)t - offsetof(struct osd_mpull, timer));

	mp->busy = false;
	mp_next(pr_of_mp(mp));
}

/* A request or write of the pull finished: false if the run was cancelled
 * meanwhile (then a round that waited for it goes on). */
static bool
mp_live(struct osd_peering *pr)
{
	struct osd_mpull *mp = &pr->mp;
	struct osd_reactor *r = pr->r;

	r->bg_inflight--;
	if (!pr->pg->primary || !pr->pg->member || r->stopping)
		mp_cancel(pr);
	if (mp->active && mp->op_gen == mp->gen) {
		osd_reactor_maybe_stopped(r);
		return true;
	}
	mp->busy = false;
	if (pr->restart && !pr->busy && !r->stopping)
		pr_round(pr); /* the round that waited for this chunk */
	osd_reactor_maybe_stopped(r);
	return false;
}

/* The pull failed: stop it and peer again (what is missing stays derivable). */
static void
mp_fail(struct osd_peering *pr, const char *why, int rc)
{
	rt_warn_rl(RT_SS_OSD, "PG " DF_PGID ": background pull from " DF_OSD ": %s: " DF_RC
			      "; peering again",
		   pr->pg->pool, pr->pg->seed, pr->mp.source, why, DP_RC(rc));
	pr->mp.busy = false;
	mp_cancel(pr);
	osd_peering_start(pr->r, pr->pg);
}

static void mp_pull_chunk(struct osd_peering *pr);

static void
mp_written(struct st_req *q, int rc)
{
	struct osd_peering *pr = q->ctx;
	struct osd_mpull *mp = &pr->mp;
	struct osd_reactor *r = pr->r;
	uint64_t rate = r->osd->conf.recovery_bytes_per_sec;

	if (!mp_live(pr))
		return;
	if (rc < 0 && rc != -ENOENT) {
		mp_fail(pr, "writing a pulled object", rc);
		return;
	}
	if (mp->off) {
		mp_pull_chunk(pr); /* the next chunk */
		return;
	}
	/* The object is here: the ops waiting for it run again. */
	mp->done[mp->cur] = 1;
	mp->n_left--;
	mp->recovered++;
	r->stats.bg_pulled++;
	if (mp->urgent_obj) {
		mp->ondemand++;
		r->stats.bg_pulled_ondemand++;
	} else if (rate) {
		uint64_t now = rt_reactor_now_us(r->r);

		if (mp->next_us < now)
			mp->next_us = now;
		mp->next_us += mp->obj_bytes * 1000000 / rate;
	}
	mp->busy = false;
	osd_primary_resume(r, pr->pg);
	mp_next(pr);
}

static void
mp_pull_done(struct osd_preq *q, int rc, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	     const struct iovec *data, int data_cnt)
{
	struct osd_mpull *mp = (struct osd_mpull *)((char *)q - offsetof(struct osd_mpull, q));
	struct osd_peering *pr = pr_of_mp(mp);
	struct osd_reactor *r = pr->r;
	const Tessera__ObjectPush *m = (const Tessera__ObjectPush *)msg;
	const struct osd_pr_obj *o;
	struct st_req *sq = &mp->sreq;
	bool last;

	if (!mp_live(pr))
		return;
	if (rc == 0 && hdr->type != FRAME_T_OBJ_PUSH)
		rc = -EBADMSG;
	if (rc == 0 && hdr->data_len && (data_cnt != 1 || data[0].iov_base != mp->buf))
		rc = -EBADMSG;
	if (rc == 0 && !m->delete_ && (hdr->data_len == 0 || hdr->data_len % 4096 ||
				      mp->off + hdr->data_len > r->max_object_bytes))
		rc = -EBADMSG;
	if (rc < 0) {
		mp_fail(pr, "pulling an object", rc);
		return;
	}
	o = &mp->objs[mp->cur];
	memset(sq, 0, offsetof(struct st_req, priv));
	sq->obj.pool = pr->pg->pool;
	sq->obj.oid = o->oid;
	sq->cb = mp_written;
	sq->ctx = pr;
	if (m->delete_) {
		sq->op = ST_OP_DELETE;
		sq->version = m->version ? osd_version_make(m->version->epoch, m->version->seq)
					 : o->version;
		mp->off = 0;
	} else {
		sq->offset_bytes = mp->off;
		sq->len_bytes = hdr->data_len;
		if (osd_buf_is_zero(mp->buf, hdr->data_len)) {
			sq->op = ST_OP_WRITE_ZEROES;
		} else {
			sq->op = ST_OP_WRITE;
			sq->buf = mp->buf;
		}
		mp->off += hdr->data_len;
		mp->obj_bytes += hdr->data_len;
		last = m->last || mp->off >= r->max_object_bytes;
		/*
		 * Only the last chunk carries the object's version: until it is
		 * written, the object reads as missing (pg_last_complete) after a
		 * crash, never as complete with a mix of old and new chunks.
		 */
		sq->version = !last ? 0
			      : m->version ? osd_version_make(m->version->epoch, m->version->seq)
					   : o->version;
		if (last)
			mp->off = 0;
	}
	mp->busy = true;
	mp->op_gen = mp->gen;
	r->bg_inflight++;
	rc = st_submit(r->st, sq);
	if (rc < 0) {
		r->bg_inflight--;
		mp_fail(pr, "writing a pulled object", rc);
	}
}

static void
mp_pull_chunk(struct osd_peering *pr)
{
	struct osd_mpull *mp = &pr->mp;
	struct osd_reactor *r = pr->r;
	int rc;

	rc = osd_obj_pull_send(r, pr->pg, mp->source, mp->objs[mp->cur].oid, mp->off, mp->buf_cap,
			       mp->buf, mp->buf_cap, &mp->q, mp_pull_done);
	if (rc < 0) {
		mp_fail(pr, "sending ObjectPull", rc);
		return;
	}
	mp->busy = true;
	mp->op_gen = mp->gen;
	r->bg_inflight++;
}

/* Next object: one an op waits for, else the next of the walk within the rate budget. */
static void
mp_unmarked(struct st_req *q, int rc)
{
	struct osd_peering *pr = q->ctx;

	if (rc < 0 && rc != -ENOENT)
		rt_warn_rl(RT_SS_OSD, "PG " DF_PGID ": clearing our pull marker: " DF_RC,
			   pr->pg->pool, pr->pg->seed, DP_RC(rc));
	mp_live(pr); /* clears busy; a round that waited goes on */
}

/* Every object pulled: our data matches our log again, drop our marker. */
static void
mp_unmark(struct osd_peering *pr)
{
	struct osd_mpull *mp = &pr->mp;
	struct osd_pg *pg = pr->pg;
	struct st_req *q = &mp->sreq;
	uint32_t klen;

	if (!pg->pl_marked)
		return;
	pg->pl_marked = false;
	klen = osd_pgmark_key(OSD_PGPL_KEY_PREFIX, pg->pool, pg->seed, mp->key, sizeof(mp->key));
	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_META_DEL;
	q->meta_key = mp->key;
	q->meta_key_len = klen;
	q->cb = mp_unmarked;
	q->ctx = pr;
	mp->busy = true;
	pr->r->bg_inflight++;
	if (st_submit(pr->r->st, q) < 0) {
		mp->busy = false;
		pr->r->bg_inflight--;
		pg->pl_marked = true; /* a later round checks our log again: safe */
	}
}

static void
mp_next(struct osd_peering *pr)
{
	struct osd_mpull *mp = &pr->mp;
	struct osd_reactor *r = pr->r;
	uint64_t now = rt_reactor_now_us(r->r);
	int idx = -1;

	if (!mp->active || mp->busy)
		return;
	if (!pr->pg->primary || !pr->pg->member || r->stopping) {
		mp_cancel(pr);
		return;
	}
	if (mp->n_left == 0) {
		rt_info(RT_SS_OSD, "PG " DF_PGID ": pulled %" PRIu64 " objects from " DF_OSD
				   " in the background (%" PRIu64 " on demand) in %" PRIu64 " ms",
			pr->pg->pool, pr->pg->seed, mp->recovered, mp->source, mp->ondemand,
			(now - mp->started_us) / 1000);
		mp_cancel(pr);
		mp_unmark(pr);
		osd_primary_resume(r, pr->pg);
		return;
	}
	while (mp->n_urgent && idx < 0) {
		uint32_t i = mp->urgent[0];

		memmove(mp->urgent, mp->urgent + 1, --mp->n_urgent * sizeof(*mp->urgent));
		if (!mp->done[i])
			idx = (int)i;
	}
	mp->urgent_obj = idx >= 0;
	if (idx < 0) {
		while (mp->walk < mp->n && mp->done[mp->walk])
			mp->walk++;
		if (mp->walk >= mp->n)
			return; /* only objects taken on demand are left: in flight */
		if (r->osd->conf.recovery_bytes_per_sec && mp->next_us > now) {
			mp->busy = true;
			rt_timer_start(r->r, &mp->timer, mp->next_us - now, 0);
			return;
		}
		idx = (int)mp->walk;
	}
	mp->cur = (uint32_t)idx;
	mp->off = 0;
	mp->obj_bytes = 0;
	mp_pull_chunk(pr);
}

bool
osd_rec_obj_missing(struct osd_pg *pg, struct st_obj_id obj)
{
	struct osd_peering *pr = pg->pr;
	struct osd_mpull *mp;
	int i;

	if (!pr || !pr->mp.active || obj.pool != pg->pool)
		return false;
	mp = &pr->mp;
	i = mp_find(mp, obj.oid);
	if (i < 0 || mp->done[i])
		return false;
	if (!(mp->busy && mp->cur == (uint32_t)i)) {
		uint32_t k;

		for (k = 0; k < mp->n_urgent; k++)
			if (mp->urgent[k] == (uint32_t)i)
				break;
		if (k == mp->n_urgent) {
			if (mp->n_urgent == mp->cap_urgent) {
				uint32_t cap = mp->cap_urgent ? mp->cap_urgent * 2 : 16;
				uint32_t *u = realloc(mp->urgent, cap * sizeof(*u));

				if (!u)
					return true; /* the walk gets to it */
				mp->urgent = u;
				mp->cap_urgent = cap;
			}
			mp->urgent[mp->n_urgent++] = (uint32_t)i;
		}
		if (mp->busy && rt_timer_is_armed(&mp->timer)) {
			/* Waiting for the rate budget: an op waits, go now. */
			rt_timer_stop(pr->r->r, &mp->timer);
			mp->busy = false;
		}
		mp_kick(pr);
	}
	return true;
}

/* ---- entry points (primary) ------------------------------------------------------------ */

void
osd_peering_start(struct osd_reactor *r, struct osd_pg *pg)
{
	struct osd_peering *pr = pg->pr;

	if (!pr) {
		pr = calloc(1, sizeof(*pr));
		if (!pr) {
			rt_err(RT_SS_OSD, "PG " DF_PGID ": out of memory for peering", pg->pool,
			       pg->seed);
			return;
		}
		pr->r = r;
		pr->pg = pg;
		rt_timer_init(&pr->timer, pr_retry_fire);
		rt_timer_init(&pr->mp.timer, mp_timer_fire);
		pg->pr = pr;
	}
	rec_cancel(pr);
	mp_cancel(pr);
	if (pr->busy || pr->mp.busy) {
		/* After the step (or the background pull's chunk) in flight. */
		pr->restart = true; /* after the step in flight */
		return;
	}
	pr_round(pr);
}

void
osd_peering_free(struct osd_reactor *r, struct osd_pg *pg)
{
	struct osd_peering *pr = pg->pr;

	if (!pr)
		return;
	if (rt_timer_is_armed(&pr->timer))
		rt_timer_stop(r->r, &pr->timer);
	pr_reset(pr);
	rec_cancel(pr);
	mp_cancel(pr);
	if (rt_timer_is_armed(&pr->bg.timer))
		rt_timer_stop(r->r, &pr->bg.timer);
	if (rt_timer_is_armed(&pr->mp.timer))
		rt_timer_stop(r->r, &pr->mp.timer);
	free(pr->mp.buf);
	free(pr->bg.buf);
	free(pr->bg.send_buf);
	free(pr->buf);
	free(pr);
	pg->pr = NULL;
}

/* ---- member side ------------------------------------------------------------------------ */

static void
notify_reply_status(struct rt_conn *c, uint64_t tag, int rc, uint64_t epoch)
{
	Tessera__PgNotify n = TESSERA__PG_NOTIFY__INIT;

	n.status = frame_status_from_errno(rc);
	rt_conn_send_copy(c, FRAME_T_PG_NOTIFY, tag, FRAME_F_REPLY, &n.base);
}

void
osd_member_pg_query(struct osd_conn *oc, const struct frame_hdr *hdr, const Tessera__PgQuery *m)
{
	struct osd_reactor *r = oc->r;
	Tessera__PgNotify n = TESSERA__PG_NOTIFY__INIT;
	Tessera__PgInfo info = TESSERA__PG_INFO__INIT;
	Tessera__PgId pid = TESSERA__PG_ID__INIT;
	Tessera__Version lu = TESSERA__VERSION__INIT, lt = TESSERA__VERSION__INIT;
	Tessera__Version lcv = TESSERA__VERSION__INIT;
	uint64_t lc;
	Tessera__PgLogEntry *ents = NULL, **pents = NULL;
	Tessera__Version *vers = NULL;
	Tessera__ObjectId *oids = NULL;
	struct osd_pg *pg;

	if (!m->pg || rt_pg_reactor(m->pg->seed, r->osd->n_reactors) != r->idx) {
		notify_reply_status(oc->c, hdr->tag, -EINVAL, 0);
		return;
	}
	pg = osd_pg_get(r, m->pg->pool, m->pg->seed);
	if (!pg) {
		notify_reply_status(oc->c, hdr->tag, -ENOMEM, 0);
		return;
	}
	ents = calloc(pg->log.cap, sizeof(*ents));
	pents = calloc(pg->log.cap, sizeof(*pents));
	vers = calloc(pg->log.cap, sizeof(*vers));
	oids = calloc(pg->log.cap, sizeof(*oids));
	if (!ents || !pents || !vers || !oids) {
		notify_reply_status(oc->c, hdr->tag, -ENOMEM, 0);
		goto out;
	}
	for (uint32_t i = 0; i < pg->log.cap; i++) {
		const struct osd_pglog_entry *e = &pg->log.ents[i];

		if (!e->version)
			continue;
		tessera__pg_log_entry__init(&ents[n.n_log]);
		tessera__version__init(&vers[n.n_log]);
		tessera__object_id__init(&oids[n.n_log]);
		osd_version_to_pb(e->version, &vers[n.n_log]);
		oids[n.n_log].pool = e->obj.pool;
		oids[n.n_log].id = e->obj.oid;
		ents[n.n_log].version = &vers[n.n_log];
		ents[n.n_log].oid = &oids[n.n_log];
		ents[n.n_log].op = (Tessera__OpType)e->op;
		ents[n.n_log].client_id = e->client_id;
		ents[n.n_log].client_req_id = e->req_id;
		ents[n.n_log].result = frame_status_from_errno(e->result);
		pents[n.n_log] = &ents[n.n_log];
		n.n_log++;
	}
	pid.pool = pg->pool;
	pid.seed = pg->seed;
	osd_version_to_pb(pg->log.last_version, &lu);
	osd_version_to_pb(osd_pglog_tail_version(&pg->log), &lt);
	info.pg = &pid;
	info.epoch = r->map ? r->map->epoch : 0;
	info.last_update = &lu;
	info.log_tail = &lt;
	info.log_cap = pg->log.cap;
	lc = pg_last_complete(r, pg);
	if (lc < pg->log.last_version) {
		osd_version_to_pb(lc, &lcv);
		info.last_complete = &lcv;
	}
	if (pg_needs_backfill(r, pg)) {
		info.backfilling = true;
		info.last_backfill = pg->bf_marked ? pg->bf_last : 0;
	}
	pg_int_load(r, pg);
	info.interval_epoch = pg->int_epoch;
	info.n_interval_osds = pg->n_int_osds;
	info.interval_osds = pg->int_osds;
	info.interval_live = pg->int_live;
	n.status = TESSERA__STATUS__STATUS_OK;
	n.info = &info;
	n.log = pents;
	rt_conn_send_copy(oc->c, FRAME_T_PG_NOTIFY, hdr->tag, FRAME_F_REPLY, &n.base);
out:
	free(ents);
	free(pents);
	free(vers);
	free(oids);
}

static void
pull_sent(struct rt_msgr_send *s, int rc)
{
}

int
osd_obj_pull_send(struct osd_reactor *r, const struct osd_pg *pg, uint32_t osd_id, uint64_t oid,
		  uint64_t off_bytes, uint64_t len_bytes, void *buf, size_t buf_cap,
		  struct osd_preq *q, osd_preq_cb cb)
{
	Tessera__ObjectPull m = TESSERA__OBJECT_PULL__INIT;
	Tessera__PgId pid = TESSERA__PG_ID__INIT;
	Tessera__ObjectId id = TESSERA__OBJECT_ID__INIT;
	struct osd_peer *peer;
	int rc;

	memset(q, 0, offsetof(struct osd_preq, head));
	q->tag = ++r->next_tag;
	q->cb = cb;
	q->rx_buf = buf;
	q->rx_cap = (uint32_t)buf_cap;
	pid.pool = pg->pool;
	pid.seed = pg->seed;
	id.pool = pg->pool;
	id.id = oid;
	m.epoch = r->map->epoch;
	m.pg = &pid;
	m.oid = &id;
	m.offset = off_bytes;
	m.length = len_bytes;
	if (m.offset + m.length > r->max_object_bytes)
		m.length = r->max_object_bytes - m.offset;
	peer = osd_peer_get(r, osd_id, pg->seed);
	if (!peer)
		return -EHOSTUNREACH;
	rc = rt_msgr_send_prep(&q->send, q->head, sizeof(q->head), FRAME_T_OBJ_PULL, q->tag, 0,
			       &m.base, NULL, 0, pull_sent);
	if (rc == 0)
		rc = osd_peer_send(peer, q);
	return rc;
}

bool
osd_buf_is_zero(const void *p, size_t len)
{
	const uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	return true;
}

/* ObjectPull: read one chunk and answer with an ObjectPush carrying it. */
static void
pull_read_done(struct st_req *q, int rc)
{
	struct osd_op *op = q->ctx;
	struct osd_reactor *r = op->r;
	Tessera__ObjectPush m = TESSERA__OBJECT_PUSH__INIT;
	Tessera__PgId pid = TESSERA__PG_ID__INIT;
	Tessera__ObjectId oid = TESSERA__OBJECT_ID__INIT;
	Tessera__Version v = TESSERA__VERSION__INIT;
	int cnt = 0;

	pid.pool = op->obj.pool;
	pid.seed = op->pg_seed;
	oid.pool = op->obj.pool;
	oid.id = op->obj.oid;
	m.epoch = r->map ? r->map->epoch : 0;
	m.pg = &pid;
	m.oid = &oid;
	m.offset = op->off;
	if (rc == -ENOENT) {
		m.delete_ = true;
		m.last = true;
	} else if (rc == 0) {
		osd_version_to_pb(q->out_version, &v);
		m.version = &v;
		m.length = op->len;
		m.last = op->off + op->len >= r->max_object_bytes;
		op->riov.iov_base = op->buf;
		op->riov.iov_len = op->len;
		cnt = 1;
	}
	if (rc < 0 && rc != -ENOENT) {
		/* No status field in ObjectPush: a reply without data and not "last"
		 * of a wrong length makes the puller retry. */
		rt_warn_rl(RT_SS_OSD, "reactor %u: ObjectPull read failed: " DF_RC, r->idx,
			   DP_RC(rc));
	}
	osd_replica_send_reply(op, FRAME_T_OBJ_PUSH, &m.base, cnt ? &op->riov : NULL, cnt);
	osd_op_put(op); /* the read's reference */
}

void
osd_member_obj_pull(struct osd_conn *oc, const struct frame_hdr *hdr,
		    const Tessera__ObjectPull *m)
{
	struct osd_reactor *r = oc->r;
	struct osd_op *op = osd_op_alloc(r, oc->c);
	struct st_req *q;
	int rc;

	if (!op) {
		rt_conn_close(oc->c, -ENOMEM);
		return;
	}
	op->kind = OSD_OP_REPLICA;
	op->tag = hdr->tag;
	op->sreq.ctx = op;
	if (!m->pg || !m->oid || m->length == 0 || m->length % 4096 || m->offset % 4096 ||
	    m->offset >= r->max_object_bytes || m->length > r->buf_bytes) {
		op->len = 0;
		op->refs++; /* as a read would hold */
		pull_read_done(&op->sreq, -EINVAL);
		return;
	}
	op->obj.pool = m->oid->pool;
	op->obj.oid = m->oid->id;
	op->pg_seed = m->pg->seed;
	op->off = m->offset;
	op->len = m->length;
	if (op->off + op->len > r->max_object_bytes)
		op->len = r->max_object_bytes - op->off;
	op->buf = osd_buf_get(r);
	if (!op->buf) {
		op->refs++;
		pull_read_done(&op->sreq, -EAGAIN);
		return;
	}
	q = &op->sreq;
	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_READ;
	q->obj = op->obj;
	q->offset_bytes = op->off;
	q->len_bytes = op->len;
	q->buf = op->buf;
	q->cb = pull_read_done;
	q->ctx = op;
	op->refs++;
	rc = st_submit(r->st, q);
	if (rc < 0)
		pull_read_done(q, rc); /* with the reference taken above */
}

/* ObjectPush from the primary: apply a chunk or a delete. */
static void
push_applied(struct st_req *q, int rc)
{
	struct osd_op *op = q->ctx;
	Tessera__ObjectPushReply m = TESSERA__OBJECT_PUSH_REPLY__INIT;
	Tessera__ObjectId oid = TESSERA__OBJECT_ID__INIT;

	oid.pool = op->obj.pool;
	oid.id = op->obj.oid;
	m.status = frame_status_from_errno(rc);
	m.oid = &oid;
	osd_replica_send_reply(op, FRAME_T_OBJ_PUSH_REPLY, &m.base, NULL, 0);
	osd_op_put(op);
}

/*
 * A push is stale when the object here was written in a newer map epoch than
 * the one the pusher acted on, and at a newer version than the push: the
 * pusher (a primary that has since lost the PG, or a background push still in
 * flight across a map change) cannot know that write, which is newer than
 * anything it holds. Such a push is acknowledged and ignored, never applied
 * over newer data. An older version pushed in a newer epoch is applied: that
 * is peering rolling back an entry this member applied but the authoritative
 * log lacks (a diverged write), or backfill deleting an object the
 * authoritative copy no longer has.
 */
static bool
push_is_stale(uint64_t push_epoch, uint64_t push_version, bool have, uint64_t cur_version)
{
	return have && push_version < cur_version && push_epoch < osd_version_epoch(cur_version);
}

/*
 * Backfill marker, member side. Before the first object of a backfill lands,
 * the member persists "pgbf.<pool>.<seed>" (value: the oid pushed): from then
 * on it answers PgQuery with PgInfo.backfilling, so that no later round takes
 * its log for a description of its objects (they are a mix of old and new
 * until the backfill ends). The value follows the backfill's progress at most
 * once a second (for `pg ls` and the logs; a restarted backfill compares the
 * listings again, which skips what is already here). The log merge that ends
 * a backfill deletes the marker once its entries are durable.
 */
static bool
bf_mark_due(struct osd_reactor *r, struct osd_op *op, uint32_t seed, bool obj_last)
{
	struct osd_pg *pg = osd_pg_get(r, op->obj.pool, seed);
	uint64_t now = rt_reactor_now_us(r->r);

	if (!pg)
		return false;
	op->pg = pg;
	if (!pg->bf_marked) {
		struct osd_pgmark mk;

		pg->bf_marked = osd_pgmark_get(r->st, OSD_PGBF_KEY_PREFIX, pg->pool, pg->seed,
					       &mk) == 0;
		if (!pg->bf_marked)
			return true;
		pg->bf_marked_us = now;
	}
	return obj_last && now - pg->bf_marked_us >= 1000000;
}

static void
bf_mark_written(struct st_req *q, int rc)
{
	struct osd_op *op = q->ctx;

	if (rc < 0) {
		op->pg->bf_marked = false;
		push_applied(&op->sreq, rc);
		return;
	}
	rc = st_submit(op->r->st, &op->sreq);
	if (rc < 0)
		push_applied(&op->sreq, rc);
}

/* Persist the marker (the object's write is op->sreq, submitted afterwards). */
static int
bf_mark_set(struct osd_reactor *r, struct osd_op *op, uint32_t seed)
{
	struct osd_pg *pg = op->pg;
	struct osd_pgmark mk = { .value = op->obj.oid };
	struct osd_pgmark_disk d;
	struct st_req *q = &op->lreq;
	uint32_t klen;

	_Static_assert(sizeof(d) <= sizeof(op->lrec), "the marker fits the op's record buffer");
	osd_pgmark_encode(pg->pool, seed, &mk, &d);
	memcpy(&op->lrec, &d, sizeof(d));
	klen = osd_pgmark_key(OSD_PGBF_KEY_PREFIX, pg->pool, seed, op->lkey, sizeof(op->lkey));
	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_META_SET;
	q->meta_key = op->lkey;
	q->meta_key_len = klen;
	q->buf = &op->lrec;
	q->len_bytes = sizeof(d);
	q->cb = bf_mark_written;
	q->ctx = op;
	if (!pg->bf_marked)
		rt_info(RT_SS_OSD, "PG " DF_PGID ": backfill into this OSD started (marker set)",
			pg->pool, seed);
	pg->bf_marked = true;
	pg->bf_marked_us = rt_reactor_now_us(r->r);
	pg->bf_last = op->obj.oid;
	return st_submit(r->st, q);
}

void
osd_member_obj_push(struct osd_conn *oc, const struct frame_hdr *hdr,
		    const Tessera__ObjectPush *m, const struct iovec *data, int data_cnt)
{
	struct osd_reactor *r = oc->r;
	struct osd_op *op = oc->rx_op;
	struct st_req *q;
	int rc = 0;

	oc->rx_op = NULL;
	if (!op)
		op = osd_op_alloc(r, oc->c);
	if (!op) {
		rt_conn_close(oc->c, -ENOMEM);
		return;
	}
	op->kind = OSD_OP_REPLICA;
	op->tag = hdr->tag;
	q = &op->sreq;
	memset(q, 0, offsetof(struct st_req, priv));
	q->cb = push_applied;
	q->ctx = op;
	if (!m->pg || !m->oid || !m->version)
		rc = -EINVAL;
	else if (hdr->data_len && !op->buf)
		rc = -EAGAIN;
	if (rc == 0) {
		op->obj.pool = m->oid->pool;
		op->obj.oid = m->oid->id;
		q->obj = op->obj;
		q->version = osd_version_make(m->version->epoch, m->version->seq);
		if (m->delete_) {
			q->op = ST_OP_DELETE;
		} else {
			q->offset_bytes = m->offset;
			q->len_bytes = hdr->data_len;
			if (hdr->data_len == 0 || hdr->data_len % 4096 || m->offset % 4096 ||
			    m->offset + hdr->data_len > r->max_object_bytes) {
				rc = -EINVAL;
			} else if (osd_buf_is_zero(op->buf, hdr->data_len)) {
				q->op = ST_OP_WRITE_ZEROES;
			} else {
				q->op = ST_OP_WRITE;
				q->buf = op->buf;
			}
		}
	}
	if (rc == 0) {
		struct st_obj_info info;
		bool have = st_object_stat(r->st, op->obj, &info) == 0;

		if (push_is_stale(m->epoch, q->version, have, have ? info.version : 0)) {
			rt_log_ratelimited(RT_LOG_INFO, RT_SS_OSD, 10,
					   "PG " DF_PGID ": ignoring a push of object %" PRIx64
					   " at %" PRIx64 " (epoch %" PRIu64 "): it is at %" PRIx64,
					   m->pg->pool, m->pg->seed, op->obj.oid, q->version,
					   m->epoch, info.version);
			r->stats.stale_pushes++;
			op->refs++;
			push_applied(q, 0);
			return;
		}
		if (m->backfill && m->pg && bf_mark_due(r, op, m->pg->seed, m->last)) {
			/* The marker first: the object write follows in its callback. */
			op->refs++;
			rc = bf_mark_set(r, op, m->pg->seed);
			if (rc == 0)
				return;
			op->refs--;
		} else {
			op->refs++;
			rc = st_submit(r->st, q);
			if (rc == 0)
				return;
			op->refs--;
		}
	}
	op->refs++;
	push_applied(q, rc);
}

/*
 * PgNotify request from the primary: merge the entries newer than ours.
 *
 * The entries are persisted one META_SET at a time, each appended to the
 * in-memory log just before its write, and entries not newer than the log's
 * newest are skipped. So while a merge runs (pg->merging) nothing else may
 * append to the PG's log: a RepOp appended mid-merge would make the merge skip
 * every remaining (older) entry and leave a hole in this member's log. RepOps
 * and further merges of the PG therefore queue on pg->mwait_* and run, in
 * arrival order, when the merge is done (member_merge_drain).
 */
static void
merge_member_next(struct osd_op *op);

static void
mwait_push(struct osd_pg *pg, struct osd_op *op)
{
	op->wait_next = NULL;
	if (pg->mwait_tail)
		pg->mwait_tail->wait_next = op;
	else
		pg->mwait_head = op;
	pg->mwait_tail = op;
}

/* Run the ops that waited behind a merge, until one of them is a merge itself. */
static void
member_merge_drain(struct osd_pg *pg)
{
	while (!pg->merging && pg->mwait_head) {
		struct osd_op *op = pg->mwait_head;

		pg->mwait_head = op->wait_next;
		if (!pg->mwait_head)
			pg->mwait_tail = NULL;
		op->wait_next = NULL;
		if (op->aux) {
			pg->merging = true;
			merge_member_next(op);
		} else {
			osd_replica_rep_resume(op);
		}
	}
}

bool
osd_member_rep_defer(struct osd_op *op)
{
	struct osd_pg *pg = op->pg;

	if (!pg->merging && !pg->mwait_head)
		return false;
	mwait_push(pg, op);
	return true;
}

/* Start a merge (op->aux: the entries, sorted), or queue it behind the running one. */
static void
member_merge_start(struct osd_op *op)
{
	struct osd_pg *pg = op->pg;

	if (pg->merging || pg->mwait_head) {
		mwait_push(pg, op);
		return;
	}
	pg->merging = true;
	merge_member_next(op);
}

static void
merge_member_written(struct st_req *q, int rc)
{
	struct osd_op *op = q->ctx;

	if (rc < 0 && op->rc == 0)
		op->rc = rc;
	merge_member_next(op);
	osd_op_put(op);
}

/* Whether a backfill into this member is under way (its marker exists). */
static bool
bf_marked_now(struct osd_reactor *r, struct osd_pg *pg)
{
	struct osd_pgmark mk;

	if (!pg->bf_marked && osd_pgmark_get(r->st, OSD_PGBF_KEY_PREFIX, pg->pool, pg->seed,
					     &mk) == 0) {
		pg->bf_marked = true;
		pg->bf_last = mk.value;
	}
	return pg->bf_marked;
}

/*
 * Whether our data cannot be described by our log: a backfill into us was cut
 * short (bf marker), or a background pull into us (as primary) was, and our log
 * no longer holds every entry after the version the pull started from (it
 * wrapped under new writes): then the objects those entries named may still be
 * old here and nothing says which. While the log still holds them,
 * pg_last_complete() finds the missing objects and the pull resumes.
 */
static bool
pg_needs_backfill(struct osd_reactor *r, struct osd_pg *pg)
{
	struct osd_pgmark mk;

	if (bf_marked_now(r, pg))
		return true;
	if (!pg->pl_loaded) {
		pg->pl_loaded = true;
		if (r->st &&
		    osd_pgmark_get(r->st, OSD_PGPL_KEY_PREFIX, pg->pool, pg->seed, &mk) == 0) {
			pg->pl_marked = true;
			pg->pl_since = mk.value;
		}
	}
	if (!pg->pl_marked)
		return false;
	return pg->log.n >= pg->log.cap && osd_pglog_tail_version(&pg->log) > pg->pl_since;
}

static void
bf_clear_written(struct st_req *q, int rc)
{
	merge_member_written(q, rc == -ENOENT ? 0 : rc);
}

static void
merge_member_next(struct osd_op *op)
{
	struct osd_pglog_entry *ents = op->aux;
	struct osd_pg *pg = op->pg;
	struct osd_pglog_entry *s;
	struct st_req *q = &op->lreq;
	uint32_t klen;

	while (op->rc == 0 && op->aux_i < op->aux_n && ents[op->aux_i].version <= pg->log.last_version)
		op->aux_i++;
	if (op->rc == 0 && op->aux_i >= op->aux_n && bf_marked_now(op->r, pg)) {
		/* The log push that ends a backfill: every object is here now. */
		pg->bf_marked = false;
		klen = osd_pgmark_key(OSD_PGBF_KEY_PREFIX, pg->pool, pg->seed, op->lkey,
				      sizeof(op->lkey));
		memset(q, 0, offsetof(struct st_req, priv));
		q->op = ST_OP_META_DEL;
		q->meta_key = op->lkey;
		q->meta_key_len = klen;
		q->cb = bf_clear_written;
		q->ctx = op;
		rt_info(RT_SS_OSD, "PG " DF_PGID ": backfill into this OSD done (marker cleared)",
			pg->pool, pg->seed);
		op->refs++;
		if (st_submit(op->r->st, q) < 0) {
			op->refs--;
			op->rc = -EIO;
			merge_member_next(op);
		}
		return;
	}
	if (op->rc < 0 || op->aux_i >= op->aux_n) {
		if (op->conn)
			notify_reply_status(op->conn, op->tag, op->rc, 0);
		free(op->aux);
		op->aux = NULL;
		pg->merging = false;
		osd_op_put(op); /* the base reference */
		member_merge_drain(pg);
		return;
	}
	s = osd_pglog_append(&pg->log, &ents[op->aux_i++]);
	osd_pglog_encode(&pg->log, s, &op->lrec);
	klen = osd_pglog_key(pg->pool, pg->seed, s->slot, op->lkey, sizeof(op->lkey));
	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_META_SET;
	q->meta_key = op->lkey;
	q->meta_key_len = klen;
	q->buf = &op->lrec;
	q->len_bytes = sizeof(op->lrec);
	q->cb = merge_member_written;
	q->ctx = op;
	op->refs++;
	if (st_submit(op->r->st, q) < 0) {
		op->refs--;
		op->rc = -EIO;
		merge_member_next(op);
	}
}

void
osd_member_pg_notify(struct osd_conn *oc, const struct frame_hdr *hdr, const Tessera__PgNotify *m)
{
	struct osd_reactor *r = oc->r;
	struct osd_pglog_entry *ents;
	struct osd_op *op;
	struct osd_pg *pg;

	if (!m->info || !m->info->pg ||
	    rt_pg_reactor(m->info->pg->seed, r->osd->n_reactors) != r->idx) {
		notify_reply_status(oc->c, hdr->tag, -EINVAL, 0);
		return;
	}
	pg = osd_pg_get(r, m->info->pg->pool, m->info->pg->seed);
	op = pg ? osd_op_alloc(r, oc->c) : NULL;
	ents = calloc(m->n_log ? m->n_log : 1, sizeof(*ents));
	if (!op || !ents) {
		free(ents);
		if (op)
			osd_op_put(op);
		notify_reply_status(oc->c, hdr->tag, -ENOMEM, 0);
		return;
	}
	op->kind = OSD_OP_REPLICA;
	op->tag = hdr->tag;
	op->pg = pg;
	for (size_t i = 0; i < m->n_log; i++) {
		const Tessera__PgLogEntry *e = m->log[i];

		if (!e || !e->version || !e->oid)
			continue;
		ents[op->aux_n].version = osd_version_make(e->version->epoch, e->version->seq);
		ents[op->aux_n].obj.pool = e->oid->pool;
		ents[op->aux_n].obj.oid = e->oid->id;
		ents[op->aux_n].op = (uint8_t)e->op;
		ents[op->aux_n].client_id = e->client_id;
		ents[op->aux_n].req_id = e->client_req_id;
		ents[op->aux_n].result = e->result ? frame_status_to_errno(e->result) : 0;
		op->aux_n++;
	}
	qsort(ents, op->aux_n, sizeof(*ents), cmp_entry);
	op->aux = ents; /* freed when the merge is done */
	member_merge_start(op);
}

/* PgListObjects: a page of this member's objects of the PG, ascending oid. */
void
osd_member_pg_list(struct osd_conn *oc, const struct frame_hdr *hdr,
		   const Tessera__PgListObjects *m)
{
	struct osd_reactor *r = oc->r;
	Tessera__PgListObjectsReply rep = TESSERA__PG_LIST_OBJECTS_REPLY__INIT;
	const struct mon_pool *pool = NULL;
	struct st_list_cursor cur = { { 0, 0 }, true };
	struct st_obj_info page[512];
	uint32_t max = m->max ? m->max : 1024, n = 0;
	Tessera__ObjectVersion *ovs = NULL, **povs = NULL;
	Tessera__ObjectId *oids = NULL;
	Tessera__Version *vers = NULL;
	int got = 0;

	if (max > 4096)
		max = 4096;
	if (m->pg && r->map)
		pool = mon_map_pool(r->map->m, m->pg->pool);
	if (!m->pg || !pool || rt_pg_reactor(m->pg->seed, r->osd->n_reactors) != r->idx) {
		rep.status = frame_status_from_errno(!pool ? -EAGAIN : -EINVAL);
		rt_conn_send_copy(oc->c, FRAME_T_PG_LIST_REPLY, hdr->tag, FRAME_F_REPLY, &rep.base);
		return;
	}
	ovs = calloc(max, sizeof(*ovs));
	povs = calloc(max, sizeof(*povs));
	oids = calloc(max, sizeof(*oids));
	vers = calloc(max, sizeof(*vers));
	if (!ovs || !povs || !oids || !vers) {
		rep.status = frame_status_from_errno(-ENOMEM);
		rt_conn_send_copy(oc->c, FRAME_T_PG_LIST_REPLY, hdr->tag, FRAME_F_REPLY, &rep.base);
		goto out;
	}
	if (m->start_after) {
		cur.last.pool = m->pg->pool;
		cur.last.oid = m->start_after->id;
		cur.first = false;
	}
	while (n < max && (got = st_list(r->st, m->pg->pool, &cur, page, 512)) > 0) {
		for (int i = 0; i < got && n < max; i++) {
			if (rt_pg_of(m->pg->pool, page[i].obj.oid, pool->pg_count) != m->pg->seed)
				continue;
			tessera__object_version__init(&ovs[n]);
			tessera__object_id__init(&oids[n]);
			tessera__version__init(&vers[n]);
			oids[n].pool = page[i].obj.pool;
			oids[n].id = page[i].obj.oid;
			osd_version_to_pb(page[i].version, &vers[n]);
			ovs[n].oid = &oids[n];
			ovs[n].version = &vers[n];
			povs[n] = &ovs[n];
			n++;
			if (n == max && i + 1 < got)
				got = 1; /* more remain: not done */
		}
	}
	rep.status = got < 0 ? frame_status_from_errno(got) : TESSERA__STATUS__STATUS_OK;
	rep.objects = povs;
	rep.n_objects = n;
	rep.done = got == 0 || n < max;
	rt_conn_send_copy(oc->c, FRAME_T_PG_LIST_REPLY, hdr->tag, FRAME_F_REPLY, &rep.base);
out:
	free(ovs);
	free(povs);
	free(oids);
	free(vers);
}
