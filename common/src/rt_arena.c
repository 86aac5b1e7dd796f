#include "rt_arena.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static void *
arena_pb_alloc(void *data, size_t size)
{
	return rt_arena_alloc(data, size);
}

static void
arena_pb_free(void *data, void *ptr)
{
	/* Freed all at once by rt_arena_reset(). */
	(void)data;
	(void)ptr;
}

int
rt_arena_init(struct rt_arena *a, size_t cap)
{
	a->base = aligned_alloc(64, (cap + 63) & ~(size_t)63);
	if (!a->base)
		return -ENOMEM;
	a->cap = cap;
	a->used = 0;
	a->high_water = 0;
	a->failed_allocs = 0;
	a->pb.alloc = arena_pb_alloc;
	a->pb.free = arena_pb_free;
	a->pb.allocator_data = a;
	return 0;
}

void
rt_arena_fini(struct rt_arena *a)
{
	free(a->base);
	a->base = NULL;
	a->cap = 0;
	a->used = 0;
}

void *
rt_arena_alloc(struct rt_arena *a, size_t len)
{
	size_t start = (a->used + 15) & ~(size_t)15;

	if (len == 0)
		len = 1;
	if (start > a->cap || len > a->cap - start) {
		a->failed_allocs++;
		return NULL;
	}
	a->used = start + len;
	if (a->used > a->high_water)
		a->high_water = a->used;
	return a->base + start;
}

void
rt_arena_reset(struct rt_arena *a)
{
	a->used = 0;
}
