/*
 * A data reactor of the OSD: its thread, its libstore partition, its
 * listener and connections, its PG table, and the messages the control
 * thread posts to it (maps, stats requests, stop).
 *
 * Life of a reactor thread: open the store (st_open drives the reactor in
 * this thread, which binds the SINGLE_ISSUER ring to it), load the PG logs
 * from the store's metadata, create the pools, listen, report ready, run the
 * loop. On stop: close the listener, let in-flight ops drain (bounded by
 * --drain-timeout), leave the loop, destroy the messenger (closes every
 * connection), st_close (checkpoint), destroy the reactor, tell the control
 * thread.
 *
 * Map application: the newest map wins (an older or equal epoch is dropped).
 * For every PG of every pool whose seed maps to this reactor the PG's role is
 * recomputed from its acting set; PGs this OSD no longer serves keep their
 * log (for phase 2 peering) but take no ops.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "osd.h"
#include "rt_err.h"
#include "rt_log.h"
#include "rt_pg.h"

static _Thread_local struct osd_reactor *osd__cur;

static uint32_t
pg_bucket(uint32_t pool, uint32_t seed)
{
	return (pool * 2654435761u + seed) % OSD_PG_BUCKETS;
}

struct osd_pg *
osd_pg_find(struct osd_reactor *r, uint32_t pool, uint32_t seed)
{
	for (struct osd_pg *pg = r->pgs[pg_bucket(pool, seed)]; pg; pg = pg->hnext)
		if (pg->pool == pool && pg->seed == seed)
			return pg;
	return NULL;
}

/* Find or create (control path: map changes, log load; rarely a RepOp). */
struct osd_pg *
osd_pg_get(struct osd_reactor *r, uint32_t pool, uint32_t seed)
{
	struct osd_pg *pg = osd_pg_find(r, pool, seed);
	uint32_t b = pg_bucket(pool, seed);

	if (pg)
		return pg;
	pg = calloc(1, sizeof(*pg));
	if (!pg)
		return NULL;
	if (osd_pglog_init(&pg->log, pool, seed, (uint32_t)r->osd->conf.pg_log_len) < 0) {
		free(pg);
		return NULL;
	}
	pg->pool = pool;
	pg->seed = seed;
	osd_opq_init(&pg->opq);
	pg->hnext = r->pgs[b];
	r->pgs[b] = pg;
	r->n_pgs++;
	return pg;
}

static void
pgs_free(struct osd_reactor *r)
{
	for (uint32_t b = 0; b < OSD_PG_BUCKETS; b++) {
		while (r->pgs[b]) {
			struct osd_pg *pg = r->pgs[b];

			r->pgs[b] = pg->hnext;
			osd_peering_free(r, pg);
			osd_scrub_free(r, pg);
			osd_pglog_fini(&pg->log);
			free(pg);
		}
	}
	r->n_pgs = 0;
}

const char *
osd_pg_state(const struct osd_reactor *r, const struct osd_pg *pg)
{
	uint32_t up = 0;

	if (!r->map || !pg->member)
		return "unknown";
	if (pg->primary && osd_pg_peering_state(pg))
		return osd_pg_peering_state(pg);
	for (uint32_t i = 0; i < pg->n_acting; i++) {
		const struct mon_osd *o = osd_map_osd(r->map, pg->acting[i]);

		if (o && o->up)
			up++;
	}
	{
		const char *sx = pg->primary ? osd_scrub_state(pg) : NULL;
		bool scrubbing = sx && sx[1] == 's';

		if (up >= pg->size)
			return !sx ? "active+clean"
			       : scrubbing ? "active+clean+scrubbing" : "active+clean+inconsistent";
		if (up >= pg->min_size)
			return !sx ? "active+undersized+degraded"
			       : scrubbing ? "active+undersized+degraded+scrubbing"
					   : "active+undersized+degraded+inconsistent";
	}
	return "undersized+peered";
}

/* ---- PG log load ------------------------------------------------------------ */

static int
pglog_load_one(void *arg, const void *key, uint32_t key_len, const void *val, uint32_t val_len)
{
	struct osd_reactor *r = arg;
	struct osd_pglog_entry e;
	uint32_t kpool, kseed, kslot, pool, seed;
	struct osd_pg *pg;
	int rc;

	if (osd_pglog_key_parse(key, key_len, &kpool, &kseed, &kslot) < 0) {
		rt_warn(RT_SS_OSD, "reactor %u: ignoring malformed PG log key (%u bytes)", r->idx,
			key_len);
		return 0;
	}
	rc = osd_pglog_decode(val, val_len, &pool, &seed, &e);
	if (rc == 0 && (pool != kpool || seed != kseed || e.slot != kslot))
		rc = -EBADMSG;
	if (rc < 0) {
		rt_warn(RT_SS_OSD, "reactor %u: PG " DF_PGID " log slot %u unreadable: " DF_RC,
			r->idx, kpool, kseed, kslot, DP_RC(rc));
		return 0;
	}
	pg = osd_pg_get(r, pool, seed);
	if (!pg)
		return -ENOMEM;
	if (osd_pglog_load_entry(&pg->log, &e) < 0)
		pg->log.load_errors++;
	return 0;
}

static int
pglogs_load(struct osd_reactor *r)
{
	uint64_t entries = 0;
	int rc;

	rc = st_meta_iterate(r->st, OSD_PGLOG_KEY_PREFIX, (uint32_t)strlen(OSD_PGLOG_KEY_PREFIX),
			     pglog_load_one, r);
	if (rc < 0)
		return rc;
	for (uint32_t b = 0; b < OSD_PG_BUCKETS; b++) {
		for (struct osd_pg *pg = r->pgs[b]; pg; pg = pg->hnext) {
			osd_pglog_load_done(&pg->log);
			entries += pg->log.n;
		}
	}
	rt_info(RT_SS_OSD, "reactor %u: loaded %" PRIu64 " PG log entries of %u PGs", r->idx,
		entries, r->n_pgs);
	return 0;
}

/* ---- connections ------------------------------------------------------------ */

static void
conn_on_frame(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	      const struct iovec *data, int data_cnt)
{
	struct osd_conn *oc = rt_conn_user(c);

	switch (hdr->type) {
	case FRAME_T_CLIENT_OP:
		osd_client_op_recv(oc, hdr, (const Tessera__ClientOp *)msg, data, data_cnt);
		break;
	case FRAME_T_REP_OP: {
		const Tessera__RepOp *ro = (const Tessera__RepOp *)msg;

		/* The primary writes: this interval went active with us in it. */
		if (ro->pg && oc->r->map && ro->epoch == oc->r->map->epoch) {
			struct osd_pg *pg = osd_pg_find(oc->r, ro->pg->pool, ro->pg->seed);

			if (pg)
				osd_pg_interval_note(oc->r, pg);
		}
		osd_replica_op_recv(oc, hdr, ro, data, data_cnt);
		break;
	}
	case FRAME_T_PG_QUERY:
		osd_member_pg_query(oc, hdr, (const Tessera__PgQuery *)msg);
		break;
	case FRAME_T_PG_NOTIFY:
		osd_member_pg_notify(oc, hdr, (const Tessera__PgNotify *)msg);
		break;
	case FRAME_T_OBJ_PULL:
		osd_member_obj_pull(oc, hdr, (const Tessera__ObjectPull *)msg);
		break;
	case FRAME_T_OBJ_PUSH:
		osd_member_obj_push(oc, hdr, (const Tessera__ObjectPush *)msg, data, data_cnt);
		break;
	case FRAME_T_PG_LIST:
		osd_member_pg_list(oc, hdr, (const Tessera__PgListObjects *)msg);
		break;
	case FRAME_T_SCRUB_READ:
		osd_member_scrub_read(oc, hdr, (const Tessera__ScrubRead *)msg);
		break;
	case FRAME_T_SCRUB_PG:
		osd_scrub_pg_recv(oc, hdr, (const Tessera__ScrubPg *)msg);
		break;
	default:
		oc->r->stats.conns_bad++;
		rt_warn_rl(RT_SS_OSD, "reactor %u: %s sent a %s frame: closing", oc->r->idx,
			   rt_conn_peer(c), frame_type_name(hdr->type));
		rt_conn_close(c, -RT_EBADTYPE);
		break;
	}
	/* An op allocated for this frame and not taken by a handler goes back. */
	if (oc->rx_op) {
		struct osd_op *op = oc->rx_op;

		oc->rx_op = NULL;
		osd_op_put(op);
	}
}

static int
conn_alloc_data(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
		struct iovec *iov, int max_iov)
{
	struct osd_conn *oc = rt_conn_user(c);

	if (hdr->type == FRAME_T_CLIENT_OP)
		return osd_client_op_alloc_data(oc, hdr, msg, iov, max_iov);
	if (hdr->type == FRAME_T_REP_OP || hdr->type == FRAME_T_OBJ_PUSH)
		return osd_replica_alloc_data(oc, hdr, msg, iov, max_iov);
	return 0;
}

static void
conn_on_close(struct rt_conn *c, int reason)
{
	struct osd_conn *oc = rt_conn_user(c);

	if (!oc)
		return;
	if (reason != -ESHUTDOWN && reason != -ECANCELED && reason != -ECONNRESET)
		rt_info(RT_SS_OSD, "reactor %u: connection from %s closed: " DF_RC, oc->r->idx,
			rt_conn_peer(c), DP_RC(reason));
	if (oc->rx_op) {
		struct osd_op *op = oc->rx_op;

		oc->rx_op = NULL;
		osd_op_put(op);
	}
	rt_conn_set_user(c, NULL);
	if (osd_replica_conn_closing(oc))
		return; /* a deferred resume is pending: it frees oc */
	free(oc);
}

static const struct rt_conn_ops conn_ops = {
	.on_frame = conn_on_frame,
	.on_close = conn_on_close,
	.alloc_data = conn_alloc_data,
};

static int
on_accept(struct rt_listener *l, struct rt_conn *c)
{
	struct osd_reactor *r = rt_listener_user(l);
	struct osd_conn *oc;

	if (r->stopping)
		return -ESHUTDOWN;
	oc = calloc(1, sizeof(*oc));
	if (!oc)
		return -ENOMEM;
	oc->r = r;
	oc->c = c;
	r->stats.conns_accepted++;
	rt_conn_set_ops(c, &conn_ops, oc);
	return 0;
}

/* ---- messages from the control thread ---------------------------------------- */

void
osd_reactor_apply_map(void *ctx)
{
	struct osd_reactor *r = osd__cur;
	struct osd_map *map = ctx;
	const struct mon_map *m = map->m;
	uint32_t self = r->osd->osd_id;

	if (r->map && map->epoch <= r->map->epoch) {
		osd_map_put(&map);
		return;
	}
	osd_map_put(&r->map);
	r->map = map;
	for (uint32_t i = 0; i < m->n_pools; i++) {
		const struct mon_pool *pool = &m->pools[i];

		for (uint32_t s = r->idx; s < pool->pg_count; s += r->osd->n_reactors) {
			const struct mon_pg *mp = &pool->pgs[s];
			int pos = -1;
			struct osd_pg *pg;

			for (uint32_t k = 0; k < mp->n_acting; k++)
				if (mp->acting[k] == self)
					pos = (int)k;
			pg = pos >= 0 ? osd_pg_get(r, pool->id, s) : osd_pg_find(r, pool->id, s);
			if (!pg) {
				if (pos >= 0)
					rt_err(RT_SS_OSD, "reactor %u: out of memory for PG " DF_PGID,
					       r->idx, pool->id, s);
				continue;
			}
			bool was_primary = pg->primary && pg->member;
			bool changed = pg->n_acting != mp->n_acting ||
				       memcmp(pg->acting, mp->acting, sizeof(pg->acting)) != 0;

			pg->map_epoch = map->epoch;
			pg->member = pos >= 0;
			pg->primary = pos == 0;
			pg->size = pool->size;
			pg->min_size = pool->min_size;
			pg->pg_count = pool->pg_count;
			pg->n_acting = mp->n_acting;
			memcpy(pg->acting, mp->acting, sizeof(pg->acting));
			if (pg->primary && (!was_primary || changed || !pg->pr))
				osd_peering_start(r, pg);
		}
	}
	for (uint32_t b = 0; b < OSD_PG_BUCKETS; b++) {
		for (struct osd_pg *pg = r->pgs[b]; pg; pg = pg->hnext) {
			if (pg->map_epoch != map->epoch) {
				pg->member = false;
				pg->primary = false;
				pg->n_acting = 0;
			}
			osd_primary_resume(r, pg);
		}
	}
	rt_debug(RT_SS_OSD, "reactor %u: now at " DF_EPOCH, r->idx, DP_EPOCH(map->epoch));
}

static void
drain_timeout(struct rt_timer *t)
{
	struct osd_reactor *r = (struct osd_reactor *)((char *)t - offsetof(struct osd_reactor,
									    drain_timer));

	rt_warn(RT_SS_OSD, "reactor %u: %u ops still in flight after the drain timeout; stopping",
		r->idx, r->n_ops);
	rt_reactor_stop(r->r);
}

void
osd_reactor_maybe_stopped(struct osd_reactor *r)
{
	if (r->stopping && r->n_ops == 0 && r->scrub_inflight == 0 && r->bg_inflight == 0)
		rt_reactor_stop(r->r);
}

void
osd_reactor_stop_msg(void *ctx)
{
	struct osd_reactor *r = ctx;

	if (r->stopping)
		return;
	r->stopping = true;
	if (r->listener)
		rt_listener_close(&r->listener);
	osd_scrub_reactor_stop(r);
	/* Writes waiting for min_size would only run into the drain timeout. */
	for (uint32_t b = 0; b < OSD_PG_BUCKETS; b++)
		for (struct osd_pg *pg = r->pgs[b]; pg; pg = pg->hnext)
			osd_primary_fail_waiting(r, pg, -EAGAIN);
	/* Connections waiting for a buffer are resumed and refuse their RepOps. */
	while (r->connwait_head)
		osd_replica_conn_kick(r);
	rt_info(RT_SS_OSD, "reactor %u: stopping, %u ops in flight", r->idx, r->n_ops);
	rt_timer_init(&r->drain_timer, drain_timeout);
	rt_timer_start(r->r, &r->drain_timer, r->osd->conf.drain_timeout_us, 0);
	osd_reactor_maybe_stopped(r);
}

void
osd_reactor_hb_collect(void *ctx)
{
	struct osd_reactor *r = ctx;
	uint32_t n = 0;

	r->hb_stats = r->stats;
	r->hb_inflight = r->n_ops;
	r->hb_inflight_max = r->n_ops_max;
	r->n_ops_max = r->n_ops;
	r->hb_epoch = r->map ? r->map->epoch : 0;
	st_statfs(r->st, &r->hb_statfs);
	if (r->hb_cap_pgs < r->n_pgs) {
		struct osd_hb_pg *a = realloc(r->hb_pgs, r->n_pgs * sizeof(*a));

		if (a) {
			r->hb_pgs = a;
			r->hb_cap_pgs = r->n_pgs;
		}
	}
	for (uint32_t b = 0; b < OSD_PG_BUCKETS; b++) {
		for (struct osd_pg *pg = r->pgs[b]; pg && n < r->hb_cap_pgs; pg = pg->hnext) {
			if (!pg->member || !pg->primary)
				continue;
			r->hb_pgs[n].pool = pg->pool;
			r->hb_pgs[n].seed = pg->seed;
			r->hb_pgs[n].state = osd_pg_state(r, pg);
			r->hb_pgs[n].ops = pg->ops;
			n++;
		}
	}
	r->hb_n_pgs = n;
	rt_reactor_post(r->osd->ctl, &r->hb_done_msg, osd_ctl_hb_part, r);
}

static void
ident_saved(struct st_req *req, int rc)
{
	struct osd_reactor *r = req->ctx;

	if (rc < 0)
		rt_err(RT_SS_OSD, "saving the OSD identity failed: " DF_RC, DP_RC(rc));
	else
		rt_info(RT_SS_OSD, "identity saved (" DF_OSD ")", r->osd->ident.osd_id);
}

void
osd_reactor_save_ident(void *ctx)
{
	struct osd_reactor *r = ctx;
	struct st_req *q = &r->ident_req;
	int rc;

	memset(q, 0, offsetof(struct st_req, priv));
	q->op = ST_OP_META_SET;
	q->meta_key = OSD_IDENT_KEY;
	q->meta_key_len = (uint32_t)strlen(OSD_IDENT_KEY);
	q->buf = &r->osd->ident;
	q->len_bytes = sizeof(r->osd->ident);
	q->cb = ident_saved;
	q->ctx = r;
	rc = st_submit(r->st, q);
	if (rc < 0)
		rt_err(RT_SS_OSD, "saving the OSD identity failed: " DF_RC, DP_RC(rc));
}

/* ---- life ------------------------------------------------------------------- */

int
osd_reactor_create(struct osd *osd, uint32_t idx, struct osd_reactor **out)
{
	struct rt_reactor_opts ro;
	struct osd_reactor *r;
	char name[16];
	int rc;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->osd = osd;
	r->idx = idx;
	snprintf(name, sizeof(name), "osd-r%u", idx);
	rt_reactor_opts_init(&ro);
	ro.name = name;
	ro.core = -1;
	ro.busy_poll = osd->conf.busy_poll;
	rc = rt_reactor_create(&ro, &r->r);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int
reactor_setup(struct osd_reactor *r)
{
	const struct osd_conf *conf = &r->osd->conf;
	struct rt_msgr_opts mo;
	struct sockaddr_storage ss;
	socklen_t sl;
	struct st_opts so;
	char addr[128];
	int rc;

	st_opts_init(&so);
	so.path = conf->device;
	so.offset_bytes = (uint64_t)r->idx * r->osd->part_bytes;
	so.length_bytes = r->osd->part_bytes;
	so.durability = (enum st_durability)conf->durability;
	so.no_direct = conf->no_direct;
	rc = st_open(&so, r->r, &r->st);
	if (rc < 0) {
		rt_err(RT_SS_OSD, "reactor %u: opening partition %u of %s failed: " DF_RC, r->idx,
		       r->idx, conf->device, DP_RC(rc));
		return rc;
	}
	st_get_opts(r->st, &so);
	r->max_object_bytes = so.max_object_bytes;
	rc = pglogs_load(r);
	if (rc < 0)
		return rc;
	r->buf_bytes = conf->max_io_bytes;
	rc = rt_mempool_create(r->r, sizeof(struct osd_op), (uint32_t)conf->ops_per_reactor, 64,
			       &r->op_pool);
	if (rc < 0)
		return rc;
	rc = rt_mempool_create(r->r, r->buf_bytes, (uint32_t)conf->io_buffers, 4096, &r->buf_pool);
	if (rc < 0)
		return rc;
	rt_msgr_opts_init(&mo);
	mo.limits.max_data_len = (uint32_t)conf->max_io_bytes;
	mo.limits.max_msg_len = 1u << 20; /* PG logs travel in PgNotify */
	rc = rt_msgr_create(r->r, &mo, &r->msgr);
	if (rc < 0)
		return rc;
	if (strchr(conf->listen_host, ':'))
		snprintf(addr, sizeof(addr), "[%s]:%u", conf->listen_host,
			 conf->port_base ? (unsigned)(conf->port_base + r->idx) : 0);
	else
		snprintf(addr, sizeof(addr), "%s:%u", conf->listen_host,
			 conf->port_base ? (unsigned)(conf->port_base + r->idx) : 0);
	rc = rt_msgr_parse_addr(addr, &ss, &sl);
	if (rc < 0) {
		rt_err(RT_SS_OSD, "--listen-host: '%s' is not a numeric address", conf->listen_host);
		return rc;
	}
	rc = rt_msgr_listen(r->msgr, (struct sockaddr *)&ss, sl, 1024, on_accept, r,
			    &r->listener);
	if (rc < 0) {
		rt_err(RT_SS_OSD, "reactor %u: listen on %s failed: " DF_RC, r->idx, addr,
		       DP_RC(rc));
		return rc;
	}
	r->port = rt_listener_port(r->listener);
	osd_scrub_reactor_start(r);
	rt_info(RT_SS_OSD, "reactor %u: partition %u (%" PRIu64 " bytes), listening on %s:%u",
		r->idx, r->idx, r->osd->part_bytes, conf->listen_host, r->port);
	return 0;
}

static void
reactor_teardown(struct osd_reactor *r)
{
	int rc;

	osd_peers_close_all(r);
	if (r->msgr)
		rt_msgr_destroy(&r->msgr);
	if (r->st) {
		rc = st_close(&r->st);
		if (rc < 0)
			rt_err(RT_SS_OSD, "reactor %u: closing the store: " DF_RC, r->idx,
			       DP_RC(rc));
	}
	if (r->n_ops == 0) {
		rt_mempool_destroy(&r->op_pool);
		rt_mempool_destroy(&r->buf_pool);
	} else {
		rt_warn(RT_SS_OSD, "reactor %u: %u ops never finished; their memory is left",
			r->idx, r->n_ops);
	}
	pgs_free(r);
	osd_map_put(&r->map);
}

static void *
reactor_main(void *arg)
{
	struct osd_reactor *r = arg;
	struct osd *osd = r->osd;
	int rc;

	osd__cur = r;
	if (osd->conf.pin) {
		cpu_set_t set;
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		CPU_ZERO(&set);
		CPU_SET((int)(r->idx % (ncpu > 0 ? (uint32_t)ncpu : 1)), &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	rc = reactor_setup(r);
	pthread_mutex_lock(&osd->lock);
	r->start_rc = rc;
	osd->n_ready++;
	pthread_cond_broadcast(&osd->cond);
	pthread_mutex_unlock(&osd->lock);
	if (rc == 0) {
		rc = rt_reactor_run(r->r);
		if (rc < 0)
			rt_err(RT_SS_OSD, "reactor %u: loop failed: " DF_RC, r->idx, DP_RC(rc));
	}
	reactor_teardown(r);
	/* The ring belongs to this thread: destroy it here. */
	rt_reactor_destroy(&r->r);
	rt_info(RT_SS_OSD, "reactor %u: stopped", r->idx);
	if (r->start_rc == 0)
		rt_reactor_post(osd->ctl, &r->exit_msg, osd_ctl_reactor_exited, r);
	return NULL;
}

int
osd_reactor_thread_start(struct osd_reactor *r)
{
	int rc = pthread_create(&r->thread, NULL, reactor_main, r);

	if (rc != 0)
		return -rc;
	r->thread_started = true;
	return 0;
}

void
osd_reactor_free(struct osd_reactor **rp)
{
	struct osd_reactor *r = *rp;

	*rp = NULL;
	if (!r)
		return;
	if (r->thread_started)
		pthread_join(r->thread, NULL);
	if (r->r)
		rt_reactor_destroy(&r->r);
	free(r->hb_pgs);
	free(r);
}
