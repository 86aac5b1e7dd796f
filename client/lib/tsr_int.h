/*
 * libtessera internals: the contract between the control side (cluster
 * handle, configuration, monitor session, map, volume directory and watches:
 * tsr_cluster.c, tsr_conf.c, tsr_mon.c, tsr_volume.c) and the I/O side
 * (queues, striping, object requests to OSDs, resends, completions:
 * tsr_queue.c, tsr_io.c, tsr_stripe.c, tsr_aio.c, tsr_sync.c).
 *
 * Threads:
 *  - the control thread (one per cluster handle) owns the monitor session:
 *    it subscribes to maps, answers volume directory calls made from any
 *    thread (they block their caller, never a reactor), and registers the
 *    watches of open volumes with the monitor;
 *  - every queue is an rt_reactor plus an rt_msgr with its own connections to
 *    the OSD reactors, driven by its owner thread: an application thread
 *    (tsr_queue_*), a thread calling the synchronous API (an implicit
 *    per-thread queue), or a library I/O thread (tsr_aio_*).
 *
 * The map: an immutable, refcounted snapshot. The control thread publishes
 * each new map under cl->map_lock and then calls tsr__io_map_changed(), which
 * wakes every queue; a queue takes a reference with tsr__map_get() when woken
 * and keeps using it, lock-free, until the next change.
 */
#ifndef TSR_INT_H
#define TSR_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mon_map.h"
#include "tessera/tessera.h"

/* ------------------------------------------------------------ configuration */

struct tsr_conf {
	char mon[1024];              /* "host:port[,host:port...]" */
	uint64_t op_timeout_us;      /* 0: no limit */
	uint64_t connect_timeout_us;
	uint32_t io_threads;
	uint32_t queue_depth;
	int log_level;               /* rt_log level */
	char log_file[512];
};

/* ---------------------------------------------------------------------- map */

struct tsr_map {
	atomic_uint refs;
	struct mon_map *m; /* owned; freed with the last reference */
};

/* +1 reference on the newest map (any thread); NULL before the first map. */
struct tsr_map *tsr__map_get(struct tsr_cluster *cl);
/* Drop a reference (any thread); NULL is a no-op. */
void tsr__map_put(struct tsr_map *map);
/*
 * Ask the control thread for a map with epoch >= epoch (an OSD answered
 * STATUS_ESTALE_EPOCH). Non-blocking, callable from any thread; the answer
 * arrives as a normal map change.
 */
void tsr__map_want(struct tsr_cluster *cl, uint64_t epoch);

/* ------------------------------------------------------------------ volumes */

struct tsr_volume {
	struct tsr_cluster *cl;
	/* Fixed while open. */
	uint64_t id;
	uint32_t pool;
	uint32_t object_size;
	/* Updated by the control thread from maps, read by I/O without a lock. */
	_Atomic uint64_t size;
	atomic_bool removed;
	/* Control side: name, watch callback, list links (under cl->vol_lock). */
	char name[TSR_NAME_MAX + 1];
	tsr_volume_event_cb watch_cb;
	void *watch_arg;
	struct tsr_volume *next;
	/* I/O side: requests in flight on this handle (all queues). */
	atomic_uint inflight;
	/* I/O side private state (flush bookkeeping ...), owned by tsr_io.c. */
	void *io_priv;
};

/* ------------------------------------------------------------ cluster handle */

struct tsr_ctl;  /* control side private (tsr_mon.c) */
struct tsr_io;   /* I/O side private (tsr_io.c / tsr_queue.c) */

struct tsr_cluster {
	struct tsr_conf conf;
	uint64_t client_id;  /* random, non-zero */
	atomic_bool connected;
	atomic_bool stopping;

	pthread_mutex_t map_lock; /* guards map (the pointer swap only) */
	struct tsr_map *map;
	_Atomic uint64_t epoch;   /* epoch of map, readable without the lock */

	pthread_mutex_t vol_lock; /* guards the open-volume list */
	struct tsr_volume *vols;

	struct tsr_ctl *ctl;
	struct tsr_io *io;
};

/* ------------------------------------------- implemented by the I/O side */

/* After the first map, from tsr_cluster_connect: start the I/O threads. */
int tsr__io_init(struct tsr_cluster *cl);
/* From tsr_cluster_shutdown, before the control side stops: fail/finish
 * in-flight I/O, stop the I/O threads, free the implicit per-thread queues. */
void tsr__io_fini(struct tsr_cluster *cl);
/* Control thread, after publishing a new map: wake every queue (lock-free
 * post to each queue's reactor) so that it re-targets its requests. */
void tsr__io_map_changed(struct tsr_cluster *cl);
/* Volume handle opened/closed: set up / free vol->io_priv. */
int tsr__io_volume_open(struct tsr_volume *vol);
void tsr__io_volume_close(struct tsr_volume *vol); /* after inflight reached 0 */
/*
 * Blocking, from a non-reactor thread: delete the data of volume (pool,
 * vol_id, object_size) in [from, to) (whole objects are deleted, a partial
 * object's tail is discarded). Used by shrink and remove. Returns 0 or -errno.
 */
int tsr__io_trim(struct tsr_cluster *cl, uint32_t pool, uint64_t vol_id, uint32_t object_size,
		 uint64_t from, uint64_t to);

/* ------------------------------------------- implemented by the control side */

/* Volume handles are created/freed only by tsr_volume_open/close (control). */

/* Object id of object index idx of a volume (common.proto: id << 32 | idx). */
static inline uint64_t
tsr__object_id(uint64_t vol_id, uint64_t idx)
{
	return (vol_id << 32) | (idx & 0xffffffffu);
}

#endif /* TSR_INT_H */
