/*
 * Data-area allocator: a bitmap of 4 KiB blocks with a next-fit cursor, so
 * that consecutive allocations (a sequential writer's redirect-on-write
 * blocks) come out contiguous and become one device write. It is not
 * persisted: open rebuilds it from the index (every home block is in use).
 *
 * Freed blocks are not reusable at once: a read issued before the free may
 * still be reading the block. Frees go to the pending list of the current read
 * epoch; the epoch advances once every read started two epochs back has
 * completed, and that epoch's frees are released then (epoch-based
 * reclamation with two slots).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "st_int.h"

int
st__alloc_init(struct st_alloc *a, uint64_t base, uint64_t nblks)
{
	memset(a, 0, sizeof(*a));
	a->base = base;
	a->nblks = nblks;
	a->free_blks = nblks;
	a->bitmap = calloc((nblks + 63) / 64 + 1, sizeof(uint64_t));
	a->pend[0] = malloc((nblks + 1) * sizeof(uint32_t));
	a->pend[1] = malloc((nblks + 1) * sizeof(uint32_t));
	if (!a->bitmap || !a->pend[0] || !a->pend[1]) {
		st__alloc_fini(a);
		return -ENOMEM;
	}
	return 0;
}

void
st__alloc_fini(struct st_alloc *a)
{
	free(a->bitmap);
	free(a->pend[0]);
	free(a->pend[1]);
	memset(a, 0, sizeof(*a));
}

bool
st__alloc_is_used(const struct st_alloc *a, uint32_t pblock)
{
	uint64_t i = pblock - a->base;

	return (a->bitmap[i / 64] >> (i % 64)) & 1;
}

void
st__alloc_mark(struct st_alloc *a, uint32_t pblock)
{
	uint64_t i;

	if (pblock < a->base || pblock - a->base >= a->nblks)
		return;
	i = pblock - a->base;
	if (!((a->bitmap[i / 64] >> (i % 64)) & 1)) {
		a->bitmap[i / 64] |= 1ull << (i % 64);
		a->free_blks--;
	}
}

int
st__alloc_get(struct st_alloc *a, uint32_t n, uint32_t *out)
{
	uint32_t got = 0;
	uint64_t i = a->cursor;

	if (n > a->free_blks)
		return -ENOSPC;
	/* free_blks counts only released blocks, so this finds n of them. */
	for (uint64_t scanned = 0; got < n && scanned < a->nblks + 64; scanned++) {
		if (i >= a->nblks)
			i = 0;
		uint64_t w = a->bitmap[i / 64];
		if (w == ~0ull && i % 64 == 0) {
			i += 64;
			scanned += 63;
			continue;
		}
		if (!((w >> (i % 64)) & 1)) {
			a->bitmap[i / 64] |= 1ull << (i % 64);
			out[got++] = (uint32_t)(a->base + i);
		}
		i++;
	}
	a->cursor = i;
	if (got < n) {
		/* Cannot happen if free_blks is right; undo to stay consistent. */
		for (uint32_t k = 0; k < got; k++) {
			uint64_t b = out[k] - a->base;
			a->bitmap[b / 64] &= ~(1ull << (b % 64));
		}
		return -ENOSPC;
	}
	a->free_blks -= n;
	return 0;
}

void
st__alloc_put_now(struct st_alloc *a, uint32_t pblock)
{
	uint64_t i;

	if (pblock < a->base || pblock - a->base >= a->nblks)
		return;
	i = pblock - a->base;
	if ((a->bitmap[i / 64] >> (i % 64)) & 1) {
		a->bitmap[i / 64] &= ~(1ull << (i % 64));
		a->free_blks++;
	}
}

static void
st_alloc_try_advance(struct st_alloc *a)
{
	for (int k = 0; k < 2; k++) {
		unsigned o = (unsigned)((a->epoch + 1) & 1);

		if (a->rd_inflight[o] != 0)
			return;
		if (a->npend[o] == 0 && a->npend[a->epoch & 1] == 0)
			return;
		for (uint64_t i = 0; i < a->npend[o]; i++)
			st__alloc_put_now(a, a->pend[o][i]);
		a->npend[o] = 0;
		a->epoch++;
	}
}

void
st__alloc_put_deferred(struct st_alloc *a, uint32_t pblock)
{
	unsigned s = (unsigned)(a->epoch & 1);

	if (pblock < a->base || pblock - a->base >= a->nblks)
		return;
	a->pend[s][a->npend[s]++] = pblock;
	st_alloc_try_advance(a);
}

uint32_t
st__alloc_read_begin(struct st_alloc *a)
{
	uint32_t e = (uint32_t)(a->epoch & 1);

	a->rd_inflight[e]++;
	return e;
}

void
st__alloc_read_end(struct st_alloc *a, uint32_t e)
{
	a->rd_inflight[e & 1]--;
	st_alloc_try_advance(a);
}
