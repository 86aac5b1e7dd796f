/*
 * Open and close a store, and the small synchronous getters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt_err.h"
#include "rt_log.h"
#include "st_int.h"

static void
st_free(struct st_store *st)
{
	st__journal_fini(st);
	st__index_fini(&st->idx);
	st__alloc_fini(&st->alloc);
	free(st->ck_buf);
	free(st->ck_fbuf);
	free(st->orphans[0]);
	free(st->orphans[1]);
	if (st->be)
		st->be->close(st->bctx);
	free(st);
}

int
st_open(const struct st_opts *opts, struct rt_reactor *r, struct st_store **out)
{
	struct st_store *st;
	uint64_t size = 0, part;
	uint8_t *blk = NULL;
	int rc;

	if (!opts || !r || !out || opts->offset_bytes % ST_BLK || opts->length_bytes % ST_BLK ||
	    opts->durability > ST_DUR_NONE)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->r = r;
	st->opts = *opts;
	st->fd = -1;
	st->ck_scan_slots = ST_CK_SCAN_SLOTS;
	st->ck_flush_par = ST_CK_FLUSH_INFLIGHT;
	if (st->opts.journal_write_max_bytes == 0)
		st->opts.journal_write_max_bytes = ST_BLK;
	if (st->opts.journal_write_max_bytes > ST_JWRITE_MAX_LIMIT)
		st->opts.journal_write_max_bytes = ST_JWRITE_MAX_LIMIT;
	st->opts.journal_write_max_bytes -= st->opts.journal_write_max_bytes % ST_BLK;
	rc = st__open_backend(opts, r, &st->be, &st->bctx, &st->uring_be, &st->fd, &size);
	if (rc == 0 && st->uring_be && opts->durability == ST_DUR_FUA)
		st->row_flush = st__uring_fua_emulated(st->uring_be);
	if (rc < 0) {
		st->be = NULL;
		goto out_free;
	}
	blk = aligned_alloc(ST_BLK, ST_BLK);
	if (!blk) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = st__io_sync(st, ST_BIO_READ, 0, blk, 1, false);
	if (rc < 0)
		goto out_free;
	memcpy(&st->sb, blk, sizeof(st->sb));
	rc = st__sb_check(&st->sb);
	if (rc < 0) {
		rt_err(RT_SS_STORE, "%s: superblock rejected: " DF_RC,
		       opts->path ? opts->path : "(backend)", DP_RC(rc));
		goto out_free;
	}
	part = opts->length_bytes ? opts->length_bytes
				  : (size > opts->offset_bytes ? size - opts->offset_bytes : 0);
	if (st->sb.part_bytes > part || opts->offset_bytes + st->sb.part_bytes > size) {
		rt_err(RT_SS_STORE, "store formatted for %llu bytes, partition has %llu",
		       (unsigned long long)st->sb.part_bytes, (unsigned long long)part);
		rc = -EINVAL;
		goto out_free;
	}
	st->opts.length_bytes = st->sb.part_bytes;
	st->opts.max_object_bytes = st->sb.max_object_bytes;
	st->opts.journal_bytes = st->sb.journal_blks * ST_BLK;
	st->opts.max_objects = st->sb.max_objects;
	st->opts.meta_bytes = st->sb.meta_bytes;
	st->blocks_per_obj = st->sb.max_object_bytes / ST_BLK;
	st->jwrite_max_blks = st->opts.journal_write_max_bytes / ST_BLK;
	rc = st__index_init(&st->idx, st->sb.max_objects, st->sb.data_blks);
	if (rc < 0)
		goto out_free;
	rc = st__alloc_init(&st->alloc, st->sb.data_blk, st->sb.data_blks);
	if (rc < 0)
		goto out_free;
	rc = st__journal_init(st);
	if (rc < 0)
		goto out_free;
	st->ck_buf_bytes = st->sb.ckpt_blks * ST_BLK;
	st->ck_buf = aligned_alloc(ST_BLK, st->ck_buf_bytes);
	st->ck_fbuf = aligned_alloc(ST_BLK, (size_t)ST_CKPT_FLUSH_PAR * ST_BLK);
	st->orphans[0] = calloc((st->sb.data_blks + 63) / 64, sizeof(uint64_t));
	st->orphans[1] = calloc((st->sb.data_blks + 63) / 64, sizeof(uint64_t));
	if (!st->ck_buf || !st->ck_fbuf || !st->orphans[0] || !st->orphans[1]) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = st__recover(st);
	if (rc < 0)
		goto out_free;
	/* A fresh checkpoint: flushes replayed small writes home and starts a new
	 * record generation, so that no record of the crashed run is ever
	 * replayed again (nothing is in flight: it starts at the journal head). */
	st->jgen++;
	rc = st__ckpt_sync(st);
	if (rc < 0)
		goto out_free;
	free(blk);
	*out = st;
	return 0;
out_free:
	free(blk);
	st_free(st);
	return rc;
}

int
st_close(struct st_store **stp)
{
	struct st_store *st = *stp;
	int rc = 0;

	if (!st)
		return 0;
	uint64_t deadline = rt_now_us() + 300ull * 1000 * 1000;
	while ((st->inflight || st->wq_head || !st__journal_idle(st) ||
		st->ck_phase != ST_CK_IDLE || st->kick_scheduled) &&
	       rt_now_us() < deadline) {
		if (rt_reactor_run_once(st->r, 10000) < 0)
			break;
	}
	if (!st->failed)
		rc = st__ckpt_sync(st);
	else
		rc = st->failed;
	st->closing = true;
	/* Let deferred completions of the backend drain. */
	for (int i = 0; i < 4; i++)
		rt_reactor_run_once(st->r, 0);
	st_free(st);
	*stp = NULL;
	return rc;
}

void
st_statfs(struct st_store *st, struct st_statfs *out)
{
	memset(out, 0, sizeof(*out));
	out->total_bytes = st->sb.data_blks * ST_BLK;
	out->free_bytes = st->alloc.free_blks * ST_BLK;
	out->used_bytes = out->total_bytes - out->free_bytes;
	out->objects = st->idx.n_objs;
	out->max_objects = st->sb.max_objects;
	out->journal_bytes = st->sb.journal_blks * ST_BLK;
	out->journal_used_bytes = (st->jhead - st->jtail) * ST_BLK;
	out->meta_bytes = st->sb.meta_bytes;
	out->meta_used_bytes = st->idx.meta_used_bytes;
}

void
st_get_stats(struct st_store *st, struct st_stats *out)
{
	*out = st->stats;
}

void
st_get_opts(struct st_store *st, struct st_opts *out)
{
	*out = st->opts;
}

int
st_get_fd(struct st_store *st)
{
	return st->fd;
}

void
st_get_uuid(struct st_store *st, uint8_t uuid[16])
{
	memcpy(uuid, st->sb.uuid, 16);
}
