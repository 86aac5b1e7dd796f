/*
 * The "store" target: libstore directly (st.h), one store per job on its
 * own partition of the file, driven by the job's reactor.
 *
 * Layout: job i's store is partition [i * P, (i + 1) * P) of the file, with P
 * = store_part_bytes(per-job working set): the working set plus room for
 * the journal, checkpoints, metadata and redirect-on-write slack. The job's slice of the linear
 * address space is cut into objects of --object-size: linear offset x is
 * object (pool, (x - base) / object_size) at offset (x - base) % object_size.
 * An I/O that crosses object boundaries becomes one st_req per object; it
 * completes when all of them have, with the first error. Reads of objects
 * that do not exist yet return zeroes, as an unwritten disk does.
 *
 * st_reqs come from a free list sized at open (iodepth * pieces per I/O), so
 * submitting never allocates.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "rt_err.h"
#include "rt_reactor.h"
#include "st.h"

struct store_req {
	struct st_req req;
	struct store_req *next_free;
	struct bench_target *t;
	struct bench_io *io;
};

struct bench_target {
	struct st_store *st;
	struct rt_reactor *r;
	uint64_t base_bytes;
	uint64_t obj_bytes;
	uint32_t pool;
	uint64_t version;
	struct store_req *reqs;
	uint32_t nreqs;
	struct store_req *free;
	unsigned inflight;
};

/* Per-I/O state in bench_io.priv. */
struct store_io {
	uint32_t pending;
	int rc;
};
_Static_assert(sizeof(struct store_io) <= BENCH_TARGET_PRIV_BYTES, "store_io fits");

static int
store_durability(const char *d, enum st_durability *out)
{
	if (!d || !strcmp(d, "default") || !strcmp(d, "fua") || !strcmp(d, "dsync"))
		*out = ST_DUR_FUA;
	else if (!strcmp(d, "batch") || !strcmp(d, "batch-flush") || !strcmp(d, "fsync"))
		*out = ST_DUR_BATCH_FLUSH;
	else if (!strcmp(d, "none"))
		*out = ST_DUR_NONE;
	else
		return -EINVAL;
	return 0;
}

/*
 * Partition size for a per-job working set: the data, plus a quarter and 64 MiB
 * for the journal, the checkpoints, the metadata area and the free blocks that
 * in-flight redirect-on-write overwrites need before they free the old ones.
 */
static uint64_t
store_part_bytes(uint64_t per_job)
{
	uint64_t p = per_job + per_job / 4 + (64ull << 20);

	return (p + (1ull << 20) - 1) & ~((1ull << 20) - 1);
}

/*
 * The inverse, for an existing file without --size: the largest working set,
 * in whole objects, whose partition is exactly part bytes (0 if none).
 */
static uint64_t
store_per_job_from_part(uint64_t part, uint64_t obj_bytes)
{
	uint64_t lo = 0, hi = part / obj_bytes;

	/* store_part_bytes is monotonic: binary search the object count. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;

		if (store_part_bytes(mid * obj_bytes) <= part)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo && store_part_bytes(lo * obj_bytes) == part ? lo * obj_bytes : 0;
}

static void
store_fill_opts(const struct bench_cfg *cfg, unsigned job, uint64_t part, struct st_opts *o)
{
	st_opts_init(o);
	o->path = cfg->store;
	o->offset_bytes = cfg->offset + job * part;
	o->length_bytes = part;
	o->max_object_bytes = (uint32_t)cfg->object_size;
	store_durability(cfg->durability, &o->durability);
}

static int
store_prepare(const struct bench_cfg *cfg, uint64_t *total_bytes, bool *created)
{
	unsigned njobs = (unsigned)cfg->jobs;
	uint64_t per_job, part, file_bytes;
	enum st_durability dur;
	struct st_opts o;
	struct stat sb;
	bool exists;
	int fd, rc;

	*created = false;
	if (store_durability(cfg->durability, &dur) < 0) {
		fprintf(stderr, "tessera-bench: --durability: '%s': the store target knows "
				"fua (default), batch, none\n", cfg->durability);
		return -EINVAL;
	}
	if (cfg->object_size % 4096 || cfg->object_size > (64u << 20)) {
		fprintf(stderr, "tessera-bench: --object-size: a 4 KiB multiple up to 64 MiB\n");
		return -EINVAL;
	}
	exists = stat(cfg->store, &sb) == 0;
	if (!exists && errno != ENOENT) {
		rc = -errno;
		fprintf(stderr, "tessera-bench: %s: %s\n", cfg->store, strerror(errno));
		return rc;
	}
	if (*total_bytes == 0) {
		if (!exists || !S_ISREG(sb.st_mode)) {
			fprintf(stderr, "tessera-bench: %s: give --size (the working set)%s\n",
				cfg->store, exists ? "" : " to create the store");
			return -EINVAL;
		}
		per_job = sb.st_size > (off_t)cfg->offset ?
				  store_per_job_from_part(((uint64_t)sb.st_size - cfg->offset) / njobs,
							  cfg->object_size) : 0;
		*total_bytes = per_job * njobs;
		if (*total_bytes == 0) {
			fprintf(stderr, "tessera-bench: %s: cannot tell its working set from its "
					"size: give --size, --jobs and --object-size as when it was "
					"created\n", cfg->store);
			return -EINVAL;
		}
	}
	per_job = bench_per_job_bytes(cfg, *total_bytes);
	if (per_job == 0) {
		fprintf(stderr, "tessera-bench: --size is too small for %u jobs\n", njobs);
		return -EINVAL;
	}
	part = store_part_bytes(per_job);
	file_bytes = cfg->offset + part * njobs;
	if (exists && !cfg->format) {
		if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size < file_bytes) {
			fprintf(stderr, "tessera-bench: %s: %llu bytes, but --size %" PRIu64
					" with %u jobs needs a %" PRIu64 "-byte store (or --format)\n",
				cfg->store, (unsigned long long)sb.st_size, *total_bytes, njobs,
				file_bytes);
			return -EINVAL;
		}
		return 0;
	}
	if (cfg->check_log) {
		fprintf(stderr, "tessera-bench: --check-log needs an existing store\n");
		return -EINVAL;
	}

	fd = open(cfg->store, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "tessera-bench: cannot create %s: %s\n", cfg->store,
			strerror(errno));
		return rc;
	}
	rc = 0;
	if (!exists || S_ISREG(sb.st_mode)) {
		rc = posix_fallocate(fd, 0, (off_t)file_bytes);
		if (rc == 0 && fsync(fd) < 0)
			rc = errno;
	}
	close(fd);
	if (rc) {
		fprintf(stderr, "tessera-bench: cannot size %s to %" PRIu64 " bytes: %s\n",
			cfg->store, file_bytes, strerror(rc));
		if (!exists)
			unlink(cfg->store);
		return -rc;
	}
	for (unsigned i = 0; i < njobs; i++) {
		store_fill_opts(cfg, i, part, &o);
		rc = st_format(&o);
		if (rc < 0) {
			fprintf(stderr, "tessera-bench: cannot format %s (partition %u: %" PRIu64
					" bytes at %" PRIu64 "): " DF_RC "\n",
				cfg->store, i, part, o.offset_bytes, DP_RC(rc));
			if (!exists)
				unlink(cfg->store);
			return rc;
		}
	}
	if (!cfg->quiet && !cfg->json)
		fprintf(stderr, "tessera-bench: formatted %s: %u store%s of %" PRIu64
				" MiB for a %" PRIu64 " MiB working set\n",
			cfg->store, njobs, njobs > 1 ? "s" : "", part >> 20, *total_bytes >> 20);
	*created = true;
	return 0;
}

static int
store_open(const struct bench_target_params *p, struct bench_target **out)
{
	const struct bench_cfg *cfg = p->cfg;
	struct bench_target *t;
	struct st_opts o;
	uint32_t pieces;
	int rc;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->r = p->reactor;
	t->base_bytes = p->base_bytes;
	t->pool = (uint32_t)cfg->pool;
	/* Versions only need to grow; start above anything a previous run set. */
	t->version = (uint64_t)time(NULL) << 20;
	store_fill_opts(cfg, p->job, store_part_bytes(p->size_bytes), &o);
	rc = st_open(&o, p->reactor, &t->st);
	if (rc < 0)
		goto out_free;
	/* The object size is the store's (fixed at format time), not the option's. */
	st_get_opts(t->st, &o);
	t->obj_bytes = o.max_object_bytes;
	if (t->obj_bytes != cfg->object_size && p->job == 0 && !cfg->quiet)
		fprintf(stderr, "tessera-bench: %s was formatted with %" PRIu64 "-byte objects; "
				"using that, not --object-size %" PRIu64 "\n",
			cfg->store, t->obj_bytes, cfg->object_size);
	pieces = (uint32_t)((p->max_io_bytes + t->obj_bytes - 1) / t->obj_bytes + 1);
	t->nreqs = p->iodepth * pieces;
	t->reqs = calloc(t->nreqs, sizeof(*t->reqs));
	if (!t->reqs) {
		rc = -ENOMEM;
		goto out_close;
	}
	for (uint32_t i = 0; i < t->nreqs; i++) {
		t->reqs[i].t = t;
		t->reqs[i].next_free = t->free;
		t->free = &t->reqs[i];
	}
	*out = t;
	return 0;
out_close:
	st_close(&t->st);
out_free:
	free(t);
	return rc;
}

static void
store_req_done(struct st_req *req, int rc)
{
	struct store_req *sr = (struct store_req *)req;
	struct bench_target *t = sr->t;
	struct bench_io *io = sr->io;
	struct store_io *sio = (struct store_io *)io->priv;

	if (rc == -ENOENT && req->op == ST_OP_READ) {
		memset(req->buf, 0, req->len_bytes); /* an object never written reads as zeroes */
		rc = 0;
	}
	if (rc < 0 && sio->rc == 0)
		sio->rc = rc;
	sr->next_free = t->free;
	t->free = sr;
	t->inflight--;
	if (--sio->pending == 0)
		io->cb(io, sio->rc);
}

/* Async contract: returns 0: io->cb runs exactly once, later, on this thread; <0: never. */
static int
store_submit(struct bench_target *t, struct bench_io *io)
{
	struct store_io *sio = (struct store_io *)io->priv;
	uint64_t rel = io->offset_bytes - t->base_bytes, end = rel + io->len_bytes;
	uint64_t version = ++t->version;
	uint32_t npieces = 0;
	int rc;

	/* Count pieces first so that a shortage fails before anything is submitted. */
	for (uint64_t x = rel; x < end; x = (x / t->obj_bytes + 1) * t->obj_bytes)
		npieces++;
	{
		uint32_t avail = 0;

		for (struct store_req *sr = t->free; sr && avail < npieces; sr = sr->next_free)
			avail++;
		if (avail < npieces)
			return -EAGAIN;
	}
	/* One extra count keeps cb from running until every piece is submitted. */
	sio->pending = 1;
	sio->rc = 0;
	for (uint64_t x = rel; x < end;) {
		uint64_t obj_end = (x / t->obj_bytes + 1) * t->obj_bytes;
		uint64_t len = (end < obj_end ? end : obj_end) - x;
		struct store_req *sr = t->free;
		struct st_req *req = &sr->req;

		t->free = sr->next_free;
		sr->io = io;
		req->op = io->write ? ST_OP_WRITE : ST_OP_READ;
		req->obj.pool = t->pool;
		req->obj.oid = x / t->obj_bytes;
		req->offset_bytes = x % t->obj_bytes;
		req->len_bytes = len;
		req->buf = (char *)io->buf + (x - rel);
		req->version = version;
		req->cb = store_req_done;
		req->ctx = sr;
		rc = st_submit(t->st, req);
		if (rc < 0) {
			sr->next_free = t->free;
			t->free = sr;
			if (x == rel)
				return rc; /* nothing submitted: cb never runs */
			sio->rc = rc;  /* the submitted pieces complete the I/O */
			break;
		}
		sio->pending++;
		t->inflight++;
		x += len;
	}
	/*
	 * Drop the extra count. Pieces complete later (never inside st_submit), so
	 * pending is still > 0 here.
	 */
	sio->pending--;
	return 0;
}

static uint64_t
store_atomic_bytes(struct bench_target *t)
{
	return t->obj_bytes;
}

static void
store_describe(struct bench_target *t, char *buf, unsigned len)
{
	struct st_stats s;

	st_get_stats(t->st, &s);
	snprintf(buf, len,
		 "libstore: journal_writes %" PRIu64 " (small %" PRIu64 "), row_writes %" PRIu64
		 ", dev_flushes %" PRIu64 ", checkpoints %" PRIu64 ", queued %" PRIu64
		 ", csum_errors %" PRIu64 ", io_errors %" PRIu64 ", enospc %" PRIu64,
		 s.journal_writes, s.journal_small_writes, s.row_writes, s.dev_flushes,
		 s.checkpoints, s.queued, s.csum_errors, s.io_errors, s.enospc);
}

static void
store_close(struct bench_target **tp)
{
	struct bench_target *t = *tp;
	int rc;

	/* st_close waits for whatever is still in flight (after an error elsewhere). */
	rc = st_close(&t->st);
	if (rc < 0)
		fprintf(stderr, "tessera-bench: closing the store: " DF_RC "\n", DP_RC(rc));
	free(t->reqs);
	free(t);
	*tp = NULL;
}

const struct bench_target_ops bench_target_store_ops = {
	.name = "store",
	.prepare = store_prepare,
	.open = store_open,
	.submit = store_submit,
	.atomic_bytes = store_atomic_bytes,
	.describe = store_describe,
	.close = store_close,
};
