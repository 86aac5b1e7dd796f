/*
 * Cluster health: HEALTH_OK / HEALTH_WARN / HEALTH_ERR with the checks that
 * fired, each with a code (as Ceph's OSD_DOWN, PG_DEGRADED) and a sentence.
 * A pure function of the map plus the monitor's volatile knowledge (quorum,
 * OSD usage from heartbeats), so that it is unit-testable.
 */
#ifndef MON_HEALTH_H
#define MON_HEALTH_H

#include <stdint.h>

#include "mon_map.h"
#include "mon_pgstat.h"

enum mon_health_level {
	MON_HEALTH_OK = 0,
	MON_HEALTH_WARN = 1,
	MON_HEALTH_ERR = 2,
};

#define MON_HEALTH_MAX_CHECKS 16

struct mon_health_check {
	enum mon_health_level level;
	char code[32];
	char msg[192];
};

struct mon_health {
	enum mon_health_level level;
	uint32_t n_checks;
	struct mon_health_check checks[MON_HEALTH_MAX_CHECKS];
};

struct mon_health_in {
	const struct mon_map *map;
	uint32_t n_mons;        /* monitors configured */
	uint32_t n_mons_quorum; /* monitors the leader hears from (itself included) */
	/* Usage per OSD, parallel to map->osds; NULL: use the map's used_bytes. */
	const uint64_t *osd_used_bytes;
	double nearfull_ratio; /* e.g. 0.85 */
	double full_ratio;     /* e.g. 0.95 */
	/*
	 * PG states reported by OSDs (NULL: states computed from the map only),
	 * used while younger than pg_max_age_us at now_us.
	 */
	const struct mon_pgstats *pgstats;
	uint64_t now_us;
	uint64_t pg_max_age_us;
};

/*
 * PG rules: HEALTH_OK only when every PG is active+clean; PG_DEGRADED (WARN)
 * for PGs degraded, undersized, recovering, backfilling or peering;
 * PG_AVAILABILITY (ERR) for PGs down, incomplete, inactive or below min_size.
 */

void mon_health_compute(const struct mon_health_in *in, struct mon_health *out);
const char *mon_health_level_name(enum mon_health_level l);

#endif
