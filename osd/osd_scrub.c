/*
 * Scrub, on the PG's primary reactor.
 *
 * A scrub of a PG walks the primary's objects of the PG (st_list, sorted by
 * oid). For each object it takes the object's slot in the PG's op queue as a
 * whole-object writer (so no client mutation of that object is in flight on
 * any member while it is compared), then, chunk by chunk (--max-io bytes up
 * to the object size):
 *
 *   - reads the chunk from the local store and computes the CRC32C of each
 *     4 KiB block; in parallel sends ScrubRead to every other up member, which
 *     reads the same range from its store and answers the CRC of each block
 *     and its object version (STATUS_EIO when a block fails libstore's own
 *     CRC check, STATUS_ENOENT when it lacks the object);
 *   - compares: a member whose read failed, that lacks the object, holds
 *     another version or a block with another CRC is inconsistent (logged,
 *     counted); repair pushes the primary's chunk to it (ObjectPush, applied
 *     like recovery, which rewrites the blocks and heals them);
 *   - if the primary's own read fails its CRC (-EIO), the chunk is pulled from
 *     a member whose read succeeded at the listed version (ObjectPull),
 *     written locally, and the chunk is compared again (at most twice).
 *
 * Objects only a member holds are not looked for (peering's backfill listing
 * comparison covers missing and extra objects when the logs do not).
 *
 * Rate: each object costs its mapped bytes against a per-reactor budget of
 * --scrub-max-bytes-per-sec; a chunk starts only when the budget allows (a
 * timer otherwise). Background: every --scrub-interval each PG this OSD is
 * primary of is scrubbed once, one PG per reactor at a time. On demand: a
 * ScrubPg frame sent to the PG's reactor on the primary starts one at once
 * (or after the running one) and is answered with the counts when it ends.
 * A scrub stops (STATUS_EAGAIN) when the PG peers again or changes primary.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "osd.h"
#include "rt_crc.h"
#include "rt_err.h"
#include "rt_log.h"
#include "rt_pg.h"

#define SCRUB_TICK_US 1000000

struct osd_scrub_waiter {
	struct osd_scrub_waiter *next;
	struct rt_conn *c;
	uint64_t tag;
};

struct osd_scrub;

struct osd_scrub_member {
	struct osd_scrub *sc;
	uint32_t osd_id;
	int rc;
	uint64_t version;
	uint32_t n_crcs;
	uint32_t *crcs;
	struct osd_preq q;
};

struct osd_scrub {
	struct osd_reactor *r;
	struct osd_pg *pg;
	bool running, repair, background;
	uint64_t epoch;
	uint64_t *oids;
	uint64_t *vers;
	uint32_t n_objs, cur;
	uint64_t off, len;
	uint32_t retries;
	struct osd_opq_ent qe;
	bool in_opq;
	void *buf;
	uint32_t *crcs;
	uint32_t n_blocks;
	int local_rc;
	uint64_t local_version;
	uint32_t n;
	struct osd_scrub_member m[OSD_MAX_REPLICAS];
	uint32_t pending;
	uint32_t fix_i;
	bool fixing_chunk_bad; /* this chunk had an inconsistency */
	struct st_req sreq;
	struct osd_preq q;
	struct rt_timer timer;
	uint64_t started_us, last_done_us;
	uint64_t objects, bytes, errors, repaired, unrepaired;
	uint64_t last_unrepaired;
	struct osd_scrub_waiter *waiters, *next_waiters;
	bool again, again_repair;
};

static void scrub_next_obj(struct osd_scrub *sc);
static void scrub_chunk(struct osd_scrub *sc);
static void scrub_fix_next(struct osd_scrub *sc);
static void scrub_chunk_done(struct osd_scrub *sc);

/* ---- replies -------------------------------------------------------------------------- */

static void
pg_reply(struct rt_conn *c, uint64_t tag, uint32_t pool, uint32_t seed, int rc,
	 const struct osd_scrub *sc, uint64_t dur)
{
	Tessera__ScrubPgReply m = TESSERA__SCRUB_PG_REPLY__INIT;
	Tessera__PgId pid = TESSERA__PG_ID__INIT;

	pid.pool = pool;
	pid.seed = seed;
	m.status = frame_status_from_errno(rc);
	m.pg = &pid;
	if (sc) {
		m.objects = sc->objects;
		m.bytes = sc->bytes;
		m.errors = sc->errors;
		m.repaired = sc->repaired;
		m.unrepaired = sc->unrepaired;
		m.duration_us = dur;
	}
	rt_conn_send_copy(c, FRAME_T_SCRUB_PG_REPLY, tag, FRAME_F_REPLY, &m.base);
}

static void
waiters_answer(struct osd_scrub_waiter **list, const struct osd_scrub *sc, uint32_t pool,
	       uint32_t seed, int rc, uint64_t dur)
{
	while (*list) {
		struct osd_scrub_waiter *w = *list;

		*list = w->next;
		if (w->c)
			pg_reply(w->c, w->tag, pool, seed, rc, sc, dur);
		rt_conn_put(&w->c);
		free(w);
	}
}

/* ---- primary side --------------------------------------------------------------------- */

static bool
scrub_can_go(const struct osd_scrub *sc)
{
	const struct osd_reactor *r = sc->r;

	return !r->stopping && sc->pg->primary && sc->pg->member && osd_pg_is_active(sc->pg) &&
	       !osd_pg_peering_state(sc->pg) /* not while recovering */ && r->map;
}

static void
scrub_finish(struct osd_scrub *sc, int rc)
{
	struct osd_reactor *r = sc->r;
	struct osd_pg *pg = sc->pg;
	uint64_t now = rt_reactor_now_us(r->r);
	uint64_t dur = now - sc->started_us;

	if (sc->in_opq) {
		sc->in_opq = false;
		osd_primary_opq_done(pg, &sc->qe);
	}
	sc->running = false;
	free(sc->oids);
	free(sc->vers);
	sc->oids = NULL;
	sc->vers = NULL;
	if (rc == 0) {
		sc->last_done_us = now;
		sc->last_unrepaired = sc->unrepaired;
		r->stats.scrubs++;
		r->stats.scrub_objects += sc->objects;
		r->stats.scrub_errors += sc->errors;
		r->stats.scrub_repaired += sc->repaired;
	}
	if (rc == 0 && (sc->errors || sc->unrepaired))
		rt_warn(RT_SS_OSD, "PG " DF_PGID ": scrub done: %" PRIu64 " objects, %" PRIu64
				   " bytes, %" PRIu64 " inconsistencies, %" PRIu64 " repaired, %" PRIu64
				   " unrepaired, in %" PRIu64 " ms",
			pg->pool, pg->seed, sc->objects, sc->bytes, sc->errors, sc->repaired,
			sc->unrepaired, dur / 1000);
	else if (rc == 0)
		rt_info(RT_SS_OSD, "PG " DF_PGID ": scrub done: %" PRIu64 " objects, %" PRIu64
				   " bytes, no inconsistency, in %" PRIu64 " ms",
			pg->pool, pg->seed, sc->objects, sc->bytes, dur / 1000);
	else
		rt_info(RT_SS_OSD, "PG " DF_PGID ": scrub stopped after %" PRIu64 " objects: " DF_RC,
			pg->pool, pg->seed, sc->objects, DP_RC(rc));
	waiters_answer(&sc->waiters, sc, pg->pool, pg->seed, rc, dur);
	if (sc->background) {
		sc->background = false;
		r->scrub_bg_running = false;
	}
	if (sc->again && !r->stopping) {
		sc->again = false;
		sc->waiters = sc->next_waiters;
		sc->next_waiters = NULL;
		osd_scrub_request(r, pg, NULL, 0, sc->again_repair);
		return;
	}
	waiters_answer(&sc->next_waiters, NULL, pg->pool, pg->seed, rc < 0 ? rc : -EAGAIN, 0);
}

/* A step completed: false if the scrub had to stop (then it is finished). */
static bool
scrub_step_ok(struct osd_scrub *sc)
{
	struct osd_reactor *r = sc->r;

	r->scrub_inflight--;
	if (r->stopping) {
		scrub_finish(sc, -ESHUTDOWN);
		osd_reactor_maybe_stopped(r);
		return false;
	}
	if (!scrub_can_go(sc)) {
		scrub_finish(sc, -EAGAIN);
		return false;
	}
	return true;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
scrub_list(struct osd_scrub *sc)
{
	struct osd_reactor *r = sc->r;
	struct osd_pg *pg = sc->pg;
	struct st_list_cursor cur = { { 0, 0 }, true };
	struct st_obj_info page[256];
	uint32_t cap = 0;
	int got;

	sc->n_objs = 0;
	while ((got = st_list(r->st, pg->pool, &cur, page, 256)) > 0) {
		for (int i = 0; i < got; i++) {
			if (rt_pg_of(pg->pool, page[i].obj.oid, pg->pg_count) != pg->seed)
				continue;
			if (sc->n_objs == cap) {
				uint32_t nc = cap ? cap * 2 : 256;
				uint64_t *a = realloc(sc->oids, nc * sizeof(*a));

				if (!a)
					return -ENOMEM;
				sc->oids = a;
				cap = nc;
			}
			sc->oids[sc->n_objs++] = page[i].obj.oid;
		}
	}
	if (got < 0)
		return got;
	if (sc->n_objs)
		qsort(sc->oids, sc->n_objs, sizeof(*sc->oids), cmp_u64);
	return 0;
}

static void
scrub_begin(struct osd_scrub *sc, bool repair)
{
	struct osd_reactor *r = sc->r;
	int rc;

	sc->running = true;
	sc->repair = repair;
	sc->epoch = sc->pg->map_epoch;
	sc->objects = sc->bytes = sc->errors = sc->repaired = sc->unrepaired = 0;
	sc->cur = 0;
	sc->started_us = rt_reactor_now_us(r->r);
	if (!scrub_can_go(sc)) {
		scrub_finish(sc, sc->pg->primary ? -EAGAIN : -RT_ENOTPRIMARY);
		return;
	}
	rc = scrub_list(sc);
	if (rc < 0) {
		scrub_finish(sc, rc);
		return;
	}
	rt_info(RT_SS_OSD, "PG " DF_PGID ": scrub started (%u objects%s)", sc->pg->pool,
		sc->pg->seed, sc->n_objs, repair ? "" : ", no repair");
	scrub_next_obj(sc);
}

static void
scrub_obj_ready(struct osd_opq_ent *e)
{
	struct osd_scrub *sc = (struct osd_scrub *)((char *)e - offsetof(struct osd_scrub, qe));

	if (!scrub_step_ok(sc))
		return;
	sc->off = 0;
	sc->retries = 0;
	scrub_chunk(sc);
}

static void
scrub_next_obj(struct osd_scrub *sc)
{
	struct osd_reactor *r = sc->r;
	struct st_obj_info info;
	struct st_obj_id obj;

	if (sc->in_opq) {
		sc->in_opq = false;
		osd_primary_opq_done(sc->pg, &sc->qe);
	}
	for (;;) {
		if (!scrub_can_go(sc)) {
			scrub_finish(sc, r->stopping ? -ESHUTDOWN : -EAGAIN);
			return;
		}
		if (sc->cur >= sc->n_objs) {
			scrub_finish(sc, 0);
			return;
		}
		obj.pool = sc->pg->pool;
		obj.oid = sc->oids[sc->cur];
		if (st_object_stat(r->st, obj, &info) == 0)
			break;
		sc->cur++; /* deleted since the listing */
	}
	sc->objects++;
	sc->bytes += info.mapped_bytes;
	if (r->osd->conf.scrub_bytes_per_sec) {
		uint64_t now = rt_reactor_now_us(r->r);

		if (r->scrub_next_us < now)
			r->scrub_next_us = now;
		r->scrub_next_us += info.mapped_bytes * 1000000 / r->osd->conf.scrub_bytes_per_sec;
	}
	osd_opq_ent_init(&sc->qe, obj, 0, 0, true);
	sc->qe.on_ready = scrub_obj_ready;
	sc->in_opq = true;
	r->scrub_inflight++; /* until it may run */
	if (osd_opq_add(&sc->pg->opq, &sc->qe))
		scrub_obj_ready(&sc->qe);
}

static void
scrub_read_sent(struct rt_msgr_send *s, int rc)
{
}

static void
scrub_member_done(struct osd_preq *q, int rc, const struct frame_hdr *hdr, ProtobufCMessage *msg,
		  const struct iovec *data, int data_cnt)
{
	struct osd_scrub_member *m = (struct osd_scrub_member *)((char *)q -
								offsetof(struct osd_scrub_member, q));
	struct osd_scrub *sc = m->sc;
	const Tessera__ScrubReadReply *rep = (const Tessera__ScrubReadReply *)msg;

	if (rc == 0 && hdr->type != FRAME_T_SCRUB_READ_REPLY)
		rc = -EBADMSG;
	if (rc == 0) {
		rc = frame_status_to_errno(rep->status);
		m->version = rep->version ? osd_version_make(rep->version->epoch, rep->version->seq)
					  : 0;
		if (rc == 0 && rep->n_crcs != sc->n_blocks)
			rc = -EBADMSG;
		if (rc == 0)
			memcpy(m->crcs, rep->crcs, sc->n_blocks * sizeof(uint32_t));
	}
	m->rc = rc;
	if (--sc->pending == 0 && scrub_step_ok(sc))
		scrub_chunk_done(sc);
}

static void
scrub_local_read_done(struct st_req *q, int rc)
{
	struct osd_scrub *sc = q->ctx;

	sc->local_rc = rc;
	sc->local_version = rc == 0 ? q->out_version : 0;
	if (rc == 0)
		for (uint32_t b = 0; b < sc->n_blocks; b++)
			sc->crcs[b] = rt_crc32c(0, (const uint8_t *)sc->buf + (size_t)b * 4096, 4096);
	if (--sc->pending == 0 && scrub_step_ok(sc))
		scrub_chunk_done(sc);
}

static void
scrub_timer_fire(struct rt_timer *t)
{
	struct osd_scrub *sc = (struct osd_scrub *)((char *)t - offsetof(struct osd_scrub, timer));

	if (scrub_step_ok(sc))
		scrub_chunk(sc);
}

static void
scrub_chunk(struct osd_scrub *sc)
{
	struct osd_reactor *r = sc->r;
	struct osd_pg *pg = sc->pg;
	uint32_t self = r->osd->osd_id;
	uint64_t now = rt_reactor_now_us(r->r);
	struct st_req *q = &sc->sreq;
	int rc;

	if (sc->off >= r->max_object_bytes) {
		sc->cur++;
		scrub_next_obj(sc);
		return;
	}
	if (r->osd->conf.scrub_bytes_per_sec && r->scrub_next_us > now + 1000) {
		r->scrub_inflight++;
		rt_timer_start(r->r, &sc->timer, r->scrub_next_us - now, 0);
		return;
	}
	sc->len = r->buf_bytes;
	if (sc->off + sc->len > r->max_object_bytes)
		sc->len = r->max_object_bytes - sc->off;
	sc->n_blocks = (uint32_t)(sc->len / 4096);
	sc->pending = 1;
	sc->n = 0;
	for (uint32_t i = 0; i < pg->n_acting; i++) {
		const struct mon_osd *o = osd_map_osd(r->map, pg->acting[i]);
		struct osd_scrub_member *m;
		Tessera__ScrubRead sr = TESSERA__SCRUB_READ__INIT;
		Tessera__PgId pid = TESSERA__PG_ID__INIT;
		Tessera__ObjectId oid = TESSERA__OBJECT_ID__INIT;
		struct osd_peer *peer;

		if (pg->acting[i] == self || !o || !o->up)
			continue;
		m = &sc->m[sc->n++];
		m->sc = sc;
		m->osd_id = pg->acting[i];
		m->rc = -EIO;
		memset(&m->q, 0, offsetof(struct osd_preq, head));
		m->q.tag = ++r->next_tag;
		m->q.cb = scrub_member_done;
		pid.pool = pg->pool;
		pid.seed = pg->seed;
		oid.pool = pg->pool;
		oid.id = sc->oids[sc->cur];
		sr.epoch = r->map->epoch;
		sr.pg = &pid;
		sr.oid = &oid;
		sr.offset = sc->off;
		sr.length = sc->len;
		peer = osd_peer_get(r, m->osd_id, pg->seed);
		if (!peer ||
		    rt_msgr_send_prep(&m->q.send, m->q.head, sizeof(m->q.head), FRAME_T_SCRUB_READ,
				      m->q.tag, 0, &sr.base, NULL, 0, scrub_read_sent) < 0 ||
		    osd_peer_send(peer, &m->q) < 0) {
			m->rc = -EHOSTUNREACH;
			continue;
		}
		sc->pending++;
	}
	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_READ;
	q->obj.pool = pg->pool;
	q->obj.oid = sc->oids[sc->cur];
	q->offset_bytes = sc->off;
	q->len_bytes = sc->len;
	q->buf = sc->buf;
	q->cb = scrub_local_read_done;
	q->ctx = sc;
	r->scrub_inflight++; /* one for the whole fan-out */
	rc = st_submit(r->st, q);
	if (rc < 0) {
		sc->local_rc = rc;
		if (--sc->pending == 0 && scrub_step_ok(sc))
			scrub_chunk_done(sc);
	}
}

static bool
member_bad(const struct osd_scrub *sc, const struct osd_scrub_member *m, uint32_t *first_block)
{
	*first_block = 0;
	if (m->rc == -EIO || m->rc == -ENOENT)
		return true;
	if (m->rc < 0)
		return false; /* unreachable, busy: not a verdict */
	if (m->version != sc->local_version)
		return true;
	for (uint32_t b = 0; b < sc->n_blocks; b++) {
		if (m->crcs[b] != sc->crcs[b]) {
			*first_block = b;
			return true;
		}
	}
	return false;
}

static void scrub_pull(struct osd_scrub *sc);

static void
scrub_chunk_done(struct osd_scrub *sc)
{
	struct osd_pg *pg = sc->pg;
	uint64_t oid = sc->oids[sc->cur];

	if (sc->local_rc == -ENOENT) {
		sc->cur++; /* deleted: nothing to compare */
		scrub_next_obj(sc);
		return;
	}
	if (sc->local_rc < 0) {
		sc->errors++;
		rt_warn(RT_SS_OSD, "PG " DF_PGID ": scrub: object %" PRIu64 " bytes [%" PRIu64
				   ", +%" PRIu64 "): the primary's copy cannot be read: " DF_RC,
			pg->pool, pg->seed, oid, sc->off, sc->len, DP_RC(sc->local_rc));
		if (sc->repair && sc->local_rc == -EIO && sc->retries < 2) {
			scrub_pull(sc);
			return;
		}
		sc->unrepaired++;
		sc->off += sc->len;
		sc->retries = 0;
		scrub_chunk(sc);
		return;
	}
	sc->fix_i = 0;
	scrub_fix_next(sc);
}

static void
scrub_push_sent(struct rt_msgr_send *s, int rc)
{
}

static void
scrub_push_done(struct osd_preq *q, int rc, const struct frame_hdr *hdr, ProtobufCMessage *msg,
		const struct iovec *data, int data_cnt)
{
	struct osd_scrub *sc = (struct osd_scrub *)((char *)q - offsetof(struct osd_scrub, q));
	const Tessera__ObjectPushReply *m = (const Tessera__ObjectPushReply *)msg;
	struct osd_scrub_member *mb = &sc->m[sc->fix_i];

	if (rc == 0 && hdr->type != FRAME_T_OBJ_PUSH_REPLY)
		rc = -EBADMSG;
	if (rc == 0)
		rc = frame_status_to_errno(m->status);
	if (rc == 0) {
		sc->repaired++;
		rt_warn(RT_SS_OSD, "PG " DF_PGID ": scrub: repaired object %" PRIu64 " bytes [%" PRIu64
				   ", +%" PRIu64 ") on " DF_OSD " from the primary's copy",
			sc->pg->pool, sc->pg->seed, sc->oids[sc->cur], sc->off, sc->len, mb->osd_id);
	} else {
		sc->unrepaired++;
		rt_warn(RT_SS_OSD, "PG " DF_PGID ": scrub: repairing object %" PRIu64 " on " DF_OSD
				   " failed: " DF_RC,
			sc->pg->pool, sc->pg->seed, sc->oids[sc->cur], mb->osd_id, DP_RC(rc));
	}
	if (!scrub_step_ok(sc))
		return;
	sc->fix_i++;
	scrub_fix_next(sc);
}

/* Check each member's answer for the chunk; push the primary's chunk to a bad one. */
static void
scrub_fix_next(struct osd_scrub *sc)
{
	struct osd_reactor *r = sc->r;
	struct osd_pg *pg = sc->pg;

	for (; sc->fix_i < sc->n; sc->fix_i++) {
		struct osd_scrub_member *m = &sc->m[sc->fix_i];
		Tessera__ObjectPush p = TESSERA__OBJECT_PUSH__INIT;
		Tessera__PgId pid = TESSERA__PG_ID__INIT;
		Tessera__ObjectId oid = TESSERA__OBJECT_ID__INIT;
		Tessera__Version v = TESSERA__VERSION__INIT;
		struct osd_peer *peer;
		uint32_t blk;
		int rc;

		if (m->rc < 0 && m->rc != -EIO && m->rc != -ENOENT)
			rt_warn_rl(RT_SS_OSD, "PG " DF_PGID ": scrub: " DF_OSD " did not answer for "
					      "object %" PRIu64 ": " DF_RC,
				   pg->pool, pg->seed, m->osd_id, sc->oids[sc->cur], DP_RC(m->rc));
		if (!member_bad(sc, m, &blk))
			continue;
		sc->errors++;
		if (m->rc == -EIO)
			rt_warn(RT_SS_OSD, "PG " DF_PGID ": scrub: object %" PRIu64 " bytes [%" PRIu64
					   ", +%" PRIu64 ") on " DF_OSD ": read error (CRC mismatch)",
				pg->pool, pg->seed, sc->oids[sc->cur], sc->off, sc->len, m->osd_id);
		else if (m->rc == -ENOENT)
			rt_warn(RT_SS_OSD, "PG " DF_PGID ": scrub: object %" PRIu64 " missing on " DF_OSD,
				pg->pool, pg->seed, sc->oids[sc->cur], m->osd_id);
		else if (m->version != sc->local_version)
			rt_warn(RT_SS_OSD, "PG " DF_PGID ": scrub: object %" PRIu64 " on " DF_OSD
					   " at version %" PRIx64 ", primary %" PRIx64,
				pg->pool, pg->seed, sc->oids[sc->cur], m->osd_id, m->version,
				sc->local_version);
		else
			rt_warn(RT_SS_OSD, "PG " DF_PGID ": scrub: object %" PRIu64 " block at %" PRIu64
					   " differs on " DF_OSD " (crc %08x, primary %08x)",
				pg->pool, pg->seed, sc->oids[sc->cur], sc->off + (uint64_t)blk * 4096,
				m->osd_id, m->crcs[blk], sc->crcs[blk]);
		if (!sc->repair) {
			sc->unrepaired++;
			continue;
		}
		pid.pool = pg->pool;
		pid.seed = pg->seed;
		oid.pool = pg->pool;
		oid.id = sc->oids[sc->cur];
		osd_version_to_pb(sc->local_version, &v);
		p.epoch = r->map->epoch;
		p.pg = &pid;
		p.oid = &oid;
		p.version = &v;
		p.offset = sc->off;
		p.length = sc->len;
		p.last = sc->off + sc->len >= r->max_object_bytes;
		memset(&sc->q, 0, offsetof(struct osd_preq, iov));
		sc->q.tag = ++r->next_tag;
		sc->q.cb = scrub_push_done;
		sc->q.iov.iov_base = sc->buf;
		sc->q.iov.iov_len = sc->len;
		peer = osd_peer_get(r, m->osd_id, pg->seed);
		rc = peer ? rt_msgr_send_prep(&sc->q.send, sc->q.head, sizeof(sc->q.head),
					      FRAME_T_OBJ_PUSH, sc->q.tag, 0, &p.base, &sc->q.iov, 1,
					      scrub_push_sent)
			  : -EHOSTUNREACH;
		if (rc == 0)
			rc = osd_peer_send(peer, &sc->q);
		if (rc == 0) {
			r->scrub_inflight++;
			return;
		}
		sc->unrepaired++;
	}
	sc->off += sc->len;
	sc->retries = 0;
	scrub_chunk(sc);
}

/* ---- primary's copy bad: pull the chunk from a good member ------------------------------- */

static void
scrub_pulled_written(struct st_req *q, int rc)
{
	struct osd_scrub *sc = q->ctx;

	if (!scrub_step_ok(sc))
		return;
	if (rc < 0) {
		sc->unrepaired++;
		rt_warn(RT_SS_OSD, "PG " DF_PGID ": scrub: rewriting object %" PRIu64 " failed: " DF_RC,
			sc->pg->pool, sc->pg->seed, sc->oids[sc->cur], DP_RC(rc));
		sc->off += sc->len;
		sc->retries = 0;
	} else {
		sc->repaired++;
		rt_warn(RT_SS_OSD, "PG " DF_PGID ": scrub: repaired object %" PRIu64 " bytes [%" PRIu64
				   ", +%" PRIu64 ") on the primary from " DF_OSD,
			sc->pg->pool, sc->pg->seed, sc->oids[sc->cur], sc->off, sc->len,
			sc->m[sc->fix_i].osd_id);
		sc->retries++; /* compare the chunk again */
	}
	scrub_chunk(sc);
}

static void
scrub_pull_done(struct osd_preq *q, int rc, const struct frame_hdr *hdr, ProtobufCMessage *msg,
		const struct iovec *data, int data_cnt)
{
	struct osd_scrub *sc = (struct osd_scrub *)((char *)q - offsetof(struct osd_scrub, q));
	const Tessera__ObjectPush *m = (const Tessera__ObjectPush *)msg;
	struct st_req *sq = &sc->sreq;

	if (rc == 0 && (hdr->type != FRAME_T_OBJ_PUSH || m->delete_ || hdr->data_len != sc->len ||
			data_cnt != 1 || data[0].iov_base != sc->buf))
		rc = -EBADMSG;
	if (!scrub_step_ok(sc))
		return;
	if (rc < 0) {
		sc->unrepaired++;
		rt_warn(RT_SS_OSD, "PG " DF_PGID ": scrub: pulling object %" PRIu64 " failed: " DF_RC,
			sc->pg->pool, sc->pg->seed, sc->oids[sc->cur], DP_RC(rc));
		sc->off += sc->len;
		sc->retries = 0;
		scrub_chunk(sc);
		return;
	}
	memset(sq, 0, offsetof(struct st_req, priv));
	sq->obj.pool = sc->pg->pool;
	sq->obj.oid = sc->oids[sc->cur];
	sq->version = m->version ? osd_version_make(m->version->epoch, m->version->seq)
				 : sc->m[sc->fix_i].version;
	sq->offset_bytes = sc->off;
	sq->len_bytes = sc->len;
	if (osd_buf_is_zero(sc->buf, sc->len)) {
		sq->op = ST_OP_WRITE_ZEROES;
	} else {
		sq->op = ST_OP_WRITE;
		sq->buf = sc->buf;
	}
	sq->cb = scrub_pulled_written;
	sq->ctx = sc;
	sc->r->scrub_inflight++;
	rc = st_submit(sc->r->st, sq);
	if (rc < 0)
		scrub_pulled_written(sq, rc); /* takes the count taken above */
}

static void
scrub_pull(struct osd_scrub *sc)
{
	struct osd_reactor *r = sc->r;
	int rc;

	for (sc->fix_i = 0; sc->fix_i < sc->n; sc->fix_i++)
		if (sc->m[sc->fix_i].rc == 0)
			break;
	if (sc->fix_i >= sc->n) {
		rt_warn(RT_SS_OSD, "PG " DF_PGID ": scrub: object %" PRIu64 ": no member has a good "
				   "copy to repair the primary from",
			sc->pg->pool, sc->pg->seed, sc->oids[sc->cur]);
		sc->unrepaired++;
		sc->off += sc->len;
		sc->retries = 0;
		scrub_chunk(sc);
		return;
	}
	/* sc->len never reaches past the object's end (scrub_chunk). */
	rc = osd_obj_pull_send(r, sc->pg, sc->m[sc->fix_i].osd_id, sc->oids[sc->cur], sc->off,
			       sc->len, sc->buf, r->buf_bytes, &sc->q, scrub_pull_done);
	if (rc < 0) {
		sc->unrepaired++;
		sc->off += sc->len;
		sc->retries = 0;
		scrub_chunk(sc);
		return;
	}
	r->scrub_inflight++;
}

/* ---- entry points -------------------------------------------------------------------------- */

static struct osd_scrub *
scrub_get(struct osd_reactor *r, struct osd_pg *pg)
{
	struct osd_scrub *sc = pg->sc;
	uint32_t nb = (uint32_t)(r->buf_bytes / 4096);

	if (sc)
		return sc;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return NULL;
	sc->r = r;
	sc->pg = pg;
	sc->buf = aligned_alloc(4096, r->buf_bytes);
	sc->crcs = calloc(nb, sizeof(uint32_t));
	for (uint32_t i = 0; i < OSD_MAX_REPLICAS; i++)
		sc->m[i].crcs = calloc(nb, sizeof(uint32_t));
	rt_timer_init(&sc->timer, scrub_timer_fire);
	sc->last_done_us = rt_reactor_now_us(r->r);
	pg->sc = sc;
	if (!sc->buf || !sc->crcs || !sc->m[OSD_MAX_REPLICAS - 1].crcs) {
		osd_scrub_free(r, pg);
		return NULL;
	}
	for (uint32_t i = 0; i < OSD_MAX_REPLICAS; i++) {
		if (!sc->m[i].crcs) {
			osd_scrub_free(r, pg);
			return NULL;
		}
	}
	return sc;
}

int
osd_scrub_request(struct osd_reactor *r, struct osd_pg *pg, struct rt_conn *conn, uint64_t tag,
		  bool repair)
{
	struct osd_scrub *sc = scrub_get(r, pg);
	struct osd_scrub_waiter *w = NULL;

	if (!sc)
		return -ENOMEM;
	if (conn) {
		w = calloc(1, sizeof(*w));
		if (!w)
			return -ENOMEM;
		w->c = conn;
		rt_conn_get(conn);
		w->tag = tag;
	}
	if (sc->running) {
		/* After the running one: a scrub that starts after the request. */
		if (w) {
			w->next = sc->next_waiters;
			sc->next_waiters = w;
		}
		sc->again_repair = repair || (sc->again && sc->again_repair);
		sc->again = true;
		return 0;
	}
	if (w) {
		w->next = sc->waiters;
		sc->waiters = w;
	}
	scrub_begin(sc, repair);
	return 0;
}

void
osd_scrub_free(struct osd_reactor *r, struct osd_pg *pg)
{
	struct osd_scrub *sc = pg->sc;

	if (!sc)
		return;
	if (rt_timer_is_armed(&sc->timer))
		rt_timer_stop(r->r, &sc->timer);
	waiters_answer(&sc->waiters, NULL, pg->pool, pg->seed, -ESHUTDOWN, 0);
	waiters_answer(&sc->next_waiters, NULL, pg->pool, pg->seed, -ESHUTDOWN, 0);
	free(sc->oids);
	free(sc->vers);
	free(sc->buf);
	free(sc->crcs);
	for (uint32_t i = 0; i < OSD_MAX_REPLICAS; i++)
		free(sc->m[i].crcs);
	free(sc);
	pg->sc = NULL;
}

const char *
osd_scrub_state(const struct osd_pg *pg)
{
	if (!pg->sc)
		return NULL;
	if (pg->sc->running)
		return "+scrubbing";
	if (pg->sc->last_unrepaired)
		return "+inconsistent";
	return NULL;
}

/* Background: start the most overdue PG's scrub, one per reactor at a time. */
static void
bg_pick(struct osd_reactor *r)
{
	uint64_t interval = r->osd->conf.scrub_interval_us, now, best_t = UINT64_MAX;
	struct osd_pg *best = NULL;

	if (!interval || r->stopping || r->scrub_bg_running)
		return;
	now = rt_reactor_now_us(r->r);
	for (uint32_t b = 0; b < OSD_PG_BUCKETS; b++) {
		for (struct osd_pg *pg = r->pgs[b]; pg; pg = pg->hnext) {
			uint64_t t;

			if (!pg->primary || !pg->member || !osd_pg_is_active(pg) ||
			    osd_pg_peering_state(pg))
				continue;
			if (pg->sc && pg->sc->running)
				continue;
			t = pg->sc ? pg->sc->last_done_us : r->scrub_start_us;
			if (now - t >= interval && t < best_t) {
				best_t = t;
				best = pg;
			}
		}
	}
	if (!best)
		return;
	if (!scrub_get(r, best))
		return;
	best->sc->background = true;
	r->scrub_bg_running = true;
	scrub_begin(best->sc, true);
}

static void
scrub_tick(struct rt_timer *t)
{
	struct osd_reactor *r = (struct osd_reactor *)((char *)t - offsetof(struct osd_reactor,
									    scrub_timer));

	bg_pick(r);
}

void
osd_scrub_reactor_start(struct osd_reactor *r)
{
	uint64_t iv = r->osd->conf.scrub_interval_us;

	r->scrub_start_us = rt_reactor_now_us(r->r);
	rt_timer_init(&r->scrub_timer, scrub_tick);
	if (iv)
		rt_timer_start(r->r, &r->scrub_timer, iv < SCRUB_TICK_US ? iv : SCRUB_TICK_US,
			       iv < SCRUB_TICK_US ? iv : SCRUB_TICK_US);
}

void
osd_scrub_reactor_stop(struct osd_reactor *r)
{
	if (rt_timer_is_armed(&r->scrub_timer))
		rt_timer_stop(r->r, &r->scrub_timer);
}

/* ---- member side: ScrubRead ------------------------------------------------------------ */

static void
scrub_read_done(struct st_req *q, int rc)
{
	struct osd_op *op = q->ctx;
	Tessera__ScrubReadReply m = TESSERA__SCRUB_READ_REPLY__INIT;
	Tessera__Version v = TESSERA__VERSION__INIT;
	uint32_t nb = (uint32_t)(op->len / 4096);
	uint32_t *crcs = NULL;

	if (rc == 0) {
		crcs = malloc((nb ? nb : 1) * sizeof(*crcs));
		if (!crcs)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		for (uint32_t b = 0; b < nb; b++)
			crcs[b] = rt_crc32c(0, (const uint8_t *)op->buf + (size_t)b * 4096, 4096);
		osd_version_to_pb(q->out_version, &v);
		m.version = &v;
		m.crcs = crcs;
		m.n_crcs = nb;
	} else if (rc == -EIO) {
		rt_warn(RT_SS_OSD, "reactor %u: scrub read of " DF_STOBJ " bytes [%" PRIu64
				   ", +%" PRIu64 "): CRC mismatch in the store",
			op->r->idx, DP_STOBJ(op->obj), op->off, op->len);
	}
	m.status = frame_status_from_errno(rc);
	if (op->conn)
		rt_conn_send_copy(op->conn, FRAME_T_SCRUB_READ_REPLY, op->tag, FRAME_F_REPLY, &m.base);
	free(crcs);
	osd_op_put(op); /* the read's reference */
	osd_op_put(op); /* the base reference */
}

void
osd_member_scrub_read(struct osd_conn *oc, const struct frame_hdr *hdr, const Tessera__ScrubRead *m)
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
	q = &op->sreq;
	memset(q, 0, offsetof(struct st_req, priv));
	q->ctx = op;
	op->refs++; /* as a read holds */
	if (!m->pg || !m->oid || m->length == 0 || m->length % 4096 || m->offset % 4096 ||
	    m->length > r->buf_bytes || m->offset >= r->max_object_bytes ||
	    m->offset + m->length > r->max_object_bytes) {
		scrub_read_done(q, -EINVAL);
		return;
	}
	op->obj.pool = m->oid->pool;
	op->obj.oid = m->oid->id;
	op->off = m->offset;
	op->len = m->length;
	op->buf = osd_buf_get(r);
	if (!op->buf) {
		scrub_read_done(q, -EAGAIN);
		return;
	}
	q->op = ST_OP_READ;
	q->obj = op->obj;
	q->offset_bytes = op->off;
	q->len_bytes = op->len;
	q->buf = op->buf;
	q->cb = scrub_read_done;
	rc = st_submit(r->st, q);
	if (rc < 0)
		scrub_read_done(q, rc);
}

/* ScrubPg from an operator: scrub now, answer when done. */
void
osd_scrub_pg_recv(struct osd_conn *oc, const struct frame_hdr *hdr, const Tessera__ScrubPg *m)
{
	struct osd_reactor *r = oc->r;
	struct osd_pg *pg = NULL;
	int rc = 0;

	if (!m->pg)
		rc = -EINVAL;
	else if (r->stopping)
		rc = -EAGAIN;
	else if (rt_pg_reactor(m->pg->seed, r->osd->n_reactors) != r->idx)
		rc = -RT_ENOTPRIMARY;
	if (rc == 0) {
		pg = osd_pg_find(r, m->pg->pool, m->pg->seed);
		if (!pg || !pg->member || !pg->primary)
			rc = -RT_ENOTPRIMARY;
		else if (!osd_pg_is_active(pg) || osd_pg_peering_state(pg))
			rc = -EAGAIN;
	}
	if (rc == 0) {
		rt_info(RT_SS_OSD, "PG " DF_PGID ": scrub requested by %s", pg->pool, pg->seed,
			rt_conn_peer(oc->c));
		rc = osd_scrub_request(r, pg, oc->c, hdr->tag, !m->no_repair);
	}
	if (rc < 0)
		pg_reply(oc->c, hdr->tag, m->pg ? m->pg->pool : 0, m->pg ? m->pg->seed : 0, rc, NULL,
			 0);
}
