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
	/*
	 * I/O side (added by the control side): the part of inflight that was
	 * submitted through tsr_queue_*. tsr_volume_close answers -EBUSY while
	 * it is non-zero (the queue's owner must poll it to completion) and
	 * waits for inflight to drain otherwise. Left at 0, close just waits.
	 */
	atomic_uint queue_inflight;
	/* Control side (added): fixed while open. */
	uint64_t features;
	/* Control side: epoch of the map the handle's size/name came from; maps
	 * older than this are not compared against it. */
	uint64_t ctl_epoch;
	/* Control side: no watch registered (TESSERA_TEST_SKIP_WATCH, tests). */
	bool ctl_nowatch;
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

/*
 * Shutdown order (tsr_cluster_shutdown): tsr__io_fini(cl) first (in-flight
 * I/O completes or fails with -ECANCELED), then tsr__io_volume_close(vol)
 * for each volume handle still open (inflight is 0 by then), then the
 * control thread stops and the maps are freed.
 */

/* --------------------- control side private (tsr_cluster/conf/mon/map/volume) */

struct ProtobufCMessage;

/* Monotonic clock in microseconds. */
uint64_t tsr__now_us(void);

/* tsr_conf.c: defaults; validation of a mon list ("h:p[,h:p...]"). */
void tsr__conf_defaults(struct tsr_conf *conf);
int tsr__conf_mon_check(const char *mon);

/* A volume directory entry as the monitor describes it. */
struct tsr__vol_rec {
	uint64_t id;
	char name[TSR_NAME_MAX + 1];
	uint32_t pool;
	uint64_t size;
	uint32_t object_size;
	uint64_t features;
};

/* The answer to a monitor call (tsr__ctl_call). */
struct tsr__call_res {
	int rc;              /* the reply's status as 0 / -errno */
	char msg[256];       /* the monitor's message for errors */
	uint64_t epoch;      /* map epoch after the change */
	bool has_vol;
	struct tsr__vol_rec vol;
	struct tsr__vol_rec *list; /* VolumeReply.volumes, malloc'd: caller frees */
	size_t n_list;
};

/* tsr_mon.c: the control thread and its monitor session. */
int tsr__ctl_start(struct tsr_cluster *cl);
void tsr__ctl_stop(struct tsr_cluster *cl);
/*
 * Send one request to the leader and wait (at most connect_timeout) for its
 * reply; leader redirects and reconnections are handled inside. Blocking:
 * never from the control thread (-EDEADLK). Returns 0 with *res filled (its
 * rc is the monitor's answer), -ETIMEDOUT, -ENOTCONN, -ENOMEM.
 */
int tsr__ctl_call(struct tsr_cluster *cl, uint16_t type, const struct ProtobufCMessage *msg,
		  struct tsr__call_res *res);
/* Block until the handle has a map of epoch >= epoch, or deadline_us passes
 * (-ETIMEDOUT), or the handle stops (-ENOTCONN). */
int tsr__ctl_wait_map(struct tsr_cluster *cl, uint64_t epoch, uint64_t deadline_us);
/* Ask for a map >= epoch soon (non-blocking). */
void tsr__ctl_want(struct tsr_cluster *cl, uint64_t epoch);
bool tsr__ctl_is_ctl_thread(struct tsr_cluster *cl);
/* Serialise watch registration with open/close; watch callbacks run under
 * the callback lock (close waits for a running callback with it). */
void tsr__ctl_watch_lock(struct tsr_cluster *cl, bool lock);
void tsr__ctl_cb_lock(struct tsr_cluster *cl, bool lock);

/* tsr_map.c: publish a new map (control thread; takes ownership of m). */
void tsr__map_publish(struct tsr_cluster *cl, struct mon_map *m);
/* The volume with id in m, or NULL (m->vols is sorted by id). */
const struct mon_volume *tsr__map_vol(const struct mon_map *m, uint64_t id);

/* tsr_volume.c: compare open volumes with a new map, run watch callbacks. */
void tsr__vol_map_changed(struct tsr_cluster *cl, const struct tsr_map *map);
/* Close every open handle (shutdown; no monitor calls). */
void tsr__vol_close_all(struct tsr_cluster *cl, bool io_inited);

/* Object id of object index idx of a volume (common.proto: id << 32 | idx). */
static inline uint64_t
tsr__object_id(uint64_t vol_id, uint64_t idx)
{
	return (vol_id << 32) | (idx & 0xffffffffu);
}

#endif /* TSR_INT_H */
