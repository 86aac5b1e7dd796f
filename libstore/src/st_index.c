/*
 * The in-memory index: two open-addressing hash tables (linear probing,
 * backward-shift deletion, so no tombstones), sized at open for the worst case
 * so that no insert on the I/O path allocates:
 *   objects: (pool, oid) -> version, mapped block count
 *   blocks:  (pool, oid, lblock) -> cur (where the data is: its home block or a
 *            journal block), home (its data-area block), crc32c
 * and the metadata key/value table (small; its values are heap allocated: the
 * one exception to "no malloc on the I/O path", documented in docs/libstore.md).
 * A background checkpoint serialises the tables in steps; deletions tell it
 * when they move an entry across its scan position (scan_moved).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "st_int.h"

static uint64_t
st_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t
st_pow2(uint64_t n)
{
	uint64_t c = 64;

	while (c < n)
		c <<= 1;
	return c;
}

int
st__index_init(struct st_index *ix, uint64_t max_objects, uint64_t data_blks)
{
	memset(ix, 0, sizeof(*ix));
	ix->obj_cap = st_pow2(max_objects + max_objects / 2 + 1024);
	ix->blk_cap = st_pow2(data_blks + data_blks / 2 + 1024);
	ix->meta_cap = 1024;
	ix->objs = calloc(ix->obj_cap, sizeof(*ix->objs));
	ix->blks = calloc(ix->blk_cap, sizeof(*ix->blks));
	ix->meta = calloc(ix->meta_cap, sizeof(*ix->meta));
	if (!ix->objs || !ix->blks || !ix->meta) {
		st__index_fini(ix);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < ix->blk_cap; i++)
		ix->blks[i].lblock = ST_NONE;
	return 0;
}

void
st__index_fini(struct st_index *ix)
{
	if (ix->meta) {
		for (uint64_t i = 0; i < ix->meta_cap; i++) {
			if (ix->meta[i]) {
				free(ix->meta[i]->val);
				free(ix->meta[i]);
			}
		}
	}
	free(ix->objs);
	free(ix->blks);
	free(ix->meta);
	memset(ix, 0, sizeof(*ix));
}

/* An entry moves from slot j to slot i: does it cross a checkpoint's scan? */
static void
st_scan_move(struct st_index *ix, int t, uint64_t j, uint64_t i)
{
	if (ix->scan_on[t] && ((j >= ix->scan_cur[t]) != (i >= ix->scan_cur[t])))
		ix->scan_moved = true;
}

/* ---- objects ---- */

static uint64_t
st_obj_hash(uint32_t pool, uint64_t oid)
{
	return st_mix(oid ^ ((uint64_t)pool << 40) ^ pool);
}

struct st_obj *
st__obj_find(struct st_index *ix, uint32_t pool, uint64_t oid)
{
	uint64_t mask = ix->obj_cap - 1;

	for (uint64_t i = st_obj_hash(pool, oid) & mask, n = 0; n < ix->obj_cap;
	     i = (i + 1) & mask, n++) {
		struct st_obj *o = &ix->objs[i];

		if (!o->used)
			return NULL;
		if (o->pool == pool && o->oid == oid)
			return o;
	}
	return NULL;
}

struct st_obj *
st__obj_get(struct st_index *ix, uint32_t pool, uint64_t oid)
{
	uint64_t mask = ix->obj_cap - 1;

	if (ix->n_objs + 1 >= ix->obj_cap)
		return NULL;
	for (uint64_t i = st_obj_hash(pool, oid) & mask;; i = (i + 1) & mask) {
		struct st_obj *o = &ix->objs[i];

		if (!o->used) {
			memset(o, 0, sizeof(*o));
			o->used = 1;
			o->pool = pool;
			o->oid = oid;
			ix->n_objs++;
			return o;
		}
		if (o->pool == pool && o->oid == oid)
			return o;
	}
}

void
st__obj_del(struct st_index *ix, struct st_obj *o)
{
	uint64_t mask = ix->obj_cap - 1;
	uint64_t i = (uint64_t)(o - ix->objs);
	uint64_t j = i;

	ix->n_objs--;
	for (;;) {
		j = (j + 1) & mask;
		if (!ix->objs[j].used)
			break;
		uint64_t k = st_obj_hash(ix->objs[j].pool, ix->objs[j].oid) & mask;
		/* Move j back to i unless its home k lies cyclically in (i, j]. */
		if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		st_scan_move(ix, 0, j, i);
		ix->objs[i] = ix->objs[j];
		i = j;
	}
	memset(&ix->objs[i], 0, sizeof(ix->objs[i]));
}

/* ---- blocks ---- */

static uint64_t
st_blk_hash(uint32_t pool, uint64_t oid, uint32_t lblock)
{
	return st_mix(oid * 0x100000001b3ull ^ ((uint64_t)lblock << 32 | pool));
}

struct st_bent *
st__blk_find(struct st_index *ix, uint32_t pool, uint64_t oid, uint32_t lblock)
{
	uint64_t mask = ix->blk_cap - 1;

	for (uint64_t i = st_blk_hash(pool, oid, lblock) & mask, n = 0; n < ix->blk_cap;
	     i = (i + 1) & mask, n++) {
		struct st_bent *b = &ix->blks[i];

		if (b->lblock == ST_NONE)
			return NULL;
		if (b->lblock == lblock && b->oid == oid && b->pool == pool)
			return b;
	}
	return NULL;
}

struct st_bent *
st__blk_get(struct st_index *ix, uint32_t pool, uint64_t oid, uint32_t lblock)
{
	uint64_t mask = ix->blk_cap - 1;

	if (ix->n_blks + 1 >= ix->blk_cap)
		return NULL;
	for (uint64_t i = st_blk_hash(pool, oid, lblock) & mask;; i = (i + 1) & mask) {
		struct st_bent *b = &ix->blks[i];

		if (b->lblock == ST_NONE) {
			b->pool = pool;
			b->oid = oid;
			b->lblock = lblock;
			b->cur = b->home = ST_NONE;
			b->crc = 0;
			ix->n_blks++;
			return b;
		}
		if (b->lblock == lblock && b->oid == oid && b->pool == pool)
			return b;
	}
}

void
st__blk_del(struct st_index *ix, struct st_bent *b)
{
	uint64_t mask = ix->blk_cap - 1;
	uint64_t i = (uint64_t)(b - ix->blks);
	uint64_t j = i;

	ix->n_blks--;
	for (;;) {
		j = (j + 1) & mask;
		struct st_bent *e = &ix->blks[j];
		if (e->lblock == ST_NONE)
			break;
		uint64_t k = st_blk_hash(e->pool, e->oid, e->lblock) & mask;
		if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		st_scan_move(ix, 1, j, i);
		ix->blks[i] = *e;
		i = j;
	}
	ix->blks[i].lblock = ST_NONE;
}

/* ---- metadata ---- */

static uint64_t
st_meta_hash(const void *key, uint32_t len)
{
	const uint8_t *p = key;
	uint64_t h = 1469598103934665603ull;

	for (uint32_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return st_mix(h);
}

uint64_t
st__meta_rec_bytes(uint32_t key_len, uint32_t val_len)
{
	return (sizeof(struct st_ckpt_meta) + key_len + val_len + 7) & ~7ull;
}

static int64_t
st_meta_slot(struct st_index *ix, const void *key, uint32_t key_len, bool *found)
{
	uint64_t mask = ix->meta_cap - 1;

	for (uint64_t i = st_meta_hash(key, key_len) & mask, n = 0; n < ix->meta_cap;
	     i = (i + 1) & mask, n++) {
		struct st_meta *m = ix->meta[i];

		if (!m) {
			*found = false;
			return (int64_t)i;
		}
		if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0) {
			*found = true;
			return (int64_t)i;
		}
	}
	*found = false;
	return -1;
}

struct st_meta *
st__meta_find(struct st_index *ix, const void *key, uint32_t key_len)
{
	bool found;
	int64_t i = st_meta_slot(ix, key, key_len, &found);

	return (i >= 0 && found) ? ix->meta[i] : NULL;
}

static int
st_meta_grow(struct st_index *ix)
{
	uint64_t ncap = ix->meta_cap * 2;
	struct st_meta **old = ix->meta;
	uint64_t ocap = ix->meta_cap;
	struct st_meta **nm = calloc(ncap, sizeof(*nm));

	if (!nm)
		return -ENOMEM;
	ix->meta = nm;
	ix->meta_cap = ncap;
	for (uint64_t i = 0; i < ocap; i++) {
		if (!old[i])
			continue;
		bool found;
		int64_t s = st_meta_slot(ix, old[i]->key, old[i]->key_len, &found);
		ix->meta[s] = old[i];
	}
	free(old);
	return 0;
}

int
st__meta_set(struct st_index *ix, const void *key, uint32_t key_len, const void *val,
	     uint32_t val_len)
{
	bool found;
	int64_t i;
	uint8_t *nv;

	if ((ix->n_meta + 1) * 2 > ix->meta_cap && st_meta_grow(ix) < 0)
		return -ENOMEM;
	i = st_meta_slot(ix, key, key_len, &found);
	if (i < 0)
		return -ENOMEM;
	nv = malloc(val_len ? val_len : 1);
	if (!nv)
		return -ENOMEM;
	if (val_len)
		memcpy(nv, val, val_len);
	if (found) {
		struct st_meta *m = ix->meta[i];

		ix->meta_used_bytes -= st__meta_rec_bytes(m->key_len, m->val_len);
		free(m->val);
		m->val = nv;
		m->val_len = val_len;
		ix->meta_used_bytes += st__meta_rec_bytes(key_len, val_len);
		return 0;
	}
	struct st_meta *m = calloc(1, sizeof(*m));
	if (!m) {
		free(nv);
		return -ENOMEM;
	}
	m->key_len = key_len;
	memcpy(m->key, key, key_len);
	m->val = nv;
	m->val_len = val_len;
	ix->meta[i] = m;
	ix->n_meta++;
	ix->meta_used_bytes += st__meta_rec_bytes(key_len, val_len);
	return 0;
}

int
st__meta_del(struct st_index *ix, const void *key, uint32_t key_len)
{
	bool found;
	int64_t i = st_meta_slot(ix, key, key_len, &found);
	uint64_t mask = ix->meta_cap - 1;

	if (i < 0 || !found)
		return -ENOENT;
	ix->meta_used_bytes -= st__meta_rec_bytes(ix->meta[i]->key_len, ix->meta[i]->val_len);
	free(ix->meta[i]->val);
	free(ix->meta[i]);
	ix->meta[i] = NULL;
	ix->n_meta--;
	/* Backward-shift the cluster after the hole. */
	uint64_t h = (uint64_t)i, j = (uint64_t)i;
	for (;;) {
		j = (j + 1) & mask;
		if (!ix->meta[j])
			break;
		uint64_t k = st_meta_hash(ix->meta[j]->key, ix->meta[j]->key_len) & mask;
		if ((h <= j) ? (h < k && k <= j) : (h < k || k <= j))
			continue;
		ix->meta[h] = ix->meta[j];
		ix->meta[j] = NULL;
		h = j;
	}
	return 0;
}

/* ---- public lookups ---- */

int
st_meta_get(struct st_store *st, const void *key, uint32_t key_len, void *buf, uint32_t buf_len)
{
	struct st_meta *m;

	if (!key || key_len == 0 || key_len > ST_META_KEY_MAX)
		return -EINVAL;
	m = st__meta_find(&st->idx, key, key_len);
	if (!m)
		return -ENOENT;
	if (buf && buf_len)
		memcpy(buf, m->val, buf_len < m->val_len ? buf_len : m->val_len);
	return (int)m->val_len;
}

int
st_meta_iterate(struct st_store *st, const void *prefix, uint32_t prefix_len, st_meta_iter_fn fn,
		void *arg)
{
	for (uint64_t i = 0; i < st->idx.meta_cap; i++) {
		struct st_meta *m = st->idx.meta[i];

		if (!m || m->key_len < prefix_len || (prefix_len && memcmp(m->key, prefix, prefix_len)))
			continue;
		int rc = fn(arg, m->key, m->key_len, m->val, m->val_len);
		if (rc)
			return rc;
	}
	return 0;
}

int
st_object_stat(struct st_store *st, struct st_obj_id obj, struct st_obj_info *out)
{
	struct st_obj *o = st__obj_find(&st->idx, obj.pool, obj.oid);

	if (!o)
		return -ENOENT;
	out->obj = obj;
	out->version = o->version;
	out->mapped_bytes = (uint64_t)o->mapped_blks * ST_BLK;
	return 0;
}

static int
st_obj_cmp(uint32_t pa, uint64_t oa, uint32_t pb, uint64_t ob)
{
	if (pa != pb)
		return pa < pb ? -1 : 1;
	if (oa != ob)
		return oa < ob ? -1 : 1;
	return 0;
}

static int
st_info_cmp(const struct st_obj_info *a, const struct st_obj_info *b)
{
	return st_obj_cmp(a->obj.pool, a->obj.oid, b->obj.pool, b->obj.oid);
}

/* Max-heap of the `max` smallest objects after the cursor. */
static void
st_heap_down(struct st_obj_info *h, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && st_info_cmp(&h[l], &h[m]) > 0)
			m = l;
		if (r < n && st_info_cmp(&h[r], &h[m]) > 0)
			m = r;
		if (m == i)
			return;
		struct st_obj_info t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void
st_heap_up(struct st_obj_info *h, uint32_t i)
{
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (st_info_cmp(&h[p], &h[i]) >= 0)
			return;
		struct st_obj_info t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

static int
st_info_qcmp(const void *a, const void *b)
{
	return st_info_cmp(a, b);
}

int
st_list(struct st_store *st, uint32_t pool, struct st_list_cursor *cursor, struct st_obj_info *out,
	uint32_t max)
{
	uint32_t n = 0;

	if (!cursor || !out || max == 0)
		return -EINVAL;
	for (uint64_t i = 0; i < st->idx.obj_cap; i++) {
		struct st_obj *o = &st->idx.objs[i];

		if (!o->used || (pool != UINT32_MAX && o->pool != pool))
			continue;
		if (!cursor->first &&
		    st_obj_cmp(o->pool, o->oid, cursor->last.pool, cursor->last.oid) <= 0)
			continue;
		struct st_obj_info inf = {
			.obj = {.pool = o->pool, .oid = o->oid},
			.version = o->version,
			.mapped_bytes = (uint64_t)o->mapped_blks * ST_BLK,
		};
		if (n < max) {
			out[n] = inf;
			st_heap_up(out, n);
			n++;
		} else if (st_info_cmp(&inf, &out[0]) < 0) {
			out[0] = inf;
			st_heap_down(out, n, 0);
		}
	}
	qsort(out, n, sizeof(*out), st_info_qcmp);
	if (n) {
		cursor->last = out[n - 1].obj;
		cursor->first = false;
	}
	return (int)n;
}
