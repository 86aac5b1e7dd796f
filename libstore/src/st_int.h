/*
 * libstore internals: in-memory structures shared by the st_*.c files.
 * On-disk structures live in ondisk.h only.
 */
#ifndef ST_INT_H
#define ST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ondisk.h"
#include "rt_reactor.h"
#include "st.h"

#define ST_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Limits of one journal record (two record buffers are allocated). */
#define ST_JREC_HDR_MAX (256u * 1024u)   /* header + entries */
#define ST_JREC_DATA_MAX (1024u * 1024u) /* data blocks */
#define ST_JWRITE_MAX_LIMIT (64u * 1024u) /* cap of journal_write_max_bytes */
#define ST_JBUFS 5u        /* record buffers: one filling, the others in flight */
#define ST_JINFLIGHT_MAX 4u /* records in flight at once (ST_DUR_FUA, ST_DUR_NONE) */
#define ST_OP_BIOS 8u
#define ST_READ_CHUNK_BLKS 128u
#define ST_CKPT_FLUSH_PAR 32u

/* ---- index ---- */
#define ST_NONE UINT32_MAX

struct st_obj {
	uint32_t pool;
	uint8_t used;
	uint8_t ck_stamp; /* serialised by the checkpoint with this stamp (0: never) */
	uint8_t pad[2];
	uint64_t oid;
	uint64_t version;
	uint32_t mapped_blks;
	uint32_t ck_idx;  /* its index in that checkpoint's object array */
};

struct st_bent {
	uint64_t oid;
	uint32_t pool;
	uint32_t lblock; /* ST_NONE: empty slot */
	uint32_t cur;    /* where the data is now: home or a journal block */
	uint32_t home;   /* data-area block owned by this lblock */
	uint32_t crc;
	uint32_t pad;
};

struct st_meta {
	uint32_t key_len;
	uint32_t val_len;
	uint8_t key[ST_META_KEY_MAX];
	uint8_t *val;
};

struct st_index {
	struct st_obj *objs;
	uint64_t obj_cap; /* power of two */
	uint64_t n_objs;
	struct st_bent *blks;
	uint64_t blk_cap;
	uint64_t n_blks;
	struct st_meta **meta;
	uint64_t meta_cap;
	uint64_t n_meta;
	uint64_t meta_used_bytes; /* as serialized in a checkpoint */
	/* A checkpoint serialising a table (0 objects, 1 blocks) in steps: the
	 * slots below scan_cur[t] are done. A deletion moving an entry across it
	 * (the entry would be missed or seen twice) sets scan_moved. */
	bool scan_on[2];
	uint64_t scan_cur[2];
	bool scan_moved;
};

/* ---- allocator ---- */
struct st_alloc {
	uint64_t *bitmap; /* 1 = in use; bit i = data block data_blk + i */
	uint64_t nblks;
	uint64_t base;    /* first data block */
	uint64_t free_blks;
	uint64_t cursor;
	/* Deferred frees, released when reads that may still use them are done. */
	uint32_t *pend[2];
	uint64_t npend[2];
	uint64_t rd_inflight[2];
	uint64_t epoch;
};

/* ---- ops ---- */
struct st_iop;
struct st_jbuf;

struct st_iop {
	struct st_req *req;
	struct st_iop *next; /* wait queue or record waiter list */
	struct st_store *st;
	int rc;
	int pending;        /* bios in flight */
	uint32_t nbios;
	uint32_t epoch;     /* read epoch */
	bool counted;       /* in st->inflight */
	bool data_pending;  /* RoW data in flight (counted in jbuf->data_pending) */
	struct st_jbuf *jb; /* record holding this op's entry */
	uint32_t ent_off;   /* entry offset in jb->hdr */
	uint32_t data_idx;  /* WRITE_J: first data block in the record */
	uint32_t nblocks;
	uint32_t lblock;
	uint32_t next_blk;  /* read/RoW progress (relative to lblock) */
	uint32_t jtype;
	uint32_t chunk;     /* blocks in the current read/RoW round */
	uint32_t nhomes;
	uint32_t homes[ST_JWRITE_MAX_LIMIT / ST_BLK]; /* WRITE_J new homes */
	uint32_t crcs[ST_READ_CHUNK_BLKS];            /* read: expected CRCs */
	uint8_t mapped[ST_READ_CHUNK_BLKS];           /* read: block mapped? */
	struct st_msg_slot {
		struct rt_msg msg;
	} defer;
	struct st_bio bios[ST_OP_BIOS];
};
_Static_assert(sizeof(struct st_iop) <= ST_REQ_PRIV_BYTES, "st_op fits st_req.priv");

static inline struct st_iop *
st__op(struct st_req *req)
{
	return (struct st_iop *)req->priv;
}

/* ---- journal ---- */
struct st_jbuf {
	uint8_t *buf;       /* ST_JREC_HDR_MAX + ST_JREC_DATA_MAX, aligned */
	uint32_t ent_bytes; /* entries appended after the header */
	uint32_t n_entries;
	uint32_t data_blks;
	uint64_t row_blks;
	struct st_iop *head, *tail; /* ops waiting on this record */
	uint32_t data_pending;     /* RoW data writes still in flight */
	uint32_t bios_pending;
	bool written;       /* record write (and flush) done */
	bool done;          /* durable with its data: may retire (in order) */
	bool need_flush;    /* plain write + flush (batch mode or st->row_flush) */
	bool flushing;
	bool inflight;
	int err;
	uint64_t seq;
	uint64_t pos;       /* head counter at which it is written */
	uint32_t hdr_blks, len_blks;
	struct st_bio bios[5];
	struct st_store *st;
	struct rt_msg fail_msg; /* submission failed: progress later */
};

enum st_ckpt_phase {
	ST_CK_IDLE = 0,
	ST_CK_SCAN,       /* looking for journal-resident blocks to flush home */
	ST_CK_FLUSH_READ,
	ST_CK_FLUSH_WRITE,
	ST_CK_DEVFLUSH1,
	ST_CK_SERIALIZE,  /* serialising the index in steps */
	ST_CK_WRITE,
	ST_CK_DEVFLUSH2,
};

#define ST_CK_WAITERS 16u
#define ST_CK_SCAN_SLOTS 32768u /* hash slots examined per reactor turn */
#define ST_CK_FLUSH_INFLIGHT 8u /* journal-to-home copies in flight */
#define ST_CK_WRITE_BLKS 64u    /* checkpoint image write size (256 KiB) */

/* A block being copied from the journal to its home by a checkpoint. */
struct st_ck_flush {
	uint64_t oid;
	uint32_t pool;
	uint32_t lblock;
	uint32_t src;  /* journal block read */
	uint32_t home; /* data block written */
};

struct st_store {
	struct rt_reactor *r;
	struct st_opts opts;
	const struct st_backend_ops *be;
	void *bctx;
	void *uring_be; /* owned uring backend, or NULL */
	int fd;
	struct st_sb sb;
	uint32_t blocks_per_obj;
	uint32_t jwrite_max_blks;
	int failed; /* sticky error after a journal write failure */
	/* ST_DUR_FUA on a device without FUA (each FUA write is a write plus a
	 * flush): redirect-on-write data and the records holding it are written
	 * plain, then one flush per record. */
	bool row_flush;
	int jerr; /* a record write failed: the records after it fail too */
	bool closing;
	bool replaying; /* allocator not live: apply does not free */

	struct st_index idx;
	struct st_alloc alloc;

	/* journal */
	uint64_t jhead;  /* monotonic block counter of the next record */
	uint64_t jtail;  /* replay start of the newest durable checkpoint */
	uint64_t gen;    /* checkpoint generation (slot gen & 1) */
	uint64_t jgen;   /* record generation: bumped by each open */
	uint64_t next_seq;
	uint64_t row_blks_window;
	struct st_jbuf jb[ST_JBUFS]; /* used in ring order */
	struct st_jbuf *fill;   /* accepting entries */
	struct st_jbuf *flying; /* oldest record in flight, or NULL */
	uint32_t n_flying;      /* records in flight: the n_flying buffers before fill */
	uint32_t jmax_inflight; /* 1 in ST_DUR_BATCH_FLUSH, else ST_JINFLIGHT_MAX */
	bool kick_scheduled;
	struct rt_msg kick_msg;

	/* ops */
	uint64_t inflight;
	struct st_iop *wq_head, *wq_tail; /* ops waiting (space, checkpoint) */
	bool draining;

	/* checkpoint (st_checkpoint.c) */
	enum st_ckpt_phase ck_phase;
	bool ck_requested;
	int ck_rc;
	uint64_t ck_head;   /* P: replay start of the checkpoint being written */
	uint64_t ck_seq;    /* seq of the record at P */
	uint32_t ck_passes; /* scan passes of this checkpoint */
	uint32_t ck_scan_slots; /* ST_CK_SCAN_SLOTS (tests set it lower) */
	uint32_t ck_flush_par;  /* ST_CK_FLUSH_INFLIGHT, at most ST_CKPT_FLUSH_PAR */
	uint64_t ck_wr_blks, ck_wr_done; /* image write progress */
	uint32_t ck_ser_stage;   /* 0 objects, 1 blocks */
	uint32_t ck_ser_restarts;
	uint64_t ck_ser_restarts_total; /* tests */
	/* Blocks of redirect-on-write writes whose data write failed after their
	 * record went out: replay would map them until a checkpoint past that
	 * record is durable, so they are freed then. [0] collects, [1] belongs to
	 * the running checkpoint. Bit i: data block data_blk + i. */
	uint64_t *orphans[2];
	uint64_t n_orphans[2];
	uint64_t ck_ser_pos, ck_ser_off, ck_ser_nobj, ck_ser_nblk;
	uint8_t ck_stamp;
	uint8_t *ck_buf;
	uint64_t ck_buf_bytes;
	uint64_t ck_scan;
	uint32_t ck_nflush;
	uint32_t ck_pending;
	struct st_ck_flush ck_fl[ST_CKPT_FLUSH_PAR];
	uint32_t ck_pinned[ST_CKPT_FLUSH_PAR]; /* freed homes still being written */
	uint32_t ck_npinned;
	uint8_t *ck_fbuf; /* ST_CKPT_FLUSH_PAR blocks */
	struct st_bio ck_bios[ST_CKPT_FLUSH_PAR + 1];
	struct st_req *ck_waiters[ST_CK_WAITERS]; /* of the running checkpoint */
	uint32_t n_ck_waiters;
	struct st_req *ck_next[ST_CK_WAITERS];    /* for the next one */
	uint32_t n_ck_next;
	struct rt_msg ck_msg;

	struct st_stats stats;
};

/* index (st_index.c) */
int st__index_init(struct st_index *ix, uint64_t max_objects, uint64_t data_blks);
void st__index_fini(struct st_index *ix);
struct st_obj *st__obj_find(struct st_index *ix, uint32_t pool, uint64_t oid);
struct st_obj *st__obj_get(struct st_index *ix, uint32_t pool, uint64_t oid); /* create */
void st__obj_del(struct st_index *ix, struct st_obj *o);
struct st_bent *st__blk_find(struct st_index *ix, uint32_t pool, uint64_t oid, uint32_t lblock);
struct st_bent *st__blk_get(struct st_index *ix, uint32_t pool, uint64_t oid, uint32_t lblock);
void st__blk_del(struct st_index *ix, struct st_bent *b);
struct st_meta *st__meta_find(struct st_index *ix, const void *key, uint32_t key_len);
int st__meta_set(struct st_index *ix, const void *key, uint32_t key_len, const void *val,
		 uint32_t val_len);
int st__meta_del(struct st_index *ix, const void *key, uint32_t key_len);
uint64_t st__meta_rec_bytes(uint32_t key_len, uint32_t val_len);

/* allocator (st_alloc.c) */
int st__alloc_init(struct st_alloc *a, uint64_t base, uint64_t nblks);
void st__alloc_fini(struct st_alloc *a);
void st__alloc_mark(struct st_alloc *a, uint32_t pblock);
bool st__alloc_is_used(const struct st_alloc *a, uint32_t pblock);
/* Allocate n blocks as runs; out[] gets the n block numbers. Returns 0/-ENOSPC. */
int st__alloc_get(struct st_alloc *a, uint32_t n, uint32_t *out);
void st__alloc_put_now(struct st_alloc *a, uint32_t pblock);
void st__alloc_put_deferred(struct st_alloc *a, uint32_t pblock);
uint32_t st__alloc_read_begin(struct st_alloc *a);
void st__alloc_read_end(struct st_alloc *a, uint32_t epoch);

/* I/O */
int st__bio_submit(struct st_store *st, struct st_bio *bio);
int st__io_sync(struct st_store *st, enum st_bio_op op, uint64_t blk, void *buf, uint64_t nblks,
		bool fua);
int st__uring_backend_open(const char *path, bool direct, struct rt_reactor *r, int *fd_out,
			   void **bctx_out);
const struct st_backend_ops *st__uring_backend_ops(void);
bool st__uring_fua_emulated(void *bctx);
int st__run_until(struct st_store *st, volatile bool *done);
int st__open_backend(const struct st_opts *opts, struct rt_reactor *r, const struct st_backend_ops **be,
		     void **bctx, void **uring_be, int *fd, uint64_t *size_bytes);
void st__sb_compute(const struct st_opts *o, uint64_t part_bytes, struct st_sb *sb);
int st__sb_check(const struct st_sb *sb);

/* journal (st_journal.c) */
int st__journal_init(struct st_store *st);
void st__journal_fini(struct st_store *st);
/* Reserve an entry of ent_bytes (+ data_blks data blocks) in the filling record
 * for op; returns a pointer to the entry or NULL if it must wait. */
struct st_jent *st__journal_add(struct st_store *st, struct st_iop *op, uint32_t ent_bytes,
				uint32_t data_blks);
void st__journal_kick(struct st_store *st);
/* An operation's entry is complete: issue the filling record now if records
 * may be pipelined and there is room (else the kick or a retire issues it). */
void st__journal_push(struct st_store *st);
void st__journal_data_done(struct st_store *st, struct st_jbuf *jb);
bool st__journal_idle(const struct st_store *st);
/* The newest record in flight, or NULL. */
struct st_jbuf *st__journal_newest(const struct st_store *st);
uint64_t st__jblk_abs(const struct st_store *st, uint64_t counter);

/* ops (st_write.c / st_read.c) */
void st__op_apply(struct st_store *st, struct st_iop *op);
void st__op_finish(struct st_store *st, struct st_iop *op, int rc);
void st__row_failed(struct st_store *st, struct st_iop *op);
int st__op_start(struct st_store *st, struct st_iop *op);
int st__read_start(struct st_store *st, struct st_iop *op);
void st__wq_drain(struct st_store *st);
void st__apply_entry(struct st_store *st, const struct st_jent *e, uint64_t rec_pos,
		     uint32_t hdr_blks, const uint32_t *homes);

/* checkpoint (st_checkpoint.c) and recovery (st_recover.c) */
void st__ckpt_request(struct st_store *st);
void st__orphan_add(struct st_store *st, uint32_t pblock);
void st__ckpt_maybe_start(struct st_store *st);
/* A home block is being freed: true if a checkpoint is still writing it (it
 * is then released when that write is done), false to free it now. */
bool st__ckpt_pin(struct st_store *st, uint32_t home);
int st__ckpt_sync(struct st_store *st);
int st__recover(struct st_store *st);

#endif
