/*
 * Unit tests of the PG log (osd/osd_pglog.c): duplicate detection, trimming
 * by the ring, the on-disk record (CRC, bad input), keys, and a persistence
 * round trip through a real libstore on a temp file (write the slots as the
 * OSD does, close, reopen, iterate, reload).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "osd_pglog.h"
#include "rt_err.h"
#include "rt_reactor.h"
#include "st.h"

static struct osd_pglog_entry
ent(uint64_t version, uint64_t oid, uint64_t cid, uint64_t req, int32_t result)
{
	struct osd_pglog_entry e;

	memset(&e, 0, sizeof(e));
	e.version = version;
	e.obj.pool = 3;
	e.obj.oid = oid;
	e.client_id = cid;
	e.req_id = req;
	e.result = result;
	e.op = 1;
	return e;
}

START_TEST(test_dup_detection)
{
	struct osd_pglog l;
	struct osd_pglog_entry e;
	const struct osd_pglog_entry *d;

	ck_assert_int_eq(osd_pglog_init(&l, 3, 5, 16), 0);
	ck_assert_ptr_null(osd_pglog_find_dup(&l, 1, 1));
	e = ent(osd_version_make(4, 1), 10, 0xabc, 100, 0);
	osd_pglog_append(&l, &e);
	e = ent(osd_version_make(4, 2), 11, 0xabc, 101, -ENOENT);
	osd_pglog_append(&l, &e);
	d = osd_pglog_find_dup(&l, 0xabc, 100);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->version, osd_version_make(4, 1));
	ck_assert_int_eq(d->result, 0);
	d = osd_pglog_find_dup(&l, 0xabc, 101);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(d->result, -ENOENT);
	ck_assert_ptr_null(osd_pglog_find_dup(&l, 0xabc, 102));
	ck_assert_ptr_null(osd_pglog_find_dup(&l, 0xabd, 100));
	/* client id 0 never matches (internal ops). */
	e = ent(osd_version_make(4, 3), 12, 0, 7, 0);
	osd_pglog_append(&l, &e);
	ck_assert_ptr_null(osd_pglog_find_dup(&l, 0, 7));
	ck_assert_uint_eq(l.n, 3);
	ck_assert_uint_eq(l.last_version, osd_version_make(4, 3));
	ck_assert_uint_eq(osd_pglog_tail_version(&l), osd_version_make(4, 1));
	osd_pglog_fini(&l);
	ck_assert_int_eq(osd_pglog_init(&l, 0, 0, 0), -EINVAL);
	ck_assert_int_eq(osd_pglog_init(&l, 0, 0, OSD_PGLOG_MAX_CAP + 1), -EINVAL);
}
END_TEST

START_TEST(test_trim)
{
	struct osd_pglog l;

	ck_assert_int_eq(osd_pglog_init(&l, 1, 2, 8), 0);
	for (uint64_t i = 1; i <= 20; i++) {
		struct osd_pglog_entry e = ent(osd_version_make(2, i), i, 9, i, 0);
		struct osd_pglog_entry *s = osd_pglog_append(&l, &e);

		ck_assert_uint_eq(s->slot, (i - 1) % 8);
	}
	ck_assert_uint_eq(l.n, 8);
	/* Only the newest 8 remain. */
	for (uint64_t i = 1; i <= 12; i++)
		ck_assert_ptr_null(osd_pglog_find_dup(&l, 9, i));
	for (uint64_t i = 13; i <= 20; i++)
		ck_assert_ptr_nonnull(osd_pglog_find_dup(&l, 9, i));
	ck_assert_uint_eq(osd_pglog_tail_version(&l), osd_version_make(2, 13));
	ck_assert_uint_eq(l.head, 20 % 8);
	osd_pglog_fini(&l);
}
END_TEST

START_TEST(test_record_and_keys)
{
	struct osd_pglog l;
	struct osd_pglog_entry e = ent(osd_version_make(7, 9), 0x1234567890ull, 5, 6, -ENOSPC), out;
	struct osd_pglog_disk d;
	uint32_t pool, seed, slot;
	char key[OSD_PGLOG_KEY_MAX];
	uint32_t klen;

	ck_assert_int_eq(osd_pglog_init(&l, 3, 0x1f, 4), 0);
	e.slot = osd_pglog_append(&l, &e)->slot;
	osd_pglog_encode(&l, &e, &d);
	ck_assert_int_eq(osd_pglog_decode(&d, sizeof(d), &pool, &seed, &out), 0);
	ck_assert_uint_eq(pool, 3);
	ck_assert_uint_eq(seed, 0x1f);
	ck_assert_uint_eq(out.version, e.version);
	ck_assert_uint_eq(out.obj.oid, e.obj.oid);
	ck_assert_uint_eq(out.client_id, 5);
	ck_assert_uint_eq(out.req_id, 6);
	ck_assert_int_eq(out.result, -ENOSPC);
	/* Bad input: short, magic, CRC, format. */
	ck_assert_int_eq(osd_pglog_decode(&d, sizeof(d) - 1, &pool, &seed, &out), -EBADMSG);
	{
		struct osd_pglog_disk b = d;

		b.magic ^= 1;
		ck_assert_int_eq(osd_pglog_decode(&b, sizeof(b), &pool, &seed, &out), -RT_EBADMAGIC);
		b = d;
		b.oid ^= 1;
		ck_assert_int_eq(osd_pglog_decode(&b, sizeof(b), &pool, &seed, &out), -RT_EBADCRC);
	}
	klen = osd_pglog_key(3, 0x1f, 2, key, sizeof(key));
	ck_assert_str_eq(key, "pglog.3.1f.2");
	ck_assert_int_eq(osd_pglog_key_parse(key, klen, &pool, &seed, &slot), 0);
	ck_assert_uint_eq(pool, 3);
	ck_assert_uint_eq(seed, 0x1f);
	ck_assert_uint_eq(slot, 2);
	ck_assert_int_eq(osd_pglog_key_parse("pglog.3.1f", 10, &pool, &seed, &slot), -EINVAL);
	ck_assert_int_eq(osd_pglog_key_parse("pglog.3.1g.2", 12, &pool, &seed, &slot), -EINVAL);
	ck_assert_int_eq(osd_pglog_key_parse("pglog.99999999999.1.2", 21, &pool, &seed, &slot),
			 -EINVAL);
	ck_assert_int_eq(osd_pglog_key_parse("osd.ident", 9, &pool, &seed, &slot), -EINVAL);
	ck_assert_int_eq(osd_pglog_key_parse("pglog.1.2.3x", 12, &pool, &seed, &slot), -EINVAL);
	/* A slot past the capacity is refused at load. */
	out.slot = 9;
	ck_assert_int_eq(osd_pglog_load_entry(&l, &out), -ERANGE);
	osd_pglog_fini(&l);
}
END_TEST

struct load_ctx {
	struct osd_pglog *log;
	int loaded, bad;
};

static int
load_fn(void *arg, const void *key, uint32_t key_len, const void *val, uint32_t val_len)
{
	struct load_ctx *c = arg;
	struct osd_pglog_entry e;
	uint32_t kp, ks, kslot, pool, seed;

	if (osd_pglog_key_parse(key, key_len, &kp, &ks, &kslot) < 0 ||
	    osd_pglog_decode(val, val_len, &pool, &seed, &e) < 0 || e.slot != kslot) {
		c->bad++;
		return 0;
	}
	ck_assert_int_eq(osd_pglog_load_entry(c->log, &e), 0);
	c->loaded++;
	return 0;
}

START_TEST(test_persistence_round_trip)
{
	char path[] = "/tmp/tessera-test-pglog.XXXXXX";
	struct rt_reactor_opts ro;
	struct rt_reactor *r = NULL;
	struct st_store *st = NULL;
	struct st_opts o;
	struct osd_pglog l, l2;
	struct load_ctx lc = { 0 };
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
	ck_assert_int_eq(rt_reactor_create(&ro, &r), 0);
	ck_assert_int_eq(st_open(&o, r, &st), 0);

	/* 13 appends into an 8-slot log, each persisted as the OSD does. */
	ck_assert_int_eq(osd_pglog_init(&l, 2, 0xa, 8), 0);
	for (uint64_t i = 1; i <= 13; i++) {
		struct osd_pglog_entry e = ent(osd_version_make(3, i), 100 + i, 0x77, i,
					       i == 12 ? -EIO : 0);
		struct osd_pglog_entry *s = osd_pglog_append(&l, &e);
		struct osd_pglog_disk d;
		char key[OSD_PGLOG_KEY_MAX];
		uint32_t klen = osd_pglog_key(2, 0xa, s->slot, key, sizeof(key));

		osd_pglog_encode(&l, s, &d);
		ck_assert_int_eq(st_sync_meta_set(st, key, klen, &d, sizeof(d)), 0);
	}
	/* A corrupt record under a valid key is skipped, never fatal. */
	{
		struct osd_pglog_disk junk;
		char key[OSD_PGLOG_KEY_MAX];
		uint32_t klen = osd_pglog_key(2, 0xb, 0, key, sizeof(key));

		memset(&junk, 0x5a, sizeof(junk));
		ck_assert_int_eq(st_sync_meta_set(st, key, klen, &junk, sizeof(junk)), 0);
	}
	ck_assert_int_eq(st_close(&st), 0);
	ck_assert_int_eq(st_open(&o, r, &st), 0);

	ck_assert_int_eq(osd_pglog_init(&l2, 2, 0xa, 8), 0);
	lc.log = &l2;
	ck_assert_int_eq(st_meta_iterate(st, OSD_PGLOG_KEY_PREFIX, 6, load_fn, &lc), 0);
	osd_pglog_load_done(&l2);
	ck_assert_int_eq(lc.loaded, 8);
	ck_assert_int_eq(lc.bad, 1);
	ck_assert_uint_eq(l2.n, 8);
	ck_assert_uint_eq(l2.head, l.head);
	ck_assert_uint_eq(l2.last_version, osd_version_make(3, 13));
	for (uint64_t i = 1; i <= 5; i++)
		ck_assert_ptr_null(osd_pglog_find_dup(&l2, 0x77, i));
	for (uint64_t i = 6; i <= 13; i++) {
		const struct osd_pglog_entry *d = osd_pglog_find_dup(&l2, 0x77, i);

		ck_assert_ptr_nonnull(d);
		ck_assert_uint_eq(d->version, osd_version_make(3, i));
		ck_assert_uint_eq(d->obj.oid, 100 + i);
		ck_assert_int_eq(d->result, i == 12 ? -EIO : 0);
	}
	/* The next append after the reload takes the oldest slot. */
	{
		struct osd_pglog_entry e = ent(osd_version_make(3, 14), 1, 0x77, 14, 0);

		ck_assert_uint_eq(osd_pglog_append(&l2, &e)->slot, 13 % 8);
		ck_assert_ptr_null(osd_pglog_find_dup(&l2, 0x77, 6));
	}
	osd_pglog_fini(&l);
	osd_pglog_fini(&l2);
	ck_assert_int_eq(st_close(&st), 0);
	rt_reactor_destroy(&r);
	unlink(path);
}
END_TEST

static Suite *
pglog_suite(void)
{
	Suite *s = suite_create("osd_pglog");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_dup_detection);
	tcase_add_test(tc, test_trim);
	tcase_add_test(tc, test_record_and_keys);
	tcase_add_test(tc, test_persistence_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pglog_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
