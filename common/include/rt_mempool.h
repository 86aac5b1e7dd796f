/*
 * A fixed-size object pool, one per reactor (or per owner), sized at start-up.
 *
 * The pool is one node-local allocation (rt_reactor_alloc) cut into `count`
 * objects of `obj_size` bytes, each aligned to `align` (a power of two, at
 * least 16; 4096 for I/O buffers). get/put are O(1) (a LIFO free list threaded
 * through the free objects, so the most recently freed, cache-warm object is
 * reused first). When the pool is empty rt_mempool_get() returns NULL and the
 * caller queues its request until an object is put back (SPDK's
 * spdk_bdev_queue_io_wait): nothing here allocates after creation.
 *
 * Not thread-safe: only the owning reactor touches a pool.
 */
#ifndef RT_MEMPOOL_H
#define RT_MEMPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rt_reactor;
struct rt_mempool;

struct rt_mempool_stats {
	uint32_t count;     /* objects in the pool */
	uint32_t avail;     /* objects free now */
	uint32_t low_water; /* fewest free objects ever seen */
	uint64_t gets;
	uint64_t empty;     /* gets that found the pool empty */
};

/*
 * Create a pool of count objects of obj_size bytes aligned to align (0: 64).
 * Memory is node-local to r's core (r may be NULL: local to the caller).
 * Objects are zeroed once at creation, not on every get.
 * Returns 0, -EINVAL (count 0, obj_size 0, align not a power of two, overflow)
 * or -ENOMEM.
 */
int rt_mempool_create(struct rt_reactor *r, size_t obj_size, uint32_t count, size_t align,
		      struct rt_mempool **out);

/* Free the pool (objects still out become invalid). Sets *mpp to NULL. */
void rt_mempool_destroy(struct rt_mempool **mpp);

/* An object, or NULL if the pool is empty (queue and retry after a put). */
void *rt_mempool_get(struct rt_mempool *mp);

/* Return an object obtained from this pool. */
void rt_mempool_put(struct rt_mempool *mp, void *obj);

/* True if p is the start of an object of this pool. */
bool rt_mempool_owns(const struct rt_mempool *mp, const void *p);

uint32_t rt_mempool_avail(const struct rt_mempool *mp);
size_t rt_mempool_obj_size(const struct rt_mempool *mp);
void rt_mempool_get_stats(const struct rt_mempool *mp, struct rt_mempool_stats *out);

#endif
