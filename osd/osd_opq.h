/*
 * Per-object op ordering on the primary.
 *
 * Every client op of a PG passes through the PG's queue before it touches the
 * store. Ops on one object run in arrival order where they conflict: two ops
 * conflict if they name the same object, their byte ranges overlap, and at
 * least one of them modifies the object. An op may start once no EARLIER op
 * of the same object that conflicts with it is still queued or running
 * (waiting ops count too, so a writer is never starved by a stream of later
 * readers). Non-conflicting ops (reads of one range, writes to disjoint
 * ranges, other objects) run in parallel. Whole-object ops (delete, stat)
 * use the range [0, UINT64_MAX).
 *
 * This is what makes "reads see every acknowledged write" and "writes to an
 * object are applied in one order on every replica" hold: the primary never
 * has two conflicting mutations in flight (libstore leaves their order
 * unspecified), and a version is assigned when an op starts.
 *
 * Entries are embedded in the caller's op (no allocation); objects hash into
 * a fixed number of buckets, each an arrival-ordered list. Single-threaded:
 * only the PG's reactor touches it.
 */
#ifndef OSD_OPQ_H
#define OSD_OPQ_H

#include <stdbool.h>
#include <stdint.h>

#include "st.h"

#define OSD_OPQ_BUCKETS 64

struct osd_opq_ent {
	struct st_obj_id obj;
	uint64_t off_bytes;
	uint64_t end_bytes; /* exclusive */
	bool write;
	/* Set after init for an entry that is not a client op (scrub): called
	 * instead of the op start when the entry may run. */
	void (*on_ready)(struct osd_opq_ent *e);
	/* Private. */
	bool running;
	bool queued;
	struct osd_opq_ent *prev, *next; /* bucket list, arrival order */
	struct osd_opq_ent *ready_next;
};

struct osd_opq {
	struct osd_opq_ent *head[OSD_OPQ_BUCKETS];
	struct osd_opq_ent *tail[OSD_OPQ_BUCKETS];
	uint32_t n_queued;  /* waiting */
	uint32_t n_running;
};

void osd_opq_init(struct osd_opq *q);

/* Describe an op before adding it. len_bytes 0 means the whole object. */
void osd_opq_ent_init(struct osd_opq_ent *e, struct st_obj_id obj, uint64_t off_bytes,
		      uint64_t len_bytes, bool write);

/* Add e (at the end of its object's order). Returns true if e may start now
 * (it is then running), false if it waits. */
bool osd_opq_add(struct osd_opq *q, struct osd_opq_ent *e);

typedef void (*osd_opq_ready_fn)(struct osd_opq_ent *e, void *arg);

/*
 * Remove a running entry that finished. Every waiting entry that may start
 * now is marked running and passed to ready(e, arg), in arrival order, after
 * the queue is consistent again (ready may add or finish entries).
 */
void osd_opq_done(struct osd_opq *q, struct osd_opq_ent *e, osd_opq_ready_fn ready, void *arg);

/* Remove a waiting (not running) entry, e.g. an op cancelled at shutdown. */
void osd_opq_cancel(struct osd_opq *q, struct osd_opq_ent *e);

static inline bool
osd_opq_is_empty(const struct osd_opq *q)
{
	return q->n_queued == 0 && q->n_running == 0;
}

#endif
