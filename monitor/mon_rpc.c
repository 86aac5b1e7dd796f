/*
 * RPC handlers for OSDs and clients: boot, heartbeat, failure report,
 * subscribe, get map, volumes. Protobuf types stay in this file (and
 * mon_admin_rpc.c); the core sees struct mon_map and struct mon_cmd.
 *
 * Writes (boot, volume changes) need the leader: a follower answers
 * STATUS_ENOTLEADER with the leader's id and address so the sender can retry
 * there. Reads (maps, subscriptions) are served by any monitor.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon.h"
#include "mon.pb-c.h"
#include "mon_map_pb.h"
#include "rt_err.h"
#include "rt_log.h"

/* Volume sizes are multiples of the client's I/O block. */
#define MON_VOL_BLOCK_SIZE 4096u

/* A request waiting for its Raft entry to apply. */
struct mon_req {
	struct mon *mon;
	struct mon_conn *conn; /* referenced */
	uint64_t tag;
	uint16_t type;
	char key[MON_VOL_NAME_MAX]; /* uuid (boot) or volume name */
};

static void
fill_leader(struct mon *mon, uint32_t *leader_id, Tessera__Address **pa, Tessera__Address *a)
{
	const struct mon_addr *la;

	*leader_id = mon_raft_leader(mon, &la);
	if (la) {
		tessera__address__init(a);
		a->host = (char *)la->host;
		a->port = la->port;
		*pa = a;
	}
}

static void
send_reply(struct mon_conn *c, uint64_t tag, int rc, const char *msg)
{
	struct mon *mon = mon__self;
	Tessera__Reply r = TESSERA__REPLY__INIT;
	Tessera__Address a;

	r.status = frame_status_from_errno(rc);
	r.message = (char *)(msg ? msg : "");
	r.epoch = mon->map ? mon->map->epoch : 0;
	if (rc == -RT_ENOTLEADER)
		fill_leader(mon, &r.leader_id, &r.leader_addr, &a);
	mon_conn_send(c, FRAME_T_REPLY, tag, FRAME_F_REPLY, &r.base);
}

/* "not the leader" text with the leader's id and address when known. */
static void
not_leader_msg(struct mon *mon, char *buf, size_t len)
{
	const struct mon_addr *la;
	uint32_t id = mon_raft_leader(mon, &la);

	if (la)
		snprintf(buf, len, "mon.%u is not the leader; leader is mon.%u at %s:%u",
			 mon->peers[mon->self].id, id, la->host, la->port);
	else
		snprintf(buf, len, "mon.%u is not the leader and no leader is known",
			 mon->peers[mon->self].id);
}

static struct mon_req *
req_new(struct mon_conn *c, const struct frame_hdr *hdr, const char *key)
{
	struct mon_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->mon = mon__self;
	r->conn = c;
	r->tag = hdr->tag;
	r->type = hdr->type;
	if (key) {
		/* Keys are built by us and fit; cut rather than overrun if not. */
		size_t n = strnlen(key, sizeof(r->key) - 1);

		memcpy(r->key, key, n);
		r->key[n] = '\0';
	}
	mon_conn_get(c);
	return r;
}

static void
req_free(struct mon_req *r)
{
	mon_conn_put(r->conn);
	free(r);
}

/* ---- boot ----------------------------------------------------------------- */

static void
boot_reply(struct mon_conn *c, uint64_t tag, int rc, const char *msg, uint32_t id)
{
	struct mon *mon = mon__self;
	Tessera__OsdBootReply r = TESSERA__OSD_BOOT_REPLY__INIT;

	r.status = frame_status_from_errno(rc);
	r.message = (char *)(msg ? msg : "");
	r.osd_id = id;
	r.epoch = mon->map ? mon->map->epoch : 0;
	r.heartbeat_interval_ms = (uint32_t)(mon->conf.hb_interval_us / 1000);
	mon_conn_send(c, FRAME_T_OSD_BOOT_REPLY, tag, FRAME_F_REPLY, &r.base);
}

static void
on_boot_done(void *ctx, int rc, uint64_t epoch)
{
	struct mon_req *r = ctx;
	struct mon *mon = r->mon;
	const struct mon_osd *o = mon->map ? mon_map_osd_by_uuid(mon->map, r->key) : NULL;

	if (rc == 0 && !o)
		rc = -ENOENT;
	if (rc == 0) {
		/* The OSD is alive now: a full grace period starts with its boot. */
		mon_osd_heartbeat(mon, o->id, 0, o->device_bytes, epoch);
		rt_info(RT_SS_MON, DF_OSD " booted (uuid %s, host %s) at " DF_EPOCH, o->id,
			o->uuid, o->host, DP_EPOCH(epoch));
		if (mon_conn_is_open(r->conn))
			mon_conn_set_osd(r->conn, o->id);
	}
	if (mon_conn_is_open(r->conn))
		boot_reply(r->conn, r->tag, rc, rc < 0 ? rt_strerror(rc) : "", o ? o->id : 0);
	req_free(r);
}

static void
handle_boot(struct mon_conn *c, const struct frame_hdr *hdr, const Tessera__OsdBoot *b)
{
	struct mon *mon = mon__self;
	char want[16], weight[40], dev[32], now[32], err[256];
	char *reactors = NULL;
	size_t cap = 1;
	struct mon_cmd cmd;
	struct mon_req *r;
	int rc;

	if (!mon_raft_is_leader(mon)) {
		not_leader_msg(mon, err, sizeof(err));
		boot_reply(c, hdr->tag, -RT_ENOTLEADER, err, 0);
		return;
	}
	if (b->n_reactors > MON_MAX_REACTORS) {
		boot_reply(c, hdr->tag, -E2BIG, "too many reactors", 0);
		return;
	}
	for (size_t i = 0; i < b->n_reactors; i++)
		cap += (b->reactors[i] && b->reactors[i]->host ? strlen(b->reactors[i]->host) : 0) +
		       16;
	reactors = calloc(1, cap);
	if (!reactors) {
		boot_reply(c, hdr->tag, -ENOMEM, "out of memory", 0);
		return;
	}
	for (size_t i = 0, off = 0; i < b->n_reactors; i++) {
		const Tessera__Address *a = b->reactors[i];

		if (!a || !a->host || !*a->host || a->port == 0 || a->port > 65535) {
			free(reactors);
			boot_reply(c, hdr->tag, -EINVAL, "bad reactor address", 0);
			return;
		}
		off += (size_t)snprintf(reactors + off, cap - off, "%s%s%s%s:%u", i ? "," : "",
					strchr(a->host, ':') ? "[" : "", a->host,
					strchr(a->host, ':') ? "]" : "", a->port);
	}
	snprintf(want, sizeof(want), "%u", b->want_id);
	snprintf(weight, sizeof(weight), "%.17g", b->weight);
	snprintf(dev, sizeof(dev), "%" PRIu64, b->device_bytes);
	snprintf(now, sizeof(now), "%" PRIu64, mon_now_real_us());
	mon_cmd_init(&cmd, "osd boot");
	mon_cmd_add(&cmd, "uuid", b->uuid);
	mon_cmd_add(&cmd, "want_id", want);
	if (b->has_want_id)
		mon_cmd_add(&cmd, "has_want_id", "1");
	mon_cmd_add(&cmd, "host", b->host);
	mon_cmd_add(&cmd, "failure_domain", b->failure_domain);
	mon_cmd_add(&cmd, "reactors", reactors);
	mon_cmd_add(&cmd, "weight", weight);
	mon_cmd_add(&cmd, "device_bytes", dev);
	mon_cmd_add(&cmd, "now_us", now);
	r = req_new(c, hdr, b->uuid);
	if (!r) {
		free(reactors);
		boot_reply(c, hdr->tag, -ENOMEM, "out of memory", 0);
		return;
	}
	rc = mon_raft_propose(mon, &cmd, on_boot_done, r, err, sizeof(err));
	free(reactors);
	if (rc < 0) {
		boot_reply(c, hdr->tag, rc, err, 0);
		req_free(r);
	}
}

/* ---- heartbeat and failure reports ---------------------------------------- */

/* The per-reactor perf counters of a heartbeat (mon_osdperf.h): soft state too. */
static void
heartbeat_perf(struct mon *mon, const Tessera__OsdHeartbeat *h)
{
	struct mon_reactor_perf *rs;
	size_t n = h->n_perf;
	int rc;

	if (n > MON_PERF_MAX_REACTORS) {
		rt_warn_rl(RT_SS_MON,
			   DF_OSD " heartbeat: %zu reactors of perf counters, at most %d",
			   h->osd_id, n, MON_PERF_MAX_REACTORS);
		return;
	}
	rs = calloc(n, sizeof(*rs));
	if (!rs)
		return;
	for (size_t i = 0; i < n; i++) {
		const Tessera__ReactorPerf *p = h->perf[i];

		if (!p)
			continue;
		rs[i].reactor = p->reactor;
		rs[i].inflight = p->inflight;
		rs[i].inflight_max = p->inflight_max;
		for (size_t k = 0; k < p->n_classes; k++) {
			const Tessera__OpClassPerf *cp = p->classes[k];
			struct mon_perf_hist *hs = NULL;

			for (uint32_t c = 0; cp && cp->name && c < MON_PERF_NCLASS; c++) {
				if (strcmp(cp->name, mon_perf_class_names[c]) == 0)
					hs = &rs[i].cls[c];
			}
			if (!hs)
				continue; /* a class this monitor does not know */
			hs->ops = cp->ops;
			hs->bytes = cp->bytes;
			hs->errors = cp->errors;
			hs->lat_sum_us = cp->lat_sum_us;
			for (size_t b = 0; b < cp->n_lat_hist && b < MON_PERF_BUCKETS; b++)
				hs->b[b] = cp->lat_hist[b];
		}
	}
	rc = mon_osdperf_update(&mon->osdperf, h->osd_id, mon_now_mono_us(), rs, (uint32_t)n);
	if (rc < 0)
		rt_debug(RT_SS_MON, DF_OSD " heartbeat perf counters: " DF_RC, h->osd_id,
			 DP_RC(rc));
	free(rs);
}

static void
handle_heartbeat(struct mon_conn *c, const struct frame_hdr *hdr, const Tessera__OsdHeartbeat *h)
{
	struct mon *mon = mon__self;
	const struct mon_osd *o;
	uint32_t ignored = 0;
	char msg[256];

	if (!mon_raft_is_leader(mon)) {
		not_leader_msg(mon, msg, sizeof(msg));
		send_reply(c, hdr->tag, -RT_ENOTLEADER, msg);
		return;
	}
	o = mon_map_osd(mon->map, h->osd_id);
	if (!o) {
		send_reply(c, hdr->tag, -ENOENT, "unknown osd id: boot first");
		return;
	}
	if (!o->up) {
		/* Marked down while alive (network trouble): it must boot again. */
		snprintf(msg, sizeof(msg), DF_OSD " is marked down: send OsdBoot again", o->id);
		send_reply(c, hdr->tag, -EAGAIN, msg);
		return;
	}
	mon_osd_heartbeat(mon, h->osd_id, h->used_bytes, h->device_bytes, h->epoch);
	/* PG states: soft state on the leader, never through Raft (mon_pgstat.h). */
	for (size_t i = 0; i < h->n_pgs; i++) {
		const Tessera__PgStat *p = h->pgs[i];
		int rc;

		if (!p)
			continue;
		rc = mon_osd_pg_report(mon, h->osd_id, h->epoch, p->pool, p->seed, p->state);
		if (rc < 0)
			ignored++;
		if (rc < 0 && rc != -ESTALE)
			rt_debug(RT_SS_MON, DF_OSD " reported pg " DF_PG " state '%s': " DF_RC,
				 h->osd_id, p->pool, p->seed, p->state ? p->state : "",
				 DP_RC(rc));
	}
	if (ignored)
		rt_debug(RT_SS_MON, DF_OSD " heartbeat at " DF_EPOCH ": %u of %zu pg states ignored",
			 h->osd_id, DP_EPOCH(h->epoch), ignored, h->n_pgs);
	if (h->n_perf)
		heartbeat_perf(mon, h);
	send_reply(c, hdr->tag, 0, NULL);
}

/* Reply once the "osd down" entry of a clean stop is applied. */
static void
on_mark_down_done(void *ctx, int rc, uint64_t epoch)
{
	struct mon_req *r = ctx;

	if (rc == 0)
		rt_info(RT_SS_MON, "%s marked down at its request (clean stop) at " DF_EPOCH,
			r->key, DP_EPOCH(epoch));
	if (mon_conn_is_open(r->conn))
		send_reply(r->conn, r->tag, rc, rc < 0 ? rt_strerror(rc) : NULL);
	req_free(r);
}

/*
 * A clean stop (SIGTERM): mark the OSD down at once through Raft, as the
 * failure detector would after the grace. The uuid must be the OSD's.
 */
static void
handle_mark_down(struct mon_conn *c, const struct frame_hdr *hdr, const Tessera__OsdMarkDown *d)
{
	struct mon *mon = mon__self;
	const struct mon_osd *o;
	char msg[256], id[16], now[32];
	struct mon_cmd cmd;
	struct mon_req *r;
	int rc;

	if (!mon_raft_is_leader(mon)) {
		not_leader_msg(mon, msg, sizeof(msg));
		send_reply(c, hdr->tag, -RT_ENOTLEADER, msg);
		return;
	}
	o = mon_map_osd(mon->map, d->osd_id);
	if (!o) {
		send_reply(c, hdr->tag, -ENOENT, "unknown osd id");
		return;
	}
	if (!d->uuid || strcmp(d->uuid, o->uuid) != 0) {
		snprintf(msg, sizeof(msg), "uuid does not match " DF_OSD "'s", o->id);
		send_reply(c, hdr->tag, -EPERM, msg);
		return;
	}
	if (!o->up) {
		send_reply(c, hdr->tag, 0, NULL); /* already down: nothing to do */
		return;
	}
	snprintf(id, sizeof(id), "%u", o->id);
	snprintf(now, sizeof(now), "%" PRIu64, mon_now_real_us());
	mon_cmd_init(&cmd, "osd down");
	mon_cmd_add(&cmd, "id", id);
	mon_cmd_add(&cmd, "now_us", now);
	snprintf(msg, sizeof(msg), DF_OSD, o->id);
	r = req_new(c, hdr, msg);
	if (!r) {
		send_reply(c, hdr->tag, -ENOMEM, "out of memory");
		return;
	}
	rc = mon_raft_propose(mon, &cmd, on_mark_down_done, r, msg, sizeof(msg));
	if (rc < 0) {
		send_reply(c, hdr->tag, rc, msg);
		req_free(r);
	}
}

static void
handle_failure(struct mon_conn *c, const struct frame_hdr *hdr,
	       const Tessera__OsdFailureReport *f)
{
	struct mon *mon = mon__self;
	char msg[256];
	int rc;

	if (!mon_raft_is_leader(mon)) {
		not_leader_msg(mon, msg, sizeof(msg));
		send_reply(c, hdr->tag, -RT_ENOTLEADER, msg);
		return;
	}
	rc = mon_osd_failure_report(mon, f->reporter, f->target);
	send_reply(c, hdr->tag, rc, rc < 0 ? rt_strerror(rc) : NULL);
}

/* ---- maps ----------------------------------------------------------------- */

static void
mons_of(struct mon *mon, struct mon_map_pb_mons *mons, uint32_t *ids, struct mon_addr *addrs)
{
	for (uint32_t i = 0; i < mon->n_peers; i++) {
		ids[i] = mon->peers[i].id;
		addrs[i] = mon->peers[i].addr;
	}
	mons->n = mon->n_peers;
	mons->ids = ids;
	mons->addrs = addrs;
}

static void
handle_get_map(struct mon_conn *c, const struct frame_hdr *hdr, const Tessera__GetMap *g)
{
	struct mon *mon = mon__self;
	Tessera__MapReply r = TESSERA__MAP_REPLY__INIT;
	Tessera__MapIncremental *incs[MON_HISTORY];
	Tessera__ClusterMap *full = NULL;
	uint32_t ids[MON_MAX_PEERS];
	struct mon_addr addrs[MON_MAX_PEERS];
	struct mon_map_pb_mons mons;
	size_t n_inc = 0;
	int rc = 0;

	mons_of(mon, &mons, ids, addrs);
	if (g->since_epoch && g->since_epoch <= mon->map->epoch &&
	    mon->map->epoch - g->since_epoch < MON_HISTORY) {
		/* Incrementals since_epoch -> current, if every step is still kept. */
		for (uint64_t e = g->since_epoch; e < mon->map->epoch; e++) {
			const struct mon_map *a = mon_map_at(mon, e), *b = mon_map_at(mon, e + 1);

			if (!a || !b || !(incs[n_inc] = mon_map_inc_to_pb(a, b)))
				break;
			n_inc++;
		}
		if (g->since_epoch + n_inc == mon->map->epoch) {
			r.incrementals = incs;
			r.n_incrementals = n_inc;
			goto out_send;
		}
		/* Not all kept: fall back to the full map. */
		for (size_t i = 0; i < n_inc; i++)
			mon_map_inc_pb_free(incs[i]);
		n_inc = 0;
	}
	{
		const struct mon_map *m = mon_map_at(mon, g->epoch);

		if (!m) {
			rc = -ENOENT;
			r.message = g->epoch > mon->map->epoch ? "epoch is in the future"
							       : "epoch is no longer kept";
		} else {
			full = mon_map_to_pb(m, &mons);
			if (!full)
				rc = -ENOMEM;
			r.map = full;
		}
	}
out_send:
	r.status = frame_status_from_errno(rc);
	mon_conn_send(c, FRAME_T_MAP_REPLY, hdr->tag, FRAME_F_REPLY, &r.base);
	mon_map_pb_free(full);
	for (size_t i = 0; i < n_inc; i++)
		mon_map_inc_pb_free(incs[i]);
}

static void
handle_subscribe(struct mon_conn *c, const struct frame_hdr *hdr, const Tessera__Subscribe *s)
{
	struct mon *mon = mon__self;
	const struct mon_map *have = s->have_epoch ? mon_map_at(mon, s->have_epoch) : NULL;

	mon_conn_subscribe(c, s->have_epoch, s->incremental);
	send_reply(c, hdr->tag, 0, NULL);
	if (s->have_epoch < mon->map->epoch) {
		/* Catch the subscriber up: one incremental if possible, else the full map. */
		if (have && s->have_epoch + 1 == mon->map->epoch) {
			mon_net_publish(mon, have, mon->map);
		} else {
			mon_conn_subscribe(c, 0, s->incremental);
			mon_net_publish(mon, NULL, mon->map);
		}
	}
}

/* ---- volumes -------------------------------------------------------------- */

static void
vol_reply(struct mon_conn *c, uint64_t tag, int rc, const char *msg, const struct mon_volume *v,
	  bool list)
{
	struct mon *mon = mon__self;
	Tessera__VolumeReply r = TESSERA__VOLUME_REPLY__INIT;
	Tessera__VolumeInfo vi, **all = NULL;
	Tessera__Snapshot *snaps = NULL, **psnaps = NULL;

	Tessera__Address la;

	r.status = frame_status_from_errno(rc);
	r.message = (char *)(msg ? msg : "");
	r.epoch = mon->map->epoch;
	if (rc == -RT_ENOTLEADER)
		fill_leader(mon, &r.leader_id, &r.leader_addr, &la);
	if (v) {
		tessera__volume_info__init(&vi);
		vi.id = v->id;
		vi.name = (char *)v->name;
		vi.pool = v->pool;
		vi.size = v->size;
		vi.object_size = v->object_size;
		vi.features = v->features;
		vi.parent_id = v->parent_id;
		vi.parent_snap = v->parent_snap;
		if (v->n_snaps) {
			snaps = calloc(v->n_snaps, sizeof(*snaps));
			psnaps = calloc(v->n_snaps, sizeof(*psnaps));
			if (snaps && psnaps) {
				for (uint32_t i = 0; i < v->n_snaps; i++) {
					tessera__snapshot__init(&snaps[i]);
					snaps[i].id = v->snaps[i].id;
					snaps[i].name = (char *)v->snaps[i].name;
					snaps[i].size = v->snaps[i].size;
					psnaps[i] = &snaps[i];
				}
				vi.snapshots = psnaps;
				vi.n_snapshots = v->n_snaps;
			}
		}
		r.volume = &vi;
	}
	if (list && mon->map->n_vols) {
		Tessera__VolumeInfo *arr = calloc(mon->map->n_vols, sizeof(*arr));

		all = calloc(mon->map->n_vols, sizeof(*all));
		if (arr && all) {
			for (uint32_t i = 0; i < mon->map->n_vols; i++) {
				const struct mon_volume *x = &mon->map->vols[i];

				tessera__volume_info__init(&arr[i]);
				arr[i].id = x->id;
				arr[i].name = (char *)x->name;
				arr[i].pool = x->pool;
				arr[i].size = x->size;
				arr[i].object_size = x->object_size;
				arr[i].features = x->features;
				arr[i].parent_id = x->parent_id;
				arr[i].parent_snap = x->parent_snap;
				all[i] = &arr[i];
			}
			r.volumes = all;
			r.n_volumes = mon->map->n_vols;
		}
		mon_conn_send(c, FRAME_T_VOL_REPLY, tag, FRAME_F_REPLY, &r.base);
		free(arr);
		free(all);
		goto out_free;
	}
	mon_conn_send(c, FRAME_T_VOL_REPLY, tag, FRAME_F_REPLY, &r.base);
out_free:
	free(snaps);
	free(psnaps);
}

static void
on_vol_done(void *ctx, int rc, uint64_t epoch)
{
	struct mon_req *r = ctx;

	if (mon_conn_is_open(r->conn))
		vol_reply(r->conn, r->tag, rc, rc < 0 ? rt_strerror(rc) : NULL,
			  rc == 0 ? mon_map_vol_by_name(r->mon->map, r->key) : NULL, false);
	req_free(r);
}

static void
handle_volume(struct mon_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg)
{
	struct mon *mon = mon__self;
	char size[32], osz[32], feat[32], err[256];
	const char *result_name = NULL;
	struct mon_cmd cmd;
	struct mon_req *r;
	int rc;

	if (hdr->type == FRAME_T_VOL_GET) {
		const Tessera__VolumeGet *g = (const Tessera__VolumeGet *)msg;
		const struct mon_volume *v;

		if (!g->name || !*g->name) {
			vol_reply(c, hdr->tag, 0, NULL, NULL, true);
			return;
		}
		v = mon_map_vol_by_name(mon->map, g->name);
		vol_reply(c, hdr->tag, v ? 0 : -ENOENT, v ? NULL : "no such volume", v, false);
		return;
	}
	if (!mon_raft_is_leader(mon)) {
		not_leader_msg(mon, err, sizeof(err));
		vol_reply(c, hdr->tag, -RT_ENOTLEADER, err, NULL, false);
		return;
	}
	switch (hdr->type) {
	case FRAME_T_VOL_CREATE: {
		const Tessera__VolumeCreate *v = (const Tessera__VolumeCreate *)msg;

		if (v->size % MON_VOL_BLOCK_SIZE) {
			vol_reply(c, hdr->tag, -EINVAL, "size must be a multiple of 4096", NULL,
				  false);
			return;
		}

		snprintf(size, sizeof(size), "%" PRIu64, v->size);
		snprintf(osz, sizeof(osz), "%u", v->object_size ? v->object_size : 4u << 20);
		snprintf(feat, sizeof(feat), "%" PRIu64, v->features);
		mon_cmd_init(&cmd, "vol create");
		mon_cmd_add(&cmd, "name", v->name);
		mon_cmd_add(&cmd, "pool", v->pool);
		mon_cmd_add(&cmd, "size", size);
		mon_cmd_add(&cmd, "object_size", osz);
		mon_cmd_add(&cmd, "features", feat);
		result_name = v->name;
		break;
	}
	case FRAME_T_VOL_RESIZE: {
		const Tessera__VolumeResize *v = (const Tessera__VolumeResize *)msg;
		const struct mon_volume *cur = v->name ? mon_map_vol_by_name(mon->map, v->name)
						       : NULL;
		const char *vname = v->name;

		if (v->volume_id) {
			/* By id: a handle keeps resizing its volume across renames. */
			cur = NULL;
			for (uint32_t i = 0; i < mon->map->n_vols && !cur; i++)
				if (mon->map->vols[i].id == v->volume_id)
					cur = &mon->map->vols[i];
			if (!cur) {
				vol_reply(c, hdr->tag, -ENOENT, "no volume with that id", NULL,
					  false);
				return;
			}
			vname = cur->name;
		}

		if (v->size % MON_VOL_BLOCK_SIZE) {
			vol_reply(c, hdr->tag, -EINVAL, "size must be a multiple of 4096", NULL,
				  false);
			return;
		}
		/* A shrink deletes data: only when the client says so. */
		if (cur && v->size < cur->size && !v->allow_shrink) {
			snprintf(err, sizeof(err),
				 "shrinking volume '%s' from %" PRIu64 " to %" PRIu64
				 " bytes deletes data: allow_shrink is not set",
				 cur->name, cur->size, v->size);
			vol_reply(c, hdr->tag, -EINVAL, err, NULL, false);
			return;
		}
		snprintf(size, sizeof(size), "%" PRIu64, v->size);
		mon_cmd_init(&cmd, "vol resize");
		mon_cmd_add(&cmd, "name", vname);
		mon_cmd_add(&cmd, "size", size);
		result_name = vname;
		break;
	}
	case FRAME_T_VOL_REMOVE: {
		const Tessera__VolumeRemove *v = (const Tessera__VolumeRemove *)msg;
		const struct mon_volume *cur = v->name ? mon_map_vol_by_name(mon->map, v->name)
						       : NULL;
		uint64_t who = 0;
		uint32_t n = cur ? mon_vol_watchers(mon, cur->id, &who) : 0;

		/* Open somewhere (a watch): removing it would pull the disk away. */
		if (n) {
			snprintf(err, sizeof(err),
				 "volume '%s' is open by %u client(s) (client %016" PRIx64 ")",
				 cur->name, n, who);
			vol_reply(c, hdr->tag, -EBUSY, err, NULL, false);
			return;
		}
		mon_cmd_init(&cmd, "vol rm");
		mon_cmd_add(&cmd, "name", v->name);
		break;
	}
	case FRAME_T_VOL_RENAME: {
		const Tessera__VolumeRename *v = (const Tessera__VolumeRename *)msg;

		mon_cmd_init(&cmd, "vol rename");
		mon_cmd_add(&cmd, "name", v->name);
		mon_cmd_add(&cmd, "new_name", v->new_name);
		result_name = v->new_name;
		break;
	}
	default:
		return;
	}
	r = req_new(c, hdr, result_name);
	if (!r) {
		vol_reply(c, hdr->tag, -ENOMEM, "out of memory", NULL, false);
		return;
	}
	rc = mon_raft_propose(mon, &cmd, on_vol_done, r, err, sizeof(err));
	if (rc < 0) {
		vol_reply(c, hdr->tag, rc, err, NULL, false);
		req_free(r);
	}
}

/*
 * VolumeWatch: soft state on the leader's connection (mon_conn_watch), never
 * through Raft. A watch on a volume id the map does not hold is refused with
 * STATUS_ENOENT (it was removed between the client's lookup and its watch).
 */
static void
handle_watch(struct mon_conn *c, const struct frame_hdr *hdr, const Tessera__VolumeWatch *w)
{
	struct mon *mon = mon__self;
	bool found = false;
	char msg[256];
	int rc;

	if (!mon_raft_is_leader(mon)) {
		not_leader_msg(mon, msg, sizeof(msg));
		send_reply(c, hdr->tag, -RT_ENOTLEADER, msg);
		return;
	}
	for (uint32_t i = 0; i < mon->map->n_vols && !found; i++)
		found = mon->map->vols[i].id == w->volume_id;
	if (!found && !w->unwatch) {
		snprintf(msg, sizeof(msg), "no volume with id %" PRIu64, w->volume_id);
		send_reply(c, hdr->tag, -ENOENT, msg);
		return;
	}
	rc = mon_conn_watch(c, w->volume_id, w->client_id, w->unwatch);
	if (rc == 0)
		rt_debug(RT_SS_MON, "client %016" PRIx64 " %s volume %" PRIu64, w->client_id,
			 w->unwatch ? "unwatches" : "watches", w->volume_id);
	send_reply(c, hdr->tag, rc, rc < 0 ? rt_strerror(rc) : NULL);
}

void
mon_rpc_dispatch(struct mon_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg)
{
	switch (hdr->type) {
	case FRAME_T_OSD_BOOT:
		handle_boot(c, hdr, (const Tessera__OsdBoot *)msg);
		break;
	case FRAME_T_OSD_HEARTBEAT:
		handle_heartbeat(c, hdr, (const Tessera__OsdHeartbeat *)msg);
		break;
	case FRAME_T_OSD_FAILURE:
		handle_failure(c, hdr, (const Tessera__OsdFailureReport *)msg);
		break;
	case FRAME_T_OSD_MARK_DOWN:
		handle_mark_down(c, hdr, (const Tessera__OsdMarkDown *)msg);
		break;
	case FRAME_T_GET_MAP:
		handle_get_map(c, hdr, (const Tessera__GetMap *)msg);
		break;
	case FRAME_T_SUBSCRIBE:
		handle_subscribe(c, hdr, (const Tessera__Subscribe *)msg);
		break;
	case FRAME_T_VOL_CREATE:
	case FRAME_T_VOL_RESIZE:
	case FRAME_T_VOL_REMOVE:
	case FRAME_T_VOL_RENAME:
	case FRAME_T_VOL_GET:
		handle_volume(c, hdr, msg);
		break;
	case FRAME_T_VOL_WATCH:
		handle_watch(c, hdr, (const Tessera__VolumeWatch *)msg);
		break;
	case FRAME_T_PING: {
		mon_conn_send(c, FRAME_T_PONG, hdr->tag, FRAME_F_REPLY, msg);
		break;
	}
	default:
		rt_warn_rl(RT_SS_MON, "unexpected message %s (%u) ignored",
			   frame_type_name(hdr->type), hdr->type);
		send_reply(c, hdr->tag, -EOPNOTSUPP, "message type not handled by the monitor");
		break;
	}
}
