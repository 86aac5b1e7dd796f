/*
 * Admin commands (AdminCommand -> AdminReply), the monitor side of osdctl.
 * Each command answers with JSON (AdminReply.json) and a human-readable text
 * (AdminReply.text), both built here so that every tool shows the same data.
 *
 * Read-only commands run on the leader, which knows the volatile state
 * (heartbeats, usage, quorum); map changes are proposed through Raft and
 * answered once applied. A follower answers STATUS_ENOTLEADER with the
 * leader's id and address; osdctl follows it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon.h"
#include "mon.pb-c.h"
#include "mon_health.h"
#include "mon_json.h"
#include "rt_err.h"
#include "rt_log.h"

struct admin_out {
	FILE *json_f;
	FILE *text_f;
	char *json;
	size_t json_len;
	char *text;
	size_t text_len;
	struct mon_json j;
	char err[256];
};

struct admin_req {
	struct mon *mon;
	struct mon_conn *conn;
	uint64_t tag;
	char what[96];
};

static const char *
arg(const Tessera__AdminCommand *a, const char *key)
{
	for (size_t i = 0; i < a->n_args; i++) {
		if (a->args[i] && a->args[i]->key && strcmp(a->args[i]->key, key) == 0)
			return a->args[i]->value;
	}
	return NULL;
}

static void
send_admin(struct mon_conn *c, uint64_t tag, int rc, const char *msg, const char *json,
	   const char *text)
{
	struct mon *mon = mon__self;
	Tessera__AdminReply r = TESSERA__ADMIN_REPLY__INIT;
	Tessera__Address a = TESSERA__ADDRESS__INIT;
	const struct mon_addr *la;

	r.status = frame_status_from_errno(rc);
	r.message = (char *)(msg ? msg : "");
	r.json = (char *)(json ? json : "");
	r.text = (char *)(text ? text : "");
	r.epoch = mon->map ? mon->map->epoch : 0;
	if (rc == -RT_ENOTLEADER) {
		r.leader_id = mon_raft_leader(mon, &la);
		if (la) {
			a.host = (char *)la->host;
			a.port = la->port;
			r.leader_addr = &a;
		}
	}
	mon_conn_send(c, FRAME_T_ADMIN_REPLY, tag, FRAME_F_REPLY, &r.base);
}

/* ---- read-only commands ----------------------------------------------------- */

/* Reported PG states apply to the current map only; older maps show computed ones. */
static const struct mon_pgstats *
pgstats_for(struct mon *mon, const struct mon_map *m)
{
	if (m != mon->map)
		return NULL;
	/* The history for "incomplete" (mon_pg_is_incomplete). */
	mon->pgstats.hist = mon->hist;
	mon->pgstats.n_hist = MON_HISTORY;
	mon->pgstats.cur_epoch = m->epoch;
	return &mon->pgstats;
}

static void
pg_hist(struct mon *mon, const struct mon_map *m, struct mon_pg_hist *h)
{
	mon_pgstats_hist(pgstats_for(mon, m), m, mon_now_mono_us(), mon_pg_report_max_age_us(mon),
			 h);
}

static void
json_health(struct mon_json *j, const struct mon_health *h)
{
	mon_json_str(j, "status", mon_health_level_name(h->level));
	mon_json_arr_begin(j, "checks");
	for (uint32_t i = 0; i < h->n_checks; i++) {
		mon_json_obj_begin(j, NULL);
		mon_json_str(j, "code", h->checks[i].code);
		mon_json_str(j, "severity", mon_health_level_name(h->checks[i].level));
		mon_json_str(j, "message", h->checks[i].msg);
		mon_json_obj_end(j);
	}
	mon_json_arr_end(j);
}

static bool
in_list(const uint32_t *ids, uint32_t n, uint32_t id)
{
	for (uint32_t i = 0; i < n; i++) {
		if (ids[i] == id)
			return true;
	}
	return false;
}

static int
cmd_status(struct mon *mon, const Tessera__AdminCommand *a, struct admin_out *o)
{
	const struct mon_map *m = mon->map;
	struct mon_health h;
	uint32_t q[MON_MAX_PEERS], nq = mon_raft_quorum(mon, q), total;
	struct mon_pg_hist ph;
	uint32_t up = 0, in = 0;
	const struct mon_addr *la;
	uint32_t leader = mon_raft_leader(mon, &la);
	bool health_only = strcmp(a->command, "health") == 0;

	mon_health_now(mon, &h);
	if (health_only) {
		mon_json_obj_begin(&o->j, NULL);
		json_health(&o->j, &h);
		mon_json_obj_end(&o->j);
		fprintf(o->text_f, "%s\n", mon_health_level_name(h.level));
		for (uint32_t i = 0; i < h.n_checks; i++)
			fprintf(o->text_f, "  [%s] %s: %s\n",
				h.checks[i].level == MON_HEALTH_ERR ? "ERR" : "WRN", h.checks[i].code,
				h.checks[i].msg);
		return 0;
	}
	for (uint32_t i = 0; i < m->n_osds; i++) {
		up += m->osds[i].up;
		in += m->osds[i].in;
	}
	pg_hist(mon, m, &ph);
	total = ph.total;

	mon_json_obj_begin(&o->j, NULL);
	mon_json_str(&o->j, "fsid", m->fsid);
	mon_json_u64(&o->j, "epoch", m->epoch);
	mon_json_obj_begin(&o->j, "health");
	json_health(&o->j, &h);
	mon_json_obj_end(&o->j);
	mon_json_obj_begin(&o->j, "mons");
	mon_json_u64(&o->j, "total", mon->n_peers);
	mon_json_u64(&o->j, "leader", leader);
	mon_json_arr_begin(&o->j, "quorum");
	for (uint32_t i = 0; i < nq; i++)
		mon_json_u64(&o->j, NULL, q[i]);
	mon_json_arr_end(&o->j);
	mon_json_obj_end(&o->j);
	mon_json_obj_begin(&o->j, "osds");
	mon_json_u64(&o->j, "total", m->n_osds);
	mon_json_u64(&o->j, "up", up);
	mon_json_u64(&o->j, "in", in);
	mon_json_obj_end(&o->j);
	mon_json_u64(&o->j, "pools", m->n_pools);
	mon_json_obj_begin(&o->j, "pgs");
	mon_json_u64(&o->j, "total", total);
	mon_json_u64(&o->j, "reported", ph.n_reported);
	mon_json_obj_begin(&o->j, "states");
	for (uint32_t s = 0; s < ph.n; s++)
		mon_json_u64(&o->j, ph.st[s].state, ph.st[s].count);
	if (ph.other)
		mon_json_u64(&o->j, "other", ph.other);
	mon_json_obj_end(&o->j);
	mon_json_obj_end(&o->j);
	mon_json_u64(&o->j, "volumes", m->n_vols);
	mon_json_obj_end(&o->j);

	fprintf(o->text_f, "  cluster:\n    id:     %s\n    health: %s\n", m->fsid,
		mon_health_level_name(h.level));
	for (uint32_t i = 0; i < h.n_checks; i++)
		fprintf(o->text_f, "            %s\n", h.checks[i].msg);
	fprintf(o->text_f, "\n  services:\n    mon: %u daemons, quorum", mon->n_peers);
	for (uint32_t i = 0; i < nq; i++)
		fprintf(o->text_f, "%s%u", i ? "," : " ", q[i]);
	fprintf(o->text_f, ", leader mon.%u\n    osd: %u osds: %u up, %u in\n", leader, m->n_osds,
		up, in);
	fprintf(o->text_f, "\n  data:\n    epoch:   %" PRIu64 "\n    pools:   %u pools, %u pgs\n"
			   "    volumes: %u\n",
		m->epoch, m->n_pools, total, m->n_vols);
	if (total) {
		fprintf(o->text_f, "    pgs:    ");
		for (uint32_t s = 0; s < ph.n; s++)
			fprintf(o->text_f, "%s%u %s\n", s ? "             " : " ", ph.st[s].count,
				ph.st[s].state);
		if (ph.other)
			fprintf(o->text_f, "             %u in other states\n", ph.other);
		fprintf(o->text_f, "             (%u of %u reported by their primary)\n",
			ph.n_reported, total);
	}
	return 0;
}

static int
cmd_mon_ls(struct mon *mon, const Tessera__AdminCommand *a, struct admin_out *o)
{
	uint32_t q[MON_MAX_PEERS], nq = mon_raft_quorum(mon, q);
	const struct mon_addr *la;
	uint32_t leader = mon_raft_leader(mon, &la);

	mon_json_obj_begin(&o->j, NULL);
	mon_json_u64(&o->j, "leader", leader);
	mon_json_arr_begin(&o->j, "mons");
	fprintf(o->text_f, "%-4s %-24s %-24s %s\n", "ID", "ADDR", "RAFT", "STATE");
	for (uint32_t i = 0; i < mon->n_peers; i++) {
		const struct mon_peer *p = &mon->peers[i];
		char addr[96];
		bool inq = in_list(q, nq, p->id);

		snprintf(addr, sizeof(addr), "%s:%u", p->addr.host, p->addr.port);
		mon_json_obj_begin(&o->j, NULL);
		mon_json_u64(&o->j, "id", p->id);
		mon_json_str(&o->j, "addr", addr);
		mon_json_str(&o->j, "raft_addr", p->raft_str);
		mon_json_bool(&o->j, "leader", p->id == leader);
		mon_json_bool(&o->j, "in_quorum", inq);
		mon_json_obj_end(&o->j);
		fprintf(o->text_f, "%-4u %-24s %-24s %s\n", p->id, addr, p->raft_str,
			p->id == leader ? "leader" : inq ? "peon" : "out of quorum");
	}
	mon_json_arr_end(&o->j);
	mon_json_obj_end(&o->j);
	return 0;
}

static void
json_osd(struct mon *mon, struct mon_json *j, const struct mon_osd *x)
{
	struct mon_osd_live *l = mon_live_get(mon, x->id, false);
	char addr[96];

	mon_json_obj_begin(j, NULL);
	mon_json_u64(j, "id", x->id);
	mon_json_str(j, "uuid", x->uuid);
	mon_json_str(j, "host", x->host);
	mon_json_str(j, "failure_domain", x->failure_domain);
	mon_json_bool(j, "up", x->up);
	mon_json_bool(j, "in", x->in);
	mon_json_double(j, "weight", x->weight);
	mon_json_u64(j, "device_bytes", l && l->device_bytes ? l->device_bytes : x->device_bytes);
	mon_json_u64(j, "used_bytes", l ? l->used_bytes : x->used_bytes);
	mon_json_u64(j, "up_since_epoch", x->up_since_epoch);
	mon_json_u64(j, "down_at_us", x->down_at_us);
	if (l && x->up)
		mon_json_u64(j, "last_heartbeat_us", l->last_hb_real_us);
	mon_json_arr_begin(j, "reactors");
	for (uint32_t i = 0; i < x->n_reactors; i++) {
		snprintf(addr, sizeof(addr), "%s:%u", x->reactors[i].host, x->reactors[i].port);
		mon_json_str(j, NULL, addr);
	}
	mon_json_arr_end(j);
	mon_json_obj_end(j);
}

static int
cmd_osd_ls(struct mon *mon, const Tessera__AdminCommand *a, struct admin_out *o)
{
	const struct mon_map *m = mon->map;

	mon_json_obj_begin(&o->j, NULL);
	mon_json_u64(&o->j, "epoch", m->epoch);
	mon_json_arr_begin(&o->j, "osds");
	fprintf(o->text_f, "%-6s %-16s %-5s %-4s %-8s %-10s %s\n", "ID", "HOST", "UP", "IN",
		"WEIGHT", "REACTORS", "UUID");
	for (uint32_t i = 0; i < m->n_osds; i++) {
		const struct mon_osd *x = &m->osds[i];

		json_osd(mon, &o->j, x);
		fprintf(o->text_f, "%-6u %-16s %-5s %-4s %-8.3f %-10u %s\n", x->id, x->host,
			x->up ? "up" : "down", x->in ? "in" : "out", x->weight, x->n_reactors,
			x->uuid);
	}
	mon_json_arr_end(&o->j);
	mon_json_obj_end(&o->j);
	return 0;
}

/* osd perf [ID]: the perf counters of the last heartbeats (mon_osdperf.h). */
static int
cmd_osd_perf(struct mon *mon, const Tessera__AdminCommand *a, struct admin_out *o)
{
	const struct mon_map *m = mon->map;
	const char *id = arg(a, "id");
	uint64_t now = mon_now_mono_us();
	long want = -1;
	char *end;

	if (id && *id) {
		errno = 0;
		want = strtol(id, &end, 10);
		if (errno || *end || want < 0 || want > UINT32_MAX ||
		    !mon_map_osd(m, (uint32_t)want)) {
			snprintf(o->err, sizeof(o->err), "osd '%s' does not exist", id);
			return -ENOENT;
		}
	}
	mon_json_obj_begin(&o->j, NULL);
	mon_json_u64(&o->j, "epoch", m->epoch);
	mon_json_arr_begin(&o->j, "osds");
	mon_osdperf_text_header(o->text_f);
	for (uint32_t i = 0; i < m->n_osds; i++) {
		const struct mon_osd *x = &m->osds[i];

		if (want >= 0 && x->id != (uint32_t)want)
			continue;
		mon_osdperf_emit(mon_osdperf_get(&mon->osdperf, x->id), x->id, x->up, now, &o->j,
				 o->text_f);
	}
	mon_json_arr_end(&o->j);
	mon_json_obj_end(&o->j);
	fprintf(o->text_f, "OPS, BYTES, ERR and latencies since each OSD started; IOPS over its "
			   "last heartbeat interval; QD: ops in flight.\n");
	return 0;
}

static int
cmd_osd_tree(struct mon *mon, const Tessera__AdminCommand *a, struct admin_out *o)
{
	const struct mon_map *m = mon->map;
	bool *done = calloc(m->n_osds + 1, sizeof(*done));

	if (!done)
		return -ENOMEM;
	mon_json_obj_begin(&o->j, NULL);
	mon_json_arr_begin(&o->j, "domains");
	fprintf(o->text_f, "%-8s %-10s %-24s %-6s %s\n", "ID", "WEIGHT", "NAME", "STATUS",
		"IN");
	for (uint32_t i = 0; i < m->n_osds; i++) {
		const char *dom = m->osds[i].failure_domain;
		double w = 0;

		if (done[i])
			continue;
		for (uint32_t k = i; k < m->n_osds; k++) {
			if (strcmp(m->osds[k].failure_domain, dom) == 0)
				w += m->osds[k].weight;
		}
		mon_json_obj_begin(&o->j, NULL);
		mon_json_str(&o->j, "name", dom);
		mon_json_double(&o->j, "weight", w);
		mon_json_arr_begin(&o->j, "osds");
		fprintf(o->text_f, "%-8s %-10.3f domain %s\n", "-", w, dom);
		for (uint32_t k = i; k < m->n_osds; k++) {
			const struct mon_osd *x = &m->osds[k];
			char name[32];

			if (done[k] || strcmp(x->failure_domain, dom))
				continue;
			done[k] = true;
			json_osd(mon, &o->j, x);
			snprintf(name, sizeof(name), "  osd.%u", x->id);
			fprintf(o->text_f, "%-8u %-10.3f %-24s %-6s %s\n", x->id, x->weight, name,
				x->up ? "up" : "down", x->in ? "in" : "out");
		}
		mon_json_arr_end(&o->j);
		mon_json_obj_end(&o->j);
	}
	mon_json_arr_end(&o->j);
	mon_json_obj_end(&o->j);
	free(done);
	return 0;
}

static int
cmd_pool_ls(struct mon *mon, const Tessera__AdminCommand *a, struct admin_out *o)
{
	const struct mon_map *m = mon->map;

	mon_json_obj_begin(&o->j, NULL);
	mon_json_arr_begin(&o->j, "pools");
	fprintf(o->text_f, "%-6s %-24s %-5s %-9s %s\n", "ID", "NAME", "SIZE", "MIN_SIZE",
		"PG_COUNT");
	for (uint32_t i = 0; i < m->n_pools; i++) {
		const struct mon_pool *p = &m->pools[i];

		mon_json_obj_begin(&o->j, NULL);
		mon_json_u64(&o->j, "id", p->id);
		mon_json_str(&o->j, "name", p->name);
		mon_json_u64(&o->j, "size", p->size);
		mon_json_u64(&o->j, "min_size", p->min_size);
		mon_json_u64(&o->j, "pg_count", p->pg_count);
		mon_json_obj_end(&o->j);
		fprintf(o->text_f, "%-6u %-24s %-5u %-9u %u\n", p->id, p->name, p->size,
			p->min_size, p->pg_count);
	}
	mon_json_arr_end(&o->j);
	mon_json_obj_end(&o->j);
	return 0;
}

static void
emit_pg(struct mon *mon, const struct mon_map *m, struct admin_out *o, const struct mon_pool *p,
	uint32_t s, bool obj_only)
{
	const struct mon_pg *pg = &p->pgs[s];
	char id[32], acting[128] = "[";
	size_t off = 1;
	bool rep;
	const char *state = mon_pgstats_state(pgstats_for(mon, m), p, s, mon_now_mono_us(),
					      mon_pg_report_max_age_us(mon), &rep);

	snprintf(id, sizeof(id), DF_PG, p->id, s);
	for (uint32_t k = 0; k < pg->n_acting; k++)
		off += (size_t)snprintf(acting + off, sizeof(acting) - off, "%s%u", k ? "," : "",
					pg->acting[k]);
	snprintf(acting + off, sizeof(acting) - off, "]");
	mon_json_obj_begin(&o->j, NULL);
	mon_json_str(&o->j, "pgid", id);
	mon_json_u64(&o->j, "pool", p->id);
	mon_json_u64(&o->j, "seed", s);
	mon_json_arr_begin(&o->j, "acting");
	for (uint32_t k = 0; k < pg->n_acting; k++)
		mon_json_u64(&o->j, NULL, pg->acting[k]);
	mon_json_arr_end(&o->j);
	if (pg->n_acting)
		mon_json_u64(&o->j, "primary", pg->acting[0]);
	else
		mon_json_i64(&o->j, "primary", -1);
	mon_json_str(&o->j, "state", state);
	mon_json_str(&o->j, "state_source", rep ? "reported" : "map");
	mon_json_obj_end(&o->j);
	if (obj_only)
		fprintf(o->text_f, "pg %s -> acting %s primary %s%d state %s%s\n", id, acting,
			pg->n_acting ? "osd." : "", pg->n_acting ? (int)pg->acting[0] : -1, state,
			rep ? "" : " (from the map)");
	else
		fprintf(o->text_f, "%-10s %-20s %-8d %s%s\n", id, acting,
			pg->n_acting ? (int)pg->acting[0] : -1, state, rep ? "" : " *");
}

static int
cmd_pg_ls(struct mon *mon, const Tessera__AdminCommand *a, struct admin_out *o)
{
	const struct mon_map *m = mon->map;
	const char *pool = arg(a, "pool");
	const struct mon_pool *only = NULL;

	if (pool && *pool) {
		only = mon_map_pool_by_name(m, pool);
		if (!only) {
			snprintf(o->err, sizeof(o->err), "pool '%s' does not exist", pool);
			return -ENOENT;
		}
	}
	mon_json_obj_begin(&o->j, NULL);
	mon_json_u64(&o->j, "epoch", m->epoch);
	mon_json_arr_begin(&o->j, "pgs");
	fprintf(o->text_f, "%-10s %-20s %-8s %s\n", "PG", "ACTING", "PRIMARY", "STATE");
	for (uint32_t i = 0; i < m->n_pools; i++) {
		const struct mon_pool *p = &m->pools[i];

		if (only && only != p)
			continue;
		for (uint32_t s = 0; p->pgs && s < p->pg_count; s++)
			emit_pg(mon, m, o, p, s, false);
	}
	mon_json_arr_end(&o->j);
	mon_json_obj_end(&o->j);
	fprintf(o->text_f, "* state computed from the map (no fresh report from the primary)\n");
	return 0;
}

static int
cmd_pg_map(struct mon *mon, const Tessera__AdminCommand *a, struct admin_out *o)
{
	const char *id = arg(a, "pgid");
	unsigned long pool, seed;
	const struct mon_pool *p;
	char *end;

	if (!id || !*id) {
		snprintf(o->err, sizeof(o->err), "missing argument 'pgid' (POOL.SEED, seed in hex)");
		return -EINVAL;
	}
	errno = 0;
	pool = strtoul(id, &end, 10);
	if (errno || end == id || *end != '.' || !end[1]) {
		snprintf(o->err, sizeof(o->err), "bad pgid '%s': expected POOL.SEED (e.g. 1.1f)",
			 id);
		return -EINVAL;
	}
	seed = strtoul(end + 1, &end, 16);
	if (errno || *end || pool > UINT32_MAX) {
		snprintf(o->err, sizeof(o->err), "bad pgid '%s': expected POOL.SEED (e.g. 1.1f)",
			 id);
		return -EINVAL;
	}
	p = mon_map_pool(mon->map, (uint32_t)pool);
	if (!p || seed >= p->pg_count || !p->pgs) {
		snprintf(o->err, sizeof(o->err), "pg %s does not exist", id);
		return -ENOENT;
	}
	emit_pg(mon, mon->map, o, p, (uint32_t)seed, true);
	return 0;
}

static int
cmd_map(struct mon *mon, const Tessera__AdminCommand *a, struct admin_out *o)
{
	const char *es = arg(a, "epoch");
	unsigned long long e = 0;
	const struct mon_map *m;
	struct mon_pg_hist ph;
	char *end;

	if (es && *es) {
		errno = 0;
		e = strtoull(es, &end, 10);
		if (errno || *end || es[0] == '-') {
			snprintf(o->err, sizeof(o->err), "bad epoch '%s'", es);
			return -EINVAL;
		}
	}
	m = mon_map_at(mon, e);
	if (!m) {
		snprintf(o->err, sizeof(o->err), "epoch %llu is %s", e,
			 e > mon->map->epoch ? "in the future" : "no longer kept");
		return -ENOENT;
	}
	pg_hist(mon, m, &ph);
	mon_json_obj_begin(&o->j, NULL);
	mon_json_u64(&o->j, "epoch", m->epoch);
	mon_json_str(&o->j, "fsid", m->fsid);
	mon_json_u64(&o->j, "created_us", m->created_us);
	mon_json_arr_begin(&o->j, "osds");
	for (uint32_t i = 0; i < m->n_osds; i++)
		json_osd(mon, &o->j, &m->osds[i]);
	mon_json_arr_end(&o->j);
	mon_json_arr_begin(&o->j, "pools");
	for (uint32_t i = 0; i < m->n_pools; i++) {
		mon_json_obj_begin(&o->j, NULL);
		mon_json_u64(&o->j, "id", m->pools[i].id);
		mon_json_str(&o->j, "name", m->pools[i].name);
		mon_json_u64(&o->j, "size", m->pools[i].size);
		mon_json_u64(&o->j, "min_size", m->pools[i].min_size);
		mon_json_u64(&o->j, "pg_count", m->pools[i].pg_count);
		mon_json_obj_end(&o->j);
	}
	mon_json_arr_end(&o->j);
	mon_json_arr_begin(&o->j, "pgs");
	for (uint32_t i = 0; i < m->n_pools; i++) {
		for (uint32_t s = 0; m->pools[i].pgs && s < m->pools[i].pg_count; s++)
			emit_pg(mon, m, o, &m->pools[i], s, true);
	}
	mon_json_arr_end(&o->j);
	mon_json_arr_begin(&o->j, "volumes");
	for (uint32_t i = 0; i < m->n_vols; i++) {
		mon_json_obj_begin(&o->j, NULL);
		mon_json_u64(&o->j, "id", m->vols[i].id);
		mon_json_str(&o->j, "name", m->vols[i].name);
		mon_json_u64(&o->j, "pool", m->vols[i].pool);
		mon_json_u64(&o->j, "size", m->vols[i].size);
		mon_json_u64(&o->j, "object_size", m->vols[i].object_size);
		mon_json_obj_end(&o->j);
	}
	mon_json_arr_end(&o->j);
	mon_json_obj_end(&o->j);
	/* The text is a summary; the PG lines emitted above come first. */
	fprintf(o->text_f, "epoch %llu fsid %s: %u osds, %u pools, %u pgs, %u volumes\n",
		(unsigned long long)m->epoch, m->fsid, m->n_osds, m->n_pools, ph.total, m->n_vols);
	return 0;
}

/* ---- map changes ---------------------------------------------------------- */

static void
on_change_done(void *ctx, int rc, uint64_t epoch)
{
	struct admin_req *r = ctx;
	char json[128], text[192];

	if (mon_conn_is_open(r->conn)) {
		snprintf(json, sizeof(json), "{\"epoch\":%llu}", (unsigned long long)epoch);
		snprintf(text, sizeof(text), "%s (epoch %llu)\n", r->what,
			 (unsigned long long)epoch);
		send_admin(r->conn, r->tag, rc, rc < 0 ? rt_strerror(rc) : NULL, rc ? "" : json,
			   rc ? "" : text);
	}
	mon_conn_put(r->conn);
	free(r);
}

struct change_def {
	const char *admin;  /* osdctl command */
	const char *map;    /* map command */
	const char *const *keys; /* argument names passed through */
};

static const char *const k_id[] = { "id", NULL };
static const char *const k_reweight[] = { "id", "weight", NULL };
static const char *const k_pool_create[] = { "name", "size", "min_size", "pg_count", NULL };
static const char *const k_pool_set[] = { "name", "key", "value", NULL };
static const char *const k_name[] = { "name", NULL };

static const struct change_def changes[] = {
	{ "osd out", "osd out", k_id },
	{ "osd in", "osd in", k_id },
	{ "osd down", "osd down", k_id },
	{ "osd rm", "osd rm", k_id },
	{ "osd reweight", "osd reweight", k_reweight },
	{ "pool create", "pool create", k_pool_create },
	{ "pool set", "pool set", k_pool_set },
	{ "pool rm", "pool rm", k_name },
};

static int
run_change(struct mon *mon, struct mon_conn *c, const struct frame_hdr *hdr,
	   const Tessera__AdminCommand *a, const struct change_def *d, char *err, size_t err_len)
{
	struct admin_req *r;
	struct mon_cmd cmd;
	char now[32];
	int rc;

	if (strcmp(d->admin, "pool rm") == 0) {
		const char *name = arg(a, "name"), *confirm = arg(a, "confirm");

		if (!name || !confirm || strcmp(name, confirm) != 0) {
			snprintf(err, err_len, "pool rm needs the pool name repeated as "
					       "confirmation (osdctl: --yes-i-really-mean-it)");
			return -EPERM;
		}
	}
	mon_cmd_init(&cmd, d->map);
	for (const char *const *k = d->keys; *k; k++) {
		const char *v = arg(a, *k);

		if (v)
			mon_cmd_add(&cmd, *k, v);
	}
	if (strcmp(d->map, "osd down") == 0) {
		snprintf(now, sizeof(now), "%" PRIu64, mon_now_real_us());
		mon_cmd_add(&cmd, "now_us", now);
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->mon = mon;
	r->conn = c;
	r->tag = hdr->tag;
	snprintf(r->what, sizeof(r->what), "%s %s: done", d->admin,
		 cmd.n_args ? cmd.args[0].val : "");
	mon_conn_get(c);
	rc = mon_raft_propose(mon, &cmd, on_change_done, r, err, err_len);
	if (rc < 0) {
		mon_conn_put(c);
		free(r);
	}
	return rc;
}

struct query_def {
	const char *name;
	int (*fn)(struct mon *mon, const Tessera__AdminCommand *a, struct admin_out *o);
};

static const struct query_def queries[] = {
	{ "status", cmd_status },   { "health", cmd_status }, { "mon ls", cmd_mon_ls },
	{ "osd ls", cmd_osd_ls },   { "osd tree", cmd_osd_tree }, { "pool ls", cmd_pool_ls },
	{ "pg ls", cmd_pg_ls },     { "pg map", cmd_pg_map },  { "map", cmd_map },
	{ "osd perf", cmd_osd_perf },
};

void
mon_admin_dispatch(struct mon_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg)
{
	struct mon *mon = mon__self;
	const Tessera__AdminCommand *a = (const Tessera__AdminCommand *)msg;
	struct admin_out o = { 0 };
	char err[256] = "";
	int rc;

	if (!a->command || !*a->command) {
		send_admin(c, hdr->tag, -EINVAL, "empty command", NULL, NULL);
		return;
	}
	if (mon_raft_is_raw_leader(mon) && !mon->leader_ready) {
		send_admin(c, hdr->tag, -EAGAIN, "the new leader is catching up; retry", NULL,
			   NULL);
		return;
	}
	if (!mon_raft_is_leader(mon)) {
		const struct mon_addr *la;
		uint32_t id = mon_raft_leader(mon, &la);

		if (la)
			snprintf(err, sizeof(err), "mon.%u is not the leader; leader is mon.%u at "
						   "%s:%u",
				 mon->peers[mon->self].id, id, la->host, la->port);
		else
			snprintf(err, sizeof(err), "mon.%u is not the leader and no leader is known "
						   "(no quorum?)",
				 mon->peers[mon->self].id);
		send_admin(c, hdr->tag, la ? -RT_ENOTLEADER : -RT_ENOQUORUM, err, NULL, NULL);
		return;
	}
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		if (strcmp(changes[i].admin, a->command) == 0) {
			rc = run_change(mon, c, hdr, a, &changes[i], err, sizeof(err));
			if (rc < 0)
				send_admin(c, hdr->tag, rc, err[0] ? err : rt_strerror(rc), NULL,
					   NULL);
			return;
		}
	}
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		if (strcmp(queries[i].name, a->command) != 0)
			continue;
		o.json_f = open_memstream(&o.json, &o.json_len);
		o.text_f = open_memstream(&o.text, &o.text_len);
		if (!o.json_f || !o.text_f) {
			rc = -ENOMEM;
		} else {
			mon_json_init(&o.j, o.json_f);
			rc = queries[i].fn(mon, a, &o);
		}
		if (o.json_f)
			fclose(o.json_f);
		if (o.text_f)
			fclose(o.text_f);
		send_admin(c, hdr->tag, rc, rc < 0 ? (o.err[0] ? o.err : rt_strerror(rc)) : NULL,
			   rc < 0 ? NULL : o.json, rc < 0 ? NULL : o.text);
		free(o.json);
		free(o.text);
		return;
	}
	snprintf(err, sizeof(err), "unknown command '%s'", a->command);
	send_admin(c, hdr->tag, -EOPNOTSUPP, err, NULL, NULL);
}
