/*
 * libtessera volumes: the directory calls (create, list, info, remove,
 * rename) and the life of an open handle (open, watch, resize, close).
 *
 * Every directory change is a monitor RPC (FRAME_T_VOL_*, through the
 * control thread). After a change the caller waits until its own map has
 * reached the epoch of the change, so that on return every part of this
 * handle (I/O bounds, open handles, their watch callbacks) has seen it.
 *
 * Open handles are watched twice over: the monitor holds a VolumeWatch per
 * (volume, client) for as long as the session lives (it refuses a removal
 * while one exists), and every new map is compared with each open handle by
 * volume id (tsr__vol_map_changed): a new size, a new name, or the entry's
 * disappearance update the handle and run its watch callback. Watch
 * registration is serialised with open and close (watch_lock) so that two
 * handles of one volume in one process keep exactly one watch between them.
 *
 * Data. A shrink commits the new size first, then deletes the objects past
 * it (tsr__io_trim): a crash in between leaves unreachable data, never a
 * volume that shows deleted data. A removal deletes the directory entry
 * first, then the objects, for the same reason. Volume ids are never reused
 * (the map's next_volume_id only grows), so stale objects of a removed
 * volume can never appear in a new one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "mon.pb-c.h"
#include "rt_log.h"
#include "tsr_int.h"

#define TSR_OBJ_SIZE_MIN (64u << 10)
#define TSR_OBJ_SIZE_MAX (64u << 20)
#define TSR_OBJ_SIZE_DEFAULT (4u << 20)
#define TSR_CLOSE_POLL_US 1000

/* Names: 1..TSR_NAME_MAX bytes, printable, no '/', no blanks or quotes. */
static int
name_check(const char *name)
{
	size_t n;

	if (!name)
		return -EINVAL;
	n = strnlen(name, TSR_NAME_MAX + 1);
	if (n == 0 || n > TSR_NAME_MAX)
		return -EINVAL;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '/' || *p == '"' || *p == '\\')
			return -EINVAL;
	}
	return 0;
}

static int
ready(struct tsr_cluster *cl)
{
	if (!cl)
		return -EINVAL;
	if (!atomic_load(&cl->connected) || atomic_load(&cl->stopping))
		return -ENOTCONN;
	return 0;
}

/* Log a refusal by the monitor (with its reason) and pass its code on. */
static int
mon_result(const char *what, const char *name, const struct tsr__call_res *res)
{
	if (res->rc < 0 && res->rc != -ENOENT)
		rt_warn(RT_SS_CLIENT, "%s '%s': %s", what, name,
			res->msg[0] ? res->msg : strerror(-res->rc));
	else if (res->rc == -ENOENT)
		rt_debug(RT_SS_CLIENT, "%s '%s': %s", what, name, res->msg);
	return res->rc;
}

/* Wait until this handle's map has epoch (the epoch of a change we made). */
static void
wait_epoch(struct tsr_cluster *cl, uint64_t epoch)
{
	int rc = tsr__ctl_wait_map(cl, epoch,
				   tsr__now_us() + cl->conf.connect_timeout_us);

	if (rc < 0)
		rt_warn(RT_SS_CLIENT, "map " DF_EPOCH " did not arrive: %s (%d)", DP_EPOCH(epoch),
			strerror(-rc), rc);
}

static void
info_fill(struct tsr_cluster *cl, const struct tsr__vol_rec *v, struct tsr_volume_info *info)
{
	struct tsr_map *map = tsr__map_get(cl);
	const struct mon_pool *p = map ? mon_map_pool(map->m, v->pool) : NULL;

	memset(info, 0, sizeof(*info));
	info->id = v->id;
	snprintf(info->name, sizeof(info->name), "%s", v->name);
	if (p)
		snprintf(info->pool, sizeof(info->pool), "%s", p->name);
	info->pool_id = v->pool;
	info->size = v->size;
	info->object_size = v->object_size;
	info->num_objects = v->object_size ? (v->size + v->object_size - 1) / v->object_size : 0;
	info->features = v->features;
	tsr__map_put(map);
}

/* The pool for a new volume: named, else "rbd", else the only one. */
static int
pool_pick(struct tsr_cluster *cl, const char *want, char *out, size_t len)
{
	struct tsr_map *map = tsr__map_get(cl);
	const struct mon_map *m;
	int rc = 0;

	if (!map)
		return -ENOTCONN;
	m = map->m;
	if (want) {
		if (!*want || strlen(want) >= len)
			rc = -EINVAL;
		else
			snprintf(out, len, "%s", want);
		/* The monitor decides whether it exists (its map is the newest). */
	} else if (mon_map_pool_by_name(m, "rbd")) {
		snprintf(out, len, "rbd");
	} else if (m->n_pools == 1) {
		snprintf(out, len, "%s", m->pools[0].name);
	} else {
		rt_err(RT_SS_CLIENT, "no default pool (no pool 'rbd' and %u pools): name one",
		       m->n_pools);
		rc = -ENOENT;
	}
	tsr__map_put(map);
	return rc;
}

int
tsr_volume_create(struct tsr_cluster *cl, const char *name, uint64_t size,
		  const struct tsr_volume_opts *opts)
{
	Tessera__VolumeCreate req = TESSERA__VOLUME_CREATE__INIT;
	struct tsr__call_res res;
	char pool[TSR_NAME_MAX + 1];
	uint32_t osz = opts && opts->object_size ? opts->object_size : TSR_OBJ_SIZE_DEFAULT;
	int rc = ready(cl);

	if (rc < 0)
		return rc;
	if (name_check(name) < 0) {
		rt_err(RT_SS_CLIENT, "volume create: bad name (1..%d printable characters, no "
				     "blanks, quotes, backslashes or '/')",
		       TSR_NAME_MAX);
		return -EINVAL;
	}
	if (size % TSR_BLOCK_SIZE || osz < TSR_OBJ_SIZE_MIN || osz > TSR_OBJ_SIZE_MAX ||
	    (osz & (osz - 1)) || size / osz >= (1ull << 32) || (opts && opts->features)) {
		rt_err(RT_SS_CLIENT, "volume create '%s': bad size %" PRIu64 " or object size %u "
				     "(size a multiple of %u; object size a power of two, 64K..64M)",
		       name, size, osz, TSR_BLOCK_SIZE);
		return -EINVAL;
	}
	rc = pool_pick(cl, opts ? opts->pool : NULL, pool, sizeof(pool));
	if (rc < 0)
		return rc;
	req.name = (char *)name;
	req.pool = pool;
	req.size = size;
	req.object_size = osz;
	rc = tsr__ctl_call(cl, FRAME_T_VOL_CREATE, &req.base, &res);
	if (rc < 0)
		return rc;
	rc = mon_result("volume create", name, &res);
	if (rc == 0)
		wait_epoch(cl, res.epoch);
	free(res.list);
	if (rc == -ENAMETOOLONG || rc == -EFBIG)
		rc = -EINVAL;
	return rc;
}

static int
rec_cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct tsr__vol_rec *)a)->name,
		      ((const struct tsr__vol_rec *)b)->name);
}

int
tsr_volume_list(struct tsr_cluster *cl, struct tsr_volume_info *vols, size_t *count)
{
	Tessera__VolumeGet req = TESSERA__VOLUME_GET__INIT;
	struct tsr__call_res res;
	size_t cap;
	int rc = ready(cl);

	if (rc < 0)
		return rc;
	if (!count || (*count && !vols))
		return -EINVAL;
	req.name = "";
	rc = tsr__ctl_call(cl, FRAME_T_VOL_GET, &req.base, &res);
	if (rc < 0)
		return rc;
	rc = res.rc;
	if (rc == 0) {
		if (res.n_list > 1) /* qsort(NULL, 0, ...) is undefined (UBSan) */
			qsort(res.list, res.n_list, sizeof(*res.list), rec_cmp_name);
		cap = *count;
		for (size_t i = 0; i < res.n_list && i < cap; i++)
			info_fill(cl, &res.list[i], &vols[i]);
		*count = res.n_list;
		if (res.n_list > cap)
			rc = -ERANGE;
	}
	free(res.list);
	return rc;
}

/* VolumeGet by name into rec. */
static int
vol_get(struct tsr_cluster *cl, const char *name, struct tsr__vol_rec *rec, uint64_t *epoch)
{
	Tessera__VolumeGet req = TESSERA__VOLUME_GET__INIT;
	struct tsr__call_res res;
	int rc;

	req.name = (char *)name;
	rc = tsr__ctl_call(cl, FRAME_T_VOL_GET, &req.base, &res);
	if (rc < 0)
		return rc;
	free(res.list);
	if (res.rc < 0)
		return res.rc;
	if (!res.has_vol)
		return -EPROTO;
	*rec = res.vol;
	if (epoch)
		*epoch = res.epoch;
	return 0;
}

int
tsr_volume_info_by_name(struct tsr_cluster *cl, const char *name, struct tsr_volume_info *info)
{
	struct tsr__vol_rec rec;
	int rc = ready(cl);

	if (rc < 0)
		return rc;
	if (!info || name_check(name) < 0)
		return -EINVAL;
	rc = vol_get(cl, name, &rec, NULL);
	if (rc == 0)
		info_fill(cl, &rec, info);
	return rc;
}

int
tsr_volume_remove(struct tsr_cluster *cl, const char *name)
{
	Tessera__VolumeRemove req = TESSERA__VOLUME_REMOVE__INIT;
	struct tsr__call_res res;
	struct tsr__vol_rec rec;
	struct tsr_map *map;
	int rc = ready(cl);

	if (rc < 0)
		return rc;
	if (name_check(name) < 0)
		return -EINVAL;
	rc = vol_get(cl, name, &rec, NULL);
	if (rc < 0)
		return rc;
	req.name = (char *)name;
	rc = tsr__ctl_call(cl, FRAME_T_VOL_REMOVE, &req.base, &res);
	if (rc < 0)
		return rc;
	free(res.list);
	rc = mon_result("volume remove", name, &res);
	if (rc < 0)
		return rc;
	wait_epoch(cl, res.epoch);
	/* A resize between our lookup and the removal: delete up to the larger. */
	map = tsr__map_get(cl);
	if (map) {
		for (uint32_t i = 0; i < map->m->n_vols; i++)
			if (map->m->vols[i].id == rec.id && map->m->vols[i].size > rec.size)
				rec.size = map->m->vols[i].size;
		tsr__map_put(map);
	}
	rt_info(RT_SS_CLIENT, "volume '%s' (id %" PRIu64 ") removed; deleting %" PRIu64 " bytes",
		name, rec.id, rec.size);
	if (rec.size == 0)
		return 0;
	rc = tsr__io_trim(cl, rec.pool, rec.id, rec.object_size, 0, rec.size);
	if (rc < 0)
		rt_err(RT_SS_CLIENT, "volume '%s' (id %" PRIu64 ") was removed but deleting its "
				     "data failed: %s (%d); its objects stay unreachable",
		       name, rec.id, strerror(-rc), rc);
	return rc;
}

int
tsr_volume_rename(struct tsr_cluster *cl, const char *name, const char *new_name)
{
	Tessera__VolumeRename req = TESSERA__VOLUME_RENAME__INIT;
	struct tsr__call_res res;
	int rc = ready(cl);

	if (rc < 0)
		return rc;
	if (name_check(name) < 0 || name_check(new_name) < 0) {
		rt_err(RT_SS_CLIENT, "volume rename: bad name");
		return -EINVAL;
	}
	req.name = (char *)name;
	req.new_name = (char *)new_name;
	rc = tsr__ctl_call(cl, FRAME_T_VOL_RENAME, &req.base, &res);
	if (rc < 0)
		return rc;
	free(res.list);
	rc = mon_result("volume rename", name, &res);
	if (rc == 0)
		wait_epoch(cl, res.epoch);
	return rc;
}

/* VolumeWatch or unwatch through the control thread. */
static int
watch_call(struct tsr_cluster *cl, uint64_t id, bool unwatch)
{
	Tessera__VolumeWatch req = TESSERA__VOLUME_WATCH__INIT;
	struct tsr__call_res res;
	int rc;

	req.volume_id = id;
	req.client_id = cl->client_id;
	req.unwatch = unwatch;
	rc = tsr__ctl_call(cl, FRAME_T_VOL_WATCH, &req.base, &res);
	free(res.list);
	return rc < 0 ? rc : res.rc;
}

/* Another open handle of volume id on this cluster handle (under vol_lock). */
static bool
other_handle(struct tsr_cluster *cl, uint64_t id, const struct tsr_volume *except)
{
	for (struct tsr_volume *v = cl->vols; v; v = v->next)
		if (v != except && v->id == id && !v->ctl_nowatch)
			return true;
	return false;
}

int
tsr_volume_open(struct tsr_cluster *cl, const char *name, struct tsr_volume **out)
{
	struct tsr__vol_rec rec;
	struct tsr_volume *vol;
	uint64_t epoch = 0;
	bool watched = false;
	int rc = ready(cl);

	if (rc < 0)
		return rc;
	if (!out || name_check(name) < 0)
		return -EINVAL;
	*out = NULL;
	rc = vol_get(cl, name, &rec, &epoch);
	if (rc < 0)
		return rc;
	vol = calloc(1, sizeof(*vol));
	if (!vol)
		return -ENOMEM;
	vol->cl = cl;
	vol->id = rec.id;
	vol->pool = rec.pool;
	vol->object_size = rec.object_size;
	vol->features = rec.features;
	atomic_init(&vol->size, rec.size);
	atomic_init(&vol->removed, false);
	atomic_init(&vol->inflight, 0);
	atomic_init(&vol->queue_inflight, 0);
	snprintf(vol->name, sizeof(vol->name), "%s", rec.name);
	vol->ctl_epoch = epoch;

	/* Test switch: an open handle the monitor does not know about, to see
	 * a removal reach an open handle (docs/client.md). */
	vol->ctl_nowatch = getenv("TESSERA_TEST_SKIP_WATCH") != NULL;
	tsr__ctl_watch_lock(cl, true);
	if (!vol->ctl_nowatch) {
		rc = watch_call(cl, vol->id, false);
		if (rc < 0)
			goto out_unlock;
		watched = true;
	}
	/* Our map must know the volume before we compare maps with it. */
	rc = tsr__ctl_wait_map(cl, epoch, tsr__now_us() + cl->conf.connect_timeout_us);
	if (rc < 0)
		goto out_unwatch;
	rc = tsr__io_volume_open(vol);
	if (rc < 0)
		goto out_unwatch;
	pthread_mutex_lock(&cl->vol_lock);
	vol->next = cl->vols;
	cl->vols = vol;
	pthread_mutex_unlock(&cl->vol_lock);
	tsr__ctl_watch_lock(cl, false);
	rt_info(RT_SS_CLIENT, "volume '%s' (id %" PRIu64 ", %" PRIu64 " bytes) opened", vol->name,
		vol->id, rec.size);
	*out = vol;
	return 0;

out_unwatch:
	pthread_mutex_lock(&cl->vol_lock);
	watched = watched && !other_handle(cl, vol->id, NULL);
	pthread_mutex_unlock(&cl->vol_lock);
	if (watched)
		watch_call(cl, vol->id, true);
out_unlock:
	tsr__ctl_watch_lock(cl, false);
	free(vol);
	return rc;
}

int
tsr_volume_close(struct tsr_volume *vol)
{
	struct tsr_cluster *cl;
	struct tsr_volume **pp;
	bool last;

	if (!vol)
		return 0;
	cl = vol->cl;
	if (tsr__ctl_is_ctl_thread(cl)) {
		rt_err(RT_SS_CLIENT, "tsr_volume_close from a watch callback: refused");
		return -EDEADLK;
	}
	if (atomic_load(&vol->queue_inflight) > 0)
		return -EBUSY;
	/* Synchronous and aio I/O complete (or time out) on their own. */
	while (atomic_load(&vol->inflight) > 0)
		usleep(TSR_CLOSE_POLL_US);
	tsr__ctl_watch_lock(cl, true);
	pthread_mutex_lock(&cl->vol_lock);
	for (pp = &cl->vols; *pp && *pp != vol; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = vol->next;
	last = !other_handle(cl, vol->id, vol);
	pthread_mutex_unlock(&cl->vol_lock);
	/* A callback running for this handle finishes before we free it. */
	tsr__ctl_cb_lock(cl, true);
	tsr__ctl_cb_lock(cl, false);
	if (last && !atomic_load(&vol->removed) && !vol->ctl_nowatch) {
		int rc = watch_call(cl, vol->id, true);

		/* Not fatal: the watch goes with the session anyway. */
		if (rc < 0 && rc != -ENOENT)
			rt_warn(RT_SS_CLIENT, "volume '%s': unwatch failed: %s (%d)", vol->name,
				strerror(-rc), rc);
	}
	tsr__ctl_watch_lock(cl, false);
	tsr__io_volume_close(vol);
	rt_info(RT_SS_CLIENT, "volume '%s' (id %" PRIu64 ") closed", vol->name, vol->id);
	free(vol);
	return 0;
}

void
tsr__vol_close_all(struct tsr_cluster *cl, bool io_inited)
{
	struct tsr_volume *v;

	pthread_mutex_lock(&cl->vol_lock);
	v = cl->vols;
	cl->vols = NULL;
	pthread_mutex_unlock(&cl->vol_lock);
	while (v) {
		struct tsr_volume *next = v->next;

		/* The session's end drops the monitor's watches. */
		if (io_inited)
			tsr__io_volume_close(v);
		free(v);
		v = next;
	}
}

int
tsr_volume_stat(struct tsr_volume *vol, struct tsr_volume_info *info)
{
	struct tsr__vol_rec rec;

	if (!vol || !info)
		return -EINVAL;
	memset(&rec, 0, sizeof(rec));
	rec.id = vol->id;
	rec.pool = vol->pool;
	rec.size = atomic_load(&vol->size);
	rec.object_size = vol->object_size;
	rec.features = vol->features;
	pthread_mutex_lock(&vol->cl->vol_lock);
	snprintf(rec.name, sizeof(rec.name), "%s", vol->name);
	pthread_mutex_unlock(&vol->cl->vol_lock);
	info_fill(vol->cl, &rec, info);
	return 0;
}

uint64_t
tsr_volume_size(struct tsr_volume *vol)
{
	return vol ? atomic_load(&vol->size) : 0;
}

int
tsr_volume_resize(struct tsr_volume *vol, uint64_t size, unsigned flags)
{
	Tessera__VolumeResize req = TESSERA__VOLUME_RESIZE__INIT;
	struct tsr__call_res res;
	struct tsr_cluster *cl;
	char name[TSR_NAME_MAX + 1];
	uint64_t old;
	int rc;

	if (!vol)
		return -EINVAL;
	cl = vol->cl;
	rc = ready(cl);
	if (rc < 0)
		return rc;
	if (atomic_load(&vol->removed))
		return -ENOENT;
	old = atomic_load(&vol->size);
	if (size % TSR_BLOCK_SIZE || (flags & ~TSR_RESIZE_ALLOW_SHRINK) ||
	    size / vol->object_size >= (1ull << 32)) {
		rt_err(RT_SS_CLIENT, "volume '%s': bad size %" PRIu64 " or flags %#x", vol->name,
		       size, flags);
		return -EINVAL;
	}
	if (size < old && !(flags & TSR_RESIZE_ALLOW_SHRINK)) {
		rt_err(RT_SS_CLIENT, "volume '%s': shrinking from %" PRIu64 " to %" PRIu64
				     " bytes deletes data: pass TSR_RESIZE_ALLOW_SHRINK",
		       vol->name, old, size);
		return -EINVAL;
	}
	pthread_mutex_lock(&cl->vol_lock);
	snprintf(name, sizeof(name), "%s", vol->name);
	pthread_mutex_unlock(&cl->vol_lock);
	req.name = name;
	req.size = size;
	req.allow_shrink = (flags & TSR_RESIZE_ALLOW_SHRINK) != 0;
	req.volume_id = vol->id;
	rc = tsr__ctl_call(cl, FRAME_T_VOL_RESIZE, &req.base, &res);
	if (rc < 0)
		return rc;
	free(res.list);
	rc = mon_result("volume resize", name, &res);
	if (rc == -EFBIG)
		rc = -EINVAL;
	if (rc < 0)
		return rc;
	wait_epoch(cl, res.epoch);
	if (size < old) {
		rc = tsr__io_trim(cl, vol->pool, vol->id, vol->object_size, size, old);
		if (rc < 0)
			rt_err(RT_SS_CLIENT, "volume '%s' shrunk to %" PRIu64 " bytes but deleting "
					     "the data past it failed: %s (%d)",
			       name, size, strerror(-rc), rc);
	}
	return rc;
}

int
tsr_volume_watch(struct tsr_volume *vol, tsr_volume_event_cb cb, void *arg)
{
	if (!vol)
		return -EINVAL;
	pthread_mutex_lock(&vol->cl->vol_lock);
	vol->watch_cb = cb;
	vol->watch_arg = arg;
	pthread_mutex_unlock(&vol->cl->vol_lock);
	return 0;
}

struct vol_event {
	struct tsr_volume *vol;
	enum tsr_volume_event ev;
	uint64_t size;
	tsr_volume_event_cb cb;
	void *arg;
};

void
tsr__vol_map_changed(struct tsr_cluster *cl, const struct tsr_map *map)
{
	const struct mon_map *m = map->m;
	struct vol_event *evs = NULL;
	size_t n = 0, cap = 0;

	if (!cl->ctl)
		return;
	tsr__ctl_cb_lock(cl, true);
	pthread_mutex_lock(&cl->vol_lock);
	for (struct tsr_volume *v = cl->vols; v; v = v->next) {
		const struct mon_volume *mv;
		struct vol_event e[2];
		size_t ne = 0;

		if (m->epoch < v->ctl_epoch || atomic_load(&v->removed))
			continue;
		v->ctl_epoch = m->epoch;
		mv = tsr__map_vol(m, v->id);
		if (!mv) {
			atomic_store(&v->removed, true);
			e[ne++] = (struct vol_event){ v, TSR_VOLUME_REMOVED, atomic_load(&v->size),
						      v->watch_cb, v->watch_arg };
			rt_info(RT_SS_CLIENT, "volume '%s' (id %" PRIu64 ") was removed", v->name,
				v->id);
		} else {
			if (mv->size != atomic_load(&v->size)) {
				rt_info(RT_SS_CLIENT, "volume '%s' resized from %" PRIu64
						      " to %" PRIu64 " bytes",
					v->name, atomic_load(&v->size), mv->size);
				atomic_store(&v->size, mv->size);
				e[ne++] = (struct vol_event){ v, TSR_VOLUME_RESIZED, mv->size,
							      v->watch_cb, v->watch_arg };
			}
			if (strcmp(mv->name, v->name) != 0) {
				rt_info(RT_SS_CLIENT, "volume '%s' renamed to '%s'", v->name,
					mv->name);
				snprintf(v->name, sizeof(v->name), "%s", mv->name);
				e[ne++] = (struct vol_event){ v, TSR_VOLUME_RENAMED, mv->size,
							      v->watch_cb, v->watch_arg };
			}
		}
		for (size_t i = 0; i < ne; i++) {
			if (!e[i].cb)
				continue;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 8;
				struct vol_event *ne2 = realloc(evs, nc * sizeof(*evs));

				if (!ne2)
					break;
				evs = ne2;
				cap = nc;
			}
			evs[n++] = e[i];
		}
	}
	pthread_mutex_unlock(&cl->vol_lock);
	/* Outside vol_lock (a callback may stat the volume), inside cb_lock
	 * (close waits for us before freeing a handle). */
	for (size_t i = 0; i < n; i++)
		evs[i].cb(evs[i].vol, evs[i].ev, evs[i].size, evs[i].arg);
	tsr__ctl_cb_lock(cl, false);
	free(evs);
}
