/*
 * libtessera configuration: keys, values, strings, files and the
 * environment. Parsing is strict (every bad item is -EINVAL) and atomic (a
 * failed string or file changes nothing).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_log.h"
#include "tsr_int.h"

static struct tsr_cluster *
new_cl(void)
{
	struct tsr_cluster *cl = calloc(1, sizeof(*cl));

	ck_assert_ptr_nonnull(cl);
	tsr__conf_defaults(&cl->conf);
	return cl;
}

static const char *
get(struct tsr_cluster *cl, const char *key)
{
	static char buf[1100];

	ck_assert_int_eq(tsr_conf_get(cl, key, buf, sizeof(buf)), 0);
	return buf;
}

START_TEST(defaults)
{
	struct tsr_cluster *cl = new_cl();

	ck_assert_str_eq(get(cl, "mon"), "");
	ck_assert_str_eq(get(cl, "op_timeout"), "30");
	ck_assert_str_eq(get(cl, "connect_timeout"), "10");
	ck_assert_str_eq(get(cl, "io_threads"), "1");
	ck_assert_str_eq(get(cl, "queue_depth"), "256");
	ck_assert_str_eq(get(cl, "log_level"), "warn");
	ck_assert_str_eq(get(cl, "log_file"), "");
	free(cl);
}
END_TEST

START_TEST(set_good)
{
	struct tsr_cluster *cl = new_cl();

	ck_assert_int_eq(tsr_conf_set(cl, "mon", "127.0.0.1:6789,[::1]:7000,mon1:1"), 0);
	ck_assert_str_eq(get(cl, "mon"), "127.0.0.1:6789,[::1]:7000,mon1:1");
	ck_assert_int_eq(tsr_conf_set(cl, "op_timeout", "0"), 0);
	ck_assert_str_eq(get(cl, "op_timeout"), "0");
	ck_assert_int_eq(tsr_conf_set(cl, "op_timeout", "1.5"), 0);
	ck_assert_uint_eq(cl->conf.op_timeout_us, 1500000);
	ck_assert_str_eq(get(cl, "op_timeout"), "1.5");
	ck_assert_int_eq(tsr_conf_set(cl, "op_timeout", "250ms"), 0);
	ck_assert_str_eq(get(cl, "op_timeout"), "0.25");
	ck_assert_int_eq(tsr_conf_set(cl, "op_timeout", "2m"), 0);
	ck_assert_uint_eq(cl->conf.op_timeout_us, 120000000);
	ck_assert_int_eq(tsr_conf_set(cl, "connect_timeout", "3s"), 0);
	ck_assert_str_eq(get(cl, "connect_timeout"), "3");
	ck_assert_int_eq(tsr_conf_set(cl, "io_threads", "4"), 0);
	ck_assert_int_eq(tsr_conf_set(cl, "queue_depth", "65536"), 0);
	ck_assert_int_eq(tsr_conf_set(cl, "log_level", "debug"), 0);
	ck_assert_int_eq(cl->conf.log_level, RT_LOG_DEBUG);
	ck_assert_int_eq(tsr_conf_set(cl, "log_level", "ERROR"), 0);
	ck_assert_str_eq(get(cl, "log_level"), "error");
	ck_assert_int_eq(tsr_conf_set(cl, "log_file", "/tmp/x.log"), 0);
	ck_assert_str_eq(get(cl, "log_file"), "/tmp/x.log");
	free(cl);
}
END_TEST

START_TEST(set_bad)
{
	struct tsr_cluster *cl = new_cl();
	static const char *const bad[][2] = {
		{ "nosuchkey", "1" },
		{ "mon", "" },
		{ "mon", "127.0.0.1" },
		{ "mon", "127.0.0.1:0" },
		{ "mon", "127.0.0.1:65536" },
		{ "mon", "127.0.0.1:12x" },
		{ "mon", ":6789" },
		{ "mon", "a:1," },
		{ "mon", "a:1,,b:2" },
		{ "mon", "a b:1" },
		{ "op_timeout", "" },
		{ "op_timeout", "-1" },
		{ "op_timeout", "abc" },
		{ "op_timeout", "10x" },
		{ "op_timeout", "1." },
		{ "op_timeout", "99999999999999999999" },
		{ "op_timeout", "100000" }, /* over a day */
		{ "connect_timeout", "0" },
		{ "io_threads", "0" },
		{ "io_threads", "65" },
		{ "io_threads", "1.5" },
		{ "io_threads", " 2" },
		{ "queue_depth", "0" },
		{ "queue_depth", "65537" },
		{ "queue_depth", "-3" },
		{ "log_level", "loud" },
		{ "log_level", "" },
	};
	char buf[4];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(tsr_conf_set(cl, bad[i][0], bad[i][1]) == -EINVAL, "%s=%s accepted",
			      bad[i][0], bad[i][1]);
	/* Nothing changed. */
	ck_assert_str_eq(get(cl, "op_timeout"), "30");
	ck_assert_str_eq(get(cl, "io_threads"), "1");
	ck_assert_int_eq(tsr_conf_get(cl, "nosuchkey", buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(tsr_conf_set(cl, "mon", "127.0.0.1:6789"), 0);
	ck_assert_int_eq(tsr_conf_get(cl, "mon", buf, sizeof(buf)), -ERANGE);
	ck_assert_int_eq(tsr_conf_set(cl, NULL, "1"), -EINVAL);
	ck_assert_int_eq(tsr_conf_set(cl, "mon", NULL), -EINVAL);
	free(cl);
}
END_TEST

START_TEST(string_forms)
{
	struct tsr_cluster *cl = new_cl();

	ck_assert_int_eq(tsr_conf_parse_string(cl, "op_timeout=5,io_threads=2;queue_depth=8"), 0);
	ck_assert_str_eq(get(cl, "op_timeout"), "5");
	ck_assert_str_eq(get(cl, "io_threads"), "2");
	ck_assert_str_eq(get(cl, "queue_depth"), "8");
	/* mon last on a line keeps its commas. */
	ck_assert_int_eq(tsr_conf_parse_string(cl, "io_threads=3, mon=1.2.3.4:5,6.7.8.9:10"), 0);
	ck_assert_str_eq(get(cl, "mon"), "1.2.3.4:5,6.7.8.9:10");
	ck_assert_str_eq(get(cl, "io_threads"), "3");
	/* mon before ';' too; blanks, comments and empty items are fine. */
	ck_assert_int_eq(tsr_conf_parse_string(cl, "# a comment\n  mon = 9.9.9.9:1,8.8.8.8:2 ; "
						   "log_level = info  # trailing\n\n,,;"),
			 0);
	ck_assert_str_eq(get(cl, "mon"), "9.9.9.9:1,8.8.8.8:2");
	ck_assert_str_eq(get(cl, "log_level"), "info");
	ck_assert_int_eq(tsr_conf_parse_string(cl, ""), 0);
	free(cl);
}
END_TEST

START_TEST(string_bad_is_atomic)
{
	struct tsr_cluster *cl = new_cl();
	static const char *const bad[] = {
		"io_threads=2,bogus=1",
		"io_threads=2,queue_depth",
		"=5",
		"io_threads=2;op_timeout=soon",
		"mon=1.2.3.4:5,io_threads=2", /* mon swallows the rest: a bad address */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(tsr_conf_parse_string(cl, bad[i]) == -EINVAL, "'%s' accepted",
			      bad[i]);
		ck_assert_str_eq(get(cl, "io_threads"), "1");
		ck_assert_str_eq(get(cl, "mon"), "");
	}
	ck_assert_int_eq(tsr_conf_parse_string(cl, NULL), -EINVAL);
	free(cl);
}
END_TEST

static char *
write_tmp(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/tsr-conf-test.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(file_forms)
{
	struct tsr_cluster *cl = new_cl();
	char *p = write_tmp("# libtessera\nmon = 10.0.0.1:6789,10.0.0.2:6789\n\n"
			    "op_timeout = 7   # seconds\nqueue_depth=64\n");

	ck_assert_int_eq(tsr_conf_read_file(cl, p), 0);
	ck_assert_str_eq(get(cl, "mon"), "10.0.0.1:6789,10.0.0.2:6789");
	ck_assert_str_eq(get(cl, "op_timeout"), "7");
	ck_assert_str_eq(get(cl, "queue_depth"), "64");
	unlink(p);
	p = write_tmp("queue_depth = 32\nthis line is wrong\n");
	ck_assert_int_eq(tsr_conf_read_file(cl, p), -EINVAL);
	ck_assert_str_eq(get(cl, "queue_depth"), "64");
	unlink(p);
	p = write_tmp("queue_depth = 32\nio_threads = many\n");
	ck_assert_int_eq(tsr_conf_read_file(cl, p), -EINVAL);
	ck_assert_str_eq(get(cl, "queue_depth"), "64");
	unlink(p);
	ck_assert_int_eq(tsr_conf_read_file(cl, "/nonexistent/tessera.conf"), -ENOENT);
	free(cl);
}
END_TEST

START_TEST(env)
{
	struct tsr_cluster *cl = new_cl();
	char *p = write_tmp("op_timeout = 9\nio_threads = 2\n");

	setenv("TESSERA_CONF", p, 1);
	setenv("TESSERA_MON", "127.0.0.1:1234", 1);
	setenv("TESSERA_OP_TIMEOUT", "11", 1);
	ck_assert_int_eq(tsr_conf_parse_env(cl), 0);
	ck_assert_str_eq(get(cl, "mon"), "127.0.0.1:1234");
	ck_assert_str_eq(get(cl, "op_timeout"), "11"); /* the variable wins over the file */
	ck_assert_str_eq(get(cl, "io_threads"), "2");
	setenv("TESSERA_MON", "nonsense", 1);
	ck_assert_int_eq(tsr_conf_parse_env(cl), -EINVAL);
	unsetenv("TESSERA_CONF");
	unsetenv("TESSERA_MON");
	unsetenv("TESSERA_OP_TIMEOUT");
	unlink(p);
	free(cl);
}
END_TEST

START_TEST(connected_refuses)
{
	struct tsr_cluster *cl = new_cl();

	atomic_store(&cl->connected, true);
	ck_assert_int_eq(tsr_conf_set(cl, "io_threads", "2"), -EISCONN);
	ck_assert_int_eq(tsr_conf_parse_string(cl, "io_threads=2"), -EISCONN);
	ck_assert_int_eq(tsr_conf_parse_env(cl), -EISCONN);
	ck_assert_str_eq(get(cl, "io_threads"), "1");
	free(cl);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("client_conf");
	TCase *tc = tcase_create("conf");
	SRunner *sr;
	int failed;

	rt_log_set_level(RT_LOG_ERR);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, set_good);
	tcase_add_test(tc, set_bad);
	tcase_add_test(tc, string_forms);
	tcase_add_test(tc, string_bad_is_atomic);
	tcase_add_test(tc, file_forms);
	tcase_add_test(tc, env);
	tcase_add_test(tc, connected_refuses);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
