/*
 * libtessera cluster handle: create, connect, shutdown, pools, identity, and
 * the library's logging.
 *
 * Logging. The library logs through rt_log. In libtessera.so that logger is
 * the library's own copy (the version script hides it), so the first handle
 * to connect starts it (stderr, or log_file) at log_level (default warn) and
 * the last one to shut down stops it; the application's own output is never
 * touched. A program that links the static archive and initialised rt_log
 * itself keeps its settings: the library then logs through them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "rt_log.h"
#include "tsr_int.h"

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_log_users;
static bool g_log_owned;

/* Start (first user) the library's logger. Returns 0 or -EINVAL (log file). */
static int
log_get(const struct tsr_conf *conf)
{
	int rc = 0;

	pthread_mutex_lock(&g_log_mu);
	if (g_log_users == 0) {
		rc = rt_log_init("libtessera", conf->log_file[0] ? conf->log_file : NULL,
				 (enum rt_log_level)conf->log_level);
		if (rc == -EALREADY) {
			rc = 0; /* the program's logger: leave it as it is */
		} else if (rc < 0) {
			rt_err(RT_SS_CLIENT, "cannot open log file %s: %s", conf->log_file,
			       strerror(-rc));
			rc = -EINVAL;
			goto out_unlock;
		} else {
			g_log_owned = true;
		}
	}
	g_log_users++;
out_unlock:
	pthread_mutex_unlock(&g_log_mu);
	return rc;
}

static void
log_put(void)
{
	pthread_mutex_lock(&g_log_mu);
	if (g_log_users && --g_log_users == 0 && g_log_owned) {
		rt_log_fini();
		g_log_owned = false;
	}
	pthread_mutex_unlock(&g_log_mu);
}

static uint64_t
random_id(void)
{
	uint64_t id = 0;

	for (int i = 0; i < 8 && id == 0; i++) {
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
			struct timespec ts;

			/* No entropy source: time, pid and address mixed. */
			clock_gettime(CLOCK_REALTIME, &ts);
			id = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^
			     ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&id;
			id *= 0x9e3779b97f4a7c15ull;
		}
	}
	return id ? id : 1;
}

int
tsr_cluster_create(struct tsr_cluster **out)
{
	struct tsr_cluster *cl;

	if (!out)
		return -EINVAL;
	*out = NULL;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	tsr__conf_defaults(&cl->conf);
	cl->client_id = random_id();
	atomic_init(&cl->connected, false);
	atomic_init(&cl->stopping, false);
	atomic_init(&cl->epoch, 0);
	pthread_mutex_init(&cl->map_lock, NULL);
	pthread_mutex_init(&cl->vol_lock, NULL);
	*out = cl;
	return 0;
}

int
tsr_cluster_connect(struct tsr_cluster *cl)
{
	uint64_t deadline;
	int rc;

	if (!cl)
		return -EINVAL;
	if (atomic_load(&cl->connected) || cl->ctl)
		return -EISCONN;
	if (!cl->conf.mon[0]) {
		rt_err(RT_SS_CLIENT, "no monitor addresses: set 'mon' (or TESSERA_MON)");
		return -EINVAL;
	}
	if (tsr__conf_mon_check(cl->conf.mon) < 0) {
		rt_err(RT_SS_CLIENT, "bad monitor addresses '%s'", cl->conf.mon);
		return -EINVAL;
	}
	rc = log_get(&cl->conf);
	if (rc < 0)
		return rc;
	deadline = tsr__now_us() + cl->conf.connect_timeout_us;
	rc = tsr__ctl_start(cl);
	if (rc < 0)
		goto out_log;
	rc = tsr__ctl_wait_map(cl, 1, deadline);
	if (rc < 0) {
		rt_err(RT_SS_CLIENT, "no cluster map from the monitors %s within %" PRIu64 " ms",
		       cl->conf.mon, cl->conf.connect_timeout_us / 1000);
		rc = -ETIMEDOUT;
		goto out_ctl;
	}
	/*
	 * Connected from here on: the I/O side creates its queues under this
	 * flag, and map changes are forwarded to it (tsr__map_publish) from
	 * now, so none is missed while it starts.
	 */
	atomic_store(&cl->connected, true);
	rc = tsr__io_init(cl);
	if (rc < 0) {
		atomic_store(&cl->connected, false);
		rt_err(RT_SS_CLIENT, "starting the I/O threads failed: %s (%d)", strerror(-rc), rc);
		goto out_ctl;
	}
	rt_info(RT_SS_CLIENT, "client %016" PRIx64 " connected at map " DF_EPOCH, cl->client_id,
		DP_EPOCH(atomic_load(&cl->epoch)));
	return 0;

out_ctl:
	tsr__ctl_stop(cl);
	pthread_mutex_lock(&cl->map_lock);
	tsr__map_put(cl->map);
	cl->map = NULL;
	atomic_store(&cl->epoch, 0);
	pthread_mutex_unlock(&cl->map_lock);
out_log:
	log_put();
	return rc;
}

void
tsr_cluster_shutdown(struct tsr_cluster *cl)
{
	bool was_connected;

	if (!cl)
		return;
	atomic_store(&cl->stopping, true);
	was_connected = atomic_exchange(&cl->connected, false);
	if (was_connected)
		tsr__io_fini(cl);
	tsr__vol_close_all(cl, was_connected);
	if (cl->ctl) {
		tsr__ctl_stop(cl);
		log_put();
	}
	tsr__map_put(cl->map);
	cl->map = NULL;
	pthread_mutex_destroy(&cl->map_lock);
	pthread_mutex_destroy(&cl->vol_lock);
	free(cl);
}

uint64_t
tsr_cluster_epoch(struct tsr_cluster *cl)
{
	return cl ? atomic_load(&cl->epoch) : 0;
}

uint64_t
tsr_cluster_client_id(struct tsr_cluster *cl)
{
	return cl ? cl->client_id : 0;
}

int
tsr_pool_list(struct tsr_cluster *cl, struct tsr_pool_info *pools, size_t *count)
{
	struct tsr_map *map;
	const struct mon_map *m;
	size_t n, cap;

	if (!cl || !count || (*count && !pools))
		return -EINVAL;
	if (!atomic_load(&cl->connected))
		return -ENOTCONN;
	map = tsr__map_get(cl);
	if (!map)
		return -ENOTCONN;
	m = map->m;
	cap = *count;
	n = m->n_pools;
	for (size_t i = 0; i < n && i < cap; i++) {
		const struct mon_pool *p = &m->pools[i];

		memset(&pools[i], 0, sizeof(pools[i]));
		pools[i].id = p->id;
		snprintf(pools[i].name, sizeof(pools[i].name), "%s", p->name);
		pools[i].size = p->size;
		pools[i].min_size = p->min_size;
		pools[i].pg_count = p->pg_count;
	}
	tsr__map_put(map);
	*count = n;
	return n > cap ? -ERANGE : 0;
}
