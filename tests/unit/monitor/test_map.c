/* Map commands (the Raft state machine), encode/decode, incrementals, health. */
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
#include "mon_map_pb.h"
#include "rt_err.h"

static struct mon_map *
cluster(uint32_t n_osds)
{
	struct mon_map *m = mon_map_create();
	char uuid[32], host[32];

	ck_assert_int_eq(run(&m, "map init", "fsid", "f00d", "now_us", "1", NULL), 0);
	for (uint32_t i = 0; i < n_osds; i++) {
		snprintf(uuid, sizeof(uuid), "u%u", i);
		snprintf(host, sizeof(host), "h%u", i);
		ck_assert_int_eq(run(&m, "osd boot", "uuid", uuid, "host", host, "reactors",
				     "127.0.0.1:7000,127.0.0.1:7001", NULL),
				 0);
	}
	return m;
}

START_TEST(test_boot_and_ids)
{
	struct mon_map *m = cluster(3);
	uint64_t e;

	ck_assert_str_eq(m->fsid, "f00d");
	ck_assert_uint_eq(m->n_osds, 3);
	ck_assert_uint_eq(m->epoch, 4);
	ck_assert_uint_eq(mon_map_osd_by_uuid(m, "u1")->id, 1);
	ck_assert_uint_eq(mon_map_osd(m, 2)->n_reactors, 2);
	ck_assert_uint_eq(mon_map_osd(m, 2)->reactors[1].port, 7001);
	/* The same uuid boots again: same id, no new OSD. */
	ck_assert_int_eq(run(&m, "osd down", "id", "1", "now_us", "5", NULL), 0);
	ck_assert(!mon_map_osd(m, 1)->up);
	ck_assert_uint_eq(mon_map_osd(m, 1)->down_at_us, 5);
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "u1", "host", "h1", NULL), 0);
	ck_assert_uint_eq(m->n_osds, 3);
	ck_assert(mon_map_osd(m, 1)->up);
	/* want_id conflicting with the uuid's id is refused. */
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "u1", "host", "h1", "want_id", "2", NULL),
			 -EEXIST);
	/* A no-op makes no epoch. */
	e = m->epoch;
	ck_assert_int_eq(run(&m, "osd in", "id", "0", NULL), 0);
	ck_assert_uint_eq(m->epoch, e);
	ck_assert_int_eq(run(&m, "osd out", "id", "9", NULL), -ENOENT);
	ck_assert_int_eq(run(&m, "osd rm", "id", "0", NULL), -EBUSY);
	ck_assert_int_eq(run(&m, "bogus", NULL), -EOPNOTSUPP);
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "x", NULL), -EINVAL);
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "x", "host", "h", "reactors", "nonsense",
			     NULL),
			 -EINVAL);
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "x", "host", "h", "weight", "-1", NULL),
			 -EINVAL);
	mon_map_destroy(&m);
}
END_TEST

START_TEST(test_auto_out_in)
{
	struct mon_map *m = cluster(4);

	ck_assert_int_eq(run(&m, "osd down", "id", "2", "now_us", "5", NULL), 0);
	ck_assert_int_eq(run(&m, "osd out", "id", "2", "auto", "1", NULL), 0);
	ck_assert(!mon_map_osd(m, 2)->in);
	ck_assert(mon_map_osd(m, 2)->auto_out);
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "u2", "host", "h2", NULL), 0);
	ck_assert(mon_map_osd(m, 2)->in);
	/* Marked out by an admin: stays out across a reboot. */
	ck_assert_int_eq(run(&m, "osd out", "id", "3", NULL), 0);
	ck_assert_int_eq(run(&m, "osd boot", "uuid", "u3", "host", "h3", NULL), 0);
	ck_assert(!mon_map_osd(m, 3)->in);
	ck_assert_int_eq(run(&m, "osd down", "id", "3", "now_us", "5", NULL), 0);
	ck_assert_int_eq(run(&m, "osd rm", "id", "3", NULL), 0);
	ck_assert_ptr_null(mon_map_osd(m, 3));
	mon_map_destroy(&m);
}
END_TEST

START_TEST(test_pools)
{
	struct mon_map *m = cluster(3);

	ck_assert_int_eq(run(&m, "pool create", "name", "rbd", "size", "3", "min_size", "2",
			     "pg_count", "32", NULL),
			 0);
	ck_assert_uint_eq(m->pools[0].pg_count, 32);
	ck_assert_uint_eq(m->pools[0].pgs[7].n_acting, 3);
	ck_assert_int_eq(run(&m, "pool create", "name", "rbd", NULL), -EEXIST);
	ck_assert_int_eq(run(&m, "pool create", "name", "x", "size", "0", NULL), -EINVAL);
	ck_assert_int_eq(run(&m, "pool create", "name", "x", "size", "3", "min_size", "4", NULL),
			 -EINVAL);
	ck_assert_int_eq(run(&m, "pool create", "name", "x", "pg_count", "0", NULL), -EINVAL);
	ck_assert_int_eq(run(&m, "pool create", "name", "x y", NULL), -EINVAL);
	ck_assert_int_eq(run(&m, "pool create", "name", "x", "size", "abc", NULL), -EINVAL);
	ck_assert_int_eq(run(&m, "pool set", "name", "rbd", "key", "size", "value", "2", NULL), 0);
	ck_assert_uint_eq(m->pools[0].size, 2);
	ck_assert_uint_eq(m->pools[0].pgs[7].n_acting, 2);
	ck_assert_int_eq(run(&m, "pool set", "name", "rbd", "key", "pg_count", "value", "64",
			     NULL),
			 -ENOTSUP);
	ck_assert_int_eq(run(&m, "vol create", "name", "v1", "pool", "rbd", "size", "1048576",
			     NULL),
			 0);
	ck_assert_int_eq(run(&m, "pool rm", "name", "rbd", NULL), -EBUSY);
	ck_assert_int_eq(run(&m, "vol resize", "name", "v1", "size", "2097152", NULL), 0);
	ck_assert_uint_eq(mon_map_vol_by_name(m, "v1")->size, 2097152);
	ck_assert_int_eq(run(&m, "vol rename", "name", "v1", "new_name", "v2", NULL), 0);
	ck_assert_int_eq(run(&m, "vol rm", "name", "v2", NULL), 0);
	ck_assert_int_eq(run(&m, "pool rm", "name", "rbd", NULL), 0);
	ck_assert_uint_eq(m->n_pools, 0);
	mon_map_destroy(&m);
}
END_TEST

START_TEST(test_encode_decode)
{
	struct mon_map *m = cluster(5), *d;
	unsigned char *buf;
	size_t len;
	long n;

	ck_assert_int_eq(run(&m, "pool create", "name", "rbd", "pg_count", "64", NULL), 0);
	ck_assert_int_eq(run(&m, "vol create", "name", "v", "pool", "rbd", "size", "65536", NULL),
			 0);
	ck_assert_int_eq(run(&m, "osd down", "id", "4", "now_us", "77", NULL), 0);
	len = mon_map_packed_size(m);
	ck_assert_uint_gt(len, MON_SNAP_HDR_LEN);
	buf = malloc(len);
	n = mon_map_pack(m, buf, len);
	ck_assert_int_eq(n, (long)len);
	ck_assert_int_eq(mon_map_unpack(buf, len, &d), 0);
	ck_assert_uint_eq(d->epoch, m->epoch);
	ck_assert_str_eq(d->fsid, m->fsid);
	ck_assert_uint_eq(d->n_osds, m->n_osds);
	for (uint32_t i = 0; i < m->n_osds; i++)
		ck_assert(mon_osd_equal(&d->osds[i], &m->osds[i]));
	ck_assert(mon_pool_equal_meta(&d->pools[0], &m->pools[0]));
	for (uint32_t s = 0; s < 64; s++)
		ck_assert(mon_pg_equal(&d->pools[0].pgs[s], &m->pools[0].pgs[s]));
	ck_assert(mon_volume_equal(&d->vols[0], &m->vols[0]));
	ck_assert_uint_eq(d->next_volume_id, m->next_volume_id);
	mon_map_destroy(&d);

	/* Corruption is detected, never crashes. */
	buf[len - 1] ^= 0xff;
	ck_assert_int_eq(mon_map_unpack(buf, len, &d), -RT_EBADCRC);
	ck_assert_int_eq(mon_map_unpack(buf, 3, &d), -EBADMSG);
	buf[0] ^= 1;
	ck_assert_int_eq(mon_map_unpack(buf, len, &d), -RT_EBADMAGIC);
	free(buf);
	mon_map_destroy(&m);
}
END_TEST

START_TEST(test_incremental_and_cmd)
{
	struct mon_map *m = cluster(4), *old;
	Tessera__MapIncremental *inc;
	Tessera__AdminCommand *pb;
	struct mon_cmd c, d;
	unsigned char buf[512];
	size_t n;

	ck_assert_int_eq(run(&m, "pool create", "name", "rbd", "pg_count", "16", NULL), 0);
	old = mon_map_clone(m);
	ck_assert_int_eq(run(&m, "osd down", "id", "1", "now_us", "9", NULL), 0);
	inc = mon_map_inc_to_pb(old, m);
	ck_assert_ptr_nonnull(inc);
	ck_assert_uint_eq(inc->from_epoch, old->epoch);
	ck_assert_uint_eq(inc->to_epoch, m->epoch);
	ck_assert_uint_eq(inc->n_osds, 1);
	ck_assert_uint_eq(inc->osds[0]->id, 1);
	ck_assert_uint_eq(inc->n_pools, 0);
	ck_assert_uint_gt(inc->n_pgs, 0);
	ck_assert_uint_lt(inc->n_pgs, 16);
	mon_map_inc_pb_free(inc);
	mon_map_destroy(&old);

	mon_cmd_init(&c, "osd out");
	mon_cmd_add(&c, "id", "3");
	mon_cmd_add(&c, "auto", "1");
	n = mon_cmd_packed_size(&c);
	ck_assert_uint_le(n, sizeof(buf));
	ck_assert_uint_eq(mon_cmd_pack(&c, buf), n);
	ck_assert_int_eq(mon_cmd_unpack(buf, n, &pb, &d), 0);
	ck_assert_str_eq(d.name, "osd out");
	ck_assert_str_eq(mon_cmd_arg(&d, "auto"), "1");
	ck_assert_ptr_null(mon_cmd_arg(&d, "nope"));
	tessera__admin_command__free_unpacked(pb, NULL);
	buf[0] = 0xff;
	buf[1] = 0xff;
	ck_assert_int_eq(mon_cmd_unpack(buf, n, &pb, &d), -EBADMSG);
	mon_map_destroy(&m);
}
END_TEST

START_TEST(test_health)
{
	struct mon_map *m = cluster(3);
	struct mon_health h;
	struct mon_health_in in = { .n_mons = 3, .n_mons_quorum = 3, .nearfull_ratio = 0.85,
				    .full_ratio = 0.95 };

	in.map = m;
	mon_health_compute(&in, &h);
	ck_assert_int_eq(h.level, MON_HEALTH_OK);
	ck_assert_uint_eq(h.n_checks, 0);

	ck_assert_int_eq(run(&m, "pool create", "name", "rbd", "size", "3", "min_size", "2",
			     "pg_count", "8", NULL),
			 0);
	ck_assert_int_eq(run(&m, "osd down", "id", "0", "now_us", "1", NULL), 0);
	in.map = m;
	mon_health_compute(&in, &h);
	ck_assert_int_eq(h.level, MON_HEALTH_WARN);
	ck_assert_str_eq(h.checks[0].code, "OSD_DOWN");
	ck_assert_str_eq(h.checks[1].code, "PG_DEGRADED");

	ck_assert_int_eq(run(&m, "osd down", "id", "1", "now_us", "1", NULL), 0);
	in.map = m;
	in.n_mons_quorum = 2;
	mon_health_compute(&in, &h);
	ck_assert_int_eq(h.level, MON_HEALTH_ERR);
	ck_assert_str_eq(h.checks[0].code, "MON_DOWN");
	ck_assert_int_eq(h.checks[0].level, MON_HEALTH_WARN);
	ck_assert_str_eq(h.checks[2].code, "PG_AVAILABILITY");
	ck_assert_str_eq(mon_health_level_name(h.level), "HEALTH_ERR");

	uint64_t used[3] = { 0, 0, 90 };
	mon_map_osd(m, 2)->device_bytes = 100;
	in.osd_used_bytes = used;
	mon_health_compute(&in, &h);
	bool nearfull = false;
	for (uint32_t i = 0; i < h.n_checks; i++)
		nearfull |= strcmp(h.checks[i].code, "OSD_NEARFULL") == 0;
	ck_assert(nearfull);
	mon_map_destroy(&m);
}
END_TEST

static Suite *
map_suite(void)
{
	Suite *s = suite_create("map");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_boot_and_ids);
	tcase_add_test(tc, test_auto_out_in);
	tcase_add_test(tc, test_pools);
	tcase_add_test(tc, test_encode_decode);
	tcase_add_test(tc, test_incremental_and_cmd);
	tcase_add_test(tc, test_health);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(map_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
