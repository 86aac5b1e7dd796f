/*
 * The "file" target: a plain file or block device through io_uring with
 * O_DIRECT, on the job's reactor. It is the baseline that every other target
 * is compared with (it should match fio --ioengine=io_uring --direct=1).
 * --durability dsync sets RWF_DSYNC on writes (fio --sync=dsync);
 * --durability fdatasync follows every write with an fdatasync before it
 * completes (fio --fdatasync=1).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "rt_reactor.h"

struct bench_target {
	struct rt_reactor *r;
	uint64_t offset;      /* --offset: added to every I/O */
	int fd;
	int rw_flags;
	bool fdatasync;
	unsigned inflight;
};

struct file_io {
	struct rt_io rtio;
	struct bench_target *t;
	struct bench_io *io;
	bool syncing;         /* the write is done, its fdatasync is in flight */
};
_Static_assert(sizeof(struct file_io) <= BENCH_TARGET_PRIV_BYTES, "file_io fits");

static int
file_durability(const char *d, int *rw_flags, bool *fdatasync)
{
	*rw_flags = 0;
	*fdatasync = false;
	if (!d || !strcmp(d, "none") || !strcmp(d, "default"))
		return 0;
	if (!strcmp(d, "dsync")) {
		*rw_flags = RWF_DSYNC;
		return 0;
	}
	if (!strcmp(d, "fdatasync")) {
		*fdatasync = true;
		return 0;
	}
	return -EINVAL;
}

static int
file_prepare(const struct bench_cfg *cfg, uint64_t *total_bytes, bool *created)
{
	struct stat sb;
	int fd, rc, flags;
	bool fds;

	if (file_durability(cfg->durability, &flags, &fds) < 0) {
		fprintf(stderr, "tessera-bench: --durability: '%s': the file target knows "
				"none|dsync|fdatasync\n", cfg->durability);
		return -EINVAL;
	}
	*created = false;
	if (stat(cfg->file, &sb) == 0) {
		if (S_ISREG(sb.st_mode) && *total_bytes == 0 && (uint64_t)sb.st_size > cfg->offset)
			*total_bytes = ((uint64_t)sb.st_size - cfg->offset) / 4096 * 4096;
		if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size < cfg->offset + *total_bytes) {
			fprintf(stderr, "tessera-bench: %s: %llu bytes, smaller than --offset + "
					"--size %llu\n", cfg->file, (unsigned long long)sb.st_size,
				(unsigned long long)(cfg->offset + *total_bytes));
			return -EINVAL;
		}
		return 0;
	}
	if (*total_bytes == 0) {
		fprintf(stderr, "tessera-bench: %s does not exist: give --size to create it\n",
			cfg->file);
		return -EINVAL;
	}
	if (errno != ENOENT) {
		rc = -errno;
		fprintf(stderr, "tessera-bench: %s: %s\n", cfg->file, strerror(errno));
		return rc;
	}
	fd = open(cfg->file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "tessera-bench: cannot create %s: %s\n", cfg->file, strerror(errno));
		return rc;
	}
	rc = posix_fallocate(fd, 0, (off_t)(cfg->offset + *total_bytes));
	if (rc == 0 && fsync(fd) < 0)
		rc = errno;
	close(fd);
	if (rc) {
		fprintf(stderr, "tessera-bench: cannot size %s: %s\n", cfg->file, strerror(rc));
		unlink(cfg->file);
		return -rc;
	}
	*created = true;
	return 0;
}

static int
file_open(const struct bench_target_params *p, struct bench_target **out)
{
	struct bench_target *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	t->r = p->reactor;
	t->offset = p->cfg->offset;
	rc = file_durability(p->cfg->durability, &t->rw_flags, &t->fdatasync);
	if (rc < 0)
		goto out_free;
	t->fd = open(p->cfg->file, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (t->fd < 0) {
		rc = -errno;
		goto out_free;
	}
	*out = t;
	return 0;
out_free:
	free(t);
	return rc;
}

static void
file_io_done(struct rt_io *rtio, int32_t res, uint32_t cqe_flags)
{
	struct file_io *fio = (struct file_io *)rtio;
	struct bench_io *io = fio->io;

	if (fio->syncing) {
		fio->syncing = false;
		fio->t->inflight--;
		io->cb(io, res < 0 ? res : 0);
		return;
	}
	if (res >= 0 && (uint32_t)res != io->len_bytes)
		res = -EIO; /* short transfer: past the end of the device */
	if (res >= 0 && io->write && fio->t->fdatasync) {
		struct io_uring_sqe *sqe = rt_reactor_get_sqe(fio->t->r);

		io_uring_prep_fsync(sqe, fio->t->fd, IORING_FSYNC_DATASYNC);
		rt_io_set(sqe, &fio->rtio);
		fio->syncing = true;
		return;
	}
	fio->t->inflight--;
	io->cb(io, res < 0 ? res : 0);
}

/* Async contract: returns 0: io->cb runs exactly once, later, on this thread; <0: never. */
static int
file_submit(struct bench_target *t, struct bench_io *io)
{
	struct file_io *fio = (struct file_io *)io->priv;
	struct io_uring_sqe *sqe = rt_reactor_get_sqe(t->r);

	fio->rtio.cb = file_io_done;
	fio->syncing = false;
	fio->t = t;
	fio->io = io;
	if (io->write) {
		io_uring_prep_write(sqe, t->fd, io->buf, io->len_bytes, t->offset + io->offset_bytes);
		sqe->rw_flags = t->rw_flags;
	} else {
		io_uring_prep_read(sqe, t->fd, io->buf, io->len_bytes, t->offset + io->offset_bytes);
	}
	rt_io_set(sqe, &fio->rtio);
	t->inflight++;
	return 0;
}

static uint64_t
file_atomic_bytes(struct bench_target *t)
{
	return 0;
}

static void
file_close(struct bench_target **tp)
{
	struct bench_target *t = *tp;

	/* Reap what is still in flight (after an error elsewhere) before closing. */
	for (int i = 0; i < 100000 && t->inflight > 0; i++)
		rt_reactor_run_once(t->r, 10000);
	close(t->fd);
	free(t);
	*tp = NULL;
}

const struct bench_target_ops bench_target_file_ops = {
	.name = "file",
	.prepare = file_prepare,
	.open = file_open,
	.submit = file_submit,
	.atomic_bytes = file_atomic_bytes,
	.close = file_close,
};
