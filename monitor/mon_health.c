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

/* "3 down, 1 incomplete": the states of one class with their counts. */
static void
pg_detail(const struct mon_pg_hist *hist, enum mon_pg_class cls, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (uint32_t k = 0; k < hist->n && off < len; k++) {
		if (mon_pg_state_class(hist->st[k].state) != cls)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%u %s", off ? ", " : "",
					hist->st[k].count, hist->st[k].state);
	}
	if (hist->other && off < len)
		snprintf(buf + off, len - off, "%s...", off ? ", " : "");
}

void
mon_health_compute(const struct mon_health_in *in, struct mon_health *h)
{
	const struct mon_map *m = in->map;
	uint32_t down = 0, down_in = 0, nearfull = 0, full = 0;
	struct mon_pg_hist hist;
	char detail[128];

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

	mon_pgstats_hist(in->pgstats, m, in->now_us, in->pg_max_age_us, &hist);
	if (hist.by_class[MON_PGC_ERR]) {
		pg_detail(&hist, MON_PGC_ERR, detail, sizeof(detail));
		add(h, MON_HEALTH_ERR, "PG_AVAILABILITY", "%u pgs inactive (%s)",
		    hist.by_class[MON_PGC_ERR], detail);
	}
	if (hist.by_class[MON_PGC_WARN]) {
		pg_detail(&hist, MON_PGC_WARN, detail, sizeof(detail));
		add(h, MON_HEALTH_WARN, "PG_DEGRADED", "%u pgs not clean (%s)",
		    hist.by_class[MON_PGC_WARN], detail);
	}
}
