/*
 * Latency histogram for tessera-bench: log-linear buckets in the manner of
 * HdrHistogram. Values (nanoseconds) below 128 get a bucket each; above that,
 * every power of two is split into 64 linear sub-buckets, so a recorded value
 * is known to within 1/64 (1.6%) of itself. The bucket array is fixed-size and
 * embedded, so recording never allocates and costs a clz and an add.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_LINEAR 128u   /* values 0..127 map one to one */
#define BENCH_HIST_SUB_BITS 6u   /* 64 sub-buckets per power of two above that */
#define BENCH_HIST_MAX_MSB 44u   /* values up to 2^45 ns (about 9.7 hours) */
#define BENCH_HIST_BUCKETS                                                                 \
	(BENCH_HIST_LINEAR + (BENCH_HIST_MAX_MSB - BENCH_HIST_SUB_BITS) * (1u << BENCH_HIST_SUB_BITS))

struct bench_hist {
	uint64_t count;
	uint64_t sum;  /* of recorded values, for the exact mean */
	uint64_t min;
	uint64_t max;
	uint64_t buckets[BENCH_HIST_BUCKETS];
};

void bench_hist_init(struct bench_hist *h);
void bench_hist_record(struct bench_hist *h, uint64_t value);
/* dst += src. */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/*
 * The value at quantile q (0..1]: the smallest bucket value v such that at least
 * q of the samples are <= v, reported as the bucket's midpoint (clamped to
 * [min, max]). 0 for an empty histogram.
 */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);
double bench_hist_mean(const struct bench_hist *h);

/* Bucket index of a value and the [lo, hi] range a bucket covers (for tests). */
unsigned bench_hist_index(uint64_t value);
void bench_hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi);

#endif
