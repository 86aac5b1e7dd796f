/*
 * The test backend: an in-memory disk with a volatile write cache, for the
 * power-cut simulation (the approach of SQLite's crash-test VFS and ALICE).
 *
 * A plain write lands in the cache, per 4 KiB block (a newer write of a block
 * replaces the cached one, as a drive's cache does). Reads see the cache over
 * the durable image. A flush makes data durable, and so does a FUA write, but
 * only when it completes: until then it sits in the cache like a plain write
 * (a power cut may keep it, drop it or tear it). A power cut
 * keeps a random subset of the cached blocks and drops the rest, so a
 * multi-block write can come back torn at 4 KiB granularity. After the cut
 * every I/O fails with -EIO until restore, so the store under test cannot
 * write anything more. Write errors can also be injected on a block range.
 *
 * Completions are deferred to the reactor (never inside submit).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "st_int.h"

struct st_mem_cblk {
	uint64_t blk;
	uint8_t *data;
};

struct st_membackend {
	struct rt_reactor *r;
	uint8_t *image;
	uint64_t size_bytes;
	uint64_t nblks;
	int64_t *cache_idx; /* per block: index in cache[] or -1 */
	struct st_mem_cblk *cache;
	uint64_t ncache;
	bool dead;
	uint64_t fail_blk, fail_nblks; /* injected write errors */
	int fail_err;
};

struct st_mem_priv {
	struct rt_msg msg;
	struct st_membackend *mb;
	int res;
};
_Static_assert(sizeof(struct st_mem_priv) <= sizeof(((struct st_bio *)0)->bpriv), "bpriv");

static void st_mem_make_durable(struct st_membackend *mb, uint64_t blk);

static void
st_mem_complete(void *ctx)
{
	struct st_bio *bio = ctx;
	struct st_mem_priv *p = (struct st_mem_priv *)bio->bpriv;
	struct st_membackend *mb = p->mb;

	if (p->res >= 0 && bio->op == ST_BIO_WRITE && bio->fua && !mb->dead) {
		for (uint64_t b = bio->offset_bytes / ST_BLK;
		     b < (bio->offset_bytes + bio->len_bytes) / ST_BLK; b++)
			st_mem_make_durable(mb, b);
	}
	bio->cb(bio, p->res);
}

static void
st_mem_make_durable(struct st_membackend *mb, uint64_t blk)
{
	int64_t ci = mb->cache_idx[blk];

	if (ci < 0)
		return;
	memcpy(mb->image + blk * ST_BLK, mb->cache[ci].data, ST_BLK);
	free(mb->cache[ci].data);
	mb->cache_idx[blk] = -1;
	/* Move the last entry into the hole. */
	mb->ncache--;
	if ((uint64_t)ci != mb->ncache) {
		mb->cache[ci] = mb->cache[mb->ncache];
		mb->cache_idx[mb->cache[ci].blk] = ci;
	}
}

static int
st_mem_do(struct st_membackend *mb, struct st_bio *bio)
{
	uint64_t first, n;

	if (mb->dead)
		return -EIO;
	if (bio->op == ST_BIO_FLUSH) {
		while (mb->ncache)
			st_mem_make_durable(mb, mb->cache[mb->ncache - 1].blk);
		return 0;
	}
	if (bio->offset_bytes % ST_BLK || bio->len_bytes % ST_BLK ||
	    bio->offset_bytes + bio->len_bytes > mb->size_bytes)
		return -EINVAL;
	first = bio->offset_bytes / ST_BLK;
	n = bio->len_bytes / ST_BLK;
	if (bio->op == ST_BIO_WRITE && mb->fail_nblks && first < mb->fail_blk + mb->fail_nblks &&
	    first + n > mb->fail_blk)
		return mb->fail_err;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t b = first + i;
		uint8_t *p = (uint8_t *)bio->buf + i * ST_BLK;
		int64_t ci = mb->cache_idx[b];

		if (bio->op == ST_BIO_READ) {
			memcpy(p, ci >= 0 ? mb->cache[ci].data : mb->image + b * ST_BLK, ST_BLK);
			continue;
		}
		if (ci < 0) {
			uint8_t *d = malloc(ST_BLK);
			if (!d)
				return -ENOMEM;
			ci = (int64_t)mb->ncache++;
			mb->cache[ci].blk = b;
			mb->cache[ci].data = d;
			mb->cache_idx[b] = ci;
		}
		memcpy(mb->cache[ci].data, p, ST_BLK);
	}
	return (int)bio->len_bytes;
}

static int
st_mem_submit(void *bctx, struct st_bio *bio)
{
	struct st_membackend *mb = bctx;
	struct st_mem_priv *p = (struct st_mem_priv *)bio->bpriv;

	p->mb = mb;
	p->res = st_mem_do(mb, bio);
	rt_reactor_defer(mb->r, &p->msg, st_mem_complete, bio);
	return 0;
}

static void
st_mem_close(void *bctx)
{
	(void)bctx; /* the test owns the membackend */
}

static const struct st_backend_ops st_mem_ops = {
	.name = "mem",
	.submit = st_mem_submit,
	.close = st_mem_close,
};

const struct st_backend_ops *
st_membackend_ops(void)
{
	return &st_mem_ops;
}

int
st_membackend_create(struct rt_reactor *r, uint64_t size_bytes, struct st_membackend **out)
{
	struct st_membackend *mb;

	if (size_bytes == 0 || size_bytes % ST_BLK)
		return -EINVAL;
	mb = calloc(1, sizeof(*mb));
	if (!mb)
		return -ENOMEM;
	mb->r = r;
	mb->size_bytes = size_bytes;
	mb->nblks = size_bytes / ST_BLK;
	mb->image = calloc(1, size_bytes);
	mb->cache_idx = malloc(mb->nblks * sizeof(int64_t));
	mb->cache = malloc(mb->nblks * sizeof(struct st_mem_cblk));
	if (!mb->image || !mb->cache_idx || !mb->cache) {
		st_membackend_destroy(&mb);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < mb->nblks; i++)
		mb->cache_idx[i] = -1;
	*out = mb;
	return 0;
}

void
st_membackend_destroy(struct st_membackend **mbp)
{
	struct st_membackend *mb = *mbp;

	if (!mb)
		return;
	if (mb->cache) {
		for (uint64_t i = 0; i < mb->ncache; i++)
			free(mb->cache[i].data);
	}
	free(mb->cache);
	free(mb->cache_idx);
	free(mb->image);
	free(mb);
	*mbp = NULL;
}

static uint64_t
st_mem_rand(uint64_t *s)
{
	uint64_t x = (*s += 0x9e3779b97f4a7c15ull);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

int
st_membackend_powercut(struct st_membackend *mb, uint64_t seed)
{
	int dropped = 0;
	uint64_t s = seed;
	/* Per cut, choose a keep probability: none, all, or a coin per block. */
	uint64_t mode = st_mem_rand(&s) % 4;

	for (uint64_t i = 0; i < mb->ncache; i++) {
		bool keep = mode == 0 ? false : mode == 1 ? true : (st_mem_rand(&s) & 1);

		if (keep)
			memcpy(mb->image + mb->cache[i].blk * ST_BLK, mb->cache[i].data, ST_BLK);
		else
			dropped++;
		free(mb->cache[i].data);
		mb->cache_idx[mb->cache[i].blk] = -1;
	}
	mb->ncache = 0;
	mb->dead = true;
	return dropped;
}

void
st_membackend_restore(struct st_membackend *mb)
{
	mb->dead = false;
}

void
st_membackend_fail_writes(struct st_membackend *mb, uint64_t blk, uint64_t nblks, int err)
{
	mb->fail_blk = blk;
	mb->fail_nblks = nblks;
	mb->fail_err = err < 0 ? err : -EIO;
}

uint8_t *
st_membackend_image(struct st_membackend *mb)
{
	return mb->image;
}
