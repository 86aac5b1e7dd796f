/* Striping and iovec slicing (see tsr_stripe.h). */
#include "tsr_stripe.h"

#include <errno.h>
#include <string.h>

void
tsr_stripe_first(uint32_t object_size, uint64_t off, uint64_t len, uint64_t max_piece,
		 struct tsr_extent *out)
{
	uint64_t in_obj = off % object_size;
	uint64_t n = object_size - in_obj;

	if (n > len)
		n = len;
	if (max_piece && n > max_piece)
		n = max_piece;
	out->obj_idx = off / object_size;
	out->obj_off = in_obj;
	out->len = n;
}

uint64_t
tsr_stripe_count_objects(uint32_t object_size, uint64_t off, uint64_t len)
{
	if (len == 0)
		return 0;
	return (off + len - 1) / object_size - off / object_size + 1;
}

int
tsr_iov_total(const struct iovec *iov, int iovcnt, int max_cnt, uint64_t *total)
{
	uint64_t t = 0;

	if (!iov || iovcnt < 1 || iovcnt > max_cnt)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len && !iov[i].iov_base)
			return -EINVAL;
		if (t + iov[i].iov_len < t)
			return -EINVAL;
		t += iov[i].iov_len;
	}
	*total = t;
	return 0;
}

void
tsr_iov_cursor_init(struct tsr_iov_cursor *c, const struct iovec *iov, int cnt)
{
	c->iov = iov;
	c->cnt = cnt;
	c->idx = 0;
	c->off = 0;
}

size_t
tsr_iov_slice(struct tsr_iov_cursor *c, size_t len, size_t align, struct iovec *out,
	      int max_out, int *out_cnt)
{
	int idx = c->idx, n = 0;
	size_t off = c->off, got = 0;

	/* First pass: how much fits in max_out entries. */
	while (got < len && idx < c->cnt && n < max_out) {
		size_t avail = c->iov[idx].iov_len - off;
		size_t take = avail < len - got ? avail : len - got;

		if (take == 0) { /* empty entry or exhausted: skip without using a slot */
			idx++;
			off = 0;
			continue;
		}
		out[n].iov_base = (char *)c->iov[idx].iov_base + off;
		out[n].iov_len = take;
		n++;
		got += take;
		off += take;
		if (off == c->iov[idx].iov_len) {
			idx++;
			off = 0;
		}
	}
	if (got < len && align > 1) {
		/* Too fragmented for max_out entries: cut back to an align boundary. */
		size_t keep = got - got % align;
		size_t drop = got - keep;

		while (drop > 0 && n > 0) {
			struct iovec *last = &out[n - 1];

			if (last->iov_len <= drop) {
				drop -= last->iov_len;
				n--;
			} else {
				last->iov_len -= drop;
				drop = 0;
			}
		}
		got = keep;
		/* Re-walk the cursor by `got` bytes. */
		idx = c->idx;
		off = c->off;
		for (size_t left = got; left > 0;) {
			size_t avail = c->iov[idx].iov_len - off;

			if (avail > left) {
				off += left;
				left = 0;
			} else {
				left -= avail;
				idx++;
				off = 0;
			}
		}
	}
	c->idx = idx;
	c->off = off;
	*out_cnt = n;
	return got;
}

void
tsr_iov_zero(const struct iovec *iov, int cnt)
{
	for (int i = 0; i < cnt; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
}
