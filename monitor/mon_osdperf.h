/*
 * OSD performance counters: the latency histogram shared by the OSD (which
 * fills it) and the monitor (which keeps the last heartbeat's copy and shows
 * percentiles in `osdctl osd perf`).
 *
 * Histogram: HDR-like, in microseconds, 4 linear sub-buckets per power of
 * two, so a bucket's width is at most a quarter of its lower bound (a
 * percentile read from it is within 25%). Buckets 0..3 hold 0..3 us exactly;
 * bucket 4*(m-1)+s (m >= 2, s = 0..3) holds [(4+s) << (m-2), (5+s) << (m-2)).
 * The last bucket also takes everything above ~117 s. 104 buckets of u64 per
 * op class: small enough to send every heartbeat (packed varints, zeros are
 * one byte).
 *
 * Counters are cumulative since the OSD started (a restart starts them at
 * zero again): percentiles over the OSD's lifetime come from one report,
 * rates and recent percentiles from the difference of the last two reports
 * (the monitor keeps both).
 *
 * Pure data: no clock, no network; times are arguments.
 */
#ifndef MON_OSDPERF_H
#define MON_OSDPERF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define MON_PERF_BUCKETS 104
#define MON_PERF_MAX_REACTORS 64

/* Op classes, in the order of mon_perf_class_names. */
enum mon_perf_class {
	MON_PERF_READ = 0,    /* client reads */
	MON_PERF_WRITE = 1,   /* client mutations: write, discard, write-zeroes, delete, c&w */
	MON_PERF_OTHER = 2,   /* client stat, sync and ops refused before running */
	MON_PERF_REPLICA = 3, /* RepOps applied as a replica */
	MON_PERF_NCLASS = 4,
};

extern const char *const mon_perf_class_names[MON_PERF_NCLASS];

struct mon_perf_hist {
	uint64_t ops;        /* sum of b[] */
	uint64_t bytes;      /* payload bytes of the ops that succeeded */
	uint64_t errors;     /* ops answered with an error status */
	uint64_t lat_sum_us; /* for the mean */
	uint64_t b[MON_PERF_BUCKETS];
};

struct mon_reactor_perf {
	uint32_t reactor;
	uint64_t inflight;     /* ops in flight (client and replica) at the report */
	uint64_t inflight_max; /* peak since the previous report */
	struct mon_perf_hist cls[MON_PERF_NCLASS];
};

static inline uint32_t
mon_perf_bucket(uint64_t us)
{
	uint32_t msb, idx;

	if (us < 4)
		return (uint32_t)us;
	msb = 63u - (uint32_t)__builtin_clzll(us);
	idx = (msb - 1) * 4 + (uint32_t)((us >> (msb - 2)) & 3);
	return idx < MON_PERF_BUCKETS ? idx : MON_PERF_BUCKETS - 1;
}

static inline void
mon_perf_record(struct mon_perf_hist *h, uint64_t us, uint64_t bytes, bool ok)
{
	h->ops++;
	h->lat_sum_us += us;
	h->b[mon_perf_bucket(us)]++;
	if (ok)
		h->bytes += bytes;
	else
		h->errors++;
}

/* Lowest latency of bucket i, and the highest (inclusive). */
uint64_t mon_perf_bucket_low(uint32_t i);
uint64_t mon_perf_bucket_high(uint32_t i);

/*
 * The q-quantile (0 < q <= 1) of h: the upper bound of the bucket holding
 * the ceil(q * ops)-th smallest latency. 0 if h is empty.
 */
uint64_t mon_perf_quantile(const struct mon_perf_hist *h, double q);

/* d = a - b, bucket by bucket (b older than a; a counter that went back, i.e.
 * the OSD restarted, makes d = a). */
void mon_perf_hist_sub(const struct mon_perf_hist *a, const struct mon_perf_hist *b,
                       struct mon_perf_hist *d);
/* acc += h. */
void mon_perf_hist_add(struct mon_perf_hist *acc, const struct mon_perf_hist *h);

/* The last two reports of one OSD. */
struct mon_osdperf_osd {
	uint32_t osd_id;
	uint64_t at_us, prev_at_us; /* monotonic arrival times; prev_at_us 0: none */
	uint32_t n, prev_n;
	struct mon_reactor_perf *cur, *prev; /* MON_PERF_MAX_REACTORS each */
};

struct mon_osdperf {
	struct mon_osdperf_osd *osds;
	uint32_t n, cap;
};

void mon_osdperf_fini(struct mon_osdperf *s);
/* Keep a new report of osd_id (n reactors). Returns 0, -EINVAL (too many reactors), -ENOMEM. */
int mon_osdperf_update(struct mon_osdperf *s, uint32_t osd_id, uint64_t now_us,
                       const struct mon_reactor_perf *rs, uint32_t n);
const struct mon_osdperf_osd *mon_osdperf_get(const struct mon_osdperf *s, uint32_t osd_id);
void mon_osdperf_forget(struct mon_osdperf *s, uint32_t osd_id);

/*
 * `osd perf` output for one OSD (o may be NULL: no report yet): JSON object
 * into j, table lines into text (header with mon_osdperf_text_header).
 * Percentiles are over the OSD's lifetime, rates over the last interval.
 */
struct mon_json;
void mon_osdperf_text_header(FILE *text);
void mon_osdperf_emit(const struct mon_osdperf_osd *o, uint32_t osd_id, bool up, uint64_t now_us,
                      struct mon_json *j, FILE *text);

#endif
