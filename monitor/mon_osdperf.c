/* OSD performance counters kept by the monitor (see mon_osdperf.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon_json.h"
#include "mon_osdperf.h"

const char *const mon_perf_class_names[MON_PERF_NCLASS] = {"read", "write", "other", "replica"};

uint64_t
mon_perf_bucket_low(uint32_t i)
{
	if (i < 4)
		return i;
	return (uint64_t)(4 + i % 4) << (i / 4 - 1);
}

uint64_t
mon_perf_bucket_high(uint32_t i)
{
	if (i < 4)
		return i;
	return mon_perf_bucket_low(i) + ((uint64_t)1 << (i / 4 - 1)) - 1;
}

uint64_t
mon_perf_quantile(const struct mon_perf_hist *h, double q)
{
	uint64_t total = 0, rank, acc = 0;

	for (uint32_t i = 0; i < MON_PERF_BUCKETS; i++)
		total += h->b[i];
	if (total == 0)
		return 0;
	if (q <= 0)
		q = 1e-9;
	if (q > 1)
		q = 1;
	rank = (uint64_t)((double)total * q);
	if ((double)rank < (double)total * q)
		rank++;
	if (rank == 0)
		rank = 1;
	for (uint32_t i = 0; i < MON_PERF_BUCKETS; i++) {
		acc += h->b[i];
		if (acc >= rank)
			return mon_perf_bucket_high(i);
	}
	return mon_perf_bucket_high(MON_PERF_BUCKETS - 1);
}

void
mon_perf_hist_sub(const struct mon_perf_hist *a, const struct mon_perf_hist *b,
                  struct mon_perf_hist *d)
{
	bool restarted = a->ops < b->ops;

	for (uint32_t i = 0; i < MON_PERF_BUCKETS && !restarted; i++)
		restarted = a->b[i] < b->b[i];
	if (restarted) {
		*d = *a;
		return;
	}
	d->ops = a->ops - b->ops;
	d->bytes = a->bytes >= b->bytes ? a->bytes - b->bytes : a->bytes;
	d->errors = a->errors >= b->errors ? a->errors - b->errors : a->errors;
	d->lat_sum_us =
	    a->lat_sum_us >= b->lat_sum_us ? a->lat_sum_us - b->lat_sum_us : a->lat_sum_us;
	for (uint32_t i = 0; i < MON_PERF_BUCKETS; i++)
		d->b[i] = a->b[i] - b->b[i];
}

void
mon_perf_hist_add(struct mon_perf_hist *acc, const struct mon_perf_hist *h)
{
	acc->ops += h->ops;
	acc->bytes += h->bytes;
	acc->errors += h->errors;
	acc->lat_sum_us += h->lat_sum_us;
	for (uint32_t i = 0; i < MON_PERF_BUCKETS; i++)
		acc->b[i] += h->b[i];
}

void
mon_osdperf_fini(struct mon_osdperf *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		free(s->osds[i].cur);
		free(s->osds[i].prev);
	}
	free(s->osds);
	memset(s, 0, sizeof(*s));
}

static struct mon_osdperf_osd *
find(const struct mon_osdperf *s, uint32_t osd_id)
{
	for (uint32_t i = 0; i < s->n; i++) {
		if (s->osds[i].osd_id == osd_id)
			return &s->osds[i];
	}
	return NULL;
}

const struct mon_osdperf_osd *
mon_osdperf_get(const struct mon_osdperf *s, uint32_t osd_id)
{
	return find(s, osd_id);
}

int
mon_osdperf_update(struct mon_osdperf *s, uint32_t osd_id, uint64_t now_us,
                   const struct mon_reactor_perf *rs, uint32_t n)
{
	struct mon_osdperf_osd *o = find(s, osd_id);
	struct mon_reactor_perf *t;

	if (n > MON_PERF_MAX_REACTORS)
		return -EINVAL;
	if (!o) {
		if (s->n == s->cap) {
			uint32_t cap = s->cap ? s->cap * 2 : 8;
			struct mon_osdperf_osd *no = realloc(s->osds, cap * sizeof(*no));

			if (!no)
				return -ENOMEM;
			s->osds = no;
			s->cap = cap;
		}
		o = &s->osds[s->n];
		memset(o, 0, sizeof(*o));
		o->cur = calloc(MON_PERF_MAX_REACTORS, sizeof(*o->cur));
		o->prev = calloc(MON_PERF_MAX_REACTORS, sizeof(*o->prev));
		if (!o->cur || !o->prev) {
			free(o->cur);
			free(o->prev);
			return -ENOMEM;
		}
		o->osd_id = osd_id;
		s->n++;
	}
	/* The current report becomes the previous one (swap the arrays). */
	t = o->prev;
	o->prev = o->cur;
	o->cur = t;
	o->prev_n = o->n;
	o->prev_at_us = o->at_us;
	memcpy(o->cur, rs, n * sizeof(*rs));
	o->n = n;
	o->at_us = now_us;
	return 0;
}

void
mon_osdperf_forget(struct mon_osdperf *s, uint32_t osd_id)
{
	struct mon_osdperf_osd *o = find(s, osd_id);

	if (!o)
		return;
	free(o->cur);
	free(o->prev);
	*o = s->osds[--s->n];
}

/* ---- osd perf output -------------------------------------------------------------------- */

void
mon_osdperf_text_header(FILE *text)
{
	fprintf(text, "%-6s %-7s %-4s %-5s %-8s %10s %8s %12s %6s %8s %8s %8s %8s\n", "OSD",
	        "REACTOR", "QD", "QDMAX", "CLASS", "OPS", "IOPS", "BYTES", "ERR", "MEAN_US",
	        "P50_US", "P99_US", "P999_US");
}

static void
emit_class(struct mon_json *j, FILE *text, const char *osd, const char *reactor, uint64_t qd,
           uint64_t qd_max, const char *name, const struct mon_perf_hist *h,
           const struct mon_perf_hist *recent, double interval_s)
{
	uint64_t mean = h->ops ? h->lat_sum_us / h->ops : 0;
	uint64_t p50 = mon_perf_quantile(h, 0.5), p99 = mon_perf_quantile(h, 0.99);
	uint64_t p999 = mon_perf_quantile(h, 0.999);
	double iops = recent && interval_s > 0 ? (double)recent->ops / interval_s : 0;
	double bps = recent && interval_s > 0 ? (double)recent->bytes / interval_s : 0;

	mon_json_obj_begin(j, name);
	mon_json_u64(j, "ops", h->ops);
	mon_json_u64(j, "bytes", h->bytes);
	mon_json_u64(j, "errors", h->errors);
	mon_json_u64(j, "lat_mean_us", mean);
	mon_json_u64(j, "lat_p50_us", p50);
	mon_json_u64(j, "lat_p99_us", p99);
	mon_json_u64(j, "lat_p999_us", p999);
	mon_json_double(j, "iops", iops);
	mon_json_double(j, "bytes_per_sec", bps);
	if (recent) {
		mon_json_u64(j, "recent_ops", recent->ops);
		mon_json_u64(j, "recent_lat_p99_us", mon_perf_quantile(recent, 0.99));
	}
	/* Non-empty buckets: [highest latency of the bucket in us, count]. */
	mon_json_arr_begin(j, "lat_hist");
	for (uint32_t i = 0; i < MON_PERF_BUCKETS; i++) {
		if (!h->b[i])
			continue;
		mon_json_arr_begin(j, NULL);
		mon_json_u64(j, NULL, mon_perf_bucket_high(i));
		mon_json_u64(j, NULL, h->b[i]);
		mon_json_arr_end(j);
	}
	mon_json_arr_end(j);
	mon_json_obj_end(j);
	if (h->ops)
		fprintf(text,
		        "%-6s %-7s %-4" PRIu64 " %-5" PRIu64 " %-8s %10" PRIu64 " %8.0f %12" PRIu64
		        " %6" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 "\n",
		        osd, reactor, qd, qd_max, name, h->ops, iops, h->bytes, h->errors, mean,
		        p50, p99, p999);
}

void
mon_osdperf_emit(const struct mon_osdperf_osd *o, uint32_t osd_id, bool up, uint64_t now_us,
                 struct mon_json *j, FILE *text)
{
	struct mon_perf_hist tot[MON_PERF_NCLASS], rtot[MON_PERF_NCLASS];
	char osd[16], rname[16];
	double interval_s = 0;
	bool have_prev;
	uint64_t qd = 0, qd_max = 0;

	snprintf(osd, sizeof(osd), "osd.%u", osd_id);
	mon_json_obj_begin(j, NULL);
	mon_json_u64(j, "id", osd_id);
	mon_json_bool(j, "up", up);
	if (!o) {
		mon_json_bool(j, "reported", false);
		mon_json_obj_end(j);
		fprintf(text, "%-6s (no report yet)\n", osd);
		return;
	}
	have_prev = o->prev_at_us && o->prev_n == o->n && o->at_us > o->prev_at_us;
	if (have_prev)
		interval_s = (double)(o->at_us - o->prev_at_us) / 1e6;
	mon_json_bool(j, "reported", true);
	mon_json_u64(j, "report_age_ms", now_us > o->at_us ? (now_us - o->at_us) / 1000 : 0);
	mon_json_u64(j, "interval_ms", have_prev ? (o->at_us - o->prev_at_us) / 1000 : 0);
	memset(tot, 0, sizeof(tot));
	memset(rtot, 0, sizeof(rtot));
	mon_json_arr_begin(j, "reactors");
	for (uint32_t i = 0; i < o->n; i++) {
		const struct mon_reactor_perf *rp = &o->cur[i];

		snprintf(rname, sizeof(rname), "%u", rp->reactor);
		mon_json_obj_begin(j, NULL);
		mon_json_u64(j, "reactor", rp->reactor);
		mon_json_u64(j, "inflight", rp->inflight);
		mon_json_u64(j, "inflight_max", rp->inflight_max);
		qd += rp->inflight;
		qd_max += rp->inflight_max;
		for (uint32_t c = 0; c < MON_PERF_NCLASS; c++) {
			struct mon_perf_hist rec;

			if (have_prev)
				mon_perf_hist_sub(&rp->cls[c], &o->prev[i].cls[c], &rec);
			emit_class(j, text, osd, rname, rp->inflight, rp->inflight_max,
			           mon_perf_class_names[c], &rp->cls[c], have_prev ? &rec : NULL,
			           interval_s);
			mon_perf_hist_add(&tot[c], &rp->cls[c]);
			if (have_prev)
				mon_perf_hist_add(&rtot[c], &rec);
		}
		mon_json_obj_end(j);
	}
	mon_json_arr_end(j);
	mon_json_obj_begin(j, "total");
	mon_json_u64(j, "inflight", qd);
	mon_json_u64(j, "inflight_max", qd_max);
	for (uint32_t c = 0; c < MON_PERF_NCLASS; c++)
		emit_class(j, text, osd, "all", qd, qd_max, mon_perf_class_names[c], &tot[c],
		           have_prev ? &rtot[c] : NULL, interval_s);
	mon_json_obj_end(j);
	mon_json_obj_end(j);
}
