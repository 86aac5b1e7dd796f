/*
 * Placement: which OSDs hold a PG, computed by the monitor and stored in the
 * map (clients only look it up).
 *
 * Weighted rendezvous hashing, as Ceph's straw2 bucket: for PG (pool, seed)
 * every candidate OSD draws  ln(u) / weight  with u in (0, 1) taken from a
 * deterministic 64-bit hash of (pool, seed, osd id); the OSDs are ranked by
 * draw, highest first, and the acting set takes them in that order, skipping
 * an OSD whose failure domain already holds a replica. Because each OSD's draw
 * depends only on itself, adding or removing an OSD moves only the slots it
 * wins or held (about 1/(N+1) of them), and a weight change moves slots only
 * to or from that OSD.
 *
 * Replicas always land in distinct failure domains: with fewer domains than
 * `size`, the PG gets fewer replicas (undersized) rather than two copies in
 * one domain.
 */
#ifndef MON_PLACEMENT_H
#define MON_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

struct mon_placement_osd {
	uint32_t id;
	double weight;      /* <= 0: never chosen */
	const char *domain; /* failure domain name */
	uint32_t domain_idx; /* filled by mon_placement_prepare() */
};

/* The deterministic hash behind the draws (exposed for tests). */
uint64_t mon_placement_hash(uint32_t pool, uint32_t seed, uint32_t osd_id);

/* Number domains (domain_idx) so that choosing compares integers. */
void mon_placement_prepare(struct mon_placement_osd *osds, uint32_t n);

/*
 * Choose up to `size` OSDs for PG (pool, seed) from osds[0..n) (prepared).
 * Writes the ordered ids to out[] and returns how many (0..size).
 * scratch must have room for n entries.
 */
uint32_t mon_placement_pg(const struct mon_placement_osd *osds, uint32_t n, uint32_t pool,
			  uint32_t seed, uint32_t size, uint32_t *out, double *scratch);

#endif
