/*
 * Unit tests of the peering decisions in osd/osd_peering.c, which is included
 * here to reach its statics; the rest of the OSD (peers, ops, the primary) is
 * replaced by the small stubs below. Covered: what a member misses according
 * to a log (newest version per object), listing comparison for backfill
 * (missing, stale and extra objects), and diverged-entry detection; and, on a
 * real libstore on a temp file, that a member's PgNotify log merge keeps its
 * log contiguous when RepOps and a second merge arrive while it persists; the
 * states peering reports; and that an ObjectPush older than the member's copy,
 * sent in an older epoch, is acknowledged and ignored (a rollback is applied);
 * and the log's last complete version against the store (pg_last_complete).
 */
#include <check.h>
#include <unistd.h>

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
void
osd_primary_opq_done(struct osd_pg *pg, struct osd_opq_ent *e)
{
}
void
osd_reactor_maybe_stopped(struct osd_reactor *r)
{
}
void *
osd_buf_get(struct osd_reactor *r)
{
	return NULL;
}
/* ObjectPush replies seen by the stub below. */
static uint32_t n_push_replies;
static int push_reply_status;

void
osd_replica_send_reply(struct osd_op *op, uint16_t type, const ProtobufCMessage *msg,
		       const struct iovec *data, int data_cnt)
{
	if (type == FRAME_T_OBJ_PUSH_REPLY) {
		n_push_replies++;
		push_reply_status = ((const Tessera__ObjectPushReply *)msg)->status;
	}
}

/* RepOps resumed after a merge: appended as osd_replica.c's rep_apply does. */
static uint64_t resumed[8];
static uint32_t n_resumed;
static bool resumed_mid_merge;

void
osd_replica_rep_resume(struct osd_op *op)
{
	struct osd_pglog_entry e;

	if (op->pg->merging)
		resumed_mid_merge = true;
	memset(&e, 0, sizeof(e));
	e.version = op->version;
	e.obj = op->obj;
	osd_pglog_append(&op->pg->log, &e);
	if (n_resumed < 8)
		resumed[n_resumed++] = op->version;
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

static struct osd_pglog_entry *
ents_of(uint64_t from, uint64_t to, uint32_t *n)
{
	struct osd_pglog_entry *v = calloc(to - from + 1, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	for (uint64_t s = from; s <= to; s++)
		v[s - from] = E(5, s, 100 + s);
	*n = (uint32_t)(to - from + 1);
	return v;
}

static bool
log_has(const struct osd_pglog *l, uint64_t version)
{
	for (uint32_t i = 0; i < l->cap; i++)
		if (l->ents[i].version == version)
			return true;
	return false;
}

/*
 * Merge A (entries 1..6 onto a log holding 1..2) is persisting when RepOp R
 * (7) and merge B (6..9) arrive: R must wait until A is persisted, then B runs
 * after R. The result is 1..9 without a hole (before the fix R was appended at
 * once and A skipped 4..6 as "not newer than the log").
 */
START_TEST(test_merge_orders_repops)
{
	char path[] = "/tmp/tessera-test-peering.XXXXXX";
	struct rt_reactor_opts ro;
	struct rt_reactor *rr = NULL;
	struct st_store *st = NULL;
	struct st_opts o;
	struct osd_reactor r;
	struct osd_pg pg;
	struct osd_op a, b, rep, plain;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(path);
	st_opts_init(&o);
	o.path = path;
	o.create = true;
	o.create_size_bytes = 64u << 20;
	ck_assert_int_eq(st_format(&o), 0);
	o.create = false;
	rt_reactor_opts_init(&ro);
	ck_assert_int_eq(rt_reactor_create(&ro, &rr), 0);
	ck_assert_int_eq(st_open(&o, rr, &st), 0);

	memset(&r, 0, sizeof(r));
	r.r = rr;
	r.st = st;
	memset(&pg, 0, sizeof(pg));
	pg.pool = 1;
	pg.seed = 3;
	ck_assert_int_eq(osd_pglog_init(&pg.log, 1, 3, 64), 0);
	for (uint64_t s = 1; s <= 2; s++) {
		struct osd_pglog_entry e = E(5, s, 100 + s);

		osd_pglog_append(&pg.log, &e);
	}
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&rep, 0, sizeof(rep));
	memset(&plain, 0, sizeof(plain));
	a.r = b.r = rep.r = plain.r = &r;
	a.pg = b.pg = rep.pg = plain.pg = &pg;
	a.refs = b.refs = 1;
	a.aux = ents_of(1, 6, &a.aux_n);
	b.aux = ents_of(6, 9, &b.aux_n);
	rep.version = osd_version_make(5, 7);
	rep.obj.pool = 1;
	rep.obj.oid = 107;

	/* No merge running: a RepOp applies at once. */
	ck_assert(!osd_member_rep_defer(&plain));

	member_merge_start(&a);
	ck_assert(pg.merging);
	ck_assert(osd_member_rep_defer(&rep));
	member_merge_start(&b);
	ck_assert_uint_eq(n_resumed, 0);
	for (int i = 0; i < 1000 && (pg.merging || pg.mwait_head); i++)
		ck_assert_int_ge(rt_reactor_run_once(rr, 100000), 0);
	ck_assert(!pg.merging);
	ck_assert_ptr_null(pg.mwait_head);
	ck_assert_ptr_null(pg.mwait_tail);
	ck_assert_ptr_null(a.aux);
	ck_assert_ptr_null(b.aux);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(b.rc, 0);
	ck_assert_uint_eq(n_resumed, 1);
	ck_assert_uint_eq(resumed[0], osd_version_make(5, 7));
	ck_assert(!resumed_mid_merge);
	for (uint64_t s = 1; s <= 9; s++)
		ck_assert_msg(log_has(&pg.log, osd_version_make(5, s)), "entry %llu missing",
			      (unsigned long long)s);
	ck_assert_uint_eq(pg.log.n, 9);
	ck_assert_uint_eq(pg.log.last_version, osd_version_make(5, 9));

	osd_pglog_fini(&pg.log);
	ck_assert_int_eq(st_close(&st), 0);
	rt_reactor_destroy(&rr);
	unlink(path);
}
END_TEST

START_TEST(test_pg_states)
{
	struct osd_peering pr;
	struct osd_pg pg;

	memset(&pr, 0, sizeof(pr));
	memset(&pg, 0, sizeof(pg));
	ck_assert_ptr_null(osd_pg_peering_state(&pg));
	pg.pr = &pr;
	pr.state = PR_QUERY;
	ck_assert_str_eq(osd_pg_peering_state(&pg), "peering");
	pr.state = PR_PUSH;
	ck_assert_str_eq(osd_pg_peering_state(&pg), "recovering");
	pr.backfilling = true;
	ck_assert_str_eq(osd_pg_peering_state(&pg), "backfilling");
	pr.state = PR_PULL;
	ck_assert_str_eq(osd_pg_peering_state(&pg), "backfilling");
	pr.state = PR_ACTIVE;
	pr.backfilling = false;
	ck_assert_ptr_null(osd_pg_peering_state(&pg));
	pr.bg.active = true;
	ck_assert_str_eq(osd_pg_peering_state(&pg), "active+recovering+degraded");
}
END_TEST

/* One ObjectPush of a 4 KiB chunk filled with `fill` (or a delete) through the member path. */
static int
push_one(struct osd_reactor *r, struct osd_op *op, uint64_t epoch, uint64_t version, int fill,
	 bool del)
{
	Tessera__ObjectPush m = TESSERA__OBJECT_PUSH__INIT;
	Tessera__PgId pid = TESSERA__PG_ID__INIT;
	Tessera__ObjectId oid = TESSERA__OBJECT_ID__INIT;
	Tessera__Version v = TESSERA__VERSION__INIT;
	struct frame_hdr hdr;
	struct osd_conn oc;
	void *buf = op->buf;
	uint32_t before = n_push_replies;

	memset(op, 0, sizeof(*op));
	op->r = r;
	op->refs = 1;
	op->buf = buf;
	memset(buf, fill, 4096);
	memset(&oc, 0, sizeof(oc));
	oc.r = r;
	oc.rx_op = op;
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = FRAME_T_OBJ_PUSH;
	hdr.data_len = del ? 0 : 4096;
	pid.pool = 1;
	pid.seed = 3;
	oid.pool = 1;
	oid.id = 42;
	osd_version_to_pb(version, &v);
	m.epoch = epoch;
	m.pg = &pid;
	m.oid = &oid;
	m.version = &v;
	m.length = del ? 0 : 4096;
	m.last = true;
	m.delete_ = del;
	osd_member_obj_push(&oc, &hdr, &m, NULL, 0);
	for (int i = 0; i < 1000 && n_push_replies == before; i++)
		ck_assert_int_ge(rt_reactor_run_once(r->r, 100000), 0);
	ck_assert_uint_eq(n_push_replies, before + 1);
	return push_reply_status;
}

START_TEST(test_push_version_compare)
{
	char path[] = "/tmp/tessera-test-peering.XXXXXX";
	struct rt_reactor_opts ro;
	struct rt_reactor *rr = NULL;
	struct st_store *st = NULL;
	struct st_opts o;
	struct osd_reactor r;
	struct st_obj_info info;
	struct st_obj_id obj = { .pool = 1, .oid = 42 };
	static struct osd_op op;
	int fd = mkstemp(path);

	/* The rule alone. */
	ck_assert(!push_is_stale(5, osd_version_make(5, 1), false, 0));
	ck_assert(push_is_stale(6, osd_version_make(6, 9), true, osd_version_make(7, 3)));
	/* Rollback of a diverged write, a backfill delete: older version, newer epoch. */
	ck_assert(!push_is_stale(8, osd_version_make(6, 2), true, osd_version_make(7, 3)));
	ck_assert(!push_is_stale(7, osd_version_make(7, 3), true, osd_version_make(7, 3)));
	ck_assert(!push_is_stale(7, osd_version_make(7, 4), true, osd_version_make(7, 3)));

	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(path);
	st_opts_init(&o);
	o.path = path;
	o.create = true;
	o.create_size_bytes = 64u << 20;
	ck_assert_int_eq(st_format(&o), 0);
	o.create = false;
	rt_reactor_opts_init(&ro);
	ck_assert_int_eq(rt_reactor_create(&ro, &rr), 0);
	ck_assert_int_eq(st_open(&o, rr, &st), 0);
	memset(&r, 0, sizeof(r));
	r.r = rr;
	r.st = st;
	r.max_object_bytes = 1u << 20;
	op.buf = aligned_alloc(4096, 4096);
	ck_assert_ptr_nonnull(op.buf);

	/* Written at (7,3) in epoch 7. */
	ck_assert_int_eq(push_one(&r, &op, 7, osd_version_make(7, 3), 0x11, false), 0);
	ck_assert_int_eq(st_object_stat(st, obj, &info), 0);
	ck_assert_uint_eq(info.version, osd_version_make(7, 3));
	/* A push from epoch 6 of (6,9): acknowledged, ignored. */
	ck_assert_int_eq(push_one(&r, &op, 6, osd_version_make(6, 9), 0x22, false), 0);
	ck_assert_int_eq(st_object_stat(st, obj, &info), 0);
	ck_assert_uint_eq(info.version, osd_version_make(7, 3));
	ck_assert_uint_eq(r.stats.stale_pushes, 1);
	/* A stale delete is ignored too. */
	ck_assert_int_eq(push_one(&r, &op, 6, osd_version_make(6, 10), 0, true), 0);
	ck_assert_int_eq(st_object_stat(st, obj, &info), 0);
	ck_assert_uint_eq(r.stats.stale_pushes, 2);
	/* A rollback in epoch 8 to (6,2) applies; then a newer write applies. */
	ck_assert_int_eq(push_one(&r, &op, 8, osd_version_make(6, 2), 0x33, false), 0);
	ck_assert_int_eq(st_object_stat(st, obj, &info), 0);
	ck_assert_uint_eq(info.version, osd_version_make(6, 2));
	ck_assert_int_eq(push_one(&r, &op, 8, osd_version_make(8, 1), 0x44, false), 0);
	ck_assert_int_eq(st_object_stat(st, obj, &info), 0);
	ck_assert_uint_eq(info.version, osd_version_make(8, 1));
	ck_assert_uint_eq(r.stats.stale_pushes, 2);

	/* last_complete: what the log names and the store holds (42 is at (8,1)). */
	{
		struct osd_pg pg;
		struct osd_pglog_entry e;

		memset(&pg, 0, sizeof(pg));
		pg.pool = 1;
		pg.seed = 3;
		ck_assert_int_eq(osd_pglog_init(&pg.log, 1, 3, 16), 0);
		e = E(8, 1, 42);
		osd_pglog_append(&pg.log, &e);
		ck_assert_uint_eq(pg_last_complete(&r, &pg), osd_version_make(8, 1));
		/* A failed entry of an absent object does not count. */
		e = E(8, 2, 44);
		e.result = -EIO;
		osd_pglog_append(&pg.log, &e);
		ck_assert_uint_eq(pg_last_complete(&r, &pg), osd_version_make(8, 2));
		/* An absent object the log says was written: missing from (8,3). */
		e = E(8, 3, 45);
		osd_pglog_append(&pg.log, &e);
		e = E(8, 4, 46);
		e.op = TESSERA__OP_TYPE__OP_DELETE; /* absent, as it should be */
		osd_pglog_append(&pg.log, &e);
		ck_assert_uint_eq(pg_last_complete(&r, &pg), osd_version_make(8, 3) - 1);
		/* 42 deleted at (8,5) but still here at (8,1): missing from (8,5) too. */
		e = E(8, 5, 42);
		e.op = TESSERA__OP_TYPE__OP_DELETE;
		osd_pglog_append(&pg.log, &e);
		ck_assert_uint_eq(pg_last_complete(&r, &pg), osd_version_make(8, 3) - 1);
		osd_pglog_fini(&pg.log);
		memset(&pg, 0, sizeof(pg));
		ck_assert_int_eq(osd_pglog_init(&pg.log, 1, 3, 16), 0);
		e = E(8, 5, 42);
		e.op = TESSERA__OP_TYPE__OP_DELETE;
		osd_pglog_append(&pg.log, &e);
		ck_assert_uint_eq(pg_last_complete(&r, &pg), osd_version_make(8, 5) - 1);
		osd_pglog_fini(&pg.log);
	}

	free(op.buf);
	ck_assert_int_eq(st_close(&st), 0);
	rt_reactor_destroy(&rr);
	unlink(path);
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
	tcase_add_test(tc, test_merge_orders_repops);
	tcase_add_test(tc, test_pg_states);
	tcase_add_test(tc, test_push_version_compare);
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
