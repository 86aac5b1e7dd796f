/*
 * RAM LUN backend: a zero-filled anonymous mapping, for development, the
 * unit tests and conformance runs without a cluster. Completions are
 * deferred to the worker's next loop iteration (the async contract), from a
 * fixed pool per worker queue; an empty pool is -EAGAIN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "iscsi_lun.h"

#define RAM_DEFER_POOL 1024

struct ram_be {
	uint8_t *mem;
	uint64_t size;
	pthread_mutex_t caw_lock; /* COMPARE AND WRITE atomicity across workers */
};

/* One pool of deferred completions per worker thread. */
static _Thread_local struct iscsi_defer ram_pool[RAM_DEFER_POOL];
static _Thread_local struct iscsi_defer *ram_free;
static _Thread_local bool ram_pool_ready;

struct ram_req {
	iscsi_io_cb cb;
	void *arg;
};

static _Thread_local struct ram_req ram_reqs[RAM_DEFER_POOL];

static void
ram_complete(void *arg, ssize_t result)
{
	struct iscsi_defer *d = arg;
	struct ram_req *r = &ram_reqs[d - ram_pool];
	iscsi_io_cb cb = r->cb;
	void *cb_arg = r->arg;

	d->next = ram_free;
	ram_free = d;
	cb(cb_arg, result);
}

static int
ram_defer(struct iscsi_ioq *q, iscsi_io_cb cb, void *arg, ssize_t result)
{
	struct iscsi_defer *d;

	if (!ram_pool_ready) {
		for (unsigned i = 0; i < RAM_DEFER_POOL; i++) {
			ram_pool[i].next = ram_free;
			ram_free = &ram_pool[i];
		}
		ram_pool_ready = true;
	}
	d = ram_free;
	if (!d)
		return -EAGAIN;
	ram_free = d->next;
	ram_reqs[d - ram_pool].cb = cb;
	ram_reqs[d - ram_pool].arg = arg;
	iscsi_ioq_defer(q, d, ram_complete, d, result);
	return 0;
}

static int
ram_check(struct ram_be *be, uint64_t off, uint64_t len)
{
	if ((off | len) % ISCSI_BLOCK_SIZE)
		return -EINVAL;
	if (off > be->size || len > be->size - off)
		return -ERANGE;
	return 0;
}

static uint64_t
ram_size(void *p)
{
	return ((struct ram_be *)p)->size;
}

/* A read into buf, or a write from buf (then only read); copied once the completion is queued. */
static int
ram_xfer(struct ram_be *be, struct iscsi_ioq *q, uint64_t off, size_t len, void *buf, bool write,
	 iscsi_io_cb cb, void *arg)
{
	int rc = ram_check(be, off, len);

	if (rc < 0)
		return rc;
	rc = ram_defer(q, cb, arg, (ssize_t)len);
	if (rc == 0 && write)
		memcpy(be->mem + off, buf, len);
	else if (rc == 0)
		memcpy(buf, be->mem + off, len);
	return rc;
}

static int
ram_read(void *p, struct iscsi_ioq *q, uint64_t off, size_t len, void *buf, iscsi_io_cb cb,
	 void *arg)
{
	return ram_xfer(p, q, off, len, buf, false, cb, arg);
}

static int
ram_write(void *p, struct iscsi_ioq *q, uint64_t off, size_t len, const void *buf,
	  iscsi_io_cb cb, void *arg)
{
	return ram_xfer(p, q, off, len, (void *)buf, true, cb, arg);
}

static int
ram_flush(void *p, struct iscsi_ioq *q, iscsi_io_cb cb, void *arg)
{
	return ram_defer(q, cb, arg, 0);
}

static int
ram_zero(void *p, struct iscsi_ioq *q, uint64_t off, uint64_t len, iscsi_io_cb cb, void *arg)
{
	struct ram_be *be = p;
	int rc = ram_check(be, off, len);

	if (rc < 0)
		return rc;
	rc = ram_defer(q, cb, arg, 0);
	if (rc == 0)
		memset(be->mem + off, 0, len);
	return rc;
}

static int
ram_caw(void *p, struct iscsi_ioq *q, uint64_t off, size_t len, const void *cmp,
	const void *buf, uint64_t *mismatch_off, iscsi_io_cb cb, void *arg)
{
	struct ram_be *be = p;
	int rc = ram_check(be, off, len);
	ssize_t result = (ssize_t)len;

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&be->caw_lock);
	for (size_t i = 0; i < len; i++)
		if (be->mem[off + i] != ((const uint8_t *)cmp)[i]) {
			*mismatch_off = off + i;
			result = -EILSEQ;
			break;
		}
	rc = ram_defer(q, cb, arg, result);
	if (rc == 0 && result >= 0)
		memcpy(be->mem + off, buf, len);
	pthread_mutex_unlock(&be->caw_lock);
	return rc;
}

static const struct iscsi_lun_ops ram_ops = {
	.size_bytes = ram_size,
	.read = ram_read,
	.write = ram_write,
	.flush = ram_flush,
	.discard = ram_zero,
	.write_zeroes = ram_zero,
	.compare_and_write = ram_caw,
};

int
iscsi_lun_open_ram(uint64_t lun, uint64_t size_bytes, const char *name, struct iscsi_lun **out)
{
	struct iscsi_lun *l;
	struct ram_be *be;

	if (size_bytes == 0 || size_bytes % ISCSI_BLOCK_SIZE)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	be = calloc(1, sizeof(*be));
	if (!l || !be)
		goto out_free;
	be->size = size_bytes;
	be->mem = mmap(NULL, size_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (be->mem == MAP_FAILED)
		goto out_free;
	pthread_mutex_init(&be->caw_lock, NULL);
	iscsi_lun_init(l);
	l->lun = lun;
	snprintf(l->volume, sizeof(l->volume), "%s", name);
	/* A stable id from the name, so that the NAA designator is stable. */
	l->volume_id = 0xcbf29ce484222325ull;
	for (const char *c = name; *c; c++)
		l->volume_id = (l->volume_id ^ (uint8_t)*c) * 0x100000001b3ull;
	l->ops = &ram_ops;
	l->be = be;
	*out = l;
	return 0;
out_free:
	free(be);
	free(l);
	return -ENOMEM;
}

bool
iscsi_lun_is_ram(const struct iscsi_lun *lun)
{
	return lun->ops == &ram_ops;
}

void
iscsi_lun_ram_free(struct iscsi_lun *lun)
{
	struct ram_be *be = lun->be;

	munmap(be->mem, be->size);
	pthread_mutex_destroy(&be->caw_lock);
	free(be);
	iscsi_lun_fini(lun);
	free(lun);
}
