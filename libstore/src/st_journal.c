/*
 * The write-ahead journal.
 *
 * A ring of J blocks written sequentially in records. A record is a header
 * block (or several) holding entries, followed by data blocks (the payload of
 * small writes); the whole record has one CRC32C, so a record torn by a power
 * cut fails its CRC and replay stops there. Every record carries the store
 * uuid, the checkpoint generation it follows and a sequence number, so a stale
 * record from an earlier lap of the ring or an earlier generation is never
 * replayed. A record may wrap around the end of the ring (it is then written
 * as two pieces).
 *
 * Group commit: ST_JBUFS record buffers used in ring order. Entries gather in
 * the filling one; it goes out at the end of the reactor turn if fewer than
 * jmax_inflight records are in flight, else as soon as the oldest completes,
 * with everything that gathered meanwhile. At QD1 a small write is one
 * journal write (plus one flush in batch mode); at QD32 one journal write
 * covers many operations.
 *
 * Records in flight: ST_JINFLIGHT_MAX with ST_DUR_FUA and ST_DUR_NONE, so that
 * a write does not wait for the record of the writes before it (at QD4 the
 * 128 KiB writes would otherwise move in lock step, one record per round);
 * one when each record costs a flush: ST_DUR_BATCH_FLUSH, and ST_DUR_FUA on a
 * device without FUA (st->row_flush: RoW data and its record are written
 * plain, then flushed once per record, instead of k+1 emulated FUA writes,
 * i.e. k+1 flushes).
 * A record completes when its own write is durable and every
 * redirect-on-write data write of its entries is durable too; records retire
 * strictly in sequence order: their operations are applied to the index and
 * their callbacks run only once every earlier record has retired. So an
 * acknowledged operation's record and every record before it are durable,
 * and a torn record followed by a valid one (written at the same time) only
 * hides operations that were never acknowledged. Each record header carries
 * how many earlier records were still in flight when it was written: replay
 * verifies the RoW data of those and of the last record (st_recover.c).
 *
 * Space: the ring between the replay start of the newest durable checkpoint
 * (jtail) and jhead is live, including everything written while a checkpoint
 * runs in the background. When it passes half the ring a checkpoint is
 * requested; only an entry that does not fit waits (for the checkpoint to
 * move jtail).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt_crc.h"
#include "rt_err.h"
#include "rt_log.h"
#include "st_int.h"

static void st_journal_issue(struct st_store *st, struct st_jbuf *jb);

uint64_t
st__jblk_abs(const struct st_store *st, uint64_t counter)
{
	return st->sb.journal_blk + counter % st->sb.journal_blks;
}

static void
st_jbuf_reset(struct st_jbuf *jb)
{
	jb->ent_bytes = 0;
	jb->n_entries = 0;
	jb->data_blks = 0;
	jb->row_blks = 0;
	jb->head = jb->tail = NULL;
	jb->data_pending = 0;
	jb->bios_pending = 0;
	jb->written = false;
	jb->flushing = false;
	jb->inflight = false;
	jb->done = false;
	jb->need_flush = false;
	jb->err = 0;
}

static struct st_jbuf *
st_jb_next(struct st_store *st, struct st_jbuf *jb)
{
	uint32_t i = (uint32_t)(jb - st->jb);

	return &st->jb[(i + 1) % ST_JBUFS];
}

struct st_jbuf *
st__journal_newest(const struct st_store *st)
{
	uint32_t i = (uint32_t)(st->fill - st->jb);

	if (!st->n_flying)
		return NULL;
	return (struct st_jbuf *)&st->jb[(i + ST_JBUFS - 1) % ST_JBUFS];
}

static bool
st_journal_can_issue(const struct st_store *st)
{
	return st->n_flying < st->jmax_inflight && (st->fill->n_entries || st->fill->head);
}

int
st__journal_init(struct st_store *st)
{
	for (uint32_t i = 0; i < ST_JBUFS; i++) {
		st->jb[i].buf = aligned_alloc(ST_BLK, ST_JREC_HDR_MAX + ST_JREC_DATA_MAX);
		if (!st->jb[i].buf)
			return -ENOMEM;
		memset(st->jb[i].buf, 0, ST_JREC_HDR_MAX);
		st_jbuf_reset(&st->jb[i]);
		st->jb[i].st = st;
	}
	st->fill = &st->jb[0];
	st->flying = NULL;
	st->n_flying = 0;
	/* One record in flight when each costs a flush: batching is then worth
	 * more than overlap (a 128 KiB write at QD4: one flush per four writes). */
	st->jmax_inflight =
		st->opts.durability == ST_DUR_BATCH_FLUSH || st->row_flush ? 1 : ST_JINFLIGHT_MAX;
	return 0;
}

void
st__journal_fini(struct st_store *st)
{
	for (uint32_t i = 0; i < ST_JBUFS; i++) {
		free(st->jb[i].buf);
		st->jb[i].buf = NULL;
	}
}

bool
st__journal_idle(const struct st_store *st)
{
	return !st->n_flying && !st->fill->head && st->fill->n_entries == 0;
}

static void
st_journal_kick_fn(void *ctx)
{
	struct st_store *st = ctx;

	st->kick_scheduled = false;
	if (st_journal_can_issue(st))
		st_journal_issue(st, st->fill);
}

void
st__journal_kick(struct st_store *st)
{
	if (st->kick_scheduled)
		return;
	st->kick_scheduled = true;
	rt_reactor_defer(st->r, &st->kick_msg, st_journal_kick_fn, st);
}

static uint32_t
st_hdr_blks(uint32_t ent_bytes)
{
	return (uint32_t)((sizeof(struct st_jrec_hdr) + ent_bytes + ST_BLK - 1) / ST_BLK);
}

struct st_jent *
st__journal_add(struct st_store *st, struct st_iop *op, uint32_t ent_bytes, uint32_t data_blks)
{
	struct st_jbuf *jb = st->fill;
	uint64_t rec_blks, live;
	struct st_jent *e;

	if (sizeof(struct st_jrec_hdr) + jb->ent_bytes + ent_bytes > ST_JREC_HDR_MAX ||
	    (uint64_t)(jb->data_blks + data_blks) * ST_BLK > ST_JREC_DATA_MAX) {
		st__journal_kick(st);
		return NULL;
	}
	rec_blks = st_hdr_blks(jb->ent_bytes + ent_bytes) + jb->data_blks + data_blks;
	live = st->jhead - st->jtail;
	/* Keep one maximal record of slack so a delete can always commit. */
	if (live + rec_blks > st->sb.journal_blks - 1) {
		st__ckpt_request(st);
		return NULL;
	}
	e = (struct st_jent *)(jb->buf + sizeof(struct st_jrec_hdr) + jb->ent_bytes);
	memset(e, 0, ent_bytes);
	e->len_bytes = ent_bytes;
	jb->ent_bytes += ent_bytes;
	jb->n_entries++;
	op->jb = jb;
	op->ent_off = (uint32_t)((uint8_t *)e - jb->buf);
	op->data_idx = jb->data_blks;
	jb->data_blks += data_blks;
	op->next = NULL;
	if (jb->tail)
		jb->tail->next = op;
	else
		jb->head = op;
	jb->tail = op;
	st__journal_kick(st);
	if (live > st->sb.journal_blks / 2)
		st__ckpt_request(st);
	return e;
}

static void st_journal_progress(struct st_store *st, struct st_jbuf *jb);

/* Add a bio writing nblks from buf at ring counter cnt, split at the ring end. */
static uint32_t
st_jwrite(struct st_store *st, struct st_jbuf *jb, uint32_t bi, uint64_t cnt, uint8_t *buf,
	  uint32_t nblks, bool fua)
{
	while (nblks) {
		uint64_t pos = cnt % st->sb.journal_blks;
		uint32_t n = nblks;

		if (pos + n > st->sb.journal_blks)
			n = (uint32_t)(st->sb.journal_blks - pos);
		struct st_bio *b = &jb->bios[bi++];
		memset(b, 0, sizeof(*b));
		b->op = ST_BIO_WRITE;
		b->fua = fua;
		b->offset_bytes = (st->sb.journal_blk + pos) * ST_BLK;
		b->len_bytes = n * ST_BLK;
		b->buf = buf;
		b->ctx = jb;
		cnt += n;
		buf += (uint64_t)n * ST_BLK;
		nblks -= n;
	}
	return bi;
}

static void st_journal_write_done(struct st_bio *bio, int res);

static void
st_journal_fail_fn(void *ctx)
{
	struct st_jbuf *jb = ctx;

	st_journal_progress(jb->st, jb);
}

static void
st_journal_issue(struct st_store *st, struct st_jbuf *jb)
{
	struct st_jrec_hdr *h = (struct st_jrec_hdr *)jb->buf;
	uint32_t hdr_blks = st_hdr_blks(jb->ent_bytes);
	uint32_t nb = 0;
	bool fua;
	uint32_t crc;

	jb->need_flush = st->opts.durability == ST_DUR_BATCH_FLUSH ||
			 (st->row_flush && jb->row_blks > 0);
	fua = st->opts.durability == ST_DUR_FUA && !jb->need_flush;

	jb->seq = st->next_seq++;
	jb->pos = st->jhead;
	jb->hdr_blks = hdr_blks;
	jb->len_blks = hdr_blks + jb->data_blks;
	st->jhead += jb->len_blks;
	jb->inflight = true;
	if (!st->n_flying)
		st->flying = jb;
	st->n_flying++;
	st->fill = st_jb_next(st, jb);

	memset(h, 0, sizeof(*h));
	h->magic = ST_JREC_MAGIC;
	h->version = ST_FORMAT_VERSION;
	h->len_blks = jb->len_blks;
	memcpy(h->uuid, st->sb.uuid, 16);
	h->gen = st->jgen;
	h->seq = jb->seq;
	h->hdr_blks = hdr_blks;
	h->n_entries = jb->n_entries;
	h->entries_bytes = jb->ent_bytes;
	h->prev_inflight = st->n_flying - 1;
	memset(jb->buf + sizeof(*h) + jb->ent_bytes, 0,
	       (size_t)hdr_blks * ST_BLK - sizeof(*h) - jb->ent_bytes);
	crc = rt_crc32c(0, jb->buf, (size_t)hdr_blks * ST_BLK);
	crc = rt_crc32c(crc, jb->buf + ST_JREC_HDR_MAX, (size_t)jb->data_blks * ST_BLK);
	h->crc = crc;

	if (jb->data_blks && hdr_blks <= ST_JREC_HDR_MAX / ST_BLK / 2) {
		/* One contiguous write: copy the header blocks so that they end
		 * where the data begins (the entries stay where the ops point). */
		uint8_t *h2 = jb->buf + ST_JREC_HDR_MAX - (size_t)hdr_blks * ST_BLK;

		memcpy(h2, jb->buf, (size_t)hdr_blks * ST_BLK);
		nb = st_jwrite(st, jb, nb, jb->pos, h2, jb->len_blks, fua);
	} else {
		nb = st_jwrite(st, jb, nb, jb->pos, jb->buf, hdr_blks, fua);
		nb = st_jwrite(st, jb, nb, jb->pos + hdr_blks, jb->buf + ST_JREC_HDR_MAX,
			       jb->data_blks, fua);
	}
	jb->bios_pending = nb;
	st->stats.journal_writes++;
	st->stats.journal_bytes += (uint64_t)jb->len_blks * ST_BLK;
	for (uint32_t i = 0; i < nb; i++) {
		jb->bios[i].cb = st_journal_write_done;
		int rc = st__bio_submit(st, &jb->bios[i]);
		if (rc < 0) {
			/* Count the unsubmitted ones as failed. */
			jb->err = rc;
			jb->bios_pending -= nb - i;
			break;
		}
	}
	/* Never complete operations from here: this may run inside st_submit. */
	if (jb->bios_pending == 0)
		rt_reactor_defer(st->r, &jb->fail_msg, st_journal_fail_fn, jb);
}

void
st__journal_push(struct st_store *st)
{
	if (st->jmax_inflight > 1 && st_journal_can_issue(st))
		st_journal_issue(st, st->fill);
}

static void
st_journal_write_done(struct st_bio *bio, int res)
{
	struct st_jbuf *jb = bio->ctx;
	struct st_store *st = jb->st;

	if (res < 0 && !jb->err)
		jb->err = res;
	jb->bios_pending--;
	st_journal_progress(st, jb);
}

static void
st_journal_flush_done(struct st_bio *bio, int res)
{
	struct st_jbuf *jb = bio->ctx;
	struct st_store *st = jb->st;

	if (res < 0 && !jb->err)
		jb->err = res;
	jb->written = true;
	st_journal_progress(st, jb);
}

void
st__journal_data_done(struct st_store *st, struct st_jbuf *jb)
{
	jb->data_pending--;
	if (jb->inflight)
		st_journal_progress(st, jb);
}

/* Retire the oldest records that are done, in sequence order. */
static void
st_journal_retire(struct st_store *st)
{
	for (uint32_t guard = 0; st->n_flying && st->flying->done && guard < ST_JBUFS; guard++) {
		struct st_jbuf *jb = st->flying;
		struct st_iop *head = jb->head, *op, *next;
		int err = jb->err ? jb->err : st->jerr;

		if (jb->err) {
			st->jerr = jb->err;
			if (!st->failed)
				rt_err(RT_SS_STORE,
				       "journal write failed: " DF_RC "; store is now failed",
				       DP_RC(jb->err));
			st->failed = jb->err;
		}
		/* Apply everything first (in journal order), then run the callbacks. */
		for (op = head; op; op = op->next) {
			if (!err && op->rc == 0)
				st__op_apply(st, op);
			else if (!err && op->jtype == ST_JE_WRITE_ROW && op->jb)
				st__row_failed(st, op);
		}
		st_jbuf_reset(jb);
		st->n_flying--;
		st->flying = st->n_flying ? st_jb_next(st, jb) : NULL;
		for (op = head; op; op = next) {
			next = op->next;
			op->jb = NULL;
			st__op_finish(st, op, err ? err : op->rc);
		}
	}
	if (st_journal_can_issue(st))
		st_journal_issue(st, st->fill);
	st__ckpt_maybe_start(st);
	st__wq_drain(st);
}

static void
st_journal_progress(struct st_store *st, struct st_jbuf *jb)
{
	if (!jb->inflight || jb->bios_pending || jb->data_pending)
		return;
	if (jb->need_flush && !jb->err && !jb->written) {
		if (!jb->flushing) {
			struct st_bio *b = &jb->bios[4];

			jb->flushing = true;
			memset(b, 0, sizeof(*b));
			b->op = ST_BIO_FLUSH;
			b->cb = st_journal_flush_done;
			b->ctx = jb;
			st->stats.dev_flushes++;
			int rc = st__bio_submit(st, b);
			if (rc < 0) {
				jb->err = rc;
				jb->written = true;
				jb->done = true;
				st_journal_retire(st);
			}
		}
		return;
	}
	jb->done = true;
	st_journal_retire(st);
}
