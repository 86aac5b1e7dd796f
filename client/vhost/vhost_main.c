/*
 * tessera-vhost: a vhost-user-blk backend serving Tessera volumes to QEMU.
 *
 * One process serves any number of exports (a Unix socket and a volume
 * each). Each export has a control thread that accepts one frontend at a
 * time and runs the vhost-user state machine for it (vhost_dev.c); the
 * device's queue threads (vhost_blk.c) do the I/O. When the frontend goes
 * away (QEMU stopped or restarted), the export drops the device state and
 * accepts again: QEMU started with `reconnect=N` on its chardev comes back
 * by itself, also after this process was restarted. A volume resize seen by
 * libtessera's watch becomes a CONFIG_CHANGE_MSG on the backend channel, and
 * the guest re-reads the capacity.
 *
 * Signals are blocked in every thread; the main thread waits with sigwait:
 * SIGUSR1 logs each export's requests in flight and completed; SIGTERM or
 * SIGINT then wakes the control threads by shutting their
 * sockets down, and they stop their queues (in-flight I/O completes first).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rt_conf.h"
#include "rt_log.h"
#include "vhost_blk.h"

struct vhost_conf {
	const char *mon;
	const char *socket;
	const char *volume;
	uint64_t malloc_size;
	const char *exports;
	int64_t queues;
	int64_t poll_us;
	bool no_inflight;
	const char *cpus;
	const char *log_file;
	const char *log_level;
	const char *debug;
};

#define OPT(f) offsetof(struct vhost_conf, f)

static const struct rt_conf_opt vhost_opts[] = {
	{ "mon", 'm', RT_CONF_STR, OPT(mon), NULL, 0, 0, false,
	  "monitor addresses host:port[,host:port...] (default: $TESSERA_MON)", NULL, "ADDRS" },
	{ "socket", 's', RT_CONF_STR, OPT(socket), NULL, 0, 0, false,
	  "vhost-user socket to listen on for --volume (or --malloc)", NULL, "PATH" },
	{ "volume", 'v', RT_CONF_STR, OPT(volume), NULL, 0, 0, false,
	  "volume served on --socket", NULL, "NAME" },
	{ "malloc", 0, RT_CONF_SIZE, OPT(malloc_size), "0", 0, 0, false,
	  "serve a RAM disk of this size on --socket instead of a volume (tests, benchmarks)",
	  NULL, NULL },
	{ "export", 'e', RT_CONF_LIST, OPT(exports), NULL, 0, 0, false,
	  "SOCKET:VOLUME, repeatable: serve several volumes from one process", NULL,
	  "SOCKET:VOLUME" },
	{ "queues", 'q', RT_CONF_INT, OPT(queues), "4", 1, VHOST_VQ_MAX, false,
	  "virtqueues offered to the guest (each served by its own thread)", NULL, "N" },
	{ "poll-us", 0, RT_CONF_INT, OPT(poll_us), "0", 0, 1000000, false,
	  "a queue thread busy-polls this long after its last work before sleeping on the "
	  "kick and completion fds (0: sleep at once; polling pays only on dedicated cores)",
	  NULL, "US" },
	{ "no-inflight", 0, RT_CONF_BOOL, OPT(no_inflight), "false", 0, 0, false,
	  "do not offer inflight I/O tracking (requests in flight are lost if this process "
	  "dies)",
	  NULL, NULL },
	{ "cpus", 0, RT_CONF_STR, OPT(cpus), NULL, 0, 0, false,
	  "pin queue thread i of every export to the i-th CPU of this list (0,2,4-7; cycles "
	  "when shorter than the queues); default: not pinned",
	  NULL, "LIST" },
	{ "log-file", 0, RT_CONF_STR, OPT(log_file), NULL, 0, 0, false,
	  "log to this file instead of stderr", NULL, "PATH" },
	{ "log-level", 0, RT_CONF_STR, OPT(log_level), "info", 0, 0, false,
	  "err|warn|info|debug", NULL, "LEVEL" },
	{ "debug", 0, RT_CONF_STR, OPT(debug), NULL, 0, 0, false,
	  "comma-separated subsystems to log at debug level (vhost, client, ...)", NULL,
	  "LIST" },
};

static const struct rt_conf_table vhost_table = {
	.prog = "tessera-vhost",
	.synopsis = "(--socket PATH --volume NAME | --export SOCKET:VOLUME ... | --socket PATH "
		    "--malloc SIZE) [OPTIONS]",
	.description =
		"vhost-user-blk backend: serves Tessera volumes to QEMU/KVM guests over "
		"vhost-user Unix sockets (QEMU: -chardev socket,path=SOCKET,reconnect=1 "
		"-device vhost-user-blk-pci,chardev=...,num-queues=N, with shared guest "
		"memory). Guest buffers go to the cluster without copies, one thread per "
		"virtqueue. See docs/vhost.md.",
	.opts = vhost_opts,
	.n_opts = sizeof(vhost_opts) / sizeof(vhost_opts[0]),
};

struct export {
	char *path;
	char *volume;
	struct vhost_bdev *bdev;
	int listen_fd;
	pthread_mutex_t conn_lock;
	int conn_fd;          /* the connection being served, -1: none; conn_lock */
	atomic_bool stop;
	pthread_t thread;
	bool started;
	struct vhost_dev_opts opts;
	struct vhost_dev *dev; /* the current connection's device, under bdev->lock */
};

/* Resize callback (library thread): tell the frontend through the backend channel. */
static void
export_resized(void *arg, uint64_t size)
{
	struct vhost_dev *dev = arg;
	uint32_t flags = VHOST_USER_VERSION;
	int rc = -ENOTCONN;

	pthread_mutex_lock(&dev->backend_lock);
	if (dev->backend_fd >= 0 &&
	    (dev->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ)))
		rc = vhost_msg_send(dev->backend_fd, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, flags,
				    NULL, 0, -1);
	pthread_mutex_unlock(&dev->backend_lock);
	if (rc < 0)
		rt_warn(RT_SS_VHOST, "cannot tell the frontend of the new size %" PRIu64 ": %s",
			size, strerror(-rc));
	else
		rt_info(RT_SS_VHOST, "config change sent (capacity %" PRIu64 " sectors)",
			size / VIRTIO_BLK_SECTOR);
}

static void *
export_thread(void *arg)
{
	struct export *e = arg;
	struct vhost_dev *dev = malloc(sizeof(*dev));

	if (!dev) {
		rt_err(RT_SS_VHOST, "%s: out of memory", e->path);
		return NULL;
	}
	while (!atomic_load(&e->stop)) {
		int fd = accept4(e->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (!atomic_load(&e->stop))
				rt_err(RT_SS_VHOST, "%s: accept: %s", e->path, strerror(errno));
			break;
		}
		pthread_mutex_lock(&e->conn_lock);
		if (atomic_load(&e->stop)) {
			pthread_mutex_unlock(&e->conn_lock);
			close(fd);
			break;
		}
		e->conn_fd = fd;
		pthread_mutex_unlock(&e->conn_lock);
		rt_info(RT_SS_VHOST, "%s: frontend connected", e->path);
		vhost_dev_init(dev, fd, e->bdev, &e->opts);
		pthread_mutex_lock(&e->bdev->lock);
		e->bdev->resize_cb = export_resized;
		e->bdev->resize_arg = dev;
		pthread_mutex_unlock(&e->bdev->lock);
		int rc = vhost_dev_serve(dev);
		pthread_mutex_lock(&e->bdev->lock);
		e->bdev->resize_cb = NULL;
		e->bdev->resize_arg = NULL;
		pthread_mutex_unlock(&e->bdev->lock);
		vhost_dev_fini(dev);
		pthread_mutex_lock(&e->conn_lock);
		e->conn_fd = -1;
		close(fd);
		pthread_mutex_unlock(&e->conn_lock);
		rt_info(RT_SS_VHOST, "%s: frontend disconnected%s%s (%" PRIu64 " requests)",
			e->path, rc < 0 ? ": " : "", rc < 0 ? strerror(-rc) : "",
			(uint64_t)atomic_load(&dev->reqs));
		pthread_mutex_destroy(&dev->backend_lock);
	}
	free(dev);
	return NULL;
}

static int
export_listen(struct export *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(e->path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "tessera-vhost: socket path too long: %s\n", e->path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, e->path);
	/* A socket left by a previous run (killed): replace it. Refuse other files. */
	if (lstat(e->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "tessera-vhost: %s exists and is not a socket\n", e->path);
			return -EEXIST;
		}
		unlink(e->path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		int rc = -errno;
		fprintf(stderr, "tessera-vhost: %s: %s\n", e->path, strerror(errno));
		close(fd);
		return rc;
	}
	e->listen_fd = fd;
	return 0;
}

static int
add_export(struct export **list, unsigned *n, const char *path, const char *volume)
{
	struct export *l = realloc(*list, sizeof(**list) * (*n + 1));
	struct export *e;

	if (!l)
		return -ENOMEM;
	*list = l;
	e = &l[(*n)++];
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	e->volume = volume ? strdup(volume) : NULL;
	e->listen_fd = -1;
	e->conn_fd = -1;
	if (!e->path || (volume && !e->volume))
		return -ENOMEM;
	return 0;
}

static int
parse_exports(const struct vhost_conf *c, struct export **list, unsigned *n)
{
	int rc;

	if (c->socket) {
		if (!c->volume && !c->malloc_size) {
			fprintf(stderr, "tessera-vhost: --socket needs --volume or --malloc\n");
			return -EINVAL;
		}
		if (c->volume && c->malloc_size) {
			fprintf(stderr, "tessera-vhost: give --volume or --malloc, not both\n");
			return -EINVAL;
		}
		rc = add_export(list, n, c->socket, c->volume);
		if (rc < 0)
			return rc;
	} else if (c->volume || c->malloc_size) {
		fprintf(stderr, "tessera-vhost: --volume and --malloc need --socket\n");
		return -EINVAL;
	}
	if (c->exports) {
		char *s = strdup(c->exports), *save = NULL, *tok;
		if (!s)
			return -ENOMEM;
		for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *colon = strrchr(tok, ':');
			if (!colon || colon == tok || !colon[1]) {
				fprintf(stderr, "tessera-vhost: --export: '%s' is not "
					"SOCKET:VOLUME\n", tok);
				free(s);
				return -EINVAL;
			}
			*colon = 0;
			rc = add_export(list, n, tok, colon + 1);
			if (rc < 0) {
				free(s);
				return rc;
			}
		}
		free(s);
	}
	if (*n == 0) {
		fprintf(stderr, "tessera-vhost: nothing to serve: give --socket with --volume or "
			"--malloc, or --export SOCKET:VOLUME; see --help\n");
		return -EINVAL;
	}
	return 0;
}

/* "0,2,4-7" -> cpus[]. Returns the count, or -EINVAL after a message. */
static int
parse_cpus(const char *s, uint16_t *cpus, unsigned max)
{
	unsigned n = 0;
	const char *p = s;

	while (*p) {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi;
		if (end == p)
			goto bad;
		hi = lo;
		p = end;
		if (*p == '-') {
			hi = strtoul(p + 1, &end, 10);
			if (end == p + 1)
				goto bad;
			p = end;
		}
		if (hi < lo || hi >= CPU_SETSIZE)
			goto bad;
		for (unsigned long c = lo; c <= hi; c++) {
			if (n >= max)
				goto bad;
			cpus[n++] = (uint16_t)c;
		}
		if (*p == ',')
			p++;
		else if (*p)
			goto bad;
	}
	if (n == 0)
		goto bad;
	return (int)n;
bad:
	fprintf(stderr, "tessera-vhost: --cpus: '%s' is not a list of CPUs (0,2,4-7)\n", s);
	return -EINVAL;
}

static int
log_setup(const struct vhost_conf *c)
{
	int level = rt_log_level_parse(c->log_level);
	int rc;

	if (level < 0) {
		fprintf(stderr, "tessera-vhost: --log-level: '%s' is not err|warn|info|debug\n",
			c->log_level);
		return -EINVAL;
	}
	rc = rt_log_init("tessera-vhost", c->log_file, (enum rt_log_level)level);
	if (rc < 0) {
		fprintf(stderr, "tessera-vhost: log: %s\n", strerror(-rc));
		return rc;
	}
	if (c->debug) {
		char *s = strdup(c->debug), *save = NULL, *tok;
		for (tok = s ? strtok_r(s, ",", &save) : NULL; tok;
		     tok = strtok_r(NULL, ",", &save))
			if (rt_log_set_debug(tok, true) < 0)
				fprintf(stderr, "tessera-vhost: --debug: unknown subsystem '%s'\n",
					tok);
		free(s);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct vhost_conf c;
	struct export *ex = NULL;
	static uint16_t cpus[1024];
	unsigned nex = 0, ncpus = 0;
	sigset_t sigs;
	int rc, first_arg, sig, exit_code = 2;

	memset(&c, 0, sizeof(c));
	rc = rt_conf_parse(&vhost_table, &c, argc, argv, &first_arg);
	if (rc == 1)
		return 0;
	if (rc < 0)
		return 2;
	if (first_arg < argc) {
		fprintf(stderr, "tessera-vhost: unexpected argument '%s'; see --help\n",
			argv[first_arg]);
		return 2;
	}
	if (c.malloc_size % 4096) {
		fprintf(stderr, "tessera-vhost: --malloc must be a multiple of 4096\n");
		return 2;
	}
	if (parse_exports(&c, &ex, &nex) < 0)
		goto out_free;
	if (c.cpus) {
		rc = parse_cpus(c.cpus, cpus, sizeof(cpus) / sizeof(cpus[0]));
		if (rc < 0)
			goto out_free;
		ncpus = (unsigned)rc;
	}
	/* After the array stops moving. */
	for (unsigned i = 0; i < nex; i++)
		pthread_mutex_init(&ex[i].conn_lock, NULL);

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	exit_code = 1;
	if (log_setup(&c) < 0)
		goto out_free;

	for (unsigned i = 0; i < nex; i++) {
		struct export *e = &ex[i];
		if (e->volume)
			rc = vhost_bdev_tsr_open(c.mon, e->volume, &e->bdev);
		else
			rc = vhost_bdev_malloc_open(c.malloc_size, "tessera-malloc", &e->bdev);
		if (rc < 0) {
			fprintf(stderr, "tessera-vhost: %s: cannot open %s: %s\n", e->path,
				e->volume ? e->volume : "the RAM disk", strerror(-rc));
			goto out_stop;
		}
		e->opts.max_queues = (unsigned)c.queues;
		e->opts.poll_us = (unsigned)c.poll_us;
		e->opts.no_inflight = c.no_inflight;
		e->opts.cpus = cpus;
		e->opts.ncpus = ncpus;
		rc = export_listen(e);
		if (rc < 0)
			goto out_stop;
		rc = pthread_create(&e->thread, NULL, export_thread, e);
		if (rc != 0) {
			fprintf(stderr, "tessera-vhost: thread: %s\n", strerror(rc));
			goto out_stop;
		}
		e->started = true;
		rt_info(RT_SS_VHOST, "serving %s (%" PRIu64 " bytes) on %s, %u queues",
			e->volume ? e->volume : "a RAM disk",
			(uint64_t)atomic_load(&e->bdev->size_bytes), e->path, e->opts.max_queues);
	}
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP)
			continue;
		if (sig == SIGUSR1) {
			/* Operators (and the restart test) ask what is in flight. */
			for (unsigned i = 0; i < nex; i++)
				rt_info(RT_SS_VHOST, "%s: %" PRIu64 " requests in flight, %" PRIu64
					" completed", ex[i].path,
					(uint64_t)atomic_load(&ex[i].bdev->reqs_inflight),
					(uint64_t)atomic_load(&ex[i].bdev->reqs_completed));
			continue;
		}
		rt_info(RT_SS_VHOST, "signal %d: shutting down", sig);
		break;
	}
	exit_code = 0;

out_stop:
	for (unsigned i = 0; i < nex; i++) {
		struct export *e = &ex[i];
		pthread_mutex_lock(&e->conn_lock);
		atomic_store(&e->stop, true);
		if (e->listen_fd >= 0)
			shutdown(e->listen_fd, SHUT_RDWR);
		if (e->conn_fd >= 0)
			shutdown(e->conn_fd, SHUT_RDWR);
		pthread_mutex_unlock(&e->conn_lock);
	}
	for (unsigned i = 0; i < nex; i++) {
		struct export *e = &ex[i];
		if (e->started)
			pthread_join(e->thread, NULL);
		if (e->listen_fd >= 0) {
			close(e->listen_fd);
			unlink(e->path);
		}
		vhost_bdev_close(&e->bdev);
	}
	rt_log_fini();
out_free:
	for (unsigned i = 0; i < nex; i++) {
		free(ex[i].path);
		free(ex[i].volume);
		pthread_mutex_destroy(&ex[i].conn_lock);
	}
	free(ex);
	rt_conf_free(&vhost_table, &c);
	return exit_code;
}
