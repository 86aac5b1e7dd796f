/*
 * Checkpoints: the journal is trimmed by writing an image of the index and the
 * metadata table to the inactive checkpoint slot. They run in the background:
 * reads and writes go on while a checkpoint works.
 *
 * A checkpoint starts at a record boundary P: the first record not yet
 * applied to the index (the record in flight, else the journal head), with
 * sequence number S. It
 *   1. scans the block table (ST_CK_SCAN_SLOTS slots per reactor turn) for
 *      blocks whose current copy is in the journal in a record before P, and
 *      copies them to their home blocks ("later flushed in place"),
 *      ST_CK_FLUSH_INFLIGHT at a time (read from the journal, write home); a
 *      copy takes effect (cur = home) only if the block still points at the
 *      journal copy that was read, and a home freed meanwhile stays allocated
 *      (pinned) until its write is done, so it is never reused under it;
 *   2. flushes the device cache, so the homes are durable before the image
 *      that points at them;
 *   3. serialises the index in steps of ST_CK_SCAN_SLOTS hash slots, yielding
 *      to the reactor between them: a fuzzy image, which may already hold the
 *      effect of records after P (blocks whose data is in the journal after
 *      P are left out: the replay of those records maps them). A deletion
 *      that moves a hash entry across the scan position makes it start over
 *      (after 8 such restarts it runs in one go); if the table hid a block of
 *      a record before P from the flush scan, it scans again (step 1). The
 *      image goes to the slot (gen+1) & 1 with replay start (P, S), written
 *      ST_CK_WRITE_BLKS at a time, and the device is flushed again;
 *   4. moves the journal tail to P.
 * The journal from the previous checkpoint's start to the head stays live
 * (no record there is overwritten) until step 4, and records keep their
 * generation (st_store.jgen) across background checkpoints, so a crash at any
 * step recovers from the previous checkpoint and replays every record since
 * its start, including those written during this checkpoint. Replay is
 * idempotent (every entry sets absolute state), which makes a fuzzy image
 * plus the records from P exact. Only operations that find no room in the
 * journal wait for a checkpoint (back-pressure): a checkpoint is requested
 * when the live journal passes half the ring, so with the other half of the
 * ring as room that is rare.
 */
#include <errno.h>
#include <string.h>

#include "rt_crc.h"
#include "rt_err.h"
#include "rt_log.h"
#include "st_int.h"

static void st_ck_scan_step(struct st_store *st);
static void st_ck_done(struct st_store *st, int rc);
static void st_ck_ser_run(struct st_store *st);

static bool
st_blk_in_journal(const struct st_store *st, uint32_t b)
{
	return b >= st->sb.journal_blk && b < st->sb.journal_blk + st->sb.journal_blks;
}

/* Is journal block b (holding a live block's current data) in a record
 * before the checkpoint's start P? Live journal blocks lie in [jtail, jhead). */
static bool
st_ck_before_start(const struct st_store *st, uint32_t b)
{
	uint64_t J = st->sb.journal_blks;
	uint64_t pos = b - st->sb.journal_blk;
	uint64_t cnt = st->jtail + (pos + J - st->jtail % J) % J;

	return cnt < st->ck_head;
}

static void
st_ck_bio(struct st_store *st, struct st_bio *b, enum st_bio_op op, uint64_t blk, void *buf,
	  uint64_t nblks, st_bio_cb cb)
{
	memset(b, 0, sizeof(*b));
	b->op = op;
	b->offset_bytes = blk * ST_BLK;
	b->len_bytes = (uint32_t)(nblks * ST_BLK);
	b->buf = buf;
	b->cb = cb;
	b->ctx = st;
}

static void
st_ck_release_pinned(struct st_store *st)
{
	for (uint32_t i = 0; i < st->ck_npinned; i++)
		st__alloc_put_deferred(&st->alloc, st->ck_pinned[i]);
	st->ck_npinned = 0;
}

bool
st__ckpt_pin(struct st_store *st, uint32_t home)
{
	if (st->ck_phase != ST_CK_FLUSH_READ && st->ck_phase != ST_CK_FLUSH_WRITE)
		return false;
	for (uint32_t i = 0; i < st->ck_nflush; i++) {
		if (st->ck_fl[i].home == home) {
			if (st->ck_npinned < ST_CKPT_FLUSH_PAR)
				st->ck_pinned[st->ck_npinned++] = home;
			/* else cannot happen: each home is freed at most once */
			return true;
		}
	}
	return false;
}

static void
st_ck_submit(struct st_store *st, uint32_t n)
{
	st->ck_pending = n;
	for (uint32_t i = 0; i < n; i++) {
		int rc = st__bio_submit(st, &st->ck_bios[i]);
		if (rc < 0) {
			if (!st->ck_rc)
				st->ck_rc = rc;
			st->ck_pending -= n - i;
			if (st->ck_pending == 0) {
				st_ck_release_pinned(st);
				st_ck_done(st, st->ck_rc);
			}
			return;
		}
	}
}

enum st_ser_res {
	ST_SER_MORE,    /* call again (after yielding to the reactor) */
	ST_SER_DONE,    /* image complete */
	ST_SER_RESTART, /* a table moved under the scan: serialise again */
	ST_SER_FULL,    /* churn made the image exceed the slot: again, in one go */
	ST_SER_RESCAN,  /* a block of a record before P is in the journal */
};

static void
st_ck_ser_begin(struct st_store *st)
{
	struct st_index *ix = &st->idx;

	st->ck_ser_stage = 0;
	st->ck_ser_pos = 0;
	st->ck_ser_off = sizeof(struct st_ckpt_hdr);
	st->ck_ser_nobj = st->ck_ser_nblk = 0;
	st->ck_stamp = st->ck_stamp >= 255 ? 1 : (uint8_t)(st->ck_stamp + 1);
	ix->scan_moved = false;
	ix->scan_on[0] = true;
	ix->scan_cur[0] = 0;
	ix->scan_on[1] = false;
}

static void
st_ck_ser_stop(struct st_store *st)
{
	st->idx.scan_on[0] = st->idx.scan_on[1] = false;
	st->idx.scan_moved = false;
}

/*
 * One step of serialising the index into ck_buf: up to `budget` hash slots.
 * Objects first (each gets the stamp of this pass and its index in the
 * image), then blocks (only those of objects stamped by this pass: an object
 * without the stamp was created after its slot was scanned, so all its blocks
 * come from records after P), then the metadata table and the header in one
 * go. The image is fuzzy (see the top of this file).
 */
static enum st_ser_res
st_ck_ser_step(struct st_store *st, uint64_t budget, uint64_t *nblks_out)
{
	struct st_index *ix = &st->idx;
	uint8_t *p = st->ck_buf;
	uint64_t cap = st->ck_buf_bytes;
	uint64_t off = st->ck_ser_off, end;

	if (ix->scan_moved)
		return ST_SER_RESTART;
	if (st->ck_ser_stage == 0) {
		end = budget > ix->obj_cap - st->ck_ser_pos ? ix->obj_cap : st->ck_ser_pos + budget;
		for (; st->ck_ser_pos < end; st->ck_ser_pos++) {
			struct st_obj *o = &ix->objs[st->ck_ser_pos];
			if (!o->used)
				continue;
			if (off + sizeof(struct st_ckpt_obj) > cap)
				return ST_SER_FULL;
			struct st_ckpt_obj *co = (struct st_ckpt_obj *)(p + off);
			co->pool = o->pool;
			co->reserved = 0;
			co->oid = o->oid;
			co->version = o->version;
			o->ck_stamp = st->ck_stamp;
			o->ck_idx = (uint32_t)st->ck_ser_nobj++;
			off += sizeof(*co);
		}
		st->ck_ser_off = off;
		ix->scan_cur[0] = st->ck_ser_pos;
		if (st->ck_ser_pos < ix->obj_cap)
			return ST_SER_MORE;
		st->ck_ser_stage = 1;
		st->ck_ser_pos = 0;
		ix->scan_on[0] = false;
		ix->scan_on[1] = true;
		ix->scan_cur[1] = 0;
		return ST_SER_MORE;
	}
	end = budget > ix->blk_cap - st->ck_ser_pos ? ix->blk_cap : st->ck_ser_pos + budget;
	for (; st->ck_ser_pos < end; st->ck_ser_pos++) {
		struct st_bent *b = &ix->blks[st->ck_ser_pos];
		if (b->lblock == ST_NONE || b->home == ST_NONE)
			continue;
		if (b->cur != b->home) {
			/* Data in the journal after P: its record maps it. Before P:
			 * the flush scan missed it (the table moved under it). */
			if (st_blk_in_journal(st, b->cur) && st_ck_before_start(st, b->cur))
				return ST_SER_RESCAN;
			continue;
		}
		struct st_obj *o = st__obj_find(ix, b->pool, b->oid);
		if (!o || o->ck_stamp != st->ck_stamp)
			continue;
		if (off + sizeof(struct st_ckpt_blk) > cap)
			return ST_SER_FULL;
		struct st_ckpt_blk *cb = (struct st_ckpt_blk *)(p + off);
		cb->obj_idx = o->ck_idx;
		cb->lblock = b->lblock;
		cb->pblock = b->home;
		cb->crc = b->crc;
		off += sizeof(*cb);
		st->ck_ser_nblk++;
	}
	st->ck_ser_off = off;
	ix->scan_cur[1] = st->ck_ser_pos;
	if (st->ck_ser_pos < ix->blk_cap)
		return ST_SER_MORE;
	ix->scan_on[1] = false;

	uint64_t nmeta = 0;
	for (uint64_t i = 0; i < ix->meta_cap; i++) {
		struct st_meta *m = ix->meta[i];
		if (!m)
			continue;
		uint64_t rb = st__meta_rec_bytes(m->key_len, m->val_len);
		if (off + rb > cap)
			return ST_SER_FULL;
		struct st_ckpt_meta *cm = (struct st_ckpt_meta *)(p + off);
		memset(cm, 0, rb);
		cm->key_len = (uint16_t)m->key_len;
		cm->val_len = m->val_len;
		memcpy(cm + 1, m->key, m->key_len);
		memcpy((uint8_t *)(cm + 1) + m->key_len, m->val, m->val_len);
		off += rb;
		nmeta++;
	}
	struct st_ckpt_hdr *h = (struct st_ckpt_hdr *)p;
	memset(h, 0, sizeof(*h));
	h->magic = ST_CKPT_MAGIC;
	h->version = ST_FORMAT_VERSION;
	h->hdr_bytes = sizeof(*h);
	memcpy(h->uuid, st->sb.uuid, 16);
	h->gen = st->gen + 1;
	h->journal_gen = st->jgen;
	h->journal_head = st->ck_head;
	h->journal_seq = st->ck_seq;
	h->n_objects = st->ck_ser_nobj;
	h->n_blocks = st->ck_ser_nblk;
	h->n_meta = nmeta;
	h->used_bytes = off;
	/* Zero the tail of the last block so the image is deterministic. */
	uint64_t endb = (off + ST_BLK - 1) / ST_BLK * ST_BLK;
	memset(p + off, 0, endb - off);
	h->crc = rt_crc32c(0, p, off);
	*nblks_out = endb / ST_BLK;
	return ST_SER_DONE;
}

void
st__orphan_add(struct st_store *st, uint32_t pblock)
{
	uint64_t i = pblock - st->sb.data_blk;

	if (pblock < st->sb.data_blk || i >= st->sb.data_blks ||
	    (st->orphans[0][i / 64] >> (i % 64)) & 1)
		return;
	st->orphans[0][i / 64] |= 1ull << (i % 64);
	st->n_orphans[0]++;
}

/* The checkpoint is durable: no replay reaches the records of its orphans. */
static void
st_ck_free_orphans(struct st_store *st)
{
	uint64_t words = (st->sb.data_blks + 63) / 64;

	for (uint64_t w = 0; w < words && st->n_orphans[1]; w++) {
		uint64_t m = st->orphans[1][w];
		while (m) {
			unsigned b = (unsigned)__builtin_ctzll(m);
			m &= m - 1;
			st__alloc_put_now(&st->alloc, (uint32_t)(st->sb.data_blk + w * 64 + b));
			st->n_orphans[1]--;
		}
		st->orphans[1][w] = 0;
	}
}

static void
st_ck_done(struct st_store *st, int rc)
{
	struct st_req *w[ST_CK_WAITERS];
	uint32_t nw = st->n_ck_waiters;

	if (rc == 0) {
		st->gen++;
		st->jtail = st->ck_head;
		st_ck_free_orphans(st);
		st->row_blks_window = 0;
		st->stats.checkpoints++;
	} else {
		/* Sticky, like a failed journal write: the device failed (or the
		 * index is corrupt); retrying would only spin. */
		if (!st->failed)
			rt_err(RT_SS_STORE, "checkpoint failed: " DF_RC "; store is now failed",
			       DP_RC(rc));
		st->failed = rc;
	}
	st_ck_ser_stop(st);
	st->ck_phase = ST_CK_IDLE;
	st->ck_rc = rc;
	memcpy(w, st->ck_waiters, sizeof(w[0]) * nw);
	st->n_ck_waiters = 0;
	/* Requests made while this one ran were for journal room or for the
	 * half-ring threshold; the operations that need room ask again. */
	st->ck_requested = st->n_ck_next > 0;
	for (uint32_t i = 0; i < nw; i++)
		w[i]->cb(w[i], rc);
	if (st->failed) {
		/* No checkpoint will start again: fail the queued requests. */
		nw = st->n_ck_next;
		memcpy(w, st->ck_next, sizeof(w[0]) * nw);
		st->n_ck_next = 0;
		st->ck_requested = false;
		for (uint32_t i = 0; i < nw; i++)
			w[i]->cb(w[i], st->failed);
	}
	st__ckpt_maybe_start(st);
	st__wq_drain(st);
	st__journal_kick(st);
}

static void
st_ck_flush_written(struct st_store *st)
{
	for (uint32_t i = 0; i < st->ck_nflush; i++) {
		const struct st_ck_flush *f = &st->ck_fl[i];
		struct st_bent *b = st__blk_find(&st->idx, f->pool, f->oid, f->lblock);

		/* Not rewritten, unmapped or deleted since it was read? */
		if (b && b->cur == f->src && b->home == f->home)
			b->cur = b->home;
	}
	st_ck_release_pinned(st);
	st->ck_nflush = 0;
}

static void st_ck_io_done(struct st_bio *bio, int res);
static void st_ck_write_next(struct st_store *st);

static void
st_ck_ser_fn(void *ctx)
{
	st_ck_ser_run(ctx);
}

/* Serialise step by step, yielding to the reactor between steps; after a few
 * restarts (deletions keep moving entries under the scan) in one go. */
static void
st_ck_ser_run(struct st_store *st)
{
	bool at_once = st->ck_ser_restarts >= 8;
	uint64_t budget = at_once ? UINT64_MAX : st->ck_scan_slots;
	uint64_t nblks = 0;
	enum st_ser_res r;

	do
		r = st_ck_ser_step(st, budget, &nblks);
	while (r == ST_SER_MORE && at_once);
	switch (r) {
	case ST_SER_MORE:
		rt_reactor_defer(st->r, &st->ck_msg, st_ck_ser_fn, st);
		return;
	case ST_SER_FULL:
		if (at_once) {
			st_ck_ser_stop(st);
			st_ck_done(st, -ENOSPC); /* cannot happen: slots fit the worst case */
			return;
		}
		st->ck_ser_restarts = 8;
		/* fallthrough */
	case ST_SER_RESTART:
		st->ck_ser_restarts++;
		st->ck_ser_restarts_total++;
		st_ck_ser_stop(st);
		st_ck_ser_begin(st);
		rt_reactor_defer(st->r, &st->ck_msg, st_ck_ser_fn, st);
		return;
	case ST_SER_RESCAN:
		st_ck_ser_stop(st);
		/* Bounded: the blocks before P only ever get fewer. */
		if (++st->ck_passes > 1000) {
			st_ck_done(st, -RT_ECORRUPT);
			return;
		}
		st->ck_scan = 0;
		st->ck_phase = ST_CK_SCAN;
		st_ck_scan_step(st);
		return;
	case ST_SER_DONE:
		st_ck_ser_stop(st);
		st->ck_phase = ST_CK_WRITE;
		st->ck_wr_blks = nblks;
		st->ck_wr_done = 0;
		st_ck_write_next(st);
		return;
	}
}

/* The image goes out in pieces of ST_CK_WRITE_BLKS, one at a time, so that
 * a client write never queues behind megabytes of checkpoint. */
static void
st_ck_write_next(struct st_store *st)
{
	uint64_t n = st->ck_wr_blks - st->ck_wr_done;
	uint64_t slot = st->sb.ckpt_blk[(st->gen + 1) & 1];

	if (n > ST_CK_WRITE_BLKS)
		n = ST_CK_WRITE_BLKS;
	st_ck_bio(st, &st->ck_bios[0], ST_BIO_WRITE, slot + st->ck_wr_done,
		  st->ck_buf + st->ck_wr_done * ST_BLK, n, st_ck_io_done);
	st->ck_wr_done += n;
	st_ck_submit(st, 1);
}

static void
st_ck_io_done(struct st_bio *bio, int res)
{
	struct st_store *st = bio->ctx;

	if (res < 0 && !st->ck_rc)
		st->ck_rc = res;
	if (--st->ck_pending)
		return;
	if (st->ck_rc) {
		st->ck_nflush = 0;
		st_ck_release_pinned(st);
		st_ck_done(st, st->ck_rc);
		return;
	}
	switch (st->ck_phase) {
	case ST_CK_FLUSH_READ:
		st->ck_phase = ST_CK_FLUSH_WRITE;
		for (uint32_t i = 0; i < st->ck_nflush; i++)
			st_ck_bio(st, &st->ck_bios[i], ST_BIO_WRITE, st->ck_fl[i].home,
				  st->ck_fbuf + (uint64_t)i * ST_BLK, 1, st_ck_io_done);
		st_ck_submit(st, st->ck_nflush);
		return;
	case ST_CK_FLUSH_WRITE:
		st_ck_flush_written(st);
		st->ck_phase = ST_CK_SCAN;
		st_ck_scan_step(st);
		return;
	case ST_CK_DEVFLUSH1:
		st->ck_phase = ST_CK_SERIALIZE;
		st->ck_ser_restarts = 0;
		st_ck_ser_begin(st);
		st_ck_ser_run(st);
		return;
	case ST_CK_WRITE:
		if (st->ck_wr_done < st->ck_wr_blks) {
			st_ck_write_next(st);
			return;
		}
		st->ck_phase = ST_CK_DEVFLUSH2;
		st_ck_bio(st, &st->ck_bios[0], ST_BIO_FLUSH, 0, NULL, 0, st_ck_io_done);
		st->stats.dev_flushes++;
		st_ck_submit(st, 1);
		return;
	case ST_CK_DEVFLUSH2:
		st_ck_done(st, 0);
		return;
	default:
		return;
	}
}

static void
st_ck_scan_fn(void *ctx)
{
	st_ck_scan_step(ctx);
}

/* Scan up to ST_CK_SCAN_SLOTS slots; issue the reads of what was found, or
 * yield to the reactor and go on, or, at the end, flush the device. */
static void
st_ck_scan_step(struct st_store *st)
{
	struct st_index *ix = &st->idx;
	uint64_t end = st->ck_scan + st->ck_scan_slots;
	uint32_t n = 0;

	if (end > ix->blk_cap)
		end = ix->blk_cap;
	for (; st->ck_scan < end && n < st->ck_flush_par; st->ck_scan++) {
		struct st_bent *b = &ix->blks[st->ck_scan];
		if (b->lblock == ST_NONE || b->cur == b->home || b->home == ST_NONE ||
		    !st_blk_in_journal(st, b->cur) || !st_ck_before_start(st, b->cur))
			continue;
		struct st_ck_flush *f = &st->ck_fl[n];
		f->pool = b->pool;
		f->oid = b->oid;
		f->lblock = b->lblock;
		f->src = b->cur;
		f->home = b->home;
		st_ck_bio(st, &st->ck_bios[n], ST_BIO_READ, b->cur, st->ck_fbuf + (uint64_t)n * ST_BLK,
			  1, st_ck_io_done);
		n++;
	}
	st->ck_nflush = n;
	if (n) {
		st->ck_phase = ST_CK_FLUSH_READ;
		st_ck_submit(st, n);
		return;
	}
	if (st->ck_scan < ix->blk_cap) {
		rt_reactor_defer(st->r, &st->ck_msg, st_ck_scan_fn, st);
		return;
	}
	st->ck_phase = ST_CK_DEVFLUSH1;
	st_ck_bio(st, &st->ck_bios[0], ST_BIO_FLUSH, 0, NULL, 0, st_ck_io_done);
	st->stats.dev_flushes++;
	st_ck_submit(st, 1);
}

/* Deferred start: the checkpoint's start point is taken outside of whatever
 * operation requested it. */
static void
st_ck_begin_fn(void *ctx)
{
	struct st_store *st = ctx;

	if (st->flying) {
		st->ck_head = st->flying->pos;
		st->ck_seq = st->flying->seq;
	} else {
		st->ck_head = st->jhead;
		st->ck_seq = st->next_seq;
	}
	st->ck_scan = 0;
	st->ck_passes = 0;
	/* Orphans so far come from completed records, all before P. */
	if (st->n_orphans[0] && !st->n_orphans[1]) {
		uint64_t *t = st->orphans[1];
		st->orphans[1] = st->orphans[0];
		st->orphans[0] = t;
		st->n_orphans[1] = st->n_orphans[0];
		st->n_orphans[0] = 0;
	}
	st_ck_scan_step(st);
}

void
st__ckpt_maybe_start(struct st_store *st)
{
	if (!st->ck_requested || st->ck_phase != ST_CK_IDLE || st->failed)
		return;
	st->ck_requested = false;
	st->ck_phase = ST_CK_SCAN;
	st->ck_rc = 0;
	st->ck_nflush = 0;
	st->ck_npinned = 0;
	/* Requests made so far are served by this checkpoint. */
	memcpy(st->ck_waiters, st->ck_next, sizeof(st->ck_next[0]) * st->n_ck_next);
	st->n_ck_waiters = st->n_ck_next;
	st->n_ck_next = 0;
	rt_reactor_defer(st->r, &st->ck_msg, st_ck_begin_fn, st);
}

void
st__ckpt_request(struct st_store *st)
{
	st->ck_requested = true;
	st__ckpt_maybe_start(st);
}

static void
st_ck_sync_cb(struct st_req *req, int rc)
{
	int *out = req->ctx;

	*out = rc;
}

int
st__ckpt_sync(struct st_store *st)
{
	struct st_req req;
	int res = INT32_MIN, rc;
	volatile bool done = false;

	memset(&req, 0, sizeof(req));
	req.cb = st_ck_sync_cb;
	req.ctx = &res;
	rc = st_checkpoint(st, st_ck_sync_cb, &req);
	if (rc < 0)
		return rc;
	uint64_t deadline = rt_now_us() + 300ull * 1000 * 1000;
	while (res == INT32_MIN && !done) {
		rc = rt_reactor_run_once(st->r, 10000);
		if (rc < 0)
			return rc;
		if (rt_now_us() > deadline)
			return -ETIMEDOUT;
	}
	return res;
}

int
st_checkpoint(struct st_store *st, st_req_cb cb, struct st_req *req)
{
	if (!st || !cb || !req)
		return -EINVAL;
	if (st->failed)
		return st->failed;
	if (st->n_ck_next >= ST_CK_WAITERS)
		return -EBUSY;
	req->cb = cb;
	/* Served by the next checkpoint to start (one already running started
	 * before this call); the completion always comes from an I/O callback. */
	st->ck_next[st->n_ck_next++] = req;
	st__ckpt_request(st);
	return 0;
}
