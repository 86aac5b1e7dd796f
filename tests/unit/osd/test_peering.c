/*
 * Unit tests of the peering decisions in osd/osd_peering.c, which is included
 * here to reach its statics; the rest of the OSD (peers, ops, the primary) is
 * replaced by the small stubs below. Covered: what a member misses according
 * to a log (newest version per object), listing comparison for backfill
 * (missing, stale and extra objects), and diverged-entry detection.
 */
#include <check.h>

#include "osd_peering.c"

/* ---- stubs for the neighbours -------------------------------------------------------- */
const struct mon_osd *
osd_map_osd(const struct osd_map *map, uint32_t id)
{
	return NULL;
}
struct osd_peer *
osd_peer_get(struct osd_reactor *r, uint32_t osd_id, uint32_t seed)
{
	return NULL;
}
int
osd_peer_send(struct osd_peer *p, struct osd_preq *q)
{
	return -ENOTCONN;
}
void
osd_primary_resume(struct osd_reactor *r, struct osd_pg *pg)
{
}
struct osd_pg *
osd_pg_get(struct osd_reactor *r, uint32_t pool, uint32_t seed)
{
	return NULL;
}
struct osd_op *
osd_op_alloc(struct osd_reactor *r, struct rt_conn *conn)
{
	return NULL;
}
void
osd_op_put(struct osd_op *op)
{
}
void *
osd_buf_get(struct osd_reactor *r)
{
	return NULL;
}
void
osd_replica_send_reply(struct osd_op *op, uint16_t type, const ProtobufCMessage *msg,
		       const struct iovec *data, int data_cnt)
{
}

/* ---- tests ------------------------------------------------------------------------------- */

static struct osd_pglog_entry
E(uint64_t epoch, uint64_t seq, uint64_t oid)
{
	struct osd_pglog_entry e;

	memset(&e, 0, sizeof(e));
	e.version = osd_version_make(epoch, seq);
	e.obj.pool = 1;
	e.obj.oid = oid;
	return e;
}

static const struct osd_pr_obj *
find_obj(const struct osd_peering *pr, uint64_t oid)
{
	for (uint32_t i = 0; i < pr->n_objs; i++)
		if (pr->objs[i].oid == oid)
			return &pr->objs[i];
	return NULL;
}

START_TEST(test_objs_from_log)
{
	struct osd_peering pr;
	struct osd_pglog_entry log[] = { E(3, 1, 10), E(3, 2, 11), E(3, 3, 10), E(4, 1, 12),
					 E(2, 9, 13) };

	memset(&pr, 0, sizeof(pr));
	ck_assert_int_eq(objs_from_log(&pr, log, 5, osd_version_make(3, 1)), 0);
	/* 10 (at 3.3), 11, 12: not 13 (older than since) and 10 once. */
	ck_assert_uint_eq(pr.n_objs, 3);
	ck_assert_uint_eq(find_obj(&pr, 10)->version, osd_version_make(3, 3));
	ck_assert_ptr_nonnull(find_obj(&pr, 11));
	ck_assert_ptr_nonnull(find_obj(&pr, 12));
	ck_assert_ptr_null(find_obj(&pr, 13));
	ck_assert_int_eq(objs_from_log(&pr, log, 5, osd_version_make(9, 0)), 0);
	ck_assert_uint_eq(pr.n_objs, 0);
	free(pr.objs);
}
END_TEST

START_TEST(test_list_diff)
{
	struct osd_peering pr;
	/* from: authoritative; to: the member to bring in line. Sorted by oid. */
	struct osd_pr_obj from[] = { { 1, 5 }, { 2, 7 }, { 4, 9 }, { 6, 1 } };
	struct osd_pr_obj to[] = { { 2, 7 }, { 3, 2 }, { 4, 8 }, { 7, 3 } };

	memset(&pr, 0, sizeof(pr));
	ck_assert_int_eq(list_diff(&pr, from, 4, to, 4), 0);
	/* 1 missing, 4 stale, 6 missing -> move with their versions; 3 and 7 extra ->
	 * version 0 (delete); 2 equal -> untouched. */
	ck_assert_uint_eq(pr.n_objs, 5);
	ck_assert_uint_eq(find_obj(&pr, 1)->version, 5);
	ck_assert_uint_eq(find_obj(&pr, 4)->version, 9);
	ck_assert_uint_eq(find_obj(&pr, 6)->version, 1);
	ck_assert_uint_eq(find_obj(&pr, 3)->version, 0);
	ck_assert_uint_eq(find_obj(&pr, 7)->version, 0);
	ck_assert_ptr_null(find_obj(&pr, 2));
	/* Empty sides. */
	ck_assert_int_eq(list_diff(&pr, from, 4, NULL, 0), 0);
	ck_assert_uint_eq(pr.n_objs, 4);
	ck_assert_int_eq(list_diff(&pr, NULL, 0, to, 4), 0);
	ck_assert_uint_eq(pr.n_objs, 4);
	for (uint32_t i = 0; i < pr.n_objs; i++)
		ck_assert_uint_eq(pr.objs[i].version, 0);
	free(pr.objs);
}
END_TEST

START_TEST(test_diverged)
{
	struct osd_reactor r;
	struct osd_pg pg;
	struct osd_peering pr;
	struct osd_pr_member a;
	struct osd_pglog_entry auth[] = { E(5, 1, 20), E(5, 2, 21), E(7, 1, 22) };
	struct osd_pglog_entry e;

	memset(&r, 0, sizeof(r));
	memset(&pg, 0, sizeof(pg));
	memset(&pr, 0, sizeof(pr));
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(osd_pglog_init(&pg.log, 1, 3, 16), 0);
	/* Ours: the two shared entries, then 5.3 on object 23 that never replicated. */
	e = E(5, 1, 20);
	osd_pglog_append(&pg.log, &e);
	e = E(5, 2, 21);
	osd_pglog_append(&pg.log, &e);
	e = E(5, 3, 23);
	osd_pglog_append(&pg.log, &e);
	pr.r = &r;
	pr.pg = &pg;
	a.log = auth;
	a.n_log = 3;
	a.log_tail = osd_version_make(5, 1);
	a.log_complete = true;
	ck_assert_int_eq(objs_from_log(&pr, a.log, a.n_log, pg.log.last_version), 0);
	ck_assert_uint_eq(pr.n_objs, 1); /* 22 */
	ck_assert_int_eq(find_diverged(&pr, &a), 0);
	ck_assert_uint_eq(pr.n_diverged, 1);
	ck_assert_uint_eq(pg.log.ents[pr.diverged[0]].obj.oid, 23);
	/* Its object is pulled too (version 0: whatever the authority has). */
	ck_assert_uint_eq(pr.n_objs, 2);
	ck_assert_uint_eq(find_obj(&pr, 23)->version, 0);
	free(pr.diverged);
	pr.diverged = NULL;
	pr.n_diverged = 0;
	/* An entry older than an incomplete authoritative log's tail is not judged. */
	a.log_complete = false;
	a.log_tail = osd_version_make(5, 4);
	ck_assert_int_eq(find_diverged(&pr, &a), 0);
	ck_assert_uint_eq(pr.n_diverged, 0);
	free(pr.diverged);
	free(pr.objs);
	osd_pglog_fini(&pg.log);
}
END_TEST

static Suite *
peering_suite(void)
{
	Suite *s = suite_create("osd_peering");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_objs_from_log);
	tcase_add_test(tc, test_list_diff);
	tcase_add_test(tc, test_diverged);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(peering_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
