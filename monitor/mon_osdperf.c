/* OSD performance counters kept by the monitor (see mon_osdperf.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mon_osdperf.h"

const char *const mon_perf_class_names[MON_PERF_NCLASS] = { "read", "write", "other",
							    "replica" };

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
	d->lat_sum_us = a->lat_sum_us >= b->lat_sum_us ? a->lat_sum_us - b->lat_sum_us
						       : a->lat_sum_us;
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
