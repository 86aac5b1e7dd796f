/* Fixed-size object pool: see rt_mempool.h. */
#include "rt_mempool.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt_reactor.h"

struct rt_mempool_free {
	struct rt_mempool_free *next;
};

struct rt_mempool {
	unsigned char *base;
	size_t mem_len;
	size_t obj_size;   /* as asked */
	size_t stride;     /* obj_size rounded up to align */
	uint32_t count;
	uint32_t avail;
	uint32_t low_water;
	uint64_t gets;
	uint64_t empty;
	struct rt_mempool_free *free;
};

int
rt_mempool_create(struct rt_reactor *r, size_t obj_size, uint32_t count, size_t align,
		  struct rt_mempool **out)
{
	struct rt_mempool *mp;
	size_t stride;
	uint32_t i;

	*out = NULL;
	if (align == 0)
		align = 64;
	if (obj_size == 0 || count == 0 || (align & (align - 1)) != 0 || align < 16 ||
	    align > 4096 || obj_size > SIZE_MAX / 2)
		return -EINVAL;
	if (obj_size < sizeof(struct rt_mempool_free))
		obj_size = sizeof(struct rt_mempool_free);
	stride = (obj_size + align - 1) & ~(align - 1);
	if (stride > SIZE_MAX / count)
		return -EINVAL;

	mp = calloc(1, sizeof(*mp));
	if (!mp)
		return -ENOMEM;
	mp->mem_len = stride * count;
	/* rt_reactor_alloc: 4 KiB aligned, zeroed, node-local. */
	mp->base = rt_reactor_alloc(r, mp->mem_len);
	if (!mp->base) {
		free(mp);
		return -ENOMEM;
	}
	mp->obj_size = obj_size;
	mp->stride = stride;
	mp->count = count;
	/* Thread the free list so that the first get returns the first object. */
	for (i = count; i-- > 0;) {
		struct rt_mempool_free *f = (void *)(mp->base + (size_t)i * stride);

		f->next = mp->free;
		mp->free = f;
	}
	mp->avail = count;
	mp->low_water = count;
	*out = mp;
	return 0;
}

void
rt_mempool_destroy(struct rt_mempool **mpp)
{
	struct rt_mempool *mp = *mpp;

	if (!mp)
		return;
	*mpp = NULL;
	rt_mem_free(mp->base, mp->mem_len);
	free(mp);
}

void *
rt_mempool_get(struct rt_mempool *mp)
{
	struct rt_mempool_free *f = mp->free;

	mp->gets++;
	if (!f) {
		mp->empty++;
		return NULL;
	}
	mp->free = f->next;
	mp->avail--;
	if (mp->avail < mp->low_water)
		mp->low_water = mp->avail;
	return f;
}

bool
rt_mempool_owns(const struct rt_mempool *mp, const void *p)
{
	const unsigned char *c = p;

	if (c < mp->base || c >= mp->base + mp->mem_len)
		return false;
	return ((size_t)(c - mp->base) % mp->stride) == 0;
}

void
rt_mempool_put(struct rt_mempool *mp, void *obj)
{
	struct rt_mempool_free *f = obj;

	assert(rt_mempool_owns(mp, obj));
	assert(mp->avail < mp->count);
	f->next = mp->free;
	mp->free = f;
	mp->avail++;
}

uint32_t
rt_mempool_avail(const struct rt_mempool *mp)
{
	return mp->avail;
}

size_t
rt_mempool_obj_size(const struct rt_mempool *mp)
{
	return mp->obj_size;
}

void
rt_mempool_get_stats(const struct rt_mempool *mp, struct rt_mempool_stats *out)
{
	out->count = mp->count;
	out->avail = mp->avail;
	out->low_water = mp->low_water;
	out->gets = mp->gets;
	out->empty = mp->empty;
}
