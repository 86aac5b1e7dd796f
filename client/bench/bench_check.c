/*
 * The acknowledged-write log of the crash test (--ack-log) and its reader
 * (--check-log). The writer appends one 32-byte record after each write's
 * completion callback; a SIGKILL can cut the file only between records or,
 * at worst, inside the last one, which the reader ignores. The reader
 * rebuilds, per 4 KiB block, the newest acknowledged generation: writes to
 * one block never overlap in flight, so the newest is the largest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "bench_verify.h"

typedef int (*ack_fn)(const struct bench_ack_rec *rec, void *ctx);

static int
ack_log_walk(const char *path, ack_fn fn, void *ctx, uint64_t *nrec)
{
	struct bench_ack_rec recs[256];
	int fd, rc = 0;
	ssize_t n;

	*nrec = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, recs, sizeof(recs));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		if (n % sizeof(recs[0])) {
			/* A partial record can only be the last one (cut by SIGKILL). */
			off_t here = lseek(fd, 0, SEEK_CUR);
			off_t end = lseek(fd, 0, SEEK_END);

			if (here != end) {
				rc = -EBADMSG;
				break;
			}
			n -= n % sizeof(recs[0]);
		}
		for (size_t i = 0; i < (size_t)n / sizeof(recs[0]); i++) {
			if (recs[i].magic != BENCH_ACK_MAGIC) {
				rc = -EBADMSG;
				goto out;
			}
			rc = fn(&recs[i], ctx);
			if (rc < 0)
				goto out;
			(*nrec)++;
		}
	}
out:
	close(fd);
	return rc;
}

static int
scan_one(const struct bench_ack_rec *rec, void *ctx)
{
	uint64_t *max_gen = ctx;

	if (rec->gen > *max_gen)
		*max_gen = rec->gen;
	return 0;
}

int
bench_ack_log_scan(const char *path, uint64_t *max_gen, uint64_t *nrec)
{
	*max_gen = 0;
	return ack_log_walk(path, scan_one, max_gen, nrec);
}

struct load_ctx {
	uint64_t total_bytes;
	uint64_t *acked;
};

static int
load_one(const struct bench_ack_rec *rec, void *ctx)
{
	struct load_ctx *lc = ctx;

	if (rec->off % BENCH_BLOCK || rec->len % BENCH_BLOCK || rec->len == 0 ||
	    rec->off + rec->len > lc->total_bytes || rec->off + rec->len < rec->off)
		return -ERANGE;
	for (uint64_t b = rec->off / BENCH_BLOCK; b < (rec->off + rec->len) / BENCH_BLOCK; b++)
		if (rec->gen > lc->acked[b])
			lc->acked[b] = rec->gen;
	return 0;
}

int
bench_ack_log_load(const char *path, uint64_t total_bytes, uint64_t *acked, uint64_t *nrec)
{
	struct load_ctx lc = { .total_bytes = total_bytes, .acked = acked };

	memset(acked, 0, total_bytes / BENCH_BLOCK * sizeof(*acked));
	return ack_log_walk(path, load_one, &lc, nrec);
}
