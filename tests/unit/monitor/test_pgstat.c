/* PG states reported by OSDs (mon_pgstat.c) and the health rules that use them. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon_cmd.h"
#include "mon_health.h"
#include "mon_map.h"
#include "mon_test_util.h"
#include "mon_pgstat.h"

#define AGE 5000000ull /* max age of a report: 5 s */

/* 4 OSDs on 4 hosts, pool 1 "rbd" size 3 min_size 2, 8 PGs. */
static struct mon_map *
cluster(void)
{
	struct mon_map *m = mon_map_create();
	char uuid[32], host[32];

	ck_assert_int_eq(run(&m, "map init", "fsid", "f00d", "now_us", "1", NULL), 0);
	for (uint32_t i = 0; i < 4; i++) {
		snprintf(uuid, sizeof(uuid), "u%u", i);
		snprintf(host, sizeof(host), "h%u", i);
		ck_assert_int_eq(run(&m, "osd boot", "uuid", uuid, "host", host, NULL), 0);
	}
	ck_assert_int_eq(run(&m, "pool create", "name", "rbd", "size", "3", "min_size", "2",
			     "pg_count", "8", NULL),
			 0);
	return m;
}

static uint32_t
primary(const struct mon_map *m, uint32_t seed)
{
	return m->pools[0].pgs[seed].acting[0];
}

static uint32_t
replica(const struct mon_map *m, uint32_t seed)
{
	return m->pools[0].pgs[seed].acting[1];
}

/* Report `state` from every PG's primary at the map's epoch. */
static void
report_all(struct mon_pgstats *s, const struct mon_map *m, const char *state, uint64_t now)
{
	for (uint32_t seed = 0; seed < m->pools[0].pg_count; seed++)
		ck_assert_int_eq(mon_pgstats_report(s, m, m, primary(m, seed), m->epoch,
						    m->pools[0].id, seed, state, now),
				 0);
}

START_TEST(test_accept_and_ignore)
{
	struct mon_map *m = cluster();
	uint32_t pool = m->pools[0].id;
	struct mon_pgstats s;
	bool rep;

	mon_pgstats_init(&s);
	/* Nothing reported: the map's state. */
	ck_assert_str_eq(mon_pgstats_state(&s, &m->pools[0], 0, 100, AGE, &rep), "active+clean");
	ck_assert(!rep);

	/* The primary's report is kept and shown. */
	ck_assert_int_eq(mon_pgstats_report(&s, m, m, primary(m, 0), m->epoch, pool, 0,
					    "active+recovering", 100),
			 0);
	ck_assert_str_eq(mon_pgstats_state(&s, &m->pools[0], 0, 200, AGE, &rep),
			 "active+recovering");
	ck_assert(rep);

	/* A replica's report, an unknown epoch, a missing PG, a bad state: ignored. */
	ck_assert_int_eq(mon_pgstats_report(&s, m, m, replica(m, 1), m->epoch, pool, 1, "down",
					    100),
			 -ESTALE);
	ck_assert_int_eq(mon_pgstats_report(&s, m, NULL, primary(m, 1), m->epoch + 5, pool, 1,
					    "down", 100),
			 -ESTALE);
	ck_assert_int_eq(mon_pgstats_report(&s, m, m, primary(m, 1), m->epoch, pool, 99,
					    "active+clean", 100),
			 -ENOENT);
	ck_assert_int_eq(mon_pgstats_report(&s, m, m, primary(m, 1), m->epoch, 42, 0,
					    "active+clean", 100),
			 -ENOENT);
	ck_assert_int_eq(mon_pgstats_report(&s, m, m, primary(m, 1), m->epoch, pool, 1, "", 100),
			 -EINVAL);
	ck_assert_int_eq(mon_pgstats_report(&s, m, m, primary(m, 1), m->epoch, pool, 1,
					    "unknown", 100),
			 -EINVAL);
	ck_assert_int_eq(mon_pgstats_report(&s, m, m, primary(m, 1), m->epoch, pool, 1,
					    "Active;rm -rf", 100),
			 -EINVAL);
	ck_assert_int_eq(mon_pgstats_report(&s, m, m, primary(m, 1), m->epoch, pool, 1, NULL,
					    100),
			 -EINVAL);
	ck_assert_str_eq(mon_pgstats_state(&s, &m->pools[0], 1, 200, AGE, &rep), "active+clean");
	ck_assert(!rep);

	/* Stale: older than the max age, the map's state comes back. */
	ck_assert_str_eq(mon_pgstats_state(&s, &m->pools[0], 0, 100 + AGE + 1, AGE, &rep),
			 "active+clean");
	ck_assert(!rep);

	/* After a leader change nothing is known. */
	mon_pgstats_clear(&s);
	ck_assert_str_eq(mon_pgstats_state(&s, &m->pools[0], 0, 200, AGE, &rep), "active+clean");
	ck_assert(!rep);
	/* NULL: map only. */
	ck_assert_str_eq(mon_pgstats_state(NULL, &m->pools[0], 0, 200, AGE, NULL),
			 "active+clean");
	mon_pgstats_fini(&s);
	mon_map_destroy(&m);
}
END_TEST

START_TEST(test_acting_set_changes)
{
	struct mon_map *m = cluster(), *old;
	uint32_t pool = m->pools[0].id, seed = 0, victim, prim;
	struct mon_pgstats s;
	char id[16];
	bool rep;

	mon_pgstats_init(&s);
	prim = primary(m, seed);
	ck_assert_int_eq(mon_pgstats_report(&s, m, m, prim, m->epoch, pool, seed, "active+clean",
					    100),
			 0);
	/* A replica of PG 0 goes down: its acting set changes. */
	old = mon_map_clone(m);
	victim = replica(m, seed);
	snprintf(id, sizeof(id), "%u", victim);
	ck_assert_int_eq(run(&m, "osd down", "id", id, "now_us", "5", NULL), 0);
	ck_assert_uint_eq(m->pools[0].pgs[seed].n_acting, 2);
	ck_assert_uint_eq(primary(m, seed), prim);

	/* The report made against the old acting set is no longer shown. */
	ck_assert_str_eq(mon_pgstats_state(&s, &m->pools[0], seed, 200, AGE, &rep),
			 "active+undersized+degraded");
	ck_assert(!rep);
	/* A report from the primary still at the old epoch is ignored. */
	ck_assert_int_eq(mon_pgstats_report(&s, m, old, prim, old->epoch, pool, seed,
					    "active+clean", 300),
			 -ESTALE);
	/* At the new epoch it counts. */
	ck_assert_int_eq(mon_pgstats_report(&s, m, m, prim, m->epoch, pool, seed,
					    "active+undersized+degraded", 300),
			 0);
	ck_assert(mon_pgstats_state(&s, &m->pools[0], seed, 400, AGE, &rep) && rep);
	/* A reordered report of an older epoch with the same acting set is ignored. */
	{
		struct mon_map *mid = mon_map_clone(m);

		ck_assert_int_eq(run(&m, "osd reweight", "id", id, "weight", "2", NULL), 0);
		if (m->pools[0].pgs[seed].n_acting == 2 && primary(m, seed) == prim) {
			ck_assert_int_eq(mon_pgstats_report(&s, m, m, prim, m->epoch, pool, seed,
							    "active+undersized+degraded", 500),
					 0);
			ck_assert_int_eq(mon_pgstats_report(&s, m, mid, prim, mid->epoch, pool,
							    seed, "peering", 600),
					 -ESTALE);
			ck_assert_str_eq(mon_pgstats_state(&s, &m->pools[0], seed, 700, AGE, &rep),
					 "active+undersized+degraded");
		}
		mon_map_destroy(&mid);
	}
	/* The replica returns: the map says clean, but nobody has reported the
	 * new acting set yet: peering, until the primary's report or max_age. */
	{
		char uuid[32], host[32];

		snprintf(uuid, sizeof(uuid), "u%u", victim);
		snprintf(host, sizeof(host), "h%u", victim);
		ck_assert_uint_eq(mon_map_osd_by_uuid(m, uuid)->id, victim);
		ck_assert_int_eq(run(&m, "osd boot", "uuid", uuid, "host", host, NULL), 0);
	}
	ck_assert_uint_eq(m->pools[0].pgs[seed].n_acting, 3);
	{
		uint64_t t = 800;

		ck_assert_str_eq(mon_pgstats_state(&s, &m->pools[0], seed, t, AGE, &rep),
				 "peering");
		ck_assert(!rep);
		ck_assert_str_eq(mon_pgstats_state(&s, &m->pools[0], seed, t + AGE + 1000, AGE,
						   &rep),
				 "active+clean");
		ck_assert_int_eq(mon_pgstats_report(&s, m, m, primary(m, seed), m->epoch, pool,
						    seed, "active+clean", t + 10),
				 0);
		ck_assert_str_eq(mon_pgstats_state(&s, &m->pools[0], seed, t + 20, AGE, &rep),
				 "active+clean");
		ck_assert(rep);
	}
	mon_map_destroy(&old);
	mon_pgstats_fini(&s);
	mon_map_destroy(&m);
}
END_TEST

START_TEST(test_map_wins_when_down)
{
	struct mon_map *m = cluster();
	uint32_t pool = m->pools[0].id, seed = 3, a, b;
	struct mon_pgstats s;
	char id[16];
	bool rep;

	mon_pgstats_init(&s);
	/* Two of three replicas go down: below min_size, whatever was reported. */
	a = replica(m, seed);
	b = m->pools[0].pgs[seed].acting[2];
	snprintf(id, sizeof(id), "%u", a);
	ck_assert_int_eq(run(&m, "osd down", "id", id, "now_us", "5", NULL), 0);
	snprintf(id, sizeof(id), "%u", b);
	ck_assert_int_eq(run(&m, "osd down", "id", id, "now_us", "5", NULL), 0);
	ck_assert_int_eq(mon_pgstats_report(&s, m, m, primary(m, seed), m->epoch, pool, seed,
					    "active+clean", 100),
			 0);
	ck_assert_str_eq(mon_pgstats_state(&s, &m->pools[0], seed, 200, AGE, &rep),
			 "undersized+peered");
	ck_assert(!rep);
	mon_pgstats_fini(&s);
	mon_map_destroy(&m);
}
END_TEST

START_TEST(test_classes)
{
	ck_assert_int_eq(mon_pg_state_class("active+clean"), MON_PGC_CLEAN);
	ck_assert_int_eq(mon_pg_state_class("active+clean+scrubbing"), MON_PGC_CLEAN);
	ck_assert_int_eq(mon_pg_state_class("active+clean+scrubbing+deep"), MON_PGC_CLEAN);
	ck_assert_int_eq(mon_pg_state_class("active+undersized+degraded"), MON_PGC_WARN);
	ck_assert_int_eq(mon_pg_state_class("active+recovering"), MON_PGC_WARN);
	ck_assert_int_eq(mon_pg_state_class("recovering"), MON_PGC_WARN);
	ck_assert_int_eq(mon_pg_state_class("active+backfilling"), MON_PGC_WARN);
	ck_assert_int_eq(mon_pg_state_class("peering"), MON_PGC_WARN);
	ck_assert_int_eq(mon_pg_state_class("active"), MON_PGC_WARN);
	ck_assert_int_eq(mon_pg_state_class("active+cleanish"), MON_PGC_WARN);
	ck_assert_int_eq(mon_pg_state_class("down"), MON_PGC_ERR);
	ck_assert_int_eq(mon_pg_state_class("incomplete"), MON_PGC_ERR);
	ck_assert_int_eq(mon_pg_state_class("inactive"), MON_PGC_ERR);
	ck_assert_int_eq(mon_pg_state_class("undersized+peered"), MON_PGC_ERR);
	ck_assert_int_eq(mon_pg_state_class("down+peering"), MON_PGC_ERR);
	ck_assert_int_eq(mon_pg_state_class(""), MON_PGC_ERR);
	ck_assert_int_eq(mon_pg_state_class(NULL), MON_PGC_ERR);
}
END_TEST

static bool
has_check(const struct mon_health *h, const char *code, enum mon_health_level lvl)
{
	for (uint32_t i = 0; i < h->n_checks; i++) {
		if (strcmp(h->checks[i].code, code) == 0 && h->checks[i].level == lvl)
			return true;
	}
	return false;
}

START_TEST(test_health_with_reports)
{
	struct mon_map *m = cluster();
	struct mon_pgstats s;
	struct mon_health h;
	struct mon_pg_hist hist;
	struct mon_health_in in = { .n_mons = 1, .n_mons_quorum = 1, .nearfull_ratio = 0.85,
				    .full_ratio = 0.95 };

	mon_pgstats_init(&s);
	in.map = m;
	in.pgstats = &s;
	in.now_us = 1000;
	in.pg_max_age_us = AGE;
	mon_health_compute(&in, &h);
	ck_assert_int_eq(h.level, MON_HEALTH_OK);

	/* Every primary says degraded: WARN PG_DEGRADED, counted by state. */
	report_all(&s, m, "active+undersized+degraded", 1000);
	mon_health_compute(&in, &h);
	ck_assert_int_eq(h.level, MON_HEALTH_WARN);
	ck_assert(has_check(&h, "PG_DEGRADED", MON_HEALTH_WARN));
	ck_assert_ptr_nonnull(strstr(h.checks[0].msg, "8 active+undersized+degraded"));
	mon_pgstats_hist(&s, m, 1000, AGE, &hist);
	ck_assert_uint_eq(hist.total, 8);
	ck_assert_uint_eq(hist.n_reported, 8);
	ck_assert_uint_eq(hist.n, 1);
	ck_assert_str_eq(hist.st[0].state, "active+undersized+degraded");
	ck_assert_uint_eq(hist.by_class[MON_PGC_WARN], 8);

	/* One says incomplete: ERR PG_AVAILABILITY as well. */
	ck_assert_int_eq(mon_pgstats_report(&s, m, m, primary(m, 5), m->epoch, m->pools[0].id, 5,
					    "incomplete", 1000),
			 0);
	mon_health_compute(&in, &h);
	ck_assert_int_eq(h.level, MON_HEALTH_ERR);
	ck_assert(has_check(&h, "PG_AVAILABILITY", MON_HEALTH_ERR));
	ck_assert(has_check(&h, "PG_DEGRADED", MON_HEALTH_WARN));

	/* Peering and backfilling warn too. */
	report_all(&s, m, "peering", 1000);
	mon_health_compute(&in, &h);
	ck_assert_int_eq(h.level, MON_HEALTH_WARN);
	report_all(&s, m, "active+backfilling", 1000);
	mon_health_compute(&in, &h);
	ck_assert_int_eq(h.level, MON_HEALTH_WARN);

	/* All clean again: OK. */
	report_all(&s, m, "active+clean", 2000);
	mon_health_compute(&in, &h);
	ck_assert_int_eq(h.level, MON_HEALTH_OK);
	ck_assert_uint_eq(h.n_checks, 0);

	/* Stale degraded reports fall back to the map (all up: clean). */
	report_all(&s, m, "active+undersized+degraded", 2000);
	in.now_us = 2000 + AGE + 1;
	mon_health_compute(&in, &h);
	ck_assert_int_eq(h.level, MON_HEALTH_OK);

	/* Without reports the map's rules stand: an OSD down degrades its PGs. */
	ck_assert_int_eq(run(&m, "osd down", "id", "0", "now_us", "1", NULL), 0);
	in.map = m;
	in.pgstats = NULL;
	mon_health_compute(&in, &h);
	ck_assert_int_eq(h.level, MON_HEALTH_WARN);
	ck_assert(has_check(&h, "OSD_DOWN", MON_HEALTH_WARN));
	ck_assert(has_check(&h, "PG_DEGRADED", MON_HEALTH_WARN));
	mon_pgstats_fini(&s);
	mon_map_destroy(&m);
}
END_TEST

START_TEST(test_boot_want_id_zero)
{
	struct mon_map *m = mon_map_create();

	ck_assert_int_eq(run(&m, "map init", "fsid", "f", "now_us", "1", NULL), 0);
	/* want_id "0" without has_want_id means none (as older log entries say). */
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "a", "host", "h", "want_id", "0", NULL), 0);
	ck_assert_uint_eq(mon_map_osd_by_uuid(m, "a")->id, 0);
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "b", "host", "h", "want_id", "0", NULL), 0);
	ck_assert_uint_eq(mon_map_osd_by_uuid(m, "b")->id, 1);
	/* has_want_id: id 0 is meant; it belongs to "a", so "c" is refused. */
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "c", "host", "h", "want_id", "0",
			     "has_want_id", "1", NULL),
			 -EEXIST);
	/* "a" asking for id 0 explicitly keeps it; asking for 1 is refused. */
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "a", "host", "h2", "want_id", "0",
			     "has_want_id", "1", NULL),
			 0);
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "a", "host", "h2", "want_id", "1",
			     "has_want_id", "1", NULL),
			 -EEXIST);
	/* After osd rm of id 0, an OSD that had id 0 gets it back. */
	ck_assert_int_eq(run(&m, "osd down", "id", "0", "now_us", "2", NULL), 0);
	ck_assert_int_eq(run(&m, "osd rm", "id", "0", NULL), 0);
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "a2", "host", "h", "want_id", "0",
			     "has_want_id", "1", NULL),
			 0);
	ck_assert_uint_eq(mon_map_osd_by_uuid(m, "a2")->id, 0);
	mon_map_destroy(&m);
}
END_TEST

/* Apply a command and keep the map it replaces in hist[] (a history ring). */
static void
step(struct mon_map **m, struct mon_map **hist, uint32_t *n_hist, const char *cmd,
     const char *k, const char *v)
{
	struct mon_map *old = mon_map_clone(*m);

	ck_assert_ptr_nonnull(old);
	if (strcmp(cmd, "osd down") == 0)
		ck_assert_int_eq(run(m, cmd, k, v, "now_us", "5", NULL), 0);
	else
		ck_assert_int_eq(run(m, cmd, k, v, "host", v, NULL), 0);
	ck_assert_uint_lt(*n_hist, 16);
	hist[(*n_hist)++] = old;
}

static const char *
state_with_history(struct mon_map *m, struct mon_map **hist, uint32_t n_hist, uint32_t seed)
{
	struct mon_pgstats s;

	mon_pgstats_init(&s);
	s.hist = hist;
	s.n_hist = n_hist;
	s.cur_epoch = m->epoch;
	return mon_pgstats_state(&s, mon_map_pool_by_name(m, "rbd"), seed, 0, AGE, NULL);
}

START_TEST(test_incomplete)
{
	struct mon_map *m = mon_map_create(), *hist[16] = { NULL };
	uint32_t n_hist = 0;
	struct mon_pgstats none;

	ck_assert_int_eq(run(&m, "map init", "fsid", "f00d", "now_us", "1", NULL), 0);
	/* Three OSDs (uuids h0..h2 on hosts h0..h2): every PG on all three. */
	for (int i = 0; i < 3; i++) {
		char h[8];

		snprintf(h, sizeof(h), "h%d", i);
		ck_assert_int_eq(run(&m, "osd boot", "uuid", h, "host", h, NULL), 0);
	}
	ck_assert_int_eq(run(&m, "pool create", "name", "rbd", "size", "3", "min_size", "2",
			     "pg_count", "4", NULL),
			 0);
	/* osd.0 down: the others go on (2 of 3, active); then both die. */
	step(&m, hist, &n_hist, "osd down", "id", "0");
	ck_assert_str_eq(state_with_history(m, hist, n_hist, 1), "active+undersized+degraded");
	step(&m, hist, &n_hist, "osd down", "id", "1");
	ck_assert_str_eq(state_with_history(m, hist, n_hist, 1), "undersized+peered");
	step(&m, hist, &n_hist, "osd down", "id", "2");
	ck_assert_str_eq(state_with_history(m, hist, n_hist, 1), "down");
	/* osd.0 back alone: it missed what 1 and 2 acknowledged. */
	step(&m, hist, &n_hist, "osd boot", "uuid", "h0");
	for (uint32_t seed = 0; seed < 4; seed++)
		ck_assert_str_eq(state_with_history(m, hist, n_hist, seed), "incomplete");
	/* Without history (older maps, unit callers): the map's own state. */
	mon_pgstats_init(&none);
	ck_assert_str_eq(mon_pgstats_state(&none, mon_map_pool_by_name(m, "rbd"), 1, 0, AGE, NULL),
			 "undersized+peered");
	/* A gap in the history: unknown, not incomplete. */
	ck_assert_str_eq(state_with_history(m, hist + 1, n_hist - 1, 1), "incomplete");
	ck_assert_str_eq(state_with_history(m, hist, n_hist - 1, 1), "undersized+peered");
	/* osd.1 returns: it held the newest data, the PG can peer again. */
	step(&m, hist, &n_hist, "osd boot", "uuid", "h1");
	ck_assert_str_eq(state_with_history(m, hist, n_hist, 1), "active+undersized+degraded");
	/* Health counts incomplete PGs as unavailable. */
	{
		struct mon_map *m2 = mon_map_clone(m), *h2[16] = { NULL };
		uint32_t n2 = 0;
		struct mon_pgstats s;
		struct mon_health_in in = { 0 };
		struct mon_health h;

		step(&m2, h2, &n2, "osd down", "id", "1");
		step(&m2, h2, &n2, "osd down", "id", "0");
		step(&m2, h2, &n2, "osd boot", "uuid", "h2");
		/* Last active: {0,1}; now only osd.2: incomplete. */
		mon_pgstats_init(&s);
		s.hist = h2;
		s.n_hist = n2;
		s.cur_epoch = m2->epoch;
		in.map = m2;
		in.n_mons = in.n_mons_quorum = 1;
		in.pgstats = &s;
		in.pg_max_age_us = AGE;
		mon_health_compute(&in, &h);
		ck_assert_int_eq(h.level, MON_HEALTH_ERR);
		{
			bool found = false;

			for (uint32_t i = 0; i < h.n_checks; i++)
				found |= strcmp(h.checks[i].code, "PG_AVAILABILITY") == 0 &&
					 strstr(h.checks[i].msg, "4 incomplete") != NULL;
			ck_assert_msg(found, "no PG_AVAILABILITY check naming 4 incomplete PGs");
		}
		for (uint32_t i = 0; i < n2; i++)
			mon_map_destroy(&h2[i]);
		mon_map_destroy(&m2);
	}
	for (uint32_t i = 0; i < n_hist; i++)
		mon_map_destroy(&hist[i]);
	mon_map_destroy(&m);
}
END_TEST

static Suite *
pgstat_suite(void)
{
	Suite *s = suite_create("pgstat");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_accept_and_ignore);
	tcase_add_test(tc, test_acting_set_changes);
	tcase_add_test(tc, test_map_wins_when_down);
	tcase_add_test(tc, test_classes);
	tcase_add_test(tc, test_health_with_reports);
	tcase_add_test(tc, test_boot_want_id_zero);
	tcase_add_test(tc, test_incomplete);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pgstat_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
