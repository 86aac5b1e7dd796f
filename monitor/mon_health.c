/* Health rules; see mon_health.h. */
#include "mon_health.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *
mon_health_level_name(enum mon_health_level l)
{
	switch (l) {
	case MON_HEALTH_OK:
		return "HEALTH_OK";
	case MON_HEALTH_WARN:
		return "HEALTH_WARN";
	default:
		return "HEALTH_ERR";
	}
}

__attribute__((format(printf, 4, 5))) static void
add(struct mon_health *h, enum mon_health_level level, const char *code, const char *fmt, ...)
{
	struct mon_health_check *c;
	va_list ap;

	if (level > h->level)
		h->level = level;
	if (h->n_checks >= MON_HEALTH_MAX_CHECKS)
		return;
	c = &h->checks[h->n_checks++];
	c->level = level;
	snprintf(c->code, sizeof(c->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
}

void
mon_health_compute(const struct mon_health_in *in, struct mon_health *h)
{
	const struct mon_map *m = in->map;
	uint32_t down = 0, down_in = 0, nearfull = 0, full = 0;
	uint32_t st[MON_PG__COUNT] = { 0 };

	memset(h, 0, sizeof(*h));
	h->level = MON_HEALTH_OK;

	if (in->n_mons && in->n_mons_quorum < in->n_mons) {
		add(h, in->n_mons_quorum * 2 > in->n_mons ? MON_HEALTH_WARN : MON_HEALTH_ERR,
		    "MON_DOWN", "%u/%u monitors out of quorum", in->n_mons - in->n_mons_quorum,
		    in->n_mons);
	}
	for (uint32_t i = 0; i < m->n_osds; i++) {
		const struct mon_osd *o = &m->osds[i];
		uint64_t used = in->osd_used_bytes ? in->osd_used_bytes[i] : o->used_bytes;

		if (!o->up) {
			down++;
			if (o->in)
				down_in++;
		}
		if (o->device_bytes) {
			double r = (double)used / (double)o->device_bytes;

			if (in->full_ratio > 0 && r >= in->full_ratio)
				full++;
			else if (in->nearfull_ratio > 0 && r >= in->nearfull_ratio)
				nearfull++;
		}
	}
	if (down)
		add(h, MON_HEALTH_WARN, "OSD_DOWN", "%u/%u osds down (%u still in)", down,
		    m->n_osds, down_in);
	if (full)
		add(h, MON_HEALTH_ERR, "OSD_FULL", "%u osds full", full);
	if (nearfull)
		add(h, MON_HEALTH_WARN, "OSD_NEARFULL", "%u osds nearly full", nearfull);
	if (m->n_pools && m->n_osds == 0)
		add(h, MON_HEALTH_WARN, "OSD_NONE", "pools exist but no osd has booted");

	for (uint32_t p = 0; p < m->n_pools; p++) {
		const struct mon_pool *pool = &m->pools[p];

		for (uint32_t s = 0; pool->pgs && s < pool->pg_count; s++)
			st[mon_pg_state_of(pool, &pool->pgs[s])]++;
	}
	if (st[MON_PG_DOWN] || st[MON_PG_INACTIVE])
		add(h, MON_HEALTH_ERR, "PG_AVAILABILITY",
		    "%u pgs inactive (%u down, %u below min_size)",
		    st[MON_PG_DOWN] + st[MON_PG_INACTIVE], st[MON_PG_DOWN], st[MON_PG_INACTIVE]);
	if (st[MON_PG_DEGRADED])
		add(h, MON_HEALTH_WARN, "PG_DEGRADED", "%u pgs undersized+degraded",
		    st[MON_PG_DEGRADED]);
}
