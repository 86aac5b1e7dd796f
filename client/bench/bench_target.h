/*
 * What tessera-bench measures: a target. A target turns reads and writes of a
 * linear byte range into I/O on some layer of Tessera: libstore directly
 * (--store), a plain file through io_uring as the baseline (--file), and later
 * a libtessera volume (--volume) or an OSD (--osd).
 *
 * Each job (one thread, one reactor) opens its own instance of the target on
 * its own slice of the linear address space: [base_bytes, base_bytes +
 * size_bytes). All calls on an instance come from that job's thread. A target
 * either issues its I/O on the job's reactor (the usual case: completions then
 * arrive from rt_reactor_run_once) or, if it has its own queue, provides
 * poll(), which the job calls after every reactor iteration.
 *
 * Targets are listed in one explicit table in bench_main.c.
 */
#ifndef BENCH_TARGET_H
#define BENCH_TARGET_H

#include <stdbool.h>
#include <stdint.h>

struct rt_reactor;
struct bench_cfg;
struct bench_target;
struct bench_io;

/* rc: 0 or a negative errno / RT_E* code from the target. */
typedef void (*bench_io_cb)(struct bench_io *io, int rc);

/* Private per-I/O space a target may use (embedded: no allocation per I/O). */
#define BENCH_TARGET_PRIV_BYTES 512

struct bench_io {
	uint64_t offset_bytes; /* in the linear address space, 4 KiB aligned */
	uint32_t len_bytes;    /* 4 KiB multiple, > 0 */
	bool write;
	void *buf;             /* 4 KiB aligned, len_bytes long */
	bench_io_cb cb;
	_Alignas(16) unsigned char priv[BENCH_TARGET_PRIV_BYTES];
};

struct bench_target_params {
	const struct bench_cfg *cfg; /* target-specific options live there */
	struct rt_reactor *reactor;  /* the job's reactor; runs on the calling thread */
	unsigned job, njobs;
	uint64_t base_bytes;         /* this job's slice of the linear space */
	uint64_t size_bytes;
	uint32_t max_io_bytes;
	unsigned iodepth;
	bool created;                /* prepare() created the backing store just now */
};

struct bench_target_ops {
	const char *name;            /* "store", "file" */
	/*
	 * Once per run, before any open, on the main thread: check the options and
	 * create the backing file/store if needed (sets *created). *total_bytes is
	 * --size; if 0, the target sets it to what it holds. Returns 0 or -errno
	 * after printing a clear message. Optional.
	 */
	int (*prepare)(const struct bench_cfg *cfg, uint64_t *total_bytes, bool *created);
	/* Blocking, on the job's thread. Returns 0 or -errno (and logs why). */
	int (*open)(const struct bench_target_params *p, struct bench_target **out);
	/*
	 * Start one I/O. Async contract: returns 0: io->cb runs exactly once,
	 * later, on the caller's thread; returns <0: io->cb never runs.
	 * -EAGAIN/-ENOMEM mean "too busy now, try again after a completion".
	 */
	int (*submit)(struct bench_target *t, struct bench_io *io);
	/* Optional: reap completions not delivered by the reactor. Returns >= 0 or -errno. */
	int (*poll)(struct bench_target *t);
	/*
	 * Bytes of the linear space within which one write is all-or-nothing
	 * (libstore: one object). 0: only 4 KiB blocks are atomic.
	 */
	uint64_t (*atomic_bytes)(struct bench_target *t);
	/* Optional: one line of target statistics (checksum errors, ...) for the summary. */
	void (*describe)(struct bench_target *t, char *buf, unsigned len);
	/* Wait for in-flight I/O, release everything, set *tp to NULL. */
	void (*close)(struct bench_target **tp);
};

extern const struct bench_target_ops bench_target_file_ops;
#ifdef TESSERA_BENCH_HAVE_VOLUME
extern const struct bench_target_ops bench_target_volume_ops;
#endif
#ifdef TESSERA_BENCH_HAVE_STORE
extern const struct bench_target_ops bench_target_store_ops;
#endif

#endif
