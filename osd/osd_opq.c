/* Per-object op ordering: see osd_opq.h for the rules. */
#include <stddef.h>
#include <string.h>

#include "osd_opq.h"
#include "rt_pg.h"

void
osd_opq_init(struct osd_opq *q)
{
	memset(q, 0, sizeof(*q));
}

void
osd_opq_ent_init(struct osd_opq_ent *e, struct st_obj_id obj, uint64_t off_bytes,
		 uint64_t len_bytes, bool write)
{
	memset(e, 0, sizeof(*e));
	e->obj = obj;
	if (len_bytes == 0) {
		e->off_bytes = 0;
		e->end_bytes = UINT64_MAX;
	} else {
		e->off_bytes = off_bytes;
		e->end_bytes = off_bytes + len_bytes < off_bytes ? UINT64_MAX : off_bytes + len_bytes;
	}
	e->write = write;
}

static uint32_t
bucket_of(struct st_obj_id obj)
{
	return (uint32_t)(rt_pg_hash64(obj.pool, obj.oid) % OSD_OPQ_BUCKETS);
}

static bool
conflicts(const struct osd_opq_ent *a, const struct osd_opq_ent *b)
{
	if (a->obj.pool != b->obj.pool || a->obj.oid != b->obj.oid)
		return false;
	if (!a->write && !b->write)
		return false;
	return a->off_bytes < b->end_bytes && b->off_bytes < a->end_bytes;
}

/* May e start: no earlier entry of its bucket conflicts with it. */
static bool
can_start(const struct osd_opq_ent *e)
{
	for (const struct osd_opq_ent *p = e->prev; p; p = p->prev)
		if (conflicts(p, e))
			return false;
	return true;
}

bool
osd_opq_add(struct osd_opq *q, struct osd_opq_ent *e)
{
	uint32_t b = bucket_of(e->obj);

	e->next = NULL;
	e->prev = q->tail[b];
	if (q->tail[b])
		q->tail[b]->next = e;
	else
		q->head[b] = e;
	q->tail[b] = e;
	if (can_start(e)) {
		e->running = true;
		e->queued = false;
		q->n_running++;
		return true;
	}
	e->running = false;
	e->queued = true;
	q->n_queued++;
	return false;
}

static void
unlink_ent(struct osd_opq *q, struct osd_opq_ent *e)
{
	uint32_t b = bucket_of(e->obj);

	if (e->prev)
		e->prev->next = e->next;
	else
		q->head[b] = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		q->tail[b] = e->prev;
	e->prev = e->next = NULL;
}

void
osd_opq_done(struct osd_opq *q, struct osd_opq_ent *e, osd_opq_ready_fn ready, void *arg)
{
	uint32_t b = bucket_of(e->obj);
	struct osd_opq_ent *first = NULL, **lastp = &first;

	if (!e->running)
		return;
	e->running = false;
	q->n_running--;
	unlink_ent(q, e);
	/* Collect everything that may start now, then call back. */
	for (struct osd_opq_ent *w = q->head[b]; w; w = w->next) {
		if (!w->queued || !can_start(w))
			continue;
		w->queued = false;
		w->running = true;
		q->n_queued--;
		q->n_running++;
		w->ready_next = NULL;
		*lastp = w;
		lastp = &w->ready_next;
	}
	while (first) {
		struct osd_opq_ent *w = first;

		first = w->ready_next;
		w->ready_next = NULL;
		if (ready)
			ready(w, arg);
	}
}

void
osd_opq_cancel(struct osd_opq *q, struct osd_opq_ent *e)
{
	if (!e->queued)
		return;
	e->queued = false;
	q->n_queued--;
	unlink_ent(q, e);
}
