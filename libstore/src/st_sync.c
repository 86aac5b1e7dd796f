/*
 * The blocking convenience layer (tools and tests only): submit, then drive
 * the store's reactor in the calling thread until the callback has run.
 */
#include <errno.h>
#include <string.h>

#include "st_int.h"

struct st_sync_wait {
	bool done;
	int rc;
};

static void
st_sync_cb(struct st_req *req, int rc)
{
	struct st_sync_wait *w = req->ctx;

	w->rc = rc;
	w->done = true;
}

int
st_sync_submit(struct st_store *st, struct st_req *req)
{
	struct st_sync_wait w = {false, 0};
	uint64_t deadline;
	int rc;

	req->cb = st_sync_cb;
	req->ctx = &w;
	rc = st_submit(st, req);
	if (rc < 0)
		return rc;
	deadline = rt_now_us() + 600ull * 1000 * 1000;
	while (!w.done) {
		rc = rt_reactor_run_once(st->r, 10000);
		if (rc < 0)
			return rc;
		if (rt_now_us() > deadline)
			return -ETIMEDOUT; /* req stays owned by the store */
	}
	return w.rc;
}

static int
st_sync_op(struct st_store *st, enum st_op op, struct st_obj_id obj, uint64_t off, uint64_t len,
	   void *buf, uint64_t version, uint64_t *out_version)
{
	struct st_req req;
	int rc;

	memset(&req, 0, offsetof(struct st_req, priv));
	req.op = op;
	req.obj = obj;
	req.offset_bytes = off;
	req.len_bytes = len;
	req.buf = buf;
	req.version = version;
	rc = st_sync_submit(st, &req);
	if (out_version)
		*out_version = req.out_version;
	return rc;
}

int
st_sync_read(struct st_store *st, struct st_obj_id obj, uint64_t offset_bytes, uint64_t len_bytes,
	     void *buf, uint64_t *version)
{
	return st_sync_op(st, ST_OP_READ, obj, offset_bytes, len_bytes, buf, 0, version);
}

int
st_sync_write(struct st_store *st, struct st_obj_id obj, uint64_t offset_bytes, uint64_t len_bytes,
	      const void *buf, uint64_t version)
{
	return st_sync_op(st, ST_OP_WRITE, obj, offset_bytes, len_bytes, (void *)buf, version, NULL);
}

int
st_sync_discard(struct st_store *st, struct st_obj_id obj, uint64_t offset_bytes,
		uint64_t len_bytes, uint64_t version)
{
	return st_sync_op(st, ST_OP_DISCARD, obj, offset_bytes, len_bytes, NULL, version, NULL);
}

int
st_sync_write_zeroes(struct st_store *st, struct st_obj_id obj, uint64_t offset_bytes,
		     uint64_t len_bytes, uint64_t version)
{
	return st_sync_op(st, ST_OP_WRITE_ZEROES, obj, offset_bytes, len_bytes, NULL, version, NULL);
}

int
st_sync_delete(struct st_store *st, struct st_obj_id obj, uint64_t version)
{
	return st_sync_op(st, ST_OP_DELETE, obj, 0, 0, NULL, version, NULL);
}

int
st_sync_flush(struct st_store *st)
{
	struct st_obj_id none = {0, 0};

	return st_sync_op(st, ST_OP_FLUSH, none, 0, 0, NULL, 0, NULL);
}

static int
st_sync_meta(struct st_store *st, enum st_op op, const void *key, uint32_t key_len,
	     const void *val, uint32_t val_len)
{
	struct st_req req;

	memset(&req, 0, offsetof(struct st_req, priv));
	req.op = op;
	req.meta_key = key;
	req.meta_key_len = key_len;
	req.buf = (void *)val;
	req.len_bytes = val_len;
	return st_sync_submit(st, &req);
}

int
st_sync_meta_set(struct st_store *st, const void *key, uint32_t key_len, const void *val,
		 uint32_t val_len)
{
	return st_sync_meta(st, ST_OP_META_SET, key, key_len, val, val_len);
}

int
st_sync_meta_del(struct st_store *st, const void *key, uint32_t key_len)
{
	return st_sync_meta(st, ST_OP_META_DEL, key, key_len, NULL, 0);
}

int
st_sync_checkpoint(struct st_store *st)
{
	return st__ckpt_sync(st);
}
