/*
 * Failure detection, run by the leader only.
 *
 * Heartbeats: each OSD sends OsdHeartbeat every heartbeat interval. The
 * leader's tick (every 1/10 of the grace, at most 100 ms) proposes "osd down"
 * for an up OSD silent for longer than --osd-grace, so an OSD is marked down
 * within grace + one tick of its last heartbeat, and "osd out" (auto) for an
 * OSD down for longer than --osd-out-after, which remaps its PGs.
 *
 * Peer reports: an OsdFailureReport counts only from an up reporter about
 * another OSD, and a target goes down only once --min-reporters distinct
 * reporters agree within one grace period, so a single bad reporter cannot
 * flap the cluster. A heartbeat from the target clears the reports.
 *
 * After an election the new leader knows no heartbeat times: it gives every
 * OSD a fresh grace period (mon_live_reset).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mon.h"
#include "mon_health.h"
#include "rt_err.h"
#include "rt_log.h"

uint64_t
mon_now_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
mon_now_real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct mon_osd_live *
mon_live_get(struct mon *mon, uint32_t osd_id, bool create)
{
	struct mon_osd_live *l;

	for (uint32_t i = 0; i < mon->n_live; i++) {
		if (mon->live[i].id == osd_id)
			return &mon->live[i];
	}
	if (!create)
		return NULL;
	if (mon->n_live == mon->cap_live) {
		uint32_t cap = mon->cap_live ? mon->cap_live * 2 : 16;
		struct mon_osd_live *nl = realloc(mon->live, cap * sizeof(*nl));

		if (!nl)
			return NULL;
		mon->live = nl;
		mon->cap_live = cap;
	}
	l = &mon->live[mon->n_live++];
	memset(l, 0, sizeof(*l));
	l->id = osd_id;
	l->last_hb_mono_us = mon_now_mono_us();
	l->last_hb_real_us = mon_now_real_us();
	return l;
}

void
mon_live_reset(struct mon *mon)
{
	uint64_t now = mon_now_mono_us();

	for (uint32_t i = 0; i < mon->n_live; i++) {
		mon->live[i].last_hb_mono_us = now;
		mon->live[i].down_pending = false;
		mon->live[i].out_pending = false;
		mon->live[i].n_reports = 0;
	}
	/* PG reports were made to another leader (or long ago): wait for new ones. */
	mon_pgstats_clear(&mon->pgstats);
	for (uint32_t i = 0; i < mon->map->n_osds; i++)
		mon_live_get(mon, mon->map->osds[i].id, true);
}

void
mon_osd_heartbeat(struct mon *mon, uint32_t osd_id, uint64_t used_bytes, uint64_t device_bytes,
		  uint64_t epoch)
{
	struct mon_osd_live *l = mon_live_get(mon, osd_id, true);

	if (!l)
		return;
	l->last_hb_mono_us = mon_now_mono_us();
	l->last_hb_real_us = mon_now_real_us();
	l->used_bytes = used_bytes;
	l->device_bytes = device_bytes;
	l->hb_epoch = epoch;
	l->n_reports = 0;
}

uint64_t
mon_pg_report_max_age_us(const struct mon *mon)
{
	return mon->conf.osd_grace_us;
}

int
mon_osd_pg_report(struct mon *mon, uint32_t osd_id, uint64_t epoch, uint32_t pool, uint32_t seed,
		  const char *state)
{
	return mon_pgstats_report(&mon->pgstats, mon->map, mon_map_at(mon, epoch), osd_id, epoch,
				  pool, seed, state, mon_now_mono_us());
}

int
mon_osd_failure_report(struct mon *mon, uint32_t reporter, uint32_t target)
{
	const struct mon_osd *r = mon_map_osd(mon->map, reporter);
	const struct mon_osd *t = mon_map_osd(mon->map, target);
	struct mon_osd_live *l;
	uint64_t now = mon_now_mono_us();
	uint32_t n = 0;

	if (reporter == target)
		return -EINVAL;
	if (!r || !t)
		return -ENOENT;
	if (!r->up)
		return -EPERM; /* a down OSD's opinion does not count */
	if (!t->up)
		return 0;
	l = mon_live_get(mon, target, true);
	if (!l)
		return -ENOMEM;
	/* Keep one fresh report per reporter; drop those older than the grace. */
	for (uint32_t i = 0; i < l->n_reports; i++) {
		if (l->reports[i].reporter == reporter ||
		    now - l->reports[i].at_mono_us > mon->conf.osd_grace_us)
			continue;
		l->reports[n++] = l->reports[i];
	}
	if (n < MON_MAX_REPORTS) {
		l->reports[n].reporter = reporter;
		l->reports[n].at_mono_us = now;
		n++;
	}
	l->n_reports = n;
	rt_info(RT_SS_MON, DF_OSD " reports " DF_OSD " unreachable (%u/%lld reporters)", reporter,
		target, n, (long long)mon->conf.min_reporters);
	return 0;
}

struct osd_prop {
	struct mon *mon;
	uint32_t id;
	bool out;
};

static void
on_osd_prop_done(void *ctx, int rc, uint64_t epoch)
{
	struct osd_prop *p = ctx;
	struct mon_osd_live *l = mon_live_get(p->mon, p->id, false);

	if (l) {
		if (p->out)
			l->out_pending = false;
		else
			l->down_pending = false;
	}
	if (rc < 0)
		rt_warn(RT_SS_MON, "marking " DF_OSD " %s failed: " DF_RC, p->id,
			p->out ? "out" : "down", DP_RC(rc));
	free(p);
}

static void
propose_osd(struct mon *mon, struct mon_osd_live *l, bool out)
{
	struct osd_prop *p = calloc(1, sizeof(*p));
	char id[16], now[32], err[256];
	struct mon_cmd cmd;
	int rc;

	if (!p)
		return;
	p->mon = mon;
	p->id = l->id;
	p->out = out;
	snprintf(id, sizeof(id), "%u", l->id);
	snprintf(now, sizeof(now), "%llu", (unsigned long long)mon_now_real_us());
	mon_cmd_init(&cmd, out ? "osd out" : "osd down");
	mon_cmd_add(&cmd, "id", id);
	if (out)
		mon_cmd_add(&cmd, "auto", "1");
	else
		mon_cmd_add(&cmd, "now_us", now);
	rc = mon_raft_propose(mon, &cmd, on_osd_prop_done, p, err, sizeof(err));
	if (rc < 0) {
		rt_warn(RT_SS_MON, "cannot propose %s of " DF_OSD ": %s", cmd.name, l->id, err);
		free(p);
		return;
	}
	if (out)
		l->out_pending = true;
	else
		l->down_pending = true;
}

void
mon_osd_tick(struct mon *mon)
{
	uint64_t now = mon_now_mono_us(), real = mon_now_real_us();

	if (!mon_raft_is_leader(mon))
		return;
	for (uint32_t i = 0; i < mon->map->n_osds; i++) {
		const struct mon_osd *o = &mon->map->osds[i];
		struct mon_osd_live *l = mon_live_get(mon, o->id, true);

		if (!l)
			return;
		if (o->up && !l->down_pending) {
			uint64_t silent = now - l->last_hb_mono_us;
			uint32_t fresh = 0;

			for (uint32_t k = 0; k < l->n_reports; k++)
				fresh += now - l->reports[k].at_mono_us <= mon->conf.osd_grace_us;
			if (silent > mon->conf.osd_grace_us) {
				rt_warn(RT_SS_MON,
					"marking " DF_OSD " down: no heartbeat for %llu ms "
					"(grace %llu ms)",
					o->id, (unsigned long long)(silent / 1000),
					(unsigned long long)(mon->conf.osd_grace_us / 1000));
				propose_osd(mon, l, false);
			} else if (fresh >= (uint32_t)mon->conf.min_reporters) {
				rt_warn(RT_SS_MON, "marking " DF_OSD " down: %u peers report it "
						   "unreachable",
					o->id, fresh);
				propose_osd(mon, l, false);
			}
		} else if (!o->up && o->in && !l->out_pending && o->down_at_us &&
			   real > o->down_at_us &&
			   real - o->down_at_us > mon->conf.osd_out_after_us) {
			rt_warn(RT_SS_MON, "marking " DF_OSD " out: down for %llu s", o->id,
				(unsigned long long)((real - o->down_at_us) / 1000000));
			propose_osd(mon, l, true);
		}
	}
}

void
mon_health_now(struct mon *mon, struct mon_health *h)
{
	struct mon_health_in in = { 0 };
	uint64_t *used = calloc(mon->map->n_osds + 1, sizeof(*used));
	uint32_t ids[MON_MAX_PEERS];

	in.map = mon->map;
	in.n_mons = mon->n_peers;
	in.n_mons_quorum = mon_raft_quorum(mon, ids);
	in.nearfull_ratio = (double)mon->conf.nearfull_pct / 100.0;
	in.full_ratio = (double)mon->conf.full_pct / 100.0;
	mon->pgstats.hist = mon->hist;
	mon->pgstats.n_hist = MON_HISTORY;
	mon->pgstats.cur_epoch = mon->map->epoch;
	in.pgstats = &mon->pgstats;
	in.now_us = mon_now_mono_us();
	in.pg_max_age_us = mon_pg_report_max_age_us(mon);
	if (used) {
		for (uint32_t i = 0; i < mon->map->n_osds; i++) {
			struct mon_osd_live *l = mon_live_get(mon, mon->map->osds[i].id, false);

			used[i] = l ? l->used_bytes : mon->map->osds[i].used_bytes;
		}
		in.osd_used_bytes = used;
	}
	mon_health_compute(&in, h);
	free(used);
}
