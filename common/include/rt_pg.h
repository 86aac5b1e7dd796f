/*
 * Object -> placement group, and PG -> reactor: the two mappings every client
 * and every OSD must compute identically. Header-only, no dependencies.
 *
 * Object -> PG. An object (pool, oid) belongs to PG seed
 *
 *     seed = jump_consistent_hash(rt_pg_hash64(pool, oid), pool.pg_count)
 *
 * rt_pg_hash64 is the splitmix64 finaliser over the oid mixed with the pool
 * id (so equal oids in different pools spread differently); the jump
 * consistent hash (Lamping & Veach, 2014) maps it to [0, pg_count) uniformly
 * and, when pg_count grows from n to m, moves only (m - n) / m of the objects
 * (all of them to the new PGs), which keeps a later PG split cheap. The
 * monitor maps each PG to its ordered acting set (the map's PG table).
 *
 * PG -> reactor. On an OSD with N reactors, PG (pool, seed) belongs to
 * reactor seed % N (the ID sharding of the design), and a client connects to
 * the address the OSD published for that reactor. The pool id is not part of
 * it: every pool's PG s lands on the same reactor, which keeps the rule
 * trivial to compute from the map alone.
 *
 * These formulas are part of the wire contract: changing them moves data.
 */
#ifndef RT_PG_H
#define RT_PG_H

#include <stdint.h>

/* The 64-bit hash of an object name (splitmix64 finaliser). */
static inline uint64_t
rt_pg_hash64(uint32_t pool, uint64_t oid)
{
	uint64_t z = oid ^ ((uint64_t)pool * 0x9E3779B97F4A7C15ull) ^ 0x5851F42D4C957F2Dull;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Jump consistent hash: a bucket in [0, n) for key; n must be >= 1. */
static inline uint32_t
rt_pg_jump_hash(uint64_t key, uint32_t n)
{
	int64_t b = -1, j = 0;

	while (j < (int64_t)n) {
		b = j;
		key = key * 2862933555777941757ull + 1;
		j = (int64_t)((double)(b + 1) * ((double)(1ll << 31) / (double)((key >> 33) + 1)));
	}
	return (uint32_t)b;
}

/* The PG seed of object (pool, oid) in a pool of pg_count PGs (0 if pg_count is 0). */
static inline uint32_t
rt_pg_of(uint32_t pool, uint64_t oid, uint32_t pg_count)
{
	if (pg_count == 0)
		return 0;
	return rt_pg_jump_hash(rt_pg_hash64(pool, oid), pg_count);
}

/* The reactor index that serves PG seed on an OSD with n_reactors reactors. */
static inline uint32_t
rt_pg_reactor(uint32_t seed, uint32_t n_reactors)
{
	return n_reactors ? seed % n_reactors : 0;
}

#endif
