/*
 * tessera-bench internals: the configuration (filled from the option table in
 * bench_main.c), the jobs and the run that ties them together.
 *
 * A run has three phases, each started on every job at once (a barrier) and
 * watched by the main thread, which prints progress once a second:
 *   prefill  - optional sequential write of each job's range (not measured),
 *   main     - the measured workload,
 *   readback - with --verify, a sequential read of the whole range checking
 *              every block against what this run knows it wrote.
 * A job is one thread with its own reactor and its own target instance on
 * its own slice of the linear address space. Nothing on the I/O path
 * allocates: I/O slots, buffers and the per-block verify state are set up at
 * open time.
 */
#ifndef BENCH_H
#define BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench_hist.h"
#include "bench_target.h"

enum bench_rw {
	BENCH_RW_READ,
	BENCH_RW_WRITE,
	BENCH_RW_RANDREAD,
	BENCH_RW_RANDWRITE,
	BENCH_RW_RANDRW,
};

struct bench_cfg {
	/* options (see the table in bench_main.c) */
	const char *store;
	const char *file;
	const char *volume;       /* --volume NAME (libtessera) */
	const char *mon;          /* --mon ADDRS for the volume target */
	int rw;
	int64_t rwmixread;
	uint64_t bs;
	uint64_t bs_max;
	int64_t iodepth;
	int64_t jobs;
	const char *runtime;
	int64_t ios;
	uint64_t size;
	uint64_t offset;
	bool verify;
	bool format;
	const char *durability;
	bool json;
	const char *ack_log;
	const char *check_log;
	uint64_t atomic_size;
	int64_t seed;
	uint64_t object_size;
	int64_t pool;
	int prefill;              /* enum bench_prefill */
	bool quiet;
	int64_t core;
	int64_t poll_us;
	/* derived */
	uint64_t runtime_us;      /* 0: no time limit (then ios bounds the run) */
	const struct bench_target_ops *ops;
	const char *path;
};

enum bench_prefill {
	BENCH_PREFILL_AUTO, /* when the target was just created and the workload reads */
	BENCH_PREFILL_YES,
	BENCH_PREFILL_NO,
};

enum bench_phase {
	BENCH_PH_PREFILL,
	BENCH_PH_MAIN,
	BENCH_PH_READBACK,
	BENCH_PH_CHECK,           /* --check-log: read everything, check the ack log */
	BENCH_PH__COUNT,
};

/* Exit codes. */
#define BENCH_EXIT_OK 0
#define BENCH_EXIT_IOERR 1   /* the target reported an error */
#define BENCH_EXIT_USAGE 2   /* bad options or setup failure */
#define BENCH_EXIT_VERIFY 3  /* data read back differs from what was written */

/* Per-block verify state: the generation this run knows is there. */
#define BENCH_GEN_UNKNOWN UINT64_MAX /* contents from before this run */

struct bench_slot;
struct bench_run;

struct bench_stats {
	struct bench_hist lat_r; /* ns */
	struct bench_hist lat_w;
	uint64_t ios_r, ios_w;
	uint64_t bytes_r, bytes_w;
	uint64_t verified_blocks;
};

struct bench_job {
	struct bench_run *run;
	unsigned id;
	pthread_t thread;
	bool thread_started;
	struct rt_reactor *reactor;
	struct bench_target *t;
	uint64_t base, size;         /* linear range [base, base + size) */
	uint64_t rng;                /* splitmix64 state */
	uint64_t seq_next;           /* next sequential offset, relative to base */
	uint64_t gen_next;           /* generations: gen_base + n * njobs + id + 1 */

	struct bench_slot *slots;
	unsigned nslots;
	unsigned inflight;
	unsigned parked;             /* slots waiting for a busy range to free up */
	void *bufs;
	uint64_t bufs_len;

	/* verify state, one entry per 4 KiB block of the range */
	uint64_t *gen;
	uint8_t *busy;
	uint64_t nblocks;
	/* --check-log: what each block holds (generation and extent of its write) */
	uint64_t *obs_gen;
	uint64_t *obs_woff;
	uint32_t *obs_wlen;
	uint64_t check_unacked;      /* blocks holding a complete, newer unacked write */
	uint64_t check_errors;
	uint64_t atomic_bytes;       /* from the target */
	char info[256];              /* the target's describe() line, taken before close */

	/* the current phase */
	enum bench_phase phase;
	uint64_t issued, limit_ios;  /* limit_ios 0: unlimited */
	uint64_t deadline_ns;        /* 0: none */
	uint64_t phase_cursor;       /* prefill/readback position */
	bool stop_issuing;
	bool running;                /* inside rt_reactor_run */

	struct bench_stats st[BENCH_PH__COUNT];
	_Atomic uint64_t prog_ios;   /* for the progress line, relaxed */
	_Atomic uint64_t prog_bytes;

	int rc;                      /* first error, 0 if none */
	int exit_code;
	char errmsg[512];
};

struct bench_run {
	const struct bench_cfg *cfg;
	unsigned njobs;
	struct bench_job *jobs;
	pthread_barrier_t barrier;
	_Atomic unsigned phase_done; /* jobs that finished the current phase */
	atomic_bool stop;            /* SIGINT/SIGTERM or a fatal error in any job */
	bool created;
	bool do_prefill;
	uint64_t total_bytes, per_job_bytes;
	uint64_t gen_base;
	int ack_fd;                  /* --ack-log, O_APPEND; -1 if none */
	/* --check-log: per-block expected (acknowledged) generations, shared read-only */
	uint64_t *acked;
	/* measured by the main thread around the main phase */
	uint64_t t0_ns, t1_ns;
	uint64_t cpu0_us, cpu1_us;
};

/* An acknowledged write, as --ack-log records it (fixed 32 bytes, host endian). */
struct bench_ack_rec {
	uint64_t magic;
	uint64_t gen;
	uint64_t off;
	uint32_t len;
	uint32_t job;
};
#define BENCH_ACK_MAGIC 0x4b434148434e4542ull /* "BENCHACK" */
_Static_assert(sizeof(struct bench_ack_rec) == 32, "ack record layout");

uint64_t bench_now_ns(void);

/* The working set of each job: total split evenly, 4 KiB (store: object) aligned. */
uint64_t bench_per_job_bytes(const struct bench_cfg *cfg, uint64_t total_bytes);

/* bench_job.c */
int bench_job_setup(struct bench_job *j, struct bench_run *run, unsigned id);
void *bench_job_thread(void *arg);
void bench_job_teardown(struct bench_job *j);

/* bench_check.c: --ack-log loading and the --check-log analysis. */
int bench_ack_log_scan(const char *path, uint64_t *max_gen, uint64_t *nrec);
int bench_ack_log_load(const char *path, uint64_t total_bytes, uint64_t *acked, uint64_t *nrec);

#endif
