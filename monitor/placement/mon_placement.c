/* Weighted rendezvous (straw2) placement; see mon_placement.h. */
#include "mon_placement.h"

#include <math.h>
#include <string.h>

static inline uint64_t
mix64(uint64_t x)
{
	/* splitmix64 finaliser: full avalanche, cheap, stable across platforms. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

uint64_t
mon_placement_hash(uint32_t pool, uint32_t seed, uint32_t osd_id)
{
	uint64_t h = mix64(((uint64_t)pool << 32 | seed) + 0x9e3779b97f4a7c15ull);

	return mix64(h ^ mix64((uint64_t)osd_id * 0xd6e8feb86659fd93ull + 1));
}

void
mon_placement_prepare(struct mon_placement_osd *osds, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		osds[i].domain_idx = i;
		for (uint32_t j = 0; j < i; j++) {
			if (strcmp(osds[i].domain ? osds[i].domain : "",
				   osds[j].domain ? osds[j].domain : "") == 0) {
				osds[i].domain_idx = osds[j].domain_idx;
				break;
			}
		}
	}
}

static double
draw(uint32_t pool, uint32_t seed, const struct mon_placement_osd *o)
{
	uint64_t h = mon_placement_hash(pool, seed, o->id);
	/* u in (0, 1): 53 random bits, never 0 so that log() stays finite. */
	double u = ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);

	return log(u) / o->weight;
}

uint32_t
mon_placement_pg(const struct mon_placement_osd *osds, uint32_t n, uint32_t pool, uint32_t seed,
		 uint32_t size, uint32_t *out, double *scratch)
{
	uint32_t got = 0;

	for (uint32_t i = 0; i < n; i++)
		scratch[i] = osds[i].weight > 0 ? draw(pool, seed, &osds[i]) : -INFINITY;

	/*
	 * Selection by repeated maximum: size is small (<= 8), so this is
	 * O(size * n) without sorting. Ties (practically impossible) break by
	 * the lower index, which is the lower OSD id as callers pass them sorted.
	 */
	while (got < size) {
		int64_t best = -1;

		for (uint32_t i = 0; i < n; i++) {
			if (scratch[i] == -INFINITY)
				continue;
			if (best < 0 || scratch[i] > scratch[best])
				best = i;
		}
		if (best < 0)
			break;
		out[got++] = osds[best].id;
		/* Exclude the whole failure domain of the chosen OSD. */
		for (uint32_t i = 0; i < n; i++) {
			if (osds[i].domain_idx == osds[best].domain_idx)
				scratch[i] = -INFINITY;
		}
	}
	return got;
}
