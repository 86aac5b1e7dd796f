/*
 * The libtessera backend: a volume, with one tsr_queue per virtqueue thread
 * (created on that thread, which then submits, polls and waits on it with no
 * lock), and a watch that turns a resize into a config-change interrupt.
 *
 * Built only when libtessera has its queue API (VHOST_HAVE_TSR, decided by
 * client/vhost/CMakeLists.txt); otherwise --volume is refused at start.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_log.h"
#include "vhost_blk.h"

#ifdef VHOST_HAVE_TSR
#include <tessera/tessera.h>

struct tsr_disk {
	struct tsr_cluster *cl;
	struct tsr_volume *vol;
};

/*
 * One cluster handle for every export of the process (one monitor session,
 * one map), made by the first open and shut down with the last close. Opens
 * and closes run on the main thread at start and exit; the lock is for
 * safety only.
 */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tsr_cluster *shared_cl; /* protected by shared_lock */
static unsigned shared_refs;          /* protected by shared_lock */

static int
cluster_get(const char *mon, struct tsr_cluster **out)
{
	int rc = 0;

	pthread_mutex_lock(&shared_lock);
	if (shared_cl) {
		shared_refs++;
		*out = shared_cl;
		goto out_unlock;
	}
	rc = tsr_cluster_create(&shared_cl);
	if (rc < 0)
		goto out_unlock;
	rc = tsr_conf_parse_env(shared_cl);
	if (rc == 0 && mon && *mon)
		rc = tsr_conf_set(shared_cl, "mon", mon);
	if (rc == 0) {
		rc = tsr_cluster_connect(shared_cl);
		if (rc < 0)
			fprintf(stderr, "tessera-vhost: cannot connect to the cluster: %s\n",
				tsr_strerror(rc));
	}
	if (rc < 0) {
		tsr_cluster_shutdown(shared_cl);
		shared_cl = NULL;
		goto out_unlock;
	}
	shared_refs = 1;
	*out = shared_cl;
out_unlock:
	pthread_mutex_unlock(&shared_lock);
	return rc;
}

static void
cluster_put(void)
{
	pthread_mutex_lock(&shared_lock);
	if (shared_refs && --shared_refs == 0) {
		tsr_cluster_shutdown(shared_cl);
		shared_cl = NULL;
	}
	pthread_mutex_unlock(&shared_lock);
}

struct tsr_q {
	struct tsr_queue *q;
	struct tsr_volume *vol;
};

static int
tq_create(void *bdev, void **out)
{
	struct vhost_bdev *b = bdev;
	struct tsr_disk *d = b->priv;
	struct tsr_q *tq = calloc(1, sizeof(*tq));
	int rc;

	if (!tq)
		return -ENOMEM;
	rc = tsr_queue_create(d->cl, &tq->q);
	if (rc < 0) {
		free(tq);
		return rc;
	}
	tq->vol = d->vol;
	*out = tq;
	return 0;
}

static int
tq_destroy(void *qp)
{
	struct tsr_q *tq = qp;
	int rc = tsr_queue_destroy(tq->q);

	if (rc < 0)
		return rc;
	free(tq);
	return 0;
}

static int
tq_fd(void *qp)
{
	return tsr_queue_fd(((struct tsr_q *)qp)->q);
}

static int
tq_poll(void *qp)
{
	return tsr_queue_poll(((struct tsr_q *)qp)->q, 0);
}

static unsigned
tq_inflight(void *qp)
{
	return tsr_queue_inflight(((struct tsr_q *)qp)->q);
}

static int
tq_readv(void *qp, const struct iovec *iov, int iovcnt, uint64_t off, vhost_bdev_cb cb, void *arg)
{
	struct tsr_q *tq = qp;
	return tsr_queue_readv(tq->q, tq->vol, iov, iovcnt, off, cb, arg);
}

static int
tq_writev(void *qp, const struct iovec *iov, int iovcnt, uint64_t off, vhost_bdev_cb cb,
	  void *arg)
{
	struct tsr_q *tq = qp;
	return tsr_queue_writev(tq->q, tq->vol, iov, iovcnt, off, cb, arg);
}

static int
tq_flush(void *qp, vhost_bdev_cb cb, void *arg)
{
	struct tsr_q *tq = qp;
	return tsr_queue_flush(tq->q, tq->vol, cb, arg);
}

static int
tq_discard(void *qp, uint64_t off, uint64_t len, vhost_bdev_cb cb, void *arg)
{
	struct tsr_q *tq = qp;
	return tsr_queue_discard(tq->q, tq->vol, off, len, cb, arg);
}

static int
tq_write_zeroes(void *qp, uint64_t off, uint64_t len, vhost_bdev_cb cb, void *arg)
{
	struct tsr_q *tq = qp;
	return tsr_queue_write_zeroes(tq->q, tq->vol, off, len, cb, arg);
}

static void
tsr_disk_close(void *bdev)
{
	struct vhost_bdev *b = bdev;
	struct tsr_disk *d = b->priv;

	tsr_volume_watch(d->vol, NULL, NULL);
	tsr_volume_close(d->vol);
	cluster_put();
	free(d);
}

static const struct vhost_bdev_ops tsr_ops = {
	.name = "tessera",
	.queue_create = tq_create,
	.queue_destroy = tq_destroy,
	.queue_fd = tq_fd,
	.queue_poll = tq_poll,
	.queue_inflight = tq_inflight,
	.readv = tq_readv,
	.writev = tq_writev,
	.flush = tq_flush,
	.discard = tq_discard,
	.write_zeroes = tq_write_zeroes,
	.close = tsr_disk_close,
};

/* Runs on a library thread. */
static void
tsr_watch_cb(struct tsr_volume *vol, enum tsr_volume_event ev, uint64_t size, void *arg)
{
	struct vhost_bdev *b = arg;

	(void)vol;
	if (ev == TSR_VOLUME_RESIZED) {
		rt_info(RT_SS_VHOST, "volume resized to %llu bytes", (unsigned long long)size);
		vhost_bdev_resized(b, size);
	} else if (ev == TSR_VOLUME_REMOVED) {
		rt_warn(RT_SS_VHOST, "the volume was removed: I/O now fails");
	}
}

bool
vhost_bdev_tsr_available(void)
{
	return true;
}

int
vhost_bdev_tsr_open(const char *mon, const char *volume, struct vhost_bdev **out)
{
	struct vhost_bdev *b;
	struct tsr_disk *d;
	int rc;

	b = calloc(1, sizeof(*b));
	d = calloc(1, sizeof(*d));
	if (!b || !d) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = cluster_get(mon, &d->cl);
	if (rc < 0)
		goto out_free;
	rc = tsr_volume_open(d->cl, volume, &d->vol);
	if (rc < 0) {
		fprintf(stderr, "tessera-vhost: cannot open volume '%s': %s\n", volume,
			tsr_strerror(rc));
		goto out_shutdown;
	}
	b->ops = &tsr_ops;
	b->priv = d;
	atomic_init(&b->size_bytes, tsr_volume_size(d->vol));
	snprintf(b->serial, sizeof(b->serial), "%s", volume);
	pthread_mutex_init(&b->lock, NULL);
	tsr_volume_watch(d->vol, tsr_watch_cb, b);
	*out = b;
	return 0;

out_shutdown:
	cluster_put();
out_free:
	free(b);
	free(d);
	return rc;
}

#else /* !VHOST_HAVE_TSR */

bool
vhost_bdev_tsr_available(void)
{
	return false;
}

int
vhost_bdev_tsr_open(const char *mon, const char *volume, struct vhost_bdev **out)
{
	(void)mon;
	(void)volume;
	(void)out;
	fprintf(stderr, "tessera-vhost: built without libtessera's queue API; only --malloc "
		"exports work\n");
	return -ENOTSUP;
}

#endif
