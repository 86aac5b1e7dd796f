/*
 * The default I/O backend: O_DIRECT reads and writes of the store's file or
 * device through the reactor's io_uring ring. A FUA write is a write with
 * RWF_DSYNC (on NVMe the kernel turns it into a FUA write, or a write plus a
 * flush when the device has no FUA); a flush is IORING_FSYNC_DATASYNC.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_int.h"

struct st_uring_be {
	struct rt_reactor *r;
	int fd;
	bool fua_emulated;
};

/* Read a sysfs queue attribute of block device dev (or of the disk holding
 * partition dev) into buf; false if there is none. */
static bool
st_sysfs_queue_attr(dev_t dev, const char *attr, char *buf, size_t len)
{
	for (int i = 0; i < 2; i++) {
		char path[128];
		FILE *f;

		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%squeue/%s", major(dev),
			 minor(dev), i ? "../" : "", attr);
		f = fopen(path, "re");
		if (!f)
			continue;
		bool ok = fgets(buf, (int)len, f) != NULL;
		fclose(f);
		if (ok)
			return true;
	}
	return false;
}

/*
 * True if the device under fd has a volatile write cache but no FUA: the
 * kernel then turns each RWF_DSYNC write into a write plus a cache flush, so
 * k durable writes cost k flushes. Unknown (no sysfs, a network filesystem...):
 * false, FUA is used as asked.
 */
static bool
st_fua_emulated(int fd)
{
	struct stat sb;
	char fua[16], wc[32];
	dev_t dev;

	if (fstat(fd, &sb) < 0)
		return false;
	dev = S_ISBLK(sb.st_mode) ? sb.st_rdev : sb.st_dev;
	if (!st_sysfs_queue_attr(dev, "fua", fua, sizeof(fua)) ||
	    !st_sysfs_queue_attr(dev, "write_cache", wc, sizeof(wc)))
		return false;
	return fua[0] == '0' && strncmp(wc, "write back", 10) == 0;
}

bool
st__uring_fua_emulated(void *bctx)
{
	struct st_uring_be *be = bctx;

	return be->fua_emulated;
}

struct st_uring_priv {
	struct rt_io io;
};
_Static_assert(sizeof(struct st_uring_priv) <= sizeof(((struct st_bio *)0)->bpriv), "bpriv");

static void
st_uring_done(struct rt_io *io, int32_t res, uint32_t cqe_flags)
{
	struct st_bio *bio = ST_CONTAINER_OF((void *)io, struct st_bio, bpriv);

	if (res >= 0 && bio->op != ST_BIO_FLUSH && (uint32_t)res != bio->len_bytes)
		res = -EIO; /* short transfer: past the end of the file */
	bio->cb(bio, res);
}

static int
st_uring_submit(void *bctx, struct st_bio *bio)
{
	struct st_uring_be *be = bctx;
	struct st_uring_priv *p = (struct st_uring_priv *)bio->bpriv;
	struct io_uring_sqe *sqe;

	sqe = rt_reactor_get_sqe(be->r);
	if (!sqe)
		return -EBUSY;
	switch (bio->op) {
	case ST_BIO_READ:
		io_uring_prep_read(sqe, be->fd, bio->buf, bio->len_bytes, bio->offset_bytes);
		break;
	case ST_BIO_WRITE:
		io_uring_prep_write(sqe, be->fd, bio->buf, bio->len_bytes, bio->offset_bytes);
		if (bio->fua)
			sqe->rw_flags = RWF_DSYNC;
		break;
	case ST_BIO_FLUSH:
		io_uring_prep_fsync(sqe, be->fd, IORING_FSYNC_DATASYNC);
		break;
	default:
		io_uring_prep_nop(sqe);
		break;
	}
	p->io.cb = st_uring_done;
	rt_io_set(sqe, &p->io);
	return 0;
}

static void
st_uring_close(void *bctx)
{
	struct st_uring_be *be = bctx;

	if (be->fd >= 0)
		close(be->fd);
	free(be);
}

static const struct st_backend_ops st_uring_ops = {
	.name = "io_uring",
	.submit = st_uring_submit,
	.close = st_uring_close,
};

const struct st_backend_ops *
st__uring_backend_ops(void)
{
	return &st_uring_ops;
}

int
st__uring_backend_open(const char *path, bool direct, struct rt_reactor *r, int *fd_out,
		       void **bctx_out)
{
	struct st_uring_be *be;
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0));
	if (fd < 0)
		return -errno;
	be = calloc(1, sizeof(*be));
	if (!be) {
		close(fd);
		return -ENOMEM;
	}
	be->r = r;
	be->fd = fd;
	be->fua_emulated = st_fua_emulated(fd);
	*fd_out = fd;
	*bctx_out = be;
	return 0;
}
