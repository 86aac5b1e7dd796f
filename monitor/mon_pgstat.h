/*
 * PG states reported by the OSDs: soft state kept in the leader's memory.
 *
 * Each OsdHeartbeat carries a PgStat for every PG its sender is primary of.
 * The leader keeps, per PG, the last report of its *current* primary, with
 * the map epoch the OSD had when it reported and the acting set of that
 * epoch. A report counts only if:
 *   - the reporter is the PG's primary in the current map, and
 *   - the reporter's map epoch is known (current or in history) and shows the
 *     same acting set as the current map (a report computed against an older
 *     acting set says nothing about the current one), and
 *   - it is not older than the report already kept for that acting set.
 * When shown, a kept report is used only while it is fresh (younger than
 * max_age, the OSD grace) and the acting set is still the one it was made
 * against; otherwise the state computed from the map is shown, except that
 * a PG whose acting set changed since a fresh report, and which the map
 * would call clean, shows "peering" until its new primary reports (the new
 * members are being brought up to date: the map cannot know). The map's
 * verdict also wins when it says the PG is down or below min_size: those are
 * facts of the map, whatever an OSD last said; so is "incomplete", a fact of
 * the map's history (mon_pg_is_incomplete).
 *
 * None of this goes through Raft (a heartbeat per OSD per second would bloat
 * the log for state that is stale seconds later): after a leader change the
 * new leader knows no report and shows map-computed states until the next
 * heartbeats arrive.
 *
 * Pure data structure: no clock, no network; times are arguments.
 */
#ifndef MON_PGSTAT_H
#define MON_PGSTAT_H

#include <stdbool.h>
#include <stdint.h>

#include "mon_map.h"

#define MON_PG_STATE_MAX 48    /* longest state string kept */
#define MON_PG_HIST_MAX 32     /* distinct states counted by mon_pgstats_hist */

/* Severity of a PG state string, for health. */
enum mon_pg_class {
	MON_PGC_CLEAN = 0, /* active+clean (scrubbing allowed) */
	MON_PGC_WARN = 1,  /* degraded, undersized, recovering, backfilling, peering, ... */
	MON_PGC_ERR = 2,   /* down, incomplete, inactive, below min_size (peered) */
};

struct mon_pg_report {
	bool valid;
	uint32_t reporter;
	uint64_t epoch;     /* the map epoch the reporter had */
	uint64_t at_us;     /* monotonic time the report arrived */
	uint8_t n_acting;   /* acting set the report was made against */
	uint32_t acting[MON_MAX_REPLICAS];
	char state[MON_PG_STATE_MAX];
};

struct mon_pgstats_pool {
	uint32_t pool;
	uint32_t pg_count;
	struct mon_pg_report *pgs; /* pg_count entries */
};

struct mon_pgstats {
	struct mon_pgstats_pool *pools;
	uint32_t n_pools;
	/*
	 * Maps older than the current one (any order, NULLs allowed; the
	 * monitor's history ring) and the current epoch, for "incomplete"
	 * (mon_pg_is_incomplete). NULL: no history, never incomplete.
	 */
	struct mon_map *const *hist;
	uint32_t n_hist;
	uint64_t cur_epoch;
};

void mon_pgstats_init(struct mon_pgstats *s);
void mon_pgstats_fini(struct mon_pgstats *s);
/* Forget every report (leader change). */
void mon_pgstats_clear(struct mon_pgstats *s);

/*
 * Record one report. cur: the current map; at: the map of the reporter's
 * epoch (cur itself, one from history, or NULL if unknown). Returns 0 when
 * kept, -ENOENT for a PG that does not exist, -ESTALE when ignored (not the
 * primary, unknown epoch, another acting set, older than what is kept),
 * -EINVAL for an empty, unknown or over-long state, -ENOMEM.
 */
int mon_pgstats_report(struct mon_pgstats *s, const struct mon_map *cur, const struct mon_map *at,
		       uint32_t reporter, uint64_t epoch, uint32_t pool, uint32_t seed,
		       const char *state, uint64_t now_us);

/*
 * The state to show for PG (pool, seed) of map m: a fresh valid report, or
 * the state computed from the map. *reported (may be NULL) says which.
 * s may be NULL (map only). The string lives in s or is static.
 */
const char *mon_pgstats_state(const struct mon_pgstats *s, const struct mon_pool *pool,
			      uint32_t seed, uint64_t now_us, uint64_t max_age_us, bool *reported);

enum mon_pg_class mon_pg_state_class(const char *state);

/*
 * Incomplete: the members that may hold the PG's newest data are all gone.
 * Walking the history back from the current map (whose acting set, the up
 * members, is `cur`), skip the epochs of the current interval (same acting
 * set); the first earlier epoch whose acting set had at least min_size
 * members could have accepted writes that the current members may not have:
 * if none of its members is in the current acting set, the PG is
 * incomplete. (The map's acting sets hold up OSDs only.) The walk stops at a
 * gap in the history, at a change of the pool's pg_count, or where the pool
 * did not exist; history older than what the monitor keeps is not seen.
 * Shown as "incomplete" in place of the state the map or a report gives,
 * except "down" (no member up).
 */
bool mon_pg_is_incomplete(const struct mon_pgstats *s, const struct mon_pool *pool,
			  uint32_t seed);

/* Counts of the states shown for every PG of a map. */
struct mon_pg_hist {
	uint32_t total;
	uint32_t n_reported;          /* PGs shown with a reported state */
	uint32_t by_class[3];         /* indexed by enum mon_pg_class */
	uint32_t n;                   /* distinct states */
	struct {
		char state[MON_PG_STATE_MAX];
		uint32_t count;
	} st[MON_PG_HIST_MAX];        /* further states are counted as "other" */
	uint32_t other;
};

void mon_pgstats_hist(const struct mon_pgstats *s, const struct mon_map *m, uint64_t now_us,
		      uint64_t max_age_us, struct mon_pg_hist *h);

#endif
