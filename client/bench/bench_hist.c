#include "bench_hist.h"

#include <string.h>

void
bench_hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned
bench_hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < BENCH_HIST_LINEAR)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	if (msb > BENCH_HIST_MAX_MSB)
		return BENCH_HIST_BUCKETS - 1;
	/* v >> shift lands in [64, 128): the top 7 bits of v. */
	shift = msb - BENCH_HIST_SUB_BITS;
	return BENCH_HIST_LINEAR + (shift - 1) * (1u << BENCH_HIST_SUB_BITS) +
	       (unsigned)((v >> shift) - (1u << BENCH_HIST_SUB_BITS));
}

void
bench_hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi)
{
	unsigned shift, sub;

	if (idx < BENCH_HIST_LINEAR) {
		*lo = *hi = idx;
		return;
	}
	idx -= BENCH_HIST_LINEAR;
	shift = idx / (1u << BENCH_HIST_SUB_BITS) + 1;
	sub = idx % (1u << BENCH_HIST_SUB_BITS) + (1u << BENCH_HIST_SUB_BITS);
	*lo = (uint64_t)sub << shift;
	*hi = *lo + ((uint64_t)1 << shift) - 1;
}

void
bench_hist_record(struct bench_hist *h, uint64_t v)
{
	h->buckets[bench_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	if (src->count == 0)
		return;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
bench_hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t want, seen = 0, lo, hi, mid;

	if (h->count == 0)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	want = (uint64_t)(q * (double)h->count + 0.999999);
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen < want)
			continue;
		bench_hist_bucket_range(i, &lo, &hi);
		mid = lo + (hi - lo) / 2;
		if (mid < h->min)
			mid = h->min;
		if (mid > h->max)
			mid = h->max;
		return mid;
	}
	return h->max;
}

double
bench_hist_mean(const struct bench_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
