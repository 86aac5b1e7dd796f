/*
 * The default I/O backend: O_DIRECT reads and writes of the store's file or
 * device through the reactor's io_uring ring. A FUA write is a write with
 * RWF_DSYNC (on NVMe the kernel turns it into a FUA write, or a write plus a
 * flush when the device has no FUA); a flush is IORING_FSYNC_DATASYNC.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_int.h"

struct st_uring_be {
	struct rt_reactor *r;
	int fd;
};

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
	*fd_out = fd;
	*bctx_out = be;
	return 0;
}
