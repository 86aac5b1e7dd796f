/*
 * Power-cut simulation (the approach of SQLite's crash-test VFS and ALICE).
 *
 * libstore runs on the test backend, an in-memory disk with a volatile write
 * cache. Each round reopens the store (recovery), runs random writes (journal
 * and redirect-on-write sizes), discards and deletes at queue depth up to 8,
 * (durability FUA, FUA as on a device without FUA, and batch, by round)
 * and at a random moment cuts the power: the backend keeps a random subset of
 * the writes issued since the last flush, some multi-block writes torn at
 * 4 KiB granularity, and fails every later I/O. The store is then reopened and
 * checked against a model:
 *   - every acknowledged operation is intact (each 4 KiB block carries its
 *     object, block number and a unique generation, see test_util.h);
 *   - an operation that was in flight at the cut is either entirely visible
 *     or entirely absent, never partly.
 * At most one operation per object is in flight (the OSD's ordering), so the
 * model of an object is its acknowledged state plus at most one pending op.
 *
 * Checkpoints run in the background, so half of the cuts are aimed at one:
 * the round goes on until a checkpoint is running, then a random number of
 * reactor turns more (each one is one step of its I/O), then the power is cut.
 * The same simulation runs three times: with a 4 MiB journal; with a 256 KiB
 * one that forces a checkpoint every few dozen operations (and operations
 * waiting for journal room); and with 48 objects on a 16 MiB disk, where the
 * block table is dense enough that deletions move entries under a checkpoint
 * serialising it in small steps (its restart path).
 *
 * Rounds: TESSERA_POWERCUT_ROUNDS per test (default 1000, a few seconds); seed:
 * TESSERA_POWERCUT_SEED (default: time-based, printed for reproduction).
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_log.h"
#include "st_int.h"
#include "test_util.h"

#define PC_OBJS 48 /* at most; g_nobjs are used */
#define PC_NB 64 /* blocks per object used by the test */
#define PC_QD 8
#define PC_DISK (32u << 20)

struct pc_state {
	bool exists;
	uint64_t gen[PC_NB]; /* 0: zeroes */
};

struct pc_op {
	struct st_req req;
	int obj;
	bool busy;
	struct pc_state after; /* the object's state if this op took effect */
	uint8_t *buf;
};

static struct pc_state g_acked[PC_OBJS];
static struct pc_op g_ops[PC_OBJS];
static bool g_cut;
static uint64_t g_rng, g_gen;
static uint64_t g_acks, g_inflight_at_cut, g_visible_unacked;
static uint64_t g_cuts_in_ckpt;
static int g_nobjs;

static uint64_t
pc_rand(void)
{
	uint64_t x = (g_rng += 0x9e3779b97f4a7c15ull);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void
pc_done(struct st_req *req, int rc)
{
	struct pc_op *op = ST_CONTAINER_OF(req, struct pc_op, req);

	if (!g_cut) {
		/* Before the cut every op must succeed (the store has space). */
		ck_assert_msg(rc == 0 || (rc == -ENOENT && req->op == ST_OP_DELETE),
			      "op %d on object %d failed: %d", req->op, op->obj, rc);
		g_acked[op->obj] = op->after;
		g_acks++;
		op->busy = false;
	}
	/* After the cut the op stays "busy" (unacknowledged) for the check. */
}

static void
pc_submit(struct st_store *st, int obj)
{
	struct pc_op *op = &g_ops[obj];
	struct st_req *req = &op->req;
	uint64_t r = pc_rand();
	uint32_t kind = (uint32_t)(r % 100);
	uint32_t len, off;

	memset(req, 0, offsetof(struct st_req, priv));
	req->obj = (struct st_obj_id){.pool = 1, .oid = (uint64_t)obj};
	req->cb = pc_done;
	req->version = ++g_gen;
	op->after = g_acked[obj];
	op->obj = obj;
	if (kind < 80) {
		len = (kind < 50) ? 1 + (uint32_t)(pc_rand() % 4) : 1 + (uint32_t)(pc_rand() % 32);
		off = (uint32_t)(pc_rand() % (PC_NB - len + 1));
		req->op = ST_OP_WRITE;
		req->offset_bytes = (uint64_t)off * 4096;
		req->len_bytes = (uint64_t)len * 4096;
		req->buf = op->buf;
		for (uint32_t i = 0; i < len; i++) {
			tu_fill(op->buf + (uint64_t)i * 4096, (uint64_t)obj, off + i, g_gen);
			op->after.gen[off + i] = g_gen;
		}
		op->after.exists = true;
	} else if (kind < 95) {
		len = 1 + (uint32_t)(pc_rand() % 16);
		off = (uint32_t)(pc_rand() % (PC_NB - len + 1));
		req->op = (kind & 1) ? ST_OP_DISCARD : ST_OP_WRITE_ZEROES;
		req->offset_bytes = (uint64_t)off * 4096;
		req->len_bytes = (uint64_t)len * 4096;
		for (uint32_t i = 0; i < len; i++)
			op->after.gen[off + i] = 0;
		op->after.exists = true;
	} else {
		req->op = ST_OP_DELETE;
		memset(&op->after, 0, sizeof(op->after));
	}
	op->busy = true;
	ck_assert_int_eq(st_submit(st, req), 0);
}

/* Does the store's object match state s? */
static bool
pc_matches(const struct pc_state *s, int obj, int read_rc, const uint8_t *buf)
{
	if (!s->exists)
		return read_rc == -ENOENT;
	if (read_rc != 0)
		return false;
	for (int b = 0; b < PC_NB; b++) {
		const uint8_t *p = buf + (uint64_t)b * 4096;
		if (s->gen[b] == 0) {
			for (int k = 0; k < 4096; k++)
				if (p[k])
					return false;
		} else if (tu_check(p, (uint64_t)obj, (uint64_t)b, s->gen[b]) != 0) {
			return false;
		}
	}
	return true;
}

static void
pc_verify(struct st_store *st, uint8_t *rb, uint64_t round, uint64_t seed)
{
	for (int obj = 0; obj < g_nobjs; obj++) {
		int rc = st_sync_read(st, (struct st_obj_id){1, (uint64_t)obj}, 0, PC_NB * 4096ull, rb,
				      NULL);
		ck_assert_msg(rc == 0 || rc == -ENOENT, "round %" PRIu64 " (seed %" PRIu64
			      "): object %d read failed: %d", round, seed, obj, rc);
		bool old_ok = pc_matches(&g_acked[obj], obj, rc, rb);
		bool new_ok = g_ops[obj].busy && pc_matches(&g_ops[obj].after, obj, rc, rb);

		if (!old_ok && !new_ok) {
			for (int b = 0; b < PC_NB; b++) {
				const uint8_t *p = rb + (uint64_t)b * 4096;
				struct pc_state one = {.exists = true};
				one.gen[b] = g_acked[obj].gen[b];
				uint64_t w0 = *(const uint64_t *)p;
				bool ok = one.gen[b] ? tu_check(p, (uint64_t)obj, (uint64_t)b, one.gen[b]) == 0
						     : w0 == 0;
				if (ok)
					continue;
				fprintf(stderr, "  blk %d: acked gen %" PRIu64 " pending %" PRIu64
					" first word %016" PRIx64 "\n", b, g_acked[obj].gen[b],
					g_ops[obj].busy ? g_ops[obj].after.gen[b] : 0,
					*(const uint64_t *)p);
			}
		}
		ck_assert_msg(old_ok || new_ok,
			      "round %" PRIu64 " (seed %" PRIu64 "): object %d (exists %d, "
			      "pending op %d) is neither its acknowledged state nor the pending "
			      "op applied (read rc %d)",
			      round, seed, obj, g_acked[obj].exists,
			      g_ops[obj].busy ? (int)g_ops[obj].req.op : -1, rc);
		if (g_ops[obj].busy) {
			g_inflight_at_cut++;
			if (new_ok && !old_ok) {
				g_visible_unacked++;
				g_acked[obj] = g_ops[obj].after;
			}
			g_ops[obj].busy = false;
		}
	}
}

/* dense: many objects on a small disk, so the block hash table has long
 * clusters and deletions keep moving entries under a checkpoint's scan. */
static void
pc_run(uint64_t journal_bytes, bool dense, const char *name)
{
	uint64_t disk = dense ? (16u << 20) : PC_DISK;
	const char *env = getenv("TESSERA_POWERCUT_ROUNDS");
	const char *senv = getenv("TESSERA_POWERCUT_SEED");
	uint64_t rounds = env ? strtoull(env, NULL, 10) : 1000;
	uint64_t seed = senv ? strtoull(senv, NULL, 10) : (uint64_t)time(NULL);
	struct rt_reactor *r = tu_reactor();
	struct st_membackend *mb = NULL;
	struct st_opts o;
	struct st_store *st = NULL;
	uint8_t *rb = tu_buf(PC_NB * 4096);
	uint64_t ckpts = 0, dropped = 0;

	fprintf(stderr, "powercut %s: %" PRIu64 " rounds, seed %" PRIu64 "\n", name, rounds, seed);
	rt_log_set_level(RT_LOG_WARN);
	g_rng = seed;
	g_gen = 0;
	g_acks = g_inflight_at_cut = g_visible_unacked = g_cuts_in_ckpt = 0;
	memset(g_acked, 0, sizeof(g_acked));
	for (int i = 0; i < PC_OBJS; i++) {
		g_ops[i].buf = tu_buf(PC_NB * 4096);
		g_ops[i].busy = false;
	}
	g_nobjs = dense ? PC_OBJS : 12;
	ck_assert_int_eq(st_membackend_create(r, disk, &mb), 0);
	st_opts_init(&o);
	o.backend = st_membackend_ops();
	o.backend_ctx = mb;
	o.backend_size_bytes = disk;
	o.backend_reactor = r;
	o.journal_bytes = journal_bytes;
	o.meta_bytes = 64u << 10;
	ck_assert_int_eq(st_format(&o), 0);

	for (uint64_t round = 0; round < rounds; round++) {
		struct st_stats s;
		uint64_t steps = pc_rand() % 600;
		bool aim = pc_rand() & 1;
		uint64_t after = pc_rand() % 10;

		o.durability = (round % 2) ? ST_DUR_BATCH_FLUSH : ST_DUR_FUA;
		o.journal_write_max_bytes = (round % 3 == 0) ? 16384 : 4096;
		g_cut = false;
		ck_assert_int_eq(st_open(&o, r, &st), 0);
		pc_verify(st, rb, round, seed);
		/* Every other FUA round as on a device without FUA (RoW data and
		 * its records written plain, then one flush per record), with one
		 * record in flight as then by default, or with four. */
		if (round % 4 == 2) {
			st->row_flush = true;
			st->jmax_inflight = round % 8 == 2 ? 1 : ST_JINFLIGHT_MAX;
		}
		/* Small scan steps: a checkpoint's scan yields to the operations
		 * (and hash table moves) many times. */
		if (dense)
			st->ck_scan_slots = 8 + (uint32_t)(pc_rand() % 256);
		else if (round % 4 == 0)
			st->ck_scan_slots = 1 + (uint32_t)(pc_rand() % 512);
		/* Aimed: start a checkpoint after `steps` turns (unless one runs),
		 * then go on for `after` turns and cut. */
		for (uint64_t i = 0; i < steps + (aim ? after : 0); i++) {
			int inflight = 0;
			if (aim && i == steps && st->ck_phase == ST_CK_IDLE)
				st__ckpt_request(st);
			for (int k = 0; k < g_nobjs; k++)
				inflight += g_ops[k].busy;
			while (inflight < PC_QD) {
				int obj = (int)(pc_rand() % (uint64_t)g_nobjs);
				if (g_ops[obj].busy)
					break;
				pc_submit(st, obj);
				inflight++;
			}
			rt_reactor_run_once(r, 0);
		}
		st_get_stats(st, &s);
		ckpts += s.checkpoints;
		if (st->ck_phase != ST_CK_IDLE)
			g_cuts_in_ckpt++;
		/* Power cut. */
		g_cut = true;
		dropped += (uint64_t)st_membackend_powercut(mb, pc_rand());
		st_close(&st);
		ck_assert_ptr_null(st);
		st_membackend_restore(mb);
	}
	/* Final check. */
	g_cut = false;
	ck_assert_int_eq(st_open(&o, r, &st), 0);
	pc_verify(st, rb, rounds, seed);
	ck_assert_int_eq(st_close(&st), 0);
	fprintf(stderr,
		"powercut %s: %" PRIu64 " rounds, %" PRIu64 " acknowledged ops, %" PRIu64
		" in flight at a cut (%" PRIu64 " of them visible after), %" PRIu64
		" cached blocks dropped, %" PRIu64 " checkpoints, %" PRIu64
		" cuts during a checkpoint\n",
		name, rounds, g_acks, g_inflight_at_cut, g_visible_unacked, dropped, ckpts,
		g_cuts_in_ckpt);
	ck_assert_uint_gt(g_acks, rounds);
	if (rounds >= 100)
		ck_assert_uint_gt(g_cuts_in_ckpt, rounds / 10);
	st_membackend_destroy(&mb);
	for (int i = 0; i < PC_OBJS; i++)
		free(g_ops[i].buf);
	free(rb);
	rt_reactor_destroy(&r);
}

START_TEST(test_powercut)
{
	pc_run(4u << 20, false, "4MiB-journal");
}
END_TEST

START_TEST(test_powercut_small_journal)
{
	pc_run(256u << 10, false, "256KiB-journal");
}
END_TEST

START_TEST(test_powercut_dense)
{
	pc_run(1u << 20, true, "dense-index");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("libstore-powercut");
	TCase *tc = tcase_create("powercut");
	SRunner *sr;
	int nf;

	tcase_set_timeout(tc, 3600);
	tcase_add_test(tc, test_powercut);
	tcase_add_test(tc, test_powercut_small_journal);
	tcase_add_test(tc, test_powercut_dense);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
