/*
 * Recovery at open: load the newest valid checkpoint, then replay the journal
 * records that follow it.
 *
 * A record is replayed only if its magic, version, uuid, generation and
 * sequence number are the expected ones and its CRC32C matches; the first one
 * that fails ends the replay (it was torn by a crash, or is a stale record
 * from an earlier lap). Up to ST_JINFLIGHT_MAX records are written at once,
 * so valid records may follow a torn one; their operations were never
 * acknowledged (records retire in order), and open bumps the record
 * generation, so they are never replayed later either.
 *
 * Redirect-on-write entries point at data blocks that were written in
 * parallel with their record; a crash can leave the record durable and the
 * data not. That can only happen to a record that had not completed: the
 * last one replayed (E), or one of the prev_inflight records before it (the
 * ones still in flight when E was written; every record before those had
 * completed, so its data was durable). These form the window. Replay checks
 * the CRC of the data blocks of the window's RoW entries and skips an entry
 * whose data does not match (that write had not completed, so it was never
 * acknowledged). One exception: when a later record of the window touches the
 * same blocks (overwrite, unmap, delete), the entry's operation had completed
 * before that one was submitted (overlapping operations are never in flight
 * together: st.h), so it is applied unchecked; its blocks may since have been
 * freed and reused, or rewritten in place by a checkpoint that did not
 * finish. Records before the window are not checked, for the same reason.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt_crc.h"
#include "rt_err.h"
#include "rt_log.h"
#include "st_int.h"

static int
st_load_slot(struct st_store *st, int slot, uint64_t *gen)
{
	struct st_ckpt_hdr *h = (struct st_ckpt_hdr *)st->ck_buf;
	uint64_t nblks;
	uint32_t crc;
	int rc;

	rc = st__io_sync(st, ST_BIO_READ, st->sb.ckpt_blk[slot], st->ck_buf, 1, false);
	if (rc < 0)
		return rc;
	if (h->magic != ST_CKPT_MAGIC || h->version != ST_FORMAT_VERSION ||
	    h->hdr_bytes != sizeof(*h) || memcmp(h->uuid, st->sb.uuid, 16) != 0 ||
	    h->used_bytes < sizeof(*h) || h->used_bytes > st->ck_buf_bytes)
		return -RT_ECORRUPT;
	nblks = (h->used_bytes + ST_BLK - 1) / ST_BLK;
	if (nblks > 1) {
		rc = st__io_sync(st, ST_BIO_READ, st->sb.ckpt_blk[slot] + 1, st->ck_buf + ST_BLK,
				 nblks - 1, false);
		if (rc < 0)
			return rc;
	}
	crc = h->crc;
	h->crc = 0;
	if (rt_crc32c(0, st->ck_buf, h->used_bytes) != crc)
		return -RT_EBADCRC;
	h->crc = crc;
	if (sizeof(*h) + h->n_objects * sizeof(struct st_ckpt_obj) +
		    h->n_blocks * sizeof(struct st_ckpt_blk) >
	    h->used_bytes)
		return -RT_ECORRUPT;
	*gen = h->gen;
	return 0;
}

static int
st_load_ckpt(struct st_store *st)
{
	uint64_t gen[2] = {0, 0};
	int rc[2], best;
	struct st_ckpt_hdr *h = (struct st_ckpt_hdr *)st->ck_buf;
	struct st_ckpt_obj *objs;
	struct st_ckpt_blk *blks;
	uint64_t off;

	rc[0] = st_load_slot(st, 0, &gen[0]);
	rc[1] = st_load_slot(st, 1, &gen[1]);
	if (rc[0] < 0 && rc[1] < 0) {
		rt_err(RT_SS_STORE, "no valid checkpoint: slot A " DF_RC ", slot B " DF_RC,
		       DP_RC(rc[0]), DP_RC(rc[1]));
		return -RT_ECORRUPT;
	}
	best = rc[0] < 0 ? 1 : rc[1] < 0 ? 0 : (gen[0] > gen[1] ? 0 : 1);
	/* The buffer holds the last slot read (slot B, valid or not). */
	if (best == 0) {
		int r = st_load_slot(st, 0, &gen[0]);
		if (r < 0)
			return r;
	}
	objs = (struct st_ckpt_obj *)(st->ck_buf + sizeof(*h));
	blks = (struct st_ckpt_blk *)(objs + h->n_objects);
	for (uint64_t i = 0; i < h->n_objects; i++) {
		struct st_obj *o = st__obj_get(&st->idx, objs[i].pool, objs[i].oid);
		if (!o)
			return -RT_ECORRUPT;
		o->version = objs[i].version;
	}
	for (uint64_t i = 0; i < h->n_blocks; i++) {
		struct st_ckpt_blk *cb = &blks[i];
		if (cb->obj_idx >= h->n_objects || cb->lblock >= st->blocks_per_obj ||
		    cb->pblock < st->sb.data_blk || cb->pblock >= st->sb.data_blk + st->sb.data_blks)
			return -RT_ECORRUPT;
		struct st_ckpt_obj *co = &objs[cb->obj_idx];
		struct st_bent *b = st__blk_get(&st->idx, co->pool, co->oid, cb->lblock);
		if (!b)
			return -RT_ECORRUPT;
		if (b->home == ST_NONE)
			st__obj_find(&st->idx, co->pool, co->oid)->mapped_blks++;
		b->cur = b->home = cb->pblock;
		b->crc = cb->crc;
	}
	off = sizeof(*h) + h->n_objects * sizeof(*objs) + h->n_blocks * sizeof(*blks);
	for (uint64_t i = 0; i < h->n_meta; i++) {
		struct st_ckpt_meta *cm = (struct st_ckpt_meta *)(st->ck_buf + off);
		if (off + sizeof(*cm) > h->used_bytes || cm->key_len == 0 ||
		    cm->key_len > ST_META_KEY_MAX || cm->val_len > ST_META_VAL_MAX ||
		    off + st__meta_rec_bytes(cm->key_len, cm->val_len) > h->used_bytes)
			return -RT_ECORRUPT;
		int r = st__meta_set(&st->idx, cm + 1, cm->key_len, (uint8_t *)(cm + 1) + cm->key_len,
				     cm->val_len);
		if (r < 0)
			return r;
		off += st__meta_rec_bytes(cm->key_len, cm->val_len);
	}
	st->gen = h->gen;
	st->jgen = h->journal_gen ? h->journal_gen : h->gen;
	st->jhead = st->jtail = h->journal_head;
	st->next_seq = h->journal_seq;
	rt_info(RT_SS_STORE, "checkpoint gen %llu: %llu objects, %llu blocks, %llu metadata keys",
		(unsigned long long)h->gen, (unsigned long long)h->n_objects,
		(unsigned long long)h->n_blocks, (unsigned long long)h->n_meta);
	return 0;
}

/* Read nblks journal blocks from ring counter cnt into buf (wrapping). */
static int
st_jread(struct st_store *st, uint64_t cnt, uint8_t *buf, uint64_t nblks)
{
	while (nblks) {
		uint64_t pos = cnt % st->sb.journal_blks;
		uint64_t n = nblks;
		int rc;

		if (pos + n > st->sb.journal_blks)
			n = st->sb.journal_blks - pos;
		rc = st__io_sync(st, ST_BIO_READ, st->sb.journal_blk + pos, buf, n, false);
		if (rc < 0)
			return rc;
		cnt += n;
		buf += n * ST_BLK;
		nblks -= n;
	}
	return 0;
}

/* Entry sanity against the record it is in. Returns 0 or -RT_ECORRUPT. */
static int
st_check_entry(struct st_store *st, const struct st_jent *e, uint32_t room,
	       const struct st_jrec_hdr *h)
{
	uint64_t need = sizeof(*e);

	if (e->len_bytes < sizeof(*e) || e->len_bytes > room || e->len_bytes % 8)
		return -RT_ECORRUPT;
	switch (e->type) {
	case ST_JE_WRITE_J:
		need += 4ull * e->nblocks;
		if ((uint64_t)e->data_idx + e->nblocks > h->len_blks - h->hdr_blks)
			return -RT_ECORRUPT;
		/* fallthrough */
	case ST_JE_UNMAP:
		if (e->nblocks == 0 || (uint64_t)e->lblock + e->nblocks > st->blocks_per_obj)
			return -RT_ECORRUPT;
		break;
	case ST_JE_WRITE_ROW: {
		need += 8ull * e->nblocks;
		if (e->nblocks == 0 || (uint64_t)e->lblock + e->nblocks > st->blocks_per_obj ||
		    need > e->len_bytes)
			return -RT_ECORRUPT;
		const uint32_t *pb = (const uint32_t *)(e + 1);
		for (uint32_t i = 0; i < e->nblocks; i++)
			if (pb[i] < st->sb.data_blk || pb[i] >= st->sb.data_blk + st->sb.data_blks)
				return -RT_ECORRUPT;
		break;
	}
	case ST_JE_DELETE:
	case 0: /* neutralised entry */
		break;
	case ST_JE_META_SET:
		if (e->nblocks > ST_META_VAL_MAX)
			return -RT_ECORRUPT;
		need += e->nblocks;
		/* fallthrough */
	case ST_JE_META_DEL:
		if (e->lblock == 0 || e->lblock > ST_META_KEY_MAX)
			return -RT_ECORRUPT;
		need += e->lblock;
		break;
	default:
		return -RT_ECORRUPT;
	}
	return need > e->len_bytes ? -RT_ECORRUPT : 0;
}

/* Does the RoW data of e match its CRCs? Uses the record buffer's data area
 * as scratch (up to ST_JREC_DATA_MAX per run). */
static int
st_row_verify(struct st_store *st, const struct st_jent *e, uint8_t *scratch, bool *ok)
{
	const uint32_t *pb = (const uint32_t *)(e + 1);
	const uint32_t *crc = pb + e->nblocks;
	uint32_t i = 0;

	*ok = true;
	while (i < e->nblocks) {
		uint32_t j = i + 1;
		int rc;

		while (j < e->nblocks && pb[j] == pb[j - 1] + 1 &&
		       (uint64_t)(j - i) * ST_BLK < ST_JREC_DATA_MAX)
			j++;
		rc = st__io_sync(st, ST_BIO_READ, pb[i], scratch, j - i, false);
		if (rc < 0)
			return rc;
		for (uint32_t k = i; k < j; k++) {
			if (rt_crc32c(0, scratch + (uint64_t)(k - i) * ST_BLK, ST_BLK) != crc[k]) {
				*ok = false;
				return 0;
			}
		}
		i = j;
	}
	return 0;
}

/*
 * Read and check the record at ring counter cnt with sequence seq into buf.
 * Returns 1 (valid), 0 (not a valid record: the end of the journal) or <0.
 */
static int
st_read_record(struct st_store *st, uint64_t cnt, uint64_t seq, uint8_t *buf)
{
	struct st_jrec_hdr *h = (struct st_jrec_hdr *)buf;
	uint64_t live = cnt - st->jtail;
	uint32_t crc, c, off = 0;
	int rc;

	rc = st_jread(st, cnt, buf, 1);
	if (rc < 0)
		return rc;
	if (h->magic != ST_JREC_MAGIC || h->version != ST_FORMAT_VERSION ||
	    memcmp(h->uuid, st->sb.uuid, 16) || h->gen != st->jgen || h->seq != seq)
		return 0;
	if (h->hdr_blks == 0 || h->len_blks < h->hdr_blks ||
	    (uint64_t)h->hdr_blks * ST_BLK > ST_JREC_HDR_MAX ||
	    (uint64_t)(h->len_blks - h->hdr_blks) * ST_BLK > ST_JREC_DATA_MAX ||
	    live + h->len_blks > st->sb.journal_blks ||
	    sizeof(*h) + h->entries_bytes > (uint64_t)h->hdr_blks * ST_BLK)
		return 0;
	if (h->hdr_blks > 1) {
		rc = st_jread(st, cnt + 1, buf + ST_BLK, h->hdr_blks - 1);
		if (rc < 0)
			return rc;
	}
	if (h->len_blks > h->hdr_blks) {
		rc = st_jread(st, cnt + h->hdr_blks, buf + ST_JREC_HDR_MAX,
			      h->len_blks - h->hdr_blks);
		if (rc < 0)
			return rc;
	}
	crc = h->crc;
	h->crc = 0;
	c = rt_crc32c(0, buf, (size_t)h->hdr_blks * ST_BLK);
	c = rt_crc32c(c, buf + ST_JREC_HDR_MAX, (size_t)(h->len_blks - h->hdr_blks) * ST_BLK);
	h->crc = crc;
	if (c != crc)
		return 0; /* torn: the end of the journal */
	/* A record with a good CRC and a bad entry is corruption, not a tear. */
	for (uint32_t i = 0; i < h->n_entries; i++) {
		const struct st_jent *e = (const struct st_jent *)(buf + sizeof(*h) + off);
		if (off + sizeof(*e) > h->entries_bytes)
			return -RT_ECORRUPT;
		rc = st_check_entry(st, e, h->entries_bytes - off, h);
		if (rc < 0) {
			rt_err(RT_SS_STORE, "journal record %llu: malformed entry %u",
			       (unsigned long long)h->seq, i);
			return rc;
		}
		off += e->len_bytes;
	}
	return 1;
}

/* Does an entry touch blocks [l, l+n) of (pool, oid)? */
static bool
st_entry_touches(const struct st_jent *e, uint32_t pool, uint64_t oid, uint32_t l, uint32_t n)
{
	if (e->pool != pool || e->oid != oid)
		return false;
	switch (e->type) {
	case ST_JE_WRITE_J:
	case ST_JE_WRITE_ROW:
	case ST_JE_UNMAP:
		return e->lblock < l + n && l < e->lblock + e->nblocks;
	case ST_JE_DELETE:
		return true;
	default:
		return false;
	}
}

/* Does any entry of the records later[0..nlater) touch e's blocks? */
static bool
st_touched_later(const struct st_jent *e, uint8_t *const *later, uint32_t nlater)
{
	for (uint32_t r = 0; r < nlater; r++) {
		const struct st_jrec_hdr *h = (const struct st_jrec_hdr *)later[r];
		uint32_t off = 0;

		for (uint32_t i = 0; i < h->n_entries; i++) {
			const struct st_jent *x =
				(const struct st_jent *)(later[r] + sizeof(*h) + off);
			off += x->len_bytes;
			if (st_entry_touches(x, e->pool, e->oid, e->lblock, e->nblocks))
				return true;
		}
	}
	return false;
}

/*
 * Apply a record's entries. verify: the record is in the window (see the
 * comment at the top of this file); later[] are the window's records after it.
 */
static int
st_apply_record(struct st_store *st, const uint8_t *buf, uint64_t cnt, bool verify,
		uint8_t *const *later, uint32_t nlater, uint8_t *scratch, uint64_t *n_skipped)
{
	const struct st_jrec_hdr *h = (const struct st_jrec_hdr *)buf;
	uint32_t off = 0;

	for (uint32_t i = 0; i < h->n_entries; i++) {
		const struct st_jent *e = (const struct st_jent *)(buf + sizeof(*h) + off);
		off += e->len_bytes;
		if (e->type == 0)
			continue;
		if (verify && e->type == ST_JE_WRITE_ROW && !st_touched_later(e, later, nlater)) {
			bool ok;
			int rc = st_row_verify(st, e, scratch, &ok);
			if (rc < 0)
				return rc;
			if (!ok) {
				(*n_skipped)++;
				continue;
			}
		}
		st__apply_entry(st, e, cnt, h->hdr_blks, NULL);
	}
	return 0;
}

static int
st_replay(struct st_store *st, uint64_t *n_records, uint64_t *n_skipped)
{
	/* The last ST_JINFLIGHT_MAX valid records wait in a ring of buffers
	 * (the window is at most that long); one more buffer for reading. */
	uint8_t *bufs[ST_JBUFS];
	uint64_t cnts[ST_JBUFS];
	uint32_t qh = 0, nq = 0, win;
	uint8_t *scratch;
	int rc = 0;

	_Static_assert(ST_JBUFS > ST_JINFLIGHT_MAX, "a buffer to read into");
	*n_records = *n_skipped = 0;
	for (uint32_t i = 0; i < ST_JBUFS; i++)
		bufs[i] = st->jb[i].buf;
	scratch = aligned_alloc(ST_BLK, ST_JREC_DATA_MAX);
	if (!scratch)
		return -ENOMEM;
	for (uint64_t guard = 0; guard < st->sb.journal_blks; guard++) {
		uint32_t slot = (qh + nq) % ST_JBUFS;

		rc = st_read_record(st, st->jhead, st->next_seq, bufs[slot]);
		if (rc < 0)
			goto out;
		if (rc == 0)
			break;
		cnts[slot] = st->jhead;
		st->jhead += ((struct st_jrec_hdr *)bufs[slot])->len_blks;
		st->next_seq++;
		(*n_records)++;
		if (++nq > ST_JINFLIGHT_MAX) {
			/* Too old to be in any window. */
			rc = st_apply_record(st, bufs[qh], cnts[qh], false, NULL, 0, scratch,
					     n_skipped);
			if (rc < 0)
				goto out;
			qh = (qh + 1) % ST_JBUFS;
			nq--;
		}
	}
	rc = 0;
	if (!nq)
		goto out;
	win = ((struct st_jrec_hdr *)bufs[(qh + nq - 1) % ST_JBUFS])->prev_inflight;
	win = win < nq - 1 ? win + 1 : nq;
	for (uint32_t k = 0; k < nq; k++) {
		uint32_t slot = (qh + k) % ST_JBUFS;
		uint8_t *later[ST_JBUFS];
		uint32_t nlater = 0;
		bool verify = k >= nq - win;

		for (uint32_t j = k + 1; verify && j < nq; j++)
			later[nlater++] = bufs[(qh + j) % ST_JBUFS];
		rc = st_apply_record(st, bufs[slot], cnts[slot], verify, later, nlater, scratch,
				     n_skipped);
		if (rc < 0)
			goto out;
	}
out:
	free(scratch);
	return rc;
}

int
st__recover(struct st_store *st)
{
	uint64_t nrec = 0, nskip = 0;
	int rc;

	st->replaying = true;
	rc = st_load_ckpt(st);
	if (rc < 0)
		goto out;
	rc = st_replay(st, &nrec, &nskip);
	if (rc < 0)
		goto out;
	/* Rebuild the allocator from the index. */
	for (uint64_t i = 0; i < st->idx.blk_cap; i++) {
		struct st_bent *b = &st->idx.blks[i];
		if (b->lblock == ST_NONE || b->home == ST_NONE)
			continue;
		if (st__alloc_is_used(&st->alloc, b->home)) {
			rt_err(RT_SS_STORE, "block %u mapped twice", b->home);
			rc = -RT_ECORRUPT;
			goto out;
		}
		st__alloc_mark(&st->alloc, b->home);
	}
	/* Small writes to new blocks replayed from the journal need a home. */
	for (uint64_t i = 0; i < st->idx.blk_cap; i++) {
		struct st_bent *b = &st->idx.blks[i];
		if (b->lblock == ST_NONE || b->home != ST_NONE)
			continue;
		rc = st__alloc_get(&st->alloc, 1, &b->home);
		if (rc < 0) {
			rt_err(RT_SS_STORE, "recovery: no space for journaled blocks");
			goto out;
		}
	}
	rt_info(RT_SS_STORE, "replayed %llu journal records (%llu unfinished writes skipped)",
		(unsigned long long)nrec, (unsigned long long)nskip);
	rc = 0;
out:
	st->replaying = false;
	return rc;
}
