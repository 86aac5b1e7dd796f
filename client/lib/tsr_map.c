/*
 * libtessera's published cluster map: an immutable mon_map in a refcounted
 * wrapper. The control thread publishes each newer map by swapping the
 * pointer under cl->map_lock (the only thing the lock guards) and updating
 * cl->epoch; readers take a reference under the same lock and then use the
 * map without any lock. The last reference frees it.
 *
 * After the swap the I/O side is told (tsr__io_map_changed) and the open
 * volumes are compared with the new directory (tsr__vol_map_changed), in that
 * order: a watch callback that reads the size sees I/O already bounded by it.
 */
#include <stdlib.h>

#include "mon_map.h"
#include "rt_log.h"
#include "tsr_int.h"

struct tsr_map *
tsr__map_get(struct tsr_cluster *cl)
{
	struct tsr_map *map;

	pthread_mutex_lock(&cl->map_lock);
	map = cl->map;
	if (map)
		atomic_fetch_add(&map->refs, 1);
	pthread_mutex_unlock(&cl->map_lock);
	return map;
}

void
tsr__map_put(struct tsr_map *map)
{
	if (!map)
		return;
	if (atomic_fetch_sub(&map->refs, 1) == 1) {
		mon_map_destroy(&map->m);
		free(map);
	}
}

void
tsr__map_want(struct tsr_cluster *cl, uint64_t epoch)
{
	tsr__ctl_want(cl, epoch);
}

const struct mon_volume *
tsr__map_vol(const struct mon_map *m, uint64_t id)
{
	uint32_t lo = 0, hi = m->n_vols;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (m->vols[mid].id == id)
			return &m->vols[mid];
		if (m->vols[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void
tsr__map_publish(struct tsr_cluster *cl, struct mon_map *m)
{
	struct tsr_map *map = calloc(1, sizeof(*map)), *old;

	if (!map) {
		rt_err_rl(RT_SS_CLIENT, "out of memory publishing map " DF_EPOCH,
			  DP_EPOCH(m->epoch));
		mon_map_destroy(&m);
		return;
	}
	atomic_init(&map->refs, 1);
	map->m = m;
	pthread_mutex_lock(&cl->map_lock);
	old = cl->map;
	cl->map = map;
	atomic_store(&cl->epoch, m->epoch);
	/* Keep a reference for the volume comparison below. */
	atomic_fetch_add(&map->refs, 1);
	pthread_mutex_unlock(&cl->map_lock);
	tsr__map_put(old);
	rt_debug(RT_SS_CLIENT, "map " DF_EPOCH ": %u osds, %u pools, %u volumes",
		 DP_EPOCH(m->epoch), m->n_osds, m->n_pools, m->n_vols);
	if (atomic_load(&cl->connected))
		tsr__io_map_changed(cl);
	tsr__vol_map_changed(cl, map);
	tsr__map_put(map);
}
