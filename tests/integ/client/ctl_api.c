/*
 * libtessera control API against a real cluster (driven by test_ctl_api.sh).
 *
 *   ctl_api run MON            every control call, the error cases, watches,
 *                              other processes (children of this one) that
 *                              resize, hold open, or are killed while holding
 *   ctl_api failover MONS      the leader is killed while a volume is open
 *   ctl_api unreachable ADDR   connect to nothing: -ETIMEDOUT within
 *                              connect_timeout (2 s), not a hang
 *   ctl_api hold MON NAME      (child) open NAME, print "ready", wait for EOF
 *                              on stdin, print the events seen, close
 *   ctl_api resize MON NAME SIZE [shrink]   (child) resize by name
 *
 * Prints "PASS" and exits 0, or names the failed check and exits 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tessera/tessera.h"

extern char **environ;

#define MiB (1024ull * 1024)

static const char *self_exe;

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

#define CHECK_RC(expr, want)                                                                \
	do {                                                                                \
		long long rc__ = (long long)(expr);                                         \
		if (rc__ != (long long)(want)) {                                            \
			fprintf(stderr, "FAIL %s:%d: %s = %lld (%s), want %lld\n", __FILE__, \
				__LINE__, #expr, rc__, tsr_strerror((int)rc__),             \
				(long long)(want));                                         \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static struct tsr_cluster *
connect_to(const char *mon)
{
	struct tsr_cluster *cl;

	CHECK_RC(tsr_cluster_create(&cl), 0);
	CHECK_RC(tsr_conf_set(cl, "mon", mon), 0);
	CHECK_RC(tsr_conf_set(cl, "connect_timeout", "10"), 0);
	CHECK_RC(tsr_cluster_connect(cl), 0);
	return cl;
}

/* Watch events of a handle. */
struct events {
	atomic_int resized, renamed, removed;
	_Atomic uint64_t last_size;
};

static void
on_event(struct tsr_volume *vol, enum tsr_volume_event ev, uint64_t size, void *arg)
{
	struct events *e = arg;

	(void)vol;
	if (ev == TSR_VOLUME_RESIZED) {
		atomic_store(&e->last_size, size);
		atomic_fetch_add(&e->resized, 1);
	} else if (ev == TSR_VOLUME_RENAMED) {
		atomic_fetch_add(&e->renamed, 1);
	} else if (ev == TSR_VOLUME_REMOVED) {
		atomic_fetch_add(&e->removed, 1);
	}
}

/* A child process running this program; its stdin/stdout are pipes. */
struct child {
	pid_t pid;
	FILE *in;  /* its stdin */
	FILE *out; /* its stdout */
};

static void
child_start(struct child *c, char *const argv[], bool no_watch)
{
	posix_spawn_file_actions_t fa;
	int to[2], from[2];
	char **env = environ;
	char *env2[256];
	size_t n = 0;

	CHECK(pipe(to) == 0 && pipe(from) == 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, to[0], 0);
	posix_spawn_file_actions_adddup2(&fa, from[1], 1);
	posix_spawn_file_actions_addclose(&fa, to[1]);
	posix_spawn_file_actions_addclose(&fa, from[0]);
	if (no_watch) {
		for (char **e = environ; *e && n < 254; e++)
			env2[n++] = *e;
		env2[n++] = "TESSERA_TEST_SKIP_WATCH=1";
		env2[n] = NULL;
		env = env2;
	}
	CHECK(posix_spawn(&c->pid, self_exe, &fa, NULL, argv, env) == 0);
	posix_spawn_file_actions_destroy(&fa);
	close(to[0]);
	close(from[1]);
	c->in = fdopen(to[1], "w");
	c->out = fdopen(from[0], "r");
	CHECK(c->in && c->out);
}

static int
child_wait(struct child *c)
{
	int st;

	if (c->in)
		fclose(c->in);
	c->in = NULL;
	CHECK(waitpid(c->pid, &st, 0) == c->pid);
	if (c->out)
		fclose(c->out);
	c->out = NULL;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
child_expect(struct child *c, const char *word)
{
	char line[256];

	CHECK(fgets(line, sizeof(line), c->out) != NULL);
	if (strncmp(line, word, strlen(word)) != 0) {
		fprintf(stderr, "FAIL: child said '%s', want '%s'\n", line, word);
		exit(1);
	}
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void
check_conf_errors(const char *mon)
{
	struct tsr_cluster *cl;
	char buf[64];

	CHECK_RC(tsr_cluster_create(&cl), 0);
	CHECK(tsr_cluster_client_id(cl) != 0);
	CHECK_RC(tsr_cluster_epoch(cl), 0);
	CHECK_RC(tsr_conf_set(cl, "no_such_key", "1"), -EINVAL);
	CHECK_RC(tsr_conf_set(cl, "op_timeout", "soon"), -EINVAL);
	CHECK_RC(tsr_conf_set(cl, "mon", "127.0.0.1"), -EINVAL);
	CHECK_RC(tsr_conf_get(cl, "no_such_key", buf, sizeof(buf)), -ENOENT);
	CHECK_RC(tsr_conf_parse_string(cl, "io_threads=2,bogus"), -EINVAL);
	CHECK_RC(tsr_conf_read_file(cl, "/nonexistent/tessera.conf"), -ENOENT);
	/* No monitor configured. */
	CHECK_RC(tsr_cluster_connect(cl), -EINVAL);
	/* Not connected: calls that need the cluster say so. */
	CHECK_RC(tsr_volume_create(cl, "x", 4096, NULL), -ENOTCONN);
	{
		size_t n = 0;

		CHECK_RC(tsr_pool_list(cl, NULL, &n), -ENOTCONN);
	}
	CHECK_RC(tsr_conf_parse_string(cl, "io_threads=2\nmon=" /* mon last */), -EINVAL);
	CHECK_RC(tsr_conf_parse_string(cl, "connect_timeout=5; mon="), -EINVAL);
	snprintf(buf, sizeof(buf), "connect_timeout=5\nmon=%s", mon);
	CHECK_RC(tsr_conf_parse_string(cl, buf), 0);
	CHECK_RC(tsr_cluster_connect(cl), 0);
	CHECK(tsr_cluster_epoch(cl) > 0);
	CHECK_RC(tsr_cluster_connect(cl), -EISCONN);
	CHECK_RC(tsr_conf_set(cl, "io_threads", "2"), -EISCONN);
	CHECK_RC(tsr_conf_get(cl, "connect_timeout", buf, sizeof(buf)), 0);
	CHECK(strcmp(buf, "5") == 0);
	tsr_cluster_shutdown(cl);
	tsr_cluster_shutdown(NULL);
}

static void
check_pools(struct tsr_cluster *cl)
{
	struct tsr_pool_info pools[16];
	size_t n = 0;
	bool found = false;

	CHECK_RC(tsr_pool_list(cl, NULL, &n), -ERANGE);
	CHECK(n >= 1);
	n = 16;
	CHECK_RC(tsr_pool_list(cl, pools, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(pools[i].name, "rbd") == 0) {
			found = true;
			CHECK(pools[i].size == 3);
			CHECK(pools[i].min_size == 2);
			CHECK(pools[i].pg_count == 16);
		}
	}
	CHECK(found);
}

static void
check_directory(struct tsr_cluster *cl)
{
	struct tsr_volume_opts o = { 0 };
	struct tsr_volume_info info, list[8];
	char longname[TSR_NAME_MAX + 2];
	size_t n;

	CHECK_RC(tsr_volume_create(cl, "ctl-a", 64 * MiB, NULL), 0);
	CHECK_RC(tsr_volume_create(cl, "ctl-a", 64 * MiB, NULL), -EEXIST);
	CHECK_RC(tsr_volume_create(cl, "", 4096, NULL), -EINVAL);
	CHECK_RC(tsr_volume_create(cl, NULL, 4096, NULL), -EINVAL);
	CHECK_RC(tsr_volume_create(cl, "a/b", 4096, NULL), -EINVAL);
	CHECK_RC(tsr_volume_create(cl, "has space", 4096, NULL), -EINVAL);
	CHECK_RC(tsr_volume_create(cl, "ctl\x01", 4096, NULL), -EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[TSR_NAME_MAX + 1] = '\0';
	CHECK_RC(tsr_volume_create(cl, longname, 4096, NULL), -EINVAL);
	longname[TSR_NAME_MAX] = '\0'; /* exactly TSR_NAME_MAX: fine */
	CHECK_RC(tsr_volume_create(cl, longname, 4096, NULL), 0);
	CHECK_RC(tsr_volume_remove(cl, longname), 0);
	CHECK_RC(tsr_volume_create(cl, "ctl-odd", 1000, NULL), -EINVAL);
	o.object_size = 1000;
	CHECK_RC(tsr_volume_create(cl, "ctl-odd", 4096, &o), -EINVAL);
	o.object_size = 32 << 10;
	CHECK_RC(tsr_volume_create(cl, "ctl-odd", 4096, &o), -EINVAL);
	o.object_size = 128u << 20;
	CHECK_RC(tsr_volume_create(cl, "ctl-odd", 4096, &o), -EINVAL);
	o.object_size = 0;
	o.pool = "nopool";
	CHECK_RC(tsr_volume_create(cl, "ctl-odd", 4096, &o), -ENOENT);
	o.pool = "rbd";
	o.object_size = 1u << 20;
	CHECK_RC(tsr_volume_create(cl, "ctl-b", 8 * MiB, &o), 0);

	CHECK_RC(tsr_volume_info_by_name(cl, "ctl-a", &info), 0);
	CHECK(strcmp(info.name, "ctl-a") == 0 && strcmp(info.pool, "rbd") == 0);
	CHECK(info.size == 64 * MiB && info.object_size == 4 * MiB && info.num_objects == 16);
	CHECK(info.id > 0 && info.features == 0);
	CHECK_RC(tsr_volume_info_by_name(cl, "ctl-b", &info), 0);
	CHECK(info.object_size == 1 * MiB && info.num_objects == 8);
	CHECK_RC(tsr_volume_info_by_name(cl, "ctl-missing", &info), -ENOENT);
	CHECK_RC(tsr_volume_info_by_name(cl, "bad/name", &info), -EINVAL);

	n = 1;
	CHECK_RC(tsr_volume_list(cl, list, &n), -ERANGE);
	CHECK(n == 2);
	n = 8;
	CHECK_RC(tsr_volume_list(cl, list, &n), 0);
	CHECK(n == 2);
	CHECK(strcmp(list[0].name, "ctl-a") == 0 && strcmp(list[1].name, "ctl-b") == 0);
	CHECK(list[1].size == 8 * MiB);
}

static void
check_open_handle(struct tsr_cluster *cl, const char *mon)
{
	struct tsr_volume *vol, *vol2;
	struct tsr_volume_info info;
	struct events ev = { 0 };
	struct child c;
	uint64_t id, t0;
	char *argv[8];
	unsigned char *blk;

	CHECK(posix_memalign((void **)&blk, 4096, 4096) == 0);

	CHECK_RC(tsr_volume_open(cl, "ctl-missing", &vol), -ENOENT);
	CHECK_RC(tsr_volume_open(cl, "", &vol), -EINVAL);
	CHECK_RC(tsr_volume_open(cl, "ctl-a", &vol), 0);
	CHECK_RC(tsr_volume_stat(vol, &info), 0);
	CHECK(strcmp(info.name, "ctl-a") == 0 && info.size == 64 * MiB);
	CHECK(tsr_volume_size(vol) == 64 * MiB);
	id = info.id;
	CHECK_RC(tsr_volume_watch(vol, on_event, &ev), 0);

	/* Grow: the callback has run when resize returns (our map has it). */
	CHECK_RC(tsr_volume_resize(vol, 128 * MiB, 0), 0);
	CHECK(tsr_volume_size(vol) == 128 * MiB);
	CHECK(atomic_load(&ev.resized) == 1 && atomic_load(&ev.last_size) == 128 * MiB);
	/* Shrink needs the flag; the monitor refuses it too. */
	CHECK_RC(tsr_volume_resize(vol, 32 * MiB, 0), -EINVAL);
	CHECK(tsr_volume_size(vol) == 128 * MiB);
	CHECK_RC(tsr_volume_resize(vol, 32 * MiB + 1, TSR_RESIZE_ALLOW_SHRINK), -EINVAL);
	CHECK_RC(tsr_volume_resize(vol, 32 * MiB, 0x80), -EINVAL);
	/* Data past the new size is deleted: it reads as zeroes after growing
	 * back (40 MiB is in the fifth object, 32 MiB the end of the fourth). */
	memset(blk, 0xab, 4096);
	CHECK_RC(tsr_write(vol, 40 * MiB, 4096, blk), 4096);
	CHECK_RC(tsr_write(vol, 28 * MiB, 4096, blk), 4096);
	CHECK_RC(tsr_volume_resize(vol, 32 * MiB, TSR_RESIZE_ALLOW_SHRINK), 0);
	CHECK_RC(tsr_read(vol, 40 * MiB, 4096, blk), -ERANGE);
	CHECK(tsr_volume_size(vol) == 32 * MiB);
	CHECK(atomic_load(&ev.resized) == 2 && atomic_load(&ev.last_size) == 32 * MiB);
	CHECK_RC(tsr_volume_resize(vol, 32 * MiB, 0), 0); /* no change */

	/* Rename while open: the handle follows (it works by id). */
	CHECK_RC(tsr_volume_rename(cl, "ctl-a", "ctl-b"), -EEXIST);
	CHECK_RC(tsr_volume_rename(cl, "ctl-missing", "ctl-x"), -ENOENT);
	CHECK_RC(tsr_volume_rename(cl, "ctl-a", "bad name"), -EINVAL);
	CHECK_RC(tsr_volume_rename(cl, "ctl-a", "ctl-a2"), 0);
	CHECK(atomic_load(&ev.renamed) == 1);
	CHECK_RC(tsr_volume_stat(vol, &info), 0);
	CHECK(strcmp(info.name, "ctl-a2") == 0 && info.id == id);
	CHECK_RC(tsr_volume_info_by_name(cl, "ctl-a", &info), -ENOENT);
	CHECK_RC(tsr_volume_info_by_name(cl, "ctl-a2", &info), 0);
	CHECK_RC(tsr_volume_resize(vol, 48 * MiB, 0), 0);
	/* The handle's I/O works after the rename; the data below the shrink
	 * survived it, the data past it did not. */
	memset(blk, 0, 4096);
	CHECK_RC(tsr_read(vol, 28 * MiB, 4096, blk), 4096);
	CHECK(blk[0] == 0xab && blk[4095] == 0xab);
	CHECK_RC(tsr_read(vol, 40 * MiB, 4096, blk), 4096);
	CHECK(blk[0] == 0 && blk[4095] == 0 && memcmp(blk, blk + 1, 4095) == 0);
	memset(blk, 0x5c, 4096);
	CHECK_RC(tsr_write(vol, 44 * MiB, 4096, blk), 4096);
	CHECK_RC(tsr_volume_info_by_name(cl, "ctl-a2", &info), 0);
	CHECK(info.size == 48 * MiB);

	/* Open volumes cannot be removed, by anyone. */
	CHECK_RC(tsr_volume_remove(cl, "ctl-a2"), -EBUSY);
	/* A second handle of the same volume; closing one keeps the watch. */
	CHECK_RC(tsr_volume_open(cl, "ctl-a2", &vol2), 0);
	CHECK_RC(tsr_volume_close(vol2), 0);
	CHECK_RC(tsr_volume_remove(cl, "ctl-a2"), -EBUSY);

	/* Another process resizes: our handle sees it and its callback runs. */
	argv[0] = (char *)"ctl_api";
	argv[1] = (char *)"resize";
	argv[2] = (char *)mon;
	argv[3] = (char *)"ctl-a2";
	argv[4] = (char *)"100663296"; /* 96 MiB */
	argv[5] = NULL;
	child_start(&c, argv, false);
	CHECK_RC(child_wait(&c), 0);
	t0 = now_ms();
	while (tsr_volume_size(vol) != 96 * MiB && now_ms() - t0 < 10000)
		sleep_ms(10);
	CHECK(tsr_volume_size(vol) == 96 * MiB);
	CHECK(atomic_load(&ev.last_size) == 96 * MiB);
	/* ... and a shrink from there without the flag is refused there. */
	argv[4] = (char *)"4096";
	child_start(&c, argv, false);
	CHECK_RC(child_wait(&c), EINVAL);
	CHECK(tsr_volume_size(vol) == 96 * MiB);

	CHECK_RC(tsr_volume_watch(vol, NULL, NULL), 0);
	CHECK_RC(tsr_volume_close(vol), 0);
	CHECK_RC(tsr_volume_close(NULL), 0);
	CHECK_RC(tsr_volume_remove(cl, "ctl-a2"), 0);
	CHECK_RC(tsr_volume_remove(cl, "ctl-a2"), -ENOENT);
	CHECK_RC(tsr_volume_info_by_name(cl, "ctl-a2", &info), -ENOENT);
	CHECK_RC(tsr_volume_remove(cl, ""), -EINVAL);
	free(blk);
}

/* Other processes holding a volume open: closed cleanly, then killed. */
static void
check_other_holders(struct tsr_cluster *cl, const char *mon)
{
	struct child c;
	char *argv[6];
	uint64_t t0;
	int rc;

	argv[0] = (char *)"ctl_api";
	argv[1] = (char *)"hold";
	argv[2] = (char *)mon;
	argv[3] = (char *)"ctl-b";
	argv[4] = NULL;
	child_start(&c, argv, false);
	child_expect(&c, "ready");
	CHECK_RC(tsr_volume_remove(cl, "ctl-b"), -EBUSY);
	CHECK_RC(child_wait(&c), 0); /* EOF on its stdin: it closes and exits */
	CHECK_RC(tsr_volume_remove(cl, "ctl-b"), 0);

	/* Killed holder: the monitor drops its watch with its connection. */
	CHECK_RC(tsr_volume_create(cl, "ctl-c", 16 * MiB, NULL), 0);
	argv[3] = (char *)"ctl-c";
	child_start(&c, argv, false);
	child_expect(&c, "ready");
	CHECK_RC(tsr_volume_remove(cl, "ctl-c"), -EBUSY);
	kill(c.pid, SIGKILL);
	CHECK_RC(child_wait(&c), 128 + SIGKILL);
	t0 = now_ms();
	while ((rc = tsr_volume_remove(cl, "ctl-c")) == -EBUSY && now_ms() - t0 < 10000)
		sleep_ms(50);
	CHECK_RC(rc, 0);

	/* Removal seen by an open handle: a holder without a watch (test switch)
	 * sees the volume go, and its resize then fails with -ENOENT. */
	CHECK_RC(tsr_volume_create(cl, "ctl-d", 16 * MiB, NULL), 0);
	argv[3] = (char *)"ctl-d";
	child_start(&c, argv, true);
	child_expect(&c, "ready");
	CHECK_RC(tsr_volume_remove(cl, "ctl-d"), 0);
	fclose(c.in);
	c.in = NULL;
	child_expect(&c, "removed=1");
	CHECK_RC(child_wait(&c), 0);
}

static void
check_ids_and_sizes(struct tsr_cluster *cl)
{
	struct tsr_volume_info a, b;
	struct tsr_volume *vol;

	CHECK_RC(tsr_volume_create(cl, "ctl-e", 4 * MiB, NULL), 0);
	CHECK_RC(tsr_volume_info_by_name(cl, "ctl-e", &a), 0);
	CHECK_RC(tsr_volume_remove(cl, "ctl-e"), 0);
	CHECK_RC(tsr_volume_create(cl, "ctl-e", 4 * MiB, NULL), 0);
	CHECK_RC(tsr_volume_info_by_name(cl, "ctl-e", &b), 0);
	CHECK(b.id > a.id); /* never reused */
	CHECK_RC(tsr_volume_remove(cl, "ctl-e"), 0);

	/* An empty volume grows. */
	CHECK_RC(tsr_volume_create(cl, "ctl-zero", 0, NULL), 0);
	CHECK_RC(tsr_volume_open(cl, "ctl-zero", &vol), 0);
	CHECK(tsr_volume_size(vol) == 0);
	CHECK_RC(tsr_volume_resize(vol, 4096, 0), 0);
	CHECK(tsr_volume_size(vol) == 4096);
	CHECK_RC(tsr_volume_resize(vol, 0, TSR_RESIZE_ALLOW_SHRINK), 0);
	CHECK_RC(tsr_volume_close(vol), 0);
	CHECK_RC(tsr_volume_remove(cl, "ctl-zero"), 0);
}

static int
run(const char *mon)
{
	struct tsr_cluster *cl;
	uint64_t t0;

	check_conf_errors(mon);
	t0 = now_ms();
	cl = connect_to(mon);
	fprintf(stderr, "connected in %" PRIu64 " ms, epoch %" PRIu64 ", client %016" PRIx64 "\n",
		now_ms() - t0, tsr_cluster_epoch(cl), tsr_cluster_client_id(cl));
	CHECK(tsr_cluster_epoch(cl) > 0);
	check_pools(cl);
	check_directory(cl);
	check_open_handle(cl, mon);
	check_other_holders(cl, mon);
	check_ids_and_sizes(cl);
	/* Cost of the management path (printed, not asserted). */
	{
		struct tsr_volume *vol;
		uint64_t t[4] = { 0 }, a;
		const int n = 20;

		for (int i = 0; i < n; i++) {
			a = now_us();
			CHECK_RC(tsr_volume_create(cl, "ctl-timing", 0, NULL), 0);
			t[0] += now_us() - a;
			a = now_us();
			CHECK_RC(tsr_volume_open(cl, "ctl-timing", &vol), 0);
			t[1] += now_us() - a;
			a = now_us();
			CHECK_RC(tsr_volume_close(vol), 0);
			t[2] += now_us() - a;
			a = now_us();
			CHECK_RC(tsr_volume_remove(cl, "ctl-timing"), 0);
			t[3] += now_us() - a;
		}
		fprintf(stderr,
			"mean over %d: create %.0f us, open %.0f us, close %.0f us, remove %.0f us\n",
			n, (double)t[0] / n, (double)t[1] / n, (double)t[2] / n, (double)t[3] / n);
	}
	/* A handle left open is closed by shutdown. */
	{
		struct tsr_volume *vol;

		CHECK_RC(tsr_volume_create(cl, "ctl-left", 4 * MiB, NULL), 0);
		CHECK_RC(tsr_volume_open(cl, "ctl-left", &vol), 0);
	}
	tsr_cluster_shutdown(cl);
	cl = connect_to(mon);
	CHECK_RC(tsr_volume_remove(cl, "ctl-left"), 0); /* the watch went with it */
	tsr_cluster_shutdown(cl);
	printf("PASS\n");
	return 0;
}

/*
 * Monitor failover (test_ctl_failover.sh): a handle with a volume open keeps
 * working after the leader is killed; its watch is re-registered with the
 * new leader (another handle's remove is still refused). The script kills
 * the leader between "ready" and "go" on our stdin.
 */
static int
failover(const char *mons)
{
	struct tsr_cluster *cl1 = connect_to(mons), *cl2 = connect_to(mons);
	struct tsr_volume_info info;
	struct events ev = { 0 };
	struct tsr_volume *vol;
	char line[64];
	uint64_t t0;

	CHECK_RC(tsr_volume_create(cl1, "ha-vol", 0, NULL), 0);
	CHECK_RC(tsr_volume_open(cl1, "ha-vol", &vol), 0);
	CHECK_RC(tsr_volume_watch(vol, on_event, &ev), 0);
	CHECK_RC(tsr_volume_remove(cl2, "ha-vol"), -EBUSY);
	printf("ready\n");
	fflush(stdout);
	CHECK(fgets(line, sizeof(line), stdin) != NULL);
	/* The leader is gone: calls wait through the election (connect_timeout). */
	t0 = now_ms();
	CHECK_RC(tsr_volume_rename(cl1, "ha-vol", "ha-vol2"), 0);
	fprintf(stderr, "rename after the leader's death took %" PRIu64 " ms\n", now_ms() - t0);
	CHECK(atomic_load(&ev.renamed) == 1);
	CHECK_RC(tsr_volume_stat(vol, &info), 0);
	CHECK(strcmp(info.name, "ha-vol2") == 0);
	CHECK_RC(tsr_volume_remove(cl2, "ha-vol2"), -EBUSY);
	CHECK_RC(tsr_volume_close(vol), 0);
	CHECK_RC(tsr_volume_remove(cl2, "ha-vol2"), 0);
	tsr_cluster_shutdown(cl1);
	tsr_cluster_shutdown(cl2);
	printf("PASS\n");
	return 0;
}

static int
unreachable(const char *addr)
{
	struct tsr_cluster *cl;
	uint64_t t0, ms;

	CHECK_RC(tsr_cluster_create(&cl), 0);
	CHECK_RC(tsr_conf_set(cl, "mon", addr), 0);
	CHECK_RC(tsr_conf_set(cl, "connect_timeout", "2"), 0);
	t0 = now_ms();
	CHECK_RC(tsr_cluster_connect(cl), -ETIMEDOUT);
	ms = now_ms() - t0;
	fprintf(stderr, "connect to %s failed after %" PRIu64 " ms\n", addr, ms);
	CHECK(ms >= 1900 && ms < 4000);
	CHECK_RC(tsr_cluster_epoch(cl), 0);
	CHECK_RC(tsr_volume_create(cl, "x", 4096, NULL), -ENOTCONN);
	tsr_cluster_shutdown(cl);
	printf("PASS\n");
	return 0;
}

static int
hold(const char *mon, const char *name)
{
	struct tsr_cluster *cl = connect_to(mon);
	struct events ev = { 0 };
	struct tsr_volume *vol;
	char buf[64];
	int rc;

	CHECK_RC(tsr_volume_open(cl, name, &vol), 0);
	CHECK_RC(tsr_volume_watch(vol, on_event, &ev), 0);
	printf("ready\n");
	fflush(stdout);
	while (fgets(buf, sizeof(buf), stdin))
		;
	if (getenv("TESSERA_TEST_SKIP_WATCH")) {
		/* We were told the volume goes away: its map comes by itself. */
		uint64_t t0 = now_ms();

		while (!atomic_load(&ev.removed) && now_ms() - t0 < 10000)
			sleep_ms(10);
	}
	rc = atomic_load(&ev.removed) ? tsr_volume_resize(vol, 8 * MiB, 0) : 0;
	printf("removed=%d resized=%d resize_rc=%d\n", atomic_load(&ev.removed),
	       atomic_load(&ev.resized), rc);
	fflush(stdout);
	if (atomic_load(&ev.removed))
		CHECK_RC(rc, -ENOENT);
	CHECK_RC(tsr_volume_close(vol), 0);
	tsr_cluster_shutdown(cl);
	return 0;
}

static int
resize(const char *mon, const char *name, const char *size, bool shrink)
{
	struct tsr_cluster *cl = connect_to(mon);
	struct tsr_volume *vol;
	int rc;

	CHECK_RC(tsr_volume_open(cl, name, &vol), 0);
	rc = tsr_volume_resize(vol, strtoull(size, NULL, 0), shrink ? TSR_RESIZE_ALLOW_SHRINK : 0);
	CHECK_RC(tsr_volume_close(vol), 0);
	tsr_cluster_shutdown(cl);
	return -rc;
}

int
main(int argc, char **argv)
{
	static char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return 2;
	exe[n] = '\0';
	self_exe = exe;
	if (argc == 3 && strcmp(argv[1], "run") == 0)
		return run(argv[2]);
	if (argc == 3 && strcmp(argv[1], "failover") == 0)
		return failover(argv[2]);
	if (argc == 3 && strcmp(argv[1], "unreachable") == 0)
		return unreachable(argv[2]);
	if (argc == 4 && strcmp(argv[1], "hold") == 0)
		return hold(argv[2], argv[3]);
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "resize") == 0)
		return resize(argv[2], argv[3], argv[4], argc == 6);
	fprintf(stderr, "usage: ctl_api run MON | failover MONS | unreachable ADDR | hold MON NAME | "
			"resize MON NAME SIZE [shrink]\n");
	return 2;
}
