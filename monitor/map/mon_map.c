/* The cluster map: lifetime, lookups, sorted inserts, remapping. See mon_map.h. */
#include "mon_map.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon_placement.h"

struct mon_map *
mon_map_create(void)
{
	struct mon_map *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->next_osd_id = 0;
	m->next_pool_id = 1;
	m->next_volume_id = 1;
	return m;
}

static void
osd_fini(struct mon_osd *o)
{
	free(o->reactors);
	o->reactors = NULL;
	o->n_reactors = 0;
}

static void
vol_fini(struct mon_volume *v)
{
	free(v->snaps);
	v->snaps = NULL;
	v->n_snaps = 0;
}

void
mon_map_destroy(struct mon_map **mp)
{
	struct mon_map *m = *mp;

	if (!m)
		return;
	for (uint32_t i = 0; i < m->n_osds; i++)
		osd_fini(&m->osds[i]);
	for (uint32_t i = 0; i < m->n_pools; i++)
		free(m->pools[i].pgs);
	for (uint32_t i = 0; i < m->n_vols; i++)
		vol_fini(&m->vols[i]);
	free(m->osds);
	free(m->pools);
	free(m->vols);
	free(m);
	*mp = NULL;
}

static void *
dup_array(const void *src, size_t n, size_t elem)
{
	void *p;

	if (n == 0)
		return NULL;
	p = malloc(n * elem);
	if (p)
		memcpy(p, src, n * elem);
	return p;
}

struct mon_map *
mon_map_clone(const struct mon_map *m)
{
	struct mon_map *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	*c = *m;
	c->osds = NULL;
	c->pools = NULL;
	c->vols = NULL;
	c->n_osds = c->n_pools = c->n_vols = 0;

	if (m->n_osds) {
		c->osds = dup_array(m->osds, m->n_osds, sizeof(*m->osds));
		if (!c->osds)
			goto out_free;
		for (uint32_t i = 0; i < m->n_osds; i++)
			c->osds[i].reactors = NULL;
		c->n_osds = m->n_osds;
		for (uint32_t i = 0; i < m->n_osds; i++) {
			if (!m->osds[i].n_reactors)
				continue;
			c->osds[i].reactors = dup_array(m->osds[i].reactors, m->osds[i].n_reactors,
							sizeof(struct mon_addr));
			if (!c->osds[i].reactors) {
				c->osds[i].n_reactors = 0;
				goto out_free;
			}
		}
	}
	if (m->n_pools) {
		c->pools = dup_array(m->pools, m->n_pools, sizeof(*m->pools));
		if (!c->pools)
			goto out_free;
		for (uint32_t i = 0; i < m->n_pools; i++)
			c->pools[i].pgs = NULL;
		c->n_pools = m->n_pools;
		for (uint32_t i = 0; i < m->n_pools; i++) {
			if (!m->pools[i].pg_count || !m->pools[i].pgs)
				continue;
			c->pools[i].pgs = dup_array(m->pools[i].pgs, m->pools[i].pg_count,
						    sizeof(struct mon_pg));
			if (!c->pools[i].pgs)
				goto out_free;
		}
	}
	if (m->n_vols) {
		c->vols = dup_array(m->vols, m->n_vols, sizeof(*m->vols));
		if (!c->vols)
			goto out_free;
		for (uint32_t i = 0; i < m->n_vols; i++)
			c->vols[i].snaps = NULL;
		c->n_vols = m->n_vols;
		for (uint32_t i = 0; i < m->n_vols; i++) {
			if (!m->vols[i].n_snaps)
				continue;
			c->vols[i].snaps = dup_array(m->vols[i].snaps, m->vols[i].n_snaps,
						     sizeof(struct mon_snap));
			if (!c->vols[i].snaps) {
				c->vols[i].n_snaps = 0;
				goto out_free;
			}
		}
	}
	return c;

out_free:
	mon_map_destroy(&c);
	return NULL;
}

struct mon_osd *
mon_map_osd(const struct mon_map *m, uint32_t id)
{
	uint32_t lo = 0, hi = m->n_osds;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (m->osds[mid].id == id)
			return &m->osds[mid];
		if (m->osds[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct mon_osd *
mon_map_osd_by_uuid(const struct mon_map *m, const char *uuid)
{
	for (uint32_t i = 0; i < m->n_osds; i++) {
		if (strcmp(m->osds[i].uuid, uuid) == 0)
			return &m->osds[i];
	}
	return NULL;
}

struct mon_pool *
mon_map_pool(const struct mon_map *m, uint32_t id)
{
	for (uint32_t i = 0; i < m->n_pools; i++) {
		if (m->pools[i].id == id)
			return &m->pools[i];
	}
	return NULL;
}

struct mon_pool *
mon_map_pool_by_name(const struct mon_map *m, const char *name)
{
	for (uint32_t i = 0; i < m->n_pools; i++) {
		if (strcmp(m->pools[i].name, name) == 0)
			return &m->pools[i];
	}
	return NULL;
}

struct mon_volume *
mon_map_vol_by_name(const struct mon_map *m, const char *name)
{
	for (uint32_t i = 0; i < m->n_vols; i++) {
		if (strcmp(m->vols[i].name, name) == 0)
			return &m->vols[i];
	}
	return NULL;
}

/* Insert elem into a sorted array at index pos (grows by one). */
static int
array_insert(void **arr, uint32_t *n, size_t elem, uint32_t pos, const void *e)
{
	unsigned char *p = realloc(*arr, (size_t)(*n + 1) * elem);

	if (!p)
		return -ENOMEM;
	memmove(p + (size_t)(pos + 1) * elem, p + (size_t)pos * elem, (size_t)(*n - pos) * elem);
	memcpy(p + (size_t)pos * elem, e, elem);
	*arr = p;
	(*n)++;
	return 0;
}

static void
array_remove(void *arr, uint32_t *n, size_t elem, uint32_t pos)
{
	unsigned char *p = arr;

	memmove(p + (size_t)pos * elem, p + (size_t)(pos + 1) * elem, (size_t)(*n - pos - 1) * elem);
	(*n)--;
}

int
mon_map_osd_insert(struct mon_map *m, const struct mon_osd *o)
{
	uint32_t pos = 0;

	if (mon_map_osd(m, o->id))
		return -EEXIST;
	while (pos < m->n_osds && m->osds[pos].id < o->id)
		pos++;
	return array_insert((void **)&m->osds, &m->n_osds, sizeof(*o), pos, o);
}

void
mon_map_osd_remove(struct mon_map *m, uint32_t id)
{
	for (uint32_t i = 0; i < m->n_osds; i++) {
		if (m->osds[i].id == id) {
			osd_fini(&m->osds[i]);
			array_remove(m->osds, &m->n_osds, sizeof(*m->osds), i);
			return;
		}
	}
}

int
mon_map_pool_insert(struct mon_map *m, const struct mon_pool *p)
{
	uint32_t pos = 0;

	if (mon_map_pool(m, p->id))
		return -EEXIST;
	while (pos < m->n_pools && m->pools[pos].id < p->id)
		pos++;
	return array_insert((void **)&m->pools, &m->n_pools, sizeof(*p), pos, p);
}

void
mon_map_pool_remove(struct mon_map *m, uint32_t id)
{
	for (uint32_t i = 0; i < m->n_pools; i++) {
		if (m->pools[i].id == id) {
			free(m->pools[i].pgs);
			array_remove(m->pools, &m->n_pools, sizeof(*m->pools), i);
			return;
		}
	}
}

int
mon_map_vol_insert(struct mon_map *m, const struct mon_volume *v)
{
	uint32_t pos = 0;

	for (uint32_t i = 0; i < m->n_vols; i++) {
		if (m->vols[i].id == v->id)
			return -EEXIST;
	}
	while (pos < m->n_vols && m->vols[pos].id < v->id)
		pos++;
	return array_insert((void **)&m->vols, &m->n_vols, sizeof(*v), pos, v);
}

void
mon_map_vol_remove(struct mon_map *m, uint64_t id)
{
	for (uint32_t i = 0; i < m->n_vols; i++) {
		if (m->vols[i].id == id) {
			vol_fini(&m->vols[i]);
			array_remove(m->vols, &m->n_vols, sizeof(*m->vols), i);
			return;
		}
	}
}

/*
 * Place one pool. Plain rendezvous hashing leaves the PG count per OSD within
 * about +-25% of the mean at 256 PGs over 20 OSDs (binomial noise). A few
 * rounds of deterministic weight correction, as Ceph's reweight-by-utilization
 * does by hand, bring it near +-10%: each round multiplies an OSD's effective
 * weight by sqrt(target / actual) (clamped to [1/4, 4] of its real weight) and
 * places again. It depends only on the OSD set and the pool, so it is as
 * deterministic as the hash itself, and stays close to minimal movement
 * because the corrections are small and smooth.
 */
#define REMAP_BALANCE_ROUNDS 12
#define REMAP_BALANCE_MAX_WORK (1u << 24) /* rounds are skipped above pgs * osds */

static void
place_pool(const struct mon_pool *pool, const struct mon_placement_osd *cand, uint32_t n,
	   double *scratch, uint32_t *chosen_all, uint32_t *got_all)
{
	for (uint32_t s = 0; s < pool->pg_count; s++)
		got_all[s] = mon_placement_pg(cand, n, pool->id, s, pool->size,
					      &chosen_all[(size_t)s * MON_MAX_REPLICAS], scratch);
}

static int
remap_pool(struct mon_map *m, struct mon_pool *pool, struct mon_placement_osd *cand, uint32_t n,
	   double *scratch)
{
	uint32_t *chosen = calloc((size_t)pool->pg_count * MON_MAX_REPLICAS, sizeof(*chosen));
	uint32_t *got = calloc(pool->pg_count, sizeof(*got));
	double *base = calloc(n ? n : 1, sizeof(*base));
	uint32_t *cnt = calloc(n ? n : 1, sizeof(*cnt));
	int rc = 0;

	if (!chosen || !got || !base || !cnt) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (uint32_t i = 0; i < n; i++)
		base[i] = cand[i].weight;
	place_pool(pool, cand, n, scratch, chosen, got);

	for (uint32_t round = 0; n > 1 && round < REMAP_BALANCE_ROUNDS &&
				 (uint64_t)pool->pg_count * n <= REMAP_BALANCE_MAX_WORK;
	     round++) {
		double wsum = 0, slots = 0, worst = 0;

		memset(cnt, 0, n * sizeof(*cnt));
		for (uint32_t s = 0; s < pool->pg_count; s++) {
			for (uint32_t k = 0; k < got[s]; k++) {
				for (uint32_t i = 0; i < n; i++) {
					if (cand[i].id == chosen[(size_t)s * MON_MAX_REPLICAS + k]) {
						cnt[i]++;
						break;
					}
				}
			}
			slots += got[s];
		}
		for (uint32_t i = 0; i < n; i++)
			wsum += base[i];
		for (uint32_t i = 0; i < n; i++) {
			double target = slots * base[i] / wsum;
			double dev = target > 0 ? fabs(cnt[i] - target) / target : 0;

			if (dev > worst)
				worst = dev;
		}
		if (worst <= 0.05)
			break;
		for (uint32_t i = 0; i < n; i++) {
			double target = slots * base[i] / wsum;
			double f = sqrt((target + 0.5) / (cnt[i] + 0.5));
			double w = cand[i].weight * f;

			if (w < base[i] / 4)
				w = base[i] / 4;
			if (w > base[i] * 4)
				w = base[i] * 4;
			cand[i].weight = w;
		}
		place_pool(pool, cand, n, scratch, chosen, got);
	}
	for (uint32_t i = 0; i < n; i++)
		cand[i].weight = base[i];

	for (uint32_t s = 0; s < pool->pg_count; s++) {
		struct mon_pg *pg = &pool->pgs[s];

		/* The acting set: the chosen OSDs that are up, in placement order. */
		pg->n_acting = 0;
		for (uint32_t j = 0; j < got[s]; j++) {
			uint32_t id = chosen[(size_t)s * MON_MAX_REPLICAS + j];
			const struct mon_osd *o = mon_map_osd(m, id);

			if (o && o->up)
				pg->acting[pg->n_acting++] = id;
		}
		for (uint32_t j = pg->n_acting; j < MON_MAX_REPLICAS; j++)
			pg->acting[j] = MON_OSD_NONE;
	}
out_free:
	free(chosen);
	free(got);
	free(base);
	free(cnt);
	return rc;
}

int
mon_map_remap(struct mon_map *m)
{
	struct mon_placement_osd *cand = NULL;
	double *scratch = NULL;
	uint32_t n = 0;
	int rc = 0;

	if (m->n_osds) {
		cand = calloc(m->n_osds, sizeof(*cand));
		scratch = calloc(m->n_osds, sizeof(*scratch));
		if (!cand || !scratch) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	/*
	 * Placement runs over the OSDs that are "in", up or not: a down OSD
	 * keeps its slots (the PG runs degraded) until it is marked out, and
	 * only then are its PGs remapped and re-replicated.
	 */
	for (uint32_t i = 0; i < m->n_osds; i++) {
		const struct mon_osd *o = &m->osds[i];

		if (!o->in || o->weight <= 0)
			continue;
		cand[n].id = o->id;
		cand[n].weight = o->weight;
		cand[n].domain = o->failure_domain[0] ? o->failure_domain : o->host;
		n++;
	}
	mon_placement_prepare(cand, n);

	for (uint32_t p = 0; p < m->n_pools; p++) {
		struct mon_pool *pool = &m->pools[p];

		if (!pool->pgs) {
			pool->pgs = calloc(pool->pg_count ? pool->pg_count : 1, sizeof(*pool->pgs));
			if (!pool->pgs) {
				rc = -ENOMEM;
				goto out_free;
			}
		}
		rc = remap_pool(m, pool, cand, n, scratch);
		if (rc < 0)
			goto out_free;
	}
out_free:
	free(cand);
	free(scratch);
	return rc;
}

bool
mon_osd_equal(const struct mon_osd *a, const struct mon_osd *b)
{
	if (a->id != b->id || strcmp(a->uuid, b->uuid) || strcmp(a->host, b->host) ||
	    strcmp(a->failure_domain, b->failure_domain) || a->up != b->up || a->in != b->in ||
	    a->auto_out != b->auto_out || a->weight != b->weight ||
	    a->device_bytes != b->device_bytes || a->used_bytes != b->used_bytes ||
	    a->up_since_epoch != b->up_since_epoch || a->down_at_us != b->down_at_us ||
	    a->n_reactors != b->n_reactors)
		return false;
	for (uint32_t i = 0; i < a->n_reactors; i++) {
		if (strcmp(a->reactors[i].host, b->reactors[i].host) ||
		    a->reactors[i].port != b->reactors[i].port)
			return false;
	}
	return true;
}

bool
mon_pool_equal_meta(const struct mon_pool *a, const struct mon_pool *b)
{
	return a->id == b->id && strcmp(a->name, b->name) == 0 && a->size == b->size &&
	       a->min_size == b->min_size && a->pg_count == b->pg_count;
}

bool
mon_pg_equal(const struct mon_pg *a, const struct mon_pg *b)
{
	if (a->n_acting != b->n_acting)
		return false;
	return memcmp(a->acting, b->acting, a->n_acting * sizeof(a->acting[0])) == 0;
}

bool
mon_volume_equal(const struct mon_volume *a, const struct mon_volume *b)
{
	if (a->id != b->id || strcmp(a->name, b->name) || a->pool != b->pool || a->size != b->size ||
	    a->object_size != b->object_size || a->features != b->features ||
	    a->parent_id != b->parent_id || a->parent_snap != b->parent_snap ||
	    a->n_snaps != b->n_snaps)
		return false;
	for (uint32_t i = 0; i < a->n_snaps; i++) {
		if (a->snaps[i].id != b->snaps[i].id || strcmp(a->snaps[i].name, b->snaps[i].name) ||
		    a->snaps[i].size != b->snaps[i].size)
			return false;
	}
	return true;
}

enum mon_pg_state
mon_pg_state_of(const struct mon_pool *p, const struct mon_pg *pg)
{
	if (pg->n_acting == 0)
		return MON_PG_DOWN;
	if (pg->n_acting < p->min_size)
		return MON_PG_INACTIVE;
	if (pg->n_acting < p->size)
		return MON_PG_DEGRADED;
	return MON_PG_CLEAN;
}

const char *
mon_pg_state_name(enum mon_pg_state s)
{
	switch (s) {
	case MON_PG_CLEAN:
		return "active+clean";
	case MON_PG_DEGRADED:
		return "active+undersized+degraded";
	case MON_PG_INACTIVE:
		return "undersized+peered";
	case MON_PG_DOWN:
		return "down";
	default:
		return "unknown";
	}
}

int
mon_addr_parse(const char *s, struct mon_addr *out)
{
	const char *colon;
	size_t hlen;
	char *end;
	unsigned long port;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hlen = (size_t)(rb - s - 1);
		s++;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(out->host))
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port == 0 || port > 65535)
		return -EINVAL;
	memcpy(out->host, s, hlen);
	out->host[hlen] = '\0';
	out->port = (uint16_t)port;
	return 0;
}
