/*
 * Mutations: submit, the write paths (journal or redirect-on-write),
 * discard/write-zeroes, delete, metadata, flush; applying a committed entry to
 * the index (shared with replay); completion and the wait queue.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt_crc.h"
#include "rt_err.h"
#include "rt_log.h"
#include "st_int.h"

static uint32_t
st_align8(uint32_t n)
{
	return (n + 7u) & ~7u;
}

/* ---- applying entries to the index (runtime and replay) ---- */

static void
st_free_home(struct st_store *st, uint32_t home)
{
	if (home == ST_NONE || st->replaying || st__ckpt_pin(st, home))
		return;
	st__alloc_put_deferred(&st->alloc, home);
}

void
st__apply_entry(struct st_store *st, const struct st_jent *e, uint64_t rec_pos, uint32_t hdr_blks,
		const uint32_t *homes)
{
	struct st_index *ix = &st->idx;
	struct st_obj *o;
	uint32_t k = 0;

	switch (e->type) {
	case ST_JE_WRITE_J: {
		const uint32_t *crc = (const uint32_t *)(e + 1);

		o = st__obj_get(ix, e->pool, e->oid);
		if (!o)
			goto full;
		o->version = e->version;
		for (uint32_t i = 0; i < e->nblocks; i++) {
			struct st_bent *b = st__blk_get(ix, e->pool, e->oid, e->lblock + i);

			if (!b)
				goto full;
			if (b->home == ST_NONE) {
				b->home = homes ? homes[k++] : ST_NONE;
				o = st__obj_find(ix, e->pool, e->oid);
				o->mapped_blks++;
			}
			b->cur = (uint32_t)st__jblk_abs(st, rec_pos + hdr_blks + e->data_idx + i);
			b->crc = crc[i];
		}
		if (homes) {
			/* Homes allocated for blocks that got mapped meanwhile. */
			struct st_iop *op = ST_CONTAINER_OF((void *)homes, struct st_iop, homes);
			for (; k < op->nhomes; k++)
				st__alloc_put_now(&st->alloc, homes[k]);
		}
		return;
	}
	case ST_JE_WRITE_ROW: {
		const uint32_t *pb = (const uint32_t *)(e + 1);
		const uint32_t *crc = pb + e->nblocks;

		o = st__obj_get(ix, e->pool, e->oid);
		if (!o)
			goto full;
		o->version = e->version;
		for (uint32_t i = 0; i < e->nblocks; i++) {
			struct st_bent *b = st__blk_get(ix, e->pool, e->oid, e->lblock + i);

			if (!b)
				goto full;
			if (b->home == ST_NONE) {
				o = st__obj_find(ix, e->pool, e->oid);
				o->mapped_blks++;
			} else {
				st_free_home(st, b->home);
			}
			b->cur = b->home = pb[i];
			b->crc = crc[i];
		}
		return;
	}
	case ST_JE_UNMAP:
		o = st__obj_get(ix, e->pool, e->oid);
		if (!o)
			goto full;
		o->version = e->version;
		for (uint32_t i = 0; i < e->nblocks; i++) {
			struct st_bent *b = st__blk_find(ix, e->pool, e->oid, e->lblock + i);

			if (!b)
				continue;
			st_free_home(st, b->home);
			st__blk_del(ix, b);
			o = st__obj_find(ix, e->pool, e->oid);
			o->mapped_blks--;
		}
		return;
	case ST_JE_DELETE:
		o = st__obj_find(ix, e->pool, e->oid);
		if (!o)
			return;
		for (uint32_t l = 0; l < st->blocks_per_obj && o->mapped_blks; l++) {
			struct st_bent *b = st__blk_find(ix, e->pool, e->oid, l);

			if (!b)
				continue;
			st_free_home(st, b->home);
			st__blk_del(ix, b);
			o->mapped_blks--;
		}
		st__obj_del(ix, o);
		return;
	case ST_JE_META_SET: {
		const uint8_t *key = (const uint8_t *)(e + 1);

		if (st__meta_set(ix, key, e->lblock, key + e->lblock, e->nblocks) < 0)
			rt_err(RT_SS_STORE, "metadata set failed: out of memory");
		return;
	}
	case ST_JE_META_DEL:
		st__meta_del(ix, (const uint8_t *)(e + 1), e->lblock);
		return;
	default:
		return;
	}
full:
	rt_err(RT_SS_STORE, "index full applying a journal entry (type %u)", e->type);
}

void
st__op_apply(struct st_store *st, struct st_iop *op)
{
	struct st_jbuf *jb = op->jb;

	if (!jb || op->req->op == ST_OP_FLUSH)
		return;
	st__apply_entry(st, (const struct st_jent *)(jb->buf + op->ent_off), jb->pos, jb->hdr_blks,
			op->jtype == ST_JE_WRITE_J ? op->homes : NULL);
}

/* ---- completion ---- */

void
st__op_finish(struct st_store *st, struct st_iop *op, int rc)
{
	struct st_req *req = op->req;

	if (rc == -ENOSPC)
		st->stats.enospc++;
	if (op->jtype == ST_JE_WRITE_J && rc < 0) {
		for (uint32_t k = 0; k < op->nhomes; k++)
			st__alloc_put_now(&st->alloc, op->homes[k]);
	}
	switch (req->op) {
	case ST_OP_READ:
		st->stats.reads++;
		if (rc == 0)
			st->stats.read_bytes += req->len_bytes;
		break;
	case ST_OP_WRITE:
		st->stats.writes++;
		if (rc == 0)
			st->stats.write_bytes += req->len_bytes;
		break;
	case ST_OP_DISCARD:
	case ST_OP_WRITE_ZEROES:
		st->stats.discards++;
		break;
	case ST_OP_DELETE:
		st->stats.deletes++;
		break;
	case ST_OP_META_SET:
	case ST_OP_META_DEL:
		st->stats.meta_sets++;
		break;
	default:
		break;
	}
	if (op->counted) {
		op->counted = false;
		st->inflight--;
	}
	req->cb(req, rc);
	if (st->inflight == 0)
		st__ckpt_maybe_start(st);
}

static void
st_op_finish_deferred_fn(void *ctx)
{
	struct st_iop *op = ctx;

	st__op_finish(op->st, op, op->rc);
}

static void
st_op_defer_finish(struct st_store *st, struct st_iop *op, int rc)
{
	op->rc = rc;
	rt_reactor_defer(st->r, &op->defer.msg, st_op_finish_deferred_fn, op);
}

/* ---- redirect-on-write data ---- */

static void st_row_issue(struct st_store *st, struct st_iop *op);

/* The op's data writes are over. If one failed and the record has not gone
 * out yet, take the entry out of it (its blocks can then be freed at once). */
static void
st_row_data_end(struct st_store *st, struct st_iop *op)
{
	if (op->rc < 0 && !op->jb->inflight) {
		struct st_jent *e = (struct st_jent *)(op->jb->buf + op->ent_off);
		e->type = 0;
	}
	op->data_pending = false;
	st__journal_data_done(st, op->jb);
}

/*
 * A RoW write whose data write failed (its record is complete): free its
 * blocks. If the entry went out in the record, replay would still map them
 * (reads would fail their CRC), so they are freed only once a checkpoint past
 * the record is durable.
 */
void
st__row_failed(struct st_store *st, struct st_iop *op)
{
	const struct st_jent *e = (const struct st_jent *)(op->jb->buf + op->ent_off);
	const uint32_t *pb = (const uint32_t *)(e + 1);

	for (uint32_t i = 0; i < op->nblocks; i++) {
		if (e->type == 0)
			st__alloc_put_now(&st->alloc, pb[i]);
		else
			st__orphan_add(st, pb[i]);
	}
	if (e->type != 0)
		st__ckpt_request(st);
}

static void
st_row_bio_done(struct st_bio *bio, int res)
{
	struct st_iop *op = bio->ctx;
	struct st_store *st = op->st;

	if (res < 0 && op->rc == 0) {
		op->rc = res;
		st->stats.io_errors++;
	}
	if (--op->pending)
		return;
	op->next_blk += op->chunk;
	if (op->rc == 0 && op->next_blk < op->nblocks) {
		st_row_issue(st, op);
		return;
	}
	st_row_data_end(st, op);
}

/* Issue up to ST_OP_BIOS runs of the RoW data, from op->next_blk. */
static void
st_row_issue(struct st_store *st, struct st_iop *op)
{
	const struct st_jent *e = (const struct st_jent *)(op->jb->buf + op->ent_off);
	const uint32_t *pb = (const uint32_t *)(e + 1);
	uint32_t i = op->next_blk, nb = 0;
	bool fua = st->opts.durability == ST_DUR_FUA && !st->row_flush;
	uint8_t *buf = op->req->buf;

	while (i < op->nblocks && nb < ST_OP_BIOS) {
		uint32_t j = i + 1;

		while (j < op->nblocks && pb[j] == pb[j - 1] + 1)
			j++;
		struct st_bio *b = &op->bios[nb++];
		memset(b, 0, sizeof(*b));
		b->op = ST_BIO_WRITE;
		b->fua = fua;
		b->offset_bytes = (uint64_t)pb[i] * ST_BLK;
		b->len_bytes = (j - i) * ST_BLK;
		b->buf = buf + (uint64_t)i * ST_BLK;
		b->cb = st_row_bio_done;
		b->ctx = op;
		i = j;
	}
	op->chunk = i - op->next_blk;
	op->pending = (int)nb;
	for (uint32_t k = 0; k < nb; k++) {
		int rc = st__bio_submit(st, &op->bios[k]);
		if (rc < 0) {
			if (op->rc == 0)
				op->rc = rc;
			op->pending -= (int)(nb - k);
			if (op->pending == 0)
				st_row_data_end(st, op);
			return;
		}
	}
}

/* ---- the operations ---- */

static int
st_write_start(struct st_store *st, struct st_iop *op)
{
	struct st_req *req = op->req;
	uint32_t n = (uint32_t)(req->len_bytes / ST_BLK);
	uint32_t l = (uint32_t)(req->offset_bytes / ST_BLK);
	struct st_obj *o = st__obj_find(&st->idx, req->obj.pool, req->obj.oid);
	bool small = req->len_bytes <= st->opts.journal_write_max_bytes;
	uint32_t unmapped = 0;
	struct st_jent *e;

	if (!o && st->idx.n_objs >= st->sb.max_objects)
		return -ENOSPC;
	for (uint32_t i = 0; i < n; i++) {
		struct st_bent *b = st__blk_find(&st->idx, req->obj.pool, req->obj.oid, l + i);
		if (!b)
			unmapped++;
	}
	if (!small && st->alloc.free_blks < n) {
		/* Full store: an overwrite of mapped blocks still goes via the journal. */
		if (unmapped == 0 && req->len_bytes <= ST_JREC_DATA_MAX)
			small = true;
		else
			return -ENOSPC;
	}
	if (small) {
		if (unmapped > ST_JWRITE_MAX_LIMIT / ST_BLK)
			return -ENOSPC;
		if (st->alloc.free_blks < unmapped)
			return -ENOSPC;
		e = st__journal_add(st, op, st_align8((uint32_t)sizeof(*e) + 4 * n), n);
		if (!e)
			return 1;
		op->jtype = ST_JE_WRITE_J;
		if (unmapped && st__alloc_get(&st->alloc, unmapped, op->homes) == 0)
			op->nhomes = unmapped;
		e->type = ST_JE_WRITE_J;
		e->pool = req->obj.pool;
		e->oid = req->obj.oid;
		e->version = req->version;
		e->lblock = l;
		e->nblocks = n;
		e->data_idx = op->data_idx;
		uint32_t *crc = (uint32_t *)(e + 1);
		uint8_t *dst = op->jb->buf + ST_JREC_HDR_MAX + (uint64_t)op->data_idx * ST_BLK;
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *src = (const uint8_t *)req->buf + (uint64_t)i * ST_BLK;
			memcpy(dst + (uint64_t)i * ST_BLK, src, ST_BLK);
			crc[i] = rt_crc32c(0, src, ST_BLK);
		}
		st->stats.journal_small_writes++;
		return 0;
	}
	e = st__journal_add(st, op, st_align8((uint32_t)sizeof(*e) + 8 * n), 0);
	if (!e)
		return 1;
	uint32_t *pb = (uint32_t *)(e + 1);
	uint32_t *crc = pb + n;
	if (st__alloc_get(&st->alloc, n, pb) < 0) {
		/* Cannot happen (free_blks checked); neutralise the entry. */
		e->type = 0;
		return -ENOSPC;
	}
	op->jtype = ST_JE_WRITE_ROW;
	e->type = ST_JE_WRITE_ROW;
	e->pool = req->obj.pool;
	e->oid = req->obj.oid;
	e->version = req->version;
	e->lblock = l;
	e->nblocks = n;
	for (uint32_t i = 0; i < n; i++)
		crc[i] = rt_crc32c(0, (const uint8_t *)req->buf + (uint64_t)i * ST_BLK, ST_BLK);
	op->nblocks = n;
	op->next_blk = 0;
	op->data_pending = true;
	op->jb->data_pending++;
	op->jb->row_blks += n;
	st->row_blks_window += n;
	st->stats.row_writes++;
	st_row_issue(st, op);
	return 0;
}

static int
st_simple_entry_start(struct st_store *st, struct st_iop *op, uint16_t type)
{
	struct st_req *req = op->req;
	struct st_jent *e;

	if (type == ST_JE_DELETE && !st__obj_find(&st->idx, req->obj.pool, req->obj.oid))
		return -ENOENT;
	if (type == ST_JE_UNMAP && !st__obj_find(&st->idx, req->obj.pool, req->obj.oid) &&
	    st->idx.n_objs >= st->sb.max_objects)
		return -ENOSPC;
	e = st__journal_add(st, op, sizeof(*e), 0);
	if (!e)
		return 1;
	e->type = type;
	e->pool = req->obj.pool;
	e->oid = req->obj.oid;
	e->version = req->version;
	if (type == ST_JE_UNMAP) {
		e->lblock = (uint32_t)(req->offset_bytes / ST_BLK);
		e->nblocks = (uint32_t)(req->len_bytes / ST_BLK);
	}
	op->jtype = type;
	return 0;
}

static int
st_meta_start(struct st_store *st, struct st_iop *op, bool del)
{
	struct st_req *req = op->req;
	uint32_t vlen = del ? 0 : (uint32_t)req->len_bytes;
	struct st_jent *e;

	if (del) {
		if (!st__meta_find(&st->idx, req->meta_key, req->meta_key_len))
			return -ENOENT;
	} else {
		struct st_meta *m = st__meta_find(&st->idx, req->meta_key, req->meta_key_len);
		uint64_t now = st->idx.meta_used_bytes;
		if (m)
			now -= st__meta_rec_bytes(m->key_len, m->val_len);
		if (now + st__meta_rec_bytes(req->meta_key_len, vlen) > st->sb.meta_bytes)
			return -ENOSPC;
	}
	e = st__journal_add(st, op, st_align8((uint32_t)sizeof(*e) + req->meta_key_len + vlen), 0);
	if (!e)
		return 1;
	e->type = del ? ST_JE_META_DEL : ST_JE_META_SET;
	e->lblock = req->meta_key_len;
	e->nblocks = vlen;
	memcpy(e + 1, req->meta_key, req->meta_key_len);
	if (vlen)
		memcpy((uint8_t *)(e + 1) + req->meta_key_len, req->buf, vlen);
	op->jtype = e->type;
	return 0;
}

static void
st_flush_dev_done(struct st_bio *bio, int res)
{
	struct st_iop *op = bio->ctx;

	st__op_finish(op->st, op, res < 0 ? res : 0);
}

static int
st_flush_start(struct st_store *st, struct st_iop *op)
{
	struct st_jbuf *jb = NULL;

	st->stats.flushes++;
	if (st->opts.durability == ST_DUR_NONE) {
		/* No record carries durability: flush the device cache. */
		struct st_bio *b = &op->bios[0];
		memset(b, 0, sizeof(*b));
		b->op = ST_BIO_FLUSH;
		b->cb = st_flush_dev_done;
		b->ctx = op;
		st->stats.dev_flushes++;
		return st__bio_submit(st, b);
	}
	if (st->fill->head)
		jb = st->fill;
	else
		jb = st__journal_newest(st);
	if (!jb) {
		st_op_defer_finish(st, op, 0);
		return 0;
	}
	/* Wait on the newest record: it completes after every earlier one. */
	op->next = NULL;
	op->jb = NULL;
	if (jb->tail)
		jb->tail->next = op;
	else
		jb->head = op;
	jb->tail = op;
	return 0;
}

int
st__op_start(struct st_store *st, struct st_iop *op)
{
	struct st_req *req = op->req;
	int rc;

	if (st->failed && req->op != ST_OP_READ)
		return st->failed;
	switch (req->op) {
	case ST_OP_READ:
		rc = st__read_start(st, op);
		break;
	case ST_OP_WRITE:
		rc = st_write_start(st, op);
		break;
	case ST_OP_DISCARD:
	case ST_OP_WRITE_ZEROES:
		rc = st_simple_entry_start(st, op, ST_JE_UNMAP);
		break;
	case ST_OP_DELETE:
		rc = st_simple_entry_start(st, op, ST_JE_DELETE);
		break;
	case ST_OP_META_SET:
		rc = st_meta_start(st, op, false);
		break;
	case ST_OP_META_DEL:
		rc = st_meta_start(st, op, true);
		break;
	case ST_OP_FLUSH:
		rc = st_flush_start(st, op);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc == 0 && !op->counted) {
		op->counted = true;
		st->inflight++;
	}
	if (rc == 0 && op->jb)
		st__journal_push(st);
	return rc;
}

static void
st_wq_push(struct st_store *st, struct st_iop *op, bool front)
{
	if (front) {
		op->next = st->wq_head;
		st->wq_head = op;
		if (!st->wq_tail)
			st->wq_tail = op;
		return;
	}
	op->next = NULL;
	if (st->wq_tail)
		st->wq_tail->next = op;
	else
		st->wq_head = op;
	st->wq_tail = op;
}

void
st__wq_drain(struct st_store *st)
{
	if (st->draining)
		return;
	st->draining = true;
	for (unsigned guard = 0; st->wq_head && guard < 1000000; guard++) {
		struct st_iop *op = st->wq_head;
		int rc;

		st->wq_head = op->next;
		if (!st->wq_head)
			st->wq_tail = NULL;
		rc = st__op_start(st, op);
		if (rc == 1) {
			st_wq_push(st, op, true);
			break;
		}
		if (rc < 0)
			st__op_finish(st, op, rc);
	}
	st->draining = false;
}

static bool
st_req_is_valid(struct st_store *st, struct st_req *req)
{
	switch (req->op) {
	case ST_OP_READ:
	case ST_OP_WRITE:
		if (!req->buf || ((uintptr_t)req->buf % ST_BLK))
			return false;
		/* fallthrough */
	case ST_OP_DISCARD:
	case ST_OP_WRITE_ZEROES:
		return req->len_bytes > 0 && req->offset_bytes % ST_BLK == 0 &&
		       req->len_bytes % ST_BLK == 0 &&
		       req->offset_bytes + req->len_bytes <= st->sb.max_object_bytes &&
		       req->offset_bytes < st->sb.max_object_bytes;
	case ST_OP_DELETE:
	case ST_OP_FLUSH:
		return true;
	case ST_OP_META_SET:
		if (req->len_bytes > ST_META_VAL_MAX || (req->len_bytes && !req->buf))
			return false;
		/* fallthrough */
	case ST_OP_META_DEL:
		return req->meta_key && req->meta_key_len > 0 && req->meta_key_len <= ST_META_KEY_MAX;
	default:
		return false;
	}
}

int
st_submit(struct st_store *st, struct st_req *req)
{
	struct st_iop *op;
	int rc;

	if (!st || !req || !req->cb)
		return -EINVAL;
	if (st->closing)
		return -ESHUTDOWN;
	if (!st_req_is_valid(st, req))
		return -EINVAL;
	op = st__op(req);
	memset(op, 0, offsetof(struct st_iop, homes));
	op->req = req;
	op->st = st;
	if (st->wq_head) {
		st->stats.queued++;
		st_wq_push(st, op, false);
		return 0;
	}
	rc = st__op_start(st, op);
	if (rc == 1) {
		st->stats.queued++;
		st_wq_push(st, op, false);
		return 0;
	}
	if (rc < 0) {
		/* A run-time condition (ENOSPC, ENOENT, failed store): report it
		 * through the callback like any other result. */
		op->counted = true;
		st->inflight++;
		st_op_defer_finish(st, op, rc);
	}
	return 0;
}
