/*
 * The job engine of tessera-bench: keeps iodepth I/Os in flight on one
 * target instance from one reactor thread, records latencies, and with
 * --verify writes self-describing blocks and checks every block it reads.
 *
 * Verify keeps, per 4 KiB block of the job's range, the generation this run
 * knows is on the target (acknowledged) and a busy flag: an I/O never starts
 * on a block another in-flight I/O touches, so the order of writes to one
 * block is the order they were issued and a read has exactly one right
 * answer. A slot that finds no free range parks until a completion frees one.
 *
 * With --ack-log, each acknowledged write is appended (write(2), 32 bytes)
 * to a log after its completion callback; that blocking call is acceptable
 * in this test-only mode and keeps the record strictly after the ack.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_verify.h"
#include "rt_err.h"
#include "rt_reactor.h"

#define BENCH_CHUNK_BYTES (128u * 1024u) /* prefill, readback and check I/O size */
#define BENCH_PICK_TRIES 8

struct bench_slot {
	struct bench_io io;
	struct bench_job *job;
	uint64_t start_ns;
	uint64_t gen;
	bool parked;
};

#define slot_of(iop) ((struct bench_slot *)((char *)(iop) - offsetof(struct bench_slot, io)))

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
bench_per_job_bytes(const struct bench_cfg *cfg, uint64_t total_bytes)
{
	uint64_t per = total_bytes / (uint64_t)cfg->jobs / BENCH_BLOCK * BENCH_BLOCK;

	/* Store jobs own whole objects when they can. */
	if (cfg->store && cfg->object_size && per >= cfg->object_size)
		per = per / cfg->object_size * cfg->object_size;
	return per;
}

static inline uint64_t
job_rand(struct bench_job *j)
{
	uint64_t z = (j->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void __attribute__((format(printf, 4, 5)))
job_fail(struct bench_job *j, int rc, int exit_code, const char *fmt, ...)
{
	va_list ap;

	if (j->rc == 0) {
		j->rc = rc;
		j->exit_code = exit_code;
		va_start(ap, fmt);
		vsnprintf(j->errmsg, sizeof(j->errmsg), fmt, ap);
		va_end(ap);
	}
	atomic_store(&j->run->stop, true);
}

static bool
job_is_rand(const struct bench_cfg *cfg)
{
	return cfg->rw == BENCH_RW_RANDREAD || cfg->rw == BENCH_RW_RANDWRITE ||
	       cfg->rw == BENCH_RW_RANDRW;
}

static bool
range_busy(const struct bench_job *j, uint64_t rel, uint32_t len)
{
	for (uint64_t b = rel / BENCH_BLOCK; b < (rel + len) / BENCH_BLOCK; b++)
		if (j->busy[b])
			return true;
	return false;
}

static void
range_set_busy(struct bench_job *j, uint64_t rel, uint32_t len, uint8_t v)
{
	memset(j->busy + rel / BENCH_BLOCK, v, len / BENCH_BLOCK);
}

static bool
job_locks(const struct bench_job *j)
{
	return j->busy != NULL && j->phase != BENCH_PH_CHECK;
}

/*
 * Choose the next I/O of the current phase. Returns 0 (io filled), 1 (the
 * phase has nothing more to issue) or -EBUSY (every candidate range is busy).
 */
static int
job_pick(struct bench_job *j, struct bench_io *io)
{
	const struct bench_cfg *cfg = j->run->cfg;
	uint64_t rel, len;
	bool write;

	if (j->phase != BENCH_PH_MAIN) {
		if (j->phase_cursor >= j->size)
			return 1;
		rel = j->phase_cursor;
		len = j->size - rel < BENCH_CHUNK_BYTES ? j->size - rel : BENCH_CHUNK_BYTES;
		if (job_locks(j) && range_busy(j, rel, (uint32_t)len))
			return -EBUSY;
		j->phase_cursor += len;
		io->write = j->phase == BENCH_PH_PREFILL;
		io->offset_bytes = j->base + rel;
		io->len_bytes = (uint32_t)len;
		return 0;
	}

	switch (cfg->rw) {
	case BENCH_RW_READ:
	case BENCH_RW_RANDREAD:
		write = false;
		break;
	case BENCH_RW_WRITE:
	case BENCH_RW_RANDWRITE:
		write = true;
		break;
	default:
		write = (int64_t)(job_rand(j) % 100) >= cfg->rwmixread;
		break;
	}

	len = cfg->bs;
	if (cfg->bs_max > cfg->bs)
		len += (job_rand(j) % ((cfg->bs_max - cfg->bs) / BENCH_BLOCK + 1)) * BENCH_BLOCK;
	if (len > j->size)
		len = j->size;

	if (job_is_rand(cfg)) {
		/* Offsets aligned to bs (fio's blockalign), or 4 KiB with a size range. */
		uint64_t align = cfg->bs_max > cfg->bs ? BENCH_BLOCK : cfg->bs;
		uint64_t nalign = j->size / align;
		int tries = 0;

		for (;;) {
			rel = (job_rand(j) % nalign) * align;
			if (rel + len > j->size)
				len = j->size - rel;
			if (!job_locks(j) || !range_busy(j, rel, (uint32_t)len))
				break;
			if (++tries == BENCH_PICK_TRIES)
				return -EBUSY;
		}
	} else {
		if (j->seq_next + len > j->size)
			j->seq_next = 0;
		rel = j->seq_next;
		if (rel + len > j->size)
			len = j->size - rel;
		if (job_locks(j) && range_busy(j, rel, (uint32_t)len))
			return -EBUSY;
		j->seq_next += len;
	}
	io->write = write;
	io->offset_bytes = j->base + rel;
	io->len_bytes = (uint32_t)len;
	return 0;
}

static bool
job_should_stop(struct bench_job *j)
{
	if (j->stop_issuing || j->rc || atomic_load_explicit(&j->run->stop, memory_order_relaxed))
		return true;
	if (j->limit_ios && j->issued >= j->limit_ios)
		return true;
	if (j->deadline_ns && bench_now_ns() >= j->deadline_ns) {
		j->stop_issuing = true;
		return true;
	}
	return false;
}

static void slot_done(struct bench_io *io, int rc);

/* The phase is over once nothing is in flight: leave rt_reactor_run. */
static void
job_maybe_stop(struct bench_job *j)
{
	if (j->inflight == 0 && j->running)
		rt_reactor_stop(j->reactor);
}

static void
slot_issue(struct bench_job *j, struct bench_slot *s)
{
	const struct bench_cfg *cfg = j->run->cfg;
	uint64_t rel;
	int rc;

	if (job_should_stop(j))
		return;
	rc = job_pick(j, &s->io);
	if (rc == 1) {
		j->stop_issuing = true;
		return;
	}
	if (rc == -EBUSY) {
		s->parked = true;
		j->parked++;
		return;
	}
	rel = s->io.offset_bytes - j->base;
	if (job_locks(j))
		range_set_busy(j, rel, s->io.len_bytes, 1);
	if (s->io.write && cfg->verify) {
		s->gen = j->run->gen_base + j->gen_next * j->run->njobs + j->id + 1;
		j->gen_next++;
		bench_verify_fill_io(s->io.buf, s->io.offset_bytes, s->io.len_bytes, s->gen, j->id);
	}
	s->io.cb = slot_done;
	s->start_ns = bench_now_ns();
	rc = cfg->ops->submit(j->t, &s->io);
	if (rc == 0) {
		j->inflight++;
		j->issued++;
		return;
	}
	if (job_locks(j))
		range_set_busy(j, rel, s->io.len_bytes, 0);
	if ((rc == -EAGAIN || rc == -ENOMEM) && j->inflight > 0) {
		/* The target is out of resources: retry after a completion. */
		if (j->phase != BENCH_PH_MAIN)
			j->phase_cursor -= s->io.len_bytes;
		s->parked = true;
		j->parked++;
		return;
	}
	job_fail(j, rc, BENCH_EXIT_IOERR, "%s submit at offset %" PRIu64 " (%u bytes) failed: " DF_RC,
		 s->io.write ? "write" : "read", s->io.offset_bytes, s->io.len_bytes, DP_RC(rc));
}

static void
job_unpark(struct bench_job *j)
{
	for (unsigned i = 0; i < j->nslots && j->parked; i++) {
		struct bench_slot *s = &j->slots[i];

		if (!s->parked)
			continue;
		s->parked = false;
		j->parked--;
		slot_issue(j, s);
		if (s->parked)
			break; /* still nothing free: wait for the next completion */
	}
}

/* Check the blocks of a completed read. Returns false after a failure. */
static bool
job_verify_read(struct bench_job *j, struct bench_slot *s)
{
	const struct bench_io *io = &s->io;
	struct bench_stats *st = &j->st[j->phase];

	for (uint32_t done = 0; done < io->len_bytes; done += BENCH_BLOCK) {
		uint64_t off = io->offset_bytes + done;
		uint64_t b = (off - j->base) / BENCH_BLOCK;
		struct bench_vhdr h;
		enum bench_verify_status vs = bench_verify_check((char *)io->buf + done, off, &h);
		uint64_t exp;

		st->verified_blocks++;
		if (j->phase == BENCH_PH_CHECK) {
			exp = j->run->acked[off / BENCH_BLOCK];
			if (vs == BENCH_V_OK) {
				j->obs_gen[b] = h.gen;
				j->obs_woff[b] = h.write_off;
				j->obs_wlen[b] = h.write_len;
				if (h.gen >= exp) {
					if (h.gen > exp)
						j->check_unacked++;
					continue;
				}
			} else if (vs == BENCH_V_ZERO && exp == 0) {
				continue;
			}
			j->check_errors++;
			if (vs == BENCH_V_OK)
				fprintf(stderr,
					"tessera-bench: check: offset %" PRIu64 ": stale data: "
					"generation %" PRIu64 " (write at %" PRIu64 "+%u) but "
					"generation %" PRIu64 " was acknowledged\n",
					off, h.gen, h.write_off, h.write_len, exp);
			else
				fprintf(stderr,
					"tessera-bench: check: offset %" PRIu64 ": %s; acknowledged "
					"generation %" PRIu64 "\n",
					off, bench_verify_status_str(vs), exp);
			if (j->check_errors >= 20) {
				job_fail(j, -EIO, BENCH_EXIT_VERIFY,
					 "check: too many errors, stopping");
				return false;
			}
			continue;
		}

		exp = j->gen[b];
		if (exp == BENCH_GEN_UNKNOWN) {
			/* Written before this run: only our own blocks can be judged. */
			if (vs == BENCH_V_OK || vs == BENCH_V_ZERO || vs == BENCH_V_BADMAGIC)
				continue;
		} else if (exp == 0) {
			if (vs == BENCH_V_ZERO)
				continue;
		} else if (vs == BENCH_V_OK && h.gen == exp) {
			continue;
		}
		{
			char want[64], got[96];

			if (exp == BENCH_GEN_UNKNOWN)
				snprintf(want, sizeof(want), "any intact block");
			else if (exp == 0)
				snprintf(want, sizeof(want), "zeroes (never written)");
			else
				snprintf(want, sizeof(want), "generation %" PRIu64, exp);
			if (vs == BENCH_V_ZERO || vs == BENCH_V_BADMAGIC)
				snprintf(got, sizeof(got), "no generation");
			else
				snprintf(got, sizeof(got), "generation %" PRIu64 " of a write at %" PRIu64
					 "+%u", h.gen, h.write_off, h.write_len);
			job_fail(j, -EIO, BENCH_EXIT_VERIFY,
				 "verify failed at offset %" PRIu64 " (job %u, %s of %u bytes at %" PRIu64
				 "): %s; expected %s, found %s",
				 off, j->id, j->phase == BENCH_PH_READBACK ? "read-back" : "read",
				 io->len_bytes, io->offset_bytes, bench_verify_status_str(vs), want, got);
		}
		return false;
	}
	return true;
}

static void
job_log_ack(struct bench_job *j, const struct bench_slot *s)
{
	struct bench_ack_rec rec = {
		.magic = BENCH_ACK_MAGIC,
		.gen = s->gen,
		.off = s->io.offset_bytes,
		.len = s->io.len_bytes,
		.job = j->id,
	};
	ssize_t n = write(j->run->ack_fd, &rec, sizeof(rec));

	if (n != (ssize_t)sizeof(rec))
		job_fail(j, n < 0 ? -errno : -EIO, BENCH_EXIT_IOERR, "ack log write failed: %s",
			 n < 0 ? strerror(errno) : "short write");
}

static void
slot_done(struct bench_io *io, int rc)
{
	struct bench_slot *s = slot_of(io);
	struct bench_job *j = s->job;
	struct bench_stats *st = &j->st[j->phase];
	uint64_t lat = bench_now_ns() - s->start_ns;
	uint64_t rel = io->offset_bytes - j->base;

	j->inflight--;
	if (rc < 0) {
		if (job_locks(j))
			range_set_busy(j, rel, io->len_bytes, 0);
		job_fail(j, rc, BENCH_EXIT_IOERR,
			 "%s at offset %" PRIu64 " (%u bytes) failed: " DF_RC,
			 io->write ? "write" : "read", io->offset_bytes, io->len_bytes, DP_RC(rc));
		job_maybe_stop(j);
		return;
	}
	if (io->write) {
		bench_hist_record(&st->lat_w, lat);
		st->ios_w++;
		st->bytes_w += io->len_bytes;
		if (j->gen) {
			for (uint64_t b = rel / BENCH_BLOCK; b < (rel + io->len_bytes) / BENCH_BLOCK;
			     b++)
				j->gen[b] = s->gen;
		}
		if (j->run->ack_fd >= 0 && s->gen)
			job_log_ack(j, s);
	} else {
		bench_hist_record(&st->lat_r, lat);
		st->ios_r++;
		st->bytes_r += io->len_bytes;
		if (j->gen || j->phase == BENCH_PH_CHECK)
			job_verify_read(j, s);
	}
	atomic_store_explicit(&j->prog_ios, atomic_load_explicit(&j->prog_ios,
				memory_order_relaxed) + 1, memory_order_relaxed);
	atomic_store_explicit(&j->prog_bytes, atomic_load_explicit(&j->prog_bytes,
				memory_order_relaxed) + io->len_bytes, memory_order_relaxed);
	if (job_locks(j))
		range_set_busy(j, rel, io->len_bytes, 0);
	slot_issue(j, s);
	if (j->parked)
		job_unpark(j);
	job_maybe_stop(j);
}

/*
 * After the check phase: an unacknowledged write may be visible only as a
 * whole (within one atomic unit). A block of generation G whose write also
 * covered block c means c must hold G or newer; anything older there means
 * the write is torn.
 */
static void
job_check_torn(struct bench_job *j)
{
	uint64_t unit = j->atomic_bytes ? j->atomic_bytes : BENCH_BLOCK;

	for (uint64_t b = 0; b < j->nblocks; b++) {
		uint64_t g = j->obs_gen[b], off = j->base + b * BENCH_BLOCK;
		uint64_t lo, hi, ulo, uhi;

		if (g == 0)
			continue;
		/* Only the first block of each extent in this unit needs checking. */
		lo = j->obs_woff[b];
		hi = lo + j->obs_wlen[b];
		ulo = (off - j->base) / unit * unit + j->base;
		uhi = ulo + unit;
		if (lo < ulo)
			lo = ulo;
		if (hi > uhi)
			hi = uhi;
		if (lo < j->base)
			lo = j->base;
		if (hi > j->base + j->size)
			hi = j->base + j->size;
		if (off != lo && b > 0 && j->obs_gen[b - 1] == g)
			continue;
		for (uint64_t c = lo; c < hi; c += BENCH_BLOCK) {
			uint64_t cb = (c - j->base) / BENCH_BLOCK;

			if (j->obs_gen[cb] >= g)
				continue;
			j->check_errors++;
			fprintf(stderr,
				"tessera-bench: check: torn write: generation %" PRIu64
				" (write at %" PRIu64 "+%u) is visible at offset %" PRIu64
				" but offset %" PRIu64 " holds older generation %" PRIu64 "\n",
				g, j->obs_woff[b], j->obs_wlen[b], off, c, j->obs_gen[cb]);
			if (j->check_errors >= 20)
				return;
		}
	}
}

static void
job_run_phase(struct bench_job *j, enum bench_phase ph)
{
	const struct bench_cfg *cfg = j->run->cfg;
	int rc;

	j->phase = ph;
	j->issued = 0;
	j->phase_cursor = 0;
	j->stop_issuing = false;
	j->limit_ios = ph == BENCH_PH_MAIN && cfg->ios > 0 ? (uint64_t)cfg->ios : 0;
	j->deadline_ns = ph == BENCH_PH_MAIN && cfg->runtime_us ?
				 bench_now_ns() + cfg->runtime_us * 1000ull : 0;
	atomic_store(&j->prog_ios, 0);
	atomic_store(&j->prog_bytes, 0);

	for (unsigned i = 0; i < j->nslots; i++)
		slot_issue(j, &j->slots[i]);
	if (!cfg->ops->poll && j->inflight > 0) {
		/*
		 * Reactor-driven target: run the reactor loop itself (one
		 * io_uring_enter per wait, submitting and waiting at once) until
		 * the last completion stops it.
		 */
		j->running = true;
		rc = rt_reactor_run(j->reactor);
		j->running = false;
		if (rc < 0)
			job_fail(j, rc, BENCH_EXIT_IOERR, "reactor failed: " DF_RC, DP_RC(rc));
	}
	while (j->inflight > 0) {
		/* Targets with their own queue: alternate reactor and target polls. */
		rc = rt_reactor_run_once(j->reactor, 1000);
		if (rc < 0 && rc != -EINTR) {
			job_fail(j, rc, BENCH_EXIT_IOERR, "reactor failed: " DF_RC, DP_RC(rc));
			break;
		}
		if (cfg->ops->poll) {
			rc = cfg->ops->poll(j->t);
			if (rc < 0) {
				job_fail(j, rc, BENCH_EXIT_IOERR, "target poll failed: " DF_RC,
					 DP_RC(rc));
				break;
			}
		}
	}
	/* Slots parked at the end of a phase are simply dropped. */
	for (unsigned i = 0; i < j->nslots; i++)
		j->slots[i].parked = false;
	j->parked = 0;
	if (ph == BENCH_PH_CHECK && j->rc == 0) {
		job_check_torn(j);
		if (j->check_errors)
			job_fail(j, -EIO, BENCH_EXIT_VERIFY,
				 "check failed: %" PRIu64 " bad blocks in job %u (see above)",
				 j->check_errors, j->id);
	}
}

int
bench_job_setup(struct bench_job *j, struct bench_run *run, unsigned id)
{
	const struct bench_cfg *cfg = run->cfg;
	uint64_t buf_len = cfg->bs > cfg->bs_max ? cfg->bs : cfg->bs_max;
	unsigned char *fill;

	memset(j, 0, sizeof(*j));
	j->run = run;
	j->id = id;
	j->base = (uint64_t)id * run->per_job_bytes;
	j->size = run->per_job_bytes;
	j->rng = (uint64_t)cfg->seed * 0x9e3779b97f4a7c15ull + id * 7919u + 1;
	j->nblocks = j->size / BENCH_BLOCK;
	for (int ph = 0; ph < BENCH_PH__COUNT; ph++) {
		bench_hist_init(&j->st[ph].lat_r);
		bench_hist_init(&j->st[ph].lat_w);
	}
	if (buf_len < BENCH_CHUNK_BYTES)
		buf_len = BENCH_CHUNK_BYTES;
	j->nslots = cfg->check_log ? 4 : (unsigned)cfg->iodepth;
	j->slots = calloc(j->nslots, sizeof(*j->slots));
	j->bufs_len = buf_len * j->nslots;
	if (!j->slots || posix_memalign(&j->bufs, BENCH_BLOCK, j->bufs_len))
		return -ENOMEM;
	/* Incompressible data for writes without --verify; written once. */
	fill = j->bufs;
	for (uint64_t i = 0; i < j->bufs_len; i += 8) {
		uint64_t r = job_rand(j);

		memcpy(fill + i, &r, 8);
	}
	for (unsigned i = 0; i < j->nslots; i++) {
		j->slots[i].job = j;
		j->slots[i].io.buf = fill + i * buf_len;
	}
	if (cfg->verify && !cfg->check_log) {
		uint64_t init = run->created ? 0 : BENCH_GEN_UNKNOWN;

		j->gen = malloc(j->nblocks * sizeof(*j->gen));
		j->busy = calloc(j->nblocks, 1);
		if (!j->gen || !j->busy)
			return -ENOMEM;
		for (uint64_t b = 0; b < j->nblocks; b++)
			j->gen[b] = init;
	}
	if (cfg->check_log) {
		j->obs_gen = calloc(j->nblocks, sizeof(*j->obs_gen));
		j->obs_woff = calloc(j->nblocks, sizeof(*j->obs_woff));
		j->obs_wlen = calloc(j->nblocks, sizeof(*j->obs_wlen));
		if (!j->obs_gen || !j->obs_woff || !j->obs_wlen)
			return -ENOMEM;
	}
	return 0;
}

void
bench_job_teardown(struct bench_job *j)
{
	free(j->slots);
	free(j->bufs);
	free(j->gen);
	free(j->busy);
	free(j->obs_gen);
	free(j->obs_woff);
	free(j->obs_wlen);
	j->slots = NULL;
	j->bufs = NULL;
	j->gen = NULL;
	j->busy = NULL;
	j->obs_gen = NULL;
	j->obs_woff = NULL;
	j->obs_wlen = NULL;
}

static bool
phase_enabled(const struct bench_run *run, enum bench_phase ph)
{
	const struct bench_cfg *cfg = run->cfg;

	switch (ph) {
	case BENCH_PH_PREFILL:
		return !cfg->check_log && run->do_prefill;
	case BENCH_PH_MAIN:
		return !cfg->check_log;
	case BENCH_PH_READBACK:
		return !cfg->check_log && cfg->verify;
	case BENCH_PH_CHECK:
		return cfg->check_log != NULL;
	default:
		return false;
	}
}

void *
bench_job_thread(void *arg)
{
	struct bench_job *j = arg;
	struct bench_run *run = j->run;
	const struct bench_cfg *cfg = run->cfg;
	struct rt_reactor_opts ro;
	struct bench_target_params p;
	char name[16];
	int rc;

	rt_reactor_opts_init(&ro);
	snprintf(name, sizeof(name), "bench-%u", j->id);
	ro.name = name;
	ro.core = cfg->core >= 0 ? (int)(cfg->core + j->id) : -1;
	ro.ring_entries = (unsigned)(cfg->iodepth * 2 < 64 ? 64 : cfg->iodepth * 2);
	ro.poll_us = (unsigned)cfg->poll_us;
	rc = rt_reactor_create(&ro, &j->reactor);
	if (rc < 0) {
		job_fail(j, rc, BENCH_EXIT_USAGE, "job %u: reactor: " DF_RC, j->id, DP_RC(rc));
	} else {
		p = (struct bench_target_params){
			.cfg = cfg,
			.reactor = j->reactor,
			.job = j->id,
			.njobs = run->njobs,
			.base_bytes = j->base,
			.size_bytes = j->size,
			.max_io_bytes = (uint32_t)(j->bufs_len / j->nslots),
			.iodepth = j->nslots,
			.created = run->created,
		};
		rc = cfg->ops->open(&p, &j->t);
		if (rc < 0)
			job_fail(j, rc, BENCH_EXIT_USAGE, "job %u: cannot open %s target %s: " DF_RC,
				 j->id, cfg->ops->name, cfg->path, DP_RC(rc));
		else if (cfg->atomic_size)
			j->atomic_bytes = cfg->atomic_size;
		else if (cfg->ops->atomic_bytes)
			j->atomic_bytes = cfg->ops->atomic_bytes(j->t);
	}
	for (int ph = 0; ph < BENCH_PH__COUNT; ph++) {
		pthread_barrier_wait(&run->barrier);
		if (j->rc == 0 && !atomic_load(&run->stop) && phase_enabled(run, ph))
			job_run_phase(j, ph);
		atomic_fetch_add(&run->phase_done, 1);
	}
	if (j->t && cfg->ops->describe)
		cfg->ops->describe(j->t, j->info, sizeof(j->info));
	if (j->t)
		cfg->ops->close(&j->t);
	if (j->reactor)
		rt_reactor_destroy(&j->reactor);
	return NULL;
}
