/*
 * libstore: the local object store engine (one instance per reactor).
 *
 * A store lives in a partition (offset, length) of a block device or of a
 * preallocated file, opened with O_DIRECT. It holds objects named by
 * (pool id, object id), each a sparse array of 4 KiB blocks of at most
 * `max_object_bytes` (fixed at format time, default 4 MiB), plus a small
 * key/value table of per-store metadata (the OSD's PG info and PG logs).
 * On-disk format, journal, allocator and recovery: docs/libstore.md.
 *
 * Threading: a store belongs to one reactor. Every function below is called on
 * that reactor's thread only (st_sync_* run their own private reactor and must
 * not be called from a reactor thread). Nothing here takes a lock.
 *
 * ---------------------------------------------------------------------------
 * Operation contract (st_submit)
 * ---------------------------------------------------------------------------
 * The caller owns a struct st_req (embedded in its own request, no malloc),
 * fills the input fields and calls st_submit(). Returns 0: req->cb runs exactly
 * once, later, on the caller's thread, with the result; returns <0: cb never
 * runs (bad arguments: -EINVAL, -ERANGE; store shut down: -ESHUTDOWN).
 * The req (and its buffer) must stay valid and untouched until cb runs.
 *
 * Common inputs: op, obj (pool, oid), cb, ctx. Byte ranges: offset_bytes and
 * len_bytes are multiples of 4096, len_bytes > 0, offset+len <= max_object_bytes
 * (else st_submit returns -EINVAL). buf is 4096-byte aligned (else -EINVAL).
 *
 * ST_OP_READ    in: obj, offset_bytes, len_bytes, buf.
 *               out: buf filled; out_version = object version.
 *               rc 0; -ENOENT if the object does not exist; -EIO if a block's
 *               CRC32C does not match (counted in st_stats.csum_errors; the
 *               data is never returned silently); -errno from the device.
 *               Blocks never written, discarded or zeroed read as zeroes.
 *               A read never sees a torn write: each 4 KiB block is entirely
 *               the old or entirely the new contents of a concurrent write.
 * ST_OP_WRITE   in: obj, offset_bytes, len_bytes, buf, version.
 *               Creates the object if needed; sets its version to `version`.
 *               rc 0 once durable (see Durability); -ENOSPC when the data
 *               area, the object table or the journal cannot take it;
 *               -errno from the device. Writes of at most
 *               st_opts.journal_write_max_bytes go through the journal (one
 *               journal write); larger ones are redirect-on-write (one data
 *               write + one journal write, issued in parallel). Overwrites of
 *               already written blocks keep working on a full store.
 * ST_OP_DISCARD / ST_OP_WRITE_ZEROES
 *               in: obj, offset_bytes, len_bytes, version. The range reads as
 *               zeroes afterwards and its blocks are freed (statfs shows it).
 *               Both are the same operation here (an unmapped block reads as
 *               zeroes). Creates the object if it does not exist (so that its
 *               version is recorded). rc 0 once durable.
 * ST_OP_DELETE  in: obj, version (recorded in the journal only). Frees all
 *               blocks; the object no longer exists. rc 0, or -ENOENT.
 *               Always possible, even on a full store.
 * ST_OP_FLUSH   no inputs beyond cb. Completes after every operation that
 *               completed before the flush was submitted is durable. Since
 *               every mutation is acknowledged only once durable (unless
 *               durability == ST_DUR_NONE), this is a barrier: it completes
 *               after all mutations submitted before it have completed. With
 *               ST_DUR_NONE it also flushes the device cache.
 * ST_OP_META_SET in: meta_key/meta_key_len (1..ST_META_KEY_MAX bytes),
 *               buf/len_bytes (0..ST_META_VAL_MAX bytes, any alignment).
 *               rc 0 once durable; -ENOSPC if the metadata area is full.
 * ST_OP_META_DEL in: meta_key/meta_key_len. rc 0 or -ENOENT.
 *
 * Ordering: mutations become visible to reads (and to st_meta_get,
 * st_object_stat, st_list) when they complete, not when submitted.
 * Non-overlapping operations are independent. Overlapping mutations of the
 * same object range must not be in flight at the same time: the caller (the
 * OSD primary) orders writes to an object; if it does not, each block ends up
 * as one of the writes, but which one is unspecified. ST_OP_FLUSH waits for all
 * earlier mutations.
 *
 * Durability: with ST_DUR_FUA every journal write and data write is issued
 * with RWF_DSYNC (FUA); with ST_DUR_BATCH_FLUSH the writes are plain and one
 * fdatasync covers every journal record in flight (group commit); with
 * ST_DUR_NONE (benchmarks only) nothing waits for the device cache. Under
 * ST_DUR_FUA and ST_DUR_BATCH_FLUSH a completed mutation survives a power cut
 * at any later moment; a mutation that had not completed is after recovery
 * either entirely absent or entirely present (per operation, never torn).
 *
 * Versions: one u64 per object, set by the caller on every mutation (the OSD's
 * replication version; pack epoch and sequence into it as it sees fit).
 * libstore stores and returns it, never interprets it.
 *
 * Checksums: a CRC32C of every 4 KiB data block is kept in the index and
 * checked on every read; a mismatch returns -EIO.
 * ---------------------------------------------------------------------------
 */
#ifndef ST_H
#define ST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rt_reactor;
struct st_store;

#define ST_BLOCK_SIZE 4096u
#define ST_META_KEY_MAX 64u
#define ST_META_VAL_MAX (64u * 1024u)
/* Private area embedded in every request (no allocation per I/O). */
#define ST_REQ_PRIV_BYTES 2048u

/* An object name. */
struct st_obj_id {
	uint32_t pool;
	uint64_t oid;
};

#define DF_STOBJ "%" PRIu32 ":%" PRIx64
#define DP_STOBJ(o) (o).pool, (o).oid

enum st_durability {
	ST_DUR_FUA = 0,         /* RWF_DSYNC on every write: default */
	ST_DUR_BATCH_FLUSH = 1, /* plain writes + one fdatasync per journal batch */
	ST_DUR_NONE = 2,        /* no durability wait: benchmarks only */
};

/* ------------------------------------------------------------------------- */
/* I/O backend: the layer under libstore. */

enum st_bio_op {
	ST_BIO_READ = 0,
	ST_BIO_WRITE = 1,
	ST_BIO_FLUSH = 2, /* fdatasync / device cache flush */
};

struct st_bio;
typedef void (*st_bio_cb)(struct st_bio *bio, int res);

/*
 * One backend I/O. offset_bytes is absolute in the file (partition offset
 * already added) and, as len_bytes and buf, 4 KiB aligned. On completion
 * cb(bio, res) runs with res = bytes transferred (== len_bytes) or -errno.
 */
struct st_bio {
	enum st_bio_op op;
	bool fua; /* write only: durable on completion (RWF_DSYNC) */
	uint64_t offset_bytes;
	uint32_t len_bytes;
	void *buf;
	st_bio_cb cb;
	void *ctx;             /* owner's */
	uint8_t bpriv[48];     /* backend's private area */
};

/*
 * A backend: submit() follows the async contract (returns 0: bio->cb runs
 * exactly once, later, on the reactor thread; returns <0: cb never runs).
 * close() releases the backend's resources.
 */
struct st_backend_ops {
	const char *name;
	int (*submit)(void *bctx, struct st_bio *bio);
	void (*close)(void *bctx);
};

/* ------------------------------------------------------------------------- */

struct st_opts {
	const char *path;          /* device or file */
	uint64_t offset_bytes;     /* partition start, 4 KiB aligned (default 0) */
	uint64_t length_bytes;     /* partition length; 0: to the end of the file */
	/* Format only (open reads them from the superblock): */
	uint32_t max_object_bytes; /* default 4 MiB; multiple of 4 KiB, <= 64 MiB */
	uint64_t journal_bytes;    /* default: 1/8 of the partition, 4..512 MiB */
	uint64_t max_objects;      /* default: one per data block */
	uint64_t meta_bytes;       /* metadata k/v capacity; default 4 MiB */
	bool create;               /* format: create path if missing ... */
	uint64_t create_size_bytes;/* ... and size it (fallocate) to this */
	/* Run time: */
	enum st_durability durability;  /* default ST_DUR_FUA */
	uint32_t journal_write_max_bytes; /* writes up to this go via the journal;
					   * default 4 KiB; 0 is the default */
	bool no_direct;            /* do not use O_DIRECT (tmpfs tests); default false */
	/*
	 * Backend: NULL means io_uring on the reactor (default). A test backend
	 * (st_membackend_*) or any other implementation may be given here; it is
	 * then used for all I/O, including format and open, and path is ignored.
	 */
	const struct st_backend_ops *backend;
	void *backend_ctx;
	uint64_t backend_size_bytes; /* size of the backend's disk (if backend) */
	/* The reactor a custom backend completes on: st_format drives it. */
	struct rt_reactor *backend_reactor;
};

/* Fill opts with the defaults above (path NULL). */
void st_opts_init(struct st_opts *opts);

enum st_op {
	ST_OP_READ = 0,
	ST_OP_WRITE,
	ST_OP_DISCARD,
	ST_OP_WRITE_ZEROES,
	ST_OP_DELETE,
	ST_OP_FLUSH,
	ST_OP_META_SET,
	ST_OP_META_DEL,
	ST_OP__COUNT
};

struct st_req;
typedef void (*st_req_cb)(struct st_req *req, int rc);

struct st_req {
	/* in */
	enum st_op op;
	struct st_obj_id obj;
	uint64_t offset_bytes;
	uint64_t len_bytes;
	void *buf;
	uint64_t version;
	const void *meta_key;
	uint32_t meta_key_len;
	st_req_cb cb;
	void *ctx; /* caller's */
	/* out */
	uint64_t out_version;
	/* private to libstore */
	_Alignas(16) uint8_t priv[ST_REQ_PRIV_BYTES];
};

/*
 * Format a store: writes the superblock, an empty journal and an empty
 * checkpoint. Synchronous (control path; uses a private ring or the given
 * backend). With opts->create the file is created (and sized to
 * create_size_bytes) if it does not exist. Returns 0, -EINVAL (bad geometry:
 * too small, unaligned), -ENOSPC (partition too small for the layout), or
 * -errno.
 */
int st_format(const struct st_opts *opts);

/*
 * Open a store on reactor r (the calling thread must be r's thread, or r must
 * not be running yet). Reads the superblock and the newest valid checkpoint,
 * replays the journal and writes a fresh checkpoint. Synchronous: control path
 * only (it drives r with rt_reactor_run_once while it works, so it must not be
 * called from inside a reactor callback).
 * Returns 0 and *out, or -RT_EBADMAGIC (not a store), -RT_EBADVERSION,
 * -RT_EBADCRC (superblock corrupt), -RT_ECORRUPT (no valid checkpoint), -EINVAL
 * (geometry in the superblock does not match the partition), -ENOMEM, -errno.
 */
int st_open(const struct st_opts *opts, struct rt_reactor *r, struct st_store **out);

/*
 * Close: waits for in-flight operations (drives the reactor), writes a
 * checkpoint, closes the device, frees everything and sets *stp to NULL.
 * Returns 0 or the first error seen while writing the checkpoint.
 */
int st_close(struct st_store **stp);

/* Submit an operation; see the contract at the top of this file. */
int st_submit(struct st_store *st, struct st_req *req);

/*
 * Metadata lookup (synchronous, from memory). Copies at most buf_len bytes of
 * the value into buf. Returns the value's full length (>= 0), -ENOENT,
 * -EINVAL (bad key).
 */
int st_meta_get(struct st_store *st, const void *key, uint32_t key_len, void *buf,
		uint32_t buf_len);

/*
 * Iterate metadata keys with a given prefix, in unspecified order: fn is called
 * for each; a non-zero return from fn stops and is returned. Control path.
 */
typedef int (*st_meta_iter_fn)(void *arg, const void *key, uint32_t key_len, const void *val,
			       uint32_t val_len);
int st_meta_iterate(struct st_store *st, const void *prefix, uint32_t prefix_len,
		    st_meta_iter_fn fn, void *arg);

struct st_obj_info {
	struct st_obj_id obj;
	uint64_t version;
	uint64_t mapped_bytes; /* bytes of blocks holding data */
};

/* One object's info (from memory). Returns 0 or -ENOENT. */
int st_object_stat(struct st_store *st, struct st_obj_id obj, struct st_obj_info *out);

/*
 * List objects in a stable order: ascending (pool, oid). Returns in out[] up
 * to max objects strictly after *cursor (start with cursor {0, 0} and
 * first = true), restricted to pool `pool` unless pool == UINT32_MAX.
 * Updates *cursor to the last returned object. Returns the number returned
 * (0: end) or -EINVAL. Objects created or deleted between pages may or may
 * not show up; the others show up exactly once. O(objects) per call:
 * control path (recovery, scrub), use a large max.
 */
struct st_list_cursor {
	struct st_obj_id last;
	bool first;
};
int st_list(struct st_store *st, uint32_t pool, struct st_list_cursor *cursor,
	    struct st_obj_info *out, uint32_t max);

struct st_statfs {
	uint64_t total_bytes;   /* data area */
	uint64_t used_bytes;    /* blocks allocated to objects */
	uint64_t free_bytes;    /* blocks available for new data */
	uint64_t objects;
	uint64_t max_objects;
	uint64_t journal_bytes;
	uint64_t journal_used_bytes;
	uint64_t meta_bytes;    /* metadata k/v capacity */
	uint64_t meta_used_bytes;
};
void st_statfs(struct st_store *st, struct st_statfs *out);

struct st_stats {
	uint64_t reads, writes, discards, deletes, flushes, meta_sets;
	uint64_t read_bytes, write_bytes;
	uint64_t journal_writes, journal_bytes; /* journal records written */
	uint64_t journal_small_writes;          /* writes that went via the journal */
	uint64_t row_writes;                    /* redirect-on-write writes */
	uint64_t dev_flushes;                   /* fdatasync issued */
	uint64_t checkpoints;
	uint64_t csum_errors;                   /* reads that failed their CRC */
	uint64_t io_errors;
	uint64_t enospc;
	uint64_t queued;                        /* ops that had to wait */
};
void st_get_stats(struct st_store *st, struct st_stats *out);

/* Options in effect (geometry from the superblock), and the device fd (-1 for
 * a custom backend). */
void st_get_opts(struct st_store *st, struct st_opts *out);
int st_get_fd(struct st_store *st);
/* Store uuid (16 bytes). */
void st_get_uuid(struct st_store *st, uint8_t uuid[16]);

/* Force a checkpoint now (the journal is trimmed). Async contract. */
int st_checkpoint(struct st_store *st, st_req_cb cb, struct st_req *req);

/* ------------------------------------------------------------------------- */
/*
 * Blocking convenience layer, for tools and tests only. Each call drives the
 * store's reactor with rt_reactor_run_once until the operation completes;
 * never call these from inside a reactor callback. Return the operation's rc.
 */
int st_sync_submit(struct st_store *st, struct st_req *req);
int st_sync_read(struct st_store *st, struct st_obj_id obj, uint64_t offset_bytes,
		 uint64_t len_bytes, void *buf, uint64_t *version);
int st_sync_write(struct st_store *st, struct st_obj_id obj, uint64_t offset_bytes,
		  uint64_t len_bytes, const void *buf, uint64_t version);
int st_sync_discard(struct st_store *st, struct st_obj_id obj, uint64_t offset_bytes,
		    uint64_t len_bytes, uint64_t version);
int st_sync_write_zeroes(struct st_store *st, struct st_obj_id obj, uint64_t offset_bytes,
			 uint64_t len_bytes, uint64_t version);
int st_sync_delete(struct st_store *st, struct st_obj_id obj, uint64_t version);
int st_sync_flush(struct st_store *st);
int st_sync_meta_set(struct st_store *st, const void *key, uint32_t key_len, const void *val,
		     uint32_t val_len);
int st_sync_meta_del(struct st_store *st, const void *key, uint32_t key_len);
int st_sync_checkpoint(struct st_store *st);

/* ------------------------------------------------------------------------- */
/*
 * Test backend: an in-memory disk with a volatile write cache, for the
 * power-cut simulation. Writes without fua land in the cache; a flush (or a fua
 * write) makes them durable. st_membackend_powercut() keeps a random subset of
 * the cached writes, some torn at 4 KiB granularity, and drops the rest,
 * as a disk losing power would. Completions are deferred on reactor r.
 */
struct st_membackend;
int st_membackend_create(struct rt_reactor *r, uint64_t size_bytes, struct st_membackend **out);
void st_membackend_destroy(struct st_membackend **mbp);
const struct st_backend_ops *st_membackend_ops(void);
/* Keep a random subset (seeded) of unflushed writes, tearing some; fail all
 * later I/O with -EIO until st_membackend_restore(). Returns writes dropped. */
int st_membackend_powercut(struct st_membackend *mb, uint64_t seed);
void st_membackend_restore(struct st_membackend *mb);
/* Direct access to the durable image (tests: corrupt a block). */
uint8_t *st_membackend_image(struct st_membackend *mb);
/* Fail every later write touching blocks [blk, blk + nblks) with err (a
 * negative errno), until called again with nblks = 0. */
void st_membackend_fail_writes(struct st_membackend *mb, uint64_t blk, uint64_t nblks, int err);

#endif
