/*
 * The refcounted, immutable map epoch shared by the control thread and the
 * reactors. The control thread builds it from a ClusterMap (mon_map_from_pb),
 * takes one reference per reactor and posts it; each reactor keeps the newest
 * one it has seen and drops the previous. The last reference frees it, on
 * whichever thread drops it (the map is plain heap memory).
 */
#include <stdlib.h>

#include "osd.h"

struct osd_map *
osd_map_new(struct mon_map *m, uint32_t n_reactors)
{
	struct osd_map *map = calloc(1, sizeof(*map) + n_reactors * sizeof(struct rt_msg));

	if (!map)
		return NULL;
	atomic_init(&map->ref, 1);
	map->m = m;
	map->epoch = m->epoch;
	map->n_msgs = n_reactors;
	return map;
}

void
osd_map_get(struct osd_map *map)
{
	atomic_fetch_add_explicit(&map->ref, 1, memory_order_relaxed);
}

void
osd_map_put(struct osd_map **mapp)
{
	struct osd_map *map = *mapp;

	*mapp = NULL;
	if (!map)
		return;
	if (atomic_fetch_sub_explicit(&map->ref, 1, memory_order_acq_rel) == 1) {
		mon_map_destroy(&map->m);
		free(map);
	}
}

const struct mon_osd *
osd_map_osd(const struct osd_map *map, uint32_t id)
{
	return map ? mon_map_osd(map->m, id) : NULL;
}

uint32_t
osd_map_up_count(const struct osd_map *map, const struct mon_pg *pg)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < pg->n_acting; i++) {
		const struct mon_osd *o = mon_map_osd(map->m, pg->acting[i]);

		if (o && o->up)
			n++;
	}
	return n;
}
