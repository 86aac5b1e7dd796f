/* Helpers shared by the libstore unit tests. */
#ifndef TEST_ST_UTIL_H
#define TEST_ST_UTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_reactor.h"
#include "st.h"

static inline struct rt_reactor *
tu_reactor(void)
{
	struct rt_reactor_opts ro;
	struct rt_reactor *r = NULL;

	rt_reactor_opts_init(&ro);
	ro.name = "st-test";
	ck_assert_int_eq(rt_reactor_create(&ro, &r), 0);
	return r;
}

static inline void *
tu_buf(size_t len)
{
	void *p = aligned_alloc(4096, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* Fill a block with a self-describing pattern. */
static inline void
tu_fill(uint8_t *p, uint64_t oid, uint64_t blk, uint64_t gen)
{
	uint64_t *w = (uint64_t *)p;

	for (size_t i = 0; i < 4096 / 8; i++)
		w[i] = (oid * 1000003u) ^ (blk << 20) ^ (gen << 40) ^ i;
}

static inline int
tu_check(const uint8_t *p, uint64_t oid, uint64_t blk, uint64_t gen)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < 4096 / 8; i++)
		if (w[i] != ((oid * 1000003u) ^ (blk << 20) ^ (gen << 40) ^ i))
			return -1;
	return 0;
}

#endif
