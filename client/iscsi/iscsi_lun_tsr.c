/*
 * libtessera LUN backend. Every call goes to the calling worker's own
 * tsr_queue (no thread hop, no lock); the buffers are the command buffers
 * the transport received Data-Out into or sends Data-In from, handed over
 * as they are. The volume watch bumps the LUN's capacity generation, which
 * each session turns into a CAPACITY DATA HAS CHANGED unit attention.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi_lun.h"
#include "rt_log.h"
#include "tessera/tessera.h"

struct tsr_be {
	struct tsr_volume *vol;
	struct iscsi_lun *lun;
};

static uint64_t
tb_size(void *p)
{
	return tsr_volume_size(((struct tsr_be *)p)->vol);
}

static int
tb_read(void *p, struct iscsi_ioq *q, uint64_t off, size_t len, void *buf, iscsi_io_cb cb,
	void *arg)
{
	return tsr_queue_read(q->tsr_queue, ((struct tsr_be *)p)->vol, off, len, buf, cb, arg);
}

static int
tb_write(void *p, struct iscsi_ioq *q, uint64_t off, size_t len, const void *buf, iscsi_io_cb cb,
	 void *arg)
{
	return tsr_queue_write(q->tsr_queue, ((struct tsr_be *)p)->vol, off, len, buf, cb, arg);
}

static int
tb_flush(void *p, struct iscsi_ioq *q, iscsi_io_cb cb, void *arg)
{
	return tsr_queue_flush(q->tsr_queue, ((struct tsr_be *)p)->vol, cb, arg);
}

static int
tb_discard(void *p, struct iscsi_ioq *q, uint64_t off, uint64_t len, iscsi_io_cb cb, void *arg)
{
	return tsr_queue_discard(q->tsr_queue, ((struct tsr_be *)p)->vol, off, len, cb, arg);
}

static int
tb_write_zeroes(void *p, struct iscsi_ioq *q, uint64_t off, uint64_t len, iscsi_io_cb cb,
		void *arg)
{
	return tsr_queue_write_zeroes(q->tsr_queue, ((struct tsr_be *)p)->vol, off, len, cb, arg);
}

static int
tb_caw(void *p, struct iscsi_ioq *q, uint64_t off, size_t len, const void *cmp, const void *buf,
       uint64_t *mismatch_off, iscsi_io_cb cb, void *arg)
{
	return tsr_queue_compare_and_write(q->tsr_queue, ((struct tsr_be *)p)->vol, off, len, cmp,
					   buf, mismatch_off, cb, arg);
}

static const struct iscsi_lun_ops tsr_ops = {
	.size_bytes = tb_size,
	.read = tb_read,
	.write = tb_write,
	.flush = tb_flush,
	.discard = tb_discard,
	.write_zeroes = tb_write_zeroes,
	.compare_and_write = tb_caw,
};

/* Runs on a library thread: only atomics here. */
static void
tb_event(struct tsr_volume *vol, enum tsr_volume_event ev, uint64_t size, void *arg)
{
	struct iscsi_lun *lun = arg;

	(void)vol;
	if (ev == TSR_VOLUME_RESIZED) {
		atomic_fetch_add(&lun->size_gen, 1);
		rt_info(RT_SS_ISCSI, "LUN %llu (%s) resized to %llu bytes",
			(unsigned long long)lun->lun, lun->volume, (unsigned long long)size);
	} else if (ev == TSR_VOLUME_REMOVED) {
		rt_warn(RT_SS_ISCSI, "LUN %llu: volume %s was removed", (unsigned long long)lun->lun,
			lun->volume);
	}
}

int
iscsi_lun_open_tsr(void *cluster, uint64_t lun, const char *name, bool pr_shared,
		   struct iscsi_lun **out)
{
	struct iscsi_lun *l = calloc(1, sizeof(*l));
	struct tsr_be *be = calloc(1, sizeof(*be));
	struct tsr_volume_info info;
	int rc = -ENOMEM;

	if (!l || !be)
		goto out_free;
	rc = tsr_volume_open(cluster, name, &be->vol);
	if (rc < 0)
		goto out_free;
	rc = tsr_volume_stat(be->vol, &info);
	if (rc < 0)
		goto out_close;
	iscsi_lun_init(l);
	l->lun = lun;
	snprintf(l->volume, sizeof(l->volume), "%s", name);
	l->volume_id = info.id;
	l->ops = &tsr_ops;
	l->be = be;
	be->lun = l;
	tsr_volume_watch(be->vol, tb_event, l);
	if (pr_shared) {
		rc = iscsi_pr_store_open(l, cluster);
		if (rc < 0)
			rt_warn(RT_SS_ISCSI,
				"LUN %llu (%s): reservations stay in this gateway: %s (%d)",
				(unsigned long long)lun, name, tsr_strerror(rc), rc);
	}
	*out = l;
	return 0;
out_close:
	tsr_volume_close(be->vol);
out_free:
	free(be);
	free(l);
	return rc;
}

void
iscsi_lun_release(struct iscsi_lun *lun)
{
	struct tsr_be *be;

	if (iscsi_lun_is_ram(lun)) {
		iscsi_lun_ram_free(lun);
		return;
	}
	be = lun->be;
	iscsi_pr_store_close(lun);
	tsr_volume_watch(be->vol, NULL, NULL);
	tsr_volume_close(be->vol);
	free(be);
	iscsi_lun_fini(lun);
	free(lun);
}

#ifndef TSR_HAVE_QUEUE
/* libtessera without its queue API yet (see CMakeLists.txt): nothing queues. */
int
tsr_queue_create(struct tsr_cluster *cl, struct tsr_queue **out)
{
	(void)cl;
	(void)out;
	return -ENOSYS;
}
int
tsr_queue_fd(struct tsr_queue *q)
{
	(void)q;
	return -1;
}
int
tsr_queue_poll(struct tsr_queue *q, unsigned max)
{
	(void)q;
	(void)max;
	return 0;
}
int
tsr_queue_wait(struct tsr_queue *q, int64_t timeout_us)
{
	(void)q;
	(void)timeout_us;
	return 0;
}
int
tsr_queue_destroy(struct tsr_queue *q)
{
	(void)q;
	return 0;
}
#define STUB_IO (void)q, (void)vol, (void)cb, (void)arg
int
tsr_queue_read(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off, size_t len, void *buf,
	       tsr_io_cb cb, void *arg)
{
	STUB_IO;
	return -ENOSYS;
}
int
tsr_queue_write(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off, size_t len,
		const void *buf, tsr_io_cb cb, void *arg)
{
	STUB_IO;
	return -ENOSYS;
}
int
tsr_queue_flush(struct tsr_queue *q, struct tsr_volume *vol, tsr_io_cb cb, void *arg)
{
	STUB_IO;
	return -ENOSYS;
}
int
tsr_queue_discard(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off, uint64_t len,
		  tsr_io_cb cb, void *arg)
{
	STUB_IO;
	return -ENOSYS;
}
int
tsr_queue_write_zeroes(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off, uint64_t len,
		       tsr_io_cb cb, void *arg)
{
	STUB_IO;
	return -ENOSYS;
}
int
tsr_queue_compare_and_write(struct tsr_queue *q, struct tsr_volume *vol, uint64_t off,
			    size_t len, const void *cmp, const void *buf, uint64_t *mismatch_off,
			    tsr_io_cb cb, void *arg)
{
	STUB_IO;
	return -ENOSYS;
}
#endif

int
iscsi_tsrq_create(void *cluster, void **q, int *fd)
{
	struct tsr_queue *tq;
	int rc = tsr_queue_create(cluster, &tq);

	if (rc < 0)
		return rc;
	*q = tq;
	*fd = tsr_queue_fd(tq);
	return 0;
}

int
iscsi_tsrq_poll(void *q)
{
	return tsr_queue_poll(q, 0);
}

void
iscsi_tsrq_wait(void *q, int64_t timeout_us)
{
	tsr_queue_wait(q, timeout_us);
}

int
iscsi_tsrq_destroy(void *q)
{
	return tsr_queue_destroy(q);
}
