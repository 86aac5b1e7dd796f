/*
 * Reads: map each 4 KiB block through the index (its current location is its
 * home block or, until the next checkpoint, a journal block), read contiguous
 * runs with one device read each, zero-fill unmapped blocks and check every
 * block's CRC32C. Long reads go in rounds of at most ST_READ_CHUNK_BLKS blocks
 * and ST_OP_BIOS device reads, so the request's state stays in its private area.
 * The expected CRCs are captured when a round is issued, and the blocks cannot
 * be reused under the read (see the allocator's read epochs).
 */
#include <errno.h>
#include <string.h>

#include "rt_crc.h"
#include "rt_log.h"
#include "st_int.h"

static void st_read_round(struct st_store *st, struct st_iop *op, bool in_submit);

static void
st_read_finish(struct st_store *st, struct st_iop *op, int rc)
{
	st__alloc_read_end(&st->alloc, op->epoch);
	st__op_finish(st, op, rc);
}

static void
st_read_deferred_fn(void *ctx)
{
	struct st_iop *op = ctx;

	st_read_finish(op->st, op, op->rc);
}

static void
st_read_bio_done(struct st_bio *bio, int res)
{
	struct st_iop *op = bio->ctx;
	struct st_store *st = op->st;
	uint8_t *buf = (uint8_t *)op->req->buf + (uint64_t)op->next_blk * ST_BLK;

	if (res < 0 && op->rc == 0) {
		op->rc = res;
		st->stats.io_errors++;
	}
	if (--op->pending)
		return;
	if (op->rc == 0) {
		for (uint32_t i = 0; i < op->chunk; i++) {
			if (!op->mapped[i])
				continue;
			if (rt_crc32c(0, buf + (uint64_t)i * ST_BLK, ST_BLK) != op->crcs[i]) {
				st->stats.csum_errors++;
				rt_err_rl(RT_SS_STORE, "checksum mismatch: object " DF_STOBJ
					  " block %u", DP_STOBJ(op->req->obj), op->lblock + op->next_blk + i);
				op->rc = -EIO;
				break;
			}
		}
	}
	op->next_blk += op->chunk;
	if (op->rc == 0 && op->next_blk < op->nblocks) {
		st_read_round(st, op, false);
		return;
	}
	st_read_finish(st, op, op->rc);
}

/* Issue the next round; rounds without I/O (all unmapped) are done inline. */
static void
st_read_round(struct st_store *st, struct st_iop *op, bool in_submit)
{
	struct st_req *req = op->req;
	uint8_t *base = req->buf;

	while (op->next_blk < op->nblocks) {
		uint32_t nb = 0, i;
		uint32_t cnt = op->nblocks - op->next_blk;
		uint32_t prev_cur = ST_NONE;

		if (cnt > ST_READ_CHUNK_BLKS)
			cnt = ST_READ_CHUNK_BLKS;
		for (i = 0; i < cnt; i++) {
			uint32_t l = op->lblock + op->next_blk + i;
			struct st_bent *b = st__blk_find(&st->idx, req->obj.pool, req->obj.oid, l);
			uint8_t *p = base + (uint64_t)(op->next_blk + i) * ST_BLK;

			if (!b) {
				op->mapped[i] = 0;
				memset(p, 0, ST_BLK);
				prev_cur = ST_NONE;
				continue;
			}
			if (prev_cur != ST_NONE && b->cur == prev_cur + 1) {
				op->bios[nb - 1].len_bytes += ST_BLK;
			} else {
				if (nb == ST_OP_BIOS)
					break;
				struct st_bio *bio = &op->bios[nb++];
				memset(bio, 0, sizeof(*bio));
				bio->op = ST_BIO_READ;
				bio->offset_bytes = (uint64_t)b->cur * ST_BLK;
				bio->len_bytes = ST_BLK;
				bio->buf = p;
				bio->cb = st_read_bio_done;
				bio->ctx = op;
			}
			op->mapped[i] = 1;
			op->crcs[i] = b->crc;
			prev_cur = b->cur;
		}
		op->chunk = i;
		if (nb == 0) {
			op->next_blk += op->chunk;
			continue;
		}
		op->pending = (int)nb;
		for (uint32_t k = 0; k < nb; k++) {
			int rc = st__bio_submit(st, &op->bios[k]);
			if (rc < 0) {
				op->rc = rc;
				op->pending -= (int)(nb - k);
				if (op->pending == 0)
					break;
				return;
			}
		}
		if (op->rc == 0)
			return;
		op->next_blk = op->nblocks;
	}
	/* Done without (further) I/O. */
	if (in_submit)
		rt_reactor_defer(st->r, &op->defer.msg, st_read_deferred_fn, op);
	else
		st_read_finish(st, op, op->rc);
}

int
st__read_start(struct st_store *st, struct st_iop *op)
{
	struct st_req *req = op->req;
	struct st_obj *o = st__obj_find(&st->idx, req->obj.pool, req->obj.oid);

	if (!o)
		return -ENOENT;
	req->out_version = o->version;
	op->lblock = (uint32_t)(req->offset_bytes / ST_BLK);
	op->nblocks = (uint32_t)(req->len_bytes / ST_BLK);
	op->next_blk = 0;
	op->epoch = st__alloc_read_begin(&st->alloc);
	st_read_round(st, op, true);
	return 0;
}
