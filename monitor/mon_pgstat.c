/* PG states reported by OSDs, kept on the leader; see mon_pgstat.h. */
#include "mon_pgstat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
mon_pgstats_init(struct mon_pgstats *s)
{
	memset(s, 0, sizeof(*s));
}

void
mon_pgstats_fini(struct mon_pgstats *s)
{
	for (uint32_t i = 0; i < s->n_pools; i++)
		free(s->pools[i].pgs);
	free(s->pools);
	memset(s, 0, sizeof(*s));
}

void
mon_pgstats_clear(struct mon_pgstats *s)
{
	for (uint32_t i = 0; i < s->n_pools; i++)
		memset(s->pools[i].pgs, 0, s->pools[i].pg_count * sizeof(*s->pools[i].pgs));
}

static struct mon_pgstats_pool *
pool_find(const struct mon_pgstats *s, uint32_t pool)
{
	for (uint32_t i = 0; i < s->n_pools; i++) {
		if (s->pools[i].pool == pool)
			return &s->pools[i];
	}
	return NULL;
}

/* The pool's report table sized for pg_count (emptied if the count changed). */
static struct mon_pgstats_pool *
pool_get(struct mon_pgstats *s, uint32_t pool, uint32_t pg_count)
{
	struct mon_pgstats_pool *p = pool_find(s, pool);
	struct mon_pg_report *pgs;

	if (p && p->pg_count == pg_count)
		return p;
	pgs = calloc(pg_count, sizeof(*pgs));
	if (!pgs)
		return NULL;
	if (!p) {
		struct mon_pgstats_pool *np = realloc(s->pools, (s->n_pools + 1) * sizeof(*np));

		if (!np) {
			free(pgs);
			return NULL;
		}
		s->pools = np;
		p = &s->pools[s->n_pools++];
		p->pool = pool;
	} else {
		free(p->pgs);
	}
	p->pg_count = pg_count;
	p->pgs = pgs;
	return p;
}

static bool
acting_equal(const struct mon_pg *pg, uint8_t n, const uint32_t *acting)
{
	if (pg->n_acting != n)
		return false;
	for (uint8_t i = 0; i < n; i++) {
		if (pg->acting[i] != acting[i])
			return false;
	}
	return true;
}

/* Valid states: lower-case words joined by '+', not "unknown". */
static bool
state_is_valid(const char *st)
{
	size_t len;

	if (!st || !*st || strcmp(st, "unknown") == 0)
		return false;
	len = strlen(st);
	if (len >= MON_PG_STATE_MAX || st[0] == '+' || st[len - 1] == '+')
		return false;
	for (const char *p = st; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || *p == '_' || *p == '+'))
			return false;
	}
	return true;
}

int
mon_pgstats_report(struct mon_pgstats *s, const struct mon_map *cur, const struct mon_map *at,
		   uint32_t reporter, uint64_t epoch, uint32_t pool, uint32_t seed,
		   const char *state, uint64_t now_us)
{
	const struct mon_pool *cp = mon_map_pool(cur, pool), *ap;
	const struct mon_pg *pg;
	struct mon_pgstats_pool *sp;
	struct mon_pg_report *r;

	if (!cp || !cp->pgs || seed >= cp->pg_count)
		return -ENOENT;
	if (!state_is_valid(state))
		return -EINVAL;
	pg = &cp->pgs[seed];
	if (pg->n_acting == 0 || pg->acting[0] != reporter)
		return -ESTALE; /* not (or no longer) the primary */
	if (!at || at->epoch != epoch)
		return -ESTALE; /* an epoch we do not know */
	ap = mon_map_pool(at, pool);
	if (!ap || !ap->pgs || seed >= ap->pg_count ||
	    !acting_equal(&ap->pgs[seed], pg->n_acting, pg->acting))
		return -ESTALE; /* made against another acting set */
	sp = pool_get(s, pool, cp->pg_count);
	if (!sp)
		return -ENOMEM;
	r = &sp->pgs[seed];
	if (r->valid && r->reporter == reporter && acting_equal(pg, r->n_acting, r->acting) &&
	    r->epoch > epoch)
		return -ESTALE; /* reordered: a newer report is kept */
	r->valid = true;
	r->reporter = reporter;
	r->epoch = epoch;
	r->at_us = now_us;
	r->n_acting = pg->n_acting;
	memcpy(r->acting, pg->acting, sizeof(r->acting));
	snprintf(r->state, sizeof(r->state), "%s", state);
	return 0;
}

static bool
pg_has(const struct mon_pg *pg, uint32_t id)
{
	for (uint32_t i = 0; i < pg->n_acting; i++) {
		if (pg->acting[i] == id)
			return true;
	}
	return false;
}

static bool
pg_same_set(const struct mon_pg *a, const struct mon_pg *b)
{
	if (a->n_acting != b->n_acting)
		return false;
	for (uint32_t i = 0; i < a->n_acting; i++) {
		if (!pg_has(b, a->acting[i]))
			return false;
	}
	return true;
}

bool
mon_pg_is_incomplete(const struct mon_pgstats *s, const struct mon_pool *pool, uint32_t seed)
{
	const struct mon_pg *cur = &pool->pgs[seed];
	uint64_t want = s ? s->cur_epoch : 0;
	bool in_current = true;

	if (!s || !s->hist || cur->n_acting == 0)
		return false;
	/* Newest first; each step must be the epoch just before (no gaps). */
	for (uint32_t step = 0; step < s->n_hist && want > 1; step++) {
		const struct mon_map *m = NULL;
		const struct mon_pool *p;
		const struct mon_pg *pg;

		want--;
		for (uint32_t i = 0; i < s->n_hist && !m; i++) {
			if (s->hist[i] && s->hist[i]->epoch == want)
				m = s->hist[i];
		}
		if (!m)
			return false;
		p = mon_map_pool(m, pool->id);
		if (!p || !p->pgs || p->pg_count != pool->pg_count)
			return false;
		pg = &p->pgs[seed];
		if (in_current && pg_same_set(pg, cur))
			continue;
		in_current = false;
		if (pg->n_acting > 0 && pg->n_acting >= p->min_size) {
			for (uint32_t i = 0; i < pg->n_acting; i++) {
				if (pg_has(cur, pg->acting[i]))
					return false;
			}
			return true;
		}
	}
	return false;
}

const char *
mon_pgstats_state(const struct mon_pgstats *s, const struct mon_pool *pool, uint32_t seed,
		  uint64_t now_us, uint64_t max_age_us, bool *reported)
{
	const struct mon_pg *pg = &pool->pgs[seed];
	enum mon_pg_state ms = mon_pg_state_of(pool, pg);
	const struct mon_pgstats_pool *sp;
	const struct mon_pg_report *r;

	if (reported)
		*reported = false;
	/* The newest data may be on members that are all gone: the history knows. */
	if (ms != MON_PG_DOWN && mon_pg_is_incomplete(s, pool, seed))
		return "incomplete";
	/* Down or below min_size: the map knows, whatever was reported. */
	if (!s || ms == MON_PG_DOWN || ms == MON_PG_INACTIVE)
		return mon_pg_state_name(ms);
	sp = pool_find(s, pool->id);
	if (!sp || sp->pg_count != pool->pg_count || seed >= sp->pg_count)
		return mon_pg_state_name(ms);
	r = &sp->pgs[seed];
	if (r->valid && !acting_equal(pg, r->n_acting, r->acting) && ms == MON_PG_CLEAN &&
	    r->at_us <= now_us && now_us - r->at_us <= max_age_us) {
		/*
		 * The acting set changed after the last report and the new primary
		 * has not reported yet: its members are peering (and maybe
		 * backfilling a new one). The map alone would call the PG clean,
		 * which it is not until the OSDs say so.
		 */
		return "peering";
	}
	if (!r->valid || !acting_equal(pg, r->n_acting, r->acting) || r->at_us > now_us ||
	    now_us - r->at_us > max_age_us)
		return mon_pg_state_name(ms);
	if (reported)
		*reported = true;
	return r->state;
}

static bool
has_token(const char *st, const char *tok)
{
	size_t tl = strlen(tok);

	for (const char *p = st; p && *p;) {
		const char *plus = strchr(p, '+');
		size_t len = plus ? (size_t)(plus - p) : strlen(p);

		if (len == tl && strncmp(p, tok, tl) == 0)
			return true;
		p = plus ? plus + 1 : NULL;
	}
	return false;
}

enum mon_pg_class
mon_pg_state_class(const char *st)
{
	static const char *const err_tokens[] = { "down",  "incomplete", "inactive",
						  "stale", "peered",     "unknown" };
	static const char *const clean_ok[] = { "active", "clean", "scrubbing", "deep" };
	bool only_clean = true;

	if (!st || !*st)
		return MON_PGC_ERR;
	for (size_t i = 0; i < sizeof(err_tokens) / sizeof(err_tokens[0]); i++) {
		if (has_token(st, err_tokens[i]))
			return MON_PGC_ERR;
	}
	for (const char *p = st; p && *p;) {
		const char *plus = strchr(p, '+');
		size_t len = plus ? (size_t)(plus - p) : strlen(p);
		bool ok = false;

		for (size_t i = 0; i < sizeof(clean_ok) / sizeof(clean_ok[0]); i++)
			ok |= len == strlen(clean_ok[i]) && strncmp(p, clean_ok[i], len) == 0;
		only_clean &= ok;
		p = plus ? plus + 1 : NULL;
	}
	if (only_clean && has_token(st, "active") && has_token(st, "clean"))
		return MON_PGC_CLEAN;
	return MON_PGC_WARN;
}

void
mon_pgstats_hist(const struct mon_pgstats *s, const struct mon_map *m, uint64_t now_us,
		 uint64_t max_age_us, struct mon_pg_hist *h)
{
	memset(h, 0, sizeof(*h));
	for (uint32_t p = 0; p < m->n_pools; p++) {
		const struct mon_pool *pool = &m->pools[p];

		for (uint32_t seed = 0; pool->pgs && seed < pool->pg_count; seed++) {
			bool rep;
			const char *st = mon_pgstats_state(s, pool, seed, now_us, max_age_us, &rep);
			uint32_t k;

			h->total++;
			h->n_reported += rep;
			h->by_class[mon_pg_state_class(st)]++;
			for (k = 0; k < h->n; k++) {
				if (strcmp(h->st[k].state, st) == 0)
					break;
			}
			if (k == h->n) {
				if (h->n == MON_PG_HIST_MAX) {
					h->other++;
					continue;
				}
				snprintf(h->st[k].state, sizeof(h->st[k].state), "%s", st);
				h->n++;
			}
			h->st[k].count++;
		}
	}
}
