/*
 * Block backends of tessera-vhost: the shared handle and the RAM disk.
 *
 * The RAM disk ("malloc" backend, as SPDK calls its own) lets the protocol,
 * virtqueue and guest tests run without a cluster and gives the benchmark a
 * backend-free baseline. It completes every request on the next queue_poll
 * (never inside the submit call, as the async contract requires) from a
 * fixed ring of pending completions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost_blk.h"

void
vhost_bdev_resized(struct vhost_bdev *b, uint64_t size_bytes)
{
	atomic_store(&b->size_bytes, size_bytes);
	pthread_mutex_lock(&b->lock);
	if (b->resize_cb)
		b->resize_cb(b->resize_arg, size_bytes);
	pthread_mutex_unlock(&b->lock);
}

void
vhost_bdev_close(struct vhost_bdev **bp)
{
	struct vhost_bdev *b = *bp;

	if (!b)
		return;
	if (b->ops->close)
		b->ops->close(b);
	pthread_mutex_destroy(&b->lock);
	free(b);
	*bp = NULL;
}

/* ------------------------------------------------------------ RAM disk */

#define MALLOC_QUEUE_DEPTH 2048u

struct malloc_disk {
	uint8_t *data;
	uint64_t size;
};

struct malloc_done {
	vhost_bdev_cb cb;
	void *arg;
	ssize_t result;
};

struct malloc_queue {
	struct malloc_disk *disk;
	int fd;
	unsigned head, count;
	struct malloc_done ring[MALLOC_QUEUE_DEPTH];
};

static int
malloc_queue_create(void *bdev, void **out)
{
	struct vhost_bdev *b = bdev;
	struct malloc_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->disk = b->priv;
	/* Never signalled: completions are always polled before sleeping. */
	q->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->fd < 0) {
		free(q);
		return -errno;
	}
	*out = q;
	return 0;
}

static int
malloc_queue_destroy(void *qp)
{
	struct malloc_queue *q = qp;

	if (q->count)
		return -EBUSY;
	close(q->fd);
	free(q);
	return 0;
}

static int
malloc_queue_fd(void *qp)
{
	return ((struct malloc_queue *)qp)->fd;
}

static unsigned
malloc_queue_inflight(void *qp)
{
	return ((struct malloc_queue *)qp)->count;
}

static int
malloc_queue_poll(void *qp)
{
	struct malloc_queue *q = qp;
	unsigned n = q->count;

	/* Only what was pending on entry: callbacks may submit more. */
	for (unsigned i = 0; i < n; i++) {
		struct malloc_done d = q->ring[q->head];
		q->head = (q->head + 1) % MALLOC_QUEUE_DEPTH;
		q->count--;
		d.cb(d.arg, d.result);
	}
	return (int)n;
}

static int
malloc_defer(struct malloc_queue *q, vhost_bdev_cb cb, void *arg, ssize_t result)
{
	unsigned slot = (q->head + q->count) % MALLOC_QUEUE_DEPTH;

	q->ring[slot] = (struct malloc_done){ cb, arg, result };
	q->count++;
	return 0;
}

static int
malloc_check(struct malloc_queue *q, uint64_t off, uint64_t len)
{
	if (q->count >= MALLOC_QUEUE_DEPTH)
		return -EAGAIN;
	if (off % 4096 || len % 4096)
		return -EINVAL;
	if (off > q->disk->size || len > q->disk->size - off)
		return -ERANGE;
	return 0;
}

static uint64_t
iov_len(const struct iovec *iov, int n)
{
	uint64_t t = 0;
	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

static int
malloc_readv(void *qp, const struct iovec *iov, int iovcnt, uint64_t off, vhost_bdev_cb cb,
	     void *arg)
{
	struct malloc_queue *q = qp;
	uint64_t len = iov_len(iov, iovcnt);
	int rc = malloc_check(q, off, len);

	if (rc < 0)
		return rc;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(iov[i].iov_base, q->disk->data + off, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return malloc_defer(q, cb, arg, (ssize_t)len);
}

static int
malloc_writev(void *qp, const struct iovec *iov, int iovcnt, uint64_t off, vhost_bdev_cb cb,
	      void *arg)
{
	struct malloc_queue *q = qp;
	uint64_t len = iov_len(iov, iovcnt);
	int rc = malloc_check(q, off, len);

	if (rc < 0)
		return rc;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(q->disk->data + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return malloc_defer(q, cb, arg, (ssize_t)len);
}

static int
malloc_flush(void *qp, vhost_bdev_cb cb, void *arg)
{
	struct malloc_queue *q = qp;

	if (q->count >= MALLOC_QUEUE_DEPTH)
		return -EAGAIN;
	return malloc_defer(q, cb, arg, 0);
}

static int
malloc_zero(void *qp, uint64_t off, uint64_t len, vhost_bdev_cb cb, void *arg)
{
	struct malloc_queue *q = qp;
	int rc = malloc_check(q, off, len);

	if (rc < 0)
		return rc;
	memset(q->disk->data + off, 0, len);
	return malloc_defer(q, cb, arg, 0);
}

static void
malloc_close(void *bdev)
{
	struct vhost_bdev *b = bdev;
	struct malloc_disk *d = b->priv;

	munmap(d->data, d->size);
	free(d);
}

static const struct vhost_bdev_ops malloc_ops = {
	.name = "malloc",
	.queue_create = malloc_queue_create,
	.queue_destroy = malloc_queue_destroy,
	.queue_fd = malloc_queue_fd,
	.queue_poll = malloc_queue_poll,
	.queue_inflight = malloc_queue_inflight,
	.readv = malloc_readv,
	.writev = malloc_writev,
	.flush = malloc_flush,
	.discard = malloc_zero,
	.write_zeroes = malloc_zero,
	.close = malloc_close,
};

int
vhost_bdev_malloc_open(uint64_t size_bytes, const char *serial, struct vhost_bdev **out)
{
	struct vhost_bdev *b;
	struct malloc_disk *d;

	if (size_bytes == 0 || size_bytes % 4096)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	d = calloc(1, sizeof(*d));
	if (!b || !d) {
		free(b);
		free(d);
		return -ENOMEM;
	}
	d->size = size_bytes;
	d->data = mmap(NULL, size_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (d->data == MAP_FAILED) {
		int rc = -errno;
		free(b);
		free(d);
		return rc;
	}
	b->ops = &malloc_ops;
	b->priv = d;
	atomic_init(&b->size_bytes, size_bytes);
	snprintf(b->serial, sizeof(b->serial), "%s", serial ? serial : "malloc");
	pthread_mutex_init(&b->lock, NULL);
	*out = b;
	return 0;
}
