/* Unit tests of the small runtime pieces: crc32c, errors, config tables, logger. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_arena.h"
#include "rt_conf.h"
#include "rt_crc.h"
#include "rt_err.h"
#include "rt_log.h"

START_TEST(test_crc32c_vectors)
{
	/* RFC 3720 B.4 / the common check value. */
	ck_assert_uint_eq(rt_crc32c(0, "123456789", 9), 0xe3069283u);
	uint8_t zeros[32] = {0};
	ck_assert_uint_eq(rt_crc32c(0, zeros, 32), 0x8a9136aau);
	uint8_t ones[32];
	memset(ones, 0xff, sizeof(ones));
	ck_assert_uint_eq(rt_crc32c(0, ones, 32), 0x62a8ab43u);
	/* Chaining equals one call over the concatenation. */
	uint32_t c = rt_crc32c(0, "1234", 4);
	ck_assert_uint_eq(rt_crc32c(c, "56789", 5), 0xe3069283u);
	struct iovec iov[3] = {{"12", 2}, {"345", 3}, {"6789", 4}};
	ck_assert_uint_eq(rt_crc32c_iov(0, iov, 3), 0xe3069283u);
}
END_TEST

START_TEST(test_strerror)
{
	ck_assert_str_eq(rt_strerror(-RT_ECSUM), "data checksum mismatch");
	ck_assert_str_eq(rt_strerror(RT_ESTALE_EPOCH), "the sender's cluster map epoch is stale");
	ck_assert_str_eq(rt_strerror(-ENOENT), strerror(ENOENT));
	ck_assert_str_eq(rt_strerror(0), "success");
	ck_assert_str_eq(rt_strerror(-2999), "unknown tessera error");
}
END_TEST

struct test_cfg {
	bool verbose;
	int64_t cores;
	uint64_t size;
	uint64_t grace_us;
	const char *device;
	int mode;
	const char *peers;
};

static const char *const modes[] = {"fua", "batch", "none", NULL};

static const struct rt_conf_opt test_opts[] = {
	{.name = "verbose", .short_name = 'v', .type = RT_CONF_BOOL,
	 .offset = offsetof(struct test_cfg, verbose), .help = "more output"},
	{.name = "cores", .short_name = 'c', .type = RT_CONF_INT,
	 .offset = offsetof(struct test_cfg, cores), .def = "1", .min = 1, .max = 64,
	 .help = "reactors"},
	{.name = "size", .type = RT_CONF_SIZE, .offset = offsetof(struct test_cfg, size),
	 .def = "4G", .help = "device size"},
	{.name = "grace", .type = RT_CONF_DURATION,
	 .offset = offsetof(struct test_cfg, grace_us), .def = "5s", .runtime = true,
	 .help = "grace"},
	{.name = "device", .type = RT_CONF_STR, .offset = offsetof(struct test_cfg, device),
	 .help = "path", .metavar = "PATH"},
	{.name = "durability", .type = RT_CONF_ENUM, .offset = offsetof(struct test_cfg, mode),
	 .def = "batch", .choices = modes, .help = "durability"},
	{.name = "peer", .type = RT_CONF_LIST, .offset = offsetof(struct test_cfg, peers),
	 .help = "peers"},
};

static const struct rt_conf_table test_table = {
	.prog = "test-prog",
	.synopsis = "[OPTIONS] ARGS",
	.description = "A test program.",
	.opts = test_opts,
	.n_opts = sizeof(test_opts) / sizeof(test_opts[0]),
};

static int
parse(struct test_cfg *cfg, int argc, const char **argv_in, int *first)
{
	static char *argv[32];

	for (int i = 0; i < argc; i++)
		argv[i] = (char *)argv_in[i];
	return rt_conf_parse(&test_table, cfg, argc, argv, first);
}

START_TEST(test_conf_defaults_and_flags)
{
	struct test_cfg cfg;
	int first;
	const char *argv[] = {"p", "--cores", "4", "a1", "--size=1M", "-v", "--grace", "250ms",
			      "--device", "/dev/x", "--durability", "fua", "--peer", "1=a",
			      "--peer=2=b", "a2"};

	ck_assert_int_eq(parse(&cfg, 1, argv, &first), 0);
	ck_assert_int_eq(cfg.cores, 1);
	ck_assert_uint_eq(cfg.size, 4ull << 30);
	ck_assert_uint_eq(cfg.grace_us, 5000000);
	ck_assert_int_eq(cfg.mode, 1);
	ck_assert(!cfg.verbose);
	ck_assert_ptr_null(cfg.device);
	ck_assert_int_eq(first, 1);

	ck_assert_int_eq(parse(&cfg, 16, argv, &first), 0);
	ck_assert_int_eq(cfg.cores, 4);
	ck_assert_uint_eq(cfg.size, 1 << 20);
	ck_assert(cfg.verbose);
	ck_assert_uint_eq(cfg.grace_us, 250000);
	ck_assert_str_eq(cfg.device, "/dev/x");
	ck_assert_int_eq(cfg.mode, 0);
	ck_assert_str_eq(cfg.peers, "1=a,2=b");
	ck_assert_int_eq(first, 14);
	rt_conf_free(&test_table, &cfg);
}
END_TEST

START_TEST(test_conf_errors)
{
	struct test_cfg cfg;
	int first;
	const char *bad1[] = {"p", "--cores", "0"};
	const char *bad2[] = {"p", "--size", "4Q"};
	const char *bad3[] = {"p", "--nope"};
	const char *bad4[] = {"p", "--cores"};
	const char *bad5[] = {"p", "--durability", "maybe"};
	const char *bad6[] = {"p", "--grace", "-1"};
	const char *help[] = {"p", "--cores", "2", "--help"};

	ck_assert_int_eq(parse(&cfg, 3, bad1, &first), -EINVAL);
	ck_assert_int_eq(parse(&cfg, 3, bad2, &first), -EINVAL);
	ck_assert_int_eq(parse(&cfg, 2, bad3, &first), -EINVAL);
	ck_assert_int_eq(parse(&cfg, 2, bad4, &first), -EINVAL);
	ck_assert_int_eq(parse(&cfg, 3, bad5, &first), -EINVAL);
	ck_assert_int_eq(parse(&cfg, 3, bad6, &first), -EINVAL);
	ck_assert_int_eq(parse(&cfg, 4, help, &first), 1);
}
END_TEST

START_TEST(test_conf_file)
{
	char path[] = "/tmp/tessera-conf-XXXXXX";
	int fd = mkstemp(path);
	struct test_cfg cfg;
	int first;
	FILE *f;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fprintf(f, "# comment\ncores = 8\n  device = /dev/file  # trailing\nsize=2G\n");
	fclose(f);
	{
		/* Flags win over the file. */
		const char *argv[] = {"p", "--config", path, "--cores", "3"};
		ck_assert_int_eq(parse(&cfg, 5, argv, &first), 0);
		ck_assert_int_eq(cfg.cores, 3);
		ck_assert_str_eq(cfg.device, "/dev/file");
		ck_assert_uint_eq(cfg.size, 2ull << 30);
		rt_conf_free(&test_table, &cfg);
	}
	f = fopen(path, "w");
	fprintf(f, "cores = 100\n");
	fclose(f);
	{
		const char *argv[] = {"p", "--config", path};
		ck_assert_int_eq(parse(&cfg, 3, argv, &first), -EINVAL);
	}
	unlink(path);
	{
		const char *argv[] = {"p", "--config", path};
		ck_assert_int_eq(parse(&cfg, 3, argv, &first), -EINVAL);
	}
}
END_TEST

START_TEST(test_parse_units)
{
	uint64_t v;

	ck_assert_int_eq(rt_parse_size("4K", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(rt_parse_size("128KiB", &v), 0);
	ck_assert_uint_eq(v, 128 << 10);
	ck_assert_int_eq(rt_parse_size("1T", &v), 0);
	ck_assert_uint_eq(v, 1ull << 40);
	ck_assert_int_eq(rt_parse_size("", &v), -EINVAL);
	ck_assert_int_eq(rt_parse_size("-4K", &v), -EINVAL);
	ck_assert_int_eq(rt_parse_size("99999999999999T", &v), -EINVAL);
	ck_assert_int_eq(rt_parse_duration_us("1.5s", &v), 0);
	ck_assert_uint_eq(v, 1500000);
	ck_assert_int_eq(rt_parse_duration_us("20", &v), 0);
	ck_assert_uint_eq(v, 20000);
	ck_assert_int_eq(rt_parse_duration_us("7us", &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(rt_parse_duration_us("5 parsecs", &v), -EINVAL);
}
END_TEST

struct log_thread_arg {
	int id;
};

static void *
log_writer(void *p)
{
	struct log_thread_arg *a = p;

	for (int i = 0; i < 200; i++)
		rt_info(RT_SS_GEN, "thread %d line %d", a->id, i);
	return NULL;
}

START_TEST(test_log_threads)
{
	char path[] = "/tmp/tessera-log-XXXXXX";
	int fd = mkstemp(path);
	pthread_t th[4];
	struct log_thread_arg args[4];
	char line[600];
	int lines = 0, dropped_lines = 0;
	FILE *f;

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(rt_log_init("test", path, RT_LOG_INFO), 0);
	rt_debug(RT_SS_STORE, "not shown");
	ck_assert_int_eq(rt_log_set_debug("store", true), 0);
	ck_assert_int_eq(rt_log_set_debug("nosuch", true), -ENOENT);
	rt_debug(RT_SS_STORE, "shown");
	for (int i = 0; i < 4; i++) {
		args[i].id = i;
		pthread_create(&th[i], NULL, log_writer, &args[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	rt_log_fini();

	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		ck_assert_ptr_nonnull(strstr(line, "test["));
		ck_assert(strstr(line, " INFO gen: thread ") || strstr(line, "DEBUG store: shown") ||
			  strstr(line, "dropped"));
		ck_assert_ptr_null(strstr(line, "not shown"));
		if (strstr(line, "dropped"))
			dropped_lines++;
		else
			lines++;
	}
	fclose(f);
	unlink(path);
	/* Every line arrived, or the drop was counted and reported. */
	ck_assert_int_eq(lines + (int)rt_log_dropped(), 801);
	if (rt_log_dropped())
		ck_assert_int_gt(dropped_lines, 0);
	ck_assert_int_eq(rt_log_level_parse("warn"), RT_LOG_WARN);
	ck_assert_int_eq(rt_log_level_parse("loud"), -EINVAL);
}
END_TEST

START_TEST(test_ratelimit)
{
	struct rt_log_ratelimit rl = {0};
	uint32_t supp;
	int passed = 0;

	for (int i = 0; i < 100; i++)
		passed += rt_log_ratelimit_pass(&rl, 10, &supp);
	/* All 100 calls fall in one window unless the second boundary was crossed. */
	ck_assert_int_ge(passed, 10);
	ck_assert_int_le(passed, 20);
}
END_TEST

START_TEST(test_arena)
{
	struct rt_arena a;

	ck_assert_int_eq(rt_arena_init(&a, 100), 0);
	void *p = rt_arena_alloc(&a, 10);
	void *q = rt_arena_alloc(&a, 10);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq((uintptr_t)q % 16, 0);
	ck_assert_ptr_null(rt_arena_alloc(&a, 100));
	ck_assert_uint_eq(a.failed_allocs, 1);
	rt_arena_reset(&a);
	ck_assert_ptr_nonnull(rt_arena_alloc(&a, 100));
	rt_arena_fini(&a);
}
END_TEST

static Suite *
base_suite(void)
{
	Suite *s = suite_create("base");
	TCase *tc = tcase_create("base");

	tcase_add_test(tc, test_crc32c_vectors);
	tcase_add_test(tc, test_strerror);
	tcase_add_test(tc, test_conf_defaults_and_flags);
	tcase_add_test(tc, test_conf_errors);
	tcase_add_test(tc, test_conf_file);
	tcase_add_test(tc, test_parse_units);
	tcase_add_test(tc, test_log_threads);
	tcase_add_test(tc, test_ratelimit);
	tcase_add_test(tc, test_arena);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(base_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
