/*
 * The "volume" target: a libtessera volume (--volume NAME), on the cluster
 * given by --mon or $TESSERA_MON ($TESSERA_CONF too, as for every
 * libtessera program).
 *
 * One cluster handle and one volume handle for the whole run (libtessera
 * lets many threads share both), made in prepare() on the main thread and
 * released at exit. Each job creates its own tsr_queue on its own thread in
 * open(): the job thread submits, and its completions run on the same thread
 * inside tsr_queue_poll/tsr_queue_wait, so an I/O never crosses threads in
 * the benchmark (the lowest-latency way to use the library, the one the
 * frontends use).
 *
 * The job's reactor has nothing to do for this target. The job loop
 * alternates rt_reactor_run_once(reactor, 1 ms) and poll(); poll() blocks in
 * tsr_queue_wait until a completion arrives, and leaves a deferred no-op on
 * the reactor so that run_once returns at once instead of sleeping for its
 * timeout, which would add up to a millisecond to every I/O.
 *
 * The linear address space is the volume's byte range: linear offset x is
 * volume offset x. --size defaults to the volume size; if the volume does not
 * exist and --size is given, it is created (in the default pool, with
 * --object-size) and prefilled for read workloads as a new store is.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tessera/tessera.h>

#include "bench.h"
#include "rt_reactor.h"

struct bench_target {
	struct tsr_queue *q;
	struct rt_reactor *r;
	struct rt_msg nudge;
	bool nudge_armed;
};

/* The run-wide handles (prepare on the main thread; released at exit). */
static struct {
	struct tsr_cluster *cl;
	struct tsr_volume *vol;
	uint32_t object_size;
} g_vol;

static void
volume_release(void)
{
	if (g_vol.vol && tsr_volume_close(g_vol.vol) < 0)
		fprintf(stderr, "tessera-bench: volume: I/O still in flight at exit\n");
	g_vol.vol = NULL;
	tsr_cluster_shutdown(g_vol.cl);
	g_vol.cl = NULL;
}

static int
volume_prepare(const struct bench_cfg *cfg, uint64_t *total_bytes, bool *created)
{
	struct tsr_volume_info info;
	char num[32];
	int rc;

	*created = false;
	if (cfg->durability) {
		fprintf(stderr, "tessera-bench: --durability: the volume target always writes "
				"durably on every replica\n");
		return -EINVAL;
	}
	if (cfg->offset) {
		fprintf(stderr, "tessera-bench: --offset: not supported by the volume target\n");
		return -EINVAL;
	}
	rc = tsr_cluster_create(&g_vol.cl);
	if (rc < 0)
		return rc;
	atexit(volume_release);
	rc = tsr_conf_parse_env(g_vol.cl);
	if (rc < 0) {
		fprintf(stderr, "tessera-bench: volume: bad TESSERA_* environment: %s\n",
			tsr_strerror(rc));
		return rc;
	}
	if (cfg->mon) {
		rc = tsr_conf_set(g_vol.cl, "mon", cfg->mon);
		if (rc < 0) {
			fprintf(stderr, "tessera-bench: --mon '%s': expected HOST:PORT[,...]\n",
				cfg->mon);
			return rc;
		}
	}
	if (tsr_conf_get(g_vol.cl, "mon", num, sizeof(num)) == 0 && !num[0]) {
		fprintf(stderr, "tessera-bench: volume: no monitor address: give --mon HOST:PORT "
				"or set TESSERA_MON (. DIR/cluster.env)\n");
		return -EINVAL;
	}
	/* Every job's queue holds its iodepth plus the pieces of object-spanning I/O. */
	snprintf(num, sizeof(num), "%" PRId64, cfg->iodepth * 2 + 16);
	(void)tsr_conf_set(g_vol.cl, "queue_depth", num);
	rc = tsr_cluster_connect(g_vol.cl);
	if (rc < 0) {
		fprintf(stderr, "tessera-bench: volume: cannot connect to the cluster: %s\n",
			tsr_strerror(rc));
		return rc;
	}
	rc = tsr_volume_info_by_name(g_vol.cl, cfg->volume, &info);
	if (rc == -ENOENT && *total_bytes) {
		struct tsr_volume_opts o = { .object_size = (uint32_t)cfg->object_size };

		rc = tsr_volume_create(g_vol.cl, cfg->volume, *total_bytes, &o);
		if (rc < 0) {
			fprintf(stderr, "tessera-bench: volume '%s': cannot create it: %s\n",
				cfg->volume, tsr_strerror(rc));
			return rc;
		}
		*created = true;
		rc = tsr_volume_info_by_name(g_vol.cl, cfg->volume, &info);
	}
	if (rc < 0) {
		fprintf(stderr, "tessera-bench: volume '%s': %s%s\n", cfg->volume, tsr_strerror(rc),
			rc == -ENOENT ? " (create it: osdctl volume create NAME SIZE, or give --size)"
				      : "");
		return rc;
	}
	if (*total_bytes == 0)
		*total_bytes = info.size;
	if (*total_bytes > info.size) {
		fprintf(stderr, "tessera-bench: --size %" PRIu64 " is larger than volume '%s' (%" PRIu64
				" bytes)\n",
			*total_bytes, cfg->volume, info.size);
		return -EINVAL;
	}
	rc = tsr_volume_open(g_vol.cl, cfg->volume, &g_vol.vol);
	if (rc < 0) {
		fprintf(stderr, "tessera-bench: volume '%s': cannot open it: %s\n", cfg->volume,
			tsr_strerror(rc));
		return rc;
	}
	g_vol.object_size = info.object_size;
	return 0;
}

static int
volume_open(const struct bench_target_params *p, struct bench_target **out)
{
	struct bench_target *t;
	int rc;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->r = p->reactor;
	rc = tsr_queue_create(g_vol.cl, &t->q);
	if (rc < 0) {
		fprintf(stderr, "tessera-bench: job %u: cannot create a tsr_queue: %s\n", p->job,
			tsr_strerror(rc));
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

static void
volume_io_done(void *arg, ssize_t result)
{
	struct bench_io *io = arg;

	io->cb(io, result < 0 ? (int)result : 0);
}

static int
volume_submit(struct bench_target *t, struct bench_io *io)
{
	if (io->write)
		return tsr_queue_write(t->q, g_vol.vol, io->offset_bytes, io->len_bytes, io->buf,
				       volume_io_done, io);
	return tsr_queue_read(t->q, g_vol.vol, io->offset_bytes, io->len_bytes, io->buf,
			      volume_io_done, io);
}

static void
volume_nudged(void *ctx)
{
	struct bench_target *t = ctx;

	t->nudge_armed = false;
}

static int
volume_poll(struct bench_target *t)
{
	int n;

	n = tsr_queue_poll(t->q, 0);
	if (n == 0 && tsr_queue_inflight(t->q) > 0)
		n = tsr_queue_wait(t->q, 100000);
	if (n < 0)
		return n;
	/* Keep the job's next rt_reactor_run_once from sleeping (see the top). */
	if (!t->nudge_armed) {
		t->nudge_armed = true;
		rt_reactor_defer(t->r, &t->nudge, volume_nudged, t);
	}
	return n;
}

static uint64_t
volume_atomic_bytes(struct bench_target *t)
{
	(void)t;
	/* A write within one object is all-or-nothing (one OSD op per object). */
	return g_vol.object_size;
}

static void
volume_describe(struct bench_target *t, char *buf, unsigned len)
{
	struct tsr_queue_stats st;

	tsr_queue_get_stats(t->q, &st);
	snprintf(buf, len,
		 "volume, object size %u KiB, %" PRIu64 " resends, %" PRIu64 " timeouts, %" PRIu64
		 " errors",
		 g_vol.object_size >> 10, st.resends, st.timeouts, st.errors);
}

static void
volume_close(struct bench_target **tp)
{
	struct bench_target *t = *tp;

	if (!t)
		return;
	/* Bounded: every request ends within op_timeout; give it a little more. */
	for (int i = 0; i < 400 && tsr_queue_inflight(t->q) > 0; i++)
		(void)tsr_queue_wait(t->q, 100000);
	if (tsr_queue_destroy(t->q) < 0)
		fprintf(stderr, "tessera-bench: volume: queue still busy at close\n");
	/* The deferred nudge may still sit on the reactor: run it off before freeing t. */
	for (int i = 0; i < 100 && t->nudge_armed; i++)
		(void)rt_reactor_run_once(t->r, 0);
	free(t);
	*tp = NULL;
}

const struct bench_target_ops bench_target_volume_ops = {
	.name = "volume",
	.prepare = volume_prepare,
	.open = volume_open,
	.submit = volume_submit,
	.poll = volume_poll,
	.atomic_bytes = volume_atomic_bytes,
	.describe = volume_describe,
	.close = volume_close,
};
