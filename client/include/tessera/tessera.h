/*
 * libtessera: the Tessera client library (block volumes on a Tessera cluster).
 *
 * Modelled on librbd's C API. A program creates a cluster handle, configures it
 * (string, file or environment), connects to the monitors, then creates, opens
 * and does I/O on volumes:
 *
 *	struct tsr_cluster *cl;
 *	struct tsr_volume *vol;
 *	tsr_cluster_create(&cl);
 *	tsr_conf_parse_env(cl);                  // TESSERA_MON=127.0.0.1:6789 ...
 *	tsr_cluster_connect(cl);
 *	tsr_volume_create(cl, "vm1", 10ull << 30, NULL);
 *	tsr_volume_open(cl, "vm1", &vol);
 *	tsr_write(vol, 0, 4096, buf);
 *	tsr_volume_close(vol);
 *	tsr_cluster_shutdown(cl);
 *
 * Errors: every function that can fail returns a negative errno value (never
 * sets errno); the values each one can return are listed with it. Besides
 * those, any function that talks to the cluster can return -ETIMEDOUT (no
 * answer within the configured timeout), -ENOTCONN (the handle is not
 * connected or is shutting down) and -ENOMEM.
 *
 * I/O unit: offsets and lengths of data I/O are multiples of TSR_BLOCK_SIZE
 * (4096), else -EINVAL; I/O that reaches past the volume's size fails with
 * -ERANGE and does nothing. Blocks never written read as zeroes.
 *
 * Durability: a write (write, writev, discard, write_zeroes,
 * compare_and_write) that completes successfully is durable on every up
 * replica of its data (at least the pool's min_size). A flush completes when
 * every write submitted before it on the same volume handle (for queue I/O:
 * on the same queue) has completed.
 *
 * Ordering: overlapping I/O submitted concurrently has no defined order (as
 * for a disk); wait for one to complete before submitting the other.
 *
 * Threads: one cluster handle and one volume handle may be used by many
 * threads at once. Three ways to submit I/O, with one engine behind them:
 *  - synchronous calls (tsr_read, tsr_write, ...): run on the calling thread,
 *    which drives a private per-thread queue while it waits (no thread hop);
 *  - tsr_aio_* with completion objects: submitted from any thread to the
 *    library's I/O thread(s); callbacks run on a library I/O thread;
 *  - tsr_queue_*: a queue owned by one application thread (a frontend's queue
 *    thread). That thread submits, then polls the queue or waits on its file
 *    descriptor; callbacks run on that thread inside tsr_queue_poll/wait. No
 *    lock and no thread hop on this path.
 * Data buffers are handed to the network as they are (never copied by the
 * library) and must stay valid and unchanged until the I/O completes.
 *
 * Failures: the library follows the cluster map. A request whose OSD fails or
 * whose placement changes is resent to the new primary with the same request
 * id (the OSD applies it once); an I/O fails only when it cannot complete
 * within `op_timeout` (-ETIMEDOUT), or with a definite error from the cluster
 * (-EIO, -ENOSPC...).
 */
#ifndef TESSERA_TESSERA_H
#define TESSERA_TESSERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TSR_VERSION_MAJOR 0
#define TSR_VERSION_MINOR 1
#define TSR_VERSION_PATCH 0

/* Data I/O unit: offsets and lengths are multiples of this. */
#define TSR_BLOCK_SIZE 4096u
/* Longest volume or pool name, without the terminating NUL. */
#define TSR_NAME_MAX 127

/* Library version; any pointer may be NULL. */
void tsr_version(int *major, int *minor, int *patch);

/* ------------------------------------------------------------------ cluster */

struct tsr_cluster;

/*
 * A new, unconnected cluster handle with default configuration.
 * Returns 0, or -ENOMEM.
 */
int tsr_cluster_create(struct tsr_cluster **out);

/*
 * Configuration keys (set before tsr_cluster_connect; later changes are
 * refused with -EISCONN):
 *   mon              monitor addresses, "host:port[,host:port...]" (required)
 *   op_timeout       seconds an I/O may take, retries included, before it
 *                    fails with -ETIMEDOUT; default 30; 0: wait forever
 *   connect_timeout  seconds tsr_cluster_connect and volume management calls
 *                    wait for the monitors; default 10
 *   io_threads       library I/O threads serving tsr_aio_*; default 1
 *   queue_depth      requests in flight per queue before -EAGAIN; default 256
 *   log_level        error|warn|info|debug; default warn
 *   log_file         log to this file instead of stderr
 */

/* Set one key. Returns 0, -EINVAL (unknown key or bad value), -EISCONN. */
int tsr_conf_set(struct tsr_cluster *cl, const char *key, const char *value);

/*
 * Read one key's current value into buf (NUL-terminated).
 * Returns 0, -ENOENT (unknown key), -ERANGE (buf too small).
 */
int tsr_conf_get(struct tsr_cluster *cl, const char *key, char *buf, size_t len);

/*
 * Set keys from a string: "key=value" pairs separated by newlines, ';' or ','
 * -- except that a mon value may itself hold commas, so put it last or on
 * its own line. '#' starts a comment.
 * Returns 0, or -EINVAL (naming nothing about which: see the log), -EISCONN.
 */
int tsr_conf_parse_string(struct tsr_cluster *cl, const char *conf);

/*
 * Read a config file of "key = value" lines ('#' comments).
 * Returns 0, -ENOENT/-EACCES (cannot read), -EINVAL (bad line), -EISCONN.
 */
int tsr_conf_read_file(struct tsr_cluster *cl, const char *path);

/*
 * Apply the environment: TESSERA_CONF (a config file), then TESSERA_MON
 * (mon), TESSERA_OP_TIMEOUT (op_timeout). Unset variables are skipped.
 * Returns 0 or an error of tsr_conf_read_file/tsr_conf_set.
 */
int tsr_conf_parse_env(struct tsr_cluster *cl);

/*
 * Connect to the monitors and fetch the cluster map; starts the library's
 * threads. Blocks for at most connect_timeout.
 * Returns 0, -EINVAL (no or bad mon addresses), -ETIMEDOUT (no monitor
 * answered), -EISCONN (already connected).
 */
int tsr_cluster_connect(struct tsr_cluster *cl);

/*
 * Close everything and free the handle. Open volumes are closed (their
 * in-flight I/O completes or fails with -ECANCELED first); queues must have
 * been destroyed by their threads. NULL is a no-op.
 */
void tsr_cluster_shutdown(struct tsr_cluster *cl);

/* The epoch of the newest cluster map this handle has, 0 before connect. */
uint64_t tsr_cluster_epoch(struct tsr_cluster *cl);

/* This client's unique id (random per handle; OSDs see it in requests). */
uint64_t tsr_cluster_client_id(struct tsr_cluster *cl);

/* -------------------------------------------------------------------- pools */

struct tsr_pool_info {
	uint32_t id;
	char name[TSR_NAME_MAX + 1];
	uint32_t size;     /* replicas */
	uint32_t min_size; /* replicas needed to accept writes */
	uint32_t pg_count;
};

/*
 * List pools into pools[0..*count). On return *count is the number of pools.
 * Returns 0, -ERANGE (more pools than *count; *count says how many),
 * -ENOTCONN.
 */
int tsr_pool_list(struct tsr_cluster *cl, struct tsr_pool_info *pools, size_t *count);

/* ------------------------------------------------------------------ volumes */

struct tsr_volume;

struct tsr_volume_opts {
	const char *pool;     /* pool name; NULL: the cluster's default pool ("rbd"
			       * if it exists, else the only pool) */
	uint32_t object_size; /* bytes, a power of two from 64 KiB to 64 MiB;
			       * 0: 4 MiB */
	uint64_t features;    /* reserved, 0 */
};

struct tsr_volume_info {
	uint64_t id;          /* never reused */
	char name[TSR_NAME_MAX + 1];
	char pool[TSR_NAME_MAX + 1];
	uint32_t pool_id;
	uint64_t size;        /* bytes */
	uint32_t object_size; /* bytes */
	uint64_t num_objects; /* objects the size spans */
	uint64_t features;
};

/*
 * Create a volume of size bytes (a multiple of TSR_BLOCK_SIZE; 0 allowed).
 * opts may be NULL (defaults).
 * Returns 0, -EEXIST (name taken), -ENOENT (no such pool), -EINVAL (bad name:
 * empty, too long, '/' or control characters; bad size or object size).
 */
int tsr_volume_create(struct tsr_cluster *cl, const char *name, uint64_t size,
		      const struct tsr_volume_opts *opts);

/*
 * List volumes (sorted by name) into vols[0..*count); *count is set to the
 * number of volumes. Returns 0, -ERANGE (more than *count; *count says how
 * many).
 */
int tsr_volume_list(struct tsr_cluster *cl, struct tsr_volume_info *vols, size_t *count);

/* Describe a volume by name. Returns 0, -ENOENT. */
int tsr_volume_info_by_name(struct tsr_cluster *cl, const char *name,
			    struct tsr_volume_info *info);

/*
 * Remove a volume and delete its data. Refused with -EBUSY while any client
 * anywhere has it open. Returns 0, -ENOENT, -EBUSY.
 */
int tsr_volume_remove(struct tsr_cluster *cl, const char *name);

/*
 * Rename. Open handles keep working (they address the volume by id).
 * Returns 0, -ENOENT (no volume name), -EEXIST (new_name taken), -EINVAL.
 */
int tsr_volume_rename(struct tsr_cluster *cl, const char *name, const char *new_name);

/*
 * Open a volume. The handle watches the volume: resizes, renames and removal
 * made by any client are seen at once (see tsr_volume_watch).
 * Returns 0, -ENOENT.
 */
int tsr_volume_open(struct tsr_cluster *cl, const char *name, struct tsr_volume **out);

/*
 * Close: waits for the handle's in-flight I/O, stops watching and frees the
 * handle. Queue I/O on it must have completed (-EBUSY otherwise, and the
 * handle stays open). Returns 0, -EBUSY. NULL is a no-op returning 0.
 */
int tsr_volume_close(struct tsr_volume *vol);

/* Describe an open volume (its current size and name). Returns 0. */
int tsr_volume_stat(struct tsr_volume *vol, struct tsr_volume_info *info);

/* The current size in bytes (changes when anyone resizes the volume). */
uint64_t tsr_volume_size(struct tsr_volume *vol);

/* Shrinking below the current size needs this flag (it deletes data). */
#define TSR_RESIZE_ALLOW_SHRINK 0x1u

/*
 * Resize to size bytes (multiple of TSR_BLOCK_SIZE). Growing exposes zeroes.
 * Shrinking deletes the data past the new size, and is refused with -EINVAL
 * unless flags has TSR_RESIZE_ALLOW_SHRINK.
 * Returns 0, -EINVAL, -ENOENT (the volume was removed).
 */
int tsr_volume_resize(struct tsr_volume *vol, uint64_t size, unsigned flags);

enum tsr_volume_event {
	TSR_VOLUME_RESIZED = 1, /* size is the new size */
	TSR_VOLUME_RENAMED = 2, /* the new name: tsr_volume_stat */
	TSR_VOLUME_REMOVED = 3, /* I/O now fails with -ENOENT */
};

typedef void (*tsr_volume_event_cb)(struct tsr_volume *vol, enum tsr_volume_event ev,
				    uint64_t size, void *arg);

/*
 * Be told of changes to an open volume made by any client (including this
 * one). One callback per handle: a new call replaces it, cb NULL removes it.
 * The callback runs on a library thread, must not block, and must not call
 * tsr_volume_close on vol. Returns 0.
 */
int tsr_volume_watch(struct tsr_volume *vol, tsr_volume_event_cb cb, void *arg);

/* --------------------------------------------------------- synchronous I/O */

/* Read len bytes at off into buf. Returns len, or -EINVAL, -ERANGE, -EIO, -ENOENT. */
ssize_t tsr_read(struct tsr_volume *vol, uint64_t off, size_t len, void *buf);
/* Write len bytes at off. Returns len, or -EINVAL, -ERANGE, -EIO, -ENOSPC, -ENOENT. */
ssize_t tsr_write(struct tsr_volume *vol, uint64_t off, size_t len, const void *buf);
/* Vectored forms (iovcnt 1..TSR_IOV_MAX); returns the total length or as above. */
#define TSR_IOV_MAX 1024
ssize_t tsr_readv(struct tsr_volume *vol, const struct iovec *iov, int iovcnt, uint64_t off);
ssize_t tsr_writev(struct tsr_volume *vol, const struct iovec *iov, int iovcnt, uint64_t off);
/* See "Durability". Returns 0, or an error of a write it waited for. */
int tsr_flush(struct tsr_volume *vol);
/* Deallocate: the range reads as zeroes afterwards. Returns 0 or as tsr_write. */
int tsr_discard(struct tsr_volume *vol, uint64_t off, uint64_t len);
/* Write zeroes (the store may deallocate). Returns 0 or as tsr_write. */
int tsr_write_zeroes(struct tsr_volume *vol, uint64_t off, uint64_t len);
/*
 * Atomically: if the len bytes at off equal cmp, write buf there. The range
 * must lie within one object (SCSI COMPARE AND WRITE is a few blocks).
 * Returns len; -EILSEQ on a miscompare, with *mismatch_off (may be NULL) the
 * volume offset of the first differing byte; -EINVAL (spans objects,
 * unaligned), or as tsr_write.
 */
ssize_t tsr_compare_and_write(struct tsr_volume *vol, uint64_t off, size_t len, const void *cmp,
			      const void *buf, uint64_t *mismatch_off);

/* ------------------------------------------------- asynchronous completions */

struct tsr_completion;
typedef void (*tsr_callback_t)(struct tsr_completion *c, void *arg);

/*
 * A completion for one tsr_aio_* call. cb (may be NULL) runs once, on a
 * library I/O thread, when the I/O ends; it may release c. Without a
 * callback, wait for c and release it. Returns 0, -ENOMEM.
 */
int tsr_aio_create_completion(void *arg, tsr_callback_t cb, struct tsr_completion **out);
/* Block until complete (any thread but a library thread). Returns 0. */
int tsr_aio_wait_for_complete(struct tsr_completion *c);
bool tsr_aio_is_complete(struct tsr_completion *c);
/* The result: as the synchronous call's return value. Valid once complete. */
ssize_t tsr_aio_get_return_value(struct tsr_completion *c);
void *tsr_aio_get_arg(struct tsr_completion *c);
/* Free a completion (after it completed, or from its own callback). */
void tsr_aio_release(struct tsr_completion *c);

/*
 * Submit. Returns 0: c completes exactly once, later, with the result the
 * synchronous call would have returned; returns <0 (-EINVAL, -ERANGE,
 * -ENOENT, -ENOTCONN): nothing was submitted and c does not complete.
 */
int tsr_aio_read(struct tsr_volume *vol, uint64_t off, size_t len, void *buf,
		 struct tsr_completion *c);
int tsr_aio_write(struct tsr_volume *vol, uint64_t off, size_t len, const void *buf,
		  struct tsr_completion *c);
int tsr_aio_readv(struct tsr_volume *vol, const struct iovec *iov, int iovcnt, uint64_t off,
		  struct tsr_completion *c);
int tsr_aio_writev(struct tsr_volume *vol, const struct iovec *iov, int iovcnt, uint64_t off,
		   struct tsr_completion *c);
int tsr_aio_flush(struct tsr_volume *vol, struct tsr_completion *c);
int tsr_aio_discard(struct tsr_volume *vol, uint64_t off, uint64_t len, struct tsr_completion *c);
int tsr_aio_write_zeroes(struct tsr_volume *vol, uint64_t off, uint64_t len,
			 struct tsr_completion *c);
/* mismatch_off must stay valid until c completes. */
int tsr_aio_compare_and_write(struct tsr_volume *vol, uint64_t off, size_t len, const void *cmp,
			      const void *buf, uint64_t *mismatch_off, struct tsr_completion *c);

/* ------------------------------------------------------- per-thread queues */

/*
 * A queue belongs to the thread that creates it: only that thread may submit
 * on it, poll it, wait on it and destroy it. Requests come from a pool of
 * queue_depth entries made at creation (no allocation per I/O); when it is
 * empty a submission returns -EAGAIN: poll and retry.
 *
 * Callbacks run on the owner thread inside tsr_queue_poll/tsr_queue_wait,
 * with result as the synchronous call would return it. A callback may submit
 * new I/O on the same queue.
 */
struct tsr_queue;
typedef void (*tsr_io_cb)(void *arg, ssize_t result);

/* Returns 0, -ENOTCONN, -ENOMEM. */
int tsr_queue_create(struct tsr_cluster *cl, struct tsr_queue **out);
/* Returns 0, or -EBUSY (I/O still in flight: poll until it completes). */
int tsr_queue_destroy(struct tsr_queue *q);

/*
 * A file descriptor that becomes readable when the queue has work for
 * tsr_queue_poll (for epoll/poll loops). Protocol: call tsr_queue_poll until
 * it returns 0 before blocking on the fd; after that any new completion makes
 * the fd readable. The fd belongs to the queue (do not close or read it).
 */
int tsr_queue_fd(struct tsr_queue *q);

/*
 * Process what is ready without blocking: network events, retries, timeouts;
 * runs at most max completion callbacks (0: no limit). Returns the number of
 * callbacks run (>= 0), or -errno.
 */
int tsr_queue_poll(struct tsr_queue *q, unsigned max);

/*
 * Like tsr_queue_poll, but blocks up to timeout_us (-1: no limit) until at
 * least one callback has run. Returns the number run (0 on timeout), -errno.
 */
int tsr_queue_wait(struct tsr_queue *q, int64_t timeout_us);

/* Requests in flight on the queue. */
unsigned tsr_queue_inflight(struct tsr_queue *q);

/* Submit on q. Returns 0: cb(arg, result) runs exactly once, later, on the
 * queue's thread; returns <0 (-EINVAL, -ERANGE, -ENOENT, -EAGAIN): cb never
 * runs. */
int tsr_queue_read(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off, size_t len,
		   void *buf, tsr_io_cb cb, void *arg);
int tsr_queue_write(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off, size_t len,
		    const void *buf, tsr_io_cb cb, void *arg);
int tsr_queue_readv(struct tsr_queue *q, struct tsr_volume *vol, const struct iovec *iov,
		    int iovcnt, uint64_t off, tsr_io_cb cb, void *arg);
int tsr_queue_writev(struct tsr_queue *q, struct tsr_volume *vol, const struct iovec *iov,
		     int iovcnt, uint64_t off, tsr_io_cb cb, void *arg);
int tsr_queue_flush(struct tsr_queue *q, struct tsr_volume *vol, tsr_io_cb cb, void *arg);
int tsr_queue_discard(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off, uint64_t len,
		      tsr_io_cb cb, void *arg);
int tsr_queue_write_zeroes(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off,
			   uint64_t len, tsr_io_cb cb, void *arg);
int tsr_queue_compare_and_write(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off,
				size_t len, const void *cmp, const void *buf,
				uint64_t *mismatch_off, tsr_io_cb cb, void *arg);

/* --------------------------------------------------------------- statistics */

struct tsr_queue_stats {
	uint64_t ops;        /* completed I/O requests */
	uint64_t bytes;      /* data bytes of completed reads and writes */
	uint64_t errors;     /* requests completed with an error */
	uint64_t resends;    /* object requests resent (map change, lost peer) */
	uint64_t timeouts;   /* requests failed with -ETIMEDOUT */
};

void tsr_queue_get_stats(struct tsr_queue *q, struct tsr_queue_stats *out);

/* Human text for a libtessera error value (also plain errnos). Never NULL. */
const char *tsr_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_TESSERA_H */
