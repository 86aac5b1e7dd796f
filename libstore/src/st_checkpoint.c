/*
 * Checkpoints: the journal is trimmed by writing a full image of the index and
 * the metadata table to the inactive checkpoint slot.
 *
 * A checkpoint quiesces the store: once requested, new operations wait in the
 * queue; when the in-flight ones have completed (and the journal is idle) it
 *   1. flushes every block whose current copy lives in the journal to its home
 *      block in the data area ("later flushed in place"), in batches of
 *      ST_CKPT_FLUSH_PAR blocks (read from the journal, write home),
 *   2. flushes the device cache, so the homes are durable before the
 *      checkpoint that points at them,
 *   3. serialises the index into the slot (gen+1) & 1 and writes it, then
 *      flushes again,
 *   4. moves the journal tail to the head: the next records carry gen+1, so
 *      every older record becomes stale.
 * A crash at any step leaves the previous checkpoint and its journal intact:
 * the in-place writes of step 1 may be torn, but replay points those blocks
 * back at their journal copies.
 *
 * The stall is the price of simplicity: it is proportional to the index size
 * and to the small-write data in the journal (docs/libstore.md).
 */
#include <errno.h>
#include <string.h>

#include "rt_crc.h"
#include "rt_err.h"
#include "rt_log.h"
#include "st_int.h"

static void st_ck_flush_scan(struct st_store *st);
static void st_ck_done(struct st_store *st, int rc);

static bool
st_blk_in_journal(const struct st_store *st, uint32_t b)
{
	return b >= st->sb.journal_blk && b < st->sb.journal_blk + st->sb.journal_blks;
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
st_ck_submit(struct st_store *st, uint32_t n)
{
	st->ck_pending = n;
	for (uint32_t i = 0; i < n; i++) {
		int rc = st__bio_submit(st, &st->ck_bios[i]);
		if (rc < 0) {
			if (!st->ck_rc)
				st->ck_rc = rc;
			st->ck_pending -= n - i;
			if (st->ck_pending == 0)
				st_ck_done(st, st->ck_rc);
			return;
		}
	}
}

static uint64_t
st_ck_serialize(struct st_store *st, uint64_t new_gen)
{
	struct st_index *ix = &st->idx;
	uint8_t *p = st->ck_buf;
	struct st_ckpt_hdr *h = (struct st_ckpt_hdr *)p;
	uint64_t off = sizeof(*h), nobj = 0, nblk = 0, nmeta = 0;
	uint64_t cap = st->ck_buf_bytes;

	memset(h, 0, sizeof(*h));
	for (uint64_t i = 0; i < ix->obj_cap; i++) {
		struct st_obj *o = &ix->objs[i];
		if (!o->used)
			continue;
		if (off + sizeof(struct st_ckpt_obj) > cap)
			return 0;
		struct st_ckpt_obj *co = (struct st_ckpt_obj *)(p + off);
		co->pool = o->pool;
		co->reserved = 0;
		co->oid = o->oid;
		co->version = o->version;
		o->pad2 = (uint32_t)nobj++;
		off += sizeof(*co);
	}
	for (uint64_t i = 0; i < ix->blk_cap; i++) {
		struct st_bent *b = &ix->blks[i];
		if (b->lblock == ST_NONE)
			continue;
		struct st_obj *o = st__obj_find(ix, b->pool, b->oid);
		if (!o || b->home == ST_NONE || b->cur != b->home)
			continue; /* cannot happen after the flush phase */
		if (off + sizeof(struct st_ckpt_blk) > cap)
			return 0;
		struct st_ckpt_blk *cb = (struct st_ckpt_blk *)(p + off);
		cb->obj_idx = o->pad2;
		cb->lblock = b->lblock;
		cb->pblock = b->home;
		cb->crc = b->crc;
		off += sizeof(*cb);
		nblk++;
	}
	for (uint64_t i = 0; i < ix->meta_cap; i++) {
		struct st_meta *m = ix->meta[i];
		if (!m)
			continue;
		uint64_t rb = st__meta_rec_bytes(m->key_len, m->val_len);
		if (off + rb > cap)
			return 0;
		struct st_ckpt_meta *cm = (struct st_ckpt_meta *)(p + off);
		memset(cm, 0, rb);
		cm->key_len = (uint16_t)m->key_len;
		cm->val_len = m->val_len;
		memcpy(cm + 1, m->key, m->key_len);
		memcpy((uint8_t *)(cm + 1) + m->key_len, m->val, m->val_len);
		off += rb;
		nmeta++;
	}
	h->magic = ST_CKPT_MAGIC;
	h->version = ST_FORMAT_VERSION;
	h->hdr_bytes = sizeof(*h);
	memcpy(h->uuid, st->sb.uuid, 16);
	h->gen = new_gen;
	h->journal_head = st->jhead;
	h->journal_seq = st->next_seq;
	h->n_objects = nobj;
	h->n_blocks = nblk;
	h->n_meta = nmeta;
	h->used_bytes = off;
	/* Zero the tail of the last block so the image is deterministic. */
	uint64_t end = (off + ST_BLK - 1) / ST_BLK * ST_BLK;
	memset(p + off, 0, end - off);
	h->crc = rt_crc32c(0, p, off);
	return end / ST_BLK;
}

static void
st_ck_done(struct st_store *st, int rc)
{
	struct st_req *w[16];
	uint32_t nw = st->n_ck_waiters;

	if (rc == 0) {
		st->gen++;
		st->jtail = st->jhead;
		st->row_blks_window = 0;
		st->stats.checkpoints++;
	} else {
		rt_err(RT_SS_STORE, "checkpoint failed: " DF_RC, DP_RC(rc));
	}
	st->ck_phase = ST_CK_IDLE;
	st->ck_requested = false;
	st->ck_rc = rc;
	memcpy(w, st->ck_waiters, sizeof(w[0]) * nw);
	st->n_ck_waiters = 0;
	for (uint32_t i = 0; i < nw; i++)
		w[i]->cb(w[i], rc);
	st__wq_drain(st);
	st__journal_kick(st);
}

static void
st_ck_io_done(struct st_bio *bio, int res)
{
	struct st_store *st = bio->ctx;
	int rc;

	if (res < 0 && !st->ck_rc)
		st->ck_rc = res;
	if (--st->ck_pending)
		return;
	if (st->ck_rc) {
		st_ck_done(st, st->ck_rc);
		return;
	}
	switch (st->ck_phase) {
	case ST_CK_FLUSH_READ:
		st->ck_phase = ST_CK_FLUSH_WRITE;
		for (uint32_t i = 0; i < st->ck_nflush; i++) {
			struct st_bent *b = &st->idx.blks[st->ck_slot_idx[i]];
			st_ck_bio(st, &st->ck_bios[i], ST_BIO_WRITE, b->home,
				  st->ck_fbuf + (uint64_t)i * ST_BLK, 1, st_ck_io_done);
		}
		st_ck_submit(st, st->ck_nflush);
		return;
	case ST_CK_FLUSH_WRITE:
		for (uint32_t i = 0; i < st->ck_nflush; i++) {
			struct st_bent *b = &st->idx.blks[st->ck_slot_idx[i]];
			b->cur = b->home;
		}
		st_ck_flush_scan(st);
		return;
	case ST_CK_DEVFLUSH1: {
		uint64_t new_gen = st->gen + 1;
		uint64_t nblks = st_ck_serialize(st, new_gen);

		if (nblks == 0) {
			st_ck_done(st, -ENOSPC);
			return;
		}
		st->ck_phase = ST_CK_WRITE;
		st_ck_bio(st, &st->ck_bios[0], ST_BIO_WRITE, st->sb.ckpt_blk[new_gen & 1], st->ck_buf,
			  nblks, st_ck_io_done);
		st_ck_submit(st, 1);
		return;
	}
	case ST_CK_WRITE:
		st->ck_phase = ST_CK_DEVFLUSH2;
		st_ck_bio(st, &st->ck_bios[0], ST_BIO_FLUSH, 0, NULL, 0, st_ck_io_done);
		st->stats.dev_flushes++;
		st_ck_submit(st, 1);
		return;
	case ST_CK_DEVFLUSH2:
		rc = 0;
		st_ck_done(st, rc);
		return;
	default:
		return;
	}
}

static void
st_ck_flush_scan(struct st_store *st)
{
	struct st_index *ix = &st->idx;
	uint32_t n = 0;

	for (; st->ck_scan < ix->blk_cap && n < ST_CKPT_FLUSH_PAR; st->ck_scan++) {
		struct st_bent *b = &ix->blks[st->ck_scan];
		if (b->lblock == ST_NONE || b->cur == b->home || b->home == ST_NONE ||
		    !st_blk_in_journal(st, b->cur))
			continue;
		st->ck_slot_idx[n] = (uint32_t)st->ck_scan;
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
	st->ck_phase = ST_CK_DEVFLUSH1;
	st_ck_bio(st, &st->ck_bios[0], ST_BIO_FLUSH, 0, NULL, 0, st_ck_io_done);
	st->stats.dev_flushes++;
	st_ck_submit(st, 1);
}

void
st__ckpt_maybe_start(struct st_store *st)
{
	if (!st->ck_requested || st->ck_phase != ST_CK_IDLE || st->inflight ||
	    !st__journal_idle(st))
		return;
	st->ck_phase = ST_CK_WAIT;
	st->ck_rc = 0;
	st->ck_scan = 0;
	st_ck_flush_scan(st);
}

void
st__ckpt_request(struct st_store *st)
{
	if (st->ck_requested)
		return;
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
	if (st->n_ck_waiters >= 16)
		return -EBUSY;
	req->cb = cb;
	st->ck_waiters[st->n_ck_waiters++] = req;
	/* The completion always comes from an I/O callback, never from here. */
	if (st->ck_phase == ST_CK_IDLE)
		st->ck_requested = false;
	st__ckpt_request(st);
	return 0;
}
