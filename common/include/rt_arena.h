/*
 * A bump arena: fixed capacity, allocated once, reset per message. Decoded
 * protobuf messages of a connection live here, so decoding never mallocs.
 * Not thread-safe: one per connection, used by its owning reactor.
 */
#ifndef RT_ARENA_H
#define RT_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct rt_arena {
	unsigned char *base;
	size_t cap;
	size_t used;
	size_t high_water;
	size_t failed_allocs; /* allocations refused since init */
	ProtobufCAllocator pb; /* allocator view for protobuf_c_message_unpack */
};

/* Allocate the arena's buffer (cap bytes). Returns 0 or -ENOMEM. */
int rt_arena_init(struct rt_arena *a, size_t cap);
void rt_arena_fini(struct rt_arena *a);

/* 16-byte aligned allocation; NULL when the arena is exhausted. */
void *rt_arena_alloc(struct rt_arena *a, size_t len);

/* Forget every allocation. */
void rt_arena_reset(struct rt_arena *a);

#endif
