/*
 * tessera-bench: a fio-like benchmark for every layer of Tessera.
 *
 * The options are declared once in the table below (rt_conf.h), which also
 * gives --help and the markdown reference. The target is chosen by the option
 * that names it (--store PATH, --file PATH, ...) from the explicit table
 * `targets`. The main thread prepares the target, starts one thread per job,
 * walks them through the phases (bench.h) with a barrier, prints progress
 * once a second on stderr while a phase runs, and measures wall time and
 * process CPU time (getrusage) around the measured phase only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_verify.h"
#include "rt_conf.h"
#include "rt_err.h"
#include "rt_log.h"

static const char *const rw_choices[] = { "read", "write", "randread", "randwrite", "randrw",
					  NULL };
static const char *const prefill_choices[] = { "auto", "yes", "no", NULL };

#define OPT(field) offsetof(struct bench_cfg, field)

static const struct rt_conf_opt bench_opts[] = {
	{ "store", 0, RT_CONF_STR, OPT(store), NULL, 0, 0, false,
	  "target: a libstore store on this file or device (created with --size if missing)",
	  NULL, "PATH" },
	{ "file", 0, RT_CONF_STR, OPT(file), NULL, 0, 0, false,
	  "target: a plain file or device through io_uring + O_DIRECT (the baseline)", NULL,
	  "PATH" },
	{ "volume", 0, RT_CONF_STR, OPT(volume), NULL, 0, 0, false,
	  "target: a libtessera volume (created with --size if missing) on the cluster of "
	  "--mon or $TESSERA_MON",
	  NULL, "NAME" },
	{ "mon", 'm', RT_CONF_STR, OPT(mon), NULL, 0, 0, false,
	  "volume target: monitor addresses HOST:PORT[,...] (default: $TESSERA_MON)", NULL,
	  "ADDRS" },
	{ "rw", 0, RT_CONF_ENUM, OPT(rw), "randread", 0, 0, false, "I/O pattern", rw_choices,
	  NULL },
	{ "rwmixread", 0, RT_CONF_INT, OPT(rwmixread), "50", 0, 100, false,
	  "percentage of reads for --rw randrw", NULL, "PCT" },
	{ "bs", 'b', RT_CONF_SIZE, OPT(bs), "4K", 4096, 64 << 20, false,
	  "I/O size (4 KiB multiple); with --bs-max, the smallest I/O size", NULL, NULL },
	{ "bs-max", 0, RT_CONF_SIZE, OPT(bs_max), "0", 0, 64 << 20, false,
	  "largest I/O size: each I/O gets a random size, a 4 KiB multiple in [bs, bs-max]",
	  NULL, NULL },
	{ "iodepth", 'q', RT_CONF_INT, OPT(iodepth), "1", 1, 4096, false,
	  "I/Os kept in flight per job", NULL, "N" },
	{ "jobs", 'j', RT_CONF_INT, OPT(jobs), "1", 1, 256, false,
	  "jobs: each one thread + reactor on its own slice of --size (a store partition)",
	  NULL, "N" },
	{ "runtime", 't', RT_CONF_STR, OPT(runtime), NULL, 0, 0, false,
	  "time limit of the measured phase: seconds, or with a unit (500ms, 2m); "
	  "default 10s unless --ios is given",
	  NULL, "SECONDS" },
	{ "ios", 'n', RT_CONF_INT, OPT(ios), "0", 0, INT64_MAX, false,
	  "stop each job after N I/Os (0: no limit)", NULL, "N" },
	{ "size", 's', RT_CONF_SIZE, OPT(size), "0", 0, 0, false,
	  "working set in bytes (split between jobs); creates the target at this size "
	  "if missing; default: the target's size",
	  NULL, NULL },
	{ "offset", 0, RT_CONF_SIZE, OPT(offset), "0", 0, 0, false,
	  "where the target starts in PATH (file: the first byte used; store: the first "
	  "partition), 1 MiB aligned",
	  NULL, NULL },
	{ "verify", 0, RT_CONF_BOOL, OPT(verify), "false", 0, 0, false,
	  "write self-describing blocks (offset, generation, CRC32C), check every read, "
	  "read everything back at the end",
	  NULL, NULL },
	{ "durability", 0, RT_CONF_STR, OPT(durability), NULL, 0, 0, false,
	  "write durability mode passed to the target (store: its modes; file: none|dsync)",
	  NULL, "MODE" },
	{ "format", 0, RT_CONF_BOOL, OPT(format), "false", 0, 0, false,
	  "store target: format even if PATH exists (destroys its contents)", NULL, NULL },
	{ "json", 0, RT_CONF_BOOL, OPT(json), "false", 0, 0, false,
	  "print the results as JSON on stdout", NULL, NULL },
	{ "ack-log", 0, RT_CONF_STR, OPT(ack_log), NULL, 0, 0, false,
	  "with --verify: append every acknowledged write to FILE (crash test writer)", NULL,
	  "FILE" },
	{ "check-log", 0, RT_CONF_STR, OPT(check_log), NULL, 0, 0, false,
	  "read the whole working set and check it against an --ack-log FILE: every "
	  "acknowledged write intact, nothing torn; no writes",
	  NULL, "FILE" },
	{ "atomic-size", 0, RT_CONF_SIZE, OPT(atomic_size), "0", 0, 0, false,
	  "--check-log: a write must be all-or-nothing within aligned units of this size "
	  "(default: the target's; libstore: --object-size; file: 4 KiB)",
	  NULL, NULL },
	{ "seed", 0, RT_CONF_INT, OPT(seed), "1", 0, INT64_MAX, false,
	  "random seed (offsets, sizes, data)", NULL, "N" },
	{ "object-size", 0, RT_CONF_SIZE, OPT(object_size), "4M", 4096, 1ll << 30, false,
	  "store target: the linear space is cut into objects of this size (volume target: "
	  "the object size of a volume it creates)",
	  NULL, NULL },
	{ "pool", 0, RT_CONF_INT, OPT(pool), "1", 0, UINT32_MAX, false,
	  "store target: pool id of the objects", NULL, "ID" },
	{ "prefill", 0, RT_CONF_ENUM, OPT(prefill), "auto", 0, 0, false,
	  "write the whole working set sequentially before the measured phase "
	  "(auto: when the target was just created and the workload reads)",
	  prefill_choices, NULL },
	{ "core", 0, RT_CONF_INT, OPT(core), "-1", -1, 4095, false,
	  "pin job i to CPU core+i (-1: not pinned)", NULL, "N" },
	{ "poll-us", 0, RT_CONF_INT, OPT(poll_us), "0", 0, 1000000, false,
	  "reactor poll window before sleeping in the kernel (0: sleep at once, as fio "
	  "does; an OSD reactor polls for 50)",
	  NULL, "US" },
	{ "quiet", 0, RT_CONF_BOOL, OPT(quiet), "false", 0, 0, false,
	  "no progress lines on stderr", NULL, NULL },
};

static const struct rt_conf_table bench_table = {
	.prog = "tessera-bench",
	.synopsis = "(--store PATH | --file PATH | --volume NAME) [OPTIONS]",
	.description =
		"A fio-like benchmark for every layer of Tessera. Keeps --iodepth I/Os in "
		"flight per job through the target's asynchronous API, reports IOPS, "
		"bandwidth, latency percentiles and process CPU time per I/O, and with "
		"--verify checks every byte it reads. Exit status: 0 success, 1 the target "
		"reported an I/O error, 2 bad options or setup failure, 3 data mismatch.",
	.opts = bench_opts,
	.n_opts = sizeof(bench_opts) / sizeof(bench_opts[0]),
};

struct bench_target_choice {
	const struct bench_target_ops *ops;
	size_t path_offset;
};

/* Every target, in one explicit table (no constructor registration). */
static const struct bench_target_choice targets[] = {
#ifdef TESSERA_BENCH_HAVE_STORE
	{ &bench_target_store_ops, OPT(store) },
#endif
	{ &bench_target_file_ops, OPT(file) },
#ifdef TESSERA_BENCH_HAVE_VOLUME
	{ &bench_target_volume_ops, OPT(volume) },
#endif
};

static atomic_bool *g_stop;

static void
on_signal(int sig)
{
	(void)sig;
	if (g_stop)
		atomic_store(g_stop, true);
}

static uint64_t
cpu_time_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
	       (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
}

static int
bench_check_cfg(struct bench_cfg *cfg)
{
	unsigned ntargets = 0;
	uint64_t us;

	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		const char *path = *(const char **)((const char *)cfg + targets[i].path_offset);

		if (path) {
			ntargets++;
			cfg->ops = targets[i].ops;
			cfg->path = path;
		}
	}
#ifndef TESSERA_BENCH_HAVE_STORE
	if (cfg->store) {
		fprintf(stderr, "tessera-bench: --store: this build has no libstore\n");
		return -EINVAL;
	}
#endif
	if (ntargets != 1) {
		fprintf(stderr, "tessera-bench: give exactly one target (--store PATH, --file "
				"PATH or --volume NAME); see --help\n");
		return -EINVAL;
	}
	if (cfg->bs % BENCH_BLOCK || cfg->bs_max % BENCH_BLOCK) {
		fprintf(stderr, "tessera-bench: --bs and --bs-max must be multiples of 4096\n");
		return -EINVAL;
	}
	if (cfg->bs_max && cfg->bs_max < cfg->bs) {
		fprintf(stderr, "tessera-bench: --bs-max must be >= --bs\n");
		return -EINVAL;
	}
	if (cfg->offset % (1u << 20)) {
		fprintf(stderr, "tessera-bench: --offset must be a multiple of 1 MiB\n");
		return -EINVAL;
	}
	if (cfg->atomic_size % BENCH_BLOCK) {
		fprintf(stderr, "tessera-bench: --atomic-size must be a multiple of 4096\n");
		return -EINVAL;
	}
	if (cfg->size % BENCH_BLOCK) {
		fprintf(stderr, "tessera-bench: --size must be a multiple of 4096\n");
		return -EINVAL;
	}
	if (cfg->runtime) {
		char *end;
		double secs = strtod(cfg->runtime, &end);

		if (end != cfg->runtime && *end == '\0' && secs >= 0) {
			us = (uint64_t)(secs * 1e6);
		} else if (rt_parse_duration_us(cfg->runtime, &us) < 0) {
			fprintf(stderr, "tessera-bench: --runtime: '%s' is not a duration (10, 10s, "
					"500ms)\n", cfg->runtime);
			return -EINVAL;
		}
		if (us > 7 * 24 * 3600ull * 1000000ull) {
			fprintf(stderr, "tessera-bench: --runtime: at most a week\n");
			return -EINVAL;
		}
		cfg->runtime_us = us;
	} else {
		cfg->runtime_us = cfg->ios ? 0 : 10000000ull;
	}
	if (cfg->runtime_us == 0 && cfg->ios == 0 && !cfg->check_log) {
		fprintf(stderr, "tessera-bench: --runtime 0 needs --ios N\n");
		return -EINVAL;
	}
	if (cfg->ack_log && !cfg->verify) {
		fprintf(stderr, "tessera-bench: --ack-log needs --verify\n");
		return -EINVAL;
	}
	if (cfg->ack_log && cfg->check_log) {
		fprintf(stderr, "tessera-bench: --ack-log and --check-log are separate runs\n");
		return -EINVAL;
	}
	return 0;
}

static void
stats_sum(const struct bench_run *run, enum bench_phase ph, struct bench_stats *out)
{
	bench_hist_init(&out->lat_r);
	bench_hist_init(&out->lat_w);
	out->ios_r = out->ios_w = out->bytes_r = out->bytes_w = out->verified_blocks = 0;
	for (unsigned i = 0; i < run->njobs; i++) {
		const struct bench_stats *s = &run->jobs[i].st[ph];

		bench_hist_merge(&out->lat_r, &s->lat_r);
		bench_hist_merge(&out->lat_w, &s->lat_w);
		out->ios_r += s->ios_r;
		out->ios_w += s->ios_w;
		out->bytes_r += s->bytes_r;
		out->bytes_w += s->bytes_w;
		out->verified_blocks += s->verified_blocks;
	}
}

static void
fmt_rate(double bytes_per_s, char *buf, size_t len)
{
	if (bytes_per_s >= 1e9)
		snprintf(buf, len, "%.2f GB/s", bytes_per_s / 1e9);
	else
		snprintf(buf, len, "%.1f MB/s", bytes_per_s / 1e6);
}

static const char *const phase_names[] = { "prefill", "run", "read-back", "check" };

/* Wait for every job to finish the current phase, printing progress once a second. */
static void
wait_phase(struct bench_run *run, enum bench_phase ph, unsigned target_done)
{
	const struct bench_cfg *cfg = run->cfg;
	uint64_t start = bench_now_ns(), last = start, last_ios = 0, last_bytes = 0;
	struct timespec tick = { 0, 50 * 1000 * 1000 };

	while (atomic_load(&run->phase_done) < target_done) {
		uint64_t now, ios = 0, bytes = 0;

		nanosleep(&tick, NULL);
		now = bench_now_ns();
		if (now - last < 1000000000ull)
			continue;
		for (unsigned i = 0; i < run->njobs; i++) {
			ios += atomic_load_explicit(&run->jobs[i].prog_ios, memory_order_relaxed);
			bytes += atomic_load_explicit(&run->jobs[i].prog_bytes,
						      memory_order_relaxed);
		}
		if (!cfg->quiet && now - start >= 1900000000ull &&
		    atomic_load(&run->phase_done) < target_done) {
			double dt = (double)(now - last) / 1e9;
			char rate[32];

			fmt_rate((double)(bytes - last_bytes) / dt, rate, sizeof(rate));
			if (ph == BENCH_PH_MAIN && cfg->runtime_us)
				fprintf(stderr, "tessera-bench: %s %4.0fs/%.0fs: %.0f IOPS, %s, %" PRIu64
						" I/Os\n", phase_names[ph], (double)(now - start) / 1e9,
					(double)cfg->runtime_us / 1e6,
					(double)(ios - last_ios) / dt, rate, ios);
			else
				fprintf(stderr, "tessera-bench: %s %4.0fs: %.0f IOPS, %s, %" PRIu64
						" I/Os, %.1f%% of %.0f MiB\n", phase_names[ph],
					(double)(now - start) / 1e9, (double)(ios - last_ios) / dt,
					rate, ios,
					run->total_bytes ? 100.0 * (double)bytes /
								   (double)run->total_bytes : 0.0,
					(double)run->total_bytes / 1048576.0);
		}
		last = now;
		last_ios = ios;
		last_bytes = bytes;
	}
}

static void
json_lat(FILE *f, const char *key, const struct bench_hist *h)
{
	fprintf(f, "\"%s\": {\"mean\": %.2f, \"min\": %.2f, \"p50\": %.2f, \"p90\": %.2f, "
		   "\"p99\": %.2f, \"p999\": %.2f, \"max\": %.2f}",
		key, bench_hist_mean(h) / 1e3, h->count ? (double)h->min / 1e3 : 0.0,
		(double)bench_hist_quantile(h, 0.5) / 1e3, (double)bench_hist_quantile(h, 0.9) / 1e3,
		(double)bench_hist_quantile(h, 0.99) / 1e3,
		(double)bench_hist_quantile(h, 0.999) / 1e3, (double)h->max / 1e3);
}

static void
json_dir(FILE *f, const char *key, uint64_t ios, uint64_t bytes, const struct bench_hist *h,
	 double secs)
{
	fprintf(f, "  \"%s\": {\"ios\": %" PRIu64 ", \"bytes\": %" PRIu64
		   ", \"iops\": %.1f, \"bw_mbps\": %.2f, ",
		key, ios, bytes, secs > 0 ? (double)ios / secs : 0.0,
		secs > 0 ? (double)bytes / secs / 1e6 : 0.0);
	json_lat(f, "lat_us", h);
	fprintf(f, "},\n");
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void
report(const struct bench_run *run, int exit_code, const char *target_info)
{
	const struct bench_cfg *cfg = run->cfg;
	struct bench_stats s, rb;
	struct bench_hist all;
	double secs = (double)(run->t1_ns - run->t0_ns) / 1e9;
	uint64_t ios, bytes, cpu = run->cpu1_us - run->cpu0_us;
	double cpu_per_io;

	stats_sum(run, BENCH_PH_MAIN, &s);
	stats_sum(run, BENCH_PH_READBACK, &rb);
	bench_hist_init(&all);
	bench_hist_merge(&all, &s.lat_r);
	bench_hist_merge(&all, &s.lat_w);
	ios = s.ios_r + s.ios_w;
	bytes = s.bytes_r + s.bytes_w;
	cpu_per_io = ios ? (double)cpu / (double)ios : 0.0;
	if (secs <= 0)
		secs = 0;

	if (cfg->json) {
		FILE *f = stdout;

		fprintf(f, "{\n  \"target\": \"%s\",\n  \"path\": ", cfg->ops->name);
		json_str(f, cfg->path);
		fprintf(f, ",\n  \"rw\": \"%s\",\n  \"bs\": %" PRIu64 ",\n  \"bs_max\": %" PRIu64
			   ",\n  \"iodepth\": %" PRId64 ",\n  \"jobs\": %u,\n  \"size\": %" PRIu64
			   ",\n  \"durability\": ",
			rw_choices[cfg->rw], cfg->bs, cfg->bs_max, cfg->iodepth, run->njobs,
			run->total_bytes);
		json_str(f, cfg->durability ? cfg->durability : "default");
		fprintf(f, ",\n  \"verify\": %s,\n  \"runtime_s\": %.3f,\n  \"ios\": %" PRIu64
			   ",\n  \"bytes\": %" PRIu64 ",\n  \"iops\": %.1f,\n  \"bw_mbps\": %.2f,\n  ",
			cfg->verify ? "true" : "false", secs, ios, bytes,
			secs > 0 ? (double)ios / secs : 0.0,
			secs > 0 ? (double)bytes / secs / 1e6 : 0.0);
		json_lat(f, "lat_us", &all);
		fprintf(f, ",\n  \"cpu_us\": %" PRIu64 ",\n  \"cpu_us_per_io\": %.2f,\n", cpu,
			cpu_per_io);
		json_dir(f, "read", s.ios_r, s.bytes_r, &s.lat_r, secs);
		json_dir(f, "write", s.ios_w, s.bytes_w, &s.lat_w, secs);
		fprintf(f, "  \"verified_blocks\": %" PRIu64 ",\n  \"target_info\": ",
			s.verified_blocks + rb.verified_blocks);
		json_str(f, target_info);
		fprintf(f, ",\n  \"exit_code\": %d\n}\n", exit_code);
		fflush(f);
		return;
	}

	{
		char bs[48];

		if (cfg->bs_max > cfg->bs)
			snprintf(bs, sizeof(bs), "%" PRIu64 "-%" PRIu64, cfg->bs, cfg->bs_max);
		else
			snprintf(bs, sizeof(bs), "%" PRIu64, cfg->bs);
		printf("tessera-bench: %s %s rw=%s bs=%s iodepth=%" PRId64
		       " jobs=%u size=%.0fMiB durability=%s%s\n",
		       cfg->ops->name, cfg->path, rw_choices[cfg->rw], bs, cfg->iodepth, run->njobs,
		       (double)run->total_bytes / 1048576.0,
		       cfg->durability ? cfg->durability : "default", cfg->verify ? " verify" : "");
	}
	for (int d = 0; d < 2; d++) {
		const struct bench_hist *h = d ? &s.lat_w : &s.lat_r;
		uint64_t n = d ? s.ios_w : s.ios_r, b = d ? s.bytes_w : s.bytes_r;
		char rate[32];

		if (!n)
			continue;
		fmt_rate(secs > 0 ? (double)b / secs : 0, rate, sizeof(rate));
		printf("  %-5s: %" PRIu64 " I/Os in %.2fs, %.0f IOPS, %s\n", d ? "write" : "read",
		       n, secs, secs > 0 ? (double)n / secs : 0, rate);
		printf("         lat (us): mean %.1f  min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  "
		       "p99.9 %.1f  max %.1f\n",
		       bench_hist_mean(h) / 1e3, (double)h->min / 1e3,
		       (double)bench_hist_quantile(h, 0.5) / 1e3,
		       (double)bench_hist_quantile(h, 0.9) / 1e3,
		       (double)bench_hist_quantile(h, 0.99) / 1e3,
		       (double)bench_hist_quantile(h, 0.999) / 1e3, (double)h->max / 1e3);
	}
	printf("  cpu  : %.2f s user+sys, %.1f us per I/O\n", (double)cpu / 1e6, cpu_per_io);
	if (cfg->verify)
		printf("  verify: %" PRIu64 " blocks checked during the run, %" PRIu64
		       " in the read-back pass\n", s.verified_blocks, rb.verified_blocks);
	if (target_info && *target_info)
		printf("  target (job 0): %s\n", target_info);
	fflush(stdout);
}

static int
bench_run_check(struct bench_run *run)
{
	uint64_t nrec = 0, unacked = 0, errs = 0;
	struct bench_stats s;
	int rc;

	(void)s;
	for (unsigned i = 0; i < run->njobs; i++) {
		unacked += run->jobs[i].check_unacked;
		errs += run->jobs[i].check_errors;
	}
	rc = bench_ack_log_scan(run->cfg->check_log, &(uint64_t){ 0 }, &nrec);
	stats_sum(run, BENCH_PH_CHECK, &s);
	if (!run->cfg->quiet || errs)
		fprintf(stderr, "tessera-bench: check: %" PRIu64 " blocks read, %" PRIu64
				" acknowledged writes in the log, %" PRIu64
				" blocks hold newer unacknowledged writes (complete), %" PRIu64
				" errors\n", s.verified_blocks, nrec, unacked, errs);
	return rc;
}

int
main(int argc, char **argv)
{
	struct bench_cfg cfg;
	struct bench_run run;
	struct sigaction sa;
	int rc, first_arg, exit_code = BENCH_EXIT_OK;
	unsigned started = 0;

	memset(&cfg, 0, sizeof(cfg));
	rc = rt_conf_parse(&bench_table, &cfg, argc, argv, &first_arg);
	if (rc == 1)
		return 0;
	if (rc < 0)
		return BENCH_EXIT_USAGE;
	if (first_arg < argc) {
		fprintf(stderr, "tessera-bench: unexpected argument '%s'; see --help\n",
			argv[first_arg]);
		return BENCH_EXIT_USAGE;
	}
	if (bench_check_cfg(&cfg) < 0)
		return BENCH_EXIT_USAGE;

	memset(&run, 0, sizeof(run));
	run.cfg = &cfg;
	run.ack_fd = -1;
	run.njobs = (unsigned)cfg.jobs;
	if (cfg.ops->prepare) {
		rc = cfg.ops->prepare(&cfg, &cfg.size, &run.created);
		if (rc < 0)
			return BENCH_EXIT_USAGE;
	}
	if (cfg.size == 0) {
		fprintf(stderr, "tessera-bench: give --size (the working set)\n");
		return BENCH_EXIT_USAGE;
	}
	run.total_bytes = cfg.size;
	run.per_job_bytes = bench_per_job_bytes(&cfg, cfg.size);
	run.total_bytes = run.per_job_bytes * run.njobs;
	if (run.per_job_bytes < (cfg.bs > cfg.bs_max ? cfg.bs : cfg.bs_max)) {
		fprintf(stderr, "tessera-bench: --size %" PRIu64 " is too small for %u jobs of "
				"--bs %" PRIu64 "\n", cfg.size, run.njobs, cfg.bs);
		return BENCH_EXIT_USAGE;
	}
	run.do_prefill = cfg.prefill == BENCH_PREFILL_YES ||
			 (cfg.prefill == BENCH_PREFILL_AUTO && run.created &&
			  cfg.rw != BENCH_RW_WRITE && cfg.rw != BENCH_RW_RANDWRITE);
	run.gen_base = (uint64_t)time(NULL) << 20;
	if (cfg.ack_log) {
		uint64_t max_gen = 0, nrec = 0;

		rc = bench_ack_log_scan(cfg.ack_log, &max_gen, &nrec);
		if (rc < 0 && rc != -ENOENT) {
			fprintf(stderr, "tessera-bench: --ack-log %s: " DF_RC "\n", cfg.ack_log,
				DP_RC(rc));
			return BENCH_EXIT_USAGE;
		}
		/* A fresh generation space per run, above everything logged so far. */
		run.gen_base = ((max_gen >> 32) + 1) << 32;
		run.ack_fd = open(cfg.ack_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (run.ack_fd < 0) {
			fprintf(stderr, "tessera-bench: --ack-log %s: %s\n", cfg.ack_log,
				strerror(errno));
			return BENCH_EXIT_USAGE;
		}
	}
	if (cfg.check_log) {
		uint64_t nrec;

		run.acked = malloc(run.total_bytes / BENCH_BLOCK * sizeof(*run.acked));
		if (!run.acked) {
			fprintf(stderr, "tessera-bench: out of memory\n");
			return BENCH_EXIT_USAGE;
		}
		rc = bench_ack_log_load(cfg.check_log, run.total_bytes, run.acked, &nrec);
		if (rc < 0) {
			fprintf(stderr, "tessera-bench: --check-log %s: " DF_RC "\n", cfg.check_log,
				DP_RC(rc));
			free(run.acked);
			return BENCH_EXIT_USAGE;
		}
	}

	run.jobs = calloc(run.njobs, sizeof(*run.jobs));
	if (!run.jobs)
		return BENCH_EXIT_USAGE;
	for (unsigned i = 0; i < run.njobs; i++) {
		rc = bench_job_setup(&run.jobs[i], &run, i);
		if (rc < 0) {
			fprintf(stderr, "tessera-bench: job %u: " DF_RC "\n", i, DP_RC(rc));
			exit_code = BENCH_EXIT_USAGE;
			goto out_jobs;
		}
	}
	/* Jobs plus the main thread meet at the start of each phase. */
	pthread_barrier_init(&run.barrier, NULL, run.njobs + 1);

	g_stop = &run.stop;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (unsigned i = 0; i < run.njobs; i++) {
		rc = pthread_create(&run.jobs[i].thread, NULL, bench_job_thread, &run.jobs[i]);
		if (rc) {
			/* Cannot go on with fewer parties at the barrier: give up loudly. */
			fprintf(stderr, "tessera-bench: cannot start job %u: %s\n", i, strerror(rc));
			abort();
		}
		started++;
	}
	for (int ph = 0; ph < BENCH_PH__COUNT; ph++) {
		pthread_barrier_wait(&run.barrier);
		if (ph == BENCH_PH_MAIN) {
			run.cpu0_us = cpu_time_us();
			run.t0_ns = bench_now_ns();
		}
		wait_phase(&run, ph, (unsigned)(ph + 1) * run.njobs);
		if (ph == BENCH_PH_MAIN) {
			run.t1_ns = bench_now_ns();
			run.cpu1_us = cpu_time_us();
		}
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(run.jobs[i].thread, NULL);
	g_stop = NULL;
	pthread_barrier_destroy(&run.barrier);

	for (unsigned i = 0; i < run.njobs; i++) {
		struct bench_job *j = &run.jobs[i];

		if (j->rc && exit_code == BENCH_EXIT_OK)
			exit_code = j->exit_code;
		if (j->rc)
			fprintf(stderr, "tessera-bench: job %u: %s\n", i, j->errmsg);
	}
	if (cfg.check_log) {
		rc = bench_run_check(&run);
		if (rc < 0 && exit_code == BENCH_EXIT_OK)
			exit_code = BENCH_EXIT_USAGE;
		if (exit_code == BENCH_EXIT_OK && !cfg.quiet)
			fprintf(stderr, "tessera-bench: check: OK\n");
	} else {
		report(&run, exit_code, run.jobs[0].info);
	}
out_jobs:
	for (unsigned i = 0; i < run.njobs; i++)
		bench_job_teardown(&run.jobs[i]);
	free(run.jobs);
	free(run.acked);
	if (run.ack_fd >= 0)
		close(run.ack_fd);
	return exit_code;
}
